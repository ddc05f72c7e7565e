/* Tests for src/ingest/lines.c: one stack per line, one sample each. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ember/ingest.h"
#include "ingest/ingest_int.h"
#include "ingest/ingest_test_util.h"

static const char *lines_ok(const char *s, size_t len) {
  static char out[4096];
  ember_err_t err;
  ember_tree_t *t = ember_tree_new();
  if (ember_ingest_lines(s, len, t, &err)) fail_msg("'%s' failed: %s", s, err.msg);
  char *d = tree_dump(t);
  snprintf(out, sizeof out, "%s", d);
  free(d);
  ember_tree_free(t);
  return out;
}
#define LINES_OK(lit) lines_ok(lit, sizeof lit - 1)

static void test_lines_counts_one_sample_per_line(void **state) {
  assert_string_equal(LINES_OK("a;b\na;c\na;b\na;b\na\n"), "a 1\na;b 3\na;c 1\n");
}

static void test_lines_ignores_empty_lines_and_accepts_crlf(void **state) {
  assert_string_equal(LINES_OK("\na;b\r\n\r\n   \na;b  \n\na;c"), "a;b 2\na;c 1\n");
  assert_string_equal(LINES_OK(""), "");
  assert_string_equal(LINES_OK("\n\n"), "");
}

static void test_lines_treat_numbers_as_part_of_the_frame(void **state) {
  /* No counts in this format: "a;b 5" is one sample of a frame "b 5". */
  assert_string_equal(LINES_OK("a;b 5\n"), "a;b 5 1\n");
}

static void test_lines_skip_empty_frames(void **state) {
  assert_string_equal(LINES_OK("a;;b\n;a;b;\n"), "a;b 2\n");
  assert_string_equal(LINES_OK(";\n"), "<root> 1\n");
}

static void test_lines_reads_only_the_given_length(void **state) {
  assert_string_equal(lines_ok("a\nb\nc\n", 3), "a 1\nb 1\n");
}

static void test_lines_parses_a_realistic_body(void **state) {
  size_t len, elen;
  char *body = read_fixture("ingest/profile.lines", &len);
  char *want = read_fixture("ingest/profile.lines.expected", &elen);
  ember_tree_t *t = ember_tree_new();
  assert_int_equal(ember_ingest_lines(body, len, t, NULL), 0);
  char *got = tree_dump(t);
  assert_string_equal(got, want);
  assert_int_equal(ember_tree_total(t, 0), 316); /* one per line */
  free(got);
  free(body);
  free(want);
  ember_tree_free(t);
}

static void test_lines_cut_stacks_deeper_than_the_limit(void **state) {
  static const char body[] = "a;b;c;d\na;b;x;y\na;b;c\na;b;c;d\n";
  ember_ingest_limits_t lim = {.max_stack_depth = 3};
  ingest_ctx_t c;
  ingest_ctx_init(&c, &lim, SIZE_MAX, NULL);
  ember_tree_t *t = ember_tree_new();
  assert_int_equal(ingest_lines(body, strlen(body), t, &c, NULL), 0);
  char *d = tree_dump(t);
  assert_string_equal(d, "a;b;[truncated] 3\na;b;c 1\n");
  assert_int_equal(c.truncated, 3);
  free(d);
  ember_tree_free(t);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_lines_counts_one_sample_per_line),
      cmocka_unit_test(test_lines_ignores_empty_lines_and_accepts_crlf),
      cmocka_unit_test(test_lines_treat_numbers_as_part_of_the_frame),
      cmocka_unit_test(test_lines_skip_empty_frames),
      cmocka_unit_test(test_lines_reads_only_the_given_length),
      cmocka_unit_test(test_lines_parses_a_realistic_body),
      cmocka_unit_test(test_lines_cut_stacks_deeper_than_the_limit),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
