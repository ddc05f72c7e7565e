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
  ingest_pos_t pos; /* the key's complete frames in the ember tree */
  size_t keylen;    /* the key is key[0..keylen) */
  size_t pstart;    /* the unfinished frame is key[pstart..keylen) */
  uint64_t left;    /* children not read yet */
} open_node_t;

/* What the whole walk shares: the tree, the key buffer and the budget. */
typedef struct {
  ember_tree_t *t;
  ingest_ctx_t *c;
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
      st->pos =
          ingest_pos_down(w->t, w->c, st->pos, w->key.data + st->pstart, q - st->pstart);
    }
    st->pstart = q + 1;
  }
  st->keylen = w->key.len;
  return EMBER_OK;
}

/* Adds value to the stack the key spells: the complete frames plus the
 * unfinished one, when there is one. */
static int add_value(walk_t *w, const open_node_t *st, uint64_t value, ember_err_t *err) {
  ingest_pos_t pos = st->pos;
  if (st->keylen > st->pstart) {
    size_t n = st->keylen - st->pstart;
    w->work += n;
    if (w->work > w->budget) return ingest_too_much_work("trie", err);
    pos = ingest_pos_down(w->t, w->c, pos, w->key.data + st->pstart, n);
  }
  ingest_pos_add(w->t, w->c, pos, value);
  return EMBER_OK;
}

int ingest_trie(const uint8_t *buf, size_t len, ember_tree_t *t, ingest_ctx_t *c,
                ember_err_t *err) {
  ingest_reader_t r;
  walk_t w = {t, c, EMBER_BUF_INIT, 0, ingest_work_budget(len)};
  open_node_t *stack = NULL;
  size_t n = 0, cap = 0;
  int rc = EMBER_OK;
  if (len == 0) return EMBER_OK; /* no trie at all: no samples */
  /* A key is fragments of the body, so it never outgrows it: reserved
   * once, the buffer never moves, and positions may point into it. Pages
   * never written take no memory. */
  ember_buf_reserve(&w.key, len + 1);
  ingest_mem_body(c, len);
  ingest_reader_init(&r, buf, len, "trie");
  do {
    ingest_node_t nd;
    open_node_t st = {ingest_pos_root(), 0, 0, 0};
    rc = ingest_read_node(&r, &nd, err);
    if (rc) goto done;
    if (n) {
      st = stack[n - 1];
      /* The parent's state is copied: after its last child it can go (see
       * tree.c). */
      if (--stack[n - 1].left == 0) n--;
    }
    w.key.len = st.keylen; /* back to the parent's key */
    ember_buf_append(&w.key, nd.name.base, nd.name.len);
    rc = complete_frames(&w, &st, err);
    if (rc == EMBER_OK && nd.value) rc = add_value(&w, &st, nd.value, err);
    if (rc == EMBER_OK) rc = ingest_mem_tree(c, t, err);
    if (rc) goto done;
    if (nd.nchildren) {
      st.left = nd.nchildren;
      ember_grow((void **)&stack, &cap, n + 1, sizeof *stack);
      stack[n++] = st;
    }
  } while (n);
  rc = ingest_reader_finish(&r, err);
done:
  ember_buf_free(&w.key);
  free(stack);
  return rc;
}

int ember_ingest_trie(const uint8_t *buf, size_t len, ember_tree_t *t, ember_err_t *err) {
  ingest_ctx_t c;
  ingest_ctx_init(&c, NULL, SIZE_MAX, NULL);
  int rc = ingest_trie(buf, len, t, &c, err);
  ingest_mem_release(&c);
  return rc;
}
