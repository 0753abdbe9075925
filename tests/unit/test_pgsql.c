/*
 * tests/unit/test_pgsql.c - the connection-free parts of reconcile/pg/pgsql.c:
 * identifier and literal quoting, conninfo building, error reporting
 * without a server. Queries against a live server (timeouts, cancel) are
 * checked by tests/integration/test_observe.sh.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/log.h"
#include "reconcile/pg/pgsql.h"

static void test_quote_ident_bare(void **state)
{
	PgcArena *a = arena_new();

	(void)state;
	assert_string_equal(pgsql_quote_ident(a, "app"), "app");
	assert_string_equal(pgsql_quote_ident(a, "_x1"), "_x1");
	assert_string_equal(pgsql_quote_ident(a, "app_db2"), "app_db2");
	/* Unreserved keywords stay bare, as quote_ident() leaves them. */
	assert_string_equal(pgsql_quote_ident(a, "name"), "name");
	assert_string_equal(pgsql_quote_ident(a, "replication"), "replication");
	assert_string_equal(pgsql_quote_ident(a, "password"), "password");
	arena_free(a);
}

static void test_quote_ident_quoted(void **state)
{
	PgcArena *a = arena_new();

	(void)state;
	assert_string_equal(pgsql_quote_ident(a, "App"), "\"App\"");
	assert_string_equal(pgsql_quote_ident(a, "my-db"), "\"my-db\"");
	assert_string_equal(pgsql_quote_ident(a, "1abc"), "\"1abc\"");
	assert_string_equal(pgsql_quote_ident(a, "a\"b"), "\"a\"\"b\"");
	assert_string_equal(pgsql_quote_ident(a, ""), "\"\"");
	assert_string_equal(pgsql_quote_ident(a, "caf\xc3\xa9"), "\"caf\xc3\xa9\"");
	assert_string_equal(pgsql_quote_ident(a, "two words"), "\"two words\"");
	/* Reserved, type/function-name and column-name keywords. */
	assert_string_equal(pgsql_quote_ident(a, "user"), "\"user\"");
	assert_string_equal(pgsql_quote_ident(a, "select"), "\"select\"");
	assert_string_equal(pgsql_quote_ident(a, "int"), "\"int\"");
	assert_string_equal(pgsql_quote_ident(a, "verbose"), "\"verbose\"");
	assert_string_equal(pgsql_quote_ident(a, "xmltable"), "\"xmltable\"");
	arena_free(a);
}

static void test_is_keyword(void **state)
{
	(void)state;
	assert_true(pgsql_is_keyword("all"));
	assert_true(pgsql_is_keyword("xmltable"));
	assert_true(pgsql_is_keyword("current_user"));
	assert_false(pgsql_is_keyword("ALL"));
	assert_false(pgsql_is_keyword("role"));
	assert_false(pgsql_is_keyword(""));
	assert_false(pgsql_is_keyword(NULL));
}

static void test_quote_literal(void **state)
{
	PgcArena *a = arena_new();

	(void)state;
	assert_string_equal(pgsql_quote_literal(a, "abc"), "'abc'");
	assert_string_equal(pgsql_quote_literal(a, "it's"), "'it''s'");
	assert_string_equal(pgsql_quote_literal(a, ""), "''");
	assert_string_equal(pgsql_quote_literal(a, "a\\b'c"), "E'a\\\\b''c'");
	assert_string_equal(pgsql_quote_literal(a, NULL), "''");
	arena_free(a);
}

static void test_conninfo(void **state)
{
	PgcArena *a = arena_new();

	(void)state;
	assert_string_equal(pgsql_conninfo_local(a, 25432, "postgres", NULL),
			    "host='/var/run/postgresql' port=25432 user='postgres' dbname='postgres' "
			    "connect_timeout=3 tcp_user_timeout=10000 application_name=pgconverge client_encoding=UTF8");
	assert_string_equal(pgsql_conninfo_socket(a, "/tmp/s", 5432, "pg", "app db"),
			    "host='/tmp/s' port=5432 user='pg' dbname='app db' connect_timeout=3 "
			    "tcp_user_timeout=10000 application_name=pgconverge client_encoding=UTF8");
	assert_string_equal(pgsql_conninfo_tcp(a, "10.0.0.5", 6000, "o'neil", "appdb"),
			    "host='10.0.0.5' port=6000 user='o\\'neil' dbname='appdb' "
			    "connect_timeout=3 tcp_user_timeout=10000 application_name=pgconverge client_encoding=UTF8");
	assert_string_equal(pgsql_conninfo_value(a, "a\\b'c"), "'a\\\\b\\'c'");
	assert_string_equal(pgsql_conninfo_value(a, ""), "''");
	arena_free(a);
}

static void test_connect_refused(void **state)
{
	char err[512];
	PGconn *c;

	(void)state;
	/* A socket folder that does not exist: libpq's own reason, first line. */
	c = pgsql_connect("host=/nonexistent/pgc port=5 dbname=x connect_timeout=1", 2, err,
			  sizeof err);
	assert_null(c);
	assert_string_equal(err, "connection to server on socket \"/nonexistent/pgc/.s.PGSQL.5\" "
				 "failed: No such file or directory");
	c = pgsql_connect("port=notanumber_and=broken ='", 1, err, sizeof err);
	assert_null(c);
	assert_true(err[0] != '\0');
	/* err may be omitted. */
	assert_null(pgsql_connect("host=/nonexistent/pgc port=5", 1, NULL, 0));
}

static void test_query_without_connection(void **state)
{
	PgcPgError e;
	PGresult *r = (PGresult *)1;
	char *log;

	(void)state;
	assert_int_equal(pgsql_query(NULL, "SELECT 1", 0, NULL, 100, &r, &e), -1);
	assert_null(r);
	assert_string_equal(e.sqlstate, "08006");
	assert_string_equal(e.message, "no connection");
	assert_true(e.conn_bad);
	assert_false(e.timed_out);
	assert_string_equal(pgsql_last_sqlstate(), "08006");
	assert_string_equal(pgsql_last_error(), "no connection");

	log_capture_begin();
	assert_int_equal(pgsql_exec(NULL, "SELECT 1", 0, NULL, 100, NULL), -1);
	log = log_capture_end();
	assert_string_equal(log, "error: query failed: no connection (SQLSTATE 08006)\n");
	free(log);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_quote_ident_bare),
		cmocka_unit_test(test_quote_ident_quoted),
		cmocka_unit_test(test_is_keyword),
		cmocka_unit_test(test_quote_literal),
		cmocka_unit_test(test_conninfo),
		cmocka_unit_test(test_connect_refused),
		cmocka_unit_test(test_query_without_connection),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
