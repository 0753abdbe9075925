/*
 * reconcile/pg/conf.c - reading postgresql.conf text (conf.h).
 */
#include "reconcile/pg/conf.h"

#include <string.h>

#include "reconcile/pg/layout.h"

/* include_value_matches - v (after the quote) is 'pgconverge.conf' or '.../pgconverge.conf'. */
static bool include_value_matches(const char *v)
{
	const char *end = strchr(v, '\'');
	size_t len, mlen = strlen(PGC_MANAGED_CONF);

	if (end == NULL)
		return false;
	len = (size_t)(end - v);
	if (len < mlen || memcmp(end - mlen, PGC_MANAGED_CONF, mlen) != 0)
		return false;
	return len == mlen || end[-(long)mlen - 1] == '/';
}

bool conf_has_include(const char *content)
{
	const char *line = content;

	while (line != NULL && *line != '\0') {
		const char *p = line;
		const char *nl = strchr(line, '\n');

		while (*p == ' ' || *p == '\t')
			p++;
		if (strncmp(p, "include", 7) == 0 &&
		    (p[7] == ' ' || p[7] == '\t' || p[7] == '=' || p[7] == '\'')) {
			p += 7;
			while (*p == ' ' || *p == '\t')
				p++;
			if (*p == '=')
				p++;
			while (*p == ' ' || *p == '\t')
				p++;
			if (*p == '\'' && include_value_matches(p + 1) &&
			    (nl == NULL || strchr(p + 1, '\'') < nl))
				return true;
		}
		line = nl ? nl + 1 : NULL;
	}
	return false;
}
