/*
 * tree.c - the "tree" binary format (Content-Type binary/octet-stream+tree):
 * a call tree written depth-first, root first. Each node is a uvarint name
 * length, the frame name, a uvarint self value and a uvarint child count.
 * The root's own name is ignored; its value is the root's self.
 *
 * Also here: the node reader that the trie format (trie.c), which shares the
 * layout, reads with. Both walk the input with an explicit stack, since its
 * depth is the sender's choice.
 */
#include "ingest_int.h"

#include <inttypes.h>
#include <stdlib.h>

/* ---- Node reader --------------------------------------------------------- */

void ingest_reader_init(ingest_reader_t *r, const uint8_t *buf, size_t len,
                        const char *format) {
  r->base = r->p = buf;
  r->end = buf + len;
  r->pending = 1; /* the root */
  r->format = format;
}

/* A varint at r->p failed: either the body ends inside it or it does not
 * fit 64 bits. */
static int bad_varint(const ingest_reader_t *r, size_t at, const char *what,
                      ember_err_t *err) {
  bool ends = false;
  for (const uint8_t *q = r->p; q < r->end && !ends; q++)
    ends = *q < 0x80;
  if (ends)
    return ember_err_set(err, EMBER_EPARSE,
                         "%s body: the node at byte %zu has a %s that does not fit 64 "
                         "bits; the body is corrupt or not in %s format",
                         r->format, at, what, r->format);
  return ember_err_set(err, EMBER_EPARSE,
                       "%s body: the node at byte %zu is cut off in its %s; the body "
                       "is truncated or not in %s format",
                       r->format, at, what, r->format);
}

int ingest_read_node(ingest_reader_t *r, ingest_node_t *node, ember_err_t *err) {
  size_t at = (size_t)(r->p - r->base);
  uint64_t name_len, value, nchildren;
  if (ember_varint_get(&r->p, r->end, &name_len))
    return bad_varint(r, at, "name length", err);
  if (name_len > (uint64_t)(r->end - r->p))
    return ember_err_set(err, EMBER_EPARSE,
                         "%s body: the node at byte %zu has a name of %" PRIu64
                         " bytes but only %zu bytes remain; the body is truncated or "
                         "not in %s format",
                         r->format, at, name_len, (size_t)(r->end - r->p), r->format);
  node->name = ember_slice((const char *)r->p, (size_t)name_len);
  r->p += name_len;
  if (ember_varint_get(&r->p, r->end, &value)) return bad_varint(r, at, "value", err);
  if (ember_varint_get(&r->p, r->end, &nchildren))
    return bad_varint(r, at, "child count", err);
  r->pending--;
  uint64_t room = (uint64_t)(r->end - r->p) / 3; /* nodes that still fit */
  if (r->pending > room || nchildren > room - r->pending)
    return ember_err_set(err, EMBER_EPARSE,
                         "%s body: the node at byte %zu has a child count of %" PRIu64
                         ", but the %zu bytes left cannot hold that many nodes and the "
                         "%" PRIu64 " still to come (each takes at least 3 bytes); the "
                         "body is truncated or not in %s format",
                         r->format, at, nchildren, (size_t)(r->end - r->p), r->pending,
                         r->format);
  r->pending += nchildren;
  node->value = value;
  node->nchildren = nchildren;
  return EMBER_OK;
}

int ingest_reader_finish(const ingest_reader_t *r, ember_err_t *err) {
  if (r->p == r->end) return EMBER_OK;
  return ember_err_set(err, EMBER_EPARSE,
                       "%s body: %zu unexpected bytes after the root's subtree, at byte "
                       "%zu; send exactly one %s per request",
                       r->format, (size_t)(r->end - r->p), (size_t)(r->p - r->base),
                       r->format);
}

int ingest_too_much_work(const char *format, ember_err_t *err) {
  return ember_err_set(err, EMBER_ETOOBIG,
                       "%s body: its stacks are too deep or too many for its size to "
                       "be expanded; send the profile in smaller pushes or as folded "
                       "text",
                       format);
}

/* ---- Tree ---------------------------------------------------------------- */

/* A node whose children are still being read. */
typedef struct {
  ingest_pos_t pos; /* where the node is in the ember tree */
  uint64_t left;    /* children not read yet */
} open_node_t;

int ingest_tree(const uint8_t *buf, size_t len, ember_tree_t *t, ingest_ctx_t *c,
                ember_err_t *err) {
  ingest_reader_t r;
  open_node_t *stack = NULL;
  size_t n = 0, cap = 0;
  int rc = EMBER_OK;
  if (len == 0) return EMBER_OK; /* no tree at all: no samples */
  ingest_mem_body(c, len);
  ingest_reader_init(&r, buf, len, "tree");
  do {
    ingest_node_t nd;
    ingest_pos_t pos = ingest_pos_root();
    rc = ingest_read_node(&r, &nd, err);
    if (rc) goto done;
    if (n) {
      pos = stack[n - 1].pos;
      /* A parent whose last child this is is not needed any more: a chain
       * of only children keeps the stack at one entry, however deep. */
      if (--stack[n - 1].left == 0) n--;
      /* An unnamed node adds nothing to the stack, as "a;;b" in folded. */
      if (nd.name.len) pos = ingest_pos_down(t, c, pos, nd.name.base, nd.name.len);
    }
    ingest_pos_add(t, c, pos, nd.value); /* O(1): totals settle later */
    rc = ingest_mem_tree(c, t, err);
    if (rc) goto done;
    if (nd.nchildren) {
      ember_grow((void **)&stack, &cap, n + 1, sizeof *stack);
      stack[n++] = (open_node_t){pos, nd.nchildren};
    }
  } while (n);
  rc = ingest_reader_finish(&r, err);
done:
  free(stack);
  return rc;
}

int ember_ingest_tree(const uint8_t *buf, size_t len, ember_tree_t *t, ember_err_t *err) {
  ingest_ctx_t c;
  ingest_ctx_init(&c, NULL, SIZE_MAX, NULL);
  int rc = ingest_tree(buf, len, t, &c, err);
  ingest_mem_release(&c);
  return rc;
}
