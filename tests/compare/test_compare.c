/* Tests for src/compare/compare.c: the function table of a two-sided tree
 * and of a /render-diff answer, and the gate's rules. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "ember/compare.h"
#include "ember/ingest.h"

/* Base: parse 10%, db 60%, idle 30%; head: parse 25%, db 50%, idle 25%. */
static ember_tree_t *two_sides(void) {
  static const char base[] = "main;parse 10\nmain;db 60\nidle 30\n";
  static const char head[] = "main;parse 25\nmain;db 50\nidle 25\n";
  ember_tree_t *t = ember_tree_new(), *h = ember_tree_new();
  ember_err_t err;
  assert_int_equal(ember_ingest_folded(base, strlen(base), t, &err), 0);
  assert_int_equal(ember_ingest_folded(head, strlen(head), h, &err), 0);
  ember_tree_merge(t, 1, h, 0);
  ember_tree_free(h);
  return t;
}

static ember_gate_opts_t gate(double fail_above) {
  ember_gate_opts_t o = {fail_above, -1, 0, NULL, 0};
  return o;
}

static const char *row_name(const ember_compare_t *c, const ember_gate_t *g, size_t i) {
  return c->items[g->rows[i].fn].name;
}

static void test_the_gate_trips_on_growth_over_the_limit_only(void **state) {
  ember_tree_t *t = two_sides();
  ember_compare_t c;
  ember_err_t err;
  assert_int_equal(ember_compare_from_tree(t, "samples", 100, &c, &err), 0);
  assert_int_equal(c.n, 4); /* main, parse, db, idle */
  assert_int_equal(c.total[0], 100);
  assert_int_equal(c.total[1], 100);
  ember_gate_opts_t o = gate(5);
  ember_gate_t g;
  assert_int_equal(ember_gate_eval(&c, &o, &g, &err), 0);
  assert_false(g.passed);
  assert_string_equal(row_name(&c, &g, 0), "parse");
  assert_true(g.rows[0].delta_pp > 14.99 && g.rows[0].delta_pp < 15.01);
  assert_string_equal(row_name(&c, &g, 1), "db");
  assert_int_equal(g.nregressions, 1);
  ember_gate_free(&g);
  /* 15 pp is not more than 15. */
  o = gate(15.000001);
  assert_int_equal(ember_gate_eval(&c, &o, &g, &err), 0);
  assert_true(g.passed);
  ember_gate_free(&g);
  /* Ignored: out of the table and the gate. */
  o = gate(5);
  o.ignore = "ars";
  assert_int_equal(ember_gate_eval(&c, &o, &g, &err), 0);
  assert_true(g.passed);
  assert_int_equal(g.ignored, 1);
  assert_int_equal(g.n, 3);
  ember_gate_free(&g);
  /* Under --min-share on both sides: out of the table. */
  o = gate(5);
  o.min_share = 26;
  assert_int_equal(ember_gate_eval(&c, &o, &g, &err), 0);
  assert_true(g.passed);
  for (size_t i = 0; i < g.n; i++)
    assert_string_not_equal(row_name(&c, &g, i), "parse");
  ember_gate_free(&g);
  o.ignore = "(";
  assert_int_equal(ember_gate_eval(&c, &o, &g, &err), EMBER_EINVAL);
  assert_non_null(strstr(err.msg, "bad --ignore"));
  ember_compare_free(&c);
  ember_tree_free(t);
}

static void test_the_total_gate_compares_absolute_totals(void **state) {
  ember_compare_t c;
  memset(&c, 0, sizeof c);
  c.total[0] = 1000;
  c.total[1] = 1300;
  ember_gate_opts_t o = {-1, 25, 0, NULL, 0};
  ember_gate_t g;
  ember_err_t err;
  assert_int_equal(ember_gate_eval(&c, &o, &g, &err), 0);
  assert_true(g.total_over);
  assert_false(g.passed);
  assert_true(g.total_change > 29.99 && g.total_change < 30.01);
  ember_gate_free(&g);
  o.fail_total_above = 30.5;
  assert_int_equal(ember_gate_eval(&c, &o, &g, &err), 0);
  assert_true(g.passed);
  ember_gate_free(&g);
}

static void test_a_render_diff_answer_reads_as_the_same_comparison(void **state) {
  static const char doc[] =
      "{\"version\":1,\"leftTicks\":100,\"rightTicks\":200,\"metadata\":{\"format\":"
      "\"double\",\"sampleRate\":97,\"units\":\"samples\"},\"functions\":{\"count\":2,"
      "\"truncated\":false,\"items\":[{\"name\":\"a\",\"self\":[10,80],\"total\":[10,80]},"
      "{\"name\":\"b\",\"self\":[90,120],\"total\":[100,200]}]}}";
  ember_compare_t c;
  ember_err_t err;
  assert_int_equal(ember_compare_from_json(doc, strlen(doc), &c, &err), 0);
  assert_int_equal(c.n, 2);
  assert_int_equal(c.total[1], 200);
  assert_int_equal(c.sample_rate, 97);
  assert_string_equal(c.items[1].name, "b");
  assert_int_equal(c.items[1].total[1], 200);
  ember_compare_free(&c);
  assert_int_equal(ember_compare_from_json("{\"leftTicks\":1}", 15, &c, &err), EMBER_EPARSE);
  assert_int_equal(ember_compare_from_json("<html>", 6, &c, &err), EMBER_EPARSE);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_the_gate_trips_on_growth_over_the_limit_only),
      cmocka_unit_test(test_the_total_gate_compares_absolute_totals),
      cmocka_unit_test(test_a_render_diff_answer_reads_as_the_same_comparison),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
