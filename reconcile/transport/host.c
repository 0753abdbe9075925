/*
 * reconcile/transport/host.c - host.h for the machine pgconverge runs on.
 *
 * A host is local when its name or address designates this machine:
 * loopback addresses, "localhost", this machine's host name, or an address
 * of one of its interfaces (getifaddrs). Names are resolved with
 * getaddrinfo() and local when every address they resolve to is.
 */
#include "reconcile/transport/host.h"

#include <arpa/inet.h>
#include <errno.h>
#include <ifaddrs.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/fsutil.h"
#include "common/log.h"

struct PgcHost {
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

bool host_is_local(const char *host)
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

PgcHost *host_for(const char *host, const char *os_user)
{
	PgcHost *h;

	if (!host_is_local(host))
		return NULL;
	h = calloc(1, sizeof *h);
	if (h == NULL)
		abort();
	h->name = strdup(host);
	h->os_user = strdup(os_user != NULL ? os_user : "postgres");
	if (h->name == NULL || h->os_user == NULL)
		abort();
	return h;
}

void host_free(PgcHost *h)
{
	if (h == NULL)
		return;
	free(h->name);
	free(h->os_user);
	free(h);
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

int host_run(PgcHost *h, const PgcProcSpec *spec, PgcProcResult *res)
{
	PgcProcSpec s = *spec;

	if (geteuid() == 0)
		s.run_as = h->os_user;
	return proc_run(&s, res);
}

int host_file_mtime(PgcHost *h, const char *path, double *mtime)
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
 * host_read_file - as root, the node's files live in folders os_user owns:
 * read through the guarded resolver so that a link planted there cannot
 * make root read a file os_user could not (fsutil.h, "guarded access").
 */
int host_read_file(PgcHost *h, const char *path, char **buf, size_t *len, size_t max)
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

int host_write_file(PgcHost *h, const char *path, const char *data, size_t len, mode_t mode,
		    bool *changed)
{
	uid_t uid;
	gid_t gid;

	if (owner_ids(h, &uid, &gid) < 0)
		return -1;
	if (geteuid() == 0)
		return fs_write_atomic_guarded(path, data, len, mode, uid, gid, changed);
	return fs_write_atomic(path, data, len, mode, uid, gid, changed);
}

int host_mkdir_p(PgcHost *h, const char *path, mode_t mode)
{
	uid_t uid;
	gid_t gid;

	if (owner_ids(h, &uid, &gid) < 0)
		return -1;
	if (geteuid() == 0)
		return fs_mkdir_p_guarded(path, mode, uid, gid);
	return fs_mkdir_p(path, mode, uid, gid);
}

int host_dir_state(PgcHost *h, const char *path)
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
