/*
 * lines.c - the "lines" format: one stack per line (`a;b;c`, root first),
 * each line one sample. It is what a sampler writes when it does not
 * aggregate; duplicate lines simply sum in the tree. Nothing in it can be
 * malformed: every non-empty line is a stack, and it fails only when the
 * tree would take more memory than the body warrants.
 */
#include "ingest_int.h"

int ingest_lines_to(const char *buf, size_t len, ingest_sink_fn add, void *sink,
                    ingest_ctx_t *c, ember_err_t *err) {
  ember_slice_t line;
  size_t pos = 0;
  int rc = EMBER_OK;
  ingest_mem_body(c, len);
  while (rc == EMBER_OK && ingest_next_line(buf, len, &pos, &line))
    if (line.len) rc = add(sink, c, line, 1, err);
  return rc;
}

int ingest_lines(const char *buf, size_t len, ember_tree_t *t, ingest_ctx_t *c,
                 ember_err_t *err) {
  return ingest_lines_to(buf, len, ingest_tree_sink, t, c, err);
}

int ember_ingest_lines(const char *buf, size_t len, ember_tree_t *t, ember_err_t *err) {
  ingest_ctx_t c;
  ingest_ctx_init(&c, NULL, SIZE_MAX, NULL);
  int rc = ingest_lines(buf, len, t, &c, err);
  ingest_mem_release(&c);
  return rc;
}
