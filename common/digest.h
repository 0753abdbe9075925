/*
 * common/digest.h - SHA-256 as lowercase hex, for topology digests and
 * observed-state fingerprints (libcrypto).
 */
#ifndef PGC_COMMON_DIGEST_H
#define PGC_COMMON_DIGEST_H

#include <stddef.h>

#define DIGEST_HEX_LEN 64

/* digest_sha256_hex - writes 64 hex digits and a NUL into out. */
void digest_sha256_hex(const void *data, size_t len, char out[DIGEST_HEX_LEN + 1]);

#endif
