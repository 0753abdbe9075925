/*
 * reconcile/pg/passfile.h - the libpq password file a replica reads its
 * replication password from: one line "host:port:*:user:password", where
 * '\' escapes the next character (pgconverge escapes ':' and '\'). Pure
 * functions, no I/O: apply renders the file (config.c, replication.c),
 * observe parses it to tell whether it holds the declared password.
 *
 * libpq (passwordFromFile) reads the file line by line and strips the line
 * break: a password with a line break cannot be written into it, so
 * secret_resolve() refuses such secrets before they get here.
 */
#ifndef PGC_RECONCILE_PG_PASSFILE_H
#define PGC_RECONCILE_PG_PASSFILE_H

#include "common/arena.h"

/* passfile_escape - a passfile field with ':' and '\' escaped. Owned by arena. */
const char *passfile_escape(PgcArena *arena, const char *field);

/*
 * passfile_render - the line "HOST:PORT:*:USER:PASSWORD\n" (host or port
 * "*" when NULL), fields escaped. malloc'd: it holds the secret, so the
 * caller wipes it with secret_free(). NULL when password has a line break
 * (libpq would cut it there).
 */
char *passfile_render(PgcArena *arena, const char *host, const char *port, const char *user,
		      const char *password);

/* One entry of a passfile, fields unescaped; they point into the parse buffer. */
typedef struct {
	const char *host, *port, *database, *user, *password;
} PgcPassfileEntry;

/*
 * passfile_parse - the first entry of a passfile's text the way libpq
 * reads it (comment lines skipped, the line break stripped, '\' escapes,
 * the password ending at an unescaped ':'). buf receives the unescaped
 * fields and must hold strlen(text) + 1 bytes; it holds the password, so
 * the caller wipes it. Returns 0, or -1 when the text has no entry of five
 * fields.
 */
int passfile_parse(const char *text, char *buf, size_t size, PgcPassfileEntry *out);

#endif
