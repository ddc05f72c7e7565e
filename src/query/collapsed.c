/*
 * collapsed.c - /render?format=collapsed: the tree back as folded text, one
 * "frame;frame;leaf value" line per node with a self value, which is what
 * flamegraph.pl and speedscope read and what /ingest accepts again.
 *
 * Lines come depth first with children in name order ("other" last), so
 * the same tree always gives the same text. The root's own self (samples
 * with an empty stack) has no frames to name and is left out. A frame name
 * holding a line break would split its line, so CR and LF in names are
 * written as spaces.
 */
#include "query_int.h"

#include <stdlib.h>
#include <string.h>

/* ---- Walk -------------------------------------------------------------- */

/* Visits every node of t with a non-zero total on side (root excluded) in
 * output order; path_len is the length of its "a;b;c" path. */
typedef void (*visit_fn)(void *ctx, const ember_tree_t *t, uint32_t node,
                         size_t path_len);

typedef struct {
  uint32_t node;
  uint32_t depth;
} pending_t;

/* Children pushed in reverse sorted order, so the first pops first. The
 * path length per depth is kept in one array indexed by depth. */
static int walk(const ember_tree_t *t, int side, visit_fn fn, void *ctx,
                ember_err_t *err) {
  size_t scap = 64, sn = 0, kcap = 0, lcap = 64, visits = 0;
  int rc = EMBER_OK;
  pending_t *stack = ember_malloc(scap * sizeof *stack);
  size_t *len_at = ember_malloc(lcap * sizeof *len_at);
  uint32_t *kids = NULL;
  pending_t p = {EMBER_TREE_ROOT, 0};
  len_at[0] = 0;
  for (;;) {
    if ((rc = ember_query_deadline(visits++, "writing the collapsed stacks", err))) break;
    if (p.depth > 0) {
      size_t name = ember_tree_name(t, ember_tree_node(t, p.node)->name).len;
      ember_grow((void **)&len_at, &lcap, (size_t)p.depth + 1, sizeof *len_at);
      /* No overflow: depth times name length stays far below 2^64 for
       * any tree that fits in memory. */
      len_at[p.depth] = len_at[p.depth - 1] + (p.depth > 1) + name;
      fn(ctx, t, p.node, len_at[p.depth]);
    }
    size_t k = ember_tree_sorted_children(t, p.node, &kids, &kcap);
    ember_grow((void **)&stack, &scap, sn + k, sizeof *stack);
    for (size_t i = k; i-- > 0;)
      if (ember_tree_node(t, kids[i])->total[side]) {
        pending_t q = {kids[i], p.depth + 1};
        stack[sn++] = q;
      }
    if (!sn) break;
    p = stack[--sn];
  }
  free(stack);
  free(len_at);
  free(kids);
  return rc;
}

/* ---- Writing ----------------------------------------------------------- */

typedef struct {
  ember_buf_t *out;
  ember_buf_t path; /* "a;b;c" of the current node */
  int side;
} writer_t;

/* Appends name to the path, line breaks as spaces. */
static void put_name(ember_buf_t *b, ember_slice_t s) {
  size_t start = b->len;
  ember_buf_append(b, s.base, s.len);
  for (size_t i = start; i < b->len; i++)
    if (b->data[i] == '\n' || b->data[i] == '\r') b->data[i] = ' ';
}

static void write_line(void *ctx, const ember_tree_t *t, uint32_t node,
                       size_t path_len) {
  writer_t *w = ctx;
  const ember_tree_node_t *nd = ember_tree_node(t, node);
  ember_slice_t name = ember_tree_name(t, nd->name);
  /* The parent's path is the prefix of length path_len minus this name
   * (and its separator): cut back to it and extend. */
  size_t parent_len = path_len - name.len;
  if (parent_len > 0) parent_len--;
  w->path.len = parent_len;
  if (parent_len) ember_buf_putc(&w->path, ';');
  put_name(&w->path, name);
  if (!nd->self[w->side]) return;
  ember_buf_append(w->out, w->path.data, w->path.len);
  ember_buf_putc(w->out, ' ');
  ember_buf_put_u64(w->out, nd->self[w->side]);
  ember_buf_putc(w->out, '\n');
}

typedef struct {
  int side;
  size_t total;
} sizer_t;

static void count_line(void *ctx, const ember_tree_t *t, uint32_t node,
                       size_t path_len) {
  sizer_t *z = ctx;
  uint64_t self = ember_tree_node(t, node)->self[z->side];
  if (!self) return;
  size_t digits = 1;
  for (uint64_t v = self; v >= 10; v /= 10) digits++;
  size_t line = path_len + digits + 2;
  z->total = line < path_len || z->total > SIZE_MAX - line ? SIZE_MAX : z->total + line;
}

/* ---- API --------------------------------------------------------------- */

int ember_render_collapsed(ember_buf_t *out, const ember_tree_t *t, int side,
                           size_t max_output, ember_err_t *err) {
  size_t size;
  int rc = ember_collapsed_size(t, side, &size, err);
  if (!rc) rc = ember_query_check_size(size, max_output, "the collapsed profile", err);
  if (rc) return rc;
  writer_t w = {out, EMBER_BUF_INIT, side};
  ember_buf_reserve(out, size);
  rc = walk(t, side, write_line, &w, err);
  ember_buf_free(&w.path);
  return rc;
}

int ember_collapsed_size(const ember_tree_t *t, int side, size_t *out, ember_err_t *err) {
  sizer_t z = {side, 0};
  int rc = walk(t, side, count_line, &z, err);
  if (!rc) *out = z.total;
  return rc;
}
