/* Tests for src/store/dict.c: mapping trees to stack ids, turning ids back
 * into trees, lazy loading, rollback handling, damaged rows. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <pthread.h>
#include <stdatomic.h>

#include "store/helpers.h"
#include "store/store_int.h"

typedef struct {
  char *dir;
  ember_conn_t *c;
  ember_dicts_t *r;
} dict_fixture_t;

static int setup(void **state) {
  dict_fixture_t *f = calloc(1, sizeof *f);
  f->dir = temp_dir();
  char path[600];
  snprintf(path, sizeof path, "%s/ember.db", f->dir);
  assert_int_equal(ember_conn_open(path, true, &f->c, NULL), 0);
  assert_int_equal(ember_schema_migrate(f->c, NULL), 0);
  assert_int_equal(ember_conn_exec(f->c,
                                   "INSERT INTO app_rows(id, name, spy_name, units, "
                                   "sample_rate, aggregation) VALUES(1, 'a', 'x', "
                                   "'samples', 100, 0)",
                                   NULL),
                   0);
  f->r = ember_dicts_new(0);
  *state = f;
  return 0;
}

static int teardown(void **state) {
  dict_fixture_t *f = *state;
  ember_dicts_free(f->r);
  ember_conn_close(f->c);
  rm_tree(f->dir);
  free(f->dir);
  free(f);
  return 0;
}

static ember_tree_t *sample_tree(void) {
  ember_tree_t *t = ember_tree_new();
  add_folded(t, "main;work;compute", 5);
  add_folded(t, "main;work", 2);
  add_folded(t, "main;idle", 3);
  add_folded(t, "other;work", 7);
  ember_tree_add(t, EMBER_TREE_ROOT, 0, 1);
  return t;
}

/* Maps t and returns per-stack values in a dense array (caller frees). */
static uint64_t *map_values(dict_fixture_t *f, ember_dict_t *d, const ember_tree_t *t,
                            size_t *n) {
  size_t nn = ember_tree_count(t);
  uint32_t *stack_of = malloc(nn * sizeof *stack_of);
  assert_int_equal(ember_dict_map_tree(d, f->c, t, SIZE_MAX, stack_of, NULL, NULL), 0);
  *n = ember_dict_nstacks(d);
  uint64_t *v = calloc(*n, sizeof *v);
  for (size_t i = 0; i < nn; i++) {
    uint64_t self = ember_tree_node(t, (uint32_t)i)->self[0];
    if (self) {
      assert_true(stack_of[i] < *n);
      v[stack_of[i]] += self;
    }
  }
  free(stack_of);
  return v;
}

static void assert_same_tree(const ember_tree_t *got, const ember_tree_t *want) {
  assert_int_equal(ember_tree_check(got, NULL), 0);
  assert_int_equal(ember_tree_count(got), ember_tree_count(want));
  assert_int_equal(ember_tree_total(got, 1), ember_tree_total(want, 0));
  const char *paths[] = {"", "main;work;compute", "main;work", "main;idle",
                         "other;work", "main", "other"};
  for (size_t i = 0; i < sizeof paths / sizeof *paths; i++)
    assert_int_equal(self_at(got, paths[i], 1), self_at(want, paths[i], 0));
}

static void test_dict_maps_a_tree_and_builds_it_back(void **state) {
  dict_fixture_t *f = *state;
  ember_tree_t *t = sample_tree();
  ember_dict_t *d = ember_dicts_get(f->r, 1);
  size_t n;
  uint64_t *v = map_values(f, d, t, &n);
  /* root + main, main;work, main;work;compute, main;idle, other, other;work */
  assert_int_equal(n, 7);
  ember_tree_t *back = ember_tree_new();
  ember_dict_build_tree(d, v, n, back, 1);
  assert_same_tree(back, t);
  ember_dicts_put(f->r, d);
  free(v);
  ember_tree_free(back);
  ember_tree_free(t);
}

static void test_dict_gives_the_same_ids_to_the_same_stacks(void **state) {
  dict_fixture_t *f = *state;
  ember_tree_t *t = sample_tree();
  ember_dict_t *d = ember_dicts_get(f->r, 1);
  size_t n1, n2;
  uint64_t *v1 = map_values(f, d, t, &n1);
  uint64_t *v2 = map_values(f, d, t, &n2);
  assert_int_equal(n1, n2);
  assert_memory_equal(v1, v2, n1 * sizeof *v1);
  ember_dicts_put(f->r, d);
  free(v1);
  free(v2);
  ember_tree_free(t);
}

static void test_dict_loads_lazily_from_the_database(void **state) {
  dict_fixture_t *f = *state;
  ember_tree_t *t = sample_tree();
  ember_dict_t *d = ember_dicts_get(f->r, 1);
  size_t n;
  uint64_t *v = map_values(f, d, t, &n);
  ember_dicts_put(f->r, d);
  /* A fresh registry knows nothing until a reader asks for the ids. */
  ember_dicts_t *r2 = ember_dicts_new(0);
  ember_dict_t *d2 = ember_dicts_get(r2, 1);
  assert_int_equal(ember_dict_nstacks(d2), 1);
  assert_int_equal(ember_dict_ensure(d2, f->c, (uint32_t)n, NULL), 0);
  assert_int_equal(ember_dict_nstacks(d2), n);
  ember_tree_t *back = ember_tree_new();
  ember_dict_build_tree(d2, v, n, back, 1);
  assert_same_tree(back, t);
  /* And the writer side of a loaded cache reuses the stored ids. */
  size_t n3;
  uint64_t *v3 = map_values(f, d2, t, &n3);
  assert_int_equal(n3, n);
  assert_memory_equal(v3, v, n * sizeof *v);
  ember_dicts_put(r2, d2);
  ember_dicts_free(r2);
  free(v);
  free(v3);
  ember_tree_free(back);
  ember_tree_free(t);
}

static void test_dict_forgets_rolled_back_ids(void **state) {
  dict_fixture_t *f = *state;
  ember_tree_t *t = sample_tree();
  assert_int_equal(ember_conn_exec(f->c, "BEGIN", NULL), 0);
  ember_dict_t *d = ember_dicts_get(f->r, 1);
  size_t n;
  free(map_values(f, d, t, &n));
  ember_dicts_put(f->r, d);
  assert_int_equal(ember_conn_exec(f->c, "ROLLBACK", NULL), 0);
  ember_dicts_drop_all(f->r);
  d = ember_dicts_get(f->r, 1);
  assert_int_equal(ember_dict_nstacks(d), 1);
  ember_err_t err;
  assert_int_equal(ember_dict_ensure(d, f->c, 2, &err), EMBER_EIO);
  assert_non_null(strstr(err.msg, "stack 1"));
  ember_dicts_put(f->r, d);
  ember_tree_free(t);
}

static void test_dict_keeps_a_detached_cache_valid_for_its_holder(void **state) {
  dict_fixture_t *f = *state;
  ember_tree_t *t = sample_tree();
  ember_dict_t *d = ember_dicts_get(f->r, 1);
  size_t n;
  uint64_t *v = map_values(f, d, t, &n);
  ember_dicts_drop(f->r, 1);
  ember_tree_t *back = ember_tree_new();
  ember_dict_build_tree(d, v, n, back, 1); /* still usable */
  assert_same_tree(back, t);
  ember_dicts_put(f->r, d); /* frees it */
  ember_dict_t *d2 = ember_dicts_get(f->r, 1);
  assert_ptr_not_equal(d2, NULL);
  assert_int_equal(ember_dict_nstacks(d2), 1);
  ember_dicts_put(f->r, d2);
  free(v);
  ember_tree_free(back);
  ember_tree_free(t);
}

static void test_dict_rejects_a_damaged_stack_row(void **state) {
  dict_fixture_t *f = *state;
  assert_int_equal(ember_conn_exec(f->c,
                                   "INSERT INTO frames VALUES(1, 0, 'f');"
                                   "INSERT INTO stacks VALUES(1, 1, 0, 0);"
                                   "INSERT INTO stacks VALUES(1, 2, 5, 0);",
                                   NULL),
                   0);
  ember_dict_t *d = ember_dicts_get(f->r, 1);
  ember_err_t err;
  assert_int_equal(ember_dict_ensure(d, f->c, 3, &err), EMBER_EIO);
  assert_non_null(strstr(err.msg, "corrupt"));
  ember_dicts_put(f->r, d);
}

static void test_dict_handles_very_deep_stacks_without_recursion(void **state) {
  dict_fixture_t *f = *state;
  enum { DEPTH = 20000 };
  ember_tree_t *t = ember_tree_new();
  uint32_t node = EMBER_TREE_ROOT;
  uint32_t name = ember_tree_intern(t, "recurse", 7);
  for (int i = 0; i < DEPTH; i++) node = ember_tree_child(t, node, name);
  ember_tree_add(t, node, 0, 3);
  ember_dict_t *d = ember_dicts_get(f->r, 1);
  size_t n;
  assert_int_equal(ember_conn_exec(f->c, "BEGIN", NULL), 0);
  uint64_t *v = map_values(f, d, t, &n);
  assert_int_equal(ember_conn_exec(f->c, "COMMIT", NULL), 0);
  assert_int_equal(n, DEPTH + 1);
  ember_tree_t *back = ember_tree_new();
  ember_dict_build_tree(d, v, n, back, 1);
  assert_int_equal(ember_tree_count(back), DEPTH + 1);
  assert_int_equal(ember_tree_total(back, 1), 3);
  ember_dicts_put(f->r, d);
  free(v);
  ember_tree_free(back);
  ember_tree_free(t);
}

static void test_dict_stores_names_as_bytes(void **state) {
  dict_fixture_t *f = *state;
  ember_tree_t *t = ember_tree_new();
  ember_slice_t frames[] = {ember_slice("a\0b", 3), ember_slice("", 0)};
  ember_tree_add_stack(t, frames, 2, 4);
  ember_dict_t *d = ember_dicts_get(f->r, 1);
  size_t n;
  uint64_t *v = map_values(f, d, t, &n);
  ember_dicts_put(f->r, d);
  ember_dicts_drop_all(f->r);
  d = ember_dicts_get(f->r, 1);
  assert_int_equal(ember_dict_ensure(d, f->c, (uint32_t)n, NULL), 0);
  ember_tree_t *back = ember_tree_new();
  ember_dict_build_tree(d, v, n, back, 0);
  assert_int_equal(ember_tree_count(back), 3);
  const ember_tree_node_t *top = ember_tree_node(back, ember_tree_node(back, 0)->first_child);
  assert_int_equal(ember_tree_name(back, top->name).len, 3);
  assert_memory_equal(ember_tree_name(back, top->name).base, "a\0b", 3);
  ember_dicts_put(f->r, d);
  free(v);
  ember_tree_free(back);
  ember_tree_free(t);
}

/* A tree of n distinct stacks "main;fK" (K < n), each with value 1. */
static ember_tree_t *wide_tree(size_t n) {
  ember_tree_t *t = ember_tree_new();
  char name[32];
  for (size_t i = 0; i < n; i++) {
    int len = snprintf(name, sizeof name, "f%zu", i);
    ember_slice_t f[2] = {ember_slice("main", 4), ember_slice(name, (size_t)len)};
    ember_tree_add_stack(t, f, 2, 1);
  }
  return t;
}

static int64_t count_rows(dict_fixture_t *f, const char *table) {
  char sql[128];
  snprintf(sql, sizeof sql, "SELECT COUNT(*) FROM %s", table);
  sqlite3_stmt *st;
  assert_int_equal(sqlite3_prepare_v2(f->c->db, sql, -1, &st, NULL), SQLITE_OK);
  assert_int_equal(sqlite3_step(st), SQLITE_ROW);
  int64_t n = sqlite3_column_int64(st, 0);
  sqlite3_finalize(st);
  return n;
}

static void add_apps(dict_fixture_t *f, int64_t first, int64_t last) {
  char sql[256];
  for (int64_t id = first; id <= last; id++) {
    snprintf(sql, sizeof sql,
             "INSERT INTO app_rows(id, name, spy_name, units, sample_rate, "
             "aggregation) VALUES(%lld, 'app%lld', 'x', 'samples', 100, 0)",
             (long long)id, (long long)id);
    assert_int_equal(ember_conn_exec(f->c, sql, NULL), 0);
  }
}

static void map_or_fail(dict_fixture_t *f, ember_dict_t *d, const ember_tree_t *t,
                        size_t max_new, int want) {
  uint32_t *stack_of = malloc(ember_tree_count(t) * sizeof *stack_of);
  ember_err_t err = {0};
  int rc = ember_dict_map_tree(d, f->c, t, max_new, stack_of, NULL, &err);
  if (rc != want) fail_msg("map_tree gave %d (%s), expected %d", rc, err.msg, want);
  free(stack_of);
}

static void
test_dict_refuses_more_new_stacks_than_allowed_and_adds_nothing(void **state) {
  dict_fixture_t *f = *state;
  ember_tree_t *t = sample_tree(); /* six stacks */
  ember_dict_t *d = ember_dicts_get(f->r, 1);
  uint64_t changes = ember_dicts_changes(f->r);
  map_or_fail(f, d, t, 5, EMBER_ELIMIT);
  /* Nothing reached the cache or the tables, so nobody needs to drop it. */
  assert_int_equal(ember_dict_nstacks(d), 1);
  assert_int_equal(count_rows(f, "stacks"), 0);
  assert_int_equal(count_rows(f, "frames"), 0);
  assert_int_equal(ember_dicts_changes(f->r), changes);
  size_t added = 0;
  uint32_t stack_of[16];
  assert_int_equal(ember_dict_map_tree(d, f->c, t, 6, stack_of, &added, NULL), 0);
  assert_int_equal(added, 6);
  assert_int_equal(count_rows(f, "stacks"), 6);
  assert_true(ember_dicts_changes(f->r) != changes);
  /* Known stacks are free: the same tree again adds none. */
  changes = ember_dicts_changes(f->r);
  assert_int_equal(ember_dict_map_tree(d, f->c, t, 0, stack_of, &added, NULL), 0);
  assert_int_equal(added, 0);
  assert_int_equal(ember_dicts_changes(f->r), changes);
  ember_dicts_put(f->r, d);
  ember_tree_free(t);
}

/* Lookups must not slow down with the number of apps: 100,000 apps and
 * 20,000 lookups take milliseconds with a hash, seconds with a scan. */
static void test_dict_finds_one_app_among_many_in_constant_time(void **state) {
  dict_fixture_t *f = *state;
  enum { APPS = 100000, LOOKUPS = 20000 };
  for (int64_t id = 1; id <= APPS; id++)
    ember_dicts_put(f->r, ember_dicts_get(f->r, id));
  ember_dict_t *first = ember_dicts_get(f->r, 1);
  uint64_t t0 = ember_mono_ns();
  uint64_t x = 1;
  for (int i = 0; i < LOOKUPS; i++) {
    x = x * 6364136223846793005ull + 1442695040888963407ull;
    ember_dicts_put(f->r, ember_dicts_get(f->r, 1 + (int64_t)((x >> 33) % APPS)));
  }
  double secs = (double)(ember_mono_ns() - t0) / 1e9;
  fprintf(stderr, "%d lookups among %d apps: %.3f s\n", LOOKUPS, APPS, secs);
  assert_true(secs < 0.5);
  /* Still the same objects: the table kept them all. */
  assert_ptr_equal(ember_dicts_get(f->r, 1), first);
  ember_dicts_put(f->r, first);
  ember_dicts_put(f->r, first);
  size_t count = 0;
  ember_dicts_stats(f->r, NULL, &count, NULL);
  assert_int_equal(count, APPS);
}

/* Linear probing without tombstones: dropping entries must move the rest
 * of their probe runs so that every remaining app is still found. */
static void test_dict_finds_every_remaining_app_after_drops(void **state) {
  dict_fixture_t *f = *state;
  enum { APPS = 5000 };
  ember_dict_t **held = calloc(APPS + 1, sizeof *held);
  for (int64_t id = 1; id <= APPS; id++)
    held[id] = ember_dicts_get(f->r, id);
  for (int64_t id = 1; id <= APPS; id += 3)
    ember_dicts_drop(f->r, id);
  for (int64_t id = 1; id <= APPS; id++) {
    ember_dict_t *d = ember_dicts_get(f->r, id);
    if ((id - 1) % 3 == 0)
      assert_ptr_not_equal(d, held[id]); /* a fresh one */
    else
      assert_ptr_equal(d, held[id]);
    ember_dicts_put(f->r, d);
    ember_dicts_put(f->r, held[id]); /* frees the dropped ones */
  }
  size_t count = 0;
  ember_dicts_stats(f->r, NULL, &count, NULL);
  assert_int_equal(count, APPS);
  free(held);
}

static size_t dict_bytes(ember_dicts_t *r) {
  size_t b = 0;
  ember_dicts_stats(r, &b, NULL, NULL);
  return b;
}

/* Beyond the bound the least recently used dictionaries nobody holds go,
 * and come back from the database, identical, when needed. */
static void
test_dict_cache_drops_least_recently_used_apps_beyond_its_bound(void **state) {
  dict_fixture_t *f = *state;
  add_apps(f, 2, 3);
  ember_tree_t *t = wide_tree(2000);
  /* Measure one app's dictionary with no bound... */
  ember_dict_t *d = ember_dicts_get(f->r, 1);
  size_t before = dict_bytes(f->r);
  map_or_fail(f, d, t, SIZE_MAX, 0);
  size_t one = dict_bytes(f->r) - before;
  ember_dicts_put(f->r, d);
  /* ...then bound a registry to two of them and fill three. */
  ember_dicts_t *r = ember_dicts_new(one * 2 + one / 2);
  for (int64_t id = 1; id <= 3; id++) {
    ember_dict_t *x = ember_dicts_get(r, id);
    map_or_fail(f, x, t, SIZE_MAX, 0);
    ember_dicts_put(r, x);
  }
  uint64_t evictions = 0;
  size_t count = 0;
  ember_dicts_stats(r, NULL, &count, &evictions);
  assert_int_equal(evictions, 1);
  assert_true(dict_bytes(r) <= one * 2 + one / 2);
  /* App 1 was the least recently used: it starts empty again, and loads
   * the same ids back. Apps 2 and 3 stayed. */
  ember_dict_t *a1 = ember_dicts_get(r, 1);
  assert_int_equal(ember_dict_nstacks(a1), 1);
  ember_dicts_put(r, a1);
  ember_dict_t *a3 = ember_dicts_get(r, 3);
  assert_int_equal(ember_dict_nstacks(a3), 2002); /* root, main, 2000 leaves */
  ember_dicts_put(r, a3);
  a1 = ember_dicts_get(r, 1);
  assert_int_equal(ember_dict_ensure(a1, f->c, 2002, NULL), 0);
  uint64_t *v = calloc(2002, sizeof *v);
  for (size_t i = 2; i < 2002; i++)
    v[i] = 1;
  ember_tree_t *back = ember_tree_new();
  ember_dict_build_tree(a1, v, 2002, back, 0);
  assert_int_equal(ember_tree_total(back, 0), 2000);
  assert_int_equal(ember_tree_count(back), 2002);
  assert_int_equal(self_at(back, "main;f1999", 0), 1);
  ember_dicts_put(r, a1);
  /* A dictionary in use is never dropped, even alone over the bound; the
   * most recently used one waits for a trim that finds it unused since the
   * one before (reloading it for each of its app's pushes would be slow). */
  ember_dicts_t *tiny = ember_dicts_new(1);
  ember_dict_t *held = ember_dicts_get(tiny, 1);
  ember_dict_t *other = ember_dicts_get(tiny, 2);
  ember_dicts_put(tiny, other);
  assert_ptr_equal(ember_dicts_get(tiny, 1), held); /* still attached */
  ember_dicts_put(tiny, held);
  ember_dicts_put(tiny, held); /* nobody holds it; app 2 was dropped for it */
  ember_dicts_stats(tiny, NULL, &count, &evictions);
  assert_int_equal(count, 1);
  assert_int_equal(evictions, 1);
  ember_dicts_trim(tiny); /* used since the last trim: stays */
  ember_dicts_stats(tiny, NULL, &count, NULL);
  assert_int_equal(count, 1);
  ember_dicts_trim(tiny); /* a whole trim period unused: goes */
  ember_dicts_stats(tiny, NULL, &count, NULL);
  assert_int_equal(count, 0);
  assert_int_equal(dict_bytes(tiny), 0);
  ember_dicts_free(tiny);
  free(v);
  ember_tree_free(back);
  ember_dicts_free(r);
  ember_tree_free(t);
}

typedef struct {
  ember_dict_t *d;
  atomic_bool done;
  uint64_t max_wait_ns;
  uint64_t reads;
} reader_t;

static void *poll_reader(void *arg) {
  reader_t *x = arg;
  while (!atomic_load(&x->done)) {
    uint64_t t0 = ember_mono_ns();
    (void)ember_dict_nstacks(x->d); /* takes the read lock */
    uint64_t dt = ember_mono_ns() - t0;
    if (dt > x->max_wait_ns) x->max_wait_ns = dt;
    x->reads++;
  }
  return NULL;
}

/* A push adding 300,000 stacks takes a good part of a second; a reader of
 * the same app must only ever wait for a slice of it, not for all of it. */
static void test_dict_lets_readers_in_while_a_big_push_is_mapped(void **state) {
  dict_fixture_t *f = *state;
  ember_tree_t *t = wide_tree(300000);
  ember_dict_t *d = ember_dicts_get(f->r, 1);
  ember_tree_t *warm = sample_tree();
  map_or_fail(f, d, warm, SIZE_MAX, 0); /* loaded and complete */
  ember_tree_free(warm);
  reader_t x = {.d = d};
  atomic_init(&x.done, false);
  pthread_t th;
  pthread_create(&th, NULL, poll_reader, &x);
  assert_int_equal(ember_conn_exec(f->c, "BEGIN", NULL), 0);
  uint64_t t0 = ember_mono_ns();
  map_or_fail(f, d, t, SIZE_MAX, 0);
  uint64_t took = ember_mono_ns() - t0;
  atomic_store(&x.done, true);
  pthread_join(th, NULL);
  assert_int_equal(ember_conn_exec(f->c, "COMMIT", NULL), 0);
  fprintf(stderr, "mapping 300000 new stacks took %.3f s; longest reader wait %.3f s\n",
          (double)took / 1e9, (double)x.max_wait_ns / 1e9);
  assert_true(x.reads > 0);
  assert_true(x.max_wait_ns * 4 < took);
  assert_int_equal(ember_dict_nstacks(d), 7 + 300000); /* "main" was known */
  ember_dicts_put(f->r, d);
  ember_tree_free(t);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_dict_maps_a_tree_and_builds_it_back, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_dict_gives_the_same_ids_to_the_same_stacks,
                                      setup, teardown),
      cmocka_unit_test_setup_teardown(test_dict_loads_lazily_from_the_database, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_dict_forgets_rolled_back_ids, setup, teardown),
      cmocka_unit_test_setup_teardown(
          test_dict_keeps_a_detached_cache_valid_for_its_holder, setup, teardown),
      cmocka_unit_test_setup_teardown(test_dict_rejects_a_damaged_stack_row, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(
          test_dict_handles_very_deep_stacks_without_recursion, setup, teardown),
      cmocka_unit_test_setup_teardown(test_dict_stores_names_as_bytes, setup, teardown),
      cmocka_unit_test_setup_teardown(
          test_dict_refuses_more_new_stacks_than_allowed_and_adds_nothing, setup,
          teardown),
      cmocka_unit_test_setup_teardown(test_dict_finds_one_app_among_many_in_constant_time,
                                      setup, teardown),
      cmocka_unit_test_setup_teardown(test_dict_finds_every_remaining_app_after_drops,
                                      setup, teardown),
      cmocka_unit_test_setup_teardown(
          test_dict_cache_drops_least_recently_used_apps_beyond_its_bound, setup,
          teardown),
      cmocka_unit_test_setup_teardown(
          test_dict_lets_readers_in_while_a_big_push_is_mapped, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
