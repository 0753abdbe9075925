/*
 * reconcile/secret.h - resolving a topology secret ({env: NAME} or
 * {file: PATH}) to its value on this host. A value never goes into a
 * message, a log line or argv.
 */
#ifndef PGC_RECONCILE_SECRET_H
#define PGC_RECONCILE_SECRET_H

#include <stddef.h>

#include "schema/topology.h"

/*
 * secret_resolve - the value of a secret on this host: the variable of
 * {env: NAME}, or the content of {file: PATH} (which must be a regular file
 * not readable by group or others), without one trailing newline (and a
 * carriage return before it). An unset or empty variable, or an empty file,
 * is an error. what names the secret's use in messages ("password of role
 * \"app\""). malloc'd; release with secret_free(). NULL on failure, with
 * the reason in err (no value ever appears in it).
 */
char *secret_resolve(const PgcSecret *s, const char *what, char *err, size_t errlen);
/* secret_free - wipes (explicit_bzero) and frees a resolved secret; NULL is ignored. */
void secret_free(char *secret);

#endif
