/*
 * tests/unit/support/fake_console.c - see fake_console.h. Speaks just enough
 * of the frontend/backend protocol (v3) for libpq: startup without a
 * password, simple queries, cancel requests, Terminate.
 */
#include "support/fake_console.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

typedef struct {
	char buf[4096];
	size_t len;
} Msg;

static int read_full(int fd, void *p, size_t n)
{
	char *c = p;

	while (n > 0) {
		ssize_t r = read(fd, c, n);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return -1;
		c += r;
		n -= (size_t)r;
	}
	return 0;
}

static void put(Msg *m, const void *p, size_t n)
{
	if (m->len + n <= sizeof m->buf) {
		memcpy(m->buf + m->len, p, n);
		m->len += n;
	}
}

static void put32(Msg *m, uint32_t v)
{
	v = htonl(v);
	put(m, &v, 4);
}

static void put16(Msg *m, uint16_t v)
{
	v = htons(v);
	put(m, &v, 2);
}

static void put_str(Msg *m, const char *s)
{
	put(m, s, strlen(s) + 1);
}

/* begin/end - a message of type t; end fills in its length. */
static size_t begin(Msg *m, char t)
{
	size_t at;

	put(m, &t, 1);
	at = m->len;
	put32(m, 0);
	return at;
}

static void end(Msg *m, size_t at)
{
	uint32_t v = htonl((uint32_t)(m->len - at));

	memcpy(m->buf + at, &v, 4);
}

static void send_msg(int fd, Msg *m)
{
	size_t off = 0;

	while (off < m->len) {
		ssize_t w = write(fd, m->buf + off, m->len - off);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			break;
		off += (size_t)w;
	}
	m->len = 0;
}

static void ready(Msg *m)
{
	size_t at = begin(m, 'Z');

	put(m, "I", 1);
	end(m, at);
}

static void log_line(const char *dir, int conn, const char *what)
{
	char path[4096], line[4200];
	int fd, n;

	snprintf(path, sizeof path, "%s/console.log", dir);
	if ((fd = open(path, O_WRONLY | O_CREAT | O_APPEND, 0600)) < 0)
		return;
	n = snprintf(line, sizeof line, "%d %s\n", conn, what);
	if (write(fd, line, (size_t)n) < 0) {
		/* the test sees the line missing */
	}
	close(fd);
}

/* sent_before - how many times cmd was logged already. */
static int sent_before(const char *dir, const char *cmd)
{
	char *log = fake_console_log(dir), *line, *save = NULL;
	int n = 0;

	for (line = strtok_r(log, "\n", &save); line != NULL; line = strtok_r(NULL, "\n", &save)) {
		const char *sp = strchr(line, ' ');

		if (sp != NULL && strcmp(sp + 1, cmd) == 0)
			n++;
	}
	free(log);
	return n;
}

static const FakeConsoleRule *rule_for(const char *dir, const char *cmd,
				       const FakeConsoleRule *rules, size_t n)
{
	int nth = sent_before(dir, cmd) + 1;

	for (size_t i = 0; i < n; i++)
		if (strcmp(rules[i].cmd, cmd) == 0 && (rules[i].nth == 0 || rules[i].nth == nth))
			return &rules[i];
	return NULL;
}

static void reply(int fd, const char *cmd, const FakeConsoleRule *r)
{
	Msg m = {.len = 0};
	size_t at;
	char tag[64], busy[16];

	if (r != NULL && r->reply == FAKE_CONSOLE_ERROR) {
		at = begin(&m, 'E');
		put(&m, "S", 1);
		put_str(&m, "ERROR");
		put(&m, "C", 1);
		put_str(&m, "08P01");
		put(&m, "M", 1);
		put_str(&m, r->message ? r->message : "failed");
		put(&m, "", 1);
		end(&m, at);
	} else if (r != NULL && r->reply == FAKE_CONSOLE_POOLS) {
		static const char *const cols[] = {"database", "sv_active", "sv_tested"};

		at = begin(&m, 'T');
		put16(&m, 3);
		for (int i = 0; i < 3; i++) {
			put_str(&m, cols[i]);
			put32(&m, 0);
			put16(&m, 0);
			put32(&m, 25);
			put16(&m, (uint16_t)-1);
			put32(&m, (uint32_t)-1);
			put16(&m, 0);
		}
		end(&m, at);
		snprintf(busy, sizeof busy, "%d", r->busy);
		at = begin(&m, 'D');
		put16(&m, 3);
		put32(&m, 8);
		put(&m, "postgres", 8);
		put32(&m, (uint32_t)strlen(busy));
		put(&m, busy, strlen(busy));
		put32(&m, 1);
		put(&m, "0", 1);
		end(&m, at);
		at = begin(&m, 'C');
		put_str(&m, "SHOW");
		end(&m, at);
	} else {
		snprintf(tag, sizeof tag, "%.*s", (int)strcspn(cmd, " "), cmd);
		at = begin(&m, 'C');
		put_str(&m, tag);
		end(&m, at);
	}
	ready(&m);
	send_msg(fd, &m);
}

/* serve - one connection, until the client leaves. */
static void serve(int fd, int conn, const char *dir, const FakeConsoleRule *rules, size_t n)
{
	uint32_t len, code;
	char body[4096];
	Msg m = {.len = 0};
	size_t at;

	for (;;) { /* startup, after the requests for encryption that are refused */
		if (read_full(fd, &len, 4) != 0 || (len = ntohl(len)) < 8 || len > sizeof body)
			return;
		if (read_full(fd, body, len - 4) != 0)
			return;
		memcpy(&code, body, 4);
		code = ntohl(code);
		if (code == 80877102) { /* CancelRequest */
			log_line(dir, conn, "CANCEL");
			return;
		}
		if (code != 80877103 && code != 80877104)
			break;
		if (write(fd, "N", 1) != 1)
			return;
	}
	at = begin(&m, 'R');
	put32(&m, 0);
	end(&m, at);
	at = begin(&m, 'K');
	put32(&m, (uint32_t)getpid());
	put32(&m, 12345);
	end(&m, at);
	ready(&m);
	send_msg(fd, &m);
	for (;;) {
		char type;

		if (read_full(fd, &type, 1) != 0 || read_full(fd, &len, 4) != 0)
			return;
		len = ntohl(len);
		if (len < 4 || len - 4 >= sizeof body || read_full(fd, body, len - 4) != 0)
			return;
		body[len - 4] = '\0';
		if (type == 'X')
			return;
		if (type == 'Q') {
			const FakeConsoleRule *r = rule_for(dir, body, rules, n);

			log_line(dir, conn, body);
			if (r != NULL && r->reply == FAKE_CONSOLE_HANG) {
				while (read(fd, body, sizeof body) > 0) {
				}
				return;
			}
			reply(fd, body, r);
		}
	}
}

pid_t fake_console_start(const char *dir, int port, const FakeConsoleRule *rules, size_t n)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	char path[4096], pid_s[32];
	int lfd, fd, conn = 0;
	pid_t pid;
	FILE *f;

	snprintf(sa.sun_path, sizeof sa.sun_path, "%s/.s.PGSQL.%d", dir, port);
	(void)unlink(sa.sun_path);
	if ((lfd = socket(AF_UNIX, SOCK_STREAM, 0)) < 0)
		return -1;
	if (bind(lfd, (struct sockaddr *)&sa, sizeof sa) != 0 || listen(lfd, 16) != 0) {
		close(lfd);
		return -1;
	}
	if ((pid = fork()) < 0) {
		close(lfd);
		return -1;
	}
	if (pid == 0) {
		(void)setpgid(0, 0);
		(void)prctl(PR_SET_NAME, "pgbouncer", 0, 0, 0);
		signal(SIGCHLD, SIG_IGN); /* the connections' processes are reaped by the kernel */
		for (;;) {
			if ((fd = accept(lfd, NULL, NULL)) < 0) {
				if (errno == EINTR)
					continue;
				_exit(1);
			}
			conn++;
			if (fork() == 0) {
				close(lfd);
				serve(fd, conn, dir, rules, n);
				close(fd);
				_exit(0);
			}
			close(fd);
		}
	}
	close(lfd);
	snprintf(path, sizeof path, "%s/pgbouncer.pid", dir);
	snprintf(pid_s, sizeof pid_s, "%ld\n", (long)pid);
	if ((f = fopen(path, "w")) != NULL) {
		fputs(pid_s, f);
		fclose(f);
	}
	/* its name is what the hooks check: wait until the child has set it */
	for (int i = 0; i < 200; i++) {
		char comm[64] = "", cpath[64];
		FILE *c;

		snprintf(cpath, sizeof cpath, "/proc/%ld/comm", (long)pid);
		if ((c = fopen(cpath, "r")) != NULL) {
			if (fgets(comm, sizeof comm, c) == NULL)
				comm[0] = '\0';
			fclose(c);
		}
		if (strncmp(comm, "pgbouncer", 9) == 0)
			break;
		usleep(5000);
	}
	return pid;
}

void fake_console_stop(pid_t pid)
{
	if (pid <= 0)
		return;
	(void)kill(-pid, SIGKILL);
	(void)kill(pid, SIGKILL);
	(void)waitpid(pid, NULL, 0);
}

char *fake_console_log(const char *dir)
{
	char path[4096], *buf = NULL;
	size_t size = 0;
	FILE *f, *out = open_memstream(&buf, &size);

	snprintf(path, sizeof path, "%s/console.log", dir);
	if ((f = fopen(path, "r")) != NULL) {
		char chunk[1024];
		size_t r;

		while ((r = fread(chunk, 1, sizeof chunk, f)) > 0)
			fwrite(chunk, 1, r, out);
		fclose(f);
	}
	fclose(out);
	return buf;
}
