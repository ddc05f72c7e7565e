/* Fuzz driver for frame labels and units (src/query/label.c, units.c):
 * whatever bytes a frame name holds, its label, once the name is cleaned
 * for XML, is valid UTF-8 of at most the characters asked for, and is a
 * piece of the name plus at most one ellipsis; and any value formats in
 * any units without overrunning. The first byte picks the width. */
#include "fuzz_util.h"
#include "query/query_int.h"

/* True when s is well-formed UTF-8. */
static bool valid_utf8(const unsigned char *s, size_t n) {
  for (size_t i = 0; i < n;) {
    unsigned char c = s[i];
    size_t len = c < 0x80 ? 1 : (c & 0xe0) == 0xc0 ? 2 : (c & 0xf0) == 0xe0 ? 3
               : (c & 0xf8) == 0xf0 ? 4 : 0;
    if (!len || i + len > n) return false;
    for (size_t k = 1; k < len; k++)
      if ((s[i + k] & 0xc0) != 0x80) return false;
    i += len;
  }
  return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1) return 0;
  size_t max = data[0] % 64;
  ember_buf_t clean = EMBER_BUF_INIT, label = EMBER_BUF_INIT, v = EMBER_BUF_INIT;
  ember_xml_clean(&clean, (const char *)data + 1, size - 1);
  FUZZ_CHECK(valid_utf8((const unsigned char *)clean.data, clean.len));
  ember_label_elide(&label, clean.data ? clean.data : "", clean.len, max);
  FUZZ_CHECK(valid_utf8((const unsigned char *)label.data, label.len));
  FUZZ_CHECK(ember_utf8_len(label.data, label.len) <= max);
  /* A piece of the name, with an ellipsis before or after it at most (the
   * name may hold ellipses of its own). */
  static const char ell[] = "\xe2\x80\xa6";
  const char *l = label.data ? label.data : "";
  bool piece = label.len == 0 || memmem(clean.data, clean.len, l, label.len);
  if (!piece && label.len >= 3 && !memcmp(l, ell, 3))
    piece = label.len == 3 || memmem(clean.data, clean.len, l + 3, label.len - 3);
  if (!piece && label.len >= 3 && !memcmp(l + label.len - 3, ell, 3))
    piece = label.len == 3 || memmem(clean.data, clean.len, l, label.len - 3);
  FUZZ_CHECK(piece);
  size_t strip = ember_label_strip(clean.data ? clean.data : "", clean.len);
  FUZZ_CHECK(strip <= clean.len);
  FUZZ_CHECK(ember_label_function(clean.data ? clean.data : "", strip) <= strip);
  /* Units: the bytes as a unit name, a value from the input. */
  uint64_t x = 0;
  memcpy(&x, data, size < sizeof x ? size : sizeof x);
  ember_buf_putc(&clean, '\0');
  ember_fmt_sum_units(&v, x, clean.data, (uint32_t)(x >> 40));
  ember_fmt_units(&v, -(double)x / 3, clean.data, (uint32_t)x, data[0] & 1);
  FUZZ_CHECK(v.len < 512 + 2 * clean.len);
  ember_buf_free(&clean);
  ember_buf_free(&label);
  ember_buf_free(&v);
  return 0;
}
