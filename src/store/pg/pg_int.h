/*
 * pg_int.h - what the files of the PostgreSQL store (src/store/pg/) share:
 * the store object, connections, the schema and the stack ids.
 *
 *   pg.c       open and close, connections, schema and migrations,
 *              the writer (queue, group commit), maintenance, health
 *   pg_read.c  read sessions and the reads of store.h
 *   pg_rollup.c  time rollups: built by maintenance, chosen by reads
 *
 * Many nodes write one database with no coordination on the hot path:
 * a stack's id is a 63-bit hash of (app, parent stack id, frame name,
 * probe), so every node derives the same id for the same stack without
 * asking anyone; the rare collision (the id is taken by another stack) is
 * detected when the row is written and resolved by the next probe.
 */
#ifndef EMBER_STORE_PG_INT_H
#define EMBER_STORE_PG_INT_H

#include <libpq-fe.h>
#include <pthread.h>
#include <stdatomic.h>

#include "store/store_int.h"

/* The schema version this build writes and reads; a database at a newer
 * version is refused. */
#define EMBER_PG_SCHEMA_VERSION 3
/* Advisory lock keys (class, object): one class for everything of Ember. */
#define EMBER_PG_LOCK_CLASS 0x656d6265 /* "embe" */
#define EMBER_PG_LOCK_MIGRATE 1
#define EMBER_PG_LOCK_MAINT 2
#define EMBER_PG_LOCK_PARTITION 3
/* Taken shared by every write transaction, exclusively by whatever deletes
 * series or drops partitions (retention, deleting an app): a push never
 * lands in a series or a partition being deleted under it. */
#define EMBER_PG_LOCK_DELETE 4
/* Seconds of one partition of the sample tables. */
#define EMBER_PG_PARTITION 86400
/* Idle pooled read connections kept. */
#define EMBER_PG_POOL_IDLE 8

typedef struct ember_pg ember_pg_t;
typedef struct ember_pg_job ember_pg_job_t;

/* A set of 64-bit ids (stack ids known to be in the database, or days
 * whose partitions exist), open addressing; 0 is never stored. */
typedef struct {
  uint64_t *slots;
  size_t n, cap;
} ember_pg_idset_t;

bool ember_pg_idset_has(const ember_pg_idset_t *s, uint64_t id);
void ember_pg_idset_add(ember_pg_idset_t *s, uint64_t id);
void ember_pg_idset_free(ember_pg_idset_t *s);

struct ember_pg {
  const ember_store_ops_t *ops; /* first: store.h dispatches through it */
  char *url;                    /* libpq connection URI */
  char *where;                  /* url without its password */
  int64_t retention;
  size_t queue_max, max_new_stacks, max_series_per_app, max_apps;

  /* Writer: wconn is the writer thread's. known holds (app id, stack id)
   * hashes of stacks committed; days the partitions known to exist. */
  PGconn *wconn;
  ember_pg_idset_t known, days;
  pthread_t writer;
  bool writer_running;

  /* Queue and statistics, guarded by lock. */
  pthread_mutex_t lock;
  pthread_cond_t wake;
  ember_pg_job_t *head, *tail;
  size_t depth;
  bool closing;
  uint64_t commits, rows_written, rows_deleted, last_commit_ns;
  bool write_failed;
  char write_error[EMBER_ERR_MSG_MAX];
  int64_t last_commit_unix, last_failure_unix;
  bool maint_owner; /* this node holds the maintenance lock */
  /* maintenance.dropped when days was last checked: any node bumps it
   * when it drops partitions. Writer thread only. */
  long long days_gen;

  /* Read connections, guarded by pool_lock. */
  pthread_mutex_t pool_lock;
  PGconn *pool[EMBER_PG_POOL_IDLE];
  size_t npool;

  /* Maintenance: its own session, which holds the maintenance lock while
   * this node is the one doing maintenance. Guarded by maint_lock. */
  PGconn *mconn;
  pthread_t maint;
  bool maint_running, maint_stop;
  atomic_bool stopping; /* set first by close: a pass ends after its job */
  pthread_mutex_t maint_lock;
  pthread_cond_t maint_wake;
};

/* A new connection to url, in UTC; EMBER_EIO saying why not. */
int ember_pg_connect(const char *url, PGconn **out, ember_err_t *err);
/* Records a failed command's message as EMBER_EIO, saying what was done;
 * clears res. Returns EMBER_EIO. */
int ember_pg_fail(PGconn *c, PGresult *res, ember_err_t *err, const char *what);
/* Runs a command without results. */
int ember_pg_exec(PGconn *c, const char *sql, ember_err_t *err);
/* A connection of the read pool, or back to it (closed if broken). */
int ember_pg_pool_get(ember_pg_t *s, PGconn **out, ember_err_t *err);
void ember_pg_pool_put(ember_pg_t *s, PGconn *c);

/* Saturating sum of a numeric column's text (a SQL sum), as a uint64. */
uint64_t ember_pg_u64(const char *text);

/* ---- Rollups (pg_rollup.c) ---- */

/* Where a read takes its rows from: rollups of (series rs, level rl,
 * periods in [ra, rb)), and samples of (series ss, buckets in [sa, sb)),
 * each a bigint[] literal of nr or ns items. */
typedef struct {
  ember_buf_t rs, rl, ra, rb, ss, sa, sb;
  size_t nr, ns;
  int64_t last_sid, last_b; /* the samples range being built */
} ember_pg_cover_t;

/* Covers buckets [a, b) of each of ids[0..n) with the coarsest rolled-up
 * periods (of max_level at most) that lie inside, finer ones, then
 * samples, as seen by c's snapshot. Free out with ember_pg_cover_free
 * whatever the outcome. */
int ember_pg_cover(PGconn *c, const int64_t *ids, size_t n, int64_t a, int64_t b,
                   int max_level, ember_pg_cover_t *out, ember_err_t *err);
void ember_pg_cover_free(ember_pg_cover_t *cv);

/* A maintenance pass's rollup work: rebuilds stale periods, then rolls
 * every level up to its settled limit, in bounded transactions under the
 * delete lock. */
int ember_pg_rollup(PGconn *c, int64_t now, const atomic_bool *stop, ember_err_t *err);
/* Retention's part, inside its locked transaction: rollups of periods
 * starting before cutoff go, and reads leave those periods to finer rows. */
int ember_pg_rollup_retention(PGconn *c, int64_t cutoff, ember_err_t *err);

/* Read entries (pg_read.c). */
int ember_pg_reader_open(ember_store_t *st, ember_store_reader_t **out, ember_err_t *err);
void ember_pg_reader_close(ember_store_reader_t *r);
int ember_pg_reader_app(ember_store_reader_t *r, const char *app, ember_app_info_t *out,
                        ember_err_t *err);
int ember_pg_reader_apps(ember_store_reader_t *r, ember_app_info_t **apps, size_t *n,
                         ember_err_t *err);
int ember_pg_reader_sums(ember_store_reader_t *r, const ember_selector_t *sel,
                         int64_t from, int64_t until, ember_store_sums_t *sums, int side,
                         ember_err_t *err);
int ember_pg_reader_tree(ember_store_reader_t *r, const ember_selector_t *sel,
                         int64_t from, int64_t until, ember_tree_t *t, int side,
                         ember_err_t *err);
int ember_pg_reader_timeline(ember_store_reader_t *r, const ember_selector_t *sel,
                             int64_t start, int64_t step, uint64_t *values, size_t n,
                             ember_err_t *err);
int ember_pg_reader_label_keys(ember_store_reader_t *r, const ember_selector_t *sel,
                               ember_strlist_t *out, ember_err_t *err);
int ember_pg_reader_label_values(ember_store_reader_t *r, const ember_selector_t *sel,
                                 const char *key, ember_strlist_t *out, ember_err_t *err);

#endif
