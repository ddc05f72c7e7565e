/* Integration: queries built to exhaust the server (regexes that take
 * gigabytes to compile, renders of gigabytes) are refused with a 4xx and a
 * message, and the server stays small and alive.
 *
 * A watchdog thread samples the server's resident memory while the attacks
 * run and kills it once it passes WATCHDOG_KILL_KB, so a regression fails
 * the test instead of taking the machine's memory. */
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"

/* What the server may reach: the process at rest is a few MB. Built with
 * AddressSanitizer (whose shadow memory, redzones and quarantine of freed
 * blocks multiply what a process holds) the bounds are looser; the attacks
 * of before took gigabytes either way. */
#if defined(__SANITIZE_ADDRESS__)
#define PEAK_MAX_KB (1024 * 1024)
#define WATCHDOG_KILL_KB (3 * 1024 * 1024)
#else
#define PEAK_MAX_KB (200 * 1024)
#define WATCHDOG_KILL_KB (1024 * 1024)
#endif

static it_server_t srv;

/* ---- Memory of the server ---------------------------------------------- */

/* A field of /proc/<pid>/status in kB ("VmHWM", "VmRSS"), -1 when gone. */
static long status_kb(pid_t pid, const char *field) {
  char path[64], line[256];
  snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
  FILE *f = fopen(path, "r");
  if (!f) return -1;
  long kb = -1;
  size_t fl = strlen(field);
  while (fgets(line, sizeof line, f))
    if (!strncmp(line, field, fl) && line[fl] == ':')
      kb = strtol(line + fl + 1, NULL, 10);
  fclose(f);
  return kb;
}

typedef struct {
  pid_t pid;
  atomic_bool stop;
  atomic_bool killed;
  pthread_t thread;
} watchdog_t;

static void *watch(void *arg) {
  watchdog_t *w = arg;
  struct timespec tick = {0, 5 * 1000 * 1000};
  while (!atomic_load(&w->stop)) {
    long rss = status_kb(w->pid, "VmRSS");
    if (rss > WATCHDOG_KILL_KB) {
      atomic_store(&w->killed, true);
      kill(w->pid, SIGKILL);
      break;
    }
    nanosleep(&tick, NULL);
  }
  return NULL;
}

static void watchdog_start(watchdog_t *w, pid_t pid) {
  w->pid = pid;
  atomic_store(&w->stop, false);
  atomic_store(&w->killed, false);
  pthread_create(&w->thread, NULL, watch, w);
}

/* Stops the watchdog; fails the test when it had to kill the server. */
static void watchdog_stop(watchdog_t *w) {
  atomic_store(&w->stop, true);
  pthread_join(w->thread, NULL);
  if (atomic_load(&w->killed))
    fail_msg("the server passed %d MB of resident memory and was killed",
             WATCHDOG_KILL_KB / 1024);
}

static void expect_small_and_alive(void) {
  long hwm = status_kb(srv.pid, "VmHWM");
  assert_true(hwm > 0);
  fprintf(stderr, "server's peak resident memory so far: %ld kB\n", hwm);
  if (hwm > PEAK_MAX_KB)
    fail_msg("peak resident memory %ld kB, over %d", hwm, PEAK_MAX_KB);
  it_resp_t r;
  it_expect(&srv, 200, "GET", "/healthz", NULL, 0, &r);
  it_resp_free(&r);
}

/* ---- Fixtures ---------------------------------------------------------- */

static int setup(void **state) {
  memset(&srv, 0, sizeof srv);
  it_start(&srv, NULL);
  /* Series whose labels the regexes run against. */
  static const char *names[] = {"x.cpu{k=aaaa,j=web-1}", "x.cpu{k=ab,j=web-2}",
                                "x.cpu{k=b,j=db-1}"};
  for (size_t i = 0; i < sizeof names / sizeof *names; i++)
    assert_int_equal(it_ingest(&srv, names[i], 1700000000, 1700000010, "main;work 3\n"),
                     200);
  return 0;
}

static int teardown(void **state) {
  assert_int_equal(it_stop(&srv), 0);
  it_cleanup(&srv);
  return 0;
}

/* ---- Helpers ----------------------------------------------------------- */

/* GET target; expects status and, for an error, a JSON message holding
 * hint. */
static void expect_status(int status, const char *target, const char *hint) {
  it_resp_t r;
  if (it_http(&srv, "GET", target, NULL, NULL, 0, &r))
    fail_msg("GET %.200s: no answer (did the server die?)", target);
  if (r.status != status)
    fail_msg("GET %.200s: expected %d, got %d: %.300s", target, status, r.status, r.body);
  if (status >= 400) {
    json_t *j = it_json(&r);
    const char *msg = json_string_value(json_object_get(j, "error"));
    if (!msg || (hint && !strstr(msg, hint)))
      fail_msg("GET %.200s: error '%s' does not mention '%s'", target, msg, hint);
    json_decref(j);
  }
  it_resp_free(&r);
}

/* Sends the selector q to every endpoint that takes one, expecting status
 * (and hint in the error). */
static void everywhere(const char *q, int status, const char *hint) {
  char *e = it_urlencode(q);
  size_t cap = strlen(e) * 2 + 256;
  char *t = malloc(cap);
  snprintf(t, cap, "/render?query=%s&from=1699999000&until=1700001000", e);
  expect_status(status, t, hint);
  snprintf(t, cap, "/render-diff?leftQuery=%s&rightQuery=x.cpu%%7B%%7D", e);
  expect_status(status, t, hint);
  snprintf(t, cap, "/render-diff?leftQuery=x.cpu%%7B%%7D&rightQuery=%s", e);
  expect_status(status, t, hint);
  snprintf(t, cap, "/labels?query=%s", e);
  expect_status(status, t, hint);
  snprintf(t, cap, "/label-values?label=k&query=%s", e);
  expect_status(status, t, hint);
  free(t);
  free(e);
}

/* "x.cpu{k0=~"re",k1=~"re",...}" with n matchers (caller frees). */
static char *many(size_t n, const char *re) {
  size_t cap = n * (strlen(re) + 16) + 16, at = 0;
  char *q = malloc(cap);
  at += (size_t)snprintf(q, cap, "x.cpu{");
  for (size_t i = 0; i < n; i++)
    at += (size_t)snprintf(q + at, cap - at, "%sk%zu=~\"%s\"", i ? "," : "", i, re);
  snprintf(q + at, cap - at, "}");
  return q;
}

/* ---- Regexes ----------------------------------------------------------- */

static void test_regex_attacks_get_400_and_the_server_stays_small(void **state) {
  watchdog_t w;
  watchdog_start(&w, srv.pid);
  /* 112 bytes that took glibc over 3 GB. */
  everywhere("x.cpu{k=~\"a{0,9999}\",j=~\"a{0,9999}\"}", 400, "repeats too much");
  everywhere("x.cpu{k=~\"(a{0,999}){0,999}\"}", 400, "repeats too much");
  everywhere("x.cpu{k=~\"((a{30}){30}){30}\"}", 400, "repeats too much");
  everywhere("x.cpu{k=~\"\\pL{1000}\"}", 400, "too large once compiled");
  char *q = many(17, "a{0,1000}");
  everywhere(q, 400, "the limit is 16");
  free(q);
  q = many(16, "\\pL{50}");
  everywhere(q, 400, "too large once compiled");
  free(q);
  /* The most a selector may hold is accepted, and matched. */
  q = many(16, "(?i)(a|aa|b)*[^x]{0,900}");
  everywhere(q, 200, NULL);
  free(q);
  watchdog_stop(&w);
  expect_small_and_alive();
}

static void test_regexes_select_series_with_re2_syntax(void **state) {
  json_t *j =
      it_render(&srv, "x.cpu{k=~\"a+\",j=~\"web-\\d\"}", 1699999000, 1700001000, NULL);
  assert_int_equal(it_ticks(j), 3);
  json_decref(j);
  j = it_render(&srv, "x.cpu{k!~\"(?i)A.*\"}", 1699999000, 1700001000, NULL);
  assert_int_equal(it_ticks(j), 3);
  json_decref(j);
  j = it_render(&srv, "x.cpu{j=~\"web\"}", 1699999000, 1700001000, NULL);
  assert_int_equal(it_ticks(j), 0); /* anchored: "web" is not "web-1" */
  json_decref(j);
}

/* ---- Renders ----------------------------------------------------------- */

#define CHAINS 20
#define CHAIN_DEPTH 1000 /* within any ingest depth cap */
#define NAME_LEN 100

static void put_uvarint(char *buf, size_t *at, uint64_t v) {
  do {
    unsigned char b = v & 0x7f;
    v >>= 7;
    buf[(*at)++] = (char)(v ? b | 0x80 : b);
  } while (v);
}

/* A tree-format body: CHAINS chains of CHAIN_DEPTH frames with long names
 * and a value on every frame, so that folded text (every path spelled
 * out) and pprof (every sample repeats its stack) grow with depth times
 * nodes: about a gigabyte of folded text from a 2 MB body. */
static char *deep_body(size_t *len) {
  size_t cap = (size_t)CHAINS * CHAIN_DEPTH * (NAME_LEN + 8) + 16, at = 0;
  char *b = malloc(cap);
  put_uvarint(b, &at, 0);
  put_uvarint(b, &at, 0);
  put_uvarint(b, &at, CHAINS);
  for (int c = 0; c < CHAINS; c++)
    for (int d = 0; d < CHAIN_DEPTH; d++) {
      char name[NAME_LEN + 1];
      int n = snprintf(name, sizeof name, "chain%d.depth%d.", c, d);
      memset(name + n, 'x', NAME_LEN - (size_t)n);
      put_uvarint(b, &at, NAME_LEN);
      memcpy(b + at, name, NAME_LEN);
      at += NAME_LEN;
      put_uvarint(b, &at, 1);
      put_uvarint(b, &at, d + 1 < CHAIN_DEPTH ? 1 : 0);
    }
  *len = at;
  return b;
}

static void push_deep(const it_server_t *s) {
  size_t len;
  char *body = deep_body(&len);
  it_resp_t r;
  it_expect(s, 200, "POST",
            "/ingest?name=deep.cpu&from=1700000000&until=1700000010&format=tree", body,
            len, &r);
  it_resp_free(&r);
  free(body);
}

#define DEEP "/render?query=deep.cpu%7B%7D&from=1699999000&until=1700001000"

static void
test_huge_renders_are_refused_or_bounded_and_the_server_stays_small(void **state) {
  push_deep(&srv);
  watchdog_t w;
  watchdog_start(&w, srv.pid);
  /* Folded text and pprof of everything would be a gigabyte or more. */
  expect_status(400, DEEP "&maxNodes=-1&format=collapsed",
                "the collapsed profile would take up to");
  expect_status(400, DEEP "&maxNodes=-1&format=pprof", "the pprof export would take");
  expect_status(400, DEEP "&maxNodes=-1&format=collapsed", "lower maxNodes");
  /* Cut down, they are fine. */
  expect_status(200, DEEP "&maxNodes=2000&format=collapsed", NULL);
  expect_status(200, DEEP "&maxNodes=2000&format=pprof", NULL);
  /* The drawings of all 20,001 nodes are a few MB each. */
  static const char *formats[] = {"json", "svg", "html"};
  for (int i = 0; i < 3; i++) {
    char t[256];
    snprintf(t, sizeof t, "%s&maxNodes=-1&format=%s", DEEP, formats[i]);
    it_resp_t r;
    it_expect(&srv, 200, "GET", t, NULL, 0, &r);
    assert_true(r.body_len > 1000000 && r.body_len < 64u << 20);
    it_resp_free(&r);
  }
  watchdog_stop(&w);
  expect_small_and_alive();
}

static void test_max_nodes_is_capped_by_the_server_flag(void **state) {
  it_server_t s = {0};
  const char *args[] = {"--max-nodes", "500", NULL};
  it_start(&s, args);
  push_deep(&s);
  static const char *asked[] = {"-1", "100000"};
  for (int i = 0; i < 2; i++) {
    char extra[64];
    snprintf(extra, sizeof extra, "maxNodes=%s", asked[i]);
    json_t *j = it_render(&s, "deep.cpu{}", 1699999000, 1700001000, extra);
    json_t *md = json_object_get(j, "metadata");
    assert_int_equal(json_integer_value(json_object_get(md, "maxNodes")), 500);
    assert_true(json_is_true(json_object_get(md, "maxNodesClamped")));
    /* 500 nodes kept, plus the "other" buckets of the nodes cut below. */
    json_t *levels = json_object_get(json_object_get(j, "flamebearer"), "levels");
    size_t bars = 0, li;
    json_t *level;
    json_array_foreach(levels, li, level) bars += json_array_size(level) / 4;
    assert_true(bars > 500 && bars <= 1000);
    json_decref(j);
  }
  /* What fits the limit is untouched. */
  json_t *j = it_render(&s, "deep.cpu{}", 1699999000, 1700001000, "maxNodes=20");
  assert_int_equal(
      json_integer_value(json_object_get(json_object_get(j, "metadata"), "maxNodes")),
      20);
  assert_null(json_object_get(json_object_get(j, "metadata"), "maxNodesClamped"));
  json_decref(j);
  assert_int_equal(it_stop(&s), 0);
  it_cleanup(&s);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_regex_attacks_get_400_and_the_server_stays_small),
      cmocka_unit_test(test_regexes_select_series_with_re2_syntax),
      cmocka_unit_test(
          test_huge_renders_are_refused_or_bounded_and_the_server_stays_small),
      cmocka_unit_test(test_max_nodes_is_capped_by_the_server_flag),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
