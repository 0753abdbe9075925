/*
 * reconcile/haproxy/haproxy_conf.c - desired server states and haproxy.cfg
 * (haproxy_conf.h).
 */
#include "reconcile/haproxy/haproxy_conf.h"

#include <string.h>
#include <sys/un.h>

#include "common/digest.h"
#include "reconcile/pg/lsn.h"

/* Room HAProxy needs beside the socket's path for its temporary name (".PID.tmp"). */
#define SOCK_TMP_ROOM 16

void haproxy_want_init(PgcArena *a, const PgcCluster *c, const char *primary, PgcHaproxyWant *w)
{
	w->primary = primary;
	w->n = c->n_nodes;
	w->nodes = arena_calloc(a, c->n_nodes ? c->n_nodes : 1, sizeof *w->nodes);
	for (size_t i = 0; i < c->n_nodes; i++) {
		PgcHaproxyNodeWant *n = &w->nodes[i];
		bool is_primary = primary != NULL && strcmp(c->nodes[i].name, primary) == 0;

		n->node = c->nodes[i].name;
		n->write = is_primary;
		n->backup = is_primary;
		n->read = false;
		n->why = is_primary ? NULL : "not observed";
	}
}

/* replica_why - why observed node n does not serve reads, or NULL when it does. */
static const char *replica_why(PgcArena *a, const PgcObsNode *n, const PgcObsNode *p,
			       int64_t max_lag)
{
	uint64_t at, pos;

	if (n == NULL || !n->reachable)
		return "it does not answer";
	if (!n->in_recovery)
		return "it is not in recovery";
	if (n->wal_receiver_status == NULL || strcmp(n->wal_receiver_status, "streaming") != 0)
		return "it is not streaming";
	if (p == NULL || !p->reachable || lsn_parse(p->current_lsn, &pos) != 0)
		return NULL; /* the lag cannot be known: streaming is enough */
	if (lsn_parse(n->replay_lsn, &at) != 0 && lsn_parse(n->receive_lsn, &at) != 0)
		return "its replay position is unknown";
	if (pos > at && (int64_t)(pos - at) > max_lag)
		return arena_printf(a, "it is %llu bytes behind the primary (max_lag %lld)",
				    (unsigned long long)(pos - at), (long long)max_lag);
	return NULL;
}

void haproxy_want_observed(PgcArena *a, const PgcCluster *c, const char *primary,
			   const PgcObsCluster *oc, bool (*fresh)(const char *node, void *arg),
			   void *arg, PgcHaproxyWant *w)
{
	const PgcObsNode *p = NULL;

	haproxy_want_init(a, c, primary, w);
	for (size_t i = 0; oc != NULL && i < oc->n_nodes && i < c->n_nodes; i++)
		if (primary != NULL && strcmp(c->nodes[i].name, primary) == 0)
			p = &oc->nodes[i];
	for (size_t i = 0; i < c->n_nodes; i++) {
		PgcHaproxyNodeWant *n = &w->nodes[i];

		if (n->write)
			continue;
		if (fresh != NULL && fresh(n->node, arg)) {
			n->read = true;
			n->why = NULL;
			continue;
		}
		n->why = replica_why(a, oc != NULL && i < oc->n_nodes ? &oc->nodes[i] : NULL, p,
				     c->haproxy.max_lag.bytes);
		n->read = n->why == NULL;
	}
}

void haproxy_want_runtime(PgcArena *a, const PgcCluster *c, const char *primary,
			  const char *leaving, const PgcObsHaproxy *o, PgcHaproxyWant *w)
{
	haproxy_want_init(a, c, primary, w);
	for (size_t i = 0; i < w->n; i++) {
		PgcHaproxyNodeWant *n = &w->nodes[i];
		const PgcObsHaproxyServer *s =
		    observe_haproxy_server(o, HAPROXY_READ_BACKEND, n->node);

		if (n->write || (leaving != NULL && strcmp(n->node, leaving) == 0))
			continue;
		n->read = s != NULL && !s->maint;
		n->why = n->read ? NULL : "out of reads now";
	}
}

/* ---- the file -------------------------------------------------------------- */

/* q - s single-quoted for haproxy.cfg (haproxy_dir_problem refuses a quote in it). */
static const char *q(PgcArena *a, const char *s)
{
	return arena_printf(a, "'%s'", s);
}

/* addr - host:port for bind and server lines; an IPv6 address in brackets. */
static const char *addr(PgcArena *a, const char *host, long long port)
{
	return strchr(host, ':') != NULL ? arena_printf(a, "[%s]:%lld", host, port)
					 : arena_printf(a, "%s:%lld", host, port);
}

/* server - one server line; w NULL: the structure only (no `disabled`). */
static const char *server(PgcArena *a, const char *name, const PgcNode *n, bool backup,
			  const bool *ready)
{
	return arena_printf(a, "    server %s %s check%s on-marked-down shutdown-sessions%s\n", name,
			    addr(a, n->host.v, n->port.v), backup ? " backup" : "",
			    ready != NULL && !*ready ? " disabled" : "");
}

/* render - the file; w NULL and digest NULL: the structure the digest is taken of. */
static const char *render(PgcArena *a, const PgcCluster *c, const PgcHaproxyWant *w,
			  const char *digest)
{
	const PgcHaproxy *h = &c->haproxy;
	const char *s;

	s = arena_printf(a,
			 "# haproxy.cfg of cluster \"%s\", written by pgconverge: edits are overwritten.\n"
			 "global\n"
			 "    master-worker\n"
			 "    pidfile %s\n"
			 "    stats socket %s mode 600 level admin\n"
			 "    stats timeout 30s\n"
			 "%s"
			 "\n"
			 "defaults\n"
			 "    mode tcp\n"
			 "    timeout connect 3s\n"
			 "    timeout client 30m\n"
			 "    timeout server 30m\n"
			 "    timeout check 2s\n"
			 "    default-server inter 1s fall 2 rise 1\n"
			 "\n"
			 "# writes: the primary only\n"
			 "listen " HAPROXY_WRITE_BACKEND "\n"
			 "    bind %s\n",
			 c->name, q(a, haproxy_path(a, c, HAPROXY_PID_NAME)),
			 q(a, haproxy_path(a, c, HAPROXY_SOCK_NAME)),
			 digest != NULL ? arena_printf(a, "    description " HAPROXY_DIGEST_TAG " %s\n",
						       digest)
					: "",
			 addr(a, h->listen_address.v, h->write_port.v));
	for (size_t i = 0; i < c->n_nodes; i++)
		s = arena_printf(a, "%s%s", s,
				 server(a, c->nodes[i].name, &c->nodes[i], false,
					w != NULL ? &w->nodes[i].write : NULL));
	if (h->read_port.set) {
		s = arena_printf(a,
				 "%s\n# reads: replicas that stream within max_lag; the primary when none\n"
				 "listen " HAPROXY_READ_BACKEND "\n"
				 "    bind %s\n"
				 "    balance roundrobin\n",
				 s, addr(a, h->listen_address.v, h->read_port.v));
		for (size_t i = 0; i < c->n_nodes; i++)
			s = arena_printf(a, "%s%s", s,
					 server(a, c->nodes[i].name, &c->nodes[i], false,
						w != NULL ? &w->nodes[i].read : NULL));
		for (size_t i = 0; i < c->n_nodes; i++)
			s = arena_printf(a, "%s%s", s,
					 server(a,
						arena_printf(a, "%s" HAPROXY_BACKUP_SUFFIX,
							     c->nodes[i].name),
						&c->nodes[i], true, w != NULL ? &w->nodes[i].backup : NULL));
	}
	if (h->stats_port.set)
		s = arena_printf(a,
				 "%s\nlisten stats\n"
				 "    mode http\n"
				 "    bind %s\n"
				 "    timeout client 30s\n"
				 "    stats enable\n"
				 "    stats uri /\n"
				 "    stats refresh 5s\n",
				 s, addr(a, h->listen_address.v, h->stats_port.v));
	return s;
}

const char *haproxy_digest(PgcArena *a, const PgcCluster *c)
{
	const char *s = render(a, c, NULL, NULL);
	char hex[DIGEST_HEX_LEN + 1];

	digest_sha256_hex(s, strlen(s), hex);
	return arena_strndup(a, hex, HAPROXY_DIGEST_LEN);
}

const char *haproxy_render(PgcArena *a, const PgcCluster *c, const PgcHaproxyWant *w)
{
	return render(a, c, w, haproxy_digest(a, c));
}

/* ---- moves ------------------------------------------------------------------ */

static void add_move(PgcArena *a, PgcHaproxyMove **out, size_t *n, size_t *cap, const char *be,
		     const char *srv, bool ready)
{
	*out = arena_grow(a, *out, *n, cap, 8, sizeof **out);
	(*out)[(*n)++] = (PgcHaproxyMove){be, srv, ready};
}

/* moves_to - the servers that must become `ready` (true) or leave (false). */
static void moves_to(PgcArena *a, const PgcCluster *c, const PgcHaproxyWant *w,
		     const PgcObsHaproxy *o, bool ready, PgcHaproxyMove **out, size_t *n,
		     size_t *cap)
{
	for (size_t i = 0; i < w->n; i++) {
		const PgcHaproxyNodeWant *nw = &w->nodes[i];
		const char *bk = arena_printf(a, "%s" HAPROXY_BACKUP_SUFFIX, nw->node);
		struct {
			const char *be, *srv;
			bool want;
		} s[3] = {{HAPROXY_WRITE_BACKEND, nw->node, nw->write},
			  {HAPROXY_READ_BACKEND, nw->node, nw->read},
			  {HAPROXY_READ_BACKEND, bk, nw->backup}};

		for (size_t k = 0; k < 3; k++) {
			const PgcObsHaproxyServer *os = observe_haproxy_server(o, s[k].be, s[k].srv);

			if (k > 0 && !c->haproxy.read_port.set)
				break;
			if (os == NULL || s[k].want != ready || os->maint == !ready)
				continue;
			add_move(a, out, n, cap, s[k].be, arena_strdup(a, s[k].srv), ready);
		}
	}
}

size_t haproxy_moves(PgcArena *a, const PgcCluster *c, const PgcHaproxyWant *w,
		     const PgcObsHaproxy *o, PgcHaproxyMove **out)
{
	size_t n = 0, cap = 0;

	*out = NULL;
	moves_to(a, c, w, o, false, out, &n, &cap);
	moves_to(a, c, w, o, true, out, &n, &cap);
	return n;
}

size_t haproxy_move_commands(PgcArena *a, const PgcHaproxyMove *m, const char *cmds[2])
{
	cmds[0] = arena_printf(a, "set server %s/%s state %s", m->backend, m->server,
			       m->ready ? "ready" : "maint");
	if (m->ready || strcmp(m->backend, HAPROXY_WRITE_BACKEND) != 0)
		return 1;
	cmds[1] = arena_printf(a, "shutdown sessions server %s/%s", m->backend, m->server);
	return 2;
}

/* name_ok - a BE/SRV argument: [A-Za-z0-9_.:-]+ "/" [A-Za-z0-9_.:-]+ */
static bool name_ok(const char *s, size_t n)
{
	size_t slash = 0;

	for (size_t i = 0; i < n; i++) {
		char ch = s[i];

		if (ch == '/' && slash == 0 && i > 0 && i + 1 < n)
			slash = i;
		else if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
			   (ch >= '0' && ch <= '9') || ch == '_' || ch == '.' || ch == ':' ||
			   ch == '-'))
			return false;
	}
	return slash > 0;
}

bool haproxy_command_ok(const char *cmd)
{
	static const char *const set = "set server ", *const shut = "shutdown sessions server ";
	const char *sp;

	if (cmd == NULL)
		return false;
	if (strncmp(cmd, shut, strlen(shut)) == 0)
		return name_ok(cmd + strlen(shut), strlen(cmd + strlen(shut)));
	if (strncmp(cmd, set, strlen(set)) != 0)
		return false;
	cmd += strlen(set);
	sp = strchr(cmd, ' ');
	return sp != NULL && name_ok(cmd, (size_t)(sp - cmd)) &&
	       (strcmp(sp, " state ready") == 0 || strcmp(sp, " state maint") == 0);
}

/* addr_ok - a host name or address haproxy.cfg can carry bare. */
static bool addr_ok(const char *s)
{
	if (s == NULL || *s == '\0')
		return false;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
		      *s == '.' || *s == ':' || *s == '-' || *s == '_'))
			return false;
	return true;
}

const char *haproxy_dir_problem(PgcArena *a, const PgcCluster *c)
{
	const char *dir = c->haproxy.dir.v;

	if (!addr_ok(c->haproxy.listen_address.v))
		return arena_printf(a, "balancer.haproxy.listen_address \"%s\" is not a host name or "
				       "address", c->haproxy.listen_address.v ? c->haproxy.listen_address.v : "");
	for (size_t i = 0; i < c->n_nodes; i++)
		if (!addr_ok(c->nodes[i].host.v))
			return arena_printf(a, "host \"%s\" of node \"%s\" cannot be written into haproxy.cfg",
					    c->nodes[i].host.v ? c->nodes[i].host.v : "", c->nodes[i].name);

	if (dir == NULL)
		return "balancer.haproxy.dir is not set";
	for (const char *p = dir; *p; p++)
		if (*p == '\'' || (unsigned char)*p < 0x20 || *p == 0x7f)
			return arena_printf(a, "balancer.haproxy.dir \"%s\" holds a quote or a control "
					       "character, which haproxy.cfg cannot carry", dir);
	if (strlen(dir) + 1 + strlen(HAPROXY_SOCK_NAME) + SOCK_TMP_ROOM >=
	    sizeof(((struct sockaddr_un *)0)->sun_path))
		return arena_printf(a, "the runtime socket's path in balancer.haproxy.dir \"%s\" is too "
				       "long for a unix socket (at most %zu bytes)", dir,
				    sizeof(((struct sockaddr_un *)0)->sun_path) - SOCK_TMP_ROOM -
					1 - strlen(HAPROXY_SOCK_NAME) - 1);
	return NULL;
}
