/*
 * reconcile/coord/etcd.c - the etcd v3 client (etcd.h): libcurl's easy
 * interface, one handle per client (its connection is reused), the JSON
 * in etcd_json.c.
 */
#include "reconcile/coord/etcd.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <curl/curl.h>
#include <jansson.h>

#include "common/clock.h"
#include "common/xalloc.h"
#include "reconcile/coord/etcd_json.h"

/* A reply larger than this is refused: the agents' keys are small. */
#define REPLY_MAX ((size_t)32 * 1024 * 1024)
/* The least time a connection attempt gets, whatever the number of endpoints. */
#define CONNECT_MIN_MS 200
/* The least time an attempt of a request that is safe to repeat gets on one endpoint. */
#define SAFE_ATTEMPT_MIN_MS 300

/* The state of a watch while its stream is read. */
typedef struct {
	bool active;
	bool created;
	bool done;            /* an event, a cancel or a bad message: stop reading */
	PgcEtcdStatus status; /* with done */
	PgcEtcdReplyError err;
	bool changed;
	int64_t revision;
	size_t scanned;       /* bytes of buf already split into lines */
} WatchState;

struct PgcEtcdClient {
	CURL *curl;
	char **endpoints;
	size_t n_endpoints;
	size_t current;       /* the endpoint that answered last */
	char *user;
	char *password;
	char *ca_file, *cert_file, *key_file;
	int timeout_ms;
	char *token;          /* NULL: not authenticated yet */
	bool auth_off;        /* etcd said authentication is not enabled: no token needed */
	struct curl_slist *headers;
	char curl_err[CURL_ERROR_SIZE];
	char error[768];
	/* the reply being read */
	char *buf;
	size_t len, cap;
	bool too_big;
	WatchState watch;
};

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_rc;

static void curl_init(void)
{
	curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

const char *etcd_error(const PgcEtcdClient *e)
{
	return e->error;
}

static void set_error(PgcEtcdClient *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void set_error(PgcEtcdClient *e, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(e->error, sizeof(e->error), fmt, ap);
	va_end(ap);
}

/* set_headers - Content-Type, no "Expect: 100-continue", and the token when there is one. */
static int set_headers(PgcEtcdClient *e)
{
	struct curl_slist *h = NULL, *t;

	h = curl_slist_append(h, "Content-Type: application/json");
	if (h != NULL && (t = curl_slist_append(h, "Expect:")) != NULL)
		h = t;
	if (h != NULL && e->token != NULL) {
		char *line = xasprintf("Authorization: %s", e->token);

		t = curl_slist_append(h, line);
		free(line);
		if (t == NULL) {
			curl_slist_free_all(h);
			h = NULL;
		}
	}
	if (h == NULL)
		return -1;
	curl_easy_setopt(e->curl, CURLOPT_HTTPHEADER, h);
	curl_slist_free_all(e->headers);
	e->headers = h;
	return 0;
}

static void drop_token(PgcEtcdClient *e)
{
	free(e->token);
	e->token = NULL;
	set_headers(e);
}

static size_t watch_lines(PgcEtcdClient *e);

static size_t on_data(char *data, size_t size, size_t nmemb, void *arg)
{
	PgcEtcdClient *e = arg;
	size_t n = size * nmemb;

	if (e->len + n + 1 > REPLY_MAX) {
		e->too_big = true;
		return 0;
	}
	if (e->len + n + 1 > e->cap) {
		size_t cap = e->cap == 0 ? 4096 : e->cap;

		while (cap < e->len + n + 1)
			cap *= 2;
		e->buf = realloc(e->buf, cap);
		if (e->buf == NULL)
			abort();
		e->cap = cap;
	}
	memcpy(e->buf + e->len, data, n);
	e->len += n;
	e->buf[e->len] = '\0';
	if (e->watch.active && watch_lines(e) != 0)
		return 0; /* stop: the watch has its answer */
	return n;
}

/*
 * watch_lines - reads the watch stream's complete lines: the "created"
 * confirmation first, then the first message with events ends it. Nonzero
 * when reading should stop.
 */
static size_t watch_lines(PgcEtcdClient *e)
{
	WatchState *w = &e->watch;
	char *nl;

	while (!w->done && (nl = memchr(e->buf + w->scanned, '\n', e->len - w->scanned)) != NULL) {
		size_t start = w->scanned, n = (size_t)(nl - (e->buf + start));
		PgcEtcdWatchMsg m;
		json_t *msg;

		w->scanned = start + n + 1;
		if (n == 0)
			continue;
		msg = etcd_reply_parse(e->buf + start, n, &w->err);
		if (msg == NULL) {
			w->done = true;
			w->status = w->err.status;
			break;
		}
		w->status = etcd_parse_watch(msg, &m, &w->err);
		json_decref(msg);
		if (w->status != ETCD_OK) {
			w->done = true;
			break;
		}
		if (m.created)
			w->created = true;
		if (m.compacted || m.n_events > 0) {
			w->done = true;
			w->changed = true;
			w->revision = m.revision;
		}
	}
	return w->done ? 1 : 0;
}

/* not_sent - true when a failed transfer cannot have reached etcd: safe to send elsewhere. */
static bool not_sent(PgcEtcdClient *e, CURLcode rc)
{
	long sent = 0;

	if (rc == CURLE_COULDNT_CONNECT || rc == CURLE_COULDNT_RESOLVE_HOST ||
	    rc == CURLE_SSL_CONNECT_ERROR)
		return true;
	return curl_easy_getinfo(e->curl, CURLINFO_REQUEST_SIZE, &sent) == CURLE_OK && sent == 0;
}

/* How a request may be sent again on another endpoint. */
typedef enum {
	SEND_ONCE,   /* a write: again only when it cannot have reached etcd */
	SEND_SAFE,   /* a read, a keep-alive, an authentication: nothing changes when repeated */
	SEND_WATCH,  /* a watch: like SEND_ONCE, the whole budget for its wait */
} SendMode;

/*
 * exchange - POSTs body to path, on the current endpoint and, when it
 * cannot have been received there (or mode is SEND_SAFE), on the next
 * ones, within budget_ms; a SEND_SAFE attempt gets its share of what is
 * left, so that an endpoint that accepts and never answers (a member cut
 * off from the others) leaves time for the next. ETCD_OK when an endpoint
 * answered (any HTTP status; the body in e->buf), or for a watch when its
 * stream ended or timed out after it was confirmed. A transport error makes
 * the next call start with the next endpoint.
 */
static PgcEtcdStatus exchange(PgcEtcdClient *e, const char *what, const char *path,
			      const char *body, size_t body_len, double budget_ms, SendMode mode,
			      long *http)
{
	double deadline = clock_ms() + budget_ms;
	long connect_ms = (long)(budget_ms / (double)e->n_endpoints);
	size_t tries;

	if (connect_ms < CONNECT_MIN_MS)
		connect_ms = CONNECT_MIN_MS;
	*http = 0;
	for (tries = 0; tries < e->n_endpoints; tries++) {
		const char *ep = e->endpoints[e->current];
		double left = deadline - clock_ms();
		long attempt_ms;
		char *url;
		CURLcode rc;

		if (left < 1)
			break;
		attempt_ms = (long)left;
		if (mode == SEND_SAFE) {
			attempt_ms = (long)(left / (double)(e->n_endpoints - tries));
			if (attempt_ms < SAFE_ATTEMPT_MIN_MS)
				attempt_ms = left < SAFE_ATTEMPT_MIN_MS ? (long)left : SAFE_ATTEMPT_MIN_MS;
		}
		url = xasprintf("%s%s", ep, path);
		e->len = 0;
		e->too_big = false;
		e->curl_err[0] = '\0';
		e->watch.scanned = 0;
		curl_easy_setopt(e->curl, CURLOPT_URL, url);
		curl_easy_setopt(e->curl, CURLOPT_POSTFIELDS, body);
		curl_easy_setopt(e->curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body_len);
		curl_easy_setopt(e->curl, CURLOPT_TIMEOUT_MS, attempt_ms);
		curl_easy_setopt(e->curl, CURLOPT_CONNECTTIMEOUT_MS,
				 connect_ms < attempt_ms ? connect_ms : attempt_ms);
		rc = curl_easy_perform(e->curl);
		free(url);
		if (e->watch.active && (e->watch.done || e->watch.created) &&
		    (rc == CURLE_OK || rc == CURLE_WRITE_ERROR || rc == CURLE_OPERATION_TIMEDOUT))
			return ETCD_OK;
		if (rc == CURLE_OK) {
			curl_easy_getinfo(e->curl, CURLINFO_RESPONSE_CODE, http);
			return ETCD_OK;
		}
		if (e->too_big) {
			set_error(e, "etcd: %s on %s: the reply is larger than %zu MiB", what, ep,
				  REPLY_MAX >> 20);
			return ETCD_BAD_REPLY;
		}
		set_error(e, "etcd: %s on %s: %s", what, ep,
			  e->curl_err[0] != '\0' ? e->curl_err : curl_easy_strerror(rc));
		e->current = (e->current + 1) % e->n_endpoints;
		if (mode != SEND_SAFE && !not_sent(e, rc))
			return ETCD_UNREACHABLE;
	}
	if (e->error[0] == '\0')
		set_error(e, "etcd: %s: no time left to reach %s", what, e->endpoints[e->current]);
	return ETCD_UNREACHABLE;
}

/* reply_error - e->error from a reply etcd refused or that is not JSON. */
static void reply_error(PgcEtcdClient *e, const char *what, const PgcEtcdReplyError *err, long http)
{
	const char *ep = e->endpoints[e->current];

	if (err->status == ETCD_BAD_REPLY && http != 200 && http != 0)
		set_error(e, "etcd: %s on %s: HTTP %ld, %s", what, ep, http, err->text);
	else
		set_error(e, "etcd: %s on %s: %s", what, ep, err->text);
}

/*
 * authenticate - a new token for user/password. etcd without
 * authentication enabled says so: then no token is needed.
 */
static PgcEtcdStatus authenticate(PgcEtcdClient *e, double deadline)
{
	size_t cap = 6 * (strlen(e->user) + strlen(e->password)) + 64;
	char *body = xmalloc(cap), *token, what[300];
	PgcEtcdReplyError err;
	PgcEtcdStatus st;
	json_t *msg;
	long http;

	snprintf(what, sizeof(what), "authenticate as \"%s\"", e->user);
	if (etcd_req_auth(body, cap, e->user, e->password) < 0) {
		free(body);
		set_error(e, "etcd: %s: the user name or password is too long", what);
		return ETCD_REFUSED;
	}
	st = exchange(e, what, "/v3/auth/authenticate", body, strlen(body), deadline - clock_ms(),
		      SEND_SAFE, &http);
	explicit_bzero(body, cap);
	free(body);
	if (st != ETCD_OK)
		return st;
	msg = etcd_reply_parse(e->buf, e->len, &err);
	if (msg == NULL) {
		if (err.status == ETCD_REFUSED && strstr(err.text, "authentication is not enabled") != NULL) {
			e->auth_off = true;
			return ETCD_OK;
		}
		reply_error(e, what, &err, http);
		return err.status;
	}
	token = etcd_parse_token(msg, &err);
	json_decref(msg);
	if (token == NULL) {
		reply_error(e, what, &err, http);
		return ETCD_BAD_REPLY;
	}
	free(e->token);
	e->token = token;
	if (set_headers(e) != 0) {
		set_error(e, "etcd: %s: cannot build the request's headers", what);
		return ETCD_BAD_REPLY;
	}
	return ETCD_OK;
}

/*
 * call - one request: authenticates first when needed, and once more when
 * etcd says the token is no longer valid. *msg the reply's message.
 */
static PgcEtcdStatus call(PgcEtcdClient *e, const char *what, const char *path, char *body,
			  SendMode mode, json_t **msg)
{
	double deadline = clock_ms() + e->timeout_ms;
	PgcEtcdReplyError err;
	PgcEtcdStatus st = ETCD_BAD_REPLY;
	int attempt;
	long http;

	*msg = NULL;
	e->error[0] = '\0';
	if (body == NULL) {
		set_error(e, "etcd: %s: the request cannot be encoded (a value too large)", what);
		return ETCD_REFUSED;
	}
	for (attempt = 0; attempt < 2; attempt++) {
		if (e->user != NULL && e->token == NULL && !e->auth_off &&
		    (st = authenticate(e, deadline)) != ETCD_OK)
			break;
		st = exchange(e, what, path, body, strlen(body), deadline - clock_ms(), mode, &http);
		if (st != ETCD_OK)
			break;
		*msg = etcd_reply_parse(e->buf, e->len, &err);
		if (*msg != NULL) {
			e->error[0] = '\0';
			break;
		}
		st = err.status;
		reply_error(e, what, &err, http);
		if (e->user != NULL && attempt == 0 &&
		    (err.code == ETCD_GRPC_UNAUTHENTICATED ||
		     (e->auth_off && strstr(err.text, "user name is empty") != NULL))) {
			/* The token expired, or authentication was enabled since. */
			e->auth_off = false;
			drop_token(e);
			continue;
		}
		/* No leader here, or a timeout: the next call asks another member. */
		if (st == ETCD_UNREACHABLE)
			e->current = (e->current + 1) % e->n_endpoints;
		break;
	}
	free(body);
	return st;
}

/* describe - "verb \"key\"", what a call does, for its messages. */
static void describe(char *buf, size_t size, const char *verb, const char *key)
{
	snprintf(buf, size, "%s \"%s\"", verb, key);
}

static PgcEtcdStatus parsed(PgcEtcdClient *e, const char *what, PgcEtcdStatus st,
			    const PgcEtcdReplyError *err)
{
	if (st != ETCD_OK)
		reply_error(e, what, err, 200);
	return st;
}

PgcEtcdStatus etcd_get(PgcEtcdClient *e, PgcArena *a, const char *key, PgcEtcdKv *out,
		       bool *found, int64_t *revision)
{
	PgcEtcdReplyError err;
	PgcEtcdKv *kvs;
	char what[512];
	json_t *msg;
	size_t n;
	PgcEtcdStatus st;

	*found = false;
	memset(out, 0, sizeof(*out));
	describe(what, sizeof(what), "get", key);
	st = call(e, what, "/v3/kv/range", etcd_req_range(key, false), SEND_SAFE, &msg);
	if (st != ETCD_OK)
		return st;
	st = parsed(e, what, etcd_parse_range(a, msg, &kvs, &n, revision, &err), &err);
	json_decref(msg);
	if (st == ETCD_OK && n > 0) {
		*out = kvs[0];
		*found = true;
	}
	return st;
}

PgcEtcdStatus etcd_get_prefix(PgcEtcdClient *e, PgcArena *a, const char *prefix, PgcEtcdKv **out,
			      size_t *n, int64_t *revision)
{
	PgcEtcdReplyError err;
	char what[512];
	json_t *msg;
	PgcEtcdStatus st;

	*out = NULL;
	*n = 0;
	describe(what, sizeof(what), "get prefix", prefix);
	st = call(e, what, "/v3/kv/range", etcd_req_range(prefix, true), SEND_SAFE, &msg);
	if (st != ETCD_OK)
		return st;
	st = parsed(e, what, etcd_parse_range(a, msg, out, n, revision, &err), &err);
	json_decref(msg);
	return st;
}

PgcEtcdStatus etcd_put(PgcEtcdClient *e, const char *key, const char *value, size_t len,
		       int64_t lease)
{
	PgcEtcdReplyError err;
	char what[512];
	json_t *msg;
	PgcEtcdStatus st;

	describe(what, sizeof(what), "put", key);
	st = call(e, what, "/v3/kv/put", etcd_req_put(key, value, len, lease), SEND_ONCE, &msg);
	if (st != ETCD_OK)
		return st;
	st = parsed(e, what, etcd_parse_revision(msg, NULL, &err), &err);
	json_decref(msg);
	return st;
}

PgcEtcdStatus etcd_delete(PgcEtcdClient *e, const char *key)
{
	PgcEtcdReplyError err;
	char what[512];
	json_t *msg;
	PgcEtcdStatus st;

	describe(what, sizeof(what), "delete", key);
	st = call(e, what, "/v3/kv/deleterange", etcd_req_delete(key), SEND_ONCE, &msg);
	if (st != ETCD_OK)
		return st;
	st = parsed(e, what, etcd_parse_revision(msg, NULL, &err), &err);
	json_decref(msg);
	return st;
}

PgcEtcdStatus etcd_txn(PgcEtcdClient *e, const PgcEtcdCompare *cmp, size_t n_cmp,
		       const PgcEtcdOp *ops, size_t n_ops, bool *succeeded, int64_t *revision)
{
	PgcEtcdReplyError err;
	char what[512];
	json_t *msg;
	PgcEtcdStatus st;

	*succeeded = false;
	describe(what, sizeof(what), "transaction on", n_cmp > 0 ? cmp[0].key : n_ops > 0 ? ops[0].key : "");
	st = call(e, what, "/v3/kv/txn", etcd_req_txn(cmp, n_cmp, ops, n_ops), SEND_ONCE,
		  &msg);
	if (st != ETCD_OK)
		return st;
	st = parsed(e, what, etcd_parse_txn(msg, succeeded, revision, &err), &err);
	json_decref(msg);
	return st;
}

PgcEtcdStatus etcd_lease_grant(PgcEtcdClient *e, int64_t ttl_s, int64_t *id)
{
	PgcEtcdReplyError err;
	json_t *msg;
	PgcEtcdStatus st;

	*id = 0;
	st = call(e, "grant a lease", "/v3/lease/grant", etcd_req_lease_grant(ttl_s), SEND_ONCE,
		  &msg);
	if (st != ETCD_OK)
		return st;
	st = parsed(e, "grant a lease", etcd_parse_lease_grant(msg, id, NULL, &err), &err);
	json_decref(msg);
	return st;
}

PgcEtcdStatus etcd_lease_keepalive(PgcEtcdClient *e, int64_t id, int64_t *ttl_left)
{
	PgcEtcdReplyError err;
	char what[64];
	json_t *msg;
	PgcEtcdStatus st;

	*ttl_left = 0;
	snprintf(what, sizeof(what), "keep lease %" PRId64 " alive", id);
	st = call(e, what, "/v3/lease/keepalive", etcd_req_lease_id(id), SEND_SAFE, &msg);
	if (st != ETCD_OK)
		return st;
	st = parsed(e, what, etcd_parse_keepalive(msg, ttl_left, &err), &err);
	json_decref(msg);
	return st;
}

PgcEtcdStatus etcd_lease_revoke(PgcEtcdClient *e, int64_t id)
{
	char what[64];
	json_t *msg;
	PgcEtcdStatus st;

	snprintf(what, sizeof(what), "revoke lease %" PRId64, id);
	st = call(e, what, "/v3/kv/lease/revoke", etcd_req_lease_id(id), SEND_SAFE, &msg);
	/* A lease that has already expired is as revoked as it can be. */
	if (st == ETCD_REFUSED && strstr(e->error, "requested lease not found") != NULL) {
		e->error[0] = '\0';
		return ETCD_OK;
	}
	json_decref(msg);
	return st;
}

PgcEtcdStatus etcd_watch_prefix(PgcEtcdClient *e, const char *prefix, int64_t from_revision,
				int wait_ms, bool *changed, int64_t *revision)
{
	char *body = etcd_req_watch(prefix, from_revision), what[512];
	PgcEtcdStatus st = ETCD_BAD_REPLY;
	int attempt;
	long http;

	*changed = false;
	if (revision != NULL)
		*revision = 0;
	e->error[0] = '\0';
	describe(what, sizeof(what), "watch", prefix);
	if (wait_ms < 1)
		wait_ms = 1;
	for (attempt = 0; attempt < 2; attempt++) {
		double deadline = clock_ms() + (wait_ms > e->timeout_ms ? wait_ms : e->timeout_ms);

		if (e->user != NULL && e->token == NULL && !e->auth_off &&
		    (st = authenticate(e, deadline)) != ETCD_OK)
			break;
		memset(&e->watch, 0, sizeof(e->watch));
		e->watch.active = true;
		st = exchange(e, what, "/v3/watch", body, strlen(body), wait_ms, SEND_WATCH, &http);
		e->watch.active = false;
		if (st != ETCD_OK)
			break;
		if (e->watch.done && e->watch.status != ETCD_OK) {
			st = e->watch.status;
			reply_error(e, what, &e->watch.err, http);
			if (e->watch.err.code == ETCD_GRPC_UNAUTHENTICATED && e->user != NULL &&
			    attempt == 0) {
				drop_token(e);
				continue;
			}
			break;
		}
		if (!e->watch.created && !e->watch.done) {
			/* Not a stream: an error reply, or something else at that address. */
			PgcEtcdReplyError err;
			json_t *msg = etcd_reply_parse(e->buf, e->len, &err);

			if (msg != NULL) {
				json_decref(msg);
				snprintf(err.text, sizeof(err.text), "the watch was not confirmed");
				err.status = ETCD_BAD_REPLY;
			}
			st = err.status;
			reply_error(e, what, &err, http);
			if (err.code == ETCD_GRPC_UNAUTHENTICATED && e->user != NULL && attempt == 0) {
				drop_token(e);
				continue;
			}
			break;
		}
		*changed = e->watch.changed;
		if (revision != NULL && e->watch.changed)
			*revision = e->watch.revision;
		e->error[0] = '\0';
		st = ETCD_OK;
		break;
	}
	free(body);
	return st;
}

/* endpoint_ok - "http://..." or "https://..." with a host. */
static bool endpoint_ok(const char *s)
{
	const char *rest = strncmp(s, "http://", 7) == 0	? s + 7
			   : strncmp(s, "https://", 8) == 0 ? s + 8
							      : NULL;

	return rest != NULL && *rest != '\0' && *rest != '/' && strpbrk(s, " \r\n\t") == NULL;
}

static bool readable(const char *what, const char *path, char *err, size_t errlen)
{
	if (path == NULL || access(path, R_OK) == 0)
		return true;
	snprintf(err, errlen, "etcd: cannot read the %s \"%s\": %s", what, path, strerror(errno));
	return false;
}

PgcEtcdClient *etcd_open(const PgcEtcdConfig *cfg, char *err, size_t errlen)
{
	PgcEtcdClient *e;
	size_t i;

	if (cfg->n_endpoints == 0) {
		snprintf(err, errlen, "etcd: no endpoint");
		return NULL;
	}
	for (i = 0; i < cfg->n_endpoints; i++) {
		if (!endpoint_ok(cfg->endpoints[i])) {
			snprintf(err, errlen,
				 "etcd: endpoint \"%s\" is not an http:// or https:// URL",
				 cfg->endpoints[i]);
			return NULL;
		}
	}
	if ((cfg->user == NULL) != (cfg->password == NULL)) {
		snprintf(err, errlen, "etcd: a user needs a password, and a password a user");
		return NULL;
	}
	if ((cfg->cert_file == NULL) != (cfg->key_file == NULL)) {
		snprintf(err, errlen, "etcd: a client certificate needs its key, and a key its certificate");
		return NULL;
	}
	if (!readable("CA file", cfg->ca_file, err, errlen) ||
	    !readable("client certificate", cfg->cert_file, err, errlen) ||
	    !readable("client key", cfg->key_file, err, errlen))
		return NULL;
	pthread_once(&curl_once, curl_init);
	if (curl_init_rc != CURLE_OK) {
		snprintf(err, errlen, "etcd: libcurl: %s", curl_easy_strerror(curl_init_rc));
		return NULL;
	}
	e = xmalloc(sizeof(*e));
	memset(e, 0, sizeof(*e));
	e->curl = curl_easy_init();
	if (e->curl == NULL) {
		free(e);
		snprintf(err, errlen, "etcd: libcurl cannot make a handle");
		return NULL;
	}
	e->endpoints = xmalloc(cfg->n_endpoints * sizeof(*e->endpoints));
	for (i = 0; i < cfg->n_endpoints; i++) {
		size_t n = strlen(cfg->endpoints[i]);

		while (n > 0 && cfg->endpoints[i][n - 1] == '/')
			n--;
		e->endpoints[i] = xasprintf("%.*s", (int)n, cfg->endpoints[i]);
	}
	e->n_endpoints = cfg->n_endpoints;
	e->timeout_ms = cfg->timeout_ms > 0 ? cfg->timeout_ms : ETCD_DEFAULT_TIMEOUT_MS;
	if (cfg->user != NULL) {
		e->user = xstrdup(cfg->user);
		e->password = xstrdup(cfg->password);
	}
	e->ca_file = cfg->ca_file != NULL ? xstrdup(cfg->ca_file) : NULL;
	e->cert_file = cfg->cert_file != NULL ? xstrdup(cfg->cert_file) : NULL;
	e->key_file = cfg->key_file != NULL ? xstrdup(cfg->key_file) : NULL;

	curl_easy_setopt(e->curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e->curl, CURLOPT_POST, 1L);
	curl_easy_setopt(e->curl, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(e->curl, CURLOPT_WRITEDATA, e);
	curl_easy_setopt(e->curl, CURLOPT_ERRORBUFFER, e->curl_err);
	curl_easy_setopt(e->curl, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(e->curl, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(e->curl, CURLOPT_TCP_KEEPALIVE, 1L);
	curl_easy_setopt(e->curl, CURLOPT_TCP_NODELAY, 1L);
	/* Proxies from the environment are not for etcd on a private network. */
	curl_easy_setopt(e->curl, CURLOPT_NOPROXY, "*");
	if (e->ca_file != NULL)
		curl_easy_setopt(e->curl, CURLOPT_CAINFO, e->ca_file);
	if (e->cert_file != NULL) {
		curl_easy_setopt(e->curl, CURLOPT_SSLCERT, e->cert_file);
		curl_easy_setopt(e->curl, CURLOPT_SSLKEY, e->key_file);
	}
	if (set_headers(e) != 0) {
		etcd_close(e);
		snprintf(err, errlen, "etcd: cannot build the request's headers");
		return NULL;
	}
	return e;
}

void etcd_close(PgcEtcdClient *e)
{
	size_t i;

	if (e == NULL)
		return;
	curl_easy_cleanup(e->curl);
	curl_slist_free_all(e->headers);
	for (i = 0; i < e->n_endpoints; i++)
		free(e->endpoints[i]);
	free(e->endpoints);
	if (e->password != NULL) {
		explicit_bzero(e->password, strlen(e->password));
		free(e->password);
	}
	free(e->user);
	free(e->token);
	free(e->ca_file);
	free(e->cert_file);
	free(e->key_file);
	free(e->buf);
	free(e);
}
