/* Tests for src/ingest/decode.c: Content-Encoding identity, gzip and zstd,
 * the size limit while decompressing, truncated and corrupt streams. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>
#include <zstd.h>

#include "ember/ingest.h"

/* ---- Helpers ----------------------------------------------------------- */

static void gzip_into(ember_buf_t *out, const void *in, size_t len) {
  z_stream zs;
  memset(&zs, 0, sizeof zs);
  assert_int_equal(deflateInit2(&zs, 6, Z_DEFLATED, 16 + MAX_WBITS, 8,
                                Z_DEFAULT_STRATEGY),
                   Z_OK);
  size_t bound = deflateBound(&zs, len) + 32;
  ember_buf_reserve(out, bound);
  zs.next_in = (Bytef *)in;
  zs.avail_in = (uInt)len;
  zs.next_out = (Bytef *)out->data + out->len;
  zs.avail_out = (uInt)bound;
  assert_int_equal(deflate(&zs, Z_FINISH), Z_STREAM_END);
  out->len += bound - zs.avail_out;
  deflateEnd(&zs);
}

/* A zstd frame; with streaming, the frame does not record the content size
 * and keeps the window given by wlog (0: the library's default). */
static void zstd_into(ember_buf_t *out, const void *in, size_t len, int wlog) {
  ZSTD_CCtx *c = ZSTD_createCCtx();
  if (wlog) ZSTD_CCtx_setParameter(c, ZSTD_c_windowLog, wlog);
  size_t bound = ZSTD_compressBound(len) + 64;
  ember_buf_reserve(out, bound);
  ZSTD_outBuffer ob = {out->data + out->len, bound, 0};
  ZSTD_inBuffer ib = {in, len, 0};
  if (wlog) {
    assert_false(ZSTD_isError(ZSTD_compressStream2(c, &ob, &ib, ZSTD_e_continue)));
  }
  size_t r;
  do {
    r = ZSTD_compressStream2(c, &ob, &ib, ZSTD_e_end);
    assert_false(ZSTD_isError(r));
  } while (r);
  out->len += ob.pos;
  ZSTD_freeCCtx(c);
}

static const char TEXT[] = "main;work;compute 42\nmain;idle 7\n";

typedef struct {
  int rc;
  uint8_t *out;
  size_t len;
  ember_err_t err;
} decoded_t;

static decoded_t decode(const char *enc, const void *in, size_t len, size_t max) {
  decoded_t d;
  d.out = (uint8_t *)"untouched";
  d.len = 12345;
  d.rc = ember_ingest_decode(enc, in, len, max, &d.out, &d.len, &d.err);
  if (d.rc) {
    /* Out-parameters are written only on success. */
    assert_string_equal((char *)d.out, "untouched");
    assert_int_equal(d.len, 12345);
    d.out = NULL;
  }
  return d;
}

static void assert_decodes_to(decoded_t d, const void *want, size_t want_len) {
  if (d.rc) fail_msg("decode failed: %s", d.err.msg);
  assert_int_equal(d.len, want_len);
  assert_memory_equal(d.out, want, want_len);
  free(d.out);
}

static void assert_contains(const char *hay, const char *needle) {
  if (!strstr(hay, needle)) fail_msg("'%s' does not contain '%s'", hay, needle);
}

/* ---- Identity ------------------------------------------------------------ */

static void test_decode_identity_copies_the_body(void **state) {
  static const char *names[] = {NULL, "", "identity", " Identity "};
  for (size_t i = 0; i < 4; i++)
    assert_decodes_to(decode(names[i], TEXT, sizeof TEXT, 1024), TEXT, sizeof TEXT);
  assert_decodes_to(decode(NULL, "", 0, 0), "", 0);
}

static void test_decode_identity_enforces_the_limit(void **state) {
  decoded_t d = decode(NULL, TEXT, sizeof TEXT, sizeof TEXT - 1);
  assert_int_equal(d.rc, EMBER_EPARSE);
  assert_string_equal(d.err.msg, "body: the decompressed body is larger than the limit "
                                 "of 33 bytes; send smaller pushes or raise the "
                                 "server's body limit");
  assert_decodes_to(decode(NULL, TEXT, sizeof TEXT, sizeof TEXT), TEXT, sizeof TEXT);
}

static void test_decode_rejects_unknown_encodings(void **state) {
  decoded_t d = decode("br", TEXT, sizeof TEXT, 1024);
  assert_int_equal(d.rc, EMBER_EINVAL);
  assert_string_equal(d.err.msg, "unsupported Content-Encoding 'br'; send gzip or zstd, "
                                 "or an uncompressed body");
  assert_int_equal(decode("gzip, zstd", TEXT, sizeof TEXT, 1024).rc, EMBER_EINVAL);
  assert_int_equal(decode("deflate", TEXT, sizeof TEXT, 1024).rc, EMBER_EINVAL);
}

static void test_decode_empty_body_is_empty_whatever_the_encoding(void **state) {
  assert_decodes_to(decode("gzip", "", 0, 1024), "", 0);
  assert_decodes_to(decode("zstd", "", 0, 1024), "", 0);
}

/* ---- gzip ---------------------------------------------------------------- */

static void test_decode_gzip_roundtrips(void **state) {
  ember_buf_t gz = EMBER_BUF_INIT;
  gzip_into(&gz, TEXT, sizeof TEXT);
  assert_decodes_to(decode("gzip", gz.data, gz.len, 1024), TEXT, sizeof TEXT);
  assert_decodes_to(decode("x-gzip", gz.data, gz.len, 1024), TEXT, sizeof TEXT);
  assert_decodes_to(decode("GZIP", gz.data, gz.len, 1024), TEXT, sizeof TEXT);
  ember_buf_free(&gz);
}

static void test_decode_gzip_reads_concatenated_members(void **state) {
  ember_buf_t gz = EMBER_BUF_INIT;
  gzip_into(&gz, "a 1\n", 4);
  gzip_into(&gz, "b 2\n", 4);
  gzip_into(&gz, "", 0);
  gzip_into(&gz, "c 3\n", 4);
  assert_decodes_to(decode("gzip", gz.data, gz.len, 1024), "a 1\nb 2\nc 3\n", 12);
  ember_buf_free(&gz);
}

static void test_decode_gzip_output_grows_past_the_first_guess(void **state) {
  size_t n = 3 << 20; /* compresses ~1000x: far beyond the initial buffer */
  char *big = malloc(n);
  for (size_t i = 0; i < n; i++) big[i] = "abcdefgh"[i % 8];
  ember_buf_t gz = EMBER_BUF_INIT;
  gzip_into(&gz, big, n);
  assert_decodes_to(decode("gzip", gz.data, gz.len, n), big, n);
  ember_buf_free(&gz);
  free(big);
}

static void test_decode_gzip_stops_a_zip_bomb_at_the_limit(void **state) {
  size_t n = 16 << 20;
  char *zeros = calloc(1, n);
  ember_buf_t gz = EMBER_BUF_INIT;
  gzip_into(&gz, zeros, n);
  free(zeros);
  assert_true(gz.len < n / 500);
  decoded_t d = decode("gzip", gz.data, gz.len, 64 << 10);
  assert_int_equal(d.rc, EMBER_EPARSE);
  assert_contains(d.err.msg, "larger than the limit of 65536 bytes");
  /* Exactly at the limit is fine, one byte over is not. */
  ember_buf_reset(&gz);
  gzip_into(&gz, TEXT, sizeof TEXT);
  assert_decodes_to(decode("gzip", gz.data, gz.len, sizeof TEXT), TEXT, sizeof TEXT);
  assert_int_equal(decode("gzip", gz.data, gz.len, sizeof TEXT - 1).rc, EMBER_EPARSE);
  ember_buf_free(&gz);
}

static void test_decode_gzip_rejects_truncated_streams(void **state) {
  ember_buf_t gz = EMBER_BUF_INIT;
  gzip_into(&gz, TEXT, sizeof TEXT);
  for (size_t len = 1; len < gz.len; len++) {
    decoded_t d = decode("gzip", gz.data, len, 1024);
    if (d.rc != EMBER_EPARSE) fail_msg("length %zu gave %d", len, d.rc);
  }
  decoded_t d = decode("gzip", gz.data, gz.len - 1, 1024);
  assert_string_equal(d.err.msg, "body: the gzip stream is truncated (it ends inside a "
                                 "member); send the whole compressed body");
  ember_buf_free(&gz);
}

static void test_decode_gzip_rejects_corrupt_streams(void **state) {
  decoded_t d = decode("gzip", TEXT, sizeof TEXT, 1024);
  assert_int_equal(d.rc, EMBER_EPARSE);
  assert_string_equal(d.err.msg, "body: the gzip stream is corrupt (incorrect header "
                                 "check) at compressed byte 2; check that "
                                 "Content-Encoding matches the body");
  ember_buf_t gz = EMBER_BUF_INIT;
  gzip_into(&gz, TEXT, sizeof TEXT);
  gz.data[gz.len - 5] ^= 0x55; /* the CRC no longer matches */
  d = decode("gzip", gz.data, gz.len, 1024);
  assert_int_equal(d.rc, EMBER_EPARSE);
  assert_contains(d.err.msg, "incorrect data check");
  gz.data[gz.len - 5] ^= 0x55;
  ember_buf_append(&gz, "junk", 4); /* garbage after the last member */
  assert_int_equal(decode("gzip", gz.data, gz.len, 1024).rc, EMBER_EPARSE);
  ember_buf_free(&gz);
}

/* ---- zstd ---------------------------------------------------------------- */

static void test_decode_zstd_roundtrips(void **state) {
  ember_buf_t z = EMBER_BUF_INIT;
  zstd_into(&z, TEXT, sizeof TEXT, 0);
  assert_decodes_to(decode("zstd", z.data, z.len, 1024), TEXT, sizeof TEXT);
  assert_decodes_to(decode(" ZSTD", z.data, z.len, 1024), TEXT, sizeof TEXT);
  ember_buf_free(&z);
}

static void test_decode_zstd_reads_several_frames(void **state) {
  ember_buf_t z = EMBER_BUF_INIT;
  zstd_into(&z, "a 1\n", 4, 0);
  zstd_into(&z, "b 2\n", 4, 20);
  assert_decodes_to(decode("zstd", z.data, z.len, 1024), "a 1\nb 2\n", 8);
  ember_buf_free(&z);
}

static void test_decode_zstd_stops_a_bomb_at_the_limit(void **state) {
  size_t n = 16 << 20;
  char *zeros = calloc(1, n);
  ember_buf_t z = EMBER_BUF_INIT;
  zstd_into(&z, zeros, n, 20); /* a window the decoder accepts */
  free(zeros);
  decoded_t d = decode("zstd", z.data, z.len, 64 << 10);
  assert_int_equal(d.rc, EMBER_EPARSE);
  assert_contains(d.err.msg, "larger than the limit of 65536 bytes");
  ember_buf_reset(&z);
  zstd_into(&z, TEXT, sizeof TEXT, 0);
  assert_decodes_to(decode("zstd", z.data, z.len, sizeof TEXT), TEXT, sizeof TEXT);
  assert_int_equal(decode("zstd", z.data, z.len, sizeof TEXT - 1).rc, EMBER_EPARSE);
  ember_buf_free(&z);
}

static void test_decode_zstd_refuses_windows_beyond_the_limit(void **state) {
  /* A 128 MiB window for a body limited to 64 KiB: refused before the
   * decoder allocates it. */
  ember_buf_t z = EMBER_BUF_INIT;
  zstd_into(&z, TEXT, sizeof TEXT, 27);
  decoded_t d = decode("zstd", z.data, z.len, 64 << 10);
  assert_int_equal(d.rc, EMBER_ETOOBIG);
  assert_contains(d.err.msg, "the zstd frame needs a window larger than 1048576 bytes");
  /* With a limit that big, the same frame is fine. */
  assert_decodes_to(decode("zstd", z.data, z.len, 128 << 20), TEXT, sizeof TEXT);
  ember_buf_free(&z);
}

static void test_decode_zstd_rejects_truncated_and_corrupt_streams(void **state) {
  ember_buf_t z = EMBER_BUF_INIT;
  zstd_into(&z, TEXT, sizeof TEXT, 0);
  for (size_t len = 1; len < z.len; len++) {
    decoded_t d = decode("zstd", z.data, len, 1024);
    if (d.rc != EMBER_EPARSE) fail_msg("length %zu gave %d", len, d.rc);
  }
  assert_string_equal(decode("zstd", z.data, z.len - 1, 1024).err.msg,
                      "body: the zstd stream is truncated (it ends inside a frame); "
                      "send the whole compressed body");
  decoded_t d = decode("zstd", TEXT, sizeof TEXT, 1024);
  assert_int_equal(d.rc, EMBER_EPARSE);
  assert_contains(d.err.msg, "body: the zstd stream is corrupt (");
  ember_buf_append(&z, "junk", 4);
  assert_int_equal(decode("zstd", z.data, z.len, 1024).rc, EMBER_EPARSE);
  ember_buf_free(&z);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_decode_identity_copies_the_body),
      cmocka_unit_test(test_decode_identity_enforces_the_limit),
      cmocka_unit_test(test_decode_rejects_unknown_encodings),
      cmocka_unit_test(test_decode_empty_body_is_empty_whatever_the_encoding),
      cmocka_unit_test(test_decode_gzip_roundtrips),
      cmocka_unit_test(test_decode_gzip_reads_concatenated_members),
      cmocka_unit_test(test_decode_gzip_output_grows_past_the_first_guess),
      cmocka_unit_test(test_decode_gzip_stops_a_zip_bomb_at_the_limit),
      cmocka_unit_test(test_decode_gzip_rejects_truncated_streams),
      cmocka_unit_test(test_decode_gzip_rejects_corrupt_streams),
      cmocka_unit_test(test_decode_zstd_roundtrips),
      cmocka_unit_test(test_decode_zstd_reads_several_frames),
      cmocka_unit_test(test_decode_zstd_stops_a_bomb_at_the_limit),
      cmocka_unit_test(test_decode_zstd_refuses_windows_beyond_the_limit),
      cmocka_unit_test(test_decode_zstd_rejects_truncated_and_corrupt_streams),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
