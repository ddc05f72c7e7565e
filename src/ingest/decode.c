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
/* For the decoder's memory estimates, which libzstd exports but files under
 * its advanced API. */
#define ZSTD_STATIC_LINKING_ONLY
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
  size_t max_out;
  const ingest_ctx_t *c; /* whose budget the capacity is taken from */
} out_t;

/* An unparseable body (422), not an oversized one (413): the body that came
 * over the wire was within the limit, what it claims to hold is not, which
 * is what a compression bomb looks like. */
static int too_big(size_t max_out, ember_err_t *err) {
  return ember_err_set(err, EMBER_EPARSE,
                       "body: the decompressed body is larger than the limit of %zu "
                       "bytes; send smaller pushes or raise the server's body limit",
                       max_out);
}

static int out_init(out_t *o, size_t in_len, const ingest_ctx_t *c, ember_err_t *err) {
  o->max_out = c->max_body;
  o->limit = c->max_body == SIZE_MAX ? SIZE_MAX : c->max_body + 1;
  o->c = c;
  o->len = 0;
  o->data = NULL;
  /* Compressed profiles typically expand 5-20x; start there. */
  size_t guess = in_len > SIZE_MAX / 8 ? SIZE_MAX : in_len * 8;
  if (guess < 4096) guess = 4096;
  o->cap = guess < o->limit ? guess : o->limit;
  int rc = ingest_budget_take(c, o->cap, err);
  if (rc) {
    o->cap = 0;
    return rc;
  }
  o->data = ember_malloc(o->cap);
  return EMBER_OK;
}

/* Makes room for more output: too_big once the buffer is at its limit,
 * EMBER_EBUSY when the budget has no room for the growth. */
static int out_grow(out_t *o, ember_err_t *err) {
  if (o->len < o->cap) return EMBER_OK;
  if (o->cap >= o->limit) return too_big(o->max_out, err);
  size_t c = o->cap > o->limit / 2 ? o->limit : o->cap * 2;
  int rc = ingest_budget_take(o->c, c - o->cap, err);
  if (rc) return rc;
  o->data = ember_realloc(o->data, c);
  o->cap = c;
  return EMBER_OK;
}

static void out_free(out_t *o) {
  free(o->data);
  ingest_budget_give(o->c, o->cap);
  o->data = NULL;
  o->cap = 0;
}

/* ---- gzip ---------------------------------------------------------------- */

static int gunzip(const uint8_t *in, size_t len, out_t *o, ember_err_t *err) {
  z_stream zs;
  memset(&zs, 0, sizeof zs);
  if (inflateInit2(&zs, 16 + MAX_WBITS) != Z_OK)
    return ember_err_set(err, EMBER_EIO, "body: cannot start the gzip decoder");
  size_t in_left = len;
  int rc = EMBER_OK;
  zs.next_in = (Bytef *)in;
  for (;;) {
    rc = out_grow(o, err);
    if (rc) break;
    /* avail_in/avail_out are 32-bit: feed and drain in pieces. */
    size_t in_chunk = in_left > UINT_MAX ? UINT_MAX : in_left;
    size_t out_room = o->cap - o->len > UINT_MAX ? UINT_MAX : o->cap - o->len;
    zs.avail_in = (uInt)in_chunk;
    zs.next_out = o->data + o->len;
    zs.avail_out = (uInt)out_room;
    int z = inflate(&zs, Z_NO_FLUSH);
    in_left -= in_chunk - zs.avail_in;
    o->len += out_room - zs.avail_out;
    if (o->len > o->max_out) {
      rc = too_big(o->max_out, err);
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

/* What the decoder will allocate: its window is as large as the largest
 * that any frame asks for, up to what wlog allows. A frame it cannot size
 * counts for nothing here; decoding it fails anyway. */
static size_t zstd_dctx_bytes(const uint8_t *in, size_t len, int wlog) {
  size_t most = 0;
  while (len > 0) {
    size_t need = ZSTD_estimateDStreamSize_fromFrame(in, len);
    if (!ZSTD_isError(need) && need > most) most = need;
    size_t frame = ZSTD_findFrameCompressedSize(in, len);
    if (ZSTD_isError(frame) || frame == 0 || frame > len) break;
    in += frame;
    len -= frame;
  }
  size_t cap = ZSTD_estimateDStreamSize((size_t)1 << wlog);
  return most < cap ? most : cap;
}

static int unzstd(const uint8_t *in, size_t len, out_t *o, ember_err_t *err) {
  int wlog = zstd_window_log(o->max_out);
  size_t dbytes = zstd_dctx_bytes(in, len, wlog);
  int rc = ingest_budget_take(o->c, dbytes, err);
  if (rc) return rc;
  ZSTD_DCtx *dctx = ZSTD_createDCtx();
  if (!dctx) {
    ingest_budget_give(o->c, dbytes);
    return ember_err_set(err, EMBER_EIO, "body: cannot start the zstd decoder");
  }
  ZSTD_DCtx_setParameter(dctx, ZSTD_d_windowLogMax, wlog);
  ZSTD_inBuffer ib = {in, len, 0};
  for (;;) {
    rc = out_grow(o, err);
    if (rc) break;
    ZSTD_outBuffer ob = {o->data, o->cap, o->len};
    size_t in_before = ib.pos, out_before = ob.pos;
    size_t r = ZSTD_decompressStream(dctx, &ob, &ib);
    o->len = ob.pos;
    if (ZSTD_isError(r)) {
      rc = zstd_error(r, wlog, err);
      break;
    }
    if (o->len > o->max_out) {
      rc = too_big(o->max_out, err);
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
  ingest_budget_give(o->c, dbytes);
  return rc;
}

/* ---- API ----------------------------------------------------------------- */

typedef enum { IDENTITY, GZIP, ZSTD } encoding_t;

static int pick_encoding(const char *encoding, encoding_t *out, ember_err_t *err) {
  ingest_excerpt_t e;
  ember_slice_t enc = ember_slice_trim(
      ember_slice(encoding ? encoding : "", encoding ? strlen(encoding) : 0));
  if (enc.len == 0 || (enc.len == 8 && strncasecmp(enc.base, "identity", 8) == 0))
    *out = IDENTITY;
  else if ((enc.len == 4 && strncasecmp(enc.base, "gzip", 4) == 0) ||
           (enc.len == 6 && strncasecmp(enc.base, "x-gzip", 6) == 0))
    *out = GZIP;
  else if (enc.len == 4 && strncasecmp(enc.base, "zstd", 4) == 0)
    *out = ZSTD;
  else
    return ember_err_set(err, EMBER_EINVAL,
                         "unsupported Content-Encoding '%s'; send gzip or zstd, or "
                         "an uncompressed body",
                         ingest_excerpt(&e, enc.base, enc.len));
  return EMBER_OK;
}

int ingest_decode(const char *encoding, const uint8_t *in, size_t len,
                  const ingest_ctx_t *c, ingest_buf_t *out, ember_err_t *err) {
  encoding_t kind;
  int rc = pick_encoding(encoding, &kind, err);
  if (rc) return rc;
  if (kind == IDENTITY || len == 0) {
    /* An empty body decodes to nothing, whatever its declared encoding. */
    if (len > c->max_body) return too_big(c->max_body, err);
    *out = (ingest_buf_t){in, len, NULL, 0};
    return EMBER_OK;
  }
  out_t o;
  rc = out_init(&o, len, c, err);
  if (rc == EMBER_OK)
    rc = kind == GZIP ? gunzip(in, len, &o, err) : unzstd(in, len, &o, err);
  if (rc) {
    out_free(&o);
    return rc;
  }
  *out = (ingest_buf_t){o.data, o.len, o.data, o.cap};
  return EMBER_OK;
}

void ingest_buf_free(const ingest_ctx_t *c, ingest_buf_t *b) {
  if (!b) return;
  free(b->owned);
  ingest_budget_give(c, b->taken);
  memset(b, 0, sizeof *b);
}

int ember_ingest_decode(const char *encoding, const uint8_t *in, size_t len,
                        size_t max_out, uint8_t **out, size_t *out_len,
                        ember_err_t *err) {
  ingest_ctx_t c;
  ingest_buf_t b;
  ingest_ctx_init(&c, NULL, max_out, NULL);
  int rc = ingest_decode(encoding, in, len, &c, &b, err);
  if (rc) return rc;
  if (!b.owned) { /* identity: the caller gets a copy */
    b.owned = ember_malloc(len ? len : 1);
    if (len) memcpy(b.owned, in, len);
  }
  *out = b.owned;
  *out_len = b.len;
  return EMBER_OK;
}
