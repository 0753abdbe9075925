/*
 * reconcile/observe/observe_json.c - the observed model as JSON and a
 * node's fingerprint (observe_to_json, observe_fingerprint in observe.h).
 */
#include "reconcile/observe/observe.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/digest.h"
#include "reconcile/observe/observe_parse.h"
#include "reconcile/observe/observe_pgbadger.h"

/* ---- fingerprint and JSON ------------------------------------------------- */

/* fingerprint - observe_fingerprint()'s text into buf (128 bytes are enough). */
static const char *fingerprint(const PgcObsNode *n, char *buf, size_t size)
{
	char digest[DIGEST_HEX_LEN + 1];
	PgcDigest d;

	/* The NUL keeps ("ab", "c") and ("a", "bc") apart. */
	digest_sha256_init(&d);
	if (n->managed_conf != NULL)
		digest_update(&d, n->managed_conf, strlen(n->managed_conf));
	digest_update(&d, "", 1);
	if (n->hba_conf != NULL)
		digest_update(&d, n->hba_conf, strlen(n->hba_conf));
	digest_final_hex(&d, digest);
	snprintf(buf, size, "%" PRIu64 ":%u:%s", n->system_identifier, n->timeline, digest);
	return buf;
}

const char *observe_node_fingerprint(PgcArena *a, const PgcObsNode *n)
{
	char buf[128];

	return arena_strdup(a, fingerprint(n, buf, sizeof buf));
}

const char *observe_fingerprint(PgcObserved *o, const PgcObsNode *n)
{
	return observe_node_fingerprint(o->arena, n);
}

/*
 * jstr - a JSON string, null for NULL. Text from files may not be UTF-8:
 * such bytes become U+FFFD rather than losing the whole value.
 */
static json_t *jstr(const char *s)
{
	json_t *j;
	size_t len, n = 0;
	char *clean;

	if (s == NULL)
		return json_null();
	if ((j = json_string(s)) != NULL)
		return j;
	len = strlen(s);
	clean = malloc(3 * len + 1);
	if (clean == NULL)
		abort();
	for (size_t i = 0; i < len;) {
		const unsigned char *u = (const unsigned char *)s + i;
		size_t step = u[0] < 0x80 ? 1 : (u[0] & 0xE0) == 0xC0 ? 2 : (u[0] & 0xF0) == 0xE0 ? 3
					       : (u[0] & 0xF8) == 0xF0 ? 4 : 0;
		json_t *probe = NULL;

		if (step > 0 && i + step <= len)
			probe = json_stringn((const char *)u, step);
		if (probe != NULL) {
			memcpy(clean + n, u, step);
			n += step;
			i += step;
			json_decref(probe);
		} else {
			memcpy(clean + n, "\xEF\xBF\xBD", 3);
			n += 3;
			i++;
		}
	}
	clean[n] = '\0';
	j = json_string(clean);
	free(clean);
	return j;
}

static json_t *jstrings(const char *const *v, size_t n)
{
	json_t *a = json_array();

	for (size_t i = 0; i < n; i++)
		json_array_append_new(a, jstr(v[i]));
	return a;
}

static json_t *setting_json(const PgcObsSetting *s)
{
	return json_pack("{s:o s:o s:o s:o s:o s:o s:o s:b}", "name", jstr(s->name), "setting",
			 jstr(s->setting), "unit", jstr(s->unit), "normalized", jstr(s->normalized),
			 "source", jstr(s->source), "sourcefile", jstr(s->sourcefile), "context",
			 jstr(s->context), "pending_restart", s->pending_restart);
}

static json_t *role_json(const PgcObsRole *r)
{
	json_t *j = json_pack("{s:o s:b s:b s:b s:b s:b s:b s:i s:o s:b}", "name", jstr(r->name),
			      "login", r->login, "superuser", r->superuser, "createdb", r->createdb,
			      "createrole", r->createrole, "replication", r->replication,
			      "bypassrls", r->bypassrls, "connection_limit", r->connection_limit,
			      "member_of", jstrings(r->member_of, r->n_member_of), "has_password",
			      r->has_password);

	json_object_set_new(j, "password_matches",
			    r->password_matches < 0 ? json_null() : json_boolean(r->password_matches));
	return j;
}

static json_t *hba_json(const PgcObsHbaRule *h)
{
	return json_pack("{s:i s:o s:o s:o s:o s:o s:o s:o s:o}", "line_number", h->line_number,
			 "type", jstr(h->type), "database", jstr(h->database), "user_name",
			 jstr(h->user_name), "address", jstr(h->address), "netmask",
			 jstr(h->netmask), "auth_method", jstr(h->auth_method), "options",
			 jstr(h->options), "error", jstr(h->error));
}

static json_t *replica_json(const PgcObsReplica *r)
{
	return json_pack("{s:o s:o s:o s:o s:o s:o s:o s:o}", "application_name",
			 jstr(r->application_name), "client_addr", jstr(r->client_addr), "state",
			 jstr(r->state), "sync_state", jstr(r->sync_state), "sent_lsn",
			 jstr(r->sent_lsn), "write_lsn", jstr(r->write_lsn), "flush_lsn",
			 jstr(r->flush_lsn), "replay_lsn", jstr(r->replay_lsn));
}

static json_t *node_json(const PgcObsNode *n)
{
	json_t *j = json_object(), *a;
	char buf[128];

	json_object_set_new(j, "name", jstr(n->name));
	json_object_set_new(j, "cluster", jstr(n->cluster));
	json_object_set_new(j, "local", json_boolean(n->local));
	json_object_set_new(j, "fingerprint", jstr(fingerprint(n, buf, sizeof buf)));

	json_object_set_new(j, "dir_state", json_string(observe_dir_state_name(n->dir_state)));
	json_object_set_new(j, "dir_error", jstr(n->dir_error));
	json_object_set_new(j, "pg_version_major", json_integer(n->pg_version_major));
	/* A string: 64-bit identifiers do not survive JSON doubles. */
	snprintf(buf, sizeof buf, "%" PRIu64, n->system_identifier);
	json_object_set_new(j, "system_identifier", n->system_identifier ? json_string(buf)
									 : json_null());
	json_object_set_new(j, "timeline", json_integer(n->timeline));
	json_object_set_new(j, "cluster_state", jstr(n->cluster_state));
	json_object_set_new(j, "data_checksums", json_boolean(n->data_checksums));
	json_object_set_new(j, "wal_log_hints", json_boolean(n->wal_log_hints));
	json_object_set_new(j, "include_line", json_boolean(n->include_line));
	json_object_set_new(j, "managed_conf", jstr(n->managed_conf));
	json_object_set_new(j, "hba_conf", jstr(n->hba_conf));
	json_object_set_new(j, "standby_signal", json_boolean(n->standby_signal));
	json_object_set_new(j, "recovery_signal", json_boolean(n->recovery_signal));
	json_object_set_new(j, "clone_interrupted", json_boolean(n->clone_interrupted));
	json_object_set_new(j, "postmaster_pid", json_integer(n->postmaster_pid));
	json_object_set_new(j, "postmaster_alive", json_boolean(n->postmaster_alive));

	json_object_set_new(j, "reachable", json_boolean(n->reachable));
	json_object_set_new(j, "conn_error", jstr(n->conn_error));
	json_object_set_new(j, "server_version_num", json_integer(n->server_version_num));
	json_object_set_new(j, "in_recovery", json_boolean(n->in_recovery));
	json_object_set_new(j, "replay_pause_state", jstr(n->replay_pause_state));

	a = json_array();
	for (size_t i = 0; i < n->n_settings; i++)
		json_array_append_new(a, setting_json(&n->settings[i]));
	json_object_set_new(j, "settings", a);
	a = json_array();
	for (size_t i = 0; i < n->n_auto_conf; i++)
		json_array_append_new(a, json_pack("{s:o s:o}", "name", jstr(n->auto_conf[i].name),
						   "value", jstr(n->auto_conf[i].value)));
	json_object_set_new(j, "auto_conf", a);
	a = json_array();
	for (size_t i = 0; i < n->n_hba; i++)
		json_array_append_new(a, hba_json(&n->hba[i]));
	json_object_set_new(j, "hba", a);
	a = json_array();
	for (size_t i = 0; i < n->n_roles; i++)
		json_array_append_new(a, role_json(&n->roles[i]));
	json_object_set_new(j, "roles", a);
	a = json_array();
	for (size_t i = 0; i < n->n_databases; i++) {
		const PgcObsDatabase *d = &n->databases[i];

		json_array_append_new(a, json_pack("{s:o s:o s:o}", "name", jstr(d->name), "owner",
						   jstr(d->owner), "extensions",
						   jstrings(d->extensions, d->n_extensions)));
	}
	json_object_set_new(j, "databases", a);
	a = json_array();
	for (size_t i = 0; i < n->n_replicas; i++)
		json_array_append_new(a, replica_json(&n->replicas[i]));
	json_object_set_new(j, "replicas", a);
	a = json_array();
	for (size_t i = 0; i < n->n_slots; i++) {
		const PgcObsSlot *s = &n->slots[i];

		json_array_append_new(a, json_pack("{s:o s:o s:b s:o}", "slot_name", jstr(s->slot_name),
						   "slot_type", jstr(s->slot_type), "active",
						   s->active, "restart_lsn", jstr(s->restart_lsn)));
	}
	json_object_set_new(j, "slots", a);
	/* The node's pgBadger reports (observe_pgbadger.h): the last run, or null. */
	if (n->pgbadger != NULL)
		json_object_set_new(j, "pgbadger",
				    json_pack("{s:o s:o s:o s:b s:o s:I}", "state_file",
					      jstr(n->pgbadger->path), "error", jstr(n->pgbadger->error),
					      "last_run", jstr(n->pgbadger->last_run), "ok",
					      n->pgbadger->ok, "last_error", jstr(n->pgbadger->last_error),
					      "files_parsed", (json_int_t)n->pgbadger->n_parsed));

	json_object_set_new(j, "primary_conninfo", jstr(n->primary_conninfo));
	json_object_set_new(j, "upstream_host", jstr(n->upstream_host));
	json_object_set_new(j, "upstream_port", n->upstream_host != NULL || n->upstream_port > 0
							? json_integer(n->upstream_port)
							: json_null());
	json_object_set_new(j, "wal_receiver_status", jstr(n->wal_receiver_status));
	json_object_set_new(j, "connections", json_integer(n->connections));
	json_object_set_new(j, "replay_delay_s",
			    n->replay_delay_s < 0 ? json_null() : json_real(n->replay_delay_s));
	json_object_set_new(j, "wal_receiver_last_msg_age_s",
			    n->wal_receiver_last_msg_age_s < 0
				    ? json_null()
				    : json_real(n->wal_receiver_last_msg_age_s));
	json_object_set_new(j, "receive_lsn", jstr(n->receive_lsn));
	json_object_set_new(j, "replay_lsn", jstr(n->replay_lsn));
	json_object_set_new(j, "current_lsn", jstr(n->current_lsn));
	return j;
}

/* repository_json - what a repository holds, without the WAL listing (counted). */
static json_t *repository_json(const PgcObsRepository *r)
{
	json_t *j, *base;
	size_t i, k;

	if (r == NULL)
		return json_null();
	j = json_object();
	json_object_set_new(j, "path", jstr(r->path));
	json_object_set_new(j, "exists", json_boolean(r->exists));
	json_object_set_new(j, "error", jstr(r->error));
	base = json_array();
	for (i = 0; r->catalog != NULL && i < r->catalog->n_base; i++) {
		const PgcBaseBackupInfo *b = &r->catalog->base[i];
		json_t *e = json_pack("{s:o s:o s:o s:o s:I s:b s:b}", "id", jstr(b->id), "finished_at",
				      jstr(b->finished_at), "start_lsn", jstr(b->start_lsn), "stop_lsn",
				      jstr(b->stop_lsn), "timeline", (json_int_t)b->timeline,
				      "verified", b->verify.known && b->verify.ok, "deleting", b->deleting);

		for (k = 0; k < r->n_drills; k++) {
			const PgcObsDrill *d = &r->drills[k];

			if (strcmp(d->backup_id, b->id) == 0)
				json_object_set_new(e, "drill",
						    json_pack("{s:b s:o s:f s:I s:o}", "ok", d->ok, "at",
							      jstr(d->at), "duration_s", d->duration_s,
							      "rows", (json_int_t)d->rows, "message",
							      jstr(d->message)));
		}
		json_array_append_new(base, e);
	}
	json_object_set_new(j, "base", base);
	json_object_set_new(j, "logical", json_integer(r->catalog ? (json_int_t)r->catalog->n_logical
								   : 0));
	json_object_set_new(j, "wal_files", json_integer((json_int_t)r->n_wal));
	json_object_set_new(j, "timelines_with_history", json_integer((json_int_t)r->n_history));
	return j;
}

json_t *observe_to_json(const PgcObserved *o)
{
	json_t *root = json_object(), *clusters = json_array();

	json_object_set_new(root, "observed_at", jstr(o->observed_at));
	for (size_t i = 0; i < o->n_clusters; i++) {
		const PgcObsCluster *c = &o->clusters[i];
		json_t *nodes = json_array();

		for (size_t k = 0; k < c->n_nodes; k++)
			json_array_append_new(nodes, node_json(&c->nodes[k]));
		json_array_append_new(clusters,
				      json_pack("{s:o s:o s:o s:o}", "name", jstr(c->name), "nodes", nodes,
						"repository", repository_json(c->repository),
						"restore_source", repository_json(c->restore_source)));
	}
	json_object_set_new(root, "clusters", clusters);
	return root;
}
