/*
 * cmd/options.c - option parsing and --help text shared by every command.
 *
 * One table describes every option: getopt_long's table, the accepted set
 * of a command and its --help are all built from it, so that what --help
 * shows is exactly what the parser accepts.
 */
#include "cmd/cmd.h"

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cmd/exitcodes.h"
#include "common/metrics_http.h"
#include "common/proc.h"
#include "schema/source_applied.h"

typedef enum {
	O_FILE,
	O_GIT,
	O_REF,
	O_PATH,
	O_REQUIRE_SIGNED,
	O_ALLOWED_SIGNERS,
	O_STATE_DIR,
	O_ALLOW_REWIND,
	O_CLUSTER,
	O_TO,
	O_FORCE,
	O_FORMAT,
	O_OUTPUT,
	O_OFFLINE,
	O_BASE,
	O_ALLOW_RESTART,
	O_ALLOW_SWITCHOVER,
	O_INTERVAL,
	O_ONCE,
	O_WAIT_LOCK,
	O_JOBS,
	O_TOP,
	O_LIMIT,
	O_METRICS_LISTEN,
	O_AS,
	O_LOGICAL,
	O_LIVE,
	O_REPOSITORY,
	O_COMPRESS,
	O_UNREACHABLE_OK,
	O_LOG_FORMAT,
	O_VERBOSE,
	O_QUIET,
	O_NO_COLOR,
	O_HELP,
	O_COUNT
} OptId;

typedef struct {
	const char *name;
	char short_name;  /* 0: long form only */
	const char *arg;  /* metavariable; NULL: a flag */
	unsigned mask;    /* OPT_* bit a command needs to accept it; 0: every command */
	const char *help;
} OptDef;

/* Indexed by OptId; also the order of --help. */
static const OptDef opt_defs[O_COUNT] = {
	[O_FILE] = {"file", 'f', "FILE", OPT_FILE,
		    "topology file (default ./" PGC_DEFAULT_FILE ")"},
	[O_GIT] = {"git", 0, "REPO", OPT_GIT,
		   "read the topology from a git repository: a local path, or a URL "
		   "(file://, https://, ssh://) cloned into the state directory"},
	[O_REF] = {"ref", 0, "REF", OPT_GIT, "commit, branch or tag to read (default HEAD)"},
	[O_PATH] = {"path", 0, "PATH", OPT_GIT,
		    "topology file inside the repository (default " PGC_DEFAULT_FILE ")"},
	[O_REQUIRE_SIGNED] = {"require-signed", 0, NULL, OPT_GIT,
			      "accept only commits with an ssh signature from an allowed signer"},
	[O_ALLOWED_SIGNERS] = {"allowed-signers", 0, "FILE", OPT_GIT,
			       "allowed signers for --require-signed, in ssh-keygen's format "
			       "(default STATE_DIR/allowed_signers)"},
	[O_STATE_DIR] = {"state-dir", 0, "DIR", OPT_STATE_DIR,
			 "lock, journal, last applied source, git clones (default " PGC_STATE_DIR_NAME
			 "/ beside the topology file; in the current folder with --git)"},
	[O_ALLOW_REWIND] = {"allow-rewind", 0, NULL, OPT_ALLOW_REWIND,
			    "apply a git commit that does not descend from the last applied one"},
	[O_CLUSTER] = {"cluster", 0, "NAME", OPT_CLUSTER, "only this cluster (default: all)"},
	[O_TO] = {"to", 0, "NODE", OPT_TO, "the node to promote"},
	[O_FORCE] = {"force", 0, NULL, OPT_FORCE,
		     "promote a standby cluster although it may lack some of its lost source's writes"},
	/* --help shows the command's formats in place of FORMAT and of NULL. */
	[O_FORMAT] = {"format", 0, "FORMAT", OPT_FORMAT, NULL},
	[O_OUTPUT] = {"output", 'o', "FILE", OPT_OUTPUT, "write the result to FILE"},
	[O_OFFLINE] = {"offline", 0, NULL, OPT_OFFLINE,
		       "do not connect to servers or look at local files (for CI)"},
	[O_BASE] = {"base", 0, "REV", OPT_BASE,
		    "with --offline: compare with the topology at this git revision"},
	[O_ALLOW_RESTART] = {"allow-restart", 0, NULL, OPT_ALLOW_RESTART,
			     "allow restarts outside the maintenance window"},
	[O_ALLOW_SWITCHOVER] = {"allow-switchover", 0, NULL, OPT_ALLOW_SWITCHOVER,
				"allow moving the primary role to another node"},
	[O_INTERVAL] = {"interval", 0, "DURATION", OPT_INTERVAL,
			"time between passes, e.g. 30s, 5m (default 30s)"},
	[O_ONCE] = {"once", 0, NULL, OPT_ONCE, "run one pass and exit"},
	[O_WAIT_LOCK] = {"wait-lock", 0, "DURATION", OPT_WAIT_LOCK,
			 "when another run holds the lock, wait up to DURATION for it (default: "
			 "exit 4 at once)"},
	[O_JOBS] = {"jobs", 'j', "N", OPT_JOBS,
		    "run up to N independent actions at the same time, e.g. two replicas' "
		    "clones (default 4; 1: one at a time)"},
	[O_TOP] = {"top", 0, NULL, OPT_TOP,
		   "the live primary's top statements, unused indexes and sequentially scanned "
		   "tables (needs --cluster)"},
	[O_LIMIT] = {"limit", 0, "N", OPT_TOP, "with --top: rows per section (default 10)"},
	[O_METRICS_LISTEN] = {"metrics-listen", 0, "ADDR:PORT", OPT_METRICS_LISTEN,
			      "serve Prometheus metrics over HTTP at /metrics, e.g. 127.0.0.1:9187, "
			      "from the last pass's observation"},
	[O_AS] = {"as", 0, "HOST", OPT_AS,
		  "act as the agent of HOST: only nodes whose host is HOST are this machine's"},
	[O_LOGICAL] = {"logical", 0, NULL, OPT_LOGICAL, "take a logical backup (pg_dump)"},
	[O_LIVE] = {"live", 0, NULL, OPT_LIVE, "add the observed state (connects to servers)"},
	[O_REPOSITORY] = {"repository", 0, "DIR", OPT_REPOSITORY,
			  "the backup repository (backup.repository; required)"},
	[O_UNREACHABLE_OK] = {"unreachable-ok", 0, NULL, OPT_UNREACHABLE_OK,
			      "a repository that cannot be reached reads as an empty archive"},
	[O_COMPRESS] = {"compress", 0, "none|gzip|zstd", OPT_COMPRESS,
			"compress archived WAL (default none)"},
	[O_LOG_FORMAT] = {"log-format", 0, "text|json", 0,
			  "log as text (default) or as JSON lines"},
	[O_VERBOSE] = {"verbose", 'v', NULL, 0, "more detail (debug messages)"},
	[O_QUIET] = {"quiet", 'q', NULL, 0, "warnings and errors only; -qq: errors only"},
	[O_NO_COLOR] = {"no-color", 0, NULL, 0, "no colour (also when NO_COLOR is set)"},
	[O_HELP] = {"help", 'h', NULL, 0, "show this help"},
};

/* getopt_long returns the short letter, or 256 + id for long-only options. */
static int opt_val(OptId id)
{
	return opt_defs[id].short_name ? opt_defs[id].short_name : 256 + (int)id;
}

static int opt_by_val(int val)
{
	int i;

	for (i = 0; i < O_COUNT; i++)
		if (opt_val((OptId)i) == val)
			return i;
	return -1;
}

static int opt_by_name(const char *name, size_t len)
{
	int i;

	for (i = 0; i < O_COUNT; i++)
		if (strlen(opt_defs[i].name) == len && strncmp(opt_defs[i].name, name, len) == 0)
			return i;
	return -1;
}

static bool opt_accepted(const PgcCommandSpec *spec, OptId id)
{
	return opt_defs[id].mask == 0 || (spec->options & opt_defs[id].mask) != 0;
}

static bool in_list(const char *const *list, const char *s)
{
	for (; list != NULL && *list != NULL; list++)
		if (strcmp(*list, s) == 0)
			return true;
	return false;
}

/* join - "a|b|c" into buf. */
static const char *join(char *buf, size_t size, const char *const *list, const char *sep)
{
	size_t used = 0;

	buf[0] = '\0';
	for (; *list != NULL && used < size; list++)
		used += (size_t)snprintf(buf + used, size - used, "%s%s", used ? sep : "", *list);
	return buf;
}

static int usage_error(const PgcCommand *cmd, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static int usage_error(const PgcCommand *cmd, const char *fmt, ...)
{
	va_list ap;

	fputs("pgconverge: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n  hint: see 'pgconverge %s --help'\n", cmd->name);
	return -1;
}

/*
 * parse_duration - "500ms", "30s", "5m", "2h", "1d"; a bare number means
 * seconds, as in the topology file. Returns -1 unless positive.
 */
static int parse_duration(const char *s, int64_t *ms)
{
	static const struct {
		const char *unit;
		int64_t ms;
	} units[] = {{"ms", 1}, {"s", 1000}, {"", 1000}, {"m", 60000}, {"h", 3600000}, {"d", 86400000}};
	char *end;
	long long n;
	size_t i;

	if (*s < '0' || *s > '9')
		return -1;
	errno = 0;
	n = strtoll(s, &end, 10);
	if (errno != 0 || n <= 0)
		return -1;
	for (i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
		if (strcmp(end, units[i].unit) == 0) {
			if (n > INT64_MAX / units[i].ms)
				return -1;
			*ms = n * units[i].ms;
			return 0;
		}
	}
	return -1;
}

/* default_state_dir - .pgconverge/ in the topology file's folder. */
static const char *default_state_dir(PgcOptions *o)
{
	const char *slash;

	if (o->git_repo != NULL)
		return PGC_STATE_DIR_NAME;
	slash = strrchr(o->file, '/');
	if (slash == NULL)
		return PGC_STATE_DIR_NAME;
	return arena_printf(o->arena, "%.*s/%s", (int)(slash - o->file), o->file, PGC_STATE_DIR_NAME);
}

/* report_getopt_error - turns getopt's '?' or ':' into our message. */
static int report_getopt_error(const PgcCommand *cmd, int c, char **argv)
{
	const char *arg = argv[optind - 1];
	int id = optopt ? opt_by_val(optopt) : -1;

	if (c == ':' && id >= 0)
		return usage_error(cmd, "option '--%s' needs a value (%s)", opt_defs[id].name,
				   opt_defs[id].arg);
	if (optopt == 0 && strncmp(arg, "--", 2) == 0) {
		/* An unknown long option: maybe one another command takes. */
		size_t len = strcspn(arg + 2, "=");
		int other = opt_by_name(arg + 2, len);

		if (other >= 0 && !opt_accepted(cmd->spec, (OptId)other))
			return usage_error(cmd, "'%s' does not take option '--%s'", cmd->name,
					   opt_defs[other].name);
		return usage_error(cmd, "unknown option '%.*s'", (int)len + 2, arg);
	}
	if (id >= 0 && opt_accepted(cmd->spec, (OptId)id))
		return usage_error(cmd, "option '--%s' takes no value", opt_defs[id].name);
	if (id >= 0)
		return usage_error(cmd, "'%s' does not take option '-%c'", cmd->name, optopt);
	if (optopt > 0 && optopt < 128)
		return usage_error(cmd, "unknown option '-%c'", optopt);
	return usage_error(cmd, "unknown option '%s'", arg);
}

static void options_init(PgcOptions *o, const PgcCommand *cmd)
{
	memset(o, 0, sizeof(*o));
	o->command = cmd;
	o->arena = arena_new();
	o->file = PGC_DEFAULT_FILE;
	o->git_ref = PGC_DEFAULT_GIT_REF;
	o->git_path = PGC_DEFAULT_FILE;
	o->interval_ms = PGC_DEFAULT_INTERVAL_MS;
	o->format = cmd->spec->formats ? cmd->spec->formats[0] : NULL;
	o->source = arena_calloc(o->arena, 1, sizeof(*o->source));
}

/* apply_option - stores one parsed option; -1 after a usage error. */
static int apply_option(const PgcCommand *cmd, PgcOptions *o, OptId id, const char *arg,
			bool *ref_or_path)
{
	char buf[128];

	if (arg != NULL && *arg == '\0')
		return usage_error(cmd, "option '--%s' needs a non-empty value", opt_defs[id].name);
	switch (id) {
	case O_FILE:
		o->file = arg;
		o->file_given = true;
		break;
	case O_GIT:
		o->git_repo = arg;
		break;
	case O_REF:
		o->git_ref = arg;
		*ref_or_path = true;
		break;
	case O_PATH:
		o->git_path = arg;
		*ref_or_path = true;
		break;
	case O_REQUIRE_SIGNED:
		o->require_signed = true;
		break;
	case O_ALLOWED_SIGNERS:
		o->allowed_signers = arg;
		break;
	case O_BASE:
		o->base_rev = arg;
		break;
	case O_STATE_DIR:
		o->state_dir = arg;
		break;
	case O_ALLOW_REWIND:
		o->allow_rewind = true;
		break;
	case O_CLUSTER:
		o->cluster = arg;
		break;
	case O_TO:
		o->to_node = arg;
		break;
	case O_FORCE:
		o->force = true;
		break;
	case O_AS:
		o->as_host = arg;
		break;
	case O_FORMAT:
		if (!in_list(cmd->spec->formats, arg))
			return usage_error(cmd, "unknown --format '%s': expected %s", arg,
					   join(buf, sizeof(buf), cmd->spec->formats, ", "));
		o->format = arg;
		break;
	case O_OUTPUT:
		o->output = arg;
		break;
	case O_OFFLINE:
		o->offline = true;
		break;
	case O_ALLOW_RESTART:
		o->allow_restart = true;
		break;
	case O_ALLOW_SWITCHOVER:
		o->allow_switchover = true;
		break;
	case O_INTERVAL:
		if (parse_duration(arg, &o->interval_ms) != 0)
			return usage_error(cmd,
					   "invalid --interval '%s': expected a positive duration such "
					   "as 500ms, 30s, 5m or 1h",
					   arg);
		break;
	case O_ONCE:
		o->once = true;
		break;
	case O_WAIT_LOCK:
		if (parse_duration(arg, &o->wait_lock_ms) != 0)
			return usage_error(cmd,
					   "invalid --wait-lock '%s': expected a positive duration such "
					   "as 10s or 5m",
					   arg);
		break;
	case O_JOBS: {
		char *end;
		long v;

		errno = 0;
		v = strtol(arg, &end, 10);
		if (errno != 0 || end == arg || *end != '\0' || v < 1 || v > 64)
			return usage_error(cmd, "invalid --jobs '%s': expected a whole number from 1 to 64",
					   arg);
		o->jobs = (int)v;
		break;
	}
	case O_TOP:
		o->top = true;
		break;
	case O_LIMIT: {
		char *end;
		long v;

		errno = 0;
		v = strtol(arg, &end, 10);
		if (errno != 0 || end == arg || *end != '\0' || v < 1 || v > 1000)
			return usage_error(cmd, "invalid --limit '%s': expected a whole number from 1 to 1000",
					   arg);
		o->limit = (int)v;
		break;
	}
	case O_METRICS_LISTEN: {
		char host[256];
		int port;

		if (metrics_http_parse_listen(arg, host, sizeof host, &port) != 0)
			return usage_error(cmd,
					   "invalid --metrics-listen '%s': expected ADDR:PORT such as "
					   "127.0.0.1:9187, [::1]:9187 or :9187",
					   arg);
		o->metrics_listen = arg;
		o->observe_stats = true;
		break;
	}
	case O_LOGICAL:
		o->logical = true;
		break;
	case O_LIVE:
		o->live = true;
		break;
	case O_REPOSITORY:
		o->repository = arg;
		break;
	case O_UNREACHABLE_OK:
		o->unreachable_ok = true;
		break;
	case O_COMPRESS: {
		static const char *const methods[] = {"none", "gzip", "zstd", NULL};

		if (!in_list(methods, arg))
			return usage_error(cmd, "unknown --compress '%s': expected none, gzip or zstd",
					   arg);
		o->compress = arg;
		break;
	}
	case O_LOG_FORMAT:
		if (log_parse_format(arg, &o->log_format) != 0)
			return usage_error(cmd, "unknown --log-format '%s': expected text or json", arg);
		break;
	case O_VERBOSE:
		o->verbosity++;
		break;
	case O_QUIET:
		o->verbosity--;
		break;
	case O_NO_COLOR:
		o->color = false;
		break;
	case O_HELP:
	case O_COUNT:
		break;
	}
	return 0;
}

/* check_combination - rules between options, once all are known. */
static int check_combination(const PgcCommand *cmd, PgcOptions *o, bool ref_or_path)
{
	const PgcCommandSpec *spec = cmd->spec;

	if (o->git_repo != NULL && o->file_given)
		return usage_error(cmd, "options '--file' and '--git' cannot be used together");
	if (ref_or_path && o->git_repo == NULL)
		return usage_error(cmd, "options '--ref' and '--path' need '--git REPO'");
	if ((o->require_signed || o->allowed_signers != NULL) && o->git_repo == NULL)
		return usage_error(cmd, "option '--%s' needs '--git REPO'",
				   o->require_signed ? "require-signed" : "allowed-signers");
	if (o->allowed_signers != NULL && !o->require_signed)
		return usage_error(cmd, "option '--allowed-signers' needs '--require-signed'");
	if (o->metrics_listen != NULL && o->once)
		return usage_error(cmd, "option '--metrics-listen' needs the loop: it cannot be used "
				   "with '--once'");
	if (o->base_rev != NULL && !o->offline)
		return usage_error(cmd, "option '--base' needs '--offline'");
	if (o->top && o->cluster == NULL)
		return usage_error(cmd, "option '--top' needs '--cluster NAME'");
	if (o->limit != 0 && !o->top)
		return usage_error(cmd, "option '--limit' needs '--top'");
	if (o->top && o->format != NULL && strcmp(o->format, "prometheus") == 0)
		return usage_error(cmd, "option '--top' prints text or json, not prometheus");
	if ((spec->options & OPT_CLUSTER_REQUIRED) && o->cluster == NULL)
		return usage_error(cmd, "'%s' needs '--cluster NAME'", cmd->name);
	if (o->n_args < spec->min_args)
		return usage_error(cmd, "'%s' needs %d argument%s, got %d", cmd->name, spec->min_args,
				   spec->min_args == 1 ? "" : "s", o->n_args);
	if (o->n_args > spec->max_args) {
		const char *extra = o->args[spec->max_args];

		if (spec->max_args == 0 && (spec->options & OPT_FILE)) {
			fprintf(stderr, "pgconverge: unexpected argument '%s'\n", extra);
			fprintf(stderr, "  hint: give the topology file with '-f %s'; see 'pgconverge %s --help'\n",
				extra, cmd->name);
			return -1;
		}
		return usage_error(cmd, "unexpected argument '%s'", extra);
	}
	return 0;
}

int options_parse(const PgcCommand *cmd, int argc, char **argv, PgcOptions *o)
{
	struct option longopts[O_COUNT + 1];
	char shortopts[2 * O_COUNT + 2];
	size_t nl = 0, ns = 0;
	bool ref_or_path = false;
	const char *no_color = getenv("NO_COLOR");
	int i, c;

	options_init(o, cmd);
	/* https://no-color.org: present and not empty disables colour. */
	o->color = no_color == NULL || no_color[0] == '\0';

	shortopts[ns++] = ':'; /* report a missing value as ':' */
	for (i = 0; i < O_COUNT; i++) {
		const OptDef *d = &opt_defs[i];

		if (!opt_accepted(cmd->spec, (OptId)i))
			continue;
		longopts[nl++] = (struct option){d->name, d->arg ? required_argument : no_argument,
						 NULL, opt_val((OptId)i)};
		if (d->short_name) {
			shortopts[ns++] = d->short_name;
			if (d->arg)
				shortopts[ns++] = ':';
		}
	}
	longopts[nl] = (struct option){NULL, 0, NULL, 0};
	shortopts[ns] = '\0';

	opterr = 0;
	optind = 0; /* glibc: start afresh at argv[1] */
	while ((c = getopt_long(argc, argv, shortopts, longopts, NULL)) != -1) {
		int id;

		if (c == '?' || c == ':')
			return report_getopt_error(cmd, c, argv);
		id = opt_by_val(c);
		if (id == O_HELP) {
			options_help(cmd, stdout);
			return 1;
		}
		if (id < 0 || apply_option(cmd, o, (OptId)id, optarg, &ref_or_path) != 0)
			return -1;
	}
	o->args = argv + optind;
	o->n_args = argc - optind;

	if (check_combination(cmd, o, ref_or_path) != 0)
		return -1;
	if (o->git_repo != NULL) {
		char *shown = source_url_redacted(o->git_repo);

		o->source_name = arena_printf(o->arena, "%s@%s:%s", shown, o->git_ref, o->git_path);
		free(shown);
	} else {
		o->source_name = o->file;
	}
	if (o->state_dir == NULL)
		o->state_dir = default_state_dir(o);
	return 0;
}

void options_free(PgcOptions *o)
{
	source_reset(o->source);
	arena_free(o->arena);
	o->arena = NULL;
}

static const PgcOptionHelp *help_override(const PgcCommandSpec *spec, const char *name)
{
	const PgcOptionHelp *h;

	for (h = spec->option_help; h != NULL && h->name != NULL; h++)
		if (strcmp(h->name, name) == 0)
			return h;
	return NULL;
}

/* print_option - "  -f, --file FILE   help", the help wrapped at 80 columns. */
static void print_option(FILE *out, const OptDef *d, const char *arg, const char *help)
{
	enum { HELP_COL = 30, WIDTH = 80 };
	char left[64];
	int col;

	if (d->short_name)
		snprintf(left, sizeof(left), "-%c, --%s%s%s", d->short_name, d->name, arg ? " " : "",
			 arg ? arg : "");
	else
		snprintf(left, sizeof(left), "    --%s%s%s", d->name, arg ? " " : "", arg ? arg : "");
	col = fprintf(out, "  %s", left);
	if (col > HELP_COL - 2) {
		fputc('\n', out);
		col = 0;
	}
	while (*help != '\0') {
		size_t word = strcspn(help, " ");

		if (col >= HELP_COL && col + 1 + (int)word > WIDTH) {
			fputc('\n', out);
			col = 0;
		}
		col += fprintf(out, "%*s", col < HELP_COL ? HELP_COL - col : 1, "");
		col += fprintf(out, "%.*s", (int)word, help);
		help += word;
		help += strspn(help, " ");
	}
	fputc('\n', out);
}

static void print_options(FILE *out, const PgcCommandSpec *spec, bool common)
{
	char buf[128], help[256];
	int i;

	for (i = 0; i < O_COUNT; i++) {
		const OptDef *d = &opt_defs[i];
		const PgcOptionHelp *h;
		const char *arg = d->arg, *text = d->help;

		if ((d->mask == 0) != common || !opt_accepted(spec, (OptId)i))
			continue;
		if (i == O_FORMAT) {
			arg = join(buf, sizeof(buf), spec->formats, "|");
			snprintf(help, sizeof(help), "output format (default %s)", spec->formats[0]);
			text = help;
		} else if (i == O_CLUSTER && (spec->options & OPT_CLUSTER_REQUIRED)) {
			text = "the cluster to act on (required)";
		}
		h = help_override(spec, d->name);
		if (h != NULL) {
			arg = h->arg ? h->arg : arg;
			text = h->help;
		}
		print_option(out, d, arg, text);
	}
}

void options_help(const PgcCommand *cmd, FILE *out)
{
	const PgcCommandSpec *spec = cmd->spec;

	fprintf(out, "usage: pgconverge %s\n\n%s\n", spec->usage, spec->description);
	if (spec->args_help != NULL)
		fprintf(out, "arguments:\n%s\n", spec->args_help);
	fputs("options:\n", out);
	print_options(out, spec, false);
	print_options(out, spec, true);
	fprintf(out, "\nexit codes:\n%s", spec->exit_codes);
	fprintf(out, "  %-3d bad command line\n", EXIT_USAGE);
}

void options_common_help(FILE *out)
{
	int i;

	/* The source and state options, and those every command takes; the
	 * rest are in each command's --help. */
	for (i = 0; i < O_COUNT; i++) {
		const OptDef *d = &opt_defs[i];

		if (d->mask == 0 || (d->mask & (OPT_SOURCE | OPT_STATE_DIR | OPT_ALLOW_REWIND)))
			print_option(out, d, d->arg, d->help);
	}
}

bool options_color(const PgcOptions *o, FILE *stream)
{
	return o->color && isatty(fileno(stream));
}

int options_wait_lock_ms(const PgcOptions *o)
{
	return o->wait_lock_ms > INT_MAX ? INT_MAX : (int)o->wait_lock_ms;
}

bool options_format_is(const PgcOptions *o, const char *name)
{
	return o->format != NULL && strcmp(o->format, name) == 0;
}

/* self_path - this binary's absolute path, for archive_command; NULL when unknown. */
static const char *self_path(void)
{
	static char path[4096];
	ssize_t n;

	if (path[0] != '\0')
		return path;
	n = readlink("/proc/self/exe", path, sizeof(path) - 1);
	if (n <= 0)
		return NULL;
	path[n] = '\0';
	return path;
}

/*
 * scrub_secrets - keeps every {env: NAME} secret of t out of the environment
 * of the programs pgconverge starts (servers, pg_dump, archive_command ...):
 * pgconverge reads them itself, and children must not inherit them.
 */
static void scrub_secrets(const PgcTopology *t)
{
	size_t i, j;

	for (i = 0; t != NULL && i < t->n_clusters; i++) {
		const PgcCluster *c = &t->clusters[i];

		if (c->replication.password.kind == SECRET_ENV)
			proc_scrub_env(c->replication.password.ref);
		for (j = 0; j < c->n_roles; j++)
			if (c->roles[j].password.kind == SECRET_ENV)
				proc_scrub_env(c->roles[j].password.ref);
	}
}

static PgcTopology *load_topology(const PgcOptions *o, PgcDiagList *diags);

PgcTopology *options_load_topology(const PgcOptions *o, PgcDiagList *diags)
{
	PgcTopology *t = load_topology(o, diags);

	scrub_secrets(t);
	return t;
}

static PgcTopology *load_topology(const PgcOptions *o, PgcDiagList *diags)
{
	PgcLoadOptions lo = {.base_dir = NULL, .offline = o->offline, .tool_path = self_path()};
	PgcGitSpec spec;

	if (o->git_repo == NULL)
		return source_load_file(o->file, &lo, o->source, diags);
	memset(&spec, 0, sizeof spec);
	spec.repository = o->git_repo;
	spec.ref = o->git_ref;
	spec.path = o->git_path;
	spec.state_dir = o->state_dir;
	spec.display = o->source_name;
	/* A git outage must never stop reconciling: the last fetched commit is used. */
	spec.allow_stale = strcmp(o->command->name, "reconcile") == 0;
	spec.require_signed = o->require_signed;
	spec.allowed_signers = o->allowed_signers;
	return source_load_git(&spec, &lo, o->source, diags);
}

/* load_base_buffer - the base revision's topology, its problems kept apart. */
static PgcTopology *load_base_buffer(const char *buf, size_t len, const char *display,
				     const char *base_dir, PgcDiagList *diags)
{
	static const PgcPos nowhere = {0, 0};
	PgcLoadOptions lo = {.base_dir = base_dir, .offline = true, .tool_path = self_path()};
	PgcDiagList own = {0};
	PgcTopology *t = topology_load_buffer(buf, len, display, &lo, &own);
	size_t errors = diag_count(&own, DIAG_ERROR);

	if (t == NULL || errors > 0) {
		diag_add(diags, DIAG_WARNING, display, nowhere, NULL,
			 "the plan shows every cluster as new; fix the base, or pick another --base",
			 "the base topology does not load (%zu error%s, first: %s); planning against "
			 "nothing",
			 errors, errors == 1 ? "" : "s", own.n > 0 ? own.items[0].message : "unreadable");
		topology_free(t);
		t = NULL;
	}
	diag_free(&own);
	return t;
}

int options_load_base(const PgcOptions *o, const char *base_dir, PgcTopology **base,
		      const char **label, PgcDiagList *diags)
{
	PgcSource last = {0};
	PgcGitRepo *r = NULL;
	const char *rev = o->base_rev, *path = o->git_path, *display;
	char commit[SOURCE_OID_HEX + 1], *rel = NULL, *buf = NULL;
	size_t len = 0;
	time_t at;
	int rc = -1;

	*base = NULL;
	*label = "nothing (every cluster is new)";
	if (rev == NULL) {
		/* No --base: what was applied last, when it came from this repository. */
		if (o->git_repo == NULL || source_applied_read(o->state_dir, &last, &at, NULL) != 0 ||
		    last.kind == NULL || strcmp(last.kind, "git") != 0 || last.commit == NULL ||
		    o->source->repository == NULL || last.repository == NULL ||
		    strcmp(last.repository, o->source->repository) != 0) {
			rc = 0;
			goto cleanup;
		}
		rev = arena_strdup(o->arena, last.commit);
		path = last.path != NULL ? arena_strdup(o->arena, last.path) : path;
	}
	if (o->git_repo != NULL) {
		r = source_git_open(o->git_repo, o->state_dir, false, false, o->source_name, diags);
	} else {
		r = source_git_discover(o->file, &rel, diags);
		path = rel;
	}
	if (r == NULL)
		goto cleanup;
	display = arena_printf(o->arena, "%s:%s", rev, path);
	if (source_git_resolve(r, rev, commit, display, diags) != 0)
		goto cleanup;
	if (o->base_rev != NULL)
		*label = arena_printf(o->arena, "%s (%.12s)", rev, commit);
	else
		*label = arena_printf(o->arena, "the last applied commit %.12s", commit);
	switch (source_git_read(r, commit, path, &buf, &len, false, display, diags)) {
	case 0:
		*base = load_base_buffer(buf, len, display, base_dir, diags);
		break;
	case 1:
		*label = arena_printf(o->arena, "%s, where %s does not exist yet", *label, path);
		break;
	default:
		goto cleanup;
	}
	rc = 0;
cleanup:
	free(buf);
	free(rel);
	source_git_close(r);
	source_reset(&last);
	return rc;
}
