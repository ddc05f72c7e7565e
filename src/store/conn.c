/*
 * conn.c - SQLite connections: opening with the right PRAGMAs, a cache of
 * prepared statements per connection, error messages, and the pool of
 * read-only connections that reader threads borrow.
 *
 * Every connection is used by one thread at a time (the writer's by the
 * writer thread, a reader's by whoever borrowed it), so they are opened with
 * SQLITE_OPEN_NOMUTEX and SQLite's own locking between connections is all
 * that coordinates them. WAL mode lets readers read a snapshot while the
 * writer writes, so no reader ever waits for the writer or the reverse.
 */
#include "store/store_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Idle reader connections kept open; more are opened under load and
 * closed when given back beyond this. */
#define POOL_IDLE_MAX 8
/* How long a connection waits for a lock held by another process (or for
 * WAL recovery) before failing. */
#define BUSY_TIMEOUT_MS 10000
/* SQLite virtual machine steps between two looks at the deadline on a
 * reader connection: a few microseconds of work, so a query past its
 * deadline stops at once, while reading the clock that often costs nothing
 * measurable. */
#define DEADLINE_STEPS 1000

/* ---- Errors ------------------------------------------------------------ */

/* The two failures an operator can fix say so in words: a full disk and a
 * database that cannot be written. */
static int fail_with(ember_conn_t *c, ember_err_t *err, const char *what,
                     const char *msg) {
  int code = c && c->db ? sqlite3_extended_errcode(c->db) : 0;
  if (code == SQLITE_INTERRUPT)
    return ember_err_set(err, EMBER_ETIMEOUT,
                         "the query ran past its deadline and was stopped while %s; "
                         "narrow the time range or the selector, or try again when "
                         "the server is less busy",
                         what);
  int sys = c && c->db ? sqlite3_system_errno(c->db) : 0;
  if ((code & 0xff) == SQLITE_FULL || sys == ENOSPC)
    return ember_err_set(err, EMBER_EIO,
                         "storage error while %s: disk full (%s, sqlite code %d); "
                         "free space on the disk of the data directory",
                         what, msg, code);
  if ((code & 0xff) == SQLITE_READONLY || sys == EROFS || sys == EACCES)
    return ember_err_set(err, EMBER_EIO,
                         "storage error while %s: the database cannot be written "
                         "(%s, sqlite code %d); make the data directory and its "
                         "files writable by the user running ember",
                         what, msg, code);
  return ember_err_set(err, EMBER_EIO, "storage error while %s: %s (sqlite code %d)",
                       what, msg, code);
}

int ember_conn_fail(ember_conn_t *c, ember_err_t *err, const char *what) {
  return fail_with(c, err, what, c && c->db ? sqlite3_errmsg(c->db) : "no connection");
}

/* ---- Opening ----------------------------------------------------------- */

/* Reader connections' progress handler: non-zero makes SQLite stop the
 * running statement with SQLITE_INTERRUPT. The deadline is the calling
 * thread's, so a pooled connection serves whoever borrowed it. */
static int past_deadline(void *unused) {
  return ember_deadline_passed();
}

/* The writer's PRAGMAs. journal_mode=WAL is stored in the file; the others
 * are per connection. synchronous=FULL makes every COMMIT fsync the WAL, so
 * a committed transaction survives a crash of the process or the machine:
 * that is what a 200 from /ingest promises. */
static const char WRITER_PRAGMAS[] = "PRAGMA synchronous=FULL;"
                                     "PRAGMA foreign_keys=ON;"
                                     "PRAGMA cache_size=-16384;"
                                     "PRAGMA journal_size_limit=67108864;";

static int set_wal(ember_conn_t *c, const char *path, ember_err_t *err) {
  sqlite3_stmt *st = NULL;
  int rc = sqlite3_prepare_v2(c->db, "PRAGMA journal_mode=WAL", -1, &st, NULL);
  if (rc == SQLITE_OK) rc = sqlite3_step(st);
  if (rc != SQLITE_ROW) {
    rc = ember_conn_fail(c, err, "switching to WAL mode");
  } else if (strcmp((const char *)sqlite3_column_text(st, 0), "wal") != 0) {
    rc = ember_err_set(err, EMBER_EIO,
                       "cannot use WAL mode for %s (the file system may not "
                       "support shared memory); put the data on a local disk",
                       path);
  } else {
    rc = 0;
  }
  sqlite3_finalize(st);
  return rc;
}

int ember_conn_open(const char *path, bool writer, ember_conn_t **out,
                    ember_err_t *err) {
  int flags = SQLITE_OPEN_NOMUTEX |
              (writer ? SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE
                      : SQLITE_OPEN_READONLY);
  ember_conn_t *c = ember_calloc(1, sizeof *c);
  int rc = 0;
  if (sqlite3_open_v2(path, &c->db, flags, NULL) != SQLITE_OK) {
    rc = ember_err_set(err, EMBER_EIO, "cannot open database %s: %s; pass --data "
                       "to choose another directory", path,
                       c->db ? sqlite3_errmsg(c->db) : "out of memory");
    goto fail;
  }
  sqlite3_busy_timeout(c->db, BUSY_TIMEOUT_MS);
  sqlite3_extended_result_codes(c->db, 1);
  if (writer) {
    /* SQLite quietly opens a file it may not write read-only; every push
     * would then fail. */
    if (sqlite3_db_readonly(c->db, "main") == 1) {
      rc = ember_err_set(err, EMBER_EIO,
                         "the database %s can only be opened read-only; make it "
                         "and its directory writable by the user running ember, "
                         "or pass --data to choose another directory",
                         path);
      goto fail;
    }
    if ((rc = set_wal(c, path, err)) != 0) goto fail;
    if ((rc = ember_conn_exec(c, WRITER_PRAGMAS, err)) != 0) goto fail;
  } else {
    /* Only readers are cancelled: a write the store accepted always runs
     * to its commit. */
    sqlite3_progress_handler(c->db, DEADLINE_STEPS, past_deadline, NULL);
  }
  c->codec = ember_seg_codec_new();
  *out = c;
  return 0;
fail:
  ember_conn_close(c);
  return rc;
}

void ember_conn_close(ember_conn_t *c) {
  if (!c) return;
  for (size_t i = 0; i < c->ncache; i++) sqlite3_finalize(c->cache[i].stmt);
  free(c->cache);
  sqlite3_close_v2(c->db);
  ember_seg_codec_free(c->codec);
  free(c);
}

/* ---- Statements -------------------------------------------------------- */

int ember_conn_prepare(ember_conn_t *c, const char *sql, sqlite3_stmt **out,
                       ember_err_t *err) {
  /* A linear scan: a connection uses a few dozen statements, and comparing
   * pointers is cheaper than hashing the text. */
  for (size_t i = 0; i < c->ncache; i++) {
    if (c->cache[i].sql == sql) {
      sqlite3_reset(c->cache[i].stmt);
      sqlite3_clear_bindings(c->cache[i].stmt);
      *out = c->cache[i].stmt;
      return 0;
    }
  }
  sqlite3_stmt *st = NULL;
  if (sqlite3_prepare_v3(c->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &st, NULL) !=
      SQLITE_OK)
    return ember_conn_fail(c, err, "preparing a statement");
  ember_grow((void **)&c->cache, &c->cache_cap, c->ncache + 1, sizeof *c->cache);
  c->cache[c->ncache].sql = sql;
  c->cache[c->ncache].stmt = st;
  c->ncache++;
  *out = st;
  return 0;
}

int ember_conn_exec(ember_conn_t *c, const char *sql, ember_err_t *err) {
  char *msg = NULL;
  if (sqlite3_exec(c->db, sql, NULL, NULL, &msg) == SQLITE_OK) return 0;
  char what[80];
  snprintf(what, sizeof what, "running %.60s", sql);
  int rc = fail_with(c, err, what, msg ? msg : sqlite3_errmsg(c->db));
  sqlite3_free(msg);
  return rc;
}

/* ---- Reader pool ------------------------------------------------------- */

int ember_pool_get(ember_store_t *s, ember_conn_t **out, ember_err_t *err) {
  pthread_mutex_lock(&s->pool_lock);
  ember_conn_t *c = s->pool_free;
  if (c) {
    s->pool_free = c->next;
    s->pool_idle--;
  }
  pthread_mutex_unlock(&s->pool_lock);
  if (!c) {
    /* Opened outside the lock: opening touches the disk. */
    int rc = ember_conn_open(s->db_path, false, &c, err);
    if (rc != 0) return rc;
  }
  c->next = NULL;
  *out = c;
  return 0;
}

void ember_pool_put(ember_store_t *s, ember_conn_t *c) {
  if (!c) return;
  /* A reader that failed mid-transaction must not hand on an open one: its
   * snapshot would pin the WAL and go stale. */
  if (!sqlite3_get_autocommit(c->db)) sqlite3_exec(c->db, "ROLLBACK", NULL, NULL, NULL);
  pthread_mutex_lock(&s->pool_lock);
  if (s->pool_idle < POOL_IDLE_MAX) {
    c->next = s->pool_free;
    s->pool_free = c;
    s->pool_idle++;
    c = NULL;
  }
  pthread_mutex_unlock(&s->pool_lock);
  ember_conn_close(c);
}

void ember_pool_close(ember_store_t *s) {
  pthread_mutex_lock(&s->pool_lock);
  ember_conn_t *c = s->pool_free;
  s->pool_free = NULL;
  s->pool_idle = 0;
  pthread_mutex_unlock(&s->pool_lock);
  while (c) {
    ember_conn_t *next = c->next;
    ember_conn_close(c);
    c = next;
  }
}
