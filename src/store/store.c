/*
 * store.c - opening and closing the SQLite store, its statistics and health.
 *
 * Opening: create the data directory, take its lock (one process per
 * directory, see ember_schema_lock_dir), check that its files can be
 * written, open the writer's connection (which switches the file to WAL),
 * migrate the schema, write the probe row once (a full disk or a read-only
 * file fails here, at start, with a message that says so, rather than on
 * every push), then start the writer and the maintenance thread. Closing
 * runs the same steps backwards: stop the maintenance thread (it only posts
 * jobs), stop accepting writes and let the writer drain and answer
 * everything queued, then close every connection.
 *
 * Health: the writer records the outcome of every transaction that wrote
 * or failed; ember_store_health adds the free space of the data's disk. A
 * store whose last write failed is probed every few seconds by the
 * maintenance thread, so it becomes ready again once the disk takes writes,
 * even when load balancers stopped sending it pushes.
 */
#include "store/store_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

static void store_free(ember_store_t *s) {
  ember_pool_close(s);
  ember_conn_close(s->wconn);
  ember_dicts_free(s->dicts);
  pthread_mutex_destroy(&s->lock);
  pthread_cond_destroy(&s->wake);
  pthread_mutex_destroy(&s->pool_lock);
  pthread_mutex_destroy(&s->maint_lock);
  pthread_cond_destroy(&s->maint_wake);
  free(s->dir);
  free(s->db_path);
  if (s->lock_fd >= 0) close(s->lock_fd); /* last: the directory is free now */
  free(s);
}

static int sqlite_open(const ember_store_config_t *cfg, ember_store_t **out,
                       ember_err_t *err) {
  if (!cfg || !out) return ember_err_set(err, EMBER_EINVAL, "no store configuration");
  if (cfg->retention_seconds < 0)
    return ember_err_set(err, EMBER_EINVAL,
                         "retention must not be negative; use 0 to keep data forever");
  int rc = ember_schema_prepare_dir(cfg->data_dir, err);
  if (rc != 0) return rc;
  ember_store_t *s = ember_calloc(1, sizeof *s);
  s->ops = &ember_store_sqlite_ops;
  s->lock_fd = -1;
  pthread_mutex_init(&s->lock, NULL);
  pthread_cond_init(&s->wake, NULL);
  pthread_mutex_init(&s->pool_lock, NULL);
  pthread_mutex_init(&s->maint_lock, NULL);
  pthread_condattr_t ca; /* the maintenance sleep must not jump with the clock */
  pthread_condattr_init(&ca);
  pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
  pthread_cond_init(&s->maint_wake, &ca);
  pthread_condattr_destroy(&ca);
  s->dir = ember_strdup(cfg->data_dir);
  size_t n = strlen(s->dir) + sizeof "/" EMBER_STORE_DB_NAME;
  s->db_path = ember_malloc(n);
  snprintf(s->db_path, n, "%s/%s", s->dir, EMBER_STORE_DB_NAME);
  s->retention = cfg->retention_seconds;
  s->queue_max = cfg->queue_max ? cfg->queue_max : EMBER_STORE_QUEUE_DEFAULT;
  s->max_new_stacks =
      cfg->max_new_stacks ? cfg->max_new_stacks : EMBER_STORE_MAX_NEW_STACKS;
  s->max_series_per_app =
      cfg->max_series_per_app ? cfg->max_series_per_app : EMBER_STORE_MAX_SERIES_PER_APP;
  s->max_apps = cfg->max_apps ? cfg->max_apps : EMBER_STORE_MAX_APPS;
  s->min_free_disk = cfg->min_free_disk ? cfg->min_free_disk : EMBER_STORE_MIN_FREE_DISK;
  s->dicts = ember_dicts_new(cfg->dict_cache ? cfg->dict_cache : EMBER_STORE_DICT_CACHE);
  if ((rc = ember_schema_lock_dir(s->dir, &s->lock_fd, err)) != 0 ||
      (rc = ember_schema_check_files(s->dir, err)) != 0 ||
      (rc = ember_conn_open(s->db_path, true, &s->wconn, err)) != 0 ||
      (rc = ember_schema_migrate(s->wconn, err)) != 0 ||
      (rc = ember_store_probe_write(s->wconn, err)) != 0)
    goto fail;
  s->last_commit_unix = ember_now(); /* the probe row; no thread runs yet */
  if ((rc = ember_writer_start(s, err)) != 0 || (rc = ember_maint_start(s, err)) != 0)
    goto fail;
  *out = s;
  return 0;
fail:
  ember_writer_stop(s);
  store_free(s);
  return rc;
}

static void sqlite_close(ember_store_t *s) {
  /* The maintenance thread may be waiting for a job: the writer must run
   * (even if a test paused it) for that thread to notice it should stop. */
  ember_store_test_pause(s, false);
  ember_maint_stop(s);
  ember_writer_stop(s);
  store_free(s);
}

/* ---- Health ------------------------------------------------------------ */

static const char SQL_PROBE[] = "INSERT OR REPLACE INTO probe(id, at) VALUES(1, ?1)";

static int probe_row(ember_conn_t *c, ember_err_t *err) {
  sqlite3_stmt *st;
  int rc = ember_conn_prepare(c, SQL_PROBE, &st, err);
  if (rc != 0) return rc;
  sqlite3_bind_int64(st, 1, ember_now());
  if (sqlite3_step(st) != SQLITE_DONE) rc = ember_conn_fail(c, err, "writing a test row");
  sqlite3_reset(st);
  return rc;
}

int ember_store_probe_write(ember_conn_t *c, ember_err_t *err) {
  int rc = ember_conn_exec(c, "BEGIN IMMEDIATE", err);
  if (rc != 0) return rc;
  if ((rc = probe_row(c, err)) == 0 && sqlite3_exec(c->db, "COMMIT", NULL, NULL, NULL))
    rc = ember_conn_fail(c, err, "committing a test row");
  if (!sqlite3_get_autocommit(c->db)) sqlite3_exec(c->db, "ROLLBACK", NULL, NULL, NULL);
  return rc;
}

static int probe_job(ember_store_t *s, ember_job_t *j, ember_err_t *err) {
  return probe_row(s->wconn, err);
}

int ember_store_probe(ember_store_t *s, ember_err_t *err) {
  ember_job_t j;
  memset(&j, 0, sizeof j);
  j.run = probe_job;
  return ember_writer_call(s, &j, err);
}

bool ember_store_write_failed(ember_store_t *s) {
  pthread_mutex_lock(&s->lock);
  bool failed = s->write_failed;
  pthread_mutex_unlock(&s->lock);
  return failed;
}

/* Bytes this process may still write on the disk of dir (as df's "Avail"),
 * or UINT64_MAX when the system cannot tell. */
static uint64_t disk_free(const char *dir) {
  struct statvfs v;
  if (statvfs(dir, &v) != 0) return UINT64_MAX;
  return (uint64_t)v.f_bavail * (uint64_t)v.f_frsize;
}

static void sqlite_health(ember_store_t *s, ember_store_health_t *out) {
  pthread_mutex_lock(&s->lock);
  out->last_write_failed = s->write_failed;
  memcpy(out->last_write_error, s->write_error, sizeof out->last_write_error);
  out->last_commit_unix = s->last_commit_unix;
  out->last_failure_unix = s->last_failure_unix;
  pthread_mutex_unlock(&s->lock);
  out->min_free_bytes = s->min_free_disk;
  out->disk_free_bytes = disk_free(s->dir);
  size_t n = 0;
  if (out->last_write_failed)
    n = (size_t)snprintf(out->reason, sizeof out->reason, "last write failed: %.300s",
                         out->last_write_error);
  if (out->disk_free_bytes < out->min_free_bytes && n < sizeof out->reason)
    snprintf(out->reason + n, sizeof out->reason - n,
             "%sdisk nearly full: %llu MiB free on the data directory's disk, "
             "below the %llu MiB of --min-free-disk; free space on that disk",
             n ? "; " : "", (unsigned long long)(out->disk_free_bytes >> 20),
             (unsigned long long)(out->min_free_bytes >> 20));
  out->ready = out->reason[0] == '\0';
}

/* ---- Statistics -------------------------------------------------------- */

static uint64_t file_size(const char *path, const char *suffix) {
  char p[4096];
  snprintf(p, sizeof p, "%s%s", path, suffix);
  struct stat st;
  return stat(p, &st) == 0 ? (uint64_t)st.st_size : 0;
}

static void sqlite_stats(ember_store_t *s, ember_store_stats_t *out) {
  pthread_mutex_lock(&s->lock);
  out->queue_depth = s->external; /* requests; maintenance jobs are not */
  out->queue_max = s->queue_max;
  out->commits = s->commits;
  out->rows_written = s->rows_written;
  out->rows_deleted = s->rows_deleted;
  out->last_commit_ns = s->last_commit_ns;
  out->maintenance_owner = 1;
  pthread_mutex_unlock(&s->lock);
  size_t dict_bytes = 0;
  ember_dicts_stats(s->dicts, &dict_bytes, NULL, &out->dict_evictions);
  out->dict_bytes = dict_bytes;
  out->db_bytes = file_size(s->db_path, "") + file_size(s->db_path, "-wal");
}

/* ---- The backend ------------------------------------------------------- */

static int sqlite_maintain(ember_store_t *s, int64_t now, bool *ran, ember_err_t *err) {
  if (ran) *ran = true; /* one process per data directory: always this one */
  return ember_maint_pass(s, now, err);
}

static const char *sqlite_where(ember_store_t *s) { return s->dir; }

const ember_store_ops_t ember_store_sqlite_ops = {
    .name = "sqlite",
    .open = sqlite_open,
    .close = sqlite_close,
    .submit = ember_sqlite_submit,
    .delete_app = ember_sqlite_delete_app,
    .maintain = sqlite_maintain,
    .where = sqlite_where,
    .stats = sqlite_stats,
    .health = sqlite_health,
    .reader_open = ember_sqlite_reader_open,
    .reader_close = ember_sqlite_reader_close,
    .reader_app = ember_sqlite_reader_app,
    .reader_apps = ember_sqlite_reader_apps,
    .reader_tree = ember_sqlite_reader_tree,
    .reader_sums = ember_sqlite_reader_sums,
    .reader_timeline = ember_sqlite_reader_timeline,
    .reader_label_keys = ember_sqlite_reader_label_keys,
    .reader_label_values = ember_sqlite_reader_label_values,
};
