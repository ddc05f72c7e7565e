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
    want = ember_seg_add(want, in[i].value);
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

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_segment_round_trips_an_empty_list),
      cmocka_unit_test(test_segment_round_trips_stack_zero_and_huge_values),
      cmocka_unit_test(test_segment_round_trips_many_random_pairs),
      cmocka_unit_test(test_segment_encode_rejects_unsorted_or_zero_pairs),
      cmocka_unit_test(test_segment_decode_rejects_unknown_version),
      cmocka_unit_test(test_segment_decode_rejects_every_truncation),
      cmocka_unit_test(test_segment_decode_survives_flipped_bytes),
      cmocka_unit_test(test_segment_decode_rejects_rule_breaking_payloads),
      cmocka_unit_test(test_segment_decode_rejects_non_zstd_bytes),
      cmocka_unit_test(test_segment_merge_adds_equal_ids_and_keeps_order),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
