/* Tests for src/ingest/folded.c: the folded text format. */
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

/* Parses s, which must succeed, and returns the tree's dump (static). */
static const char *folded_ok(const char *s, size_t len) {
  static char out[4096];
  ember_err_t err;
  ember_tree_t *t = ember_tree_new();
  if (ember_ingest_folded(s, len, t, &err)) fail_msg("'%s' failed: %s", s, err.msg);
  char *d = tree_dump(t);
  snprintf(out, sizeof out, "%s", d);
  free(d);
  ember_tree_free(t);
  return out;
}
#define FOLDED_OK(lit) folded_ok(lit, sizeof lit - 1)

static const char *folded_error(const char *s) {
  static ember_err_t err;
  ember_tree_t *t = ember_tree_new();
  int rc = ember_ingest_folded(s, strlen(s), t, &err);
  ember_tree_free(t);
  if (rc != EMBER_EPARSE) fail_msg("'%s' gave %d, want EPARSE", s, rc);
  return err.msg;
}

static void assert_contains(const char *hay, const char *needle) {
  if (!strstr(hay, needle)) fail_msg("'%s' does not contain '%s'", hay, needle);
}

static void test_folded_builds_the_tree_of_each_line(void **state) {
  assert_string_equal(FOLDED_OK("a;b 1\na;c 2\n"), "a;b 1\na;c 2\n");
}

static void test_folded_sums_duplicate_stacks(void **state) {
  assert_string_equal(FOLDED_OK("a;b 1\na;c 2\na;b 5\na 3\n"), "a 3\na;b 6\na;c 2\n");
}

static void test_folded_splits_at_the_last_space(void **state) {
  assert_string_equal(
      FOLDED_OK("java.util.HashMap.get (inlined);libc.so.6 memcpy 7\n"
                "std::vector<int>::push_back(int const&) 2\n"),
      "java.util.HashMap.get (inlined);libc.so.6 memcpy 7\n"
      "std::vector<int>::push_back(int const&) 2\n");
  /* "a 1 2": the stack is "a 1". */
  assert_string_equal(FOLDED_OK("a 1 2\n"), "a 1 2\n");
}

static void test_folded_accepts_crlf_and_trailing_spaces(void **state) {
  assert_string_equal(FOLDED_OK("a;b 1\r\na;c 2  \r\na;d   3\t\n"),
                      "a;b 1\na;c 2\na;d 3\n");
}

static void test_folded_ignores_empty_lines_and_missing_final_newline(void **state) {
  assert_string_equal(FOLDED_OK("\n\na;b 1\n   \n\r\n\ta;c 2"), "\ta;c 2\na;b 1\n");
  assert_string_equal(FOLDED_OK(""), "");
  assert_string_equal(FOLDED_OK("\n\n\r\n"), "");
}

static void test_folded_skips_empty_frames(void **state) {
  assert_string_equal(FOLDED_OK("a;;b 1\n;a;b; 2\na;b;;; 3\n"), "a;b 6\n");
}

static void test_folded_stack_without_frames_adds_to_the_root(void **state) {
  assert_string_equal(FOLDED_OK(";; 4\n 1\n"), "<root> 5\n");
}

static void test_folded_zero_count_adds_nothing(void **state) {
  ember_tree_t *t = ember_tree_new();
  assert_int_equal(ember_ingest_folded("a;b 0\nc 0\n", 10, t, NULL), 0);
  assert_int_equal(ember_tree_count(t), 1); /* not even empty nodes */
  assert_int_equal(ember_tree_total(t, 0), 0);
  ember_tree_free(t);
}

static void test_folded_accepts_the_largest_count(void **state) {
  assert_string_equal(FOLDED_OK("a 18446744073709551615\n"), "a 18446744073709551615\n");
  /* Sums saturate rather than wrap. */
  assert_string_equal(FOLDED_OK("a 18446744073709551615\na 5\n"),
                      "a 18446744073709551615\n");
}

static void test_folded_rejects_line_without_count(void **state) {
  assert_string_equal(folded_error("a;b 1\n\nfoo;bar\n"),
                      "line 3: expected 'frame;frame;... count', got 'foo;bar'; end "
                      "each line with a space and its sample count (or send "
                      "format=lines for stacks without counts)");
  assert_contains(folded_error("7\n"), "line 1: expected 'frame;frame;... count', got '7'");
  assert_contains(folded_error("a;b \n"), "got 'a;b'"); /* trailing space trimmed */
}

static void test_folded_rejects_counts_that_are_not_unsigned_integers(void **state) {
  static const char *bad[] = {"a -1\n", "a 1.5\n", "a 1e3\n", "a +5\n", "a 0x10\n",
                              "a 12abc\n", "a ١\n"};
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
    assert_contains(folded_error(bad[i]), "line 1: expected 'frame;frame;... count'");
}

static void test_folded_rejects_count_over_64_bits(void **state) {
  assert_string_equal(folded_error("x 1\na 18446744073709551616\n"),
                      "line 2: the count '18446744073709551616' is too large; counts go "
                      "up to 18446744073709551615");
}

static void test_folded_error_quotes_are_escaped_and_short(void **state) {
  char line[400];
  memset(line, 'f', sizeof line);
  line[0] = '\x1b';
  line[1] = '"';
  line[sizeof line - 2] = '\n';
  line[sizeof line - 1] = '\0';
  const char *msg = folded_error(line);
  assert_contains(msg, "got '\\x1b\"fff");
  assert_contains(msg, "fff...'");
  assert_true(strlen(msg) < 400);
}

static void test_folded_reads_only_the_given_length(void **state) {
  /* The text continues past len: those bytes must not be read. */
  assert_string_equal(folded_ok("a 1\nb 2\ngarbage", 8), "a 1\nb 2\n");
  assert_string_equal(folded_ok("a 12", 3), "a 1\n");
}

static void test_folded_keeps_odd_bytes_in_frame_names(void **state) {
  static const char body[] = "caf\xc3\xa9;x\0y 3\n";
  ember_tree_t *t = ember_tree_new();
  assert_int_equal(ember_ingest_folded(body, sizeof body - 1, t, NULL), 0);
  uint32_t a = ember_tree_find_child(t, EMBER_TREE_ROOT,
                                     ember_tree_intern(t, "caf\xc3\xa9", 5));
  assert_int_not_equal(a, EMBER_TREE_NONE);
  uint32_t b = ember_tree_find_child(t, a, ember_tree_intern(t, "x\0y", 3));
  assert_int_not_equal(b, EMBER_TREE_NONE);
  assert_int_equal(ember_tree_node(t, b)->self[0], 3);
  ember_tree_free(t);
}

static void test_folded_parses_a_realistic_profile(void **state) {
  size_t len, elen;
  char *body = read_fixture("ingest/profile.folded", &len);
  char *want = read_fixture("ingest/profile.expected", &elen);
  ember_tree_t *t = ember_tree_new();
  ember_err_t err;
  if (ember_ingest_folded(body, len, t, &err)) fail_msg("%s", err.msg);
  char *got = tree_dump(t);
  assert_string_equal(got, want);
  assert_true(ember_tree_count(t) > 1000);
  free(got);
  free(body);
  free(want);
  ember_tree_free(t);
}

/* ---- Deep stacks ------------------------------------------------------------ */

/* The dump of a folded body cut at max_depth frames; *truncated gets the
 * count of cut stacks. Static buffer. */
static const char *folded_cut(const char *s, uint32_t max_depth, uint64_t *truncated) {
  static char out[4096];
  ember_ingest_limits_t lim = {.max_stack_depth = max_depth};
  ingest_ctx_t c;
  ingest_ctx_init(&c, &lim, SIZE_MAX, NULL);
  ember_tree_t *t = ember_tree_new();
  ember_err_t err;
  if (ingest_folded(s, strlen(s), t, &c, &err)) fail_msg("failed: %s", err.msg);
  char *d = tree_dump(t);
  snprintf(out, sizeof out, "%s", d);
  free(d);
  ember_tree_free(t);
  *truncated = c.truncated;
  return out;
}

static void test_folded_cuts_stacks_deeper_than_the_limit(void **state) {
  uint64_t n = 0;
  assert_string_equal(folded_cut("a;b;c;d 1\na;b;x;y;z 2\na;b;c 4\na;b 8\n"
                                 "a;;b;;c;;d 16\na;b;c;d 0\n",
                                 3, &n),
                      "a;b 8\na;b;[truncated] 19\na;b;c 4\n");
  assert_int_equal(n, 3); /* the line with no samples cuts nothing */
  assert_string_equal(folded_cut("a;b;c;d 1\n", 1, &n), "[truncated] 1\n");
  assert_int_equal(n, 1);
  assert_string_equal(folded_cut("a;b;c;d 1\n", 4, &n), "a;b;c;d 1\n");
  assert_int_equal(n, 0);
}

/* 3 million frames on one line: 6 MB that made 3 million tree nodes. */
static bool deep_line_is_cut(void *arg) {
  const ember_buf_t *body = arg;
  ember_tree_t *t = ember_tree_new();
  bool ok = ember_ingest_folded(body->data, body->len, t, NULL) == 0 &&
            ember_tree_count(t) == EMBER_INGEST_DEFAULT_MAX_STACK_DEPTH + 1 &&
            ember_tree_total(t, 0) == 1;
  ember_tree_free(t);
  return ok;
}

static void test_folded_cuts_a_3_million_frame_stack_in_bounded_memory(void **state) {
  ember_buf_t body = EMBER_BUF_INIT;
  for (int i = 0; i < 3000000; i++)
    ember_buf_append(&body, "f;", 2);
  ember_buf_puts(&body, " 1\n");
  assert_true(run_bounded(deep_line_is_cut, &body, 64, 10));
  ember_buf_free(&body);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_folded_builds_the_tree_of_each_line),
      cmocka_unit_test(test_folded_sums_duplicate_stacks),
      cmocka_unit_test(test_folded_splits_at_the_last_space),
      cmocka_unit_test(test_folded_accepts_crlf_and_trailing_spaces),
      cmocka_unit_test(test_folded_ignores_empty_lines_and_missing_final_newline),
      cmocka_unit_test(test_folded_skips_empty_frames),
      cmocka_unit_test(test_folded_stack_without_frames_adds_to_the_root),
      cmocka_unit_test(test_folded_zero_count_adds_nothing),
      cmocka_unit_test(test_folded_accepts_the_largest_count),
      cmocka_unit_test(test_folded_rejects_line_without_count),
      cmocka_unit_test(test_folded_rejects_counts_that_are_not_unsigned_integers),
      cmocka_unit_test(test_folded_rejects_count_over_64_bits),
      cmocka_unit_test(test_folded_error_quotes_are_escaped_and_short),
      cmocka_unit_test(test_folded_reads_only_the_given_length),
      cmocka_unit_test(test_folded_keeps_odd_bytes_in_frame_names),
      cmocka_unit_test(test_folded_parses_a_realistic_profile),
      cmocka_unit_test(test_folded_cuts_stacks_deeper_than_the_limit),
      cmocka_unit_test(test_folded_cuts_a_3_million_frame_stack_in_bounded_memory),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
