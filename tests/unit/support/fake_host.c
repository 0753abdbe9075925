/*
 * tests/unit/support/fake_host.c - the recording, scripted host (fake_host.h).
 */
#include "support/fake_host.h"

#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FAKE_MAX 256

typedef struct {
	char *path;
	char *content; /* NULL: a folder */
	size_t len;
	unsigned mode;
} Entry;

typedef struct {
	char *match, *output;
	int status;
	bool used;
} Rule;

typedef struct {
	long pid, ppid;
	char comm[64], cwd[256], args[1024];
	size_t args_len;
	bool gone, zombie, sticky;
	double cpu_s, children_cpu_s;        /* fake_host_proc_usage */
	unsigned long long read_bytes, write_bytes;
} Proc;

typedef struct {
	Entry files[FAKE_MAX];
	size_t n_files;
	Rule rules[64];
	size_t n_rules;
	Proc procs[64];
	bool no_children;                    /* fake_host_no_children */
	char fail_write[256];                /* fake_host_fail_write */
	size_t n_procs;
	char *calls;
	size_t calls_len;
} Fake;

static Fake *fake(PgcHost *h)
{
	return host_data(h);
}

static void record(PgcHost *h, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void record(PgcHost *h, const char *fmt, ...)
{
	Fake *f = fake(h);
	char line[2048];
	va_list ap;
	size_t n;

	va_start(ap, fmt);
	vsnprintf(line, sizeof line, fmt, ap);
	va_end(ap);
	n = strlen(line);
	f->calls = realloc(f->calls, f->calls_len + n + 2);
	if (f->calls == NULL)
		abort();
	memcpy(f->calls + f->calls_len, line, n);
	f->calls_len += n;
	f->calls[f->calls_len++] = '\n';
	f->calls[f->calls_len] = '\0';
}

static Entry *find(Fake *f, const char *path)
{
	for (size_t i = 0; i < f->n_files; i++)
		if (strcmp(f->files[i].path, path) == 0)
			return &f->files[i];
	return NULL;
}

/* inside - path lies strictly below dir. */
static bool inside(const char *dir, const char *path)
{
	size_t n = strlen(dir);

	return strncmp(path, dir, n) == 0 && path[n] == '/';
}

static void drop(Fake *f, Entry *e)
{
	free(e->path);
	free(e->content);
	*e = f->files[--f->n_files];
}

static Entry *add(Fake *f, const char *path)
{
	Entry *e = find(f, path);

	if (e != NULL)
		return e;
	if (f->n_files == FAKE_MAX)
		abort();
	e = &f->files[f->n_files++];
	memset(e, 0, sizeof *e);
	e->path = strdup(path);
	return e;
}

static void add_dirs(Fake *f, const char *path)
{
	char buf[1024];

	snprintf(buf, sizeof buf, "%s", path);
	for (char *s = buf + 1; (s = strchr(s, '/')) != NULL; s++) {
		*s = '\0';
		add(f, buf);
		*s = '/';
	}
	add(f, buf);
}

static void parent_dirs(Fake *f, const char *path)
{
	char buf[1024], *slash;

	snprintf(buf, sizeof buf, "%s", path);
	slash = strrchr(buf, '/');
	if (slash != NULL && slash != buf) {
		*slash = '\0';
		add_dirs(f, buf);
	}
}

static void set_file(Fake *f, const char *path, const char *data, size_t len, unsigned mode)
{
	Entry *e;

	parent_dirs(f, path);
	e = add(f, path);
	free(e->content);
	e->content = malloc(len + 1);
	if (e->content == NULL)
		abort();
	memcpy(e->content, data, len);
	e->content[len] = '\0';
	e->len = len;
	e->mode = mode;
}

/* ---- operations -------------------------------------------------------------------- */

static int fake_run(PgcHost *h, const PgcProcSpec *spec, PgcProcResult *res)
{
	Fake *f = fake(h);
	char line[2048] = "";
	size_t n = 0;

	for (size_t i = 0; spec->argv[i] != NULL; i++)
		n += (size_t)snprintf(line + n, sizeof line - n, "%s%s", i ? " " : "", spec->argv[i]);
	record(h, "run %s", line);
	for (size_t i = 0; spec->env_extra != NULL && spec->env_extra[i] != NULL; i++)
		record(h, "env %s", spec->env_extra[i]);
	memset(res, 0, sizeof *res);
	for (size_t i = 0; i < f->n_rules; i++) {
		Rule *r = &f->rules[i];

		if (r->used || strstr(line, r->match) == NULL)
			continue;
		r->used = true;
		if (r->status < 0)
			return -1;
		res->status = r->status;
		res->output = strdup(r->output);
		res->output_len = strlen(r->output);
		return 0;
	}
	res->output = strdup("");
	return 0;
}

static int fake_file_mtime(PgcHost *h, const char *path, double *mtime)
{
	*mtime = 0;
	return find(fake(h), path) != NULL ? 0 : 1;
}

static int fake_read_file(PgcHost *h, const char *path, char **buf, size_t *len, size_t max)
{
	Entry *e = find(fake(h), path);

	(void)max;
	record(h, "read %s", path);
	*buf = NULL;
	*len = 0;
	if (e == NULL)
		return 1;
	if (e->content == NULL)
		return -1;
	*buf = strdup(e->content);
	*len = e->len;
	return 0;
}

static int fake_write_file(PgcHost *h, const char *path, const char *data, size_t len,
			   mode_t mode, bool *changed)
{
	Entry *e = find(fake(h), path);
	bool same = e != NULL && e->content != NULL && e->len == len &&
		    memcmp(e->content, data, len) == 0 && e->mode == (unsigned)mode;

	record(h, "write %s %04o", path, (unsigned)mode);
	if (strcmp(fake(h)->fail_write, path) == 0) {
		errno = ENOSPC;
		return -1;
	}
	if (changed != NULL)
		*changed = !same;
	if (!same)
		set_file(fake(h), path, data, len, (unsigned)mode);
	return 0;
}

static int fake_mkdir_p(PgcHost *h, const char *path, mode_t mode)
{
	record(h, "mkdir %s %04o", path, (unsigned)mode);
	add_dirs(fake(h), path);
	return 0;
}

static int fake_dir_state(PgcHost *h, const char *path)
{
	Fake *f = fake(h);
	Entry *e = find(f, path);

	record(h, "state %s", path);
	if (e == NULL)
		return 0;
	if (e->content != NULL)
		return -1;
	for (size_t i = 0; i < f->n_files; i++)
		if (inside(path, f->files[i].path))
			return 2;
	return 1;
}

static bool fake_exists(PgcHost *h, const char *path)
{
	record(h, "exists %s", path);
	return find(fake(h), path) != NULL;
}

static int fake_rename(PgcHost *h, const char *from, const char *to)
{
	Fake *f = fake(h);
	size_t n = strlen(from);

	record(h, "rename %s %s", from, to);
	if (find(f, from) == NULL) {
		errno = ENOENT;
		return -1;
	}
	for (size_t i = 0; i < f->n_files; i++) {
		Entry *e = &f->files[i];

		if (strcmp(e->path, from) == 0 || inside(from, e->path)) {
			char *p = malloc(strlen(to) + strlen(e->path) - n + 1);

			if (p == NULL)
				abort();
			sprintf(p, "%s%s", to, e->path + n);
			free(e->path);
			e->path = p;
		}
	}
	return 0;
}

static int fake_remove_file(PgcHost *h, const char *path)
{
	Fake *f = fake(h);
	Entry *e = find(f, path);

	record(h, "remove %s", path);
	if (e == NULL)
		return 1;
	drop(f, e);
	return 0;
}

static int fake_sync_dir(PgcHost *h, const char *path)
{
	record(h, "sync %s", path);
	return 0;
}

static void drop_below(Fake *f, const char *path)
{
	for (size_t i = 0; i < f->n_files;)
		if (inside(path, f->files[i].path))
			drop(f, &f->files[i]);
		else
			i++;
}

static int fake_empty_dir(PgcHost *h, const char *path)
{
	record(h, "empty %s", path);
	drop_below(fake(h), path);
	return 0;
}

static int fake_remove_tree(PgcHost *h, const char *parent, const char *path)
{
	Fake *f = fake(h);
	Entry *e;

	record(h, "tree %s %s", parent, path);
	drop_below(f, path);
	if ((e = find(f, path)) != NULL)
		drop(f, e);
	return 0;
}

static char *fake_realpath(PgcHost *h, const char *path)
{
	return find(fake(h), path) != NULL ? strdup(path) : NULL;
}

static Proc *proc(PgcHost *h, long pid)
{
	Fake *f = fake(h);

	for (size_t i = 0; i < f->n_procs; i++)
		if (f->procs[i].pid == pid && !f->procs[i].gone)
			return &f->procs[i];
	return NULL;
}

static int fake_proc_each(PgcHost *h, PgcHostProcFn fn, void *arg)
{
	Fake *f = fake(h);
	int rc = 0;

	for (size_t i = 0; rc == 0 && i < f->n_procs; i++)
		if (!f->procs[i].gone)
			rc = fn(h, f->procs[i].pid, arg);
	return rc;
}

static PgcHostProcState fake_proc_state(PgcHost *h, long pid)
{
	Proc *p = proc(h, pid);

	if (p == NULL)
		return HOST_PROC_GONE;
	return p->zombie ? HOST_PROC_ZOMBIE : HOST_PROC_LIVE;
}

static int fake_proc_comm(PgcHost *h, long pid, char *buf, size_t size)
{
	Proc *p = proc(h, pid);

	buf[0] = '\0';
	if (p == NULL)
		return -1;
	snprintf(buf, size, "%s", p->comm);
	return 0;
}

static int fake_proc_cwd(PgcHost *h, long pid, char *buf, size_t size)
{
	Proc *p = proc(h, pid);

	buf[0] = '\0';
	if (p == NULL || p->cwd[0] == '\0')
		return -1;
	snprintf(buf, size, "%s", p->cwd);
	return 0;
}

static ssize_t fake_proc_cmdline(PgcHost *h, long pid, char *buf, size_t size)
{
	Proc *p = proc(h, pid);
	size_t n;

	if (p == NULL)
		return -1;
	n = p->args_len < size - 1 ? p->args_len : size - 1;
	memcpy(buf, p->args, n);
	buf[n] = '\0';
	return (ssize_t)n;
}

static long fake_proc_parent(PgcHost *h, long pid)
{
	Proc *p = proc(h, pid);

	return p != NULL ? p->ppid : 0;
}

static int fake_signal(PgcHost *h, long pid, int sig)
{
	Proc *p = proc(h, pid);

	record(h, "signal %ld %d", pid, sig);
	if (p == NULL) {
		errno = ESRCH;
		return -1;
	}
	if ((sig == SIGKILL || sig == SIGTERM) && !p->zombie && !p->sticky)
		p->gone = true;
	return 0;
}

static int fake_proc_stat(PgcHost *h, long pid, PgcHostProcStat *st)
{
	Proc *p = proc(h, pid);

	if (p == NULL)
		return -1;
	*st = (PgcHostProcStat){.ppid = p->ppid, .state = p->zombie ? 'Z' : 'S', .cpu_s = p->cpu_s,
				.children_cpu_s = p->children_cpu_s,
				.start_ticks = (unsigned long long)p->pid};
	return 0;
}

static int fake_proc_io(PgcHost *h, long pid, PgcHostProcIo *io)
{
	Proc *p = proc(h, pid);

	if (p == NULL || p->zombie)
		return -1;
	*io = (PgcHostProcIo){p->read_bytes, p->write_bytes};
	return 0;
}

static ssize_t fake_proc_children(PgcHost *h, long pid, long *out, size_t max)
{
	Fake *f = fake(h);
	size_t n = 0;

	if (f->no_children || proc(h, pid) == NULL) {
		errno = ENOSYS;
		return -1;
	}
	for (size_t i = 0; i < f->n_procs && n < max; i++)
		if (f->procs[i].ppid == pid && !f->procs[i].gone)
			out[n++] = f->procs[i].pid;
	return (ssize_t)n;
}

static void fake_close(PgcHost *h)
{
	Fake *f = fake(h);

	for (size_t i = 0; i < f->n_files; i++) {
		free(f->files[i].path);
		free(f->files[i].content);
	}
	for (size_t i = 0; i < f->n_rules; i++) {
		free(f->rules[i].match);
		free(f->rules[i].output);
	}
	free(f->calls);
	free(f);
}

static const PgcHostOps fake_ops = {
	.name = "fake",
	.run = fake_run,
	.file_mtime = fake_file_mtime,
	.read_file = fake_read_file,
	.write_file = fake_write_file,
	.mkdir_p = fake_mkdir_p,
	.dir_state = fake_dir_state,
	.exists = fake_exists,
	.rename = fake_rename,
	.remove_file = fake_remove_file,
	.sync_dir = fake_sync_dir,
	.empty_dir = fake_empty_dir,
	.remove_tree = fake_remove_tree,
	.realpath = fake_realpath,
	.proc_each = fake_proc_each,
	.proc_state = fake_proc_state,
	.proc_comm = fake_proc_comm,
	.proc_cwd = fake_proc_cwd,
	.proc_cmdline = fake_proc_cmdline,
	.proc_parent = fake_proc_parent,
	.signal = fake_signal,
	.close = fake_close,
	.proc_stat = fake_proc_stat,
	.proc_io = fake_proc_io,
	.proc_children = fake_proc_children,
};

/* ---- the test's side -------------------------------------------------------------- */

PgcHost *fake_host_new(const char *os_user)
{
	Fake *f = calloc(1, sizeof *f);

	if (f == NULL)
		abort();
	f->calls = strdup("");
	return host_new(&fake_ops, "fake", os_user, f);
}

void fake_host_put(PgcHost *h, const char *path, const char *content)
{
	Fake *f = fake(h);
	Entry *e;

	if (content != NULL) {
		set_file(f, path, content, strlen(content), 0600);
		return;
	}
	if ((e = find(f, path)) != NULL)
		drop(f, e);
}

void fake_host_mkdir(PgcHost *h, const char *path)
{
	add_dirs(fake(h), path);
}

const char *fake_host_get(PgcHost *h, const char *path)
{
	Entry *e = find(fake(h), path);

	return e != NULL ? e->content : NULL;
}

bool fake_host_is_dir(PgcHost *h, const char *path)
{
	Entry *e = find(fake(h), path);

	return e != NULL && e->content == NULL;
}

void fake_host_script(PgcHost *h, const char *match, int status, const char *output)
{
	Fake *f = fake(h);
	Rule *r;

	if (f->n_rules == sizeof f->rules / sizeof f->rules[0])
		abort();
	r = &f->rules[f->n_rules++];
	r->match = strdup(match);
	r->output = strdup(output != NULL ? output : "");
	r->status = status;
	r->used = false;
}

void fake_host_proc(PgcHost *h, long pid, long ppid, const char *comm, const char *cwd,
		    const char *const *argv)
{
	Fake *f = fake(h);
	Proc *p;

	if (f->n_procs == sizeof f->procs / sizeof f->procs[0])
		abort();
	p = &f->procs[f->n_procs++];
	memset(p, 0, sizeof *p);
	p->pid = pid;
	p->ppid = ppid;
	snprintf(p->comm, sizeof p->comm, "%s", comm != NULL ? comm : "");
	snprintf(p->cwd, sizeof p->cwd, "%s", cwd != NULL ? cwd : "");
	for (size_t i = 0; argv != NULL && argv[i] != NULL; i++) {
		size_t n = strlen(argv[i]) + 1;

		if (p->args_len + n > sizeof p->args)
			abort();
		memcpy(p->args + p->args_len, argv[i], n);
		p->args_len += n;
	}
}

void fake_host_zombie(PgcHost *h, long pid)
{
	Proc *p = proc(h, pid);

	if (p != NULL)
		p->zombie = true;
}

void fake_host_sticky(PgcHost *h, long pid)
{
	Proc *p = proc(h, pid);

	if (p != NULL)
		p->sticky = true;
}

const char *fake_host_calls(PgcHost *h)
{
	return fake(h)->calls;
}

void fake_host_clear(PgcHost *h)
{
	Fake *f = fake(h);

	f->calls[0] = '\0';
	f->calls_len = 0;
}

void fake_host_proc_usage(PgcHost *h, long pid, double cpu_s, double children_cpu_s,
			  unsigned long long read_bytes, unsigned long long write_bytes)
{
	Proc *p = proc(h, pid);

	if (p == NULL)
		abort();
	p->cpu_s = cpu_s;
	p->children_cpu_s = children_cpu_s;
	p->read_bytes = read_bytes;
	p->write_bytes = write_bytes;
}

void fake_host_no_children(PgcHost *h)
{
	fake(h)->no_children = true;
}

void fake_host_fail_write(PgcHost *h, const char *path)
{
	snprintf(fake(h)->fail_write, sizeof fake(h)->fail_write, "%s", path != NULL ? path : "");
}
