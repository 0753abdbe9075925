/*
 * common/lock.h - the state-directory lock: one pgconverge run at a time per
 * state directory (apply, reconcile, backup, failover all take it).
 *
 * The lock is an flock() on STATE_DIR/lock, so it goes away with the process
 * that held it, however that process ended: there is no stale lock to clean
 * up after a crash or kill -9. The file (mode 0600) holds the holder's pid
 * and start time, only for messages. Its descriptor is close-on-exec, so
 * servers started while holding the lock (pg_ctl start) do not inherit it.
 *
 * flock() locks belong to an open file description: a second lock_acquire()
 * in the same process, or in a forked child, conflicts like another run does.
 */
#ifndef PGC_COMMON_LOCK_H
#define PGC_COMMON_LOCK_H

typedef struct {
	int fd;     /* -1 when not held */
	char *path; /* STATE_DIR/lock, malloc'd */
} PgcLock;

/* LOCK_FILE_NAME - the lock's file name inside the state directory. */
#define LOCK_FILE_NAME "lock"

/*
 * lock_acquire - takes the lock of state_dir, creating the folder (0700) and
 * the lock file (0600) when missing. When another process holds it, retries
 * for up to wait_ms (0: a single try).
 * Returns 0 with *lock held; 1 when another run still holds it (reported
 * with log_error(), naming the holder's pid and start time, and a hint; the
 * caller exits with EXIT_LOCKED); -1 on any other error (reported).
 * *lock is always initialised; on 1 and -1 it holds nothing.
 */
int lock_acquire(const char *state_dir, int wait_ms, PgcLock *lock);

/* lock_release - releases the lock and frees lock->path; safe to call on an
 * unheld or already released lock. The lock file is left in place: removing
 * it would race with a process that has just opened it. */
void lock_release(PgcLock *lock);

#endif
