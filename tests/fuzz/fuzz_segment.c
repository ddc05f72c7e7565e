/* Fuzz driver for the segment codec's decoding side (src/store/segment.c):
 * blobs come from disk, so any bytes must decode to well-formed pairs or
 * fail with a message, for both formats (bucket rows and span rows). */
#include "fuzz_util.h"
#include "store/segment.h"

static ember_seg_codec_t *codec;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (!codec) codec = ember_seg_codec_new();
  const ember_seg_pair_t *p;
  size_t n;
  uint64_t total, sum = 0;
  ember_err_t err;
  int rc = ember_seg_decode(codec, data, size, &p, &n, &total, &err);
  fuzz_check_message(rc, &err);
  FUZZ_CHECK(rc == 0 || rc == EMBER_EIO);
  for (size_t i = 0; rc == 0 && i < n; i++) {
    FUZZ_CHECK(p[i].value != 0 && p[i].stack != UINT32_MAX);
    FUZZ_CHECK(i == 0 || p[i].stack > p[i - 1].stack);
    sum = ember_sat_add(sum, p[i].value);
  }
  FUZZ_CHECK(rc != 0 || sum == total);
  ember_seg_span_t h;
  rc = ember_seg_span_header(codec, data, size, &h, &err);
  fuzz_check_message(rc, &err);
  FUZZ_CHECK(rc == 0 || rc == EMBER_EIO);
  if (rc == 0) {
    FUZZ_CHECK(h.n >= 2 && h.n <= EMBER_SEG_SPAN_MAX);
    FUZZ_CHECK(h.replicate == (h.totals == NULL));
    for (size_t i = 0; h.totals && i < h.n; i++)
      sum ^= h.totals[i]; /* readable */
  }
  return 0;
}
