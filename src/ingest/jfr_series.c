/*
 * jfr_series.c - a JFR push to Ember series: which events become which
 * apps, context ids to label sets, and the sums of each (label set, app,
 * stack) into call trees.
 *
 * Apps, named as Pyroscope 0.37 names them, "<app>.<suffix>" where <app> is
 * the name parameter's app without a suffix of this table (docs/API.md):
 *
 *   jdk.ExecutionSample             <event> (cpu, itimer; cpu for alloc and
 *                                   lock), and wall with event=wall
 *   jdk.ObjectAllocationInNewTLAB   alloc_in_new_tlab_objects, _bytes
 *   jdk.ObjectAllocationOutsideTLAB alloc_outside_tlab_objects, _bytes
 *   jdk.ObjectAllocationSample      alloc_sample_objects, _bytes
 *   jdk.JavaMonitorEnter, ThreadPark lock_count, lock_duration
 *   profiler.LiveObject             live (average)
 *
 * With event=wall every sample counts in .wall and the samples of running
 * threads (state STATE_RUNNABLE, or no state) in .cpu, as Pyroscope splits
 * them; with cpu and itimer the profiler sampled running threads only, and
 * every sample counts.
 *
 * Label sets: an event's contextId is looked up in the labels part; its
 * labels go over the name's (the context's value wins for a key in both).
 * Id 0 is no context; an id the labels part does not have is counted
 * (unknown_contexts) and gets no extra labels.
 *
 * Per chunk (stack trace keys are a chunk's own), events are summed by
 * (label set, app, stack key) first, and each distinct stack is named and
 * walked into its tree once when the chunk ends. Series are counted as
 * they appear, so a push over --max-series-per-push is refused before any
 * tree is built.
 */
#include "jfr_int.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- Apps -------------------------------------------------------------------- */

enum {
  SLOT_EXEC,
  SLOT_WALL,
  SLOT_TLAB_OBJECTS,
  SLOT_TLAB_BYTES,
  SLOT_OUTSIDE_OBJECTS,
  SLOT_OUTSIDE_BYTES,
  SLOT_SAMPLE_OBJECTS,
  SLOT_SAMPLE_BYTES,
  SLOT_LOCK_COUNT,
  SLOT_LOCK_DURATION,
  SLOT_LIVE,
  NSLOTS
};

static const struct {
  const char *suffix; /* NULL: the event parameter's */
  const char *units;
  ember_aggregation_t agg;
} SLOTS[NSLOTS] = {
    [SLOT_EXEC] = {NULL, "samples", EMBER_AGG_SUM},
    [SLOT_WALL] = {"wall", "samples", EMBER_AGG_SUM},
    [SLOT_TLAB_OBJECTS] = {"alloc_in_new_tlab_objects", "objects", EMBER_AGG_SUM},
    [SLOT_TLAB_BYTES] = {"alloc_in_new_tlab_bytes", "bytes", EMBER_AGG_SUM},
    [SLOT_OUTSIDE_OBJECTS] = {"alloc_outside_tlab_objects", "objects", EMBER_AGG_SUM},
    [SLOT_OUTSIDE_BYTES] = {"alloc_outside_tlab_bytes", "bytes", EMBER_AGG_SUM},
    [SLOT_SAMPLE_OBJECTS] = {"alloc_sample_objects", "objects", EMBER_AGG_SUM},
    [SLOT_SAMPLE_BYTES] = {"alloc_sample_bytes", "bytes", EMBER_AGG_SUM},
    [SLOT_LOCK_COUNT] = {"lock_count", "lock_samples", EMBER_AGG_SUM},
    [SLOT_LOCK_DURATION] = {"lock_duration", "lock_nanoseconds", EMBER_AGG_SUM},
    [SLOT_LIVE] = {"live", "objects", EMBER_AGG_AVERAGE},
};

/* The event parameter's values; the first is the default. */
static const char *const EVENTS[] = {"cpu", "itimer", "wall", "alloc", "lock"};

/* The suffixes an app name may already carry (dropped, as the pprof path
 * drops its own): "myapp" and "myapp.cpu" both give "myapp.cpu". */
static const char *const SUFFIXES[] = {"cpu",
                                       "itimer",
                                       "wall",
                                       "alloc_in_new_tlab_objects",
                                       "alloc_in_new_tlab_bytes",
                                       "alloc_outside_tlab_objects",
                                       "alloc_outside_tlab_bytes",
                                       "alloc_sample_objects",
                                       "alloc_sample_bytes",
                                       "lock_count",
                                       "lock_duration",
                                       "live"};

static size_t app_base_len(const char *app) {
  size_t n = strlen(app);
  for (size_t i = 0; i < sizeof SUFFIXES / sizeof *SUFFIXES; i++) {
    size_t s = strlen(SUFFIXES[i]);
    if (n > s + 1 && app[n - s - 1] == '.' && !memcmp(app + n - s, SUFFIXES[i], s))
      return n - s - 1;
  }
  return n;
}

/* ---- Events -------------------------------------------------------------------- */

enum { EV_EXEC, EV_TLAB, EV_OUTSIDE, EV_SAMPLE, EV_LOCK, EV_LIVE, NKINDS };

/* Each kind: its classes, and the field holding its value (NULL: 1 each). */
static const struct {
  const char *classes[2];
  const char *value;
} KINDS[NKINDS] = {
    [EV_EXEC] = {{"jdk.ExecutionSample", NULL}, NULL},
    [EV_TLAB] = {{"jdk.ObjectAllocationInNewTLAB", NULL}, "tlabSize"},
    [EV_OUTSIDE] = {{"jdk.ObjectAllocationOutsideTLAB", NULL}, "allocationSize"},
    [EV_SAMPLE] = {{"jdk.ObjectAllocationSample", NULL}, "weight"},
    [EV_LOCK] = {{"jdk.JavaMonitorEnter", "jdk.ThreadPark"}, "duration"},
    [EV_LIVE] = {{"profiler.LiveObject", NULL}, NULL},
};
#define MAX_TYPES 8

/* An event class of this chunk Ember reads, with its fields' indexes. */
typedef struct {
  uint64_t id;
  uint32_t cls;
  int kind;
  uint32_t stack, context, value, state; /* JFR_NONE when absent */
} evtype_t;

/* ---- The push being built -------------------------------------------------------- */

#define NO_SERIES 0u

typedef struct {
  ember_series_key_t key;
  char *id; /* the canonical label string, owned */
  size_t id_len;
  uint32_t series[NSLOTS]; /* index + 1 into series, or NO_SERIES */
} group_t;

typedef struct {
  uint32_t group, slot;
  ember_tree_t *tree;
  size_t held;
} series_t;

typedef struct {
  int64_t ctx;
  uint32_t group;
  bool known, used;
} ctx_entry_t;

typedef struct {
  uint64_t stack, value;
  uint32_t series; /* index into series */
  bool used;
} agg_entry_t;

typedef struct {
  uint64_t key;
  bool runnable;
} state_entry_t;
#define MAX_STATES 64

typedef struct {
  const ember_profile_t *base;
  jfr_ctx_t x;
  const char *event;
  const jfr_labels_t *labels;
  group_t *groups;
  size_t ngroups, gcap;
  uint32_t *gtable; /* open addressing over groups by id: index + 1 */
  size_t gtcap;
  ctx_entry_t *contexts;
  size_t ctcap, nctx;
  series_t *series;
  size_t nseries, scap;
  bool slot_used[NSLOTS];
  uint32_t napps;
  agg_entry_t *agg; /* this chunk's sums */
  size_t acap, an;
  evtype_t types[MAX_TYPES];
  size_t ntypes;
  jfr_value_t *vals; /* one event's fields */
  size_t vcap;
  state_entry_t states[MAX_STATES];
  size_t nstates;
  jfr_frames_t *frames;
  size_t held; /* the tables above, charged */
  uint64_t unknown_contexts;
} build_t;

static void build_free(build_t *b) {
  for (size_t g = 0; g < b->ngroups; g++) {
    ember_series_key_free(&b->groups[g].key);
    free(b->groups[g].id);
  }
  free(b->groups);
  free(b->gtable);
  free(b->contexts);
  for (size_t i = 0; i < b->nseries; i++)
    ember_tree_free(b->series[i].tree);
  free(b->series);
  free(b->agg);
  free(b->vals);
  jfr_frames_free(b->frames);
}

static int charge(build_t *b) {
  size_t mem = b->gcap * sizeof *b->groups + b->gtcap * sizeof *b->gtable +
               b->ctcap * sizeof *b->contexts + b->scap * sizeof *b->series +
               b->acap * sizeof *b->agg + b->vcap * sizeof *b->vals;
  for (size_t g = 0; g < b->ngroups; g++)
    mem += b->groups[g].id_len * 2 + 64 * b->groups[g].key.nlabels;
  return ingest_mem_grow(b->x.c, &b->held, mem, b->x.err);
}

/* ---- Label sets ---------------------------------------------------------------- */

static int too_many_series(const build_t *b) {
  return ember_err_set(b->x.err, EMBER_ELIMIT,
                       "jfr: the push would write more than %" PRIu32 " series "
                       "(distinct label sets times apps); a push may write at most "
                       "%" PRIu32 " (the server's --max-series-per-push): drop "
                       "high-cardinality context labels (such as request or span "
                       "ids), or raise the limit",
                       b->x.c->max_series, b->x.c->max_series);
}

static uint32_t *gtable_slot(const build_t *b, const char *id, size_t len) {
  size_t mask = b->gtcap - 1;
  size_t at = (size_t)ember_hash_bytes(id, len) & mask;
  for (; b->gtable[at]; at = (at + 1) & mask) {
    const group_t *g = &b->groups[b->gtable[at] - 1];
    if (g->id_len == len && !memcmp(g->id, id, len)) break;
  }
  return &b->gtable[at];
}

/* The group of key (consumed): an existing one with the same labels, or a
 * new one. */
static int group_for_key(build_t *b, ember_series_key_t *key, uint32_t *out) {
  ember_buf_t id = EMBER_BUF_INIT;
  ember_series_key_labels(key, &id);
  ember_buf_append(&id, "", 0);
  if ((b->ngroups + 1) * 2 > b->gtcap) {
    free(b->gtable);
    b->gtcap = b->gtcap ? b->gtcap * 2 : 64;
    b->gtable = ember_calloc(b->gtcap, sizeof *b->gtable);
    for (size_t g = 0; g < b->ngroups; g++)
      *gtable_slot(b, b->groups[g].id, b->groups[g].id_len) = (uint32_t)g + 1;
  }
  uint32_t *slot = gtable_slot(b, id.data, id.len);
  if (*slot) {
    *out = *slot - 1;
    ember_buf_free(&id);
    ember_series_key_free(key);
    return EMBER_OK;
  }
  if (b->ngroups >= b->x.c->max_series) {
    ember_buf_free(&id);
    ember_series_key_free(key);
    return too_many_series(b);
  }
  ember_grow((void **)&b->groups, &b->gcap, b->ngroups + 1, sizeof *b->groups);
  group_t *g = &b->groups[b->ngroups];
  memset(g, 0, sizeof *g);
  g->key = *key;
  g->id_len = id.len;
  g->id = ember_buf_take(&id, NULL);
  *slot = (uint32_t)++b->ngroups;
  *out = *slot - 1;
  return charge(b);
}

/* The request's labels with a context's over them. */
static int context_key(build_t *b, int64_t ctx, const jfr_label_t *labels, size_t n,
                       ember_series_key_t *key) {
  ember_series_key_copy(key, &b->base->key);
  for (size_t i = 0; i < n; i++) {
    int rc = ember_series_key_set(key, labels[i].key.base, labels[i].key.len,
                                  labels[i].value.base, labels[i].value.len, b->x.err);
    if (rc) {
      char msg[EMBER_ERR_MSG_MAX];
      snprintf(msg, sizeof msg, "%s", b->x.err ? b->x.err->msg : "");
      ember_series_key_free(key);
      return ember_err_set(b->x.err, EMBER_EPARSE, "labels: context %" PRId64 ": %s", ctx,
                           msg);
    }
  }
  return EMBER_OK;
}

static ctx_entry_t *ctx_slot(const build_t *b, int64_t ctx) {
  size_t mask = b->ctcap - 1;
  uint64_t u = (uint64_t)ctx;
  size_t at = (size_t)ember_hash_pair((uint32_t)u, (uint32_t)(u >> 32)) & mask;
  while (b->contexts[at].used && b->contexts[at].ctx != ctx)
    at = (at + 1) & mask;
  return &b->contexts[at];
}

static void ctx_grow(build_t *b) {
  if ((b->nctx + 1) * 2 <= b->ctcap) return;
  ctx_entry_t *old = b->contexts;
  size_t old_cap = b->ctcap;
  b->ctcap = old_cap ? old_cap * 2 : 64;
  b->contexts = ember_calloc(b->ctcap, sizeof *b->contexts);
  for (size_t i = 0; i < old_cap; i++)
    if (old[i].used) *ctx_slot(b, old[i].ctx) = old[i];
  free(old);
}

/* The group of an event with context id ctx (0: none). */
static int group_of(build_t *b, int64_t ctx, uint32_t *out) {
  ctx_grow(b);
  ctx_entry_t *e = ctx_slot(b, ctx);
  if (!e->used) {
    const jfr_label_t *labels = NULL;
    size_t n = 0;
    bool known = ctx == 0 || jfr_labels_get(b->labels, ctx, &labels, &n);
    ember_series_key_t key;
    int rc = context_key(b, ctx, labels, n, &key);
    uint32_t g = 0;
    if (rc == EMBER_OK) rc = group_for_key(b, &key, &g);
    if (rc) return rc;
    e = ctx_slot(b, ctx); /* group_for_key leaves contexts alone */
    *e = (ctx_entry_t){ctx, g, known, true};
    b->nctx++;
    rc = charge(b);
    if (rc) return rc;
  }
  if (!e->known) b->unknown_contexts++;
  *out = e->group;
  return EMBER_OK;
}

/* ---- Sums of one chunk ------------------------------------------------------------- */

static int too_many_apps(const build_t *b) {
  return ember_err_set(b->x.err, EMBER_ELIMIT,
                       "jfr: the recording has events for more than %" PRIu32 " apps; a "
                       "push may write at most %" PRIu32 " apps (the server's "
                       "--max-apps-per-push): raise the limit",
                       b->x.c->max_apps, b->x.c->max_apps);
}

/* The series of (group, slot), made when new. */
static int series_of(build_t *b, uint32_t group, uint32_t slot, uint32_t *out) {
  group_t *g = &b->groups[group];
  if (g->series[slot] != NO_SERIES) {
    *out = g->series[slot] - 1;
    return EMBER_OK;
  }
  if (b->nseries >= b->x.c->max_series) return too_many_series(b);
  if (!b->slot_used[slot]) {
    if (b->napps >= b->x.c->max_apps) return too_many_apps(b);
    b->slot_used[slot] = true;
    b->napps++;
  }
  ember_grow((void **)&b->series, &b->scap, b->nseries + 1, sizeof *b->series);
  b->series[b->nseries] = (series_t){group, slot, NULL, 0};
  g->series[slot] = (uint32_t)++b->nseries;
  *out = g->series[slot] - 1;
  return charge(b);
}

static agg_entry_t *agg_slot(const build_t *b, uint32_t series, uint64_t stack) {
  size_t mask = b->acap - 1;
  size_t at = (size_t)(ember_hash_pair((uint32_t)stack ^ (uint32_t)(stack >> 32), series) &
                       mask);
  while (b->agg[at].used && (b->agg[at].series != series || b->agg[at].stack != stack))
    at = (at + 1) & mask;
  return &b->agg[at];
}

static void agg_grow(build_t *b) {
  if ((b->an + 1) * 2 <= b->acap) return;
  agg_entry_t *old = b->agg;
  size_t old_cap = b->acap;
  b->acap = old_cap ? old_cap * 2 : 1024;
  b->agg = ember_calloc(b->acap, sizeof *b->agg);
  for (size_t i = 0; i < old_cap; i++)
    if (old[i].used) *agg_slot(b, old[i].series, old[i].stack) = old[i];
  free(old);
}

/* Adds value to (group, slot, stack); sums saturate. */
static int add(build_t *b, uint32_t group, uint32_t slot, uint64_t stack, uint64_t value) {
  uint32_t s = 0;
  if (value == 0) return EMBER_OK;
  int rc = series_of(b, group, slot, &s);
  if (rc) return rc;
  agg_grow(b);
  agg_entry_t *e = agg_slot(b, s, stack);
  if (!e->used) {
    *e = (agg_entry_t){stack, 0, s, true};
    b->an++;
    rc = charge(b);
  }
  e->value = ember_sat_add(e->value, value);
  return rc;
}

/* Walks every summed stack of the chunk into its series' tree. */
static int flush(build_t *b, jfr_chunk_t *ch) {
  int rc = EMBER_OK;
  for (size_t i = 0; i < b->acap && rc == EMBER_OK; i++) {
    const agg_entry_t *e = &b->agg[i];
    if (!e->used) continue;
    const ember_slice_t *frames;
    size_t n;
    bool found, cut;
    rc = jfr_frames_stack(b->frames, &b->x, ch, e->stack, b->x.c->max_depth, &frames, &n,
                          &found, &cut);
    if (rc || !found) continue;
    uint64_t cost = n + 1;
    for (size_t f = 0; f < n; f++)
      cost += frames[f].len;
    rc = jfr_work(&b->x, cost);
    if (rc) break;
    series_t *s = &b->series[e->series];
    if (!s->tree) s->tree = ember_tree_new();
    ember_tree_add_stack(s->tree, frames, n, e->value);
    if (cut) b->x.c->truncated++;
    rc = ingest_mem_grow(b->x.c, &s->held, ember_tree_mem(s->tree), b->x.err);
  }
  if (b->an) memset(b->agg, 0, b->acap * sizeof *b->agg);
  b->an = 0;
  return rc;
}

/* ---- Reading a chunk's events -------------------------------------------------------- */

static bool integer_field(const jfr_meta_t *m, const jfr_field_t *f) {
  jfr_kind_t k = m->classes[f->cls].kind;
  return !f->array && !f->cpool && k >= JFR_BYTE && k <= JFR_LONG;
}

/* Field name of class cls, which must be an integer when present. */
static int int_field(build_t *b, const jfr_chunk_t *ch, uint32_t cls, const char *name,
                     uint32_t *out) {
  const jfr_meta_t *m = &ch->meta;
  *out = jfr_meta_field(m, cls, name);
  if (*out == JFR_NONE) return EMBER_OK;
  if (integer_field(m, &m->fields[m->classes[cls].first + *out])) return EMBER_OK;
  ingest_excerpt_t e;
  return jfr_fail(&b->x, ch, 0, "%s.%s is not an integer",
                  ingest_excerpt(&e, m->classes[cls].name.base, m->classes[cls].name.len),
                  name);
}

static int bind_type(build_t *b, const jfr_chunk_t *ch, uint32_t cls, int kind) {
  const jfr_meta_t *m = &ch->meta;
  const jfr_class_t *c = &m->classes[cls];
  evtype_t t = {c->id, cls, kind, JFR_NONE, JFR_NONE, JFR_NONE, JFR_NONE};
  ingest_excerpt_t e;
  t.stack = jfr_meta_field(m, cls, "stackTrace");
  if (t.stack == JFR_NONE) return EMBER_OK; /* nothing to draw */
  const jfr_field_t *st = &m->fields[c->first + t.stack];
  if (st->array || !st->cpool)
    return jfr_fail(&b->x, ch, 0, "%s.stackTrace is not a constant pool reference",
                    ingest_excerpt(&e, c->name.base, c->name.len));
  int rc = int_field(b, ch, cls, "contextId", &t.context);
  if (rc == EMBER_OK && KINDS[kind].value)
    rc = int_field(b, ch, cls, KINDS[kind].value, &t.value);
  if (rc) return rc;
  if (KINDS[kind].value && t.value == JFR_NONE)
    return jfr_fail(&b->x, ch, 0, "%s has no field %s",
                    ingest_excerpt(&e, c->name.base, c->name.len), KINDS[kind].value);
  if (kind == EV_EXEC) {
    t.state = jfr_meta_field(m, cls, "state");
    const jfr_field_t *sf = t.state == JFR_NONE ? NULL : &m->fields[c->first + t.state];
    if (sf && (sf->array || !sf->cpool)) t.state = JFR_NONE; /* not a ThreadState */
  }
  b->types[b->ntypes++] = t;
  if (c->nfields > b->vcap) {
    ember_grow((void **)&b->vals, &b->vcap, c->nfields, sizeof *b->vals);
    return charge(b);
  }
  return EMBER_OK;
}

/* Finds the event classes Ember reads in this chunk's metadata. */
static int bind_types(build_t *b, const jfr_chunk_t *ch) {
  int rc = EMBER_OK;
  b->ntypes = 0;
  b->nstates = 0;
  for (int k = 0; k < NKINDS && rc == EMBER_OK; k++) {
    for (size_t i = 0; i < 2 && KINDS[k].classes[i] && rc == EMBER_OK; i++) {
      uint32_t cls = jfr_meta_find(&ch->meta, KINDS[k].classes[i]);
      if (cls != JFR_NONE) rc = bind_type(b, ch, cls, k);
    }
  }
  return rc;
}

/* Whether a thread state (a key into the jdk.types.ThreadState pool) is
 * STATE_RUNNABLE; a state without an entry or a name counts as running. */
static int runnable(build_t *b, jfr_chunk_t *ch, const evtype_t *t, uint64_t key,
                    bool *out) {
  for (size_t i = 0; i < b->nstates; i++) {
    if (b->states[i].key != key) continue;
    *out = b->states[i].runnable;
    return EMBER_OK;
  }
  const jfr_meta_t *m = &ch->meta;
  const jfr_field_t *sf = &m->fields[m->classes[t->cls].first + t->state];
  uint64_t off;
  ember_slice_t name = {NULL, 0};
  int rc = EMBER_OK;
  *out = true;
  uint32_t idx = jfr_meta_field(m, sf->cls, "name");
  const jfr_field_t *nf = idx == JFR_NONE ? NULL : &m->fields[m->classes[sf->cls].first + idx];
  if (nf && !nf->array && m->classes[nf->cls].kind == JFR_STRING &&
      jfr_pool_find(ch, sf->cls, key, &off)) {
    jfr_value_t row[8];
    jfr_rd_t r = {ch->base, (size_t)off, ch->size, ch->compressed, false};
    if (m->classes[sf->cls].nfields > 8)
      return jfr_fail(&b->x, ch, (size_t)off, "a thread state has too many fields");
    rc = jfr_read_struct(&b->x, ch, &r, sf->cls, row, 0);
    if (rc == EMBER_OK && !nf->cpool) {
      jfr_rd_t s = {ch->base, row[idx].at, ch->size, ch->compressed, false};
      rc = jfr_read_string(&b->x, ch, &s, &name, 0);
    }
    if (rc == EMBER_OK && name.base) *out = ember_slice_eq(name, "STATE_RUNNABLE");
  }
  if (rc == EMBER_OK && b->nstates < MAX_STATES)
    b->states[b->nstates++] = (state_entry_t){key, *out};
  return rc;
}

static uint64_t ticks_to_ns(uint64_t ticks, uint64_t per_sec) {
#ifdef __SIZEOF_INT128__
  unsigned __int128 ns = (unsigned __int128)ticks * 1000000000u / per_sec;
  return ns > UINT64_MAX ? UINT64_MAX : (uint64_t)ns;
#else
  long double ns = (long double)ticks * 1e9L / (long double)per_sec;
  return ns >= 18446744073709551615.0L ? UINT64_MAX : (uint64_t)ns;
#endif
}

/* A positive Java long, else 0 (sizes and durations are never negative). */
static uint64_t positive(uint64_t v) {
  return (int64_t)v > 0 ? v : 0;
}

static int add_exec(build_t *b, jfr_chunk_t *ch, const evtype_t *t, uint32_t g,
                    uint64_t stack) {
  if (strcmp(b->event, "wall")) return add(b, g, SLOT_EXEC, stack, 1);
  bool run = true;
  int rc = t->state == JFR_NONE ? EMBER_OK : runnable(b, ch, t, b->vals[t->state].u, &run);
  if (rc == EMBER_OK) rc = add(b, g, SLOT_WALL, stack, 1);
  if (rc == EMBER_OK && run) rc = add(b, g, SLOT_EXEC, stack, 1);
  return rc;
}

static int add_event(build_t *b, jfr_chunk_t *ch, const evtype_t *t,
                     const jfr_event_t *ev) {
  jfr_rd_t r = {ch->base, ev->fields, ev->end, ch->compressed, false};
  int rc = jfr_read_struct(&b->x, ch, &r, t->cls, b->vals, 0);
  if (rc) return rc;
  uint64_t stack = b->vals[t->stack].u;
  if (stack == 0) return EMBER_OK; /* no stack trace: nothing to draw */
  uint32_t g;
  int64_t ctx = t->context == JFR_NONE ? 0 : (int64_t)b->vals[t->context].u;
  rc = group_of(b, ctx, &g);
  if (rc) return rc;
  uint64_t v = t->value == JFR_NONE ? 0 : positive(b->vals[t->value].u);
  switch (t->kind) {
  case EV_EXEC: return add_exec(b, ch, t, g, stack);
  case EV_TLAB:
    rc = add(b, g, SLOT_TLAB_OBJECTS, stack, 1);
    return rc ? rc : add(b, g, SLOT_TLAB_BYTES, stack, v);
  case EV_OUTSIDE:
    rc = add(b, g, SLOT_OUTSIDE_OBJECTS, stack, 1);
    return rc ? rc : add(b, g, SLOT_OUTSIDE_BYTES, stack, v);
  case EV_SAMPLE:
    rc = add(b, g, SLOT_SAMPLE_OBJECTS, stack, 1);
    return rc ? rc : add(b, g, SLOT_SAMPLE_BYTES, stack, v);
  case EV_LOCK:
    rc = add(b, g, SLOT_LOCK_COUNT, stack, 1);
    return rc ? rc : add(b, g, SLOT_LOCK_DURATION, stack, ticks_to_ns(v, ch->ticks_per_sec));
  case EV_LIVE: return add(b, g, SLOT_LIVE, stack, 1);
  }
  return EMBER_OK;
}

static const evtype_t *type_of(const build_t *b, uint64_t id) {
  for (size_t i = 0; i < b->ntypes; i++)
    if (b->types[i].id == id) return &b->types[i];
  return NULL;
}

/* One chunk: its metadata and pools, then every event Ember reads. */
static int read_chunk(build_t *b, jfr_chunk_t *ch) {
  int rc = jfr_pools_read(&b->x, ch);
  if (rc == EMBER_OK) rc = jfr_frames_bind(b->frames, &b->x, ch);
  if (rc == EMBER_OK) rc = bind_types(b, ch);
  size_t pos = JFR_HEADER_SIZE;
  while (rc == EMBER_OK && pos < ch->size && b->ntypes) {
    jfr_event_t ev;
    rc = jfr_event_next(&b->x, ch, &pos, &ev);
    const evtype_t *t = rc ? NULL : type_of(b, ev.type);
    if (t) rc = add_event(b, ch, t, &ev);
  }
  if (rc == EMBER_OK) rc = flush(b, ch);
  return rc;
}

/* Every chunk of the recording, one after another. */
static int read_recording(build_t *b, const uint8_t *body, size_t len) {
  jfr_chunk_t ch;
  memset(&ch, 0, sizeof ch);
  b->frames = jfr_frames_new();
  int rc = EMBER_OK;
  if (len == 0) rc = jfr_fail(&b->x, NULL, 0, "the recording is empty");
  for (size_t at = 0, index = 0; rc == EMBER_OK && at < len; index++) {
    jfr_chunk_reset(&ch);
    jfr_frames_reset(b->frames);
    rc = jfr_chunk_header(&b->x, body, len, at, index, &ch);
    if (rc == EMBER_OK) rc = read_chunk(b, &ch);
    at += ch.size;
  }
  jfr_chunk_free(&ch);
  return rc;
}

/* ---- Results ----------------------------------------------------------------------------- */

/* Moves the trees with samples into profiles: label sets in the order
 * their first event came, apps in the order of the table above. */
static void emit(build_t *b, ember_ingest_result_t *out) {
  const ember_profile_t *base = b->base;
  size_t app_len = app_base_len(base->key.app);
  memset(out, 0, sizeof *out);
  out->items = ember_calloc(b->nseries + 1, sizeof *out->items);
  for (size_t g = 0; g < b->ngroups; g++) {
    for (uint32_t slot = 0; slot < NSLOTS; slot++) {
      uint32_t idx = b->groups[g].series[slot];
      if (idx == NO_SERIES) continue;
      series_t *s = &b->series[idx - 1];
      ember_tree_t *t = s->tree;
      s->tree = NULL;
      if (!t || ember_tree_total(t, 0) == 0) {
        ember_tree_free(t);
        continue;
      }
      ember_profile_t *p = &out->items[out->n++];
      const char *suffix = SLOTS[slot].suffix;
      if (!suffix) suffix = strcmp(b->event, "itimer") ? "cpu" : "itimer";
      ember_series_key_copy(&p->key, &b->groups[g].key);
      ember_buf_t app = EMBER_BUF_INIT;
      ember_buf_printf(&app, "%.*s.%s", (int)app_len, base->key.app, suffix);
      free(p->key.app);
      p->key.app = ember_buf_take(&app, NULL);
      p->from = base->from;
      p->until = base->until;
      p->sample_rate = base->sample_rate;
      p->spy_name = ember_strdup(base->spy_name);
      p->units = ember_strdup(SLOTS[slot].units);
      p->aggregation = SLOTS[slot].agg;
      p->tree = t;
    }
  }
  if (out->n == 0) {
    free(out->items);
    out->items = NULL;
  }
  out->unknown_contexts = b->unknown_contexts;
}

/* ---- The push ------------------------------------------------------------------------------ */

static int pick_event(const char *param, const char **out, ember_err_t *err) {
  ember_slice_t s = ember_slice_trim(ember_slice(param ? param : "", param ? strlen(param) : 0));
  if (s.len == 0) {
    *out = EVENTS[0];
    return EMBER_OK;
  }
  for (size_t i = 0; i < sizeof EVENTS / sizeof *EVENTS; i++) {
    if (!ember_slice_eq(s, EVENTS[i])) continue;
    *out = EVENTS[i];
    return EMBER_OK;
  }
  ingest_excerpt_t e;
  return ember_err_set(err, EMBER_EINVAL,
                       "event: expected cpu, itimer, wall, alloc or lock (the profiler's "
                       "event), got '%s'",
                       ingest_excerpt(&e, s.base, s.len));
}

/* Puts what before the message a decoder left in err. */
static int prefixed(ember_err_t *err, const char *what, int rc) {
  if (err && strncmp(err->msg, what, strlen(what))) {
    char msg[EMBER_ERR_MSG_MAX];
    const char *m = !strncmp(err->msg, "body: ", 6) ? err->msg + 6 : err->msg;
    snprintf(msg, sizeof msg, "%s", m);
    ember_err_set(err, rc, "%s: %s", what, msg);
  }
  return rc;
}

/* The recording and labels of a push: the body itself, or the fields jfr
 * and labels of a form; a gzipped recording is inflated (into *plain). */
static int open_parts(const char *content_type, const uint8_t *body, size_t len,
                      ingest_ctx_t *c, ingest_form_t *form, ingest_buf_t *plain,
                      jfr_labels_t **labels, ember_err_t *err) {
  const ingest_part_t *jfr = NULL, *lp = NULL;
  int rc = EMBER_OK;
  plain->data = body;
  plain->len = len;
  if (ingest_is_multipart(content_type)) {
    rc = ingest_multipart_parse(content_type, body, len, form, err);
    if (rc == EMBER_OK) rc = ingest_form_one(form, "jfr", &jfr, err);
    if (rc == EMBER_OK) rc = ingest_form_one(form, "labels", &lp, err);
    if (rc == EMBER_OK && !jfr)
      rc = ingest_form_missing(form, "jfr", "the recording", err);
    if (rc) return rc;
    plain->data = jfr->data;
    plain->len = jfr->len;
  }
  if (plain->len >= 2 && plain->data[0] == 0x1f && plain->data[1] == 0x8b) {
    ingest_buf_t gz = *plain;
    rc = ingest_decode("gzip", gz.data, gz.len, c, plain, err);
    if (rc) return prefixed(err, "jfr", rc);
  }
  ingest_mem_body(c, plain->len + (lp ? lp->len : 0));
  if (lp) rc = jfr_labels_open(lp->data, lp->len, c, labels, err);
  return rc;
}

static uint64_t work_budget(size_t len) {
  if (len > (JFR_WORK_CAP - JFR_WORK_BASE) / JFR_WORK_PER_BYTE) return JFR_WORK_CAP;
  return JFR_WORK_BASE + (uint64_t)len * JFR_WORK_PER_BYTE;
}

int ingest_jfr(const ember_profile_t *base, const char *event, const char *content_type,
               const uint8_t *body, size_t len, ingest_ctx_t *c,
               ember_ingest_result_t *out, ember_err_t *err) {
  ingest_form_t form = {NULL, 0};
  ingest_buf_t plain = {NULL, 0, NULL, 0};
  jfr_labels_t *labels = NULL;
  build_t b;
  memset(&b, 0, sizeof b);
  b.base = base;
  b.x.c = c;
  b.x.err = err;
  int rc = pick_event(event, &b.event, err);
  if (rc == EMBER_OK)
    rc = open_parts(content_type, body, len, c, &form, &plain, &labels, err);
  if (rc == EMBER_OK) {
    b.labels = labels;
    b.x.work_limit = work_budget(plain.len);
    rc = read_recording(&b, plain.data, plain.len);
  }
  if (rc == EMBER_OK) emit(&b, out);
  build_free(&b);
  jfr_labels_free(labels);
  ingest_buf_free(c, &plain);
  ingest_form_free(&form);
  return rc;
}

int ember_ingest_jfr(const ember_profile_t *base, const char *event,
                     const char *content_type, const uint8_t *body, size_t len,
                     size_t max_body, ember_ingest_result_t *out, ember_err_t *err) {
  ingest_ctx_t c;
  ingest_ctx_init(&c, NULL, max_body, NULL);
  int rc = ingest_jfr(base, event, content_type, body, len, &c, out, err);
  if (rc == EMBER_OK) {
    out->stacks_truncated = c.truncated;
    out->mem_bytes = ingest_result_bytes(out);
  }
  ingest_mem_release(&c);
  return rc;
}
