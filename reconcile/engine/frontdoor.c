/*
 * reconcile/engine/frontdoor.c - telling the front doors (frontdoor.h) that
 * the primary moves.
 */
#include "reconcile/engine/frontdoor.h"

#include "common/log.h"

int frontdoor_pause(const PgcCluster *c, const char *from, const char *to)
{
	size_t n, i, j;
	const PgcFrontDoor *t = frontdoor_table(&n);

	for (i = 0; i < n; i++) {
		if (t[i].pause == NULL || !t[i].declared(c))
			continue;
		if (t[i].pause(c, from, to) == 0)
			continue;
		log_error("cannot pause the %s of cluster \"%s\": the primary stays \"%s\"", t[i].name,
			  c->name, from);
		for (j = 0; j <= i; j++)
			if (t[j].resume != NULL && t[j].declared(c))
				(void)t[j].resume(c, from);
		return -1;
	}
	return 0;
}

int frontdoor_repoint(const PgcCluster *x, const char *from, const char *to)
{
	size_t n, i;
	const PgcFrontDoor *t = frontdoor_table(&n);
	int rc = 0;

	for (i = 0; i < n; i++)
		if (t[i].repoint != NULL && t[i].declared(x) && t[i].repoint(x, from, to) != 0) {
			log_warn("the %s of cluster \"%s\" does not point at \"%s\" yet: the next "
				 "reconcile pass retries", t[i].name, x->name, to);
			rc = -1;
		}
	return rc;
}

int frontdoor_resume(const PgcCluster *c, const char *from)
{
	size_t n, i;
	const PgcFrontDoor *t = frontdoor_table(&n);
	int rc = 0;

	for (i = 0; i < n; i++)
		if (t[i].resume != NULL && t[i].declared(c) && t[i].resume(c, from) != 0)
			rc = -1;
	return rc;
}
