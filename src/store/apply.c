/*
 * apply.c - what one queued request does inside the writer's transaction:
 * register the app and series, map the profile's stacks to dictionary ids,
 * place its samples in 10 s buckets and append one segment row for them.
 * Also the deletion of an app. Runs only on the writer thread (writer.c
 * wraps each job in a SAVEPOINT, so an error here undoes the whole job).
 *
 * Time placement (docs/storage.md, "Time placement"):
 *  - until - from <= 10 s: the whole profile goes to the bucket holding its
 *    midpoint, so an agent's 10 s push makes exactly one row;
 *  - up to 1 hour: split over the buckets it overlaps, each value in
 *    proportion to the overlap, by cumulative rounding, so the parts of every
 *    stack add up exactly to its value;
 *  - longer: stored whole in the bucket where it starts (spreading days of
 *    samples over thousands of rows would cost more than it tells);
 *  - average-aggregated apps (gauges such as in-use memory) are not split:
 *    each overlapped bucket gets the whole value, counted as one profile, so
 *    the average over any window stays the value the agent reported.
 *
 * Limits, each refused with EMBER_ELIMIT before anything of the request is
 * kept (the job's savepoint undoes what was done): apps in all
 * (max_apps), series per app (max_series_per_app) and new stacks per
 * request (max_new_stacks, counted over all its profiles).
 *
 * A profile placed in one bucket is written as a bucket row. One placed in
 * several is written once, as a span row (store_int.h) carrying its
 * placement and per-bucket totals; reads apportion it exactly as the
 * per-bucket rows would have held it, so its disk cost follows its size,
 * not its duration.
 *
 * Every level-0 row written deletes the rollup rows that cover its buckets
 * and queues their 100 s periods for rebuilding (compact.c), which keeps
 * compact.c's invariant: a rollup row always equals the sum of what lies
 * below it.
 */
#include "store/store_int.h"

#include <stdlib.h>
#include <string.h>

/* ---- SQL --------------------------------------------------------------- */

static const char SQL_APP_GET[] =
    "SELECT id, spy_name, units, sample_rate, aggregation FROM apps WHERE name=?1";
static const char SQL_APP_ADD[] =
    "INSERT INTO app_rows(name, spy_name, units, sample_rate, aggregation) "
    "VALUES(?1, ?2, ?3, ?4, ?5)";
static const char SQL_APP_SET[] =
    "UPDATE app_rows SET spy_name=?2, units=?3, sample_rate=?4, aggregation=?5 "
    "WHERE id=?1";
static const char SQL_APP_COUNT[] = "SELECT COUNT(*) FROM apps";
static const char SQL_SERIES_GET[] =
    "SELECT id FROM series WHERE app_id=?1 AND labels=?2";
static const char SQL_SERIES_COUNT[] = "SELECT COUNT(*) FROM series WHERE app_id=?1";
static const char SQL_SERIES_ADD[] = "INSERT INTO series(app_id, labels) VALUES(?1, ?2)";
static const char SQL_LABEL_ADD[] =
    "INSERT INTO series_labels(app_id, key, value, series_id) VALUES(?1, ?2, ?3, ?4)";
static const char SQL_NEXT_SEQ[] =
    "SELECT COALESCE(MAX(seq) + 1, 0) FROM segments "
    "WHERE series_id=?1 AND level=0 AND start=?2 AND seq>=0";
static const char SQL_ROW_ADD[] =
    "INSERT INTO segments(series_id, level, start, seq, total, profiles, data) "
    "VALUES(?1, 0, ?2, ?3, ?4, ?5, ?6)";
static const char SQL_NEXT_SPAN_SEQ[] =
    "SELECT COALESCE(MIN(seq), 0) - 1 FROM segments "
    "WHERE series_id=?1 AND level=0 AND start=?2 AND seq<0";
static const char SQL_SPAN_ADD[] =
    "INSERT INTO segments(series_id, level, start, seq, total, profiles, data, "
    "span_start) VALUES(?1, 0, ?2, ?3, ?4, 1, ?5, ?6)";
static const char SQL_ROLLUP_DROP[] =
    "DELETE FROM segments WHERE series_id=?1 AND level=?2 AND start=?3";
static const char SQL_APP_ROLLUP_DROP[] =
    "DELETE FROM app_segments WHERE app_id=?1 AND level=?2 AND start=?3";
static const char SQL_TODO_ADD[] =
    "INSERT OR IGNORE INTO rollup_todo(level, start, series_id) VALUES(?1, ?2, ?3)";

/* ---- Time placement ---------------------------------------------------- */

int ember_place_plan(int64_t from, int64_t until, ember_aggregation_t agg,
                     ember_place_t *p, ember_err_t *err) {
  if (until < from)
    return ember_err_set(err, EMBER_EINVAL,
                         "profile ends (%lld) before it starts (%lld); send "
                         "until >= from",
                         (long long)until, (long long)from);
  if (from < -EMBER_STORE_TIME_MAX || until > EMBER_STORE_TIME_MAX)
    return ember_err_set(err, EMBER_EINVAL,
                         "profile time %lld is out of range; send Unix seconds",
                         (long long)(from < 0 ? from : until));
  uint64_t span = (uint64_t)until - (uint64_t)from;
  const int64_t w = EMBER_STORE_BUCKET;
  memset(p, 0, offsetof(ember_place_t, cum));
  p->n = 1;
  if (span <= (uint64_t)w) {
    p->first = ember_store_floor(from + (int64_t)(span / 2), w);
    p->replicate = true;
    return 0;
  }
  if (span > EMBER_STORE_SPLIT_MAX) {
    p->first = ember_store_floor(from, w);
    p->replicate = true;
    return 0;
  }
  p->first = ember_store_floor(from, w);
  p->n = (size_t)((ember_store_floor(until - 1, w) - p->first) / w + 1);
  p->span = span;
  p->replicate = agg == EMBER_AGG_AVERAGE;
  /* cum[i]: seconds of [from, until) that fall in buckets 0..i. */
  for (size_t i = 0; i < p->n; i++) {
    int64_t end = p->first + (int64_t)(i + 1) * w;
    p->cum[i] = (uint32_t)((end < until ? end : until) - from);
  }
  return 0;
}

/* floor(v * c / d) without overflow, for c <= d <= EMBER_STORE_SPLIT_MAX. */
static uint64_t mul_div(uint64_t v, uint64_t c, uint64_t d) {
  return (v / d) * c + (v % d) * c / d;
}

uint64_t ember_place_share(const ember_place_t *p, size_t i, uint64_t v) {
  return ember_place_share_range(p, i, i + 1, v);
}

uint64_t ember_place_share_range(const ember_place_t *p, size_t lo, size_t hi,
                                 uint64_t v) {
  if (hi <= lo) return 0;
  if (p->replicate) return v > UINT64_MAX / (hi - lo) ? UINT64_MAX : v * (hi - lo);
  /* The shares of buckets lo..hi-1 telescope to a difference of two
   * cumulative floors. */
  uint64_t before = lo ? mul_div(v, p->cum[lo - 1], p->span) : 0;
  return mul_div(v, p->cum[hi - 1], p->span) - before;
}

/* totals[i] = the sum over pairs of ember_place_share(p, i, value),
 * saturating as a sum of the values of one row per bucket would. With
 * v = q * span + r, floor(v * C / span) = q * C + floor(r * C / span), so
 * grouping the pairs by r (below span <= EMBER_STORE_SPLIT_MAX) costs
 * O(buckets * span) however many pairs there are. Only when the values'
 * sum overflows, and sums saturate, does it take every share one by one. */
static void span_totals(const ember_place_t *p, const ember_seg_pair_t *pairs, size_t n,
                        uint64_t *totals) {
  uint64_t q = 0, sum = 0;
  bool exact = true;
  uint64_t *count = ember_calloc((size_t)p->span, sizeof *count);
  for (size_t k = 0; k < n; k++) {
    exact = exact && pairs[k].value <= UINT64_MAX - sum;
    sum += pairs[k].value;
    q += pairs[k].value / p->span;
    count[pairs[k].value % p->span]++;
  }
  uint64_t prev = 0;
  for (size_t i = 0; exact && i < p->n; i++) {
    /* F(C_i): no term passes the exact sum, so nothing overflows. */
    uint64_t f = q * p->cum[i];
    for (uint64_t r = 1; r < p->span; r++)
      if (count[r]) f += count[r] * (r * p->cum[i] / p->span);
    totals[i] = f - prev;
    prev = f;
  }
  for (size_t i = 0; !exact && i < p->n; i++) {
    totals[i] = 0;
    for (size_t k = 0; k < n; k++)
      totals[i] = ember_sat_add(totals[i], ember_place_share(p, i, pairs[k].value));
  }
  free(count);
}

/* ---- Apps and series --------------------------------------------------- */

/* What one job has used of the store's limits. Counts are read once per
 * job (on the first new app or series) and then kept up to date, so a
 * request creating many series costs one count, not one per series. They
 * are valid for the job only: its savepoint may undo what it counted. */
typedef struct {
  int64_t app_id;
  int64_t nseries;
} series_count_t;

typedef struct {
  int64_t napps; /* -1 until counted */
  series_count_t *series;
  size_t nseries, series_cap;
  size_t new_stacks; /* added by the request so far */
} quota_t;

/* Runs a COUNT(*) query; app_id > 0 is bound as its ?1. */
static int count_rows(ember_conn_t *c, const char *sql, int64_t app_id, int64_t *out,
                      ember_err_t *err) {
  sqlite3_stmt *st;
  int rc = ember_conn_prepare(c, sql, &st, err);
  if (rc != 0) return rc;
  if (app_id > 0) sqlite3_bind_int64(st, 1, app_id);
  if (sqlite3_step(st) == SQLITE_ROW)
    *out = sqlite3_column_int64(st, 0);
  else
    rc = ember_conn_fail(c, err, "counting against a limit");
  sqlite3_reset(st);
  return rc;
}

/* Room for one more app, or EMBER_ELIMIT. */
static int room_for_app(ember_store_t *s, quota_t *q, const char *app, ember_err_t *err) {
  int rc = q->napps < 0 ? count_rows(s->wconn, SQL_APP_COUNT, 0, &q->napps, err) : 0;
  if (rc != 0) return rc;
  if ((uint64_t)q->napps >= s->max_apps)
    return ember_err_set(err, EMBER_ELIMIT,
                         "cannot create app '%s': the server holds %lld apps, its "
                         "limit (--max-apps %zu); delete apps that are no longer "
                         "used (DELETE /api/apps) or raise the limit",
                         app, (long long)q->napps, s->max_apps);
  q->napps++;
  return 0;
}

/* Room for one more series of app_id, or EMBER_ELIMIT. */
static int room_for_series(ember_store_t *s, quota_t *q, int64_t app_id, const char *app,
                           ember_err_t *err) {
  series_count_t *e = NULL;
  for (size_t i = 0; i < q->nseries && !e; i++)
    if (q->series[i].app_id == app_id) e = &q->series[i];
  if (!e) {
    int64_t n = 0;
    int rc = count_rows(s->wconn, SQL_SERIES_COUNT, app_id, &n, err);
    if (rc != 0) return rc;
    ember_grow((void **)&q->series, &q->series_cap, q->nseries + 1, sizeof *q->series);
    e = &q->series[q->nseries++];
    *e = (series_count_t){app_id, n};
  }
  if ((uint64_t)e->nseries >= s->max_series_per_app)
    return ember_err_set(err, EMBER_ELIMIT,
                         "cannot create another series of app '%s': it has %lld, "
                         "the limit (--max-series-per-app %zu); each distinct set "
                         "of labels is a series, so drop labels with many values "
                         "(request ids, timestamps) or raise the limit",
                         app, (long long)e->nseries, s->max_series_per_app);
  e->nseries++;
  return 0;
}

static const char *or_default(const char *s, const char *d) {
  return s && *s ? s : d;
}

static int step_done(ember_conn_t *c, sqlite3_stmt *st, const char *what,
                     ember_err_t *err) {
  int rc = sqlite3_step(st) == SQLITE_DONE ? 0 : ember_conn_fail(c, err, what);
  sqlite3_reset(st);
  return rc;
}

static bool text_is(sqlite3_stmt *st, int col, const char *s) {
  const char *t = (const char *)sqlite3_column_text(st, col);
  return t && strcmp(t, s) == 0;
}

/* Finds or creates p's app and brings its metadata up to date with p (the
 * latest push wins). */
static int upsert_app(ember_store_t *s, quota_t *q, const ember_profile_t *p,
                      int64_t *app_id, ember_err_t *err) {
  ember_conn_t *c = s->wconn;
  const char *spy = or_default(p->spy_name, "unknown");
  const char *units = or_default(p->units, "samples");
  sqlite3_stmt *st;
  int rc = ember_conn_prepare(c, SQL_APP_GET, &st, err);
  if (rc != 0) return rc;
  sqlite3_bind_text(st, 1, p->key.app, -1, SQLITE_STATIC);
  int step = sqlite3_step(st);
  int64_t id = step == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
  bool same = step == SQLITE_ROW && text_is(st, 1, spy) && text_is(st, 2, units) &&
              sqlite3_column_int64(st, 3) == p->sample_rate &&
              sqlite3_column_int64(st, 4) == (int64_t)p->aggregation;
  sqlite3_reset(st);
  if (step != SQLITE_ROW && step != SQLITE_DONE)
    return ember_conn_fail(c, err, "looking up an app");
  if (same) {
    *app_id = id;
    return 0;
  }
  if (!id && (rc = room_for_app(s, q, p->key.app, err)) != 0) return rc;
  if ((rc = ember_conn_prepare(c, id ? SQL_APP_SET : SQL_APP_ADD, &st, err)) != 0)
    return rc;
  if (id) sqlite3_bind_int64(st, 1, id);
  else sqlite3_bind_text(st, 1, p->key.app, -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 2, spy, -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 3, units, -1, SQLITE_STATIC);
  sqlite3_bind_int64(st, 4, p->sample_rate);
  sqlite3_bind_int64(st, 5, (int64_t)p->aggregation);
  if ((rc = step_done(c, st, "saving an app", err)) != 0) return rc;
  *app_id = id ? id : sqlite3_last_insert_rowid(c->db);
  return 0;
}

static int add_labels(ember_conn_t *c, int64_t app_id, int64_t series_id,
                      const ember_series_key_t *k, ember_err_t *err) {
  for (size_t i = 0; i < k->nlabels; i++) {
    sqlite3_stmt *st;
    int rc = ember_conn_prepare(c, SQL_LABEL_ADD, &st, err);
    if (rc != 0) return rc;
    sqlite3_bind_int64(st, 1, app_id);
    sqlite3_bind_text(st, 2, k->labels[i].key, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, k->labels[i].value, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 4, series_id);
    if ((rc = step_done(c, st, "saving a series label", err)) != 0) return rc;
  }
  return 0;
}

/* Finds or creates the series (app, canonical labels). */
static int upsert_series(ember_store_t *s, quota_t *q, int64_t app_id,
                         const ember_series_key_t *k, int64_t *series_id,
                         ember_err_t *err) {
  ember_conn_t *c = s->wconn;
  ember_buf_t labels = EMBER_BUF_INIT;
  ember_series_key_labels(k, &labels);
  sqlite3_stmt *st;
  int rc = ember_conn_prepare(c, SQL_SERIES_GET, &st, err);
  if (rc != 0) goto done;
  sqlite3_bind_int64(st, 1, app_id);
  sqlite3_bind_text(st, 2, labels.data, (int)labels.len, SQLITE_STATIC);
  int step = sqlite3_step(st);
  int64_t id = step == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
  sqlite3_reset(st);
  if (step != SQLITE_ROW && step != SQLITE_DONE) {
    rc = ember_conn_fail(c, err, "looking up a series");
    goto done;
  }
  if (!id) {
    if ((rc = room_for_series(s, q, app_id, k->app, err)) != 0) goto done;
    if ((rc = ember_conn_prepare(c, SQL_SERIES_ADD, &st, err)) != 0) goto done;
    sqlite3_bind_int64(st, 1, app_id);
    sqlite3_bind_text(st, 2, labels.data, (int)labels.len, SQLITE_STATIC);
    if ((rc = step_done(c, st, "saving a series", err)) != 0) goto done;
    id = sqlite3_last_insert_rowid(c->db);
    if ((rc = add_labels(c, app_id, id, k, err)) != 0) goto done;
  }
  *series_id = id;
done:
  ember_buf_free(&labels);
  return rc;
}

/* ---- Segment rows ------------------------------------------------------ */

/* Drops the rollups covering the buckets in [start, end), the series' and
 * the app's, and queues the series' 100 s periods for rebuilding (the
 * compactor cascades to the coarser levels, and lists the app's periods as
 * it rebuilds the series'). */
static int invalidate(ember_conn_t *c, int64_t app_id, int64_t series_id, int64_t start,
                      int64_t end, ember_err_t *err) {
  sqlite3_stmt *st;
  int rc;
  for (int l = 1; l < EMBER_STORE_LEVELS; l++) {
    int64_t w = ember_store_width[l];
    for (int64_t p = ember_store_floor(start, w); p < end; p += w) {
      for (int app = 0; app < 2; app++) {
        if ((rc = ember_conn_prepare(c, app ? SQL_APP_ROLLUP_DROP : SQL_ROLLUP_DROP, &st,
                                     err)) != 0)
          return rc;
        sqlite3_bind_int64(st, 1, app ? app_id : series_id);
        sqlite3_bind_int(st, 2, l);
        sqlite3_bind_int64(st, 3, p);
        if ((rc = step_done(c, st, "dropping a stale rollup", err)) != 0) return rc;
      }
    }
  }
  int64_t w = ember_store_width[1];
  for (int64_t p = ember_store_floor(start, w); p < end; p += w) {
    if ((rc = ember_conn_prepare(c, SQL_TODO_ADD, &st, err)) != 0) return rc;
    sqlite3_bind_int(st, 1, 1);
    sqlite3_bind_int64(st, 2, p);
    sqlite3_bind_int64(st, 3, series_id);
    if ((rc = step_done(c, st, "queueing a rollup", err)) != 0) return rc;
  }
  return 0;
}

/* The next seq of key (series_id, level 0, start), as sql computes it. */
static int next_seq(ember_conn_t *c, const char *sql, int64_t series_id, int64_t start,
                    int64_t *seq, ember_err_t *err) {
  sqlite3_stmt *st;
  int rc = ember_conn_prepare(c, sql, &st, err);
  if (rc != 0) return rc;
  sqlite3_bind_int64(st, 1, series_id);
  sqlite3_bind_int64(st, 2, start);
  int step = sqlite3_step(st);
  if (step == SQLITE_ROW) *seq = sqlite3_column_int64(st, 0);
  sqlite3_reset(st);
  return step == SQLITE_ROW ? 0 : ember_conn_fail(c, err, "numbering a segment row");
}

/* Appends one level-0 row (next seq of its bucket) holding pairs. */
static int add_row(ember_conn_t *c, int64_t app_id, int64_t series_id, int64_t start,
                   const ember_seg_pair_t *pairs, size_t n, ember_buf_t *blob,
                   ember_err_t *err) {
  uint64_t total = 0;
  for (size_t i = 0; i < n; i++) total = ember_sat_add(total, pairs[i].value);
  ember_buf_reset(blob);
  int rc = ember_seg_encode(c->codec, pairs, n, blob, err);
  sqlite3_stmt *st;
  int64_t seq = 0;
  if (rc != 0 || (rc = next_seq(c, SQL_NEXT_SEQ, series_id, start, &seq, err)) != 0)
    return rc;
  if ((rc = ember_conn_prepare(c, SQL_ROW_ADD, &st, err)) != 0) return rc;
  sqlite3_bind_int64(st, 1, series_id);
  sqlite3_bind_int64(st, 2, start);
  sqlite3_bind_int64(st, 3, seq);
  sqlite3_bind_int64(st, 4, ember_u2i(total));
  sqlite3_bind_int64(st, 5, 1);
  sqlite3_bind_blob(st, 6, blob->data, (int)blob->len, SQLITE_STATIC);
  if ((rc = step_done(c, st, "writing a segment row", err)) != 0) return rc;
  return invalidate(c, app_id, series_id, start, start + EMBER_STORE_BUCKET, err);
}

/* Appends one span row holding pairs placed by pl (pl->n >= 2). */
static int add_span(ember_conn_t *c, int64_t app_id, int64_t series_id,
                    const ember_place_t *pl,
                    int64_t from, const ember_seg_pair_t *pairs, size_t n,
                    ember_buf_t *blob, ember_err_t *err) {
  uint64_t total = 0, *totals = NULL;
  for (size_t i = 0; i < n; i++)
    total = ember_sat_add(total, pairs[i].value);
  if (!pl->replicate) {
    totals = ember_malloc(pl->n * sizeof *totals);
    span_totals(pl, pairs, n, totals);
  }
  ember_seg_span_t h = {(uint32_t)(from - pl->first), (uint32_t)pl->span, pl->replicate,
                        pl->n, totals};
  int64_t last = pl->first + (int64_t)(pl->n - 1) * EMBER_STORE_BUCKET, seq = 0;
  ember_buf_reset(blob);
  int rc = ember_seg_encode_span(c->codec, &h, pairs, n, blob, err);
  sqlite3_stmt *st;
  if (rc == 0) rc = next_seq(c, SQL_NEXT_SPAN_SEQ, series_id, last, &seq, err);
  if (rc == 0 && seq >= 0) /* only after 2^63 span rows in one bucket */
    rc = ember_err_set(err, EMBER_EIO,
                       "bucket %lld of series %lld holds too many span rows; the "
                       "database is damaged",
                       (long long)last, (long long)series_id);
  if (rc == 0) rc = ember_conn_prepare(c, SQL_SPAN_ADD, &st, err);
  if (rc == 0) {
    sqlite3_bind_int64(st, 1, series_id);
    sqlite3_bind_int64(st, 2, last);
    sqlite3_bind_int64(st, 3, seq);
    sqlite3_bind_int64(st, 4, ember_u2i(total));
    sqlite3_bind_blob(st, 5, blob->data, (int)blob->len, SQLITE_STATIC);
    sqlite3_bind_int64(st, 6, pl->first);
    rc = step_done(c, st, "writing a span row", err);
  }
  if (rc == 0)
    rc = invalidate(c, app_id, series_id, pl->first, last + EMBER_STORE_BUCKET, err);
  free(totals);
  return rc;
}

static int cmp_pairs(const void *a, const void *b) {
  const ember_seg_pair_t *x = a, *y = b;
  return x->stack < y->stack ? -1 : x->stack > y->stack;
}

/* The pairs of a tree: one per node with a value. */
static int tree_pairs(ember_store_t *s, ember_dict_t *d, size_t max_new,
                      const ember_tree_t *t, ember_seg_pair_t *pairs, size_t *n,
                      size_t *added, ember_err_t *err) {
  size_t nn = ember_tree_count(t);
  uint32_t *stack_of = ember_malloc(nn * sizeof *stack_of);
  int rc = ember_dict_map_tree(d, s->wconn, t, max_new, stack_of, added, err);
  for (uint32_t id = 0; rc == 0 && id < nn; id++) {
    uint64_t v = ember_tree_node(t, id)->self[0];
    if (v && stack_of[id] != UINT32_MAX) pairs[(*n)++] = (ember_seg_pair_t){stack_of[id], v};
  }
  free(stack_of);
  return rc;
}

/* Sorts pairs by stack: a radix sort, a byte of the id per pass, skipping
 * the bytes all ids share (an app's ids mostly fit two), since a push's
 * pairs are sorted on every write. */
static void radix_pairs(ember_seg_pair_t *pairs, size_t n) {
  if (n < 64) {
    qsort(pairs, n, sizeof *pairs, cmp_pairs);
    return;
  }
  ember_seg_pair_t *tmp = ember_malloc(n * sizeof *tmp), *from = pairs, *to = tmp;
  uint32_t all_or = 0, all_and = UINT32_MAX;
  for (size_t i = 0; i < n; i++) all_or |= pairs[i].stack, all_and &= pairs[i].stack;
  for (int shift = 0; shift < 32; shift += 8) {
    if ((((all_or ^ all_and) >> shift) & 0xff) == 0) continue; /* one value */
    size_t count[257] = {0};
    for (size_t i = 0; i < n; i++) count[((from[i].stack >> shift) & 0xff) + 1]++;
    for (int b = 0; b < 256; b++) count[b + 1] += count[b];
    for (size_t i = 0; i < n; i++) to[count[(from[i].stack >> shift) & 0xff]++] = from[i];
    ember_seg_pair_t *t = from;
    from = to;
    to = t;
  }
  if (from != pairs) memcpy(pairs, from, n * sizeof *pairs);
  free(tmp);
}

/* Sorts pairs by stack and sums those of one stack (distinct texts may
 * name one), dropping zeros; returns how many are left. */
static size_t sort_pairs(ember_seg_pair_t *pairs, size_t n) {
  radix_pairs(pairs, n);
  size_t out = 0;
  for (size_t i = 0; i < n; i++) {
    if (!pairs[i].value) continue;
    if (out && pairs[out - 1].stack == pairs[i].stack)
      pairs[out - 1].value = ember_sat_add(pairs[out - 1].value, pairs[i].value);
    else
      pairs[out++] = pairs[i];
  }
  return out;
}

/* The profile's (stack id, self value) pairs, sorted. Caller frees. */
static int profile_pairs(ember_store_t *s, quota_t *q, int64_t app_id,
                         const ember_profile_t *p, ember_seg_pair_t **out, size_t *nout,
                         ember_err_t *err) {
  size_t cap = p->stacks ? p->stacks->n : ember_tree_count(p->tree), n = 0, added = 0;
  size_t max_new = s->max_new_stacks - q->new_stacks;
  ember_seg_pair_t *pairs = ember_malloc((cap ? cap : 1) * sizeof *pairs);
  ember_dict_t *d = ember_dicts_get(s->dicts, app_id);
  int rc;
  if (p->stacks) {
    rc = ember_dict_map_text(d, s->wconn, p->stacks, max_new, pairs, &added, err);
    n = cap;
  } else {
    rc = tree_pairs(s, d, max_new, p->tree, pairs, &n, &added, err);
  }
  ember_dicts_put(s->dicts, d);
  q->new_stacks += added;
  if (rc == EMBER_ELIMIT)
    ember_err_set(err, rc,
                  "the push adds more than %zu new distinct stacks to app '%s', "
                  "the limit one push may add (--max-new-stacks); send the profile "
                  "in smaller pieces, trim its stacks, or raise the limit",
                  s->max_new_stacks, p->key.app);
  if (rc != 0) {
    free(pairs);
    return rc;
  }
  *out = pairs;
  *nout = sort_pairs(pairs, n);
  return 0;
}

/* Writes p's samples as one row: a bucket row when they are placed in one
 * bucket, else a span row. */
static int write_rows(ember_conn_t *c, int64_t app_id, int64_t series_id,
                      const ember_profile_t *p,
                      const ember_seg_pair_t *pairs, size_t n, uint64_t *rows,
                      ember_err_t *err) {
  ember_place_t *pl = ember_malloc(sizeof *pl);
  ember_buf_t blob = EMBER_BUF_INIT;
  int rc = ember_place_plan(p->from, p->until, p->aggregation, pl, err);
  if (rc == 0 && pl->n == 1)
    rc = add_row(c, app_id, series_id, pl->first, pairs, n, &blob, err);
  else if (rc == 0)
    rc = add_span(c, app_id, series_id, pl, p->from, pairs, n, &blob, err);
  if (rc == 0) (*rows)++;
  ember_buf_free(&blob);
  free(pl);
  return rc;
}

static int apply_profile(ember_store_t *s, quota_t *q, const ember_profile_t *p,
                         uint64_t *rows, ember_err_t *err) {
  ember_conn_t *c = s->wconn;
  if (!p->key.app || !ember_app_name_valid(p->key.app, strlen(p->key.app)) ||
      !(p->tree || p->stacks))
    return ember_err_set(err, EMBER_EINVAL,
                         "a profile without a valid app name or samples reached "
                         "the store; name the series as app{labels}");
  int64_t app_id = 0, series_id = 0;
  ember_seg_pair_t *pairs = NULL;
  size_t n = 0;
  int rc = upsert_app(s, q, p, &app_id, err);
  if (rc == 0) rc = upsert_series(s, q, app_id, &p->key, &series_id, err);
  if (rc == 0) rc = profile_pairs(s, q, app_id, p, &pairs, &n, err);
  if (rc == 0 && n > 0) rc = write_rows(c, app_id, series_id, p, pairs, n, rows, err);
  free(pairs);
  return rc;
}

int ember_apply_write(ember_store_t *s, ember_job_t *j, ember_err_t *err) {
  quota_t q = {.napps = -1};
  int rc = 0;
  for (size_t i = 0; rc == 0 && i < j->nprofiles; i++)
    rc = apply_profile(s, &q, &j->profiles[i], &j->counts.rows_written, err);
  free(q.series);
  return rc;
}

/* ---- Deleting an app --------------------------------------------------- */

/* An app with millions of rows cannot go in one transaction without
 * holding up every push for its length. So deletion is one small job that
 * hides the app (it leaves the view `apps`, which is all readers look at,
 * and gives its name back for a new app at once), then jobs that each
 * delete a bounded chunk of its rows, children before parents, and the app
 * row last. Each chunk commits on its own, so pushes queued meanwhile wait
 * for a chunk, not for the whole app. If the process stops half-way, the
 * maintenance pass finishes the job (ember_apply_purge_hidden). */

/* Cost units per job; a segment row (a blob, often kilobytes) costs more
 * than a dictionary or label row. */
#define PURGE_BUDGET 20000

static const char SQL_APP_ID[] = "SELECT id FROM apps WHERE name=?1";
static const char SQL_APP_HIDE[] =
    "UPDATE app_rows SET deleting=1, name='#deleted-' || id WHERE id=?1";
static const char SQL_APP_DROP[] = "DELETE FROM app_rows WHERE id=?1 AND deleting=1";
static const char SQL_HIDDEN_APPS[] = "SELECT id FROM app_rows WHERE deleting=1";

/* In dependency order; ?1 is the app id, ?2 the most rows to delete. */
static const struct {
  const char *sql;
  int64_t cost; /* per row */
  bool segments;
} purge_steps[] = {
    {"DELETE FROM app_segments WHERE rowid IN (SELECT rowid FROM app_segments "
     "WHERE app_id=?1 LIMIT ?2)",
     10, true},
    {"DELETE FROM app_rollup_todo WHERE (level, start, app_id) IN (SELECT level, "
     "start, app_id FROM app_rollup_todo WHERE app_id=?1 LIMIT ?2)",
     1, false},
    {"DELETE FROM segments WHERE rowid IN (SELECT g.rowid FROM series s JOIN "
     "segments g ON g.series_id=s.id WHERE s.app_id=?1 LIMIT ?2)",
     10, true},
    {"DELETE FROM rollup_todo WHERE (level, start, series_id) IN (SELECT t.level, "
     "t.start, t.series_id FROM rollup_todo t JOIN series s ON s.id=t.series_id "
     "WHERE s.app_id=?1 LIMIT ?2)",
     1, false},
    {"DELETE FROM series_labels WHERE (app_id, key, value, series_id) IN (SELECT "
     "app_id, key, value, series_id FROM series_labels WHERE app_id=?1 LIMIT ?2)",
     1, false},
    {"DELETE FROM series WHERE id IN (SELECT id FROM series WHERE app_id=?1 LIMIT ?2)", 1,
     false},
    {"DELETE FROM stacks WHERE app_id=?1 AND id IN (SELECT id FROM stacks WHERE "
     "app_id=?1 LIMIT ?2)",
     1, false},
    {"DELETE FROM frames WHERE app_id=?1 AND id IN (SELECT id FROM frames WHERE "
     "app_id=?1 LIMIT ?2)",
     1, false},
};

/* Job: hides the app named j->app; j->out = its id. */
int ember_apply_hide_app(ember_store_t *s, ember_job_t *j, ember_err_t *err) {
  ember_conn_t *c = s->wconn;
  sqlite3_stmt *st;
  int rc = ember_conn_prepare(c, SQL_APP_ID, &st, err);
  if (rc != 0) return rc;
  sqlite3_bind_text(st, 1, j->app, -1, SQLITE_STATIC);
  int step = sqlite3_step(st);
  int64_t app_id = step == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
  sqlite3_reset(st);
  if (step != SQLITE_ROW && step != SQLITE_DONE)
    return ember_conn_fail(c, err, "looking up an app");
  if (!app_id)
    return ember_err_set(err, EMBER_ENOTFOUND,
                         "there is no app named '%s'; GET /api/apps lists them",
                         j->app);
  if ((rc = ember_conn_prepare(c, SQL_APP_HIDE, &st, err)) != 0) return rc;
  sqlite3_bind_int64(st, 1, app_id);
  if ((rc = step_done(c, st, "hiding an app being deleted", err)) != 0) return rc;
  /* App ids are never reused (AUTOINCREMENT), so forgetting the cache now,
   * before the commit, is safe even if the transaction rolls back. */
  ember_dicts_drop(s->dicts, app_id);
  j->out = app_id;
  return 0;
}

/* Job: deletes up to PURGE_BUDGET worth of app arg[0]'s rows, and the app
 * itself once nothing else is left; j->out = budget used, so a job that
 * used less than all of it finished the app. */
static int purge_job(ember_store_t *s, ember_job_t *j, ember_err_t *err) {
  ember_conn_t *c = s->wconn;
  int64_t left = PURGE_BUDGET;
  sqlite3_stmt *st;
  int rc = 0;
  for (size_t i = 0; rc == 0 && left > 0 && i < sizeof purge_steps / sizeof *purge_steps;
       i++) {
    int64_t max = left / purge_steps[i].cost;
    if (max == 0) break;
    if ((rc = ember_conn_prepare(c, purge_steps[i].sql, &st, err)) != 0) break;
    sqlite3_bind_int64(st, 1, j->arg[0]);
    sqlite3_bind_int64(st, 2, max);
    if ((rc = step_done(c, st, "deleting an app", err)) != 0) break;
    int64_t n = sqlite3_changes64(c->db);
    if (purge_steps[i].segments) j->counts.rows_deleted += (uint64_t)n;
    left -= n * purge_steps[i].cost;
    if (n == max) left = 0; /* maybe more of this kind: next job */
  }
  if (rc == 0 && left > 0) {
    if ((rc = ember_conn_prepare(c, SQL_APP_DROP, &st, err)) != 0) return rc;
    sqlite3_bind_int64(st, 1, j->arg[0]);
    rc = step_done(c, st, "deleting an app", err);
  }
  j->out = PURGE_BUDGET - left;
  return rc;
}

int ember_apply_purge_app(ember_store_t *s, int64_t app_id, ember_err_t *err) {
  for (;;) {
    ember_job_t j;
    memset(&j, 0, sizeof j);
    j.run = purge_job;
    j.arg[0] = app_id;
    int rc = ember_writer_call(s, &j, err);
    if (rc != 0) return rc;
    if (j.out < PURGE_BUDGET) break;
  }
  /* A reader with a snapshot from before the app was hidden may have
   * loaded its dictionary again since. */
  ember_dicts_drop(s->dicts, app_id);
  return 0;
}

int ember_apply_purge_hidden(ember_store_t *s, ember_err_t *err) {
  ember_conn_t *c = NULL;
  int64_t *ids = NULL;
  size_t n = 0, cap = 0;
  sqlite3_stmt *st;
  int rc = ember_pool_get(s, &c, err), step = SQLITE_DONE;
  if (rc == 0 && (rc = ember_conn_prepare(c, SQL_HIDDEN_APPS, &st, err)) == 0) {
    while ((step = sqlite3_step(st)) == SQLITE_ROW) {
      ember_grow((void **)&ids, &cap, n + 1, sizeof *ids);
      ids[n++] = sqlite3_column_int64(st, 0);
    }
    if (step != SQLITE_DONE) rc = ember_conn_fail(c, err, "finding apps being deleted");
    sqlite3_reset(st);
  }
  ember_pool_put(s, c);
  for (size_t i = 0; rc == 0 && i < n; i++)
    rc = ember_apply_purge_app(s, ids[i], err);
  free(ids);
  return rc;
}
