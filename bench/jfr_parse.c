/*
 * jfr_parse.c - how fast a JFR push is read: recording to profiles (the
 * work of a worker thread before the store sees anything), in megabytes of
 * recording per second.
 *
 *   build/bench/jfr_parse [file.jfr[.gz]] [runs]
 *
 * Defaults: tests/data/jfr/jdk17_hot.jfr.gz, 20 runs. The file is
 * decompressed first when gzipped, so the rate is of the recording itself;
 * the median run is reported, with what the push gives (profiles,
 * samples). A larger recording: record examples/java/HotMethods.java for
 * longer (examples/java/README.md).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "ember/ingest.h"
#include "ember/series.h"

static int cmp_u64(const void *a, const void *b) {
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return x < y ? -1 : x > y;
}

/* The file, gunzipped when it is gzipped. Caller frees. */
static uint8_t *load(const char *path, size_t *len) {
  gzFile f = gzopen(path, "rb"); /* reads plain files as they are */
  if (!f) {
    fprintf(stderr, "jfr_parse: cannot open %s\n", path);
    exit(1);
  }
  size_t cap = 1 << 20, n = 0;
  uint8_t *b = malloc(cap);
  int k;
  while ((k = gzread(f, b + n, (unsigned)(cap - n))) > 0)
    if ((n += (size_t)k) == cap) b = realloc(b, cap *= 2);
  gzclose(f);
  *len = n;
  return b;
}

int main(int argc, char **argv) {
  const char *path = argc > 1 ? argv[1] : "tests/data/jfr/jdk17_hot.jfr.gz";
  int runs = argc > 2 ? atoi(argv[2]) : 20;
  if (runs < 1) runs = 1;
  size_t len;
  uint8_t *jfr = load(path, &len);
  ember_profile_t base;
  memset(&base, 0, sizeof base);
  ember_err_t err;
  if (ember_series_key_parse("bench{env=b}", 12, &base.key, &err)) return 1;
  base.from = 1700000000;
  base.until = 1700000010;
  base.sample_rate = 100;
  base.spy_name = strdup("javaspy");
  base.units = strdup("samples");
  uint64_t *ns = calloc((size_t)runs, sizeof *ns);
  size_t profiles = 0;
  uint64_t samples = 0;
  for (int i = 0; i < runs; i++) {
    ember_ingest_result_t res;
    uint64_t t0 = ember_mono_ns();
    int rc = ember_ingest_jfr(&base, "cpu", NULL, jfr, len, (size_t)1 << 30, &res, &err);
    ns[i] = ember_mono_ns() - t0;
    if (rc) {
      fprintf(stderr, "jfr_parse: %s\n", err.msg);
      return 1;
    }
    profiles = res.n;
    samples = 0;
    for (size_t p = 0; p < res.n; p++)
      if (!strcmp(res.items[p].units, "samples")) samples += ember_tree_total(res.items[p].tree, 0);
    ember_ingest_result_free(&res);
  }
  qsort(ns, (size_t)runs, sizeof *ns, cmp_u64);
  double median = (double)ns[runs / 2] / 1e9;
  printf("%s: %.2f MB of recording read in %.2f ms (median of %d): %.0f MB/s; %zu "
         "profiles, %llu execution samples\n",
         path, (double)len / 1e6, median * 1e3, runs, (double)len / 1e6 / median, profiles,
         (unsigned long long)samples);
  free(ns);
  free(jfr);
  ember_profile_free(&base);
  return 0;
}
