/*
 * cut.c - from stack sums to the flame graph's tree, cut to max_nodes
 * before it is built (ember_store_sums_t, store.h).
 *
 * A read sums values by stack id (read.c). The tree of every stack read can
 * hold a hundred thousand nodes, of which a flame graph draws max_nodes
 * (8192 by default): building it all, with a hash lookup and a name per
 * node, and then cutting it down (ember_tree_truncate) cost more than the
 * reading itself in profiles of a large app. Here the nodes are first
 * numbered from the dictionary alone (ember_dict_closure), in the very
 * order ember_dict_build_tree would create them; totals, the choice of the
 * nodes kept and the "other" buckets are computed on those numbers, with
 * the rules of truncate.c (best-first by total of both sides, ties to the
 * smaller number; a kept node's dropped children fold into one "other"
 * child); only the kept nodes become tree nodes. The result is the tree
 * ember_tree_truncate would have made of the whole one, node for node.
 * The function table's sums of the whole tree (ember_tree_functions'
 * rules) are computed on the same numbers, a name per frame id.
 *
 * Sides read from two different apps (a diff across apps) have no common
 * numbering: their trees are built whole and cut by ember_tree_truncate,
 * as before.
 */
#include "store/store_int.h"

#include <stdlib.h>
#include <string.h>

struct ember_store_sums {
  struct {
    ember_dicts_t *reg;
    ember_dict_t *d; /* NULL: the side read nothing */
    uint64_t *values;
    size_t n;
  } side[EMBER_TREE_SIDES];
  ember_tree_t *whole; /* sides read as a tree (ember_sums_whole) */
};

/* ---- Object ------------------------------------------------------------ */

ember_store_sums_t *ember_store_sums_new(void) {
  return ember_calloc(1, sizeof(ember_store_sums_t));
}

static void side_clear(ember_store_sums_t *sums, int s) {
  if (sums->side[s].d) ember_dicts_put(sums->side[s].reg, sums->side[s].d);
  free(sums->side[s].values);
  memset(&sums->side[s], 0, sizeof sums->side[s]);
}

void ember_store_sums_free(ember_store_sums_t *sums) {
  if (!sums) return;
  for (int s = 0; s < EMBER_TREE_SIDES; s++) side_clear(sums, s);
  ember_tree_free(sums->whole);
  free(sums);
}

void ember_sums_set(ember_store_sums_t *sums, int side, ember_dicts_t *reg,
                    ember_dict_t *d, uint64_t *values, size_t n) {
  side_clear(sums, side);
  sums->side[side].reg = reg;
  sums->side[side].d = d;
  sums->side[side].values = values;
  sums->side[side].n = n;
}

ember_tree_t *ember_sums_whole(ember_store_sums_t *sums) {
  if (!sums->whole) sums->whole = ember_tree_new();
  return sums->whole;
}

/* ---- Helpers ----------------------------------------------------------- */

/* The numbered nodes, their totals per side (NULL for a side that read
 * nothing: a plain render has one), children lists. */
typedef struct {
  ember_dict_closure_t c;
  uint64_t *total[EMBER_TREE_SIDES];
  uint32_t *first, *next; /* children, UINT32_MAX-terminated */
} nodes_t;

static void nodes_free(nodes_t *x) {
  ember_dict_closure_free(&x->c);
  for (int s = 0; s < EMBER_TREE_SIDES; s++) free(x->total[s]);
  free(x->first);
  free(x->next);
}

/* A node's own value on side s. */
static uint64_t self_of(const ember_store_sums_t *sums, const nodes_t *x, int s, size_t i) {
  uint32_t st = x->c.stack[i];
  return st < sums->side[s].n ? sums->side[s].values[st] : 0;
}

static uint64_t total_of(const nodes_t *x, int s, size_t i) {
  return x->total[s] ? x->total[s][i] : 0;
}

/* Totals of every node: children have larger numbers than their parents,
 * so one backwards pass settles them. */
static int settle(const ember_store_sums_t *sums, nodes_t *x, ember_err_t *err) {
  size_t m = x->c.n;
  int rc = EMBER_OK;
  for (int s = 0; s < EMBER_TREE_SIDES && !rc; s++) {
    if (!sums->side[s].n) continue;
    uint64_t *t = x->total[s] = ember_malloc(m * sizeof *t);
    for (size_t i = 0; i < m; i++) t[i] = self_of(sums, x, s, i);
    for (size_t i = m - 1; i > 0 && !(rc = ember_tree_cut_deadline(i, err)); i--)
      t[x->c.parent[i]] = ember_sat_add(t[x->c.parent[i]], t[i]);
  }
  return rc;
}

/* ---- Choosing (truncate.c's rules) ------------------------------------- */

typedef struct {
  uint64_t key;
  uint32_t id;
} item_t;

/* a comes out before b: larger total first, then smaller number. */
static bool before(const item_t *a, const item_t *b) {
  return a->key != b->key ? a->key > b->key : a->id < b->id;
}

static void push(item_t **h, size_t *n, size_t *cap, item_t it) {
  ember_grow((void **)h, cap, *n + 1, sizeof **h);
  size_t i = (*n)++;
  while (i > 0 && before(&it, &(*h)[(i - 1) / 2])) {
    (*h)[i] = (*h)[(i - 1) / 2];
    i = (i - 1) / 2;
  }
  (*h)[i] = it;
}

static uint32_t pop(item_t *h, size_t *n) {
  uint32_t top = h[0].id;
  item_t last = h[--*n];
  size_t i = 0;
  for (;;) {
    size_t c = 2 * i + 1;
    if (c >= *n) break;
    if (c + 1 < *n && before(&h[c + 1], &h[c])) c++;
    if (!before(&h[c], &last)) break;
    h[i] = h[c];
    i = c;
  }
  if (*n) h[i] = last;
  return top;
}

/* Children lists, in number order. */
static void link_children(nodes_t *x) {
  size_t m = x->c.n;
  if (x->first) return;
  x->first = ember_malloc(m * sizeof *x->first);
  x->next = ember_malloc(m * sizeof *x->next);
  memset(x->first, 0xff, m * sizeof *x->first);
  for (size_t i = m - 1; i > 0; i--) {
    x->next[i] = x->first[x->c.parent[i]];
    x->first[x->c.parent[i]] = (uint32_t)i;
  }
}

/* Marks the max_nodes nodes a best-first walk from the root keeps. */
static int choose(nodes_t *x, size_t max_nodes, uint8_t *kept, ember_err_t *err) {
  size_t n = 0, cap = 0, nkept = 1;
  link_children(x);
  item_t *h = NULL;
  uint32_t id = 0;
  int rc = EMBER_OK;
  kept[0] = 1;
  while (nkept < max_nodes && !(rc = ember_tree_cut_deadline(nkept, err))) {
    for (uint32_t c = x->first[id]; c != UINT32_MAX; c = x->next[c])
      push(&h, &n, &cap, (item_t){ember_sat_add(total_of(x, 0, c), total_of(x, 1, c)), c});
    if (n == 0) break;
    id = pop(h, &n);
    kept[id] = 1;
    nkept++;
  }
  free(h);
  return rc;
}

/* ---- Building ---------------------------------------------------------- */

/* Builds the kept nodes (every node when kept is NULL) into a new tree, in
 * their numbers' order, with the other children of each kept node folded
 * into its "other" child. */
static int build(const ember_store_sums_t *sums, ember_dict_t *d, const nodes_t *x,
                 const uint8_t *kept, ember_tree_t **out, ember_err_t *err) {
  size_t m = x->c.n, nk = 0;
  uint32_t *which = ember_malloc(m * sizeof *which), *map = ember_malloc(m * sizeof *map);
  for (size_t i = 0; i < m; i++)
    if (!kept || kept[i]) which[nk++] = (uint32_t)i;
  uint32_t *stacks = ember_malloc(nk * sizeof *stacks), *names = ember_malloc(nk * sizeof *names);
  for (size_t k = 0; k < nk; k++) stacks[k] = x->c.stack[which[k]];
  ember_tree_t *t = ember_tree_new();
  ember_tree_reserve(t, nk, nk);
  ember_dict_intern_frames(d, stacks, nk, false, t, names);
  /* Folded values by the kept node's tree id (kept nodes are numbered
   * 0 .. nk-1 in the tree as they are made). */
  uint64_t(*fold)[EMBER_TREE_SIDES] = kept ? ember_calloc(nk, sizeof *fold) : NULL;
  int rc = EMBER_OK;
  map[0] = EMBER_TREE_ROOT;
  for (size_t k = 0; k < nk && !(rc = ember_tree_cut_deadline(k, err)); k++) {
    uint32_t i = which[k];
    if (i) map[i] = ember_tree_child(t, map[x->c.parent[i]], names[k]);
    for (int s = 0; s < EMBER_TREE_SIDES; s++)
      ember_tree_set(t, map[i], s, self_of(sums, x, s, i), total_of(x, s, i));
  }
  if (kept && !rc) {
    for (size_t i = 1; i < m; i++)
      if (!kept[i] && kept[x->c.parent[i]])
        for (int s = 0; s < EMBER_TREE_SIDES; s++)
          fold[map[x->c.parent[i]]][s] =
              ember_sat_add(fold[map[x->c.parent[i]]][s], total_of(x, s, i));
    for (size_t k = 0; k < nk; k++)
      ember_tree_add_other(t, map[which[k]], fold[map[which[k]]]);
  }
  free(which);
  free(map);
  free(stacks);
  free(names);
  free(fold);
  if (rc) {
    ember_tree_free(t);
    return rc;
  }
  *out = t;
  return EMBER_OK;
}

/* ---- Functions --------------------------------------------------------- */

typedef struct {
  uint32_t on_path; /* nodes of the frame on the current path */
  uint32_t node;    /* a node of the frame, for its name */
  uint64_t self[EMBER_TREE_SIDES];
  uint64_t total[EMBER_TREE_SIDES];
} facc_t;

/* Enters node i: its self always counts, its total when no ancestor has
 * its frame (so a recursive stack counts once). */
static void enter(const ember_store_sums_t *sums, const nodes_t *x, facc_t *acc,
                  uint32_t i) {
  facc_t *f = &acc[x->c.frame[i]];
  bool outer = f->on_path++ == 0;
  f->node = i;
  for (int s = 0; s < EMBER_TREE_SIDES; s++) {
    f->self[s] = ember_sat_add(f->self[s], self_of(sums, x, s, i));
    if (outer) f->total[s] = ember_sat_add(f->total[s], total_of(x, s, i));
  }
}

/* ember_tree_functions on node numbers: a depth-first walk over every node
 * but the root, children lists down, parents up, with no stack however
 * deep; one name per frame id. The dictionary holds each name once, so the
 * names go into a table of their own without a lookup each (tens of
 * thousands of them; the graph's tree keeps only its own few thousand,
 * which its encoder reads them all of). */
static int functions(const ember_store_sums_t *sums, ember_dict_t *d, nodes_t *x,
                     ember_store_functions_t *out, ember_err_t *err) {
  size_t m = x->c.n, nf = 1, visits = 0, k = 0;
  link_children(x);
  for (size_t i = 1; i < m; i++)
    if (x->c.frame[i] >= nf) nf = (size_t)x->c.frame[i] + 1;
  facc_t *acc = ember_calloc(nf, sizeof *acc);
  int rc = EMBER_OK;
  uint32_t i = x->first[0];
  while (i != UINT32_MAX && !(rc = ember_tree_cut_deadline(++visits, err))) {
    enter(sums, x, acc, i);
    if (x->first[i] != UINT32_MAX) {
      i = x->first[i];
      continue;
    }
    /* A leaf: leave it and every ancestor whose children are done. */
    for (;;) {
      acc[x->c.frame[i]].on_path--;
      if (x->next[i] != UINT32_MAX) {
        i = x->next[i];
        break;
      }
      i = x->c.parent[i];
      if (i == 0) {
        i = UINT32_MAX;
        break;
      }
    }
  }
  ember_function_t *items = rc ? NULL : ember_malloc(nf * sizeof *items);
  uint32_t *stacks = rc ? NULL : ember_malloc(nf * sizeof *stacks);
  for (size_t f = 0; !rc && f < nf; f++) {
    if (!acc[f].total[0] && !acc[f].total[1]) continue;
    items[k] = (ember_function_t){0, {acc[f].self[0], acc[f].self[1]},
                                  {acc[f].total[0], acc[f].total[1]}};
    stacks[k++] = x->c.stack[acc[f].node];
  }
  if (!rc) {
    uint32_t *names = ember_malloc((k ? k : 1) * sizeof *names);
    out->names = ember_tree_new();
    ember_dict_intern_frames(d, stacks, k, true, out->names, names);
    for (size_t j = 0; j < k; j++) items[j].name = names[j];
    free(names);
    out->items = items;
    out->n = k;
  }
  free(stacks);
  free(acc);
  return rc;
}

/* Sides of two apps, or sides a backend read as a tree: each tree built
 * whole (into the one read as a tree, which the sums then no longer
 * hold), its functions summed (their names are the whole tree's, which
 * then stays as their table), then cut as before. */
static int build_whole(ember_store_sums_t *sums, long max_nodes, ember_tree_t **out,
                       ember_store_functions_t *fns, ember_err_t *err) {
  ember_tree_t *t = sums->whole ? sums->whole : ember_tree_new(), *cut = NULL;
  sums->whole = NULL;
  ember_function_t *items = NULL;
  size_t n = 0;
  for (int s = 0; s < EMBER_TREE_SIDES; s++)
    if (sums->side[s].d && sums->side[s].n)
      ember_dict_build_tree(sums->side[s].d, sums->side[s].values, sums->side[s].n, t, s);
  int rc = fns ? ember_tree_functions(t, EMBER_TREE_SIDES, &items, &n, err) : EMBER_OK;
  if (!rc && max_nodes >= 0 && ember_tree_count(t) > (size_t)max_nodes)
    rc = ember_tree_truncate(t, max_nodes, &cut, err);
  if (rc) {
    ember_tree_free(t);
    free(items);
    return rc;
  }
  if (fns) *fns = (ember_store_functions_t){items, n, cut ? t : NULL};
  if (cut && !fns) ember_tree_free(t);
  if (!cut) {
    cut = t;
    if (fns) {
      /* The whole tree is the graph: the table gets its own copy of names. */
      fns->names = ember_tree_new();
      for (size_t i = 0; i < n; i++) {
        ember_slice_t nm = ember_tree_name(t, items[i].name);
        items[i].name = ember_tree_name_append(fns->names, nm.base, nm.len);
      }
    }
  }
  *out = cut;
  return EMBER_OK;
}

/* ---- API --------------------------------------------------------------- */

int ember_store_sums_tree(ember_store_sums_t *sums, long max_nodes, ember_tree_t **out,
                          ember_store_functions_t *fns, ember_err_t *err) {
  if (!sums || !out) return ember_err_set(err, EMBER_EINVAL, "bad arguments");
  if (sums->whole) return build_whole(sums, max_nodes, out, fns, err);
  ember_dict_t *d = NULL;
  const uint64_t *values[EMBER_TREE_SIDES];
  size_t n[EMBER_TREE_SIDES];
  for (int s = 0; s < EMBER_TREE_SIDES; s++) {
    values[s] = sums->side[s].values;
    n[s] = sums->side[s].d ? sums->side[s].n : 0;
    if (!sums->side[s].d) continue;
    if (d && d != sums->side[s].d) return build_whole(sums, max_nodes, out, fns, err);
    d = sums->side[s].d;
  }
  if (!d) {
    *out = ember_tree_new();
    if (fns) *fns = (ember_store_functions_t){ember_malloc(1), 0, ember_tree_new()};
    return EMBER_OK;
  }
  nodes_t x;
  memset(&x, 0, sizeof x);
  ember_dict_closure(d, values, n, EMBER_TREE_SIDES, &x.c);
  uint8_t *kept = NULL;
  int rc = settle(sums, &x, err);
  if (!rc && max_nodes >= 0 && x.c.n > (size_t)max_nodes) {
    kept = ember_calloc(x.c.n, 1);
    rc = choose(&x, (size_t)max_nodes, kept, err);
  }
  ember_tree_t *t = NULL;
  if (!rc) rc = build(sums, d, &x, kept, &t, err);
  /* After the kept nodes, so their name ids are what cutting the whole
   * tree gives. */
  if (!rc && fns) rc = functions(sums, d, &x, fns, err);
  free(kept);
  nodes_free(&x);
  if (rc) {
    ember_tree_free(t);
    return rc;
  }
  *out = t;
  return EMBER_OK;
}
