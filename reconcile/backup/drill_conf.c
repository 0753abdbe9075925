/*
 * reconcile/backup/drill_conf.c - the configuration of a restore drill's
 * server (drill_conf.h). Pure.
 */
#include "reconcile/backup/drill_conf.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "reconcile/backup/restore_conf.h"
#include "reconcile/backup/walarchive.h"
#include "reconcile/engine/plan.h"
#include "reconcile/postgres/plan_conf.h"

#define DRILL_SHARED_BUFFERS "128MB"

/* ---- the drill's configuration (pure) ------------------------------------- */

/* Parameters of the primary a drill copy must not keep: it replicates and archives nothing. */
static const char *const dropped[] = {
	"primary_conninfo", "primary_slot_name", "synchronous_standby_names", "archive_command",
	"archive_library", NULL,
};


const char *drill_conf(PgcArena *a, const PgcCluster *c, int port, const char *socket_dir)
{
	const PgcNode *n = c->primary.v ? cluster_node(c, c->primary.v) : &c->nodes[0];
	PgcConfParam *in, *out;
	size_t nin = plan_conf_params(a, c, n, &in), nout = 0, i, k;
	const PgcConfParam set[] = {
		{"archive_mode", "off"},
		{"cluster_name", arena_printf(a, "%s-drill", c->name)},
		{"hot_standby", "on"},
		{"listen_addresses", "127.0.0.1"},
		{"port", arena_printf(a, "%d", port)},
		{"recovery_target_timeline", "latest"},
		{"restore_command",
		 walarchive_restore_command(a, c->tool_path ? c->tool_path : "pgconverge",
					    c->backup.repository.v)},
		{"shared_buffers", DRILL_SHARED_BUFFERS},
		{"unix_socket_directories", socket_dir},
	};
	const size_t nset = sizeof(set) / sizeof(set[0]);

	out = arena_calloc(a, nin + nset + 1, sizeof(*out));
	for (i = 0; i < nin; i++) {
		bool skip = false;

		for (k = 0; dropped[k] != NULL && !skip; k++)
			skip = strcasecmp(in[i].name, dropped[k]) == 0;
		for (k = 0; k < nset && !skip; k++)
			skip = strcasecmp(in[i].name, set[k].name) == 0;
		if (!skip)
			out[nout++] = in[i];
	}
	for (k = 0; k < nset; k++)
		out[nout++] = set[k];
	qsort(out, nout, sizeof(*out), restore_conf_param_cmp);
	return plan_conf_render(a, c, n, out, nout);
}

const char *drill_hba(PgcArena *a, const PgcCluster *c)
{
	return arena_printf(a,
			    "# pg_hba.conf of a pgconverge restore drill: its own checks only.\n"
			    "local all %s peer map=pgconverge\n",
			    c->os_user.v);
}
