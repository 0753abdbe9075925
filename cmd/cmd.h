/*
 * cmd/cmd.h - the command line: the command table's types, the parsed
 * options every subcommand receives, and the helpers they share.
 *
 * The pgconverge executable is cmd/front.c: it runs wal-push and wal-fetch
 * itself and hands every other command line to pgc_main() in the core
 * library (pgconverge-core.so: everything else under cmd/, with reconcile/,
 * schema/ and common/).
 *
 * Flow: main.c finds the command in its table, options_parse() turns the
 * rest of argv into a PgcOptions (printing help or a usage error itself),
 * then the command's run() function does the work and returns an exit code
 * from cmd/exitcodes.h. Commands print results to stdout and errors to
 * stderr; they never call exit().
 *
 * Adding an option: one line in the table of cmd/options.c with its OPT_*
 * bit, a field below, and the bit in the spec of each command that takes
 * it. Help text and getopt's table are both built from that one table.
 */
#ifndef PGC_CMD_CMD_H
#define PGC_CMD_CMD_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include <jansson.h>

#include "common/arena.h"
#include "common/diag.h"
#include "common/log.h"
#include "schema/source.h"
#include "schema/topology.h"

#ifndef PGC_VERSION
#define PGC_VERSION "0.1.0"
#endif

#define PGC_DEFAULT_FILE "pgconverge.yaml"
#define PGC_STATE_DIR_NAME ".pgconverge"
#define PGC_DEFAULT_GIT_REF "HEAD"
#define PGC_DEFAULT_INTERVAL_MS 30000

/*
 * Options a command may accept, as bits of PgcCommandSpec.options. Every
 * command also takes -h/--help, -v/--verbose, -q/--quiet, --log-format and
 * --no-color.
 */
enum {
	OPT_FILE = 1u << 0,             /* -f/--file FILE */
	OPT_GIT = 1u << 1,              /* --git REPO, --ref REF, --path PATH */
	OPT_STATE_DIR = 1u << 2,        /* --state-dir DIR */
	OPT_ALLOW_REWIND = 1u << 3,     /* --allow-rewind */
	OPT_CLUSTER = 1u << 4,          /* --cluster NAME */
	OPT_CLUSTER_REQUIRED = 1u << 5, /* with OPT_CLUSTER: --cluster must be given */
	OPT_FORMAT = 1u << 6,           /* --format, values in PgcCommandSpec.formats */
	OPT_OUTPUT = 1u << 7,           /* -o/--output FILE */
	OPT_OFFLINE = 1u << 8,          /* --offline */
	OPT_ALLOW_RESTART = 1u << 9,    /* --allow-restart */
	OPT_ALLOW_SWITCHOVER = 1u << 10, /* --allow-switchover */
	OPT_INTERVAL = 1u << 11,        /* --interval DURATION */
	OPT_ONCE = 1u << 12,            /* --once */
	OPT_LOGICAL = 1u << 13,         /* --logical */
	OPT_TO = 1u << 14,              /* --to NODE */
	OPT_LIVE = 1u << 15,            /* --live */
	OPT_REPOSITORY = 1u << 16,      /* --repository DIR (wal-push, wal-fetch) */
	OPT_COMPRESS = 1u << 17,        /* --compress none|gzip|zstd (wal-push) */
	OPT_BASE = 1u << 18,            /* --base REV (plan --offline) */
	OPT_WAIT_LOCK = 1u << 19,       /* --wait-lock DURATION */
	OPT_JOBS = 1u << 20,            /* --jobs N */
	OPT_TOP = 1u << 21,             /* --top, --limit N (status) */
	OPT_METRICS_LISTEN = 1u << 22,  /* --metrics-listen ADDR:PORT */
	OPT_AS = 1u << 23,              /* --as HOST */
	OPT_FORCE = 1u << 24,           /* --force (failover of a standby cluster) */
	/* Far from the bits above, which new options take in turn. */
	OPT_UNREACHABLE_OK = 1u << 30,  /* --unreachable-ok (wal-fetch) */
};

/* OPT_SOURCE - where the topology comes from: a file or a git repository. */
#define OPT_SOURCE (OPT_FILE | OPT_GIT)

/* For PgcCommandSpec.usage: the source options, and a continuation line. */
#define USAGE_SOURCE "[-f FILE | --git REPO [--ref REF] [--path PATH]]"
#define USAGE_NEWLINE "\n                  "

/* PgcOptionHelp - a command's own wording for one option in its --help. */
typedef struct {
	const char *name; /* long name without dashes, e.g. "output" */
	const char *arg;  /* metavariable, e.g. "PLAN.json"; NULL keeps the table's */
	const char *help; /* one line */
} PgcOptionHelp;

/*
 * PgcCommandSpec - what a command accepts and how its --help reads. Each
 * command defines its spec in its own file (cmd/<name>.c).
 */
typedef struct {
	const char *usage;          /* after "pgconverge ", e.g. "validate [-f FILE]" */
	const char *description;    /* paragraphs; every line ends with \n */
	unsigned options;           /* OPT_* bits */
	const char *const *formats; /* --format values, NULL-terminated, [0] is the default */
	int min_args;               /* positional arguments */
	int max_args;
	const char *args_help;      /* lines describing positional arguments; may be NULL */
	const PgcOptionHelp *option_help; /* terminated by {NULL}; may be NULL */
	const char *exit_codes;     /* lines "  N   meaning\n" */
} PgcCommandSpec;

typedef struct PgcOptions PgcOptions;

/* PgcCommand - one row of main.c's dispatch table. */
typedef struct {
	const char *name;
	int (*run)(const PgcOptions *opts); /* returns an exit code */
	const char *summary;                /* one line for `pgconverge --help` */
	const PgcCommandSpec *spec;
} PgcCommand;

/*
 * PgcOptions - the parsed command line. Strings point into argv or into
 * arena; both outlive the command's run(). Fields of options the command
 * does not accept keep their defaults.
 */
struct PgcOptions {
	const PgcCommand *command;

	/* Topology source. */
	const char *file;         /* -f; PGC_DEFAULT_FILE when not given */
	bool file_given;
	const char *git_repo;     /* --git; NULL when not given */
	const char *git_ref;      /* --ref; PGC_DEFAULT_GIT_REF */
	const char *git_path;     /* --path; PGC_DEFAULT_FILE */
	const char *source_name;  /* for messages: the file, or "REPO@REF:PATH" */
	bool require_signed;      /* --require-signed (with --git) */
	const char *allowed_signers; /* --allowed-signers; NULL: STATE_DIR/allowed_signers */
	/* What options_load_topology() read last (kind, commit, digest ...): filled
	 * by each load, owned by the options (schema/source.h). Never NULL. */
	PgcSource *source;
	const char *base_rev;     /* --base REV (plan --offline); NULL when not given */

	/* State directory: the lock, the journal, the last applied source. */
	const char *state_dir;    /* --state-dir, else .pgconverge/ beside the file (./ with --git) */
	bool allow_rewind;

	/* Output and logging. */
	PgcLogFormat log_format;  /* --log-format (common/log.h) */
	int verbosity;            /* +1 per -v, -1 per -q: log_adjust_level()'s argument */
	bool color;               /* colour allowed (no --no-color, NO_COLOR unset); see options_color() */
	const char *format;       /* --format, one of spec->formats; NULL if the command has none */
	const char *output;       /* -o; NULL when not given */

	/* Selection and policy. */
	const char *cluster;      /* --cluster; NULL when not given */
	const char *to_node;      /* --to; NULL when not given */
	bool force;               /* --force */
	const char *as_host;      /* --as HOST: this machine is HOST's agent; NULL when not given */
	bool offline;
	bool allow_restart;
	bool allow_switchover;
	bool once;
	bool logical;
	bool live;
	int64_t interval_ms;      /* --interval; PGC_DEFAULT_INTERVAL_MS */
	int64_t wait_lock_ms;     /* --wait-lock; 0: a held lock is an immediate exit 4 */
	int jobs;                 /* --jobs; 0: APPLY_DEFAULT_JOBS */
	bool top;                 /* --top (status; needs --cluster) */
	int limit;                /* --limit (with --top); 0 when not given */
	const char *metrics_listen; /* --metrics-listen ADDR:PORT; NULL when not given */
	/* Not an option: the command sets it when it shows the monitoring figures
	 * (status --format prometheus; --metrics-listen sets it too), so that
	 * converge_observe() gathers them (PgcObserveOptions.stats). */
	bool observe_stats;

	/* WAL archive helpers, which run without the topology file. */
	const char *repository;   /* --repository; NULL when not given */
	const char *compress;     /* --compress: "none", "gzip" or "zstd"; NULL when not given */
	bool unreachable_ok;      /* --unreachable-ok (wal-fetch) */

	/* Positional arguments, in order (argv elements). */
	char **args;
	int n_args;

	PgcArena *arena;          /* owns computed strings; released by options_free() */
};

/* --- cmd/options.c --- */

/*
 * options_parse - parses argv (argv[0] is the command's name) for cmd into
 * opts. Returns 0 when the command should run, 1 when --help was printed to
 * stdout (exit EXIT_OK), -1 after printing a usage error to stderr (exit
 * EXIT_USAGE). Call options_free() in every case.
 */
int options_parse(const PgcCommand *cmd, int argc, char **argv, PgcOptions *opts);

/* options_free - releases what options_parse() allocated. */
void options_free(PgcOptions *opts);

/* options_help - prints cmd's full --help text. */
void options_help(const PgcCommand *cmd, FILE *out);

/* options_common_help - the options every command takes, for `pgconverge --help`. */
void options_common_help(FILE *out);

/* options_color - true when colour may be written to stream (allowed and a terminal). */
bool options_color(const PgcOptions *opts, FILE *stream);

/* options_wait_lock_ms - --wait-lock for lock_acquire(), capped to what an int holds. */
int options_wait_lock_ms(const PgcOptions *opts);

/* options_format_is - true when --format (or its default) is name. */
bool options_format_is(const PgcOptions *opts, const char *name);

/*
 * options_load_topology - loads the topology the options point at (file or
 * git source) and records what was read in opts->source. All problems,
 * including a missing file, repository, ref or path, an unreachable remote
 * and an unverified signature, go to diags; same contract as
 * topology_load_file(): NULL when nothing could be loaded, and a non-NULL
 * result may still carry errors. Only 'reconcile' goes on with the last
 * fetched commit (a warning) when a remote cannot be fetched.
 */
PgcTopology *options_load_topology(const PgcOptions *opts, PgcDiagList *diags);

/*
 * options_load_base - for 'plan --offline': the topology at --base REV
 * (the same path in the same repository; with -f, the file's repository),
 * loaded with base_dir so that its paths compare with the head's. With no
 * --base: the last applied git commit of the state directory, if any.
 * Returns 0 with *base (NULL: nothing to compare with, everything is new)
 * and *label describing it (arena of opts); -1 on errors (in diags).
 */
int options_load_base(const PgcOptions *opts, const char *base_dir, PgcTopology **base,
		      const char **label, PgcDiagList *diags);

/* --- cmd/main.c --- */

/*
 * pgc_main - the whole command line (argv[1] the command), as main() of a
 * program: returns the exit code. The core library's entry point, called
 * by cmd/front.c.
 */
int pgc_main(int argc, char **argv);

/* pgc_core_version - PGC_VERSION of the core library, checked by the executable. */
extern const char pgc_core_version[];

/*
 * cmd_error - prints "pgconverge: MESSAGE" and an optional "  hint: HINT" to
 * stderr, both escaped for the terminal (str_fput_text): one line each.
 */
void cmd_error(const char *hint, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* cmd_print_json - j on stdout as json_dumpf(flags) writes it, and a newline; takes j's reference. */
void cmd_print_json(json_t *j, size_t flags);

/* --- one file per command --- */

extern const PgcCommandSpec validate_spec;
extern const PgcCommandSpec plan_spec;
extern const PgcCommandSpec apply_spec;
extern const PgcCommandSpec status_spec;
extern const PgcCommandSpec reconcile_spec;
extern const PgcCommandSpec backup_spec;
extern const PgcCommandSpec wal_push_spec;
extern const PgcCommandSpec wal_fetch_spec;
extern const PgcCommandSpec failover_spec;
extern const PgcCommandSpec graph_spec;

int cmd_validate(const PgcOptions *opts);
int cmd_plan(const PgcOptions *opts);
int cmd_apply(const PgcOptions *opts);
int cmd_status(const PgcOptions *opts);
int cmd_reconcile(const PgcOptions *opts);
int cmd_backup(const PgcOptions *opts);
int cmd_wal_push(const PgcOptions *opts);
int cmd_wal_fetch(const PgcOptions *opts);
int cmd_failover(const PgcOptions *opts);
int cmd_graph(const PgcOptions *opts);

#endif
