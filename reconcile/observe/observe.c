/*
 * reconcile/observe/observe.c - probes every node: its data directory (local hosts
 * only) and its server (libpq), and builds the observed model (observe.h).
 *
 * Parallelism: one probe per node, run by a small pool of threads (at most
 * OBS_MAX_THREADS), each probe with its own connections and every connect
 * and query bounded (pgsql.h), so a dead node costs its own timeouts only.
 * The model lives in the PgcObserved's arena, which is not thread-safe:
 * probes allocate model memory under one mutex and their temporary strings
 * in a private scratch arena.
 *
 * Trust: a node is "reachable" only when every query of its probe
 * succeeded; when one fails (connection lost, timeout, error), conn_error
 * says which, and the planner does not act on half an observation.
 *
 * Secrets: role passwords are resolved only to check the stored verifier,
 * then wiped; verifiers are read from pg_authid and never kept; a password
 * inside primary_conninfo is redacted before it is stored.
 */
#include "reconcile/pg/layout.h"
#include "reconcile/observe/observe.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <libpq-fe.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "common/fsutil.h"
#include "common/log.h"
#include "common/proc.h"
#include "reconcile/engine/apply.h"
#include "reconcile/postgres/plan_conf.h"
#include "reconcile/transport/host.h"
#include "reconcile/pg/passfile.h"
#include "reconcile/pg/pgsql.h"
#include "reconcile/engine/secret.h"
#include "reconcile/backup/walarchive_fetch.h"
#include "schema/pgcatalog.h"

#define OBS_MAX_THREADS 32
#define CONTROLDATA_TIMEOUT_MS 10000
/* Files read whole: config files and the like are small. */
#define CONF_MAX_BYTES (16 * 1024 * 1024)
/* A verifier claiming more iterations is not checked (it would stall the probe). */
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

/* hex - lowercase hexadecimal of len bytes into out (2 * len + 1 bytes). */
static void hex(const unsigned char *in, size_t len, char *out)
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
		hex(digest, sizeof digest, text);
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

/* ---- the probe of one node ------------------------------------------------ */

typedef struct {
	PgcArena *arena;          /* the model's: shared between probes, so locked */
	pthread_mutex_t *lock;
	PgcArena *scratch;        /* this probe's temporary strings */
	const PgcCluster *c;
	const PgcNode *node;
	const PgcObserveOptions *opts;
	PgcObsNode *out;
	const char *label;        /* "cluster/node" (scratch) */
	int major;                /* the catalog version settings are normalised with */
	bool failed;              /* a query failed: the observation is incomplete */
	bool control_read;        /* pg_controldata gave the identity and checksum state */
} Probe;

static void *m_alloc(Probe *p, size_t count, size_t size)
{
	void *r;

	if (count == 0)
		return NULL;
	pthread_mutex_lock(p->lock);
	r = arena_calloc(p->arena, count, size);
	pthread_mutex_unlock(p->lock);
	return r;
}

static const char *m_strdup(Probe *p, const char *s)
{
	char *r;

	if (s == NULL)
		return NULL;
	pthread_mutex_lock(p->lock);
	r = arena_strdup(p->arena, s);
	pthread_mutex_unlock(p->lock);
	return r;
}

static const char *m_printf(Probe *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static const char *m_printf(Probe *p, const char *fmt, ...)
{
	va_list ap;
	char *r;

	va_start(ap, fmt);
	pthread_mutex_lock(p->lock);
	r = arena_vprintf(p->arena, fmt, ap);
	pthread_mutex_unlock(p->lock);
	va_end(ap);
	return r;
}

/* path_in - data_dir/name in scratch. */
static const char *path_in(Probe *p, const char *name)
{
	return arena_printf(p->scratch, "%s/%s", p->node->data_dir.v, name);
}

/* read_text - a whole small file, copied into scratch; NULL when absent or unreadable. */
static char *read_text(Probe *p, PgcHost *h, const char *path)
{
	char *buf = NULL, *copy;
	size_t len = 0;

	if (host_read_file(h, path, &buf, &len, CONF_MAX_BYTES) != 0)
		return NULL;
	copy = arena_strndup(p->scratch, buf, len);
	free(buf);
	return copy;
}

/* controldata - runs pg_controldata as os_user and parses its output. */
static void probe_controldata(Probe *p, PgcHost *h)
{
	const char *prog = arena_printf(p->scratch, "%s/pg_controldata", p->c->bin_dir.v);
	const char *argv[] = {prog, "-D", p->node->data_dir.v, NULL};
	const char *env[] = {"LC_ALL=C", NULL};
	PgcProcSpec spec = {.argv = argv, .env_extra = env, .timeout_ms = CONTROLDATA_TIMEOUT_MS};
	PgcProcResult res;
	PgcObsNode parsed = {0};
	char why[128];

	if (host_run(h, &spec, &res) < 0)
		return;
	if (res.status != 0 || res.timed_out) {
		log_warn("could not read the control file of node \"%s\": %s %s: %s", p->label, prog,
			 proc_status_text(&res, why, sizeof why), res.output);
	} else if (observe_parse_controldata(p->scratch, res.output, &parsed) < 0) {
		log_warn("could not read the control file of node \"%s\": no system identifier in "
			 "the output of %s", p->label, prog);
	} else {
		p->out->system_identifier = parsed.system_identifier;
		p->out->timeline = parsed.timeline;
		p->out->cluster_state = m_strdup(p, parsed.cluster_state);
		p->out->data_checksums = parsed.data_checksums;
		p->out->wal_log_hints = parsed.wal_log_hints;
		p->control_read = true;
	}
	proc_result_free(&res);
}

/* read_small - the start of a file under /proc, without logging; "" when unreadable. */
static void read_small(const char *path, char *buf, size_t size)
{
	FILE *f = fopen(path, "r");
	size_t n = 0;

	if (f != NULL) {
		n = fread(buf, 1, size - 1, f);
		fclose(f);
	}
	buf[n] = '\0';
}

/*
 * probe_postmaster - the pid in postmaster.pid, and whether it is a live
 * postgres process working in this data directory (a stale file after a
 * crash names a pid that may since belong to anything).
 */
static void probe_postmaster(Probe *p, PgcHost *h)
{
	char *pidfile = read_text(p, h, path_in(p, "postmaster.pid"));
	char path[64], comm[64], cwd[PATH_MAX], *real;
	long pid = observe_parse_pidfile(pidfile);
	ssize_t n;

	p->out->postmaster_pid = pid;
	if (pid <= 0 || pid > INT_MAX || (kill((pid_t)pid, 0) != 0 && errno != EPERM))
		return;
	snprintf(path, sizeof path, "/proc/%ld/comm", pid);
	read_small(path, comm, sizeof comm);
	comm[strcspn(comm, "\n")] = '\0';
	if (strcmp(comm, "postgres") != 0 && strcmp(comm, "postmaster") != 0)
		return;
	/* The postmaster chdir()s into its data directory; unreadable when not root. */
	snprintf(path, sizeof path, "/proc/%ld/cwd", pid);
	n = readlink(path, cwd, sizeof cwd - 1);
	real = realpath(p->node->data_dir.v, NULL);
	if (n > 0 && real != NULL) {
		cwd[n] = '\0';
		p->out->postmaster_alive = strcmp(cwd, real) == 0;
	} else {
		p->out->postmaster_alive = true;
	}
	free(real);
}

/* dir_entries - 0 empty, 1 has entries, -1 unreadable (errno). */
static int dir_entries(const char *path)
{
	DIR *d = opendir(path);
	struct dirent *e;
	int rc = 0;

	if (d == NULL)
		return -1;
	while ((e = readdir(d)) != NULL) {
		if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0) {
			rc = 1;
			break;
		}
	}
	closedir(d);
	return rc;
}

/*
 * probe_passfile - what the replication passfile holds (PgcObsPassfile):
 * its entry's fields, and whether its password is the declared one. The
 * file and the secret are wiped once compared; neither is kept or logged.
 */
static void probe_passfile(Probe *p, PgcHost *h)
{
	const PgcSecret *s = &p->c->replication.password;
	PgcObsPassfile *pf = &p->out->passfile;
	PgcSecretStatus status;
	PgcPassfileEntry e;
	char *text = NULL, *buf = NULL, *want = NULL, err[512];
	size_t len = 0;
	int rc;

	if (s->kind == SECRET_NONE)
		return;
	rc = host_read_file(h, plan_passfile_path(p->scratch, p->node->data_dir.v), &text, &len,
			    64 * 1024);
	if (rc < 0)
		return; /* not read: the planner compares nothing */
	pf->read = true;
	pf->exists = rc == 0;
	pf->password = PASSFILE_PW_DIFFERS;
	if (rc == 0) {
		buf = malloc(len + 1);
		if (buf == NULL)
			abort();
		if (passfile_parse(text, buf, len + 1, &e) == 0) {
			pf->host = m_strdup(p, e.host);
			pf->port = m_strdup(p, e.port);
			pf->user = m_strdup(p, e.user);
		}
	}
	want = secret_resolve_status(s, "replication password", &status, err, sizeof err);
	if (status == SECRET_UNAVAILABLE) {
		pf->password = PASSFILE_PW_UNKNOWN;
		log_debug("node \"%s\": replication passfile not checked: %s", p->label, err);
	} else if (status == SECRET_REFUSED) {
		/* Planned as differing: writing the file then fails with this reason. */
		log_warn("node \"%s\": %s", p->label, err);
	} else if (pf->user != NULL && strcmp(e.password, want) == 0) {
		pf->password = PASSFILE_PW_MATCHES;
	}
	secret_free(want);
	if (text != NULL) {
		explicit_bzero(text, len);
		free(text);
	}
	if (buf != NULL) {
		explicit_bzero(buf, len + 1);
		free(buf);
	}
}

static void probe_files(Probe *p, PgcHost *h)
{
	const char *dir = p->node->data_dir.v;
	PgcObsNode *o = p->out;
	struct stat st;
	char *text;
	int entries;

	/* Before anything else: an unfinished copy may look like anything. */
	o->clone_interrupted = observe_clone_marker_names(
	    read_text(p, h, observe_clone_marker_path(p->scratch, dir)), dir);
	if (stat(dir, &st) != 0) {
		if (errno == ENOENT) {
			o->dir_state = DIR_ABSENT;
		} else {
			o->dir_state = DIR_UNKNOWN;
			o->dir_error = m_printf(p, "could not stat \"%s\": %s", dir, strerror(errno));
		}
		return;
	}
	if (!S_ISDIR(st.st_mode)) {
		o->dir_state = DIR_FOREIGN;
		return;
	}
	entries = dir_entries(dir);
	if (entries < 0) {
		o->dir_state = DIR_UNKNOWN;
		o->dir_error = m_printf(p, "could not open folder \"%s\": %s", dir, strerror(errno));
		return;
	}
	if (entries == 0) {
		o->dir_state = DIR_EMPTY;
		return;
	}
	if (!fs_exists(path_in(p, "PG_VERSION")) || !fs_exists(path_in(p, "global/pg_control"))) {
		o->dir_state = DIR_FOREIGN;
		return;
	}
	o->dir_state = DIR_INITIALIZED;
	if ((text = read_text(p, h, path_in(p, "PG_VERSION"))) != NULL)
		o->pg_version_major = atoi(text);
	probe_controldata(p, h);
	o->include_line = observe_conf_includes(read_text(p, h, path_in(p, "postgresql.conf")), dir);
	o->managed_conf = m_strdup(p, read_text(p, h, path_in(p, PGC_MANAGED_CONF)));
	if (o->managed_conf != NULL &&
	    host_file_mtime(h, path_in(p, PGC_MANAGED_CONF), &o->managed_conf_mtime) != 0)
		o->managed_conf_mtime = 0;
	o->hba_conf = m_strdup(p, read_text(p, h, path_in(p, "pg_hba.conf")));
	o->standby_signal = fs_exists(path_in(p, "standby.signal"));
	o->recovery_signal = fs_exists(path_in(p, "recovery.signal"));
	probe_postmaster(p, h);
	probe_passfile(p, h);
}

/* ---- SQL ------------------------------------------------------------------ */

/*
 * query - runs one probe query; on failure marks the observation
 * incomplete (conn_error says what failed) and returns NULL.
 */
static PGresult *query(Probe *p, PGconn *conn, const char *what, const char *sql)
{
	PgcPgError e;
	PGresult *r = NULL;

	if (p->failed)
		return NULL;
	if (pgsql_query(conn, sql, 0, NULL, p->opts->query_timeout_ms, &r, &e) == 0)
		return r;
	p->failed = true;
	p->out->conn_error = m_printf(p, "could not read %s: %s (SQLSTATE %s)", what, e.message,
				      e.sqlstate);
	log_debug("node \"%s\": %s", p->label, p->out->conn_error);
	return NULL;
}

/* col - a column's text, NULL for SQL NULL, copied into the model. */
static const char *col(Probe *p, const PGresult *r, int row, int c)
{
	return PQgetisnull(r, row, c) ? NULL : m_strdup(p, PQgetvalue(r, row, c));
}

static bool col_bool(const PGresult *r, int row, int c)
{
	return !PQgetisnull(r, row, c) && PQgetvalue(r, row, c)[0] == 't';
}

static long long col_int(const PGresult *r, int row, int c, long long dflt)
{
	return PQgetisnull(r, row, c) ? dflt : strtoll(PQgetvalue(r, row, c), NULL, 10);
}

static void sql_state(Probe *p, PGconn *conn)
{
	PGresult *r = query(p, conn, "the server state",
			    "SELECT pg_is_in_recovery(),"
			    " CASE WHEN pg_is_in_recovery() THEN NULL"
			    " ELSE pg_current_wal_lsn()::text END,"
			    " pg_last_wal_receive_lsn()::text, pg_last_wal_replay_lsn()::text,"
			    " (SELECT system_identifier::text FROM pg_control_system()),"
			    " (SELECT timeline_id FROM pg_control_checkpoint()),"
			    " (SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend'),"
			    /* Seconds behind: none when everything received is replayed. */
			    " CASE WHEN NOT pg_is_in_recovery() THEN NULL"
			    " WHEN pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn() THEN 0"
			    " ELSE extract(epoch FROM now() - pg_last_xact_replay_timestamp()) END,"
			    " extract(epoch FROM pg_conf_load_time())");
	PgcObsNode *o = p->out;

	if (r == NULL)
		return;
	o->in_recovery = col_bool(r, 0, 0);
	o->current_lsn = col(p, r, 0, 1);
	o->receive_lsn = col(p, r, 0, 2);
	o->replay_lsn = col(p, r, 0, 3);
	/* Nodes whose files were not read (other hosts) still get the identity. */
	if (o->system_identifier == 0 && !PQgetisnull(r, 0, 4))
		o->system_identifier = strtoull(PQgetvalue(r, 0, 4), NULL, 10);
	if (o->timeline == 0)
		o->timeline = (unsigned)col_int(r, 0, 5, 0);
	o->connections = (int)col_int(r, 0, 6, -1);
	o->replay_delay_s = PQgetisnull(r, 0, 7) ? -1 : strtod(PQgetvalue(r, 0, 7), NULL);
	o->conf_load_time = PQgetisnull(r, 0, 8) ? 0 : strtod(PQgetvalue(r, 0, 8), NULL);
	PQclear(r);
}

/* normalized - pgparam_normalize() of a pg_settings value; the value itself when unknown. */
static const char *normalized(Probe *p, const char *name, const char *setting)
{
	const PgcParam *param = pgcatalog_lookup(p->major, name);
	char out[8192], err[256];

	if (setting == NULL)
		return NULL;
	/* pg_settings.setting is a bare number in the parameter's own unit, as the catalog's. */
	if (param == NULL || pgparam_normalize(param, setting, out, sizeof out, err, sizeof err) != 0)
		return m_strdup(p, setting);
	return m_strdup(p, out);
}

static void sql_settings(Probe *p, PGconn *conn)
{
	PGresult *r = query(p, conn, "pg_settings",
			    "SELECT name, setting, unit, source, sourcefile, context, pending_restart"
			    " FROM pg_settings ORDER BY name");
	PgcObsNode *o = p->out;
	int rows;

	if (r == NULL)
		return;
	rows = PQntuples(r);
	o->settings = m_alloc(p, (size_t)rows, sizeof *o->settings);
	o->n_settings = (size_t)rows;
	for (int i = 0; i < rows; i++) {
		PgcObsSetting *s = &o->settings[i];
		const char *raw = PQgetisnull(r, i, 1) ? NULL : PQgetvalue(r, i, 1);

		s->name = col(p, r, i, 0);
		if (strcmp(s->name, "primary_conninfo") == 0 && raw != NULL && *raw != '\0') {
			if (observe_conninfo_upstream(p->scratch, raw, &o->upstream_host,
						      &o->upstream_port) == 0)
				o->upstream_host = m_strdup(p, o->upstream_host);
			raw = observe_conninfo_redact(p->scratch, raw);
			o->primary_conninfo = m_strdup(p, raw);
		}
		s->setting = m_strdup(p, raw);
		s->unit = col(p, r, i, 2);
		s->normalized = normalized(p, s->name, raw);
		s->source = col(p, r, i, 3);
		s->sourcefile = col(p, r, i, 4);
		s->context = col(p, r, i, 5);
		s->pending_restart = col_bool(r, i, 6);
	}
	PQclear(r);
	/* Nodes whose control file was not read: the running server says it too. */
	if (!p->control_read) {
		const PgcObsSetting *dc = obs_setting(o, "data_checksums");
		const PgcObsSetting *wlh = obs_setting(o, "wal_log_hints");

		if (dc != NULL && dc->setting != NULL)
			o->data_checksums = strcmp(dc->setting, "on") == 0;
		if (wlh != NULL && wlh->setting != NULL)
			o->wal_log_hints = strcmp(wlh->setting, "on") == 0;
	}
}

static void sql_auto_conf(Probe *p, PGconn *conn)
{
	PGresult *r = query(p, conn, "pg_file_settings",
			    "SELECT name, setting FROM pg_file_settings"
			    " WHERE sourcefile LIKE '%postgresql.auto.conf' AND name IS NOT NULL"
			    " ORDER BY seqno");
	PgcObsNode *o = p->out;
	int rows;

	if (r == NULL)
		return;
	rows = PQntuples(r);
	o->auto_conf = m_alloc(p, (size_t)rows, sizeof *o->auto_conf);
	o->n_auto_conf = (size_t)rows;
	for (int i = 0; i < rows; i++) {
		o->auto_conf[i].name = col(p, r, i, 0);
		o->auto_conf[i].value = col(p, r, i, 1);
		if (strcasecmp(o->auto_conf[i].name, "primary_conninfo") == 0)
			o->auto_conf[i].value = m_strdup(
				p, observe_conninfo_redact(p->scratch, o->auto_conf[i].value));
	}
	PQclear(r);
}

static void sql_hba(Probe *p, PGconn *conn)
{
	PGresult *r = query(p, conn, "pg_hba_file_rules",
			    "SELECT line_number, type, array_to_string(database, ','),"
			    " array_to_string(user_name, ','), address, netmask, auth_method,"
			    " array_to_string(options, ' '), error"
			    " FROM pg_hba_file_rules ORDER BY line_number");
	PgcObsNode *o = p->out;
	int rows;

	if (r == NULL)
		return;
	rows = PQntuples(r);
	o->hba = m_alloc(p, (size_t)rows, sizeof *o->hba);
	o->n_hba = (size_t)rows;
	for (int i = 0; i < rows; i++) {
		PgcObsHbaRule *h = &o->hba[i];

		h->line_number = (int)col_int(r, i, 0, 0);
		h->type = col(p, r, i, 1);
		h->database = col(p, r, i, 2);
		h->user_name = col(p, r, i, 3);
		h->address = col(p, r, i, 4);
		h->netmask = col(p, r, i, 5);
		h->auth_method = col(p, r, i, 6);
		h->options = col(p, r, i, 7);
		h->error = col(p, r, i, 8);
	}
	PQclear(r);
}

static void sql_replication(Probe *p, PGconn *conn)
{
	PGresult *r = query(p, conn, "pg_stat_replication",
			    "SELECT application_name, host(client_addr), state, sync_state,"
			    " sent_lsn::text, write_lsn::text, flush_lsn::text, replay_lsn::text"
			    " FROM pg_stat_replication ORDER BY application_name, pid");
	PgcObsNode *o = p->out;
	int rows;

	if (r == NULL)
		return;
	rows = PQntuples(r);
	o->replicas = m_alloc(p, (size_t)rows, sizeof *o->replicas);
	o->n_replicas = (size_t)rows;
	for (int i = 0; i < rows; i++) {
		PgcObsReplica *x = &o->replicas[i];

		x->application_name = col(p, r, i, 0);
		x->client_addr = col(p, r, i, 1);
		x->state = col(p, r, i, 2);
		x->sync_state = col(p, r, i, 3);
		x->sent_lsn = col(p, r, i, 4);
		x->write_lsn = col(p, r, i, 5);
		x->flush_lsn = col(p, r, i, 6);
		x->replay_lsn = col(p, r, i, 7);
	}
	PQclear(r);
}

static void sql_slots(Probe *p, PGconn *conn)
{
	PGresult *r = query(p, conn, "pg_replication_slots",
			    "SELECT slot_name, slot_type, active, restart_lsn::text"
			    " FROM pg_replication_slots WHERE slot_type = 'physical'"
			    " ORDER BY slot_name");
	PgcObsNode *o = p->out;
	int rows;

	if (r == NULL)
		return;
	rows = PQntuples(r);
	o->slots = m_alloc(p, (size_t)rows, sizeof *o->slots);
	o->n_slots = (size_t)rows;
	for (int i = 0; i < rows; i++) {
		o->slots[i].slot_name = col(p, r, i, 0);
		o->slots[i].slot_type = col(p, r, i, 1);
		o->slots[i].active = col_bool(r, i, 2);
		o->slots[i].restart_lsn = col(p, r, i, 3);
	}
	PQclear(r);
}

static void sql_wal_receiver(Probe *p, PGconn *conn)
{
	PGresult *r = query(p, conn, "pg_stat_wal_receiver",
			    "SELECT status,"
			    " EXTRACT(epoch FROM clock_timestamp() - last_msg_receipt_time)::float8"
			    " FROM pg_stat_wal_receiver");

	if (r == NULL)
		return;
	if (PQntuples(r) > 0) {
		p->out->wal_receiver_status = col(p, r, 0, 0);
		if (!PQgetisnull(r, 0, 1))
			p->out->wal_receiver_last_msg_age_s = strtod(PQgetvalue(r, 0, 1), NULL);
	}
	PQclear(r);
}

/*
 * sql_replay_pause - where an archive recovery (a restore) stands: a
 * restore with target_action pause is finished once it is "paused". Only
 * with recovery.signal: a standby's pause state means nothing to the plan.
 */
static void sql_replay_pause(Probe *p, PGconn *conn)
{
	PGresult *r;

	if (!p->out->recovery_signal)
		return;
	r = query(p, conn, "the replay pause state", "SELECT pg_get_wal_replay_pause_state()");
	if (r == NULL)
		return;
	if (PQntuples(r) > 0)
		p->out->replay_pause_state = col(p, r, 0, 0);
	PQclear(r);
}

/*
 * desired_secret - the password the topology declares for a role: its own
 * roles.<name>.password, or replication.password for the replication user.
 */
static const PgcSecret *desired_secret(const PgcCluster *c, const char *rolname)
{
	for (size_t i = 0; i < c->n_roles; i++)
		if (strcmp(c->roles[i].name, rolname) == 0 && c->roles[i].password.kind != SECRET_NONE)
			return &c->roles[i].password;
	if (c->replication.user.v != NULL && strcmp(c->replication.user.v, rolname) == 0 &&
	    c->replication.password.kind != SECRET_NONE)
		return &c->replication.password;
	return NULL;
}

/*
 * resolve_password - the declared password's value on this host, or NULL
 * when it cannot be had (said at debug level: the password is then
 * "unknown", and apply reports why when it needs the value).
 */
static char *resolve_password(const PgcSecret *s, const char *label, const char *rolname)
{
	char err[512];
	char *v = secret_resolve(s, "password", err, sizeof(err));

	if (v == NULL)
		log_debug("node \"%s\": password of role \"%s\" not checked: %s", label, rolname,
			  err);
	return v;
}

static int password_matches(Probe *p, const char *rolname, const char *verifier)
{
	const PgcSecret *s = desired_secret(p->c, rolname);
	char *secret;
	int rc;

	if (s == NULL)
		return -1;
	if (verifier == NULL)
		return 0;
	secret = resolve_password(s, p->label, rolname);
	if (secret == NULL)
		return -1;
	rc = observe_verify_password(verifier, rolname, secret);
	secret_free(secret);
	return rc;
}

static void sql_roles(Probe *p, PGconn *conn)
{
	PGresult *r = query(p, conn, "pg_authid",
			    "SELECT rolname, rolcanlogin, rolsuper, rolcreatedb, rolcreaterole,"
			    " rolreplication, rolbypassrls, rolconnlimit, rolpassword"
			    " FROM pg_authid WHERE rolname !~ '^pg_' ORDER BY rolname");
	PGresult *m;
	PgcObsNode *o = p->out;
	int rows;

	if (r == NULL)
		return;
	rows = PQntuples(r);
	o->roles = m_alloc(p, (size_t)rows, sizeof *o->roles);
	o->n_roles = (size_t)rows;
	for (int i = 0; i < rows; i++) {
		PgcObsRole *x = &o->roles[i];

		x->name = col(p, r, i, 0);
		x->login = col_bool(r, i, 1);
		x->superuser = col_bool(r, i, 2);
		x->createdb = col_bool(r, i, 3);
		x->createrole = col_bool(r, i, 4);
		x->replication = col_bool(r, i, 5);
		x->bypassrls = col_bool(r, i, 6);
		x->connection_limit = (int)col_int(r, i, 7, -1);
		x->has_password = !PQgetisnull(r, i, 8);
		x->password_matches =
			password_matches(p, x->name, x->has_password ? PQgetvalue(r, i, 8) : NULL);
	}
	/* The verifiers must not outlive this function. */
	for (int i = 0; i < rows; i++)
		if (!PQgetisnull(r, i, 8))
			explicit_bzero(PQgetvalue(r, i, 8), strlen(PQgetvalue(r, i, 8)));
	PQclear(r);

	m = query(p, conn, "pg_auth_members",
		  "SELECT DISTINCT m.rolname, g.rolname FROM pg_auth_members a"
		  " JOIN pg_authid m ON m.oid = a.member JOIN pg_authid g ON g.oid = a.roleid"
		  " ORDER BY 1, 2");
	if (m == NULL)
		return;
	for (size_t i = 0; i < o->n_roles; i++) {
		PgcObsRole *x = &o->roles[i];
		size_t n = 0;

		for (int j = 0; j < PQntuples(m); j++)
			n += strcmp(PQgetvalue(m, j, 0), x->name) == 0;
		x->member_of = m_alloc(p, n, sizeof *x->member_of);
		for (int j = 0; j < PQntuples(m); j++)
			if (strcmp(PQgetvalue(m, j, 0), x->name) == 0)
				x->member_of[x->n_member_of++] = m_strdup(p, PQgetvalue(m, j, 1));
	}
	PQclear(m);
}

static bool declared_database(const PgcCluster *c, const char *name)
{
	for (size_t i = 0; i < c->n_databases; i++)
		if (strcmp(c->databases[i].name, name) == 0)
			return true;
	return false;
}

/* sql_extensions - pg_extension of one database, through conn. */
static void sql_extensions(Probe *p, PGconn *conn, PgcObsDatabase *d)
{
	PGresult *r = query(p, conn, arena_printf(p->scratch, "the extensions of \"%s\"", d->name),
			    "SELECT extname FROM pg_extension ORDER BY extname");
	int rows;

	if (r == NULL)
		return;
	rows = PQntuples(r);
	d->extensions = m_alloc(p, (size_t)rows, sizeof *d->extensions);
	d->n_extensions = (size_t)rows;
	for (int i = 0; i < rows; i++)
		d->extensions[i] = col(p, r, i, 0);
	PQclear(r);
}

static PGconn *connect_db(Probe *p, const char *dbname, char *err, size_t errlen)
{
	const char *ci =
		p->out->local
			? pgsql_conninfo_local(p->scratch, (int)p->node->port.v, p->c->os_user.v, dbname)
			: pgsql_conninfo_tcp(p->scratch, p->node->host.v, (int)p->node->port.v,
					     p->c->os_user.v, dbname);

	return pgsql_connect(ci, p->opts->connect_timeout_s, err, errlen);
}

static void sql_databases(Probe *p, PGconn *conn)
{
	PGresult *r = query(p, conn, "pg_database",
			    "SELECT d.datname, pg_get_userbyid(d.datdba) FROM pg_database d"
			    " WHERE NOT d.datistemplate ORDER BY d.datname");
	PgcObsNode *o = p->out;
	int rows;

	if (r == NULL)
		return;
	rows = PQntuples(r);
	o->databases = m_alloc(p, (size_t)rows, sizeof *o->databases);
	o->n_databases = (size_t)rows;
	for (int i = 0; i < rows; i++) {
		o->databases[i].name = col(p, r, i, 0);
		o->databases[i].owner = col(p, r, i, 1);
	}
	PQclear(r);
	/* Extensions of the databases the topology declares: one connection each. */
	for (size_t i = 0; i < o->n_databases && !p->failed; i++) {
		PgcObsDatabase *d = &o->databases[i];
		char err[512];
		PGconn *dbconn;

		if (!declared_database(p->c, d->name))
			continue;
		if (strcmp(d->name, "postgres") == 0) {
			sql_extensions(p, conn, d);
			continue;
		}
		dbconn = connect_db(p, d->name, err, sizeof err);
		if (dbconn == NULL) {
			p->failed = true;
			o->conn_error = m_printf(p, "could not connect to database \"%s\": %s",
						 d->name, err);
			break;
		}
		sql_extensions(p, dbconn, d);
		PQfinish(dbconn);
	}
}

static void probe_sql(Probe *p)
{
	PgcObsNode *o = p->out;
	char err[512];
	PGconn *conn = connect_db(p, "postgres", err, sizeof err);

	if (conn == NULL) {
		o->conn_error = m_strdup(p, err);
		return;
	}
	o->server_version_num = PQserverVersion(conn);
	p->major = o->server_version_num / 10000;
	if (!pgcatalog_has_version(p->major))
		p->major = (int)p->c->pg_version.v;
	sql_state(p, conn);
	sql_settings(p, conn);
	sql_auto_conf(p, conn);
	sql_hba(p, conn);
	sql_replication(p, conn);
	sql_slots(p, conn);
	if (o->in_recovery) {
		sql_wal_receiver(p, conn);
		sql_replay_pause(p, conn);
	} else {
		/* Roles and databases are the primary's: a standby has the same, read-only. */
		sql_roles(p, conn);
		sql_databases(p, conn);
	}
	PQfinish(conn);
	o->reachable = !p->failed;
}

static void probe_node(Probe *p)
{
	PgcObsNode *o = p->out;
	PgcHost *h = NULL;

	o->local = host_is_local(p->node->host.v);
	o->wal_receiver_last_msg_age_s = -1;
	o->connections = -1;
	o->replay_delay_s = -1;
	if (o->local)
		h = host_for(p->node->host.v, p->c->os_user.v);
	if (h != NULL) {
		probe_files(p, h);
		host_free(h);
	} else {
		o->local = false;
		o->dir_error = m_printf(p, "host \"%s\" is not this machine: its files are not "
					"observed", p->node->host.v);
	}
	probe_sql(p);
	log_debug("observed node \"%s\": data directory %s, %s", p->label,
		  observe_dir_state_name(o->dir_state), o->reachable ? "reachable" : "not reachable");
}

/* ---- backup repositories -------------------------------------------------- */

/*
 * A repository is read by a thread of its own (PgcObsRepoRead), started
 * before the node probes and waited for after them, at most
 * OBSERVE_REPO_TIMEOUT_MS: a repository on a mount that hangs becomes an
 * error in the model instead of stalling the whole observation. The read's
 * memory has two owners, the thread and the model: whichever lets go last
 * frees it, so a read that outlives its wait is freed when it ends.
 */
struct PgcObsRepoRead {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int refs;
	bool done;
	bool started;             /* a thread runs it (else it ran in the caller) */
	bool must_exist;          /* a restore source: a missing folder is an error */
	char *path;
	PgcArena *arena;          /* the result's strings and arrays */
	PgcObsRepository result;
	pthread_t thread;
};

static void repo_release(PgcObsRepoRead *r)
{
	bool last;

	pthread_mutex_lock(&r->mu);
	last = --r->refs == 0;
	pthread_mutex_unlock(&r->mu);
	if (!last)
		return;
	backup_catalog_free(r->result.catalog);
	arena_free(r->arena);
	free(r->path);
	pthread_cond_destroy(&r->cv);
	pthread_mutex_destroy(&r->mu);
	free(r);
}

/*
 * repo_history - every history file of the archive, each fetched through
 * its checksum (walarchive_fetch, as recovery will) into a private temp
 * folder and parsed. 0, or -1 with out->error set.
 */
static int repo_history(PgcObsRepoRead *r, PgcObsRepository *out)
{
	char tmpl[] = "/tmp/pgconverge-history.XXXXXX";
	size_t i, n = 0;
	int rc = 0;

	for (i = 0; i < out->n_wal; i++)
		n += out->wal[i].parsed.kind == WAL_FILE_HISTORY;
	if (n == 0)
		return 0;
	if (mkdtemp(tmpl) == NULL) {
		out->error = arena_printf(r->arena, "could not create a temp folder to read timeline "
					  "history files: %s", strerror(errno));
		return -1;
	}
	out->history = arena_calloc(r->arena, n, sizeof(*out->history));
	for (i = 0; i < out->n_wal && rc == 0; i++) {
		const PgcWalEntry *e = &out->wal[i];
		const char *dest = arena_printf(r->arena, "%s/%s", tmpl, e->name);
		PgcObsHistory *h = &out->history[out->n_history];
		char *text = NULL;
		size_t len;

		if (e->parsed.kind != WAL_FILE_HISTORY)
			continue;
		if (walarchive_fetch(r->path, e->name, dest) != 0 ||
		    fs_read_file(dest, &text, &len, 1 << 20) != 0) {
			out->error = arena_printf(r->arena, "timeline history file \"%s\" cannot be "
						  "read intact from the archive", e->name);
			rc = -1;
		} else if (observe_parse_history(r->arena, text, h) != 0) {
			out->error = arena_printf(r->arena, "timeline history file \"%s\" in the archive "
						  "does not parse", e->name);
			rc = -1;
		} else {
			h->tli = e->parsed.timeline;
			out->n_history++;
		}
		free(text);
		unlink(dest);
	}
	rmdir(tmpl);
	return rc;
}

/*
 * repo_drills - the "drill" records of the catalog's base entries. The
 * catalog was just loaded; a document that changed in between only makes
 * a record a run late or early, never wrong for another backup.
 */
static void repo_drills(PgcObsRepoRead *r, PgcObsRepository *out)
{
	json_t *root = backup_catalog_json(r->path), *base, *e;
	size_t i;

	base = json_object_get(root, "base");
	if (!json_is_array(base)) {
		json_decref(root);
		return;
	}
	out->drills = arena_calloc(r->arena, json_array_size(base) + 1, sizeof(*out->drills));
	json_array_foreach(base, i, e) {
		json_t *d = json_object_get(e, "drill");
		PgcObsDrill *o = &out->drills[out->n_drills];

		if (!json_is_object(d) || !json_is_string(json_object_get(e, "id")))
			continue;
		o->backup_id = arena_strdup(r->arena, json_string_value(json_object_get(e, "id")));
		o->ok = json_is_true(json_object_get(d, "ok"));
		o->at = arena_strdup(r->arena, json_string_value(json_object_get(d, "at")));
		o->duration_s = json_number_value(json_object_get(d, "duration_s"));
		o->rows = json_is_integer(json_object_get(d, "rows"))
				  ? (long long)json_integer_value(json_object_get(d, "rows"))
				  : -1;
		o->message = arena_strdup(r->arena, json_string_value(json_object_get(d, "message")));
		out->n_drills++;
	}
	json_decref(root);
}

/* repo_read - the catalog, the archive listing and the history files. */
static void repo_read(PgcObsRepoRead *r)
{
	PgcObsRepository *out = &r->result;
	struct stat st;

	out->path = r->path;
	if (stat(r->path, &st) != 0) {
		if (errno != ENOENT)
			out->error = arena_printf(r->arena, "could not stat \"%s\": %s", r->path,
						  strerror(errno));
		else if (r->must_exist)
			out->error = arena_printf(r->arena, "backup repository \"%s\" does not exist",
						  r->path);
		else
			out->catalog = backup_catalog_load(r->path); /* empty: no catalog yet */
		if (out->catalog == NULL && out->error == NULL)
			out->error = arena_printf(r->arena, "backup repository \"%s\" cannot be read",
						  r->path);
		return;
	}
	if (!S_ISDIR(st.st_mode)) {
		out->error = arena_printf(r->arena, "backup repository \"%s\" is not a folder", r->path);
		return;
	}
	out->exists = true;
	out->catalog = backup_catalog_load(r->path);
	if (out->catalog == NULL) {
		out->error = arena_printf(r->arena, "the catalog of backup repository \"%s\" cannot "
					  "be read", r->path);
		return;
	}
	repo_drills(r, out);
	if (walarchive_list(r->arena, r->path, &out->wal, &out->n_wal) != 0) {
		out->error = arena_printf(r->arena, "the WAL archive of backup repository \"%s\" "
					  "cannot be listed", r->path);
		return;
	}
	repo_history(r, out);
}

static void *repo_main(void *arg)
{
	PgcObsRepoRead *r = arg;

	repo_read(r);
	pthread_mutex_lock(&r->mu);
	r->done = true;
	pthread_cond_broadcast(&r->cv);
	pthread_mutex_unlock(&r->mu);
	repo_release(r);
	return NULL;
}

/* repo_start - a read of path in a thread of its own (or now, when no thread can start). */
static PgcObsRepoRead *repo_start(const char *path, bool must_exist)
{
	PgcObsRepoRead *r = calloc(1, sizeof(*r));

	if (r == NULL)
		abort();
	pthread_mutex_init(&r->mu, NULL);
	pthread_cond_init(&r->cv, NULL);
	r->refs = 2;
	r->must_exist = must_exist;
	r->path = strdup(path);
	if (r->path == NULL)
		abort();
	r->arena = arena_new();
	if (pthread_create(&r->thread, NULL, repo_main, r) == 0) {
		r->started = true;
		pthread_detach(r->thread);
	} else {
		repo_main(r);
	}
	return r;
}

/*
 * repo_finish - the model's view of a read once it is done or the
 * deadline (CLOCK_REALTIME) passed: the read's own result, or an error
 * allocated in a. The model keeps its reference only when done.
 */
static PgcObsRepository *repo_finish(PgcArena *a, PgcObsRepoRead *r, const struct timespec *deadline)
{
	PgcObsRepository *out;
	bool done;

	pthread_mutex_lock(&r->mu);
	while (!r->done && pthread_cond_timedwait(&r->cv, &r->mu, deadline) == 0)
		;
	done = r->done;
	pthread_mutex_unlock(&r->mu);
	if (done) {
		r->result.owner = r;
		return &r->result;
	}
	out = arena_calloc(a, 1, sizeof(*out));
	out->path = arena_strdup(a, r->path);
	out->error = arena_printf(a, "backup repository \"%s\" did not answer within %d s", r->path,
				  OBSERVE_REPO_TIMEOUT_MS / 1000);
	log_warn("%s", out->error);
	repo_release(r);
	return out;
}

/* repo_free - releases the model's reference of a repository read. */
static void repo_free(PgcObsRepository *r)
{
	if (r != NULL && r->owner != NULL)
		repo_release(r->owner);
}

/* ---- the pool ------------------------------------------------------------- */

typedef struct {
	Probe *probes;
	size_t n;
	size_t next;              /* under lock */
	pthread_mutex_t *lock;
} Pool;

static void *worker(void *arg)
{
	Pool *pool = arg;

	for (;;) {
		Probe *p;

		pthread_mutex_lock(pool->lock);
		p = pool->next < pool->n ? &pool->probes[pool->next++] : NULL;
		pthread_mutex_unlock(pool->lock);
		if (p == NULL)
			return NULL;
		p->scratch = arena_new();
		p->label = arena_printf(p->scratch, "%s/%s", p->c->name, p->node->name);
		p->major = (int)p->c->pg_version.v;
		probe_node(p);
		arena_free(p->scratch);
		p->scratch = NULL;
	}
}

/* run_pool - runs every probe; the calling thread works too. */
static void run_pool(Probe *probes, size_t n, pthread_mutex_t *lock)
{
	Pool pool = {probes, n, 0, lock};
	pthread_t threads[OBS_MAX_THREADS];
	size_t started = 0;

	while (started + 1 < n && started < OBS_MAX_THREADS) {
		int rc = pthread_create(&threads[started], NULL, worker, &pool);

		if (rc != 0) {
			/* Fewer threads only means less parallelism. */
			log_debug("could not start a probe thread: %s", strerror(rc));
			break;
		}
		started++;
	}
	worker(&pool);
	for (size_t i = 0; i < started; i++)
		pthread_join(threads[i], NULL);
}

static const char *now_iso(PgcArena *a)
{
	time_t now = time(NULL);
	struct tm tm;
	char buf[32];

	gmtime_r(&now, &tm);
	strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
	return arena_strdup(a, buf);
}

PgcObserved *observe_topology(const PgcTopology *t, const PgcObserveOptions *opts)
{
	PgcObserveOptions o_opts = {PGSQL_CONNECT_TIMEOUT_S, PGSQL_QUERY_TIMEOUT_MS, NULL};
	pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
	PgcArena *a;
	PgcObserved *o;
	Probe *probes;
	size_t n_probes = 0, k = 0;
	PgcObsRepoRead **reads;   /* per observed cluster: its repository, its restore source */
	struct timespec deadline;

	if (opts != NULL) {
		o_opts = *opts;
		if (o_opts.connect_timeout_s <= 0)
			o_opts.connect_timeout_s = PGSQL_CONNECT_TIMEOUT_S;
		if (o_opts.query_timeout_ms <= 0)
			o_opts.query_timeout_ms = PGSQL_QUERY_TIMEOUT_MS;
	}
	if (o_opts.only_cluster != NULL && topology_cluster(t, o_opts.only_cluster) == NULL) {
		log_error("cluster \"%s\" is not in the topology", o_opts.only_cluster);
		return NULL;
	}
	a = arena_new();
	o = arena_alloc(a, sizeof *o);
	o->arena = a;
	o->observed_at = now_iso(a);
	o->clusters = arena_calloc(a, t->n_clusters ? t->n_clusters : 1, sizeof *o->clusters);
	for (size_t i = 0; i < t->n_clusters; i++)
		n_probes += t->clusters[i].n_nodes;
	probes = arena_calloc(a, n_probes ? n_probes : 1, sizeof *probes);
	reads = arena_calloc(a, 2 * t->n_clusters + 1, sizeof *reads);
	clock_gettime(CLOCK_REALTIME, &deadline);
	deadline.tv_sec += OBSERVE_REPO_TIMEOUT_MS / 1000;
	for (size_t i = 0; i < t->n_clusters; i++) {
		const PgcCluster *c = &t->clusters[i];
		PgcObsCluster *oc;

		if (o_opts.only_cluster != NULL && strcmp(c->name, o_opts.only_cluster) != 0)
			continue;
		oc = &o->clusters[o->n_clusters++];
		oc->name = arena_strdup(a, c->name);
		oc->n_nodes = c->n_nodes;
		oc->nodes = arena_calloc(a, c->n_nodes ? c->n_nodes : 1, sizeof *oc->nodes);
		for (size_t j = 0; j < c->n_nodes; j++) {
			Probe *p = &probes[k++];

			oc->nodes[j].name = arena_strdup(a, c->nodes[j].name);
			oc->nodes[j].cluster = oc->name;
			*p = (Probe){.arena = a, .lock = &lock, .c = c, .node = &c->nodes[j],
				     .opts = &o_opts, .out = &oc->nodes[j]};
		}
		/* Repositories are read while the nodes are probed. */
		if (c->backup.set && c->backup.repository.v != NULL)
			reads[2 * (o->n_clusters - 1)] = repo_start(c->backup.repository.v, false);
		if (c->bootstrap.set && c->bootstrap.repository.v != NULL)
			reads[2 * (o->n_clusters - 1) + 1] = repo_start(c->bootstrap.repository.v, true);
	}
	run_pool(probes, k, &lock);
	pthread_mutex_destroy(&lock);
	for (size_t i = 0; i < o->n_clusters; i++) {
		if (reads[2 * i] != NULL)
			o->clusters[i].repository = repo_finish(a, reads[2 * i], &deadline);
		if (reads[2 * i + 1] != NULL)
			o->clusters[i].restore_source = repo_finish(a, reads[2 * i + 1], &deadline);
	}
	return o;
}

void observe_free(PgcObserved *o)
{
	if (o == NULL)
		return;
	for (size_t i = 0; i < o->n_clusters; i++) {
		repo_free(o->clusters[i].repository);
		repo_free(o->clusters[i].restore_source);
	}
	arena_free(o->arena);
}

const PgcObsNode *observe_node_find(const PgcObserved *o, const char *cluster, const char *node)
{
	if (o == NULL || cluster == NULL || node == NULL)
		return NULL;
	for (size_t i = 0; i < o->n_clusters; i++) {
		if (strcmp(o->clusters[i].name, cluster) != 0)
			continue;
		for (size_t j = 0; j < o->clusters[i].n_nodes; j++)
			if (strcmp(o->clusters[i].nodes[j].name, node) == 0)
				return &o->clusters[i].nodes[j];
	}
	return NULL;
}

const PgcObsSetting *obs_setting(const PgcObsNode *n, const char *name)
{
	if (n == NULL || name == NULL)
		return NULL;
	for (size_t i = 0; i < n->n_settings; i++)
		if (n->settings[i].name != NULL && strcasecmp(n->settings[i].name, name) == 0)
			return &n->settings[i];
	return NULL;
}

/* ---- fingerprint and JSON ------------------------------------------------- */

/*
 * fingerprint - "sysid:timeline:sha256(managed_conf NUL hba_conf)" into buf;
 * the NUL keeps ("ab", "c") and ("a", "bc") apart.
 */
static const char *fingerprint(const PgcObsNode *n, char *buf, size_t size)
{
	const char *m = n->managed_conf != NULL ? n->managed_conf : "";
	const char *h = n->hba_conf != NULL ? n->hba_conf : "";
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int len = 0;
	char digest[2 * EVP_MAX_MD_SIZE + 1] = "";
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();

	if (ctx != NULL && EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) == 1 &&
	    EVP_DigestUpdate(ctx, m, strlen(m)) == 1 && EVP_DigestUpdate(ctx, "", 1) == 1 &&
	    EVP_DigestUpdate(ctx, h, strlen(h)) == 1 && EVP_DigestFinal_ex(ctx, md, &len) == 1)
		hex(md, len, digest);
	EVP_MD_CTX_free(ctx);
	snprintf(buf, size, "%" PRIu64 ":%u:%s", n->system_identifier, n->timeline, digest);
	return buf;
}

const char *observe_fingerprint(PgcObserved *o, const PgcObsNode *n)
{
	char buf[128];

	return arena_strdup(o->arena, fingerprint(n, buf, sizeof buf));
}

/*
 * jstr - a JSON string, null for NULL. Text from files may not be UTF-8:
 * such bytes become U+FFFD rather than losing the whole value.
 */
static json_t *jstr(const char *s)
{
	json_t *j;
	size_t len, n = 0;
	char *clean;

	if (s == NULL)
		return json_null();
	if ((j = json_string(s)) != NULL)
		return j;
	len = strlen(s);
	clean = malloc(3 * len + 1);
	if (clean == NULL)
		abort();
	for (size_t i = 0; i < len;) {
		const unsigned char *u = (const unsigned char *)s + i;
		size_t step = u[0] < 0x80 ? 1 : (u[0] & 0xE0) == 0xC0 ? 2 : (u[0] & 0xF0) == 0xE0 ? 3
					       : (u[0] & 0xF8) == 0xF0 ? 4 : 0;
		json_t *probe = NULL;

		if (step > 0 && i + step <= len)
			probe = json_stringn((const char *)u, step);
		if (probe != NULL) {
			memcpy(clean + n, u, step);
			n += step;
			i += step;
			json_decref(probe);
		} else {
			memcpy(clean + n, "\xEF\xBF\xBD", 3);
			n += 3;
			i++;
		}
	}
	clean[n] = '\0';
	j = json_string(clean);
	free(clean);
	return j;
}

static json_t *jstrings(const char *const *v, size_t n)
{
	json_t *a = json_array();

	for (size_t i = 0; i < n; i++)
		json_array_append_new(a, jstr(v[i]));
	return a;
}

static json_t *setting_json(const PgcObsSetting *s)
{
	return json_pack("{s:o s:o s:o s:o s:o s:o s:o s:b}", "name", jstr(s->name), "setting",
			 jstr(s->setting), "unit", jstr(s->unit), "normalized", jstr(s->normalized),
			 "source", jstr(s->source), "sourcefile", jstr(s->sourcefile), "context",
			 jstr(s->context), "pending_restart", s->pending_restart);
}

static json_t *role_json(const PgcObsRole *r)
{
	json_t *j = json_pack("{s:o s:b s:b s:b s:b s:b s:b s:i s:o s:b}", "name", jstr(r->name),
			      "login", r->login, "superuser", r->superuser, "createdb", r->createdb,
			      "createrole", r->createrole, "replication", r->replication,
			      "bypassrls", r->bypassrls, "connection_limit", r->connection_limit,
			      "member_of", jstrings(r->member_of, r->n_member_of), "has_password",
			      r->has_password);

	json_object_set_new(j, "password_matches",
			    r->password_matches < 0 ? json_null() : json_boolean(r->password_matches));
	return j;
}

static json_t *hba_json(const PgcObsHbaRule *h)
{
	return json_pack("{s:i s:o s:o s:o s:o s:o s:o s:o s:o}", "line_number", h->line_number,
			 "type", jstr(h->type), "database", jstr(h->database), "user_name",
			 jstr(h->user_name), "address", jstr(h->address), "netmask",
			 jstr(h->netmask), "auth_method", jstr(h->auth_method), "options",
			 jstr(h->options), "error", jstr(h->error));
}

static json_t *replica_json(const PgcObsReplica *r)
{
	return json_pack("{s:o s:o s:o s:o s:o s:o s:o s:o}", "application_name",
			 jstr(r->application_name), "client_addr", jstr(r->client_addr), "state",
			 jstr(r->state), "sync_state", jstr(r->sync_state), "sent_lsn",
			 jstr(r->sent_lsn), "write_lsn", jstr(r->write_lsn), "flush_lsn",
			 jstr(r->flush_lsn), "replay_lsn", jstr(r->replay_lsn));
}

static json_t *node_json(const PgcObsNode *n)
{
	json_t *j = json_object(), *a;
	char buf[128];

	json_object_set_new(j, "name", jstr(n->name));
	json_object_set_new(j, "cluster", jstr(n->cluster));
	json_object_set_new(j, "local", json_boolean(n->local));
	json_object_set_new(j, "fingerprint", jstr(fingerprint(n, buf, sizeof buf)));

	json_object_set_new(j, "dir_state", json_string(observe_dir_state_name(n->dir_state)));
	json_object_set_new(j, "dir_error", jstr(n->dir_error));
	json_object_set_new(j, "pg_version_major", json_integer(n->pg_version_major));
	/* A string: 64-bit identifiers do not survive JSON doubles. */
	snprintf(buf, sizeof buf, "%" PRIu64, n->system_identifier);
	json_object_set_new(j, "system_identifier", n->system_identifier ? json_string(buf)
									 : json_null());
	json_object_set_new(j, "timeline", json_integer(n->timeline));
	json_object_set_new(j, "cluster_state", jstr(n->cluster_state));
	json_object_set_new(j, "data_checksums", json_boolean(n->data_checksums));
	json_object_set_new(j, "wal_log_hints", json_boolean(n->wal_log_hints));
	json_object_set_new(j, "include_line", json_boolean(n->include_line));
	json_object_set_new(j, "managed_conf", jstr(n->managed_conf));
	json_object_set_new(j, "hba_conf", jstr(n->hba_conf));
	json_object_set_new(j, "standby_signal", json_boolean(n->standby_signal));
	json_object_set_new(j, "recovery_signal", json_boolean(n->recovery_signal));
	json_object_set_new(j, "clone_interrupted", json_boolean(n->clone_interrupted));
	json_object_set_new(j, "postmaster_pid", json_integer(n->postmaster_pid));
	json_object_set_new(j, "postmaster_alive", json_boolean(n->postmaster_alive));

	json_object_set_new(j, "reachable", json_boolean(n->reachable));
	json_object_set_new(j, "conn_error", jstr(n->conn_error));
	json_object_set_new(j, "server_version_num", json_integer(n->server_version_num));
	json_object_set_new(j, "in_recovery", json_boolean(n->in_recovery));
	json_object_set_new(j, "replay_pause_state", jstr(n->replay_pause_state));

	a = json_array();
	for (size_t i = 0; i < n->n_settings; i++)
		json_array_append_new(a, setting_json(&n->settings[i]));
	json_object_set_new(j, "settings", a);
	a = json_array();
	for (size_t i = 0; i < n->n_auto_conf; i++)
		json_array_append_new(a, json_pack("{s:o s:o}", "name", jstr(n->auto_conf[i].name),
						   "value", jstr(n->auto_conf[i].value)));
	json_object_set_new(j, "auto_conf", a);
	a = json_array();
	for (size_t i = 0; i < n->n_hba; i++)
		json_array_append_new(a, hba_json(&n->hba[i]));
	json_object_set_new(j, "hba", a);
	a = json_array();
	for (size_t i = 0; i < n->n_roles; i++)
		json_array_append_new(a, role_json(&n->roles[i]));
	json_object_set_new(j, "roles", a);
	a = json_array();
	for (size_t i = 0; i < n->n_databases; i++) {
		const PgcObsDatabase *d = &n->databases[i];

		json_array_append_new(a, json_pack("{s:o s:o s:o}", "name", jstr(d->name), "owner",
						   jstr(d->owner), "extensions",
						   jstrings(d->extensions, d->n_extensions)));
	}
	json_object_set_new(j, "databases", a);
	a = json_array();
	for (size_t i = 0; i < n->n_replicas; i++)
		json_array_append_new(a, replica_json(&n->replicas[i]));
	json_object_set_new(j, "replicas", a);
	a = json_array();
	for (size_t i = 0; i < n->n_slots; i++) {
		const PgcObsSlot *s = &n->slots[i];

		json_array_append_new(a, json_pack("{s:o s:o s:b s:o}", "slot_name", jstr(s->slot_name),
						   "slot_type", jstr(s->slot_type), "active",
						   s->active, "restart_lsn", jstr(s->restart_lsn)));
	}
	json_object_set_new(j, "slots", a);

	json_object_set_new(j, "primary_conninfo", jstr(n->primary_conninfo));
	json_object_set_new(j, "upstream_host", jstr(n->upstream_host));
	json_object_set_new(j, "upstream_port", n->upstream_host != NULL || n->upstream_port > 0
							? json_integer(n->upstream_port)
							: json_null());
	json_object_set_new(j, "wal_receiver_status", jstr(n->wal_receiver_status));
	json_object_set_new(j, "connections", json_integer(n->connections));
	json_object_set_new(j, "replay_delay_s",
			    n->replay_delay_s < 0 ? json_null() : json_real(n->replay_delay_s));
	json_object_set_new(j, "wal_receiver_last_msg_age_s",
			    n->wal_receiver_last_msg_age_s < 0
				    ? json_null()
				    : json_real(n->wal_receiver_last_msg_age_s));
	json_object_set_new(j, "receive_lsn", jstr(n->receive_lsn));
	json_object_set_new(j, "replay_lsn", jstr(n->replay_lsn));
	json_object_set_new(j, "current_lsn", jstr(n->current_lsn));
	return j;
}

/* repository_json - what a repository holds, without the WAL listing (counted). */
static json_t *repository_json(const PgcObsRepository *r)
{
	json_t *j, *base;
	size_t i, k;

	if (r == NULL)
		return json_null();
	j = json_object();
	json_object_set_new(j, "path", jstr(r->path));
	json_object_set_new(j, "exists", json_boolean(r->exists));
	json_object_set_new(j, "error", jstr(r->error));
	base = json_array();
	for (i = 0; r->catalog != NULL && i < r->catalog->n_base; i++) {
		const PgcBaseBackupInfo *b = &r->catalog->base[i];
		json_t *e = json_pack("{s:o s:o s:o s:o s:I s:b s:b}", "id", jstr(b->id), "finished_at",
				      jstr(b->finished_at), "start_lsn", jstr(b->start_lsn), "stop_lsn",
				      jstr(b->stop_lsn), "timeline", (json_int_t)b->timeline,
				      "verified", b->verify.known && b->verify.ok, "deleting", b->deleting);

		for (k = 0; k < r->n_drills; k++) {
			const PgcObsDrill *d = &r->drills[k];

			if (strcmp(d->backup_id, b->id) == 0)
				json_object_set_new(e, "drill",
						    json_pack("{s:b s:o s:f s:I s:o}", "ok", d->ok, "at",
							      jstr(d->at), "duration_s", d->duration_s,
							      "rows", (json_int_t)d->rows, "message",
							      jstr(d->message)));
		}
		json_array_append_new(base, e);
	}
	json_object_set_new(j, "base", base);
	json_object_set_new(j, "logical", json_integer(r->catalog ? (json_int_t)r->catalog->n_logical
								   : 0));
	json_object_set_new(j, "wal_files", json_integer((json_int_t)r->n_wal));
	json_object_set_new(j, "timelines_with_history", json_integer((json_int_t)r->n_history));
	return j;
}

json_t *observe_to_json(const PgcObserved *o)
{
	json_t *root = json_object(), *clusters = json_array();

	json_object_set_new(root, "observed_at", jstr(o->observed_at));
	for (size_t i = 0; i < o->n_clusters; i++) {
		const PgcObsCluster *c = &o->clusters[i];
		json_t *nodes = json_array();

		for (size_t k = 0; k < c->n_nodes; k++)
			json_array_append_new(nodes, node_json(&c->nodes[k]));
		json_array_append_new(clusters,
				      json_pack("{s:o s:o s:o s:o}", "name", jstr(c->name), "nodes", nodes,
						"repository", repository_json(c->repository),
						"restore_source", repository_json(c->restore_source)));
	}
	json_object_set_new(root, "clusters", clusters);
	return root;
}

uint64_t lsn_parse(const char *lsn)
{
	unsigned long long hi, lo;
	char *end;

	if (lsn == NULL || *lsn == '\0')
		return 0;
	hi = strtoull(lsn, &end, 16);
	if (*end != '/' || end == lsn)
		return 0;
	lo = strtoull(end + 1, &end, 16);
	if (*end != '\0' || hi > 0xffffffffULL || lo > 0xffffffffULL)
		return 0;
	return (uint64_t)hi << 32 | lo;
}
