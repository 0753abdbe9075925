/*
 * reconcile/backup/walarchive.c - the WAL archive: push, fetch, list and the
 * archive/restore commands (pg_stat_archiver is in walarchive_status.c).
 * Layout and contracts are in walarchive.h. Needs libcrypto, zlib and
 * libzstd only: the lean pgconverge executable links it (cmd/front.c).
 */
#include "reconcile/backup/walarchive.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <zlib.h>
#include <zstd.h>

#include "common/digest.h"
#include "common/fsutil.h"
#include "common/log.h"
#include "common/strutil.h"

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

/*
 * read_checksum - the hex digest of a checksum file; 1 when absent, -1 when
 * unreadable or malformed. Read guarded (fs_read_file_guarded: no planted
 * link, hard link or FIFO) with owner the repository's (FS_NO_UID when not
 * root).
 */
static int read_checksum(const char *path, uid_t owner, char hex[DIGEST_HEX_LEN + 1])
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

/*
 * read_archived - reads and decompresses an archived data file into *data
 * (malloc'd) and its SHA-256 into hex, guarded as read_checksum() is.
 * 0, or -1 (reported).
 */
static int read_archived(const char *path, uid_t owner, PgcCompression c, void **data,
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

/*
 * Pushing. Without compression the file is copied once through one small
 * buffer (aligned: a copy into a misaligned buffer runs several times
 * slower on some CPUs); with compression it is read whole and compressed
 * in one call. Writeback of what is written starts every few MB
 * (sync_file_range), so that the final fsync waits only for the tail and
 * the device's flush. The SHA-256 is taken while a second thread waits in
 * that fsync: for a 16MB segment the flush takes about as long as hashing,
 * so the checksum costs no time of its own. It is taken from the stored
 * copy (no compression) or from the bytes that were compressed.
 */
#define PUSH_CHUNK (256 * 1024)
#define PUSH_WRITEBACK_STEP (2 * 1024 * 1024)

/*
 * open_source - the file to archive, opened, and its size. 0; 1 when it
 * does not exist (nothing logged); -1 (reported).
 */
static int open_source(const char *path, int *fd_out, size_t *len)
{
	struct stat st;
	int fd, saved;

	*fd_out = -1;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		if (errno == ENOENT)
			return 1;
		saved = errno;
		log_error("could not open WAL file \"%s\": %s", path, strerror(saved));
		return -1;
	}
	if (fstat(fd, &st) != 0) {
		saved = errno;
		log_error("could not read WAL file \"%s\": %s", path, strerror(saved));
		close(fd);
		return -1;
	}
	if (!S_ISREG(st.st_mode) || (size_t)st.st_size > WALARCHIVE_MAX_FILE) {
		log_error("could not read WAL file \"%s\": %s", path,
			  !S_ISREG(st.st_mode) ? "not a regular file" : "too large");
		close(fd);
		return -1;
	}
	*fd_out = fd;
	*len = (size_t)st.st_size;
	return 0;
}

/* read_full - up to len bytes at off; short only at the end of the file. -1 on error (errno). */
static ssize_t read_full(int fd, void *buf, size_t len, off_t off)
{
	size_t got = 0;

	while (got < len) {
		ssize_t n = pread(fd, (char *)buf + got, len - got, off + (off_t)got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		if (n == 0)
			break;
		got += (size_t)n;
	}
	return (ssize_t)got;
}

/* aligned_buf - len bytes (at least one) at a page boundary; free() them. */
static unsigned char *aligned_buf(size_t len)
{
	void *p = NULL;

	if (posix_memalign(&p, 4096, len > 0 ? len : 1) != 0)
		abort();
	return p;
}

/*
 * hash_file - the SHA-256 of the whole file at fd (as digest_sha256_hex()
 * gives it), read through buf (PUSH_CHUNK bytes), and its size in *total.
 * 0, or -1 (reported).
 */
static int hash_file(int fd, const char *path, unsigned char *buf, size_t *total,
		     char hex[DIGEST_HEX_LEN + 1])
{
	PgcDigest md;
	ssize_t n;
	int saved;

	digest_sha256_init(&md);
	*total = 0;
	while ((n = read_full(fd, buf, PUSH_CHUNK, (off_t)*total)) > 0) {
		digest_update(&md, buf, (size_t)n);
		*total += (size_t)n;
	}
	if (n < 0) {
		saved = errno;
		log_error("could not read file \"%s\": %s", path, strerror(saved));
		digest_discard(&md);
		return -1;
	}
	digest_final_hex(&md, hex);
	return 0;
}

/* size_changed - a file that shrank or grew while read is not one PostgreSQL handed over. */
static int size_changed(const char *src_path)
{
	log_error("could not read WAL file \"%s\": it changed size while being read", src_path);
	return -1;
}

/*
 * TempFile - a hidden ".NAME.tmp.PID.N" file beside its final name (same
 * folder, so rename() is atomic), created with O_EXCL, owner and mode set.
 * Nothing lists or reads such names; a killed push leaves at most these.
 */
typedef struct {
	int fd;
	const char *path;  /* owned by the push's arena; NULL once renamed */
	const char *final; /* the name it is renamed to */
	uint64_t written;  /* bytes written */
	uint64_t kicked;   /* of which handed to writeback */
} TempFile;

static int temp_open(PgcArena *a, const char *dir, const char *final, uid_t uid, gid_t gid,
		     TempFile *t)
{
	static unsigned counter;
	const char *base = strrchr(final, '/') + 1;
	unsigned tries;
	int saved;

	memset(t, 0, sizeof(*t));
	t->fd = -1;
	t->final = final;
	for (tries = 0; tries < 100; tries++) {
		t->path = arena_printf(a, "%s/.%s.tmp.%ld.%u", dir, base, (long)getpid(), counter++);
		/* O_RDWR: the checksum is read back from the stored copy. */
		t->fd = open(t->path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
		if (t->fd >= 0 || errno != EEXIST)
			break;
	}
	if (t->fd < 0) {
		saved = errno;
		log_error("could not create temporary file \"%s\": %s", t->path, strerror(saved));
		t->path = NULL;
		return -1;
	}
	/* fchown before fchmod: changing the owner may clear set-id bits. */
	if ((uid != FS_NO_UID || gid != FS_NO_GID) && fchown(t->fd, uid, gid) != 0) {
		saved = errno;
		log_error("could not change owner of file \"%s\": %s", t->path, strerror(saved));
		return -1;
	}
	if (fchmod(t->fd, 0600) != 0) {
		saved = errno;
		log_error("could not change mode of file \"%s\": %s", t->path, strerror(saved));
		return -1;
	}
	return 0;
}

/* temp_write - appends data, starting its writeback every PUSH_WRITEBACK_STEP bytes. */
static int temp_write(TempFile *t, const void *data, size_t len)
{
	int saved;

	if (fs_write_all(t->fd, data, len) != 0) {
		saved = errno;
		log_error("could not write file \"%s\": %s", t->path, strerror(saved));
		return -1;
	}
	t->written += len;
	if (t->written - t->kicked >= PUSH_WRITEBACK_STEP) {
		/* A hint only: fsync() makes the file durable, and reports errors. */
		(void)sync_file_range(t->fd, (off64_t)t->kicked, (off64_t)(t->written - t->kicked),
				      SYNC_FILE_RANGE_WRITE);
		t->kicked = t->written;
	}
	return 0;
}

/* temp_close - reports the result of its fsync (rc, err) and closes the file. */
static int temp_close(TempFile *t, int rc, int err)
{
	if (rc != 0) {
		log_error("could not fsync file \"%s\": %s", t->path, strerror(err));
		return -1;
	}
	rc = close(t->fd);
	t->fd = -1;
	if (rc != 0) {
		err = errno;
		log_error("could not close file \"%s\": %s", t->path, strerror(err));
		return -1;
	}
	return 0;
}

static int temp_rename(TempFile *t)
{
	int saved;

	if (rename(t->path, t->final) != 0) {
		saved = errno;
		log_error("could not rename file \"%s\" to \"%s\": %s", t->path, t->final, strerror(saved));
		return -1;
	}
	t->path = NULL;
	return 0;
}

/* Tests only: act as on a file system without hard links or rename flags, or without locks. */
bool walarchive_test_no_link = false;
bool walarchive_test_no_lock = false;

/*
 * temp_link - publishes t under its final name without ever replacing a
 * file there: link() (or, where the file system has no hard links,
 * renameat2(RENAME_NOREPLACE)). Of two pushes of one name, exactly one
 * publishes. Where the file system has neither (some FUSE and SMB mounts:
 * link() fails with EPERM or EOPNOTSUPP, the flag with EINVAL), and only
 * when the folder lock is held (locked), the final name is looked for and
 * t renamed onto it: there exclusivity rests on the flock() alone. 0; 1
 * when the final name exists (nothing logged, t kept); -1 (reported).
 */
static int temp_link(TempFile *t, bool locked)
{
	struct stat st;
	int saved;

	if (!walarchive_test_no_link && link(t->path, t->final) == 0) {
		if (unlink(t->path) != 0)
			log_debug("could not remove \"%s\": %s", t->path, strerror(errno));
		t->path = NULL;
		return 0;
	}
	saved = walarchive_test_no_link ? EPERM : errno;
	if (saved == EPERM || saved == ENOTSUP || saved == EOPNOTSUPP || saved == ENOSYS ||
	    saved == EMLINK) {
		if (!walarchive_test_no_link &&
		    renameat2(AT_FDCWD, t->path, AT_FDCWD, t->final, RENAME_NOREPLACE) == 0) {
			t->path = NULL;
			return 0;
		}
		saved = walarchive_test_no_link ? EINVAL : errno;
		if ((saved == EINVAL || saved == ENOSYS || saved == ENOTSUP || saved == EOPNOTSUPP) &&
		    locked) {
			if (fstatat(AT_FDCWD, t->final, &st, AT_SYMLINK_NOFOLLOW) == 0)
				return 1;
			saved = errno;
			if (saved == ENOENT)
				return temp_rename(t);
		}
	}
	if (saved == EEXIST)
		return 1;
	log_error("could not publish file \"%s\" as \"%s\": %s%s", t->path, t->final,
		  strerror(saved),
		  !locked && (saved == EINVAL || saved == ENOSYS)
			  ? "\nhint: this file system has neither hard links nor rename flags nor "
			    "locks; put the repository on one that has one of them"
			  : "");
	return -1;
}

/*
 * lock_folder - an flock()ed descriptor on the folder's hidden ".lock"
 * file: pushes into one folder look for an existing copy and publish
 * theirs one at a time. -2 when the file system offers no locks (nothing
 * logged at the default level: temp_link() still never replaces a
 * published file); -1 (reported).
 */
#define PUSH_LOCK_FILE ".lock"
#define PUSH_LOCK_WAIT_MS 30000

static int lock_folder(PgcArena *a, const char *dir, uid_t uid, gid_t gid)
{
	const char *path = arena_printf(a, "%s/%s", dir, PUSH_LOCK_FILE);
	struct timespec pause = {0, 5 * 1000 * 1000};
	int fd, waited = 0, saved;

	if (walarchive_test_no_lock)
		return -2;
	fd = fs_open_lock_file(path, uid, gid);
	if (fd < 0)
		return -1;
	while (flock(fd, LOCK_EX | LOCK_NB) != 0) {
		saved = errno;
		if (saved == ENOLCK || saved == ENOTSUP || saved == EOPNOTSUPP || saved == ENOSYS) {
			log_debug("could not lock \"%s\": %s; publishing without it", path,
				  strerror(saved));
			close(fd);
			return -2;
		}
		if (saved != EWOULDBLOCK && saved != EINTR) {
			log_error("could not lock \"%s\": %s", path, strerror(saved));
			close(fd);
			return -1;
		}
		if (waited >= PUSH_LOCK_WAIT_MS) {
			log_error("could not lock \"%s\": another wal-push has held it for %d s\n"
				  "hint: see which process holds it with 'fuser %s'",
				  path, PUSH_LOCK_WAIT_MS / 1000, path);
			close(fd);
			return -1;
		}
		nanosleep(&pause, NULL);
		waited += 5;
	}
	return fd;
}

/* temp_discard - closes and removes a temp file that was not renamed. */
static void temp_discard(TempFile *t)
{
	if (t->fd >= 0)
		close(t->fd);
	t->fd = -1;
	if (t->path != NULL)
		unlink(t->path);
	t->path = NULL;
}

/* SyncJob - one fsync() on a thread of its own while the caller hashes. */
typedef struct {
	int fd;
	int rc, err;
	pthread_t thread;
	bool running;
} SyncJob;

static void *sync_job_run(void *arg)
{
	SyncJob *j = arg;

	j->rc = fsync(j->fd);
	j->err = j->rc != 0 ? errno : 0;
	return NULL;
}

/* sync_job_start - fsync(fd) in the background; inline when no thread can be had. */
static void sync_job_start(SyncJob *j, int fd)
{
	j->fd = fd;
	j->running = pthread_create(&j->thread, NULL, sync_job_run, j) == 0;
	if (!j->running)
		sync_job_run(j);
}

static void sync_job_wait(SyncJob *j)
{
	if (j->running)
		pthread_join(j->thread, NULL);
	j->running = false;
}

/* copy_source - copies the source (len bytes at fd) into t through a small buffer. */
static int copy_source(int fd, size_t len, const char *src_path, TempFile *t)
{
	unsigned char *buf = aligned_buf(PUSH_CHUNK);
	size_t total = 0;
	ssize_t n;
	int rc = -1, saved;

	while ((n = read_full(fd, buf, PUSH_CHUNK, (off_t)total)) > 0) {
		total += (size_t)n;
		if (total > len)
			break;
		if (temp_write(t, buf, (size_t)n) != 0)
			goto cleanup;
	}
	if (n < 0) {
		saved = errno;
		log_error("could not read WAL file \"%s\": %s", src_path, strerror(saved));
		goto cleanup;
	}
	rc = total == len ? 0 : size_changed(src_path);
cleanup:
	free(buf);
	return rc;
}

/* read_source - the whole source (len bytes at fd) into *data (free()). */
static int read_source(int fd, size_t len, const char *src_path, unsigned char **data)
{
	ssize_t n;
	int saved;

	/* One byte more than expected shows a file that grew. */
	*data = aligned_buf(len + 1);
	n = read_full(fd, *data, len + 1, 0);
	if (n < 0) {
		saved = errno;
		log_error("could not read WAL file \"%s\": %s", src_path, strerror(saved));
		return -1;
	}
	return (size_t)n == len ? 0 : size_changed(src_path);
}

/* write_packed - data compressed with c, written to t. */
static int write_packed(PgcCompression c, const unsigned char *data, size_t len, TempFile *t)
{
	void *packed = NULL;
	size_t packed_len = 0, off;
	int rc = -1;

	if (walarchive_compress(c, data, len, &packed, &packed_len) != 0)
		return -1;
	for (off = 0; off < packed_len; off += PUSH_CHUNK) {
		size_t n = packed_len - off < PUSH_CHUNK ? packed_len - off : PUSH_CHUNK;

		if (temp_write(t, (const char *)packed + off, n) != 0)
			goto cleanup;
	}
	rc = 0;
cleanup:
	free(packed);
	return rc;
}

static int write_checksum(const char *path, const char *name, const char *hex, uid_t uid,
			  gid_t gid)
{
	char line[DIGEST_HEX_LEN + 300];
	int n = snprintf(line, sizeof(line), "%s  %s\n", hex, name);

	return fs_write_atomic(path, line, (size_t)n, 0600, uid, gid, NULL);
}

/* conflict - reports name archived at path with other content than pushed. Returns -1. */
static int conflict(const char *name, const char *path)
{
	log_error("WAL file \"%s\" is already archived with different content (\"%s\"); "
		  "refusing to overwrite it\n"
		  "hint: two clusters (or a restored copy) are archiving into the same repository; "
		  "give each cluster its own backup.repository",
		  name, path);
	return -1;
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

	if (read_archived(path, uid, c, &old, &old_len, old_hex) != 0) {
		log_error("WAL file \"%s\" is already in the archive but its copy \"%s\" cannot be read\n"
			  "hint: the archive is damaged; move that file away after checking it, then "
			  "PostgreSQL's next attempt archives the segment again",
			  name, path);
		return -1;
	}
	free(old);
	if (strcmp(old_hex, hex) != 0)
		return conflict(name, path);
	sum_rc = read_checksum(sum_path, uid, recorded);
	if (sum_rc == 0 && strcmp(recorded, hex) == 0)
		return 0;
	log_warn("WAL file \"%s\" was archived with the same content but %s; writing it again", name,
		 sum_rc == 1 ? "without its checksum file" : "with a wrong checksum file");
	return write_checksum(sum_path, name, hex, uid, gid);
}

/*
 * lost_race - another push published name first, after ours published its
 * checksum (only without a working folder lock, or beside a writer that
 * is not pgconverge). The same content: done. Other content:
 * the checksum, ours, is put back to what the published copy holds, and
 * the push fails.
 */
static int lost_race(PgcArena *a, const char *repository, const char *name, const char *hex,
		     uid_t uid, gid_t gid)
{
	PgcCompression c;
	const char *path = find_archived(a, repository, name, &c);
	char theirs[DIGEST_HEX_LEN + 1];
	void *data = NULL;
	size_t len;

	if (path == NULL || read_archived(path, uid, c, &data, &len, theirs) != 0) {
		log_error("could not archive WAL file \"%s\": another push published it at the same "
			  "moment and its copy cannot be read", name);
		return -1;
	}
	free(data);
	if (strcmp(theirs, hex) == 0)
		return check_existing(a, repository, name, path, c, hex, uid, gid);
	(void)write_checksum(walarchive_checksum_path(a, repository, name), name, theirs, uid, gid);
	return conflict(name, path);
}

/*
 * publish_checksum - puts the checksum temp file t (digest hex) under its
 * final name, never replacing one a racing push may have put there: it is
 * linked like the data. A checksum already there has no data file beside
 * it (the caller looked): one left by a push that died, replaced when the
 * folder lock is held (locked); without the lock it may be a racing
 * push's, about to publish its data, so it is kept when it holds the same
 * digest and the push fails when it does not. 0, or -1 (reported).
 */
static int publish_checksum(TempFile *t, const char *hex, const char *name, uid_t uid,
			    bool locked)
{
	char recorded[DIGEST_HEX_LEN + 1];
	int rc = temp_link(t, locked);

	if (rc <= 0)
		return rc;
	if (locked)
		return temp_rename(t);
	if (read_checksum(t->final, uid, recorded) == 0 && strcmp(recorded, hex) == 0)
		return 0;
	log_error("could not archive WAL file \"%s\": its checksum file \"%s\" exists without "
		  "data and holds another digest\n"
		  "hint: another push of it is running (the repository offers no locks), or one "
		  "died; once none runs, remove that checksum file",
		  name, t->final);
	return -1;
}

/*
 * push_new - archives a file the archive did not hold when the push
 * began. The data goes to a temp file that is fsynced, its checksum to a
 * second one; then, holding the folder's lock, the push looks again for a
 * copy of name (another push may have published one meanwhile: then it is
 * compared, as for a retry), publishes the checksum (publish_checksum():
 * an orphan one is replaced only under the lock) and then the data with
 * temp_link(), which never replaces a file; one fsync of the folder makes
 * both names durable. A push killed at any point leaves no
 * data file under its final name; one killed between the two steps leaves
 * a checksum without data, which reads as "not archived".
 */
static int push_new(PgcArena *a, const char *repository, const char *name, PgcCompression c,
		    int src_fd, size_t len, const char *src_path, uid_t uid, gid_t gid,
		    bool *already)
{
	const char *dir = walarchive_dir(a, repository, name), *existing;
	TempFile data = {.fd = -1}, sum = {.fd = -1};
	char hex[DIGEST_HEX_LEN + 1], line[DIGEST_HEX_LEN + 300];
	unsigned char *whole = NULL, *buf = NULL;
	PgcCompression existing_c;
	SyncJob job = {0};
	size_t stored;
	int rc = -1, n, lock = -1, linked;

	if (fs_mkdir_p(dir, 0700, uid, gid) != 0 ||
	    temp_open(a, dir, walarchive_path(a, repository, name, c), uid, gid, &data) != 0)
		goto cleanup;
	if (c == COMPRESS_NONE) {
		if (copy_source(src_fd, len, src_path, &data) != 0)
			goto cleanup;
	} else if (read_source(src_fd, len, src_path, &whole) != 0 ||
		   write_packed(c, whole, len, &data) != 0) {
		goto cleanup;
	}
	(void)sync_file_range(data.fd, 0, 0, SYNC_FILE_RANGE_WRITE);
	sync_job_start(&job, data.fd);
	/* While the data is flushed: its checksum, from the stored copy or the bytes compressed. */
	if (whole != NULL) {
		digest_sha256_hex(whole, len, hex);
	} else {
		buf = aligned_buf(PUSH_CHUNK);
		if (hash_file(data.fd, data.path, buf, &stored, hex) != 0)
			goto cleanup;
		if (stored != len) {
			log_error("could not read back file \"%s\": %zu bytes, %zu written", data.path,
				  stored, len);
			goto cleanup;
		}
	}
	n = snprintf(line, sizeof(line), "%s  %s\n", hex, name);
	if (temp_open(a, dir, walarchive_checksum_path(a, repository, name), uid, gid, &sum) != 0 ||
	    temp_write(&sum, line, (size_t)n) != 0)
		goto cleanup;
	sync_job_wait(&job);
	if (temp_close(&data, job.rc, job.err) != 0)
		goto cleanup;
	n = fsync(sum.fd);
	if (temp_close(&sum, n, errno) != 0)
		goto cleanup;

	lock = lock_folder(a, dir, uid, gid);
	if (lock == -1)
		goto cleanup;
	existing = find_archived(a, repository, name, &existing_c);
	if (existing != NULL) {
		/* Published by another push since this one looked: compare, as for a retry. */
		if (lock >= 0)
			close(lock);
		lock = -1;
		rc = check_existing(a, repository, name, existing, existing_c, hex, uid, gid);
		*already = rc == 0;
		goto cleanup;
	}
	/* Checksum first: a fetch must never find data it cannot check. */
	if (publish_checksum(&sum, hex, name, uid, lock >= 0) != 0)
		goto cleanup;
	linked = temp_link(&data, lock >= 0);
	if (linked < 0)
		goto cleanup;
	if (linked > 0) {
		rc = lost_race(a, repository, name, hex, uid, gid);
		*already = rc == 0;
		goto cleanup;
	}
	if (lock >= 0)
		close(lock);
	lock = -1;
	if (fs_fsync_dir(dir) != 0)
		goto cleanup;
	log_debug("archived \"%s\" as \"%s\" (%zu bytes, %llu stored)", name, data.final, len,
		  (unsigned long long)data.written);
	rc = 0;
cleanup:
	if (lock >= 0)
		close(lock);
	sync_job_wait(&job);
	temp_discard(&sum);
	temp_discard(&data);
	free(whole);
	free(buf);
	return rc;
}

int walarchive_push(const char *repository, const char *src_path, const char *name,
		    PgcCompression c, bool *already)
{
	PgcArena *a = arena_new();
	char hex[DIGEST_HEX_LEN + 1];
	const char *existing;
	PgcCompression existing_c;
	unsigned char *buf = NULL;
	size_t len = 0, got;
	uid_t uid;
	gid_t gid;
	int rc = -1, src_fd = -1, open_rc;

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
	open_rc = open_source(src_path, &src_fd, &len);
	if (open_rc != 0) {
		if (open_rc > 0)
			log_error("could not read WAL file \"%s\": it does not exist\n"
				  "hint: archive_command passes it as %%p, relative to the data directory",
				  src_path);
		goto cleanup;
	}
	existing = find_archived(a, repository, name, &existing_c);
	if (existing == NULL) {
		bool found = false;

		rc = push_new(a, repository, name, c, src_fd, len, src_path, uid, gid, &found);
		if (rc == 0 && already != NULL)
			*already = found;
		goto cleanup;
	}
	/* A retry (PostgreSQL did not see the first success): same content, or refuse. */
	buf = aligned_buf(PUSH_CHUNK);
	if (hash_file(src_fd, src_path, buf, &got, hex) != 0)
		goto cleanup;
	if (got != len) {
		size_changed(src_path);
		goto cleanup;
	}
	rc = check_existing(a, repository, name, existing, existing_c, hex, uid, gid);
	if (rc == 0 && already != NULL)
		*already = true;
cleanup:
	free(buf);
	if (src_fd >= 0)
		close(src_fd);
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
	path = find_archived(a, repository, name, &c);
	if (path == NULL) {
		log_debug("\"%s\" is not in the archive \"%s\"", name, repository);
		rc = 1;
		goto cleanup;
	}
	sum_path = walarchive_checksum_path(a, repository, name);
	sum_rc = read_checksum(sum_path, owner, recorded);
	if (sum_rc != 0) {
		if (sum_rc > 0)
			log_error("archived WAL file \"%s\" has no checksum file \"%s\"\n"
				  "hint: it was not written by pgconverge wal-push, or the archive is "
				  "damaged",
				  path, sum_path);
		goto cleanup;
	}
	if (read_archived(path, owner, c, &data, &len, hex) != 0)
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

int walarchive_push_exit(const char *repository, const char *src_path, const char *name,
			PgcCompression c)
{
	bool already = false;

	if (walarchive_push(repository, src_path, name, c, &already) != 0)
		return WAL_PUSH_EXIT_FAILED;
	if (already)
		log_info("WAL file \"%s\" was already archived with the same content", name);
	return WAL_PUSH_EXIT_OK;
}

int walarchive_fetch_exit(const char *repository, const char *name, const char *dest_path)
{
	int rc = walarchive_fetch(repository, name, dest_path);

	if (rc > 0)
		return WAL_FETCH_EXIT_NOT_FOUND;
	return rc == 0 ? WAL_FETCH_EXIT_OK : WAL_FETCH_EXIT_FAILED;
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
