/*
 * cmd/wal.c - `pgconverge wal-push` and `wal-fetch`: PostgreSQL's
 * archive_command and restore_command, backed by the cluster's repository.
 */
#include "cmd/cmd.h"

const PgcCommandSpec wal_push_spec = {
	.usage = "wal-push [-f FILE] --cluster NAME WAL_PATH",
	.description =
		"PostgreSQL's archive_command: copies one WAL segment (or a .history or .backup\n"
		"file) into the cluster's backup repository through a temporary file that is\n"
		"fsynced and renamed, its folder fsynced. Exits 0 only once the copy is durable,\n"
		"so PostgreSQL keeps the segment until then. A file already archived with the\n"
		"same content succeeds; with different content it fails, so that nothing in the\n"
		"archive is ever overwritten.\n"
		"\n"
		"pgconverge sets it when backup.wal_archive is true:\n"
		"  archive_command = 'pgconverge wal-push -f FILE --cluster NAME %p'\n"
		"\n"
		"Not implemented yet.\n",
	.options = OPT_FILE | OPT_CLUSTER | OPT_CLUSTER_REQUIRED,
	.min_args = 1,
	.max_args = 1,
	.args_help = "  WAL_PATH    the file to archive (%p, relative to the data directory)\n",
	.exit_codes = "  0   archived (or already archived with the same content)\n"
		      "  1   not archived; PostgreSQL keeps the file and retries\n",
};

const PgcCommandSpec wal_fetch_spec = {
	.usage = "wal-fetch [-f FILE] --cluster NAME WAL_NAME DEST_PATH",
	.description =
		"PostgreSQL's restore_command: copies one archived file from the cluster's\n"
		"backup repository to DEST_PATH (through a temporary name, then renamed). Used\n"
		"by replicas that fall behind the WAL the primary still holds, and by\n"
		"point-in-time restores (bootstrap.from_backup).\n"
		"\n"
		"pgconverge sets it where the archive is needed:\n"
		"  restore_command = 'pgconverge wal-fetch -f FILE --cluster NAME %f %p'\n"
		"\n"
		"Not implemented yet.\n",
	.options = OPT_FILE | OPT_CLUSTER | OPT_CLUSTER_REQUIRED,
	.min_args = 2,
	.max_args = 2,
	.args_help = "  WAL_NAME    the file wanted (%f), e.g. 000000010000000000000003\n"
		     "  DEST_PATH   where to write it (%p)\n",
	.exit_codes = "  0   fetched\n"
		      "  1   not in the archive, or an error (PostgreSQL takes it as the archive's end)\n",
};

int cmd_wal_push(const PgcOptions *opts)
{
	return cmd_not_implemented(opts);
}

int cmd_wal_fetch(const PgcOptions *opts)
{
	return cmd_not_implemented(opts);
}
