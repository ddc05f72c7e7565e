/* Tests for src/store/apply.c: time placement of profiles in 10 s buckets,
 * app metadata, series identity. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "store/helpers.h"
#include "store/store_int.h"

/* In the future, so the background maintenance pass (which uses the real
 * clock) never finds these rows settled and rolls them up mid-test. */
#define T0 4000000000

/* ---- Placement, pure --------------------------------------------------- */

static void test_place_puts_a_ten_second_push_in_one_bucket(void **state) {
  ember_place_t p;
  assert_int_equal(ember_place_plan(T0, T0 + 10, EMBER_AGG_SUM, &p, NULL), 0);
  assert_int_equal(p.n, 1);
  assert_int_equal(p.first, T0);
  assert_int_equal(ember_place_share(&p, 0, 77), 77);
  /* An unaligned 10 s push goes to the bucket of its midpoint. */
  assert_int_equal(ember_place_plan(T0 + 7, T0 + 17, EMBER_AGG_SUM, &p, NULL), 0);
  assert_int_equal(p.n, 1);
  assert_int_equal(p.first, T0 + 10);
  assert_int_equal(ember_place_plan(T0 + 2, T0 + 12, EMBER_AGG_SUM, &p, NULL), 0);
  assert_int_equal(p.first, T0);
  /* A point in time is its own midpoint. */
  assert_int_equal(ember_place_plan(T0 + 19, T0 + 19, EMBER_AGG_SUM, &p, NULL), 0);
  assert_int_equal(p.first, T0 + 10);
}

static void test_place_floors_negative_times_correctly(void **state) {
  ember_place_t p;
  assert_int_equal(ember_place_plan(-15, -5, EMBER_AGG_SUM, &p, NULL), 0);
  assert_int_equal(p.first, -10);
  assert_int_equal(ember_store_floor(-1, 10), -10);
  assert_int_equal(ember_store_floor(-10, 10), -10);
  assert_int_equal(ember_store_floor(9, 10), 0);
}

static void test_place_splits_a_minute_over_six_buckets_exactly(void **state) {
  ember_place_t p;
  assert_int_equal(ember_place_plan(T0, T0 + 60, EMBER_AGG_SUM, &p, NULL), 0);
  assert_int_equal(p.n, 6);
  uint64_t sum = 0;
  for (size_t i = 0; i < p.n; i++) {
    uint64_t v = ember_place_share(&p, i, 60);
    assert_int_equal(v, 10);
    sum += v;
  }
  assert_int_equal(sum, 60);
}

static void test_place_split_keeps_every_sum_with_uneven_overlaps(void **state) {
  ember_place_t p;
  /* [T0+3, T0+38): overlaps 7, 10, 10, 8 seconds of four buckets. */
  assert_int_equal(ember_place_plan(T0 + 3, T0 + 38, EMBER_AGG_SUM, &p, NULL), 0);
  assert_int_equal(p.n, 4);
  assert_int_equal(p.first, T0);
  uint64_t values[] = {1, 2, 3, 7, 35, 1000003, UINT64_MAX, UINT64_MAX / 3};
  for (size_t k = 0; k < sizeof values / sizeof *values; k++) {
    uint64_t sum = 0;
    for (size_t i = 0; i < p.n; i++) sum += ember_place_share(&p, i, values[k]);
    assert_true(sum == values[k]);
  }
  /* Proportional: 35 samples over 35 s give 7, 10, 10, 8. */
  assert_int_equal(ember_place_share(&p, 0, 35), 7);
  assert_int_equal(ember_place_share(&p, 1, 35), 10);
  assert_int_equal(ember_place_share(&p, 3, 35), 8);
}

static void test_place_ignores_a_bucket_the_span_only_touches(void **state) {
  ember_place_t p;
  assert_int_equal(ember_place_plan(T0, T0 + 20, EMBER_AGG_SUM, &p, NULL), 0);
  assert_int_equal(p.n, 2); /* not the bucket starting at T0 + 20 */
}

static void test_place_stores_spans_over_an_hour_whole_at_their_start(void **state) {
  ember_place_t p;
  assert_int_equal(ember_place_plan(T0 + 5, T0 + 7205, EMBER_AGG_SUM, &p, NULL), 0);
  assert_int_equal(p.n, 1);
  assert_int_equal(p.first, T0);
  assert_int_equal(ember_place_share(&p, 0, 123), 123);
  /* Exactly one hour is still split. */
  assert_int_equal(ember_place_plan(T0, T0 + 3600, EMBER_AGG_SUM, &p, NULL), 0);
  assert_int_equal(p.n, 360);
}

static void test_place_replicates_average_values_instead_of_splitting(void **state) {
  ember_place_t p;
  assert_int_equal(ember_place_plan(T0, T0 + 30, EMBER_AGG_AVERAGE, &p, NULL), 0);
  assert_int_equal(p.n, 3);
  for (size_t i = 0; i < 3; i++) assert_int_equal(ember_place_share(&p, i, 500), 500);
}

static void test_place_rejects_a_profile_that_ends_before_it_starts(void **state) {
  ember_place_t p;
  ember_err_t err;
  assert_int_equal(ember_place_plan(T0 + 10, T0, EMBER_AGG_SUM, &p, &err), EMBER_EINVAL);
  assert_non_null(strstr(err.msg, "until >= from"));
}

static void test_place_rejects_times_beyond_any_calendar(void **state) {
  ember_place_t p;
  ember_err_t err;
  assert_int_equal(ember_place_plan(INT64_MIN, 0, EMBER_AGG_SUM, &p, &err), EMBER_EINVAL);
  assert_non_null(strstr(err.msg, "out of range"));
  assert_int_equal(ember_place_plan(0, INT64_MAX, EMBER_AGG_SUM, &p, &err), EMBER_EINVAL);
}

/* ---- Through the store ------------------------------------------------- */

static void timeline(ember_store_t *s, const char *q, int64_t start, int64_t step,
                     uint64_t *v, size_t n) {
  ember_selector_t sel;
  assert_int_equal(ember_selector_parse(q, strlen(q), &sel, NULL), 0);
  assert_int_equal(ember_store_timeline(s, &sel, start, step, v, n, NULL), 0);
  ember_selector_free(&sel);
}

static void test_apply_splits_a_long_push_across_the_timeline(void **state) {
  fixture_t *f = *state;
  put(f->s, "app.cpu", T0 + 5, T0 + 25, "a 20\nb 3");
  uint64_t v[4];
  timeline(f->s, "app.cpu{}", T0, 10, v, 4);
  /* a: 5, 10, 5. b by cumulative rounding: floor(3 * 5/20) = 0, then
   * floor(3 * 15/20) - 0 = 2, then 3 - 2 = 1. */
  assert_int_equal(v[0], 5);
  assert_int_equal(v[1], 12);
  assert_int_equal(v[2], 6);
  assert_int_equal(v[3], 0);
  assert_int_equal(total_of(f->s, "app.cpu{}", T0, T0 + 40), 23);
}

static void test_apply_reads_the_widest_range_safely(void **state) {
  fixture_t *f = *state;
  put(f->s, "app.cpu", T0, T0 + 10, "a 3");
  assert_int_equal(total_of(f->s, "app.cpu", INT64_MIN, INT64_MAX), 3);
  uint64_t v[4];
  timeline(f->s, "app.cpu", T0 - 10000, 10000, v, 4);
  assert_int_equal(v[1], 3);
}

static void test_apply_keeps_the_latest_app_metadata(void **state) {
  fixture_t *f = *state;
  put(f->s, "app.cpu", T0, T0 + 10, "a 1");
  ember_ingest_result_t r = make_result("app.cpu", T0, T0 + 10, "a 1", EMBER_AGG_AVERAGE);
  free(r.items[0].spy_name);
  r.items[0].spy_name = strdup("pyspy");
  r.items[0].sample_rate = 250;
  assert_int_equal(ember_store_write(f->s, &r, NULL), 0);
  ember_ingest_result_free(&r);
  ember_app_info_t a;
  assert_int_equal(ember_store_app(f->s, "app.cpu", &a, NULL), 0);
  assert_string_equal(a.name, "app.cpu");
  assert_string_equal(a.spy_name, "pyspy");
  assert_string_equal(a.units, "samples");
  assert_int_equal(a.sample_rate, 250);
  assert_int_equal(a.aggregation, EMBER_AGG_AVERAGE);
  ember_app_info_free(&a);
  ember_err_t err;
  assert_int_equal(ember_store_app(f->s, "nope", &a, &err), EMBER_ENOTFOUND);
}

static void test_apply_treats_reordered_labels_as_one_series(void **state) {
  fixture_t *f = *state;
  put(f->s, "app.cpu{b=2,a=1}", T0, T0 + 10, "x 1");
  put(f->s, "app.cpu{a=1,b=2}", T0, T0 + 10, "x 2");
  assert_int_equal(total_of(f->s, "app.cpu{a=\"1\",b=\"2\"}", T0, T0 + 10), 3);
  ember_selector_t sel;
  assert_int_equal(ember_selector_parse("app.cpu{}", 9, &sel, NULL), 0);
  ember_strlist_t l;
  assert_int_equal(ember_store_label_values(f->s, &sel, "b", &l, NULL), 0);
  assert_int_equal(l.n, 1);
  ember_strlist_free(&l);
  ember_selector_free(&sel);
}

static void test_apply_appends_a_row_per_push_to_one_bucket(void **state) {
  fixture_t *f = *state;
  put(f->s, "app.cpu", T0, T0 + 10, "x 1");
  put(f->s, "app.cpu", T0 + 1, T0 + 9, "x 2");
  put(f->s, "app.cpu", T0, T0 + 10, "y 4");
  ember_store_stats_t st;
  ember_store_stats(f->s, &st);
  assert_int_equal(st.rows_written, 3);
  int rc;
  ember_tree_t *t = get_tree(f->s, "app.cpu{}", T0, T0 + 10, &rc);
  assert_int_equal(rc, 0);
  assert_int_equal(self_at(t, "x", 0), 3);
  assert_int_equal(self_at(t, "y", 0), 4);
  ember_tree_free(t);
}

static void test_apply_stores_a_profile_without_samples_as_no_rows(void **state) {
  fixture_t *f = *state;
  ember_ingest_result_t r = make_result("empty.cpu", T0, T0 + 10, "", EMBER_AGG_SUM);
  assert_int_equal(ember_store_write(f->s, &r, NULL), 0);
  ember_ingest_result_free(&r);
  ember_store_stats_t st;
  ember_store_stats(f->s, &st);
  assert_int_equal(st.rows_written, 0);
  assert_int_equal(total_of(f->s, "empty.cpu{}", T0, T0 + 10), 0); /* app known */
}

/* ---- Limits ------------------------------------------------------------ */

static void test_apply_refuses_a_series_beyond_the_limit_per_app(void **state) {
  fixture_t *f = *state;
  ember_store_config_t cfg = {.data_dir = f->dir, .max_series_per_app = 3};
  f->s = open_store_cfg(&cfg);
  put(f->s, "app.cpu{pod=a}", T0, T0 + 10, "x 1");
  put(f->s, "app.cpu{pod=b}", T0, T0 + 10, "x 1");
  put(f->s, "app.cpu{pod=c}", T0, T0 + 10, "x 1");
  ember_err_t err = {0};
  assert_int_equal(try_put(f->s, "app.cpu{pod=d}", T0, T0 + 10, "x 1", &err),
                   EMBER_ELIMIT);
  assert_non_null(strstr(err.msg, "--max-series-per-app 3"));
  assert_non_null(strstr(err.msg, "'app.cpu'"));
  /* Existing series still take pushes; other apps have their own count. */
  put(f->s, "app.cpu{pod=a}", T0, T0 + 10, "x 1");
  put(f->s, "other.cpu{pod=d}", T0, T0 + 10, "x 5");
  assert_int_equal(total_of(f->s, "app.cpu{}", T0, T0 + 10), 4);
  assert_int_equal(total_of(f->s, "app.cpu{pod=\"d\"}", T0, T0 + 10), 0);
}

/* Counted once per request, the limit must still hold for a request that
 * brings many new series at once: all of it is refused, none kept. */
static void test_apply_refuses_a_request_whose_new_series_pass_the_limit(void **state) {
  fixture_t *f = *state;
  ember_store_config_t cfg = {.data_dir = f->dir, .max_series_per_app = 3};
  f->s = open_store_cfg(&cfg);
  put(f->s, "app.cpu{pod=a}", T0, T0 + 10, "x 1");
  ember_ingest_result_t r =
      make_result("app.cpu{pod=b}", T0, T0 + 10, "x 1", EMBER_AGG_SUM);
  const char *more[] = {"app.cpu{pod=c}", "app.cpu{pod=d}"};
  for (int i = 0; i < 2; i++) {
    ember_ingest_result_t m = make_result(more[i], T0, T0 + 10, "x 1", EMBER_AGG_SUM);
    join_results(&r, &m);
  }
  ember_err_t err = {0};
  assert_int_equal(ember_store_write(f->s, &r, &err), EMBER_ELIMIT);
  ember_ingest_result_free(&r);
  assert_int_equal(total_of(f->s, "app.cpu{}", T0, T0 + 10), 1);
  ember_selector_t sel;
  assert_int_equal(ember_selector_parse("app.cpu{}", 9, &sel, NULL), 0);
  ember_strlist_t l;
  assert_int_equal(ember_store_label_values(f->s, &sel, "pod", &l, NULL), 0);
  assert_int_equal(l.n, 1); /* only pod=a: b was rolled back with the rest */
  ember_strlist_free(&l);
  ember_selector_free(&sel);
}

static void test_apply_refuses_an_app_beyond_the_limit(void **state) {
  fixture_t *f = *state;
  ember_store_config_t cfg = {.data_dir = f->dir, .max_apps = 2};
  f->s = open_store_cfg(&cfg);
  put(f->s, "one.cpu", T0, T0 + 10, "x 1");
  put(f->s, "two.cpu", T0, T0 + 10, "x 1");
  ember_err_t err = {0};
  assert_int_equal(try_put(f->s, "three.cpu", T0, T0 + 10, "x 1", &err), EMBER_ELIMIT);
  assert_non_null(strstr(err.msg, "--max-apps 2"));
  assert_non_null(strstr(err.msg, "'three.cpu'"));
  ember_app_info_t *apps;
  size_t n;
  assert_int_equal(ember_store_apps(f->s, &apps, &n, NULL), 0);
  assert_int_equal(n, 2);
  for (size_t i = 0; i < n; i++)
    ember_app_info_free(&apps[i]);
  free(apps);
  /* Known apps go on; deleting one makes room at once. */
  put(f->s, "one.cpu", T0 + 10, T0 + 20, "x 1");
  assert_int_equal(ember_store_delete_app(f->s, "two.cpu", NULL), 0);
  put(f->s, "three.cpu", T0, T0 + 10, "x 3");
  assert_int_equal(total_of(f->s, "three.cpu", T0, T0 + 10), 3);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_place_puts_a_ten_second_push_in_one_bucket),
      cmocka_unit_test(test_place_floors_negative_times_correctly),
      cmocka_unit_test(test_place_splits_a_minute_over_six_buckets_exactly),
      cmocka_unit_test(test_place_split_keeps_every_sum_with_uneven_overlaps),
      cmocka_unit_test(test_place_ignores_a_bucket_the_span_only_touches),
      cmocka_unit_test(test_place_stores_spans_over_an_hour_whole_at_their_start),
      cmocka_unit_test(test_place_replicates_average_values_instead_of_splitting),
      cmocka_unit_test(test_place_rejects_a_profile_that_ends_before_it_starts),
      cmocka_unit_test(test_place_rejects_times_beyond_any_calendar),
      cmocka_unit_test_setup_teardown(test_apply_reads_the_widest_range_safely,
                                      store_setup, store_teardown),
      cmocka_unit_test_setup_teardown(test_apply_splits_a_long_push_across_the_timeline,
                                      store_setup, store_teardown),
      cmocka_unit_test_setup_teardown(test_apply_keeps_the_latest_app_metadata,
                                      store_setup, store_teardown),
      cmocka_unit_test_setup_teardown(test_apply_treats_reordered_labels_as_one_series,
                                      store_setup, store_teardown),
      cmocka_unit_test_setup_teardown(test_apply_appends_a_row_per_push_to_one_bucket,
                                      store_setup, store_teardown),
      cmocka_unit_test_setup_teardown(
          test_apply_stores_a_profile_without_samples_as_no_rows, store_setup,
          store_teardown),
      cmocka_unit_test_setup_teardown(
          test_apply_refuses_a_series_beyond_the_limit_per_app, dir_setup,
          store_teardown),
      cmocka_unit_test_setup_teardown(
          test_apply_refuses_a_request_whose_new_series_pass_the_limit, dir_setup,
          store_teardown),
      cmocka_unit_test_setup_teardown(test_apply_refuses_an_app_beyond_the_limit,
                                      dir_setup, store_teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
