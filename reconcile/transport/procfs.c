/*
 * reconcile/transport/procfs.c - this machine's processes through /proc (procfs.h).
 */
#include "reconcile/transport/procfs.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/*
 * read_small - a /proc file, NUL-terminated, without logging (processes
 * come and go). O_NOFOLLOW: the files read here are never links.
 */
static ssize_t read_small(const char *path, char *buf, size_t size)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	ssize_t n, total = 0;

	if (fd < 0)
		return -1;
	while ((size_t)total < size - 1 &&
	       (n = read(fd, buf + total, size - 1 - (size_t)total)) > 0)
		total += n;
	close(fd);
	buf[total] = '\0';
	return total;
}

int procfs_each(int (*fn)(long pid, void *arg), void *arg)
{
	DIR *d = opendir("/proc");
	struct dirent *e;
	int rc = 0;

	if (d == NULL)
		return -1;
	while (rc == 0 && (e = readdir(d)) != NULL) {
		char *end;
		long pid = strtol(e->d_name, &end, 10);

		if (*end != '\0' || pid <= 0 || pid == (long)getpid())
			continue;
		rc = fn(pid, arg);
	}
	closedir(d);
	return rc;
}

int procfs_state(long pid)
{
	char path[64], buf[512], *paren;
	size_t n;
	FILE *f;

	if (pid <= 0 || pid > INT_MAX || (kill((pid_t)pid, 0) != 0 && errno != EPERM))
		return 0;
	snprintf(path, sizeof path, "/proc/%ld/stat", pid);
	f = fopen(path, "re");
	if (f == NULL)
		return errno != ENOENT ? 2 : 0;
	n = fread(buf, 1, sizeof buf - 1, f);
	fclose(f);
	buf[n] = '\0';
	/* "pid (comm) S ...": the state follows the last ')'. */
	paren = strrchr(buf, ')');
	return paren == NULL || paren[1] == '\0' || paren[2] != 'Z' ? 2 : 1;
}

int procfs_comm(long pid, char *buf, size_t size)
{
	char path[64];
	FILE *f;

	buf[0] = '\0';
	snprintf(path, sizeof path, "/proc/%ld/comm", pid);
	f = fopen(path, "re");
	if (f == NULL)
		return -1;
	if (fgets(buf, (int)size, f) == NULL)
		buf[0] = '\0';
	fclose(f);
	buf[strcspn(buf, "\n")] = '\0';
	return 0;
}

int procfs_cwd(long pid, char *buf, size_t size)
{
	char path[64];
	ssize_t n;

	buf[0] = '\0';
	snprintf(path, sizeof path, "/proc/%ld/cwd", pid);
	n = readlink(path, buf, size - 1);
	if (n <= 0) {
		buf[0] = '\0';
		return -1;
	}
	buf[n] = '\0';
	return 0;
}

ssize_t procfs_cmdline(long pid, char *buf, size_t size)
{
	char path[64];

	snprintf(path, sizeof path, "/proc/%ld/cmdline", pid);
	return read_small(path, buf, size);
}

long procfs_parent(long pid)
{
	char path[64], buf[512], *close_paren;
	long ppid;

	snprintf(path, sizeof path, "/proc/%ld/stat", pid);
	if (read_small(path, buf, sizeof buf) <= 0 || (close_paren = strrchr(buf, ')')) == NULL ||
	    sscanf(close_paren + 1, " %*c %ld", &ppid) != 1)
		return 0;
	return ppid;
}

int procfs_stat(long pid, long *ppid, char *state, double *cpu_s, double *children_cpu_s,
		unsigned long long *start_ticks)
{
	char path[64], buf[1024], *close_paren;
	unsigned long long ut, st, start;
	long long cut, cst;
	long tck = sysconf(_SC_CLK_TCK);
	char s;
	long pp;

	snprintf(path, sizeof path, "/proc/%ld/stat", pid);
	/* After "(comm)": state ppid pgrp session tty tpgid flags minflt cminflt
	 * majflt cmajflt utime stime cutime cstime priority nice threads
	 * itrealvalue starttime (proc(5)). comm may hold spaces and ')'. */
	if (read_small(path, buf, sizeof buf) <= 0 || (close_paren = strrchr(buf, ')')) == NULL ||
	    sscanf(close_paren + 1,
		   " %c %ld %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu %lld %lld %*d %*d %*d %*d %llu",
		   &s, &pp, &ut, &st, &cut, &cst, &start) != 7)
		return -1;
	if (tck <= 0)
		tck = 100;
	*ppid = pp;
	*state = s;
	*cpu_s = (double)(ut + st) / (double)tck;
	*children_cpu_s = (double)(cut + cst) / (double)tck;
	*start_ticks = start;
	return 0;
}

int procfs_io(long pid, unsigned long long *read_bytes, unsigned long long *write_bytes)
{
	char path[64], buf[1024], *line, *nl;
	int found = 0;

	snprintf(path, sizeof path, "/proc/%ld/io", pid);
	if (read_small(path, buf, sizeof buf) <= 0)
		return -1;
	for (line = buf; line != NULL; line = (nl = strchr(line, '\n')) != NULL ? nl + 1 : NULL) {
		if (strncmp(line, "read_bytes: ", 12) == 0) {
			*read_bytes = strtoull(line + 12, NULL, 10);
			found |= 1;
		} else if (strncmp(line, "write_bytes: ", 13) == 0) {
			*write_bytes = strtoull(line + 13, NULL, 10);
			found |= 2;
		}
	}
	return found == 3 ? 0 : -1;
}

ssize_t procfs_children(long pid, long *out, size_t max)
{
	char path[64], *buf, *p, *end;
	size_t size = 16 * max + 16;
	ssize_t n = 0;

	snprintf(path, sizeof path, "/proc/%ld/task/%ld/children", pid, pid);
	buf = malloc(size);
	if (buf == NULL)
		return -1;
	if (read_small(path, buf, size) < 0) {
		free(buf);
		return -1;
	}
	for (p = buf; (size_t)n < max; p = end) {
		long child = strtol(p, &end, 10);

		if (end == p)
			break;
		if (child > 0)
			out[n++] = child;
	}
	free(buf);
	return n;
}
