/*
 * reconcile/observe/observe_datadog.c - monitoring.datadog's live state
 * (observe_datadog.h): the Agent's check file on this machine, Database
 * Monitoring's objects on the live primary.
 */
#include "reconcile/observe/observe_datadog.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/log.h"
#include "common/strutil.h"
#include "reconcile/engine/secret.h"
#include "reconcile/pg/pgsql.h"

/* The largest check file read: one instance is a few hundred bytes. */
#define DATADOG_CONF_MAX (1024 * 1024)

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

char *observe_datadog_yaml_unquote(const char *v, size_t len)
{
	char *out = malloc(len + 1);
	size_t i, n = 0;

	if (out == NULL)
		abort();
	if (len == 0 || v[0] != '"') {
		memcpy(out, v, len);
		out[len] = '\0';
		return out;
	}
	if (len < 2 || v[len - 1] != '"')
		goto bad;
	for (i = 1; i < len - 1; i++) {
		char c = v[i];

		if (c == '"')
			goto bad;
		if (c != '\\') {
			out[n++] = c;
			continue;
		}
		if (++i >= len - 1)
			goto bad;
		switch (v[i]) {
		case '\\': out[n++] = '\\'; break;
		case '"': out[n++] = '"'; break;
		case 'n': out[n++] = '\n'; break;
		case 't': out[n++] = '\t'; break;
		case 'r': out[n++] = '\r'; break;
		case 'x':
			if (i + 2 >= len - 1 || hexval(v[i + 1]) < 0 || hexval(v[i + 2]) < 0)
				goto bad;
			out[n++] = (char)(hexval(v[i + 1]) * 16 + hexval(v[i + 2]));
			i += 2;
			break;
		default:
			goto bad;
		}
	}
	out[n] = '\0';
	return out;
bad:
	explicit_bzero(out, len + 1);
	free(out);
	return NULL;
}

char *observe_datadog_mask(PgcArena *a, const char *text, const char *want,
			   PgcDatadogPassword *password)
{
	PgcStrBuf b = PGC_STRBUF_INIT;
	const char *p = text;
	bool any = false, differs = false;

	while (*p != '\0') {
		const char *eol = strchr(p, '\n');
		size_t len = eol ? (size_t)(eol - p) : strlen(p);
		size_t ind = strspn(p, " ");

		if (ind < len && strncmp(p + ind, "password:", 9) == 0) {
			const char *v = p + ind + 9;
			size_t vlen = len - ind - 9;
			char *got;

			while (vlen > 0 && *v == ' ')
				v++, vlen--;
			while (vlen > 0 && (v[vlen - 1] == ' ' || v[vlen - 1] == '\r'))
				vlen--;
			got = observe_datadog_yaml_unquote(v, vlen);
			any = true;
			if (got == NULL || want == NULL || strcmp(got, want) != 0)
				differs = true;
			if (got != NULL) {
				explicit_bzero(got, strlen(got));
				free(got);
			}
			strbuf_add(&b, p, ind);
			strbuf_adds(&b, "password: " OBS_DATADOG_PASSWORD_MARK);
		} else {
			strbuf_add(&b, p, len);
		}
		if (eol == NULL)
			break;
		strbuf_add(&b, "\n", 1);
		p = eol + 1;
	}
	if (password != NULL)
		*password = want == NULL    ? DATADOG_PW_UNKNOWN
			    : !any || differs ? DATADOG_PW_DIFFERS
					      : DATADOG_PW_MATCHES;
	return strbuf_finish(&b, a);
}

/*
 * read_conf - conf_dir/conf.yaml without following a link: a symlink or
 * anything but a regular file is an error the plan shows (the writer
 * refuses it too).
 */
static void read_conf(PgcArena *a, const PgcCluster *c, PgcObsDatadog *d)
{
	const char *path = arena_printf(a, "%s/%s", c->monitoring.datadog.conf_dir.v,
					OBS_DATADOG_CONF_NAME);
	PgcSecretStatus status;
	struct stat st;
	char *text = NULL, *want, err[512];
	size_t len = 0;
	ssize_t r;
	int fd;

	fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0) {
		if (errno == ENOENT || errno == ENOTDIR) {
			d->conf_read = true;
			return;
		}
		d->conf_error = arena_printf(a, errno == ELOOP ? "\"%s\" is a symlink"
							       : "could not open \"%s\": %s",
					     path, strerror(errno));
		return;
	}
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size > DATADOG_CONF_MAX) {
		d->conf_error = arena_printf(a, "\"%s\" is not a regular file of at most %d bytes",
					     path, DATADOG_CONF_MAX);
		close(fd);
		return;
	}
	text = malloc((size_t)st.st_size + 1);
	if (text == NULL)
		abort();
	while (len < (size_t)st.st_size &&
	       (r = read(fd, text + len, (size_t)st.st_size - len)) != 0) {
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			d->conf_error = arena_printf(a, "could not read \"%s\": %s", path, strerror(errno));
			goto done;
		}
		len += (size_t)r;
	}
	text[len] = '\0';
	d->conf_read = true;
	d->conf_exists = true;
	d->conf_mode = (unsigned)(st.st_mode & 07777);
	want = secret_resolve_status(&c->monitoring.datadog.password, "monitoring.datadog.password",
				     &status, err, sizeof err);
	if (status == SECRET_UNAVAILABLE)
		log_debug("cluster \"%s\": the Datadog check's password not checked: %s", c->name, err);
	else if (status == SECRET_REFUSED)
		log_warn("cluster \"%s\": %s", c->name, err);
	d->conf_masked = observe_datadog_mask(a, text, want, &d->conf_password);
	if (status == SECRET_REFUSED)
		d->conf_password = DATADOG_PW_DIFFERS;
	secret_free(want);
done:
	explicit_bzero(text, (size_t)st.st_size + 1);
	free(text);
	close(fd);
}

/*
 * The DBM objects in the connected database, for role $1, as
 * reconcile/datadog/datadog.h defines them: $2 the function's owner, $3
 * its body. One column per thing that can be missing or wrong.
 */
static const char dbm_sql[] =
	"SELECT r.oid IS NOT NULL,"
	" COALESCE((SELECT has_schema_privilege(r.oid, n.oid, 'USAGE') FROM pg_namespace n"
	"  WHERE n.nspname = 'datadog'), false),"
	/* SECURITY DEFINER, owned by $2 (never a superuser), this body, no SET clause */
	" COALESCE((SELECT bool_or(p.prosecdef AND o.rolname = $2 AND NOT o.rolsuper"
	"   AND p.prosrc = $3 AND p.proconfig IS NULL"
	"   AND has_function_privilege(r.oid, p.oid, 'EXECUTE'))"
	"  FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace"
	"  JOIN pg_roles o ON o.oid = p.proowner"
	"  WHERE n.nspname = 'datadog' AND p.proname = 'explain_statement'), false),"
	/* granted to the role alone, without grant option (NULL: PUBLIC may execute) */
	" COALESCE((SELECT bool_and(p.proacl IS NOT NULL AND NOT EXISTS (SELECT 1"
	"   FROM aclexplode(p.proacl) x WHERE x.grantee <> p.proowner"
	"   AND (x.grantee IS DISTINCT FROM r.oid OR x.is_grantable)))"
	"  FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace"
	"  WHERE n.nspname = 'datadog' AND p.proname = 'explain_statement'), false),"
	/* $2: no login, no attribute, pg_read_all_data's privileges and no other role's */
	" COALESCE((SELECT NOT e.rolsuper AND NOT e.rolcanlogin AND NOT e.rolcreatedb"
	"   AND NOT e.rolcreaterole AND NOT e.rolreplication AND NOT e.rolbypassrls"
	"   AND pg_has_role(e.oid, 'pg_read_all_data', 'USAGE')"
	"   AND NOT EXISTS (SELECT 1 FROM pg_auth_members m JOIN pg_roles g ON g.oid = m.roleid"
	"    WHERE m.member = e.oid AND g.rolname <> 'pg_read_all_data')"
	"   AND NOT EXISTS (SELECT 1 FROM pg_auth_members m WHERE m.roleid = e.oid)"
	"  FROM pg_roles e WHERE e.rolname = $2), false),"
	" EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'pg_stat_statements')"
	" FROM (SELECT 1) AS one LEFT JOIN pg_roles r ON r.rolname = $1";

#define DBM_COLUMNS 6

static const char *dbm_missing(PgcArena *a, PGresult *r)
{
	static const char *const what[DBM_COLUMNS] = {
		"the role",
		"the schema \"datadog\" it may use",
		"the function datadog.explain_statement it may execute (SECURITY DEFINER, owned by "
		"role \"" PGC_DATADOG_EXPLAIN_ROLE "\", pgconverge's definition)",
		"EXECUTE on datadog.explain_statement for this role only",
		"the role \"" PGC_DATADOG_EXPLAIN_ROLE "\" (NOLOGIN, a member of pg_read_all_data "
		"only)",
		"the extension pg_stat_statements"};
	const char *out = NULL;

	for (int i = 0; i < DBM_COLUMNS; i++)
		if (strcmp(PQgetvalue(r, 0, i), "t") != 0)
			out = out ? arena_printf(a, "%s, %s", out, what[i]) : what[i];
	return out;
}

static const PgcObsNode *live_primary(const PgcObsCluster *oc)
{
	for (size_t i = 0; i < oc->n_nodes; i++)
		if (oc->nodes[i].reachable && !oc->nodes[i].in_recovery)
			return &oc->nodes[i];
	return NULL;
}

static bool wanted_db(const PgcCluster *c, const char *name)
{
	if (strcmp(name, "postgres") == 0)
		return true;
	for (size_t i = 0; i < c->n_databases; i++)
		if (strcmp(c->databases[i].name, name) == 0)
			return true;
	return false;
}

/* probe_dbm - one connection per wanted database of the live primary. */
static void probe_dbm(PgcArena *a, const PgcCluster *c, const PgcObsCluster *oc, int cto, int qto)
{
	PgcObsDatadog *d = oc->datadog;
	const PgcObsNode *on = live_primary(oc);
	const PgcNode *n = on ? cluster_node(c, on->name) : NULL;
	const char *user = c->monitoring.datadog.user.v;
	const char *params[3] = {user, PGC_DATADOG_EXPLAIN_ROLE, OBS_DATADOG_EXPLAIN_SRC};

	if (n == NULL)
		return;
	d->dbs = arena_calloc(a, on->n_databases + 1, sizeof *d->dbs);
	for (size_t i = 0; i < on->n_databases; i++) {
		const char *db = on->databases[i].name;
		const char *ci = on->local ? pgsql_conninfo_local(a, (int)n->port.v, c->os_user.v, db)
					   : pgsql_conninfo_tcp(a, n->host.v, (int)n->port.v,
								c->os_user.v, db);
		PgcObsDatadogDb *x;
		PGresult *r = NULL;
		PgcPgError e;
		char err[512];
		PGconn *conn;

		if (!wanted_db(c, db))
			continue;
		conn = pgsql_connect(ci, cto, err, sizeof err);
		if (conn == NULL) {
			log_debug("cluster \"%s\": Database Monitoring not checked in \"%s\": %s",
				  c->name, db, err);
			return;
		}
		if (pgsql_query(conn, dbm_sql, 3, params, qto, &r, &e) != 0 || PQntuples(r) != 1) {
			log_debug("cluster \"%s\": Database Monitoring not checked in \"%s\": %s",
				  c->name, db, e.message);
			PQclear(r);
			PQfinish(conn);
			return;
		}
		x = &d->dbs[d->n_dbs++];
		x->name = arena_strdup(a, db);
		x->missing = dbm_missing(a, r);
		x->ready = x->missing == NULL;
		PQclear(r);
		PQfinish(conn);
	}
	d->dbm_read = true;
}

void observe_datadog(PgcArena *a, const PgcCluster *c, PgcObsCluster *oc, int connect_timeout_s,
		     int query_timeout_ms)
{
	if (!c->monitoring.datadog.set || c->monitoring.datadog.conf_dir.v == NULL)
		return;
	oc->datadog = arena_calloc(a, 1, sizeof *oc->datadog);
	read_conf(a, c, oc->datadog);
	if (c->monitoring.datadog.dbm.v)
		probe_dbm(a, c, oc, connect_timeout_s, query_timeout_ms);
}
