/* Integration: the exact function table ("functions") of /render and
 * /render-diff through the real binary: computed from the whole tree while
 * the graph is truncated, recursion counted once, the diff led by the
 * regression, maxFunctions bounded, and the table inside format=html. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ember/common.h"
#include "harness.h"

#define T0 1700000000L

static it_server_t srv;

/* eu-north spends 40% of its time in mutex_lock; us-east none. Each has a
 * long tail of small frames so that the default graph folds some into
 * other, and a recursive walk. */
static int setup(void **state) {
  memset(&srv, 0, sizeof srv);
  it_start(&srv, NULL);
  ember_buf_t eu = EMBER_BUF_INIT, us = EMBER_BUF_INIT;
  ember_buf_puts(&eu, "main;server:handle (server.py:12);server:mutex_lock (server.py:58) 400\n"
                      "main;walk;visit;walk;visit;walk 100\n");
  ember_buf_puts(&us, "main;walk;visit;walk;visit;walk 100\n");
  for (int i = 0; i < 500; i++) {
    ember_buf_printf(&eu, "main;tail;small_%d 1\n", i);
    ember_buf_printf(&us, "main;tail;small_%d 1\n", i);
  }
  ember_buf_puts(&us, "main;server:handle (server.py:12) 350\nmain;server:respond 50\n");
  assert_int_equal(it_ingest(&srv, "ride.cpu{region=eu-north}", T0 + 100, T0 + 110, eu.data),
                   200);
  assert_int_equal(it_ingest(&srv, "ride.cpu{region=us-east}", T0 + 100, T0 + 110, us.data),
                   200);
  ember_buf_free(&eu);
  ember_buf_free(&us);
  return 0;
}

static int teardown(void **state) {
  assert_int_equal(it_stop(&srv), 0);
  it_cleanup(&srv);
  return 0;
}

static json_t *item(json_t *doc, size_t i) {
  return json_array_get(json_object_get(json_object_get(doc, "functions"), "items"), i);
}

static const char *name_of(json_t *it) {
  return json_string_value(json_object_get(it, "name"));
}

/* The row named name, or NULL. */
static json_t *row(json_t *doc, const char *name) {
  json_t *items = json_object_get(json_object_get(doc, "functions"), "items"), *it;
  size_t i;
  json_array_foreach(items, i, it) if (!strcmp(name_of(it), name)) return it;
  return NULL;
}

static long long num(json_t *o, const char *key) {
  return json_integer_value(json_object_get(o, key));
}

/* ---- Tests ------------------------------------------------------------- */

static void test_render_lists_every_function_exactly_though_the_graph_is_cut(void **state) {
  json_t *j = it_render(&srv, "ride.cpu{region=\"eu-north\"}", T0, T0 + 3599, "maxNodes=20");
  /* The graph is cut: its names include other. */
  json_t *names = json_object_get(json_object_get(j, "flamebearer"), "names"), *n;
  size_t i;
  bool other = false;
  json_array_foreach(names, i, n) other |= !strcmp(json_string_value(n), "other");
  assert_true(other);
  /* The table is not: every function, the heaviest self first, no other. */
  json_t *fns = json_object_get(j, "functions");
  assert_int_equal(num(fns, "count"), 506);
  assert_true(json_is_false(json_object_get(fns, "truncated")));
  assert_string_equal(name_of(item(j, 0)), "server:mutex_lock (server.py:58)");
  assert_int_equal(num(item(j, 0), "self"), 400);
  assert_null(row(j, "other"));
  assert_int_equal(num(row(j, "small_499"), "self"), 1);
  /* walk is three times on its stack: its total counts the samples once. */
  assert_int_equal(num(row(j, "walk"), "total"), 100);
  assert_int_equal(num(row(j, "walk"), "self"), 100);
  assert_int_equal(num(row(j, "visit"), "total"), 100);
  assert_int_equal(num(row(j, "main"), "total"), 1000);
  json_decref(j);
}

static void test_render_cuts_the_table_at_max_functions(void **state) {
  json_t *j = it_render(&srv, "ride.cpu{}", T0, T0 + 3599, "maxFunctions=3");
  json_t *fns = json_object_get(j, "functions");
  assert_true(json_is_true(json_object_get(fns, "truncated")));
  assert_int_equal(num(fns, "count"), 507);
  assert_int_equal(json_array_size(json_object_get(fns, "items")), 3);
  json_decref(j);
  it_resp_t r;
  assert_int_equal(it_http(&srv, "GET", "/render?query=ride.cpu%7B%7D&maxFunctions=lots",
                           NULL, NULL, 0, &r),
                   0);
  assert_int_equal(r.status, 400);
  assert_non_null(strstr(r.body, "\"error\""));
  assert_non_null(strstr(r.body, "maxFunctions"));
  it_resp_free(&r);
}

/* The ride-sharing question: what differs between eu-north and us-east
 * over the same range? mutex_lock, first. */
static void test_diff_table_leads_with_the_regression(void **state) {
  it_resp_t r;
  char target[1024];
  snprintf(target, sizeof target,
           "/render-diff?leftQuery=%s&rightQuery=%s&leftFrom=%ld&leftUntil=%ld"
           "&rightFrom=%ld&rightUntil=%ld",
           "ride.cpu%7Bregion%3D%22us-east%22%7D", "ride.cpu%7Bregion%3D%22eu-north%22%7D",
           T0, T0 + 3599, T0, T0 + 3599);
  it_expect(&srv, 200, "GET", target, NULL, 0, &r);
  json_t *j = it_json(&r);
  it_resp_free(&r);
  json_t *first = item(j, 0);
  assert_string_equal(name_of(first), "server:mutex_lock (server.py:58)");
  char *self = json_dumps(json_object_get(first, "self"), JSON_COMPACT);
  assert_string_equal(self, "[0,400]");
  free(self);
  /* Then the handler, whose self time moved into mutex_lock: 35 pp. */
  json_t *handle = item(j, 1);
  assert_string_equal(name_of(handle), "server:handle (server.py:12)");
  assert_int_equal(json_integer_value(json_array_get(json_object_get(handle, "self"), 0)),
                   350);
  assert_int_equal(json_integer_value(json_array_get(json_object_get(handle, "total"), 1)),
                   400);
  json_decref(j);
  /* format=html inlines the same document, table included. */
  strncat(target, "&format=html", sizeof target - strlen(target) - 1);
  it_expect(&srv, 200, "GET", target, NULL, 0, &r);
  assert_non_null(strstr(r.body, "\"functions\":{\"count\":507,"));
  it_resp_free(&r);
}

int main(void) {
#define T(name) cmocka_unit_test(name)
  const struct CMUnitTest tests[] = {
      T(test_render_lists_every_function_exactly_though_the_graph_is_cut),
      T(test_render_cuts_the_table_at_max_functions),
      T(test_diff_table_leads_with_the_regression),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
