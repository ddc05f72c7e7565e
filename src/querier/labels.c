/*
 * labels.c - the methods that list rather than draw: ProfileTypes,
 * LabelNames, LabelValues, Series and GetProfileStats.
 *
 * Each reads one store snapshot. A time range (start and end, both 0 for
 * any time) keeps the apps, and for Series the label sets, that hold
 * samples in it; label names and values within an app are those of its
 * series at any time (the store keeps them per series, not per time).
 * Several matchers (LabelNames, LabelValues, Series) select the union of
 * what each selects.
 */
#include <stdlib.h>
#include <string.h>

#include "querier/querier_int.h"

/* ---- Sets of strings ---------------------------------------------------- */

/* Owns its strings. */
typedef struct {
  char **items;
  size_t n, cap;
} strset_t;

static void set_add(strset_t *s, const char *v, size_t len) {
  ember_grow((void **)&s->items, &s->cap, s->n + 1, sizeof *s->items);
  s->items[s->n++] = ember_strndup(v, len);
}

static int cmp_str(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Sorts and drops duplicates. */
static void set_finish(strset_t *s) {
  if (s->n < 2) return;
  qsort(s->items, s->n, sizeof *s->items, cmp_str);
  size_t k = 1;
  for (size_t i = 1; i < s->n; i++) {
    if (!strcmp(s->items[i], s->items[k - 1])) free(s->items[i]);
    else s->items[k++] = s->items[i];
  }
  s->n = k;
}

static void set_free(strset_t *s) {
  for (size_t i = 0; i < s->n; i++)
    free(s->items[i]);
  free(s->items);
  memset(s, 0, sizeof *s);
}

/* The set's strings copied into the call, for a repeated string field. */
static char **set_reply(ember_connect_call_t *call, const strset_t *s) {
  char **out = ember_connect_alloc(call, (s->n ? s->n : 1) * sizeof *out);
  for (size_t i = 0; i < s->n; i++)
    out[i] = ember_connect_strndup(call, s->items[i], strlen(s->items[i]));
  return out;
}

/* ---- Shared steps ------------------------------------------------------- */

/* Parses and resolves one selector; in a range (any false), drops the
 * targets whose series hold no samples in it. */
static int select_in(ember_store_reader_t *r, const char *what, const char *selector,
                     int64_t from, int64_t until, bool any, q_select_t *qs,
                     ember_err_t *err) {
  int rc = q_select_parse(what, selector, qs, err);
  if (!rc) rc = q_select_resolve(r, NULL, qs, err);
  if (rc || any) return rc;
  size_t kept = 0;
  bool has = false;
  for (size_t i = 0; i < qs->n && !rc; i++) {
    /* An app's types follow each other and share their samples. */
    if (!i || strcmp(qs->items[i].app.name, qs->items[i - 1].app.name)) {
      ember_selector_t s = q_target_selector(qs, i, NULL, 0);
      rc = q_has_data(r, &s, from, until, &has, err);
      free(s.matchers);
    }
    if (has) {
      q_target_t t = qs->items[kept];
      qs->items[kept++] = qs->items[i];
      qs->items[i] = t;
    }
  }
  for (size_t i = kept; i < qs->n; i++) {
    ember_app_info_free(&qs->items[i].app);
    free(qs->items[i].service);
  }
  qs->n = kept;
  return rc;
}

/* The selectors of a matchers field: itself, or one empty selector. */
static size_t selectors(char **matchers, size_t n, char ***out) {
  static char *none[] = {""};
  *out = n ? matchers : none;
  return n ? n : 1;
}

/* ---- ProfileTypes ------------------------------------------------------- */

int q_profile_types(void *vctx, ember_connect_call_t *call, const ProtobufCMessage *in,
                    ember_err_t *err) {
  const ember_querier_ctx_t *ctx = vctx;
  const Querier__V1__ProfileTypesRequest *rq = (const void *)in;
  int64_t from, until;
  bool any;
  q_select_t qs = {0};
  ember_store_reader_t *r = NULL;
  int rc = q_range(rq->start, rq->end, false, &from, &until, &any, err);
  if (!rc) rc = ember_store_reader_open(ctx->store, &r, err);
  if (!rc) rc = select_in(r, "matchers", "", from, until, any, &qs, err);
  if (rc) goto done;
  /* One entry per ID, however many apps share it, in ID order. */
  Types__V1__ProfileType **types = ember_connect_alloc(call, (qs.n + 1) * sizeof *types);
  size_t n = 0;
  for (size_t i = 0; i < qs.n; i++) {
    const ember_profile_type_t *t = &qs.items[i].type;
    bool seen = false;
    for (size_t k = 0; k < n && !seen; k++)
      seen = !strcmp(types[k]->id, t->id);
    if (seen) continue;
    Types__V1__ProfileType *pt = ember_connect_alloc(call, sizeof *pt);
    types__v1__profile_type__init(pt);
    pt->id = ember_connect_strndup(call, t->id, strlen(t->id));
    pt->name = ember_connect_strndup(call, t->name, strlen(t->name));
    pt->sample_type = ember_connect_strndup(call, t->sample_type, strlen(t->sample_type));
    pt->sample_unit = ember_connect_strndup(call, t->sample_unit, strlen(t->sample_unit));
    pt->period_type = ember_connect_strndup(call, t->period_type, strlen(t->period_type));
    pt->period_unit = ember_connect_strndup(call, t->period_unit, strlen(t->period_unit));
    types[n++] = pt;
  }
  for (size_t i = 1; i < n; i++) /* insertion sort: a handful of types */
    for (size_t k = i; k > 0 && strcmp(types[k - 1]->id, types[k]->id) > 0; k--) {
      Types__V1__ProfileType *t = types[k];
      types[k] = types[k - 1];
      types[k - 1] = t;
    }
  Querier__V1__ProfileTypesResponse *out = ember_connect_alloc(call, sizeof *out);
  querier__v1__profile_types_response__init(out);
  out->profile_types = types;
  out->n_profile_types = n;
  ember_connect_reply(call, &out->base);
done:
  ember_store_reader_close(r);
  q_select_free(&qs);
  return rc;
}

/* ---- LabelNames and LabelValues ----------------------------------------- */

/* Adds the names (value NULL) or the values of label `value` of every
 * target of every selector into set. */
static int gather(const ember_querier_ctx_t *ctx, char **matchers, size_t nmatchers,
                  int64_t start, int64_t end, const char *value, strset_t *set,
                  ember_err_t *err) {
  int64_t from, until;
  bool any;
  ember_store_reader_t *r = NULL;
  char **sels;
  size_t nsel = selectors(matchers, nmatchers, &sels);
  int rc = q_range(start, end, false, &from, &until, &any, err);
  if (!rc) rc = ember_store_reader_open(ctx->store, &r, err);
  for (size_t k = 0; k < nsel && !rc; k++) {
    q_select_t qs = {0};
    rc = select_in(r, "matchers", sels[k], from, until, any, &qs, err);
    for (size_t i = 0; i < qs.n && !rc; i++) {
      ember_label_t virt[Q_VIRTUAL_LABELS];
      size_t nv = q_target_labels(&qs.items[i], virt);
      for (size_t j = 0; j < nv; j++)
        if (!value) set_add(set, virt[j].key, strlen(virt[j].key));
        else if (!strcmp(value, virt[j].key)) set_add(set, virt[j].value, strlen(virt[j].value));
      if (value && q_is_virtual(value)) continue;
      ember_strlist_t l = {0};
      ember_selector_t s = q_target_selector(&qs, i, NULL, 0);
      rc = value ? ember_store_reader_label_values(r, &s, value, &l, err)
                 : ember_store_reader_label_keys(r, &s, &l, err);
      if (rc == EMBER_ENOTFOUND) { /* deleted meanwhile */
        ember_err_clear(err);
        rc = EMBER_OK;
      }
      for (size_t j = 0; j < l.n; j++)
        if (*l.items[j]) set_add(set, l.items[j], strlen(l.items[j]));
      ember_strlist_free(&l);
      free(s.matchers);
    }
    q_select_free(&qs);
  }
  ember_store_reader_close(r);
  set_finish(set);
  return rc;
}

int q_label_names(void *vctx, ember_connect_call_t *call, const ProtobufCMessage *in,
                  ember_err_t *err) {
  const Types__V1__LabelNamesRequest *rq = (const void *)in;
  strset_t set = {0};
  int rc = gather(vctx, rq->matchers, rq->n_matchers, rq->start, rq->end, NULL, &set, err);
  if (!rc) {
    Types__V1__LabelNamesResponse *out = ember_connect_alloc(call, sizeof *out);
    types__v1__label_names_response__init(out);
    out->names = set_reply(call, &set);
    out->n_names = set.n;
    ember_connect_reply(call, &out->base);
  }
  set_free(&set);
  return rc;
}

int q_label_values(void *vctx, ember_connect_call_t *call, const ProtobufCMessage *in,
                   ember_err_t *err) {
  const Types__V1__LabelValuesRequest *rq = (const void *)in;
  strset_t set = {0};
  const char *name = rq->name ? rq->name : "";
  if (!*name)
    return ember_err_set(err, EMBER_EINVAL,
                         "name is required: the label whose values to list, e.g. "
                         "service_name");
  if (!q_is_virtual(name) && !ember_label_key_valid(name, strlen(name))) {
    ember_excerpt_t e;
    return ember_err_set(err, EMBER_EINVAL,
                         "name '%s' is not a label name; names are letters, digits, "
                         "'_' and '.'",
                         ember_excerpt(&e, name, strlen(name), 80));
  }
  int rc = gather(vctx, rq->matchers, rq->n_matchers, rq->start, rq->end, name, &set, err);
  if (!rc) {
    Types__V1__LabelValuesResponse *out = ember_connect_alloc(call, sizeof *out);
    types__v1__label_values_response__init(out);
    out->names = set_reply(call, &set);
    out->n_names = set.n;
    ember_connect_reply(call, &out->base);
  }
  set_free(&set);
  return rc;
}

/* ---- Series -------------------------------------------------------------- */

/* At most this many label sets in one answer. */
#define MAX_LABEL_SETS 1000000

typedef struct {
  ember_store_reader_t *r;
  const q_target_t *target;
  char **only; /* label_names, NULL for all */
  size_t nonly;
  int64_t from, until;
  bool any;
  strset_t *sets; /* each label set as "name\0value\0..." with a final \0 */
} series_ctx_t;

static bool wanted(const series_ctx_t *x, const char *key) {
  if (!x->only) return true;
  for (size_t i = 0; i < x->nonly; i++)
    if (!strcmp(x->only[i], key)) return true;
  return false;
}

static int cmp_label(const void *a, const void *b) {
  return strcmp(((const ember_label_t *)a)->key, ((const ember_label_t *)b)->key);
}

/* One label set: the target's virtual labels and the stored ones. */
static int add_set(void *vx, const ember_selector_t *narrowed, const ember_label_t *labels,
                   size_t n, ember_err_t *err) {
  series_ctx_t *x = vx;
  if (!x->any) {
    bool has;
    int rc = q_has_data(x->r, narrowed, x->from, x->until, &has, err);
    if (rc || !has) return rc;
  }
  if (x->sets->n >= MAX_LABEL_SETS)
    return ember_err_set(err, EMBER_ETOOBIG,
                         "over %d label sets; narrow the matchers or ask for fewer "
                         "label_names",
                         MAX_LABEL_SETS);
  ember_label_t all[Q_VIRTUAL_LABELS + 64];
  ember_label_t *set = n + Q_VIRTUAL_LABELS <= 64 + Q_VIRTUAL_LABELS
                           ? all
                           : ember_malloc((n + Q_VIRTUAL_LABELS) * sizeof *set);
  ember_label_t virt[Q_VIRTUAL_LABELS];
  size_t nv = q_target_labels(x->target, virt), m = 0;
  for (size_t i = 0; i < nv; i++)
    if (wanted(x, virt[i].key)) set[m++] = virt[i];
  for (size_t i = 0; i < n; i++)
    set[m++] = labels[i];
  qsort(set, m, sizeof *set, cmp_label);
  ember_buf_t b = EMBER_BUF_INIT;
  for (size_t i = 0; i < m; i++) {
    ember_buf_append(&b, set[i].key, strlen(set[i].key) + 1);
    ember_buf_append(&b, set[i].value, strlen(set[i].value) + 1);
  }
  ember_buf_putc(&b, '\0');
  set_add(x->sets, b.data, b.len);
  /* set_add copied len bytes and a NUL: the copy ends in two NULs. */
  ember_buf_free(&b);
  if (set != all) free(set);
  return EMBER_OK;
}

/* Compares two encoded label sets pair by pair. */
static int cmp_encoded(const void *pa, const void *pb) {
  const char *a = *(char *const *)pa, *b = *(char *const *)pb;
  while (*a && *b) {
    int c = strcmp(a, b);
    if (c) return c;
    a += strlen(a) + 1;
    b += strlen(b) + 1;
  }
  return (*a != 0) - (*b != 0);
}

/* The stored keys of a target's series that the answer lists. */
static int series_keys(series_ctx_t *x, const ember_selector_t *s, ember_strlist_t *keys,
                       ember_err_t *err) {
  int rc = ember_store_reader_label_keys(x->r, s, keys, err);
  size_t k = 0;
  for (size_t i = 0; i < keys->n; i++) {
    if (wanted(x, keys->items[i]) && !q_is_virtual(keys->items[i])) keys->items[k++] = keys->items[i];
    else free(keys->items[i]);
  }
  keys->n = k;
  return rc;
}

static Types__V1__Labels *labels_reply(ember_connect_call_t *call, const char *enc) {
  size_t n = 0;
  for (const char *p = enc; *p; p += strlen(p) + 1)
    n++;
  n /= 2;
  Types__V1__Labels *l = ember_connect_alloc(call, sizeof *l);
  types__v1__labels__init(l);
  l->labels = ember_connect_alloc(call, (n ? n : 1) * sizeof *l->labels);
  l->n_labels = n;
  const char *p = enc;
  for (size_t i = 0; i < n; i++) {
    Types__V1__LabelPair *lp = ember_connect_alloc(call, sizeof *lp);
    types__v1__label_pair__init(lp);
    lp->name = ember_connect_strndup(call, p, strlen(p));
    p += strlen(p) + 1;
    lp->value = ember_connect_strndup(call, p, strlen(p));
    p += strlen(p) + 1;
    l->labels[i] = lp;
  }
  return l;
}

int q_series(void *vctx, ember_connect_call_t *call, const ProtobufCMessage *in,
             ember_err_t *err) {
  const ember_querier_ctx_t *ctx = vctx;
  const Querier__V1__SeriesRequest *rq = (const void *)in;
  series_ctx_t x = {0};
  strset_t sets = {0};
  char **sels;
  size_t nsel = selectors(rq->matchers, rq->n_matchers, &sels);
  x.sets = &sets;
  x.only = rq->n_label_names ? rq->label_names : NULL;
  x.nonly = rq->n_label_names;
  int rc = q_range(rq->start, rq->end, false, &x.from, &x.until, &x.any, err);
  if (!rc) rc = ember_store_reader_open(ctx->store, &x.r, err);
  for (size_t k = 0; k < nsel && !rc; k++) {
    q_select_t qs = {0};
    rc = select_in(x.r, "matchers", sels[k], x.from, x.until, x.any, &qs, err);
    for (size_t i = 0; i < qs.n && !rc; i++) {
      ember_strlist_t keys = {0};
      ember_selector_t s = q_target_selector(&qs, i, NULL, 0);
      x.target = &qs.items[i];
      rc = series_keys(&x, &s, &keys, err);
      if (!rc) rc = q_combinations(x.r, &s, keys.items, keys.n, x.any, add_set, &x, err);
      ember_strlist_free(&keys);
      free(s.matchers);
    }
    q_select_free(&qs);
  }
  ember_store_reader_close(x.r);
  if (!rc) {
    qsort(sets.items, sets.n, sizeof *sets.items, cmp_encoded);
    Querier__V1__SeriesResponse *out = ember_connect_alloc(call, sizeof *out);
    querier__v1__series_response__init(out);
    out->labels_set = ember_connect_alloc(call, (sets.n ? sets.n : 1) * sizeof *out->labels_set);
    for (size_t i = 0; i < sets.n; i++) {
      if (i && !cmp_encoded(&sets.items[i], &sets.items[i - 1])) continue;
      out->labels_set[out->n_labels_set++] = labels_reply(call, sets.items[i]);
    }
    ember_connect_reply(call, &out->base);
  }
  set_free(&sets);
  return rc;
}

/* ---- GetProfileStats ----------------------------------------------------- */

/* The first (last) step of the grid over [from, until] in which sel has
 * samples: its start in *at; false in *found when none has. */
static int edge(ember_store_reader_t *r, const ember_selector_t *sel, int64_t from,
                int64_t until, bool last, bool *found, int64_t *at, int64_t *step,
                ember_err_t *err) {
  ember_timeline_grid_t g = ember_timeline_grid(from, until);
  uint64_t *v = ember_calloc(g.n ? g.n : 1, sizeof *v);
  int rc = ember_store_reader_timeline(r, sel, g.start, g.step, v, g.n, err);
  *found = false;
  for (size_t k = 0; rc == EMBER_OK && k < g.n; k++) {
    size_t i = last ? g.n - 1 - k : k;
    if (!v[i]) continue;
    *found = true;
    *at = g.start + (int64_t)i * g.step;
    *step = g.step;
    break;
  }
  free(v);
  return rc;
}

/* The start of the first (or last) 10 s bucket of an app holding samples,
 * narrowed from a grid over all time down to one bucket. */
static int bucket_edge(ember_store_reader_t *r, const ember_selector_t *sel, int64_t from,
                       int64_t until, bool last, bool *found, int64_t *at,
                       ember_err_t *err) {
  int64_t step = 0;
  int rc = edge(r, sel, from, until, last, found, at, &step, err);
  while (!rc && *found && step > 10)
    rc = edge(r, sel, *at, *at + step - 1, last, found, at, &step, err);
  return rc;
}

int q_profile_stats(void *vctx, ember_connect_call_t *call, const ProtobufCMessage *in,
                    ember_err_t *err) {
  const ember_querier_ctx_t *ctx = vctx;
  q_select_t qs = {0};
  ember_store_reader_t *r = NULL;
  int64_t oldest = INT64_MAX, newest = INT64_MIN;
  /* Pushes may lie up to --max-future-skew ahead: a year covers any. */
  int64_t until = ctx->now + 366 * 86400;
  int rc = ember_store_reader_open(ctx->store, &r, err);
  if (!rc) rc = q_select_parse("matchers", "", &qs, err);
  if (!rc) rc = q_select_resolve(r, NULL, &qs, err);
  for (size_t i = 0; i < qs.n && !rc; i++) {
    if (i && !strcmp(qs.items[i].app.name, qs.items[i - 1].app.name)) continue;
    ember_selector_t s = q_target_selector(&qs, i, NULL, 0);
    bool found;
    int64_t at;
    rc = bucket_edge(r, &s, Q_EPOCH, until, false, &found, &at, err);
    if (!rc && found && at < oldest) oldest = at;
    if (!rc && found) rc = bucket_edge(r, &s, Q_EPOCH, until, true, &found, &at, err);
    if (!rc && found && at > newest) newest = at;
    free(s.matchers);
  }
  ember_store_reader_close(r);
  q_select_free(&qs);
  if (rc) return rc;
  Types__V1__GetProfileStatsResponse *out = ember_connect_alloc(call, sizeof *out);
  types__v1__get_profile_stats_response__init(out);
  out->data_ingested = oldest != INT64_MAX;
  if (out->data_ingested) {
    out->oldest_profile_time = oldest * 1000;
    out->newest_profile_time = newest * 1000;
  }
  ember_connect_reply(call, &out->base);
  return EMBER_OK;
}
