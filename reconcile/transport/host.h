/*
 * reconcile/transport/host.h - operations on a node's host: run a program, read and
 * write files, look at folders.
 *
 * Today only local hosts have an implementation (the node's host is an
 * address of this machine); for others host_for() returns NULL and the
 * planner marks filesystem actions as blocked. An ssh transport, or one
 * pgconverge per host, plugs in here without touching the planner.
 */
#ifndef PGC_RECONCILE_TRANSPORT_HOST_H
#define PGC_RECONCILE_TRANSPORT_HOST_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "common/proc.h"

typedef struct PgcHost PgcHost;

/* host_is_local - true when host (name or address) designates this machine. */
bool host_is_local(const char *host);

/*
 * host_for - the host of a node; NULL when pgconverge cannot act on it
 * (not local). os_user is the account servers run as: files are created
 * owned by it and programs run as it when pgconverge runs as root.
 * Free with host_free().
 */
PgcHost *host_for(const char *host, const char *os_user);
void host_free(PgcHost *h);

/* host_run - proc_run() on that host, as the host's os_user. */
int host_run(PgcHost *h, const PgcProcSpec *spec, PgcProcResult *res);
/* host_file_mtime - a file's modification time in seconds (with fractions):
 * 0, 1 absent, -1 error (reported). */
int host_file_mtime(PgcHost *h, const char *path, double *mtime);
/*
 * host_read_file, host_write_file, host_mkdir_p - as root they follow no
 * symlink in a folder os_user (or any account but root) can change, and a
 * file read must belong to os_user or root: see fsutil.h, "guarded access".
 */
/* host_read_file - as fs_read_file(): 0, 1 absent, -1 error. */
int host_read_file(PgcHost *h, const char *path, char **buf, size_t *len, size_t max);
/* host_write_file - atomic, owned by os_user, with mode; *changed as fs_write_atomic. */
int host_write_file(PgcHost *h, const char *path, const char *data, size_t len, mode_t mode,
		    bool *changed);
/* host_mkdir_p - folder (and parents) owned by os_user, mode. */
int host_mkdir_p(PgcHost *h, const char *path, mode_t mode);
/* host_dir_state - 0 absent, 1 empty, 2 not empty; -1 error (reported). */
int host_dir_state(PgcHost *h, const char *path);
/* host_os_user - the account, and its ids (resolved once). */
const char *host_os_user(const PgcHost *h);
int host_os_ids(const PgcHost *h, uid_t *uid, gid_t *gid);

#endif
