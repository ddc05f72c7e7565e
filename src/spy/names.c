/*
 * names.c - the frame names of a session, interned: every distinct name is
 * stored once and known by a small id, so a sampled stack is an array of
 * ids and counting stacks never compares strings.
 */
#include "spy/spy_int.h"

#include <stdlib.h>

/* ---- Private functions ------------------------------------------------- */

static uint32_t *slot_for(const spy_names_t *t, const char *s, size_t len, uint64_t h) {
  size_t mask = t->nslots - 1;
  for (size_t i = (size_t)h & mask;; i = (i + 1) & mask) {
    uint32_t *slot = &t->slots[i];
    if (!*slot) return slot;
    ember_slice_t have = spy_names_get(t, *slot - 1);
    if (have.len == len && !memcmp(have.base, s, len)) return slot;
  }
}

static void rehash(spy_names_t *t) {
  size_t n = t->nslots ? t->nslots * 2 : 1024;
  free(t->slots);
  t->slots = ember_calloc(n, sizeof *t->slots);
  t->nslots = n;
  for (size_t id = 0; id < t->n; id++) {
    ember_slice_t s = spy_names_get(t, (uint32_t)id);
    *slot_for(t, s.base, s.len, ember_hash_bytes(s.base, s.len)) = (uint32_t)id + 1;
  }
}

/* ---- API --------------------------------------------------------------- */

uint32_t spy_names_intern(spy_names_t *t, const char *s, size_t len) {
  if (len >= (1u << 24)) len = (1u << 24) - 1;
  if ((t->n + 1) * 2 > t->nslots) rehash(t);
  uint64_t h = ember_hash_bytes(s, len);
  uint32_t *slot = slot_for(t, s, len, h);
  if (*slot) return *slot - 1;
  ember_grow((void **)&t->arena, &t->arena_cap, t->arena_len + len + 1, 1);
  memcpy(t->arena + t->arena_len, s, len);
  t->arena[t->arena_len + len] = '\0';
  ember_grow((void **)&t->offs, &t->cap, t->n + 1, sizeof *t->offs);
  t->offs[t->n] = (uint64_t)t->arena_len << 24 | len;
  t->arena_len += len + 1;
  *slot = (uint32_t)++t->n;
  return (uint32_t)(t->n - 1);
}

ember_slice_t spy_names_get(const spy_names_t *t, uint32_t id) {
  if (id >= t->n) return ember_slice("?", 1);
  uint64_t o = t->offs[id];
  return ember_slice(t->arena + (o >> 24), (size_t)(o & 0xffffff));
}

void spy_names_free(spy_names_t *t) {
  if (!t) return;
  free(t->arena);
  free(t->offs);
  free(t->slots);
  memset(t, 0, sizeof *t);
}
