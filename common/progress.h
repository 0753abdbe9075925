/*
 * common/progress.h - one line on a terminal, redrawn once a second,
 * while a long copy runs (a base backup, a dump, a restore): bytes so far,
 * of how many, rate and ETA. Only when stderr is a terminal and info
 * messages are shown: a log file or a journal gets the caller's final
 * summary alone.
 */
#ifndef PGC_COMMON_PROGRESS_H
#define PGC_COMMON_PROGRESS_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct {
	/* How much is done: measure(arg) when set (e.g. the size of what a
	 * child writes), else the sum of progress_add() calls. */
	int64_t (*measure)(void *arg);
	void *arg;
	_Atomic int64_t done;
	int64_t total;            /* 0: unknown (no ETA) */
	bool estimate;            /* total is approximate: shown as "of ~X" */
	const char *what;
	double started;           /* clock_ms() */
	bool enabled;
	bool stop;
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t cv;
} PgcProgress;

/*
 * progress_start - starts the meter when wanted and stderr is a terminal.
 * The caller sets measure, arg and estimate beforehand (an initializer:
 * `PgcProgress pr = {.measure = f, .arg = x}`) and nothing while it runs;
 * the other fields are the meter's. what must outlive the meter.
 */
void progress_start(PgcProgress *p, bool wanted, const char *what, int64_t total);
/* progress_add - n more bytes done (thread-safe; a no-op count when the meter is off). */
void progress_add(PgcProgress *p, int64_t n);
/* progress_stop - stops the meter and clears its line. */
void progress_stop(PgcProgress *p);

/*
 * progress_format_bytes - "512 B", "1.5 kB", "45.2 MB", "3.1 GB" (1024
 * based), into buf; returns buf. The meter's unit, and the one of every
 * summary that reports a size (backups, restores, retention).
 */
const char *progress_format_bytes(int64_t bytes, char *buf, size_t size);

#endif
