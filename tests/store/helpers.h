/* Helpers shared by the store tests: temporary data directories and small
 * profiles. Header-only; include after cmocka.h. */
#ifndef EMBER_TESTS_STORE_HELPERS_H
#define EMBER_TESTS_STORE_HELPERS_H

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sqlite3.h>

#include "ember/store.h"
#include "ember/tree.h"
#include "store/store_int.h"

/* A new empty directory under $TMPDIR (or /tmp); caller frees the string
 * and removes the directory with rm_tree. */
static inline char *temp_dir(void) {
  const char *base = getenv("TMPDIR");
  char path[512];
  snprintf(path, sizeof path, "%s/ember-store-XXXXXX", base && *base ? base : "/tmp");
  char *d = mkdtemp(path);
  assert_non_null(d);
  return strdup(d);
}

/* Removes a directory holding only files and empty subdirectories one level
 * deep (all a store creates). */
static inline void rm_tree(const char *dir) {
  DIR *d = opendir(dir);
  if (d) {
    struct dirent *e;
    char p[1024];
    while ((e = readdir(d)) != NULL) {
      if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
      snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
      if (unlink(p) != 0) rmdir(p);
    }
    closedir(d);
  }
  rmdir(dir);
}

/* Adds "a;b;c" (frames separated by ';') with value v to side 0 of t. */
static inline void add_folded(ember_tree_t *t, const char *stack, uint64_t v) {
  ember_slice_t f[64];
  size_t n = 0;
  const char *p = stack;
  while (*p && n < 64) {
    const char *e = strchr(p, ';');
    size_t len = e ? (size_t)(e - p) : strlen(p);
    f[n++] = ember_slice(p, len);
    p += len + (e ? 1 : 0);
  }
  ember_tree_add_stack(t, f, n, v);
}

/* The self value on side of the node at path "a;b;c" ("" = root), or
 * UINT64_MAX when the path does not exist. */
static inline uint64_t self_at(const ember_tree_t *t, const char *stack, int side) {
  uint32_t node = EMBER_TREE_ROOT;
  const char *p = stack;
  while (*p) {
    const char *e = strchr(p, ';');
    size_t len = e ? (size_t)(e - p) : strlen(p);
    uint32_t name = UINT32_MAX;
    for (size_t i = 0; i < ember_tree_name_count(t); i++) {
      ember_slice_t s = ember_tree_name(t, (uint32_t)i);
      if (s.len == len && memcmp(s.base, p, len) == 0) name = (uint32_t)i;
    }
    if (name == UINT32_MAX) return UINT64_MAX;
    node = ember_tree_find_child(t, node, name);
    if (node == EMBER_TREE_NONE) return UINT64_MAX;
    p += len + (e ? 1 : 0);
  }
  return ember_tree_node(t, node)->self[side];
}

/* A one-profile result for series `name` ("app{k=v}") over [from, until]
 * holding folded lines "a;b 3\na;c 2". Caller frees with
 * ember_ingest_result_free (or hands it to the store). */
static inline ember_ingest_result_t make_result(const char *name, int64_t from,
                                                int64_t until, const char *folded,
                                                ember_aggregation_t agg) {
  ember_ingest_result_t r = {0};
  r.items = calloc(1, sizeof *r.items);
  r.n = 1;
  ember_profile_t *p = &r.items[0];
  assert_int_equal(ember_series_key_parse(name, strlen(name), &p->key, NULL), 0);
  p->from = from;
  p->until = until;
  p->sample_rate = 100;
  p->spy_name = strdup("gospy");
  p->units = strdup("samples");
  p->aggregation = agg;
  p->tree = ember_tree_new();
  char line[512];
  for (const char *q = folded; *q;) {
    const char *e = strchr(q, '\n');
    size_t len = e ? (size_t)(e - q) : strlen(q);
    memcpy(line, q, len);
    line[len] = '\0';
    char *sp = strrchr(line, ' ');
    if (sp) {
      *sp = '\0';
      add_folded(p->tree, line, strtoull(sp + 1, NULL, 10));
    }
    q += len + (e ? 1 : 0);
  }
  return r;
}

/* Moves the profiles of more to the end of r (more is left empty). */
static inline void join_results(ember_ingest_result_t *r, ember_ingest_result_t *more) {
  r->items = realloc(r->items, (r->n + more->n) * sizeof *r->items);
  memcpy(r->items + r->n, more->items, more->n * sizeof *more->items);
  r->n += more->n;
  free(more->items);
  more->items = NULL;
  more->n = 0;
}

/* Writes one profile; returns the store's answer (message in err). */
static inline int try_put(ember_store_t *s, const char *name, int64_t from, int64_t until,
                          const char *folded, ember_err_t *err) {
  ember_ingest_result_t r = make_result(name, from, until, folded, EMBER_AGG_SUM);
  int rc = ember_store_write(s, &r, err);
  ember_ingest_result_free(&r);
  return rc;
}

/* Writes one profile and asserts success. */
static inline void put(ember_store_t *s, const char *name, int64_t from, int64_t until,
                       const char *folded) {
  ember_ingest_result_t r = make_result(name, from, until, folded, EMBER_AGG_SUM);
  ember_err_t err = {0};
  int rc = ember_store_write(s, &r, &err);
  if (rc != 0) fprintf(stderr, "write failed: %s\n", err.msg);
  assert_int_equal(rc, 0);
  assert_int_equal(r.n, 0);
  ember_ingest_result_free(&r);
}

/* Reads the tree of a FlameQL query into side 0 of a new tree (caller
 * frees); *rc gets the result code. */
static inline ember_tree_t *get_tree(ember_store_t *s, const char *query, int64_t from,
                                     int64_t until, int *rc) {
  ember_selector_t sel;
  assert_int_equal(ember_selector_parse(query, strlen(query), &sel, NULL), 0);
  ember_tree_t *t = ember_tree_new();
  ember_err_t err = {0};
  *rc = ember_store_read_tree(s, &sel, from, until, t, 0, &err);
  if (*rc != 0 && *rc != EMBER_ENOTFOUND) fprintf(stderr, "read failed: %s\n", err.msg);
  ember_selector_free(&sel);
  return t;
}

/* Total of a query over [from, until), asserting the read succeeds. */
static inline uint64_t total_of(ember_store_t *s, const char *query, int64_t from,
                                int64_t until) {
  int rc;
  ember_tree_t *t = get_tree(s, query, from, until, &rc);
  assert_int_equal(rc, 0);
  assert_int_equal(ember_tree_check(t, NULL), 0);
  uint64_t v = ember_tree_total(t, 0);
  ember_tree_free(t);
  return v;
}

static inline ember_store_t *open_store(const char *dir, size_t queue_max,
                                        int64_t retention) {
  ember_store_config_t cfg = {
      .data_dir = dir, .retention_seconds = retention, .queue_max = queue_max};
  ember_store_t *s = NULL;
  ember_err_t err = {0};
  int rc = ember_store_open(&cfg, &s, &err);
  if (rc != 0) fprintf(stderr, "open failed: %s\n", err.msg);
  assert_int_equal(rc, 0);
  return s;
}

static inline ember_store_t *open_store_cfg(const ember_store_config_t *cfg) {
  ember_store_t *s = NULL;
  ember_err_t err = {0};
  int rc = ember_store_open(cfg, &s, &err);
  if (rc != 0) fprintf(stderr, "open failed: %s\n", err.msg);
  assert_int_equal(rc, 0);
  return s;
}

/* ---- A temporary data directory per test -------------------------------- */

/* cmocka setup/teardown state: the directory and, when the test opened one,
 * a store on it (closed by store_teardown). */
typedef struct {
  char *dir;
  ember_store_t *s;
} fixture_t;

/* A new empty directory; the test opens the store itself. */
static inline int dir_setup(void **state) {
  fixture_t *f = calloc(1, sizeof *f);
  f->dir = temp_dir();
  *state = f;
  return 0;
}

/* A new empty directory with a store open on it (no retention, default
 * queue). */
static inline int store_setup(void **state) {
  dir_setup(state);
  fixture_t *f = *state;
  f->s = open_store(f->dir, 0, 0);
  return 0;
}

static inline int store_teardown(void **state) {
  fixture_t *f = *state;
  ember_store_close(f->s);
  rm_tree(f->dir);
  free(f->dir);
  free(f);
  return 0;
}

/* ---- Looking at the database file --------------------------------------- */

/* The one integer a query (SELECT COUNT(*) ...) returns, read through a
 * connection of its own, so it sees only what was committed. */
static inline int64_t count_sql(const char *dir, const char *sql) {
  char path[600];
  snprintf(path, sizeof path, "%s/ember.db", dir);
  sqlite3 *db;
  sqlite3_stmt *st;
  assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
  assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
  assert_int_equal(sqlite3_step(st), SQLITE_ROW);
  int64_t n = sqlite3_column_int64(st, 0);
  sqlite3_finalize(st);
  sqlite3_close(db);
  return n;
}

/* Segment rows matching a WHERE clause. */
static inline int64_t count_rows_where(const char *dir, const char *where) {
  char sql[400];
  snprintf(sql, sizeof sql, "SELECT COUNT(*) FROM segments WHERE %s", where);
  return count_sql(dir, sql);
}

/* One maintenance pass at now, asserting it succeeds. */
static inline void maintain_at(ember_store_t *s, int64_t now) {
  ember_err_t err = {0};
  int rc = ember_maint_pass(s, now, &err);
  if (rc) fprintf(stderr, "maintenance: %s\n", err.msg);
  assert_int_equal(rc, 0);
}

#endif
