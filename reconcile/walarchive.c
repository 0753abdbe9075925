/*
 * reconcile/walarchive.c - the WAL archive: push, fetch, list, the
 * archive/restore commands, and pg_stat_archiver. Layout and contracts are
 * in walarchive.h.
 */
#include "reconcile/walarchive.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <zlib.h>
#include <zstd.h>

#include "common/digest.h"
#include "common/fsutil.h"
#include "common/log.h"
#include "common/strutil.h"
#include "reconcile/pgsql.h"

#define GZIP_LEVEL 6
#define ZSTD_LEVEL 3

/* ---- names -------------------------------------------------------------- */

static bool is_hex_upper(const char *s, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'A' && s[i] <= 'F')))
			return false;
	return true;
}

static uint32_t hex8(const char *s)
{
	char buf[9];

	memcpy(buf, s, 8);
	buf[8] = '\0';
	return (uint32_t)strtoul(buf, NULL, 16);
}

int walarchive_parse_name(const char *name, PgcWalName *out)
{
	size_t len = name != NULL ? strlen(name) : 0;
	PgcWalName n = {0};

	if (len == 16 && is_hex_upper(name, 8) && strcmp(name + 8, ".history") == 0) {
		n.kind = WAL_FILE_HISTORY;
	} else if (len >= 24 && is_hex_upper(name, 24)) {
		if (len == 24)
			n.kind = WAL_FILE_SEGMENT;
		else if (strcmp(name + 24, ".partial") == 0)
			n.kind = WAL_FILE_PARTIAL;
		else if (len == 40 && name[24] == '.' && is_hex_upper(name + 25, 8) &&
			 strcmp(name + 33, ".backup") == 0)
			n.kind = WAL_FILE_BACKUP;
		else
			return -1;
		n.log = hex8(name + 8);
		n.seg = hex8(name + 16);
	} else {
		return -1;
	}
	n.timeline = hex8(name);
	if (n.timeline == 0)
		return -1;
	if (out != NULL)
		*out = n;
	return 0;
}

uint64_t walarchive_segno(const PgcWalName *n, uint64_t segsize)
{
	uint64_t per_log = segsize > 0 ? UINT64_C(0x100000000) / segsize : 0;

	return (uint64_t)n->log * per_log + n->seg;
}

int walarchive_parse_lsn(const char *text, uint64_t *lsn)
{
	unsigned hi, lo;
	int used = 0;

	if (text == NULL || sscanf(text, "%8X/%8X%n", &hi, &lo, &used) != 2 || text[used] != '\0')
		return -1;
	*lsn = ((uint64_t)hi << 32) | lo;
	return 0;
}

static const struct {
	PgcCompression c;
	const char *name;
	const char *suffix;
} compressions[] = {
	{COMPRESS_NONE, "none", ""},
	{COMPRESS_GZIP, "gzip", ".gz"},
	{COMPRESS_ZSTD, "zstd", ".zst"},
};

#define N_COMPRESSIONS (sizeof(compressions) / sizeof(compressions[0]))

const char *walarchive_compression_name(PgcCompression c)
{
	size_t i;

	for (i = 0; i < N_COMPRESSIONS; i++)
		if (compressions[i].c == c)
			return compressions[i].name;
	return "none";
}

const char *walarchive_compression_suffix(PgcCompression c)
{
	size_t i;

	for (i = 0; i < N_COMPRESSIONS; i++)
		if (compressions[i].c == c)
			return compressions[i].suffix;
	return "";
}

int walarchive_parse_compression(const char *name, PgcCompression *c)
{
	size_t i;

	for (i = 0; name != NULL && i < N_COMPRESSIONS; i++) {
		if (strcmp(compressions[i].name, name) == 0) {
			*c = compressions[i].c;
			return 0;
		}
	}
	return -1;
}

const char *walarchive_dir(PgcArena *a, const char *repository, const char *name)
{
	PgcWalName n;

	if (walarchive_parse_name(name, &n) != 0)
		return NULL;
	if (n.kind == WAL_FILE_HISTORY)
		return arena_printf(a, "%s/%s/%s", repository, WALARCHIVE_DIR, WALARCHIVE_HISTORY_DIR);
	return arena_printf(a, "%s/%s/%.8s", repository, WALARCHIVE_DIR, name);
}

const char *walarchive_path(PgcArena *a, const char *repository, const char *name,
			    PgcCompression c)
{
	const char *dir = walarchive_dir(a, repository, name);

	if (dir == NULL)
		return NULL;
	return arena_printf(a, "%s/%s%s", dir, name, walarchive_compression_suffix(c));
}

const char *walarchive_checksum_path(PgcArena *a, const char *repository, const char *name)
{
	const char *dir = walarchive_dir(a, repository, name);

	if (dir == NULL)
		return NULL;
	return arena_printf(a, "%s/%s%s", dir, name, WALARCHIVE_CHECKSUM_SUFFIX);
}

/* ---- compression -------------------------------------------------------- */

int walarchive_compress(PgcCompression c, const void *in, size_t len, void **out, size_t *out_len)
{
	*out = NULL;
	*out_len = 0;
	if (c == COMPRESS_GZIP) {
		z_stream zs = {0};
		uLong bound;
		int zrc;

		if (len > WALARCHIVE_MAX_FILE) {
			log_error("could not compress: %zu bytes is more than a WAL file holds", len);
			return -1;
		}
		/* windowBits 15 + 16: a gzip header and trailer, readable by gzip(1). */
		if (deflateInit2(&zs, GZIP_LEVEL, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK) {
			log_error("could not start gzip compression: %s", zs.msg ? zs.msg : "zlib error");
			return -1;
		}
		bound = deflateBound(&zs, (uLong)len);
		*out = malloc(bound);
		if (*out == NULL)
			abort();
		zs.next_in = (Bytef *)(uintptr_t)in;
		zs.avail_in = (uInt)len;
		zs.next_out = *out;
		zs.avail_out = (uInt)bound;
		zrc = deflate(&zs, Z_FINISH);
		*out_len = zs.total_out;
		deflateEnd(&zs);
		if (zrc != Z_STREAM_END) {
			log_error("could not compress with gzip: zlib error %d", zrc);
			free(*out);
			*out = NULL;
			return -1;
		}
		return 0;
	}
	if (c == COMPRESS_ZSTD) {
		size_t bound = ZSTD_compressBound(len), n;

		*out = malloc(bound > 0 ? bound : 1);
		if (*out == NULL)
			abort();
		n = ZSTD_compress(*out, bound, in, len, ZSTD_LEVEL);
		if (ZSTD_isError(n)) {
			log_error("could not compress with zstd: %s", ZSTD_getErrorName(n));
			free(*out);
			*out = NULL;
			return -1;
		}
		*out_len = n;
		return 0;
	}
	*out = malloc(len > 0 ? len : 1);
	if (*out == NULL)
		abort();
	memcpy(*out, in, len);
	*out_len = len;
	return 0;
}

/* grow - doubles *buf's capacity, up to max + 1 (one byte more shows an overflow). */
static int grow(unsigned char **buf, size_t *cap, size_t max)
{
	size_t want = *cap < 65536 ? 65536 : *cap * 2;
	unsigned char *p;

	if (*cap > max)
		return -1;
	if (want > max + 1)
		want = max + 1;
	p = realloc(*buf, want);
	if (p == NULL)
		abort();
	*buf = p;
	*cap = want;
	return 0;
}

static int gunzip(const void *in, size_t len, size_t max, const char *what, unsigned char **out,
		  size_t *out_len)
{
	z_stream zs = {0};
	size_t cap = 0;
	int zrc = Z_OK;

	if (inflateInit2(&zs, 15 + 16) != Z_OK) {
		log_error("could not start gzip decompression: %s", zs.msg ? zs.msg : "zlib error");
		return -1;
	}
	zs.next_in = (Bytef *)(uintptr_t)in;
	zs.avail_in = (uInt)len;
	while (zrc != Z_STREAM_END) {
		if (zs.total_out >= cap && grow(out, &cap, max) != 0)
			break;
		zs.next_out = *out + zs.total_out;
		zs.avail_out = (uInt)(cap - zs.total_out);
		zrc = inflate(&zs, Z_NO_FLUSH);
		if (zrc != Z_OK && zrc != Z_STREAM_END && !(zrc == Z_BUF_ERROR && zs.avail_out == 0))
			break;
	}
	*out_len = zs.total_out;
	inflateEnd(&zs);
	if (zrc != Z_STREAM_END || *out_len > max) {
		log_error("could not decompress %s: %s", what,
			  *out_len > max ? "larger than a WAL file can be"
					 : zrc == Z_BUF_ERROR ? "the gzip stream is truncated"
							      : "not valid gzip data");
		return -1;
	}
	if (zs.avail_in != 0) {
		log_error("could not decompress %s: data after the end of the gzip stream", what);
		return -1;
	}
	return 0;
}

static int unzstd(const void *in, size_t len, size_t max, const char *what, unsigned char **out,
		  size_t *out_len)
{
	ZSTD_DStream *ds = ZSTD_createDStream();
	ZSTD_inBuffer ib = {in, len, 0};
	size_t cap = 0, left = 1;
	const char *why = NULL;

	if (ds == NULL)
		abort();
	*out_len = 0;
	while (ib.pos < ib.size || left != 0) {
		ZSTD_outBuffer ob;
		size_t before_in = ib.pos;

		if (*out_len >= cap && grow(out, &cap, max) != 0) {
			why = "larger than a WAL file can be";
			break;
		}
		ob = (ZSTD_outBuffer){*out, cap, *out_len};
		left = ZSTD_decompressStream(ds, &ob, &ib);
		if (ZSTD_isError(left)) {
			why = ZSTD_getErrorName(left);
			break;
		}
		if (ob.pos == *out_len && ib.pos == before_in && ob.pos < cap) {
			why = "the zstd stream is truncated";
			break;
		}
		*out_len = ob.pos;
		if (left == 0 && ib.pos < ib.size) {
			why = "data after the end of the zstd frame";
			break;
		}
	}
	ZSTD_freeDStream(ds);
	if (why == NULL && *out_len > max)
		why = "larger than a WAL file can be";
	if (why != NULL) {
		log_error("could not decompress %s: %s", what, why);
		return -1;
	}
	return 0;
}

int walarchive_decompress(PgcCompression c, const void *in, size_t len, size_t max,
			  const char *what, void **out, size_t *out_len)
{
	unsigned char *buf = NULL;
	int rc;

	*out = NULL;
	*out_len = 0;
	if (c == COMPRESS_GZIP)
		rc = gunzip(in, len, max, what, &buf, out_len);
	else if (c == COMPRESS_ZSTD)
		rc = unzstd(in, len, max, what, &buf, out_len);
	else {
		if (len > max) {
			log_error("could not read %s: larger than a WAL file can be", what);
			return -1;
		}
		buf = malloc(len > 0 ? len : 1);
		if (buf == NULL)
			abort();
		memcpy(buf, in, len);
		*out_len = len;
		rc = 0;
	}
	if (rc != 0) {
		free(buf);
		*out_len = 0;
		return -1;
	}
	*out = buf;
	return 0;
}

/* ---- the repository ----------------------------------------------------- */

int walarchive_owner(const char *repository, uid_t *uid, gid_t *gid)
{
	struct stat st;

	*uid = FS_NO_UID;
	*gid = FS_NO_GID;
	if (stat(repository, &st) != 0) {
		int saved = errno;

		log_error("backup repository \"%s\" is not accessible: %s\n"
			  "hint: %s",
			  repository, strerror(saved),
			  saved == ENOENT ? "create it, owned by the servers' os_user (pgconverge backup "
					    "does), and mount it first when it is a mount point"
					  : "the servers' os_user must be able to read and write it");
		errno = saved;
		return -1;
	}
	if (!S_ISDIR(st.st_mode)) {
		log_error("backup repository \"%s\" is not a folder", repository);
		errno = ENOTDIR;
		return -1;
	}
	if (geteuid() == 0) {
		*uid = st.st_uid;
		*gid = st.st_gid;
	}
	return 0;
}

/*
 * find_archived - the data file of name in the archive: its path and
 * compression, or NULL when there is none. Any suffix is looked for, since
 * an earlier push may have used another compression.
 */
static const char *find_archived(PgcArena *a, const char *repository, const char *name,
				 PgcCompression *c)
{
	struct stat st;
	size_t i;

	for (i = 0; i < N_COMPRESSIONS; i++) {
		const char *path = walarchive_path(a, repository, name, compressions[i].c);

		if (lstat(path, &st) == 0 && S_ISREG(st.st_mode)) {
			*c = compressions[i].c;
			return path;
		}
	}
	return NULL;
}

/* read_checksum - the hex digest of a checksum file; 1 when absent, -1 when unreadable or malformed. */
static int read_checksum(const char *path, char hex[DIGEST_HEX_LEN + 1])
{
	char *buf = NULL;
	size_t len, i;
	int rc = fs_read_file(path, &buf, &len, 4096);

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

/*
 * read_archived - reads and decompresses an archived data file into *data
 * (malloc'd) and its SHA-256 into hex. 0, or -1 (reported).
 */
static int read_archived(const char *path, PgcCompression c, void **data, size_t *len,
			 char hex[DIGEST_HEX_LEN + 1])
{
	char *raw = NULL;
	size_t raw_len;
	int rc;

	/* A compressed file is smaller than its content; the bound only stops a runaway read. */
	rc = fs_read_file(path, &raw, &raw_len, WALARCHIVE_MAX_FILE + 1024 * 1024);
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

/*
 * Source - the file to archive, mapped (segments) or read (small files).
 * Mapping shares the page cache's pages: no copy into fresh memory, which
 * for a 16MB segment costs as much as hashing it. PostgreSQL never changes
 * a segment it hands to archive_command, so the mapping stays valid.
 */
typedef struct {
	char *data;
	size_t len;
	bool mapped;
} Source;

#define SOURCE_MAP_MIN (256 * 1024)

static void source_free(Source *src)
{
	if (src->mapped)
		munmap(src->data, src->len);
	else
		free(src->data);
	src->data = NULL;
}

/* read_source - 0; 1 when the file does not exist (nothing logged); -1 (reported). */
static int read_source(const char *path, Source *src)
{
	struct stat st;
	size_t n = 0;
	char extra;
	int fd, saved;

	memset(src, 0, sizeof(*src));
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		if (errno == ENOENT)
			return 1;
		saved = errno;
		log_error("could not open WAL file \"%s\": %s", path, strerror(saved));
		return -1;
	}
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || (size_t)st.st_size > WALARCHIVE_MAX_FILE) {
		saved = errno;
		log_error("could not read WAL file \"%s\": %s", path,
			  !S_ISREG(st.st_mode) ? "not a regular file" : saved ? strerror(saved) : "too large");
		close(fd);
		return -1;
	}
	src->len = (size_t)st.st_size;
	if (src->len >= SOURCE_MAP_MIN) {
		void *p = mmap(NULL, src->len, PROT_READ, MAP_PRIVATE | MAP_POPULATE, fd, 0);

		if (p != MAP_FAILED) {
			close(fd);
			src->data = p;
			src->mapped = true;
			return 0;
		}
	}
	src->data = malloc(src->len + 1);
	if (src->data == NULL)
		abort();
	while (n < src->len) {
		ssize_t r = read(fd, src->data + n, src->len - n);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		n += (size_t)r;
	}
	/* A file that shrank or grew while read is not one PostgreSQL handed over. */
	if (n != src->len || read(fd, &extra, 1) != 0) {
		log_error("could not read WAL file \"%s\": it changed size while being read", path);
		close(fd);
		source_free(src);
		return -1;
	}
	close(fd);
	return 0;
}

static int write_checksum(const char *path, const char *name, const char *hex, uid_t uid,
			  gid_t gid)
{
	char line[DIGEST_HEX_LEN + 300];
	int n = snprintf(line, sizeof(line), "%s  %s\n", hex, name);

	return fs_write_atomic(path, line, (size_t)n, 0600, uid, gid, NULL);
}

/*
 * check_existing - compares the archived copy of name (at path) with the
 * content being pushed (digest hex). 0 when identical (its checksum file is
 * rewritten when missing or wrong, the content being proven right), -1
 * (reported) when it differs or cannot be read.
 */
static int check_existing(PgcArena *a, const char *repository, const char *name, const char *path,
			  PgcCompression c, const char *hex, uid_t uid, gid_t gid)
{
	const char *sum_path = walarchive_checksum_path(a, repository, name);
	char old_hex[DIGEST_HEX_LEN + 1], recorded[DIGEST_HEX_LEN + 1];
	void *old = NULL;
	size_t old_len;
	int sum_rc;

	if (read_archived(path, c, &old, &old_len, old_hex) != 0) {
		log_error("WAL file \"%s\" is already in the archive but its copy \"%s\" cannot be read\n"
			  "hint: the archive is damaged; move that file away after checking it, then "
			  "PostgreSQL's next attempt archives the segment again",
			  name, path);
		return -1;
	}
	free(old);
	if (strcmp(old_hex, hex) != 0) {
		log_error("WAL file \"%s\" is already archived with different content (\"%s\"); "
			  "refusing to overwrite it\n"
			  "hint: two clusters (or a restored copy) are archiving into the same repository; "
			  "give each cluster its own backup.repository",
			  name, path);
		return -1;
	}
	sum_rc = read_checksum(sum_path, recorded);
	if (sum_rc == 0 && strcmp(recorded, hex) == 0)
		return 0;
	log_warn("WAL file \"%s\" was archived with the same content but %s; writing it again", name,
		 sum_rc == 1 ? "without its checksum file" : "with a wrong checksum file");
	return write_checksum(sum_path, name, hex, uid, gid);
}

int walarchive_push(const char *repository, const char *src_path, const char *name,
		    PgcCompression c, bool *already)
{
	PgcArena *a = arena_new();
	char hex[DIGEST_HEX_LEN + 1];
	Source src = {0};
	void *packed = NULL;
	size_t packed_len = 0;
	const char *dir, *existing, *path;
	PgcCompression existing_c;
	uid_t uid;
	gid_t gid;
	int rc = -1, read_rc;

	if (already != NULL)
		*already = false;
	if (walarchive_parse_name(name, NULL) != 0) {
		log_error("\"%s\" is not the name of a WAL segment, .partial, .backup or .history file\n"
			  "hint: archive_command passes it as %%f",
			  name);
		goto cleanup;
	}
	if (walarchive_owner(repository, &uid, &gid) != 0)
		goto cleanup;
	read_rc = read_source(src_path, &src);
	if (read_rc != 0) {
		if (read_rc > 0)
			log_error("could not read WAL file \"%s\": it does not exist\n"
				  "hint: archive_command passes it as %%p, relative to the data directory",
				  src_path);
		goto cleanup;
	}
	digest_sha256_hex(src.data, src.len, hex);

	existing = find_archived(a, repository, name, &existing_c);
	if (existing != NULL) {
		rc = check_existing(a, repository, name, existing, existing_c, hex, uid, gid);
		if (rc == 0 && already != NULL)
			*already = true;
		goto cleanup;
	}

	dir = walarchive_dir(a, repository, name);
	if (fs_mkdir_p(dir, 0700, uid, gid) != 0)
		goto cleanup;
	if (c != COMPRESS_NONE && walarchive_compress(c, src.data, src.len, &packed, &packed_len) != 0)
		goto cleanup;
	/* Checksum first: a push killed before the data is written left nothing archived. */
	if (write_checksum(walarchive_checksum_path(a, repository, name), name, hex, uid, gid) != 0)
		goto cleanup;
	path = walarchive_path(a, repository, name, c);
	if (fs_write_atomic(path, packed != NULL ? packed : src.data,
			    packed != NULL ? packed_len : src.len, 0600, uid, gid, NULL) != 0)
		goto cleanup;
	log_debug("archived \"%s\" as \"%s\" (%zu bytes, %zu stored)", name, path, src.len,
		  packed != NULL ? packed_len : src.len);
	rc = 0;
cleanup:
	source_free(&src);
	free(packed);
	arena_free(a);
	return rc;
}

int walarchive_fetch(const char *repository, const char *name, const char *dest_path)
{
	PgcArena *a = arena_new();
	char hex[DIGEST_HEX_LEN + 1], recorded[DIGEST_HEX_LEN + 1];
	void *data = NULL;
	size_t len = 0;
	const char *path, *sum_path;
	PgcCompression c;
	struct stat st;
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
	path = find_archived(a, repository, name, &c);
	if (path == NULL) {
		log_debug("\"%s\" is not in the archive \"%s\"", name, repository);
		rc = 1;
		goto cleanup;
	}
	sum_path = walarchive_checksum_path(a, repository, name);
	sum_rc = read_checksum(sum_path, recorded);
	if (sum_rc != 0) {
		if (sum_rc > 0)
			log_error("archived WAL file \"%s\" has no checksum file \"%s\"\n"
				  "hint: it was not written by pgconverge wal-push, or the archive is "
				  "damaged",
				  path, sum_path);
		goto cleanup;
	}
	if (read_archived(path, c, &data, &len, hex) != 0)
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

/* ---- archive_command / restore_command ---------------------------------- */

static bool shell_safe(const char *w)
{
	if (*w == '\0')
		return false;
	for (; *w != '\0'; w++)
		if (!((*w >= 'a' && *w <= 'z') || (*w >= 'A' && *w <= 'Z') || (*w >= '0' && *w <= '9') ||
		      strchr("_@%+=:,./-", *w) != NULL))
			return false;
	return true;
}

/* shell_word - w for /bin/sh; with escape_percent, each '%' doubled for the server first. */
static const char *shell_word(PgcArena *a, const char *w, bool escape_percent)
{
	size_t n = strlen(w), i;
	char *out = arena_alloc(a, 4 * n + 3), *p = out;
	bool quote = !shell_safe(w);

	if (quote)
		*p++ = '\'';
	for (i = 0; i < n; i++) {
		if (w[i] == '\'') {
			memcpy(p, "'\\''", 4);
			p += 4;
			continue;
		}
		if (w[i] == '%' && escape_percent)
			*p++ = '%';
		*p++ = w[i];
	}
	if (quote)
		*p++ = '\'';
	*p = '\0';
	return out;
}

const char *walarchive_archive_command(PgcArena *a, const char *bin, const char *repository,
				       PgcCompression c)
{
	const char *cmd = arena_printf(a, "%s wal-push --repository %s", shell_word(a, bin, true),
				       shell_word(a, repository, true));

	if (c != COMPRESS_NONE)
		cmd = arena_printf(a, "%s --compress %s", cmd, walarchive_compression_name(c));
	return arena_printf(a, "%s %%p %%f", cmd);
}

const char *walarchive_restore_command(PgcArena *a, const char *bin, const char *repository)
{
	return arena_printf(a, "%s wal-fetch --repository %s %%f %%p", shell_word(a, bin, true),
			    shell_word(a, repository, true));
}

/* ---- listing ------------------------------------------------------------ */

typedef struct {
	PgcWalEntry *items;
	size_t n, cap;
} EntryList;

static void list_add(PgcArena *a, EntryList *l, const PgcWalEntry *e)
{
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 64;
		PgcWalEntry *items = arena_calloc(a, cap, sizeof(*items));

		if (l->n)
			memcpy(items, l->items, l->n * sizeof(*items));
		l->items = items;
		l->cap = cap;
	}
	l->items[l->n++] = *e;
}

/* strip_suffix - name without a compression suffix, with that compression. */
static char *strip_suffix(PgcArena *a, const char *file)
{
	size_t i;

	for (i = 1; i < N_COMPRESSIONS; i++)
		if (str_has_suffix(file, compressions[i].suffix))
			return arena_strndup(a, file, strlen(file) - strlen(compressions[i].suffix));
	return arena_strdup(a, file);
}

/* list_dir - adds the archived files of one timeline (or history) folder. */
static int list_dir(PgcArena *a, const char *dir, const char *folder, EntryList *l)
{
	bool history = strcmp(folder, WALARCHIVE_HISTORY_DIR) == 0;
	DIR *d = opendir(dir);
	struct dirent *de;

	if (d == NULL) {
		log_error("could not open folder \"%s\": %s", dir, strerror(errno));
		return -1;
	}
	while ((de = readdir(d)) != NULL) {
		PgcWalEntry e = {0};
		struct stat st;

		if (de->d_name[0] == '.' || str_has_suffix(de->d_name, WALARCHIVE_CHECKSUM_SUFFIX))
			continue;
		e.name = strip_suffix(a, de->d_name);
		if (walarchive_parse_name(e.name, &e.parsed) != 0)
			continue;
		/* A file in the wrong folder is not ours to manage. */
		if (history != (e.parsed.kind == WAL_FILE_HISTORY) ||
		    (!history && strncmp(e.name, folder, 8) != 0))
			continue;
		e.path = arena_printf(a, "%s/%s", dir, de->d_name);
		if (lstat(e.path, &st) != 0 || !S_ISREG(st.st_mode))
			continue;
		e.size = (int64_t)st.st_size;
		e.mtime = (int64_t)st.st_mtime;
		e.checksum_path = arena_printf(a, "%s/%s%s", dir, e.name, WALARCHIVE_CHECKSUM_SUFFIX);
		list_add(a, l, &e);
	}
	closedir(d);
	return 0;
}

static int entry_cmp(const void *x, const void *y)
{
	const PgcWalEntry *a = x, *b = y;
	int c = strcmp(a->name, b->name);

	return c != 0 ? c : strcmp(a->path, b->path);
}

int walarchive_list(PgcArena *a, const char *repository, PgcWalEntry **entries, size_t *n)
{
	const char *root = arena_printf(a, "%s/%s", repository, WALARCHIVE_DIR);
	EntryList l = {0};
	DIR *d;
	struct dirent *de;
	int rc = 0;

	*entries = NULL;
	*n = 0;
	d = opendir(root);
	if (d == NULL) {
		if (errno == ENOENT)
			return 0;
		log_error("could not open folder \"%s\": %s", root, strerror(errno));
		return -1;
	}
	while (rc == 0 && (de = readdir(d)) != NULL) {
		const char *sub = de->d_name;
		struct stat st;
		const char *path;

		if (!(strcmp(sub, WALARCHIVE_HISTORY_DIR) == 0 ||
		      (strlen(sub) == 8 && is_hex_upper(sub, 8))))
			continue;
		path = arena_printf(a, "%s/%s", root, sub);
		if (lstat(path, &st) != 0 || !S_ISDIR(st.st_mode))
			continue;
		rc = list_dir(a, path, sub, &l);
	}
	closedir(d);
	if (rc != 0)
		return -1;
	if (l.n > 1)
		qsort(l.items, l.n, sizeof(*l.items), entry_cmp);
	*entries = l.items;
	*n = l.n;
	return 0;
}

/* ---- pg_stat_archiver --------------------------------------------------- */

static const char *value_or_null(PgcArena *a, const PGresult *r, int col)
{
	return PQgetisnull(r, 0, col) ? NULL : arena_strdup(a, PQgetvalue(r, 0, col));
}

int walarchive_archiver_status(PgcArena *a, PGconn *conn, int timeout_ms, PgcArchiverStatus *out,
			       char *err, size_t errlen)
{
	static const char *const sql =
		"SELECT archived_count, last_archived_wal,"
		" to_char(last_archived_time AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'),"
		" extract(epoch FROM now() - last_archived_time),"
		" failed_count, last_failed_wal,"
		" to_char(last_failed_time AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'),"
		" coalesce(last_failed_time > coalesce(last_archived_time, '-infinity'), false),"
		" current_setting('archive_mode'),"
		" to_char(stats_reset AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')"
		" FROM pg_catalog.pg_stat_archiver";
	static const char *const ready_sql =
		"SELECT count(*) FROM pg_catalog.pg_ls_archive_statusdir() WHERE name LIKE '%.ready'";
	PGresult *r = NULL;
	PgcPgError e;

	memset(out, 0, sizeof(*out));
	out->last_archived_age_s = -1;
	out->ready_count = -1;
	if (pgsql_query(conn, sql, 0, NULL, timeout_ms, &r, &e) != 0) {
		snprintf(err, errlen, "could not read pg_stat_archiver: %s (SQLSTATE %s)", e.message,
			 e.sqlstate);
		return -1;
	}
	out->archived_count = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
	out->last_archived_wal = value_or_null(a, r, 1);
	out->last_archived_time = value_or_null(a, r, 2);
	if (!PQgetisnull(r, 0, 3))
		out->last_archived_age_s = strtod(PQgetvalue(r, 0, 3), NULL);
	out->failed_count = strtoll(PQgetvalue(r, 0, 4), NULL, 10);
	out->last_failed_wal = value_or_null(a, r, 5);
	out->last_failed_time = value_or_null(a, r, 6);
	out->failing = strcmp(PQgetvalue(r, 0, 7), "t") == 0;
	out->archive_mode = value_or_null(a, r, 8);
	out->stats_reset = value_or_null(a, r, 9);
	PQclear(r);
	r = NULL;
	/* Needs superuser or pg_monitor; without it the backlog stays unknown. */
	if (pgsql_query(conn, ready_sql, 0, NULL, timeout_ms, &r, &e) == 0) {
		out->ready_count = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
		PQclear(r);
	} else {
		log_debug("archive backlog unknown: %s (SQLSTATE %s)", e.message, e.sqlstate);
	}
	return 0;
}
