/*
 * reconcile/observe/observe_datadog.h - what monitoring.datadog left live:
 * the Datadog Agent's postgres check file (conf_dir/conf.yaml) on this
 * machine, and on the live primary the objects Database Monitoring needs
 * in each database (schema "datadog", its explain function,
 * pg_stat_statements).
 *
 * The password is never kept. The file is kept "masked": every
 * `password:` value replaced with OBS_DATADOG_PASSWORD_MARK, which is
 * also what the planner renders (reconcile/datadog/datadog.h) and what
 * the executor replaces with the secret when it writes the file. The
 * values taken out are compared with the declared secret, resolved on
 * this host, then wiped (like the replication passfile, PgcObsPassfile).
 *
 * Memory: the PgcObserved's arena.
 */
#ifndef PGC_RECONCILE_OBSERVE_OBSERVE_DATADOG_H
#define PGC_RECONCILE_OBSERVE_OBSERVE_DATADOG_H

#include <stdbool.h>
#include <stddef.h>

#include "common/arena.h"
#include "reconcile/observe/observe_model.h"
#include "schema/topology.h"

/* The password value as the plan shows it; apply writes the secret there. */
#define OBS_DATADOG_PASSWORD_MARK "\"<monitoring.datadog.password>\""

/*
 * The body of datadog.explain_statement (Datadog's, every name qualified,
 * the transaction made read-only first): the executor creates it, observe
 * compares pg_proc.prosrc with it.
 */
#define OBS_DATADOG_EXPLAIN_SRC                                                                  \
	"\n"                                                                                     \
	"DECLARE\n"                                                                              \
	"curs pg_catalog.refcursor;\n"                                                           \
	"plan pg_catalog.json;\n"                                                                \
	"BEGIN\n"                                                                                \
	"   SET TRANSACTION READ ONLY;\n"                                                        \
	"   OPEN curs FOR EXECUTE pg_catalog.concat('EXPLAIN (FORMAT JSON) ', l_query);\n"       \
	"   FETCH curs INTO plan;\n"                                                             \
	"   CLOSE curs;\n"                                                                       \
	"   RETURN QUERY SELECT plan;\n"                                                         \
	"END;\n"

/* The check file's name inside monitoring.datadog.conf_dir. */
#define OBS_DATADOG_CONF_NAME "conf.yaml"

/* How the file's passwords compare with the declared secret. */
typedef enum {
	DATADOG_PW_UNKNOWN = 0,   /* not read, or the secret is not on this host */
	DATADOG_PW_MATCHES,       /* every password: value is the declared one */
	DATADOG_PW_DIFFERS,       /* one differs or cannot be read back, or the secret is
	                           * refused (secret.h): writing the file reports why */
} PgcDatadogPassword;

/* Database Monitoring's objects in one database of the live primary. */
typedef struct {
	const char *name;
	bool ready;               /* schema usable by the user; the SECURITY DEFINER explain
	                           * function as datadog.h defines it, owned by
	                           * PGC_DATADOG_EXPLAIN_ROLE (as datadog.h defines that role),
	                           * executable by the user only; pg_stat_statements installed */
	const char *missing;      /* what is not there, for the plan's reason; NULL when ready */
} PgcObsDatadogDb;

struct PgcObsDatadog {
	/* conf_dir/conf.yaml, read on this machine */
	bool conf_read;           /* looked at: the fields below are known */
	bool conf_exists;
	const char *conf_error;   /* why it could not be read (a symlink, not a regular file ...) */
	const char *conf_masked;  /* its text with the passwords masked; NULL when absent */
	unsigned conf_mode;       /* permission bits */
	PgcDatadogPassword conf_password;

	/* Database Monitoring (dbm: true), on the live primary */
	bool dbm_read;            /* the live primary answered for every database below */
	PgcObsDatadogDb *dbs;     /* "postgres" and the declared databases that exist */
	size_t n_dbs;
};

/*
 * observe_datadog - sets oc->datadog to monitoring.datadog's state for
 * cluster c, once oc's nodes are probed (the live primary is found there);
 * leaves it NULL when c declares no monitoring.datadog. Failures are
 * observations (conf_error, dbm_read false), logged at debug level.
 */
void observe_datadog(PgcArena *a, const PgcCluster *c, PgcObsCluster *oc, int connect_timeout_s,
		     int query_timeout_ms);

/*
 * observe_datadog_mask - text with every `password:` value replaced by
 * OBS_DATADOG_PASSWORD_MARK, in a. *password is set to how the values
 * compare with want (NULL: not compared, DATADOG_PW_UNKNOWN). Pure: for
 * observe, and for unit tests of the renderer.
 */
char *observe_datadog_mask(PgcArena *a, const char *text, const char *want,
			   PgcDatadogPassword *password);

/*
 * observe_datadog_yaml_unquote - value of a YAML double-quoted scalar as
 * the renderer writes it ("..." with \\ \" \n \t \r \xHH escapes), or a
 * plain scalar as it is. malloc'd (wipe and free), NULL when malformed.
 */
char *observe_datadog_yaml_unquote(const char *value, size_t len);

#endif
