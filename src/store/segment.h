/*
 * segment.h - the byte format of one stored segment row: the (stack id,
 * value) pairs of one series in one time bucket. Private to src/store/.
 *
 * A blob is one version byte followed by a zstd frame whose content is a
 * uvarint pair count and then, per pair, the uvarint difference to the
 * previous stack id (the first pair's difference is to 0) and the uvarint
 * value. Pairs are sorted by stack id, ids strictly increase and stay
 * below UINT32_MAX (so id + 1 never wraps), and no value is 0. docs/storage.md describes the bytes in full.
 */
#ifndef EMBER_STORE_SEGMENT_H
#define EMBER_STORE_SEGMENT_H

#include "ember/common.h"

#define EMBER_SEG_VERSION 1
/* Decoded payloads larger than this are treated as corrupt: at most ~20
 * bytes per pair, so this allows millions of distinct stacks per row. */
#define EMBER_SEG_MAX_RAW ((size_t)256 << 20)

typedef struct {
  uint32_t stack;
  uint64_t value;
} ember_seg_pair_t;

/* A codec holds the zstd contexts and scratch buffers one thread reuses
 * across rows. Not thread-safe: one per connection. */
typedef struct ember_seg_codec ember_seg_codec_t;

ember_seg_codec_t *ember_seg_codec_new(void);
void ember_seg_codec_free(ember_seg_codec_t *c); /* NULL is accepted */

/* The payload bound, EMBER_SEG_MAX_RAW unless set: encoding refuses what
 * decoding would call corrupt. Tests lower it to reach it cheaply. */
void ember_seg_codec_set_max_raw(ember_seg_codec_t *c, size_t max_raw);

/* Encodes n pairs (sorted, ids strictly increasing, values non-zero) into
 * out (appended). Returns EMBER_EINVAL when the pairs break those rules,
 * EMBER_ETOOBIG when their payload would pass the bound decoding enforces
 * (nothing appended) and EMBER_EIO when zstd fails. */
int ember_seg_encode(ember_seg_codec_t *c, const ember_seg_pair_t *pairs,
                     size_t n, ember_buf_t *out, ember_err_t *err);

/* Decodes a blob of either format (a span blob's header is skipped; read
 * it with ember_seg_span_header). On success *pairs points into the codec (borrowed until
 * the next call on c), *n is the pair count and *total the saturating sum of
 * the values. Any malformed blob gives EMBER_EIO with the reason in err;
 * nothing is written to the OUT parameters then. */
int ember_seg_decode(ember_seg_codec_t *c, const void *blob, size_t len,
                     const ember_seg_pair_t **pairs /* OUT */, size_t *n /* OUT */,
                     uint64_t *total /* OUT */, ember_err_t *err);

/* Where ember_seg_sum adds: values[id] for ids below n, and, when bits is
 * not NULL, bit id of bits set for every id added (so that the ids touched
 * can be listed without scanning values). */
typedef struct {
  uint64_t *values;
  uint64_t *bits;
  size_t n;
} ember_seg_sum_t;

typedef struct {
  uint64_t total; /* saturating sum of every value of the blob */
  size_t count;   /* pairs in the blob */
  uint32_t last;  /* the largest stack id (0 when there are none) */
  /* The pairs whose id is n or more, not added: borrowed from the codec
   * until its next call; sorted. */
  const ember_seg_pair_t *rest;
  size_t nrest;
} ember_seg_summed_t;

/* Decodes a bucket or rollup blob (version 1; a span blob's shares are
 * the store's business, see ember_row_take) and adds each of its values
 * into into->values at its stack id (saturating), without building the
 * list of pairs: the read path's inner loop. Checks everything
 * ember_seg_decode checks. On error into->values may hold part of the
 * blob: the caller discards the sum. */
int ember_seg_sum(ember_seg_codec_t *c, const void *blob, size_t len,
                  const ember_seg_sum_t *into, ember_seg_summed_t *out /* OUT */,
                  ember_err_t *err);

/* Sums two sorted pair lists into out (appended, sorted, caller owns the
 * growable array *out of capacity *cap; *nout is its length). */
void ember_seg_merge(const ember_seg_pair_t *a, size_t na,
                     const ember_seg_pair_t *b, size_t nb, ember_seg_pair_t **out,
                     size_t *nout, size_t *cap);

/* ---- Span blobs ---------------------------------------------------------
 *
 * A span row (one pushed profile stored once for the several 10 s buckets
 * it covers; docs/storage.md, "Span rows") has a blob of format version 2:
 * the version byte, a header, then the same zstd frame as version 1:
 *
 *   uvarint  offset: seconds from the first bucket's start to the profile's
 *            start
 *   uvarint  length: the profile's duration in seconds
 *   byte     flags: bit 0 set when every bucket takes the whole value
 *            (replicate); no other bit may be set
 *   uvarint  n, the number of buckets (2 .. EMBER_SEG_SPAN_MAX)
 *   unless replicate, n uvarints: bucket i's total minus bucket i-1's
 *            (bucket -1 counts as 0), as a two's complement difference,
 *            zigzag-encoded, so evenly spread totals take a byte or two each
 *
 * The totals sit outside the compressed frame so that a timeline reads them
 * without decompressing anything. What offset and length mean in time is
 * the store's business; the codec checks only the layout. */

#define EMBER_SEG_SPAN_VERSION 2
#define EMBER_SEG_SPAN_MAX 512

typedef struct {
  uint32_t offset;
  uint32_t length;
  bool replicate;
  size_t n;               /* buckets */
  const uint64_t *totals; /* n per-bucket totals; NULL when replicate */
} ember_seg_span_t;

/* Encodes a span blob (appended to out): h's header, then the pairs as
 * ember_seg_encode would. Same rules and errors as ember_seg_encode, plus
 * EMBER_EINVAL for a header outside the format. */
int ember_seg_encode_span(ember_seg_codec_t *c, const ember_seg_span_t *h,
                          const ember_seg_pair_t *pairs, size_t n, ember_buf_t *out,
                          ember_err_t *err);

/* Reads the header of a span blob without decompressing its pairs. On
 * success *h is written; h->totals points into the codec, borrowed until the
 * next ember_seg_span_header on c. EMBER_EIO when blob is not a well-formed
 * span blob. */
int ember_seg_span_header(ember_seg_codec_t *c, const void *blob, size_t len,
                          ember_seg_span_t *h /* OUT */, ember_err_t *err);

#endif
