/* Integration: push.v1.PusherService/Push, the Connect write API of
 * Grafana Alloy and the current Pyroscope SDKs, against the real binary.
 *
 * The client here is generated from src/proto/push.proto (protobuf-c, the
 * ember_proto library) and sends the project's own Go captures
 * (tests/data/pprof: a runtime/pprof CPU profile with pprof labels, and a
 * heap profile). What Ember stores of them must be what it stores of the
 * same profiles pushed through /ingest?format=pprof over the times the
 * profiles say they cover: the same apps in the same units, the same
 * label sets, the same flame graphs. Then the protocol's other side:
 * application/json, gzip, Connect errors with their statuses, a full queue
 * (429, resource_exhausted) and the push limits. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zlib.h>

#include "harness.h"
#include "proto/push.pb-c.h"
#include "push_test_util.h"

#define PUSH_PATH "/push.v1.PusherService/Push"
#define PROTO "Content-Type: application/proto\r\n"
#define JSON_CT "Content-Type: application/json\r\n"

static it_server_t srv;
static char *cpu, *heap; /* the captures, gzipped pprof */
static size_t cpu_len, heap_len;
static long t_from, t_until; /* a range holding both captures' times */

static char *data_file(const char *rel, size_t *len) {
  const char *dir = getenv("EMBER_TEST_DATA");
  if (!dir) fail_msg("EMBER_TEST_DATA is not set; run the integration tests through ctest");
  char path[1024];
  snprintf(path, sizeof path, "%s/%s", dir, rel);
  gzFile f = gzopen(path, "rb");
  if (!f) fail_msg("cannot open %s", path);
  gzclose(f);
  FILE *fp = fopen(path, "rb");
  size_t cap = 1 << 16, n = 0, k;
  char *b = malloc(cap);
  while ((k = fread(b + n, 1, cap - n, fp)) > 0)
    if ((n += k) == cap) b = realloc(b, cap *= 2);
  fclose(fp);
  *len = n;
  return b;
}

/* ---- The generated client ------------------------------------------------------ */

#define MAX_LABELS 8
#define MAX_SERIES 64

/* A PushRequest being built: series of "k=v" labels and raw profiles. */
typedef struct {
  Push__V1__PushRequest rq;
  Push__V1__RawProfileSeries series[MAX_SERIES], *series_ptrs[MAX_SERIES];
  Types__V1__LabelPair labels[MAX_SERIES][MAX_LABELS], *label_ptrs[MAX_SERIES][MAX_LABELS];
  char names[MAX_SERIES][MAX_LABELS][64], values[MAX_SERIES][MAX_LABELS][64];
  Push__V1__RawSample samples[MAX_SERIES][2], *sample_ptrs[MAX_SERIES][2];
} request_t;

static void request_init(request_t *r) {
  memset(r, 0, sizeof *r);
  push__v1__push_request__init(&r->rq);
  r->rq.series = r->series_ptrs;
}

/* Adds a series: labels "k=v" (NULL-terminated), and up to two profiles. */
static void add_series(request_t *r, const char *const *labels, const void *p1, size_t l1,
                       const void *p2, size_t l2) {
  size_t i = r->rq.n_series++;
  Push__V1__RawProfileSeries *s = &r->series[i];
  push__v1__raw_profile_series__init(s);
  r->series_ptrs[i] = s;
  s->labels = r->label_ptrs[i];
  for (size_t k = 0; labels[k]; k++) {
    const char *eq = strchr(labels[k], '=');
    snprintf(r->names[i][k], 64, "%.*s", (int)(eq - labels[k]), labels[k]);
    snprintf(r->values[i][k], 64, "%s", eq + 1);
    types__v1__label_pair__init(&r->labels[i][k]);
    r->labels[i][k].name = r->names[i][k];
    r->labels[i][k].value = r->values[i][k];
    r->label_ptrs[i][k] = &r->labels[i][k];
    s->n_labels++;
  }
  s->samples = r->sample_ptrs[i];
  const void *ps[2] = {p1, p2};
  size_t ls[2] = {l1, l2};
  for (size_t k = 0; k < 2 && ps[k]; k++) {
    push__v1__raw_sample__init(&r->samples[i][k]);
    r->samples[i][k].raw_profile.data = (uint8_t *)ps[k];
    r->samples[i][k].raw_profile.len = ls[k];
    r->sample_ptrs[i][k] = &r->samples[i][k];
    s->n_samples++;
  }
}

static uint8_t *pack(const request_t *r, size_t *len) {
  *len = push__v1__push_request__get_packed_size(&r->rq);
  uint8_t *out = malloc(*len + 1);
  push__v1__push_request__pack(&r->rq, out);
  return out;
}

/* POSTs a body to Push; returns the status. */
static int call(const char *headers, const void *body, size_t len, it_resp_t *out) {
  if (it_http(&srv, "POST", PUSH_PATH, headers, body, len, out))
    fail_msg("push: connection failed");
  return out->status;
}

/* ---- Comparing with /ingest -------------------------------------------------------- */

static void ingest(const char *name, const char *body, size_t len, long from, long until) {
  char target[512];
  snprintf(target, sizeof target, "/ingest?name=%s&format=pprof&from=%ld&until=%ld", name,
           from, until);
  it_resp_t r;
  if (it_http(&srv, "POST", target, NULL, body, len, &r)) fail_msg("connection failed");
  if (r.status != 200) fail_msg("/ingest %s: %d %s", name, r.status, r.body);
  it_resp_free(&r);
}

static int setup(void **state) {
  memset(&srv, 0, sizeof srv);
  it_start(&srv, NULL);
  cpu = data_file("pprof/go_cpu.pb.gz", &cpu_len);
  heap = data_file("pprof/go_heap.pb.gz", &heap_len);
  long f1, u1, f2, u2;
  profile_times(cpu, cpu_len, &f1, &u1);
  profile_times(heap, heap_len, &f2, &u2);
  t_from = (f1 < f2 ? f1 : f2) - 3600;
  t_until = (u1 > u2 ? u1 : u2) + 3600;
  ingest("ingestapp%7Benv%3Dci%7D", cpu, cpu_len, f1, u1);
  ingest("ingestapp%7Benv%3Dci%7D", heap, heap_len, f2, u2);
  return 0;
}

static int teardown(void **state) {
  assert_int_equal(it_stop(&srv), 0);
  it_cleanup(&srv);
  free(cpu);
  free(heap);
  return 0;
}

/* ---- Tests ---------------------------------------------------------------------------- */

static void test_push_stores_go_captures_as_ingest_does(void **state) {
  request_t r;
  request_init(&r);
  const char *cpu_labels[] = {"service_name=pushapp", "env=ci", "__name__=process_cpu",
                              "__delta__=false", NULL};
  const char *heap_labels[] = {"env=ci", "service_name=pushapp", "__name__=memory", NULL};
  add_series(&r, cpu_labels, cpu, cpu_len, NULL, 0);
  add_series(&r, heap_labels, heap, heap_len, NULL, 0);
  size_t len;
  uint8_t *body = pack(&r, &len);
  it_resp_t resp;
  assert_int_equal(call(PROTO, body, len, &resp), 200);
  char *ct = it_header(&resp, "Content-Type");
  assert_string_equal(ct, "application/proto");
  free(ct);
  assert_int_equal(resp.body_len, 0); /* an empty PushResponse */
  it_resp_free(&resp);
  free(body);
  assert_same(&srv, "pushapp", "ingestapp", t_from, t_until);
  /* Pyroscope's own labels (__name__, __delta__) and service_name are not
   * tags; the others and the profile's pprof labels are. */
  char target[256];
  snprintf(target, sizeof target, "/labels?query=pushapp.cpu%%7B%%7D&from=%ld&until=%ld",
           t_from, t_until);
  char *labels = get(&srv, target);
  assert_string_equal(labels, "[\"__name__\",\"env\",\"vehicle\"]");
  free(labels);
}

static void test_push_as_json_and_gzip_stores_the_same(void **state) {
  /* Canonical JSON: bytes as base64. */
  size_t b64cap = cpu_len * 4 / 3 + 8;
  char *b64 = malloc(b64cap);
  static const char tbl[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  size_t o = 0;
  for (size_t i = 0; i < cpu_len; i += 3) {
    uint32_t v = (uint32_t)(uint8_t)cpu[i] << 16;
    if (i + 1 < cpu_len) v |= (uint32_t)(uint8_t)cpu[i + 1] << 8;
    if (i + 2 < cpu_len) v |= (uint8_t)cpu[i + 2];
    b64[o++] = tbl[v >> 18 & 63];
    b64[o++] = tbl[v >> 12 & 63];
    b64[o++] = i + 1 < cpu_len ? tbl[v >> 6 & 63] : '=';
    b64[o++] = i + 2 < cpu_len ? tbl[v & 63] : '=';
  }
  b64[o] = '\0';
  size_t jcap = o + 512;
  char *json = malloc(jcap);
  snprintf(json, jcap,
           "{\"series\":[{\"labels\":[{\"name\":\"service_name\",\"value\":\"jsonapp\"},"
           "{\"name\":\"env\",\"value\":\"ci\"}],\"samples\":[{\"rawProfile\":\"%s\","
           "\"ID\":\"a1\"}]}]}",
           b64);
  it_resp_t resp;
  assert_int_equal(call(JSON_CT, json, strlen(json), &resp), 200);
  assert_string_equal(resp.body, "{}");
  it_resp_free(&resp);
  /* The protobuf body gzipped as a whole. */
  request_t r;
  request_init(&r);
  const char *labels[] = {"service_name=gzapp", "env=ci", NULL};
  add_series(&r, labels, cpu, cpu_len, NULL, 0);
  size_t len, gzlen;
  uint8_t *body = pack(&r, &len);
  z_stream zs;
  memset(&zs, 0, sizeof zs);
  deflateInit2(&zs, 6, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY);
  uint8_t *gz = malloc(deflateBound(&zs, (uLong)len) + 32);
  zs.next_in = body;
  zs.avail_in = (uInt)len;
  zs.next_out = gz;
  zs.avail_out = (uInt)deflateBound(&zs, (uLong)len) + 32;
  deflate(&zs, Z_FINISH);
  gzlen = zs.total_out;
  deflateEnd(&zs);
  assert_int_equal(call(PROTO "Content-Encoding: gzip\r\n", gz, gzlen, &resp), 200);
  it_resp_free(&resp);
  char target[512];
  snprintf(target, sizeof target,
           "/render?query=%%s.cpu%%%%7B%%%%7D&from=%ld&until=%ld&format=collapsed", t_from,
           t_until);
  char t1[600], t2[600], t3[600];
  snprintf(t1, sizeof t1, target, "ingestapp");
  snprintf(t2, sizeof t2, target, "jsonapp");
  snprintf(t3, sizeof t3, target, "gzapp");
  char *want = get(&srv, t1), *a = get(&srv, t2), *b = get(&srv, t3);
  assert_string_equal(a, want);
  assert_string_equal(b, want);
  free(want);
  free(a);
  free(b);
  free(gz);
  free(body);
  free(json);
  free(b64);
}

static void expect_connect_error(int status, const char *code, const char *needle,
                                 const char *headers, const void *body, size_t len) {
  it_resp_t resp;
  assert_int_equal(call(headers, body, len, &resp), status);
  json_t *j = it_json(&resp);
  assert_string_equal(json_string_value(json_object_get(j, "code")), code);
  const char *msg = json_string_value(json_object_get(j, "message"));
  if (!strstr(msg, needle)) fail_msg("'%s' does not say '%s'", msg, needle);
  json_decref(j);
  it_resp_free(&resp);
}

static void test_push_answers_connect_errors(void **state) {
  request_t r;
  request_init(&r);
  const char *nameless[] = {"env=ci", NULL};
  add_series(&r, nameless, cpu, cpu_len, NULL, 0);
  size_t len;
  uint8_t *body = pack(&r, &len);
  expect_connect_error(400, "invalid_argument", "series 1: no service_name label", PROTO,
                       body, len);
  free(body);
  request_init(&r);
  const char *named[] = {"service_name=errapp", NULL};
  add_series(&r, named, cpu, cpu_len, "not pprof", 9);
  body = pack(&r, &len);
  expect_connect_error(400, "invalid_argument", "series 1, profile 2: profile:", PROTO, body,
                       len);
  free(body);
  request_init(&r);
  const char *slash[] = {"service_name=ns/app", NULL};
  add_series(&r, slash, cpu, cpu_len, NULL, 0);
  body = pack(&r, &len);
  expect_connect_error(400, "invalid_argument", "cannot be an app name", PROTO, body, len);
  free(body);
  expect_connect_error(415, "invalid_argument", "Content-Type", "Content-Type: text/plain\r\n",
                       "x", 1);
  expect_connect_error(400, "invalid_argument", "not a valid protobuf", PROTO, "\xff\xff", 2);
  it_resp_t resp;
  it_expect(&srv, 404, "POST", "/push.v1.PusherService/Pull", "", 0, &resp);
  it_resp_free(&resp);
  /* Nothing of a refused push is stored. */
  char *apps = apps_of(&srv, "errapp");
  assert_string_equal(apps, "");
  free(apps);
}

static void test_push_refuses_more_series_than_a_push_may_write(void **state) {
  it_server_t small = {0};
  const char *args[] = {"--max-series-per-push", "3", NULL};
  it_server_t keep = srv;
  it_start(&small, args);
  srv = small;
  request_t r;
  request_init(&r);
  char vals[5][32];
  for (int i = 0; i < 5; i++) {
    snprintf(vals[i], sizeof vals[i], "pod=p%d", i);
    const char *labels[] = {"service_name=manyapp", vals[i], NULL};
    add_series(&r, labels, cpu, cpu_len, NULL, 0);
  }
  size_t len;
  uint8_t *body = pack(&r, &len);
  expect_connect_error(429, "resource_exhausted", "--max-series-per-push", PROTO, body, len);
  free(body);
  char *apps = apps_of(&srv, "manyapp");
  assert_string_equal(apps, "");
  free(apps);
  assert_int_equal(it_stop(&srv), 0);
  it_cleanup(&srv);
  srv = keep;
}

/* ---- 429: a write queue of one, flooded -------------------------------------------- */

typedef struct {
  it_server_t *s;
  const uint8_t *body;
  size_t len;
  int ok, busy, other;
} flood_t;

static void *flood(void *arg) {
  flood_t *f = arg;
  for (int i = 0; i < 30; i++) {
    it_resp_t r;
    if (it_http(f->s, "POST", PUSH_PATH, PROTO, f->body, f->len, &r)) {
      f->other++;
      continue;
    }
    if (r.status == 200)
      f->ok++;
    else if (r.status == 429 && strstr(r.body, "resource_exhausted"))
      f->busy++;
    else
      f->other++;
    it_resp_free(&r);
  }
  return NULL;
}

static void test_push_answers_429_on_a_full_queue_and_stores_what_it_acked(void **state) {
  it_server_t q = {0};
  const char *args[] = {"--write-queue", "1", "--workers", "16", NULL};
  it_start(&q, args);
  request_t r;
  request_init(&r);
  const char *labels[] = {"service_name=floodapp", NULL};
  add_series(&r, labels, cpu, cpu_len, NULL, 0);
  size_t len;
  uint8_t *body = pack(&r, &len);
  int ok = 0, busy = 0, other = 0;
  for (int round = 0; round < 5 && busy == 0; round++) {
    pthread_t th[16];
    flood_t f[16];
    for (int i = 0; i < 16; i++) {
      f[i] = (flood_t){&q, body, len, 0, 0, 0};
      pthread_create(&th[i], NULL, flood, &f[i]);
    }
    for (int i = 0; i < 16; i++) {
      pthread_join(th[i], NULL);
      ok += f[i].ok;
      busy += f[i].busy;
      other += f[i].other;
    }
  }
  fprintf(stderr, "push: %d acknowledged, %d refused with 429\n", ok, busy);
  assert_int_equal(other, 0);
  assert_true(busy > 0);
  /* Every acknowledged push, and nothing else, is on disk. */
  json_t *one = it_render(&srv, "ingestapp.cpu{}", t_from, t_until, NULL);
  json_t *all = it_render(&q, "floodapp.cpu{}", t_from, t_until, NULL);
  assert_int_equal(it_ticks(all), (long)ok * it_ticks(one));
  json_decref(one);
  json_decref(all);
  free(body);
  assert_int_equal(it_stop(&q), 0);
  it_cleanup(&q);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_push_stores_go_captures_as_ingest_does),
      cmocka_unit_test(test_push_as_json_and_gzip_stores_the_same),
      cmocka_unit_test(test_push_answers_connect_errors),
      cmocka_unit_test(test_push_refuses_more_series_than_a_push_may_write),
      cmocka_unit_test(test_push_answers_429_on_a_full_queue_and_stores_what_it_acked),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
