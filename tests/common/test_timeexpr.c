/* Tests for src/common/timeexpr.c: absolute and relative times, durations. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ember/timeexpr.h"

#define NOW INT64_C(1700000000)

static int64_t time_ok(const char *s) {
  int64_t v = -12345;
  ember_err_t err;
  if (ember_time_parse(s, NOW, &v, &err)) fail_msg("'%s' failed: %s", s, err.msg);
  return v;
}

static const char *time_error(const char *s) {
  static ember_err_t err;
  int64_t v = -12345;
  int rc = ember_time_parse(s, NOW, &v, &err);
  if (rc != EMBER_EINVAL) fail_msg("'%s' gave %d, want EINVAL", s, rc);
  assert_int_equal(v, -12345); /* not written on failure */
  return err.msg;
}

static int64_t duration_ok(const char *s) {
  int64_t v = -12345;
  ember_err_t err;
  if (ember_duration_parse(s, &v, &err)) fail_msg("'%s' failed: %s", s, err.msg);
  return v;
}

static const char *duration_error(const char *s) {
  static ember_err_t err;
  int64_t v = -12345;
  int rc = ember_duration_parse(s, &v, &err);
  if (rc != EMBER_EINVAL) fail_msg("'%s' gave %d, want EINVAL", s, rc);
  assert_int_equal(v, -12345);
  return err.msg;
}

static void assert_contains(const char *hay, const char *needle) {
  if (!strstr(hay, needle)) fail_msg("'%s' does not contain '%s'", hay, needle);
}

/* ---- Times ------------------------------------------------------------- */

static void test_time_reads_unix_seconds(void **state) {
  assert_int_equal(time_ok("1700000123"), 1700000123);
  assert_int_equal(time_ok("0"), 0);
  assert_int_equal(time_ok("42"), 42);
  assert_int_equal(time_ok("9999999999"), INT64_C(9999999999));
  assert_int_equal(time_ok(" 1700000000 "), 1700000000);
}

static void test_time_reads_milli_micro_and_nanoseconds(void **state) {
  assert_int_equal(time_ok("1700000123456"), 1700000123);
  assert_int_equal(time_ok("1700000123999999"), 1700000123);
  assert_int_equal(time_ok("1700000123999999999"), 1700000123);
  /* The largest 19-digit value that fits an int64. */
  assert_int_equal(time_ok("9223372036854775807"), INT64_C(9223372036));
}

static void test_time_rejects_other_digit_counts(void **state) {
  assert_string_equal(time_error("17000000000"),
                      "'17000000000' has 11 digits; write Unix seconds (up to 10 "
                      "digits) or milliseconds (13), microseconds (16) or "
                      "nanoseconds (19)");
  assert_contains(time_error("170000000000"), "has 12 digits");
  assert_contains(time_error("17000000000000"), "has 14 digits");
  assert_contains(time_error("170000000000000000000"), "has 21 digits");
  assert_contains(time_error("1700000000000000000000000000000000"), "has 34 digits");
}

static void test_time_rejects_nanoseconds_past_int64(void **state) {
  assert_contains(time_error("9999999999999999999"), "too large");
}

static void test_time_reads_now_and_offsets(void **state) {
  assert_int_equal(time_ok("now"), NOW);
  assert_int_equal(time_ok("now-1h"), NOW - 3600);
  assert_int_equal(time_ok("now+30m"), NOW + 1800);
  assert_int_equal(time_ok("now-30min"), NOW - 1800);
  assert_int_equal(time_ok("now-45s"), NOW - 45);
  assert_int_equal(time_ok("now-7d"), NOW - 7 * 86400);
  assert_int_equal(time_ok("now-2w"), NOW - 14 * 86400);
  assert_int_equal(time_ok("now-1M"), NOW - 30 * 86400);
  assert_int_equal(time_ok("now-1mon"), NOW - 30 * 86400);
  assert_int_equal(time_ok("now-1y"), NOW - 365 * 86400);
  assert_int_equal(time_ok("now-1h30m"), NOW - 5400);
  assert_int_equal(time_ok("now-3600"), NOW - 3600);
}

static void test_time_before_the_epoch_is_the_epoch(void **state) {
  assert_int_equal(time_ok("now-100y"), 0);
  assert_int_equal(time_ok("now-9223372036854775807"), 0);
}

static void test_time_rejects_overflowing_offsets(void **state) {
  assert_contains(time_error("now+9223372036854775807"), "too far in the future");
  assert_contains(time_error("now+99999999999999999999"), "the number is too large");
  assert_contains(time_error("now+999999999999999999y"), "the duration is too large");
  assert_contains(time_error("now-300000000000y1y"), "the duration is too large");
}

static void test_time_rejects_bad_relative_forms(void **state) {
  assert_string_equal(time_error("now-1x"),
                      "'now-1x': unknown unit 'x'; use s, m or min, h, d, w, M or mon "
                      "(30 days), y (365 days)");
  assert_contains(time_error("now*2"), "expected '-' or '+' after 'now'");
  assert_contains(time_error("now-"), "has no duration");
  assert_contains(time_error("now-h"), "expected a number at 'h'");
  assert_contains(time_error("now-1h30"), "the last number has no unit");
  assert_contains(time_error("now-1H"), "unknown unit 'H'");
  assert_contains(time_error("nowish"), "expected '-' or '+' after 'now'");
}

static void test_time_rejects_what_is_not_a_time(void **state) {
  assert_contains(time_error(""), "the time is empty");
  assert_contains(time_error("   "), "the time is empty");
  assert_contains(time_error(NULL), "the time is empty");
  assert_string_equal(time_error("yesterday"),
                      "'yesterday' is not a time; write Unix seconds (e.g. "
                      "1700000000), milliseconds (13 digits), or now, now-1h, now+30m");
  assert_contains(time_error("-1700000000"), "is not a time");
  assert_contains(time_error("2023-11-14"), "is not a time");
  assert_contains(time_error("17e8"), "is not a time");
}

static void test_time_messages_escape_and_shorten_input(void **state) {
  const char *msg = time_error("x\x01yyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyy");
  assert_contains(msg, "'x\\x01yyy");
  assert_contains(msg, "...'");
}

/* ---- Durations --------------------------------------------------------- */

static void test_duration_reads_number_and_unit(void **state) {
  assert_int_equal(duration_ok("30d"), 30 * 86400);
  assert_int_equal(duration_ok("12h"), 12 * 3600);
  assert_int_equal(duration_ok("90m"), 90 * 60);
  assert_int_equal(duration_ok("90min"), 90 * 60);
  assert_int_equal(duration_ok("3600"), 3600);
  assert_int_equal(duration_ok("1d12h"), 36 * 3600);
  assert_int_equal(duration_ok("1y"), 365 * 86400);
  assert_int_equal(duration_ok(" 2w "), 14 * 86400);
}

static void test_duration_must_be_positive(void **state) {
  assert_string_equal(duration_error("0"),
                      "'0': the duration must be greater than zero, e.g. 30d");
  assert_contains(duration_error("0d"), "greater than zero");
  assert_contains(duration_error("-5d"), "expected a number at '-5d'");
  assert_contains(duration_error(""), "the duration is empty");
  assert_contains(duration_error(NULL), "the duration is empty");
}

static void test_duration_rejects_bad_units_and_overflow(void **state) {
  assert_contains(duration_error("30x"), "unknown unit 'x'");
  assert_contains(duration_error("30 d"), "unknown unit ' d'");
  assert_contains(duration_error("d"), "expected a number at 'd'");
  assert_contains(duration_error("1h1"), "the last number has no unit");
  assert_contains(duration_error("9223372036854775808"), "the number is too large");
  assert_contains(duration_error("9223372036854775807s1s"), "the duration is too large");
  assert_contains(duration_error("106751991167301d"), "the duration is too large");
  assert_int_equal(duration_ok("9223372036854775807"), INT64_MAX);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_time_reads_unix_seconds),
      cmocka_unit_test(test_time_reads_milli_micro_and_nanoseconds),
      cmocka_unit_test(test_time_rejects_other_digit_counts),
      cmocka_unit_test(test_time_rejects_nanoseconds_past_int64),
      cmocka_unit_test(test_time_reads_now_and_offsets),
      cmocka_unit_test(test_time_before_the_epoch_is_the_epoch),
      cmocka_unit_test(test_time_rejects_overflowing_offsets),
      cmocka_unit_test(test_time_rejects_bad_relative_forms),
      cmocka_unit_test(test_time_rejects_what_is_not_a_time),
      cmocka_unit_test(test_time_messages_escape_and_shorten_input),
      cmocka_unit_test(test_duration_reads_number_and_unit),
      cmocka_unit_test(test_duration_must_be_positive),
      cmocka_unit_test(test_duration_rejects_bad_units_and_overflow),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
