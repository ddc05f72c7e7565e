/*
 * flamebearer.c - the JSON documents of /render and /render-diff: a call
 * tree laid out as Pyroscope's "flamebearer" (one array of numbers per
 * depth), with its metadata and timeline.
 *
 * Layout rules (docs/API.md): a node's x is where its bar starts; a child
 * starts at its parent's x plus the parent's self, siblings follow each
 * other in name order ("other" last). Within a level, x is written as the
 * gap since the previous node ended. Names are indexed in the order of a
 * depth-first walk that takes the LAST sorted child first (a stack onto
 * which sorted children are pushed in order): that is the order Pyroscope's
 * clients have always received, so it is kept byte for byte.
 *
 * Two walks over one flat array. A breadth-first pass lays the bars out
 * level by level: each level is the concatenation of the sorted children of
 * the level above, so it comes out in x order, and a bar's children sit
 * next to each other in the level below. The name walk then runs depth
 * first over that array (no second sort). Memory is 8 bytes per bar plus 8
 * per side drawn: at 50,000 bars the response buffer is the larger part.
 *
 * Nodes with no value on any side drawn are left out: a bar of width zero
 * draws nothing. The root is always there, so an empty tree still gives
 * one level.
 */
#include "query_int.h"

#include <stdlib.h>
#include <string.h>

/* ---- Types ------------------------------------------------------------- */

/* One bar: its tree node and where its children start in the array (they
 * end where the next bar's begin). */
typedef struct {
  uint32_t node;
  uint32_t kids;
} bar_t;

/* A tree laid out for encoding. Owns its arrays. */
typedef struct {
  int nsides;
  bar_t *bars;        /* level by level, each level in x order; n + 1 */
  uint64_t *x;        /* where each bar starts, nsides per bar */
  size_t n;
  size_t *level_end;  /* level d is [level_end[d-1] (0 for d=0), level_end[d]) */
  size_t nlevels;
  uint32_t *index_of; /* tree name id -> index in names */
  uint32_t *names;    /* tree name ids, in names order */
  size_t nnames;
  uint64_t max_self;  /* over the sides drawn */
} layout_t;

/* ---- Layout ------------------------------------------------------------ */

static bool drawn(const ember_tree_node_t *n, int nsides) {
  for (int s = 0; s < nsides; s++)
    if (n->total[s]) return true;
  return false;
}

/* Appends bar i's drawn children to the array, placed after its self. */
static void add_children(const ember_tree_t *t, layout_t *L, size_t i,
                         uint32_t **kids, size_t *kcap) {
  const ember_tree_node_t *nd = ember_tree_node(t, L->bars[i].node);
  size_t k = ember_tree_sorted_children(t, L->bars[i].node, kids, kcap);
  uint64_t x[EMBER_TREE_SIDES];
  for (int s = 0; s < L->nsides; s++) {
    x[s] = ember_sat_add(L->x[i * L->nsides + s], nd->self[s]);
    if (nd->self[s] > L->max_self) L->max_self = nd->self[s];
  }
  L->bars[i].kids = (uint32_t)L->n;
  for (size_t j = 0; j < k; j++) {
    const ember_tree_node_t *c = ember_tree_node(t, (*kids)[j]);
    if (!drawn(c, L->nsides)) continue;
    L->bars[L->n].node = (*kids)[j];
    for (int s = 0; s < L->nsides; s++) {
      L->x[L->n * L->nsides + s] = x[s];
      x[s] = ember_sat_add(x[s], c->total[s]);
    }
    L->n++;
  }
}

/* Breadth first: fills bars, x, level_end and max_self. */
static int place(const ember_tree_t *t, layout_t *L, ember_err_t *err) {
  size_t cap = ember_tree_count(t) + 1, lcap = 16, kcap = 0;
  uint32_t *kids = NULL;
  L->bars = ember_malloc(cap * sizeof *L->bars);
  L->x = ember_calloc(cap * (size_t)L->nsides, sizeof *L->x);
  L->level_end = ember_malloc(lcap * sizeof *L->level_end);
  L->bars[0].node = EMBER_TREE_ROOT;
  L->n = 1;
  L->level_end[0] = 1;
  L->nlevels = 1;
  int rc = EMBER_OK;
  for (size_t i = 0; i < L->n && !rc; i++) {
    rc = ember_query_deadline(i, "laying out the flame graph", err);
    if (i == L->level_end[L->nlevels - 1]) {
      ember_grow((void **)&L->level_end, &lcap, L->nlevels + 1, sizeof *L->level_end);
      L->level_end[L->nlevels++] = L->n;
    }
    add_children(t, L, i, &kids, &kcap);
  }
  L->bars[L->n].kids = (uint32_t)L->n; /* sentinel: the last bar's kids end */
  free(kids);
  return rc;
}

/* Depth first, last child first: gives names their indices. */
static int name(const ember_tree_t *t, layout_t *L, ember_err_t *err) {
  size_t nn = ember_tree_name_count(t), sn = 0, visits = 0;
  int rc = EMBER_OK;
  uint32_t *stack = ember_malloc(L->n * sizeof *stack);
  L->index_of = ember_malloc(nn * sizeof *L->index_of);
  L->names = ember_malloc(nn * sizeof *L->names);
  memset(L->index_of, 0xff, nn * sizeof *L->index_of);
  stack[sn++] = 0;
  while (sn && !(rc = ember_query_deadline(visits++, "naming the frames", err))) {
    uint32_t i = stack[--sn];
    uint32_t id = ember_tree_node(t, L->bars[i].node)->name;
    if (L->index_of[id] == EMBER_TREE_NONE) {
      L->index_of[id] = (uint32_t)L->nnames;
      L->names[L->nnames++] = id;
    }
    /* Pushed in order, so the last child is popped first. */
    for (uint32_t c = L->bars[i].kids; c < L->bars[i + 1].kids; c++) stack[sn++] = c;
  }
  free(stack);
  return rc;
}

/* Lays t out; the caller frees with layout_free, also after an error. */
static int layout(const ember_tree_t *t, int nsides, layout_t *L, ember_err_t *err) {
  memset(L, 0, sizeof *L);
  L->nsides = nsides;
  int rc = place(t, L, err);
  return rc ? rc : name(t, L, err);
}

static void layout_free(layout_t *L) {
  free(L->bars);
  free(L->x);
  free(L->level_end);
  free(L->index_of);
  free(L->names);
}

/* ---- Encoding ---------------------------------------------------------- */

/* Writes v in decimal at p, returns the end. */
static char *fmt_u64(char *p, uint64_t v) {
  char tmp[20];
  int i = 20;
  do {
    tmp[--i] = (char)('0' + v % 10);
    v /= 10;
  } while (v);
  memcpy(p, tmp + i, (size_t)(20 - i));
  return p + 20 - i;
}

/* Appends "[...]" for one level. Numbers go straight into reserved space:
 * this loop is the whole cost of a large response. */
static int put_level(ember_buf_t *b, const ember_tree_t *t, const layout_t *L, size_t d,
                     ember_err_t *err) {
  size_t lo = d ? L->level_end[d - 1] : 0, hi = L->level_end[d];
  uint64_t end[EMBER_TREE_SIDES] = {0, 0};
  ember_buf_putc(b, '[');
  for (size_t i = lo; i < hi; i++) {
    int rc = ember_query_deadline(i, "writing the flame graph", err);
    if (rc) return rc;
    const ember_tree_node_t *nd = ember_tree_node(t, L->bars[i].node);
    ember_buf_reserve(b, 7 * 21 + 1);
    char *p = b->data + b->len;
    if (i > lo) *p++ = ',';
    for (int s = 0; s < L->nsides; s++) {
      /* Gaps are never negative in a valid tree; clamp rather than wrap
       * where saturated sums would make them so. */
      uint64_t x = L->x[i * L->nsides + s];
      p = fmt_u64(p, x >= end[s] ? x - end[s] : 0);
      *p++ = ',';
      p = fmt_u64(p, nd->total[s]);
      *p++ = ',';
      p = fmt_u64(p, nd->self[s]);
      *p++ = ',';
      end[s] = ember_sat_add(x, nd->total[s]);
    }
    p = fmt_u64(p, L->index_of[nd->name]);
    b->len = (size_t)(p - b->data);
  }
  ember_buf_putc(b, ']');
  return EMBER_OK;
}

/* Appends {"names":[...],"levels":[...],"numTicks":..,"maxSelf":..}. */
static int put_flamebearer(ember_buf_t *b, const ember_tree_t *t, int nsides,
                           uint64_t num_ticks, ember_err_t *err) {
  layout_t L;
  int rc = layout(t, nsides, &L, err);
  if (rc) goto done;
  /* Typical bars take 10 to 12 bytes per side: one reserve saves the
   * doublings of a large response. */
  ember_buf_reserve(b, L.n * 12 * (size_t)nsides);
  ember_buf_puts(b, "{\"names\":[");
  for (size_t i = 0; i < L.nnames; i++) {
    if (i) ember_buf_putc(b, ',');
    ember_slice_t s = ember_tree_name(t, L.names[i]);
    ember_buf_put_json_string(b, s.base, s.len);
  }
  ember_buf_puts(b, "],\"levels\":[");
  for (size_t d = 0; d < L.nlevels && !rc; d++) {
    if (d) ember_buf_putc(b, ',');
    rc = put_level(b, t, &L, d, err);
  }
  if (rc) goto done;
  ember_buf_puts(b, "],\"numTicks\":");
  ember_buf_put_u64(b, num_ticks);
  ember_buf_puts(b, ",\"maxSelf\":");
  ember_buf_put_u64(b, L.max_self);
  ember_buf_putc(b, '}');
done:
  layout_free(&L);
  return rc;
}

static void put_key_string(ember_buf_t *b, const char *key, const char *v) {
  ember_buf_printf(b, ",\"%s\":", key);
  ember_buf_put_json_string(b, v, strlen(v));
}

static void put_key_i64(ember_buf_t *b, const char *key, int64_t v) {
  ember_buf_printf(b, ",\"%s\":", key);
  ember_buf_put_i64(b, v);
}

/* Appends the metadata fields shared by both formats (after "format"). */
static void put_meta_fields(ember_buf_t *b, const ember_render_meta_t *m) {
  const char *app = m->app_name ? m->app_name : "";
  put_key_string(b, "spyName", m->spy_name ? m->spy_name : "unknown");
  put_key_i64(b, "sampleRate", m->sample_rate);
  put_key_string(b, "units", m->units ? m->units : "samples");
  put_key_string(b, "name", app);
  put_key_string(b, "appName", app);
  put_key_i64(b, "startTime", m->from);
  put_key_i64(b, "endTime", m->until);
  put_key_string(b, "query", m->query ? m->query : app);
  put_key_i64(b, "maxNodes", m->max_nodes);
  if (m->max_nodes_clamped) ember_buf_puts(b, ",\"maxNodesClamped\":true");
}

/* The flag a client reads to know that totals are a ceiling, not a
 * measurement: sums saturate at UINT64_MAX (which JSON readers round to
 * 18,446,744,073,709,552,000), and any saturated node saturates numTicks. */
static void put_saturated(ember_buf_t *b, uint64_t num_ticks) {
  if (num_ticks == UINT64_MAX) ember_buf_puts(b, ",\"saturated\":true");
}

/* The exact function table, when the request computed one. */
static void put_functions(ember_buf_t *b, const ember_functions_t *f) {
  if (!f) return;
  ember_buf_puts(b, ",\"functions\":");
  ember_functions_put_json(b, f);
}

/* ---- Bounds ------------------------------------------------------------ */

size_t ember_json_string_bound(const char *s, size_t n, bool html) {
  const unsigned char *p = (const unsigned char *)s;
  size_t size = 2;
  for (size_t i = 0; i < n; i++) {
    unsigned char c = p[i];
    /* \u00XX for control characters, U+FFFD (3 bytes) for an invalid
     * byte, \" and \\, and \u003c in a page. */
    if (c < 0x20 || (html && c == '<'))
      size += 6;
    else if (c >= 0x80)
      size += 3;
    else if (c == '"' || c == '\\')
      size += 2;
    else
      size++;
  }
  return size;
}

static size_t meta_bound(const ember_render_meta_t *m, bool html) {
  const char *strs[] = {m->app_name, m->query, m->spy_name, m->units};
  size_t size = 512; /* keys, numbers, punctuation */
  for (size_t i = 0; i < sizeof strs / sizeof *strs; i++)
    if (strs[i])
      size = ember_size_add(size,
                            2 * ember_json_string_bound(strs[i], strlen(strs[i]), html));
  /* The timeline: at most EMBER_TIMELINE_MAX_POINTS numbers. */
  return ember_size_add(size, 64 + m->grid.n * 21);
}

size_t ember_flamebearer_bound(const ember_tree_t *t, const ember_render_meta_t *left,
                               const ember_render_meta_t *right, bool html) {
  int nsides = right ? 2 : 1;
  size_t size = 256, nnames = ember_tree_name_count(t), n = ember_tree_count(t);
  for (uint32_t id = 0; id < nnames; id++) {
    ember_slice_t nm = ember_tree_name(t, id);
    size = ember_size_add(size, ember_json_string_bound(nm.base, nm.len, html) + 1);
  }
  /* Per bar: x (a gap, at most the root's total), total, self per side,
   * the name index, separators, and a level's brackets. */
  size_t x_digits = 0;
  for (int s = 0; s < nsides; s++)
    x_digits += ember_digits(ember_tree_total(t, s));
  size_t fixed = x_digits + 4 * (size_t)nsides + ember_digits(nnames) + 4;
  for (uint32_t id = 0; id < n; id++) {
    const ember_tree_node_t *nd = ember_tree_node(t, id);
    size_t bar = fixed;
    for (int s = 0; s < nsides; s++)
      bar += ember_digits(nd->total[s]) + ember_digits(nd->self[s]);
    size = ember_size_add(size, bar);
  }
  size = ember_size_add(size, meta_bound(left, html));
  size = ember_size_add(size, ember_functions_bound(left->functions, html));
  /* A diff has three timelines and both sides' queries. */
  if (right) size = ember_size_add(size, 2 * meta_bound(right, html));
  return size;
}

/* ---- API --------------------------------------------------------------- */

int ember_render_single(ember_buf_t *out, const ember_tree_t *t,
                        const ember_render_meta_t *m, ember_err_t *err) {
  int rc = ember_query_check_size(ember_flamebearer_bound(t, m, NULL, false),
                                  m->max_output, "the JSON flame graph", err);
  if (rc) return rc;
  ember_buf_puts(out, "{\"version\":1,\"flamebearer\":");
  rc = put_flamebearer(out, t, 1, ember_tree_total(t, 0), err);
  if (rc) return rc;
  ember_buf_puts(out, ",\"metadata\":{\"format\":\"single\"");
  put_meta_fields(out, m);
  put_saturated(out, ember_tree_total(t, 0));
  ember_buf_puts(out, "},\"timeline\":");
  ember_timeline_put_json(out, m->grid, m->timeline);
  put_functions(out, m->functions);
  ember_buf_putc(out, '}');
  return EMBER_OK;
}

/* The metadata describes the right side, as "timeline" does; the left
 * side's query and range travel beside it. */
int ember_render_double(ember_buf_t *out, const ember_tree_t *t,
                        const ember_render_meta_t *left, const ember_render_meta_t *right,
                        ember_err_t *err) {
  int rc = ember_query_check_size(ember_flamebearer_bound(t, left, right, false),
                                  left->max_output, "the JSON diff", err);
  if (rc) return rc;
  uint64_t lt = ember_tree_total(t, 0), rt = ember_tree_total(t, 1);
  ember_buf_puts(out, "{\"version\":1,\"leftTicks\":");
  ember_buf_put_u64(out, lt);
  ember_buf_puts(out, ",\"rightTicks\":");
  ember_buf_put_u64(out, rt);
  ember_buf_puts(out, ",\"flamebearer\":");
  rc = put_flamebearer(out, t, 2, ember_sat_add(lt, rt), err);
  if (rc) return rc;
  ember_buf_puts(out, ",\"metadata\":{\"format\":\"double\"");
  put_meta_fields(out, right);
  put_saturated(out, ember_sat_add(lt, rt));
  put_key_string(out, "leftQuery", left->query ? left->query : "");
  put_key_i64(out, "leftStartTime", left->from);
  put_key_i64(out, "leftEndTime", left->until);
  put_key_string(out, "rightQuery", right->query ? right->query : "");
  put_key_i64(out, "rightStartTime", right->from);
  put_key_i64(out, "rightEndTime", right->until);
  ember_buf_puts(out, "},\"timeline\":");
  ember_timeline_put_json(out, right->grid, right->timeline);
  ember_buf_puts(out, ",\"leftTimeline\":");
  ember_timeline_put_json(out, left->grid, left->timeline);
  ember_buf_puts(out, ",\"rightTimeline\":");
  ember_timeline_put_json(out, right->grid, right->timeline);
  put_functions(out, left->functions);
  ember_buf_putc(out, '}');
  return EMBER_OK;
}
