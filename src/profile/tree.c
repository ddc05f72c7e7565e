/*
 * tree.c - the call tree (see include/ember/tree.h for the model and its
 * invariants).
 *
 * Storage: nodes live in one array indexed by id; names in one byte arena
 * with an (offset, length) entry per id. Two open-addressing hash tables make
 * lookups O(1): one from name bytes to name id, one from (parent, name id) to
 * child node. Both store ids only and compare against the arrays, so they
 * hold no pointers that a realloc could invalidate.
 */
#include "ember/tree.h"

#include <stdlib.h>
#include <string.h>

/* ---- Types ------------------------------------------------------------- */

typedef struct {
  uint32_t off;
  uint32_t len;
} name_ref_t;

struct ember_tree {
  ember_tree_node_t *nodes;
  size_t nnodes, nodes_cap;
  /* Totals are settled lazily: adding a value only touches the node's self
   * and sets this flag; the first read of a total recomputes every total in
   * one pass. Updating ancestors on every add would cost O(depth) per add,
   * which a deep attacker-supplied tree turns into O(n^2). */
  bool totals_stale;

  char *arena; /* name bytes, back to back */
  size_t arena_len, arena_cap;
  name_ref_t *names;
  size_t nnames, names_cap;

  uint32_t *name_slots; /* name id + 1, 0 = empty */
  size_t name_slots_cap;
  size_t nindexed; /* names [0, nindexed) are in name_slots (appended ones
                      wait for the next intern) */
  uint32_t *child_slots; /* node id + 1, 0 = empty */
  size_t child_slots_cap;
};

/* ---- Names ------------------------------------------------------------- */

/* The hash of a name's bytes, eight at a time: frame names are long
 * (package paths of 50-100 bytes), and hashing them a byte at a time was a
 * visible share of building a large tree from the store. */
static uint64_t name_hash(const char *p, size_t n) {
  uint64_t h = 0x9e3779b97f4a7c15ull ^ n, w;
  for (; n >= 8; p += 8, n -= 8) {
    memcpy(&w, p, 8);
    h = (h ^ w) * 0xff51afd7ed558ccdull;
    h ^= h >> 32;
  }
  w = 0;
  memcpy(&w, p, n);
  h = (h ^ w) * 0xc4ceb9fe1a85ec53ull;
  return h ^ (h >> 29);
}

static bool name_is(const ember_tree_t *t, uint32_t id, const char *p,
                    size_t n) {
  const name_ref_t *r = &t->names[id];
  return r->len == n && memcmp(t->arena + r->off, p, n) == 0;
}

static void rehash_names(ember_tree_t *t, size_t cap) {
  free(t->name_slots);
  t->name_slots = ember_calloc(cap, sizeof *t->name_slots);
  t->name_slots_cap = cap;
  for (uint32_t id = 0; id < t->nnames; id++) {
    const name_ref_t *r = &t->names[id];
    size_t i = name_hash(t->arena + r->off, r->len) & (cap - 1);
    while (t->name_slots[i]) i = (i + 1) & (cap - 1);
    t->name_slots[i] = id + 1;
  }
  t->nindexed = t->nnames;
}

/* Stores a new name's bytes; its id. */
static uint32_t add_name(ember_tree_t *t, const char *name, size_t len) {
  if (t->arena_len + len > UINT32_MAX || t->nnames >= UINT32_MAX - 1) {
    /* 4 GiB of distinct names in one tree cannot come from a bounded body. */
    abort();
  }
  ember_grow((void **)&t->arena, &t->arena_cap, t->arena_len + len + 1, 1);
  memcpy(t->arena + t->arena_len, name, len);
  ember_grow((void **)&t->names, &t->names_cap, t->nnames + 1, sizeof *t->names);
  uint32_t id = (uint32_t)t->nnames++;
  t->names[id].off = (uint32_t)t->arena_len;
  t->names[id].len = (uint32_t)len;
  t->arena_len += len;
  return id;
}

uint32_t ember_tree_name_append(ember_tree_t *t, const char *name, size_t len) {
  return add_name(t, name, len);
}

uint32_t ember_tree_intern(ember_tree_t *t, const char *name, size_t len) {
  if (t->nindexed < t->nnames || (t->nnames + 1) * 2 > t->name_slots_cap) {
    size_t cap = t->name_slots_cap;
    while ((t->nnames + 1) * 2 > cap) cap *= 2;
    rehash_names(t, cap);
  }
  size_t mask = t->name_slots_cap - 1;
  size_t i = name_hash(name, len) & mask;
  for (; t->name_slots[i]; i = (i + 1) & mask) {
    uint32_t id = t->name_slots[i] - 1;
    if (name_is(t, id, name, len)) return id;
  }
  uint32_t id = add_name(t, name, len);
  t->name_slots[i] = id + 1;
  t->nindexed = t->nnames;
  return id;
}

ember_slice_t ember_tree_name(const ember_tree_t *t, uint32_t name_id) {
  const name_ref_t *r = &t->names[name_id];
  return ember_slice(t->arena + r->off, r->len);
}

size_t ember_tree_name_count(const ember_tree_t *t) { return t->nnames; }

/* ---- Nodes ------------------------------------------------------------- */

static void rehash_children(ember_tree_t *t, size_t cap) {
  free(t->child_slots);
  t->child_slots = ember_calloc(cap, sizeof *t->child_slots);
  t->child_slots_cap = cap;
  for (uint32_t id = 1; id < t->nnodes; id++) {
    const ember_tree_node_t *n = &t->nodes[id];
    size_t i = ember_hash_pair(n->parent, n->name) & (cap - 1);
    while (t->child_slots[i]) i = (i + 1) & (cap - 1);
    t->child_slots[i] = id + 1;
  }
}

/* Slot where (parent, name) lives or would be inserted. */
static size_t child_slot(const ember_tree_t *t, uint32_t parent, uint32_t name) {
  size_t mask = t->child_slots_cap - 1;
  size_t i = ember_hash_pair(parent, name) & mask;
  for (; t->child_slots[i]; i = (i + 1) & mask) {
    const ember_tree_node_t *n = &t->nodes[t->child_slots[i] - 1];
    if (n->parent == parent && n->name == name) break;
  }
  return i;
}

uint32_t ember_tree_find_child(const ember_tree_t *t, uint32_t parent,
                               uint32_t name_id) {
  uint32_t v = t->child_slots[child_slot(t, parent, name_id)];
  return v ? v - 1 : EMBER_TREE_NONE;
}

static uint32_t new_node(ember_tree_t *t, uint32_t parent, uint32_t name) {
  ember_grow((void **)&t->nodes, &t->nodes_cap, t->nnodes + 1, sizeof *t->nodes);
  uint32_t id = (uint32_t)t->nnodes++;
  ember_tree_node_t *n = &t->nodes[id];
  memset(n, 0, sizeof *n);
  n->parent = parent;
  n->name = name;
  n->first_child = EMBER_TREE_NONE;
  n->next_sibling = EMBER_TREE_NONE;
  return id;
}

uint32_t ember_tree_child(ember_tree_t *t, uint32_t parent, uint32_t name_id) {
  if ((t->nnodes + 1) * 2 > t->child_slots_cap)
    rehash_children(t, t->child_slots_cap * 2);
  size_t i = child_slot(t, parent, name_id);
  if (t->child_slots[i]) return t->child_slots[i] - 1;
  uint32_t id = new_node(t, parent, name_id);
  /* Prepended, so siblings are in reverse insertion order; whoever needs an
   * order asks ember_tree_sorted_children. */
  t->nodes[id].next_sibling = t->nodes[parent].first_child;
  t->nodes[parent].first_child = id;
  t->child_slots[i] = id + 1;
  return id;
}

void ember_tree_add(ember_tree_t *t, uint32_t node, int side, uint64_t value) {
  if (!value) return;
  t->nodes[node].self[side] = ember_sat_add(t->nodes[node].self[side], value);
  t->totals_stale = true;
}

/* Recomputes every total from the selfs. Invariant 2 (parents have smaller
 * ids) makes it one backwards pass. Logically const: totals are a cache of
 * the selfs, so readers of a const tree may settle it. */
static void settle(const ember_tree_t *ct) {
  if (!ct->totals_stale) return;
  ember_tree_t *t = (ember_tree_t *)ct;
  for (size_t id = 0; id < t->nnodes; id++)
    for (int s = 0; s < EMBER_TREE_SIDES; s++) t->nodes[id].total[s] = t->nodes[id].self[s];
  for (size_t id = t->nnodes - 1; id > 0; id--) {
    ember_tree_node_t *n = &t->nodes[id], *p = &t->nodes[n->parent];
    for (int s = 0; s < EMBER_TREE_SIDES; s++) p->total[s] = ember_sat_add(p->total[s], n->total[s]);
  }
  t->totals_stale = false;
}

void ember_tree_set(ember_tree_t *t, uint32_t node, int side, uint64_t self,
                    uint64_t total) {
  t->nodes[node].self[side] = self;
  t->nodes[node].total[side] = total;
}

uint32_t ember_tree_add_stack(ember_tree_t *t, const ember_slice_t *frames,
                              size_t n, uint64_t value) {
  uint32_t node = EMBER_TREE_ROOT;
  for (size_t i = 0; i < n; i++)
    node = ember_tree_child(t, node, ember_tree_intern(t, frames[i].base,
                                                       frames[i].len));
  ember_tree_add(t, node, 0, value);
  return node;
}

/* ---- API --------------------------------------------------------------- */

ember_tree_t *ember_tree_new(void) {
  ember_tree_t *t = ember_calloc(1, sizeof *t);
  t->name_slots_cap = 16;
  t->name_slots = ember_calloc(t->name_slots_cap, sizeof *t->name_slots);
  t->child_slots_cap = 16;
  t->child_slots = ember_calloc(t->child_slots_cap, sizeof *t->child_slots);
  new_node(t, EMBER_TREE_NONE, ember_tree_intern(t, "total", 5));
  return t;
}

void ember_tree_free(ember_tree_t *t) {
  if (!t) return;
  free(t->nodes);
  free(t->arena);
  free(t->names);
  free(t->name_slots);
  free(t->child_slots);
  free(t);
}

size_t ember_tree_count(const ember_tree_t *t) { return t->nnodes; }

void ember_tree_reserve(ember_tree_t *t, size_t nodes, size_t names) {
  ember_grow((void **)&t->nodes, &t->nodes_cap, t->nnodes + nodes, sizeof *t->nodes);
  ember_grow((void **)&t->names, &t->names_cap, t->nnames + names, sizeof *t->names);
  size_t cap = t->child_slots_cap;
  while ((t->nnodes + nodes) * 2 > cap) cap *= 2;
  if (cap != t->child_slots_cap) rehash_children(t, cap);
  cap = t->name_slots_cap;
  while ((t->nnames + names) * 2 > cap) cap *= 2;
  if (cap != t->name_slots_cap || t->nindexed < t->nnames) rehash_names(t, cap);
}

size_t ember_tree_mem(const ember_tree_t *t) {
  if (!t) return 0;
  return sizeof *t + t->nodes_cap * sizeof *t->nodes + t->arena_cap +
         t->names_cap * sizeof *t->names +
         (t->name_slots_cap + t->child_slots_cap) * sizeof(uint32_t);
}

const ember_tree_node_t *ember_tree_node(const ember_tree_t *t, uint32_t id) {
  settle(t);
  return &t->nodes[id];
}

uint64_t ember_tree_total(const ember_tree_t *t, int side) {
  settle(t);
  return t->nodes[EMBER_TREE_ROOT].total[side];
}

uint64_t ember_tree_max_self(const ember_tree_t *t, int side) {
  uint64_t m = 0;
  for (size_t i = 0; i < t->nnodes; i++)
    if (t->nodes[i].self[side] > m) m = t->nodes[i].self[side];
  return m;
}

void ember_tree_merge(ember_tree_t *dst, int dst_side, const ember_tree_t *src,
                      int src_side) {
  /* Invariant 2 lets one pass in id order map every src node to its dst
   * node: a node's parent is always mapped before the node. */
  uint32_t *map = ember_malloc(src->nnodes * sizeof *map);
  uint32_t *name_map = ember_malloc((src->nnames ? src->nnames : 1) * sizeof *name_map);
  for (size_t i = 0; i < src->nnames; i++) {
    ember_slice_t s = ember_tree_name(src, (uint32_t)i);
    name_map[i] = ember_tree_intern(dst, s.base, s.len);
  }
  map[0] = EMBER_TREE_ROOT;
  for (uint32_t id = 1; id < src->nnodes; id++) {
    const ember_tree_node_t *n = &src->nodes[id];
    map[id] = ember_tree_child(dst, map[n->parent], name_map[n->name]);
  }
  for (uint32_t id = 0; id < src->nnodes; id++) {
    uint64_t v = src->nodes[id].self[src_side];
    if (!v) continue;
    dst->nodes[map[id]].self[dst_side] =
        ember_sat_add(dst->nodes[map[id]].self[dst_side], v);
    dst->totals_stale = true;
  }
  free(map);
  free(name_map);
}

/* qsort has no context argument in C11, so sorting goes through a small
 * array of (name bytes, node) pairs. */
typedef struct {
  const char *p;
  uint32_t len;
  uint32_t node;
  bool other;
} sort_item_t;

static int cmp_items(const void *a, const void *b) {
  const sort_item_t *x = a, *y = b;
  if (x->other != y->other) return x->other ? 1 : -1;
  size_t n = x->len < y->len ? x->len : y->len;
  int c = memcmp(x->p, y->p, n);
  if (c) return c;
  return x->len < y->len ? -1 : x->len > y->len;
}

size_t ember_tree_sorted_children(const ember_tree_t *t, uint32_t node,
                                  uint32_t **buf, size_t *cap) {
  size_t n = 0;
  for (uint32_t c = t->nodes[node].first_child; c != EMBER_TREE_NONE;
       c = t->nodes[c].next_sibling)
    n++;
  ember_grow((void **)buf, cap, n, sizeof **buf);
  if (n == 0) return 0;
  sort_item_t stack_items[16];
  sort_item_t *items = n <= 16 ? stack_items : ember_malloc(n * sizeof *items);
  size_t i = 0;
  for (uint32_t c = t->nodes[node].first_child; c != EMBER_TREE_NONE;
       c = t->nodes[c].next_sibling, i++) {
    ember_slice_t s = ember_tree_name(t, t->nodes[c].name);
    items[i].p = s.base;
    items[i].len = (uint32_t)s.len;
    items[i].node = c;
    items[i].other = ember_slice_eq(s, "other");
  }
  qsort(items, n, sizeof *items, cmp_items);
  for (i = 0; i < n; i++) (*buf)[i] = items[i].node;
  if (items != stack_items) free(items);
  return n;
}

int ember_tree_check(const ember_tree_t *t, ember_err_t *err) {
  int rc = EMBER_OK;
  settle(t);
  uint64_t(*sums)[EMBER_TREE_SIDES] = ember_calloc(t->nnodes, sizeof *sums);
  if (t->nnodes == 0 || t->nodes[0].parent != EMBER_TREE_NONE ||
      !ember_slice_eq(ember_tree_name(t, t->nodes[0].name), "total")) {
    rc = ember_err_set(err, EMBER_EINVAL, "root is missing or misnamed");
    goto done;
  }
  for (uint32_t id = 1; id < t->nnodes; id++) {
    const ember_tree_node_t *n = &t->nodes[id];
    if (n->parent >= id) {
      rc = ember_err_set(err, EMBER_EINVAL, "node %u has parent %u", id, n->parent);
      goto done;
    }
    if (ember_tree_find_child(t, n->parent, n->name) != id) {
      rc = ember_err_set(err, EMBER_EINVAL, "node %u is a duplicate child", id);
      goto done;
    }
    for (int s = 0; s < EMBER_TREE_SIDES; s++)
      sums[n->parent][s] = ember_sat_add(sums[n->parent][s], n->total[s]);
  }
  for (uint32_t id = 0; id < t->nnodes; id++)
    for (int s = 0; s < EMBER_TREE_SIDES; s++)
      if (t->nodes[id].total[s] != ember_sat_add(t->nodes[id].self[s], sums[id][s])) {
        rc = ember_err_set(err, EMBER_EINVAL, "node %u total is off on side %d",
                           id, s);
        goto done;
      }
done:
  free(sums);
  return rc;
}
