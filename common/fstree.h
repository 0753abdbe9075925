/*
 * common/fstree.h - removing trees, emptying folders and creating folders
 * below a given parent without ever following a symlink planted on the way
 * (openat/unlinkat with O_NOFOLLOW, one component at a time), for root
 * working in folders another account owns.
 *
 * Errors as in common/fsutil.h: 0 on success, -1 after reporting the
 * failure with log_error(), errno kept.
 */
#ifndef PGC_COMMON_FSTREE_H
#define PGC_COMMON_FSTREE_H

#include <stdbool.h>
#include <sys/types.h>

/*
 * fs_remove_tree - removes path and everything below it. path must lie
 * strictly inside parent (fs_path_is_inside); parent is opened as given (a
 * folder the caller chose: it may be or lie below a symlink), and from
 * there every component of path and everything in the tree is reached with
 * openat(O_NOFOLLOW | O_DIRECTORY) relative to the folder above it and
 * removed with unlinkat(): a symlink below parent, whoever planted it and
 * whenever, is never followed. One in the middle of path is refused; one
 * at path or inside the tree is removed itself. The removal never crosses
 * into another file system (a mount point in the tree is refused).
 * 0 (also when path is absent), -1 on error (reported; what could be
 * removed is gone).
 */
int fs_remove_tree(const char *parent, const char *path);

/*
 * fs_empty_dir - removes everything inside the folder path and keeps the
 * folder itself (it may be a mount point). path is opened as
 * fs_open_guarded() does (an administrator's link on the way is followed,
 * one planted in another account's folder is not); everything below it is
 * removed as fs_remove_tree() removes a tree, following no link and never
 * crossing into another file system. 0 (also when path is absent), -1 on
 * error (reported; what could be removed is gone).
 */
int fs_empty_dir(const char *path);

/*
 * fs_remove_inside - removes the one file (or symlink) at path, or with
 * folder true the empty folder at path, reached below parent as in
 * fs_remove_tree(). 0 when removed or absent; 1 when folder is true and the
 * folder is not empty (nothing logged); -1 on error (reported, also when
 * path is a folder and folder is false, or the other way round).
 */
int fs_remove_inside(const char *parent, const char *path, bool folder);

/*
 * fs_mkdirat - creates folder name in the folder open at dir_fd unless it
 * exists, and returns it opened (O_RDONLY | O_DIRECTORY). A folder created
 * here is opened with O_NOFOLLOW and given exactly mode and (unless -1)
 * owner uid/gid through that descriptor, and dir_fd is fsynced: a symlink
 * swapped in never passes the owner on. An existing folder is left as it
 * is; an existing symlink is refused unless follow_existing (a configured
 * path the administrator may have made a link). shown is name's path for
 * messages. *created (may be NULL) tells whether it was made. The
 * descriptor (caller closes it), or -1 (reported).
 */
int fs_mkdirat(int dir_fd, const char *name, const char *shown, mode_t mode, uid_t uid, gid_t gid,
	       bool follow_existing, bool *created);

#endif
