/*
 * reconcile/pg/passfile.c - rendering and parsing the replication passfile
 * (passfile.h). The parser follows libpq's passwordFromFile() and
 * pwdfMatchesString() (PostgreSQL 15, fe-connect.c), so that what observe
 * reads back is what the walreceiver's libpq would use.
 */
#include "reconcile/pg/passfile.h"

#include <stdlib.h>
#include <string.h>

const char *passfile_escape(PgcArena *arena, const char *field)
{
	size_t n = 0;
	char *out, *p;

	for (const char *s = field; *s != '\0'; s++)
		n += (*s == ':' || *s == '\\') ? 2 : 1;
	out = p = arena_alloc(arena, n + 1);
	for (const char *s = field; *s != '\0'; s++) {
		if (*s == ':' || *s == '\\')
			*p++ = '\\';
		*p++ = *s;
	}
	*p = '\0';
	return out;
}

char *passfile_render(PgcArena *arena, const char *host, const char *port, const char *user,
		      const char *password)
{
	const char *head;
	size_t n;
	char *out, *p;

	if (strpbrk(password, "\r\n") != NULL)
		return NULL;
	head = arena_printf(arena, "%s:%s:*:%s:", host ? passfile_escape(arena, host) : "*",
			    port ? port : "*", passfile_escape(arena, user));
	n = strlen(head) + 2 * strlen(password) + 2;
	out = malloc(n);
	if (out == NULL)
		abort();
	p = stpcpy(out, head);
	for (const char *s = password; *s != '\0'; s++) {
		if (*s == ':' || *s == '\\')
			*p++ = '\\';
		*p++ = *s;
	}
	*p++ = '\n';
	*p = '\0';
	return out;
}

/*
 * field - one ':'-terminated field from *src, unescaped into *dst; the
 * last (password) field ends at an unescaped ':' or the end of the line.
 * Returns the field's start in the output, or NULL when the line ends
 * before a field that needs its ':'.
 */
static const char *field(const char **src, char **dst, const char *eol, int last)
{
	const char *s = *src;
	char *start = *dst, *d = *dst;

	while (s < eol && *s != ':') {
		if (*s == '\\' && s + 1 < eol)
			s++;
		*d++ = *s++;
	}
	*d++ = '\0';
	if (s >= eol && !last)
		return NULL;
	*src = s < eol ? s + 1 : s;
	*dst = d;
	return start;
}

int passfile_parse(const char *text, char *buf, size_t size, PgcPassfileEntry *out)
{
	const char *line = text, *eol, *s;
	char *d = buf;

	memset(out, 0, sizeof(*out));
	if (text == NULL || size < strlen(text) + 1)
		return -1;
	for (; *line != '\0'; line = *eol ? eol + 1 : eol) {
		eol = line + strcspn(line, "\n");
		/* libpq strips the line break, a Windows one included. */
		while (eol > line && eol[-1] == '\r')
			eol--;
		if (line[0] == '#' || eol == line) {
			eol = line + strcspn(line, "\n");
			continue;
		}
		s = line;
		if ((out->host = field(&s, &d, eol, 0)) == NULL ||
		    (out->port = field(&s, &d, eol, 0)) == NULL ||
		    (out->database = field(&s, &d, eol, 0)) == NULL ||
		    (out->user = field(&s, &d, eol, 0)) == NULL)
			break;
		out->password = field(&s, &d, eol, 1);
		return 0;
	}
	memset(out, 0, sizeof(*out));
	return -1;
}
