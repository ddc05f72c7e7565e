/*
 * writer.c - the write queue and the single writer thread.
 *
 * SQLite allows one writer at a time, and every COMMIT in synchronous=FULL
 * mode costs an fsync. So HTTP threads never write: they queue a job and
 * the writer thread takes everything waiting (up to EMBER_STORE_BATCH_MAX
 * jobs) and writes it in ONE transaction (group commit), one fsync for the
 * whole batch, then answers every job in it. Maintenance (retention,
 * compaction) also runs as jobs here, so the database has exactly one
 * writing connection and nobody ever waits on SQLITE_BUSY.
 *
 * Invariants:
 *  1. Only the writer thread uses s->wconn once the thread runs.
 *  2. Every job accepted by ember_writer_post is answered exactly once: its
 *     done callback runs once, on the writer thread, after the transaction
 *     that held the job ended.
 *  3. done(rc == 0) runs only after COMMIT returned SQLITE_OK; with WAL and
 *     synchronous=FULL the WAL is on disk by then, so the data survives
 *     kill -9 or power loss. This is the whole meaning of a 200 on /ingest.
 *  4. The queue holds at most queue_max jobs from ember_store_submit; a
 *     full queue is refused at once (EMBER_EBUSY), never waited on, and an
 *     accepted job is never dropped.
 *  5. Once closing is set nothing is accepted, and the writer leaves only
 *     when the queue is empty, so every accepted job is answered.
 *  6. Each job runs in its own SAVEPOINT: a failing job is rolled back alone
 *     and the others still commit. If the transaction as a whole fails
 *     (BEGIN or COMMIT, or SQLite rolls it back on a disk error), every job
 *     in the batch fails with that error.
 *  7. After any rollback, before anything else runs on the connection, the
 *     dictionary caches are dropped (dict.c, 4): a later job of the same
 *     batch must never see ids that were rolled back. A job that failed
 *     before adding any entry (ember_dicts_changes did not move), such as
 *     one refused for a limit, left none behind: the caches stay.
 *  8. Every transaction that wrote something or failed updates the store's
 *     health (store.c): readiness follows the last write's outcome.
 *
 * A job's life (state, and the function that moves it on):
 *
 *   QUEUED ---take()---> BATCHED ---run_batch()---> DONE ---answer()---> ANSWERED
 *   (queue owns it)     (writer owns it)       (rc final)     (done called;
 *                                                               freed unless
 *                                                               caller-owned)
 */
#include "store/store_int.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

/* ---- Jobs -------------------------------------------------------------- */

static void job_free(ember_job_t *j) {
  for (size_t i = 0; i < j->nprofiles; i++) ember_profile_free(&j->profiles[i]);
  free(j->profiles);
  free(j->app);
  free(j);
}

/* Checks the states of a batch against the diagram above. */
static void assert_batch(const ember_job_t *batch, ember_job_state_t want) {
#ifndef NDEBUG
  for (const ember_job_t *j = batch; j; j = j->next) assert(j->state == want);
#else
  (void)batch;
  (void)want;
#endif
}

/* ---- Queue ------------------------------------------------------------- */

int ember_writer_post(ember_store_t *s, ember_job_t *j, ember_err_t *err) {
  int rc = 0;
  pthread_mutex_lock(&s->lock);
  if (s->closing) {
    rc = ember_err_set(err, EMBER_ESHUTDOWN,
                       "the server is shutting down; retry against a running one");
  } else if (!j->internal && s->external >= s->queue_max) {
    rc = ember_err_set(err, EMBER_EBUSY,
                       "the write queue is full (%zu requests waiting); retry in "
                       "a moment",
                       s->external);
  } else {
    j->state = EMBER_JOB_QUEUED;
    j->next = NULL;
    if (s->tail) s->tail->next = j;
    else s->head = j;
    s->tail = j;
    s->depth++;
    if (!j->internal) s->external++;
    pthread_cond_signal(&s->wake);
  }
  pthread_mutex_unlock(&s->lock);
  return rc;
}

/* Waits for work; returns up to a batch of jobs, or NULL when the store
 * closes and the queue is empty. */
static ember_job_t *take(ember_store_t *s) {
  pthread_mutex_lock(&s->lock);
  while (!s->closing && (!s->head || s->paused)) pthread_cond_wait(&s->wake, &s->lock);
  ember_job_t *batch = s->head, *last = NULL;
  size_t n = 0;
  for (ember_job_t *j = s->head; j && n < EMBER_STORE_BATCH_MAX; j = j->next, n++) {
    assert(j->state == EMBER_JOB_QUEUED);
    j->state = EMBER_JOB_BATCHED;
    if (!j->internal) s->external--;
    last = j;
  }
  if (last) {
    s->head = last->next;
    if (!s->head) s->tail = NULL;
    last->next = NULL;
    s->depth -= n;
  }
  assert(s->external <= s->depth);
  pthread_mutex_unlock(&s->lock);
  return batch;
}

/* ---- Transactions ------------------------------------------------------ */

static void fail_all(ember_job_t *batch, const ember_err_t *err) {
  for (ember_job_t *j = batch; j; j = j->next) {
    j->rc = EMBER_EIO;
    j->err = *err;
    j->err.code = EMBER_EIO;
    memset(&j->counts, 0, sizeof j->counts);
  }
}

/* Runs one job in its own savepoint; *wrote is set when it succeeded and
 * changed rows. Returns -1 when the whole transaction is lost (SQLite
 * rolled it back), else 0 whatever the job's outcome. */
static int run_job(ember_store_t *s, ember_job_t *j, bool *wrote, ember_err_t *txn_err) {
  ember_conn_t *c = s->wconn;
  ember_err_clear(&j->err);
  if (ember_conn_exec(c, "SAVEPOINT job", txn_err) != 0) return -1;
  uint64_t changes = ember_dicts_changes(s->dicts);
  int64_t rows = sqlite3_total_changes64(c->db);
  j->rc = j->run(s, j, &j->err);
  if (j->rc == 0) {
    *wrote |= sqlite3_total_changes64(c->db) != rows;
    return ember_conn_exec(c, "RELEASE job", txn_err) ? -1 : 0;
  }
  if (j->err.code == 0) j->err.code = j->rc;
  memset(&j->counts, 0, sizeof j->counts);
  /* A disk error may have made SQLite roll back the whole transaction. */
  if (sqlite3_get_autocommit(c->db)) {
    *txn_err = j->err;
    return -1;
  }
  if (ember_conn_exec(c, "ROLLBACK TO job", txn_err) != 0 ||
      ember_conn_exec(c, "RELEASE job", txn_err) != 0)
    return -1;
  /* Now, not at the end of the batch: the next job must not reuse the ids
   * this one added and lost. */
  if (ember_dicts_changes(s->dicts) != changes) ember_dicts_drop_all(s->dicts);
  return 0;
}

/* Invariant 8. A batch that failed as a whole, or a job that failed on
 * storage (EMBER_EIO: full disk, damaged page), makes the store unhealthy;
 * a commit that stored something makes it healthy again. A commit that
 * changed nothing proves nothing about the disk and leaves it as it was. */
static void record_health(ember_store_t *s, ember_job_t *batch, bool ok, bool wrote,
                          const ember_err_t *txn_err) {
  const ember_err_t *bad = ok ? NULL : txn_err;
  for (ember_job_t *j = batch; !bad && j; j = j->next)
    if (j->rc == EMBER_EIO) bad = &j->err;
  if (!bad && !wrote) return;
  int64_t now = ember_now();
  pthread_mutex_lock(&s->lock);
  bool newly_failed = bad && !s->write_failed;
  s->write_failed = bad != NULL;
  if (bad) {
    memcpy(s->write_error, bad->msg, sizeof s->write_error);
    s->last_failure_unix = now;
  } else {
    s->write_error[0] = '\0';
    s->last_commit_unix = now;
  }
  pthread_mutex_unlock(&s->lock);
  if (newly_failed) ember_maint_poke(s); /* it may be asleep for a minute */
}

static void run_batch(ember_store_t *s, ember_job_t *batch) {
  ember_conn_t *c = s->wconn;
  ember_err_t txn_err;
  ember_err_clear(&txn_err);
  bool wrote = false, ok = ember_conn_exec(c, "BEGIN IMMEDIATE", &txn_err) == 0;
  uint64_t t0 = ember_mono_ns();
  for (ember_job_t *j = batch; ok && j; j = j->next)
    if (run_job(s, j, &wrote, &txn_err) != 0) ok = false;
  if (ok && sqlite3_exec(c->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
    ember_conn_fail(c, &txn_err, "committing");
    ok = false;
  }
  if (!ok) {
    if (!sqlite3_get_autocommit(c->db)) sqlite3_exec(c->db, "ROLLBACK", NULL, NULL, NULL);
    fail_all(batch, &txn_err);
    ember_dicts_drop_all(s->dicts);
  }
  record_health(s, batch, ok, wrote, &txn_err);
  uint64_t written = 0, deleted = 0;
  for (ember_job_t *j = batch; j; j = j->next) {
    j->state = EMBER_JOB_DONE;
    written += j->counts.rows_written;
    deleted += j->counts.rows_deleted;
  }
  pthread_mutex_lock(&s->lock);
  if (ok) s->commits++;
  s->rows_written += written;
  s->rows_deleted += deleted;
  s->last_commit_ns = ember_mono_ns() - t0;
  pthread_mutex_unlock(&s->lock);
}

/* Calls every done callback, then lets go of the jobs. */
static void answer(ember_job_t *batch) {
  assert_batch(batch, EMBER_JOB_DONE);
  for (ember_job_t *j = batch, *next; j; j = next) {
    next = j->next;
    bool owned_here = !j->caller_owned;
    j->state = EMBER_JOB_ANSWERED;
    /* A caller-owned job may be gone as soon as done returns. */
    if (j->done) j->done(j->ctx, j->rc, &j->err);
    if (owned_here) job_free(j);
  }
}

static void *writer_main(void *arg) {
  ember_store_t *s = arg;
  pthread_setname_np(pthread_self(), "ember-writer");
  ember_job_t *batch;
  while ((batch = take(s)) != NULL) {
    assert_batch(batch, EMBER_JOB_BATCHED);
    run_batch(s, batch);
    answer(batch);
  }
  return NULL;
}

int ember_writer_start(ember_store_t *s, ember_err_t *err) {
  if (pthread_create(&s->writer, NULL, writer_main, s) != 0)
    return ember_err_set(err, EMBER_EIO, "cannot start the writer thread");
  s->writer_running = true;
  return 0;
}

void ember_writer_stop(ember_store_t *s) {
  pthread_mutex_lock(&s->lock);
  s->closing = true;
  s->paused = false;
  pthread_cond_broadcast(&s->wake);
  pthread_mutex_unlock(&s->lock);
  if (s->writer_running) pthread_join(s->writer, NULL);
  s->writer_running = false;
  /* Jobs posted before the thread ever ran (open failed half-way) would be
   * answered here; with a running writer the queue is already empty. */
  assert(s->head == NULL);
}

/* ---- Waiting for a job ------------------------------------------------- */

typedef struct {
  pthread_mutex_t m;
  pthread_cond_t c;
  bool done;
  int rc;
  ember_err_t err;
} waiter_t;

static void waiter_done(void *ctx, int rc, const ember_err_t *err) {
  waiter_t *w = ctx;
  pthread_mutex_lock(&w->m);
  w->done = true;
  w->rc = rc;
  if (rc != 0 && err) w->err = *err;
  pthread_cond_signal(&w->c);
  pthread_mutex_unlock(&w->m);
}

static int waiter_wait(waiter_t *w, ember_err_t *err) {
  pthread_mutex_lock(&w->m);
  while (!w->done) pthread_cond_wait(&w->c, &w->m);
  pthread_mutex_unlock(&w->m);
  pthread_mutex_destroy(&w->m);
  pthread_cond_destroy(&w->c);
  if (w->rc != 0 && err) *err = w->err;
  return w->rc;
}

static void waiter_init(waiter_t *w) {
  memset(w, 0, sizeof *w);
  pthread_mutex_init(&w->m, NULL);
  pthread_cond_init(&w->c, NULL);
}

int ember_writer_call(ember_store_t *s, ember_job_t *j, ember_err_t *err) {
  waiter_t w;
  waiter_init(&w);
  j->internal = true;
  j->caller_owned = true;
  j->done = waiter_done;
  j->ctx = &w;
  int rc = ember_writer_post(s, j, err);
  if (rc != 0) {
    pthread_mutex_destroy(&w.m);
    pthread_cond_destroy(&w.c);
    return rc;
  }
  return waiter_wait(&w, err);
}

/* ---- API --------------------------------------------------------------- */

int ember_sqlite_submit(ember_store_t *s, ember_ingest_result_t *r,
                        ember_store_done_fn done, void *ctx, ember_err_t *err) {
  ember_job_t *j = ember_calloc(1, sizeof *j);
  j->run = ember_apply_write;
  j->profiles = r->items;
  j->nprofiles = r->n;
  j->done = done;
  j->ctx = ctx;
  int rc = ember_writer_post(s, j, err);
  if (rc != 0) {
    free(j); /* the profiles stay with the caller */
    return rc;
  }
  r->items = NULL;
  r->n = 0;
  return 0;
}

int ember_sqlite_delete_app(ember_store_t *s, const char *app, ember_err_t *err) {
  ember_job_t j;
  memset(&j, 0, sizeof j);
  j.run = ember_apply_hide_app;
  j.app = (char *)app; /* borrowed: a caller-owned job is never freed here */
  int rc = ember_writer_call(s, &j, err);
  if (rc != 0) return rc;
  ember_err_t why;
  if ((rc = ember_apply_purge_app(s, j.out, &why)) != 0)
    ember_err_set(err, rc,
                  "app '%s' is deleted and no longer listed, but removing its "
                  "data failed (%.300s); the server retries in the background",
                  app, why.msg);
  return rc;
}

void ember_store_test_pause(ember_store_t *s, bool paused) {
  pthread_mutex_lock(&s->lock);
  s->paused = paused;
  pthread_cond_broadcast(&s->wake);
  pthread_mutex_unlock(&s->lock);
}
