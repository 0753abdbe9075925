/*
 * reconcile/coord/coord_status.c - the coordination state for `status`
 * (coord_status.h).
 */
#include "reconcile/coord/coord_status.h"

#include <string.h>

#include "common/strutil.h"
#include "reconcile/engine/secret.h"

/* How long status waits for etcd: it only reads, and must not hang when etcd is gone. */
#define STATUS_ETCD_TIMEOUT_MS 2000

/* iso_age - seconds from an ISO 8601 UTC time (milliseconds optional) to now; -1 unknown. */
static double iso_age(const char *iso, time_t now)
{
	struct tm tm;
	const char *end;
	double frac = 0;

	if (iso == NULL)
		return -1;
	memset(&tm, 0, sizeof(tm));
	end = strptime(iso, "%Y-%m-%dT%H:%M:%S", &tm);
	if (end == NULL)
		return -1;
	if (*end == '.') {
		double scale = 0.1;

		for (end++; *end >= '0' && *end <= '9'; end++, scale /= 10)
			frac += (*end - '0') * scale;
	}
	if (strcmp(end, "Z") != 0)
		return -1;
	return difftime(now, timegm(&tm)) - frac;
}

static const char *jstr(PgcArena *a, const json_t *o, const char *key)
{
	const json_t *v = json_object_get(o, key);

	return json_is_string(v) ? arena_strdup(a, json_string_value(v)) : NULL;
}

static long long jint(const json_t *o, const char *key, long long dflt)
{
	const json_t *v = json_object_get(o, key);

	return json_is_integer(v) ? (long long)json_integer_value(v) : dflt;
}

/* parse_object - a value as a JSON object, or NULL. */
static json_t *parse_object(const PgcEtcdKv *kv)
{
	json_t *j = json_loadb(kv->value, kv->value_len, 0, NULL);

	if (!json_is_object(j)) {
		json_decref(j);
		return NULL;
	}
	return j;
}

/* member_of - the member node of c (appended when the topology does not have it). */
static PgcCoordStatusMember *member_of(PgcArena *a, PgcCoordStatusCluster *c, size_t *cap,
				       const char *node)
{
	size_t i;

	for (i = 0; i < c->n_members; i++)
		if (strcmp(c->members[i].node, node) == 0)
			return &c->members[i];
	c->members = arena_grow(a, c->members, c->n_members, cap, 8, sizeof(*c->members));
	c->members[c->n_members].node = arena_strdup(a, node);
	c->members[c->n_members].last_msg_age_ms = -1;
	c->members[c->n_members].age_s = -1;
	return &c->members[c->n_members++];
}

static void read_member(PgcArena *a, PgcCoordStatusMember *m, const PgcEtcdKv *kv, time_t now)
{
	json_t *j = parse_object(kv), *rcv;

	m->present = true;
	if (j == NULL)
		return;
	m->host = jstr(a, j, "host");
	m->role = jstr(a, j, "role");
	m->running = json_is_true(json_object_get(j, "running"));
	m->timeline = jint(j, "timeline", 0);
	m->lsn = jstr(a, j, "lsn");
	rcv = json_object_get(j, "receiver");
	m->receiver = jstr(a, rcv, "status");
	m->upstream = jstr(a, rcv, "upstream");
	m->last_msg_age_ms = jint(rcv, "last_msg_age_ms", -1);
	m->reported_at = jstr(a, j, "reported_at");
	m->age_s = iso_age(m->reported_at, now);
	json_decref(j);
}

static void read_decision(PgcArena *a, PgcCoordStatusDecision *d, const PgcEtcdKv *kv)
{
	json_t *j = parse_object(kv);

	d->present = true;
	if (j == NULL)
		return;
	d->kind = jstr(a, j, "kind");
	d->from = jstr(a, j, "from");
	d->to = jstr(a, j, "to");
	d->state = jstr(a, j, "state");
	d->leader = jstr(a, j, "leader");
	d->at = jstr(a, j, "at");
	d->token = jint(j, "token", 0);
	json_decref(j);
}

static void read_fenced(PgcArena *a, PgcCoordStatusCluster *c, size_t *cap, const char *node,
			const PgcEtcdKv *kv)
{
	PgcCoordStatusFenced *f;
	json_t *j = parse_object(kv);

	c->fenced = arena_grow(a, c->fenced, c->n_fenced, cap, 4, sizeof(*c->fenced));
	f = &c->fenced[c->n_fenced++];
	f->node = arena_strdup(a, node);
	f->by = jstr(a, j, "by");
	f->reason = jstr(a, j, "reason");
	f->at = jstr(a, j, "at");
	json_decref(j);
}

static void read_agent(PgcArena *a, PgcCoordStatusAgent *ag, const PgcEtcdKv *kv, time_t now)
{
	json_t *j = parse_object(kv);

	ag->present = true;
	if (j == NULL)
		return;
	ag->pid = jint(j, "pid", 0);
	ag->version = jstr(a, j, "version");
	ag->started_at = jstr(a, j, "started_at");
	ag->reported_at = jstr(a, j, "reported_at");
	ag->age_s = iso_age(ag->reported_at, now);
	json_decref(j);
}

/* cluster_frame - the cluster's members and agents as the topology declares them, nothing read yet. */
static void cluster_frame(PgcArena *a, const PgcCluster *tc, PgcCoordStatusCluster *c,
			  size_t *member_cap)
{
	size_t i, k;

	c->name = tc->name;
	c->agents = arena_calloc(a, tc->n_nodes + 1, sizeof(*c->agents));
	for (i = 0; i < tc->n_nodes; i++) {
		const char *host = tc->nodes[i].host.v != NULL ? tc->nodes[i].host.v : "127.0.0.1";

		member_of(a, c, member_cap, tc->nodes[i].name);
		for (k = 0; k < c->n_agents && strcmp(c->agents[k].host, host) != 0; k++)
			;
		if (k == c->n_agents) {
			c->agents[c->n_agents].host = host;
			c->agents[c->n_agents++].age_s = -1;
		}
	}
}

void coord_status_build(PgcArena *a, const PgcTopology *t, const char *prefix,
			const PgcEtcdKv *kvs, size_t n, time_t now, PgcCoordStatus *out)
{
	size_t plen = strlen(prefix), i, c, *member_cap, *fenced_cap;

	memset(out, 0, sizeof(*out));
	out->prefix = prefix;
	out->n_clusters = t->n_clusters;
	out->clusters = arena_calloc(a, t->n_clusters + 1, sizeof(*out->clusters));
	member_cap = arena_calloc(a, t->n_clusters + 1, sizeof(*member_cap));
	fenced_cap = arena_calloc(a, t->n_clusters + 1, sizeof(*fenced_cap));
	for (c = 0; c < t->n_clusters; c++)
		cluster_frame(a, &t->clusters[c], &out->clusters[c], &member_cap[c]);
	for (i = 0; i < n; i++) {
		const char *key = kvs[i].key, *rest, *slash;
		PgcCoordStatusCluster *cc = NULL;

		if (strncmp(key, prefix, plen) != 0 || key[plen] != '/')
			continue;
		rest = key + plen + 1;
		if (strncmp(rest, "agents/", 7) == 0) {
			for (c = 0; c < out->n_clusters; c++)
				for (size_t k = 0; k < out->clusters[c].n_agents; k++)
					if (strcmp(out->clusters[c].agents[k].host, rest + 7) == 0)
						read_agent(a, &out->clusters[c].agents[k], &kvs[i], now);
			continue;
		}
		slash = strchr(rest, '/');
		if (slash == NULL)
			continue;
		for (c = 0; c < out->n_clusters; c++)
			if (strlen(out->clusters[c].name) == (size_t)(slash - rest) &&
			    strncmp(out->clusters[c].name, rest, (size_t)(slash - rest)) == 0)
				cc = &out->clusters[c];
		if (cc == NULL)
			continue; /* another topology's cluster under the same prefix */
		rest = slash + 1;
		if (strcmp(rest, "leader") == 0) {
			cc->leader = arena_strndup(a, kvs[i].value, kvs[i].value_len);
			cc->token = kvs[i].create_revision;
		} else if (strcmp(rest, "decision") == 0) {
			read_decision(a, &cc->decision, &kvs[i]);
		} else if (strncmp(rest, "members/", 8) == 0 && rest[8] != '\0') {
			read_member(a, member_of(a, cc, &member_cap[cc - out->clusters], rest + 8),
				    &kvs[i], now);
		} else if (strncmp(rest, "fenced/", 7) == 0 && rest[7] != '\0') {
			read_fenced(a, cc, &fenced_cap[cc - out->clusters], rest + 7, &kvs[i]);
		}
	}
}

void coord_status_read(PgcArena *a, const PgcTopology *t, PgcCoordStatus *out)
{
	const PgcEtcd *cfg = &t->etcd;
	const char **endpoints = arena_calloc(a, cfg->endpoints.n + 1, sizeof(*endpoints));
	PgcEtcdConfig ec = {.endpoints = endpoints, .n_endpoints = cfg->endpoints.n,
			    .timeout_ms = STATUS_ETCD_TIMEOUT_MS};
	char err[512], *password = NULL;
	PgcEtcdClient *e = NULL;
	PgcEtcdKv *kvs;
	int64_t revision = 0;
	size_t i, n;

	memset(out, 0, sizeof(*out));
	out->prefix = cfg->prefix.v;
	for (i = 0; i < cfg->endpoints.n; i++)
		endpoints[i] = cfg->endpoints.items[i].v;
	if (cfg->user.set) {
		password = secret_resolve(&cfg->password, "password of the etcd user", err, sizeof(err));
		if (password == NULL) {
			out->error = arena_strdup(a, err);
			return;
		}
		ec.user = cfg->user.v;
		ec.password = password;
	}
	ec.ca_file = cfg->ca_file.set ? cfg->ca_file.v : NULL;
	ec.cert_file = cfg->cert_file.set ? cfg->cert_file.v : NULL;
	ec.key_file = cfg->key_file.set ? cfg->key_file.v : NULL;
	e = etcd_open(&ec, err, sizeof(err));
	secret_free(password);
	if (e == NULL) {
		out->error = arena_strdup(a, err);
		return;
	}
	if (etcd_get_prefix(e, a, arena_printf(a, "%s/", cfg->prefix.v), &kvs, &n, &revision) !=
	    ETCD_OK) {
		out->error = arena_strdup(a, etcd_error(e));
		etcd_close(e);
		return;
	}
	etcd_close(e);
	coord_status_build(a, t, cfg->prefix.v, kvs, n, time(NULL), out);
	out->revision = revision;
}

const PgcCoordStatusCluster *coord_status_find(const PgcCoordStatus *s, const char *name)
{
	size_t i;

	for (i = 0; s != NULL && i < s->n_clusters; i++)
		if (strcmp(s->clusters[i].name, name) == 0)
			return &s->clusters[i];
	return NULL;
}

static const char *ago(double s, char *buf, size_t size)
{
	if (s < 0)
		snprintf(buf, size, "?");
	else if (s >= 86400)
		snprintf(buf, size, "%ldd %ldh ago", (long)s / 86400, (long)s % 86400 / 3600);
	else if (s >= 3600)
		snprintf(buf, size, "%ldh %ldm ago", (long)s / 3600, (long)s % 3600 / 60);
	else if (s >= 60)
		snprintf(buf, size, "%ldm ago", (long)s / 60);
	else
		snprintf(buf, size, "%lds ago", (long)s);
	return buf;
}

static const char *dash(const char *s)
{
	return s != NULL ? s : "-";
}

static void member_text(FILE *out, const PgcCoordStatusMember *m)
{
	char tl[24] = "-", rcv[160] = "-", age[32];

	if (!m->present) {
		str_fprintf_line(out, "  %-10s not published: its agent is gone or cut off from etcd\n",
				 m->node);
		return;
	}
	if (m->timeline > 0)
		snprintf(tl, sizeof(tl), "%lld", m->timeline);
	if (m->receiver != NULL && m->last_msg_age_ms >= 0)
		snprintf(rcv, sizeof(rcv), "%s from %s, %lld ms", m->receiver, dash(m->upstream),
			 m->last_msg_age_ms);
	else if (m->receiver != NULL)
		snprintf(rcv, sizeof(rcv), "%s from %s", m->receiver, dash(m->upstream));
	str_fprintf_line(out, "  %-10s %-16s %-9s %-3s %-12s %-32s %s%s\n", m->node, dash(m->host),
			 m->role != NULL ? m->role : "?", tl, dash(m->lsn), rcv,
			 ago(m->age_s, age, sizeof(age)), m->role != NULL && !m->running &&
			 (strcmp(m->role, "primary") == 0 || strcmp(m->role, "replica") == 0)
			     ? " (not running)" : "");
}

void coord_status_text(FILE *out, const PgcCoordStatusCluster *c)
{
	char age[32];
	size_t i;

	if (c->leader != NULL)
		str_fprintf_line(out, "  coordination: leader %s (fencing token %lld)\n", c->leader,
				 (long long)c->token);
	else
		str_fprintf_line(out, "  coordination: NO LEADER (no agent holds %s/leader)\n", c->name);
	str_fprintf_line(out, "  %-10s %-16s %s\n", "AGENT", "", "LAST REPORT");
	for (i = 0; i < c->n_agents; i++) {
		const PgcCoordStatusAgent *ag = &c->agents[i];

		char pid[40] = "";

		if (!ag->present) {
			str_fprintf_line(out, "  %-27s NONE: no agent key (gone, or cut off from etcd)\n",
					 ag->host);
			continue;
		}
		if (ag->pid > 0)
			snprintf(pid, sizeof(pid), ", pid %lld", ag->pid);
		str_fprintf_line(out, "  %-27s %s (%s)%s%s%s\n", ag->host, ago(ag->age_s, age, sizeof(age)),
				 dash(ag->reported_at), pid, ag->version != NULL ? ", version " : "",
				 ag->version != NULL ? ag->version : "");
	}
	str_fprintf_line(out, "  %-10s %-16s %-9s %-3s %-12s %-32s %s\n", "MEMBER", "HOST", "ROLE", "TL",
			 "LSN", "RECEIVER", "REPORTED");
	for (i = 0; i < c->n_members; i++)
		member_text(out, &c->members[i]);
	if (c->decision.present) {
		const PgcCoordStatusDecision *d = &c->decision;

		str_fprintf_line(out, "  decision   %s %s -> %s: %s at %s (token %lld, leader %s)\n",
				 d->kind != NULL ? d->kind : "?", dash(d->from), dash(d->to),
				 d->state != NULL ? d->state : "?", dash(d->at), d->token, dash(d->leader));
	}
	for (i = 0; i < c->n_fenced; i++)
		str_fprintf_line(out, "  fenced     %s by %s at %s: %s\n", c->fenced[i].node,
				 dash(c->fenced[i].by), dash(c->fenced[i].at), dash(c->fenced[i].reason));
}

static json_t *jstr_or_null(const char *s)
{
	return s != NULL ? json_string(s) : json_null();
}

static json_t *jage(double s)
{
	return s >= 0 ? json_real(s) : json_null();
}

json_t *coord_status_json(const PgcCoordStatus *s, const PgcCoordStatusCluster *c)
{
	json_t *o = json_object(), *agents, *members, *fenced;
	size_t i;

	json_object_set_new(o, "prefix", jstr_or_null(s->prefix));
	json_object_set_new(o, "error", jstr_or_null(s->error));
	if (s->error != NULL || c == NULL)
		return o;
	json_object_set_new(o, "revision", json_integer((json_int_t)s->revision));
	json_object_set_new(o, "leader", c->leader != NULL
						 ? json_pack("{s:s s:I}", "host", c->leader, "token",
							     (json_int_t)c->token)
						 : json_null());
	agents = json_array();
	for (i = 0; i < c->n_agents; i++) {
		const PgcCoordStatusAgent *ag = &c->agents[i];

		json_array_append_new(
		    agents, json_pack("{s:s s:b s:o s:o s:o s:o s:o}", "host", ag->host, "present",
				      ag->present, "pid", ag->pid > 0 ? json_integer(ag->pid) : json_null(),
				      "version", jstr_or_null(ag->version), "started_at",
				      jstr_or_null(ag->started_at), "reported_at",
				      jstr_or_null(ag->reported_at), "age_s", jage(ag->age_s)));
	}
	json_object_set_new(o, "agents", agents);
	members = json_array();
	for (i = 0; i < c->n_members; i++) {
		const PgcCoordStatusMember *m = &c->members[i];
		json_t *mj = json_pack("{s:s s:b}", "node", m->node, "present", m->present);

		if (m->present) {
			json_object_set_new(mj, "host", jstr_or_null(m->host));
			json_object_set_new(mj, "role", jstr_or_null(m->role));
			json_object_set_new(mj, "running", json_boolean(m->running));
			json_object_set_new(mj, "timeline",
					    m->timeline > 0 ? json_integer(m->timeline) : json_null());
			json_object_set_new(mj, "lsn", jstr_or_null(m->lsn));
			json_object_set_new(
			    mj, "receiver",
			    m->receiver != NULL
				? json_pack("{s:s s:o s:o}", "status", m->receiver, "upstream",
					    jstr_or_null(m->upstream), "last_msg_age_ms",
					    m->last_msg_age_ms >= 0 ? json_integer(m->last_msg_age_ms)
								    : json_null())
				: json_null());
			json_object_set_new(mj, "reported_at", jstr_or_null(m->reported_at));
			json_object_set_new(mj, "age_s", jage(m->age_s));
		}
		json_array_append_new(members, mj);
	}
	json_object_set_new(o, "members", members);
	json_object_set_new(
	    o, "decision",
	    c->decision.present
		? json_pack("{s:o s:o s:o s:o s:o s:o s:I}", "kind", jstr_or_null(c->decision.kind),
			    "from", jstr_or_null(c->decision.from), "to", jstr_or_null(c->decision.to),
			    "state", jstr_or_null(c->decision.state), "leader",
			    jstr_or_null(c->decision.leader), "at", jstr_or_null(c->decision.at), "token",
			    (json_int_t)c->decision.token)
		: json_null());
	fenced = json_array();
	for (i = 0; i < c->n_fenced; i++)
		json_array_append_new(fenced, json_pack("{s:s s:o s:o s:o}", "node", c->fenced[i].node,
							"by", jstr_or_null(c->fenced[i].by), "reason",
							jstr_or_null(c->fenced[i].reason), "at",
							jstr_or_null(c->fenced[i].at)));
	json_object_set_new(o, "fenced", fenced);
	return o;
}
