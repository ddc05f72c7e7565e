/* Tests for src/query/collapsed.c: the tree back as folded text. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ember/query.h"
#include "query/query_int.h"

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

static size_t collapsed_size(const ember_tree_t *t, int side) {
  size_t size = 0;
  assert_int_equal(ember_collapsed_size(t, side, &size, NULL), 0);
  return size;
}

static void assert_collapsed(const ember_tree_t *t, int side, const char *want) {
  ember_buf_t b = EMBER_BUF_INIT;
  assert_int_equal(ember_render_collapsed(&b, t, side, 0, NULL), 0);
  assert_string_equal(b.data ? b.data : "", want);
  assert_int_equal(collapsed_size(t, side), strlen(want));
  ember_buf_free(&b);
}

static void test_collapsed_writes_one_sorted_line_per_self_value(void **state) {
  ember_tree_t *t = ember_tree_new();
  add_side(t, 0, "main;work;zip", 3);
  add_side(t, 0, "main;work", 2);
  add_side(t, 0, "main;idle", 1);
  add_side(t, 0, "other", 4);
  add_side(t, 0, "main;work;alpha", 5);
  add_side(t, 0, "gc", 7);
  assert_collapsed(t,
                   0,
                   "gc 7\n"
                   "main;idle 1\n"
                   "main;work 2\n"
                   "main;work;alpha 5\n"
                   "main;work;zip 3\n"
                   "other 4\n");
  ember_tree_free(t);
}

static void test_collapsed_of_an_empty_tree_is_empty(void **state) {
  ember_tree_t *t = ember_tree_new();
  assert_collapsed(t, 0, "");
  ember_tree_free(t);
}

static void test_collapsed_leaves_out_the_root_own_samples(void **state) {
  ember_tree_t *t = ember_tree_new();
  ember_tree_add_stack(t, NULL, 0, 9);
  add_side(t, 0, "a", 1);
  assert_collapsed(t, 0, "a 1\n");
  ember_tree_free(t);
}

static void test_collapsed_reads_the_side_it_is_asked_for(void **state) {
  ember_tree_t *t = ember_tree_new();
  add_side(t, 0, "left;only", 1);
  add_side(t, 1, "right;only", 2);
  add_side(t, 1, "left", 3);
  assert_collapsed(t, 0, "left;only 1\n");
  assert_collapsed(t, 1, "left 3\nright;only 2\n");
  ember_tree_free(t);
}

static void test_collapsed_writes_line_breaks_in_names_as_spaces(void **state) {
  ember_tree_t *t = ember_tree_new();
  ember_slice_t f[2] = {ember_slice("a\nb", 3), ember_slice("c\r\nd e", 6)};
  ember_tree_add_stack(t, f, 2, 12345678901234ull);
  assert_collapsed(t, 0, "a b;c  d e 12345678901234\n");
  ember_tree_free(t);
}

static void test_collapsed_survives_a_stack_100000_frames_deep(void **state) {
  enum { DEPTH = 100000 };
  ember_tree_t *t = ember_tree_new();
  ember_slice_t *f = malloc(DEPTH * sizeof *f);
  for (size_t i = 0; i < DEPTH; i++) f[i] = ember_slice(i % 2 ? "b" : "a", 1);
  ember_tree_add_stack(t, f, DEPTH, 1);
  ember_buf_t b = EMBER_BUF_INIT;
  assert_int_equal(ember_render_collapsed(&b, t, 0, 0, NULL), 0);
  assert_int_equal(b.len, 2 * DEPTH - 1 + 3);
  assert_memory_equal(b.data, "a;b;a;b", 7);
  assert_string_equal(b.data + b.len - 5, ";b 1\n");
  assert_int_equal(collapsed_size(t, 0), b.len);
  ember_buf_free(&b);
  free(f);
  ember_tree_free(t);
}

static void test_collapsed_over_max_output_is_refused_before_it_is_built(void **state) {
  ember_tree_t *t = ember_tree_new();
  add_side(t, 0, "a;b", 1);
  add_side(t, 0, "a;c", 22); /* "a;b 1\na;c 22\n": 13 bytes */
  ember_buf_t b = EMBER_BUF_INIT;
  ember_err_t err;
  assert_int_equal(ember_render_collapsed(&b, t, 0, 12, &err), EMBER_EINVAL);
  assert_string_equal(err.msg, "the collapsed profile would take up to 13 bytes, over "
                               "the server's limit of 12 bytes; lower maxNodes or "
                               "narrow the time range or the selector");
  assert_null(b.data);
  assert_int_equal(ember_render_collapsed(&b, t, 0, 13, &err), 0);
  assert_string_equal(b.data, "a;b 1\na;c 22\n");
  ember_buf_free(&b);
  ember_tree_free(t);
}

static void test_collapsed_gives_up_once_the_deadline_has_passed(void **state) {
  ember_tree_t *t = ember_tree_new();
  add_side(t, 0, "a;b", 1);
  ember_buf_t b = EMBER_BUF_INIT;
  ember_err_t err;
  size_t size = 42;
  ember_deadline_set(ember_mono_ns() - 1);
  int rc = ember_render_collapsed(&b, t, 0, 0, &err);
  int rc2 = ember_collapsed_size(t, 0, &size, NULL);
  ember_deadline_set(0);
  assert_int_equal(rc, EMBER_ETIMEOUT);
  assert_int_equal(rc2, EMBER_ETIMEOUT);
  assert_int_equal(size, 42);
  assert_non_null(strstr(err.msg, "ran out of time while writing the collapsed stacks"));
  ember_buf_free(&b);
  ember_tree_free(t);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_collapsed_writes_one_sorted_line_per_self_value),
      cmocka_unit_test(test_collapsed_of_an_empty_tree_is_empty),
      cmocka_unit_test(test_collapsed_leaves_out_the_root_own_samples),
      cmocka_unit_test(test_collapsed_reads_the_side_it_is_asked_for),
      cmocka_unit_test(test_collapsed_writes_line_breaks_in_names_as_spaces),
      cmocka_unit_test(test_collapsed_survives_a_stack_100000_frames_deep),
      cmocka_unit_test(test_collapsed_over_max_output_is_refused_before_it_is_built),
      cmocka_unit_test(test_collapsed_gives_up_once_the_deadline_has_passed),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
