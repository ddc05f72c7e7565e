/*
 * store_apps.c - what many apps cost the store: finding one app's
 * dictionary among N cached ones, and one push that creates K new apps
 * while N exist (one pprof push with K sample types does that).
 *
 *   build/bench/store_apps [apps] [push] [dir]
 *
 * Part 1 fills a dictionary registry with `apps` entries and times lookups
 * in random order (each a get and a put, as every write and read does).
 * Part 2 creates `apps` apps in a store, in pushes of `push` profiles, and
 * reports the time of each push as the count grows: the last line is the
 * cost of a push of `push` new apps when `apps` - `push` exist. dir
 * defaults to a new temporary directory, removed at the end.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ember/store.h"

/* From src/store/store_int.h (not on the benchmark's include path). */
typedef struct ember_dicts ember_dicts_t;
typedef struct ember_dict ember_dict_t;
ember_dicts_t *ember_dicts_new(size_t max_bytes);
void ember_dicts_free(ember_dicts_t *r);
ember_dict_t *ember_dicts_get(ember_dicts_t *r, int64_t app_id);
void ember_dicts_put(ember_dicts_t *r, ember_dict_t *d);

static long vm_kib(const char *key) {
  FILE *f = fopen("/proc/self/status", "r");
  char line[256];
  long v = -1;
  size_t n = strlen(key);
  while (f && fgets(line, sizeof line, f))
    if (!strncmp(line, key, n) && line[n] == ':') v = atol(line + n + 1);
  if (f) fclose(f);
  return v;
}

static uint64_t rng = 88172645463325252ull;
static uint64_t next_rand(void) { /* xorshift64: fixed, portable sequence */
  rng ^= rng << 13;
  rng ^= rng >> 7;
  rng ^= rng << 17;
  return rng;
}

static void bench_lookup(size_t apps) {
  ember_dicts_t *r = ember_dicts_new(0);
  uint64_t t0 = ember_mono_ns();
  for (size_t i = 1; i <= apps; i++)
    ember_dicts_put(r, ember_dicts_get(r, (int64_t)i));
  uint64_t fill = ember_mono_ns() - t0;
  /* Enough lookups to time, few enough that a linear scan finishes. */
  size_t n = apps >= 100000 ? 2000 : 20000;
  t0 = ember_mono_ns();
  for (size_t i = 0; i < n; i++) {
    int64_t id = 1 + (int64_t)(next_rand() % apps);
    ember_dicts_put(r, ember_dicts_get(r, id));
  }
  uint64_t ns = ember_mono_ns() - t0;
  printf("lookup among %7zu apps  %9.0f ns per get+put (filled in %.2f s)\n", apps,
         (double)ns / (double)n, (double)fill / 1e9);
  ember_dicts_free(r);
}

/* One request of `push` profiles, each to a new app. */
static ember_ingest_result_t make_push(size_t first, size_t push) {
  ember_ingest_result_t res = {0};
  res.items = calloc(push, sizeof *res.items);
  res.n = push;
  for (size_t i = 0; i < push; i++) {
    ember_profile_t *p = &res.items[i];
    char key[64];
    snprintf(key, sizeof key, "app%zu.cpu", first + i);
    if (ember_series_key_parse(key, strlen(key), &p->key, NULL) != 0) abort();
    p->from = 4000000000LL;
    p->until = p->from + 10;
    p->sample_rate = 100;
    p->spy_name = strdup("gospy");
    p->units = strdup("samples");
    p->tree = ember_tree_new();
    ember_slice_t f[2] = {ember_slice("main", 4), ember_slice("work", 4)};
    ember_tree_add_stack(p->tree, f, 2, 1);
  }
  return res;
}

static void bench_push(const char *dir, size_t apps, size_t push) {
  ember_store_config_t cfg = {.data_dir = dir, .max_apps = apps};
  ember_store_t *s;
  ember_err_t err;
  if (ember_store_open(&cfg, &s, &err) != 0) {
    fprintf(stderr, "store_apps: %s\n", err.msg);
    exit(1);
  }
  for (size_t made = 0; made < apps; made += push) {
    size_t k = apps - made < push ? apps - made : push;
    ember_ingest_result_t res = make_push(made, k);
    uint64_t t0 = ember_mono_ns();
    if (ember_store_write(s, &res, &err) != 0) {
      fprintf(stderr, "store_apps: %s\n", err.msg);
      exit(1);
    }
    uint64_t ns = ember_mono_ns() - t0;
    ember_ingest_result_free(&res);
    if (made + k == apps || (made / push) % 5 == 0)
      printf("push of %zu new apps with %7zu existing  %.3f s\n", k, made,
             (double)ns / 1e9);
  }
  ember_store_close(s);
}

int main(int argc, char **argv) {
  size_t apps = argc > 1 ? strtoull(argv[1], NULL, 10) : 200000;
  size_t push = argc > 2 ? strtoull(argv[2], NULL, 10) : 10000;
  char tmpl[] = "/tmp/ember-bench-XXXXXX";
  const char *dir = argc > 3 ? argv[3] : mkdtemp(tmpl);
  if (apps == 0 || push == 0 || !dir) {
    fprintf(stderr, "usage: store_apps [apps] [push] [dir]\n");
    return 2;
  }
  for (size_t n = 1000; n < apps; n *= 10)
    bench_lookup(n);
  bench_lookup(apps);
  printf("resident after the lookups: %ld MiB, peak %ld MiB\n", vm_kib("VmRSS") / 1024,
         vm_kib("VmHWM") / 1024);
  bench_push(dir, apps, push);
  printf("resident after the pushes: %ld MiB, peak %ld MiB\n", vm_kib("VmRSS") / 1024,
         vm_kib("VmHWM") / 1024);
  if (argc <= 3) {
    char cmd[512];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0) fprintf(stderr, "store_apps: could not remove %s\n", dir);
  }
  return 0;
}
