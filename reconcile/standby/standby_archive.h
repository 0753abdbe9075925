/*
 * reconcile/standby/standby_archive.h - where a standby cluster fetches
 * WAL when its stream cannot serve it (the source's WAL archive): pure.
 *
 * A standby cluster streams from its source through a slot; when the
 * stream breaks for longer than the slot can hold (the slot dropped, or
 * invalidated by max_slot_wal_keep_size, or the standby leader down long),
 * the WAL it needs is gone from the source's pg_wal. Its nodes then find
 * it in the archive of the cluster that writes it: the root of the
 * standby_of chain, the only one out of recovery. Standby clusters in the
 * chain archive nothing while in recovery (archive_mode = on, not always:
 * with backup.wal_archive of their own they start archiving into their own
 * repository once promoted), so their repositories never hold it.
 *
 * The rule: every node of a standby cluster gets
 * restore_command = `pgconverge wal-fetch --repository ROOT_REPO %f %p`
 * when the root has backup.wal_archive and runs as the same os_user (the
 * repository is os_user's, mode 0700, and wal-fetch runs as the server's
 * user); otherwise no restore_command at all, not even one on its own
 * repository. PostgreSQL's standby loop then goes from stream to archive
 * and back by itself, and fetches the timeline history files of a source
 * failover from the archive too (recovery_target_timeline = latest, the
 * default).
 */
#ifndef PGC_RECONCILE_STANDBY_STANDBY_ARCHIVE_H
#define PGC_RECONCILE_STANDBY_STANDBY_ARCHIVE_H

#include "schema/topology.h"

/*
 * standby_archive_root - the cluster at the top of c's standby_of chain
 * (c itself when it is not a standby cluster), or NULL when the chain
 * names a missing cluster or loops (validation refuses both).
 */
const PgcCluster *standby_archive_root(const PgcTopology *t, const PgcCluster *c);

/*
 * standby_archive_repository - the repository c's nodes fetch WAL from
 * (PgcCluster.standby_archive), by the rule above: the root's
 * backup.repository, or NULL when c is not a standby cluster, the root
 * does not archive, or its os_user differs. Points into t.
 */
const char *standby_archive_repository(const PgcTopology *t, const PgcCluster *c);

#endif
