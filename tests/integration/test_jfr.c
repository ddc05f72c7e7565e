/* Integration: JFR pushes over HTTP to the real binary.
 *
 * The recordings are tests/data/jfr's (a JDK 17 recording and recordings
 * modelled on async-profiler's, with context ids and a labels part); the
 * JVM itself is test_agent_java.c's. Here: the answers a Java agent gets,
 * what is stored of a good push and that nothing is stored of a bad one,
 * and the /metrics counter of context ids the labels part did not have. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "harness.h"

#define FORM "Content-Type: multipart/form-data; boundary=JfrForm\r\n"

static it_server_t srv;
static long t_now;

static char *data_file(const char *rel, size_t *len) {
  const char *dir = getenv("EMBER_TEST_DATA");
  if (!dir) fail_msg("EMBER_TEST_DATA is not set; run the integration tests through ctest");
  char path[1024];
  snprintf(path, sizeof path, "%s/%s", dir, rel);
  FILE *f = fopen(path, "rb");
  if (!f) fail_msg("cannot open %s", path);
  size_t cap = 1 << 16, n = 0, k;
  char *b = malloc(cap);
  while ((k = fread(b + n, 1, cap - n, f)) > 0)
    if ((n += k) == cap) b = realloc(b, cap *= 2);
  fclose(f);
  *len = n;
  return b;
}

/* A form with the fields jfr and labels (when labels is not NULL). */
static char *form(const char *jfr, size_t jlen, const char *labels, size_t llen,
                  size_t *len) {
  const char *head = "--JfrForm\r\nContent-Disposition: form-data; name=\"jfr\"; "
                     "filename=\"jfr\"\r\n\r\n";
  const char *mid = "\r\n--JfrForm\r\nContent-Disposition: form-data; name=\"labels\"; "
                    "filename=\"labels\"\r\n\r\n";
  const char *tail = "\r\n--JfrForm--\r\n";
  size_t n = strlen(head) + jlen + (labels ? strlen(mid) + llen : 0) + strlen(tail);
  char *b = malloc(n), *p = b;
  memcpy(p, head, strlen(head));
  p += strlen(head);
  memcpy(p, jfr, jlen);
  p += jlen;
  if (labels) {
    memcpy(p, mid, strlen(mid));
    p += strlen(mid);
    memcpy(p, labels, llen);
    p += llen;
  }
  memcpy(p, tail, strlen(tail));
  *len = n;
  return b;
}

static int push(const char *name, const char *headers, const void *body, size_t len,
                it_resp_t *r) {
  char target[512];
  snprintf(target, sizeof target,
           "/ingest?name=%s&format=jfr&event=cpu&from=%ld&until=%ld&spyName=javaspy", name,
           t_now - 10, t_now);
  if (it_http(&srv, "POST", target, headers, body, len, r)) fail_msg("connection failed");
  return r->status;
}

static long metric(const char *name) {
  it_resp_t r;
  it_expect(&srv, 200, "GET", "/metrics", NULL, 0, &r);
  char key[128];
  snprintf(key, sizeof key, "\n%s ", name);
  const char *at = strstr(r.body, key);
  long v = at ? atol(at + strlen(key)) : -1;
  it_resp_free(&r);
  return v;
}

static json_t *apps(void) {
  it_resp_t r;
  it_expect(&srv, 200, "GET", "/api/apps", NULL, 0, &r);
  json_t *j = it_json(&r);
  it_resp_free(&r);
  return j;
}

static int setup(void **state) {
  memset(&srv, 0, sizeof srv);
  it_start(&srv, NULL);
  t_now = (long)time(NULL);
  return 0;
}

static int teardown(void **state) {
  assert_int_equal(it_stop(&srv), 0);
  it_cleanup(&srv);
  return 0;
}

static void test_jfr_push_stores_context_labels_and_counts_unknown_ids(void **state) {
  size_t jlen, llen, flen;
  char *jfr = data_file("jfr/asprof.jfr", &jlen);
  char *labels = data_file("jfr/asprof.labels", &llen);
  char *body = form(jfr, jlen, labels, llen, &flen);
  long before = metric("ember_ingest_jfr_unknown_contexts_total");
  it_resp_t r;
  assert_int_equal(push("ctxapp%7Benv%3Dtest%7D", FORM, body, flen, &r), 200);
  it_resp_free(&r);
  /* One sample names a context the labels part does not have. */
  assert_int_equal(metric("ember_ingest_jfr_unknown_contexts_total"), before + 1);
  it_expect(&srv, 200, "GET", "/label-values?label=user&query=ctxapp.cpu%7B%7D", NULL, 0,
            &r);
  assert_string_equal(r.body, "[\"alice\",\"bob\",\"carol\"]");
  it_resp_free(&r);
  json_t *j = it_render(&srv, "ctxapp.cpu{user=\"alice\"}", t_now - 60, t_now + 60,
                        "maxNodes=-1");
  long total, self;
  assert_true(it_frames(j, "demo/Café.brew", false, &total, &self));
  assert_int_equal(it_ticks(j), 1);
  json_decref(j);
  j = it_render(&srv, "ctxapp.lock_duration{}", t_now - 60, t_now + 60, "maxNodes=-1");
  assert_int_equal(it_ticks(j), 4000000); /* 8 M ticks at 2 GHz */
  json_decref(j);
  free(body);
  free(labels);
  free(jfr);
}

static void test_jfr_bad_recording_stores_nothing(void **state) {
  size_t len;
  char *jfr = data_file("jfr/asprof.jfr", &len);
  /* Chunk 1 is whole, chunk 2 cut short: nothing of either is stored. */
  size_t cut = len - 100;
  it_resp_t r;
  assert_int_equal(push("badapp", NULL, jfr, cut, &r), 422);
  json_t *err = it_json(&r);
  const char *msg = json_string_value(json_object_get(err, "error"));
  assert_non_null(strstr(msg, "jfr: chunk 2"));
  assert_non_null(strstr(msg, "truncated"));
  json_decref(err);
  it_resp_free(&r);
  json_t *a = apps();
  for (size_t i = 0; i < json_array_size(a); i++)
    assert_null(strstr(json_string_value(json_object_get(json_array_get(a, i), "name")),
                       "badapp"));
  json_decref(a);
  /* A hostile one costs a 413, and the server goes on. */
  size_t hlen;
  char *hostile = data_file("jfr/hostile/empty_structs.jfr", &hlen);
  assert_int_equal(push("badapp", NULL, hostile, hlen, &r), 413);
  it_resp_free(&r);
  assert_int_equal(push("badapp", NULL, "FLR", 3, &r), 422);
  it_resp_free(&r);
  it_expect(&srv, 200, "GET", "/healthz", NULL, 0, &r);
  it_resp_free(&r);
  free(hostile);
  free(jfr);
}

static void test_jfr_unknown_event_is_a_bad_request(void **state) {
  it_resp_t r;
  char target[256];
  snprintf(target, sizeof target, "/ingest?name=x&format=jfr&event=cycles&from=%ld", t_now);
  if (it_http(&srv, "POST", target, NULL, "FLR", 3, &r)) fail_msg("connection failed");
  assert_int_equal(r.status, 400);
  assert_non_null(strstr(r.body, "event: expected cpu, itimer, wall, alloc or lock"));
  it_resp_free(&r);
}

static void test_jfr_real_recording_gzipped_in_a_form(void **state) {
  size_t glen, flen;
  char *gz = data_file("jfr/jdk17_hot.jfr.gz", &glen);
  char *body = form(gz, glen, NULL, 0, &flen);
  it_resp_t r;
  assert_int_equal(push("jdkapp", FORM, body, flen, &r), 200);
  it_resp_free(&r);
  json_t *j = it_render(&srv, "jdkapp.cpu{}", t_now - 60, t_now + 60, "maxNodes=-1");
  long heavy, light, self;
  assert_true(it_frames(j, "HotMethods.cpuHeavy", false, &heavy, &self));
  assert_true(it_frames(j, "HotMethods.cpuLight", false, &light, &self));
  assert_true(heavy > light);
  json_decref(j);
  free(body);
  free(gz);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_jfr_push_stores_context_labels_and_counts_unknown_ids),
      cmocka_unit_test(test_jfr_bad_recording_stores_nothing),
      cmocka_unit_test(test_jfr_unknown_event_is_a_bad_request),
      cmocka_unit_test(test_jfr_real_recording_gzipped_in_a_form),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
