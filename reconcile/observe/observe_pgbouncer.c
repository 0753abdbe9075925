/*
 * reconcile/observe/observe_pgbouncer.c - the PgBouncer probe and the admin
 * console and userlist pieces the component shares (observe_pgbouncer.h).
 */
#include "reconcile/observe/observe_pgbouncer.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "common/digest.h"
#include "common/strutil.h"
#include "reconcile/pg/pgsql.h"

const char *pgbouncer_host(const PgcCluster *c)
{
	return c->n_nodes > 0 && c->nodes[0].host.v != NULL ? c->nodes[0].host.v : "127.0.0.1";
}

const char *pgbouncer_path(PgcArena *a, const PgcCluster *c, const char *name)
{
	return arena_printf(a, "%s/%s", c->pgbouncer.dir.v, name);
}

void pgbouncer_secret_free(char *s)
{
	if (s == NULL)
		return;
	explicit_bzero(s, strlen(s));
	free(s);
}

/* add_quoted - "s" with '"' doubled: the userlist's quoting. */
static void add_quoted(PgcStrBuf *b, const char *s)
{
	strbuf_adds(b, "\"");
	for (; *s; s++) {
		strbuf_add(b, s, 1);
		if (*s == '"')
			strbuf_add(b, s, 1);
	}
	strbuf_adds(b, "\"");
}

/* names_array - the declared login roles with a password, as a text[] literal. */
static char *names_array(PgcArena *a, const PgcCluster *c)
{
	PgcStrBuf b = PGC_STRBUF_INIT;

	strbuf_adds(&b, "{");
	for (size_t i = 0; i < c->n_roles; i++) {
		const PgcRole *r = &c->roles[i];

		if (!r->login.v || !r->password.set || r->password.kind == SECRET_NONE)
			continue;
		if (b.len > 1)
			strbuf_adds(&b, ",");
		strbuf_adds(&b, "\"");
		for (const char *s = r->name; *s; s++) {
			if (*s == '"' || *s == '\\')
				strbuf_adds(&b, "\\");
			strbuf_add(&b, s, 1);
		}
		strbuf_adds(&b, "\"");
	}
	strbuf_adds(&b, "}");
	return strbuf_finish(&b, a);
}

/* listed - name is a declared login role of c with a password. */
static bool listed(const PgcCluster *c, const char *name)
{
	for (size_t i = 0; i < c->n_roles; i++) {
		const PgcRole *r = &c->roles[i];

		if (r->login.v && r->password.set && r->password.kind != SECRET_NONE &&
		    strcmp(r->name, name) == 0)
			return true;
	}
	return false;
}

char *pgbouncer_userlist_render(const PgcCluster *c, const char *admin_pass,
				const char *const *names, const char *const *verifiers, size_t n)
{
	PgcStrBuf b = PGC_STRBUF_INIT;
	char *out;

	add_quoted(&b, PGBOUNCER_ADMIN_USER);
	strbuf_adds(&b, " ");
	add_quoted(&b, admin_pass);
	strbuf_adds(&b, "\n");
	for (size_t i = 0; i < n; i++) {
		if (names[i] == NULL || verifiers[i] == NULL || !listed(c, names[i]) ||
		    strncmp(verifiers[i], "SCRAM-SHA-256$", 14) != 0)
			continue;
		add_quoted(&b, names[i]);
		strbuf_adds(&b, " ");
		add_quoted(&b, verifiers[i]);
		strbuf_adds(&b, "\n");
	}
	out = strdup(b.data);
	explicit_bzero(b.data, b.len);
	strbuf_release(&b);
	return out;
}

char *pgbouncer_userlist(PGconn *conn, const PgcCluster *c, const char *admin_pass,
			 int timeout_ms, char *err, size_t errlen)
{
	PgcArena *a = arena_new();
	const char *params[1];
	const char **names = NULL, **verifiers = NULL;
	PGresult *res = NULL;
	PgcPgError e;
	char *out = NULL;
	int n;

	params[0] = names_array(a, c);
	if (pgsql_query(conn,
			"SELECT rolname, rolpassword FROM pg_catalog.pg_authid "
			"WHERE rolname = ANY($1::text[]) AND rolcanlogin "
			"AND rolpassword LIKE 'SCRAM-SHA-256$%' ORDER BY rolname COLLATE \"C\"",
			1, params, timeout_ms, &res, &e) != 0) {
		snprintf(err, errlen, "cannot read the roles' verifiers: %s", e.message);
		goto cleanup;
	}
	n = PQntuples(res);
	names = arena_calloc(a, (size_t)n + 1, sizeof(char *));
	verifiers = arena_calloc(a, (size_t)n + 1, sizeof(char *));
	for (int i = 0; i < n; i++) {
		names[i] = PQgetvalue(res, i, 0);
		verifiers[i] = PQgetvalue(res, i, 1);
	}
	out = pgbouncer_userlist_render(c, admin_pass, names, verifiers, (size_t)n);
	if (out == NULL)
		snprintf(err, errlen, "out of memory");
cleanup:
	if (res != NULL) {
		/* the verifiers sit in the result too */
		for (int i = 0; i < PQntuples(res); i++)
			explicit_bzero(PQgetvalue(res, i, 1), (size_t)PQgetlength(res, i, 1));
		PQclear(res);
	}
	arena_free(a);
	return out;
}

char *pgbouncer_admin_pass(PgcHost *h, const PgcCluster *c, bool *absent, char *err,
			   size_t errlen)
{
	PgcArena *a = arena_new();
	char *buf = NULL, *out = NULL;
	size_t len = 0;
	int rc;

	*absent = false;
	rc = host_read_file(h, pgbouncer_path(a, c, PGBOUNCER_ADMIN_PASS), &buf, &len, 4096);
	if (rc == 1) {
		*absent = true;
		snprintf(err, errlen, "%s/%s is absent", c->pgbouncer.dir.v, PGBOUNCER_ADMIN_PASS);
	} else if (rc != 0) {
		snprintf(err, errlen, "cannot read %s/%s", c->pgbouncer.dir.v, PGBOUNCER_ADMIN_PASS);
	} else {
		while (len > 0 && (buf[len - 1] == '\n' || buf[len - 1] == '\r'))
			buf[--len] = '\0';
		out = strndup(buf, len);
		explicit_bzero(buf, len);
	}
	free(buf);
	arena_free(a);
	return out;
}

PGconn *pgbouncer_admin_connect(PgcHost *h, const PgcCluster *c, int timeout_s, char *err,
				size_t errlen)
{
	PgcArena *a;
	bool absent;
	char *pass = pgbouncer_admin_pass(h, c, &absent, err, errlen);
	char *conninfo;
	PGconn *conn;

	if (pass == NULL)
		return NULL;
	a = arena_new();
	conninfo = arena_printf(a, "host=%s port=%lld dbname=pgbouncer user=%s password=%s "
				"connect_timeout=%d application_name=pgconverge",
				pgsql_conninfo_value(a, c->pgbouncer.dir.v), c->pgbouncer.port.v,
				PGBOUNCER_ADMIN_USER, pgsql_conninfo_value(a, pass),
				timeout_s > 0 ? timeout_s : PGSQL_CONNECT_TIMEOUT_S);
	conn = pgsql_connect(conninfo, timeout_s, err, errlen);
	explicit_bzero(conninfo, strlen(conninfo));
	pgbouncer_secret_free(pass);
	arena_free(a);
	return conn;
}

int pgbouncer_admin_query(PGconn *conn, const char *cmd, int timeout_ms, PGresult **res,
			  char *err, size_t errlen)
{
	double deadline = clock_ms() + (timeout_ms > 0 ? timeout_ms : PGSQL_QUERY_TIMEOUT_MS);
	PGresult *r, *keep = NULL;
	int rc = 0;

	if (res != NULL)
		*res = NULL;
	if (!PQsendQuery(conn, cmd)) {
		snprintf(err, errlen, "%s", PQerrorMessage(conn));
		goto trim;
	}
	for (;;) {
		struct pollfd p = {PQsocket(conn), POLLIN, 0};
		double left;

		if (!PQconsumeInput(conn)) {
			snprintf(err, errlen, "%s", PQerrorMessage(conn));
			goto trim;
		}
		if (!PQisBusy(conn))
			break;
		left = deadline - clock_ms();
		if (left <= 0) {
			PGcancel *cn = PQgetCancel(conn);
			char ebuf[256];

			if (cn != NULL) {
				(void)PQcancel(cn, ebuf, sizeof ebuf);
				PQfreeCancel(cn);
			}
			snprintf(err, errlen, "\"%s\" did not finish within %d ms", cmd, timeout_ms);
			return -1;
		}
		if (poll(&p, 1, (int)(left < 100 ? left + 1 : 100)) < 0 && errno != EINTR) {
			snprintf(err, errlen, "poll: %s", strerror(errno));
			return -1;
		}
	}
	while ((r = PQgetResult(conn)) != NULL) {
		ExecStatusType st = PQresultStatus(r);

		if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK && rc == 0) {
			snprintf(err, errlen, "%s", PQresultErrorMessage(r));
			rc = -1;
		}
		if (keep == NULL && rc == 0)
			keep = r;
		else
			PQclear(r);
	}
	if (rc == 0 && res != NULL)
		*res = keep;
	else
		PQclear(keep);
	if (rc == 0)
		return 0;
trim:
	err[strcspn(err, "\n")] = '\0';
	return -1;
}

/* read_pid - the pidfile's pid and whether it is a live pgbouncer. */
static void read_pid(PgcArena *a, PgcHost *h, const PgcCluster *c, PgcObsPgbouncer *o)
{
	char *buf = NULL, comm[64];
	size_t len;

	if (host_read_file(h, pgbouncer_path(a, c, PGBOUNCER_PIDFILE), &buf, &len, 64) != 0)
		return;
	o->pid = strtol(buf, NULL, 10);
	free(buf);
	if (o->pid <= 0) {
		o->pid = 0;
		return;
	}
	o->alive = host_proc_state(h, o->pid) == HOST_PROC_LIVE &&
		   host_proc_comm(h, o->pid, comm, sizeof comm) == 0 && strcmp(comm, "pgbouncer") == 0;
}

static long col_sum(PGresult *r, const char *name)
{
	int f = PQfnumber(r, name);
	long sum = 0;

	for (int i = 0; f >= 0 && i < PQntuples(r); i++)
		sum += strtol(PQgetvalue(r, i, f), NULL, 10);
	return sum;
}

/* read_console - SHOW DATABASES (where "postgres" points) and SHOW POOLS. */
static void read_console(PgcArena *a, PgcHost *h, const PgcCluster *c, PgcObsPgbouncer *o,
			 int connect_timeout_s, int query_timeout_ms)
{
	char err[512];
	PGconn *conn = pgbouncer_admin_connect(h, c, connect_timeout_s, err, sizeof err);
	PGresult *r = NULL;

	if (conn == NULL || PQstatus(conn) != CONNECTION_OK) {
		o->error = arena_printf(a, "admin console: %s", err);
		goto cleanup;
	}
	if (pgbouncer_admin_query(conn, "SHOW DATABASES", query_timeout_ms, &r, err, sizeof err) != 0) {
		o->error = arena_printf(a, "SHOW DATABASES: %s", err);
		goto cleanup;
	}
	for (int i = 0; i < PQntuples(r); i++) {
		int fn = PQfnumber(r, "name"), fh = PQfnumber(r, "host"), fp = PQfnumber(r, "port");

		if (fn >= 0 && fh >= 0 && fp >= 0 && strcmp(PQgetvalue(r, i, fn), "postgres") == 0) {
			o->points_host = arena_strdup(a, PQgetvalue(r, i, fh));
			o->points_port = atoi(PQgetvalue(r, i, fp));
		}
	}
	PQclear(r);
	r = NULL;
	if (pgbouncer_admin_query(conn, "SHOW POOLS", query_timeout_ms, &r, err, sizeof err) != 0) {
		o->error = arena_printf(a, "SHOW POOLS: %s", err);
		goto cleanup;
	}
	o->cl_active = col_sum(r, "cl_active");
	o->cl_waiting = col_sum(r, "cl_waiting");
	o->sv_active = col_sum(r, "sv_active");
	o->console = true;
cleanup:
	PQclear(r);
	PQfinish(conn);
}

/*
 * primary_conn - a connection to the observed primary of c, or NULL. A
 * standby cluster has none that takes writes: its standby leader (the
 * declared primary), else another of its nodes, all replaying the source's
 * roles, which the executor reads from the leader.
 */
static PGconn *primary_conn(PgcArena *a, const PgcCluster *c, const PgcObsCluster *oc,
			    int connect_timeout_s)
{
	char err[256];
	size_t n_nodes = oc != NULL && oc->n_nodes < c->n_nodes ? oc->n_nodes : c->n_nodes;
	/* pass 0: a node that takes writes; a standby cluster: 1, its leader; 2, any node */
	int passes = c->standby_of.set ? 3 : 1;

	for (size_t k = 0; oc != NULL && k < (size_t)passes * n_nodes; k++) {
		size_t i = k % n_nodes, pass = k / n_nodes;
		const PgcObsNode *n = &oc->nodes[i];
		PGconn *conn;

		if (!n->reachable || (pass == 0 && n->in_recovery) ||
		    (pass == 1 && (c->primary.v == NULL || strcmp(c->nodes[i].name, c->primary.v) != 0)))
			continue;
		conn = pgsql_connect(pgsql_node_conninfo(a, c, &c->nodes[i], NULL), connect_timeout_s,
				     err, sizeof err);
		if (conn != NULL && PQstatus(conn) == CONNECTION_OK)
			return conn;
		PQfinish(conn);
	}
	return NULL;
}

/* read_userlist - the digest of userlist.txt and of the one pgconverge would write. */
static void read_userlist(PgcArena *a, PgcHost *h, const PgcCluster *c, const PgcObsCluster *oc,
			  PgcObsPgbouncer *o, int connect_timeout_s, int query_timeout_ms)
{
	char hex[DIGEST_HEX_LEN + 1], err[512];
	char *buf = NULL, *pass = NULL, *want = NULL;
	size_t len = 0;
	bool absent;
	PGconn *conn = NULL;

	if (host_read_file(h, pgbouncer_path(a, c, PGBOUNCER_USERLIST), &buf, &len, 1 << 24) == 0) {
		digest_sha256_hex(buf, len, hex);
		o->userlist_digest = arena_strdup(a, hex);
		explicit_bzero(buf, len);
	}
	free(buf);
	pass = pgbouncer_admin_pass(h, c, &absent, err, sizeof err);
	o->admin_pass = pass != NULL;
	if (pass == NULL)
		return;
	conn = primary_conn(a, c, oc, connect_timeout_s);
	if (conn != NULL)
		want = pgbouncer_userlist(conn, c, pass, query_timeout_ms, err, sizeof err);
	if (want != NULL) {
		digest_sha256_hex(want, strlen(want), hex);
		o->userlist_want = arena_strdup(a, hex);
	}
	pgbouncer_secret_free(want);
	pgbouncer_secret_free(pass);
	PQfinish(conn);
}

PgcObsPgbouncer *observe_pgbouncer(PgcArena *a, const PgcCluster *c, const PgcObsCluster *oc,
				   int connect_timeout_s, int query_timeout_ms)
{
	PgcObsPgbouncer *o;
	PgcHost *h;
	char *buf = NULL;
	size_t len = 0;

	if (!c->pgbouncer.set || c->pgbouncer.dir.v == NULL)
		return NULL;
	o = arena_calloc(a, 1, sizeof *o);
	o->listen_addr = arena_strdup(a, c->pgbouncer.listen_address.v);
	o->port = (int)c->pgbouncer.port.v;
	h = host_is_local(pgbouncer_host(c)) ? host_for(pgbouncer_host(c), c->os_user.v) : NULL;
	if (h == NULL) {
		o->error = arena_printf(a, "host \"%s\" is not this machine", pgbouncer_host(c));
		return o;
	}
	o->local = true;
	if (host_read_file(h, pgbouncer_path(a, c, PGBOUNCER_INI), &buf, &len, 1 << 20) == 0)
		o->ini = arena_strndup(a, buf, len);
	free(buf);
	read_pid(a, h, c, o);
	o->paused = host_exists(h, pgbouncer_path(a, c, PGBOUNCER_PAUSED));
	read_userlist(a, h, c, oc, o, connect_timeout_s, query_timeout_ms);
	if (o->alive)
		read_console(a, h, c, o, connect_timeout_s, query_timeout_ms);
	host_free(h);
	return o;
}

const PgcObsPgbouncer *observe_pgbouncer_find(const PgcObserved *o, const char *cluster)
{
	for (size_t i = 0; o != NULL && i < o->n_clusters; i++)
		if (strcmp(o->clusters[i].name, cluster) == 0)
			return o->clusters[i].pgbouncer;
	return NULL;
}

const char *observe_pgbouncer_line(PgcArena *a, const PgcObsPgbouncer *o)
{
	if (o == NULL)
		return "not observed";
	if (!o->local)
		return o->error ? o->error : "not observed";
	if (!o->alive)
		return "down";
	if (!o->console)
		return arena_printf(a, "up (pid %ld), %s", o->pid, o->error ? o->error : "console silent");
	return arena_printf(a, "up (pid %ld)%s, points at %s:%d, %ld active, %ld waiting", o->pid,
			    o->paused ? ", PAUSED" : "", o->points_host ? o->points_host : "-",
			    o->points_port, o->cl_active, o->cl_waiting);
}

json_t *observe_pgbouncer_json(const PgcObsPgbouncer *o)
{
	json_t *j;

	if (o == NULL)
		return json_null();
	j = json_pack("{s:s? s:i s:b s:b s:b s:b}", "listen_address", o->listen_addr, "port", o->port,
		      "local", o->local, "up", o->alive, "console", o->console, "paused",
		      o->alive && o->paused);
	json_object_set_new(j, "pid", o->pid > 0 ? json_integer(o->pid) : json_null());
	json_object_set_new(j, "points_at",
			    o->points_host ? json_pack("{s:s s:i}", "host", o->points_host, "port",
						       o->points_port)
					   : json_null());
	if (o->console) {
		json_object_set_new(j, "clients_active", json_integer(o->cl_active));
		json_object_set_new(j, "clients_waiting", json_integer(o->cl_waiting));
		json_object_set_new(j, "servers_active", json_integer(o->sv_active));
	}
	json_object_set_new(j, "error", o->error ? json_string(o->error) : json_null());
	return j;
}
