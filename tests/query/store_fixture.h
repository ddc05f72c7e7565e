/* A real store in a temporary directory, filled with small profiles, for
 * the request-layer tests. Header-only; include after cmocka.h. */
#ifndef EMBER_TESTS_QUERY_STORE_FIXTURE_H
#define EMBER_TESTS_QUERY_STORE_FIXTURE_H

#include <dirent.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ember/ingest.h"
#include "ember/query.h"
#include "ember/store.h"

/* The hour every fixture profile lives in. */
#define T0 1700000000

typedef struct {
  char dir[512];
  ember_store_t *store;
} fixture_t;

/* Removes dir and the files (and empty subdirectories) a store leaves. */
static inline void fixture_rm(const char *dir) {
  DIR *d = opendir(dir);
  if (d) {
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
      if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
      size_t len = strlen(dir) + strlen(e->d_name) + 2;
      char *p = malloc(len);
      snprintf(p, len, "%s/%s", dir, e->d_name);
      if (unlink(p) != 0) rmdir(p);
      free(p);
    }
    closedir(d);
  }
  rmdir(dir);
}

static inline fixture_t *fixture_open(void) {
  fixture_t *f = calloc(1, sizeof *f);
  const char *base = getenv("TMPDIR");
  snprintf(f->dir, sizeof f->dir, "%s/ember-query-XXXXXX",
           base && *base ? base : "/tmp");
  assert_non_null(mkdtemp(f->dir));
  ember_store_config_t cfg = {.data_dir = f->dir};
  ember_err_t err;
  int rc = ember_store_open(&cfg, &f->store, &err);
  if (rc) fprintf(stderr, "store: %s\n", err.msg);
  assert_int_equal(rc, 0);
  return f;
}

static inline void fixture_close(fixture_t *f) {
  ember_store_close(f->store);
  fixture_rm(f->dir);
  free(f);
}

/* Writes one profile of series `name` over [from, from + 10) holding the
 * folded lines of `folded` ("a;b 1\na;c 2"). */
static inline void fixture_push(fixture_t *f, const char *name, int64_t from,
                                const char *spy, uint32_t rate, const char *units,
                                const char *folded) {
  ember_err_t err;
  ember_ingest_result_t r = {.items = calloc(1, sizeof(ember_profile_t)), .n = 1};
  ember_profile_t *p = &r.items[0];
  assert_int_equal(ember_series_key_parse(name, strlen(name), &p->key, &err), 0);
  p->from = from;
  p->until = from + 10;
  p->sample_rate = rate;
  p->spy_name = strdup(spy);
  p->units = strdup(units);
  p->aggregation = EMBER_AGG_SUM;
  p->tree = ember_tree_new();
  const char *line = folded;
  while (*line) {
    const char *nl = strchr(line, '\n');
    size_t len = nl ? (size_t)(nl - line) : strlen(line);
    const char *sp = line + len;
    while (sp > line && *sp != ' ') sp--;
    ember_slice_t frames[64];
    size_t n = 0;
    const char *q = line;
    while (q < sp) {
      const char *e = memchr(q, ';', (size_t)(sp - q));
      if (!e) e = sp;
      frames[n++] = ember_slice(q, (size_t)(e - q));
      q = e + 1;
    }
    ember_tree_add_stack(p->tree, frames, n, strtoull(sp + 1, NULL, 10));
    line += len + (nl ? 1 : 0);
  }
  int rc = ember_store_write(f->store, &r, &err);
  if (rc) fprintf(stderr, "write: %s\n", err.msg);
  assert_int_equal(rc, 0);
  ember_ingest_result_free(&r);
}

static inline json_t *fixture_json(const ember_query_out_t *out) {
  assert_string_equal(out->content_type, "application/json");
  json_error_t e;
  json_t *j = json_loadb(out->body.data, out->body.len, 0, &e);
  if (!j) fprintf(stderr, "json: %s: %.300s\n", e.text, out->body.data);
  assert_non_null(j);
  return j;
}

/* Compact JSON text of a value, for comparing with expected text. */
static inline void assert_json_text(json_t *j, const char *want) {
  char *got = json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY);
  if (strcmp(got, want)) fprintf(stderr, "got  %s\nwant %s\n", got, want);
  assert_string_equal(got, want);
  free(got);
}

#endif
