/* The store's behaviour through store.h alone, one suite for every
 * backend: SQLite by default, PostgreSQL with EMBER_TEST_STORE=postgres
 * (registered twice by tests/CMakeLists.txt). On PostgreSQL every test
 * also writes the same data to an SQLite store and expects the same
 * answers from both. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <unistd.h>

#include "helpers.h"
#include "pg_helpers.h"
#include "store/store_int.h"

typedef struct {
  ember_store_t *s;   /* the backend under test */
  ember_store_t *ref; /* SQLite, when s is PostgreSQL; else NULL */
  char *dir, *refdir, *url;
} fx_t;

static ember_store_config_t cfg_for(const char *where, int64_t retention) {
  ember_store_config_t c = {0};
  c.location = where;
  c.retention_seconds = retention;
  c.max_series_per_app = 4;
  c.max_new_stacks = 50;
  return c;
}

static void fx_open(fx_t *f, int64_t retention) {
  memset(f, 0, sizeof *f);
  ember_err_t err;
  if (test_on_pg()) {
    f->url = pg_new_db();
    ember_store_config_t c = cfg_for(f->url, retention);
    if (ember_store_open(&c, &f->s, &err)) fail_msg("open: %s", err.msg);
    f->refdir = temp_dir();
    c = cfg_for(f->refdir, retention);
    if (ember_store_open(&c, &f->ref, &err)) fail_msg("open: %s", err.msg);
  } else {
    f->dir = temp_dir();
    ember_store_config_t c = cfg_for(f->dir, retention);
    if (ember_store_open(&c, &f->s, &err)) fail_msg("open: %s", err.msg);
  }
}

static void fx_close(fx_t *f) {
  ember_store_close(f->s);
  ember_store_close(f->ref);
  if (f->dir) rm_tree(f->dir);
  if (f->refdir) rm_tree(f->refdir);
  free(f->dir);
  free(f->refdir);
  free(f->url);
}

/* Writes the same push to the store and its reference; returns the rc. */
static int put_both(fx_t *f, const char *name, int64_t from, int64_t until, const char *folded,
               ember_aggregation_t agg) {
  ember_err_t err;
  ember_ingest_result_t r = make_result(name, from, until, folded, agg);
  int rc = ember_store_write(f->s, &r, &err);
  ember_ingest_result_free(&r);
  if (f->ref) {
    r = make_result(name, from, until, folded, agg);
    int rc2 = ember_store_write(f->ref, &r, &err);
    ember_ingest_result_free(&r);
    assert_int_equal(rc, rc2);
  }
  return rc;
}

static ember_tree_t *tree_of(ember_store_t *s, const char *query, int64_t from,
                             int64_t until) {
  ember_selector_t sel;
  assert_int_equal(ember_selector_parse(query, strlen(query), &sel, NULL), 0);
  ember_tree_t *t = ember_tree_new();
  ember_err_t err;
  int rc = ember_store_read_tree(s, &sel, from, until, t, 0, &err);
  if (rc != 0 && rc != EMBER_ENOTFOUND) fail_msg("read: %s", err.msg);
  ember_selector_free(&sel);
  return t;
}

/* The self value at path in the tree of query, and the same from the
 * reference store when there is one. */
static uint64_t self_of(fx_t *f, const char *query, int64_t from, int64_t until,
                        const char *path) {
  ember_tree_t *t = tree_of(f->s, query, from, until);
  uint64_t v = self_at(t, path, 0);
  if (f->ref) {
    ember_tree_t *r = tree_of(f->ref, query, from, until);
    assert_int_equal(ember_tree_total(t, 0), ember_tree_total(r, 0));
    assert_int_equal(ember_tree_count(t), ember_tree_count(r));
    assert_int_equal(v, self_at(r, path, 0));
    ember_tree_free(r);
  }
  ember_tree_free(t);
  return v;
}

static void timeline_of(fx_t *f, const char *query, int64_t start, int64_t step,
                        uint64_t *v, size_t n) {
  ember_selector_t sel;
  assert_int_equal(ember_selector_parse(query, strlen(query), &sel, NULL), 0);
  ember_err_t err;
  if (ember_store_timeline(f->s, &sel, start, step, v, n, &err))
    fail_msg("timeline: %s", err.msg);
  if (f->ref) {
    uint64_t *w = calloc(n, sizeof *w);
    assert_int_equal(ember_store_timeline(f->ref, &sel, start, step, w, n, &err), 0);
    for (size_t i = 0; i < n; i++) assert_int_equal(v[i], w[i]);
    free(w);
  }
  ember_selector_free(&sel);
}

static size_t values_of(fx_t *f, const char *query, const char *key, char *out,
                        size_t size) {
  ember_selector_t sel;
  assert_int_equal(ember_selector_parse(query, strlen(query), &sel, NULL), 0);
  ember_strlist_t l = {0};
  ember_err_t err;
  assert_int_equal(key ? ember_store_label_values(f->s, &sel, key, &l, &err)
                       : ember_store_label_keys(f->s, &sel, &l, &err),
                   0);
  out[0] = '\0';
  for (size_t i = 0; i < l.n; i++)
    snprintf(out + strlen(out), size - strlen(out), "%s%s", i ? "," : "", l.items[i]);
  size_t n = l.n;
  ember_strlist_free(&l);
  ember_selector_free(&sel);
  return n;
}

static void test_a_push_reads_back_as_a_tree_a_timeline_and_labels(void **state) {
  fx_t f;
  fx_open(&f, 0);
  assert_int_equal(put_both(&f, "web.cpu{host=a}", 1000, 1005, "main;work 3\nmain;idle 2",
                       EMBER_AGG_SUM), 0);
  assert_int_equal(put_both(&f, "web.cpu{host=b}", 1012, 1015, "main;work 4\nmain 1",
                       EMBER_AGG_SUM), 0);
  assert_int_equal(self_of(&f, "web.cpu", 1000, 1020, "main;work"), 7);
  assert_int_equal(self_of(&f, "web.cpu", 1000, 1020, "main"), 1);
  assert_int_equal(self_of(&f, "web.cpu{host=\"a\"}", 1000, 1020, "main;idle"), 2);
  assert_int_equal(self_of(&f, "web.cpu{host!=\"a\"}", 1000, 1020, "main;work"), 4);
  assert_int_equal(self_of(&f, "web.cpu", 1010, 1020, "main;work"), 4);
  uint64_t v[3];
  timeline_of(&f, "web.cpu", 1000, 10, v, 3);
  assert_int_equal(v[0], 5);
  assert_int_equal(v[1], 5);
  assert_int_equal(v[2], 0);
  char buf[200];
  assert_int_equal(values_of(&f, "web.cpu", "host", buf, sizeof buf), 2);
  assert_string_equal(buf, "a,b");
  values_of(&f, "web.cpu", NULL, buf, sizeof buf);
  assert_string_equal(buf, "host");
  ember_app_info_t *apps;
  size_t n;
  ember_err_t err;
  assert_int_equal(ember_store_apps(f.s, &apps, &n, &err), 0);
  assert_int_equal(n, 1);
  assert_string_equal(apps[0].name, "web.cpu");
  assert_string_equal(apps[0].spy_name, "gospy");
  assert_int_equal(apps[0].sample_rate, 100);
  ember_app_info_free(&apps[0]);
  free(apps);
  fx_close(&f);
}

static void test_average_apps_average_each_series_then_add_them(void **state) {
  fx_t f;
  fx_open(&f, 0);
  put_both(&f, "mem{pod=a}", 100, 100, "main;alloc 10", EMBER_AGG_AVERAGE);
  put_both(&f, "mem{pod=a}", 110, 110, "main;alloc 21", EMBER_AGG_AVERAGE);
  put_both(&f, "mem{pod=b}", 100, 100, "main;alloc 7", EMBER_AGG_AVERAGE);
  assert_int_equal(self_of(&f, "mem", 100, 119, "main;alloc"), 16 + 7);
  fx_close(&f);
}

static void test_a_profile_over_many_buckets_is_shared_among_them(void **state) {
  fx_t f;
  fx_open(&f, 0);
  put_both(&f, "long.cpu", 2000, 2060, "main;a 600\nmain;b 7", EMBER_AGG_SUM);
  uint64_t v[7];
  timeline_of(&f, "long.cpu", 2000, 10, v, 7);
  uint64_t sum = 0;
  for (int i = 0; i < 7; i++) sum += v[i];
  assert_int_equal(sum, 607);
  self_of(&f, "long.cpu", 2015, 2034, "main;a");
  self_of(&f, "long.cpu", 2015, 2034, "main;b");
  fx_close(&f);
}

static void test_deleting_an_app_removes_it_and_its_data(void **state) {
  fx_t f;
  fx_open(&f, 0);
  put_both(&f, "gone.cpu{x=1}", 100, 100, "a;b 1", EMBER_AGG_SUM);
  put_both(&f, "kept.cpu", 100, 100, "a;b 2", EMBER_AGG_SUM);
  ember_err_t err;
  assert_int_equal(ember_store_delete_app(f.s, "gone.cpu", &err), 0);
  assert_int_equal(ember_store_delete_app(f.s, "gone.cpu", &err), EMBER_ENOTFOUND);
  ember_app_info_t a;
  assert_int_equal(ember_store_app(f.s, "gone.cpu", &a, &err), EMBER_ENOTFOUND);
  ember_tree_t *t = tree_of(f.s, "gone.cpu", 0, 1000);
  assert_int_equal(ember_tree_total(t, 0), 0);
  ember_tree_free(t);
  t = tree_of(f.s, "kept.cpu", 0, 1000);
  assert_int_equal(ember_tree_total(t, 0), 2);
  ember_tree_free(t);
  /* A new app of the same name starts empty. */
  put_both(&f, "gone.cpu", 100, 100, "a;c 5", EMBER_AGG_SUM);
  t = tree_of(f.s, "gone.cpu", 0, 1000);
  assert_int_equal(ember_tree_total(t, 0), 5);
  ember_tree_free(t);
  fx_close(&f);
}

static void test_the_limits_refuse_a_push_and_store_nothing_of_it(void **state) {
  fx_t f;
  fx_open(&f, 0);
  for (int i = 0; i < 4; i++) {
    char name[64];
    snprintf(name, sizeof name, "lim.cpu{i=%d}", i);
    assert_int_equal(put_both(&f, name, 100, 100, "a 1", EMBER_AGG_SUM), 0);
  }
  assert_int_equal(put_both(&f, "lim.cpu{i=9}", 100, 100, "a 1", EMBER_AGG_SUM), EMBER_ELIMIT);
  char buf[200];
  assert_int_equal(values_of(&f, "lim.cpu", "i", buf, sizeof buf), 4);
  /* More new stacks than max_new_stacks (50) in one push. */
  ember_buf_t b = EMBER_BUF_INIT;
  for (int i = 0; i < 60; i++) ember_buf_printf(&b, "root;f%d 1\n", i);
  ember_buf_putc(&b, '\0');
  assert_int_equal(put_both(&f, "wide.cpu", 100, 100, b.data, EMBER_AGG_SUM), EMBER_ELIMIT);
  ember_buf_free(&b);
  fx_close(&f);
}

/* Whether two trees have the same nodes, by path of names, with the same
 * values on both sides. */
static void assert_same_tree(const ember_tree_t *a, uint32_t na, const ember_tree_t *b,
                             uint32_t nb) {
  const ember_tree_node_t *x = ember_tree_node(a, na), *y = ember_tree_node(b, nb);
  for (int s = 0; s < EMBER_TREE_SIDES; s++) {
    assert_int_equal(x->self[s], y->self[s]);
    assert_int_equal(x->total[s], y->total[s]);
  }
  uint32_t *ca = NULL, *cb = NULL;
  size_t capa = 0, capb = 0;
  size_t n = ember_tree_sorted_children(a, na, &ca, &capa);
  assert_int_equal(n, ember_tree_sorted_children(b, nb, &cb, &capb));
  for (size_t i = 0; i < n; i++) {
    ember_slice_t p = ember_tree_name(a, ember_tree_node(a, ca[i])->name);
    ember_slice_t q = ember_tree_name(b, ember_tree_node(b, cb[i])->name);
    assert_int_equal(p.len, q.len);
    assert_memory_equal(p.base, q.base, p.len);
    assert_same_tree(a, ca[i], b, cb[i]);
  }
  free(ca);
  free(cb);
}

/* The flame graph of two ranges (one per side) cut to max_nodes, as
 * /render reads it: sums, then the cut tree and the function sums. */
static ember_tree_t *graph_of(ember_store_t *s, const char *query, int64_t a0, int64_t a1,
                              int64_t b0, int64_t b1, long max_nodes, size_t *nfns) {
  ember_selector_t sel;
  assert_int_equal(ember_selector_parse(query, strlen(query), &sel, NULL), 0);
  ember_store_reader_t *r = NULL;
  ember_err_t err;
  assert_int_equal(ember_store_reader_open(s, &r, &err), 0);
  ember_store_sums_t *sums = ember_store_sums_new();
  if (ember_store_reader_sums(r, &sel, a0, a1, sums, 0, &err) ||
      ember_store_reader_sums(r, &sel, b0, b1, sums, 1, &err))
    fail_msg("sums: %s", err.msg);
  ember_store_reader_close(r);
  ember_tree_t *t = NULL;
  ember_store_functions_t fns;
  if (ember_store_sums_tree(sums, max_nodes, &t, &fns, &err)) fail_msg("cut: %s", err.msg);
  *nfns = fns.n;
  free(fns.items);
  ember_tree_free(fns.names);
  ember_store_sums_free(sums);
  ember_selector_free(&sel);
  return t;
}

static void test_the_cut_graph_and_function_sums_match_the_reference(void **state) {
  fx_t f;
  fx_open(&f, 0);
  for (int i = 0; i < 30; i++) {
    char folded[256];
    /* Distinct totals, so the nodes a cut keeps do not depend on ties. */
    snprintf(folded, sizeof folded, "main;g%d;h%d %d\nmain;g%d;k %d\nidle %d", i % 7, i,
             i * 13 + 1, i % 3, i * 17 + 5, i + 1000);
    put_both(&f, "cut.cpu", 5000 + i * 10, 5000 + i * 10, folded, EMBER_AGG_SUM);
  }
  long cuts[] = {-1, 3, 8, 20};
  for (size_t k = 0; k < sizeof cuts / sizeof *cuts; k++) {
    size_t n1 = 0, n2 = 0;
    ember_tree_t *t = graph_of(f.s, "cut.cpu", 5000, 5140, 5150, 5300, cuts[k], &n1);
    if (cuts[k] >= 0) assert_true(ember_tree_count(t) <= (size_t)cuts[k] * 2 + 1);
    assert_int_equal(ember_tree_total(t, 0) + ember_tree_total(t, 1),
                     30 * 1000 + 29 * 30 / 2 + 13 * 29 * 30 / 2 + 30 + 17 * 29 * 30 / 2 + 150);
    if (f.ref) {
      ember_tree_t *r = graph_of(f.ref, "cut.cpu", 5000, 5140, 5150, 5300, cuts[k], &n2);
      assert_int_equal(ember_tree_count(t), ember_tree_count(r));
      assert_same_tree(t, EMBER_TREE_ROOT, r, EMBER_TREE_ROOT);
      assert_int_equal(n1, n2);
      ember_tree_free(r);
    }
    ember_tree_free(t);
  }
  fx_close(&f);
}

static void test_retention_removes_old_data_and_forgets_its_series(void **state) {
  fx_t f;
  fx_open(&f, 3600);
  int64_t now = ember_now(); /* the maintenance threads use the clock too */
  put_both(&f, "ret.cpu{host=old}", now - 3 * 86400, now - 3 * 86400, "a;b 1", EMBER_AGG_SUM);
  put_both(&f, "ret.cpu{host=edge}", now - 3700, now - 3700, "a;b 2", EMBER_AGG_SUM);
  put_both(&f, "ret.cpu{host=new}", now - 100, now - 100, "a;b 4", EMBER_AGG_SUM);
  ember_err_t err;
  bool ran = false;
  if (ember_store_maintain(f.s, now, &ran, &err)) fail_msg("maintain: %s", err.msg);
  assert_true(ran);
  if (f.ref && ember_store_maintain(f.ref, now, NULL, &err)) fail_msg("ref: %s", err.msg);
  assert_int_equal(self_of(&f, "ret.cpu", 0, now, "a;b"), 4);
  char buf[200];
  assert_int_equal(values_of(&f, "ret.cpu", "host", buf, sizeof buf), 1);
  assert_string_equal(buf, "new");
  /* Old data pushed again lands again (its partition is made anew). */
  put_both(&f, "ret.cpu{host=old}", now - 3 * 86400, now - 3 * 86400, "a;b 1", EMBER_AGG_SUM);
  assert_int_equal(self_of(&f, "ret.cpu", 0, now, "a;b"), 5);
  fx_close(&f);
}

/* ---- PostgreSQL: writes racing deletes ---------------------------------- */

typedef struct {
  ember_store_t *s;
  int64_t now;
  pthread_t th;
  bool started;
} race_t;

static void *maintain_main(void *arg) {
  race_t *x = arg;
  ember_err_t err;
  if (ember_store_maintain(x->s, x->now, NULL, &err)) fprintf(stderr, "%s\n", err.msg);
  return NULL;
}

/* Runs while the writer's batch is written but not committed: starts a
 * maintenance pass and gives it time to delete what it would. */
static void start_maintenance(void *ctx) {
  race_t *x = ctx;
  if (x->started) return;
  x->started = true;
  assert_int_equal(pthread_create(&x->th, NULL, maintain_main, x), 0);
  usleep(400 * 1000);
}

static void test_a_push_racing_retention_of_its_empty_series_is_kept(void **state) {
  if (!test_on_pg()) skip();
  fx_t f;
  fx_open(&f, 3600);
  ember_err_t err;
  /* The pass a store runs when it opens is over before this one. */
  assert_int_equal(ember_store_maintain(f.s, ember_now(), NULL, &err), 0);
  /* A series whose only row is just older than the retention, in the day
   * partition that straddles the cutoff (a partition dropped would wait
   * for the push on its own): the pass deletes the row, and the series as
   * empty, unless a push is landing in it. */
  int64_t now = ember_now();
  if ((now - 3600) % 86400 < 60) {
    sleep(61);
    now = ember_now();
  }
  int64_t old = now - 3600 - 30;
  assert_int_equal(try_put(f.s, "race.cpu{h=a}", old, old, "a;b 1", &err), 0);
  race_t x = {f.s, now, 0, false};
  ember_pg_test_before_commit_ctx = &x;
  ember_pg_test_before_commit = start_maintenance;
  int rc = try_put(f.s, "race.cpu{h=a}", now - 100, now - 100, "a;b 7", &err);
  ember_pg_test_before_commit = NULL;
  assert_int_equal(rc, 0);
  assert_true(x.started);
  pthread_join(x.th, NULL);
  ember_tree_t *t = tree_of(f.s, "race.cpu", 0, now);
  assert_int_equal(self_at(t, "a;b", 0), 7);
  ember_tree_free(t);
  char buf[64];
  assert_int_equal(values_of(&f, "race.cpu", "h", buf, sizeof buf), 1);
  fx_close(&f);
}

static void test_a_push_to_a_day_another_node_dropped_lands_again(void **state) {
  if (!test_on_pg()) skip();
  fx_t f;
  fx_open(&f, 3600);
  ember_store_config_t c = cfg_for(f.url, 3600);
  ember_store_t *other = NULL;
  ember_err_t err;
  if (ember_store_open(&c, &other, &err)) fail_msg("open: %s", err.msg);
  int64_t now = ember_now(), old = now - 3 * 86400;
  /* Both nodes know the old day's partition, then one of them drops it. */
  assert_int_equal(try_put(f.s, "day.cpu", old, old, "a;b 1", NULL), 0);
  assert_int_equal(try_put(other, "day.cpu", old, old, "a;b 1", NULL), 0);
  bool ran1 = false, ran2 = false;
  assert_int_equal(ember_store_maintain(f.s, now, &ran1, &err), 0);
  assert_int_equal(ember_store_maintain(other, now, &ran2, &err), 0);
  assert_true(ran1 || ran2);
  assert_int_equal(self_of(&f, "day.cpu", 0, now, "a;b"), UINT64_MAX);
  /* As SQLite does with data older than its retention: taken (200), kept
   * until the next pass. */
  assert_int_equal(try_put(f.s, "day.cpu", old, old, "a;b 2", NULL), 0);
  assert_int_equal(try_put(other, "day.cpu", old, old, "a;b 4", NULL), 0);
  ember_tree_t *t = tree_of(other, "day.cpu", 0, now);
  assert_int_equal(self_at(t, "a;b", 0), 6);
  ember_tree_free(t);
  ember_store_close(other);
  fx_close(&f);
}

static void test_maintenance_changes_no_answer(void **state) {
  fx_t f;
  fx_open(&f, 0);
  for (int i = 0; i < 40; i++) {
    char folded[128];
    snprintf(folded, sizeof folded, "main;f%d 1\nmain;shared %d", i % 5, i + 1);
    put_both(&f, i % 2 ? "m.cpu{h=a}" : "m.cpu{h=b}", 7000 + i * 7, 7000 + i * 7, folded,
        EMBER_AGG_SUM);
    put_both(&f, "m.mem", 7000 + i * 7, 7000 + i * 7, folded, EMBER_AGG_AVERAGE);
  }
  uint64_t before[30], after[30];
  timeline_of(&f, "m.cpu", 7000, 10, before, 30);
  uint64_t shared = self_of(&f, "m.cpu", 7000, 7300, "main;shared");
  uint64_t avg = self_of(&f, "m.mem", 7000, 7300, "main;shared");
  ember_err_t err;
  if (ember_store_maintain(f.s, 100000, NULL, &err)) fail_msg("maintain: %s", err.msg);
  if (f.ref && ember_store_maintain(f.ref, 100000, NULL, &err)) fail_msg("ref: %s", err.msg);
  timeline_of(&f, "m.cpu", 7000, 10, after, 30);
  assert_memory_equal(before, after, sizeof before);
  assert_int_equal(self_of(&f, "m.cpu", 7000, 7300, "main;shared"), shared);
  assert_int_equal(self_of(&f, "m.mem", 7000, 7300, "main;shared"), avg);
  assert_int_equal(shared, 40 * 41 / 2);
  fx_close(&f);
}

/* ---- Rollups: random ranges, before and after maintenance ------------------ */

#define NRANGES 40
/* Where the random data lies: long ago (every push is late, as the
 * periods are past the marks a new database starts with) or ahead (rolled
 * up period after period). */
static int64_t RT0 = 1000000;

typedef struct {
  const char *query;
  int64_t from, until;       /* a tree */
  int64_t start, step;       /* a timeline */
  size_t n;
} range_t;

typedef struct {
  ember_tree_t *tree[NRANGES];
  uint64_t *tl[NRANGES];
} answers_t;

static void make_ranges(range_t *r) {
  static const char *const queries[] = {"r.cpu", "r.cpu{h=\"a\"}", "r.mem", "r.cpu{h!=\"b\"}"};
  static const int64_t steps[] = {10, 20, 100, 1000, 3600, 10000, 20000};
  for (int i = 0; i < NRANGES; i++) {
    r[i].query = queries[rand() % 4];
    r[i].from = RT0 - 5000 + rand() % 70000;
    r[i].until = r[i].from + rand() % (i < 10 ? 3000 : 50000);
    r[i].step = steps[rand() % 7];
    r[i].start = RT0 - 5000 + (rand() % 7000) * 10;
    if (rand() % 2) r[i].start = ember_store_floor(r[i].start, r[i].step);
    r[i].n = 1 + (size_t)(rand() % 150);
  }
}

static void answers_of(ember_store_t *s, const range_t *r, answers_t *a) {
  for (int i = 0; i < NRANGES; i++) {
    a->tree[i] = tree_of(s, r[i].query, r[i].from, r[i].until);
    a->tl[i] = calloc(r[i].n, sizeof *a->tl[i]);
    ember_selector_t sel;
    assert_int_equal(ember_selector_parse(r[i].query, strlen(r[i].query), &sel, NULL), 0);
    ember_err_t err;
    if (ember_store_timeline(s, &sel, r[i].start, r[i].step, a->tl[i], r[i].n, &err))
      fail_msg("timeline: %s", err.msg);
    ember_selector_free(&sel);
  }
}

static void answers_free(answers_t *a) {
  for (int i = 0; i < NRANGES; i++) {
    ember_tree_free(a->tree[i]);
    free(a->tl[i]);
  }
}

static void assert_same_answers(const range_t *r, const answers_t *x, const answers_t *y) {
  for (int i = 0; i < NRANGES; i++) {
    assert_same_tree(x->tree[i], EMBER_TREE_ROOT, y->tree[i], EMBER_TREE_ROOT);
    for (size_t k = 0; k < r[i].n; k++) {
      if (x->tl[i][k] != y->tl[i][k])
        fail_msg("range %d (%s, start %lld step %lld) point %zu: %llu != %llu", i,
                 r[i].query, (long long)r[i].start, (long long)r[i].step, k,
                 (unsigned long long)x->tl[i][k], (unsigned long long)y->tl[i][k]);
    }
  }
}

/* Answers of the store under test; equal to the reference's when there is
 * one, and to *prev when given. */
static void check(fx_t *f, const range_t *r, answers_t *out, const answers_t *prev) {
  answers_of(f->s, r, out);
  if (f->ref) {
    answers_t ref;
    answers_of(f->ref, r, &ref);
    assert_same_answers(r, out, &ref);
    answers_free(&ref);
  }
  if (prev) assert_same_answers(r, out, prev);
}

static void push_random(fx_t *f, int count, int64_t lo, int64_t span) {
  for (int i = 0; i < count; i++) {
    char folded[256], name[64];
    int64_t from = lo + rand() % span, until = from + (rand() % 4 == 0 ? rand() % 60 : 0);
    snprintf(folded, sizeof folded, "main;f%d;g%d %d\nmain;h%d %d\nidle %d", rand() % 6,
             rand() % 4, 1 + rand() % 90, rand() % 5, 1 + rand() % 40, 1 + rand() % 7);
    bool mem = rand() % 4 == 0;
    snprintf(name, sizeof name, "%s{h=%c}", mem ? "r.mem" : "r.cpu", "abc"[rand() % 3]);
    assert_int_equal(put_both(f, name, from, until, folded,
                              mem ? EMBER_AGG_AVERAGE : EMBER_AGG_SUM),
                     0);
  }
}

/* Rows of a table of the PostgreSQL store under test. */
static long long pg_count(fx_t *f, const char *sql) {
  PGconn *c = PQconnectdb(f->url);
  assert_int_equal(PQstatus(c), CONNECTION_OK);
  PGresult *r = PQexec(c, sql);
  assert_int_equal(PQresultStatus(r), PGRES_TUPLES_OK);
  long long n = atoll(PQgetvalue(r, 0, 0));
  PQclear(r);
  PQfinish(c);
  return n;
}

static void rollups_change_no_answer(int64_t base) {
  RT0 = base;
  fx_t f;
  fx_open(&f, 0);
  srand(15);
  range_t r[NRANGES];
  make_ranges(r);
  push_random(&f, 240, RT0, 60000);
  answers_t before, rolled, late, rebuilt;
  check(&f, r, &before, NULL);
  ember_err_t err;
  /* Every period settled: every level is rolled up. */
  if (ember_store_maintain(f.s, RT0 + 200000, NULL, &err)) fail_msg("maintain: %s", err.msg);
  if (f.ref && ember_store_maintain(f.ref, RT0 + 200000, NULL, &err)) fail_msg("%s", err.msg);
  if (f.url)
    for (int l = 1; l <= 3; l++) {
      char sql[96];
      snprintf(sql, sizeof sql, "SELECT count(*) FROM rollup_periods WHERE level=%d", l);
      assert_true(pg_count(&f, sql) > 0);
    }
  check(&f, r, &rolled, &before);
  /* Late pushes into rolled-up periods: those rollups are stale until the
   * next pass. */
  push_random(&f, 60, RT0, 60000);
  check(&f, r, &late, NULL);
  if (f.url) assert_true(pg_count(&f, "SELECT count(*) FROM rollup_todo") > 0);
  if (ember_store_maintain(f.s, RT0 + 200000, NULL, &err)) fail_msg("maintain: %s", err.msg);
  if (f.ref && ember_store_maintain(f.ref, RT0 + 200000, NULL, &err)) fail_msg("%s", err.msg);
  if (f.url) assert_int_equal(pg_count(&f, "SELECT count(*) FROM rollup_todo"), 0);
  check(&f, r, &rebuilt, &late);
  answers_free(&before);
  answers_free(&rolled);
  answers_free(&late);
  answers_free(&rebuilt);
  fx_close(&f);
}

static void test_rollups_change_no_answer_across_random_ranges(void **state) {
  rollups_change_no_answer(1000000);
}

static void test_rollups_of_periods_to_come_change_no_answer(void **state) {
  rollups_change_no_answer(ember_store_floor(ember_now() + 30 * 86400, 86400) + 1234);
}

int main(void) {
  if (test_on_pg()) pg_require();
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_a_push_reads_back_as_a_tree_a_timeline_and_labels),
      cmocka_unit_test(test_average_apps_average_each_series_then_add_them),
      cmocka_unit_test(test_a_profile_over_many_buckets_is_shared_among_them),
      cmocka_unit_test(test_deleting_an_app_removes_it_and_its_data),
      cmocka_unit_test(test_the_limits_refuse_a_push_and_store_nothing_of_it),
      cmocka_unit_test(test_retention_removes_old_data_and_forgets_its_series),
      cmocka_unit_test(test_maintenance_changes_no_answer),
      cmocka_unit_test(test_the_cut_graph_and_function_sums_match_the_reference),
      cmocka_unit_test(test_a_push_racing_retention_of_its_empty_series_is_kept),
      cmocka_unit_test(test_a_push_to_a_day_another_node_dropped_lands_again),
      cmocka_unit_test(test_rollups_change_no_answer_across_random_ranges),
      cmocka_unit_test(test_rollups_of_periods_to_come_change_no_answer),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
