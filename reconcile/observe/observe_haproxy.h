/*
 * reconcile/observe/observe_haproxy.h - what the cluster's HAProxy
 * (balancer.haproxy) is doing: its master process, the configuration it
 * loaded, and each server's state per backend as its runtime API tells.
 *
 * HAProxy runs on the host of the cluster's first node, with its files in
 * balancer.haproxy.dir (haproxy.cfg, haproxy.pid, haproxy.sock: the names
 * below). Its runtime API is the stats socket there (level admin, mode
 * 0600, owned by the os_user). observe_haproxy_cli() is the one way
 * pgconverge talks to it, for this probe and for reconcile/haproxy/.
 *
 * Memory: the observed model's arena.
 */
#ifndef PGC_RECONCILE_OBSERVE_OBSERVE_HAPROXY_H
#define PGC_RECONCILE_OBSERVE_OBSERVE_HAPROXY_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "common/arena.h"
#include "reconcile/observe/observe_model.h"
#include "reconcile/transport/host.h"
#include "schema/topology.h"

#define HAPROXY_CFG_NAME "haproxy.cfg"
#define HAPROXY_PID_NAME "haproxy.pid"
#define HAPROXY_SOCK_NAME "haproxy.sock"
/* `description` in haproxy.cfg: this word, a space, the structural digest. */
#define HAPROXY_DIGEST_TAG "pgconverge"
/* The listeners haproxy.cfg declares (reconcile/haproxy/haproxy_conf.h). */
#define HAPROXY_WRITE_BACKEND "pg_write"
#define HAPROXY_READ_BACKEND "pg_read"
/* The pg_read backup server of a node: "<node>:primary" (':' is in no node name). */
#define HAPROXY_BACKUP_SUFFIX ":primary"
/* How long one runtime API command may take. */
#define HAPROXY_CLI_TIMEOUT_MS 2000

/* One server of one backend, as `show servers state` and `show stat` give it. */
typedef struct {
	const char *backend;      /* "pg_write", "pg_read" */
	const char *server;       /* node name, or "<node>:primary" (pg_read's backup) */
	bool maint;               /* in maintenance (forced, inherited or from `disabled`): no traffic */
	bool up;                  /* its health check passes (srv_op_state 2) */
	int sessions;             /* current sessions (scur); -1 unknown */
} PgcObsHaproxyServer;

struct PgcObsHaproxy {
	bool looked;              /* its host is this machine and it was looked at */
	const char *error;        /* why not looked at, or NULL */
	const char *cfg;          /* haproxy.cfg's content; NULL when absent */
	long pid;                 /* the master's pid from haproxy.pid; 0 none */
	bool alive;               /* that pid is a live haproxy process */
	bool api;                 /* the runtime API answered `show info` */
	const char *api_error;    /* why not, when alive */
	long worker_pid;          /* `show info` Pid: the worker serving now */
	const char *digest;       /* the structural digest in the loaded description; NULL none */
	long sessions;            /* CurrConns; -1 unknown */
	double uptime_s;          /* the worker's Uptime_sec; -1 unknown */
	PgcObsHaproxyServer *servers;
	size_t n_servers;
};

/* haproxy_host_name - the host HAProxy runs on: the cluster's first node's. */
const char *haproxy_host_name(const PgcCluster *c);

/* haproxy_path - dir/name in a. */
const char *haproxy_path(PgcArena *a, const PgcCluster *c, const char *name);

/*
 * observe_haproxy - c's HAProxy, looked at through its host (NULL unless
 * the cluster declares balancer.haproxy). Never fails: what could not be
 * seen is said in error / api_error.
 */
PgcObsHaproxy *observe_haproxy(PgcArena *a, const PgcCluster *c);

/*
 * observe_haproxy_cli - sends one command line to the runtime API socket
 * sock and returns its answer in *out (malloc'd, caller frees). The peer
 * must run as h's os_user (SO_PEERCRED): the socket's folder belongs to that
 * account, and a link put in place of the socket must not lead root's
 * commands to another daemon. 0, or -1 with why in err (nothing logged).
 */
int observe_haproxy_cli(PgcHost *h, const char *sock, const char *cmd, int timeout_ms, char **out,
			char *err, size_t errlen);

/* observe_haproxy_parse_info - Pid, description digest, CurrConns, Uptime_sec from `show info`. */
void observe_haproxy_parse_info(PgcArena *a, const char *text, PgcObsHaproxy *o);
/* observe_haproxy_parse_servers - o->servers from `show servers state`; -1 when not that format. */
int observe_haproxy_parse_servers(PgcArena *a, const char *text, PgcObsHaproxy *o);
/* observe_haproxy_parse_stat - the scur of o's servers from `show stat` (CSV). */
void observe_haproxy_parse_stat(const char *text, PgcObsHaproxy *o);
/* observe_haproxy_digest_of - the digest in a haproxy.cfg's description line, in a; NULL none. */
const char *observe_haproxy_digest_of(PgcArena *a, const char *cfg);

/* observe_haproxy_server - the server srv of backend be, or NULL. */
const PgcObsHaproxyServer *observe_haproxy_server(const PgcObsHaproxy *o, const char *be,
						  const char *srv);

/* observe_haproxy_json - the observed HAProxy as JSON (status --format json); new reference. */
json_t *observe_haproxy_json(const PgcObsHaproxy *o);

#endif
