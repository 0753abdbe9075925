/*
 * reconcile/backup/restore_wait.c - a restored copy's server started and
 * watched until its recovery ends (restore_wait.h). The server, its files
 * and its process are reached through its host only; its SQL over libpq.
 */
#include "reconcile/backup/restore_wait.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <libpq-fe.h>

#include "common/clock.h"
#include "common/fsutil.h"
#include "common/log.h"
#include "common/proc.h"
#include "reconcile/backup/restore_choose.h"
#include "reconcile/engine/exec.h"
#include "reconcile/observe/observe.h"
#include "reconcile/observe/observe_parse.h"
#include "reconcile/pg/lsn.h"
#include "reconcile/pg/pgsql.h"

/* Watching a recovery: connection attempts while the server starts (each
 * refused one is a FATAL line in its log), then a cheap query on the open
 * connection, often enough that the promotion is seen within 50 ms. */
#define POLL_MS 100
#define POLL_CONNECTED_MS 50
/* A server whose postmaster.pid has not appeared after this long did not start. */
#define PIDFILE_GRACE_MS 15000
#define LOG_TAIL_LINES 15
#define LOG_READ_MAX (8 * 1024 * 1024)

/* ---- starting -------------------------------------------------------------------- */

int64_t restore_file_size(PgcHost *h, const char *path)
{
	int64_t size = 0;

	/* lstat: a link in its place is not the log (and reading it is refused). */
	return host_file_size(h, path, &size) == 0 ? size : 0;
}

int restore_start_server(PgcHost *h, const PgcCluster *c, const char *data_dir,
			 const char *log_file, int timeout_s)
{
	PgcArena *a = arena_new();
	const char *argv[] = {arena_printf(a, "%s/pg_ctl", c->bin_dir.v), "start", "-D", data_dir,
			      "-W", "-l", log_file, NULL};
	PgcProcSpec spec = {0};
	PgcProcResult res;
	int rc = -1;

	if (host_mkdir_p(h, exec_parent_dir(a, log_file), 0700) != 0)
		goto cleanup;
	spec.argv = argv;
	spec.run_as = host_os_user(h);
	spec.timeout_ms = timeout_s * 1000;
	spec.detach = true; /* the postmaster outlives pgconverge */
	if (host_run(h, &spec, &res) != 0)
		goto cleanup;
	if (res.status == 0 && !res.timed_out)
		rc = 0;
	else
		proc_report_failed(arena_printf(a, "could not start the server in \"%s\"", data_dir),
				     argv[0], &res, NULL, 0);
	proc_result_free(&res);
cleanup:
	arena_free(a);
	return rc;
}

/* ---- watching recovery -------------------------------------------------------------- */

/*
 * read_server_file - a file of the server's data directory: through the host,
 * as root guarded against links the server's account put there.
 */
static int read_server_file(const PgcRestoreWait *w, const char *path, char **buf, size_t *len,
			    size_t max)
{
	return host_read_file(w->host, path, buf, len, max);
}

/* postmaster_state - 1 running, 0 stopped, -1 no postmaster.pid (yet). */
static int postmaster_state(const PgcRestoreWait *w)
{
	char *path = fs_path_join(w->data_dir, "postmaster.pid"), *buf = NULL;
	size_t len;
	long pid;
	int rc = read_server_file(w, path, &buf, &len, 4096);

	free(path);
	if (rc != 0) {
		free(buf);
		return -1;
	}
	pid = observe_parse_pidfile(buf);
	free(buf);
	if (pid <= 0 || pid > INT_MAX)
		return -1;
	return host_signal(w->host, pid, 0) == 0 || errno == EPERM ? 1 : 0;
}

/* log_since - the server log from offset, at most LOG_READ_MAX bytes of its end, in a. */
static const char *log_since(PgcArena *a, const PgcRestoreWait *w)
{
	int64_t offset = w->log_offset;
	char *buf = NULL;
	size_t len = 0;
	const char *text;

	if (read_server_file(w, w->log_file, &buf, &len, LOG_READ_MAX) != 0) {
		free(buf);
		return "";
	}
	/* A log shorter than the offset was replaced: all of it is new. */
	text = arena_strdup(a, offset <= 0 || (int64_t)len < offset ? buf : buf + offset);
	free(buf);
	return text;
}

/* last_fatal - the last FATAL or PANIC line of a log text, without its prefix, or NULL. */
static const char *last_fatal(PgcArena *a, const char *text)
{
	const char *found = NULL, *p = text;

	while (p != NULL && *p != '\0') {
		const char *nl = strchr(p, '\n'), *f = NULL;
		size_t len = nl ? (size_t)(nl - p) : strlen(p);
		const char *line = arena_strndup(a, p, len);

		if ((f = strstr(line, "FATAL:")) != NULL || (f = strstr(line, "PANIC:")) != NULL)
			found = f;
		p = nl ? nl + 1 : NULL;
	}
	return found;
}

static const char *tail_lines(const char *text, int lines)
{
	size_t len = strlen(text);
	int seen = 0;

	while (len > 0 && (text[len - 1] == '\n' || text[len - 1] == ' '))
		len--;
	for (size_t i = len; i > 0; i--)
		if (text[i - 1] == '\n' && ++seen == lines)
			return text + i;
	return text;
}

static void fail_line(const PgcRestoreWait *w, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void fail_line(const PgcRestoreWait *w, const char *fmt, ...)
{
	va_list ap;

	if (w->error == NULL || w->error_len == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(w->error, w->error_len, fmt, ap);
	va_end(ap);
}

PgcRestoreOutcome restore_wait(const PgcRestoreWait *w)
{
	PgcArena *a = arena_new();
	double deadline = (clock_ms() / 1000.0) + w->timeout_s, started = (clock_ms() / 1000.0);
	bool seen_pid = false, resumed = false, drawn = false;
	bool show = w->progress && isatty(STDERR_FILENO) && log_enabled(LOG_INFO);
	char last_lsn[64] = "";
	PgcRestoreOutcome out = RESTORE_FAILED;
	PGconn *conn = NULL;

	for (;;) {
		int pm = postmaster_state(w);
		char err[512];

		if (pm == 1)
			seen_pid = true;
		/* A start that failed fast is gone before its pid file was ever seen: its log says so. */
		if (pm < 0 && !seen_pid &&
		    strstr(log_since(a, w), "database system is shut down") != NULL)
			seen_pid = true;
		if (pm == 0 || (pm < 0 && (seen_pid || (clock_ms() / 1000.0) - started > PIDFILE_GRACE_MS / 1000.0))) {
			const char *logt = log_since(a, w);
			const char *fatal = last_fatal(a, logt);

			if (drawn)
				fputs("\r\033[K", stderr);
			log_error("the server of %s stopped before its recovery finished: %s\n%s\n"
				  "hint: the server log is \"%s\"; nothing was promoted",
				  w->label, fatal ? fatal : "see its log", tail_lines(logt, LOG_TAIL_LINES),
				  w->log_file);
			fail_line(w, "the server of %s stopped before its recovery finished: %s",
				  w->label, fatal ? fatal : "see its log");
			break;
		}
		if (conn == NULL && pm == 1)
			conn = pgsql_connect(w->conninfo, 3, err, sizeof err);
		if (conn != NULL) {
			static const char *const sql =
				"SELECT pg_is_in_recovery(), pg_last_wal_replay_lsn(),"
				" CASE WHEN pg_is_in_recovery() THEN pg_get_wal_replay_pause_state() END";
			PGresult *r = NULL;
			PgcPgError e;

			if (pgsql_query(conn, sql, 0, NULL, 0, &r, &e) != 0) {
				PQfinish(conn);
				conn = NULL;
			} else {
				bool recovering = strcmp(PQgetvalue(r, 0, 0), "t") == 0;
				bool paused = strcmp(PQgetvalue(r, 0, 2), "paused") == 0;

				snprintf(last_lsn, sizeof last_lsn, "%s", PQgetvalue(r, 0, 1));
				PQclear(r);
				if (!recovering) {
					out = RESTORE_PROMOTED;
					break;
				}
				if (paused) {
					if (w->want_pause) {
						out = RESTORE_PAUSED;
						break;
					}
					if (!resumed) {
						/* Paused at a target it should now promote at (target_action changed). */
						log_info("%s is paused: resuming, so that recovery ends and it "
							 "is promoted", w->label);
						if (pgsql_query(conn, "SELECT pg_wal_replay_resume()", 0, NULL, 0,
								NULL, &e) != 0)
							log_warn("could not resume the replay of %s: %s",
								 w->label, e.message);
						resumed = true;
					}
				}
				if (show && last_lsn[0] != '\0') {
					fprintf(stderr, "\rrestore of %s: replayed up to %s%s%s\033[K",
						w->label, last_lsn, w->goal_lsn ? " of " : "",
						w->goal_lsn ? lsn_text(a, w->goal_lsn) : "");
					fflush(stderr);
					drawn = true;
				}
			}
		}
		if ((clock_ms() / 1000.0) >= deadline) {
			if (drawn)
				fputs("\r\033[K", stderr);
			log_error("%s is still in recovery after %d s%s%s\n"
				  "hint: the server keeps replaying; the next run waits for it again",
				  w->label, w->timeout_s, last_lsn[0] ? ", replayed up to " : "",
				  last_lsn);
			fail_line(w, "%s is still in recovery after %d s", w->label, w->timeout_s);
			break;
		}
		clock_sleep_ms(conn != NULL ? POLL_CONNECTED_MS : POLL_MS);
	}
	if (drawn && out != RESTORE_FAILED) {
		fputs("\r\033[K", stderr);
		fflush(stderr);
	}
	PQfinish(conn);
	arena_free(a);
	return out;
}
