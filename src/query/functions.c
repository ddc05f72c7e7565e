/*
 * functions.c - the function table of /render and /render-diff: per frame
 * name, its self and total over the whole (untruncated) tree, so that a
 * table beside a graph of 8,192 nodes still reads every function's exact
 * time, and the truncation bucket "other" never leads it.
 *
 * The sums (self of every node with the name; total of those with no
 * ancestor of the same name, so a recursive stack counts once) are the
 * tree's (ember_tree_functions, src/profile/functions.c), or, for a graph
 * the store cut before building it, the store's, computed the same way on
 * stack ids (ember_store_sums_tree). Here the names with a value are
 * ranked and the first max kept.
 */
#include "query_int.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---- Private functions ------------------------------------------------- */

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
      desc_u64(ember_sat_add(a->f.self[0], a->f.self[1]), ember_sat_add(b->f.self[0], b->f.self[1]));
  if (!c)
    c = desc_u64(ember_sat_add(a->f.total[0], a->f.total[1]),
                 ember_sat_add(b->f.total[0], b->f.total[1]));
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

/* The sums ranked, the first max of them in front, in order. */
static ranked_t *rank(const ember_tree_t *t, const uint64_t *totals,
                      const ember_function_t *all, size_t n, int nsides, size_t max) {
  uint64_t sides[EMBER_TREE_SIDES] = {0, 0};
  for (int s = 0; s < nsides; s++)
    sides[s] = totals[s];
  ranked_t *r = ember_malloc((n ? n : 1) * sizeof *r);
  for (size_t k = 0; k < n; k++) {
    const ember_function_t *f = &all[k];
    r[k].f = *f;
    r[k].name = ember_tree_name(t, f->name);
    r[k].key = nsides == 2 ? fabs(pp(f->self[1], sides[1]) - pp(f->self[0], sides[0])) : 0;
  }
  cmp_fn cmp = nsides == 2 ? cmp_diff : cmp_single;
  if (max < n) select_first(r, n, max, cmp);
  qsort(r, max < n ? max : n, sizeof *r, cmp);
  return r;
}

/* ---- API --------------------------------------------------------------- */

int ember_functions_rank(const ember_tree_t *t, const uint64_t *totals,
                         ember_function_t *all, size_t n, int nsides, size_t max,
                         ember_functions_t *out, ember_err_t *err) {
  nsides = nsides == 2 ? 2 : 1;
  ranked_t *r = rank(t, totals, all, n, nsides, max);
  ember_functions_t res = {t, nsides, NULL, n < max ? n : max, n};
  res.items = ember_malloc((res.n ? res.n : 1) * sizeof *res.items);
  for (size_t i = 0; i < res.n; i++)
    res.items[i] = r[i].f;
  free(r);
  free(all);
  *out = res;
  return EMBER_OK;
}

int ember_functions_compute(const ember_tree_t *t, int nsides, size_t max,
                            ember_functions_t *out, ember_err_t *err) {
  ember_function_t *all = NULL;
  size_t n = 0;
  uint64_t totals[EMBER_TREE_SIDES] = {ember_tree_total(t, 0), ember_tree_total(t, 1)};
  int rc = ember_tree_functions(t, nsides, &all, &n, err);
  return rc ? rc : ember_functions_rank(t, totals, all, n, nsides, max, out, err);
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
