/*
 * reconcile/observe/observe_pgpool.c - the Pgpool-II probe of a cluster
 * (observe_pgpool.h).
 */
#include "reconcile/observe/observe_pgpool.h"

#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>
#include <openssl/evp.h>

#include "common/clock.h"
#include "common/digest.h"
#include "common/log.h"
#include "reconcile/engine/secret.h"
#include "reconcile/pg/pgsql.h"
#include "reconcile/transport/host.h"

/* Files of ours are small; a larger one is not read. */
#define PGPOOL_FILE_MAX (1024 * 1024)

const char *observe_pgpool_file(PgcArena *a, const PgcCluster *c, const char *name)
{
	return arena_printf(a, "%s/%s", c->pgpool.dir.v, name);
}

static bool logs_in_with_password(const PgcRole *r)
{
	return r->login.v && r->password.kind != SECRET_NONE;
}

const PgcRole *observe_pgpool_user(const PgcCluster *c)
{
	for (size_t i = 0; i < c->n_roles; i++)
		if (logs_in_with_password(&c->roles[i]) && c->roles[i].superuser.v)
			return &c->roles[i];
	for (size_t i = 0; i < c->n_roles; i++)
		if (logs_in_with_password(&c->roles[i]))
			return &c->roles[i];
	return NULL;
}

/* aes_line - "role:AES<base64>" of password under key, appended to buf (malloc'd, grown). */
static int aes_line(const char *role, const char *password, const char *key, char **buf,
		    size_t *len)
{
	unsigned char k[EVP_MAX_KEY_LENGTH], iv[EVP_MAX_IV_LENGTH];
	size_t plen = strlen(password), need;
	unsigned char *ct = malloc(plen + EVP_MAX_BLOCK_LENGTH);
	char *b64 = NULL, *grown;
	EVP_CIPHER_CTX *cx = EVP_CIPHER_CTX_new();
	int n1 = 0, n2 = 0, rc = -1;

	if (ct == NULL || cx == NULL)
		goto cleanup;
	if (EVP_BytesToKey(EVP_aes_256_cbc(), EVP_sha1(), NULL, (const unsigned char *)key,
			   (int)strlen(key), 1, k, iv) == 0 ||
	    EVP_EncryptInit_ex(cx, EVP_aes_256_cbc(), NULL, k, iv) != 1 ||
	    EVP_EncryptUpdate(cx, ct, &n1, (const unsigned char *)password, (int)plen) != 1 ||
	    EVP_EncryptFinal_ex(cx, ct + n1, &n2) != 1)
		goto cleanup;
	b64 = malloc(4 * ((size_t)(n1 + n2) + 2) / 3 + 4);
	if (b64 == NULL)
		goto cleanup;
	EVP_EncodeBlock((unsigned char *)b64, ct, n1 + n2);
	need = *len + strlen(role) + 5 + strlen(b64) + 1;
	grown = realloc(*buf, need + 1);
	if (grown == NULL)
		goto cleanup;
	*buf = grown;
	*len += (size_t)snprintf(*buf + *len, need + 1 - *len, "%s:AES%s\n", role, b64);
	rc = 0;
cleanup:
	explicit_bzero(k, sizeof k);
	explicit_bzero(iv, sizeof iv);
	if (ct != NULL)
		explicit_bzero(ct, plen + EVP_MAX_BLOCK_LENGTH);
	free(ct);
	free(b64);
	EVP_CIPHER_CTX_free(cx);
	return rc;
}

int pgpool_passwd_render(const PgcCluster *c, const char *key, char **out, char *err,
			 size_t errlen)
{
	char *buf = calloc(1, 1);
	size_t len = 0;
	int rc = 0;

	*out = NULL;
	if (buf == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	for (size_t i = 0; i < c->n_roles && rc == 0; i++) {
		const PgcRole *r = &c->roles[i];
		PgcSecretStatus st;
		char what[300];
		char *pw;

		if (!logs_in_with_password(r))
			continue;
		snprintf(what, sizeof what, "password of role \"%s\"", r->name);
		pw = secret_resolve_status(&r->password, what, &st, err, errlen);
		if (pw == NULL) {
			rc = st == SECRET_UNAVAILABLE ? 1 : -1;
			break;
		}
		if (strchr(r->name, ':') != NULL) {
			snprintf(err, errlen, "role \"%s\" has a ':' in its name, which pool_passwd "
				 "cannot hold", r->name);
			rc = -1;
		} else if (aes_line(r->name, pw, key, &buf, &len) != 0) {
			snprintf(err, errlen, "could not encrypt the %s for pool_passwd", what);
			rc = -1;
		}
		secret_free(pw);
	}
	if (rc != 0) {
		secret_free(buf);
		return rc;
	}
	*out = buf;
	return 0;
}

/* read_text - a small file of dir in a; NULL when absent or unreadable. */
static char *read_text(PgcArena *a, PgcHost *h, const PgcCluster *c, const char *name,
		       bool secret)
{
	char *buf = NULL, *copy;
	size_t len = 0;

	if (host_read_file(h, observe_pgpool_file(a, c, name), &buf, &len, PGPOOL_FILE_MAX) != 0)
		return NULL;
	copy = arena_strndup(a, buf, len);
	if (secret)
		explicit_bzero(buf, len);
	free(buf);
	return copy;
}

/* passwd_state - observe_pgpool.h's passwd_ok. */
static int passwd_state(PgcArena *a, PgcHost *h, const PgcCluster *c)
{
	char *key = NULL, *want = NULL, *have = NULL, *nl;
	char err[512];
	size_t klen = 0, hlen = 0;
	int rc, st;

	if (host_read_file(h, observe_pgpool_file(a, c, PGPOOL_KEY_FILE), &key, &klen, 4096) != 0)
		return 0;
	if ((nl = memchr(key, '\n', klen)) != NULL)
		*nl = '\0';
	rc = pgpool_passwd_render(c, key, &want, err, sizeof err);
	explicit_bzero(key, klen);
	free(key);
	if (rc == 1) {
		log_debug("cluster \"%s\": pool_passwd not checked: %s", c->name, err);
		return -1;
	}
	if (rc != 0) {
		log_warn("cluster \"%s\": %s", c->name, err);
		return 0;
	}
	if (host_read_file(h, observe_pgpool_file(a, c, PGPOOL_PASSWD_FILE), &have, &hlen,
			   PGPOOL_FILE_MAX) != 0)
		have = NULL;
	st = have != NULL && hlen == strlen(want) && memcmp(have, want, hlen) == 0;
	secret_free(want);
	free(have);
	return st;
}

static long read_pid(PgcArena *a, PgcHost *h, const PgcCluster *c)
{
	char *text = read_text(a, h, c, PGPOOL_PID_FILE, false);

	return text != NULL ? strtol(text, NULL, 10) : 0;
}

static bool pgpool_alive(PgcHost *h, long pid)
{
	char comm[64];

	return pid > 0 && host_proc_state(h, pid) == HOST_PROC_LIVE &&
	       host_proc_comm(h, pid, comm, sizeof comm) == 0 && strcmp(comm, "pgpool") == 0;
}

/* listen_host - where pgconverge reaches Pgpool-II: its listen address, loopback for a wildcard. */
static const char *listen_host(const PgcCluster *c)
{
	const char *l = c->pgpool.listen_address.v;

	if (l == NULL || strcmp(l, "*") == 0 || strcmp(l, "0.0.0.0") == 0 || l[0] == '\0')
		return "127.0.0.1";
	if (strcmp(l, "::") == 0)
		return "::1";
	return l;
}

static const char *col(PgcArena *a, PGresult *r, int row, const char *name)
{
	int f = PQfnumber(r, name);

	return f < 0 || PQgetisnull(r, row, f) ? NULL : arena_strdup(a, PQgetvalue(r, row, f));
}

/*
 * simple_query - sql through the simple protocol (Pgpool-II's SHOW statements
 * are not understood through the extended one pgsql_query() uses), within
 * timeout_ms. NULL when no answer came in time.
 */
static PGresult *simple_query(PGconn *conn, const char *sql, int timeout_ms)
{
	double deadline = clock_ms() + (timeout_ms > 0 ? timeout_ms : PGSQL_QUERY_TIMEOUT_MS);
	PGresult *r, *last = NULL;

	if (!PQsendQuery(conn, sql))
		return NULL;
	while (PQisBusy(conn)) {
		struct pollfd pfd = {.fd = PQsocket(conn), .events = POLLIN};
		double left = deadline - clock_ms();

		if (left <= 0 || poll(&pfd, 1, (int)left) < 0 || !PQconsumeInput(conn))
			return NULL; /* PQfinish() drops the connection */
	}
	while ((r = PQgetResult(conn)) != NULL) {
		PQclear(last);
		last = r;
	}
	return last;
}

/* show_pool_nodes - logs in as observe_pgpool_user() and reads SHOW pool_nodes. */
static void show_pool_nodes(PgcArena *a, const PgcCluster *c, PgcObsPgpool *pp,
			    int connect_timeout_s, int query_timeout_ms)
{
	const PgcRole *u = observe_pgpool_user(c);
	PgcSecretStatus st;
	char err[512], *pw, *conninfo;
	PGconn *conn;
	PGresult *r = NULL;

	if (u == NULL) {
		pp->error = "no declared role logs in with a password";
		return;
	}
	pw = secret_resolve_status(&u->password, "password of the Pgpool-II check role", &st, err,
				   sizeof err);
	if (pw == NULL) {
		pp->error = arena_strdup(a, err);
		return;
	}
	conninfo = arena_printf(a, "%s password=%s",
				pgsql_conninfo_tcp(a, listen_host(c), (int)c->pgpool.port.v, u->name,
						   "postgres"),
				pgsql_conninfo_value(a, pw));
	secret_free(pw);
	conn = pgsql_connect(conninfo, connect_timeout_s, err, sizeof err);
	explicit_bzero(conninfo, strlen(conninfo));
	if (conn == NULL) {
		pp->error = arena_strdup(a, err);
		return;
	}
	r = simple_query(conn, "SHOW pool_nodes", query_timeout_ms);
	if (PQresultStatus(r) != PGRES_TUPLES_OK) {
		pp->error = arena_printf(a, "SHOW pool_nodes failed: %s",
					 r ? PQresultErrorMessage(r) : "no answer in time");
	} else {
		int n = PQntuples(r);

		pp->nodes = arena_calloc(a, n > 0 ? (size_t)n : 1, sizeof *pp->nodes);
		for (int i = 0; i < n; i++) {
			PgcObsPgpoolNode *x = &pp->nodes[pp->n_nodes++];
			const char *v;

			x->id = (v = col(a, r, i, "node_id")) ? atoi(v) : i;
			x->host = col(a, r, i, "hostname");
			x->port = (v = col(a, r, i, "port")) ? atoi(v) : 0;
			x->status = col(a, r, i, "status");
			x->role = col(a, r, i, "role");
			x->lb_weight = (v = col(a, r, i, "lb_weight")) ? atof(v) : 0;
			x->delay = (v = col(a, r, i, "replication_delay")) && *v ? atoll(v) : -1;
		}
		pp->reachable = true;
	}
	PQclear(r);
	PQfinish(conn);
}

bool observe_pgpool_parse_node_info(const char *text, int *status, bool *primary)
{
	char host[256], port[16], weight[32], sname[32], bstatus[32], role[32];

	if (text == NULL || sscanf(text, "%255s %15s %d %31s %31s %31s %31s", host, port, status,
				   weight, sname, bstatus, role) != 7)
		return false;
	*primary = strcmp(role, "primary") == 0;
	return true;
}

/* pcp_rows - the backends from pcp_node_info (status and role only) when SHOW pool_nodes failed. */
static void pcp_rows(PgcArena *a, PgcHost *h, const PgcCluster *c, PgcObsPgpool *pp)
{
	static const char *const names[] = {"init", "waiting", "up", "down"};
	PgcObsPgpoolNode *rows = arena_calloc(a, c->n_nodes + 1, sizeof *rows);
	const char *env[] = {arena_printf(a, "PCPPASSFILE=%s", observe_pgpool_file(a, c, PGPOOL_PCPPASS_FILE)),
			     NULL};

	for (size_t i = 0; i < c->n_nodes; i++) {
		const char *argv[] = {PGPOOL_BIN_DIR "/pcp_node_info", "-h", "127.0.0.1", "-p",
				      arena_printf(a, "%lld", (long long)c->pgpool.pcp_port.v), "-U",
				      PGPOOL_PCP_USER, "-w", "-n", arena_printf(a, "%zu", i), NULL};
		PgcProcSpec spec = {.argv = argv, .env_extra = env, .timeout_ms = 10000};
		PgcProcResult res;
		int status;
		bool primary, ok;

		if (host_run(h, &spec, &res) != 0)
			return;
		ok = res.status == 0 && observe_pgpool_parse_node_info(res.output, &status, &primary);
		proc_result_free(&res);
		if (!ok || status < 0 || status > 3)
			return;
		rows[i] = (PgcObsPgpoolNode){.id = (int)i, .host = c->nodes[i].host.v,
					     .port = (int)c->nodes[i].port.v, .status = names[status],
					     .role = primary ? "primary" : "standby", .delay = -1};
	}
	pp->nodes = rows;
	pp->n_nodes = c->n_nodes;
	pp->reachable = true;
}

void observe_pgpool(PgcArena *a, const PgcCluster *c, PgcObsCluster *oc, int connect_timeout_s,
		    int query_timeout_ms)
{
	PgcObsPgpool *pp;
	PgcHost *h;
	char hex[DIGEST_HEX_LEN + 1];

	if (!c->pgpool.set || c->n_nodes == 0)
		return;
	pp = arena_calloc(a, 1, sizeof *pp);
	pp->passwd_ok = -1;
	oc->pgpool = pp;
	h = host_for(c->nodes[0].host.v, c->os_user.v);
	if (h == NULL)
		return;
	pp->looked = true;
	pp->conf = read_text(a, h, c, PGPOOL_CONF_FILE, false);
	if (pp->conf != NULL) {
		digest_sha256_hex(pp->conf, strlen(pp->conf), hex);
		pp->conf_digest = arena_strdup(a, hex);
	}
	pp->hba = read_text(a, h, c, PGPOOL_HBA_FILE, false);
	pp->pcp_ok = host_exists(h, observe_pgpool_file(a, c, PGPOOL_PCP_FILE)) &&
		     host_exists(h, observe_pgpool_file(a, c, PGPOOL_PCPPASS_FILE));
	pp->passwd_ok = passwd_state(a, h, c);
	pp->pid = read_pid(a, h, c);
	pp->alive = pgpool_alive(h, pp->pid);
	if (pp->alive)
		show_pool_nodes(a, c, pp, connect_timeout_s, query_timeout_ms);
	/* A session through Pgpool-II fails while it holds a dead node up: ask PCP. */
	if (pp->alive && !pp->reachable && pp->pcp_ok)
		pcp_rows(a, h, c, pp);
	if (pp->alive && !pp->reachable)
		log_warn("cannot read the Pgpool-II state of cluster \"%s\": %s", c->name, pp->error);
	host_free(h);
}

static const PgcObsPgpoolNode *row_of(const PgcObsPgpool *pp, size_t i)
{
	for (size_t k = 0; pp != NULL && k < pp->n_nodes; k++)
		if (pp->nodes[k].id == (int)i)
			return &pp->nodes[k];
	return NULL;
}

bool observe_pgpool_attached(const PgcObsPgpool *pp, size_t i)
{
	const PgcObsPgpoolNode *r = row_of(pp, i);

	return r != NULL && r->status != NULL &&
	       (strcmp(r->status, "up") == 0 || strcmp(r->status, "waiting") == 0);
}

const char *observe_pgpool_primary(const PgcCluster *c, const PgcObsPgpool *pp)
{
	for (size_t i = 0; pp != NULL && pp->reachable && i < c->n_nodes; i++) {
		const PgcObsPgpoolNode *r = row_of(pp, i);

		if (observe_pgpool_attached(pp, i) && r->role != NULL && strcmp(r->role, "primary") == 0)
			return c->nodes[i].name;
	}
	return NULL;
}

static json_t *jstr(const char *s)
{
	return s != NULL ? json_string(s) : json_null();
}

json_t *observe_pgpool_json(const PgcCluster *c, const PgcObsPgpool *pp)
{
	json_t *j = json_object(), *rows = json_array();

	json_object_set_new(j, "up", json_boolean(pp != NULL && pp->alive));
	json_object_set_new(j, "port", json_integer((json_int_t)c->pgpool.port.v));
	json_object_set_new(j, "pcp_port", json_integer((json_int_t)c->pgpool.pcp_port.v));
	json_object_set_new(j, "pid", pp != NULL && pp->alive ? json_integer(pp->pid) : json_null());
	json_object_set_new(j, "primary", jstr(observe_pgpool_primary(c, pp)));
	json_object_set_new(j, "error", jstr(pp != NULL && pp->alive ? pp->error : NULL));
	for (size_t i = 0; pp != NULL && i < pp->n_nodes; i++) {
		const PgcObsPgpoolNode *r = &pp->nodes[i];

		json_array_append_new(rows, json_pack("{s:o s:o s:o s:f s:o}", "node",
			jstr(r->id >= 0 && (size_t)r->id < c->n_nodes ? c->nodes[r->id].name : NULL),
			"status", jstr(r->status), "role", jstr(r->role), "lb_weight", r->lb_weight,
			"replication_delay", r->delay >= 0 ? json_integer(r->delay) : json_null()));
	}
	json_object_set_new(j, "backends", rows);
	return j;
}
