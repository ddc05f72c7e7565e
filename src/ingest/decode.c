/*
 * decode.c - Content-Encoding of /ingest bodies: identity, gzip (one or more
 * concatenated members) and zstd (one or more frames).
 *
 * The limit is enforced while decompressing: the output buffer never grows
 * past max_out + 1 bytes, and the first byte beyond max_out stops the
 * decoder, so a small "zip bomb" costs at most max_out bytes of memory and
 * the time to produce them.
 */
#include "ingest_int.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <zlib.h>
#include <zstd.h>
#include <zstd_errors.h>

/* zstd windows: the decoder allocates the window a frame asks for, so it is
 * capped at the body limit (no frame needs a window larger than its output)
 * but at least 1 MiB, what small streaming-compressed bodies commonly ask. */
#define ZSTD_WLOG_MIN 20
#define ZSTD_WLOG_MAX 27

/* ---- Output buffer ------------------------------------------------------- */

typedef struct {
  uint8_t *data;
  size_t len;
  size_t cap;
  size_t limit; /* max_out + 1: reaching it means "too big" */
} out_t;

static void out_init(out_t *o, size_t in_len, size_t max_out) {
  o->limit = max_out == SIZE_MAX ? SIZE_MAX : max_out + 1;
  /* Compressed profiles typically expand 5-20x; start there. */
  size_t guess = in_len > SIZE_MAX / 8 ? SIZE_MAX : in_len * 8;
  if (guess < 4096) guess = 4096;
  o->cap = guess < o->limit ? guess : o->limit;
  o->data = ember_malloc(o->cap);
  o->len = 0;
}

/* Makes room for more output; false once the buffer is at its limit. */
static bool out_grow(out_t *o) {
  if (o->len < o->cap) return true;
  if (o->cap >= o->limit) return false;
  size_t c = o->cap > o->limit / 2 ? o->limit : o->cap * 2;
  o->data = ember_realloc(o->data, c);
  o->cap = c;
  return true;
}

/* An unparseable body (422), not an oversized one (413): the body that came
 * over the wire was within the limit, what it claims to hold is not, which
 * is what a compression bomb looks like. */
static int too_big(size_t max_out, ember_err_t *err) {
  return ember_err_set(err, EMBER_EPARSE,
                       "body: the decompressed body is larger than the limit of %zu "
                       "bytes; send smaller pushes or raise the server's body limit",
                       max_out);
}

/* ---- gzip ---------------------------------------------------------------- */

static int gunzip(const uint8_t *in, size_t len, size_t max_out, out_t *o,
                  ember_err_t *err) {
  z_stream zs;
  memset(&zs, 0, sizeof zs);
  if (inflateInit2(&zs, 16 + MAX_WBITS) != Z_OK)
    return ember_err_set(err, EMBER_EIO, "body: cannot start the gzip decoder");
  size_t in_left = len;
  int rc = EMBER_OK;
  zs.next_in = (Bytef *)in;
  for (;;) {
    if (!out_grow(o)) {
      rc = too_big(max_out, err);
      break;
    }
    /* avail_in/avail_out are 32-bit: feed and drain in pieces. */
    size_t in_chunk = in_left > UINT_MAX ? UINT_MAX : in_left;
    size_t out_room = o->cap - o->len > UINT_MAX ? UINT_MAX : o->cap - o->len;
    zs.avail_in = (uInt)in_chunk;
    zs.next_out = o->data + o->len;
    zs.avail_out = (uInt)out_room;
    int z = inflate(&zs, Z_NO_FLUSH);
    in_left -= in_chunk - zs.avail_in;
    o->len += out_room - zs.avail_out;
    if (o->len > max_out) {
      rc = too_big(max_out, err);
      break;
    }
    if (z == Z_STREAM_END) {
      if (in_left == 0) break;
      inflateReset(&zs); /* another gzip member follows */
    } else if (z == Z_BUF_ERROR && in_left == 0) {
      rc = ember_err_set(err, EMBER_EPARSE,
                         "body: the gzip stream is truncated (it ends inside a "
                         "member); send the whole compressed body");
      break;
    } else if (z != Z_OK && z != Z_BUF_ERROR) {
      rc = ember_err_set(err, EMBER_EPARSE,
                         "body: the gzip stream is corrupt (%s) at compressed byte "
                         "%zu; check that Content-Encoding matches the body",
                         zs.msg ? zs.msg : "bad data", len - in_left);
      break;
    }
  }
  inflateEnd(&zs);
  return rc;
}

/* ---- zstd ---------------------------------------------------------------- */

static int zstd_window_log(size_t max_out) {
  int wlog = ZSTD_WLOG_MIN;
  while (wlog < ZSTD_WLOG_MAX && ((size_t)1 << wlog) < max_out)
    wlog++;
  return wlog;
}

static int zstd_error(size_t r, int wlog, ember_err_t *err) {
  if (ZSTD_getErrorCode(r) == ZSTD_error_frameParameter_windowTooLarge)
    return ember_err_set(err, EMBER_ETOOBIG,
                         "body: the zstd frame needs a window larger than %zu bytes; "
                         "compress with a smaller window (without --long)",
                         (size_t)1 << wlog);
  return ember_err_set(err, EMBER_EPARSE,
                       "body: the zstd stream is corrupt (%s); check that "
                       "Content-Encoding matches the body",
                       ZSTD_getErrorName(r));
}

static int unzstd(const uint8_t *in, size_t len, size_t max_out, out_t *o,
                  ember_err_t *err) {
  ZSTD_DCtx *dctx = ZSTD_createDCtx();
  int wlog = zstd_window_log(max_out);
  int rc = EMBER_OK;
  if (!dctx) return ember_err_set(err, EMBER_EIO, "body: cannot start the zstd decoder");
  ZSTD_DCtx_setParameter(dctx, ZSTD_d_windowLogMax, wlog);
  ZSTD_inBuffer ib = {in, len, 0};
  for (;;) {
    if (!out_grow(o)) {
      rc = too_big(max_out, err);
      break;
    }
    ZSTD_outBuffer ob = {o->data, o->cap, o->len};
    size_t in_before = ib.pos, out_before = ob.pos;
    size_t r = ZSTD_decompressStream(dctx, &ob, &ib);
    o->len = ob.pos;
    if (ZSTD_isError(r)) {
      rc = zstd_error(r, wlog, err);
      break;
    }
    if (o->len > max_out) {
      rc = too_big(max_out, err);
      break;
    }
    if (r == 0 && ib.pos == ib.size) break; /* last frame complete */
    /* Input used up and room left, yet the frame is unfinished: cut off. */
    bool stuck = ib.pos == in_before && ob.pos == out_before;
    if ((ib.pos == ib.size && ob.pos < ob.size) || stuck) {
      rc = ember_err_set(err, EMBER_EPARSE,
                         "body: the zstd stream is truncated (it ends inside a "
                         "frame); send the whole compressed body");
      break;
    }
  }
  ZSTD_freeDCtx(dctx);
  return rc;
}

/* ---- API ----------------------------------------------------------------- */

int ember_ingest_decode(const char *encoding, const uint8_t *in, size_t len,
                        size_t max_out, uint8_t **out, size_t *out_len,
                        ember_err_t *err) {
  ingest_excerpt_t e;
  ember_slice_t enc = ember_slice_trim(
      ember_slice(encoding ? encoding : "", encoding ? strlen(encoding) : 0));
  enum { IDENTITY, GZIP, ZSTD } kind;
  if (enc.len == 0 || (enc.len == 8 && strncasecmp(enc.base, "identity", 8) == 0))
    kind = IDENTITY;
  else if ((enc.len == 4 && strncasecmp(enc.base, "gzip", 4) == 0) ||
           (enc.len == 6 && strncasecmp(enc.base, "x-gzip", 6) == 0))
    kind = GZIP;
  else if (enc.len == 4 && strncasecmp(enc.base, "zstd", 4) == 0)
    kind = ZSTD;
  else
    return ember_err_set(err, EMBER_EINVAL,
                         "unsupported Content-Encoding '%s'; send gzip or zstd, or "
                         "an uncompressed body",
                         ingest_excerpt(&e, enc.base, enc.len));
  if (kind == IDENTITY || len == 0) {
    /* An empty body decodes to nothing, whatever its declared encoding. */
    if (len > max_out) return too_big(max_out, err);
    uint8_t *copy = ember_malloc(len);
    if (len) memcpy(copy, in, len);
    *out = copy;
    *out_len = len;
    return EMBER_OK;
  }
  out_t o;
  out_init(&o, len, max_out);
  int rc = kind == GZIP ? gunzip(in, len, max_out, &o, err)
                        : unzstd(in, len, max_out, &o, err);
  if (rc) {
    free(o.data);
    return rc;
  }
  *out = o.data;
  *out_len = o.len;
  return EMBER_OK;
}
