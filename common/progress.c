/*
 * common/progress.c - the terminal progress line (progress.h).
 */
#include "common/progress.h"

#include <stdio.h>
#include <time.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/log.h"

const char *progress_format_bytes(int64_t bytes, char *buf, size_t size)
{
	static const char *const units[] = {"kB", "MB", "GB", "TB", "PB"};
	double v = (double)bytes;
	int u = -1;

	if (bytes < 1024) {
		snprintf(buf, size, "%lld B", (long long)bytes);
		return buf;
	}
	while (v >= 1024 && u < 4) {
		v /= 1024;
		u++;
	}
	snprintf(buf, size, "%.1f %s", v, units[u]);
	return buf;
}

static void draw(PgcProgress *p)
{
	char done[32], total[32], rate[32], line[200];
	int64_t d = p->measure != NULL ? p->measure(p->arg) : atomic_load(&p->done);
	double elapsed = (clock_ms() - p->started) / 1000.0;
	double bps = elapsed > 0 ? (double)d / elapsed : 0;
	int n;

	n = snprintf(line, sizeof line, "\r%s: %s", p->what, progress_format_bytes(d, done, sizeof done));
	if (p->total > 0 && n < (int)sizeof line)
		n += snprintf(line + n, sizeof line - (size_t)n, " of %s%s", p->estimate ? "~" : "",
			      progress_format_bytes(p->total, total, sizeof total));
	if (n < (int)sizeof line)
		n += snprintf(line + n, sizeof line - (size_t)n, ", %s/s",
			      progress_format_bytes((int64_t)bps, rate, sizeof rate));
	if (p->total > d && bps > 0 && n < (int)sizeof line) {
		long eta = (long)((double)(p->total - d) / bps);

		snprintf(line + n, sizeof line - (size_t)n, ", ETA %ld:%02ld", eta / 60, eta % 60);
	}
	fprintf(stderr, "%s\033[K", line);
	fflush(stderr);
}

static void *progress_main(void *arg)
{
	PgcProgress *p = arg;
	struct timespec until;

	pthread_mutex_lock(&p->mu);
	while (!p->stop) {
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_sec += 1;
		pthread_cond_timedwait(&p->cv, &p->mu, &until);
		if (!p->stop)
			draw(p);
	}
	pthread_mutex_unlock(&p->mu);
	return NULL;
}

void progress_start(PgcProgress *p, bool wanted, const char *what, int64_t total)
{
	atomic_init(&p->done, 0);
	p->stop = false;
	p->total = total;
	p->what = what;
	p->started = clock_ms();
	p->enabled = wanted && isatty(STDERR_FILENO) && log_enabled(LOG_INFO);
	if (!p->enabled)
		return;
	pthread_mutex_init(&p->mu, NULL);
	pthread_cond_init(&p->cv, NULL);
	if (pthread_create(&p->thread, NULL, progress_main, p) != 0)
		p->enabled = false;
}

void progress_add(PgcProgress *p, int64_t n)
{
	atomic_fetch_add(&p->done, n);
}

void progress_stop(PgcProgress *p)
{
	if (!p->enabled)
		return;
	pthread_mutex_lock(&p->mu);
	p->stop = true;
	pthread_cond_signal(&p->cv);
	pthread_mutex_unlock(&p->mu);
	pthread_join(p->thread, NULL);
	pthread_mutex_destroy(&p->mu);
	pthread_cond_destroy(&p->cv);
	fputs("\r\033[K", stderr);
	fflush(stderr);
}
