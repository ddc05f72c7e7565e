/*
 * explore.c - what the tag explorer (/api/explore) costs beside a render:
 * an hour of 10 s pushes from `regions` x `pods` series, then the
 * explorer's answer grouped by region (one timeline read per value, from
 * the stored totals) and by pod, against one plain /render of the same
 * hour (which decompresses every segment).
 *
 *   build/bench/explore [regions] [pods] [dir]
 *
 * Defaults: 100 regions, 5 pods (500 series, 180,000 profiles). dir
 * defaults to a new temporary directory, removed at the end. Timings are
 * the median of 5 runs. Run it right after the writes, as here, the store
 * has not yet merged the buckets into rollups: the slowest case.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ember/query.h"
#include "ember/series.h"
#include "ember/store.h"

#define T0 1700000000
#define BUCKETS 360
#define RUNS 5

static int cmp_u64(const void *a, const void *b) {
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return x < y ? -1 : x > y;
}

static void die(const char *what, const ember_err_t *err) {
  fprintf(stderr, "%s: %s\n", what, err->msg);
  exit(1);
}

/* One profile of series (region r, pod p) for bucket b: a few stacks. */
static void fill(ember_profile_t *pr, size_t r, size_t p, size_t b) {
  char name[128];
  ember_err_t err;
  snprintf(name, sizeof name, "bench.cpu{region=r%03zu,pod=p%zu}", r, p);
  if (ember_series_key_parse(name, strlen(name), &pr->key, &err)) die("key", &err);
  pr->from = T0 + (int64_t)b * 10;
  pr->until = pr->from + 10;
  pr->sample_rate = 100;
  pr->spy_name = strdup("bench");
  pr->units = strdup("samples");
  pr->aggregation = EMBER_AGG_SUM;
  pr->tree = ember_tree_new();
  char f[3][32];
  for (int k = 0; k < 8; k++) {
    snprintf(f[0], sizeof f[0], "main");
    snprintf(f[1], sizeof f[1], "handler%zu", (r + (size_t)k) % 13);
    snprintf(f[2], sizeof f[2], "work%d", k);
    ember_slice_t s[3] = {ember_slice(f[0], strlen(f[0])), ember_slice(f[1], strlen(f[1])),
                          ember_slice(f[2], strlen(f[2]))};
    ember_tree_add_stack(pr->tree, s, 3, 1 + (r * 7 + b + (size_t)k) % 50);
  }
}

static double time_explore(ember_store_t *s, const char *group_by, size_t *bytes) {
  uint64_t ns[RUNS];
  for (int i = 0; i < RUNS; i++) {
    ember_explore_params_t p = {.query = "bench.cpu{}", .group_by = group_by,
                                .from = "1700000000", .until = "1700003599",
                                .now = T0 + 3600};
    ember_query_out_t out;
    ember_err_t err;
    uint64_t t0 = ember_mono_ns();
    if (ember_query_explore(s, &p, &out, &err)) die("explore", &err);
    ns[i] = ember_mono_ns() - t0;
    *bytes = out.body.len;
    ember_buf_free(&out.body);
  }
  qsort(ns, RUNS, sizeof *ns, cmp_u64);
  return (double)ns[RUNS / 2] / 1e6;
}

static double time_render(ember_store_t *s, size_t *bytes) {
  uint64_t ns[RUNS];
  for (int i = 0; i < RUNS; i++) {
    ember_render_params_t p = {.query = "bench.cpu{}", .from = "1700000000",
                               .until = "1700003599", .now = T0 + 3600};
    ember_query_out_t out;
    ember_err_t err;
    uint64_t t0 = ember_mono_ns();
    if (ember_query_render(s, &p, &out, &err)) die("render", &err);
    ns[i] = ember_mono_ns() - t0;
    *bytes = out.body.len;
    ember_buf_free(&out.body);
  }
  qsort(ns, RUNS, sizeof *ns, cmp_u64);
  return (double)ns[RUNS / 2] / 1e6;
}

/* The timeline of /render alone: what the explorer does once per value. */
static double time_timeline(ember_store_t *s) {
  uint64_t ns[RUNS], values[BUCKETS];
  ember_selector_t sel;
  ember_err_t err;
  if (ember_selector_parse("bench.cpu{}", 11, &sel, &err)) die("selector", &err);
  for (int i = 0; i < RUNS; i++) {
    uint64_t t0 = ember_mono_ns();
    if (ember_store_timeline(s, &sel, T0, 10, values, BUCKETS, &err)) die("timeline", &err);
    ns[i] = ember_mono_ns() - t0;
  }
  ember_selector_free(&sel);
  qsort(ns, RUNS, sizeof *ns, cmp_u64);
  return (double)ns[RUNS / 2] / 1e6;
}

int main(int argc, char **argv) {
  size_t regions = argc > 1 ? (size_t)atol(argv[1]) : 100;
  size_t pods = argc > 2 ? (size_t)atol(argv[2]) : 5;
  char dir[256];
  bool temp = argc <= 3;
  if (temp) {
    snprintf(dir, sizeof dir, "/tmp/ember-bench-explore-XXXXXX");
    if (!mkdtemp(dir)) return 1;
  } else {
    snprintf(dir, sizeof dir, "%s", argv[3]);
  }
  ember_store_config_t cfg = {.data_dir = dir};
  ember_store_t *s = NULL;
  ember_err_t err;
  if (ember_store_open(&cfg, &s, &err)) die("open", &err);
  size_t series = regions * pods;
  uint64_t t0 = ember_mono_ns();
  for (size_t b = 0; b < BUCKETS; b++) {
    ember_ingest_result_t r = {.items = calloc(series, sizeof(ember_profile_t)), .n = series};
    for (size_t i = 0; i < series; i++) fill(&r.items[i], i / pods, i % pods, b);
    if (ember_store_write(s, &r, &err)) die("write", &err);
    ember_ingest_result_free(&r);
  }
  printf("(wrote %zu series x %d buckets in %.1f s; median of %d runs each)\n", series,
         BUCKETS, (double)(ember_mono_ns() - t0) / 1e9, RUNS);
  size_t bytes;
  double ms = time_explore(s, "region", &bytes);
  printf("explore by region  %4zu values  %8.2f ms  %8zu bytes\n", regions, ms, bytes);
  ms = time_explore(s, "pod", &bytes);
  printf("explore by pod     %4zu values  %8.2f ms  %8zu bytes\n", pods, ms, bytes);
  printf("one timeline read  %4zu series  %8.2f ms\n", series, time_timeline(s));
  ms = time_render(s, &bytes);
  printf("render (json)      %4zu series  %8.2f ms  %8zu bytes\n", series, ms, bytes);
  ember_store_close(s);
  if (temp) {
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", dir);
  }
  return 0;
}
