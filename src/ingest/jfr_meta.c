/*
 * jfr_meta.c - the metadata event of a chunk: its string table and its tree
 * of elements, of which Ember keeps the classes and their fields.
 *
 * The event is "size, type 0, start time, duration, metadata id", then an
 * int count of strings and the strings, then the root element. An element
 * is a string index naming it, an int count of attributes, each two string
 * indexes (key and value), an int count of children and the children. The
 * elements that matter are "class" (attributes id, name, superType,
 * simpleType) and the "field" elements directly inside one (attributes
 * name, class: the field's type id, constantPool: "true" when the value is
 * a pool key, dimension: "1" for an array). Annotations, settings and
 * regions are read for their structure only.
 *
 * Invariants once jfr_meta_read has succeeded (jfr_int.h): classes sorted
 * by unique id, each field's cls a valid index, kinds settled by name.
 */
#include "jfr_int.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#define MAX_ELEMENT_DEPTH 16

/* What an element's attributes say, for the two kinds Ember keeps. */
typedef struct {
  ember_slice_t name;
  uint64_t id, type;
  bool has_id, has_type, cpool, array;
} attrs_t;

typedef struct {
  jfr_ctx_t *x;
  jfr_chunk_t *ch;
  jfr_rd_t r;
  uint64_t *field_types; /* the type id of each field, resolved at the end */
  size_t ftcap;
} meta_parse_t;

static int bad(meta_parse_t *p, const char *what) {
  if (p->r.bad)
    return jfr_fail(p->x, p->ch, p->r.pos, "the metadata event ends inside %s", what);
  return jfr_fail(p->x, p->ch, p->r.pos, "the metadata has %s", what);
}

/* ---- Strings ------------------------------------------------------------------ */

static int read_strings(meta_parse_t *p) {
  jfr_meta_t *m = &p->ch->meta;
  uint32_t n = jfr_rd_count(&p->r);
  if (p->r.bad) return bad(p, "its string count");
  ember_grow((void **)&m->strings, &m->scap, (size_t)n + 1, sizeof *m->strings);
  int rc = jfr_chunk_charge(p->x, p->ch);
  for (uint32_t i = 0; i < n && rc == EMBER_OK; i++) {
    if (p->r.pos < p->r.end && p->r.base[p->r.pos] == 2)
      return jfr_fail(p->x, p->ch, p->r.pos,
                      "a metadata string refers to a constant pool, which metadata "
                      "strings cannot");
    ember_slice_t s;
    rc = jfr_read_string(p->x, p->ch, &p->r, &s, 1);
    if (rc == EMBER_OK && !s.base) s = ember_slice("", 0);
    m->strings[i] = s;
  }
  m->nstrings = n;
  return rc;
}

static int string_at(meta_parse_t *p, ember_slice_t *out) {
  uint32_t idx = jfr_rd_int(&p->r);
  if (p->r.bad) return bad(p, "an element");
  if (idx >= p->ch->meta.nstrings)
    return jfr_fail(p->x, p->ch, p->r.pos,
                    "a metadata element names string %" PRIu32 " of %zu", idx,
                    p->ch->meta.nstrings);
  *out = p->ch->meta.strings[idx];
  return EMBER_OK;
}

/* ---- Elements ----------------------------------------------------------------- */

/* A decimal id, as class and field attributes write type ids. */
static bool parse_id(ember_slice_t s, uint64_t *out) {
  uint64_t v = 0;
  if (s.len == 0 || s.len > 19) return false;
  for (size_t i = 0; i < s.len; i++) {
    if (s.base[i] < '0' || s.base[i] > '9') return false;
    v = v * 10 + (uint64_t)(s.base[i] - '0');
  }
  *out = v;
  return true;
}

static int read_attrs(meta_parse_t *p, attrs_t *a) {
  uint32_t n = jfr_rd_count(&p->r);
  memset(a, 0, sizeof *a);
  a->name = ember_slice("", 0);
  int rc = p->r.bad ? bad(p, "an element's attributes") : EMBER_OK;
  for (uint32_t i = 0; i < n && rc == EMBER_OK; i++) {
    ember_slice_t k, v;
    rc = string_at(p, &k);
    if (rc == EMBER_OK) rc = string_at(p, &v);
    if (rc) break;
    if (ember_slice_eq(k, "name")) {
      a->name = v;
    } else if (ember_slice_eq(k, "id")) {
      a->has_id = parse_id(v, &a->id);
      if (!a->has_id) rc = bad(p, "a class id that is not a number");
    } else if (ember_slice_eq(k, "class")) {
      a->has_type = parse_id(v, &a->type);
      if (!a->has_type) rc = bad(p, "a field type that is not a number");
    } else if (ember_slice_eq(k, "constantPool")) {
      a->cpool = ember_slice_eq(v, "true");
    } else if (ember_slice_eq(k, "dimension")) {
      if (!ember_slice_eq(v, "0") && !ember_slice_eq(v, "1"))
        rc = bad(p, "a field of more than one dimension");
      a->array = ember_slice_eq(v, "1");
    }
  }
  return rc;
}

static int add_class(meta_parse_t *p, const attrs_t *a, uint32_t *out) {
  jfr_meta_t *m = &p->ch->meta;
  if (!a->has_id || a->name.len == 0) return bad(p, "a class without an id or a name");
  ember_grow((void **)&m->classes, &m->ccap, m->nclasses + 1, sizeof *m->classes);
  jfr_class_t *c = &m->classes[m->nclasses];
  memset(c, 0, sizeof *c);
  c->id = a->id;
  c->name = a->name;
  c->first = (uint32_t)m->nfields;
  *out = (uint32_t)m->nclasses++;
  return jfr_chunk_charge(p->x, p->ch);
}

static int add_field(meta_parse_t *p, uint32_t cls, const attrs_t *a) {
  jfr_meta_t *m = &p->ch->meta;
  jfr_class_t *c = &m->classes[cls];
  if (!a->has_type || a->name.len == 0) return bad(p, "a field without a name or a type");
  if (c->first + c->nfields != m->nfields)
    return bad(p, "a class whose fields are not listed together");
  ember_grow((void **)&m->fields, &m->fcap, m->nfields + 1, sizeof *m->fields);
  ember_grow((void **)&p->field_types, &p->ftcap, m->nfields + 1, sizeof *p->field_types);
  jfr_field_t *f = &m->fields[m->nfields];
  f->name = a->name;
  f->cls = JFR_NONE;
  f->cpool = a->cpool;
  f->array = a->array;
  p->field_types[m->nfields++] = a->type;
  c->nfields++;
  if (c->nfields > m->max_fields) m->max_fields = c->nfields;
  return jfr_chunk_charge(p->x, p->ch);
}

/* One element and its children. cls is the class an element directly
 * inside a "class" element belongs to, else JFR_NONE. */
static int read_element(meta_parse_t *p, int depth, uint32_t cls) {
  ember_slice_t name;
  attrs_t a;
  if (depth >= MAX_ELEMENT_DEPTH) return bad(p, "elements nested too deep");
  int rc = jfr_work(p->x, 1);
  if (rc == EMBER_OK) rc = string_at(p, &name);
  if (rc == EMBER_OK) rc = read_attrs(p, &a);
  if (rc) return rc;
  uint32_t inner = JFR_NONE;
  if (ember_slice_eq(name, "class")) {
    if (cls != JFR_NONE) return bad(p, "a class inside a class");
    rc = add_class(p, &a, &inner);
  } else if (ember_slice_eq(name, "field") && cls != JFR_NONE) {
    rc = add_field(p, cls, &a);
  }
  uint32_t n = rc ? 0 : jfr_rd_count(&p->r);
  if (rc == EMBER_OK && p->r.bad) rc = bad(p, "an element's children");
  for (uint32_t i = 0; i < n && rc == EMBER_OK; i++)
    rc = read_element(p, depth + 1, inner);
  return rc;
}

/* ---- Settling the classes ---------------------------------------------------------- */

static int by_id(const void *a, const void *b) {
  const jfr_class_t *x = a, *y = b;
  return (x->id > y->id) - (x->id < y->id);
}

uint32_t jfr_meta_by_id(const jfr_meta_t *m, uint64_t id) {
  size_t lo = 0, hi = m->nclasses;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    if (m->classes[mid].id == id) return (uint32_t)mid;
    if (m->classes[mid].id < id)
      lo = mid + 1;
    else
      hi = mid;
  }
  return JFR_NONE;
}

static jfr_kind_t kind_of(ember_slice_t name) {
  static const struct {
    const char *name;
    jfr_kind_t kind;
  } KINDS[] = {{"boolean", JFR_BOOLEAN}, {"byte", JFR_BYTE},   {"char", JFR_CHAR},
               {"short", JFR_SHORT},     {"int", JFR_INT},     {"long", JFR_LONG},
               {"float", JFR_FLOAT},     {"double", JFR_DOUBLE},
               {"java.lang.String", JFR_STRING}};
  for (size_t i = 0; i < sizeof KINDS / sizeof *KINDS; i++)
    if (ember_slice_eq(name, KINDS[i].name)) return KINDS[i].kind;
  return JFR_STRUCT;
}

static int settle(meta_parse_t *p) {
  jfr_meta_t *m = &p->ch->meta;
  if (m->nclasses) qsort(m->classes, m->nclasses, sizeof *m->classes, by_id);
  for (size_t i = 0; i < m->nclasses; i++) {
    jfr_class_t *c = &m->classes[i];
    if (i > 0 && c->id == m->classes[i - 1].id)
      return jfr_fail(p->x, p->ch, 0, "the metadata defines class id %" PRIu64 " twice",
                      c->id);
    c->kind = kind_of(c->name);
    if (c->kind != JFR_STRUCT) c->nfields = 0; /* primitives have no fields */
    if (c->kind == JFR_STRING) m->string_cls = (uint32_t)i;
  }
  for (size_t i = 0; i < m->nfields; i++) {
    uint32_t cls = jfr_meta_by_id(m, p->field_types[i]);
    if (cls == JFR_NONE) {
      ingest_excerpt_t e;
      return jfr_fail(p->x, p->ch, 0,
                      "field '%s' has type id %" PRIu64
                      ", which the metadata does not define",
                      ingest_excerpt(&e, m->fields[i].name.base, m->fields[i].name.len),
                      p->field_types[i]);
    }
    m->fields[i].cls = cls;
  }
  return EMBER_OK;
}

int jfr_meta_read(jfr_ctx_t *x, jfr_chunk_t *ch, size_t at) {
  jfr_event_t ev;
  size_t pos = at;
  int rc = jfr_event_next(x, ch, &pos, &ev);
  if (rc) return rc;
  if (ev.type != 0)
    return jfr_fail(x, ch, at,
                    "the header's metadata offset points to an event of type %" PRIu64
                    ", not to the metadata (type 0)",
                    ev.type);
  meta_parse_t p = {x, ch, {ch->base, ev.fields, ev.end, ch->compressed, false}, NULL, 0};
  ch->meta.string_cls = JFR_NONE;
  jfr_rd_long(&p.r); /* start time */
  jfr_rd_long(&p.r); /* duration */
  jfr_rd_long(&p.r); /* metadata id */
  rc = p.r.bad ? bad(&p, "its header") : EMBER_OK;
  if (rc == EMBER_OK) rc = read_strings(&p);
  if (rc == EMBER_OK) rc = read_element(&p, 0, JFR_NONE);
  if (rc == EMBER_OK) rc = settle(&p);
  free(p.field_types);
  return rc;
}

/* ---- Lookups ------------------------------------------------------------------------- */

uint32_t jfr_meta_find(const jfr_meta_t *m, const char *name) {
  for (size_t i = 0; i < m->nclasses; i++)
    if (ember_slice_eq(m->classes[i].name, name)) return (uint32_t)i;
  return JFR_NONE;
}

uint32_t jfr_meta_field(const jfr_meta_t *m, uint32_t cls, const char *name) {
  if (cls == JFR_NONE) return JFR_NONE;
  const jfr_class_t *c = &m->classes[cls];
  for (uint32_t i = 0; i < c->nfields; i++)
    if (ember_slice_eq(m->fields[c->first + i].name, name)) return i;
  return JFR_NONE;
}
