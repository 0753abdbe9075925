/*
 * reconcile/haproxy/haproxy_frontdoor.c - HAProxy as a front door: what a
 * switchover or failover tells it (haproxy.h, engine/frontdoor.h).
 */
#include "reconcile/haproxy/haproxy.h"

#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "reconcile/haproxy/haproxy_conf.h"
#include "reconcile/observe/observe_haproxy.h"
#include "reconcile/transport/host.h"

bool haproxy_declared(const PgcCluster *c)
{
	return c->haproxy.set;
}

/* runtime - the servers' states as HAProxy has them now into o; -1 when it does not answer. */
static int runtime(PgcArena *a, PgcHost *h, const PgcCluster *c, PgcObsHaproxy *o)
{
	char *out = NULL, err[256];
	int rc;

	memset(o, 0, sizeof *o);
	if (observe_haproxy_cli(h, haproxy_path(a, c, HAPROXY_SOCK_NAME), "show servers state",
				HAPROXY_CLI_TIMEOUT_MS, &out, err, sizeof err) != 0) {
		log_info("HAProxy of cluster \"%s\" does not answer (%s): nothing to tell it now",
			 c->name, err);
		return -1;
	}
	rc = observe_haproxy_parse_servers(a, out, o);
	free(out);
	return rc;
}

/* send_moves - the commands of each move, in order; -1 at the first refused. */
static int send_moves(PgcArena *a, PgcHost *h, const PgcCluster *c, const PgcHaproxyMove *m,
		      size_t n)
{
	for (size_t i = 0; i < n; i++) {
		const char *cmds[2];
		size_t k = haproxy_move_commands(a, &m[i], cmds);

		for (size_t j = 0; j < k; j++) {
			if (haproxy_send(h, c, cmds[j]) != 0)
				return -1;
			log_info("HAProxy of cluster \"%s\": %s", c->name, cmds[j]);
		}
	}
	return 0;
}

int haproxy_pause(const PgcCluster *c, const char *from, const char *to)
{
	PgcArena *a = arena_new();
	PgcHost *h = host_for(haproxy_host_name(c), c->os_user.v);
	PgcHaproxyMove m = {HAPROXY_WRITE_BACKEND, from, false};
	PgcObsHaproxy o;
	int rc = 0;

	(void)to;
	if (h == NULL) {
		log_error("cannot hold HAProxy's writes to \"%s\": its host \"%s\" is not this machine",
			  from, haproxy_host_name(c));
		rc = -1;
	} else if (runtime(a, h, c, &o) == 0) {
		rc = send_moves(a, h, c, &m, 1);
	}
	host_free(h);
	arena_free(a);
	return rc;
}

int haproxy_repoint(const PgcCluster *x, const char *from, const char *to)
{
	PgcArena *a = arena_new();
	PgcHost *h = host_for(haproxy_host_name(x), x->os_user.v);
	PgcHaproxyWant w;
	PgcHaproxyMove *m;
	PgcObsHaproxy o;
	bool answers;
	size_t n;
	int rc = -1;

	if (h == NULL) {
		log_error("cannot point HAProxy of cluster \"%s\" at \"%s\": its host \"%s\" is not "
			  "this machine", x->name, to, haproxy_host_name(x));
		goto cleanup;
	}
	answers = runtime(a, h, x, &o) == 0;
	haproxy_want_runtime(a, x, to, from, answers ? &o : NULL, &w);
	/* The file first: a HAProxy (re)started from now on sends writes to `to`. */
	if (haproxy_dir_problem(a, x) == NULL &&
	    haproxy_write_cfg(h, x, haproxy_render(a, x, &w)) != 0)
		goto cleanup;
	if (answers) {
		n = haproxy_moves(a, x, &w, &o, &m);
		if (send_moves(a, h, x, m, n) != 0)
			goto cleanup;
		log_info("HAProxy of cluster \"%s\" sends writes to \"%s\"", x->name, to);
	}
	rc = 0;
cleanup:
	host_free(h);
	arena_free(a);
	return rc;
}

int haproxy_resume(const PgcCluster *c, const char *from)
{
	PgcArena *a = arena_new();
	PgcHost *h = host_for(haproxy_host_name(c), c->os_user.v);
	PgcHaproxyMove m = {HAPROXY_WRITE_BACKEND, from, true};
	PgcObsHaproxy o;
	int rc = -1;

	if (h != NULL) {
		rc = 0;
		if (runtime(a, h, c, &o) == 0)
			rc = send_moves(a, h, c, &m, 1);
	}
	host_free(h);
	arena_free(a);
	return rc;
}
