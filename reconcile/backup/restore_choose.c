/*
 * reconcile/backup/restore_choose.c - which base backup a point-in-time
 * restore starts from and which WAL it replays (restore_choose.h). Pure:
 * works on what observe read in the source repository.
 */
#include "reconcile/backup/restore_choose.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "reconcile/pg/lsn.h"
#include "common/clock.h"
#include "reconcile/backup/restore_conf.h"
#include "reconcile/backup/walarchive.h"

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

static const char *iso_time(PgcArena *a, int64_t t)
{
	char buf[CLOCK_UTC_SIZE];

	return arena_strdup(a, clock_utc_format((time_t)t, 0, CLOCK_UTC_ISO, buf, sizeof buf));
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
	if (kind == T_LSN && lsn_parse(b->target_lsn.v, &target_lsn) != 0) {
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
