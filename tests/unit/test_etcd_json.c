/*
 * tests/unit/test_etcd_json.c - the etcd client's pure half
 * (reconcile/coord/etcd_json.c): base64, prefix range ends, request bodies,
 * and the parsing of replies copied from a real etcd 3.4 gateway.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/arena.h"
#include "reconcile/coord/etcd_json.h"

#define HEADER "\"header\":{\"cluster_id\":\"6001611773266757492\",\"member_id\":\"13049071153751544597\",\"revision\":\"7\",\"raft_term\":\"2\"}"

static json_t *parse_ok(const char *text)
{
	PgcEtcdReplyError err;
	json_t *msg = etcd_reply_parse(text, strlen(text), &err);

	if (msg == NULL)
		fail_msg("reply refused: %s", err.text);
	return msg;
}

static void test_base64_round_trip(void **state)
{
	PgcArena *a = arena_new();
	unsigned char bin[256];
	size_t i, len;
	char *enc, *dec;

	(void)state;
	for (i = 0; i < sizeof(bin); i++)
		bin[i] = (unsigned char)(255 - i);
	/* Every length modulo 3 (padding of 0, 1 and 2). */
	for (i = 0; i <= 5; i++) {
		enc = etcd_b64_encode(bin + 250, i);
		dec = etcd_b64_decode(a, enc, &len);
		assert_non_null(dec);
		assert_int_equal(len, i);
		assert_memory_equal(dec, bin + 250, i);
		assert_int_equal(dec[len], '\0');
		free(enc);
	}
	enc = etcd_b64_encode(bin, sizeof(bin));
	dec = etcd_b64_decode(a, enc, &len);
	assert_int_equal(len, sizeof(bin));
	assert_memory_equal(dec, bin, sizeof(bin));
	free(enc);

	enc = etcd_b64_encode("foo", 3);
	assert_string_equal(enc, "Zm9v");
	free(enc);
	dec = etcd_b64_decode(a, "aDE=", &len);
	assert_string_equal(dec, "h1");
	assert_int_equal(len, 2);
	dec = etcd_b64_decode(a, "", &len);
	assert_non_null(dec);
	assert_int_equal(len, 0);
	/* Not base64: a length that is not a multiple of 4, blanks, other characters. */
	assert_null(etcd_b64_decode(a, "Zm9", &len));
	assert_null(etcd_b64_decode(a, "Zm 9", &len));
	assert_null(etcd_b64_decode(a, "Zm9!", &len));
	assert_null(etcd_b64_decode(a, "Z=9v", &len));
	arena_free(a);
}

static void test_prefix_end(void **state)
{
	size_t n;
	char *end;

	(void)state;
	end = etcd_prefix_end("pgc/", 4, &n);
	assert_int_equal(n, 4);
	assert_memory_equal(end, "pgc0", 4);
	free(end);
	/* A trailing 0xff is dropped and the byte before it incremented. */
	end = etcd_prefix_end("a\xff\xff", 3, &n);
	assert_int_equal(n, 1);
	assert_memory_equal(end, "b", 1);
	free(end);
	/* Nothing to increment: "\0", every key. */
	end = etcd_prefix_end("\xff", 1, &n);
	assert_int_equal(n, 1);
	assert_int_equal(end[0], '\0');
	free(end);
}

static void test_int64_strings(void **state)
{
	json_t *j = json_loads("{\"s\":\"9223372036854775807\",\"n\":-5,\"bad\":\"12x\","
			       "\"over\":\"99999999999999999999\",\"empty\":\"\",\"f\":1.5}",
			       0, NULL);
	int64_t v;

	(void)state;
	assert_int_equal(etcd_json_int64(json_object_get(j, "s"), &v), 0);
	assert_true(v == INT64_MAX);
	assert_int_equal(etcd_json_int64(json_object_get(j, "n"), &v), 0);
	assert_int_equal(v, -5);
	assert_int_equal(etcd_json_int64(json_object_get(j, "absent"), &v), 0);
	assert_int_equal(v, 0);
	assert_int_equal(etcd_json_int64(json_object_get(j, "bad"), &v), -1);
	assert_int_equal(etcd_json_int64(json_object_get(j, "over"), &v), -1);
	assert_int_equal(etcd_json_int64(json_object_get(j, "empty"), &v), -1);
	assert_int_equal(etcd_json_int64(json_object_get(j, "f"), &v), -1);
	json_decref(j);
}

static void test_requests(void **state)
{
	PgcEtcdCompare cmp[2] = {
		{.key = "p/c/leader", .target = ETCD_CMP_CREATE_REVISION, .revision = 0},
		{.key = "p/c/x", .target = ETCD_CMP_VALUE, .value = "h1"},
	};
	PgcEtcdOp ops[2] = {
		{.key = "p/c/leader", .value = "h1", .len = 2, .lease = 5986869750690873615},
		{.key = "p/c/x", .value = NULL},
	};
	char *s;

	(void)state;
	s = etcd_req_range("foo", false);
	assert_string_equal(s, "{\"key\":\"Zm9v\"}");
	free(s);
	s = etcd_req_range("p/", true);
	assert_string_equal(s, "{\"key\":\"cC8=\",\"range_end\":\"cDA=\",\"sort_order\":\"ASCEND\"}");
	free(s);
	s = etcd_req_put("foo", "bar", 3, 0);
	assert_string_equal(s, "{\"key\":\"Zm9v\",\"value\":\"YmFy\"}");
	free(s);
	s = etcd_req_put("foo", "", 0, 42);
	assert_string_equal(s, "{\"key\":\"Zm9v\",\"value\":\"\",\"lease\":\"42\"}");
	free(s);
	s = etcd_req_delete("foo");
	assert_string_equal(s, "{\"key\":\"Zm9v\"}");
	free(s);
	s = etcd_req_txn(cmp, 2, ops, 2);
	assert_string_equal(
		s, "{\"compare\":[{\"key\":\"cC9jL2xlYWRlcg==\",\"result\":\"EQUAL\",\"target\":\"CREATE\","
		   "\"create_revision\":\"0\"},{\"key\":\"cC9jL3g=\",\"result\":\"EQUAL\",\"target\":\"VALUE\","
		   "\"value\":\"aDE=\"}],\"success\":[{\"request_put\":{\"key\":\"cC9jL2xlYWRlcg==\","
		   "\"value\":\"aDE=\",\"lease\":\"5986869750690873615\"}},{\"request_delete_range\":"
		   "{\"key\":\"cC9jL3g=\"}}]}");
	free(s);
	cmp[0].target = ETCD_CMP_MOD_REVISION;
	cmp[0].revision = 12;
	s = etcd_req_txn(cmp, 1, NULL, 0);
	assert_string_equal(s, "{\"compare\":[{\"key\":\"cC9jL2xlYWRlcg==\",\"result\":\"EQUAL\","
			       "\"target\":\"MOD\",\"mod_revision\":\"12\"}],\"success\":[]}");
	free(s);
	s = etcd_req_lease_grant(10);
	assert_string_equal(s, "{\"TTL\":\"10\"}");
	free(s);
	s = etcd_req_lease_id(5986869750690873615);
	assert_string_equal(s, "{\"ID\":\"5986869750690873615\"}");
	free(s);
	s = etcd_req_watch("p/", 8);
	assert_string_equal(s, "{\"create_request\":{\"key\":\"cC8=\",\"range_end\":\"cDA=\","
			       "\"start_revision\":\"8\"}}");
	free(s);
	s = etcd_req_watch("p/", 0);
	assert_string_equal(s, "{\"create_request\":{\"key\":\"cC8=\",\"range_end\":\"cDA=\"}}");
	free(s);
}

static void test_auth_request(void **state)
{
	char buf[128];
	json_t *j;

	(void)state;
	assert_int_equal(etcd_req_auth(buf, sizeof(buf), "root", "pa\"ss\\w\n"), 44);
	assert_string_equal(buf, "{\"name\":\"root\",\"password\":\"pa\\\"ss\\\\w\\u000a\"}");
	j = json_loads(buf, 0, NULL);
	assert_string_equal(json_string_value(json_object_get(j, "password")), "pa\"ss\\w\n");
	json_decref(j);
	/* Too small: -1, and the part of the password that was written is wiped. */
	assert_int_equal(etcd_req_auth(buf, 34, "root", "secret-secret-secret"), -1);
	assert_null(memmem(buf, 34, "sec", 3));
}

static void test_range_reply(void **state)
{
	PgcArena *a = arena_new();
	PgcEtcdReplyError err;
	PgcEtcdKv *kvs;
	int64_t rev;
	size_t n;
	json_t *msg;

	(void)state;
	msg = parse_ok("{" HEADER "}");
	assert_int_equal(etcd_parse_range(a, msg, &kvs, &n, &rev, &err), ETCD_OK);
	assert_int_equal(n, 0);
	assert_int_equal(rev, 7);
	json_decref(msg);

	msg = parse_ok("{" HEADER ",\"kvs\":[{\"key\":\"cC9h\",\"create_revision\":\"4\",\"mod_revision\":\"5\","
		       "\"version\":\"2\",\"value\":\"MQ==\",\"lease\":\"5986869750690873615\"},"
		       "{\"key\":\"cC9l\",\"create_revision\":\"6\",\"mod_revision\":\"6\",\"version\":\"1\"}],"
		       "\"count\":\"2\"}");
	assert_int_equal(etcd_parse_range(a, msg, &kvs, &n, &rev, &err), ETCD_OK);
	assert_int_equal(n, 2);
	assert_string_equal(kvs[0].key, "p/a");
	assert_string_equal(kvs[0].value, "1");
	assert_int_equal(kvs[0].value_len, 1);
	assert_int_equal(kvs[0].create_revision, 4);
	assert_int_equal(kvs[0].mod_revision, 5);
	assert_int_equal(kvs[0].version, 2);
	assert_true(kvs[0].lease == 5986869750690873615);
	/* An empty value is omitted by the gateway. */
	assert_string_equal(kvs[1].key, "p/e");
	assert_string_equal(kvs[1].value, "");
	assert_int_equal(kvs[1].value_len, 0);
	assert_int_equal(kvs[1].lease, 0);
	json_decref(msg);

	msg = parse_ok("{" HEADER ",\"kvs\":[{\"key\":\"cC9h\",\"create_revision\":\"x4\"}]}");
	assert_int_equal(etcd_parse_range(a, msg, &kvs, &n, &rev, &err), ETCD_BAD_REPLY);
	assert_string_equal(err.text, "a revision, version or lease that is not an integer");
	json_decref(msg);

	msg = parse_ok("{" HEADER ",\"kvs\":[{\"key\":\"cC9h!\"}]}");
	assert_int_equal(etcd_parse_range(a, msg, &kvs, &n, &rev, &err), ETCD_BAD_REPLY);
	assert_string_equal(err.text, "a key that is not base64 of a string");
	json_decref(msg);

	msg = parse_ok("{\"kvs\":[]}");
	assert_int_equal(etcd_parse_range(a, msg, &kvs, &n, &rev, &err), ETCD_BAD_REPLY);
	assert_string_equal(err.text, "no header.revision");
	json_decref(msg);
	arena_free(a);
}

static void test_txn_reply(void **state)
{
	PgcEtcdReplyError err;
	bool ok;
	int64_t rev;
	json_t *msg;

	(void)state;
	msg = parse_ok("{" HEADER ",\"succeeded\":true,\"responses\":[{\"response_put\":"
		       "{\"header\":{\"revision\":\"7\"}}}]}");
	assert_int_equal(etcd_parse_txn(msg, &ok, &rev, &err), ETCD_OK);
	assert_true(ok);
	assert_int_equal(rev, 7);
	json_decref(msg);
	/* A failed comparison: no "succeeded" at all. */
	msg = parse_ok("{" HEADER "}");
	ok = true;
	assert_int_equal(etcd_parse_txn(msg, &ok, &rev, &err), ETCD_OK);
	assert_false(ok);
	json_decref(msg);
	msg = parse_ok("{" HEADER ",\"succeeded\":\"yes\"}");
	assert_int_equal(etcd_parse_txn(msg, &ok, &rev, &err), ETCD_BAD_REPLY);
	json_decref(msg);
}

static void test_lease_replies(void **state)
{
	PgcEtcdReplyError err;
	int64_t id, ttl;
	json_t *msg;

	(void)state;
	msg = parse_ok("{" HEADER ",\"ID\":\"5986869750690873609\",\"TTL\":\"2\"}");
	assert_int_equal(etcd_parse_lease_grant(msg, &id, &ttl, &err), ETCD_OK);
	assert_true(id == 5986869750690873609);
	assert_int_equal(ttl, 2);
	json_decref(msg);
	/* A lease grant's own "error" field, empty on success, set on a failure. */
	msg = parse_ok("{" HEADER ",\"ID\":\"12\",\"TTL\":\"5\",\"error\":\"\"}");
	assert_int_equal(etcd_parse_lease_grant(msg, &id, &ttl, &err), ETCD_OK);
	json_decref(msg);
	assert_null(etcd_reply_parse("{" HEADER ",\"error\":\"lease already exists\"}",
				     strlen("{" HEADER ",\"error\":\"lease already exists\"}"), &err));
	assert_int_equal(err.status, ETCD_REFUSED);
	assert_string_equal(err.text, "lease already exists");

	/* Keep-alive: a streamed result, with its TTL when alive ... */
	msg = parse_ok("{\"result\":{" HEADER ",\"ID\":\"5986869750690873615\",\"TTL\":\"5\"}}\n");
	assert_int_equal(etcd_parse_keepalive(msg, &ttl, &err), ETCD_OK);
	assert_int_equal(ttl, 5);
	json_decref(msg);
	/* ... and without one when the lease has expired or never existed. */
	msg = parse_ok("{\"result\":{" HEADER ",\"ID\":\"123\"}}\n");
	ttl = 9;
	assert_int_equal(etcd_parse_keepalive(msg, &ttl, &err), ETCD_OK);
	assert_int_equal(ttl, 0);
	json_decref(msg);
}

static void test_error_replies(void **state)
{
	const char *lease = "{\"error\":\"etcdserver: requested lease not found\",\"message\":"
			    "\"etcdserver: requested lease not found\",\"code\":5}";
	const char *token = "{\"error\":\"etcdserver: invalid auth token\",\"message\":"
			    "\"etcdserver: invalid auth token\",\"code\":16}";
	const char *auth = "{\"error\":\"etcdserver: authentication failed, invalid user ID or password\","
			   "\"message\":\"etcdserver: authentication failed, invalid user ID or password\","
			   "\"code\":3}";
	const char *stream = "{\"error\":{\"grpc_code\":14,\"http_code\":503,\"message\":"
			     "\"etcdserver: no leader\",\"http_status\":\"Service Unavailable\"}}\n";
	PgcEtcdReplyError err;

	(void)state;
	assert_null(etcd_reply_parse(lease, strlen(lease), &err));
	assert_int_equal(err.status, ETCD_REFUSED);
	assert_int_equal(err.code, ETCD_GRPC_NOT_FOUND);
	assert_string_equal(err.text, "etcdserver: requested lease not found");
	assert_null(etcd_reply_parse(token, strlen(token), &err));
	assert_int_equal(err.code, ETCD_GRPC_UNAUTHENTICATED);
	assert_null(etcd_reply_parse(auth, strlen(auth), &err));
	assert_int_equal(err.status, ETCD_REFUSED);
	assert_string_equal(err.text, "etcdserver: authentication failed, invalid user ID or password");
	/* No leader: try later (another member). */
	assert_null(etcd_reply_parse(stream, strlen(stream), &err));
	assert_int_equal(err.status, ETCD_UNREACHABLE);
	assert_string_equal(err.text, "etcdserver: no leader");
	assert_null(etcd_reply_parse("404 page not found\n", 19, &err));
	assert_int_equal(err.status, ETCD_BAD_REPLY);
	assert_null(etcd_reply_parse("[1]", 3, &err));
	assert_string_equal(err.text, "not a JSON object");
	assert_null(etcd_reply_parse("{\"result\":3}", 12, &err));
	assert_string_equal(err.text, "\"result\" is not an object");
}

static void test_token(void **state)
{
	PgcEtcdReplyError err;
	json_t *msg;
	char *t;

	(void)state;
	msg = parse_ok("{" HEADER ",\"token\":\"RHAQbvieLsTlWYZD.25\"}");
	t = etcd_parse_token(msg, &err);
	assert_string_equal(t, "RHAQbvieLsTlWYZD.25");
	free(t);
	json_decref(msg);
	msg = parse_ok("{" HEADER ",\"token\":\"a\\r\\nX-Evil: 1\"}");
	assert_null(etcd_parse_token(msg, &err));
	assert_string_equal(err.text, "a token with a line break");
	json_decref(msg);
}

static void test_watch_messages(void **state)
{
	PgcEtcdReplyError err;
	PgcEtcdWatchMsg m;
	json_t *msg;

	(void)state;
	msg = parse_ok("{\"result\":{" HEADER ",\"created\":true}}");
	assert_int_equal(etcd_parse_watch(msg, &m, &err), ETCD_OK);
	assert_true(m.created);
	assert_int_equal(m.n_events, 0);
	json_decref(msg);

	msg = parse_ok("{\"result\":{" HEADER ",\"events\":[{\"kv\":{\"key\":\"cC9h\",\"create_revision\":\"4\","
		       "\"mod_revision\":\"4\",\"version\":\"1\",\"value\":\"MQ==\"}},{\"type\":\"DELETE\","
		       "\"kv\":{\"key\":\"cC9s\",\"mod_revision\":\"6\"}},{\"type\":\"DELETE\",\"kv\":{\"key\":"
		       "\"cC9h\",\"mod_revision\":\"5\"}}]}}");
	assert_int_equal(etcd_parse_watch(msg, &m, &err), ETCD_OK);
	assert_false(m.created);
	assert_int_equal(m.n_events, 3);
	assert_int_equal(m.revision, 6);
	json_decref(msg);

	msg = parse_ok("{\"result\":{" HEADER ",\"watch_id\":\"-1\",\"created\":true,\"canceled\":true,"
		       "\"cancel_reason\":\"rpc error: code = Unauthenticated desc = etcdserver: invalid "
		       "auth token\"}}");
	assert_int_equal(etcd_parse_watch(msg, &m, &err), ETCD_REFUSED);
	assert_int_equal(err.code, ETCD_GRPC_UNAUTHENTICATED);
	json_decref(msg);

	msg = parse_ok("{\"result\":{" HEADER ",\"canceled\":true,\"compact_revision\":\"3\","
		       "\"cancel_reason\":\"mvcc: required revision has been compacted\"}}");
	assert_int_equal(etcd_parse_watch(msg, &m, &err), ETCD_OK);
	assert_true(m.compacted);
	json_decref(msg);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_base64_round_trip),
		cmocka_unit_test(test_prefix_end),
		cmocka_unit_test(test_int64_strings),
		cmocka_unit_test(test_requests),
		cmocka_unit_test(test_auth_request),
		cmocka_unit_test(test_range_reply),
		cmocka_unit_test(test_txn_reply),
		cmocka_unit_test(test_lease_replies),
		cmocka_unit_test(test_error_replies),
		cmocka_unit_test(test_token),
		cmocka_unit_test(test_watch_messages),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
