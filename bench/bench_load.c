/*
 * bench/bench_load.c - time to load and validate a topology, against the
 * time libyaml alone takes to parse the same bytes (the baseline, measured
 * in the same run). Prints milliseconds per run and the ratio.
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include <yaml.h>

#include "common/fsutil.h"
#include "schema/topology.h"

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static void parse_only(const char *buf, size_t len)
{
	yaml_parser_t p;
	yaml_document_t d;

	yaml_parser_initialize(&p);
	yaml_parser_set_input_string(&p, (const unsigned char *)buf, len);
	if (yaml_parser_load(&p, &d))
		yaml_document_delete(&d);
	yaml_parser_delete(&p);
}

int main(int argc, char **argv)
{
	char *buf = NULL;
	size_t len = 0;
	int i, runs = argc > 2 ? atoi(argv[2]) : 20;
	double t0, base, full;
	PgcLoadOptions opts = {.offline = true};
	size_t nodes = 0, errors = 0;

	if (argc < 2 || fs_read_file(argv[1], &buf, &len, 256 << 20) != 0) {
		fprintf(stderr, "usage: bench_load FILE [RUNS]\n");
		return 1;
	}
	t0 = now_ms();
	for (i = 0; i < runs; i++)
		parse_only(buf, len);
	base = (now_ms() - t0) / runs;
	t0 = now_ms();
	for (i = 0; i < runs; i++) {
		PgcDiagList d = {0};
		PgcTopology *t = topology_load_buffer(buf, len, argv[1], &opts, &d);
		size_t c;

		errors = diag_count(&d, DIAG_ERROR);
		nodes = 0;
		for (c = 0; t != NULL && c < t->n_clusters; c++)
			nodes += t->clusters[c].n_nodes;
		topology_free(t);
		diag_free(&d);
	}
	full = (now_ms() - t0) / runs;
	printf("topology: %zu bytes, %zu nodes, %zu errors\n", len, nodes, errors);
	printf("libyaml parse only (baseline): %8.2f ms\n", base);
	printf("load + validate:               %8.2f ms  (%.2fx baseline)\n", full, full / base);
	free(buf);
	return errors == 0 ? 0 : 1;
}
