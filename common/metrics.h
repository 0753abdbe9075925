/*
 * common/metrics.h - Prometheus text exposition format (version 0.0.4), for
 * `status --format prometheus` and the reconcile loop's textfile.
 *
 * A metric family is its "# HELP" and "# TYPE" lines (metrics_family), then
 * its samples (metrics_sample): name{label="value",...} value. Label values
 * are escaped as the format wants: backslash, double quote and newline
 * become \\, \" and \n; names and HELP text are the caller's constants.
 */
#ifndef PGC_COMMON_METRICS_H
#define PGC_COMMON_METRICS_H

#include <stdio.h>

/* metrics_family - "# HELP name help" and "# TYPE name type" (gauge, counter ...). */
void metrics_family(FILE *f, const char *name, const char *type, const char *help);

/*
 * metrics_sample - one sample line: name, its labels, then the value as
 * value_fmt formats it (printf). labels: name, value, name, value, ...,
 * NULL (NULL itself for none); a NULL value is written as "".
 */
void metrics_sample(FILE *f, const char *name, const char *const *labels, const char *value_fmt,
		    ...) __attribute__((format(printf, 4, 5)));

/* METRICS_LABELS - the labels argument of metrics_sample from name, value pairs. */
#define METRICS_LABELS(...) ((const char *const[]){__VA_ARGS__, NULL})

/* metrics_label_value - s in the label value escaping (NULL: nothing). */
void metrics_label_value(FILE *f, const char *s);

#endif
