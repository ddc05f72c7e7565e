/*
 * stack.c - adding stacks to a tree the way every decoder must: a frame at
 * a time, cut at the request's depth limit, and, for the text formats,
 * from lines and "a;b;c" stacks (ingest_int.h).
 */
#include "ingest_int.h"

#include <string.h>

ingest_pos_t ingest_pos_down(ember_tree_t *t, const ingest_ctx_t *c, ingest_pos_t p,
                             const char *name, size_t len) {
  static const char marker[] = EMBER_INGEST_TRUNCATED_FRAME;
  p.depth++;
  if (p.depth < c->max_depth) {
    p.node = ember_tree_child(t, p.node, ember_tree_intern(t, name, len));
  } else if (p.depth == c->max_depth) {
    p.last = ember_slice(name, len);
  } else if (p.depth == (uint64_t)c->max_depth + 1) {
    /* One frame too many: the one held aside goes too, and the marker takes
     * its place, so a cut stack is max_depth frames deep. */
    p.node = ember_tree_child(t, p.node, ember_tree_intern(t, marker, sizeof marker - 1));
    p.last = ember_slice(NULL, 0);
  }
  return p;
}

void ingest_pos_add(ember_tree_t *t, ingest_ctx_t *c, ingest_pos_t p, uint64_t value) {
  if (!value) return;
  if (p.depth == c->max_depth)
    p.node = ember_tree_child(t, p.node, ember_tree_intern(t, p.last.base, p.last.len));
  if (p.depth > c->max_depth) c->truncated++;
  ember_tree_add(t, p.node, 0, value);
}

bool ingest_next_line(const char *buf, size_t len, size_t *pos, ember_slice_t *line) {
  if (*pos >= len) return false;
  const char *start = buf + *pos;
  const char *nl = memchr(start, '\n', len - *pos);
  size_t n = nl ? (size_t)(nl - start) : len - *pos;
  *pos += nl ? n + 1 : n;
  if (n && start[n - 1] == '\r') n--;
  *line = ingest_rtrim(ember_slice(start, n));
  return true;
}

int ingest_add_text_stack(ember_tree_t *t, ingest_ctx_t *c, ember_slice_t stack,
                          uint64_t value, ember_err_t *err) {
  ingest_pos_t pos = ingest_pos_root();
  const char *p = stack.base, *end = stack.base + stack.len;
  /* Once cut, the stack's node cannot change: the rest of the line is not
   * read. */
  while (p < end && pos.depth <= c->max_depth) {
    const char *semi = memchr(p, ';', (size_t)(end - p));
    const char *stop = semi ? semi : end;
    if (stop > p) pos = ingest_pos_down(t, c, pos, p, (size_t)(stop - p));
    p = semi ? semi + 1 : end;
  }
  ingest_pos_add(t, c, pos, value);
  return ingest_mem_tree(c, t, err);
}
