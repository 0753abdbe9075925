/*
 * cmd/exitcodes.h - every exit code pgconverge returns, in one place.
 * Documented in `pgconverge --help` and the README.
 */
#ifndef PGC_CMD_EXITCODES_H
#define PGC_CMD_EXITCODES_H

#define EXIT_OK 0        /* success; valid; no changes; converged */
#define EXIT_ERROR 1     /* invalid input or a failed action */
#define EXIT_CHANGES 2   /* plan: changes are pending */
#define EXIT_BLOCKED 3   /* apply: some actions were blocked by policy */
#define EXIT_LOCKED 4    /* another run holds the state directory's lock */
#define EXIT_USAGE 64    /* bad command line */

#endif
