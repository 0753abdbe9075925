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

/* The largest haproxy.cfg file_states() reads (the rendered one is a few KB). */
#define CFG_MAX_BYTES (1024 * 1024)

bool haproxy_declared(const PgcCluster *c)
{
	return c->haproxy.set;
}

/* runtime - the servers' states as HAProxy has them now into o; -1 with why in err when it does not answer. */
static int runtime(PgcArena *a, PgcHost *h, const PgcCluster *c, PgcObsHaproxy *o, char *err,
		   size_t errlen)
{
	char *out = NULL;
	int rc;

	memset(o, 0, sizeof *o);
	if (observe_haproxy_cli(h, haproxy_path(a, c, HAPROXY_SOCK_NAME), "show servers state",
				HAPROXY_CLI_TIMEOUT_MS, &out, err, errlen) != 0)
		return -1;
	rc = observe_haproxy_parse_servers(a, out, o);
	free(out);
	if (rc != 0)
		snprintf(err, errlen, "`show servers state` answered in a format this version does "
			 "not read");
	return rc;
}

/*
 * file_states - the server states haproxy.cfg on h gives (a `disabled`
 * server: maint) into o, as runtime() would; -1 when there is no file.
 * Used instead of runtime() when the API does not answer, so that a rewrite
 * keeps the reads the last pass gave.
 */
static int file_states(PgcArena *a, PgcHost *h, const PgcCluster *c, PgcObsHaproxy *o)
{
	char *buf = NULL, *save = NULL, *line;
	const char *be = NULL;
	size_t len = 0, cap = 0;

	memset(o, 0, sizeof *o);
	if (host_read_file(h, haproxy_path(a, c, HAPROXY_CFG_NAME), &buf, &len, CFG_MAX_BYTES) != 0)
		return -1;
	buf = realloc(buf, len + 1);
	if (buf == NULL)
		abort();
	buf[len] = '\0';
	for (line = strtok_r(buf, "\n", &save); line != NULL; line = strtok_r(NULL, "\n", &save)) {
		char name[256];
		size_t n = strlen(line);
		PgcObsHaproxyServer *s;

		if (sscanf(line, "listen %255s", name) == 1) {
			be = arena_strdup(a, name);
			continue;
		}
		if (be == NULL || sscanf(line, " server %255s", name) != 1)
			continue;
		o->servers = arena_grow(a, o->servers, o->n_servers, &cap, 8, sizeof *o->servers);
		s = &o->servers[o->n_servers++];
		s->backend = be;
		s->server = arena_strdup(a, name);
		s->maint = n >= 9 && strcmp(line + n - 9, " disabled") == 0;
		s->sessions = -1;
	}
	free(buf);
	return 0;
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

/*
 * write_and_reload - the API of c's live HAProxy (master pid `master`) does
 * not answer: haproxy.cfg with primary as the writer (the reads as the
 * file has them, `leaving` out of them), then a graceful reload, whose new
 * worker loads those states. A file that cannot be written is not reloaded:
 * the old one may name another writer. 0, or -1 reported.
 */
static int write_and_reload(PgcArena *a, PgcHost *h, const PgcCluster *c, long master,
			    const char *primary, const char *leaving, int timeout_s)
{
	PgcObsHaproxy f;
	PgcHaproxyWant w;
	const char *problem = haproxy_dir_problem(a, c);

	haproxy_want_runtime(a, c, primary, leaving, file_states(a, h, c, &f) == 0 ? &f : NULL, &w);
	if (problem != NULL || haproxy_write_cfg(h, c, haproxy_render(a, c, &w)) != 0) {
		log_error("HAProxy of cluster \"%s\" is not reloaded: haproxy.cfg could not be "
			  "written%s%s, and the running HAProxy would load the old one", c->name,
			  problem != NULL ? ": " : "", problem != NULL ? problem : "");
		return -1;
	}
	if (haproxy_reload_wait(h, c, master, haproxy_digest(a, c), timeout_s) != 0)
		return -1;
	log_info("HAProxy of cluster \"%s\" reloaded: it sends writes to \"%s\"", c->name, primary);
	return 0;
}

int haproxy_pause_on(PgcHost *h, const PgcCluster *c, const char *from)
{
	PgcArena *a = arena_new();
	PgcHaproxyMove m = {HAPROXY_WRITE_BACKEND, from, false};
	PgcObsHaproxy o;
	char err[256];
	long master;
	int rc = 0;

	if (runtime(a, h, c, &o, err, sizeof err) == 0) {
		rc = send_moves(a, h, c, &m, 1);
	} else if ((master = haproxy_master(h, c)) != 0) {
		/* It keeps sending writes to `from` whatever we do next: `from` would
		 * stop under its clients, and after the switchover HAProxy would still
		 * send writes to it, a replica once it rejoins. */
		log_error("cannot hold HAProxy's writes to \"%s\": HAProxy of cluster \"%s\" runs "
			  "(master pid %ld) but its runtime API does not answer (%s)",
			  from, c->name, master, err);
		rc = -1;
	} else {
		log_info("HAProxy of cluster \"%s\" does not run (%s): nothing to hold", c->name, err);
	}
	arena_free(a);
	return rc;
}

int haproxy_repoint_on(PgcHost *h, const PgcCluster *x, const char *from, const char *to,
		       int reload_timeout_s)
{
	PgcArena *a = arena_new();
	const char *problem = haproxy_dir_problem(a, x);
	PgcHaproxyWant w;
	PgcHaproxyMove *m;
	PgcObsHaproxy o;
	char err[256];
	long master;
	size_t n;
	int rc = 0;

	if (runtime(a, h, x, &o, err, sizeof err) == 0) {
		haproxy_want_runtime(a, x, to, from, &o, &w);
		/* The file first: a HAProxy (re)started from now on sends writes to
		 * `to`. When it cannot be written, the running HAProxy is still told:
		 * otherwise `from` stays in maintenance and `to` disabled, no writer. */
		if (problem != NULL) {
			log_error("cannot write haproxy.cfg of cluster \"%s\": %s", x->name, problem);
			rc = -1;
		} else if (haproxy_write_cfg(h, x, haproxy_render(a, x, &w)) != 0) {
			log_error("cannot write haproxy.cfg of cluster \"%s\": a restart of HAProxy "
				  "would load the old writer until the next pass", x->name);
			rc = -1;
		}
		n = haproxy_moves(a, x, &w, &o, &m);
		if (send_moves(a, h, x, m, n) != 0)
			rc = -1;
		else
			log_info("HAProxy of cluster \"%s\" sends writes to \"%s\"", x->name, to);
	} else if ((master = haproxy_master(h, x)) != 0) {
		log_warn("HAProxy of cluster \"%s\" runs (master pid %ld) but its runtime API does not "
			 "answer (%s): rewriting haproxy.cfg and reloading it", x->name, master, err);
		rc = write_and_reload(a, h, x, master, to, from, reload_timeout_s);
	} else {
		/* Not running: the file is what the next start loads. */
		log_info("HAProxy of cluster \"%s\" does not run (%s): only haproxy.cfg is rewritten",
			 x->name, err);
		haproxy_want_runtime(a, x, to, from, file_states(a, h, x, &o) == 0 ? &o : NULL, &w);
		if (problem != NULL || haproxy_write_cfg(h, x, haproxy_render(a, x, &w)) != 0) {
			log_error("cannot write haproxy.cfg of cluster \"%s\"%s%s", x->name,
				  problem != NULL ? ": " : "", problem != NULL ? problem : "");
			rc = -1;
		}
	}
	arena_free(a);
	return rc;
}

int haproxy_resume_on(PgcHost *h, const PgcCluster *c, const char *from, int reload_timeout_s)
{
	PgcArena *a = arena_new();
	PgcHaproxyMove m = {HAPROXY_WRITE_BACKEND, from, true};
	PgcObsHaproxy o;
	char err[256];
	long master;
	int rc = 0;

	if (runtime(a, h, c, &o, err, sizeof err) == 0) {
		rc = send_moves(a, h, c, &m, 1);
	} else if ((master = haproxy_master(h, c)) != 0) {
		/* pause may have put `from` in maintenance before the API fell silent:
		 * the file names it the writer, and the reload loads that. */
		log_warn("HAProxy of cluster \"%s\" runs (master pid %ld) but its runtime API does not "
			 "answer (%s): rewriting haproxy.cfg and reloading it", c->name, master, err);
		rc = write_and_reload(a, h, c, master, from, NULL, reload_timeout_s);
	}
	arena_free(a);
	return rc;
}

int haproxy_pause(const PgcCluster *c, const char *from, const char *to)
{
	PgcHost *h = host_for(haproxy_host_name(c), c->os_user.v);
	int rc;

	(void)to;
	if (h == NULL) {
		log_error("cannot hold HAProxy's writes to \"%s\": its host \"%s\" is not this machine",
			  from, haproxy_host_name(c));
		return -1;
	}
	rc = haproxy_pause_on(h, c, from);
	host_free(h);
	return rc;
}

int haproxy_repoint(const PgcCluster *x, const char *from, const char *to)
{
	PgcHost *h = host_for(haproxy_host_name(x), x->os_user.v);
	int rc;

	if (h == NULL) {
		log_error("cannot point HAProxy of cluster \"%s\" at \"%s\": its host \"%s\" is not "
			  "this machine", x->name, to, haproxy_host_name(x));
		return -1;
	}
	rc = haproxy_repoint_on(h, x, from, to, HAPROXY_HOOK_RELOAD_TIMEOUT_S);
	host_free(h);
	return rc;
}

int haproxy_resume(const PgcCluster *c, const char *from)
{
	PgcHost *h = host_for(haproxy_host_name(c), c->os_user.v);
	int rc;

	if (h == NULL)
		return -1;
	rc = haproxy_resume_on(h, c, from, HAPROXY_HOOK_RELOAD_TIMEOUT_S);
	host_free(h);
	return rc;
}
