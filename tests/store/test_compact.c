/* Tests for src/store/compact.c: merging the rows of a bucket, building
 * rollups, reading through them, invalidation by late writes, damaged rows. */
#include <setjmp.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "store/helpers.h"

#include "store/store_int.h"

/* In the future, so the background maintenance pass (real clock) leaves
 * these rows alone and each test decides when compaction runs. */
#define T0 4000000000
#define LATER (T0 + 100000)

/* One request with a 10 s profile per bucket in [from, until) for series
 * name; bucket i holds "main;f<i%5> <1 + i%7>" and "main;g 1". */
static uint64_t put_span(fixture_t *f, const char *name, int64_t from, int64_t until,
                         ember_aggregation_t agg) {
  size_t n = (size_t)((until - from) / 10);
  ember_ingest_result_t all = {.items = calloc(n, sizeof(ember_profile_t)), .n = n};
  uint64_t total = 0;
  char stacks[128];
  for (size_t i = 0; i < n; i++) {
    snprintf(stacks, sizeof stacks, "main;f%zu %zu\nmain;g 1", i % 5, 1 + i % 7);
    int64_t t = from + 10 * (int64_t)i;
    ember_ingest_result_t one = make_result(name, t, t + 10, stacks, agg);
    all.items[i] = one.items[0];
    free(one.items);
    total += 2 + i % 7;
  }
  ember_err_t err;
  int rc = ember_store_write(f->s, &all, &err);
  if (rc) fprintf(stderr, "%s\n", err.msg);
  assert_int_equal(rc, 0);
  ember_ingest_result_free(&all);
  return total;
}

/* Trees and timelines of several ranges, to compare before and after. */
typedef struct {
  uint64_t totals[6];
  uint64_t selfs[6];
  uint64_t tl10[40], tl100[40], tl1000[12];
} snapshot_t;

static void tl(ember_store_t *s, int64_t start, int64_t step, uint64_t *v, size_t n) {
  ember_selector_t sel;
  assert_int_equal(ember_selector_parse("app.cpu{}", 9, &sel, NULL), 0);
  assert_int_equal(ember_store_timeline(s, &sel, start, step, v, n, NULL), 0);
  ember_selector_free(&sel);
}

static void snap(fixture_t *f, snapshot_t *x) {
  static const int64_t ranges[6][2] = {{T0, T0 + 10800},        {T0 + 5, T0 + 10795},
                                       {T0 + 990, T0 + 2010},   {T0 + 1000, T0 + 2000},
                                       {T0 + 9990, T0 + 10010}, {T0 + 123, T0 + 7777}};
  for (int i = 0; i < 6; i++) {
    int rc;
    ember_tree_t *t = get_tree(f->s, "app.cpu{}", ranges[i][0], ranges[i][1], &rc);
    assert_int_equal(rc, 0);
    x->totals[i] = ember_tree_total(t, 0);
    x->selfs[i] = self_at(t, "main;f3", 0);
    ember_tree_free(t);
  }
  tl(f->s, T0 + 4000, 10, x->tl10, 40);
  tl(f->s, T0, 100, x->tl100, 40);
  tl(f->s, T0, 1000, x->tl1000, 12);
}

/* Rows ember_read_cover picks for [a, b) of series 1. */
static int count_row(void *ctx, const ember_row_t *row, ember_err_t *err) {
  (*(int *)ctx)++;
  return 0;
}

static int rows_read(fixture_t *f, int64_t a, int64_t b) {
  ember_conn_t *c;
  assert_int_equal(ember_pool_get(f->s, &c, NULL), 0);
  int n = 0;
  assert_int_equal(ember_read_cover(c, 1, a, b, EMBER_STORE_LEVELS - 1, EMBER_READ_KEYS,
                                    count_row, &n, NULL),
                   0);
  ember_pool_put(f->s, c);
  return n;
}

static void test_compact_merges_the_rows_of_one_bucket(void **state) {
  fixture_t *f = *state;
  put(f->s, "app.cpu", T0, T0 + 10, "a;b 1");
  put(f->s, "app.cpu", T0, T0 + 10, "a;c 2");
  put(f->s, "app.cpu", T0 + 2, T0 + 8, "a;b 4");
  put(f->s, "app.cpu", T0 + 10, T0 + 20, "a;b 8");
  assert_int_equal(count_rows_where(f->dir, "level=0 AND start=4000000000"), 3);
  maintain_at(f->s, T0 + 59); /* not settled yet: nothing happens */
  assert_int_equal(count_rows_where(f->dir, "level=0 AND start=4000000000"), 3);
  maintain_at(f->s, LATER);
  assert_int_equal(count_rows_where(f->dir, "level=0 AND start=4000000000"), 1);
  assert_int_equal(
      count_rows_where(f->dir, "level=0 AND start=4000000000 AND seq=0 AND profiles=3 "
                               "AND total=7"),
      1);
  assert_int_equal(count_rows_where(f->dir, "level=0 AND start=4000000010"), 1);
  int rc;
  ember_tree_t *t = get_tree(f->s, "app.cpu{}", T0, T0 + 9, &rc);
  assert_int_equal(self_at(t, "a;b", 0), 5);
  assert_int_equal(self_at(t, "a;c", 0), 2);
  ember_tree_free(t);
  /* A later push to the merged bucket appends after it. */
  put(f->s, "app.cpu", T0, T0 + 10, "a;c 16");
  assert_int_equal(count_rows_where(f->dir, "level=0 AND start=4000000000 AND seq=1"), 1);
  assert_int_equal(total_of(f->s, "app.cpu", T0, T0 + 20), 31);
}

static void test_compact_builds_rollups_that_read_exactly_the_same(void **state) {
  fixture_t *f = *state;
  uint64_t total = put_span(f, "app.cpu{h=a}", T0, T0 + 10800, EMBER_AGG_SUM);
  snapshot_t before, after;
  snap(f, &before);
  assert_true(before.totals[0] == total);
  assert_int_equal(rows_read(f, T0, T0 + 10800), 1080);
  maintain_at(f->s, LATER);
  assert_int_equal(count_rows_where(f->dir, "level=1"), 108);
  /* Ten whole 1000 s periods and the last, partial one (eight 100 s rows);
   * one 10000 s period (the partial second one has a single row below). */
  assert_int_equal(count_rows_where(f->dir, "level=2"), 11);
  assert_int_equal(count_rows_where(f->dir, "level=3"), 1);
  /* 3 hours: one 10000 s row, then eight 100 s rows. */
  assert_int_equal(rows_read(f, T0, T0 + 10800), 9);
  /* Unaligned edges come from finer rows. */
  assert_int_equal(rows_read(f, T0 + 990, T0 + 2010), 1 + 1 + 1);
  assert_int_equal(rows_read(f, T0 + 950, T0 + 2100), 5 + 1 + 1);
  snap(f, &after);
  assert_memory_equal(&before, &after, sizeof before);
}

static void test_compact_keeps_averages_exact_through_rollups(void **state) {
  fixture_t *f = *state;
  put_span(f, "app.cpu{h=a}", T0, T0 + 2000, EMBER_AGG_AVERAGE);
  put_span(f, "app.cpu{h=b}", T0 + 1000, T0 + 2000, EMBER_AGG_AVERAGE);
  uint64_t before = total_of(f->s, "app.cpu{}", T0, T0 + 2000);
  uint64_t before_b = total_of(f->s, "app.cpu{h=\"b\"}", T0 + 1000, T0 + 2000);
  maintain_at(f->s, LATER);
  assert_true(count_rows_where(f->dir, "level=2") >= 3);
  assert_int_equal(total_of(f->s, "app.cpu{}", T0, T0 + 2000), before);
  assert_int_equal(total_of(f->s, "app.cpu{h=\"b\"}", T0 + 1000, T0 + 2000), before_b);
}

static void
test_compact_late_write_drops_stale_rollups_and_reads_stay_exact(void **state) {
  fixture_t *f = *state;
  uint64_t total = put_span(f, "app.cpu{h=a}", T0, T0 + 10800, EMBER_AGG_SUM);
  maintain_at(f->s, LATER);
  put(f->s, "app.cpu{h=a}", T0 + 500, T0 + 510, "main;late 1000");
  /* The rollups over T0 + 500 are gone at once, the others stay. */
  assert_int_equal(count_rows_where(f->dir, "level=3"), 0);
  assert_int_equal(count_rows_where(f->dir, "level=2 AND start=4000000000"), 0);
  assert_int_equal(count_rows_where(f->dir, "level=1 AND start=4000000500"), 0);
  assert_int_equal(count_rows_where(f->dir, "level=1"), 107);
  assert_int_equal(total_of(f->s, "app.cpu{}", T0, T0 + 10800), total + 1000);
  uint64_t span = 0; /* buckets 50..59 of put_span: 2 + i % 7 each */
  for (int i = 50; i < 60; i++)
    span += 2 + i % 7;
  assert_int_equal(total_of(f->s, "app.cpu{}", T0 + 500, T0 + 599), 1000 + span);
  maintain_at(f->s, LATER);
  assert_int_equal(count_rows_where(f->dir, "level=3"), 1);
  assert_int_equal(count_rows_where(f->dir, "level=1"), 108);
  assert_int_equal(count_rows_where(f->dir, "level=0 AND start=4000000500"),
                   1); /* merged */
  assert_int_equal(total_of(f->s, "app.cpu{}", T0, T0 + 10800), total + 1000);
  assert_int_equal(rows_read(f, T0, T0 + 10800), 9);
}

static void
test_compact_skips_a_merge_too_big_for_one_row_and_reads_stay_exact(void **state) {
  fixture_t *f = *state;
  char stack[32];
  for (int i = 0; i < 200; i++) { /* a new stack in every bucket */
    snprintf(stack, sizeof stack, "main;s%d 3", i);
    put(f->s, "app.cpu", T0 + 10 * i, T0 + 10 * i + 10, stack);
  }
  put(f->s, "app.cpu", T0, T0 + 10, "main;s0 1"); /* a bucket of two rows */
  uint64_t before = total_of(f->s, "app.cpu", T0, T0 + 1999);
  /* Bucket rows fit in 16 bytes, a merge of ten of them does not. The
   * writer is idle between the calls, so its codec may be changed here. */
  ember_seg_codec_set_max_raw(f->s->wconn->codec, 16);
  maintain_at(f->s, LATER); /* no error: the queue must not stall on it */
  maintain_at(f->s, LATER);
  assert_int_equal(count_rows_where(f->dir, "level>0"), 0);
  assert_int_equal(count_rows_where(f->dir, "level=0 AND start=4000000000"),
                   1); /* 2 pairs: merged */
  assert_int_equal(total_of(f->s, "app.cpu", T0, T0 + 1999), before);
  assert_int_equal(count_sql(f->dir, "SELECT COUNT(*) FROM rollup_todo"), 0);
}

static void test_compact_leaves_a_single_row_period_alone(void **state) {
  fixture_t *f = *state;
  put(f->s, "app.cpu", T0 + 120, T0 + 130, "a 1");
  maintain_at(f->s, LATER);
  assert_int_equal(count_rows_where(f->dir, "level>0"), 0);
  assert_int_equal(total_of(f->s, "app.cpu", T0, T0 + 1000), 1);
}

static void test_compact_skips_a_damaged_row_without_stalling(void **state) {
  fixture_t *f = *state;
  put_span(f, "app.cpu{h=a}", T0, T0 + 200, EMBER_AGG_SUM);
  char path[600];
  snprintf(path, sizeof path, "%s/ember.db", f->dir);
  sqlite3 *db;
  assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
  sqlite3_busy_timeout(db, 5000);
  assert_int_equal(sqlite3_exec(db,
                                "UPDATE segments SET data=x'0100' WHERE start=4000000030",
                                NULL, NULL, NULL),
                   SQLITE_OK);
  sqlite3_close(db);
  maintain_at(f->s, LATER); /* succeeds, with a warning on stderr */
  assert_int_equal(count_rows_where(f->dir, "level=1 AND start=4000000000"), 0);
  assert_int_equal(count_rows_where(f->dir, "level=1 AND start=4000000100"), 1);
  ember_conn_t *c;
  assert_int_equal(ember_pool_get(f->s, &c, NULL), 0);
  sqlite3_stmt *st;
  static const char q[] = "SELECT COUNT(*) FROM rollup_todo WHERE level=1";
  assert_int_equal(ember_conn_prepare(c, q, &st, NULL), 0);
  assert_int_equal(sqlite3_step(st), SQLITE_ROW);
  assert_int_equal(sqlite3_column_int64(st, 0), 0); /* nothing left to retry */
  sqlite3_reset(st);
  ember_pool_put(f->s, c);
  int rc;
  ember_tree_t *t = get_tree(f->s, "app.cpu{}", T0, T0 + 100, &rc);
  assert_int_equal(rc, EMBER_EIO);
  ember_tree_free(t);
  assert_true(total_of(f->s, "app.cpu{}", T0 + 100, T0 + 200) > 0);
}

/* ---- Order of the work ------------------------------------------------- */

typedef struct {
  int64_t lo[256];
  int level[256];
  bool apps[256];
  int n;
} jobs_seen_t;

static void saw_job(void *ctx, int level, bool apps, int64_t lo, int64_t hi) {
  jobs_seen_t *j = ctx;
  if (j->n < 256) {
    j->lo[j->n] = lo;
    j->level[j->n] = level;
    j->apps[j->n++] = apps;
  }
}

/* After a bulk load the newest 10000 s window is rolled up first, every
 * level of it (series before app), then the one before: the recent past,
 * which most queries ask for, is fast within seconds. */
static void test_compact_builds_the_newest_window_first(void **state) {
  fixture_t *f = *state;
  /* Three windows of two series. */
  put_span(f, "app.cpu{h=a}", T0, T0 + 30000, EMBER_AGG_SUM);
  put_span(f, "app.cpu{h=b}", T0, T0 + 30000, EMBER_AGG_SUM);
  jobs_seen_t seen = {.n = 0};
  ember_store_test_before_compact(f->s, saw_job, &seen);
  maintain_at(f->s, LATER);
  ember_store_test_before_compact(f->s, NULL, NULL);
  assert_true(seen.n >= 3 * 6);
  for (int i = 1; i < seen.n; i++) {
    /* Windows go backwards; within one, levels go up, series first. */
    assert_true(seen.lo[i] <= seen.lo[i - 1]);
    if (seen.lo[i] == seen.lo[i - 1])
      assert_true(seen.level[i] > seen.level[i - 1] ||
                  (seen.level[i] == seen.level[i - 1] && seen.apps[i] >= seen.apps[i - 1]));
  }
  assert_int_equal(seen.lo[0], T0 + 20000);
  assert_int_equal(seen.lo[seen.n - 1], T0);
  assert_int_equal(count_rows_where(f->dir, "level=3"), 2 * 3);
  assert_int_equal(count_sql(f->dir, "SELECT COUNT(*) FROM app_segments WHERE level=3"), 3);
}

/* A period only one series has data in gets no app rollup (it would copy
 * that series' own); where a second series joins, the app rollups are
 * built, and the reads are the same either way. */
static void test_compact_builds_app_rollups_only_where_series_meet(void **state) {
  fixture_t *f = *state;
  uint64_t a = put_span(f, "app.cpu{h=a}", T0, T0 + 10000, EMBER_AGG_SUM);
  maintain_at(f->s, LATER);
  assert_int_equal(count_rows_where(f->dir, "level=2"), 10);
  assert_int_equal(count_sql(f->dir, "SELECT COUNT(*) FROM app_segments"), 0);
  assert_int_equal(total_of(f->s, "app.cpu", T0, T0 + 10000), a);
  /* The second series covers the last 2000 s: two 1000 s periods, twenty
   * of 100 s, and the 10000 s one they lie in. */
  uint64_t b = put_span(f, "app.cpu{h=b}", T0 + 8000, T0 + 10000, EMBER_AGG_SUM);
  maintain_at(f->s, LATER + 1);
  assert_int_equal(count_sql(f->dir, "SELECT COUNT(*) FROM app_segments WHERE level=1"), 20);
  assert_int_equal(count_sql(f->dir, "SELECT COUNT(*) FROM app_segments WHERE level=2"), 2);
  assert_int_equal(count_sql(f->dir, "SELECT COUNT(*) FROM app_segments WHERE level=3"), 1);
  assert_int_equal(total_of(f->s, "app.cpu", T0, T0 + 10000), a + b);
  /* Across the edge where the second series starts. */
  uint64_t part_a = total_of(f->s, "app.cpu{h=\"a\"}", T0 + 7000, T0 + 9000);
  uint64_t part_b = total_of(f->s, "app.cpu{h=\"b\"}", T0 + 7000, T0 + 9000);
  assert_true(part_a > 0 && part_b > 0);
  assert_int_equal(total_of(f->s, "app.cpu", T0 + 7000, T0 + 9000), part_a + part_b);
}

/* ---- Random ranges and selectors against the 10 s rows ----------------- */

/* A deterministic generator (xorshift64), so a failure repeats. */
static uint64_t rnd_state = 0x9e3779b97f4a7c15ull;
static uint64_t rnd(uint64_t n) {
  rnd_state ^= rnd_state << 13;
  rnd_state ^= rnd_state >> 7;
  rnd_state ^= rnd_state << 17;
  return rnd_state % n;
}

/* A random push: mostly one 10 s bucket, some spread over buckets (span
 * rows), a few longer than an hour (stored whole); stacks from a small
 * universe, so that series share most of them. */
static ember_ingest_result_t random_push(int64_t t0, int64_t span) {
  static const char *const regions[] = {"a", "b", "c"};
  char name[64], folded[1024] = "";
  bool gauge = rnd(8) == 0;
  if (gauge)
    snprintf(name, sizeof name, "g.mem{pod=p%d}", (int)rnd(3));
  else
    snprintf(name, sizeof name, "r.cpu{region=%s,pod=p%d}", regions[rnd(3)], (int)rnd(4));
  int64_t from = t0 + (int64_t)rnd((uint64_t)span), len = 10;
  uint64_t kind = rnd(100);
  if (kind >= 80) len = 11 + (int64_t)rnd(3600);
  if (kind >= 97) len = 3601 + (int64_t)rnd(20000);
  for (int i = 0, n = 1 + (int)rnd(6); i < n; i++) {
    char line[128];
    snprintf(line, sizeof line, "main;f%d;g%d;h%d %d\n", (int)rnd(4), (int)rnd(5),
             (int)rnd(6), 1 + (int)rnd(100));
    strcat(folded, line);
  }
  return make_result(name, from, from + len, folded, gauge ? EMBER_AGG_AVERAGE : EMBER_AGG_SUM);
}

/* Writes the same push to both stores. */
static void put_both(ember_store_t *a, ember_store_t *b, int64_t t0, int64_t span) {
  ember_ingest_result_t r = random_push(t0, span);
  /* The second store gets an identical request, copied from the first. */
  ember_ingest_result_t copy = {.n = r.n, .items = calloc(r.n, sizeof *copy.items)};
  for (size_t i = 0; i < r.n; i++) {
    ember_profile_t *d = &copy.items[i], *o = &r.items[i];
    ember_series_key_copy(&d->key, &o->key);
    d->from = o->from;
    d->until = o->until;
    d->sample_rate = o->sample_rate;
    d->spy_name = strdup(o->spy_name);
    d->units = strdup(o->units);
    d->aggregation = o->aggregation;
    d->tree = ember_tree_new();
    ember_tree_merge(d->tree, 0, o->tree, 0);
  }
  ember_err_t err;
  assert_int_equal(ember_store_write(a, &r, &err), 0);
  assert_int_equal(ember_store_write(b, &copy, &err), 0);
  ember_ingest_result_free(&r);
  ember_ingest_result_free(&copy);
}

/* The tree's nodes as "path self" lines, sorted: equal trees give equal
 * text whatever order their nodes were made in. */
static int cmp_str(const void *x, const void *y) {
  return strcmp(*(char *const *)x, *(char *const *)y);
}

static char *flatten(const ember_tree_t *t) {
  size_t n = ember_tree_count(t);
  char **path = calloc(n, sizeof *path), **lines = calloc(n, sizeof *lines);
  for (uint32_t id = 0; id < n; id++) {
    const ember_tree_node_t *node = ember_tree_node(t, id);
    ember_slice_t name = ember_tree_name(t, node->name);
    const char *up = id ? path[node->parent] : "";
    size_t len = strlen(up) + name.len + 2;
    path[id] = malloc(len);
    snprintf(path[id], len, "%s;%.*s", up, (int)name.len, name.base);
    lines[id] = malloc(len + 24);
    snprintf(lines[id], len + 24, "%s %llu", path[id], (unsigned long long)node->self[0]);
  }
  qsort(lines, n, sizeof *lines, cmp_str);
  ember_buf_t b = EMBER_BUF_INIT;
  for (size_t i = 0; i < n; i++) {
    ember_buf_printf(&b, "%s\n", lines[i]);
    free(lines[i]);
    free(path[i]);
  }
  free(lines);
  free(path);
  ember_buf_putc(&b, '\0');
  return ember_buf_take(&b, NULL);
}

static char *answer(ember_store_t *s, const char *q, int64_t from, int64_t until) {
  int rc;
  ember_tree_t *t = get_tree(s, q, from, until, &rc);
  assert_int_equal(rc, 0);
  char *text = flatten(t);
  ember_tree_free(t);
  return text;
}

static void compare_timelines(ember_store_t *ref, ember_store_t *s, const char *q,
                              int64_t start, int64_t step, size_t n) {
  uint64_t *a = calloc(n, sizeof *a), *b = calloc(n, sizeof *b);
  ember_selector_t sel;
  assert_int_equal(ember_selector_parse(q, strlen(q), &sel, NULL), 0);
  assert_int_equal(ember_store_timeline(ref, &sel, start, step, a, n, NULL), 0);
  assert_int_equal(ember_store_timeline(s, &sel, start, step, b, n, NULL), 0);
  for (size_t i = 0; i < n; i++)
    if (a[i] != b[i]) {
      fprintf(stderr, "%s timeline from %lld step %lld: point %zu is %llu, not %llu\n",
              q, (long long)start, (long long)step, i, (unsigned long long)b[i],
              (unsigned long long)a[i]);
      fail();
    }
  ember_selector_free(&sel);
  free(a);
  free(b);
}

/* Asks both stores random questions; every answer must be the same. */
static void compare_random(ember_store_t *ref, ember_store_t *s, int64_t t0, int64_t span,
                           int rounds) {
  static const char *const queries[] = {
      "r.cpu{}",           "r.cpu{region=\"a\"}", "r.cpu{pod!=\"p1\"}",
      "r.cpu{region=~\"a|b\"}", "r.cpu{region=~\".*\"}", "r.cpu{pod=\"p2\",region=\"c\"}",
      "g.mem{}",           "g.mem{pod=\"p0\"}"};
  static const int64_t steps[] = {10, 20, 100, 300, 1000, 2000, 10000};
  for (int i = 0; i < rounds; i++) {
    const char *q = queries[rnd(sizeof queries / sizeof *queries)];
    int64_t from = t0 - 2000 + (int64_t)rnd((uint64_t)span + 4000);
    int64_t until = from + (int64_t)rnd(rnd(4) ? 40000 : 4000);
    char *want = answer(ref, q, from, until), *got = answer(s, q, from, until);
    if (strcmp(want, got) != 0) {
      fprintf(stderr, "%s from %lld until %lld differs:\n--- 10 s rows\n%s--- rollups\n%s",
              q, (long long)from, (long long)until, want, got);
      fail();
    }
    free(want);
    free(got);
    int64_t step = steps[rnd(sizeof steps / sizeof *steps)];
    compare_timelines(ref, s, q, ember_store_floor(from, step), step, 1 + rnd(120));
  }
}

/* Rollups, series' and apps', partly built, invalidated by late pushes and
 * rebuilt, must answer every range and selector exactly as the 10 s rows
 * alone do (a store that never ran maintenance). */
static void test_compact_answers_random_ranges_as_the_10s_rows(void **state) {
  char *dir_ref = temp_dir(), *dir = temp_dir();
  ember_store_t *ref = open_store(dir_ref, 0, 0), *s = open_store(dir, 0, 0);
  const int64_t span = 40000;
  for (int i = 0; i < 300; i++) put_both(ref, s, T0, span);
  maintain_at(s, T0 + span / 2); /* the first half rolled up */
  for (int i = 0; i < 150; i++) put_both(ref, s, T0, span);
  compare_random(ref, s, T0, span, 60);
  maintain_at(s, T0 + 3 * span); /* everything */
  assert_true(count_sql(dir, "SELECT COUNT(*) FROM app_segments") > 0);
  assert_int_equal(count_sql(dir_ref, "SELECT COUNT(*) FROM segments WHERE level>0"), 0);
  compare_random(ref, s, T0, span, 120);
  /* Late pushes into rolled-up periods drop the rollups they change. */
  for (int i = 0; i < 60; i++) put_both(ref, s, T0, span);
  compare_random(ref, s, T0, span, 60);
  maintain_at(s, T0 + 3 * span);
  compare_random(ref, s, T0, span, 60);
  ember_store_close(ref);
  ember_store_close(s);
  rm_tree(dir_ref);
  rm_tree(dir);
  free(dir_ref);
  free(dir);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_compact_merges_the_rows_of_one_bucket,
                                      store_setup, store_teardown),
      cmocka_unit_test_setup_teardown(
          test_compact_builds_rollups_that_read_exactly_the_same, store_setup,
          store_teardown),
      cmocka_unit_test_setup_teardown(test_compact_keeps_averages_exact_through_rollups,
                                      store_setup, store_teardown),
      cmocka_unit_test_setup_teardown(
          test_compact_late_write_drops_stale_rollups_and_reads_stay_exact, store_setup,
          store_teardown),
      cmocka_unit_test_setup_teardown(
          test_compact_skips_a_merge_too_big_for_one_row_and_reads_stay_exact,
          store_setup, store_teardown),
      cmocka_unit_test_setup_teardown(test_compact_leaves_a_single_row_period_alone,
                                      store_setup, store_teardown),
      cmocka_unit_test(test_compact_answers_random_ranges_as_the_10s_rows),
      cmocka_unit_test_setup_teardown(test_compact_builds_app_rollups_only_where_series_meet,
                                      store_setup, store_teardown),
      cmocka_unit_test_setup_teardown(test_compact_builds_the_newest_window_first,
                                      store_setup, store_teardown),
      cmocka_unit_test_setup_teardown(test_compact_skips_a_damaged_row_without_stalling,
                                      store_setup, store_teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
