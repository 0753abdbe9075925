/*
 * tests/unit/support/fake_host.h - a host (reconcile/transport/host.h) that
 * touches nothing: it keeps files and folders in memory, serves scripted
 * results to the programs it is asked to run, holds a scripted process
 * table, and records every call, one line each, so that a test can assert
 * what an executor asked of the node's machine:
 *
 *   run ARGV...            (argv joined by spaces; "env NAME=..." lines follow for env_extra)
 *   read PATH | write PATH MODE | mkdir PATH MODE | state PATH | exists PATH
 *   rename FROM TO | remove PATH | sync PATH | empty PATH | tree PARENT PATH
 *   signal PID SIG
 *
 * Process look-ups (proc_*, realpath, mtime) are not recorded: they are
 * questions, not actions.
 */
#ifndef PGC_TESTS_UNIT_SUPPORT_FAKE_HOST_H
#define PGC_TESTS_UNIT_SUPPORT_FAKE_HOST_H

#include <stdbool.h>
#include <stddef.h>

#include "reconcile/transport/host.h"

/* fake_host_new - an empty fake host for os_user; free with host_free(). */
PgcHost *fake_host_new(const char *os_user);

/* fake_host_put - a file with content (and its folders); NULL content removes it. */
void fake_host_put(PgcHost *h, const char *path, const char *content);
/* fake_host_mkdir - a folder (and its parents). */
void fake_host_mkdir(PgcHost *h, const char *path);
/* fake_host_get - a file's content, or NULL when absent. Owned by the fake. */
const char *fake_host_get(PgcHost *h, const char *path);
/* fake_host_is_dir - true when path is a folder. */
bool fake_host_is_dir(PgcHost *h, const char *path);

/*
 * fake_host_script - the next program whose command line (argv joined by
 * spaces) contains match exits with status and prints output (status -1:
 * it cannot be started). Rules are tried in the order they were added and
 * each serves once; a program no rule matches exits 0 without output.
 */
void fake_host_script(PgcHost *h, const char *match, int status, const char *output);

/* fake_host_proc - a process: pid, parent, comm, working folder, argv (NULL-terminated). */
void fake_host_proc(PgcHost *h, long pid, long ppid, const char *comm, const char *cwd,
		    const char *const *argv);
/* fake_host_zombie - pid stays, as a zombie (signals no longer change it). */
void fake_host_zombie(PgcHost *h, long pid);
/* fake_host_sticky - pid ignores SIGTERM and SIGKILL (a wedged process). */
void fake_host_sticky(PgcHost *h, long pid);

/*
 * fake_host_proc_usage - pid's CPU seconds (its own, and its waited-for
 * children's) and storage bytes, as host_proc_stat/host_proc_io give them
 * (a zombie has no I/O figures).
 */
void fake_host_proc_usage(PgcHost *h, long pid, double cpu_s, double children_cpu_s,
			  unsigned long long read_bytes, unsigned long long write_bytes);
/* fake_host_no_children - host_proc_children fails (ENOSYS), as on a kernel without the list. */
void fake_host_no_children(PgcHost *h);

/* fake_host_fail_write - writes of path fail (ENOSPC), still recorded; NULL: none fails. */
void fake_host_fail_write(PgcHost *h, const char *path);

/* fake_host_calls - every recorded call so far, one line each. Owned by the fake. */
const char *fake_host_calls(PgcHost *h);
/* fake_host_clear - forgets the recorded calls. */
void fake_host_clear(PgcHost *h);

#endif
