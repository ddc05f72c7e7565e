/* Tests for src/store/read.c: selectors through the store, time ranges,
 * timelines, labels, apps, average aggregation, persistence, damaged rows
 * and reads running alongside writes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <time.h>

#include "store/helpers.h"
#include "store/store_int.h"

/* In the future, so the background maintenance pass (which uses the real
 * clock) never finds these rows settled and rolls them up mid-test. */
#define T0 4000000000

static void put_fleet(ember_store_t *s) {
  put(s, "app.cpu{region=eu,host=a}", T0, T0 + 10, "f;a 1");
  put(s, "app.cpu{region=eu,host=b}", T0, T0 + 10, "f;b 2");
  put(s, "app.cpu{region=us,host=c}", T0, T0 + 10, "f;c 4");
  put(s, "app.cpu{host=d}", T0, T0 + 10, "f;d 8");
  put(s, "other.cpu{region=eu}", T0, T0 + 10, "z 16");
}

static ember_strlist_t labels(ember_store_t *s, const char *q, const char *key) {
  ember_selector_t sel;
  assert_int_equal(ember_selector_parse(q, strlen(q), &sel, NULL), 0);
  ember_strlist_t l = {0};
  int rc = key ? ember_store_label_values(s, &sel, key, &l, NULL)
               : ember_store_label_keys(s, &sel, &l, NULL);
  assert_int_equal(rc, 0);
  ember_selector_free(&sel);
  return l;
}

static void assert_list(ember_strlist_t *l, const char *const *want, size_t n) {
  assert_int_equal(l->n, n);
  for (size_t i = 0; i < n; i++) assert_string_equal(l->items[i], want[i]);
  ember_strlist_free(l);
}

static void timeline(ember_store_t *s, const char *q, int64_t start, int64_t step,
                     uint64_t *v, size_t n) {
  ember_selector_t sel;
  assert_int_equal(ember_selector_parse(q, strlen(q), &sel, NULL), 0);
  assert_int_equal(ember_store_timeline(s, &sel, start, step, v, n, NULL), 0);
  ember_selector_free(&sel);
}

/* ---- Selectors --------------------------------------------------------- */

static void test_read_matches_selectors_with_every_operator(void **state) {
  fixture_t *f = *state;
  put_fleet(f->s);
  const int64_t a = T0, b = T0 + 10;
  assert_int_equal(total_of(f->s, "app.cpu{}", a, b), 15);
  assert_int_equal(total_of(f->s, "app.cpu", a, b), 15);
  assert_int_equal(total_of(f->s, "app.cpu{region=\"eu\"}", a, b), 3);
  assert_int_equal(total_of(f->s, "app.cpu{region!=\"eu\"}", a, b), 12);
  assert_int_equal(total_of(f->s, "app.cpu{region=~\"e.*\"}", a, b), 3);
  assert_int_equal(total_of(f->s, "app.cpu{region!~\"e.*\"}", a, b), 12);
  assert_int_equal(total_of(f->s, "app.cpu{region=~\"u\"}", a, b), 0); /* anchored */
  assert_int_equal(total_of(f->s, "app.cpu{region=\"\"}", a, b), 8);
  assert_int_equal(total_of(f->s, "app.cpu{region=\"eu\",host!=\"a\"}", a, b), 2);
  assert_int_equal(total_of(f->s, "app.cpu{host=~\"[ab]\",region=\"eu\"}", a, b), 3);
  assert_int_equal(total_of(f->s, "app.cpu{region=\"mars\"}", a, b), 0);
  assert_int_equal(total_of(f->s, "other.cpu{region=\"eu\"}", a, b), 16);
}

static void test_read_returns_notfound_for_an_unknown_app(void **state) {
  fixture_t *f = *state;
  put_fleet(f->s);
  int rc;
  ember_tree_t *t = get_tree(f->s, "nope.cpu{}", T0, T0 + 10, &rc);
  assert_int_equal(rc, EMBER_ENOTFOUND);
  assert_int_equal(ember_tree_count(t), 1);
  ember_tree_free(t);
  ember_selector_t sel;
  assert_int_equal(ember_selector_parse("nope.cpu", 8, &sel, NULL), 0);
  uint64_t v[2] = {9, 9};
  assert_int_equal(ember_store_timeline(f->s, &sel, T0, 10, v, 2, NULL), EMBER_ENOTFOUND);
  assert_int_equal(v[0], 0);
  ember_selector_free(&sel);
  ember_strlist_t l = labels(f->s, "nope.cpu{}", NULL); /* no labels, no error */
  assert_int_equal(l.n, 0);
}

static void test_read_builds_the_tree_with_self_values_on_the_chosen_side(void **state) {
  fixture_t *f = *state;
  put(f->s, "app.cpu", T0, T0 + 10, "main;a;b 3\nmain;a 2\nmain;c 5");
  ember_selector_t sel;
  assert_int_equal(ember_selector_parse("app.cpu", 7, &sel, NULL), 0);
  ember_tree_t *t = ember_tree_new();
  assert_int_equal(ember_store_read_tree(f->s, &sel, T0, T0 + 10, t, 1, NULL), 0);
  assert_int_equal(ember_tree_check(t, NULL), 0);
  assert_int_equal(ember_tree_total(t, 0), 0);
  assert_int_equal(ember_tree_total(t, 1), 10);
  assert_int_equal(self_at(t, "main;a;b", 1), 3);
  assert_int_equal(self_at(t, "main;a", 1), 2);
  assert_int_equal(self_at(t, "main;c", 1), 5);
  assert_int_equal(self_at(t, "main", 1), 0);
  ember_tree_free(t);
  ember_selector_free(&sel);
}

/* ---- Time ranges ------------------------------------------------------- */

static void test_read_takes_the_buckets_holding_from_through_until(void **state) {
  fixture_t *f = *state;
  put(f->s, "app.cpu", T0, T0 + 10, "a 1");
  put(f->s, "app.cpu", T0 + 10, T0 + 20, "a 2");
  put(f->s, "app.cpu", T0 + 20, T0 + 30, "a 4");
  assert_int_equal(total_of(f->s, "app.cpu", T0, T0 + 29), 7);
  assert_int_equal(total_of(f->s, "app.cpu", T0 + 5, T0 + 9), 1);  /* one bucket */
  assert_int_equal(total_of(f->s, "app.cpu", T0 + 5, T0 + 10), 3); /* until holds 2 */
  assert_int_equal(total_of(f->s, "app.cpu", T0, T0 + 11), 3);
  assert_int_equal(total_of(f->s, "app.cpu", T0 + 10, T0 + 19), 2);
  assert_int_equal(total_of(f->s, "app.cpu", T0 + 30, T0 + 90), 0);
  assert_int_equal(total_of(f->s, "app.cpu", T0 + 20, T0 + 10), 0); /* empty range */
  assert_int_equal(total_of(f->s, "app.cpu", T0 + 15, T0 + 12), 0); /* even in a bucket */
}

static void test_read_sees_a_push_that_starts_at_the_until_of_the_query(void **state) {
  fixture_t *f = *state;
  /* An agent pushes with from on a whole 10 s mark (and until = now), and a
   * query with until = now runs in the same second: the push lies in the
   * bucket holding until, which must count. */
  put(f->s, "app.cpu", T0, T0, "a 5");
  assert_int_equal(total_of(f->s, "app.cpu", T0 - 3600, T0), 5);
  put(f->s, "app.cpu", T0 + 10, T0 + 20, "a 7");
  assert_int_equal(total_of(f->s, "app.cpu", T0 - 3600, T0 + 10), 12);
  assert_int_equal(total_of(f->s, "app.cpu", T0 + 10, T0 + 10), 7);
}

static void test_read_sums_timelines_by_step(void **state) {
  fixture_t *f = *state;
  put(f->s, "app.cpu{h=a}", T0, T0 + 10, "a 1");
  put(f->s, "app.cpu{h=b}", T0 + 10, T0 + 20, "a 2");
  put(f->s, "app.cpu{h=a}", T0 + 50, T0 + 60, "a 4");
  put(f->s, "app.cpu{h=b}", T0 + 100, T0 + 110, "a 8");
  put(f->s, "app.cpu{h=a}", T0 + 1000, T0 + 1010, "a 16");
  uint64_t v[12];
  timeline(f->s, "app.cpu{}", T0, 10, v, 12);
  uint64_t want10[12] = {1, 2, 0, 0, 0, 4, 0, 0, 0, 0, 8, 0};
  assert_memory_equal(v, want10, sizeof v);
  timeline(f->s, "app.cpu{}", T0, 100, v, 11);
  uint64_t want100[11] = {7, 8, 0, 0, 0, 0, 0, 0, 0, 0, 16};
  assert_memory_equal(v, want100, 11 * sizeof *v);
  timeline(f->s, "app.cpu{h=\"a\"}", T0, 100, v, 11);
  assert_int_equal(v[0], 5);
  assert_int_equal(v[1], 0);
  /* An unaligned start counts buckets starting at or after it. */
  timeline(f->s, "app.cpu{}", T0 + 5, 10, v, 2);
  assert_int_equal(v[0], 2);
  assert_int_equal(v[1], 0);
  ember_selector_t sel;
  assert_int_equal(ember_selector_parse("app.cpu", 7, &sel, NULL), 0);
  ember_err_t err;
  assert_int_equal(ember_store_timeline(f->s, &sel, T0, 15, v, 2, &err), EMBER_EINVAL);
  assert_non_null(strstr(err.msg, "multiple of 10"));
  ember_selector_free(&sel);
}

/* ---- Aggregation ------------------------------------------------------- */

static void put_avg(ember_store_t *s, const char *name, int64_t t, const char *folded) {
  ember_ingest_result_t r = make_result(name, t, t + 10, folded, EMBER_AGG_AVERAGE);
  assert_int_equal(ember_store_write(s, &r, NULL), 0);
  ember_ingest_result_free(&r);
}

static void test_read_averages_each_series_then_adds_them(void **state) {
  fixture_t *f = *state;
  put_avg(f->s, "mem.inuse{host=a}", T0, "heap;x 100\nheap;y 1");
  put_avg(f->s, "mem.inuse{host=a}", T0 + 10, "heap;x 200\nheap;y 2");
  put_avg(f->s, "mem.inuse{host=b}", T0, "heap;x 50");
  int rc;
  ember_tree_t *t = get_tree(f->s, "mem.inuse{}", T0, T0 + 20, &rc);
  assert_int_equal(rc, 0);
  /* host a averages 150 (x) and 1.5 -> 2 (y); host b 50; summed. */
  assert_int_equal(self_at(t, "heap;x", 0), 200);
  assert_int_equal(self_at(t, "heap;y", 0), 2);
  assert_int_equal(ember_tree_check(t, NULL), 0);
  ember_tree_free(t);
  assert_int_equal(total_of(f->s, "mem.inuse{host=\"a\"}", T0 + 10, T0 + 20), 202);
  /* A 30 s gauge push is not split: its value holds in every bucket. */
  put_avg(f->s, "mem.inuse{host=c}", T0 + 100, "heap;x 30");
  ember_ingest_result_t r = make_result("mem.inuse{host=c}", T0 + 200, T0 + 230,
                                        "heap;x 90", EMBER_AGG_AVERAGE);
  assert_int_equal(ember_store_write(f->s, &r, NULL), 0);
  ember_ingest_result_free(&r);
  assert_int_equal(total_of(f->s, "mem.inuse{host=\"c\"}", T0 + 200, T0 + 230), 90);
  assert_int_equal(total_of(f->s, "mem.inuse{host=\"c\"}", T0 + 100, T0 + 230), 75);
}

/* ---- Labels and apps --------------------------------------------------- */

static void test_read_lists_label_keys_and_values_sorted(void **state) {
  fixture_t *f = *state;
  put_fleet(f->s);
  ember_strlist_t l = labels(f->s, "app.cpu{}", NULL);
  assert_list(&l, (const char *const[]){"host", "region"}, 2);
  l = labels(f->s, "app.cpu{host=\"d\"}", NULL);
  assert_list(&l, (const char *const[]){"host"}, 1);
  l = labels(f->s, "app.cpu{}", "region");
  assert_list(&l, (const char *const[]){"eu", "us"}, 2);
  l = labels(f->s, "app.cpu{host=~\"[cd]\"}", "region");
  assert_list(&l, (const char *const[]){"us"}, 1);
  l = labels(f->s, "app.cpu{region!=\"us\"}", "host");
  assert_list(&l, (const char *const[]){"a", "b", "d"}, 3);
  l = labels(f->s, "other.cpu{}", "host");
  assert_int_equal(l.n, 0);
}

static void test_read_lists_apps_sorted_by_name(void **state) {
  fixture_t *f = *state;
  put(f->s, "zeta.cpu", T0, T0 + 10, "a 1");
  put(f->s, "alpha.cpu", T0, T0 + 10, "a 1");
  put(f->s, "mid.alloc_space", T0, T0 + 10, "a 1");
  ember_app_info_t *apps;
  size_t n;
  assert_int_equal(ember_store_apps(f->s, &apps, &n, NULL), 0);
  assert_int_equal(n, 3);
  assert_string_equal(apps[0].name, "alpha.cpu");
  assert_string_equal(apps[1].name, "mid.alloc_space");
  assert_string_equal(apps[2].name, "zeta.cpu");
  assert_string_equal(apps[0].spy_name, "gospy");
  assert_int_equal(apps[0].sample_rate, 100);
  for (size_t i = 0; i < n; i++) ember_app_info_free(&apps[i]);
  free(apps);
}

/* ---- Persistence and damage -------------------------------------------- */

static void test_read_gives_back_the_same_tree_after_reopening(void **state) {
  fixture_t *f = *state;
  const char *stacks = "main;a;b 3\nmain;a 2\nmain;c 5\nlib;x;y;z 11";
  put(f->s, "app.cpu{h=1}", T0, T0 + 10, stacks);
  put(f->s, "app.cpu{h=2}", T0 + 10, T0 + 20, "main;c 1");
  int rc;
  ember_tree_t *before = get_tree(f->s, "app.cpu{}", T0, T0 + 20, &rc);
  assert_int_equal(rc, 0);
  ember_store_close(f->s);
  f->s = open_store(f->dir, 0, 0);
  ember_tree_t *after = get_tree(f->s, "app.cpu{}", T0, T0 + 20, &rc);
  assert_int_equal(rc, 0);
  assert_int_equal(ember_tree_count(after), ember_tree_count(before));
  assert_int_equal(ember_tree_total(after, 0), 22);
  const char *paths[] = {"main;a;b", "main;a", "main;c", "lib;x;y;z", "main"};
  for (size_t i = 0; i < 5; i++)
    assert_int_equal(self_at(after, paths[i], 0), self_at(before, paths[i], 0));
  /* New writes after reopening extend the stored dictionary correctly. */
  put(f->s, "app.cpu{h=1}", T0, T0 + 10, "main;new 4\nmain;c 1");
  ember_tree_t *more = get_tree(f->s, "app.cpu{}", T0, T0 + 20, &rc);
  assert_int_equal(self_at(more, "main;new", 0), 4);
  assert_int_equal(self_at(more, "main;c", 0), 7);
  ember_tree_free(before);
  ember_tree_free(after);
  ember_tree_free(more);
}

/* Runs sql on the store's file through a separate connection. */
static void raw_sql(fixture_t *f, const char *sql) {
  char path[600];
  snprintf(path, sizeof path, "%s/ember.db", f->dir);
  sqlite3 *db;
  assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
  sqlite3_busy_timeout(db, 5000);
  assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
  sqlite3_close(db);
}

static void test_read_reports_a_damaged_row_instead_of_crashing(void **state) {
  fixture_t *f = *state;
  put(f->s, "app.cpu", T0, T0 + 10, "a;b 1");
  put(f->s, "app.cpu", T0 + 10, T0 + 20, "a;b 2");
  raw_sql(f, "UPDATE segments SET data = x'01deadbeef' WHERE start = 4000000010");
  ember_selector_t sel;
  assert_int_equal(ember_selector_parse("app.cpu", 7, &sel, NULL), 0);
  ember_tree_t *t = ember_tree_new();
  ember_err_t err;
  assert_int_equal(ember_store_read_tree(f->s, &sel, T0, T0 + 20, t, 0, &err), EMBER_EIO);
  assert_non_null(strstr(err.msg, "start 4000000010, seq 0"));
  assert_non_null(strstr(err.msg, "corrupt segment"));
  /* The undamaged part still reads, and the timeline needs no blob. */
  assert_int_equal(total_of(f->s, "app.cpu", T0, T0 + 9), 1);
  uint64_t v[2];
  assert_int_equal(ember_store_timeline(f->s, &sel, T0, 10, v, 2, NULL), 0);
  assert_int_equal(v[1], 2);
  /* A total that disagrees with the blob is damage too. */
  raw_sql(f, "UPDATE segments SET total = 99 WHERE start = 4000000000");
  assert_int_equal(ember_store_read_tree(f->s, &sel, T0, T0 + 10, t, 0, &err), EMBER_EIO);
  assert_non_null(strstr(err.msg, "add up"));
  ember_tree_free(t);
  ember_selector_free(&sel);
}

/* Replaces every row's blob by one naming only stack id with value 5. */
static void plant_stack(fixture_t *f, uint32_t id) {
  ember_seg_codec_t *c = ember_seg_codec_new();
  ember_buf_t blob = EMBER_BUF_INIT;
  ember_seg_pair_t p = {id, 5};
  assert_int_equal(ember_seg_encode(c, &p, 1, &blob, NULL), 0);
  ember_buf_t sql = EMBER_BUF_INIT;
  ember_buf_puts(&sql, "UPDATE segments SET total = 5, data = x'");
  for (size_t i = 0; i < blob.len; i++) ember_buf_printf(&sql, "%02x", (uint8_t)blob.data[i]);
  ember_buf_puts(&sql, "'");
  raw_sql(f, sql.data);
  ember_buf_free(&sql);
  ember_buf_free(&blob);
  ember_seg_codec_free(c);
}

static void test_read_reports_a_stack_missing_from_the_dictionary(void **state) {
  fixture_t *f = *state;
  put(f->s, "app.cpu", T0, T0 + 10, "a;b 1");
  ember_selector_t sel;
  assert_int_equal(ember_selector_parse("app.cpu", 7, &sel, NULL), 0);
  ember_err_t err;
  /* A well-formed blob naming a stack that was never stored; the largest
   * id must fail as cleanly, without sizing anything by it. */
  const uint32_t ids[] = {999, UINT32_MAX - 1};
  for (int i = 0; i < 2; i++) {
    plant_stack(f, ids[i]);
    ember_tree_t *t = ember_tree_new();
    assert_int_equal(ember_store_read_tree(f->s, &sel, T0, T0 + 10, t, 0, &err),
                     EMBER_EIO);
    char want[64];
    snprintf(want, sizeof want, "stack %u", ids[i]);
    assert_non_null(strstr(err.msg, want));
    assert_non_null(strstr(err.msg, "start 4000000000"));
    ember_tree_free(t);
  }
  ember_selector_free(&sel);
}

/* ---- Deadlines --------------------------------------------------------- */

static void test_read_gives_up_at_once_when_the_deadline_has_passed(void **state) {
  fixture_t *f = *state;
  put_fleet(f->s);
  ember_selector_t sel;
  assert_int_equal(ember_selector_parse("app.cpu{}", 9, &sel, NULL), 0);
  ember_tree_t *t = ember_tree_new();
  ember_err_t err;
  uint64_t v[4];
  ember_strlist_t l;
  ember_store_reader_t *r;
  ember_deadline_set(ember_mono_ns() - 1);
  assert_int_equal(ember_store_read_tree(f->s, &sel, T0, T0 + 10, t, 0, &err),
                   EMBER_ETIMEOUT);
  assert_non_null(strstr(err.msg, "deadline"));
  assert_non_null(strstr(err.msg, "narrow the time range"));
  assert_int_equal(ember_tree_total(t, 0), 0);
  assert_int_equal(ember_store_timeline(f->s, &sel, T0, 10, v, 4, &err), EMBER_ETIMEOUT);
  assert_int_equal(ember_store_label_keys(f->s, &sel, &l, &err), EMBER_ETIMEOUT);
  assert_int_equal(ember_store_reader_open(f->s, &r, &err), EMBER_ETIMEOUT);
  ember_deadline_set(0);
  assert_int_equal(total_of(f->s, "app.cpu{}", T0, T0 + 9), 15);
  ember_tree_free(t);
  ember_selector_free(&sel);
}

/* A profile of stacks "main;f<k>", k < n, each with value 1 + k % 5. */
static ember_ingest_result_t wide_result(const char *name, int64_t t, int n) {
  ember_ingest_result_t r = make_result(name, t, t + 10, "", EMBER_AGG_SUM);
  for (int k = 0; k < n; k++) {
    char frame[24];
    snprintf(frame, sizeof frame, "f%d", k);
    ember_slice_t path[2] = {ember_slice("main", 4), ember_slice(frame, strlen(frame))};
    ember_tree_add_stack(r.items[0].tree, path, 2, 1 + (uint64_t)(k % 5));
  }
  return r;
}

/* Reads app.cpu over the whole store; returns the code and the seconds. */
static int timed_read(ember_store_t *s, uint64_t deadline_in_ns, double *took) {
  ember_selector_t sel;
  assert_int_equal(ember_selector_parse("app.cpu", 7, &sel, NULL), 0);
  ember_tree_t *t = ember_tree_new();
  uint64_t start = ember_mono_ns();
  ember_deadline_set(deadline_in_ns ? start + deadline_in_ns : 0);
  int rc = ember_store_read_tree(s, &sel, T0, T0 + 1000, t, 0, NULL);
  *took = (double)(ember_mono_ns() - start) / 1e9;
  ember_deadline_set(0);
  ember_tree_free(t);
  ember_selector_free(&sel);
  return rc;
}

static void test_read_stops_a_long_read_at_its_deadline(void **state) {
  fixture_t *f = *state;
  /* 60 rows of 80,000 stacks each: decoding and summing them takes a
   * while on any machine. */
  for (int i = 0; i < 60; i++) {
    ember_ingest_result_t r = wide_result("app.cpu", T0 + 10 * i, 80000);
    assert_int_equal(ember_store_write(f->s, &r, NULL), 0);
    ember_ingest_result_free(&r);
  }
  double full, cut = 1e9, passed = 1e9, t;
  assert_int_equal(timed_read(f->s, 0, &full), 0);
  /* A deadline a tenth of the way in stops the read well before its end,
   * and one already passed before it reads anything. The best of three
   * tries, so that the machine being busy elsewhere cannot fail it. */
  uint64_t tenth = (uint64_t)(full * 1e9 / 10);
  for (int i = 0; i < 3; i++) {
    assert_int_equal(timed_read(f->s, tenth, &t), EMBER_ETIMEOUT);
    cut = t < cut ? t : cut;
    assert_int_equal(timed_read(f->s, 1, &t), EMBER_ETIMEOUT);
    passed = t < passed ? t : passed;
  }
  fprintf(stderr,
          "read of 4.8M samples: %.0f ms; stopped after %.1f ms by a deadline "
          "at %.1f ms, after %.2f ms by one already passed\n",
          full * 1e3, cut * 1e3, full * 1e2, passed * 1e3);
  assert_true(cut < full / 2);
  assert_true(passed < full / 4);
}

/* ---- Concurrency ------------------------------------------------------- */

/* Worker threads record failures instead of asserting: cmocka's asserts
 * may only fail on the test's own thread. */
typedef struct {
  ember_store_t *s;
  int id;
  atomic_int *stop;
  int reads;
  int failures;
  char why[EMBER_ERR_MSG_MAX];
} worker_t;

static void *write_loop(void *arg) {
  worker_t *w = arg;
  char name[64], stack[64];
  snprintf(name, sizeof name, "app.cpu{w=%d}", w->id);
  for (int i = 0; i < 60; i++) {
    snprintf(stack, sizeof stack, "main;f%d;g%d 1", i % 13, w->id);
    ember_ingest_result_t r = make_result(name, T0 + 10 * (i % 20),
                                          T0 + 10 * (i % 20) + 10, stack, EMBER_AGG_SUM);
    ember_err_t err;
    if (ember_store_write(w->s, &r, &err) != 0) {
      w->failures++;
      snprintf(w->why, sizeof w->why, "%s", err.msg);
    }
    ember_ingest_result_free(&r);
  }
  return NULL;
}

static void *read_loop(void *arg) {
  worker_t *w = arg;
  uint64_t last = 0;
  ember_selector_t sel;
  if (ember_selector_parse("app.cpu{}", 9, &sel, NULL) != 0) {
    w->failures++;
    return NULL;
  }
  while (!atomic_load(w->stop)) {
    ember_tree_t *t = ember_tree_new();
    ember_err_t err;
    int rc = ember_store_read_tree(w->s, &sel, T0, T0 + 200, t, 0, &err);
    uint64_t v = ember_tree_total(t, 0);
    if (rc == EMBER_ENOTFOUND && v == 0) rc = 0; /* before the first commit */
    if (rc != 0 || v < last || ember_tree_check(t, &err) != 0) {
      w->failures++; /* snapshots only ever grow */
      snprintf(w->why, sizeof w->why, "rc %d, %llu after %llu: %.300s", rc,
               (unsigned long long)v, (unsigned long long)last, err.msg);
    }
    last = v;
    w->reads++;
    ember_tree_free(t);
  }
  ember_selector_free(&sel);
  return NULL;
}

static void test_read_runs_alongside_writers_and_sees_consistent_snapshots(void **state) {
  fixture_t *f = *state;
  atomic_int stop = 0;
  pthread_t wt[2], rt[3];
  worker_t ww[2], rw[3];
  for (int i = 0; i < 3; i++) {
    rw[i] = (worker_t){f->s, i, &stop, 0, 0, ""};
    pthread_create(&rt[i], NULL, read_loop, &rw[i]);
  }
  for (int i = 0; i < 2; i++) {
    ww[i] = (worker_t){f->s, i, &stop, 0, 0, ""};
    pthread_create(&wt[i], NULL, write_loop, &ww[i]);
  }
  for (int i = 0; i < 2; i++) pthread_join(wt[i], NULL);
  atomic_store(&stop, 1);
  for (int i = 0; i < 3; i++) pthread_join(rt[i], NULL);
  for (int i = 0; i < 2; i++) {
    if (ww[i].failures) fprintf(stderr, "writer: %s\n", ww[i].why);
    assert_int_equal(ww[i].failures, 0);
  }
  for (int i = 0; i < 3; i++) {
    if (rw[i].failures) fprintf(stderr, "reader: %s\n", rw[i].why);
    assert_int_equal(rw[i].failures, 0);
  }
  assert_true(rw[0].reads > 0);
  assert_int_equal(total_of(f->s, "app.cpu{}", T0, T0 + 200), 120);
  assert_int_equal(total_of(f->s, "app.cpu{w=\"1\"}", T0, T0 + 200), 60);
}

static void test_read_session_sees_one_snapshot_whatever_lands_meanwhile(void **state) {
  fixture_t *f = *state;
  put(f->s, "app.cpu{h=a}", T0, T0 + 10, "a 1");
  ember_selector_t sel;
  assert_int_equal(ember_selector_parse("app.cpu{}", 9, &sel, NULL), 0);
  ember_store_reader_t *r;
  assert_int_equal(ember_store_reader_open(f->s, &r, NULL), 0);
  ember_tree_t *t = ember_tree_new();
  assert_int_equal(ember_store_reader_tree(r, &sel, T0, T0 + 9, t, 0, NULL), 0);
  assert_int_equal(ember_tree_total(t, 0), 1);
  /* A push to the same bucket, a new series and a new app land now. */
  put(f->s, "app.cpu{h=b}", T0, T0 + 10, "a 2");
  put(f->s, "new.cpu", T0, T0 + 10, "a 4");
  uint64_t v[1];
  assert_int_equal(ember_store_reader_timeline(r, &sel, T0, 10, v, 1, NULL), 0);
  assert_int_equal(v[0], 1);
  ember_tree_t *again = ember_tree_new();
  assert_int_equal(ember_store_reader_tree(r, &sel, T0, T0 + 9, again, 0, NULL), 0);
  assert_int_equal(ember_tree_total(again, 0), 1);
  ember_strlist_t l;
  assert_int_equal(ember_store_reader_label_values(r, &sel, "h", &l, NULL), 0);
  assert_list(&l, (const char *const[]){"a"}, 1);
  ember_app_info_t a;
  assert_int_equal(ember_store_reader_app(r, "new.cpu", &a, NULL), EMBER_ENOTFOUND);
  ember_app_info_t *apps;
  size_t n;
  assert_int_equal(ember_store_reader_apps(r, &apps, &n, NULL), 0);
  assert_int_equal(n, 1);
  for (size_t i = 0; i < n; i++)
    ember_app_info_free(&apps[i]);
  free(apps);
  ember_store_reader_close(r);
  /* A new session sees everything. */
  assert_int_equal(total_of(f->s, "app.cpu{}", T0, T0 + 9), 3);
  ember_tree_free(t);
  ember_tree_free(again);
  ember_selector_free(&sel);
}

/* A write job that stalls half-way: it writes its rows (new stacks
 * included) inside the writer's open transaction, so the writer thread
 * holds the database's write lock, then waits until released. */
typedef struct {
  pthread_mutex_t m;
  pthread_cond_t c;
  bool inside, release, answered;
  int rc;
} stall_t;

static int stalled_write(ember_store_t *s, ember_job_t *j, ember_err_t *err) {
  stall_t *x = j->ctx;
  int rc = ember_apply_write(s, j, err);
  pthread_mutex_lock(&x->m);
  x->inside = true;
  pthread_cond_broadcast(&x->c);
  while (!x->release)
    pthread_cond_wait(&x->c, &x->m);
  pthread_mutex_unlock(&x->m);
  return rc;
}

static void stall_done(void *ctx, int rc, const ember_err_t *err) {
  stall_t *x = ctx;
  pthread_mutex_lock(&x->m);
  x->answered = true;
  x->rc = rc;
  pthread_cond_broadcast(&x->c);
  pthread_mutex_unlock(&x->m);
}

/* What a reader thread saw, and whether it finished. */
typedef struct {
  ember_store_t *s;
  stall_t *x;
  bool finished;
  int rc;
  uint64_t tree, timeline;
  size_t labels;
} stall_reader_t;

static void *read_while_stalled(void *arg) {
  stall_reader_t *r = arg;
  ember_selector_t sel;
  ember_selector_parse("app.cpu{}", 9, &sel, NULL);
  ember_tree_t *t = ember_tree_new();
  ember_strlist_t l = {0};
  r->rc = ember_store_read_tree(r->s, &sel, T0, T0 + 9, t, 0, NULL);
  if (r->rc == 0) r->rc = ember_store_timeline(r->s, &sel, T0, 10, &r->timeline, 1, NULL);
  if (r->rc == 0) r->rc = ember_store_label_values(r->s, &sel, "h", &l, NULL);
  r->tree = ember_tree_total(t, 0);
  r->labels = l.n;
  ember_strlist_free(&l);
  ember_tree_free(t);
  ember_selector_free(&sel);
  pthread_mutex_lock(&r->x->m);
  r->finished = true;
  pthread_cond_broadcast(&r->x->c);
  pthread_mutex_unlock(&r->x->m);
  return NULL;
}

static void test_read_does_not_wait_for_a_stalled_writer(void **state) {
  fixture_t *f = *state;
  put(f->s, "app.cpu{h=a}", T0, T0 + 10, "a 1");
  stall_t x = {.rc = -1};
  pthread_mutex_init(&x.m, NULL);
  pthread_cond_init(&x.c, NULL);
  ember_ingest_result_t r =
      make_result("app.cpu{h=b}", T0, T0 + 10, "a 5\nnew;stack 7", EMBER_AGG_SUM);
  ember_job_t j;
  memset(&j, 0, sizeof j);
  j.run = stalled_write;
  j.internal = j.caller_owned = true;
  j.profiles = r.items; /* borrowed: a caller-owned job frees nothing */
  j.nprofiles = r.n;
  j.done = stall_done;
  j.ctx = &x;
  assert_int_equal(ember_writer_post(f->s, &j, NULL), 0);
  pthread_mutex_lock(&x.m);
  while (!x.inside)
    pthread_cond_wait(&x.c, &x.m);
  pthread_mutex_unlock(&x.m);
  /* The writer now holds an open write transaction with new rows, a new
   * series and new stacks in it. A reader must answer from the last
   * commit without waiting; give it three seconds, far longer than any
   * read here takes and far shorter than SQLite's busy timeout. */
  stall_reader_t rd = {f->s, &x, false, -1, 0, 0, 0};
  pthread_t th;
  pthread_create(&th, NULL, read_while_stalled, &rd);
  struct timespec until;
  clock_gettime(CLOCK_REALTIME, &until);
  until.tv_sec += 3;
  pthread_mutex_lock(&x.m);
  while (!rd.finished && pthread_cond_timedwait(&x.c, &x.m, &until) == 0) {
  }
  bool in_time = rd.finished;
  x.release = true;
  pthread_cond_broadcast(&x.c);
  while (!x.answered)
    pthread_cond_wait(&x.c, &x.m);
  pthread_mutex_unlock(&x.m);
  pthread_join(th, NULL);
  ember_ingest_result_free(&r);
  pthread_mutex_destroy(&x.m);
  pthread_cond_destroy(&x.c);
  assert_true(in_time);
  assert_int_equal(rd.rc, 0);
  assert_int_equal(rd.tree, 1); /* nothing uncommitted */
  assert_int_equal(rd.timeline, 1);
  assert_int_equal(rd.labels, 1);
  assert_int_equal(x.rc, 0);
  assert_int_equal(total_of(f->s, "app.cpu{}", T0, T0 + 9), 13); /* committed now */
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_read_matches_selectors_with_every_operator,
                                      store_setup, store_teardown),
      cmocka_unit_test_setup_teardown(test_read_returns_notfound_for_an_unknown_app,
                                      store_setup, store_teardown),
      cmocka_unit_test_setup_teardown(
          test_read_builds_the_tree_with_self_values_on_the_chosen_side, store_setup,
          store_teardown),
      cmocka_unit_test_setup_teardown(
          test_read_takes_the_buckets_holding_from_through_until, store_setup,
          store_teardown),
      cmocka_unit_test_setup_teardown(
          test_read_sees_a_push_that_starts_at_the_until_of_the_query, store_setup,
          store_teardown),
      cmocka_unit_test_setup_teardown(test_read_sums_timelines_by_step, store_setup,
                                      store_teardown),
      cmocka_unit_test_setup_teardown(test_read_averages_each_series_then_adds_them,
                                      store_setup, store_teardown),
      cmocka_unit_test_setup_teardown(test_read_lists_label_keys_and_values_sorted,
                                      store_setup, store_teardown),
      cmocka_unit_test_setup_teardown(test_read_lists_apps_sorted_by_name, store_setup,
                                      store_teardown),
      cmocka_unit_test_setup_teardown(test_read_gives_back_the_same_tree_after_reopening,
                                      store_setup, store_teardown),
      cmocka_unit_test_setup_teardown(test_read_reports_a_damaged_row_instead_of_crashing,
                                      store_setup, store_teardown),
      cmocka_unit_test_setup_teardown(
          test_read_reports_a_stack_missing_from_the_dictionary, store_setup,
          store_teardown),
      cmocka_unit_test_setup_teardown(
          test_read_runs_alongside_writers_and_sees_consistent_snapshots, store_setup,
          store_teardown),
      cmocka_unit_test_setup_teardown(
          test_read_session_sees_one_snapshot_whatever_lands_meanwhile, store_setup,
          store_teardown),
      cmocka_unit_test_setup_teardown(
          test_read_gives_up_at_once_when_the_deadline_has_passed, store_setup,
          store_teardown),
      cmocka_unit_test_setup_teardown(test_read_stops_a_long_read_at_its_deadline,
                                      store_setup, store_teardown),
      cmocka_unit_test_setup_teardown(test_read_does_not_wait_for_a_stalled_writer,
                                      store_setup, store_teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
