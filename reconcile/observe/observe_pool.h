/*
 * reconcile/observe/observe_pool.h - runs the probes of many nodes on a
 * small pool of threads (at most OBS_MAX_THREADS, the calling thread
 * included): each probe with its own connections and every connect and
 * query bounded, so a dead node costs its own timeouts only.
 */
#ifndef PGC_RECONCILE_OBSERVE_OBSERVE_POOL_H
#define PGC_RECONCILE_OBSERVE_OBSERVE_POOL_H

#include <pthread.h>
#include <stddef.h>

#include "reconcile/observe/observe_probe.h"

/*
 * observe_pool_run - runs probes[0..n) (files, then SQL); returns when all
 * are done. lock guards the model's arena, as each Probe's lock.
 */
void observe_pool_run(Probe *probes, size_t n, pthread_mutex_t *lock);

#endif
