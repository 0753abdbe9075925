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
#include "reconcile/coord/agent_int.h"

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
	}
	free(w);
}

/* replica_streams - a replica streams from w's server with a reply within window_ms. */
static bool replica_streams(const AgWatch *w, int64_t window_ms)
{
	char conninfo[2048], sql[256];
	PGconn *conn;
	PGresult *res;
	bool yes = false;

	snprintf(conninfo, sizeof conninfo, "%s connect_timeout=2", w->conninfo);
	snprintf(sql, sizeof sql,
		 "SET statement_timeout = 1000; SELECT count(*) FROM pg_stat_replication WHERE "
		 "state = 'streaming' AND reply_time > now() - interval '%lld milliseconds'",
		 (long long)window_ms);
	conn = PQconnectdb(conninfo);
	if (PQstatus(conn) == CONNECTION_OK) {
		res = PQexec(conn, sql);
		yes = PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1 &&
		      atoi(PQgetvalue(res, 0, 0)) > 0;
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
	pid = ha_postmaster_pid(h, &n);
	if (pid == 0) {
		snprintf(how, howlen, "no server was running");
		rc = 0;
	}
	for (size_t i = 0; pid != 0 && i < sizeof steps / sizeof steps[0]; i++) {
		if (host_signal(h, pid, steps[i].sig) != 0 || gone_within(h, pid, steps[i].wait_ms)) {
			snprintf(how, howlen, "stopped with %s", steps[i].what);
			rc = 0;
			break;
		}
	}
	host_free(h);
	return rc;
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
		pthread_mutex_unlock(&s->mu);
		rc = 1;
		if (w.cluster && w.node && w.host && w.os_user && w.data_dir && w.conninfo &&
		    !replica_streams(&w, w.reply_window_ms)) {
			log_warn("cluster \"%s\": self-fencing primary \"%s\": no etcd contact for "
				 "%.1f s (more than 3/5 of the ttl) and no replica streams from it",
				 w.cluster, w.node, last_ok >= 0 ? (clock_ms() - last_ok) / 1000.0 : -1.0);
			rc = stop_server(&w, how, sizeof how);
			if (rc == 0)
				log_warn("cluster \"%s\": self-fenced primary \"%s\": %s", w.cluster,
					 w.node, how);
			else
				log_error("cluster \"%s\": could not stop primary \"%s\" to fence it",
					  w.cluster, w.node);
		}
		pthread_mutex_lock(&s->mu);
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
	}
	pthread_mutex_unlock(&s->mu);
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
	if (ag_cond_init_monotonic(&s->cv) != 0) {
		log_error("cannot start the agent's keep-alive thread (no monotonic condition variable)");
		pthread_mutex_destroy(&s->mu);
		etcd_close(etcd);
		free(s);
		return NULL;
	}
	if (pthread_create(&s->th, NULL, session_main, s) != 0) {
		log_error("cannot start the agent's keep-alive thread");
		pthread_mutex_destroy(&s->mu);
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
	pthread_cond_destroy(&s->cv);
	free(s);
}

void ag_session_set_lease(AgSession *s, int64_t lease, double sent_ms)
{
	pthread_mutex_lock(&s->mu);
	s->lease = lease;
	s->expired = false;
	s->tried = true;
	if (lease != 0)
		s->last_ok_sent_ms = sent_ms;
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
	/* A fence the thread made stays known until the loop took it. */
	for (size_t i = 0; i < n; i++)
		for (size_t k = 0; k < s->n_watch; k++)
			if (s->watch[k].fenced && strcmp(s->watch[k].cluster, w[i].cluster) == 0 &&
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

		if (!w->fenced || strcmp(w->cluster, cluster) != 0 || strcmp(w->node, node) != 0)
			continue;
		snprintf(reason, len, "%s", w->reason);
		/* Taken: no longer watched (the loop keeps the node stopped from now on). */
		free(w->cluster);
		free(w->node);
		free(w->host);
		free(w->os_user);
		free(w->data_dir);
		free(w->conninfo);
		s->watch[k] = s->watch[--s->n_watch];
		taken = true;
		break;
	}
	pthread_mutex_unlock(&s->mu);
	return taken;
}
