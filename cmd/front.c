/*
 * cmd/front.c - main() of the pgconverge executable. `wal-push` and
 * `wal-fetch` in the forms pgconverge writes into archive_command and
 * restore_command run here, in an executable linked with libcrypto, zlib
 * and libzstd only; every other command line goes to pgc_main() in the
 * core library, pgconverge-core.so, loaded with dlopen().
 *
 * Why: PostgreSQL starts one archive_command process per WAL segment, and
 * loading libpq, libgit2 and their thirty-odd dependencies costs about 9 ms
 * of CPU per process, a fifth of archiving a 16MB segment. The other
 * commands pay that loading as before, through dlopen().
 *
 * The fast path takes exactly these command lines (options in any order
 * around the two arguments, "--option=VALUE" too):
 *
 *   pgconverge wal-push --repository DIR [--compress none|gzip|zstd] PATH NAME
 *   pgconverge wal-fetch --repository DIR [--unreachable-ok] NAME PATH
 *
 * Anything else (-v, --help, a usage error ...) goes to the core, so that
 * help and usage messages come from one place (cmd/options.c, cmd/wal.c),
 * and both paths run the same walarchive_push_exit()/_fetch_exit().
 *
 * The core is looked for beside the real executable: DIR/../lib/pgconverge/
 * (make install), then DIR/build/ (the source tree, where ./pgconverge is
 * built). A copy of the executable alone still archives and
 * fetches WAL; other commands then fail with a hint.
 */
#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cmd/cmd.h"
#include "cmd/front_core.h"
#include "cmd/exitcodes.h"
#include "common/log.h"
#include "common/strutil.h"
#include "reconcile/backup/walarchive.h"
#include "reconcile/backup/walarchive_fetch.h"
#include "reconcile/backup/walarchive_push.h"

#define CORE_NAME "pgconverge-core.so"

/* FastCall - a wal-push or wal-fetch command line the fast path runs. */
typedef struct {
	bool push;
	const char *repository;
	const char *compress; /* NULL: none */
	bool unreachable_ok;  /* wal-fetch --unreachable-ok */
	const char *args[2];
	int n_args;
} FastCall;

/*
 * option_value - the value of "--NAME VALUE" or "--NAME=VALUE" at argv[*i]
 * (advancing *i past VALUE), "" when argv[*i] is that option without a
 * usable value, NULL when it is another word.
 */
static const char *option_value(int argc, char **argv, int *i, const char *name)
{
	const char *a = argv[*i];
	size_t n = strlen(name);

	if (strncmp(a, "--", 2) != 0 || strncmp(a + 2, name, n) != 0)
		return NULL;
	if (a[2 + n] == '=')
		return a + 3 + n;
	if (a[2 + n] != '\0')
		return NULL;
	if (*i + 1 >= argc)
		return "";
	return argv[++*i];
}

/* fast_parse - true when argv is a wal-push or wal-fetch the fast path runs as it is. */
static bool fast_parse(int argc, char **argv, FastCall *f)
{
	PgcCompression c;
	int i;

	memset(f, 0, sizeof(*f));
	if (argc < 2)
		return false;
	if (strcmp(argv[1], "wal-push") == 0)
		f->push = true;
	else if (strcmp(argv[1], "wal-fetch") != 0)
		return false;
	for (i = 2; i < argc; i++) {
		const char *v;

		if (argv[i][0] != '-') {
			if (f->n_args == 2)
				return false;
			f->args[f->n_args++] = argv[i];
		} else if ((v = option_value(argc, argv, &i, "repository")) != NULL) {
			if (f->repository != NULL || v[0] == '\0')
				return false;
			f->repository = v;
		} else if (!f->push && strcmp(argv[i], "--unreachable-ok") == 0) {
			if (f->unreachable_ok)
				return false;
			f->unreachable_ok = true;
		} else if (f->push && (v = option_value(argc, argv, &i, "compress")) != NULL) {
			if (f->compress != NULL || walarchive_parse_compression(v, &c) != 0)
				return false;
			f->compress = v;
		} else {
			return false;
		}
	}
	return f->repository != NULL && f->n_args == 2;
}

/* fast_run - as cmd_wal_push()/cmd_wal_fetch() with default logging. */
static int fast_run(const FastCall *f)
{
	const char *no_color = getenv("NO_COLOR");
	PgcCompression c = COMPRESS_NONE;

	log_set_color((no_color == NULL || no_color[0] == '\0') && isatty(STDERR_FILENO));
	if (!f->push && f->unreachable_ok)
		return walarchive_fetch_exit_unreachable_ok(f->repository, f->args[0], f->args[1]);
	if (!f->push)
		return walarchive_fetch_exit(f->repository, f->args[0], f->args[1]);
	if (f->compress != NULL)
		(void)walarchive_parse_compression(f->compress, &c);
	return walarchive_push_exit(f->repository, f->args[0], f->args[1], c);
}

/* front_error - as cmd_error() (cmd/main.c, in the core): "pgconverge: MESSAGE", "  hint: HINT". */
static void front_error(const char *hint, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void front_error(const char *hint, const char *fmt, ...)
{
	va_list ap;

	/* Escaped as cmd_error's: the message may quote a path or a loader's error. */
	va_start(ap, fmt);
	cmd_verror(hint, fmt, ap);
	va_end(ap);
}

/* core_open - dlopen()s the core library beside the executable; NULL after saying why. */
static void *core_open(void)
{
	/* Installed first: an installed executable never looks into a build/ beside it. */
	static const char *const places[] = {"../lib/pgconverge", "build"};
	char exe[PATH_MAX], path[PATH_MAX + 64];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	char *slash;
	size_t i;

	if (n <= 0) {
		front_error(NULL, "cannot find the executable's folder: /proc/self/exe is unreadable");
		return NULL;
	}
	exe[n] = '\0';
	slash = strrchr(exe, '/');
	if (slash != NULL)
		*slash = '\0';
	for (i = 0; i < sizeof(places) / sizeof(places[0]); i++) {
		void *h;

		snprintf(path, sizeof(path), "%s/%s/%s", exe, places[i], CORE_NAME);
		if (access(path, F_OK) != 0)
			continue;
		h = dlopen(path, RTLD_LAZY | RTLD_LOCAL);
		if (h == NULL)
			front_error(NULL, "cannot load \"%s\": %s", path, dlerror());
		return h;
	}
	front_error("'make install' puts it in PREFIX/lib/pgconverge/; a copy of the pgconverge "
		    "executable alone runs only wal-push and wal-fetch",
		    "cannot find %s in \"%s/../lib/pgconverge\" or \"%s/build\"", CORE_NAME, exe, exe);
	return NULL;
}

int main(int argc, char **argv)
{
	int (*core_main)(int, char **);
	const char *version;
	FastCall f;
	void *core;

	cmd_no_core_dumps();
	if (fast_parse(argc, argv, &f))
		return fast_run(&f);
	core = core_open();
	if (core == NULL)
		return EXIT_ERROR;
	version = dlsym(core, "pgc_core_version");
	*(void **)&core_main = dlsym(core, "pgc_main");
	if (version == NULL || core_main == NULL || strcmp(version, PGC_VERSION) != 0) {
		front_error("reinstall pgconverge ('make install') so that both come from one build",
			    "the core library is not the one of this executable (version %s, "
			    "expected %s)",
			    version != NULL ? version : "unknown", PGC_VERSION);
		return EXIT_ERROR;
	}
	return core_main(argc, argv);
}
