/* Tests for src/query/flamebearer.c: the /render and /render-diff JSON. */
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

/* Adds "a;b;c" (split at ';') with value v to side 0 of t. */
static void add(ember_tree_t *t, const char *stack, uint64_t v) {
  ember_slice_t f[64];
  size_t n = 0;
  const char *p = stack;
  while (*p) {
    const char *e = strchr(p, ';');
    if (!e) e = p + strlen(p);
    f[n++] = ember_slice(p, (size_t)(e - p));
    p = *e ? e + 1 : e;
  }
  ember_tree_add_stack(t, f, n, v);
}

static ember_render_meta_t meta(void) {
  ember_render_meta_t m = {0};
  m.app_name = "app.cpu";
  m.query = "app.cpu{}";
  m.spy_name = "pyspy";
  m.sample_rate = 100;
  m.units = "samples";
  m.from = 1000;
  m.until = 1029; /* included: three 10 s buckets */
  m.max_nodes = 8192;
  m.grid = ember_timeline_grid(m.from, m.until);
  return m;
}

static json_t *parse(const ember_buf_t *b) {
  json_error_t e;
  json_t *j = json_loadb(b->data, b->len, JSON_ALLOW_NUL, &e);
  if (!j) fprintf(stderr, "json: %s at %d: %.200s\n", e.text, e.position, b->data);
  assert_non_null(j);
  return j;
}

static json_t *render(const ember_tree_t *t) {
  ember_render_meta_t m = meta();
  ember_buf_t b = EMBER_BUF_INIT;
  assert_int_equal(ember_render_single(&b, t, &m, NULL), 0);
  json_t *j = parse(&b);
  ember_buf_free(&b);
  return j;
}

/* Serialises a JSON value compactly, for comparing with expected text. */
static void assert_json_is(json_t *j, const char *want) {
  char *got = json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY);
  if (strcmp(got, want)) fprintf(stderr, "got  %s\nwant %s\n", got, want);
  assert_string_equal(got, want);
  free(got);
}

static json_t *fb(json_t *doc, const char *key) {
  return json_object_get(json_object_get(doc, "flamebearer"), key);
}

/* ---- Single ------------------------------------------------------------ */

static void test_single_matches_the_documented_example_byte_for_byte(void **state) {
  ember_tree_t *t = ember_tree_new();
  add(t, "a;b", 1);
  add(t, "a;c", 2);
  ember_render_meta_t m = meta();
  uint64_t tl[3] = {0, 3, 0};
  m.timeline = tl;
  ember_buf_t b = EMBER_BUF_INIT;
  assert_int_equal(ember_render_single(&b, t, &m, NULL), 0);
  assert_string_equal(
      b.data,
      "{\"version\":1,\"flamebearer\":{\"names\":[\"total\",\"a\",\"c\",\"b\"],"
      "\"levels\":[[0,3,0,0],[0,3,0,1],[0,1,1,3,0,2,2,2]],\"numTicks\":3,"
      "\"maxSelf\":2},\"metadata\":{\"format\":\"single\",\"spyName\":\"pyspy\","
      "\"sampleRate\":100,\"units\":\"samples\",\"name\":\"app.cpu\","
      "\"appName\":\"app.cpu\",\"startTime\":1000,\"endTime\":1029,"
      "\"query\":\"app.cpu{}\",\"maxNodes\":8192},\"timeline\":{\"startTime\":1000,"
      "\"samples\":[0,4,0],\"durationDelta\":10}}");
  assert_int_equal(b.len, strlen(b.data));
  json_decref(parse(&b));
  ember_buf_free(&b);
  ember_tree_free(t);
}

static void test_single_of_an_empty_tree_is_one_empty_root(void **state) {
  ember_tree_t *t = ember_tree_new();
  json_t *j = render(t);
  assert_json_is(fb(j, "names"), "[\"total\"]");
  assert_json_is(fb(j, "levels"), "[[0,0,0,0]]");
  assert_int_equal(json_integer_value(fb(j, "numTicks")), 0);
  assert_int_equal(json_integer_value(fb(j, "maxSelf")), 0);
  assert_json_is(json_object_get(json_object_get(j, "timeline"), "samples"),
                 "[0,0,0]");
  json_decref(j);
  ember_tree_free(t);
}

static void test_single_indexes_names_in_last_child_first_walk_order(void **state) {
  ember_tree_t *t = ember_tree_new();
  add(t, "a;b;d", 1);
  add(t, "a;b;e", 1);
  add(t, "a;c;f", 1);
  add(t, "g", 1);
  json_t *j = render(t);
  assert_json_is(fb(j, "names"), "[\"total\",\"g\",\"a\",\"c\",\"f\",\"b\",\"e\",\"d\"]");
  assert_json_is(fb(j, "levels"),
                 "[[0,4,0,0],[0,3,0,2,0,1,1,1],[0,2,0,5,0,1,0,3],"
                 "[0,1,1,7,0,1,1,6,0,1,1,4]]");
  json_decref(j);
  ember_tree_free(t);
}

static void test_single_deduplicates_names_across_levels(void **state) {
  ember_tree_t *t = ember_tree_new();
  add(t, "f;f;f", 2);
  add(t, "g;f", 1);
  json_t *j = render(t);
  /* Walk: total, g, f (under g: same name as the root's f), ... */
  assert_json_is(fb(j, "names"), "[\"total\",\"g\",\"f\"]");
  assert_json_is(fb(j, "levels"),
                 "[[0,3,0,0],[0,2,0,2,0,1,0,1],[0,2,0,2,0,1,1,2],[0,2,2,2]]");
  json_decref(j);
  ember_tree_free(t);
}

static void test_single_delta_encodes_x_after_parent_self_and_siblings(void **state) {
  ember_tree_t *t = ember_tree_new();
  add(t, "a", 2);
  add(t, "a;b", 1);
  add(t, "c", 1);
  add(t, "c;d", 3);
  add(t, "c;d;e", 5);
  add(t, "c;d;f", 2);
  json_t *j = render(t);
  /* Absolute: a[0,3) c[3,14); b at 0+2, d at 3+1; e at 4+3, f at 12. */
  assert_json_is(fb(j, "names"), "[\"total\",\"c\",\"d\",\"f\",\"e\",\"a\",\"b\"]");
  assert_json_is(fb(j, "levels"),
                 "[[0,14,0,0],[0,3,2,5,0,11,1,1],[2,1,1,6,1,10,3,2],"
                 "[7,5,5,4,0,2,2,3]]");
  assert_int_equal(json_integer_value(fb(j, "numTicks")), 14);
  assert_int_equal(json_integer_value(fb(j, "maxSelf")), 5);
  json_decref(j);
  ember_tree_free(t);
}

static void test_single_puts_other_after_every_sibling(void **state) {
  ember_tree_t *t = ember_tree_new();
  add(t, "other", 1);
  add(t, "zz", 1);
  add(t, "a", 1);
  json_t *j = render(t);
  /* Sorted a, zz, other; the walk pops other first. */
  assert_json_is(fb(j, "names"), "[\"total\",\"other\",\"zz\",\"a\"]");
  assert_json_is(fb(j, "levels"), "[[0,3,0,0],[0,1,1,3,0,1,1,2,0,1,1,1]]");
  json_decref(j);
  ember_tree_free(t);
}

static void test_single_leaves_out_nodes_without_value(void **state) {
  ember_tree_t *t = ember_tree_new();
  add(t, "a", 1);
  /* A node created but never given a value, as a merge of an empty side
   * leaves behind. */
  ember_tree_child(t, EMBER_TREE_ROOT, ember_tree_intern(t, "ghost", 5));
  json_t *j = render(t);
  assert_json_is(fb(j, "names"), "[\"total\",\"a\"]");
  assert_json_is(fb(j, "levels"), "[[0,1,0,0],[0,1,1,1]]");
  json_decref(j);
  ember_tree_free(t);
}

static void test_single_escapes_names_that_are_not_plain_text(void **state) {
  static const char *weird[] = {
      "quote\"d", "back\\slash", "new\nline", "tab\tbed", "bell\x01", "caf\xc3\xa9",
      "bad\xff", "\xf0\x9f\x94\xa5", "sl/ash <script>",
  };
  size_t n = sizeof weird / sizeof *weird;
  ember_tree_t *t = ember_tree_new();
  for (size_t i = 0; i < n; i++) {
    ember_slice_t f = ember_slice(weird[i], strlen(weird[i]));
    ember_tree_add_stack(t, &f, 1, 1);
  }
  ember_slice_t nul = ember_slice("nu\0l", 4);
  ember_tree_add_stack(t, &nul, 1, 1);
  json_t *j = render(t);
  json_t *names = fb(j, "names");
  assert_int_equal(json_array_size(names), n + 2);
  size_t found = 0;
  for (size_t k = 0; k < json_array_size(names); k++) {
    const char *s = json_string_value(json_array_get(names, k));
    size_t len = json_string_length(json_array_get(names, k));
    for (size_t i = 0; i < n; i++)
      if (!strcmp(weird[i], "bad\xff") ? !strcmp(s, "bad\xef\xbf\xbd")
                                       : !strcmp(s, weird[i]))
        found++;
    if (len == 4 && !memcmp(s, "nu\0l", 4)) found++;
  }
  assert_int_equal(found, n + 1);
  json_decref(j);
  ember_tree_free(t);
}

static void test_single_survives_a_stack_100000_frames_deep(void **state) {
  enum { DEPTH = 100000 };
  ember_tree_t *t = ember_tree_new();
  ember_slice_t *f = malloc(DEPTH * sizeof *f);
  char(*names)[8] = malloc(DEPTH * sizeof *names);
  for (size_t i = 0; i < DEPTH; i++) {
    snprintf(names[i], sizeof names[i], "f%zu", i % 1000);
    f[i] = ember_slice(names[i], strlen(names[i]));
  }
  ember_tree_add_stack(t, f, DEPTH, 7);
  json_t *j = render(t);
  json_t *levels = fb(j, "levels");
  assert_int_equal(json_array_size(levels), DEPTH + 1);
  assert_int_equal(json_array_size(fb(j, "names")), 1001);
  json_t *last = json_array_get(levels, DEPTH);
  assert_int_equal(json_array_size(last), 4);
  assert_int_equal(json_integer_value(json_array_get(last, 0)), 0);
  assert_int_equal(json_integer_value(json_array_get(last, 1)), 7);
  assert_int_equal(json_integer_value(json_array_get(last, 2)), 7);
  json_decref(j);
  free(f);
  free(names);
  ember_tree_free(t);
}

/* Decodes the levels of a random tree back to absolute positions and checks
 * that every bar lies inside the free part of some bar above it and that
 * each level's bars do not overlap. */
static void test_single_levels_decode_to_nested_bars(void **state) {
  ember_tree_t *t = ember_tree_new();
  srand(7);
  for (int i = 0; i < 3000; i++) {
    char stack[64];
    int depth = 1 + rand() % 6, len = 0;
    for (int d = 0; d < depth; d++)
      len += snprintf(stack + len, sizeof stack - (size_t)len, "%sn%d", d ? ";" : "",
                      rand() % 4);
    add(t, stack, 1 + (uint64_t)(rand() % 5));
  }
  json_t *j = render(t);
  json_t *levels = fb(j, "levels");
  size_t drawn = 0;
  for (size_t d = 0; d < json_array_size(levels); d++) {
    json_t *lv = json_array_get(levels, d);
    json_int_t end = 0;
    for (size_t i = 0; i < json_array_size(lv); i += 4) {
      json_int_t x = end + json_integer_value(json_array_get(lv, i));
      json_int_t total = json_integer_value(json_array_get(lv, i + 1));
      assert_true(total > 0);
      if (d > 0) {
        /* Some bar in the level above covers [x, x + total). */
        json_t *up = json_array_get(levels, d - 1);
        json_int_t ux = 0, uend = 0;
        bool inside = false;
        for (size_t k = 0; k < json_array_size(up); k += 4) {
          ux = uend + json_integer_value(json_array_get(up, k));
          json_int_t ut = json_integer_value(json_array_get(up, k + 1));
          json_int_t us = json_integer_value(json_array_get(up, k + 2));
          if (x >= ux + us && x + total <= ux + ut) inside = true;
          uend = ux + ut;
        }
        assert_true(inside);
      }
      end = x + total;
      drawn++;
    }
  }
  assert_int_equal(drawn, ember_tree_count(t));
  json_decref(j);
  ember_tree_free(t);
}

/* ---- Double ------------------------------------------------------------ */

static ember_tree_t *diff_tree(void) {
  ember_tree_t *l = ember_tree_new(), *r = ember_tree_new(), *u = ember_tree_new();
  add(l, "a;b", 1);
  add(l, "a;c", 2);
  add(r, "a;b", 3);
  add(r, "d", 1);
  ember_tree_merge(u, 0, l, 0);
  ember_tree_merge(u, 1, r, 0);
  ember_tree_free(l);
  ember_tree_free(r);
  return u;
}

static void test_double_encodes_both_sides_of_the_union_tree(void **state) {
  ember_tree_t *t = diff_tree();
  ember_render_meta_t lm = meta(), rm = meta();
  lm.query = "app.cpu{side=\"left\"}";
  rm.from = 2000;
  rm.until = 2019;
  rm.grid = ember_timeline_grid(rm.from, rm.until);
  uint64_t ltl[3] = {3, 0, 0}, rtl[2] = {0, 4};
  lm.timeline = ltl;
  rm.timeline = rtl;
  ember_buf_t b = EMBER_BUF_INIT;
  assert_int_equal(ember_render_double(&b, t, &lm, &rm, NULL), 0);
  json_t *j = parse(&b);
  assert_int_equal(json_integer_value(json_object_get(j, "leftTicks")), 3);
  assert_int_equal(json_integer_value(json_object_get(j, "rightTicks")), 4);
  assert_json_is(fb(j, "names"), "[\"total\",\"d\",\"a\",\"c\",\"b\"]");
  assert_json_is(fb(j, "levels"),
                 "[[0,3,0,0,4,0,0],[0,3,0,0,3,0,2,0,0,0,0,1,1,1],"
                 "[0,1,1,0,3,3,4,0,2,2,0,0,0,3]]");
  assert_int_equal(json_integer_value(fb(j, "numTicks")), 7);
  assert_int_equal(json_integer_value(fb(j, "maxSelf")), 3);
  json_t *md = json_object_get(j, "metadata");
  assert_string_equal(json_string_value(json_object_get(md, "format")), "double");
  assert_string_equal(json_string_value(json_object_get(md, "leftQuery")),
                      "app.cpu{side=\"left\"}");
  assert_int_equal(json_integer_value(json_object_get(md, "startTime")), 2000);
  assert_int_equal(json_integer_value(json_object_get(md, "leftStartTime")), 1000);
  assert_json_is(json_object_get(j, "leftTimeline"),
                 "{\"startTime\":1000,\"samples\":[4,0,0],\"durationDelta\":10}");
  assert_json_is(json_object_get(j, "rightTimeline"),
                 "{\"startTime\":2000,\"samples\":[0,5],\"durationDelta\":10}");
  assert_json_is(json_object_get(j, "timeline"),
                 "{\"startTime\":2000,\"samples\":[0,5],\"durationDelta\":10}");
  json_decref(j);
  ember_buf_free(&b);
  ember_tree_free(t);
}

static void test_double_of_two_empty_sides_is_one_empty_root(void **state) {
  ember_tree_t *t = ember_tree_new();
  ember_render_meta_t m = meta();
  ember_buf_t b = EMBER_BUF_INIT;
  assert_int_equal(ember_render_double(&b, t, &m, &m, NULL), 0);
  json_t *j = parse(&b);
  assert_json_is(fb(j, "levels"), "[[0,0,0,0,0,0,0]]");
  assert_int_equal(json_integer_value(fb(j, "numTicks")), 0);
  json_decref(j);
  ember_buf_free(&b);
  ember_tree_free(t);
}

/* ---- Limits ------------------------------------------------------------ */

/* A tree of weird names: escapes, invalid UTF-8, control characters, '<'. */
static ember_tree_t *weird_tree(void) {
  ember_tree_t *t = ember_tree_new();
  add(t, "main;\"quoted\\\";<script>", 1234567);
  add(t, "main;\x01\x02\x1f;\xff\xfe\xc3", 7);
  add(t, "main;caf\xc3\xa9;\xe2\x82\xac", UINT64_MAX / 4);
  for (int i = 0; i < 300; i++) {
    char stack[64];
    snprintf(stack, sizeof stack, "main;worker;fn_%d", i);
    add(t, stack, (uint64_t)i + 1);
  }
  return t;
}

static void test_json_never_passes_its_bound(void **state) {
  ember_tree_t *t = weird_tree();
  ember_render_meta_t m = meta();
  m.query = "app.cpu{k=\"<\\\"\x01\"}";
  ember_buf_t b = EMBER_BUF_INIT;
  assert_int_equal(ember_render_single(&b, t, &m, NULL), 0);
  size_t bound = ember_flamebearer_bound(t, &m, NULL, false);
  assert_true(b.len <= bound);
  /* Close enough to be useful: the names are most of the slack. */
  assert_true(bound <= 4 * b.len);
  ember_buf_reset(&b);
  ember_tree_t *u = ember_tree_new();
  ember_tree_merge(u, 0, t, 0);
  ember_tree_merge(u, 1, t, 0);
  assert_int_equal(ember_render_double(&b, u, &m, &m, NULL), 0);
  assert_true(b.len <= ember_flamebearer_bound(u, &m, &m, false));
  ember_buf_free(&b);
  ember_tree_free(u);
  ember_tree_free(t);
}

static void test_json_over_max_output_is_refused_before_it_is_built(void **state) {
  ember_tree_t *t = weird_tree();
  ember_render_meta_t m = meta();
  size_t bound = ember_flamebearer_bound(t, &m, NULL, false);
  ember_buf_t b = EMBER_BUF_INIT;
  ember_err_t err;
  m.max_output = bound - 1;
  assert_int_equal(ember_render_single(&b, t, &m, &err), EMBER_EINVAL);
  assert_non_null(strstr(err.msg, "the JSON flame graph would take up to"));
  assert_non_null(strstr(err.msg, "lower maxNodes or narrow the time range"));
  assert_null(b.data); /* nothing was built, not even a buffer */
  assert_int_equal(ember_render_double(&b, t, &m, &m, &err), EMBER_EINVAL);
  assert_null(b.data);
  m.max_output = bound;
  assert_int_equal(ember_render_single(&b, t, &m, &err), 0);
  ember_buf_free(&b);
  ember_tree_free(t);
}

static void test_json_gives_up_once_the_deadline_has_passed(void **state) {
  ember_tree_t *t = weird_tree();
  ember_render_meta_t m = meta();
  ember_buf_t b = EMBER_BUF_INIT;
  ember_err_t err;
  ember_deadline_set(ember_mono_ns() - 1);
  int rc = ember_render_single(&b, t, &m, &err);
  int rc2 = ember_render_double(&b, t, &m, &m, NULL);
  ember_deadline_set(0);
  assert_int_equal(rc, EMBER_ETIMEOUT);
  assert_int_equal(rc2, EMBER_ETIMEOUT);
  assert_string_equal(err.msg, "the query ran out of time while laying out the flame "
                               "graph; narrow the time range or the selector, or lower "
                               "maxNodes");
  /* A deadline still ahead changes nothing. */
  ember_buf_reset(&b);
  ember_deadline_set(ember_mono_ns() + 60ull * 1000000000u);
  rc = ember_render_single(&b, t, &m, &err);
  ember_deadline_set(0);
  assert_int_equal(rc, 0);
  ember_buf_free(&b);
  ember_tree_free(t);
}

static void test_json_flags_saturated_sums(void **state) {
  /* Jansson refuses integers past INT64_MAX, so the text is read as is. */
  ember_render_meta_t m = meta();
  ember_buf_t b = EMBER_BUF_INIT;
  ember_tree_t *t = ember_tree_new();
  add(t, "a", UINT64_MAX - 1);
  add(t, "b", 5); /* the root's total saturates */
  assert_int_equal(ember_render_single(&b, t, &m, NULL), 0);
  assert_non_null(strstr(b.data, "\"numTicks\":18446744073709551615"));
  assert_non_null(strstr(b.data, ",\"saturated\":true"));
  ember_buf_reset(&b);
  /* Two sides that only saturate together do too: numTicks is their sum. */
  ember_tree_t *u = ember_tree_new();
  ember_tree_merge(u, 0, t, 0);
  ember_tree_merge(u, 1, t, 0);
  assert_int_equal(ember_render_double(&b, u, &m, &m, NULL), 0);
  assert_non_null(strstr(b.data, ",\"saturated\":true"));
  ember_tree_free(u);
  ember_tree_free(t);
  ember_buf_reset(&b);
  t = ember_tree_new();
  add(t, "a", 5);
  assert_int_equal(ember_render_single(&b, t, &m, NULL), 0);
  assert_null(strstr(b.data, "saturated"));
  ember_buf_free(&b);
  ember_tree_free(t);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_single_matches_the_documented_example_byte_for_byte),
      cmocka_unit_test(test_single_of_an_empty_tree_is_one_empty_root),
      cmocka_unit_test(test_single_indexes_names_in_last_child_first_walk_order),
      cmocka_unit_test(test_single_deduplicates_names_across_levels),
      cmocka_unit_test(test_single_delta_encodes_x_after_parent_self_and_siblings),
      cmocka_unit_test(test_single_puts_other_after_every_sibling),
      cmocka_unit_test(test_single_leaves_out_nodes_without_value),
      cmocka_unit_test(test_single_escapes_names_that_are_not_plain_text),
      cmocka_unit_test(test_single_survives_a_stack_100000_frames_deep),
      cmocka_unit_test(test_single_levels_decode_to_nested_bars),
      cmocka_unit_test(test_double_encodes_both_sides_of_the_union_tree),
      cmocka_unit_test(test_double_of_two_empty_sides_is_one_empty_root),
      cmocka_unit_test(test_json_never_passes_its_bound),
      cmocka_unit_test(test_json_over_max_output_is_refused_before_it_is_built),
      cmocka_unit_test(test_json_gives_up_once_the_deadline_has_passed),
      cmocka_unit_test(test_json_flags_saturated_sums),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
