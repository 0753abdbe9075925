/*
 * reconcile/planner.h - the plan of a whole topology: each component's
 * planner in turn, cluster after cluster, into one plan (engine/builder.h).
 * The wiring above the components: the engine knows none of them.
 *
 * Per cluster: the HA planner (reconcile/ha/plan_ha.h) finds the live
 * primary and plans what comes first (split brain, rejoins); the postgres
 * planner (reconcile/postgres/plan_postgres.h) analyses the nodes; the
 * backup planner (reconcile/backup/plan_backup.h) plans repositories,
 * backups, drills and restores; the postgres planner appends the servers'
 * actions; a switchover that waits comes last. Then the nodes' observed
 * fingerprints.
 */
#ifndef PGC_RECONCILE_PLANNER_H
#define PGC_RECONCILE_PLANNER_H

#include "reconcile/engine/plan.h"
#include "reconcile/observe/observe.h"
#include "schema/topology.h"

/*
 * plan_build - the actions that take the observed state to the topology,
 * in an order that respects: primary before replicas, upstream before
 * cascaded; >=-on-standby parameters raised on standbys first and lowered
 * on the primary first; restarts rolling (replicas one at a time, primary
 * last). Actions the policy forbids are kept, marked blocked.
 * A converged cluster gives zero actions. Never fails except on memory.
 *
 * Decisions callers rely on (reconcile/postgres/plan_postgres.c tells why):
 * - ids are "cluster/node/action", plus ":target" for the kinds that can
 *   occur several times on a node (create-slot:pg2, create-role:app,
 *   grant-role:readers>reporting, create-extension:appdb.pgcrypto,
 *   reset-alter-system:work_mem, alter-role:..., *-database:...).
 * - the rolling restart goes through replicas in tree order (an upstream
 *   replica before the replicas cascading from it), the primary last; with
 *   a lowered >=-on-standby parameter the primary goes first. Each restart
 *   depends on the previous one, so a blocked or failed restart stops the
 *   chain.
 * - a raise and a lower of >=-on-standby parameters in one plan: the raise
 *   now, the lowered ones keep their current value until the next run.
 * - a raise whose standby restarts cannot run in this plan (policy, or a
 *   standby on another machine): when the primary has other changes, its
 *   raised parameters keep their live value and the rest is written and
 *   reloaded now; otherwise its configuration waits behind the restarts.
 * - a replica's passfile is rewritten when observe found another password,
 *   upstream or user in it, or none (PgcObsPassfile), after the
 *   replication role is altered; a running replica that streams from
 *   nobody (plan_replica_streams) gets a start action, after the repairs,
 *   that waits until it streams.
 * - the replication user is created right after the primary is up, before
 *   the clones; the other roles, memberships, databases and extensions come
 *   last. They are planned from what the primary reports: on a primary that
 *   is down they are planned by the next run, once it is up.
 * - nodes on another machine: actions that need their files or pg_ctl are
 *   blocked with the reason; SQL actions (roles, ALTER SYSTEM RESET, slots,
 *   reload) are not. A node that does not answer gets a blocked start.
 * - a data directory that is neither empty nor PostgreSQL's gets a blocked
 *   initdb/clone and nothing else.
 * - a cluster with bootstrap.from_backup whose primary has no data yet is
 *   left to the restore: nothing is planned for it here.
 * - obs NULL (plan --offline): every node is taken as local with an absent
 *   data directory, i.e. the plan from an empty machine; p->offline is set
 *   and there are no fingerprints.
 * - source_kind "file" and source_path (the topology's display path) are
 *   filled in; the caller sets source_digest (or the git fields).
 */
PgcPlan *plan_build(const PgcTopology *t, const PgcObserved *obs, const PgcPolicy *policy);

#endif
