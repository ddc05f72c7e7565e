/* Tests for src/store/dict.c: mapping trees to stack ids, turning ids back
 * into trees, lazy loading, rollback handling, damaged rows. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

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
                                   "INSERT INTO apps(id, name, spy_name, units, "
                                   "sample_rate, aggregation) VALUES(1, 'a', 'x', "
                                   "'samples', 100, 0)",
                                   NULL),
                   0);
  f->r = ember_dicts_new();
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
  assert_int_equal(ember_dict_map_tree(d, f->c, t, stack_of, NULL), 0);
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
  ember_dicts_t *r2 = ember_dicts_new();
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

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_dict_maps_a_tree_and_builds_it_back, setup, teardown),
      cmocka_unit_test_setup_teardown(test_dict_gives_the_same_ids_to_the_same_stacks, setup, teardown),
      cmocka_unit_test_setup_teardown(test_dict_loads_lazily_from_the_database, setup, teardown),
      cmocka_unit_test_setup_teardown(test_dict_forgets_rolled_back_ids, setup, teardown),
      cmocka_unit_test_setup_teardown(test_dict_keeps_a_detached_cache_valid_for_its_holder, setup, teardown),
      cmocka_unit_test_setup_teardown(test_dict_rejects_a_damaged_stack_row, setup, teardown),
      cmocka_unit_test_setup_teardown(test_dict_handles_very_deep_stacks_without_recursion, setup, teardown),
      cmocka_unit_test_setup_teardown(test_dict_stores_names_as_bytes, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
