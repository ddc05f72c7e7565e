/*
 * folded.c - the folded ("collapsed") text format: one `frame;frame;leaf
 * count` per line, root first, as written by Brendan Gregg's stackcollapse
 * scripts, async-profiler, rbspy, py-spy and most other profilers.
 *
 * The count is what follows the LAST space, so frame names may hold spaces
 * and colons ("java.util.HashMap.get (inlined)").
 */
#include "ingest_int.h"

#include <stdlib.h>
#include <string.h>

/* ---- Folded ------------------------------------------------------------- */

typedef enum { COUNT_OK, COUNT_NOT_A_NUMBER, COUNT_TOO_LARGE } count_rc_t;

/* An unsigned decimal: digits only, no sign, at most UINT64_MAX. */
static count_rc_t parse_count(ember_slice_t s, uint64_t *out) {
  uint64_t v = 0;
  if (s.len == 0) return COUNT_NOT_A_NUMBER;
  for (size_t i = 0; i < s.len; i++) {
    unsigned d = (unsigned char)s.base[i] - (unsigned)'0';
    if (d > 9) return COUNT_NOT_A_NUMBER;
    if (v > (UINT64_MAX - d) / 10) return COUNT_TOO_LARGE;
    v = v * 10 + d;
  }
  *out = v;
  return COUNT_OK;
}

/* Splits a non-empty line into its stack and count, or explains why not. */
static int split_line(ember_slice_t line, size_t lineno, ember_slice_t *stack,
                      uint64_t *count, ember_err_t *err) {
  ingest_excerpt_t e;
  size_t sp = line.len;
  while (sp > 0 && line.base[sp - 1] != ' ')
    sp--;
  count_rc_t c = COUNT_NOT_A_NUMBER;
  if (sp > 0) c = parse_count(ember_slice(line.base + sp, line.len - sp), count);
  if (c == COUNT_TOO_LARGE)
    return ember_err_set(err, EMBER_EPARSE,
                         "line %zu: the count '%s' is too large; counts go up to "
                         "18446744073709551615",
                         lineno, ingest_excerpt(&e, line.base + sp, line.len - sp));
  if (c != COUNT_OK)
    return ember_err_set(err, EMBER_EPARSE,
                         "line %zu: expected 'frame;frame;... count', got '%s'; end "
                         "each line with a space and its sample count (or send "
                         "format=lines for stacks without counts)",
                         lineno, ingest_excerpt(&e, line.base, line.len));
  *stack = ingest_rtrim(ember_slice(line.base, sp - 1));
  return EMBER_OK;
}

int ingest_folded_to(const char *buf, size_t len, ingest_sink_fn add, void *sink,
                     ingest_ctx_t *c, ember_err_t *err) {
  ember_slice_t line;
  size_t pos = 0, lineno = 0;
  int rc = EMBER_OK;
  ingest_mem_body(c, len);
  while (ingest_next_line(buf, len, &pos, &line)) {
    ember_slice_t stack;
    uint64_t count = 0;
    lineno++;
    if (line.len == 0) continue;
    rc = split_line(line, lineno, &stack, &count, err);
    if (rc == EMBER_OK && count) rc = add(sink, c, stack, count, err);
    if (rc) break;
  }
  return rc;
}

int ingest_folded(const char *buf, size_t len, ember_tree_t *t, ingest_ctx_t *c,
                  ember_err_t *err) {
  return ingest_folded_to(buf, len, ingest_tree_sink, t, c, err);
}

int ember_ingest_folded(const char *buf, size_t len, ember_tree_t *t, ember_err_t *err) {
  ingest_ctx_t c;
  ingest_ctx_init(&c, NULL, SIZE_MAX, NULL);
  int rc = ingest_folded(buf, len, t, &c, err);
  ingest_mem_release(&c);
  return rc;
}
