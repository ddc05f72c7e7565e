/*
 * render_svg.c - how long format=svg and format=html take, and how large
 * they get: a tree of 8,192 nodes (the default maxNodes), a 500,000-node
 * tree truncated to 8,192 nodes (plus its "other" buckets, as /render
 * draws it by default), and a 50,000-node tree drawn whole
 * (maxNodes=-1), single and diff. Bars under a tenth of a pixel are left
 * out, so "bars drawn" is less than the node count. Each timing is the
 * median of several runs. Run: build/bench/render_svg
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

/* Random stacks 4 to 40 frames deep over a few hundred names, hot paths
 * shared, on side; until t has at least nodes nodes. */
static void grow(ember_tree_t *t, size_t nodes, int side) {
  char names[40][48];
  ember_slice_t frames[40];
  while (ember_tree_count(t) < nodes) {
    size_t depth = 4 + rnd() % 37;
    uint32_t node = EMBER_TREE_ROOT;
    for (size_t d = 0; d < depth; d++) {
      uint64_t r = rnd() % 1000, k = (r * r * r) / 1000000 % 600;
      int len = snprintf(names[d], sizeof names[d], "pkg%u.Func%u", (unsigned)(k % 37),
                         (unsigned)k);
      frames[d] = ember_slice(names[d], (size_t)len);
      node = ember_tree_child(t, node, ember_tree_intern(t, frames[d].base, frames[d].len));
    }
    ember_tree_add(t, node, side, 1 + rnd() % 100);
  }
}

static int cmp_u64(const void *a, const void *b) {
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return x < y ? -1 : x > y;
}

enum { SVG, HTML, SVG_DIFF, HTML_DIFF };

static void bench(const char *label, int what, const ember_tree_t *t,
                  const ember_render_meta_t *m) {
  uint64_t ns[RUNS];
  size_t bytes = 0, bars = 0;
  for (int i = 0; i < RUNS; i++) {
    ember_buf_t b = EMBER_BUF_INIT;
    uint64_t t0 = ember_mono_ns();
    int rc;
    switch (what) {
    case SVG: rc = ember_render_svg(&b, t, m, NULL); break;
    case HTML: rc = ember_render_html(&b, t, m, NULL); break;
    case SVG_DIFF: rc = ember_render_svg_diff(&b, t, m, m, NULL); break;
    default: rc = ember_render_html_diff(&b, t, m, m, NULL);
    }
    if (rc) abort();
    ns[i] = ember_mono_ns() - t0;
    bytes = b.len;
    bars = 0;
    for (const char *p = strstr(b.data, "<g class"); p; p = strstr(p + 1, "<g class")) bars++;
    ember_buf_free(&b);
  }
  qsort(ns, RUNS, sizeof *ns, cmp_u64);
  printf("%-10s %7zu nodes  %8.2f ms  %9zu bytes  %6zu bars drawn\n", label,
         ember_tree_count(t), (double)ns[RUNS / 2] / 1e6, bytes, bars);
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
  m.max_nodes = EMBER_QUERY_DEFAULT_MAX_NODES;
  m.grid = ember_timeline_grid(m.from, m.until);

  ember_tree_t *big = ember_tree_new(), *mid = ember_tree_new(), *small = ember_tree_new();
  grow(small, EMBER_QUERY_DEFAULT_MAX_NODES, 0);
  grow(big, 500000, 0);
  grow(big, 1000000, 1); /* the right side of the diff: more of the same */
  grow(mid, 50000, 0);
  ember_tree_t *cut = NULL;
  if (ember_tree_truncate(big, EMBER_QUERY_DEFAULT_MAX_NODES, &cut, NULL)) abort();
  printf("(median of %d runs each)\n", RUNS);
  bench("svg", SVG, small, &m);
  bench("html", HTML, small, &m);
  bench("svg", SVG, cut, &m);
  bench("html", HTML, cut, &m);
  bench("svg diff", SVG_DIFF, cut, &m);
  bench("html diff", HTML_DIFF, cut, &m);
  m.max_nodes = -1;
  bench("svg", SVG, mid, &m);
  bench("html", HTML, mid, &m);
  ember_tree_free(small);
  ember_tree_free(cut);
  ember_tree_free(mid);
  ember_tree_free(big);
  return 0;
}
