/*
 * reconcile/observe/observe_haproxy.c - the HAProxy probe and its runtime
 * API client (observe_haproxy.h).
 */
#include "reconcile/observe/observe_haproxy.h"

#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "common/clock.h"

/* The answers we read are small; more than this is not HAProxy's. */
#define CLI_MAX_BYTES (4 * 1024 * 1024)
#define CFG_MAX_BYTES (1024 * 1024)

const char *haproxy_host_name(const PgcCluster *c)
{
	return c->n_nodes > 0 && c->nodes[0].host.v != NULL ? c->nodes[0].host.v : "127.0.0.1";
}

const char *haproxy_path(PgcArena *a, const PgcCluster *c, const char *name)
{
	return arena_printf(a, "%s/%s", c->haproxy.dir.v, name);
}

/* ---- the runtime API ------------------------------------------------------- */

/* peer_ok - the process behind fd runs as the account HAProxy runs as. */
static int peer_ok(PgcHost *h, int fd, char *err, size_t errlen)
{
	struct ucred cred;
	socklen_t len = sizeof cred;
	uid_t want;
	gid_t gid;

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0) {
		snprintf(err, errlen, "cannot tell who serves it: %s", strerror(errno));
		return -1;
	}
	if (geteuid() != 0)
		want = geteuid(); /* not root: HAProxy was started as we are */
	else if (host_os_ids(h, &want, &gid) != 0) {
		snprintf(err, errlen, "unknown os_user \"%s\"", host_os_user(h));
		return -1;
	}
	if (cred.uid != want) {
		snprintf(err, errlen, "it is served by uid %u, not by HAProxy's account (uid %u)",
			 (unsigned)cred.uid, (unsigned)want);
		return -1;
	}
	return 0;
}

/* wait_fd - poll fd for events until deadline (clock_ms); 0 ready, -1 timeout or error. */
static int wait_fd(int fd, short events, double deadline)
{
	for (;;) {
		struct pollfd pfd = {fd, events, 0};
		double left = deadline - clock_ms();
		int rc;

		if (left <= 0)
			return -1;
		rc = poll(&pfd, 1, (int)left + 1);
		if (rc > 0)
			return 0;
		if (rc < 0 && errno != EINTR)
			return -1;
	}
}

int observe_haproxy_cli(PgcHost *h, const char *sock, const char *cmd, int timeout_ms, char **out,
			char *err, size_t errlen)
{
	struct sockaddr_un sa;
	double deadline = clock_ms() + timeout_ms;
	size_t cap = 8192, len = 0, clen = strlen(cmd);
	char *buf = NULL;
	int fd, rc = -1;

	*out = NULL;
	if (strlen(sock) >= sizeof sa.sun_path) {
		snprintf(err, errlen, "socket path \"%s\" is longer than %zu bytes", sock,
			 sizeof sa.sun_path - 1);
		return -1;
	}
	memset(&sa, 0, sizeof sa);
	sa.sun_family = AF_UNIX;
	memcpy(sa.sun_path, sock, strlen(sock) + 1);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0) {
		snprintf(err, errlen, "socket: %s", strerror(errno));
		return -1;
	}
	if (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0 &&
	    (errno != EINPROGRESS && errno != EAGAIN)) {
		snprintf(err, errlen, "cannot connect to \"%s\": %s", sock, strerror(errno));
		goto cleanup;
	}
	if (peer_ok(h, fd, err, errlen) != 0)
		goto cleanup;
	buf = malloc(cap);
	if (buf == NULL)
		abort();
	/* One command, then a newline: HAProxy answers and closes. */
	for (size_t sent = 0; sent <= clen;) {
		const char *p = sent < clen ? cmd + sent : "\n";
		size_t n = sent < clen ? clen - sent : 1;
		ssize_t w;

		if (wait_fd(fd, POLLOUT, deadline) != 0) {
			snprintf(err, errlen, "\"%s\" timed out after %d ms", cmd, timeout_ms);
			goto cleanup;
		}
		w = send(fd, p, n, MSG_NOSIGNAL);
		if (w < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (w < 0) {
			snprintf(err, errlen, "cannot send to \"%s\": %s", sock, strerror(errno));
			goto cleanup;
		}
		sent += (size_t)w;
		if (sent == clen + 1)
			break;
	}
	for (;;) {
		ssize_t r;

		if (wait_fd(fd, POLLIN, deadline) != 0) {
			snprintf(err, errlen, "\"%s\" timed out after %d ms", cmd, timeout_ms);
			goto cleanup;
		}
		if (len + 1 >= cap) {
			if (cap >= CLI_MAX_BYTES) {
				snprintf(err, errlen, "the answer to \"%s\" is too long", cmd);
				goto cleanup;
			}
			cap *= 2;
			buf = realloc(buf, cap);
			if (buf == NULL)
				abort();
		}
		r = recv(fd, buf + len, cap - len - 1, 0);
		if (r < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (r < 0) {
			snprintf(err, errlen, "cannot read from \"%s\": %s", sock, strerror(errno));
			goto cleanup;
		}
		if (r == 0)
			break;
		len += (size_t)r;
	}
	buf[len] = '\0';
	*out = buf;
	buf = NULL;
	rc = 0;
cleanup:
	free(buf);
	close(fd);
	return rc;
}

/* ---- parsers --------------------------------------------------------------- */

/* next_line - the line at *p (without its newline) copied into line; false at the end. */
static bool next_line(const char **p, char *line, size_t size)
{
	const char *s = *p, *e;
	size_t n;

	if (s == NULL || *s == '\0')
		return false;
	e = strchr(s, '\n');
	n = e != NULL ? (size_t)(e - s) : strlen(s);
	*p = e != NULL ? e + 1 : s + n;
	if (n >= size)
		n = size - 1;
	memcpy(line, s, n);
	line[n] = '\0';
	if (n > 0 && line[n - 1] == '\r')
		line[n - 1] = '\0';
	return true;
}

void observe_haproxy_parse_info(PgcArena *a, const char *text, PgcObsHaproxy *o)
{
	const char *p = text;
	char line[1024];

	o->sessions = -1;
	o->uptime_s = -1;
	while (next_line(&p, line, sizeof line)) {
		char *colon = strchr(line, ':'), *v;

		if (colon == NULL)
			continue;
		*colon = '\0';
		for (v = colon + 1; *v == ' '; v++)
			;
		if (strcmp(line, "Pid") == 0)
			o->worker_pid = atol(v);
		else if (strcmp(line, "CurrConns") == 0)
			o->sessions = atol(v);
		else if (strcmp(line, "Uptime_sec") == 0)
			o->uptime_s = atof(v);
		else if (strcasecmp(line, "description") == 0 &&
			 strncmp(v, HAPROXY_DIGEST_TAG " ", strlen(HAPROXY_DIGEST_TAG) + 1) == 0)
			o->digest = arena_strdup(a, v + strlen(HAPROXY_DIGEST_TAG) + 1);
	}
}

int observe_haproxy_parse_servers(PgcArena *a, const char *text, PgcObsHaproxy *o)
{
	const char *p = text;
	char line[2048];
	size_t cap = 0;

	o->servers = NULL;
	o->n_servers = 0;
	if (!next_line(&p, line, sizeof line) || strcmp(line, "1") != 0)
		return -1; /* the format version this parser knows */
	while (next_line(&p, line, sizeof line)) {
		/* be_id be_name srv_id srv_name srv_addr srv_op_state srv_admin_state ... */
		char be[256], srv[256];
		int op, admin;
		PgcObsHaproxyServer *s;

		if (line[0] == '#' || line[0] == '\0')
			continue;
		if (sscanf(line, "%*d %255s %*d %255s %*s %d %d", be, srv, &op, &admin) != 4)
			continue;
		o->servers = arena_grow(a, o->servers, o->n_servers, &cap, 8, sizeof *o->servers);
		s = &o->servers[o->n_servers++];
		s->backend = arena_strdup(a, be);
		s->server = arena_strdup(a, srv);
		s->up = op == 2;
		/* FMAINT 0x01, IMAINT 0x02, RMAINT 0x20, HMAINT 0x40. CMAINT (0x04)
		 * only remembers `disabled` in the file: it stays after `state ready`. */
		s->maint = (admin & 0x63) != 0;
		s->sessions = -1;
	}
	return 0;
}

void observe_haproxy_parse_stat(const char *text, PgcObsHaproxy *o)
{
	const char *p = text;
	char line[8192];

	while (next_line(&p, line, sizeof line)) {
		char *f[5], *s = line;
		size_t k;

		if (line[0] == '#')
			continue;
		for (k = 0; k < 5; k++) {
			f[k] = s;
			s = strchr(s, ',');
			if (s == NULL)
				break;
			*s++ = '\0';
		}
		if (k < 4)
			continue;
		/* pxname,svname,qcur,qmax,scur */
		for (size_t i = 0; i < o->n_servers; i++)
			if (strcmp(o->servers[i].backend, f[0]) == 0 &&
			    strcmp(o->servers[i].server, f[1]) == 0)
				o->servers[i].sessions = atoi(f[4]);
	}
}

const char *observe_haproxy_digest_of(PgcArena *a, const char *cfg)
{
	const char *p = cfg;
	char line[1024];

	while (next_line(&p, line, sizeof line)) {
		const char *s = line;

		while (*s == ' ' || *s == '\t')
			s++;
		if (strncmp(s, "description " HAPROXY_DIGEST_TAG " ",
			    strlen("description " HAPROXY_DIGEST_TAG " ")) == 0)
			return arena_strdup(a, s + strlen("description " HAPROXY_DIGEST_TAG " "));
	}
	return NULL;
}

const PgcObsHaproxyServer *observe_haproxy_server(const PgcObsHaproxy *o, const char *be,
						  const char *srv)
{
	for (size_t i = 0; o != NULL && i < o->n_servers; i++)
		if (strcmp(o->servers[i].backend, be) == 0 && strcmp(o->servers[i].server, srv) == 0)
			return &o->servers[i];
	return NULL;
}

/* ---- the probe ------------------------------------------------------------- */

/* master_alive - pid is a live haproxy process. */
static bool master_alive(PgcHost *h, long pid)
{
	char comm[64];

	if (pid <= 0 || pid > INT_MAX || host_proc_state(h, pid) != HOST_PROC_LIVE)
		return false;
	return host_proc_comm(h, pid, comm, sizeof comm) == 0 && strcmp(comm, "haproxy") == 0;
}

/* ask - one command into *text (in a); 0, or -1 with api_error set. */
static int ask(PgcArena *a, PgcHost *h, const char *sock, const char *cmd, PgcObsHaproxy *o,
	       char **text)
{
	char err[512], *out;

	if (observe_haproxy_cli(h, sock, cmd, HAPROXY_CLI_TIMEOUT_MS, &out, err, sizeof err) != 0) {
		o->api_error = arena_strdup(a, err);
		return -1;
	}
	*text = arena_strdup(a, out);
	free(out);
	return 0;
}

PgcObsHaproxy *observe_haproxy(PgcArena *a, const PgcCluster *c)
{
	PgcObsHaproxy *o;
	PgcHost *h;
	char *buf = NULL, *text = NULL;
	size_t len = 0;
	const char *sock;

	if (!c->haproxy.set)
		return NULL;
	o = arena_calloc(a, 1, sizeof *o);
	o->sessions = -1;
	o->uptime_s = -1;
	h = host_for(haproxy_host_name(c), c->os_user.v);
	if (h == NULL) {
		o->error = arena_printf(a, "host \"%s\" is not this machine", haproxy_host_name(c));
		return o;
	}
	o->looked = true;
	if (host_read_file(h, haproxy_path(a, c, HAPROXY_CFG_NAME), &buf, &len, CFG_MAX_BYTES) == 0)
		o->cfg = arena_strndup(a, buf, len);
	free(buf);
	buf = NULL;
	if (host_read_file(h, haproxy_path(a, c, HAPROXY_PID_NAME), &buf, &len, 64) == 0) {
		char tmp[65];

		memcpy(tmp, buf, len < 64 ? len : 64);
		tmp[len < 64 ? len : 64] = '\0';
		o->pid = atol(tmp);
	}
	free(buf);
	o->alive = master_alive(h, o->pid);
	sock = haproxy_path(a, c, HAPROXY_SOCK_NAME);
	if (o->alive && ask(a, h, sock, "show info", o, &text) == 0) {
		o->api = true;
		observe_haproxy_parse_info(a, text, o);
		if (ask(a, h, sock, "show servers state", o, &text) == 0 &&
		    observe_haproxy_parse_servers(a, text, o) != 0)
			o->api_error = "`show servers state` answered in a format this version does not read";
		if (o->api_error != NULL)
			o->api = false;
		else if (ask(a, h, sock, "show stat", o, &text) == 0)
			observe_haproxy_parse_stat(text, o);
		else
			o->api_error = NULL; /* only the sessions per server are unknown */
	}
	host_free(h);
	return o;
}

json_t *observe_haproxy_json(const PgcObsHaproxy *o)
{
	json_t *j, *servers;

	if (o == NULL)
		return json_null();
	j = json_object();
	json_object_set_new(j, "looked", json_boolean(o->looked));
	if (o->error != NULL)
		json_object_set_new(j, "error", json_string(o->error));
	json_object_set_new(j, "pid", json_integer(o->pid));
	json_object_set_new(j, "alive", json_boolean(o->alive));
	json_object_set_new(j, "api", json_boolean(o->api));
	if (o->api_error != NULL)
		json_object_set_new(j, "api_error", json_string(o->api_error));
	if (o->worker_pid > 0)
		json_object_set_new(j, "worker_pid", json_integer(o->worker_pid));
	json_object_set_new(j, "digest", o->digest ? json_string(o->digest) : json_null());
	json_object_set_new(j, "sessions", json_integer(o->sessions));
	servers = json_array();
	for (size_t i = 0; i < o->n_servers; i++) {
		const PgcObsHaproxyServer *s = &o->servers[i];

		json_array_append_new(servers, json_pack("{s:s s:s s:b s:b s:i}", "backend", s->backend,
							 "server", s->server, "maint", s->maint, "up",
							 s->up, "sessions", s->sessions));
	}
	json_object_set_new(j, "servers", servers);
	return j;
}
