/*
 * reconcile/pgpool/pgpool_conf.c - pgpool.conf and pool_hba.conf
 * (pgpool_conf.h).
 */
#include "reconcile/pgpool/pgpool_conf.h"

#include <ctype.h>
#include <string.h>

#include "common/strutil.h"
#include "reconcile/observe/observe_pgpool.h"

/* Pgpool-II's own fixed parts: its failover is never its own decision. */
static const char *const fixed[][2] = {
	{"backend_clustering_mode", "'streaming_replication'"},
	{"enable_pool_hba", "on"},
	{"pool_passwd", "'" PGPOOL_PASSWD_FILE "'"},
	{"allow_clear_text_frontend_auth", "off"},
	{"num_init_children", "32"},
	{"max_pool", "4"},
	{"log_destination", "'stderr'"},
	{"logging_collector", "on"},
	{"log_filename", "'" PGPOOL_LOG_FILE "'"},
	{"log_truncate_on_rotation", "off"},
	{"sr_check_database", "'postgres'"},
	{"sr_check_password", "''"},             /* from pool_passwd */
	{"health_check_period", "0"},
	{"failover_on_backend_error", "off"},
	{"failover_command", "''"},
	{"follow_primary_command", "''"},
	{"failback_command", "''"},
	{"auto_failback", "off"},
	{"detach_false_primary", "off"},
	{"search_primary_node_timeout", "10"},
	{"memory_cache_enabled", "off"},
	{"use_watchdog", "off"},
};

/* The parameters a reload applies; every other one needs a start. */
static const char *const reloadable[] = {
	"delay_threshold", "sr_check_period", "sr_check_user", "sr_check_password",
	"sr_check_database", "log_min_messages", "search_primary_node_timeout",
	"failover_on_backend_error", "auto_failback", "detach_false_primary",
	"health_check_period", "allow_clear_text_frontend_auth", "enable_pool_hba",
};

/* quoted - value as a pgpool.conf string (a quote doubled). */
static const char *quoted(PgcArena *a, const char *v)
{
	PgcStrBuf b = PGC_STRBUF_INIT;

	strbuf_adds(&b, "'");
	for (; *v; v++)
		strbuf_add(&b, *v == '\'' ? "''" : v, 1 + (*v == '\''));
	strbuf_adds(&b, "'");
	return strbuf_finish(&b, a);
}

const char *pgpool_render_conf(PgcArena *a, const PgcCluster *c)
{
	const PgcPgpool *p = &c->pgpool;
	const PgcRole *u = observe_pgpool_user(c);
	const char *dir = quoted(a, p->dir.v);
	PgcStrBuf b = PGC_STRBUF_INIT;

	strbuf_addf(&b, "# pgpool.conf of cluster \"%s\", written by pgconverge: edits are "
		    "overwritten.\n", c->name);
	strbuf_addf(&b, "listen_addresses = %s\n", quoted(a, p->listen_address.v));
	strbuf_addf(&b, "port = %lld\n", (long long)p->port.v);
	strbuf_addf(&b, "unix_socket_directories = %s\n", dir);
	strbuf_adds(&b, "pcp_listen_addresses = '127.0.0.1'\n");
	strbuf_addf(&b, "pcp_port = %lld\n", (long long)p->pcp_port.v);
	strbuf_addf(&b, "pcp_socket_dir = %s\n", dir);
	strbuf_addf(&b, "pid_file_name = %s\n",
		    quoted(a, observe_pgpool_file(a, c, PGPOOL_PID_FILE)));
	strbuf_addf(&b, "logdir = %s\n", dir);
	strbuf_addf(&b, "log_directory = %s\n", dir);
	for (size_t i = 0; i < sizeof fixed / sizeof *fixed; i++)
		strbuf_addf(&b, "%s = %s\n", fixed[i][0], fixed[i][1]);
	strbuf_addf(&b, "load_balance_mode = %s\n", p->load_balance.v ? "on" : "off");
	/* Without a role to log in as, the check would only fill the log with failures. */
	strbuf_addf(&b, "sr_check_period = %d\n", u != NULL ? 5 : 0);
	strbuf_addf(&b, "sr_check_user = %s\n", quoted(a, u != NULL ? u->name : c->os_user.v));
	strbuf_addf(&b, "delay_threshold = %lld\n", (long long)p->max_lag.bytes);
	for (size_t i = 0; i < c->n_nodes; i++) {
		const PgcNode *n = &c->nodes[i];

		strbuf_addf(&b, "backend_hostname%zu = %s\n", i, quoted(a, n->host.v));
		strbuf_addf(&b, "backend_port%zu = %lld\n", i, (long long)n->port.v);
		strbuf_addf(&b, "backend_weight%zu = 1\n", i);
		strbuf_addf(&b, "backend_data_directory%zu = %s\n", i, quoted(a, n->data_dir.v));
		strbuf_addf(&b, "backend_flag%zu = 'ALLOW_TO_FAILOVER'\n", i);
		strbuf_addf(&b, "backend_application_name%zu = %s\n", i, quoted(a, n->name));
	}
	return strbuf_finish(&b, a);
}

static const char *hba_method(const char *m)
{
	if (strcmp(m, "scram-sha-256") == 0 || strcmp(m, "md5") == 0 || strcmp(m, "password") == 0)
		return "scram-sha-256";
	if (strcmp(m, "reject") == 0)
		return "reject";
	return NULL;
}

const char *pgpool_render_hba(PgcArena *a, const PgcCluster *c)
{
	PgcStrBuf b = PGC_STRBUF_INIT;

	strbuf_addf(&b, "# pool_hba.conf of cluster \"%s\", written by pgconverge from its hba "
		    "rules: edits are overwritten.\n", c->name);
	for (size_t i = 0; i < c->n_hba; i++) {
		const PgcHbaRule *r = &c->hba[i];
		const char *m = r->method.v ? hba_method(r->method.v) : NULL;
		const char *t = r->type.v;

		if (m == NULL || t == NULL || r->address.v == NULL ||
		    (strcmp(t, "host") != 0 && strcmp(t, "hostssl") != 0 &&
		     strcmp(t, "hostnossl") != 0) ||
		    (r->database.v != NULL && strcmp(r->database.v, "replication") == 0))
			continue;
		strbuf_addf(&b, "%s %s %s %s %s\n", t, r->database.v ? r->database.v : "all",
			    r->user.v ? r->user.v : "all", r->address.v, m);
	}
	return strbuf_finish(&b, a);
}

/* ---- comparing two pgpool.conf texts ---------------------------------------- */

typedef struct {
	const char *key, *value;
} Param;

/* parse - the "key = value" lines of text (comments and blank lines skipped). */
static size_t parse(PgcArena *a, const char *text, Param **out)
{
	size_t n = 0, cap = 0;
	Param *ps = NULL;

	while (text != NULL && *text) {
		const char *end = strchr(text, '\n'), *eq, *k, *ke, *v, *ve;

		if (end == NULL)
			end = text + strlen(text);
		k = text;
		while (k < end && isspace((unsigned char)*k))
			k++;
		eq = memchr(k, '=', (size_t)(end - k));
		if (k < end && *k != '#' && eq != NULL) {
			ke = eq;
			while (ke > k && isspace((unsigned char)ke[-1]))
				ke--;
			v = eq + 1;
			while (v < end && isspace((unsigned char)*v))
				v++;
			ve = end;
			while (ve > v && isspace((unsigned char)ve[-1]))
				ve--;
			ps = arena_grow(a, ps, n, &cap, 32, sizeof *ps);
			ps[n].key = arena_strndup(a, k, (size_t)(ke - k));
			ps[n].value = arena_strndup(a, v, (size_t)(ve - v));
			n++;
		}
		text = *end ? end + 1 : end;
	}
	*out = ps;
	return n;
}

static const char *lookup(const Param *ps, size_t n, const char *key)
{
	for (size_t i = n; i-- > 0;)
		if (strcmp(ps[i].key, key) == 0)
			return ps[i].value;
	return NULL;
}

static bool is_reloadable(const char *key)
{
	if (str_has_prefix(key, "backend_weight"))
		return true;
	for (size_t i = 0; i < sizeof reloadable / sizeof *reloadable; i++)
		if (strcmp(key, reloadable[i]) == 0)
			return true;
	return false;
}

size_t pgpool_conf_diff(PgcArena *a, const char *have, const char *want, const char ***keys,
			const char ***from, const char ***to, bool *restart)
{
	Param *h, *w;
	size_t nh = parse(a, have, &h), nw = parse(a, want, &w), n = 0, cap = 0, capf = 0, capt = 0;
	const char **k = NULL, **f = NULL, **t = NULL;

	*restart = false;
	/* Every key of either side, once: want's order, then those only have holds. */
	for (size_t pass = 0; pass < 2; pass++) {
		const Param *ps = pass == 0 ? w : h;
		size_t np = pass == 0 ? nw : nh;

		for (size_t i = 0; i < np; i++) {
			const char *key = ps[i].key, *hv = lookup(h, nh, key), *wv = lookup(w, nw, key);
			bool seen = false;

			if (pass == 1 && wv != NULL)
				continue;
			if ((hv == NULL) == (wv == NULL) && (hv == NULL || strcmp(hv, wv) == 0))
				continue;
			for (size_t j = 0; j < n && !seen; j++)
				seen = strcmp(k[j], key) == 0;
			if (seen)
				continue;
			k = arena_grow(a, k, n, &cap, 8, sizeof *k);
			f = arena_grow(a, f, n, &capf, 8, sizeof *f);
			t = arena_grow(a, t, n, &capt, 8, sizeof *t);
			k[n] = key;
			f[n] = hv;
			t[n] = wv;
			n++;
			if (!is_reloadable(key))
				*restart = true;
		}
	}
	*keys = k;
	*from = f;
	*to = t;
	return n;
}
