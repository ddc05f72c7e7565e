/*
 * jfr_pool.c - the constant pools of a chunk: every checkpoint event read
 * into one table from (class, key) to where the value starts.
 *
 * A checkpoint is "size, type 1, start time, duration, the offset to the
 * previous checkpoint, a byte of flags, an int count of pools", and each
 * pool "class id, int count, count times (long key, value)", the value
 * laid out as the class says. The checkpoints of a chunk form a list
 * through their offsets; reading every event of the chunk in order finds
 * them all without trusting that list (a cycle in it could not loop).
 *
 * Values are stepped over here, checking that each ends inside its
 * checkpoint, and decoded later only when an event needs them (a stack
 * trace, a method's name), so a pool costs 24 bytes a value however big
 * the value. A key given twice for one class keeps its first value.
 */
#include "jfr_int.h"

#include <inttypes.h>
#include <stdlib.h>

#define CHECKPOINT_TYPE 1

static size_t slot_of(const jfr_chunk_t *ch, uint32_t cls, uint64_t key) {
  return (size_t)ember_hash_pair((uint32_t)key ^ (uint32_t)(key >> 32), cls) &
         (ch->pool_cap - 1);
}

bool jfr_pool_find(const jfr_chunk_t *ch, uint32_t cls, uint64_t key, uint64_t *off) {
  if (ch->pool_n == 0) return false;
  size_t mask = ch->pool_cap - 1;
  for (size_t at = slot_of(ch, cls, key);; at = (at + 1) & mask) {
    const jfr_pool_entry_t *e = &ch->pool[at];
    if (e->cls == JFR_NONE) return false;
    if (e->cls == cls && e->key == key) {
      *off = e->off;
      return true;
    }
  }
}

static void put(jfr_chunk_t *ch, jfr_pool_entry_t e) {
  size_t mask = ch->pool_cap - 1;
  size_t at = slot_of(ch, e.cls, e.key);
  while (ch->pool[at].cls != JFR_NONE)
    at = (at + 1) & mask;
  ch->pool[at] = e;
  ch->pool_n++;
}

/* Keeps the table at most half full. */
static int grow(jfr_ctx_t *x, jfr_chunk_t *ch) {
  if ((ch->pool_n + 1) * 2 <= ch->pool_cap) return EMBER_OK;
  jfr_pool_entry_t *old = ch->pool;
  size_t old_cap = ch->pool_cap;
  ch->pool_cap = old_cap ? old_cap * 2 : 1024;
  ch->pool = ember_malloc(ch->pool_cap * sizeof *ch->pool);
  for (size_t i = 0; i < ch->pool_cap; i++)
    ch->pool[i].cls = JFR_NONE;
  ch->pool_n = 0;
  for (size_t i = 0; i < old_cap; i++)
    if (old[i].cls != JFR_NONE) put(ch, old[i]);
  free(old);
  return jfr_chunk_charge(x, ch);
}

static int add(jfr_ctx_t *x, jfr_chunk_t *ch, uint32_t cls, uint64_t key, size_t off) {
  uint64_t ignored;
  if (jfr_pool_find(ch, cls, key, &ignored)) return EMBER_OK;
  int rc = grow(x, ch);
  if (rc == EMBER_OK) put(ch, (jfr_pool_entry_t){key, off, cls});
  return rc;
}

/* One pool of a checkpoint: class id, count, (key, value) pairs. */
static int read_pool(jfr_ctx_t *x, jfr_chunk_t *ch, jfr_rd_t *r) {
  size_t at = r->pos;
  uint64_t id = jfr_rd_long(r);
  uint32_t n = jfr_rd_count(r);
  if (r->bad) return jfr_fail(x, ch, at, "a constant pool runs past its checkpoint");
  uint32_t cls = jfr_meta_by_id(&ch->meta, id);
  if (cls == JFR_NONE)
    return jfr_fail(x, ch, at,
                    "a constant pool holds values of class id %" PRIu64
                    ", which the metadata does not define",
                    id);
  /* A pool's values are laid out as a field of its class written in place. */
  jfr_field_t f = {ch->meta.classes[cls].name, cls, false, false};
  int rc = jfr_work(x, n);
  for (uint32_t i = 0; i < n && rc == EMBER_OK; i++) {
    uint64_t key = jfr_rd_long(r);
    size_t off = r->pos;
    rc = jfr_skip_field(x, ch, r, &f, 0);
    if (rc == EMBER_OK && r->bad)
      rc = jfr_fail(x, ch, off, "a constant pool runs past its checkpoint");
    if (rc == EMBER_OK) rc = add(x, ch, cls, key, off);
  }
  return rc;
}

static int read_checkpoint(jfr_ctx_t *x, jfr_chunk_t *ch, const jfr_event_t *ev) {
  jfr_rd_t r = {ch->base, ev->fields, ev->end, ch->compressed, false};
  jfr_rd_long(&r); /* start time */
  jfr_rd_long(&r); /* duration */
  jfr_rd_long(&r); /* offset to the previous checkpoint */
  jfr_rd_u8(&r);   /* flags */
  uint32_t n = jfr_rd_count(&r);
  if (r.bad) return jfr_fail(x, ch, ev->start, "a checkpoint event ends inside its header");
  int rc = EMBER_OK;
  for (uint32_t i = 0; i < n && rc == EMBER_OK; i++)
    rc = read_pool(x, ch, &r);
  return rc;
}

int jfr_pools_read(jfr_ctx_t *x, jfr_chunk_t *ch) {
  size_t pos = JFR_HEADER_SIZE;
  int rc = EMBER_OK;
  while (pos < ch->size && rc == EMBER_OK) {
    jfr_event_t ev;
    rc = jfr_event_next(x, ch, &pos, &ev);
    if (rc == EMBER_OK && ev.type == CHECKPOINT_TYPE) rc = read_checkpoint(x, ch, &ev);
  }
  return rc;
}
