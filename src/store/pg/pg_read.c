/*
 * pg_read.c - the reads of the PostgreSQL store.
 *
 * A read session takes a pooled connection and holds one REPEATABLE READ,
 * READ ONLY transaction from open to close: every read through it sees one
 * snapshot, as with SQLite. Sums are computed by the database (GROUP BY
 * the stack or the bucket); the stacks a tree needs, and their ancestors,
 * come in the same query, so a tree costs one round trip per read.
 * Answers are the SQLite store's for the same data: the same buckets
 * counted (from the one holding `from` to the one holding `until`), the
 * same per-series averages for average apps (rounded half up), the same
 * sorting of names (byte order).
 */
#include "store/pg/pg_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct ember_store_reader {
  const ember_store_ops_t *ops; /* first: store.h dispatches through it */
  ember_pg_t *s;
  PGconn *c;
};

#define S_OF(r) ((r)->c)

int ember_pg_reader_open(ember_store_t *st, ember_store_reader_t **out,
                         ember_err_t *err) {
  ember_pg_t *s = (ember_pg_t *)(void *)st;
  if (ember_deadline_passed())
    return ember_err_set(err, EMBER_ETIMEOUT, "the query ran out of time");
  PGconn *c = NULL;
  int rc = ember_pg_pool_get(s, &c, err);
  if (rc == 0 && (rc = ember_pg_exec(c, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY",
                                     err)) != 0) {
    PQfinish(c);
    return rc;
  }
  if (rc != 0) return rc;
  ember_store_reader_t *r = ember_malloc(sizeof *r);
  r->ops = s->ops;
  r->s = s;
  r->c = c;
  *out = r;
  return 0;
}

void ember_pg_reader_close(ember_store_reader_t *r) {
  PGresult *res = PQexec(r->c, "COMMIT");
  PQclear(res);
  ember_pg_pool_put(r->s, r->c);
  free(r);
}

static int deadline(ember_err_t *err) {
  if (!ember_deadline_passed()) return 0;
  return ember_err_set(err, EMBER_ETIMEOUT,
                       "the query ran out of time; narrow the time range or the "
                       "selector");
}

static int find_app(PGconn *c, const char *app, int64_t *id, ember_aggregation_t *agg,
                    ember_err_t *err) {
  const char *p[1] = {app};
  PGresult *r = PQexecParams(c, "SELECT id, aggregation FROM apps WHERE name=$1", 1, NULL,
                             p, NULL, NULL, 0);
  if (PQresultStatus(r) != PGRES_TUPLES_OK)
    return ember_pg_fail(c, r, err, "looking up an app");
  int rc = 0;
  if (PQntuples(r) == 0) {
    rc = ember_err_set(err, EMBER_ENOTFOUND,
                       "there is no app named '%s'; GET /api/apps lists them", app);
  } else {
    *id = atoll(PQgetvalue(r, 0, 0));
    if (agg) *agg = (ember_aggregation_t)atoi(PQgetvalue(r, 0, 1));
  }
  PQclear(r);
  return rc;
}

/* ---- Series selection ---------------------------------------------------- */

typedef struct {
  ember_buf_t ids; /* a bigint[] literal */
  size_t n;
  ember_series_key_t *keys; /* when labels are kept */
  int64_t *idv;
} series_set_t;

static void set_free(series_set_t *set) {
  for (size_t i = 0; set->keys && i < set->n; i++)
    ember_series_key_free(&set->keys[i]);
  free(set->keys);
  free(set->idv);
  ember_buf_free(&set->ids);
}

static const ember_matcher_t *index_matcher(const ember_selector_t *sel) {
  for (size_t i = 0; i < sel->n; i++)
    if (sel->matchers[i].op == EMBER_MATCH_EQ && sel->matchers[i].value[0])
      return &sel->matchers[i];
  return NULL;
}

static int select_series(PGconn *c, int64_t app, const ember_selector_t *sel,
                         bool keep_labels, series_set_t *out, ember_err_t *err) {
  const ember_matcher_t *m = index_matcher(sel);
  char appv[24];
  snprintf(appv, sizeof appv, "%lld", (long long)app);
  const char *p[3] = {appv, m ? m->key : NULL, m ? m->value : NULL};
  PGresult *r =
      m ? PQexecParams(c,
                       "SELECT s.id, s.labels FROM series_labels l JOIN series s ON "
                       "s.id = l.series_id WHERE l.app_id=$1 AND l.key=$2 AND l.value=$3",
                       3, NULL, p, NULL, NULL, 0)
        : PQexecParams(c, "SELECT id, labels FROM series WHERE app_id=$1", 1, NULL, p,
                       NULL, NULL, 0);
  if (PQresultStatus(r) != PGRES_TUPLES_OK)
    return ember_pg_fail(c, r, err, "selecting series");
  int rc = 0;
  size_t rows = (size_t)PQntuples(r);
  out->idv = ember_malloc((rows ? rows : 1) * sizeof *out->idv);
  if (keep_labels) out->keys = ember_calloc(rows ? rows : 1, sizeof *out->keys);
  ember_buf_putc(&out->ids, '{');
  ember_series_key_t key = {0};
  for (size_t i = 0; rc == 0 && i < rows; i++) {
    const char *labels = PQgetvalue(r, (int)i, 1);
    ember_err_t why;
    if (ember_series_key_parse_labels(labels, strlen(labels), &key, &why) != 0) {
      rc = ember_err_set(err, EMBER_EIO, "series %s has damaged labels: %s",
                         PQgetvalue(r, (int)i, 0), why.msg);
      break;
    }
    if (!ember_selector_match(sel, key.labels, key.nlabels)) continue;
    if (out->n) ember_buf_putc(&out->ids, ',');
    ember_buf_puts(&out->ids, PQgetvalue(r, (int)i, 0));
    out->idv[out->n] = atoll(PQgetvalue(r, (int)i, 0));
    if (keep_labels) {
      out->keys[out->n] = key;
      memset(&key, 0, sizeof key);
    }
    out->n++;
  }
  ember_series_key_free(&key);
  ember_buf_puts(&out->ids, "}");
  ember_buf_putc(&out->ids, '\0');
  PQclear(r);
  return rc;
}

/* ---- Trees --------------------------------------------------------------- */

static uint64_t be64(const char *p) {
  uint64_t v = 0;
  for (int i = 0; i < 8; i++)
    v = v << 8 | (unsigned char)p[i];
  return v;
}

/* The rows of a cover (ember_pg_cover): $1-$4 rollup ranges, $5-$7
 * samples ranges. */
#define SQL_COVER                                                                        \
  "rr AS (SELECT * FROM unnest($1::bigint[], $2::smallint[], $3::bigint[], "             \
  "$4::bigint[]) AS u(s, l, a, b)), sr AS (SELECT * FROM unnest($5::bigint[], "          \
  "$6::bigint[], $7::bigint[]) AS g(s, a, b)), "
/* Each range is read by an index scan of its own: the LATERAL subqueries
 * (fenced by OFFSET 0) keep the planner, which guesses ten rows for an
 * unnest, from hashing the ranges against a scan of a whole table. */
#define SQL_ROWS                                                                         \
  "x AS (SELECT rr.s AS series_id, r.stack, r.value FROM rr CROSS JOIN LATERAL (SELECT " \
  "stack, value FROM rollups WHERE series_id = rr.s AND level = rr.l AND t >= rr.a AND " \
  "t < rr.b OFFSET 0) r UNION ALL SELECT sr.s, m.stack, m.value FROM sr CROSS JOIN "     \
  "LATERAL (SELECT stack, value FROM samples WHERE series_id = sr.s AND t >= sr.a AND "  \
  "t < sr.b OFFSET 0) m), "
/* The stacks with a value, and their ancestors; $8 the app. */
#define SQL_STACKS                                                                       \
  "s AS (SELECT id, parent, name FROM stacks WHERE app_id=$8 AND id IN (SELECT stack "   \
  "FROM v) UNION SELECT p.id, p.parent, p.name FROM stacks p JOIN s ON p.app_id=$8 AND " \
  "p.id = s.parent) "                                                                    \
  "SELECT s.id, s.parent, s.name, v.v::text FROM s LEFT JOIN v ON v.stack = s.id"

/* Sums per stack: plain sums, or each series' sum divided by its
 * profiles, rounded half up, then added (average apps). Rows: id, parent,
 * name, value (text; NULL for an ancestor without samples of its own). */
static const char SQL_TREE_SUM[] =
    "WITH RECURSIVE " SQL_COVER SQL_ROWS
    "v AS (SELECT stack, sum(value) AS v FROM x GROUP BY stack), " SQL_STACKS;
static const char SQL_TREE_AVG[] =
    "WITH RECURSIVE " SQL_COVER SQL_ROWS
    "xs AS (SELECT series_id, stack, sum(value) AS v FROM x GROUP BY series_id, stack), "
    "n AS (SELECT series_id, greatest(sum(n), 1) AS n FROM (SELECT rr.s AS series_id, "
    "p.n "
    "FROM rr CROSS JOIN LATERAL (SELECT n FROM rollup_periods WHERE series_id = rr.s AND "
    "level = rr.l AND t >= rr.a AND t < rr.b OFFSET 0) p UNION ALL SELECT sr.s, b.n FROM "
    "sr CROSS JOIN LATERAL (SELECT n FROM bucket_profiles WHERE series_id = sr.s AND "
    "t >= sr.a AND t < sr.b OFFSET 0) b) q GROUP BY series_id), "
    "v AS (SELECT xs.stack, sum(div(xs.v, coalesce(n.n, 1)) + CASE WHEN mod(xs.v, "
    "coalesce(n.n, 1)) * 2 >= coalesce(n.n, 1) THEN 1 ELSE 0 END) AS v FROM xs LEFT JOIN "
    "n USING (series_id) GROUP BY xs.stack), " SQL_STACKS;
/* Totals per bucket or rolled-up period start: a row per bucket or
 * period, never one per stack. */
static const char SQL_TIMELINE[] =
    "WITH " SQL_COVER
    "q AS (SELECT p.t, p.total AS v FROM rr CROSS JOIN LATERAL (SELECT t, total FROM "
    "rollup_periods WHERE series_id = rr.s AND level = rr.l AND t >= rr.a AND t < rr.b "
    "OFFSET 0) p UNION ALL SELECT b.t, b.total FROM sr CROSS JOIN LATERAL (SELECT t, "
    "total "
    "FROM bucket_profiles WHERE series_id = sr.s AND t >= sr.a AND t < sr.b AND "
    "$8::bigint IS NOT NULL OFFSET 0) b) SELECT t, sum(v)::text FROM q GROUP BY t";

typedef struct {
  int64_t id, parent;
  int row;
  uint32_t node; /* in the tree being built; UINT32_MAX until placed */
} stk_t;

static int cmp_stk(const void *a, const void *b) {
  const stk_t *x = a, *y = b;
  return x->id < y->id ? -1 : x->id > y->id;
}

/* The tree node of stacks[i], creating it and its ancestors. */
static uint32_t place(ember_tree_t *t, PGresult *r, stk_t *st, size_t n, size_t i,
                      int depth) {
  if (st[i].node != UINT32_MAX) return st[i].node;
  uint32_t parent = EMBER_TREE_ROOT;
  if (st[i].parent != 0 && depth < 100000) {
    stk_t key = {st[i].parent, 0, 0, 0}, *p = bsearch(&key, st, n, sizeof *st, cmp_stk);
    if (p) parent = place(t, r, st, n, (size_t)(p - st), depth + 1);
  }
  const char *name = PQgetvalue(r, st[i].row, 2);
  uint32_t nm = ember_tree_intern(t, name, (size_t)PQgetlength(r, st[i].row, 2));
  st[i].node = ember_tree_child(t, parent, nm);
  return st[i].node;
}

int ember_pg_reader_tree(ember_store_reader_t *rd, const ember_selector_t *sel,
                         int64_t from, int64_t until, ember_tree_t *t, int side,
                         ember_err_t *err) {
  PGconn *c = S_OF(rd);
  int64_t app;
  ember_aggregation_t agg;
  series_set_t set = {EMBER_BUF_INIT, 0, NULL, NULL};
  ember_pg_cover_t cv;
  memset(&cv, 0, sizeof cv);
  int rc = find_app(c, sel->app, &app, &agg, err);
  if (rc == 0) rc = select_series(c, app, sel, false, &set, err);
  if (rc == 0) rc = deadline(err);
  if (rc != 0 || set.n == 0 || until < from) goto done;
  from = from < -EMBER_STORE_TIME_MAX ? -EMBER_STORE_TIME_MAX : from;
  until = until > EMBER_STORE_TIME_MAX ? EMBER_STORE_TIME_MAX : until;
  char appv[24];
  snprintf(appv, sizeof appv, "%lld", (long long)app);
  rc = ember_pg_cover(c, set.idv, set.n, ember_store_floor(from, EMBER_STORE_BUCKET),
                      ember_store_floor(until, EMBER_STORE_BUCKET) + EMBER_STORE_BUCKET,
                      EMBER_STORE_LEVELS - 1, &cv, err);
  if (rc != 0) goto done;
  const char *p[8] = {cv.rs.data, cv.rl.data, cv.ra.data, cv.rb.data,
                      cv.ss.data, cv.sa.data, cv.sb.data, appv};
  PGresult *r = PQexecParams(c, agg == EMBER_AGG_AVERAGE ? SQL_TREE_AVG : SQL_TREE_SUM, 8,
                             NULL, p, NULL, NULL, 1);
  if (PQresultStatus(r) != PGRES_TUPLES_OK) {
    rc = ember_pg_fail(c, r, err, "reading a tree");
    goto done;
  }
  size_t n = (size_t)PQntuples(r);
  stk_t *st = ember_malloc((n ? n : 1) * sizeof *st);
  for (size_t i = 0; i < n; i++)
    st[i] = (stk_t){(int64_t)be64(PQgetvalue(r, (int)i, 0)),
                    (int64_t)be64(PQgetvalue(r, (int)i, 1)), (int)i, UINT32_MAX};
  qsort(st, n, sizeof *st, cmp_stk);
  for (size_t i = 0; i < n; i++) {
    if (PQgetisnull(r, st[i].row, 3)) continue;
    char num[64];
    int len = PQgetlength(r, st[i].row, 3);
    snprintf(num, sizeof num, "%.*s", len, PQgetvalue(r, st[i].row, 3));
    uint64_t v = ember_pg_u64(num);
    if (v) ember_tree_add(t, place(t, r, st, n, i, 0), side, v);
  }
  free(st);
  PQclear(r);
done:
  ember_pg_cover_free(&cv);
  set_free(&set);
  return rc;
}

/* Sums here are a tree: stacks come with their frames' names from the
 * database, with no dictionary in memory to number nodes by, so cut.c
 * cuts the tree (ember_tree_truncate), which gives the same graph. */
int ember_pg_reader_sums(ember_store_reader_t *rd, const ember_selector_t *sel,
                         int64_t from, int64_t until, ember_store_sums_t *sums, int side,
                         ember_err_t *err) {
  return ember_pg_reader_tree(rd, sel, from, until, ember_sums_whole(sums), side, err);
}

/* ---- Timeline ------------------------------------------------------------ */

static int64_t ceil_to(int64_t t, int64_t w) {
  int64_t f = ember_store_floor(t, w);
  return f == t || f > INT64_MAX - w ? f : f + w;
}

int ember_pg_reader_timeline(ember_store_reader_t *rd, const ember_selector_t *sel,
                             int64_t start, int64_t step, uint64_t *values, size_t n,
                             ember_err_t *err) {
  if (step <= 0 || step % EMBER_STORE_BUCKET != 0)
    return ember_err_set(err, EMBER_EINVAL,
                         "timeline step %lld is not a positive multiple of %d seconds",
                         (long long)step, EMBER_STORE_BUCKET);
  if (n > (uint64_t)(INT64_MAX / 4) / (uint64_t)step || start > INT64_MAX / 2 ||
      start < INT64_MIN / 2)
    return ember_err_set(err, EMBER_EINVAL, "timeline range is too large");
  PGconn *c = S_OF(rd);
  int64_t app;
  ember_pg_cover_t cv;
  memset(&cv, 0, sizeof cv);
  series_set_t set = {EMBER_BUF_INIT, 0, NULL, NULL};
  int rc = find_app(c, sel->app, &app, NULL, err);
  if (rc == 0) rc = select_series(c, app, sel, false, &set, err);
  if (rc != 0 || set.n == 0 || n == 0) goto done;
  /* The coarsest level whose periods each lie in one step. */
  int level = 0;
  while (level + 1 < EMBER_STORE_LEVELS && step % ember_store_width[level + 1] == 0 &&
         ember_store_floor(start, ember_store_width[level + 1]) == start)
    level++;
  rc = ember_pg_cover(c, set.idv, set.n, ceil_to(start, EMBER_STORE_BUCKET),
                      ceil_to(start + (int64_t)n * step, EMBER_STORE_BUCKET), level, &cv,
                      err);
  if (rc != 0) goto done;
  const char *p[8] = {cv.rs.data, cv.rl.data, cv.ra.data, cv.rb.data,
                      cv.ss.data, cv.sa.data, cv.sb.data, "0"};
  PGresult *r = PQexecParams(c, SQL_TIMELINE, 8, NULL, p, NULL, NULL, 0);
  if (PQresultStatus(r) != PGRES_TUPLES_OK) {
    rc = ember_pg_fail(c, r, err, "reading a timeline");
    goto done;
  }
  for (int i = 0; i < PQntuples(r); i++) {
    int64_t t = atoll(PQgetvalue(r, i, 0));
    uint64_t k = (uint64_t)(t - start) / (uint64_t)step;
    if (t < start || k >= n) continue;
    uint64_t v = ember_pg_u64(PQgetvalue(r, i, 1));
    values[k] = ember_sat_add(values[k], v);
  }
  PQclear(r);
done:
  ember_pg_cover_free(&cv);
  set_free(&set);
  if (rc != 0 && values && n) memset(values, 0, n * sizeof *values);
  return rc;
}

/* ---- Labels -------------------------------------------------------------- */

static int labels(ember_store_reader_t *rd, const ember_selector_t *sel, const char *key,
                  ember_strlist_t *out, ember_err_t *err) {
  PGconn *c = S_OF(rd);
  ember_strlist_t l = {0};
  size_t cap = 0;
  series_set_t set = {EMBER_BUF_INIT, 0, NULL, NULL};
  int64_t app;
  int rc = find_app(c, sel->app, &app, NULL, err);
  if (rc == EMBER_ENOTFOUND) {
    rc = 0;
    goto done;
  }
  if (rc != 0 || (rc = select_series(c, app, sel, true, &set, err)) != 0) goto done;
  ember_strlist_of_series(&l, &cap, set.keys, set.n, key);
done:
  set_free(&set);
  if (rc == 0)
    *out = l;
  else
    ember_strlist_free(&l);
  return rc;
}

int ember_pg_reader_label_keys(ember_store_reader_t *r, const ember_selector_t *sel,
                               ember_strlist_t *out, ember_err_t *err) {
  return labels(r, sel, NULL, out, err);
}

int ember_pg_reader_label_values(ember_store_reader_t *r, const ember_selector_t *sel,
                                 const char *key, ember_strlist_t *out,
                                 ember_err_t *err) {
  return labels(r, sel, key, out, err);
}

/* ---- Apps ---------------------------------------------------------------- */

static void app_from_row(PGresult *r, int i, ember_app_info_t *a) {
  a->name = ember_strdup(PQgetvalue(r, i, 0));
  a->spy_name = ember_strdup(PQgetvalue(r, i, 1));
  a->sample_rate = (uint32_t)atoll(PQgetvalue(r, i, 2));
  a->units = ember_strdup(PQgetvalue(r, i, 3));
  a->aggregation =
      atoi(PQgetvalue(r, i, 4)) == EMBER_AGG_AVERAGE ? EMBER_AGG_AVERAGE : EMBER_AGG_SUM;
}

int ember_pg_reader_apps(ember_store_reader_t *rd, ember_app_info_t **apps, size_t *n,
                         ember_err_t *err) {
  PGconn *c = S_OF(rd);
  PGresult *r =
      PQexec(c, "SELECT name, spy_name, sample_rate, units, aggregation FROM apps "
                "ORDER BY name COLLATE \"C\"");
  if (PQresultStatus(r) != PGRES_TUPLES_OK)
    return ember_pg_fail(c, r, err, "listing apps");
  size_t count = (size_t)PQntuples(r);
  ember_app_info_t *list = ember_calloc(count ? count : 1, sizeof *list);
  for (size_t i = 0; i < count; i++)
    app_from_row(r, (int)i, &list[i]);
  PQclear(r);
  *apps = list;
  *n = count;
  return 0;
}

int ember_pg_reader_app(ember_store_reader_t *rd, const char *app, ember_app_info_t *out,
                        ember_err_t *err) {
  PGconn *c = S_OF(rd);
  const char *p[1] = {app};
  PGresult *r =
      PQexecParams(c,
                   "SELECT name, spy_name, sample_rate, units, aggregation FROM "
                   "apps WHERE name=$1",
                   1, NULL, p, NULL, NULL, 0);
  if (PQresultStatus(r) != PGRES_TUPLES_OK)
    return ember_pg_fail(c, r, err, "reading an app");
  int rc = 0;
  if (PQntuples(r) == 0)
    rc = ember_err_set(err, EMBER_ENOTFOUND,
                       "there is no app named '%s'; GET /api/apps lists them", app);
  else
    app_from_row(r, 0, out);
  PQclear(r);
  return rc;
}
