/*
 * trie.c - the "trie" binary format (Content-Type binary/octet-stream+trie):
 * a radix trie over folded stack strings ("foo;bar;baz"), written like the
 * tree format (tree.c) but with name FRAGMENTS: a node's key is the
 * concatenation of the fragments from the root down to it, and a node with
 * a value > 0 gives that value to the stack its key spells. Fragments split
 * anywhere, even inside a frame name.
 *
 * Keys are never rebuilt from scratch. Walking down, the key grows in one
 * buffer (cut back when the walk returns to a shallower node), and each open
 * node remembers the ember tree node its complete frames lead to and where
 * its unfinished last frame starts, so a ';' in a fragment costs one child
 * lookup.
 */
#include "ingest_int.h"

#include <stdlib.h>

/* A trie node whose children are still being read. */
typedef struct {
  uint32_t node;  /* ember tree node of the key's complete frames */
  size_t keylen;  /* the key is key[0..keylen) */
  size_t pstart;  /* the unfinished frame is key[pstart..keylen) */
  uint64_t left;  /* children not read yet */
} open_node_t;

/* What the whole walk shares: the tree, the key buffer and the budget. */
typedef struct {
  ember_tree_t *t;
  ember_buf_t key;
  uint64_t work, budget;
} walk_t;

/* Extends the parent's state by fragment (already appended to the key at
 * parent->keylen), making an ember tree node for every frame it completes. */
static int complete_frames(walk_t *w, open_node_t *st, ember_err_t *err) {
  for (size_t q = st->keylen; q < w->key.len; q++) {
    if (w->key.data[q] != ';') continue;
    if (q > st->pstart) {
      w->work += q - st->pstart;
      if (w->work > w->budget) return ingest_too_much_work("trie", err);
      uint32_t name = ember_tree_intern(w->t, w->key.data + st->pstart, q - st->pstart);
      st->node = ember_tree_child(w->t, st->node, name);
    }
    st->pstart = q + 1;
  }
  st->keylen = w->key.len;
  return EMBER_OK;
}

/* Adds value to the stack the key spells: the complete frames plus the
 * unfinished one, when there is one. */
static int add_value(walk_t *w, const open_node_t *st, uint64_t value, ember_err_t *err) {
  uint32_t node = st->node;
  if (st->keylen > st->pstart) {
    size_t n = st->keylen - st->pstart;
    w->work += n;
    if (w->work > w->budget) return ingest_too_much_work("trie", err);
    node = ember_tree_child(w->t, node,
                            ember_tree_intern(w->t, w->key.data + st->pstart, n));
  }
  ember_tree_add(w->t, node, 0, value);
  return EMBER_OK;
}

int ember_ingest_trie(const uint8_t *buf, size_t len, ember_tree_t *t, ember_err_t *err) {
  ingest_reader_t r;
  walk_t w = {t, EMBER_BUF_INIT, 0, ingest_work_budget(len)};
  open_node_t *stack = NULL;
  size_t n = 0, cap = 0;
  int rc = EMBER_OK;
  if (len == 0) return EMBER_OK; /* no trie at all: no samples */
  ingest_reader_init(&r, buf, len, "trie");
  do {
    ingest_node_t nd;
    open_node_t st = {EMBER_TREE_ROOT, 0, 0, 0};
    rc = ingest_read_node(&r, &nd, err);
    if (rc) goto done;
    if (n) {
      stack[n - 1].left--;
      st = stack[n - 1];
    }
    w.key.len = st.keylen; /* back to the parent's key */
    ember_buf_append(&w.key, nd.name.base, nd.name.len);
    rc = complete_frames(&w, &st, err);
    if (rc == EMBER_OK && nd.value) rc = add_value(&w, &st, nd.value, err);
    if (rc) goto done;
    if (nd.nchildren) {
      st.left = nd.nchildren;
      ember_grow((void **)&stack, &cap, n + 1, sizeof *stack);
      stack[n++] = st;
    } else {
      while (n && stack[n - 1].left == 0)
        n--;
    }
  } while (n);
  rc = ingest_reader_finish(&r, err);
done:
  ember_buf_free(&w.key);
  free(stack);
  return rc;
}
