/*
 * common/proc.h - the one way pgconverge runs another program (initdb,
 * pg_ctl, pg_basebackup, pg_rewind, pgbouncer, haproxy ...).
 *
 * proc_run() forks and execve()s an argv array: never a shell, so no
 * quoting bugs and no injection. The child gets:
 *   - stdin from /dev/null, or spec->stdin_data;
 *   - stdout and stderr together on one pipe, read by the caller's thread
 *     with poll() and kept in res->output (the last max_output bytes);
 *   - its own process group (non-detach) or its own session (detach), so a
 *     timeout can signal everything the child started;
 *   - default signal dispositions and an empty signal mask;
 *   - no other open descriptor (all fds >= 3 are closed at exec);
 *   - the caller's environment without the variables that carry secrets or
 *     redirect connections: every PG* variable (PGPASSWORD, PGHOST, PGDATA
 *     ...) and every name registered with proc_scrub_env(); then
 *     spec->env_extra, the only way to hand a secret to a child.
 *
 * Timeout: spec->timeout_ms is mandatory. When it expires the child's process
 * group gets SIGTERM, then SIGKILL after PROC_KILL_GRACE_MS, and
 * res->timed_out is set. The child is always reaped: no zombies.
 *
 * Daemons and the output pipe. A program that starts a daemon (pg_ctl start,
 * pgbouncer -d) may leave it holding the inherited stdout/stderr. proc_run()
 * therefore does not read until end-of-file: it returns as soon as the
 * direct child has exited and the output already in the pipe has been read.
 * Output a left-behind process writes after that is lost (its writes fail
 * with EPIPE), so the rule for callers is: a daemon gets its own log file
 * (pg_ctl -l FILE, pgbouncer logfile=, haproxy log ...), and a program that
 * is meant to outlive the call runs with detach = true, which starts it in a
 * new session (no controlling terminal, outside the caller's process group,
 * so neither a Ctrl-C at pgconverge's terminal nor the end of pgconverge
 * reaches it). Without detach, processes the child leaves behind in its
 * process group are left running too, but are killed with it on timeout.
 *
 * Logging: the command line (argv, quoted) is logged at debug level, with
 * run_as, cwd and the *names* of env_extra variables; their values never
 * are. A program that could not be started is reported with log_error();
 * a program that ran and failed is the caller's to report (its output is in
 * res->output).
 *
 * Thread-safe: between fork() and execve() the child only makes
 * async-signal-safe calls; everything it needs is prepared before fork().
 * proc_run() reaps its own child with waitpid(pid): the program must not
 * set SIGCHLD to SIG_IGN nor reap with waitpid(-1) elsewhere.
 */
#ifndef PGC_COMMON_PROC_H
#define PGC_COMMON_PROC_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* PROC_KILL_GRACE_MS - time between SIGTERM and SIGKILL on timeout. */
#define PROC_KILL_GRACE_MS 2000
/* PROC_DEFAULT_MAX_OUTPUT - output kept when spec->max_output is 0. */
#define PROC_DEFAULT_MAX_OUTPUT (1024 * 1024)

typedef struct {
	/* NULL-terminated; argv[0] is an absolute path (preferred) or a bare
	 * name looked up in the caller's PATH. Required. */
	const char *const *argv;
	/* NULL-terminated "NAME=value" strings added to (or replacing in) the
	 * child's environment; values are never logged. May be NULL. */
	const char *const *env_extra;
	/* folder the child starts in; NULL: the caller's (see run_as). */
	const char *cwd;
	/* user name. When pgconverge runs as root and run_as is set, the child
	 * takes that user's uid, gid and supplementary groups and gets HOME,
	 * USER and LOGNAME for it; when cwd is NULL and the current folder is
	 * not searchable by that user, it starts in the user's home (or "/").
	 * When not root, run_as is ignored (the child runs as the caller). */
	const char *run_as;
	/* > 0, mandatory: see "Timeout" above. */
	int timeout_ms;
	/* written to the child's stdin, then EOF; NULL: stdin is /dev/null. */
	const char *stdin_data;
	/* bytes of output kept (the tail); 0: PROC_DEFAULT_MAX_OUTPUT. */
	size_t max_output;
	/* start the child in its own session, for programs that start or are
	 * daemons; see "Daemons and the output pipe" above. */
	bool detach;
} PgcProcSpec;

typedef struct {
	int status;          /* exit code, or 128 + signal number when killed */
	int term_signal;     /* the signal that ended the child; 0 when it exited */
	bool timed_out;      /* the timeout expired and the child was signalled */
	int timeout_ms;      /* the spec's timeout, for messages */
	bool truncated;      /* more than max_output bytes came; output is the tail */
	char *output;        /* stdout and stderr interleaved, NUL-terminated,
			      * never NULL after a 0 return; free with proc_result_free() */
	size_t output_len;   /* bytes in output, without the NUL */
	double elapsed_ms;   /* from fork to reaping */
} PgcProcResult;

/*
 * proc_run - runs spec->argv and waits for it. Returns 0 when the program
 * ran, whatever its exit status (look at res->status and res->timed_out),
 * and -1 when it could not be started or run (bad spec, program not found
 * or not executable, unknown run_as user, cwd missing, fork or pipe
 * failure): the reason is logged with log_error() and res holds nothing
 * to free. res is always initialised.
 */
int proc_run(const PgcProcSpec *spec, PgcProcResult *res);

/* proc_result_free - frees res->output; res can be reused. NULL is ignored. */
void proc_result_free(PgcProcResult *res);

/*
 * proc_status_text - a short phrase for messages, written into buf:
 * "exited with code 1", "was terminated by signal 9 (Killed)" or
 * "timed out after 30000 ms". Returns buf.
 */
const char *proc_status_text(const PgcProcResult *res, char *buf, size_t size);

/*
 * proc_report_failed - reports that a program ran and failed: what failed,
 * how (exit code, signal, timeout), and the last lines of its output.
 * Writes a one-line summary into err when err is not NULL.
 */
void proc_report_failed(const char *what, const char *program, const PgcProcResult *res,
			char *err, size_t errlen);

/*
 * proc_format_argv - argv as one line for messages, each word left bare
 * when it only holds [A-Za-z0-9_@%+=:,./-] and single-quoted otherwise
 * ('it'\''s'), so it can be pasted into a shell. malloc'd, caller frees.
 */
char *proc_format_argv(const char *const *argv);

/*
 * proc_user_lookup - uid, primary gid and home folder of a user name.
 * home may be NULL; otherwise *home is malloc'd (caller frees). Returns 0,
 * or -1 when the user does not exist or cannot be looked up (logged).
 */
int proc_user_lookup(const char *user, uid_t *uid, gid_t *gid, char **home);

/*
 * proc_scrub_env - removes the variable name from the environment of every
 * child started afterwards, e.g. the {env: NAME} secrets of the topology,
 * which children other than the one given them explicitly must not see.
 * Names are copied; thread-safe.
 */
void proc_scrub_env(const char *name);

#endif
