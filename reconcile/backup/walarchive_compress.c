/*
 * reconcile/backup/walarchive_compress.c - gzip and zstd for the WAL
 * archive (walarchive_compress.h). Needs zlib and libzstd: the lean
 * pgconverge executable links it (cmd/front.c).
 */
#include "reconcile/backup/walarchive_compress.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <zlib.h>
#include <zstd.h>

#include "common/log.h"
#include "reconcile/backup/walarchive.h"

#define GZIP_LEVEL 6
#define ZSTD_LEVEL 3

/* ---- compression -------------------------------------------------------- */

int walarchive_compress(PgcCompression c, const void *in, size_t len, void **out, size_t *out_len)
{
	*out = NULL;
	*out_len = 0;
	if (c == COMPRESS_GZIP) {
		z_stream zs = {0};
		uLong bound;
		int zrc;

		if (len > WALARCHIVE_MAX_FILE) {
			log_error("could not compress: %zu bytes is more than a WAL file holds", len);
			return -1;
		}
		/* windowBits 15 + 16: a gzip header and trailer, readable by gzip(1). */
		if (deflateInit2(&zs, GZIP_LEVEL, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK) {
			log_error("could not start gzip compression: %s", zs.msg ? zs.msg : "zlib error");
			return -1;
		}
		bound = deflateBound(&zs, (uLong)len);
		*out = malloc(bound);
		if (*out == NULL)
			abort();
		zs.next_in = (Bytef *)(uintptr_t)in;
		zs.avail_in = (uInt)len;
		zs.next_out = *out;
		zs.avail_out = (uInt)bound;
		zrc = deflate(&zs, Z_FINISH);
		*out_len = zs.total_out;
		deflateEnd(&zs);
		if (zrc != Z_STREAM_END) {
			log_error("could not compress with gzip: zlib error %d", zrc);
			free(*out);
			*out = NULL;
			return -1;
		}
		return 0;
	}
	if (c == COMPRESS_ZSTD) {
		size_t bound = ZSTD_compressBound(len), n;

		*out = malloc(bound > 0 ? bound : 1);
		if (*out == NULL)
			abort();
		n = ZSTD_compress(*out, bound, in, len, ZSTD_LEVEL);
		if (ZSTD_isError(n)) {
			log_error("could not compress with zstd: %s", ZSTD_getErrorName(n));
			free(*out);
			*out = NULL;
			return -1;
		}
		*out_len = n;
		return 0;
	}
	*out = malloc(len > 0 ? len : 1);
	if (*out == NULL)
		abort();
	memcpy(*out, in, len);
	*out_len = len;
	return 0;
}

/* grow - doubles *buf's capacity, up to max + 1 (one byte more shows an overflow). */
static int grow(unsigned char **buf, size_t *cap, size_t max)
{
	size_t want = *cap < 65536 ? 65536 : *cap * 2;
	unsigned char *p;

	if (*cap > max)
		return -1;
	if (want > max + 1)
		want = max + 1;
	p = realloc(*buf, want);
	if (p == NULL)
		abort();
	*buf = p;
	*cap = want;
	return 0;
}

static int gunzip(const void *in, size_t len, size_t max, const char *what, unsigned char **out,
		  size_t *out_len)
{
	z_stream zs = {0};
	size_t cap = 0;
	int zrc = Z_OK;

	if (inflateInit2(&zs, 15 + 16) != Z_OK) {
		log_error("could not start gzip decompression: %s", zs.msg ? zs.msg : "zlib error");
		return -1;
	}
	zs.next_in = (Bytef *)(uintptr_t)in;
	zs.avail_in = (uInt)len;
	while (zrc != Z_STREAM_END) {
		if (zs.total_out >= cap && grow(out, &cap, max) != 0)
			break;
		zs.next_out = *out + zs.total_out;
		zs.avail_out = (uInt)(cap - zs.total_out);
		zrc = inflate(&zs, Z_NO_FLUSH);
		if (zrc != Z_OK && zrc != Z_STREAM_END && !(zrc == Z_BUF_ERROR && zs.avail_out == 0))
			break;
	}
	*out_len = zs.total_out;
	inflateEnd(&zs);
	if (zrc != Z_STREAM_END || *out_len > max) {
		log_error("could not decompress %s: %s", what,
			  *out_len > max ? "larger than a WAL file can be"
					 : zrc == Z_BUF_ERROR ? "the gzip stream is truncated"
							      : "not valid gzip data");
		return -1;
	}
	if (zs.avail_in != 0) {
		log_error("could not decompress %s: data after the end of the gzip stream", what);
		return -1;
	}
	return 0;
}

static int unzstd(const void *in, size_t len, size_t max, const char *what, unsigned char **out,
		  size_t *out_len)
{
	ZSTD_DStream *ds = ZSTD_createDStream();
	ZSTD_inBuffer ib = {in, len, 0};
	size_t cap = 0, left = 1;
	const char *why = NULL;

	if (ds == NULL)
		abort();
	*out_len = 0;
	while (ib.pos < ib.size || left != 0) {
		ZSTD_outBuffer ob;
		size_t before_in = ib.pos;

		if (*out_len >= cap && grow(out, &cap, max) != 0) {
			why = "larger than a WAL file can be";
			break;
		}
		ob = (ZSTD_outBuffer){*out, cap, *out_len};
		left = ZSTD_decompressStream(ds, &ob, &ib);
		if (ZSTD_isError(left)) {
			why = ZSTD_getErrorName(left);
			break;
		}
		if (ob.pos == *out_len && ib.pos == before_in && ob.pos < cap) {
			why = "the zstd stream is truncated";
			break;
		}
		*out_len = ob.pos;
		if (left == 0 && ib.pos < ib.size) {
			why = "data after the end of the zstd frame";
			break;
		}
	}
	ZSTD_freeDStream(ds);
	if (why == NULL && *out_len > max)
		why = "larger than a WAL file can be";
	if (why != NULL) {
		log_error("could not decompress %s: %s", what, why);
		return -1;
	}
	return 0;
}

int walarchive_decompress(PgcCompression c, const void *in, size_t len, size_t max,
			  const char *what, void **out, size_t *out_len)
{
	unsigned char *buf = NULL;
	int rc;

	*out = NULL;
	*out_len = 0;
	if (c == COMPRESS_GZIP)
		rc = gunzip(in, len, max, what, &buf, out_len);
	else if (c == COMPRESS_ZSTD)
		rc = unzstd(in, len, max, what, &buf, out_len);
	else {
		if (len > max) {
			log_error("could not read %s: larger than a WAL file can be", what);
			return -1;
		}
		buf = malloc(len > 0 ? len : 1);
		if (buf == NULL)
			abort();
		memcpy(buf, in, len);
		*out_len = len;
		rc = 0;
	}
	if (rc != 0) {
		free(buf);
		*out_len = 0;
		return -1;
	}
	*out = buf;
	return 0;
}
