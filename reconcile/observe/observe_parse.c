/*
 * reconcile/observe/observe_parse.c - the probe's pure parsers and checks
 * (observe_parse.h): pg_controldata output, postgresql.conf includes,
 * timeline history files, postmaster.pid, password verifiers, conninfo.
 * No I/O, no logging.
 */
#include "reconcile/observe/observe_parse.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <libpq-fe.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "common/fsutil.h"
#include "reconcile/pg/layout.h"
#include "reconcile/pg/pgsql.h"

#define SCRAM_MAX_ITERATIONS 10000000
#define SCRAM_KEY_LEN 32

/* ---- pure helpers --------------------------------------------------------- */

const char *observe_dir_state_name(PgcDirState s)
{
	switch (s) {
	case DIR_UNKNOWN:
		return "unknown";
	case DIR_ABSENT:
		return "absent";
	case DIR_EMPTY:
		return "empty";
	case DIR_INITIALIZED:
		return "initialized";
	case DIR_FOREIGN:
		return "foreign";
	}
	return "unknown";
}

const char *observe_clone_marker_path(PgcArena *a, const char *data_dir)
{
	char *p = fs_path_sibling(data_dir, ".pgconverge-clone");
	const char *out = arena_strdup(a, p);

	free(p);
	return out;
}

bool observe_clone_marker_names(const char *text, const char *data_dir)
{
	const char *line = text;
	size_t dlen = strlen(data_dir);

	while (line != NULL && *line != '\0') {
		const char *nl = strchr(line, '\n');
		size_t len = nl ? (size_t)(nl - line) : strlen(line);

		if (len == 9 + dlen && strncmp(line, "data_dir=", 9) == 0 &&
		    strncmp(line + 9, data_dir, dlen) == 0)
			return true;
		line = nl ? nl + 1 : NULL;
	}
	return false;
}

/* control_value - the value after "key:" on its own line of text, trimmed, or NULL. */
static const char *control_value(const char *text, const char *key, char *buf, size_t size)
{
	size_t klen = strlen(key);

	for (const char *line = text; line != NULL && *line != '\0';) {
		const char *eol = strchr(line, '\n');
		size_t len = eol != NULL ? (size_t)(eol - line) : strlen(line);

		if (len > klen && strncmp(line, key, klen) == 0 && line[klen] == ':') {
			const char *v = line + klen + 1;
			size_t vlen = len - klen - 1;

			while (vlen > 0 && isspace((unsigned char)*v)) {
				v++;
				vlen--;
			}
			while (vlen > 0 && isspace((unsigned char)v[vlen - 1]))
				vlen--;
			if (vlen >= size)
				vlen = size - 1;
			memcpy(buf, v, vlen);
			buf[vlen] = '\0';
			return buf;
		}
		line = eol != NULL ? eol + 1 : NULL;
	}
	return NULL;
}

int observe_parse_controldata(PgcArena *a, const char *text, PgcObsNode *n)
{
	char buf[256];
	const char *v;
	char *end;

	if (text == NULL)
		return -1;
	v = control_value(text, "Database system identifier", buf, sizeof buf);
	if (v == NULL)
		return -1;
	errno = 0;
	n->system_identifier = strtoull(v, &end, 10);
	if (errno != 0 || end == v || *end != '\0') {
		n->system_identifier = 0;
		return -1;
	}
	if ((v = control_value(text, "Latest checkpoint's TimeLineID", buf, sizeof buf)) != NULL)
		n->timeline = (unsigned)strtoul(v, NULL, 10);
	if ((v = control_value(text, "Database cluster state", buf, sizeof buf)) != NULL)
		n->cluster_state = arena_strdup(a, v);
	if ((v = control_value(text, "Data page checksum version", buf, sizeof buf)) != NULL)
		n->data_checksums = strtoul(v, NULL, 10) != 0;
	if ((v = control_value(text, "wal_log_hints setting", buf, sizeof buf)) != NULL)
		n->wal_log_hints = strcmp(v, "on") == 0;
	return 0;
}

/*
 * conf_word - the next token of a postgresql.conf line: a quoted string
 * (with '' and \' for a quote) or a bare run of characters other than
 * white space, '=' and '#'. Returns the position after it, NULL at the end
 * of the line or at a comment.
 */
static const char *conf_word(const char *p, char *out, size_t size)
{
	size_t n = 0;

	while (*p == ' ' || *p == '\t')
		p++;
	if (*p == '\0' || *p == '#' || *p == '\n' || *p == '\r')
		return NULL;
	if (*p == '\'') {
		for (p++; *p != '\0' && *p != '\n'; p++) {
			if (*p == '\\' && p[1] != '\0' && p[1] != '\n') {
				p++;
			} else if (*p == '\'') {
				if (p[1] != '\'')
					break;
				p++;
			}
			if (n + 1 < size)
				out[n++] = *p;
		}
		out[n] = '\0';
		return *p == '\'' ? p + 1 : NULL;
	}
	if (*p == '=') {
		if (size > 1)
			out[n++] = '=';
		out[n] = '\0';
		return p + 1;
	}
	while (*p != '\0' && *p != '\n' && *p != ' ' && *p != '\t' && *p != '=' && *p != '#' &&
	       *p != '\r') {
		if (n + 1 < size)
			out[n++] = *p;
		p++;
	}
	out[n] = '\0';
	return p;
}

bool observe_conf_includes(const char *conf, const char *data_dir)
{
	char absolute[PATH_MAX + 32];

	if (conf == NULL)
		return false;
	snprintf(absolute, sizeof absolute, "%s/%s", data_dir != NULL ? data_dir : "",
		 PGC_MANAGED_CONF);
	for (const char *line = conf; line != NULL && *line != '\0';) {
		const char *eol = strchr(line, '\n');
		char word[PATH_MAX + 32];
		const char *p = conf_word(line, word, sizeof word);

		if (p != NULL && strcasecmp(word, "include") == 0) {
			p = conf_word(p, word, sizeof word);
			if (p != NULL && strcmp(word, "=") == 0)
				p = conf_word(p, word, sizeof word);
			if (p != NULL && (strcmp(word, PGC_MANAGED_CONF) == 0 ||
					  (data_dir != NULL && strcmp(word, absolute) == 0)))
				return true;
		}
		line = eol != NULL ? eol + 1 : NULL;
	}
	return false;
}

int observe_parse_history(PgcArena *a, const char *text, PgcObsHistory *out)
{
	const char *line = text;
	size_t cap = 0;

	out->parents = NULL;
	out->n_parents = 0;
	while (line != NULL && *line != '\0') {
		const char *nl = strchr(line, '\n');
		unsigned tli, hi, lo;
		char lsn_end;
		int used = 0;

		while (*line == ' ' || *line == '\t')
			line++;
		if (*line != '#' && *line != '\n' && *line != '\0') {
			/* "TLI <tab> HI/LO <tab> reason": the reason is free text. */
			if (sscanf(line, "%u %X/%X%n", &tli, &hi, &lo, &used) != 3 || used == 0)
				return -1;
			lsn_end = line[used];
			if (lsn_end != '\t' && lsn_end != ' ' && lsn_end != '\n' && lsn_end != '\0')
				return -1;
			if (tli == 0 || (out->n_parents > 0 && tli <= out->parents[out->n_parents - 1].tli))
				return -1;
			if (out->n_parents == cap) {
				PgcObsTimelineSwitch *n = arena_calloc(a, cap ? cap * 2 : 8, sizeof(*n));

				if (out->n_parents)
					memcpy(n, out->parents, out->n_parents * sizeof(*n));
				out->parents = n;
				cap = cap ? cap * 2 : 8;
			}
			out->parents[out->n_parents].tli = tli;
			out->parents[out->n_parents].switch_lsn = ((uint64_t)hi << 32) | lo;
			out->n_parents++;
		}
		line = nl ? nl + 1 : NULL;
	}
	return 0;
}

long observe_parse_pidfile(const char *text)
{
	char *end;
	long pid;

	if (text == NULL)
		return 0;
	errno = 0;
	pid = strtol(text, &end, 10);
	if (errno != 0 || end == text || pid <= 0 || (*end != '\n' && *end != '\0'))
		return 0;
	return pid;
}

/* b64_decode - standard base64 into out; the decoded length, or -1. */
static int b64_decode(const char *in, size_t len, unsigned char *out, size_t size)
{
	static const char alphabet[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	unsigned acc = 0;
	int bits = 0;
	size_t n = 0, i = 0;

	for (; i < len && in[i] != '='; i++) {
		const char *c = strchr(alphabet, in[i]);

		if (in[i] == '\0' || c == NULL)
			return -1;
		acc = (acc << 6) | (unsigned)(c - alphabet);
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			if (n >= size)
				return -1;
			out[n++] = (unsigned char)(acc >> bits);
			acc &= (1u << bits) - 1;
		}
	}
	for (; i < len; i++)
		if (in[i] != '=')
			return -1;
	return (int)n;
}

/* observe_hex - lowercase hexadecimal of len bytes into out (2 * len + 1 bytes). */
void observe_hex(const unsigned char *in, size_t len, char *out)
{
	static const char digits[] = "0123456789abcdef";

	for (size_t i = 0; i < len; i++) {
		out[2 * i] = digits[in[i] >> 4];
		out[2 * i + 1] = digits[in[i] & 15];
	}
	out[2 * len] = '\0';
}

static bool is_ascii(const char *s)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s >= 0x80)
			return false;
	return true;
}

/*
 * verify_scram - RFC 5802/7677: SaltedPassword = PBKDF2-HMAC-SHA256(password,
 * salt, iterations); StoredKey = SHA256(HMAC(SaltedPassword, "Client Key"));
 * ServerKey = HMAC(SaltedPassword, "Server Key").
 */
static int verify_scram(const char *verifier, const char *password)
{
	unsigned char salt[256], stored[SCRAM_KEY_LEN], server[SCRAM_KEY_LEN];
	unsigned char salted[SCRAM_KEY_LEN], client_key[SCRAM_KEY_LEN], mine[SCRAM_KEY_LEN];
	unsigned char server_mine[SCRAM_KEY_LEN];
	unsigned int len = 0;
	const char *p = verifier + strlen("SCRAM-SHA-256$"), *colon, *dollar, *colon2;
	char *end;
	long iterations;
	int salt_len, rc = -1;

	errno = 0;
	iterations = strtol(p, &end, 10);
	if (errno != 0 || end == p || *end != ':' || iterations <= 0 ||
	    iterations > SCRAM_MAX_ITERATIONS)
		return -1;
	colon = end;
	dollar = strchr(colon, '$');
	if (dollar == NULL || (colon2 = strchr(dollar, ':')) == NULL)
		return -1;
	salt_len = b64_decode(colon + 1, (size_t)(dollar - colon - 1), salt, sizeof salt);
	if (salt_len <= 0 ||
	    b64_decode(dollar + 1, (size_t)(colon2 - dollar - 1), stored, sizeof stored) !=
		    SCRAM_KEY_LEN ||
	    b64_decode(colon2 + 1, strlen(colon2 + 1), server, sizeof server) != SCRAM_KEY_LEN)
		return -1;
	if (PKCS5_PBKDF2_HMAC(password, (int)strlen(password), salt, salt_len, (int)iterations,
			      EVP_sha256(), SCRAM_KEY_LEN, salted) != 1)
		goto cleanup;
	if (HMAC(EVP_sha256(), salted, SCRAM_KEY_LEN, (const unsigned char *)"Client Key", 10,
		 client_key, &len) == NULL ||
	    EVP_Digest(client_key, SCRAM_KEY_LEN, mine, &len, EVP_sha256(), NULL) != 1 ||
	    HMAC(EVP_sha256(), salted, SCRAM_KEY_LEN, (const unsigned char *)"Server Key", 10,
		 server_mine, &len) == NULL)
		goto cleanup;
	rc = CRYPTO_memcmp(mine, stored, SCRAM_KEY_LEN) == 0 &&
	     CRYPTO_memcmp(server_mine, server, SCRAM_KEY_LEN) == 0;

cleanup:
	OPENSSL_cleanse(salted, sizeof salted);
	OPENSSL_cleanse(client_key, sizeof client_key);
	return rc;
}

/* verify_md5 - "md5" + hex(md5(password || rolname)). */
static int verify_md5(const char *verifier, const char *rolname, const char *password)
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	unsigned char digest[16];
	unsigned int len = 0;
	char text[33];
	int rc = -1;

	if (ctx == NULL)
		return -1;
	if (EVP_DigestInit_ex(ctx, EVP_md5(), NULL) == 1 &&
	    EVP_DigestUpdate(ctx, password, strlen(password)) == 1 &&
	    EVP_DigestUpdate(ctx, rolname, strlen(rolname)) == 1 &&
	    EVP_DigestFinal_ex(ctx, digest, &len) == 1 && len == sizeof digest) {
		observe_hex(digest, sizeof digest, text);
		rc = strlen(verifier) == 35 && CRYPTO_memcmp(verifier + 3, text, 32) == 0;
	}
	EVP_MD_CTX_free(ctx);
	return rc;
}

int observe_verify_password(const char *verifier, const char *rolname, const char *password)
{
	int rc = -1;

	if (verifier == NULL || rolname == NULL || password == NULL)
		return -1;
	if (strncmp(verifier, "SCRAM-SHA-256$", 14) == 0)
		rc = verify_scram(verifier, password);
	else if (strncmp(verifier, "md5", 3) == 0)
		rc = verify_md5(verifier, rolname, password);
	/*
	 * The server SASLprep-normalises a non-ASCII password before hashing it
	 * (and keeps the raw bytes when that fails); only a match is certain then.
	 */
	if (rc == 0 && !is_ascii(password) && strncmp(verifier, "SCRAM", 5) == 0)
		rc = -1;
	return rc;
}

int observe_conninfo_upstream(PgcArena *a, const char *conninfo, const char **host, int *port)
{
	PQconninfoOption *opts;
	char *err = NULL;

	*host = NULL;
	*port = 5432;
	if (conninfo == NULL)
		return -1;
	opts = PQconninfoParse(conninfo, &err);
	if (opts == NULL) {
		PQfreemem(err);
		return -1;
	}
	for (PQconninfoOption *o = opts; o->keyword != NULL; o++) {
		if (o->val == NULL || o->val[0] == '\0')
			continue;
		if (strcmp(o->keyword, "host") == 0)
			*host = arena_strdup(a, o->val);
		else if (strcmp(o->keyword, "hostaddr") == 0 && *host == NULL)
			*host = arena_strdup(a, o->val);
		else if (strcmp(o->keyword, "port") == 0)
			*port = atoi(o->val);
	}
	PQconninfoFree(opts);
	return 0;
}

const char *observe_conninfo_redact(PgcArena *a, const char *conninfo)
{
	PQconninfoOption *opts;
	char *err = NULL, *out = NULL;
	bool has_password = false;

	if (conninfo == NULL)
		return NULL;
	opts = PQconninfoParse(conninfo, &err);
	if (opts == NULL) {
		/* Unparseable: it might still hold a password, so show none of it. */
		PQfreemem(err);
		return "<unparseable conninfo>";
	}
	for (PQconninfoOption *o = opts; o->keyword != NULL; o++)
		has_password |= strcmp(o->keyword, "password") == 0 && o->val != NULL;
	if (!has_password) {
		PQconninfoFree(opts);
		return arena_strdup(a, conninfo);
	}
	out = arena_strdup(a, "");
	for (PQconninfoOption *o = opts; o->keyword != NULL; o++) {
		const char *v = o->val;

		if (v == NULL)
			continue;
		if (strcmp(o->keyword, "password") == 0)
			v = "********";
		out = arena_printf(a, "%s%s%s=%s", out, *out != '\0' ? " " : "", o->keyword,
				   pgsql_conninfo_value(a, v));
	}
	PQconninfoFree(opts);
	return out;
}
