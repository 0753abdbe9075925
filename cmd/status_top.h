/*
 * cmd/status_top.h - `status --cluster NAME --top [--limit N]`
 * (cmd/status_top.c), which cmd_status() hands over to.
 */
#ifndef PGC_CMD_STATUS_TOP_H
#define PGC_CMD_STATUS_TOP_H

#include "cmd/cmd.h"

/* status_top - prints the report; EXIT_OK, or EXIT_ERROR when no live primary answered. */
int status_top(const PgcOptions *opts);

#endif
