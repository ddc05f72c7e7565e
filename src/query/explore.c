/*
 * explore.c - GET /api/explore, the tag explorer: how a selection's samples
 * split over the values of one label, over time, in one request. For each
 * value of the label (top N by total, the rest summed as "other", and the
 * series without the label as "missing"): its timeline, total, share of
 * the whole, average and peak per timeline step.
 *
 * Everything comes from the store's timeline reads, which take each row's
 * stored total and decompress no segment: one read per value, with the
 * selector narrowed by `key="value"`, so the groups partition the series
 * the selector matches (a series has one value for a key, or none, and
 * "none" reads as the empty value, as in FlameQL). The narrowing matcher
 * goes first, where the store looks for an indexed equality, so that each
 * read visits only that value's series, whatever else the selector says.
 *
 * Memory stays at N + 3 timelines however many values the label has: a
 * value that drops out of the top N is added into "other" at once.
 */
#include "query_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DEFAULT_TOP 10
#define MAX_TOP 100

/* ---- Types ------------------------------------------------------------- */

/* One line of the answer: a value of the label (or other, or missing) and
 * its sums. Owns samples; value borrowed. */
typedef struct {
  const char *value;
  uint64_t *samples; /* raw sums per step, grid.n of them */
  uint64_t total;
  uint64_t peak;
  size_t values; /* how many label values it sums (other) */
} group_t;

/* The request, parsed, and what the reads gathered. Owns everything. */
typedef struct {
  ember_selector_t sel;
  ember_buf_t query; /* normalised */
  const char *key;   /* borrowed from the parameters */
  int64_t from, until;
  size_t top;
  size_t max_output;
  ember_timeline_grid_t grid;
  bool known;
  ember_app_info_t app;
  ember_strlist_t values;
  group_t *groups; /* the top values so far, at most top */
  size_t ngroups;
  group_t other, missing;
} explore_t;

/* ---- Private functions ------------------------------------------------- */

static void explore_free(explore_t *x) {
  ember_selector_free(&x->sel);
  ember_buf_free(&x->query);
  ember_app_info_free(&x->app);
  ember_strlist_free(&x->values);
  for (size_t i = 0; i < x->ngroups; i++)
    free(x->groups[i].samples);
  free(x->groups);
  free(x->other.samples);
  free(x->missing.samples);
}

/* groupBy: a label key of the query's app, not __name__. */
static int parse_key(const char *v, const char **out, ember_err_t *err) {
  if (!ember_param_given(v))
    return ember_err_set(err, EMBER_EINVAL,
                         "missing 'groupBy' parameter: the label to split by, e.g. "
                         "groupBy=region (GET /labels lists them)");
  if (!ember_label_key_valid(v, strlen(v)) || !strcmp(v, EMBER_NAME_LABEL))
    return ember_err_set(err, EMBER_EINVAL,
                         "groupBy '%.80s' is not a label key; use letters, digits, '_' "
                         "and '.', and not __name__ (GET /labels lists the keys)",
                         v);
  *out = v;
  return EMBER_OK;
}

/* top: 1 to MAX_TOP, default DEFAULT_TOP. */
static int parse_top(const char *v, size_t *out, ember_err_t *err) {
  if (!ember_param_given(v)) {
    *out = DEFAULT_TOP;
    return EMBER_OK;
  }
  size_t n = 0;
  bool ok = strlen(v) <= 4;
  for (const char *p = v; ok && *p; p++) {
    if (*p < '0' || *p > '9')
      ok = false;
    else
      n = n * 10 + (size_t)(*p - '0');
  }
  if (!ok || n < 1 || n > MAX_TOP)
    return ember_err_set(err, EMBER_EINVAL,
                         "top '%.40s' is not valid; write how many values to list "
                         "apart, 1 to %d (default %d); the rest are summed as other",
                         v, MAX_TOP, DEFAULT_TOP);
  *out = n;
  return EMBER_OK;
}

static int parse(explore_t *x, const ember_explore_params_t *p, ember_err_t *err) {
  int rc = ember_param_selector("query", p->query, &x->sel, err);
  if (rc) return rc;
  ember_selector_format(&x->sel, &x->query);
  rc = ember_param_range("from", p->from, "until", p->until, p->now, &x->from, &x->until,
                         err);
  if (!rc) rc = parse_key(p->group_by, &x->key, err);
  if (!rc) rc = parse_top(p->top, &x->top, err);
  x->max_output = p->max_output ? p->max_output : EMBER_QUERY_MAX_OUTPUT;
  x->grid = ember_timeline_grid(x->from, x->until);
  return rc;
}

/* The selector narrowed to key="value", the narrowing matcher first (see
 * the top of the file). Borrows everything: free only the array. */
static ember_selector_t narrowed(const explore_t *x, const char *value) {
  ember_selector_t s = {x->sel.app, ember_malloc((x->sel.n + 1) * sizeof *s.matchers),
                        x->sel.n + 1};
  s.matchers[0] = (ember_matcher_t){(char *)x->key, (char *)value, EMBER_MATCH_EQ, NULL};
  if (x->sel.n) memcpy(s.matchers + 1, x->sel.matchers, x->sel.n * sizeof *s.matchers);
  return s;
}

/* Reads the timeline of key=value into g (samples allocated here). */
static int read_group(ember_store_reader_t *r, const explore_t *x, const char *value,
                      group_t *g, ember_err_t *err) {
  int rc = ember_query_deadline(0, "reading the timelines", err);
  if (rc) return rc;
  ember_selector_t s = narrowed(x, value);
  g->value = value;
  g->samples = ember_calloc(x->grid.n ? x->grid.n : 1, sizeof *g->samples);
  rc = ember_store_reader_timeline(r, &s, x->grid.start, x->grid.step, g->samples,
                                   x->grid.n, err);
  free(s.matchers);
  for (size_t i = 0; rc == 0 && i < x->grid.n; i++) {
    g->total = ember_sat_add(g->total, g->samples[i]);
    if (g->samples[i] > g->peak) g->peak = g->samples[i];
  }
  return rc;
}

/* Adds src's sums into dst, samples included. */
static void fold(group_t *dst, const group_t *src, size_t n) {
  if (!dst->samples) dst->samples = ember_calloc(n ? n : 1, sizeof *dst->samples);
  dst->total = ember_sat_add(dst->total, src->total);
  dst->peak = 0;
  for (size_t i = 0; i < n; i++) {
    dst->samples[i] = ember_sat_add(dst->samples[i], src->samples[i]);
    if (dst->samples[i] > dst->peak) dst->peak = dst->samples[i];
  }
  dst->values += src->values;
}

/* Rank: larger total first, then value bytes. */
static int cmp_group(const void *pa, const void *pb) {
  const group_t *a = pa, *b = pb;
  if (a->total != b->total) return a->total > b->total ? -1 : 1;
  return strcmp(a->value, b->value);
}

/* Keeps g among the top groups, or folds it (or the group it displaces)
 * into other. Takes g's samples. */
static void place(explore_t *x, group_t *g) {
  if (x->ngroups < x->top) {
    x->groups[x->ngroups++] = *g;
    return;
  }
  size_t last = 0;
  for (size_t i = 1; i < x->ngroups; i++)
    if (cmp_group(&x->groups[i], &x->groups[last]) > 0) last = i;
  /* g takes the place of the lowest kept group when it ranks above it;
   * whichever loses goes into other. */
  if (cmp_group(g, &x->groups[last]) < 0) {
    group_t tmp = x->groups[last];
    x->groups[last] = *g;
    *g = tmp;
  }
  fold(&x->other, g, x->grid.n);
  free(g->samples);
}

/* Reads the timeline of every value listed, then of the series without
 * the key. */
static int read_all(ember_store_reader_t *r, explore_t *x, ember_err_t *err) {
  int rc = EMBER_OK;
  x->groups = ember_calloc(x->top, sizeof *x->groups);
  x->other.value = "other";
  for (size_t i = 0; i < x->values.n; i++) {
    const char *v = x->values.items[i];
    if (!*v) continue; /* the empty value reads as missing, below */
    group_t g = {0};
    g.values = 1;
    rc = read_group(r, x, v, &g, err);
    if (rc || !g.total) {
      free(g.samples); /* no data in the range: not a line of the chart */
      if (rc) return rc;
      continue;
    }
    place(x, &g);
  }
  rc = read_group(r, x, "", &x->missing, err);
  qsort(x->groups, x->ngroups, sizeof *x->groups, cmp_group);
  return rc;
}

/* ---- Encoding ---------------------------------------------------------- */

/* A real number with at most `decimals` digits after the point, trailing
 * zeros dropped: any magnitude (a sum of nanoseconds) keeps its digits. */
static void put_real(ember_buf_t *b, double v, int decimals) {
  char tmp[400];
  int n = snprintf(tmp, sizeof tmp, "%.*f", decimals, v);
  if (n <= 0 || (size_t)n >= sizeof tmp) {
    ember_buf_puts(b, "0");
    return;
  }
  if (strchr(tmp, '.')) {
    while (tmp[n - 1] == '0')
      tmp[--n] = '\0';
    if (tmp[n - 1] == '.') tmp[--n] = '\0';
  }
  ember_buf_append(b, tmp, (size_t)n);
}

/* What the whole answer shares with each line. */
typedef struct {
  uint64_t total;
  size_t active; /* steps in which the selection has data */
} whole_t;

/* Appends one line's object, without its closing brace. */
static void put_group(ember_buf_t *b, const explore_t *x, const group_t *g,
                      const whole_t *w, const char *query) {
  ember_buf_puts(b, "{\"value\":");
  ember_buf_put_json_string(b, g->value, strlen(g->value));
  if (query) {
    ember_buf_puts(b, ",\"query\":");
    ember_buf_put_json_string(b, query, strlen(query));
  }
  ember_buf_puts(b, ",\"total\":");
  ember_buf_put_u64(b, g->total);
  ember_buf_puts(b, ",\"share\":");
  put_real(b, w->total ? (double)g->total / (double)w->total : 0, 6);
  ember_buf_puts(b, ",\"avg\":");
  put_real(b, w->active ? (double)g->total / (double)w->active : 0, 3);
  ember_buf_puts(b, ",\"peak\":");
  ember_buf_put_u64(b, g->peak);
  ember_buf_puts(b, ",\"samples\":[");
  for (size_t i = 0; i < x->grid.n; i++) {
    uint64_t v = g->samples ? g->samples[i] : 0;
    if (i) ember_buf_putc(b, ',');
    /* Pyroscope's timeline encoding, as /render's: 0 no data, else 1 +. */
    ember_buf_put_u64(b, v == 0 ? 0 : v == UINT64_MAX ? v : v + 1);
  }
  ember_buf_putc(b, ']');
}

/* The FlameQL query of one value's line: the selector plus key="value",
 * written after the selector's own matchers. */
static void group_query(const explore_t *x, const char *value, ember_buf_t *out) {
  ember_selector_t s = narrowed(x, value);
  memmove(s.matchers, s.matchers + 1, x->sel.n * sizeof *s.matchers);
  s.matchers[x->sel.n] =
      (ember_matcher_t){(char *)x->key, (char *)value, EMBER_MATCH_EQ, NULL};
  ember_buf_reset(out);
  ember_selector_format(&s, out);
  free(s.matchers);
}

static void put_head(ember_buf_t *b, const explore_t *x, const whole_t *w) {
  ember_buf_puts(b, "{\"groupBy\":");
  ember_buf_put_json_string(b, x->key, strlen(x->key));
  ember_buf_puts(b, ",\"query\":");
  ember_buf_put_json_string(b, x->query.data, x->query.len);
  const char *units = x->known ? x->app.units : "samples";
  const char *spy = x->known ? x->app.spy_name : "unknown";
  ember_buf_puts(b, ",\"units\":");
  ember_buf_put_json_string(b, units, strlen(units));
  ember_buf_printf(
      b, ",\"sampleRate\":%u,\"spyName\":", x->known ? x->app.sample_rate : 100);
  ember_buf_put_json_string(b, spy, strlen(spy));
  ember_buf_printf(b,
                   ",\"startTime\":%lld,\"endTime\":%lld,\"total\":", (long long)x->from,
                   (long long)x->until);
  ember_buf_put_u64(b, w->total);
}

static void encode(ember_buf_t *b, const explore_t *x) {
  size_t n = x->grid.n;
  uint64_t *all = ember_calloc(n ? n : 1, sizeof *all);
  const group_t *parts[MAX_TOP + 2];
  size_t nparts = 0;
  for (size_t i = 0; i < x->ngroups; i++)
    parts[nparts++] = &x->groups[i];
  if (x->other.total) parts[nparts++] = &x->other;
  if (x->missing.total) parts[nparts++] = &x->missing;
  whole_t w = {0, 0};
  for (size_t k = 0; k < nparts; k++) {
    w.total = ember_sat_add(w.total, parts[k]->total);
    for (size_t i = 0; i < n; i++)
      all[i] = ember_sat_add(all[i], parts[k]->samples[i]);
  }
  for (size_t i = 0; i < n; i++)
    w.active += all[i] != 0;
  put_head(b, x, &w);
  ember_buf_puts(b, ",\"timeline\":");
  ember_timeline_put_json(b, x->grid, all);
  ember_buf_puts(b, ",\"groups\":[");
  ember_buf_t q = EMBER_BUF_INIT;
  for (size_t i = 0; i < x->ngroups; i++) {
    if (i) ember_buf_putc(b, ',');
    group_query(x, x->groups[i].value, &q);
    put_group(b, x, &x->groups[i], &w, q.data);
    ember_buf_putc(b, '}');
  }
  if (x->other.total) {
    if (x->ngroups) ember_buf_putc(b, ',');
    put_group(b, x, &x->other, &w, NULL);
    ember_buf_printf(b, ",\"other\":true,\"values\":%zu}", x->other.values);
  }
  ember_buf_putc(b, ']');
  if (x->missing.total) {
    ember_buf_puts(b, ",\"missing\":");
    group_query(x, "", &q);
    put_group(b, x, &x->missing, &w, q.data);
    ember_buf_putc(b, '}');
  }
  ember_buf_puts(b, "}");
  ember_buf_free(&q);
  free(all);
}

/* At least the bytes encode appends: per line a value (and a query of the
 * selector plus that value), five numbers and a timeline, for at most
 * top + 2 lines, each value at most the longest one listed. */
static size_t bound(const explore_t *x) {
  size_t longest = 0;
  for (size_t i = 0; i < x->values.n; i++) {
    size_t v =
        ember_json_string_bound(x->values.items[i], strlen(x->values.items[i]), false);
    if (v > longest) longest = v;
  }
  size_t query = 2 * ember_json_string_bound(x->query.data, x->query.len, false) +
                 2 * strlen(x->key) + 2 * longest + 16;
  size_t line =
      ember_size_add(ember_size_add(256 + longest, query), ember_size_mul(x->grid.n, 21));
  size_t size = ember_size_mul(x->top + 3, line);
  size_t units = x->known ? strlen(x->app.units) + strlen(x->app.spy_name) : 0;
  return ember_size_add(size, 2 * units + 1024);
}

/* ---- API --------------------------------------------------------------- */

int ember_query_explore(ember_store_t *s, const ember_explore_params_t *p,
                        ember_query_out_t *out, ember_err_t *err) {
  explore_t x;
  memset(&x, 0, sizeof x);
  ember_store_reader_t *r = NULL;
  ember_buf_t body = EMBER_BUF_INIT;
  int rc = parse(&x, p, err);
  if (!rc) rc = ember_store_reader_open(s, &r, err);
  if (!rc) {
    rc = ember_store_reader_app(r, x.sel.app, &x.app, err);
    x.known = rc == EMBER_OK;
    if (rc == EMBER_ENOTFOUND) { /* no app yet: no lines, as /render draws nothing */
      ember_err_clear(err);
      rc = EMBER_OK;
    }
  }
  if (!rc && x.known)
    rc = ember_store_reader_label_values(r, &x.sel, x.key, &x.values, err);
  /* The bound needs only the values' lengths: refuse before reading. */
  if (!rc) rc = ember_query_check_size(bound(&x), x.max_output, "the tag explorer", err);
  if (!rc && x.known) rc = read_all(r, &x, err);
  ember_store_reader_close(r);
  if (rc) goto done;
  encode(&body, &x);
  out->body = body;
  out->content_type = EMBER_QUERY_JSON;
  out->filename[0] = '\0';
  memset(&body, 0, sizeof body);
done:
  ember_buf_free(&body);
  explore_free(&x);
  return rc;
}
