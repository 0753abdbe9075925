/*
 * reconcile/coord/etcd_json.h - the pure half of the etcd client
 * (etcd.h): the JSON bodies of the v3 gateway's requests and the parsing of
 * its replies, base64, and the range end of a prefix. No I/O, so that it is
 * unit-tested on replies taken from a real etcd 3.4.
 *
 * What the gateway does that the parsers rely on:
 *   - keys and values are base64; int64 fields are JSON strings (integers
 *     are accepted too); fields equal to zero, false or empty are omitted
 *     (a failed txn has no "succeeded", a range with no key no "kvs");
 *   - an error is {"error": "...", "message": "...", "code": N} (N the gRPC
 *     code), or in a stream {"error": {"grpc_code": N, "message": ...}};
 *   - streams (watch, keep-alive) send one JSON object a line, each wrapped
 *     in {"result": ...};
 *   - a keep-alive of an expired or unknown lease is a result without TTL;
 *   - a watch starts with a {"created": true} message, not an event; a watch
 *     etcd refuses is "created" and "canceled" with a cancel_reason.
 *
 * Request builders return a malloc'd NUL-terminated JSON text (free() it),
 * NULL only when the input cannot be encoded (a value too large).
 */
#ifndef PGC_RECONCILE_COORD_ETCD_JSON_H
#define PGC_RECONCILE_COORD_ETCD_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "common/arena.h"

/* The values the client (etcd.h) takes and returns, in their wire form here. */

/* One key as etcd returns it. Strings are NUL-terminated (values may hold any byte but NUL). */
typedef struct {
	const char *key;
	const char *value;
	size_t value_len;
	int64_t create_revision;
	int64_t mod_revision;
	int64_t version;
	int64_t lease;                /* 0: none */
} PgcEtcdKv;

/* What an error was: a transport problem (try later), or etcd refusing the request. */
typedef enum {
	ETCD_OK = 0,
	ETCD_UNREACHABLE = -1,        /* no endpoint answered within the timeout */
	ETCD_REFUSED = -2,            /* etcd answered with an error (auth, lease not found ...) */
	ETCD_BAD_REPLY = -3,          /* a reply that is not what the API documents */
} PgcEtcdStatus;

/* The comparison of a transaction: one key, one field. */
typedef enum {
	ETCD_CMP_CREATE_REVISION, /* 0 means "the key does not exist" */
	ETCD_CMP_MOD_REVISION,
	ETCD_CMP_VALUE,
} PgcEtcdCmpTarget;

typedef struct {
	const char *key;
	PgcEtcdCmpTarget target;
	int64_t revision;             /* CREATE_REVISION, MOD_REVISION: equal to this */
	const char *value;            /* VALUE: equal to this (NUL-terminated) */
} PgcEtcdCompare;

/* One operation of a transaction's success branch. */
typedef struct {
	const char *key;
	const char *value;            /* NULL: delete key */
	size_t len;
	int64_t lease;
} PgcEtcdOp;

/* gRPC codes the client acts on. */
#define ETCD_GRPC_DEADLINE_EXCEEDED 4
#define ETCD_GRPC_NOT_FOUND 5
#define ETCD_GRPC_UNAVAILABLE 14
#define ETCD_GRPC_UNAUTHENTICATED 16

/* Why a reply is not a success. */
typedef struct {
	PgcEtcdStatus status; /* ETCD_REFUSED: etcd said no; ETCD_UNREACHABLE: etcd has no
			       * leader or timed out (try later); ETCD_BAD_REPLY */
	int code;             /* the gRPC code of an error reply, else 0 */
	char text[256];       /* etcd's message, or what is wrong with the reply */
} PgcEtcdReplyError;

/* etcd_b64_encode - base64 of len bytes (malloc'd, NUL-terminated). */
char *etcd_b64_encode(const void *data, size_t len);

/*
 * etcd_b64_decode - the bytes of base64 text, NUL-terminated, in a; *len
 * their number (without the NUL). NULL when text is not base64.
 */
char *etcd_b64_decode(PgcArena *a, const char *text, size_t *len);

/*
 * etcd_prefix_end - the range_end that selects every key starting with
 * prefix (len bytes): the prefix with its last byte incremented, trailing
 * 0xff bytes dropped first; a single NUL byte (every key) when prefix is
 * empty or all 0xff. Malloc'd, *end_len its length.
 */
char *etcd_prefix_end(const char *prefix, size_t len, size_t *end_len);

/* etcd_json_int64 - an int64 field (a string of digits or a JSON integer); absent is 0. -1 otherwise. */
int etcd_json_int64(const json_t *v, int64_t *out);

/* Request bodies. */
char *etcd_req_range(const char *key, bool prefix);
char *etcd_req_put(const char *key, const char *value, size_t len, int64_t lease);
char *etcd_req_delete(const char *key);
char *etcd_req_txn(const PgcEtcdCompare *cmp, size_t n_cmp, const PgcEtcdOp *ops, size_t n_ops);
char *etcd_req_lease_grant(int64_t ttl_s);
/* etcd_req_lease_id - {"ID": id}: keep-alive, revoke. */
char *etcd_req_lease_id(int64_t id);
/* etcd_req_watch - a create_request for every key under prefix from from_revision (0: now). */
char *etcd_req_watch(const char *prefix, int64_t from_revision);

/*
 * etcd_req_auth - {"name":..., "password":...} into buf (cap bytes, NUL
 * included), without any other copy of the password (the caller wipes buf).
 * Its length, or -1 when it does not fit.
 */
int etcd_req_auth(char *buf, size_t cap, const char *user, const char *password);

/*
 * etcd_reply_parse - the message of a reply (a new reference; json_decref
 * it): the object itself, or the "result" of a streamed one. NULL with err
 * filled when the reply is an error or not the JSON of a message.
 */
json_t *etcd_reply_parse(const char *text, size_t len, PgcEtcdReplyError *err);

/* The parsers of a message (as etcd_reply_parse returned it). ETCD_OK or ETCD_BAD_REPLY (err->text). */

/* etcd_parse_revision - header.revision. */
PgcEtcdStatus etcd_parse_revision(const json_t *msg, int64_t *revision, PgcEtcdReplyError *err);

/* etcd_parse_range - the kvs (none: *n 0), strings in a. */
PgcEtcdStatus etcd_parse_range(PgcArena *a, const json_t *msg, PgcEtcdKv **kvs, size_t *n,
			       int64_t *revision, PgcEtcdReplyError *err);

/* etcd_parse_txn - whether the comparisons held, and the revision after it. */
PgcEtcdStatus etcd_parse_txn(const json_t *msg, bool *succeeded, int64_t *revision,
			     PgcEtcdReplyError *err);

PgcEtcdStatus etcd_parse_lease_grant(const json_t *msg, int64_t *id, int64_t *ttl,
				     PgcEtcdReplyError *err);

/* etcd_parse_keepalive - the TTL etcd now gives the lease; 0 when it has expired. */
PgcEtcdStatus etcd_parse_keepalive(const json_t *msg, int64_t *ttl_left, PgcEtcdReplyError *err);

/* etcd_parse_token - the token of an authenticate reply (malloc'd). NULL: none. */
char *etcd_parse_token(const json_t *msg, PgcEtcdReplyError *err);

/* One message of a watch stream. */
typedef struct {
	bool created;         /* the confirmation that the watch exists */
	bool canceled;        /* etcd ended the watch (cancel_reason in err->text) */
	bool compacted;       /* ... because from_revision was compacted away */
	size_t n_events;
	int64_t revision;     /* the highest mod_revision of the events; else header.revision */
} PgcEtcdWatchMsg;

/*
 * etcd_parse_watch - one message. A cancel is ETCD_REFUSED with the reason
 * in err (code ETCD_GRPC_UNAUTHENTICATED when the auth token was invalid),
 * except after a compaction: ETCD_OK with compacted set (read again).
 */
PgcEtcdStatus etcd_parse_watch(const json_t *msg, PgcEtcdWatchMsg *out, PgcEtcdReplyError *err);

#endif
