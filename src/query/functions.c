/*
 * functions.c - the function table of /render and /render-diff: per frame
 * name, its self and total over the whole (untruncated) tree, so that a
 * table beside a graph of 8,192 nodes still reads every function's exact
 * time, and the truncation bucket "other" never leads it.
 *
 * Self is the sum of the self values of every node with the name. Total is
 * the sum of the totals of the nodes with the name that have no ancestor of
 * the same name: on a recursive stack (a;b;a;c) the inner a's samples are
 * already in the outer a's total, so a sample counts once however often its
 * stack passes through the function. A total therefore never exceeds its
 * side's total, and a function's share of the total is a true share.
 *
 * One walk over the tree, in constant extra memory per name: a counter per
 * name of how often it is on the current path (entering a node whose name
 * is not on the path yet adds its total). The walk follows the tree's
 * child and sibling links and climbs back through parent links, so it needs
 * no stack however deep the tree is. Then the names with a value are
 * sorted and the first max kept.
 */
#include "query_int.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---- Private functions ------------------------------------------------- */

static uint64_t sat_add(uint64_t a, uint64_t b) {
  return a > UINT64_MAX - b ? UINT64_MAX : a + b;
}

/* What one walk gathers for one name: its sums, and how many nodes of
 * that name are on the current path (in one place: the walk touches both
 * for every node, and a name's entry is one cache line). */
typedef struct {
  uint32_t on_path;
  uint64_t self[EMBER_TREE_SIDES];
  uint64_t total[EMBER_TREE_SIDES];
} acc_t;

/* What one walk gathers. Owns acc. */
typedef struct {
  const ember_tree_t *t;
  int nsides;
  acc_t *acc; /* per name id */
} walk_t;

/* Enters node id: its self always counts, its total when no ancestor has
 * its name. */
static void enter(walk_t *w, uint32_t id) {
  const ember_tree_node_t *nd = ember_tree_node(w->t, id);
  acc_t *f = &w->acc[nd->name];
  bool outer = f->on_path++ == 0;
  for (int s = 0; s < w->nsides; s++) {
    f->self[s] = sat_add(f->self[s], nd->self[s]);
    if (outer) f->total[s] = sat_add(f->total[s], nd->total[s]);
  }
}

/* Depth first over every node but the root (whose name, "total", is no
 * function). Leaving a node is taking it off the path. */
static int walk(walk_t *w, ember_err_t *err) {
  const ember_tree_node_t *root = ember_tree_node(w->t, EMBER_TREE_ROOT);
  uint32_t id = root->first_child;
  size_t visits = 0;
  while (id != EMBER_TREE_NONE) {
    int rc = ember_query_deadline(++visits, "counting the functions", err);
    if (rc) return rc;
    enter(w, id);
    const ember_tree_node_t *nd = ember_tree_node(w->t, id);
    if (nd->first_child != EMBER_TREE_NONE) {
      id = nd->first_child;
      continue;
    }
    /* A leaf: leave it and every ancestor whose children are done. */
    for (;;) {
      nd = ember_tree_node(w->t, id);
      w->acc[nd->name].on_path--;
      if (nd->next_sibling != EMBER_TREE_NONE) {
        id = nd->next_sibling;
        break;
      }
      id = nd->parent;
      if (id == EMBER_TREE_ROOT) {
        id = EMBER_TREE_NONE;
        break;
      }
    }
  }
  return EMBER_OK;
}

/* Sorting. The order must be total (ties broken by name bytes) so that the
 * answer does not depend on qsort's whims. */
typedef struct {
  ember_function_t f;
  ember_slice_t name; /* borrowed from the tree */
  double key;         /* diff: |change of the self share|, in percentage points */
} ranked_t;

static int by_name(const ranked_t *a, const ranked_t *b) {
  ember_slice_t x = a->name, y = b->name;
  int c = memcmp(x.base, y.base, x.len < y.len ? x.len : y.len);
  return c ? c : (x.len > y.len) - (x.len < y.len);
}

static int desc_u64(uint64_t a, uint64_t b) {
  return (a < b) - (a > b);
}

static int cmp_single(const void *pa, const void *pb) {
  const ranked_t *a = pa, *b = pb;
  int c = desc_u64(a->f.self[0], b->f.self[0]);
  if (!c) c = desc_u64(a->f.total[0], b->f.total[0]);
  return c ? c : by_name(a, b);
}

static int cmp_diff(const void *pa, const void *pb) {
  const ranked_t *a = pa, *b = pb;
  if (a->key != b->key) return a->key > b->key ? -1 : 1;
  int c =
      desc_u64(sat_add(a->f.self[0], a->f.self[1]), sat_add(b->f.self[0], b->f.self[1]));
  if (!c)
    c = desc_u64(sat_add(a->f.total[0], a->f.total[1]),
                 sat_add(b->f.total[0], b->f.total[1]));
  return c ? c : by_name(a, b);
}

static double pp(uint64_t v, uint64_t total) {
  return total ? (double)v / (double)total * 100 : 0;
}

typedef int (*cmp_fn)(const void *, const void *);

static void swap(ranked_t *a, ranked_t *b) {
  ranked_t t = *a;
  *a = *b;
  *b = t;
}

/* Moves the first `keep` items by rank to the front of r[0..n), in no
 * particular order: a quickselect, so a table of 5,000 rows out of 100,000
 * names costs a few passes rather than a sort of every name. Pivots are
 * medians of three; should the rounds outgrow what a fair split needs
 * (inputs can be shaped by whoever sends profiles), the part left is
 * sorted instead, so the worst case stays O(n log n). */
static void select_first(ranked_t *r, size_t n, size_t keep, cmp_fn cmp) {
  size_t lo = 0, hi = n, rounds = 0, limit = 8;
  for (size_t m = n; m > 1; m >>= 1)
    limit += 2;
  while (hi - lo > 16 && keep > lo && keep < hi) {
    if (++rounds > limit) break;
    size_t mid = lo + (hi - lo) / 2;
    if (cmp(&r[mid], &r[lo]) < 0) swap(&r[mid], &r[lo]);
    if (cmp(&r[hi - 1], &r[lo]) < 0) swap(&r[hi - 1], &r[lo]);
    if (cmp(&r[hi - 1], &r[mid]) < 0) swap(&r[hi - 1], &r[mid]);
    ranked_t pivot = r[mid];
    /* Hoare: [lo, i) ranks before or with the pivot, [j, hi) after or with. */
    size_t i = lo, j = hi;
    for (;;) {
      while (cmp(&r[i], &pivot) < 0)
        i++;
      do
        j--;
      while (cmp(&pivot, &r[j]) < 0);
      if (i >= j) break;
      swap(&r[i], &r[j]);
      i++;
    }
    /* r[lo..j] rank before or with r[j+1..hi). */
    if (keep <= j)
      hi = j + 1;
    else
      lo = j + 1;
  }
  if (keep > lo && keep < hi) qsort(r + lo, hi - lo, sizeof *r, cmp);
}

/* The names that have a value, the first max of them ranked (and in front
 * of the rest); *n gets how many there are. */
static ranked_t *rank(const walk_t *w, size_t max, size_t *n) {
  size_t nn = ember_tree_name_count(w->t), k = 0;
  uint64_t all[EMBER_TREE_SIDES] = {0, 0};
  for (int s = 0; s < w->nsides; s++)
    all[s] = ember_tree_total(w->t, s);
  ranked_t *r = ember_malloc((nn ? nn : 1) * sizeof *r);
  for (uint32_t id = 0; id < nn; id++) {
    const acc_t *f = &w->acc[id];
    bool any = false;
    for (int s = 0; s < w->nsides; s++)
      any |= f->total[s] != 0;
    if (!any) continue;
    memset(&r[k].f, 0, sizeof r[k].f);
    r[k].f.name = id;
    memcpy(r[k].f.self, f->self, sizeof f->self);
    memcpy(r[k].f.total, f->total, sizeof f->total);
    r[k].name = ember_tree_name(w->t, id);
    r[k].key = w->nsides == 2 ? fabs(pp(f->self[1], all[1]) - pp(f->self[0], all[0])) : 0;
    k++;
  }
  cmp_fn cmp = w->nsides == 2 ? cmp_diff : cmp_single;
  if (max < k) select_first(r, k, max, cmp);
  qsort(r, max < k ? max : k, sizeof *r, cmp);
  *n = k;
  return r;
}

/* ---- API --------------------------------------------------------------- */

int ember_functions_compute(const ember_tree_t *t, int nsides, size_t max,
                            ember_functions_t *out, ember_err_t *err) {
  size_t nn = ember_tree_name_count(t), n = 0;
  walk_t w = {t, nsides == 2 ? 2 : 1, NULL};
  w.acc = ember_calloc(nn ? nn : 1, sizeof *w.acc);
  ranked_t *r = NULL;
  int rc = walk(&w, err);
  if (rc) goto done;
  r = rank(&w, max, &n);
  ember_functions_t res = {t, w.nsides, NULL, n < max ? n : max, n};
  res.items = ember_malloc((res.n ? res.n : 1) * sizeof *res.items);
  for (size_t i = 0; i < res.n; i++)
    res.items[i] = r[i].f;
  *out = res;
done:
  free(r);
  free(w.acc);
  return rc;
}

void ember_functions_free(ember_functions_t *f) {
  if (!f) return;
  free(f->items);
  memset(f, 0, sizeof *f);
}

size_t ember_functions_bound(const ember_functions_t *f, bool html) {
  if (!f) return 0;
  /* ,"functions":{"count":N,"truncated":false,"items":[ ... ]} */
  size_t size = 64 + 20;
  for (size_t i = 0; i < f->n; i++) {
    ember_slice_t nm = ember_tree_name(f->tree, f->items[i].name);
    /* {"name":..,"self":[a,b],"total":[a,b]}, */
    size_t item = 32 + (size_t)f->nsides * 2 * 21;
    size = ember_size_add(size, item + ember_json_string_bound(nm.base, nm.len, html));
  }
  return size;
}

/* One value: a number for a single graph, [left,right] for a diff. */
static void put_pair(ember_buf_t *b, const uint64_t *v, int nsides) {
  if (nsides == 1) {
    ember_buf_put_u64(b, v[0]);
    return;
  }
  ember_buf_putc(b, '[');
  ember_buf_put_u64(b, v[0]);
  ember_buf_putc(b, ',');
  ember_buf_put_u64(b, v[1]);
  ember_buf_putc(b, ']');
}

void ember_functions_put_json(ember_buf_t *b, const ember_functions_t *f) {
  ember_buf_puts(b, "{\"count\":");
  ember_buf_put_u64(b, f->count);
  ember_buf_puts(b, f->count > f->n ? ",\"truncated\":true" : ",\"truncated\":false");
  ember_buf_puts(b, ",\"items\":[");
  for (size_t i = 0; i < f->n; i++) {
    const ember_function_t *it = &f->items[i];
    ember_slice_t nm = ember_tree_name(f->tree, it->name);
    ember_buf_puts(b, i ? ",{\"name\":" : "{\"name\":");
    ember_buf_put_json_string(b, nm.base, nm.len);
    ember_buf_puts(b, ",\"self\":");
    put_pair(b, it->self, f->nsides);
    ember_buf_puts(b, ",\"total\":");
    put_pair(b, it->total, f->nsides);
    ember_buf_putc(b, '}');
  }
  ember_buf_puts(b, "]}");
}
