/* Tests for src/query/labels.c: /labels, /label-values and /api/apps
 * against a real store in a temporary directory. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "query/store_fixture.h"

static int setup(void **state) {
  fixture_t *f = fixture_open();
  fixture_push(f, "app.cpu{region=eu-north,vehicle=car}", T0, "pyspy", 100,
               "samples", "a 1");
  fixture_push(f, "app.cpu{region=us-east,vehicle=bike}", T0, "pyspy", 100,
               "samples", "a 1");
  fixture_push(f, "app.cpu{region=ap-south}", T0, "pyspy", 100, "samples", "a 1");
  fixture_push(f, "app.alloc{host=h1}", T0, "gospy", 97, "bytes", "m 1");
  *state = f;
  return 0;
}

static int teardown(void **state) {
  fixture_close(*state);
  return 0;
}

/* The JSON body of a successful call, as compact text. */
static void assert_body(int rc, ember_query_out_t *out, const ember_err_t *err,
                        const char *want) {
  if (rc) fprintf(stderr, "error: %s\n", err->msg);
  assert_int_equal(rc, 0);
  json_t *j = fixture_json(out);
  assert_json_text(j, want);
  json_decref(j);
  ember_buf_free(&out->body);
}

static void assert_fails(int rc, const ember_err_t *err, const char *want) {
  assert_int_equal(rc, EMBER_EINVAL);
  if (!strstr(err->msg, want)) fprintf(stderr, "message: %s\n", err->msg);
  assert_non_null(strstr(err->msg, want));
}

static void test_labels_lists_name_first_then_the_keys(void **state) {
  fixture_t *f = *state;
  ember_query_out_t out;
  ember_err_t err;
  int rc = ember_query_labels(f->store, "app.cpu{}", &out, &err);
  assert_body(rc, &out, &err, "[\"__name__\",\"region\",\"vehicle\"]");
  rc = ember_query_labels(f->store, "app.cpu{vehicle=\"\"}", &out, &err);
  assert_body(rc, &out, &err, "[\"__name__\",\"region\"]");
}

static void test_labels_of_an_unknown_app_is_only_the_name(void **state) {
  fixture_t *f = *state;
  ember_query_out_t out;
  ember_err_t err;
  int rc = ember_query_labels(f->store, "nobody.cpu{}", &out, &err);
  assert_body(rc, &out, &err, "[\"__name__\"]");
}

static void test_labels_requires_a_valid_query(void **state) {
  fixture_t *f = *state;
  ember_query_out_t out;
  ember_err_t err;
  assert_fails(ember_query_labels(f->store, NULL, &out, &err), &err,
               "missing 'query' parameter, e.g. query=myapp.cpu{}");
  assert_fails(ember_query_labels(f->store, "app.cpu{", &out, &err), &err, "query: ");
}

static void test_label_values_lists_sorted_values(void **state) {
  fixture_t *f = *state;
  ember_query_out_t out;
  ember_err_t err;
  int rc = ember_query_label_values(f->store, "region", "app.cpu{}", &out, &err);
  assert_body(rc, &out, &err, "[\"ap-south\",\"eu-north\",\"us-east\"]");
  rc = ember_query_label_values(f->store, "region", "app.cpu{vehicle=\"car\"}", &out,
                                &err);
  assert_body(rc, &out, &err, "[\"eu-north\"]");
  rc = ember_query_label_values(f->store, "region", "nobody.cpu{}", &out, &err);
  assert_body(rc, &out, &err, "[]");
}

static void test_label_values_of_name_lists_every_app(void **state) {
  fixture_t *f = *state;
  ember_query_out_t out;
  ember_err_t err;
  int rc = ember_query_label_values(f->store, "__name__", NULL, &out, &err);
  assert_body(rc, &out, &err, "[\"app.alloc\",\"app.cpu\"]");
}

static void test_label_values_requires_a_label_and_a_query(void **state) {
  fixture_t *f = *state;
  ember_query_out_t out;
  ember_err_t err;
  assert_fails(ember_query_label_values(f->store, NULL, "app.cpu{}", &out, &err), &err,
               "missing 'label' parameter");
  assert_fails(ember_query_label_values(f->store, "", "app.cpu{}", &out, &err), &err,
               "missing 'label' parameter");
  assert_fails(ember_query_label_values(f->store, "region", NULL, &out, &err), &err,
               "missing 'query' parameter");
  assert_fails(ember_query_label_values(f->store, "re gion", "app.cpu{}", &out, &err),
               &err, "not a valid label key");
}

static void test_apps_lists_every_app_with_its_metadata(void **state) {
  fixture_t *f = *state;
  ember_query_out_t out;
  ember_err_t err;
  int rc = ember_query_apps(f->store, &out, &err);
  assert_body(rc, &out, &err,
              "[{\"name\":\"app.alloc\",\"spyName\":\"gospy\",\"sampleRate\":97,"
              "\"units\":\"bytes\",\"aggregationType\":\"sum\"},"
              "{\"name\":\"app.cpu\",\"spyName\":\"pyspy\",\"sampleRate\":100,"
              "\"units\":\"samples\",\"aggregationType\":\"sum\"}]");
}

int main(void) {
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
  const struct CMUnitTest tests[] = {
      T(test_labels_lists_name_first_then_the_keys),
      T(test_labels_of_an_unknown_app_is_only_the_name),
      T(test_labels_requires_a_valid_query),
      T(test_label_values_lists_sorted_values),
      T(test_label_values_of_name_lists_every_app),
      T(test_label_values_requires_a_label_and_a_query),
      T(test_apps_lists_every_app_with_its_metadata),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
