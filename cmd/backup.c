/*
 * cmd/backup.c - `pgconverge backup`: a base or logical backup, now.
 */
#include "cmd/cmd.h"

const PgcCommandSpec backup_spec = {
	.usage = "backup " USAGE_SOURCE USAGE_NEWLINE
		 "--cluster NAME [--logical] [--state-dir DIR]",
	.description =
		"Takes a backup of the cluster now, into backup.repository: a base backup with\n"
		"pg_basebackup (WAL included), checked and recorded in the repository's catalog;\n"
		"or with --logical a pg_dump of each database in backup.logical.databases. Then\n"
		"removes the backups beyond backup.base.keep (or backup.logical.keep), and only\n"
		"those. The periodic schedule (backup.*.every) is run by 'reconcile'.\n"
		"\n"
		"Not implemented yet.\n",
	.options = OPT_SOURCE | OPT_STATE_DIR | OPT_CLUSTER | OPT_CLUSTER_REQUIRED | OPT_LOGICAL,
	.exit_codes = "  0   the backup is complete and recorded\n"
		      "  1   error\n"
		      "  4   another run holds the state directory's lock\n",
};

int cmd_backup(const PgcOptions *opts)
{
	return cmd_not_implemented(opts);
}
