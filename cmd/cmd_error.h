/*
 * cmd/cmd_error.h - the one way pgconverge reports a failed command:
 * "pgconverge: MESSAGE" and an optional "  hint: HINT" on stderr, both
 * escaped for the terminal (str_fput_text): one line each. The message
 * carries names and errors from the file and the servers.
 *
 * Header-only, because two programs need it: the core's cmd_error()
 * (cmd/main.c) and the executable's front_error() (cmd/front.c), which is
 * linked without the core.
 */
#ifndef PGC_CMD_CMD_ERROR_H
#define PGC_CMD_CMD_ERROR_H

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

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

#endif
