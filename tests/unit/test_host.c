/*
 * tests/unit/test_host.c - reconcile/transport/host.c on this machine: which hosts
 * are local, and the folder states the probe and initdb rely on.
 */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/log.h"
#include "reconcile/transport/host.h"

static void test_loopback_is_local(void **state)
{
	(void)state;
	assert_true(host_is_local("127.0.0.1"));
	assert_true(host_is_local("127.3.2.1"));
	assert_true(host_is_local("::1"));
	assert_true(host_is_local("::ffff:127.0.0.1"));
	assert_true(host_is_local("localhost"));
	assert_true(host_is_local("LocalHost"));
}

static void test_own_name_is_local(void **state)
{
	char name[256];

	(void)state;
	assert_int_equal(gethostname(name, sizeof name), 0);
	assert_true(host_is_local(name));
}

static void test_others_are_not(void **state)
{
	(void)state;
	/* Documentation addresses (RFC 5737, RFC 3849): never this machine. */
	assert_false(host_is_local("192.0.2.10"));
	assert_false(host_is_local("2001:db8::1"));
	assert_false(host_is_local("128.0.0.1"));
	assert_false(host_is_local(""));
	assert_false(host_is_local(NULL));
	assert_null(host_for("192.0.2.10", "postgres"));
}

static void test_self_host(void **state)
{
	(void)state;
	assert_null(host_self());
	host_set_self("127.0.0.3");
	assert_string_equal(host_self(), "127.0.0.3");
	/* Only the agent's own host is local, though 127.0.0.2 is this machine too. */
	assert_true(host_is_local("127.0.0.3"));
	assert_false(host_is_local("127.0.0.2"));
	assert_false(host_is_local("localhost"));
	assert_true(host_is_machine("127.0.0.2"));
	assert_false(host_is_machine("192.0.2.10"));
	assert_false(host_is_local(NULL));
	assert_null(host_for("127.0.0.2", "postgres"));
	host_set_self("DB1.Example.org");
	assert_true(host_is_local("db1.example.ORG"));
	assert_false(host_is_local("127.0.0.3"));
	host_set_self(NULL);
	assert_null(host_self());
	assert_true(host_is_local("127.0.0.2"));
}

static void *read_self(void *arg)
{
	int *seen = arg;

	for (int i = 0; i < 20000; i++)
		seen[host_is_local("db1") ? 1 : 0]++;
	return NULL;
}

/*
 * The agent's keep-alive thread asks host_is_local() while the loop's thread
 * may set another host: the read and the change exclude each other (run
 * under valgrind --tool=helgrind or ASan, an unguarded free shows here).
 */
static void test_self_host_threads(void **state)
{
	pthread_t th;
	int seen[2] = {0, 0};

	(void)state;
	host_set_self("db1");
	assert_int_equal(pthread_create(&th, NULL, read_self, seen), 0);
	for (int i = 0; i < 2000; i++)
		host_set_self(i % 2 ? "db1" : "db2");
	pthread_join(th, NULL);
	assert_int_equal(seen[0] + seen[1], 20000);
	host_set_self(NULL);
}

static void test_host_for_local(void **state)
{
	PgcHost *h = host_for("127.0.0.1", "root");
	uid_t uid;
	gid_t gid;

	(void)state;
	assert_non_null(h);
	assert_string_equal(host_os_user(h), "root");
	assert_int_equal(host_os_ids(h, &uid, &gid), 0);
	assert_int_equal(uid, 0);
	assert_int_equal(gid, 0);
	host_free(h);
	host_free(NULL);
}

static void test_unknown_os_user(void **state)
{
	PgcHost *h = host_for("localhost", "pgc-no-such-user");
	char *log;

	(void)state;
	assert_non_null(h);
	log_capture_begin();
	assert_int_equal(host_os_ids(h, NULL, NULL), -1);
	/* Looked up once: the second call says nothing more. */
	assert_int_equal(host_os_ids(h, NULL, NULL), -1);
	log = log_capture_end();
	assert_string_equal(log, "error: could not find user \"pgc-no-such-user\"\n"
				 "  hint: create the user, or set os_user to an existing one\n");
	free(log);
	host_free(h);
}

static void test_dir_state(void **state)
{
	char dir[] = "/tmp/pgc-host-XXXXXX", path[64], file[80];
	PgcHost *h = host_for("127.0.0.1", "root");
	char *log;

	(void)state;
	assert_non_null(mkdtemp(dir));
	assert_int_equal(host_dir_state(h, dir), 1);
	snprintf(path, sizeof path, "%s/sub", dir);
	assert_int_equal(host_dir_state(h, path), 0);
	assert_int_equal(mkdir(path, 0700), 0);
	assert_int_equal(host_dir_state(h, dir), 2);
	snprintf(file, sizeof file, "%s/file", dir);
	assert_int_equal(host_write_file(h, file, "x\n", 2, 0600, NULL), 0);
	log_capture_begin();
	assert_int_equal(host_dir_state(h, file), -1);
	log = log_capture_end();
	assert_non_null(strstr(log, "is not a folder"));
	free(log);
	unlink(file);
	rmdir(path);
	rmdir(dir);
	host_free(h);
}

/* host_dir_look: the same states as host_dir_state, said apart quietly. */
static void test_dir_look(void **state)
{
	char dir[] = "/tmp/pgc-host-XXXXXX", path[64], file[80], locked[80];
	PgcHost *h = host_for("127.0.0.1", "root");
	char *log;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof path, "%s/sub", dir);
	snprintf(file, sizeof file, "%s/file", dir);
	snprintf(locked, sizeof locked, "%s/locked", dir);
	log_capture_begin();
	assert_int_equal(host_dir_look(h, dir), 1);
	assert_int_equal(host_dir_look(h, path), 0);
	assert_int_equal(mkdir(path, 0700), 0);
	assert_int_equal(host_dir_look(h, dir), 2);
	assert_int_equal(host_write_file(h, file, "x\n", 2, 0600, NULL), 0);
	assert_int_equal(host_dir_look(h, file), 3);
	/* A dangling link is there (host_exists) but leads nowhere (host_reaches). */
	snprintf(locked, sizeof locked, "%s/dangling", dir);
	assert_int_equal(symlink("/nonexistent/pgc", locked), 0);
	assert_true(host_exists(h, locked));
	assert_false(host_reaches(h, locked));
	assert_true(host_exists(h, file));
	assert_true(host_reaches(h, file));
	unlink(locked);
	snprintf(locked, sizeof locked, "%s/locked", dir);
	/* A path through a file cannot be looked at: -1, with errno. */
	snprintf(path, sizeof path, "%s/file/below", dir);
	errno = 0;
	assert_int_equal(host_dir_look(h, path), -1);
	assert_int_equal(errno, ENOTDIR);
	log = log_capture_end();
	assert_string_equal(log, "");
	free(log);
	/* A folder that cannot be listed (not as root: root reads anything): -2. */
	if (geteuid() != 0) {
		assert_int_equal(mkdir(locked, 0), 0);
		assert_int_equal(host_dir_look(h, locked), -2);
		rmdir(locked);
	}
	unlink(file);
	snprintf(path, sizeof path, "%s/sub", dir);
	rmdir(path);
	rmdir(dir);
	host_free(h);
}

/* The local host's new operations: files by name, and this machine's processes. */
static void test_local_files(void **state)
{
	char dir[] = "/tmp/pgc-host-XXXXXX", a[64], b[64];
	PgcHost *h = host_for("127.0.0.1", "root");
	char *real;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(a, sizeof a, "%s/a", dir);
	snprintf(b, sizeof b, "%s/b", dir);
	assert_string_equal(host_name(h), "127.0.0.1");
	assert_int_equal(host_write_file(h, a, "x", 1, 0600, NULL), 0);
	assert_true(host_exists(h, a));
	assert_int_equal(host_rename(h, a, b), 0);
	assert_false(host_exists(h, a));
	assert_int_equal(host_rename(h, a, b), -1);
	real = host_realpath(h, b);
	assert_non_null(real);
	free(real);
	assert_int_equal(host_remove_file(h, b), 0);
	assert_int_equal(host_remove_file(h, b), 1);
	assert_int_equal(host_sync_dir(h, dir), 0);
	assert_int_equal(host_mkdir_p(h, a, 0700), 0);
	assert_int_equal(host_write_file(h, b, "y", 1, 0600, NULL), 0);
	assert_int_equal(host_empty_dir(h, dir), 0);
	assert_int_equal(host_dir_state(h, dir), 1);
	assert_int_equal(host_mkdir_p(h, a, 0700), 0);
	assert_int_equal(host_remove_tree(h, dir, a), 0);
	assert_int_equal(host_dir_state(h, dir), 1);
	rmdir(dir);
	host_free(h);
}

static int find_parent(PgcHost *h, long pid, void *arg)
{
	(void)h;
	assert_int_not_equal(pid, (long)getpid()); /* never pgconverge itself */
	return pid == *(long *)arg ? 1 : 0;
}

static void test_local_processes(void **state)
{
	PgcHost *h = host_for("localhost", "root");
	long parent = (long)getppid();
	char buf[4096], cwd[4096];
	pid_t child;
	int status;

	(void)state;
	assert_int_equal(host_proc_state(h, getpid()), HOST_PROC_LIVE);
	assert_int_equal(host_proc_state(h, 0), HOST_PROC_GONE);
	assert_int_equal(host_proc_comm(h, getpid(), buf, sizeof buf), 0);
	assert_string_equal(buf, "test_host");
	assert_non_null(getcwd(cwd, sizeof cwd));
	assert_int_equal(host_proc_cwd(h, getpid(), buf, sizeof buf), 0);
	assert_string_equal(buf, cwd);
	assert_true(host_proc_cmdline(h, getpid(), buf, sizeof buf) > 0);
	assert_non_null(strstr(buf, "test_host"));
	assert_int_equal(host_proc_parent(h, getpid()), parent);
	assert_int_equal(host_proc_each(h, find_parent, &parent), 1);
	assert_int_equal(host_signal(h, getpid(), 0), 0);

	/* A child that exited: a zombie until reaped, then gone. */
	child = fork();
	assert_true(child >= 0);
	if (child == 0)
		_exit(0);
	for (int i = 0; i < 500 && host_proc_state(h, child) != HOST_PROC_ZOMBIE; i++)
		usleep(2000);
	assert_int_equal(host_proc_state(h, child), HOST_PROC_ZOMBIE);
	assert_int_equal(waitpid(child, &status, 0), child);
	assert_int_equal(host_proc_state(h, child), HOST_PROC_GONE);
	assert_int_equal(host_signal(h, child, 0), -1);
	host_free(h);
}

/* burn - spends at least ms of CPU. */
static void burn(int ms)
{
	struct timespec t0, t;
	volatile unsigned long x = 0;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t0);
	do {
		for (int i = 0; i < 100000; i++)
			x += (unsigned long)i;
		clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
	} while ((t.tv_sec - t0.tv_sec) * 1000 + (t.tv_nsec - t0.tv_nsec) / 1000000 < ms);
	(void)x; /* only there to be written */
}

/*
 * The CPU and I/O figures the monitoring reads: a child's CPU time becomes
 * its parent's children_cpu_s once reaped, its written bytes the parent's
 * own write_bytes (where the kernel counts I/O per task).
 */
static void test_local_proc_usage(void **state)
{
	PgcHost *h = host_for("localhost", "root");
	PgcHostProcStat st, st2;
	PgcHostProcIo io, io2;
	char path[] = "/tmp/pgc-test-io.XXXXXX";
	pid_t child;
	int status, fd;

	(void)state;
	assert_int_equal(host_proc_stat(h, getpid(), &st), 0);
	assert_int_equal(st.ppid, (long)getppid());
	assert_int_equal(st.state, 'R');
	assert_true(st.start_ticks > 0);
	assert_int_equal(host_proc_stat(h, 0, &st), -1);
	assert_int_equal(host_proc_io(h, 0, &io), -1);
	assert_int_equal(host_proc_children(h, 0, NULL, 0), -1);
	/* A live child is listed (kernels with CONFIG_PROC_CHILDREN; else -1, and the walk is used). */
	child = fork();
	assert_true(child >= 0);
	if (child == 0) {
		pause();
		_exit(0);
	}
	{
		long kids[64];
		ssize_t n = host_proc_children(h, getpid(), kids, 64);
		bool found = false;

		for (ssize_t i = 0; i < n; i++)
			found = found || kids[i] == (long)child;
		assert_true(n < 0 || found);
	}
	kill(child, SIGKILL);
	assert_int_equal(waitpid(child, &status, 0), child);
	if (host_proc_io(h, getpid(), &io) != 0) {
		/* Not readable here (no root, or a kernel without task I/O accounting). */
		host_free(h);
		skip();
	}
	child = fork();
	assert_true(child >= 0);
	if (child == 0) {
		char block[4096] = {0};

		burn(60);
		fd = mkstemp(path);
		if (fd < 0)
			_exit(2);
		for (int i = 0; i < 64; i++)
			if (write(fd, block, sizeof block) != (ssize_t)sizeof block)
				_exit(3);
		if (fsync(fd) != 0)
			_exit(4);
		if (unlink(path) != 0)
			_exit(5);
		_exit(0);
	}
	assert_int_equal(waitpid(child, &status, 0), child);
	assert_int_equal(status, 0);
	assert_int_equal(host_proc_stat(h, getpid(), &st2), 0);
	assert_true(st2.children_cpu_s >= st.children_cpu_s + 0.03);
	assert_int_equal(host_proc_io(h, getpid(), &io2), 0);
	assert_true(io2.write_bytes >= io.write_bytes + 64 * 4096 ||
		    /* tmpfs sends nothing to storage */ io2.write_bytes == io.write_bytes);
	host_free(h);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_loopback_is_local),
		cmocka_unit_test(test_own_name_is_local),
		cmocka_unit_test(test_others_are_not),
		cmocka_unit_test(test_self_host),
		cmocka_unit_test(test_self_host_threads),
		cmocka_unit_test(test_host_for_local),
		cmocka_unit_test(test_unknown_os_user),
		cmocka_unit_test(test_dir_state),
		cmocka_unit_test(test_dir_look),
		cmocka_unit_test(test_local_files),
		cmocka_unit_test(test_local_processes),
		cmocka_unit_test(test_local_proc_usage),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
