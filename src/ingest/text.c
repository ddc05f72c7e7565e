/*
 * text.c - the text sink: the stacks of a folded or lines body kept as the
 * text they were sent as (profile.h, ember_text_stacks_t), for the store to
 * resolve a whole line at a time.
 *
 * Building the call tree of a push costs a hash lookup per frame for every
 * line; most lines of a push repeat what the app's earlier pushes sent,
 * whose stack ids the store already knows. So the decoders hand each stack
 * here instead: one hash of the whole text, one probe of a table of the
 * push's distinct texts (a repeat within the push adds to the first one's
 * value), and nothing copied: the texts point into the body.
 *
 * Invariants:
 *  1. s->items holds each distinct text once, in order of first
 *     appearance, with the saturating sum of the values read for it; every
 *     value is > 0 (a count of 0 adds nothing, as in the tree).
 *  2. Every item is in slots, at the probe position of its hash.
 *  3. c->truncated counts the stacks the tree would have cut, one per
 *     stack read, repeats included.
 */
#include "ingest_int.h"

#include <stdlib.h>
#include <string.h>

void ingest_texts_init(ingest_texts_t *b, const ingest_ctx_t *c) {
  memset(b, 0, sizeof *b);
  b->s = ember_calloc(1, sizeof *b->s);
  b->s->max_depth = c->max_depth;
  b->s->budget = c->budget;
}

static size_t held_now(const ingest_texts_t *b) {
  return sizeof *b->s + b->cap * sizeof *b->s->items + b->nslots * sizeof *b->slots;
}

/* Doubles the table (or makes the first one) and puts every item back. */
static void rehash(ingest_texts_t *b) {
  size_t n = b->nslots ? b->nslots * 2 : 256, mask = n - 1;
  uint64_t *slots = ember_calloc(n, sizeof *slots);
  for (size_t i = 0; i < b->s->n; i++) {
    uint64_t h = b->s->items[i].hash;
    size_t at = (size_t)h & mask;
    while (slots[at]) at = (at + 1) & mask;
    slots[at] = (h >> 32 << 32) | (i + 1);
  }
  free(b->slots);
  b->slots = slots;
  b->nslots = n;
}

int ingest_texts_add(void *sink, ingest_ctx_t *c, ember_slice_t stack, uint64_t value,
                     ember_err_t *err) {
  ingest_texts_t *b = sink;
  ember_text_stacks_t *s = b->s;
  if (stack.len > UINT32_MAX)
    return ember_err_set(err, EMBER_ETOOBIG, "body: a stack is longer than 4 GiB");
  if (ember_tree_text_is_cut(stack.base, stack.len, c->max_depth)) c->truncated++;
  s->total = ember_sat_add(s->total, value);
  if ((s->n + 1) * 2 > b->nslots) rehash(b);
  uint64_t h = ember_hash_bytes(stack.base, stack.len), tag = h >> 32 << 32;
  size_t mask = b->nslots - 1, at = (size_t)h & mask;
  for (; b->slots[at]; at = (at + 1) & mask) {
    if ((b->slots[at] & ~(uint64_t)UINT32_MAX) != tag) continue;
    ember_text_stack_t *it = &s->items[(b->slots[at] & UINT32_MAX) - 1];
    if (it->hash == h && it->len == stack.len && !memcmp(it->text, stack.base, stack.len)) {
      it->value = ember_sat_add(it->value, value);
      return EMBER_OK;
    }
  }
  if (s->n >= UINT32_MAX - 1)
    return ember_err_set(err, EMBER_ETOOBIG, "body: more than 4 billion distinct stacks");
  ember_grow((void **)&s->items, &b->cap, s->n + 1, sizeof *s->items);
  s->items[s->n] = (ember_text_stack_t){stack.base, (uint32_t)stack.len, h, value};
  b->slots[at] = tag | (s->n + 1);
  s->n++;
  return ingest_mem_grow(c, &b->held, held_now(b), err);
}

ember_text_stacks_t *ingest_texts_finish(ingest_texts_t *b) {
  ember_text_stacks_t *s = b->s;
  if (s->n < b->cap) /* what is counted (ember_text_stacks_mem) is what is held */
    s->items = ember_realloc(s->items, (s->n ? s->n : 1) * sizeof *s->items);
  b->s = NULL;
  ingest_texts_free(b);
  return s;
}

void ingest_texts_free(ingest_texts_t *b) {
  ember_text_stacks_free(b->s);
  free(b->slots);
  memset(b, 0, sizeof *b);
}
