/*
 * schema/validate_monitoring.h - checks on a cluster's monitoring section:
 * the pgBadger reports' schedule and folder, and the log settings a
 * topology may set that pgBadger could not parse.
 *
 * Problems are reported through schema/validate_report.h.
 */
#ifndef PGC_SCHEMA_VALIDATE_MONITORING_H
#define PGC_SCHEMA_VALIDATE_MONITORING_H

#include "schema/validate_report.h"

/*
 * validate_monitoring - with monitoring.pgbadger: every is 1m or more; output
 * is neither inside a node's data_dir nor holds one (its retention removes
 * folders there); and the settings (the cluster's, and each node's own)
 * keep the server log readable by pgBadger: logging_collector on,
 * log_destination with stderr, csvlog or jsonlog, a log_line_prefix with a
 * time and a process id (when stderr is the format read), lc_messages in
 * English. A setting that would leave the reports empty (no statement
 * logged) is a warning.
 */
void validate_monitoring(Val *v, PgcCluster *c);

#endif
