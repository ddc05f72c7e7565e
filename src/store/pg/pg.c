/*
 * pg.c - the PostgreSQL store: many Ember nodes, one database.
 *
 * Tables (schema version 2): apps, series and series_labels as in the
 * SQLite store; stacks (app, id, parent id, frame name), whose ids are
 * hashes (pg_int.h); samples (series, 10 s bucket start, stack, value) and
 * bucket_profiles (series, bucket start, profiles, total), both partitioned by
 * day (declarative range partitions on the bucket start) so that retention
 * drops whole partitions.
 *
 * Writes: submit queues a push for this node's writer thread, which takes
 * everything waiting (up to EMBER_STORE_BATCH_MAX pushes) and commits it in
 * one transaction, each push in its own savepoint so that one bad push
 * fails alone; only then are the pushes answered (200 means committed).
 * Stacks are immutable and named by their content, so they are written
 * before, on a second connection in their own short transactions, sorted
 * by id (two nodes writing the same new stacks take their row locks in
 * the same order and never deadlock); a stack written for a push that then
 * fails is harmless. A full queue answers EMBER_EBUSY (429).
 *
 * Deletes: every write transaction holds the advisory lock
 * EMBER_PG_LOCK_DELETE shared; retention and deleting an app take it
 * exclusively. So a push never lands in a series that retention deletes as
 * empty in the same moment (its rows would be left without a series, and
 * an acknowledged push lost), and a writer learns of partitions dropped by
 * any node (maintenance.dropped) before it writes, and makes them anew.
 *
 * Maintenance (retention, compaction) runs on the node holding the
 * session advisory lock EMBER_PG_LOCK_MAINT on its maintenance connection.
 * Every node tries to take it every few seconds; when the holder dies its
 * session ends, the lock is released and another node takes over.
 *
 * Migrations run under the advisory lock EMBER_PG_LOCK_MIGRATE, so one
 * node migrates while the others wait; a node refuses a database whose
 * schema is newer than its own.
 */
#include "store/pg/pg_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Seconds between attempts of a node that does not do maintenance to take
 * it over, and between the owner's checks that its session still holds
 * the lock (so that, after the database ended that session, two nodes
 * count themselves the owner for at most about a second). */
#define PG_MAINT_TRY 5
#define PG_MAINT_CHECK 1

/* ---- Id sets ----------------------------------------------------------- */

static size_t slot_of(uint64_t id, size_t cap) {
  return (size_t)((id * 0x9e3779b97f4a7c15ull) >> 17) & (cap - 1);
}

bool ember_pg_idset_has(const ember_pg_idset_t *s, uint64_t id) {
  if (!s->cap) return false;
  for (size_t i = slot_of(id, s->cap);; i = (i + 1) & (s->cap - 1)) {
    if (s->slots[i] == id) return true;
    if (s->slots[i] == 0) return false;
  }
}

void ember_pg_idset_add(ember_pg_idset_t *s, uint64_t id) {
  if (id == 0 || ember_pg_idset_has(s, id)) return;
  if ((s->n + 1) * 2 > s->cap) {
    ember_pg_idset_t g = {ember_calloc(s->cap ? s->cap * 2 : 1024, sizeof *g.slots), 0,
                          s->cap ? s->cap * 2 : 1024};
    for (size_t i = 0; i < s->cap; i++)
      if (s->slots[i]) ember_pg_idset_add(&g, s->slots[i]);
    free(s->slots);
    *s = g;
  }
  size_t i = slot_of(id, s->cap);
  while (s->slots[i])
    i = (i + 1) & (s->cap - 1);
  s->slots[i] = id;
  s->n++;
}

void ember_pg_idset_free(ember_pg_idset_t *s) {
  free(s->slots);
  memset(s, 0, sizeof *s);
}

/* ---- Connections -------------------------------------------------------- */

int ember_pg_connect(const char *url, PGconn **out, ember_err_t *err) {
  PGconn *c = PQconnectdb(url);
  if (!c || PQstatus(c) != CONNECTION_OK) {
    const char *m = c ? PQerrorMessage(c) : "out of memory";
    size_t n = strcspn(m, "\n");
    int rc =
        ember_err_set(err, EMBER_EIO, "cannot connect to PostgreSQL: %.*s", (int)n, m);
    PQfinish(c);
    return rc;
  }
  /* No JIT: compiling costs more than the short statements it would
   * speed up. */
  PGresult *r = PQexec(c, "SET TIME ZONE 'UTC'; SET client_min_messages = warning; "
                          "SET jit = off");
  PQclear(r);
  *out = c;
  return 0;
}

int ember_pg_fail(PGconn *c, PGresult *res, ember_err_t *err, const char *what) {
  const char *m = res ? PQresultErrorMessage(res) : "";
  if (!m || !*m) m = PQerrorMessage(c);
  size_t n = strcspn(m, "\n");
  ember_err_set(err, EMBER_EIO, "PostgreSQL failed %s: %.*s", what, (int)n, m);
  PQclear(res);
  return EMBER_EIO;
}

int ember_pg_exec(PGconn *c, const char *sql, ember_err_t *err) {
  PGresult *r = PQexec(c, sql);
  ExecStatusType st = PQresultStatus(r);
  if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK)
    return ember_pg_fail(c, r, err, sql);
  PQclear(r);
  return 0;
}

int ember_pg_pool_get(ember_pg_t *s, PGconn **out, ember_err_t *err) {
  pthread_mutex_lock(&s->pool_lock);
  PGconn *c = s->npool ? s->pool[--s->npool] : NULL;
  pthread_mutex_unlock(&s->pool_lock);
  if (c) {
    *out = c;
    return 0;
  }
  return ember_pg_connect(s->url, out, err);
}

void ember_pg_pool_put(ember_pg_t *s, PGconn *c) {
  if (!c) return;
  if (PQstatus(c) != CONNECTION_OK || PQtransactionStatus(c) != PQTRANS_IDLE) {
    PQfinish(c);
    return;
  }
  pthread_mutex_lock(&s->pool_lock);
  if (s->npool < EMBER_PG_POOL_IDLE) {
    s->pool[s->npool++] = c;
    c = NULL;
  }
  pthread_mutex_unlock(&s->pool_lock);
  PQfinish(c);
}

uint64_t ember_pg_u64(const char *text) {
  if (!text || !*text || *text == '-') return 0;
  size_t n = strcspn(text, ".");
  if (n > 20) return UINT64_MAX;
  uint64_t v = 0;
  for (size_t i = 0; i < n; i++) {
    unsigned d = (unsigned)(text[i] - '0');
    if (d > 9) break;
    if (v > (UINT64_MAX - d) / 10) return UINT64_MAX;
    v = v * 10 + d;
  }
  return v;
}

/* One row, one column of a query with parameters, as text; NULL (and an
 * error) on failure. Caller frees. */
static char *query_one(PGconn *c, const char *sql, int n, const char *const *params,
                       ember_err_t *err, const char *what) {
  PGresult *r = PQexecParams(c, sql, n, NULL, params, NULL, NULL, 0);
  if (PQresultStatus(r) != PGRES_TUPLES_OK) {
    ember_pg_fail(c, r, err, what);
    return NULL;
  }
  char *v =
      ember_strdup(PQntuples(r) && !PQgetisnull(r, 0, 0) ? PQgetvalue(r, 0, 0) : "");
  PQclear(r);
  return v;
}

/* ---- Schema -------------------------------------------------------------- */

/* Migrations: MIGRATIONS[v] brings version v to v + 1. */
static const char *const MIGRATIONS[EMBER_PG_SCHEMA_VERSION] = {
    "CREATE TABLE apps (id bigserial PRIMARY KEY, name text NOT NULL UNIQUE,"
    " spy_name text NOT NULL, sample_rate bigint NOT NULL, units text NOT NULL,"
    " aggregation integer NOT NULL);"
    "CREATE TABLE series (id bigserial PRIMARY KEY,"
    " app_id bigint NOT NULL REFERENCES apps(id) ON DELETE CASCADE,"
    " labels text NOT NULL, UNIQUE (app_id, labels));"
    "CREATE TABLE series_labels (series_id bigint NOT NULL REFERENCES series(id)"
    " ON DELETE CASCADE, app_id bigint NOT NULL, key text NOT NULL, value text NOT NULL,"
    " PRIMARY KEY (series_id, key));"
    "CREATE INDEX series_labels_kv ON series_labels (app_id, key, value);"
    "CREATE TABLE stacks (app_id bigint NOT NULL, id bigint NOT NULL,"
    " parent bigint NOT NULL, name bytea NOT NULL, PRIMARY KEY (app_id, id));"
    "CREATE TABLE samples (series_id bigint NOT NULL, t bigint NOT NULL,"
    " stack bigint NOT NULL, value bigint NOT NULL) PARTITION BY RANGE (t);"
    "CREATE INDEX samples_series_t ON samples (series_id, t);"
    "CREATE TABLE bucket_profiles (series_id bigint NOT NULL, t bigint NOT NULL,"
    " n bigint NOT NULL) PARTITION BY RANGE (t);"
    "CREATE INDEX bucket_profiles_series_t ON bucket_profiles (series_id, t);"
    "CREATE TABLE maintenance (id integer PRIMARY KEY, compacted bigint NOT NULL);"
    "INSERT INTO maintenance VALUES (1, -9223372036854775807);",
    /* 2: how many times partitions were dropped, so that every node's
     * writer learns that the partitions it knew may be gone. */
    "ALTER TABLE maintenance ADD COLUMN dropped bigint NOT NULL DEFAULT 0;",
    /* 3: time rollups (pg_rollup.c); BRIN indexes for the scans by time
     * of maintenance, which cost writes next to nothing. */
    "CREATE TABLE rollups (series_id bigint NOT NULL, level smallint NOT NULL,"
    " t bigint NOT NULL, stack bigint NOT NULL, value bigint NOT NULL,"
    " PRIMARY KEY (series_id, level, t, stack));"
    "CREATE TABLE rollup_periods (series_id bigint NOT NULL, level smallint NOT NULL,"
    " t bigint NOT NULL, total bigint NOT NULL, n bigint NOT NULL,"
    " PRIMARY KEY (series_id, level, t));"
    "CREATE INDEX rollup_periods_t ON rollup_periods (t);"
    "CREATE TABLE rollup_todo (series_id bigint NOT NULL, level smallint NOT NULL,"
    " t bigint NOT NULL, PRIMARY KEY (series_id, level, t));"
    "ALTER TABLE maintenance ADD COLUMN rolled1 bigint NOT NULL DEFAULT "
    "-9223372036854775807,"
    " ADD COLUMN rolled2 bigint NOT NULL DEFAULT -9223372036854775807,"
    " ADD COLUMN rolled3 bigint NOT NULL DEFAULT -9223372036854775807,"
    " ADD COLUMN kept_from bigint NOT NULL DEFAULT -9223372036854775807;"
    "CREATE INDEX samples_t ON samples USING brin (t);"
    "CREATE INDEX bucket_profiles_t ON bucket_profiles USING brin (t);"
    /* Each bucket's total, so that timelines and rollup totals read a row
     * per bucket rather than one per stack; older rows merged and summed. */
    "ALTER TABLE bucket_profiles ADD COLUMN total bigint NOT NULL DEFAULT 0;"
    "WITH d AS (DELETE FROM bucket_profiles RETURNING series_id, t, n) "
    "INSERT INTO bucket_profiles (series_id, t, n, total) SELECT d.series_id, d.t, "
    "sum(d.n)::bigint, coalesce((SELECT least(sum(m.value), 9223372036854775807)::bigint "
    "FROM samples m WHERE m.series_id = d.series_id AND m.t = d.t), 0) FROM d "
    "GROUP BY d.series_id, d.t;",
};

static int schema_version(PGconn *c, int *out, ember_err_t *err) {
  char *v = query_one(c, "SELECT max(version) FROM ember_schema", 0, NULL, err,
                      "reading the schema version");
  if (!v) return EMBER_EIO;
  *out = *v ? atoi(v) : 0;
  free(v);
  return 0;
}

static int migrate_locked(PGconn *c, ember_err_t *err) {
  int v = 0;
  int rc = ember_pg_exec(
      c, "CREATE TABLE IF NOT EXISTS ember_schema (version integer NOT NULL)", err);
  if (rc == 0) rc = schema_version(c, &v, err);
  if (rc != 0) return rc;
  if (v > EMBER_PG_SCHEMA_VERSION)
    return ember_err_set(err, EMBER_EINVAL,
                         "the database's schema is version %d, newer than this "
                         "ember's (%d); run a newer ember",
                         v, EMBER_PG_SCHEMA_VERSION);
  for (; rc == 0 && v < EMBER_PG_SCHEMA_VERSION; v++) {
    char set[96];
    snprintf(set, sizeof set,
             "DELETE FROM ember_schema; INSERT INTO ember_schema VALUES (%d)", v + 1);
    if ((rc = ember_pg_exec(c, "BEGIN", err)) == 0 &&
        (rc = ember_pg_exec(c, MIGRATIONS[v], err)) == 0 &&
        (rc = ember_pg_exec(c, set, err)) == 0)
      rc = ember_pg_exec(c, "COMMIT", err);
    if (rc != 0) ember_pg_exec(c, "ROLLBACK", NULL);
  }
  return rc;
}

/* Brings the schema to EMBER_PG_SCHEMA_VERSION, one node at a time. */
static int migrate(PGconn *c, ember_err_t *err) {
  char lock[96], unlock[96];
  snprintf(lock, sizeof lock, "SELECT pg_advisory_lock(%d, %d)", EMBER_PG_LOCK_CLASS,
           EMBER_PG_LOCK_MIGRATE);
  snprintf(unlock, sizeof unlock, "SELECT pg_advisory_unlock(%d, %d)",
           EMBER_PG_LOCK_CLASS, EMBER_PG_LOCK_MIGRATE);
  int rc = ember_pg_exec(c, lock, err);
  if (rc != 0) return rc;
  rc = migrate_locked(c, err);
  ember_pg_exec(c, unlock, NULL);
  return rc;
}

/* ---- Partitions ----------------------------------------------------------- */

static int64_t day_of(int64_t t) {
  return ember_store_floor(t, EMBER_PG_PARTITION) / EMBER_PG_PARTITION;
}

/* Creates the partitions of day (both sample tables) unless known. */
static int ensure_day(ember_pg_t *s, PGconn *c, int64_t day, ember_err_t *err) {
  uint64_t key = (uint64_t)day ^ 0x8000000000000000ull;
  if (ember_pg_idset_has(&s->days, key)) return 0;
  char sql[1024];
  const char *sign = day < 0 ? "m" : "";
  long long d = day < 0 ? -(long long)day : (long long)day;
  long long lo = (long long)day * EMBER_PG_PARTITION, hi = lo + EMBER_PG_PARTITION;
  snprintf(
      sql, sizeof sql,
      "BEGIN; SELECT pg_advisory_xact_lock(%d, %d);"
      "CREATE TABLE IF NOT EXISTS samples_d%s%lld PARTITION OF samples"
      " FOR VALUES FROM (%lld) TO (%lld);"
      "CREATE TABLE IF NOT EXISTS bucket_profiles_d%s%lld PARTITION OF bucket_profiles"
      " FOR VALUES FROM (%lld) TO (%lld); COMMIT",
      EMBER_PG_LOCK_CLASS, EMBER_PG_LOCK_PARTITION, sign, d, lo, hi, sign, d, lo, hi);
  int rc = ember_pg_exec(c, sql, err);
  if (rc != 0) {
    ember_pg_exec(c, "ROLLBACK", NULL);
    return rc;
  }
  ember_pg_idset_add(&s->days, key);
  return 0;
}

/* ---- Writes ------------------------------------------------------------- */

struct ember_pg_job {
  ember_pg_job_t *next;
  ember_profile_t *profiles; /* owned */
  size_t nprofiles;
  ember_store_done_fn done;
  void *ctx;
  int rc;
  ember_err_t err;
  uint64_t rows;
};

/* A growing text array literal of integers: {1,2,3}. */
typedef struct {
  ember_buf_t b;
  size_t n;
} arr_t;

static void arr_add(arr_t *a, int64_t v) {
  ember_buf_putc(&a->b, a->n++ ? ',' : '{');
  ember_buf_put_i64(&a->b, v);
}

static const char *arr_done(arr_t *a) {
  if (!a->n) ember_buf_putc(&a->b, '{');
  ember_buf_putc(&a->b, '}');
  ember_buf_putc(&a->b, '\0');
  return a->b.data;
}

static void arr_reset(arr_t *a) {
  ember_buf_reset(&a->b);
  a->n = 0;
}

static int64_t clamp_i64(uint64_t v) {
  return v > INT64_MAX ? INT64_MAX : (int64_t)v;
}

/* The id of the stack (parent, name) at probe p: a 63-bit hash, never 0
 * (the root). */
static int64_t stack_id(int64_t parent, ember_slice_t name, uint32_t probe,
                        ember_buf_t *scratch) {
  ember_buf_reset(scratch);
  ember_buf_append(scratch, &parent, sizeof parent);
  ember_buf_append(scratch, &probe, sizeof probe);
  ember_buf_append(scratch, name.base, name.len);
  int64_t id = (int64_t)(ember_hash_bytes(scratch->data, scratch->len) >> 1);
  return id ? id : 1;
}

static uint64_t known_key(int64_t app, int64_t id) {
  uint64_t k =
      (uint64_t)id * 0xff51afd7ed558ccdull ^ (uint64_t)app * 0xc4ceb9fe1a85ec53ull;
  return k ? k : 1;
}

typedef struct {
  int64_t id;
  uint32_t node;
} pending_t;

static int cmp_pending(const void *a, const void *b) {
  const pending_t *x = a, *y = b;
  return x->id < y->id ? -1 : x->id > y->id;
}

static uint64_t be64(const char *p) {
  uint64_t v = 0;
  for (int i = 0; i < 8; i++)
    v = v << 8 | (unsigned char)p[i];
  return v;
}

/* Writes the stacks of pend[0..n) (sorted by id) that the database lacks,
 * on the stack connection; marks in collided[] (by node) those whose id a
 * different stack holds. *added counts the rows inserted. */
static int put_stacks(ember_pg_t *s, PGconn *c, int64_t app, const ember_tree_t *t,
                      const int64_t *ids, pending_t *pend, size_t n, size_t max_new,
                      bool *collided, size_t *added, ember_err_t *err) {
  arr_t aid = {EMBER_BUF_INIT, 0}, apar = {EMBER_BUF_INIT, 0}, aoff = {EMBER_BUF_INIT, 0},
        alen = {EMBER_BUF_INIT, 0};
  ember_buf_t names = EMBER_BUF_INIT;
  char appv[24];
  snprintf(appv, sizeof appv, "%lld", (long long)app);
  for (size_t i = 0; i < n; i++)
    arr_add(&aid, pend[i].id);
  /* Which exist already, and whether as the same stack. */
  const char *p1[2] = {appv, arr_done(&aid)};
  PGresult *r = PQexecParams(c,
                             "SELECT id, parent, name FROM stacks WHERE app_id=$1 AND "
                             "id = ANY($2::bigint[])",
                             2, NULL, p1, NULL, NULL, 1);
  int rc = 0;
  if (PQresultStatus(r) != PGRES_TUPLES_OK) {
    rc = ember_pg_fail(c, r, err, "looking up stacks");
    goto done;
  }
  size_t nexist = (size_t)PQntuples(r);
  for (int row = 0; row < PQntuples(r); row++) {
    int64_t id = (int64_t)be64(PQgetvalue(r, row, 0));
    int64_t par = (int64_t)be64(PQgetvalue(r, row, 1));
    const char *nm = PQgetvalue(r, row, 2);
    size_t nl = (size_t)PQgetlength(r, row, 2);
    pending_t key = {id, 0}, *hit = bsearch(&key, pend, n, sizeof *pend, cmp_pending);
    if (!hit) continue;
    const ember_tree_node_t *node = ember_tree_node(t, hit->node);
    ember_slice_t name = ember_tree_name(t, node->name);
    bool same =
        par == ids[node->parent] && nl == name.len && memcmp(nm, name.base, nl) == 0;
    if (!same) collided[hit->node] = true;
    hit->node = UINT32_MAX; /* exists: nothing to write */
  }
  PQclear(r);
  if (n - nexist > max_new) {
    rc = EMBER_ELIMIT;
    goto done;
  }
  arr_reset(&aid);
  size_t nnew = 0;
  for (size_t i = 0; i < n; i++) {
    if (pend[i].node == UINT32_MAX) continue;
    const ember_tree_node_t *node = ember_tree_node(t, pend[i].node);
    ember_slice_t name = ember_tree_name(t, node->name);
    arr_add(&aid, pend[i].id);
    arr_add(&apar, ids[node->parent]);
    arr_add(&aoff, (int64_t)names.len + 1);
    arr_add(&alen, (int64_t)name.len);
    ember_buf_append(&names, name.base, name.len);
    nnew++;
  }
  if (nnew) {
    const char *p2[6] = {appv,
                         arr_done(&aid),
                         arr_done(&apar),
                         arr_done(&aoff),
                         arr_done(&alen),
                         names.data ? names.data : ""};
    int lens[6] = {0, 0, 0, 0, 0, (int)names.len};
    int fmts[6] = {0, 0, 0, 0, 0, 1};
    r = PQexecParams(c,
                     "INSERT INTO stacks (app_id, id, parent, name) SELECT $1, u.id, "
                     "u.parent, substring($6::bytea from u.off::int for u.len::int) FROM "
                     "unnest($2::bigint[], $3::bigint[], $4::bigint[], $5::bigint[]) "
                     "AS u(id, parent, off, len) ON CONFLICT DO NOTHING",
                     6, NULL, p2, lens, fmts, 0);
    if (PQresultStatus(r) != PGRES_COMMAND_OK) {
      rc = ember_pg_fail(c, r, err, "writing stacks");
      goto done;
    }
    *added += (size_t)atoll(PQcmdTuples(r));
    PQclear(r);
  }
  for (size_t i = 0; i < n; i++) /* known now, unless a collision */
    if (pend[i].node == UINT32_MAX || !collided[pend[i].node])
      ember_pg_idset_add(&s->known, known_key(app, pend[i].id));
done:
  ember_buf_free(&aid.b);
  ember_buf_free(&apar.b);
  ember_buf_free(&aoff.b);
  ember_buf_free(&alen.b);
  ember_buf_free(&names);
  return rc;
}

/* Gives every node of t its stack id (ids[node]), writing the stacks the
 * database lacks. A collided node takes its next probe, and so, through
 * their parent's new id, its descendants. */
static int map_stacks(ember_pg_t *s, PGconn *c, int64_t app, const ember_tree_t *t,
                      int64_t *ids, size_t *max_new, ember_err_t *err) {
  size_t nn = ember_tree_count(t), added = 0;
  uint32_t *probe = ember_calloc(nn, sizeof *probe);
  bool *collided = ember_calloc(nn, sizeof *collided);
  pending_t *pend = ember_malloc(nn * sizeof *pend);
  ember_buf_t scratch = EMBER_BUF_INIT;
  int rc = 0;
  for (int round = 0; round < 64; round++) {
    size_t n = 0;
    ids[0] = 0;
    for (uint32_t i = 1; i < nn; i++) {
      const ember_tree_node_t *node = ember_tree_node(t, i);
      if (collided[i]) probe[i]++, collided[i] = false;
      ids[i] =
          stack_id(ids[node->parent], ember_tree_name(t, node->name), probe[i], &scratch);
      if (!ember_pg_idset_has(&s->known, known_key(app, ids[i])))
        pend[n++] = (pending_t){ids[i], i};
    }
    if (!n) break;
    qsort(pend, n, sizeof *pend, cmp_pending);
    size_t k = 0; /* one entry per id: a tree names a stack once */
    for (size_t i = 0; i < n; i++)
      if (!k || pend[k - 1].id != pend[i].id) pend[k++] = pend[i];
    size_t before = added;
    rc = put_stacks(s, c, app, t, ids, pend, k, *max_new, collided, &added, err);
    if (rc != 0) break;
    *max_new -= added - before < *max_new ? added - before : *max_new;
    bool any = false;
    for (size_t i = 0; i < nn && !any; i++)
      any = collided[i];
    if (!any) break;
  }
  free(probe);
  free(collided);
  free(pend);
  ember_buf_free(&scratch);
  return rc;
}

static const char *or_default(const char *v, const char *d) {
  return v && *v ? v : d;
}

/* Finds or creates p's app, bringing its metadata up to date. */
static int upsert_app(ember_pg_t *s, const ember_profile_t *p, int64_t *out,
                      ember_err_t *err) {
  PGconn *c = s->wconn;
  char rate[24], agg[8];
  snprintf(rate, sizeof rate, "%u", p->sample_rate);
  snprintf(agg, sizeof agg, "%d", (int)p->aggregation);
  const char *params[5] = {p->key.app, or_default(p->spy_name, "unknown"),
                           or_default(p->units, "samples"), rate, agg};
  PGresult *r = PQexecParams(c,
                             "SELECT id, spy_name=$2 AND units=$3 AND sample_rate=$4 AND "
                             "aggregation=$5 FROM apps WHERE name=$1",
                             5, NULL, params, NULL, NULL, 0);
  if (PQresultStatus(r) != PGRES_TUPLES_OK)
    return ember_pg_fail(c, r, err, "looking up an app");
  if (PQntuples(r) == 1 && PQgetvalue(r, 0, 1)[0] == 't') {
    *out = atoll(PQgetvalue(r, 0, 0));
    PQclear(r);
    return 0;
  }
  bool exists = PQntuples(r) == 1;
  PQclear(r);
  if (!exists) {
    char *n = query_one(c, "SELECT count(*) FROM apps", 0, NULL, err, "counting apps");
    if (!n) return EMBER_EIO;
    long long napps = atoll(n);
    free(n);
    if ((uint64_t)napps >= s->max_apps)
      return ember_err_set(err, EMBER_ELIMIT,
                           "cannot create app '%s': the server holds %lld apps, its "
                           "limit (--max-apps %zu); delete apps that are no longer "
                           "used (DELETE /api/apps) or raise the limit",
                           p->key.app, napps, s->max_apps);
  }
  r = PQexecParams(c,
                   "INSERT INTO apps (name, spy_name, units, sample_rate, aggregation) "
                   "VALUES ($1, $2, $3, $4, $5) ON CONFLICT (name) DO UPDATE SET "
                   "spy_name=excluded.spy_name, units=excluded.units, "
                   "sample_rate=excluded.sample_rate, aggregation=excluded.aggregation "
                   "RETURNING id",
                   5, NULL, params, NULL, NULL, 0);
  if (PQresultStatus(r) != PGRES_TUPLES_OK)
    return ember_pg_fail(c, r, err, "saving an app");
  *out = atoll(PQgetvalue(r, 0, 0));
  PQclear(r);
  return 0;
}

/* Finds or creates the series (app, canonical labels) and its labels. */
static int upsert_series(ember_pg_t *s, int64_t app, const ember_series_key_t *k,
                         int64_t *out, ember_err_t *err) {
  PGconn *c = s->wconn;
  ember_buf_t labels = EMBER_BUF_INIT;
  ember_series_key_labels(k, &labels);
  ember_buf_putc(&labels, '\0');
  char appv[24];
  snprintf(appv, sizeof appv, "%lld", (long long)app);
  const char *params[2] = {appv, labels.data};
  int rc = 0;
  char *id = query_one(c, "SELECT id FROM series WHERE app_id=$1 AND labels=$2", 2,
                       params, err, "looking up a series");
  if (!id) {
    rc = EMBER_EIO;
    goto done;
  }
  if (*id) {
    *out = atoll(id);
    goto done;
  }
  free(id);
  id = query_one(c, "SELECT count(*) FROM series WHERE app_id=$1", 1, params, err,
                 "counting series");
  if (!id) {
    rc = EMBER_EIO;
    goto done;
  }
  if ((uint64_t)atoll(id) >= s->max_series_per_app) {
    rc = ember_err_set(err, EMBER_ELIMIT,
                       "cannot create another series of app '%s': it has %lld, "
                       "the limit (--max-series-per-app %zu); each distinct set "
                       "of labels is a series, so drop labels with many values "
                       "(request ids, timestamps) or raise the limit",
                       k->app, atoll(id), s->max_series_per_app);
    goto done;
  }
  free(id);
  id = query_one(c,
                 "INSERT INTO series (app_id, labels) VALUES ($1, $2) ON CONFLICT "
                 "(app_id, labels) DO UPDATE SET labels=excluded.labels RETURNING id",
                 2, params, err, "saving a series");
  if (!id) {
    rc = EMBER_EIO;
    goto done;
  }
  *out = atoll(id);
  char sid[24];
  snprintf(sid, sizeof sid, "%lld", (long long)*out);
  for (size_t i = 0; rc == 0 && i < k->nlabels; i++) {
    const char *lp[4] = {sid, appv, k->labels[i].key, k->labels[i].value};
    PGresult *r =
        PQexecParams(c,
                     "INSERT INTO series_labels (series_id, app_id, key, value) "
                     "VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
                     4, NULL, lp, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_COMMAND_OK)
      rc = ember_pg_fail(c, r, err, "saving a series label");
    else
      PQclear(r);
  }
done:
  free(id);
  ember_buf_free(&labels);
  return rc;
}

/* Writes the samples of t (ids by node) over p's buckets. */
static int put_samples(ember_pg_t *s, int64_t series, const ember_profile_t *p,
                       const ember_tree_t *t, const int64_t *ids, uint64_t *rows,
                       ember_err_t *err) {
  ember_place_t *pl = ember_malloc(sizeof *pl);
  arr_t at = {EMBER_BUF_INIT, 0}, as = {EMBER_BUF_INIT, 0}, av = {EMBER_BUF_INIT, 0},
        bt = {EMBER_BUF_INIT, 0}, bv = {EMBER_BUF_INIT, 0};
  int rc = ember_place_plan(p->from, p->until, p->aggregation, pl, err);
  size_t nn = ember_tree_count(t);
  for (size_t b = 0; rc == 0 && b < pl->n; b++) {
    int64_t start = pl->first + (int64_t)b * EMBER_STORE_BUCKET;
    bool any = false;
    uint64_t total = 0;
    for (uint32_t i = 1; i < nn; i++) {
      uint64_t v = ember_tree_node(t, i)->self[0];
      if (!v) continue;
      uint64_t share = ember_place_share(pl, b, v);
      if (!share) continue;
      arr_add(&at, start);
      arr_add(&as, ids[i]);
      arr_add(&av, clamp_i64(share));
      total = ember_sat_add(total, (uint64_t)clamp_i64(share));
      any = true;
    }
    if (any) arr_add(&bt, start), arr_add(&bv, clamp_i64(total));
  }
  if (rc == 0 && at.n) {
    char sid[24];
    snprintf(sid, sizeof sid, "%lld", (long long)series);
    const char *pa[4] = {sid, arr_done(&at), arr_done(&as), arr_done(&av)};
    PGresult *r =
        PQexecParams(s->wconn,
                     "INSERT INTO samples (series_id, t, stack, value) SELECT $1, "
                     "u.t, u.s, u.v FROM unnest($2::bigint[], $3::bigint[], "
                     "$4::bigint[]) AS u(t, s, v)",
                     4, NULL, pa, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_COMMAND_OK) {
      rc = ember_pg_fail(s->wconn, r, err, "writing samples");
    } else {
      PQclear(r);
      const char *pb[3] = {sid, arr_done(&bt), arr_done(&bv)};
      /* A bucket in a period already rolled up makes its rollups stale
       * (pg_rollup.c), in the same statement. */
      r = PQexecParams(
          s->wconn,
          "WITH todo AS (INSERT INTO rollup_todo (series_id, level, t) "
          "SELECT DISTINCT $1::bigint, u.l, u.p FROM unnest($2::bigint[]) AS "
          "b(t) CROSS JOIN LATERAL (VALUES (1::smallint, b.t - ((b.t % 100) + "
          "100) % 100), (2::smallint, b.t - ((b.t % 1000) + 1000) % 1000), "
          "(3::smallint, b.t - ((b.t % 10000) + 10000) % 10000)) AS u(l, p) "
          "JOIN maintenance m ON m.id = 1 WHERE u.p < CASE u.l WHEN 1 THEN "
          "m.rolled1 WHEN 2 THEN m.rolled2 ELSE m.rolled3 END "
          "ON CONFLICT DO NOTHING) "
          "INSERT INTO bucket_profiles (series_id, t, n, total) SELECT $1, "
          "u.t, 1, u.v FROM unnest($2::bigint[], $3::bigint[]) AS u(t, v)",
          3, NULL, pb, NULL, NULL, 0);
      if (PQresultStatus(r) != PGRES_COMMAND_OK)
        rc = ember_pg_fail(s->wconn, r, err, "writing profile counts");
      else
        PQclear(r), (*rows)++;
    }
  }
  ember_buf_free(&at.b);
  ember_buf_free(&as.b);
  ember_buf_free(&av.b);
  ember_buf_free(&bt.b);
  ember_buf_free(&bv.b);
  free(pl);
  return rc;
}

/* Writes one profile inside the batch's transaction (its stacks before, on
 * their own connection). */
static int apply_profile(ember_pg_t *s, PGconn *sconn, const ember_profile_t *p,
                         size_t *max_new, uint64_t *rows, ember_err_t *err) {
  if (!p->key.app || !ember_app_name_valid(p->key.app, strlen(p->key.app)) ||
      !(p->tree || p->stacks))
    return ember_err_set(err, EMBER_EINVAL,
                         "a profile without a valid app name or samples reached "
                         "the store; name the series as app{labels}");
  ember_text_tree_t tt = {0};
  const ember_tree_t *t = p->tree;
  int rc = 0;
  if (!t) {
    if ((rc = ember_text_tree_build(p->stacks, NULL, p->stacks->n, NULL, &tt, err)) != 0)
      return rc;
    t = tt.tree;
  }
  int64_t app = 0, series = 0;
  int64_t *ids = ember_malloc(ember_tree_count(t) * sizeof *ids);
  if ((rc = upsert_app(s, p, &app, err)) == 0 &&
      (rc = upsert_series(s, app, &p->key, &series, err)) == 0 &&
      (rc = map_stacks(s, sconn, app, t, ids, max_new, err)) == 0)
    rc = put_samples(s, series, p, t, ids, rows, err);
  if (rc == EMBER_ELIMIT && !err->msg[0]) /* from map_stacks */
    ember_err_set(err, rc,
                  "the push adds more than %zu new distinct stacks to app '%s', "
                  "the limit one push may add (--max-new-stacks); send the profile "
                  "in smaller pieces, trim its stacks, or raise the limit",
                  s->max_new_stacks, p->key.app);
  free(ids);
  ember_text_tree_free(&tt);
  return rc;
}

static int run_job(ember_pg_t *s, PGconn *sconn, ember_pg_job_t *j) {
  size_t max_new = s->max_new_stacks;
  j->err.msg[0] = '\0';
  int rc = ember_pg_exec(s->wconn, "SAVEPOINT job", &j->err);
  for (size_t i = 0; rc == 0 && i < j->nprofiles; i++)
    rc = apply_profile(s, sconn, &j->profiles[i], &max_new, &j->rows, &j->err);
  if (rc == 0) return ember_pg_exec(s->wconn, "RELEASE SAVEPOINT job", &j->err);
  ember_pg_exec(s->wconn, "ROLLBACK TO SAVEPOINT job; RELEASE SAVEPOINT job", NULL);
  return rc;
}

static uint64_t mono_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Reconnects a broken connection; false when the database is still away. */
static bool revive(PGconn **c) {
  if (PQstatus(*c) == CONNECTION_OK) return true;
  PQreset(*c);
  return PQstatus(*c) == CONNECTION_OK;
}

/* Opens the batch's transaction under the shared delete lock, so that no
 * series or partition it writes to is deleted before it commits, and
 * forgets the partitions known when some node has dropped any since. */
static int begin_batch(ember_pg_t *s, ember_err_t *err) {
  char sql[160];
  snprintf(sql, sizeof sql,
           "BEGIN; SELECT pg_advisory_xact_lock_shared(%d, %d), dropped FROM "
           "maintenance WHERE id=1",
           EMBER_PG_LOCK_CLASS, EMBER_PG_LOCK_DELETE);
  PGresult *r = PQexec(s->wconn, sql);
  if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1) {
    int rc = ember_pg_fail(s->wconn, r, err, "starting a write");
    ember_pg_exec(s->wconn, "ROLLBACK", NULL);
    return rc;
  }
  long long gen = atoll(PQgetvalue(r, 0, 1));
  PQclear(r);
  if (gen != s->days_gen) {
    ember_pg_idset_free(&s->days);
    s->days_gen = gen;
  }
  return 0;
}

/* Creates the partitions the batch writes to, before it writes any row:
 * creating one waits for the writes in progress on the parent table, and
 * so must not come after this transaction's own. */
static int batch_days(ember_pg_t *s, PGconn *sconn, const ember_pg_job_t *batch,
                      ember_err_t *err) {
  ember_place_t *pl = ember_malloc(sizeof *pl);
  int rc = 0;
  for (const ember_pg_job_t *j = batch; rc == 0 && j; j = j->next)
    for (size_t i = 0; rc == 0 && i < j->nprofiles; i++) {
      const ember_profile_t *p = &j->profiles[i];
      ember_err_t ignored; /* a push planned wrong fails alone, later */
      if (ember_place_plan(p->from, p->until, p->aggregation, pl, &ignored) != 0)
        continue;
      int64_t last = INT64_MIN;
      for (size_t b = 0; rc == 0 && b < pl->n; b++) {
        int64_t day = day_of(pl->first + (int64_t)b * EMBER_STORE_BUCKET);
        if (day != last) rc = ensure_day(s, sconn, day, err);
        last = day;
      }
    }
  free(pl);
  return rc;
}

/* Commits the jobs of one batch and answers them. */
static void run_batch(ember_pg_t *s, PGconn **sconn, ember_pg_job_t *batch) {
  uint64_t t0 = mono_ns(), rows = 0;
  ember_err_t err = {0};
  int rc = revive(&s->wconn) && revive(sconn)
               ? begin_batch(s, &err)
               : ember_err_set(&err, EMBER_EIO, "PostgreSQL is unreachable: %s",
                               PQerrorMessage(s->wconn));
  if (rc == 0 && (rc = batch_days(s, *sconn, batch, &err)) != 0)
    ember_pg_exec(s->wconn, "ROLLBACK", NULL);
  for (ember_pg_job_t *j = batch; rc == 0 && j; j = j->next)
    j->rc = run_job(s, *sconn, j);
  if (rc == 0 && ember_pg_test_before_commit)
    ember_pg_test_before_commit(ember_pg_test_before_commit_ctx);
  if (rc == 0 && (rc = ember_pg_exec(s->wconn, "COMMIT", &err)) != 0)
    ember_pg_exec(s->wconn, "ROLLBACK", NULL);
  bool wrote = false;
  for (ember_pg_job_t *j = batch; j; j = j->next) {
    if (rc != 0) j->rc = rc, j->err = err;
    if (j->rc == 0) rows += j->rows, wrote = true;
  }
  pthread_mutex_lock(&s->lock);
  if (rc == 0) {
    s->commits++;
    s->rows_written += rows;
    s->last_commit_ns = mono_ns() - t0;
    if (wrote) s->last_commit_unix = ember_now(), s->write_failed = false;
  } else {
    s->write_failed = true;
    s->last_failure_unix = ember_now();
    snprintf(s->write_error, sizeof s->write_error, "%s", err.msg);
  }
  pthread_mutex_unlock(&s->lock);
  while (batch) {
    ember_pg_job_t *j = batch;
    batch = j->next;
    j->done(j->ctx, j->rc, j->rc ? &j->err : NULL);
    for (size_t i = 0; i < j->nprofiles; i++)
      ember_profile_free(&j->profiles[i]);
    free(j->profiles);
    free(j);
  }
}

static void *writer_main(void *arg) {
  ember_pg_t *s = arg;
  PGconn *sconn = NULL;
  ember_err_t err;
  pthread_setname_np(pthread_self(), "ember-writer");
  if (ember_pg_connect(s->url, &sconn, &err) != 0) sconn = PQconnectdb(s->url);
  for (;;) {
    pthread_mutex_lock(&s->lock);
    while (!s->head && !s->closing)
      pthread_cond_wait(&s->wake, &s->lock);
    if (!s->head) {
      pthread_mutex_unlock(&s->lock);
      break;
    }
    ember_pg_job_t *batch = s->head, *last = batch;
    size_t n = 1;
    while (last->next && n < EMBER_STORE_BATCH_MAX)
      last = last->next, n++;
    s->head = last->next;
    if (!s->head) s->tail = NULL;
    last->next = NULL;
    s->depth -= n;
    pthread_mutex_unlock(&s->lock);
    run_batch(s, &sconn, batch);
  }
  PQfinish(sconn);
  return NULL;
}

static int pg_submit(ember_store_t *st, ember_ingest_result_t *r,
                     ember_store_done_fn done, void *ctx, ember_err_t *err) {
  ember_pg_t *s = (ember_pg_t *)(void *)st;
  pthread_mutex_lock(&s->lock);
  int rc = s->closing ? ember_err_set(err, EMBER_ESHUTDOWN, "the server is stopping")
           : s->depth >= s->queue_max
               ? ember_err_set(err, EMBER_EBUSY,
                               "the write queue is full (%zu pushes wait for the "
                               "database); retry shortly",
                               s->queue_max)
               : 0;
  if (rc == 0) {
    ember_pg_job_t *j = ember_calloc(1, sizeof *j);
    j->profiles = r->items;
    j->nprofiles = r->n;
    j->done = done;
    j->ctx = ctx;
    r->items = NULL;
    r->n = 0;
    if (s->tail)
      s->tail->next = j;
    else
      s->head = j;
    s->tail = j;
    s->depth++;
    pthread_cond_signal(&s->wake);
  }
  pthread_mutex_unlock(&s->lock);
  return rc;
}

/* ---- Deleting an app ------------------------------------------------------ */

static int pg_delete_app(ember_store_t *st, const char *app, ember_err_t *err) {
  ember_pg_t *s = (ember_pg_t *)(void *)st;
  PGconn *c = NULL;
  int rc = ember_pg_pool_get(s, &c, err);
  if (rc != 0) return rc;
  const char *params[1] = {app};
  char *id = NULL;
  char lock[96];
  snprintf(lock, sizeof lock, "BEGIN; SELECT pg_advisory_xact_lock(%d, %d)",
           EMBER_PG_LOCK_CLASS, EMBER_PG_LOCK_DELETE);
  if ((rc = ember_pg_exec(c, lock, err)) != 0) {
    ember_pg_exec(c, "ROLLBACK", NULL);
    goto done;
  }
  id = query_one(c, "SELECT id FROM apps WHERE name=$1 FOR UPDATE", 1, params, err,
                 "looking up an app");
  if (!id)
    rc = EMBER_EIO;
  else if (!*id)
    rc = ember_err_set(err, EMBER_ENOTFOUND,
                       "there is no app named '%s'; GET /api/apps lists them", app);
  if (rc == 0) {
    const char *p[1] = {id};
    static const char *const SQL[] = {
        "DELETE FROM samples WHERE series_id IN (SELECT id FROM series WHERE app_id=$1)",
        "DELETE FROM rollups WHERE series_id IN (SELECT id FROM series WHERE app_id=$1)",
        "DELETE FROM rollup_periods WHERE series_id IN "
        "(SELECT id FROM series WHERE app_id=$1)",
        "DELETE FROM rollup_todo WHERE series_id IN (SELECT id FROM series WHERE "
        "app_id=$1)",
        "DELETE FROM bucket_profiles WHERE series_id IN "
        "(SELECT id FROM series WHERE app_id=$1)",
        "DELETE FROM stacks WHERE app_id=$1",
        "DELETE FROM apps WHERE id=$1"};
    for (size_t i = 0; rc == 0 && i < sizeof SQL / sizeof *SQL; i++) {
      PGresult *r = PQexecParams(c, SQL[i], 1, NULL, p, NULL, NULL, 0);
      if (PQresultStatus(r) != PGRES_COMMAND_OK) {
        rc = ember_pg_fail(c, r, err, "deleting an app");
        break;
      }
      if (i == 0) {
        pthread_mutex_lock(&s->lock);
        s->rows_deleted += (uint64_t)atoll(PQcmdTuples(r));
        pthread_mutex_unlock(&s->lock);
      }
      PQclear(r);
    }
  }
  if (rc == 0)
    rc = ember_pg_exec(c, "COMMIT", err);
  else
    ember_pg_exec(c, "ROLLBACK", NULL);
done:
  free(id);
  ember_pg_pool_put(s, c);
  return rc;
}

/* ---- Maintenance --------------------------------------------------------- */

/* Rows a compaction statement merges at most: a bucket range of an hour. */
#define PG_COMPACT_SPAN 3600
#define PG_COMPACT_STEPS 200

static int exec_count(PGconn *c, const char *sql, int n, const char *const *params,
                      uint64_t *count, ember_err_t *err) {
  PGresult *r = PQexecParams(c, sql, n, NULL, params, NULL, NULL, 0);
  ExecStatusType st = PQresultStatus(r);
  if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK)
    return ember_pg_fail(c, r, err, "maintenance");
  if (count) *count += (uint64_t)atoll(PQcmdTuples(r));
  PQclear(r);
  return 0;
}

/* Drops the partitions wholly before cutoff, deletes the rows before it
 * in the partition that straddles it, then the series left without rows:
 * in one transaction under the delete lock, which waits for the writes in
 * progress and holds new ones back until it commits. A series that a push
 * is writing to therefore has that push's rows when it is looked at, and
 * a push to a day being dropped makes the partition anew after. */
static int retention_locked(ember_pg_t *s, PGconn *c, int64_t cutoff, ember_err_t *err) {
  PGresult *r = PQexec(c, "SELECT c.relname, pg_get_expr(c.relpartbound, c.oid) FROM "
                          "pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid JOIN "
                          "pg_class p ON p.oid = i.inhparent WHERE p.relname IN "
                          "('samples', 'bucket_profiles')");
  if (PQresultStatus(r) != PGRES_TUPLES_OK)
    return ember_pg_fail(c, r, err, "listing partitions");
  int rc = 0;
  uint64_t deleted = 0;
  bool dropped = false;
  for (int i = 0; rc == 0 && i < PQntuples(r); i++) {
    const char *to = strstr(PQgetvalue(r, i, 1), "TO ('");
    if (!to || atoll(to + 5) > cutoff) continue;
    char sql[200];
    snprintf(sql, sizeof sql, "DROP TABLE IF EXISTS \"%s\"", PQgetvalue(r, i, 0));
    rc = ember_pg_exec(c, sql, err);
    dropped = true;
  }
  PQclear(r);
  /* Every node's writer forgets which partitions exist. */
  if (rc == 0 && dropped)
    rc = ember_pg_exec(c, "UPDATE maintenance SET dropped = dropped + 1 WHERE id=1", err);
  char cut[24];
  snprintf(cut, sizeof cut, "%lld", (long long)cutoff);
  const char *p[1] = {cut};
  if (rc == 0) rc = ember_pg_rollup_retention(c, cutoff, err);
  if (rc == 0)
    rc = exec_count(c, "DELETE FROM samples WHERE t < $1", 1, p, &deleted, err);
  if (rc == 0)
    rc = exec_count(c, "DELETE FROM bucket_profiles WHERE t < $1", 1, p, NULL, err);
  if (rc == 0)
    rc = exec_count(c,
                    "DELETE FROM series s WHERE NOT EXISTS (SELECT 1 FROM samples "
                    "WHERE series_id = s.id)",
                    0, NULL, NULL, err);
  pthread_mutex_lock(&s->lock);
  s->rows_deleted += deleted;
  pthread_mutex_unlock(&s->lock);
  return rc;
}

static int retention(ember_pg_t *s, PGconn *c, int64_t now, ember_err_t *err) {
  if (s->retention <= 0) return 0;
  int64_t cutoff = ember_store_floor(now - s->retention, EMBER_STORE_BUCKET);
  char lock[96];
  snprintf(lock, sizeof lock, "BEGIN; SELECT pg_advisory_xact_lock(%d, %d)",
           EMBER_PG_LOCK_CLASS, EMBER_PG_LOCK_DELETE);
  int rc = ember_pg_exec(c, lock, err);
  if (rc == 0) rc = retention_locked(s, c, cutoff, err);
  if (rc == 0)
    rc = ember_pg_exec(c, "COMMIT", err);
  else
    ember_pg_exec(c, "ROLLBACK", NULL);
  return rc;
}

/* Merges the rows of settled buckets (older than EMBER_STORE_SETTLE) into
 * one per (series, bucket, stack), an hour of buckets per transaction,
 * from where the last pass stopped. Answers do not change. */
static int compact(ember_pg_t *s, PGconn *c, int64_t now, ember_err_t *err) {
  int64_t limit = ember_store_floor(now - EMBER_STORE_SETTLE, EMBER_STORE_BUCKET);
  int rc = 0;
  for (int step = 0; rc == 0 && step < PG_COMPACT_STEPS && !atomic_load(&s->stopping);
       step++) {
    char lim[24];
    snprintf(lim, sizeof lim, "%lld", (long long)limit);
    const char *p1[1] = {lim};
    char *lo = query_one(c,
                         "SELECT min(t) FROM samples WHERE t >= (SELECT compacted FROM "
                         "maintenance WHERE id=1) AND t < $1",
                         1, p1, err, "finding rows to compact");
    if (!lo) return EMBER_EIO;
    if (!*lo) {
      free(lo);
      break;
    }
    int64_t a = ember_store_floor(atoll(lo), PG_COMPACT_SPAN);
    free(lo);
    int64_t b = a + PG_COMPACT_SPAN < limit ? a + PG_COMPACT_SPAN : limit;
    char av[24], bv[24];
    snprintf(av, sizeof av, "%lld", (long long)a);
    snprintf(bv, sizeof bv, "%lld", (long long)b);
    const char *p2[2] = {av, bv};
    if ((rc = ember_pg_exec(c, "BEGIN", err)) != 0) break;
    rc =
        exec_count(c,
                   "WITH d AS (DELETE FROM samples WHERE t >= $1 AND t < $2 RETURNING *) "
                   "INSERT INTO samples SELECT series_id, t, stack, "
                   "least(sum(value), 9223372036854775807)::bigint FROM d "
                   "GROUP BY series_id, t, stack",
                   2, p2, NULL, err);
    if (rc == 0)
      rc = exec_count(
          c,
          "WITH d AS (DELETE FROM bucket_profiles WHERE t >= $1 AND t < $2 "
          "RETURNING *) INSERT INTO bucket_profiles (series_id, t, n, total) SELECT "
          "series_id, t, sum(n)::bigint, least(sum(total), "
          "9223372036854775807)::bigint FROM d GROUP BY series_id, t",
          2, p2, NULL, err);
    if (rc == 0)
      rc = exec_count(c,
                      "UPDATE maintenance SET compacted=$2::bigint WHERE id=1 AND "
                      "$1::bigint IS NOT NULL",
                      2, p2, NULL, err);
    if (rc == 0)
      rc = ember_pg_exec(c, "COMMIT", err);
    else
      ember_pg_exec(c, "ROLLBACK", NULL);
  }
  return rc;
}

/* Takes the maintenance lock unless this node holds it already. */
/* Whether this node's maintenance session still holds the lock. A session
 * the database lost (a restart, a killed backend) took the lock with it,
 * and libpq only learns of that on the next statement: asking every try
 * keeps a node from counting itself the owner while another already is. */
static bool holds_maint(PGconn *c) {
  char sql[200];
  snprintf(sql, sizeof sql,
           "SELECT 1 FROM pg_locks WHERE locktype='advisory' AND "
           "pid=pg_backend_pid() AND classid=%d AND objid=%d AND objsubid=2 AND granted",
           EMBER_PG_LOCK_CLASS, EMBER_PG_LOCK_MAINT);
  PGresult *r = PQexec(c, sql);
  bool held = PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1;
  PQclear(r);
  return held;
}

static bool take_maint(ember_pg_t *s) {
  if (s->maint_owner && holds_maint(s->mconn)) return true;
  if (!revive(&s->mconn)) {
    pthread_mutex_lock(&s->lock);
    s->maint_owner = false;
    pthread_mutex_unlock(&s->lock);
    return false;
  }
  char sql[96];
  snprintf(sql, sizeof sql, "SELECT pg_try_advisory_lock(%d, %d)", EMBER_PG_LOCK_CLASS,
           EMBER_PG_LOCK_MAINT);
  PGresult *r = PQexec(s->mconn, sql);
  bool got = PQresultStatus(r) == PGRES_TUPLES_OK && PQgetvalue(r, 0, 0)[0] == 't';
  PQclear(r);
  pthread_mutex_lock(&s->lock);
  s->maint_owner = got;
  pthread_mutex_unlock(&s->lock);
  return got;
}

static int pg_maintain(ember_store_t *st, int64_t now, bool *ran, ember_err_t *err) {
  ember_pg_t *s = (ember_pg_t *)(void *)st;
  pthread_mutex_lock(&s->maint_lock);
  int rc = 0;
  if (take_maint(s)) {
    if (ran) *ran = true;
    rc = retention(s, s->mconn, now, err);
    if (rc == 0) rc = compact(s, s->mconn, now, err);
    if (rc == 0) rc = ember_pg_rollup(s->mconn, now, &s->stopping, err);
  }
  pthread_mutex_unlock(&s->maint_lock);
  return rc;
}

static void *maint_main(void *arg) {
  ember_pg_t *s = arg;
  int64_t next_pass = 0;
  pthread_setname_np(pthread_self(), "ember-maint");
  pthread_mutex_lock(&s->maint_lock);
  while (!s->maint_stop) {
    pthread_mutex_unlock(&s->maint_lock);
    bool owner = take_maint(s);
    if (owner && ember_now() >= next_pass) {
      ember_err_t err;
      if (pg_maintain((ember_store_t *)(void *)s, ember_now(), NULL, &err) != 0)
        fprintf(stderr, "ember: maintenance: %s\n", err.msg);
      next_pass = ember_now() + EMBER_STORE_MAINT_PERIOD;
    } else if (!owner) {
      next_pass = 0; /* a node taking over runs a pass at once */
    }
    pthread_mutex_lock(&s->maint_lock);
    struct timespec until;
    clock_gettime(CLOCK_MONOTONIC, &until);
    until.tv_sec += owner ? PG_MAINT_CHECK : PG_MAINT_TRY;
    while (!s->maint_stop &&
           pthread_cond_timedwait(&s->maint_wake, &s->maint_lock, &until) == 0) {
    }
  }
  pthread_mutex_unlock(&s->maint_lock);
  return NULL;
}

/* ---- Open, close, health ---------------------------------------------------- */

/* url without the password of its user part (user:password@host). */
static char *redact(const char *url) {
  char *out = ember_strdup(url);
  char *scheme = strstr(out, "://");
  if (!scheme) return out;
  char *user = scheme + 3, *at = strchr(user, '@'), *colon = strchr(user, ':');
  if (at && colon && colon < at) memmove(colon, at, strlen(at) + 1);
  return out;
}

static void pg_free(ember_pg_t *s) {
  for (size_t i = 0; i < s->npool; i++)
    PQfinish(s->pool[i]);
  PQfinish(s->wconn);
  PQfinish(s->mconn);
  ember_pg_idset_free(&s->known);
  ember_pg_idset_free(&s->days);
  pthread_mutex_destroy(&s->lock);
  pthread_cond_destroy(&s->wake);
  pthread_mutex_destroy(&s->pool_lock);
  pthread_mutex_destroy(&s->maint_lock);
  pthread_cond_destroy(&s->maint_wake);
  free(s->url);
  free(s->where);
  free(s);
}

static void pg_close(ember_store_t *st) {
  ember_pg_t *s = (ember_pg_t *)(void *)st;
  atomic_store(&s->stopping, true);
  if (s->maint_running) {
    pthread_mutex_lock(&s->maint_lock);
    s->maint_stop = true;
    pthread_cond_signal(&s->maint_wake);
    pthread_mutex_unlock(&s->maint_lock);
    pthread_join(s->maint, NULL);
  }
  if (s->writer_running) {
    pthread_mutex_lock(&s->lock);
    s->closing = true;
    pthread_cond_signal(&s->wake);
    pthread_mutex_unlock(&s->lock);
    pthread_join(s->writer, NULL);
  }
  pg_free(s);
}

static int pg_open(const ember_store_config_t *cfg, ember_store_t **out,
                   ember_err_t *err) {
  if (cfg->retention_seconds < 0)
    return ember_err_set(err, EMBER_EINVAL,
                         "retention must not be negative; use 0 to keep data forever");
  ember_pg_t *s = ember_calloc(1, sizeof *s);
  s->ops = ember_store_pg_ops;
  s->url = ember_strdup(cfg->location);
  s->where = redact(cfg->location);
  s->retention = cfg->retention_seconds;
  s->queue_max = cfg->queue_max ? cfg->queue_max : EMBER_STORE_QUEUE_DEFAULT;
  s->max_new_stacks =
      cfg->max_new_stacks ? cfg->max_new_stacks : EMBER_STORE_MAX_NEW_STACKS;
  s->max_series_per_app =
      cfg->max_series_per_app ? cfg->max_series_per_app : EMBER_STORE_MAX_SERIES_PER_APP;
  s->max_apps = cfg->max_apps ? cfg->max_apps : EMBER_STORE_MAX_APPS;
  pthread_mutex_init(&s->lock, NULL);
  pthread_cond_init(&s->wake, NULL);
  pthread_mutex_init(&s->pool_lock, NULL);
  pthread_mutex_init(&s->maint_lock, NULL);
  pthread_condattr_t ca;
  pthread_condattr_init(&ca);
  pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
  pthread_cond_init(&s->maint_wake, &ca);
  pthread_condattr_destroy(&ca);
  int rc;
  if ((rc = ember_pg_connect(s->url, &s->wconn, err)) != 0 ||
      (rc = ember_pg_connect(s->url, &s->mconn, err)) != 0 ||
      (rc = migrate(s->wconn, err)) != 0) {
    pg_free(s);
    return rc;
  }
  s->last_commit_unix = ember_now();
  if (pthread_create(&s->writer, NULL, writer_main, s) == 0) s->writer_running = true;
  if (pthread_create(&s->maint, NULL, maint_main, s) == 0) s->maint_running = true;
  if (!s->writer_running || !s->maint_running) {
    pg_close((ember_store_t *)(void *)s);
    return ember_err_set(err, EMBER_EIO, "cannot start the store's threads");
  }
  *out = (ember_store_t *)(void *)s;
  return 0;
}

static const char *pg_where(ember_store_t *st) {
  return ((ember_pg_t *)(void *)st)->where;
}

static void pg_health(ember_store_t *st, ember_store_health_t *out) {
  ember_pg_t *s = (ember_pg_t *)(void *)st;
  pthread_mutex_lock(&s->lock);
  out->last_write_failed = s->write_failed;
  memcpy(out->last_write_error, s->write_error, sizeof out->last_write_error);
  out->last_commit_unix = s->last_commit_unix;
  out->last_failure_unix = s->last_failure_unix;
  pthread_mutex_unlock(&s->lock);
  out->disk_free_bytes = UINT64_MAX; /* the database's disk is the database's */
  if (out->last_write_failed)
    snprintf(out->reason, sizeof out->reason, "last write failed: %.300s",
             out->last_write_error);
  out->ready = out->reason[0] == '\0';
}

static void pg_stats(ember_store_t *st, ember_store_stats_t *out) {
  ember_pg_t *s = (ember_pg_t *)(void *)st;
  pthread_mutex_lock(&s->lock);
  out->queue_depth = s->depth;
  out->queue_max = s->queue_max;
  out->commits = s->commits;
  out->rows_written = s->rows_written;
  out->rows_deleted = s->rows_deleted;
  out->last_commit_ns = s->last_commit_ns;
  out->maintenance_owner = s->maint_owner;
  pthread_mutex_unlock(&s->lock);
  PGconn *c = NULL;
  ember_err_t err;
  if (ember_pg_pool_get(s, &c, &err) == 0) {
    char *v = query_one(c, "SELECT pg_database_size(current_database())", 0, NULL, &err,
                        "sizing the database");
    if (v) out->db_bytes = ember_pg_u64(v);
    free(v);
    ember_pg_pool_put(s, c);
  }
}

static const ember_store_ops_t pg_ops = {
    .name = "postgresql",
    .open = pg_open,
    .close = pg_close,
    .submit = pg_submit,
    .delete_app = pg_delete_app,
    .maintain = pg_maintain,
    .where = pg_where,
    .stats = pg_stats,
    .health = pg_health,
    .reader_open = ember_pg_reader_open,
    .reader_close = ember_pg_reader_close,
    .reader_app = ember_pg_reader_app,
    .reader_apps = ember_pg_reader_apps,
    .reader_tree = ember_pg_reader_tree,
    .reader_sums = ember_pg_reader_sums,
    .reader_timeline = ember_pg_reader_timeline,
    .reader_label_keys = ember_pg_reader_label_keys,
    .reader_label_values = ember_pg_reader_label_values,
};

const ember_store_ops_t *const ember_store_pg_ops = &pg_ops;
