/*
 * backend.c - the functions of store.h, dispatched to the backend that
 * runs: SQLite in a data directory (store.c and its neighbours) or
 * PostgreSQL at a URL (pg/). Every store object and every read session a
 * backend makes begins with a pointer to its function table
 * (ember_store_ops_t), read here; arguments every backend would refuse
 * the same way are refused here once. What does not depend on the backend
 * (waiting for a submit, the one-shot reads) is written once, here, on top
 * of the table.
 */
#include "store/store_int.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

void (*ember_pg_test_before_commit)(void *ctx);
void *ember_pg_test_before_commit_ctx;

#ifndef EMBER_HAVE_PG
const ember_store_ops_t *const ember_store_pg_ops = NULL;
#endif

/* The table at the start of a store object or read session. */
static const ember_store_ops_t *ops_of(const void *obj) {
  return *(const ember_store_ops_t *const *)obj;
}

/* Whether location names a PostgreSQL database (libpq's URI schemes). */
static bool is_pg_url(const char *location) {
  return strncmp(location, "postgres://", 11) == 0 ||
         strncmp(location, "postgresql://", 13) == 0;
}

int ember_store_open(const ember_store_config_t *cfg, ember_store_t **out,
                     ember_err_t *err) {
  if (!cfg || !out) return ember_err_set(err, EMBER_EINVAL, "no store configuration");
  const char *loc = cfg->location;
  if (!loc || !*loc) return ember_store_sqlite_ops.open(cfg, out, err);
  if (is_pg_url(loc)) {
    if (!ember_store_pg_ops)
      return ember_err_set(err, EMBER_EINVAL,
                           "this ember was built without PostgreSQL support (libpq); "
                           "rebuild with libpq-dev installed or use a data directory");
    return ember_store_pg_ops->open(cfg, out, err);
  }
  if (strstr(loc, "://"))
    return ember_err_set(err, EMBER_EINVAL,
                         "store '%.200s' is neither a postgres:// or postgresql:// URL "
                         "nor a directory",
                         loc);
  ember_store_config_t dir = *cfg;
  dir.data_dir = loc;
  return ember_store_sqlite_ops.open(&dir, out, err);
}

void ember_store_close(ember_store_t *s) {
  if (s) ops_of(s)->close(s);
}

int ember_store_submit(ember_store_t *s, ember_ingest_result_t *r,
                       ember_store_done_fn done, void *ctx, ember_err_t *err) {
  if (!s || !r) return ember_err_set(err, EMBER_EINVAL, "nothing to store");
  return ops_of(s)->submit(s, r, done, ctx, err);
}

int ember_store_delete_app(ember_store_t *s, const char *app, ember_err_t *err) {
  if (!s || !app) return ember_err_set(err, EMBER_EINVAL, "no app name given");
  return ops_of(s)->delete_app(s, app, err);
}

int ember_store_maintain(ember_store_t *s, int64_t now, bool *ran, ember_err_t *err) {
  if (ran) *ran = false;
  if (!s) return ember_err_set(err, EMBER_EINVAL, "no store");
  return ops_of(s)->maintain(s, now, ran, err);
}

const char *ember_store_where(ember_store_t *s) {
  return s ? ops_of(s)->where(s) : "";
}

void ember_store_stats(ember_store_t *s, ember_store_stats_t *out) {
  memset(out, 0, sizeof *out);
  if (s) ops_of(s)->stats(s, out);
}

void ember_store_health(ember_store_t *s, ember_store_health_t *out) {
  memset(out, 0, sizeof *out);
  if (s) ops_of(s)->health(s, out);
}

/* ---- Waiting for a commit ---------------------------------------------- */

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
  w->rc = rc;
  if (rc != 0 && err) w->err = *err;
  w->done = true;
  pthread_cond_signal(&w->c);
  pthread_mutex_unlock(&w->m);
}

int ember_store_write(ember_store_t *s, ember_ingest_result_t *r, ember_err_t *err) {
  waiter_t w;
  memset(&w, 0, sizeof w);
  pthread_mutex_init(&w.m, NULL);
  pthread_cond_init(&w.c, NULL);
  int rc = ember_store_submit(s, r, waiter_done, &w, err);
  if (rc == 0) {
    pthread_mutex_lock(&w.m);
    while (!w.done)
      pthread_cond_wait(&w.c, &w.m);
    pthread_mutex_unlock(&w.m);
    rc = w.rc;
    if (rc != 0 && err) *err = w.err;
  }
  pthread_mutex_destroy(&w.m);
  pthread_cond_destroy(&w.c);
  return rc;
}

/* ---- Read sessions ------------------------------------------------------ */

int ember_store_reader_open(ember_store_t *s, ember_store_reader_t **out,
                            ember_err_t *err) {
  if (!s || !out) return ember_err_set(err, EMBER_EINVAL, "bad arguments to a read");
  return ops_of(s)->reader_open(s, out, err);
}

void ember_store_reader_close(ember_store_reader_t *r) {
  if (r) ops_of(r)->reader_close(r);
}

int ember_store_reader_app(ember_store_reader_t *r, const char *app,
                           ember_app_info_t *out, ember_err_t *err) {
  if (!r || !app || !out) return ember_err_set(err, EMBER_EINVAL, "bad arguments");
  return ops_of(r)->reader_app(r, app, out, err);
}

int ember_store_reader_apps(ember_store_reader_t *r, ember_app_info_t **apps, size_t *n,
                            ember_err_t *err) {
  if (!r || !apps || !n) return ember_err_set(err, EMBER_EINVAL, "bad arguments");
  return ops_of(r)->reader_apps(r, apps, n, err);
}

int ember_store_reader_tree(ember_store_reader_t *r, const ember_selector_t *sel,
                            int64_t from, int64_t until, ember_tree_t *t, int side,
                            ember_err_t *err) {
  if (!r || !sel || !sel->app || !t || side < 0 || side >= EMBER_TREE_SIDES)
    return ember_err_set(err, EMBER_EINVAL, "bad arguments to a tree read");
  return ops_of(r)->reader_tree(r, sel, from, until, t, side, err);
}

int ember_store_reader_sums(ember_store_reader_t *r, const ember_selector_t *sel,
                            int64_t from, int64_t until, ember_store_sums_t *sums,
                            int side, ember_err_t *err) {
  if (!r || !sel || !sel->app || !sums || side < 0 || side >= EMBER_TREE_SIDES)
    return ember_err_set(err, EMBER_EINVAL, "bad arguments to a tree read");
  return ops_of(r)->reader_sums(r, sel, from, until, sums, side, err);
}

int ember_store_reader_timeline(ember_store_reader_t *r, const ember_selector_t *sel,
                                int64_t start, int64_t step, uint64_t *values, size_t n,
                                ember_err_t *err) {
  if (values && n) memset(values, 0, n * sizeof *values);
  if (!r || !sel || !sel->app || (n && !values))
    return ember_err_set(err, EMBER_EINVAL, "bad arguments to a timeline read");
  return ops_of(r)->reader_timeline(r, sel, start, step, values, n, err);
}

int ember_store_reader_label_keys(ember_store_reader_t *r, const ember_selector_t *sel,
                                  ember_strlist_t *out, ember_err_t *err) {
  if (!r || !sel || !sel->app || !out)
    return ember_err_set(err, EMBER_EINVAL, "bad arguments to a label read");
  return ops_of(r)->reader_label_keys(r, sel, out, err);
}

int ember_store_reader_label_values(ember_store_reader_t *r, const ember_selector_t *sel,
                                    const char *key, ember_strlist_t *out,
                                    ember_err_t *err) {
  if (!r || !sel || !sel->app || !out)
    return ember_err_set(err, EMBER_EINVAL, "bad arguments to a label read");
  if (!key) return ember_err_set(err, EMBER_EINVAL, "no label name given");
  return ops_of(r)->reader_label_values(r, sel, key, out, err);
}

/* ---- One-shot reads ---------------------------------------------------- */

/* Each opens a session for one read. A NULL store gets EMBER_EINVAL from
 * ember_store_reader_open. */

int ember_store_read_tree(ember_store_t *s, const ember_selector_t *sel, int64_t from,
                          int64_t until, ember_tree_t *t, int side, ember_err_t *err) {
  ember_store_reader_t *r = NULL;
  int rc = ember_store_reader_open(s, &r, err);
  if (rc == 0) rc = ember_store_reader_tree(r, sel, from, until, t, side, err);
  ember_store_reader_close(r);
  return rc;
}

int ember_store_timeline(ember_store_t *s, const ember_selector_t *sel, int64_t start,
                         int64_t step, uint64_t *values, size_t n, ember_err_t *err) {
  ember_store_reader_t *r = NULL;
  if (values && n) memset(values, 0, n * sizeof *values);
  int rc = ember_store_reader_open(s, &r, err);
  if (rc == 0) rc = ember_store_reader_timeline(r, sel, start, step, values, n, err);
  ember_store_reader_close(r);
  return rc;
}

int ember_store_label_keys(ember_store_t *s, const ember_selector_t *sel,
                           ember_strlist_t *out, ember_err_t *err) {
  ember_store_reader_t *r = NULL;
  int rc = ember_store_reader_open(s, &r, err);
  if (rc == 0) rc = ember_store_reader_label_keys(r, sel, out, err);
  ember_store_reader_close(r);
  return rc;
}

int ember_store_label_values(ember_store_t *s, const ember_selector_t *sel,
                             const char *key, ember_strlist_t *out, ember_err_t *err) {
  ember_store_reader_t *r = NULL;
  int rc = ember_store_reader_open(s, &r, err);
  if (rc == 0) rc = ember_store_reader_label_values(r, sel, key, out, err);
  ember_store_reader_close(r);
  return rc;
}

int ember_store_apps(ember_store_t *s, ember_app_info_t **apps, size_t *n,
                     ember_err_t *err) {
  ember_store_reader_t *r = NULL;
  int rc = ember_store_reader_open(s, &r, err);
  if (rc == 0) rc = ember_store_reader_apps(r, apps, n, err);
  ember_store_reader_close(r);
  return rc;
}

int ember_store_app(ember_store_t *s, const char *app, ember_app_info_t *out,
                    ember_err_t *err) {
  ember_store_reader_t *r = NULL;
  int rc = ember_store_reader_open(s, &r, err);
  if (rc == 0) rc = ember_store_reader_app(r, app, out, err);
  ember_store_reader_close(r);
  return rc;
}
