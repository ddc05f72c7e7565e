/* Tests for src/query/units.c: values in the units of their profile type,
 * checked against the cases the web UI is tested with
 * (tests/data/units.json). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "query/query_int.h"

static char *fmt(double v, const char *units, uint32_t rate, bool full) {
  ember_buf_t b = EMBER_BUF_INIT;
  ember_fmt_units(&b, v, units, rate, full);
  ember_buf_putc(&b, '\0');
  return ember_buf_take(&b, NULL);
}

static void test_units_follow_every_shared_case(void **state) {
  const char *dir = getenv("EMBER_TEST_DATA");
  char path[1024];
  snprintf(path, sizeof path, "%s/units.json", dir ? dir : "tests/data");
  json_error_t e;
  json_t *doc = json_load_file(path, 0, &e);
  if (!doc) fprintf(stderr, "%s: %s\n", path, e.text);
  assert_non_null(doc);
  json_t *cases = json_object_get(doc, "cases"), *c;
  assert_true(json_array_size(cases) > 10);
  size_t i, failed = 0;
  json_array_foreach(cases, i, c) {
    const char *units = json_string_value(json_object_get(c, "units"));
    uint32_t rate = (uint32_t)json_integer_value(json_object_get(c, "sampleRate"));
    double v = json_number_value(json_object_get(c, "value"));
    static const char *const forms[] = {"short", "full"};
    for (int full = 0; full < 2; full++) {
      const char *want = json_string_value(json_object_get(c, forms[full]));
      assert_non_null(want);
      char *got = fmt(v, units, rate, full);
      if (strcmp(got, want)) {
        fprintf(stderr, "case %zu (%s, rate %u, %.17g, %s): got '%s', want '%s'\n", i,
                units, rate, v, forms[full], got, want);
        failed++;
      }
      free(got);
    }
  }
  assert_int_equal(failed, 0);
  json_decref(doc);
}

static void assert_fmt(double v, const char *units, uint32_t rate, bool full,
                       const char *want) {
  char *got = fmt(v, units, rate, full);
  if (strcmp(got, want)) fprintf(stderr, "got '%s', want '%s'\n", got, want);
  assert_string_equal(got, want);
  free(got);
}

static void test_units_default_to_samples_and_move_up_a_unit_when_rounding(void **state) {
  assert_fmt(250, NULL, 100, false, "2.50 s");
  assert_fmt(250, "", 0, true, "250 samples");
  assert_fmt(1023.7 * 1024, "bytes", 0, false, "1.00 MiB");
  assert_fmt(999996, "nanoseconds", 0, false, "1.00 ms");
  assert_fmt(999.996e6, "nanoseconds", 0, false, "1.00 s");
  assert_fmt(59.996, "seconds", 0, false, "1 min 00 s");
  assert_fmt(0.4, "goroutines", 0, false, "0.40 goroutines");
  assert_fmt(1e21, "objects", 0, false, "1000 E objects");
  assert_fmt(1e30, "bytes", 0, false, "867361737988 EiB");
  assert_fmt(0.4, "goroutines", 0, true, "0 goroutines");
}

static void test_a_saturated_sum_reads_as_a_lower_bound(void **state) {
  ember_buf_t b = EMBER_BUF_INIT;
  ember_fmt_sum_units(&b, UINT64_MAX, "samples", 100);
  assert_string_equal(b.data,
                      "at least 18,446,744,073,709,551,615 samples (the sum saturated)");
  ember_buf_reset(&b);
  ember_fmt_sum_units(&b, 250, "samples", 100);
  assert_string_equal(b.data, "2.50 s (250 samples)");
  ember_buf_free(&b);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_units_follow_every_shared_case),
      cmocka_unit_test(test_units_default_to_samples_and_move_up_a_unit_when_rounding),
      cmocka_unit_test(test_a_saturated_sum_reads_as_a_lower_bound),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
