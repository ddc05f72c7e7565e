/*
 * pprof.c - one pprof profile (perftools.profiles.Profile, gzipped or not)
 * from bytes to something stacks can be read from: decompressed, unpacked
 * by protobuf-c, every reference checked, and the frames of every location
 * named once.
 *
 * The grouping of samples into series is pprof_series.c's job; this file
 * answers "which frames, root first, make sample i".
 *
 * Invariants, once pprof_doc_open has succeeded:
 *  1. Every string index the frames and sample types use is inside the
 *     string table, and every function, mapping and location id a location
 *     or line names exists (an id may be 0 for "none" except in samples).
 *  2. frames[first[i] .. first[i+1]) are location i's frames, leaf first,
 *     never empty names; each slice points into the unpacked profile or the
 *     arena, both owned by the doc.
 *
 * Limits: protobuf-c allocates while it unpacks, so it gets an allocator
 * with a budget in proportion to the input; the names made up for frames
 * without symbols have one too. Either running out is a 413, not a crash
 * or a swap storm.
 */
#include "ingest_int.h"

#include "pprof/profile.pb-c.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* protobuf-c's allocations: the structs, arrays and strings it builds are
 * some 10 times the size of a typical profile; a hostile one made of empty
 * messages could ask for more than 30 times. */
#define UNPACK_BASE ((size_t)16 << 20)
#define UNPACK_PER_BYTE 16
/* The arena of names made up for frames without a function name. */
#define ARENA_BASE ((size_t)4 << 20)
#define ARENA_PER_BYTE 8

typedef Perftools__Profiles__Profile pb_profile_t;
typedef Perftools__Profiles__Location pb_location_t;
typedef Perftools__Profiles__Line pb_line_t;
typedef Perftools__Profiles__Function pb_function_t;
typedef Perftools__Profiles__Mapping pb_mapping_t;

static size_t scaled(size_t base, size_t per_byte, size_t len) {
  if (len > (SIZE_MAX - base) / per_byte) return SIZE_MAX;
  return base + len * per_byte;
}

/* ---- Errors ---------------------------------------------------------------- */

/* Replaces the "body: " that ember_ingest_decode starts its messages with by
 * the name of the field that was being decoded. */
static int reprefix(ember_err_t *err, const char *what, int rc) {
  if (!err) return rc;
  char msg[EMBER_ERR_MSG_MAX];
  const char *m = err->msg;
  if (!strncmp(m, "body: ", 6)) m += 6;
  snprintf(msg, sizeof msg, "%s", m);
  return ember_err_set(err, rc, "%s: %s", what, msg);
}

static int bad_string(const pprof_doc_t *d, const char *field, int64_t idx,
                      ember_err_t *err) {
  return ember_err_set(err, EMBER_EPARSE,
                       "%s: %s names string %" PRId64 " but the string table has %zu "
                       "entries; the profile is corrupt",
                       d->what, field, idx, d->pb->n_string_table);
}

int pprof_doc_string(const pprof_doc_t *d, int64_t idx, const char *field,
                     const char **out, ember_err_t *err) {
  ember_slice_t s = {"", 0};
  int rc = pprof_doc_slice(d, idx, field, &s, err);
  if (rc == EMBER_OK) *out = s.base;
  return rc;
}

int pprof_doc_slice(const pprof_doc_t *d, int64_t idx, const char *field,
                    ember_slice_t *out, ember_err_t *err) {
  size_t n = d->pb->n_string_table;
  if (idx == 0 && n == 0) {
    *out = ember_slice("", 0);
    return EMBER_OK;
  }
  if (idx < 0 || (uint64_t)idx >= n) return bad_string(d, field, idx, err);
  *out = ember_slice(d->pb->string_table[idx], d->str_len[idx]);
  return EMBER_OK;
}

/* Every string's length, once: a string may be named by any number of
 * frames and labels, and measuring it at each use would cost its length
 * that many times. */
static void measure_strings(pprof_doc_t *d) {
  size_t n = d->pb->n_string_table;
  d->str_len = ember_malloc((n + 1) * sizeof *d->str_len);
  for (size_t i = 0; i < n; i++)
    d->str_len[i] = strlen(d->pb->string_table[i]);
}

/* ---- Id maps ---------------------------------------------------------------- */

typedef pprof_idpair_t idpair_t;

static int pair_cmp(const void *a, const void *b) {
  uint64_t x = ((const idpair_t *)a)->id, y = ((const idpair_t *)b)->id;
  return x < y ? -1 : x > y;
}

/* ids[i] is the id of element i. Writers number elements 1..n in order, so
 * that case needs no table. Ids must be non-zero and distinct. Takes ids. */
static int idmap_build(pprof_idmap_t *m, uint64_t *ids, size_t n, const char *kind,
                       const char *what, ember_err_t *err) {
  int rc = EMBER_OK;
  idpair_t *pairs = NULL;
  bool dense = true;
  for (size_t i = 0; i < n && dense; i++)
    dense = ids[i] == (uint64_t)i + 1;
  m->n = n;
  m->pairs = NULL;
  if (dense) goto done;
  pairs = ember_malloc((n ? n : 1) * sizeof *pairs);
  for (size_t i = 0; i < n; i++)
    pairs[i] = (idpair_t){ids[i], i};
  qsort(pairs, n, sizeof *pairs, pair_cmp);
  for (size_t i = 0; i < n && rc == EMBER_OK; i++) {
    if (pairs[i].id == 0)
      rc = ember_err_set(err, EMBER_EPARSE,
                         "%s: %s %zu has id 0; ids must be non-zero", what, kind,
                         pairs[i].idx + 1);
    else if (i && pairs[i].id == pairs[i - 1].id)
      rc = ember_err_set(err, EMBER_EPARSE,
                         "%s: two %ss have id %" PRIu64 "; ids must be unique", what,
                         kind, pairs[i].id);
  }
  if (rc == EMBER_OK) {
    m->pairs = pairs;
    pairs = NULL;
  }
done:
  free(pairs);
  free(ids);
  return rc;
}

/* The index of the element with this id, or SIZE_MAX. */
static size_t idmap_find(const pprof_idmap_t *m, uint64_t id) {
  if (!m->pairs) return id >= 1 && id <= m->n ? (size_t)(id - 1) : SIZE_MAX;
  size_t lo = 0, hi = m->n;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    if (m->pairs[mid].id < id)
      lo = mid + 1;
    else
      hi = mid;
  }
  return lo < m->n && m->pairs[lo].id == id ? m->pairs[lo].idx : SIZE_MAX;
}

static int build_idmaps(pprof_doc_t *d, ember_err_t *err) {
  const pb_profile_t *p = d->pb;
  uint64_t *ids = ember_malloc((p->n_location + 1) * sizeof *ids);
  for (size_t i = 0; i < p->n_location; i++) ids[i] = p->location[i]->id;
  int rc = idmap_build(&d->locations, ids, p->n_location, "location", d->what, err);
  if (rc) return rc;
  ids = ember_malloc((p->n_function + 1) * sizeof *ids);
  for (size_t i = 0; i < p->n_function; i++) ids[i] = p->function[i]->id;
  rc = idmap_build(&d->functions, ids, p->n_function, "function", d->what, err);
  if (rc) return rc;
  ids = ember_malloc((p->n_mapping + 1) * sizeof *ids);
  for (size_t i = 0; i < p->n_mapping; i++) ids[i] = p->mapping[i]->id;
  return idmap_build(&d->mappings, ids, p->n_mapping, "mapping", d->what, err);
}

/* ---- Checks ------------------------------------------------------------------ */

/* Invariant 1 for what is not read sample by sample: sample types, the
 * period type, functions and mappings. */
static int check_strings(const pprof_doc_t *d, ember_err_t *err) {
  const pb_profile_t *p = d->pb;
  const char *s;
  int rc = EMBER_OK;
  for (size_t i = 0; i < p->n_sample_type && !rc; i++) {
    rc = pprof_doc_string(d, p->sample_type[i]->type, "a sample type", &s, err);
    if (!rc) rc = pprof_doc_string(d, p->sample_type[i]->unit, "a sample unit", &s, err);
  }
  if (p->period_type && !rc) {
    rc = pprof_doc_string(d, p->period_type->type, "the period type", &s, err);
    if (!rc) rc = pprof_doc_string(d, p->period_type->unit, "the period unit", &s, err);
  }
  for (size_t i = 0; i < p->n_function && !rc; i++) {
    const pb_function_t *f = p->function[i];
    rc = pprof_doc_string(d, f->name, "a function name", &s, err);
    if (!rc) rc = pprof_doc_string(d, f->system_name, "a function's system name", &s, err);
    if (!rc) rc = pprof_doc_string(d, f->filename, "a function's file name", &s, err);
  }
  for (size_t i = 0; i < p->n_mapping && !rc; i++)
    rc = pprof_doc_string(d, p->mapping[i]->filename, "a mapping's file name", &s, err);
  return rc;
}

/* ---- Frames -------------------------------------------------------------------- */

/* A frame name while the arena may still move: either a string of the
 * profile (str) or bytes of the arena at off. */
typedef struct {
  const char *str;
  size_t off, len;
} frame_ref_t;

typedef struct {
  frame_ref_t *refs;
  size_t n, cap;
  size_t arena_limit;
} frames_t;

static void push_str(frames_t *f, ember_slice_t s) {
  ember_grow((void **)&f->refs, &f->cap, f->n + 1, sizeof *f->refs);
  f->refs[f->n++] = (frame_ref_t){s.base, 0, s.len};
}

/* Appends a made-up name (printf format) to the arena. */
static int push_made(pprof_doc_t *d, frames_t *f, ember_err_t *err, const char *fmt,
                     ...) __attribute__((format(printf, 4, 5)));

static int push_made(pprof_doc_t *d, frames_t *f, ember_err_t *err, const char *fmt,
                     ...) {
  size_t off = d->arena.len;
  va_list ap;
  char tmp[1];
  va_start(ap, fmt);
  int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
  va_end(ap);
  if (n < 0 || (size_t)n > f->arena_limit - off)
    return ember_err_set(err, EMBER_ETOOBIG,
                         "%s: too many frames without function names for the size of "
                         "the profile; symbolize it before sending, or send smaller "
                         "pushes",
                         d->what);
  ember_buf_reserve(&d->arena, (size_t)n + 1);
  va_start(ap, fmt);
  vsnprintf(d->arena.data + off, (size_t)n + 1, fmt, ap);
  va_end(ap);
  d->arena.len += (size_t)n;
  ember_grow((void **)&f->refs, &f->cap, f->n + 1, sizeof *f->refs);
  f->refs[f->n++] = (frame_ref_t){NULL, off, (size_t)n};
  return EMBER_OK;
}

/* "0x4a1b2c (libc.so.6)" for code that has no symbols: the address and the
 * base name of the file it was mapped from. */
static int address_frame(pprof_doc_t *d, const pb_location_t *loc, frames_t *f,
                         ember_err_t *err) {
  const char *file = "";
  if (loc->mapping_id) {
    size_t m = idmap_find(&d->mappings, loc->mapping_id);
    if (m == SIZE_MAX)
      return ember_err_set(err, EMBER_EPARSE,
                           "%s: location %" PRIu64 " names mapping %" PRIu64
                           ", which does not exist; the profile is corrupt",
                           d->what, loc->id, loc->mapping_id);
    pprof_doc_string(d, d->pb->mapping[m]->filename, "", &file, NULL);
    const char *slash = strrchr(file, '/');
    if (slash) file = slash + 1;
  }
  if (*file) return push_made(d, f, err, "0x%" PRIx64 " (%s)", loc->address, file);
  return push_made(d, f, err, "0x%" PRIx64, loc->address);
}

/* One line of a location: the function's name, else its system name, else
 * "file.go:42", else the location's address. */
static int line_frame(pprof_doc_t *d, const pb_location_t *loc, const pb_line_t *ln,
                      frames_t *f, ember_err_t *err) {
  if (ln->function_id == 0) return address_frame(d, loc, f, err);
  size_t fi = idmap_find(&d->functions, ln->function_id);
  if (fi == SIZE_MAX)
    return ember_err_set(err, EMBER_EPARSE,
                         "%s: location %" PRIu64 " names function %" PRIu64
                         ", which does not exist; the profile is corrupt",
                         d->what, loc->id, ln->function_id);
  const pb_function_t *fn = d->pb->function[fi];
  ember_slice_t name, sys, file;
  pprof_doc_slice(d, fn->name, "", &name, NULL); /* checked by check_strings */
  pprof_doc_slice(d, fn->system_name, "", &sys, NULL);
  pprof_doc_slice(d, fn->filename, "", &file, NULL);
  if (name.len) {
    push_str(f, name);
  } else if (sys.len) {
    push_str(f, sys);
  } else if (file.len) {
    return push_made(d, f, err, "%s:%" PRId64, file.base, ln->line);
  } else {
    return address_frame(d, loc, f, err);
  }
  return EMBER_OK;
}

/* Names every location's frames (invariant 2). A location's lines are
 * already leaf first: inlined callees come before their callers. */
static int build_frames(pprof_doc_t *d, size_t in_len, ember_err_t *err) {
  const pb_profile_t *p = d->pb;
  frames_t f = {NULL, 0, 0, scaled(ARENA_BASE, ARENA_PER_BYTE, in_len)};
  int rc = EMBER_OK;
  d->first = ember_malloc((p->n_location + 1) * sizeof *d->first);
  for (size_t i = 0; i < p->n_location && rc == EMBER_OK; i++) {
    const pb_location_t *loc = p->location[i];
    d->first[i] = f.n;
    if (loc->n_line == 0) rc = address_frame(d, loc, &f, err);
    for (size_t j = 0; j < loc->n_line && rc == EMBER_OK; j++)
      rc = line_frame(d, loc, loc->line[j], &f, err);
  }
  d->first[p->n_location] = f.n;
  if (rc == EMBER_OK) {
    /* The arena has stopped moving: the references become slices. */
    d->frames = ember_malloc((f.n + 1) * sizeof *d->frames);
    for (size_t i = 0; i < f.n; i++) {
      const frame_ref_t *r = &f.refs[i];
      d->frames[i] = ember_slice(r->str ? r->str : d->arena.data + r->off, r->len);
    }
    d->nframes = f.n;
  }
  free(f.refs);
  return rc;
}

/* ---- Stacks --------------------------------------------------------------- */

/* The location of sample s's i-th location id, or an error. */
static int sample_loc(const pprof_doc_t *d, size_t sample, size_t i, size_t *out,
                      ember_err_t *err) {
  const Perftools__Profiles__Sample *s = d->pb->sample[sample];
  *out = idmap_find(&d->locations, s->location_id[i]);
  if (*out != SIZE_MAX) return EMBER_OK;
  return ember_err_set(err, EMBER_EPARSE,
                       "%s: sample %zu names location %" PRIu64
                       ", which does not exist; the profile is corrupt",
                       d->what, sample + 1, s->location_id[i]);
}

int pprof_doc_stack(const pprof_doc_t *d, size_t sample, uint32_t max_depth,
                    pprof_stack_t *st, ember_err_t *err) {
  static const char marker[] = EMBER_INGEST_TRUNCATED_FRAME;
  const Perftools__Profiles__Sample *s = d->pb->sample[sample];
  size_t li;
  int rc = EMBER_OK;
  st->n = 0;
  st->bytes = 0;
  st->depth = 0;
  st->walked = s->n_location_id;
  /* Count first: a location may stand for thousands of inlined frames and
   * a sample may name it thousands of times, so only the frames that are
   * kept are ever copied. */
  for (size_t i = 0; i < s->n_location_id && rc == EMBER_OK; i++) {
    rc = sample_loc(d, sample, i, &li, err);
    if (rc == EMBER_OK) st->depth += d->first[li + 1] - d->first[li];
  }
  if (rc) return rc;
  uint64_t keep = st->depth <= max_depth ? st->depth : max_depth - 1;
  ember_grow((void **)&st->frames, &st->cap, (size_t)keep + 1, sizeof *st->frames);
  /* pprof lists the leaf first; Ember's stacks start at the root, and a
   * stack that is cut keeps the frames nearest the root. */
  for (size_t i = s->n_location_id; i-- > 0 && st->n < keep;) {
    sample_loc(d, sample, i, &li, NULL); /* checked above */
    for (size_t k = d->first[li + 1]; k-- > d->first[li] && st->n < keep;) {
      st->frames[st->n++] = d->frames[k];
      st->bytes += d->frames[k].len;
    }
  }
  if (st->depth > max_depth) {
    st->frames[st->n++] = ember_slice(marker, sizeof marker - 1);
    st->bytes += sizeof marker - 1;
  }
  return EMBER_OK;
}

void pprof_stack_free(pprof_stack_t *st) {
  free(st->frames);
  memset(st, 0, sizeof *st);
}

/* ---- Open and close ------------------------------------------------------- */

static int unpack(pprof_doc_t *d, const uint8_t *buf, size_t len, const ingest_ctx_t *c,
                  ember_err_t *err) {
  ingest_unpack_t b;
  ProtobufCAllocator a = ingest_unpack_begin(&b, c, scaled(UNPACK_BASE, UNPACK_PER_BYTE, len));
  d->pb = perftools__profiles__profile__unpack(&a, len, buf);
  if (d->pb) {
    d->unpacked = b.taken;
    return EMBER_OK;
  }
  ingest_budget_give(c, b.taken); /* protobuf-c has freed it all */
  if (b.busy) return ingest_busy(err);
  if (b.over)
    return ember_err_set(err, EMBER_ETOOBIG,
                         "%s: the profile holds too many elements for its size to be "
                         "unpacked; send smaller pushes",
                         d->what);
  return ember_err_set(err, EMBER_EPARSE,
                       "%s: not a valid pprof profile (%zu bytes that do not decode as "
                       "a perftools.profiles.Profile protobuf); send the profile as "
                       "written by runtime/pprof or pprof-nodejs, gzipped or not",
                       d->what, len);
}

int pprof_doc_open(pprof_doc_t *d, const char *what, const uint8_t *buf, size_t len,
                   const ingest_ctx_t *c, ember_err_t *err) {
  ingest_buf_t plain = {buf, len, NULL, 0};
  memset(d, 0, sizeof *d);
  d->what = what;
  d->c = c;
  int rc = EMBER_OK;
  if (len >= 2 && buf[0] == 0x1f && buf[1] == 0x8b) {
    rc = ingest_decode("gzip", buf, len, c, &plain, err);
    if (rc) return reprefix(err, what, rc);
  }
  d->size = plain.len;
  rc = unpack(d, plain.data, plain.len, c, err);
  ingest_buf_free(c, &plain); /* protobuf-c copied everything it keeps */
  if (rc == EMBER_OK) measure_strings(d);
  if (rc == EMBER_OK) rc = check_strings(d, err);
  if (rc == EMBER_OK) rc = build_idmaps(d, err);
  if (rc == EMBER_OK) rc = build_frames(d, d->size, err);
  if (rc) pprof_doc_close(d);
  return rc;
}

void pprof_doc_close(pprof_doc_t *d) {
  if (!d) return;
  if (d->pb) {
    ProtobufCAllocator a = ingest_unpack_freer();
    perftools__profiles__profile__free_unpacked(d->pb, &a);
    ingest_budget_give(d->c, d->unpacked);
  }
  free(d->str_len);
  free(d->locations.pairs);
  free(d->functions.pairs);
  free(d->mappings.pairs);
  free(d->first);
  free(d->frames);
  ember_buf_free(&d->arena);
  memset(d, 0, sizeof *d);
}
