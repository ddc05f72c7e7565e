/*
 * compare.c - the comparison of two profiles (include/ember/compare.h):
 * its function table from a tree or from a /render-diff answer, and the
 * gate that reads it.
 *
 * The ranking is /render-diff's: the largest change of self share first
 * (in pp, either way), ties broken by the larger values and then by name
 * bytes, so that `ember diff` lists what the web UI's diff table lists, in
 * its order.
 */
#include "ember/compare.h"

#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ember/query.h"
#include "profile/regex.h"

/* The memory an --ignore expression may take, as a FlameQL matcher's. */
#define IGNORE_MAX_MEM ((size_t)8 << 20)

/* ---- Comparisons --------------------------------------------------------- */

int ember_compare_from_tree(const ember_tree_t *t, const char *units, uint32_t sample_rate,
                            ember_compare_t *out, ember_err_t *err) {
  ember_functions_t f;
  int rc = ember_functions_compute(t, 2, SIZE_MAX, &f, err);
  if (rc) return rc;
  ember_compare_t c;
  memset(&c, 0, sizeof c);
  c.items = ember_calloc(f.n ? f.n : 1, sizeof *c.items);
  c.n = f.n;
  for (size_t i = 0; i < f.n; i++) {
    ember_slice_t nm = ember_tree_name(t, f.items[i].name);
    c.items[i].name = ember_strndup(nm.base, nm.len);
    memcpy(c.items[i].self, f.items[i].self, sizeof c.items[i].self);
    memcpy(c.items[i].total, f.items[i].total, sizeof c.items[i].total);
  }
  for (int s = 0; s < 2; s++)
    c.total[s] = ember_tree_total(t, s);
  snprintf(c.units, sizeof c.units, "%s", units && *units ? units : "samples");
  c.sample_rate = sample_rate;
  ember_functions_free(&f);
  *out = c;
  return EMBER_OK;
}

/* A [left, right] pair of counts. */
static bool get_pair(json_t *a, uint64_t out[2]) {
  if (!json_is_array(a) || json_array_size(a) != 2) return false;
  for (size_t s = 0; s < 2; s++) {
    json_t *v = json_array_get(a, s);
    if (!json_is_integer(v) || json_integer_value(v) < 0) return false;
    out[s] = (uint64_t)json_integer_value(v);
  }
  return true;
}

static bool get_count(json_t *o, const char *key, uint64_t *out) {
  json_t *v = json_object_get(o, key);
  if (!json_is_integer(v) || json_integer_value(v) < 0) return false;
  *out = (uint64_t)json_integer_value(v);
  return true;
}

static int read_items(json_t *items, ember_compare_t *c, ember_err_t *err) {
  c->items = ember_calloc(json_array_size(items) + 1, sizeof *c->items);
  for (size_t i = 0; i < json_array_size(items); i++) {
    json_t *it = json_array_get(items, i);
    json_t *name = json_object_get(it, "name");
    ember_compare_fn_t *f = &c->items[c->n];
    if (!json_is_string(name) || !get_pair(json_object_get(it, "self"), f->self) ||
        !get_pair(json_object_get(it, "total"), f->total))
      return ember_err_set(err, EMBER_EPARSE,
                           "function %zu of the server's diff is not {name, self, total}",
                           i + 1);
    f->name = ember_strndup(json_string_value(name), json_string_length(name));
    c->n++;
  }
  return EMBER_OK;
}

int ember_compare_from_json(const char *text, size_t len, ember_compare_t *out,
                            ember_err_t *err) {
  json_error_t je;
  json_t *doc = json_loadb(text, len, JSON_ALLOW_NUL, &je);
  if (!doc)
    return ember_err_set(err, EMBER_EPARSE, "the server's diff is not JSON (%s)", je.text);
  ember_compare_t c;
  memset(&c, 0, sizeof c);
  int rc = EMBER_OK;
  json_t *meta = json_object_get(doc, "metadata");
  json_t *fns = json_object_get(doc, "functions");
  json_t *items = json_object_get(fns, "items");
  json_t *units = json_object_get(meta, "units");
  uint64_t rate = 0;
  if (!get_count(doc, "leftTicks", &c.total[0]) ||
      !get_count(doc, "rightTicks", &c.total[1]) || !json_is_array(items) ||
      !json_is_string(units) || !get_count(meta, "sampleRate", &rate)) {
    rc = ember_err_set(err, EMBER_EPARSE,
                       "the server's answer is not a /render-diff document with a "
                       "function table");
    goto done;
  }
  snprintf(c.units, sizeof c.units, "%s", json_string_value(units));
  c.sample_rate = rate > UINT32_MAX ? UINT32_MAX : (uint32_t)rate;
  c.truncated = json_is_true(json_object_get(fns, "truncated"));
  rc = read_items(items, &c, err);
  if (rc) goto done;
  *out = c;
  memset(&c, 0, sizeof c);
done:
  ember_compare_free(&c);
  json_decref(doc);
  return rc;
}

void ember_compare_free(ember_compare_t *c) {
  if (!c) return;
  for (size_t i = 0; i < c->n; i++)
    free(c->items[i].name);
  free(c->items);
  memset(c, 0, sizeof *c);
}

/* ---- The gate ------------------------------------------------------------ */

static double share(uint64_t v, uint64_t total) {
  return total ? (double)v / (double)total * 100.0 : 0.0;
}

static int desc_u64(uint64_t a, uint64_t b) {
  return (a < b) - (a > b);
}

static uint64_t sum2(const uint64_t v[2]) {
  return ember_sat_add(v[0], v[1]);
}

/* qsort has no context argument: the comparison being ranked. */
static _Thread_local const ember_compare_t *ranking;

/* /render-diff's order: the largest change of self share, either way. */
static int by_change(const void *pa, const void *pb) {
  const ember_gate_row_t *a = pa, *b = pb;
  double ka = fabs(a->delta_pp), kb = fabs(b->delta_pp);
  if (ka != kb) return ka > kb ? -1 : 1;
  const ember_compare_fn_t *x = &ranking->items[a->fn], *y = &ranking->items[b->fn];
  int c = desc_u64(sum2(x->self), sum2(y->self));
  if (!c) c = desc_u64(sum2(x->total), sum2(y->total));
  return c ? c : strcmp(x->name, y->name);
}

/* Regressions: the largest growth first. */
static int by_growth(const void *pa, const void *pb) {
  const ember_gate_row_t *a = pa, *b = pb;
  if (a->delta_pp != b->delta_pp) return a->delta_pp > b->delta_pp ? -1 : 1;
  return strcmp(ranking->items[a->fn].name, ranking->items[b->fn].name);
}

static ember_gate_row_t row_of(const ember_compare_t *c, size_t i, const ember_gate_opts_t *o) {
  const ember_compare_fn_t *f = &c->items[i];
  ember_gate_row_t r;
  memset(&r, 0, sizeof r);
  r.fn = i;
  for (int s = 0; s < 2; s++) {
    r.self_share[s] = share(f->self[s], c->total[s]);
    r.total_share[s] = share(f->total[s], c->total[s]);
  }
  r.delta_pp = r.self_share[1] - r.self_share[0];
  r.over = o->fail_above >= 0 && r.delta_pp > o->fail_above;
  return r;
}

static int compile_ignore(const char *expr, ember_regex_t **re, ember_err_t *err) {
  *re = NULL;
  if (!expr) return EMBER_OK;
  char why[200];
  if (ember_regex_compile(expr, strlen(expr), IGNORE_MAX_MEM, re, why, sizeof why) !=
      EMBER_REGEX_OK)
    return ember_err_set(err, EMBER_EINVAL, "bad --ignore expression '%.100s': %s", expr,
                         why);
  return EMBER_OK;
}

int ember_gate_eval(const ember_compare_t *c, const ember_gate_opts_t *o, ember_gate_t *out,
                    ember_err_t *err) {
  ember_regex_t *re;
  int rc = compile_ignore(o->ignore, &re, err);
  if (rc) return rc;
  ember_gate_t g;
  memset(&g, 0, sizeof g);
  g.rows = ember_calloc(c->n + 1, sizeof *g.rows);
  g.regressions = ember_calloc(c->n + 1, sizeof *g.regressions);
  for (size_t i = 0; i < c->n; i++) {
    const char *name = c->items[i].name;
    if (re && ember_regex_search(re, name, strlen(name))) {
      g.ignored++;
      continue;
    }
    ember_gate_row_t r = row_of(c, i, o);
    if (r.self_share[0] < o->min_share && r.self_share[1] < o->min_share &&
        r.total_share[0] < o->min_share && r.total_share[1] < o->min_share)
      continue;
    /* A function tiny on both sides trips nothing, whatever its growth. */
    if (r.self_share[0] < o->min_share && r.self_share[1] < o->min_share) r.over = false;
    g.rows[g.n++] = r;
    if (r.over) g.regressions[g.nregressions++] = r;
  }
  ranking = c;
  qsort(g.rows, g.n, sizeof *g.rows, by_change);
  qsort(g.regressions, g.nregressions, sizeof *g.regressions, by_growth);
  ranking = NULL;
  g.total_change = c->total[0] ? ((double)c->total[1] / (double)c->total[0] - 1.0) * 100.0
                               : (c->total[1] ? INFINITY : 0.0);
  g.total_over = o->fail_total_above >= 0 && g.total_change > o->fail_total_above;
  g.passed = !g.nregressions && !g.total_over;
  ember_regex_free(re);
  *out = g;
  return EMBER_OK;
}

void ember_gate_free(ember_gate_t *g) {
  if (!g) return;
  free(g->rows);
  free(g->regressions);
  memset(g, 0, sizeof *g);
}
