/*
 * common/proc.c - fork/execve with captured output, a timeout and no shell.
 *
 * Everything the child needs (program path, environment, groups) is built
 * before fork(): in a threaded process the child may only make
 * async-signal-safe calls until execve().
 */
#include "common/proc.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <pthread.h>
#include <pwd.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/log.h"
#include "common/xalloc.h"

#define DEFAULT_PATH "/usr/local/bin:/usr/bin:/bin"
#define READ_CHUNK 65536
/* Without a pidfd, how often the loop checks whether the child exited. */
#define EXIT_POLL_MS 20
/* After the child exited, read at most this much more: a left-behind
 * process that keeps writing must not keep proc_run() busy forever. */
#define DRAIN_MAX (2 * 1024 * 1024)

extern char **environ;

/* Where the child failed before execve(); sent to the parent on a CLOEXEC pipe. */
enum child_stage {
	STAGE_SESSION = 1,
	STAGE_STREAMS,
	STAGE_SETID,
	STAGE_CHDIR,
	STAGE_EXEC,
};

struct child_error {
	int stage;
	int err;
};

/* Everything prepared before fork(). */
struct prepared {
	char *path;      /* resolved program path */
	char **envp;     /* NULL-terminated; entries point into environ, the spec or owned */
	char **owned;    /* strings built here (HOME=... etc.) */
	size_t nowned;
	bool drop;       /* switch to uid/gid before exec */
	uid_t uid;
	gid_t gid;
	gid_t *groups;
	int ngroups;
	char *home;
	long maxfd;      /* fallback bound when close_range() is unavailable */
};

struct outbuf {
	char *buf;
	size_t len;
	size_t cap;
	size_t max;
	bool truncated;
};

static atomic_bool no_pidfd;
static pthread_mutex_t scrub_mutex = PTHREAD_MUTEX_INITIALIZER;
static char **scrub_names;
static size_t scrub_n;

void proc_scrub_env(const char *name)
{
	size_t i;
	char **names;

	pthread_mutex_lock(&scrub_mutex);
	for (i = 0; i < scrub_n; i++)
		if (strcmp(scrub_names[i], name) == 0)
			goto out;
	names = realloc(scrub_names, (scrub_n + 1) * sizeof(*names));
	if (names == NULL)
		abort();
	scrub_names = names;
	scrub_names[scrub_n++] = xstrdup(name);
out:
	pthread_mutex_unlock(&scrub_mutex);
}

/* name_eq - whether the "NAME=value" entry is for name (given with its length). */
static bool name_eq(const char *entry, const char *name, size_t len)
{
	return strncmp(entry, name, len) == 0 && entry[len] == '=';
}

static bool scrubbed(const char *entry)
{
	size_t i;

	/* libpq and the PostgreSQL tools read PG* variables: a password, or a
	 * host/port/PGDATA that silently changes what a command acts on. */
	if (strncmp(entry, "PG", 2) == 0)
		return true;
	for (i = 0; i < scrub_n; i++)
		if (name_eq(entry, scrub_names[i], strlen(scrub_names[i])))
			return true;
	return false;
}

static bool overridden(const char *entry, const char *const *extra, bool drop)
{
	size_t i;

	for (i = 0; extra != NULL && extra[i] != NULL; i++) {
		size_t len = (size_t)(strchr(extra[i], '=') - extra[i]);

		if (name_eq(entry, extra[i], len))
			return true;
	}
	return drop && (name_eq(entry, "HOME", 4) || name_eq(entry, "USER", 4) ||
			name_eq(entry, "LOGNAME", 7));
}

static void build_env(struct prepared *p, const PgcProcSpec *spec, const char *user)
{
	size_t n = 0, i, k = 0;

	for (i = 0; environ != NULL && environ[i] != NULL; i++)
		n++;
	for (i = 0; spec->env_extra != NULL && spec->env_extra[i] != NULL; i++)
		n++;
	p->envp = xmalloc((n + 4) * sizeof(char *));
	p->owned = xmalloc(3 * sizeof(char *));

	pthread_mutex_lock(&scrub_mutex);
	for (i = 0; environ != NULL && environ[i] != NULL; i++) {
		if (strchr(environ[i], '=') == NULL || scrubbed(environ[i]) ||
		    overridden(environ[i], spec->env_extra, p->drop))
			continue;
		p->envp[k++] = environ[i];
	}
	pthread_mutex_unlock(&scrub_mutex);
	for (i = 0; spec->env_extra != NULL && spec->env_extra[i] != NULL; i++)
		p->envp[k++] = (char *)spec->env_extra[i];
	if (p->drop) {
		const char *vars[3] = {"HOME", "USER", "LOGNAME"};

		for (i = 0; i < 3; i++) {
			char *s;

			if (asprintf(&s, "%s=%s", vars[i], i == 0 ? p->home : user) < 0)
				abort();
			p->owned[p->nowned++] = s;
			p->envp[k++] = s;
		}
	}
	p->envp[k] = NULL;
}

/* find_program - argv[0] as given when it has a '/', else the first match in PATH. */
static char *find_program(const char *name)
{
	const char *path, *p;

	if (strchr(name, '/') != NULL)
		return xstrdup(name);
	path = getenv("PATH");
	if (path == NULL || *path == '\0')
		path = DEFAULT_PATH;
	for (p = path;;) {
		const char *end = strchr(p, ':');
		size_t dl = end ? (size_t)(end - p) : strlen(p);
		struct stat st;
		char *cand;

		if (asprintf(&cand, "%.*s%s%s", (int)dl, p, dl ? "/" : "", name) < 0)
			abort();
		if (dl > 0 && stat(cand, &st) == 0 && S_ISREG(st.st_mode) && access(cand, X_OK) == 0)
			return cand;
		free(cand);
		if (end == NULL)
			return NULL;
		p = end + 1;
	}
}

int proc_user_lookup(const char *user, uid_t *uid, gid_t *gid, char **home)
{
	struct passwd pw, *found = NULL;
	size_t size = 16384;
	char *buf = NULL;
	int rc;

	for (;;) {
		buf = xmalloc(size);
		rc = getpwnam_r(user, &pw, buf, size, &found);
		if (rc != ERANGE)
			break;
		free(buf);
		size *= 4;
	}
	if (found == NULL) {
		if (rc == 0 || rc == ENOENT || rc == ESRCH)
			log_error("could not find user \"%s\"\nhint: create the user, or set "
				  "os_user to an existing one",
				  user);
		else
			log_error("could not look up user \"%s\": %s", user, strerror(rc));
		free(buf);
		return -1;
	}
	*uid = pw.pw_uid;
	*gid = pw.pw_gid;
	if (home != NULL)
		*home = xstrdup(pw.pw_dir && *pw.pw_dir ? pw.pw_dir : "/");
	free(buf);
	return 0;
}

static int lookup_groups(struct prepared *p, const char *user)
{
	int n = 32;

	for (;;) {
		int got = n;

		p->groups = xmalloc((size_t)n * sizeof(gid_t));
		if (getgrouplist(user, p->gid, p->groups, &got) >= 0) {
			p->ngroups = got;
			return 0;
		}
		free(p->groups);
		p->groups = NULL;
		if (got <= n) {
			log_error("could not read the groups of user \"%s\"", user);
			return -1;
		}
		n = got;
	}
}

static void prepared_free(struct prepared *p)
{
	size_t i;

	free(p->path);
	free(p->envp);
	for (i = 0; i < p->nowned; i++)
		free(p->owned[i]);
	free(p->owned);
	free(p->groups);
	free(p->home);
}

char *proc_format_argv(const char *const *argv)
{
	static const char safe[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
				   "0123456789_@%+=:,./-";
	size_t i, len = 1;
	const char *s;
	char *out, *o;

	for (i = 0; argv[i] != NULL; i++) {
		len += 3; /* separator and two quotes */
		for (s = argv[i]; *s != '\0'; s++)
			len += *s == '\'' ? 4 : 1;
	}
	out = o = xmalloc(len);
	for (i = 0; argv[i] != NULL; i++) {
		bool bare = argv[i][0] != '\0' && strspn(argv[i], safe) == strlen(argv[i]);

		if (i > 0)
			*o++ = ' ';
		if (bare) {
			o = stpcpy(o, argv[i]);
			continue;
		}
		*o++ = '\'';
		for (s = argv[i]; *s != '\0'; s++) {
			if (*s == '\'')
				o = stpcpy(o, "'\\''");
			else
				*o++ = *s;
		}
		*o++ = '\'';
	}
	*o = '\0';
	return out;
}

const char *proc_status_text(const PgcProcResult *res, char *buf, size_t size)
{
	if (res->timed_out)
		snprintf(buf, size, "timed out after %d ms", res->timeout_ms);
	else if (res->term_signal != 0)
		snprintf(buf, size, "was terminated by signal %d (%s)", res->term_signal,
			 strsignal(res->term_signal));
	else
		snprintf(buf, size, "exited with code %d", res->status);
	return buf;
}

void proc_result_free(PgcProcResult *res)
{
	if (res == NULL)
		return;
	free(res->output);
	res->output = NULL;
	res->output_len = 0;
}

static void log_command(const PgcProcSpec *spec, bool drop)
{
	char *cmd;
	size_t i;
	char extra[512] = "";
	size_t off = 0;

	if (!log_enabled(LOG_DEBUG))
		return;
	cmd = proc_format_argv(spec->argv);
	if (drop)
		off += (size_t)snprintf(extra + off, sizeof(extra) - off, ", as %s", spec->run_as);
	if (spec->cwd != NULL && off < sizeof(extra))
		off += (size_t)snprintf(extra + off, sizeof(extra) - off, ", in %s", spec->cwd);
	for (i = 0; spec->env_extra != NULL && spec->env_extra[i] != NULL; i++) {
		/* Only the name: the value may be a password. */
		int nl = (int)(strchr(spec->env_extra[i], '=') - spec->env_extra[i]);

		if (off < sizeof(extra))
			off += (size_t)snprintf(extra + off, sizeof(extra) - off, ", env %.*s", nl,
						spec->env_extra[i]);
	}
	log_debug("running: %s (timeout %d ms%s%s)", cmd, spec->timeout_ms, extra,
		  spec->detach ? ", detached" : "");
	free(cmd);
}

static int check_spec(const PgcProcSpec *spec)
{
	const char *name;
	size_t i;

	if (spec->argv == NULL || spec->argv[0] == NULL || spec->argv[0][0] == '\0') {
		log_error("could not run a program: no program given");
		return -1;
	}
	name = spec->argv[0];
	if (spec->timeout_ms <= 0) {
		log_error("could not run \"%s\": no timeout given", name);
		return -1;
	}
	for (i = 0; spec->env_extra != NULL && spec->env_extra[i] != NULL; i++) {
		const char *eq = strchr(spec->env_extra[i], '=');

		if (eq == NULL || eq == spec->env_extra[i]) {
			log_error("could not run \"%s\": environment entry %zu is not NAME=value", name,
				  i + 1);
			return -1;
		}
	}
	return 0;
}

static int prepare(const PgcProcSpec *spec, struct prepared *p)
{
	memset(p, 0, sizeof(*p));
	p->path = find_program(spec->argv[0]);
	if (p->path == NULL) {
		log_error("could not run \"%s\": program not found in PATH", spec->argv[0]);
		return -1;
	}
	if (spec->run_as != NULL && geteuid() == 0) {
		if (proc_user_lookup(spec->run_as, &p->uid, &p->gid, &p->home) != 0 ||
		    lookup_groups(p, spec->run_as) != 0)
			return -1;
		p->drop = true;
	}
	build_env(p, spec, spec->run_as);
	p->maxfd = sysconf(_SC_OPEN_MAX);
	if (p->maxfd < 0 || p->maxfd > 65536)
		p->maxfd = 65536;
	return 0;
}

/* child_fail - async-signal-safe: tell the parent why, then exit. */
static void child_fail(int errfd, int stage)
{
	struct child_error ce = {stage, errno};
	ssize_t n;

	n = write(errfd, &ce, sizeof(ce));
	(void)n;
	_exit(127);
}

static void child_main(const PgcProcSpec *spec, const struct prepared *p, int in_fd, int out_fd,
		       int errfd)
{
	struct sigaction dfl;
	sigset_t none;
	int sig, fd_in, fd_out;
	long fd;

	/* Handlers and ignored signals of pgconverge are not the program's. */
	memset(&dfl, 0, sizeof(dfl));
	dfl.sa_handler = SIG_DFL;
	for (sig = 1; sig < NSIG; sig++)
		if (sig != SIGKILL && sig != SIGSTOP)
			(void)sigaction(sig, &dfl, NULL);

	/* Keep the error pipe clear of 0..2, which are about to be replaced. */
	if (errfd <= 2)
		errfd = fcntl(errfd, F_DUPFD_CLOEXEC, 3);
	if ((spec->detach ? setsid() : setpgid(0, 0)) < 0)
		child_fail(errfd, STAGE_SESSION);

	/* Move both ends above 2 first, so that dup2() cannot overwrite one
	 * with the other when the parent had 0/1/2 closed. */
	fd_in = fcntl(in_fd, F_DUPFD_CLOEXEC, 3);
	fd_out = fcntl(out_fd, F_DUPFD_CLOEXEC, 3);
	if (fd_in < 0 || fd_out < 0 || dup2(fd_in, 0) < 0 || dup2(fd_out, 1) < 0 ||
	    dup2(fd_out, 2) < 0)
		child_fail(errfd, STAGE_STREAMS);

	if (p->drop) {
		if (setgroups((size_t)p->ngroups, p->groups) != 0 || setgid(p->gid) != 0 ||
		    setuid(p->uid) != 0)
			child_fail(errfd, STAGE_SETID);
	}
	if (spec->cwd != NULL) {
		if (chdir(spec->cwd) != 0)
			child_fail(errfd, STAGE_CHDIR);
	} else if (p->drop && access(".", X_OK) != 0) {
		/* PostgreSQL's tools fail in a folder they cannot enter (root's home). */
		if (chdir(p->home) != 0 && chdir("/") != 0)
			child_fail(errfd, STAGE_CHDIR);
	}

	/* Every other descriptor, including the error pipe, closes at exec. */
	if (syscall(SYS_close_range, 3U, ~0U, CLOSE_RANGE_CLOEXEC) != 0) {
		for (fd = 3; fd < p->maxfd; fd++)
			(void)fcntl((int)fd, F_SETFD, FD_CLOEXEC);
	}
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	execve(p->path, (char *const *)spec->argv, p->envp);
	child_fail(errfd, STAGE_EXEC);
}

static void report_child_error(const PgcProcSpec *spec, const struct prepared *p,
			       const struct child_error *ce)
{
	const char *name = spec->argv[0];
	const char *cause = strerror(ce->err);

	switch (ce->stage) {
	case STAGE_SESSION:
		log_error("could not run \"%s\": could not create its process group: %s", name,
			  cause);
		break;
	case STAGE_STREAMS:
		log_error("could not run \"%s\": could not set up its standard streams: %s", name,
			  cause);
		break;
	case STAGE_SETID:
		log_error("could not run \"%s\" as user \"%s\": %s", name, spec->run_as, cause);
		break;
	case STAGE_CHDIR:
		log_error("could not run \"%s\": could not change to folder \"%s\": %s", name,
			  spec->cwd ? spec->cwd : p->home, cause);
		break;
	default:
		log_error("could not execute \"%s\": %s", p->path, cause);
		break;
	}
}

static void out_append(struct outbuf *o, const char *data, size_t n)
{
	if (n >= o->max) {
		/* Only the tail of this chunk survives. */
		data += n - o->max;
		o->truncated = o->truncated || n > o->max || o->len > 0;
		n = o->max;
		o->len = 0;
	}
	/* Keep up to 2*max bytes, then drop the oldest down to max: amortised copying. */
	if (o->len + n > 2 * o->max) {
		size_t drop = o->len + n - o->max;

		memmove(o->buf, o->buf + drop, o->len - drop);
		o->len -= drop;
		o->truncated = true;
	}
	if (o->len + n + 1 > o->cap) {
		size_t cap = o->cap ? o->cap : 4096;
		char *b;

		while (cap < o->len + n + 1)
			cap *= 2;
		if (cap > 2 * o->max + 1)
			cap = 2 * o->max + 1;
		b = realloc(o->buf, cap);
		if (b == NULL)
			abort();
		o->buf = b;
		o->cap = cap;
	}
	memcpy(o->buf + o->len, data, n);
	o->len += n;
}

/* read_output - reads what is available; returns false once the pipe is at EOF or broken. */
static bool read_output(int fd, struct outbuf *o, size_t limit)
{
	char buf[READ_CHUNK];
	size_t total = 0;

	while (total < limit) {
		ssize_t n = read(fd, buf, sizeof(buf));

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return errno == EAGAIN || errno == EWOULDBLOCK;
		if (n == 0)
			return false;
		out_append(o, buf, (size_t)n);
		total += (size_t)n;
	}
	return true;
}

/* child_exited - whether pid has exited, without reaping it: while it is a
 * zombie its pid, which is also its process group id, cannot be reused, so
 * signalling the group stays safe. */
static bool child_exited(pid_t pid)
{
	siginfo_t si;

	memset(&si, 0, sizeof(si));
	if (waitid(P_PID, (id_t)pid, &si, WEXITED | WNOHANG | WNOWAIT) != 0)
		return errno == ECHILD;
	return si.si_pid == pid;
}

/* kill_group - signals the child's process group, or the child alone if it
 * has none (it failed to make one, or is not yet in it). */
static void kill_group(pid_t pid, int sig)
{
	if (kill(-pid, sig) != 0 && errno == ESRCH)
		kill(pid, sig);
}

/* supervise - feeds stdin, collects output, enforces the timeout until the child exits. */
static void supervise(const PgcProcSpec *spec, pid_t pid, int out_fd, int in_fd,
		      struct outbuf *out, PgcProcResult *res, double start)
{
	const char *in_data = spec->stdin_data;
	size_t in_left = in_data ? strlen(in_data) : 0;
	double deadline = start + spec->timeout_ms, kill_at = 0;
	bool killed = false;
	int pidfd = -1;

	/* A pidfd wakes poll() at the child's exit; without one (kernels before
	 * 5.3, valgrind) the loop looks every EXIT_POLL_MS. Asked once. */
	if (!atomic_load(&no_pidfd)) {
		pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
		if (pidfd < 0 && errno == ENOSYS)
			atomic_store(&no_pidfd, true);
	}

	if (in_fd >= 0 && in_left == 0) {
		close(in_fd);
		in_fd = -1;
	}
	for (;;) {
		struct pollfd fds[3];
		nfds_t nfds = 0;
		int out_i = -1, in_i = -1;
		double now, wait;

		if (child_exited(pid)) {
			if (out_fd >= 0)
				read_output(out_fd, out, DRAIN_MAX);
			break;
		}
		now = clock_ms();
		if (!res->timed_out && now >= deadline) {
			res->timed_out = true;
			kill_group(pid, SIGTERM);
			kill_at = now + PROC_KILL_GRACE_MS;
		}
		if (res->timed_out && !killed && now >= kill_at) {
			kill_group(pid, SIGKILL);
			killed = true;
		}
		wait = killed ? 100 : (res->timed_out ? kill_at : deadline) - now;
		if (pidfd < 0 && wait > EXIT_POLL_MS)
			wait = EXIT_POLL_MS;
		if (wait < 1)
			wait = 1;

		if (out_fd >= 0) {
			out_i = (int)nfds;
			fds[nfds++] = (struct pollfd){.fd = out_fd, .events = POLLIN};
		}
		if (in_fd >= 0) {
			in_i = (int)nfds;
			fds[nfds++] = (struct pollfd){.fd = in_fd, .events = POLLOUT};
		}
		if (pidfd >= 0)
			fds[nfds++] = (struct pollfd){.fd = pidfd, .events = POLLIN};
		/* An error (EINTR) just means another turn of the loop. */
		(void)poll(fds, nfds, (int)wait);

		if (out_i >= 0 && fds[out_i].revents != 0 && !read_output(out_fd, out, 4 * READ_CHUNK)) {
			close(out_fd);
			out_fd = -1;
		}
		if (in_i >= 0 && fds[in_i].revents != 0) {
			/* A socket, so that a child that does not read all of it
			 * gives EPIPE here instead of a SIGPIPE to pgconverge. */
			ssize_t n = send(in_fd, in_data, in_left, MSG_NOSIGNAL | MSG_DONTWAIT);

			if (n > 0) {
				in_data += n;
				in_left -= (size_t)n;
			}
			if (in_left == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
				close(in_fd);
				in_fd = -1;
			}
		}
	}
	/* On timeout, whatever the child left in its group goes too. */
	if (res->timed_out)
		kill_group(pid, SIGKILL);
	if (pidfd >= 0)
		close(pidfd);
	if (out_fd >= 0)
		close(out_fd);
	if (in_fd >= 0)
		close(in_fd);
}

int proc_run(const PgcProcSpec *spec, PgcProcResult *res)
{
	struct prepared p;
	struct outbuf out = {0};
	struct child_error ce;
	int out_pipe[2] = {-1, -1}, err_pipe[2] = {-1, -1}, in_pair[2] = {-1, -1};
	int child_in = -1, parent_in = -1, wstatus = 0, saved, rc = -1;
	sigset_t all, old;
	double start;
	ssize_t n;
	pid_t pid;

	memset(res, 0, sizeof(*res));
	memset(&p, 0, sizeof(p));
	if (check_spec(spec) != 0)
		return -1;
	res->timeout_ms = spec->timeout_ms;
	if (prepare(spec, &p) != 0)
		goto cleanup;
	out.max = spec->max_output ? spec->max_output : PROC_DEFAULT_MAX_OUTPUT;

	if (pipe2(out_pipe, O_CLOEXEC) != 0 || pipe2(err_pipe, O_CLOEXEC) != 0) {
		saved = errno;
		log_error("could not run \"%s\": could not create a pipe: %s", spec->argv[0],
			  strerror(saved));
		goto cleanup;
	}
	if (spec->stdin_data != NULL) {
		if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, in_pair) != 0) {
			saved = errno;
			log_error("could not run \"%s\": could not create a socket pair: %s",
				  spec->argv[0], strerror(saved));
			goto cleanup;
		}
		child_in = in_pair[1];
		parent_in = in_pair[0];
		/* The child only reads; EOF comes when we close our end. */
		shutdown(child_in, SHUT_WR);
		fcntl(parent_in, F_SETFL, O_NONBLOCK);
	} else {
		child_in = open("/dev/null", O_RDONLY | O_CLOEXEC);
		if (child_in < 0) {
			saved = errno;
			log_error("could not run \"%s\": could not open \"/dev/null\": %s",
				  spec->argv[0], strerror(saved));
			goto cleanup;
		}
	}
	fcntl(out_pipe[0], F_SETFL, O_NONBLOCK);
	log_command(spec, p.drop);

	/* Block signals across fork() so no handler of ours runs in the child
	 * before it has reset them. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	start = clock_ms();
	pid = fork();
	if (pid == 0)
		child_main(spec, &p, child_in, out_pipe[1], err_pipe[1]);
	saved = errno;
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (pid < 0) {
		log_error("could not run \"%s\": could not fork: %s", spec->argv[0], strerror(saved));
		goto cleanup;
	}

	close(out_pipe[1]);
	out_pipe[1] = -1;
	close(err_pipe[1]);
	err_pipe[1] = -1;
	close(child_in);
	child_in = -1;

	/* EOF on the error pipe means execve() succeeded (it is CLOEXEC). */
	do
		n = read(err_pipe[0], &ce, sizeof(ce));
	while (n < 0 && errno == EINTR);
	if (n == (ssize_t)sizeof(ce)) {
		while (waitpid(pid, &wstatus, 0) < 0 && errno == EINTR)
			;
		report_child_error(spec, &p, &ce);
		goto cleanup;
	}

	supervise(spec, pid, out_pipe[0], parent_in, &out, res, start);
	out_pipe[0] = -1;
	parent_in = -1;
	while (waitpid(pid, &wstatus, 0) < 0 && errno == EINTR)
		;
	res->elapsed_ms = clock_ms() - start;
	if (WIFSIGNALED(wstatus)) {
		res->term_signal = WTERMSIG(wstatus);
		res->status = 128 + res->term_signal;
	} else {
		res->status = WEXITSTATUS(wstatus);
	}

	/* Keep exactly the last max bytes, NUL-terminated. */
	if (out.len > out.max) {
		memmove(out.buf, out.buf + out.len - out.max, out.max);
		out.len = out.max;
		out.truncated = true;
	}
	if (out.buf == NULL)
		out.buf = xmalloc(1);
	out.buf[out.len] = '\0';
	res->output = out.buf;
	res->output_len = out.len;
	res->truncated = out.truncated;
	out.buf = NULL;
	if (log_enabled(LOG_DEBUG)) {
		char st[128];

		log_debug("\"%s\" %s in %.0f ms", spec->argv[0],
			  proc_status_text(res, st, sizeof(st)), res->elapsed_ms);
	}
	rc = 0;

cleanup:
	if (out_pipe[0] >= 0)
		close(out_pipe[0]);
	if (out_pipe[1] >= 0)
		close(out_pipe[1]);
	if (err_pipe[0] >= 0)
		close(err_pipe[0]);
	if (err_pipe[1] >= 0)
		close(err_pipe[1]);
	if (child_in >= 0)
		close(child_in);
	if (parent_in >= 0)
		close(parent_in);
	free(out.buf);
	prepared_free(&p);
	return rc;
}

/* Program output kept in an error message: its last lines. */
#define OUTPUT_TAIL_LINES 20

/* output_tail - the last lines of a program's output, trimmed. */
static const char *output_tail(const PgcProcResult *res)
{
	const char *out = res->output ? res->output : "";
	size_t len = res->output_len;
	int lines = 0;

	while (len > 0 && (out[len - 1] == '\n' || out[len - 1] == ' ' || out[len - 1] == '\r'))
		len--;
	if (len == 0)
		return NULL;
	for (size_t i = len; i > 0; i--) {
		if (out[i - 1] == '\n' && ++lines == OUTPUT_TAIL_LINES)
			return out + i;
	}
	return out;
}

void proc_report_failed(const char *what, const char *program, const PgcProcResult *res,
			char *err, size_t errlen)
{
	const char *base = strrchr(program, '/') ? strrchr(program, '/') + 1 : program;
	const char *tail = output_tail(res);
	char status[96];
	size_t tail_len = 0;

	proc_status_text(res, status, sizeof(status));
	if (tail != NULL) {
		tail_len = res->output_len - (size_t)(tail - res->output);
		while (tail_len > 0 && (tail[tail_len - 1] == '\n' || tail[tail_len - 1] == ' ' ||
					tail[tail_len - 1] == '\r'))
			tail_len--;
		log_error("%s: %s %s\n%.*s", what, base, status, (int)tail_len, tail);
	} else {
		log_error("%s: %s %s", what, base, status);
	}
	if (err != NULL)
		snprintf(err, errlen, "%s: %s %s", what, base, status);
}
