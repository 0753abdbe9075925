/*
 * reconcile/backup/walarchive_push.c - `pgconverge wal-push`: a WAL file
 * made durable in the archive, never replacing another copy of its name
 * (walarchive_push.h; durability and atomicity are described in
 * walarchive.h). Needs libcrypto, zlib and libzstd only: the lean
 * pgconverge executable links it (cmd/front.c).
 */
#include "reconcile/backup/walarchive_push.h"

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

#include "common/digest.h"
#include "common/fsutil.h"
#include "common/log.h"
#include "reconcile/backup/walarchive.h"
#include "reconcile/backup/walarchive_compress.h"
#include "reconcile/backup/walarchive_fetch.h"

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
	fd = fs_open_read(path, "WAL file");
	if (fd < 0)
		return fd == -2 ? 1 : -1;
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

	if (walarchive_read_archived(path, uid, c, &old, &old_len, old_hex) != 0) {
		log_error("WAL file \"%s\" is already in the archive but its copy \"%s\" cannot be read\n"
			  "hint: the archive is damaged; move that file away after checking it, then "
			  "PostgreSQL's next attempt archives the segment again",
			  name, path);
		return -1;
	}
	free(old);
	if (strcmp(old_hex, hex) != 0)
		return conflict(name, path);
	sum_rc = walarchive_read_checksum(sum_path, uid, recorded);
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
	const char *path = walarchive_find(a, repository, name, &c);
	char theirs[DIGEST_HEX_LEN + 1];
	void *data = NULL;
	size_t len;

	if (path == NULL || walarchive_read_archived(path, uid, c, &data, &len, theirs) != 0) {
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
	if (walarchive_read_checksum(t->final, uid, recorded) == 0 && strcmp(recorded, hex) == 0)
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
	existing = walarchive_find(a, repository, name, &existing_c);
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
	existing = walarchive_find(a, repository, name, &existing_c);
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
