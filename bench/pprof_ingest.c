/*
 * pprof_ingest.c - how fast one core turns gzipped pprof into profiles.
 *
 *   build/bench/pprof_ingest [cpu|heap] [SECONDS] [--dump FILE]
 *
 * Generates, from a fixed seed, the kind of profile a Go agent sends every
 * 10 s: "cpu" has the sample types samples/count and cpu/nanoseconds, 1,500
 * samples over 3,000 locations of 2,000 functions (stacks 10 to 40 deep
 * with shared prefixes, one sample in five with a label); "heap" has the
 * four alloc/inuse types and 6,000 samples. Each profile is packed with
 * protobuf-c and gzipped at level 1, as Go's runtime/pprof writes it.
 *
 * Then runs ember_ingest_parse on it in a loop on this thread for SECONDS
 * [5] and prints, per second of this thread's CPU: MB of gzipped input, MB
 * after gunzip, samples, and the share of the time gunzip alone takes
 * (measured apart), which bounds the rest. --dump writes the gzipped
 * profile to FILE (for ingest_load --file FILE --format pprof) and exits.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zlib.h>

#include "ember/ingest.h"
#include "pprof/profile.pb-c.h"

typedef Perftools__Profiles__Profile profile_t;

static uint64_t rnd(uint64_t *s) { /* splitmix64 */
  uint64_t z = (*s += 0x9E3779B97F4A7C15u);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9u;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBu;
  return z ^ (z >> 31);
}

static double cpu_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ---- A generated profile ------------------------------------------------- */

typedef struct {
  profile_t p;
  char **strings;
  size_t nstrings;
} gen_t;

static int64_t str(gen_t *g, const char *s) {
  g->strings = ember_realloc(g->strings, (g->nstrings + 1) * sizeof *g->strings);
  g->strings[g->nstrings] = ember_strdup(s);
  return (int64_t)g->nstrings++;
}

static Perftools__Profiles__ValueType *vtype(gen_t *g, const char *type, const char *unit) {
  Perftools__Profiles__ValueType *v = ember_calloc(1, sizeof *v);
  perftools__profiles__value_type__init(v);
  v->type = str(g, type);
  v->unit = str(g, unit);
  return v;
}

static void gen_types(gen_t *g, bool heap) {
  static const char *heap_types[][2] = {{"alloc_objects", "count"},
                                        {"alloc_space", "bytes"},
                                        {"inuse_objects", "count"},
                                        {"inuse_space", "bytes"}};
  profile_t *p = &g->p;
  p->n_sample_type = heap ? 4 : 2;
  p->sample_type = ember_calloc(p->n_sample_type, sizeof *p->sample_type);
  for (size_t i = 0; i < p->n_sample_type; i++)
    p->sample_type[i] = heap ? vtype(g, heap_types[i][0], heap_types[i][1])
                             : vtype(g, i ? "cpu" : "samples", i ? "nanoseconds" : "count");
  p->period_type = heap ? vtype(g, "space", "bytes") : vtype(g, "cpu", "nanoseconds");
  p->period = heap ? 524288 : 10000000;
  p->duration_nanos = 10000000000;
  p->time_nanos = 1700000000000000000;
}

/* Functions with Go-like names, and locations of one line each (one in
 * ten with an inlined call: two lines). */
static void gen_code(gen_t *g, uint64_t *s, size_t nfunc, size_t nloc) {
  static const char *pkgs[] = {"runtime", "net/http", "encoding/json", "main",
                               "github.com/acme/api", "database/sql", "sync", "io"};
  profile_t *p = &g->p;
  p->n_mapping = 1;
  p->mapping = ember_calloc(1, sizeof *p->mapping);
  p->mapping[0] = ember_calloc(1, sizeof **p->mapping);
  perftools__profiles__mapping__init(p->mapping[0]);
  p->mapping[0]->id = 1;
  p->mapping[0]->filename = str(g, "/usr/local/bin/server");
  p->mapping[0]->has_functions = 1;
  p->n_function = nfunc;
  p->function = ember_calloc(nfunc, sizeof *p->function);
  for (size_t i = 0; i < nfunc; i++) {
    char name[128], file[128];
    const char *pkg = pkgs[rnd(s) % 8];
    snprintf(name, sizeof name, "%s.(*handler%zu).serve%zu", pkg, i % 97, i);
    snprintf(file, sizeof file, "/src/%s/file%zu.go", pkg, i % 41);
    Perftools__Profiles__Function *f = ember_calloc(1, sizeof *f);
    perftools__profiles__function__init(f);
    f->id = i + 1;
    f->name = f->system_name = str(g, name);
    f->filename = str(g, file);
    p->function[i] = f;
  }
  p->n_location = nloc;
  p->location = ember_calloc(nloc, sizeof *p->location);
  for (size_t i = 0; i < nloc; i++) {
    Perftools__Profiles__Location *l = ember_calloc(1, sizeof *l);
    perftools__profiles__location__init(l);
    l->id = i + 1;
    l->mapping_id = 1;
    l->address = 0x400000 + 16 * i;
    l->n_line = rnd(s) % 10 == 0 ? 2 : 1;
    l->line = ember_calloc(l->n_line, sizeof *l->line);
    for (size_t k = 0; k < l->n_line; k++) {
      Perftools__Profiles__Line *ln = ember_calloc(1, sizeof *ln);
      perftools__profiles__line__init(ln);
      ln->function_id = 1 + rnd(s) % nfunc;
      ln->line = (int64_t)(1 + rnd(s) % 900);
      l->line[k] = ln;
    }
    p->location[i] = l;
  }
}

/* Samples whose stacks share prefixes, 10 to 40 locations deep. */
static void gen_samples(gen_t *g, uint64_t *s, size_t n, size_t nloc) {
  profile_t *p = &g->p;
  p->n_sample = n;
  p->sample = ember_calloc(n, sizeof *p->sample);
  int64_t span = str(g, "span"), kind = str(g, "kind");
  for (size_t i = 0; i < n; i++) {
    Perftools__Profiles__Sample *x = ember_calloc(1, sizeof *x);
    perftools__profiles__sample__init(x);
    size_t depth = 10;
    while (depth < 40 && rnd(s) % 100 < 62) depth += 1 + rnd(s) % 3;
    if (depth > 40) depth = 40;
    x->n_location_id = depth;
    x->location_id = ember_calloc(depth, sizeof *x->location_id);
    /* Root last (pprof is leaf first): a shared root part, then its own. */
    const Perftools__Profiles__Sample *o = i ? p->sample[rnd(s) % i] : NULL;
    size_t shared = o ? rnd(s) % (o->n_location_id < depth ? o->n_location_id : depth) : 0;
    for (size_t d = 0; d < depth; d++) {
      size_t from_root = depth - 1 - d;
      x->location_id[d] = from_root < shared
                              ? o->location_id[o->n_location_id - 1 - from_root]
                              : 1 + rnd(s) % nloc;
    }
    x->n_value = p->n_sample_type;
    x->value = ember_calloc(x->n_value, sizeof *x->value);
    for (size_t v = 0; v < x->n_value; v++) x->value[v] = (int64_t)(1 + rnd(s) % 50) * (v ? 10000000 : 1);
    if (rnd(s) % 5 == 0) {
      x->n_label = 2;
      x->label = ember_calloc(2, sizeof *x->label);
      for (int k = 0; k < 2; k++) {
        x->label[k] = ember_calloc(1, sizeof **x->label);
        perftools__profiles__label__init(x->label[k]);
      }
      x->label[0]->key = span;
      char v[32];
      snprintf(v, sizeof v, "op%d", (int)(rnd(s) % 8));
      x->label[0]->str = str(g, v);
      x->label[1]->key = kind;
      x->label[1]->str = str(g, rnd(s) % 2 ? "read" : "write");
    }
    p->sample[i] = x;
  }
}

/* The packed, gzipped profile (caller frees). The generated structures
 * are left to the process's end: this is a benchmark. */
static uint8_t *generate(bool heap, size_t *len) {
  gen_t g = {0};
  uint64_t seed = 20240601;
  perftools__profiles__profile__init(&g.p);
  str(&g, "");
  gen_types(&g, heap);
  gen_code(&g, &seed, 2000, 3000);
  gen_samples(&g, &seed, heap ? 6000 : 1500, 3000);
  g.p.n_string_table = g.nstrings;
  g.p.string_table = g.strings;
  size_t raw_len = perftools__profiles__profile__get_packed_size(&g.p);
  uint8_t *raw = ember_malloc(raw_len);
  perftools__profiles__profile__pack(&g.p, raw);
  uLongf cap = compressBound(raw_len) + 64;
  uint8_t *gz = ember_malloc(cap);
  z_stream z;
  memset(&z, 0, sizeof z);
  deflateInit2(&z, 1, Z_DEFLATED, 31, 8, Z_DEFAULT_STRATEGY);
  z.next_in = raw;
  z.avail_in = (uInt)raw_len;
  z.next_out = gz;
  z.avail_out = (uInt)cap;
  if (deflate(&z, Z_FINISH) != Z_STREAM_END) abort();
  *len = cap - z.avail_out;
  deflateEnd(&z);
  free(raw);
  return gz;
}

/* ---- Timing -------------------------------------------------------------- */

/* CPU seconds one gunzip of the body takes, and its output size. */
static double gunzip_cost(const uint8_t *gz, size_t len, size_t *out_len) {
  size_t cap = 64 << 20;
  uint8_t *out = ember_malloc(cap);
  int rounds = 0;
  double t0 = cpu_now();
  do {
    z_stream z;
    memset(&z, 0, sizeof z);
    inflateInit2(&z, 31);
    z.next_in = (Bytef *)gz;
    z.avail_in = (uInt)len;
    z.next_out = out;
    z.avail_out = (uInt)cap;
    if (inflate(&z, Z_FINISH) != Z_STREAM_END) abort();
    *out_len = cap - z.avail_out;
    inflateEnd(&z);
    rounds++;
  } while (cpu_now() - t0 < 1.0);
  free(out);
  return (cpu_now() - t0) / rounds;
}

int main(int argc, char **argv) {
  bool heap = argc > 1 && !strcmp(argv[1], "heap");
  double secs = argc > 2 ? atof(argv[2]) : 5;
  size_t len;
  uint8_t *gz = generate(heap, &len);
  for (int i = 1; i + 1 < argc; i++) {
    if (strcmp(argv[i], "--dump")) continue;
    FILE *f = fopen(argv[i + 1], "wb");
    if (!f || fwrite(gz, 1, len, f) != len) return 1;
    fclose(f);
    return 0;
  }
  ember_ingest_request_t req = {
      .name = "bench", .format = "pprof", .body = gz, .body_len = len,
      .max_body = (size_t)32 << 20, .now = 1700000010, .from = "1700000000",
      .until = "1700000010",
  };
  uint64_t samples = 0, profiles = 0;
  size_t outputs = 0;
  int rounds = 0;
  double t0 = cpu_now();
  while (cpu_now() - t0 < secs) {
    ember_ingest_result_t res;
    ember_err_t err;
    if (ember_ingest_parse(&req, &res, &err)) {
      fprintf(stderr, "parse failed: %s\n", err.msg);
      return 1;
    }
    outputs = res.n;
    for (size_t i = 0; i < res.n; i++) profiles++;
    samples += heap ? 6000 : 1500;
    ember_ingest_result_free(&res);
    rounds++;
  }
  double cpu = cpu_now() - t0;
  size_t raw_len;
  double gunzip = gunzip_cost(gz, len, &raw_len);
  double per = cpu / rounds;
  printf("%s profile: %zu KB gzipped, %zu KB unpacked, %d samples, %zu profiles out\n",
         heap ? "heap" : "cpu", len / 1000, raw_len / 1000, heap ? 6000 : 1500, outputs);
  printf("one core: %.2f ms per profile = %.1f MB/s of gzipped input (%.1f MB/s "
         "unpacked), %.0f samples/s\n",
         per * 1e3, (double)len / per / 1e6, (double)raw_len / per / 1e6,
         (double)samples / cpu);
  printf("gunzip alone: %.2f ms (%.0f%% of the time), %.1f MB/s of gzipped input\n",
         gunzip * 1e3, gunzip / per * 100, (double)len / gunzip / 1e6);
  (void)profiles;
  free(gz);
  return 0;
}
