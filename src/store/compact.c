/*
 * compact.c - merging rows and building rollups, so that a long query reads
 * a few rows instead of thousands.
 *
 * Level 0 holds 10 s buckets; a bucket gets one row per push, numbered by
 * seq, and a push covering several buckets is one span row (store_int.h)
 * whose share of each bucket is computed when read. Levels 1, 2 and 3 hold
 * rollups: one row per series and aligned period of 100 s, 1000 s and
 * 10000 s holding the sum of everything in it. The writer queues work in
 * rollup_todo: every level-0 row it adds deletes the rollups covering its
 * buckets and lists their level-1 periods. Once a period is settled (its
 * end at least EMBER_STORE_SETTLE seconds ago), a compaction job, run by the
 * writer thread in its own transaction:
 *   - at level 1, first merges each of the period's 10 s buckets that has
 *     several bucket rows into one row (seq 0; values and profile counts
 *     summed); span rows stay whole: merging their shares into buckets
 *     would write the copies they exist to avoid;
 *   - builds the period's rollup from the coarsest rows already below it
 *     (ember_read_cover up to level L - 1, span shares included), unless a
 *     single row covers the whole period anyway (a copy would save no
 *     reads; a lone span row over the period counts as one row);
 *   - lists the enclosing period of level L + 1, and removes its own entry.
 *
 * Invariants:
 *  1. A rollup row (series, L, p) holds exactly the sum of that series'
 *     level-0 bucket rows with start in [p, p + width[L]) and of the shares
 *     of its span rows in the buckets of that period, in every committed
 *     state. The writer keeps it when adding rows (apply.c drops covering
 *     rollups in the same transaction); this file keeps it because a rollup
 *     is computed from the rows below it inside the transaction that writes
 *     it; retention keeps it by deleting coarser levels first, and a span
 *     row, keyed by its last bucket, only once all its buckets expired.
 *  2. Merging the bucket rows of a bucket changes no sum, so it never
 *     invalidates a rollup.
 *  3. A period whose rollup may be missing or stale is listed in
 *     rollup_todo at its level, or at a finer level of a period inside it
 *     (the cascade). Readers never depend on it: a missing rollup only means
 *     reading finer rows.
 *  4. A damaged row is never merged or rolled up: its period's entry is
 *     dropped with a warning, so one bad row cannot stall the queue, and
 *     readers of that range keep getting the error naming the row. Nor is a
 *     merge too big for one row written; its period is read from the rows
 *     below, and its entry is dropped all the same.
 */
#include "store/store_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Periods per job: bounds how long one job holds the writer. An app
 * period sums every series of the app, so it gets fewer. */
#define COMPACT_CHUNK 64
#define APP_CHUNK 8
/* Each rollup holds this many periods of the level below. */
#define PARTS 10

static const char SQL_TODO_READY[] =
    "SELECT start, series_id FROM rollup_todo WHERE level=?1 AND start<=?2 "
    "AND start>=?4 ORDER BY start LIMIT ?3";
static const char SQL_TODO_NEWEST[] =
    "SELECT MAX(start) FROM rollup_todo WHERE level=?1 AND start<=?2";
static const char SQL_TODO_DONE[] =
    "DELETE FROM rollup_todo WHERE level=?1 AND start=?2 AND series_id=?3";
static const char SQL_TODO_NEXT[] =
    "INSERT OR IGNORE INTO rollup_todo(level, start, series_id) VALUES(?1, ?2, ?3)";
static const char SQL_APP_TODO_READY[] =
    "SELECT start, app_id FROM app_rollup_todo WHERE level=?1 AND start<=?2 "
    "AND start>=?4 ORDER BY start LIMIT ?3";
static const char SQL_APP_TODO_NEWEST[] =
    "SELECT MAX(start) FROM app_rollup_todo WHERE level=?1 AND start<=?2";
static const char SQL_APP_TODO_DONE[] =
    "DELETE FROM app_rollup_todo WHERE level=?1 AND start=?2 AND app_id=?3";
static const char SQL_APP_TODO_ADD[] =
    "INSERT OR IGNORE INTO app_rollup_todo(level, start, app_id) VALUES(?1, ?2, ?3)";
static const char SQL_CROWDED[] =
    "SELECT start FROM segments WHERE series_id=?1 AND level=0 AND start>=?2 "
    "AND start<?3 AND seq>=0 GROUP BY start HAVING COUNT(*) > 1";
/* Span rows (seq < 0) are never merged, so never cleared here. */
static const char SQL_BUCKET_CLEAR[] =
    "DELETE FROM segments WHERE series_id=?1 AND level=?2 AND start=?3 AND seq>=0";
static const char SQL_ROW_PUT[] =
    "INSERT INTO segments(series_id, level, start, seq, total, profiles, data) "
    "VALUES(?1, ?2, ?3, 0, ?4, ?5, ?6)";
static const char SQL_APP_ROW_CLEAR[] =
    "DELETE FROM app_segments WHERE app_id=?1 AND level=?2 AND start=?3";
static const char SQL_APP_ROW_PUT[] =
    "INSERT INTO app_segments(app_id, level, start, total, profiles, parts, data) "
    "VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7)";
static const char SQL_SERIES_APP[] =
    "SELECT s.app_id, a.aggregation FROM series s JOIN app_rows a ON a.id=s.app_id "
    "WHERE s.id=?1";
static const char SQL_APP_AGG[] = "SELECT aggregation FROM app_rows WHERE id=?1";
static const char SQL_APP_SERIES[] = "SELECT id FROM series WHERE app_id=?1 ORDER BY id";
static const char SQL_APP_STACKS[] =
    "SELECT COALESCE(MAX(id), 0) + 1 FROM stacks WHERE app_id=?1";

/* ---- Summing rows ------------------------------------------------------ */

/* The running sum of the rows handed to merge_row: values by stack id in
 * a dense array, with a bitmap of the ids touched, so adding a row costs
 * its pairs and listing the sum in id order costs the words touched, never
 * a merge of sorted lists per row. */
typedef struct {
  ember_conn_t *c;
  int64_t sid;   /* the series whose rows are read (for messages) */
  int64_t app;   /* its app; the dictionary bound below is the app's */
  uint32_t limit; /* stack ids at or past this are not in the app's dictionary */
  uint64_t *vals, *bits;
  size_t cap; /* ids below cap fit vals (and bits) */
  size_t lo_word, hi_word; /* bitmap words touched: [lo, hi) */
  ember_seg_pair_t *pairs; /* the sum listed, for encoding */
  size_t npairs, pairs_cap;
  ember_take_t take;
  uint64_t total;
  int64_t profiles;
  size_t rows;
  uint64_t parts[PARTS]; /* app rollups: totals of the sub-periods */
  int64_t part_start, part_width;
  bool damaged;
  char why[EMBER_ERR_MSG_MAX];
} merge_t;

static void merge_reset(merge_t *m) {
  m->total = 0;
  m->profiles = 0;
  m->rows = 0;
  m->damaged = false;
}

static void merge_free(merge_t *m) {
  free(m->vals);
  free(m->bits);
  free(m->pairs);
  free(m->take.pairs);
}

/* Makes ids below n fit the arrays. */
static void merge_fit(merge_t *m, size_t n) {
  if (n <= m->cap) return;
  size_t cap = m->cap ? m->cap : 4096;
  while (cap < n) cap *= 2;
  size_t words = (cap + 63) / 64, old_words = (m->cap + 63) / 64;
  m->vals = ember_realloc(m->vals, cap * sizeof *m->vals);
  memset(m->vals + m->cap, 0, (cap - m->cap) * sizeof *m->vals);
  m->bits = ember_realloc(m->bits, words * sizeof *m->bits);
  memset(m->bits + old_words, 0, (words - old_words) * sizeof *m->bits);
  m->cap = cap;
}

static void merge_touch(merge_t *m, size_t lo_id, size_t hi_id) {
  size_t lo = lo_id / 64, hi = hi_id / 64 + 1;
  if (m->lo_word >= m->hi_word) {
    m->lo_word = lo;
    m->hi_word = hi;
    return;
  }
  if (lo < m->lo_word) m->lo_word = lo;
  if (hi > m->hi_word) m->hi_word = hi;
}

/* Adds pairs (sorted) into the sum; false when one is past the dictionary. */
static bool merge_pairs(merge_t *m, const ember_seg_pair_t *p, size_t n) {
  if (!n) return true;
  if (p[n - 1].stack >= m->limit) return false;
  merge_fit(m, (size_t)p[n - 1].stack + 1);
  for (size_t i = 0; i < n; i++) {
    uint32_t id = p[i].stack;
    m->vals[id] = ember_sat_add(m->vals[id], p[i].value);
    m->bits[id / 64] |= (uint64_t)1 << (id % 64);
  }
  merge_touch(m, p[0].stack, p[n - 1].stack);
  return true;
}

/* Lists the sum in id order into m->pairs and clears it. */
static void merge_list(merge_t *m) {
  m->npairs = 0;
  for (size_t w = m->lo_word; w < m->hi_word; w++) {
    uint64_t word = m->bits[w];
    m->bits[w] = 0;
    while (word) {
      size_t id = w * 64 + (size_t)__builtin_ctzll(word);
      word &= word - 1;
      ember_grow((void **)&m->pairs, &m->pairs_cap, m->npairs + 1, sizeof *m->pairs);
      m->pairs[m->npairs++] = (ember_seg_pair_t){(uint32_t)id, m->vals[id]};
      m->vals[id] = 0;
    }
  }
  m->lo_word = m->hi_word = 0;
}

/* Forgets a sum half made (a damaged row). */
static void merge_drop(merge_t *m) {
  for (size_t w = m->lo_word; w < m->hi_word; w++) {
    for (uint64_t word = m->bits[w]; word; word &= word - 1)
      m->vals[w * 64 + (size_t)__builtin_ctzll(word)] = 0;
    m->bits[w] = 0;
  }
  m->lo_word = m->hi_word = 0;
}

/* Counts the rows a period's rollup would sum. */
static int count_row(void *ctx, const ember_row_t *row, ember_err_t *err) {
  ((merge_t *)ctx)->rows++;
  return 0;
}

static void damaged(merge_t *m, const ember_row_t *row, const char *why) {
  char where[160];
  ember_row_name(where, sizeof where, m->sid, row->level, row->start, row->seq);
  snprintf(m->why, sizeof m->why, "%s is damaged (%.300s)", where, why);
  m->damaged = true;
}

/* A bucket or rollup row: decoded straight into the sum. */
static int sum_row(merge_t *m, const ember_row_t *row, ember_err_t *why) {
  ember_seg_sum_t into = {m->vals, m->bits, m->cap < m->limit ? m->cap : m->limit};
  ember_seg_summed_t got;
  int rc = ember_seg_sum(m->c->codec, row->blob, row->len, &into, &got, why);
  if (rc == 0 && got.nrest && !merge_pairs(m, got.rest, got.nrest))
    rc = ember_err_set(why, EMBER_EIO, "it names stack %u, which its app does not have",
                       got.last);
  if (rc == 0 && got.total != row->total)
    rc = ember_err_set(why, EMBER_EIO, "its values do not add up to its total");
  if (rc == 0 && got.count) {
    /* ember_seg_sum set the bits; only the touched range is tracked here. */
    merge_touch(m, 0, got.last);
  }
  return rc;
}

static int merge_row(void *ctx, const ember_row_t *row, ember_err_t *err) {
  merge_t *m = ctx;
  ember_err_t why;
  if (m->damaged) return 0;
  int rc;
  if (row->seq >= 0) {
    rc = sum_row(m, row, &why);
  } else {
    const ember_seg_pair_t *p;
    size_t n;
    uint64_t total;
    int64_t profiles;
    rc = ember_row_take(m->c->codec, row, &m->take, &p, &n, &total, &profiles, &why);
    if (rc == 0 && !merge_pairs(m, p, n))
      rc = ember_err_set(&why, EMBER_EIO, "it names a stack its app does not have");
    if (rc == 0) {
      m->total = ember_sat_add(m->total, total);
      m->profiles += profiles;
    }
  }
  if (rc != 0) {
    damaged(m, row, why.msg);
    return 0;
  }
  if (row->seq >= 0) {
    m->total = ember_sat_add(m->total, row->total);
    m->profiles += row->profiles;
  }
  m->rows++;
  return 0;
}

/* The app of series sid (and whether it sums), and the bound its
 * dictionary puts on stack ids; cached across the periods of a job. */
static int merge_for_series(merge_t *m, int64_t sid, bool *sum, ember_err_t *err) {
  sqlite3_stmt *st;
  int rc = ember_conn_prepare(m->c, SQL_SERIES_APP, &st, err), step;
  if (rc != 0) return rc;
  sqlite3_bind_int64(st, 1, sid);
  step = sqlite3_step(st);
  int64_t app = step == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
  *sum = step == SQLITE_ROW && sqlite3_column_int(st, 1) != EMBER_AGG_AVERAGE;
  sqlite3_reset(st);
  if (step != SQLITE_ROW && step != SQLITE_DONE)
    return ember_conn_fail(m->c, err, "finding a series' app");
  m->sid = sid;
  if (app == m->app && m->app) return 0;
  m->app = app;
  if ((rc = ember_conn_prepare(m->c, SQL_APP_STACKS, &st, err)) != 0) return rc;
  sqlite3_bind_int64(st, 1, app);
  step = sqlite3_step(st);
  int64_t n = step == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
  sqlite3_reset(st);
  if (step != SQLITE_ROW) return ember_conn_fail(m->c, err, "sizing a dictionary");
  m->limit = n > UINT32_MAX ? UINT32_MAX : (uint32_t)n;
  return 0;
}

/* Replaces every row of (sid, level, start) by the sum. A sum the segment
 * format cannot hold (past its size bound) is not written: bucket rows
 * (level 0) stay as they are, and a rollup slot is left empty, so its
 * period is read from the finer rows, exactly (invariant 3). */
static int put_merged(ember_conn_t *c, merge_t *m, int level, int64_t start,
                      ember_err_t *err) {
  ember_buf_t blob = EMBER_BUF_INIT;
  sqlite3_stmt *st;
  int rc = 0;
  bool too_big = false;
  merge_list(m);
  if (m->rows > 0) {
    ember_err_t why;
    rc = ember_seg_encode(c->codec, m->pairs, m->npairs, &blob, &why);
    if (rc == EMBER_ETOOBIG) {
      fprintf(stderr, "ember: not merging level %d at %lld of series %lld: %s\n", level,
              (long long)start, (long long)m->sid, why.msg);
      too_big = true;
      rc = 0;
      if (level == 0) goto done;
    } else if (rc != 0) {
      if (err) *err = why;
      goto done;
    }
  }
  if ((rc = ember_conn_prepare(c, SQL_BUCKET_CLEAR, &st, err)) != 0) goto done;
  sqlite3_bind_int64(st, 1, m->sid);
  sqlite3_bind_int(st, 2, level);
  sqlite3_bind_int64(st, 3, start);
  if (sqlite3_step(st) != SQLITE_DONE) rc = ember_conn_fail(c, err, "clearing rows");
  sqlite3_reset(st);
  if (rc != 0 || m->rows == 0 || too_big) goto done;
  if ((rc = ember_conn_prepare(c, SQL_ROW_PUT, &st, err)) != 0) goto done;
  sqlite3_bind_int64(st, 1, m->sid);
  sqlite3_bind_int(st, 2, level);
  sqlite3_bind_int64(st, 3, start);
  sqlite3_bind_int64(st, 4, ember_u2i(m->total));
  sqlite3_bind_int64(st, 5, m->profiles);
  sqlite3_bind_blob(st, 6, blob.data, (int)blob.len, SQLITE_STATIC);
  if (sqlite3_step(st) != SQLITE_DONE) rc = ember_conn_fail(c, err, "writing a merged row");
  sqlite3_reset(st);
done:
  ember_buf_free(&blob);
  return rc;
}

/* Merges each bucket of [a, b) that holds several rows into one. */
static int merge_buckets(ember_conn_t *c, merge_t *m, int64_t a, int64_t b,
                         ember_err_t *err) {
  int64_t *starts = NULL;
  size_t n = 0, cap = 0;
  sqlite3_stmt *st;
  int rc = ember_conn_prepare(c, SQL_CROWDED, &st, err), step;
  if (rc != 0) return rc;
  sqlite3_bind_int64(st, 1, m->sid);
  sqlite3_bind_int64(st, 2, a);
  sqlite3_bind_int64(st, 3, b);
  while ((step = sqlite3_step(st)) == SQLITE_ROW) {
    ember_grow((void **)&starts, &cap, n + 1, sizeof *starts);
    starts[n++] = sqlite3_column_int64(st, 0);
  }
  sqlite3_reset(st);
  if (step != SQLITE_DONE) rc = ember_conn_fail(c, err, "finding buckets to merge");
  for (size_t i = 0; rc == 0 && i < n && !m->damaged; i++) {
    merge_reset(m);
    rc = ember_read_bucket_rows(c, m->sid, starts[i], starts[i] + EMBER_STORE_BUCKET,
                                merge_row, m, err);
    if (rc == 0 && !m->damaged) rc = put_merged(c, m, 0, starts[i], err);
  }
  if (m->damaged) merge_drop(m);
  free(starts);
  return rc;
}

/* ---- Building one period ----------------------------------------------- */

static int todo_step(ember_conn_t *c, const char *sql, int level, int64_t start,
                     int64_t id, ember_err_t *err) {
  sqlite3_stmt *st;
  int rc = ember_conn_prepare(c, sql, &st, err);
  if (rc != 0) return rc;
  sqlite3_bind_int(st, 1, level);
  sqlite3_bind_int64(st, 2, start);
  sqlite3_bind_int64(st, 3, id);
  if (sqlite3_step(st) != SQLITE_DONE) rc = ember_conn_fail(c, err, "updating rollup_todo");
  sqlite3_reset(st);
  return rc;
}

static int build(ember_conn_t *c, merge_t *m, int level, int64_t p, ember_err_t *err) {
  int64_t w = ember_store_width[level];
  bool sum_app = false;
  int rc = merge_for_series(m, m->sid, &sum_app, err);
  m->damaged = false;
  if (rc == 0 && level == 1) rc = merge_buckets(c, m, p, p + w, err);
  /* A period one row covers already gets no copy: it would save no read.
   * Counting first, without blobs, spares decoding a long span row for
   * every period it lies across. put_merged with no rows clears the slot. */
  if (rc == 0 && !m->damaged) {
    merge_reset(m);
    rc = ember_read_cover(c, m->sid, p, p + w, level - 1, EMBER_READ_KEYS, count_row, m,
                          err);
  }
  if (rc == 0 && !m->damaged && m->rows >= 2) {
    merge_reset(m);
    rc = ember_read_cover(c, m->sid, p, p + w, level - 1, EMBER_READ_DATA, merge_row, m,
                          err);
  }
  if (rc != 0) return rc;
  if (m->damaged) {
    merge_drop(m);
    fprintf(stderr, "ember: not rolling up %lld s from %lld: %s\n", (long long)w,
            (long long)p, m->why);
  } else {
    if (m->rows < 2) {
      m->rows = 0;
      merge_drop(m);
    }
    rc = put_merged(c, m, level, p, err);
  }
  if (rc == 0 && level + 1 < EMBER_STORE_LEVELS)
    rc = todo_step(c, SQL_TODO_NEXT, level + 1,
                   ember_store_floor(p, ember_store_width[level + 1]), m->sid, err);
  /* The app's sum of the period is rebuilt once this series' is. */
  if (rc == 0 && sum_app) rc = todo_step(c, SQL_APP_TODO_ADD, level, p, m->app, err);
  if (rc == 0) rc = todo_step(c, SQL_TODO_DONE, level, p, m->sid, err);
  return rc;
}

/* ---- App rollups ------------------------------------------------------- */

/* Adds a row's total to the sub-period it lies in: the parts of an app
 * rollup. Span rows count their per-bucket totals, bucket by bucket. */
static int part_row(void *ctx, const ember_row_t *row, ember_err_t *err) {
  merge_t *m = ctx;
  if (m->damaged) return 0;
  if (row->seq >= 0) {
    uint64_t i = (uint64_t)(row->start - m->part_start) / (uint64_t)m->part_width;
    if (row->start >= m->part_start && i < PARTS)
      m->parts[i] = ember_sat_add(m->parts[i], row->total);
    return 0;
  }
  ember_place_t p;
  const uint64_t *totals;
  ember_err_t why;
  if (ember_span_open(m->c->codec, row, &p, &totals, &why) != 0) {
    damaged(m, row, why.msg);
    return 0;
  }
  for (size_t r = 0; r < row->nranges; r++)
    for (uint32_t b = row->ranges[r].lo; b < row->ranges[r].hi; b++) {
      int64_t t = p.first + (int64_t)b * EMBER_STORE_BUCKET;
      uint64_t i = (uint64_t)(t - m->part_start) / (uint64_t)m->part_width;
      if (t >= m->part_start && i < PARTS)
        m->parts[i] = ember_sat_add(m->parts[i], totals ? totals[b] : row->total);
    }
  return 0;
}

/* Writes the app rollup (app, level, p) from the sum in m, or clears the
 * slot when there is nothing (or too much) to write. */
static int put_app(ember_conn_t *c, merge_t *m, int64_t app, int level, int64_t p,
                   ember_err_t *err) {
  ember_buf_t blob = EMBER_BUF_INIT, parts = EMBER_BUF_INIT;
  sqlite3_stmt *st;
  int rc = 0;
  bool write = m->rows > 0;
  merge_list(m);
  if (write) {
    ember_err_t why;
    rc = ember_seg_encode(c->codec, m->pairs, m->npairs, &blob, &why);
    if (rc == EMBER_ETOOBIG) {
      fprintf(stderr, "ember: no app rollup of %lld s from %lld for app %lld: %s\n",
              (long long)ember_store_width[level], (long long)p, (long long)app,
              why.msg);
      write = false;
      rc = 0;
    } else if (rc != 0) {
      if (err) *err = why;
      goto done;
    }
  }
  for (int i = 0; i < PARTS; i++) ember_varint_put(&parts, m->parts[i]);
  if ((rc = ember_conn_prepare(c, SQL_APP_ROW_CLEAR, &st, err)) != 0) goto done;
  sqlite3_bind_int64(st, 1, app);
  sqlite3_bind_int(st, 2, level);
  sqlite3_bind_int64(st, 3, p);
  if (sqlite3_step(st) != SQLITE_DONE) rc = ember_conn_fail(c, err, "clearing an app rollup");
  sqlite3_reset(st);
  if (rc != 0 || !write) goto done;
  if ((rc = ember_conn_prepare(c, SQL_APP_ROW_PUT, &st, err)) != 0) goto done;
  sqlite3_bind_int64(st, 1, app);
  sqlite3_bind_int(st, 2, level);
  sqlite3_bind_int64(st, 3, p);
  sqlite3_bind_int64(st, 4, ember_u2i(m->total));
  sqlite3_bind_int64(st, 5, m->profiles);
  sqlite3_bind_blob(st, 6, parts.data, (int)parts.len, SQLITE_STATIC);
  sqlite3_bind_blob(st, 7, blob.data, (int)blob.len, SQLITE_STATIC);
  if (sqlite3_step(st) != SQLITE_DONE) rc = ember_conn_fail(c, err, "writing an app rollup");
  sqlite3_reset(st);
done:
  ember_buf_free(&blob);
  ember_buf_free(&parts);
  return rc;
}

/* The series of app (caller frees *ids). */
static int app_series(ember_conn_t *c, int64_t app, int64_t **ids, size_t *n,
                      ember_err_t *err) {
  sqlite3_stmt *st;
  size_t cap = 0;
  int rc = ember_conn_prepare(c, SQL_APP_SERIES, &st, err), step;
  if (rc != 0) return rc;
  sqlite3_bind_int64(st, 1, app);
  while ((step = sqlite3_step(st)) == SQLITE_ROW) {
    ember_grow((void **)ids, &cap, *n + 1, sizeof **ids);
    (*ids)[(*n)++] = sqlite3_column_int64(st, 0);
  }
  sqlite3_reset(st);
  return step == SQLITE_DONE ? 0 : ember_conn_fail(c, err, "listing an app's series");
}

/* Builds the app rollup (app, level, p): the sum of every series' cover of
 * the period (its own rollup when it has one), and the totals of the ten
 * sub-periods. An app that averages gets none (a sum over series cannot be
 * divided per series). */
static int build_app(ember_conn_t *c, merge_t *m, int64_t app, int level, int64_t p,
                     ember_err_t *err) {
  int64_t w = ember_store_width[level], *ids = NULL;
  size_t n = 0;
  sqlite3_stmt *st;
  int rc = ember_conn_prepare(c, SQL_APP_AGG, &st, err), step;
  if (rc != 0) return rc;
  sqlite3_bind_int64(st, 1, app);
  step = sqlite3_step(st);
  bool sum = step == SQLITE_ROW && sqlite3_column_int(st, 0) != EMBER_AGG_AVERAGE;
  sqlite3_reset(st);
  if (step != SQLITE_ROW && step != SQLITE_DONE)
    return ember_conn_fail(c, err, "reading an app");
  merge_reset(m);
  memset(m->parts, 0, sizeof m->parts);
  m->part_start = p;
  m->part_width = ember_store_width[level - 1];
  if (sum) rc = app_series(c, app, &ids, &n, err);
  size_t contributors = 0;
  for (size_t i = 0; rc == 0 && i < n && !m->damaged; i++) {
    bool unused;
    size_t before = m->rows;
    rc = merge_for_series(m, ids[i], &unused, err);
    if (rc == 0)
      rc = ember_read_cover(c, ids[i], p, p + w, level, EMBER_READ_DATA, merge_row, m, err);
    contributors += m->rows > before;
    if (rc == 0)
      rc = ember_read_cover(c, ids[i], p, p + w, level - 1, EMBER_READ_TOTALS, part_row,
                            m, err);
  }
  free(ids);
  if (rc != 0) return rc;
  uint64_t parts = 0;
  for (int i = 0; i < PARTS; i++) parts = ember_sat_add(parts, m->parts[i]);
  if (!m->damaged && parts != m->total) {
    snprintf(m->why, sizeof m->why, "its sub-periods add up to %llu, not %llu",
             (unsigned long long)parts, (unsigned long long)m->total);
    m->damaged = true;
  }
  if (m->damaged) {
    merge_drop(m);
    fprintf(stderr, "ember: no app rollup of %lld s from %lld: %s\n", (long long)w,
            (long long)p, m->why);
    m->rows = 0;
  }
  /* A period only one series has data in would get a copy of that series'
   * own rollup: the read takes the series' rows instead (cover.c falls back
   * to them wherever an app rollup is missing), and the disk holds one. */
  if (contributors < 2) m->rows = 0;
  rc = put_app(c, m, app, level, p, err);
  if (rc == 0) rc = todo_step(c, SQL_APP_TODO_DONE, level, p, app, err);
  return rc;
}

/* ---- Jobs -------------------------------------------------------------- */

/* Job: builds up to arg[2] periods of level arg[0] starting in [arg[4],
 * arg[1]], of series (arg[3] == 0) or of apps; out = how many. */
static int compact_job(ember_store_t *s, ember_job_t *j, ember_err_t *err) {
  ember_conn_t *c = s->wconn;
  int level = (int)j->arg[0];
  bool apps = j->arg[3] != 0;
  struct {
    int64_t start, id;
  } *todo = NULL;
  size_t n = 0, cap = 0;
  merge_t m;
  memset(&m, 0, sizeof m);
  m.c = c;
  sqlite3_stmt *st;
  int rc = ember_conn_prepare(c, apps ? SQL_APP_TODO_READY : SQL_TODO_READY, &st, err),
      step;
  if (rc != 0) return rc;
  sqlite3_bind_int(st, 1, level);
  sqlite3_bind_int64(st, 2, j->arg[1]);
  sqlite3_bind_int64(st, 3, j->arg[2]);
  sqlite3_bind_int64(st, 4, j->arg[4]);
  while ((step = sqlite3_step(st)) == SQLITE_ROW) {
    ember_grow((void **)&todo, &cap, n + 1, sizeof *todo);
    todo[n].start = sqlite3_column_int64(st, 0);
    todo[n++].id = sqlite3_column_int64(st, 1);
  }
  sqlite3_reset(st);
  if (step != SQLITE_DONE) rc = ember_conn_fail(c, err, "reading rollup_todo");
  for (size_t i = 0; rc == 0 && i < n; i++) {
    if (apps) {
      rc = build_app(c, &m, todo[i].id, level, todo[i].start, err);
    } else {
      m.sid = todo[i].id;
      rc = build(c, &m, level, todo[i].start, err);
    }
  }
  if (rc == 0) j->out = (int64_t)n;
  free(todo);
  merge_free(&m);
  return rc;
}

/* ---- Upgrades: app periods of older rollups ----------------------------- */

/* A database from before app rollups has rollups of series only. The app
 * periods they lie in are listed a chunk at a time (the rollups of
 * BACKFILL_PERIODS periods of one level, found through segments_by_age),
 * and built like any other; where the listing has got to is kept in
 * app_backfill, whose row goes once every level is through. */
#define BACKFILL_PERIODS 1000

static const char SQL_BACKFILL_AT[] = "SELECT level, next FROM app_backfill WHERE id=1";
static const char SQL_BACKFILL_SET[] = "UPDATE app_backfill SET level=?1, next=?2 WHERE id=1";
static const char SQL_BACKFILL_DONE[] = "DELETE FROM app_backfill";
static const char SQL_BACKFILL_FIRST[] =
    "SELECT MIN(start) FROM segments WHERE level=?1 AND start>=?2";
static const char SQL_BACKFILL_LIST[] =
    "INSERT OR IGNORE INTO app_rollup_todo(level, start, app_id) "
    "SELECT DISTINCT g.level, g.start, s.app_id FROM segments g "
    "JOIN series s ON s.id=g.series_id JOIN app_rows a ON a.id=s.app_id "
    "WHERE g.level=?1 AND g.start>=?2 AND g.start<?3 AND a.aggregation=0 "
    "AND NOT EXISTS (SELECT 1 FROM app_segments x WHERE x.app_id=s.app_id "
    "AND x.level=g.level AND x.start=g.start)";

static int bind_run(ember_conn_t *c, const char *sql, int64_t a, int64_t b, int64_t d,
                    int n, int64_t *out, ember_err_t *err) {
  sqlite3_stmt *st;
  int rc = ember_conn_prepare(c, sql, &st, err);
  if (rc != 0) return rc;
  int64_t v[3] = {a, b, d};
  for (int i = 0; i < n; i++) sqlite3_bind_int64(st, i + 1, v[i]);
  int step = sqlite3_step(st);
  if (out) *out = step == SQLITE_ROW && sqlite3_column_type(st, 0) != SQLITE_NULL
                      ? sqlite3_column_int64(st, 0)
                      : INT64_MIN;
  if (step != SQLITE_ROW && step != SQLITE_DONE) rc = ember_conn_fail(c, err, "listing app periods");
  sqlite3_reset(st);
  return rc;
}

/* Job: lists the next chunk; out = 1 while there is more. */
static int backfill_job(ember_store_t *s, ember_job_t *j, ember_err_t *err) {
  ember_conn_t *c = s->wconn;
  sqlite3_stmt *st;
  int rc = ember_conn_prepare(c, SQL_BACKFILL_AT, &st, err);
  if (rc != 0) return rc;
  int step = sqlite3_step(st);
  int level = step == SQLITE_ROW ? sqlite3_column_int(st, 0) : EMBER_STORE_LEVELS;
  int64_t next = step == SQLITE_ROW ? sqlite3_column_int64(st, 1) : 0;
  sqlite3_reset(st);
  if (step != SQLITE_ROW && step != SQLITE_DONE)
    return ember_conn_fail(c, err, "reading app_backfill");
  if (step == SQLITE_DONE) return 0;
  int64_t first = INT64_MIN;
  while (level < EMBER_STORE_LEVELS &&
         (rc = bind_run(c, SQL_BACKFILL_FIRST, level, next, 0, 2, &first, err)) == 0 &&
         first == INT64_MIN) {
    level++;
    next = INT64_MIN;
  }
  if (rc != 0) return rc;
  if (level >= EMBER_STORE_LEVELS) return bind_run(c, SQL_BACKFILL_DONE, 0, 0, 0, 0, NULL, err);
  int64_t end = first + BACKFILL_PERIODS * ember_store_width[level];
  if ((rc = bind_run(c, SQL_BACKFILL_LIST, level, first, end, 3, NULL, err)) == 0 &&
      (rc = bind_run(c, SQL_BACKFILL_SET, level, end, 0, 2, NULL, err)) == 0)
    j->out = 1;
  return rc;
}

static int backfill(ember_store_t *s, ember_err_t *err) {
  for (;;) {
    ember_job_t j;
    memset(&j, 0, sizeof j);
    j.run = backfill_job;
    int rc = ember_writer_call(s, &j, err);
    if (rc != 0 || j.out == 0) return rc;
  }
}

/* ---- Pass -------------------------------------------------------------- */

void ember_store_test_before_compact(ember_store_t *s,
                                     void (*fn)(void *ctx, int level, bool apps,
                                                int64_t lo, int64_t hi),
                                     void *ctx) {
  s->before_compact = fn;
  s->before_compact_ctx = ctx;
}

/* The widest period: work goes window by window of this width, so that
 * every level of a window is built before the next window starts. */
#define WINDOW ((int64_t)10000)

/* Posts jobs of one kind and level for periods in [lo, hi] until one comes
 * back short. */
static int compact_level(ember_store_t *s, int level, int64_t lo, int64_t hi, bool apps,
                         ember_err_t *err) {
  int64_t chunk = apps ? APP_CHUNK : COMPACT_CHUNK;
  for (;;) {
    if (s->before_compact) s->before_compact(s->before_compact_ctx, level, apps, lo, hi);
    ember_job_t j;
    memset(&j, 0, sizeof j);
    j.run = compact_job;
    j.arg[0] = level;
    j.arg[1] = hi;
    j.arg[2] = chunk;
    j.arg[3] = apps;
    j.arg[4] = lo;
    int rc = ember_writer_call(s, &j, err);
    if (rc != 0) return rc;
    if (j.out < chunk) return 0;
  }
}

/* The start of the newest window holding settled work below `below`
 * (INT64_MIN when there is none), read on a reader connection. */
static int newest_window(ember_store_t *s, int64_t now, int64_t below, int64_t *out,
                         ember_err_t *err) {
  ember_conn_t *c = NULL;
  int rc = ember_pool_get(s, &c, err);
  *out = INT64_MIN;
  for (int level = 1; rc == 0 && level < EMBER_STORE_LEVELS; level++)
    for (int apps = 0; rc == 0 && apps < 2; apps++) {
      int64_t ready = now - EMBER_STORE_SETTLE - ember_store_width[level];
      sqlite3_stmt *st;
      if ((rc = ember_conn_prepare(c, apps ? SQL_APP_TODO_NEWEST : SQL_TODO_NEWEST, &st,
                                   err)) != 0)
        break;
      sqlite3_bind_int(st, 1, level);
      sqlite3_bind_int64(st, 2, ready < below - 1 ? ready : below - 1);
      int step = sqlite3_step(st);
      if (step == SQLITE_ROW && sqlite3_column_type(st, 0) != SQLITE_NULL) {
        int64_t w = ember_store_floor(sqlite3_column_int64(st, 0), WINDOW);
        if (w > *out) *out = w;
      } else if (step != SQLITE_ROW) {
        rc = ember_conn_fail(c, err, "finding rollup work");
      }
      sqlite3_reset(st);
    }
  ember_pool_put(s, c);
  return rc;
}

/* Newest window first: after a bulk load (or a long stop) the recent past,
 * which most queries ask for, is rolled up within seconds, while older
 * windows follow. Within a window, level by level, and a level's series
 * before its app periods, which are summed from them. */
int ember_compact_pass(ember_store_t *s, int64_t now, ember_err_t *err) {
  int64_t below = INT64_MAX, w;
  int rc = backfill(s, err);
  while (rc == 0 && (rc = newest_window(s, now, below, &w, err)) == 0 && w != INT64_MIN) {
    for (int level = 1; rc == 0 && level < EMBER_STORE_LEVELS; level++) {
      int64_t ready = now - EMBER_STORE_SETTLE - ember_store_width[level];
      int64_t hi = w + WINDOW - 1 < ready ? w + WINDOW - 1 : ready;
      rc = compact_level(s, level, w, hi, false, err);
      if (rc == 0) rc = compact_level(s, level, w, hi, true, err);
    }
    if (rc != 0) break;
    below = w;
  }
  return rc;
}
