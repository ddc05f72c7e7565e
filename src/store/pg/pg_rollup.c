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
#define PG_TODO_BATCH 32

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
  PGresult *r = PQexec(c, "SELECT rolled1, rolled2, rolled3, kept_from FROM maintenance "
                          "WHERE id=1");
  if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1)
    return ember_pg_fail(c, r, err, "reading the rollup marks");
  m->rolled[0] = PG_NONE;
  for (int l = 1; l < EMBER_STORE_LEVELS; l++)
    m->rolled[l] = atoll(PQgetvalue(r, 0, l - 1));
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
  for (size_t i = 0; i < n; i++)
    lit_add(&idl, &k, ids[i]);
  char av[24], bv[24];
  snprintf(av, sizeof av, "%lld",
           (long long)(a - ember_store_width[EMBER_STORE_LEVELS - 1]));
  snprintf(bv, sizeof bv, "%lld", (long long)b);
  const char *params[3] = {lit_done(&idl, k), av, bv};
  PGresult *r =
      PQexecParams(c,
                   "SELECT series_id, level, t FROM rollup_todo WHERE series_id = "
                   "ANY($1::bigint[]) AND t >= $2 AND t < $3",
                   3, NULL, params, NULL, NULL, 0);
  ember_buf_free(&idl);
  if (PQresultStatus(r) != PGRES_TUPLES_OK)
    return ember_pg_fail(c, r, err, "reading stale rollups");
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
    while (first < nt && cmp_todo(&todo[first], &lo) < 0)
      first++;
    size_t last = first;
    while (last < nt && todo[last].sid == ids[i])
      last++;
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

/* The period start of column t at width w, in SQL (floor for negative t
 * too). */
static void period_sql(ember_buf_t *b, const char *t, int64_t w) {
  ember_buf_printf(b, "%s - ((%s %% %lld) + %lld) %% %lld", t, t, (long long)w,
                   (long long)w, (long long)w);
}

/* Writes the rollups and period totals of `level` for the periods (s, p)
 * of relation T, which t_cte defines ("T AS (...)", parameters params),
 * from the level below: samples and bucket totals for level 1; above, the
 * rollups of the level below, except its stale periods, read from samples
 * and bucket totals instead. The periods must have none yet. */
static int build(PGconn *c, int level, const char *t_cte, int n,
                 const char *const *params, ember_err_t *err) {
  int f = level - 1;
  long long wl = (long long)ember_store_width[level],
            wf = (long long)ember_store_width[f];
  ember_buf_t q = EMBER_BUF_INIT;
  int rc = 0;
  for (int pass = 0; rc == 0 && pass < 2; pass++) {
    bool rows = pass == 0;
    ember_buf_reset(&q);
    ember_buf_printf(&q, "WITH %s, q AS (", t_cte);
    /* Each period read by index scans of its own (LATERAL, fenced by
     * OFFSET 0): the planner guesses ten rows for an unnest and would
     * rather hash it against a scan of every sample. */
    if (f == 0) {
      ember_buf_printf(
          &q,
          rows ? "SELECT T.s, T.p, m.stack AS k, m.value AS v, 0::bigint AS n "
                 "FROM T CROSS JOIN LATERAL (SELECT stack, value FROM samples "
                 "WHERE series_id = T.s AND t >= T.p AND t < T.p + %lld "
                 "OFFSET 0) m"
               : "SELECT T.s, T.p, 0::bigint AS k, b.total AS v, b.n FROM T "
                 "CROSS JOIN LATERAL (SELECT total, n FROM bucket_profiles "
                 "WHERE series_id = T.s AND t >= T.p AND t < T.p + %lld "
                 "OFFSET 0) b",
          wl);
    } else {
      ember_buf_printf(
          &q,
          rows ? "SELECT T.s, T.p, r.stack AS k, r.value AS v, 0::bigint AS n "
                 "FROM T CROSS JOIN LATERAL (SELECT t, stack, value FROM "
                 "rollups WHERE series_id = T.s AND level = %d AND t >= T.p "
                 "AND t < T.p + %lld OFFSET 0) r"
               : "SELECT T.s, T.p, 0::bigint AS k, r.total AS v, r.n FROM T "
                 "CROSS JOIN LATERAL (SELECT t, total, n FROM rollup_periods "
                 "WHERE series_id = T.s AND level = %d AND t >= T.p AND "
                 "t < T.p + %lld OFFSET 0) r",
          f, wl);
      ember_buf_printf(
          &q,
          " WHERE NOT EXISTS (SELECT 1 FROM rollup_todo d WHERE d.series_id = "
          "T.s AND d.level = %d AND d.t = r.t) UNION ALL ",
          f);
      ember_buf_printf(
          &q,
          rows ? "SELECT T.s, T.p, m.stack, m.value, 0::bigint FROM T CROSS "
                 "JOIN LATERAL (SELECT t FROM rollup_todo WHERE series_id = "
                 "T.s AND level = %d AND t >= T.p AND t < T.p + %lld OFFSET 0) "
                 "d CROSS JOIN LATERAL (SELECT stack, value FROM samples WHERE "
                 "series_id = T.s AND t >= d.t AND t < d.t + %lld OFFSET 0) m"
               : "SELECT T.s, T.p, 0::bigint, b.total, b.n FROM T CROSS JOIN "
                 "LATERAL (SELECT t FROM rollup_todo WHERE series_id = T.s AND "
                 "level = %d AND t >= T.p AND t < T.p + %lld OFFSET 0) d CROSS "
                 "JOIN LATERAL (SELECT total, n FROM bucket_profiles WHERE "
                 "series_id = T.s AND t >= d.t AND t < d.t + %lld OFFSET 0) b",
          f, wl, wf);
    }
    if (rows)
      ember_buf_printf(
          &q,
          ") INSERT INTO rollups (series_id, level, t, stack, value) SELECT s, "
          "%d, p, k, least(sum(v), 9223372036854775807)::bigint FROM q "
          "GROUP BY s, p, k",
          level);
    else
      ember_buf_printf(
          &q,
          ") INSERT INTO rollup_periods (series_id, level, t, total, n) SELECT "
          "s, %d, p, least(sum(v), 9223372036854775807)::bigint, "
          "sum(n)::bigint FROM q GROUP BY s, p",
          level);
    ember_buf_putc(&q, '\0');
    rc = run(c, q.data, n, params, err);
  }
  ember_buf_free(&q);
  return rc;
}

/* Rolls level up over [a, b) for every series (in a locked transaction):
 * the periods with a profile, or with a rollup or stale period below. */
static int roll_chunk(PGconn *c, int level, int64_t a, int64_t b, ember_err_t *err) {
  char av[24], bv[24];
  snprintf(av, sizeof av, "%lld", (long long)a);
  snprintf(bv, sizeof bv, "%lld", (long long)b);
  const char *p[2] = {av, bv};
  int64_t w = ember_store_width[level];
  ember_buf_t t = EMBER_BUF_INIT;
  ember_buf_puts(&t, "T AS (SELECT DISTINCT series_id AS s, ");
  period_sql(&t, "t", w);
  if (level == 1) {
    ember_buf_puts(
        &t, " AS p FROM bucket_profiles WHERE t >= $1::bigint AND t < $2::bigint)");
  } else {
    ember_buf_printf(&t,
                     " AS p FROM rollup_periods WHERE level = %d AND t >= $1::bigint AND "
                     "t < $2::bigint UNION SELECT series_id, ",
                     level - 1);
    period_sql(&t, "t", w);
    ember_buf_printf(&t,
                     " FROM rollup_todo WHERE level = %d AND t >= $1::bigint AND "
                     "t < $2::bigint)",
                     level - 1);
  }
  ember_buf_putc(&t, '\0');
  int rc = build(c, level, t.data, 2, p, err);
  ember_buf_free(&t);
  if (rc == 0) {
    char sql[96];
    snprintf(sql, sizeof sql,
             "UPDATE maintenance SET rolled%d = $2::bigint WHERE id=1 AND $1::bigint IS "
             "NOT NULL",
             level);
    rc = run(c, sql, 2, p, err);
  }
  return rc;
}

/* Advances level's mark by one chunk towards its limit (settled periods
 * whose finer periods are all rolled up), skipping periods without
 * profiles; *more is false once it has reached it. */
static int roll_step(PGconn *c, int level, int64_t now, bool *more, ember_err_t *err) {
  int64_t w = ember_store_width[level];
  *more = false;
  int rc = begin_locked(c, err);
  if (rc != 0) return rc;
  marks_t m;
  rc = read_marks(c, &m, err);
  int64_t from = m.rolled[level], limit = ember_store_floor(now - EMBER_STORE_SETTLE, w);
  if (level > 1) {
    int64_t below = m.rolled[level - 1];
    int64_t cap = below == PG_NONE ? PG_NONE : ember_store_floor(below, w);
    if (limit > cap) limit = cap;
  }
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
      int64_t a =
          PQgetisnull(r, 0, 0) ? limit : ember_store_floor(atoll(PQgetvalue(r, 0, 0)), w);
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

/* Rebuilds up to PG_TODO_BATCH stale periods, finest level first (so a
 * coarser one is built from fresh rollups); *more while some are left. */
static int rebuild_stale(PGconn *c, bool *more, ember_err_t *err) {
  *more = false;
  int rc = begin_locked(c, err);
  if (rc != 0) return rc;
  char lim[24];
  snprintf(lim, sizeof lim, "%d", PG_TODO_BATCH);
  const char *p0[1] = {lim};
  PGresult *r =
      PQexecParams(c,
                   "SELECT series_id, level, t FROM rollup_todo ORDER BY level, t, "
                   "series_id LIMIT $1::integer",
                   1, NULL, p0, NULL, NULL, 0);
  if (PQresultStatus(r) != PGRES_TUPLES_OK) {
    rc = ember_pg_fail(c, r, err, "listing stale rollups");
    return end(c, rc, err);
  }
  int n = PQntuples(r);
  *more = n == PG_TODO_BATCH;
  for (int level = 1; rc == 0 && level < EMBER_STORE_LEVELS; level++) {
    ember_buf_t s = EMBER_BUF_INIT, t = EMBER_BUF_INIT;
    size_t ks = 0, kt = 0;
    for (int i = 0; i < n; i++) {
      if (atoi(PQgetvalue(r, i, 1)) != level) continue;
      lit_add(&s, &ks, atoll(PQgetvalue(r, i, 0)));
      lit_add(&t, &kt, atoll(PQgetvalue(r, i, 2)));
    }
    const char *p[2] = {lit_done(&s, ks), lit_done(&t, kt)};
    char sql[256];
#define T_OF_BATCH "T AS (SELECT * FROM unnest($1::bigint[], $2::bigint[]) AS u(s, p))"
    for (int k = 0; rc == 0 && ks && k < 2; k++) {
      snprintf(sql, sizeof sql,
               "WITH " T_OF_BATCH " DELETE FROM %s r USING T WHERE r.series_id = T.s AND "
               "r.level = %d AND r.t = T.p",
               k ? "rollup_periods" : "rollups", level);
      rc = run(c, sql, 2, p, err);
    }
    if (rc == 0 && ks) rc = build(c, level, T_OF_BATCH, 2, p, err);
    if (rc == 0 && ks) {
      snprintf(sql, sizeof sql,
               "WITH " T_OF_BATCH
               " DELETE FROM rollup_todo r USING T WHERE r.series_id = "
               "T.s AND r.level = %d AND r.t = T.p",
               level);
      rc = run(c, sql, 2, p, err);
    }
#undef T_OF_BATCH
    ember_buf_free(&s);
    ember_buf_free(&t);
  }
  PQclear(r);
  return end(c, rc, err);
}

int ember_pg_rollup(PGconn *c, int64_t now, const atomic_bool *stop, ember_err_t *err) {
  int rc = 0, jobs = 0;
  bool more = true;
  while (rc == 0 && more && jobs++ < PG_ROLLUP_JOBS && !atomic_load(stop))
    rc = rebuild_stale(c, &more, err);
  for (int level = 1; rc == 0 && level < EMBER_STORE_LEVELS; level++) {
    more = true;
    while (rc == 0 && more && jobs++ < PG_ROLLUP_JOBS && !atomic_load(stop))
      rc = roll_step(c, level, now, &more, err);
  }
  return rc;
}

int ember_pg_rollup_retention(PGconn *c, int64_t cutoff, ember_err_t *err) {
  char cv[24];
  snprintf(cv, sizeof cv, "%lld", (long long)cutoff);
  const char *p[1] = {cv};
  static const char *const SQL[] = {
      ("DELETE FROM rollups r USING rollup_periods p WHERE p.t < $1::bigint AND "
       "r.series_id = p.series_id AND r.level = p.level AND r.t = p.t"),
      "DELETE FROM rollup_periods WHERE t < $1::bigint",
      "DELETE FROM rollup_todo WHERE t < $1::bigint",
      "UPDATE maintenance SET kept_from = greatest(kept_from, $1::bigint) WHERE id=1",
  };
  int rc = 0;
  for (size_t i = 0; rc == 0 && i < sizeof SQL / sizeof *SQL; i++)
    rc = run(c, SQL[i], 1, p, err);
  return rc;
}
