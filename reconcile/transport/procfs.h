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

#endif
