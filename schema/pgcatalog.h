/*
 * schema/pgcatalog.h - the PostgreSQL parameter catalog, per major version,
 * compiled into the binary so that settings are checked without a server.
 *
 * The data comes from the target version's own binaries (see
 * schema/catalog/README.md for how a new major version is added).
 */
#ifndef PGC_SCHEMA_PGCATALOG_H
#define PGC_SCHEMA_PGCATALOG_H

#include <stdbool.h>
#include <stddef.h>

typedef enum {
	PGP_BOOL,
	PGP_INTEGER,
	PGP_REAL,
	PGP_STRING,
	PGP_ENUM,
} PgcParamType;

/* Contexts as pg_settings.context names them. */
typedef enum {
	PGP_CTX_INTERNAL,
	PGP_CTX_POSTMASTER,        /* needs a restart */
	PGP_CTX_SIGHUP,            /* reload */
	PGP_CTX_SUPERUSER_BACKEND,
	PGP_CTX_BACKEND,
	PGP_CTX_SUPERUSER,
	PGP_CTX_USER,
} PgcParamContext;

typedef struct {
	const char *name;
	PgcParamType type;
	PgcParamContext context;
	const char *unit;          /* pg_settings.unit: "kB", "8kB", "MB", "ms", "s", "min"; NULL */
	double min;                /* in the parameter's own unit (INTEGER/REAL) */
	double max;
	const char *const *enumvals; /* NULL-terminated, ENUM only */
	const char *boot_val;      /* the built-in default, in the parameter's own unit */
} PgcParam;

/* pgcatalog_has_version - true when the catalog knows this major version. */
bool pgcatalog_has_version(int major);
/* pgcatalog_versions - comma-separated list of known majors, e.g. "15"; static. */
const char *pgcatalog_versions(void);

/*
 * pgcatalog_lookup - the parameter, or NULL; names are case-insensitive.
 * Besides the server's own, the parameters of the contrib modules
 * pgconverge preloads (pg_stat_statements.*), for every known major.
 */
const PgcParam *pgcatalog_lookup(int major, const char *name);

/*
 * pgcatalog_known_prefix - true when name starts with the prefix of a
 * contrib module whose parameters the catalog lists ("pg_stat_statements."):
 * such a name that pgcatalog_lookup() does not find is a typo, not another
 * module's placeholder.
 */
bool pgcatalog_known_prefix(const char *name);
/* pgcatalog_suggest - the closest known name within a small edit distance, or NULL. */
const char *pgcatalog_suggest(int major, const char *name);

/* pgcatalog_context_name - "postmaster", "sighup", ... */
const char *pgcatalog_context_name(PgcParamContext ctx);

/*
 * pgparam_normalize - checks value (as written in YAML, e.g. "256MB", "200",
 * "true", "on", "0.5", "replica") against the parameter and writes its
 * canonical form to out: integers in the parameter's own unit (shared_buffers
 * "1GB" -> "131072"), reals likewise, booleans "on"/"off", enums in the spelling pg_settings shows,
 * strings unchanged (DateStyle excepted: the server rewrites it). Values from pg_settings normalise to the same text, so
 * the planner compares canonical strings: "1GB" == "1024MB".
 * Returns 0, or -1 with a message in err such as
 *   invalid value "abc": expected an integer with an optional unit (kB, MB, GB, TB)
 *   value 10 is out of range: expected 16 to 1073741823 (8kB units)
 *   invalid value "fast": expected one of minimal, replica, logical
 */
int pgparam_normalize(const PgcParam *p, const char *value, char *out, size_t outlen,
		      char *err, size_t errlen);

/*
 * pgparam_needs_restart - true when changing the parameter needs a server
 * restart (postmaster context).
 */
bool pgparam_needs_restart(const PgcParam *p);

#endif
