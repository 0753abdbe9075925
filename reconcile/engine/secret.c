/*
 * reconcile/engine/secret.c - the values behind {env: NAME} and {file: PATH}
 * secrets, for apply (passwords sent pre-hashed, the replication passfile)
 * and observe (checking a role's password against its verifier): both read
 * a secret the same way, so a password that apply sets is one observe
 * finds unchanged.
 */
#include "reconcile/engine/secret.h"

#include <errno.h>
#include <stdbool.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define SECRET_FILE_MAX 65536

/* read_secret_file - the file's content; NULL with err, and *missing when it does not exist. */
static char *read_secret_file(const char *path, const char *what, bool *missing, char *err,
			      size_t errlen)
{
	struct stat st;
	char *buf = NULL;
	size_t len = 0;
	int fd, saved;

	*missing = false;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		saved = errno;
		*missing = saved == ENOENT;
		snprintf(err, errlen, "could not read the %s from file \"%s\": %s", what, path,
			 strerror(saved));
		return NULL;
	}
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		snprintf(err, errlen, "could not read the %s: \"%s\" is not a regular file", what,
			 path);
		goto fail;
	}
	if ((st.st_mode & 077) != 0) {
		snprintf(err, errlen,
			 "refusing the %s from file \"%s\": it is accessible by group or others "
			 "(mode %04o)\nhint: chmod 600 \"%s\"",
			 what, path, (unsigned)(st.st_mode & 07777), path);
		goto fail;
	}
	buf = malloc(SECRET_FILE_MAX + 1);
	if (buf == NULL)
		abort();
	for (;;) {
		/* One byte more than allowed tells a file of exactly the limit from a larger one. */
		ssize_t n = read(fd, buf + len, SECRET_FILE_MAX + 1 - len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			saved = errno;
			snprintf(err, errlen, "could not read the %s from file \"%s\": %s", what,
				 path, strerror(saved));
			goto fail;
		}
		if (n == 0)
			break;
		len += (size_t)n;
		if (len > SECRET_FILE_MAX) {
			snprintf(err, errlen,
				 "refusing the %s from file \"%s\": larger than %d bytes", what,
				 path, SECRET_FILE_MAX);
			goto fail;
		}
	}
	close(fd);
	buf[len] = '\0';
	/* Files written by editors or `echo` end with a newline that is not part of the secret. */
	if (len > 0 && buf[len - 1] == '\n')
		buf[--len] = '\0';
	if (len > 0 && buf[len - 1] == '\r')
		buf[--len] = '\0';
	return buf;
fail:
	close(fd);
	/* Not NUL-terminated here: wipe the whole buffer, not up to a NUL. */
	if (buf != NULL) {
		explicit_bzero(buf, SECRET_FILE_MAX + 1);
		free(buf);
	}
	return NULL;
}

/* source_text - where a secret comes from, for messages: file "PATH" or environment variable "NAME". */
static void source_text(const PgcSecret *s, char *buf, size_t size)
{
	snprintf(buf, size, "%s \"%s\"", s->kind == SECRET_ENV ? "environment variable" : "file",
		 s->ref);
}

/*
 * line_break - refuses a value with a line break: every consumer takes a
 * secret as one line (libpq's passfile cannot hold a line break at all,
 * and strips a trailing carriage return), and a second line in a secret
 * file is a mistake more often than a password.
 */
static int line_break(const PgcSecret *s, const char *what, const char *value, char *err,
		      size_t errlen)
{
	char src[PATH_MAX + 64];

	if (strpbrk(value, "\r\n") == NULL)
		return 0;
	source_text(s, src, sizeof src);
	snprintf(err, errlen,
		 "refusing the %s from %s: it has a line break inside; a secret is one line (a "
		 "replication passfile cannot hold a line break)\n"
		 "hint: leave one line in %s (one trailing newline is ignored)",
		 what, src, src);
	return -1;
}

char *secret_resolve_status(const PgcSecret *s, const char *what, PgcSecretStatus *status,
			    char *err, size_t errlen)
{
	char *value = NULL;

	*status = SECRET_UNAVAILABLE;
	if (s == NULL || s->kind == SECRET_NONE || s->ref == NULL) {
		snprintf(err, errlen, "no %s is declared", what);
		return NULL;
	}
	if (s->kind == SECRET_ENV) {
		const char *v = getenv(s->ref);

		if (v == NULL || *v == '\0') {
			snprintf(err, errlen,
				 "the %s is not available: environment variable \"%s\" is %s\n"
				 "hint: export %s before running pgconverge",
				 what, s->ref, v == NULL ? "not set" : "empty", s->ref);
			return NULL;
		}
		value = strdup(v);
		if (value == NULL)
			abort();
	} else {
		bool missing;

		value = read_secret_file(s->ref, what, &missing, err, errlen);
		if (value == NULL) {
			*status = missing ? SECRET_UNAVAILABLE : SECRET_REFUSED;
			return NULL;
		}
		if (value[0] == '\0') {
			snprintf(err, errlen, "the %s is empty: file \"%s\"", what, s->ref);
			secret_free(value);
			*status = SECRET_REFUSED;
			return NULL;
		}
	}
	if (line_break(s, what, value, err, errlen) != 0) {
		secret_free(value);
		*status = SECRET_REFUSED;
		return NULL;
	}
	*status = SECRET_FOUND;
	return value;
}

char *secret_resolve(const PgcSecret *s, const char *what, char *err, size_t errlen)
{
	PgcSecretStatus status;

	return secret_resolve_status(s, what, &status, err, errlen);
}

void secret_free(char *secret)
{
	if (secret == NULL)
		return;
	explicit_bzero(secret, strlen(secret));
	free(secret);
}
