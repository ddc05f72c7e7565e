/*
 * pprof_series.c - a pprof push (raw or multipart) to Ember series: each
 * kept sample type becomes an app, each distinct label set a series of it,
 * and each (series, type) pair one call tree.
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
 */
#include "ingest_int.h"

#include "pprof/profile.pb-c.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Each distinct label set is one series in the store; a label such as a
 * request id would make a series per sample. */
#define MAX_SERIES 4096
#define MAX_SAMPLE_LABELS 64

/* The work of adding stacks: a sample names its frames by location id in
 * a few bytes, but adding it hashes every frame name into every tree the
 * sample has a value for. Real profiles need some 20 to 100 units per byte
 * (a heap profile adds each stack to four trees); the cap is about a
 * second of hashing. */
#define WORK_BASE (UINT64_C(1) << 24)
#define WORK_PER_BYTE 256
#define WORK_CAP (UINT64_C(1) << 30)

typedef Perftools__Profiles__Sample pb_sample_t;

typedef struct {
  char *id; /* the merged label set as "k\0v\0k\0v\0", owned */
  size_t id_len;
  ember_series_key_t key; /* the request's key with the sample's labels */
  ember_tree_t **trees;   /* one per slot; NULL until a value arrives */
} group_t;

/* Everything one push builds. Owns all of it. */
typedef struct {
  const ember_profile_t *base; /* borrowed: the request's parameters */
  pprof_type_t *slots;         /* the sample types kept, in profile order */
  size_t nslots;
  uint32_t rate;
  group_t *groups;
  size_t ngroups, gcap;
  uint32_t *table; /* open addressing over groups: index + 1, 0 = free */
  size_t table_cap;
  ember_buf_t id; /* scratch: the label set being looked up */
  pprof_stack_t stack;
  uint64_t work, work_limit;
  bool have_prev;
} build_t;

typedef struct {
  ember_slice_t key, value;
} label_t;

static void build_free(build_t *b) {
  for (size_t g = 0; g < b->ngroups; g++) {
    for (size_t s = 0; s < b->nslots; s++) ember_tree_free(b->groups[g].trees[s]);
    free(b->groups[g].trees);
    free(b->groups[g].id);
    ember_series_key_free(&b->groups[g].key);
  }
  free(b->groups);
  for (size_t s = 0; s < b->nslots; s++) pprof_type_free(&b->slots[s]);
  free(b->slots);
  free(b->table);
  ember_buf_free(&b->id);
  pprof_stack_free(&b->stack);
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
 * matched by name, since the two profiles may list types in other orders. */
static void plan_prev(const build_t *b, const pprof_doc_t *prev, int *slot_of) {
  for (size_t i = 0; i < prev->pb->n_sample_type; i++) {
    const char *type;
    pprof_doc_string(prev, prev->pb->sample_type[i]->type, "", &type, NULL);
    slot_of[i] = -1;
    for (size_t s = 0; s < b->nslots; s++)
      if (b->slots[s].cumulative && !strcmp(b->slots[s].type, type)) slot_of[i] = (int)s;
  }
}

/* ---- Label sets ---------------------------------------------------------- */

static int slice_cmp(ember_slice_t a, ember_slice_t b) {
  int c = memcmp(a.base, b.base, a.len < b.len ? a.len : b.len);
  return c ? c : (a.len > b.len) - (a.len < b.len);
}

/* The sample's string labels, trimmed, sorted by key, one per key (the
 * last wins). */
static int sample_labels(const pprof_doc_t *d, const pb_sample_t *smp, size_t si,
                         label_t *out, size_t *n, ember_err_t *err) {
  *n = 0;
  for (size_t i = 0; i < smp->n_label; i++) {
    const Perftools__Profiles__Label *l = smp->label[i];
    if (l->str == 0) continue; /* numeric: not a series label */
    const char *k, *v;
    int rc = pprof_doc_string(d, l->key, "a label key", &k, err);
    if (!rc) rc = pprof_doc_string(d, l->str, "a label value", &v, err);
    if (rc) return rc;
    label_t lb = {ember_slice_trim(ember_slice(k, strlen(k))),
                  ember_slice_trim(ember_slice(v, strlen(v)))};
    size_t j = *n;
    while (j > 0 && slice_cmp(out[j - 1].key, lb.key) > 0) j--;
    if (j > 0 && slice_cmp(out[j - 1].key, lb.key) == 0) {
      out[j - 1] = lb;
      continue;
    }
    if (*n == MAX_SAMPLE_LABELS)
      return ember_err_set(err, EMBER_EPARSE,
                           "%s: sample %zu has more than %d string labels; keep "
                           "the labels that name a series",
                           d->what, si + 1, MAX_SAMPLE_LABELS);
    memmove(out + j + 1, out + j, (*n - j) * sizeof *out);
    out[j] = lb;
    (*n)++;
  }
  return EMBER_OK;
}

static void put_label(ember_buf_t *id, ember_slice_t k, ember_slice_t v) {
  ember_buf_append(id, k.base, k.len);
  ember_buf_putc(id, '\0');
  ember_buf_append(id, v.base, v.len);
  ember_buf_putc(id, '\0');
}

/* Writes the merged label set of the request's labels and the sample's
 * (both sorted) into b->id. */
static void merge_labels(build_t *b, const label_t *sl, size_t n) {
  const ember_series_key_t *k = &b->base->key;
  size_t i = 0, j = 0;
  b->id.len = 0;
  ember_buf_append(&b->id, "", 0); /* data is never NULL, even for {} */
  while (i < k->nlabels || j < n) {
    ember_slice_t bk = i < k->nlabels ? ember_slice(k->labels[i].key,
                                                     strlen(k->labels[i].key))
                                      : ember_slice(NULL, 0);
    int c = i == k->nlabels ? 1 : j == n ? -1 : slice_cmp(bk, sl[j].key);
    if (c < 0) {
      put_label(&b->id, bk, ember_slice(k->labels[i].value, strlen(k->labels[i].value)));
      i++;
    } else {
      put_label(&b->id, sl[j].key, sl[j].value);
      i += c == 0;
      j++;
    }
  }
}

static uint64_t work_budget(size_t len) {
  if (len > (WORK_CAP - WORK_BASE) / WORK_PER_BYTE) return WORK_CAP;
  return WORK_BASE + (uint64_t)len * WORK_PER_BYTE;
}

static void table_put(build_t *b, size_t g) {
  size_t mask = b->table_cap - 1;
  size_t at = (size_t)ember_hash_bytes(b->groups[g].id, b->groups[g].id_len) & mask;
  while (b->table[at]) at = (at + 1) & mask;
  b->table[at] = (uint32_t)g + 1;
}

/* The group whose label set is b->id, or SIZE_MAX. */
static size_t table_find(const build_t *b) {
  if (!b->table_cap) return SIZE_MAX;
  size_t mask = b->table_cap - 1;
  size_t at = (size_t)ember_hash_bytes(b->id.data, b->id.len) & mask;
  for (; b->table[at]; at = (at + 1) & mask) {
    const group_t *g = &b->groups[b->table[at] - 1];
    if (g->id_len == b->id.len && !memcmp(g->id, b->id.data, g->id_len))
      return b->table[at] - 1;
  }
  return SIZE_MAX;
}

/* A new group for b->id; its series key checks the sample's labels. */
static int group_new(build_t *b, const pprof_doc_t *d, size_t si, const label_t *sl,
                     size_t n, size_t *out, ember_err_t *err) {
  if (b->ngroups == MAX_SERIES)
    return ember_err_set(err, EMBER_EPARSE,
                         "%s: the samples carry more than %d distinct label sets; "
                         "each is one series, so drop high-cardinality labels (such "
                         "as request or span ids) from the profile",
                         d->what, MAX_SERIES);
  group_t g = {NULL, 0, {0}, NULL};
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
  g.trees = ember_calloc(b->nslots + 1, sizeof *g.trees);
  ember_grow((void **)&b->groups, &b->gcap, b->ngroups + 1, sizeof *b->groups);
  b->groups[b->ngroups++] = g;
  if (b->ngroups * 2 > b->table_cap) {
    free(b->table);
    b->table_cap = b->table_cap ? b->table_cap * 2 : 64;
    b->table = ember_calloc(b->table_cap, sizeof *b->table);
    for (size_t i = 0; i < b->ngroups; i++) table_put(b, i);
  } else {
    table_put(b, b->ngroups - 1);
  }
  *out = b->ngroups - 1;
  return EMBER_OK;
}

static int group_for(build_t *b, const pprof_doc_t *d, size_t si, size_t *out,
                     ember_err_t *err) {
  label_t sl[MAX_SAMPLE_LABELS];
  size_t n;
  int rc = sample_labels(d, d->pb->sample[si], si, sl, &n, err);
  if (rc) return rc;
  merge_labels(b, sl, n);
  size_t g = table_find(b);
  if (g != SIZE_MAX) {
    *out = g;
    return EMBER_OK;
  }
  return group_new(b, d, si, sl, n, out, err);
}

/* ---- Samples ------------------------------------------------------------- */

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

/* Charges the work of walking the current stack once; true past the
 * budget. Every walk hashes every name, so names count by their length. */
static bool over_budget(build_t *b) {
  uint64_t cost = b->stack.n + b->stack.bytes + 1;
  if (cost > b->work_limit - b->work) return true;
  b->work += cost;
  return false;
}

static int add_sample(build_t *b, const pprof_doc_t *d, size_t si, const int *slot_of,
                      int side, ember_err_t *err) {
  const pb_sample_t *smp = d->pb->sample[si];
  size_t g;
  int rc = group_for(b, d, si, &g, err);
  if (!rc) rc = pprof_doc_stack(d, si, &b->stack, err);
  if (!rc && over_budget(b)) rc = ingest_too_much_work("pprof", err);
  for (size_t v = 0; v < smp->n_value && !rc; v++) {
    int slot = slot_of[v];
    if (slot < 0 || smp->value[v] <= 0) continue;
    if (over_budget(b)) return ingest_too_much_work("pprof", err);
    ember_tree_t **t = &b->groups[g].trees[slot];
    if (!*t) *t = ember_tree_new();
    add_stack(*t, &b->stack, side, (uint64_t)smp->value[v]);
  }
  return rc;
}

/* Adds every sample of d to side `side` of the trees. Negative values (a
 * diff profile's) count as 0. */
static int add_samples(build_t *b, const pprof_doc_t *d, const int *slot_of, int side,
                       ember_err_t *err) {
  const Perftools__Profiles__Profile *p = d->pb;
  for (size_t si = 0; si < p->n_sample; si++) {
    const pb_sample_t *smp = p->sample[si];
    if (smp->n_value != p->n_sample_type)
      return ember_err_set(err, EMBER_EPARSE,
                           "%s: sample %zu has %zu values but the profile has %zu "
                           "sample types; the profile is corrupt",
                           d->what, si + 1, smp->n_value, p->n_sample_type);
    bool any = false;
    for (size_t v = 0; v < smp->n_value && !any; v++)
      any = slot_of[v] >= 0 && smp->value[v] > 0;
    if (!any) continue;
    int rc = add_sample(b, d, si, slot_of, side, err);
    if (rc) return rc;
  }
  return EMBER_OK;
}

/* ---- Results ------------------------------------------------------------- */

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

/* Moves the trees with samples into profiles, groups in the order their
 * first sample came, types in profile order. */
static void emit(build_t *b, ember_ingest_result_t *out) {
  const ember_profile_t *base = b->base;
  size_t app_len = pprof_app_base_len(base->key.app);
  memset(out, 0, sizeof *out);
  out->items = ember_calloc(b->ngroups * b->nslots + 1, sizeof *out->items);
  for (size_t g = 0; g < b->ngroups; g++) {
    for (size_t s = 0; s < b->nslots; s++) {
      ember_tree_t *t = b->groups[g].trees[s];
      b->groups[g].trees[s] = NULL;
      if (t && b->have_prev && b->slots[s].cumulative) {
        ember_tree_t *d = delta_tree(t);
        ember_tree_free(t);
        t = d;
      }
      if (!t || ember_tree_total(t, 0) == 0) {
        ember_tree_free(t);
        continue;
      }
      ember_profile_t *p = &out->items[out->n++];
      ember_series_key_copy(&p->key, &b->groups[g].key);
      ember_buf_t app = EMBER_BUF_INIT;
      ember_buf_printf(&app, "%.*s.%s", (int)app_len, base->key.app, b->slots[s].suffix);
      free(p->key.app);
      p->key.app = ember_buf_take(&app, NULL);
      p->from = base->from;
      p->until = base->until;
      p->sample_rate = b->rate;
      p->spy_name = ember_strdup(base->spy_name);
      p->units = ember_strdup(b->slots[s].units);
      p->aggregation = b->slots[s].aggregation;
      p->tree = t;
    }
  }
  if (out->n == 0) {
    free(out->items);
    out->items = NULL;
  }
}

/* ---- The push ------------------------------------------------------------ */

/* The form's fields; profile is required, the others may be NULL. */
typedef struct {
  const ingest_part_t *profile, *prev, *config;
} fields_t;

static int one_field(const ingest_form_t *f, const char *name,
                     const ingest_part_t **out, ember_err_t *err) {
  *out = NULL;
  for (size_t i = 0; i < f->n; i++) {
    if (!ember_slice_eq(f->parts[i].name, name)) continue;
    if (*out)
      return ember_err_set(err, EMBER_EPARSE,
                           "multipart body: the field '%s' appears twice; send it "
                           "once",
                           name);
    *out = &f->parts[i];
  }
  if (*out && (*out)->len == 0) *out = NULL; /* an empty field is no field */
  return EMBER_OK;
}

static int read_fields(const ingest_form_t *f, fields_t *out, ember_err_t *err) {
  int rc = one_field(f, "profile", &out->profile, err);
  if (!rc) rc = one_field(f, "prev_profile", &out->prev, err);
  if (!rc) rc = one_field(f, "sample_type_config", &out->config, err);
  if (rc || out->profile) return rc;
  ember_buf_t names = EMBER_BUF_INIT;
  for (size_t i = 0; i < f->n && names.len < 200; i++) {
    ingest_excerpt_t e;
    ember_buf_printf(&names, "%s'%s'", i ? ", " : "",
                     ingest_excerpt(&e, f->parts[i].name.base, f->parts[i].name.len));
  }
  rc = ember_err_set(err, EMBER_EPARSE,
                     "multipart body: no 'profile' field (the form has %s); send the "
                     "pprof profile in a field named 'profile'",
                     names.len ? names.data : "no fields");
  ember_buf_free(&names);
  return rc;
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

int ember_ingest_pprof(const ember_profile_t *base, const char *content_type,
                       const uint8_t *body, size_t len, size_t max_body,
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
  int rc = EMBER_OK;
  if (ingest_is_multipart(content_type)) {
    rc = ingest_multipart_parse(content_type, body, len, &form, err);
    if (!rc) rc = read_fields(&form, &fl, err);
    if (!rc && fl.config) rc = pprof_config_parse(fl.config->data, fl.config->len, &cfg, err);
    if (rc) goto done;
    body = fl.profile->data;
    len = fl.profile->len;
  }
  rc = pprof_doc_open(&cur, "profile", body, len, max_body, err);
  if (!rc && fl.prev)
    rc = pprof_doc_open(&prev, "prev_profile", fl.prev->data, fl.prev->len, max_body, err);
  if (rc) goto done;
  b.work_limit = work_budget(cur.size + prev.size);
  b.rate = profile_rate(&cur, base->sample_rate);
  slot_of = ember_malloc((cur.pb->n_sample_type + 1) * sizeof *slot_of);
  rc = plan_slots(&b, &cur, &cfg, slot_of, err);
  if (!rc) rc = add_samples(&b, &cur, slot_of, 0, err);
  if (!rc && fl.prev) {
    b.have_prev = true;
    prev_slot_of = ember_malloc((prev.pb->n_sample_type + 1) * sizeof *prev_slot_of);
    plan_prev(&b, &prev, prev_slot_of);
    rc = add_samples(&b, &prev, prev_slot_of, 1, err);
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
