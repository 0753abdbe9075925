/*
 * tests/unit/test_haproxy_frontdoor.c - HAProxy's front door hooks
 * (haproxy_pause/_repoint/_resume, through their _on bodies) on the fake
 * host, against a runtime API served in the test: a unix socket in a
 * temporary folder, answering `show servers state`, `show info`, `set
 * server` and `shutdown sessions` as HAProxy does, or silent (no socket),
 * or coming up late (the new worker of a reload).
 *
 *   - pause: the old primary leaves pg_write; an API that does not answer
 *     while the master lives fails it (nothing signalled, nothing written);
 *     a HAProxy that does not run holds nothing (0);
 *   - repoint: the runtime moves are sent even when haproxy.cfg cannot be
 *     written (-1 then); a silent API: the file is rewritten (the reads it
 *     had kept) and the master reloaded, 0 once a new worker answers, -1
 *     when none does or only an old one (its children before the signal,
 *     listed or found by their parent); a file that cannot be written is
 *     never reloaded;
 *   - resume: the old primary ready again; a silent API: file and reload.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <pwd.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/arena.h"
#include "common/log.h"
#include "reconcile/haproxy/haproxy.h"
#include "reconcile/haproxy/haproxy_conf.h"
#include "reconcile/observe/observe_haproxy.h"
#include "schema/topology.h"
#include "support/exec_fixture.h"
#include "support/fake_host.h"

#define MASTER 4242
#define WORKER 4243
#define NEW_WORKER 5000

/* ---- a runtime API in a thread ------------------------------------------ */

typedef struct {
	char be[32], srv[32];
	bool maint;
} Srv;

typedef struct {
	char path[108];
	int delay_ms;             /* binds after this long; -1 never (a silent API) */
	long worker;              /* `show info` Pid */
	char digest[32];
	Srv srv[16];
	size_t n;
	char log[8192];           /* the commands it took, one a line */
	pthread_mutex_t mu;
	volatile bool stop;
	pthread_t th;
} Api;

static void sleep_ms(int ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};

	nanosleep(&ts, NULL);
}

static Srv *api_srv(Api *api, const char *be, const char *srv)
{
	for (size_t i = 0; i < api->n; i++)
		if (strcmp(api->srv[i].be, be) == 0 && strcmp(api->srv[i].srv, srv) == 0)
			return &api->srv[i];
	return NULL;
}

/* answer - what HAProxy answers to cmd, into out. */
static void answer(Api *api, const char *cmd, char *out, size_t size)
{
	char be[32], srv[32], state[16];
	size_t len = 0;
	Srv *s;

	out[0] = '\0';
	if (strcmp(cmd, "show servers state") == 0) {
		len = (size_t)snprintf(out, size, "1\n# be_id be_name srv_id srv_name srv_addr "
					    "srv_op_state srv_admin_state\n");
		for (size_t i = 0; i < api->n && len < size; i++)
			len += (size_t)snprintf(out + len, size - len, "%zu %s %zu %s 127.0.0.1 2 %d\n",
						i + 1, api->srv[i].be, i + 1, api->srv[i].srv,
						api->srv[i].maint ? 1 : 0);
	} else if (strcmp(cmd, "show info") == 0) {
		snprintf(out, size, "Name: HAProxy\nPid: %ld\nUptime_sec: 3\ndescription: "
			 HAPROXY_DIGEST_TAG " %s\nCurrConns: 0\n", api->worker, api->digest);
	} else if (sscanf(cmd, "set server %31[^/]/%31s state %15s", be, srv, state) == 3 &&
		   (s = api_srv(api, be, srv)) != NULL) {
		s->maint = strcmp(state, "maint") == 0;
		snprintf(out, size, "\n");
	} else if (sscanf(cmd, "shutdown sessions server %31[^/]/%31s", be, srv) == 2 &&
		   api_srv(api, be, srv) != NULL) {
		snprintf(out, size, "\n");
	} else {
		snprintf(out, size, "Unknown command: '%s'\n", cmd);
	}
}

static void *api_main(void *arg)
{
	Api *api = arg;
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int fd;

	if (api->delay_ms < 0)
		return NULL;
	for (int waited = 0; waited < api->delay_ms && !api->stop; waited += 10)
		sleep_ms(10);
	memcpy(sa.sun_path, api->path, strlen(api->path) + 1);
	fd = socket(AF_UNIX, SOCK_STREAM, 0);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof sa) != 0 || listen(fd, 8) != 0)
		return NULL;
	while (!api->stop) {
		struct pollfd p = {fd, POLLIN, 0};
		char cmd[512], out[8192];
		size_t len = 0;
		int c;

		if (poll(&p, 1, 20) <= 0)
			continue;
		if ((c = accept(fd, NULL, NULL)) < 0)
			continue;
		while (len < sizeof cmd - 1) {
			ssize_t r = read(c, cmd + len, 1);

			if (r <= 0 || cmd[len] == '\n')
				break;
			len++;
		}
		cmd[len] = '\0';
		pthread_mutex_lock(&api->mu);
		answer(api, cmd, out, sizeof out);
		snprintf(api->log + strlen(api->log), sizeof api->log - strlen(api->log), "%s\n", cmd);
		pthread_mutex_unlock(&api->mu);
		if (write(c, out, strlen(out)) < 0)
			(void)0;
		close(c);
	}
	close(fd);
	unlink(api->path);
	return NULL;
}

/* ---- fixture ------------------------------------------------------------- */

typedef struct {
	char dir[64];
	PgcTopology *t;
	PgcCluster *c;
	PgcHost *h;
	PgcArena *a;
	Api api;
	bool api_started;
	const char *cfg;          /* haproxy.cfg's path */
} Fx;

static void api_add(Api *api, const char *be, const char *srv, bool maint)
{
	Srv *s = &api->srv[api->n++];

	snprintf(s->be, sizeof s->be, "%s", be);
	snprintf(s->srv, sizeof s->srv, "%s", srv);
	s->maint = maint;
}

/* start_api - the API, answering after delay_ms (-1: never). */
static void start_api(Fx *f, int delay_ms)
{
	f->api.delay_ms = delay_ms;
	assert_int_equal(pthread_create(&f->api.th, NULL, api_main, &f->api), 0);
	f->api_started = true;
	if (delay_ms == 0)
		for (int i = 0; i < 200 && access(f->api.path, F_OK) != 0; i++)
			sleep_ms(5);
}

static int setup(void **state)
{
	Fx *f = calloc(1, sizeof *f);
	struct passwd *pw = getpwuid(geteuid());
	PgcHaproxyWant w;
	char yaml[1024];

	snprintf(f->dir, sizeof f->dir, "/tmp/pgc-hfd-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(yaml, sizeof yaml,
		 "version: 1\n"
		 "clusters:\n"
		 "  main:\n"
		 "    primary: pg1\n"
		 "    nodes:\n"
		 "      pg1: {host: 127.0.0.1, port: 25432, data_dir: /srv/pgc/pg1}\n"
		 "      pg2: {host: 127.0.0.1, port: 25433, data_dir: /srv/pgc/pg2}\n"
		 "      pg3: {host: 127.0.0.1, port: 25434, data_dir: /srv/pgc/pg3}\n"
		 "    balancer:\n"
		 "      haproxy: {write_port: 5000, read_port: 5001, dir: %s}\n",
		 f->dir);
	f->t = fixture_topology(yaml);
	f->c = &f->t->clusters[0];
	f->a = arena_new();
	assert_non_null(pw);
	f->h = fake_host_new(pw->pw_name);
	f->cfg = haproxy_path(f->a, f->c, HAPROXY_CFG_NAME);

	/* pg1 writes, pg2 and pg3 read, as the last pass left it: in the file
	 * and in the running HAProxy, whose master and worker live. */
	haproxy_want_init(f->a, f->c, "pg1", &w);
	w.nodes[1].read = w.nodes[2].read = true;
	w.nodes[1].why = w.nodes[2].why = NULL;
	fake_host_put(f->h, f->cfg, haproxy_render(f->a, f->c, &w));
	fake_host_put(f->h, haproxy_path(f->a, f->c, HAPROXY_PID_NAME), "4242\n");
	fake_host_proc(f->h, MASTER, 1, "haproxy", f->dir, NULL);
	fake_host_proc(f->h, WORKER, MASTER, "haproxy", f->dir, NULL);

	snprintf(f->api.path, sizeof f->api.path, "%s/%s", f->dir, HAPROXY_SOCK_NAME);
	snprintf(f->api.digest, sizeof f->api.digest, "%s", haproxy_digest(f->a, f->c));
	f->api.worker = WORKER;
	pthread_mutex_init(&f->api.mu, NULL);
	api_add(&f->api, "pg_write", "pg1", false);
	api_add(&f->api, "pg_write", "pg2", true);
	api_add(&f->api, "pg_write", "pg3", true);
	api_add(&f->api, "pg_read", "pg1", true);
	api_add(&f->api, "pg_read", "pg2", false);
	api_add(&f->api, "pg_read", "pg3", false);
	api_add(&f->api, "pg_read", "pg1:primary", false);
	api_add(&f->api, "pg_read", "pg2:primary", true);
	api_add(&f->api, "pg_read", "pg3:primary", true);
	log_capture_begin(); /* the failures are expected */
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	Fx *f = *state;

	free(log_capture_end());
	if (f->api_started) {
		f->api.stop = true;
		pthread_join(f->api.th, NULL);
	}
	unlink(f->api.path);
	rmdir(f->dir);
	pthread_mutex_destroy(&f->api.mu);
	host_free(f->h);
	arena_free(f->a);
	topology_free(f->t);
	free(f);
	return 0;
}

/* api_log - the commands the API took so far (a copy in f's arena). */
static const char *api_log(Fx *f)
{
	const char *s;

	pthread_mutex_lock(&f->api.mu);
	s = arena_strdup(f->a, f->api.log);
	pthread_mutex_unlock(&f->api.mu);
	return s;
}

static bool maint(Fx *f, const char *be, const char *srv)
{
	bool m;

	pthread_mutex_lock(&f->api.mu);
	m = api_srv(&f->api, be, srv)->maint;
	pthread_mutex_unlock(&f->api.mu);
	return m;
}

/* section - the lines of haproxy.cfg's `listen be` section (in f's arena). */
static const char *section(Fx *f, const char *be)
{
	const char *cfg = fake_host_get(f->h, f->cfg), *s, *e;

	assert_non_null(cfg);
	s = strstr(cfg, arena_printf(f->a, "listen %s\n", be));
	assert_non_null(s);
	e = strstr(s + 1, "\nlisten ");
	return arena_strndup(f->a, s, e != NULL ? (size_t)(e - s) : strlen(s));
}

/* ready_in - server srv of section be is not `disabled` in haproxy.cfg. */
static bool ready_in(Fx *f, const char *be, const char *srv, int port)
{
	const char *sec = section(f, be);
	const char *line = arena_printf(f->a, "    server %s 127.0.0.1:%d check%s on-marked-down "
					"shutdown-sessions\n", srv, port,
					strstr(srv, ":primary") != NULL ? " backup" : "");
	const char *off = arena_printf(f->a, "    server %s 127.0.0.1:%d check%s on-marked-down "
				       "shutdown-sessions disabled\n", srv, port,
				       strstr(srv, ":primary") != NULL ? " backup" : "");

	if (strstr(sec, line) != NULL)
		return true;
	if (strstr(sec, off) == NULL)
		fail_msg("no server %s in %s:\n%s", srv, be, sec);
	return false;
}

static bool signalled(Fx *f)
{
	return strstr(fake_host_calls(f->h), "signal 4242 12") != NULL;
}

/* ---- pause ----------------------------------------------------------------- */

static void test_pause_holds_the_old_primary(void **state)
{
	Fx *f = *state;

	start_api(f, 0);
	assert_int_equal(haproxy_pause_on(f->h, f->c, "pg1"), 0);
	assert_string_equal(api_log(f), "show servers state\n"
					"set server pg_write/pg1 state maint\n"
					"shutdown sessions server pg_write/pg1\n");
	assert_true(maint(f, "pg_write", "pg1"));
}

static void test_pause_refused_when_the_api_is_silent(void **state)
{
	Fx *f = *state;
	char *log;

	start_api(f, -1);
	assert_int_equal(haproxy_pause_on(f->h, f->c, "pg1"), -1);
	log = log_capture_end();
	assert_non_null(strstr(log, "runs (master pid 4242) but its runtime API does not answer"));
	free(log);
	log_capture_begin();
	assert_false(signalled(f));
	assert_null(strstr(fake_host_calls(f->h), "write "));
}

static void test_pause_without_haproxy(void **state)
{
	Fx *f = *state;

	fake_host_put(f->h, haproxy_path(f->a, f->c, HAPROXY_PID_NAME), NULL);
	assert_int_equal(haproxy_pause_on(f->h, f->c, "pg1"), 0);
	assert_false(signalled(f));
}

/* ---- repoint --------------------------------------------------------------- */

/* paused - the state pause leaves: pg1 out of pg_write. */
static void paused(Fx *f)
{
	pthread_mutex_lock(&f->api.mu);
	api_srv(&f->api, "pg_write", "pg1")->maint = true;
	pthread_mutex_unlock(&f->api.mu);
}

static void test_repoint_through_the_api(void **state)
{
	Fx *f = *state;

	paused(f);
	start_api(f, 0);
	assert_int_equal(haproxy_repoint_on(f->h, f->c, "pg1", "pg2", 1), 0);
	assert_false(maint(f, "pg_write", "pg2"));
	assert_true(maint(f, "pg_write", "pg1"));
	assert_true(maint(f, "pg_read", "pg2"));
	assert_false(maint(f, "pg_read", "pg2:primary"));
	assert_true(maint(f, "pg_read", "pg1:primary"));
	assert_true(ready_in(f, "pg_write", "pg2", 25433));
	assert_false(ready_in(f, "pg_write", "pg1", 25432));
	assert_false(signalled(f));
}

static void test_repoint_moves_although_the_file_fails(void **state)
{
	Fx *f = *state;

	paused(f);
	start_api(f, 0);
	fake_host_fail_write(f->h, f->cfg);
	assert_int_equal(haproxy_repoint_on(f->h, f->c, "pg1", "pg2", 1), -1);
	/* the running HAProxy has a writer: the new primary */
	assert_false(maint(f, "pg_write", "pg2"));
	assert_true(maint(f, "pg_write", "pg1"));
	assert_non_null(strstr(api_log(f), "set server pg_write/pg2 state ready\n"));
	assert_false(signalled(f));
}

static void test_repoint_reloads_when_the_api_is_silent(void **state)
{
	Fx *f = *state;

	/* the API is back once the master started a new worker */
	f->api.worker = NEW_WORKER;
	start_api(f, 300);
	assert_int_equal(haproxy_repoint_on(f->h, f->c, "pg1", "pg2", 5), 0);
	assert_true(signalled(f));
	assert_non_null(strstr(fake_host_calls(f->h), arena_printf(f->a, "write %s 0600", f->cfg)));
	/* the file the new worker loads: pg2 writes, pg1 out of writes and
	 * reads, pg3 still reads (as the file had it) */
	assert_true(ready_in(f, "pg_write", "pg2", 25433));
	assert_false(ready_in(f, "pg_write", "pg1", 25432));
	assert_false(ready_in(f, "pg_write", "pg3", 25434));
	assert_true(ready_in(f, "pg_read", "pg3", 25434));
	assert_false(ready_in(f, "pg_read", "pg1", 25432));
	assert_false(ready_in(f, "pg_read", "pg2", 25433));
	assert_true(ready_in(f, "pg_read", "pg2:primary", 25433));
	assert_false(ready_in(f, "pg_read", "pg1:primary", 25432));
	assert_string_equal(api_log(f), "show info\n");
}

static void test_repoint_fails_when_no_new_worker_answers(void **state)
{
	Fx *f = *state;

	start_api(f, -1);
	assert_int_equal(haproxy_repoint_on(f->h, f->c, "pg1", "pg2", 1), -1);
	assert_true(signalled(f));
	assert_true(ready_in(f, "pg_write", "pg2", 25433));
}

static void test_repoint_the_old_worker_is_not_the_reload(void **state)
{
	Fx *f = *state;

	/* the old worker answers again after the signal: not a reload */
	start_api(f, 300);
	assert_int_equal(haproxy_repoint_on(f->h, f->c, "pg1", "pg2", 1), -1);
	assert_true(signalled(f));
}

static void test_repoint_the_old_worker_without_a_children_list(void **state)
{
	Fx *f = *state;

	/* the host lists no children: the workers are found by their parent */
	fake_host_no_children(f->h);
	start_api(f, 300);
	assert_int_equal(haproxy_repoint_on(f->h, f->c, "pg1", "pg2", 1), -1);
	assert_true(signalled(f));
}

static void test_repoint_never_reloads_an_old_file(void **state)
{
	Fx *f = *state;

	start_api(f, -1);
	fake_host_fail_write(f->h, f->cfg);
	assert_int_equal(haproxy_repoint_on(f->h, f->c, "pg1", "pg2", 1), -1);
	assert_false(signalled(f));
}

static void test_repoint_without_haproxy(void **state)
{
	Fx *f = *state;

	fake_host_put(f->h, haproxy_path(f->a, f->c, HAPROXY_PID_NAME), NULL);
	assert_int_equal(haproxy_repoint_on(f->h, f->c, "pg1", "pg2", 1), 0);
	assert_false(signalled(f));
	assert_true(ready_in(f, "pg_write", "pg2", 25433));
	assert_false(ready_in(f, "pg_write", "pg1", 25432));
	assert_true(ready_in(f, "pg_read", "pg3", 25434));
}

/* ---- resume ---------------------------------------------------------------- */

static void test_resume_through_the_api(void **state)
{
	Fx *f = *state;

	paused(f);
	start_api(f, 0);
	assert_int_equal(haproxy_resume_on(f->h, f->c, "pg1", 1), 0);
	assert_false(maint(f, "pg_write", "pg1"));
	assert_false(signalled(f));
}

static void test_resume_reloads_when_the_api_is_silent(void **state)
{
	Fx *f = *state;

	f->api.worker = NEW_WORKER;
	start_api(f, 300);
	assert_int_equal(haproxy_resume_on(f->h, f->c, "pg1", 5), 0);
	assert_true(signalled(f));
	assert_true(ready_in(f, "pg_write", "pg1", 25432));
	assert_false(ready_in(f, "pg_write", "pg2", 25433));
	assert_true(ready_in(f, "pg_read", "pg2", 25433));
	assert_true(ready_in(f, "pg_read", "pg3", 25434));
	assert_true(ready_in(f, "pg_read", "pg1:primary", 25432));
}

static void test_resume_without_haproxy(void **state)
{
	Fx *f = *state;

	fake_host_put(f->h, haproxy_path(f->a, f->c, HAPROXY_PID_NAME), NULL);
	assert_int_equal(haproxy_resume_on(f->h, f->c, "pg1", 1), 0);
	assert_false(signalled(f));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_pause_holds_the_old_primary, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pause_refused_when_the_api_is_silent, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_pause_without_haproxy, setup, teardown),
		cmocka_unit_test_setup_teardown(test_repoint_through_the_api, setup, teardown),
		cmocka_unit_test_setup_teardown(test_repoint_moves_although_the_file_fails, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_repoint_reloads_when_the_api_is_silent, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_repoint_fails_when_no_new_worker_answers, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_repoint_the_old_worker_is_not_the_reload, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_repoint_the_old_worker_without_a_children_list,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_repoint_never_reloads_an_old_file, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_repoint_without_haproxy, setup, teardown),
		cmocka_unit_test_setup_teardown(test_resume_through_the_api, setup, teardown),
		cmocka_unit_test_setup_teardown(test_resume_reloads_when_the_api_is_silent, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_resume_without_haproxy, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
