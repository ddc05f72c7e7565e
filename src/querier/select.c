/*
 * select.c - which apps, and which of their series, a Pyroscope label
 * selector names.
 *
 * `{service_name="ride-sharing-app", region=~"eu.*"}` with the profile type
 * process_cpu:cpu:nanoseconds:cpu:nanoseconds: service_name and the profile
 * type's labels are not stored, Ember derives them from each app (its base
 * name, and types.c's mapping of its suffix and units), so the matchers on
 * them are tried against every app and pick the "targets", the apps read
 * as one of their profile types. The other matchers are FlameQL matchers
 * for the store, with FlameQL's rules: regexes through RE2 within the same
 * limits as /render's (the selector is parsed by src/profile/series.c),
 * and a label a series lacks reads as "".
 *
 * The store lists label keys and values, not series; the label sets of the
 * series are found by narrowing a selector key by key (q_combinations),
 * each step asking the store for the values that remain.
 */
#include <stdlib.h>
#include <string.h>

#include "querier/querier_int.h"

/* ---- Virtual labels ----------------------------------------------------- */

/* Sorted by key, as ember_selector_match needs a label set. */
static const char *const virtual_keys[Q_VIRTUAL_LABELS] = {
    "__name__",         "__period_type__", "__period_unit__", "__profile_type__",
    "__type__",         "__unit__",        "service_name",
};

bool q_is_virtual(const char *key) {
  for (size_t i = 0; i < Q_VIRTUAL_LABELS; i++)
    if (!strcmp(key, virtual_keys[i])) return true;
  return false;
}

size_t q_target_labels(const q_target_t *t, ember_label_t out[Q_VIRTUAL_LABELS]) {
  const char *values[Q_VIRTUAL_LABELS] = {
      t->type.name,        t->type.period_type, t->type.period_unit, t->type.id,
      t->type.sample_type, t->type.sample_unit, t->service,
  };
  for (size_t i = 0; i < Q_VIRTUAL_LABELS; i++) {
    out[i].key = (char *)virtual_keys[i];
    out[i].value = (char *)values[i];
  }
  return Q_VIRTUAL_LABELS;
}

/* ---- Parsing ----------------------------------------------------------- */

/* Moves m into sel (which grows by one). */
static void take(ember_selector_t *sel, ember_matcher_t *m) {
  sel->matchers = ember_realloc(sel->matchers, (sel->n + 1) * sizeof *sel->matchers);
  sel->matchers[sel->n++] = *m;
  memset(m, 0, sizeof *m);
}

int q_select_parse(const char *what, const char *selector, q_select_t *out,
                   ember_err_t *err) {
  ember_selector_t all;
  ember_err_t why;
  ember_err_clear(&why);
  memset(out, 0, sizeof *out);
  const char *s = selector ? selector : "";
  if (ember_selector_parse_matchers(s, strlen(s), &all, &why)) {
    /* The parser names itself ("label selector: ..."), the regex checks the
     * query ("query: ..."); the caller knows the field. */
    const char *msg = why.msg;
    if (!strncmp(msg, "label selector: ", 16)) msg += 16;
    else if (!strncmp(msg, "query: ", 7)) msg += 7;
    return ember_err_set(err, EMBER_EINVAL, "%s: %s", what, msg);
  }
  for (size_t i = 0; i < all.n; i++)
    take(q_is_virtual(all.matchers[i].key) ? &out->virt : &out->stored, &all.matchers[i]);
  ember_selector_free(&all);
  return EMBER_OK;
}

void q_select_free(q_select_t *qs) {
  if (!qs) return;
  ember_selector_free(&qs->stored);
  ember_selector_free(&qs->virt);
  for (size_t i = 0; i < qs->n; i++) {
    ember_app_info_free(&qs->items[i].app);
    free(qs->items[i].service);
  }
  free(qs->items);
  memset(qs, 0, sizeof *qs);
}

/* ---- Resolving --------------------------------------------------------- */

static void add_target(q_select_t *qs, const ember_app_info_t *a, const char *service,
                       const ember_profile_type_t *type) {
  qs->items = ember_realloc(qs->items, (qs->n + 1) * sizeof *qs->items);
  q_target_t *t = &qs->items[qs->n++];
  t->app.name = ember_strdup(a->name);
  t->app.spy_name = ember_strdup(a->spy_name);
  t->app.units = ember_strdup(a->units);
  t->app.sample_rate = a->sample_rate;
  t->app.aggregation = a->aggregation;
  t->service = ember_strdup(service);
  t->type = *type;
}

int q_select_resolve(ember_store_reader_t *r, const char *type_id, q_select_t *qs,
                     ember_err_t *err) {
  ember_app_info_t *apps = NULL;
  size_t napps = 0;
  int rc = ember_store_reader_apps(r, &apps, &napps, err);
  if (rc) return rc;
  ember_profile_type_t types[2];
  for (size_t i = 0; i < napps; i++) {
    const ember_app_info_t *a = &apps[i];
    char *service = ember_malloc(strlen(a->name) + 1);
    ember_profile_service_name(a->name, service, strlen(a->name) + 1);
    size_t nt = ember_profile_types_of(a->name, a->units, a->sample_rate, types);
    for (size_t k = 0; k < nt; k++) {
      if (type_id && strcmp(type_id, types[k].id)) continue;
      q_target_t probe = {.service = service, .type = types[k]};
      ember_label_t labels[Q_VIRTUAL_LABELS];
      size_t nl = q_target_labels(&probe, labels);
      if (ember_selector_match(&qs->virt, labels, nl)) add_target(qs, a, service, &types[k]);
    }
    free(service);
  }
  for (size_t i = 0; i < napps; i++)
    ember_app_info_free(&apps[i]);
  free(apps);
  return EMBER_OK;
}

ember_selector_t q_target_selector(const q_select_t *qs, size_t i,
                                   const ember_matcher_t *extra, size_t n_extra) {
  ember_selector_t s;
  s.app = qs->items[i].app.name;
  s.n = n_extra + qs->stored.n;
  s.matchers = ember_malloc((s.n ? s.n : 1) * sizeof *s.matchers);
  if (n_extra) memcpy(s.matchers, extra, n_extra * sizeof *extra);
  if (qs->stored.n)
    memcpy(s.matchers + n_extra, qs->stored.matchers, qs->stored.n * sizeof *extra);
  return s;
}

/* ---- Reads ------------------------------------------------------------- */

int q_has_data(ember_store_reader_t *r, const ember_selector_t *sel, int64_t from,
               int64_t until, bool *out, ember_err_t *err) {
  ember_timeline_grid_t g = ember_timeline_grid(from, until);
  uint64_t *v = ember_calloc(g.n ? g.n : 1, sizeof *v);
  *out = false;
  int rc = ember_store_reader_timeline(r, sel, g.start, g.step, v, g.n, err);
  if (rc == EMBER_ENOTFOUND) { /* deleted since it was listed */
    ember_err_clear(err);
    rc = EMBER_OK;
  }
  for (size_t i = 0; rc == EMBER_OK && i < g.n && !*out; i++)
    *out = v[i] != 0;
  free(v);
  return rc;
}

/* ---- Combinations of label values --------------------------------------- */

typedef struct {
  ember_store_reader_t *r;
  const ember_selector_t *base;
  char **keys;
  size_t nkeys;
  bool exact;
  q_combo_fn fn;
  void *ctx;
  ember_matcher_t *fixed; /* key="value" for the keys decided so far */
  ember_label_t *labels;  /* the non-empty ones among them */
  size_t nlabels;
} combo_t;

/* base narrowed by the first n fixed matchers, placed first. Borrows; free
 * only .matchers. */
static ember_selector_t narrow(const combo_t *c, size_t n) {
  ember_selector_t s = {c->base->app, NULL, n + c->base->n};
  s.matchers = ember_malloc((s.n ? s.n : 1) * sizeof *s.matchers);
  if (n) memcpy(s.matchers, c->fixed, n * sizeof *s.matchers);
  if (c->base->n) memcpy(s.matchers + n, c->base->matchers, c->base->n * sizeof *s.matchers);
  return s;
}

/* Whether any series matches s: one with a label is seen in its keys; one
 * without any label only by its samples (at any time). */
static int exists(const combo_t *c, const ember_selector_t *s, bool *out,
                  ember_err_t *err) {
  ember_strlist_t keys = {0};
  int rc = ember_store_reader_label_keys(c->r, s, &keys, err);
  *out = keys.n > 0;
  ember_strlist_free(&keys);
  if (!rc && !*out) rc = q_has_data(c->r, s, Q_EPOCH, Q_FOREVER, out, err);
  return rc;
}

static int walk(combo_t *c, size_t depth, ember_err_t *err) {
  int rc = ember_deadline_passed()
               ? ember_err_set(err, EMBER_ETIMEOUT,
                               "the query ran out of time while listing series; narrow "
                               "the selector or the labels asked for")
               : EMBER_OK;
  if (rc) return rc;
  ember_selector_t s = narrow(c, depth);
  if (depth == c->nkeys) {
    rc = c->fn(c->ctx, &s, c->labels, c->nlabels, err);
    free(s.matchers);
    return rc;
  }
  ember_strlist_t values = {0};
  const char *key = c->keys[depth];
  rc = ember_store_reader_label_values(c->r, &s, key, &values, err);
  for (size_t i = 0; rc == EMBER_OK && i < values.n; i++) {
    if (!*values.items[i]) continue; /* "" is the branch below */
    c->fixed[depth] = (ember_matcher_t){(char *)key, values.items[i], EMBER_MATCH_EQ, NULL};
    c->labels[c->nlabels++] = (ember_label_t){(char *)key, values.items[i]};
    rc = walk(c, depth + 1, err);
    c->nlabels--;
  }
  /* The series without the key. */
  if (rc == EMBER_OK) {
    c->fixed[depth] = (ember_matcher_t){(char *)key, "", EMBER_MATCH_EQ, NULL};
    bool any = true;
    if (c->exact) {
      ember_selector_t s0 = narrow(c, depth + 1);
      rc = exists(c, &s0, &any, err);
      free(s0.matchers);
    }
    if (rc == EMBER_OK && any) rc = walk(c, depth + 1, err);
  }
  ember_strlist_free(&values);
  free(s.matchers);
  return rc;
}

int q_combinations(ember_store_reader_t *r, const ember_selector_t *sel, char **keys,
                   size_t nkeys, bool exact, q_combo_fn fn, void *ctx, ember_err_t *err) {
  combo_t c = {r, sel, keys, nkeys, exact, fn, ctx, NULL, NULL, 0};
  c.fixed = ember_calloc(nkeys + 1, sizeof *c.fixed);
  c.labels = ember_calloc(nkeys + 1, sizeof *c.labels);
  int rc = EMBER_OK;
  bool any = true;
  if (exact && nkeys == 0) rc = exists(&c, sel, &any, err);
  if (rc == EMBER_OK && any) rc = walk(&c, 0, err);
  free(c.fixed);
  free(c.labels);
  return rc;
}
