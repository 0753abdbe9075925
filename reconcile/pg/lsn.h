/*
 * reconcile/pg/lsn.h - PostgreSQL WAL positions (LSNs) as text: "16/B374D848",
 * the high and low 32 bits in hexadecimal, as pg_lsn and pg_controldata
 * write them.
 */
#ifndef PGC_RECONCILE_PG_LSN_H
#define PGC_RECONCILE_PG_LSN_H

#include <stddef.h>
#include <stdint.h>

#include "common/arena.h"

/* lsn_parse - "16/B374D848" into *lsn; 0, or -1 when text is not an LSN (or NULL). */
int lsn_parse(const char *text, uint64_t *lsn);

/* lsn_value - "16/B374D848" as a byte position; 0 when malformed or NULL. */
uint64_t lsn_value(const char *text);

/* lsn_format - an LSN as PostgreSQL writes it, into buf; returns buf. */
const char *lsn_format(uint64_t lsn, char *buf, size_t size);

/* lsn_text - lsn_format() into a, for messages. */
const char *lsn_text(PgcArena *a, uint64_t lsn);

#endif
