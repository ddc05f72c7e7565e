/* Tests for src/ingest/push.c: a push.v1 push's series to profiles. The
 * naming rules (service_name, else __name__; "__" labels dropped), the
 * profile's own times, the limits of the push as a whole, and errors that
 * say which series and profile they are about. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ember/ingest.h"
#include "ingest/pprof_test_util.h"

#define NOW 1700000100

/* A CPU profile (samples, cpu) of one stack main;work, taken at t seconds
 * for 10 s (t 0: no time), with a string label when label is set. */
static uint8_t *cpu_profile(int64_t t, const char *label, size_t *len) {
  pb_t b;
  pb_init(&b);
  pb_type(&b, "samples", "count");
  pb_type(&b, "cpu", "nanoseconds");
  pb_period(&b, "cpu", "nanoseconds", 10000000);
  b.p.time_nanos = t * 1000000000;
  b.p.duration_nanos = t ? 10 * INT64_C(1000000000) : 0;
  uint64_t fmain = pb_func(&b, "main", "main.go"), fwork = pb_func(&b, "work", "main.go");
  uint64_t locs[2] = {pb_loc1(&b, fwork), pb_loc1(&b, fmain)};
  int64_t values[2] = {7, 70000000};
  const char *labels[] = {label, NULL};
  pb_sample(&b, 2, locs, values, label ? labels : NULL);
  uint8_t *out = pb_pack(&b, len);
  pb_free(&b);
  return out;
}

typedef struct {
  ember_ingest_label_t labels[8];
  ember_ingest_raw_t raw[2];
  ember_ingest_series_t series;
} series_t;

/* A series of "k=v" labels (NULL-terminated) and one or two profiles. */
static void series_init(series_t *s, const char *const *labels, const uint8_t *p1, size_t l1,
                        const uint8_t *p2, size_t l2) {
  memset(s, 0, sizeof *s);
  size_t n = 0;
  for (; labels[n]; n++) {
    char *kv = strdup(labels[n]), *eq = strchr(kv, '=');
    *eq = '\0';
    s->labels[n] = (ember_ingest_label_t){kv, eq + 1};
  }
  s->raw[0] = (ember_ingest_raw_t){p1, l1};
  s->raw[1] = (ember_ingest_raw_t){p2, l2};
  s->series = (ember_ingest_series_t){s->labels, n, s->raw, p2 ? 2 : 1};
}

static void series_free(series_t *s) {
  for (size_t i = 0; i < s->series.nlabels; i++)
    free((char *)s->labels[i].name);
}

static int push(const series_t *s, size_t n, const ember_ingest_limits_t *lim,
                ember_ingest_result_t *res, ember_err_t *err) {
  ember_ingest_series_t all[4];
  for (size_t i = 0; i < n; i++)
    all[i] = s[i].series;
  ember_ingest_push_t req = {all, n, (size_t)1 << 20, NOW, {0}, NULL};
  if (lim) req.limits = *lim;
  return ember_ingest_push(&req, res, err);
}

static void test_push_names_the_app_by_service_name_and_drops_pyroscope_labels(void **state) {
  size_t len;
  uint8_t *p = cpu_profile(1700000000, "vehicle=car", &len);
  series_t s;
  const char *labels[] = {"__name__=process_cpu", "service_name=shop", "env=prod",
                          "__delta__=false", NULL};
  series_init(&s, labels, p, len, NULL, 0);
  ember_ingest_result_t res;
  ember_err_t err;
  assert_int_equal(push(&s, 1, NULL, &res, &err), 0);
  assert_int_equal(res.n, 1);
  char *dump = result_dump(&res);
  assert_string_equal(dump, "shop.cpu{env=prod,vehicle=car} main;work 7\n");
  free(dump);
  /* The profile's own times, and the rate of its period. */
  assert_int_equal(res.items[0].from, 1700000000);
  assert_int_equal(res.items[0].until, 1700000010);
  assert_int_equal(res.items[0].sample_rate, 100);
  ember_ingest_result_free(&res);
  series_free(&s);
  free(p);
}

static void test_push_drops_reserved_labels_of_the_samples_too(void **state) {
  size_t len;
  uint8_t *p = cpu_profile(1700000000, "__span_id=9f", &len);
  series_t s;
  const char *labels[] = {"service_name=shop", NULL};
  series_init(&s, labels, p, len, NULL, 0);
  ember_ingest_result_t res;
  ember_err_t err;
  assert_int_equal(push(&s, 1, NULL, &res, &err), 0);
  char *dump = result_dump(&res);
  assert_string_equal(dump, "shop.cpu{} main;work 7\n");
  free(dump);
  ember_ingest_result_free(&res);
  series_free(&s);
  free(p);
}

static void test_push_falls_back_to_name_and_to_now(void **state) {
  size_t len;
  uint8_t *p = cpu_profile(0, NULL, &len);
  series_t s;
  const char *labels[] = {"__name__=legacy.cpu", NULL};
  series_init(&s, labels, p, len, NULL, 0);
  ember_ingest_result_t res;
  ember_err_t err;
  assert_int_equal(push(&s, 1, NULL, &res, &err), 0);
  char *dump = result_dump(&res);
  assert_string_equal(dump, "legacy.cpu{} main;work 7\n"); /* not legacy.cpu.cpu */
  free(dump);
  assert_int_equal(res.items[0].from, NOW);
  assert_int_equal(res.items[0].until, NOW);
  ember_ingest_result_free(&res);
  series_free(&s);
  free(p);
}

static void test_push_refuses_a_series_ember_cannot_name(void **state) {
  size_t len;
  uint8_t *p = cpu_profile(1700000000, NULL, &len);
  ember_ingest_result_t res = {.n = 77};
  ember_err_t err;
  series_t s[2];
  const char *ok[] = {"service_name=a", NULL};
  const char *none[] = {"env=prod", "__name__=", NULL};
  series_init(&s[0], ok, p, len, NULL, 0);
  series_init(&s[1], none, p, len, NULL, 0);
  assert_int_equal(push(s, 2, NULL, &res, &err), EMBER_EINVAL);
  assert_non_null(strstr(err.msg, "series 2: no service_name label"));
  series_free(&s[1]);
  const char *slash[] = {"service_name=ns/app", NULL};
  series_init(&s[1], slash, p, len, NULL, 0);
  assert_int_equal(push(s, 2, NULL, &res, &err), EMBER_EINVAL);
  assert_non_null(strstr(err.msg, "cannot be an app name"));
  series_free(&s[1]);
  const char *comma[] = {"service_name=b", "route=/a,b", NULL};
  series_init(&s[1], comma, p, len, NULL, 0);
  assert_int_equal(push(s, 2, NULL, &res, &err), EMBER_EINVAL);
  assert_non_null(strstr(err.msg, "series 2:"));
  assert_int_equal(res.n, 77); /* nothing written */
  series_free(&s[1]);
  series_free(&s[0]);
  free(p);
}

static void test_push_names_the_profile_that_cannot_be_read(void **state) {
  size_t len;
  uint8_t *p = cpu_profile(1700000000, NULL, &len);
  ember_ingest_result_t res;
  ember_err_t err;
  series_t s;
  const char *labels[] = {"service_name=a", NULL};
  series_init(&s, labels, p, len, (const uint8_t *)"junk", 4);
  assert_int_equal(push(&s, 1, NULL, &res, &err), EMBER_EPARSE);
  assert_non_null(strstr(err.msg, "series 1, profile 2: profile:"));
  series_free(&s);
  free(p);
  /* A profile from the future is refused like a push's until. */
  p = cpu_profile(NOW + 3600, NULL, &len);
  series_init(&s, labels, p, len, NULL, 0);
  assert_int_equal(push(&s, 1, NULL, &res, &err), EMBER_ERANGE);
  assert_non_null(strstr(err.msg, "time_nanos"));
  series_free(&s);
  free(p);
}

static void test_push_counts_its_limits_over_every_series(void **state) {
  size_t len;
  uint8_t *p = cpu_profile(1700000000, NULL, &len);
  series_t s[3];
  char names[3][32];
  for (int i = 0; i < 3; i++) {
    snprintf(names[i], sizeof names[i], "service_name=app%d", i);
    const char *labels[] = {names[i], NULL};
    series_init(&s[i], labels, p, len, NULL, 0);
  }
  ember_ingest_result_t res;
  ember_err_t err;
  ember_ingest_limits_t series = {.max_series = 2};
  assert_int_equal(push(s, 3, &series, &res, &err), EMBER_ELIMIT);
  assert_non_null(strstr(err.msg, "--max-series-per-push"));
  ember_ingest_limits_t apps = {.max_apps = 2};
  assert_int_equal(push(s, 3, &apps, &res, &err), EMBER_ELIMIT);
  assert_non_null(strstr(err.msg, "--max-apps-per-push"));
  assert_int_equal(push(s, 3, NULL, &res, &err), 0);
  assert_int_equal(res.n, 3);
  assert_true(res.mem_bytes > 0);
  ember_ingest_result_free(&res);
  for (int i = 0; i < 3; i++)
    series_free(&s[i]);
  free(p);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_push_names_the_app_by_service_name_and_drops_pyroscope_labels),
      cmocka_unit_test(test_push_drops_reserved_labels_of_the_samples_too),
      cmocka_unit_test(test_push_falls_back_to_name_and_to_now),
      cmocka_unit_test(test_push_refuses_a_series_ember_cannot_name),
      cmocka_unit_test(test_push_names_the_profile_that_cannot_be_read),
      cmocka_unit_test(test_push_counts_its_limits_over_every_series),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
