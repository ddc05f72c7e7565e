/* Integration: the real @pyroscope/nodejs agent pushes to Ember.
 *
 * examples/nodejs/push.js (with @pyroscope/nodejs 0.6.4, pinned by its
 * package-lock.json) starts the agent with static tags and a one-second
 * flush, and busies itself in busyCar, wrapped in wrapWithLabels({vehicle:
 * 'car'}), about twice as long as in busyWalk. The agent sends gzipped pprof
 * bodies with format=pprof and a sampleRate that is not the real one.
 *
 * The package is installed once per build tree with `npm ci` (the only
 * time the network is used: the npm registry); the test itself talks only
 * to 127.0.0.1. Needs node and npm (scripts/deps.sh --test); without them
 * the test exits 77, which ctest reports as skipped. */
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

#define APP "nodeapp"
#define SECONDS "3"

static it_server_t srv;
static char work[512], cache[600], home[600];
static char env_cache[700], env_home[700];
static const char *node_env[] = {env_cache, env_home, "npm_config_update_notifier=false",
                                 "npm_config_fund=false", "npm_config_audit=false", NULL};
static long t_from, t_until;

static char *run_ok(const char *const *argv, const char *cwd, int timeout_s) {
  char *out = NULL;
  int rc = it_exec(argv, cwd, node_env, timeout_s, &out);
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
  size_t cap = 65536, n = 0, k;
  char *b = malloc(cap);
  while ((k = fread(b + n, 1, cap - n - 1, f)) > 0)
    if ((n += k) + 1 >= cap) b = realloc(b, cap *= 2);
  fclose(f);
  b[n] = '\0';
  *len = n;
  return b;
}

/* Copies the example into the work directory and installs its packages,
 * unless the same package-lock.json was installed there before. */
static void install(void) {
  const char *src = getenv("EMBER_EXAMPLES");
  if (!src) fail_msg("EMBER_EXAMPLES is not set; run the integration tests through ctest");
  char from[600], to[700];
  static const char *const files[] = {"package.json", "package-lock.json", "push.js"};
  const char *mk[] = {"mkdir", "-p", work, cache, home, NULL};
  free(run_ok(mk, NULL, 10));
  for (size_t i = 0; i < 3; i++) {
    size_t len;
    snprintf(from, sizeof from, "%s/nodejs/%s", src, files[i]);
    snprintf(to, sizeof to, "%s/%s", work, files[i]);
    char *b = slurp(from, &len);
    if (!b) fail_msg("cannot read %s", from);
    it_write_file(to, b, len);
    free(b);
  }
  size_t a_len, b_len;
  snprintf(from, sizeof from, "%s/package-lock.json", work);
  snprintf(to, sizeof to, "%s/node_modules/.ember-installed-lock", work);
  char *want = slurp(from, &a_len), *have = slurp(to, &b_len);
  bool fresh = have && a_len == b_len && !memcmp(want, have, a_len);
  if (!fresh) {
    const char *ci[] = {"npm", "ci", "--no-audit", "--no-fund", NULL};
    char *out = run_ok(ci, work, 240);
    fprintf(stderr, "%s", out);
    free(out);
    it_write_file(to, want, a_len);
  }
  free(want);
  free(have);
}

static int setup(void **state) {
  const char *agents = getenv("EMBER_AGENTS_DIR");
  snprintf(work, sizeof work, "%s/nodejs", agents ? agents : "agents");
  snprintf(cache, sizeof cache, "%s-npm-cache", work);
  snprintf(home, sizeof home, "%s-home", work);
  snprintf(env_cache, sizeof env_cache, "npm_config_cache=%s", cache);
  snprintf(env_home, sizeof env_home, "HOME=%s", home);
  install();
  memset(&srv, 0, sizeof srv);
  it_start(&srv, NULL);
  char server[64];
  snprintf(server, sizeof server, "http://127.0.0.1:%u", srv.port);
  t_from = (long)time(NULL) - 20;
  const char *push[] = {"node", "push.js", server, APP, SECONDS, NULL};
  char *out = run_ok(push, work, 60);
  fprintf(stderr, "%s", out);
  free(out);
  t_until = (long)time(NULL) + 30;
  return 0;
}

static int teardown(void **state) {
  assert_int_equal(it_stop(&srv), 0);
  it_cleanup(&srv);
  return 0;
}

static json_t *render(const char *query) {
  return it_render(&srv, query, t_from, t_until, "maxNodes=-1");
}

static char *get(const char *target) {
  it_resp_t r;
  it_expect(&srv, 200, "GET", target, NULL, 0, &r);
  char *body = strdup(r.body);
  it_resp_free(&r);
  return body;
}

static void test_node_app_appears_with_its_static_tags(void **state) {
  char *apps = get("/api/apps");
  assert_non_null(strstr(apps, "{\"name\":\"" APP ".cpu\",\"spyName\":\"nodespy\""));
  assert_non_null(strstr(apps, "{\"name\":\"" APP ".wall\",\"spyName\":\"nodespy\""));
  free(apps);
  static const char *const want[][2] = {
      {"region", "[\"eu-north\"]"},
      {"env", "[\"test\"]"},
      {"process.runtime.name", "[\"nodejs\"]"}, /* the agent's own, dotted */
      {"vehicle", "[\"car\"]"},                 /* from wrapWithLabels */
  };
  for (size_t i = 0; i < 4; i++) {
    char target[256];
    snprintf(target, sizeof target, "/label-values?label=%s&query=" APP ".cpu%%7B%%7D",
             want[i][0]);
    char *values = get(target);
    assert_string_equal(values, want[i][1]);
    free(values);
  }
}

static void test_node_busy_function_dominates_the_flame_graph(void **state) {
  json_t *j = render(APP ".cpu{}");
  long ticks = it_ticks(j), car, walk, self;
  assert_true(it_frames(j, ":busyCar:", true, &car, &self));
  assert_true(it_frames(j, ":busyWalk:", true, &walk, &self));
  json_t *md = json_object_get(j, "metadata");
  long rate = (long)json_integer_value(json_object_get(md, "sampleRate"));
  fprintf(stderr,
          "node agent: " APP ".cpu numTicks %ld at %ld Hz; busyCar %ld (%.0f%%), "
          "busyWalk %ld (%.0f%%)\n",
          ticks, rate, car, 100.0 * (double)car / (double)ticks, walk,
          100.0 * (double)walk / (double)ticks);
  /* The wall-clock sampler ran for about 3 s and the busy loop takes most
   * of it (on a loaded machine less: start-up, timers and the garbage
   * collector show too), busyCar about twice as much as busyWalk. */
  double share = (double)car / (double)(car + walk);
  assert_true(ticks >= 30);
  assert_true((car + walk) * 2 > ticks);
  assert_true(share > 0.5 && share < 0.85);
  /* Not the 1000 Hz the agent's sampleRate parameter claims: the profile's
   * period says about 100 Hz (less when the busy loop delays the sampler). */
  assert_true(rate >= 20 && rate <= 110);
  json_decref(j);
  j = render(APP ".wall{}");
  long wall_car;
  assert_true(it_frames(j, ":busyCar:", true, &wall_car, &self));
  assert_string_equal(
      json_string_value(json_object_get(json_object_get(j, "metadata"), "units")),
      "nanoseconds");
  fprintf(stderr, "node agent: " APP ".wall numTicks %ld ns (%.2f s), busyCar %.2f s\n",
          it_ticks(j), (double)it_ticks(j) / 1e9, (double)wall_car / 1e9);
  assert_true(wall_car * 3 > it_ticks(j));
  json_decref(j);
}

static void test_node_wrap_with_labels_selects_the_busy_function(void **state) {
  json_t *all = render(APP ".cpu{}");
  json_t *car = render(APP ".cpu{vehicle=\"car\"}");
  long total, self, in_car;
  assert_true(it_frames(all, ":busyCar:", true, &total, &self));
  assert_true(it_frames(car, ":busyCar:", true, &in_car, &self));
  assert_false(it_frames(car, ":busyWalk:", true, &total, &self));
  /* busyCar runs only inside wrapWithLabels, so all of it carries the label
   * (but for samples taken right at the switch of context). */
  assert_true(in_car * 10 >= total * 9);
  fprintf(stderr, "node agent: {vehicle=\"car\"} numTicks %ld\n", it_ticks(car));
  json_decref(all);
  json_decref(car);
}

int main(void) {
  if (!it_have("node") || !it_have("npm")) {
    fprintf(stderr, "skipped: node and npm are not installed (scripts/deps.sh --test "
                    "installs them)\n");
    return 77;
  }
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_node_app_appears_with_its_static_tags),
      cmocka_unit_test(test_node_busy_function_dominates_the_flame_graph),
      cmocka_unit_test(test_node_wrap_with_labels_selects_the_busy_function),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
