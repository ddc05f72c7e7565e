/*
 * pprof_series.c - a pprof push (raw or multipart) to Ember series: each
 * kept sample type becomes an app, each distinct label set a series of it,
 * and each (label set, type) pair that has a value one call tree.
 *
 * Label sets: a sample's string labels (numeric ones are not series
 * labels) merged over the labels of the request's name, a sample's value
 * winning. Samples are grouped by that merged, sorted set, so label order
 * in the profile never makes two series of one.
 *
 * Cumulative types (allocations, contentions) count since the process
 * started; when the form carries a prev_profile, the previous values go to
 * side 1 of the same trees and each stack keeps current - previous, never
 * below 0.
 *
 * A push is planned before anything is built: the kept sample types (at
 * most max_apps) and every sample's series (at most max_series) are known,
 * and a push over either limit refused, before the first stack is added.
 *
 * Work: every count the wire gives (samples, location ids, labels) is cheap
 * to send and may name big things (a location of a thousand inlined lines,
 * a label of a megabyte), so what is done per reference is charged to a
 * budget in proportion to the body before it is done; past it the push is
 * a 413.
 */
#include "ingest_int.h"

#include "pprof/profile.pb-c.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_SAMPLE_LABELS 64

/* The work of adding stacks: a sample names its frames by location id in
 * a few bytes, but adding it hashes every frame name into every tree the
 * sample has a value for. Real profiles need some 20 to 100 units per byte
 * (a heap profile adds each stack to four trees); the cap is about a
 * second of hashing. */
#define WORK_BASE (UINT64_C(1) << 24)
#define WORK_PER_BYTE 256
#define WORK_CAP (UINT64_C(1) << 30)

#define NO_GROUP UINT32_MAX

typedef Perftools__Profiles__Sample pb_sample_t;

typedef struct {
  char *id; /* the merged label set as "k\0v\0k\0v\0", owned */
  size_t id_len;
  ember_series_key_t key; /* the request's key with the sample's labels */
} group_t;

/* One series the push writes: a label set and a sample type. */
typedef struct {
  uint32_t group, slot;
  ember_tree_t *tree; /* NULL until its first stack */
  size_t held;        /* the tree's bytes, counted (ingest_mem_grow) */
} series_t;

/* Everything one push builds. Owns all of it. */
typedef struct {
  const ember_profile_t *base; /* borrowed: the request's parameters */
  ingest_ctx_t *c;             /* borrowed: limits and counters */
  pprof_type_t *slots;         /* the sample types kept, in profile order */
  size_t nslots;
  uint32_t rate;
  group_t *groups;
  size_t ngroups, gcap;
  uint32_t *gtable; /* open addressing over groups: index + 1, 0 = free */
  size_t gtable_cap;
  series_t *series; /* in the order first seen */
  size_t nseries, scap;
  uint32_t *stable; /* open addressing over series by (group, slot) */
  size_t stable_cap;
  uint32_t *sample_group; /* the current profile's samples: group or NO_GROUP */
  ember_buf_t id;         /* scratch: the label set being looked up */
  pprof_stack_t stack;
  uint64_t work, work_limit;
  size_t keys_held; /* bytes of the series keys the result will copy */
  bool have_prev;
} build_t;

typedef struct {
  ember_slice_t key, value;
} label_t;

static void build_free(build_t *b) {
  for (size_t g = 0; g < b->ngroups; g++) {
    free(b->groups[g].id);
    ember_series_key_free(&b->groups[g].key);
  }
  free(b->groups);
  for (size_t i = 0; i < b->nseries; i++)
    ember_tree_free(b->series[i].tree);
  free(b->series);
  for (size_t s = 0; s < b->nslots; s++)
    pprof_type_free(&b->slots[s]);
  free(b->slots);
  free(b->gtable);
  free(b->stable);
  free(b->sample_group);
  ember_buf_free(&b->id);
  pprof_stack_free(&b->stack);
}

/* ---- Work budget ----------------------------------------------------------- */

static uint64_t work_budget(size_t len) {
  if (len > (WORK_CAP - WORK_BASE) / WORK_PER_BYTE) return WORK_CAP;
  return WORK_BASE + (uint64_t)len * WORK_PER_BYTE;
}

/* Charges cost units of work about to be done; true when they do not fit
 * (nothing is charged then, and the caller gives up with a 413). */
static bool over_budget(build_t *b, uint64_t cost) {
  if (cost > b->work_limit - b->work) return true;
  b->work += cost;
  return false;
}

/* The 413s of work that is not stacks: text that samples or types name
 * over and over. */
static int too_much_label_work(ember_err_t *err) {
  return ember_err_set(err, EMBER_ETOOBIG,
                       "pprof body: its samples' labels repeat too much text for its "
                       "size to be read (each sample names them anew); shorten the "
                       "label values or send smaller pushes");
}

static int too_much_type_work(ember_err_t *err) {
  return ember_err_set(err, EMBER_ETOOBIG,
                       "prev_profile: its sample types repeat too much text for its "
                       "size to be matched; send the previous profile as the agent "
                       "wrote it");
}

/* ---- Sample types ---------------------------------------------------------- */

static bool has_type(const pprof_doc_t *d, const char *name) {
  for (size_t i = 0; i < d->pb->n_sample_type; i++) {
    const char *t;
    pprof_doc_string(d, d->pb->sample_type[i]->type, "", &t, NULL);
    if (!strcmp(t, name)) return true;
  }
  return false;
}

static int too_many_apps(const build_t *b, ember_err_t *err) {
  return ember_err_set(err, EMBER_ELIMIT,
                       "profile: it has more than %" PRIu32 " sample types to store, and "
                       "each is an app; a push may write at most %" PRIu32 " apps (the "
                       "server's --max-apps-per-push): send fewer sample types per push, "
                       "or raise the limit",
                       b->c->max_apps, b->c->max_apps);
}

/* Decides the slot of each of the profile's sample types (-1: not kept).
 * A Go CPU profile counts both samples and cpu nanoseconds, the same thing
 * twice: cpu is kept only without samples, or when sample_type_config gives
 * it a name of its own. */
static int plan_slots(build_t *b, const pprof_doc_t *d, const pprof_config_t *cfg,
                      int *slot_of, ember_err_t *err) {
  const Perftools__Profiles__Profile *p = d->pb;
  bool drop_cpu = has_type(d, "samples");
  const pprof_override_t *cpu_ov = pprof_config_get(cfg, "cpu");
  if (cpu_ov && cpu_ov->display_name) drop_cpu = false;
  b->slots = ember_calloc(p->n_sample_type + 1, sizeof *b->slots);
  for (size_t i = 0; i < p->n_sample_type; i++) {
    const char *type, *unit;
    pprof_doc_string(d, p->sample_type[i]->type, "", &type, NULL);
    pprof_doc_string(d, p->sample_type[i]->unit, "", &unit, NULL);
    slot_of[i] = -1;
    if (drop_cpu && !strcmp(type, "cpu")) continue;
    if (b->nslots == b->c->max_apps) return too_many_apps(b, err);
    pprof_type_t t;
    int rc = pprof_type_resolve(cfg, type, unit, &t, err);
    if (rc) return rc;
    for (size_t s = 0; s < b->nslots; s++) {
      if (strcmp(b->slots[s].suffix, t.suffix)) continue;
      rc = ember_err_set(err, EMBER_EPARSE,
                         "profile: sample types '%.64s' and '%.64s' would both be "
                         "stored as '.%.64s'; give one a different display-name in "
                         "sample_type_config",
                         b->slots[s].type, t.type, t.suffix);
      pprof_type_free(&t);
      return rc;
    }
    slot_of[i] = (int)b->nslots;
    b->slots[b->nslots++] = t;
  }
  return EMBER_OK;
}

/* The slots the previous profile's types add to: only cumulative ones, and
 * matched by name, since the two profiles may list types in other orders.
 * Each comparison is charged: a previous profile may list one long type
 * name any number of times. */
static int plan_prev(build_t *b, const pprof_doc_t *prev, int *slot_of,
                     ember_err_t *err) {
  for (size_t i = 0; i < prev->pb->n_sample_type; i++) {
    ember_slice_t type;
    pprof_doc_slice(prev, prev->pb->sample_type[i]->type, "", &type, NULL);
    slot_of[i] = -1;
    for (size_t s = 0; s < b->nslots && slot_of[i] < 0; s++) {
      if (!b->slots[s].cumulative) continue;
      if (over_budget(b, type.len + 1)) return too_much_type_work(err);
      if (!strcmp(b->slots[s].type, type.base)) slot_of[i] = (int)s;
    }
  }
  return EMBER_OK;
}

/* ---- Label sets ------------------------------------------------------------ */

/* Compares two keys, charging the bytes it may read. */
static int key_cmp(build_t *b, ember_slice_t x, ember_slice_t y, bool *over) {
  size_t n = x.len < y.len ? x.len : y.len;
  if (over_budget(b, n + 1)) {
    *over = true;
    return 0;
  }
  int c = memcmp(x.base, y.base, n);
  return c ? c : (x.len > y.len) - (x.len < y.len);
}

/* Puts lb into the sorted out[0..*n), replacing a label of the same key
 * (the last wins). */
static int insert_label(build_t *b, const pprof_doc_t *d, size_t si, label_t lb,
                        label_t *out, size_t *n, ember_err_t *err) {
  bool over = false;
  size_t j = *n;
  while (j > 0 && !over && key_cmp(b, out[j - 1].key, lb.key, &over) > 0)
    j--;
  int same = j > 0 && !over ? key_cmp(b, out[j - 1].key, lb.key, &over) == 0 : 0;
  if (over) return too_much_label_work(err);
  if (same) {
    out[j - 1] = lb;
    return EMBER_OK;
  }
  if (*n == MAX_SAMPLE_LABELS)
    return ember_err_set(err, EMBER_EPARSE,
                         "%s: sample %zu has more than %d string labels; keep the "
                         "labels that name a series",
                         d->what, si + 1, MAX_SAMPLE_LABELS);
  memmove(out + j + 1, out + j, (*n - j) * sizeof *out);
  out[j] = lb;
  (*n)++;
  return EMBER_OK;
}

/* Whether a label key (untrimmed) starts with "__". */
static bool reserved(ember_slice_t k) {
  k = ember_slice_trim(k);
  return k.len >= 2 && !memcmp(k.base, "__", 2);
}

/* The sample's string labels, trimmed, sorted by key, one per key. */
static int sample_labels(build_t *b, const pprof_doc_t *d, size_t si, label_t *out,
                         size_t *n, ember_err_t *err) {
  const pb_sample_t *smp = d->pb->sample[si];
  int rc = EMBER_OK;
  *n = 0;
  for (size_t i = 0; i < smp->n_label && rc == EMBER_OK; i++) {
    const Perftools__Profiles__Label *l = smp->label[i];
    if (l->str == 0) continue; /* numeric: not a series label */
    ember_slice_t k, v;
    rc = pprof_doc_slice(d, l->key, "a label key", &k, err);
    if (!rc) rc = pprof_doc_slice(d, l->str, "a label value", &v, err);
    if (!rc && b->c->drop_reserved) { /* push.v1: "__" keys are Pyroscope's own */
      if (over_budget(b, k.len + 1))
        rc = too_much_label_work(err);
      else if (reserved(k))
        continue;
    }
    if (!rc && over_budget(b, k.len + v.len + 1)) rc = too_much_label_work(err);
    if (!rc) {
      label_t lb = {ember_slice_trim(k), ember_slice_trim(v)};
      rc = insert_label(b, d, si, lb, out, n, err);
    }
  }
  return rc;
}

static void put_label(ember_buf_t *id, ember_slice_t k, ember_slice_t v) {
  ember_buf_append(id, k.base, k.len);
  ember_buf_putc(id, '\0');
  ember_buf_append(id, v.base, v.len);
  ember_buf_putc(id, '\0');
}

/* Writes the merged label set of the request's labels and the sample's
 * (both sorted) into b->id. */
static int merge_labels(build_t *b, const label_t *sl, size_t n, ember_err_t *err) {
  const ember_series_key_t *k = &b->base->key;
  size_t i = 0, j = 0;
  bool over = false;
  b->id.len = 0;
  ember_buf_append(&b->id, "", 0); /* data is never NULL, even for {} */
  while ((i < k->nlabels || j < n) && !over) {
    ember_slice_t bk = i < k->nlabels
                           ? ember_slice(k->labels[i].key, strlen(k->labels[i].key))
                           : ember_slice(NULL, 0);
    int c = i == k->nlabels ? 1 : j == n ? -1 : key_cmp(b, bk, sl[j].key, &over);
    if (c < 0) {
      ember_slice_t v = ember_slice(k->labels[i].value, strlen(k->labels[i].value));
      over = over_budget(b, bk.len + v.len + 2);
      put_label(&b->id, bk, v);
      i++;
    } else {
      put_label(&b->id, sl[j].key, sl[j].value);
      i += c == 0;
      j++;
    }
  }
  return over ? too_much_label_work(err) : EMBER_OK;
}

static void gtable_put(build_t *b, size_t g) {
  size_t mask = b->gtable_cap - 1;
  size_t at = (size_t)ember_hash_bytes(b->groups[g].id, b->groups[g].id_len) & mask;
  while (b->gtable[at])
    at = (at + 1) & mask;
  b->gtable[at] = (uint32_t)g + 1;
}

/* The group whose label set is b->id, or NO_GROUP. Hashing and each
 * comparison are charged. */
static int gtable_find(build_t *b, uint32_t *out, ember_err_t *err) {
  *out = NO_GROUP;
  if (over_budget(b, b->id.len + 1)) return too_much_label_work(err);
  if (!b->gtable_cap) return EMBER_OK;
  size_t mask = b->gtable_cap - 1;
  size_t at = (size_t)ember_hash_bytes(b->id.data, b->id.len) & mask;
  for (; b->gtable[at]; at = (at + 1) & mask) {
    const group_t *g = &b->groups[b->gtable[at] - 1];
    if (g->id_len != b->id.len) continue;
    if (over_budget(b, g->id_len + 1)) return too_much_label_work(err);
    if (!memcmp(g->id, b->id.data, g->id_len)) {
      *out = b->gtable[at] - 1;
      break;
    }
  }
  return EMBER_OK;
}

static int too_many_series(const build_t *b, ember_err_t *err) {
  return ember_err_set(err, EMBER_ELIMIT,
                       "profile: the push would write more than %" PRIu32 " series "
                       "(distinct label sets times sample types); a push may write at "
                       "most %" PRIu32 " (the server's --max-series-per-push): drop "
                       "high-cardinality labels (such as request or span ids) from the "
                       "profile, or raise the limit",
                       b->c->max_series, b->c->max_series);
}

/* A new group for b->id; its series key checks the sample's labels. Every
 * group holds at least one series, so there are never more groups than
 * max_series. */
static int group_new(build_t *b, const pprof_doc_t *d, size_t si, const label_t *sl,
                     size_t n, uint32_t *out, ember_err_t *err) {
  if (b->ngroups >= b->c->max_series) return too_many_series(b, err);
  group_t g = {NULL, 0, {0}};
  ember_series_key_copy(&g.key, &b->base->key);
  for (size_t i = 0; i < n; i++) {
    int rc = ember_series_key_set(&g.key, sl[i].key.base, sl[i].key.len,
                                  sl[i].value.base, sl[i].value.len, err);
    if (rc) {
      ember_series_key_free(&g.key);
      char msg[EMBER_ERR_MSG_MAX];
      snprintf(msg, sizeof msg, "%s", err ? err->msg : "");
      return ember_err_set(err, EMBER_EPARSE, "%s: sample %zu: %s", d->what, si + 1,
                           msg);
    }
  }
  g.id = ember_malloc(b->id.len + 1);
  memcpy(g.id, b->id.data, b->id.len);
  g.id_len = b->id.len;
  ember_grow((void **)&b->groups, &b->gcap, b->ngroups + 1, sizeof *b->groups);
  b->groups[b->ngroups++] = g;
  if (b->ngroups * 2 > b->gtable_cap) {
    free(b->gtable);
    b->gtable_cap = b->gtable_cap ? b->gtable_cap * 2 : 64;
    b->gtable = ember_calloc(b->gtable_cap, sizeof *b->gtable);
    for (size_t i = 0; i < b->ngroups; i++)
      gtable_put(b, i);
  } else {
    gtable_put(b, b->ngroups - 1);
  }
  *out = (uint32_t)(b->ngroups - 1);
  return EMBER_OK;
}

/* The group of sample si: found, or made when create is set (else
 * NO_GROUP). */
static int group_for(build_t *b, const pprof_doc_t *d, size_t si, bool create,
                     uint32_t *out, ember_err_t *err) {
  label_t sl[MAX_SAMPLE_LABELS];
  size_t n;
  int rc = sample_labels(b, d, si, sl, &n, err);
  if (!rc) rc = merge_labels(b, sl, n, err);
  if (!rc) rc = gtable_find(b, out, err);
  if (rc || *out != NO_GROUP || !create) return rc;
  return group_new(b, d, si, sl, n, out, err);
}

/* ---- Series ---------------------------------------------------------------- */

static size_t series_slot(const build_t *b, uint32_t group, uint32_t slot) {
  size_t mask = b->stable_cap - 1;
  size_t at = (size_t)ember_hash_pair(group, slot) & mask;
  for (; b->stable[at]; at = (at + 1) & mask) {
    const series_t *s = &b->series[b->stable[at] - 1];
    if (s->group == group && s->slot == slot) break;
  }
  return at;
}

/* The series of (group, slot), or NULL. */
static series_t *series_find(const build_t *b, uint32_t group, uint32_t slot) {
  if (!b->stable_cap) return NULL;
  uint32_t v = b->stable[series_slot(b, group, slot)];
  return v ? &b->series[v - 1] : NULL;
}

static int series_add(build_t *b, uint32_t group, uint32_t slot, ember_err_t *err) {
  if (series_find(b, group, slot)) return EMBER_OK;
  if (b->nseries >= b->c->max_series) return too_many_series(b, err);
  /* Every series of a group gets a copy of its key: a long label repeated
   * across many types is memory too. */
  size_t key = sizeof(ember_profile_t) + b->groups[group].id_len + 64;
  int rc = ingest_mem_grow(b->c, &b->keys_held, b->keys_held + key, err);
  if (rc) return rc;
  ember_grow((void **)&b->series, &b->scap, b->nseries + 1, sizeof *b->series);
  b->series[b->nseries++] = (series_t){group, slot, NULL, 0};
  if (b->nseries * 2 > b->stable_cap) {
    free(b->stable);
    b->stable_cap = b->stable_cap ? b->stable_cap * 2 : 64;
    b->stable = ember_calloc(b->stable_cap, sizeof *b->stable);
    for (size_t i = 0; i < b->nseries; i++) {
      const series_t *s = &b->series[i];
      b->stable[series_slot(b, s->group, s->slot)] = (uint32_t)i + 1;
    }
  } else {
    b->stable[series_slot(b, group, slot)] = (uint32_t)b->nseries;
  }
  return EMBER_OK;
}

/* ---- Samples --------------------------------------------------------------- */

static bool has_value(const pb_sample_t *smp, const int *slot_of) {
  for (size_t v = 0; v < smp->n_value; v++)
    if (slot_of[v] >= 0 && smp->value[v] > 0) return true;
  return false;
}

static int check_values(const pprof_doc_t *d, size_t si, ember_err_t *err) {
  const pb_sample_t *smp = d->pb->sample[si];
  if (smp->n_value == d->pb->n_sample_type) return EMBER_OK;
  return ember_err_set(err, EMBER_EPARSE,
                       "%s: sample %zu has %zu values but the profile has %zu sample "
                       "types; the profile is corrupt",
                       d->what, si + 1, smp->n_value, d->pb->n_sample_type);
}

/* Finds every sample's label set and the series the push will write, and
 * refuses a push over the series limit before any stack is added. */
static int plan_series(build_t *b, const pprof_doc_t *d, const int *slot_of,
                       ember_err_t *err) {
  const Perftools__Profiles__Profile *p = d->pb;
  int rc = EMBER_OK;
  b->sample_group = ember_malloc((p->n_sample + 1) * sizeof *b->sample_group);
  for (size_t si = 0; si < p->n_sample && rc == EMBER_OK; si++) {
    const pb_sample_t *smp = p->sample[si];
    uint32_t g = NO_GROUP;
    rc = check_values(d, si, err);
    if (rc == EMBER_OK && has_value(smp, slot_of))
      rc = group_for(b, d, si, true, &g, err);
    for (size_t v = 0; v < smp->n_value && rc == EMBER_OK && g != NO_GROUP; v++)
      if (slot_of[v] >= 0 && smp->value[v] > 0)
        rc = series_add(b, g, (uint32_t)slot_of[v], err);
    b->sample_group[si] = g;
  }
  return rc;
}

static void add_stack(ember_tree_t *t, const pprof_stack_t *st, int side,
                      uint64_t value) {
  if (side == 0) {
    ember_tree_add_stack(t, st->frames, st->n, value);
    return;
  }
  uint32_t node = EMBER_TREE_ROOT;
  for (size_t i = 0; i < st->n; i++)
    node = ember_tree_child(t, node,
                            ember_tree_intern(t, st->frames[i].base, st->frames[i].len));
  ember_tree_add(t, node, side, value);
}

/* The series value v of a sample of group g adds to, or NULL. */
static series_t *value_series(const build_t *b, const pb_sample_t *smp,
                              const int *slot_of, uint32_t g, size_t v) {
  if (slot_of[v] < 0 || smp->value[v] <= 0) return NULL;
  return series_find(b, g, (uint32_t)slot_of[v]);
}

/* The cost of walking the current stack into one tree: every walk hashes
 * every kept name. */
static uint64_t stack_cost(const build_t *b) {
  return b->stack.n + b->stack.bytes + 1;
}

/* Adds sample si of d, whose series exist (side 0) or may not (side 1:
 * the previous profile only subtracts from what the current one has). */
static int add_sample(build_t *b, const pprof_doc_t *d, size_t si, uint32_t g,
                      const int *slot_of, int side, ember_err_t *err) {
  const pb_sample_t *smp = d->pb->sample[si];
  bool any = false;
  for (size_t v = 0; v < smp->n_value && !any; v++)
    any = value_series(b, smp, slot_of, g, v) != NULL;
  if (!any) return EMBER_OK;
  /* The location ids are walked once, and charged on their own, before
   * anything is copied: what a sample costs is what its kept names cost
   * in every tree it goes to, not what its ids expand to. */
  if (over_budget(b, smp->n_location_id + 1)) return ingest_too_much_work("pprof", err);
  int rc = pprof_doc_stack(d, si, b->c->max_depth, &b->stack, err);
  if (rc) return rc;
  if (side == 0 && b->stack.depth > b->c->max_depth) b->c->truncated++;
  for (size_t v = 0; v < smp->n_value; v++) {
    series_t *s = value_series(b, smp, slot_of, g, v);
    if (!s) continue;
    if (over_budget(b, stack_cost(b))) return ingest_too_much_work("pprof", err);
    if (!s->tree) s->tree = ember_tree_new();
    add_stack(s->tree, &b->stack, side, (uint64_t)smp->value[v]);
    rc = ingest_mem_grow(b->c, &s->held, ember_tree_mem(s->tree), err);
    if (rc) return rc;
  }
  return EMBER_OK;
}

/* Adds every sample of the current profile to side 0 of its series. */
static int add_current(build_t *b, const pprof_doc_t *d, const int *slot_of,
                       ember_err_t *err) {
  for (size_t si = 0; si < d->pb->n_sample; si++) {
    if (b->sample_group[si] == NO_GROUP) continue;
    int rc = add_sample(b, d, si, b->sample_group[si], slot_of, 0, err);
    if (rc) return rc;
  }
  return EMBER_OK;
}

/* Adds the previous profile's samples to side 1 of the series the current
 * one has: a label set or type only the previous profile has would come
 * out as zero anyway, so it makes no series. Negative values (a diff
 * profile's) count as 0. */
static int add_previous(build_t *b, const pprof_doc_t *d, const int *slot_of,
                        ember_err_t *err) {
  for (size_t si = 0; si < d->pb->n_sample; si++) {
    uint32_t g = NO_GROUP;
    int rc = check_values(d, si, err);
    if (rc == EMBER_OK && has_value(d->pb->sample[si], slot_of))
      rc = group_for(b, d, si, false, &g, err);
    if (rc == EMBER_OK && g != NO_GROUP) rc = add_sample(b, d, si, g, slot_of, 1, err);
    if (rc) return rc;
  }
  return EMBER_OK;
}

/* ---- Results --------------------------------------------------------------- */

/* A copy of t holding side 0 minus side 1 per node, never below 0, with
 * only the nodes on a path to a positive value. Caller frees. */
static ember_tree_t *delta_tree(const ember_tree_t *t) {
  size_t n = ember_tree_count(t);
  uint64_t *delta = ember_malloc(n * sizeof *delta);
  bool *keep = ember_malloc(n * sizeof *keep);
  uint32_t *map = ember_malloc(n * sizeof *map);
  for (size_t id = 0; id < n; id++) {
    const ember_tree_node_t *nd = ember_tree_node(t, (uint32_t)id);
    delta[id] = nd->self[0] > nd->self[1] ? nd->self[0] - nd->self[1] : 0;
    keep[id] = delta[id] > 0;
  }
  for (size_t id = n; id-- > 1;) /* children have larger ids than parents */
    if (keep[id]) keep[ember_tree_node(t, (uint32_t)id)->parent] = true;
  ember_tree_t *out = ember_tree_new();
  map[0] = EMBER_TREE_ROOT;
  for (size_t id = 1; id < n; id++) {
    if (!keep[id]) continue;
    const ember_tree_node_t *nd = ember_tree_node(t, (uint32_t)id);
    ember_slice_t name = ember_tree_name(t, nd->name);
    map[id] = ember_tree_child(out, map[nd->parent],
                               ember_tree_intern(out, name.base, name.len));
  }
  for (size_t id = 0; id < n; id++)
    if (delta[id]) ember_tree_add(out, map[id], 0, delta[id]);
  free(delta);
  free(keep);
  free(map);
  return out;
}

static int series_cmp(const void *x, const void *y) {
  const series_t *a = x, *b = y;
  if (a->group != b->group) return a->group < b->group ? -1 : 1;
  return (a->slot > b->slot) - (a->slot < b->slot);
}

/* Moves the trees with samples into profiles, groups in the order their
 * first sample came, types in profile order. */
static void emit(build_t *b, ember_ingest_result_t *out) {
  const ember_profile_t *base = b->base;
  size_t app_len = pprof_app_base_len(base->key.app);
  memset(out, 0, sizeof *out);
  /* Sorted, the series table is stale: nothing looks a series up after. */
  if (b->nseries) qsort(b->series, b->nseries, sizeof *b->series, series_cmp);
  out->items = ember_calloc(b->nseries + 1, sizeof *out->items);
  for (size_t i = 0; i < b->nseries; i++) {
    const series_t *s = &b->series[i];
    const pprof_type_t *slot = &b->slots[s->slot];
    ember_tree_t *t = b->series[i].tree;
    b->series[i].tree = NULL;
    if (t && b->have_prev && slot->cumulative) {
      ember_tree_t *d = delta_tree(t);
      ember_tree_free(t);
      t = d;
    }
    if (!t || ember_tree_total(t, 0) == 0) {
      ember_tree_free(t);
      continue;
    }
    ember_profile_t *p = &out->items[out->n++];
    ember_series_key_copy(&p->key, &b->groups[s->group].key);
    ember_buf_t app = EMBER_BUF_INIT;
    ember_buf_printf(&app, "%.*s.%s", (int)app_len, base->key.app, slot->suffix);
    free(p->key.app);
    p->key.app = ember_buf_take(&app, NULL);
    p->from = base->from;
    p->until = base->until;
    p->sample_rate = b->rate;
    p->spy_name = ember_strdup(base->spy_name);
    p->units = ember_strdup(slot->units);
    p->aggregation = slot->aggregation;
    p->tree = t;
  }
  if (out->n == 0) {
    free(out->items);
    out->items = NULL;
  }
}

/* ---- The push -------------------------------------------------------------- */

/* The form's fields; profile is required, the others may be NULL. */
typedef struct {
  const ingest_part_t *profile, *prev, *config;
} fields_t;

static int read_fields(const ingest_form_t *f, fields_t *out, ember_err_t *err) {
  int rc = ingest_form_one(f, "profile", &out->profile, err);
  if (!rc) rc = ingest_form_one(f, "prev_profile", &out->prev, err);
  if (!rc) rc = ingest_form_one(f, "sample_type_config", &out->config, err);
  if (rc || out->profile) return rc;
  return ingest_form_missing(f, "profile", "the pprof profile", err);
}

/* The sample rate: what the profile's period says when it is a time,
 * else the request's. */
static uint32_t profile_rate(const pprof_doc_t *d, uint32_t dflt) {
  const Perftools__Profiles__Profile *p = d->pb;
  if (!p->period_type) return dflt;
  const char *unit;
  pprof_doc_string(d, p->period_type->unit, "", &unit, NULL);
  uint32_t r = pprof_rate_from_period(unit, p->period);
  return r ? r : dflt;
}

/* A push.v1 profile is read over the time it says it covers: from its start
 * (time_nanos; now when it has none) to its start plus its duration. */
static int profile_times(const pprof_doc_t *d, const ingest_ctx_t *c, ember_profile_t *p,
                         ember_err_t *err) {
  const int64_t ns = 1000000000;
  int64_t t = d->pb->time_nanos, dur = d->pb->duration_nanos;
  if (t == 0) {
    p->from = p->until = c->now;
    return EMBER_OK;
  }
  if (dur < 0 || dur > INT64_MAX - t) dur = 0;
  p->from = t / ns - (t % ns < 0);
  p->until = (t + dur) / ns - ((t + dur) % ns < 0);
  int rc = ingest_check_time("time_nanos", p->from, c->now, c->skew, err);
  if (rc == EMBER_OK) rc = ingest_check_time("time_nanos + duration_nanos", p->until,
                                             c->now, c->skew, err);
  return rc;
}

int ingest_pprof(const ember_profile_t *base, const char *content_type,
                 const uint8_t *body, size_t len, ingest_ctx_t *c,
                 ember_ingest_result_t *out, ember_err_t *err) {
  ingest_form_t form = {NULL, 0};
  fields_t fl = {NULL, NULL, NULL};
  pprof_config_t cfg = {NULL, 0};
  pprof_doc_t cur, prev;
  build_t b;
  int *slot_of = NULL, *prev_slot_of = NULL;
  memset(&cur, 0, sizeof cur);
  memset(&prev, 0, sizeof prev);
  memset(&b, 0, sizeof b);
  b.base = base;
  b.c = c;
  int rc = EMBER_OK;
  if (ingest_is_multipart(content_type)) {
    rc = ingest_multipart_parse(content_type, body, len, &form, err);
    if (!rc) rc = read_fields(&form, &fl, err);
    if (!rc && fl.config) rc = pprof_config_parse(fl.config->data, fl.config->len, &cfg, err);
    if (rc) goto done;
    body = fl.profile->data;
    len = fl.profile->len;
  }
  rc = pprof_doc_open(&cur, "profile", body, len, c, err);
  if (!rc && fl.prev)
    rc = pprof_doc_open(&prev, "prev_profile", fl.prev->data, fl.prev->len, c, err);
  ember_profile_t timed = *base; /* shallow: only its times differ */
  if (!rc && c->profile_times) {
    rc = profile_times(&cur, c, &timed, err);
    b.base = &timed;
  }
  if (rc) goto done;
  b.work_limit = work_budget(cur.size + prev.size);
  ingest_mem_body(c, cur.size + prev.size);
  b.rate = profile_rate(&cur, base->sample_rate);
  slot_of = ember_malloc((cur.pb->n_sample_type + 1) * sizeof *slot_of);
  rc = plan_slots(&b, &cur, &cfg, slot_of, err);
  if (!rc) rc = plan_series(&b, &cur, slot_of, err);
  if (!rc) rc = add_current(&b, &cur, slot_of, err);
  if (!rc && fl.prev) {
    b.have_prev = true;
    prev_slot_of = ember_malloc((prev.pb->n_sample_type + 1) * sizeof *prev_slot_of);
    rc = plan_prev(&b, &prev, prev_slot_of, err);
    if (!rc) rc = add_previous(&b, &prev, prev_slot_of, err);
  }
  if (!rc) emit(&b, out);
done:
  free(slot_of);
  free(prev_slot_of);
  build_free(&b);
  pprof_doc_close(&cur);
  pprof_doc_close(&prev);
  pprof_config_free(&cfg);
  ingest_form_free(&form);
  return rc;
}

int ember_ingest_pprof(const ember_profile_t *base, const char *content_type,
                       const uint8_t *body, size_t len, size_t max_body,
                       ember_ingest_result_t *out, ember_err_t *err) {
  ingest_ctx_t c;
  ingest_ctx_init(&c, NULL, max_body, NULL);
  int rc = ingest_pprof(base, content_type, body, len, &c, out, err);
  if (rc == EMBER_OK) {
    out->stacks_truncated = c.truncated;
    out->mem_bytes = ingest_result_bytes(out);
  }
  ingest_mem_release(&c);
  return rc;
}
