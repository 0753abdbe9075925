/*
 * cmd/status.c - `pgconverge status`: the observed state of every node next
 * to the desired one.
 */
#include "cmd/cmd.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cmd/converge.h"
#include "cmd/status.h"
#include "cmd/exitcodes.h"
#include "cmd/status_top.h"
#include "common/clock.h"
#include "common/metrics.h"
#include "common/log.h"
#include "common/strutil.h"
#include "reconcile/coord/coord_status.h"
#include "reconcile/observe/observe_stats.h"
#include "reconcile/observe/observe_pgpool.h"
#include "reconcile/haproxy/haproxy_status.h"
#include "reconcile/observe/observe_pgbouncer.h"
#include "reconcile/postgres/plan_postgres.h"
#include "reconcile/transport/host.h"
#include "reconcile/pg/pgsql.h"
#include "reconcile/backup/walarchive_status.h"
#include "reconcile/pg/lsn.h"
#include "reconcile/standby/region_failover.h"
#include "reconcile/standby/region_loss.h"
#include "reconcile/standby/standby_status.h"
#include "schema/source_applied.h"

static const char *const status_formats[] = {"text", "json", "prometheus", NULL};

const PgcCommandSpec status_spec = {
	.usage = "status " USAGE_SOURCE USAGE_NEWLINE
		 "[--cluster NAME] [--format text|json|prometheus]" USAGE_NEWLINE
		 "[--state-dir DIR]" USAGE_NEWLINE
		 "--cluster NAME --top [--limit N] [--format text|json]",
	.description =
		"Observes every node and prints, per cluster and node: running or not, role,\n"
		"timeline, upstream and replication state, pending restarts, and how many\n"
		"actions a plan would take to converge it (drift). Nothing is changed.\n"
		"--format json prints the whole observed model, each node with the table's\n"
		"columns too (role, lsn, lag_bytes, lag_seconds, connections, max_connections,\n"
		"pending_restart, pending_actions, streaming); --format prometheus writes\n"
		"metrics in the text exposition format, e.g. for node_exporter's textfile\n"
		"collector. The last applied source is shown too: the git commit (or the file's\n"
		"digest) 'apply' recorded in the state directory, and when.\n"
		"\n"
		"With --format prometheus (only), each node's monitoring figures are gathered\n"
		"too: pgconverge_connections{state} and pgconverge_max_connections; per\n"
		"database pgconverge_database_{blocks_read,blocks_hit,block_read_seconds,\n"
		"block_write_seconds,temp_bytes,temp_files,xact_commit,xact_rollback}_total and\n"
		"pgconverge_database_size_bytes; for declared databases\n"
		"pgconverge_database_{index_scans,seq_scans}_total and\n"
		"pgconverge_database_unused_indexes; pgconverge_wal_bytes_total,\n"
		"pgconverge_wal_generated_bytes_total, pgconverge_replication_lag_{bytes,seconds};\n"
		"for nodes on this machine, from /proc: pgconverge_processes,\n"
		"pgconverge_process_cpu_seconds_total, pgconverge_process_{read,write}_bytes_total;\n"
		"pgconverge_stats_error when some could not be read.\n"
		"\n"
		"For clusters with a backup section: the newest verified base backup and its\n"
		"age, the last restore drill (passed or FAILED) and the time since one last\n"
		"passed (\"last verified\"), and pg_stat_archiver of each primary (archived,\n"
		"failed, failing now, segments waiting). Metrics:\n"
		"pgconverge_backup_last_base_age_seconds, pgconverge_backup_base_backups,\n"
		"pgconverge_backup_last_verified_age_seconds, pgconverge_backup_last_drill_ok,\n"
		"pgconverge_backup_repository_error, pgconverge_archive_archived_total,\n"
		"pgconverge_archive_failed_total, pgconverge_archive_failing,\n"
		"pgconverge_archive_ready_segments, pgconverge_archive_last_archived_age_seconds.\n"
		"\n"
		"--top asks the cluster's live primary, in each declared database (\"postgres\"\n"
		"when none is), for: the statements with the most total execution time\n"
		"(pg_stat_statements, when installed there: monitoring.pg_stat_statements);\n"
		"indexes never scanned and indexes scanned fewer than 50 times, with their\n"
		"sizes (unique, primary key and constraint indexes are left out); tables read\n"
		"mostly by sequential scans, the most rows read first. Figures count from the\n"
		"last statistics reset, which is shown. --limit N rows per section (default\n"
		"10). --top needs --cluster; it prints only this report.\n"
		"\n"
		"With coordination.etcd, status also reads the agents' keys in etcd (text and\n"
		"json): per cluster the leader and its fencing token, each host's agent and\n"
		"when it last reported, each member as its agent published it (role,\n"
		"timeline, LSN, WAL receiver), the last failover or switchover decision and\n"
		"its state, and fenced nodes. When etcd cannot be read, one warning says why\n"
		"and the rest is printed as usual.\n",
	.options = OPT_SOURCE | OPT_STATE_DIR | OPT_CLUSTER | OPT_FORMAT | OPT_TOP | OPT_AS,
	.formats = status_formats,
	.exit_codes = "  0   the status was printed (down nodes and drift are in it)\n"
		      "  1   error (with --top: also when no primary of the cluster answers)\n",
};

static const char *role_of(const PgcObsNode *n)
{
	if (!n->reachable)
		return n->postmaster_alive ? "unreachable" : "down";
	return n->in_recovery ? "replica" : "primary";
}

static size_t node_pending(const PgcPlan *p, const char *cluster, const char *node)
{
	size_t i, n = 0;

	for (i = 0; i < p->n_actions; i++)
		if (p->actions[i].node != NULL && strcmp(p->actions[i].cluster, cluster) == 0 &&
		    strcmp(p->actions[i].node, node) == 0)
			n++;
	return n;
}

static bool node_pending_restart(const PgcObsNode *n)
{
	size_t i;

	for (i = 0; i < n->n_settings; i++)
		if (plan_pending_restart(n, &n->settings[i]))
			return true;
	return false;
}

/*
 * replica_streams - plan_replica_streams() as the plan judges it, asking
 * every node of the cluster for a walsender (after a failover the live
 * upstream is not the file's). true for what is not an answering standby.
 */
static bool replica_streams(const PgcObsCluster *oc, const PgcObsNode *n)
{
	size_t i;

	if (plan_replica_streams(n, NULL, n->name))
		return true;
	for (i = 0; i < oc->n_nodes; i++)
		if (&oc->nodes[i] != n && oc->nodes[i].n_replicas > 0 &&
		    plan_replica_streams(n, &oc->nodes[i], n->name))
			return true;
	return false;
}

/* live_primary_lsn - the write position of the cluster's live primary, 0 unknown. */
static uint64_t live_primary_lsn(const PgcObsCluster *oc)
{
	size_t i;

	for (i = 0; i < oc->n_nodes; i++)
		if (oc->nodes[i].reachable && !oc->nodes[i].in_recovery)
			return lsn_value(oc->nodes[i].current_lsn);
	return 0;
}

static void format_lag(const PgcObsNode *n, uint64_t primary_lsn, char *buf, size_t size)
{
	uint64_t replay = lsn_value(n->replay_lsn);

	if (!n->reachable || !n->in_recovery || primary_lsn == 0 || replay == 0) {
		snprintf(buf, size, "-");
		return;
	}
	if (n->replay_delay_s >= 0)
		snprintf(buf, size, "%llu B, %.1f s",
			 (unsigned long long)(primary_lsn > replay ? primary_lsn - replay : 0),
			 n->replay_delay_s);
	else
		snprintf(buf, size, "%llu B",
			 (unsigned long long)(primary_lsn > replay ? primary_lsn - replay : 0));
}

static void format_conns(const PgcObsNode *n, char *buf, size_t size)
{
	const PgcObsSetting *max = obs_setting(n, "max_connections");

	if (n->connections < 0)
		snprintf(buf, size, "-");
	else
		snprintf(buf, size, "%d/%s", n->connections, max ? max->setting : "?");
}

/*
 * add_node_summaries - per node of the JSON model, what the text table
 * shows (role, LSN, lag in bytes and seconds, connection limit, pending
 * restart and actions), so that consumers need not derive it.
 */
static void add_node_summaries(json_t *j, const PgcObserved *o, const PgcPlan *p)
{
	json_t *clusters = json_object_get(j, "clusters");
	size_t c, i;

	for (c = 0; c < o->n_clusters; c++) {
		const PgcObsCluster *oc = &o->clusters[c];
		json_t *nodes = json_object_get(json_array_get(clusters, c), "nodes");
		uint64_t plsn = live_primary_lsn(oc);

		for (i = 0; i < oc->n_nodes; i++) {
			const PgcObsNode *n = &oc->nodes[i];
			const PgcObsSetting *max = obs_setting(n, "max_connections");
			const char *lsn = n->in_recovery ? n->replay_lsn : n->current_lsn;
			uint64_t replay = lsn_value(n->replay_lsn);
			bool lag = n->reachable && n->in_recovery && plsn != 0 && replay != 0;
			json_t *nj = json_array_get(nodes, i);

			if (nj == NULL)
				continue;
			json_object_set_new(nj, "role", json_string(role_of(n)));
			json_object_set_new(nj, "lsn", n->reachable && lsn ? json_string(lsn) : json_null());
			json_object_set_new(nj, "lag_bytes",
					    lag ? json_integer((json_int_t)(plsn > replay ? plsn - replay : 0))
						: json_null());
			json_object_set_new(nj, "lag_seconds", lag && n->replay_delay_s >= 0
								   ? json_real(n->replay_delay_s)
								   : json_null());
			json_object_set_new(nj, "max_connections",
					    max && max->setting ? json_integer(atoll(max->setting))
								: json_null());
			json_object_set_new(nj, "pending_restart", json_boolean(node_pending_restart(n)));
			json_object_set_new(nj, "streaming",
					    n->reachable && n->in_recovery
						? json_boolean(replica_streams(oc, n))
						: json_null());
			json_object_set_new(nj, "pending_actions",
					    json_integer((json_int_t)node_pending(p, oc->name, n->name)));
		}
	}
}

/* pgpool_text - one line for the cluster's Pgpool-II: up, port, the primary it sees, its backends. */
static void pgpool_text(const PgcCluster *tc, const PgcObsPgpool *pp)
{
	const char *primary = observe_pgpool_primary(tc, pp);

	if (pp == NULL || !pp->alive) {
		str_fprintf_line(stdout, "  pgpool     DOWN (port %lld)\n", tc->pgpool.port.v);
		return;
	}
	str_fprintf_line(stdout, "  pgpool     up, port %lld, pid %ld, primary %s%s", tc->pgpool.port.v,
			 pp->pid, primary ? primary : "NONE", pp->n_nodes ? ", backends:" : "");
	for (size_t i = 0; i < pp->n_nodes; i++)
		str_fprintf_line(stdout, " %s %s/%s",
				 (size_t)pp->nodes[i].id < tc->n_nodes ? tc->nodes[pp->nodes[i].id].name : "?",
				 pp->nodes[i].status ? pp->nodes[i].status : "?",
				 pp->nodes[i].role ? pp->nodes[i].role : "?");
	printf("\n");
	if (!pp->reachable && pp->error != NULL)
		str_fprintf_line(stdout, "  %-10s %s\n", "", pp->error);
}

static const char *tli_text(PgcArena *a, unsigned tli)
{
	return tli > 0 ? arena_printf(a, "timeline %u", tli) : "timeline unknown";
}

/* region_text - after a region failover: the promoted standby cluster, or the fenced source. */
static void region_text(const PgcTopology *t, const PgcObserved *o, const PgcCluster *tc)
{
	PgcRegionState rs;

	if (!region_loss_state(t, o, tc, &rs))
		return;
	if (rs.kin == REGION_UNRELATED)
		str_fprintf_line(stdout, "  HELD: %s and %s are unrelated clusters (system identifiers %llu "
				 "and %llu) although %s says standby_of: %s; nothing is done to either until "
				 "the topology is fixed\n",
				 rs.promoted ? tc->name : rs.by_cluster, rs.promoted ? tc->standby_of.v : tc->name,
				 (unsigned long long)rs.sysid, (unsigned long long)rs.source_sysid,
				 rs.promoted ? tc->name : rs.by_cluster, rs.promoted ? tc->standby_of.v : tc->name);
	else if (rs.kin == REGION_UNKNOWN)
		str_fprintf_line(stdout, "  HELD (%s): %s takes writes although standby_of says %s; not "
				 "called a region failover, nothing fenced, until both are observed\n",
				 rs.unknown, rs.promoted ? tc->name : rs.by_cluster,
				 rs.promoted ? tc->standby_of.v : tc->name);
	else if (rs.promoted)
		str_fprintf_line(stdout, "  promoted by a region failover: %s takes writes (%s) although "
				 "standby_of says %s; swap standby_of to make %s a standby of %s\n",
				 rs.writer, tli_text(o->arena, rs.writer_tli), tc->standby_of.v,
				 tc->standby_of.v, tc->name);
	else
		str_fprintf_line(stdout, "  FENCED: standby cluster %s was promoted by a region failover (%s, "
				 "%s); %s must not take writes until it is a standby of %s (swap "
				 "standby_of)\n",
				 rs.by_cluster, rs.by_node, tli_text(o->arena, rs.by_tli), tc->name,
				 rs.by_cluster);
}

/*
 * add_region - each cluster's "region": {state: promoted|fenced, writer or
 * by_cluster/by_node}, or {state: held, why: unrelated|timelines
 * unknown|system identifiers unknown, cluster: the other one}.
 */
static void add_region(json_t *j, const PgcTopology *t, const PgcObserved *o)
{
	for (size_t c = 0; c < o->n_clusters; c++) {
		const PgcCluster *tc = topology_cluster(t, o->clusters[c].name);
		PgcRegionState rs;
		json_t *rj;

		if (tc == NULL || !region_loss_state(t, o, tc, &rs))
			continue;
		if (rs.kin != REGION_FAILOVER)
			rj = json_pack("{s:s,s:s,s:s}", "state", "held", "why",
				       rs.kin == REGION_UNRELATED ? "unrelated" : rs.unknown, "cluster",
				       rs.promoted ? tc->standby_of.v : rs.by_cluster);
		else if (rs.promoted)
			rj = json_pack("{s:s,s:s,s:i}", "state", "promoted", "writer", rs.writer, "timeline",
				       (int)rs.writer_tli);
		else
			rj = json_pack("{s:s,s:s,s:s,s:i}", "state", "fenced", "by_cluster", rs.by_cluster,
				       "by_node", rs.by_node, "by_timeline", (int)rs.by_tli);
		json_object_set_new(json_array_get(json_object_get(j, "clusters"), c), "region", rj);
	}
}

static void print_text(const PgcTopology *t, const PgcObserved *o, const PgcPlan *p,
		       const PgcCoordStatus *cs)
{
	size_t c, i;

	for (c = 0; c < o->n_clusters; c++) {
		const PgcObsCluster *oc = &o->clusters[c];
		const PgcCluster *tc = topology_cluster(t, oc->name);
		uint64_t plsn = live_primary_lsn(oc);

		PgcStandbyStatus ss;

		str_fprintf_line(stdout, "cluster %s (desired primary %s)\n", oc->name,
		       tc && tc->primary.v ? tc->primary.v : "-");
		if (tc != NULL && standby_status(o->arena, t, o, tc, &ss)) {
			char lag[64] = "unknown";

			if (ss.lag_known && ss.lag_seconds >= 0)
				snprintf(lag, sizeof(lag), "%llu B, %.1f s", (unsigned long long)ss.lag_bytes,
					 ss.lag_seconds);
			else if (ss.lag_known)
				snprintf(lag, sizeof(lag), "%llu B", (unsigned long long)ss.lag_bytes);
			str_fprintf_line(stdout, "  standby of %s (chain %s): leader %s streams from %s, "
					 "cross-region lag %s\n", ss.source, ss.chain,
					 tc->primary.v ? tc->primary.v : "-",
					 ss.upstream ? ss.upstream : "nobody", lag);
		}
		if (tc != NULL)
			region_text(t, o, tc);
		str_fprintf_line(stdout, "  %-10s %-11s %-3s %-6s %-12s %-16s %-10s %-20s %-8s %s\n", "NODE", "ROLE", "TL",
		       "PORT", "LSN", "UPSTREAM", "WAL RECV", "LAG", "CONNS", "DRIFT");
		for (i = 0; i < oc->n_nodes; i++) {
			const PgcObsNode *n = &oc->nodes[i];
			const PgcNode *tn = tc ? cluster_node(tc, n->name) : NULL;
			char up[64] = "-", tl[16] = "-", port[16] = "-", lag[64], conns[32];
			const char *lsn = n->in_recovery ? n->replay_lsn : n->current_lsn;
			size_t pending = node_pending(p, oc->name, n->name);
			bool streams = replica_streams(oc, n);

			if (n->upstream_host != NULL)
				snprintf(up, sizeof(up), "%s:%d", n->upstream_host, n->upstream_port);
			if (n->timeline > 0)
				snprintf(tl, sizeof(tl), "%u", n->timeline);
			if (tn != NULL)
				snprintf(port, sizeof(port), "%lld", tn->port.v);
			format_lag(n, plsn, lag, sizeof(lag));
			format_conns(n, conns, sizeof(conns));
			str_fprintf_line(stdout, "  %-10s %-11s %-3s %-6s %-12s %-16s %-10s %-20s %-8s %s%s\n", n->name,
			       role_of(n), tl, port, lsn && n->reachable ? lsn : "-", up,
			       n->wal_receiver_status ? n->wal_receiver_status : "-", lag, conns,
			       !streams ? "NOT STREAMING" : pending == 0 ? "in sync" : "",
			       node_pending_restart(n) ? " (restart pending)" : "");
			if (!streams)
				printf("  %-10s replica streams from nobody: no WAL receiver, and no node "
				       "has a walsender for it; see its server log\n", "");
			if (pending > 0)
				str_fprintf_line(stdout, "  %-10s %zu action%s pending: see 'pgconverge plan'\n", "", pending,
				       pending == 1 ? "" : "s");
			if (!n->reachable && n->conn_error != NULL)
				str_fprintf_line(stdout, "  %-10s %s\n", "", n->conn_error);
		}
		if (tc != NULL && tc->pgpool.set)
			pgpool_text(tc, oc->pgpool);
		if (tc != NULL)
			haproxy_status_text(stdout, tc, oc->haproxy);
		if (oc->pgbouncer != NULL)
			str_fprintf_line(stdout, "  pgbouncer  %s:%d %s\n", oc->pgbouncer->listen_addr,
					 oc->pgbouncer->port, observe_pgbouncer_line(o->arena, oc->pgbouncer));
		if (cs != NULL && cs->error == NULL && coord_status_find(cs, oc->name) != NULL)
			coord_status_text(stdout, coord_status_find(cs, oc->name));
	}
}

/*
 * add_standby - each standby cluster's "standby": {of, chain, upstream,
 * lag_bytes, lag_seconds} (the cross-region lag of its leader; null unknown).
 */
static void add_standby(json_t *j, const PgcTopology *t, const PgcObserved *o)
{
	for (size_t c = 0; c < o->n_clusters; c++) {
		const PgcCluster *tc = topology_cluster(t, o->clusters[c].name);
		PgcStandbyStatus ss;
		json_t *sj;

		if (tc == NULL || !standby_status(o->arena, t, o, tc, &ss))
			continue;
		sj = json_object();
		json_object_set_new(sj, "of", json_string(ss.source));
		json_object_set_new(sj, "chain", json_string(ss.chain));
		json_object_set_new(sj, "upstream", ss.upstream ? json_string(ss.upstream) : json_null());
		json_object_set_new(sj, "lag_bytes",
				    ss.lag_known ? json_integer((json_int_t)ss.lag_bytes) : json_null());
		json_object_set_new(sj, "lag_seconds", ss.lag_known && ss.lag_seconds >= 0
							   ? json_real(ss.lag_seconds) : json_null());
		json_object_set_new(json_array_get(json_object_get(j, "clusters"), c), "standby", sj);
	}
}

/* add_frontdoors - each cluster's HAProxy summary into its "haproxy" object. */
static void add_frontdoors(json_t *j, const PgcTopology *t, const PgcObserved *o)
{
	for (size_t c = 0; c < o->n_clusters; c++) {
		const PgcCluster *tc = topology_cluster(t, o->clusters[c].name);
		json_t *cj = json_array_get(json_object_get(j, "clusters"), c);
		json_t *h = tc ? haproxy_status_json(tc, o->clusters[c].haproxy) : NULL;

		if (h != NULL && json_is_object(json_object_get(cj, "haproxy")))
			json_object_update(json_object_get(cj, "haproxy"), h);
		else if (h != NULL)
			json_object_set(cj, "haproxy", h);
		json_decref(h);
	}
}

/* node_sample - one sample of a per-node metric (integer values). */
static void node_sample(FILE *f, const char *name, const PgcObsCluster *oc, const PgcObsNode *n, long long v)
{
	metrics_sample(f, name, METRICS_LABELS("cluster", oc->name, "node", n->name), "%lld", v);
}

void status_prometheus(FILE *f, const PgcObserved *o, const PgcPlan *p)
{
	size_t c, i;

	metrics_family(f, "pgconverge_node_up", "gauge",
		       "1 when pgconverge could connect to the node");
	for (c = 0; c < o->n_clusters; c++)
		for (i = 0; i < o->clusters[c].n_nodes; i++)
			node_sample(f, "pgconverge_node_up", &o->clusters[c], &o->clusters[c].nodes[i],
				    o->clusters[c].nodes[i].reachable ? 1 : 0);
	metrics_family(f, "pgconverge_node_in_recovery", "gauge",
		       "1 for a replica, 0 for a primary");
	for (c = 0; c < o->n_clusters; c++)
		for (i = 0; i < o->clusters[c].n_nodes; i++)
			if (o->clusters[c].nodes[i].reachable)
				node_sample(f, "pgconverge_node_in_recovery", &o->clusters[c],
					    &o->clusters[c].nodes[i],
					    o->clusters[c].nodes[i].in_recovery ? 1 : 0);
	metrics_family(f, "pgconverge_node_timeline", "gauge",
		       "the node's timeline from pg_control");
	for (c = 0; c < o->n_clusters; c++)
		for (i = 0; i < o->clusters[c].n_nodes; i++)
			if (o->clusters[c].nodes[i].timeline > 0)
				node_sample(f, "pgconverge_node_timeline", &o->clusters[c],
					    &o->clusters[c].nodes[i], o->clusters[c].nodes[i].timeline);
	metrics_family(f, "pgconverge_node_pending_actions", "gauge",
		       "actions a plan would take on the node");
	for (c = 0; c < o->n_clusters; c++)
		for (i = 0; i < o->clusters[c].n_nodes; i++)
			node_sample(f, "pgconverge_node_pending_actions", &o->clusters[c],
				    &o->clusters[c].nodes[i],
				    (long long)node_pending(p, o->clusters[c].name,
							    o->clusters[c].nodes[i].name));
	metrics_family(f, "pgconverge_replica_streaming", "gauge",
		       "1 when a replica streams (or is reconnecting), 0 when it streams from nobody");
	for (c = 0; c < o->n_clusters; c++)
		for (i = 0; i < o->clusters[c].n_nodes; i++)
			if (o->clusters[c].nodes[i].reachable && o->clusters[c].nodes[i].in_recovery)
				node_sample(f, "pgconverge_replica_streaming", &o->clusters[c],
					    &o->clusters[c].nodes[i],
					    replica_streams(&o->clusters[c], &o->clusters[c].nodes[i]) ? 1 : 0);
	metrics_family(f, "pgconverge_plan_blocked_actions", "gauge",
		       "actions blocked by policy");
	metrics_sample(f, "pgconverge_plan_blocked_actions", NULL, "%zu", plan_count_blocked(p));
	/* Nodes observed with their monitoring figures (observe_stats.h). */
	observe_stats_metrics(f, o);
}

/* ---- backups and the WAL archive (issue 5) ---- */

/* One node's pg_stat_archiver, for clusters that archive. */
typedef struct {
	const char *node;
	PgcArchiverStatus st;
} NodeArchiver;

typedef struct {
	const PgcCluster *c;
	const PgcObsRepository *repo;      /* NULL: no backup section */
	size_t n_base;                     /* verified base backups */
	const PgcBaseBackupInfo *newest;   /* the newest verified one */
	double backup_age_s;               /* since it finished; -1 none */
	const PgcObsDrill *last_drill;     /* the most recent drill, passed or failed */
	double verified_age_s;             /* since the last drill that passed; -1 never */
	NodeArchiver *arch;
	size_t n_arch;
} BackupStatus;

static double iso_age(const char *iso, time_t now)
{
	struct tm tm;
	const char *end;

	if (iso == NULL)
		return -1;
	memset(&tm, 0, sizeof(tm));
	end = strptime(iso, "%Y-%m-%dT%H:%M:%SZ", &tm);
	if (end == NULL || *end != '\0')
		return -1;
	return difftime(now, timegm(&tm));
}

/* archivers - pg_stat_archiver of every reachable primary of an archiving cluster. */
static void archivers(PgcArena *a, const PgcCluster *c, const PgcObsCluster *oc, BackupStatus *bs)
{
	size_t i;

	bs->arch = arena_calloc(a, oc->n_nodes + 1, sizeof(*bs->arch));
	for (i = 0; i < oc->n_nodes; i++) {
		const PgcObsNode *n = &oc->nodes[i];
		const PgcNode *tn = cluster_node(c, n->name);
		char err[512];
		PGconn *conn;

		if (tn == NULL || !n->reachable || n->in_recovery)
			continue;
		conn = pgsql_connect(pgsql_node_conninfo(a, c, tn, NULL), 0, err, sizeof err);
		if (conn == NULL)
			continue;
		if (walarchive_archiver_status(a, conn, 0, &bs->arch[bs->n_arch].st, err, sizeof err) == 0)
			bs->arch[bs->n_arch++].node = n->name;
		PQfinish(conn);
	}
}

static BackupStatus *backup_status(PgcArena *a, const PgcTopology *t, const PgcObserved *o,
				   size_t *n_out)
{
	BackupStatus *out = arena_calloc(a, o->n_clusters + 1, sizeof(*out));
	time_t now = time(NULL);
	size_t c, i, n = 0;

	for (c = 0; c < o->n_clusters; c++) {
		const PgcObsCluster *oc = &o->clusters[c];
		const PgcCluster *tc = topology_cluster(t, oc->name);
		BackupStatus *bs = &out[n];

		if (tc == NULL || (oc->repository == NULL && oc->restore_source == NULL))
			continue;
		n++;
		bs->c = tc;
		bs->repo = oc->repository;
		bs->backup_age_s = bs->verified_age_s = -1;
		for (i = 0; bs->repo != NULL && bs->repo->catalog != NULL && i < bs->repo->catalog->n_base;
		     i++) {
			const PgcBaseBackupInfo *b = &bs->repo->catalog->base[i];

			if (b->verify.ok && !b->deleting) {
				bs->n_base++;
				bs->newest = b;
			}
		}
		if (bs->newest != NULL)
			bs->backup_age_s = iso_age(bs->newest->finished_at, now);
		for (i = 0; bs->repo != NULL && i < bs->repo->n_drills; i++) {
			const PgcObsDrill *d = &bs->repo->drills[i];
			double age = iso_age(d->at, now);

			if (bs->last_drill == NULL || age < iso_age(bs->last_drill->at, now))
				bs->last_drill = d;
			if (d->ok && age >= 0 && (bs->verified_age_s < 0 || age < bs->verified_age_s))
				bs->verified_age_s = age;
		}
		if (tc->backup.set && tc->backup.wal_archive.v)
			archivers(a, tc, oc, bs);
	}
	*n_out = n;
	return out;
}

static void backup_text(const BackupStatus *bs, size_t n)
{
	char a1[32], a2[32];
	size_t i, k;

	if (n == 0)
		return;
	str_fprintf_line(stdout, "\nbackups\n");
	for (i = 0; i < n; i++) {
		const BackupStatus *b = &bs[i];

		if (b->c->bootstrap.set)
			str_fprintf_line(stdout, "  cluster %s: restored from %s%s\n", b->c->name, b->c->bootstrap.repository.v,
			       b->repo ? "" : " (no backup section)");
		if (b->repo == NULL)
			continue;
		str_fprintf_line(stdout, "  cluster %s: repository %s\n", b->c->name, b->repo->path);
		if (b->repo->error != NULL) {
			str_fprintf_line(stdout, "    ERROR %s\n", b->repo->error);
			continue;
		}
		if (b->newest != NULL)
			str_fprintf_line(stdout, "    last base backup %s, finished %s (%zu verified)\n", b->newest->id,
			       clock_age_text(b->backup_age_s, "never", a1, sizeof a1), b->n_base);
		else
			str_fprintf_line(stdout, "    no verified base backup\n");
		if (b->last_drill != NULL)
			str_fprintf_line(stdout, "    last restore drill %s on %s, %s: %s\n",
			       b->last_drill->ok ? "passed" : "FAILED", b->last_drill->backup_id,
			       clock_age_text(iso_age(b->last_drill->at, time(NULL)), "never", a1, sizeof a1),
			       b->last_drill->message ? b->last_drill->message : "");
		str_fprintf_line(stdout, "    last verified (a restore drill that passed): %s\n",
		       clock_age_text(b->verified_age_s, "never", a2, sizeof a2));
		for (k = 0; k < b->n_arch; k++) {
			const PgcArchiverStatus *s = &b->arch[k].st;

			str_fprintf_line(stdout, "    WAL archive from %s: %lld archived, last %s %s; %lld failed%s%s%s; %lld "
			       "waiting\n",
			       b->arch[k].node, (long long)s->archived_count,
			       s->last_archived_wal ? s->last_archived_wal : "-",
			       clock_age_text(s->last_archived_age_s, "never", a1, sizeof a1),
			       (long long)s->failed_count,
			       s->failing ? " (FAILING: last " : "",
			       s->failing && s->last_failed_wal ? s->last_failed_wal : "",
			       s->failing ? ")" : "", (long long)s->ready_count);
		}
	}
}

static json_t *jnum_or_null(double v)
{
	return v < 0 ? json_null() : json_real(v);
}

static json_t *backup_json(const BackupStatus *bs, size_t n)
{
	json_t *arr = json_array();
	size_t i, k;

	for (i = 0; i < n; i++) {
		const BackupStatus *b = &bs[i];
		json_t *o = json_object(), *arch = json_array();

		json_object_set_new(o, "cluster", json_string(b->c->name));
		json_object_set_new(o, "repository", b->repo ? json_string(b->repo->path) : json_null());
		json_object_set_new(o, "restored_from", b->c->bootstrap.set
								? json_string(b->c->bootstrap.repository.v)
								: json_null());
		json_object_set_new(o, "error",
				    b->repo && b->repo->error ? json_string(b->repo->error) : json_null());
		json_object_set_new(o, "base_backups", json_integer((json_int_t)b->n_base));
		json_object_set_new(o, "last_base_backup", b->newest ? json_string(b->newest->id) : json_null());
		json_object_set_new(o, "last_backup_age_s", jnum_or_null(b->backup_age_s));
		json_object_set_new(o, "last_verified_age_s", jnum_or_null(b->verified_age_s));
		json_object_set_new(o, "last_drill",
				    b->last_drill == NULL
					    ? json_null()
					    : json_pack("{s:s s:b s:s? s:s?}", "backup", b->last_drill->backup_id,
							"ok", b->last_drill->ok, "at", b->last_drill->at,
							"message", b->last_drill->message));
		for (k = 0; k < b->n_arch; k++) {
			const PgcArchiverStatus *s = &b->arch[k].st;

			json_array_append_new(
			    arch, json_pack("{s:s s:I s:s? s:o s:I s:s? s:s? s:b s:I}", "node", b->arch[k].node,
					    "archived_count", (json_int_t)s->archived_count,
					    "last_archived_wal", s->last_archived_wal, "last_archived_age_s",
					    jnum_or_null(s->last_archived_age_s), "failed_count",
					    (json_int_t)s->failed_count, "last_failed_wal", s->last_failed_wal,
					    "last_failed_time", s->last_failed_time, "failing", s->failing,
					    "ready_count", (json_int_t)s->ready_count));
		}
		json_object_set_new(o, "archivers", arch);
		json_array_append_new(arr, o);
	}
	return arr;
}

/* arch_sample - one sample of a node's pg_stat_archiver metric (integer values). */
static void arch_sample(const char *name, const BackupStatus *bs, const NodeArchiver *na,
			long long v)
{
	metrics_sample(stdout, name, METRICS_LABELS("cluster", bs->c->name, "node", na->node), "%lld",
		       v);
}

static void backup_prometheus(const BackupStatus *bs, size_t n)
{
	size_t i, k;

	if (n == 0)
		return;
	metrics_family(stdout, "pgconverge_backup_last_base_age_seconds", "gauge",
		       "age of the newest verified base backup");
	for (i = 0; i < n; i++)
		if (bs[i].backup_age_s >= 0)
			metrics_sample(stdout, "pgconverge_backup_last_base_age_seconds",
				       METRICS_LABELS("cluster", bs[i].c->name), "%.0f", bs[i].backup_age_s);
	metrics_family(stdout, "pgconverge_backup_base_backups", "gauge",
		       "verified base backups in the repository");
	for (i = 0; i < n; i++)
		if (bs[i].repo != NULL && bs[i].repo->error == NULL)
			metrics_sample(stdout, "pgconverge_backup_base_backups",
				       METRICS_LABELS("cluster", bs[i].c->name), "%zu", bs[i].n_base);
	metrics_family(stdout, "pgconverge_backup_last_verified_age_seconds", "gauge",
		       "time since a restore drill last passed");
	for (i = 0; i < n; i++)
		if (bs[i].verified_age_s >= 0)
			metrics_sample(stdout, "pgconverge_backup_last_verified_age_seconds",
				       METRICS_LABELS("cluster", bs[i].c->name), "%.0f",
				       bs[i].verified_age_s);
	metrics_family(stdout, "pgconverge_backup_last_drill_ok", "gauge",
		       "1 when the most recent restore drill passed");
	for (i = 0; i < n; i++)
		if (bs[i].last_drill != NULL)
			metrics_sample(stdout, "pgconverge_backup_last_drill_ok",
				       METRICS_LABELS("cluster", bs[i].c->name, "backup",
						      bs[i].last_drill->backup_id),
				       "%d", bs[i].last_drill->ok ? 1 : 0);
	metrics_family(stdout, "pgconverge_backup_repository_error", "gauge",
		       "1 when the repository cannot be read");
	for (i = 0; i < n; i++)
		if (bs[i].repo != NULL)
			metrics_sample(stdout, "pgconverge_backup_repository_error",
				       METRICS_LABELS("cluster", bs[i].c->name), "%d",
				       bs[i].repo->error != NULL);
	metrics_family(stdout, "pgconverge_archive_archived_total", "counter",
		       "WAL files archived (pg_stat_archiver)");
	for (i = 0; i < n; i++)
		for (k = 0; k < bs[i].n_arch; k++)
			arch_sample("pgconverge_archive_archived_total", &bs[i], &bs[i].arch[k],
				    (long long)bs[i].arch[k].st.archived_count);
	metrics_family(stdout, "pgconverge_archive_failed_total", "counter",
		       "failed archive_command runs (pg_stat_archiver)");
	for (i = 0; i < n; i++)
		for (k = 0; k < bs[i].n_arch; k++)
			arch_sample("pgconverge_archive_failed_total", &bs[i], &bs[i].arch[k],
				    (long long)bs[i].arch[k].st.failed_count);
	metrics_family(stdout, "pgconverge_archive_failing", "gauge",
		       "1 when the last archive attempt failed");
	for (i = 0; i < n; i++)
		for (k = 0; k < bs[i].n_arch; k++)
			arch_sample("pgconverge_archive_failing", &bs[i], &bs[i].arch[k],
				    bs[i].arch[k].st.failing ? 1 : 0);
	metrics_family(stdout, "pgconverge_archive_ready_segments", "gauge",
		       "WAL files waiting to be archived");
	for (i = 0; i < n; i++)
		for (k = 0; k < bs[i].n_arch; k++)
			if (bs[i].arch[k].st.ready_count >= 0)
				arch_sample("pgconverge_archive_ready_segments", &bs[i], &bs[i].arch[k],
					    (long long)bs[i].arch[k].st.ready_count);
	metrics_family(stdout, "pgconverge_archive_last_archived_age_seconds", "gauge",
		       "time since the last WAL file was archived");
	for (i = 0; i < n; i++)
		for (k = 0; k < bs[i].n_arch; k++)
			if (bs[i].arch[k].st.last_archived_age_s >= 0)
				metrics_sample(stdout, "pgconverge_archive_last_archived_age_seconds",
					       METRICS_LABELS("cluster", bs[i].c->name, "node",
							      bs[i].arch[k].node),
					       "%.0f", bs[i].arch[k].st.last_archived_age_s);
}

/* ---- the last applied source (issue 4) ---- */

typedef struct {
	PgcSource src;
	time_t at;
	bool converged;
	bool known;
} LastApplied;

static void last_applied_read(const PgcOptions *opts, LastApplied *la)
{
	memset(la, 0, sizeof(*la));
	la->known = source_applied_read(opts->state_dir, &la->src, &la->at, &la->converged) == 0;
}

static void last_applied_text(const LastApplied *la)
{
	char at[32];

	if (!la->known) {
		str_fprintf_line(stdout, "last applied: nothing recorded in this state directory\n\n");
		return;
	}
	source_format_time(la->at, at, sizeof at);
	if (la->src.commit != NULL)
		str_fprintf_line(stdout, "last applied: commit %.12s (ref %s, %s) at %s%s\n\n", la->src.commit,
		       la->src.ref ? la->src.ref : "?", la->src.path ? la->src.path : "?", at,
		       la->converged ? "" : ", some actions held back by policy");
	else
		str_fprintf_line(stdout, "last applied: %s (%s) at %s%s\n\n", la->src.path ? la->src.path : "?",
		       la->src.digest ? la->src.digest : "no digest", at,
		       la->converged ? "" : ", some actions held back by policy");
}

static json_t *last_applied_json(const LastApplied *la)
{
	char at[32];
	json_t *o;

	if (!la->known)
		return json_null();
	o = json_object();
	json_object_set_new(o, "kind", json_string(la->src.kind));
#define SET(k, v) json_object_set_new(o, k, (v) ? json_string(v) : json_null())
	SET("repository", la->src.repository);
	SET("ref", la->src.ref);
	SET("commit", la->src.commit);
	SET("path", la->src.path);
	SET("digest", la->src.digest);
	SET("applied_at", source_format_time(la->at, at, sizeof at));
#undef SET
	json_object_set_new(o, "converged", json_boolean(la->converged));
	return o;
}

static void last_applied_prometheus(const LastApplied *la)
{
	char commit[41];

	if (!la->known)
		return;
	metrics_family(stdout, "pgconverge_last_applied_timestamp_seconds", "gauge",
		       "when apply last ran to the end");
	if (la->src.commit != NULL) {
		snprintf(commit, sizeof commit, "%.40s", la->src.commit);
		metrics_sample(stdout, "pgconverge_last_applied_timestamp_seconds",
			       METRICS_LABELS("commit", commit), "%lld", (long long)la->at);
	} else {
		metrics_sample(stdout, "pgconverge_last_applied_timestamp_seconds", NULL, "%lld",
			       (long long)la->at);
	}
}

/* ---- */

int cmd_status(const PgcOptions *opts)
{
	PgcOptions stats_opts = *opts;
	LastApplied la;
	PgcCoordStatus cs, *coord = NULL;
	PgcTopology *t;
	PgcObserved *obs = NULL;
	PgcPlan *p = NULL;
	PgcArena *ba = arena_new(); /* backups and archivers (issue 5) */
	BackupStatus *bs = NULL;
	size_t nbs = 0;
	int rc = EXIT_ERROR;

	if (opts->top) {
		arena_free(ba);
		return status_top(opts);
	}
	/* The monitoring figures cost a few queries per node: only for prometheus. */
	stats_opts.observe_stats = options_format_is(opts, "prometheus");
	if (converge_look(&stats_opts, &t, &obs, &p) != 0)
		goto cleanup;
	/* What a region failover estimates its loss from, should the source be lost. */
	region_record_save(opts->state_dir, t, obs);
	last_applied_read(opts, &la);
	bs = backup_status(ba, t, obs, &nbs);
	if (t->etcd.set && !options_format_is(opts, "prometheus")) {
		coord = &cs;
		coord_status_read(ba, t, coord);
		if (coord->error != NULL)
			log_warn("coordination state not shown: %s", coord->error);
	}
	if (options_format_is(opts, "json")) {
		json_t *j = observe_to_json(obs);

		add_node_summaries(j, obs, p);
		for (size_t i = 0; i < obs->n_clusters; i++) {
			const PgcCluster *tc = topology_cluster(t, obs->clusters[i].name);

			if (tc != NULL && tc->pgpool.set)
				json_object_set_new(json_array_get(json_object_get(j, "clusters"), i),
						    "pgpool", observe_pgpool_json(tc, obs->clusters[i].pgpool));
		}
		add_frontdoors(j, t, obs);
		add_standby(j, t, obs);
		add_region(j, t, obs);
		for (size_t i = 0; coord != NULL && i < obs->n_clusters; i++)
			json_object_set_new(json_array_get(json_object_get(j, "clusters"), i), "coordination",
					    coord_status_json(coord, coord_status_find(coord, obs->clusters[i].name)));
		json_object_set_new(j, "last_applied", last_applied_json(&la));
		json_object_set_new(j, "pending_actions", json_integer((json_int_t)p->n_actions));
		json_object_set_new(j, "blocked_actions", json_integer((json_int_t)plan_count_blocked(p)));
		json_object_set_new(j, "backups", backup_json(bs, nbs));
		cmd_print_json(j, JSON_INDENT(2) | JSON_SORT_KEYS);
	} else if (options_format_is(opts, "prometheus")) {
		status_prometheus(stdout, obs, p);
		last_applied_prometheus(&la);
		backup_prometheus(bs, nbs);
	} else {
		last_applied_text(&la);
		print_text(t, obs, p, coord);
		backup_text(bs, nbs);
	}
	source_reset(&la.src);
	rc = EXIT_OK;
cleanup:
	arena_free(ba);
	plan_free(p);
	observe_free(obs);
	topology_free(t);
	return rc;
}
