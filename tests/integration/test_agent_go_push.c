/* Integration: a real Go program pushes real runtime/pprof profiles through
 * push.v1.PusherService/Push.
 *
 * examples/go/pushv1 (standard library only, its PushRequest encoded by
 * hand after src/proto/push.proto) burns CPU in cpuHeavy, labelled
 * vehicle=car with pprof.Do, and in cpuLight, which does half the work,
 * then pushes its CPU and heap profiles as one Connect call in protobuf,
 * and once more in JSON under another service_name. The flame graphs must
 * show the 2:1 design, and both pushes must store exactly what /ingest
 * stores of the same profiles (saved by the program) over their times.
 *
 * Needs go (scripts/deps.sh --test); without it the test exits 77, which
 * ctest reports as skipped. */
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
#include "push_test_util.h"

#define SECONDS "2" /* of CPU time */

static it_server_t srv;
static char work[512], exe[600], cache[600], home[600];
static char env_cache[700], env_home[700];
static const char *go_env[] = {"GO111MODULE=off", env_cache, env_home, "GOFLAGS=", NULL};
static long t_from, t_until;

static char *run_ok(const char *const *argv, const char *cwd, int timeout_s) {
  char *out = NULL;
  int rc = it_exec(argv, cwd, go_env, timeout_s, &out);
  if (rc != 0) {
    fprintf(stderr, "%s", out);
    free(out);
    fail_msg("%s exited with %d (its output is above)", argv[0], rc);
  }
  return out;
}

static char *slurp(const char *path, size_t *len) {
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

/* Pushes the saved profile file through /ingest as name, over its times. */
static void ingest_saved(const char *file, const char *name) {
  char path[700], target[512];
  snprintf(path, sizeof path, "%s/%s", work, file);
  size_t len;
  char *body = slurp(path, &len);
  long from, until;
  profile_times(body, len, &from, &until);
  snprintf(target, sizeof target, "/ingest?name=%s&format=pprof&from=%ld&until=%ld", name,
           from, until);
  it_resp_t r;
  if (it_http(&srv, "POST", target, NULL, body, len, &r)) fail_msg("connection failed");
  if (r.status != 200) fail_msg("/ingest %s: %d %s", file, r.status, r.body);
  it_resp_free(&r);
  free(body);
}

static int setup(void **state) {
  const char *agents = getenv("EMBER_AGENTS_DIR"), *examples = getenv("EMBER_EXAMPLES");
  if (!examples) fail_msg("EMBER_EXAMPLES is not set; run the integration tests through ctest");
  snprintf(work, sizeof work, "%s/gopush", agents ? agents : "agents");
  snprintf(cache, sizeof cache, "%s/cache", work);
  snprintf(home, sizeof home, "%s/home", work);
  snprintf(exe, sizeof exe, "%s/pushv1", work);
  snprintf(env_cache, sizeof env_cache, "GOCACHE=%s", cache);
  snprintf(env_home, sizeof env_home, "HOME=%s", home);
  const char *mk[] = {"mkdir", "-p", cache, home, NULL};
  free(run_ok(mk, NULL, 10));
  char dir[600];
  snprintf(dir, sizeof dir, "%s/go/pushv1", examples);
  const char *build[] = {"go", "build", "-trimpath", "-o", exe, "main.go", NULL};
  free(run_ok(build, dir, 240));

  memset(&srv, 0, sizeof srv);
  it_start(&srv, NULL);
  char server[64];
  snprintf(server, sizeof server, "http://127.0.0.1:%u", srv.port);
  t_from = (long)time(NULL) - 60;
  const char *push[] = {exe,        "-server",   server, "-app",  "gopush",
                        "-tags",    "env=ci",    "-seconds", SECONDS, "-json-app",
                        "gopushjson", "-save", work,     NULL};
  char *out = run_ok(push, NULL, 60);
  fprintf(stderr, "%s", out);
  free(out);
  t_until = (long)time(NULL) + 60;
  ingest_saved("cpu.pb.gz", "gopushref%7Benv%3Dci%7D");
  ingest_saved("heap.pb.gz", "gopushref%7Benv%3Dci%7D");
  return 0;
}

static int teardown(void **state) {
  assert_int_equal(it_stop(&srv), 0);
  it_cleanup(&srv);
  return 0;
}

static void test_go_push_shows_both_functions_in_proportion(void **state) {
  json_t *j = it_render(&srv, "gopush.cpu{}", t_from, t_until, "maxNodes=-1");
  long ticks = it_ticks(j), heavy, light, self;
  assert_true(it_frames(j, "main.cpuHeavy", false, &heavy, &self));
  assert_true(it_frames(j, "main.cpuLight", false, &light, &self));
  double share = (double)heavy / (double)(heavy + light);
  fprintf(stderr,
          "go push.v1: gopush.cpu numTicks %ld; main.cpuHeavy %ld, main.cpuLight %ld: "
          "heavy share %.2f (2/3 expected)\n",
          ticks, heavy, light, share);
  assert_true(ticks >= 100);
  assert_true(share > 0.5 && share < 0.85);
  json_t *md = json_object_get(j, "metadata");
  assert_int_equal(json_integer_value(json_object_get(md, "sampleRate")), 100);
  json_decref(j);
  /* The pprof label is a series label, as through /ingest. */
  json_t *car = it_render(&srv, "gopush.cpu{vehicle=\"car\"}", t_from, t_until, NULL);
  assert_true(it_frames(car, "main.cpuHeavy", false, &heavy, &self));
  assert_false(it_frames(car, "main.cpuLight", false, &light, &self));
  json_decref(car);
}

static void test_go_push_stores_what_ingest_stores_of_the_same_profiles(void **state) {
  assert_same(&srv, "gopush", "gopushref", t_from, t_until);
  assert_same(&srv, "gopushjson", "gopushref", t_from, t_until);
  char *apps = apps_of(&srv, "gopush");
  fprintf(stderr, "go push.v1: apps of gopush:\n%s", apps);
  assert_non_null(strstr(apps, "\ncpu samples sum 100\n"));
  assert_non_null(strstr(apps, "inuse_space bytes average"));
  free(apps);
}

int main(void) {
  if (!it_have("go")) {
    fprintf(stderr, "skipped: go is not installed (scripts/deps.sh --test installs it)\n");
    return 77;
  }
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_go_push_shows_both_functions_in_proportion),
      cmocka_unit_test(test_go_push_stores_what_ingest_stores_of_the_same_profiles),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
