/*
 * common/metrics.c - Prometheus text exposition (metrics.h).
 */
#include "common/metrics.h"

#include <stdarg.h>

void metrics_family(FILE *f, const char *name, const char *type, const char *help)
{
	fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

void metrics_label_value(FILE *f, const char *s)
{
	for (; s != NULL && *s; s++) {
		if (*s == '\\' || *s == '"')
			fprintf(f, "\\%c", *s);
		else if (*s == '\n')
			fputs("\\n", f);
		else
			fputc(*s, f);
	}
}

void metrics_sample(FILE *f, const char *name, const char *const *labels, const char *value_fmt,
		    ...)
{
	va_list ap;

	fputs(name, f);
	for (size_t i = 0; labels != NULL && labels[i] != NULL; i += 2) {
		fprintf(f, "%s%s=\"", i == 0 ? "{" : ",", labels[i]);
		metrics_label_value(f, labels[i + 1]);
		fputc('"', f);
	}
	if (labels != NULL && labels[0] != NULL)
		fputc('}', f);
	fputc(' ', f);
	va_start(ap, value_fmt);
	vfprintf(f, value_fmt, ap);
	va_end(ap);
	fputc('\n', f);
}
