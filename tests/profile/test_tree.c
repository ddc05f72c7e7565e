/* Tests for src/profile/tree.c: interning, stacks, totals, merge, order. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ember/tree.h"

static ember_slice_t S(const char *s) { return ember_slice(s, strlen(s)); }

static void add(ember_tree_t *t, const char *a, const char *b, uint64_t v) {
  ember_slice_t f[2] = {S(a), b ? S(b) : S("")};
  ember_tree_add_stack(t, f, b ? 2 : 1, v);
}

static void test_tree_starts_with_a_root_named_total(void **state) {
  ember_tree_t *t = ember_tree_new();
  assert_int_equal(ember_tree_count(t), 1);
  ember_slice_t n = ember_tree_name(t, ember_tree_node(t, EMBER_TREE_ROOT)->name);
  assert_true(ember_slice_eq(n, "total"));
  assert_int_equal(ember_tree_check(t, NULL), 0);
  ember_tree_free(t);
}

static void test_tree_intern_gives_one_id_per_name(void **state) {
  ember_tree_t *t = ember_tree_new();
  uint32_t a = ember_tree_intern(t, "main", 4);
  uint32_t b = ember_tree_intern(t, "work", 4);
  assert_int_not_equal(a, b);
  assert_int_equal(ember_tree_intern(t, "main", 4), a);
  /* Names are bytes, NUL included. */
  uint32_t z = ember_tree_intern(t, "a\0b", 3);
  assert_int_not_equal(z, ember_tree_intern(t, "a", 1));
  assert_int_equal(ember_tree_name(t, z).len, 3);
  ember_tree_free(t);
}

static void test_tree_stacks_sum_into_self_and_total(void **state) {
  ember_tree_t *t = ember_tree_new();
  add(t, "a", "b", 1);
  add(t, "a", "c", 2);
  add(t, "a", "c", 3);
  add(t, "a", NULL, 4);
  assert_int_equal(ember_tree_count(t), 4);
  assert_int_equal(ember_tree_total(t, 0), 10);
  uint32_t a = ember_tree_find_child(t, EMBER_TREE_ROOT, ember_tree_intern(t, "a", 1));
  uint32_t c = ember_tree_find_child(t, a, ember_tree_intern(t, "c", 1));
  assert_int_equal(ember_tree_node(t, a)->self[0], 4);
  assert_int_equal(ember_tree_node(t, a)->total[0], 10);
  assert_int_equal(ember_tree_node(t, c)->self[0], 5);
  assert_int_equal(ember_tree_max_self(t, 0), 5);
  assert_int_equal(ember_tree_check(t, NULL), 0);
  ember_tree_free(t);
}

static void test_tree_sums_saturate_instead_of_wrapping(void **state) {
  ember_tree_t *t = ember_tree_new();
  add(t, "a", NULL, UINT64_MAX - 1);
  add(t, "b", NULL, 5);
  assert_true(ember_tree_total(t, 0) == UINT64_MAX);
  ember_tree_free(t);
}

static void test_tree_sorted_children_put_other_last(void **state) {
  ember_tree_t *t = ember_tree_new();
  add(t, "other", NULL, 1);
  add(t, "zeta", NULL, 1);
  add(t, "ab", NULL, 1);
  add(t, "a", NULL, 1);
  uint32_t *buf = NULL;
  size_t cap = 0;
  size_t n = ember_tree_sorted_children(t, EMBER_TREE_ROOT, &buf, &cap);
  assert_int_equal(n, 4);
  const char *want[] = {"a", "ab", "zeta", "other"};
  for (size_t i = 0; i < n; i++)
    assert_true(ember_slice_eq(ember_tree_name(t, ember_tree_node(t, buf[i])->name), want[i]));
  free(buf);
  ember_tree_free(t);
}

static void test_tree_merge_matches_nodes_by_path_and_side(void **state) {
  ember_tree_t *x = ember_tree_new(), *y = ember_tree_new(), *d = ember_tree_new();
  add(x, "a", "b", 1);
  add(x, "a", "c", 2);
  add(y, "a", "c", 5);
  add(y, "d", NULL, 7);
  ember_tree_merge(d, 0, x, 0);
  ember_tree_merge(d, 1, y, 0);
  assert_int_equal(ember_tree_check(d, NULL), 0);
  assert_int_equal(ember_tree_total(d, 0), 3);
  assert_int_equal(ember_tree_total(d, 1), 12);
  uint32_t a = ember_tree_find_child(d, EMBER_TREE_ROOT, ember_tree_intern(d, "a", 1));
  uint32_t c = ember_tree_find_child(d, a, ember_tree_intern(d, "c", 1));
  assert_int_equal(ember_tree_node(d, c)->self[0], 2);
  assert_int_equal(ember_tree_node(d, c)->self[1], 5);
  /* Merging twice doubles. */
  ember_tree_merge(d, 0, x, 0);
  assert_int_equal(ember_tree_total(d, 0), 6);
  assert_int_equal(ember_tree_check(d, NULL), 0);
  ember_tree_free(x);
  ember_tree_free(y);
  ember_tree_free(d);
}

static void test_tree_handles_many_nodes(void **state) {
  ember_tree_t *t = ember_tree_new();
  char a[32], b[32];
  for (int i = 0; i < 20000; i++) {
    snprintf(a, sizeof a, "f%d", i % 97);
    snprintf(b, sizeof b, "g%d", i);
    add(t, a, b, (uint64_t)i + 1);
  }
  assert_int_equal(ember_tree_count(t), 1 + 97 + 20000);
  assert_int_equal(ember_tree_total(t, 0), (uint64_t)20000 * 20001 / 2);
  assert_int_equal(ember_tree_check(t, NULL), 0);
  ember_tree_free(t);
}

/* Every node of a 300,000-deep chain carries a value: with totals updated
 * per add this would be O(n^2) (minutes); settled lazily it is one pass. */
static void test_tree_values_along_a_deep_chain_settle_in_one_pass(void **state) {
  ember_tree_t *t = ember_tree_new();
  uint32_t node = EMBER_TREE_ROOT, name = ember_tree_intern(t, "f", 1);
  for (int i = 0; i < 300000; i++) {
    node = ember_tree_child(t, node, name);
    ember_tree_add(t, node, 0, 1);
  }
  assert_int_equal(ember_tree_total(t, 0), 300000);
  assert_int_equal(ember_tree_node(t, 1)->total[0], 300000);
  assert_int_equal(ember_tree_node(t, node)->total[0], 1);
  ember_tree_add(t, node, 0, 5); /* a later add is seen at the next read */
  assert_int_equal(ember_tree_total(t, 0), 300005);
  assert_int_equal(ember_tree_check(t, NULL), 0);
  ember_tree_free(t);
}

static void test_tree_mem_counts_what_the_tree_has_allocated(void **state) {
  assert_int_equal(ember_tree_mem(NULL), 0);
  ember_tree_t *t = ember_tree_new();
  size_t empty = ember_tree_mem(t);
  assert_true(empty >= sizeof(ember_tree_node_t));
  char name[32];
  for (int i = 0; i < 10000; i++) {
    snprintf(name, sizeof name, "frame%d", i);
    add(t, "main", name, 1);
  }
  /* 10,001 nodes, 10,001 names of 5 to 9 bytes and their hash slots. */
  assert_true(ember_tree_mem(t) >=
              empty + 10000 * (sizeof(ember_tree_node_t) + 5 + 2 * 4));
  assert_true(ember_tree_mem(t) < 4 * 10002 * (sizeof(ember_tree_node_t) + 9 + 8 + 8));
  ember_tree_free(t);
}

/* Reserving room changes nothing a reader sees, and the tree grows into
 * it without moving: a node's address stays put. */
static void test_tree_reserve_makes_room_without_changing_the_tree(void **state) {
  ember_tree_t *t = ember_tree_new();
  add(t, "main", "a", 1);
  ember_tree_reserve(t, 5000, 5000);
  const ember_tree_node_t *root = ember_tree_node(t, EMBER_TREE_ROOT);
  char name[32];
  for (int i = 0; i < 4000; i++) {
    snprintf(name, sizeof name, "frame%d", i);
    add(t, "main", name, 2);
  }
  assert_ptr_equal(ember_tree_node(t, EMBER_TREE_ROOT), root);
  assert_int_equal(ember_tree_count(t), 1 + 1 + 1 + 4000);
  assert_int_equal(ember_tree_total(t, 0), 1 + 8000);
  /* Lookups still find what was there before the reserve. */
  uint32_t main_node = ember_tree_find_child(t, EMBER_TREE_ROOT, ember_tree_intern(t, "main", 4));
  assert_int_not_equal(main_node, EMBER_TREE_NONE);
  assert_int_not_equal(ember_tree_find_child(t, main_node, ember_tree_intern(t, "a", 1)),
                       EMBER_TREE_NONE);
  assert_int_equal(ember_tree_check(t, NULL), 0);
  ember_tree_free(t);
}

/* A function's total counts a sample once however often its stack passes
 * through it; its self sums every node of its name. */
static void test_tree_functions_count_a_recursive_stack_once(void **state) {
  ember_tree_t *t = ember_tree_new();
  uint32_t a = ember_tree_intern(t, "a", 1), b = ember_tree_intern(t, "b", 1);
  uint32_t n1 = ember_tree_child(t, EMBER_TREE_ROOT, a), n2 = ember_tree_child(t, n1, b);
  uint32_t n3 = ember_tree_child(t, n2, a);
  ember_tree_add(t, n3, 0, 5); /* a;b;a 5 */
  ember_tree_add(t, n1, 0, 2); /* a 2 */
  ember_tree_add(t, n2, 1, 7); /* a;b 7 on the other side */
  ember_function_t *f;
  size_t n;
  assert_int_equal(ember_tree_functions(t, 2, &f, &n, NULL), 0);
  assert_int_equal(n, 2);
  for (size_t i = 0; i < n; i++) {
    if (f[i].name == a) {
      assert_int_equal(f[i].self[0], 7);
      assert_int_equal(f[i].total[0], 7);
      assert_int_equal(f[i].total[1], 7);
    } else {
      assert_int_equal(f[i].name, b);
      assert_int_equal(f[i].self[1], 7);
      assert_int_equal(f[i].total[0], 5);
    }
  }
  free(f);
  ember_tree_free(t);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_tree_starts_with_a_root_named_total),
      cmocka_unit_test(test_tree_intern_gives_one_id_per_name),
      cmocka_unit_test(test_tree_stacks_sum_into_self_and_total),
      cmocka_unit_test(test_tree_sums_saturate_instead_of_wrapping),
      cmocka_unit_test(test_tree_sorted_children_put_other_last),
      cmocka_unit_test(test_tree_merge_matches_nodes_by_path_and_side),
      cmocka_unit_test(test_tree_handles_many_nodes),
      cmocka_unit_test(test_tree_values_along_a_deep_chain_settle_in_one_pass),
      cmocka_unit_test(test_tree_mem_counts_what_the_tree_has_allocated),
      cmocka_unit_test(test_tree_reserve_makes_room_without_changing_the_tree),
      cmocka_unit_test(test_tree_functions_count_a_recursive_stack_once),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
