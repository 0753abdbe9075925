/*
 * cmd/validate.c - `pgconverge validate`: load and check a topology file,
 * print every problem, and summarise each cluster when the file is valid.
 * Touches no server and writes no file.
 */
#include <stdlib.h>
#include <string.h>

#include "cmd/cmd.h"
#include "cmd/exitcodes.h"
#include "common/strutil.h"

static const char *const validate_formats[] = {"text", "json", NULL};

static const PgcOptionHelp validate_option_help[] = {
	{"cluster", NULL, "summarise only this cluster (problems are shown for all)"},
	{"offline", NULL, "skip checks of this machine (secret files), e.g. in CI"},
	{"state-dir", NULL, "where clones of remote --git repositories are kept "
			    "(default ./" PGC_STATE_DIR_NAME "/)"},
	{NULL, NULL, NULL},
};

const PgcCommandSpec validate_spec = {
	.usage = "validate " USAGE_SOURCE USAGE_NEWLINE
		 "[--require-signed [--allowed-signers FILE]] [--state-dir DIR]" USAGE_NEWLINE
		 "[--cluster NAME] [--format text|json] [--offline]",
	.description =
		"Loads the topology and checks all of it without connecting to a server or\n"
		"changing anything: YAML structure, unknown and duplicate keys, types, references\n"
		"between nodes, replication cycles, PostgreSQL parameter names, units, ranges and\n"
		"enum values for the cluster's major version, policies and secrets.\n"
		"\n"
		"Every problem is reported at once on stderr as FILE:LINE:COL, sorted by\n"
		"position, with the key and what was expected. Warnings do not fail the check.\n"
		"When the file is valid, one summary line per cluster goes to stdout: nodes and\n"
		"their roles, regions, synchronous replication, failover, backup, pooler and\n"
		"balancer. With --format json, stdout gets one object instead:\n"
		"{file, valid, errors, warnings, diagnostics, clusters}.\n"
		"\n"
		"With --git, the file is read from the commit --ref names (fetched first for a\n"
		"URL); a missing repository, ref or path, an unreachable remote and, with\n"
		"--require-signed, a commit without a valid ssh signature are errors too.\n",
	.options = OPT_SOURCE | OPT_STATE_DIR | OPT_CLUSTER | OPT_FORMAT | OPT_OFFLINE,
	.formats = validate_formats,
	.option_help = validate_option_help,
	.exit_codes = "  0   the topology is valid (warnings may have been printed)\n"
		      "  1   the topology is invalid or could not be read\n",
};

static const char *failover_mode_name(PgcFailoverMode m)
{
	return m == FAILOVER_AUTO ? "auto" : m == FAILOVER_OFF ? "off" : "manual";
}

static const char *sync_method_name(PgcSyncMethod m)
{
	return m == SYNC_ANY ? "any" : m == SYNC_FIRST ? "first" : "off";
}

static bool is_primary(const PgcCluster *c, const PgcNode *n)
{
	return c->primary.v != NULL && strcmp(c->primary.v, n->name) == 0;
}

/* cluster_regions - distinct node regions in file order; returns the count. */
static size_t cluster_regions(const PgcCluster *c, const char **out)
{
	size_t i, j, n = 0;

	for (i = 0; i < c->n_nodes; i++) {
		const char *r = c->nodes[i].region.v;

		if (r == NULL)
			continue;
		for (j = 0; j < n && strcmp(out[j], r) != 0; j++)
			;
		if (j == n)
			out[n++] = r;
	}
	return n;
}

static void print_nodes(FILE *out, const PgcCluster *c)
{
	size_t i, replicas = 0, cascades = 0;

	fprintf(out, "%zu node%s (primary %s", c->n_nodes, c->n_nodes == 1 ? "" : "s",
		c->primary.v ? c->primary.v : "none");
	for (i = 0; i < c->n_nodes; i++) {
		if (is_primary(c, &c->nodes[i]))
			continue;
		fprintf(out, "%s %s", replicas++ ? "" : ", replicas", c->nodes[i].name);
	}
	/* Cascading replicas are the ones a DBA needs to see at a glance. */
	for (i = 0; i < c->n_nodes; i++) {
		const PgcNode *up = cluster_upstream(c, &c->nodes[i]);

		if (up == NULL || is_primary(c, up))
			continue;
		fprintf(out, "%s %s from %s", cascades++ ? "," : ";", c->nodes[i].name, up->name);
	}
	fputc(')', out);
}

static void print_summary(FILE *out, const PgcCluster *c)
{
	const char **regions = calloc(c->n_nodes + 1, sizeof(*regions));
	size_t i, n_regions;

	if (regions == NULL)
		abort();
	fprintf(out, "%s: valid, postgres %lld, ", c->name, c->pg_version.v);
	if (c->standby_of.set)
		fprintf(out, "standby cluster of %s, ", c->standby_of.v);
	print_nodes(out, c);
	n_regions = cluster_regions(c, regions);
	if (n_regions == 0) {
		fputs(", no regions", out);
	} else {
		fprintf(out, ", %zu region%s (", n_regions, n_regions == 1 ? "" : "s");
		for (i = 0; i < n_regions; i++)
		{
			fputs(i ? ", " : "", out);
			str_fput_text(out, regions[i]);
		}
		if (c->regions.min.set)
			fprintf(out, "; min %lld", c->regions.min.v);
		fputc(')', out);
	}
	if (c->replication.synchronous.method != SYNC_OFF)
		fprintf(out, ", synchronous %s %lld",
			sync_method_name(c->replication.synchronous.method),
			c->replication.synchronous.count.v);
	fprintf(out, ", failover %s", failover_mode_name(c->failover.mode));
	if (c->backup.set)
		fprintf(out, ", backup on%s", c->backup.wal_archive.v ? " with wal archive" : "");
	else
		fputs(", backup off", out);
	if (c->pgbouncer.set)
		fprintf(out, ", pgbouncer :%lld", c->pgbouncer.port.v);
	if (c->haproxy.set) {
		fprintf(out, ", haproxy :%lld", c->haproxy.write_port.v);
		if (c->haproxy.read_port.set)
			fprintf(out, "/:%lld", c->haproxy.read_port.v);
	}
	if (c->bootstrap.set)
	{
		fputs(", restored from ", out);
		str_fput_text(out, c->bootstrap.repository.v); /* a path from the file */
	}
	fputc('\n', out);
	free(regions);
}

static json_t *json_str_or_null(const char *s)
{
	return s != NULL ? json_string(s) : json_null();
}

static json_t *node_json(const PgcCluster *c, const PgcNode *n)
{
	const PgcNode *up = cluster_upstream(c, n);

	return json_pack("{s:s, s:s, s:o, s:I, s:o, s:o, s:o}", "name", n->name, "role",
			 is_primary(c, n) ? "primary" : "replica", "host", json_str_or_null(n->host.v),
			 "port", (json_int_t)n->port.v, "data_dir", json_str_or_null(n->data_dir.v),
			 "region", json_str_or_null(n->region.v), "upstream",
			 json_str_or_null(up ? up->name : NULL));
}

static json_t *cluster_json(const PgcCluster *c)
{
	const char **regions = calloc(c->n_nodes + 1, sizeof(*regions));
	json_t *o = json_object(), *nodes = json_array(), *replicas = json_array();
	json_t *jregions = json_array();
	size_t i, n_regions;

	if (regions == NULL)
		abort();
	for (i = 0; i < c->n_nodes; i++) {
		json_array_append_new(nodes, node_json(c, &c->nodes[i]));
		if (!is_primary(c, &c->nodes[i]))
			json_array_append_new(replicas, json_string(c->nodes[i].name));
	}
	n_regions = cluster_regions(c, regions);
	for (i = 0; i < n_regions; i++)
		json_array_append_new(jregions, json_string(regions[i]));
	free(regions);

	json_object_set_new(o, "name", json_string(c->name));
	json_object_set_new(o, "postgres_version", json_integer(c->pg_version.v));
	json_object_set_new(o, "bin_dir", json_str_or_null(c->bin_dir.v));
	json_object_set_new(o, "primary", json_str_or_null(c->primary.v));
	json_object_set_new(o, "replicas", replicas);
	json_object_set_new(o, "nodes", nodes);
	json_object_set_new(o, "regions", jregions);
	json_object_set_new(o, "regions_min", json_integer(c->regions.min.v));
	if (c->replication.synchronous.method == SYNC_OFF)
		json_object_set_new(o, "synchronous", json_string("off"));
	else
		json_object_set_new(o, "synchronous",
				    json_pack("{s:s, s:I}", "method",
					      sync_method_name(c->replication.synchronous.method),
					      "count", (json_int_t)c->replication.synchronous.count.v));
	json_object_set_new(o, "failover", json_string(failover_mode_name(c->failover.mode)));
	json_object_set_new(o, "backup",
			    c->backup.set ? json_pack("{s:o, s:b}", "repository",
						      json_str_or_null(c->backup.repository.v),
						      "wal_archive", c->backup.wal_archive.v)
					  : json_null());
	json_object_set_new(o, "pgbouncer",
			    c->pgbouncer.set ? json_pack("{s:I}", "port", (json_int_t)c->pgbouncer.port.v)
					     : json_null());
	json_object_set_new(o, "haproxy",
			    c->haproxy.set
				    ? json_pack("{s:I, s:o}", "write_port",
						(json_int_t)c->haproxy.write_port.v, "read_port",
						c->haproxy.read_port.set
							? json_integer(c->haproxy.read_port.v)
							: json_null())
				    : json_null());
	json_object_set_new(o, "bootstrap", json_string(c->bootstrap.set ? "from_backup" : "initdb"));
	return o;
}

/* print_json - the whole result as one object on stdout. */
static void print_json(const PgcOptions *opts, const PgcTopology *t, const PgcDiagList *diags,
		       bool valid)
{
	json_t *root = json_pack("{s:s, s:b}", "file", opts->source_name, "valid", valid);
	json_t *clusters = json_array();
	size_t i;

	/* errors, warnings, diagnostics */
	json_object_update_new(root, diag_to_json(diags));
	for (i = 0; valid && i < t->n_clusters; i++)
		if (opts->cluster == NULL || strcmp(opts->cluster, t->clusters[i].name) == 0)
			json_array_append_new(clusters, cluster_json(&t->clusters[i]));
	json_object_set_new(root, "clusters", clusters);
	cmd_print_json(root, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
}

/* print_text - diagnostics to stderr (-qq: errors only), summaries to stdout (not with -q). */
static void print_text(const PgcOptions *opts, const PgcTopology *t, const PgcDiagList *diags,
		       bool valid)
{
	bool color = options_color(opts, stderr);
	size_t i;

	for (i = 0; i < diags->n; i++) {
		PgcDiagList one = {.items = &diags->items[i], .n = 1, .cap = 1};

		if (diags->items[i].level == DIAG_WARNING && opts->verbosity < -1)
			continue;
		diag_print(stderr, &one, color);
	}
	for (i = 0; valid && opts->verbosity >= 0 && i < t->n_clusters; i++)
		if (opts->cluster == NULL || strcmp(opts->cluster, t->clusters[i].name) == 0)
			print_summary(stdout, &t->clusters[i]);
}

/* check_cluster_option - an unknown --cluster is an error of this run. */
static void check_cluster_option(const PgcOptions *opts, const PgcTopology *t, PgcDiagList *diags)
{
	static const PgcPos nowhere = {0, 0};
	char hint[512] = "the file defines:";
	size_t i, used = strlen(hint);

	if (opts->cluster == NULL || topology_cluster(t, opts->cluster) != NULL)
		return;
	for (i = 0; i < t->n_clusters && used < sizeof(hint); i++)
		used += (size_t)snprintf(hint + used, sizeof(hint) - used, "%s '%s'", i ? "," : "",
					 t->clusters[i].name);
	diag_error(diags, opts->source_name, nowhere, NULL, hint,
		   "no cluster named '%s' (given with --cluster)", opts->cluster);
}

int cmd_validate(const PgcOptions *opts)
{
	PgcDiagList diags = {0};
	PgcTopology *t = options_load_topology(opts, &diags);
	bool valid;

	if (t != NULL && diag_count(&diags, DIAG_ERROR) == 0)
		check_cluster_option(opts, t, &diags);
	diag_sort(&diags);
	valid = t != NULL && diag_count(&diags, DIAG_ERROR) == 0;
	if (options_format_is(opts, "json"))
		print_json(opts, t, &diags, valid);
	else
		print_text(opts, t, &diags, valid);
	diag_free(&diags);
	topology_free(t);
	return valid ? EXIT_OK : EXIT_ERROR;
}
