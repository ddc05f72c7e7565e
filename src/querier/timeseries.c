/*
 * timeseries.c - SelectSeries: the selection's samples over time, one
 * series per combination of the group_by labels, one point per step.
 *
 * Like /render's timeline and the tag explorer, it reads the totals the
 * store keeps with every 10 s bucket and rollup row, and decompresses no
 * profile. The steps are multiples of the storage resolution (a step
 * asked for is rounded up to one), aligned to multiples of themselves,
 * and a point is written for each step that holds samples, stamped with
 * the step's start. Each combination of label values is read on its own,
 * narrowed by key="value" matchers (q_combinations), and added into its
 * group: the groups split the selection exactly, so their sum is the
 * whole's.
 *
 * Aggregation: sum (the default) adds the samples of a step. average
 * divides that by the number of 10 s buckets in the step holding samples,
 * series by series: for agents that push every 10 s, the mean of the
 * profiles in the step.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "querier/querier_int.h"

/* Points one series may have, and values (points times series) one answer
 * may hold while it is built. */
#define MAX_STEPS 100000
#define MAX_VALUES ((size_t)4000000)
/* 10 s buckets an average may count per series. */
#define MAX_AVERAGE_BUCKETS ((size_t)2000000)

/* ---- Types ------------------------------------------------------------- */

/* One series of the answer. Owns key and its arrays. */
typedef struct {
  char *key; /* its labels, "name\0value\0...\0" */
  size_t keylen;
  uint64_t *sums;   /* per step, scaled */
  uint32_t *counts; /* per step, buckets with samples (average only) */
  uint64_t total;
} group_t;

typedef struct {
  ember_store_reader_t *r;
  ember_timeline_grid_t grid;
  bool average;
  char **group_by; /* sorted, without duplicates */
  size_t ngroup_by;
  const q_target_t *target;
  group_t *groups;
  size_t ngroups, cap;
  size_t *slots; /* hash table of group indexes + 1, 0 for empty */
  size_t nslots;
  uint64_t *tmp; /* one timeline */
  uint64_t *fine; /* one 10 s timeline (average) */
  size_t nfine;
} series_t;

/* ---- Groups ------------------------------------------------------------ */

static uint64_t sat_mul(uint64_t a, uint64_t b) {
  return a && b > UINT64_MAX / a ? UINT64_MAX : a * b;
}

static void rehash(series_t *x) {
  size_t n = x->nslots ? x->nslots * 2 : 64;
  size_t *slots = ember_calloc(n, sizeof *slots);
  for (size_t g = 0; g < x->ngroups; g++) {
    size_t h = ember_hash_bytes(x->groups[g].key, x->groups[g].keylen) & (n - 1);
    while (slots[h])
      h = (h + 1) & (n - 1);
    slots[h] = g + 1;
  }
  free(x->slots);
  x->slots = slots;
  x->nslots = n;
}

/* The group of key, created when new. */
static int group_of(series_t *x, const char *key, size_t len, group_t **out,
                    ember_err_t *err) {
  if (x->nslots) {
    size_t h = ember_hash_bytes(key, len) & (x->nslots - 1);
    for (; x->slots[h]; h = (h + 1) & (x->nslots - 1)) {
      group_t *g = &x->groups[x->slots[h] - 1];
      if (g->keylen == len && !memcmp(g->key, key, len)) {
        *out = g;
        return EMBER_OK;
      }
    }
  }
  if ((x->ngroups + 1) * x->grid.n > MAX_VALUES)
    return ember_err_set(err, EMBER_EINVAL,
                         "the answer would hold over %zu points; raise step, narrow the "
                         "time range or group by fewer labels",
                         MAX_VALUES);
  ember_grow((void **)&x->groups, &x->cap, x->ngroups + 1, sizeof *x->groups);
  group_t *g = &x->groups[x->ngroups++];
  memset(g, 0, sizeof *g);
  g->key = ember_strndup(key, len);
  g->keylen = len;
  g->sums = ember_calloc(x->grid.n ? x->grid.n : 1, sizeof *g->sums);
  if (x->average) g->counts = ember_calloc(x->grid.n ? x->grid.n : 1, sizeof *g->counts);
  if (x->ngroups * 2 > x->nslots) rehash(x);
  else {
    size_t h = ember_hash_bytes(key, len) & (x->nslots - 1);
    while (x->slots[h])
      h = (h + 1) & (x->nslots - 1);
    x->slots[h] = x->ngroups;
  }
  *out = g;
  return EMBER_OK;
}

static void groups_free(series_t *x) {
  for (size_t i = 0; i < x->ngroups; i++) {
    free(x->groups[i].key);
    free(x->groups[i].sums);
    free(x->groups[i].counts);
  }
  free(x->groups);
  free(x->slots);
  free(x->tmp);
  free(x->fine);
}

/* ---- Reading ----------------------------------------------------------- */

static bool grouped(const series_t *x, const char *key) {
  for (size_t i = 0; i < x->ngroup_by; i++)
    if (!strcmp(x->group_by[i], key)) return true;
  return false;
}

static int cmp_label(const void *a, const void *b) {
  return strcmp(((const ember_label_t *)a)->key, ((const ember_label_t *)b)->key);
}

/* The key of a combination: the target's grouped virtual labels and the
 * combination's, sorted. */
static void group_key(const series_t *x, const ember_label_t *labels, size_t n,
                      ember_buf_t *out) {
  ember_label_t all[Q_VIRTUAL_LABELS + 64];
  ember_label_t *set = n <= 64 ? all : ember_malloc((n + Q_VIRTUAL_LABELS) * sizeof *set);
  ember_label_t virt[Q_VIRTUAL_LABELS];
  size_t nv = q_target_labels(x->target, virt), m = 0;
  for (size_t i = 0; i < nv; i++)
    if (grouped(x, virt[i].key)) set[m++] = virt[i];
  for (size_t i = 0; i < n; i++)
    set[m++] = labels[i];
  qsort(set, m, sizeof *set, cmp_label);
  for (size_t i = 0; i < m; i++) {
    ember_buf_append(out, set[i].key, strlen(set[i].key) + 1);
    ember_buf_append(out, set[i].value, strlen(set[i].value) + 1);
  }
  ember_buf_putc(out, '\0');
  if (set != all) free(set);
}

/* Counts, per step, the 10 s buckets of sel that hold samples. */
static int count_buckets(series_t *x, const ember_selector_t *sel, group_t *g,
                         ember_err_t *err) {
  memset(x->fine, 0, x->nfine * sizeof *x->fine);
  int rc = ember_store_reader_timeline(x->r, sel, x->grid.start, 10, x->fine, x->nfine, err);
  size_t per = (size_t)(x->grid.step / 10);
  for (size_t i = 0; rc == EMBER_OK && i < x->nfine; i++)
    if (x->fine[i]) g->counts[i / per]++;
  return rc;
}

/* One combination: its timeline added into its group. */
static int add_combo(void *vx, const ember_selector_t *narrowed, const ember_label_t *labels,
                     size_t n, ember_err_t *err) {
  series_t *x = vx;
  ember_buf_t key = EMBER_BUF_INIT;
  group_t *g = NULL;
  memset(x->tmp, 0, x->grid.n * sizeof *x->tmp);
  int rc = ember_store_reader_timeline(x->r, narrowed, x->grid.start, x->grid.step, x->tmp,
                                       x->grid.n, err);
  bool any = false;
  for (size_t i = 0; rc == EMBER_OK && i < x->grid.n && !any; i++)
    any = x->tmp[i] != 0;
  if (rc || !any) goto done; /* a combination no series has, or no samples */
  group_key(x, labels, n, &key);
  rc = group_of(x, key.data, key.len, &g, err);
  if (rc) goto done;
  uint64_t scale = x->target->type.scale;
  for (size_t i = 0; i < x->grid.n; i++) {
    uint64_t v = sat_mul(x->tmp[i], scale);
    g->sums[i] = ember_sat_add(g->sums[i], v);
    g->total = ember_sat_add(g->total, v);
  }
  if (x->average) rc = count_buckets(x, narrowed, g, err);
done:
  ember_buf_free(&key);
  return rc == EMBER_ENOTFOUND ? (ember_err_clear(err), EMBER_OK) : rc;
}

/* ---- Parameters -------------------------------------------------------- */

static int parse_group_by(char **keys, size_t n, series_t *x, ember_err_t *err) {
  x->group_by = ember_calloc(n + 1, sizeof *x->group_by);
  for (size_t i = 0; i < n; i++) {
    const char *k = keys[i] ? keys[i] : "";
    if (!q_is_virtual(k) && !ember_label_key_valid(k, strlen(k))) {
      ember_excerpt_t e;
      return ember_err_set(err, EMBER_EINVAL,
                           "group_by '%s' is not a label name; names are letters, digits, "
                           "'_' and '.' (LabelNames lists them)",
                           ember_excerpt(&e, k, strlen(k), 80));
    }
    bool dup = false;
    for (size_t j = 0; j < x->ngroup_by && !dup; j++)
      dup = !strcmp(x->group_by[j], k);
    if (!dup) x->group_by[x->ngroup_by++] = (char *)k;
  }
  for (size_t i = 1; i < x->ngroup_by; i++) /* sorted, as the keys of a label set */
    for (size_t j = i; j > 0 && strcmp(x->group_by[j - 1], x->group_by[j]) > 0; j--) {
      char *t = x->group_by[j];
      x->group_by[j] = x->group_by[j - 1];
      x->group_by[j - 1] = t;
    }
  return EMBER_OK;
}

/* The grid of steps of step seconds (rounded up to 10 s) over [from, until]. */
static int parse_step(double step, int64_t from, int64_t until, ember_timeline_grid_t *g,
                      ember_err_t *err) {
  if (!(step > 0) || step > 1e9)
    return ember_err_set(err, EMBER_EINVAL,
                         "step must be a positive number of seconds (at most 10^9), e.g. "
                         "15; got %g",
                         step);
  int64_t s = (int64_t)ceil(step / 10) * 10;
  g->step = s;
  g->start = from - ((from % s) + s) % s;
  uint64_t span = (uint64_t)(until + 1 - g->start);
  uint64_t n = span / (uint64_t)s + (span % (uint64_t)s != 0);
  if (n > MAX_STEPS)
    return ember_err_set(err, EMBER_EINVAL,
                         "step %g s gives %llu points over the range, over the %d one "
                         "series may have; raise step or narrow the range",
                         step, (unsigned long long)n, MAX_STEPS);
  g->n = (size_t)n;
  return EMBER_OK;
}

static int parse_request(const Querier__V1__SelectSeriesRequest *rq, series_t *x,
                         q_select_t *qs, ember_err_t *err) {
  int64_t from, until;
  bool any;
  int rc = q_type_id(rq->profile_typeid, err);
  if (!rc) rc = q_range(rq->start, rq->end, true, &from, &until, &any, err);
  if (!rc) rc = q_unsupported(rq->stack_trace_selector, 0, err);
  if (!rc && rq->stack_trace_selector && rq->stack_trace_selector->n_call_site)
    rc = ember_err_set(err, EMBER_EUNIMPL,
                       "stack_trace_selector: SelectSeries is answered from the totals "
                       "stored per 10 s bucket, which know no stacks");
  if (!rc && rq->exemplar_type == TYPES__V1__EXEMPLAR_TYPE__EXEMPLAR_TYPE_SPAN)
    rc = ember_err_set(err, EMBER_EUNIMPL, "exemplar_type EXEMPLAR_TYPE_SPAN: Ember keeps "
                                           "no spans");
  if (!rc && (rq->exemplar_type < 0 || rq->exemplar_type > 3))
    rc = ember_err_set(err, EMBER_EINVAL, "exemplar_type %d is not a value of ExemplarType",
                       (int)rq->exemplar_type);
  if (!rc && rq->has_aggregation_case) {
    if (rq->aggregation != TYPES__V1__TIME_SERIES_AGGREGATION_TYPE__TIME_SERIES_AGGREGATION_TYPE_SUM &&
        rq->aggregation != TYPES__V1__TIME_SERIES_AGGREGATION_TYPE__TIME_SERIES_AGGREGATION_TYPE_AVERAGE)
      rc = ember_err_set(err, EMBER_EINVAL,
                         "aggregation %d is not a value of TimeSeriesAggregationType",
                         (int)rq->aggregation);
    x->average = rq->aggregation ==
                 TYPES__V1__TIME_SERIES_AGGREGATION_TYPE__TIME_SERIES_AGGREGATION_TYPE_AVERAGE;
  }
  if (!rc) rc = parse_step(rq->step, from, until, &x->grid, err);
  if (!rc && x->average) {
    x->nfine = x->grid.n * (size_t)(x->grid.step / 10);
    if (x->nfine > MAX_AVERAGE_BUCKETS)
      rc = ember_err_set(err, EMBER_EINVAL,
                         "an average over %zu buckets of 10 s is more than one answer may "
                         "count (%zu); narrow the time range or use the sum",
                         x->nfine, MAX_AVERAGE_BUCKETS);
  }
  if (!rc) rc = parse_group_by(rq->group_by, rq->n_group_by, x, err);
  if (!rc) rc = q_select_parse("label_selector", rq->label_selector, qs, err);
  return rc;
}

/* ---- Encoding ---------------------------------------------------------- */

static int cmp_total(const void *pa, const void *pb) {
  const group_t *a = pa, *b = pb;
  if (a->total != b->total) return a->total > b->total ? -1 : 1;
  return memcmp(a->key, b->key, a->keylen < b->keylen ? a->keylen : b->keylen);
}

/* Label sets in order, pair by pair. */
static int cmp_key(const void *pa, const void *pb) {
  const char *a = ((const group_t *)pa)->key, *b = ((const group_t *)pb)->key;
  while (*a && *b) {
    int c = strcmp(a, b);
    if (c) return c;
    a += strlen(a) + 1;
    b += strlen(b) + 1;
  }
  return (*a != 0) - (*b != 0);
}

static Types__V1__Series *encode_group(ember_connect_call_t *call, const series_t *x,
                                       const group_t *g) {
  Types__V1__Series *s = ember_connect_alloc(call, sizeof *s);
  types__v1__series__init(s);
  size_t nl = 0;
  for (const char *p = g->key; *p; p += strlen(p) + 1)
    nl++;
  nl /= 2;
  s->labels = ember_connect_alloc(call, (nl ? nl : 1) * sizeof *s->labels);
  const char *p = g->key;
  for (size_t i = 0; i < nl; i++) {
    const char *name = p, *value = p + strlen(p) + 1;
    p = value + strlen(value) + 1;
    if (!*value) continue; /* a label the series lack is not written */
    Types__V1__LabelPair *lp = ember_connect_alloc(call, sizeof *lp);
    types__v1__label_pair__init(lp);
    lp->name = ember_connect_strndup(call, name, strlen(name));
    lp->value = ember_connect_strndup(call, value, strlen(value));
    s->labels[s->n_labels++] = lp;
  }
  size_t np = 0;
  for (size_t i = 0; i < x->grid.n; i++)
    np += g->sums[i] != 0;
  s->points = ember_connect_alloc(call, (np ? np : 1) * sizeof *s->points);
  Types__V1__Point *pts = ember_connect_alloc(call, (np ? np : 1) * sizeof *pts);
  for (size_t i = 0; i < x->grid.n; i++) {
    if (!g->sums[i]) continue;
    Types__V1__Point *pt = &pts[s->n_points];
    types__v1__point__init(pt);
    pt->value = (double)g->sums[i];
    if (x->average && g->counts[i]) pt->value /= g->counts[i];
    pt->timestamp = (x->grid.start + (int64_t)i * x->grid.step) * 1000;
    s->points[s->n_points++] = pt;
  }
  return s;
}

/* ---- API --------------------------------------------------------------- */

int q_select_series(void *vctx, ember_connect_call_t *call, const ProtobufCMessage *in,
                    ember_err_t *err) {
  const ember_querier_ctx_t *ctx = vctx;
  const Querier__V1__SelectSeriesRequest *rq = (const void *)in;
  series_t x;
  memset(&x, 0, sizeof x);
  q_select_t qs = {0};
  int rc = parse_request(rq, &x, &qs, err);
  if (!rc) rc = ember_store_reader_open(ctx->store, &x.r, err);
  if (!rc) rc = q_select_resolve(x.r, rq->profile_typeid, &qs, err);
  if (rc) goto done;
  x.tmp = ember_calloc(x.grid.n ? x.grid.n : 1, sizeof *x.tmp);
  if (x.average) x.fine = ember_calloc(x.nfine ? x.nfine : 1, sizeof *x.fine);
  /* The stored keys to split by (the virtual ones come with the target). */
  char **stored = ember_calloc(x.ngroup_by + 1, sizeof *stored);
  size_t nstored = 0;
  for (size_t i = 0; i < x.ngroup_by; i++)
    if (!q_is_virtual(x.group_by[i])) stored[nstored++] = x.group_by[i];
  for (size_t i = 0; i < qs.n && !rc; i++) {
    ember_selector_t s = q_target_selector(&qs, i, NULL, 0);
    x.target = &qs.items[i];
    rc = q_combinations(x.r, &s, stored, nstored, false, add_combo, &x, err);
    free(s.matchers);
  }
  free(stored);
  ember_store_reader_close(x.r);
  x.r = NULL;
  if (rc) goto done;
  /* The top `limit` by total, then in the order of their labels. */
  size_t keep = x.ngroups;
  if (rq->has_limit_case && rq->limit > 0 && (uint64_t)rq->limit < keep) {
    qsort(x.groups, x.ngroups, sizeof *x.groups, cmp_total);
    keep = (size_t)rq->limit;
  }
  qsort(x.groups, keep, sizeof *x.groups, cmp_key);
  Querier__V1__SelectSeriesResponse *out = ember_connect_alloc(call, sizeof *out);
  querier__v1__select_series_response__init(out);
  out->series = ember_connect_alloc(call, (keep ? keep : 1) * sizeof *out->series);
  for (size_t i = 0; i < keep; i++)
    out->series[out->n_series++] = encode_group(call, &x, &x.groups[i]);
  ember_connect_reply(call, &out->base);
done:
  ember_store_reader_close(x.r);
  groups_free(&x);
  free(x.group_by);
  q_select_free(&qs);
  return rc;
}
