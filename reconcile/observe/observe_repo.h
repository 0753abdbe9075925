/*
 * reconcile/observe/observe_repo.h - the read of a backup repository for
 * the observed model (PgcObsRepository): its verified base backups, drills,
 * WAL archive and timeline history files.
 *
 * A repository is read by a thread of its own (PgcObsRepoRead), started
 * before the node probes and waited for after them, at most
 * OBSERVE_REPO_TIMEOUT_MS: a repository on a mount that hangs becomes an
 * error in the model instead of stalling the whole observation.
 */
#ifndef PGC_RECONCILE_OBSERVE_OBSERVE_REPO_H
#define PGC_RECONCILE_OBSERVE_OBSERVE_REPO_H

#include <stdbool.h>
#include <time.h>

#include "common/arena.h"
#include "reconcile/observe/observe_model.h"

/*
 * observe_repo_start - starts the read of the repository at path (in a
 * thread, or at once when no thread can start). must_exist: a restore
 * source, for which a missing folder is an error. Never NULL.
 */
PgcObsRepoRead *observe_repo_start(const char *path, bool must_exist);

/*
 * observe_repo_finish - the model's view of read r once it is done or the
 * deadline (CLOCK_REALTIME) passed: the read's own result (released by
 * observe_repo_free), or an error allocated in a.
 */
PgcObsRepository *observe_repo_finish(PgcArena *a, PgcObsRepoRead *r,
				      const struct timespec *deadline);

/* observe_repo_free - releases the model's reference of a repository read; NULL is fine. */
void observe_repo_free(PgcObsRepository *r);

#endif
