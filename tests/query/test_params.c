/* Tests for src/query/params.c: selectors, times and maxNodes from URLs. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "query/query_int.h"

#define NOW 1700000000

static void test_selector_missing_says_how_to_write_one(void **state) {
  ember_err_t err;
  ember_selector_t sel;
  assert_int_equal(ember_param_selector("query", NULL, &sel, &err), EMBER_EINVAL);
  assert_string_equal(err.msg, "missing 'query' parameter, e.g. query=myapp.cpu{}");
  assert_int_equal(ember_param_selector("leftQuery", "", &sel, &err), EMBER_EINVAL);
  assert_string_equal(err.msg,
                      "missing 'leftQuery' parameter, e.g. leftQuery=myapp.cpu{}");
}

static void test_selector_parses_flameql(void **state) {
  ember_err_t err;
  ember_selector_t sel;
  assert_int_equal(ember_param_selector("query", "app.cpu{region=\"eu\"}", &sel, &err),
                   0);
  assert_string_equal(sel.app, "app.cpu");
  assert_int_equal(sel.n, 1);
  ember_selector_free(&sel);
}

static void test_selector_errors_are_bad_requests_naming_the_parameter(void **state) {
  ember_err_t err;
  ember_selector_t sel;
  assert_int_equal(ember_param_selector("query", "app.cpu{region=}", &sel, &err),
                   EMBER_EINVAL);
  assert_true(strncmp(err.msg, "query: ", 7) == 0);
  assert_int_equal(ember_param_selector("rightQuery", "app cpu", &sel, &err),
                   EMBER_EINVAL);
  assert_true(strncmp(err.msg, "rightQuery: ", 12) == 0);
}

static void test_range_defaults_to_the_last_hour(void **state) {
  ember_err_t err;
  int64_t f = 0, u = 0;
  assert_int_equal(ember_param_range("from", NULL, "until", "", NOW, &f, &u, &err), 0);
  assert_true(f == NOW - 3600);
  assert_true(u == NOW);
}

static void test_range_reads_absolute_and_relative_times(void **state) {
  ember_err_t err;
  int64_t f = 0, u = 0;
  assert_int_equal(
      ember_param_range("from", "1699990000000", "until", "now-5m", NOW, &f, &u, &err),
      0);
  assert_true(f == 1699990000);
  assert_true(u == NOW - 300);
}

static void test_range_rejects_from_not_before_until(void **state) {
  ember_err_t err;
  int64_t f = 7, u = 7;
  assert_int_equal(ember_param_range("from", "now", "until", "now-1h", NOW, &f, &u, &err),
                   EMBER_EINVAL);
  assert_true(f == 7 && u == 7);
  assert_non_null(strstr(err.msg, "'from' (1700000000) must be before 'until'"));
  assert_int_equal(
      ember_param_range("leftFrom", "100", "leftUntil", "100", NOW, &f, &u, &err),
      EMBER_EINVAL);
  assert_non_null(strstr(err.msg, "'leftFrom'"));
}

static void test_range_names_the_bad_time(void **state) {
  ember_err_t err;
  int64_t f, u;
  assert_int_equal(ember_param_range("from", "now-1x", "until", NULL, NOW, &f, &u, &err),
                   EMBER_EINVAL);
  assert_true(strncmp(err.msg, "from: ", 6) == 0);
  assert_int_equal(
      ember_param_range("rightFrom", NULL, "rightUntil", "yesterday", NOW, &f, &u, &err),
      EMBER_EINVAL);
  assert_true(strncmp(err.msg, "rightUntil: ", 12) == 0);
}

static void test_max_nodes_defaults_and_accepts_minus_one(void **state) {
  ember_err_t err;
  long v = 0;
  bool clamped = true;
  assert_int_equal(ember_param_max_nodes(NULL, 65536, &v, &clamped, &err), 0);
  assert_int_equal(v, EMBER_QUERY_DEFAULT_MAX_NODES);
  assert_false(clamped);
  assert_int_equal(ember_param_max_nodes("", 65536, &v, &clamped, &err), 0);
  assert_int_equal(v, EMBER_QUERY_DEFAULT_MAX_NODES);
  assert_int_equal(ember_param_max_nodes("1", 65536, &v, &clamped, &err), 0);
  assert_int_equal(v, 1);
  assert_false(clamped);
  assert_int_equal(ember_param_max_nodes("65536", 65536, &v, &clamped, &err), 0);
  assert_int_equal(v, 65536);
  assert_false(clamped);
}

static void test_max_nodes_never_passes_the_server_limit(void **state) {
  ember_err_t err;
  long v = 0;
  bool clamped = false;
  /* -1 means as many as the server allows, never unbounded. */
  assert_int_equal(ember_param_max_nodes("-1", 65536, &v, &clamped, &err), 0);
  assert_int_equal(v, 65536);
  assert_true(clamped);
  assert_int_equal(ember_param_max_nodes("1000000", 5000, &v, &clamped, &err), 0);
  assert_int_equal(v, 5000);
  assert_true(clamped);
  /* A limit below the default lowers the default too, without a clamp. */
  assert_int_equal(ember_param_max_nodes(NULL, 100, &v, &clamped, &err), 0);
  assert_int_equal(v, 100);
  assert_false(clamped);
}

static void test_max_nodes_rejects_zero_and_junk(void **state) {
  static const char *bad[] = {"0",  "-2", "abc", "12abc", " 12", "+12", "-",
                              "1e3", "99999999999999999999999", "-0"};
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
    ember_err_t err;
    long v = 42;
    bool clamped = false;
    if (ember_param_max_nodes(bad[i], 65536, &v, &clamped, &err) != EMBER_EINVAL)
      fprintf(stderr, "accepted '%s'\n", bad[i]);
    assert_int_equal(ember_param_max_nodes(bad[i], 65536, &v, &clamped, &err),
                     EMBER_EINVAL);
    assert_int_equal(v, 42);
    assert_non_null(strstr(err.msg, "-1 for as many as the server allows (65536)"));
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_selector_missing_says_how_to_write_one),
      cmocka_unit_test(test_selector_parses_flameql),
      cmocka_unit_test(test_selector_errors_are_bad_requests_naming_the_parameter),
      cmocka_unit_test(test_range_defaults_to_the_last_hour),
      cmocka_unit_test(test_range_reads_absolute_and_relative_times),
      cmocka_unit_test(test_range_rejects_from_not_before_until),
      cmocka_unit_test(test_range_names_the_bad_time),
      cmocka_unit_test(test_max_nodes_defaults_and_accepts_minus_one),
      cmocka_unit_test(test_max_nodes_never_passes_the_server_limit),
      cmocka_unit_test(test_max_nodes_rejects_zero_and_junk),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
