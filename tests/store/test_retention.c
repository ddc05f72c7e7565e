/* Tests for src/store/retention.c: old rows go, new rows stay, rollups and
 * empty series are cleaned up with them, and retention 0 keeps everything. */
#include <setjmp.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "store/helpers.h"

#include "store/store_int.h"

#define T0 4000000000 /* future: the background pass ignores these rows */

static ember_strlist_t values(ember_store_t *s, const char *key) {
  ember_selector_t sel;
  assert_int_equal(ember_selector_parse("app.cpu", 7, &sel, NULL), 0);
  ember_strlist_t l = {0};
  assert_int_equal(ember_store_label_values(s, &sel, key, &l, NULL), 0);
  ember_selector_free(&sel);
  return l;
}

static void test_retention_deletes_only_rows_older_than_the_limit(void **state) {
  fixture_t *f = *state;
  f->s = open_store(f->dir, 0, 3600);
  put(f->s, "app.cpu{host=old}", T0, T0 + 10, "a 1");
  put(f->s, "app.cpu{host=both}", T0, T0 + 10, "a 2");
  put(f->s, "app.cpu{host=both}", T0 + 5000, T0 + 5010, "a 4");
  put(f->s, "app.cpu{host=new}", T0 + 4000, T0 + 4010, "a 8");
  /* now - 3600 = T0 + 1400: the rows at T0 are older, the rest are not. */
  maintain_at(f->s, T0 + 5000);
  assert_int_equal(total_of(f->s, "app.cpu{}", T0, T0 + 6000), 12);
  assert_int_equal(total_of(f->s, "app.cpu{}", T0, T0 + 1000), 0);
  ember_store_stats_t st;
  ember_store_stats(f->s, &st);
  assert_int_equal(st.rows_deleted, 2);
  /* The series left without rows is gone from the label lists. */
  ember_strlist_t l = values(f->s, "host");
  assert_int_equal(l.n, 2);
  assert_string_equal(l.items[0], "both");
  assert_string_equal(l.items[1], "new");
  ember_strlist_free(&l);
  /* The app itself stays. */
  ember_app_info_t a;
  assert_int_equal(ember_store_app(f->s, "app.cpu", &a, NULL), 0);
  ember_app_info_free(&a);
}

static void test_retention_keeps_reads_exact_when_cutting_through_rollups(void **state) {
  fixture_t *f = *state;
  f->s = open_store(f->dir, 0, 0);
  /* One push per bucket over 3000 s, value 1 each, to two series in turn
   * (an app rollup is built where more than one series has data), then
   * rollups. */
  enum { N = 300 };
  ember_ingest_result_t all = {.items = calloc(N, sizeof(ember_profile_t)), .n = N};
  for (int i = 0; i < N; i++) {
    ember_ingest_result_t one = make_result(i % 2 ? "app.cpu{h=b}" : "app.cpu{h=a}",
                                            T0 + 10 * i, T0 + 10 * i + 10, "main;x 1",
                                            EMBER_AGG_SUM);
    all.items[i] = one.items[0];
    free(one.items);
  }
  assert_int_equal(ember_store_write(f->s, &all, NULL), 0);
  ember_ingest_result_free(&all);
  maintain_at(f->s, T0 + 100000);
  /* The series' rollups and the app's alike. */
  assert_true(count_sql(f->dir, "SELECT COUNT(*) FROM app_segments") > 0);
  ember_store_close(f->s);
  /* Reopen with a retention that cuts inside a 1000 s and a 100 s rollup:
   * cutoff = T0 + 2250. */
  f->s = open_store(f->dir, 0, 1000);
  maintain_at(f->s, T0 + 3255);
  /* No rollup, of the series or the app, outlives a row it sums. */
  assert_int_equal(count_sql(f->dir, "SELECT COUNT(*) FROM app_segments WHERE start < "
                                     "4000002250"),
                   0);
  assert_int_equal(count_rows_where(f->dir, "level > 0 AND start < 4000002250"), 0);
  assert_int_equal(total_of(f->s, "app.cpu", T0, T0 + 3000), 75);
  assert_int_equal(total_of(f->s, "app.cpu", T0 + 2000, T0 + 3000), 75);
  assert_int_equal(total_of(f->s, "app.cpu", T0 + 2200, T0 + 2299), 5);
  ember_selector_t sel;
  assert_int_equal(ember_selector_parse("app.cpu", 7, &sel, NULL), 0);
  uint64_t v[3];
  assert_int_equal(ember_store_timeline(f->s, &sel, T0 + 1000, 1000, v, 3, NULL), 0);
  assert_int_equal(v[0], 0);
  assert_int_equal(v[1], 75);
  assert_int_equal(v[2], 0);
  ember_selector_free(&sel);
}

static void test_retention_of_zero_keeps_everything(void **state) {
  fixture_t *f = *state;
  f->s = open_store(f->dir, 0, 0);
  put(f->s, "app.cpu", 1000, 1010, "a 1"); /* 1970 */
  maintain_at(f->s, T0);
  assert_int_equal(total_of(f->s, "app.cpu", 1000, 1010), 1);
}

static void test_retention_deletes_in_chunks_until_done(void **state) {
  fixture_t *f = *state;
  f->s = open_store(f->dir, 0, 60);
  enum { N = 4500 }; /* more than two chunks of rows */
  ember_ingest_result_t all = {.items = calloc(N, sizeof(ember_profile_t)), .n = N};
  for (int i = 0; i < N; i++) {
    char name[32];
    snprintf(name, sizeof name, "app.cpu{i=%d}", i % 50);
    ember_ingest_result_t one = make_result(
        name, T0 + 10 * (i / 50), T0 + 10 * (i / 50) + 10, "main;x 1", EMBER_AGG_SUM);
    all.items[i] = one.items[0];
    free(one.items);
  }
  assert_int_equal(ember_store_write(f->s, &all, NULL), 0);
  ember_ingest_result_free(&all);
  put(f->s, "app.cpu{i=keep}", T0 + 100000, T0 + 100010, "main;y 3");
  maintain_at(f->s, T0 + 100000);
  ember_store_stats_t st;
  ember_store_stats(f->s, &st);
  assert_int_equal(st.rows_deleted, N);
  assert_int_equal(total_of(f->s, "app.cpu", T0, T0 + 200000), 3);
  ember_strlist_t l = values(f->s, "i");
  assert_int_equal(l.n, 1);
  ember_strlist_free(&l);
}

/* Sum of the timeline of app.cpu over [from, from + 10 * n), 10 s steps:
 * read from level 0 alone, so it checks what the rollups say. */
static uint64_t level0_sum(ember_store_t *s, int64_t from, size_t n) {
  ember_selector_t sel;
  assert_int_equal(ember_selector_parse("app.cpu", 7, &sel, NULL), 0);
  uint64_t *v = calloc(n, sizeof *v), sum = 0;
  assert_int_equal(ember_store_timeline(s, &sel, from, 10, v, n, NULL), 0);
  for (size_t i = 0; i < n; i++)
    sum += v[i];
  free(v);
  ember_selector_free(&sel);
  return sum;
}

static void test_retention_drops_a_span_row_once_all_of_it_expired(void **state) {
  fixture_t *f = *state;
  f->s = open_store(f->dir, 0, 0);
  /* One push over an hour (10 samples per bucket, 5 in the two edge
   * buckets) and, in the same series, a push every 10 s, so rollups hold
   * span shares next to bucket rows. */
  put(f->s, "app.cpu", T0 + 5, T0 + 3605, "main;x 3600");
  enum { N = 400 };
  ember_ingest_result_t all = {.items = calloc(N, sizeof(ember_profile_t)), .n = N};
  for (int i = 0; i < N; i++) {
    ember_ingest_result_t one =
        make_result("app.cpu", T0 + 10 * i, T0 + 10 * i + 10, "main;y 1", EMBER_AGG_SUM);
    all.items[i] = one.items[0];
    free(one.items);
  }
  assert_int_equal(ember_store_write(f->s, &all, NULL), 0);
  ember_ingest_result_free(&all);
  maintain_at(f->s, T0 + 100000);
  ember_store_close(f->s);
  /* A cutoff inside the span (T0 + 2000) keeps the whole span row: its
   * older part stays readable until all of it expires, and the rollups
   * after the cutoff still equal what lies below them. */
  f->s = open_store(f->dir, 0, 1000);
  maintain_at(f->s, T0 + 3000);
  int rc;
  ember_tree_t *t = get_tree(f->s, "app.cpu", T0 + 2000, T0 + 3999, &rc);
  assert_int_equal(rc, 0);
  assert_int_equal(self_at(t, "main;x", 0), 1605);
  assert_int_equal(self_at(t, "main;y", 0), 200);
  ember_tree_free(t);
  assert_int_equal(total_of(f->s, "app.cpu", T0 + 2000, T0 + 3999),
                   level0_sum(f->s, T0 + 2000, 200));
  assert_int_equal(total_of(f->s, "app.cpu", T0, T0 + 1999), 1995);
  /* Once its last bucket is past the cutoff, it goes. */
  maintain_at(f->s, T0 + 4610);
  assert_int_equal(total_of(f->s, "app.cpu", T0, T0 + 3609), 0);
  assert_int_equal(total_of(f->s, "app.cpu", T0, T0 + 3999), 39);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(
          test_retention_deletes_only_rows_older_than_the_limit, dir_setup,
          store_teardown),
      cmocka_unit_test_setup_teardown(
          test_retention_keeps_reads_exact_when_cutting_through_rollups, dir_setup,
          store_teardown),
      cmocka_unit_test_setup_teardown(test_retention_of_zero_keeps_everything, dir_setup,
                                      store_teardown),
      cmocka_unit_test_setup_teardown(test_retention_deletes_in_chunks_until_done,
                                      dir_setup, store_teardown),
      cmocka_unit_test_setup_teardown(
          test_retention_drops_a_span_row_once_all_of_it_expired, dir_setup,
          store_teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
