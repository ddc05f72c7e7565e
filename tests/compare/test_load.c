/* Tests for src/compare/load.c: formats read from the content, and files
 * read by /ingest's own decoders. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "ember/compare.h"

static const char *detect(const char *s, size_t n) {
  return ember_profile_detect((const uint8_t *)s, n, NULL);
}

static void test_formats_are_read_from_the_content(void **state) {
  assert_string_equal(detect("a;b;c 12\n", 9), "folded");
  assert_string_equal(detect("\r\na;b;c\t3\r\n", 11), "folded");
  assert_string_equal(detect("a;b;c\na;b\n", 10), "lines");
  assert_string_equal(detect("FLR\0\0\2", 6), "jfr");
  assert_string_equal(detect("\x0a\x04\x08\x01\x10\x02", 6), "pprof");
  assert_string_equal(detect("", 0), "lines");
  /* Inside gzip. */
  char gz[128];
  uLongf n = sizeof gz;
  z_stream z;
  memset(&z, 0, sizeof z);
  assert_int_equal(deflateInit2(&z, 6, Z_DEFLATED, 31, 8, Z_DEFAULT_STRATEGY), Z_OK);
  z.next_in = (Bytef *)"x;y 5\n";
  z.avail_in = 6;
  z.next_out = (Bytef *)gz;
  z.avail_out = (uInt)n;
  assert_int_equal(deflate(&z, Z_FINISH), Z_STREAM_END);
  n = z.total_out;
  deflateEnd(&z);
  bool gzipped = false;
  assert_string_equal(ember_profile_detect((const uint8_t *)gz, n, &gzipped), "folded");
  assert_true(gzipped);
  ember_tree_t *t = ember_tree_new();
  ember_profile_load_opts_t o = {NULL, NULL, NULL, 0};
  ember_profile_info_t info;
  ember_err_t err;
  assert_int_equal(ember_profile_load((const uint8_t *)gz, n, &o, t, 1, &info, &err), 0);
  assert_int_equal(ember_tree_total(t, 1), 5);
  assert_int_equal(ember_tree_total(t, 0), 0);
  assert_string_equal(info.units, "samples");
  ember_tree_free(t);
}

static void test_pprof_files_load_their_first_sample_type(void **state) {
  char path[512];
  snprintf(path, sizeof path, "%s/pprof/go_cpu.pb.gz", getenv("EMBER_TEST_DATA"));
  uint8_t *data;
  size_t n;
  ember_err_t err;
  assert_int_equal(ember_profile_read_file(path, 1 << 20, &data, &n, &err), 0);
  assert_string_equal(ember_profile_detect(data, n, NULL), "pprof");
  ember_tree_t *t = ember_tree_new();
  ember_profile_load_opts_t o = {"auto", NULL, NULL, 0};
  ember_profile_info_t info;
  assert_int_equal(ember_profile_load(data, n, &o, t, 0, &info, &err), 0);
  assert_true(ember_tree_total(t, 0) > 0);
  assert_string_equal(info.format, "pprof");
  free(data);
  ember_tree_free(t);
  assert_int_equal(ember_profile_read_file("/nonexistent/x", 10, &data, &n, &err), EMBER_EIO);
  assert_non_null(strstr(err.msg, "cannot open /nonexistent/x"));
}

static void test_bad_text_names_its_line(void **state) {
  static const char bad[] = "a;b 3\na;c notanumber x\n";
  ember_tree_t *t = ember_tree_new();
  ember_profile_load_opts_t o = {"folded", NULL, NULL, 0};
  ember_profile_info_t info;
  ember_err_t err;
  assert_int_equal(ember_profile_load((const uint8_t *)bad, strlen(bad), &o, t, 0, &info, &err),
                   EMBER_EPARSE);
  assert_non_null(strstr(err.msg, "line 2"));
  o.format = "xml";
  assert_int_equal(ember_profile_load((const uint8_t *)bad, strlen(bad), &o, t, 0, &info, &err),
                   EMBER_EINVAL);
  ember_tree_free(t);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_formats_are_read_from_the_content),
      cmocka_unit_test(test_pprof_files_load_their_first_sample_type),
      cmocka_unit_test(test_bad_text_names_its_line),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
