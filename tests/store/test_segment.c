/* Tests for src/store/segment.c: round trips, validation of damaged blobs,
 * merging of pair lists. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zstd.h>

#include "store/segment.h"

static void round_trip(const ember_seg_pair_t *in, size_t n) {
  ember_seg_codec_t *c = ember_seg_codec_new();
  ember_buf_t b = EMBER_BUF_INIT;
  assert_int_equal(ember_seg_encode(c, in, n, &b, NULL), 0);
  assert_int_equal((uint8_t)b.data[0], EMBER_SEG_VERSION);
  const ember_seg_pair_t *out = NULL;
  size_t m = 0;
  uint64_t total = 0, want = 0;
  assert_int_equal(ember_seg_decode(c, b.data, b.len, &out, &m, &total, NULL), 0);
  assert_int_equal(m, n);
  for (size_t i = 0; i < n; i++) {
    assert_int_equal(out[i].stack, in[i].stack);
    assert_true(out[i].value == in[i].value);
    want = ember_sat_add(want, in[i].value);
  }
  assert_true(total == want);
  ember_buf_free(&b);
  ember_seg_codec_free(c);
}

/* A blob with the given raw payload, compressed as the encoder would. */
static size_t make_blob(const uint8_t *raw, size_t n, uint8_t *out, size_t cap) {
  out[0] = EMBER_SEG_VERSION;
  size_t z = ZSTD_compress(out + 1, cap - 1, raw, n, 3);
  assert_false(ZSTD_isError(z));
  return z + 1;
}

static int decode_raw(const uint8_t *raw, size_t n, ember_err_t *err) {
  uint8_t blob[256];
  size_t len = make_blob(raw, n, blob, sizeof blob);
  ember_seg_codec_t *c = ember_seg_codec_new();
  const ember_seg_pair_t *p;
  size_t m;
  uint64_t t;
  int rc = ember_seg_decode(c, blob, len, &p, &m, &t, err);
  ember_seg_codec_free(c);
  return rc;
}

static void test_segment_round_trips_an_empty_list(void **state) {
  round_trip(NULL, 0);
}

static void test_segment_round_trips_stack_zero_and_huge_values(void **state) {
  ember_seg_pair_t p[] = {{0, 7}, {1, UINT64_MAX}, {UINT32_MAX - 1, 1}};
  round_trip(p, 3);
}

static void test_segment_round_trips_many_random_pairs(void **state) {
  enum { N = 50000 };
  ember_seg_pair_t *p = malloc(N * sizeof *p);
  uint32_t id = 0;
  srand(7);
  for (size_t i = 0; i < N; i++) {
    id += 1 + (uint32_t)(rand() % 40);
    p[i].stack = id;
    p[i].value = 1 + (uint64_t)rand() % 1000;
  }
  round_trip(p, N);
  free(p);
}

static void test_segment_encode_rejects_unsorted_or_zero_pairs(void **state) {
  ember_seg_codec_t *c = ember_seg_codec_new();
  ember_buf_t b = EMBER_BUF_INIT;
  ember_err_t err;
  ember_seg_pair_t unsorted[] = {{5, 1}, {5, 1}};
  ember_seg_pair_t zero[] = {{1, 0}};
  ember_seg_pair_t widest[] = {{UINT32_MAX, 1}};
  assert_int_equal(ember_seg_encode(c, widest, 1, &b, &err), EMBER_EINVAL);
  assert_int_equal(ember_seg_encode(c, unsorted, 2, &b, &err), EMBER_EINVAL);
  assert_int_equal(ember_seg_encode(c, zero, 1, &b, &err), EMBER_EINVAL);
  ember_buf_free(&b);
  ember_seg_codec_free(c);
}

static size_t uvarint_len(uint64_t v) {
  size_t n = 1;
  while (v >= 0x80)
    v >>= 7, n++;
  return n;
}

/* What decoding refuses as too large must be refused when encoding: such a
 * row, once written, could never be read again. The bound is lowered to
 * 1000 bytes here so that rows on both sides of it are cheap to build; the
 * rule is the same at the real 256 MiB. */
static void test_segment_encode_refuses_a_row_the_decoder_would_refuse(void **state) {
  enum { MAX = 1000, N = 200 };
  ember_seg_codec_t *c = ember_seg_codec_new();
  ember_seg_codec_set_max_raw(c, MAX);
  ember_seg_pair_t p[N];
  for (size_t i = 0; i < N; i++)
    p[i] = (ember_seg_pair_t){(uint32_t)i, UINT64_MAX - i};
  size_t refused = 0;
  for (size_t n = 0; n <= N; n++) {
    size_t raw = uvarint_len(n); /* the payload the encoder builds */
    for (size_t i = 0; i < n; i++)
      raw += uvarint_len(i ? 1 : 0) + uvarint_len(p[i].value);
    ember_buf_t b = EMBER_BUF_INIT;
    ember_buf_puts(&b, "x");
    ember_err_t err = {0};
    int rc = ember_seg_encode(c, p, n, &b, &err);
    if (raw > MAX) {
      if (rc != EMBER_ETOOBIG)
        fail_msg("%zu pairs (%zu payload bytes) were encoded (rc %d)", n, raw, rc);
      assert_non_null(strstr(err.msg, "too many for one stored row"));
      assert_int_equal(b.len, 1); /* nothing appended */
      refused++;
    } else {
      assert_int_equal(rc, 0);
      const ember_seg_pair_t *out;
      size_t m;
      uint64_t total;
      assert_int_equal(ember_seg_decode(c, b.data + 1, b.len - 1, &out, &m, &total, NULL),
                       0);
      assert_int_equal(m, n);
    }
    ember_buf_free(&b);
  }
  assert_true(refused > 100);
  ember_seg_codec_free(c);
}

static void test_segment_decode_rejects_unknown_version(void **state) {
  ember_seg_codec_t *c = ember_seg_codec_new();
  ember_buf_t b = EMBER_BUF_INIT;
  ember_seg_pair_t p[] = {{3, 4}};
  assert_int_equal(ember_seg_encode(c, p, 1, &b, NULL), 0);
  b.data[0] = 9;
  ember_err_t err;
  const ember_seg_pair_t *out = NULL;
  size_t n = 77;
  uint64_t t = 77;
  assert_int_equal(ember_seg_decode(c, b.data, b.len, &out, &n, &t, &err), EMBER_EIO);
  assert_non_null(strstr(err.msg, "version 9"));
  assert_int_equal(n, 77); /* OUT parameters untouched on failure */
  ember_buf_free(&b);
  ember_seg_codec_free(c);
}

static void test_segment_decode_rejects_every_truncation(void **state) {
  ember_seg_codec_t *c = ember_seg_codec_new();
  ember_buf_t b = EMBER_BUF_INIT;
  ember_seg_pair_t p[] = {{3, 4}, {9, 300}, {1000, 5}};
  assert_int_equal(ember_seg_encode(c, p, 3, &b, NULL), 0);
  const ember_seg_pair_t *out;
  size_t n;
  uint64_t t;
  for (size_t len = 0; len < b.len; len++)
    assert_int_equal(ember_seg_decode(c, b.data, len, &out, &n, &t, NULL), EMBER_EIO);
  ember_buf_free(&b);
  ember_seg_codec_free(c);
}

static void test_segment_decode_survives_flipped_bytes(void **state) {
  ember_seg_codec_t *c = ember_seg_codec_new();
  ember_buf_t b = EMBER_BUF_INIT;
  ember_seg_pair_t p[64];
  for (uint32_t i = 0; i < 64; i++) p[i] = (ember_seg_pair_t){i * 3 + 1, i + 1};
  assert_int_equal(ember_seg_encode(c, p, 64, &b, NULL), 0);
  const ember_seg_pair_t *out;
  size_t n;
  uint64_t t;
  /* Every single-byte change must either fail cleanly or decode to pairs
   * that still obey the format's rules; under ASan this also proves no read
   * goes out of bounds. */
  for (size_t i = 1; i < b.len; i++) {
    for (int bit = 0; bit < 8; bit++) {
      b.data[i] ^= (char)(1 << bit);
      if (ember_seg_decode(c, b.data, b.len, &out, &n, &t, NULL) == 0)
        for (size_t k = 1; k < n; k++) assert_true(out[k].stack > out[k - 1].stack);
      b.data[i] ^= (char)(1 << bit);
    }
  }
  ember_buf_free(&b);
  ember_seg_codec_free(c);
}

static void test_segment_decode_rejects_rule_breaking_payloads(void **state) {
  ember_err_t err;
  const uint8_t zero_value[] = {1, 5, 0};
  assert_int_equal(decode_raw(zero_value, sizeof zero_value, &err), EMBER_EIO);
  assert_non_null(strstr(err.msg, "zero value"));
  const uint8_t repeated_id[] = {2, 5, 1, 0, 1};
  assert_int_equal(decode_raw(repeated_id, sizeof repeated_id, &err), EMBER_EIO);
  assert_non_null(strstr(err.msg, "not increasing"));
  const uint8_t trailing[] = {1, 5, 1, 42};
  assert_int_equal(decode_raw(trailing, sizeof trailing, &err), EMBER_EIO);
  assert_non_null(strstr(err.msg, "trailing"));
  const uint8_t too_many[] = {100, 5, 1};
  assert_int_equal(decode_raw(too_many, sizeof too_many, &err), EMBER_EIO);
  assert_non_null(strstr(err.msg, "count"));
  /* 2^32 - 1 as a delta: the one id the format reserves. */
  const uint8_t wide_id[] = {1, 0xff, 0xff, 0xff, 0xff, 0x0f, 1};
  assert_int_equal(decode_raw(wide_id, sizeof wide_id, &err), EMBER_EIO);
  assert_non_null(strstr(err.msg, "32 bits"));
}

static void test_segment_decode_rejects_non_zstd_bytes(void **state) {
  ember_seg_codec_t *c = ember_seg_codec_new();
  const uint8_t junk[] = {EMBER_SEG_VERSION, 'h', 'e', 'l', 'l', 'o', '!', '!'};
  const ember_seg_pair_t *out;
  size_t n;
  uint64_t t;
  ember_err_t err;
  assert_int_equal(ember_seg_decode(c, junk, sizeof junk, &out, &n, &t, &err),
                   EMBER_EIO);
  assert_non_null(strstr(err.msg, "corrupt segment"));
  ember_seg_codec_free(c);
}

/* ---- Span blobs -------------------------------------------------------- */

static void test_segment_round_trips_a_span_header_and_its_pairs(void **state) {
  ember_seg_codec_t *c = ember_seg_codec_new();
  ember_buf_t b = EMBER_BUF_INIT;
  /* Totals that go up, down, to the extremes and back: the differences
   * wrap modulo 2^64 and must come back exactly. */
  uint64_t totals[6] = {5, 3, UINT64_MAX, 0, UINT64_MAX / 2, 7};
  ember_seg_span_t h = {7, 3600, false, 6, totals};
  ember_seg_pair_t p[] = {{0, 9}, {12, UINT64_MAX}, {40000, 1}};
  assert_int_equal(ember_seg_encode_span(c, &h, p, 3, &b, NULL), 0);
  assert_int_equal((uint8_t)b.data[0], EMBER_SEG_SPAN_VERSION);
  ember_seg_span_t got;
  assert_int_equal(ember_seg_span_header(c, b.data, b.len, &got, NULL), 0);
  assert_int_equal(got.offset, 7);
  assert_int_equal(got.length, 3600);
  assert_false(got.replicate);
  assert_int_equal(got.n, 6);
  for (size_t i = 0; i < 6; i++) assert_true(got.totals[i] == totals[i]);
  const ember_seg_pair_t *out;
  size_t n;
  uint64_t t;
  assert_int_equal(ember_seg_decode(c, b.data, b.len, &out, &n, &t, NULL), 0);
  assert_int_equal(n, 3);
  assert_int_equal(out[1].stack, 12);
  assert_true(out[1].value == UINT64_MAX);
  assert_true(t == UINT64_MAX);
  /* A replicated span carries no totals. */
  ember_buf_reset(&b);
  ember_seg_span_t r = {0, 25, true, 3, NULL};
  assert_int_equal(ember_seg_encode_span(c, &r, p, 1, &b, NULL), 0);
  assert_int_equal(ember_seg_span_header(c, b.data, b.len, &got, NULL), 0);
  assert_true(got.replicate);
  assert_null(got.totals);
  assert_int_equal(got.n, 3);
  assert_int_equal(ember_seg_decode(c, b.data, b.len, &out, &n, &t, NULL), 0);
  assert_int_equal(n, 1);
  ember_buf_free(&b);
  ember_seg_codec_free(c);
}

static void test_segment_keeps_a_span_header_small_for_even_totals(void **state) {
  ember_seg_codec_t *c = ember_seg_codec_new();
  ember_buf_t b = EMBER_BUF_INIT;
  uint64_t totals[361];
  for (size_t i = 0; i < 361; i++) totals[i] = 1000000 + (i % 3); /* an even spread */
  ember_seg_span_t h = {0, 3600, false, 361, totals};
  ember_seg_pair_t p[] = {{1, 361000001}};
  assert_int_equal(ember_seg_encode_span(c, &h, p, 1, &b, NULL), 0);
  /* One varint for the first total, one byte for each difference. */
  assert_true(b.len < 400);
  ember_buf_free(&b);
  ember_seg_codec_free(c);
}

static void test_segment_rejects_damaged_span_headers(void **state) {
  ember_seg_codec_t *c = ember_seg_codec_new();
  ember_buf_t b = EMBER_BUF_INIT;
  uint64_t totals[2] = {1, 1};
  ember_seg_span_t h = {0, 20, false, 2, totals};
  ember_seg_pair_t p[] = {{1, 2}};
  assert_int_equal(ember_seg_encode_span(c, &h, p, 1, &b, NULL), 0);
  const ember_seg_pair_t *out;
  size_t n;
  uint64_t t;
  ember_seg_span_t got;
  ember_err_t err;
  /* Layout: version, offset 0, length 20, flags, n 2, totals 2 and 0. */
  assert_int_equal((uint8_t)b.data[3], 0);
  b.data[3] = 2; /* unknown flag */
  assert_int_equal(ember_seg_span_header(c, b.data, b.len, &got, &err), EMBER_EIO);
  assert_non_null(strstr(err.msg, "flags"));
  assert_int_equal(ember_seg_decode(c, b.data, b.len, &out, &n, &t, NULL), EMBER_EIO);
  b.data[3] = 0;
  b.data[4] = 1; /* a span of one bucket */
  assert_int_equal(ember_seg_span_header(c, b.data, b.len, &got, &err), EMBER_EIO);
  assert_non_null(strstr(err.msg, "bucket count"));
  b.data[4] = 2;
  for (size_t len = 0; len < b.len; len++) {
    assert_int_equal(ember_seg_span_header(c, b.data, len, &got, NULL) == 0 &&
                         ember_seg_decode(c, b.data, len, &out, &n, &t, NULL) == 0,
                     0);
  }
  /* A version 1 blob is not a span. */
  ember_buf_reset(&b);
  assert_int_equal(ember_seg_encode(c, p, 1, &b, NULL), 0);
  assert_int_equal(ember_seg_span_header(c, b.data, b.len, &got, &err), EMBER_EIO);
  /* Nor can one be encoded with a bucket count outside the format. */
  h.n = EMBER_SEG_SPAN_MAX + 1;
  assert_int_equal(ember_seg_encode_span(c, &h, p, 1, &b, &err), EMBER_EINVAL);
  ember_buf_free(&b);
  ember_seg_codec_free(c);
}

static void test_segment_merge_adds_equal_ids_and_keeps_order(void **state) {
  ember_seg_pair_t a[] = {{1, 1}, {4, 2}, {9, 3}};
  ember_seg_pair_t b[] = {{0, 5}, {4, 5}, {10, 1}};
  ember_seg_pair_t *out = NULL;
  size_t n = 0, cap = 0;
  ember_seg_merge(a, 3, b, 3, &out, &n, &cap);
  ember_seg_pair_t want[] = {{0, 5}, {1, 1}, {4, 7}, {9, 3}, {10, 1}};
  assert_int_equal(n, 5);
  for (size_t i = 0; i < n; i++) {
    assert_int_equal(out[i].stack, want[i].stack);
    assert_int_equal(out[i].value, want[i].value);
  }
  free(out);
}

/* ---- Summing ----------------------------------------------------------- */

/* ember_seg_sum adds what ember_seg_decode gives, saturating, sets the bits
 * of the ids it adds, and hands back the pairs past the array. */
static void test_segment_sum_adds_what_decode_gives(void **state) {
  ember_seg_codec_t *c = ember_seg_codec_new();
  ember_buf_t b = EMBER_BUF_INIT;
  ember_seg_pair_t p[200];
  uint32_t id = 0;
  for (int i = 0; i < 200; i++) {
    id += 1 + (uint32_t)(i * 7 % 13);
    p[i] = (ember_seg_pair_t){id, (uint64_t)(i % 5 ? i + 1 : 300 + i)};
  }
  p[3].value = UINT64_MAX; /* saturates the sum below */
  assert_int_equal(ember_seg_encode(c, p, 200, &b, NULL), 0);
  size_t n = p[120].stack; /* ids from p[120] on are past the array */
  uint64_t *acc = calloc(n, sizeof *acc), *bits = calloc(n / 64 + 1, sizeof *bits);
  acc[p[3].stack] = 5;
  acc[p[4].stack] = 1;
  ember_seg_sum_t into = {acc, bits, n};
  ember_seg_summed_t got;
  assert_int_equal(ember_seg_sum(c, b.data, b.len, &into, &got, NULL), 0);
  assert_int_equal(got.count, 200);
  assert_int_equal(got.last, p[199].stack);
  assert_true(got.total == UINT64_MAX);
  assert_int_equal(got.nrest, 80);
  for (int i = 0; i < 200; i++) {
    if (i >= 120) {
      assert_int_equal(got.rest[i - 120].stack, p[i].stack);
      assert_true(got.rest[i - 120].value == p[i].value);
      continue;
    }
    uint64_t want = ember_sat_add(i == 3 ? 5 : i == 4 ? 1 : 0, p[i].value);
    assert_true(acc[p[i].stack] == want);
    assert_true(bits[p[i].stack / 64] & (1ull << (p[i].stack % 64)));
  }
  free(acc);
  free(bits);
  ember_buf_free(&b);
  ember_seg_codec_free(c);
}

/* What decode refuses, sum refuses (with no bits: the reader's way), and a
 * span blob, whose shares are not its values, is refused too. */
static void test_segment_sum_refuses_what_decode_refuses(void **state) {
  ember_seg_codec_t *c = ember_seg_codec_new();
  ember_buf_t b = EMBER_BUF_INIT;
  ember_seg_pair_t p[64];
  for (uint32_t i = 0; i < 64; i++) p[i] = (ember_seg_pair_t){i * 3 + 1, i + 1};
  assert_int_equal(ember_seg_encode(c, p, 64, &b, NULL), 0);
  uint64_t acc[256];
  ember_seg_sum_t into = {acc, NULL, 256};
  ember_seg_summed_t got;
  const ember_seg_pair_t *out;
  size_t n;
  uint64_t t;
  for (size_t i = 1; i < b.len; i++)
    for (int bit = 0; bit < 8; bit++) {
      b.data[i] ^= (char)(1 << bit);
      int want = ember_seg_decode(c, b.data, b.len, &out, &n, &t, NULL);
      assert_int_equal(ember_seg_sum(c, b.data, b.len, &into, &got, NULL), want);
      b.data[i] ^= (char)(1 << bit);
    }
  for (size_t len = 0; len < b.len; len++)
    assert_int_equal(ember_seg_sum(c, b.data, len, &into, &got, NULL), EMBER_EIO);
  ember_buf_reset(&b);
  uint64_t totals[2] = {1, 2};
  ember_seg_span_t h = {0, 20, false, 2, totals};
  assert_int_equal(ember_seg_encode_span(c, &h, p, 1, &b, NULL), 0);
  ember_err_t err;
  assert_int_equal(ember_seg_sum(c, b.data, b.len, &into, &got, &err), EMBER_EIO);
  assert_non_null(strstr(err.msg, "span"));
  ember_buf_free(&b);
  ember_seg_codec_free(c);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_segment_round_trips_an_empty_list),
      cmocka_unit_test(test_segment_round_trips_stack_zero_and_huge_values),
      cmocka_unit_test(test_segment_round_trips_many_random_pairs),
      cmocka_unit_test(test_segment_encode_rejects_unsorted_or_zero_pairs),
      cmocka_unit_test(test_segment_encode_refuses_a_row_the_decoder_would_refuse),
      cmocka_unit_test(test_segment_decode_rejects_unknown_version),
      cmocka_unit_test(test_segment_decode_rejects_every_truncation),
      cmocka_unit_test(test_segment_decode_survives_flipped_bytes),
      cmocka_unit_test(test_segment_decode_rejects_rule_breaking_payloads),
      cmocka_unit_test(test_segment_decode_rejects_non_zstd_bytes),
      cmocka_unit_test(test_segment_round_trips_a_span_header_and_its_pairs),
      cmocka_unit_test(test_segment_keeps_a_span_header_small_for_even_totals),
      cmocka_unit_test(test_segment_rejects_damaged_span_headers),
      cmocka_unit_test(test_segment_merge_adds_equal_ids_and_keeps_order),
      cmocka_unit_test(test_segment_sum_adds_what_decode_gives),
      cmocka_unit_test(test_segment_sum_refuses_what_decode_refuses),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
