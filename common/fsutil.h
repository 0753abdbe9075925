/*
 * common/fsutil.h - files on the local host: the one atomic file writer,
 * whole-file reads, directory creation, and guarded access for root in
 * folders another account owns. Path arithmetic is in common/fspath.h
 * (included here); removing trees without following links in
 * common/fstree.h.
 *
 * Every file pgconverge writes goes through fs_write_atomic(), so a crash
 * leaves either the old or the new content, never a mix, and a converged run
 * does not touch files whose content is already right.
 *
 * Errors: functions returning int give 0 on success and -1 on failure, after
 * reporting the failure with log_error() ("could not ... \"PATH\": cause")
 * and leaving errno set; callers do not log it again. Returned strings are
 * malloc'd and belong to the caller (free()). Allocation failure aborts.
 * uid/gid arguments take (uid_t)-1 / (gid_t)-1 for "leave as it is".
 */
#ifndef PGC_COMMON_FSUTIL_H
#define PGC_COMMON_FSUTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "common/fspath.h"

#define FS_NO_UID ((uid_t)-1)
#define FS_NO_GID ((gid_t)-1)

/*
 * fs_write_atomic - makes the file at path hold exactly data[0..len) with
 * permission bits mode (and owner uid/gid unless -1).
 *
 * When the file already has that content, mode and owner, nothing is written
 * and *changed is false. Otherwise: a temp file ".NAME.tmp.PID.N" is created
 * beside path with O_EXCL (same folder, so rename() is atomic), written,
 * fchown'd, fchmod'd, fsynced, renamed over path, and the folder fsynced;
 * *changed is true. On failure the temp file is removed and path is as it
 * was. A symlink at path is replaced by a regular file, not followed.
 * changed may be NULL.
 */
int fs_write_atomic(const char *path, const void *data, size_t len, mode_t mode, uid_t uid,
		    gid_t gid, bool *changed);

/*
 * fs_read_file - reads the whole file into a malloc'd buffer, NUL-terminated
 * (buf[len] == '\0', not counted in len) so text can be used as a string.
 * Returns 0; 1 when the file does not exist (nothing logged, errno ENOENT,
 * *buf NULL) so that a caller for whom absence is normal can say so; -1 on
 * any other error, including a file larger than max bytes.
 */
int fs_read_file(const char *path, char **buf, size_t *len, size_t max);

/*
 * fs_open_read - path opened read-only (O_CLOEXEC): the descriptor; -2 when
 * it does not exist (nothing logged, errno ENOENT); -1 otherwise, reported
 * as "could not open <what> \"<path>\"" with errno kept.
 */
int fs_open_read(const char *path, const char *what);

/*
 * fs_mkdir_p - creates path and its missing parents, each with exactly mode
 * (not masked by umask) and, when given, owner uid/gid; the parent of each
 * created folder is fsynced. Folders that already exist are left as they
 * are. Fails when a component exists and is not a folder.
 */
int fs_mkdir_p(const char *path, mode_t mode, uid_t uid, gid_t gid);

/* fs_write_all - writes all len bytes to fd, resuming after EINTR and short writes; 0, or -1 (errno). */
int fs_write_all(int fd, const void *data, size_t len);

/* fs_fsync_dir - fsyncs a folder, making renames and creations in it durable. */
int fs_fsync_dir(const char *path);

/*
 * fs_is_dir_empty - 1 when path is a folder with no entries, 0 when it has
 * some, -1 when it cannot be read (reported; a caller for whom a missing
 * folder is normal checks fs_exists() first).
 */
int fs_is_dir_empty(const char *path);

/* fs_exists - true when anything is at path (lstat: a dangling symlink counts). */
bool fs_exists(const char *path);

/*
 * fs_path_dir - the folder part of path, lexically: "a/b/c.yaml" -> "a/b",
 * "a//c" -> "a", "c.yaml" -> ".", "/c.yaml" -> "/". No other
 * normalisation. malloc'd.
 */
char *fs_path_dir(const char *path);

/* ---- guarded access: root working in another account's folders ----------------- */

/*
 * pgconverge runs as root but works in folders that the servers' account
 * (os_user) owns: data directories, backup repositories. That account must
 * not be able to make root read, write or remove what it could not itself,
 * for instance by replacing postgresql.conf with a symlink to a root-only
 * file whose text root would then write back into a file the account reads.
 *
 * The fs_*_guarded functions therefore resolve a path one component at a
 * time (openat with O_NOFOLLOW from "/" or the current folder) and follow a
 * symlink only when the folder holding it is "safe": owned by root or by
 * this process's user, and writable by no group or other (a sticky /tmp is
 * not safe). An administrator's links (/var/lib/pgsql -> /srv/pgsql) keep
 * working; a link in a folder the account can write is refused: ELOOP,
 * reported as "refusing to follow symlink". openat2(RESOLVE_NO_SYMLINKS)
 * cannot express "links in safe folders only", so it is not used.
 *
 * owner: besides the link rule, a file these functions read must be a
 * regular file owned by owner, by root or by this process's user; a file
 * not owned by owner that has more than one name and sits in a folder that
 * is not safe is refused too (a hard link the account made to someone
 * else's file). FS_NO_UID skips the owner check (the link rule stays).
 *
 * Errors as everywhere in this module: reported, -1, errno kept.
 */

/*
 * fs_open_guarded - open(path, flags, mode) resolving path as above; flags
 * get O_CLOEXEC. With O_CREAT the file is created in the resolved folder and
 * a symlink in its place is never followed. No owner check: callers that
 * read use fs_read_file_guarded() or check the descriptor with
 * fs_check_owner(). Returns the descriptor, or -1 (reported, except ENOENT
 * when quiet_enoent).
 */
int fs_open_guarded(const char *path, int flags, mode_t mode, bool quiet_enoent);

/*
 * fs_check_owner - the owner rule above for an open regular file fd, path
 * naming it in the message; safe_dir tells whether its folder is safe
 * (pass false when unknown). 0, or -1 (reported, errno EPERM).
 */
int fs_check_owner(int fd, const char *path, uid_t owner, bool safe_dir);

/* fs_read_file_guarded - fs_read_file() through fs_open_guarded() and the owner rule. */
int fs_read_file_guarded(const char *path, char **buf, size_t *len, size_t max, uid_t owner);

/*
 * fs_write_atomic_guarded - fs_write_atomic() in the folder of path resolved
 * through fs_open_guarded(): the temp file is created with openat(O_EXCL |
 * O_NOFOLLOW) in that folder's descriptor, renamed with renameat() and the
 * folder synced through the same descriptor, so a folder swapped for a link
 * meanwhile changes nothing.
 */
int fs_write_atomic_guarded(const char *path, const void *data, size_t len, mode_t mode,
			    uid_t uid, gid_t gid, bool *changed);

/* fs_mkdir_p_guarded - fs_mkdir_p() resolving existing components through fs_open_guarded(). */
int fs_mkdir_p_guarded(const char *path, mode_t mode, uid_t uid, gid_t gid);

/* fs_dir_is_safe - true when the folder open at fd is safe in the sense above. */
bool fs_dir_is_safe(int fd);

/*
 * fs_open_lock_file - opens (creating it, mode 0600) the lock file path in
 * a folder another account may own, for flock(). Only a file created here
 * is given to uid/gid (FS_NO_UID: kept): an existing one may be a hard link
 * that account planted to someone else's file, which a chown would hand
 * over, so it must be a regular file with a single name, opened without
 * following a link and without blocking (a FIFO in its place). The
 * descriptor, or -1 (reported, errno kept; EPERM for a refused file).
 */
int fs_open_lock_file(const char *path, uid_t uid, gid_t gid);

#endif
