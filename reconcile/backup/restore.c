/*
 * reconcile/backup/restore.c - point-in-time restore (restore.h): the choice of
 * base backup and WAL range, the restore's configuration, the copy, start
 * and watch steps drill.c shares, and the ACT_RESTORE executor.
 */
#include "reconcile/postgres/config.h"
#include "reconcile/postgres/initdb.h"
#include "reconcile/pg/layout.h"
#include "reconcile/backup/restore.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <pthread.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <libpq-fe.h>

#include "common/clock.h"
#include "common/fsutil.h"
#include "common/log.h"
#include "common/proc.h"
#include "reconcile/engine/apply.h"
#include "reconcile/backup/backup.h"
#include "reconcile/pg/pgctl.h"
#include "reconcile/pg/pgsql.h"
#include "common/progress.h"
#include "reconcile/backup/walarchive.h"
#include "reconcile/observe/observe_parse.h"

/* Watching a recovery: connection attempts while the server starts (each
 * refused one is a FATAL line in its log), then a cheap query on the open
 * connection, often enough that the promotion is seen within 50 ms. */
#define POLL_MS 100
#define POLL_CONNECTED_MS 50
/* A server whose postmaster.pid has not appeared after this long did not start. */
#define PIDFILE_GRACE_MS 15000
#define LOG_TAIL_LINES 15
#define LOG_READ_MAX (8 * 1024 * 1024)
#define COPY_BUF (1024 * 1024)

/* ---- times and names (pure) ------------------------------------------------ */

/* digits - n decimal digits at *p into *v, advancing; false when fewer. */
static bool digits(const char **p, int n, int *v)
{
	int i, x = 0;

	for (i = 0; i < n; i++) {
		if ((*p)[i] < '0' || (*p)[i] > '9')
			return false;
		x = x * 10 + ((*p)[i] - '0');
	}
	*p += n;
	*v = x;
	return true;
}

int restore_parse_time(const char *text, double *epoch)
{
	const char *p = text;
	struct tm tm;
	int y, mo, d, h, mi, s = 0, oh = 0, om = 0, sign = 0;
	double frac = 0;
	time_t t;

	if (p == NULL)
		return -1;
	while (*p == ' ')
		p++;
	if (!digits(&p, 4, &y) || *p++ != '-' || !digits(&p, 2, &mo) || *p++ != '-' ||
	    !digits(&p, 2, &d) || (*p != ' ' && *p != 'T'))
		return -1;
	p++;
	if (!digits(&p, 2, &h) || *p++ != ':' || !digits(&p, 2, &mi))
		return -1;
	if (*p == ':') {
		p++;
		if (!digits(&p, 2, &s))
			return -1;
		if (*p == '.') {
			double scale = 0.1;

			for (p++; *p >= '0' && *p <= '9'; p++, scale /= 10)
				frac += (*p - '0') * scale;
		}
	}
	while (*p == ' ')
		p++;
	if (*p == 'Z' || *p == 'z') {
		p++;
		sign = 1;
	} else if (strncasecmp(p, "UTC", 3) == 0 || strncasecmp(p, "GMT", 3) == 0) {
		p += 3;
		sign = 1;
	} else if (*p == '+' || *p == '-') {
		sign = *p++ == '+' ? 1 : -1;
		if (!digits(&p, 2, &oh))
			return -1;
		if (*p == ':')
			p++;
		if (*p >= '0' && *p <= '9' && !digits(&p, 2, &om))
			return -1;
	}
	while (*p == ' ')
		p++;
	if (*p != '\0')
		return -1;
	if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || s > 60 || oh > 15 || om > 59)
		return -1;
	if (sign == 0)
		return -2;
	memset(&tm, 0, sizeof(tm));
	tm.tm_year = y - 1900;
	tm.tm_mon = mo - 1;
	tm.tm_mday = d;
	tm.tm_hour = h;
	tm.tm_min = mi;
	tm.tm_sec = s;
	t = timegm(&tm);
	*epoch = (double)t + frac - sign * (oh * 3600 + om * 60);
	return 0;
}

const char *restore_wal_name(PgcArena *a, unsigned tli, uint64_t segno, uint64_t segsize)
{
	uint64_t per_id = 0x100000000ULL / segsize;

	return arena_printf(a, "%08X%08X%08X", tli, (unsigned)(segno / per_id),
			    (unsigned)(segno % per_id));
}

static const char *lsn_text(PgcArena *a, uint64_t lsn)
{
	return arena_printf(a, "%X/%X", (unsigned)(lsn >> 32), (unsigned)lsn);
}

static const char *iso_time(PgcArena *a, int64_t t)
{
	time_t tt = (time_t)t;
	struct tm tm;
	char buf[32];

	gmtime_r(&tt, &tm);
	strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
	return arena_strdup(a, buf);
}

/* ---- the timeline path ------------------------------------------------------ */

/* A timeline on the path recovery follows, with the LSN range it covers. */
typedef struct {
	unsigned tli;
	uint64_t begin, end;      /* end: UINT64_MAX for the last */
} TlSpan;

static const PgcObsHistory *history_of(const PgcObsRepository *r, unsigned tli)
{
	size_t i;

	for (i = 0; i < r->n_history; i++)
		if (r->history[i].tli == tli)
			return &r->history[i];
	return NULL;
}

/*
 * timeline_path - what recovery_target_timeline 'latest' follows from a
 * backup on timeline tli: PostgreSQL takes the highest timeline reachable
 * by consecutive history files from tli, and that timeline's ancestry.
 */
static size_t timeline_path(PgcArena *a, const PgcObsRepository *r, unsigned tli, TlSpan **out,
			    unsigned *latest)
{
	const PgcObsHistory *h;
	unsigned t = tli;
	uint64_t begin = 0;
	TlSpan *s;
	size_t i;

	while (history_of(r, t + 1) != NULL)
		t++;
	*latest = t;
	h = t == tli ? NULL : history_of(r, t);
	s = arena_calloc(a, (h ? h->n_parents : 0) + 1, sizeof(*s));
	for (i = 0; h != NULL && i < h->n_parents; i++) {
		s[i].tli = h->parents[i].tli;
		s[i].begin = begin;
		s[i].end = h->parents[i].switch_lsn;
		begin = s[i].end;
	}
	s[i].tli = t;
	s[i].begin = begin;
	s[i].end = UINT64_MAX;
	*out = s;
	return i + 1;
}

/* on_path - the backup lies on the path: its timeline is there and it started before that timeline ended. */
static bool on_path(const TlSpan *s, size_t n, const PgcBaseBackupInfo *b)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (s[i].tli == b->timeline && b->start_lsn_v >= s[i].begin && b->start_lsn_v < s[i].end)
			return true;
	return false;
}

static int name_cmp(const void *key, const void *elem)
{
	return strcmp(key, ((const PgcWalEntry *)elem)->name);
}

/* archived - the archive's segment of this name, or NULL. */
static const PgcWalEntry *archived(const PgcObsRepository *r, const char *name)
{
	const PgcWalEntry *e = bsearch(name, r->wal, r->n_wal, sizeof(*r->wal), name_cmp);

	return e != NULL && e->parsed.kind == WAL_FILE_SEGMENT ? e : NULL;
}

/*
 * segment_on_path - the archived segment segno as recovery looks for it:
 * the newest timeline of the path that began at or before it, then older
 * ones but never below *min_tli (PostgreSQL's XLogFileReadAnyTLI). Sets
 * *min_tli to the one found, *expected to the name it would like best.
 */
static const PgcWalEntry *segment_on_path(PgcArena *a, const PgcObsRepository *r, const TlSpan *s,
					  size_t n, uint64_t segno, uint64_t segsize,
					  unsigned *min_tli, const char **expected)
{
	size_t i;

	*expected = NULL;
	for (i = n; i-- > 0;) {
		const char *name;
		const PgcWalEntry *e;

		if (s[i].tli < *min_tli)
			break;
		if (segno < s[i].begin / segsize)
			continue;
		name = restore_wal_name(a, s[i].tli, segno, segsize);
		if (*expected == NULL)
			*expected = name;
		e = archived(r, name);
		if (e != NULL) {
			*min_tli = s[i].tli;
			return e;
		}
	}
	return NULL;
}

/* ---- choosing ---------------------------------------------------------------- */

typedef enum { T_NONE, T_IMMEDIATE, T_TIME, T_LSN, T_XID, T_NAME } TargetKind;

static bool drill_failed(const PgcObsRepository *r, const char *id)
{
	size_t i;

	for (i = 0; i < r->n_drills; i++)
		if (strcmp(r->drills[i].backup_id, id) == 0 && !r->drills[i].ok)
			return true;
	return false;
}

static bool usable(const PgcObsRepository *r, const PgcBaseBackupInfo *b)
{
	return b->verify.known && b->verify.ok && !b->deleting && b->timeline != 0 &&
	       b->start_lsn_v != 0 && b->stop_lsn_v >= b->start_lsn_v && !drill_failed(r, b->id);
}

static double finished_epoch(const PgcBaseBackupInfo *b)
{
	double t;

	return restore_parse_time(b->finished_at, &t) == 0 ? t : -1;
}

static const char *target_text(PgcArena *a, const PgcBootstrap *b, TargetKind k)
{
	switch (k) {
	case T_TIME:
		return arena_printf(a, "target_time \"%s\"", b->target_time.v);
	case T_LSN:
		return arena_printf(a, "target_lsn %s", b->target_lsn.v);
	case T_XID:
		return arena_printf(a, "target_xid %s", b->target_xid.v);
	case T_NAME:
		return arena_printf(a, "restore point \"%s\"", b->target_name.v);
	case T_IMMEDIATE:
		return "the backup's consistency point (immediate)";
	case T_NONE:
		break;
	}
	return "the end of the archive";
}

/* coverage - how far replayable WAL reaches from backup b along path s. */
static void coverage(PgcArena *a, const PgcObsRepository *r, const TlSpan *s, size_t n,
		     const PgcBaseBackupInfo *b, PgcRestoreChoice *out)
{
	uint64_t segsize = (uint64_t)(b->wal_segment_size > 0 ? b->wal_segment_size
							      : RESTORE_DEFAULT_SEGSIZE);
	uint64_t segno = b->stop_lsn_v / segsize, missing;
	unsigned min_tli = b->timeline;
	const PgcWalEntry *e, *last = NULL;
	const char *expected = NULL;
	size_t i;

	out->first_wal = restore_wal_name(a, b->timeline, b->start_lsn_v / segsize, segsize);
	/* The backup carries its own WAL up to its stop LSN (-X stream); the
	 * archive must go on from the segment holding it. */
	while ((e = segment_on_path(a, r, s, n, segno, segsize, &min_tli, &expected)) != NULL) {
		last = e;
		segno++;
	}
	missing = segno;
	if (last == NULL) {
		out->end_lsn = b->stop_lsn_v;
		out->end_time = (int64_t)finished_epoch(b);
	} else {
		out->last_wal = last->name;
		out->end_lsn = missing * segsize;
		out->end_time = last->mtime;
	}
	/* A gap: later segments of the path are archived, this one is not. */
	for (i = 0; i < r->n_wal; i++) {
		const PgcWalEntry *w = &r->wal[i];
		size_t k;

		if (w->parsed.kind != WAL_FILE_SEGMENT || walarchive_segno(&w->parsed, segsize) <= missing)
			continue;
		for (k = 0; k < n && s[k].tli != w->parsed.timeline; k++)
			;
		if (k < n) {
			out->gap = expected;
			break;
		}
	}
}

static const char *refuse_end(PgcArena *a, const PgcRestoreChoice *c, const char *target)
{
	const char *where = c->last_wal != NULL
				? arena_printf(a, "its last segment %s was archived at %s (WAL up to %s)",
					       c->last_wal, iso_time(a, c->end_time),
					       lsn_text(a, c->end_lsn))
				: arena_printf(a, "it holds nothing after base backup %s (WAL up to %s, "
					       "ended %s)",
					       c->backup->id, lsn_text(a, c->end_lsn), c->backup->finished_at);
	const char *gap = c->gap != NULL ? arena_printf(a, "; segment %s is missing from the archive, "
							"which ends there", c->gap)
					 : "";

	return arena_printf(a, "%s is after the end of the archive: %s%s", target, where, gap);
}

int restore_choose(PgcArena *a, const PgcBootstrap *b, const PgcObsRepository *r,
		   PgcRestoreChoice *out, const char **why)
{
	TargetKind kind = T_NONE;
	const PgcBaseBackupInfo **cand, *chosen = NULL, *oldest;
	TlSpan *span = NULL, *best_span = NULL;
	size_t nc = 0, ns = 0, best_ns = 0, i, refused = 0;
	unsigned latest = 0, best_latest = 0;
	double target_time = 0;
	uint64_t target_lsn = 0;
	const char *target;

	memset(out, 0, sizeof(*out));
	*why = NULL;
	if (r == NULL) {
		*why = "the source repository was not observed";
		return -1;
	}
	if (r->error != NULL) {
		*why = arena_strdup(a, r->error); /* the plan outlives the observation */
		return -1;
	}
	if (b->immediate.set && b->immediate.v)
		kind = T_IMMEDIATE;
	else if (b->target_time.set)
		kind = T_TIME;
	else if (b->target_lsn.set)
		kind = T_LSN;
	else if (b->target_xid.set)
		kind = T_XID;
	else if (b->target_name.set)
		kind = T_NAME;
	target = target_text(a, b, kind);
	out->target = target;
	if (kind == T_TIME) {
		int rc = restore_parse_time(b->target_time.v, &target_time);

		if (rc == -2) {
			*why = arena_printf(a, "target_time \"%s\" has no time zone: the restored server "
					    "would read it in its own; write it with an offset, e.g. "
					    "\"%s+00\"", b->target_time.v, b->target_time.v);
			return -1;
		}
		if (rc != 0) {
			*why = arena_printf(a, "target_time \"%s\" is not a timestamp pgconverge can "
					    "compare with the archive: write it as \"YYYY-MM-DD "
					    "HH:MM:SS+HH\"", b->target_time.v);
			return -1;
		}
	}
	if (kind == T_LSN && walarchive_parse_lsn(b->target_lsn.v, &target_lsn) != 0) {
		*why = arena_printf(a, "target_lsn \"%s\" is not an LSN", b->target_lsn.v);
		return -1;
	}

	cand = arena_calloc(a, r->catalog->n_base + 1, sizeof(*cand));
	for (i = 0; i < r->catalog->n_base; i++) {
		const PgcBaseBackupInfo *bb = &r->catalog->base[i];

		if (!usable(r, bb)) {
			refused += !bb->deleting;
			continue;
		}
		if (nc > 0 && cand[0]->system_identifier != NULL && bb->system_identifier != NULL &&
		    strcmp(cand[0]->system_identifier, bb->system_identifier) != 0) {
			*why = arena_printf(a, "repository \"%s\" holds backups of two clusters (system "
					    "identifiers %s and %s): pgconverge does not guess which "
					    "to restore", r->path, cand[0]->system_identifier,
					    bb->system_identifier);
			return -1;
		}
		cand[nc++] = bb;
	}
	if (nc == 0) {
		*why = arena_printf(a, "repository \"%s\" holds no usable base backup%s", r->path,
				    refused ? arena_printf(a, " (%zu failed verification or a restore "
							   "drill)", refused)
					    : "");
		return -1;
	}
	/* Only backups that the timeline recovery will follow descends from. */
	for (i = 0, ns = 0; i < nc; i++) {
		ns = timeline_path(a, r, cand[i]->timeline, &span, &latest);
		if (on_path(span, ns, cand[i]))
			continue;
		memmove(&cand[i], &cand[i + 1], (nc - i - 1) * sizeof(*cand));
		nc--;
		i--;
	}
	if (nc == 0) {
		*why = arena_printf(a, "no base backup in \"%s\" lies on the history of the archive's "
				    "latest timeline %u", r->path, latest);
		return -1;
	}
	oldest = cand[0];
	switch (kind) {
	case T_TIME:
		for (i = nc; i-- > 0 && chosen == NULL;) {
			double fin = finished_epoch(cand[i]);

			if (fin >= 0 && fin + 1 <= target_time)
				chosen = cand[i];
		}
		if (chosen == NULL) {
			*why = arena_printf(a, "%s is before the end of the oldest usable backup (%s, "
					    "ended %s): a restore cannot reach it", target,
					    oldest->id, oldest->finished_at ? oldest->finished_at : "?");
			return -1;
		}
		break;
	case T_LSN:
		for (i = nc; i-- > 0 && chosen == NULL;)
			if (cand[i]->stop_lsn_v <= target_lsn)
				chosen = cand[i];
		if (chosen == NULL) {
			*why = arena_printf(a, "%s is before the end of the oldest usable backup (%s, "
					    "stop LSN %s): a restore cannot reach it", target,
					    oldest->id, oldest->stop_lsn);
			return -1;
		}
		break;
	case T_XID:
	case T_NAME:
		chosen = oldest; /* where the target lies is unknown: the oldest is early enough */
		break;
	case T_NONE:
	case T_IMMEDIATE:
		chosen = cand[nc - 1];
		break;
	}
	best_ns = timeline_path(a, r, chosen->timeline, &best_span, &best_latest);
	out->backup = chosen;
	out->latest_tli = best_latest;
	coverage(a, r, best_span, best_ns, chosen, out);

	if (kind == T_TIME && target_time > (double)out->end_time) {
		*why = refuse_end(a, out, target);
		return -1;
	}
	if (kind == T_LSN && target_lsn > out->end_lsn) {
		*why = refuse_end(a, out, target);
		return -1;
	}
	out->summary = arena_printf(
	    a, "base backup %s (ended %s, timeline %u, WAL %s-%s)%s, to %s%s", chosen->id,
	    chosen->finished_at ? chosen->finished_at : "?", chosen->timeline, chosen->start_lsn,
	    chosen->stop_lsn,
	    kind == T_IMMEDIATE ? ", with the WAL it carries"
	    : out->last_wal != NULL
		? arena_printf(a, ", then archived WAL up to %s (%s)", out->last_wal,
			       lsn_text(a, out->end_lsn))
		: ", with the WAL it carries (the archive holds nothing after it)",
	    target,
	    restore_pauses(b) ? ", then pause there (target_action: pause)"
		: ", then promote on a new timeline");
	return 0;
}

/* ---- the configuration ----------------------------------------------------------- */

bool restore_has_target(const PgcBootstrap *b)
{
	return (b->immediate.set && b->immediate.v) || b->target_time.set || b->target_lsn.set ||
	       b->target_xid.set || b->target_name.set;
}

bool restore_pauses(const PgcBootstrap *b)
{
	return restore_has_target(b) && b->target_action.v != NULL &&
	       strcmp(b->target_action.v, "pause") == 0;
}

static int param_cmp(const void *x, const void *y)
{
	return strcasecmp(((const PgcConfParam *)x)->name, ((const PgcConfParam *)y)->name);
}

/* put - sets name in the sorted-later list (replacing a value), growing it in a. */
static void put(PgcArena *a, PgcConfParam **p, size_t *n, const char *name, const char *value)
{
	PgcConfParam *np;
	size_t i;

	for (i = 0; i < *n; i++) {
		if (strcasecmp((*p)[i].name, name) == 0) {
			(*p)[i].value = value;
			return;
		}
	}
	np = arena_calloc(a, *n + 1, sizeof(*np));
	if (*n)
		memcpy(np, *p, *n * sizeof(*np));
	np[*n].name = name;
	np[*n].value = value;
	*p = np;
	(*n)++;
}

const char *restore_managed_conf(PgcArena *a, const PgcCluster *c, const PgcNode *n)
{
	const PgcBootstrap *b = &c->bootstrap;
	PgcConfParam *p;
	size_t np = plan_conf_params(a, c, n, &p);
	bool target = restore_has_target(b);

	put(a, &p, &np, "restore_command",
	    walarchive_restore_command(a, c->tool_path ? c->tool_path : "pgconverge",
				       b->repository.v));
	put(a, &p, &np, "recovery_target_timeline", "latest");
	if (b->immediate.set && b->immediate.v)
		put(a, &p, &np, "recovery_target", "immediate");
	else if (b->target_time.set)
		put(a, &p, &np, "recovery_target_time", b->target_time.v);
	else if (b->target_lsn.set)
		put(a, &p, &np, "recovery_target_lsn", b->target_lsn.v);
	else if (b->target_xid.set)
		put(a, &p, &np, "recovery_target_xid", b->target_xid.v);
	else if (b->target_name.set)
		put(a, &p, &np, "recovery_target_name", b->target_name.v);
	if (target)
		put(a, &p, &np, "recovery_target_action",
		    b->target_action.v != NULL ? b->target_action.v : "promote");
	qsort(p, np, sizeof(*p), param_cmp);
	return plan_conf_render(a, c, n, p, np);
}

bool restore_conf_is_restore(PgcArena *a, const char *content)
{
	PgcConfParam *p;
	size_t n = plan_conf_parse(a, content, &p), i;

	for (i = 0; i < n; i++)
		if (strcasecmp(p[i].name, "recovery_target_timeline") == 0)
			return true;
	return false;
}

/* ---- copying --------------------------------------------------------------------- */

/*
 * The copy walks both trees with descriptors and follows no link. The
 * backup lives in a repository that the servers' account owns, and the copy
 * is made in a folder it may own too (the drill's scratch folder): a link
 * planted in either would make root read what the account cannot and hand
 * it over, or create and chown files where the account could not.
 *
 * - The backup folder is opened with fs_open_guarded(): a link in its place
 *   in the repository is refused.
 * - Inside it, a symlink is refused, not copied: pg_basebackup writes one
 *   only in pg_tblspc, for a tablespace, and pgconverge restores backups
 *   without tablespaces; copied as a link it would point the restored
 *   server wherever the backup's author wanted.
 * - Every entry must belong to the owner of the backup folder: a file of
 *   another account there (a hard link to root's file) is refused.
 * - Every folder and file of the copy is created relative to its parent's
 *   descriptor (mkdirat, openat O_EXCL | O_NOFOLLOW) and chowned through
 *   its own descriptor, never by name.
 */
typedef struct {
	uid_t uid, gid;  /* the copy's owner (FS_NO_UID: the caller's) */
	uid_t src_owner; /* the backup folder's owner: every entry must be its */
	char *buf;
	PgcProgress *pr;
} Copy;

/* copy_owned - 0 when the open entry fd (src) belongs to the backup's owner; -1 (reported). */
static int copy_owned(const Copy *cp, int fd, const char *src, struct stat *st)
{
	if (fstat(fd, st) != 0) {
		log_error("could not stat \"%s\": %s", src, strerror(errno));
		return -1;
	}
	if (st->st_uid != cp->src_owner) {
		log_error("cannot restore \"%s\": it belongs to uid %u, not to the owner of the backup "
			  "(uid %u)", src, (unsigned)st->st_uid, (unsigned)cp->src_owner);
		return -1;
	}
	return 0;
}

/*
 * copy_file - entry name of folder sfd (path src) to a new name in folder
 * dfd (path dest), owned by the copy's owner; in the kernel
 * (copy_file_range) where it can, else through the buffer. Not synced here:
 * restore_copy_tree syncs the whole copy once at the end, which costs one
 * flush instead of one per file. 0, or -1 (reported).
 */
static int copy_file(const Copy *cp, int sfd, int dfd, const char *name, const char *src,
		     const char *dest)
{
	int in = openat(sfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC), out = -1;
	int rc = -1;
	struct stat st;
	ssize_t n;
	bool in_kernel = true;

	if (in < 0) {
		log_error("could not open \"%s\": %s", src, strerror(errno));
		return -1;
	}
	if (copy_owned(cp, in, src, &st) != 0)
		goto cleanup;
	/* Swapped for something else since it was listed: refused as the listing would. */
	if (!S_ISREG(st.st_mode)) {
		log_error("cannot restore \"%s\": it is not a regular file", src);
		goto cleanup;
	}
	out = openat(dfd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
		     st.st_mode & 0750);
	if (out < 0) {
		log_error("could not create \"%s\": %s", dest, strerror(errno));
		goto cleanup;
	}
	if ((cp->uid != FS_NO_UID || cp->gid != FS_NO_GID) && fchown(out, cp->uid, cp->gid) != 0) {
		log_error("could not change the owner of \"%s\": %s", dest, strerror(errno));
		goto cleanup;
	}
	while (in_kernel) {
		n = copy_file_range(in, NULL, out, NULL, COPY_BUF, 0);
		if (n == 0)
			goto copied;
		if (n > 0) {
			progress_add(cp->pr, (int64_t)n);
			continue;
		}
		if (errno == EINTR)
			continue;
		/* Not supported between these files (another file system, an old
		 * kernel): copy through the buffer from where it stopped. */
		if (errno != EXDEV && errno != ENOSYS && errno != EINVAL && errno != EOPNOTSUPP) {
			log_error("could not copy \"%s\" to \"%s\": %s", src, dest, strerror(errno));
			goto cleanup;
		}
		in_kernel = false;
	}
	while ((n = read(in, cp->buf, COPY_BUF)) != 0) {
		if (n < 0) {
			if (errno == EINTR)
				continue;
			log_error("could not read \"%s\": %s", src, strerror(errno));
			goto cleanup;
		}
		if (fs_write_all(out, cp->buf, (size_t)n) != 0) {
			log_error("could not write \"%s\": %s", dest, strerror(errno));
			goto cleanup;
		}
		progress_add(cp->pr, (int64_t)n);
	}
copied:
	rc = 0;
cleanup:
	if (out >= 0 && close(out) != 0 && rc == 0) {
		log_error("could not close \"%s\": %s", dest, strerror(errno));
		rc = -1;
	}
	close(in);
	return rc;
}

/*
 * copy_dir - the folder open at sfd (path src; the descriptor is consumed)
 * copied as a new folder name in folder pdfd (path dest). *out, when not
 * NULL, receives the new folder's descriptor (the caller closes it).
 */
static int copy_dir(const Copy *cp, int sfd, int pdfd, const char *name, const char *src,
		    const char *dest, int *out)
{
	struct stat st;
	struct dirent *de;
	DIR *d = NULL;
	int dfd = -1, rc = -1;

	if (copy_owned(cp, sfd, src, &st) != 0) {
		close(sfd);
		return -1;
	}
	if (mkdirat(pdfd, name, 0700) != 0) {
		log_error("could not create folder \"%s\": %s", dest, strerror(errno));
		close(sfd);
		return -1;
	}
	dfd = openat(pdfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (dfd < 0) {
		log_error("could not open folder \"%s\": %s", dest, strerror(errno));
		close(sfd);
		return -1;
	}
	if ((cp->uid != FS_NO_UID || cp->gid != FS_NO_GID) && fchown(dfd, cp->uid, cp->gid) != 0) {
		log_error("could not change the owner of \"%s\": %s", dest, strerror(errno));
		close(sfd);
		goto cleanup;
	}
	d = fdopendir(sfd);
	if (d == NULL) {
		log_error("could not open folder \"%s\": %s", src, strerror(errno));
		close(sfd);
		goto cleanup;
	}
	rc = 0;
	for (;;) {
		char *s, *t;

		errno = 0;
		de = readdir(d);
		if (de == NULL) {
			if (errno != 0) {
				log_error("could not read folder \"%s\": %s", src, strerror(errno));
				rc = -1;
			}
			break;
		}

		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		s = fs_path_join(src, de->d_name);
		t = fs_path_join(dest, de->d_name);
		if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0) {
			log_error("could not stat \"%s\": %s", s, strerror(errno));
			rc = -1;
		} else if (S_ISDIR(st.st_mode)) {
			int csfd = openat(dirfd(d), de->d_name,
					  O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

			if (csfd < 0) {
				log_error("could not open folder \"%s\": %s", s, strerror(errno));
				rc = -1;
			} else {
				rc = copy_dir(cp, csfd, dfd, de->d_name, s, t, NULL);
			}
		} else if (S_ISREG(st.st_mode)) {
			rc = copy_file(cp, dirfd(d), dfd, de->d_name, s, t);
		} else {
			log_error("cannot restore \"%s\": it is not a regular file or folder (a "
				  "tablespace link?)\n"
				  "hint: pgconverge restores backups without tablespaces",
				  s);
			rc = -1;
		}
		free(s);
		free(t);
		if (rc != 0)
			break;
	}
cleanup:
	if (d != NULL)
		closedir(d);
	if (rc == 0 && out != NULL)
		*out = dfd;
	else
		close(dfd);
	return rc;
}

/* parent_of - the folder part of path, in a ("." when there is none). */
static const char *parent_of(PgcArena *a, const char *path)
{
	const char *slash = strrchr(path, '/');

	if (slash == NULL)
		return ".";
	while (slash > path && slash[-1] == '/')
		slash--;
	return slash == path ? "/" : arena_strndup(a, path, (size_t)(slash - path));
}

int restore_copy_tree(const char *src, const char *dest, uid_t uid, gid_t gid, int64_t total,
		      bool progress, const char *what)
{
	PgcArena *a = arena_new();
	PgcProgress pr = {0};
	Copy cp = {uid, gid, 0, NULL, &pr};
	const char *name = strrchr(dest, '/') != NULL ? strrchr(dest, '/') + 1 : dest;
	struct stat st;
	char size[32];
	double t0 = (clock_ms() / 1000.0);
	int sfd, pdfd = -1, dfd = -1, rc = -1;

	sfd = fs_open_guarded(src, O_RDONLY | O_DIRECTORY, 0, false);
	if (sfd < 0)
		goto cleanup;
	if (fstat(sfd, &st) != 0) {
		log_error("could not stat \"%s\": %s", src, strerror(errno));
		close(sfd);
		goto cleanup;
	}
	cp.src_owner = st.st_uid;
	pdfd = fs_open_guarded(parent_of(a, dest), O_RDONLY | O_DIRECTORY, 0, false);
	if (pdfd < 0) {
		close(sfd);
		goto cleanup;
	}
	cp.buf = malloc(COPY_BUF);
	if (cp.buf == NULL)
		abort();
	progress_start(&pr, progress, what, total);
	rc = copy_dir(&cp, sfd, pdfd, name, src, dest, &dfd);
	/* The copy below dest on disk: one syncfs() of its file system. */
	if (rc == 0 && syncfs(dfd) != 0) {
		log_error("could not sync the copy in \"%s\": %s", dest, strerror(errno));
		rc = -1;
	}
	progress_stop(&pr);
	if (rc == 0)
		log_info("%s: copied %s in %.1f s", what,
			 backup_format_bytes(atomic_load(&pr.done), size, sizeof size), (clock_ms() / 1000.0) - t0);
cleanup:
	if (dfd >= 0)
		close(dfd);
	if (pdfd >= 0)
		close(pdfd);
	free(cp.buf);
	arena_free(a);
	return rc;
}

int restore_remove_tree(const char *parent, const char *path)
{
	return fs_remove_tree(parent, path);
}

int64_t restore_file_size(const char *path)
{
	struct stat st;

	/* lstat: a link in its place is not the log (and reading it is refused). */
	return lstat(path, &st) == 0 ? (int64_t)st.st_size : 0;
}

/* verify - pg_verifybackup of dir, as run_as (NULL: as pgconverge); what names dir in messages. */
static int verify(const PgcCluster *c, PgcHost *h, const char *run_as, const char *dir,
		  const char *what, int timeout_s, char *err, size_t errlen)
{
	PgcArena *a = arena_new();
	const char *argv[] = {arena_printf(a, "%s/pg_verifybackup", c->bin_dir.v), dir, NULL};
	PgcProcSpec spec = {0};
	PgcProcResult res;
	int rc = -1;

	spec.argv = argv;
	spec.timeout_ms = timeout_s * 1000;
	spec.max_output = 64 * 1024;
	spec.run_as = run_as;
	if ((h != NULL ? host_run(h, &spec, &res) : proc_run(&spec, &res)) != 0) {
		snprintf(err, errlen, "could not run pg_verifybackup");
		arena_free(a);
		return -1;
	}
	if (res.status == 0 && !res.timed_out)
		rc = 0;
	else
		proc_report_failed(arena_printf(a, "%s failed verification", what), argv[0], &res, err,
				     errlen);
	proc_result_free(&res);
	arena_free(a);
	return rc;
}

int restore_verify_copy(PgcHost *h, const PgcCluster *c, const char *dir, int timeout_s, char *err,
			size_t errlen)
{
	char what[PATH_MAX + 32];

	snprintf(what, sizeof what, "base backup copy \"%s\"", dir);
	return verify(c, h, NULL, dir, what, timeout_s, err, errlen);
}

int restore_verify_backup(const PgcCluster *c, const char *dir, int timeout_s, char *err,
			  size_t errlen)
{
	char what[PATH_MAX + 32], pwbuf[16384];
	struct passwd pw, *owner = NULL;
	struct stat st;
	int prc = 0, fd;

	snprintf(what, sizeof what, "base backup \"%s\"", dir);
	/* Guarded: a link in the repository must not pick root (a root folder's owner) to run as. */
	fd = fs_open_guarded(dir, O_RDONLY | O_DIRECTORY, 0, false);
	if (fd < 0 || fstat(fd, &st) != 0) {
		int saved = errno;

		if (fd >= 0) {
			log_error("could not look at base backup \"%s\": %s", dir, strerror(saved));
			close(fd);
		}
		snprintf(err, errlen, "could not look at base backup \"%s\": %s", dir, strerror(saved));
		return -1;
	}
	close(fd);
	/* As root, read the backup as whoever wrote it (pg_basebackup's folders are
	 * 0700): the restored cluster's os_user may be another account. */
	if (geteuid() == 0 && (prc = getpwuid_r(st.st_uid, &pw, pwbuf, sizeof pwbuf, &owner)) != 0)
		owner = NULL;
	if (geteuid() == 0 && owner == NULL) {
		log_error("could not verify base backup \"%s\": its owner (uid %u) %s", dir,
			  (unsigned)st.st_uid, prc != 0 ? strerror(prc) : "has no account");
		snprintf(err, errlen, "could not verify base backup \"%s\": its owner (uid %u) %s", dir,
			 (unsigned)st.st_uid, prc != 0 ? strerror(prc) : "has no account");
		return -1;
	}
	return verify(c, NULL, owner != NULL ? owner->pw_name : NULL, dir, what, timeout_s, err,
		      errlen);
}

int restore_start_server(PgcHost *h, const PgcCluster *c, const char *data_dir,
			 const char *log_file, int timeout_s)
{
	PgcArena *a = arena_new();
	const char *argv[] = {arena_printf(a, "%s/pg_ctl", c->bin_dir.v), "start", "-D", data_dir,
			      "-W", "-l", log_file, NULL};
	PgcProcSpec spec = {0};
	PgcProcResult res;
	int rc = -1;

	if (host_mkdir_p(h, exec_parent_dir(a, log_file), 0700) != 0)
		goto cleanup;
	spec.argv = argv;
	spec.run_as = host_os_user(h);
	spec.timeout_ms = timeout_s * 1000;
	spec.detach = true; /* the postmaster outlives pgconverge */
	if (host_run(h, &spec, &res) != 0)
		goto cleanup;
	if (res.status == 0 && !res.timed_out)
		rc = 0;
	else
		proc_report_failed(arena_printf(a, "could not start the server in \"%s\"", data_dir),
				     argv[0], &res, NULL, 0);
	proc_result_free(&res);
cleanup:
	arena_free(a);
	return rc;
}

/* ---- watching recovery -------------------------------------------------------------- */

/*
 * read_server_file - a file of the server's data directory: through the host,
 * as root guarded against links the server's account put there.
 */
static int read_server_file(const PgcRestoreWait *w, const char *path, char **buf, size_t *len,
			    size_t max)
{
	return w->host != NULL ? host_read_file(w->host, path, buf, len, max)
			       : fs_read_file(path, buf, len, max);
}

/* postmaster_state - 1 running, 0 stopped, -1 no postmaster.pid (yet). */
static int postmaster_state(const PgcRestoreWait *w)
{
	char *path = fs_path_join(w->data_dir, "postmaster.pid"), *buf = NULL;
	size_t len;
	long pid;
	int rc = read_server_file(w, path, &buf, &len, 4096);

	free(path);
	if (rc != 0) {
		free(buf);
		return -1;
	}
	pid = observe_parse_pidfile(buf);
	free(buf);
	if (pid <= 0 || pid > INT_MAX)
		return -1;
	return kill((pid_t)pid, 0) == 0 || errno == EPERM ? 1 : 0;
}

/* log_since - the server log from offset, at most LOG_READ_MAX bytes of its end, in a. */
static const char *log_since(PgcArena *a, const PgcRestoreWait *w)
{
	int64_t offset = w->log_offset;
	char *buf = NULL;
	size_t len = 0;
	const char *text;

	if (read_server_file(w, w->log_file, &buf, &len, LOG_READ_MAX) != 0) {
		free(buf);
		return "";
	}
	/* A log shorter than the offset was replaced: all of it is new. */
	text = arena_strdup(a, offset <= 0 || (int64_t)len < offset ? buf : buf + offset);
	free(buf);
	return text;
}

/* last_fatal - the last FATAL or PANIC line of a log text, without its prefix, or NULL. */
static const char *last_fatal(PgcArena *a, const char *text)
{
	const char *found = NULL, *p = text;

	while (p != NULL && *p != '\0') {
		const char *nl = strchr(p, '\n'), *f = NULL;
		size_t len = nl ? (size_t)(nl - p) : strlen(p);
		const char *line = arena_strndup(a, p, len);

		if ((f = strstr(line, "FATAL:")) != NULL || (f = strstr(line, "PANIC:")) != NULL)
			found = f;
		p = nl ? nl + 1 : NULL;
	}
	return found;
}

static const char *tail_lines(const char *text, int lines)
{
	size_t len = strlen(text);
	int seen = 0;

	while (len > 0 && (text[len - 1] == '\n' || text[len - 1] == ' '))
		len--;
	for (size_t i = len; i > 0; i--)
		if (text[i - 1] == '\n' && ++seen == lines)
			return text + i;
	return text;
}

static void fail_line(const PgcRestoreWait *w, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void fail_line(const PgcRestoreWait *w, const char *fmt, ...)
{
	va_list ap;

	if (w->error == NULL || w->error_len == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(w->error, w->error_len, fmt, ap);
	va_end(ap);
}

PgcRestoreOutcome restore_wait(const PgcRestoreWait *w)
{
	PgcArena *a = arena_new();
	double deadline = (clock_ms() / 1000.0) + w->timeout_s, started = (clock_ms() / 1000.0);
	bool seen_pid = false, resumed = false, drawn = false;
	bool show = w->progress && isatty(STDERR_FILENO) && log_enabled(LOG_INFO);
	char last_lsn[64] = "";
	PgcRestoreOutcome out = RESTORE_FAILED;
	PGconn *conn = NULL;

	for (;;) {
		int pm = postmaster_state(w);
		char err[512];

		if (pm == 1)
			seen_pid = true;
		/* A start that failed fast is gone before its pid file was ever seen: its log says so. */
		if (pm < 0 && !seen_pid &&
		    strstr(log_since(a, w), "database system is shut down") != NULL)
			seen_pid = true;
		if (pm == 0 || (pm < 0 && (seen_pid || (clock_ms() / 1000.0) - started > PIDFILE_GRACE_MS / 1000.0))) {
			const char *logt = log_since(a, w);
			const char *fatal = last_fatal(a, logt);

			if (drawn)
				fputs("\r\033[K", stderr);
			log_error("the server of %s stopped before its recovery finished: %s\n%s\n"
				  "hint: the server log is \"%s\"; nothing was promoted",
				  w->label, fatal ? fatal : "see its log", tail_lines(logt, LOG_TAIL_LINES),
				  w->log_file);
			fail_line(w, "the server of %s stopped before its recovery finished: %s",
				  w->label, fatal ? fatal : "see its log");
			break;
		}
		if (conn == NULL && pm == 1)
			conn = pgsql_connect(w->conninfo, 3, err, sizeof err);
		if (conn != NULL) {
			static const char *const sql =
				"SELECT pg_is_in_recovery(), pg_last_wal_replay_lsn(),"
				" CASE WHEN pg_is_in_recovery() THEN pg_get_wal_replay_pause_state() END";
			PGresult *r = NULL;
			PgcPgError e;

			if (pgsql_query(conn, sql, 0, NULL, 0, &r, &e) != 0) {
				PQfinish(conn);
				conn = NULL;
			} else {
				bool recovering = strcmp(PQgetvalue(r, 0, 0), "t") == 0;
				bool paused = strcmp(PQgetvalue(r, 0, 2), "paused") == 0;

				snprintf(last_lsn, sizeof last_lsn, "%s", PQgetvalue(r, 0, 1));
				PQclear(r);
				if (!recovering) {
					out = RESTORE_PROMOTED;
					break;
				}
				if (paused) {
					if (w->want_pause) {
						out = RESTORE_PAUSED;
						break;
					}
					if (!resumed) {
						/* Paused at a target it should now promote at (target_action changed). */
						log_info("%s is paused: resuming, so that recovery ends and it "
							 "is promoted", w->label);
						if (pgsql_query(conn, "SELECT pg_wal_replay_resume()", 0, NULL, 0,
								NULL, &e) != 0)
							log_warn("could not resume the replay of %s: %s",
								 w->label, e.message);
						resumed = true;
					}
				}
				if (show && last_lsn[0] != '\0') {
					fprintf(stderr, "\rrestore of %s: replayed up to %s%s%s\033[K",
						w->label, last_lsn, w->goal_lsn ? " of " : "",
						w->goal_lsn ? lsn_text(a, w->goal_lsn) : "");
					fflush(stderr);
					drawn = true;
				}
			}
		}
		if ((clock_ms() / 1000.0) >= deadline) {
			if (drawn)
				fputs("\r\033[K", stderr);
			log_error("%s is still in recovery after %d s%s%s\n"
				  "hint: the server keeps replaying; the next run waits for it again",
				  w->label, w->timeout_s, last_lsn[0] ? ", replayed up to " : "",
				  last_lsn);
			fail_line(w, "%s is still in recovery after %d s", w->label, w->timeout_s);
			break;
		}
		clock_sleep_ms(conn != NULL ? POLL_CONNECTED_MS : POLL_MS);
	}
	if (drawn && out != RESTORE_FAILED) {
		fputs("\r\033[K", stderr);
		fflush(stderr);
	}
	PQfinish(conn);
	arena_free(a);
	return out;
}

/* ---- the executor ----------------------------------------------------------------------- */

/* entry_of - the catalog entry with this id, or NULL. */
static const PgcBaseBackupInfo *entry_of(const PgcBackupCatalog *cat, const char *id)
{
	size_t i;

	for (i = 0; cat != NULL && id != NULL && i < cat->n_base; i++)
		if (strcmp(cat->base[i].id, id) == 0)
			return &cat->base[i];
	return NULL;
}

/*
 * write_in - a file in folder dir, owned by uid/gid, mode 0600. The copy's
 * folders belong to os_user (the drill's scratch folder too): guarded, so
 * that a link put there meanwhile is not followed.
 */
static int write_in(PgcArena *a, const char *dir, const char *name, const char *content, uid_t uid,
		    gid_t gid)
{
	return fs_write_atomic_guarded(arena_printf(a, "%s/%s", dir, name), content,
				       strlen(content), 0600, uid, gid, NULL);
}

/* remove_in - name gone from the folder open at dfd (path dir; absent is fine). */
static int remove_in(PgcArena *a, int dfd, const char *dir, const char *name)
{
	if (unlinkat(dfd, name, 0) != 0 && errno != ENOENT) {
		log_error("could not remove \"%s\": %s", arena_printf(a, "%s/%s", dir, name),
			  strerror(errno));
		return -1;
	}
	return 0;
}

int restore_prepare_copy(PgcArena *a, const char *dir, const char *conf, const char *hba,
			 const char *ident, uid_t uid, gid_t gid)
{
	static const char *const drop[] = {"backup_manifest", "standby.signal", "recovery.signal",
					   "postmaster.pid", "postmaster.opts", PGCTL_LOG_FILE};
	const char *pgconf = arena_printf(a, "%s/postgresql.conf", dir);
	char *buf = NULL;
	size_t len = 0, i;
	int rc = -1, dfd = fs_open_guarded(dir, O_RDONLY | O_DIRECTORY, 0, false);

	if (dfd < 0)
		return -1;
	for (i = 0; i < sizeof(drop) / sizeof(drop[0]); i++)
		if (remove_in(a, dfd, dir, drop[i]) != 0)
			goto cleanup;
	rc = fs_read_file_guarded(pgconf, &buf, &len, 16 * 1024 * 1024, uid);
	if (rc != 0) {
		if (rc > 0)
			log_error("base backup copy \"%s\" has no postgresql.conf", dir);
		rc = -1;
		goto cleanup;
	}
	if (!initdb_conf_has_include(buf)) {
		const char *text = arena_printf(a, "%s%sinclude '%s'\n", buf,
						len > 0 && buf[len - 1] != '\n' ? "\n" : "",
						PGC_MANAGED_CONF);

		rc = fs_write_atomic_guarded(pgconf, text, strlen(text), 0600, uid, gid, NULL);
	}
	if (rc != 0 || write_in(a, dir, PGC_MANAGED_CONF, conf, uid, gid) != 0 ||
	    write_in(a, dir, "pg_hba.conf", hba, uid, gid) != 0 ||
	    write_in(a, dir, "pg_ident.conf", ident, uid, gid) != 0 ||
	    write_in(a, dir, "recovery.signal", "", uid, gid) != 0) {
		rc = -1;
		goto cleanup;
	}
	rc = fsync(dfd);
	if (rc != 0)
		log_error("could not fsync folder \"%s\": %s", dir, strerror(errno));
cleanup:
	free(buf);
	close(dfd);
	return rc;
}

/* temp_path - <parent>/.<name>.pgconverge-restore beside the data directory. */
static const char *temp_path(PgcArena *a, const char *dir)
{
	const char *slash = strrchr(dir, '/');

	return arena_printf(a, "%.*s.%s%s", (int)(slash - dir + 1), dir, slash + 1, RESTORE_TEMP_SUFFIX);
}

/* A pg_verifybackup of the repository's backup, run beside the copy. */
typedef struct {
	const PgcCluster *c;
	const char *dir;
	int timeout_s;
	int rc;
	char err[512];
} VerifyJob;

static void *verify_main(void *arg)
{
	VerifyJob *j = arg;

	j->rc = restore_verify_backup(j->c, j->dir, j->timeout_s, j->err, sizeof j->err);
	return NULL;
}

/*
 * copy_verified - src copied into temp while pg_verifybackup checks src:
 * both only read the backup, so the check costs no time of its own (and
 * on a cold cache one read of the repository serves both). 0 only when the
 * copy is complete and synced and the backup passed; when it did not, the
 * copy is removed (reported, its first line in err).
 */
static int copy_verified(PgcExecCtx *ctx, const char *src, const char *temp, const char *parent,
			 uid_t uid, gid_t gid, const PgcBaseBackupInfo *e, char *err, size_t errlen)
{
	VerifyJob job = {ctx->c, src, ctx->action_timeout_s, -1, ""};
	pthread_t thread;
	bool threaded = pthread_create(&thread, NULL, verify_main, &job) == 0;
	int rc;

	if (!threaded)
		verify_main(&job);
	rc = restore_copy_tree(src, temp, uid, gid, e->size_bytes, true,
			       arena_printf(ctx->arena, "restore of %s", ctx->n->name));
	if (threaded)
		pthread_join(thread, NULL);
	if (rc != 0) {
		snprintf(err, errlen, "could not copy base backup %s into \"%s\"", e->id, temp);
		return -1;
	}
	if (job.rc != 0) {
		snprintf(err, errlen, "%s", job.err);
		/* Ours, and a copy of a backup that failed its check: of no use to anyone. */
		if (restore_remove_tree(parent, temp) != 0)
			log_warn("could not remove \"%s\", the copy of a backup that failed verification",
				 temp);
		return -1;
	}
	return 0;
}

/* fresh_copy - the backup copied, checked and prepared beside data_dir, then renamed to it. */
static int fresh_copy(PgcExecCtx *ctx, uid_t uid, gid_t gid)
{
	const PgcCluster *c = ctx->c;
	const char *repo = c->bootstrap.repository.v, *dir = ctx->n->data_dir.v;
	const char *parent = exec_parent_dir(ctx->arena, dir), *temp = temp_path(ctx->arena, dir);
	const char *id = ctx->a->payload.target, *src, *conf;
	const PgcBaseBackupInfo *e;
	PgcBackupCatalog *cat = backup_catalog_load(repo);
	char why[256];
	int rc = -1;

	if (cat == NULL)
		return exec_note(ctx, "could not read the catalog of \"%s\"", repo);
	e = entry_of(cat, id);
	if (e == NULL || e->deleting || !e->verify.ok) {
		exec_fail(ctx, "cannot restore base backup %s from \"%s\": it is %s\n"
			   "hint: run 'pgconverge plan' again to choose another backup",
			   id ? id : "(none named)", repo,
			   e == NULL ? "not in the catalog" : e->deleting ? "being deleted" : "not verified");
		goto cleanup;
	}
	src = arena_printf(ctx->arena, "%s/%s", repo, e->path);
	if (fs_exists(temp)) {
		/* Ours by its name: an interrupted restore's copy. */
		log_info("removing \"%s\", the copy of an interrupted restore", temp);
		if (restore_remove_tree(parent, temp) != 0) {
			exec_note(ctx, "could not remove \"%s\"", temp);
			goto cleanup;
		}
	}
	if (fs_mkdir_p(parent, 0755, FS_NO_UID, FS_NO_GID) != 0) {
		exec_note(ctx, "could not create \"%s\"", parent);
		goto cleanup;
	}
	log_info("restoring node \"%s\" from base backup %s of \"%s\"",
		 exec_node_label(ctx, ctx->n), id, repo);
	if (copy_verified(ctx, src, temp, parent, uid, gid, e, why, sizeof why) != 0) {
		exec_note(ctx, "%s", why);
		goto cleanup;
	}
	conf = ctx->a->payload.content ? ctx->a->payload.content
				       : restore_managed_conf(ctx->arena, c, ctx->n);
	if (restore_prepare_copy(ctx->arena, temp, conf, plan_hba_conf(ctx->arena, c, ctx->n),
				 plan_ident_conf(ctx->arena, c), uid, gid) != 0) {
		exec_note(ctx, "could not prepare the restored copy \"%s\"", temp);
		goto cleanup;
	}
	/* Only now the data directory appears, complete and marked for recovery. */
	if (rename(temp, dir) != 0) {
		int err = errno;

		exec_fail(ctx, "could not rename \"%s\" to \"%s\": %s%s", temp, dir, strerror(err),
			   err == EBUSY || err == EXDEV
				   ? "\nhint: the data directory is a mount point; give the node a "
				     "data_dir inside it"
				   : "");
		goto cleanup;
	}
	if (fs_fsync_dir(parent) != 0) {
		exec_note(ctx, "could not sync \"%s\"", parent);
		goto cleanup;
	}
	rc = 0;
cleanup:
	backup_catalog_free(cat);
	return rc;
}

/*
 * finish - the promoted server's configuration without the recovery
 * settings, loaded. No restart: restore_command (sighup) goes with the
 * reload, and recovery_target_* (read only at server start, used only by
 * archive recovery) stay in the running server's memory, inert, until its
 * next start reads the file; pg_settings shows them pending_restart, which
 * the planner does not count on a server out of recovery.
 */
static int finish(PgcExecCtx *ctx, bool running)
{
	const PgcNode *n = ctx->n;
	const char *path = arena_printf(ctx->arena, "%s/%s", n->data_dir.v, PGC_MANAGED_CONF);
	const char *conf = plan_managed_conf(ctx->arena, ctx->c, n);
	bool changed = false;

	if (host_write_file(ctx->host, path, conf, strlen(conf), 0600, &changed) != 0)
		return exec_note(ctx, "could not write \"%s\"", path);
	if (!running)
		return pgctl_start(ctx->host, ctx->c, n, ctx->ready_timeout_s) == 0
			       ? 0
			       : exec_note(ctx, "could not start node \"%s\"",
					    exec_node_label(ctx, n));
	if (!changed)
		return 0;
	ctx->nothing_to_do = false;
	if (config_reload(ctx) != 0)
		return -1;
	log_info("node \"%s\": the restore's recovery settings are removed from %s and the "
		 "configuration reloaded", exec_node_label(ctx, n), PGC_MANAGED_CONF);
	return 0;
}

/* timeline_now - the timeline the server writes on, for the log line; 0 unknown. */
static unsigned timeline_now(PgcExecCtx *ctx)
{
	PGconn *conn = exec_connect(ctx, ctx->n, NULL);
	PGresult *r = NULL;
	PgcPgError e;
	unsigned tli = 0;

	if (conn == NULL)
		return 0;
	if (pgsql_query(conn, "SELECT substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8)", 0, NULL,
			0, &r, &e) == 0) {
		tli = (unsigned)strtoul(PQgetvalue(r, 0, 0), NULL, 16);
		PQclear(r);
	}
	PQfinish(conn);
	return tli;
}

int restore_run(PgcExecCtx *ctx)
{
	const PgcCluster *c = ctx->c;
	const PgcNode *n = ctx->n;
	const char *dir, *log_file, *conf;
	PgcRestoreWait w = {0};
	PgcRestoreOutcome outcome;
	char err[512];
	uid_t uid = FS_NO_UID;
	gid_t gid = FS_NO_GID;
	int kind, running;
	bool fresh = false;

	if (exec_need_host(ctx) != 0)
		return -1;
	if (!c->bootstrap.set || c->bootstrap.repository.v == NULL)
		return exec_fail(ctx, "cannot restore node \"%s\": cluster \"%s\" declares no "
				  "bootstrap.from_backup", exec_node_label(ctx, n), c->name);
	dir = n->data_dir.v;
	if (geteuid() == 0 && host_os_ids(ctx->host, &uid, &gid) != 0)
		return exec_note(ctx, "unknown os_user \"%s\"", c->os_user.v);
	kind = initdb_data_dir_kind(ctx, dir);
	if (kind < 0)
		return exec_note(ctx, "could not look at data directory \"%s\"", dir);
	if (kind == 3)
		return exec_fail(ctx, "refusing to restore into \"%s\": the folder is not empty and is "
				  "not a PostgreSQL data directory\n"
				  "hint: restoring in place is never done implicitly: empty it, or give "
				  "node \"%s\" another data_dir", dir, n->name);
	if (kind < 2) {
		if (fresh_copy(ctx, uid, gid) != 0)
			return -1;
		fresh = true;
	}
	/* The cluster's own archive must exist before the promoted server archives into it. */
	if (c->backup.set && c->backup.repository.v != NULL && backup_repository_init(c) != 0)
		return exec_note(ctx, "could not create backup repository \"%s\"",
				  c->backup.repository.v);
	running = pgctl_status(ctx->host, c, n);
	if (running < 0)
		return exec_note(ctx, "could not get the status of node \"%s\"",
				  exec_node_label(ctx, n));
	if (!fs_exists(arena_printf(ctx->arena, "%s/recovery.signal", dir))) {
		char *cur = NULL;
		size_t len;
		int r = host_read_file(ctx->host, arena_printf(ctx->arena, "%s/%s", dir, PGC_MANAGED_CONF),
				       &cur, &len, 16 * 1024 * 1024);
		bool ours = r == 0 && restore_conf_is_restore(ctx->arena, cur);

		free(cur);
		if (r < 0)
			return exec_note(ctx, "could not read the managed configuration of \"%s\"", dir);
		/* Recovery is over (promoted): what is left is the restore's configuration, if any. */
		if (!ours) {
			ctx->nothing_to_do = true;
			return 0;
		}
		return finish(ctx, running == 1);
	}
	if (!fresh) {
		/* A restore under way: the restore's settings, as the plan rendered them. */
		conf = ctx->a->payload.content ? ctx->a->payload.content
					       : restore_managed_conf(ctx->arena, c, n);
		if (host_write_file(ctx->host, arena_printf(ctx->arena, "%s/%s", dir, PGC_MANAGED_CONF),
				    conf, strlen(conf), 0600, NULL) != 0)
			return exec_note(ctx, "could not write the managed configuration of \"%s\"", dir);
	}
	log_file = arena_printf(ctx->arena, "%s/%s", dir, PGCTL_LOG_FILE);
	w.log_offset = restore_file_size(log_file);
	if (running == 0) {
		if (pgctl_ensure_socket_dir(ctx->host) != 0 ||
		    restore_start_server(ctx->host, c, dir, log_file, ctx->ready_timeout_s) != 0)
			return exec_note(ctx, "could not start the restore of node \"%s\"",
					  exec_node_label(ctx, n));
	}
	w.host = ctx->host;
	w.label = exec_node_label(ctx, n);
	w.conninfo = pgsql_conninfo_local(ctx->arena, (int)n->port.v, c->os_user.v, NULL);
	w.data_dir = dir;
	w.log_file = log_file;
	w.timeout_s = ctx->action_timeout_s;
	w.want_pause = restore_pauses(&c->bootstrap);
	if (c->bootstrap.target_lsn.set)
		walarchive_parse_lsn(c->bootstrap.target_lsn.v, &w.goal_lsn);
	w.progress = true;
	w.error = err;
	w.error_len = sizeof err;
	outcome = restore_wait(&w);
	if (outcome == RESTORE_FAILED)
		return exec_note(ctx, "%s", err);
	if (outcome == RESTORE_PAUSED) {
		log_info("node \"%s\" is restored and paused at %s (target_action: pause)",
			 exec_node_label(ctx, n), c->bootstrap.target_time.set ? c->bootstrap.target_time.v
						   : "its target");
		return 0;
	}
	if (finish(ctx, true) != 0)
		return -1;
	log_info("node \"%s\" is restored and promoted on timeline %u", exec_node_label(ctx, n),
		 timeline_now(ctx));
	return 0;
}
