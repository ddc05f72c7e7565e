/* Tests for src/profile/truncate.c: keeping the largest nodes, "other". */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ember/query.h"

/* ---- Helpers ----------------------------------------------------------- */

/* t cut down to max nodes (the call must succeed); caller frees. */
static ember_tree_t *truncated(const ember_tree_t *t, long max) {
  ember_tree_t *out = NULL;
  ember_err_t err;
  if (ember_tree_truncate(t, max, &out, &err)) fail_msg("%s", err.msg);
  return out;
}

/* Adds "a;b;c" with value v to one side of t. */
static void add_side(ember_tree_t *t, int side, const char *stack, uint64_t v) {
  uint32_t node = EMBER_TREE_ROOT;
  const char *p = stack;
  while (*p) {
    const char *e = strchr(p, ';');
    if (!e) e = p + strlen(p);
    node = ember_tree_child(t, node, ember_tree_intern(t, p, (size_t)(e - p)));
    p = *e ? e + 1 : e;
  }
  ember_tree_add(t, node, side, v);
}

static void add(ember_tree_t *t, const char *stack, uint64_t v) {
  add_side(t, 0, stack, v);
}

/* The node at path "a;b" (NONE when absent). */
static uint32_t find(const ember_tree_t *t, const char *path) {
  uint32_t node = EMBER_TREE_ROOT;
  const char *p = path;
  while (*p && node != EMBER_TREE_NONE) {
    const char *e = strchr(p, ';');
    if (!e) e = p + strlen(p);
    /* Interning into a const tree is not allowed: match names by hand. */
    uint32_t found = EMBER_TREE_NONE;
    for (uint32_t c = ember_tree_node(t, node)->first_child; c != EMBER_TREE_NONE;
         c = ember_tree_node(t, c)->next_sibling) {
      ember_slice_t s = ember_tree_name(t, ember_tree_node(t, c)->name);
      if (s.len == (size_t)(e - p) && !memcmp(s.base, p, s.len)) found = c;
    }
    node = found;
    p = *e ? e + 1 : e;
  }
  return node;
}

static void assert_node(const ember_tree_t *t, const char *path, int side,
                        uint64_t self, uint64_t total) {
  uint32_t n = find(t, path);
  if (n == EMBER_TREE_NONE) fprintf(stderr, "missing %s\n", path);
  assert_int_not_equal(n, EMBER_TREE_NONE);
  assert_int_equal(ember_tree_node(t, n)->self[side], self);
  assert_int_equal(ember_tree_node(t, n)->total[side], total);
}

static void assert_valid(const ember_tree_t *t) {
  ember_err_t err;
  int rc = ember_tree_check(t, &err);
  if (rc) fprintf(stderr, "check: %s\n", err.msg);
  assert_int_equal(rc, 0);
}

/* root 16: a 10 (x 6, y 3, z 1), b 5 (w 5), c 1 */
static ember_tree_t *sample(void) {
  ember_tree_t *t = ember_tree_new();
  add(t, "a;x", 6);
  add(t, "a;y", 3);
  add(t, "a;z", 1);
  add(t, "b;w", 5);
  add(t, "c", 1);
  return t;
}

static int cmp_desc(const void *a, const void *b) {
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return x < y ? 1 : x > y ? -1 : 0;
}

/* ---- Tests ------------------------------------------------------------- */

static void test_truncate_keeps_everything_when_the_tree_fits(void **state) {
  ember_tree_t *t = sample();
  long limits[] = {-1, (long)ember_tree_count(t), 1000000};
  for (size_t i = 0; i < 3; i++) {
    ember_tree_t *c = truncated(t, limits[i]);
    assert_valid(c);
    assert_int_equal(ember_tree_count(c), ember_tree_count(t));
    assert_int_equal(find(c, "other"), EMBER_TREE_NONE);
    assert_node(c, "a;y", 0, 3, 3);
    assert_node(c, "b", 0, 0, 5);
    ember_tree_free(c);
  }
  ember_tree_free(t);
}

static void test_truncate_keeps_the_largest_and_folds_the_rest_into_other(void **state) {
  ember_tree_t *t = sample();
  /* root, then a 10, x 6, b 5: y 3 / z 1, w 5 and c 1 are cut. */
  ember_tree_t *c = truncated(t, 4);
  assert_valid(c);
  assert_int_equal(ember_tree_count(c), 4 + 3);
  assert_node(c, "", 0, 0, 16);
  assert_node(c, "a", 0, 0, 10);
  assert_node(c, "a;x", 0, 6, 6);
  assert_node(c, "a;other", 0, 4, 4);
  assert_node(c, "b", 0, 0, 5);
  assert_node(c, "b;other", 0, 5, 5);
  assert_node(c, "other", 0, 1, 1);
  assert_int_equal(find(c, "c"), EMBER_TREE_NONE);
  assert_int_equal(find(c, "a;y"), EMBER_TREE_NONE);
  ember_tree_free(c);
  ember_tree_free(t);
}

static void test_truncate_to_zero_or_one_keeps_only_the_root(void **state) {
  ember_tree_t *t = sample();
  for (long max = 0; max <= 1; max++) {
    ember_tree_t *c = truncated(t, max);
    assert_valid(c);
    assert_int_equal(ember_tree_count(c), 2);
    assert_node(c, "other", 0, 16, 16);
    ember_tree_free(c);
  }
  ember_tree_free(t);
}

static void test_truncate_breaks_ties_the_same_way_every_time(void **state) {
  ember_tree_t *t = ember_tree_new();
  add(t, "p", 1);
  add(t, "q", 1);
  add(t, "r", 1);
  add(t, "s", 1);
  ember_tree_t *c1 = truncated(t, 3), *c2 = truncated(t, 3);
  /* Equal totals: the nodes created first (smaller ids) win. */
  assert_node(c1, "p", 0, 1, 1);
  assert_node(c1, "q", 0, 1, 1);
  assert_node(c1, "other", 0, 2, 2);
  ember_buf_t b1 = EMBER_BUF_INIT, b2 = EMBER_BUF_INIT;
  assert_int_equal(ember_render_collapsed(&b1, c1, 0, 0, NULL), 0);
  assert_int_equal(ember_render_collapsed(&b2, c2, 0, 0, NULL), 0);
  assert_string_equal(b1.data, b2.data);
  ember_buf_free(&b1);
  ember_buf_free(&b2);
  ember_tree_free(c1);
  ember_tree_free(c2);
  ember_tree_free(t);
}

static void test_truncate_ranks_by_both_sides_and_folds_each_side(void **state) {
  ember_tree_t *t = ember_tree_new();
  add_side(t, 0, "a", 5);
  add_side(t, 1, "b", 9);
  add_side(t, 0, "c", 2);
  add_side(t, 1, "c", 2);
  add_side(t, 1, "d", 1);
  /* Ranking by left + right: b 9, a 5, c 4, d 1. */
  ember_tree_t *c = truncated(t, 3);
  assert_valid(c);
  assert_node(c, "b", 1, 9, 9);
  assert_node(c, "a", 0, 5, 5);
  assert_node(c, "other", 0, 2, 2);
  assert_node(c, "other", 1, 3, 3);
  assert_int_equal(ember_tree_total(c, 0), 7);
  assert_int_equal(ember_tree_total(c, 1), 12);
  ember_tree_free(c);
  ember_tree_free(t);
}

static void test_truncate_folds_into_a_kept_child_named_other(void **state) {
  ember_tree_t *t = ember_tree_new();
  add(t, "other", 4);
  add(t, "other;deep", 3);
  add(t, "small", 2);
  add(t, "tiny", 1);
  ember_tree_t *c = truncated(t, 3); /* root, other 7, deep 3 */
  assert_valid(c);
  assert_int_equal(ember_tree_count(c), 3);
  assert_node(c, "other", 0, 4 + 3, 7 + 3);
  assert_node(c, "other;deep", 0, 3, 3);
  ember_tree_free(c);
  ember_tree_free(t);
}

/* On a random tree the kept nodes are exactly the largest totals (any
 * tie-break keeps the multiset of totals), connected, and sums hold. */
static void test_truncate_keeps_exactly_the_largest_totals(void **state) {
  ember_tree_t *t = ember_tree_new();
  srand(11);
  for (int i = 0; i < 5000; i++) {
    char stack[96];
    int depth = 1 + rand() % 8, len = 0;
    for (int d = 0; d < depth; d++)
      len += snprintf(stack + len, sizeof stack - (size_t)len, "%sf%d", d ? ";" : "",
                      rand() % 5);
    add(t, stack, 1 + (uint64_t)(rand() % 9));
  }
  size_t n = ember_tree_count(t);
  long limits[] = {2, 17, 300, (long)n / 2, (long)n - 1};
  uint64_t *want = malloc(n * sizeof *want), *got = malloc(2 * n * sizeof *got);
  for (size_t i = 1; i < n; i++) want[i - 1] = ember_tree_node(t, (uint32_t)i)->total[0];
  qsort(want, n - 1, sizeof *want, cmp_desc);
  for (size_t k = 0; k < sizeof limits / sizeof *limits; k++) {
    ember_tree_t *c = truncated(t, limits[k]);
    assert_valid(c);
    assert_int_equal(ember_tree_total(c, 0), ember_tree_total(t, 0));
    uint32_t other = ember_tree_intern(c, "other", 5);
    size_t m = 0;
    for (uint32_t i = 1; i < ember_tree_count(c); i++) {
      const ember_tree_node_t *nd = ember_tree_node(c, i);
      if (nd->name == other) {
        /* A bucket: never has children of its own here. */
        assert_int_equal(nd->first_child, EMBER_TREE_NONE);
        continue;
      }
      got[m++] = nd->total[0];
    }
    assert_int_equal(m, (size_t)limits[k] - 1);
    qsort(got, m, sizeof *got, cmp_desc);
    for (size_t i = 0; i < m; i++) assert_int_equal(got[i], want[i]);
    ember_tree_free(c);
  }
  free(want);
  free(got);
  ember_tree_free(t);
}

static void test_truncate_handles_a_chain_100000_nodes_deep(void **state) {
  enum { DEPTH = 100000 };
  ember_tree_t *t = ember_tree_new();
  uint32_t f = ember_tree_intern(t, "f", 1), node = EMBER_TREE_ROOT;
  for (int i = 0; i < DEPTH; i++) {
    node = ember_tree_child(t, node, f);
    /* Self at every depth: the case where per-node ancestor walks would
     * cost depth squared. */
    ember_tree_set(t, node, 0, 1, (uint64_t)(DEPTH - i));
  }
  ember_tree_set(t, EMBER_TREE_ROOT, 0, 0, DEPTH);
  assert_valid(t);
  ember_tree_t *c = truncated(t, DEPTH - 10);
  assert_valid(c);
  /* DEPTH - 10 kept (root included) plus one bucket at the bottom. */
  assert_int_equal(ember_tree_count(c), DEPTH - 10 + 1);
  const ember_tree_node_t *last = ember_tree_node(c, (uint32_t)ember_tree_count(c) - 1);
  assert_true(ember_slice_eq(ember_tree_name(c, last->name), "other"));
  assert_int_equal(last->total[0], 11);
  ember_tree_free(c);
  ember_tree_free(t);
}

static void test_truncate_gives_up_once_the_deadline_has_passed(void **state) {
  ember_tree_t *t = ember_tree_new();
  add(t, "a;b", 3);
  add(t, "a;c", 2);
  add(t, "d", 1);
  ember_tree_t *out = (ember_tree_t *)t; /* must stay untouched */
  ember_err_t err;
  ember_deadline_set(ember_mono_ns() - 1);
  int rc = ember_tree_truncate(t, 2, &out, &err);
  ember_deadline_set(0);
  assert_int_equal(rc, EMBER_ETIMEOUT);
  assert_ptr_equal(out, t);
  assert_non_null(strstr(err.msg, "ran out of time while cutting the flame graph down "
                                  "to maxNodes; narrow the time range or the selector"));
  /* With time left the same call works. */
  ember_deadline_set(ember_mono_ns() + 60ull * 1000000000u);
  rc = ember_tree_truncate(t, 2, &out, &err);
  ember_deadline_set(0);
  assert_int_equal(rc, 0);
  ember_tree_free(out);
  ember_tree_free(t);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_truncate_keeps_everything_when_the_tree_fits),
      cmocka_unit_test(test_truncate_keeps_the_largest_and_folds_the_rest_into_other),
      cmocka_unit_test(test_truncate_to_zero_or_one_keeps_only_the_root),
      cmocka_unit_test(test_truncate_breaks_ties_the_same_way_every_time),
      cmocka_unit_test(test_truncate_ranks_by_both_sides_and_folds_each_side),
      cmocka_unit_test(test_truncate_folds_into_a_kept_child_named_other),
      cmocka_unit_test(test_truncate_keeps_exactly_the_largest_totals),
      cmocka_unit_test(test_truncate_handles_a_chain_100000_nodes_deep),
      cmocka_unit_test(test_truncate_gives_up_once_the_deadline_has_passed),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
