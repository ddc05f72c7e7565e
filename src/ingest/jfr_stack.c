/*
 * jfr_stack.c - stack traces to frame names.
 *
 * A jdk.types.StackTrace holds "frames", an array of jdk.types.StackFrame
 * (leaf first), each naming a jdk.types.Method, whose "type" is a
 * java.lang.Class and whose "name", like the class's, is a jdk.types.Symbol
 * holding a string (or a string itself). A frame is named
 * "package/Class.method", the class's internal name as the JVM writes it
 * and Pyroscope shows it; a method whose class has no name (async-profiler's
 * native and kernel frames) is named by the method alone. The frame's type
 * (interpreted, JIT compiled, inlined, native) is not part of the name, so
 * one method is one frame however it ran; an inlined method is a frame of
 * its own, as the recorder lists it.
 *
 * Which of those are constant pool keys and which are written in place is
 * the metadata's business: every step follows the field's declaration.
 *
 * Each method is named once per chunk and each stack trace resolved once
 * per chunk (tables by key), so a stack sampled a thousand times costs one
 * walk. Names live in an arena of their own until the chunk is done.
 */
#include "jfr_int.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

/* Struct levels read at once: stack trace, frame, method, class, symbol. */
#define LEVELS 5
#define MAX_TEXT_DEPTH 3

typedef struct {
  uint64_t key;
  ember_slice_t name; /* base NULL: the method has no name (the frame is left out) */
  bool used;
} method_entry_t;

typedef struct {
  uint64_t key;
  uint32_t start, n; /* frames[start .. start + n) */
  bool cut, used;
} stack_entry_t;

/* How a frame names its method. */
enum { REF_KEY, REF_INLINE, REF_NONE };

typedef struct {
  uint64_t v; /* a key, or where the method is written in place */
  int how;
} ref_t;

struct jfr_frames {
  bool bound;
  const char *unbound; /* why stacks cannot be read in this chunk */
  uint32_t st_cls, st_frames, sf_method, m_type, m_name;
  const jfr_field_t *frames_field, *method_field;
  jfr_value_t *vals; /* LEVELS rows of width columns */
  size_t width, vcap;
  method_entry_t *methods;
  size_t mcap, mn;
  stack_entry_t *stacks;
  size_t scap, sn;
  ember_slice_t *frames;
  size_t nframes, fcap;
  ref_t *refs;
  size_t rcap;
  jfr_arena_t names;
  size_t held;
};

jfr_frames_t *jfr_frames_new(void) {
  return ember_calloc(1, sizeof(jfr_frames_t));
}

void jfr_frames_reset(jfr_frames_t *f) {
  if (f->mn) memset(f->methods, 0, f->mcap * sizeof *f->methods);
  if (f->sn) memset(f->stacks, 0, f->scap * sizeof *f->stacks);
  f->mn = f->sn = f->nframes = 0;
  f->bound = false;
  jfr_arena_reset(&f->names);
}

void jfr_frames_free(jfr_frames_t *f) {
  if (!f) return;
  free(f->vals);
  free(f->methods);
  free(f->stacks);
  free(f->frames);
  free(f->refs);
  jfr_arena_free(&f->names);
  free(f);
}

size_t jfr_frames_mem(const jfr_frames_t *f) {
  return sizeof *f + f->vcap * sizeof *f->vals + f->mcap * sizeof *f->methods +
         f->scap * sizeof *f->stacks + f->fcap * sizeof *f->frames +
         f->rcap * sizeof *f->refs + f->names.bytes;
}

static int charge(jfr_frames_t *f, jfr_ctx_t *x) {
  return ingest_mem_grow(x->c, &f->held, jfr_frames_mem(f), x->err);
}

/* ---- Binding to the chunk's classes -------------------------------------------- */

static uint32_t class_nfields(const jfr_meta_t *m, uint32_t cls) {
  return cls == JFR_NONE ? 0 : m->classes[cls].nfields;
}

/* The field idx of cls, or NULL. */
static const jfr_field_t *field(const jfr_meta_t *m, uint32_t cls, uint32_t idx) {
  if (cls == JFR_NONE || idx == JFR_NONE) return NULL;
  return &m->fields[m->classes[cls].first + idx];
}

int jfr_frames_bind(jfr_frames_t *f, jfr_ctx_t *x, const jfr_chunk_t *ch) {
  const jfr_meta_t *m = &ch->meta;
  f->bound = false;
  f->st_cls = jfr_meta_find(m, "jdk.types.StackTrace");
  f->st_frames = jfr_meta_field(m, f->st_cls, "frames");
  f->frames_field = field(m, f->st_cls, f->st_frames);
  if (!f->frames_field || !f->frames_field->array) {
    f->unbound = "the metadata has no jdk.types.StackTrace with an array of frames";
    return EMBER_OK;
  }
  uint32_t sf_cls = f->frames_field->cls;
  f->sf_method = jfr_meta_field(m, sf_cls, "method");
  f->method_field = field(m, sf_cls, f->sf_method);
  if (!f->method_field || f->method_field->array ||
      m->classes[f->method_field->cls].kind != JFR_STRUCT) {
    f->unbound = "the metadata's stack frames have no method";
    return EMBER_OK;
  }
  uint32_t m_cls = f->method_field->cls;
  f->m_type = jfr_meta_field(m, m_cls, "type");
  f->m_name = jfr_meta_field(m, m_cls, "name");
  if (f->m_name == JFR_NONE) {
    f->unbound = "the metadata's methods have no name";
    return EMBER_OK;
  }
  /* Rows wide enough for every struct a stack is read through: the trace,
   * the frame, the method, its class, and the symbols naming them. */
  const jfr_field_t *type = field(m, m_cls, f->m_type);
  const jfr_field_t *name = field(m, m_cls, f->m_name);
  uint32_t c_cls = type ? type->cls : JFR_NONE;
  const jfr_field_t *cname = field(m, c_cls, jfr_meta_field(m, c_cls, "name"));
  uint32_t classes[] = {f->st_cls, sf_cls, m_cls, c_cls, name->cls,
                        cname ? cname->cls : JFR_NONE};
  size_t width = 1;
  for (size_t i = 0; i < sizeof classes / sizeof *classes; i++)
    if (class_nfields(m, classes[i]) > width) width = class_nfields(m, classes[i]);
  f->width = width;
  ember_grow((void **)&f->vals, &f->vcap, LEVELS * width, sizeof *f->vals);
  f->bound = true;
  return charge(f, x);
}

/* ---- Values through keys ------------------------------------------------------- */

/* Where the struct value v of field fld is: in place, or in its pool. A key
 * of 0 with no entry is the null reference (*null). */
static int locate(jfr_ctx_t *x, const jfr_chunk_t *ch, const jfr_field_t *fld,
                  const jfr_value_t *v, uint64_t *off, bool *null) {
  *null = false;
  if (!fld->cpool) {
    *off = v->at;
    return EMBER_OK;
  }
  if (jfr_pool_find(ch, fld->cls, v->u, off)) return EMBER_OK;
  if (v->u == 0) {
    *null = true;
    return EMBER_OK;
  }
  ingest_excerpt_t e;
  const ember_slice_t name = ch->meta.classes[fld->cls].name;
  return jfr_fail(x, ch, v->at,
                  "a value refers to key %" PRIu64 " of the %s pool, which the chunk "
                  "does not hold",
                  v->u, ingest_excerpt(&e, name.base, name.len));
}

static int read_row(jfr_frames_t *f, jfr_ctx_t *x, const jfr_chunk_t *ch, uint32_t cls,
                    uint64_t off, int level) {
  jfr_rd_t r = {ch->base, (size_t)off, ch->size, ch->compressed, false};
  if (ch->meta.classes[cls].nfields > f->width)
    return jfr_fail(x, ch, (size_t)off, "a type on the way to a frame name has too many "
                                        "fields");
  return jfr_read_struct(x, ch, &r, cls, f->vals + (size_t)level * f->width, 0);
}

/* The text of field fld whose value is v: a string, in place or pooled, or
 * a struct (a jdk.types.Symbol) whose "string" field is the text. base NULL
 * for null. */
static int text(jfr_frames_t *f, jfr_ctx_t *x, jfr_chunk_t *ch, const jfr_field_t *fld,
                const jfr_value_t *v, int level, int depth, ember_slice_t *out) {
  const jfr_meta_t *m = &ch->meta;
  const jfr_class_t *c = &m->classes[fld->cls];
  uint64_t off;
  bool null;
  *out = ember_slice(NULL, 0);
  if (fld->array || (c->kind != JFR_STRING && c->kind != JFR_STRUCT) ||
      depth > MAX_TEXT_DEPTH)
    return jfr_fail(x, ch, v->at, "a name is not a string");
  int rc = locate(x, ch, fld, v, &off, &null);
  if (rc || null) return rc;
  if (c->kind == JFR_STRING) {
    jfr_rd_t r = {ch->base, (size_t)off, ch->size, ch->compressed, false};
    return jfr_read_string(x, ch, &r, out, fld->cpool ? 1 : 0);
  }
  uint32_t idx = jfr_meta_field(m, fld->cls, "string");
  if (idx == JFR_NONE || level >= LEVELS)
    return jfr_fail(x, ch, v->at, "a name is not a string");
  rc = read_row(f, x, ch, fld->cls, off, level);
  if (rc) return rc;
  return text(f, x, ch, field(m, fld->cls, idx), f->vals + (size_t)level * f->width + idx,
              level + 1, depth + 1, out);
}

/* ---- Methods --------------------------------------------------------------------- */

static method_entry_t *method_slot(jfr_frames_t *f, uint64_t key) {
  size_t mask = f->mcap - 1;
  size_t at = (size_t)ember_hash_pair((uint32_t)key, (uint32_t)(key >> 32)) & mask;
  while (f->methods[at].used && f->methods[at].key != key)
    at = (at + 1) & mask;
  return &f->methods[at];
}

static void methods_grow(jfr_frames_t *f) {
  if ((f->mn + 1) * 2 <= f->mcap) return;
  method_entry_t *old = f->methods;
  size_t old_cap = f->mcap;
  f->mcap = old_cap ? old_cap * 2 : 256;
  f->methods = ember_calloc(f->mcap, sizeof *f->methods);
  for (size_t i = 0; i < old_cap; i++)
    if (old[i].used) *method_slot(f, old[i].key) = old[i];
  free(old);
}

/* The name of the class the method of row level belongs to ("" for none). */
static int class_name(jfr_frames_t *f, jfr_ctx_t *x, jfr_chunk_t *ch, uint32_t m_cls,
                      const jfr_value_t *row, ember_slice_t *out) {
  const jfr_meta_t *m = &ch->meta;
  const jfr_field_t *type = field(m, m_cls, f->m_type);
  *out = ember_slice("", 0);
  if (!type || type->array || m->classes[type->cls].kind != JFR_STRUCT) return EMBER_OK;
  uint64_t off;
  bool null;
  int rc = locate(x, ch, type, &row[f->m_type], &off, &null);
  if (rc || null) return rc;
  uint32_t idx = jfr_meta_field(m, type->cls, "name");
  if (idx == JFR_NONE) return EMBER_OK;
  rc = read_row(f, x, ch, type->cls, off, 3);
  if (rc) return rc;
  rc = text(f, x, ch, field(m, type->cls, idx), f->vals + 3 * f->width + idx, 4, 0, out);
  if (rc == EMBER_OK && !out->base) *out = ember_slice("", 0);
  return rc;
}

/* Names the method written at off (of the method field's class). */
static int name_method(jfr_frames_t *f, jfr_ctx_t *x, jfr_chunk_t *ch, uint64_t off,
                       ember_slice_t *out) {
  const jfr_meta_t *m = &ch->meta;
  uint32_t m_cls = f->method_field->cls;
  const jfr_value_t *row = f->vals + 2 * f->width;
  ember_slice_t cls, name;
  int rc = read_row(f, x, ch, m_cls, off, 2);
  if (rc == EMBER_OK) rc = class_name(f, x, ch, m_cls, row, &cls);
  if (rc == EMBER_OK)
    rc = text(f, x, ch, field(m, m_cls, f->m_name), &row[f->m_name], 3, 0, &name);
  if (rc || !name.base || name.len == 0) {
    *out = ember_slice(NULL, 0);
    return rc;
  }
  size_t len = cls.len ? cls.len + 1 + name.len : name.len;
  rc = jfr_work(x, len);
  if (rc) return rc;
  char *s = jfr_arena_alloc(&f->names, len);
  if (cls.len) {
    memcpy(s, cls.base, cls.len);
    s[cls.len] = '.';
  }
  memcpy(s + len - name.len, name.base, name.len);
  *out = ember_slice(s, len);
  return charge(f, x);
}

/* The name of the frame whose method is ref; base NULL when the frame has
 * no method or the method no name (the frame is left out, as Pyroscope
 * leaves it out). */
static int method_name(jfr_frames_t *f, jfr_ctx_t *x, jfr_chunk_t *ch, ref_t ref,
                       ember_slice_t *out) {
  *out = ember_slice(NULL, 0);
  if (ref.how == REF_NONE) return EMBER_OK;
  if (ref.how == REF_INLINE) return name_method(f, x, ch, ref.v, out);
  methods_grow(f);
  method_entry_t *e = method_slot(f, ref.v);
  if (e->used) {
    *out = e->name;
    return EMBER_OK;
  }
  uint64_t off;
  bool null;
  jfr_value_t v = {ref.v, 0, true};
  int rc = locate(x, ch, f->method_field, &v, &off, &null);
  if (rc == EMBER_OK && !null) rc = name_method(f, x, ch, off, out);
  if (rc) return rc;
  /* name_method leaves the table alone: e is still the slot. */
  e->key = ref.v;
  e->name = *out;
  e->used = true;
  f->mn++;
  return charge(f, x);
}

/* ---- Stacks ---------------------------------------------------------------------- */

static stack_entry_t *stack_slot(jfr_frames_t *f, uint64_t key) {
  size_t mask = f->scap - 1;
  size_t at = (size_t)ember_hash_pair((uint32_t)key, (uint32_t)(key >> 32)) & mask;
  while (f->stacks[at].used && f->stacks[at].key != key)
    at = (at + 1) & mask;
  return &f->stacks[at];
}

static void stacks_grow(jfr_frames_t *f) {
  if ((f->sn + 1) * 2 <= f->scap) return;
  stack_entry_t *old = f->stacks;
  size_t old_cap = f->scap;
  f->scap = old_cap ? old_cap * 2 : 256;
  f->stacks = ember_calloc(f->scap, sizeof *f->stacks);
  for (size_t i = 0; i < old_cap; i++)
    if (old[i].used) *stack_slot(f, old[i].key) = old[i];
  free(old);
}

/* How frame i of the stack being read names its method, the frame read
 * from its pool or in place at r. */
static int frame_ref(jfr_frames_t *f, jfr_ctx_t *x, const jfr_chunk_t *ch, jfr_rd_t *r,
                     ref_t *out) {
  uint32_t sf_cls = f->frames_field->cls;
  const jfr_value_t *row = f->vals + f->width;
  int rc;
  out->how = REF_NONE;
  out->v = 0;
  if (f->frames_field->cpool) {
    jfr_value_t v = {jfr_rd_long(r), r->pos, true};
    uint64_t off;
    bool null;
    if (r->bad) return jfr_fail(x, ch, r->pos, "a stack trace runs past its pool");
    rc = locate(x, ch, f->frames_field, &v, &off, &null);
    if (rc || null) return rc;
    rc = read_row(f, x, ch, sf_cls, off, 1);
  } else {
    if (ch->meta.classes[sf_cls].nfields > f->width)
      return jfr_fail(x, ch, r->pos, "a stack frame has too many fields");
    rc = jfr_read_struct(x, ch, r, sf_cls, f->vals + f->width, 0);
  }
  if (rc) return rc;
  const jfr_value_t *mv = &row[f->sf_method];
  out->how = f->method_field->cpool ? REF_KEY : REF_INLINE;
  out->v = f->method_field->cpool ? mv->u : mv->at;
  return EMBER_OK;
}

/* The method refs of the stack trace at off, leaf first, into f->refs. */
static int read_refs(jfr_frames_t *f, jfr_ctx_t *x, const jfr_chunk_t *ch, uint64_t off,
                     size_t *n) {
  int rc = read_row(f, x, ch, f->st_cls, off, 0);
  if (rc) return rc;
  const jfr_value_t *fv = &f->vals[f->st_frames];
  jfr_rd_t r = {ch->base, fv->at, ch->size, ch->compressed, false};
  uint32_t count = jfr_rd_count(&r);
  if (r.bad) return jfr_fail(x, ch, fv->at, "a stack trace runs past its pool");
  ember_grow((void **)&f->refs, &f->rcap, (size_t)count + 1, sizeof *f->refs);
  rc = charge(f, x);
  for (uint32_t i = 0; i < count && rc == EMBER_OK; i++)
    rc = frame_ref(f, x, ch, &r, &f->refs[i]);
  *n = count;
  return rc;
}

static const ember_slice_t TRUNCATED = {EMBER_INGEST_TRUNCATED_FRAME,
                                        sizeof EMBER_INGEST_TRUNCATED_FRAME - 1};

/* Appends the named frames of refs[0 .. n), root first, at most max_depth
 * of them; *cut when more were left. */
static int name_frames(jfr_frames_t *f, jfr_ctx_t *x, jfr_chunk_t *ch, size_t n,
                       uint32_t max_depth, uint32_t *kept, bool *cut) {
  *kept = 0;
  *cut = false;
  for (size_t i = n; i-- > 0;) {
    ember_slice_t name;
    int rc = method_name(f, x, ch, f->refs[i], &name);
    if (rc) return rc;
    if (!name.base) continue;
    if (*kept == max_depth) {
      f->frames[f->nframes - 1] = TRUNCATED;
      *cut = true;
      break;
    }
    ember_grow((void **)&f->frames, &f->fcap, f->nframes + 1, sizeof *f->frames);
    f->frames[f->nframes++] = name;
    (*kept)++;
  }
  return charge(f, x);
}

int jfr_frames_stack(jfr_frames_t *f, jfr_ctx_t *x, jfr_chunk_t *ch, uint64_t key,
                     uint32_t max_depth, const ember_slice_t **frames, size_t *n,
                     bool *found, bool *cut) {
  *frames = NULL;
  *n = 0;
  *found = false;
  *cut = false;
  if (!f->bound)
    return jfr_fail(x, ch, 0, "events have stack traces, but %s", f->unbound);
  stacks_grow(f);
  stack_entry_t *e = stack_slot(f, key);
  if (!e->used) {
    uint64_t off;
    if (!jfr_pool_find(ch, f->st_cls, key, &off)) {
      if (key == 0) return EMBER_OK; /* no stack */
      return jfr_fail(x, ch, 0,
                      "an event refers to stack trace %" PRIu64 ", which the "
                      "chunk's constant pools do not hold",
                      key);
    }
    size_t nrefs = 0;
    uint32_t start = (uint32_t)f->nframes, kept;
    bool was_cut;
    int rc = read_refs(f, x, ch, off, &nrefs);
    if (rc == EMBER_OK) rc = name_frames(f, x, ch, nrefs, max_depth, &kept, &was_cut);
    if (rc) return rc;
    e = stack_slot(f, key);
    *e = (stack_entry_t){key, start, kept, was_cut, true};
    f->sn++;
  }
  *frames = f->frames ? f->frames + e->start : NULL;
  *n = e->n;
  *found = true;
  *cut = e->cut;
  return EMBER_OK;
}
