/*
 * common/digest.c - SHA-256 through libcrypto's EVP interface.
 */
#include "common/digest.h"

#include <stdio.h>
#include <stdlib.h>

#include <openssl/evp.h>

/* to_hex - n bytes of md as lowercase hex and a NUL into out. */
static void to_hex(const unsigned char *md, unsigned int n, char *out)
{
	unsigned int i;

	for (i = 0; i < n; i++)
		snprintf(out + 2 * i, 3, "%02x", md[i]);
	out[2 * n] = '\0';
}

void digest_sha256_hex(const void *data, size_t len, char out[DIGEST_HEX_LEN + 1])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int n = 0;

	if (EVP_Digest(data, len, md, &n, EVP_sha256(), NULL) != 1 || n != 32)
		abort();
	to_hex(md, n, out);
}

void digest_sha256_init(PgcDigest *d)
{
	EVP_MD_CTX *md = EVP_MD_CTX_new();

	if (md == NULL || EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1)
		abort();
	d->md = md;
}

void digest_update(PgcDigest *d, const void *data, size_t len)
{
	if (EVP_DigestUpdate(d->md, data, len) != 1)
		abort();
}

void digest_final_hex(PgcDigest *d, char out[DIGEST_HEX_LEN + 1])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int n = 0;

	if (EVP_DigestFinal_ex(d->md, md, &n) != 1 || n != 32)
		abort();
	digest_discard(d);
	to_hex(md, n, out);
}

void digest_discard(PgcDigest *d)
{
	EVP_MD_CTX_free(d->md);
	d->md = NULL;
}
