/* Tests for src/ingest/pprof_types.c: the sample type table,
 * sample_type_config, rates from periods and app name suffixes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ingest/ingest_int.h"
#include "ingest/ingest_test_util.h"

static void assert_contains(const char *hay, const char *needle) {
  if (!strstr(hay, needle)) fail_msg("'%s' does not contain '%s'", hay, needle);
}

static pprof_config_t config_ok(const char *json) {
  pprof_config_t c;
  ember_err_t err;
  if (pprof_config_parse((const uint8_t *)json, strlen(json), &c, &err))
    fail_msg("%s", err.msg);
  return c;
}

static const char *config_error(const char *json) {
  static ember_err_t err;
  pprof_config_t c = {NULL, 77};
  int rc = pprof_config_parse((const uint8_t *)json, strlen(json), &c, &err);
  if (rc != EMBER_EPARSE) fail_msg("gave %d (%s), want EMBER_EPARSE", rc, err.msg);
  assert_int_equal(c.n, 77);
  return err.msg;
}

/* "suffix units agg cumulative" for a type. Static buffer. */
static const char *resolve(const pprof_config_t *cfg, const char *type,
                           const char *unit) {
  static char out[256];
  pprof_type_t t;
  ember_err_t err;
  if (pprof_type_resolve(cfg, type, unit, &t, &err)) fail_msg("%s", err.msg);
  assert_string_equal(t.type, type);
  snprintf(out, sizeof out, "%s %s %s%s", t.suffix, t.units,
           t.aggregation == EMBER_AGG_AVERAGE ? "average" : "sum",
           t.cumulative ? " cumulative" : "");
  pprof_type_free(&t);
  return out;
}

static void test_pprof_types_table_covers_go_and_node_types(void **state) {
  assert_string_equal(resolve(NULL, "samples", "count"), "cpu samples sum");
  assert_string_equal(resolve(NULL, "cpu", "nanoseconds"), "cpu nanoseconds sum");
  assert_string_equal(resolve(NULL, "wall", "microseconds"), "wall microseconds sum");
  assert_string_equal(resolve(NULL, "inuse_objects", "count"),
                      "inuse_objects objects average");
  assert_string_equal(resolve(NULL, "inuse_space", "bytes"), "inuse_space bytes average");
  assert_string_equal(resolve(NULL, "alloc_objects", "count"),
                      "alloc_objects objects sum cumulative");
  assert_string_equal(resolve(NULL, "alloc_space", "bytes"),
                      "alloc_space bytes sum cumulative");
  assert_string_equal(resolve(NULL, "goroutine", "count"),
                      "goroutines goroutines average");
  assert_string_equal(resolve(NULL, "contentions", "count"),
                      "mutex_count lock_samples sum cumulative");
  assert_string_equal(resolve(NULL, "delay", "nanoseconds"),
                      "mutex_duration lock_nanoseconds sum cumulative");
}

static void test_pprof_types_keeps_unknown_types_with_their_unit(void **state) {
  assert_string_equal(resolve(NULL, "exceptions", "count"), "exceptions count sum");
  assert_string_equal(resolve(NULL, "exceptions", ""), "exceptions samples sum");
  assert_string_equal(resolve(NULL, "x", "bad\tunit"), "x samples sum");
  pprof_type_t t;
  ember_err_t err;
  assert_int_equal(pprof_type_resolve(NULL, "a/b", "count", &t, &err), EMBER_EPARSE);
  assert_contains(err.msg, "sample type 'a/b' cannot name an app");
  assert_int_equal(pprof_type_resolve(NULL, "", "count", &t, &err), EMBER_EPARSE);
}

static void test_pprof_types_config_overrides_field_by_field(void **state) {
  pprof_config_t c = config_ok(
      "{\"alloc_space\":{\"units\":\"megabytes\",\"cumulative\":false},"
      "\"contentions\":{\"display-name\":\"block_count\"},"
      "\"samples\":{\"aggregation\":\"avg\",\"sampled\":true,\"other\":[1,2]},"
      "\"x\":{\"display-name\":\"\"}}");
  assert_int_equal(c.n, 4);
  assert_string_equal(resolve(&c, "alloc_space", "bytes"), "alloc_space megabytes sum");
  assert_string_equal(resolve(&c, "contentions", "count"),
                      "block_count lock_samples sum cumulative");
  assert_string_equal(resolve(&c, "samples", "count"), "cpu samples average");
  assert_string_equal(resolve(&c, "x", "count"), "x count sum"); /* empty name: none */
  assert_null(pprof_config_get(&c, "wall"));
  assert_null(pprof_config_get(NULL, "wall"));
  pprof_config_free(&c);
  pprof_config_free(NULL);
}

static void test_pprof_types_config_errors_say_what_is_wrong(void **state) {
  assert_contains(config_error("{\"a\": "), "sample_type_config: not valid JSON");
  assert_contains(config_error("[1]"), "expected a JSON object keyed by sample type");
  assert_contains(config_error("{\"a\":1}"), "the settings of 'a' must be an object");
  assert_contains(config_error("{\"a\":{\"units\":7}}"), "'a'.'units' must be a string");
  assert_contains(config_error("{\"a\":{\"units\":\"\"}}"), "units of 'a' must be 1 to 64");
  assert_contains(config_error("{\"a\":{\"aggregation\":\"max\"}}"),
                  "aggregation of 'a' must be \"sum\" or \"average\", got \"max\"");
  assert_contains(config_error("{\"a\":{\"cumulative\":\"yes\"}}"),
                  "cumulative of 'a' must be true or false");
  assert_contains(config_error("{\"a\":{},\"a\":{}}"), "not valid JSON");
}

static void test_pprof_types_rate_comes_from_time_periods(void **state) {
  assert_int_equal(pprof_rate_from_period("nanoseconds", 10000000), 100);
  assert_int_equal(pprof_rate_from_period("nanoseconds", 16753000), 60);
  assert_int_equal(pprof_rate_from_period("microseconds", 10000), 100);
  assert_int_equal(pprof_rate_from_period("milliseconds", 1), 1000);
  assert_int_equal(pprof_rate_from_period("seconds", 1), 1);
  assert_int_equal(pprof_rate_from_period("nanoseconds", 1), 1000000000);
  assert_int_equal(pprof_rate_from_period("seconds", 600), 1); /* never 0 */
  assert_int_equal(pprof_rate_from_period("nanoseconds", INT64_MAX), 1);
  assert_int_equal(pprof_rate_from_period("bytes", 524288), 0);
  assert_int_equal(pprof_rate_from_period("nanoseconds", 0), 0);
  assert_int_equal(pprof_rate_from_period("nanoseconds", -5), 0);
}

static void test_pprof_types_strips_one_known_suffix(void **state) {
  assert_int_equal(pprof_app_base_len("app.cpu"), 3);
  assert_int_equal(pprof_app_base_len("a.b.alloc_space"), 3);
  assert_int_equal(pprof_app_base_len("app.mutex_duration"), 3);
  assert_int_equal(pprof_app_base_len("app.cpu.cpu"), 7);
  assert_int_equal(pprof_app_base_len("app"), 3);
  assert_int_equal(pprof_app_base_len("app.cpux"), 8);
  assert_int_equal(pprof_app_base_len("appcpu"), 6);
  assert_int_equal(pprof_app_base_len(".cpu"), 4);
  assert_int_equal(pprof_app_base_len("cpu"), 3);
}

/* A 10 MB config of small numbers: jansson builds some 80 times its size
 * in values (810 MB) before anything could look at them. */
static bool big_config_is_refused(void *arg) {
  const ember_buf_t *json = arg;
  pprof_config_t cfg;
  ember_err_t err;
  int rc = pprof_config_parse((const uint8_t *)json->data, json->len, &cfg, &err);
  if (rc == 0) pprof_config_free(&cfg);
  return rc == EMBER_ETOOBIG &&
         !strcmp(err.msg, "sample_type_config: 10485762 bytes is over this field's limit "
                          "of 64 KiB; send only the settings of the sample types the "
                          "profile has");
}

static void test_pprof_types_config_has_a_small_cap_of_its_own(void **state) {
  ember_buf_t json = EMBER_BUF_INIT;
  ember_buf_putc(&json, '[');
  for (int i = 0; i < 5242880; i++)
    ember_buf_puts(&json, i ? ",1" : "1 ");
  ember_buf_putc(&json, ']');
  assert_int_equal(json.len, 10485762);
  assert_true(run_bounded(big_config_is_refused, &json, 64, 10));
  /* 64 KiB exactly is read. */
  ember_buf_reset(&json);
  ember_buf_puts(&json, "{\"alloc_space\": {\"units\": \"bytes\"}");
  while (json.len < PPROF_CONFIG_MAX - 1)
    ember_buf_putc(&json, ' ');
  ember_buf_putc(&json, '}');
  pprof_config_t cfg = config_ok(json.data);
  assert_int_equal(cfg.n, 1);
  pprof_config_free(&cfg);
  ember_buf_putc(&json, ' ');
  assert_int_equal(pprof_config_parse((const uint8_t *)json.data, json.len, &cfg, NULL),
                   EMBER_ETOOBIG);
  ember_buf_free(&json);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_pprof_types_table_covers_go_and_node_types),
      cmocka_unit_test(test_pprof_types_keeps_unknown_types_with_their_unit),
      cmocka_unit_test(test_pprof_types_config_overrides_field_by_field),
      cmocka_unit_test(test_pprof_types_config_errors_say_what_is_wrong),
      cmocka_unit_test(test_pprof_types_rate_comes_from_time_periods),
      cmocka_unit_test(test_pprof_types_strips_one_known_suffix),
      cmocka_unit_test(test_pprof_types_config_has_a_small_cap_of_its_own),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
