/* Integration: a real Go program pushes real runtime/pprof profiles.
 *
 * examples/go/pprofpush (standard library only) burns CPU in cpuHeavy,
 * labelled vehicle=car with pprof.Do, and in cpuLight, which does half the
 * work, then pushes its CPU profile and its heap profile (with the previous
 * one and a sample_type_config) as multipart forms, the way pyroscope-go
 * does. The flame graphs must show that, and `go tool pprof` must read
 * Ember's pprof export of the same range exactly as Ember draws it.
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
#include <sys/stat.h>
#include <time.h>

#include "harness.h"

#define APP "goapp"
#define SECONDS "2" /* of CPU time */

static it_server_t srv;
static char work[512], exe[600], cache[600], home[600];
static char env_cache[700], env_home[700];
static const char *go_env[] = {"GO111MODULE=off", env_cache, env_home, "GOFLAGS=",
                               NULL};
static long t_from, t_until; /* a range holding every push */

static const char *examples(void) {
  const char *e = getenv("EMBER_EXAMPLES");
  if (!e) fail_msg("EMBER_EXAMPLES is not set; run the integration tests through ctest");
  return e;
}

/* Runs a go command (or the built program); fails the test unless it
 * exits 0. Returns its output (caller frees). */
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

static int setup(void **state) {
  const char *agents = getenv("EMBER_AGENTS_DIR");
  snprintf(work, sizeof work, "%s/go", agents ? agents : "agents");
  snprintf(cache, sizeof cache, "%s/cache", work);
  snprintf(home, sizeof home, "%s/home", work);
  snprintf(exe, sizeof exe, "%s/pprofpush", work);
  snprintf(env_cache, sizeof env_cache, "GOCACHE=%s", cache);
  snprintf(env_home, sizeof env_home, "HOME=%s", home);
  const char *mk[] = {"mkdir", "-p", cache, home, NULL};
  free(run_ok(mk, NULL, 10));
  char dir[600];
  snprintf(dir, sizeof dir, "%s/go/pprofpush", examples());
  const char *build[] = {"go", "build", "-trimpath", "-o", exe, "main.go", NULL};
  free(run_ok(build, dir, 240));

  memset(&srv, 0, sizeof srv);
  it_start(&srv, NULL);
  char server[64];
  snprintf(server, sizeof server, "http://127.0.0.1:%u", srv.port);
  t_from = (long)time(NULL) - 20;
  const char *push[] = {exe,   "-server", server,  "-app",     APP,
                        "-tags", "env=ci", "-seconds", SECONDS, NULL};
  char *out = run_ok(push, NULL, 60);
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

/* ---- Flame graphs ---------------------------------------------------------- */

static void test_go_cpu_profile_shows_both_functions_in_proportion(void **state) {
  json_t *j = render(APP ".cpu{}");
  long ticks = it_ticks(j), heavy, light, self;
  assert_true(it_frames(j, "main.cpuHeavy", false, &heavy, &self));
  assert_true(it_frames(j, "main.cpuLight", false, &light, &self));
  double share = (double)heavy / (double)(heavy + light);
  fprintf(stderr,
          "go agent: " APP ".cpu numTicks %ld (%.2f s at 100 Hz); main.cpuHeavy %ld, "
          "main.cpuLight %ld: heavy share %.2f (2/3 expected)\n",
          ticks, (double)ticks / 100, heavy, light, share);
  /* 2 s of CPU time at 100 Hz: about 200 samples however loaded the
   * machine is (the profiler counts CPU time, not wall time). */
  assert_true(ticks >= 100);
  assert_true(heavy + light >= ticks * 8 / 10);
  assert_true(share > 0.5 && share < 0.85);
  json_t *md = json_object_get(j, "metadata");
  assert_string_equal(json_string_value(json_object_get(md, "spyName")), "gospy");
  assert_int_equal(json_integer_value(json_object_get(md, "sampleRate")), 100);
  assert_string_equal(json_string_value(json_object_get(md, "units")), "samples");
  json_decref(j);
}

static void test_go_label_selects_only_the_labelled_function(void **state) {
  json_t *all = render(APP ".cpu{}");
  json_t *car = render(APP ".cpu{vehicle=\"car\"}");
  json_t *rest = render(APP ".cpu{vehicle!=\"car\"}");
  long heavy, light, self, car_heavy;
  assert_true(it_frames(all, "main.cpuHeavy", false, &heavy, &self));
  assert_true(it_frames(car, "main.cpuHeavy", false, &car_heavy, &self));
  assert_false(it_frames(car, "main.cpuLight", false, &light, &self));
  assert_false(it_frames(rest, "main.cpuHeavy", false, &light, &self));
  assert_true(it_frames(rest, "main.cpuLight", false, &light, &self));
  assert_int_equal(car_heavy, heavy);
  assert_int_equal(it_ticks(car) + it_ticks(rest), it_ticks(all));
  fprintf(stderr, "go agent: {vehicle=\"car\"} numTicks %ld, the rest %ld\n",
          it_ticks(car), it_ticks(rest));
  /* The static tag is on every series of the push. */
  it_resp_t r;
  it_expect(&srv, 200, "GET", "/label-values?label=env&query=" APP ".cpu%7B%7D", NULL, 0,
            &r);
  assert_string_equal(r.body, "[\"ci\"]");
  it_resp_free(&r);
  json_decref(all);
  json_decref(car);
  json_decref(rest);
}

static void test_go_heap_profile_gives_an_app_per_sample_type(void **state) {
  it_resp_t r;
  it_expect(&srv, 200, "GET", "/api/apps", NULL, 0, &r);
  json_t *apps = it_json(&r);
  it_resp_free(&r);
  static const char *const want[][3] = {
      {APP ".alloc_objects", "objects", "sum"},
      {APP ".alloc_space", "bytes", "sum"},
      {APP ".cpu", "samples", "sum"},
      {APP ".inuse_objects", "objects", "average"},
      {APP ".inuse_space", "bytes", "average"},
  };
  assert_int_equal(json_array_size(apps), 5);
  for (size_t i = 0; i < 5; i++) {
    json_t *a = json_array_get(apps, i);
    assert_string_equal(json_string_value(json_object_get(a, "name")), want[i][0]);
    assert_string_equal(json_string_value(json_object_get(a, "units")), want[i][1]);
    assert_string_equal(json_string_value(json_object_get(a, "aggregationType")),
                        want[i][2]);
  }
  json_decref(apps);
  /* main.allocate allocated 64 KiB blocks all along (the heap profile
   * samples one per 64 KiB); alloc_* count only what came after the
   * previous profile. */
  json_t *j = render(APP ".alloc_space{}");
  long total, self;
  assert_true(it_frames(j, "main.allocate", false, &total, &self));
  assert_true(self >= 64 << 10);
  fprintf(stderr, "go agent: " APP ".alloc_space numTicks %ld, main.allocate %ld bytes\n",
          it_ticks(j), self);
  json_decref(j);
  j = render(APP ".inuse_space{}");
  assert_true(it_frames(j, "main.allocate", false, &total, &self));
  assert_true(self > 0);
  fprintf(stderr, "go agent: " APP ".inuse_space numTicks %ld, main.allocate %ld bytes\n",
          it_ticks(j), self);
  json_decref(j);
}

/* ---- go tool pprof on the export -------------------------------------------- */

static char *export_to_file(const char *path) {
  char target[512];
  snprintf(target, sizeof target,
           "/render?query=" APP ".cpu%%7B%%7D&from=%ld&until=%ld&maxNodes=-1&format=pprof",
           t_from, t_until);
  it_resp_t r;
  it_expect(&srv, 200, "GET", target, NULL, 0, &r);
  char *ct = it_header(&r, "Content-Type");
  assert_string_equal(ct, "application/octet-stream");
  free(ct);
  it_write_file(path, r.body, r.body_len);
  it_resp_free(&r);
  const char *argv[] = {"go", "tool", "pprof", "-top", "-sample_index=samples", path, NULL};
  return run_ok(argv, NULL, 120);
}

static void test_go_tool_pprof_reads_the_export_as_ember_draws_it(void **state) {
  char path[700];
  snprintf(path, sizeof path, "%s/export.pb.gz", work);
  char *top = export_to_file(path);
  json_t *j = render(APP ".cpu{}");
  long total_samples = -1;
  const char *at = strstr(top, "Total samples = ");
  if (at) total_samples = atol(at + strlen("Total samples = "));
  assert_int_equal(total_samples, it_ticks(j));
  /* Every row of -top: flat (samples whose leaf is the function) is the
   * sum of that name's self values in Ember's flame graph. */
  const char *rows = strstr(top, "flat%");
  assert_non_null(rows);
  size_t checked = 0;
  long first_flat = -1, max_self = 0;
  for (const char *line = strchr(rows, '\n'); line && line[1];
       line = strchr(line + 1, '\n')) {
    long flat, cum, total, self;
    char name[256];
    if (sscanf(line + 1, " %ld %*s %*s %ld %*s %255s", &flat, &cum, name) != 3) continue;
    if (!it_frames(j, name, false, &total, &self))
      fail_msg("%s is not in Ember's graph", name);
    if (flat != self)
      fail_msg("%s: go tool pprof says flat %ld, Ember self %ld", name, flat, self);
    if (!strcmp(name, "main.cpuHeavy") || !strcmp(name, "main.cpuLight") ||
        !strcmp(name, "main.main"))
      assert_int_equal(cum, total);
    if (first_flat < 0) first_flat = flat;
    if (checked++ < 3)
      fprintf(stderr, "go tool pprof -top: %-20s flat %ld cum %ld\n", name, flat, cum);
  }
  assert_true(checked >= 5);
  /* The first row is the function Ember has the most self samples in. */
  json_t *names = json_object_get(json_object_get(j, "flamebearer"), "names");
  for (size_t i = 1; i < json_array_size(names); i++) {
    long total, self;
    it_frames(j, json_string_value(json_array_get(names, i)), false, &total, &self);
    if (self > max_self) max_self = self;
  }
  assert_int_equal(first_flat, max_self);
  free(top);
  /* Without -sample_index pprof shows time, as for a Go CPU profile. */
  const char *argv[] = {"go", "tool", "pprof", "-top", path, NULL};
  top = run_ok(argv, NULL, 120);
  assert_non_null(strstr(top, "Type: cpu"));
  free(top);
  json_decref(j);
}

int main(void) {
  if (!it_have("go")) {
    fprintf(stderr, "skipped: go is not installed (scripts/deps.sh --test installs it)\n");
    return 77;
  }
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_go_cpu_profile_shows_both_functions_in_proportion),
      cmocka_unit_test(test_go_label_selects_only_the_labelled_function),
      cmocka_unit_test(test_go_heap_profile_gives_an_app_per_sample_type),
      cmocka_unit_test(test_go_tool_pprof_reads_the_export_as_ember_draws_it),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
