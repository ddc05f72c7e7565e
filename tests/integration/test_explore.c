/* Integration: GET /api/explore, the tag explorer, through the real binary:
 * the ride-sharing app's samples split by region (top N, other, missing),
 * with regex selectors, an empty range, bad parameters answered with JSON
 * errors, and the read role required like /render. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

#define T0 1700000000L

static it_server_t srv;

/* Four regions, and a series pushed without a region. */
static int setup(void **state) {
  memset(&srv, 0, sizeof srv);
  it_start(&srv, NULL);
  static const struct {
    const char *name;
    long at;
    const char *folded;
  } pushes[] = {
      {"ride.cpu{region=eu-north,vehicle=car}", T0 + 100, "main;car;mutex_lock 40\n"},
      {"ride.cpu{region=eu-north,vehicle=bike}", T0 + 110, "main;bike 20\n"},
      {"ride.cpu{region=us-east,vehicle=car}", T0 + 100, "main;car 30\n"},
      {"ride.cpu{region=us-east,vehicle=car}", T0 + 200, "main;car 6\n"},
      {"ride.cpu{region=ap-south,vehicle=scooter}", T0 + 100, "main;scooter 5\n"},
      {"ride.cpu{region=sa-east,vehicle=car}", T0 + 300, "main;car 2\n"},
      {"ride.cpu{vehicle=car}", T0 + 100, "main;idle 7\n"},
  };
  for (size_t i = 0; i < sizeof pushes / sizeof *pushes; i++)
    assert_int_equal(
        it_ingest(&srv, pushes[i].name, pushes[i].at, pushes[i].at + 10, pushes[i].folded),
        200);
  return 0;
}

static int teardown(void **state) {
  assert_int_equal(it_stop(&srv), 0);
  it_cleanup(&srv);
  return 0;
}

/* GET /api/explore?query=<q>&from=T0&until=T0+3599&<extra>, expecting 200. */
static json_t *explore(const char *query, const char *extra) {
  char *q = it_urlencode(query);
  char target[2048];
  snprintf(target, sizeof target, "/api/explore?query=%s&from=%ld&until=%ld&%s", q, T0,
           T0 + 3599, extra);
  free(q);
  it_resp_t r;
  it_expect(&srv, 200, "GET", target, NULL, 0, &r);
  char *type = it_header(&r, "Content-Type");
  assert_non_null(type);
  assert_non_null(strstr(type, "application/json"));
  free(type);
  json_t *j = it_json(&r);
  it_resp_free(&r);
  return j;
}

static void expect_error(const char *target, int status, const char *hint) {
  it_resp_t r;
  assert_int_equal(it_http(&srv, "GET", target, NULL, NULL, 0, &r), 0);
  if (r.status != status) fail_msg("expected %d, got %d: %s", status, r.status, r.body);
  json_t *j = it_json(&r);
  const char *msg = json_string_value(json_object_get(j, "error"));
  assert_non_null(msg);
  if (!strstr(msg, hint)) fail_msg("error '%s' lacks '%s'", msg, hint);
  json_decref(j);
  it_resp_free(&r);
}

/* "value:total ..." of the groups, "other:total/values", "missing:total". */
static void assert_lines(json_t *j, const char *want) {
  char got[512] = "";
  size_t len = 0, i;
  json_t *g;
  json_array_foreach(json_object_get(j, "groups"), i, g) {
    long long total = json_integer_value(json_object_get(g, "total"));
    if (json_is_true(json_object_get(g, "other")))
      len += (size_t)snprintf(got + len, sizeof got - len, "%sother:%lld/%lld",
                              len ? " " : "", total,
                              json_integer_value(json_object_get(g, "values")));
    else
      len += (size_t)snprintf(got + len, sizeof got - len, "%s%s:%lld", len ? " " : "",
                              json_string_value(json_object_get(g, "value")), total);
  }
  json_t *m = json_object_get(j, "missing");
  if (m)
    snprintf(got + len, sizeof got - len, "%smissing:%lld", len ? " " : "",
             json_integer_value(json_object_get(m, "total")));
  if (strcmp(got, want)) fail_msg("got '%s', want '%s'", got, want);
}

/* ---- Tests ------------------------------------------------------------- */

static void test_explore_splits_by_region_with_top_other_and_missing(void **state) {
  json_t *j = explore("ride.cpu{}", "groupBy=region&top=2");
  assert_lines(j, "eu-north:60 us-east:36 other:7/2 missing:7");
  assert_int_equal(json_integer_value(json_object_get(j, "total")), 110);
  json_t *eu = json_array_get(json_object_get(j, "groups"), 0);
  /* Steps with data: T0+100, +110, +200, +300. */
  assert_true(json_number_value(json_object_get(eu, "avg")) == 15.0);
  assert_int_equal(json_integer_value(json_object_get(eu, "peak")), 40);
  double share = json_number_value(json_object_get(eu, "share"));
  assert_true(share > 0.5454 && share < 0.5455);
  /* A group's query renders that group's flame graph. */
  const char *q = json_string_value(json_object_get(eu, "query"));
  assert_string_equal(q, "ride.cpu{region=\"eu-north\"}");
  json_t *r = it_render(&srv, q, T0, T0 + 3599, NULL);
  assert_int_equal(it_ticks(r), 60);
  json_decref(r);
  json_decref(j);
  /* The default top lists every region. */
  j = explore("ride.cpu{}", "groupBy=region");
  assert_lines(j, "eu-north:60 us-east:36 ap-south:5 sa-east:2 missing:7");
  json_decref(j);
}

static void test_explore_takes_regex_selectors(void **state) {
  json_t *j = explore("ride.cpu{vehicle=~\"c.r|bike\"}", "groupBy=region");
  assert_lines(j, "eu-north:60 us-east:36 sa-east:2 missing:7");
  json_decref(j);
  j = explore("ride.cpu{region=~\"eu-.*|us-.*\"}", "groupBy=vehicle&top=1");
  assert_lines(j, "car:76 other:20/1");
  json_decref(j);
}

static void test_explore_of_a_key_no_series_has_is_all_missing(void **state) {
  json_t *j = explore("ride.cpu{}", "groupBy=pod");
  assert_lines(j, "missing:110");
  json_decref(j);
}

static void test_explore_of_an_empty_range_has_no_lines(void **state) {
  it_resp_t r;
  it_expect(&srv, 200, "GET",
            "/api/explore?query=ride.cpu%7B%7D&groupBy=region&from=1700010000&"
            "until=1700010599",
            NULL, 0, &r);
  json_t *j = it_json(&r);
  assert_lines(j, "");
  assert_int_equal(json_integer_value(json_object_get(j, "total")), 0);
  assert_int_equal(json_array_size(json_object_get(json_object_get(j, "timeline"),
                                                   "samples")),
                   60);
  json_decref(j);
  it_resp_free(&r);
}

static void test_explore_answers_bad_parameters_with_json_errors(void **state) {
  expect_error("/api/explore?query=ride.cpu%7B%7D", 400, "missing 'groupBy'");
  expect_error("/api/explore?query=ride.cpu%7B%7D&groupBy=re%20gion", 400,
               "not a label key");
  expect_error("/api/explore?query=ride.cpu%7B%7D&groupBy=__name__", 400,
               "not a label key");
  expect_error("/api/explore?query=ride.cpu%7B%7D&groupBy=region&top=1000", 400, "top");
  expect_error("/api/explore?groupBy=region", 400, "missing 'query'");
  expect_error("/api/explore?query=ride.cpu%7Bregion%3D~%22(%22%7D&groupBy=region", 400,
               "region");
  expect_error("/api/explore?query=ride.cpu%7B%7D&groupBy=region&from=now&until=now-1h",
               400, "must be before");
  it_resp_t r;
  assert_int_equal(it_http(&srv, "POST", "/api/explore", NULL, "x", 1, &r), 0);
  assert_int_equal(r.status, 405);
  it_resp_free(&r);
}

static void test_explore_needs_the_read_role(void **state) {
  char dir[256], path[300];
  it_mkdtemp(dir, sizeof dir, "ember-tok");
  snprintf(path, sizeof path, "%s/tokens", dir);
  const char tokens[] = "agent-key ingest\nviewer-key read\n";
  it_write_file(path, tokens, sizeof tokens - 1);
  it_server_t s = {0};
  const char *args[] = {"--auth-token-file", path, NULL};
  it_start(&s, args);
  const char *target = "/api/explore?query=ride.cpu%7B%7D&groupBy=region";
  it_resp_t r;
  assert_int_equal(it_http(&s, "GET", target, NULL, NULL, 0, &r), 0);
  assert_int_equal(r.status, 401);
  it_resp_free(&r);
  assert_int_equal(it_http(&s, "GET", target, "Authorization: Bearer agent-key\r\n", NULL,
                           0, &r),
                   0);
  assert_int_equal(r.status, 403);
  it_resp_free(&r);
  assert_int_equal(it_http(&s, "GET", target, "Authorization: Bearer viewer-key\r\n", NULL,
                           0, &r),
                   0);
  assert_int_equal(r.status, 200);
  it_resp_free(&r);
  /* And it is counted like every route. */
  assert_int_equal(it_http(&s, "GET", "/metrics", "Authorization: Bearer viewer-key\r\n",
                           NULL, 0, &r),
                   0);
  assert_non_null(strstr(r.body, "route=\"/api/explore\",code=\"200\"} 1"));
  it_resp_free(&r);
  assert_int_equal(it_stop(&s), 0);
  it_cleanup(&s);
  it_rmtree(dir);
}

int main(void) {
#define T(name) cmocka_unit_test(name)
  const struct CMUnitTest tests[] = {
      T(test_explore_splits_by_region_with_top_other_and_missing),
      T(test_explore_takes_regex_selectors),
      T(test_explore_of_a_key_no_series_has_is_all_missing),
      T(test_explore_of_an_empty_range_has_no_lines),
      T(test_explore_answers_bad_parameters_with_json_errors),
      T(test_explore_needs_the_read_role),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
