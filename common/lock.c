/*
 * common/lock.c - flock() on STATE_DIR/lock.
 */
#include "common/lock.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/fsutil.h"
#include "common/log.h"

#define RETRY_MS 50

/* write_holder - "PID\nSTART\n" for the messages of runs that find the lock taken. */
static void write_holder(int fd)
{
	char buf[96], stamp[CLOCK_UTC_SIZE];
	int n;

	clock_utc_format(time(NULL), 0, CLOCK_UTC_ISO, stamp, sizeof stamp);
	n = snprintf(buf, sizeof(buf), "%ld\n%s\n", (long)getpid(), stamp);
	/* Only informative: a failure here does not make the lock less held. */
	if (ftruncate(fd, 0) == 0 && pwrite(fd, buf, (size_t)n, 0) != n && ftruncate(fd, 0) != 0)
		log_debug("could not write lock holder: %s", strerror(errno));
}

static void report_holder(const char *state_dir, int fd)
{
	char buf[96], stamp[40] = "";
	long pid = 0;
	ssize_t n;

	n = pread(fd, buf, sizeof(buf) - 1, 0);
	buf[n > 0 ? n : 0] = '\0';
	if (sscanf(buf, "%ld\n%39s", &pid, stamp) >= 1 && pid > 0 && stamp[0] != '\0')
		log_error("state directory \"%s\" is locked by another run (pid %ld, since %s)\n"
			  "hint: wait for that run to finish; the lock goes away when it exits",
			  state_dir, pid, stamp);
	else if (pid > 0)
		log_error("state directory \"%s\" is locked by another run (pid %ld)\n"
			  "hint: wait for that run to finish; the lock goes away when it exits",
			  state_dir, pid);
	else
		log_error("state directory \"%s\" is locked by another run\n"
			  "hint: wait for that run to finish; the lock goes away when it exits",
			  state_dir);
}

int lock_acquire(const char *state_dir, int wait_ms, PgcLock *lock)
{
	double deadline = clock_ms() + (wait_ms > 0 ? wait_ms : 0);
	char *path;
	int fd, saved;

	lock->fd = -1;
	lock->path = NULL;
	if (fs_mkdir_p(state_dir, 0700, FS_NO_UID, FS_NO_GID) != 0)
		return -1;
	path = fs_path_join(state_dir, LOCK_FILE_NAME);
	/* CLOEXEC: a server started under the lock must not keep it. */
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0) {
		saved = errno;
		log_error("could not open lock file \"%s\": %s", path, strerror(saved));
		free(path);
		errno = saved;
		return -1;
	}
	for (;;) {
		double left;

		if (flock(fd, LOCK_EX | LOCK_NB) == 0)
			break;
		saved = errno;
		if (saved == EINTR)
			continue;
		if (saved != EWOULDBLOCK) {
			log_error("could not lock file \"%s\": %s", path, strerror(saved));
			close(fd);
			free(path);
			errno = saved;
			return -1;
		}
		left = deadline - clock_ms();
		if (left <= 0) {
			report_holder(state_dir, fd);
			close(fd);
			free(path);
			return 1;
		}
		clock_sleep_ms(left < RETRY_MS ? left : RETRY_MS);
	}
	(void)fchmod(fd, 0600);
	write_holder(fd);
	lock->fd = fd;
	lock->path = path;
	log_debug("locked state directory \"%s\"", state_dir);
	return 0;
}

void lock_release(PgcLock *lock)
{
	if (lock == NULL)
		return;
	if (lock->fd >= 0) {
		/* Empty the holder line first so nobody reads a finished run's pid. */
		if (ftruncate(lock->fd, 0) != 0)
			log_debug("could not empty lock file \"%s\": %s", lock->path, strerror(errno));
		flock(lock->fd, LOCK_UN);
		close(lock->fd);
	}
	lock->fd = -1;
	free(lock->path);
	lock->path = NULL;
}
