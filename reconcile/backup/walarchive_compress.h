/*
 * reconcile/backup/walarchive_compress.h - the codecs of the WAL archive
 * (walarchive.h): gzip and zstd, whole files in memory, bounded by
 * WALARCHIVE_MAX_FILE. Errors are reported where they happen.
 */
#ifndef PGC_RECONCILE_BACKUP_WALARCHIVE_COMPRESS_H
#define PGC_RECONCILE_BACKUP_WALARCHIVE_COMPRESS_H

#include <stddef.h>

#include "schema/topology.h"

/*
 * walarchive_compress - in[0..len) compressed with c (gzip: zlib, gzip
 * format, level 6; zstd: level 3; none: a copy) into a malloc'd buffer
 * *out (caller frees). 0, or -1 (reported).
 */
int walarchive_compress(PgcCompression c, const void *in, size_t len, void **out, size_t *out_len);

/*
 * walarchive_decompress - the inverse; fails (reported, naming what) when
 * the data is not a complete, valid stream of that kind or would exceed
 * max bytes. *out is malloc'd (caller frees).
 */
int walarchive_decompress(PgcCompression c, const void *in, size_t len, size_t max,
			  const char *what, void **out, size_t *out_len);

#endif
