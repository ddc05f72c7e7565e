/* Tests for src/querier/labels.c: ProfileTypes, LabelNames, LabelValues,
 * Series and GetProfileStats on a real store, with and without a time
 * range and matchers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "querier/querier_fixture.h"

static fixture_t *fx;

static int setup(void **state) {
  fx = fixture_open();
  fixture_push(fx, "ride.cpu{region=eu-north,vehicle=car}", T0, "pyspy", 100, "samples",
               "main;a 5");
  fixture_push(fx, "ride.cpu{region=us-east}", T0 + 100, "pyspy", 100, "samples", "main;b 2");
  fixture_push(fx, "ride.cpu", T0 + 200, "pyspy", 100, "samples", "main;c 1");
  fixture_push(fx, "api.inuse_space{pod=p1}", T0 + 7200, "gospy", 100, "bytes", "main;m 64");
  return 0;
}

static int teardown(void **state) {
  fixture_close(fx);
  return 0;
}

/* The "names" of an answer joined by ','. */
static char *names(json_t *j, const char *field) {
  ember_buf_t b = EMBER_BUF_INIT;
  json_t *a = json_object_get(j, field);
  for (size_t i = 0; i < json_array_size(a); i++)
    ember_buf_printf(&b, "%s%s", i ? "," : "", json_string_value(json_array_get(a, i)));
  ember_buf_puts(&b, "");
  return ember_buf_take(&b, NULL);
}

static void expect_names(const char *method, const char *req, const char *want) {
  json_t *j = qcall(fx, method, req, 200);
  char *got = names(j, "names");
  assert_string_equal(got, want);
  free(got);
  json_decref(j);
}

static void test_labels_profile_types_of_every_app_once(void **state) {
  json_t *j = qcall(fx, "ProfileTypes", "{}", 200);
  json_t *types = json_object_get(j, "profileTypes");
  assert_int_equal(json_array_size(types), 3);
  assert_string_equal(json_string_value(json_object_get(json_array_get(types, 0), "ID")),
                      "memory:inuse_space:bytes:space:bytes");
  json_t *cpu = json_array_get(types, 1);
  assert_json_text(cpu, "{\"ID\":\"process_cpu:cpu:nanoseconds:cpu:nanoseconds\","
                        "\"name\":\"process_cpu\",\"sampleType\":\"cpu\",\"sampleUnit\":"
                        "\"nanoseconds\",\"periodType\":\"cpu\",\"periodUnit\":\"nanoseconds\"}");
  json_decref(j);
  /* The first hour holds ride's samples only. */
  j = qcall(fx, "ProfileTypes", "{\"start\":\"1700000000000\",\"end\":\"1700003600000\"}", 200);
  assert_int_equal(json_array_size(json_object_get(j, "profileTypes")), 2);
  json_decref(j);
  qerror(fx, "ProfileTypes", "{\"start\":\"1700003600000\",\"end\":\"1700000000000\"}", 400,
         "invalid_argument");
}

static void test_labels_names_add_the_derived_labels(void **state) {
  expect_names("LabelNames", "{}",
               "__name__,__period_type__,__period_unit__,__profile_type__,__type__,__unit__,"
               "pod,region,service_name,vehicle");
  expect_names("LabelNames", "{\"matchers\":[\"{service_name=\\\"ride\\\"}\"]}",
               "__name__,__period_type__,__period_unit__,__profile_type__,__type__,__unit__,"
               "region,service_name,vehicle");
  expect_names("LabelNames", "{\"matchers\":[\"{region=\\\"us-east\\\"}\"]}",
               "__name__,__period_type__,__period_unit__,__profile_type__,__type__,__unit__,"
               "region,service_name");
  /* Two selectors: the union. */
  expect_names("LabelNames",
               "{\"matchers\":[\"{__name__=\\\"memory\\\"}\",\"{vehicle=\\\"car\\\"}\"]}",
               "__name__,__period_type__,__period_unit__,__profile_type__,__type__,__unit__,"
               "pod,region,service_name,vehicle");
  qerror(fx, "LabelNames", "{\"matchers\":[\"region=\\\"x\\\"\"]}", 400, "invalid_argument");
}

static void test_labels_values_of_stored_and_derived_labels(void **state) {
  expect_names("LabelValues", "{\"name\":\"region\"}", "eu-north,us-east");
  expect_names("LabelValues", "{\"name\":\"service_name\"}", "api,ride");
  expect_names("LabelValues",
               "{\"name\":\"__profile_type__\",\"matchers\":[\"{service_name=\\\"ride\\\"}\"]}",
               "process_cpu:cpu:nanoseconds:cpu:nanoseconds,"
               "process_cpu:samples:count:cpu:nanoseconds");
  expect_names("LabelValues",
               "{\"name\":\"service_name\",\"start\":\"1700007000000\",\"end\":"
               "\"1700009000000\"}",
               "api");
  expect_names("LabelValues", "{\"name\":\"nothing\"}", "");
  qerror(fx, "LabelValues", "{}", 400, "invalid_argument");
  qerror(fx, "LabelValues", "{\"name\":\"a b\"}", 400, "invalid_argument");
}

/* The label sets of a Series answer, one per line, "k=v,k=v". */
static char *sets(json_t *j) {
  ember_buf_t b = EMBER_BUF_INIT;
  json_t *a = json_object_get(j, "labelsSet");
  for (size_t i = 0; i < json_array_size(a); i++) {
    json_t *l = json_object_get(json_array_get(a, i), "labels");
    for (size_t k = 0; k < json_array_size(l); k++)
      ember_buf_printf(&b, "%s%s=%s", k ? "," : "",
                       json_string_value(json_object_get(json_array_get(l, k), "name")),
                       json_string_value(json_object_get(json_array_get(l, k), "value")));
    ember_buf_putc(&b, '\n');
  }
  ember_buf_puts(&b, "");
  return ember_buf_take(&b, NULL);
}

static void expect_sets(const char *req, const char *want) {
  json_t *j = qcall(fx, "Series", req, 200);
  char *got = sets(j);
  assert_string_equal(got, want);
  free(got);
  json_decref(j);
}

static void test_labels_series_are_the_stored_label_sets(void **state) {
  expect_sets("{\"matchers\":[\"{service_name=\\\"ride\\\",__type__=\\\"samples\\\"}\"],"
              "\"labelNames\":[\"service_name\",\"region\",\"vehicle\",\"__type__\"]}",
              "__type__=samples,region=eu-north,service_name=ride,vehicle=car\n"
              "__type__=samples,region=us-east,service_name=ride\n"
              "__type__=samples,service_name=ride\n");
  /* Only the names asked for, each combination once. */
  expect_sets("{\"labelNames\":[\"service_name\"]}", "service_name=api\nservice_name=ride\n");
  expect_sets("{\"labelNames\":[\"region\"],\"matchers\":[\"{service_name=\\\"ride\\\"}\"]}",
              "\nregion=eu-north\nregion=us-east\n");
  /* In a range: the sets with samples in it. */
  expect_sets("{\"labelNames\":[\"region\",\"service_name\"],\"start\":\"1700000090000\","
              "\"end\":\"1700000300000\"}",
              "region=us-east,service_name=ride\nservice_name=ride\n");
}

static void test_labels_profile_stats_span_the_data(void **state) {
  json_t *j = qcall(fx, "GetProfileStats", "{}", 200);
  assert_json_text(j, "{\"dataIngested\":true,\"oldestProfileTime\":\"1700000000000\","
                      "\"newestProfileTime\":\"1700007200000\"}");
  json_decref(j);
}

static void test_labels_profile_stats_of_an_empty_store(void **state) {
  fixture_t *empty = fixture_open();
  json_t *j = qcall(empty, "GetProfileStats", "{}", 200);
  assert_json_text(j, "{}");
  json_decref(j);
  j = qcall(empty, "ProfileTypes", "{}", 200);
  assert_json_text(j, "{}");
  json_decref(j);
  fixture_close(empty);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_labels_profile_types_of_every_app_once),
      cmocka_unit_test(test_labels_names_add_the_derived_labels),
      cmocka_unit_test(test_labels_values_of_stored_and_derived_labels),
      cmocka_unit_test(test_labels_series_are_the_stored_label_sets),
      cmocka_unit_test(test_labels_profile_stats_span_the_data),
      cmocka_unit_test(test_labels_profile_stats_of_an_empty_store),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
