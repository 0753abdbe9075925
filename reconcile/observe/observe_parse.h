/*
 * reconcile/observe/observe_parse.h - the parsing and checking helpers of
 * the probe, also used by apply (the clone marker, postmaster.pid) and
 * exposed for unit tests. Pure functions: no I/O, no logging.
 */
#ifndef PGC_RECONCILE_OBSERVE_OBSERVE_PARSE_H
#define PGC_RECONCILE_OBSERVE_OBSERVE_PARSE_H

#include <stdbool.h>
#include <stddef.h>

#include "common/arena.h"
#include "reconcile/observe/observe_model.h"

/*
 * observe_clone_marker_path - the file that marks a clone into data_dir as
 * unfinished: "<parent>/.<name>.pgconverge-clone" beside the data directory
 * (pg_basebackup needs the directory itself empty). Apply writes it before
 * pg_basebackup starts and removes it once the copy is a standby; while it
 * names the directory, the directory's content is pgconverge's unfinished
 * copy, which the next clone empties and copies again. Owned by a.
 */
const char *observe_clone_marker_path(PgcArena *a, const char *data_dir);

/* observe_clone_marker_names - true when marker text has the line "data_dir=<data_dir>". */
bool observe_clone_marker_names(const char *text, const char *data_dir);

/* observe_dir_state_name - "unknown", "absent", "empty", "initialized", "foreign". */
const char *observe_dir_state_name(PgcDirState s);

/*
 * observe_parse_controldata - reads pg_controldata's output (LC_ALL=C) into
 * n: system_identifier, timeline, cluster_state (copied into a),
 * data_checksums ("Data page checksum version" != 0) and wal_log_hints.
 * Returns 0, or -1 when the system identifier is not in text.
 */
int observe_parse_controldata(PgcArena *a, const char *text, PgcObsNode *n);

/*
 * observe_conf_includes - true when postgresql.conf text has an active
 * (not commented) include of the managed file: `include 'pgconverge.conf'`,
 * with or without '=', quoted or not, relative or as data_dir's absolute path.
 */
bool observe_conf_includes(const char *conf, const char *data_dir);

/*
 * observe_parse_history - the ancestors in a timeline history file's text
 * ("1\t0/3000158\tno recovery target specified" a line; comments and blank
 * lines skipped) into out->parents (arena a). Returns 0, or -1 when a line
 * does not parse or the timelines do not increase.
 */
int observe_parse_history(PgcArena *a, const char *text, PgcObsHistory *out);

/* observe_parse_pidfile - the pid on postmaster.pid's first line, 0 when none. */
long observe_parse_pidfile(const char *text);

/*
 * observe_verify_password - checks password against a pg_authid.rolpassword
 * value: "SCRAM-SHA-256$iter:salt$StoredKey:ServerKey" or "md5" + hex.
 * Returns 1 matches, 0 differs, -1 cannot tell (unknown format, or a
 * non-ASCII password that differs: the server SASLprep-normalises those,
 * which is not reproduced here).
 */
int observe_verify_password(const char *verifier, const char *rolname, const char *password);

/*
 * observe_conninfo_upstream - host and port of a primary_conninfo string
 * (*host NULL when absent, *port 5432 when absent). Returns 0, or -1 when
 * the string does not parse. *host is copied into a.
 */
int observe_conninfo_upstream(PgcArena *a, const char *conninfo, const char **host, int *port);

/*
 * observe_conninfo_redact - conninfo as given when it has no password,
 * otherwise rebuilt with password='********', so that observed settings
 * never carry a secret. Owned by a.
 */
const char *observe_conninfo_redact(PgcArena *a, const char *conninfo);

/* observe_hex - lowercase hexadecimal of len bytes into out (2 * len + 1 bytes). */
void observe_hex(const unsigned char *in, size_t len, char *out);

#endif
