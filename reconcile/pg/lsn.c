/*
 * reconcile/pg/lsn.c - LSNs as text (lsn.h).
 */
#include "reconcile/pg/lsn.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

int lsn_parse(const char *text, uint64_t *lsn)
{
	unsigned long long hi, lo;
	char *end;

	if (text == NULL || *text == '\0')
		return -1;
	hi = strtoull(text, &end, 16);
	if (end == text || *end != '/' || hi > 0xFFFFFFFFull)
		return -1;
	text = end + 1;
	lo = strtoull(text, &end, 16);
	if (end == text || *end != '\0' || lo > 0xFFFFFFFFull)
		return -1;
	*lsn = ((uint64_t)hi << 32) | (uint64_t)lo;
	return 0;
}

uint64_t lsn_value(const char *text)
{
	uint64_t v;

	return lsn_parse(text, &v) == 0 ? v : 0;
}

const char *lsn_format(uint64_t lsn, char *buf, size_t size)
{
	snprintf(buf, size, "%" PRIX64 "/%" PRIX64, lsn >> 32, lsn & 0xFFFFFFFFu);
	return buf;
}

const char *lsn_text(PgcArena *a, uint64_t lsn)
{
	char buf[32];

	return arena_strdup(a, lsn_format(lsn, buf, sizeof buf));
}
