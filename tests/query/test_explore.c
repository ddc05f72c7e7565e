/* Tests for src/query/explore.c: /api/explore, the tag explorer, against a
 * real store in a temporary directory. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "query/store_fixture.h"

/* app.cpu in three regions, one series without a region and one with an
 * empty region (both "missing"), a region with data only outside the hour,
 * and app.mem in bytes. */
static int setup(void **state) {
  fixture_t *f = fixture_open();
  fixture_push(f, "app.cpu{region=eu-north,vehicle=car}", T0 + 100, "pyspy", 100,
               "samples", "a;b 10");
  fixture_push(f, "app.cpu{region=eu-north,vehicle=bike}", T0 + 200, "pyspy", 100,
               "samples", "a;c 5");
  fixture_push(f, "app.cpu{region=us-east,vehicle=car}", T0 + 100, "pyspy", 100,
               "samples", "a;b 20");
  fixture_push(f, "app.cpu{region=us-east,vehicle=car}", T0 + 110, "pyspy", 100,
               "samples", "a 4");
  fixture_push(f, "app.cpu{region=ap-south,vehicle=car}", T0 + 300, "pyspy", 100,
               "samples", "x 3");
  fixture_push(f, "app.cpu{vehicle=car}", T0 + 100, "pyspy", 100, "samples", "m 7");
  fixture_push(f, "app.cpu{region=,vehicle=scooter}", T0 + 100, "pyspy", 100,
               "samples", "e 2");
  fixture_push(f, "app.cpu{region=old,vehicle=car}", T0 + 7200, "pyspy", 100,
               "samples", "z 99");
  fixture_push(f, "app.mem{region=eu-north}", T0 + 100, "gospy", 100, "bytes",
               "malloc 4096");
  *state = f;
  return 0;
}

static int teardown(void **state) {
  fixture_close(*state);
  return 0;
}

static ember_explore_params_t params(const char *query, const char *group_by) {
  ember_explore_params_t p;
  memset(&p, 0, sizeof p);
  p.query = query;
  p.group_by = group_by;
  p.from = "1700000000";
  p.until = "1700003599";
  p.now = T0 + 3600;
  return p;
}

static json_t *explore(void **state, const ember_explore_params_t *p) {
  fixture_t *f = *state;
  ember_query_out_t out;
  ember_err_t err;
  int rc = ember_query_explore(f->store, p, &out, &err);
  if (rc) fprintf(stderr, "explore: %s\n", err.msg);
  assert_int_equal(rc, 0);
  json_t *j = fixture_json(&out);
  ember_buf_free(&out.body);
  return j;
}

static void explore_fails(void **state, const ember_explore_params_t *p, int want_rc,
                          const char *want) {
  fixture_t *f = *state;
  ember_query_out_t out = {EMBER_BUF_INIT, "untouched", ""};
  ember_err_t err;
  assert_int_equal(ember_query_explore(f->store, p, &out, &err), want_rc);
  if (!strstr(err.msg, want)) fprintf(stderr, "message: %s\n", err.msg);
  assert_non_null(strstr(err.msg, want));
  assert_string_equal(out.content_type, "untouched");
}

/* "value:total" for each group, then "other:total/values" and
 * "missing:total" when present. */
static void assert_lines(json_t *j, const char *want) {
  char got[512] = "";
  size_t len = 0;
  json_t *groups = json_object_get(j, "groups"), *g;
  size_t i;
  json_array_foreach(groups, i, g) {
    if (json_is_true(json_object_get(g, "other")))
      len += (size_t)snprintf(got + len, sizeof got - len, "%sother:%lld/%lld", i ? " " : "",
                              json_integer_value(json_object_get(g, "total")),
                              json_integer_value(json_object_get(g, "values")));
    else
      len += (size_t)snprintf(got + len, sizeof got - len, "%s%s:%lld", i ? " " : "",
                              json_string_value(json_object_get(g, "value")),
                              json_integer_value(json_object_get(g, "total")));
  }
  json_t *m = json_object_get(j, "missing");
  if (m)
    snprintf(got + len, sizeof got - len, "%smissing:%lld", len ? " " : "",
             json_integer_value(json_object_get(m, "total")));
  if (strcmp(got, want)) fprintf(stderr, "got  %s\nwant %s\n", got, want);
  assert_string_equal(got, want);
}

static json_t *group(json_t *j, size_t i) {
  return json_array_get(json_object_get(j, "groups"), i);
}

static long long num(json_t *o, const char *key) {
  return json_integer_value(json_object_get(o, key));
}

static double real(json_t *o, const char *key) {
  return json_number_value(json_object_get(o, key));
}

/* ---- Tests ------------------------------------------------------------- */

static void test_explore_splits_the_selection_by_the_labels_values(void **state) {
  ember_explore_params_t p = params("app.cpu{}", "region");
  json_t *j = explore(state, &p);
  /* old has data only outside the range: no line. The series without a
   * region and the one with an empty region are both missing. */
  assert_lines(j, "us-east:24 eu-north:15 ap-south:3 missing:9");
  assert_string_equal(json_string_value(json_object_get(j, "groupBy")), "region");
  assert_string_equal(json_string_value(json_object_get(j, "query")), "app.cpu{}");
  assert_string_equal(json_string_value(json_object_get(j, "units")), "samples");
  assert_int_equal(num(j, "sampleRate"), 100);
  assert_int_equal(num(j, "total"), 51);
  assert_string_equal(json_string_value(json_object_get(group(j, 0), "query")),
                      "app.cpu{region=\"us-east\"}");
  assert_string_equal(
      json_string_value(json_object_get(json_object_get(j, "missing"), "query")),
      "app.cpu{region=\"\"}");
  json_decref(j);
}

/* Shares of the whole; average over the steps in which the selection has
 * data (4 of 360 here: T0+100, +110, +200, +300), peak of one step. */
static void test_explore_gives_share_average_and_peak_per_step(void **state) {
  ember_explore_params_t p = params("app.cpu{}", "region");
  json_t *j = explore(state, &p);
  json_t *us = group(j, 0);
  assert_true(real(us, "share") > 0.4705 && real(us, "share") < 0.4706); /* 24/51 */
  assert_true(real(us, "avg") == 6.0);
  assert_int_equal(num(us, "peak"), 20);
  json_t *eu = group(j, 1);
  assert_true(real(eu, "avg") == 3.75);
  assert_int_equal(num(eu, "peak"), 10);
  /* Timelines in /render's encoding: 0 for no data, else 1 + the sum. */
  json_t *all = json_object_get(json_object_get(j, "timeline"), "samples");
  assert_int_equal(json_array_size(all), 360);
  assert_int_equal(json_integer_value(json_array_get(all, 10)), 1 + 10 + 20 + 7 + 2);
  assert_int_equal(json_integer_value(json_array_get(all, 11)), 1 + 4);
  assert_int_equal(json_integer_value(json_array_get(all, 12)), 0);
  json_t *us_tl = json_object_get(us, "samples");
  assert_int_equal(json_array_size(us_tl), 360);
  assert_int_equal(json_integer_value(json_array_get(us_tl, 10)), 21);
  assert_int_equal(json_integer_value(json_array_get(us_tl, 20)), 0);
  assert_int_equal(num(json_object_get(j, "timeline"), "durationDelta"), 10);
  json_decref(j);
}

static void test_explore_sums_the_values_past_top_as_other(void **state) {
  ember_explore_params_t p = params("app.cpu{}", "region");
  p.top = "1";
  json_t *j = explore(state, &p);
  assert_lines(j, "us-east:24 other:18/2 missing:9");
  json_t *other = group(j, 1);
  assert_string_equal(json_string_value(json_object_get(other, "value")), "other");
  assert_null(json_object_get(other, "query"));
  assert_int_equal(num(other, "peak"), 10);
  assert_int_equal(num(j, "total"), 51);
  json_decref(j);
  p.top = "2";
  j = explore(state, &p);
  assert_lines(j, "us-east:24 eu-north:15 other:3/1 missing:9");
  json_decref(j);
}

static void test_explore_takes_a_regex_selector(void **state) {
  ember_explore_params_t p = params("app.cpu{vehicle=~\"c.*\"}", "region");
  json_t *j = explore(state, &p);
  assert_lines(j, "us-east:24 eu-north:10 ap-south:3 missing:7");
  assert_string_equal(json_string_value(json_object_get(group(j, 1), "query")),
                      "app.cpu{vehicle=~\"c.*\",region=\"eu-north\"}");
  json_decref(j);
  p = params("app.cpu{region!~\"us.*|\"}", "vehicle");
  j = explore(state, &p);
  assert_lines(j, "car:13 bike:5");
  json_decref(j);
}

static void test_explore_of_series_that_lack_the_key_is_all_missing(void **state) {
  ember_explore_params_t p = params("app.cpu{}", "pod");
  json_t *j = explore(state, &p);
  assert_lines(j, "missing:51");
  json_t *m = json_object_get(j, "missing");
  assert_true(real(m, "share") == 1.0);
  assert_string_equal(json_string_value(json_object_get(m, "value")), "");
  json_decref(j);
}

static void test_explore_of_a_range_without_data_is_empty(void **state) {
  ember_explore_params_t p = params("app.cpu{}", "region");
  p.from = "1700005000";
  p.until = "1700006000";
  p.now = T0 + 8000;
  json_t *j = explore(state, &p);
  assert_lines(j, "");
  assert_int_equal(num(j, "total"), 0);
  assert_int_equal(json_array_size(json_object_get(j, "groups")), 0);
  json_t *all = json_object_get(json_object_get(j, "timeline"), "samples");
  assert_int_equal(json_array_size(all), 101);
  assert_int_equal(json_integer_value(json_array_get(all, 0)), 0);
  json_decref(j);
}

static void test_explore_of_an_unknown_app_is_empty_not_an_error(void **state) {
  ember_explore_params_t p = params("nobody.cpu{}", "region");
  json_t *j = explore(state, &p);
  assert_lines(j, "");
  assert_string_equal(json_string_value(json_object_get(j, "units")), "samples");
  json_decref(j);
}

static void test_explore_names_the_apps_units(void **state) {
  ember_explore_params_t p = params("app.mem{}", "region");
  json_t *j = explore(state, &p);
  assert_lines(j, "eu-north:4096");
  assert_string_equal(json_string_value(json_object_get(j, "units")), "bytes");
  assert_string_equal(json_string_value(json_object_get(j, "spyName")), "gospy");
  json_decref(j);
}

static void test_explore_refuses_bad_parameters(void **state) {
  ember_explore_params_t p = params("app.cpu{}", NULL);
  explore_fails(state, &p, EMBER_EINVAL, "missing 'groupBy' parameter");
  static const char *keys[] = {"re gion", "__name__", "a,b", "x}"};
  for (size_t i = 0; i < sizeof keys / sizeof *keys; i++) {
    p = params("app.cpu{}", keys[i]);
    explore_fails(state, &p, EMBER_EINVAL, "is not a label key");
  }
  static const char *tops[] = {"0", "101", "x", "-1", "1e3", "00000001"};
  for (size_t i = 0; i < sizeof tops / sizeof *tops; i++) {
    p = params("app.cpu{}", "region");
    p.top = tops[i];
    explore_fails(state, &p, EMBER_EINVAL, "top '");
  }
  p = params(NULL, "region");
  explore_fails(state, &p, EMBER_EINVAL, "missing 'query' parameter");
  p = params("app.cpu{region=~\"(\"}", "region");
  explore_fails(state, &p, EMBER_EINVAL, "region");
  p = params("app.cpu{}", "region");
  p.from = "1700003600";
  p.until = "1700000000";
  explore_fails(state, &p, EMBER_EINVAL, "must be before");
}

static void test_explore_refuses_an_answer_over_the_output_limit(void **state) {
  ember_explore_params_t p = params("app.cpu{}", "region");
  p.max_output = 4096;
  explore_fails(state, &p, EMBER_EINVAL,
                "the tag explorer would take up to");
  p.max_output = 1 << 20;
  json_t *j = explore(state, &p);
  json_decref(j);
}

static void test_explore_gives_up_once_its_deadline_has_passed(void **state) {
  ember_explore_params_t p = params("app.cpu{}", "region");
  ember_deadline_set(ember_mono_ns() - 1);
  fixture_t *f = *state;
  ember_query_out_t out = {EMBER_BUF_INIT, "untouched", ""};
  ember_err_t err;
  int rc = ember_query_explore(f->store, &p, &out, &err);
  ember_deadline_set(0);
  assert_int_equal(rc, EMBER_ETIMEOUT);
}

int main(void) {
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
  const struct CMUnitTest tests[] = {
      T(test_explore_splits_the_selection_by_the_labels_values),
      T(test_explore_gives_share_average_and_peak_per_step),
      T(test_explore_sums_the_values_past_top_as_other),
      T(test_explore_takes_a_regex_selector),
      T(test_explore_of_series_that_lack_the_key_is_all_missing),
      T(test_explore_of_a_range_without_data_is_empty),
      T(test_explore_of_an_unknown_app_is_empty_not_an_error),
      T(test_explore_names_the_apps_units),
      T(test_explore_refuses_bad_parameters),
      T(test_explore_refuses_an_answer_over_the_output_limit),
      T(test_explore_gives_up_once_its_deadline_has_passed),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
