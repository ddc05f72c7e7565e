/* Tests for src/query/markup.c: names made safe for XML, elision, and the
 * numbers and times of titles and headers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "query/query_int.h"

/* ember_xml_put of s (n bytes) with max_chars, as a string the test owns
 * until the next call. */
static const char *xml(const char *s, size_t n, size_t max_chars) {
  static ember_buf_t b = EMBER_BUF_INIT;
  ember_buf_reset(&b);
  ember_buf_reserve(&b, 0);
  ember_xml_put(&b, s, n, max_chars);
  return b.data;
}

static void test_xml_escapes_the_five_special_characters(void **state) {
  const char s[] = "a<b>&\"c'd";
  assert_string_equal(xml(s, strlen(s), SIZE_MAX), "a&lt;b&gt;&amp;&quot;c&#39;d");
}

static void test_xml_drops_control_characters_and_replaces_bad_utf8(void **state) {
  /* \x01, \n, \t and DEL dropped; \xff and a lone continuation byte become
   * U+FFFD; a C1 control (U+0085, "\xc2\x85") is dropped. */
  const char s[] = "a\x01\nb\tc\x7f" "d\xff" "e\x80" "f\xc2\x85g";
  assert_string_equal(xml(s, sizeof s - 1, SIZE_MAX),
                      "abcd\xef\xbf\xbd" "e\xef\xbf\xbd" "fg");
  assert_int_equal(ember_xml_chars(s, sizeof s - 1), 9);
}

static void test_xml_keeps_valid_multibyte_text_and_replaces_noncharacters(void **state) {
  const char s[] = "caf\xc3\xa9 \xe6\x97\xa5 \xf0\x9f\x94\xa5 \xef\xbf\xbe";
  assert_string_equal(xml(s, sizeof s - 1, SIZE_MAX),
                      "caf\xc3\xa9 \xe6\x97\xa5 \xf0\x9f\x94\xa5 \xef\xbf\xbd");
  /* Overlong and surrogate encodings are not characters. */
  const char bad[] = "\xc0\xaf\xed\xa0\x80";
  assert_string_equal(xml(bad, sizeof bad - 1, SIZE_MAX),
                      "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd");
}

static void test_xml_keeps_nul_bytes_out(void **state) {
  const char s[] = {'a', '\0', 'b'};
  assert_string_equal(xml(s, 3, SIZE_MAX), "ab");
}

static void test_xml_elides_by_characters_not_bytes(void **state) {
  const char s[] = "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9"; /* 6 x e-acute */
  assert_string_equal(xml(s, sizeof s - 1, 6), s);
  assert_string_equal(xml(s, sizeof s - 1, 5), "\xc3\xa9\xc3\xa9\xc3\xa9..");
  assert_string_equal(xml("abcdefgh", 8, 4), "ab..");
  /* An escaped character counts as one. */
  assert_string_equal(xml("<<<<<<", 6, 4), "&lt;&lt;..");
}

static const char *fmt(int which, double v, int decimals, bool trim) {
  static ember_buf_t b = EMBER_BUF_INIT;
  ember_buf_reset(&b);
  if (which == 0) ember_fmt_count(&b, (uint64_t)v);
  else if (which == 1) ember_fmt_fixed(&b, v, decimals, trim);
  else ember_fmt_utc(&b, (int64_t)v);
  return b.data;
}

static void test_counts_get_thousands_separators(void **state) {
  assert_string_equal(fmt(0, 0, 0, false), "0");
  assert_string_equal(fmt(0, 999, 0, false), "999");
  assert_string_equal(fmt(0, 1000, 0, false), "1,000");
  assert_string_equal(fmt(0, 1234567, 0, false), "1,234,567");
  ember_buf_t b = EMBER_BUF_INIT;
  ember_fmt_count(&b, UINT64_MAX);
  assert_string_equal(b.data, "18,446,744,073,709,551,615");
  ember_buf_free(&b);
}

static void test_xml_size_is_what_xml_put_writes(void **state) {
  static const struct {
    const char *s;
    size_t n;
  } cases[] = {{"", 0},
               {"main", 4},
               {"<a href=\"x\">&'", 15},
               {"\x01\x02\x7f\xc2\x85tab\there", 13},
               {"\xff\xfe\xc3(\xe2\x82\xac\xef\xbf\xbe", 11},
               {"caf\xc3\xa9 \xf0\x9f\x94\xa5", 10},
               {"a\0b", 3}};
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    ember_buf_t b = EMBER_BUF_INIT;
    ember_xml_put(&b, cases[i].s, cases[i].n, SIZE_MAX);
    assert_int_equal(ember_xml_size(cases[i].s, cases[i].n), b.len);
    /* Elided copies never pass the size plus the "..". */
    for (size_t max = 0; max < 8; max++) {
      ember_buf_reset(&b);
      ember_xml_put(&b, cases[i].s, cases[i].n, max);
      assert_true(b.len <= ember_xml_size(cases[i].s, cases[i].n) + 2);
    }
    ember_buf_free(&b);
  }
}

static void test_saturated_sums_say_so(void **state) {
  ember_buf_t b = EMBER_BUF_INIT;
  ember_fmt_sum(&b, 1234567);
  assert_string_equal(b.data, "1,234,567");
  ember_buf_reset(&b);
  ember_fmt_sum(&b, UINT64_MAX);
  assert_string_equal(b.data, "at least 18,446,744,073,709,551,615 (the sum saturated)");
  assert_true(b.len <= EMBER_FMT_SUM_MAX);
  ember_buf_free(&b);
}

static void test_fixed_point_rounds_and_trims(void **state) {
  assert_string_equal(fmt(1, 393.3333, 2, true), "393.33");
  assert_string_equal(fmt(1, 786.6666, 2, true), "786.67");
  assert_string_equal(fmt(1, 10.5, 2, true), "10.5");
  assert_string_equal(fmt(1, 1180, 2, true), "1180");
  assert_string_equal(fmt(1, 0.004, 2, true), "0");
  assert_string_equal(fmt(1, 0.005, 2, false), "0.01");
  assert_string_equal(fmt(1, 3, 2, false), "3.00");
  assert_string_equal(fmt(1, -12.345, 1, true), "-12.3");
  assert_string_equal(fmt(1, 0.07, 2, false), "0.07");
  assert_string_equal(fmt(1, -0.001, 2, true), "0");
  assert_string_equal(fmt(1, -0.001, 2, false), "0.00");
}

static void test_times_are_written_in_utc(void **state) {
  assert_string_equal(fmt(2, 1700000000, 0, false), "2023-11-14 22:13:20 UTC");
  assert_string_equal(fmt(2, 0, 0, false), "1970-01-01 00:00:00 UTC");
  ember_buf_t b = EMBER_BUF_INIT;
  ember_fmt_utc(&b, INT64_MAX / 2);
  assert_string_equal(b.data, "4611686018427387903");
  ember_buf_free(&b);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_xml_escapes_the_five_special_characters),
      cmocka_unit_test(test_xml_drops_control_characters_and_replaces_bad_utf8),
      cmocka_unit_test(test_xml_keeps_valid_multibyte_text_and_replaces_noncharacters),
      cmocka_unit_test(test_xml_keeps_nul_bytes_out),
      cmocka_unit_test(test_xml_elides_by_characters_not_bytes),
      cmocka_unit_test(test_counts_get_thousands_separators),
      cmocka_unit_test(test_xml_size_is_what_xml_put_writes),
      cmocka_unit_test(test_saturated_sums_say_so),
      cmocka_unit_test(test_fixed_point_rounds_and_trims),
      cmocka_unit_test(test_times_are_written_in_utc),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
