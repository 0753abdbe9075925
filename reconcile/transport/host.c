/*
 * reconcile/transport/host.c - host.h for the machine pgconverge runs on.
 *
 * A host is local when its name or address designates this machine:
 * loopback addresses, "localhost", this machine's host name, or an address
 * of one of its interfaces (getifaddrs). Names are resolved with
 * getaddrinfo() and local when every address they resolve to is. An agent
 * told which host it is (host_set_self) counts only that name as local.
 *
 * The interface (host_new, the host_*() functions dispatching through the
 * host's operations) comes first; then the local implementation, whose
 * table host_for() gives: files through common/fsutil.h (guarded as root),
 * programs through proc_run(), processes through /proc (procfs.h).
 */
#include "reconcile/transport/host.h"

#include <arpa/inet.h>
#include <errno.h>
#include <ifaddrs.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/fsutil.h"
#include "common/fstree.h"
#include "common/log.h"
#include "reconcile/transport/procfs.h"

struct PgcHost {
	const PgcHostOps *ops;
	void *data;
	char *name;
	char *os_user;
	bool ids_looked_up;
	bool ids_ok;
	uid_t uid;
	gid_t gid;
};

/* is_loopback - 127.0.0.0/8, ::1, and 127.x mapped into IPv6. */
static bool is_loopback(const struct sockaddr *sa)
{
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)sa;

		return (ntohl(in->sin_addr.s_addr) >> 24) == 127;
	}
	if (sa->sa_family == AF_INET6) {
		const struct in6_addr *a = &((const struct sockaddr_in6 *)sa)->sin6_addr;

		if (IN6_IS_ADDR_LOOPBACK(a))
			return true;
		return IN6_IS_ADDR_V4MAPPED(a) && a->s6_addr[12] == 127;
	}
	return false;
}

/* same_address - equal IPv4 or IPv6 addresses (ports and scopes ignored). */
static bool same_address(const struct sockaddr *a, const struct sockaddr *b)
{
	if (a->sa_family != b->sa_family)
		return false;
	if (a->sa_family == AF_INET)
		return ((const struct sockaddr_in *)a)->sin_addr.s_addr ==
		       ((const struct sockaddr_in *)b)->sin_addr.s_addr;
	if (a->sa_family == AF_INET6)
		return memcmp(&((const struct sockaddr_in6 *)a)->sin6_addr,
			      &((const struct sockaddr_in6 *)b)->sin6_addr,
			      sizeof(struct in6_addr)) == 0;
	return false;
}

/* address_is_local - loopback, or the address of one of this machine's interfaces. */
static bool address_is_local(const struct sockaddr *sa, const struct ifaddrs *ifs)
{
	if (is_loopback(sa))
		return true;
	for (const struct ifaddrs *i = ifs; i != NULL; i = i->ifa_next)
		if (i->ifa_addr != NULL && same_address(sa, i->ifa_addr))
			return true;
	return false;
}

/* is_own_name - this machine's host name, or its first label ("db1" for "db1.example.org"). */
static bool is_own_name(const char *host)
{
	char name[256];
	size_t short_len;

	if (gethostname(name, sizeof name) != 0)
		return false;
	name[sizeof name - 1] = '\0';
	if (strcasecmp(host, name) == 0)
		return true;
	short_len = strcspn(name, ".");
	return strchr(host, '.') == NULL && strlen(host) == short_len &&
	       strncasecmp(host, name, short_len) == 0;
}

/*
 * The agent's own host (--as HOST); NULL: every address of this machine.
 * Under self_mu: the agent's keep-alive thread (reconcile/coord) reads it
 * (host_for, when it fences a primary) while the loop's thread may set
 * another one after a topology edit; the old copy is freed only once no
 * reader can hold it.
 */
static char *self_host;
static pthread_mutex_t self_mu = PTHREAD_MUTEX_INITIALIZER;

void host_set_self(const char *host)
{
	char *copy = NULL, *old;

	pthread_mutex_lock(&self_mu);
	/* The same again (reconcile chooses it every pass): nothing to change. */
	if (host != NULL && self_host != NULL && strcmp(host, self_host) == 0) {
		pthread_mutex_unlock(&self_mu);
		return;
	}
	if (host != NULL) {
		copy = strdup(host);
		if (copy == NULL)
			abort();
	}
	old = self_host;
	self_host = copy;
	pthread_mutex_unlock(&self_mu);
	free(old);
}

const char *host_self(void)
{
	const char *s;

	pthread_mutex_lock(&self_mu);
	s = self_host;
	pthread_mutex_unlock(&self_mu);
	return s;
}

bool host_is_local(const char *host)
{
	bool local = false, has_self;

	if (host == NULL || *host == '\0')
		return false;
	pthread_mutex_lock(&self_mu);
	has_self = self_host != NULL;
	if (has_self)
		local = strcasecmp(host, self_host) == 0;
	pthread_mutex_unlock(&self_mu);
	return has_self ? local : host_is_machine(host);
}

bool host_is_machine(const char *host)
{
	struct addrinfo hints, *res = NULL;
	struct ifaddrs *ifs = NULL;
	bool local;
	int rc;

	if (host == NULL || *host == '\0')
		return false;
	if (strcasecmp(host, "localhost") == 0 || is_own_name(host))
		return true;
	memset(&hints, 0, sizeof hints);
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	rc = getaddrinfo(host, NULL, &hints, &res);
	if (rc != 0) {
		log_debug("host \"%s\" is not resolvable, so not local: %s", host, gai_strerror(rc));
		return false;
	}
	if (getifaddrs(&ifs) != 0)
		ifs = NULL;
	/* Every address must be ours: a name that also points elsewhere is not this machine. */
	local = res != NULL;
	for (const struct addrinfo *ai = res; ai != NULL && local; ai = ai->ai_next)
		local = address_is_local(ai->ai_addr, ifs);
	freeifaddrs(ifs);
	freeaddrinfo(res);
	return local;
}

static int local_dir_look(PgcHost *h, const char *path)
{
	struct stat st;
	struct dirent *e;
	DIR *d;
	int rc = 1;

	(void)h;
	if (stat(path, &st) != 0)
		return errno == ENOENT ? 0 : -1;
	if (!S_ISDIR(st.st_mode))
		return 3;
	d = opendir(path);
	if (d == NULL)
		return -2;
	while ((e = readdir(d)) != NULL) {
		if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0) {
			rc = 2;
			break;
		}
	}
	closedir(d);
	return rc;
}

static const PgcHostOps local_ops;

PgcHost *host_new(const PgcHostOps *ops, const char *name, const char *os_user, void *data)
{
	PgcHost *h = calloc(1, sizeof *h);

	if (h == NULL)
		abort();
	h->ops = ops;
	h->data = data;
	h->name = strdup(name != NULL ? name : ops->name);
	h->os_user = strdup(os_user != NULL ? os_user : "postgres");
	if (h->name == NULL || h->os_user == NULL)
		abort();
	return h;
}

PgcHost *host_for(const char *host, const char *os_user)
{
	if (!host_is_local(host))
		return NULL;
	return host_new(&local_ops, host, os_user, NULL);
}

void host_free(PgcHost *h)
{
	if (h == NULL)
		return;
	if (h->ops->close != NULL)
		h->ops->close(h);
	free(h->name);
	free(h->os_user);
	free(h);
}

void *host_data(const PgcHost *h)
{
	return h->data;
}

const char *host_name(const PgcHost *h)
{
	return h->name;
}

const char *host_os_user(const PgcHost *h)
{
	return h->os_user;
}

int host_os_ids(const PgcHost *h, uid_t *uid, gid_t *gid)
{
	/* Resolved once per host; the cache is not part of the host's meaning. */
	PgcHost *m = (PgcHost *)h;

	if (!m->ids_looked_up) {
		m->ids_looked_up = true;
		m->ids_ok = proc_user_lookup(m->os_user, &m->uid, &m->gid, NULL) == 0;
	}
	if (!m->ids_ok)
		return -1;
	if (uid != NULL)
		*uid = m->uid;
	if (gid != NULL)
		*gid = m->gid;
	return 0;
}

/* ---- dispatch ------------------------------------------------------------------ */

int host_run(PgcHost *h, const PgcProcSpec *spec, PgcProcResult *res)
{
	return h->ops->run(h, spec, res);
}

int host_file_mtime(PgcHost *h, const char *path, double *mtime)
{
	return h->ops->file_mtime(h, path, mtime);
}

int host_read_file(PgcHost *h, const char *path, char **buf, size_t *len, size_t max)
{
	return h->ops->read_file(h, path, buf, len, max);
}

int host_write_file(PgcHost *h, const char *path, const char *data, size_t len, mode_t mode,
		    bool *changed)
{
	return h->ops->write_file(h, path, data, len, mode, changed);
}

int host_mkdir_p(PgcHost *h, const char *path, mode_t mode)
{
	return h->ops->mkdir_p(h, path, mode);
}

int host_dir_state(PgcHost *h, const char *path)
{
	return h->ops->dir_state(h, path);
}

bool host_exists(PgcHost *h, const char *path)
{
	return h->ops->exists(h, path);
}

bool host_reaches(PgcHost *h, const char *path)
{
	if (h->ops->reaches == NULL)
		return h->ops->exists(h, path);
	return h->ops->reaches(h, path);
}

int host_rename(PgcHost *h, const char *from, const char *to)
{
	return h->ops->rename(h, from, to);
}

int host_remove_file(PgcHost *h, const char *path)
{
	return h->ops->remove_file(h, path);
}

int host_sync_dir(PgcHost *h, const char *path)
{
	return h->ops->sync_dir(h, path);
}

int host_empty_dir(PgcHost *h, const char *path)
{
	return h->ops->empty_dir(h, path);
}

int host_remove_tree(PgcHost *h, const char *parent, const char *path)
{
	return h->ops->remove_tree(h, parent, path);
}

char *host_realpath(PgcHost *h, const char *path)
{
	return h->ops->realpath(h, path);
}

int host_proc_each(PgcHost *h, PgcHostProcFn fn, void *arg)
{
	return h->ops->proc_each(h, fn, arg);
}

PgcHostProcState host_proc_state(PgcHost *h, long pid)
{
	return h->ops->proc_state(h, pid);
}

int host_proc_comm(PgcHost *h, long pid, char *buf, size_t size)
{
	return h->ops->proc_comm(h, pid, buf, size);
}

int host_proc_cwd(PgcHost *h, long pid, char *buf, size_t size)
{
	return h->ops->proc_cwd(h, pid, buf, size);
}

ssize_t host_proc_cmdline(PgcHost *h, long pid, char *buf, size_t size)
{
	return h->ops->proc_cmdline(h, pid, buf, size);
}

long host_proc_parent(PgcHost *h, long pid)
{
	return h->ops->proc_parent(h, pid);
}

int host_signal(PgcHost *h, long pid, int sig)
{
	return h->ops->signal(h, pid, sig);
}

/* ---- this machine ------------------------------------------------------------------ */

/*
 * owner_ids - the owner new files get: os_user when running as root;
 * otherwise "leave as is" (only root may give files away).
 */
static int owner_ids(PgcHost *h, uid_t *uid, gid_t *gid)
{
	*uid = FS_NO_UID;
	*gid = FS_NO_GID;
	if (geteuid() != 0)
		return 0;
	return host_os_ids(h, uid, gid);
}

static int local_run(PgcHost *h, const PgcProcSpec *spec, PgcProcResult *res)
{
	PgcProcSpec s = *spec;

	if (geteuid() == 0)
		s.run_as = h->os_user;
	return proc_run(&s, res);
}

static int local_file_mtime(PgcHost *h, const char *path, double *mtime)
{
	struct stat st;

	(void)h;
	if (stat(path, &st) != 0) {
		if (errno == ENOENT)
			return 1;
		log_error("could not look at \"%s\": %s", path, strerror(errno));
		return -1;
	}
	*mtime = (double)st.st_mtim.tv_sec + (double)st.st_mtim.tv_nsec / 1e9;
	return 0;
}

/*
 * local_read_file - as root, the node's files live in folders os_user owns:
 * read through the guarded resolver so that a link planted there cannot
 * make root read a file os_user could not (fsutil.h, "guarded access").
 */
static int local_read_file(PgcHost *h, const char *path, char **buf, size_t *len, size_t max)
{
	uid_t uid;

	if (geteuid() != 0)
		return fs_read_file(path, buf, len, max);
	if (host_os_ids(h, &uid, NULL) != 0) {
		*buf = NULL;
		*len = 0;
		log_error("could not read \"%s\": unknown os_user \"%s\"", path, h->os_user);
		return -1;
	}
	return fs_read_file_guarded(path, buf, len, max, uid);
}

static int local_write_file(PgcHost *h, const char *path, const char *data, size_t len,
			    mode_t mode, bool *changed)
{
	uid_t uid;
	gid_t gid;

	if (owner_ids(h, &uid, &gid) < 0)
		return -1;
	if (geteuid() == 0)
		return fs_write_atomic_guarded(path, data, len, mode, uid, gid, changed);
	return fs_write_atomic(path, data, len, mode, uid, gid, changed);
}

static int local_mkdir_p(PgcHost *h, const char *path, mode_t mode)
{
	uid_t uid;
	gid_t gid;

	if (owner_ids(h, &uid, &gid) < 0)
		return -1;
	if (geteuid() == 0)
		return fs_mkdir_p_guarded(path, mode, uid, gid);
	return fs_mkdir_p(path, mode, uid, gid);
}

static int local_dir_state(PgcHost *h, const char *path)
{
	struct stat st;
	int empty;

	(void)h;
	if (stat(path, &st) != 0) {
		if (errno == ENOENT)
			return 0;
		log_error("could not stat \"%s\": %s", path, strerror(errno));
		return -1;
	}
	if (!S_ISDIR(st.st_mode)) {
		log_error("\"%s\" is not a folder", path);
		return -1;
	}
	empty = fs_is_dir_empty(path);
	if (empty < 0)
		return -1;
	return empty ? 1 : 2;
}

static bool local_exists(PgcHost *h, const char *path)
{
	(void)h;
	return fs_exists(path);
}

static bool local_reaches(PgcHost *h, const char *path)
{
	(void)h;
	return access(path, F_OK) == 0;
}

static int local_rename(PgcHost *h, const char *from, const char *to)
{
	(void)h;
	return rename(from, to);
}

static int local_remove_file(PgcHost *h, const char *path)
{
	(void)h;
	if (unlink(path) == 0)
		return 0;
	return errno == ENOENT ? 1 : -1;
}

static int local_sync_dir(PgcHost *h, const char *path)
{
	(void)h;
	return fs_fsync_dir(path);
}

static int local_empty_dir(PgcHost *h, const char *path)
{
	(void)h;
	return fs_empty_dir(path);
}

static int local_remove_tree(PgcHost *h, const char *parent, const char *path)
{
	(void)h;
	return fs_remove_tree(parent, path);
}

static char *local_realpath(PgcHost *h, const char *path)
{
	(void)h;
	return realpath(path, NULL);
}

typedef struct {
	PgcHost *h;
	PgcHostProcFn fn;
	void *arg;
} EachArg;

static int each_pid(long pid, void *arg)
{
	EachArg *x = arg;

	return x->fn(x->h, pid, x->arg);
}

static int local_proc_each(PgcHost *h, PgcHostProcFn fn, void *arg)
{
	EachArg x = {h, fn, arg};

	return procfs_each(each_pid, &x);
}

static PgcHostProcState local_proc_state(PgcHost *h, long pid)
{
	(void)h;
	switch (procfs_state(pid)) {
	case 0:
		return HOST_PROC_GONE;
	case 1:
		return HOST_PROC_ZOMBIE;
	default:
		return HOST_PROC_LIVE;
	}
}

static int local_proc_comm(PgcHost *h, long pid, char *buf, size_t size)
{
	(void)h;
	return procfs_comm(pid, buf, size);
}

static int local_proc_cwd(PgcHost *h, long pid, char *buf, size_t size)
{
	(void)h;
	return procfs_cwd(pid, buf, size);
}

static ssize_t local_proc_cmdline(PgcHost *h, long pid, char *buf, size_t size)
{
	(void)h;
	return procfs_cmdline(pid, buf, size);
}

static long local_proc_parent(PgcHost *h, long pid)
{
	(void)h;
	return procfs_parent(pid);
}

static int local_signal(PgcHost *h, long pid, int sig)
{
	(void)h;
	return kill((pid_t)pid, sig);
}

static int local_file_size(PgcHost *h, const char *path, int64_t *size)
{
	struct stat st;

	(void)h;
	if (lstat(path, &st) != 0)
		return errno == ENOENT ? 1 : -1;
	*size = (int64_t)st.st_size;
	return 0;
}

static int local_proc_stat(PgcHost *h, long pid, PgcHostProcStat *st)
{
	(void)h;
	return procfs_stat(pid, &st->ppid, &st->state, &st->cpu_s, &st->children_cpu_s,
			   &st->start_ticks);
}

static int local_proc_io(PgcHost *h, long pid, PgcHostProcIo *io)
{
	(void)h;
	return procfs_io(pid, &io->read_bytes, &io->write_bytes);
}

static ssize_t local_proc_children(PgcHost *h, long pid, long *out, size_t max)
{
	(void)h;
	return procfs_children(pid, out, max);
}

static const PgcHostOps local_ops = {
	.name = "local",
	.run = local_run,
	.file_mtime = local_file_mtime,
	.read_file = local_read_file,
	.write_file = local_write_file,
	.mkdir_p = local_mkdir_p,
	.dir_state = local_dir_state,
	.exists = local_exists,
	.rename = local_rename,
	.remove_file = local_remove_file,
	.sync_dir = local_sync_dir,
	.empty_dir = local_empty_dir,
	.remove_tree = local_remove_tree,
	.realpath = local_realpath,
	.proc_each = local_proc_each,
	.proc_state = local_proc_state,
	.proc_comm = local_proc_comm,
	.proc_cwd = local_proc_cwd,
	.proc_cmdline = local_proc_cmdline,
	.proc_parent = local_proc_parent,
	.signal = local_signal,
	.close = NULL,
	.file_size = local_file_size,
	.dir_look = local_dir_look,
	.reaches = local_reaches,
	.proc_stat = local_proc_stat,
	.proc_io = local_proc_io,
	.proc_children = local_proc_children,
};

/* ---- added later: dispatch ----------------------------------------------------------- */

int host_file_size(PgcHost *h, const char *path, int64_t *size)
{
	if (h->ops->file_size == NULL) {
		errno = ENOSYS;
		return -1;
	}
	return h->ops->file_size(h, path, size);
}

int host_dir_look(PgcHost *h, const char *path)
{
	if (h->ops->dir_look == NULL) {
		errno = ENOSYS;
		return -1;
	}
	return h->ops->dir_look(h, path);
}

int host_proc_stat(PgcHost *h, long pid, PgcHostProcStat *st)
{
	if (h->ops->proc_stat == NULL) {
		errno = ENOSYS;
		return -1;
	}
	return h->ops->proc_stat(h, pid, st);
}

int host_proc_io(PgcHost *h, long pid, PgcHostProcIo *io)
{
	if (h->ops->proc_io == NULL) {
		errno = ENOSYS;
		return -1;
	}
	return h->ops->proc_io(h, pid, io);
}

ssize_t host_proc_children(PgcHost *h, long pid, long *out, size_t max)
{
	if (h->ops->proc_children == NULL) {
		errno = ENOSYS;
		return -1;
	}
	return h->ops->proc_children(h, pid, out, max);
}
