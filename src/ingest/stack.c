/*
 * stack.c - the lines of the text formats, and their "a;b;c" stacks added
 * to a tree with the request's depth limit (ingest_int.h).
 */
#include "ingest_int.h"

#include <string.h>

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
  bool cut;
  ember_tree_add_text(t, c->max_depth, stack.base, stack.len, value, &cut);
  c->truncated += cut;
  return ingest_mem_tree(c, t, err);
}

int ingest_tree_sink(void *tree, ingest_ctx_t *c, ember_slice_t stack, uint64_t value,
                     ember_err_t *err) {
  return ingest_add_text_stack(tree, c, stack, value, err);
}
