/*
 * tests/unit/test_walarchive.c - reconcile/backup/walarchive.c on a real temp
 * repository: names and layout, compression, push/fetch with checksums,
 * the archive/restore commands, listing, and pushes of every size around
 * the streaming copy's chunk.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/digest.h"
#include "reconcile/pg/lsn.h"
#include "common/fsutil.h"
#include "common/log.h"
#include "reconcile/backup/walarchive.h"
#include "reconcile/backup/walarchive_compress.h"
#include "reconcile/backup/walarchive_fetch.h"
#include "reconcile/backup/walarchive_push.h"

#define SEG "000000010000000000000003"
#define SEGSIZE (1024 * 1024)

static char tmpdir[] = "/tmp/pgc-walarchive-XXXXXX";
static char *repo;
static char *pgwal;

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static int setup(void **state)
{
	(void)state;
	assert_non_null(mkdtemp(tmpdir));
	repo = fs_path_join(tmpdir, "repo");
	pgwal = fs_path_join(tmpdir, "pg_wal");
	assert_int_equal(mkdir(repo, 0700), 0);
	assert_int_equal(mkdir(pgwal, 0700), 0);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	nftw(tmpdir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	free(repo);
	free(pgwal);
	return 0;
}

/* segment - a segment-like buffer: a header that varies with seed, then mostly zeros. */
static unsigned char *segment(unsigned seed, size_t len)
{
	unsigned char *buf = calloc(1, len);
	size_t i;
	uint32_t x = seed * 2654435761u + 1;

	assert_non_null(buf);
	for (i = 0; i < len / 4; i++) {
		x ^= x << 13;
		x ^= x >> 17;
		x ^= x << 5;
		buf[i] = (unsigned char)x;
	}
	return buf;
}

/* write_src - a file in pg_wal holding data; its path, malloc'd. */
static char *write_src(const char *name, const void *data, size_t len)
{
	char *path = fs_path_join(pgwal, name);

	assert_int_equal(fs_write_atomic(path, data, len, 0600, FS_NO_UID, FS_NO_GID, NULL), 0);
	return path;
}

static char *repo_path(const char *rel)
{
	return fs_path_join(repo, rel);
}

/* repo_path_static - repo_path() into a static buffer, for one-off uses. */
static const char *repo_path_static(const char *rel)
{
	static char buf[4096];

	snprintf(buf, sizeof(buf), "%s/%s", repo, rel);
	return buf;
}

static void assert_file_bytes(const char *path, const void *data, size_t len)
{
	char *buf;
	size_t got;

	assert_int_equal(fs_read_file(path, &buf, &got, 64 << 20), 0);
	assert_int_equal(got, len);
	assert_memory_equal(buf, data, len);
	free(buf);
}

/* ---- names and layout ---------------------------------------------------- */

static void test_parse_name(void **state)
{
	PgcWalName n;

	(void)state;
	assert_int_equal(walarchive_parse_name("0000000A000000020000003F", &n), 0);
	assert_int_equal(n.kind, WAL_FILE_SEGMENT);
	assert_int_equal(n.timeline, 10);
	assert_int_equal(n.log, 2);
	assert_int_equal(n.seg, 0x3F);
	assert_int_equal(walarchive_parse_name("000000020000000000000005.partial", &n), 0);
	assert_int_equal(n.kind, WAL_FILE_PARTIAL);
	assert_int_equal(n.timeline, 2);
	assert_int_equal(walarchive_parse_name("000000010000000000000003.00000028.backup", &n), 0);
	assert_int_equal(n.kind, WAL_FILE_BACKUP);
	assert_int_equal(n.seg, 3);
	assert_int_equal(walarchive_parse_name("00000002.history", &n), 0);
	assert_int_equal(n.kind, WAL_FILE_HISTORY);
	assert_int_equal(n.timeline, 2);

	assert_int_equal(walarchive_parse_name("0000000100000000000000", NULL), -1);    /* short */
	assert_int_equal(walarchive_parse_name("00000001000000000000000a", NULL), -1);  /* lower case */
	assert_int_equal(walarchive_parse_name("000000000000000000000003", NULL), -1);  /* timeline 0 */
	assert_int_equal(walarchive_parse_name("000000010000000000000003.gz", NULL), -1);
	assert_int_equal(walarchive_parse_name("../00000001.history", NULL), -1);
	assert_int_equal(walarchive_parse_name("000000010000000000000003.0028.backup", NULL), -1);
	assert_int_equal(walarchive_parse_name("RECOVERYXLOG", NULL), -1);
	assert_int_equal(walarchive_parse_name("", NULL), -1);
}

static void test_layout(void **state)
{
	PgcArena *a = arena_new();

	(void)state;
	assert_string_equal(walarchive_path(a, "/r", "000000020000000100000003", COMPRESS_ZSTD),
			    "/r/wal/00000002/000000020000000100000003.zst");
	assert_string_equal(walarchive_path(a, "/r", "000000020000000100000003", COMPRESS_GZIP),
			    "/r/wal/00000002/000000020000000100000003.gz");
	assert_string_equal(walarchive_path(a, "/r", "000000020000000100000003", COMPRESS_NONE),
			    "/r/wal/00000002/000000020000000100000003");
	assert_string_equal(walarchive_checksum_path(a, "/r", "000000020000000100000003"),
			    "/r/wal/00000002/000000020000000100000003.sha256");
	assert_string_equal(walarchive_path(a, "/r", "00000002.history", COMPRESS_GZIP),
			    "/r/wal/history/00000002.history.gz");
	assert_string_equal(walarchive_path(a, "/r", "000000010000000000000003.00000028.backup",
					    COMPRESS_NONE),
			    "/r/wal/00000001/000000010000000000000003.00000028.backup");
	assert_string_equal(walarchive_dir(a, "/r", "000000030000000000000009.partial"),
			    "/r/wal/00000003");
	assert_null(walarchive_path(a, "/r", "not-a-wal-file", COMPRESS_NONE));
	arena_free(a);
}

static void test_segno_and_lsn(void **state)
{
	PgcWalName n;
	uint64_t lsn;

	(void)state;
	assert_int_equal(walarchive_parse_name("000000010000000200000003", &n), 0);
	assert_int_equal(walarchive_segno(&n, 16 * 1024 * 1024), 2 * 256 + 3);
	assert_int_equal(walarchive_segno(&n, 1024 * 1024 * 1024), 2 * 4 + 3);
	assert_int_equal(lsn_parse("16/B374D848", &lsn), 0);
	assert_true(lsn == ((UINT64_C(0x16) << 32) | UINT64_C(0xB374D848)));
	assert_int_equal(lsn_parse("0/3000028", &lsn), 0);
	assert_true(lsn / (16 * 1024 * 1024) == 3);
	assert_int_equal(lsn_parse("0/3000028x", &lsn), -1);
	assert_int_equal(lsn_parse("03000028", &lsn), -1);
}

/* ---- compression --------------------------------------------------------- */

static void roundtrip(PgcCompression c)
{
	unsigned char *in = segment(7, SEGSIZE);
	void *packed, *out;
	size_t packed_len, out_len;

	assert_int_equal(walarchive_compress(c, in, SEGSIZE, &packed, &packed_len), 0);
	if (c != COMPRESS_NONE)
		assert_true(packed_len < SEGSIZE / 2); /* three quarters are zeros */
	assert_int_equal(walarchive_decompress(c, packed, packed_len, WALARCHIVE_MAX_FILE, "x", &out,
					       &out_len),
			 0);
	assert_int_equal(out_len, SEGSIZE);
	assert_memory_equal(out, in, SEGSIZE);
	free(out);

	if (c != COMPRESS_NONE) {
		char *log;

		/* Truncated, and then a limit below the real size: both refused. */
		log_capture_begin();
		assert_int_equal(walarchive_decompress(c, packed, packed_len / 2, WALARCHIVE_MAX_FILE,
						       "seg", &out, &out_len),
				 -1);
		assert_null(out);
		assert_int_equal(walarchive_decompress(c, packed, packed_len, SEGSIZE - 1, "seg", &out,
						       &out_len),
				 -1);
		log = log_capture_end();
		assert_non_null(strstr(log, "could not decompress seg: "));
		assert_non_null(strstr(log, "larger than a WAL file can be"));
		free(log);
	}
	free(packed);
	free(in);
}

/* The streaming digest, fed in pieces, gives what the one-call digest gives. */
static void test_digest_stream(void **state)
{
	static const char text[] = "The quick brown fox jumps over the lazy dog";
	char one[DIGEST_HEX_LEN + 1], streamed[DIGEST_HEX_LEN + 1];
	PgcDigest d;

	(void)state;
	digest_sha256_hex(text, strlen(text), one);
	assert_string_equal(one, "d7a8fbb307d7809469ca9abcb0082e4f8d5651e46d3cdb762d02d0bf37c9e592");
	digest_sha256_init(&d);
	digest_update(&d, text, 10);
	digest_update(&d, "", 0);
	digest_update(&d, text + 10, strlen(text) - 10);
	digest_final_hex(&d, streamed);
	assert_string_equal(streamed, one);
	digest_sha256_init(&d);
	digest_discard(&d);
	digest_discard(&d);
}

static void test_roundtrip_gzip(void **state)
{
	(void)state;
	roundtrip(COMPRESS_GZIP);
}

static void test_roundtrip_zstd(void **state)
{
	(void)state;
	roundtrip(COMPRESS_ZSTD);
}

static void test_roundtrip_none(void **state)
{
	(void)state;
	roundtrip(COMPRESS_NONE);
}

static void test_gzip_readable_by_gzip_format(void **state)
{
	const char text[] = "hello";
	void *packed;
	size_t len;

	(void)state;
	assert_int_equal(walarchive_compress(COMPRESS_GZIP, text, 5, &packed, &len), 0);
	/* gzip magic: what gzip(1) and zcat read. */
	assert_int_equal(((unsigned char *)packed)[0], 0x1f);
	assert_int_equal(((unsigned char *)packed)[1], 0x8b);
	free(packed);
	assert_int_equal(walarchive_compress(COMPRESS_ZSTD, text, 5, &packed, &len), 0);
	assert_int_equal(((unsigned char *)packed)[0], 0x28); /* zstd frame magic 0xFD2FB528 */
	assert_int_equal(((unsigned char *)packed)[3], 0xFD);
	free(packed);
}

/* ---- push and fetch ------------------------------------------------------ */

static void test_push_fetch(void **state)
{
	unsigned char *data = segment(1, SEGSIZE);
	char *src = write_src(SEG, data, SEGSIZE);
	char *archived = repo_path("wal/00000001/" SEG ".zst");
	char *sum = repo_path("wal/00000001/" SEG ".sha256");
	char *dest = fs_path_join(pgwal, "RECOVERYXLOG");
	char hex[DIGEST_HEX_LEN + 1], line[200];
	bool already = true;
	struct stat st;

	(void)state;
	assert_int_equal(walarchive_push(repo, src, SEG, COMPRESS_ZSTD, &already), 0);
	assert_false(already);
	assert_int_equal(stat(archived, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
	assert_true(st.st_size < SEGSIZE);
	digest_sha256_hex(data, SEGSIZE, hex);
	snprintf(line, sizeof(line), "%s  %s\n", hex, SEG);
	assert_file_bytes(sum, line, strlen(line));

	assert_int_equal(walarchive_fetch(repo, SEG, dest), 0);
	assert_file_bytes(dest, data, SEGSIZE);

	/* PostgreSQL retries: the same content again succeeds and says so. */
	assert_int_equal(walarchive_push(repo, src, SEG, COMPRESS_ZSTD, &already), 0);
	assert_true(already);
	/* Same content pushed with another compression: still the same file. */
	assert_int_equal(walarchive_push(repo, src, SEG, COMPRESS_GZIP, &already), 0);
	assert_true(already);
	assert_false(fs_exists(repo_path_static("wal/00000001/" SEG ".gz")));

	free(data);
	free(src);
	free(archived);
	free(sum);
	free(dest);
}

static void test_push_different_content_fails(void **state)
{
	const char *name = "000000010000000000000004";
	unsigned char *first = segment(2, SEGSIZE), *second = segment(3, SEGSIZE);
	char *src, *archived = repo_path("wal/00000001/000000010000000000000004");
	char *log;
	bool already = true;

	(void)state;
	src = write_src(name, first, SEGSIZE);
	assert_int_equal(walarchive_push(repo, src, name, COMPRESS_NONE, NULL), 0);
	free(src);
	src = write_src(name, second, SEGSIZE);
	log_capture_begin();
	assert_int_equal(walarchive_push(repo, src, name, COMPRESS_NONE, &already), -1);
	log = log_capture_end();
	assert_false(already);
	assert_non_null(strstr(log, "error: WAL file \"000000010000000000000004\" is already archived "
				    "with different content"));
	assert_non_null(strstr(log, "refusing to overwrite it"));
	assert_non_null(strstr(log, "hint: two clusters (or a restored copy) are archiving into the "
				    "same repository"));
	/* The archived copy is the first one, untouched. */
	assert_file_bytes(archived, first, SEGSIZE);
	free(log);
	free(src);
	free(archived);
	free(first);
	free(second);
}

static void test_fetch_checksum_mismatch(void **state)
{
	const char *name = "000000010000000000000005";
	unsigned char *data = segment(4, SEGSIZE);
	char *src = write_src(name, data, SEGSIZE);
	char *archived = repo_path("wal/00000001/000000010000000000000005");
	char *dest = fs_path_join(pgwal, "RECOVERYXLOG.5");
	char *log;
	int fd;

	(void)state;
	assert_int_equal(walarchive_push(repo, src, name, COMPRESS_NONE, NULL), 0);
	/* Flip one byte of the archived copy. */
	fd = open(archived, O_WRONLY);
	assert_true(fd >= 0);
	assert_int_equal(pwrite(fd, "\x5a", 1, 100), 1);
	close(fd);

	log_capture_begin();
	assert_int_equal(walarchive_fetch(repo, name, dest), -1);
	log = log_capture_end();
	assert_non_null(strstr(log, "does not match its checksum"));
	assert_false(fs_exists(dest));
	free(log);

	/* A re-push of the right content refuses too: the archive holds other bytes. */
	log_capture_begin();
	assert_int_equal(walarchive_push(repo, src, name, COMPRESS_NONE, NULL), -1);
	free(log_capture_end());

	free(data);
	free(src);
	free(archived);
	free(dest);
}

static void test_fetch_corrupt_compressed(void **state)
{
	const char *name = "000000010000000000000006";
	unsigned char *data = segment(5, SEGSIZE);
	char *src = write_src(name, data, SEGSIZE);
	char *archived = repo_path("wal/00000001/000000010000000000000006.gz");
	char *dest = fs_path_join(pgwal, "RECOVERYXLOG.6");
	char *log;

	(void)state;
	assert_int_equal(walarchive_push(repo, src, name, COMPRESS_GZIP, NULL), 0);
	assert_int_equal(truncate(archived, 1000), 0);
	log_capture_begin();
	assert_int_equal(walarchive_fetch(repo, name, dest), -1);
	log = log_capture_end();
	assert_non_null(strstr(log, "could not decompress"));
	assert_false(fs_exists(dest));
	free(log);
	free(data);
	free(src);
	free(archived);
	free(dest);
}

static void test_fetch_not_found(void **state)
{
	char *dest = fs_path_join(pgwal, "RECOVERYHISTORY");
	char *missing_repo = fs_path_join(tmpdir, "no-such-repo");
	char *log;

	(void)state;
	log_capture_begin();
	assert_int_equal(walarchive_fetch(repo, "00000009.history", dest), 1);
	assert_int_equal(walarchive_fetch(repo, "0000000900000000000000FF", dest), 1);
	log = log_capture_end();
	assert_string_equal(log, ""); /* the archive's end is normal: nothing said */
	free(log);
	assert_false(fs_exists(dest));

	/* A repository that is not there is not the archive's end. */
	log_capture_begin();
	assert_int_equal(walarchive_fetch(missing_repo, SEG, dest), -1);
	log = log_capture_end();
	assert_non_null(strstr(log, "is not accessible"));
	free(log);
	free(dest);
	free(missing_repo);
}

static void test_orphan_checksum_is_not_archived(void **state)
{
	const char *name = "000000010000000000000007";
	unsigned char *data = segment(6, 4096);
	char *src = write_src(name, data, 4096);
	char *sum = repo_path("wal/00000001/000000010000000000000007.sha256");
	char *dest = fs_path_join(pgwal, "RECOVERYXLOG.7");
	const char orphan[] = "0000000000000000000000000000000000000000000000000000000000000000  x\n";
	bool already = true;

	(void)state;
	/* What a push killed between its two writes leaves. */
	assert_int_equal(fs_mkdir_p(repo_path_static("wal/00000001"), 0700, FS_NO_UID, FS_NO_GID), 0);
	assert_int_equal(fs_write_atomic(sum, orphan, strlen(orphan), 0600, FS_NO_UID, FS_NO_GID, NULL),
			 0);
	assert_int_equal(walarchive_fetch(repo, name, dest), 1);
	assert_int_equal(walarchive_push(repo, src, name, COMPRESS_NONE, &already), 0);
	assert_false(already);
	assert_int_equal(walarchive_fetch(repo, name, dest), 0);
	assert_file_bytes(dest, data, 4096);
	free(data);
	free(src);
	free(sum);
	free(dest);
}

static void test_push_refuses_bad_input(void **state)
{
	char *missing_repo = fs_path_join(tmpdir, "no-such-repo");
	char *src = write_src("000000010000000000000008", "x", 1);
	char *log;

	(void)state;
	log_capture_begin();
	assert_int_equal(walarchive_push(repo, src, "../escape", COMPRESS_NONE, NULL), -1);
	assert_int_equal(walarchive_push(missing_repo, src, "000000010000000000000008", COMPRESS_NONE,
					 NULL),
			 -1);
	assert_int_equal(walarchive_push(repo, "pg_wal/none", "000000010000000000000009",
					 COMPRESS_NONE, NULL),
			 -1);
	log = log_capture_end();
	assert_non_null(strstr(log, "\"../escape\" is not the name of a WAL segment"));
	assert_non_null(strstr(log, "no-such-repo\" is not accessible: No such file or directory"));
	assert_non_null(strstr(log, "hint: create it, owned by the servers' os_user"));
	assert_non_null(strstr(log, "could not read WAL file \"pg_wal/none\": it does not exist"));
	assert_false(fs_exists(missing_repo)); /* never created by a push */
	free(log);
	free(src);
	free(missing_repo);
}

static void test_history_file(void **state)
{
	const char content[] = "1\t0/3000000\tno recovery target specified\n";
	char *src = write_src("00000002.history", content, strlen(content));
	char *dest = fs_path_join(pgwal, "RECOVERYHISTORY");

	(void)state;
	assert_int_equal(walarchive_push(repo, src, "00000002.history", COMPRESS_ZSTD, NULL), 0);
	assert_true(fs_exists(repo_path_static("wal/history/00000002.history.zst")));
	assert_true(fs_exists(repo_path_static("wal/history/00000002.history.sha256")));
	assert_int_equal(walarchive_fetch(repo, "00000002.history", dest), 0);
	assert_file_bytes(dest, content, strlen(content));
	free(src);
	free(dest);
}

/* ---- commands and listing ------------------------------------------------ */

static void test_commands(void **state)
{
	PgcArena *a = arena_new();

	(void)state;
	assert_string_equal(walarchive_archive_command(a, "/usr/local/bin/pgconverge", "/srv/backups/main",
						       COMPRESS_NONE),
			    "/usr/local/bin/pgconverge wal-push --repository /srv/backups/main %p %f");
	assert_string_equal(walarchive_archive_command(a, "/usr/local/bin/pgconverge", "/srv/backups/main",
						       COMPRESS_ZSTD),
			    "/usr/local/bin/pgconverge wal-push --repository /srv/backups/main "
			    "--compress zstd %p %f");
	assert_string_equal(walarchive_restore_command(a, "/usr/local/bin/pgconverge", "/srv/backups/main"),
			    "/usr/local/bin/pgconverge wal-fetch --repository /srv/backups/main %f %p");
	/* Spaces, a quote, a '$' and a '%' in the repository. */
	assert_string_equal(walarchive_archive_command(a, "/opt/pg converge/bin/pgconverge",
						       "/srv/it's $HOME/50%p", COMPRESS_GZIP),
			    "'/opt/pg converge/bin/pgconverge' wal-push --repository "
			    "'/srv/it'\\''s $HOME/50%%p' --compress gzip %p %f");
	assert_string_equal(walarchive_restore_command(a, "/b/pgconverge", "/srv/100%"),
			    "/b/pgconverge wal-fetch --repository /srv/100%% %f %p");
	arena_free(a);
}

static void test_list(void **state)
{
	PgcArena *a = arena_new();
	PgcWalEntry *e;
	size_t n, i;
	const char *names = "";

	(void)state;
	/* Things retention must never see: temp files, strangers, misplaced files. */
	assert_int_equal(fs_write_atomic(repo_path_static("wal/00000001/.000000010000000000000010.tmp.1.0"), "x",
					 1, 0600, FS_NO_UID, FS_NO_GID, NULL),
			 0);
	assert_int_equal(fs_write_atomic(repo_path_static("wal/00000001/notes.txt"), "x", 1, 0600, FS_NO_UID,
					 FS_NO_GID, NULL),
			 0);
	assert_int_equal(fs_mkdir_p(repo_path_static("wal/00000002"), 0700, FS_NO_UID, FS_NO_GID), 0);
	assert_int_equal(fs_write_atomic(repo_path_static("wal/00000002/000000010000000000000011"), "x", 1,
					 0600, FS_NO_UID, FS_NO_GID, NULL),
			 0);
	assert_int_equal(walarchive_list(a, repo, &e, &n), 0);
	for (i = 0; i < n; i++)
		names = arena_printf(a, "%s%s%s", names, i ? " " : "", e[i].name);
	/* From the tests above (run in order), sorted; the orphan checksum of 07 has data now. */
	assert_string_equal(names, "000000010000000000000003 000000010000000000000004 "
				   "000000010000000000000005 000000010000000000000006 "
				   "000000010000000000000007 00000002.history");
	assert_string_equal(e[0].path, arena_printf(a, "%s/wal/00000001/" SEG ".zst", repo));
	assert_string_equal(e[0].checksum_path, arena_printf(a, "%s/wal/00000001/" SEG ".sha256", repo));
	assert_int_equal(e[5].parsed.kind, WAL_FILE_HISTORY);
	assert_int_equal(e[4].size, 4096);
	arena_free(a);

	a = arena_new();
	assert_int_equal(walarchive_list(a, tmpdir, &e, &n), 0); /* no wal/ folder: nothing */
	assert_int_equal(n, 0);
	arena_free(a);
}

/*
 * test_push_sizes - files around the copy's chunk (256kB) and writeback
 * step (2MB) sizes, with each compression, in a repository of their own:
 * the archived bytes, the checksum line and the fetched copy are exact,
 * and no temp file is left behind.
 */
static void test_push_sizes(void **state)
{
	static const size_t sizes[] = {1, 4095, 256 * 1024 - 1, 256 * 1024, 256 * 1024 + 1,
				       5 * 1024 * 1024 + 17};
	static const PgcCompression cs[] = {COMPRESS_NONE, COMPRESS_GZIP, COMPRESS_ZSTD};
	char *r = fs_path_join(tmpdir, "repo-sizes");
	char *dest = fs_path_join(pgwal, "RECOVERYXLOG");
	size_t i, j, files = 0;
	struct dirent *de;
	DIR *d;

	(void)state;
	assert_int_equal(mkdir(r, 0700), 0);
	for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		for (j = 0; j < sizeof(cs) / sizeof(cs[0]); j++) {
			unsigned k = (unsigned)(i * 3 + j);
			unsigned char *data = segment(k + 10, sizes[i]);
			char name[25], hex[DIGEST_HEX_LEN + 1], line[200];
			PgcArena *a = arena_new();
			char *src;
			bool already = true;

			snprintf(name, sizeof(name), "%08X%08X%08X", 5u, 0u, k);
			src = write_src(name, data, sizes[i]);
			assert_int_equal(walarchive_push(r, src, name, cs[j], &already), 0);
			assert_false(already);
			if (cs[j] == COMPRESS_NONE)
				assert_file_bytes(walarchive_path(a, r, name, cs[j]), data, sizes[i]);
			else
				assert_true(fs_exists(walarchive_path(a, r, name, cs[j])));
			digest_sha256_hex(data, sizes[i], hex);
			snprintf(line, sizeof(line), "%s  %s\n", hex, name);
			assert_file_bytes(walarchive_checksum_path(a, r, name), line, strlen(line));
			assert_int_equal(walarchive_fetch(r, name, dest), 0);
			assert_file_bytes(dest, data, sizes[i]);
			files += 2;
			arena_free(a);
			free(src);
			free(data);
		}
	}
	d = opendir(repo_path_static("../repo-sizes/wal/00000005"));
	assert_non_null(d);
	while ((de = readdir(d)) != NULL) {
		/* The folder's lock file (walarchive.h) stays; no temp file does. */
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0 ||
		    strcmp(de->d_name, ".lock") == 0)
			continue;
		assert_true(de->d_name[0] != '.');
		files--;
	}
	closedir(d);
	assert_int_equal(files, 0);
	free(dest);
	free(r);
}

/*
 * Two pushes of one name at the same moment, each in a process of its own,
 * started together: of different content exactly one succeeds and the
 * archive holds its copy (whatever compression either used); of the same
 * content both succeed.
 */
#define RACES 30
#define RACE_SIZE (256 * 1024 + 5)

/* race_push - in a child: waits until go[1] is closed everywhere, pushes, exits 0 or 1. */
static pid_t race_push(const int go[2], const char *src, const char *name, PgcCompression c)
{
	pid_t pid = fork();
	char b;

	assert_true(pid >= 0);
	if (pid == 0) {
		log_capture_begin(); /* the loser's error is expected */
		close(go[1]);
		while (read(go[0], &b, 1) < 0 && errno == EINTR)
			;
		_exit(walarchive_push(repo, src, name, c, NULL) == 0 ? 0 : 1);
	}
	return pid;
}

static int exit_code(pid_t pid)
{
	int st;

	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st));
	return WEXITSTATUS(st);
}

static void test_push_race(void **state)
{
	static const PgcCompression cs[][2] = {{COMPRESS_NONE, COMPRESS_NONE},
					       {COMPRESS_ZSTD, COMPRESS_NONE},
					       {COMPRESS_GZIP, COMPRESS_ZSTD}};
	char *dest = fs_path_join(pgwal, "RECOVERYXLOG.race");
	int i, one_won = 0, same_ok = 0;

	(void)state;
	for (i = 0; i < RACES; i++) {
		bool same = i % 5 == 4;
		unsigned char *x = segment(1000 + (unsigned)i, RACE_SIZE);
		unsigned char *y = same ? x : segment(5000 + (unsigned)i, RACE_SIZE);
		char name[25], xname[40], yname[40], *sx, *sy;
		const PgcCompression *c = cs[i % 3];
		int fds[2], rx, ry;
		pid_t px, py;

		snprintf(name, sizeof(name), "%08X%08X%08X", 7u, 0u, (unsigned)i);
		snprintf(xname, sizeof(xname), "%s.x", name);
		snprintf(yname, sizeof(yname), "%s.y", name);
		sx = write_src(xname, x, RACE_SIZE);
		sy = write_src(yname, y, RACE_SIZE);
		assert_int_equal(pipe(fds), 0);
		px = race_push(fds, sx, name, c[0]);
		py = race_push(fds, sy, name, c[1]);
		close(fds[0]);
		close(fds[1]); /* both start now */
		rx = exit_code(px);
		ry = exit_code(py);
		assert_int_equal(walarchive_fetch(repo, name, dest), 0);
		if (same) {
			assert_int_equal(rx, 0);
			assert_int_equal(ry, 0);
			assert_file_bytes(dest, x, RACE_SIZE);
			same_ok++;
		} else {
			assert_int_equal(rx + ry, 1); /* exactly one won */
			assert_file_bytes(dest, rx == 0 ? x : y, RACE_SIZE);
			one_won++;
		}
		/* One copy only, whatever the compressions. */
		{
			PgcArena *a = arena_new();
			int copies = 0;

			copies += fs_exists(walarchive_path(a, repo, name, COMPRESS_NONE));
			copies += fs_exists(walarchive_path(a, repo, name, COMPRESS_GZIP));
			copies += fs_exists(walarchive_path(a, repo, name, COMPRESS_ZSTD));
			assert_int_equal(copies, 1);
			arena_free(a);
		}
		free(sx);
		free(sy);
		if (!same)
			free(y);
		free(x);
	}
	assert_int_equal(one_won + same_ok, RACES);
	free(dest);
}

/* ---- a repository its owner may have tampered with ----------------------- */

/* other_repo - a fresh repository folder beside the shared one, owned by uid; malloc'd. */
static char *other_repo(const char *name, uid_t uid)
{
	char *path = fs_path_join(tmpdir, name);

	assert_int_equal(mkdir(path, 0700), 0);
	if (uid != FS_NO_UID)
		assert_int_equal(chown(path, uid, uid), 0);
	return path;
}

static void on_alarm(int sig)
{
	(void)sig;
	fail_msg("walarchive_fetch hung on a FIFO planted as a checksum file");
}

/* A FIFO planted as a checksum file: the fetch fails at once instead of hanging in open(). */
static void test_fetch_refuses_fifo_checksum(void **state)
{
	const char content[] = "6\t0/5000000\tno recovery target specified\n";
	char *r = other_repo("repo-fifo", FS_NO_UID);
	char *src = write_src("00000007.history", content, strlen(content));
	char *dest = fs_path_join(pgwal, "RECOVERYHISTORY7");
	char *sum = fs_path_join(r, "wal/history/00000007.history.sha256");

	(void)state;
	assert_int_equal(walarchive_push(r, src, "00000007.history", COMPRESS_NONE, NULL), 0);
	assert_int_equal(unlink(sum), 0);
	assert_int_equal(mkfifo(sum, 0600), 0);
	signal(SIGALRM, on_alarm);
	alarm(10);
	assert_int_equal(walarchive_fetch(r, "00000007.history", dest), -1);
	alarm(0);
	assert_false(fs_exists(dest));
	free(r);
	free(src);
	free(dest);
	free(sum);
}

/*
 * As root, a hard link the repository's owner planted as a folder's
 * ".lock" to a root-only file: the push must not chown that file to the
 * owner (it refuses the lock file).
 */
static void test_push_lock_hard_link_not_chowned(void **state)
{
	unsigned char *data = segment(41, 8192);
	char *r, *src, *lockdir, *lock, *secret;
	struct stat st;
	int rc;

	(void)state;
	if (geteuid() != 0)
		skip();
	r = other_repo("repo-lock", 65534);
	src = write_src("000000050000000000000001", data, 8192);
	lockdir = fs_path_join(r, "wal/00000005");
	lock = fs_path_join(lockdir, ".lock");
	secret = fs_path_join(tmpdir, "secret");
	assert_int_equal(fs_mkdir_p(lockdir, 0700, 65534, 65534), 0);
	assert_int_equal(fs_write_atomic(secret, "root only\n", 10, 0600, FS_NO_UID, FS_NO_GID, NULL),
			 0);
	assert_int_equal(link(secret, lock), 0);
	rc = walarchive_push(r, src, "000000050000000000000001", COMPRESS_NONE, NULL);
	assert_int_equal(stat(secret, &st), 0);
	assert_int_equal(st.st_uid, 0);
	assert_int_equal(st.st_gid, 0);
	assert_int_equal(rc, -1);

	/* A lock file it creates itself goes to the repository's owner. */
	assert_int_equal(unlink(lock), 0);
	assert_int_equal(walarchive_push(r, src, "000000050000000000000001", COMPRESS_NONE, NULL), 0);
	assert_int_equal(lstat(lock, &st), 0);
	assert_int_equal(st.st_uid, 65534);
	free(data);
	free(r);
	free(src);
	free(lockdir);
	free(lock);
	free(secret);
}

/* A file system without hard links or rename flags: the push publishes under the lock. */
static void test_push_without_link(void **state)
{
	unsigned char *data = segment(42, 8192), *other = segment(43, 8192);
	char *r = other_repo("repo-nolink", FS_NO_UID);
	char *src = write_src("000000060000000000000001", data, 8192);
	char *dest = fs_path_join(pgwal, "RECOVERYXLOG6");
	bool already = true;

	(void)state;
	walarchive_test_no_link = true;
	assert_int_equal(walarchive_push(r, src, "000000060000000000000001", COMPRESS_ZSTD, &already),
			 0);
	assert_false(already);
	assert_int_equal(walarchive_fetch(r, "000000060000000000000001", dest), 0);
	assert_file_bytes(dest, data, 8192);
	assert_int_equal(walarchive_push(r, src, "000000060000000000000001", COMPRESS_ZSTD, &already),
			 0);
	assert_true(already);
	free(src);
	src = write_src("000000060000000000000001", other, 8192);
	assert_int_equal(walarchive_push(r, src, "000000060000000000000001", COMPRESS_ZSTD, &already),
			 -1);
	walarchive_test_no_link = false;
	assert_int_equal(walarchive_fetch(r, "000000060000000000000001", dest), 0);
	assert_file_bytes(dest, data, 8192);
	free(data);
	free(other);
	free(r);
	free(src);
	free(dest);
}

/*
 * Without locks (NFS mounted nolock) a checksum without data may be a
 * racing push's, about to publish its data: it is never replaced then.
 * The same digest: the push goes on; another: it fails and leaves it.
 */
static void test_push_orphan_checksum_without_lock(void **state)
{
	const char *name = "000000080000000000000001";
	unsigned char *data = segment(44, 4096);
	char *r = other_repo("repo-nolock", FS_NO_UID);
	char *src = write_src(name, data, 4096);
	char *dir = fs_path_join(r, "wal/00000008");
	char *sum = fs_path_join(dir, "000000080000000000000001.sha256");
	char *dest = fs_path_join(pgwal, "RECOVERYXLOG8");
	const char theirs[] = "1111111111111111111111111111111111111111111111111111111111111111  x\n";
	char hex[DIGEST_HEX_LEN + 1], ours[200];
	bool already = true;

	(void)state;
	assert_int_equal(fs_mkdir_p(dir, 0700, FS_NO_UID, FS_NO_GID), 0);
	assert_int_equal(fs_write_atomic(sum, theirs, strlen(theirs), 0600, FS_NO_UID, FS_NO_GID, NULL),
			 0);
	walarchive_test_no_lock = true;
	assert_int_equal(walarchive_push(r, src, name, COMPRESS_NONE, &already), -1);
	assert_file_bytes(sum, theirs, strlen(theirs));
	assert_int_equal(walarchive_fetch(r, name, dest), 1);

	/* The racing push's checksum is the same digest: ours publishes the data beside it. */
	digest_sha256_hex(data, 4096, hex);
	snprintf(ours, sizeof(ours), "%s  %s\n", hex, name);
	assert_int_equal(fs_write_atomic(sum, ours, strlen(ours), 0600, FS_NO_UID, FS_NO_GID, NULL), 0);
	assert_int_equal(walarchive_push(r, src, name, COMPRESS_NONE, &already), 0);
	assert_false(already);
	walarchive_test_no_lock = false;
	assert_int_equal(walarchive_fetch(r, name, dest), 0);
	assert_file_bytes(dest, data, 4096);
	free(data);
	free(r);
	free(src);
	free(dir);
	free(sum);
	free(dest);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_name),
		cmocka_unit_test(test_layout),
		cmocka_unit_test(test_segno_and_lsn),
		cmocka_unit_test(test_digest_stream),
		cmocka_unit_test(test_roundtrip_gzip),
		cmocka_unit_test(test_roundtrip_zstd),
		cmocka_unit_test(test_roundtrip_none),
		cmocka_unit_test(test_gzip_readable_by_gzip_format),
		cmocka_unit_test(test_push_fetch),
		cmocka_unit_test(test_push_different_content_fails),
		cmocka_unit_test(test_fetch_checksum_mismatch),
		cmocka_unit_test(test_fetch_corrupt_compressed),
		cmocka_unit_test(test_fetch_not_found),
		cmocka_unit_test(test_orphan_checksum_is_not_archived),
		cmocka_unit_test(test_push_refuses_bad_input),
		cmocka_unit_test(test_history_file),
		cmocka_unit_test(test_commands),
		cmocka_unit_test(test_list),
		cmocka_unit_test(test_push_sizes),
		cmocka_unit_test(test_push_race),
		cmocka_unit_test(test_fetch_refuses_fifo_checksum),
		cmocka_unit_test(test_push_lock_hard_link_not_chowned),
		cmocka_unit_test(test_push_without_link),
		cmocka_unit_test(test_push_orphan_checksum_without_lock),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
