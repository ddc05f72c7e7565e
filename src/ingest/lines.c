/*
 * lines.c - the "lines" format: one stack per line (`a;b;c`, root first),
 * each line one sample. It is what a sampler writes when it does not
 * aggregate; duplicate lines simply sum in the tree. Nothing in it can be
 * malformed: every non-empty line is a stack.
 */
#include "ingest_int.h"

int ember_ingest_lines(const char *buf, size_t len, ember_tree_t *t, ember_err_t *err) {
  ingest_frames_t scratch = {0};
  ember_slice_t line;
  size_t pos = 0;
  (void)err; /* part of the decoder signature; this format cannot fail */
  while (ingest_next_line(buf, len, &pos, &line))
    if (line.len) ingest_add_text_stack(t, line, 1, &scratch);
  ingest_frames_free(&scratch);
  return EMBER_OK;
}
