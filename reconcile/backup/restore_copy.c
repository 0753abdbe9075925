/*
 * reconcile/backup/restore_copy.c - a base backup copied out of its
 * repository, checked and readied for starting (restore_copy.h): the steps
 * a restore and a restore drill share. The copy is readied and checked
 * through the node's host; the copy itself (descriptors, from the
 * repository into the node's folder: a host has no copy operation, both
 * ends are this machine) and pg_verifybackup of the backup in the
 * repository (proc_run as the backup's owner) do not go through it.
 */
#include "reconcile/backup/restore_copy.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pwd.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/fsutil.h"
#include "common/log.h"
#include "common/proc.h"
#include "common/progress.h"
#include "reconcile/pg/layout.h"
#include "reconcile/pg/pgctl.h"
#include "reconcile/pg/conf.h"

#define COPY_BUF (1024 * 1024)

/* ---- copying --------------------------------------------------------------------- */

/*
 * The copy walks both trees with descriptors and follows no link. The
 * backup lives in a repository that the servers' account owns, and the copy
 * is made in a folder it may own too (the drill's scratch folder): a link
 * planted in either would make root read what the account cannot and hand
 * it over, or create and chown files where the account could not.
 *
 * - The backup folder is opened with fs_open_guarded(): a link in its place
 *   in the repository is refused.
 * - Inside it, a symlink is refused, not copied: pg_basebackup writes one
 *   only in pg_tblspc, for a tablespace, and pgconverge restores backups
 *   without tablespaces; copied as a link it would point the restored
 *   server wherever the backup's author wanted.
 * - Every entry must belong to the owner of the backup folder: a file of
 *   another account there (a hard link to root's file) is refused.
 * - Every folder and file of the copy is created relative to its parent's
 *   descriptor (mkdirat, openat O_EXCL | O_NOFOLLOW) and chowned through
 *   its own descriptor, never by name.
 */
typedef struct {
	uid_t uid, gid;  /* the copy's owner (FS_NO_UID: the caller's) */
	uid_t src_owner; /* the backup folder's owner: every entry must be its */
	char *buf;
	PgcProgress *pr;
} Copy;

/* copy_owned - 0 when the open entry fd (src) belongs to the backup's owner; -1 (reported). */
static int copy_owned(const Copy *cp, int fd, const char *src, struct stat *st)
{
	if (fstat(fd, st) != 0) {
		log_error("could not stat \"%s\": %s", src, strerror(errno));
		return -1;
	}
	if (st->st_uid != cp->src_owner) {
		log_error("cannot restore \"%s\": it belongs to uid %u, not to the owner of the backup "
			  "(uid %u)", src, (unsigned)st->st_uid, (unsigned)cp->src_owner);
		return -1;
	}
	return 0;
}

/*
 * copy_file - entry name of folder sfd (path src) to a new name in folder
 * dfd (path dest), owned by the copy's owner; in the kernel
 * (copy_file_range) where it can, else through the buffer. Not synced here:
 * restore_copy_tree syncs the whole copy once at the end, which costs one
 * flush instead of one per file. 0, or -1 (reported).
 */
static int copy_file(const Copy *cp, int sfd, int dfd, const char *name, const char *src,
		     const char *dest)
{
	int in = openat(sfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC), out = -1;
	int rc = -1;
	struct stat st;
	ssize_t n;
	bool in_kernel = true;

	if (in < 0) {
		log_error("could not open \"%s\": %s", src, strerror(errno));
		return -1;
	}
	if (copy_owned(cp, in, src, &st) != 0)
		goto cleanup;
	/* Swapped for something else since it was listed: refused as the listing would. */
	if (!S_ISREG(st.st_mode)) {
		log_error("cannot restore \"%s\": it is not a regular file", src);
		goto cleanup;
	}
	out = openat(dfd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
		     st.st_mode & 0750);
	if (out < 0) {
		log_error("could not create \"%s\": %s", dest, strerror(errno));
		goto cleanup;
	}
	if ((cp->uid != FS_NO_UID || cp->gid != FS_NO_GID) && fchown(out, cp->uid, cp->gid) != 0) {
		log_error("could not change the owner of \"%s\": %s", dest, strerror(errno));
		goto cleanup;
	}
	while (in_kernel) {
		n = copy_file_range(in, NULL, out, NULL, COPY_BUF, 0);
		if (n == 0)
			goto copied;
		if (n > 0) {
			progress_add(cp->pr, (int64_t)n);
			continue;
		}
		if (errno == EINTR)
			continue;
		/* Not supported between these files (another file system, an old
		 * kernel): copy through the buffer from where it stopped. */
		if (errno != EXDEV && errno != ENOSYS && errno != EINVAL && errno != EOPNOTSUPP) {
			log_error("could not copy \"%s\" to \"%s\": %s", src, dest, strerror(errno));
			goto cleanup;
		}
		in_kernel = false;
	}
	while ((n = read(in, cp->buf, COPY_BUF)) != 0) {
		if (n < 0) {
			if (errno == EINTR)
				continue;
			log_error("could not read \"%s\": %s", src, strerror(errno));
			goto cleanup;
		}
		if (fs_write_all(out, cp->buf, (size_t)n) != 0) {
			log_error("could not write \"%s\": %s", dest, strerror(errno));
			goto cleanup;
		}
		progress_add(cp->pr, (int64_t)n);
	}
copied:
	rc = 0;
cleanup:
	if (out >= 0 && close(out) != 0 && rc == 0) {
		log_error("could not close \"%s\": %s", dest, strerror(errno));
		rc = -1;
	}
	close(in);
	return rc;
}

/*
 * copy_dir - the folder open at sfd (path src; the descriptor is consumed)
 * copied as a new folder name in folder pdfd (path dest). *out, when not
 * NULL, receives the new folder's descriptor (the caller closes it).
 */
static int copy_dir(const Copy *cp, int sfd, int pdfd, const char *name, const char *src,
		    const char *dest, int *out)
{
	struct stat st;
	struct dirent *de;
	DIR *d = NULL;
	int dfd = -1, rc = -1;

	if (copy_owned(cp, sfd, src, &st) != 0) {
		close(sfd);
		return -1;
	}
	if (mkdirat(pdfd, name, 0700) != 0) {
		log_error("could not create folder \"%s\": %s", dest, strerror(errno));
		close(sfd);
		return -1;
	}
	dfd = openat(pdfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (dfd < 0) {
		log_error("could not open folder \"%s\": %s", dest, strerror(errno));
		close(sfd);
		return -1;
	}
	if ((cp->uid != FS_NO_UID || cp->gid != FS_NO_GID) && fchown(dfd, cp->uid, cp->gid) != 0) {
		log_error("could not change the owner of \"%s\": %s", dest, strerror(errno));
		close(sfd);
		goto cleanup;
	}
	d = fdopendir(sfd);
	if (d == NULL) {
		log_error("could not open folder \"%s\": %s", src, strerror(errno));
		close(sfd);
		goto cleanup;
	}
	rc = 0;
	for (;;) {
		char *s, *t;

		errno = 0;
		de = readdir(d);
		if (de == NULL) {
			if (errno != 0) {
				log_error("could not read folder \"%s\": %s", src, strerror(errno));
				rc = -1;
			}
			break;
		}

		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		s = fs_path_join(src, de->d_name);
		t = fs_path_join(dest, de->d_name);
		if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0) {
			log_error("could not stat \"%s\": %s", s, strerror(errno));
			rc = -1;
		} else if (S_ISDIR(st.st_mode)) {
			int csfd = openat(dirfd(d), de->d_name,
					  O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

			if (csfd < 0) {
				log_error("could not open folder \"%s\": %s", s, strerror(errno));
				rc = -1;
			} else {
				rc = copy_dir(cp, csfd, dfd, de->d_name, s, t, NULL);
			}
		} else if (S_ISREG(st.st_mode)) {
			rc = copy_file(cp, dirfd(d), dfd, de->d_name, s, t);
		} else {
			log_error("cannot restore \"%s\": it is not a regular file or folder (a "
				  "tablespace link?)\n"
				  "hint: pgconverge restores backups without tablespaces",
				  s);
			rc = -1;
		}
		free(s);
		free(t);
		if (rc != 0)
			break;
	}
cleanup:
	if (d != NULL)
		closedir(d);
	if (rc == 0 && out != NULL)
		*out = dfd;
	else
		close(dfd);
	return rc;
}

/* parent_of - the folder part of path, in a ("." when there is none). */
static const char *parent_of(PgcArena *a, const char *path)
{
	const char *slash = strrchr(path, '/');

	if (slash == NULL)
		return ".";
	while (slash > path && slash[-1] == '/')
		slash--;
	return slash == path ? "/" : arena_strndup(a, path, (size_t)(slash - path));
}

int restore_copy_tree(const char *src, const char *dest, uid_t uid, gid_t gid, int64_t total,
		      bool progress, const char *what)
{
	PgcArena *a = arena_new();
	PgcProgress pr = {0};
	Copy cp = {uid, gid, 0, NULL, &pr};
	const char *name = strrchr(dest, '/') != NULL ? strrchr(dest, '/') + 1 : dest;
	struct stat st;
	char size[32];
	double t0 = (clock_ms() / 1000.0);
	int sfd, pdfd = -1, dfd = -1, rc = -1;

	sfd = fs_open_guarded(src, O_RDONLY | O_DIRECTORY, 0, false);
	if (sfd < 0)
		goto cleanup;
	if (fstat(sfd, &st) != 0) {
		log_error("could not stat \"%s\": %s", src, strerror(errno));
		close(sfd);
		goto cleanup;
	}
	cp.src_owner = st.st_uid;
	pdfd = fs_open_guarded(parent_of(a, dest), O_RDONLY | O_DIRECTORY, 0, false);
	if (pdfd < 0) {
		close(sfd);
		goto cleanup;
	}
	cp.buf = malloc(COPY_BUF);
	if (cp.buf == NULL)
		abort();
	progress_start(&pr, progress, what, total);
	rc = copy_dir(&cp, sfd, pdfd, name, src, dest, &dfd);
	/* The copy below dest on disk: one syncfs() of its file system. */
	if (rc == 0 && syncfs(dfd) != 0) {
		log_error("could not sync the copy in \"%s\": %s", dest, strerror(errno));
		rc = -1;
	}
	progress_stop(&pr);
	if (rc == 0)
		log_info("%s: copied %s in %.1f s", what,
			 progress_format_bytes(atomic_load(&pr.done), size, sizeof size), (clock_ms() / 1000.0) - t0);
cleanup:
	if (dfd >= 0)
		close(dfd);
	if (pdfd >= 0)
		close(pdfd);
	free(cp.buf);
	arena_free(a);
	return rc;
}

/* verify - pg_verifybackup of dir, as run_as (NULL: as pgconverge); what names dir in messages. */
static int verify(const PgcCluster *c, PgcHost *h, const char *run_as, const char *dir,
		  const char *what, int timeout_s, char *err, size_t errlen)
{
	PgcArena *a = arena_new();
	const char *argv[] = {arena_printf(a, "%s/pg_verifybackup", c->bin_dir.v), dir, NULL};
	PgcProcSpec spec = {0};
	PgcProcResult res;
	int rc = -1;

	spec.argv = argv;
	spec.timeout_ms = timeout_s * 1000;
	spec.max_output = 64 * 1024;
	spec.run_as = run_as;
	if ((h != NULL ? host_run(h, &spec, &res) : proc_run(&spec, &res)) != 0) {
		snprintf(err, errlen, "could not run pg_verifybackup");
		arena_free(a);
		return -1;
	}
	if (res.status == 0 && !res.timed_out)
		rc = 0;
	else
		proc_report_failed(arena_printf(a, "%s failed verification", what), argv[0], &res, err,
				     errlen);
	proc_result_free(&res);
	arena_free(a);
	return rc;
}

int restore_verify_copy(PgcHost *h, const PgcCluster *c, const char *dir, int timeout_s, char *err,
			size_t errlen)
{
	char what[PATH_MAX + 32];

	snprintf(what, sizeof what, "base backup copy \"%s\"", dir);
	return verify(c, h, NULL, dir, what, timeout_s, err, errlen);
}

int restore_verify_backup(const PgcCluster *c, const char *dir, int timeout_s, char *err,
			  size_t errlen)
{
	char what[PATH_MAX + 32], pwbuf[16384];
	struct passwd pw, *owner = NULL;
	struct stat st;
	int prc = 0, fd;

	snprintf(what, sizeof what, "base backup \"%s\"", dir);
	/* Guarded: a link in the repository must not pick root (a root folder's owner) to run as. */
	fd = fs_open_guarded(dir, O_RDONLY | O_DIRECTORY, 0, false);
	if (fd < 0 || fstat(fd, &st) != 0) {
		int saved = errno;

		if (fd >= 0) {
			log_error("could not look at base backup \"%s\": %s", dir, strerror(saved));
			close(fd);
		}
		snprintf(err, errlen, "could not look at base backup \"%s\": %s", dir, strerror(saved));
		return -1;
	}
	close(fd);
	/* As root, read the backup as whoever wrote it (pg_basebackup's folders are
	 * 0700): the restored cluster's os_user may be another account. */
	if (geteuid() == 0 && (prc = getpwuid_r(st.st_uid, &pw, pwbuf, sizeof pwbuf, &owner)) != 0)
		owner = NULL;
	if (geteuid() == 0 && owner == NULL) {
		log_error("could not verify base backup \"%s\": its owner (uid %u) %s", dir,
			  (unsigned)st.st_uid, prc != 0 ? strerror(prc) : "has no account");
		snprintf(err, errlen, "could not verify base backup \"%s\": its owner (uid %u) %s", dir,
			 (unsigned)st.st_uid, prc != 0 ? strerror(prc) : "has no account");
		return -1;
	}
	return verify(c, NULL, owner != NULL ? owner->pw_name : NULL, dir, what, timeout_s, err,
		      errlen);
}

/* ---- readying the copy ---------------------------------------------------------- */

/*
 * write_in - a file in folder dir, owned by os_user, mode 0600. The copy's
 * folders belong to os_user (the drill's scratch folder too): the host
 * writes guarded as root, so that a link put there meanwhile is not
 * followed.
 */
static int write_in(PgcHost *h, PgcArena *a, const char *dir, const char *name,
		    const char *content)
{
	return host_write_file(h, arena_printf(a, "%s/%s", dir, name), content, strlen(content),
			       0600, NULL);
}

/*
 * remove_in - name gone from folder dir (absent is fine): removed as a tree
 * from dir's parent, so that dir itself is reached without following a
 * link (one put in its place is refused) and name, if a link, is removed
 * itself.
 */
static int remove_in(PgcHost *h, PgcArena *a, const char *dir, const char *name)
{
	return host_remove_tree(h, parent_of(a, dir), arena_printf(a, "%s/%s", dir, name));
}

int restore_prepare_copy(PgcHost *h, PgcArena *a, const char *dir, const char *conf,
			 const char *hba, const char *ident)
{
	static const char *const drop[] = {"backup_manifest", "standby.signal", "recovery.signal",
					   "postmaster.pid", "postmaster.opts", PGCTL_LOG_FILE};
	const char *pgconf = arena_printf(a, "%s/postgresql.conf", dir);
	char *buf = NULL;
	size_t len = 0, i;
	int rc = -1;

	for (i = 0; i < sizeof(drop) / sizeof(drop[0]); i++)
		if (remove_in(h, a, dir, drop[i]) != 0)
			goto cleanup;
	rc = host_read_file(h, pgconf, &buf, &len, 16 * 1024 * 1024);
	if (rc != 0) {
		if (rc > 0)
			log_error("base backup copy \"%s\" has no postgresql.conf", dir);
		rc = -1;
		goto cleanup;
	}
	if (!conf_has_include(buf)) {
		const char *text = arena_printf(a, "%s%sinclude '%s'\n", buf,
						len > 0 && buf[len - 1] != '\n' ? "\n" : "",
						PGC_MANAGED_CONF);

		rc = host_write_file(h, pgconf, text, strlen(text), 0600, NULL);
	}
	if (rc != 0 || write_in(h, a, dir, PGC_MANAGED_CONF, conf) != 0 ||
	    write_in(h, a, dir, "pg_hba.conf", hba) != 0 ||
	    write_in(h, a, dir, "pg_ident.conf", ident) != 0 ||
	    write_in(h, a, dir, "recovery.signal", "") != 0) {
		rc = -1;
		goto cleanup;
	}
	rc = host_sync_dir(h, dir);
cleanup:
	free(buf);
	return rc;
}
