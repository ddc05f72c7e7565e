/* Fuzz driver for the text sink (src/ingest/text.c): a folded or lines body
 * kept as text stacks must give what its tree gives, the same error too.
 * The first byte picks the format (bit 0) and the depth limit (the rest);
 * the body follows. */
#include "ember/ingest.h"
#include "fuzz_util.h"

static int parse(const uint8_t *body, size_t size, bool folded, uint32_t depth, bool text,
                 ember_ingest_result_t *res, ember_err_t *err) {
  ember_ingest_request_t req = {
      .name = "app.cpu",
      .format = folded ? "folded" : "lines",
      .body = body,
      .body_len = size,
      .max_body = (size_t)64 << 20,
      .now = 1700000000,
      .limits = {.max_stack_depth = depth},
      .text_stacks = text,
  };
  memset(res, 0, sizeof *res);
  ember_err_clear(err);
  return ember_ingest_parse(&req, res, err);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static const uint32_t depths[] = {1, 2, 3, 5, 8, 64, 1000, 4};
  if (size < 1) return 0;
  bool folded = !(data[0] & 1);
  uint32_t depth = depths[(data[0] >> 1) % 8];
  ember_ingest_result_t a, b;
  ember_err_t ea, eb;
  int rca = parse(data + 1, size - 1, folded, depth, true, &a, &ea);
  int rcb = parse(data + 1, size - 1, folded, depth, false, &b, &eb);
  fuzz_check_message(rca, &ea);
  FUZZ_CHECK(rca == rcb);
  FUZZ_CHECK(rca != 0 || a.n == b.n);
  if (rca) FUZZ_CHECK(strcmp(ea.msg, eb.msg) == 0);
  if (rca == 0 && a.n) {
    const ember_text_stacks_t *s = a.items[0].stacks;
    FUZZ_CHECK(s && !a.items[0].tree && b.items[0].tree);
    FUZZ_CHECK(a.stacks_truncated == b.stacks_truncated);
    FUZZ_CHECK(ember_ingest_result_samples(&a) == ember_ingest_result_samples(&b));
    for (size_t i = 0; i < s->n; i++) /* pointing into the body, never copied */
      FUZZ_CHECK(s->items[i].value > 0 && (const uint8_t *)s->items[i].text >= data + 1 &&
                 (const uint8_t *)s->items[i].text + s->items[i].len <= data + size);
    ember_text_tree_t t;
    FUZZ_CHECK(ember_text_tree_build(s, NULL, s->n, NULL, &t, NULL) == 0);
    fuzz_check_tree(t.tree);
    fuzz_check_depth(t.tree, depth);
    /* Both trees on the two sides of one: every node alike on both. */
    ember_tree_t *both = ember_tree_new();
    ember_tree_merge(both, 0, t.tree, 0);
    ember_tree_merge(both, 1, b.items[0].tree, 0);
    FUZZ_CHECK(ember_tree_count(both) == ember_tree_count(b.items[0].tree));
    for (uint32_t id = 0; id < ember_tree_count(both); id++) {
      const ember_tree_node_t *n = ember_tree_node(both, id);
      FUZZ_CHECK(n->self[0] == n->self[1] && n->total[0] == n->total[1]);
    }
    ember_tree_free(both);
    ember_text_tree_free(&t);
  }
  ember_ingest_result_free(&a);
  ember_ingest_result_free(&b);
  return 0;
}
