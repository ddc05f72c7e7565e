/*
 * store.h - durable storage of profiles: the only interface that knows data
 * lives somewhere. Two backends implement it: SQLite (src/store/), the
 * embedded default, one process on one data directory; and PostgreSQL
 * (src/store/pg/), many stateless nodes against one database. The caller
 * picks one by ember_store_config_t.location and never learns which runs:
 * every function below dispatches through the backend's function table
 * (ember_store_ops_t, at the end of this file).
 *
 * Write path: ember_store_submit queues parsed profiles for the single
 * writer thread, which commits everything waiting in one transaction and
 * then calls each request's done callback. A done(rc == 0) means the data is
 * durable: it survives kill -9 of the process.
 *
 * Read path: any thread may call the read functions concurrently; they never
 * wait for the writer. A read session (ember_store_reader_open) makes
 * several reads see one snapshot, as one request needs. Reads give up with
 * EMBER_ETIMEOUT once the calling thread's deadline (common.h) has passed.
 */
#ifndef EMBER_STORE_H
#define EMBER_STORE_H

#include "ember/common.h"
#include "ember/profile.h"

typedef struct ember_store ember_store_t;

typedef struct {
  /* Where the data lives: a postgres:// or postgresql:// URL (libpq's
   * connection URI) picks PostgreSQL; anything else is a data directory
   * for SQLite. NULL or "" means data_dir. */
  const char *location;
  const char *data_dir;      /* SQLite: created if missing */
  int64_t retention_seconds; /* 0 keeps data forever */
  size_t queue_max;          /* requests waiting for the writer; 0 = default */
  /* Limits; 0 means the default named in brackets. A write over one fails
   * with EMBER_ELIMIT and stores nothing. */
  size_t max_new_stacks;     /* distinct stacks one push may add [250000] */
  size_t max_series_per_app; /* [10000] */
  size_t max_apps;           /* [10000] */
  size_t dict_cache;         /* bytes of stack dictionaries kept in memory
                                [256 MiB]; least recently used apps' are
                                dropped beyond it and reloaded when needed */
  uint64_t min_free_disk;    /* bytes free below which the store reports
                                itself not ready [64 MiB] */
} ember_store_config_t;

/* Opens (creating or migrating) the store at cfg->location (or in
 * cfg->data_dir) and starts its writer and maintenance threads. *out is written only on success; the
 * caller closes it with ember_store_close. */
int ember_store_open(const ember_store_config_t *cfg, ember_store_t **out,
                     ember_err_t *err);

/* Stops accepting writes (submit then returns EMBER_ESHUTDOWN), commits
 * everything already queued, answers every pending done callback, joins the
 * threads and closes the database. NULL is accepted. */
void ember_store_close(ember_store_t *s);

/* ---- Writes ------------------------------------------------------------ */

/* Called exactly once per accepted submit, from the writer thread: rc 0
 * once the data is committed, else the failure (err holds the message,
 * borrowed for the duration of the call). */
typedef void (*ember_store_done_fn)(void *ctx, int rc, const ember_err_t *err);

/* Queues r for the writer. On success the store takes over r's profiles (r
 * is left empty, still to be freed by the caller) and will call done once.
 * Returns EMBER_EBUSY when the queue is full and EMBER_ESHUTDOWN while
 * closing; then nothing was taken and done is never called. */
int ember_store_submit(ember_store_t *s, ember_ingest_result_t *r,
                       ember_store_done_fn done, void *ctx, ember_err_t *err);

/* Submits and waits for the commit; same ownership as ember_store_submit. */
int ember_store_write(ember_store_t *s, ember_ingest_result_t *r,
                      ember_err_t *err);

/* Removes an app and all its data (waits for the commit). EMBER_ENOTFOUND
 * when there is no such app. */
int ember_store_delete_app(ember_store_t *s, const char *app, ember_err_t *err);

/* ---- Reads ------------------------------------------------------------- */

typedef struct {
  char *name;
  char *spy_name;
  uint32_t sample_rate;
  char *units;
  ember_aggregation_t aggregation;
} ember_app_info_t;

void ember_app_info_free(ember_app_info_t *a);

typedef struct {
  char **items;
  size_t n;
} ember_strlist_t;

void ember_strlist_free(ember_strlist_t *l);

/* Every app, sorted by name. *apps (caller frees each with
 * ember_app_info_free, then the array) written only on success. */
int ember_store_apps(ember_store_t *s, ember_app_info_t **apps, size_t *n,
                     ember_err_t *err);

/* One app's metadata; EMBER_ENOTFOUND when unknown. */
int ember_store_app(ember_store_t *s, const char *app, ember_app_info_t *out,
                    ember_err_t *err);

/* Adds every sample of the series matching sel in the 10 s buckets from
 * the one holding `from` to the one holding `until`, both included (so a
 * push is visible to a query until the very second it landed in; nothing
 * when until < from), to side `side` of t. For apps with average
 * aggregation the values are divided by the number of profiles merged.
 * An unknown app adds nothing and returns EMBER_ENOTFOUND. */
int ember_store_read_tree(ember_store_t *s, const ember_selector_t *sel,
                          int64_t from, int64_t until, ember_tree_t *t, int side,
                          ember_err_t *err);

/* Sums of sample values per time step: values[i] gets the total of the
 * buckets starting in [start + i*step, start + (i+1)*step). values has n
 * entries and is zeroed first. step is a multiple of 10. */
int ember_store_timeline(ember_store_t *s, const ember_selector_t *sel,
                         int64_t start, int64_t step, uint64_t *values, size_t n,
                         ember_err_t *err);

/* Label keys of the series matching sel, sorted, without __name__. */
int ember_store_label_keys(ember_store_t *s, const ember_selector_t *sel,
                           ember_strlist_t *out, ember_err_t *err);

/* Distinct values of key over the series matching sel, sorted. */
int ember_store_label_values(ember_store_t *s, const ember_selector_t *sel,
                             const char *key, ember_strlist_t *out,
                             ember_err_t *err);

/* ---- Read sessions ------------------------------------------------------ */

/* A read session: every read through it sees the same snapshot of the
 * store, whatever is written meanwhile, so the parts of one answer (a
 * graph, its timeline, its metadata) always agree. It never waits for
 * writers, nor they for it. One thread uses it at a time; keep it for one
 * request (it holds a snapshot the store cannot reclaim space behind).
 * The reads take the same arguments and give the same answers as the
 * one-shot functions above, which each open a session for one read. */
typedef struct ember_store_reader ember_store_reader_t;

/* *out (closed by the caller with ember_store_reader_close) is written
 * only on success. */
int ember_store_reader_open(ember_store_t *s, ember_store_reader_t **out,
                            ember_err_t *err);
void ember_store_reader_close(ember_store_reader_t *r); /* NULL is accepted */

int ember_store_reader_app(ember_store_reader_t *r, const char *app,
                           ember_app_info_t *out, ember_err_t *err);
int ember_store_reader_apps(ember_store_reader_t *r, ember_app_info_t **apps, size_t *n,
                            ember_err_t *err);
int ember_store_reader_tree(ember_store_reader_t *r, const ember_selector_t *sel,
                            int64_t from, int64_t until, ember_tree_t *t, int side,
                            ember_err_t *err);
int ember_store_reader_timeline(ember_store_reader_t *r, const ember_selector_t *sel,
                                int64_t start, int64_t step, uint64_t *values, size_t n,
                                ember_err_t *err);
int ember_store_reader_label_keys(ember_store_reader_t *r, const ember_selector_t *sel,
                                  ember_strlist_t *out, ember_err_t *err);
int ember_store_reader_label_values(ember_store_reader_t *r, const ember_selector_t *sel,
                                    const char *key, ember_strlist_t *out,
                                    ember_err_t *err);

/* ---- Sums: a flame graph without the whole tree ------------------------- */

/* What tree reads add up, kept by stack id until a tree is asked for. A
 * flame graph shows at most max_nodes nodes; choosing them among the
 * stacks, before any tree exists, costs a fraction of building the tree of
 * every stack read (often a hundred thousand nodes) and cutting it down.
 * The tree given is exactly the one ember_store_reader_tree (side after
 * side) and ember_tree_truncate would give. Holds no snapshot: it may
 * outlive the read session. One thread uses it at a time. */
typedef struct ember_store_sums ember_store_sums_t;

ember_store_sums_t *ember_store_sums_new(void);
void ember_store_sums_free(ember_store_sums_t *sums); /* NULL is accepted */

/* As ember_store_reader_tree, into side `side` of sums (each side is read
 * once). */
int ember_store_reader_sums(ember_store_reader_t *r, const ember_selector_t *sel,
                            int64_t from, int64_t until, ember_store_sums_t *sums,
                            int side, ember_err_t *err);

/* The function sums of a whole tree: what ember_tree_functions gives on
 * both sides, their name ids in names, a tree that holds only the names.
 * The caller frees items and names. */
typedef struct {
  ember_function_t *items;
  size_t n;
  ember_tree_t *names;
} ember_store_functions_t;

/* The tree of the sums, cut to max_nodes nodes (plus the "other" nodes)
 * as ember_tree_truncate cuts, or whole when it has no more than max_nodes
 * nodes or max_nodes < 0; and, when fns is not NULL, the function sums of
 * the whole tree. *out (caller frees) and *fns are written only on
 * success; EMBER_ETIMEOUT past the calling thread's deadline. */
int ember_store_sums_tree(ember_store_sums_t *sums, long max_nodes, ember_tree_t **out,
                          ember_store_functions_t *fns, ember_err_t *err);

/* ---- Maintenance ------------------------------------------------------ */

/* Runs one maintenance pass as of time now (unix seconds): retention, then
 * compaction and rollups, as the store's own maintenance thread does every
 * minute. Where several nodes share the data, a pass runs on one node at a
 * time: another node's call returns 0 at once having done nothing, and
 * *ran (may be NULL) tells which happened. Reads give the same answers
 * before and after a pass, except for what retention removed. */
int ember_store_maintain(ember_store_t *s, int64_t now, bool *ran, ember_err_t *err);

/* Where the data lives, for messages: the data directory, or the database
 * URL without its password. Borrowed from s. */
const char *ember_store_where(ember_store_t *s);

/* ---- Introspection (for /metrics) -------------------------------------- */

typedef struct {
  uint64_t db_bytes;        /* database plus WAL on disk */
  uint64_t queue_depth;     /* requests waiting for the writer */
  uint64_t queue_max;
  uint64_t commits;         /* transactions committed since open */
  uint64_t rows_written;    /* segment rows */
  uint64_t rows_deleted;    /* by retention or app deletion */
  uint64_t last_commit_ns;  /* duration of the last commit */
  uint64_t dict_bytes;      /* memory of the cached stack dictionaries */
  uint64_t dict_evictions;  /* dictionaries dropped to stay within dict_cache */
  uint64_t maintenance_owner; /* 1 when this process does the maintenance (always,
                                 for one process on a data directory) */
} ember_store_stats_t;

void ember_store_stats(ember_store_t *s, ember_store_stats_t *out);

/* ---- Health (for readiness checks) ------------------------------------- */

/* Whether writes can be expected to succeed, and why not. Liveness is not
 * this: a store that is not ready still answers reads. */
typedef struct {
  bool ready;                     /* the last write succeeded and disk space is enough */
  char reason[EMBER_ERR_MSG_MAX]; /* why not ready ("" when ready) */
  bool last_write_failed;
  char last_write_error[EMBER_ERR_MSG_MAX]; /* its message */
  int64_t last_commit_unix;                 /* wall clock of the last commit that stored
                                               something; 0 = none since open */
  int64_t last_failure_unix;                /* of the last failed write; 0 = none */
  uint64_t disk_free_bytes;                 /* what may still be written where the data
                                               lives; UINT64_MAX when the backend cannot
                                               tell */
  uint64_t min_free_bytes;                  /* below this the store is not ready */
} ember_store_health_t;

/* Fills *out (never fails; cheap enough for every health check). A store
 * whose last write failed keeps probing the disk, so it becomes ready again
 * by itself once writes succeed. */
void ember_store_health(ember_store_t *s, ember_store_health_t *out);

/* ---- Backup and restore ------------------------------------------------- */

/* Called after each step of a copy with the bytes copied so far and the
 * size of the copy. Returning false stops the copy, which then fails with
 * EMBER_ESHUTDOWN and leaves nothing behind. */
typedef bool (*ember_store_progress_fn)(void *ctx, uint64_t done, uint64_t total);

typedef struct {
  ember_store_progress_fn progress; /* NULL: none */
  void *ctx;                        /* passed to progress */
  uint64_t max_rate; /* bytes per second to read at most; 0: as fast as the
                        disks go */
} ember_store_copy_opts_t;

/* What a copy copied. */
typedef struct {
  uint64_t bytes;     /* size of the copy */
  int schema_version; /* of the database copied */
  uint64_t apps;      /* apps in it */
} ember_store_copy_info_t;

/* Copies the database of data_dir, which a server may be running on and
 * writing to, into the file dest: one consistent snapshot (what was
 * committed when the copy started), complete in itself, so that it is a
 * whole database on its own. The copy never takes the directory's lock and
 * never writes the data directory, and a server's writer never waits for
 * it (the server's WAL grows by what is written during the copy and is
 * reclaimed after). dest is replaced whole or not at all: the copy goes to
 * a temporary file beside it, is flushed to disk and renamed. opts may be
 * NULL; *out (may be NULL) is written only on success. EMBER_ENOTFOUND
 * when data_dir holds no database; EMBER_EINVAL when dest would be one of
 * its files. */
int ember_store_backup(const char *data_dir, const char *dest,
                       const ember_store_copy_opts_t *opts,
                       ember_store_copy_info_t *out, ember_err_t *err);

/* Makes the database file src (a backup) the database of data_dir,
 * creating the directory when missing: copies it in beside the old files
 * and renames it into place, after removing the old database's WAL and
 * shared-memory files. Holds the directory's lock throughout, so it fails
 * with EMBER_EBUSY while a server runs on data_dir and no server can start
 * on it halfway. Refuses (EMBER_EINVAL) a src that is not an Ember
 * database of a schema this build opens or that is damaged (it is read
 * whole and checked first), and (EMBER_EINVAL) a data_dir
 * that holds a database already unless replace. When run as root, the new
 * file belongs to the directory's owner, who runs the server. opts and out
 * as for ember_store_backup. */
int ember_store_restore(const char *data_dir, const char *src, bool replace,
                        const ember_store_copy_opts_t *opts,
                        ember_store_copy_info_t *out, ember_err_t *err);

/* ---- Backends ---------------------------------------------------------- */

/* A backend's function table: what the functions above do once dispatched.
 * Every backend's store object begins with a pointer to its table, and so
 * does every read session it opens; the functions of this header read it
 * there. Callers never use the table: it is here so that a backend is
 * written against one visible contract. Each entry has the contract of the
 * function of the same name above, arguments already checked not NULL
 * where that function requires it. */
typedef struct ember_store_ops {
  const char *name; /* "sqlite", "postgresql" */
  int (*open)(const ember_store_config_t *cfg, ember_store_t **out, ember_err_t *err);
  void (*close)(ember_store_t *s);
  int (*submit)(ember_store_t *s, ember_ingest_result_t *r, ember_store_done_fn done,
                void *ctx, ember_err_t *err);
  int (*delete_app)(ember_store_t *s, const char *app, ember_err_t *err);
  int (*maintain)(ember_store_t *s, int64_t now, bool *ran, ember_err_t *err);
  const char *(*where)(ember_store_t *s);
  void (*stats)(ember_store_t *s, ember_store_stats_t *out);
  void (*health)(ember_store_t *s, ember_store_health_t *out);
  int (*reader_open)(ember_store_t *s, ember_store_reader_t **out, ember_err_t *err);
  void (*reader_close)(ember_store_reader_t *r);
  int (*reader_app)(ember_store_reader_t *r, const char *app, ember_app_info_t *out,
                    ember_err_t *err);
  int (*reader_apps)(ember_store_reader_t *r, ember_app_info_t **apps, size_t *n,
                     ember_err_t *err);
  int (*reader_tree)(ember_store_reader_t *r, const ember_selector_t *sel, int64_t from,
                     int64_t until, ember_tree_t *t, int side, ember_err_t *err);
  int (*reader_sums)(ember_store_reader_t *r, const ember_selector_t *sel, int64_t from,
                     int64_t until, ember_store_sums_t *sums, int side, ember_err_t *err);
  int (*reader_timeline)(ember_store_reader_t *r, const ember_selector_t *sel,
                         int64_t start, int64_t step, uint64_t *values, size_t n,
                         ember_err_t *err);
  int (*reader_label_keys)(ember_store_reader_t *r, const ember_selector_t *sel,
                           ember_strlist_t *out, ember_err_t *err);
  int (*reader_label_values)(ember_store_reader_t *r, const ember_selector_t *sel,
                             const char *key, ember_strlist_t *out, ember_err_t *err);
} ember_store_ops_t;

/* The backends this build has; ember_store_pg_ops is NULL when it was
 * built without libpq. */
extern const ember_store_ops_t ember_store_sqlite_ops;
extern const ember_store_ops_t *const ember_store_pg_ops;

#endif
