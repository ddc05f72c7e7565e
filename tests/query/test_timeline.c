/* Tests for src/query/timeline.c: the timeline grid and its JSON. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "ember/query.h"
#include "query/query_int.h"

static void assert_grid(int64_t from, int64_t until, int64_t start, int64_t step,
                        size_t n) {
  ember_timeline_grid_t g = ember_timeline_grid(from, until);
  if (g.start != start || g.step != step || g.n != n)
    fprintf(stderr, "[%lld, %lld): got start %lld step %lld n %zu\n", (long long)from,
            (long long)until, (long long)g.start, (long long)g.step, g.n);
  assert_true(g.start == start);
  assert_true(g.step == step);
  assert_int_equal(g.n, n);
}

static void test_grid_uses_10s_steps_for_an_hour(void **state) {
  /* until is included (to the second): an hour from a 10 s mark to
   * another touches 361 buckets. */
  assert_grid(1700000000, 1700003600, 1700000000, 10, 361);
  assert_grid(1700000000, 1700003599, 1700000000, 10, 360);
}

static void test_grid_rounds_from_down_and_covers_until(void **state) {
  assert_grid(1005, 1015, 1000, 10, 2);
  assert_grid(1005, 1009, 1000, 10, 1);
  assert_grid(1005, 1010, 1000, 10, 2); /* the bucket holding until counts */
  assert_grid(1005, 1011, 1000, 10, 2);
  assert_grid(1000, 1001, 1000, 10, 1);
}

static void test_grid_keeps_10s_up_to_the_point_budget(void **state) {
  assert_grid(0, 10 * EMBER_TIMELINE_MAX_POINTS - 1, 0, 10, EMBER_TIMELINE_MAX_POINTS);
  assert_grid(0, 10 * EMBER_TIMELINE_MAX_POINTS, 0, 100,
              EMBER_TIMELINE_MAX_POINTS / 10 + 1);
}

static void test_grid_widens_by_powers_of_ten(void **state) {
  assert_grid(1700000000, 1700000000 + 86400, 1700000000, 100, 865);
  /* 7 days: 6048 steps of 100 s, 605 of 1000 s (from rounds down). */
  assert_grid(1700000050, 1700000050 + 7 * 86400, 1700000000, 1000, 605);
  assert_grid(1700000000, 1700000000 + 30 * 86400, 1700000000, 10000, 260);
  assert_grid(1700005000, 1700005000 + 30 * 86400, 1700000000, 10000, 260);
  assert_grid(0, 365 * 86400, 0, 100000, 316);
}

static void test_grid_of_an_empty_range_has_no_points(void **state) {
  assert_grid(1005, 1005, 1000, 10, 0);
  assert_grid(2000, 1000, 2000, 10, 0);
}

static void test_grid_floors_negative_times(void **state) {
  assert_grid(-15, 5, -20, 10, 3);
}

static void test_grid_of_the_widest_range_stays_in_budget(void **state) {
  ember_timeline_grid_t g = ember_timeline_grid(INT64_MIN, INT64_MAX);
  assert_true(g.n <= EMBER_TIMELINE_MAX_POINTS);
  assert_true(g.n > 0);
  assert_true(g.step == 100000000000000000ll); /* 185 points */
}

static void test_timeline_json_shifts_data_by_one_and_keeps_zero(void **state) {
  ember_timeline_grid_t g = ember_timeline_grid(100, 139);
  uint64_t v[4] = {0, 1, 41, UINT64_MAX};
  ember_buf_t b = EMBER_BUF_INIT;
  ember_timeline_put_json(&b, g, v);
  assert_string_equal(b.data, "{\"startTime\":100,\"samples\":[0,2,42,"
                              "18446744073709551615],\"durationDelta\":10}");
  ember_buf_reset(&b);
  ember_timeline_put_json(&b, g, NULL);
  assert_string_equal(b.data,
                      "{\"startTime\":100,\"samples\":[0,0,0,0],\"durationDelta\":10}");
  ember_buf_free(&b);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_grid_uses_10s_steps_for_an_hour),
      cmocka_unit_test(test_grid_rounds_from_down_and_covers_until),
      cmocka_unit_test(test_grid_keeps_10s_up_to_the_point_budget),
      cmocka_unit_test(test_grid_widens_by_powers_of_ten),
      cmocka_unit_test(test_grid_of_an_empty_range_has_no_points),
      cmocka_unit_test(test_grid_floors_negative_times),
      cmocka_unit_test(test_grid_of_the_widest_range_stays_in_budget),
      cmocka_unit_test(test_timeline_json_shifts_data_by_one_and_keeps_zero),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
