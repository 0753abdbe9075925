/*
 * tests/unit/test_pgcatalog.c - the parameter catalog: lookups, suggestions
 * and value normalisation against PostgreSQL 15's rules.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <cmocka.h>

#include "schema/pgcatalog.h"

/* The generated tables, to walk every parameter of a version. */
extern const size_t pgc_catalog_nversions;
extern const int pgc_catalog_majors[];
extern const PgcParam *const pgc_catalog_params[];
extern const size_t pgc_catalog_counts[];

static const PgcParam *param(const char *name)
{
	const PgcParam *p = pgcatalog_lookup(15, name);

	if (p == NULL)
		fail_msg("\"%s\" is not in the catalog for 15", name);
	return p;
}

/* ok - asserts that value normalises to want. */
#define ok(name, value, want)                                                                  \
	do {                                                                                   \
		char out_[256], err_[256];                                                     \
		int rc_ = pgparam_normalize(param(name), (value), out_, sizeof out_, err_,     \
					    sizeof err_);                                      \
		if (rc_ != 0)                                                                  \
			fail_msg("%s = \"%s\": %s", (name), (value), err_);                   \
		assert_string_equal(out_, (want));                                             \
	} while (0)

/* bad - asserts that value is refused with exactly the message want. */
#define bad(name, value, want)                                                                 \
	do {                                                                                   \
		char out_[256], err_[512];                                                     \
		int rc_ = pgparam_normalize(param(name), (value), out_, sizeof out_, err_,     \
					    sizeof err_);                                      \
		if (rc_ != -1)                                                                 \
			fail_msg("%s = \"%s\" was accepted as \"%s\"", (name), (value), out_);  \
		assert_string_equal(err_, (want));                                             \
	} while (0)

static void test_versions(void **state)
{
	(void)state;
	assert_true(pgcatalog_has_version(15));
	assert_false(pgcatalog_has_version(14));
	assert_false(pgcatalog_has_version(0));
	assert_string_equal(pgcatalog_versions(), "15");
	assert_null(pgcatalog_lookup(14, "shared_buffers"));
	assert_null(pgcatalog_suggest(14, "shared_bufers"));
}

static void test_lookup(void **state)
{
	const PgcParam *p;

	(void)state;
	p = param("shared_buffers");
	assert_string_equal(p->name, "shared_buffers");
	assert_int_equal(p->type, PGP_INTEGER);
	assert_int_equal(p->context, PGP_CTX_POSTMASTER);
	assert_string_equal(p->unit, "8kB");
	assert_true(p->min == 16 && p->max == 1073741823);
	assert_string_equal(p->boot_val, "16384");
	assert_null(p->enumvals);

	p = param("work_mem");
	assert_string_equal(p->unit, "kB");
	assert_int_equal(p->context, PGP_CTX_USER);
	assert_true(p->min == 64 && p->max == 2147483647);

	p = param("checkpoint_timeout");
	assert_string_equal(p->unit, "s");
	assert_int_equal(p->context, PGP_CTX_SIGHUP);
	assert_true(p->min == 30 && p->max == 86400);
	assert_string_equal(p->boot_val, "300");

	p = param("log_min_duration_statement");
	assert_string_equal(p->unit, "ms");
	assert_true(p->min == -1);
	assert_int_equal(p->context, PGP_CTX_SUPERUSER);

	p = param("max_connections");
	assert_null(p->unit);
	assert_true(p->min == 1 && p->max == 262143);
	assert_string_equal(p->boot_val, "100");

	p = param("wal_level");
	assert_int_equal(p->type, PGP_ENUM);
	assert_non_null(p->enumvals);
	assert_string_equal(p->enumvals[0], "minimal");
	assert_string_equal(p->enumvals[1], "replica");
	assert_string_equal(p->enumvals[2], "logical");
	assert_null(p->enumvals[3]);

	p = param("random_page_cost");
	assert_int_equal(p->type, PGP_REAL);
	assert_null(p->unit);
	p = param("vacuum_cost_delay");
	assert_int_equal(p->type, PGP_REAL);
	assert_string_equal(p->unit, "ms");
	assert_int_equal(param("fsync")->type, PGP_BOOL);
	assert_int_equal(param("search_path")->type, PGP_STRING);
	assert_string_equal(param("search_path")->boot_val, "\"$user\", public");
	assert_string_equal(param("log_line_prefix")->boot_val, "%m [%p] ");
	assert_int_equal(param("log_connections")->context, PGP_CTX_SUPERUSER_BACKEND);
	assert_int_equal(param("post_auth_delay")->context, PGP_CTX_BACKEND);
	/* Settable although --describe-config hides it. */
	assert_int_equal(param("application_name")->type, PGP_STRING);

	assert_null(pgcatalog_lookup(15, "no_such_parameter"));
	assert_null(pgcatalog_lookup(15, ""));
	assert_null(pgcatalog_lookup(15, NULL));
	/* Preset values are not settings. */
	assert_null(pgcatalog_lookup(15, "server_version"));
	assert_null(pgcatalog_lookup(15, "block_size"));
	/* Reset by every transaction: postgresql.conf cannot set them. */
	assert_null(pgcatalog_lookup(15, "transaction_isolation"));
	assert_null(pgcatalog_lookup(15, "config_file"));
}

static void test_lookup_case(void **state)
{
	(void)state;
	assert_ptr_equal(pgcatalog_lookup(15, "SHARED_BUFFERS"), param("shared_buffers"));
	assert_ptr_equal(pgcatalog_lookup(15, "Work_Mem"), param("work_mem"));
	/* Names the server spells in mixed case. */
	assert_string_equal(param("datestyle")->name, "DateStyle");
	assert_string_equal(param("TIMEZONE")->name, "TimeZone");
	assert_string_equal(param("intervalstyle")->name, "IntervalStyle");
}

/* Every entry is found by its own name, in any case: the order is right. */
static void test_lookup_every_param(void **state)
{
	size_t v;

	(void)state;
	for (v = 0; v < pgc_catalog_nversions && pgc_catalog_majors[v] != 15; v++)
		;
	assert_true(v < pgc_catalog_nversions);
	assert_true(pgc_catalog_counts[v] > 300);
	for (size_t i = 0; i < pgc_catalog_counts[v]; i++) {
		const PgcParam *p = &pgc_catalog_params[v][i];
		char upper[128];
		size_t n = strlen(p->name);

		assert_true(n < sizeof upper);
		for (size_t j = 0; j <= n; j++)
			upper[j] = (char)(p->name[j] >= 'a' && p->name[j] <= 'z' ?
						  p->name[j] - 'a' + 'A' : p->name[j]);
		assert_ptr_equal(pgcatalog_lookup(15, p->name), p);
		assert_ptr_equal(pgcatalog_lookup(15, upper), p);
		if (i > 0)
			assert_true(strcasecmp(pgc_catalog_params[v][i - 1].name, p->name) < 0);
	}
}

/* Every boot value is valid and its canonical form is a fixed point. */
static void test_boot_values_normalise(void **state)
{
	size_t v;

	(void)state;
	for (v = 0; v < pgc_catalog_nversions && pgc_catalog_majors[v] != 15; v++)
		;
	assert_true(v < pgc_catalog_nversions);
	for (size_t i = 0; i < pgc_catalog_counts[v]; i++) {
		const PgcParam *p = &pgc_catalog_params[v][i];
		char once[256], twice[256], err[256];

		if (pgparam_normalize(p, p->boot_val, once, sizeof once, err, sizeof err) != 0)
			fail_msg("boot value of \"%s\" (\"%s\"): %s", p->name, p->boot_val, err);
		if (pgparam_normalize(p, once, twice, sizeof twice, err, sizeof err) != 0)
			fail_msg("canonical value of \"%s\" (\"%s\"): %s", p->name, once, err);
		assert_string_equal(once, twice);
	}
}

static void test_suggest(void **state)
{
	(void)state;
	assert_string_equal(pgcatalog_suggest(15, "shared_bufers"), "shared_buffers");
	assert_string_equal(pgcatalog_suggest(15, "max_conections"), "max_connections");
	assert_string_equal(pgcatalog_suggest(15, "shared_bufefrs"), "shared_buffers");
	assert_string_equal(pgcatalog_suggest(15, "SHARED_BUFERS"), "shared_buffers");
	assert_string_equal(pgcatalog_suggest(15, "wal_levle"), "wal_level");
	assert_string_equal(pgcatalog_suggest(15, "checkpoint_timout"), "checkpoint_timeout");
	assert_string_equal(pgcatalog_suggest(15, "effective_cache"), "effective_cache_size");
	assert_string_equal(pgcatalog_suggest(15, "datestyle"), "DateStyle");
	assert_null(pgcatalog_suggest(15, "completely_unrelated"));
	assert_null(pgcatalog_suggest(15, "xyz"));
	assert_null(pgcatalog_suggest(15, ""));
	assert_null(pgcatalog_suggest(15, NULL));
}

static void test_context(void **state)
{
	(void)state;
	assert_true(pgparam_needs_restart(param("shared_buffers")));
	assert_true(pgparam_needs_restart(param("wal_level")));
	assert_false(pgparam_needs_restart(param("work_mem")));
	assert_false(pgparam_needs_restart(param("checkpoint_timeout")));
	assert_string_equal(pgcatalog_context_name(PGP_CTX_POSTMASTER), "postmaster");
	assert_string_equal(pgcatalog_context_name(PGP_CTX_SIGHUP), "sighup");
	assert_string_equal(pgcatalog_context_name(PGP_CTX_SUPERUSER_BACKEND),
			    "superuser-backend");
	assert_string_equal(pgcatalog_context_name(PGP_CTX_USER), "user");
	assert_string_equal(pgcatalog_context_name(PGP_CTX_INTERNAL), "internal");
}

static void test_memory_units(void **state)
{
	(void)state;
	ok("shared_buffers", "256MB", "32768");
	ok("shared_buffers", "1GB", "131072");
	ok("shared_buffers", "1024MB", "131072");
	ok("shared_buffers", "1048576kB", "131072");
	ok("shared_buffers", "1073741824B", "131072");
	ok("shared_buffers", "1 GB", "131072");
	ok("shared_buffers", " 1GB ", "131072");
	ok("shared_buffers", "1.5GB", "196608");
	ok("shared_buffers", "1TB", "134217728");
	ok("shared_buffers", "128kB", "16");
	/* pg_settings reports 8kB blocks: the same canonical text. */
	ok("shared_buffers", "32768", "32768");
	ok("shared_buffers", "16384", "16384");
	ok("work_mem", "64MB", "65536");
	ok("work_mem", "4096", "4096");
	ok("work_mem", "1GB", "1048576");
	ok("work_mem", "4MB", "4096");
	ok("max_wal_size", "1GB", "1024");
	ok("max_wal_size", "2048kB", "2");
	ok("track_activity_query_size", "1kB", "1024");
	ok("wal_buffers", "-1", "-1");
	ok("autovacuum_work_mem", "-1", "-1");
	/* Check hooks raise these instead of refusing them. */
	ok("wal_buffers", "1", "4");
	ok("wal_buffers", "0", "4");
	ok("wal_buffers", "64kB", "8");
	ok("autovacuum_work_mem", "512kB", "1024");
	ok("autovacuum_work_mem", "0", "1024");
	ok("autovacuum_work_mem", "64MB", "65536");
}

/* Rounding: to the next smaller unit, then to the nearest integer, ties to even. */
static void test_rounding(void **state)
{
	(void)state;
	ok("effective_cache_size", "12kB", "2");  /* 1.5 blocks */
	ok("effective_cache_size", "20kB", "2");  /* 2.5 blocks */
	ok("effective_cache_size", "28kB", "4");  /* 3.5 blocks */
	ok("effective_cache_size", "130kB", "16"); /* 16.25 blocks */
	ok("work_mem", "0.1MB", "102");           /* 102.4kB -> 102kB */
	ok("work_mem", "1.001GB", "1049600");     /* 1025.024MB -> 1025MB */
	ok("max_wal_size", "1.5GB", "1536");
	ok("max_slot_wal_keep_size", "1000kB", "1"); /* 0.98MB */
	ok("log_rotation_age", "90s", "2");       /* 1.5min */
	ok("log_rotation_age", "150s", "2");      /* 2.5min */
	ok("tcp_keepalives_idle", "1500ms", "2"); /* 1.5s */
	ok("tcp_keepalives_idle", "2500ms", "2"); /* 2.5s */
	ok("log_min_duration_statement", "100us", "0");
	ok("log_min_duration_statement", "1.5s", "1500");
	ok("max_connections", "1.5", "2");
	ok("max_connections", "2.5", "2");
	ok("max_connections", "1e2", "100");
}

static void test_time_units(void **state)
{
	(void)state;
	ok("checkpoint_timeout", "30s", "30");
	ok("checkpoint_timeout", "30", "30");
	ok("checkpoint_timeout", "1h", "3600");
	ok("checkpoint_timeout", "5min", "300");
	ok("checkpoint_timeout", "1d", "86400");
	ok("checkpoint_timeout", "30000ms", "30");
	ok("checkpoint_timeout", "20 min", "1200");
	ok("log_min_duration_statement", "-1", "-1");
	ok("log_min_duration_statement", "250ms", "250");
	ok("log_min_duration_statement", "1s", "1000");
	ok("log_rotation_age", "1d", "1440");
	ok("statement_timeout", "0", "0");
	ok("statement_timeout", "2h", "7200000");
}

static void test_octal_hex(void **state)
{
	(void)state;
	ok("log_file_mode", "0600", "384");
	ok("unix_socket_permissions", "0777", "511");
	ok("unix_socket_permissions", "0x1ff", "511");
	ok("port", "5432", "5432");
}

static void test_integer_errors(void **state)
{
	(void)state;
	bad("shared_buffers", "10",
	    "value 10 is out of range: expected 16 to 1073741823 (8kB units)");
	bad("shared_buffers", "64kB",
	    "value 64kB is out of range: expected 16 to 1073741823 (8kB units)");
	bad("shared_buffers", "16TB",
	    "value 16TB is out of range: expected 16 to 1073741823 (8kB units)");
	bad("shared_buffers", "abc",
	    "invalid value \"abc\": expected an integer with an optional unit "
	    "(B, kB, MB, GB, TB); a plain number is in 8kB units");
	bad("shared_buffers", "",
	    "invalid value \"\": expected an integer with an optional unit "
	    "(B, kB, MB, GB, TB); a plain number is in 8kB units");
	bad("shared_buffers", "10mb",
	    "invalid unit \"mb\" in \"10mb\": expected one of B, kB, MB, GB, TB (case-sensitive)");
	bad("shared_buffers", "1GBs",
	    "invalid unit \"GBs\" in \"1GBs\": expected one of B, kB, MB, GB, TB (case-sensitive)");
	bad("shared_buffers", "1 MB x",
	    "invalid unit \"MB x\" in \"1 MB x\": expected one of B, kB, MB, GB, TB "
	    "(case-sensitive)");
	bad("shared_buffers", "1s",
	    "invalid unit \"s\" in \"1s\": expected one of B, kB, MB, GB, TB (case-sensitive)");
	bad("checkpoint_timeout", "5m",
	    "invalid unit \"m\" in \"5m\": expected one of us, ms, s, min, h, d (case-sensitive)");
	bad("checkpoint_timeout", "1GB",
	    "invalid unit \"GB\" in \"1GB\": expected one of us, ms, s, min, h, d "
	    "(case-sensitive)");
	bad("checkpoint_timeout", "10s",
	    "value 10s is out of range: expected 30 to 86400 (s units)");
	bad("checkpoint_timeout", "2d",
	    "value 2d is out of range: expected 30 to 86400 (s units)");
	bad("checkpoint_timeout", "soon",
	    "invalid value \"soon\": expected an integer with an optional unit "
	    "(us, ms, s, min, h, d); a plain number is in s units");
	bad("log_min_duration_statement", "-2",
	    "value -2 is out of range: expected -1 to 2147483647 (ms units)");
	bad("max_connections", "100MB",
	    "invalid value \"100MB\": expected an integer without a unit");
	bad("max_connections", "12abc", "invalid value \"12abc\": expected an integer");
	bad("max_connections", "abc", "invalid value \"abc\": expected an integer");
	bad("max_connections", "0", "value 0 is out of range: expected 1 to 262143");
	bad("max_connections", "99999999999",
	    "value 99999999999 is out of range: expected 1 to 262143");
	bad("max_connections", "nan", "invalid value \"nan\": expected an integer");
}

static void test_reals(void **state)
{
	(void)state;
	ok("random_page_cost", "1.1", "1.1");
	ok("random_page_cost", "4", "4");
	ok("random_page_cost", "4.0", "4");
	ok("checkpoint_completion_target", "0.9", "0.9");
	ok("cpu_operator_cost", "0.0025", "0.0025");
	ok("jit_above_cost", "-1", "-1");
	/* pg_settings shows reals with %g: six significant digits. */
	ok("random_page_cost", "1.23456789", "1.23457");
	ok("random_page_cost", "1.23457", "1.23457");
	ok("vacuum_cost_delay", "2", "2");
	ok("vacuum_cost_delay", "2ms", "2");
	ok("vacuum_cost_delay", "500us", "0.5");
	ok("vacuum_cost_delay", "0.05s", "50");
	ok("autovacuum_vacuum_cost_delay", "-1", "-1");
	bad("random_page_cost", "abc", "invalid value \"abc\": expected a number");
	bad("random_page_cost", "1MB", "invalid value \"1MB\": expected a number without a unit");
	bad("random_page_cost", "-1",
	    "value -1 is out of range: expected 0 to 1.79769e+308");
	bad("random_page_cost", "nan", "invalid value \"nan\": expected a number");
	bad("random_page_cost", "1e999", "invalid value \"1e999\": expected a number");
	bad("checkpoint_completion_target", "1.5",
	    "value 1.5 is out of range: expected 0 to 1");
	bad("vacuum_cost_delay", "1s", "value 1s is out of range: expected 0 to 100 (ms units)");
	bad("vacuum_cost_delay", "fast",
	    "invalid value \"fast\": expected a number with an optional unit "
	    "(us, ms, s, min, h, d); a plain number is in ms units");
}

static void test_booleans(void **state)
{
	static const char *const on[] = {"on", "ON", "On", "true", "TRUE", "t", "tr", "yes", "y",
					 "Ye", "1", NULL};
	static const char *const off[] = {"off", "OFF", "of", "false", "f", "fal", "no", "n",
					  "NO", "0", NULL};

	(void)state;
	for (size_t i = 0; on[i] != NULL; i++)
		ok("fsync", on[i], "on");
	for (size_t i = 0; off[i] != NULL; i++)
		ok("fsync", off[i], "off");
	bad("fsync", "maybe",
	    "invalid value \"maybe\": expected a boolean (on, off, true, false, yes, no, 1, 0)");
	bad("fsync", "o",
	    "invalid value \"o\": expected a boolean (on, off, true, false, yes, no, 1, 0)");
	bad("fsync", "",
	    "invalid value \"\": expected a boolean (on, off, true, false, yes, no, 1, 0)");
	bad("fsync", "2",
	    "invalid value \"2\": expected a boolean (on, off, true, false, yes, no, 1, 0)");
	bad("fsync", "truex",
	    "invalid value \"truex\": expected a boolean (on, off, true, false, yes, no, 1, 0)");
	bad("fsync", "onn",
	    "invalid value \"onn\": expected a boolean (on, off, true, false, yes, no, 1, 0)");
}

static void test_enums(void **state)
{
	(void)state;
	ok("wal_level", "replica", "replica");
	ok("wal_level", "REPLICA", "replica");
	ok("wal_level", "Logical", "logical");
	ok("wal_level", "hot_standby", "replica");
	ok("default_transaction_isolation", "Read Committed", "read committed");
	ok("synchronous_commit", "remote_apply", "remote_apply");
	ok("synchronous_commit", "true", "on");
	ok("synchronous_commit", "0", "off");
	ok("huge_pages", "TRY", "try");
	ok("huge_pages", "yes", "on");
	ok("client_min_messages", "debug", "debug2");
	ok("log_min_messages", "WARNING", "warning");
	/* The spelling the server shows, not only lowercase. */
	ok("ssl_min_protocol_version", "tlsv1.3", "TLSv1.3");
	ok("ssl_max_protocol_version", "", "");
	/* wal_compression = on means pglz, and the server shows pglz. */
	ok("wal_compression", "on", "pglz");
	ok("wal_compression", "TRUE", "pglz");
	ok("wal_compression", "no", "off");
	ok("wal_compression", "lz4", "lz4");
	/* Hidden message levels. */
	ok("client_min_messages", "info", "info");
	ok("trace_recovery_messages", "INFO", "info");
	ok("log_min_error_statement", "debug", "debug2");
	bad("wal_level", "fast", "invalid value \"fast\": expected one of minimal, replica, logical");
	bad("wal_level", "on", "invalid value \"on\": expected one of minimal, replica, logical");
	bad("wal_level", " replica",
	    "invalid value \" replica\": expected one of minimal, replica, logical");
	bad("synchronous_commit", "t",
	    "invalid value \"t\": expected one of local, remote_write, remote_apply, on, off");
	bad("ssl_max_protocol_version", "TLSv2",
	    "invalid value \"TLSv2\": expected one of \"\", TLSv1, TLSv1.1, TLSv1.2, TLSv1.3");
}

static void test_strings(void **state)
{
	(void)state;
	ok("search_path", "\"$user\", public", "\"$user\", public");
	ok("shared_preload_libraries", "pg_stat_statements", "pg_stat_statements");
	ok("application_name", "", "");
	ok("listen_addresses", "  127.0.0.1 ", "  127.0.0.1 ");
}

/* DateStyle is a string the server rewrites: initdb writes "iso, mdy". */
static void test_datestyle(void **state)
{
	(void)state;
	ok("DateStyle", "iso, mdy", "ISO, MDY");
	ok("datestyle", "ISO,MDY", "ISO, MDY");
	ok("DateStyle", "ISO, MDY", "ISO, MDY");
	ok("DateStyle", "German", "German, DMY");
	ok("DateStyle", "german, ymd", "German, YMD");
	ok("DateStyle", "YMD, German", "German, YMD");
	ok("DateStyle", "sql", "SQL, MDY");
	ok("DateStyle", "Postgresql", "Postgres, MDY");
	ok("DateStyle", "european", "ISO, DMY");
	ok("DateStyle", "nonEuropean", "ISO, MDY");
	ok("DateStyle", "sql, default", "SQL, MDY");
	ok("DateStyle", "", "ISO, MDY");
	bad("DateStyle", "iso, sql",
	    "invalid value \"iso, sql\": expected a style (ISO, SQL, Postgres, German) and an "
	    "order (DMY, MDY, YMD), separated by a comma");
	bad("DateStyle", "iso mdy",
	    "invalid value \"iso mdy\": expected a style (ISO, SQL, Postgres, German) and an "
	    "order (DMY, MDY, YMD), separated by a comma");
	bad("DateStyle", "iso,",
	    "invalid value \"iso,\": expected a style (ISO, SQL, Postgres, German) and an "
	    "order (DMY, MDY, YMD), separated by a comma");
}

static void test_buffers(void **state)
{
	char out[5], out6[6], err[128];

	(void)state;
	assert_int_equal(pgparam_normalize(param("shared_buffers"), "256MB", out, sizeof out,
					   err, sizeof err),
			 -1);
	assert_string_equal(err, "canonical form of \"256MB\" does not fit in 5 bytes");
	assert_string_equal(out, "");
	assert_int_equal(pgparam_normalize(param("shared_buffers"), "1GB", out, sizeof out, NULL,
					   0),
			 -1);
	assert_int_equal(pgparam_normalize(param("shared_buffers"), "10", out, sizeof out, NULL,
					   0),
			 -1);
	/* A short error buffer is truncated, never overrun. */
	assert_int_equal(pgparam_normalize(param("shared_buffers"), "10", out, sizeof out, err, 9),
			 -1);
	assert_string_equal(err, "value 10");
	/* Exactly enough room: five digits and the terminator. */
	assert_int_equal(pgparam_normalize(param("work_mem"), "64MB", out6, sizeof out6, err,
					   sizeof err),
			 0);
	assert_string_equal(out6, "65536");
	assert_int_equal(pgparam_normalize(NULL, "1", out, sizeof out, err, sizeof err), -1);
	assert_string_equal(err, "no value to check");
	assert_int_equal(pgparam_normalize(param("work_mem"), NULL, out, sizeof out, err,
					   sizeof err),
			 -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_versions),
		cmocka_unit_test(test_lookup),
		cmocka_unit_test(test_lookup_case),
		cmocka_unit_test(test_lookup_every_param),
		cmocka_unit_test(test_boot_values_normalise),
		cmocka_unit_test(test_suggest),
		cmocka_unit_test(test_context),
		cmocka_unit_test(test_memory_units),
		cmocka_unit_test(test_rounding),
		cmocka_unit_test(test_time_units),
		cmocka_unit_test(test_octal_hex),
		cmocka_unit_test(test_integer_errors),
		cmocka_unit_test(test_reals),
		cmocka_unit_test(test_booleans),
		cmocka_unit_test(test_enums),
		cmocka_unit_test(test_strings),
		cmocka_unit_test(test_datestyle),
		cmocka_unit_test(test_buffers),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
