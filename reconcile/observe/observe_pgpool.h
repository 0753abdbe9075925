/*
 * reconcile/observe/observe_pgpool.h - what is live of a cluster's
 * Pgpool-II (balancer.pgpool): its files in balancer.pgpool.dir, its
 * process, and the backends as it sees them (`SHOW pool_nodes`).
 *
 * Pgpool-II runs on the machine of the cluster's first node (where its dir
 * is by default); it is looked at only when that machine is this one.
 *
 * The files (all in dir, owned by the os_user, 0600):
 *   pgpool.conf    rendered by reconcile/pgpool/pgpool_conf.c
 *   pool_hba.conf  the same
 *   pool_passwd    "role:AES<base64>" for every declared login role with a
 *                  password: Pgpool-II needs the clear password to answer a
 *                  scram-sha-256 backend, so it keeps it encrypted with the
 *                  key in pgpool.key (pgpool_passwd_render() below)
 *   pgpool.key     the AES key, random, written once
 *   pcp.conf       "pgconverge:<md5 of the PCP password>"
 *   pcppass        the PCP password in PCPPASSFILE format, for pcp_* commands
 *   pgpool.pid, pgpool.log, pgpool_status, the unix sockets
 *
 * Memory: the observation's arena. Secrets are resolved to compare and to
 * log in, then wiped; none is kept.
 */
#ifndef PGC_RECONCILE_OBSERVE_OBSERVE_PGPOOL_H
#define PGC_RECONCILE_OBSERVE_OBSERVE_PGPOOL_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "common/arena.h"
#include "reconcile/observe/observe_model.h"
#include "schema/topology.h"

#define PGPOOL_CONF_FILE "pgpool.conf"
#define PGPOOL_HBA_FILE "pool_hba.conf"
#define PGPOOL_PASSWD_FILE "pool_passwd"
#define PGPOOL_KEY_FILE "pgpool.key"
#define PGPOOL_PCP_FILE "pcp.conf"
#define PGPOOL_PCPPASS_FILE "pcppass"
#define PGPOOL_PID_FILE "pgpool.pid"
#define PGPOOL_LOG_FILE "pgpool.log"
/* Where Debian's pgpool2 package puts pgpool and the pcp_* commands. */
#define PGPOOL_BIN_DIR "/usr/sbin"
/* The PCP user pgconverge's pcp_* commands log in as. */
#define PGPOOL_PCP_USER "pgconverge"

/* One `SHOW pool_nodes` row. */
typedef struct {
	int id;                   /* backend number: the node's index in the topology */
	const char *host;
	int port;
	const char *status;       /* up | waiting | down | unused */
	const char *role;         /* primary | standby */
	double lb_weight;
	long long delay;          /* replication_delay in bytes, -1 unknown */
} PgcObsPgpoolNode;

struct PgcObsPgpool {
	bool looked;              /* its folder was read (its machine is this one) */
	const char *conf;         /* pgpool.conf as on disk, NULL when absent */
	const char *conf_digest;  /* sha256 hex of conf, NULL when absent */
	const char *hba;          /* pool_hba.conf, NULL when absent */
	bool pcp_ok;              /* pcp.conf and pcppass are there */
	int passwd_ok;            /* pool_passwd holds every declared password under the
	                           * key: 1 yes, 0 no (or no key yet), -1 cannot tell (a
	                           * secret is not on this host) */
	long pid;                 /* from pgpool.pid, 0 none */
	bool alive;               /* that pid is a live pgpool process */
	bool reachable;           /* its backends are known: SHOW pool_nodes answered, or
	                           * else pcp_node_info did (no weight or delay then) */
	const char *error;        /* why SHOW pool_nodes failed, when alive */
	PgcObsPgpoolNode *nodes;  /* its rows, by id */
	size_t n_nodes;
};

/*
 * observe_pgpool - fills oc->pgpool for cluster c (nothing when c has no
 * balancer.pgpool). Bounded by the connect and query timeouts; never fails
 * (what it could not see stays unknown, and error says why).
 */
void observe_pgpool(PgcArena *a, const PgcCluster *c, PgcObsCluster *oc, int connect_timeout_s,
		    int query_timeout_ms);

/* observe_pgpool_file - dir/name of c's Pgpool-II, in a. */
const char *observe_pgpool_file(PgcArena *a, const PgcCluster *c, const char *name);

/*
 * observe_pgpool_user - the role Pgpool-II's streaming-replication check
 * (and pgconverge's own `SHOW pool_nodes`) logs in as: the first declared
 * role that logs in with a password, a superuser one first. NULL when the
 * cluster declares none (the check then cannot log in).
 */
const PgcRole *observe_pgpool_user(const PgcCluster *c);

/*
 * observe_pgpool_parse_node_info - the status number (0 init, 1 up without
 * a session yet, 2 up, 3 down) and role of `pcp_node_info` output
 * ("host port status weight status_name backend_status role ..."); false
 * when it is not that.
 */
bool observe_pgpool_parse_node_info(const char *text, int *status, bool *primary);

/*
 * observe_pgpool_primary - the node (of c) that pp shows as its attached
 * primary; NULL when none (or pp is NULL or did not answer).
 */
const char *observe_pgpool_primary(const PgcCluster *c, const PgcObsPgpool *pp);

/*
 * observe_pgpool_attached - true when pp shows node index i attached (up or
 * waiting).
 */
bool observe_pgpool_attached(const PgcObsPgpool *pp, size_t i);

/*
 * observe_pgpool_json - pp for `status --format json`: {up, port, pcp_port,
 * primary, error, backends: [{node, status, role, lb_weight,
 * replication_delay}]}. A new reference.
 */
json_t *observe_pgpool_json(const PgcCluster *c, const PgcObsPgpool *pp);

/*
 * pgpool_passwd_render - pool_passwd's content for c under key: one line
 * "role:AES<base64>" per declared login role with a password, in the order
 * of the file (AES-256-CBC, key and iv from EVP_BytesToKey(sha1, no salt,
 * one round) as pg_enc does: the same input gives the same line). malloc'd
 * into *out, release with secret_free(). 0; 1 when a secret is not on this
 * host; -1 when one is refused or encryption failed (err says which, never
 * a value).
 */
int pgpool_passwd_render(const PgcCluster *c, const char *key, char **out, char *err,
			 size_t errlen);

#endif
