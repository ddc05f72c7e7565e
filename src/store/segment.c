/*
 * segment.c - encoding and decoding of segment blobs (see segment.h for the
 * format and docs/storage.md for the bytes).
 *
 * Decoding trusts nothing: a blob comes from disk, where a bad sector, a
 * hand edit or a bug in an older version may have changed it. Every length
 * is checked before it is used, the decompressed size is bounded before
 * anything is allocated, and every rule the encoder follows (ids strictly
 * increasing and within 32 bits, values non-zero, no trailing bytes) is
 * checked again, so a damaged row becomes an error message, never a crash.
 */
#include "store/segment.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zstd.h>

/* zstd level 3 (its default) compresses typical rows 3-5x at a few hundred
 * MB/s; higher levels gain little on blobs this small. */
#define SEG_ZSTD_LEVEL 3

struct ember_seg_codec {
  ZSTD_CCtx *cctx;
  ZSTD_DCtx *dctx;
  size_t max_raw;           /* payload bound, both ways: EMBER_SEG_MAX_RAW */
  ember_buf_t raw;          /* uncompressed payload scratch */
  ember_seg_pair_t *pairs;  /* decoded pairs, handed out borrowed */
  size_t pairs_cap;
  ember_buf_t span;         /* a span blob's pairs before its header goes on */
  uint64_t totals[EMBER_SEG_SPAN_MAX]; /* a span header's, handed out borrowed */
};

ember_seg_codec_t *ember_seg_codec_new(void) {
  ember_seg_codec_t *c = ember_calloc(1, sizeof *c);
  c->cctx = ZSTD_createCCtx();
  c->dctx = ZSTD_createDCtx();
  c->max_raw = EMBER_SEG_MAX_RAW;
  if (!c->cctx || !c->dctx) {
    /* zstd fails here only when out of memory, which aborts everywhere. */
    fputs("ember: out of memory creating zstd contexts\n", stderr);
    abort();
  }
  return c;
}

void ember_seg_codec_free(ember_seg_codec_t *c) {
  if (!c) return;
  ZSTD_freeCCtx(c->cctx);
  ZSTD_freeDCtx(c->dctx);
  ember_buf_free(&c->raw);
  ember_buf_free(&c->span);
  free(c->pairs);
  free(c);
}

void ember_seg_codec_set_max_raw(ember_seg_codec_t *c, size_t max_raw) {
  c->max_raw = max_raw;
}

/* ---- Encoding ---------------------------------------------------------- */

/* A row the decoder would call corrupt must never be written: it would
 * make its bucket unreadable for good. */
static int too_big(const ember_seg_codec_t *c, size_t n, ember_err_t *err) {
  return ember_err_set(err, EMBER_ETOOBIG,
                       "%zu distinct stacks are too many for one stored row (its "
                       "pairs would pass the %zu MiB a row may hold); send smaller "
                       "profiles, or fewer distinct stacks per push",
                       n, c->max_raw >> 20);
}

/* Writes v as a varint at p (room for 10 bytes); returns the bytes used. */
static size_t put_varint(uint8_t *p, uint64_t v) {
  size_t n = 0;
  for (; v >= 0x80; v >>= 7) p[n++] = (uint8_t)(v | 0x80);
  p[n++] = (uint8_t)v;
  return n;
}

int ember_seg_encode(ember_seg_codec_t *c, const ember_seg_pair_t *pairs,
                     size_t n, ember_buf_t *out, ember_err_t *err) {
  /* Every pair takes at least two bytes: refuse before building anything. */
  if (n > c->max_raw / 2) return too_big(c, n, err);
  ember_buf_reset(&c->raw);
  ember_varint_put(&c->raw, n);
  uint32_t prev = 0;
  for (size_t i = 0; i < n; i++) {
    if ((i > 0 && pairs[i].stack <= prev) || pairs[i].value == 0 ||
        pairs[i].stack == UINT32_MAX)
      return ember_err_set(err, EMBER_EINVAL,
                           "segment pair %zu is out of order or zero (stack %u)",
                           i, pairs[i].stack);
    /* Written in place: a pair is at most 15 bytes. */
    ember_buf_reserve(&c->raw, 15);
    uint8_t *p = (uint8_t *)c->raw.data + c->raw.len;
    size_t k = put_varint(p, pairs[i].stack - prev);
    c->raw.len += k + put_varint(p + k, pairs[i].value);
    if (c->raw.len > c->max_raw) return too_big(c, n, err);
    prev = pairs[i].stack;
  }
  c->raw.data[c->raw.len] = '\0'; /* an ember_buf_t stays a string */
  size_t bound = ZSTD_compressBound(c->raw.len);
  size_t base = out->len;
  ember_buf_reserve(out, 1 + bound);
  out->data[base] = EMBER_SEG_VERSION;
  /* ZSTD_compressCCtx writes the content size into the frame header, which
   * the decoder needs to bound its allocation. */
  size_t z = ZSTD_compressCCtx(c->cctx, out->data + base + 1, bound, c->raw.data,
                               c->raw.len, SEG_ZSTD_LEVEL);
  if (ZSTD_isError(z))
    return ember_err_set(err, EMBER_EIO, "cannot compress a segment: %s",
                         ZSTD_getErrorName(z));
  out->len = base + 1 + z;
  out->data[out->len] = '\0';
  return 0;
}

/* ---- Decoding ---------------------------------------------------------- */

static int corrupt(ember_err_t *err, const char *why) {
  return ember_err_set(err, EMBER_EIO, "corrupt segment: %s", why);
}

/* Decompresses the zstd frame after the version byte into c->raw. */
static int inflate(ember_seg_codec_t *c, const uint8_t *z, size_t zlen,
                   ember_err_t *err) {
  unsigned long long size = ZSTD_getFrameContentSize(z, zlen);
  if (size == ZSTD_CONTENTSIZE_ERROR) return corrupt(err, "not a zstd frame");
  if (size == ZSTD_CONTENTSIZE_UNKNOWN)
    return corrupt(err, "zstd frame does not state its size");
  if (size > c->max_raw) return corrupt(err, "stated size is too large");
  if (size == 0) return corrupt(err, "empty payload");
  ember_buf_reset(&c->raw);
  ember_buf_reserve(&c->raw, (size_t)size);
  size_t got = ZSTD_decompressDCtx(c->dctx, c->raw.data, (size_t)size, z, zlen);
  if (ZSTD_isError(got)) {
    ember_err_set(err, EMBER_EIO, "corrupt segment: zstd says %s",
                  ZSTD_getErrorName(got));
    return EMBER_EIO;
  }
  if (got != size) return corrupt(err, "payload shorter than stated");
  c->raw.len = got;
  return 0;
}

/* Parses the varint payload in c->raw into c->pairs. */
static int parse(ember_seg_codec_t *c, size_t *n_out, uint64_t *total_out,
                 ember_err_t *err) {
  const uint8_t *p = (const uint8_t *)c->raw.data;
  const uint8_t *end = p + c->raw.len;
  uint64_t n, total = 0, id = 0;
  if (ember_varint_get(&p, end, &n) != 0) return corrupt(err, "bad pair count");
  /* Each pair takes at least two bytes, which bounds n by the payload. */
  if (n > (uint64_t)(end - p) / 2) return corrupt(err, "pair count exceeds payload");
  ember_grow((void **)&c->pairs, &c->pairs_cap, (size_t)n, sizeof *c->pairs);
  for (uint64_t i = 0; i < n; i++) {
    uint64_t delta, value;
    if (ember_varint_get(&p, end, &delta) != 0 ||
        ember_varint_get(&p, end, &value) != 0)
      return corrupt(err, "truncated pair");
    if (i > 0 && delta == 0) return corrupt(err, "stack ids not increasing");
    if (delta >= UINT32_MAX - id) return corrupt(err, "stack id beyond 32 bits");
    if (value == 0) return corrupt(err, "zero value");
    id += delta;
    c->pairs[i].stack = (uint32_t)id;
    c->pairs[i].value = value;
    total = ember_sat_add(total, value);
  }
  if (p != end) return corrupt(err, "trailing bytes after the pairs");
  *n_out = (size_t)n;
  *total_out = total;
  return 0;
}

/* ---- Span headers ------------------------------------------------------ */

static uint64_t zigzag(uint64_t d) {
  return (d << 1) ^ (uint64_t)-(int64_t)(d >> 63);
}

static uint64_t unzigzag(uint64_t z) {
  return (z >> 1) ^ (uint64_t)-(int64_t)(z & 1);
}

/* Parses the header of the span blob b. Writes h (totals into `totals`
 * when not NULL, which must hold EMBER_SEG_SPAN_MAX entries) and the offset
 * of the zstd frame into *frame. */
static int span_parse(const uint8_t *b, size_t len, ember_seg_span_t *h,
                      uint64_t *totals, size_t *frame, ember_err_t *err) {
  const uint8_t *p = b + 1, *end = b + len;
  uint64_t offset, length, n, prev = 0;
  if (ember_varint_get(&p, end, &offset) != 0 || ember_varint_get(&p, end, &length) != 0 ||
      offset > UINT32_MAX || length > UINT32_MAX || p == end)
    return corrupt(err, "bad span header");
  uint8_t flags = *p++;
  if (flags > 1) return corrupt(err, "unknown span flags");
  if (ember_varint_get(&p, end, &n) != 0 || n < 2 || n > EMBER_SEG_SPAN_MAX)
    return corrupt(err, "bad span bucket count");
  for (uint64_t i = 0; flags == 0 && i < n; i++) {
    uint64_t z;
    if (ember_varint_get(&p, end, &z) != 0) return corrupt(err, "truncated span totals");
    prev += unzigzag(z);
    if (totals) totals[i] = prev;
  }
  if (p == end) return corrupt(err, "span blob has no pairs");
  h->offset = (uint32_t)offset;
  h->length = (uint32_t)length;
  h->replicate = flags == 1;
  h->n = (size_t)n;
  h->totals = NULL;
  *frame = (size_t)(p - b);
  return 0;
}

int ember_seg_span_header(ember_seg_codec_t *c, const void *blob, size_t len,
                          ember_seg_span_t *h, ember_err_t *err) {
  const uint8_t *b = blob;
  size_t frame;
  if (len < 2 || !b || b[0] != EMBER_SEG_SPAN_VERSION)
    return corrupt(err, "not a span blob");
  ember_seg_span_t got;
  int rc = span_parse(b, len, &got, c->totals, &frame, err);
  if (rc != 0) return rc;
  if (!got.replicate) got.totals = c->totals;
  *h = got;
  return 0;
}

int ember_seg_encode_span(ember_seg_codec_t *c, const ember_seg_span_t *h,
                          const ember_seg_pair_t *pairs, size_t n, ember_buf_t *out,
                          ember_err_t *err) {
  if (h->n < 2 || h->n > EMBER_SEG_SPAN_MAX || (!h->replicate && !h->totals))
    return ember_err_set(err, EMBER_EINVAL, "a span of %zu buckets cannot be encoded",
                         h->n);
  ember_buf_reset(&c->span);
  int rc = ember_seg_encode(c, pairs, n, &c->span, err);
  if (rc != 0) return rc;
  ember_buf_putc(out, EMBER_SEG_SPAN_VERSION);
  ember_varint_put(out, h->offset);
  ember_varint_put(out, h->length);
  ember_buf_putc(out, h->replicate ? 1 : 0);
  ember_varint_put(out, h->n);
  uint64_t prev = 0;
  for (size_t i = 0; !h->replicate && i < h->n; i++) {
    /* Differences wrap modulo 2^64, which the decoder undoes exactly. */
    ember_varint_put(out, zigzag(h->totals[i] - prev));
    prev = h->totals[i];
  }
  /* The frame follows the version 1 byte of the scratch encoding. */
  ember_buf_append(out, c->span.data + 1, c->span.len - 1);
  return 0;
}

int ember_seg_decode(ember_seg_codec_t *c, const void *blob, size_t len,
                     const ember_seg_pair_t **pairs, size_t *n, uint64_t *total,
                     ember_err_t *err) {
  const uint8_t *b = blob;
  size_t count = 0;
  uint64_t sum = 0;
  size_t skip = 1;
  if (len < 2 || !b) return corrupt(err, "blob too short");
  if (b[0] == EMBER_SEG_SPAN_VERSION) {
    ember_seg_span_t h;
    int rc = span_parse(b, len, &h, NULL, &skip, err);
    if (rc != 0) return rc;
  } else if (b[0] != EMBER_SEG_VERSION) {
    return ember_err_set(err, EMBER_EIO,
                         "corrupt segment: unknown format version %u "
                         "(this build reads versions %d and %d)",
                         b[0], EMBER_SEG_VERSION, EMBER_SEG_SPAN_VERSION);
  }
  int rc = inflate(c, b + skip, len - skip, err);
  if (rc == 0) rc = parse(c, &count, &sum, err);
  if (rc != 0) return rc;
  *pairs = c->pairs;
  *n = count;
  *total = sum;
  return 0;
}

/* ---- Summing ----------------------------------------------------------- */

/* A uvarint, with the one-byte case (most stack id differences and small
 * values) inline; the general case is ember_varint_get. */
static inline int get_varint(const uint8_t **p, const uint8_t *end, uint64_t *out) {
  if (*p < end && **p < 0x80) {
    *out = *(*p)++;
    return 0;
  }
  return ember_varint_get(p, end, out);
}

int ember_seg_sum(ember_seg_codec_t *c, const void *blob, size_t len,
                  const ember_seg_sum_t *into, ember_seg_summed_t *out,
                  ember_err_t *err) {
  const uint8_t *b = blob;
  if (len < 2 || !b) return corrupt(err, "blob too short");
  if (b[0] != EMBER_SEG_VERSION)
    return b[0] == EMBER_SEG_SPAN_VERSION
               ? corrupt(err, "a span blob where a bucket blob belongs")
               : ember_err_set(err, EMBER_EIO,
                               "corrupt segment: unknown format version %u "
                               "(this build reads versions %d and %d)",
                               b[0], EMBER_SEG_VERSION, EMBER_SEG_SPAN_VERSION);
  int rc = inflate(c, b + 1, len - 1, err);
  if (rc != 0) return rc;
  const uint8_t *p = (const uint8_t *)c->raw.data, *end = p + c->raw.len;
  uint64_t n, total = 0, id = 0;
  if (ember_varint_get(&p, end, &n) != 0) return corrupt(err, "bad pair count");
  if (n > (uint64_t)(end - p) / 2) return corrupt(err, "pair count exceeds payload");
  uint64_t *acc = into->values, *bits = into->bits;
  size_t cap = into->n, rest = 0;
  for (uint64_t i = 0; i < n; i++) {
    uint64_t delta, value;
    if (get_varint(&p, end, &delta) != 0 || get_varint(&p, end, &value) != 0)
      return corrupt(err, "truncated pair");
    if (delta == 0 && i > 0) return corrupt(err, "stack ids not increasing");
    if (delta >= UINT32_MAX - id) return corrupt(err, "stack id beyond 32 bits");
    if (value == 0) return corrupt(err, "zero value");
    id += delta;
    total = ember_sat_add(total, value);
    if (id < cap) {
      acc[id] = ember_sat_add(acc[id], value);
      if (bits) bits[id / 64] |= (uint64_t)1 << (id % 64);
      continue;
    }
    /* Ids past the caller's array are handed back: it sizes the array only
     * once it knows they are real (a damaged id must not size anything). */
    if (rest == 0) ember_grow((void **)&c->pairs, &c->pairs_cap, (size_t)(n - i), sizeof *c->pairs);
    c->pairs[rest++] = (ember_seg_pair_t){(uint32_t)id, value};
  }
  if (p != end) return corrupt(err, "trailing bytes after the pairs");
  out->total = total;
  out->count = (size_t)n;
  out->last = n ? (uint32_t)id : 0;
  out->rest = c->pairs;
  out->nrest = rest;
  return 0;
}

/* ---- Merging ----------------------------------------------------------- */

void ember_seg_merge(const ember_seg_pair_t *a, size_t na,
                     const ember_seg_pair_t *b, size_t nb, ember_seg_pair_t **out,
                     size_t *nout, size_t *cap) {
  ember_grow((void **)out, cap, *nout + na + nb, sizeof **out);
  ember_seg_pair_t *o = *out + *nout;
  size_t i = 0, j = 0, k = 0;
  while (i < na || j < nb) {
    if (j == nb || (i < na && a[i].stack < b[j].stack)) {
      o[k++] = a[i++];
    } else if (i == na || b[j].stack < a[i].stack) {
      o[k++] = b[j++];
    } else {
      o[k].stack = a[i].stack;
      o[k++].value = ember_sat_add(a[i++].value, b[j++].value);
    }
  }
  *nout += k;
}
