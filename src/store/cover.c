/*
 * cover.c - which stored rows answer a time range of one series (or of a
 * whole app), and what a read takes from each: the planner behind every
 * tree, timeline and rollup.
 *
 * A range [a, b) of buckets is covered by the coarsest rollup rows lying
 * wholly inside it, then finer ones, and level-0 bucket rows for whatever is
 * left (the edges, and recent periods not yet rolled up). Rollup rows always
 * equal the sum of what they cover (compact.c), so any mix gives the same
 * sums as level 0 alone.
 *
 * App rollups (app_segments) sum every series of an app. A read over all of
 * an app's series first takes the coarsest app rollups inside the range
 * (ember_read_app_cover), then covers what they leave, series by series
 * (ember_read_cover_gaps): the same sums, from a twentieth of the rows when
 * an app has twenty series.
 *
 * Statements: the rollup periods are chosen from the primary key index
 * alone (their starts), then read in runs: consecutive chosen periods of one
 * level are one statement, so a 24 h plan of a series is about ten
 * statements, not one per period.
 *
 * Span rows (store_int.h) are one row for a profile placed in several
 * buckets. A read takes from a span row only its buckets that lie in the
 * level-0 stretches of the plan: the buckets inside a chosen rollup already
 * count through it. What it takes per stack is exactly what the per-bucket
 * rows of apply.c's placement would have held (ember_place_share_range), so
 * sums, averages, timelines and rollups are the same to the last sample.
 *
 * Every loop here checks the calling thread's deadline (common.h), so a
 * query past it stops between rows with EMBER_ETIMEOUT; inside SQLite, the
 * reader connection's progress handler (conn.c) does the same.
 */
#include "store/store_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- SQL --------------------------------------------------------------- */

static const char SQL_ROLLUP_STARTS[] =
    "SELECT start FROM segments WHERE series_id=?1 AND level=?2 AND start>=?3 "
    "AND start<=?4 ORDER BY start";
static const char SQL_APP_ROLLUP_STARTS[] =
    "SELECT start FROM app_segments WHERE app_id=?1 AND level=?2 AND start>=?3 "
    "AND start<=?4 ORDER BY start";
/* A run of rollup rows of one level: ?3 and ?4 are its first and last
 * period. */
static const char SQL_RUN[] =
    "SELECT start, seq, total, profiles, data FROM segments "
    "WHERE series_id=?1 AND level=?2 AND start>=?3 AND start<=?4 ORDER BY start, seq";
static const char SQL_RUN_NODATA[] =
    "SELECT start, seq, total, profiles FROM segments "
    "WHERE series_id=?1 AND level=?2 AND start>=?3 AND start<=?4 ORDER BY start, seq";
static const char SQL_APP_RUN[] =
    "SELECT start, total, profiles, parts, data FROM app_segments "
    "WHERE app_id=?1 AND level=?2 AND start>=?3 AND start<=?4 ORDER BY start";
static const char SQL_APP_RUN_NODATA[] =
    "SELECT start, total, profiles, parts FROM app_segments "
    "WHERE app_id=?1 AND level=?2 AND start>=?3 AND start<=?4 ORDER BY start";
static const char SQL_L0_ROWS[] =
    "SELECT start, seq, total, profiles, data FROM segments "
    "WHERE series_id=?1 AND level=0 AND start>=?2 AND start<?3 AND seq>=0 "
    "ORDER BY start, seq";
static const char SQL_L0_ROWS_NODATA[] =
    "SELECT start, seq, total, profiles FROM segments "
    "WHERE series_id=?1 AND level=0 AND start>=?2 AND start<?3 AND seq>=0 "
    "ORDER BY start, seq";
/* Span rows reaching into [?4, ?5): their last bucket is at or after ?4 (so
 * before ?5 + EMBER_STORE_SPLIT_MAX) and their first before ?5. The partial
 * index holds only span rows. */
static const char SQL_SPANS[] =
    "SELECT start, seq, span_start, total, profiles, data FROM segments "
    "INDEXED BY segments_spans WHERE series_id=?1 AND seq<0 AND start>=?2 "
    "AND start<?3 AND span_start<?4 ORDER BY start, seq";
static const char SQL_SPANS_NODATA[] =
    "SELECT start, seq, span_start, total, profiles FROM segments "
    "INDEXED BY segments_spans WHERE series_id=?1 AND seq<0 AND start>=?2 "
    "AND start<?3 AND span_start<?4 ORDER BY start, seq";

/* ---- Small helpers ----------------------------------------------------- */

static int64_t ceil_to(int64_t t, int64_t w) {
  int64_t f = ember_store_floor(t, w);
  return f == t || f > INT64_MAX - w ? f : f + w;
}

int ember_read_deadline(ember_err_t *err) {
  if (!ember_deadline_passed()) return 0;
  return ember_err_set(err, EMBER_ETIMEOUT,
                       "the query ran past its deadline and was stopped; narrow the "
                       "time range or the selector, or try again when the server is "
                       "less busy");
}

/* Steps st, first checking the deadline: the loops below run once per row. */
static int step(sqlite3_stmt *st, int *rc, ember_err_t *err) {
  if ((*rc = ember_read_deadline(err)) != 0) return SQLITE_DONE;
  return sqlite3_step(st);
}

/* ---- Rollups ----------------------------------------------------------- */

static int cmp_periods(const void *a, const void *b) {
  const ember_period_t *x = a, *y = b;
  return x->start < y->start ? -1 : x->start > y->start;
}

static int64_t period_end(const ember_period_t *p) {
  return p->start + ember_store_width[p->level];
}

/* True when start lies inside one of the chosen (sorted, disjoint)
 * periods. Widths nest, so a finer period is either inside or outside. */
static bool covered(const ember_period_t *p, size_t n, int64_t start) {
  size_t lo = 0, hi = n;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    if (p[mid].start <= start)
      lo = mid + 1;
    else
      hi = mid;
  }
  return lo > 0 && start < period_end(&p[lo - 1]);
}

/* Chooses the existing rollup rows (coarsest first, levels max_level down
 * to min_level) lying wholly inside [a, b), of the series or app `key`
 * (sql lists a level's starts). Only the primary key index is read. */
static int choose_rollups(ember_conn_t *c, const char *sql, int64_t key, int64_t a,
                          int64_t b, int min_level, int max_level, ember_period_t **out,
                          size_t *n, size_t *cap, ember_err_t *err) {
  for (int l = max_level; l >= min_level && l >= 1; l--) {
    int64_t w = ember_store_width[l], lo = ceil_to(a, w), hi = ember_store_floor(b, w);
    if (hi - lo < w) continue;
    sqlite3_stmt *st;
    int rc = ember_conn_prepare(c, sql, &st, err), s = SQLITE_DONE;
    if (rc != 0) return rc;
    sqlite3_bind_int64(st, 1, key);
    sqlite3_bind_int(st, 2, l);
    sqlite3_bind_int64(st, 3, lo);
    sqlite3_bind_int64(st, 4, hi - w);
    size_t before = *n;
    while ((s = step(st, &rc, err)) == SQLITE_ROW) {
      int64_t p = sqlite3_column_int64(st, 0);
      if (covered(*out, before, p)) continue;
      ember_grow((void **)out, cap, *n + 1, sizeof **out);
      (*out)[(*n)++] = (ember_period_t){l, p};
    }
    sqlite3_reset(st);
    if (rc == 0 && s != SQLITE_DONE) rc = ember_conn_fail(c, err, "planning rollup rows");
    if (rc != 0) return rc;
    if (*n > before && before > 0) qsort(*out, *n, sizeof **out, cmp_periods);
  }
  return 0;
}

/* How many chosen periods from i on form a run: one level, each starting
 * where the one before ends, so one range statement returns exactly them. */
static size_t run_length(const ember_period_t *p, size_t n, size_t i) {
  size_t k = 1;
  while (i + k < n && p[i + k].level == p[i].level &&
         p[i + k].start == period_end(&p[i + k - 1]))
    k++;
  return k;
}

/* ---- Whole rows -------------------------------------------------------- */

/* Fills the parts of row every query's columns share: total, profiles and,
 * when present, the blob at column col. */
static void row_columns(sqlite3_stmt *st, int col, bool data, ember_row_t *row) {
  row->total = ember_i2u(sqlite3_column_int64(st, col));
  row->profiles = sqlite3_column_int64(st, col + 1);
  row->blob = data ? sqlite3_column_blob(st, col + 2) : NULL;
  row->len = data ? (size_t)sqlite3_column_bytes(st, col + 2) : 0;
}

static int emit_level0(ember_conn_t *c, int64_t sid, int64_t a, int64_t b, bool data,
                       ember_row_fn fn, void *ctx, ember_err_t *err) {
  sqlite3_stmt *st;
  int rc = ember_conn_prepare(c, data ? SQL_L0_ROWS : SQL_L0_ROWS_NODATA, &st, err);
  int s = SQLITE_DONE;
  if (rc != 0) return rc;
  sqlite3_bind_int64(st, 1, sid);
  sqlite3_bind_int64(st, 2, a);
  sqlite3_bind_int64(st, 3, b);
  while (rc == 0 && (s = step(st, &rc, err)) == SQLITE_ROW) {
    ember_row_t row = {0};
    row.start = sqlite3_column_int64(st, 0);
    row.seq = sqlite3_column_int64(st, 1);
    row_columns(st, 2, data, &row);
    rc = fn(ctx, &row, err);
  }
  if (rc == 0 && s != SQLITE_DONE) rc = ember_conn_fail(c, err, "reading rows");
  sqlite3_reset(st);
  return rc;
}

/* The rows of a run of chosen periods of one level (first to last, both
 * included) of series sid. */
static int emit_run(ember_conn_t *c, int64_t sid, int level, int64_t first, int64_t last,
                    bool data, ember_row_fn fn, void *ctx, ember_err_t *err) {
  sqlite3_stmt *st;
  int rc = ember_conn_prepare(c, data ? SQL_RUN : SQL_RUN_NODATA, &st, err);
  int s = SQLITE_DONE;
  if (rc != 0) return rc;
  sqlite3_bind_int64(st, 1, sid);
  sqlite3_bind_int(st, 2, level);
  sqlite3_bind_int64(st, 3, first);
  sqlite3_bind_int64(st, 4, last);
  while (rc == 0 && (s = step(st, &rc, err)) == SQLITE_ROW) {
    ember_row_t row = {0};
    row.level = level;
    row.start = sqlite3_column_int64(st, 0);
    row.seq = sqlite3_column_int64(st, 1);
    row_columns(st, 2, data, &row);
    rc = fn(ctx, &row, err);
  }
  if (rc == 0 && s != SQLITE_DONE) rc = ember_conn_fail(c, err, "reading a rollup");
  sqlite3_reset(st);
  return rc;
}

/* ---- Span rows --------------------------------------------------------- */

/* The buckets of a span row (first bucket `first`, n buckets) that start in
 * [a, b) outside every chosen period, as ranges. Returns how many. */
static size_t span_ranges(int64_t first, size_t n, int64_t a, int64_t b,
                          const ember_period_t *chosen, size_t nchosen,
                          ember_span_range_t *out) {
  size_t k = 0;
  for (size_t i = 0; i < n; i++) {
    int64_t t = first + (int64_t)i * EMBER_STORE_BUCKET;
    if (t < a || t >= b || covered(chosen, nchosen, t)) continue;
    if (k > 0 && out[k - 1].hi == i)
      out[k - 1].hi++;
    else
      out[k++] = (ember_span_range_t){(uint32_t)i, (uint32_t)i + 1};
  }
  return k;
}

static int emit_spans(ember_conn_t *c, int64_t sid, int64_t a, int64_t b,
                      const ember_period_t *chosen, size_t nchosen, bool data, ember_row_fn fn,
                      void *ctx, ember_err_t *err) {
  sqlite3_stmt *st;
  int rc = ember_conn_prepare(c, data ? SQL_SPANS : SQL_SPANS_NODATA, &st, err);
  int s = SQLITE_DONE;
  if (rc != 0) return rc;
  ember_span_range_t ranges[EMBER_STORE_SPAN_BUCKETS];
  sqlite3_bind_int64(st, 1, sid);
  sqlite3_bind_int64(st, 2, a);
  sqlite3_bind_int64(st, 3,
                     b > INT64_MAX - EMBER_STORE_SPLIT_MAX ? INT64_MAX
                                                           : b + EMBER_STORE_SPLIT_MAX);
  sqlite3_bind_int64(st, 4, b);
  while (rc == 0 && (s = step(st, &rc, err)) == SQLITE_ROW) {
    ember_row_t row = {0};
    row.start = sqlite3_column_int64(st, 0);
    row.seq = sqlite3_column_int64(st, 1);
    row.span_start = sqlite3_column_int64(st, 2);
    row_columns(st, 3, data, &row);
    int64_t reach = row.start - row.span_start;
    if (reach <= 0 || reach % EMBER_STORE_BUCKET != 0 ||
        reach / EMBER_STORE_BUCKET >= EMBER_STORE_SPAN_BUCKETS) {
      char where[160];
      ember_row_name(where, sizeof where, sid, 0, row.start, row.seq);
      rc = ember_err_set(err, EMBER_EIO,
                         "%s is damaged (its span starts at %lld); restore the data "
                         "directory from a backup or delete the app",
                         where, (long long)row.span_start);
      break;
    }
    size_t n = (size_t)(reach / EMBER_STORE_BUCKET) + 1;
    row.ranges = ranges;
    row.nranges = span_ranges(row.span_start, n, a, b, chosen, nchosen, ranges);
    if (row.nranges) rc = fn(ctx, &row, err);
  }
  if (rc == 0 && s != SQLITE_DONE) rc = ember_conn_fail(c, err, "reading span rows");
  sqlite3_reset(st);
  return rc;
}

/* ---- Planning ---------------------------------------------------------- */

int ember_read_cover(ember_conn_t *c, int64_t sid, int64_t a, int64_t b, int max_level,
                     ember_read_want_t want, ember_row_fn fn, void *ctx,
                     ember_err_t *err) {
  if (a >= b) return 0;
  bool data = want == EMBER_READ_DATA;
  ember_period_t *chosen = NULL;
  size_t n = 0, cap = 0;
  int rc = choose_rollups(c, SQL_ROLLUP_STARTS, sid, a, b, 1, max_level, &chosen, &n,
                          &cap, err);
  int64_t cursor = a;
  for (size_t i = 0; rc == 0 && i < n;) {
    size_t k = run_length(chosen, n, i);
    if (cursor < chosen[i].start)
      rc = emit_level0(c, sid, cursor, chosen[i].start, data, fn, ctx, err);
    if (rc == 0)
      rc = emit_run(c, sid, chosen[i].level, chosen[i].start, chosen[i + k - 1].start,
                    data, fn, ctx, err);
    cursor = period_end(&chosen[i + k - 1]);
    i += k;
  }
  if (rc == 0 && cursor < b) rc = emit_level0(c, sid, cursor, b, data, fn, ctx, err);
  if (rc == 0)
    rc = emit_spans(c, sid, a, b, chosen, n, want != EMBER_READ_KEYS, fn, ctx, err);
  free(chosen);
  return rc;
}

int ember_read_cover_gaps(ember_conn_t *c, int64_t sid, int64_t a, int64_t b,
                          const ember_period_t *done, size_t ndone, int max_level,
                          ember_read_want_t want, ember_row_fn fn, void *ctx,
                          ember_err_t *err) {
  int64_t cursor = a;
  int rc = 0;
  for (size_t i = 0; rc == 0 && i <= ndone; i++) {
    int64_t end = i < ndone ? done[i].start : b;
    if (cursor < end) rc = ember_read_cover(c, sid, cursor, end, max_level, want, fn, ctx, err);
    if (i < ndone) cursor = period_end(&done[i]);
  }
  return rc;
}

/* The rows of a run of app rollups. */
static int emit_app_run(ember_conn_t *c, int64_t app_id, int level, int64_t first,
                        int64_t last, bool data, ember_row_fn fn, void *ctx,
                        ember_err_t *err) {
  sqlite3_stmt *st;
  int rc = ember_conn_prepare(c, data ? SQL_APP_RUN : SQL_APP_RUN_NODATA, &st, err);
  int s = SQLITE_DONE;
  if (rc != 0) return rc;
  sqlite3_bind_int64(st, 1, app_id);
  sqlite3_bind_int(st, 2, level);
  sqlite3_bind_int64(st, 3, first);
  sqlite3_bind_int64(st, 4, last);
  while (rc == 0 && (s = step(st, &rc, err)) == SQLITE_ROW) {
    ember_row_t row = {0};
    row.app = true;
    row.level = level;
    row.start = sqlite3_column_int64(st, 0);
    row.total = ember_i2u(sqlite3_column_int64(st, 1));
    row.profiles = sqlite3_column_int64(st, 2);
    row.parts = sqlite3_column_blob(st, 3);
    row.parts_len = (size_t)sqlite3_column_bytes(st, 3);
    row.blob = data ? sqlite3_column_blob(st, 4) : NULL;
    row.len = data ? (size_t)sqlite3_column_bytes(st, 4) : 0;
    rc = fn(ctx, &row, err);
  }
  if (rc == 0 && s != SQLITE_DONE) rc = ember_conn_fail(c, err, "reading an app rollup");
  sqlite3_reset(st);
  return rc;
}

int ember_read_app_cover(ember_conn_t *c, int64_t app_id, int64_t a, int64_t b,
                         int min_level, int max_level, ember_read_want_t want,
                         ember_row_fn fn, void *ctx, ember_period_t **chosen,
                         size_t *nchosen, ember_err_t *err) {
  ember_period_t *p = NULL;
  size_t n = 0, cap = 0;
  int rc = a < b ? choose_rollups(c, SQL_APP_ROLLUP_STARTS, app_id, a, b, min_level,
                                  max_level, &p, &n, &cap, err)
                 : 0;
  for (size_t i = 0; rc == 0 && i < n;) {
    size_t k = run_length(p, n, i);
    rc = emit_app_run(c, app_id, p[i].level, p[i].start, p[i + k - 1].start,
                      want == EMBER_READ_DATA, fn, ctx, err);
    i += k;
  }
  if (rc != 0) {
    free(p);
    return rc;
  }
  *chosen = p;
  *nchosen = n;
  return 0;
}

int ember_read_bucket_rows(ember_conn_t *c, int64_t sid, int64_t a, int64_t b,
                           ember_row_fn fn, void *ctx, ember_err_t *err) {
  return a < b ? emit_level0(c, sid, a, b, true, fn, ctx, err) : 0;
}

/* ---- What a read takes ------------------------------------------------- */

int ember_span_open(ember_seg_codec_t *codec, const ember_row_t *row, ember_place_t *p,
                    const uint64_t **totals, ember_err_t *err) {
  ember_seg_span_t h;
  int rc = ember_seg_span_header(codec, row->blob, row->len, &h, err);
  if (rc != 0) return rc;
  int64_t from = row->span_start + (int64_t)h.offset;
  ember_err_t why;
  if (h.offset >= EMBER_STORE_BUCKET || h.length > EMBER_STORE_SPLIT_MAX ||
      ember_place_plan(from, from + (int64_t)h.length,
                       h.replicate ? EMBER_AGG_AVERAGE : EMBER_AGG_SUM, p, &why) != 0 ||
      p->replicate != h.replicate || p->n != h.n || p->first != row->span_start ||
      p->first + (int64_t)(p->n - 1) * EMBER_STORE_BUCKET != row->start)
    return ember_err_set(err, EMBER_EIO,
                         "corrupt segment: its span header does not match its row");
  uint64_t sum = 0;
  for (size_t i = 0; h.totals && i < h.n; i++)
    sum = ember_sat_add(sum, h.totals[i]);
  if (h.totals && sum != row->total)
    return ember_err_set(err, EMBER_EIO,
                         "corrupt segment: its bucket totals do not add up to its total");
  *totals = h.totals;
  return 0;
}

/* The profiles the taken buckets of a span row count: one per bucket that
 * a per-bucket write would have given a row (a bucket whose share is all
 * zeros had none). */
static int64_t span_profiles(const ember_row_t *row, const ember_place_t *p,
                             const uint64_t *totals) {
  int64_t n = 0;
  for (size_t r = 0; r < row->nranges; r++)
    for (uint32_t i = row->ranges[r].lo; i < row->ranges[r].hi; i++)
      n += !totals || totals[i] ? 1 : 0;
  return n * row->profiles;
}

int ember_row_take(ember_seg_codec_t *codec, const ember_row_t *row,
                   ember_take_t *scratch, const ember_seg_pair_t **pairs, size_t *n,
                   uint64_t *total, int64_t *profiles, ember_err_t *err) {
  const ember_seg_pair_t *p;
  size_t count;
  uint64_t sum;
  ember_place_t place;
  const uint64_t *totals = NULL;
  bool span = row->seq < 0;
  int rc = span ? ember_span_open(codec, row, &place, &totals, err) : 0;
  if (rc == 0) rc = ember_seg_decode(codec, row->blob, row->len, &p, &count, &sum, err);
  if (rc == 0 && sum != row->total)
    rc = ember_err_set(err, EMBER_EIO, "its values do not add up to its total");
  if (rc != 0) return rc;
  if (!span) {
    *pairs = p;
    *n = count;
    *total = sum;
    *profiles = row->profiles;
    return 0;
  }
  ember_grow((void **)&scratch->pairs, &scratch->cap, count ? count : 1,
             sizeof *scratch->pairs);
  size_t k = 0;
  uint64_t taken = 0;
  for (size_t i = 0; i < count; i++) {
    uint64_t v = 0;
    for (size_t r = 0; r < row->nranges; r++)
      v = ember_sat_add(v, ember_place_share_range(&place, row->ranges[r].lo,
                                                   row->ranges[r].hi, p[i].value));
    if (v == 0) continue;
    scratch->pairs[k++] = (ember_seg_pair_t){p[i].stack, v};
    taken = ember_sat_add(taken, v);
  }
  *pairs = scratch->pairs;
  *n = k;
  *total = taken;
  *profiles = span_profiles(row, &place, totals);
  return 0;
}
