/*
 * common/fsutil.c - atomic writes, whole-file reads, mkdir -p, path arithmetic.
 */
#include "common/fsutil.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/log.h"

static void *xmalloc(size_t n)
{
	void *p = malloc(n);

	if (p == NULL)
		abort();
	return p;
}

static char *xstrdup(const char *s)
{
	char *p = strdup(s);

	if (p == NULL)
		abort();
	return p;
}

static char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *xasprintf(const char *fmt, ...)
{
	va_list ap;
	char *s;

	va_start(ap, fmt);
	if (vasprintf(&s, fmt, ap) < 0)
		abort();
	va_end(ap);
	return s;
}

/* dir_of - the folder part of path ("." when there is none). */
static char *dir_of(const char *path)
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

/* same_file - 1 when path already is a regular file with this content, mode and owner. */
static int same_file(const char *path, const void *data, size_t len, mode_t mode, uid_t uid,
		     gid_t gid)
{
	struct stat st;
	char buf[65536];
	size_t off = 0;
	int fd, same = 0;

	if (lstat(path, &st) != 0 || !S_ISREG(st.st_mode))
		return 0;
	if ((st.st_mode & 07777) != (mode & 07777) || (uid != FS_NO_UID && st.st_uid != uid) ||
	    (gid != FS_NO_GID && st.st_gid != gid) || (size_t)st.st_size != len)
		return 0;
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
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

int fs_write_atomic(const char *path, const void *data, size_t len, mode_t mode, uid_t uid,
		    gid_t gid, bool *changed)
{
	static atomic_uint counter;
	char *dir = NULL, *tmp = NULL;
	int fd = -1, rc = -1, saved = 0;
	unsigned tries;

	if (changed != NULL)
		*changed = false;
	if (same_file(path, data, len, mode, uid, gid))
		return 0;

	dir = dir_of(path);
	for (tries = 0; tries < 100; tries++) {
		free(tmp);
		tmp = xasprintf("%s/.%s.tmp.%ld.%u", dir, base_of(path), (long)getpid(),
				atomic_fetch_add(&counter, 1));
		fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
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
	if (rename(tmp, path) != 0) {
		saved = errno;
		log_error("could not rename file \"%s\" to \"%s\": %s", tmp, path, strerror(saved));
		goto cleanup;
	}
	free(tmp);
	tmp = NULL;
	if (changed != NULL)
		*changed = true;
	/* The new content is in place; only its durability depends on this. */
	if (fs_fsync_dir(dir) != 0) {
		saved = errno;
		goto cleanup;
	}
	rc = 0;

cleanup:
	if (fd >= 0)
		close(fd);
	if (tmp != NULL)
		unlink(tmp);
	free(tmp);
	free(dir);
	errno = saved;
	return rc;
}

int fs_read_file(const char *path, char **buf, size_t *len, size_t max)
{
	char *data = NULL;
	size_t n = 0, cap = 0;
	int fd, saved;

	*buf = NULL;
	*len = 0;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		if (errno == ENOENT)
			return 1;
		saved = errno;
		log_error("could not open file \"%s\": %s", path, strerror(saved));
		errno = saved;
		return -1;
	}
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
	parent = dir_of(dir);
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

char *fs_path_join(const char *dir, const char *name)
{
	size_t dl = strlen(dir);

	if (name[0] == '/' || dl == 0)
		return xstrdup(name);
	while (dl > 1 && dir[dl - 1] == '/')
		dl--;
	if (dir[dl - 1] == '/')
		return xasprintf("%.*s%s", (int)dl, dir, name);
	return xasprintf("%.*s/%s", (int)dl, dir, name);
}

char *fs_path_normalize(const char *path)
{
	bool absolute = path[0] == '/';
	/* Components are kept as (start, length) into path; never more than half its length + 1. */
	size_t max = strlen(path) / 2 + 2;
	const char **start = xmalloc(max * sizeof(*start));
	size_t *clen = xmalloc(max * sizeof(*clen));
	size_t n = 0, i, total = 2;
	const char *p = path;
	char *out, *o;

	while (*p != '\0') {
		const char *c;
		size_t l;

		while (*p == '/')
			p++;
		c = p;
		while (*p != '\0' && *p != '/')
			p++;
		l = (size_t)(p - c);
		if (l == 0 || (l == 1 && c[0] == '.'))
			continue;
		if (l == 2 && c[0] == '.' && c[1] == '.') {
			if (n > 0 && !(clen[n - 1] == 2 && start[n - 1][0] == '.' &&
				       start[n - 1][1] == '.')) {
				n--;
				continue;
			}
			if (absolute)
				continue; /* "/.." is "/" */
		}
		start[n] = c;
		clen[n] = l;
		n++;
	}
	for (i = 0; i < n; i++)
		total += clen[i] + 1;
	out = o = xmalloc(total);
	if (absolute)
		*o++ = '/';
	for (i = 0; i < n; i++) {
		if (i > 0)
			*o++ = '/';
		memcpy(o, start[i], clen[i]);
		o += clen[i];
	}
	if (o == out)
		*o++ = '.';
	*o = '\0';
	free(start);
	free(clen);
	return out;
}

char *fs_path_resolve(const char *base, const char *rel)
{
	char *cwd = NULL, *abs_base = NULL, *joined, *out;

	if (rel[0] == '/')
		return fs_path_normalize(rel);
	if (base == NULL || base[0] != '/') {
		cwd = getcwd(NULL, 0);
		if (cwd == NULL) {
			int saved = errno;

			log_error("could not resolve path \"%s\": current folder unknown: %s", rel,
				  strerror(saved));
			errno = saved;
			return NULL;
		}
		abs_base = base ? fs_path_join(cwd, base) : xstrdup(cwd);
		free(cwd);
		base = abs_base;
	}
	joined = fs_path_join(base, rel);
	out = fs_path_normalize(joined);
	free(joined);
	free(abs_base);
	return out;
}

bool fs_path_is_inside(const char *parent, const char *child)
{
	char *p = fs_path_normalize(parent);
	char *c = fs_path_normalize(child);
	size_t pl = strlen(p);
	bool inside;

	if ((p[0] == '/') != (c[0] == '/'))
		inside = false;
	else if (strcmp(p, "/") == 0)
		inside = strcmp(c, "/") != 0;
	else if (strcmp(p, ".") == 0)
		inside = strcmp(c, ".") != 0 && strcmp(c, "..") != 0 && strncmp(c, "../", 3) != 0;
	else
		inside = strncmp(p, c, pl) == 0 && c[pl] == '/';
	free(p);
	free(c);
	return inside;
}

char *fs_path_sibling(const char *path, const char *suffix)
{
	size_t len = strlen(path);
	const char *slash;
	char *out;

	while (len > 1 && path[len - 1] == '/')
		len--;
	for (slash = path + len; slash > path && slash[-1] != '/'; slash--)
		;
	if (asprintf(&out, "%.*s.%.*s%s", (int)(slash - path), path, (int)(path + len - slash), slash,
		     suffix) < 0)
		abort();
	return out;
}

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
static int remove_at(int dir_fd, const char *name, const char *shown, dev_t dev, int depth)
{
	struct stat st, opened;
	struct dirent *de;
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
		if (remove_at(dirfd(d), de->d_name, child, dev, depth + 1) != 0)
			rc = -1;
		free(child);
	}
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
