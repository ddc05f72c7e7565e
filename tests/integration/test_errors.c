/* Integration: every documented error status, with a JSON error body. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "harness.h"

static it_server_t srv;

static int setup(void **state) {
  memset(&srv, 0, sizeof srv);
  const char *args[] = {"--max-body", "4KiB", NULL};
  it_start(&srv, args);
  return 0;
}

static int teardown(void **state) {
  assert_int_equal(it_stop(&srv), 0);
  it_cleanup(&srv);
  return 0;
}

/* Sends the request, expects status and a JSON {"error": "..."} body that
 * mentions `hint`; returns nothing, fails the test otherwise. */
static void expect_error(int status, const char *method, const char *target,
                         const char *headers, const void *body, size_t len,
                         const char *hint) {
  it_resp_t r;
  assert_int_equal(it_http(&srv, method, target, headers, body, len, &r), 0);
  if (r.status != status)
    fail_msg("%s %s: expected %d, got %d: %s", method, target, status, r.status, r.body);
  char *ct = it_header(&r, "Content-Type");
  assert_non_null(ct);
  assert_string_equal(ct, "application/json");
  free(ct);
  json_t *j = it_json(&r);
  const char *msg = json_string_value(json_object_get(j, "error"));
  assert_non_null(msg);
  if (hint && !strstr(msg, hint))
    fail_msg("%s %s: error '%s' does not mention '%s'", method, target, msg, hint);
  json_decref(j);
  it_resp_free(&r);
}

static void test_ingest_rejects_bad_parameters_with_400(void **state) {
  expect_error(400, "POST", "/ingest", NULL, "a 1\n", 4, "name");
  expect_error(400, "POST", "/ingest?name=bad%20app!", NULL, "a 1\n", 4, NULL);
  expect_error(400, "POST", "/ingest?name=app.cpu%7Bk%3Dv%0A%7D", NULL, "a 1\n", 4, NULL);
  expect_error(400, "POST", "/ingest?name=app.cpu&from=yesterday", NULL, "a 1\n", 4,
               "from");
  expect_error(400, "POST", "/ingest?name=app.cpu&sampleRate=-5", NULL, "a 1\n", 4,
               "sampleRate");
  expect_error(400, "POST", "/ingest?name=app.cpu&format=xml", NULL, "a 1\n", 4, "xml");
  expect_error(400, "POST", "/ingest?name=app.cpu&from=1700000100&until=1700000000",
               NULL, "a 1\n", 4, NULL);
}

static void test_ingest_rejects_unparseable_bodies_with_422(void **state) {
  const char bad[] = "main;work 12\nmain;idle twelve\n";
  expect_error(422, "POST", "/ingest?name=app.cpu", NULL, bad, sizeof bad - 1, "line 2");
  expect_error(422, "POST", "/ingest?name=app.cpu", "Content-Encoding: gzip\r\n", bad,
               sizeof bad - 1, NULL);
  const unsigned char tree[] = {0x00, 0x00, 0x05, 0x01}; /* promises a child */
  expect_error(422, "POST", "/ingest?name=app.cpu&format=tree", NULL, tree, sizeof tree,
               NULL);
  /* Nothing of the bad pushes was stored. */
  json_t *j = it_render(&srv, "app.cpu{}", 0, 2000000000, NULL);
  assert_int_equal(it_ticks(j), 0);
  json_decref(j);
}

static void test_ingest_rejects_bodies_over_the_limit_with_413_and_bombs_with_422(void **state) {
  size_t n = 8192;
  char *big = malloc(n);
  for (size_t i = 0; i < n; i++) big[i] = i % 16 == 15 ? '\n' : 'a';
  expect_error(413, "POST", "/ingest?name=app.cpu", NULL, big, n, "max-body");
  /* A small gzip body that inflates past the limit (a zip bomb): the body
   * itself is within the limit, what it holds cannot be read, so 422. */
  memset(big, 'a', n);
  unsigned char gz[8192];
  z_stream zs = {0};
  deflateInit2(&zs, 9, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY);
  zs.next_in = (unsigned char *)big;
  zs.avail_in = (uInt)n;
  zs.next_out = gz;
  zs.avail_out = sizeof gz;
  assert_int_equal(deflate(&zs, Z_FINISH), Z_STREAM_END);
  size_t gzlen = zs.total_out;
  deflateEnd(&zs);
  assert_true(gzlen < 4096);
  expect_error(422, "POST", "/ingest?name=app.cpu", "Content-Encoding: gzip\r\n", gz,
               gzlen, "decompressed body is larger");
  free(big);
}

static void test_unknown_routes_are_404_and_wrong_methods_405(void **state) {
  expect_error(404, "GET", "/nope", NULL, NULL, 0, "/nope");
  expect_error(404, "POST", "/api/nope", NULL, "x", 1, NULL);
  expect_error(405, "GET", "/ingest", NULL, NULL, 0, "POST");
  expect_error(405, "DELETE", "/render", NULL, NULL, 0, NULL);
  it_resp_t r;
  assert_int_equal(it_http(&srv, "PUT", "/labels", NULL, "x", 1, &r), 0);
  assert_int_equal(r.status, 405);
  char *allow = it_header(&r, "Allow");
  assert_string_equal(allow, "GET, HEAD");
  free(allow);
  it_resp_free(&r);
}

static void test_queries_reject_bad_parameters_with_400(void **state) {
  expect_error(400, "GET", "/render", NULL, NULL, 0, "query");
  expect_error(400, "GET", "/render?query=app.cpu%7Bregion%3Deu%7D", NULL, NULL, 0,
               NULL);
  expect_error(400, "GET", "/render?query=app.cpu%7Bk%3D~%22(%22%7D", NULL, NULL, 0,
               NULL);
  expect_error(400, "GET", "/render?query=app.cpu&from=soon", NULL, NULL, 0, "from");
  expect_error(400, "GET", "/render?query=app.cpu&maxNodes=many", NULL, NULL, 0, NULL);
  expect_error(400, "GET", "/render?query=app.cpu&from=now&until=now-1h", NULL, NULL, 0,
               NULL);
  expect_error(400, "GET", "/render-diff?leftQuery=app.cpu", NULL, NULL, 0, NULL);
  expect_error(400, "GET", "/labels", NULL, NULL, 0, "query");
  expect_error(400, "GET", "/label-values?query=app.cpu%7B%7D", NULL, NULL, 0, "label");
  expect_error(400, "DELETE", "/api/apps", NULL, "{", 1, NULL);
}

/* ---- 429: a write queue of one, flooded -------------------------------- */

typedef struct {
  it_server_t *s;
  int ok, busy, other;
} flood_t;

static void *flood(void *arg) {
  flood_t *f = arg;
  const char body[] = "main;a;b;c 1\nmain;a;d 1\nmain;e 1\n";
  for (int i = 0; i < 40; i++) {
    it_resp_t r;
    if (it_http(f->s, "POST", "/ingest?name=flood.cpu&from=1700000000&until=1700000010",
                NULL, body, sizeof body - 1, &r)) {
      f->other++;
      continue;
    }
    if (r.status == 200) f->ok++;
    else if (r.status == 429 && strstr(r.body, "\"error\"")) f->busy++;
    else f->other++;
    it_resp_free(&r);
  }
  return NULL;
}

static void test_a_full_write_queue_answers_429_and_stores_only_what_it_acked(void **state) {
  it_server_t q = {0};
  const char *args[] = {"--write-queue", "1", "--workers", "16", NULL};
  it_start(&q, args);
  int ok = 0, busy = 0, other = 0;
  for (int round = 0; round < 5 && busy == 0; round++) {
    pthread_t th[16];
    flood_t f[16];
    for (int i = 0; i < 16; i++) {
      f[i] = (flood_t){&q, 0, 0, 0};
      pthread_create(&th[i], NULL, flood, &f[i]);
    }
    for (int i = 0; i < 16; i++) {
      pthread_join(th[i], NULL);
      ok += f[i].ok;
      busy += f[i].busy;
      other += f[i].other;
    }
  }
  assert_int_equal(other, 0);
  assert_true(busy > 0);
  json_t *j = it_render(&q, "flood.cpu{}", 1700000000, 1700000100, NULL);
  assert_int_equal(it_ticks(j), 3 * ok);
  json_decref(j);
  assert_int_equal(it_stop(&q), 0);
  it_cleanup(&q);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_ingest_rejects_bad_parameters_with_400),
      cmocka_unit_test(test_ingest_rejects_unparseable_bodies_with_422),
      cmocka_unit_test(test_ingest_rejects_bodies_over_the_limit_with_413_and_bombs_with_422),
      cmocka_unit_test(test_unknown_routes_are_404_and_wrong_methods_405),
      cmocka_unit_test(test_queries_reject_bad_parameters_with_400),
      cmocka_unit_test(test_a_full_write_queue_answers_429_and_stores_only_what_it_acked),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
