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

/* Periods per job: bounds how long one job holds the writer. */
#define COMPACT_CHUNK 64

static const char SQL_TODO_READY[] =
    "SELECT start, series_id FROM rollup_todo WHERE level=?1 AND start<=?2 "
    "ORDER BY start LIMIT ?3";
static const char SQL_TODO_DONE[] =
    "DELETE FROM rollup_todo WHERE level=?1 AND start=?2 AND series_id=?3";
static const char SQL_TODO_NEXT[] =
    "INSERT OR IGNORE INTO rollup_todo(level, start, series_id) VALUES(?1, ?2, ?3)";
static const char SQL_CROWDED[] =
    "SELECT start FROM segments WHERE series_id=?1 AND level=0 AND start>=?2 "
    "AND start<?3 AND seq>=0 GROUP BY start HAVING COUNT(*) > 1";
/* Span rows (seq < 0) are never merged, so never cleared here. */
static const char SQL_BUCKET_CLEAR[] =
    "DELETE FROM segments WHERE series_id=?1 AND level=?2 AND start=?3 AND seq>=0";
static const char SQL_ROW_PUT[] =
    "INSERT INTO segments(series_id, level, start, seq, total, profiles, data) "
    "VALUES(?1, ?2, ?3, 0, ?4, ?5, ?6)";

/* ---- Merging rows ------------------------------------------------------ */

/* The running sum of the rows handed to merge_row. */
typedef struct {
  ember_conn_t *c;
  int64_t sid;
  ember_seg_pair_t *acc, *tmp;
  size_t n, acc_cap, tmp_cap;
  ember_take_t take;
  uint64_t total;
  int64_t profiles;
  size_t rows;
  bool damaged;
  char why[EMBER_ERR_MSG_MAX];
} merge_t;

static void merge_reset(merge_t *m) {
  m->n = 0;
  m->total = 0;
  m->profiles = 0;
  m->rows = 0;
  m->damaged = false;
}

/* Counts the rows a period's rollup would sum. */
static int count_row(void *ctx, const ember_row_t *row, ember_err_t *err) {
  ((merge_t *)ctx)->rows++;
  return 0;
}

static int merge_row(void *ctx, const ember_row_t *row, ember_err_t *err) {
  merge_t *m = ctx;
  const ember_seg_pair_t *p;
  size_t n;
  uint64_t total;
  int64_t profiles;
  ember_err_t why;
  if (m->damaged) return 0;
  if (ember_row_take(m->c->codec, row, &m->take, &p, &n, &total, &profiles, &why)) {
    char where[160];
    ember_row_name(where, sizeof where, m->sid, row->level, row->start, row->seq);
    snprintf(m->why, sizeof m->why, "%s is damaged (%.300s)", where, why.msg);
    m->damaged = true;
    return 0;
  }
  size_t k = 0;
  ember_seg_merge(m->acc, m->n, p, n, &m->tmp, &k, &m->tmp_cap);
  ember_seg_pair_t *swap = m->acc;
  size_t swap_cap = m->acc_cap;
  m->acc = m->tmp;
  m->acc_cap = m->tmp_cap;
  m->n = k;
  m->tmp = swap;
  m->tmp_cap = swap_cap;
  m->total = ember_seg_add(m->total, total);
  m->profiles += profiles;
  m->rows++;
  return 0;
}

/* Replaces every row of (sid, level, start) by the merged one. A merge the
 * segment format cannot hold (past its size bound) is not written: bucket
 * rows (level 0) stay as they are, and a rollup slot is left empty, so its
 * period is read from the finer rows, exactly (invariant 3). */
static int put_merged(ember_conn_t *c, const merge_t *m, int level, int64_t start,
                      ember_err_t *err) {
  ember_buf_t blob = EMBER_BUF_INIT;
  sqlite3_stmt *st;
  int rc = 0;
  bool too_big = false;
  if (m->rows > 0) {
    ember_err_t why;
    rc = ember_seg_encode(c->codec, m->acc, m->n, &blob, &why);
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
  free(starts);
  return rc;
}

/* ---- Building one period ----------------------------------------------- */

static int todo_step(ember_conn_t *c, const char *sql, int level, int64_t start,
                     int64_t sid, ember_err_t *err) {
  sqlite3_stmt *st;
  int rc = ember_conn_prepare(c, sql, &st, err);
  if (rc != 0) return rc;
  sqlite3_bind_int(st, 1, level);
  sqlite3_bind_int64(st, 2, start);
  sqlite3_bind_int64(st, 3, sid);
  if (sqlite3_step(st) != SQLITE_DONE) rc = ember_conn_fail(c, err, "updating rollup_todo");
  sqlite3_reset(st);
  return rc;
}

static int build(ember_conn_t *c, merge_t *m, int level, int64_t p, ember_err_t *err) {
  int64_t w = ember_store_width[level];
  int rc = 0;
  m->damaged = false;
  if (level == 1) rc = merge_buckets(c, m, p, p + w, err);
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
    fprintf(stderr, "ember: not rolling up %lld s from %lld: %s\n", (long long)w,
            (long long)p, m->why);
  } else {
    if (m->rows < 2) m->rows = 0;
    rc = put_merged(c, m, level, p, err);
  }
  if (rc == 0 && level + 1 < EMBER_STORE_LEVELS)
    rc = todo_step(c, SQL_TODO_NEXT, level + 1,
                   ember_store_floor(p, ember_store_width[level + 1]), m->sid, err);
  if (rc == 0) rc = todo_step(c, SQL_TODO_DONE, level, p, m->sid, err);
  return rc;
}

/* Job: builds up to arg[2] settled periods of level arg[0] starting at or
 * before arg[1]; out = how many. */
static int compact_job(ember_store_t *s, ember_job_t *j, ember_err_t *err) {
  ember_conn_t *c = s->wconn;
  int level = (int)j->arg[0];
  struct {
    int64_t start, sid;
  } *todo = NULL;
  size_t n = 0, cap = 0;
  merge_t m;
  memset(&m, 0, sizeof m);
  m.c = c;
  sqlite3_stmt *st;
  int rc = ember_conn_prepare(c, SQL_TODO_READY, &st, err), step;
  if (rc != 0) return rc;
  sqlite3_bind_int(st, 1, level);
  sqlite3_bind_int64(st, 2, j->arg[1]);
  sqlite3_bind_int64(st, 3, j->arg[2]);
  while ((step = sqlite3_step(st)) == SQLITE_ROW) {
    ember_grow((void **)&todo, &cap, n + 1, sizeof *todo);
    todo[n].start = sqlite3_column_int64(st, 0);
    todo[n++].sid = sqlite3_column_int64(st, 1);
  }
  sqlite3_reset(st);
  if (step != SQLITE_DONE) rc = ember_conn_fail(c, err, "reading rollup_todo");
  for (size_t i = 0; rc == 0 && i < n; i++) {
    m.sid = todo[i].sid;
    rc = build(c, &m, level, todo[i].start, err);
  }
  if (rc == 0) j->out = (int64_t)n;
  free(todo);
  free(m.acc);
  free(m.tmp);
  free(m.take.pairs);
  return rc;
}

/* ---- Pass -------------------------------------------------------------- */

int ember_compact_pass(ember_store_t *s, int64_t now, ember_err_t *err) {
  for (int level = 1; level < EMBER_STORE_LEVELS; level++) {
    int64_t ready = now - EMBER_STORE_SETTLE - ember_store_width[level];
    for (;;) {
      ember_job_t j;
      memset(&j, 0, sizeof j);
      j.run = compact_job;
      j.arg[0] = level;
      j.arg[1] = ready;
      j.arg[2] = COMPACT_CHUNK;
      int rc = ember_writer_call(s, &j, err);
      if (rc != 0) return rc;
      if (j.out < COMPACT_CHUNK) break;
    }
  }
  return 0;
}
