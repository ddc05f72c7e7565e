/* What the fuzz drivers share: a checked call-tree walk and a NUL-terminated
 * copy of the input. A failed check aborts, which libFuzzer reports as a
 * crash with the input that caused it. */
#ifndef EMBER_FUZZ_UTIL_H
#define EMBER_FUZZ_UTIL_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ember/tree.h"

#define FUZZ_CHECK(cond)                                                                 \
  do {                                                                                   \
    if (!(cond)) {                                                                       \
      fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond);           \
      abort();                                                                           \
    }                                                                                    \
  } while (0)

/* The tree's invariants (tree.h) hold. */
static inline void fuzz_check_tree(const ember_tree_t *t) {
  ember_err_t err;
  if (ember_tree_check(t, &err)) {
    fprintf(stderr, "tree invariant broken: %s\n", err.msg);
    abort();
  }
}

/* No stack of t is deeper than max_depth frames. */
static inline void fuzz_check_depth(const ember_tree_t *t, uint32_t max_depth) {
  size_t n = ember_tree_count(t);
  uint32_t *depth = malloc((n + 1) * sizeof *depth);
  FUZZ_CHECK(depth);
  depth[0] = 0;
  for (size_t id = 1; id < n; id++) { /* parents have smaller ids */
    depth[id] = depth[ember_tree_node(t, (uint32_t)id)->parent] + 1;
    FUZZ_CHECK(depth[id] <= max_depth);
  }
  free(depth);
}

/* A NUL-terminated copy of data (caller frees). */
static inline char *fuzz_cstr(const uint8_t *data, size_t size) {
  char *s = malloc(size + 1);
  FUZZ_CHECK(s);
  if (size) memcpy(s, data, size);
  s[size] = '\0';
  return s;
}

/* An error message must be set, printable and short enough to send. */
static inline void fuzz_check_message(int rc, const ember_err_t *err) {
  if (rc == 0) return;
  FUZZ_CHECK(err->code == rc);
  size_t n = strnlen(err->msg, sizeof err->msg);
  FUZZ_CHECK(n > 0 && n < sizeof err->msg);
}

#endif
