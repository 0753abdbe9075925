/*
 * reconcile/haproxy/haproxy_status.c - HAProxy in `status` (haproxy_status.h).
 */
#include "reconcile/haproxy/haproxy_status.h"

#include <string.h>

#include "common/arena.h"
#include "common/strutil.h"
#include "reconcile/haproxy/haproxy_conf.h"

/* targets - the ready servers of backend be ("pg1 [3 sessions]", ...); backup ones or not. */
static const char *targets(PgcArena *a, const PgcObsHaproxy *oh, const char *be, bool backup)
{
	const char *s = NULL;

	for (size_t i = 0; oh != NULL && i < oh->n_servers; i++) {
		const PgcObsHaproxyServer *v = &oh->servers[i];
		const char *suffix = strstr(v->server, HAPROXY_BACKUP_SUFFIX);
		const char *one;

		if (v->maint || strcmp(v->backend, be) != 0 || (suffix != NULL) != backup)
			continue;
		one = suffix ? arena_strndup(a, v->server, (size_t)(suffix - v->server)) : v->server;
		if (!v->up)
			one = arena_printf(a, "%s (check down)", one);
		else if (v->sessions > 0)
			one = arena_printf(a, "%s (%d session%s)", one, v->sessions,
					   v->sessions == 1 ? "" : "s");
		s = s == NULL ? one : arena_printf(a, "%s, %s", s, one);
	}
	return s;
}

void haproxy_status_text(FILE *out, const PgcCluster *c, const PgcObsHaproxy *oh)
{
	PgcArena *a;
	const PgcHaproxy *h = &c->haproxy;
	const char *state, *w, *r, *b;

	if (!h->set)
		return;
	a = arena_new();
	if (oh == NULL || !oh->looked)
		state = arena_printf(a, "not looked at%s%s", oh && oh->error ? ": " : "",
				     oh && oh->error ? oh->error : "");
	else if (!oh->alive)
		state = "DOWN (the next pass starts it)";
	else if (!oh->api)
		state = arena_printf(a, "up (master pid %ld), runtime API silent: %s", oh->pid,
				     oh->api_error ? oh->api_error : "?");
	else
		state = arena_printf(a, "up (master pid %ld, worker %ld), %ld session%s, configuration %s%s",
				     oh->pid, oh->worker_pid, oh->sessions, oh->sessions == 1 ? "" : "s",
				     oh->digest ? oh->digest : "unknown",
				     oh->digest && strcmp(oh->digest, haproxy_digest(a, c)) == 0
					 ? ""
					 : " (not the rendered one: reload pending)");
	str_fprintf_line(out, "  %-10s %s\n", "haproxy", state);
	if (oh != NULL && oh->api) {
		w = targets(a, oh, HAPROXY_WRITE_BACKEND, false);
		r = targets(a, oh, HAPROXY_READ_BACKEND, false);
		b = targets(a, oh, HAPROXY_READ_BACKEND, true);
	} else {
		w = r = b = "-";
	}
	str_fprintf_line(out, "  %-10s write %s:%lld -> %s\n", "", h->listen_address.v, h->write_port.v,
			 w ? w : "nobody");
	if (h->read_port.set)
		str_fprintf_line(out, "  %-10s read  %s:%lld -> %s%s%s\n", "", h->listen_address.v,
				 h->read_port.v, r ? r : "no replica", b ? "; backup " : "", b ? b : "");
	if (h->stats_port.set)
		str_fprintf_line(out, "  %-10s stats http://%s:%lld/\n", "", h->listen_address.v,
				 h->stats_port.v);
	arena_free(a);
}

/* targets_json - the ready servers of backend be as [{node, up, sessions}]. */
static json_t *targets_json(const PgcObsHaproxy *oh, const char *be, bool backup)
{
	json_t *arr = json_array();

	for (size_t i = 0; oh != NULL && i < oh->n_servers; i++) {
		const PgcObsHaproxyServer *v = &oh->servers[i];
		const char *suffix = strstr(v->server, HAPROXY_BACKUP_SUFFIX);

		if (v->maint || strcmp(v->backend, be) != 0 || (suffix != NULL) != backup)
			continue;
		json_array_append_new(arr, json_pack("{s:s% s:b s:i}", "node", v->server,
						     suffix ? (size_t)(suffix - v->server)
							    : strlen(v->server),
						     "up", v->up, "sessions", v->sessions));
	}
	return arr;
}

static json_t *port_json(const PgcHaproxy *h, const PgcInt *port)
{
	return json_pack("{s:s s:I}", "address", h->listen_address.v, "port", (json_int_t)port->v);
}

json_t *haproxy_status_json(const PgcCluster *c, const PgcObsHaproxy *oh)
{
	PgcArena *a;
	json_t *j, *w, *r;
	bool api = oh != NULL && oh->api;

	if (!c->haproxy.set)
		return NULL;
	a = arena_new();
	j = json_object();
	json_object_set_new(j, "up", json_boolean(oh != NULL && oh->alive));
	json_object_set_new(j, "digest_rendered", json_string(haproxy_digest(a, c)));
	w = port_json(&c->haproxy, &c->haproxy.write_port);
	json_object_set_new(w, "to", api ? targets_json(oh, HAPROXY_WRITE_BACKEND, false) : json_null());
	json_object_set_new(j, "write", w);
	if (c->haproxy.read_port.set) {
		r = port_json(&c->haproxy, &c->haproxy.read_port);
		json_object_set_new(r, "to", api ? targets_json(oh, HAPROXY_READ_BACKEND, false) : json_null());
		json_object_set_new(r, "backup",
				    api ? targets_json(oh, HAPROXY_READ_BACKEND, true) : json_null());
		json_object_set_new(j, "read", r);
	}
	if (c->haproxy.stats_port.set)
		json_object_set_new(j, "stats", port_json(&c->haproxy, &c->haproxy.stats_port));
	arena_free(a);
	return j;
}
