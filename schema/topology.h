/*
 * schema/topology.h - the desired state: the topology file as C structs.
 *
 * topology_load_file() (schema/load.c) reads a YAML file (or a buffer, for
 * git sources), checks it (schema/validate.h) and returns a PgcTopology
 * whose every value remembers where it was written (PgcPos), so that
 * validation, plans and errors can point back at the file. Lookups and
 * topology_free() are in schema/topology.c.
 * Defaults are filled in at load time; "set" tells whether a value was
 * written in the file or is the default. All memory belongs to the
 * topology's arena and is released by topology_free().
 *
 * YAML key names are given in the comments; schema/topology.schema.json
 * describes the same format for editors and linters.
 */
#ifndef PGC_SCHEMA_TOPOLOGY_H
#define PGC_SCHEMA_TOPOLOGY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/arena.h"
#include "common/diag.h"

/* Scalar values with their source position. pos.line == 0: not in the file. */
typedef struct {
	const char *v;
	PgcPos pos;
	bool set;
} PgcStr;

typedef struct {
	long long v;
	PgcPos pos;
	bool set;
} PgcInt;

typedef struct {
	bool v;
	PgcPos pos;
	bool set;
} PgcBool;

/* PgcDuration - "5s", "24h", "7d", "500ms"; a bare integer means seconds. */
typedef struct {
	int64_t ms;
	PgcPos pos;
	bool set;
} PgcDuration;

/* PgcSize - "16MB", "1GB", "8kB"; a bare integer means bytes. */
typedef struct {
	int64_t bytes;
	PgcPos pos;
	bool set;
} PgcSize;

typedef struct {
	PgcStr *items;
	size_t n;
	PgcPos pos;
	bool set;
} PgcStrList;

/* PgcSecret - {env: NAME} or {file: PATH}; never a literal value. */
typedef enum {
	SECRET_NONE = 0,
	SECRET_ENV,
	SECRET_FILE,
} PgcSecretKind;

typedef struct {
	PgcSecretKind kind;
	const char *ref;  /* variable name, or absolute file path (resolved) */
	PgcPos pos;
	bool set;
} PgcSecret;

/*
 * PgcSetting - one postgresql.conf parameter as written: the value is the
 * YAML scalar's text ("256MB", "200", "on", "true"). Normalisation against
 * the parameter catalog happens in validation and planning.
 */
typedef struct {
	const char *name;
	const char *value;
	PgcPos key_pos;
	PgcPos pos;       /* position of the value */
	bool from_node;   /* in a node's effective settings: overridden by the node */
} PgcSetting;

typedef struct {
	PgcSetting *items;
	size_t n;
	PgcPos pos;
} PgcSettings;

/* nodes.<name>: {host, port, data_dir, region, replicate_from, settings} */
typedef struct {
	const char *name;
	PgcPos pos;                 /* position of the node's key */
	PgcStr host;                /* default 127.0.0.1 */
	PgcInt port;                /* required, 1..65535 */
	PgcStr data_dir;            /* required; absolute after loading */
	PgcStr region;              /* optional */
	PgcStr replicate_from;      /* optional; default: the cluster's primary */
	PgcSettings settings;       /* node overrides as written */
	PgcSettings effective;      /* cluster settings merged with the node's overrides */
} PgcNode;

/*
 * hba: [{type, database, user, address, method, options}]
 *
 * Every field is kept in pg_hba.conf's own syntax and the loader guarantees
 * that each is exactly one field of a pg_hba.conf line, safe to write as it
 * is: no control character anywhere; database and user are comma-separated
 * names, with a name holding a space, ',', '#' or '"' already double-quoted
 * ("" for a quote); options are name=value pairs separated by spaces, with
 * no trailing backslash. The renderer must not quote them again.
 */
typedef struct {
	PgcPos pos;
	PgcStr type;      /* local | host | hostssl | hostnossl | hostgssenc | hostnogssenc */
	PgcStr database;  /* default all; pg_hba.conf syntax, e.g. "app,\"my db\"" */
	PgcStr user;      /* default all; pg_hba.conf syntax, e.g. "+admins,app" */
	PgcStr address;   /* required for host*, refused for local: an address/CIDR or a host name */
	PgcStr method;    /* trust | reject | scram-sha-256 | md5 | password | peer | ident | cert | ... */
	PgcStr options;   /* optional, appended as written, e.g. "clientcert=verify-full map=admins" */
} PgcHbaRule;

/* roles.<name>: {login, superuser, createdb, createrole, replication, bypassrls,
 *                connection_limit, password, member_of} */
typedef struct {
	const char *name;
	PgcPos pos;
	PgcBool login;            /* default false */
	PgcBool superuser;        /* default false */
	PgcBool createdb;         /* default false */
	PgcBool createrole;       /* default false */
	PgcBool replication;      /* default false */
	PgcBool bypassrls;        /* default false */
	PgcInt connection_limit;  /* default -1 */
	PgcSecret password;       /* optional */
	PgcStrList member_of;     /* role names */
} PgcRole;

/* databases.<name>: {owner, extensions} */
typedef struct {
	const char *name;
	PgcPos pos;
	PgcStr owner;             /* default postgres (the bootstrap superuser) */
	PgcStrList extensions;
} PgcDatabase;

typedef enum {
	SYNC_OFF = 0,
	SYNC_ANY,
	SYNC_FIRST,
} PgcSyncMethod;

/* replication: {user, password, slots, synchronous: off | {method, count}} */
typedef struct {
	PgcPos pos;
	PgcStr user;              /* default replicator */
	PgcSecret password;       /* optional */
	PgcBool slots;            /* default true */
	struct {
		PgcSyncMethod method; /* default SYNC_OFF */
		PgcInt count;         /* default 1 when method is any|first */
		PgcPos pos;
		bool set;
	} synchronous;
} PgcReplication;

typedef enum {
	FAILOVER_MANUAL = 0,
	FAILOVER_AUTO,
	FAILOVER_OFF,
} PgcFailoverMode;

/* failover: {mode, detect_after, probe_interval, failback, prefer_region,
 *            max_lag, fence_command, min_interval} */
typedef struct {
	PgcPos pos;
	bool set;
	PgcFailoverMode mode;     /* manual | auto | off; default manual */
	PgcPos mode_pos;
	PgcDuration detect_after; /* default 10s */
	PgcDuration probe_interval; /* default 1s */
	bool failback_auto;       /* failback: manual (default) | auto */
	PgcPos failback_pos;
	PgcStr prefer_region;
	PgcSize max_lag;          /* default unset: no limit */
	PgcStrList fence_command; /* argv, optional */
	PgcDuration min_interval; /* no second automatic failover sooner; default 5min */
} PgcFailover;

typedef enum {
	RESTART_NEVER = 0,
	RESTART_ALWAYS,
	RESTART_WINDOW,
} PgcRestartPolicy;

/*
 * maintenance: {restart: never|always|window, window: "Sun 02:00-04:00 UTC"}
 * window syntax: DAYS HH:MM-HH:MM [TZ]; DAYS is "daily", a day ("Sun"), a list
 * ("Sat,Sun") or a range ("Mon-Fri"); TZ is UTC (default) or an IANA name.
 * A window whose end is before its start ends on the next day.
 */
typedef struct {
	PgcPos pos;
	PgcRestartPolicy restart; /* default never */
	PgcPos restart_pos;
	PgcStr window;            /* as written */
	unsigned days_mask;       /* bit 0 = Sunday ... bit 6 = Saturday */
	int start_min;            /* minutes after midnight */
	int end_min;
	const char *tz;           /* "UTC" or an IANA zone name */
} PgcMaintenance;

typedef enum {
	COMPRESS_NONE = 0,
	COMPRESS_GZIP,
	COMPRESS_ZSTD,
} PgcCompression;

/* backup: {repository, wal_archive, compression, base: {every, keep},
 *          logical: {every, keep, databases}, verify: {every, query}} */
typedef struct {
	PgcPos pos;
	bool set;
	PgcStr repository;        /* required when backup is present; absolute */
	PgcBool wal_archive;      /* default false */
	PgcCompression compression; /* none | gzip | zstd; default none */
	PgcPos compression_pos;
	struct {
		PgcDuration every;
		PgcInt keep;      /* default 7 */
		PgcPos pos;
		bool set;
	} base;
	struct {
		PgcDuration every;
		PgcInt keep;      /* default 7 */
		PgcStrList databases;
		PgcPos pos;
		bool set;
	} logical;
	struct {
		PgcDuration every;
		PgcStr query;     /* optional check query */
		PgcPos pos;
		bool set;
	} verify;
} PgcBackup;

/* bootstrap: {from_backup: {repository, target_time, target_lsn, target_name,
 *                           target_xid, immediate, target_action}} */
typedef struct {
	PgcPos pos;
	bool set;
	PgcStr repository;        /* required; absolute */
	PgcStr target_time;
	PgcStr target_lsn;
	PgcStr target_name;
	PgcStr target_xid;
	PgcBool immediate;
	PgcStr target_action;     /* promote (default) | pause */
} PgcBootstrap;

/*
 * pooler: {pgbouncer: {port, listen_address, pool_mode, max_client_conn,
 *                      default_pool_size, dir, pause_timeout}}
 * dir holds pgbouncer.ini, its userlist and pidfile, owned by the os_user.
 */
typedef struct {
	PgcPos pos;
	bool set;
	PgcInt port;              /* required */
	PgcStr listen_address;    /* default 127.0.0.1 */
	PgcStr pool_mode;         /* session | transaction (default) | statement */
	PgcInt max_client_conn;   /* default 1000 */
	PgcInt default_pool_size; /* default 20 */
	PgcStr dir;               /* absolute; default <folder of the first node's data_dir>/pgbouncer */
	PgcDuration pause_timeout;/* the longest a switchover holds clients (PAUSE); default 10s */
} PgcPgbouncer;

/*
 * balancer: {haproxy: {write_port, read_port, stats_port, listen_address, max_lag, dir}}
 * dir holds haproxy.cfg, its pidfile and runtime socket, owned by the os_user.
 */
typedef struct {
	PgcPos pos;
	bool set;
	PgcInt write_port;        /* required */
	PgcInt read_port;         /* optional */
	PgcInt stats_port;        /* optional */
	PgcStr listen_address;    /* default 127.0.0.1 */
	PgcSize max_lag;          /* replicas further behind leave read_port; default 16MB */
	PgcStr dir;               /* absolute; default <folder of the first node's data_dir>/haproxy */
} PgcHaproxy;

/*
 * balancer: {pgpool: {port, listen_address, load_balance, pcp_port, max_lag, dir}}
 * Pgpool-II's own failover is always off: pgconverge decides, Pgpool follows.
 */
typedef struct {
	PgcPos pos;
	bool set;
	PgcInt port;              /* required */
	PgcStr listen_address;    /* default 127.0.0.1 */
	PgcBool load_balance;     /* default true */
	PgcInt pcp_port;          /* PCP (pcp_promote_node ...) on 127.0.0.1; default port + 1 */
	PgcSize max_lag;          /* delay_threshold; default 16MB */
	PgcStr dir;               /* absolute; default <folder of the first node's data_dir>/pgpool */
} PgcPgpool;

/*
 * monitoring: {pg_stat_statements: BOOL,
 *              pgbadger: BOOL | {every, keep, output},
 *              datadog: {conf_dir, password, user, dbm}}
 */
typedef struct {
	PgcPos pos;
	PgcBool pg_stat_statements; /* default false */
	struct {
		PgcPos pos;
		bool set;             /* true, {} or a map: enabled; false or absent: not */
		PgcDuration every;    /* default 1h */
		PgcInt keep;          /* days of reports kept; default 14 */
		PgcStr output;        /* absolute; default <topology folder>/reports/<cluster> */
	} pgbadger;
	struct {
		PgcPos pos;
		bool set;
		PgcStr conf_dir;      /* required: the Agent's postgres.d folder */
		PgcSecret password;   /* required */
		PgcStr user;          /* default datadog */
		PgcBool dbm;          /* Database Monitoring; default false */
	} datadog;
} PgcMonitoring;

/*
 * The role that owns Database Monitoring's SECURITY DEFINER explain
 * function: NOLOGIN, a member of pg_read_all_data and of nothing else
 * (reconcile/datadog/datadog.h). Not a name the topology may use.
 */
#define PGC_DATADOG_EXPLAIN_ROLE "pgconverge_explain"

/* clusters.<name> */
typedef struct PgcCluster {
	const char *name;
	PgcPos pos;

	PgcInt pg_version;        /* postgres.version; default 15 */
	PgcStr bin_dir;           /* postgres.bin_dir; default /usr/lib/postgresql/<version>/bin */
	PgcStr os_user;           /* default postgres; a name, written into pg_hba.conf/pg_ident.conf */
	PgcStr primary;           /* required with more than one node; default: the only node */
	PgcStr standby_of;        /* a standby cluster of this declared cluster (validate_standby.c) */
	/* The clusters declared `standby_of` this one, filled by the loader once
	 * the file is valid: pointers into the same topology, which copies of
	 * the struct keep (the HA flows' front door, standby/standby_follow.h). */
	const struct PgcCluster *const *standbys;
	size_t n_standbys;

	PgcNode *nodes;
	size_t n_nodes;
	PgcPos nodes_pos;

	struct {
		PgcPos pos;
		bool set;             /* written in the file */
		PgcStr locale;        /* default C.UTF-8 */
		PgcStr encoding;      /* default UTF8 */
		PgcBool data_checksums; /* default true */
	} initdb;

	PgcSettings settings;

	PgcHbaRule *hba;
	size_t n_hba;
	PgcPos hba_pos;

	PgcRole *roles;
	size_t n_roles;
	PgcDatabase *databases;
	size_t n_databases;

	PgcReplication replication;

	struct {
		PgcInt min;           /* default 1 */
		PgcPos pos;
		bool set;
	} regions;

	PgcFailover failover;
	PgcMaintenance maintenance;
	PgcBackup backup;
	PgcPgbouncer pgbouncer;   /* pooler.pgbouncer */
	PgcPos pooler_pos;
	PgcHaproxy haproxy;       /* balancer.haproxy */
	PgcPgpool pgpool;         /* balancer.pgpool */
	PgcPos balancer_pos;

	PgcMonitoring monitoring;

	PgcBootstrap bootstrap;

	/*
	 * Set only in the planner's live copy of a cluster (reconcile/standby/),
	 * never by the loader. standby_upstream: the node of another cluster the
	 * primary of a standby cluster streams from (the source's live primary),
	 * standby_upstream_ref its "CLUSTER/NODE" for plans, standby_slot the
	 * physical slot it streams through. kept_slots: on a source cluster, the
	 * slots its standby clusters stream through, kept on its primary.
	 */
	const PgcNode *standby_upstream;
	const char *standby_upstream_ref;
	const char *standby_slot;
	const char **kept_slots;
	size_t n_kept_slots;
	const char **standby_hosts; /* the hosts of its standby clusters' nodes (pg_hba.conf) */
	size_t n_standby_hosts;
	/* The slots pgc_standby_<Y> of the file's other clusters Y that are no
	 * standby clusters of it (any more: detached, or moved) and whose
	 * primary was seen not streaming from it: dropped once unused,
	 * wherever they are. */
	const char **released_slots;
	size_t n_released_slots;
	/* On a standby cluster: the repository its nodes' restore_command fetches
	 * WAL from (its chain's root's archive), NULL for none
	 * (reconcile/standby/standby_archive.h). */
	const char *standby_archive;

	/* Absolute path of the pgconverge binary that archive_command and
	 * restore_command call (PgcLoadOptions.tool_path; "pgconverge" when not given). */
	const char *tool_path;
} PgcCluster;

/*
 * coordination: {etcd: {endpoints, prefix, ttl, user, password, ca_file,
 *                       cert_file, key_file}}
 * One agent per host (`reconcile --as HOST`), coordinated through etcd v3
 * (reconcile/coord/). Absent: one pgconverge manages every node it reaches.
 */
typedef struct {
	PgcPos pos;
	bool set;
	PgcStrList endpoints;     /* required: http://HOST:PORT or https://HOST:PORT, no path */
	PgcStr prefix;            /* default /pgconverge; starts with "/", no trailing "/" */
	PgcDuration ttl;          /* the agents' lease; default 10s, 2s..60s */
	PgcStr user;              /* etcd authentication; with password */
	PgcSecret password;       /* required with user */
	PgcStr ca_file;           /* absolute; TLS: the CA that signed the endpoints' certificates */
	PgcStr cert_file;         /* absolute; TLS client certificate, with key_file */
	PgcStr key_file;          /* absolute */
} PgcEtcd;

typedef struct {
	PgcArena *arena;
	const char *file;         /* display path, as given */
	const char *base_dir;     /* absolute folder relative paths resolve against */
	PgcInt version;           /* must be 1 */
	PgcCluster *clusters;
	size_t n_clusters;
	PgcEtcd etcd;             /* coordination.etcd */
	PgcPos coordination_pos;
} PgcTopology;

typedef struct {
	/* Folder relative paths resolve against; NULL: the file's folder. Git
	 * sources pass the checkout-less tree's notional folder. */
	const char *base_dir;
	/* Skip checks that look at the local machine (secret file modes,
	 * parameter catalog version presence is still checked). */
	bool offline;
	/* The pgconverge binary the servers should call (archive_command). */
	const char *tool_path;
} PgcLoadOptions;

/*
 * topology_load_file - reads and validates a topology file (schema/load.c). Problems go to
 * diags (all of them, sorted by position). Returns the topology, or NULL
 * when the file could not be read or parsed at all; a non-NULL result may
 * still carry errors in diags: callers must check diag_count(DIAG_ERROR)
 * before using it. Free with topology_free().
 */
PgcTopology *topology_load_file(const char *path, const PgcLoadOptions *opts, PgcDiagList *diags);

/* topology_load_buffer - same, from memory; display_name names it in messages. */
PgcTopology *topology_load_buffer(const char *buf, size_t len, const char *display_name,
				  const PgcLoadOptions *opts, PgcDiagList *diags);

/* topology_free - releases the topology and everything in its arena (schema/topology.c). */
void topology_free(PgcTopology *t);

/* Lookups (schema/topology.c); NULL when absent. */
PgcCluster *topology_cluster(const PgcTopology *t, const char *name);
PgcNode *cluster_node(const PgcCluster *c, const char *name);
/* cluster_upstream - the node n replicates from (NULL for the primary; for
 * the primary of a standby cluster's live copy, the source's primary). */
PgcNode *cluster_upstream(const PgcCluster *c, const PgcNode *n);
/* topology_node_ref - a node named "NODE" in c, or "CLUSTER/NODE" in t. */
PgcNode *topology_node_ref(const PgcTopology *t, const PgcCluster *c, const char *ref);
/*
 * topology_roles_view - c as its servers hold roles and databases: c itself,
 * or, for a standby cluster (standby_of), a copy in a with the roles and
 * databases of the root of its chain, whose catalog it replays (c when the
 * chain is broken). What the front doors derive from roles (PgBouncer's
 * userlist, Pgpool-II's pool_passwd) is built from it.
 */
const PgcCluster *topology_roles_view(PgcArena *a, const PgcTopology *t, const PgcCluster *c);
/* node_setting - the effective value of a parameter on a node, or NULL. */
const PgcSetting *node_setting(const PgcNode *n, const char *name);

#endif
