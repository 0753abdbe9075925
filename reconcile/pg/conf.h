/*
 * reconcile/pg/conf.h - reading postgresql.conf text: whether it includes
 * the file pgconverge manages. Pure text parsing, shared by the
 * configuration executors and restore.
 */
#ifndef PGC_RECONCILE_PG_CONF_H
#define PGC_RECONCILE_PG_CONF_H

#include <stdbool.h>

/*
 * conf_has_include - true when postgresql.conf content has an
 * `include 'pgconverge.conf'` line (any spacing, optional '=', the file
 * name bare or ending in "/pgconverge.conf").
 */
bool conf_has_include(const char *content);

#endif
