/*
 * common/fstree.c - removing trees and creating folders without following
 * links (fstree.h).
 */
#include "common/fstree.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/fsutil.h"
#include "common/log.h"
#include "common/xalloc.h"

/* ---- removing trees and creating folders without following links ---------- */

/* Deeper than any tree pgconverge removes (a data directory is a few levels). */
#define REMOVE_MAX_DEPTH 64

/*
 * relative_below - the part of path below parent, both normalised
 * (fs_path_is_inside() checked by the caller); malloc'd.
 */
static char *relative_below(const char *parent, const char *path)
{
	char *p = fs_path_normalize(parent), *c = fs_path_normalize(path), *rel;

	if (strcmp(p, "/") == 0)
		rel = xstrdup(c + 1);
	else if (strcmp(p, ".") == 0)
		rel = xstrdup(c);
	else
		rel = xstrdup(c + strlen(p) + 1);
	free(p);
	free(c);
	return rel;
}

/*
 * kind_of - what name in the folder at dir_fd is, when opening it as a
 * folder without following failed with ELOOP or ENOTDIR (Linux gives
 * ENOTDIR for a symlink when O_DIRECTORY is also set).
 */
static const char *kind_of(int dir_fd, const char *name)
{
	struct stat st;

	if (fstatat(dir_fd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK(st.st_mode))
		return "a symbolic link";
	return "a file";
}

/*
 * open_container - the folder holding path's last component, reached from
 * parent (opened as given) one component at a time with O_NOFOLLOW, and
 * that component in *leaf (malloc'd). Returns the folder's fd; -2 when a
 * component does not exist (nothing logged: nothing to remove); -1 on
 * error (reported, a symlink on the way included).
 */
static int open_container(const char *parent, const char *path, char **leaf)
{
	char *rel, *comp, *slash, *shown = NULL;
	int fd, saved;

	*leaf = NULL;
	if (!fs_path_is_inside(parent, path)) {
		log_error("refusing to remove \"%s\": it is not inside \"%s\"", path, parent);
		errno = EINVAL;
		return -1;
	}
	fd = open(parent, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0) {
		saved = errno;
		if (saved == ENOENT)
			return -2;
		log_error("could not open folder \"%s\": %s", parent, strerror(saved));
		errno = saved;
		return -1;
	}
	rel = relative_below(parent, path);
	comp = rel;
	while ((slash = strchr(comp, '/')) != NULL) {
		int next;

		*slash = '\0';
		next = openat(fd, comp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		saved = errno;
		if (next < 0) {
			if (saved == ENOENT) {
				close(fd);
				free(rel);
				return -2;
			}
			shown = xasprintf("%s/%s", parent, rel);
			if (saved == ELOOP || saved == ENOTDIR)
				log_error("refusing to remove \"%s\": \"%s\" is %s, not a folder", path,
					  shown, kind_of(fd, comp));
			else
				log_error("could not open folder \"%s\": %s", shown, strerror(saved));
			close(fd);
			free(shown);
			free(rel);
			errno = saved;
			return -1;
		}
		close(fd);
		fd = next;
		*slash = '/';
		comp = slash + 1;
	}
	*leaf = xstrdup(comp);
	free(rel);
	return fd;
}

/*
 * remove_at - removes name (shown as shown) from the folder at dir_fd, and
 * everything below it when it is a folder on file system dev. A symlink is
 * unlinked itself. 0, or -1 (reported).
 */
static int remove_at(int dir_fd, const char *name, const char *shown, dev_t dev, int depth);

/*
 * remove_children - removes everything in the open folder d (shown names it
 * in messages) with remove_at(), each entry at depth. 0, or -1 with errno
 * of the last failure (each reported).
 */
static int remove_children(DIR *d, const char *shown, dev_t dev, int depth)
{
	struct dirent *de;
	int rc = 0, saved = 0;

	for (;;) {
		char *child;

		errno = 0;
		de = readdir(d);
		if (de == NULL) {
			if (errno != 0) {
				saved = errno;
				log_error("could not read folder \"%s\": %s", shown, strerror(saved));
				rc = -1;
			}
			break;
		}
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		child = xasprintf("%s/%s", shown, de->d_name);
		if (remove_at(dirfd(d), de->d_name, child, dev, depth) != 0) {
			saved = errno;
			rc = -1;
		}
		free(child);
	}
	errno = saved;
	return rc;
}

static int remove_at(int dir_fd, const char *name, const char *shown, dev_t dev, int depth)
{
	struct stat st, opened;
	DIR *d;
	int fd, rc = 0, saved;

	if (fstatat(dir_fd, name, &st, AT_SYMLINK_NOFOLLOW) != 0) {
		if (errno == ENOENT)
			return 0;
		saved = errno;
		log_error("could not stat \"%s\": %s", shown, strerror(saved));
		errno = saved;
		return -1;
	}
	if (!S_ISDIR(st.st_mode)) {
		if (unlinkat(dir_fd, name, 0) != 0 && errno != ENOENT) {
			saved = errno;
			log_error("could not remove \"%s\": %s", shown, strerror(saved));
			errno = saved;
			return -1;
		}
		return 0;
	}
	if (st.st_dev != dev || depth > REMOVE_MAX_DEPTH) {
		log_error("refusing to remove \"%s\": %s", shown,
			  st.st_dev != dev ? "it is on another file system (a mount point)"
					   : "the tree is deeper than any pgconverge creates");
		errno = st.st_dev != dev ? EXDEV : ELOOP;
		return -1;
	}
	fd = openat(dir_fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0) {
		saved = errno;
		log_error("could not open folder \"%s\": %s", shown, strerror(saved));
		errno = saved;
		return -1;
	}
	/* Swapped for another folder between the two looks: not what was examined. */
	if (fstat(fd, &opened) != 0 || opened.st_dev != st.st_dev || opened.st_ino != st.st_ino) {
		log_error("refusing to remove \"%s\": it changed while being removed", shown);
		close(fd);
		errno = EAGAIN;
		return -1;
	}
	d = fdopendir(fd);
	if (d == NULL) {
		saved = errno;
		log_error("could not read folder \"%s\": %s", shown, strerror(saved));
		close(fd);
		errno = saved;
		return -1;
	}
	rc = remove_children(d, shown, dev, depth + 1);
	saved = errno;
	closedir(d);
	if (rc != 0) {
		errno = saved;
		return -1;
	}
	if (unlinkat(dir_fd, name, AT_REMOVEDIR) != 0 && errno != ENOENT) {
		saved = errno;
		log_error("could not remove folder \"%s\": %s", shown, strerror(saved));
		errno = saved;
		return -1;
	}
	return 0;
}

int fs_remove_tree(const char *parent, const char *path)
{
	struct stat st;
	char *leaf;
	int fd = open_container(parent, path, &leaf), rc, saved;

	if (fd == -2)
		return 0;
	if (fd < 0)
		return -1;
	if (fstat(fd, &st) != 0) {
		saved = errno;
		log_error("could not stat the folder holding \"%s\": %s", path, strerror(saved));
		rc = -1;
	} else {
		rc = remove_at(fd, leaf, path, st.st_dev, 0);
		saved = errno;
	}
	close(fd);
	free(leaf);
	errno = saved;
	return rc;
}

int fs_empty_dir(const char *path)
{
	struct stat st;
	DIR *d;
	int fd = fs_open_guarded(path, O_RDONLY | O_DIRECTORY, 0, true), rc, saved;

	if (fd < 0)
		return errno == ENOENT ? 0 : -1;
	if (fstat(fd, &st) != 0 || (d = fdopendir(fd)) == NULL) {
		saved = errno;
		log_error("could not read folder \"%s\": %s", path, strerror(saved));
		close(fd);
		errno = saved;
		return -1;
	}
	rc = remove_children(d, path, st.st_dev, 1);
	saved = errno;
	closedir(d);
	errno = saved;
	return rc;
}

int fs_remove_inside(const char *parent, const char *path, bool folder)
{
	struct stat st;
	char *leaf;
	int fd = open_container(parent, path, &leaf), rc = 0, saved = 0;

	if (fd == -2)
		return 0;
	if (fd < 0)
		return -1;
	if (fstatat(fd, leaf, &st, AT_SYMLINK_NOFOLLOW) != 0) {
		if (errno != ENOENT) {
			saved = errno;
			log_error("could not stat \"%s\": %s", path, strerror(saved));
			rc = -1;
		}
	} else if (folder != S_ISDIR(st.st_mode)) {
		log_error("refusing to remove \"%s\": it is %s", path,
			  folder ? "not a folder" : "a folder");
		saved = folder ? ENOTDIR : EISDIR;
		rc = -1;
	} else if (unlinkat(fd, leaf, folder ? AT_REMOVEDIR : 0) != 0 && errno != ENOENT) {
		saved = errno;
		if (folder && (saved == ENOTEMPTY || saved == EEXIST)) {
			rc = 1;
		} else {
			log_error("could not remove \"%s\": %s", path, strerror(saved));
			rc = -1;
		}
	}
	close(fd);
	free(leaf);
	errno = saved;
	return rc;
}

int fs_mkdirat(int dir_fd, const char *name, const char *shown, mode_t mode, uid_t uid, gid_t gid,
	       bool follow_existing, bool *created)
{
	int fd, saved;
	bool made = mkdirat(dir_fd, name, mode) == 0;

	if (created != NULL)
		*created = made;
	if (!made && errno != EEXIST) {
		saved = errno;
		log_error("could not create folder \"%s\": %s", shown, strerror(saved));
		errno = saved;
		return -1;
	}
	/* What was just made is opened without following: nothing else gets its owner. */
	fd = openat(dir_fd, name,
		    O_RDONLY | O_DIRECTORY | O_CLOEXEC | (made || !follow_existing ? O_NOFOLLOW : 0));
	if (fd < 0) {
		saved = errno;
		if (saved == ELOOP || saved == ENOTDIR)
			log_error("could not create folder \"%s\": %s of that name exists", shown,
				  kind_of(dir_fd, name));
		else
			log_error("could not open folder \"%s\": %s", shown, strerror(saved));
		errno = saved;
		return -1;
	}
	if (!made)
		return fd;
	/* mkdirat() applied the umask; fchown before fchmod (it may clear set-id bits). */
	if ((uid != FS_NO_UID || gid != FS_NO_GID) && fchown(fd, uid, gid) != 0) {
		saved = errno;
		log_error("could not change owner of folder \"%s\": %s", shown, strerror(saved));
		goto fail;
	}
	if (fchmod(fd, mode) != 0) {
		saved = errno;
		log_error("could not change mode of folder \"%s\": %s", shown, strerror(saved));
		goto fail;
	}
	if (fsync(dir_fd) != 0) {
		saved = errno;
		log_error("could not fsync the folder holding \"%s\": %s", shown, strerror(saved));
		goto fail;
	}
	return fd;
fail:
	close(fd);
	errno = saved;
	return -1;
}
