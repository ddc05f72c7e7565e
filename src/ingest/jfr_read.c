/*
 * jfr_read.c - the bytes of a JFR recording: integers as the chunk encodes
 * them, the chunk header, event headers, and the arena and counters the
 * reader's other files share (jfr_int.h).
 */
#include "jfr_int.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- Integers ---------------------------------------------------------------- */

uint8_t jfr_rd_u8(jfr_rd_t *r) {
  if (r->pos >= r->end) {
    r->bad = true;
    return 0;
  }
  return r->base[r->pos++];
}

/* A compressed integer: 7 bits a byte, low first, the high bit saying
 * another byte follows; the ninth byte, if any, holds the top 8 bits. */
static uint64_t varint(jfr_rd_t *r) {
  uint64_t v = 0;
  for (unsigned i = 0; i < 8; i++) {
    if (r->pos >= r->end) {
      r->bad = true;
      return 0;
    }
    uint8_t b = r->base[r->pos++];
    v |= (uint64_t)(b & 0x7f) << (7 * i);
    if (!(b & 0x80)) return v;
  }
  return v | (uint64_t)jfr_rd_u8(r) << 56;
}

uint64_t jfr_rd_be(jfr_rd_t *r, size_t n) {
  if (n > r->end - r->pos || r->pos > r->end) {
    r->bad = true;
    r->pos = r->end;
    return 0;
  }
  uint64_t v = 0;
  for (size_t i = 0; i < n; i++)
    v = v << 8 | r->base[r->pos + i];
  r->pos += n;
  return v;
}

uint64_t jfr_rd_long(jfr_rd_t *r) {
  return r->compressed ? varint(r) : jfr_rd_be(r, 8);
}

uint32_t jfr_rd_int(jfr_rd_t *r) {
  return r->compressed ? (uint32_t)varint(r) : (uint32_t)jfr_rd_be(r, 4);
}

uint16_t jfr_rd_short(jfr_rd_t *r) {
  return r->compressed ? (uint16_t)varint(r) : (uint16_t)jfr_rd_be(r, 2);
}

void jfr_rd_skip(jfr_rd_t *r, size_t n) {
  if (r->pos > r->end || n > r->end - r->pos) {
    r->bad = true;
    r->pos = r->end;
    return;
  }
  r->pos += n;
}

uint32_t jfr_rd_count(jfr_rd_t *r) {
  uint32_t n = jfr_rd_int(r);
  if (!r->bad && n > r->end - r->pos) {
    r->bad = true;
    r->pos = r->end;
    return 0;
  }
  return r->bad ? 0 : n;
}

/* ---- Arena --------------------------------------------------------------------- */

#define ARENA_BLOCK ((size_t)64 << 10)

struct jfr_block {
  jfr_block_t *next;
  size_t cap;
  char data[];
};

char *jfr_arena_alloc(jfr_arena_t *a, size_t n) {
  if (!a->head || n > a->head->cap - a->used) {
    size_t cap = n > ARENA_BLOCK ? n : ARENA_BLOCK;
    jfr_block_t *b = ember_malloc(sizeof *b + cap);
    b->cap = cap;
    b->next = a->head;
    a->head = b;
    a->used = 0;
    a->bytes += sizeof *b + cap;
  }
  char *p = a->head->data + a->used;
  a->used += n;
  return p;
}

void jfr_arena_reset(jfr_arena_t *a) {
  if (!a->head) return;
  jfr_block_t *b = a->head->next;
  while (b) {
    jfr_block_t *next = b->next;
    a->bytes -= sizeof *b + b->cap;
    free(b);
    b = next;
  }
  a->head->next = NULL;
  a->used = 0;
}

void jfr_arena_free(jfr_arena_t *a) {
  jfr_arena_reset(a);
  free(a->head);
  memset(a, 0, sizeof *a);
}

/* ---- Counters and errors ------------------------------------------------------ */

int jfr_work(jfr_ctx_t *x, uint64_t cost) {
  if (cost <= x->work_limit - x->work) {
    x->work += cost;
    return EMBER_OK;
  }
  return ember_err_set(x->err, EMBER_ETOOBIG,
                       "jfr: the recording would take more work to read than its size "
                       "warrants (its values, frames or stacks repeat too much); send "
                       "shorter recordings");
}

static size_t chunk_mem(const jfr_chunk_t *ch) {
  const jfr_meta_t *m = &ch->meta;
  return m->ccap * sizeof *m->classes + m->fcap * sizeof *m->fields +
         m->scap * sizeof *m->strings + ch->pool_cap * sizeof *ch->pool + ch->arena.bytes;
}

int jfr_chunk_charge(jfr_ctx_t *x, jfr_chunk_t *ch) {
  return ingest_mem_grow(x->c, &ch->held, chunk_mem(ch), x->err);
}

int jfr_fail(jfr_ctx_t *x, const jfr_chunk_t *ch, size_t at, const char *fmt, ...) {
  char msg[EMBER_ERR_MSG_MAX];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  if (!ch) return ember_err_set(x->err, EMBER_EPARSE, "jfr: %s", msg);
  return ember_err_set(x->err, EMBER_EPARSE, "jfr: chunk %zu, byte %zu: %s", ch->index + 1,
                       at, msg);
}

/* ---- Chunks ------------------------------------------------------------------------- */

static uint64_t be(const uint8_t *p, size_t n) {
  uint64_t v = 0;
  for (size_t i = 0; i < n; i++)
    v = v << 8 | p[i];
  return v;
}

int jfr_chunk_header(jfr_ctx_t *x, const uint8_t *body, size_t len, size_t at,
                     size_t index, jfr_chunk_t *ch) {
  const uint8_t *h = body + at;
  size_t left = len - at;
  ch->index = index;
  ch->base = h;
  ch->size = 0;
  if (left < JFR_HEADER_SIZE)
    return jfr_fail(x, ch, 0,
                    "%zu bytes are left, fewer than the %d of a chunk header: the "
                    "recording is truncated",
                    left, JFR_HEADER_SIZE);
  if (memcmp(h, "FLR\0", 4)) {
    ingest_excerpt_t e;
    return jfr_fail(x, ch, 0,
                    "not a JFR recording: it starts with '%s', a chunk starts with "
                    "'FLR\\x00'; send the file the recorder wrote, gzipped or not",
                    ingest_excerpt(&e, (const char *)h, 8));
  }
  unsigned major = (unsigned)be(h + 4, 2), minor = (unsigned)be(h + 6, 2);
  if (major != 2)
    return jfr_fail(x, ch, 4,
                    "format version %u.%u is not supported (JDK 11 and later and "
                    "async-profiler write 2.x)",
                    major, minor);
  uint64_t size = be(h + 8, 8), meta = be(h + 24, 8);
  if (size < JFR_HEADER_SIZE || size > left)
    return jfr_fail(x, ch, 8,
                    "the chunk says it holds %" PRIu64 " bytes but %zu are left: the "
                    "recording is truncated, or was still being written",
                    size, left);
  if (meta < JFR_HEADER_SIZE || meta >= size)
    return jfr_fail(x, ch, 24,
                    "the metadata offset %" PRIu64 " is outside the chunk's %" PRIu64
                    " bytes: the recorder did not finish the chunk",
                    meta, size);
  ch->size = (size_t)size;
  ch->ticks_per_sec = be(h + 56, 8);
  ch->compressed = h[67] & 1;
  if (ch->ticks_per_sec == 0)
    return jfr_fail(x, ch, 56, "the chunk's clock runs at 0 ticks per second");
  return jfr_meta_read(x, ch, (size_t)meta);
}

void jfr_chunk_reset(jfr_chunk_t *ch) {
  ch->meta.nclasses = ch->meta.nfields = ch->meta.nstrings = 0;
  ch->meta.string_cls = JFR_NONE;
  ch->meta.max_fields = 0;
  if (ch->pool_n) {
    for (size_t i = 0; i < ch->pool_cap; i++)
      ch->pool[i].cls = JFR_NONE;
  }
  ch->pool_n = 0;
  jfr_arena_reset(&ch->arena);
}

void jfr_chunk_free(jfr_chunk_t *ch) {
  free(ch->meta.classes);
  free(ch->meta.fields);
  free(ch->meta.strings);
  free(ch->pool);
  jfr_arena_free(&ch->arena);
  memset(ch, 0, sizeof *ch);
}

/* ---- Events -------------------------------------------------------------------------- */

int jfr_event_next(jfr_ctx_t *x, const jfr_chunk_t *ch, size_t *pos, jfr_event_t *ev) {
  jfr_rd_t r = {ch->base, *pos, ch->size, ch->compressed, false};
  uint64_t size = jfr_rd_int(&r);
  ev->type = jfr_rd_long(&r);
  ev->start = *pos;
  ev->fields = r.pos;
  if (r.bad)
    return jfr_fail(x, ch, *pos, "an event header runs past the end of the chunk");
  if (size < r.pos - *pos || size > ch->size - *pos)
    return jfr_fail(x, ch, *pos,
                    "an event of type %" PRIu64 " declares %" PRIu64 " bytes, but %s",
                    ev->type, size,
                    size < r.pos - *pos ? "its own header takes more"
                                        : "the chunk ends before that");
  ev->end = *pos + (size_t)size;
  *pos = ev->end;
  return EMBER_OK;
}
