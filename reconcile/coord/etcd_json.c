/*
 * reconcile/coord/etcd_json.c - requests and replies of etcd's v3 JSON
 * gateway (etcd_json.h).
 */
#include "reconcile/coord/etcd_json.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "common/xalloc.h"

/* A value larger than this is not something the agents write (etcd's own limit is 1.5 MiB). */
#define ETCD_MAX_VALUE ((size_t)64 * 1024 * 1024)

char *etcd_b64_encode(const void *data, size_t len)
{
	char *out;

	if (len > ETCD_MAX_VALUE)
		return NULL;
	out = xmalloc(4 * ((len + 2) / 3) + 1);
	EVP_EncodeBlock((unsigned char *)out, data, (int)len);
	return out;
}

char *etcd_b64_decode(PgcArena *a, const char *text, size_t *len)
{
	size_t n = strlen(text), pad = 0;
	char *out;
	int got;

	if (n % 4 != 0 || n / 4 * 3 > ETCD_MAX_VALUE)
		return NULL;
	if (n > 0 && text[n - 1] == '=')
		pad++;
	if (n > 1 && text[n - 2] == '=')
		pad++;
	out = arena_alloc(a, n / 4 * 3 + 1);
	if (n == 0) {
		*len = 0;
		return out;
	}
	/* EVP_DecodeBlock counts the padding as zero bytes and skips blanks; refuse those. */
	if (strspn(text, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/") != n - pad)
		return NULL;
	got = EVP_DecodeBlock((unsigned char *)out, (const unsigned char *)text, (int)n);
	if (got < 0 || (size_t)got != n / 4 * 3)
		return NULL;
	*len = (size_t)got - pad;
	out[*len] = '\0';
	return out;
}

char *etcd_prefix_end(const char *prefix, size_t len, size_t *end_len)
{
	char *end = xmalloc(len + 1);

	memcpy(end, prefix, len);
	while (len > 0 && (unsigned char)end[len - 1] == 0xff)
		len--;
	if (len == 0) {
		end[0] = '\0';
		*end_len = 1;
		return end;
	}
	end[len - 1] = (char)((unsigned char)end[len - 1] + 1);
	*end_len = len;
	return end;
}

int etcd_json_int64(const json_t *v, int64_t *out)
{
	const char *s;
	char *endp;
	long long x;

	*out = 0;
	if (v == NULL)
		return 0;
	if (json_is_integer(v)) {
		*out = json_integer_value(v);
		return 0;
	}
	if (!json_is_string(v))
		return -1;
	s = json_string_value(v);
	if (*s == '\0')
		return -1;
	errno = 0;
	x = strtoll(s, &endp, 10);
	if (errno != 0 || *endp != '\0')
		return -1;
	*out = x;
	return 0;
}

/* A base64 JSON string of len bytes. */
static json_t *b64_json(const void *data, size_t len)
{
	char *s = etcd_b64_encode(data, len);
	json_t *j;

	if (s == NULL)
		return NULL;
	j = json_string(s);
	free(s);
	return j;
}

static json_t *int64_json(int64_t v)
{
	char buf[32];

	snprintf(buf, sizeof(buf), "%" PRId64, v);
	return json_string(buf);
}

/* dump - the object's text; consumes the reference. NULL when it is NULL (an encoding failed). */
static char *dump(json_t *o)
{
	char *s;

	if (o == NULL)
		return NULL;
	s = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	return s;
}

/* set - o[name] = v, stealing v; false when v is NULL. */
static bool set(json_t *o, const char *name, json_t *v)
{
	return v != NULL && json_object_set_new(o, name, v) == 0;
}

/* range_object - {"key": ..., "range_end": ...} for one key or a prefix. */
static json_t *range_object(const char *key, bool prefix)
{
	json_t *o = json_object();
	size_t klen = strlen(key);

	if (prefix && klen == 0) {
		/* Every key: etcd's "\0" to "\0". */
		set(o, "key", b64_json("", 1));
		set(o, "range_end", b64_json("", 1));
		return o;
	}
	set(o, "key", b64_json(key, klen));
	if (prefix) {
		size_t elen;
		char *end = etcd_prefix_end(key, klen, &elen);

		set(o, "range_end", b64_json(end, elen));
		free(end);
	}
	return o;
}

char *etcd_req_range(const char *key, bool prefix)
{
	json_t *o = range_object(key, prefix);

	if (prefix)
		json_object_set_new(o, "sort_order", json_string("ASCEND"));
	return dump(o);
}

static json_t *put_object(const char *key, const char *value, size_t len, int64_t lease)
{
	json_t *o = json_object();

	set(o, "key", b64_json(key, strlen(key)));
	if (!set(o, "value", b64_json(value, len))) {
		json_decref(o);
		return NULL;
	}
	if (lease != 0)
		set(o, "lease", int64_json(lease));
	return o;
}

char *etcd_req_put(const char *key, const char *value, size_t len, int64_t lease)
{
	return dump(put_object(key, value, len, lease));
}

char *etcd_req_delete(const char *key)
{
	return dump(range_object(key, false));
}

static json_t *compare_object(const PgcEtcdCompare *c)
{
	json_t *o = json_object();

	set(o, "key", b64_json(c->key, strlen(c->key)));
	set(o, "result", json_string("EQUAL"));
	switch (c->target) {
	case ETCD_CMP_CREATE_REVISION:
		set(o, "target", json_string("CREATE"));
		set(o, "create_revision", int64_json(c->revision));
		break;
	case ETCD_CMP_MOD_REVISION:
		set(o, "target", json_string("MOD"));
		set(o, "mod_revision", int64_json(c->revision));
		break;
	case ETCD_CMP_VALUE:
		set(o, "target", json_string("VALUE"));
		set(o, "value", b64_json(c->value, strlen(c->value)));
		break;
	}
	return o;
}

char *etcd_req_txn(const PgcEtcdCompare *cmp, size_t n_cmp, const PgcEtcdOp *ops, size_t n_ops)
{
	json_t *o = json_object(), *compare = json_array(), *success = json_array();
	size_t i;

	json_object_set_new(o, "compare", compare);
	json_object_set_new(o, "success", success);
	for (i = 0; i < n_cmp; i++)
		json_array_append_new(compare, compare_object(&cmp[i]));
	for (i = 0; i < n_ops; i++) {
		json_t *req = json_object();

		if (ops[i].value == NULL) {
			set(req, "request_delete_range", range_object(ops[i].key, false));
		} else if (!set(req, "request_put",
				put_object(ops[i].key, ops[i].value, ops[i].len, ops[i].lease))) {
			json_decref(req);
			json_decref(o);
			return NULL;
		}
		json_array_append_new(success, req);
	}
	return dump(o);
}

char *etcd_req_lease_grant(int64_t ttl_s)
{
	json_t *o = json_object();

	set(o, "TTL", int64_json(ttl_s));
	return dump(o);
}

char *etcd_req_lease_id(int64_t id)
{
	json_t *o = json_object();

	set(o, "ID", int64_json(id));
	return dump(o);
}

char *etcd_req_watch(const char *prefix, int64_t from_revision)
{
	json_t *o = json_object(), *create = range_object(prefix, true);

	if (from_revision > 0)
		set(create, "start_revision", int64_json(from_revision));
	set(o, "create_request", create);
	return dump(o);
}

/* put_json_string - s as a JSON string at buf[*at]; false when it does not fit. */
static bool put_json_string(char *buf, size_t cap, size_t *at, const char *s)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *p;

	if (*at + 1 >= cap)
		return false;
	buf[(*at)++] = '"';
	for (p = (const unsigned char *)s; *p != '\0'; p++) {
		if (*p == '"' || *p == '\\') {
			if (*at + 2 >= cap)
				return false;
			buf[(*at)++] = '\\';
			buf[(*at)++] = (char)*p;
		} else if (*p < 0x20) {
			if (*at + 6 >= cap)
				return false;
			memcpy(buf + *at, "\\u00", 4);
			buf[*at + 4] = hex[*p >> 4];
			buf[*at + 5] = hex[*p & 15];
			*at += 6;
		} else {
			if (*at + 1 >= cap)
				return false;
			buf[(*at)++] = (char)*p;
		}
	}
	if (*at + 1 >= cap)
		return false;
	buf[(*at)++] = '"';
	return true;
}

static bool put_raw(char *buf, size_t cap, size_t *at, const char *s)
{
	size_t n = strlen(s);

	if (*at + n >= cap)
		return false;
	memcpy(buf + *at, s, n);
	*at += n;
	return true;
}

int etcd_req_auth(char *buf, size_t cap, const char *user, const char *password)
{
	size_t at = 0;

	if (!put_raw(buf, cap, &at, "{\"name\":") || !put_json_string(buf, cap, &at, user) ||
	    !put_raw(buf, cap, &at, ",\"password\":") ||
	    !put_json_string(buf, cap, &at, password) || !put_raw(buf, cap, &at, "}")) {
		explicit_bzero(buf, cap);
		return -1;
	}
	buf[at] = '\0';
	return (int)at;
}

static void err_set(PgcEtcdReplyError *err, PgcEtcdStatus status, int code, const char *text)
{
	err->status = status;
	err->code = code;
	snprintf(err->text, sizeof(err->text), "%s", text);
}

/* error_status - what an error code means to the caller: no leader or a timeout is "try later". */
static PgcEtcdStatus error_status(int code)
{
	return code == ETCD_GRPC_UNAVAILABLE || code == ETCD_GRPC_DEADLINE_EXCEEDED ? ETCD_UNREACHABLE
										  : ETCD_REFUSED;
}

/* reply_error - true (err filled) when o is an error reply, in either of the gateway's shapes. */
static bool reply_error(const json_t *o, PgcEtcdReplyError *err)
{
	const json_t *e = json_object_get(o, "error");
	const char *text = NULL;
	json_int_t code = 0;

	if (e == NULL)
		return false;
	if (json_is_string(e)) {
		const json_t *m = json_object_get(o, "message");

		/* LeaseGrantResponse has an "error" string of its own, empty on success. */
		if (json_string_length(e) == 0)
			return false;
		text = json_is_string(m) && json_string_length(m) > 0 ? json_string_value(m)
								       : json_string_value(e);
		code = json_integer_value(json_object_get(o, "code"));
	} else if (json_is_object(e)) {
		text = json_string_value(json_object_get(e, "message"));
		code = json_integer_value(json_object_get(e, "grpc_code"));
	}
	err_set(err, error_status((int)code), (int)code, text != NULL ? text : "an error without a message");
	return true;
}

json_t *etcd_reply_parse(const char *text, size_t len, PgcEtcdReplyError *err)
{
	json_error_t jerr;
	json_t *root, *result;

	memset(err, 0, sizeof(*err));
	if (len == 0) {
		err_set(err, ETCD_BAD_REPLY, 0, "an empty reply");
		return NULL;
	}
	root = json_loadb(text, len, JSON_DISABLE_EOF_CHECK, &jerr);
	if (!json_is_object(root)) {
		char what[200];

		if (root == NULL)
			snprintf(what, sizeof(what), "not JSON: %s", jerr.text);
		else
			snprintf(what, sizeof(what), "not a JSON object");
		err_set(err, ETCD_BAD_REPLY, 0, what);
		json_decref(root);
		return NULL;
	}
	if (reply_error(root, err)) {
		json_decref(root);
		return NULL;
	}
	result = json_object_get(root, "result");
	if (result != NULL) {
		if (!json_is_object(result)) {
			err_set(err, ETCD_BAD_REPLY, 0, "\"result\" is not an object");
			json_decref(root);
			return NULL;
		}
		if (reply_error(result, err)) {
			json_decref(root);
			return NULL;
		}
		json_incref(result);
		json_decref(root);
		return result;
	}
	return root;
}

static PgcEtcdStatus bad(PgcEtcdReplyError *err, const char *what)
{
	err_set(err, ETCD_BAD_REPLY, 0, what);
	return ETCD_BAD_REPLY;
}

PgcEtcdStatus etcd_parse_revision(const json_t *msg, int64_t *revision, PgcEtcdReplyError *err)
{
	const json_t *h = json_object_get(msg, "header");
	int64_t r;

	if (!json_is_object(h) || etcd_json_int64(json_object_get(h, "revision"), &r) != 0 || r <= 0)
		return bad(err, "no header.revision");
	if (revision != NULL)
		*revision = r;
	return ETCD_OK;
}

static PgcEtcdStatus parse_kv(PgcArena *a, const json_t *j, PgcEtcdKv *kv, PgcEtcdReplyError *err)
{
	const json_t *key = json_object_get(j, "key"), *value = json_object_get(j, "value");
	size_t klen;

	memset(kv, 0, sizeof(*kv));
	if (!json_is_object(j) || !json_is_string(key))
		return bad(err, "a key-value without a key");
	kv->key = etcd_b64_decode(a, json_string_value(key), &klen);
	if (kv->key == NULL || strlen(kv->key) != klen)
		return bad(err, "a key that is not base64 of a string");
	if (value != NULL && !json_is_string(value))
		return bad(err, "a value that is not a string");
	kv->value = etcd_b64_decode(a, value != NULL ? json_string_value(value) : "", &kv->value_len);
	if (kv->value == NULL)
		return bad(err, "a value that is not base64");
	if (etcd_json_int64(json_object_get(j, "create_revision"), &kv->create_revision) != 0 ||
	    etcd_json_int64(json_object_get(j, "mod_revision"), &kv->mod_revision) != 0 ||
	    etcd_json_int64(json_object_get(j, "version"), &kv->version) != 0 ||
	    etcd_json_int64(json_object_get(j, "lease"), &kv->lease) != 0)
		return bad(err, "a revision, version or lease that is not an integer");
	return ETCD_OK;
}

PgcEtcdStatus etcd_parse_range(PgcArena *a, const json_t *msg, PgcEtcdKv **kvs, size_t *n,
			       int64_t *revision, PgcEtcdReplyError *err)
{
	const json_t *list = json_object_get(msg, "kvs"), *j;
	size_t i;

	*kvs = NULL;
	*n = 0;
	if (etcd_parse_revision(msg, revision, err) != ETCD_OK)
		return ETCD_BAD_REPLY;
	if (list == NULL)
		return ETCD_OK;
	if (!json_is_array(list))
		return bad(err, "\"kvs\" is not an array");
	*kvs = arena_calloc(a, json_array_size(list) + 1, sizeof(**kvs));
	json_array_foreach(list, i, j) {
		if (parse_kv(a, j, &(*kvs)[i], err) != ETCD_OK) {
			*n = 0;
			return ETCD_BAD_REPLY;
		}
	}
	*n = json_array_size(list);
	return ETCD_OK;
}

PgcEtcdStatus etcd_parse_txn(const json_t *msg, bool *succeeded, int64_t *revision,
			     PgcEtcdReplyError *err)
{
	const json_t *s = json_object_get(msg, "succeeded");

	if (s != NULL && !json_is_boolean(s))
		return bad(err, "\"succeeded\" is not a boolean");
	if (etcd_parse_revision(msg, revision, err) != ETCD_OK)
		return ETCD_BAD_REPLY;
	*succeeded = json_is_true(s);
	return ETCD_OK;
}

PgcEtcdStatus etcd_parse_lease_grant(const json_t *msg, int64_t *id, int64_t *ttl,
				     PgcEtcdReplyError *err)
{
	int64_t t;

	if (etcd_json_int64(json_object_get(msg, "ID"), id) != 0 || *id == 0)
		return bad(err, "no lease ID");
	if (etcd_json_int64(json_object_get(msg, "TTL"), &t) != 0 || t <= 0)
		return bad(err, "no TTL");
	if (ttl != NULL)
		*ttl = t;
	return ETCD_OK;
}

PgcEtcdStatus etcd_parse_keepalive(const json_t *msg, int64_t *ttl_left, PgcEtcdReplyError *err)
{
	if (etcd_json_int64(json_object_get(msg, "TTL"), ttl_left) != 0)
		return bad(err, "a TTL that is not an integer");
	if (*ttl_left < 0)
		*ttl_left = 0;
	return ETCD_OK;
}

char *etcd_parse_token(const json_t *msg, PgcEtcdReplyError *err)
{
	const json_t *t = json_object_get(msg, "token");

	if (!json_is_string(t) || json_string_length(t) == 0) {
		bad(err, "no token");
		return NULL;
	}
	/* It goes into an HTTP header: no line breaks. */
	if (strpbrk(json_string_value(t), "\r\n") != NULL) {
		bad(err, "a token with a line break");
		return NULL;
	}
	return xstrdup(json_string_value(t));
}

PgcEtcdStatus etcd_parse_watch(const json_t *msg, PgcEtcdWatchMsg *out, PgcEtcdReplyError *err)
{
	const json_t *events = json_object_get(msg, "events"), *ev;
	int64_t compact = 0;
	size_t i;

	memset(out, 0, sizeof(*out));
	if (etcd_parse_revision(msg, &out->revision, err) != ETCD_OK)
		return ETCD_BAD_REPLY;
	out->created = json_is_true(json_object_get(msg, "created"));
	out->canceled = json_is_true(json_object_get(msg, "canceled"));
	if (etcd_json_int64(json_object_get(msg, "compact_revision"), &compact) != 0)
		return bad(err, "\"compact_revision\" is not an integer");
	if (out->canceled) {
		const char *reason = json_string_value(json_object_get(msg, "cancel_reason"));

		if (compact > 0) {
			out->compacted = true;
			return ETCD_OK;
		}
		reason = reason != NULL && *reason != '\0' ? reason : "the watch was canceled";
		err_set(err, ETCD_REFUSED,
			strstr(reason, "invalid auth token") != NULL ? ETCD_GRPC_UNAUTHENTICATED : 0,
			reason);
		return ETCD_REFUSED;
	}
	if (events == NULL)
		return ETCD_OK;
	if (!json_is_array(events))
		return bad(err, "\"events\" is not an array");
	json_array_foreach(events, i, ev) {
		int64_t mod;

		if (etcd_json_int64(json_object_get(json_object_get(ev, "kv"), "mod_revision"), &mod) != 0)
			return bad(err, "an event whose mod_revision is not an integer");
		if (i == 0 || mod > out->revision)
			out->revision = mod;
	}
	out->n_events = json_array_size(events);
	return ETCD_OK;
}
