/* Tests for src/ingest/text.c: folded and lines bodies kept as text stacks
 * must say exactly what their trees say. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "ember/ingest.h"
#include "ingest/ingest_test_util.h"
#include "ingest/random_text.h"

#define T0 "1700000000"

static ember_ingest_request_t request(const char *format, const void *body, size_t len,
                                      uint32_t max_depth, bool text) {
  ember_ingest_request_t r = {
      .name = "app.cpu{k=v}",
      .from = T0,
      .until = T0,
      .format = format,
      .body = body,
      .body_len = len,
      .max_body = (size_t)64 << 20,
      .now = 1700000000,
      .limits = {.max_stack_depth = max_depth},
      .text_stacks = text,
  };
  return r;
}

/* One parse's outcome, in a form two parses can be compared by. */
typedef struct {
  int rc;
  char msg[EMBER_ERR_MSG_MAX];
  uint64_t truncated, samples;
  char *dump; /* NULL when nothing was stored */
  bool text;  /* the profile held text stacks */
} outcome_t;

static outcome_t parse(const ember_ingest_request_t *req) {
  outcome_t o = {0};
  ember_ingest_result_t res = {0};
  ember_err_t err;
  ember_err_clear(&err);
  o.rc = ember_ingest_parse(req, &res, &err);
  snprintf(o.msg, sizeof o.msg, "%s", err.msg);
  if (o.rc == 0) {
    o.truncated = res.stacks_truncated;
    o.samples = ember_ingest_result_samples(&res);
    assert_true(res.n <= 1);
    if (res.n == 1) {
      const ember_profile_t *p = &res.items[0];
      o.text = p->stacks != NULL;
      assert_true((p->tree == NULL) == o.text);
      if (p->tree) {
        o.dump = tree_dump(p->tree);
      } else {
        ember_text_tree_t t;
        assert_int_equal(ember_text_tree_build(p->stacks, NULL, p->stacks->n, NULL, &t, NULL),
                         0);
        o.dump = tree_dump(t.tree);
        ember_text_tree_free(&t);
        assert_true(res.mem_bytes >= ember_text_stacks_mem(p->stacks));
      }
    }
  }
  ember_ingest_result_free(&res);
  return o;
}

static void assert_same(const outcome_t *text, const outcome_t *tree, const char *body) {
  if (text->rc != tree->rc || strcmp(text->msg, tree->msg))
    fail_msg("text gave %d '%s', the tree %d '%s' for:\n%s", text->rc, text->msg, tree->rc,
             tree->msg, body);
  assert_int_equal(text->truncated, tree->truncated);
  assert_true(text->samples == tree->samples);
  if ((text->dump == NULL) != (tree->dump == NULL) ||
      (text->dump && strcmp(text->dump, tree->dump)))
    fail_msg("text stored\n%s\nthe tree\n%s\nfor:\n%s", text->dump ? text->dump : "(none)",
             tree->dump ? tree->dump : "(none)", body);
}

/* How many random bodies were stored, stored with cut stacks, refused. */
static int stored, cut, refused;

static void check_both(const char *format, const ember_buf_t *body, uint32_t depth) {
  ember_ingest_request_t a = request(format, body->data, body->len, depth, true);
  ember_ingest_request_t b = request(format, body->data, body->len, depth, false);
  outcome_t x = parse(&a), y = parse(&b);
  assert_same(&x, &y, body->data);
  if (x.rc == 0 && x.dump) assert_true(x.text);
  stored += x.rc == 0 && x.dump;
  cut += x.rc == 0 && x.truncated;
  refused += x.rc != 0;
  free(x.dump);
  free(y.dump);
}

/* ---- Tests --------------------------------------------------------------- */

static void test_text_stacks_store_what_the_tree_stores_for_random_folded(void **state) {
  static const uint32_t depths[] = {1, 2, 3, 5, 8, 1000};
  uint64_t seed = 1;
  for (int round = 0; round < 600; round++) {
    ember_buf_t body = EMBER_BUF_INIT, pool[16];
    random_text_pool(&seed, pool, 16);
    random_text_body(&seed, pool, 16, true, 1 + (int)(random_next(&seed) % 60),
                     round % 3 == 0, &body);
    random_text_pool_free(pool, 16);
    check_both("folded", &body, depths[round % 6]);
    ember_buf_free(&body);
  }
  /* The inputs reach every case: stored, cut at the depth, refused. */
  assert_true(stored > 300 && cut > 100 && refused > 20);
}

static void test_text_stacks_store_what_the_tree_stores_for_random_lines(void **state) {
  static const uint32_t depths[] = {1, 2, 4, 7, 1000};
  uint64_t seed = 2;
  for (int round = 0; round < 400; round++) {
    ember_buf_t body = EMBER_BUF_INIT, pool[16];
    random_text_pool(&seed, pool, 16);
    random_text_body(&seed, pool, 16, false, 1 + (int)(random_next(&seed) % 80), false,
                     &body);
    random_text_pool_free(pool, 16);
    check_both("lines", &body, depths[round % 5]);
    ember_buf_free(&body);
  }
}

static void test_text_stacks_give_the_same_errors_with_line_numbers(void **state) {
  static const char *bodies[] = {
      "a;b 1\nc;d\n",
      "a;b 1\r\n\r\nc;d 18446744073709551616\n",
      "a 1\n\n\nx;y -3\n",
      "a 1\nb 2\nc 3x\n",
  };
  for (size_t i = 0; i < sizeof bodies / sizeof *bodies; i++) {
    ember_buf_t b = EMBER_BUF_INIT;
    ember_buf_puts(&b, bodies[i]);
    check_both("folded", &b, 1000);
    ember_buf_free(&b);
  }
  ember_ingest_request_t r = request("folded", "a 1\nb 2\nc 3x\n", 13, 1000, true);
  outcome_t o = parse(&r);
  assert_int_equal(o.rc, EMBER_EPARSE);
  assert_non_null(strstr(o.msg, "line 3:"));
}

static void test_text_stacks_keep_each_distinct_text_once_and_point_into_the_body(
    void **state) {
  const char body[] = "a;b 1\na;b 2\na;;b 4\na;b\t 3\r\n\nc 0\n";
  ember_ingest_request_t r = request("folded", body, sizeof body - 1, 1000, true);
  ember_ingest_result_t res = {0};
  assert_int_equal(ember_ingest_parse(&r, &res, NULL), 0);
  assert_int_equal(res.n, 1);
  const ember_text_stacks_t *s = res.items[0].stacks;
  assert_non_null(s);
  assert_null(s->owned);
  assert_int_equal(s->n, 2); /* "a;b" (1 + 2 + 3) and "a;;b"; a count of 0 adds nothing */
  assert_int_equal(s->items[0].len, 3);
  assert_int_equal(s->items[0].value, 6);
  assert_int_equal(s->items[1].value, 4);
  assert_int_equal(s->total, 10);
  for (size_t i = 0; i < s->n; i++) {
    assert_true(s->items[i].text >= body && s->items[i].text < body + sizeof body);
    assert_true(s->items[i].hash == ember_hash_bytes(s->items[i].text, s->items[i].len));
  }
  ember_ingest_result_free(&res);
}

static void test_text_stacks_of_a_gzipped_body_own_its_decoded_copy(void **state) {
  const char text[] = "main;work 5\nmain;idle 2\n";
  uint8_t gz[256];
  z_stream z;
  memset(&z, 0, sizeof z);
  assert_int_equal(deflateInit2(&z, 6, Z_DEFLATED, 31, 8, Z_DEFAULT_STRATEGY), Z_OK);
  z.next_in = (Bytef *)text;
  z.avail_in = sizeof text - 1;
  z.next_out = gz;
  z.avail_out = sizeof gz;
  assert_int_equal(deflate(&z, Z_FINISH), Z_STREAM_END);
  size_t gzlen = sizeof gz - z.avail_out;
  deflateEnd(&z);
  ember_budget_t budget = {0};
  budget.limit = 1 << 20;
  ember_ingest_request_t r = request("folded", gz, gzlen, 1000, true);
  r.content_encoding = "gzip";
  r.budget = &budget;
  ember_ingest_result_t res = {0};
  assert_int_equal(ember_ingest_parse(&r, &res, NULL), 0);
  /* What decoding took is given back; what the result holds it says. */
  assert_int_equal(ember_budget_used(&budget), 0);
  const ember_text_stacks_t *s = res.items[0].stacks;
  assert_non_null(s->owned);
  assert_true(res.mem_bytes >= s->owned_cap + s->n * sizeof *s->items);
  for (size_t i = 0; i < s->n; i++)
    assert_true(s->items[i].text >= s->owned && s->items[i].text < s->owned + s->owned_cap);
  assert_int_equal(ember_ingest_result_samples(&res), 7);
  ember_ingest_result_free(&res);
}

static void test_text_trees_take_their_memory_from_the_budget(void **state) {
  ember_buf_t body = EMBER_BUF_INIT;
  for (int i = 0; i < 2000; i++) ember_buf_printf(&body, "main;f%d;g%d 1\n", i, i);
  ember_ingest_request_t r = request("folded", body.data, body.len, 1000, true);
  ember_ingest_result_t res = {0};
  assert_int_equal(ember_ingest_parse(&r, &res, NULL), 0);
  ember_text_stacks_t *s = res.items[0].stacks;
  ember_budget_t budget = {0};
  budget.limit = (size_t)64 << 10;
  s->budget = &budget;
  ember_text_tree_t t;
  ember_err_t err;
  /* The tree of 2,000 stacks passes 64 KiB even alone: refused for good. */
  assert_int_equal(ember_text_tree_build(s, NULL, s->n, NULL, &t, &err), EMBER_ETOOBIG);
  assert_int_equal(ember_budget_used(&budget), 0);
  /* With room it is built, and gives its bytes back when freed. */
  budget.limit = (size_t)16 << 20;
  assert_int_equal(ember_text_tree_build(s, NULL, s->n, NULL, &t, &err), 0);
  assert_true(ember_budget_used(&budget) >= ember_tree_mem(t.tree) / 2);
  ember_text_tree_free(&t);
  assert_int_equal(ember_budget_used(&budget), 0);
  /* A budget others hold most of: come back later. */
  assert_true(ember_budget_take(&budget, budget.limit - 1024));
  assert_int_equal(ember_text_tree_build(s, NULL, s->n, NULL, &t, &err), EMBER_EBUSY);
  ember_budget_give(&budget, budget.limit - 1024);
  ember_ingest_result_free(&res);
  ember_buf_free(&body);
}

static void test_other_formats_give_trees_whatever_is_asked(void **state) {
  uint8_t tree[] = {0, 0, 1, 1, 'a', 3, 0};
  ember_ingest_request_t r = request("tree", tree, sizeof tree, 1000, true);
  ember_ingest_result_t res = {0};
  assert_int_equal(ember_ingest_parse(&r, &res, NULL), 0);
  assert_int_equal(res.n, 1);
  assert_non_null(res.items[0].tree);
  assert_null(res.items[0].stacks);
  ember_ingest_result_free(&res);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_text_stacks_store_what_the_tree_stores_for_random_folded),
      cmocka_unit_test(test_text_stacks_store_what_the_tree_stores_for_random_lines),
      cmocka_unit_test(test_text_stacks_give_the_same_errors_with_line_numbers),
      cmocka_unit_test(
          test_text_stacks_keep_each_distinct_text_once_and_point_into_the_body),
      cmocka_unit_test(test_text_stacks_of_a_gzipped_body_own_its_decoded_copy),
      cmocka_unit_test(test_text_trees_take_their_memory_from_the_budget),
      cmocka_unit_test(test_other_formats_give_trees_whatever_is_asked),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
