/* Helpers the pprof tests share: a builder for hand-made profiles (packed
 * with protobuf-c, so the bytes are what any pprof writer would send), a
 * canonical dump of an ingest result ("app{labels} a;b;c value" lines,
 * sorted, as the fixtures' .expected files hold) and a gzip writer. */
#ifndef EMBER_PPROF_TEST_UTIL_H
#define EMBER_PPROF_TEST_UTIL_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "ember/ingest.h"
#include "ingest/ingest_test_util.h"
#include "pprof/profile.pb-c.h"

#define PB_MAX 64

/* A profile under construction. Fixed capacity: tests are small. */
typedef struct {
  Perftools__Profiles__Profile p;
  char *strings[PB_MAX * 4];
  Perftools__Profiles__ValueType types[PB_MAX], period_type, *type_ptrs[PB_MAX];
  Perftools__Profiles__Function funcs[PB_MAX], *func_ptrs[PB_MAX];
  Perftools__Profiles__Mapping maps[PB_MAX], *map_ptrs[PB_MAX];
  Perftools__Profiles__Location locs[PB_MAX], *loc_ptrs[PB_MAX];
  Perftools__Profiles__Line lines[PB_MAX * 4], *line_ptrs[PB_MAX * 4];
  size_t nlines;
  Perftools__Profiles__Sample samples[PB_MAX], *sample_ptrs[PB_MAX];
  uint64_t sample_locs[PB_MAX][PB_MAX];
  int64_t sample_values[PB_MAX][8];
  Perftools__Profiles__Label labels[PB_MAX * 4], *label_ptrs[PB_MAX * 4];
  size_t nlabels;
} pb_t;

static inline void pb_init(pb_t *b) {
  memset(b, 0, sizeof *b);
  perftools__profiles__profile__init(&b->p);
  b->p.string_table = b->strings;
  b->strings[b->p.n_string_table++] = strdup("");
  b->p.sample_type = b->type_ptrs;
  b->p.function = b->func_ptrs;
  b->p.mapping = b->map_ptrs;
  b->p.location = b->loc_ptrs;
  b->p.sample = b->sample_ptrs;
}

static inline void pb_free(pb_t *b) {
  for (size_t i = 0; i < b->p.n_string_table; i++) free(b->strings[i]);
}

/* The string's index, added when new. */
static inline int64_t pb_str(pb_t *b, const char *s) {
  for (size_t i = 0; i < b->p.n_string_table; i++)
    if (!strcmp(b->strings[i], s)) return (int64_t)i;
  b->strings[b->p.n_string_table] = strdup(s);
  return (int64_t)b->p.n_string_table++;
}

static inline void pb_type(pb_t *b, const char *type, const char *unit) {
  Perftools__Profiles__ValueType *t = &b->types[b->p.n_sample_type];
  perftools__profiles__value_type__init(t);
  t->type = pb_str(b, type);
  t->unit = pb_str(b, unit);
  b->type_ptrs[b->p.n_sample_type++] = t;
}

static inline void pb_period(pb_t *b, const char *type, const char *unit,
                             int64_t period) {
  perftools__profiles__value_type__init(&b->period_type);
  b->period_type.type = pb_str(b, type);
  b->period_type.unit = pb_str(b, unit);
  b->p.period_type = &b->period_type;
  b->p.period = period;
}

/* A function with id n+1 (or id when non-zero); returns its id. */
static inline uint64_t pb_func(pb_t *b, const char *name, const char *file) {
  Perftools__Profiles__Function *f = &b->funcs[b->p.n_function];
  perftools__profiles__function__init(f);
  f->id = b->p.n_function + 1;
  f->name = pb_str(b, name);
  f->filename = pb_str(b, file);
  b->func_ptrs[b->p.n_function++] = f;
  return f->id;
}

static inline uint64_t pb_mapping(pb_t *b, const char *file) {
  Perftools__Profiles__Mapping *m = &b->maps[b->p.n_mapping];
  perftools__profiles__mapping__init(m);
  m->id = b->p.n_mapping + 1;
  m->filename = pb_str(b, file);
  b->map_ptrs[b->p.n_mapping++] = m;
  return m->id;
}

/* A location with nlines (function id, line) pairs, leaf first. */
static inline uint64_t pb_loc(pb_t *b, uint64_t address, uint64_t mapping,
                              size_t nlines, const uint64_t *funcs,
                              const int64_t *linenos) {
  Perftools__Profiles__Location *l = &b->locs[b->p.n_location];
  perftools__profiles__location__init(l);
  l->id = b->p.n_location + 1;
  l->address = address;
  l->mapping_id = mapping;
  l->line = &b->line_ptrs[b->nlines];
  for (size_t i = 0; i < nlines; i++) {
    Perftools__Profiles__Line *ln = &b->lines[b->nlines];
    perftools__profiles__line__init(ln);
    ln->function_id = funcs[i];
    ln->line = linenos ? linenos[i] : 0;
    b->line_ptrs[b->nlines++] = ln;
  }
  l->n_line = nlines;
  b->loc_ptrs[b->p.n_location++] = l;
  return l->id;
}

/* A location of one line of function f. */
static inline uint64_t pb_loc1(pb_t *b, uint64_t f) { return pb_loc(b, 0, 0, 1, &f, NULL); }

/* A sample: nlocs location ids (leaf first), one value per sample type,
 * and labels as "key=value" strings (a value starting with '#' makes a
 * numeric label), NULL-terminated. */
static inline void pb_sample(pb_t *b, size_t nlocs, const uint64_t *locs,
                             const int64_t *values, const char *const *labels) {
  size_t i = b->p.n_sample;
  Perftools__Profiles__Sample *s = &b->samples[i];
  perftools__profiles__sample__init(s);
  if (nlocs) memcpy(b->sample_locs[i], locs, nlocs * sizeof *locs);
  memcpy(b->sample_values[i], values, b->p.n_sample_type * sizeof *values);
  s->location_id = b->sample_locs[i];
  s->n_location_id = nlocs;
  s->value = b->sample_values[i];
  s->n_value = b->p.n_sample_type;
  s->label = &b->label_ptrs[b->nlabels];
  for (size_t k = 0; labels && labels[k]; k++) {
    Perftools__Profiles__Label *l = &b->labels[b->nlabels];
    perftools__profiles__label__init(l);
    char key[64];
    const char *eq = strchr(labels[k], '=');
    snprintf(key, sizeof key, "%.*s", (int)(eq - labels[k]), labels[k]);
    l->key = pb_str(b, key);
    if (eq[1] == '#')
      l->num = atoll(eq + 2);
    else
      l->str = pb_str(b, eq + 1);
    b->label_ptrs[b->nlabels++] = l;
    s->n_label++;
  }
  b->sample_ptrs[b->p.n_sample++] = s;
}

/* The packed protobuf. Caller frees. */
static inline uint8_t *pb_pack(const pb_t *b, size_t *len) {
  *len = perftools__profiles__profile__get_packed_size(&b->p);
  uint8_t *out = malloc(*len ? *len : 1);
  perftools__profiles__profile__pack(&b->p, out);
  return out;
}

/* buf gzipped. Caller frees. */
static inline uint8_t *gzip_bytes(const void *buf, size_t len, size_t *out_len) {
  z_stream zs;
  memset(&zs, 0, sizeof zs);
  deflateInit2(&zs, 6, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY);
  size_t cap = deflateBound(&zs, (uLong)len) + 32;
  uint8_t *out = malloc(cap);
  zs.next_in = (Bytef *)buf;
  zs.avail_in = (uInt)len;
  zs.next_out = out;
  zs.avail_out = (uInt)cap;
  deflate(&zs, Z_FINISH);
  *out_len = zs.total_out;
  deflateEnd(&zs);
  return out;
}

/* ---- Hand-encoded profiles too big for pb_t -------------------------------- */

/* Field numbers of profile.proto. */
enum {
  PB_PROFILE_SAMPLE_TYPE = 1,
  PB_PROFILE_SAMPLE = 2,
  PB_PROFILE_LOCATION = 4,
  PB_PROFILE_FUNCTION = 5,
  PB_PROFILE_STRING = 6,
  PB_SAMPLE_LOCATION_ID = 1,
  PB_SAMPLE_VALUE = 2,
  PB_SAMPLE_LABEL = 3,
  PB_LABEL_KEY = 1,
  PB_LABEL_STR = 2,
  PB_LOCATION_ID = 1,
  PB_LOCATION_LINE = 4,
  PB_LINE_FUNCTION_ID = 1,
  PB_FUNCTION_ID = 1,
  PB_FUNCTION_NAME = 2,
  PB_VALUE_TYPE_TYPE = 1,
  PB_VALUE_TYPE_UNIT = 2,
};

static inline void pbw_varint(ember_buf_t *b, uint32_t field, uint64_t v) {
  ember_varint_put(b, (uint64_t)field << 3);
  ember_varint_put(b, v);
}

static inline void pbw_bytes(ember_buf_t *b, uint32_t field, const void *p, size_t n) {
  ember_varint_put(b, (uint64_t)field << 3 | 2);
  ember_varint_put(b, n);
  ember_buf_append(b, p, n);
}

/* Appends message m as field of b and frees m. */
static inline void pbw_msg(ember_buf_t *b, uint32_t field, ember_buf_t *m) {
  pbw_bytes(b, field, m->data ? m->data : "", m->len);
  ember_buf_free(m);
}

static inline void pbw_string(ember_buf_t *b, const char *s) {
  pbw_bytes(b, PB_PROFILE_STRING, s, strlen(s));
}

static inline void pbw_value_type(ember_buf_t *b, int64_t type, int64_t unit) {
  ember_buf_t m = EMBER_BUF_INIT;
  pbw_varint(&m, PB_VALUE_TYPE_TYPE, (uint64_t)type);
  pbw_varint(&m, PB_VALUE_TYPE_UNIT, (uint64_t)unit);
  pbw_msg(b, PB_PROFILE_SAMPLE_TYPE, &m);
}

/* Function id, named by string name. */
static inline void pbw_function(ember_buf_t *b, uint64_t id, int64_t name) {
  ember_buf_t m = EMBER_BUF_INIT;
  pbw_varint(&m, PB_FUNCTION_ID, id);
  pbw_varint(&m, PB_FUNCTION_NAME, (uint64_t)name);
  pbw_msg(b, PB_PROFILE_FUNCTION, &m);
}

/* Location id whose nlines inlined lines all call function func. */
static inline void pbw_location(ember_buf_t *b, uint64_t id, uint64_t func,
                                size_t nlines) {
  ember_buf_t m = EMBER_BUF_INIT, line = EMBER_BUF_INIT;
  pbw_varint(&m, PB_LOCATION_ID, id);
  pbw_varint(&line, PB_LINE_FUNCTION_ID, func);
  for (size_t i = 0; i < nlines; i++)
    pbw_bytes(&m, PB_LOCATION_LINE, line.data, line.len);
  ember_buf_free(&line);
  pbw_msg(b, PB_PROFILE_LOCATION, &m);
}

/* A sample naming location loc nrefs times, with nvalues values of 1 and,
 * when label_key is non-zero, one string label. */
static inline void pbw_sample(ember_buf_t *b, uint64_t loc, size_t nrefs, size_t nvalues,
                              int64_t label_key, int64_t label_str) {
  ember_buf_t m = EMBER_BUF_INIT, ids = EMBER_BUF_INIT, vals = EMBER_BUF_INIT;
  for (size_t i = 0; i < nrefs; i++)
    ember_varint_put(&ids, loc);
  for (size_t i = 0; i < nvalues; i++)
    ember_varint_put(&vals, 1);
  pbw_bytes(&m, PB_SAMPLE_LOCATION_ID, ids.data ? ids.data : "", ids.len);
  pbw_bytes(&m, PB_SAMPLE_VALUE, vals.data ? vals.data : "", vals.len);
  if (label_key) {
    ember_buf_t l = EMBER_BUF_INIT;
    pbw_varint(&l, PB_LABEL_KEY, (uint64_t)label_key);
    pbw_varint(&l, PB_LABEL_STR, (uint64_t)label_str);
    pbw_msg(&m, PB_SAMPLE_LABEL, &l);
  }
  ember_buf_free(&ids);
  ember_buf_free(&vals);
  pbw_msg(b, PB_PROFILE_SAMPLE, &m);
}

/* The inline fan-out: strings "", "count", "f", "t0", "t1", ...; ntypes
 * sample types; one function f; one location of nlines inlined calls of f;
 * nsamples samples that each name the location nrefs times and have a
 * value of 1 for every type. A stack of nlines * nrefs frames per sample,
 * from a few bytes per sample. */
static inline void pbw_fanout(ember_buf_t *b, size_t nlines, size_t nrefs,
                              size_t nsamples, size_t ntypes) {
  pbw_string(b, "");
  pbw_string(b, "count");
  pbw_string(b, "f");
  for (size_t i = 0; i < ntypes; i++) {
    char t[32];
    snprintf(t, sizeof t, "t%zu", i);
    pbw_string(b, t);
    pbw_value_type(b, 3 + (int64_t)i, 1);
  }
  pbw_function(b, 1, 2);
  pbw_location(b, 1, 1, nlines);
  for (size_t i = 0; i < nsamples; i++)
    pbw_sample(b, 1, nrefs, ntypes, 0, 0);
}

/* Every stack of every profile as "app{labels} a;b;c value\n", sorted.
 * Caller frees. */
static inline char *result_dump(const ember_ingest_result_t *r) {
  ember_buf_t all = EMBER_BUF_INIT;
  ember_buf_append(&all, "", 0);
  size_t nlines = 0, cap = 0;
  char **lines = NULL;
  for (size_t i = 0; i < r->n; i++) {
    ember_buf_t prefix = EMBER_BUF_INIT;
    ember_buf_puts(&prefix, r->items[i].key.app);
    ember_buf_putc(&prefix, '{');
    ember_series_key_labels(&r->items[i].key, &prefix);
    ember_buf_puts(&prefix, "} ");
    char *dump = tree_dump(r->items[i].tree);
    for (char *line = strtok(dump, "\n"); line; line = strtok(NULL, "\n")) {
      if (nlines == cap) {
        cap = cap ? cap * 2 : 16;
        lines = realloc(lines, cap * sizeof *lines);
      }
      size_t n = prefix.len + strlen(line) + 2;
      lines[nlines] = malloc(n);
      snprintf(lines[nlines++], n, "%s%s\n", prefix.data, line);
    }
    free(dump);
    ember_buf_free(&prefix);
  }
  qsort(lines, nlines, sizeof *lines, dump_cmp);
  for (size_t i = 0; i < nlines; i++) {
    ember_buf_puts(&all, lines[i]);
    free(lines[i]);
  }
  free(lines);
  return ember_buf_take(&all, NULL);
}

/* The profile of app with exactly these canonical labels ("k=v,k2=v2"), or
 * NULL. */
static inline const ember_profile_t *result_find(const ember_ingest_result_t *r,
                                                 const char *app, const char *labels) {
  for (size_t i = 0; i < r->n; i++) {
    ember_buf_t l = EMBER_BUF_INIT;
    ember_series_key_labels(&r->items[i].key, &l);
    bool same = !strcmp(r->items[i].key.app, app) && !strcmp(l.data, labels);
    ember_buf_free(&l);
    if (same) return &r->items[i];
  }
  return NULL;
}

#endif
