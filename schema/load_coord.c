/*
 * schema/load_coord.c - coordination.etcd (schema/load_coord.h).
 *
 * The agents of every host read the same file, so what they would each
 * refuse later (an endpoint with a path, a lease too short to survive a
 * pause, half a client certificate) is refused here, before any agent
 * starts, with the position of the value.
 */
#include "schema/load_coord.h"

#include <stdlib.h>
#include <string.h>

#include "common/strutil.h"

#define ETCD_DEFAULT_PREFIX "/pgconverge"
#define ETCD_DEFAULT_TTL_MS 10000
#define ETCD_MIN_TTL_MS 2000
#define ETCD_MAX_TTL_MS 60000

#define ENDPOINT_HINT "write http://HOST:PORT or https://HOST:PORT, e.g. http://10.0.0.5:2379"

/* host_ok - a host name or IPv4 address, or an IPv6 address in brackets. */
static bool host_ok(const char *h, size_t len)
{
	if (len == 0)
		return false;
	if (h[0] == '[') {
		if (len < 3 || h[len - 1] != ']')
			return false;
		for (size_t i = 1; i + 1 < len; i++)
			if (strchr("0123456789abcdefABCDEF:.", h[i]) == NULL)
				return false;
		return true;
	}
	for (size_t i = 0; i < len; i++)
		if (strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-_", h[i]) ==
		    NULL)
			return false;
	return true;
}

/*
 * endpoint_scheme - "http" or "https" when s is SCHEME://HOST:PORT with
 * nothing after the port; NULL (why in *why) otherwise.
 */
static const char *endpoint_scheme(const char *s, const char **why)
{
	const char *scheme, *rest, *colon, *p;
	long port = 0;

	if (str_has_prefix(s, "http://")) {
		scheme = "http";
		rest = s + strlen("http://");
	} else if (str_has_prefix(s, "https://")) {
		scheme = "https";
		rest = s + strlen("https://");
	} else {
		*why = "expected a URL starting with http:// or https://";
		return NULL;
	}
	colon = rest[0] == '[' ? strstr(rest, "]:") : strrchr(rest, ':');
	if (colon != NULL && rest[0] == '[')
		colon++;
	if (strpbrk(rest, "/?#@") != NULL) {
		*why = "expected no path, query or user part after the port";
		return NULL;
	}
	if (colon == NULL || colon[1] == '\0') {
		*why = "expected a port after the host";
		return NULL;
	}
	if (!host_ok(rest, (size_t)(colon - rest))) {
		*why = "expected a host name or address before the port";
		return NULL;
	}
	for (p = colon + 1; *p; p++) {
		if (*p < '0' || *p > '9' || port > 65535) {
			*why = "expected a port number from 1 to 65535";
			return NULL;
		}
		port = port * 10 + (*p - '0');
	}
	if (port < 1 || port > 65535) {
		*why = "expected a port number from 1 to 65535";
		return NULL;
	}
	return scheme;
}

/* check_endpoints - each endpoint well formed; *https when they use https (all of them). */
static void check_endpoints(Ctx *c, PgcEtcd *e, const char *path, bool *https)
{
	const char *first = NULL;
	const char *key = load_join(c, path, "endpoints");

	*https = false;
	if (e->endpoints.n == 0) {
		ERR(c, e->endpoints.pos, key, ENDPOINT_HINT, "expected at least one endpoint");
		return;
	}
	for (size_t i = 0; i < e->endpoints.n; i++) {
		const PgcStr *ep = &e->endpoints.items[i];
		const char *why = NULL, *scheme = endpoint_scheme(ep->v, &why);
		const char *ikey = arena_printf(c->a, "%s[%zu]", key, i);

		if (scheme == NULL) {
			ERR(c, ep->pos, ikey, ENDPOINT_HINT, "endpoint \"%s\": %s", ep->v, why);
			continue;
		}
		if (first == NULL) {
			first = scheme;
			*https = strcmp(scheme, "https") == 0;
		} else if (strcmp(first, scheme) != 0) {
			ERR(c, ep->pos, ikey, "use https for every endpoint, or http for every one",
			    "endpoint \"%s\": expected %s like the first endpoint", ep->v, first);
		}
	}
}

static void check_prefix(Ctx *c, PgcEtcd *e, const char *path)
{
	const char *p = e->prefix.v;
	size_t len = strlen(p);

	if (!e->prefix.set)
		return;
	if (p[0] != '/' || len < 2 || p[len - 1] == '/' || strstr(p, "//") != NULL)
		ERR(c, e->prefix.pos, load_join(c, path, "prefix"),
		    "e.g. \"" ETCD_DEFAULT_PREFIX "\" or \"/pgconverge/prod\"",
		    "expected a key prefix starting with \"/\", without a trailing \"/\" or an empty "
		    "part, got \"%s\"",
		    p);
}

/* check_pairs - what goes together, and TLS files only over TLS. */
static void check_pairs(Ctx *c, PgcEtcd *e, const char *path, bool https)
{
	const PgcStr *tls[] = {&e->ca_file, &e->cert_file, &e->key_file};
	const char *tls_keys[] = {"ca_file", "cert_file", "key_file"};

	if (e->user.set && !e->password.set)
		ERR(c, e->user.pos, load_join(c, path, "user"),
		    "add password: {env: VARIABLE} or {file: PATH}",
		    "expected password with user: etcd authenticates with both");
	if (e->password.set && !e->user.set)
		ERR(c, e->password.pos, load_join(c, path, "password"), "add user: the etcd user's name",
		    "expected user with password: etcd authenticates with both");
	if (e->cert_file.set && !e->key_file.set)
		ERR(c, e->cert_file.pos, load_join(c, path, "cert_file"),
		    "add key_file: the client certificate's private key",
		    "expected key_file with cert_file");
	if (e->key_file.set && !e->cert_file.set)
		ERR(c, e->key_file.pos, load_join(c, path, "key_file"),
		    "add cert_file: the client certificate", "expected cert_file with key_file");
	for (size_t i = 0; i < sizeof tls / sizeof *tls; i++)
		if (tls[i]->set && !https && e->endpoints.n > 0)
			ERR(c, tls[i]->pos, load_join(c, path, tls_keys[i]),
			    "use https:// endpoints, or remove the TLS files",
			    "expected https endpoints with %s: TLS files are for https only",
			    tls_keys[i]);
}

static void fn_etcd(Ctx *c, Entry *en, const char *path, void *base)
{
	static const Field f[] = {
		FLD_REQ("endpoints", PgcEtcd, F_STRLIST, endpoints),
		FLD("prefix", PgcEtcd, F_STR, prefix),
		FLD("ttl", PgcEtcd, F_DUR, ttl),
		FLD("user", PgcEtcd, F_STR, user),
		FLD("password", PgcEtcd, F_SECRET, password),
		FLD("ca_file", PgcEtcd, F_PATH, ca_file),
		FLD("cert_file", PgcEtcd, F_PATH, cert_file),
		FLD("key_file", PgcEtcd, F_PATH, key_file),
		FLD_END,
	};
	PgcTopology *t = base;
	PgcEtcd *e = &t->etcd;
	size_t errors = diag_count(c->diags, DIAG_ERROR);
	bool https = false;

	e->pos = load_node_pos(en->val);
	if (!load_fields(c, en->val, path, f, e, NULL))
		return;
	e->set = true;
	if (!e->prefix.set)
		e->prefix.v = ETCD_DEFAULT_PREFIX;
	if (!e->ttl.set)
		e->ttl.ms = ETCD_DEFAULT_TTL_MS;
	if (diag_count(c->diags, DIAG_ERROR) != errors)
		return; /* a value of the wrong type: its own error is enough */
	check_endpoints(c, e, path, &https);
	check_prefix(c, e, path);
	if (e->ttl.set && (e->ttl.ms < ETCD_MIN_TTL_MS || e->ttl.ms > ETCD_MAX_TTL_MS))
		ERR(c, e->ttl.pos, load_join(c, path, "ttl"),
		    "a short ttl fails over sooner but mistakes a pause for a death; the default is 10s",
		    "expected a lease between 2s and 60s, got %lld%s",
		    (long long)(e->ttl.ms % 1000 == 0 ? e->ttl.ms / 1000 : e->ttl.ms),
		    e->ttl.ms % 1000 == 0 ? "s" : "ms");
	check_pairs(c, e, path, https);
}

void load_fn_coordination(Ctx *c, Entry *e, const char *path, void *base)
{
	static const Field f[] = {
		{"etcd", F_FN, 0, 0, 0, NULL, 0, fn_etcd, true},
		FLD_END,
	};
	PgcTopology *t = base;

	t->coordination_pos = load_node_pos(e->val);
	load_fields(c, e->val, path, f, t, NULL);
}
