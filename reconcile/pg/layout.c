/*
 * reconcile/pg/layout.c - where pgconverge puts things around a server
 * (layout.h).
 */
#include "reconcile/pg/layout.h"

#include <stdlib.h>

#include "common/fspath.h"

const char *plan_passfile_path(PgcArena *arena, const char *data_dir)
{
	char *p = fs_path_sibling(data_dir, ".pgconverge.pgpass");
	const char *out = arena_strdup(arena, p);

	free(p);
	return out;
}
