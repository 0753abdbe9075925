/*
 * reconcile/observe/observe_files.c - the files probe of one node
 * (observe_files.h).
 */
#include "reconcile/observe/observe_files.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/fsutil.h"
#include "common/log.h"
#include "common/proc.h"
#include "reconcile/engine/secret.h"
#include "reconcile/observe/observe_parse.h"
#include "reconcile/pg/layout.h"
#include "reconcile/pg/passfile.h"

#define CONTROLDATA_TIMEOUT_MS 10000
/* Configuration files larger than this are not read (they are not ours). */
#define CONF_MAX_BYTES (16 * 1024 * 1024)

/* path_in - data_dir/name in scratch. */
static const char *path_in(Probe *p, const char *name)
{
	return arena_printf(p->scratch, "%s/%s", p->node->data_dir.v, name);
}

/* read_text - a whole small file, copied into scratch; NULL when absent or unreadable. */
static char *read_text(Probe *p, PgcHost *h, const char *path)
{
	char *buf = NULL, *copy;
	size_t len = 0;

	if (host_read_file(h, path, &buf, &len, CONF_MAX_BYTES) != 0)
		return NULL;
	copy = arena_strndup(p->scratch, buf, len);
	free(buf);
	return copy;
}

/* controldata - runs pg_controldata as os_user and parses its output. */
static void probe_controldata(Probe *p, PgcHost *h)
{
	const char *prog = arena_printf(p->scratch, "%s/pg_controldata", p->c->bin_dir.v);
	const char *argv[] = {prog, "-D", p->node->data_dir.v, NULL};
	const char *env[] = {"LC_ALL=C", NULL};
	PgcProcSpec spec = {.argv = argv, .env_extra = env, .timeout_ms = CONTROLDATA_TIMEOUT_MS};
	PgcProcResult res;
	PgcObsNode parsed = {0};
	char why[128];

	if (host_run(h, &spec, &res) < 0)
		return;
	if (res.status != 0 || res.timed_out) {
		log_warn("could not read the control file of node \"%s\": %s %s: %s", p->label, prog,
			 proc_status_text(&res, why, sizeof why), res.output);
	} else if (observe_parse_controldata(p->scratch, res.output, &parsed) < 0) {
		log_warn("could not read the control file of node \"%s\": no system identifier in "
			 "the output of %s", p->label, prog);
	} else {
		p->out->system_identifier = parsed.system_identifier;
		p->out->timeline = parsed.timeline;
		p->out->cluster_state = m_strdup(p, parsed.cluster_state);
		p->out->data_checksums = parsed.data_checksums;
		p->out->wal_log_hints = parsed.wal_log_hints;
		p->control_read = true;
	}
	proc_result_free(&res);
}

/*
 * probe_postmaster - the pid in postmaster.pid, and whether it is a live
 * postgres process working in this data directory (a stale file after a
 * crash names a pid that may since belong to anything).
 */
static void probe_postmaster(Probe *p, PgcHost *h)
{
	char *pidfile = read_text(p, h, path_in(p, "postmaster.pid"));
	char comm[64], cwd[PATH_MAX], *real;
	long pid = observe_parse_pidfile(pidfile);

	p->out->postmaster_pid = pid;
	if (pid <= 0 || pid > INT_MAX || host_proc_state(h, pid) == HOST_PROC_GONE)
		return;
	if (host_proc_comm(h, pid, comm, sizeof comm) != 0)
		comm[0] = '\0';
	if (strcmp(comm, "postgres") != 0 && strcmp(comm, "postmaster") != 0)
		return;
	/* The postmaster chdir()s into its data directory; unreadable when not root. */
	real = host_realpath(h, p->node->data_dir.v);
	if (host_proc_cwd(h, pid, cwd, sizeof cwd) == 0 && cwd[0] != '\0' && real != NULL)
		p->out->postmaster_alive = strcmp(cwd, real) == 0;
	else
		p->out->postmaster_alive = true;
	free(real);
}

/*
 * probe_passfile - what the replication passfile holds (PgcObsPassfile):
 * its entry's fields, and whether its password is the declared one. The
 * file and the secret are wiped once compared; neither is kept or logged.
 */
static void probe_passfile(Probe *p, PgcHost *h)
{
	const PgcSecret *s = &p->c->replication.password;
	PgcObsPassfile *pf = &p->out->passfile;
	PgcSecretStatus status;
	PgcPassfileEntry e;
	char *text = NULL, *buf = NULL, *want = NULL, err[512];
	size_t len = 0;
	int rc;

	if (s->kind == SECRET_NONE)
		return;
	rc = host_read_file(h, plan_passfile_path(p->scratch, p->node->data_dir.v), &text, &len,
			    64 * 1024);
	if (rc < 0)
		return; /* not read: the planner compares nothing */
	pf->read = true;
	pf->exists = rc == 0;
	pf->password = PASSFILE_PW_DIFFERS;
	if (rc == 0) {
		buf = malloc(len + 1);
		if (buf == NULL)
			abort();
		if (passfile_parse(text, buf, len + 1, &e) == 0) {
			pf->host = m_strdup(p, e.host);
			pf->port = m_strdup(p, e.port);
			pf->user = m_strdup(p, e.user);
		}
	}
	want = secret_resolve_status(s, "replication password", &status, err, sizeof err);
	if (status == SECRET_UNAVAILABLE) {
		pf->password = PASSFILE_PW_UNKNOWN;
		log_debug("node \"%s\": replication passfile not checked: %s", p->label, err);
	} else if (status == SECRET_REFUSED) {
		/* Planned as differing: writing the file then fails with this reason. */
		log_warn("node \"%s\": %s", p->label, err);
	} else if (pf->user != NULL && strcmp(e.password, want) == 0) {
		pf->password = PASSFILE_PW_MATCHES;
	}
	secret_free(want);
	if (text != NULL) {
		explicit_bzero(text, len);
		free(text);
	}
	if (buf != NULL) {
		explicit_bzero(buf, len + 1);
		free(buf);
	}
}

void observe_files_probe(Probe *p, PgcHost *h)
{
	const char *dir = p->node->data_dir.v;
	PgcObsNode *o = p->out;
	char *text;
	int look;

	/* Before anything else: an unfinished copy may look like anything. */
	o->clone_interrupted = observe_clone_marker_names(
	    read_text(p, h, observe_clone_marker_path(p->scratch, dir)), dir);
	look = host_dir_look(h, dir);
	if (look == 0) {
		o->dir_state = DIR_ABSENT;
		return;
	}
	if (look < 0) {
		o->dir_state = DIR_UNKNOWN;
		o->dir_error = m_printf(p, look == -1 ? "could not stat \"%s\": %s"
						      : "could not open folder \"%s\": %s",
					dir, strerror(errno));
		return;
	}
	if (look == 3) {
		o->dir_state = DIR_FOREIGN;
		return;
	}
	if (look == 1) {
		o->dir_state = DIR_EMPTY;
		return;
	}
	if (!host_exists(h, path_in(p, "PG_VERSION")) ||
	    !host_exists(h, path_in(p, "global/pg_control"))) {
		o->dir_state = DIR_FOREIGN;
		return;
	}
	o->dir_state = DIR_INITIALIZED;
	if ((text = read_text(p, h, path_in(p, "PG_VERSION"))) != NULL)
		o->pg_version_major = atoi(text);
	probe_controldata(p, h);
	o->include_line = observe_conf_includes(read_text(p, h, path_in(p, "postgresql.conf")), dir);
	o->managed_conf = m_strdup(p, read_text(p, h, path_in(p, PGC_MANAGED_CONF)));
	if (o->managed_conf != NULL &&
	    host_file_mtime(h, path_in(p, PGC_MANAGED_CONF), &o->managed_conf_mtime) != 0)
		o->managed_conf_mtime = 0;
	o->hba_conf = m_strdup(p, read_text(p, h, path_in(p, "pg_hba.conf")));
	o->standby_signal = host_exists(h, path_in(p, "standby.signal"));
	o->recovery_signal = host_exists(h, path_in(p, "recovery.signal"));
	probe_postmaster(p, h);
	probe_passfile(p, h);
}
