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

/* read_small - a /proc file, NUL-terminated, without logging (processes come and go). */
static ssize_t read_small(const char *path, char *buf, size_t size)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
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
