/* Tests for src/ingest/trie.c: the trie binary format (name fragments). */
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

static const char *trie_ok(const void *buf, size_t len) {
  static char out[4096];
  ember_err_t err;
  ember_tree_t *t = ember_tree_new();
  if (ember_ingest_trie(buf, len, t, &err)) fail_msg("failed: %s", err.msg);
  char *d = tree_dump(t);
  snprintf(out, sizeof out, "%s", d);
  free(d);
  ember_tree_free(t);
  return out;
}

static const char *trie_error(const void *buf, size_t len, int code) {
  static ember_err_t err;
  ember_tree_t *t = ember_tree_new();
  int rc = ember_ingest_trie(buf, len, t, &err);
  ember_tree_free(t);
  if (rc != code) fail_msg("gave %d (%s), want %d", rc, err.msg, code);
  return err.msg;
}

/* The trie of `a;b 1` and `a;c 2`: the keys "a;b" and "a;c" share "a;". */
static const uint8_t AB_AC[] = {
    0x00, 0x00, 0x01,            /* root: empty fragment, value 0, 1 child */
    0x02, 'a',  ';',  0x00, 0x02, /* "a;": value 0, 2 children */
    0x01, 'b',  0x01, 0x00,      /* "b": key "a;b", value 1 */
    0x01, 'c',  0x02, 0x00,      /* "c": key "a;c", value 2 */
};

static void test_trie_decodes_a_hand_encoded_body(void **state) {
  assert_string_equal(trie_ok(AB_AC, sizeof AB_AC), "a;b 1\na;c 2\n");
}

static void test_trie_fragments_may_split_frame_names(void **state) {
  /* Keys "foo" (3), "foo;bar" (1), "foo;baz" (2): the edge ";ba" ends in
   * the middle of a frame name. */
  ember_buf_t b = EMBER_BUF_INIT;
  put_node(&b, "", 0, 1);
  put_node(&b, "foo", 3, 1);
  put_node(&b, ";ba", 0, 2);
  put_node(&b, "r", 1, 0);
  put_node(&b, "z", 2, 0);
  assert_string_equal(trie_ok(b.data, b.len), "foo 3\nfoo;bar 1\nfoo;baz 2\n");
  ember_buf_free(&b);
}

static void test_trie_value_on_a_partial_frame_is_its_own_stack(void **state) {
  /* Keys "a;b" (1) and "a;bc" (2): "b" and "bc" are different frames. */
  ember_buf_t b = EMBER_BUF_INIT;
  put_node(&b, "", 0, 1);
  put_node(&b, "a;b", 1, 1);
  put_node(&b, "c", 2, 0);
  assert_string_equal(trie_ok(b.data, b.len), "a;b 1\na;bc 2\n");
  ember_buf_free(&b);
}

static void test_trie_siblings_start_from_their_parents_key(void **state) {
  /* After a deep first child, the second child must see only "x;". */
  ember_buf_t b = EMBER_BUF_INIT;
  put_node(&b, "", 0, 1);
  put_node(&b, "x;", 0, 2);
  put_node(&b, "deep;er", 0, 1);
  put_node(&b, ";est", 5, 0);
  put_node(&b, "y", 6, 0);
  assert_string_equal(trie_ok(b.data, b.len), "x;deep;er;est 5\nx;y 6\n");
  ember_buf_free(&b);
}

static void test_trie_skips_empty_frames(void **state) {
  ember_buf_t b = EMBER_BUF_INIT;
  put_node(&b, "", 0, 2);
  put_node(&b, ";a;;b;", 1, 0);
  put_node(&b, ";;", 7, 0); /* no frames at all: the root */
  assert_string_equal(trie_ok(b.data, b.len), "<root> 7\na;b 1\n");
  ember_buf_free(&b);
}

static void test_trie_root_fragment_is_part_of_every_key(void **state) {
  ember_buf_t b = EMBER_BUF_INIT;
  put_node(&b, "r", 1, 1);
  put_node(&b, ";s", 2, 0);
  assert_string_equal(trie_ok(b.data, b.len), "r 1\nr;s 2\n");
  ember_buf_free(&b);
}

static void test_trie_empty_body_has_no_samples(void **state) {
  assert_string_equal(trie_ok("", 0), "");
}

static void test_trie_rejects_malformed_bodies(void **state) {
  for (size_t len = 1; len < sizeof AB_AC; len++)
    assert_non_null(strstr(trie_error(AB_AC, len, EMBER_EPARSE),
                           "truncated or not in trie format"));
  uint8_t trailing[sizeof AB_AC + 3];
  memcpy(trailing, AB_AC, sizeof AB_AC);
  memcpy(trailing + sizeof AB_AC, "\0\0\0", 3);
  assert_string_equal(trie_error(trailing, sizeof trailing, EMBER_EPARSE),
                      "trie body: 3 unexpected bytes after the root's subtree, at byte "
                      "16; send exactly one trie per request");
}

static void test_trie_stops_when_keys_make_the_work_quadratic(void **state) {
  /* A chain of one-byte fragments with no ';' and a value everywhere: every
   * node's stack is a new frame as long as its depth. */
  enum { DEPTH = 20000 };
  ember_buf_t b = EMBER_BUF_INIT;
  put_node(&b, "", 0, 1);
  for (int i = 0; i < DEPTH; i++) put_node(&b, "a", 1, i < DEPTH - 1);
  /* Refused for the work or for the memory of the names, whichever comes
   * first. */
  assert_non_null(strstr(trie_error(b.data, b.len, EMBER_ETOOBIG), "smaller pushes"));
  ember_buf_free(&b);
}

static void test_trie_handles_deep_tries_without_recursion(void **state) {
  enum { DEPTH = 200000 };
  ember_buf_t b = EMBER_BUF_INIT;
  put_node(&b, "", 0, 1);
  for (int i = 0; i < DEPTH; i++) put_node(&b, "f;", i == DEPTH - 1, i < DEPTH - 1);
  ember_tree_t *t = ember_tree_new();
  assert_int_equal(ember_ingest_trie((const uint8_t *)b.data, b.len, t, NULL), 0);
  /* Cut at the default depth: the root, 999 frames and the marker. */
  assert_int_equal(ember_tree_count(t), EMBER_INGEST_DEFAULT_MAX_STACK_DEPTH + 1);
  assert_int_equal(ember_tree_total(t, 0), 1);
  ember_tree_free(t);
  ember_buf_free(&b);
}

static void test_trie_decodes_a_realistic_profile(void **state) {
  size_t len, elen;
  char *body = read_fixture("ingest/profile.trie", &len);
  char *want = read_fixture("ingest/profile.expected", &elen);
  ember_tree_t *t = ember_tree_new();
  ember_err_t err;
  if (ember_ingest_trie((const uint8_t *)body, len, t, &err)) fail_msg("%s", err.msg);
  char *got = tree_dump(t);
  assert_string_equal(got, want);
  free(got);
  free(body);
  free(want);
  ember_tree_free(t);
}

static void test_trie_cuts_stacks_deeper_than_the_limit(void **state) {
  /* Keys a;b;c 1, a;b;c;d;e 2, a;b;x;y; 4 and a;b;z; 8 (z completed by a
   * fragment of its own). */
  ember_buf_t b = EMBER_BUF_INIT;
  put_node(&b, "", 0, 1);
  put_node(&b, "a;b;", 0, 3);
  put_node(&b, "c", 1, 1);
  put_node(&b, ";d;e", 2, 0);
  put_node(&b, "x;y;", 4, 0);
  put_node(&b, "z", 0, 1);
  put_node(&b, ";", 8, 0);
  ember_ingest_limits_t lim = {.max_stack_depth = 3};
  ingest_ctx_t c;
  ingest_ctx_init(&c, &lim, SIZE_MAX, NULL);
  ember_tree_t *t = ember_tree_new();
  assert_int_equal(ingest_trie((const uint8_t *)b.data, b.len, t, &c, NULL), 0);
  char *d = tree_dump(t);
  assert_string_equal(d, "a;b;[truncated] 6\na;b;c 1\na;b;z 8\n");
  assert_int_equal(c.truncated, 2);
  free(d);
  ember_tree_free(t);
  ember_buf_free(&b);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_trie_decodes_a_hand_encoded_body),
      cmocka_unit_test(test_trie_fragments_may_split_frame_names),
      cmocka_unit_test(test_trie_value_on_a_partial_frame_is_its_own_stack),
      cmocka_unit_test(test_trie_siblings_start_from_their_parents_key),
      cmocka_unit_test(test_trie_skips_empty_frames),
      cmocka_unit_test(test_trie_root_fragment_is_part_of_every_key),
      cmocka_unit_test(test_trie_empty_body_has_no_samples),
      cmocka_unit_test(test_trie_rejects_malformed_bodies),
      cmocka_unit_test(test_trie_stops_when_keys_make_the_work_quadratic),
      cmocka_unit_test(test_trie_handles_deep_tries_without_recursion),
      cmocka_unit_test(test_trie_decodes_a_realistic_profile),
      cmocka_unit_test(test_trie_cuts_stacks_deeper_than_the_limit),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
