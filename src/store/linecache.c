/*
 * linecache.c - whole stack lines to stack ids, per app, so that a line an
 * app has sent before costs the writer one hash lookup instead of a tree
 * and a dictionary lookup per frame.
 *
 * An agent sends much the same stacks push after push; the dictionary
 * (dict.c) knows their ids, but reaching them from text means splitting
 * the line into frames, building a call tree and looking up every (parent,
 * frame) pair. The cache maps the text of a line, exactly as sent ("a;b;c"
 * with its empty frames and anything past the depth limit), to the stack id
 * it resolved to. Texts it does not hold go the long way (a tree of just
 * those lines, mapped by ember_dict_map_tree) and are added.
 *
 * The cache belongs to the app's dictionary (dict.c owns the pointer), so
 * whatever drops the dictionary drops it too: an eviction, an app deletion,
 * and above all a rollback (writer.c, 7), after which it might name ids
 * that no longer exist. Only the writer thread reads or changes it.
 *
 * Bound: two generations of at most gen_max bytes each (slots and text). A
 * new line goes into the current one; when that is full, the previous one
 * is dropped whole and the current one takes its place. A line found only
 * in the previous generation is copied into the current one, so lines in
 * use survive every turn and lines no longer sent leave after two. That is
 * a bounded approximation of least recently used, without a per-entry list
 * or any fragmentation of the text arenas.
 *
 * Invariants:
 *  1. Every entry maps the text of a line to the stack id that
 *     ember_tree_add_text with max_depth, then ember_dict_map_tree, gave it
 *     in the dictionary that owns the cache; ids only ever exist once
 *     committed or added by the writer's open transaction (dict.c, 1 and 4).
 *  2. Each generation holds at most gen_max bytes; a text longer than a
 *     quarter of gen_max is never cached.
 *  3. Within a generation a text appears at most once, at the probe
 *     position of its hash.
 */
#include "store/store_int.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

/* ---- Types ------------------------------------------------------------- */

typedef struct {
  uint64_t hash;
  uint32_t off, len; /* the text, in the generation's arena */
  uint32_t stack;    /* EMBER_LINECACHE_NONE = empty slot */
} slot_t;

typedef struct {
  slot_t *slots;
  size_t nslots; /* a power of two, or 0 before the first line */
  size_t n;
  char *arena;
  size_t arena_len, arena_cap;
} gen_t;

struct ember_linecache {
  gen_t cur, prev;
  size_t gen_max;
  uint32_t max_depth;
  ember_linecache_stats_t stats;
};

#define FIRST_SLOTS 64
#define FIRST_ARENA ((size_t)4 << 10)

/* ---- Generations -------------------------------------------------------- */

static size_t gen_bytes(const gen_t *g) {
  return g->nslots * sizeof *g->slots + g->arena_cap;
}

static void gen_free(gen_t *g) {
  free(g->slots);
  free(g->arena);
  memset(g, 0, sizeof *g);
}

static slot_t *find(const gen_t *g, uint64_t hash, const char *text, uint32_t len) {
  if (!g->n) return NULL;
  size_t mask = g->nslots - 1;
  for (size_t at = (size_t)hash & mask;; at = (at + 1) & mask) {
    slot_t *e = &g->slots[at];
    if (e->stack == EMBER_LINECACHE_NONE) return NULL;
    if (e->hash == hash && e->len == len && !memcmp(g->arena + e->off, text, len))
      return e;
  }
}

static void empty_slots(slot_t *s, size_t n) {
  for (size_t i = 0; i < n; i++) s[i].stack = EMBER_LINECACHE_NONE;
}

/* Makes room for one more entry of len bytes in g without passing max
 * bytes; false when it would pass them. */
static bool gen_room(gen_t *g, uint32_t len, size_t max) {
  size_t nslots = g->nslots ? g->nslots : FIRST_SLOTS;
  if ((g->n + 1) * 4 > nslots * 3) nslots *= 2; /* load stays at most 3/4 */
  size_t arena = g->arena_cap ? g->arena_cap : FIRST_ARENA;
  while (arena < g->arena_len + len) arena *= 2;
  if (nslots * sizeof(slot_t) + arena > max) return false;
  if (nslots != g->nslots) {
    slot_t *old = g->slots;
    size_t nold = g->nslots, mask = nslots - 1;
    g->slots = ember_malloc(nslots * sizeof *g->slots);
    empty_slots(g->slots, nslots);
    for (size_t i = 0; i < nold; i++) {
      if (old[i].stack == EMBER_LINECACHE_NONE) continue;
      size_t at = (size_t)old[i].hash & mask;
      while (g->slots[at].stack != EMBER_LINECACHE_NONE) at = (at + 1) & mask;
      g->slots[at] = old[i];
    }
    g->nslots = nslots;
    free(old);
  }
  if (arena != g->arena_cap) {
    g->arena = ember_realloc(g->arena, arena);
    g->arena_cap = arena;
  }
  return true;
}

static void gen_put(gen_t *g, uint64_t hash, const char *text, uint32_t len,
                    uint32_t stack) {
  size_t mask = g->nslots - 1, at = (size_t)hash & mask;
  while (g->slots[at].stack != EMBER_LINECACHE_NONE) at = (at + 1) & mask;
  if (len) memcpy(g->arena + g->arena_len, text, len);
  g->slots[at] = (slot_t){hash, (uint32_t)g->arena_len, len, stack};
  g->arena_len += len;
  g->n++;
}

/* ---- API ---------------------------------------------------------------- */

ember_linecache_t *ember_linecache_new(size_t max_bytes) {
  ember_linecache_t *lc = ember_calloc(1, sizeof *lc);
  lc->gen_max = max_bytes / 2;
  return lc;
}

void ember_linecache_free(ember_linecache_t *lc) {
  if (!lc) return;
  gen_free(&lc->cur);
  gen_free(&lc->prev);
  free(lc);
}

void ember_linecache_depth(ember_linecache_t *lc, uint32_t max_depth) {
  if (lc->max_depth == max_depth) return;
  /* The same text cut at another depth is another stack. */
  gen_free(&lc->cur);
  gen_free(&lc->prev);
  lc->max_depth = max_depth;
}

void ember_linecache_put(ember_linecache_t *lc, uint64_t hash, const char *text,
                         uint32_t len, uint32_t stack) {
  if (stack == EMBER_LINECACHE_NONE || len > lc->gen_max / 4) return;
  slot_t *e = find(&lc->cur, hash, text, len);
  if (e) {
    e->stack = stack;
    return;
  }
  if (!gen_room(&lc->cur, len, lc->gen_max)) {
    gen_free(&lc->prev);
    lc->prev = lc->cur;
    memset(&lc->cur, 0, sizeof lc->cur);
    lc->stats.turns++;
    if (!gen_room(&lc->cur, len, lc->gen_max)) return; /* gen_max below one slot table */
  }
  gen_put(&lc->cur, hash, text, len, stack);
  /* Invariant 2, and the load that keeps every probe short. */
  assert(gen_bytes(&lc->cur) <= lc->gen_max && gen_bytes(&lc->prev) <= lc->gen_max);
  assert(lc->cur.n * 4 <= lc->cur.nslots * 3);
}

uint32_t ember_linecache_get(ember_linecache_t *lc, uint64_t hash, const char *text,
                             uint32_t len) {
  const slot_t *e = find(&lc->cur, hash, text, len);
  if (e) {
    lc->stats.hits++;
    return e->stack;
  }
  e = find(&lc->prev, hash, text, len);
  if (!e) {
    lc->stats.misses++;
    return EMBER_LINECACHE_NONE;
  }
  lc->stats.hits++;
  uint32_t stack = e->stack;
  ember_linecache_put(lc, hash, text, len, stack); /* text is the caller's */
  return stack;
}

size_t ember_linecache_bytes(const ember_linecache_t *lc) {
  if (!lc) return 0;
  return sizeof *lc + gen_bytes(&lc->cur) + gen_bytes(&lc->prev);
}

void ember_linecache_stats(const ember_linecache_t *lc, ember_linecache_stats_t *out) {
  *out = lc->stats;
  out->entries = lc->cur.n + lc->prev.n;
  out->bytes = ember_linecache_bytes(lc);
}

/* ---- Mapping text stacks ------------------------------------------------ */

/* Text resolved through one tree at most: the tree of n bytes of text has
 * at most n / 2 nodes, so the writer never holds a big one, however many
 * new lines a push brings. */
#define MISS_CHUNK ((size_t)16 << 10)

/* Builds the lines miss[0..n) into a tree, maps it, caches them and fills
 * their pairs. */
static int map_chunk(ember_dict_t *d, ember_conn_t *c, const ember_text_stacks_t *s,
                     const uint32_t *miss, size_t n, size_t max_new,
                     ember_seg_pair_t *pairs, size_t *added, ember_err_t *err) {
  ember_linecache_t *lc = ember_dict_linecache(d);
  uint32_t *leaf = ember_malloc(n * sizeof *leaf), *stack_of = NULL;
  ember_text_tree_t t = {NULL, NULL, 0};
  int rc = ember_text_tree_build(s, miss, n, leaf, &t, err);
  if (rc == 0) {
    stack_of = ember_malloc(ember_tree_count(t.tree) * sizeof *stack_of);
    rc = ember_dict_map_tree(d, c, t.tree, max_new, stack_of, added, err);
  }
  for (size_t j = 0; rc == 0 && j < n; j++) {
    const ember_text_stack_t *it = &s->items[miss[j]];
    uint32_t id = stack_of[leaf[j]];
    /* A leaf always has a value, so it always has an id; should it not,
     * the pair is dropped as the tree path drops unmapped nodes. */
    pairs[miss[j]] = (ember_seg_pair_t){id, id == EMBER_LINECACHE_NONE ? 0 : it->value};
    ember_linecache_put(lc, it->hash, it->text, it->len, id);
  }
  ember_text_tree_free(&t);
  free(stack_of);
  free(leaf);
  return rc;
}

/* The lines the cache missed, a chunk of text at a time. */
static int map_missed(ember_dict_t *d, ember_conn_t *c, const ember_text_stacks_t *s,
                      const uint32_t *miss, size_t nmiss, size_t max_new,
                      ember_seg_pair_t *pairs, size_t *added, ember_err_t *err) {
  int rc = 0;
  for (size_t lo = 0, hi; rc == 0 && lo < nmiss; lo = hi) {
    size_t bytes = 0, got = 0;
    for (hi = lo; hi < nmiss && (hi == lo || bytes < MISS_CHUNK); hi++)
      bytes += s->items[miss[hi]].len;
    rc = map_chunk(d, c, s, miss + lo, hi - lo, max_new - *added, pairs, &got, err);
    *added += got;
  }
  return rc;
}

int ember_dict_map_text(ember_dict_t *d, ember_conn_t *c, const ember_text_stacks_t *s,
                        size_t max_new, ember_seg_pair_t *pairs, size_t *added,
                        ember_err_t *err) {
  ember_linecache_t *lc = ember_dict_linecache(d);
  ember_linecache_depth(lc, s->max_depth);
  uint32_t *miss = NULL;
  size_t nmiss = 0, cap = 0, got = 0;
  for (size_t i = 0; i < s->n; i++) {
    const ember_text_stack_t *it = &s->items[i];
    uint32_t id = ember_linecache_get(lc, it->hash, it->text, it->len);
    if (id != EMBER_LINECACHE_NONE) {
      pairs[i] = (ember_seg_pair_t){id, it->value};
      continue;
    }
    ember_grow((void **)&miss, &cap, nmiss + 1, sizeof *miss);
    miss[nmiss++] = (uint32_t)i;
  }
  int rc = map_missed(d, c, s, miss, nmiss, max_new, pairs, &got, err);
  ember_dict_linecache_account(d);
  if (rc == 0 && added) *added = got;
  free(miss);
  return rc;
}
