/*
 * reconcile/coord/agent_session.c - the agent's keep-alive thread (agent.h):
 * it renews the lease every ttl/5 and watches this host's primaries for
 * self-fencing, whatever the loop's thread is busy with (a pass that clones
 * or rewinds for minutes must neither lose the lease nor miss the moment to
 * fence). It has its own etcd client (a client serves one thread) and
 * works only on copies: the loop hands it the lease and the list of
 * primaries to watch (ag_session_*), and reads back what it saw.
 *
 * Self-fencing stops the postmaster with the signals pg_ctl sends: SIGINT
 * (fast shutdown, 1 s), SIGQUIT (immediate shutdown, 1 s), then SIGKILL,
 * each only to the pid in postmaster.pid once it is checked to be that
 * data directory's postgres (ha_postmaster_pid).
 */
#include "reconcile/coord/agent.h"
#include "reconcile/coord/agent_int.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include "common/clock.h"
#include "common/log.h"
#include "reconcile/ha/ha.h"
#include "reconcile/transport/host.h"

/* The thread's pace when it has nothing due sooner. */
#define SESSION_STEP_MS 200

static void watch_free(AgWatch *w, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(w[i].cluster);
		free(w[i].node);
		free(w[i].host);
		free(w[i].os_user);
		free(w[i].data_dir);
		free(w[i].conninfo);
		free(w[i].replicas);
	}
	free(w);
}

/*
 * replica_streams - one of the cluster's own replicas (w->replicas, by the
 * application_name each gets from its primary_conninfo) streams from w's
 * server with a reply within window_ms. Another stream (a standby
 * cluster's leader in another region, pg_basebackup, pg_receivewal) never
 * keeps a primary serving: the partition rule that makes it safe only
 * counts the cluster's replicas.
 */
static bool replica_streams(const AgWatch *w, int64_t window_ms)
{
	char conninfo[2048], sql[256];
	PGconn *conn;
	PGresult *res;
	bool yes = false;

	snprintf(conninfo, sizeof conninfo, "%s connect_timeout=2", w->conninfo);
	snprintf(sql, sizeof sql,
		 "SET statement_timeout = 1000; SELECT application_name FROM pg_stat_replication "
		 "WHERE state = 'streaming' AND reply_time > now() - interval '%lld milliseconds'",
		 (long long)window_ms);
	conn = PQconnectdb(conninfo);
	if (PQstatus(conn) == CONNECTION_OK) {
		res = PQexec(conn, sql);
		for (int i = 0; PQresultStatus(res) == PGRES_TUPLES_OK && i < PQntuples(res) && !yes; i++)
			yes = coord_replica_listed(w->replicas, PQgetvalue(res, i, 0));
		PQclear(res);
	}
	PQfinish(conn);
	return yes;
}

/* gone_within - waits up to ms for pid to end. */
static bool gone_within(PgcHost *h, long pid, int ms)
{
	double deadline = clock_ms() + ms;

	while (ha_pid_alive(h, pid)) {
		if (clock_ms() >= deadline)
			return false;
		clock_sleep_ms(20);
	}
	return true;
}

/* stop_server - fast, immediate, then SIGKILL; what was done into how. 0 when stopped. */
static int stop_server(const AgWatch *w, char *how, size_t howlen)
{
	static const struct {
		int sig;
		int wait_ms;
		const char *what;
	} steps[] = {{SIGINT, 1000, "a fast shutdown"},
		     {SIGQUIT, 1000, "an immediate shutdown"},
		     {SIGKILL, 5000, "SIGKILL"}};
	PgcHost *h = host_for(w->host, w->os_user);
	PgcNode n;
	char path[4096], *buf = NULL;
	size_t len;
	long pid;
	int rc = -1;

	if (h == NULL) {
		snprintf(how, howlen, "node is not on this machine");
		return -1;
	}
	memset(&n, 0, sizeof n);
	n.name = w->node;
	n.host.v = w->host;
	n.data_dir.v = w->data_dir;
	n.port.v = w->port;
	/* ha_postmaster_pid reads an unreadable postmaster.pid as "no server": a
	 * fence must not be recorded on that, the server may well run. */
	snprintf(path, sizeof path, "%s/postmaster.pid", w->data_dir);
	if (host_read_file(h, path, &buf, &len, 64 * 1024) < 0) {
		free(buf);
		snprintf(how, howlen, "cannot read its postmaster.pid");
		host_free(h);
		return -1;
	}
	free(buf);
	pid = ha_postmaster_pid(h, &n);
	if (pid == 0) {
		snprintf(how, howlen, "no server was running");
		rc = 0;
	}
	for (size_t i = 0; pid != 0 && i < sizeof steps / sizeof steps[0]; i++) {
		int src = host_signal(h, pid, steps[i].sig), err = errno;
		int step = coord_stop_step(src, err, src == 0 && gone_within(h, pid, steps[i].wait_ms));

		if (step > 0) {
			snprintf(how, howlen, "stopped with %s", steps[i].what);
			rc = 0;
			break;
		}
		if (step < 0) {
			snprintf(how, howlen, "could not send %s: %s", steps[i].what, strerror(err));
			break;
		}
		snprintf(how, howlen, "still running after %s", steps[i].what);
	}
	host_free(h);
	return rc;
}

/* watch_copy - w with strings of its own (false when out of memory; free with watch_free_one). */
static bool watch_copy(const AgWatch *from, AgWatch *w)
{
	*w = *from;
	w->cluster = strdup(from->cluster);
	w->node = strdup(from->node);
	w->host = strdup(from->host);
	w->os_user = strdup(from->os_user);
	w->data_dir = strdup(from->data_dir);
	w->conninfo = strdup(from->conninfo);
	w->replicas = strdup(from->replicas);
	return w->cluster && w->node && w->host && w->os_user && w->data_dir && w->conninfo &&
	       w->replicas;
}

static void watch_free_one(AgWatch *w)
{
	free(w->cluster);
	free(w->node);
	free(w->host);
	free(w->os_user);
	free(w->data_dir);
	free(w->conninfo);
	free(w->replicas);
}

/* primary_runs - a postmaster runs for w's data directory without standby.signal (or unreadable). */
static bool primary_runs(const AgWatch *w)
{
	PgcHost *h = host_for(w->host, w->os_user);
	char path[4096], *buf = NULL;
	size_t len;
	PgcNode n;
	bool yes = false;

	if (h == NULL)
		return false;
	memset(&n, 0, sizeof n);
	n.name = w->node;
	n.host.v = w->host;
	n.data_dir.v = w->data_dir;
	n.port.v = w->port;
	if (ha_postmaster_pid(h, &n) != 0) {
		snprintf(path, sizeof path, "%s/standby.signal", w->data_dir);
		yes = host_read_file(h, path, &buf, &len, 1024) != 0;
		free(buf);
	}
	host_free(h);
	return yes;
}

/*
 * keep_stopped - a fenced node whose server came up as a primary anyway (a
 * pass's restart that raced the fence, a start by hand) is stopped again:
 * only its agent's claimed start (ag_session_release first) may run it.
 * A rejoin starts it with standby.signal: left alone.
 */
static void keep_stopped(AgSession *s)
{
	pthread_mutex_lock(&s->stop_mu);
	pthread_mutex_lock(&s->mu);
	for (size_t i = 0; i < s->n_watch; i++) {
		AgWatch w;
		char how[256] = "";

		if (!s->watch[i].fenced)
			continue;
		if (!watch_copy(&s->watch[i], &w)) {
			watch_free_one(&w);
			continue;
		}
		pthread_mutex_unlock(&s->mu);
		if (primary_runs(&w)) {
			log_warn("cluster \"%s\": self-fenced node \"%s\" runs again without a claim: "
				 "stopping it", w.cluster, w.node);
			if (stop_server(&w, how, sizeof how) == 0)
				log_warn("cluster \"%s\": self-fenced node \"%s\": %s", w.cluster, w.node,
					 how);
			else
				log_error("cluster \"%s\": could not stop self-fenced node \"%s\": %s",
					  w.cluster, w.node, how);
		}
		watch_free_one(&w);
		pthread_mutex_lock(&s->mu);
	}
	pthread_mutex_unlock(&s->mu);
	pthread_mutex_unlock(&s->stop_mu);
}

/* session_step - one keep-alive when due, then the self-fencing watch. */
static void session_step(AgSession *s, double *next_keepalive)
{
	int64_t lease, left = 0;
	double sent = clock_ms(), last_ok;
	bool due;

	pthread_mutex_lock(&s->mu);
	lease = s->lease;
	pthread_mutex_unlock(&s->mu);
	if (lease != 0 && sent >= *next_keepalive) {
		PgcEtcdStatus st = etcd_lease_keepalive(s->etcd, lease, &left);

		pthread_mutex_lock(&s->mu);
		if (s->lease == lease && st == ETCD_OK && left > 0) {
			s->last_ok_sent_ms = sent;
			s->cut = false; /* sent after any fence this thread made */
			*next_keepalive = sent + (double)s->ttl_ms / 5.0;
		} else if (s->lease == lease && st == ETCD_OK) {
			s->expired = true;
			*next_keepalive = sent + SESSION_STEP_MS;
		} else {
			s->failed = true;
			*next_keepalive = sent + SESSION_STEP_MS * 5;
		}
		pthread_mutex_unlock(&s->mu);
	}

	pthread_mutex_lock(&s->mu);
	last_ok = s->last_ok_sent_ms;
	due = s->tried && coord_self_fence_due((int64_t)clock_ms(), (int64_t)last_ok, s->ttl_ms, false);
	for (size_t i = 0; due && i < s->n_watch; i++) {
		AgWatch w = s->watch[i];
		char how[256] = "";
		int rc;

		if (s->watch[i].fenced)
			continue;
		/* The checks and the stop take time: without the lock, on copies that stay put. */
		w.cluster = strdup(w.cluster);
		w.node = strdup(w.node);
		w.host = strdup(w.host);
		w.os_user = strdup(w.os_user);
		w.data_dir = strdup(w.data_dir);
		w.conninfo = strdup(w.conninfo);
		w.replicas = strdup(w.replicas);
		pthread_mutex_unlock(&s->mu);
		rc = 1;
		if (w.cluster && w.node && w.host && w.os_user && w.data_dir && w.conninfo &&
		    w.replicas &&
		    !replica_streams(&w, w.reply_window_ms)) {
			log_warn("cluster \"%s\": self-fencing primary \"%s\": no etcd contact for "
				 "%.1f s (more than 3/5 of the ttl) and no replica streams from it",
				 w.cluster, w.node, last_ok >= 0 ? (clock_ms() - last_ok) / 1000.0 : -1.0);
			rc = stop_server(&w, how, sizeof how);
			if (rc == 0)
				log_warn("cluster \"%s\": self-fenced primary \"%s\": %s", w.cluster,
					 w.node, how);
			else
				log_error("cluster \"%s\": could not stop primary \"%s\" to fence it: %s",
					  w.cluster, w.node, how);
		}
		pthread_mutex_lock(&s->mu);
		/* No pass may apply from now until etcd answers (coord_agent_in_session). */
		if (rc <= 0)
			s->cut = true;
		/* The list may have been replaced meanwhile: find the node again. */
		for (size_t k = 0; rc == 0 && k < s->n_watch; k++) {
			if (strcmp(s->watch[k].cluster, w.cluster) == 0 &&
			    strcmp(s->watch[k].node, w.node) == 0) {
				s->watch[k].fenced = true;
				snprintf(s->watch[k].reason, sizeof s->watch[k].reason,
					 "no etcd contact and no replica streaming: %s", how);
			}
		}
		free(w.cluster);
		free(w.node);
		free(w.host);
		free(w.os_user);
		free(w.data_dir);
		free(w.conninfo);
		free(w.replicas);
	}
	pthread_mutex_unlock(&s->mu);
	keep_stopped(s);
}

int ag_cond_init_monotonic(pthread_cond_t *cv)
{
	pthread_condattr_t attr;
	int rc;

	if (pthread_condattr_init(&attr) != 0)
		return -1;
	rc = pthread_condattr_setclock(&attr, CLOCK_MONOTONIC) == 0 && pthread_cond_init(cv, &attr) == 0
		     ? 0
		     : -1;
	pthread_condattr_destroy(&attr);
	return rc;
}

void ag_deadline_in(struct timespec *ts, int64_t ms)
{
	clock_gettime(CLOCK_MONOTONIC, ts);
	ts->tv_sec += (time_t)(ms / 1000);
	ts->tv_nsec += (long)(ms % 1000) * 1000000L;
	if (ts->tv_nsec >= 1000000000L) {
		ts->tv_sec++;
		ts->tv_nsec -= 1000000000L;
	}
}

static void *session_main(void *arg)
{
	AgSession *s = arg;
	double next_keepalive = 0;
	int64_t lease = 0;

	pthread_mutex_lock(&s->mu);
	while (!s->stop) {
		struct timespec ts;

		/* A new lease (ag_session_set_lease wakes us) is renewed on its own schedule. */
		if (s->lease != lease) {
			lease = s->lease;
			next_keepalive = s->last_ok_sent_ms + (double)s->ttl_ms / 5.0;
		}
		pthread_mutex_unlock(&s->mu);
		session_step(s, &next_keepalive);
		pthread_mutex_lock(&s->mu);
		if (s->stop)
			break;
		/*
		 * On the monotonic clock (the condvar's, ag_session_start): a deadline
		 * on the wall clock would stall keep-alives and self-fencing for as
		 * long as the wall clock is stepped back.
		 */
		ag_deadline_in(&ts, SESSION_STEP_MS);
		pthread_cond_timedwait(&s->cv, &s->mu, &ts);
	}
	pthread_mutex_unlock(&s->mu);
	return NULL;
}

AgSession *ag_session_start(PgcEtcdClient *etcd, int64_t ttl_ms)
{
	AgSession *s = calloc(1, sizeof(*s));

	if (s == NULL)
		abort();
	s->etcd = etcd;
	s->ttl_ms = ttl_ms;
	s->last_ok_sent_ms = -1;
	pthread_mutex_init(&s->mu, NULL);
	pthread_mutex_init(&s->stop_mu, NULL);
	if (ag_cond_init_monotonic(&s->cv) != 0) {
		log_error("cannot start the agent's keep-alive thread (no monotonic condition variable)");
		pthread_mutex_destroy(&s->mu);
		pthread_mutex_destroy(&s->stop_mu);
		etcd_close(etcd);
		free(s);
		return NULL;
	}
	if (pthread_create(&s->th, NULL, session_main, s) != 0) {
		log_error("cannot start the agent's keep-alive thread");
		pthread_mutex_destroy(&s->mu);
		pthread_mutex_destroy(&s->stop_mu);
		pthread_cond_destroy(&s->cv);
		etcd_close(etcd);
		free(s);
		return NULL;
	}
	return s;
}

void ag_session_stop(AgSession *s)
{
	if (s == NULL)
		return;
	pthread_mutex_lock(&s->mu);
	s->stop = true;
	pthread_cond_signal(&s->cv);
	pthread_mutex_unlock(&s->mu);
	pthread_join(s->th, NULL);
	etcd_close(s->etcd);
	watch_free(s->watch, s->n_watch);
	pthread_mutex_destroy(&s->mu);
	pthread_mutex_destroy(&s->stop_mu);
	pthread_cond_destroy(&s->cv);
	free(s);
}

void ag_session_set_lease(AgSession *s, int64_t lease, double sent_ms)
{
	pthread_mutex_lock(&s->mu);
	s->lease = lease;
	s->expired = false;
	s->tried = true;
	if (lease != 0) {
		s->last_ok_sent_ms = sent_ms;
		s->cut = false; /* a new lease: etcd answered */
	}
	/* The thread renews a new lease and re-checks the fence now, not a step later. */
	pthread_cond_signal(&s->cv);
	pthread_mutex_unlock(&s->mu);
}

void ag_session_tried(AgSession *s)
{
	pthread_mutex_lock(&s->mu);
	s->tried = true;
	pthread_mutex_unlock(&s->mu);
}

void ag_session_get(AgSession *s, int64_t *lease, double *last_ok_sent_ms, bool *expired,
		    bool *failed)
{
	pthread_mutex_lock(&s->mu);
	*lease = s->lease;
	*last_ok_sent_ms = s->last_ok_sent_ms;
	*expired = s->expired;
	if (failed != NULL) {
		*failed = s->failed;
		s->failed = false;
	}
	pthread_mutex_unlock(&s->mu);
}

void ag_session_watch(AgSession *s, AgWatch *w, size_t n)
{
	pthread_mutex_lock(&s->mu);
	/* A fence the thread made stays known until the loop took it (then the
	 * loop's own list says which nodes stay fenced). */
	for (size_t i = 0; i < n; i++)
		for (size_t k = 0; k < s->n_watch; k++)
			if (s->watch[k].fenced && !s->watch[k].taken &&
			    strcmp(s->watch[k].cluster, w[i].cluster) == 0 &&
			    strcmp(s->watch[k].node, w[i].node) == 0) {
				w[i].fenced = true;
				memcpy(w[i].reason, s->watch[k].reason, sizeof w[i].reason);
			}
	watch_free(s->watch, s->n_watch);
	s->watch = w;
	s->n_watch = n;
	pthread_mutex_unlock(&s->mu);
}

bool ag_session_take_fence(AgSession *s, const char *cluster, const char *node, char *reason,
			   size_t len)
{
	bool taken = false;

	pthread_mutex_lock(&s->mu);
	for (size_t k = 0; k < s->n_watch; k++) {
		AgWatch *w = &s->watch[k];

		if (!w->fenced || w->taken || strcmp(w->cluster, cluster) != 0 ||
		    strcmp(w->node, node) != 0)
			continue;
		snprintf(reason, len, "%s", w->reason);
		/* Taken, but still watched: the thread keeps the node stopped. */
		w->taken = true;
		taken = true;
		break;
	}
	pthread_mutex_unlock(&s->mu);
	return taken;
}

bool ag_session_cut(AgSession *s)
{
	bool cut;

	pthread_mutex_lock(&s->mu);
	cut = s->cut;
	pthread_mutex_unlock(&s->mu);
	return cut;
}

void ag_session_release(AgSession *s, const char *cluster, const char *node)
{
	pthread_mutex_lock(&s->stop_mu);
	pthread_mutex_lock(&s->mu);
	for (size_t k = 0; k < s->n_watch; k++)
		if (strcmp(s->watch[k].cluster, cluster) == 0 && strcmp(s->watch[k].node, node) == 0)
			s->watch[k].fenced = s->watch[k].taken = false;
	pthread_mutex_unlock(&s->mu);
	pthread_mutex_unlock(&s->stop_mu);
}
