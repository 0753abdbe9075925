/*
 * common/fsutil.c - atomic writes, whole-file reads, mkdir -p, guarded access
 * as root in another account's folders (fsutil.h).
 */
#include "common/fsutil.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/log.h"
#include "common/xalloc.h"

/* fs_path_dir - the folder part of path ("." when there is none). */
char *fs_path_dir(const char *path)
{
	const char *slash = strrchr(path, '/');
	char *d;

	if (slash == NULL)
		return xstrdup(".");
	while (slash > path && slash[-1] == '/')
		slash--;
	if (slash == path)
		return xstrdup("/");
	d = xmalloc((size_t)(slash - path) + 1);
	memcpy(d, path, (size_t)(slash - path));
	d[slash - path] = '\0';
	return d;
}

static const char *base_of(const char *path)
{
	const char *slash = strrchr(path, '/');

	return slash ? slash + 1 : path;
}

int fs_write_all(int fd, const void *data, size_t len)
{
	const char *p = data;

	while (len > 0) {
		ssize_t n = write(fd, p, len);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/*
 * same_file - 1 when name (in folder dfd, or a path when dfd is AT_FDCWD)
 * already is a regular file with this content, mode and owner.
 */
static int same_file(int dfd, const char *name, const void *data, size_t len, mode_t mode,
		     uid_t uid, gid_t gid)
{
	struct stat st;
	char buf[65536];
	size_t off = 0;
	int fd, same = 0;

	if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISREG(st.st_mode))
		return 0;
	if ((st.st_mode & 07777) != (mode & 07777) || (uid != FS_NO_UID && st.st_uid != uid) ||
	    (gid != FS_NO_GID && st.st_gid != gid) || (size_t)st.st_size != len)
		return 0;
	fd = openat(dfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
	if (fd < 0)
		return 0;
	for (;;) {
		ssize_t n = read(fd, buf, sizeof(buf));

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			break;
		if (n == 0) {
			same = off == len;
			break;
		}
		if (off + (size_t)n > len || memcmp((const char *)data + off, buf, (size_t)n) != 0)
			break;
		off += (size_t)n;
	}
	close(fd);
	return same;
}

/*
 * write_atomic_in - the atomic writer. dfd is the folder's descriptor and
 * names are relative to it, or dfd is AT_FDCWD and names are paths; dir is
 * the folder's path, for messages (and for fsync when dfd is AT_FDCWD).
 */
static int write_atomic_in(int dfd, const char *dir, const char *path, const void *data,
			   size_t len, mode_t mode, uid_t uid, gid_t gid, bool *changed)
{
	static atomic_uint counter;
	const char *name = dfd == AT_FDCWD ? path : base_of(path);
	char *tmp = NULL;
	const char *tmp_name = NULL;
	int fd = -1, rc = -1, saved = 0;
	unsigned tries;

	if (changed != NULL)
		*changed = false;
	if (same_file(dfd, name, data, len, mode, uid, gid))
		return 0;

	for (tries = 0; tries < 100; tries++) {
		free(tmp);
		tmp = xasprintf("%s/.%s.tmp.%ld.%u", dir, base_of(path), (long)getpid(),
				atomic_fetch_add(&counter, 1));
		tmp_name = dfd == AT_FDCWD ? tmp : base_of(tmp);
		fd = openat(dfd, tmp_name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
		if (fd >= 0 || errno != EEXIST)
			break;
	}
	if (fd < 0) {
		saved = errno;
		log_error("could not create temporary file \"%s\": %s", tmp, strerror(saved));
		free(tmp);
		tmp = NULL;
		goto cleanup;
	}
	if (fs_write_all(fd, data, len) != 0) {
		saved = errno;
		log_error("could not write file \"%s\": %s", tmp, strerror(saved));
		goto cleanup;
	}
	/* fchown before fchmod: changing the owner may clear set-id bits. */
	if ((uid != FS_NO_UID || gid != FS_NO_GID) && fchown(fd, uid, gid) != 0) {
		saved = errno;
		log_error("could not change owner of file \"%s\": %s", tmp, strerror(saved));
		goto cleanup;
	}
	if (fchmod(fd, mode) != 0) {
		saved = errno;
		log_error("could not change mode of file \"%s\": %s", tmp, strerror(saved));
		goto cleanup;
	}
	if (fsync(fd) != 0) {
		saved = errno;
		log_error("could not fsync file \"%s\": %s", tmp, strerror(saved));
		goto cleanup;
	}
	if (close(fd) != 0) {
		fd = -1;
		saved = errno;
		log_error("could not close file \"%s\": %s", tmp, strerror(saved));
		goto cleanup;
	}
	fd = -1;
	if (renameat(dfd, tmp_name, dfd, name) != 0) {
		saved = errno;
		log_error("could not rename file \"%s\" to \"%s\": %s", tmp, path, strerror(saved));
		goto cleanup;
	}
	free(tmp);
	tmp = NULL;
	if (changed != NULL)
		*changed = true;
	/* The new content is in place; only its durability depends on this. */
	if (dfd == AT_FDCWD ? fs_fsync_dir(dir) != 0 : fsync(dfd) != 0) {
		saved = errno;
		if (dfd != AT_FDCWD)
			log_error("could not fsync folder \"%s\": %s", dir, strerror(saved));
		goto cleanup;
	}
	rc = 0;

cleanup:
	if (fd >= 0)
		close(fd);
	if (tmp != NULL)
		unlinkat(dfd, tmp_name, 0);
	free(tmp);
	errno = saved;
	return rc;
}

int fs_write_atomic(const char *path, const void *data, size_t len, mode_t mode, uid_t uid,
		    gid_t gid, bool *changed)
{
	char *dir = fs_path_dir(path);
	int rc = write_atomic_in(AT_FDCWD, dir, path, data, len, mode, uid, gid, changed);
	int saved = errno;

	free(dir);
	errno = saved;
	return rc;
}

/* read_fd - fs_read_file() on an open descriptor, which it closes. */
static int read_fd(int fd, const char *path, char **buf, size_t *len, size_t max)
{
	char *data = NULL;
	size_t n = 0, cap = 0;
	int saved;

	for (;;) {
		ssize_t r;

		if (n + 1 >= cap) {
			char *p;

			cap = cap ? cap * 2 : 4096;
			p = realloc(data, cap);
			if (p == NULL)
				abort();
			data = p;
		}
		/* Read one byte past max so that "exactly max" and "more" differ. */
		r = read(fd, data + n, cap - n - 1);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			saved = errno;
			log_error("could not read file \"%s\": %s", path, strerror(saved));
			goto fail;
		}
		if (r == 0)
			break;
		n += (size_t)r;
		if (n > max) {
			saved = EFBIG;
			log_error("could not read file \"%s\": larger than %zu bytes", path, max);
			goto fail;
		}
	}
	close(fd);
	data[n] = '\0';
	*buf = data;
	*len = n;
	return 0;

fail:
	close(fd);
	free(data);
	errno = saved;
	return -1;
}

int fs_open_read(const char *path, const char *what)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC), saved;

	if (fd >= 0)
		return fd;
	if (errno == ENOENT)
		return -2;
	saved = errno;
	log_error("could not open %s \"%s\": %s", what, path, strerror(saved));
	errno = saved;
	return -1;
}

int fs_read_file(const char *path, char **buf, size_t *len, size_t max)
{
	int fd;

	*buf = NULL;
	*len = 0;
	fd = fs_open_read(path, "file");
	if (fd < 0)
		return fd == -2 ? 1 : -1;
	return read_fd(fd, path, buf, len, max);
}

int fs_fsync_dir(const char *path)
{
	int fd, saved;

	fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0) {
		saved = errno;
		log_error("could not open folder \"%s\": %s", path, strerror(saved));
		errno = saved;
		return -1;
	}
	if (fsync(fd) != 0) {
		saved = errno;
		log_error("could not fsync folder \"%s\": %s", path, strerror(saved));
		close(fd);
		errno = saved;
		return -1;
	}
	close(fd);
	return 0;
}

/* mkdir_one - creates one folder (prefix of the full path) unless it exists. */
static int mkdir_one(const char *dir, mode_t mode, uid_t uid, gid_t gid)
{
	struct stat st;
	char *parent;
	int saved, rc, fd;

	if (mkdir(dir, mode) != 0) {
		saved = errno;
		if (saved == EEXIST && stat(dir, &st) == 0 && S_ISDIR(st.st_mode))
			return 0;
		if (saved == EEXIST)
			log_error("could not create folder \"%s\": a file of that name exists", dir);
		else
			log_error("could not create folder \"%s\": %s", dir, strerror(saved));
		errno = saved == EEXIST ? ENOTDIR : saved;
		return -1;
	}
	/* mkdir() applied the umask; the caller asked for exactly mode. Through
	 * a descriptor opened without following: a symlink swapped in for the
	 * new folder does not pass its new owner on. */
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0) {
		saved = errno;
		log_error("could not open folder \"%s\": %s", dir, strerror(saved));
		errno = saved;
		return -1;
	}
	if ((uid != FS_NO_UID || gid != FS_NO_GID) && fchown(fd, uid, gid) != 0) {
		saved = errno;
		log_error("could not change owner of folder \"%s\": %s", dir, strerror(saved));
		close(fd);
		errno = saved;
		return -1;
	}
	if (fchmod(fd, mode) != 0) {
		saved = errno;
		log_error("could not change mode of folder \"%s\": %s", dir, strerror(saved));
		close(fd);
		errno = saved;
		return -1;
	}
	close(fd);
	parent = fs_path_dir(dir);
	rc = fs_fsync_dir(parent);
	free(parent);
	return rc;
}

int fs_mkdir_p(const char *path, mode_t mode, uid_t uid, gid_t gid)
{
	char *p = xstrdup(path);
	char *s = p;
	int rc = 0;

	while (*s == '/')
		s++;
	while (rc == 0 && *s != '\0') {
		char *slash = strchr(s, '/');

		if (slash == NULL) {
			rc = mkdir_one(p, mode, uid, gid);
			break;
		}
		*slash = '\0';
		rc = mkdir_one(p, mode, uid, gid);
		*slash = '/';
		s = slash;
		while (*s == '/')
			s++;
	}
	free(p);
	return rc;
}

int fs_is_dir_empty(const char *path)
{
	struct dirent *de;
	DIR *d;
	int saved;

	d = opendir(path);
	if (d == NULL) {
		saved = errno;
		log_error("could not open folder \"%s\": %s", path, strerror(saved));
		errno = saved;
		return -1;
	}
	errno = 0;
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0) {
			closedir(d);
			return 0;
		}
	}
	saved = errno;
	closedir(d);
	if (saved != 0) {
		log_error("could not read folder \"%s\": %s", path, strerror(saved));
		errno = saved;
		return -1;
	}
	return 1;
}

bool fs_exists(const char *path)
{
	struct stat st;

	return lstat(path, &st) == 0;
}

/* ---- guarded access: root working in another account's folders ----------------- */

/* The kernel's own limit on links followed while resolving one path. */
#define GUARD_MAX_LINKS 40

bool fs_dir_is_safe(int fd)
{
	struct stat st;

	if (fstat(fd, &st) != 0 || !S_ISDIR(st.st_mode))
		return false;
	return (st.st_uid == 0 || st.st_uid == geteuid()) && (st.st_mode & (S_IWGRP | S_IWOTH)) == 0;
}

/* read_link - the target of the link name in folder dfd ("" for dfd itself), malloc'd; NULL (errno). */
static char *read_link(int dfd, const char *name)
{
	char buf[PATH_MAX];
	ssize_t n = readlinkat(dfd, name, buf, sizeof buf - 1);

	if (n < 0)
		return NULL;
	if (n == 0) {
		errno = ENOENT;
		return NULL;
	}
	buf[n] = '\0';
	return xstrdup(buf);
}

/* refuse_link - reports the refusal to follow link name met while resolving path. */
static void refuse_link(const char *path, const char *name)
{
	log_error("could not open \"%s\": refusing to follow symlink \"%s\": it is in a folder "
		  "that another account can change\n"
		  "hint: put the file or folder itself there, not a link",
		  path, name);
	errno = ELOOP;
}

/*
 * follow - the path to resolve next after meeting link name (in folder dfd)
 * with rest still to walk: "<target>/<rest>". Checks the folder is safe and
 * counts the link. NULL (reported) when the link must not be followed.
 */
static char *follow(int dfd, const char *name, const char *rest, const char *shown, int *links)
{
	char *target, *next;

	if (!fs_dir_is_safe(dfd)) {
		refuse_link(shown, name);
		return NULL;
	}
	if (++*links > GUARD_MAX_LINKS) {
		log_error("could not open \"%s\": %s", shown, strerror(ELOOP));
		errno = ELOOP;
		return NULL;
	}
	target = read_link(dfd, name);
	if (target == NULL) {
		int saved = errno;

		log_error("could not read symlink \"%s\" in \"%s\": %s", name, shown, strerror(saved));
		errno = saved;
		return NULL;
	}
	next = *rest != '\0' ? xasprintf("%s/%s", target, rest) : target;
	if (next != target)
		free(target);
	return next;
}

/*
 * resolve_parent - a descriptor (O_PATH) of the folder holding the last
 * component of path, that component in *last (malloc'd; "." when there is
 * none, as in "/"), following only links in safe folders. A relative path
 * starts at folder start (AT_FDCWD: the current folder). shown names the
 * path in messages; a missing component is not reported when quiet.
 */
static int resolve_parent(int start, const char *path, const char *shown, int *links,
			  bool quiet, char **last)
{
	char *todo = xstrdup(path), *p = todo;
	int dfd = openat(todo[0] == '/' ? AT_FDCWD : start, todo[0] == '/' ? "/" : ".",
			 O_PATH | O_DIRECTORY | O_CLOEXEC);
	int saved;

	if (dfd < 0)
		goto fail;
	for (;;) {
		char *comp, *rest, *next;
		struct stat st;
		int fd;

		while (*p == '/')
			p++;
		comp = p;
		while (*p != '\0' && *p != '/')
			p++;
		rest = p;
		while (*rest == '/')
			rest++;
		if (*rest == '\0') {
			*p = '\0';
			*last = xstrdup(*comp != '\0' ? comp : ".");
			free(todo);
			return dfd;
		}
		*p = '\0';
		fd = openat(dfd, comp, O_PATH | O_NOFOLLOW | O_CLOEXEC);
		if (fd < 0)
			goto fail;
		if (fstat(fd, &st) != 0) {
			saved = errno;
			close(fd);
			errno = saved;
			goto fail;
		}
		if (S_ISDIR(st.st_mode)) {
			close(dfd);
			dfd = fd;
			p = rest;
			continue;
		}
		close(fd);
		if (!S_ISLNK(st.st_mode)) {
			errno = ENOTDIR;
			goto fail;
		}
		next = follow(dfd, comp, rest, shown, links);
		if (next == NULL) {
			saved = errno;
			close(dfd);
			free(todo);
			errno = saved;
			return -1;
		}
		if (next[0] == '/') {
			close(dfd);
			dfd = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
			if (dfd < 0) {
				free(next);
				goto fail;
			}
		}
		free(todo);
		todo = p = next;
	}

fail:
	saved = errno;
	if (!(quiet && saved == ENOENT))
		log_error("could not open \"%s\": %s", shown, strerror(saved));
	if (dfd >= 0)
		close(dfd);
	free(todo);
	errno = saved;
	return -1;
}

/* open_guarded - fs_open_guarded(); *safe_dir (may be NULL) tells whether the file's folder is safe. */
static int open_guarded(const char *path, int flags, mode_t mode, bool quiet, bool *safe_dir)
{
	char *todo = xstrdup(path), *last = NULL;
	int links = 0, start = AT_FDCWD, saved;

	for (;;) {
		struct stat st;
		char *next;
		int dfd = resolve_parent(start, todo, path, &links, quiet, &last), fd;

		if (start != AT_FDCWD)
			close(start);
		start = AT_FDCWD;
		if (dfd < 0) {
			saved = errno;
			break;
		}
		fd = openat(dfd, last, flags | O_NOFOLLOW | O_CLOEXEC, mode);
		saved = errno;
		if (fd >= 0) {
			if (safe_dir != NULL)
				*safe_dir = fs_dir_is_safe(dfd);
			close(dfd);
			free(last);
			free(todo);
			return fd;
		}
		/* O_NOFOLLOW met a link (ELOOP, or ENOTDIR with O_DIRECTORY). */
		if ((saved != ELOOP && saved != ENOTDIR) ||
		    fstatat(dfd, last, &st, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISLNK(st.st_mode)) {
			if (!(quiet && saved == ENOENT))
				log_error("could not open \"%s\": %s", path, strerror(saved));
			close(dfd);
			break;
		}
		next = follow(dfd, last, "", path, &links);
		if (next == NULL) {
			saved = errno;
			close(dfd);
			break;
		}
		/* The target is relative to the link's folder. */
		start = dfd;
		free(todo);
		free(last);
		last = NULL;
		todo = next;
	}
	free(last);
	free(todo);
	errno = saved;
	return -1;
}

int fs_open_guarded(const char *path, int flags, mode_t mode, bool quiet_enoent)
{
	return open_guarded(path, flags, mode, quiet_enoent, NULL);
}

int fs_check_owner(int fd, const char *path, uid_t owner, bool safe_dir)
{
	struct stat st;

	if (fstat(fd, &st) != 0) {
		int saved = errno;

		log_error("could not stat \"%s\": %s", path, strerror(saved));
		errno = saved;
		return -1;
	}
	if (!S_ISREG(st.st_mode)) {
		log_error("refusing to read \"%s\": it is not a regular file", path);
		errno = EINVAL;
		return -1;
	}
	if (owner == FS_NO_UID || st.st_uid == owner)
		return 0;
	if (st.st_uid != 0 && st.st_uid != geteuid()) {
		log_error("refusing to read \"%s\": it belongs to uid %u, neither the servers' "
			  "account (uid %u) nor root",
			  path, (unsigned)st.st_uid, (unsigned)owner);
		errno = EPERM;
		return -1;
	}
	/* Only a hard link lets another account put root's file in its own folder. */
	if (st.st_nlink > 1 && !safe_dir) {
		log_error("refusing to read \"%s\": it belongs to uid %u and has %lu names, in a "
			  "folder that another account can change (a hard link?)",
			  path, (unsigned)st.st_uid, (unsigned long)st.st_nlink);
		errno = EPERM;
		return -1;
	}
	return 0;
}

int fs_read_file_guarded(const char *path, char **buf, size_t *len, size_t max, uid_t owner)
{
	bool safe = false;
	int fd, saved;

	*buf = NULL;
	*len = 0;
	/* O_NONBLOCK: a FIFO planted in place of the file must not hang the open. */
	fd = open_guarded(path, O_RDONLY | O_NONBLOCK | O_NOCTTY, 0, true, &safe);
	if (fd < 0)
		return errno == ENOENT ? 1 : -1;
	if (fs_check_owner(fd, path, owner, safe) != 0) {
		saved = errno;
		close(fd);
		errno = saved;
		return -1;
	}
	return read_fd(fd, path, buf, len, max);
}

int fs_write_atomic_guarded(const char *path, const void *data, size_t len, mode_t mode,
			    uid_t uid, gid_t gid, bool *changed)
{
	char *dir = fs_path_dir(path);
	int dfd = open_guarded(dir, O_RDONLY | O_DIRECTORY, 0, false, NULL), rc = -1, saved;

	if (changed != NULL)
		*changed = false;
	if (dfd >= 0) {
		rc = write_atomic_in(dfd, dir, path, data, len, mode, uid, gid, changed);
		saved = errno;
		close(dfd);
		errno = saved;
	}
	saved = errno;
	free(dir);
	errno = saved;
	return rc;
}

int fs_mkdir_p_guarded(const char *path, mode_t mode, uid_t uid, gid_t gid)
{
	char *parent, *name;
	int dfd, fd, rc = -1, saved;

	dfd = open_guarded(path, O_RDONLY | O_DIRECTORY, 0, true, NULL);
	if (dfd >= 0) {
		close(dfd);
		return 0;
	}
	if (errno != ENOENT)
		return -1;
	if (path[0] != '\0' && path[strlen(path) - 1] == '/') {
		/* "a/b/": the folder is "a/b" (fs_path_dir and base_of see an empty last name). */
		char *trimmed = xstrdup(path);
		size_t n = strlen(trimmed);

		while (n > 1 && trimmed[n - 1] == '/')
			trimmed[--n] = '\0';
		rc = strcmp(trimmed, path) != 0 ? fs_mkdir_p_guarded(trimmed, mode, uid, gid) : -1;
		saved = errno;
		free(trimmed);
		errno = saved;
		return rc;
	}
	parent = fs_path_dir(path);
	name = xstrdup(base_of(path));
	if (strcmp(parent, path) == 0 || fs_mkdir_p_guarded(parent, mode, uid, gid) != 0)
		goto out;
	dfd = open_guarded(parent, O_RDONLY | O_DIRECTORY, 0, false, NULL);
	if (dfd < 0)
		goto out;
	/* Made by someone else meanwhile: what matters is what is there now. */
	if (mkdirat(dfd, name, mode) != 0 && errno != EEXIST) {
		saved = errno;
		log_error("could not create folder \"%s\": %s", path, strerror(saved));
		close(dfd);
		errno = saved;
		goto out;
	}
	fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0) {
		saved = errno;
		if (saved == ENOTDIR || saved == ELOOP)
			log_error("could not create folder \"%s\": a file of that name exists", path);
		else
			log_error("could not open folder \"%s\": %s", path, strerror(saved));
		close(dfd);
		errno = saved == ELOOP ? ENOTDIR : saved;
		goto out;
	}
	/* mkdir() applied the umask; the caller asked for exactly mode. */
	saved = 0;
	if ((uid != FS_NO_UID || gid != FS_NO_GID) && fchown(fd, uid, gid) != 0) {
		saved = errno;
		log_error("could not change owner of folder \"%s\": %s", path, strerror(saved));
	} else if (fchmod(fd, mode) != 0) {
		saved = errno;
		log_error("could not change mode of folder \"%s\": %s", path, strerror(saved));
	} else if (fsync(dfd) != 0) {
		saved = errno;
		log_error("could not fsync folder \"%s\": %s", parent, strerror(saved));
	} else {
		rc = 0;
	}
	close(fd);
	close(dfd);
	errno = saved;
out:
	saved = errno;
	free(parent);
	free(name);
	errno = saved;
	return rc;
}

int fs_open_lock_file(const char *path, uid_t uid, gid_t gid)
{
	struct stat st;
	int fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600), saved;

	if (fd >= 0) {
		if ((uid != FS_NO_UID || gid != FS_NO_GID) && fchown(fd, uid, gid) != 0)
			log_debug("could not change owner of \"%s\": %s", path, strerror(errno));
		return fd;
	}
	if (errno == EEXIST)
		fd = open(path, O_RDWR | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY);
	if (fd < 0) {
		saved = errno;
		log_error("could not open lock file \"%s\": %s", path, strerror(saved));
		errno = saved;
		return -1;
	}
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_nlink != 1) {
		log_error("refusing to use lock file \"%s\": it is not a regular file with a single "
			  "name (a link?)\n"
			  "hint: remove it; pgconverge makes a new one",
			  path);
		close(fd);
		errno = EPERM;
		return -1;
	}
	return fd;
}
