/*
 * truncate.c - cutting a call tree down to the maxNodes a flame graph can
 * draw (ember_tree_truncate, declared in include/ember/tree.h).
 *
 * Which nodes survive: a best-first walk from the root. A max-heap holds the
 * children of every node kept so far, keyed by total (side 0 plus side 1);
 * the walk keeps the largest until max_nodes nodes (root included) are kept.
 * The kept set is therefore connected, and it is exactly the max_nodes
 * largest nodes whenever totals shrink from parent to child, which
 * invariant 4 of tree.h guarantees. Ties go to the smaller node id, so the
 * same tree always truncates the same way.
 *
 * What replaces the rest: each kept node whose children were not all kept
 * gets one child "other" holding their summed totals as its self and total,
 * per side, so every total above it is unchanged. If the node already has a
 * kept child literally named "other", the bucket is that child. The "other"
 * buckets come on top of the max_nodes kept nodes.
 *
 * Everything is iterative and linear apart from the heap: depth is
 * attacker-controlled. Both passes look at the calling thread's deadline
 * every few thousand nodes, so a query that ran out of time stops here.
 */
#include "ember/tree.h"

#include <stdlib.h>
#include <string.h>

/* ---- Heap -------------------------------------------------------------- */

typedef struct {
  uint64_t key;
  uint32_t id;
} heap_item_t;

typedef struct {
  heap_item_t *items;
  size_t n, cap;
} heap_t;

/* a comes out before b: larger total first, then smaller id. */
static bool before(const heap_item_t *a, const heap_item_t *b) {
  return a->key != b->key ? a->key > b->key : a->id < b->id;
}

static void heap_push(heap_t *h, uint64_t key, uint32_t id) {
  ember_grow((void **)&h->items, &h->cap, h->n + 1, sizeof *h->items);
  size_t i = h->n++;
  heap_item_t it = {key, id};
  while (i > 0) {
    size_t p = (i - 1) / 2;
    if (!before(&it, &h->items[p])) break;
    h->items[i] = h->items[p];
    i = p;
  }
  h->items[i] = it;
}

static uint32_t heap_pop(heap_t *h) {
  uint32_t top = h->items[0].id;
  heap_item_t last = h->items[--h->n];
  size_t i = 0;
  for (;;) {
    size_t c = 2 * i + 1;
    if (c >= h->n) break;
    if (c + 1 < h->n && before(&h->items[c + 1], &h->items[c])) c++;
    if (!before(&h->items[c], &last)) break;
    h->items[i] = h->items[c];
    i = c;
  }
  if (h->n) h->items[i] = last;
  return top;
}

/* ---- Private functions ------------------------------------------------- */

static uint64_t both_sides(const ember_tree_node_t *n) {
  return ember_sat_add(n->total[0], n->total[1]);
}

/* Marks in kept[] the nodes the best-first walk keeps. */
static int choose(const ember_tree_t *t, size_t max_nodes, uint8_t *kept,
                  ember_err_t *err) {
  heap_t h = {NULL, 0, 0};
  size_t nkept = 1;
  uint32_t id = EMBER_TREE_ROOT;
  int rc = EMBER_OK;
  kept[id] = 1;
  while (nkept < max_nodes && !(rc = ember_tree_cut_deadline(nkept, err))) {
    for (uint32_t c = ember_tree_node(t, id)->first_child; c != EMBER_TREE_NONE;
         c = ember_tree_node(t, c)->next_sibling)
      heap_push(&h, both_sides(ember_tree_node(t, c)), c);
    if (h.n == 0) break;
    id = heap_pop(&h);
    kept[id] = 1;
    nkept++;
  }
  free(h.items);
  return rc;
}

/* The id in out of t's name id, interned on first use. */
static uint32_t map_name(ember_tree_t *out, const ember_tree_t *t, uint32_t *names,
                         uint32_t name) {
  if (names[name] == EMBER_TREE_NONE) {
    ember_slice_t s = ember_tree_name(t, name);
    names[name] = ember_tree_intern(out, s.base, s.len);
  }
  return names[name];
}

/* Builds the kept nodes into out with their values, then the buckets. */
static int build(ember_tree_t *out, const ember_tree_t *t, const uint8_t *kept,
                 ember_err_t *err) {
  size_t n = ember_tree_count(t);
  uint32_t *map = ember_malloc(n * sizeof *map);
  uint32_t *names = ember_malloc(ember_tree_name_count(t) * sizeof *names);
  uint64_t(*fold)[EMBER_TREE_SIDES] = ember_calloc(n, sizeof *fold);
  memset(names, 0xff, ember_tree_name_count(t) * sizeof *names);
  map[EMBER_TREE_ROOT] = EMBER_TREE_ROOT;
  /* Invariant 2: ascending ids meet every parent before its children. */
  int rc = EMBER_OK;
  for (uint32_t id = 0; id < n && !(rc = ember_tree_cut_deadline(id, err)); id++) {
    const ember_tree_node_t *nd = ember_tree_node(t, id);
    if (id != EMBER_TREE_ROOT && !kept[id]) {
      if (kept[nd->parent])
        for (int s = 0; s < EMBER_TREE_SIDES; s++)
          fold[nd->parent][s] = ember_sat_add(fold[nd->parent][s], nd->total[s]);
      continue;
    }
    if (id != EMBER_TREE_ROOT)
      map[id] = ember_tree_child(out, map[nd->parent], map_name(out, t, names, nd->name));
    for (int s = 0; s < EMBER_TREE_SIDES; s++)
      ember_tree_set(out, map[id], s, nd->self[s], nd->total[s]);
  }
  for (uint32_t id = 0; id < n && !rc; id++)
    if (kept[id]) ember_tree_add_other(out, map[id], fold[id]);
  free(map);
  free(names);
  free(fold);
  return rc;
}

void ember_tree_add_other(ember_tree_t *t, uint32_t node,
                          const uint64_t fold[EMBER_TREE_SIDES]) {
  if (!fold[0] && !fold[1]) return;
  /* A new bucket starts at zero; a kept child named "other" absorbs. */
  uint32_t b = ember_tree_child(t, node, ember_tree_intern(t, "other", 5));
  const ember_tree_node_t *bn = ember_tree_node(t, b);
  for (int s = 0; s < EMBER_TREE_SIDES; s++)
    ember_tree_set(t, b, s, ember_sat_add(bn->self[s], fold[s]),
                   ember_sat_add(bn->total[s], fold[s]));
}

/* ---- API --------------------------------------------------------------- */

int ember_tree_cut_deadline(size_t i, ember_err_t *err) {
  if (i % 4096 || !ember_deadline_passed()) return EMBER_OK;
  return ember_err_set(err, EMBER_ETIMEOUT,
                       "the query ran out of time while cutting the flame graph down "
                       "to maxNodes; narrow the time range or the selector, or lower "
                       "maxNodes");
}


int ember_tree_truncate(const ember_tree_t *t, long max_nodes, ember_tree_t **out,
                        ember_err_t *err) {
  ember_tree_t *copy = ember_tree_new();
  size_t n = ember_tree_count(t);
  int rc = EMBER_OK;
  if (max_nodes < 0 || (size_t)max_nodes >= n) {
    ember_tree_merge(copy, 0, t, 0);
    ember_tree_merge(copy, 1, t, 1);
  } else {
    uint8_t *kept = ember_calloc(n, 1);
    rc = choose(t, (size_t)max_nodes, kept, err);
    if (!rc) rc = build(copy, t, kept, err);
    free(kept);
  }
  if (rc) {
    ember_tree_free(copy);
    return rc;
  }
  *out = copy;
  return EMBER_OK;
}
