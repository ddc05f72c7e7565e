/* Integration: a real JVM records itself with the JDK's own Flight
 * Recorder, and the recording is pushed to Ember with format=jfr.
 *
 * examples/java/HotMethods.java spends its main thread in cpuHeavy, which
 * does twice the work of cpuLight, allocates small arrays (in new TLABs)
 * and 8 MiB ones (outside any TLAB), and keeps two threads waiting on one
 * monitor. It runs once, for 2 s of CPU time, under
 * -XX:StartFlightRecording with settings=profile (plus the TLAB events,
 * which JDK 17's profile settings leave to jdk.ObjectAllocationSample);
 * the one recording serves every check:
 *  - the two methods share javaapp.cpu 2:1, within a stated tolerance;
 *  - the allocation and lock apps appear, in bytes and nanoseconds;
 *  - the same file gzipped, as a multipart form with a labels part, and
 *    with Content-Encoding: gzip gives the very same flame graphs;
 *  - `go tool pprof` reads Ember's pprof export of javaapp.cpu as Ember
 *    draws it (when go is installed).
 *
 * Needs java and javac (scripts/deps.sh --test installs
 * openjdk-17-jdk-headless); without them the test exits 77, which ctest
 * reports as skipped. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zlib.h>

#include "harness.h"

#define SECONDS "2" /* of CPU time */
/* cpuHeavy's share of the samples in cpuHeavy and cpuLight: 2/3 by design.
 * Sampling at 100 Hz over 2 s gives some 200 samples, whose share has a
 * standard deviation of about 0.035; the JIT compiling one method before
 * the other moves it a little more. */
#define SHARE 0.667
#define SHARE_TOLERANCE 0.11

static it_server_t srv;
static char work[512], jfr_path[600];
static char *jfr;   /* the recording */
static size_t jfr_len;
static long t_from, t_until;

static const char *const APPS[] = {
    "cpu",
    "alloc_in_new_tlab_objects",
    "alloc_in_new_tlab_bytes",
    "alloc_outside_tlab_objects",
    "alloc_outside_tlab_bytes",
    "alloc_sample_objects",
    "alloc_sample_bytes",
    "lock_count",
    "lock_duration",
};
#define NAPPS (sizeof APPS / sizeof *APPS)

static char *run_ok(const char *const *argv, const char *cwd, int timeout_s) {
  char *out = NULL;
  int rc = it_exec(argv, cwd, NULL, timeout_s, &out);
  if (rc != 0) {
    fprintf(stderr, "%s", out);
    free(out);
    fail_msg("%s exited with %d (its output is above)", argv[0], rc);
  }
  return out;
}

static char *slurp(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  size_t cap = 1 << 20, n = 0, k;
  char *b = malloc(cap);
  while ((k = fread(b + n, 1, cap - n - 1, f)) > 0)
    if ((n += k) + 1 >= cap) b = realloc(b, cap *= 2);
  fclose(f);
  b[n] = '\0';
  *len = n;
  return b;
}

static uint8_t *gzip_bytes(const void *buf, size_t len, size_t *out_len) {
  z_stream zs;
  memset(&zs, 0, sizeof zs);
  deflateInit2(&zs, 6, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY);
  size_t cap = deflateBound(&zs, (uLong)len) + 32;
  uint8_t *out = malloc(cap);
  zs.next_in = (Bytef *)buf;
  zs.avail_in = (uInt)len;
  zs.next_out = out;
  zs.avail_out = (uInt)cap;
  deflate(&zs, Z_FINISH);
  *out_len = zs.total_out;
  deflateEnd(&zs);
  return out;
}

/* Pushes body as app (its name parameter) with format=jfr. */
static void push(const char *app, const char *headers, const void *body, size_t len) {
  char target[512];
  snprintf(target, sizeof target,
           "/ingest?name=%s%%7Bhost%%3Dci%%7D&format=jfr&event=cpu&from=%ld&until=%ld"
           "&spyName=javaspy&sampleRate=100",
           app, t_from + 5, t_until - 5);
  it_resp_t r;
  if (it_http(&srv, "POST", target, headers, body, len, &r))
    fail_msg("push of %s failed to connect", app);
  if (r.status != 200) fail_msg("push of %s: %d %s", app, r.status, r.body);
  it_resp_free(&r);
}

static int setup(void **state) {
  const char *agents = getenv("EMBER_AGENTS_DIR"), *examples = getenv("EMBER_EXAMPLES");
  if (!examples) fail_msg("EMBER_EXAMPLES is not set; run the integration tests through ctest");
  snprintf(work, sizeof work, "%s/java", agents ? agents : "agents");
  char classes[600], src[600], rec[1200];
  snprintf(classes, sizeof classes, "%s/classes", work);
  snprintf(src, sizeof src, "%s/java/HotMethods.java", examples);
  snprintf(jfr_path, sizeof jfr_path, "%s/hot.jfr", work);
  const char *mk[] = {"mkdir", "-p", classes, NULL};
  free(run_ok(mk, NULL, 10));
  const char *javac[] = {"javac", "-d", classes, src, NULL};
  free(run_ok(javac, NULL, 120));
  remove(jfr_path);
  snprintf(rec, sizeof rec,
           "-XX:StartFlightRecording=settings=profile,filename=%s,"
           "+jdk.ObjectAllocationInNewTLAB#enabled=true,"
           "+jdk.ObjectAllocationOutsideTLAB#enabled=true",
           jfr_path);
  const char *java[] = {"java", rec, "-Dseconds=" SECONDS, "-cp", classes, "HotMethods",
                        NULL};
  char *out = run_ok(java, NULL, 180);
  fprintf(stderr, "%s", strstr(out, "HotMethods:") ? strstr(out, "HotMethods:") : out);
  free(out);
  jfr = slurp(jfr_path, &jfr_len);
  if (!jfr) fail_msg("the JVM wrote no recording at %s", jfr_path);
  fprintf(stderr, "java: recording of %zu bytes\n", jfr_len);

  memset(&srv, 0, sizeof srv);
  it_start(&srv, NULL);
  t_until = (long)time(NULL) + 20;
  t_from = t_until - 60;

  push("javaapp", "Content-Type: application/octet-stream\r\n", jfr, jfr_len);
  size_t gz_len;
  uint8_t *gz = gzip_bytes(jfr, jfr_len, &gz_len);
  push("javaapp_gz", NULL, gz, gz_len);
  push("javaapp_ce", "Content-Encoding: gzip\r\n", gz, gz_len);
  free(gz);
  /* A form as Pyroscope's Java agent sends it, with a labels part (the
   * JDK's events carry no context ids, so it changes nothing). */
  static const uint8_t labels[] = {0x0a, 0x0a, 0x08, 0x01, 0x12, 0x06, 0x0a, 0x04, 0x08,
                                   0x02, 0x10, 0x03, 0x12, 0x05, 0x08, 0x02, 0x12, 0x01,
                                   'k',  0x12, 0x05, 0x08, 0x03, 0x12, 0x01, 'v'};
  const char *head = "--JfrForm\r\nContent-Disposition: form-data; name=\"jfr\"; "
                     "filename=\"jfr\"\r\nContent-Type: application/octet-stream\r\n\r\n";
  const char *mid = "\r\n--JfrForm\r\nContent-Disposition: form-data; name=\"labels\"; "
                    "filename=\"labels\"\r\n\r\n";
  const char *tail = "\r\n--JfrForm--\r\n";
  size_t flen = strlen(head) + jfr_len + strlen(mid) + sizeof labels + strlen(tail);
  char *body = malloc(flen), *p = body;
  memcpy(p, head, strlen(head));
  memcpy(p += strlen(head), jfr, jfr_len);
  memcpy(p += jfr_len, mid, strlen(mid));
  memcpy(p += strlen(mid), labels, sizeof labels);
  memcpy(p += sizeof labels, tail, strlen(tail));
  push("javaapp_mp", "Content-Type: multipart/form-data; boundary=JfrForm\r\n", body, flen);
  free(body);
  return 0;
}

static int teardown(void **state) {
  assert_int_equal(it_stop(&srv), 0);
  it_cleanup(&srv);
  free(jfr);
  return 0;
}

static json_t *render(const char *app, const char *suffix, const char *extra) {
  char query[256];
  snprintf(query, sizeof query, "%s.%s{}", app, suffix);
  return it_render(&srv, query, t_from, t_until, extra ? extra : "maxNodes=-1");
}

/* ---- What the recording shows ------------------------------------------------------- */

static void test_java_hot_methods_share_the_cpu_as_designed(void **state) {
  json_t *j = render("javaapp", "cpu", NULL);
  long ticks = it_ticks(j), heavy, light, self;
  assert_true(it_frames(j, "HotMethods.cpuHeavy", false, &heavy, &self));
  assert_true(it_frames(j, "HotMethods.cpuLight", false, &light, &self));
  double share = (double)heavy / (double)(heavy + light);
  fprintf(stderr,
          "java: javaapp.cpu numTicks %ld; HotMethods.cpuHeavy %ld, cpuLight %ld: heavy "
          "share %.3f (%.3f +- %.2f expected)\n",
          ticks, heavy, light, share, SHARE, SHARE_TOLERANCE);
  assert_true(ticks >= 100); /* 2 s of CPU at 100 Hz, some 200 */
  assert_true(share > SHARE - SHARE_TOLERANCE && share < SHARE + SHARE_TOLERANCE);
  /* Frames read like Java: package/Class.method, one frame per method
   * however it ran (interpreted first, then compiled or inlined). */
  assert_true(it_frames(j, "HotMethods.main", false, &heavy, &self));
  assert_true(it_frames(j, "HotMethods.spin", false, &heavy, &self));
  json_t *md = json_object_get(j, "metadata");
  assert_string_equal(json_string_value(json_object_get(md, "spyName")), "javaspy");
  assert_string_equal(json_string_value(json_object_get(md, "units")), "samples");
  json_decref(j);
}

static void test_java_allocation_and_lock_apps_appear_in_their_units(void **state) {
  it_resp_t r;
  it_expect(&srv, 200, "GET", "/api/apps", NULL, 0, &r);
  json_t *apps = it_json(&r);
  it_resp_free(&r);
  static const char *const units[NAPPS] = {
      "samples", "objects", "bytes", "objects",         "bytes",
      "objects", "bytes",   "lock_samples", "lock_nanoseconds"};
  for (size_t i = 0; i < NAPPS; i++) {
    char name[128];
    snprintf(name, sizeof name, "javaapp.%s", APPS[i]);
    bool found = false;
    for (size_t k = 0; k < json_array_size(apps); k++) {
      json_t *a = json_array_get(apps, k);
      if (strcmp(json_string_value(json_object_get(a, "name")), name)) continue;
      assert_string_equal(json_string_value(json_object_get(a, "units")), units[i]);
      found = true;
    }
    if (!found) fail_msg("%s is not among the apps", name);
  }
  json_decref(apps);
  long total, self;
  json_t *j = render("javaapp", "alloc_in_new_tlab_bytes", NULL);
  assert_true(it_frames(j, "HotMethods.allocateSmall", false, &total, &self));
  fprintf(stderr, "java: javaapp.alloc_in_new_tlab_bytes %ld bytes, allocateSmall %ld\n",
          it_ticks(j), total);
  assert_true(total > 0);
  json_decref(j);
  j = render("javaapp", "alloc_outside_tlab_bytes", NULL);
  assert_true(it_frames(j, "HotMethods.allocateLarge", false, &total, &self));
  assert_true(total >= 8L << 20); /* each of its arrays is 8 MiB */
  json_decref(j);
  long count, ns;
  json_t *c = render("javaapp", "lock_count", NULL);
  json_t *d = render("javaapp", "lock_duration", NULL);
  assert_true(it_frames(c, "HotMethods.holdLock", false, &count, &self));
  assert_true(it_frames(d, "HotMethods.holdLock", false, &ns, &self));
  fprintf(stderr, "java: javaapp.lock_count holdLock %ld waits, %.1f ms in all\n", count,
          (double)ns / 1e6);
  /* settings=profile records waits of 10 ms and more. */
  assert_true(count > 0 && ns >= count * 10000000L);
  json_decref(c);
  json_decref(d);
}

/* ---- The same recording sent three other ways ---------------------------------------- */

static char *collapsed(const char *app, const char *suffix) {
  char target[512];
  snprintf(target, sizeof target,
           "/render?query=%s.%s%%7B%%7D&from=%ld&until=%ld&format=collapsed&maxNodes=-1",
           app, suffix, t_from, t_until);
  it_resp_t r;
  it_expect(&srv, 200, "GET", target, NULL, 0, &r);
  char *body = strdup(r.body);
  it_resp_free(&r);
  return body;
}

static void test_java_gzipped_and_multipart_copies_give_the_same_graphs(void **state) {
  static const char *const copies[] = {"javaapp_gz", "javaapp_ce", "javaapp_mp"};
  for (size_t i = 0; i < NAPPS; i++) {
    char *want = collapsed("javaapp", APPS[i]);
    assert_true(strlen(want) > 0);
    for (size_t k = 0; k < 3; k++) {
      char *got = collapsed(copies[k], APPS[i]);
      if (strcmp(got, want)) fail_msg("%s.%s differs from javaapp.%s", copies[k], APPS[i],
                                      APPS[i]);
      free(got);
    }
    free(want);
  }
  /* The name's labels are on every series. */
  it_resp_t r;
  it_expect(&srv, 200, "GET", "/label-values?label=host&query=javaapp_mp.cpu%7B%7D", NULL,
            0, &r);
  assert_string_equal(r.body, "[\"ci\"]");
  it_resp_free(&r);
}

/* ---- go tool pprof on the export ----------------------------------------------------- */

static void test_java_go_tool_pprof_reads_the_export(void **state) {
  if (!it_have("go")) {
    fprintf(stderr, "java: go is not installed; the pprof export is not checked\n");
    skip();
  }
  char target[512], path[700];
  snprintf(target, sizeof target,
           "/render?query=javaapp.cpu%%7B%%7D&from=%ld&until=%ld&maxNodes=-1&format=pprof",
           t_from, t_until);
  it_resp_t r;
  it_expect(&srv, 200, "GET", target, NULL, 0, &r);
  snprintf(path, sizeof path, "%s/export.pb.gz", work);
  it_write_file(path, r.body, r.body_len);
  it_resp_free(&r);
  char cache[700], home[700], gocache[800], gohome[800];
  snprintf(cache, sizeof cache, "%s/gocache", work);
  snprintf(home, sizeof home, "%s/home", work);
  snprintf(gocache, sizeof gocache, "GOCACHE=%s", cache);
  snprintf(gohome, sizeof gohome, "HOME=%s", home);
  const char *env[] = {gocache, gohome, "GO111MODULE=off", "GOFLAGS=", NULL};
  const char *argv[] = {"go", "tool", "pprof", "-top", "-sample_index=samples", path, NULL};
  char *out = NULL;
  int rc = it_exec(argv, NULL, env, 120, &out);
  if (rc) fail_msg("go tool pprof exited with %d: %s", rc, out);
  json_t *j = render("javaapp", "cpu", NULL);
  const char *at = strstr(out, "Total samples = ");
  assert_non_null(at);
  assert_int_equal(atol(at + strlen("Total samples = ")), it_ticks(j));
  /* Every row's flat value is that name's self in Ember's graph. */
  const char *rows = strstr(out, "flat%");
  assert_non_null(rows);
  size_t checked = 0;
  for (const char *line = strchr(rows, '\n'); line && line[1]; line = strchr(line + 1, '\n')) {
    long flat, total, self;
    char name[512];
    if (sscanf(line + 1, " %ld %*s %*s %*d %*s %511s", &flat, name) != 2) continue;
    if (!it_frames(j, name, false, &total, &self)) fail_msg("%s is not in Ember's graph", name);
    if (flat != self) fail_msg("%s: go tool pprof says flat %ld, Ember self %ld", name, flat,
                               self);
    checked++;
  }
  fprintf(stderr, "java: go tool pprof -top agrees with Ember on %zu functions\n", checked);
  assert_true(checked >= 3);
  assert_non_null(strstr(out, "HotMethods.spin"));
  json_decref(j);
  free(out);
}

int main(void) {
  if (!it_have("java") || !it_have("javac")) {
    fprintf(stderr, "skipped: java and javac are not installed (scripts/deps.sh --test "
                    "installs openjdk-17-jdk-headless)\n");
    return 77;
  }
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_java_hot_methods_share_the_cpu_as_designed),
      cmocka_unit_test(test_java_allocation_and_lock_apps_appear_in_their_units),
      cmocka_unit_test(test_java_gzipped_and_multipart_copies_give_the_same_graphs),
      cmocka_unit_test(test_java_go_tool_pprof_reads_the_export),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
