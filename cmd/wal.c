/*
 * cmd/wal.c - `pgconverge wal-push` and `wal-fetch`: PostgreSQL's
 * archive_command and restore_command, backed by a backup repository.
 *
 * Both run as the server's os_user, from the data directory, without the
 * topology file (which that user need not be able to read): the repository
 * is given with --repository. The work is in reconcile/backup/walarchive_push.c
 * and walarchive_fetch.c.
 */
#include "cmd/cmd.h"

#include "cmd/exitcodes.h"
#include "reconcile/backup/walarchive.h"
#include "reconcile/backup/walarchive_fetch.h"
#include "reconcile/backup/walarchive_push.h"

const PgcCommandSpec wal_push_spec = {
	.usage = "wal-push --repository DIR [--compress none|gzip|zstd] WAL_PATH WAL_NAME",
	.description =
		"PostgreSQL's archive_command: copies one WAL segment (or a .partial, .backup or\n"
		".history file) into the backup repository, as DIR/wal/TIMELINE/WAL_NAME (history\n"
		"files in DIR/wal/history/), with a SHA-256 checksum beside it (WAL_NAME.sha256).\n"
		"Each file goes through a temporary file that is fsynced and renamed, its folder\n"
		"fsynced: the command exits 0 only once the copy is durable, so PostgreSQL keeps\n"
		"the segment until then, and a killed push leaves no partial file behind. A file\n"
		"already archived with the same content succeeds (PostgreSQL retries pushes whose\n"
		"success it did not see); with different content it fails, and the archived\n"
		"copy is never overwritten.\n"
		"\n"
		"DIR must exist (it may be a mount point); its owner should be the server's\n"
		"os_user. pgconverge sets, when backup.wal_archive is true:\n"
		"  archive_command = '/path/to/pgconverge wal-push --repository DIR %p %f'\n",
	.options = OPT_REPOSITORY | OPT_COMPRESS,
	.min_args = 2,
	.max_args = 2,
	.args_help = "  WAL_PATH    the file to archive (%p, relative to the data directory)\n"
		     "  WAL_NAME    its name in the archive (%f)\n",
	.option_help = (const PgcOptionHelp[]){
		{"repository", NULL, "the backup repository (backup.repository; required)"},
		{"compress", NULL, "compress what is archived (default none; backup.compression)"},
		{NULL, NULL, NULL},
	},
	.exit_codes = "  0   archived (or already archived with the same content)\n"
		      "  1   not archived; PostgreSQL keeps the file and retries\n",
};

const PgcCommandSpec wal_fetch_spec = {
	.usage = "wal-fetch --repository DIR WAL_NAME DEST_PATH",
	.description =
		"PostgreSQL's restore_command: writes one archived file from the backup\n"
		"repository to DEST_PATH (through a temporary name, then renamed), after\n"
		"decompressing it and checking it against its SHA-256 checksum. Used by\n"
		"point-in-time restores (bootstrap.from_backup) and by replicas that fall\n"
		"behind the WAL their upstream still holds.\n"
		"\n"
		"A file that is not in the archive exits 1, which PostgreSQL takes as the\n"
		"archive's end. Any other failure (a damaged file, a checksum mismatch, an\n"
		"unreadable repository) exits 200: PostgreSQL then stops recovery with an error\n"
		"rather than end it early and promote a server short of its target.\n"
		"\n"
		"pgconverge sets, where the archive is needed:\n"
		"  restore_command = '/path/to/pgconverge wal-fetch --repository DIR %f %p'\n"
		"\n"
		"With --unreachable-ok, a repository folder that cannot be reached (missing, or\n"
		"not a folder: a mount absent on this host) reads as an empty archive: exit 1\n"
		"with a warning. pgconverge sets it on the nodes of a standby cluster, which\n"
		"fetch from their source's archive and never end recovery by themselves: they go\n"
		"on streaming instead of stopping.\n",
	.options = OPT_REPOSITORY | OPT_UNREACHABLE_OK,
	.min_args = 2,
	.max_args = 2,
	.args_help = "  WAL_NAME    the file wanted (%f), e.g. 000000010000000000000003\n"
		     "  DEST_PATH   where to write it (%p)\n",
	.option_help = (const PgcOptionHelp[]){
		{"repository", NULL, "the backup repository to read from (required)"},
		{"unreachable-ok", NULL,
		 "a repository that cannot be reached reads as an empty archive (exit 1), for "
		 "a standby cluster fetching from its source's archive"},
		{NULL, NULL, NULL},
	},
	.exit_codes = "  0   fetched\n"
		      "  1   not in the archive (PostgreSQL takes it as the archive's end); with\n"
		      "      --unreachable-ok also a repository that cannot be reached\n"
		      "  200 the archive holds the file but it could not be delivered intact, or\n"
		      "      the repository is unreadable (PostgreSQL stops recovery)\n",
};

/* need_repository - --repository is required; a usage error otherwise. */
static int need_repository(const PgcOptions *opts)
{
	char hint[64];

	if (opts->repository != NULL)
		return 0;
	snprintf(hint, sizeof(hint), "see 'pgconverge %s --help'", opts->command->name);
	cmd_error(hint, "'%s' needs '--repository DIR'", opts->command->name);
	return -1;
}

int cmd_wal_push(const PgcOptions *opts)
{
	PgcCompression c = COMPRESS_NONE;

	if (need_repository(opts) != 0)
		return EXIT_USAGE;
	if (opts->compress != NULL && walarchive_parse_compression(opts->compress, &c) != 0)
		return EXIT_USAGE; /* options_parse checked the value already */
	return walarchive_push_exit(opts->repository, opts->args[0], opts->args[1], c);
}

int cmd_wal_fetch(const PgcOptions *opts)
{
	if (need_repository(opts) != 0)
		return EXIT_USAGE;
	if (opts->unreachable_ok)
		return walarchive_fetch_exit_unreachable_ok(opts->repository, opts->args[0],
							    opts->args[1]);
	return walarchive_fetch_exit(opts->repository, opts->args[0], opts->args[1]);
}
