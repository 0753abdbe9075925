/*
 * tests/fuzz/fuzz_load.c - libFuzzer target for the topology loader and
 * validator: any byte string must give a topology or diagnostics, never a
 * crash, a leak or undefined behaviour. See tests/fuzz/run.sh.
 */
#include <stddef.h>
#include <stdint.h>

#include "schema/topology.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	PgcDiagList diags = {0};
	PgcLoadOptions opts = {.base_dir = "/nonexistent/fuzz", .offline = true};
	PgcTopology *t;

	t = topology_load_buffer((const char *)data, size, "fuzz.yaml", &opts, &diags);
	topology_free(t);
	diag_free(&diags);
	return 0;
}
