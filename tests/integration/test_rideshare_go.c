/* Integration: the Go ride-sharing example, end to end.
 *
 * examples/go/rideshare/run.sh --fast --duration 25 builds the example
 * (standard library only), starts three regions (us-east, eu-north,
 * ap-south) and the load generator against a fresh Ember, and stops them
 * all after 25 s. Each region pushes runtime/pprof CPU profiles tagged with
 * its region; each order runs under pprof.Do with a vehicle label. The API
 * must then tell the example's story: the three regions and three
 * vehicles, orderCar the widest order, and mutexLock only in eu-north,
 * whose lock contention is on in every other 10 s period.
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

#define APP "ride-sharing-app-go.cpu"
#define RUN_SECONDS "25"

static it_server_t srv;
static char *run_output;
static long t_from, t_until; /* a range holding every push */

static int setup(void **state) {
  const char *agents = getenv("EMBER_AGENTS_DIR");
  const char *examples = getenv("EMBER_EXAMPLES");
  if (!examples) fail_msg("EMBER_EXAMPLES is not set; run the integration tests through ctest");
  char work[512], cache[600], home[600], run_sh[600];
  snprintf(work, sizeof work, "%s/go", agents ? agents : "agents");
  snprintf(cache, sizeof cache, "%s/cache", work);
  snprintf(home, sizeof home, "%s/home", work);
  snprintf(run_sh, sizeof run_sh, "%s/go/rideshare/run.sh", examples);
  const char *mk[] = {"mkdir", "-p", cache, home, NULL};
  assert_int_equal(it_exec(mk, NULL, NULL, 10, NULL), 0);

  memset(&srv, 0, sizeof srv);
  it_start(&srv, NULL);
  static char env_cache[700], env_home[700], env_url[64];
  snprintf(env_cache, sizeof env_cache, "GOCACHE=%s", cache);
  snprintf(env_home, sizeof env_home, "HOME=%s", home);
  snprintf(env_url, sizeof env_url, "EMBER_URL=http://127.0.0.1:%u", srv.port);
  const char *env[] = {env_cache, env_home, env_url, "RIDESHARE_PORT=0", "LOAD_RATE=4",
                       "GO111MODULE=off", "GOFLAGS=", NULL};
  const char *argv[] = {"bash", run_sh, "--fast", "--duration", RUN_SECONDS, NULL};
  t_from = (long)time(NULL) - 10;
  int rc = it_exec(argv, NULL, env, 240, &run_output);
  t_until = (long)time(NULL) + 10;
  fprintf(stderr, "%s", run_output);
  if (rc != 0) fail_msg("run.sh exited with %d (its output is above)", rc);
  return 0;
}

static int teardown(void **state) {
  free(run_output);
  assert_int_equal(it_stop(&srv), 0);
  it_cleanup(&srv);
  return 0;
}

static json_t *render(const char *query) {
  return it_render(&srv, query, t_from, t_until, "maxNodes=-1");
}

static json_t *get_json(const char *target) {
  it_resp_t r;
  it_expect(&srv, 200, "GET", target, NULL, 0, &r);
  json_t *j = it_json(&r);
  it_resp_free(&r);
  return j;
}

static void test_run_sh_stops_every_region_after_their_last_push(void **state) {
  assert_non_null(strstr(run_output, "Ran for " RUN_SECONDS " s; stopping."));
  static const char *const regions[] = {"us-east", "eu-north", "ap-south"};
  for (size_t i = 0; i < 3; i++) {
    char want[64];
    snprintf(want, sizeof want, "rideshare %s: stopped: ", regions[i]);
    const char *line = strstr(run_output, want);
    if (!line) fail_msg("no \"%s\" line in run.sh's output", want);
    int pushed = -1, dropped = -1;
    assert_int_equal(sscanf(line + strlen(want), "%d profiles pushed to Ember, %d dropped",
                            &pushed, &dropped),
                     2);
    /* 25 s in 10 s windows aligned to Unix time always hold two whole
     * windows, plus one or two partial ones that may have no samples yet
     * (the load starts after the region) and are then not pushed. */
    assert_true(pushed >= 2);
    assert_int_equal(dropped, 0);
  }
}

static void test_the_app_and_its_region_and_vehicle_labels_exist(void **state) {
  json_t *apps = get_json("/api/apps");
  assert_int_equal(json_array_size(apps), 1);
  json_t *a = json_array_get(apps, 0);
  assert_string_equal(json_string_value(json_object_get(a, "name")), APP);
  assert_string_equal(json_string_value(json_object_get(a, "spyName")), "gospy");
  assert_int_equal(json_integer_value(json_object_get(a, "sampleRate")), 100);
  json_decref(apps);
  it_resp_t r;
  it_expect(&srv, 200, "GET", "/label-values?label=region&query=" APP "%7B%7D", NULL, 0, &r);
  assert_string_equal(r.body, "[\"ap-south\",\"eu-north\",\"us-east\"]");
  it_resp_free(&r);
  /* The vehicle comes from the pprof labels of the samples, not the name. */
  it_expect(&srv, 200, "GET", "/label-values?label=vehicle&query=" APP "%7B%7D", NULL, 0,
            &r);
  assert_string_equal(r.body, "[\"bike\",\"car\",\"scooter\"]");
  it_resp_free(&r);
}

static void test_order_car_is_the_widest_order(void **state) {
  json_t *j = render(APP "{}");
  long bike = 0, scooter = 0, car = 0, self;
  assert_true(it_frames(j, "main.orderBike", false, &bike, &self));
  assert_true(it_frames(j, "main.orderScooter", false, &scooter, &self));
  assert_true(it_frames(j, "main.orderCar", false, &car, &self));
  long ticks = it_ticks(j);
  fprintf(stderr, "go rideshare: numTicks %ld; orderCar %ld, orderScooter %ld, orderBike %ld\n",
          ticks, car, scooter, bike);
  assert_true(ticks >= 200);
  assert_true(car > scooter && scooter > bike && bike > 0);
  assert_true(car > ticks / 3);
  json_decref(j);
}

static void test_the_vehicle_label_selects_only_that_vehicles_orders(void **state) {
  json_t *j = render(APP "{vehicle=\"car\"}");
  long car, other, self;
  assert_true(it_frames(j, "main.orderCar", false, &car, &self));
  assert_false(it_frames(j, "main.orderBike", false, &other, &self));
  assert_false(it_frames(j, "main.orderScooter", false, &other, &self));
  fprintf(stderr, "go rideshare: {vehicle=\"car\"} numTicks %ld, orderCar %ld\n", it_ticks(j),
          car);
  json_decref(j);
}

static void test_only_eu_north_shows_mutex_lock(void **state) {
  static const char *const regions[] = {"eu-north", "us-east", "ap-south"};
  for (size_t i = 0; i < 3; i++) {
    char q[128];
    snprintf(q, sizeof q, APP "{region=\"%s\"}", regions[i]);
    json_t *j = render(q);
    long ticks = it_ticks(j), mutex = 0, check = 0, self;
    bool has_mutex = it_frames(j, "main.mutexLock", false, &mutex, &self);
    bool has_check = it_frames(j, "main.checkDriverAvailability", false, &check, &self);
    fprintf(stderr, "go rideshare: %s numTicks %ld, checkDriverAvailability %ld, mutexLock %ld\n",
            regions[i], ticks, check, mutex);
    assert_true(ticks > 0);
    if (i == 0) {
      /* At least 10 s of the 25 have the contention on, and then mutexLock
       * costs twice the search it belongs to. */
      assert_true(has_mutex && has_check);
      assert_true(mutex > ticks / 10);
    } else {
      assert_false(has_mutex);
      assert_false(has_check);
    }
    json_decref(j);
  }
}

int main(void) {
  if (!it_have("go")) {
    fprintf(stderr, "skipped: go is not installed (scripts/deps.sh --test installs it)\n");
    return 77;
  }
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_run_sh_stops_every_region_after_their_last_push),
      cmocka_unit_test(test_the_app_and_its_region_and_vehicle_labels_exist),
      cmocka_unit_test(test_order_car_is_the_widest_order),
      cmocka_unit_test(test_the_vehicle_label_selects_only_that_vehicles_orders),
      cmocka_unit_test(test_only_eu_north_shows_mutex_lock),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
