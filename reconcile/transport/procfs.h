/*
 * reconcile/transport/procfs.h - the processes of the machine pgconverge
 * runs on, through /proc: the local host's (host.c) process operations.
 *
 * Processes come and go while they are looked at: every function here
 * takes a vanished process (or an unreadable /proc entry) for an answer,
 * never for an error, and logs nothing.
 */
#ifndef PGC_RECONCILE_TRANSPORT_PROCFS_H
#define PGC_RECONCILE_TRANSPORT_PROCFS_H

#include <stddef.h>
#include <sys/types.h>

/*
 * procfs_each - calls fn(pid, arg) for every numeric entry of /proc but
 * this process, until fn returns non-zero (returned). 0 when all were
 * seen, -1 when /proc cannot be read.
 */
int procfs_each(int (*fn)(long pid, void *arg), void *arg);

/*
 * procfs_state - 0 no such process (kill(pid, 0) says so, or pid is
 * impossible), 1 a zombie, 2 alive (also when /proc/PID/stat cannot be
 * read for another reason than its absence).
 */
int procfs_state(long pid);

/* procfs_comm - /proc/PID/comm without its newline ("" when empty); 0, or -1 when unreadable. */
int procfs_comm(long pid, char *buf, size_t size);

/* procfs_cwd - the target of /proc/PID/cwd; 0, or -1 when unreadable. */
int procfs_cwd(long pid, char *buf, size_t size);

/* procfs_cmdline - /proc/PID/cmdline (NUL-separated argv), NUL-terminated; its length, or -1. */
ssize_t procfs_cmdline(long pid, char *buf, size_t size);

/* procfs_parent - the parent pid from /proc/PID/stat; 0 when unknown. */
long procfs_parent(long pid);

/*
 * procfs_stat - from /proc/PID/stat: the parent pid, the state letter, the
 * CPU time the process used (utime + stime) and that of its children it
 * waited for (cutime + cstime), in seconds, and its start time in clock
 * ticks after boot (with the pid, what tells a process from a later one
 * with the same pid). 0, or -1 when unreadable (gone).
 */
int procfs_stat(long pid, long *ppid, char *state, double *cpu_s, double *children_cpu_s,
		unsigned long long *start_ticks);

/*
 * procfs_io - read_bytes and write_bytes of /proc/PID/io: what the process
 * made the storage layer fetch and send (not the page cache's hits). Only
 * the process's owner or root may read it. 0, or -1 when unreadable.
 */
int procfs_io(long pid, unsigned long long *read_bytes, unsigned long long *write_bytes);

/*
 * procfs_children - the children of pid's main thread
 * (/proc/PID/task/PID/children: a kernel with CONFIG_PROC_CHILDREN), at
 * most max of them into out. Their number, or -1 when the file cannot be
 * read (no such process, or no such kernel support).
 */
ssize_t procfs_children(long pid, long *out, size_t max);

#endif
