/*
 * reconcile/pg/walarchive_cmd.c - the WAL archive's compression names and
 * the archive/restore commands (walarchive_cmd.h). Needs libc only: the
 * lean pgconverge executable links it (cmd/front.c).
 */
#include "reconcile/pg/walarchive_cmd.h"

#include <stdbool.h>
#include <string.h>

typedef struct {
	PgcCompression c;
	const char *name;
	const char *suffix;
} Compression;

/* The first row is also what an unknown value reads as. */
static const Compression compressions[] = {
	{COMPRESS_NONE, "none", ""},
	{COMPRESS_GZIP, "gzip", ".gz"},
	{COMPRESS_ZSTD, "zstd", ".zst"},
};

#define N_COMPRESSIONS (sizeof(compressions) / sizeof(compressions[0]))

_Static_assert(N_COMPRESSIONS == WALARCHIVE_N_COMPRESSIONS, "one row per compression");

const PgcCompression walarchive_compressions[WALARCHIVE_N_COMPRESSIONS] = {
	COMPRESS_NONE,
	COMPRESS_GZIP,
	COMPRESS_ZSTD,
};

/* compression_of - c's row of the table; the first row (none) when c is not there. */
static const Compression *compression_of(PgcCompression c)
{
	size_t i;

	for (i = 0; i < N_COMPRESSIONS; i++)
		if (compressions[i].c == c)
			return &compressions[i];
	return &compressions[0];
}

const char *walarchive_compression_name(PgcCompression c)
{
	return compression_of(c)->name;
}

const char *walarchive_compression_suffix(PgcCompression c)
{
	return compression_of(c)->suffix;
}

int walarchive_parse_compression(const char *name, PgcCompression *c)
{
	size_t i;

	for (i = 0; name != NULL && i < N_COMPRESSIONS; i++) {
		if (strcmp(compressions[i].name, name) == 0) {
			*c = compressions[i].c;
			return 0;
		}
	}
	return -1;
}

/* ---- archive_command / restore_command ---------------------------------- */

static bool shell_safe(const char *w)
{
	if (*w == '\0')
		return false;
	for (; *w != '\0'; w++)
		if (!((*w >= 'a' && *w <= 'z') || (*w >= 'A' && *w <= 'Z') || (*w >= '0' && *w <= '9') ||
		      strchr("_@%+=:,./-", *w) != NULL))
			return false;
	return true;
}

/* shell_word - w for /bin/sh; with escape_percent, each '%' doubled for the server first. */
static const char *shell_word(PgcArena *a, const char *w, bool escape_percent)
{
	size_t n = strlen(w), i;
	char *out = arena_alloc(a, 4 * n + 3), *p = out;
	bool quote = !shell_safe(w);

	if (quote)
		*p++ = '\'';
	for (i = 0; i < n; i++) {
		if (w[i] == '\'') {
			memcpy(p, "'\\''", 4);
			p += 4;
			continue;
		}
		if (w[i] == '%' && escape_percent)
			*p++ = '%';
		*p++ = w[i];
	}
	if (quote)
		*p++ = '\'';
	*p = '\0';
	return out;
}

const char *walarchive_archive_command(PgcArena *a, const char *bin, const char *repository,
				       PgcCompression c)
{
	const char *cmd = arena_printf(a, "%s wal-push --repository %s", shell_word(a, bin, true),
				       shell_word(a, repository, true));

	if (c != COMPRESS_NONE)
		cmd = arena_printf(a, "%s --compress %s", cmd, walarchive_compression_name(c));
	return arena_printf(a, "%s %%p %%f", cmd);
}

const char *walarchive_restore_command(PgcArena *a, const char *bin, const char *repository)
{
	return arena_printf(a, "%s wal-fetch --repository %s %%f %%p", shell_word(a, bin, true),
			    shell_word(a, repository, true));
}

const char *walarchive_standby_restore_command(PgcArena *a, const char *bin, const char *repository)
{
	return arena_printf(a, "%s wal-fetch --repository %s --unreachable-ok %%f %%p",
			    shell_word(a, bin, true), shell_word(a, repository, true));
}
