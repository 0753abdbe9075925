/*
 * reconcile/observe/observe_model.h - the types of the observed model:
 * what is live, per node (PgcObsNode), per cluster (PgcObsCluster, with its
 * backup repository), and the whole observation (PgcObserved). Plain data,
 * built by observe_topology() (observe.h) or by hand in unit tests.
 *
 * Its own header so that the parts of the probe (observe_files.c,
 * observe_sql.c, observe_repo.c ...) use the model without depending on
 * observe.c, which runs them. Include observe.h, which includes this.
 *
 * Memory: everything belongs to the PgcObserved's arena; observe_free().
 */
#ifndef PGC_RECONCILE_OBSERVE_OBSERVE_MODEL_H
#define PGC_RECONCILE_OBSERVE_OBSERVE_MODEL_H

#include <stdbool.h>
#include <stdint.h>

#include "common/arena.h"
#include "reconcile/backup/backup_catalog.h"
#include "reconcile/backup/walarchive.h"
#include "schema/topology.h"

/*
 * The front doors' and the monitoring's observed state: each defined in its
 * own probe's header (observe_pgbouncer.h, observe_haproxy.h,
 * observe_pgpool.h, observe_stats.h), so that this model does not grow
 * with every component. NULL when the cluster declares none, or when it
 * was not looked at.
 */
typedef struct PgcObsPgbouncer PgcObsPgbouncer;
typedef struct PgcObsHaproxy PgcObsHaproxy;
typedef struct PgcObsPgpool PgcObsPgpool;
typedef struct PgcObsStats PgcObsStats;
typedef struct PgcObsDatadog PgcObsDatadog; /* observe_datadog.h */
typedef struct PgcObsPgbadger PgcObsPgbadger;

typedef enum {
	DIR_UNKNOWN = 0,  /* not looked at (remote host, or permission problem: see dir_error) */
	DIR_ABSENT,       /* the folder does not exist */
	DIR_EMPTY,        /* exists and is empty: initdb or a clone may use it */
	DIR_INITIALIZED,  /* holds PG_VERSION and global/pg_control */
	DIR_FOREIGN,      /* exists, not empty, not a PostgreSQL data directory: never touched */
} PgcDirState;

/* One row of pg_settings, plus the canonical value (pgparam_normalize). */
typedef struct {
	const char *name;
	const char *setting;      /* pg_settings.setting */
	const char *unit;         /* pg_settings.unit or NULL */
	const char *normalized;   /* canonical text; equals pgparam_normalize() of a desired value */
	const char *source;       /* default, configuration file, override, ... */
	const char *sourcefile;   /* NULL when not from a file */
	const char *context;      /* postmaster, sighup, ... */
	bool pending_restart;
} PgcObsSetting;

/* A parameter set by ALTER SYSTEM (postgresql.auto.conf): drift. */
typedef struct {
	const char *name;
	const char *value;
} PgcObsAutoConf;

typedef struct {
	const char *name;
	bool login, superuser, createdb, createrole, replication, bypassrls;
	int connection_limit;
	const char **member_of;   /* role names */
	size_t n_member_of;
	bool has_password;
	/*
	 * password_matches: observe checked the stored SCRAM verifier against the
	 * desired secret (resolved on this host, never stored here): 1 matches,
	 * 0 differs, -1 unknown (no desired password, or not verifiable).
	 */
	int password_matches;
} PgcObsRole;

typedef struct {
	const char *name;
	const char *owner;
	const char **extensions;  /* installed extension names (pg_extension) */
	size_t n_extensions;
} PgcObsDatabase;

/* One pg_hba_file_rules row. */
typedef struct {
	int line_number;
	const char *type, *database, *user_name, *address, *netmask, *auth_method, *options;
	const char *error;        /* non-NULL: the live file has an invalid line */
} PgcObsHbaRule;

/* One pg_stat_replication row (on an upstream). */
typedef struct {
	const char *application_name;
	const char *client_addr;
	const char *state;        /* streaming, catchup, ... */
	const char *sync_state;   /* async, sync, quorum, potential */
	const char *sent_lsn, *write_lsn, *flush_lsn, *replay_lsn;
} PgcObsReplica;

typedef struct {
	const char *slot_name;
	const char *slot_type;    /* physical | logical */
	bool active;
	const char *restart_lsn;
} PgcObsSlot;

/*
 * PgcObsPassfile - the replication passfile beside a local node's data
 * directory (plan_passfile_path), read when the cluster declares
 * replication.password. The password itself is never kept: observe
 * compares it with the declared secret, resolved on this host. All zero
 * (read false) means not looked at: the planner then compares nothing.
 */
typedef enum {
	PASSFILE_PW_UNKNOWN = 0,  /* not read, or the declared secret is not on this host */
	PASSFILE_PW_MATCHES,      /* the declared replication password */
	PASSFILE_PW_DIFFERS,      /* another one, none, or the declared secret is refused
	                           * (secret.h): writing the file then reports why */
} PgcPassfilePassword;

typedef struct {
	bool read;                /* looked at: exists and the fields below are known */
	bool exists;
	const char *host, *port, *user; /* its entry's fields, unescaped; NULL when it has none */
	PgcPassfilePassword password;
} PgcObsPassfile;

typedef struct {
	const char *name;         /* node name in the topology */
	const char *cluster;
	bool local;               /* its host is this machine: filesystem actions possible */

	/* Filesystem (local nodes only). */
	PgcDirState dir_state;
	const char *dir_error;    /* why dir_state is DIR_UNKNOWN, or NULL */
	int pg_version_major;     /* from PG_VERSION, 0 unknown */
	uint64_t system_identifier; /* pg_controldata, 0 unknown */
	unsigned timeline;        /* pg_controldata "Latest checkpoint's TimeLineID" */
	const char *cluster_state;/* pg_controldata "Database cluster state" */
	bool data_checksums;
	bool wal_log_hints;
	bool include_line;        /* postgresql.conf includes pgconverge's managed file */
	const char *managed_conf; /* current content of the managed file, or NULL */
	double managed_conf_mtime;/* its modification time (epoch seconds), 0 unknown */
	const char *hba_conf;     /* current content of pg_hba.conf, or NULL */
	bool standby_signal;      /* standby.signal exists */
	bool recovery_signal;     /* recovery.signal exists: an archive recovery (a restore) runs or
	                           * will run at the next start */
	bool clone_interrupted;   /* the clone marker beside data_dir names it: a copy into
	                           * it began and never finished (observe_clone_marker_path) */
	PgcObsPassfile passfile;  /* the replication passfile */
	long postmaster_pid;      /* from postmaster.pid, 0 none */
	bool postmaster_alive;    /* that pid exists and is a postgres process */

	/* SQL. */
	bool reachable;           /* a connection succeeded */
	const char *conn_error;   /* libpq's message when not reachable */
	int server_version_num;
	bool in_recovery;
	const char *replay_pause_state; /* pg_get_wal_replay_pause_state() of a node in archive
	                                 * recovery (recovery_signal): "not paused", "pause
	                                 * requested", "paused"; NULL otherwise */
	PgcObsSetting *settings;
	size_t n_settings;
	PgcObsAutoConf *auto_conf;
	size_t n_auto_conf;
	PgcObsHbaRule *hba;
	size_t n_hba;
	PgcObsRole *roles;        /* primary (or standalone) only */
	size_t n_roles;
	PgcObsDatabase *databases;/* primary only */
	size_t n_databases;
	PgcObsReplica *replicas;  /* pg_stat_replication */
	size_t n_replicas;
	PgcObsSlot *slots;
	size_t n_slots;

	/* Standby side. */
	const char *primary_conninfo;   /* pg_settings value */
	const char *upstream_host;      /* parsed from primary_conninfo */
	int upstream_port;
	const char *wal_receiver_status;/* pg_stat_wal_receiver.status, NULL when none */
	double wal_receiver_last_msg_age_s; /* seconds since last_msg_receipt_time, -1 unknown */
	const char *receive_lsn;
	const char *replay_lsn;
	const char *current_lsn;        /* primary: pg_current_wal_lsn() */
	int connections;                /* client backends now, -1 unknown */
	double conf_load_time;          /* pg_conf_load_time() in epoch seconds, 0 unknown */
	double replay_delay_s;          /* replica: seconds since the last replayed commit while
	                                 * behind, 0 when caught up; -1 unknown / primary */
	PgcObsStats *stats;             /* monitoring figures (observe_stats.h); NULL: not gathered */
	PgcObsPgbadger *pgbadger;       /* the node's pgBadger reports (observe_pgbadger.h); NULL:
	                                 * no monitoring.pgbadger, or not this machine */
} PgcObsNode;

/* One ancestor in a timeline history file: timeline tli ended at switch_lsn. */
typedef struct {
	unsigned tli;
	uint64_t switch_lsn;      /* the first byte of the next timeline */
} PgcObsTimelineSwitch;

/* PgcObsHistory - REPO/wal/history/TTTTTTTT.history: timeline tli's ancestors, oldest first. */
typedef struct {
	unsigned tli;
	PgcObsTimelineSwitch *parents;
	size_t n_parents;
} PgcObsHistory;

/*
 * PgcObsDrill - the last restore drill of a base backup: the "drill" object
 * drill.c records on the backup's catalog entry (backup_catalog.h keeps
 * keys it does not know, so observe reads them from the document itself).
 */
typedef struct {
	const char *backup_id;
	bool ok;
	const char *at;           /* ISO 8601 UTC, when it finished */
	double duration_s;
	long long rows;           /* rows the check query counted; -1 unknown */
	const char *message;      /* what failed, or a summary of what was checked */
} PgcObsDrill;

typedef struct PgcObsRepoRead PgcObsRepoRead;

/*
 * PgcObsRepository - a backup repository as observe read it (once per
 * cluster, in a thread of its own beside the node probes, bounded by
 * OBSERVE_REPO_TIMEOUT_MS: a hung mount becomes an error, not a stall).
 * The planner reads it for schedules, retention, drills and restores.
 */
typedef struct {
	const char *path;
	bool exists;              /* the folder is there (a repository pgconverge has yet to
	                           * create is empty, not an error) */
	const char *error;        /* the repository could not be read; the other fields are empty */
	PgcBackupCatalog *catalog;/* never NULL when error is NULL; freed by observe_free */
	PgcWalEntry *wal;         /* walarchive_list(), sorted by name */
	size_t n_wal;
	PgcObsHistory *history;   /* every history file, fetched through its checksum like
	                           * wal-fetch does; one that fails the check sets error */
	size_t n_history;
	PgcObsDrill *drills;      /* base backups that had a drill, in catalog order */
	size_t n_drills;
	PgcObsRepoRead *owner;    /* private: the read's memory, released by observe_free */
} PgcObsRepository;

/* How long observe waits for a repository to be read. */
#define OBSERVE_REPO_TIMEOUT_MS 30000

/*
 * With coordination.etcd, every agent observes the nodes of the other hosts
 * at each pass, and its failover work waits for the pass: a node cut off
 * from the network is given up after this long (the failover probes give
 * up after 1 s too).
 */
#define OBSERVE_REMOTE_CONNECT_TIMEOUT_S 1

typedef struct {
	const char *name;
	PgcObsNode *nodes;        /* same order as the cluster's nodes in the topology */
	size_t n_nodes;
	PgcObsRepository *repository; /* backup.repository; NULL without a backup section */
	PgcObsRepository *restore_source; /* bootstrap.from_backup.repository; NULL without one */
	PgcObsPgbouncer *pgbouncer;   /* pooler.pgbouncer */
	PgcObsHaproxy *haproxy;       /* balancer.haproxy */
	PgcObsPgpool *pgpool;         /* balancer.pgpool */
	PgcObsDatadog *datadog;       /* monitoring.datadog (observe_datadog.h) */
} PgcObsCluster;

typedef struct {
	PgcArena *arena;
	PgcObsCluster *clusters;  /* same order as the topology's clusters */
	size_t n_clusters;
	/*
	 * With only_cluster naming a standby cluster: the clusters of its
	 * standby_of chain (its source, the source's source...), their nodes
	 * only, for the planner to find the source's live primary
	 * (plan_standby.c); and with only_cluster naming a source, its own
	 * standby clusters, nodes only (one promoted by a region failover
	 * fences it: region_loss.h). Not in clusters: nothing else reports them.
	 */
	PgcObsCluster *sources;
	size_t n_sources;
	const char *observed_at;  /* ISO 8601 UTC */
	bool pretend;             /* made from a topology, not observed (plan --offline) */
} PgcObserved;

typedef struct {
	int connect_timeout_s;    /* default 3; OBSERVE_REMOTE_CONNECT_TIMEOUT_S at most for another
				   * host's node when the topology has coordination.etcd */
	int query_timeout_ms;     /* default 5000 */
	const char *only_cluster; /* NULL: all */
	bool stats;               /* also gather the monitoring figures (observe_stats.h):
	                           * status --format prometheus, reconcile --metrics-listen */
} PgcObserveOptions;


/* observe_node_find - the observed node for (cluster, node), or NULL. */
const PgcObsNode *observe_node_find(const PgcObserved *o, const char *cluster, const char *node);

/*
 * observe_cluster_find_any - the observed cluster named name among the
 * observed clusters, else among the sources observed for them
 * (PgcObserved.sources, with --cluster of a standby cluster), or NULL.
 */
const PgcObsCluster *observe_cluster_find_any(const PgcObserved *o, const char *name);

/* observe_node_find_any - the observed node (cluster, node), sources included, or NULL. */
const PgcObsNode *observe_node_find_any(const PgcObserved *o, const char *cluster, const char *node);

/* obs_setting - a pg_settings row by name (case-insensitive), or NULL. */
const PgcObsSetting *obs_setting(const PgcObsNode *n, const char *name);

#endif
