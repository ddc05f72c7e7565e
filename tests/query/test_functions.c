/* Tests for src/query/functions.c: the exact function table of /render and
 * /render-diff. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ember/query.h"
#include "query/query_int.h"

/* ---- Helpers ----------------------------------------------------------- */

/* Adds "a;b;c" (split at ';') with value v to side `side` of t. */
static void add_to(ember_tree_t *t, int side, const char *stack, uint64_t v) {
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

static void add(ember_tree_t *t, const char *stack, uint64_t v) { add_to(t, 0, stack, v); }

static ember_functions_t compute(const ember_tree_t *t, int nsides, size_t max) {
  ember_functions_t f;
  ember_err_t err;
  int rc = ember_functions_compute(t, nsides, max, &f, &err);
  if (rc) fprintf(stderr, "functions: %s\n", err.msg);
  assert_int_equal(rc, 0);
  return f;
}

/* The table as compact JSON text. */
static char *as_json(const ember_functions_t *f) {
  ember_buf_t b = EMBER_BUF_INIT;
  ember_functions_put_json(&b, f);
  json_error_t e;
  json_t *j = json_loadb(b.data, b.len, 0, &e);
  if (!j) fprintf(stderr, "json: %s: %s\n", e.text, b.data);
  assert_non_null(j);
  char *s = json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER);
  json_decref(j);
  ember_buf_free(&b);
  return s;
}

static void assert_table(const ember_functions_t *f, const char *want) {
  char *got = as_json(f);
  if (strcmp(got, want)) fprintf(stderr, "got  %s\nwant %s\n", got, want);
  assert_string_equal(got, want);
  free(got);
}

static ember_render_meta_t meta(void) {
  ember_render_meta_t m = {0};
  m.app_name = "app.cpu";
  m.query = "app.cpu{}";
  m.spy_name = "pyspy";
  m.sample_rate = 100;
  m.units = "samples";
  m.from = 1000;
  m.until = 1029;
  m.max_nodes = 8192;
  m.grid = ember_timeline_grid(m.from, m.until);
  return m;
}

/* ---- Single ------------------------------------------------------------ */

static void test_functions_sum_self_and_total_per_name(void **state) {
  ember_tree_t *t = ember_tree_new();
  add(t, "main;parse;json", 3);
  add(t, "main;handle;json", 5);
  add(t, "main;handle", 1);
  ember_functions_t f = compute(t, 1, 100);
  assert_table(&f, "{\"count\":4,\"truncated\":false,\"items\":["
                   "{\"name\":\"json\",\"self\":8,\"total\":8},"
                   "{\"name\":\"handle\",\"self\":1,\"total\":6},"
                   "{\"name\":\"main\",\"self\":0,\"total\":9},"
                   "{\"name\":\"parse\",\"self\":0,\"total\":3}]}");
  ember_functions_free(&f);
  ember_tree_free(t);
}

static void test_functions_count_a_recursive_stack_once_in_the_total(void **state) {
  ember_tree_t *t = ember_tree_new();
  add(t, "a;b;a;c", 5); /* a twice on the stack */
  add(t, "a;b;a;b;a", 2);
  add(t, "a", 1);
  ember_functions_t f = compute(t, 1, 100);
  /* a: self 2 + 1, total 8 (the whole tree), not 8 + 7 + 2. b: total 7
   * (its outer occurrence), not 7 + 2. */
  assert_table(&f, "{\"count\":3,\"truncated\":false,\"items\":["
                   "{\"name\":\"c\",\"self\":5,\"total\":5},"
                   "{\"name\":\"a\",\"self\":3,\"total\":8},"
                   "{\"name\":\"b\",\"self\":0,\"total\":7}]}");
  ember_functions_free(&f);
  ember_tree_free(t);
}

static void test_functions_count_a_recursion_in_one_branch_only_there(void **state) {
  ember_tree_t *t = ember_tree_new();
  add(t, "x;f;f;g", 4); /* recursive here */
  add(t, "y;f", 3);     /* and a separate call of f elsewhere */
  ember_functions_t f = compute(t, 1, 100);
  assert_table(&f, "{\"count\":4,\"truncated\":false,\"items\":["
                   "{\"name\":\"g\",\"self\":4,\"total\":4},"
                   "{\"name\":\"f\",\"self\":3,\"total\":7},"
                   "{\"name\":\"x\",\"self\":0,\"total\":4},"
                   "{\"name\":\"y\",\"self\":0,\"total\":3}]}");
  ember_functions_free(&f);
  ember_tree_free(t);
}

static void test_functions_break_ties_by_total_then_name(void **state) {
  ember_tree_t *t = ember_tree_new();
  add(t, "r;b", 2);
  add(t, "r;a", 2);
  add(t, "r;c;d", 2);
  add(t, "r;c", 2);
  ember_functions_t f = compute(t, 1, 100);
  assert_table(&f, "{\"count\":5,\"truncated\":false,\"items\":["
                   "{\"name\":\"c\",\"self\":2,\"total\":4},"
                   "{\"name\":\"a\",\"self\":2,\"total\":2},"
                   "{\"name\":\"b\",\"self\":2,\"total\":2},"
                   "{\"name\":\"d\",\"self\":2,\"total\":2},"
                   "{\"name\":\"r\",\"self\":0,\"total\":8}]}");
  ember_functions_free(&f);
  ember_tree_free(t);
}

static void test_functions_keep_the_first_max_and_say_so(void **state) {
  ember_tree_t *t = ember_tree_new();
  add(t, "a", 3);
  add(t, "b", 2);
  add(t, "c", 1);
  ember_functions_t f = compute(t, 1, 2);
  assert_int_equal(f.count, 3);
  assert_int_equal(f.n, 2);
  assert_table(&f, "{\"count\":3,\"truncated\":true,\"items\":["
                   "{\"name\":\"a\",\"self\":3,\"total\":3},"
                   "{\"name\":\"b\",\"self\":2,\"total\":2}]}");
  ember_functions_free(&f);
  f = compute(t, 1, 3);
  assert_table(&f, "{\"count\":3,\"truncated\":false,\"items\":["
                   "{\"name\":\"a\",\"self\":3,\"total\":3},"
                   "{\"name\":\"b\",\"self\":2,\"total\":2},"
                   "{\"name\":\"c\",\"self\":1,\"total\":1}]}");
  ember_functions_free(&f);
  f = compute(t, 1, 0);
  assert_table(&f, "{\"count\":3,\"truncated\":true,\"items\":[]}");
  ember_functions_free(&f);
  ember_tree_free(t);
}

/* The first max are chosen without sorting every name: they must be the
 * same rows, in the same order, as the head of the full ranking, also
 * with many ties. */
static void test_functions_cut_gives_the_head_of_the_full_ranking(void **state) {
  for (int nsides = 1; nsides <= 2; nsides++) {
    ember_tree_t *t = ember_tree_new();
    char stack[64];
    uint64_t x = 12345;
    for (int i = 0; i < 3000; i++) {
      x = x * 6364136223846793005ull + 1442695040888963407ull;
      snprintf(stack, sizeof stack, "m%d;f%d", (int)(x >> 60), i);
      add_to(t, (int)(x >> 33) % nsides, stack, 1 + (x >> 40) % 7);
    }
    ember_functions_t all = compute(t, nsides, 100000);
    assert_int_equal(all.n, all.count);
    static const size_t cuts[] = {1, 17, 100, 1500, 2999};
    for (size_t c = 0; c < sizeof cuts / sizeof *cuts; c++) {
      ember_functions_t head = compute(t, nsides, cuts[c]);
      assert_int_equal(head.n, cuts[c]);
      assert_int_equal(head.count, all.count);
      for (size_t i = 0; i < cuts[c]; i++) {
        assert_int_equal(head.items[i].name, all.items[i].name);
        assert_memory_equal(head.items[i].self, all.items[i].self, sizeof head.items[i].self);
      }
      ember_functions_free(&head);
    }
    ember_functions_free(&all);
    ember_tree_free(t);
  }
}

static void test_functions_of_an_empty_tree_are_none(void **state) {
  ember_tree_t *t = ember_tree_new();
  ember_functions_t f = compute(t, 1, 10);
  assert_table(&f, "{\"count\":0,\"truncated\":false,\"items\":[]}");
  ember_functions_free(&f);
  ember_tree_free(t);
}

/* The root is named "total"; a frame of that name is still a function. */
static void test_functions_leave_out_the_root_but_not_a_frame_named_total(void **state) {
  ember_tree_t *t = ember_tree_new();
  add(t, "total", 2);
  add(t, "main", 1);
  ember_functions_t f = compute(t, 1, 10);
  assert_table(&f, "{\"count\":2,\"truncated\":false,\"items\":["
                   "{\"name\":\"total\",\"self\":2,\"total\":2},"
                   "{\"name\":\"main\",\"self\":1,\"total\":1}]}");
  ember_functions_free(&f);
  ember_tree_free(t);
}

/* Depth is the attacker's: the walk needs no stack. */
static void test_functions_walk_a_very_deep_recursive_stack(void **state) {
  ember_tree_t *t = ember_tree_new();
  uint32_t node = EMBER_TREE_ROOT;
  uint32_t f_id = ember_tree_intern(t, "f", 1);
  for (int i = 0; i < 200000; i++) node = ember_tree_child(t, node, f_id);
  ember_tree_add(t, node, 0, 7);
  ember_functions_t f = compute(t, 1, 10);
  assert_table(&f, "{\"count\":1,\"truncated\":false,\"items\":["
                   "{\"name\":\"f\",\"self\":7,\"total\":7}]}");
  ember_functions_free(&f);
  ember_tree_free(t);
}

static void test_functions_give_up_once_the_deadline_has_passed(void **state) {
  ember_tree_t *t = ember_tree_new();
  char name[32];
  for (int i = 0; i < 10000; i++) {
    snprintf(name, sizeof name, "f%d", i);
    add(t, name, 1);
  }
  ember_functions_t f = {0};
  ember_err_t err;
  ember_deadline_set(ember_mono_ns() - 1);
  int rc = ember_functions_compute(t, 1, 10, &f, &err);
  ember_deadline_set(0);
  assert_int_equal(rc, EMBER_ETIMEOUT);
  assert_non_null(strstr(err.msg, "counting the functions"));
  assert_null(f.items);
  ember_tree_free(t);
}

/* ---- Diff -------------------------------------------------------------- */

/* The regression leads: a function going from 0% to 40% of its side's
 * self time ranks above small frames that are new or grew by a large
 * factor. */
static void test_functions_of_a_diff_rank_by_the_change_of_the_self_share(void **state) {
  ember_tree_t *t = ember_tree_new();
  add_to(t, 0, "main;work", 90);
  add_to(t, 0, "main;tiny", 1);
  add_to(t, 0, "main;gone", 9);
  add_to(t, 1, "main;work", 55);
  add_to(t, 1, "main;tiny", 4); /* +300%, but 3 pp */
  add_to(t, 1, "main;mutex_lock", 40);
  add_to(t, 1, "main;new_small", 1);
  ember_functions_t f = compute(t, 2, 100);
  /* work 90% -> 55%: 35 pp; mutex_lock 0 -> 40%: 40 pp; gone 9 pp; tiny
   * 3 pp; new_small 1 pp; main 0 pp. */
  assert_table(&f, "{\"count\":6,\"truncated\":false,\"items\":["
                   "{\"name\":\"mutex_lock\",\"self\":[0,40],\"total\":[0,40]},"
                   "{\"name\":\"work\",\"self\":[90,55],\"total\":[90,55]},"
                   "{\"name\":\"gone\",\"self\":[9,0],\"total\":[9,0]},"
                   "{\"name\":\"tiny\",\"self\":[1,4],\"total\":[1,4]},"
                   "{\"name\":\"new_small\",\"self\":[0,1],\"total\":[0,1]},"
                   "{\"name\":\"main\",\"self\":[0,0],\"total\":[100,100]}]}");
  ember_functions_free(&f);
  ember_tree_free(t);
}

/* Shares, not raw values: a right side twice as long changes nothing. */
static void test_functions_of_a_diff_compare_shares_of_each_side(void **state) {
  ember_tree_t *t = ember_tree_new();
  add_to(t, 0, "a", 10);
  add_to(t, 0, "b", 30);
  add_to(t, 1, "a", 20);
  add_to(t, 1, "b", 60);
  add_to(t, 1, "c", 1);
  ember_functions_t f = compute(t, 2, 2);
  /* c appears (1/81 = 1.2 pp); a and b each move by less than that. */
  char *got = as_json(&f);
  assert_non_null(strstr(got, "\"count\":3,\"truncated\":true,\"items\":[{\"name\":\"c\""));
  free(got);
  ember_functions_free(&f);
  ember_tree_free(t);
}

/* ---- In the documents -------------------------------------------------- */

static json_t *parse(const ember_buf_t *b) {
  json_error_t e;
  json_t *j = json_loadb(b->data, b->len, 0, &e);
  if (!j) fprintf(stderr, "json: %s: %.200s\n", e.text, b->data);
  assert_non_null(j);
  return j;
}

static void test_single_document_carries_the_table_as_functions(void **state) {
  ember_tree_t *t = ember_tree_new();
  add(t, "a;b", 1);
  add(t, "a;c", 2);
  ember_functions_t f = compute(t, 1, 10);
  ember_render_meta_t m = meta();
  m.functions = &f;
  ember_buf_t b = EMBER_BUF_INIT;
  assert_int_equal(ember_render_single(&b, t, &m, NULL), 0);
  assert_true(b.len <= ember_flamebearer_bound(t, &m, NULL, false));
  json_t *j = parse(&b);
  char *fn = json_dumps(json_object_get(j, "functions"), JSON_COMPACT | JSON_PRESERVE_ORDER);
  assert_string_equal(fn, "{\"count\":3,\"truncated\":false,\"items\":["
                          "{\"name\":\"c\",\"self\":2,\"total\":2},"
                          "{\"name\":\"b\",\"self\":1,\"total\":1},"
                          "{\"name\":\"a\",\"self\":0,\"total\":3}]}");
  free(fn);
  /* The Pyroscope fields are those of a document without the table. */
  assert_non_null(json_object_get(j, "flamebearer"));
  assert_non_null(json_object_get(j, "metadata"));
  assert_non_null(json_object_get(j, "timeline"));
  assert_int_equal(json_object_size(j), 5);
  json_decref(j);
  ember_buf_free(&b);
  ember_functions_free(&f);
  ember_tree_free(t);
}

static void test_diff_document_carries_the_table_with_pairs(void **state) {
  ember_tree_t *t = ember_tree_new();
  add_to(t, 0, "a;b", 1);
  add_to(t, 1, "a;c", 2);
  ember_functions_t f = compute(t, 2, 10);
  ember_render_meta_t l = meta(), r = meta();
  l.functions = &f;
  ember_buf_t b = EMBER_BUF_INIT;
  assert_int_equal(ember_render_double(&b, t, &l, &r, NULL), 0);
  assert_true(b.len <= ember_flamebearer_bound(t, &l, &r, false));
  json_t *j = parse(&b);
  json_t *items = json_object_get(json_object_get(j, "functions"), "items");
  assert_int_equal(json_array_size(items), 3);
  char *first = json_dumps(json_array_get(items, 0), JSON_COMPACT | JSON_PRESERVE_ORDER);
  /* b and c both move by 100 pp: the larger values first. */
  assert_string_equal(first, "{\"name\":\"c\",\"self\":[0,2],\"total\":[0,2]}");
  free(first);
  json_decref(j);
  ember_buf_free(&b);
  ember_functions_free(&f);
  ember_tree_free(t);
}

/* The table counts toward the output limit: a document that would fit
 * without it is refused with it, before anything is written. */
static void test_the_table_counts_toward_the_output_limit(void **state) {
  ember_tree_t *t = ember_tree_new();
  char name[300];
  memset(name, 'x', 256);
  for (int i = 0; i < 200; i++) {
    snprintf(name + 256, 40, "%d", i);
    add(t, name, 1);
  }
  ember_render_meta_t m = meta();
  size_t without = ember_flamebearer_bound(t, &m, NULL, false);
  ember_functions_t f = compute(t, 1, 1000);
  m.functions = &f;
  size_t with = ember_flamebearer_bound(t, &m, NULL, false);
  assert_true(with > without + 200 * 256);
  /* '<' costs six bytes in a page. */
  assert_true(ember_functions_bound(&f, true) >= ember_functions_bound(&f, false));
  ember_buf_t b = EMBER_BUF_INIT;
  m.max_output = without + 1000;
  ember_err_t err;
  assert_int_equal(ember_render_single(&b, t, &m, &err), EMBER_EINVAL);
  assert_int_equal(b.len, 0);
  m.max_output = with;
  assert_int_equal(ember_render_single(&b, t, &m, &err), 0);
  assert_true(b.len <= with);
  ember_buf_free(&b);
  ember_functions_free(&f);
  ember_tree_free(t);
}

static void test_bound_covers_escaped_names(void **state) {
  ember_tree_t *t = ember_tree_new();
  add(t, "a\"b\\c<d\x01\xff", 18446744073709551615ull);
  add(t, "e", 18446744073709551615ull);
  ember_functions_t f = compute(t, 1, 10);
  ember_buf_t b = EMBER_BUF_INIT;
  ember_functions_put_json(&b, &f);
  assert_true(b.len + 14 <= ember_functions_bound(&f, false));
  ember_buf_free(&b);
  ember_functions_free(&f);
  ember_tree_free(t);
}

int main(void) {
#define T(f) cmocka_unit_test(f)
  const struct CMUnitTest tests[] = {
      T(test_functions_sum_self_and_total_per_name),
      T(test_functions_count_a_recursive_stack_once_in_the_total),
      T(test_functions_count_a_recursion_in_one_branch_only_there),
      T(test_functions_break_ties_by_total_then_name),
      T(test_functions_keep_the_first_max_and_say_so),
      T(test_functions_cut_gives_the_head_of_the_full_ranking),
      T(test_functions_of_an_empty_tree_are_none),
      T(test_functions_leave_out_the_root_but_not_a_frame_named_total),
      T(test_functions_walk_a_very_deep_recursive_stack),
      T(test_functions_give_up_once_the_deadline_has_passed),
      T(test_functions_of_a_diff_rank_by_the_change_of_the_self_share),
      T(test_functions_of_a_diff_compare_shares_of_each_side),
      T(test_single_document_carries_the_table_as_functions),
      T(test_diff_document_carries_the_table_with_pairs),
      T(test_the_table_counts_toward_the_output_limit),
      T(test_bound_covers_escaped_names),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
