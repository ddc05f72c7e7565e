/*
 * store_int.h - what the files of src/store/ share and nothing outside
 * needs: the store object, connections and their statement caches, the
 * schema, the per-app dictionary, the writer's jobs and the read planner.
 *
 *   conn.c      connections, statement cache, SQLite errors, reader pool
 *   schema.c    data directory, tables, migrations
 *   segment.c   blob codec (own header, segment.h)
 *   dict.c      per-app frame and stack dictionary
 *   linecache.c per app, whole stack lines to stack ids
 *   apply.c     what a write does inside the transaction; time placement
 *   writer.c    queue, writer thread, group commit
 *   cover.c     row planning: the rows covering a range, span shares
 *   read.c      read sessions, series selection, reads
 *   compact.c   merging rows and building rollups
 *   retention.c maintenance thread and retention
 *   store.c     open, close, stats, health
 *   values.c    level widths, value types
 */
#ifndef EMBER_STORE_INT_H
#define EMBER_STORE_INT_H

#include <pthread.h>
#include <sqlite3.h>

#include "ember/series.h"
#include "ember/store.h"
#include "store/segment.h"

/* ---- Time levels ------------------------------------------------------- */

/* Level 0 rows hold one 10 s bucket; level L > 0 rows (rollups) hold the
 * sum of everything below them in one aligned period of width[L] seconds.
 * Widths are powers of ten so that the timeline's steps (10, 100, 1000 ...)
 * line up with whole rollup rows. */
#define EMBER_STORE_LEVELS 4
#define EMBER_STORE_BUCKET 10
extern const int64_t ember_store_width[EMBER_STORE_LEVELS];

/* Appends a copy of s to l (*cap its capacity). */
void ember_strlist_add(ember_strlist_t *l, size_t *cap, const char *s);
/* Appends the label keys of the n series keys (key NULL; never the name
 * label) or the values of label key, then sorts l and keeps each once: the
 * answer of a label read over a selection. */
void ember_strlist_of_series(ember_strlist_t *l, size_t *cap, const ember_series_key_t *keys,
                             size_t n, const char *key);

/* A profile spanning more than this is stored whole in its first bucket. */
#define EMBER_STORE_SPLIT_MAX 3600
/* The most buckets a split profile covers, so a span row (below) reaches at
 * most EMBER_STORE_SPLIT_MAX seconds past its first bucket's start. */
#define EMBER_STORE_SPAN_BUCKETS (EMBER_STORE_SPLIT_MAX / EMBER_STORE_BUCKET + 1)
#define EMBER_STORE_QUEUE_DEFAULT 1024
/* Defaults of the limits in ember_store_config_t. */
#define EMBER_STORE_MAX_NEW_STACKS 250000
#define EMBER_STORE_MAX_SERIES_PER_APP 10000
#define EMBER_STORE_MAX_APPS 10000
#define EMBER_STORE_DICT_CACHE ((size_t)256 << 20)
#define EMBER_STORE_MIN_FREE_DISK ((uint64_t)64 << 20)
/* Seconds between probes of a store whose last write failed. */
#define EMBER_STORE_PROBE_PERIOD 5
/* Requests per transaction: bounds commit latency and memory. */
#define EMBER_STORE_BATCH_MAX 256
#define EMBER_STORE_MAINT_PERIOD 60
/* A rollup period is built once its end is this far in the past, so pushes
 * that arrive a little late still land before it is summed. */
#define EMBER_STORE_SETTLE 60

/* Times beyond +-2^62 s are refused (writes) or clamped (reads), so that
 * aligning them to any width cannot overflow. */
#define EMBER_STORE_TIME_MAX ((int64_t)1 << 62)

/* Floor of t to a multiple of w (w > 0), correct for negative t. */
static inline int64_t ember_store_floor(int64_t t, int64_t w) {
  int64_t q = t / w;
  if (t % w != 0 && t < 0) q--;
  return q * w;
}

/* ---- Connections (conn.c) ---------------------------------------------- */

typedef struct ember_conn ember_conn_t;

struct ember_conn {
  sqlite3 *db;
  struct {
    const char *sql; /* the key is the address of a static string */
    sqlite3_stmt *stmt;
  } *cache;
  size_t ncache, cache_cap;
  ember_seg_codec_t *codec;
  ember_conn_t *next; /* reader pool free list */
};

/* Opens path read-write (creating it) or read-only and applies the
 * per-connection PRAGMAs. */
int ember_conn_open(const char *path, bool writer, ember_conn_t **out,
                    ember_err_t *err);
void ember_conn_close(ember_conn_t *c); /* NULL is accepted */

/* The prepared statement for sql, which must be a string with static
 * storage: its address is the cache key. Reset and unbound on return;
 * borrowed (reset it after use, never finalize). */
int ember_conn_prepare(ember_conn_t *c, const char *sql,
                       sqlite3_stmt **out /* OUT */, ember_err_t *err);
/* Runs SQL without results (one or more statements). */
int ember_conn_exec(ember_conn_t *c, const char *sql, ember_err_t *err);
/* Records the connection's last SQLite error as EMBER_EIO, saying what was
 * being done. Returns EMBER_EIO. */
int ember_conn_fail(ember_conn_t *c, ember_err_t *err, const char *what);

/* Column helpers: sample values are unsigned 64-bit, SQLite integers are
 * signed, so values travel as their two's complement bit pattern. */
static inline int64_t ember_u2i(uint64_t v) { return (int64_t)v; }
static inline uint64_t ember_i2u(int64_t v) { return (uint64_t)v; }

/* ---- Schema (schema.c) ------------------------------------------------- */

#define EMBER_SCHEMA_VERSION 4
#define EMBER_STORE_DB_NAME "ember.db"
#define EMBER_STORE_LOCK_NAME "ember.lock"

/* Creates dir and its parents and checks it is writable. */
int ember_schema_prepare_dir(const char *dir, ember_err_t *err);
/* Makes this process the only user of dir: an exclusive lock on its lock
 * file, which records our pid. *fd (OUT) holds the lock until closed.
 * EMBER_EBUSY, naming the other process, when another process holds it. */
int ember_schema_lock_dir(const char *dir, int *fd, ember_err_t *err);
/* Checks that the database files in dir that exist can be written: a
 * read-only database must fail at open, not on the first push. */
int ember_schema_check_files(const char *dir, ember_err_t *err);
/* Brings the database to EMBER_SCHEMA_VERSION (creating it when new). */
int ember_schema_migrate(ember_conn_t *c, ember_err_t *err);

/* ---- Dictionary (dict.c) ----------------------------------------------- */

/* One app's frames (name <-> id) and stacks ((parent stack, frame) <-> id).
 * Stack 0 is the empty stack (the tree's root) and has no row. */
typedef struct ember_dict ember_dict_t;
/* Every app's dictionary, keyed by app id, with their memory bounded. */
typedef struct ember_dicts ember_dicts_t;

/* A registry keeping dictionaries of at most max_bytes in memory (0: no
 * bound): beyond it, the least recently used ones nobody holds are dropped
 * (as ember_dicts_drop does) and reloaded when next needed; the most
 * recently used one only by ember_dicts_trim, once unused for a trim
 * period. */
ember_dicts_t *ember_dicts_new(size_t max_bytes);
void ember_dicts_free(ember_dicts_t *r); /* NULL is accepted */
/* The dictionary of app_id (created empty if absent), referenced: give it
 * back with ember_dicts_put. O(1). */
ember_dict_t *ember_dicts_get(ember_dicts_t *r, int64_t app_id);
void ember_dicts_put(ember_dicts_t *r, ember_dict_t *d);
/* Forgets every cached dictionary (after a rollback: it may hold ids that
 * no longer exist) or one app's (after the app was deleted). Holders of a
 * reference keep a valid, detached object. */
void ember_dicts_drop_all(ember_dicts_t *r);
void ember_dicts_drop(ember_dicts_t *r, int64_t app_id);
/* Drops what is over the bound and was not used since the last trim,
 * the most recently used dictionary included (maintenance, periodically). */
void ember_dicts_trim(ember_dicts_t *r);
/* A counter the writer's mapping bumps whenever it adds entries to a
 * cache: if it did not move during a job, a rollback of that job left no
 * ids behind and the caches may stay. */
uint64_t ember_dicts_changes(ember_dicts_t *r);
/* Bytes held by dictionaries (including detached ones still in use), how
 * many are cached, and how many were dropped for the bound. */
void ember_dicts_stats(ember_dicts_t *r, size_t *bytes, size_t *count,
                       uint64_t *evictions);

/* Writer side. Maps every node of t to a stack id, adding frames and stacks
 * (rows included) as needed; stack_of must hold ember_tree_count(t) ids.
 * Adds at most max_new stacks: when t needs more, nothing is added and
 * EMBER_ELIMIT is returned. *added (may be NULL) gets how many were added.
 * Must run inside the writer's transaction. */
int ember_dict_map_tree(ember_dict_t *d, ember_conn_t *c, const ember_tree_t *t,
                        size_t max_new, uint32_t *stack_of /* OUT */,
                        size_t *added /* OUT */, ember_err_t *err);

/* Reader side. Makes sure stack ids below need are known, loading what the
 * reader's snapshot holds beyond the cache; EMBER_EIO when they do not
 * exist. */
int ember_dict_ensure(ember_dict_t *d, ember_conn_t *c, uint32_t need,
                      ember_err_t *err);
/* Adds values[id] (for every id < n with a non-zero value; n must not pass
 * what ember_dict_ensure made known) to side of t at the stack's path. */
void ember_dict_build_tree(ember_dict_t *d, const uint64_t *values, size_t n,
                           ember_tree_t *t, int side);
/* Known stack count (ids 0 .. n-1), for sizing arrays. */
uint32_t ember_dict_nstacks(ember_dict_t *d);

/* The nodes the tree of some sums would have, without building it: node i
 * is stack[i] (node 0 the root), its parent node parent[i] (smaller than
 * i), numbered exactly as ember_dict_build_tree called side after side
 * would create them: for each side in turn, the stacks with a value in
 * increasing id order, each after its ancestors. values[s] has n[s]
 * entries, which ember_dict_ensure made known. Caller frees with
 * ember_dict_closure_free. */
typedef struct {
  size_t n;
  uint32_t *stack;
  uint32_t *parent;
  uint32_t *frame; /* the frame of stack[i] (the root's: 0, unused) */
} ember_dict_closure_t;

void ember_dict_closure(ember_dict_t *d, const uint64_t *const *values, const size_t *n,
                        int nsides, ember_dict_closure_t *out /* OUT */);
void ember_dict_closure_free(ember_dict_closure_t *c);
/* names[i] = the name id in t of the frame of stacks[i] (interned), or the
 * root's name for stack 0. With distinct, the caller knows the stacks have
 * distinct frames that t does not hold: the names are appended without
 * looking (ember_tree_name_append). */
void ember_dict_intern_frames(ember_dict_t *d, const uint32_t *stacks, size_t n,
                              bool distinct, ember_tree_t *t, uint32_t *names);

/* ---- Line cache (linecache.c) ------------------------------------------ */

/* Whole stack lines (text stacks, profile.h) to stack ids, for one app's
 * dictionary, which owns it; writer thread only. See linecache.c for how
 * it is bounded. */
typedef struct ember_linecache ember_linecache_t;

#define EMBER_LINECACHE_NONE UINT32_MAX
/* What an app's line cache may hold: an eighth of the dictionaries' bound
 * (--dict-cache), in whose count it is included, or this when unbounded. */
#define EMBER_STORE_LINE_CACHE_SHARE 8
#define EMBER_STORE_LINE_CACHE_MAX ((size_t)32 << 20)

typedef struct {
  uint64_t hits, misses; /* lookups */
  uint64_t turns;        /* times the older generation was dropped */
  size_t entries, bytes;
} ember_linecache_stats_t;

/* A cache of at most max_bytes; free with ember_linecache_free (NULL is
 * accepted). */
ember_linecache_t *ember_linecache_new(size_t max_bytes);
void ember_linecache_free(ember_linecache_t *lc);
/* Empties the cache unless its texts were resolved with this depth limit. */
void ember_linecache_depth(ember_linecache_t *lc, uint32_t max_depth);
/* The stack id of text (hash = ember_hash_bytes of it), or
 * EMBER_LINECACHE_NONE. May copy the entry into the newer generation. */
uint32_t ember_linecache_get(ember_linecache_t *lc, uint64_t hash, const char *text,
                             uint32_t len);
/* Records text -> stack (text is copied). Over the bound, the older half of
 * the cache goes. */
void ember_linecache_put(ember_linecache_t *lc, uint64_t hash, const char *text,
                         uint32_t len, uint32_t stack);
size_t ember_linecache_bytes(const ember_linecache_t *lc); /* NULL gives 0 */
void ember_linecache_stats(const ember_linecache_t *lc, ember_linecache_stats_t *out);

/* Writer side, the text twin of ember_dict_map_tree: pairs[i] gets the
 * stack id and value of s->items[i] (ids may repeat: different texts, as
 * "a;b" and "a;;b", can name one stack). Lines the cache knows cost one
 * lookup; the others are built into trees (ember_text_tree_build, their
 * memory taken from s->budget), 16 KiB of text at a time so that none is
 * big, and mapped with ember_dict_map_tree, with its limit max_new over
 * them all and its errors, then cached. *added (may be NULL) gets how many
 * stacks were added. Must run inside the writer's transaction. */
int ember_dict_map_text(ember_dict_t *d, ember_conn_t *c, const ember_text_stacks_t *s,
                        size_t max_new, ember_seg_pair_t *pairs /* OUT */,
                        size_t *added /* OUT */, ember_err_t *err);

/* d's line cache, made on first use (writer thread only), and the count of
 * its bytes in the registry's, brought up to date after changing it. */
ember_linecache_t *ember_dict_linecache(ember_dict_t *d);
void ember_dict_linecache_account(ember_dict_t *d);

/* ---- Jobs and the writer (writer.c, apply.c) ---------------------------- */

typedef struct ember_job ember_job_t;
typedef struct ember_store_job_counts {
  uint64_t rows_written;
  uint64_t rows_deleted;
} ember_job_counts_t;

/* What a job does, run by the writer thread inside the batch transaction,
 * in the job's own SAVEPOINT: on error everything it did is rolled back
 * and only this job fails. */
typedef int (*ember_job_fn)(ember_store_t *s, ember_job_t *j, ember_err_t *err);

typedef enum {
  EMBER_JOB_QUEUED,    /* on the queue, owned by the queue */
  EMBER_JOB_BATCHED,   /* taken by the writer, running or ran in the txn */
  EMBER_JOB_DONE,      /* transaction ended; rc is final */
  EMBER_JOB_ANSWERED,  /* done callback called; the writer lets go */
} ember_job_state_t;

struct ember_job {
  ember_job_t *next;
  ember_job_state_t state;
  ember_job_fn run;
  bool internal;     /* not counted against queue_max */
  bool caller_owned; /* the waiter frees it, not the writer */
  ember_profile_t *profiles; /* write jobs: owned */
  size_t nprofiles;
  char *app;         /* delete jobs: owned */
  int64_t arg[5];    /* maintenance jobs: parameters */
  const int64_t *ids; /* maintenance jobs: borrowed list of ids */
  size_t nids;
  int64_t out;       /* maintenance jobs: result (e.g. rows touched) */
  ember_job_counts_t counts;
  ember_store_done_fn done;
  void *ctx;
  int rc;
  ember_err_t err;
};

/* Queues j (state QUEUED). On success the queue owns j until it is
 * answered; EMBER_EBUSY (external jobs only) or EMBER_ESHUTDOWN otherwise. */
int ember_writer_post(ember_store_t *s, ember_job_t *j, ember_err_t *err);
/* Posts a caller-owned internal job and waits until it is answered;
 * returns its rc. */
int ember_writer_call(ember_store_t *s, ember_job_t *j, ember_err_t *err);
/* Starts the writer thread; ember_writer_stop drains and joins it. */
int ember_writer_start(ember_store_t *s, ember_err_t *err);
void ember_writer_stop(ember_store_t *s);

/* Job functions (apply.c). */
int ember_apply_write(ember_store_t *s, ember_job_t *j, ember_err_t *err);
/* Deleting an app, in bounded steps (apply.c): a job that hides the app
 * named j->app from every reader and frees its name (j->out = its id), then
 * purging its rows in chunks, each its own job (waits for all of them).
 * ember_apply_purge_hidden finishes every hidden app (after a restart). */
int ember_apply_hide_app(ember_store_t *s, ember_job_t *j, ember_err_t *err);
int ember_apply_purge_app(ember_store_t *s, int64_t app_id, ember_err_t *err);
int ember_apply_purge_hidden(ember_store_t *s, ember_err_t *err);

/* Time placement (apply.c): how a profile over [from, until] is spread
 * over 10 s buckets. n buckets from first; a value v goes to bucket i as
 * ember_place_share(p, i, v). */
typedef struct {
  int64_t first;  /* start of the first bucket */
  size_t n;       /* number of buckets, >= 1 */
  bool replicate; /* every bucket gets the whole value (average apps) */
  uint64_t span;  /* until - from, seconds, when split */
  uint32_t cum[EMBER_STORE_SPLIT_MAX / EMBER_STORE_BUCKET + 2];
} ember_place_t;

int ember_place_plan(int64_t from, int64_t until, ember_aggregation_t agg,
                     ember_place_t *p /* OUT */, ember_err_t *err);
uint64_t ember_place_share(const ember_place_t *p, size_t i, uint64_t v);
/* The sum of ember_place_share(p, i, v) over buckets lo <= i < hi <= p->n,
 * in O(1) (saturating when replicated). */
uint64_t ember_place_share_range(const ember_place_t *p, size_t lo, size_t hi,
                                 uint64_t v);

/* ---- Reading rows (cover.c) -------------------------------------------- */

/* Span rows. A profile placed in several buckets is stored once, as a span
 * row: level 0, seq < 0 (span rows of one key count down from -1), keyed by
 * its LAST bucket's start (so retention, which deletes by start, drops it
 * only once all of it has expired), with span_start the first bucket's
 * start and a version 2 blob (segment.h) saying how it is apportioned. A
 * read takes, per stack, exactly what the buckets it covers would have held
 * had the profile been written as one row per bucket (ember_place_share). */

/* Bucket indexes [lo, hi) of a span row that a read takes. */
typedef struct {
  uint32_t lo, hi;
} ember_span_range_t;

/* One row handed to an ember_row_fn; everything is borrowed for the call. */
typedef struct {
  bool app;  /* an app rollup (app_segments): the sum of every series */
  int level;
  int64_t start, seq; /* the key (a span row's start is its last bucket's) */
  uint64_t total;     /* the whole row's */
  int64_t profiles;
  const void *blob; /* NULL unless the read wants it (span rows: see want) */
  size_t len;
  /* Span rows only (seq < 0): */
  int64_t span_start;               /* the first bucket's start */
  const ember_span_range_t *ranges; /* the buckets taken, at least one */
  size_t nranges;
  /* App rollups only: the totals of the period's ten sub-periods (of the
   * level below), as uvarints. */
  const void *parts;
  size_t parts_len;
} ember_row_t;

typedef int (*ember_row_fn)(void *ctx, const ember_row_t *row, ember_err_t *err);

typedef enum {
  EMBER_READ_KEYS,   /* no blobs: keys, totals and profile counts */
  EMBER_READ_TOTALS, /* blobs of span rows only (their per-bucket totals) */
  EMBER_READ_DATA,   /* every blob */
} ember_read_want_t;

/* The rows that exactly cover [from, until) for one series, using the
 * coarsest existing rollups up to max_level, and the parts of span rows
 * that fall in the level 0 stretches between them. Calls fn for each. */
int ember_read_cover(ember_conn_t *c, int64_t series_id, int64_t from, int64_t until,
                     int max_level, ember_read_want_t want, ember_row_fn fn, void *ctx,
                     ember_err_t *err);

/* A rollup period: level (1 .. EMBER_STORE_LEVELS - 1) and start. */
typedef struct {
  int level;
  int64_t start;
} ember_period_t;

/* As ember_read_cover, leaving out the periods done (sorted, disjoint,
 * inside [from, until)): what the app rollups of a whole-app read did not
 * cover, for one series. */
int ember_read_cover_gaps(ember_conn_t *c, int64_t series_id, int64_t from,
                          int64_t until, const ember_period_t *done, size_t ndone,
                          int max_level, ember_read_want_t want, ember_row_fn fn,
                          void *ctx, ember_err_t *err);

/* The app rollups of app_id lying wholly inside [from, until), coarsest
 * first, of levels min_level to max_level: calls fn for each (row.app set;
 * blobs only for EMBER_READ_DATA, parts always) and gives the periods they
 * cover in *chosen (sorted; caller frees), for ember_read_cover_gaps. */
int ember_read_app_cover(ember_conn_t *c, int64_t app_id, int64_t from, int64_t until,
                         int min_level, int max_level, ember_read_want_t want,
                         ember_row_fn fn, void *ctx, ember_period_t **chosen /* OUT */,
                         size_t *nchosen /* OUT */, ember_err_t *err);

/* EMBER_ETIMEOUT, with a message saying what to do, once the calling
 * thread's deadline has passed; else 0. */
int ember_read_deadline(ember_err_t *err);

/* Only the level 0 bucket rows (no span rows) of buckets in [from, until),
 * with their blobs: what compaction merges. */
int ember_read_bucket_rows(ember_conn_t *c, int64_t series_id, int64_t from,
                           int64_t until, ember_row_fn fn, void *ctx, ember_err_t *err);

/* What a read takes from a row: its pairs, or a span row's share of the
 * buckets taken (zero shares left out), checked against the row's total.
 * *pairs (sorted) is borrowed until the next call with the same codec or
 * scratch; *total and *profiles are what the part adds to a sum. The error
 * says what is wrong, not where: callers name the row. */
typedef struct {
  ember_seg_pair_t *pairs;
  size_t cap;
} ember_take_t;

int ember_row_take(ember_seg_codec_t *codec, const ember_row_t *row,
                   ember_take_t *scratch, const ember_seg_pair_t **pairs /* OUT */,
                   size_t *n /* OUT */, uint64_t *total /* OUT */,
                   int64_t *profiles /* OUT */, ember_err_t *err);

/* A span row's placement, checked against its key: p is what
 * ember_place_plan gave when it was written, *totals its per-bucket totals
 * (NULL when replicated; borrowed from the codec like
 * ember_seg_span_header's). */
int ember_span_open(ember_seg_codec_t *codec, const ember_row_t *row,
                    ember_place_t *p /* OUT */, const uint64_t **totals /* OUT */,
                    ember_err_t *err);

/* Formats where a row lives, for error messages. */
void ember_row_name(char *buf, size_t n, int64_t series_id, int level,
                    int64_t start, int64_t seq);

/* ---- Sums (cut.c) ------------------------------------------------------ */

/* Hands side `side` of sums the read's dictionary reference (given back to
 * reg when sums is freed) and its values (n of them; consumed). A side read
 * twice keeps the last. */
void ember_sums_set(ember_store_sums_t *sums, int side, ember_dicts_t *reg,
                    ember_dict_t *d, uint64_t *values, size_t n);

/* The whole tree of sums (made empty on the first call; borrowed): where
 * a backend without stack dictionaries in memory (PostgreSQL) reads its
 * sides as a tree. ember_store_sums_tree then cuts that tree with
 * ember_tree_truncate, which gives the same graph. */
ember_tree_t *ember_sums_whole(ember_store_sums_t *sums);

/* ---- Health (store.c) -------------------------------------------------- */

/* Rewrites the probe row in its own transaction: whether the disk takes a
 * write. Called on the writer's connection before the writer thread runs,
 * and as a job afterwards. */
int ember_store_probe_write(ember_conn_t *c, ember_err_t *err);
/* Wakes the maintenance thread so it reconsiders when to probe. */
void ember_maint_poke(ember_store_t *s);
/* Posts a probe job and waits for it (maintenance, while unhealthy). */
int ember_store_probe(ember_store_t *s, ember_err_t *err);
/* True when the last write failed (the maintenance thread probes then). */
bool ember_store_write_failed(ember_store_t *s);

/* ---- Maintenance (retention.c, compact.c) ------------------------------ */

/* One full maintenance pass at time now: retention, then compaction and
 * rollups; every write goes through the writer in bounded jobs. */
int ember_maint_pass(ember_store_t *s, int64_t now, ember_err_t *err);
int ember_maint_start(ember_store_t *s, ember_err_t *err);
void ember_maint_stop(ember_store_t *s);
/* Compacts and rolls up everything ready at now (compact.c). */
int ember_compact_pass(ember_store_t *s, int64_t now, ember_err_t *err);

/* ---- Reader pool (conn.c) ---------------------------------------------- */

int ember_pool_get(ember_store_t *s, ember_conn_t **out /* OUT */,
                   ember_err_t *err);
void ember_pool_put(ember_store_t *s, ember_conn_t *c);
void ember_pool_close(ember_store_t *s);

/* ---- The store --------------------------------------------------------- */

struct ember_store {
  const ember_store_ops_t *ops; /* first: store.h dispatches through it */
  char *dir;
  char *db_path;
  int lock_fd;       /* holds the data directory's lock while open; -1 = none */
  int64_t retention; /* seconds, 0 = forever */
  ember_dicts_t *dicts;
  size_t max_new_stacks, max_series_per_app, max_apps; /* per push, per app, all */
  uint64_t min_free_disk;

  /* Writer: wconn is used only by the writer thread once it runs. */
  ember_conn_t *wconn;
  pthread_t writer;
  bool writer_running;

  /* Queue, guarded by lock. wake tells the writer there is work or that
   * the store closes. */
  pthread_mutex_t lock;
  pthread_cond_t wake;
  ember_job_t *head, *tail;
  size_t depth;    /* every queued job */
  size_t external; /* queued jobs from ember_store_submit */
  size_t queue_max;
  bool closing;
  bool paused; /* test hook: the writer takes nothing while set */

  /* Statistics, guarded by lock. */
  uint64_t commits, rows_written, rows_deleted, last_commit_ns;

  /* Health, guarded by lock: the outcome of the last transaction that
   * wrote something or failed (writer.c), for ember_store_health. */
  bool write_failed;
  char write_error[EMBER_ERR_MSG_MAX];
  int64_t last_commit_unix, last_failure_unix;

  /* Reader pool, guarded by pool_lock. */
  pthread_mutex_t pool_lock;
  ember_conn_t *pool_free;
  size_t pool_idle;

  /* Maintenance thread. */
  pthread_t maint;
  bool maint_running;
  pthread_mutex_t maint_lock;
  pthread_cond_t maint_wake;
  bool maint_stop;
  bool maint_poke; /* a write failed: the sleeping thread must start probing */

  /* Test hooks (ember_store_test_after_tree, _before_compact). */
  void (*after_tree)(void *ctx);
  void *after_tree_ctx;
  void (*before_compact)(void *ctx, int level, bool apps, int64_t lo, int64_t hi);
  void *before_compact_ctx;
};

/* ---- The backend's entries (store.h, ember_store_ops_t) ------------------ */

int ember_sqlite_submit(ember_store_t *s, ember_ingest_result_t *r,
                        ember_store_done_fn done, void *ctx, ember_err_t *err);
int ember_sqlite_delete_app(ember_store_t *s, const char *app, ember_err_t *err);
int ember_sqlite_reader_open(ember_store_t *s, ember_store_reader_t **out,
                             ember_err_t *err);
void ember_sqlite_reader_close(ember_store_reader_t *r);
int ember_sqlite_reader_app(ember_store_reader_t *r, const char *app,
                            ember_app_info_t *out, ember_err_t *err);
int ember_sqlite_reader_apps(ember_store_reader_t *r, ember_app_info_t **apps,
                             size_t *n, ember_err_t *err);
int ember_sqlite_reader_tree(ember_store_reader_t *r, const ember_selector_t *sel,
                             int64_t from, int64_t until, ember_tree_t *t, int side,
                             ember_err_t *err);
int ember_sqlite_reader_sums(ember_store_reader_t *r, const ember_selector_t *sel,
                             int64_t from, int64_t until, ember_store_sums_t *sums,
                             int side, ember_err_t *err);
int ember_sqlite_reader_timeline(ember_store_reader_t *r, const ember_selector_t *sel,
                                 int64_t start, int64_t step, uint64_t *values,
                                 size_t n, ember_err_t *err);
int ember_sqlite_reader_label_keys(ember_store_reader_t *r, const ember_selector_t *sel,
                                   ember_strlist_t *out, ember_err_t *err);
int ember_sqlite_reader_label_values(ember_store_reader_t *r,
                                     const ember_selector_t *sel, const char *key,
                                     ember_strlist_t *out, ember_err_t *err);

/* ---- Test hooks -------------------------------------------------------- */

/* While paused the writer takes no new batch (submits still queue), so a
 * test can fill the queue. ember_store_close unpauses. */
void ember_store_test_pause(ember_store_t *s, bool paused);

/* Called, when set, by the PostgreSQL writer after a batch's rows are
 * written and before its COMMIT (defined in backend.c, so that a build
 * without PostgreSQL links the tests too). */
extern void (*ember_pg_test_before_commit)(void *ctx);
extern void *ember_pg_test_before_commit_ctx;

/* Calls fn(ctx) at the end of every tree read, still inside its read
 * session, so a test can land a write between the parts of one render.
 * NULL fn removes it. Set it only while no read runs. */
void ember_store_test_after_tree(ember_store_t *s, void (*fn)(void *ctx), void *ctx);

/* Calls fn(ctx, level, apps, lo, hi) before every compaction job a pass
 * posts (it builds periods of that level starting in [lo, hi]), from the
 * maintenance pass's thread, so a test can see the order of the work. */
void ember_store_test_before_compact(ember_store_t *s,
                                     void (*fn)(void *ctx, int level, bool apps,
                                                int64_t lo, int64_t hi),
                                     void *ctx);

#endif
