/* Tests for src/querier/timeseries.c: SelectSeries on a real store: steps,
 * group_by, limit, the average, and the sums against /render's
 * timeline. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "querier/querier_fixture.h"

#define SAMPLES "process_cpu:samples:count:cpu:nanoseconds"
#define CPU "process_cpu:cpu:nanoseconds:cpu:nanoseconds"
#define RANGE "\"start\":\"1700000000000\",\"end\":\"1700003600000\""

/* A time that is a multiple of 10, 20, 30 and 60 s (T0 is not). */
#define TB (T0 + 40)

static fixture_t *fx;

static int setup(void **state) {
  fx = fixture_open();
  fixture_push(fx, "ride.cpu{region=eu-north,vehicle=car}", TB, "pyspy", 100, "samples",
               "main;a 40");
  fixture_push(fx, "ride.cpu{region=eu-north,vehicle=bike}", TB + 10, "pyspy", 100, "samples",
               "main;a 20");
  fixture_push(fx, "ride.cpu{region=us-east,vehicle=car}", TB + 60, "pyspy", 100, "samples",
               "main;b 30");
  fixture_push(fx, "ride.cpu{vehicle=car}", TB + 70, "pyspy", 100, "samples", "main;c 7");
  fixture_push(fx, "api.cpu{region=eu-north}", TB, "gospy", 100, "samples", "main;d 3");
  return 0;
}

static int teardown(void **state) {
  fixture_close(fx);
  return 0;
}

/* Each series as "labels: t=v t=v" (t in seconds from TB), one a line. */
static char *series(json_t *j) {
  ember_buf_t b = EMBER_BUF_INIT;
  json_t *all = json_object_get(j, "series");
  for (size_t i = 0; i < json_array_size(all); i++) {
    json_t *s = json_array_get(all, i), *l = json_object_get(s, "labels");
    for (size_t k = 0; k < json_array_size(l); k++)
      ember_buf_printf(&b, "%s%s=%s", k ? "," : "",
                       json_string_value(json_object_get(json_array_get(l, k), "name")),
                       json_string_value(json_object_get(json_array_get(l, k), "value")));
    ember_buf_puts(&b, ":");
    json_t *pts = json_object_get(s, "points");
    for (size_t k = 0; k < json_array_size(pts); k++) {
      json_t *p = json_array_get(pts, k);
      ember_buf_printf(&b, " %lld=%g", qint(json_object_get(p, "timestamp")) / 1000 - TB,
                       json_number_value(json_object_get(p, "value")));
    }
    ember_buf_putc(&b, '\n');
  }
  ember_buf_puts(&b, "");
  return ember_buf_take(&b, NULL);
}

static void expect_series(const char *req, const char *want) {
  json_t *j = qcall(fx, "SelectSeries", req, 200);
  char *got = series(j);
  if (strcmp(got, want)) fail_msg("got\n%swant\n%s", got, want);
  free(got);
  json_decref(j);
}

static void test_series_sums_each_step(void **state) {
  expect_series("{\"profileTypeID\":\"" SAMPLES "\",\"labelSelector\":"
                "\"{service_name=\\\"ride\\\"}\"," RANGE ",\"step\":30}",
                ": 0=60 60=37\n");
  /* A step that is no multiple of 10 s is rounded up to one. */
  expect_series("{\"profileTypeID\":\"" SAMPLES "\",\"labelSelector\":"
                "\"{service_name=\\\"ride\\\"}\"," RANGE ",\"step\":5}",
                ": 0=40 10=20 60=30 70=7\n");
  expect_series("{\"profileTypeID\":\"" CPU "\",\"labelSelector\":"
                "\"{service_name=\\\"ride\\\"}\"," RANGE ",\"step\":3600}",
                ": -840=9.7e+08\n");
}

static void test_series_group_by_splits_the_whole(void **state) {
  expect_series("{\"profileTypeID\":\"" SAMPLES "\",\"labelSelector\":"
                "\"{service_name=\\\"ride\\\"}\"," RANGE ",\"step\":60,\"groupBy\":[\"region\"]}",
                ": 60=7\nregion=eu-north: 0=60\nregion=us-east: 60=30\n");
  expect_series("{\"profileTypeID\":\"" SAMPLES "\"," RANGE
                ",\"step\":3600,\"groupBy\":[\"service_name\",\"vehicle\"]}",
                "service_name=api: -840=3\nservice_name=ride,vehicle=bike: -840=20\n"
                "service_name=ride,vehicle=car: -840=77\n");
  expect_series("{\"profileTypeID\":\"" SAMPLES "\"," RANGE
                ",\"step\":3600,\"groupBy\":[\"region\"],\"limit\":\"1\"}",
                "region=eu-north: -840=63\n");
}

static void test_series_sum_matches_the_render_timeline(void **state) {
  ember_render_params_t p = {.query = "ride.cpu{}", .from = "1700000000",
                             .until = "1700003599", .now = T0 + 3600};
  ember_query_out_t out = {EMBER_BUF_INIT, NULL, ""};
  ember_err_t err;
  assert_int_equal(ember_query_render(fx->store, &p, &out, &err), 0);
  json_t *r = fixture_json(&out);
  json_t *samples = json_object_get(json_object_get(r, "timeline"), "samples");
  json_t *j = qcall(fx, "SelectSeries",
                    "{\"profileTypeID\":\"" SAMPLES "\",\"labelSelector\":"
                    "\"{service_name=\\\"ride\\\"}\"," RANGE ",\"step\":10}",
                    200);
  json_t *pts = json_object_get(json_array_get(json_object_get(j, "series"), 0), "points");
  size_t k = 0;
  for (size_t i = 0; i < json_array_size(samples); i++) {
    long long v = json_integer_value(json_array_get(samples, i));
    if (!v) continue;
    json_t *pt = json_array_get(pts, k++);
    assert_int_equal(qint(json_object_get(pt, "timestamp")) / 1000, T0 + 10 * (long long)i);
    assert_true(json_number_value(json_object_get(pt, "value")) == (double)(v - 1));
  }
  assert_int_equal(k, json_array_size(pts));
  json_decref(j);
  json_decref(r);
  ember_buf_free(&out.body);
}

static void test_series_average_divides_by_buckets_with_samples(void **state) {
  expect_series("{\"profileTypeID\":\"" SAMPLES "\",\"labelSelector\":"
                "\"{service_name=\\\"ride\\\",region=\\\"eu-north\\\"}\"," RANGE
                ",\"step\":60,\"aggregation\":\"TIME_SERIES_AGGREGATION_TYPE_AVERAGE\"}",
                ": 0=30\n");
}

static void test_series_refuses_bad_steps_and_features(void **state) {
  const char *msg = qerror(fx, "SelectSeries", "{\"profileTypeID\":\"" SAMPLES "\"," RANGE "}",
                           400, "invalid_argument");
  assert_non_null(strstr(msg, "step"));
  qerror(fx, "SelectSeries", "{\"profileTypeID\":\"" SAMPLES "\"," RANGE ",\"step\":-1}", 400,
         "invalid_argument");
  qerror(fx, "SelectSeries", "{\"profileTypeID\":\"" SAMPLES "\"," RANGE ",\"step\":\"NaN\"}",
         400, "invalid_argument");
  msg = qerror(fx, "SelectSeries",
               "{\"profileTypeID\":\"" SAMPLES "\",\"start\":\"0\",\"end\":"
               "\"1700000000000\",\"step\":10}",
               400, "invalid_argument");
  assert_non_null(strstr(msg, "points"));
  qerror(fx, "SelectSeries",
         "{\"profileTypeID\":\"" SAMPLES "\"," RANGE ",\"step\":10,\"groupBy\":[\"a b\"]}", 400,
         "invalid_argument");
  qerror(fx, "SelectSeries",
         "{\"profileTypeID\":\"" SAMPLES "\"," RANGE
         ",\"step\":10,\"exemplarType\":\"EXEMPLAR_TYPE_SPAN\"}",
         501, "unimplemented");
  qerror(fx, "SelectSeries",
         "{\"profileTypeID\":\"" SAMPLES "\"," RANGE
         ",\"step\":10,\"stackTraceSelector\":{\"callSite\":[{\"name\":\"main\"}]}}",
         501, "unimplemented");
  qerror(fx, "SelectSeries",
         "{\"profileTypeID\":\"" SAMPLES "\"," RANGE ",\"step\":10,\"aggregation\":7}", 400,
         "invalid_argument");
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_series_sums_each_step),
      cmocka_unit_test(test_series_group_by_splits_the_whole),
      cmocka_unit_test(test_series_sum_matches_the_render_timeline),
      cmocka_unit_test(test_series_average_divides_by_buckets_with_samples),
      cmocka_unit_test(test_series_refuses_bad_steps_and_features),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
