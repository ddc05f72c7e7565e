/*
 * pg_rollup.c - time rollups of the PostgreSQL store: the levels of the
 * SQLite store (1 = 100 s, 2 = 1000 s, 3 = 10000 s; ember_store_width),
 * so that a 7-day read sums a few hundred rows per stack instead of
 * 60,480 buckets.
 *
 * Tables (schema 3): rollups (series, level, period start, stack, value)
 * holds the sum of a period's samples; rollup_periods (series, level,
 * period start, total, profiles) its totals, for timelines and averages;
 * rollup_todo the periods whose rollup a late push made stale.
 *
 * Which periods have a rollup follows from the maintenance row, not from
 * a list: level L is rolled up below maintenance.rolledL (a multiple of
 * its width), from maintenance.kept_from on (what retention left), except
 * the periods in rollup_todo. So:
 *
 *   - the maintenance node advances rolledL, one chunk per transaction,
 *     summing the samples of the chunk's periods (every series at once);
 *   - a push to a period below rolledL lists it in rollup_todo in the
 *     statement that writes its profile counts, and reads then take the
 *     period from finer rows until the maintenance node rebuilds it;
 *   - retention deletes the rollups of periods starting before its cutoff
 *     and raises kept_from, so a period straddling the cutoff is read
 *     from finer rows, as SQLite reads it.
 *
 * Every change of rolledL, kept_from and of the rollups runs under the
 * delete lock (exclusive), every write under it shared (pg.c): a rollup
 * is always the sum of what was committed in its period, and a push sees
 * the rolledL its period is judged by.
 *
 * Reads (ember_pg_cover) cover each series' range with the coarsest
 * rolled-up periods inside it, then finer ones, then samples for the
 * rest: the plan of the SQLite store (cover.c), on periods known without
 * reading a row.
 */
#include "store/pg/pg_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* "No period rolled up yet" in rolledL and "nothing cut" in kept_from. */
#define PG_NONE (-9223372036854775807LL)
/* Seconds of samples one rollup transaction sums, by level. */
static const int64_t CHUNK[EMBER_STORE_LEVELS] = {0, 10000, 10000, 100000};
/* Rollup transactions one maintenance pass runs at most. */
#define PG_ROLLUP_JOBS 200
/* Stale periods rebuilt per transaction. */
#define PG_TODO_BATCH 256

/* ---- Arrays as text literals ----------------------------------------------- */

static void lit_add(ember_buf_t *b, size_t *n, int64_t v) {
  ember_buf_putc(b, (*n)++ ? ',' : '{');
  ember_buf_printf(b, "%lld", (long long)v);
}

static const char *lit_done(ember_buf_t *b, size_t n) {
  if (!n) ember_buf_putc(b, '{');
  ember_buf_puts(b, "}");
  ember_buf_putc(b, '\0');
  return b->data;
}

/* ---- The maintenance row ------------------------------------------------------ */

typedef struct {
  int64_t rolled[EMBER_STORE_LEVELS]; /* [0] unused */
  int64_t kept_from;
} marks_t;

static int read_marks(PGconn *c, marks_t *m, ember_err_t *err) {
  PGresult *r = PQexec(c,
                       "SELECT rolled1, rolled2, rolled3, kept_from FROM maintenance "
                       "WHERE id=1");
  if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1)
    return ember_pg_fail(c, r, err, "reading the rollup marks");
  m->rolled[0] = PG_NONE;
  for (int l = 1; l < EMBER_STORE_LEVELS; l++) m->rolled[l] = atoll(PQgetvalue(r, 0, l - 1));
  m->kept_from = atoll(PQgetvalue(r, 0, 3));
  PQclear(r);
  return 0;
}

/* ---- Reads: the cover ---------------------------------------------------------- */

typedef struct {
  int64_t sid, t;
  int level;
} todo_t;

static int cmp_todo(const void *a, const void *b) {
  const todo_t *x = a, *y = b;
  if (x->sid != y->sid) return x->sid < y->sid ? -1 : 1;
  if (x->level != y->level) return x->level < y->level ? -1 : 1;
  return x->t < y->t ? -1 : x->t > y->t;
}

typedef struct {
  ember_pg_cover_t *out;
  const marks_t *m;
  const todo_t *todo;
  size_t ntodo;
  int64_t sid;
} plan_t;

static bool stale(const plan_t *p, int level, int64_t t) {
  todo_t key = {p->sid, t, level};
  return p->ntodo && bsearch(&key, p->todo, p->ntodo, sizeof key, cmp_todo);
}

static void add_rollups(plan_t *p, int level, int64_t a, int64_t b) {
  ember_pg_cover_t *o = p->out;
  size_t n = o->nr;
  lit_add(&o->rs, &n, p->sid);
  n = o->nr;
  lit_add(&o->rl, &n, level);
  n = o->nr;
  lit_add(&o->ra, &n, a);
  n = o->nr;
  lit_add(&o->rb, &n, b);
  o->nr++;
}

static void add_samples(plan_t *p, int64_t a, int64_t b) {
  ember_pg_cover_t *o = p->out;
  if (o->ns && o->last_sid == p->sid && o->last_b == a) {
    o->last_b = b; /* adjacent: widen the last range, written at the end */
    return;
  }
  if (o->ns) {
    size_t n = o->ns - 1;
    lit_add(&o->sb, &n, o->last_b);
  }
  size_t n = o->ns;
  lit_add(&o->ss, &n, p->sid);
  n = o->ns;
  lit_add(&o->sa, &n, a);
  o->ns++;
  o->last_sid = p->sid;
  o->last_b = b;
}

/* Covers [a, b) with periods of level `level` and finer. */
static void plan(plan_t *p, int64_t a, int64_t b, int level) {
  if (a >= b) return;
  if (level == 0) {
    add_samples(p, a, b);
    return;
  }
  int64_t w = ember_store_width[level];
  int64_t lo = a > p->m->kept_from ? a : p->m->kept_from;
  lo = ember_store_floor(lo, w) == lo ? lo : ember_store_floor(lo, w) + w;
  int64_t hi = ember_store_floor(b, w);
  if (hi > p->m->rolled[level]) hi = p->m->rolled[level];
  if (lo >= hi) {
    plan(p, a, b, level - 1);
    return;
  }
  plan(p, a, lo, level - 1);
  int64_t run = lo;
  /* Stale periods break the run; they are few, so look each one up
   * among this series' only when any is listed. */
  for (int64_t t = lo; p->ntodo && t < hi; t += w) {
    if (!stale(p, level, t)) continue;
    if (run < t) add_rollups(p, level, run, t);
    plan(p, t, t + w, level - 1);
    run = t + w;
  }
  if (run < hi) add_rollups(p, level, run, hi);
  plan(p, hi, b, level - 1);
}

int ember_pg_cover(PGconn *c, const int64_t *ids, size_t n, int64_t a, int64_t b,
                   int max_level, ember_pg_cover_t *out, ember_err_t *err) {
  memset(out, 0, sizeof *out);
  marks_t m;
  int rc = read_marks(c, &m, err);
  if (rc != 0) return rc;
  /* The stale periods of these series that may lie in the range. */
  ember_buf_t idl = EMBER_BUF_INIT;
  size_t k = 0;
  for (size_t i = 0; i < n; i++) lit_add(&idl, &k, ids[i]);
  char av[24], bv[24];
  snprintf(av, sizeof av, "%lld", (long long)(a - ember_store_width[EMBER_STORE_LEVELS - 1]));
  snprintf(bv, sizeof bv, "%lld", (long long)b);
  const char *params[3] = {lit_done(&idl, k), av, bv};
  PGresult *r = PQexecParams(c,
                             "SELECT series_id, level, t FROM rollup_todo WHERE series_id = "
                             "ANY($1::bigint[]) AND t >= $2 AND t < $3",
                             3, NULL, params, NULL, NULL, 0);
  ember_buf_free(&idl);
  if (PQresultStatus(r) != PGRES_TUPLES_OK) return ember_pg_fail(c, r, err, "reading stale rollups");
  size_t nt = (size_t)PQntuples(r);
  todo_t *todo = ember_malloc((nt ? nt : 1) * sizeof *todo);
  for (size_t i = 0; i < nt; i++)
    todo[i] = (todo_t){atoll(PQgetvalue(r, (int)i, 0)), atoll(PQgetvalue(r, (int)i, 2)),
                       atoi(PQgetvalue(r, (int)i, 1))};
  PQclear(r);
  qsort(todo, nt, sizeof *todo, cmp_todo);
  for (size_t i = 0; i < n; i++) {
    plan_t p = {out, &m, todo, nt, ids[i]};
    /* This series' stale periods only. */
    todo_t lo = {ids[i], INT64_MIN, 0};
    size_t first = 0;
    while (first < nt && cmp_todo(&todo[first], &lo) < 0) first++;
    size_t last = first;
    while (last < nt && todo[last].sid == ids[i]) last++;
    p.todo = todo + first;
    p.ntodo = last - first;
    plan(&p, a, b, max_level);
  }
  free(todo);
  if (out->ns) {
    size_t x = out->ns - 1;
    lit_add(&out->sb, &x, out->last_b);
  }
  lit_done(&out->rs, out->nr);
  lit_done(&out->rl, out->nr);
  lit_done(&out->ra, out->nr);
  lit_done(&out->rb, out->nr);
  lit_done(&out->ss, out->ns);
  lit_done(&out->sa, out->ns);
  lit_done(&out->sb, out->ns);
  return 0;
}

void ember_pg_cover_free(ember_pg_cover_t *cv) {
  ember_buf_free(&cv->rs);
  ember_buf_free(&cv->rl);
  ember_buf_free(&cv->ra);
  ember_buf_free(&cv->rb);
  ember_buf_free(&cv->ss);
  ember_buf_free(&cv->sa);
  ember_buf_free(&cv->sb);
}

/* ---- Maintenance ----------------------------------------------------------------- */

static int run(PGconn *c, const char *sql, int n, const char *const *params,
               ember_err_t *err) {
  PGresult *r = PQexecParams(c, sql, n, NULL, params, NULL, NULL, 0);
  ExecStatusType st = PQresultStatus(r);
  if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK)
    return ember_pg_fail(c, r, err, "rolling up");
  PQclear(r);
  return 0;
}

/* Begins a transaction holding the delete lock exclusively. */
static int begin_locked(PGconn *c, ember_err_t *err) {
  char sql[96];
  snprintf(sql, sizeof sql, "BEGIN; SELECT pg_advisory_xact_lock(%d, %d)",
           EMBER_PG_LOCK_CLASS, EMBER_PG_LOCK_DELETE);
  int rc = ember_pg_exec(c, sql, err);
  if (rc != 0) ember_pg_exec(c, "ROLLBACK", NULL);
  return rc;
}

static int end(PGconn *c, int rc, ember_err_t *err) {
  if (rc == 0) rc = ember_pg_exec(c, "COMMIT", err);
  if (rc != 0) ember_pg_exec(c, "ROLLBACK", NULL);
  return rc;
}

/* The period start of t at width $4, in SQL (floor for negative t too). */
#define PERIOD(t) t " - ((" t " % $4::bigint) + $4::bigint) % $4::bigint"

/* Rolls level up over [a, b) for every series (in a locked transaction). */
static int roll_chunk(PGconn *c, int level, int64_t a, int64_t b, ember_err_t *err) {
  char av[24], bv[24], lv[8], wv[24];
  snprintf(av, sizeof av, "%lld", (long long)a);
  snprintf(bv, sizeof bv, "%lld", (long long)b);
  snprintf(lv, sizeof lv, "%d", level);
  snprintf(wv, sizeof wv, "%lld", (long long)ember_store_width[level]);
  const char *p[4] = {av, bv, lv, wv};
  int rc = run(c,
               "INSERT INTO rollups (series_id, level, t, stack, value) SELECT series_id, "
               "$3::smallint, " PERIOD("t") ", stack, least(sum(value), "
               "9223372036854775807)::bigint FROM samples WHERE t >= $1::bigint AND "
               "t < $2::bigint GROUP BY 1, 3, 4",
               4, p, err);
  if (rc == 0)
    rc = run(c,
             "INSERT INTO rollup_periods (series_id, level, t, total, n) SELECT series_id, "
             "$3::smallint, pt, least(sum(v), 9223372036854775807)::bigint, sum(n)::bigint "
             "FROM (SELECT series_id, " PERIOD("t") " AS pt, value AS v, 0::bigint AS n "
             "FROM samples WHERE t >= $1::bigint AND t < $2::bigint UNION ALL SELECT "
             "series_id, " PERIOD("t") ", 0, n FROM bucket_profiles WHERE t >= $1::bigint "
             "AND t < $2::bigint) q GROUP BY 1, 3",
             4, p, err);
  if (rc == 0)
    rc = run(c,
             "DELETE FROM rollup_todo WHERE level = $3::smallint AND t >= $1::bigint AND "
             "t < $2::bigint AND $4::bigint > 0",
             4, p, err);
  if (rc == 0) {
    char sql[96];
    snprintf(sql, sizeof sql, "UPDATE maintenance SET rolled%d = $2::bigint WHERE id=1 "
             "AND $1::bigint IS NOT NULL", level);
    rc = run(c, sql, 2, p, err);
  }
  return rc;
}

/* Advances level's mark by one chunk towards limit, skipping periods
 * without samples; *more is false once it has reached it. */
static int roll_step(PGconn *c, int level, int64_t now, bool *more, ember_err_t *err) {
  int64_t w = ember_store_width[level];
  int64_t limit = ember_store_floor(now - EMBER_STORE_SETTLE, w);
  *more = false;
  int rc = begin_locked(c, err);
  if (rc != 0) return rc;
  marks_t m;
  rc = read_marks(c, &m, err);
  int64_t from = m.rolled[level];
  if (rc == 0 && from < limit) {
    /* The first profiles at or after the mark: periods before them have
     * nothing to sum (a BRIN index makes this cheap). */
    char fv[24], lv[24];
    snprintf(fv, sizeof fv, "%lld", (long long)from);
    snprintf(lv, sizeof lv, "%lld", (long long)limit);
    const char *p[2] = {fv, lv};
    PGresult *r = PQexecParams(c,
                               "SELECT min(t) FROM bucket_profiles WHERE t >= $1::bigint "
                               "AND t < $2::bigint",
                               2, NULL, p, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
      rc = ember_pg_fail(c, r, err, "finding periods to roll up");
    } else {
      int64_t a = PQgetisnull(r, 0, 0) ? limit
                                       : ember_store_floor(atoll(PQgetvalue(r, 0, 0)), w);
      if (a < from) a = from;
      int64_t b = a + CHUNK[level] < limit ? a + CHUNK[level] : limit;
      if (a >= limit) a = b = limit;
      PQclear(r);
      rc = roll_chunk(c, level, a, b, err);
      *more = b < limit;
    }
  }
  return end(c, rc, err);
}

/* Rebuilds up to PG_TODO_BATCH stale periods; *more while some are left. */
static int rebuild_stale(PGconn *c, bool *more, ember_err_t *err) {
  *more = false;
  int rc = begin_locked(c, err);
  if (rc != 0) return rc;
  char lim[24];
  snprintf(lim, sizeof lim, "%d", PG_TODO_BATCH);
  const char *p0[1] = {lim};
  PGresult *r = PQexecParams(c,
                             "SELECT series_id, level, t FROM rollup_todo ORDER BY level, t, "
                             "series_id LIMIT $1::integer",
                             1, NULL, p0, NULL, NULL, 0);
  if (PQresultStatus(r) != PGRES_TUPLES_OK) {
    rc = ember_pg_fail(c, r, err, "listing stale rollups");
    return end(c, rc, err);
  }
  size_t n = (size_t)PQntuples(r), ks = 0, kl = 0, kt = 0;
  ember_buf_t s = EMBER_BUF_INIT, l = EMBER_BUF_INIT, t = EMBER_BUF_INIT;
  for (size_t i = 0; i < n; i++) {
    lit_add(&s, &ks, atoll(PQgetvalue(r, (int)i, 0)));
    lit_add(&l, &kl, atoll(PQgetvalue(r, (int)i, 1)));
    lit_add(&t, &kt, atoll(PQgetvalue(r, (int)i, 2)));
  }
  PQclear(r);
  *more = n == PG_TODO_BATCH;
  const char *p[3] = {lit_done(&s, ks), lit_done(&l, kl), lit_done(&t, kt)};
#define TODO_U                                                                          \
  "WITH u AS (SELECT s, l, p, CASE l WHEN 1 THEN 100 WHEN 2 THEN 1000 ELSE 10000 END "   \
  "AS w FROM unnest($1::bigint[], $2::smallint[], $3::bigint[]) AS u(s, l, p)) "
  static const char *const SQL[] = {
      TODO_U "DELETE FROM rollups r USING u WHERE r.series_id = u.s AND r.level = u.l AND "
             "r.t = u.p",
      TODO_U "DELETE FROM rollup_periods r USING u WHERE r.series_id = u.s AND "
             "r.level = u.l AND r.t = u.p",
      TODO_U "INSERT INTO rollups (series_id, level, t, stack, value) SELECT u.s, u.l, u.p, "
             "m.stack, least(sum(m.value), 9223372036854775807)::bigint FROM u JOIN samples "
             "m ON m.series_id = u.s AND m.t >= u.p AND m.t < u.p + u.w GROUP BY u.s, u.l, "
             "u.p, m.stack",
      TODO_U "INSERT INTO rollup_periods (series_id, level, t, total, n) SELECT s, l, p, "
             "least(sum(v), 9223372036854775807)::bigint, sum(n)::bigint FROM (SELECT u.s, "
             "u.l, u.p, m.value AS v, 0::bigint AS n FROM u JOIN samples m ON m.series_id = "
             "u.s AND m.t >= u.p AND m.t < u.p + u.w UNION ALL SELECT u.s, u.l, u.p, 0, b.n "
             "FROM u JOIN bucket_profiles b ON b.series_id = u.s AND b.t >= u.p AND b.t < "
             "u.p + u.w) q GROUP BY s, l, p",
      TODO_U "DELETE FROM rollup_todo r USING u WHERE r.series_id = u.s AND r.level = u.l "
             "AND r.t = u.p",
  };
#undef TODO_U
  for (size_t i = 0; rc == 0 && n && i < sizeof SQL / sizeof *SQL; i++)
    rc = run(c, SQL[i], 3, p, err);
  ember_buf_free(&s);
  ember_buf_free(&l);
  ember_buf_free(&t);
  return end(c, rc, err);
}

int ember_pg_rollup(PGconn *c, int64_t now, ember_err_t *err) {
  int rc = 0, jobs = 0;
  bool more = true;
  while (rc == 0 && more && jobs++ < PG_ROLLUP_JOBS) rc = rebuild_stale(c, &more, err);
  for (int level = 1; rc == 0 && level < EMBER_STORE_LEVELS; level++) {
    more = true;
    while (rc == 0 && more && jobs++ < PG_ROLLUP_JOBS) rc = roll_step(c, level, now, &more, err);
  }
  return rc;
}

int ember_pg_rollup_retention(PGconn *c, int64_t cutoff, ember_err_t *err) {
  char cv[24];
  snprintf(cv, sizeof cv, "%lld", (long long)cutoff);
  const char *p[1] = {cv};
  static const char *const SQL[] = {
      "DELETE FROM rollups r USING rollup_periods p WHERE p.t < $1::bigint AND "
      "r.series_id = p.series_id AND r.level = p.level AND r.t = p.t",
      "DELETE FROM rollup_periods WHERE t < $1::bigint",
      "DELETE FROM rollup_todo WHERE t < $1::bigint",
      "UPDATE maintenance SET kept_from = greatest(kept_from, $1::bigint) WHERE id=1",
  };
  int rc = 0;
  for (size_t i = 0; rc == 0 && i < sizeof SQL / sizeof *SQL; i++)
    rc = run(c, SQL[i], 1, p, err);
  return rc;
}
