/*
 * gzip.c - one gzip member of a buffer, appended to an ember_buf_t: what
 * the Connect answers, the pprof export and the embedded web assets send.
 */
#include <limits.h>
#include <string.h>
#include <zlib.h>

#include "ember/common.h"

int ember_gzip_append(ember_buf_t *out, const void *in, size_t n, int level) {
  z_stream zs;
  memset(&zs, 0, sizeof zs);
  /* avail_in and avail_out are 32-bit, and the bound is a little more than n. */
  if (n > UINT_MAX / 2 ||
      deflateInit2(&zs, level, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY) != Z_OK)
    return -1;
  uLong bound = deflateBound(&zs, (uLong)n);
  ember_buf_reserve(out, bound);
  zs.next_in = (Bytef *)in;
  zs.avail_in = (uInt)n;
  zs.next_out = (Bytef *)out->data + out->len;
  zs.avail_out = (uInt)bound;
  int z = deflate(&zs, Z_FINISH);
  deflateEnd(&zs);
  if (z != Z_STREAM_END) return -1;
  out->len += zs.total_out;
  out->data[out->len] = '\0';
  return 0;
}
