/*
 * render_flamebearer.c - how long the read side's pure steps take on large
 * trees: the /render JSON of a 50,000-node tree, the /render-diff JSON of
 * the same tree on both sides, folded text, truncation of a 500,000-node
 * tree to the default 8,192 nodes, and the exact function table (every
 * function's self and total over the untruncated tree) of 100,000- and
 * 500,000-node trees, alone and as part of the /render JSON, with a few
 * hundred names and with every frame a name of its own.
 *
 * The trees are synthetic but shaped like profiles: a few hundred distinct
 * frame names, stacks 4 to 40 frames deep, a heavy-tailed fan-out. Each
 * timing is the median of several runs. Run: build/bench/render_flamebearer
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ember/query.h"

#define RUNS 9

/* xorshift64*: the same trees on every machine and run. */
static uint64_t rng_state = 88172645463325252ull;
static uint64_t rnd(void) {
  rng_state ^= rng_state >> 12;
  rng_state ^= rng_state << 25;
  rng_state ^= rng_state >> 27;
  return rng_state * 2685821657736338717ull;
}

/* Grows t by random stacks until it has at least nodes nodes. */
static ember_tree_t *make_tree(size_t nodes) {
  ember_tree_t *t = ember_tree_new();
  char name[48];
  ember_slice_t frames[40];
  char names[40][48];
  while (ember_tree_count(t) < nodes) {
    size_t depth = 4 + rnd() % 37;
    for (size_t d = 0; d < depth; d++) {
      /* Low indices far more often: hot paths are shared by many stacks. */
      uint64_t r = rnd() % 1000, k = (r * r * r) / 1000000 % 600;
      int len = snprintf(name, sizeof name, "pkg%u.Func%u", (unsigned)(k % 37),
                         (unsigned)k);
      memcpy(names[d], name, (size_t)len + 1);
      frames[d] = ember_slice(names[d], (size_t)len);
    }
    ember_tree_add_stack(t, frames, depth, 1 + rnd() % 100);
  }
  return t;
}

static int cmp_u64(const void *a, const void *b) {
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return x < y ? -1 : x > y;
}

static double median_ms(uint64_t *ns) {
  qsort(ns, RUNS, sizeof *ns, cmp_u64);
  return (double)ns[RUNS / 2] / 1e6;
}

static void bench_single(const ember_tree_t *t, const ember_render_meta_t *m) {
  uint64_t ns[RUNS];
  size_t bytes = 0;
  for (int i = 0; i < RUNS; i++) {
    ember_buf_t b = EMBER_BUF_INIT;
    uint64_t t0 = ember_mono_ns();
    if (ember_render_single(&b, t, m, NULL)) abort();
    ns[i] = ember_mono_ns() - t0;
    bytes = b.len;
    ember_buf_free(&b);
  }
  printf("render single   %7zu nodes  %8.2f ms  %9zu bytes\n", ember_tree_count(t),
         median_ms(ns), bytes);
}

static void bench_double(const ember_tree_t *t, const ember_render_meta_t *m) {
  ember_tree_t *u = ember_tree_new();
  ember_tree_merge(u, 0, t, 0);
  ember_tree_merge(u, 1, t, 0);
  uint64_t ns[RUNS];
  size_t bytes = 0;
  for (int i = 0; i < RUNS; i++) {
    ember_buf_t b = EMBER_BUF_INIT;
    uint64_t t0 = ember_mono_ns();
    if (ember_render_double(&b, u, m, m, NULL)) abort();
    ns[i] = ember_mono_ns() - t0;
    bytes = b.len;
    ember_buf_free(&b);
  }
  printf("render double   %7zu nodes  %8.2f ms  %9zu bytes\n", ember_tree_count(u),
         median_ms(ns), bytes);
  ember_tree_free(u);
}

static void bench_collapsed(const ember_tree_t *t) {
  uint64_t ns[RUNS];
  size_t bytes = 0;
  for (int i = 0; i < RUNS; i++) {
    ember_buf_t b = EMBER_BUF_INIT;
    uint64_t t0 = ember_mono_ns();
    if (ember_render_collapsed(&b, t, 0, 0, NULL)) abort();
    ns[i] = ember_mono_ns() - t0;
    bytes = b.len;
    ember_buf_free(&b);
  }
  printf("collapsed       %7zu nodes  %8.2f ms  %9zu bytes\n", ember_tree_count(t),
         median_ms(ns), bytes);
}

/* The table alone (names of the tree) and the /render JSON of the tree
 * truncated to the default maxNodes, with and without the table: what
 * /render does for a large app. */
static void bench_functions(const ember_tree_t *t, const ember_render_meta_t *m,
                            const char *what) {
  uint64_t ns[RUNS], with_ns[RUNS], without_ns[RUNS];
  size_t bytes = 0, count = 0, table_bytes = 0;
  for (int i = 0; i < RUNS; i++) {
    ember_functions_t f;
    uint64_t t0 = ember_mono_ns();
    if (ember_functions_compute(t, 1, EMBER_QUERY_DEFAULT_MAX_FUNCTIONS, &f, NULL)) abort();
    ns[i] = ember_mono_ns() - t0;
    count = f.count;
    ember_buf_t tb = EMBER_BUF_INIT;
    ember_functions_put_json(&tb, &f);
    table_bytes = tb.len;
    ember_buf_free(&tb);
    ember_functions_free(&f);
  }
  ember_tree_t *cut = NULL;
  if (ember_tree_truncate(t, EMBER_QUERY_DEFAULT_MAX_NODES, &cut, NULL)) abort();
  ember_render_meta_t mm = *m;
  mm.max_nodes = EMBER_QUERY_DEFAULT_MAX_NODES;
  for (int i = 0; i < RUNS; i++) {
    for (int with = 0; with < 2; with++) {
      ember_buf_t b = EMBER_BUF_INIT;
      ember_functions_t f;
      uint64_t t0 = ember_mono_ns();
      if (with) {
        if (ember_functions_compute(t, 1, EMBER_QUERY_DEFAULT_MAX_FUNCTIONS, &f, NULL))
          abort();
        mm.functions = &f;
      }
      if (ember_tree_truncate(t, EMBER_QUERY_DEFAULT_MAX_NODES, &cut, NULL)) abort();
      if (ember_render_single(&b, cut, &mm, NULL)) abort();
      (with ? with_ns : without_ns)[i] = ember_mono_ns() - t0;
      if (with) {
        bytes = b.len;
        mm.functions = NULL;
        ember_functions_free(&f);
      }
      ember_tree_free(cut);
      cut = NULL;
      ember_buf_free(&b);
    }
  }
  printf("functions       %7zu nodes  %8.2f ms  %zu functions (%s), %zu bytes for 5,000\n",
         ember_tree_count(t), median_ms(ns), count, what, table_bytes);
  double without = median_ms(without_ns), with = median_ms(with_ns);
  printf("  truncate + render single: %.2f ms without the table, %.2f ms with (%zu bytes)\n",
         without, with, bytes);
}

/* Every frame a name of its own: the table's worst case (as many names to
 * rank as nodes). */
static ember_tree_t *make_unique_tree(size_t nodes) {
  ember_tree_t *t = ember_tree_new();
  char names[8][48];
  ember_slice_t frames[8];
  size_t k = 0;
  while (ember_tree_count(t) < nodes) {
    size_t depth = 2 + rnd() % 7;
    for (size_t d = 0; d < depth; d++) {
      /* The first frames are shared so the tree has some shape. */
      int len = d < 2 ? snprintf(names[d], sizeof names[d], "main%zu", d + rnd() % 3)
                      : snprintf(names[d], sizeof names[d], "pkg.Func%zu", k++);
      frames[d] = ember_slice(names[d], (size_t)len);
    }
    ember_tree_add_stack(t, frames, depth, 1 + rnd() % 100);
  }
  return t;
}

static void bench_truncate(const ember_tree_t *t, long max_nodes) {
  uint64_t ns[RUNS];
  size_t kept = 0;
  for (int i = 0; i < RUNS; i++) {
    uint64_t t0 = ember_mono_ns();
    ember_tree_t *c = NULL;
    if (ember_tree_truncate(t, max_nodes, &c, NULL)) abort();
    ns[i] = ember_mono_ns() - t0;
    kept = ember_tree_count(c);
    ember_tree_free(c);
  }
  printf("truncate        %7zu nodes  %8.2f ms  -> %zu nodes (maxNodes %ld)\n",
         ember_tree_count(t), median_ms(ns), kept, max_nodes);
}

int main(void) {
  ember_render_meta_t m = {0};
  m.app_name = "bench.cpu";
  m.query = "bench.cpu{}";
  m.spy_name = "ebpfspy";
  m.sample_rate = 100;
  m.units = "samples";
  m.from = 1700000000;
  m.until = m.from + 3600;
  m.max_nodes = -1;
  m.grid = ember_timeline_grid(m.from, m.until);

  uint64_t t0 = ember_mono_ns();
  ember_tree_t *mid = make_tree(50000);
  ember_tree_t *big = make_tree(500000);
  printf("(built test trees in %.0f ms; median of %d runs each)\n",
         (double)(ember_mono_ns() - t0) / 1e6, RUNS);

  bench_single(mid, &m);
  bench_double(mid, &m);
  bench_collapsed(mid);
  bench_truncate(big, EMBER_QUERY_DEFAULT_MAX_NODES);
  ember_tree_t *cut = NULL;
  if (ember_tree_truncate(big, EMBER_QUERY_DEFAULT_MAX_NODES, &cut, NULL)) abort();
  m.max_nodes = EMBER_QUERY_DEFAULT_MAX_NODES;
  bench_single(cut, &m);
  m.max_nodes = -1;
  bench_single(big, &m);

  ember_tree_t *hundred = make_tree(100000);
  bench_functions(hundred, &m, "few names, deep recursion");
  bench_functions(big, &m, "few names, deep recursion");
  ember_tree_t *unique = make_unique_tree(100000);
  bench_functions(unique, &m, "a name per frame");

  ember_tree_free(unique);
  ember_tree_free(hundred);
  ember_tree_free(cut);
  ember_tree_free(mid);
  ember_tree_free(big);
  return 0;
}
