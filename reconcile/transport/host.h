/*
 * reconcile/transport/host.h - operations on a node's host: run a program,
 * read and write files, look at folders, find and signal processes.
 *
 * A host is an interface: a table of operations (PgcHostOps) and the
 * account servers run as there (os_user), in the manner of pgBackRest's
 * storage drivers. Executors never call POSIX on a node's files or
 * processes themselves: they call host_*() below, which dispatch through
 * the host's table. Today one implementation exists, for the machine
 * pgconverge runs on (host_for(): the node's host is an address of this
 * machine); for others host_for() returns NULL and the planner marks
 * filesystem actions as blocked. An ssh transport, or one pgconverge per
 * host, plugs in here with its own table (host_new()) without touching
 * the planner or the executors; tests plug in a fake the same way.
 *
 * Errors follow common/fsutil.h: 0 / -1 after reporting with log_error(),
 * unless a function says it only sets errno (then the caller words the
 * message, naming what the file is for).
 */
#ifndef PGC_RECONCILE_TRANSPORT_HOST_H
#define PGC_RECONCILE_TRANSPORT_HOST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "common/proc.h"

typedef struct PgcHost PgcHost;

/* PgcHostProcState - what host_proc_state() finds for a pid. */
typedef enum {
	HOST_PROC_GONE,   /* no such process (or an impossible pid) */
	HOST_PROC_ZOMBIE, /* exited, not reaped yet by its parent */
	HOST_PROC_LIVE,   /* exists and is not a zombie */
} PgcHostProcState;

/*
 * PgcHostProcStat - what host_proc_stat() reads of a process: its parent,
 * state letter (R, S, Z ...), CPU seconds used (user + system) and those of
 * the children it waited for, and its start time (clock ticks after boot).
 */
typedef struct {
	long ppid;
	char state;
	double cpu_s;
	double children_cpu_s;
	unsigned long long start_ticks;
} PgcHostProcStat;

/* PgcHostProcIo - a process's storage I/O: bytes fetched from and sent to storage. */
typedef struct {
	unsigned long long read_bytes;
	unsigned long long write_bytes;
} PgcHostProcIo;

/* host_proc_each's callback: non-zero stops the walk (and is returned). */
typedef int (*PgcHostProcFn)(PgcHost *h, long pid, void *arg);

/*
 * PgcHostOps - one implementation of a host. Every operation has the
 * contract of the host_*() function of the same name below, which calls it
 * (os_user, ownership and guarding are the implementation's business).
 * close (may be NULL) releases the implementation's data at host_free().
 */
typedef struct {
	const char *name; /* "local", "fake" ...: for messages and tests */
	int (*run)(PgcHost *h, const PgcProcSpec *spec, PgcProcResult *res);
	int (*file_mtime)(PgcHost *h, const char *path, double *mtime);
	int (*read_file)(PgcHost *h, const char *path, char **buf, size_t *len, size_t max);
	int (*write_file)(PgcHost *h, const char *path, const char *data, size_t len, mode_t mode,
			  bool *changed);
	int (*mkdir_p)(PgcHost *h, const char *path, mode_t mode);
	int (*dir_state)(PgcHost *h, const char *path);
	bool (*exists)(PgcHost *h, const char *path);
	int (*rename)(PgcHost *h, const char *from, const char *to);
	int (*remove_file)(PgcHost *h, const char *path);
	int (*sync_dir)(PgcHost *h, const char *path);
	int (*empty_dir)(PgcHost *h, const char *path);
	int (*remove_tree)(PgcHost *h, const char *parent, const char *path);
	char *(*realpath)(PgcHost *h, const char *path);
	int (*proc_each)(PgcHost *h, PgcHostProcFn fn, void *arg);
	PgcHostProcState (*proc_state)(PgcHost *h, long pid);
	int (*proc_comm)(PgcHost *h, long pid, char *buf, size_t size);
	int (*proc_cwd)(PgcHost *h, long pid, char *buf, size_t size);
	ssize_t (*proc_cmdline)(PgcHost *h, long pid, char *buf, size_t size);
	long (*proc_parent)(PgcHost *h, long pid);
	int (*signal)(PgcHost *h, long pid, int sig);
	void (*close)(PgcHost *h);
	int (*file_size)(PgcHost *h, const char *path, int64_t *size); /* may be NULL */
	int (*dir_look)(PgcHost *h, const char *path);                   /* may be NULL */
	bool (*reaches)(PgcHost *h, const char *path);                   /* may be NULL */
	int (*proc_stat)(PgcHost *h, long pid, PgcHostProcStat *st);     /* may be NULL */
	int (*proc_io)(PgcHost *h, long pid, PgcHostProcIo *io);         /* may be NULL */
	ssize_t (*proc_children)(PgcHost *h, long pid, long *out, size_t max); /* may be NULL */
} PgcHostOps;

/*
 * host_is_local - true when host (name or address) designates this
 * machine; once host_set_self() named this agent's host, true exactly when
 * host is that name (compared without case).
 */
bool host_is_local(const char *host);

/*
 * host_set_self - this machine is the agent of host (`--as HOST`), copied;
 * NULL restores the default (any address or name of this machine). Why a
 * plain string equality: on one machine every 127.0.0.x is local, and the
 * agents of a three-host demo on it must each see only their own nodes as
 * local; on real hosts the topology's `host` values name the machines, so
 * the agent's HOST is one of them. Call it before anything is observed or
 * applied. Thread-safe against host_is_local() (a mutex: the agent's
 * keep-alive thread reads it while the loop may set another host).
 */
void host_set_self(const char *host);

/*
 * host_is_machine - true when host (name or address) designates this
 * machine, whatever host_set_self() said: loopback, "localhost", its name,
 * an address of its interfaces. host_is_local() without a self host.
 */
bool host_is_machine(const char *host);

/*
 * host_self - the host given to host_set_self(), or NULL (the default);
 * valid until the next host_set_self() (the caller's thread sets it).
 */
const char *host_self(void);

/*
 * host_for - the host of a node; NULL when pgconverge cannot act on it
 * (not local). os_user is the account servers run as: files are created
 * owned by it and programs run as it when pgconverge runs as root.
 * Free with host_free().
 */
PgcHost *host_for(const char *host, const char *os_user);

/*
 * host_new - a host named name whose operations are ops (which must
 * outlive it), for os_user (NULL: "postgres"); data is the
 * implementation's own, read back with host_data(). Free with host_free().
 */
PgcHost *host_new(const PgcHostOps *ops, const char *name, const char *os_user, void *data);
void *host_data(const PgcHost *h);
const char *host_name(const PgcHost *h);
void host_free(PgcHost *h);

/* host_os_user - the account, and its ids (resolved once). */
const char *host_os_user(const PgcHost *h);
int host_os_ids(const PgcHost *h, uid_t *uid, gid_t *gid);

/* ---- programs ------------------------------------------------------------ */

/* host_run - proc_run() on that host, as the host's os_user (when root). */
int host_run(PgcHost *h, const PgcProcSpec *spec, PgcProcResult *res);

/* ---- files and folders --------------------------------------------------- */

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
/* host_exists - true when path is there (lstat: a link counts, whatever it points to). */
bool host_exists(PgcHost *h, const char *path);
/*
 * host_reaches - true when path leads to something (access(F_OK): a link is
 * followed, a dangling one is false). A table without reaches uses exists.
 */
bool host_reaches(PgcHost *h, const char *path);
/* host_rename - rename(from, to): 0, or -1 with errno set, not reported. */
int host_rename(PgcHost *h, const char *from, const char *to);
/*
 * host_remove_file - unlink(path): 0 removed, 1 absent, -1 error with
 * errno set, not reported (the caller says what the file was). The
 * removal is durable only after host_sync_dir() of its folder.
 */
int host_remove_file(PgcHost *h, const char *path);
/* host_sync_dir - fsyncs a folder (renames and removals in it become durable); reported. */
int host_sync_dir(PgcHost *h, const char *path);
/* host_empty_dir - fs_empty_dir(): everything inside path goes, following no link; reported. */
int host_empty_dir(PgcHost *h, const char *path);
/* host_remove_tree - fs_remove_tree(): path (inside parent) and all below it; reported. */
int host_remove_tree(PgcHost *h, const char *parent, const char *path);
/* host_realpath - realpath(path), malloc'd; NULL when it cannot be resolved (not reported). */
char *host_realpath(PgcHost *h, const char *path);

/* ---- processes ------------------------------------------------------------ */

/*
 * host_proc_each - calls fn for the pid of every process on the host but
 * pgconverge itself, until fn returns non-zero (returned). 0 when all were
 * seen, -1 when the process list cannot be read (not reported). Processes
 * come and go meanwhile: the functions below may find one gone.
 */
int host_proc_each(PgcHost *h, PgcHostProcFn fn, void *arg);
/* host_proc_state - whether pid exists and is a zombie (nothing logged). */
PgcHostProcState host_proc_state(PgcHost *h, long pid);
/* host_proc_comm - pid's command name (as in /proc/PID/comm, no newline); 0, or -1. */
int host_proc_comm(PgcHost *h, long pid, char *buf, size_t size);
/* host_proc_cwd - pid's working folder (resolved); 0, or -1. */
int host_proc_cwd(PgcHost *h, long pid, char *buf, size_t size);
/* host_proc_cmdline - pid's argv, NUL-separated, NUL-terminated; its length, or -1. */
ssize_t host_proc_cmdline(PgcHost *h, long pid, char *buf, size_t size);
/* host_proc_parent - pid's parent pid; 0 when unknown. */
long host_proc_parent(PgcHost *h, long pid);
/* host_signal - kill(pid, sig): 0, or -1 with errno set (ESRCH: gone), not reported. */
int host_signal(PgcHost *h, long pid, int sig);

/* ---- added later ----------------------------------------------------------- */

/*
 * host_file_size - the size in bytes of path itself (lstat: a link in its
 * place is not followed): 0, 1 absent, -1 with errno set, not reported.
 * A host whose table has no file_size gives -1 (ENOSYS).
 */
int host_file_size(PgcHost *h, const char *path, int64_t *size);

/*
 * host_dir_look - what is at path, quietly (for probes, which report in
 * their own words): 0 absent, 1 an empty folder, 2 a folder with entries,
 * 3 something else than a folder; -1 (errno) when it cannot be looked at,
 * -2 (errno) when it is a folder that cannot be listed. Nothing logged. A
 * host whose table has no dir_look gives -1 (ENOSYS).
 */
int host_dir_look(PgcHost *h, const char *path);

/*
 * host_proc_stat - pid's parent, state and CPU times (PgcHostProcStat);
 * host_proc_io - its storage I/O (the local host: /proc/PID/io, which only
 * root or the process's owner may read). 0, or -1 when the process is gone
 * or cannot be read (nothing logged); a host whose table lacks the
 * operation gives -1 (ENOSYS).
 */
int host_proc_stat(PgcHost *h, long pid, PgcHostProcStat *st);
int host_proc_io(PgcHost *h, long pid, PgcHostProcIo *io);

/*
 * host_proc_children - pid's children (at most max into out): their
 * number, or -1 (nothing logged) when the host cannot list them directly
 * (the caller then walks every process with host_proc_each and
 * host_proc_stat's ppid). A host whose table lacks it gives -1 (ENOSYS).
 */
ssize_t host_proc_children(PgcHost *h, long pid, long *out, size_t max);

#endif
