/* Tests for src/store/cover.c: span rows read back exactly as the per-bucket
 * rows they replace (trees, averages, timelines, rollups, edges), one row per
 * push on disk, and damaged span rows reported by name. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <sqlite3.h>
#include <sys/stat.h>

#include "store/helpers.h"

#include "store/store_int.h"

/* In the future, so the background maintenance pass (real clock) leaves
 * these rows alone and each test decides when compaction runs. */
#define T0 4000000000
#define LATER (T0 + 100000)

/* ---- Helpers ----------------------------------------------------------- */

/* Stacks "main;s<i>" with these values: small ones (whose shares of a long
 * span are mostly zero), uneven ones and huge ones. */
static const uint64_t VALUES[] = {
    1, 2, 3, 7, 35, 359, 360, 361, 1000003, 123456789012ULL, UINT64_MAX / 3 / 400};
#define NVALUES (sizeof VALUES / sizeof *VALUES)

/* The values push_both sends (VALUES unless a test says otherwise). */
static const uint64_t *values = VALUES;

static ember_ingest_result_t result_of(const char *name, int64_t from, int64_t until,
                                       const uint64_t *v, ember_aggregation_t agg) {
  ember_ingest_result_t r = make_result(name, from, until, "", agg);
  for (size_t i = 0; i < NVALUES; i++) {
    char stack[32];
    snprintf(stack, sizeof stack, "main;s%zu", i);
    if (v[i]) add_folded(r.items[0].tree, stack, v[i]);
  }
  return r;
}

static void write_result(ember_store_t *s, ember_ingest_result_t *r) {
  ember_err_t err = {0};
  int rc = ember_store_write(s, r, &err);
  if (rc) fprintf(stderr, "write: %s\n", err.msg);
  assert_int_equal(rc, 0);
  ember_ingest_result_free(r);
}

/* floor(v * c / d), computed independently of the store's arithmetic. */
static uint64_t floor_frac(uint64_t v, uint64_t c, uint64_t d) {
  return (uint64_t)((unsigned __int128)v * c / d);
}

/* Pushes VALUES over [from, until) twice: as one profile to app `span`, and
 * as one 10 s profile per bucket to app `split`, holding what the bucket
 * gets by the documented placement (the share of each stack proportional to
 * the overlap, by cumulative rounding; or the whole value for averages). */
static void push_both(ember_store_t *s, const char *span, const char *split, int64_t from,
                      int64_t until, ember_aggregation_t agg) {
  ember_ingest_result_t r = result_of(span, from, until, values, agg);
  write_result(s, &r);
  int64_t first = ember_store_floor(from, 10);
  for (int64_t t = first; t < until; t += 10) {
    uint64_t part[NVALUES];
    uint64_t lo = (uint64_t)(t > from ? t - from : 0);
    uint64_t hi = (uint64_t)((t + 10 < until ? t + 10 : until) - from);
    for (size_t i = 0; i < NVALUES; i++)
      part[i] = agg == EMBER_AGG_AVERAGE
                    ? values[i]
                    : floor_frac(values[i], hi, (uint64_t)(until - from)) -
                          floor_frac(values[i], lo, (uint64_t)(until - from));
    uint64_t any = 0;
    for (size_t i = 0; i < NVALUES; i++)
      any |= part[i];
    if (!any) continue; /* a bucket of zero shares had no row */
    ember_ingest_result_t b = result_of(split, t, t + 10, part, agg);
    write_result(s, &b);
  }
}

/* Asserts that both apps read the same trees over [from, until]. */
static void same_tree(ember_store_t *s, const char *a, const char *b, int64_t from,
                      int64_t until) {
  int rc;
  ember_tree_t *x = get_tree(s, a, from, until, &rc);
  assert_int_equal(rc, 0);
  ember_tree_t *y = get_tree(s, b, from, until, &rc);
  assert_int_equal(rc, 0);
  for (size_t i = 0; i < NVALUES; i++) {
    char stack[32];
    snprintf(stack, sizeof stack, "main;s%zu", i);
    uint64_t vx = self_at(x, stack, 0), vy = self_at(y, stack, 0);
    if (vx != vy)
      fprintf(stderr, "[%lld, %lld] %s: %llu != %llu\n", (long long)(from - T0),
              (long long)(until - T0), stack, (unsigned long long)vx,
              (unsigned long long)vy);
    assert_true(vx == vy);
  }
  assert_true(ember_tree_total(x, 0) == ember_tree_total(y, 0));
  ember_tree_free(x);
  ember_tree_free(y);
}

static void same_timeline(ember_store_t *s, const char *a, const char *b, int64_t start,
                          int64_t step, size_t n) {
  uint64_t va[64], vb[64];
  ember_selector_t sa, sb;
  assert_int_equal(ember_selector_parse(a, strlen(a), &sa, NULL), 0);
  assert_int_equal(ember_selector_parse(b, strlen(b), &sb, NULL), 0);
  assert_int_equal(ember_store_timeline(s, &sa, start, step, va, n, NULL), 0);
  assert_int_equal(ember_store_timeline(s, &sb, start, step, vb, n, NULL), 0);
  for (size_t i = 0; i < n; i++) {
    if (va[i] != vb[i])
      fprintf(stderr, "timeline %lld/%lld [%zu]: %llu != %llu\n", (long long)(start - T0),
              (long long)step, i, (unsigned long long)va[i], (unsigned long long)vb[i]);
    assert_true(va[i] == vb[i]);
  }
  ember_selector_free(&sa);
  ember_selector_free(&sb);
}

/* Compares the two apps over ranges that start and end inside, at and
 * around the span's buckets and the rollup periods. */
static void same_reads(ember_store_t *s, const char *a, const char *b, int64_t from,
                       int64_t until) {
  const int64_t pts[] = {from - 100, from - 1,  from,     from + 3,   from + 10,
                         from + 99,  T0 + 100,  T0 + 995, T0 + 1000,  (from + until) / 2,
                         until - 11, until - 1, until,    until + 10, until + 1000};
  const size_t np = sizeof pts / sizeof *pts;
  for (size_t i = 0; i < np; i++)
    for (size_t j = 0; j < np; j++)
      if (pts[i] <= pts[j]) same_tree(s, a, b, pts[i], pts[j]);
  for (int64_t step = 10; step <= 1000; step *= 10) {
    same_timeline(s, a, b, ember_store_floor(from, step) - step, step, 64);
    same_timeline(s, a, b, ember_store_floor(from, 10) + 30, step, 40);
  }
}

/* ---- Exactness --------------------------------------------------------- */

static void test_cover_reads_a_span_exactly_as_the_buckets_it_replaces(void **state) {
  fixture_t *f = *state;
  static const int64_t shapes[][2] = {
      {T0 + 5, T0 + 25},      /* three buckets, half of the edges */
      {T0 + 3, T0 + 38},      /* uneven overlaps */
      {T0 + 200, T0 + 3800},  /* exactly one hour, aligned */
      {T0 + 4009, T0 + 7609}, /* one hour over 361 buckets */
      {T0 + 8000, T0 + 8011}, /* just over ten seconds */
  };
  for (size_t k = 0; k < sizeof shapes / sizeof *shapes; k++) {
    char span[32], split[32];
    snprintf(span, sizeof span, "span%zu.cpu", k);
    snprintf(split, sizeof split, "split%zu.cpu", k);
    push_both(f->s, span, split, shapes[k][0], shapes[k][1], EMBER_AGG_SUM);
    same_reads(f->s, span, split, shapes[k][0], shapes[k][1]);
  }
  assert_int_equal(count_rows_where(f->dir, "seq<0"), 5); /* one row per long push */
}

static void test_cover_saturates_span_totals_as_bucket_rows_would(void **state) {
  fixture_t *f = *state;
  /* Values whose shares of one bucket already overflow 64 bits. */
  static const uint64_t huge[NVALUES] = {UINT64_MAX, UINT64_MAX / 2, 7, UINT64_MAX - 1};
  values = huge;
  push_both(f->s, "span.cpu", "split.cpu", T0 + 5, T0 + 25, EMBER_AGG_SUM);
  values = VALUES;
  same_reads(f->s, "span.cpu", "split.cpu", T0 + 5, T0 + 25);
  uint64_t v[3];
  ember_selector_t sel;
  assert_int_equal(ember_selector_parse("span.cpu", 8, &sel, NULL), 0);
  assert_int_equal(ember_store_timeline(f->s, &sel, T0, 10, v, 3, NULL), 0);
  assert_true(v[1] == UINT64_MAX);
  assert_true(v[0] < UINT64_MAX);
  ember_selector_free(&sel);
}

static void test_cover_keeps_averages_of_a_span_exact(void **state) {
  fixture_t *f = *state;
  push_both(f->s, "span.mem", "split.mem", T0 + 205, T0 + 1315, EMBER_AGG_AVERAGE);
  /* A second series with a gauge of its own, so series averages add up. */
  ember_ingest_result_t r =
      make_result("span.mem{h=b}", T0 + 300, T0 + 310, "main;s0 50", EMBER_AGG_AVERAGE);
  write_result(f->s, &r);
  r = make_result("split.mem{h=b}", T0 + 300, T0 + 310, "main;s0 50", EMBER_AGG_AVERAGE);
  write_result(f->s, &r);
  same_reads(f->s, "span.mem", "split.mem", T0 + 205, T0 + 1315);
  /* The gauge's value holds over any window of it. */
  assert_int_equal(total_of(f->s, "span.mem{h=\"\"}", T0 + 400, T0 + 700),
                   total_of(f->s, "span.mem{h=\"\"}", T0 + 210, T0 + 219));
  assert_int_equal(count_rows_where(f->dir, "seq<0"), 1);
}

static void test_cover_keeps_spans_exact_through_rollups_and_late_writes(void **state) {
  fixture_t *f = *state;
  /* Regular 10 s pushes to both apps around and across a long push, so
   * rollups are built and hold span shares next to bucket rows. */
  ember_ingest_result_t r;
  for (int64_t t = T0; t < T0 + 3000; t += 10) {
    char stack[48];
    snprintf(stack, sizeof stack, "main;s%lld 5\nmain;tick 1", (long long)(t / 10 % 4));
    r = make_result("span.cpu", t, t + 10, stack, EMBER_AGG_SUM);
    write_result(f->s, &r);
    r = make_result("split.cpu", t, t + 10, stack, EMBER_AGG_SUM);
    write_result(f->s, &r);
  }
  push_both(f->s, "span.cpu", "split.cpu", T0 + 1234, T0 + 2567, EMBER_AGG_SUM);
  /* A second bucket row where the span row is keyed: compaction merges the
   * two bucket rows and must leave the span row alone. */
  r = make_result("span.cpu", T0 + 2560, T0 + 2570, "main;s1 9", EMBER_AGG_SUM);
  write_result(f->s, &r);
  r = make_result("split.cpu", T0 + 2560, T0 + 2570, "main;s1 9", EMBER_AGG_SUM);
  write_result(f->s, &r);
  /* span.cpu: two bucket rows and the span row; split.cpu: three bucket rows. */
  assert_int_equal(count_rows_where(f->dir, "level=0 AND start=4000002560"), 6);
  same_reads(f->s, "span.cpu", "split.cpu", T0 + 1234, T0 + 2567);
  maintain_at(f->s, LATER);
  assert_int_equal(count_rows_where(f->dir, "level=0 AND start=4000002560"),
                   3); /* 1 + span, 1 */
  assert_true(count_rows_where(f->dir, "level=1") > 0);
  assert_true(count_rows_where(f->dir, "level=2") > 0);
  assert_int_equal(count_rows_where(f->dir, "seq<0"),
                   1); /* span rows are never merged away */
  same_reads(f->s, "span.cpu", "split.cpu", T0 + 1234, T0 + 2567);
  /* A late long push drops the rollups it lies in, at once. */
  push_both(f->s, "span.cpu", "split.cpu", T0 + 150, T0 + 420, EMBER_AGG_SUM);
  same_reads(f->s, "span.cpu", "split.cpu", T0 + 150, T0 + 420);
  same_reads(f->s, "span.cpu", "split.cpu", T0 + 1234, T0 + 2567);
  maintain_at(f->s, LATER);
  same_reads(f->s, "span.cpu", "split.cpu", T0 + 150, T0 + 420);
  same_reads(f->s, "span.cpu", "split.cpu", T0 + 1234, T0 + 2567);
  same_reads(f->s, "span.cpu", "split.cpu", T0, T0 + 3000);
}

/* ---- Disk -------------------------------------------------------------- */

/* Bytes of the store's files after it is closed (the WAL checkpointed). */
static uint64_t store_bytes(const char *dir) {
  const char *names[] = {"ember.db", "ember.db-wal"};
  uint64_t total = 0;
  for (size_t i = 0; i < 2; i++) {
    char path[600];
    struct stat st;
    snprintf(path, sizeof path, "%s/%s", dir, names[i]);
    if (stat(path, &st) == 0) total += (uint64_t)st.st_size;
  }
  return total;
}

/* The bytes a store holds after one push of a 2,000-stack tree over
 * [T0, T0 + span). */
static uint64_t bytes_for_one_push(int64_t span) {
  char *dir = temp_dir();
  ember_store_t *s = open_store(dir, 0, 0);
  ember_ingest_result_t r = make_result("app.cpu", T0, T0 + span, "", EMBER_AGG_SUM);
  srand(11);
  for (int i = 0; i < 2000; i++) {
    char stack[64];
    snprintf(stack, sizeof stack, "main;mod%d;fn%d", i % 37, i);
    add_folded(r.items[0].tree, stack, 3600 + (uint64_t)rand() % 1000000);
  }
  write_result(s, &r);
  assert_true(total_of(s, "app.cpu", T0, T0 + span) > 0);
  ember_store_close(s);
  uint64_t n = store_bytes(dir);
  rm_tree(dir);
  free(dir);
  return n;
}

static void
test_cover_stores_a_long_push_in_about_the_bytes_of_a_short_one(void **state) {
  uint64_t ten_s = bytes_for_one_push(10);
  uint64_t hour = bytes_for_one_push(3600);
  fprintf(stderr, "one push of 2,000 stacks: %llu bytes over 10 s, %llu over 1 h\n",
          (unsigned long long)ten_s, (unsigned long long)hour);
  /* 360 copies would be about 360 times the segment bytes. */
  assert_true(hour <= ten_s + ten_s / 4);
}

/* ---- Damage ------------------------------------------------------------ */

static void raw_sql(fixture_t *f, const char *sql) {
  char path[600];
  snprintf(path, sizeof path, "%s/ember.db", f->dir);
  sqlite3 *db;
  assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
  sqlite3_busy_timeout(db, 5000);
  assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
  sqlite3_close(db);
}

static void test_cover_reports_a_span_row_that_disagrees_with_its_key(void **state) {
  fixture_t *f = *state;
  put(f->s, "app.cpu", T0 + 5, T0 + 65, "a 60");
  assert_int_equal(total_of(f->s, "app.cpu", T0, T0 + 70), 60);
  ember_selector_t sel;
  assert_int_equal(ember_selector_parse("app.cpu", 7, &sel, NULL), 0);
  ember_err_t err;
  uint64_t v[8];
  /* Its first bucket moved: the header no longer fits the key. */
  raw_sql(f, "UPDATE segments SET span_start = span_start + 10 WHERE seq < 0");
  ember_tree_t *t = ember_tree_new();
  assert_int_equal(ember_store_read_tree(f->s, &sel, T0, T0 + 60, t, 0, &err), EMBER_EIO);
  assert_non_null(strstr(err.msg, "start 4000000060, seq -1"));
  assert_non_null(strstr(err.msg, "span header"));
  assert_int_equal(ember_store_timeline(f->s, &sel, T0, 10, v, 8, &err), EMBER_EIO);
  assert_non_null(strstr(err.msg, "seq -1"));
  /* A start that is not a bucket's. */
  raw_sql(f, "UPDATE segments SET span_start = span_start + 3 WHERE seq < 0");
  assert_int_equal(ember_store_read_tree(f->s, &sel, T0, T0 + 60, t, 0, &err), EMBER_EIO);
  assert_non_null(strstr(err.msg, "its span starts at"));
  /* Bucket totals that do not add up to the row's total. */
  raw_sql(f,
          "UPDATE segments SET span_start = span_start - 13, total = 61 WHERE seq < 0");
  assert_int_equal(ember_store_read_tree(f->s, &sel, T0, T0 + 60, t, 0, &err), EMBER_EIO);
  assert_non_null(strstr(err.msg, "add up"));
  ember_tree_free(t);
  ember_selector_free(&sel);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(
          test_cover_reads_a_span_exactly_as_the_buckets_it_replaces, store_setup,
          store_teardown),
      cmocka_unit_test_setup_teardown(
          test_cover_saturates_span_totals_as_bucket_rows_would, store_setup,
          store_teardown),
      cmocka_unit_test_setup_teardown(test_cover_keeps_averages_of_a_span_exact,
                                      store_setup, store_teardown),
      cmocka_unit_test_setup_teardown(
          test_cover_keeps_spans_exact_through_rollups_and_late_writes, store_setup,
          store_teardown),
      cmocka_unit_test(test_cover_stores_a_long_push_in_about_the_bytes_of_a_short_one),
      cmocka_unit_test_setup_teardown(
          test_cover_reports_a_span_row_that_disagrees_with_its_key, store_setup,
          store_teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
