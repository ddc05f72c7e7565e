/*
 * stack.c - adding stacks to a tree with the depth limit every decoder
 * follows (include/ember/tree.h), and the text stacks of a folded or lines
 * body (include/ember/profile.h), which the store turns into a tree only
 * for the lines it does not know yet.
 *
 * One implementation of the depth rule serves both: a line the store builds
 * from its text long after the push was parsed must land on exactly the
 * node the tree decoders would have given it.
 */
#include "ember/profile.h"

#include <stdlib.h>
#include <string.h>

/* ---- Depth limit -------------------------------------------------------- */

ember_tree_pos_t ember_tree_pos_down(ember_tree_t *t, uint32_t max_depth,
                                     ember_tree_pos_t p, const char *name, size_t len) {
  static const char marker[] = EMBER_TREE_TRUNCATED_FRAME;
  p.depth++;
  if (p.depth < max_depth) {
    p.node = ember_tree_child(t, p.node, ember_tree_intern(t, name, len));
  } else if (p.depth == max_depth) {
    p.last = ember_slice(name, len);
  } else if (p.depth == (uint64_t)max_depth + 1) {
    /* One frame too many: the one held aside goes too, and the marker takes
     * its place, so a cut stack is max_depth frames deep. */
    p.node = ember_tree_child(t, p.node, ember_tree_intern(t, marker, sizeof marker - 1));
    p.last = ember_slice(NULL, 0);
  }
  return p;
}

uint32_t ember_tree_pos_add(ember_tree_t *t, uint32_t max_depth, ember_tree_pos_t p,
                            uint64_t value, bool *cut) {
  if (cut) *cut = false;
  if (!value) return EMBER_TREE_NONE;
  if (p.depth == max_depth)
    p.node = ember_tree_child(t, p.node, ember_tree_intern(t, p.last.base, p.last.len));
  if (cut) *cut = p.depth > max_depth;
  ember_tree_add(t, p.node, 0, value);
  return p.node;
}

uint32_t ember_tree_add_text(ember_tree_t *t, uint32_t max_depth, const char *text,
                             size_t len, uint64_t value, bool *cut) {
  ember_tree_pos_t pos = ember_tree_pos_root();
  const char *p = text, *end = text + len;
  /* Once cut, the stack's node cannot change: the rest is not read. */
  while (p < end && pos.depth <= max_depth) {
    const char *semi = memchr(p, ';', (size_t)(end - p));
    const char *stop = semi ? semi : end;
    if (stop > p) pos = ember_tree_pos_down(t, max_depth, pos, p, (size_t)(stop - p));
    p = semi ? semi + 1 : end;
  }
  return ember_tree_pos_add(t, max_depth, pos, value, cut);
}

bool ember_tree_text_is_cut(const char *text, size_t len, uint32_t max_depth) {
  /* max_depth + 1 non-empty frames need at least 2 * max_depth + 1 bytes. */
  if (len < 2 * (uint64_t)max_depth + 1) return false;
  uint64_t frames = 0;
  const char *p = text, *end = text + len;
  while (p < end && frames <= max_depth) {
    const char *semi = memchr(p, ';', (size_t)(end - p));
    const char *stop = semi ? semi : end;
    frames += stop > p;
    p = semi ? semi + 1 : end;
  }
  return frames > max_depth;
}

/* ---- Text stacks ---------------------------------------------------------- */

void ember_text_stacks_free(ember_text_stacks_t *s) {
  if (!s) return;
  free(s->items);
  free(s->owned);
  free(s);
}

size_t ember_text_stacks_mem(const ember_text_stacks_t *s) {
  if (!s) return 0;
  return sizeof *s + s->n * sizeof *s->items + s->owned_cap;
}

/* Takes what t has grown by since it last took from the budget. A push
 * whose tree and stacks would not fit the budget even alone is refused for
 * good (EMBER_ETOOBIG), one that would is told to come back (EMBER_EBUSY),
 * as the tree decoders decide. */
static int hold(ember_text_tree_t *t, const ember_text_stacks_t *s, size_t limit,
                ember_err_t *err) {
  size_t now = ember_tree_mem(t->tree);
  if (now <= t->held) return EMBER_OK;
  if (now > limit) {
    bool mib = limit >= (size_t)1 << 20;
    return ember_err_set(err, EMBER_ETOOBIG,
                         "body: its profiles would take more than %zu %s of memory, "
                         "more than its size warrants; send smaller pushes",
                         mib ? limit >> 20 : limit >> 10, mib ? "MiB" : "KiB");
  }
  if (!ember_budget_take(t->budget, now - t->held)) {
    if (now + ember_text_stacks_mem(s) > t->budget->limit)
      return ember_err_set(err, EMBER_ETOOBIG,
                           "body: its profiles would take more memory than the "
                           "server holds for all pushes at once (--max-inflight); "
                           "send smaller pushes");
    return ember_err_set(err, EMBER_EBUSY,
                         "server is busy: too many bytes in flight; retry");
  }
  t->held = now;
  return EMBER_OK;
}

int ember_text_tree_build(const ember_text_stacks_t *s, const uint32_t *which, size_t n,
                          uint32_t *leaf, ember_text_tree_t *out, ember_err_t *err) {
  ember_text_tree_t t = {ember_tree_new(), s->budget, 0};
  size_t limit = s->mem_limit ? s->mem_limit : SIZE_MAX;
  int rc = hold(&t, s, limit, err);
  for (size_t i = 0; rc == EMBER_OK && i < n; i++) {
    const ember_text_stack_t *st = &s->items[which ? which[i] : i];
    uint32_t node = ember_tree_add_text(t.tree, s->max_depth, st->text, st->len,
                                        st->value, NULL);
    if (leaf) leaf[i] = node;
    rc = hold(&t, s, limit, err);
  }
  if (rc) {
    ember_text_tree_free(&t);
    return rc;
  }
  *out = t;
  return EMBER_OK;
}

void ember_text_tree_free(ember_text_tree_t *t) {
  if (!t) return;
  ember_tree_free(t->tree);
  ember_budget_give(t->budget, t->held);
  memset(t, 0, sizeof *t);
}
