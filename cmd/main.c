/*
 * cmd/main.c - pgconverge's entry point: finds the command in the table,
 * parses its options and runs it. Each command lives in cmd/<name>.c.
 * pgc_main() is called by the executable's main() (cmd/front.c) for every
 * command line that is not a plain wal-push or wal-fetch.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd/cmd.h"
#include "cmd/front_core.h"
#include "cmd/exitcodes.h"
#include "common/strutil.h"

static const PgcCommand commands[] = {
	{"validate", cmd_validate, "check a topology file; changes nothing", &validate_spec},
	{"plan", cmd_plan, "show the ordered actions that would converge the servers", &plan_spec},
	{"apply", cmd_apply, "carry out those actions, within the disruption policy", &apply_spec},
	{"status", cmd_status, "show every node's observed state against the desired one",
	 &status_spec},
	{"reconcile", cmd_reconcile, "plan and apply in a loop: drift repair, automatic failover",
	 &reconcile_spec},
	{"backup", cmd_backup, "take a base or logical backup now", &backup_spec},
	{"wal-push", cmd_wal_push, "archive one WAL file (PostgreSQL's archive_command)",
	 &wal_push_spec},
	{"wal-fetch", cmd_wal_fetch, "fetch one WAL file from the archive (restore_command)",
	 &wal_fetch_spec},
	{"failover", cmd_failover, "promote a replica by hand, with the same fencing and checks",
	 &failover_spec},
	{"graph", cmd_graph, "print the topology as a Graphviz DOT graph", &graph_spec},
};

#define N_COMMANDS (sizeof(commands) / sizeof(commands[0]))

/* Meanings as the user reads them; the values come from cmd/exitcodes.h. */
static const struct {
	int code;
	const char *meaning;
} exit_codes[] = {
	{EXIT_OK, "success: valid, no changes pending, converged"},
	{EXIT_ERROR, "error: invalid input or a failed action"},
	{EXIT_CHANGES, "plan: changes are pending"},
	{EXIT_BLOCKED, "apply: some actions were blocked by policy"},
	{EXIT_LOCKED, "another run holds the state directory's lock"},
	{EXIT_USAGE, "bad command line"},
};

void cmd_error(const char *hint, const char *fmt, ...)
{
	va_list ap;

	/* The message carries names and errors from the file and the servers:
	 * escaped for the terminal (str_fput_line), as the hint is. */
	va_start(ap, fmt);
	cmd_verror(hint, fmt, ap);
	va_end(ap);
}

void cmd_print_json(json_t *j, size_t flags)
{
	json_dumpf(j, stdout, flags);
	fputc('\n', stdout);
	json_decref(j);
}

static const PgcCommand *command_find(const char *name)
{
	size_t i;

	for (i = 0; i < N_COMMANDS; i++)
		if (strcmp(commands[i].name, name) == 0)
			return &commands[i];
	return NULL;
}

static int unknown_command(const char *name)
{
	const char *names[N_COMMANDS];
	const char *close;
	char hint[128];
	size_t i;

	for (i = 0; i < N_COMMANDS; i++)
		names[i] = commands[i].name;
	close = str_suggest(name, names, N_COMMANDS);
	if (close != NULL)
		snprintf(hint, sizeof(hint), "did you mean '%s'? see 'pgconverge --help'", close);
	else
		snprintf(hint, sizeof(hint), "see 'pgconverge --help' for the commands");
	cmd_error(hint, "unknown command '%s'", name);
	return EXIT_USAGE;
}

static void main_help(FILE *out)
{
	size_t i;

	fputs("pgconverge - declarative reconciler for PostgreSQL clusters\n"
	      "\n"
	      "usage: pgconverge COMMAND [OPTIONS] [ARGS]\n"
	      "       pgconverge help COMMAND\n"
	      "       pgconverge --version\n"
	      "\n"
	      "A YAML topology file says what should exist; pgconverge observes what is\n"
	      "live, diffs the two and applies an ordered, explained plan.\n"
	      "\n"
	      "commands:\n",
	      out);
	for (i = 0; i < N_COMMANDS; i++)
		fprintf(out, "  %-11s %s\n", commands[i].name, commands[i].summary);
	fputs("\ncommon options (see each command's --help for the ones it takes):\n", out);
	options_common_help(out);
	fputs("\nexit codes:\n", out);
	for (i = 0; i < sizeof(exit_codes) / sizeof(exit_codes[0]); i++)
		fprintf(out, "  %-3d %s\n", exit_codes[i].code, exit_codes[i].meaning);
	fputs("\nResults go to stdout, errors and logs to stderr. NO_COLOR (when set and not\n"
	      "empty) turns colour off, like --no-color.\n"
	      "\n"
	      "Run 'pgconverge help COMMAND' or 'man pgconverge' for more.\n",
	      out);
}

/* help_command - `pgconverge help [COMMAND]`. */
static int help_command(int argc, char **argv)
{
	const PgcCommand *cmd;

	if (argc < 3) {
		main_help(stdout);
		return EXIT_OK;
	}
	if (argc > 3) {
		cmd_error("usage: pgconverge help COMMAND", "unexpected argument '%s'", argv[3]);
		return EXIT_USAGE;
	}
	cmd = command_find(argv[2]);
	if (cmd == NULL)
		return unknown_command(argv[2]);
	options_help(cmd, stdout);
	return EXIT_OK;
}

/* log_setup - the logger follows --log-format, -v/-q and the colour rules. */
static void log_setup(const PgcOptions *opts)
{
	log_set_format(opts->log_format);
	log_adjust_level(opts->verbosity);
	log_set_color(opts->log_format == LOG_FORMAT_TEXT && options_color(opts, stderr));
}

/* finish - a result that could not be written is a failure, not a success. */
static int finish(int rc)
{
	if (fflush(stdout) != 0 || ferror(stdout)) {
		cmd_error(NULL, "cannot write to standard output: %s", strerror(errno));
		return rc == EXIT_OK ? EXIT_ERROR : rc;
	}
	return rc;
}

const char pgc_core_version[] = PGC_VERSION;

int pgc_main(int argc, char **argv)
{
	const PgcCommand *cmd;
	PgcOptions opts;
	const char *name;
	int rc;

	/* As cmd/front.c's main() does first: this is for a core entered another way. */
	cmd_no_core_dumps();
	if (argc < 2) {
		cmd_error("see 'pgconverge --help' for the commands", "no command given");
		return EXIT_USAGE;
	}
	name = argv[1];
	if (strcmp(name, "help") == 0 || strcmp(name, "--help") == 0 || strcmp(name, "-h") == 0)
		return finish(help_command(argc, argv));
	if (strcmp(name, "--version") == 0 || strcmp(name, "version") == 0) {
		printf("pgconverge %s\n", PGC_VERSION);
		return finish(EXIT_OK);
	}
	if (name[0] == '-') {
		cmd_error("the command comes first, e.g. 'pgconverge validate -f FILE'; "
			  "see 'pgconverge --help'",
			  "option '%s' given before the command", name);
		return EXIT_USAGE;
	}
	cmd = command_find(name);
	if (cmd == NULL)
		return unknown_command(name);

	rc = options_parse(cmd, argc - 1, argv + 1, &opts);
	if (rc == 0) {
		log_setup(&opts);
		rc = cmd->run(&opts);
	} else
		rc = rc > 0 ? EXIT_OK : EXIT_USAGE;
	options_free(&opts);
	return finish(rc);
}
