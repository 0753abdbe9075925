/*
 * cmd/front_core.h - what the executable (cmd/front.c) and the core
 * library (cmd/main.c) both do: report a failed command, and refuse core
 * dumps. Header-only, because the executable is linked without the core.
 *
 * A failed command is reported one way: "pgconverge: MESSAGE" and an
 * optional "  hint: HINT" on stderr, both escaped for the terminal
 * (str_fput_text): one line each. The message carries names and errors
 * from the file and the servers.
 */
#ifndef PGC_CMD_FRONT_CORE_H
#define PGC_CMD_FRONT_CORE_H

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>

#include "common/strutil.h"

/* cmd_verror - the report of fmt and ap, with hint when not NULL. */
static inline void cmd_verror(const char *hint, const char *fmt, va_list ap)
{
	char *msg = NULL;

	if (vasprintf(&msg, fmt, ap) < 0)
		abort();
	fputs("pgconverge: ", stderr);
	str_fput_text(stderr, msg);
	fputc('\n', stderr);
	free(msg);
	if (hint != NULL)
		str_fprintf_line(stderr, "  hint: %s\n", hint);
}

/* cmd_report - cmd_verror() without a hint, from arguments. */
static inline void cmd_report(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static inline void cmd_report(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	cmd_verror(NULL, fmt, ap);
	va_end(ap);
}

/*
 * cmd_no_core_dumps - this process never writes a core file: it holds secrets
 * (passwords from the environment or secret files, a repository's keys)
 * that a core left on disk, or read by another process of the same user
 * through ptrace or /proc/PID/mem, would give away. Not dumpable also keeps
 * /proc/PID owned by root. Only the soft limit goes to 0: servers started
 * from here inherit it and pg_ctl -c can still raise it to the hard limit;
 * the children's own dumpable flag is reset by execve(). pgc_main() does the
 * same, for a core entered by another way.
 */
static inline void cmd_no_core_dumps(void)
{
	struct rlimit rl;

	/* The limit first: whoever sees the process not dumpable sees it too. */
	if (getrlimit(RLIMIT_CORE, &rl) == 0) {
		rl.rlim_cur = 0;
		if (setrlimit(RLIMIT_CORE, &rl) != 0)
			cmd_report("could not disable core dumps (RLIMIT_CORE): %s", strerror(errno));
	}
	if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0)
		cmd_report("could not disable core dumps (PR_SET_DUMPABLE): %s", strerror(errno));
}

#endif
