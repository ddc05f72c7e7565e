/* Integration: the Connect routes of the real binary as HTTP sees them:
 * POST only, unknown methods, media types, the read role and the body
 * limit, all answered with Connect error JSON and its codes' statuses, and
 * gzipped answers when the client accepts them. (test_grafana.c checks
 * what the querier's methods answer.) */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ember/connect.h"
#include "harness.h"

#define QS "/querier.v1.QuerierService/"
#define JSON_HDR "Content-Type: application/json\r\n"

static it_server_t srv;

static int setup(void **state) {
  memset(&srv, 0, sizeof srv);
  it_start(&srv, NULL);
  /* Enough distinct frames for a flame graph of a few kilobytes. */
  char folded[8192];
  size_t n = 0;
  for (int i = 0; i < 100; i++)
    n += (size_t)snprintf(folded + n, sizeof folded - n, "main;work;step_%03d %d\n", i, i + 1);
  assert_int_equal(it_ingest(&srv, "ride.cpu{region=eu-north}", 1700000000, 1700000010,
                             folded),
                   200);
  return 0;
}

static int teardown(void **state) {
  assert_int_equal(it_stop(&srv), 0);
  it_cleanup(&srv);
  return 0;
}

/* The response must be a Connect error with this status and code. */
static void expect_connect_error(const it_resp_t *r, int status, const char *code) {
  assert_int_equal(r->status, status);
  char *ct = it_header(r, "Content-Type");
  assert_non_null(ct);
  assert_string_equal(ct, "application/json");
  free(ct);
  json_t *doc = it_json(r);
  const char *got = json_string_value(json_object_get(doc, "code"));
  if (!got || strcmp(got, code)) fail_msg("expected code %s in %s", code, r->body);
  assert_non_null(json_string_value(json_object_get(doc, "message")));
  json_decref(doc);
}

static void test_connect_route_answers_a_json_call(void **state) {
  it_resp_t r;
  assert_int_equal(it_http(&srv, "POST", QS "ProfileTypes", JSON_HDR, "{}", 2, &r), 0);
  assert_int_equal(r.status, 200);
  char *ct = it_header(&r, "Content-Type");
  assert_string_equal(ct, "application/json");
  free(ct);
  assert_non_null(strstr(r.body, "process_cpu:cpu:nanoseconds:cpu:nanoseconds"));
  it_resp_free(&r);
}

static void test_connect_route_takes_post_only(void **state) {
  it_resp_t r;
  assert_int_equal(it_http(&srv, "GET", QS "ProfileTypes", NULL, NULL, 0, &r), 0);
  assert_int_equal(r.status, 405);
  char *allow = it_header(&r, "Allow");
  assert_string_equal(allow, "POST");
  free(allow);
  json_t *doc = it_json(&r);
  assert_non_null(json_string_value(json_object_get(doc, "code")));
  json_decref(doc);
  it_resp_free(&r);
}

static void test_connect_route_unknown_method_is_404_unimplemented(void **state) {
  it_resp_t r;
  assert_int_equal(it_http(&srv, "POST", QS "SelectHeatmap", JSON_HDR, "{}", 2, &r), 0);
  expect_connect_error(&r, 404, "unimplemented");
  assert_non_null(strstr(r.body, "SelectMergeStacktraces"));
  it_resp_free(&r);
  /* Another service is no route at all: Ember's own 404. */
  assert_int_equal(it_http(&srv, "POST", "/querier.v2.QuerierService/ProfileTypes",
                           JSON_HDR, "{}", 2, &r),
                   0);
  assert_int_equal(r.status, 404);
  assert_non_null(strstr(r.body, "\"error\""));
  it_resp_free(&r);
}

static void test_connect_route_other_media_types_are_415(void **state) {
  it_resp_t r;
  assert_int_equal(it_http(&srv, "POST", QS "ProfileTypes", "Content-Type: text/plain\r\n",
                           "{}", 2, &r),
                   0);
  expect_connect_error(&r, 415, "invalid_argument");
  char *ap = it_header(&r, "Accept-Post");
  assert_string_equal(ap, "application/proto, application/json");
  free(ap);
  it_resp_free(&r);
}

static void test_connect_route_bounds_the_body(void **state) {
  size_t n = 70 * 1024;
  char *big = malloc(n);
  memset(big, ' ', n);
  big[0] = '{';
  big[n - 1] = '}';
  it_resp_t r;
  assert_int_equal(it_http(&srv, "POST", QS "ProfileTypes", JSON_HDR, big, n, &r), 0);
  expect_connect_error(&r, 429, "resource_exhausted");
  it_resp_free(&r);
  free(big);
}

static void test_connect_route_gzips_when_accepted(void **state) {
  it_resp_t r;
  const char *req = "{\"profileTypeID\":\"process_cpu:samples:count:cpu:nanoseconds\","
                    "\"start\":\"1700000000000\",\"end\":\"1700000060000\"}";
  assert_int_equal(it_http(&srv, "POST", QS "SelectMergeStacktraces",
                           JSON_HDR "Accept-Encoding: gzip\r\n", req, strlen(req), &r),
                   0);
  assert_int_equal(r.status, 200);
  char *ce = it_header(&r, "Content-Encoding");
  assert_non_null(ce);
  assert_string_equal(ce, "gzip");
  free(ce);
  ember_buf_t plain = EMBER_BUF_INIT;
  assert_int_equal(ember_connect_gunzip((const uint8_t *)r.body, r.body_len, 1 << 20,
                                        &plain, NULL),
                   0);
  assert_non_null(strstr(plain.data, "step_099"));
  ember_buf_free(&plain);
  it_resp_free(&r);
  /* Without Accept-Encoding the same answer comes as is. */
  assert_int_equal(it_http(&srv, "POST", QS "SelectMergeStacktraces", JSON_HDR, req,
                           strlen(req), &r),
                   0);
  assert_null(it_header(&r, "Content-Encoding"));
  assert_non_null(strstr(r.body, "step_099"));
  it_resp_free(&r);
}

static void test_connect_route_needs_the_read_role(void **state) {
  char dir[256], path[300];
  it_mkdtemp(dir, sizeof dir, "ember-tok");
  snprintf(path, sizeof path, "%s/tokens", dir);
  const char tokens[] = "agent-key ingest\nviewer-key read\n";
  it_write_file(path, tokens, sizeof tokens - 1);
  it_server_t s = {0};
  const char *args[] = {"--auth-token-file", path, NULL};
  it_start(&s, args);
  it_resp_t r;
  assert_int_equal(it_http(&s, "POST", QS "ProfileTypes", JSON_HDR, "{}", 2, &r), 0);
  expect_connect_error(&r, 401, "unauthenticated");
  it_resp_free(&r);
  assert_int_equal(it_http(&s, "POST", QS "ProfileTypes",
                           JSON_HDR "Authorization: Bearer agent-key\r\n", "{}", 2, &r),
                   0);
  expect_connect_error(&r, 403, "permission_denied");
  it_resp_free(&r);
  /* Grafana sends a data source's password as Basic auth. */
  assert_int_equal(it_http(&s, "POST", QS "ProfileTypes",
                           JSON_HDR "Authorization: Basic Z3JhZmFuYTp2aWV3ZXIta2V5\r\n", "{}",
                           2, &r),
                   0);
  assert_int_equal(r.status, 200);
  it_resp_free(&r);
  assert_int_equal(it_stop(&s), 0);
  it_cleanup(&s);
  it_rmtree(dir);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_connect_route_answers_a_json_call),
      cmocka_unit_test(test_connect_route_takes_post_only),
      cmocka_unit_test(test_connect_route_unknown_method_is_404_unimplemented),
      cmocka_unit_test(test_connect_route_other_media_types_are_415),
      cmocka_unit_test(test_connect_route_bounds_the_body),
      cmocka_unit_test(test_connect_route_gzips_when_accepted),
      cmocka_unit_test(test_connect_route_needs_the_read_role),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
