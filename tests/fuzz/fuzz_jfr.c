/* Fuzz driver for the JFR reader (src/ingest/jfr_*.c). Each input is read
 * twice: as a raw recording, and split into the two fields of a form (the
 * first four bytes, little-endian, say how many of the rest are the jfr
 * field; the others are the labels field), so both the recording and the
 * labels snapshot get mutated. Every profile that comes out must be a
 * valid series with a valid, non-empty tree; every failure a clean error. */
#include "ember/ingest.h"
#include "fuzz_check_profiles.h"

static void run(const char *content_type, const uint8_t *data, size_t size) {
  ember_profile_t base;
  fuzz_base(&base);
  ember_ingest_result_t res;
  ember_err_t err;
  int rc = ember_ingest_jfr(&base, "wall", content_type, data, size, 1u << 20, &res, &err);
  fuzz_check_message(rc, &err);
  FUZZ_CHECK(rc == 0 || rc == EMBER_EPARSE || rc == EMBER_ETOOBIG || rc == EMBER_ELIMIT);
  if (rc == 0) fuzz_check_profiles(&res);
  ember_profile_free(&base);
}

static void append(ember_buf_t *b, const char *s) { ember_buf_append(b, s, strlen(s)); }

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  run(NULL, data, size);
  if (size < 4) return 0;
  uint32_t k = (uint32_t)data[0] | (uint32_t)data[1] << 8 | (uint32_t)data[2] << 16 |
               (uint32_t)data[3] << 24;
  size_t rest = size - 4, jfr = k % (rest + 1);
  ember_buf_t form = EMBER_BUF_INIT;
  append(&form, "--B\r\nContent-Disposition: form-data; name=\"jfr\"\r\n\r\n");
  ember_buf_append(&form, data + 4, jfr);
  append(&form, "\r\n--B\r\nContent-Disposition: form-data; name=\"labels\"\r\n\r\n");
  ember_buf_append(&form, data + 4 + jfr, rest - jfr);
  append(&form, "\r\n--B--\r\n");
  run("multipart/form-data; boundary=B", (const uint8_t *)form.data, form.len);
  ember_buf_free(&form);
  return 0;
}
