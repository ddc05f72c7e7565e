/* Tests for src/profile/regex.cc: the C interface over RE2 that FlameQL
 * matchers use. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <string.h>

#include "profile/regex.h"

#define MEM ((size_t)1 << 20)

static ember_regex_t *compile(const char *p) {
  ember_regex_t *re = NULL;
  char why[128];
  ember_regex_status_t st = ember_regex_compile(p, strlen(p), MEM, &re, why, sizeof why);
  if (st != EMBER_REGEX_OK) fail_msg("'%s' did not compile: %s", p, why);
  return re;
}

static bool full(const char *p, const char *s) {
  ember_regex_t *re = compile(p);
  bool m = ember_regex_full_match(re, s, strlen(s));
  ember_regex_free(re);
  return m;
}

static void test_regex_matches_whole_strings_only(void **state) {
  assert_true(full("web-.*", "web-1"));
  assert_false(full("web", "web-1"));
  assert_false(full("web", "xweb"));
  assert_true(full("a|b", "b"));
  assert_false(full("a|b", "ab"));
  assert_true(full("", ""));
  assert_false(full("", "x"));
}

static void test_regex_respects_lengths_not_terminators(void **state) {
  ember_regex_t *re = NULL;
  /* Only the first three bytes of the pattern count. */
  assert_int_equal(ember_regex_compile("abc(", 3, MEM, &re, NULL, 0), EMBER_REGEX_OK);
  assert_true(ember_regex_full_match(re, "abcdef", 3));
  assert_false(ember_regex_full_match(re, "abcdef", 4));
  ember_regex_free(re);
}

static void test_regex_reports_syntax_repeat_and_size_apart(void **state) {
  ember_regex_t *re = (ember_regex_t *)&re; /* must stay untouched */
  ember_regex_t *const sentinel = re;
  char why[16];
  assert_int_equal(ember_regex_compile("(", 1, MEM, &re, why, sizeof why),
                   EMBER_REGEX_SYNTAX);
  assert_string_equal(why, "missing ): (");
  assert_int_equal(ember_regex_compile("a{0,9999}", 9, MEM, &re, why, sizeof why),
                   EMBER_REGEX_REPEAT);
  assert_int_equal(strlen(why), sizeof why - 1); /* cut to fit */
  assert_int_equal(ember_regex_compile("\\pL{1000}", 9, MEM, &re, why, sizeof why),
                   EMBER_REGEX_TOO_LARGE);
  assert_ptr_equal(re, sentinel);
}

static void test_regex_program_stays_within_its_memory(void **state) {
  /* A program instruction takes at least 8 bytes, so a program of N
   * instructions needs N * 8 bytes: what compiles fits its budget. */
  static const char *patterns[] = {".{1000}", "a{0,1000}", "[^a]{1000}",
                                   "((a|b|c|d|e|f){30}){30}", "\\pL{20}"};
  for (size_t i = 0; i < sizeof patterns / sizeof *patterns; i++) {
    ember_regex_t *re = NULL;
    const char *p = patterns[i];
    if (ember_regex_compile(p, strlen(p), MEM, &re, NULL, 0) != EMBER_REGEX_OK) continue;
    assert_true(ember_regex_program_size(re) * 8 <= MEM);
    ember_regex_free(re);
  }
  ember_regex_t *re = NULL;
  assert_int_equal(ember_regex_compile(".{1000}", 7, 64 << 10, &re, NULL, 0),
                   EMBER_REGEX_TOO_LARGE);
}

static void test_regex_free_accepts_null(void **state) {
  ember_regex_free(NULL);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_regex_matches_whole_strings_only),
      cmocka_unit_test(test_regex_respects_lengths_not_terminators),
      cmocka_unit_test(test_regex_reports_syntax_repeat_and_size_apart),
      cmocka_unit_test(test_regex_program_stays_within_its_memory),
      cmocka_unit_test(test_regex_free_accepts_null),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
