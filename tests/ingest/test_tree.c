/* Tests for src/ingest/tree.c: the tree binary format and its node reader. */
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

static const char *tree_ok(const void *buf, size_t len) {
  static char out[4096];
  ember_err_t err;
  ember_tree_t *t = ember_tree_new();
  if (ember_ingest_tree(buf, len, t, &err)) fail_msg("failed: %s", err.msg);
  char *d = tree_dump(t);
  snprintf(out, sizeof out, "%s", d);
  free(d);
  ember_tree_free(t);
  return out;
}

static const char *tree_error(const void *buf, size_t len, int code) {
  static ember_err_t err;
  ember_tree_t *t = ember_tree_new();
  int rc = ember_ingest_tree(buf, len, t, &err);
  ember_tree_free(t);
  if (rc != code) fail_msg("gave %d (%s), want %d", rc, err.msg, code);
  return err.msg;
}

static void assert_contains(const char *hay, const char *needle) {
  if (!strstr(hay, needle)) fail_msg("'%s' does not contain '%s'", hay, needle);
}

/* The tree of `a;b 1` and `a;c 2`, byte by byte: per node the name length,
 * the name, the self value and the child count. */
static const uint8_t AB_AC[] = {
    0x00, 0x00, 0x01,            /* root: no name, self 0, 1 child */
    0x01, 'a',  0x00, 0x02,      /* a: self 0, 2 children */
    0x01, 'b',  0x01, 0x00,      /* b: self 1, leaf */
    0x01, 'c',  0x02, 0x00,      /* c: self 2, leaf */
};

static void test_tree_decodes_a_hand_encoded_body(void **state) {
  assert_string_equal(tree_ok(AB_AC, sizeof AB_AC), "a;b 1\na;c 2\n");
}

static void test_tree_ignores_the_root_name_and_keeps_its_value(void **state) {
  static const uint8_t body[] = {0x05, 't', 'o', 't', 'a', 'l', 0x04, 0x01,
                                 0x01, 'x', 0x03, 0x00};
  assert_string_equal(tree_ok(body, sizeof body), "<root> 4\nx 3\n");
}

static void test_tree_reads_multibyte_varints(void **state) {
  /* 300 = 0xac 0x02; a name of 130 bytes has a 2-byte length. */
  ember_buf_t b = EMBER_BUF_INIT;
  char name[131];
  memset(name, 'n', 130);
  name[130] = '\0';
  put_node(&b, "", 0, 2);
  put_node(&b, "a", 300, 0);
  put_node(&b, name, UINT64_MAX, 0);
  char want[200];
  snprintf(want, sizeof want, "a 300\n%s 18446744073709551615\n", name);
  assert_string_equal(tree_ok(b.data, b.len), want);
  ember_buf_free(&b);
}

static void test_tree_merges_repeated_and_unnamed_nodes(void **state) {
  /* Two children named "a" become one; an unnamed node is its parent. */
  ember_buf_t b = EMBER_BUF_INIT;
  put_node(&b, "", 0, 3);
  put_node(&b, "a", 1, 0);
  put_node(&b, "a", 2, 1);
  put_node(&b, "b", 4, 0);
  put_node(&b, "", 8, 1);
  put_node(&b, "c", 16, 0);
  assert_string_equal(tree_ok(b.data, b.len), "<root> 8\na 3\na;b 4\nc 16\n");
  ember_buf_free(&b);
}

static void test_tree_empty_body_has_no_samples(void **state) {
  assert_string_equal(tree_ok("", 0), "");
  static const uint8_t root_only[] = {0x00, 0x00, 0x00};
  assert_string_equal(tree_ok(root_only, sizeof root_only), "");
}

static void test_tree_rejects_truncated_nodes(void **state) {
  for (size_t len = 1; len < sizeof AB_AC; len++) {
    const char *msg = tree_error(AB_AC, len, EMBER_EPARSE);
    assert_contains(msg, "tree body: ");
    assert_contains(msg, "truncated or not in tree format");
  }
  static const uint8_t cut[] = {0x00, 0x00, 0x01, 0x01, 'a', 0x80};
  assert_string_equal(tree_error(cut, sizeof cut, EMBER_EPARSE),
                      "tree body: the node at byte 3 is cut off in its value; the body "
                      "is truncated or not in tree format");
}

static void test_tree_rejects_name_running_past_the_end(void **state) {
  static const uint8_t body[] = {0x00, 0x00, 0x01, 0x7f, 'a', 0x00, 0x00};
  assert_string_equal(tree_error(body, sizeof body, EMBER_EPARSE),
                      "tree body: the node at byte 3 has a name of 127 bytes but only "
                      "3 bytes remain; the body is truncated or not in tree format");
}

static void test_tree_rejects_child_counts_the_body_cannot_hold(void **state) {
  /* 2^63 children in a 14-byte body: refused before anything is allocated. */
  static const uint8_t huge[] = {0x00, 0x00, 0x80, 0x80, 0x80, 0x80, 0x80,
                                 0x80, 0x80, 0x80, 0x80, 0x01, 0x00, 0x00};
  assert_contains(tree_error(huge, sizeof huge, EMBER_EPARSE),
                  "the node at byte 0 has a child count of 9223372036854775808,");
  /* One child too many: 2 announced, room for 1 node. */
  static const uint8_t two[] = {0x00, 0x00, 0x02, 0x01, 'a', 0x01, 0x00};
  assert_string_equal(tree_error(two, sizeof two, EMBER_EPARSE),
                      "tree body: the node at byte 0 has a child count of 2, but the 4 "
                      "bytes left cannot hold that many nodes and the 0 still to come "
                      "(each takes at least 3 bytes); the body is truncated or not in "
                      "tree format");
}

static void test_tree_rejects_varints_over_64_bits(void **state) {
  static const uint8_t body[] = {0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
                                 0xff, 0xff, 0xff, 0x7f, 0x00};
  assert_string_equal(tree_error(body, sizeof body, EMBER_EPARSE),
                      "tree body: the node at byte 0 has a value that does not fit 64 "
                      "bits; the body is corrupt or not in tree format");
}

static void test_tree_rejects_trailing_bytes(void **state) {
  uint8_t body[sizeof AB_AC + 2];
  memcpy(body, AB_AC, sizeof AB_AC);
  body[sizeof AB_AC] = 0x00;
  body[sizeof AB_AC + 1] = 0x07;
  assert_string_equal(tree_error(body, sizeof body, EMBER_EPARSE),
                      "tree body: 2 unexpected bytes after the root's subtree, at byte "
                      "15; send exactly one tree per request");
}

static void test_tree_handles_deep_trees_without_recursion(void **state) {
  /* 200,000 levels, value at the leaf only: linear work, no stack overflow. */
  enum { DEPTH = 200000 };
  ember_buf_t b = EMBER_BUF_INIT;
  put_node(&b, "", 0, 1);
  for (int i = 0; i < DEPTH; i++) put_node(&b, i % 2 ? "f" : "g", i == DEPTH - 1, i < DEPTH - 1);
  ember_tree_t *t = ember_tree_new();
  assert_int_equal(ember_ingest_tree((const uint8_t *)b.data, b.len, t, NULL), 0);
  /* Cut at the default depth: the root, 999 frames and the marker. */
  assert_int_equal(ember_tree_count(t), EMBER_INGEST_DEFAULT_MAX_STACK_DEPTH + 1);
  assert_int_equal(ember_tree_total(t, 0), 1);
  assert_int_equal(ember_tree_check(t, NULL), 0);
  ember_tree_free(t);
  ember_buf_free(&b);
}

static void test_tree_takes_a_value_on_every_node_of_a_deep_chain(void **state) {
  /* Each value would climb the whole chain if totals were kept eagerly:
   * 200,000 levels would then take some 2e10 steps. */
  enum { DEPTH = 200000 };
  ember_buf_t b = EMBER_BUF_INIT;
  put_node(&b, "", 0, 1);
  for (int i = 0; i < DEPTH; i++) put_node(&b, "f", 1, i < DEPTH - 1);
  ember_tree_t *t = ember_tree_new();
  assert_int_equal(ember_ingest_tree((const uint8_t *)b.data, b.len, t, NULL), 0);
  assert_int_equal(ember_tree_total(t, 0), DEPTH);
  assert_int_equal(ember_tree_node(t, 1)->total[0], DEPTH);
  assert_int_equal(ember_tree_check(t, NULL), 0);
  ember_tree_free(t);
  ember_buf_free(&b);
}

static void test_tree_decodes_a_realistic_profile(void **state) {
  size_t len, elen;
  char *body = read_fixture("ingest/profile.tree", &len);
  char *want = read_fixture("ingest/profile.expected", &elen);
  ember_tree_t *t = ember_tree_new();
  ember_err_t err;
  if (ember_ingest_tree((const uint8_t *)body, len, t, &err)) fail_msg("%s", err.msg);
  char *got = tree_dump(t);
  assert_string_equal(got, want);
  free(got);
  free(body);
  free(want);
  ember_tree_free(t);
}

/* ---- Deep stacks ------------------------------------------------------------ */

static void test_tree_cuts_stacks_deeper_than_the_limit(void **state) {
  /* a;b;c 1, a;b;c;d 2, a;b;c;d;e 4, a;b;x 8, a;b;x;y 16, and a;b;z;w 32
   * through a z of no value of its own. */
  ember_buf_t b = EMBER_BUF_INIT;
  put_node(&b, "", 0, 1);
  put_node(&b, "a", 0, 1);
  put_node(&b, "b", 0, 3);
  put_node(&b, "c", 1, 1);
  put_node(&b, "d", 2, 1);
  put_node(&b, "e", 4, 0);
  put_node(&b, "x", 8, 1);
  put_node(&b, "y", 16, 0);
  put_node(&b, "z", 0, 1);
  put_node(&b, "w", 32, 0);
  ember_ingest_limits_t lim = {.max_stack_depth = 3};
  ingest_ctx_t c;
  ingest_ctx_init(&c, &lim, SIZE_MAX, NULL);
  ember_tree_t *t = ember_tree_new();
  assert_int_equal(ingest_tree((const uint8_t *)b.data, b.len, t, &c, NULL), 0);
  char *d = tree_dump(t);
  assert_string_equal(d, "a;b;[truncated] 54\na;b;c 1\na;b;x 8\n");
  assert_int_equal(c.truncated, 4);
  /* Nothing else: z, whose stacks all go past the limit, is no node. */
  assert_int_equal(ember_tree_count(t), 6);
  free(d);
  ember_tree_free(t);
  ember_buf_free(&b);
}

/* A chain of 3 million nodes, each the only child of the one before and
 * each with a value: the root, 1,000 frames and the marker. */
static bool deep_chain_is_cut(void *arg) {
  const ember_buf_t *body = arg;
  ember_tree_t *t = ember_tree_new();
  bool ok = ember_ingest_tree((const uint8_t *)body->data, body->len, t, NULL) == 0 &&
            ember_tree_count(t) == EMBER_INGEST_DEFAULT_MAX_STACK_DEPTH + 2 &&
            ember_tree_total(t, 0) == 3000000;
  ember_tree_free(t);
  return ok;
}

static void test_tree_reads_a_3_million_node_chain_in_bounded_memory(void **state) {
  ember_buf_t b = EMBER_BUF_INIT;
  put_node(&b, "", 0, 1);
  for (int i = 0; i < 3000000; i++)
    put_node(&b, "f", 1, i < 3000000 - 1);
  assert_true(run_bounded(deep_chain_is_cut, &b, 64, 10));
  ember_buf_free(&b);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_tree_decodes_a_hand_encoded_body),
      cmocka_unit_test(test_tree_ignores_the_root_name_and_keeps_its_value),
      cmocka_unit_test(test_tree_reads_multibyte_varints),
      cmocka_unit_test(test_tree_merges_repeated_and_unnamed_nodes),
      cmocka_unit_test(test_tree_empty_body_has_no_samples),
      cmocka_unit_test(test_tree_rejects_truncated_nodes),
      cmocka_unit_test(test_tree_rejects_name_running_past_the_end),
      cmocka_unit_test(test_tree_rejects_child_counts_the_body_cannot_hold),
      cmocka_unit_test(test_tree_rejects_varints_over_64_bits),
      cmocka_unit_test(test_tree_rejects_trailing_bytes),
      cmocka_unit_test(test_tree_handles_deep_trees_without_recursion),
      cmocka_unit_test(test_tree_takes_a_value_on_every_node_of_a_deep_chain),
      cmocka_unit_test(test_tree_decodes_a_realistic_profile),
      cmocka_unit_test(test_tree_cuts_stacks_deeper_than_the_limit),
      cmocka_unit_test(test_tree_reads_a_3_million_node_chain_in_bounded_memory),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
