/*
 * jfr_value.c - values as the chunk's metadata lays them out: the fields of
 * a struct read into a table, nested values stepped over by their declared
 * types, and strings in their five encodings turned into UTF-8.
 *
 * Every value read or stepped over is a unit of work (jfr_work), counted in
 * bulk per struct and per array, so that a type of a thousand empty fields,
 * or an array of empty structs, costs what it makes the reader do rather
 * than what it takes on the wire.
 */
#include "jfr_int.h"

#include <inttypes.h>
#include <string.h>

enum {
  STR_NULL = 0,
  STR_EMPTY = 1,
  STR_POOL = 2,
  STR_UTF8 = 3,
  STR_UTF16 = 4,
  STR_LATIN1 = 5,
};

static int runs_past(jfr_ctx_t *x, const jfr_chunk_t *ch, const jfr_rd_t *r) {
  return jfr_fail(x, ch, r->pos, "a value runs past the end of the event holding it");
}

static int too_deep(jfr_ctx_t *x, const jfr_chunk_t *ch, const jfr_rd_t *r) {
  return jfr_fail(x, ch, r->pos,
                  "values nest more than %d deep: the metadata declares a type "
                  "that contains itself",
                  JFR_MAX_NESTING);
}

/* ---- Stepping over values ---------------------------------------------------- */

static int skip_string(jfr_ctx_t *x, const jfr_chunk_t *ch, jfr_rd_t *r) {
  size_t at = r->pos;
  uint8_t enc = jfr_rd_u8(r);
  switch (enc) {
  case STR_NULL:
  case STR_EMPTY: break;
  case STR_POOL: jfr_rd_long(r); break;
  case STR_UTF8:
  case STR_LATIN1: jfr_rd_skip(r, jfr_rd_count(r)); break;
  case STR_UTF16: {
    uint32_t n = jfr_rd_count(r);
    int rc = jfr_work(x, n);
    if (rc) return rc;
    for (uint32_t i = 0; i < n && !r->bad; i++)
      jfr_rd_short(r);
    break;
  }
  default:
    if (r->bad) break;
    return jfr_fail(x, ch, at, "a string has the unknown encoding %u", enc);
  }
  return r->bad ? runs_past(x, ch, r) : EMBER_OK;
}

/* One value of class cls written in place (not a key, not an array). */
static int skip_value(jfr_ctx_t *x, const jfr_chunk_t *ch, jfr_rd_t *r, uint32_t cls,
                      int depth) {
  const jfr_meta_t *m = &ch->meta;
  const jfr_class_t *c = &m->classes[cls];
  switch (c->kind) {
  case JFR_BOOLEAN:
  case JFR_BYTE: jfr_rd_skip(r, 1); break;
  case JFR_CHAR:
  case JFR_SHORT: jfr_rd_short(r); break;
  case JFR_INT: jfr_rd_int(r); break;
  case JFR_LONG: jfr_rd_long(r); break;
  case JFR_FLOAT: jfr_rd_skip(r, 4); break;
  case JFR_DOUBLE: jfr_rd_skip(r, 8); break;
  case JFR_STRING: return skip_string(x, ch, r);
  case JFR_STRUCT: {
    if (depth >= JFR_MAX_NESTING) return too_deep(x, ch, r);
    int rc = jfr_work(x, c->nfields + 1);
    for (uint32_t i = 0; i < c->nfields && rc == EMBER_OK; i++)
      rc = jfr_skip_field(x, ch, r, &m->fields[c->first + i], depth + 1);
    return rc;
  }
  }
  return r->bad ? runs_past(x, ch, r) : EMBER_OK;
}

/* The elements of an array whose count was read already. */
static int skip_elements(jfr_ctx_t *x, const jfr_chunk_t *ch, jfr_rd_t *r,
                         const jfr_field_t *f, uint32_t n, int depth) {
  int rc = jfr_work(x, n);
  for (uint32_t i = 0; i < n && rc == EMBER_OK; i++) {
    if (f->cpool)
      jfr_rd_long(r);
    else
      rc = skip_value(x, ch, r, f->cls, depth);
    if (rc == EMBER_OK && r->bad) rc = runs_past(x, ch, r);
  }
  return rc;
}

int jfr_skip_field(jfr_ctx_t *x, const jfr_chunk_t *ch, jfr_rd_t *r, const jfr_field_t *f,
                   int depth) {
  if (f->array) {
    uint32_t n = jfr_rd_count(r);
    if (r->bad) return runs_past(x, ch, r);
    return skip_elements(x, ch, r, f, n, depth);
  }
  if (f->cpool) {
    jfr_rd_long(r);
    return r->bad ? runs_past(x, ch, r) : EMBER_OK;
  }
  return skip_value(x, ch, r, f->cls, depth);
}

/* ---- Reading a struct's fields --------------------------------------------------- */

/* An integer of the given kind, as a signed Java value widened to 64 bits
 * (char stays unsigned, as in Java). */
static uint64_t read_integer(jfr_rd_t *r, jfr_kind_t kind) {
  switch (kind) {
  case JFR_BOOLEAN: return jfr_rd_u8(r) != 0;
  case JFR_BYTE: return (uint64_t)(int64_t)(int8_t)jfr_rd_u8(r);
  case JFR_CHAR: return jfr_rd_short(r);
  case JFR_SHORT: return (uint64_t)(int64_t)(int16_t)jfr_rd_short(r);
  case JFR_INT: return (uint64_t)(int64_t)(int32_t)jfr_rd_int(r);
  case JFR_LONG: return jfr_rd_long(r);
  default: return 0;
  }
}

static int read_field(jfr_ctx_t *x, const jfr_chunk_t *ch, jfr_rd_t *r,
                      const jfr_field_t *f, jfr_value_t *v, int depth) {
  const jfr_class_t *c = &ch->meta.classes[f->cls];
  v->at = r->pos;
  v->present = true;
  v->u = 0;
  if (f->array) {
    uint32_t n = jfr_rd_count(r);
    if (r->bad) return runs_past(x, ch, r);
    v->u = n;
    return skip_elements(x, ch, r, f, n, depth);
  }
  if (f->cpool) {
    v->u = jfr_rd_long(r);
  } else if (c->kind >= JFR_BOOLEAN && c->kind <= JFR_LONG) {
    v->u = read_integer(r, c->kind);
  } else {
    return skip_value(x, ch, r, f->cls, depth);
  }
  return r->bad ? runs_past(x, ch, r) : EMBER_OK;
}

int jfr_read_struct(jfr_ctx_t *x, const jfr_chunk_t *ch, jfr_rd_t *r, uint32_t cls,
                    jfr_value_t *vals, int depth) {
  const jfr_meta_t *m = &ch->meta;
  const jfr_class_t *c = &m->classes[cls];
  if (depth >= JFR_MAX_NESTING) return too_deep(x, ch, r);
  int rc = jfr_work(x, c->nfields + 1);
  for (uint32_t i = 0; i < c->nfields && rc == EMBER_OK; i++)
    rc = read_field(x, ch, r, &m->fields[c->first + i], &vals[i], depth + 1);
  return rc;
}

/* ---- Strings ---------------------------------------------------------------------- */

static size_t put_utf8(char *out, uint32_t cp) {
  if (cp < 0x80) {
    out[0] = (char)cp;
    return 1;
  }
  if (cp < 0x800) {
    out[0] = (char)(0xc0 | cp >> 6);
    out[1] = (char)(0x80 | (cp & 0x3f));
    return 2;
  }
  if (cp < 0x10000) {
    out[0] = (char)(0xe0 | cp >> 12);
    out[1] = (char)(0x80 | (cp >> 6 & 0x3f));
    out[2] = (char)(0x80 | (cp & 0x3f));
    return 3;
  }
  out[0] = (char)(0xf0 | cp >> 18);
  out[1] = (char)(0x80 | (cp >> 12 & 0x3f));
  out[2] = (char)(0x80 | (cp >> 6 & 0x3f));
  out[3] = (char)(0x80 | (cp & 0x3f));
  return 4;
}

static int latin1(jfr_ctx_t *x, jfr_chunk_t *ch, jfr_rd_t *r, ember_slice_t *out) {
  uint32_t n = jfr_rd_count(r);
  const uint8_t *p = r->base + r->pos;
  jfr_rd_skip(r, n);
  if (r->bad) return runs_past(x, ch, r);
  bool ascii = true;
  for (uint32_t i = 0; i < n && ascii; i++)
    ascii = p[i] < 0x80;
  if (ascii) {
    *out = ember_slice((const char *)p, n);
    return EMBER_OK;
  }
  int rc = jfr_work(x, n);
  if (rc) return rc;
  char *s = jfr_arena_alloc(&ch->arena, (size_t)n * 2);
  size_t len = 0;
  for (uint32_t i = 0; i < n; i++)
    len += put_utf8(s + len, p[i]);
  *out = ember_slice(s, len);
  return jfr_chunk_charge(x, ch);
}

/* UTF-16 code units; a surrogate without its other half becomes U+FFFD. */
static int utf16(jfr_ctx_t *x, jfr_chunk_t *ch, jfr_rd_t *r, ember_slice_t *out) {
  uint32_t n = jfr_rd_count(r);
  int rc = jfr_work(x, n);
  if (rc) return rc;
  char *s = jfr_arena_alloc(&ch->arena, (size_t)n * 3);
  size_t len = 0;
  uint32_t high = 0; /* a high surrogate waiting for its low half */
  for (uint32_t i = 0; i < n && !r->bad; i++) {
    uint32_t u = jfr_rd_short(r);
    if (u >= 0xdc00 && u <= 0xdfff && high) {
      len += put_utf8(s + len, 0x10000 + ((high - 0xd800) << 10) + (u - 0xdc00));
      high = 0;
      continue;
    }
    if (high) len += put_utf8(s + len, 0xfffd);
    high = 0;
    if (u >= 0xd800 && u <= 0xdbff)
      high = u;
    else
      len += put_utf8(s + len, u >= 0xdc00 && u <= 0xdfff ? 0xfffd : u);
  }
  if (high) len += put_utf8(s + len, 0xfffd);
  if (r->bad) return runs_past(x, ch, r);
  *out = ember_slice(s, len);
  return jfr_chunk_charge(x, ch);
}

int jfr_read_string(jfr_ctx_t *x, jfr_chunk_t *ch, jfr_rd_t *r, ember_slice_t *out,
                    int depth) {
  size_t at = r->pos;
  uint8_t enc = jfr_rd_u8(r);
  *out = ember_slice(NULL, 0);
  switch (enc) {
  case STR_NULL: break;
  case STR_EMPTY: *out = ember_slice("", 0); break;
  case STR_UTF8: {
    uint32_t n = jfr_rd_count(r);
    *out = ember_slice((const char *)r->base + r->pos, n);
    jfr_rd_skip(r, n);
    break;
  }
  case STR_LATIN1: return latin1(x, ch, r, out);
  case STR_UTF16: return utf16(x, ch, r, out);
  case STR_POOL: {
    uint64_t key = jfr_rd_long(r), off;
    if (r->bad) break;
    if (depth > 0)
      return jfr_fail(x, ch, at,
                      "a string in the java.lang.String pool refers to the pool "
                      "again");
    if (ch->meta.string_cls == JFR_NONE ||
        !jfr_pool_find(ch, ch->meta.string_cls, key, &off))
      return jfr_fail(x, ch, at,
                      "a string refers to key %" PRIu64 " of the java.lang.String "
                      "pool, which the chunk does not hold",
                      key);
    jfr_rd_t sub = {ch->base, (size_t)off, ch->size, ch->compressed, false};
    return jfr_read_string(x, ch, &sub, out, depth + 1);
  }
  default:
    if (r->bad) break;
    return jfr_fail(x, ch, at, "a string has the unknown encoding %u", enc);
  }
  return r->bad ? runs_past(x, ch, r) : EMBER_OK;
}
