/* Tests for src/querier/select.c: label selectors split into the labels
 * Ember derives and the stored ones, targets, and the combinations of
 * label values found key by key. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "querier/querier_int.h"
#include "query/store_fixture.h"

static fixture_t *fx;

static int setup(void **state) {
  fx = fixture_open();
  fixture_push(fx, "ride.cpu{region=eu-north,vehicle=car}", T0, "pyspy", 100, "samples",
               "main;a 5");
  fixture_push(fx, "ride.cpu{region=eu-north}", T0, "pyspy", 100, "samples", "main;a 1");
  fixture_push(fx, "ride.cpu", T0, "pyspy", 100, "samples", "main;a 1");
  fixture_push(fx, "api.alloc_space{vehicle=bike}", T0, "gospy", 100, "bytes", "main;b 8");
  return 0;
}

static int teardown(void **state) {
  fixture_close(fx);
  return 0;
}

static void test_select_splits_derived_from_stored_labels(void **state) {
  q_select_t qs;
  ember_err_t err;
  assert_int_equal(q_select_parse("label_selector",
                                  "{service_name=\"ride\", region=~\"eu.*\", __name__!=\"x\"}",
                                  &qs, &err),
                   0);
  assert_int_equal(qs.virt.n, 2);
  assert_string_equal(qs.virt.matchers[0].key, "service_name");
  assert_string_equal(qs.virt.matchers[1].key, "__name__");
  assert_int_equal(qs.stored.n, 1);
  assert_string_equal(qs.stored.matchers[0].key, "region");
  assert_non_null(qs.stored.matchers[0].re);
  q_select_free(&qs);
  assert_int_equal(q_select_parse("matchers", "", &qs, &err), 0);
  assert_int_equal(qs.virt.n + qs.stored.n, 0);
  q_select_free(&qs);
  assert_int_equal(q_select_parse("matchers", "app{}", &qs, &err), EMBER_EINVAL);
  assert_non_null(strstr(err.msg, "matchers: expected '{'"));
  assert_int_equal(q_select_parse("matchers", "{a=~\"x{0,9999}\"}", &qs, &err), EMBER_EINVAL);
  assert_non_null(strstr(err.msg, "matchers: the regular expression"));
}

static void test_select_resolves_apps_by_derived_labels(void **state) {
  q_select_t qs;
  ember_err_t err;
  ember_store_reader_t *r;
  assert_int_equal(ember_store_reader_open(fx->store, &r, &err), 0);
  assert_int_equal(q_select_parse("s", "{__unit__=\"bytes\"}", &qs, &err), 0);
  assert_int_equal(q_select_resolve(r, NULL, &qs, &err), 0);
  assert_int_equal(qs.n, 1);
  assert_string_equal(qs.items[0].app.name, "api.alloc_space");
  assert_string_equal(qs.items[0].service, "api");
  q_select_free(&qs);
  assert_int_equal(q_select_parse("s", "{service_name=~\"r.*\"}", &qs, &err), 0);
  assert_int_equal(q_select_resolve(r, NULL, &qs, &err), 0);
  assert_int_equal(qs.n, 2); /* ride.cpu as nanoseconds and as samples */
  ember_selector_t s = q_target_selector(&qs, 0, NULL, 0);
  assert_string_equal(s.app, "ride.cpu");
  free(s.matchers);
  q_select_free(&qs);
  assert_int_equal(q_select_parse("s", "{}", &qs, &err), 0);
  assert_int_equal(q_select_resolve(r, "process_cpu:samples:count:cpu:nanoseconds", &qs, &err),
                   0);
  assert_int_equal(qs.n, 1);
  assert_int_equal(qs.items[0].type.scale, 1);
  q_select_free(&qs);
  ember_store_reader_close(r);
}

static int collect(void *ctx, const ember_selector_t *narrowed, const ember_label_t *labels,
                   size_t n, ember_err_t *err) {
  ember_buf_t *b = ctx;
  ember_buf_putc(b, '{');
  for (size_t i = 0; i < n; i++)
    ember_buf_printf(b, "%s%s=%s", i ? "," : "", labels[i].key, labels[i].value);
  ember_buf_putc(b, '}');
  return 0;
}

static void test_select_combinations_are_the_label_sets(void **state) {
  ember_store_reader_t *r;
  ember_err_t err;
  assert_int_equal(ember_store_reader_open(fx->store, &r, &err), 0);
  ember_selector_t sel = {"ride.cpu", NULL, 0};
  char *keys[] = {"region", "vehicle"};
  ember_buf_t b = EMBER_BUF_INIT;
  assert_int_equal(q_combinations(r, &sel, keys, 2, true, collect, &b, &err), 0);
  assert_string_equal(b.data, "{region=eu-north,vehicle=car}{region=eu-north}{}");
  ember_buf_reset(&b);
  /* Not exact: a combination of absent values no series has comes too. */
  ember_matcher_t car = {"vehicle", "car", EMBER_MATCH_EQ, NULL};
  ember_selector_t cars = {"ride.cpu", &car, 1};
  assert_int_equal(q_combinations(r, &cars, keys, 1, true, collect, &b, &err), 0);
  assert_string_equal(b.data, "{region=eu-north}");
  ember_buf_reset(&b);
  assert_int_equal(q_combinations(r, &cars, keys, 1, false, collect, &b, &err), 0);
  assert_string_equal(b.data, "{region=eu-north}{}");
  ember_buf_reset(&b);
  assert_int_equal(q_combinations(r, &sel, keys + 1, 1, true, collect, &b, &err), 0);
  assert_string_equal(b.data, "{vehicle=car}{}");
  ember_buf_free(&b);
  ember_store_reader_close(r);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_select_splits_derived_from_stored_labels),
      cmocka_unit_test(test_select_resolves_apps_by_derived_labels),
      cmocka_unit_test(test_select_combinations_are_the_label_sets),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
