/*
 * reconcile/pg/walarchive_cmd.h - what the server is told about the WAL
 * archive: the names of its compressions and the archive_command and
 * restore_command values that run `pgconverge wal-push` / `wal-fetch`.
 * Pure (libc and the arena only), so that the postgres planner writes them
 * into the managed configuration without depending on the backup
 * component, and the lean pgconverge executable (wal-push, wal-fetch)
 * links it. The archive itself is reconcile/backup/walarchive.h.
 *
 * Memory: results in the arena given.
 */
#ifndef PGC_RECONCILE_PG_WALARCHIVE_CMD_H
#define PGC_RECONCILE_PG_WALARCHIVE_CMD_H

#include "common/arena.h"
#include "schema/topology.h"

/*
 * walarchive_compressions - every compression, none first: the order in
 * which the archive looks for a file's copies. WALARCHIVE_N_COMPRESSIONS
 * of them.
 */
#define WALARCHIVE_N_COMPRESSIONS 3
extern const PgcCompression walarchive_compressions[WALARCHIVE_N_COMPRESSIONS];

/* walarchive_compression_name - "none", "gzip", "zstd". */
const char *walarchive_compression_name(PgcCompression c);
/* walarchive_compression_suffix - "", ".gz", ".zst". */
const char *walarchive_compression_suffix(PgcCompression c);
/* walarchive_parse_compression - the inverse of _name; 0, or -1 when unknown. */
int walarchive_parse_compression(const char *name, PgcCompression *c);

/*
 * walarchive_archive_command / walarchive_restore_command - the values of
 * archive_command and restore_command for a server archiving into (or
 * restoring from) repository with pgconverge at bin (an absolute path):
 *
 *   /usr/local/bin/pgconverge wal-push --repository /srv/backups/main --compress zstd %p %f
 *   /usr/local/bin/pgconverge wal-fetch --repository /srv/backups/main %f %p
 *
 * The server runs them through /bin/sh, so each word is left bare only
 * when it holds nothing but [A-Za-z0-9_@%+=:,./-] and is single-quoted
 * otherwise ('it'\''s'); a '%' in bin or repository is doubled, since the
 * server replaces %p, %f and %% in these settings. The result is the
 * setting's value (as SHOW displays it): writing it into postgresql.conf
 * quotes it once more, as every string value ('...' with '' for ').
 * Compression COMPRESS_NONE adds no option. Owned by a.
 */
const char *walarchive_archive_command(PgcArena *a, const char *bin, const char *repository,
				       PgcCompression c);
const char *walarchive_restore_command(PgcArena *a, const char *bin, const char *repository);

/*
 * walarchive_standby_restore_command - restore_command of a standby
 * cluster's nodes on their source's archive: as above with
 * --unreachable-ok (walarchive_fetch.h), which a standby, never ending
 * recovery by itself, can afford:
 *
 *   /usr/local/bin/pgconverge wal-fetch --repository /srv/backups/eu --unreachable-ok %f %p
 */
const char *walarchive_standby_restore_command(PgcArena *a, const char *bin, const char *repository);

#endif
