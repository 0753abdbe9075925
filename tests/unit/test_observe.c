/*
 * tests/unit/test_observe.c - the pure parts of reconcile/observe/observe.c: the
 * parsers of pg_controldata output, postgresql.conf include lines,
 * postmaster.pid and primary_conninfo, password verifier checks, the JSON
 * form of a hand-built observed model, and the fingerprint.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "reconcile/observe/observe.h"
#include "reconcile/observe/observe_parse.h"

/* Verifiers made by PostgreSQL 15 (CREATE ROLE ... PASSWORD). */
#define SCRAM_CORRECT_HORSE                                                                  \
	"SCRAM-SHA-256$4096:KKK2RCnQSOXAkbXvi3whPA==$DXKq6GgNqGSYxGJvx1TRDWu+bUDohg6VzZC2L9d5UVQ=:" \
	"+CF8OMi2ezZPBnyvju9xLKpjD3YLoBXJiyL5BiA8GWo="
#define SCRAM_PASSWORT_UMLAUTS                                                               \
	"SCRAM-SHA-256$4096:aS/4BwkeZLNu9dSrxrafrA==$iJ1rob32B2g0fFL9K5iR2F/zhVTgMqOU0gpvf885EDo=:" \
	"eO2RuXuYDbPlda5acr4CvjXwvxZnZghejzeGsckgJKw="
/* password_encryption = md5, role r2, password old-pw */
#define MD5_R2_OLD_PW "md5507795aec68f80360f8c4f7c0cbc2adb"

static const char controldata[] =
	"pg_control version number:            1300\n"
	"Catalog version number:               202209061\n"
	"Database system identifier:           7310123456789012345\n"
	"Database cluster state:               in production\n"
	"pg_control last modified:             Wed 26 Nov 2026 09:41:00 AM UTC\n"
	"Latest checkpoint location:           0/3000028\n"
	"Latest checkpoint's TimeLineID:       3\n"
	"Latest checkpoint's PrevTimeLineID:   2\n"
	"wal_level setting:                    replica\n"
	"wal_log_hints setting:                on\n"
	"Data page checksum version:           1\n";

static void test_dir_state_names(void **state)
{
	(void)state;
	assert_string_equal(observe_dir_state_name(DIR_UNKNOWN), "unknown");
	assert_string_equal(observe_dir_state_name(DIR_ABSENT), "absent");
	assert_string_equal(observe_dir_state_name(DIR_EMPTY), "empty");
	assert_string_equal(observe_dir_state_name(DIR_INITIALIZED), "initialized");
	assert_string_equal(observe_dir_state_name(DIR_FOREIGN), "foreign");
}

static void test_controldata(void **state)
{
	PgcArena *a = arena_new();
	PgcObsNode n = {0};

	(void)state;
	assert_int_equal(observe_parse_controldata(a, controldata, &n), 0);
	assert_true(n.system_identifier == UINT64_C(7310123456789012345));
	assert_int_equal(n.timeline, 3);
	assert_string_equal(n.cluster_state, "in production");
	assert_true(n.data_checksums);
	assert_true(n.wal_log_hints);
	arena_free(a);
}

static void test_controldata_checksums_off(void **state)
{
	PgcArena *a = arena_new();
	PgcObsNode n = {0};

	(void)state;
	assert_int_equal(observe_parse_controldata(a,
						   "Database system identifier:  42\n"
						   "Database cluster state:  shut down in recovery\n"
						   "Data page checksum version:           0\n"
						   "wal_log_hints setting:                off\n",
						   &n),
			 0);
	assert_true(n.system_identifier == 42);
	assert_string_equal(n.cluster_state, "shut down in recovery");
	assert_false(n.data_checksums);
	assert_false(n.wal_log_hints);
	assert_int_equal(n.timeline, 0);
	arena_free(a);
}

static void test_controldata_garbage(void **state)
{
	PgcArena *a = arena_new();
	PgcObsNode n = {0};

	(void)state;
	assert_int_equal(observe_parse_controldata(a, "pg_controldata: error: could not open\n", &n),
			 -1);
	assert_int_equal(observe_parse_controldata(a, "Database system identifier: 12abc\n", &n), -1);
	assert_true(n.system_identifier == 0);
	assert_int_equal(observe_parse_controldata(a, NULL, &n), -1);
	arena_free(a);
}

static void test_conf_includes(void **state)
{
	const char *dir = "/srv/pg/main";

	(void)state;
	assert_true(observe_conf_includes("include 'pgconverge.conf'\n", dir));
	assert_true(observe_conf_includes("max_connections = 100\ninclude 'pgconverge.conf'", dir));
	assert_true(observe_conf_includes("  INCLUDE = 'pgconverge.conf'   # managed\n", dir));
	assert_true(observe_conf_includes("include pgconverge.conf\n", dir));
	assert_true(observe_conf_includes("include '/srv/pg/main/pgconverge.conf'\n", dir));
	assert_false(observe_conf_includes("#include 'pgconverge.conf'\n", dir));
	assert_false(observe_conf_includes("# include 'pgconverge.conf'\n", dir));
	assert_false(observe_conf_includes("include_if_exists 'pgconverge.conf'\n", dir));
	assert_false(observe_conf_includes("include 'other.conf'\n", dir));
	assert_false(observe_conf_includes("include '/elsewhere/pgconverge.conf'\n", dir));
	assert_false(observe_conf_includes("work_mem = '4MB' # include 'pgconverge.conf'\n", dir));
	assert_false(observe_conf_includes("", dir));
	assert_false(observe_conf_includes(NULL, dir));
}

static void test_pidfile(void **state)
{
	(void)state;
	assert_int_equal(observe_parse_pidfile("12345\n/srv/pg/main\n1764150000\n5432\n"), 12345);
	assert_int_equal(observe_parse_pidfile("777"), 777);
	assert_int_equal(observe_parse_pidfile(""), 0);
	assert_int_equal(observe_parse_pidfile("-5\n"), 0);
	assert_int_equal(observe_parse_pidfile("12x\n"), 0);
	assert_int_equal(observe_parse_pidfile(NULL), 0);
}

static void test_verify_scram(void **state)
{
	(void)state;
	assert_int_equal(observe_verify_password(SCRAM_CORRECT_HORSE, "r1", "correct horse"), 1);
	assert_int_equal(observe_verify_password(SCRAM_CORRECT_HORSE, "r1", "correct horse "), 0);
	assert_int_equal(observe_verify_password(SCRAM_CORRECT_HORSE, "r1", ""), 0);
	/* The role name is not part of a SCRAM verifier. */
	assert_int_equal(observe_verify_password(SCRAM_CORRECT_HORSE, "other", "correct horse"), 1);
}

static void test_verify_scram_non_ascii(void **state)
{
	(void)state;
	assert_int_equal(observe_verify_password(SCRAM_PASSWORT_UMLAUTS, "r3",
						 "p\xc3\xa4ssw\xc3\xb6rd"),
			 1);
	/* A differing non-ASCII password might only differ before SASLprep: unknown. */
	assert_int_equal(observe_verify_password(SCRAM_PASSWORT_UMLAUTS, "r3", "p\xc3\xa4ss"), -1);
	/* An ASCII one is certain. */
	assert_int_equal(observe_verify_password(SCRAM_PASSWORT_UMLAUTS, "r3", "passwort"), 0);
}

static void test_verify_md5(void **state)
{
	(void)state;
	assert_int_equal(observe_verify_password(MD5_R2_OLD_PW, "r2", "old-pw"), 1);
	assert_int_equal(observe_verify_password(MD5_R2_OLD_PW, "r2", "new-pw"), 0);
	/* md5 salts with the role name. */
	assert_int_equal(observe_verify_password(MD5_R2_OLD_PW, "r1", "old-pw"), 0);
}

static void test_verify_malformed(void **state)
{
	(void)state;
	assert_int_equal(observe_verify_password("plain", "r", "plain"), -1);
	assert_int_equal(observe_verify_password("SCRAM-SHA-256$4096:!!$x:y", "r", "p"), -1);
	assert_int_equal(observe_verify_password("SCRAM-SHA-256$0:KKK2RCnQSOXAkbXvi3whPA==$a:b", "r",
						 "p"),
			 -1);
	/* A verifier asking for absurd work is not computed. */
	assert_int_equal(observe_verify_password("SCRAM-SHA-256$999999999:KKK2RCnQSOXAkbXvi3whPA=="
						 "$DXKq6GgNqGSYxGJvx1TRDWu+bUDohg6VzZC2L9d5UVQ=:"
						 "+CF8OMi2ezZPBnyvju9xLKpjD3YLoBXJiyL5BiA8GWo=",
						 "r1", "correct horse"),
			 -1);
	assert_int_equal(observe_verify_password("md5abc", "r", "p"), 0);
	assert_int_equal(observe_verify_password(NULL, "r", "p"), -1);
	assert_int_equal(observe_verify_password(SCRAM_CORRECT_HORSE, "r", NULL), -1);
}

static void test_conninfo_upstream(void **state)
{
	PgcArena *a = arena_new();
	const char *host;
	int port;

	(void)state;
	assert_int_equal(observe_conninfo_upstream(a, "host=10.0.0.5 port=5433 user=replicator "
						      "application_name=pg2",
						   &host, &port),
			 0);
	assert_string_equal(host, "10.0.0.5");
	assert_int_equal(port, 5433);
	assert_int_equal(observe_conninfo_upstream(a, "host='db one' user=r", &host, &port), 0);
	assert_string_equal(host, "db one");
	assert_int_equal(port, 5432);
	assert_int_equal(observe_conninfo_upstream(a, "postgresql://r@db2:6000/postgres", &host,
						   &port),
			 0);
	assert_string_equal(host, "db2");
	assert_int_equal(port, 6000);
	assert_int_equal(observe_conninfo_upstream(a, "user=r", &host, &port), 0);
	assert_null(host);
	assert_int_equal(observe_conninfo_upstream(a, "host='unterminated", &host, &port), -1);
	assert_null(host);
	arena_free(a);
}

static void test_conninfo_redact(void **state)
{
	PgcArena *a = arena_new();
	const char *plain = "host=10.0.0.5 port=5433 user=replicator passfile=/x/pgpass";
	const char *r, *host;
	int port;

	(void)state;
	/* Without a password the value is kept byte for byte (the planner compares it). */
	assert_string_equal(observe_conninfo_redact(a, plain), plain);
	r = observe_conninfo_redact(a, "host=10.0.0.5 port=5433 user=replicator password=s3cr3t");
	assert_null(strstr(r, "s3cr3t"));
	assert_non_null(strstr(r, "password='********'"));
	assert_non_null(strstr(r, "user='replicator'"));
	assert_int_equal(observe_conninfo_upstream(a, r, &host, &port), 0);
	assert_string_equal(host, "10.0.0.5");
	assert_int_equal(port, 5433);
	r = observe_conninfo_redact(a, "password='it''s");
	assert_null(strstr(r, "it"));
	assert_null(observe_conninfo_redact(a, NULL));
	arena_free(a);
}

/* sample - an observed model with one cluster of two nodes, built by hand. */
static PgcObserved *sample(void)
{
	PgcArena *a = arena_new();
	PgcObserved *o = arena_alloc(a, sizeof *o);
	PgcObsNode *n;
	static const char *members[] = {"app"};
	static const char *exts[] = {"pg_trgm", "plpgsql"};

	o->arena = a;
	o->observed_at = "2026-11-26T09:41:00Z";
	o->n_clusters = 1;
	o->clusters = arena_calloc(a, 1, sizeof *o->clusters);
	o->clusters[0].name = "main";
	o->clusters[0].n_nodes = 2;
	o->clusters[0].nodes = n = arena_calloc(a, 2, sizeof *n);

	n[0].name = "pg1";
	n[0].cluster = "main";
	n[0].local = true;
	n[0].dir_state = DIR_INITIALIZED;
	n[0].pg_version_major = 15;
	/* Above 2^53: a JSON number would lose it. */
	n[0].system_identifier = UINT64_C(7310123456789012345);
	n[0].timeline = 1;
	n[0].cluster_state = "in production";
	n[0].data_checksums = true;
	n[0].include_line = true;
	n[0].managed_conf = "port = 5432\n";
	n[0].hba_conf = "local all postgres peer\n";
	n[0].postmaster_pid = 4242;
	n[0].postmaster_alive = true;
	n[0].reachable = true;
	n[0].server_version_num = 150010;
	n[0].current_lsn = "0/3000060";
	n[0].wal_receiver_last_msg_age_s = -1;
	n[0].n_settings = 2;
	n[0].settings = arena_calloc(a, 2, sizeof *n[0].settings);
	n[0].settings[0] = (PgcObsSetting){"shared_buffers", "6144", "8kB", "6144", "configuration file",
					   "/srv/pg1/pgconverge.conf", "postmaster", false};
	n[0].settings[1] = (PgcObsSetting){"work_mem", "4096", "kB", "4096", "default", NULL, "user",
					   true};
	n[0].n_auto_conf = 1;
	n[0].auto_conf = arena_calloc(a, 1, sizeof *n[0].auto_conf);
	n[0].auto_conf[0] = (PgcObsAutoConf){"work_mem", "16MB"};
	n[0].n_hba = 1;
	n[0].hba = arena_calloc(a, 1, sizeof *n[0].hba);
	n[0].hba[0] = (PgcObsHbaRule){1, "local", "all", "postgres", NULL, NULL, "peer", NULL, NULL};
	n[0].n_roles = 2;
	n[0].roles = arena_calloc(a, 2, sizeof *n[0].roles);
	n[0].roles[0] = (PgcObsRole){.name = "app", .login = true, .connection_limit = -1,
				     .has_password = true, .password_matches = 1};
	n[0].roles[1] = (PgcObsRole){.name = "other", .login = true, .connection_limit = 5,
				     .member_of = members, .n_member_of = 1,
				     .has_password = false, .password_matches = -1};
	n[0].n_databases = 1;
	n[0].databases = arena_calloc(a, 1, sizeof *n[0].databases);
	n[0].databases[0] = (PgcObsDatabase){"appdb", "app", exts, 2};
	n[0].n_replicas = 1;
	n[0].replicas = arena_calloc(a, 1, sizeof *n[0].replicas);
	n[0].replicas[0] = (PgcObsReplica){"pg2", "127.0.0.1", "streaming", "async", "0/3000060",
					   "0/3000060", "0/3000060", "0/3000060"};
	n[0].n_slots = 1;
	n[0].slots = arena_calloc(a, 1, sizeof *n[0].slots);
	n[0].slots[0] = (PgcObsSlot){"pg2", "physical", true, "0/3000000"};

	n[1].name = "pg2";
	n[1].cluster = "main";
	n[1].local = true;
	n[1].dir_state = DIR_ABSENT;
	n[1].conn_error = "connection to server on socket \"/var/run/postgresql/.s.PGSQL.5433\" "
			  "failed: No such file or directory";
	/* Not UTF-8: must still come out as a string. */
	n[1].hba_conf = "# caf\xe9\n";
	n[1].wal_receiver_last_msg_age_s = 0.25;
	n[1].upstream_host = "127.0.0.1";
	n[1].upstream_port = 5432;
	return o;
}

static void test_json_node(void **state)
{
	PgcObserved *o = sample();
	json_t *j = observe_to_json(o), *n, *s, *r;

	(void)state;
	assert_string_equal(json_string_value(json_object_get(j, "observed_at")),
			    "2026-11-26T09:41:00Z");
	assert_string_equal(
		json_string_value(json_object_get(json_array_get(json_object_get(j, "clusters"), 0),
						  "name")),
		"main");
	n = json_array_get(json_object_get(json_array_get(json_object_get(j, "clusters"), 0), "nodes"),
			   0);
	assert_string_equal(json_string_value(json_object_get(n, "name")), "pg1");
	assert_string_equal(json_string_value(json_object_get(n, "dir_state")), "initialized");
	assert_string_equal(json_string_value(json_object_get(n, "system_identifier")),
			    "7310123456789012345");
	assert_int_equal(json_integer_value(json_object_get(n, "timeline")), 1);
	assert_true(json_is_true(json_object_get(n, "data_checksums")));
	assert_true(json_is_false(json_object_get(n, "wal_log_hints")));
	assert_int_equal(json_integer_value(json_object_get(n, "postmaster_pid")), 4242);
	assert_true(json_is_null(json_object_get(n, "conn_error")));
	assert_true(json_is_null(json_object_get(n, "wal_receiver_last_msg_age_s")));
	assert_true(json_is_null(json_object_get(n, "upstream_port")));
	assert_string_equal(json_string_value(json_object_get(n, "current_lsn")), "0/3000060");

	s = json_array_get(json_object_get(n, "settings"), 0);
	assert_string_equal(json_string_value(json_object_get(s, "name")), "shared_buffers");
	assert_string_equal(json_string_value(json_object_get(s, "normalized")), "6144");
	assert_string_equal(json_string_value(json_object_get(s, "unit")), "8kB");
	assert_true(json_is_false(json_object_get(s, "pending_restart")));
	s = json_array_get(json_object_get(n, "settings"), 1);
	assert_true(json_is_null(json_object_get(s, "sourcefile")));
	assert_true(json_is_true(json_object_get(s, "pending_restart")));
	assert_string_equal(json_string_value(json_object_get(
				    json_array_get(json_object_get(n, "auto_conf"), 0), "value")),
			    "16MB");

	r = json_array_get(json_object_get(n, "roles"), 0);
	assert_true(json_is_true(json_object_get(r, "password_matches")));
	assert_int_equal(json_integer_value(json_object_get(r, "connection_limit")), -1);
	r = json_array_get(json_object_get(n, "roles"), 1);
	assert_true(json_is_null(json_object_get(r, "password_matches")));
	assert_string_equal(json_string_value(json_array_get(json_object_get(r, "member_of"), 0)),
			    "app");
	assert_int_equal(json_array_size(json_object_get(
				 json_array_get(json_object_get(n, "databases"), 0), "extensions")),
			 2);
	assert_string_equal(json_string_value(json_object_get(
				    json_array_get(json_object_get(n, "hba"), 0), "auth_method")),
			    "peer");
	assert_true(json_is_null(
		json_object_get(json_array_get(json_object_get(n, "hba"), 0), "address")));
	assert_string_equal(json_string_value(json_object_get(
				    json_array_get(json_object_get(n, "replicas"), 0), "state")),
			    "streaming");
	assert_true(json_is_true(
		json_object_get(json_array_get(json_object_get(n, "slots"), 0), "active")));
	json_decref(j);
	observe_free(o);
}

static void test_json_unreachable_node(void **state)
{
	PgcObserved *o = sample();
	json_t *j = observe_to_json(o), *n;

	(void)state;
	n = json_array_get(json_object_get(json_array_get(json_object_get(j, "clusters"), 0), "nodes"),
			   1);
	assert_string_equal(json_string_value(json_object_get(n, "dir_state")), "absent");
	assert_true(json_is_false(json_object_get(n, "reachable")));
	assert_non_null(strstr(json_string_value(json_object_get(n, "conn_error")), ".s.PGSQL.5433"));
	assert_true(json_is_null(json_object_get(n, "system_identifier")));
	assert_int_equal(json_array_size(json_object_get(n, "settings")), 0);
	assert_int_equal(json_array_size(json_object_get(n, "roles")), 0);
	/* The byte that is not UTF-8 became U+FFFD; the rest is kept. */
	assert_string_equal(json_string_value(json_object_get(n, "hba_conf")), "# caf\xef\xbf\xbd\n");
	assert_true(json_real_value(json_object_get(n, "wal_receiver_last_msg_age_s")) == 0.25);
	assert_int_equal(json_integer_value(json_object_get(n, "upstream_port")), 5432);
	json_decref(j);
	observe_free(o);
}

static void test_fingerprint(void **state)
{
	PgcObserved *o = sample();
	const PgcObsNode *n1 = &o->clusters[0].nodes[0];
	PgcObsNode changed = *n1, empty = {0};
	json_t *j;
	const char *fp;

	(void)state;
	/* sha256("port = 5432\n" NUL "local all postgres peer\n") */
	fp = observe_fingerprint(o, n1);
	assert_string_equal(fp, "7310123456789012345:1:"
				"ddf5e28904ea404f1be37d8d5ce5d17b5ce80c07cc21d35f3cc4394e6f0fda18");
	j = observe_to_json(o);
	assert_string_equal(json_string_value(json_object_get(
				    json_array_get(json_object_get(json_array_get(
							   json_object_get(j, "clusters"), 0),
						   "nodes"),
						   0),
				    "fingerprint")),
			    fp);
	json_decref(j);
	/* Nothing known: zeros and the digest of the separator alone. */
	assert_string_equal(observe_fingerprint(o, &empty),
			    "0:0:6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d");
	/* Moving a line from one file to the other changes it. */
	changed.managed_conf = "port = 5432\nlocal all postgres peer\n";
	changed.hba_conf = "";
	assert_string_not_equal(observe_fingerprint(o, &changed), fp);
	changed = *n1;
	changed.timeline = 2;
	assert_memory_equal(observe_fingerprint(o, &changed), "7310123456789012345:2:", 22);
	observe_free(o);
}

static void test_lookups(void **state)
{
	PgcObserved *o = sample();
	const PgcObsNode *n;

	(void)state;
	n = observe_node_find(o, "main", "pg2");
	assert_ptr_equal(n, &o->clusters[0].nodes[1]);
	assert_null(observe_node_find(o, "main", "pg9"));
	assert_null(observe_node_find(o, "other", "pg1"));
	n = observe_node_find(o, "main", "pg1");
	assert_string_equal(obs_setting(n, "Shared_Buffers")->normalized, "6144");
	assert_null(obs_setting(n, "max_connections"));
	assert_null(obs_setting(NULL, "work_mem"));
	observe_free(o);
	observe_free(NULL);
}

/* The clone marker sits beside the data directory and names it exactly. */
static void test_clone_marker(void **state)
{
	PgcArena *a = arena_new();

	(void)state;
	assert_string_equal(observe_clone_marker_path(a, "/srv/pg/main/pg2"),
			    "/srv/pg/main/.pg2.pgconverge-clone");
	assert_string_equal(observe_clone_marker_path(a, "/srv/pg/main/pg2/"),
			    "/srv/pg/main/.pg2.pgconverge-clone");
	assert_string_equal(observe_clone_marker_path(a, "pg2"), ".pg2.pgconverge-clone");
	assert_true(observe_clone_marker_names("pid=12\ndata_dir=/srv/pg/main/pg2\n",
					       "/srv/pg/main/pg2"));
	assert_true(observe_clone_marker_names("data_dir=/srv/pg/main/pg2", "/srv/pg/main/pg2"));
	/* Another folder, a prefix of it, or no line at all: not this one. */
	assert_false(observe_clone_marker_names("data_dir=/srv/pg/main/pg22\n", "/srv/pg/main/pg2"));
	assert_false(observe_clone_marker_names("data_dir=/srv/pg/main\n", "/srv/pg/main/pg2"));
	assert_false(observe_clone_marker_names("", "/srv/pg/main/pg2"));
	assert_false(observe_clone_marker_names(NULL, "/srv/pg/main/pg2"));
	arena_free(a);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_dir_state_names),
		cmocka_unit_test(test_controldata),
		cmocka_unit_test(test_controldata_checksums_off),
		cmocka_unit_test(test_controldata_garbage),
		cmocka_unit_test(test_conf_includes),
		cmocka_unit_test(test_pidfile),
		cmocka_unit_test(test_verify_scram),
		cmocka_unit_test(test_verify_scram_non_ascii),
		cmocka_unit_test(test_verify_md5),
		cmocka_unit_test(test_verify_malformed),
		cmocka_unit_test(test_conninfo_upstream),
		cmocka_unit_test(test_conninfo_redact),
		cmocka_unit_test(test_json_node),
		cmocka_unit_test(test_json_unreachable_node),
		cmocka_unit_test(test_fingerprint),
		cmocka_unit_test(test_lookups),
		cmocka_unit_test(test_clone_marker),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
