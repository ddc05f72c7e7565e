/*
 * store_write.c - write throughput and size on disk of the SQLite store.
 *
 *   build/bench/store_write [rounds] [series] [dir]
 *
 * Simulates `series` agents (one series each, app bench.cpu{pod=...})
 * pushing a 10 s CPU profile every round: about 800 distinct stacks of
 * depth 6-40 drawn from a fixed universe of 5000 (so the dictionary settles
 * as it does for a real service), about 4,400 samples per push. Profiles
 * are built before the clock starts; the timed part is ember_store_submit
 * of every push of a chunk of rounds and waiting for every answer, which is
 * what the HTTP layer's requests cost the writer. Then one maintenance pass
 * (compaction and rollups) is timed, and the size on disk is reported per
 * stored sample before and after it. dir defaults to a new temporary
 * directory, removed at the end.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ember/store.h"

/* From src/store/store_int.h (not on the benchmark's include path): one
 * maintenance pass, retention and compaction, as if the time were now. */
int ember_maint_pass(ember_store_t *s, int64_t now, ember_err_t *err);

#define UNIVERSE 5000
#define NAMES 3000
#define STACKS_PER_PUSH 800
#define CHUNK_ROUNDS 10
#define T0 4000000000LL /* future: the background maintenance pass skips it */

typedef struct {
  uint32_t *frames; /* name ids, root first */
  size_t n;
} ustack_t;

static char names[NAMES][96];
static ustack_t universe[UNIVERSE];

static uint64_t rng = 88172645463325252ull;
static uint64_t next_rand(void) { /* xorshift64: fixed, portable sequence */
  rng ^= rng << 13;
  rng ^= rng >> 7;
  rng ^= rng << 17;
  return rng;
}

static void build_universe(void) {
  for (int i = 0; i < NAMES; i++)
    snprintf(names[i], sizeof names[i], "github.com/acme/svc/pkg%d.(*Type%d).Method%d",
             i % 97, i % 31, i);
  /* Stack i extends a random earlier stack by 1-4 frames, so prefixes are
   * shared the way call paths of one program are. */
  for (int i = 0; i < UNIVERSE; i++) {
    const ustack_t *parent = i ? &universe[next_rand() % (uint64_t)i] : NULL;
    size_t base = parent ? parent->n : 0, extra = i ? 1 + next_rand() % 4 : 6;
    if (base + extra > 40) base = 40 - extra;
    ustack_t *s = &universe[i];
    s->n = base + extra;
    s->frames = malloc(s->n * sizeof *s->frames);
    if (base) memcpy(s->frames, parent->frames, base * sizeof *s->frames);
    for (size_t k = base; k < s->n; k++) s->frames[k] = (uint32_t)(next_rand() % NAMES);
  }
}

/* One push: a tree over ~STACKS_PER_PUSH stacks, skewed towards the low
 * (hot) end of the universe. Returns its sample count. */
static uint64_t make_push(ember_profile_t *p, int series, int64_t t) {
  char key[64];
  snprintf(key, sizeof key, "bench.cpu{pod=pod-%d,region=eu}", series);
  memset(p, 0, sizeof *p);
  if (ember_series_key_parse(key, strlen(key), &p->key, NULL) != 0) abort();
  p->from = t;
  p->until = t + 10;
  p->sample_rate = 100;
  p->spy_name = strdup("gospy");
  p->units = strdup("samples");
  p->tree = ember_tree_new();
  ember_slice_t f[40];
  uint64_t samples = 0;
  for (int i = 0; i < STACKS_PER_PUSH; i++) {
    double u = (double)(next_rand() % 1000000) / 1e6;
    const ustack_t *s = &universe[(size_t)(u * u * UNIVERSE)];
    for (size_t k = 0; k < s->n; k++)
      f[k] = ember_slice(names[s->frames[k]], strlen(names[s->frames[k]]));
    uint64_t v = 1 + next_rand() % 10;
    ember_tree_add_stack(p->tree, f, s->n, v);
    samples += v;
  }
  return samples;
}

typedef struct {
  pthread_mutex_t m;
  pthread_cond_t c;
  size_t pending;
  int failures;
} waitall_t;

static void on_done(void *ctx, int rc, const ember_err_t *err) {
  waitall_t *w = ctx;
  pthread_mutex_lock(&w->m);
  if (rc != 0) {
    w->failures++;
    fprintf(stderr, "write failed: %s\n", err->msg);
  }
  w->pending--;
  pthread_cond_signal(&w->c);
  pthread_mutex_unlock(&w->m);
}

static uint64_t dir_bytes(const char *dir) {
  const char *sfx[] = {"ember.db", "ember.db-wal"};
  uint64_t n = 0;
  char p[1024];
  for (int i = 0; i < 2; i++) {
    struct stat st;
    snprintf(p, sizeof p, "%s/%s", dir, sfx[i]);
    if (stat(p, &st) == 0) n += (uint64_t)st.st_size;
  }
  return n;
}

static ember_store_t *open_or_die(const char *dir) {
  ember_store_config_t cfg = {.data_dir = dir};
  ember_store_t *s;
  ember_err_t err;
  if (ember_store_open(&cfg, &s, &err) != 0) {
    fprintf(stderr, "store_write: %s\n", err.msg);
    exit(1);
  }
  return s;
}

/* Submits every push of rounds [r0, r1) and waits for all answers.
 * Returns nanoseconds spent, adds to *samples. */
static uint64_t write_chunk(ember_store_t *s, int r0, int r1, int series,
                            uint64_t *samples, waitall_t *w) {
  size_t n = (size_t)(r1 - r0) * (size_t)series;
  ember_ingest_result_t *reqs = calloc(n, sizeof *reqs);
  for (size_t i = 0; i < n; i++) {
    reqs[i].items = calloc(1, sizeof *reqs[i].items);
    reqs[i].n = 1;
    int r = r0 + (int)(i / (size_t)series);
    *samples += make_push(&reqs[i].items[0], (int)(i % (size_t)series), T0 + 10 * r);
  }
  uint64_t t0 = ember_mono_ns();
  for (size_t i = 0; i < n; i++) {
    pthread_mutex_lock(&w->m);
    w->pending++;
    pthread_mutex_unlock(&w->m);
    ember_err_t err;
    int rc;
    while ((rc = ember_store_submit(s, &reqs[i], on_done, w, &err)) == EMBER_EBUSY)
      usleep(100);
    if (rc != 0) {
      fprintf(stderr, "submit failed: %s\n", err.msg);
      exit(1);
    }
  }
  pthread_mutex_lock(&w->m);
  while (w->pending) pthread_cond_wait(&w->c, &w->m);
  pthread_mutex_unlock(&w->m);
  uint64_t ns = ember_mono_ns() - t0;
  for (size_t i = 0; i < n; i++) ember_ingest_result_free(&reqs[i]);
  free(reqs);
  return ns;
}

int main(int argc, char **argv) {
  int rounds = argc > 1 ? atoi(argv[1]) : 120;
  int series = argc > 2 ? atoi(argv[2]) : 50;
  char tmpl[] = "/tmp/ember-bench-XXXXXX";
  const char *dir = argc > 3 ? argv[3] : mkdtemp(tmpl);
  if (rounds <= 0 || series <= 0 || !dir) {
    fprintf(stderr, "usage: store_write [rounds] [series] [dir]\n");
    return 2;
  }
  build_universe();
  ember_store_t *s = open_or_die(dir);
  waitall_t w = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0};
  uint64_t samples = 0, ns = 0;
  for (int r = 0; r < rounds; r += CHUNK_ROUNDS)
    ns += write_chunk(s, r, r + CHUNK_ROUNDS < rounds ? r + CHUNK_ROUNDS : rounds, series,
                      &samples, &w);
  ember_store_stats_t st;
  ember_store_stats(s, &st);
  ember_store_close(s); /* checkpoints the WAL into the file */
  uint64_t bytes = dir_bytes(dir);
  double secs = (double)ns / 1e9;
  printf("rows written        %llu in %llu commits (%d series x %d rounds)\n",
         (unsigned long long)st.rows_written, (unsigned long long)st.commits, series,
         rounds);
  printf("write throughput    %.0f rows/s, %.0f samples/s (%.2f s)\n",
         (double)st.rows_written / secs, (double)samples / secs, secs);
  printf("on disk             %.2f MiB, %.3f bytes/sample, %.0f bytes/row\n",
         (double)bytes / 1048576.0, (double)bytes / (double)samples,
         (double)bytes / (double)st.rows_written);
  s = open_or_die(dir);
  ember_err_t err;
  uint64_t t0 = ember_mono_ns();
  if (ember_maint_pass(s, T0 + 10LL * rounds + 100000, &err) != 0)
    fprintf(stderr, "maintenance failed: %s\n", err.msg);
  double msecs = (double)(ember_mono_ns() - t0) / 1e9;
  ember_store_close(s);
  bytes = dir_bytes(dir);
  printf("rollups built in    %.2f s; on disk after: %.2f MiB, %.3f bytes/sample\n",
         msecs, (double)bytes / 1048576.0, (double)bytes / (double)samples);
  if (argc <= 3) {
    char p[1024];
    const char *files[] = {"ember.db", "ember.db-wal", "ember.db-shm"};
    for (int i = 0; i < 3; i++) {
      snprintf(p, sizeof p, "%s/%s", dir, files[i]);
      unlink(p);
    }
    rmdir(dir);
  }
  return w.failures ? 1 : 0;
}
