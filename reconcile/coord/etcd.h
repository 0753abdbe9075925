/*
 * reconcile/coord/etcd.h - a client of etcd v3 through its JSON gateway
 * (POST /v3/..., keys and values base64 in the bodies), with libcurl and
 * jansson. What the agents need and nothing more: get (one key or a
 * prefix), put (optionally under a lease), delete, a transaction that
 * compares one key's create_revision / value / mod_revision and then puts or
 * deletes, leases (grant, keep-alive, revoke, time to live), and a bounded
 * watch of a prefix (waits for the next change instead of polling).
 *
 * Endpoints are tried in order; the first that answers is kept for the
 * next calls, and a transport error moves on to the next one (a request
 * is retried on another endpoint only when it cannot have been applied:
 * connection refused or timed out before sending, or a read, keep-alive or
 * revoke, which change nothing when repeated and get a share of timeout_ms
 * per endpoint; otherwise the error is returned and the caller observes
 * again). Every call is bounded by timeout_ms. Authentication: user/password through /v3/auth/authenticate,
 * the token sent in the Authorization header and renewed once when etcd
 * says it is invalid. TLS: a CA file, and a client certificate and key.
 * The password is never logged, never in argv, never in an error.
 *
 * Not thread-safe: one PgcEtcdClient per thread.
 */
#ifndef PGC_RECONCILE_COORD_ETCD_H
#define PGC_RECONCILE_COORD_ETCD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/arena.h"
#include "reconcile/coord/etcd_json.h"

typedef struct PgcEtcdClient PgcEtcdClient;

typedef struct {
	const char *const *endpoints; /* "http://127.0.0.1:2379" ...; copied */
	size_t n_endpoints;
	const char *user;             /* NULL: no authentication */
	const char *password;         /* with user; copied, wiped on close */
	const char *ca_file;          /* NULL: the system's CAs (https only) */
	const char *cert_file;        /* client certificate, with key_file; NULL: none */
	const char *key_file;
	int timeout_ms;               /* per request; 0: ETCD_DEFAULT_TIMEOUT_MS */
} PgcEtcdConfig;

#define ETCD_DEFAULT_TIMEOUT_MS 2000

/*
 * etcd_open - a client for cfg (nothing is sent yet). NULL with the reason
 * in err on a configuration error (no endpoint, unreadable CA file ...).
 */
PgcEtcdClient *etcd_open(const PgcEtcdConfig *cfg, char *err, size_t errlen);
void etcd_close(PgcEtcdClient *e);

/* etcd_error - the last error's text (no secret in it); "" after a success. */
const char *etcd_error(const PgcEtcdClient *e);

/*
 * etcd_get - key's current value into *out (strings in a); *found false
 * when it does not exist. revision (may be NULL): the store's revision of
 * the reply.
 */
PgcEtcdStatus etcd_get(PgcEtcdClient *e, PgcArena *a, const char *key, PgcEtcdKv *out,
		       bool *found, int64_t *revision);

/* etcd_get_prefix - every key that starts with prefix, sorted by key (strings in a). */
PgcEtcdStatus etcd_get_prefix(PgcEtcdClient *e, PgcArena *a, const char *prefix, PgcEtcdKv **out,
			      size_t *n, int64_t *revision);

/* etcd_put - key = value (len bytes), attached to lease (0: none). */
PgcEtcdStatus etcd_put(PgcEtcdClient *e, const char *key, const char *value, size_t len,
		       int64_t lease);

/* etcd_delete - removes key (absent is not an error). */
PgcEtcdStatus etcd_delete(PgcEtcdClient *e, const char *key);

/*
 * etcd_txn - if every comparison holds, the operations, atomically.
 * *succeeded tells which. revision (may be NULL): the store's revision
 * after the transaction (the create_revision of a key it created).
 */
PgcEtcdStatus etcd_txn(PgcEtcdClient *e, const PgcEtcdCompare *cmp, size_t n_cmp,
		       const PgcEtcdOp *ops, size_t n_ops, bool *succeeded, int64_t *revision);

/* etcd_lease_grant - a new lease of ttl_s seconds into *id. */
PgcEtcdStatus etcd_lease_grant(PgcEtcdClient *e, int64_t ttl_s, int64_t *id);

/*
 * etcd_lease_keepalive - renews lease id once; *ttl_left the seconds etcd
 * now gives it; 0 (with ETCD_OK) means the lease has expired or never
 * existed: grant a new one.
 */
PgcEtcdStatus etcd_lease_keepalive(PgcEtcdClient *e, int64_t id, int64_t *ttl_left);

/* etcd_lease_revoke - ends lease id now; its keys are deleted (a lease already gone is not an error). */
PgcEtcdStatus etcd_lease_revoke(PgcEtcdClient *e, int64_t id);

/*
 * etcd_watch_prefix - waits up to wait_ms for a change of a key under
 * prefix at a revision >= from_revision (0: from now on). *changed true
 * when one came (*revision: its revision; after a compaction of
 * from_revision, the store's: read again), false on a quiet timeout (not an
 * error).
 */
PgcEtcdStatus etcd_watch_prefix(PgcEtcdClient *e, const char *prefix, int64_t from_revision,
				int wait_ms, bool *changed, int64_t *revision);

#endif
