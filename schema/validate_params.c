/*
 * schema/validate_params.c - PostgreSQL parameters checked against the
 * catalog of the cluster's major version, and the combinations PostgreSQL
 * itself refuses at start-up (schema/validate_params.h).
 */
#include "schema/validate_params.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "schema/pgcatalog.h"

/*
 * Parameters that pgconverge writes itself, from the topology key named in
 * the hint ({node} and {cluster} stand for the node's and the cluster's key
 * path). A value in settings would fight the reconciler.
 */
static const struct {
	const char *name;
	const char *hint;
} owned_params[] = {
	{"port", "set it with {node}.port"},
	{"listen_addresses", "pgconverge listens on {node}.host"},
	{"data_directory", "pgconverge sets it from {node}.data_dir"},
	{"config_file", "pgconverge manages the configuration files in {node}.data_dir"},
	{"hba_file", "write access rules under {cluster}.hba"},
	{"ident_file", "pgconverge manages the configuration files in {node}.data_dir"},
	{"primary_conninfo", "set the upstream with {node}.replicate_from and the credentials under {cluster}.replication"},
	{"primary_slot_name", "replication slots follow {cluster}.replication.slots"},
	{"restore_command", "pgconverge fetches WAL from {cluster}.backup.repository or {cluster}.bootstrap.from_backup"},
	{"archive_cleanup_command", "WAL retention follows {cluster}.backup.base.keep"},
	{"synchronous_standby_names", "set it with {cluster}.replication.synchronous"},
	{"archive_mode", "WAL archiving is set with {cluster}.backup.wal_archive"},
	{"archive_command", "WAL archiving is set with {cluster}.backup.wal_archive"},
	{"archive_library", "WAL archiving is set with {cluster}.backup.wal_archive"},
	{"cluster_name", "pgconverge sets it from the cluster and node names"},
	{"hot_standby", "replicas must accept connections so that pgconverge can observe them"},
	{"include", "write parameters under settings: pgconverge owns the configuration files"},
	{"include_dir", "write parameters under settings: pgconverge owns the configuration files"},
	{"include_if_exists", "write parameters under settings: pgconverge owns the configuration files"},
};

/* Read-only parameters (context internal), with the key that decides them if any. */
static const struct {
	const char *name;
	const char *hint;
} readonly_params[] = {
	{"data_checksums", "set {cluster}.initdb.data_checksums"},
	{"lc_collate", "set {cluster}.initdb.locale"},
	{"lc_ctype", "set {cluster}.initdb.locale"},
	{"server_encoding", "set {cluster}.initdb.encoding"},
	{"block_size", NULL},
	{"data_directory_mode", NULL},
	{"debug_assertions", NULL},
	{"in_hot_standby", NULL},
	{"integer_datetimes", NULL},
	{"max_function_args", NULL},
	{"max_identifier_length", NULL},
	{"max_index_keys", NULL},
	{"segment_size", NULL},
	{"server_version", NULL},
	{"server_version_num", NULL},
	{"shared_memory_size", NULL},
	{"shared_memory_size_in_huge_pages", NULL},
	{"ssl_library", NULL},
	{"wal_block_size", NULL},
	{"wal_segment_size", NULL},
};

/* owned_hint - the hint for a parameter pgconverge writes itself, or NULL. */
static const char *owned_hint(const char *name)
{
	size_t k;

	if (strncasecmp(name, "recovery_target", 15) == 0)
		return "point-in-time restores are set with {cluster}.bootstrap.from_backup";
	for (k = 0; k < sizeof(owned_params) / sizeof(owned_params[0]); k++)
		if (strcasecmp(name, owned_params[k].name) == 0)
			return owned_params[k].hint;
	return NULL;
}

/* expand_hint - replaces {node} and {cluster} in a hint template. */
static const char *expand_hint(Val *v, const char *tmpl, const char *cluster, const char *node)
{
	char *out, *o;
	const char *p, *ck = val_fmt(v, "clusters.%s", cluster),
		       *nk = val_fmt(v, "clusters.%s.nodes.%s", cluster, node ? node : "<name>");
	size_t len;

	if (tmpl == NULL)
		return NULL;
	len = strlen(tmpl) + 1;
	for (p = tmpl; (p = strchr(p, '{')) != NULL; p++)
		len += strlen(nk) + strlen(ck);
	out = o = arena_alloc(v->t->arena, len);
	for (p = tmpl; *p;) {
		if (strncmp(p, "{node}", 6) == 0) {
			o += sprintf(o, "%s", nk);
			p += 6;
		} else if (strncmp(p, "{cluster}", 9) == 0) {
			o += sprintf(o, "%s", ck);
			p += 9;
		} else {
			*o++ = *p++;
		}
	}
	*o = '\0';
	return out;
}

/* custom_param_name - "prefix.name": extension parameters, which PostgreSQL accepts as placeholders. */
static bool custom_param_name(const char *s)
{
	const char *dot = strchr(s, '.'), *p;

	if (dot == NULL || dot == s || dot[1] == '\0')
		return false;
	for (p = s; *p; p++)
		if (!(isalnum((unsigned char)*p) || *p == '_' || *p == '$' || *p == '.'))
			return false;
	return !isdigit((unsigned char)*s);
}

/* check_settings - names and values of one settings map (the cluster's, or a node's overrides). */
static void check_settings(Val *v, PgcCluster *c, const PgcNode *n, const PgcSettings *ss)
{
	int major = (int)c->pg_version.v;
	size_t i, k;

	for (i = 0; i < ss->n; i++) {
		const PgcSetting *s = &ss->items[i];
		const char *key = n ? val_fmt(v, "clusters.%s.nodes.%s.settings.%s", c->name, n->name, s->name)
				    : val_fmt(v, "clusters.%s.settings.%s", c->name, s->name);
		const PgcParam *p;
		const char *hint;
		char out[1024], err[512];

		hint = owned_hint(s->name);
		if (hint != NULL) {
			val_error(v, s->key_pos, key, expand_hint(v, hint, c->name, n ? n->name : NULL),
				  "parameter \"%s\" is managed by pgconverge", s->name);
			continue;
		}
		p = pgcatalog_lookup(major, s->name);
		for (k = 0; k < sizeof(readonly_params) / sizeof(readonly_params[0]); k++)
			if (strcasecmp(s->name, readonly_params[k].name) == 0)
				break;
		if ((p != NULL && p->context == PGP_CTX_INTERNAL) ||
		    (p == NULL && k < sizeof(readonly_params) / sizeof(readonly_params[0]))) {
			const char *h = k < sizeof(readonly_params) / sizeof(readonly_params[0])
						? readonly_params[k].hint
						: NULL;

			val_error(v, s->key_pos, key, h ? expand_hint(v, h, c->name, n ? n->name : NULL) : NULL,
				  "parameter \"%s\" is read-only: postgresql fixes it when it is built or when "
				  "the cluster is created", s->name);
			continue;
		}
		if (p == NULL) {
			const char *sug;

			if (custom_param_name(s->name) && !pgcatalog_known_prefix(s->name))
				continue;
			sug = pgcatalog_suggest(major, s->name);
			val_error(v, s->key_pos, key, sug ? val_fmt(v, "did you mean \"%s\"?", sug) : NULL,
				  "unknown parameter \"%s\" for postgresql %d", s->name, major);
			continue;
		}
		if (pgparam_normalize(p, s->value, out, sizeof(out), err, sizeof(err)) != 0)
			val_error(v, s->pos, key, NULL, "%s", err);
	}
}

/* EffValue - a parameter's effective value on a node, normalised. */
typedef struct {
	const PgcSetting *s;  /* NULL: the built-in default */
	bool from_node;
	bool ok;              /* false: an invalid value (already reported) */
	char val[256];
} EffValue;

static void eff_value(const PgcCluster *c, const PgcNode *n, const PgcParam *p, EffValue *e)
{
	const PgcSettings *lists[2] = {&n->settings, &c->settings};
	char err[256];
	size_t i, l;

	memset(e, 0, sizeof(*e));
	for (l = 0; l < 2 && e->s == NULL; l++)
		for (i = 0; i < lists[l]->n; i++)
			if (strcasecmp(lists[l]->items[i].name, p->name) == 0) {
				e->s = &lists[l]->items[i];
				e->from_node = l == 0;
				break;
			}
	if (e->s != NULL)
		e->ok = pgparam_normalize(p, e->s->value, e->val, sizeof(e->val), err, sizeof(err)) == 0;
	else if (p->boot_val != NULL)
		e->ok = snprintf(e->val, sizeof(e->val), "%s", p->boot_val) < (int)sizeof(e->val);
}

/*
 * once - whether to report a finding about a node's effective value: always
 * for a node's own override, once per cluster for the cluster's value or the
 * default, which every node shares (*done remembers it).
 */
static bool once(bool from_node, bool *done)
{
	if (from_node)
		return true;
	if (*done)
		return false;
	*done = true;
	return true;
}

static const char *eff_key(Val *v, const PgcCluster *c, const PgcNode *n, const EffValue *e)
{
	if (e->s == NULL)
		return val_fmt(v, "clusters.%s.settings", c->name);
	if (e->from_node)
		return val_fmt(v, "clusters.%s.nodes.%s.settings.%s", c->name, n->name, e->s->name);
	return val_fmt(v, "clusters.%s.settings.%s", c->name, e->s->name);
}

static PgcPos eff_pos(const PgcCluster *c, const EffValue *e)
{
	if (e->s != NULL)
		return e->s->pos;
	return val_pos_or(c->settings.pos, c->pos);
}

/*
 * check_wal_settings - the parameters replication and backups depend on:
 * wal_level, the number of WAL senders and replication slots, and what
 * pg_rewind needs. Per node, since nodes may override the cluster's values;
 * a cluster-wide problem is reported once (same position and text).
 */
static void check_wal_settings(Val *v, PgcCluster *c)
{
	int major = (int)c->pg_version.v;
	const PgcParam *wal_level = pgcatalog_lookup(major, "wal_level");
	const PgcParam *senders = pgcatalog_lookup(major, "max_wal_senders");
	const PgcParam *slots = pgcatalog_lookup(major, "max_replication_slots");
	const PgcParam *hints = pgcatalog_lookup(major, "wal_log_hints");
	long long replicas = (long long)c->n_nodes - 1;
	bool base_backups = c->backup.set && (c->backup.base.set || c->backup.wal_archive.v);
	bool needs_wal = replicas > 0 || base_backups;
	long long need_senders = 0, need_slots = 0;
	const char **no_hints = arena_calloc(v->t->arena, c->n_nodes + 1, sizeof(char *));
	size_t i, n_no_hints = 0;
	bool done_level = false, done_minimal = false, done_senders = false, done_slots = false;
	EffValue e, e2;

	/* pg_basebackup takes two senders (files and WAL) and a temporary slot
	 * while it copies a node, for a clone or a base backup. */
	if (base_backups)
		need_senders = replicas + 2;
	else if (replicas > 0)
		need_senders = replicas + 1;
	if (replicas > 0 || base_backups)
		need_slots = (c->replication.slots.v ? replicas : 0) + 1;

	for (i = 0; i < c->n_nodes; i++) {
		const PgcNode *n = &c->nodes[i];

		if (wal_level != NULL) {
			eff_value(c, n, wal_level, &e);
			if (e.ok && e.s != NULL && strcmp(e.val, "minimal") == 0) {
				if (needs_wal) {
					if (once(e.from_node, &done_level))
						val_error(v, eff_pos(c, &e), eff_key(v, c, n, &e), NULL,
					     "wal_level \"minimal\" does not allow %s: expected \"replica\" or "
					     "\"logical\"",
					     replicas > 0 ? "streaming replication" : "base backups or WAL archiving");
				} else if (senders != NULL) {
					eff_value(c, n, senders, &e2);
					if (e2.ok && strtoll(e2.val, NULL, 10) > 0 &&
					    once(e.from_node || e2.from_node, &done_minimal))
						val_error(v, eff_pos(c, &e), eff_key(v, c, n, &e),
							  "set max_wal_senders: 0 as well, or use wal_level replica",
							  "wal_level \"minimal\" needs max_wal_senders 0, but it is %s: "
							  "postgresql refuses to start", e2.val);
				}
			}
		}
		if (senders != NULL && need_senders > 0) {
			eff_value(c, n, senders, &e);
			if (e.ok && strtoll(e.val, NULL, 10) < need_senders && once(e.from_node, &done_senders))
				val_error(v, eff_pos(c, &e), eff_key(v, c, n, &e),
					  val_fmt(v, "any node may become the primary: 1 per replica (%lld), plus %d while "
						  "pg_basebackup copies a node", replicas, base_backups ? 2 : 1),
					  "%smax_wal_senders %s is too small for cluster \"%s\": expected at least %lld",
					  e.s ? "" : "the default ", e.val, c->name, need_senders);
		}
		if (slots != NULL && need_slots > 0) {
			eff_value(c, n, slots, &e);
			if (e.ok && strtoll(e.val, NULL, 10) < need_slots && once(e.from_node, &done_slots))
				val_error(v, eff_pos(c, &e), eff_key(v, c, n, &e),
					  c->replication.slots.v
					     ? val_fmt(v, "any node may become the primary: 1 per replica (%lld), plus 1 "
						       "for pg_basebackup's temporary slot", replicas)
					     : "pg_basebackup needs 1 for its temporary slot",
					  "%smax_replication_slots %s is too small for cluster \"%s\": expected at "
					  "least %lld",
					  e.s ? "" : "the default ", e.val, c->name, need_slots);
		}
		if (hints != NULL) {
			eff_value(c, n, hints, &e);
			if (e.ok && strcmp(e.val, "off") == 0)
				no_hints[n_no_hints++] = n->name;
		}
	}
	if (replicas > 0 && !c->bootstrap.set && !c->initdb.data_checksums.v && n_no_hints > 0)
		val_warn(v, val_pos_or(c->initdb.data_checksums.pos, val_pos_or(c->initdb.pos, c->pos)),
			 val_fmt(v, "clusters.%s.initdb.data_checksums", c->name),
			 val_fmt(v, "set wal_log_hints: on under clusters.%s.settings, or data_checksums: true", c->name),
			 "data checksums are off and wal_log_hints is off on %s: pg_rewind needs one of them to "
			 "rejoin a former primary, which must otherwise be cloned again",
			 val_quoted_list(v, no_hints, n_no_hints));
}

/*
 * check_standby_minimums - PostgreSQL refuses to run a hot standby whose
 * value of these parameters is lower than the primary's.
 */
static void check_standby_minimums(Val *v, PgcCluster *c, const PgcNode *primary)
{
	static const char *const names[] = {"max_connections", "max_worker_processes", "max_wal_senders",
					    "max_prepared_transactions", "max_locks_per_transaction"};
	size_t i, k;

	if (primary == NULL)
		return;
	for (k = 0; k < sizeof(names) / sizeof(names[0]); k++) {
		const PgcParam *p = pgcatalog_lookup((int)c->pg_version.v, names[k]);
		EffValue pe;

		if (p == NULL)
			continue;
		eff_value(c, primary, p, &pe);
		if (!pe.ok)
			continue;
		for (i = 0; i < c->n_nodes; i++) {
			const PgcNode *n = &c->nodes[i];
			EffValue re;
			bool at_replica;

			if (n == primary)
				continue;
			eff_value(c, n, p, &re);
			if (!re.ok || strtoll(re.val, NULL, 10) >= strtoll(pe.val, NULL, 10))
				continue;
			at_replica = re.from_node || !pe.from_node;
			val_error(v, at_replica ? eff_pos(c, &re) : eff_pos(c, &pe),
				  at_replica ? eff_key(v, c, n, &re) : eff_key(v, c, primary, &pe),
				  val_fmt(v, "use the same value on every node: any of them may become the primary"),
				  "%s %s on replica \"%s\" is lower than %s on the primary \"%s\": a standby does not "
				  "start with less than its primary", names[k], re.val, n->name, pe.val, primary->name);
		}
	}
}

void validate_standby_minimums(Val *v, PgcCluster *c, const PgcCluster *src)
{
	static const char *const names[] = {"max_connections", "max_worker_processes", "max_wal_senders",
					    "max_prepared_transactions", "max_locks_per_transaction"};

	for (size_t k = 0; k < sizeof(names) / sizeof(names[0]); k++) {
		const PgcParam *p = pgcatalog_lookup((int)c->pg_version.v, names[k]);
		const PgcNode *top = NULL;
		long long most = 0;
		EffValue se;
		bool done = false;

		if (p == NULL)
			continue;
		/* Any node of the source may be its primary: the largest value counts. */
		for (size_t i = 0; i < src->n_nodes; i++) {
			eff_value(src, &src->nodes[i], p, &se);
			if (se.ok && (top == NULL || strtoll(se.val, NULL, 10) > most)) {
				top = &src->nodes[i];
				most = strtoll(se.val, NULL, 10);
			}
		}
		for (size_t i = 0; top != NULL && i < c->n_nodes; i++) {
			const PgcNode *n = &c->nodes[i];
			EffValue re;

			eff_value(c, n, p, &re);
			if (!re.ok || strtoll(re.val, NULL, 10) >= most || !once(re.from_node, &done))
				continue;
			val_error(v, re.s != NULL ? eff_pos(c, &re) : val_pos_or(c->standby_of.pos, c->pos),
				  eff_key(v, c, n, &re),
				  val_fmt(v, "set %s: %lld (or more) under clusters.%s.settings", names[k], most,
					  c->name),
				  "%s %s on \"%s\" of standby cluster \"%s\" is lower than %lld on \"%s\" of its "
				  "source \"%s\": a standby does not start with less than its primary",
				  names[k], re.val, n->name, c->name, most, top->name, src->name);
		}
	}
}

/* check_reserved_connections - postgresql refuses to start unless
 * max_connections is larger than superuser_reserved_connections. */
static void check_reserved_connections(Val *v, PgcCluster *c)
{
	const PgcParam *mc = pgcatalog_lookup((int)c->pg_version.v, "max_connections");
	const PgcParam *rc = pgcatalog_lookup((int)c->pg_version.v, "superuser_reserved_connections");
	size_t i;
	bool done = false;

	if (mc == NULL || rc == NULL)
		return;
	for (i = 0; i < c->n_nodes; i++) {
		const PgcNode *n = &c->nodes[i];
		EffValue me, re;
		const EffValue *at;

		eff_value(c, n, mc, &me);
		eff_value(c, n, rc, &re);
		if (!me.ok || !re.ok || strtoll(me.val, NULL, 10) > strtoll(re.val, NULL, 10) ||
		    !once(me.from_node || re.from_node, &done))
			continue;
		at = me.s != NULL ? &me : &re;
		val_error(v, eff_pos(c, at), eff_key(v, c, n, at), NULL,
			  "max_connections %s must be larger than superuser_reserved_connections %s: postgresql "
			  "refuses to start", me.val, re.val);
	}
}

void validate_parameters(Val *v, PgcCluster *c, const PgcNode *primary)
{
	size_t i;

	if (!pgcatalog_has_version((int)c->pg_version.v)) {
		val_error(v, val_pos_or(c->pg_version.pos, c->pos), val_fmt(v, "clusters.%s.postgres.version", c->name),
			  NULL, "unknown postgresql major version %lld: expected one of %s", c->pg_version.v,
			  pgcatalog_versions());
		return;
	}
	check_settings(v, c, NULL, &c->settings);
	for (i = 0; i < c->n_nodes; i++)
		check_settings(v, c, &c->nodes[i], &c->nodes[i].settings);
	check_wal_settings(v, c);
	check_reserved_connections(v, c);
	check_standby_minimums(v, c, primary);
}
