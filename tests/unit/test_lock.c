/*
 * tests/unit/test_lock.c - common/lock.c: the state-directory lock, between
 * this process and forked children.
 */
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
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/fsutil.h"
#include "common/lock.h"
#include "common/log.h"

static char tmpdir[] = "/tmp/pgc-lock-XXXXXX";
static char *state_dir;

static int setup(void **state)
{
	(void)state;
	if (mkdtemp(tmpdir) == NULL)
		return -1;
	/* Not created yet: lock_acquire() makes it. */
	state_dir = fs_path_join(tmpdir, "state/dir");
	return 0;
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static int teardown(void **state)
{
	(void)state;
	free(state_dir);
	return nftw(tmpdir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1000.0 + (double)ts.tv_nsec / 1e6;
}

/*
 * child_try - in a forked child: lock_acquire(wait_ms), then exit with its
 * result (0, 1, or 2 for -1); the captured log goes back through a pipe.
 */
static pid_t child_try(int wait_ms, int *log_fd)
{
	int p[2];
	pid_t pid;

	assert_int_equal(pipe(p), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		PgcLock l;
		char *log;
		int rc;
		ssize_t w;

		close(p[0]);
		log_capture_begin();
		rc = lock_acquire(state_dir, wait_ms, &l);
		log = log_capture_end();
		w = write(p[1], log, strlen(log));
		(void)w;
		lock_release(&l);
		_exit(rc == -1 ? 2 : rc);
	}
	close(p[1]);
	*log_fd = p[0];
	return pid;
}

static int child_wait(pid_t pid, int log_fd, char *log, size_t size)
{
	int status;
	ssize_t n, total = 0;

	while ((n = read(log_fd, log + total, size - 1 - (size_t)total)) > 0)
		total += n;
	log[total] = '\0';
	close(log_fd);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	return WEXITSTATUS(status);
}

static void test_acquire_creates(void **state)
{
	PgcLock lock;
	struct stat st;
	char *buf, *lockfile = fs_path_join(state_dir, LOCK_FILE_NAME), expect[32];
	size_t len;

	(void)state;
	assert_false(fs_exists(state_dir));
	assert_int_equal(lock_acquire(state_dir, 0, &lock), 0);
	assert_int_equal(stat(state_dir, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0700);
	assert_int_equal(stat(lockfile, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
	assert_string_equal(lock.path, lockfile);
	/* Servers started under the lock must not inherit it. */
	assert_true(fcntl(lock.fd, F_GETFD) & FD_CLOEXEC);

	assert_int_equal(fs_read_file(lockfile, &buf, &len, 4096), 0);
	snprintf(expect, sizeof(expect), "%ld\n", (long)getpid());
	assert_true(strncmp(buf, expect, strlen(expect)) == 0);
	assert_int_equal(len, strlen(expect) + strlen("2026-11-26T09:41:00Z\n"));
	free(buf);

	lock_release(&lock);
	assert_int_equal(lock.fd, -1);
	assert_null(lock.path);
	lock_release(&lock); /* twice is harmless */
	free(lockfile);
}

static void test_held_by_other(void **state)
{
	PgcLock lock, again;
	char log[1024], expect[256], *mine;
	int fd;
	pid_t pid;
	double t0;

	(void)state;
	assert_int_equal(lock_acquire(state_dir, 0, &lock), 0);

	/* A forked child (another open file description) finds it taken. */
	t0 = now_ms();
	pid = child_try(300, &fd);
	assert_int_equal(child_wait(pid, fd, log, sizeof(log)), 1);
	assert_true(now_ms() - t0 >= 300);
	snprintf(expect, sizeof(expect),
		 "error: state directory \"%s\" is locked by another run (pid %ld, since ", state_dir,
		 (long)getpid());
	assert_true(strncmp(log, expect, strlen(expect)) == 0);
	assert_non_null(strstr(log, "Z)\n  hint: wait for that run to finish; the lock goes away "
				    "when it exits\n"));

	/* So does a second acquire in this very process. */
	log_capture_begin();
	assert_int_equal(lock_acquire(state_dir, 0, &again), 1);
	mine = log_capture_end();
	assert_true(strncmp(mine, expect, strlen(expect)) == 0);
	assert_int_equal(again.fd, -1);
	assert_null(again.path);
	free(mine);

	lock_release(&lock);

	/* Released: the child gets it. */
	pid = child_try(0, &fd);
	assert_int_equal(child_wait(pid, fd, log, sizeof(log)), 0);
	assert_string_equal(log, "");
}

static void test_wait_for_release(void **state)
{
	PgcLock lock;
	char log[1024];
	int fd;
	pid_t pid;
	double t0;

	(void)state;
	assert_int_equal(lock_acquire(state_dir, 0, &lock), 0);
	t0 = now_ms();
	pid = child_try(5000, &fd);
	usleep(300 * 1000);
	lock_release(&lock);
	assert_int_equal(child_wait(pid, fd, log, sizeof(log)), 0);
	assert_true(now_ms() - t0 < 3000);
	assert_string_equal(log, "");
}

static void test_dies_with_holder(void **state)
{
	/* A holder killed with SIGKILL leaves no stale lock. */
	PgcLock lock;
	int p[2];
	char c;
	pid_t pid;

	(void)state;
	assert_int_equal(pipe(p), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		ssize_t w;

		close(p[0]);
		if (lock_acquire(state_dir, 0, &lock) != 0)
			_exit(1);
		w = write(p[1], "L", 1);
		(void)w;
		pause();
		_exit(0);
	}
	close(p[1]);
	assert_int_equal(read(p[0], &c, 1), 1);
	close(p[0]);
	log_capture_begin();
	assert_int_equal(lock_acquire(state_dir, 0, &lock), 1);
	free(log_capture_end());
	kill(pid, SIGKILL);
	assert_int_equal(waitpid(pid, NULL, 0), pid);
	assert_int_equal(lock_acquire(state_dir, 0, &lock), 0);
	lock_release(&lock);
}

static void test_state_dir_is_a_file(void **state)
{
	char *file = fs_path_join(tmpdir, "plainfile"), *log, expect[512];
	PgcLock lock;

	(void)state;
	assert_int_equal(fs_write_atomic(file, "", 0, 0600, FS_NO_UID, FS_NO_GID, NULL), 0);
	log_capture_begin();
	assert_int_equal(lock_acquire(file, 0, &lock), -1);
	log = log_capture_end();
	snprintf(expect, sizeof(expect),
		 "error: could not create folder \"%s\": a file of that name exists\n", file);
	assert_string_equal(log, expect);
	assert_int_equal(lock.fd, -1);
	free(log);
	unlink(file);
	free(file);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_acquire_creates),
		cmocka_unit_test(test_held_by_other),
		cmocka_unit_test(test_wait_for_release),
		cmocka_unit_test(test_dies_with_holder),
		cmocka_unit_test(test_state_dir_is_a_file),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
