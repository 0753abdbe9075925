/*
 * reconcile/engine/secret.h - resolving a topology secret ({env: NAME} or
 * {file: PATH}) to its value on this host. A value never goes into a
 * message, a log line or argv.
 */
#ifndef PGC_RECONCILE_ENGINE_SECRET_H
#define PGC_RECONCILE_ENGINE_SECRET_H

#include <stddef.h>

#include "schema/topology.h"

/*
 * secret_resolve - the value of a secret on this host: the variable of
 * {env: NAME}, or the content of {file: PATH} (which must be a regular file
 * not readable by group or others), without one trailing newline (and a
 * carriage return before it). An unset or empty variable, or an empty file,
 * is an error, and so is a value with a line break (LF or CR) inside: a
 * secret is one line (libpq's passfile cannot hold a line break; the
 * message names the source, never the value). what names the secret's use in messages ("password of role
 * \"app\""). malloc'd; release with secret_free(). NULL on failure, with
 * the reason in err (no value ever appears in it).
 */
char *secret_resolve(const PgcSecret *s, const char *what, char *err, size_t errlen);
/* How secret_resolve_status() ended. */
typedef enum {
	SECRET_FOUND,       /* the value is returned */
	SECRET_UNAVAILABLE, /* not on this host: variable unset or empty, no such file */
	SECRET_REFUSED,     /* there but unusable: mode, not a regular file, too large, empty
	                     * file, a line break inside */
} PgcSecretStatus;

/*
 * secret_resolve_status - secret_resolve(), telling a secret this host does
 * not have (someone else may) from one it has and refuses: observe treats
 * the first as "cannot tell" and the second as "differs", so that the plan
 * carries an action whose apply reports the refusal.
 */
char *secret_resolve_status(const PgcSecret *s, const char *what, PgcSecretStatus *status,
			    char *err, size_t errlen);
/* secret_free - wipes (explicit_bzero) and frees a resolved secret; NULL is ignored. */
void secret_free(char *secret);

#endif
