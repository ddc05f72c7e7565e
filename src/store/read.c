/*
 * read.c - everything that answers a query: read sessions, which series a
 * selector matches, and the reads of store.h. Which rows cover a time range,
 * and what a read takes from each, is cover.c's.
 *
 * A read session (ember_store_reader_t) borrows a read-only connection from
 * the pool and holds one read transaction from open to close, so every read
 * through it sees one snapshot (series, rows and dictionary alike) however
 * long it takes and whatever is committed meanwhile: a render's tree,
 * timeline and metadata always agree. It never blocks the writer, nor the
 * writer it (WAL: readers and the writer do not wait for each other). The
 * one-shot functions (ember_store_read_tree and the like) open a session
 * for one read.
 *
 * Time ranges of trees: every 10 s bucket from the one holding `from` to
 * the one holding `until` counts, both included, so a push is in the answer
 * to a query whose `until` is the second it landed in.
 *
 * Average aggregation: each series' values are summed over the range and
 * divided by the number of profiles that series contributed; the series'
 * averages are then added. For a gauge such as in-use memory this gives the
 * mean of each process, summed over processes: what the app as a whole
 * holds. (Dividing the grand total by all profiles would instead give the
 * memory of an average process, which changes with the number of
 * processes.) Division rounds to the nearest integer.
 *
 * Cancellation: every loop over rows or series checks the calling thread's
 * deadline (ember_read_deadline), and the pool's connections interrupt
 * SQLite itself once it passes (conn.c); either way the read ends with
 * EMBER_ETIMEOUT and the session can only be closed.
 */
#include "store/store_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- SQL --------------------------------------------------------------- */

static const char SQL_APP_FIND[] = "SELECT id, aggregation FROM apps WHERE name=?1";
static const char SQL_SERIES_ALL[] = "SELECT id, labels FROM series WHERE app_id=?1";
static const char SQL_SERIES_COUNT[] = "SELECT COUNT(*) FROM series WHERE app_id=?1";
static const char SQL_SERIES_BY_LABEL[] =
    "SELECT s.id, s.labels FROM series_labels l JOIN series s ON s.id = l.series_id "
    "WHERE l.app_id=?1 AND l.key=?2 AND l.value=?3";
static const char SQL_KEYS_ALL[] =
    "SELECT DISTINCT key FROM series_labels WHERE app_id=?1 ORDER BY key";
static const char SQL_VALUES_ALL[] =
    "SELECT DISTINCT value FROM series_labels WHERE app_id=?1 AND key=?2 "
    "ORDER BY value";
static const char SQL_APPS[] =
    "SELECT name, spy_name, sample_rate, units, aggregation FROM apps ORDER BY name";
static const char SQL_APP_INFO[] =
    "SELECT name, spy_name, sample_rate, units, aggregation FROM apps WHERE name=?1";

/* ---- Read sessions ----------------------------------------------------- */

struct ember_store_reader {
  const ember_store_ops_t *ops; /* first: store.h dispatches through it */
  ember_store_t *s;
  ember_conn_t *c; /* borrowed from the pool, inside its read transaction */
};

int ember_sqlite_reader_open(ember_store_t *s, ember_store_reader_t **out,
                             ember_err_t *err) {
  ember_conn_t *c = NULL;
  int rc = ember_read_deadline(err);
  if (rc == 0) rc = ember_pool_get(s, &c, err);
  /* A deferred BEGIN: the snapshot is taken by the first read and held
   * until the COMMIT in ember_store_reader_close. */
  if (rc == 0 && (rc = ember_conn_exec(c, "BEGIN", err)) != 0) ember_pool_put(s, c);
  if (rc != 0) return rc;
  ember_store_reader_t *r = ember_malloc(sizeof *r);
  r->ops = s->ops;
  r->s = s;
  r->c = c;
  *out = r;
  return 0;
}

void ember_sqlite_reader_close(ember_store_reader_t *r) {
  sqlite3_exec(r->c->db, "COMMIT", NULL, NULL, NULL);
  ember_pool_put(r->s, r->c); /* rolls back if COMMIT did not end it */
  free(r);
}

void ember_store_test_after_tree(ember_store_t *s, void (*fn)(void *ctx), void *ctx) {
  s->after_tree = fn;
  s->after_tree_ctx = ctx;
}

void ember_row_name(char *buf, size_t n, int64_t series_id, int level, int64_t start,
                    int64_t seq) {
  snprintf(buf, n, "segment row (series %lld, level %d, start %lld, seq %lld)",
           (long long)series_id, level, (long long)start, (long long)seq);
}

static int64_t ceil_to(int64_t t, int64_t w) {
  int64_t f = ember_store_floor(t, w);
  return f == t || f > INT64_MAX - w ? f : f + w;
}

/* Looks up an app; EMBER_ENOTFOUND when there is none. */
static int find_app(ember_conn_t *c, const char *app, int64_t *id,
                    ember_aggregation_t *agg, ember_err_t *err) {
  sqlite3_stmt *st;
  int rc = ember_conn_prepare(c, SQL_APP_FIND, &st, err);
  if (rc != 0) return rc;
  sqlite3_bind_text(st, 1, app, -1, SQLITE_STATIC);
  int step = sqlite3_step(st);
  if (step == SQLITE_ROW) {
    *id = sqlite3_column_int64(st, 0);
    if (agg) *agg = (ember_aggregation_t)sqlite3_column_int(st, 1);
  } else if (step == SQLITE_DONE) {
    rc = ember_err_set(err, EMBER_ENOTFOUND,
                       "there is no app named '%s'; GET /api/apps lists them", app);
  } else {
    rc = ember_conn_fail(c, err, "looking up an app");
  }
  sqlite3_reset(st);
  return rc;
}

/* ---- Series selection -------------------------------------------------- */

typedef struct {
  int64_t *ids;
  ember_series_key_t *keys; /* parallel to ids when labels are kept */
  size_t n, cap;
  bool all; /* every series of the app matched: app rollups answer it */
} series_set_t;

static void set_free(series_set_t *set) {
  for (size_t i = 0; set->keys && i < set->n; i++) ember_series_key_free(&set->keys[i]);
  free(set->keys);
  free(set->ids);
  memset(set, 0, sizeof *set);
}

/* A matcher the label index can answer: an equality with a non-empty value
 * (an empty one also matches series without the key). */
static const ember_matcher_t *index_matcher(const ember_selector_t *sel) {
  for (size_t i = 0; i < sel->n; i++)
    if (sel->matchers[i].op == EMBER_MATCH_EQ && sel->matchers[i].value[0])
      return &sel->matchers[i];
  return NULL;
}

/* Sets out->all when the series selected are all the app has: seen of
 * them when every series was looked at (else 0: count them). */
static int matched_all(ember_conn_t *c, int64_t app_id, size_t seen, series_set_t *out,
                       ember_err_t *err) {
  if (!seen) {
    sqlite3_stmt *st;
    int rc = ember_conn_prepare(c, SQL_SERIES_COUNT, &st, err);
    if (rc != 0) return rc;
    sqlite3_bind_int64(st, 1, app_id);
    int step = sqlite3_step(st);
    seen = step == SQLITE_ROW ? (size_t)sqlite3_column_int64(st, 0) : 0;
    sqlite3_reset(st);
    if (step != SQLITE_ROW) return ember_conn_fail(c, err, "counting series");
  }
  out->all = out->n == seen;
  return 0;
}

/* The series of app_id matching sel, with their labels when keep_labels. */
static int select_series(ember_conn_t *c, int64_t app_id, const ember_selector_t *sel,
                         bool keep_labels, series_set_t *out, ember_err_t *err) {
  const ember_matcher_t *m = index_matcher(sel);
  sqlite3_stmt *st;
  int rc = ember_conn_prepare(c, m ? SQL_SERIES_BY_LABEL : SQL_SERIES_ALL, &st, err);
  if (rc != 0) return rc;
  sqlite3_bind_int64(st, 1, app_id);
  if (m) {
    sqlite3_bind_text(st, 2, m->key, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, m->value, -1, SQLITE_STATIC);
  }
  ember_series_key_t key = {0};
  int step = SQLITE_DONE;
  size_t seen = 0;
  while ((rc = ember_read_deadline(err)) == 0 &&
         (step = sqlite3_step(st)) == SQLITE_ROW) {
    seen++;
    int64_t id = sqlite3_column_int64(st, 0);
    const char *labels = (const char *)sqlite3_column_text(st, 1);
    size_t len = (size_t)sqlite3_column_bytes(st, 1);
    ember_err_t why;
    if ((rc = ember_series_key_parse_labels(labels ? labels : "", len, &key, &why))) {
      rc = ember_err_set(err, EMBER_EIO, "series %lld has damaged labels: %s",
                         (long long)id, why.msg);
      break;
    }
    if (!ember_selector_match(sel, key.labels, key.nlabels)) continue;
    ember_grow((void **)&out->ids, &out->cap, out->n + 1, sizeof *out->ids);
    out->ids[out->n] = id;
    if (keep_labels) {
      out->keys = ember_realloc(out->keys, out->cap * sizeof *out->keys);
      out->keys[out->n] = key;
      memset(&key, 0, sizeof key);
    }
    out->n++;
  }
  if (rc == 0 && step != SQLITE_DONE) rc = ember_conn_fail(c, err, "selecting series");
  sqlite3_reset(st);
  ember_series_key_free(&key);
  if (rc == 0 && out->n) rc = matched_all(c, app_id, m ? 0 : seen, out, err);
  return rc;
}

/* ---- Trees ------------------------------------------------------------- */

typedef struct {
  ember_conn_t *c;
  int64_t app_id, sid;
  uint64_t *acc; /* per stack id, the answer */
  size_t acc_cap;
  uint64_t *sacc; /* per stack id, this series (average apps only) */
  size_t sacc_cap;
  uint32_t *touched; /* ids set in sacc */
  size_t ntouched, touched_cap;
  uint64_t profiles; /* this series */
  bool average;
  ember_dict_t *d;
  uint32_t known; /* stack ids below this are in the dictionary */
  uint32_t need;  /* 1 + largest stack id seen */
  ember_take_t take;
} tree_ctx_t;

static void grow_zero(uint64_t **a, size_t *cap, size_t need) {
  size_t old = *cap;
  ember_grow((void **)a, cap, need, sizeof **a);
  if (*cap > old) memset(*a + old, 0, (*cap - old) * sizeof **a);
}

/* The error for a row that cannot be read: a deadline passed, or the row
 * is damaged (named, with what to do). */
static int row_failed(const tree_ctx_t *x, const ember_row_t *row, int rc,
                      const ember_err_t *why, ember_err_t *err) {
  if (rc == EMBER_ETIMEOUT) return ember_err_set(err, rc, "%s", why->msg);
  char where[160];
  if (row->app)
    snprintf(where, sizeof where, "app rollup row (app %lld, level %d, start %lld)",
             (long long)x->app_id, row->level, (long long)row->start);
  else
    ember_row_name(where, sizeof where, x->sid, row->level, row->start, row->seq);
  return ember_err_set(err, EMBER_EIO,
                       "%s is damaged (%s); restore the data directory from a "
                       "backup or delete the app",
                       where, why->msg);
}

/* Makes ids below need known to the dictionary (EMBER_EIO when the
 * snapshot has no such stack) before anything is sized by them: a damaged
 * id must give an error, not a giant allocation. */
static int know(tree_ctx_t *x, uint32_t need, ember_err_t *why) {
  if (need <= x->known) return 0;
  int rc = ember_dict_ensure(x->d, x->c, need, why);
  x->known = ember_dict_nstacks(x->d);
  return rc;
}

/* A bucket or rollup row of a sum app: its values go straight into the
 * answer as they are decoded, with no list of pairs in between. */
static int sum_row(tree_ctx_t *x, const ember_row_t *row, ember_err_t *err) {
  ember_seg_sum_t into = {x->acc, NULL, x->acc_cap < x->known ? x->acc_cap : x->known};
  ember_seg_summed_t got;
  ember_err_t why;
  int rc = ember_seg_sum(x->c->codec, row->blob, row->len, &into, &got, &why);
  /* Ids past the array: a stack the dictionary learnt since the read
   * began, or damage. */
  if (rc == 0 && got.nrest) rc = know(x, got.last + 1u, &why);
  if (rc == 0 && got.nrest) {
    grow_zero(&x->acc, &x->acc_cap, got.last + 1u);
    for (size_t i = 0; i < got.nrest; i++)
      x->acc[got.rest[i].stack] = ember_sat_add(x->acc[got.rest[i].stack], got.rest[i].value);
  }
  if (rc == 0 && got.total != row->total)
    rc = ember_err_set(&why, EMBER_EIO, "its values do not add up to its total");
  if (rc != 0) return row_failed(x, row, rc, &why, err);
  if (got.count && got.last >= x->need) x->need = got.last + 1;
  return 0;
}

static int tree_row(void *ctx, const ember_row_t *row, ember_err_t *err) {
  tree_ctx_t *x = ctx;
  if (row->seq >= 0 && !x->average) return sum_row(x, row, err);
  /* Span rows (their shares) and average apps (each series' own sum and
   * profile count) take the general way. */
  const ember_seg_pair_t *p;
  size_t n;
  uint64_t sum;
  int64_t profiles;
  ember_err_t why;
  int rc = ember_row_take(x->c->codec, row, &x->take, &p, &n, &sum, &profiles, &why);
  if (rc == 0 && n) rc = know(x, p[n - 1].stack + 1u, &why);
  if (rc != 0) return row_failed(x, row, rc, &why, err);
  x->profiles += profiles > 0 ? (uint64_t)profiles : 0;
  if (n && p[n - 1].stack >= x->need) x->need = p[n - 1].stack + 1;
  uint64_t **dst = x->average ? &x->sacc : &x->acc;
  size_t *cap = x->average ? &x->sacc_cap : &x->acc_cap;
  if (n) grow_zero(dst, cap, p[n - 1].stack + 1u);
  for (size_t i = 0; i < n; i++) {
    uint64_t *v = &(*dst)[p[i].stack];
    if (x->average && *v == 0) {
      ember_grow((void **)&x->touched, &x->touched_cap, x->ntouched + 1,
                 sizeof *x->touched);
      x->touched[x->ntouched++] = p[i].stack;
    }
    *v = ember_sat_add(*v, p[i].value);
  }
  return 0;
}

/* Adds this series' per-profile average into the answer. */
static void finish_series(tree_ctx_t *x) {
  uint64_t d = x->profiles ? x->profiles : 1;
  if (x->ntouched) grow_zero(&x->acc, &x->acc_cap, x->need);
  for (size_t i = 0; i < x->ntouched; i++) {
    uint32_t id = x->touched[i];
    uint64_t v = x->sacc[id];
    uint64_t avg = v / d + ((v % d) * 2 >= d ? 1 : 0);
    x->acc[id] = ember_sat_add(x->acc[id], avg);
    x->sacc[id] = 0;
  }
  x->ntouched = 0;
  x->profiles = 0;
}

/* Reads the buckets from the one holding from to the one holding until. */
static int read_series(tree_ctx_t *x, const series_set_t *set, int64_t from,
                       int64_t until, ember_err_t *err) {
  if (until < from) return 0;
  /* Far beyond any real time, and safe from overflow when aligned. */
  from = from < -EMBER_STORE_TIME_MAX ? -EMBER_STORE_TIME_MAX : from;
  until = until > EMBER_STORE_TIME_MAX ? EMBER_STORE_TIME_MAX : until;
  int64_t a = ember_store_floor(from, EMBER_STORE_BUCKET);
  int64_t b = ember_store_floor(until, EMBER_STORE_BUCKET) + EMBER_STORE_BUCKET;
  /* Every series of a sum app: the app rollups first, then each series for
   * what they leave. Average apps divide per series, which a sum over
   * series cannot do. */
  ember_period_t *done = NULL;
  size_t ndone = 0;
  int rc = 0;
  if (set->all && !x->average)
    rc = ember_read_app_cover(x->c, x->app_id, a, b, 1, EMBER_STORE_LEVELS - 1,
                              EMBER_READ_DATA, tree_row, x, &done, &ndone, err);
  for (size_t i = 0; rc == 0 && i < set->n; i++) {
    x->sid = set->ids[i];
    rc = ember_read_cover_gaps(x->c, x->sid, a, b, done, ndone, EMBER_STORE_LEVELS - 1,
                               EMBER_READ_DATA, tree_row, x, err);
    if (rc == 0 && x->average) finish_series(x);
  }
  free(done);
  return rc;
}

/* Sums what sel selects over [from, until] by stack id into x (x->acc up
 * to x->need, x->d referenced): the part every tree read shares. The
 * caller frees x's arrays and gives x->d back, whatever the outcome. */
static int read_sums(ember_store_reader_t *r, const ember_selector_t *sel, int64_t from,
                     int64_t until, tree_ctx_t *x, ember_err_t *err) {
  memset(x, 0, sizeof *x);
  x->c = r->c;
  series_set_t set = {0};
  ember_aggregation_t agg;
  int rc = find_app(x->c, sel->app, &x->app_id, &agg, err);
  if (rc == 0) rc = select_series(x->c, x->app_id, sel, false, &set, err);
  if (rc == 0) {
    x->average = agg == EMBER_AGG_AVERAGE;
    x->d = ember_dicts_get(r->s->dicts, x->app_id);
    x->known = ember_dict_nstacks(x->d);
    /* Sized once to the dictionary as it is; pages no stack touches are
     * never written. */
    if (!x->average && x->known) {
      x->acc = ember_calloc(x->known, sizeof *x->acc);
      x->acc_cap = x->known;
    }
    rc = read_series(x, &set, from, until, err);
  }
  set_free(&set);
  free(x->sacc);
  free(x->touched);
  free(x->take.pairs);
  x->sacc = NULL;
  x->touched = NULL;
  x->take.pairs = NULL;
  return rc;
}

int ember_sqlite_reader_tree(ember_store_reader_t *r, const ember_selector_t *sel,
                            int64_t from, int64_t until, ember_tree_t *t, int side,
                            ember_err_t *err) {
  if (!r || !sel || !sel->app || !t || side < 0 || side >= EMBER_TREE_SIDES)
    return ember_err_set(err, EMBER_EINVAL, "bad arguments to a tree read");
  tree_ctx_t x;
  int rc = read_sums(r, sel, from, until, &x, err);
  if (rc == 0 && x.need > 0) ember_dict_build_tree(x.d, x.acc, x.need, t, side);
  if (x.d) ember_dicts_put(r->s->dicts, x.d);
  free(x.acc);
  if (rc == 0 && r->s->after_tree) r->s->after_tree(r->s->after_tree_ctx);
  return rc;
}

int ember_sqlite_reader_sums(ember_store_reader_t *r, const ember_selector_t *sel,
                             int64_t from, int64_t until, ember_store_sums_t *sums,
                             int side, ember_err_t *err) {
  if (!r || !sel || !sel->app || !sums || side < 0 || side >= EMBER_TREE_SIDES)
    return ember_err_set(err, EMBER_EINVAL, "bad arguments to a tree read");
  tree_ctx_t x;
  int rc = read_sums(r, sel, from, until, &x, err);
  if (rc == 0 && x.d) {
    ember_sums_set(sums, side, r->s->dicts, x.d, x.acc, x.need);
  } else {
    if (x.d) ember_dicts_put(r->s->dicts, x.d);
    free(x.acc);
  }
  if (rc == 0 && r->s->after_tree) r->s->after_tree(r->s->after_tree_ctx);
  return rc;
}

/* ---- Timeline ---------------------------------------------------------- */

typedef struct {
  ember_conn_t *c;
  int64_t app_id, sid;
  int64_t start, step;
  int level; /* rows of this level lie inside one step */
  uint64_t *values;
  size_t n;
} timeline_ctx_t;

static void timeline_add(timeline_ctx_t *x, int64_t t, uint64_t v) {
  uint64_t i = (uint64_t)(t - x->start) / (uint64_t)x->step;
  if (t >= x->start && i < x->n) x->values[i] = ember_sat_add(x->values[i], v);
}

/* An app rollup one level above the steps: its ten parts, each inside one
 * step. */
static int timeline_parts(timeline_ctx_t *x, const ember_row_t *row, ember_err_t *err) {
  const uint8_t *p = row->parts, *end = p + row->parts_len;
  int64_t w = ember_store_width[row->level - 1];
  uint64_t sum = 0, v;
  uint64_t part[10];
  for (int i = 0; i < 10; i++) {
    if (ember_varint_get(&p, end, &v) != 0) break;
    part[i] = v;
    sum = ember_sat_add(sum, v);
    if (i == 9 && p == end && sum == row->total) {
      for (int k = 0; k < 10; k++) timeline_add(x, row->start + k * w, part[k]);
      return 0;
    }
  }
  return ember_err_set(err, EMBER_EIO,
                       "app rollup row (app %lld, level %d, start %lld) is damaged (its "
                       "parts do not add up to its total); restore the data directory "
                       "from a backup or delete the app",
                       (long long)x->app_id, row->level, (long long)row->start);
}

static int timeline_row(void *ctx, const ember_row_t *row, ember_err_t *err) {
  timeline_ctx_t *x = ctx;
  if (row->app && row->level > x->level) return timeline_parts(x, row, err);
  if (row->seq >= 0) {
    timeline_add(x, row->start, row->total);
    return 0;
  }
  /* A span row: its taken buckets, each with its own total. */
  ember_place_t p;
  const uint64_t *totals;
  ember_err_t why;
  if (ember_span_open(x->c->codec, row, &p, &totals, &why) != 0) {
    char where[160];
    ember_row_name(where, sizeof where, x->sid, row->level, row->start, row->seq);
    return ember_err_set(err, EMBER_EIO,
                         "%s is damaged (%s); restore the data directory from a "
                         "backup or delete the app",
                         where, why.msg);
  }
  for (size_t r = 0; r < row->nranges; r++)
    for (uint32_t i = row->ranges[r].lo; i < row->ranges[r].hi; i++)
      timeline_add(x, p.first + (int64_t)i * EMBER_STORE_BUCKET,
                   totals ? totals[i] : row->total);
  return 0;
}

/* The coarsest level whose rows each fall inside one step. */
static int timeline_level(int64_t start, int64_t step) {
  int l = EMBER_STORE_LEVELS - 1;
  while (l > 0 && (step % ember_store_width[l] != 0 ||
                   ember_store_floor(start, ember_store_width[l]) != start))
    l--;
  return l;
}

int ember_sqlite_reader_timeline(ember_store_reader_t *r, const ember_selector_t *sel,
                                int64_t start, int64_t step, uint64_t *values, size_t n,
                                ember_err_t *err) {
  if (values && n) memset(values, 0, n * sizeof *values);
  if (!r || !sel || !sel->app || (n && !values))
    return ember_err_set(err, EMBER_EINVAL, "bad arguments to a timeline read");
  if (step <= 0 || step % EMBER_STORE_BUCKET != 0)
    return ember_err_set(err, EMBER_EINVAL,
                         "timeline step %lld is not a positive multiple of %d seconds",
                         (long long)step, EMBER_STORE_BUCKET);
  if (n > (uint64_t)(INT64_MAX / 4) / (uint64_t)step || start > INT64_MAX / 2 ||
      start < INT64_MIN / 2)
    return ember_err_set(err, EMBER_EINVAL, "timeline range is too large");
  int64_t a = ceil_to(start, EMBER_STORE_BUCKET);
  int64_t b = ceil_to(start + (int64_t)n * step, EMBER_STORE_BUCKET);
  int level = timeline_level(start, step);
  timeline_ctx_t x = {r->c, 0, 0, start, step, level, values, n};
  series_set_t set = {0};
  int rc = find_app(r->c, sel->app, &x.app_id, NULL, err);
  if (rc == 0) rc = select_series(r->c, x.app_id, sel, false, &set, err);
  /* Every series: app rollups of the steps' level, and of the level
   * above, whose parts fall inside one step each. Timelines sum for both
   * aggregations; average apps simply have no app rollups. */
  ember_period_t *done = NULL;
  size_t ndone = 0;
  if (rc == 0 && set.all)
    rc = ember_read_app_cover(r->c, x.app_id, a, b, level,
                              level + 1 < EMBER_STORE_LEVELS ? level + 1 : level,
                              EMBER_READ_TOTALS, timeline_row, &x, &done, &ndone, err);
  for (size_t i = 0; rc == 0 && i < set.n; i++) {
    x.sid = set.ids[i];
    rc = ember_read_cover_gaps(r->c, set.ids[i], a, b, done, ndone, level,
                               EMBER_READ_TOTALS, timeline_row, &x, err);
  }
  free(done);
  set_free(&set);
  if (rc != 0 && values && n) memset(values, 0, n * sizeof *values);
  return rc;
}

/* ---- Labels ------------------------------------------------------------ */

/* Runs a one-column query (?1 app id, ?2 key when given) into l. */
static int list_query(ember_conn_t *c, const char *sql, int64_t app_id, const char *key,
                      ember_strlist_t *l, size_t *cap, ember_err_t *err) {
  sqlite3_stmt *st;
  int rc = ember_conn_prepare(c, sql, &st, err), step;
  if (rc != 0) return rc;
  sqlite3_bind_int64(st, 1, app_id);
  if (key) sqlite3_bind_text(st, 2, key, -1, SQLITE_STATIC);
  while ((step = sqlite3_step(st)) == SQLITE_ROW) {
    const char *v = (const char *)sqlite3_column_text(st, 0);
    if (v && (key || strcmp(v, EMBER_NAME_LABEL) != 0)) ember_strlist_add(l, cap, v);
  }
  if (step != SQLITE_DONE) rc = ember_conn_fail(c, err, "listing labels");
  sqlite3_reset(st);
  return rc;
}

/* Keys (key == NULL) or values of key over the series matching sel. An
 * unknown app has no labels: an empty list, not an error. */
static int labels(ember_store_reader_t *r, const ember_selector_t *sel, const char *key,
                  ember_strlist_t *out, ember_err_t *err) {
  if (!r || !sel || !sel->app || !out)
    return ember_err_set(err, EMBER_EINVAL, "bad arguments to a label read");
  ember_strlist_t l = {0};
  size_t cap = 0;
  series_set_t set = {0};
  int64_t app_id;
  int rc = find_app(r->c, sel->app, &app_id, NULL, err);
  if (rc == EMBER_ENOTFOUND) {
    rc = 0;
    goto done;
  }
  if (rc != 0) goto done;
  if (sel->n == 0) {
    rc =
        list_query(r->c, key ? SQL_VALUES_ALL : SQL_KEYS_ALL, app_id, key, &l, &cap, err);
    goto done;
  }
  if ((rc = select_series(r->c, app_id, sel, true, &set, err)) != 0) goto done;
  ember_strlist_of_series(&l, &cap, set.keys, set.n, key);
done:
  set_free(&set);
  if (rc == 0) *out = l;
  else ember_strlist_free(&l);
  return rc;
}

int ember_sqlite_reader_label_keys(ember_store_reader_t *r, const ember_selector_t *sel,
                                  ember_strlist_t *out, ember_err_t *err) {
  return labels(r, sel, NULL, out, err);
}

int ember_sqlite_reader_label_values(ember_store_reader_t *r, const ember_selector_t *sel,
                                    const char *key, ember_strlist_t *out,
                                    ember_err_t *err) {
  if (!key) return ember_err_set(err, EMBER_EINVAL, "no label name given");
  return labels(r, sel, key, out, err);
}

/* ---- Apps -------------------------------------------------------------- */

static void app_from_row(sqlite3_stmt *st, ember_app_info_t *a) {
  const char *name = (const char *)sqlite3_column_text(st, 0);
  const char *spy = (const char *)sqlite3_column_text(st, 1);
  const char *units = (const char *)sqlite3_column_text(st, 3);
  a->name = ember_strdup(name ? name : "");
  a->spy_name = ember_strdup(spy ? spy : "unknown");
  a->sample_rate = (uint32_t)sqlite3_column_int64(st, 2);
  a->units = ember_strdup(units ? units : "samples");
  a->aggregation = sqlite3_column_int(st, 4) == EMBER_AGG_AVERAGE ? EMBER_AGG_AVERAGE
                                                                  : EMBER_AGG_SUM;
}

int ember_sqlite_reader_apps(ember_store_reader_t *r, ember_app_info_t **apps, size_t *n,
                            ember_err_t *err) {
  if (!r || !apps || !n) return ember_err_set(err, EMBER_EINVAL, "bad arguments");
  ember_app_info_t *list = NULL;
  size_t count = 0, cap = 0;
  sqlite3_stmt *st;
  int rc = ember_conn_prepare(r->c, SQL_APPS, &st, err), step = SQLITE_DONE;
  if (rc == 0) {
    while ((rc = ember_read_deadline(err)) == 0 &&
           (step = sqlite3_step(st)) == SQLITE_ROW) {
      ember_grow((void **)&list, &cap, count + 1, sizeof *list);
      app_from_row(st, &list[count++]);
    }
    if (rc == 0 && step != SQLITE_DONE) rc = ember_conn_fail(r->c, err, "listing apps");
    sqlite3_reset(st);
  }
  if (rc != 0) {
    for (size_t i = 0; i < count; i++) ember_app_info_free(&list[i]);
    free(list);
    return rc;
  }
  *apps = list;
  *n = count;
  return 0;
}

int ember_sqlite_reader_app(ember_store_reader_t *r, const char *app,
                           ember_app_info_t *out, ember_err_t *err) {
  if (!r || !app || !out) return ember_err_set(err, EMBER_EINVAL, "bad arguments");
  sqlite3_stmt *st;
  int rc = ember_conn_prepare(r->c, SQL_APP_INFO, &st, err);
  if (rc != 0) return rc;
  sqlite3_bind_text(st, 1, app, -1, SQLITE_STATIC);
  int step = sqlite3_step(st);
  if (step == SQLITE_ROW)
    app_from_row(st, out);
  else if (step == SQLITE_DONE)
    rc = ember_err_set(err, EMBER_ENOTFOUND,
                       "there is no app named '%s'; GET /api/apps lists them", app);
  else
    rc = ember_conn_fail(r->c, err, "reading an app");
  sqlite3_reset(st);
  return rc;
}
