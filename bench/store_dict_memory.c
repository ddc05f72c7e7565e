/*
 * store_dict_memory.c - how much memory the dictionary caches keep after an
 * app gained many distinct stacks, with and without the cache bound.
 *
 *   build/bench/store_dict_memory [stacks] [per_push] [cache] [dir]
 *
 * Writes `stacks` distinct stacks (main;fN, every N new) to one app, in
 * pushes of `per_push`, with the store's dictionary cache bounded at
 * `cache` bytes (0: the store's default), then reads one bucket of the app
 * back, then runs two maintenance passes (as a quiet minute or two would).
 * Prints the process's resident memory (VmRSS) after each step, and its
 * peak (VmHWM). dir defaults to a new temporary directory, removed at the
 * end.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ember/store.h"

#define T0 4000000000LL /* future: the background maintenance pass skips it */

/* From src/store/store_int.h (not on the benchmark's include path): one
 * maintenance pass, as if the time were now. */
int ember_maint_pass(ember_store_t *s, int64_t now, ember_err_t *err);

static long status_kib(const char *key) {
  FILE *f = fopen("/proc/self/status", "r");
  char line[256];
  long v = -1;
  size_t n = strlen(key);
  while (f && fgets(line, sizeof line, f))
    if (!strncmp(line, key, n) && line[n] == ':') v = atol(line + n + 1);
  if (f) fclose(f);
  return v;
}

static void report(const char *when) {
  printf("%-28s VmRSS %6.1f MiB, VmHWM %6.1f MiB\n", when,
         (double)status_kib("VmRSS") / 1024, (double)status_kib("VmHWM") / 1024);
}

static ember_ingest_result_t make_push(size_t first, size_t n, int64_t t) {
  ember_ingest_result_t res = {0};
  res.items = calloc(1, sizeof *res.items);
  res.n = 1;
  ember_profile_t *p = &res.items[0];
  if (ember_series_key_parse("mem.cpu", 7, &p->key, NULL) != 0) abort();
  p->from = t;
  p->until = t + 10;
  p->sample_rate = 100;
  p->spy_name = strdup("gospy");
  p->units = strdup("samples");
  p->tree = ember_tree_new();
  char name[32];
  for (size_t i = first; i < first + n; i++) {
    int len = snprintf(name, sizeof name, "f%zu", i);
    ember_slice_t f[2] = {ember_slice("main", 4), ember_slice(name, (size_t)len)};
    ember_tree_add_stack(p->tree, f, 2, 1);
  }
  return res;
}

int main(int argc, char **argv) {
  size_t stacks = argc > 1 ? strtoull(argv[1], NULL, 10) : 5000000;
  size_t per = argc > 2 ? strtoull(argv[2], NULL, 10) : 50000;
  size_t cache = argc > 3 ? strtoull(argv[3], NULL, 10) : 0;
  char tmpl[] = "/tmp/ember-bench-XXXXXX";
  const char *dir = argc > 4 ? argv[4] : mkdtemp(tmpl);
  if (!stacks || !per || !dir) {
    fprintf(stderr, "usage: store_dict_memory [stacks] [per_push] [cache] [dir]\n");
    return 2;
  }
  ember_store_config_t cfg = {.data_dir = dir, .dict_cache = cache};
  ember_store_t *s;
  ember_err_t err;
  if (ember_store_open(&cfg, &s, &err) != 0) {
    fprintf(stderr, "store_dict_memory: %s\n", err.msg);
    return 1;
  }
  report("opened");
  uint64_t t0 = ember_mono_ns();
  for (size_t done = 0, k = 0; done < stacks; done += per, k++) {
    size_t n = stacks - done < per ? stacks - done : per;
    ember_ingest_result_t res = make_push(done, n, T0 + 10 * (int64_t)k);
    if (ember_store_write(s, &res, &err) != 0) {
      fprintf(stderr, "store_dict_memory: %s\n", err.msg);
      return 1;
    }
    ember_ingest_result_free(&res);
  }
  printf("wrote %zu distinct stacks in %.1f s\n", stacks,
         (double)(ember_mono_ns() - t0) / 1e9);
  report("after the writes");
  ember_selector_t sel;
  if (ember_selector_parse("mem.cpu{}", 9, &sel, NULL) != 0) abort();
  ember_tree_t *t = ember_tree_new();
  t0 = ember_mono_ns();
  if (ember_store_read_tree(s, &sel, T0, T0 + 10, t, 0, &err) != 0) {
    fprintf(stderr, "store_dict_memory: %s\n", err.msg);
    return 1;
  }
  printf("read one push back (%llu samples) in %.2f s\n",
         (unsigned long long)ember_tree_total(t, 0),
         (double)(ember_mono_ns() - t0) / 1e9);
  ember_tree_free(t);
  ember_selector_free(&sel);
  report("after one read");
  for (int i = 0; i < 2; i++)
    if (ember_maint_pass(s, ember_now(), &err) != 0) {
      fprintf(stderr, "store_dict_memory: %s\n", err.msg);
      return 1;
    }
  report("after two quiet passes");
  ember_store_close(s);
  if (argc <= 4) {
    char cmd[512];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0)
      fprintf(stderr, "store_dict_memory: could not remove %s\n", dir);
  }
  return 0;
}
