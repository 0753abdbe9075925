/*
 * schema/validate_conflicts.c - resources two nodes would fight over,
 * across the whole topology: listen ports, data directories, backup
 * repositories (schema/validate_conflicts.h).
 */
#include "schema/validate_conflicts.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/fsutil.h"

/* ---- addresses ---------------------------------------------------------- */

static bool addr_wildcard(const char *a)
{
	return a == NULL || *a == '\0' || strcmp(a, "*") == 0 || strcmp(a, "0.0.0.0") == 0 ||
	       strcmp(a, "::") == 0;
}

static bool addr_loopback(const char *a)
{
	return strcasecmp(a, "localhost") == 0 || strncmp(a, "127.", 4) == 0 || strcmp(a, "::1") == 0;
}

/* addr_same - the same address, counting "localhost" as 127.0.0.1. */
static bool addr_same(const char *a, const char *b)
{
	if (strcasecmp(a, "localhost") == 0)
		a = "127.0.0.1";
	if (strcasecmp(b, "localhost") == 0)
		b = "127.0.0.1";
	return strcasecmp(a, b) == 0;
}

/* addr_port_clash - two listeners on the same port that cannot both bind. */
static bool addr_port_clash(const char *a, const char *b)
{
	if (addr_same(a, b))
		return true;
	if (addr_wildcard(a))
		return addr_wildcard(b) || addr_loopback(b);
	if (addr_wildcard(b))
		return addr_loopback(a);
	return false;
}

/*
 * same_machine - nodes whose data directories share a filesystem: the same
 * host, or two local addresses (pgconverge runs the servers of every local
 * node on the machine it runs on).
 */
static bool same_machine(const char *a, const char *b)
{
	bool la = addr_loopback(a) || addr_wildcard(a), lb = addr_loopback(b) || addr_wildcard(b);

	return addr_same(a, b) || (la && lb);
}

/* node_host - the node's address; the loader's default when the model has none. */
static const char *node_host(const PgcNode *n)
{
	return n->host.v != NULL ? n->host.v : "127.0.0.1";
}


typedef struct {
	const char *key;
	const char *addr;
	long long port;
	PgcPos pos;
	size_t order;  /* collection order, to keep reports deterministic */
} Endpoint;

static void add_endpoint(Endpoint *eps, size_t *n, const char *key, const char *addr, const PgcInt *port)
{
	eps[*n].key = key;
	eps[*n].addr = addr ? addr : "127.0.0.1";
	eps[*n].port = port->v;
	eps[*n].pos = port->pos;
	eps[*n].order = *n;
	(*n)++;
}

static int endpoint_cmp(const void *pa, const void *pb)
{
	const Endpoint *a = pa, *b = pb;

	if (a->port != b->port)
		return a->port < b->port ? -1 : 1;
	return a->order < b->order ? -1 : a->order > b->order;
}

/* validate_ports - listeners that cannot all bind; compared within runs of equal ports. */
void validate_ports(Val *v)
{
	size_t i, j, n = 0, cap = 0;
	Endpoint *eps;

	for (i = 0; i < v->t->n_clusters; i++)
		cap += v->t->clusters[i].n_nodes + 6;
	eps = calloc(cap + 1, sizeof(Endpoint));
	if (eps == NULL)
		abort();
	for (i = 0; i < v->t->n_clusters; i++) {
		const PgcCluster *c = &v->t->clusters[i];
		const char *pk = val_fmt(v, "clusters.%s.pooler.pgbouncer", c->name);
		const char *hk = val_fmt(v, "clusters.%s.balancer.haproxy", c->name);

		for (j = 0; j < c->n_nodes; j++)
			add_endpoint(eps, &n, val_fmt(v, "clusters.%s.nodes.%s.port", c->name, c->nodes[j].name),
				     node_host(&c->nodes[j]), &c->nodes[j].port);
		if (c->pgbouncer.set && c->pgbouncer.port.set)
			add_endpoint(eps, &n, val_fmt(v, "%s.port", pk), c->pgbouncer.listen_address.v,
				     &c->pgbouncer.port);
		if (c->haproxy.set && c->haproxy.write_port.set)
			add_endpoint(eps, &n, val_fmt(v, "%s.write_port", hk), c->haproxy.listen_address.v,
				     &c->haproxy.write_port);
		if (c->haproxy.set && c->haproxy.read_port.set)
			add_endpoint(eps, &n, val_fmt(v, "%s.read_port", hk), c->haproxy.listen_address.v,
				     &c->haproxy.read_port);
		if (c->haproxy.set && c->haproxy.stats_port.set)
			add_endpoint(eps, &n, val_fmt(v, "%s.stats_port", hk), c->haproxy.listen_address.v,
				     &c->haproxy.stats_port);
		if (c->pgpool.set && c->pgpool.port.set) {
			const char *gk = val_fmt(v, "clusters.%s.balancer.pgpool", c->name);
			PgcInt pcp = c->pgpool.pcp_port;

			if (!pcp.set)
				pcp.pos = c->pgpool.port.pos; /* port + 1 by default */
			add_endpoint(eps, &n, val_fmt(v, "%s.port", gk), c->pgpool.listen_address.v,
				     &c->pgpool.port);
			/* PCP listens on every address (pcp_listen_addresses '*' is not used:
			 * pgconverge renders localhost), so it clashes as 127.0.0.1 does. */
			add_endpoint(eps, &n, val_fmt(v, "%s.pcp_port", gk), "127.0.0.1", &pcp);
		}
	}
	qsort(eps, n, sizeof(Endpoint), endpoint_cmp);
	for (i = 0; i < n; i++) {
		for (j = i + 1; j < n && eps[j].port == eps[i].port; j++) {
			const Endpoint *a = &eps[i], *b = &eps[j];

			if (!addr_port_clash(a->addr, b->addr))
				continue;
			if (val_pos_before(b->pos, a->pos)) {
				const Endpoint *tmp = a;

				a = b;
				b = tmp;
			}
			if (strcmp(a->addr, b->addr) == 0)
				val_error(v, b->pos, b->key, "give each server its own port",
					  "port %lld on \"%s\" is already used by %s%s", b->port, b->addr,
					  a->key, val_at_line(v, a->pos));
			else
				val_error(v, b->pos, b->key, "give each server its own port",
					  "port %lld on \"%s\" is already used by %s on \"%s\"%s", b->port,
					  b->addr, a->key, a->addr, val_at_line(v, a->pos));
		}
	}
	free(eps);
}

typedef struct {
	const PgcCluster *c;
	const PgcNode *n;
	char *path;    /* normalised, malloc'd */
	size_t order;
} DirEntry;

/* path_cmp - strcmp with '/' before every other byte, so that the paths
 * below a directory sort right after it ("/a", "/a/b", "/a-b"). */
static int path_cmp(const char *a, const char *b)
{
	unsigned ka, kb;

	for (; *a != '\0' && *a == *b; a++, b++)
		;
	ka = *a == '/' ? 1 : *a == '\0' ? 0 : (unsigned)(unsigned char)*a + 1;
	kb = *b == '/' ? 1 : *b == '\0' ? 0 : (unsigned)(unsigned char)*b + 1;
	return ka < kb ? -1 : ka > kb;
}

static int dir_entry_cmp(const void *pa, const void *pb)
{
	const DirEntry *a = pa, *b = pb;
	int c = path_cmp(a->path, b->path);

	if (c != 0)
		return c;
	return a->order < b->order ? -1 : a->order > b->order;
}

/* path_below - child is parent or lies below it; both normalised. */
static bool path_below(const char *parent, const char *child)
{
	size_t n = strlen(parent);

	if (strcmp(parent, "/") == 0)
		return child[0] == '/';
	return strncmp(parent, child, n) == 0 && (child[n] == '\0' || child[n] == '/');
}

static void report_data_dir(Val *v, const DirEntry *x, const DirEntry *y)
{
	const char *ykey;

	if (val_pos_before(y->n->data_dir.pos, x->n->data_dir.pos)) {
		const DirEntry *tmp = x;

		x = y;
		y = tmp;
	}
	ykey = val_fmt(v, "clusters.%s.nodes.%s.data_dir", y->c->name, y->n->name);
	if (strcmp(x->path, y->path) == 0)
		val_error(v, y->n->data_dir.pos, ykey, "give each node its own data directory",
			  "data directory \"%s\" is already used by clusters.%s.nodes.%s%s", y->n->data_dir.v,
			  x->c->name, x->n->name, val_at_line(v, x->n->data_dir.pos));
	else if (path_below(x->path, y->path))
		val_error(v, y->n->data_dir.pos, ykey, "keep data directories side by side",
			  "data directory \"%s\" is inside the data directory \"%s\" of clusters.%s.nodes.%s%s",
			  y->n->data_dir.v, x->n->data_dir.v, x->c->name, x->n->name,
			  val_at_line(v, x->n->data_dir.pos));
	else
		val_error(v, y->n->data_dir.pos, ykey, "keep data directories side by side",
			  "data directory \"%s\" contains the data directory \"%s\" of clusters.%s.nodes.%s%s",
			  y->n->data_dir.v, x->n->data_dir.v, x->c->name, x->n->name,
			  val_at_line(v, x->n->data_dir.pos));
}

/*
 * validate_data_dirs - two nodes of one machine on the same data directory, or
 * one inside the other (component-wise: "/a/b" is inside "/a", "/a/bc" is
 * not). Sorted so that each directory is compared only with the paths
 * equal to it or below it, which follow it directly.
 */
void validate_data_dirs(Val *v)
{
	size_t i, j, n = 0, cap = 0;
	DirEntry *ds;

	for (i = 0; i < v->t->n_clusters; i++)
		cap += v->t->clusters[i].n_nodes;
	ds = calloc(cap + 1, sizeof(DirEntry));
	if (ds == NULL)
		abort();
	for (i = 0; i < v->t->n_clusters; i++) {
		const PgcCluster *c = &v->t->clusters[i];

		for (j = 0; j < c->n_nodes; j++) {
			if (c->nodes[j].data_dir.v == NULL)
				continue;
			ds[n].c = c;
			ds[n].n = &c->nodes[j];
			ds[n].path = fs_path_normalize(c->nodes[j].data_dir.v);
			ds[n].order = n;
			n++;
		}
	}
	qsort(ds, n, sizeof(DirEntry), dir_entry_cmp);
	for (i = 0; i < n; i++)
		for (j = i + 1; j < n && path_below(ds[i].path, ds[j].path); j++)
			if (same_machine(node_host(ds[i].n), node_host(ds[j].n)))
				report_data_dir(v, &ds[i], &ds[j]);
	for (i = 0; i < n; i++)
		free(ds[i].path);
	free(ds);
}

void validate_repositories(Val *v)
{
	size_t ci, cj, ni;

	for (ci = 0; ci < v->t->n_clusters; ci++) {
		const PgcCluster *c = &v->t->clusters[ci];
		const PgcStr *repo = &c->backup.repository;
		const char *rk = val_fmt(v, "clusters.%s.backup.repository", c->name);

		if (!c->backup.set || !repo->set)
			continue;
		/* A restored cluster archiving into its source would mix two
		 * histories in one archive (the "expected empty archive" trap). */
		if (c->bootstrap.set && c->bootstrap.repository.set &&
		    (strcmp(repo->v, c->bootstrap.repository.v) == 0 ||
		     fs_path_is_inside(repo->v, c->bootstrap.repository.v) ||
		     fs_path_is_inside(c->bootstrap.repository.v, repo->v)))
			val_error(v, repo->pos, rk, "give the restored cluster a repository of its own",
				  "repository \"%s\" overlaps the repository \"%s\" this cluster is restored from",
				  repo->v, c->bootstrap.repository.v);
		/* A clone or a restore of the node would copy or wipe the backups. */
		for (cj = 0; cj < v->t->n_clusters; cj++) {
			const PgcCluster *d = &v->t->clusters[cj];

			for (ni = 0; ni < d->n_nodes; ni++) {
				const PgcNode *n = &d->nodes[ni];

				if (n->data_dir.v == NULL)
					continue;
				if (strcmp(repo->v, n->data_dir.v) == 0 || fs_path_is_inside(n->data_dir.v, repo->v))
					val_error(v, repo->pos, rk, "keep backups outside every data directory",
						  "repository \"%s\" is inside the data directory \"%s\" of "
						  "clusters.%s.nodes.%s", repo->v, n->data_dir.v, d->name, n->name);
				else if (fs_path_is_inside(repo->v, n->data_dir.v))
					val_error(v, repo->pos, rk, "keep backups outside every data directory",
						  "repository \"%s\" contains the data directory \"%s\" of "
						  "clusters.%s.nodes.%s", repo->v, n->data_dir.v, d->name, n->name);
			}
		}
		/* Two clusters archiving into one repository would mix their WAL. */
		for (cj = 0; cj < ci; cj++) {
			const PgcCluster *d = &v->t->clusters[cj];
			const PgcStr *other = &d->backup.repository;
			const char *how;

			if (!d->backup.set || !other->set)
				continue;
			if (strcmp(repo->v, other->v) == 0)
				how = "is already";
			else if (fs_path_is_inside(other->v, repo->v))
				how = "is inside";
			else if (fs_path_is_inside(repo->v, other->v))
				how = "contains";
			else
				continue;
			val_error(v, repo->pos, rk, "give each cluster its own repository",
				  "repository \"%s\" %s the repository \"%s\" of clusters.%s%s", repo->v,
				  how, other->v, d->name, val_at_line(v, other->pos));
		}
	}
}
