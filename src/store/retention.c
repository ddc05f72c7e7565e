/*
 * retention.c - the maintenance thread, and retention: deleting data older
 * than the configured age.
 *
 * The thread runs one pass at open and then every EMBER_STORE_MAINT_PERIOD
 * seconds: retention first, then compaction and rollups (compact.c). It
 * never writes itself. Every change is a job on the writer's queue, small
 * enough (a chunk of rows) that ingest requests queued behind it wait
 * milliseconds, and the pass waits for each job before posting the next,
 * so maintenance never has more than one job queued. The alternative, a
 * second writing connection with a busy timeout, would make the writer
 * wait on SQLITE_BUSY at unpredictable moments and break the one-writer
 * invariant the write path is built on (writer.c, 1).
 *
 * Retention at time now deletes every row whose bucket or period starts
 * before floor10(now - retention). It deletes level 3 first, then 2, 1 and
 * 0, so a rollup never outlives a row it sums (compact.c, invariant 1). A
 * rollup whose period straddles the cutoff goes with the older part; its
 * newer part is still read from the finer rows. Once rows went, series that
 * have no row left are deleted with their labels, so label lists forget
 * hosts and pods that are gone: they are listed on a reader connection (the
 * scan over every series never holds up the writer) and deleted in jobs that
 * re-check each one. Apps and their dictionaries stay until the app is
 * deleted. Each pass first finishes deleting apps whose deletion a stop
 * interrupted (apply.c, "Deleting an app"), and ends by dropping the
 * dictionaries of quiet apps that are over the cache bound (dict.c).
 */
#include "store/store_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Rows deleted per job. */
#define RETENTION_CHUNK 2000
/* Empty series deleted per job. */
#define ORPHAN_CHUNK 500

static const char SQL_EXPIRE[] =
    "DELETE FROM segments WHERE rowid IN (SELECT rowid FROM segments "
    "WHERE level=?1 AND start<?2 LIMIT ?3)";
static const char SQL_APP_EXPIRE[] =
    "DELETE FROM app_segments WHERE rowid IN (SELECT rowid FROM app_segments "
    "WHERE level=?1 AND start<?2 LIMIT ?3)";
static const char SQL_TODO_EXPIRE[] =
    "DELETE FROM rollup_todo WHERE level=?1 AND start<=?2";
static const char SQL_APP_TODO_EXPIRE[] =
    "DELETE FROM app_rollup_todo WHERE level=?1 AND start<=?2";
static const char SQL_ORPHANS[] =
    "SELECT id FROM series WHERE NOT EXISTS "
    "(SELECT 1 FROM segments WHERE series_id=series.id)";
static const char SQL_HAS_ROWS[] = "SELECT 1 FROM segments WHERE series_id=?1 LIMIT 1";
static const char SQL_ORPHAN_LABELS[] = "DELETE FROM series_labels WHERE series_id=?1";
static const char SQL_ORPHAN_TODO[] = "DELETE FROM rollup_todo WHERE series_id=?1";
static const char SQL_ORPHAN_SERIES[] = "DELETE FROM series WHERE id=?1";

static bool stopping(ember_store_t *s) {
  pthread_mutex_lock(&s->maint_lock);
  bool stop = s->maint_stop;
  pthread_mutex_unlock(&s->maint_lock);
  return stop;
}

/* ---- Jobs -------------------------------------------------------------- */

static int bind_step(ember_conn_t *c, const char *sql, int64_t a, int64_t b,
                     int64_t d, int nbind, int64_t *changes, ember_err_t *err) {
  sqlite3_stmt *st;
  int rc = ember_conn_prepare(c, sql, &st, err);
  if (rc != 0) return rc;
  int64_t v[3] = {a, b, d};
  for (int i = 0; i < nbind; i++) sqlite3_bind_int64(st, i + 1, v[i]);
  if (sqlite3_step(st) != SQLITE_DONE) rc = ember_conn_fail(c, err, "applying retention");
  else if (changes) *changes = sqlite3_changes64(c->db);
  sqlite3_reset(st);
  return rc;
}

/* Deletes up to arg[2] rows of level arg[0] older than arg[1]; at level 0,
 * once nothing is left, also the rollup work listed for expired periods. */
static int expire_job(ember_store_t *s, ember_job_t *j, ember_err_t *err) {
  ember_conn_t *c = s->wconn;
  int64_t n = 0;
  int rc = bind_step(c, SQL_EXPIRE, j->arg[0], j->arg[1], j->arg[2], 3, &n, err);
  if (rc != 0) return rc;
  j->out = n;
  j->counts.rows_deleted = (uint64_t)n;
  for (int l = 1; j->arg[0] == 0 && n < j->arg[2] && l < EMBER_STORE_LEVELS; l++)
    for (int app = 0; app < 2; app++)
      if ((rc = bind_step(c, app ? SQL_APP_TODO_EXPIRE : SQL_TODO_EXPIRE, l,
                          j->arg[1] - ember_store_width[l], 0, 2, NULL, err)) != 0)
        return rc;
  return 0;
}

/* Deletes up to arg[2] app rollups of level arg[0] older than arg[1]. */
static int expire_app_job(ember_store_t *s, ember_job_t *j, ember_err_t *err) {
  int64_t n = 0;
  int rc = bind_step(s->wconn, SQL_APP_EXPIRE, j->arg[0], j->arg[1], j->arg[2], 3, &n, err);
  if (rc == 0) {
    j->out = n;
    j->counts.rows_deleted = (uint64_t)n;
  }
  return rc;
}

/* Deletes the series of j->ids that still have no rows (one may have got
 * a row since the maintenance thread listed it). */
static int orphan_job(ember_store_t *s, ember_job_t *j, ember_err_t *err) {
  ember_conn_t *c = s->wconn;
  int rc = 0;
  for (size_t i = 0; rc == 0 && i < j->nids; i++) {
    sqlite3_stmt *st;
    if ((rc = ember_conn_prepare(c, SQL_HAS_ROWS, &st, err)) != 0) break;
    sqlite3_bind_int64(st, 1, j->ids[i]);
    int step = sqlite3_step(st);
    sqlite3_reset(st);
    if (step == SQLITE_ROW) continue;
    if (step != SQLITE_DONE) rc = ember_conn_fail(c, err, "checking a series");
    if (rc == 0) rc = bind_step(c, SQL_ORPHAN_LABELS, j->ids[i], 0, 0, 1, NULL, err);
    if (rc == 0) rc = bind_step(c, SQL_ORPHAN_TODO, j->ids[i], 0, 0, 1, NULL, err);
    if (rc == 0) rc = bind_step(c, SQL_ORPHAN_SERIES, j->ids[i], 0, 0, 1, NULL, err);
    if (rc == 0) j->out++;
  }
  return rc;
}

/* Lists the series without rows on a reader connection, so the scan over
 * every series never holds up the writer. Caller frees *ids. */
static int list_orphans(ember_store_t *s, int64_t **ids, size_t *n, ember_err_t *err) {
  ember_conn_t *c = NULL;
  sqlite3_stmt *st;
  size_t cap = 0;
  int rc = ember_pool_get(s, &c, err), step = SQLITE_DONE;
  if (rc == 0 && (rc = ember_conn_prepare(c, SQL_ORPHANS, &st, err)) == 0) {
    while ((step = sqlite3_step(st)) == SQLITE_ROW) {
      ember_grow((void **)ids, &cap, *n + 1, sizeof **ids);
      (*ids)[(*n)++] = sqlite3_column_int64(st, 0);
    }
    if (step != SQLITE_DONE) rc = ember_conn_fail(c, err, "finding empty series");
    sqlite3_reset(st);
  }
  ember_pool_put(s, c);
  return rc;
}

static int drop_orphans(ember_store_t *s, ember_err_t *err) {
  int64_t *ids = NULL;
  size_t n = 0;
  int rc = list_orphans(s, &ids, &n, err);
  for (size_t i = 0; rc == 0 && i < n; i += ORPHAN_CHUNK) {
    if (stopping(s)) {
      rc = EMBER_ESHUTDOWN;
      break;
    }
    ember_job_t j;
    memset(&j, 0, sizeof j);
    j.run = orphan_job;
    j.ids = ids + i;
    j.nids = n - i < ORPHAN_CHUNK ? n - i : ORPHAN_CHUNK;
    rc = ember_writer_call(s, &j, err);
  }
  free(ids);
  return rc;
}

/* Posts fn(args) until it reports a short chunk. Returns the total of out. */
static int repeat(ember_store_t *s, ember_job_fn fn, int64_t a0, int64_t a1,
                  int64_t chunk, int64_t *total, ember_err_t *err) {
  for (;;) {
    if (stopping(s)) return EMBER_ESHUTDOWN;
    ember_job_t j;
    memset(&j, 0, sizeof j);
    j.run = fn;
    j.arg[0] = a0;
    j.arg[1] = a1;
    j.arg[2] = chunk;
    int rc = ember_writer_call(s, &j, err);
    if (rc != 0) return rc;
    *total += j.out;
    if (j.out < chunk) return 0;
  }
}

static int retention(ember_store_t *s, int64_t now, ember_err_t *err) {
  if (s->retention <= 0 || now - s->retention < INT64_MIN / 2) return 0;
  int64_t cutoff = ember_store_floor(now - s->retention, EMBER_STORE_BUCKET);
  int64_t deleted = 0;
  /* App rollups sum the series' rows: they go before any of those. */
  for (int l = EMBER_STORE_LEVELS - 1; l >= 1; l--) {
    int64_t apps = 0;
    int rc = repeat(s, expire_app_job, l, cutoff, RETENTION_CHUNK, &apps, err);
    if (rc != 0) return rc;
  }
  for (int l = EMBER_STORE_LEVELS - 1; l >= 0; l--) {
    int rc = repeat(s, expire_job, l, cutoff, RETENTION_CHUNK, &deleted, err);
    if (rc != 0) return rc;
  }
  return deleted ? drop_orphans(s, err) : 0;
}

int ember_maint_pass(ember_store_t *s, int64_t now, ember_err_t *err) {
  int rc = ember_apply_purge_hidden(s, err); /* deletions a stop interrupted */
  if (rc == 0) rc = retention(s, now, err);
  if (rc == 0) rc = ember_compact_pass(s, now, err);
  ember_dicts_trim(s->dicts); /* big dictionaries of apps gone quiet */
  return rc;
}

/* ---- Thread ------------------------------------------------------------ */

/* Sleeps until the monotonic time `at` (ns), a stop or a poke; true on a
 * stop. */
static bool sleep_until(ember_store_t *s, uint64_t at) {
  struct timespec until = {(time_t)(at / 1000000000u), (long)(at % 1000000000u)};
  pthread_mutex_lock(&s->maint_lock);
  int w = 0;
  while (!s->maint_stop && !s->maint_poke && w != ETIMEDOUT)
    w = pthread_cond_timedwait(&s->maint_wake, &s->maint_lock, &until);
  s->maint_poke = false;
  bool stop = s->maint_stop;
  pthread_mutex_unlock(&s->maint_lock);
  return stop;
}

void ember_maint_poke(ember_store_t *s) {
  pthread_mutex_lock(&s->maint_lock);
  s->maint_poke = true;
  pthread_cond_broadcast(&s->maint_wake);
  pthread_mutex_unlock(&s->maint_lock);
}

/* A pass every EMBER_STORE_MAINT_PERIOD seconds; in between, while the last
 * write failed, a probe every EMBER_STORE_PROBE_PERIOD seconds, so that the
 * store notices when the disk takes writes again (store.c, health). The
 * first probe waits a period too: a failure stays visible for at least that
 * long, rather than being hidden at once by a small write that still fits. */
static void *maint_main(void *arg) {
  ember_store_t *s = arg;
  const uint64_t sec = 1000000000u;
  uint64_t next_pass = 0, next_probe = 0;
  bool failed = false;
  pthread_setname_np(pthread_self(), "ember-maint");
  for (;;) {
    ember_err_t err;
    ember_err_clear(&err);
    if (ember_mono_ns() >= next_pass) {
      int rc = ember_maint_pass(s, ember_now(), &err);
      if (rc != 0 && rc != EMBER_ESHUTDOWN)
        fprintf(stderr, "ember: maintenance failed, will retry: %s\n", err.msg);
      next_pass = ember_mono_ns() + EMBER_STORE_MAINT_PERIOD * sec;
    } else if (failed && ember_mono_ns() >= next_probe) {
      ember_store_probe(s, &err); /* the writer records the outcome */
      next_probe = ember_mono_ns() + EMBER_STORE_PROBE_PERIOD * sec;
    }
    bool now_failed = ember_store_write_failed(s);
    if (now_failed && !failed)
      next_probe = ember_mono_ns() + EMBER_STORE_PROBE_PERIOD * sec;
    failed = now_failed;
    if (sleep_until(s, failed && next_probe < next_pass ? next_probe : next_pass)) break;
  }
  return NULL;
}

int ember_maint_start(ember_store_t *s, ember_err_t *err) {
  if (pthread_create(&s->maint, NULL, maint_main, s) != 0)
    return ember_err_set(err, EMBER_EIO, "cannot start the maintenance thread");
  s->maint_running = true;
  return 0;
}

void ember_maint_stop(ember_store_t *s) {
  pthread_mutex_lock(&s->maint_lock);
  s->maint_stop = true;
  pthread_cond_broadcast(&s->maint_wake);
  pthread_mutex_unlock(&s->maint_lock);
  if (s->maint_running) pthread_join(s->maint, NULL);
  s->maint_running = false;
}
