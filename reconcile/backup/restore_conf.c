/*
 * reconcile/backup/restore_conf.c - the configuration a restore runs with
 * (restore_conf.h). Pure.
 */
#include "reconcile/backup/restore_conf.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "reconcile/backup/walarchive.h"
#include "reconcile/engine/plan.h"
#include "reconcile/postgres/plan_conf.h"

/* ---- the configuration ----------------------------------------------------------- */

bool restore_has_target(const PgcBootstrap *b)
{
	return (b->immediate.set && b->immediate.v) || b->target_time.set || b->target_lsn.set ||
	       b->target_xid.set || b->target_name.set;
}

bool restore_pauses(const PgcBootstrap *b)
{
	return restore_has_target(b) && b->target_action.v != NULL &&
	       strcmp(b->target_action.v, "pause") == 0;
}

int restore_conf_param_cmp(const void *x, const void *y)
{
	return strcasecmp(((const PgcConfParam *)x)->name, ((const PgcConfParam *)y)->name);
}

/* put - sets name in the sorted-later list (replacing a value), growing it in a. */
static void put(PgcArena *a, PgcConfParam **p, size_t *n, const char *name, const char *value)
{
	PgcConfParam *np;
	size_t i;

	for (i = 0; i < *n; i++) {
		if (strcasecmp((*p)[i].name, name) == 0) {
			(*p)[i].value = value;
			return;
		}
	}
	np = arena_calloc(a, *n + 1, sizeof(*np));
	if (*n)
		memcpy(np, *p, *n * sizeof(*np));
	np[*n].name = name;
	np[*n].value = value;
	*p = np;
	(*n)++;
}

const char *restore_managed_conf(PgcArena *a, const PgcCluster *c, const PgcNode *n)
{
	const PgcBootstrap *b = &c->bootstrap;
	PgcConfParam *p;
	size_t np = plan_conf_params(a, c, n, &p);
	bool target = restore_has_target(b);

	put(a, &p, &np, "restore_command",
	    walarchive_restore_command(a, c->tool_path ? c->tool_path : "pgconverge",
				       b->repository.v));
	put(a, &p, &np, "recovery_target_timeline", "latest");
	if (b->immediate.set && b->immediate.v)
		put(a, &p, &np, "recovery_target", "immediate");
	else if (b->target_time.set)
		put(a, &p, &np, "recovery_target_time", b->target_time.v);
	else if (b->target_lsn.set)
		put(a, &p, &np, "recovery_target_lsn", b->target_lsn.v);
	else if (b->target_xid.set)
		put(a, &p, &np, "recovery_target_xid", b->target_xid.v);
	else if (b->target_name.set)
		put(a, &p, &np, "recovery_target_name", b->target_name.v);
	if (target)
		put(a, &p, &np, "recovery_target_action",
		    b->target_action.v != NULL ? b->target_action.v : "promote");
	qsort(p, np, sizeof(*p), restore_conf_param_cmp);
	return plan_conf_render(a, c, n, p, np);
}

bool restore_conf_is_restore(PgcArena *a, const char *content)
{
	PgcConfParam *p;
	size_t n = plan_conf_parse(a, content, &p), i;

	for (i = 0; i < n; i++)
		if (strcasecmp(p[i].name, "recovery_target_timeline") == 0)
			return true;
	return false;
}
