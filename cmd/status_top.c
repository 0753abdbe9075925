/*
 * cmd/status_top.c - `pgconverge status --cluster NAME --top`: the live
 * primary's top statements, unused and rarely used indexes, and tables
 * read mostly by sequential scans (reconcile/observe/observe_top.h), as
 * aligned text or JSON.
 */
#include "cmd/status_top.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "cmd/converge.h"
#include "cmd/exitcodes.h"
#include "common/progress.h"
#include "common/strutil.h"
#include "reconcile/observe/observe_top.h"

/* The longest query text a row shows (JSON has it whole). */
#define QUERY_WIDTH 72

/* ---- text ------------------------------------------------------------------------ */

#define MAX_COLS 8

typedef struct {
	PgcArena *a;
	size_t n_cols, n_rows;
	const char **cells; /* row-major; row 0 is the header */
	bool right[MAX_COLS];
} Table;

static void table_init(Table *t, PgcArena *a, size_t n_cols, size_t n_rows, const char **header,
		       const char *align)
{
	t->a = a;
	t->n_cols = n_cols;
	t->n_rows = 0;
	t->cells = arena_calloc(a, (n_rows + 1) * n_cols, sizeof *t->cells);
	for (size_t i = 0; i < n_cols; i++) {
		t->cells[i] = header[i];
		t->right[i] = align[i] == 'r';
	}
	t->n_rows = 1;
}

/* table_row - the next row's cells, escaped for a terminal. */
static void table_row(Table *t, const char **cells)
{
	for (size_t i = 0; i < t->n_cols; i++)
		t->cells[t->n_rows * t->n_cols + i] = str_text(t->a, cells[i] ? cells[i] : "-");
	t->n_rows++;
}

static void table_print(const Table *t, const char *indent)
{
	size_t w[MAX_COLS] = {0};

	for (size_t r = 0; r < t->n_rows; r++)
		for (size_t i = 0; i < t->n_cols; i++)
			if (strlen(t->cells[r * t->n_cols + i]) > w[i])
				w[i] = strlen(t->cells[r * t->n_cols + i]);
	for (size_t r = 0; r < t->n_rows; r++) {
		fputs(indent, stdout);
		for (size_t i = 0; i < t->n_cols; i++) {
			const char *c = t->cells[r * t->n_cols + i];
			bool last = i + 1 == t->n_cols;

			if (t->right[i])
				printf("%*s%s", (int)w[i], c, last ? "" : "  ");
			else
				printf("%-*s%s", last ? 0 : (int)w[i], c, last ? "" : "  ");
		}
		putchar('\n');
	}
}

/* one_line - q with runs of white space made one space, cut at QUERY_WIDTH bytes (not inside a character). */
static const char *one_line(PgcArena *a, const char *q)
{
	char *out = arena_alloc(a, strlen(q) + 4);
	size_t n = 0;
	bool space = false;

	for (const char *p = q; *p != '\0'; p++) {
		if (*p == ' ' || *p == '\n' || *p == '\t' || *p == '\r') {
			space = n > 0;
			continue;
		}
		if (space)
			out[n++] = ' ';
		space = false;
		out[n++] = *p;
	}
	out[n] = '\0';
	if (n > QUERY_WIDTH) {
		n = QUERY_WIDTH;
		while (n > 0 && ((unsigned char)out[n] & 0xc0) == 0x80)
			n--;
		strcpy(out + n, "...");
	}
	return out;
}

static const char *num(PgcArena *a, long long v)
{
	return arena_printf(a, "%lld", v);
}

static const char *bytes(PgcArena *a, long long v)
{
	char buf[32];

	return arena_strdup(a, progress_format_bytes(v, buf, sizeof buf));
}

static const char *qualified(PgcArena *a, const char *schema, const char *name)
{
	return arena_printf(a, "%s.%s", schema ? schema : "?", name ? name : "?");
}

static void text_indexes(PgcArena *a, const PgcTopIndex *x, size_t n, bool scans)
{
	static const char *header[] = {"index", "table", "size", "scans"};
	Table t;

	if (n == 0) {
		puts("    (none)");
		return;
	}
	table_init(&t, a, scans ? 4 : 3, n, header, "llrr");
	for (size_t i = 0; i < n; i++) {
		const char *row[] = {qualified(a, x[i].schema, x[i].index),
				     qualified(a, x[i].schema, x[i].table), bytes(a, x[i].size_bytes),
				     num(a, x[i].scans)};

		table_row(&t, row);
	}
	table_print(&t, "    ");
}

static void text_database(PgcArena *a, const PgcTopDatabase *d)
{
	static const char *sh[] = {"total ms", "calls", "mean ms", "rows", "user", "query"};
	static const char *th[] = {"table", "seq scans", "rows read", "index scans", "live rows", "size"};
	Table t;

	str_fprintf_line(stdout, "\ndatabase %s%s%s\n", d->name,
			 d->stats_reset ? ", statistics since " : "",
			 d->stats_reset ? d->stats_reset : "");
	if (d->error != NULL) {
		str_fprintf_line(stdout, "  error: %s\n", d->error);
		if (d->n_statements + d->n_unused + d->n_seq_tables == 0)
			return;
	}
	puts("  top statements by total execution time (pg_stat_statements)");
	if (!d->pgss) {
		str_fprintf_line(stdout, "    %s\n", d->pgss_note ? d->pgss_note : "(not read)");
	} else if (d->n_statements == 0) {
		puts("    (none)");
	} else {
		table_init(&t, a, 6, d->n_statements, sh, "rrrrll");
		for (size_t i = 0; i < d->n_statements; i++) {
			const PgcTopStatement *s = &d->statements[i];
			const char *row[] = {arena_printf(a, "%.1f", s->total_ms), num(a, s->calls),
					     arena_printf(a, "%.3f", s->mean_ms), num(a, s->rows),
					     s->user, one_line(a, s->query ? s->query : "")};

			table_row(&t, row);
		}
		table_print(&t, "    ");
	}
	puts("  unused indexes (never scanned; unique, primary key and constraint indexes left out)");
	text_indexes(a, d->unused, d->n_unused, false);
	printf("  rarely used indexes (fewer than %d scans)\n", OBS_TOP_RARE_SCANS);
	text_indexes(a, d->rare, d->n_rare, true);
	puts("  tables read mostly by sequential scans");
	if (d->n_seq_tables == 0) {
		puts("    (none)");
		return;
	}
	table_init(&t, a, 6, d->n_seq_tables, th, "lrrrrr");
	for (size_t i = 0; i < d->n_seq_tables; i++) {
		const PgcTopTable *x = &d->seq_tables[i];
		const char *row[] = {qualified(a, x->schema, x->table), num(a, x->seq_scan),
				     num(a, x->seq_rows), num(a, x->idx_scan), num(a, x->live_rows),
				     bytes(a, x->size_bytes)};

		table_row(&t, row);
	}
	table_print(&t, "    ");
}

static void print_text(const PgcTop *top)
{
	PgcArena *a = arena_new();

	if (top->error != NULL) {
		arena_free(a);
		return; /* said on stderr */
	}
	str_fprintf_line(stdout, "cluster %s, live primary %s\n", top->cluster, top->node);
	for (size_t i = 0; i < top->n_dbs; i++)
		text_database(a, &top->dbs[i]);
	arena_free(a);
}

/* ---- json ------------------------------------------------------------------------ */

static json_t *jstr(const char *s)
{
	return s ? json_string(s) : json_null();
}

static json_t *json_indexes(const PgcTopIndex *x, size_t n)
{
	json_t *arr = json_array();

	for (size_t i = 0; i < n; i++)
		json_array_append_new(arr, json_pack("{s:o s:o s:o s:I s:I}", "schema",
						     jstr(x[i].schema), "table", jstr(x[i].table),
						     "index", jstr(x[i].index), "scans",
						     (json_int_t)x[i].scans, "size_bytes",
						     (json_int_t)x[i].size_bytes));
	return arr;
}

static json_t *json_database(const PgcTopDatabase *d)
{
	json_t *st = json_array(), *seq = json_array();

	for (size_t i = 0; i < d->n_statements; i++) {
		const PgcTopStatement *s = &d->statements[i];

		json_array_append_new(st, json_pack("{s:o s:o s:I s:f s:f s:I}", "query",
						    jstr(s->query), "user", jstr(s->user), "calls",
						    (json_int_t)s->calls, "total_ms", s->total_ms,
						    "mean_ms", s->mean_ms, "rows", (json_int_t)s->rows));
	}
	for (size_t i = 0; i < d->n_seq_tables; i++) {
		const PgcTopTable *x = &d->seq_tables[i];

		json_array_append_new(
		    seq, json_pack("{s:o s:o s:I s:I s:I s:I s:I}", "schema", jstr(x->schema), "table",
				   jstr(x->table), "seq_scan", (json_int_t)x->seq_scan, "seq_rows_read",
				   (json_int_t)x->seq_rows, "idx_scan", (json_int_t)x->idx_scan,
				   "live_rows", (json_int_t)x->live_rows, "size_bytes",
				   (json_int_t)x->size_bytes));
	}
	return json_pack("{s:s s:o s:o s:b s:o s:o s:o s:o s:o s:i}", "name", d->name, "error",
			 jstr(d->error), "stats_reset", jstr(d->stats_reset), "pg_stat_statements",
			 d->pgss, "pg_stat_statements_note", jstr(d->pgss_note), "statements", st,
			 "unused_indexes", json_indexes(d->unused, d->n_unused),
			 "rarely_used_indexes", json_indexes(d->rare, d->n_rare), "seq_scan_tables",
			 seq, "rarely_used_below_scans", OBS_TOP_RARE_SCANS);
}

static json_t *top_json(const PgcTop *top)
{
	json_t *dbs = json_array();

	for (size_t i = 0; i < top->n_dbs; i++)
		json_array_append_new(dbs, json_database(&top->dbs[i]));
	return json_pack("{s:s s:o s:o s:o}", "cluster", top->cluster, "node", jstr(top->node),
			 "error", jstr(top->error), "databases", dbs);
}

int status_top(const PgcOptions *opts)
{
	PgcTopology *t = converge_load(opts);
	PgcObserved *obs = NULL;
	const PgcCluster *c;
	PgcTop *top = NULL;
	int rc = EXIT_ERROR;

	if (t == NULL)
		goto cleanup;
	c = topology_cluster(t, opts->cluster);
	if (c == NULL) {
		fprintf(stderr, "pgconverge: cluster \"%s\" is not in the topology\n", opts->cluster);
		goto cleanup;
	}
	obs = converge_observe(opts, t);
	if (obs == NULL)
		goto cleanup;
	for (size_t i = 0; i < obs->n_clusters && top == NULL; i++)
		if (strcmp(obs->clusters[i].name, c->name) == 0)
			top = observe_top(c, &obs->clusters[i], opts->limit);
	if (top == NULL)
		top = observe_top(c, NULL, opts->limit);
	if (options_format_is(opts, "json"))
		cmd_print_json(top_json(top), JSON_INDENT(2) | JSON_SORT_KEYS);
	else
		print_text(top);
	if (top->error != NULL) {
		str_fprintf_line(stderr, "pgconverge: %s\n", top->error);
		goto cleanup;
	}
	rc = EXIT_OK;
cleanup:
	observe_top_free(top);
	observe_free(obs);
	topology_free(t);
	return rc;
}
