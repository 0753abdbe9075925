/*
 * common/digest.h - SHA-256 as lowercase hex, for topology digests,
 * observed-state fingerprints and WAL archive checksums (libcrypto).
 *
 * One call for bytes in memory (digest_sha256_hex), or a stream fed in
 * pieces (digest_sha256_init, digest_update ..., digest_final_hex): both
 * give the same 64 hex digits for the same bytes. libcrypto failing to
 * hash (out of memory) aborts: no caller could go on without the digest.
 */
#ifndef PGC_COMMON_DIGEST_H
#define PGC_COMMON_DIGEST_H

#include <stddef.h>

#define DIGEST_HEX_LEN 64

/* digest_sha256_hex - writes 64 hex digits and a NUL into out. */
void digest_sha256_hex(const void *data, size_t len, char out[DIGEST_HEX_LEN + 1]);

/* PgcDigest - a SHA-256 being computed; the caller owns it until digest_final_hex(). */
typedef struct {
	void *md; /* EVP_MD_CTX */
} PgcDigest;

/* digest_sha256_init - starts a SHA-256 stream in d. */
void digest_sha256_init(PgcDigest *d);
/* digest_update - feeds len more bytes. */
void digest_update(PgcDigest *d, const void *data, size_t len);
/* digest_final_hex - the digest of all that was fed, as digest_sha256_hex() writes it; frees d. */
void digest_final_hex(PgcDigest *d, char out[DIGEST_HEX_LEN + 1]);
/* digest_discard - frees a stream that is not finished (a read failed); NULL-safe. */
void digest_discard(PgcDigest *d);

#endif
