/*
 * reconcile/observe/observe_sql.c - the SQL probe of one node
 * (observe_sql.h).
 *
 * Secrets: role passwords are resolved only to check the stored verifier,
 * then wiped; verifiers are read from pg_authid and never kept; a password
 * inside primary_conninfo is redacted before it is stored.
 */
#include "reconcile/observe/observe_sql.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include "common/log.h"
#include "reconcile/engine/secret.h"
#include "reconcile/observe/observe_parse.h"
#include "reconcile/observe/observe_stats.h"
#include "reconcile/pg/pgsql.h"
#include "schema/pgcatalog.h"

/* ---- SQL ------------------------------------------------------------------ */

/*
 * query - runs one probe query; on failure marks the observation
 * incomplete (conn_error says what failed) and returns NULL.
 */
static PGresult *query(Probe *p, PGconn *conn, const char *what, const char *sql)
{
	PgcPgError e;
	PGresult *r = NULL;

	if (p->failed)
		return NULL;
	if (pgsql_query(conn, sql, 0, NULL, p->opts->query_timeout_ms, &r, &e) == 0)
		return r;
	p->failed = true;
	p->out->conn_error = m_printf(p, "could not read %s: %s (SQLSTATE %s)", what, e.message,
				      e.sqlstate);
	log_debug("node \"%s\": %s", p->label, p->out->conn_error);
	return NULL;
}

/* col - a column's text, NULL for SQL NULL, copied into the model. */
static const char *col(Probe *p, const PGresult *r, int row, int c)
{
	return PQgetisnull(r, row, c) ? NULL : m_strdup(p, PQgetvalue(r, row, c));
}

static bool col_bool(const PGresult *r, int row, int c)
{
	return !PQgetisnull(r, row, c) && PQgetvalue(r, row, c)[0] == 't';
}

static long long col_int(const PGresult *r, int row, int c, long long dflt)
{
	return PQgetisnull(r, row, c) ? dflt : strtoll(PQgetvalue(r, row, c), NULL, 10);
}

static void sql_state(Probe *p, PGconn *conn)
{
	PGresult *r = query(p, conn, "the server state",
			    "SELECT pg_is_in_recovery(),"
			    " CASE WHEN pg_is_in_recovery() THEN NULL"
			    " ELSE pg_current_wal_lsn()::text END,"
			    " pg_last_wal_receive_lsn()::text, pg_last_wal_replay_lsn()::text,"
			    " (SELECT system_identifier::text FROM pg_control_system()),"
			    " (SELECT timeline_id FROM pg_control_checkpoint()),"
			    " (SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend'),"
			    /* Seconds behind: none when everything received is replayed. */
			    " CASE WHEN NOT pg_is_in_recovery() THEN NULL"
			    " WHEN pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn() THEN 0"
			    " ELSE extract(epoch FROM now() - pg_last_xact_replay_timestamp()) END,"
			    " extract(epoch FROM pg_conf_load_time())");
	PgcObsNode *o = p->out;

	if (r == NULL)
		return;
	o->in_recovery = col_bool(r, 0, 0);
	o->current_lsn = col(p, r, 0, 1);
	o->receive_lsn = col(p, r, 0, 2);
	o->replay_lsn = col(p, r, 0, 3);
	/* Nodes whose files were not read (other hosts) still get the identity. */
	if (o->system_identifier == 0 && !PQgetisnull(r, 0, 4))
		o->system_identifier = strtoull(PQgetvalue(r, 0, 4), NULL, 10);
	if (o->timeline == 0)
		o->timeline = (unsigned)col_int(r, 0, 5, 0);
	o->connections = (int)col_int(r, 0, 6, -1);
	o->replay_delay_s = PQgetisnull(r, 0, 7) ? -1 : strtod(PQgetvalue(r, 0, 7), NULL);
	o->conf_load_time = PQgetisnull(r, 0, 8) ? 0 : strtod(PQgetvalue(r, 0, 8), NULL);
	PQclear(r);
}

/* normalized - pgparam_normalize() of a pg_settings value; the value itself when unknown. */
static const char *normalized(Probe *p, const char *name, const char *setting)
{
	const PgcParam *param = pgcatalog_lookup(p->major, name);
	char out[8192], err[256];

	if (setting == NULL)
		return NULL;
	/* pg_settings.setting is a bare number in the parameter's own unit, as the catalog's. */
	if (param == NULL || pgparam_normalize(param, setting, out, sizeof out, err, sizeof err) != 0)
		return m_strdup(p, setting);
	return m_strdup(p, out);
}

static void sql_settings(Probe *p, PGconn *conn)
{
	PGresult *r = query(p, conn, "pg_settings",
			    "SELECT name, setting, unit, source, sourcefile, context, pending_restart"
			    " FROM pg_settings ORDER BY name");
	PgcObsNode *o = p->out;
	int rows;

	if (r == NULL)
		return;
	rows = PQntuples(r);
	o->settings = m_alloc(p, (size_t)rows, sizeof *o->settings);
	o->n_settings = (size_t)rows;
	for (int i = 0; i < rows; i++) {
		PgcObsSetting *s = &o->settings[i];
		const char *raw = PQgetisnull(r, i, 1) ? NULL : PQgetvalue(r, i, 1);

		s->name = col(p, r, i, 0);
		if (strcmp(s->name, "primary_conninfo") == 0 && raw != NULL && *raw != '\0') {
			if (observe_conninfo_upstream(p->scratch, raw, &o->upstream_host,
						      &o->upstream_port) == 0)
				o->upstream_host = m_strdup(p, o->upstream_host);
			raw = observe_conninfo_redact(p->scratch, raw);
			o->primary_conninfo = m_strdup(p, raw);
		}
		s->setting = m_strdup(p, raw);
		s->unit = col(p, r, i, 2);
		s->normalized = normalized(p, s->name, raw);
		s->source = col(p, r, i, 3);
		s->sourcefile = col(p, r, i, 4);
		s->context = col(p, r, i, 5);
		s->pending_restart = col_bool(r, i, 6);
	}
	PQclear(r);
	/* Nodes whose control file was not read: the running server says it too. */
	if (!p->control_read) {
		const PgcObsSetting *dc = obs_setting(o, "data_checksums");
		const PgcObsSetting *wlh = obs_setting(o, "wal_log_hints");

		if (dc != NULL && dc->setting != NULL)
			o->data_checksums = strcmp(dc->setting, "on") == 0;
		if (wlh != NULL && wlh->setting != NULL)
			o->wal_log_hints = strcmp(wlh->setting, "on") == 0;
	}
}

static void sql_auto_conf(Probe *p, PGconn *conn)
{
	PGresult *r = query(p, conn, "pg_file_settings",
			    "SELECT name, setting FROM pg_file_settings"
			    " WHERE sourcefile LIKE '%postgresql.auto.conf' AND name IS NOT NULL"
			    " ORDER BY seqno");
	PgcObsNode *o = p->out;
	int rows;

	if (r == NULL)
		return;
	rows = PQntuples(r);
	o->auto_conf = m_alloc(p, (size_t)rows, sizeof *o->auto_conf);
	o->n_auto_conf = (size_t)rows;
	for (int i = 0; i < rows; i++) {
		o->auto_conf[i].name = col(p, r, i, 0);
		o->auto_conf[i].value = col(p, r, i, 1);
		if (strcasecmp(o->auto_conf[i].name, "primary_conninfo") == 0)
			o->auto_conf[i].value = m_strdup(
				p, observe_conninfo_redact(p->scratch, o->auto_conf[i].value));
	}
	PQclear(r);
}

static void sql_hba(Probe *p, PGconn *conn)
{
	PGresult *r = query(p, conn, "pg_hba_file_rules",
			    "SELECT line_number, type, array_to_string(database, ','),"
			    " array_to_string(user_name, ','), address, netmask, auth_method,"
			    " array_to_string(options, ' '), error"
			    " FROM pg_hba_file_rules ORDER BY line_number");
	PgcObsNode *o = p->out;
	int rows;

	if (r == NULL)
		return;
	rows = PQntuples(r);
	o->hba = m_alloc(p, (size_t)rows, sizeof *o->hba);
	o->n_hba = (size_t)rows;
	for (int i = 0; i < rows; i++) {
		PgcObsHbaRule *h = &o->hba[i];

		h->line_number = (int)col_int(r, i, 0, 0);
		h->type = col(p, r, i, 1);
		h->database = col(p, r, i, 2);
		h->user_name = col(p, r, i, 3);
		h->address = col(p, r, i, 4);
		h->netmask = col(p, r, i, 5);
		h->auth_method = col(p, r, i, 6);
		h->options = col(p, r, i, 7);
		h->error = col(p, r, i, 8);
	}
	PQclear(r);
}

static void sql_replication(Probe *p, PGconn *conn)
{
	PGresult *r = query(p, conn, "pg_stat_replication",
			    "SELECT application_name, host(client_addr), state, sync_state,"
			    " sent_lsn::text, write_lsn::text, flush_lsn::text, replay_lsn::text"
			    " FROM pg_stat_replication ORDER BY application_name, pid");
	PgcObsNode *o = p->out;
	int rows;

	if (r == NULL)
		return;
	rows = PQntuples(r);
	o->replicas = m_alloc(p, (size_t)rows, sizeof *o->replicas);
	o->n_replicas = (size_t)rows;
	for (int i = 0; i < rows; i++) {
		PgcObsReplica *x = &o->replicas[i];

		x->application_name = col(p, r, i, 0);
		x->client_addr = col(p, r, i, 1);
		x->state = col(p, r, i, 2);
		x->sync_state = col(p, r, i, 3);
		x->sent_lsn = col(p, r, i, 4);
		x->write_lsn = col(p, r, i, 5);
		x->flush_lsn = col(p, r, i, 6);
		x->replay_lsn = col(p, r, i, 7);
	}
	PQclear(r);
}

static void sql_slots(Probe *p, PGconn *conn)
{
	PGresult *r = query(p, conn, "pg_replication_slots",
			    "SELECT slot_name, slot_type, active, restart_lsn::text"
			    " FROM pg_replication_slots WHERE slot_type = 'physical'"
			    " ORDER BY slot_name");
	PgcObsNode *o = p->out;
	int rows;

	if (r == NULL)
		return;
	rows = PQntuples(r);
	o->slots = m_alloc(p, (size_t)rows, sizeof *o->slots);
	o->n_slots = (size_t)rows;
	for (int i = 0; i < rows; i++) {
		o->slots[i].slot_name = col(p, r, i, 0);
		o->slots[i].slot_type = col(p, r, i, 1);
		o->slots[i].active = col_bool(r, i, 2);
		o->slots[i].restart_lsn = col(p, r, i, 3);
	}
	PQclear(r);
}

static void sql_wal_receiver(Probe *p, PGconn *conn)
{
	PGresult *r = query(p, conn, "pg_stat_wal_receiver",
			    "SELECT status,"
			    " EXTRACT(epoch FROM clock_timestamp() - last_msg_receipt_time)::float8"
			    " FROM pg_stat_wal_receiver");

	if (r == NULL)
		return;
	if (PQntuples(r) > 0) {
		p->out->wal_receiver_status = col(p, r, 0, 0);
		if (!PQgetisnull(r, 0, 1))
			p->out->wal_receiver_last_msg_age_s = strtod(PQgetvalue(r, 0, 1), NULL);
	}
	PQclear(r);
}

/*
 * sql_replay_pause - where an archive recovery (a restore) stands: a
 * restore with target_action pause is finished once it is "paused". Only
 * with recovery.signal: a standby's pause state means nothing to the plan.
 */
static void sql_replay_pause(Probe *p, PGconn *conn)
{
	PGresult *r;

	if (!p->out->recovery_signal)
		return;
	r = query(p, conn, "the replay pause state", "SELECT pg_get_wal_replay_pause_state()");
	if (r == NULL)
		return;
	if (PQntuples(r) > 0)
		p->out->replay_pause_state = col(p, r, 0, 0);
	PQclear(r);
}

/*
 * desired_secret - the password the topology declares for a role: its own
 * roles.<name>.password, replication.password for the replication user,
 * monitoring.datadog.password for the Datadog Agent's.
 */
static const PgcSecret *desired_secret(const PgcCluster *c, const char *rolname)
{
	/* monitoring.datadog's user logs in with its password, declared in roles or not. */
	if (c->monitoring.datadog.set && c->monitoring.datadog.user.v != NULL &&
	    strcmp(c->monitoring.datadog.user.v, rolname) == 0)
		return &c->monitoring.datadog.password;
	for (size_t i = 0; i < c->n_roles; i++)
		if (strcmp(c->roles[i].name, rolname) == 0 && c->roles[i].password.kind != SECRET_NONE)
			return &c->roles[i].password;
	if (c->replication.user.v != NULL && strcmp(c->replication.user.v, rolname) == 0 &&
	    c->replication.password.kind != SECRET_NONE)
		return &c->replication.password;
	return NULL;
}

/*
 * resolve_password - the declared password's value on this host, or NULL
 * when it cannot be had (said at debug level: the password is then
 * "unknown", and apply reports why when it needs the value).
 */
static char *resolve_password(const PgcSecret *s, const char *label, const char *rolname)
{
	char err[512];
	char *v = secret_resolve(s, "password", err, sizeof(err));

	if (v == NULL)
		log_debug("node \"%s\": password of role \"%s\" not checked: %s", label, rolname,
			  err);
	return v;
}

static int password_matches(Probe *p, const char *rolname, const char *verifier)
{
	const PgcSecret *s = desired_secret(p->c, rolname);
	char *secret;
	int rc;

	if (s == NULL)
		return -1;
	if (verifier == NULL)
		return 0;
	secret = resolve_password(s, p->label, rolname);
	if (secret == NULL)
		return -1;
	rc = observe_verify_password(verifier, rolname, secret);
	secret_free(secret);
	return rc;
}

static void sql_roles(Probe *p, PGconn *conn)
{
	PGresult *r = query(p, conn, "pg_authid",
			    "SELECT rolname, rolcanlogin, rolsuper, rolcreatedb, rolcreaterole,"
			    " rolreplication, rolbypassrls, rolconnlimit, rolpassword"
			    " FROM pg_authid WHERE rolname !~ '^pg_' ORDER BY rolname");
	PGresult *m;
	PgcObsNode *o = p->out;
	int rows;

	if (r == NULL)
		return;
	rows = PQntuples(r);
	o->roles = m_alloc(p, (size_t)rows, sizeof *o->roles);
	o->n_roles = (size_t)rows;
	for (int i = 0; i < rows; i++) {
		PgcObsRole *x = &o->roles[i];

		x->name = col(p, r, i, 0);
		x->login = col_bool(r, i, 1);
		x->superuser = col_bool(r, i, 2);
		x->createdb = col_bool(r, i, 3);
		x->createrole = col_bool(r, i, 4);
		x->replication = col_bool(r, i, 5);
		x->bypassrls = col_bool(r, i, 6);
		x->connection_limit = (int)col_int(r, i, 7, -1);
		x->has_password = !PQgetisnull(r, i, 8);
		x->password_matches =
			password_matches(p, x->name, x->has_password ? PQgetvalue(r, i, 8) : NULL);
	}
	/* The verifiers must not outlive this function. */
	for (int i = 0; i < rows; i++)
		if (!PQgetisnull(r, i, 8))
			explicit_bzero(PQgetvalue(r, i, 8), strlen(PQgetvalue(r, i, 8)));
	PQclear(r);

	m = query(p, conn, "pg_auth_members",
		  "SELECT DISTINCT m.rolname, g.rolname FROM pg_auth_members a"
		  " JOIN pg_authid m ON m.oid = a.member JOIN pg_authid g ON g.oid = a.roleid"
		  " ORDER BY 1, 2");
	if (m == NULL)
		return;
	for (size_t i = 0; i < o->n_roles; i++) {
		PgcObsRole *x = &o->roles[i];
		size_t n = 0;

		for (int j = 0; j < PQntuples(m); j++)
			n += strcmp(PQgetvalue(m, j, 0), x->name) == 0;
		x->member_of = m_alloc(p, n, sizeof *x->member_of);
		for (int j = 0; j < PQntuples(m); j++)
			if (strcmp(PQgetvalue(m, j, 0), x->name) == 0)
				x->member_of[x->n_member_of++] = m_strdup(p, PQgetvalue(m, j, 1));
	}
	PQclear(m);
}

/* declared_database - a database whose extensions the planner compares
 * (postgres too with monitoring.pg_stat_statements, which creates its own there). */
static bool declared_database(const PgcCluster *c, const char *name)
{
	if (c->monitoring.pg_stat_statements.v && strcmp(name, "postgres") == 0)
		return true;
	for (size_t i = 0; i < c->n_databases; i++)
		if (strcmp(c->databases[i].name, name) == 0)
			return true;
	return false;
}

/* sql_extensions - pg_extension of one database, through conn. */
static void sql_extensions(Probe *p, PGconn *conn, PgcObsDatabase *d)
{
	PGresult *r = query(p, conn, arena_printf(p->scratch, "the extensions of \"%s\"", d->name),
			    "SELECT extname FROM pg_extension ORDER BY extname");
	int rows;

	if (r == NULL)
		return;
	rows = PQntuples(r);
	d->extensions = m_alloc(p, (size_t)rows, sizeof *d->extensions);
	d->n_extensions = (size_t)rows;
	for (int i = 0; i < rows; i++)
		d->extensions[i] = col(p, r, i, 0);
	PQclear(r);
}

static void sql_databases(Probe *p, PGconn *conn)
{
	PGresult *r = query(p, conn, "pg_database",
			    "SELECT d.datname, pg_get_userbyid(d.datdba) FROM pg_database d"
			    " WHERE NOT d.datistemplate ORDER BY d.datname");
	PgcObsNode *o = p->out;
	int rows;

	if (r == NULL)
		return;
	rows = PQntuples(r);
	o->databases = m_alloc(p, (size_t)rows, sizeof *o->databases);
	o->n_databases = (size_t)rows;
	for (int i = 0; i < rows; i++) {
		o->databases[i].name = col(p, r, i, 0);
		o->databases[i].owner = col(p, r, i, 1);
	}
	PQclear(r);
	/* Extensions of the databases the topology declares: one connection each. */
	for (size_t i = 0; i < o->n_databases && !p->failed; i++) {
		PgcObsDatabase *d = &o->databases[i];
		char err[512];
		PGconn *dbconn;

		if (!declared_database(p->c, d->name))
			continue;
		if (strcmp(d->name, "postgres") == 0) {
			sql_extensions(p, conn, d);
			continue;
		}
		dbconn = probe_connect(p, d->name, err, sizeof err);
		if (dbconn == NULL) {
			p->failed = true;
			o->conn_error = m_printf(p, "could not connect to database \"%s\": %s",
						 d->name, err);
			break;
		}
		sql_extensions(p, dbconn, d);
		observe_stats_database(p, dbconn, d->name);
		PQfinish(dbconn);
	}
}

void observe_sql_probe(Probe *p)
{
	PgcObsNode *o = p->out;
	char err[512];
	PGconn *conn = probe_connect(p, "postgres", err, sizeof err);

	if (conn == NULL) {
		o->conn_error = m_strdup(p, err);
		observe_stats_unreachable(p, err);
		return;
	}
	o->server_version_num = PQserverVersion(conn);
	p->major = o->server_version_num / 10000;
	if (!pgcatalog_has_version(p->major))
		p->major = (int)p->c->pg_version.v;
	sql_state(p, conn);
	sql_settings(p, conn);
	sql_auto_conf(p, conn);
	sql_hba(p, conn);
	sql_replication(p, conn);
	sql_slots(p, conn);
	if (o->in_recovery) {
		sql_wal_receiver(p, conn);
		sql_replay_pause(p, conn);
	} else {
		/* Roles and databases are the primary's: a standby has the same, read-only. */
		sql_roles(p, conn);
		sql_databases(p, conn);
	}
	/* Last: what the planner needs is read, whatever becomes of conn. */
	observe_stats_server(p, conn);
	PQfinish(conn);
	o->reachable = !p->failed;
}
