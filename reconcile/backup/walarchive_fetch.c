/*
 * reconcile/backup/walarchive_fetch.c - `pgconverge wal-fetch`: an archived
 * WAL file handed back, decompressed and checked against its checksum
 * (walarchive_fetch.h). Needs libcrypto, zlib and libzstd only: the lean
 * pgconverge executable links it (cmd/front.c).
 */
#include "reconcile/backup/walarchive_fetch.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/fsutil.h"
#include "common/log.h"
#include "reconcile/backup/walarchive.h"
#include "reconcile/backup/walarchive_compress.h"

/* ---- reading the archive back ----------------------------------------- */

int walarchive_read_checksum(const char *path, uid_t owner, char hex[DIGEST_HEX_LEN + 1])
{
	char *buf = NULL;
	size_t len, i;
	int rc = fs_read_file_guarded(path, &buf, &len, 4096, owner);

	if (rc != 0)
		return rc;
	for (i = 0; i < DIGEST_HEX_LEN; i++) {
		char ch = buf[i];

		if (!((ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'f')))
			break;
	}
	if (i != DIGEST_HEX_LEN || (buf[i] != ' ' && buf[i] != '\n' && buf[i] != '\0')) {
		log_error("checksum file \"%s\" is damaged: it does not start with a SHA-256 digest", path);
		free(buf);
		return -1;
	}
	memcpy(hex, buf, DIGEST_HEX_LEN);
	hex[DIGEST_HEX_LEN] = '\0';
	free(buf);
	return 0;
}


int walarchive_read_archived(const char *path, uid_t owner, PgcCompression c, void **data,
			      size_t *len, char hex[DIGEST_HEX_LEN + 1])
{
	char *raw = NULL;
	size_t raw_len;
	int rc;

	/* A compressed file is smaller than its content; the bound only stops a runaway read. */
	rc = fs_read_file_guarded(path, &raw, &raw_len, WALARCHIVE_MAX_FILE + 1024 * 1024, owner);
	if (rc != 0) {
		if (rc > 0)
			log_error("could not read archived file \"%s\": it disappeared", path);
		return -1;
	}
	rc = walarchive_decompress(c, raw, raw_len, WALARCHIVE_MAX_FILE,
				   c == COMPRESS_NONE ? "archived file" : path, data, len);
	free(raw);
	if (rc != 0)
		return -1;
	digest_sha256_hex(*data, *len, hex);
	return 0;
}


/* ---- fetching ---------------------------------------------------------- */

int walarchive_fetch(const char *repository, const char *name, const char *dest_path)
{
	PgcArena *a = arena_new();
	char hex[DIGEST_HEX_LEN + 1], recorded[DIGEST_HEX_LEN + 1];
	void *data = NULL;
	size_t len = 0;
	const char *path, *sum_path;
	PgcCompression c;
	struct stat st;
	uid_t owner;
	int rc = -1, sum_rc;

	if (walarchive_parse_name(name, NULL) != 0) {
		log_error("\"%s\" is not the name of a WAL segment, .partial, .backup or .history file\n"
			  "hint: restore_command passes it as %%f",
			  name);
		goto cleanup;
	}
	errno = 0;
	if (stat(repository, &st) != 0 || !S_ISDIR(st.st_mode)) {
		const char *why = errno != 0 ? strerror(errno) : "not a folder";

		log_error("backup repository \"%s\" is not accessible: %s\n"
			  "hint: mount or restore it; recovery stops here rather than end early",
			  repository, why);
		goto cleanup;
	}
	/* As root (observe reads history files): only what the repository's owner could read. */
	owner = geteuid() == 0 ? st.st_uid : FS_NO_UID;
	path = walarchive_find(a, repository, name, &c);
	if (path == NULL) {
		log_debug("\"%s\" is not in the archive \"%s\"", name, repository);
		rc = 1;
		goto cleanup;
	}
	sum_path = walarchive_checksum_path(a, repository, name);
	sum_rc = walarchive_read_checksum(sum_path, owner, recorded);
	if (sum_rc != 0) {
		if (sum_rc > 0)
			log_error("archived WAL file \"%s\" has no checksum file \"%s\"\n"
				  "hint: it was not written by pgconverge wal-push, or the archive is "
				  "damaged",
				  path, sum_path);
		goto cleanup;
	}
	if (walarchive_read_archived(path, owner, c, &data, &len, hex) != 0)
		goto cleanup;
	if (strcmp(hex, recorded) != 0) {
		log_error("archived WAL file \"%s\" does not match its checksum (sha256 %s, expected "
			  "%s)\n"
			  "hint: the archive is damaged; restore this file from another copy",
			  path, hex, recorded);
		goto cleanup;
	}
	if (fs_write_atomic(dest_path, data, len, 0600, FS_NO_UID, FS_NO_GID, NULL) != 0)
		goto cleanup;
	log_debug("restored \"%s\" from \"%s\" to \"%s\"", name, path, dest_path);
	rc = 0;
cleanup:
	free(data);
	arena_free(a);
	return rc;
}

int walarchive_fetch_exit(const char *repository, const char *name, const char *dest_path)
{
	int rc = walarchive_fetch(repository, name, dest_path);

	if (rc > 0)
		return WAL_FETCH_EXIT_NOT_FOUND;
	return rc == 0 ? WAL_FETCH_EXIT_OK : WAL_FETCH_EXIT_FAILED;
}

int walarchive_fetch_exit_unreachable_ok(const char *repository, const char *name,
					 const char *dest_path)
{
	struct stat st;

	errno = 0;
	if (stat(repository, &st) != 0 || !S_ISDIR(st.st_mode)) {
		log_warn("backup repository \"%s\" is not accessible (%s): \"%s\" read as not "
			 "archived\n"
			 "hint: mount it on this host for this standby to catch up from it",
			 repository, errno != 0 ? strerror(errno) : "not a folder", name);
		return WAL_FETCH_EXIT_NOT_FOUND;
	}
	return walarchive_fetch_exit(repository, name, dest_path);
}
