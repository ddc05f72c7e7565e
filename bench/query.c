/*
 * query.c - query latency of a large app, as the UI asks for it.
 *
 *   build/bench/query [--days N] [--series N] [--stacks N] [--universe N]
 *                     [--zipf S] [--seed N] [--dir DIR] [--keep] [--reuse]
 *                     [--phase fill|before|after|both] [--clients LIST]
 *                     [--requests N] [--budget S] [--ingest-rate R|auto]
 *                     [--ember PATH] [--server-arg ARG]...
 *
 * Fills a data directory with --days (7) of 10 s data of one app,
 * bench.cpu: --series (20) series, labels region x endpoint with four
 * regions, so that region="eu-west" selects a quarter of them; each bucket
 * of each series holds --stacks (2,000) distinct stacks drawn from a Zipf
 * distribution (exponent --zipf, 1.1) over a universe of --universe
 * (50,000) call stacks 10 to 40 frames deep that share prefixes, as the
 * call paths of one program do. The values are how often each stack was
 * drawn. Everything comes from --seed. It prints the fill time and the
 * size of the database.
 *
 * The fill goes around the server: one push through the store creates the
 * series and the dictionary (every stack of the universe, hot ones first,
 * as a real app's first pushes number them), then the bucket rows are
 * encoded with the store's own codec on two threads and inserted straight
 * into the database, with no journal, many per transaction: 7 days (1.2
 * million rows, 4.7 GiB) take minutes, where pushing them would take an
 * hour. The rows are what the writer would have stored for one push per
 * series and bucket; what the writer would also have listed for the
 * maintenance pass (rollup_todo) is left out, so the data stays as it is
 * right after loading until the "after" phase lists it.
 *
 * Each phase starts the real `ember serve` on the directory (127.0.0.1, a
 * free port, --query-timeout 300, its database dropped from the page cache
 * first) and prints when it listened and first answered /healthz; runs a
 * second app's ingest at --ingest-rate pushes per second (auto: half of
 * what the server took in 5 s of pushing as fast as it answers, measured
 * once); and measures p50 and p99 of /render for the whole app and for one
 * region over 1 h, 24 h and 7 d, of /render-diff of the last two 24 h and
 * of the tag explorer (/api/explore) splitting the whole app by region over
 * 24 h and 7 d, with each client count of --clients (1,16), each client on
 * its own keep-alive connection. Phase "before" is right after loading, with no
 * rollups. Phase "after" lists every period for rollup, restarts the
 * server, prints when the last 24 h and when all of it were rolled up, and
 * measures again. The server's peak resident memory is printed after each
 * block of clients (the peak is reset before it). With --ingest-rate 0 the
 * server's CPU per request is printed too.
 *
 * The ranges end at the end of the data, so both phases read the same
 * rows. A measurement makes --requests (20) requests after one warm-up
 * (with 16 clients, at least 4 each), or stops after --budget (20)
 * seconds; a warm-up that alone takes longer is the only sample, and 16
 * clients are not tried when one request takes over 2 s. p99 of a few
 * dozen requests is their slowest. 503s are counted and retried after
 * 10 ms; the latency includes the retries. --phase fill only fills (use
 * --keep, then --reuse to measure the same directory again).
 *
 * Bad options exit 2; a failure of the server or the fill exits 1.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <math.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "ember/store.h"
#include "store/segment.h"

/* ---- Options ----------------------------------------------------------- */

#define MAX_CLIENTS 64
#define MAX_SERVER_ARGS 16
#define BUCKET 10
#define REGIONS 4

typedef struct {
  int days, series, stacks, universe;
  double zipf;
  uint64_t seed;
  const char *dir;
  bool keep, reuse;
  bool before, after;
  int clients[8], nclients;
  int requests;
  double budget;
  double ingest_rate; /* pushes/s; < 0: auto */
  const char *ember;
  const char *server_args[MAX_SERVER_ARGS];
  int nserver_args;
} opts_t;

static opts_t O = {.days = 7,
                   .series = 20,
                   .stacks = 2000,
                   .universe = 50000,
                   .zipf = 1.1,
                   .seed = 1,
                   .before = true,
                   .after = true,
                   .clients = {1, 16},
                   .nclients = 2,
                   .requests = 20,
                   .budget = 20,
                   .ingest_rate = -1};

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void die(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fprintf(stderr, "query: ");
  vfprintf(stderr, fmt, ap);
  fprintf(stderr, "\n");
  va_end(ap);
  exit(1);
}

static void usage_error(const char *what, const char *value) {
  fprintf(stderr, "query: %s '%s'; see the comment at the top of bench/query.c\n", what,
          value ? value : "");
  exit(2);
}

static long parse_long(const char *name, const char *v, long lo, long hi) {
  char *end;
  errno = 0;
  long n = strtol(v, &end, 10);
  if (errno || end == v || *end || n < lo || n > hi) usage_error(name, v);
  return n;
}

static void parse_clients(const char *v) {
  O.nclients = 0;
  char buf[128];
  snprintf(buf, sizeof buf, "%s", v);
  for (char *tok = strtok(buf, ","); tok; tok = strtok(NULL, ",")) {
    if (O.nclients == 8) usage_error("too many client counts in --clients", v);
    O.clients[O.nclients++] = (int)parse_long("bad --clients", tok, 1, MAX_CLIENTS);
  }
  if (!O.nclients) usage_error("bad --clients", v);
}

static void parse_opts(int argc, char **argv) {
  static const struct option opts[] = {
      {"days", 1, 0, 'd'},     {"series", 1, 0, 's'},      {"stacks", 1, 0, 'k'},
      {"universe", 1, 0, 'u'}, {"zipf", 1, 0, 'z'},        {"seed", 1, 0, 'S'},
      {"dir", 1, 0, 'D'},      {"keep", 0, 0, 'K'},        {"reuse", 0, 0, 'R'},
      {"phase", 1, 0, 'p'},    {"clients", 1, 0, 'c'},     {"requests", 1, 0, 'n'},
      {"budget", 1, 0, 'b'},   {"ingest-rate", 1, 0, 'i'}, {"ember", 1, 0, 'e'},
      {"server-arg", 1, 0, 'a'}, {0, 0, 0, 0}};
  int c;
  opterr = 0;
  while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
    switch (c) {
    case 'd': O.days = (int)parse_long("bad --days", optarg, 1, 365); break;
    case 's': O.series = (int)parse_long("bad --series", optarg, 1, 1000); break;
    case 'k': O.stacks = (int)parse_long("bad --stacks", optarg, 1, 100000); break;
    case 'u': O.universe = (int)parse_long("bad --universe", optarg, 10, 2000000); break;
    case 'z':
      O.zipf = atof(optarg);
      if (O.zipf <= 0 || O.zipf > 4) usage_error("bad --zipf", optarg);
      break;
    case 'S': O.seed = (uint64_t)parse_long("bad --seed", optarg, 0, LONG_MAX); break;
    case 'D': O.dir = optarg; break;
    case 'K': O.keep = true; break;
    case 'R': O.reuse = O.keep = true; break;
    case 'p':
      O.before = !strcmp(optarg, "before") || !strcmp(optarg, "both");
      O.after = !strcmp(optarg, "after") || !strcmp(optarg, "both");
      if (!O.before && !O.after && strcmp(optarg, "fill"))
        usage_error("bad --phase (fill, before, after or both)", optarg);
      break;
    case 'c': parse_clients(optarg); break;
    case 'n': O.requests = (int)parse_long("bad --requests", optarg, 1, 100000); break;
    case 'b':
      O.budget = atof(optarg);
      if (O.budget <= 0) usage_error("bad --budget", optarg);
      break;
    case 'i':
      if (!strcmp(optarg, "auto")) O.ingest_rate = -1;
      else if ((O.ingest_rate = atof(optarg)) < 0) usage_error("bad --ingest-rate", optarg);
      break;
    case 'e': O.ember = optarg; break;
    case 'a':
      if (O.nserver_args == MAX_SERVER_ARGS) usage_error("too many --server-arg", optarg);
      O.server_args[O.nserver_args++] = optarg;
      break;
    default: usage_error("unknown option", argv[optind - 1]);
    }
  }
  if (optind < argc) usage_error("unexpected argument", argv[optind]);
  if (O.stacks * 2 > O.universe)
    usage_error("--universe must be at least twice --stacks", "");
  if (O.reuse && !O.dir) usage_error("--reuse needs --dir", "");
}

/* ---- Random numbers and the Zipf distribution -------------------------- */

typedef struct {
  uint64_t s;
} rng_t;

static uint64_t rng_next(rng_t *r) { /* splitmix64 */
  uint64_t z = (r->s += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

static rng_t rng_for(uint64_t a, uint64_t b, uint64_t c) {
  rng_t r = {O.seed * 0x2545f4914f6cdd1dull ^ a};
  r.s = rng_next(&r) ^ b;
  r.s = rng_next(&r) ^ c;
  return r;
}

static uint32_t rng_below(rng_t *r, uint32_t n) {
  return (uint32_t)(((rng_next(r) >> 32) * (uint64_t)n) >> 32);
}

/* Walker's alias table: a draw of rank k (0 = most frequent) with
 * probability proportional to 1 / (k + 1)^s, in constant time. */
typedef struct {
  uint32_t n;
  uint32_t *alias;
  uint32_t *cut; /* probability of keeping the slot, scaled to 2^32 */
} zipf_t;

static void zipf_init(zipf_t *z, uint32_t n, double s) {
  double *p = malloc(n * sizeof *p), sum = 0;
  uint32_t *small = malloc(n * sizeof *small), *large = malloc(n * sizeof *large);
  size_t ns = 0, nl = 0;
  for (uint32_t k = 0; k < n; k++) sum += p[k] = pow(k + 1.0, -s);
  z->n = n;
  z->alias = malloc(n * sizeof *z->alias);
  z->cut = malloc(n * sizeof *z->cut);
  for (uint32_t k = 0; k < n; k++) {
    p[k] = p[k] * n / sum;
    if (p[k] < 1) small[ns++] = k;
    else large[nl++] = k;
  }
  while (ns && nl) {
    uint32_t a = small[--ns], b = large[nl - 1];
    z->cut[a] = (uint32_t)fmin(p[a] * 4294967296.0, 4294967295.0);
    z->alias[a] = b;
    p[b] -= 1 - p[a];
    if (p[b] < 1) {
      nl--;
      small[ns++] = b;
    }
  }
  /* What is left is 1 up to rounding: kept whole. */
  while (nl) {
    uint32_t k = large[--nl];
    z->cut[k] = UINT32_MAX;
    z->alias[k] = k;
  }
  while (ns) {
    uint32_t k = small[--ns];
    z->cut[k] = UINT32_MAX;
    z->alias[k] = k;
  }
  free(p);
  free(small);
  free(large);
}

static uint32_t zipf_draw(const zipf_t *z, rng_t *r) {
  uint64_t x = rng_next(r);
  uint32_t k = (uint32_t)(((x >> 32) * (uint64_t)z->n) >> 32);
  return (uint32_t)x <= z->cut[k] ? k : z->alias[k];
}

/* ---- The universe of call stacks --------------------------------------- */

#define MIN_DEPTH 10
#define MAX_DEPTH 40

typedef struct {
  uint32_t *frames; /* name indexes, root first */
  uint32_t depth;
} element_t;

static char **names;
static uint32_t nnames;
static element_t *elems; /* the universe; each element is a sampled stack */
static zipf_t zipf;
/* Per series, rank -> universe element: series share most hot code but
 * not all (each endpoint runs its own handlers). */
static uint32_t **rank_elem;

static void build_names(rng_t *r) {
  static const char *const pkgs[] = {"runtime", "net/http", "encoding/json",
                                     "database/sql", "github.com/acme/shop/internal/cart",
                                     "github.com/acme/shop/internal/orders",
                                     "github.com/acme/shop/internal/search",
                                     "github.com/acme/shop/pkg/cache",
                                     "google.golang.org/grpc/internal/transport",
                                     "github.com/jackc/pgx/v5/pgconn"};
  static const char *const verbs[] = {"Get", "Put", "Handle", "Serve", "Decode", "Encode",
                                      "Lookup", "Write", "Read", "Flush", "Marshal", "Scan"};
  nnames = (uint32_t)O.universe / 2 + 64;
  names = malloc(nnames * sizeof *names);
  for (uint32_t i = 0; i < nnames; i++) {
    char buf[160];
    snprintf(buf, sizeof buf, "%s.(*%s%u).%s%u", pkgs[rng_below(r, 10)],
             verbs[rng_below(r, 12)], rng_below(r, 400), verbs[rng_below(r, 12)], i);
    names[i] = strdup(buf);
  }
}

/* Element i extends an earlier one by 1-4 frames; the first few are
 * roots of depth MIN_DEPTH (a runtime and server prefix). Depth stays in
 * [MIN_DEPTH, MAX_DEPTH]: an extension that would pass it starts from a
 * root instead. */
static void build_universe(void) {
  rng_t r = rng_for(1, 0, 0);
  build_names(&r);
  uint32_t n = (uint32_t)O.universe, roots = 16;
  elems = calloc(n, sizeof *elems);
  for (uint32_t i = 0; i < n; i++) {
    const element_t *base = NULL;
    uint32_t extra = MIN_DEPTH;
    if (i >= roots) {
      base = &elems[rng_below(&r, i)];
      extra = 1 + rng_below(&r, 4);
      if (base->depth + extra > MAX_DEPTH) base = &elems[rng_below(&r, roots)];
    }
    element_t *e = &elems[i];
    e->depth = (base ? base->depth : 0) + extra;
    e->frames = malloc(e->depth * sizeof *e->frames);
    if (base) memcpy(e->frames, base->frames, base->depth * sizeof *e->frames);
    for (uint32_t k = base ? base->depth : 0; k < e->depth; k++)
      e->frames[k] = i < roots && k < 6 ? k : 64 + rng_below(&r, nnames - 64);
  }
  zipf_init(&zipf, n, O.zipf);
  /* A common order of elements by heat, then per series a quarter of the
   * ranks swapped with a nearby rank. */
  uint32_t *base = malloc(n * sizeof *base);
  for (uint32_t i = 0; i < n; i++) base[i] = i;
  for (uint32_t i = n - 1; i > 0; i--) {
    uint32_t j = rng_below(&r, i + 1), t = base[i];
    base[i] = base[j];
    base[j] = t;
  }
  rank_elem = malloc((size_t)O.series * sizeof *rank_elem);
  for (int s = 0; s < O.series; s++) {
    uint32_t *p = rank_elem[s] = malloc(n * sizeof *p);
    memcpy(p, base, n * sizeof *p);
    rng_t rs = rng_for(2, (uint64_t)s, 0);
    for (uint32_t k = 0; k < n / 4; k++) {
      uint32_t i = rng_below(&rs, n), span = i + 16 < n - i ? i + 16 : n - i;
      uint32_t j = i + rng_below(&rs, span), t = p[i];
      p[i] = p[j];
      p[j] = t;
    }
  }
  free(base);
}

/* One bucket's draws for a series: the number of draws of each rank, for
 * O.stacks distinct ranks. counts is zero on entry and left zero; the
 * drawn ranks go to ranks[] with their counts in vals[]. Returns how many. */
static size_t draw_bucket(rng_t *r, uint32_t *counts, uint32_t *ranks, uint32_t *vals) {
  size_t n = 0, draws = 0, cap = (size_t)O.stacks * 50;
  while (n < (size_t)O.stacks && draws++ < cap) {
    uint32_t k = zipf_draw(&zipf, r);
    if (counts[k]++ == 0) ranks[n++] = k;
  }
  for (size_t i = 0; i < n; i++) {
    vals[i] = counts[ranks[i]];
    counts[ranks[i]] = 0;
  }
  return n;
}

/* Folded text of one bucket of series 0's distribution, for the ingest
 * load. Caller frees. */
static char *folded_body(size_t *len, size_t *lines) {
  uint32_t *counts = calloc(O.universe, sizeof *counts);
  uint32_t *ranks = malloc(O.stacks * sizeof *ranks), *vals = malloc(O.stacks * sizeof *vals);
  rng_t r = rng_for(3, 0, 0);
  size_t n = draw_bucket(&r, counts, ranks, vals);
  ember_buf_t b = EMBER_BUF_INIT;
  for (size_t i = 0; i < n; i++) {
    const element_t *e = &elems[rank_elem[0][ranks[i]]];
    for (uint32_t k = 0; k < e->depth; k++) {
      if (k) ember_buf_putc(&b, ';');
      ember_buf_puts(&b, names[e->frames[k]]);
    }
    ember_buf_printf(&b, " %u\n", vals[i]);
  }
  free(counts);
  free(ranks);
  free(vals);
  *lines = n;
  return ember_buf_take(&b, len);
}

/* ---- Filling ----------------------------------------------------------- */

static const char *const REGION[REGIONS] = {"eu-west", "eu-north", "us-east", "ap-south"};
static const char *const ENDPOINT[] = {"checkout", "search", "cart", "orders", "login"};

static void series_key(int s, char *buf, size_t n) {
  int e = s / REGIONS;
  char ep[32];
  if (e < 5) snprintf(ep, sizeof ep, "%s", ENDPOINT[e]);
  else snprintf(ep, sizeof ep, "endpoint%d", e);
  snprintf(buf, n, "bench.cpu{region=%s,endpoint=%s}", REGION[s % REGIONS], ep);
}

/* The data covers [t_begin, t_end): whole buckets ending at the fill. */
static int64_t t_begin, t_end;

static double now_s(void) { return (double)ember_mono_ns() / 1e9; }

/* Pushes, through the store, one profile per series one bucket before the
 * data: series 0's holds every stack of the universe, so that the
 * dictionary has them all; the others one stack each. */
static void setup_push(const char *dir) {
  ember_store_config_t cfg = {.data_dir = dir, .max_new_stacks = 100000000};
  ember_store_t *s;
  ember_err_t err;
  if (ember_store_open(&cfg, &s, &err)) die("%s", err.msg);
  ember_ingest_result_t res = {0};
  res.n = (size_t)O.series;
  res.items = calloc(res.n, sizeof *res.items);
  ember_slice_t f[MAX_DEPTH];
  for (int i = 0; i < O.series; i++) {
    ember_profile_t *p = &res.items[i];
    char key[128];
    series_key(i, key, sizeof key);
    if (ember_series_key_parse(key, strlen(key), &p->key, &err)) die("%s", err.msg);
    p->from = t_begin - BUCKET;
    p->until = t_begin;
    p->sample_rate = 100;
    p->spy_name = strdup("gospy");
    p->units = strdup("samples");
    p->tree = ember_tree_new();
    /* In order of heat: a real dictionary numbers stacks as they first
     * appear, which puts the hot ones first. */
    for (uint32_t r = 0; r < (i ? 1u : (uint32_t)O.universe); r++) {
      uint32_t e = rank_elem[0][r];
      for (uint32_t k = 0; k < elems[e].depth; k++)
        f[k] = ember_slice(names[elems[e].frames[k]], strlen(names[elems[e].frames[k]]));
      ember_tree_add_stack(p->tree, f, elems[e].depth, 1);
    }
  }
  if (ember_store_write(s, &res, &err)) die("setup push: %s", err.msg);
  ember_ingest_result_free(&res);
  ember_store_close(s);
}

static sqlite3 *db_open(const char *dir, bool rw) {
  char path[1024];
  snprintf(path, sizeof path, "%s/ember.db", dir);
  sqlite3 *db;
  if (sqlite3_open_v2(path, &db, rw ? SQLITE_OPEN_READWRITE : SQLITE_OPEN_READONLY, NULL))
    die("cannot open %s: %s", path, sqlite3_errmsg(db));
  sqlite3_busy_timeout(db, 10000);
  return db;
}

static void db_exec(sqlite3 *db, const char *sql) {
  char *msg = NULL;
  if (sqlite3_exec(db, sql, NULL, NULL, &msg)) die("%s: %s", sql, msg);
}

static int64_t db_int(sqlite3 *db, const char *sql) {
  sqlite3_stmt *st;
  if (sqlite3_prepare_v2(db, sql, -1, &st, NULL)) die("%s: %s", sql, sqlite3_errmsg(db));
  int64_t v = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int64(st, 0) : -1;
  sqlite3_finalize(st);
  return v;
}

/* The app's series ids, in the order of series_key's index. */
static int64_t *series_ids;
static int64_t app_id;

static void read_series(sqlite3 *db) {
  app_id = db_int(db, "SELECT id FROM apps WHERE name='bench.cpu'");
  if (app_id < 0) die("the data directory holds no app bench.cpu");
  series_ids = calloc((size_t)O.series, sizeof *series_ids);
  sqlite3_stmt *st;
  sqlite3_prepare_v2(db, "SELECT id FROM series WHERE app_id=?1 AND labels=?2", -1, &st,
                     NULL);
  for (int i = 0; i < O.series; i++) {
    char key[128];
    series_key(i, key, sizeof key);
    ember_series_key_t k;
    ember_err_t err;
    if (ember_series_key_parse(key, strlen(key), &k, &err)) die("%s", err.msg);
    ember_buf_t labels = EMBER_BUF_INIT;
    ember_series_key_labels(&k, &labels); /* as stored: sorted by key */
    sqlite3_bind_int64(st, 1, app_id);
    sqlite3_bind_text(st, 2, labels.data, (int)labels.len, SQLITE_STATIC);
    series_ids[i] = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int64(st, 0) : -1;
    sqlite3_reset(st);
    if (series_ids[i] < 0) die("series %s is missing; was the directory filled with "
                               "the same --series?", key);
    ember_buf_free(&labels);
    ember_series_key_free(&k);
  }
  sqlite3_finalize(st);
}

/* A small open-addressing map from a 64-bit key to a 32-bit value. */
typedef struct {
  uint64_t *keys;
  uint32_t *vals;
  size_t mask;
} map_t;

static void map_init(map_t *m, size_t n) {
  size_t cap = 16;
  while (cap < n * 2) cap <<= 1;
  m->keys = malloc(cap * sizeof *m->keys);
  m->vals = malloc(cap * sizeof *m->vals);
  memset(m->keys, 0xff, cap * sizeof *m->keys);
  m->mask = cap - 1;
}

static size_t map_slot(const map_t *m, uint64_t k) {
  size_t i = (size_t)((k * 0x9e3779b97f4a7c15ull) >> 20) & m->mask;
  while (m->keys[i] != UINT64_MAX && m->keys[i] != k) i = (i + 1) & m->mask;
  return i;
}

/* Per universe element, its stack id in the app's dictionary. */
static uint32_t *elem_stack;
static uint32_t nstack_ids; /* 1 + the largest */

static void map_universe(sqlite3 *db) {
  char sql[160];
  sqlite3_stmt *st;
  /* frame name -> frame id, through the name's index in names[] */
  map_t byname;
  map_init(&byname, nnames);
  for (uint32_t i = 0; i < nnames; i++) {
    size_t sl = map_slot(&byname, ember_hash_bytes(names[i], strlen(names[i])));
    byname.keys[sl] = ember_hash_bytes(names[i], strlen(names[i]));
    byname.vals[sl] = i;
  }
  uint32_t *frame_of_name = malloc(nnames * sizeof *frame_of_name);
  memset(frame_of_name, 0xff, nnames * sizeof *frame_of_name);
  snprintf(sql, sizeof sql, "SELECT id, name FROM frames WHERE app_id=%lld",
           (long long)app_id);
  sqlite3_prepare_v2(db, sql, -1, &st, NULL);
  while (sqlite3_step(st) == SQLITE_ROW) {
    uint64_t h = ember_hash_bytes(sqlite3_column_blob(st, 1), (size_t)sqlite3_column_bytes(st, 1));
    size_t sl = map_slot(&byname, h);
    if (byname.keys[sl] == h) frame_of_name[byname.vals[sl]] = (uint32_t)sqlite3_column_int64(st, 0);
  }
  sqlite3_finalize(st);
  /* (parent, frame) -> stack id */
  int64_t nst = db_int(db, "SELECT COUNT(*) FROM stacks");
  map_t bypath;
  map_init(&bypath, (size_t)nst + 1);
  snprintf(sql, sizeof sql, "SELECT id, parent_id, frame_id FROM stacks WHERE app_id=%lld",
           (long long)app_id);
  sqlite3_prepare_v2(db, sql, -1, &st, NULL);
  nstack_ids = 1;
  while (sqlite3_step(st) == SQLITE_ROW) {
    uint64_t k = (uint64_t)sqlite3_column_int64(st, 1) << 32 | (uint64_t)sqlite3_column_int64(st, 2);
    size_t sl = map_slot(&bypath, k);
    bypath.keys[sl] = k;
    bypath.vals[sl] = (uint32_t)sqlite3_column_int64(st, 0);
    if (bypath.vals[sl] + 1 > nstack_ids) nstack_ids = bypath.vals[sl] + 1;
  }
  sqlite3_finalize(st);
  elem_stack = malloc((size_t)O.universe * sizeof *elem_stack);
  for (int e = 0; e < O.universe; e++) {
    uint64_t id = 0;
    for (uint32_t k = 0; k < elems[e].depth; k++) {
      uint32_t f = frame_of_name[elems[e].frames[k]];
      size_t sl = map_slot(&bypath, id << 32 | f);
      if (f == UINT32_MAX || bypath.keys[sl] != (id << 32 | f))
        die("stack %d of the universe is not in the dictionary", e);
      id = bypath.vals[sl];
    }
    elem_stack[e] = (uint32_t)id;
  }
  free(frame_of_name);
  free(byname.keys);
  free(byname.vals);
  free(bypath.keys);
  free(bypath.vals);
}

/* A block of buckets of every series, generated and encoded by one thread. */
#define BLOCK_BUCKETS 60

typedef struct {
  int64_t first; /* bucket start */
  int nbuckets;
  ember_buf_t blobs;          /* every row's blob, back to back */
  size_t *off, *len;          /* per row (bucket-major, then series) */
  uint64_t *total;
  uint64_t pairs;
  pthread_t thread;
} block_t;

typedef struct {
  uint32_t *counts, *ranks, *vals, *value_of; /* value_of: per stack id */
  uint64_t *bits;
  ember_seg_pair_t *pairs;
  ember_seg_codec_t *codec;
} scratch_t;

static void scratch_init(scratch_t *x) {
  x->counts = calloc(O.universe, sizeof *x->counts);
  x->ranks = malloc(O.stacks * sizeof *x->ranks);
  x->vals = malloc(O.stacks * sizeof *x->vals);
  x->value_of = calloc(nstack_ids, sizeof *x->value_of);
  x->bits = calloc(nstack_ids / 64 + 1, sizeof *x->bits);
  x->pairs = malloc(O.stacks * sizeof *x->pairs);
  x->codec = ember_seg_codec_new();
}

static void scratch_free(scratch_t *x) {
  free(x->counts);
  free(x->ranks);
  free(x->vals);
  free(x->value_of);
  free(x->bits);
  free(x->pairs);
  ember_seg_codec_free(x->codec);
}

/* One row: draws, then sorts by stack id through a bitmap (two stacks
 * may share an id only if the universe repeats a path; they are summed). */
static void make_row(scratch_t *x, int series, int64_t start, block_t *b) {
  rng_t r = rng_for(4, (uint64_t)series, (uint64_t)start);
  size_t n = draw_bucket(&r, x->counts, x->ranks, x->vals);
  uint32_t lo = UINT32_MAX, hi = 0;
  for (size_t i = 0; i < n; i++) {
    uint32_t id = elem_stack[rank_elem[series][x->ranks[i]]];
    x->value_of[id] += x->vals[i];
    x->bits[id / 64] |= 1ull << (id % 64);
    lo = id < lo ? id : lo;
    hi = id > hi ? id : hi;
  }
  size_t k = 0;
  uint64_t total = 0;
  for (uint32_t w = lo / 64; n && w <= hi / 64; w++) {
    while (x->bits[w]) {
      uint32_t id = w * 64 + (uint32_t)__builtin_ctzll(x->bits[w]);
      x->bits[w] &= x->bits[w] - 1;
      x->pairs[k++] = (ember_seg_pair_t){id, x->value_of[id]};
      total += x->value_of[id];
      x->value_of[id] = 0;
    }
  }
  ember_err_t err;
  size_t before = b->blobs.len;
  if (ember_seg_encode(x->codec, x->pairs, k, &b->blobs, &err)) die("encode: %s", err.msg);
  size_t row = (size_t)((start - b->first) / BUCKET) * (size_t)O.series + (size_t)series;
  b->off[row] = before;
  b->len[row] = b->blobs.len - before;
  b->total[row] = total;
  b->pairs += k;
}

static void *block_main(void *arg) {
  block_t *b = arg;
  scratch_t x;
  scratch_init(&x);
  for (int i = 0; i < b->nbuckets; i++)
    for (int s = 0; s < O.series; s++) make_row(&x, s, b->first + (int64_t)i * BUCKET, b);
  scratch_free(&x);
  return NULL;
}

static void block_start(block_t *b, int64_t first, int nbuckets) {
  size_t rows = (size_t)nbuckets * (size_t)O.series;
  b->first = first;
  b->nbuckets = nbuckets;
  ember_buf_reset(&b->blobs);
  b->off = realloc(b->off, rows * sizeof *b->off);
  b->len = realloc(b->len, rows * sizeof *b->len);
  b->total = realloc(b->total, rows * sizeof *b->total);
  b->pairs = 0;
  if (pthread_create(&b->thread, NULL, block_main, b)) die("cannot start a thread");
}

static void block_insert(sqlite3 *db, sqlite3_stmt *ins, block_t *b) {
  db_exec(db, "BEGIN");
  for (int i = 0; i < b->nbuckets; i++)
    for (int s = 0; s < O.series; s++) {
      size_t row = (size_t)i * (size_t)O.series + (size_t)s;
      sqlite3_bind_int64(ins, 1, series_ids[s]);
      sqlite3_bind_int64(ins, 2, b->first + (int64_t)i * BUCKET);
      sqlite3_bind_int64(ins, 3, (int64_t)b->total[row]);
      sqlite3_bind_blob(ins, 4, b->blobs.data + b->off[row], (int)b->len[row], SQLITE_STATIC);
      if (sqlite3_step(ins) != SQLITE_DONE) die("insert: %s", sqlite3_errmsg(db));
      sqlite3_reset(ins);
    }
  db_exec(db, "COMMIT");
}

static uint64_t file_bytes(const char *dir) {
  uint64_t n = 0;
  const char *const files[] = {"ember.db", "ember.db-wal"};
  for (int i = 0; i < 2; i++) {
    char p[1024];
    struct stat st;
    snprintf(p, sizeof p, "%s/%s", dir, files[i]);
    if (stat(p, &st) == 0) n += (uint64_t)st.st_size;
  }
  return n;
}

/* Two generator threads, so that generating block k+2 overlaps inserting
 * block k. */
static void fill(const char *dir) {
  double t0 = now_s();
  setup_push(dir);
  sqlite3 *db = db_open(dir, true);
  read_series(db);
  map_universe(db);
  /* The setup push listed its bucket for rollup; the fill lists nothing
   * (see the top of this file). */
  db_exec(db, "DELETE FROM rollup_todo");
  /* No journal while loading: a crash leaves a directory to delete, which
   * is all a benchmark needs. WAL again at the end, as the server wants. */
  db_exec(db, "PRAGMA journal_mode=DELETE; PRAGMA journal_mode=OFF; "
              "PRAGMA synchronous=OFF; PRAGMA cache_size=-65536");
  sqlite3_stmt *ins;
  if (sqlite3_prepare_v2(db,
                         "INSERT INTO segments(series_id, level, start, seq, total, "
                         "profiles, data) VALUES(?1, 0, ?2, 0, ?3, 1, ?4)",
                         -1, &ins, NULL))
    die("%s", sqlite3_errmsg(db));
  int64_t nb = (t_end - t_begin) / BUCKET;
  block_t blocks[2] = {{.blobs = EMBER_BUF_INIT}, {.blobs = EMBER_BUF_INIT}};
  int64_t next = 0;
  uint64_t rows = 0, pairs = 0;
  bool running[2] = {false, false};
  for (int k = 0; k < 2 && next < nb; k++) {
    int n = nb - next < BLOCK_BUCKETS ? (int)(nb - next) : BLOCK_BUCKETS;
    block_start(&blocks[k], t_begin + next * BUCKET, n);
    running[k] = true;
    next += n;
  }
  for (int k = 0; running[k]; k ^= 1) {
    pthread_join(blocks[k].thread, NULL);
    running[k] = false;
    block_insert(db, ins, &blocks[k]);
    rows += (uint64_t)blocks[k].nbuckets * (uint64_t)O.series;
    pairs += blocks[k].pairs;
    if (next < nb) {
      int n = nb - next < BLOCK_BUCKETS ? (int)(nb - next) : BLOCK_BUCKETS;
      block_start(&blocks[k], t_begin + next * BUCKET, n);
      running[k] = true;
      next += n;
    }
    if (!running[k ^ 1] && !running[k]) break;
  }
  sqlite3_finalize(ins);
  db_exec(db, "PRAGMA journal_mode=WAL");
  sqlite3_close(db);
  for (int k = 0; k < 2; k++) {
    ember_buf_free(&blocks[k].blobs);
    free(blocks[k].off);
    free(blocks[k].len);
    free(blocks[k].total);
  }
  double secs = now_s() - t0;
  uint64_t bytes = file_bytes(dir);
  printf("fill               %llu rows (%d series x %lld buckets), %.1f pairs/row, "
         "dictionary of %u stacks\n",
         (unsigned long long)rows, O.series, (long long)nb, (double)pairs / (double)rows,
         nstack_ids);
  printf("fill time          %.1f s (%.0f rows/s)\n", secs, (double)rows / secs);
  printf("database           %.2f GiB (%.0f bytes/row)\n", (double)bytes / 1073741824.0,
         (double)bytes / (double)rows);
  fflush(stdout);
}

/* Lists every 100 s period of the data for rollup, as the writer would
 * have when storing the rows. */
static void list_rollups(const char *dir) {
  sqlite3 *db = db_open(dir, true);
  db_exec(db, "BEGIN");
  sqlite3_stmt *st;
  sqlite3_prepare_v2(db,
                     "INSERT OR IGNORE INTO rollup_todo(level, start, series_id) "
                     "VALUES(1, ?1, ?2)",
                     -1, &st, NULL);
  for (int64_t p = (t_begin - BUCKET) / 100 * 100; p < t_end; p += 100)
    for (int s = 0; s < O.series; s++) {
      sqlite3_bind_int64(st, 1, p);
      sqlite3_bind_int64(st, 2, series_ids[s]);
      if (sqlite3_step(st) != SQLITE_DONE) die("%s", sqlite3_errmsg(db));
      sqlite3_reset(st);
    }
  sqlite3_finalize(st);
  db_exec(db, "COMMIT");
  sqlite3_close(db);
}

/* Rollup work for the app's series that the server's maintenance pass at
 * time `at` takes: periods that ended at least a minute before (the last
 * periods of each level wait for their time to pass, as on a live
 * server). */
static int64_t rollups_pending(const char *dir, int64_t at, int64_t since) {
  sqlite3 *db = db_open(dir, false);
  char sql[800];
  long long now = (long long)at;
  const char *ready = "(CASE level WHEN 1 THEN 100 WHEN 2 THEN 1000 ELSE 10000 END)";
  snprintf(sql, sizeof sql,
           "SELECT COUNT(*) FROM rollup_todo WHERE series_id IN "
           "(SELECT id FROM series WHERE app_id=%lld) AND start>=%lld AND start + %s "
           "+ 60 <= %lld",
           (long long)app_id, (long long)since, ready, now);
  int64_t n = db_int(db, sql);
  /* A server from before app rollups (--ember, for comparisons) has no
   * app_rollup_todo. */
  if (db_int(db, "SELECT COUNT(*) FROM sqlite_master WHERE name='app_rollup_todo'") > 0) {
    snprintf(sql, sizeof sql,
             "SELECT COUNT(*) FROM app_rollup_todo WHERE app_id=%lld AND start>=%lld "
             "AND start + %s + 60 <= %lld",
             (long long)app_id, (long long)since, ready, now);
    n += db_int(db, sql);
  }
  sqlite3_close(db);
  return n;
}

/* Reads back what an earlier run filled (--reuse): the range, the series,
 * whether rollups exist. */
static bool reuse(const char *dir) {
  sqlite3 *db = db_open(dir, false);
  read_series(db);
  map_universe(db);
  char sql[256];
  snprintf(sql, sizeof sql,
           "SELECT MIN(start), MAX(start) FROM segments WHERE series_id=%lld AND level=0",
           (long long)series_ids[0]);
  sqlite3_stmt *st;
  sqlite3_prepare_v2(db, sql, -1, &st, NULL);
  if (sqlite3_step(st) != SQLITE_ROW) die("no data in %s", dir);
  t_begin = sqlite3_column_int64(st, 0) + BUCKET; /* after the setup bucket */
  t_end = sqlite3_column_int64(st, 1) + BUCKET;
  sqlite3_finalize(st);
  snprintf(sql, sizeof sql, "SELECT COUNT(*) FROM segments WHERE series_id=%lld AND level>0",
           (long long)series_ids[0]);
  bool rolled = db_int(db, sql) > 0;
  sqlite3_close(db);
  O.days = (int)((t_end - t_begin + 86399) / 86400);
  printf("reusing            %s: %.1f days, %s\n", dir, (t_end - t_begin) / 86400.0,
         rolled ? "rolled up" : "no rollups yet");
  return rolled;
}

/* ---- HTTP -------------------------------------------------------------- */

static uint16_t port;

typedef struct {
  int fd;
  char *buf;
  size_t cap;
} http_t;

static int http_connect(http_t *h) {
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  h->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  int one = 1;
  setsockopt(h->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  if (connect(h->fd, (struct sockaddr *)&a, sizeof a)) {
    close(h->fd);
    h->fd = -1;
    return -1;
  }
  return 0;
}

static void http_close(http_t *h) {
  if (h->fd >= 0) close(h->fd);
  h->fd = -1;
}

static bool send_all(int fd, const void *p, size_t n) {
  const char *c = p;
  while (n) {
    ssize_t k = send(fd, c, n, MSG_NOSIGNAL);
    if (k <= 0) return false;
    c += k;
    n -= (size_t)k;
  }
  return true;
}

/* One request on h's keep-alive connection (reconnecting when the server
 * closed it). Returns the status, or -1 when the connection failed. The
 * body is read and dropped. */
static int http_do(http_t *h, const char *method, const char *target, const void *body,
                   size_t len) {
  for (int attempt = 0; attempt < 2; attempt++) {
    if (h->fd < 0 && http_connect(h)) return -1;
    char head[4096];
    int n = snprintf(head, sizeof head,
                     "%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: %zu\r\n\r\n",
                     method, target, len);
    if (!send_all(h->fd, head, (size_t)n) || (len && !send_all(h->fd, body, len))) {
      http_close(h);
      continue;
    }
    if (h->cap < 65536) h->buf = realloc(h->buf, h->cap = 65536);
    size_t got = 0;
    char *end = NULL;
    while (!end) {
      ssize_t k = recv(h->fd, h->buf + got, h->cap - 1 - got, 0);
      if (k <= 0) break;
      got += (size_t)k;
      h->buf[got] = '\0';
      end = strstr(h->buf, "\r\n\r\n");
    }
    if (!end) {
      http_close(h);
      if (got == 0) continue; /* a kept-alive connection the server had closed */
      return -1;
    }
    int status = atoi(h->buf + 9);
    const char *cl = strcasestr(h->buf, "\r\nContent-Length:");
    size_t want = cl ? strtoul(cl + 17, NULL, 10) : 0;
    size_t have = got - (size_t)(end + 4 - h->buf);
    while (have < want) {
      ssize_t k = recv(h->fd, h->buf, h->cap - 1, 0);
      if (k <= 0) {
        http_close(h);
        return -1;
      }
      have += (size_t)k;
    }
    if (strcasestr(h->buf, "\r\nConnection: close")) http_close(h);
    return status;
  }
  return -1;
}

/* ---- The server -------------------------------------------------------- */

static pid_t server_pid;

static const char *ember_path(const char *argv0) {
  if (O.ember) return O.ember;
  static char p[1024];
  snprintf(p, sizeof p, "%s", argv0);
  char *slash = strrchr(p, '/');
  if (slash) snprintf(slash + 1, sizeof p - (size_t)(slash + 1 - p), "../ember");
  else snprintf(p, sizeof p, "../ember");
  return p;
}

/* Drops the database's pages from the page cache, so the start is timed
 * as after a reboot. Only our files are touched. */
static void drop_cache(const char *dir) {
  const char *const files[] = {"ember.db", "ember.db-wal"};
  for (int i = 0; i < 2; i++) {
    char p[1024];
    snprintf(p, sizeof p, "%s/%s", dir, files[i]);
    int fd = open(p, O_RDONLY | O_CLOEXEC);
    if (fd < 0) continue;
    fdatasync(fd);
    posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
    close(fd);
  }
}

/* Starts the server and times it: until it says it listens, and until its
 * first /healthz answers 200. */
static void server_start(const char *ember, const char *dir) {
  int out[2];
  if (pipe(out)) die("pipe: %s", strerror(errno));
  char log[1024];
  snprintf(log, sizeof log, "%s/server.log", dir);
  const char *argv[8 + MAX_SERVER_ARGS] = {ember, "serve", "--listen", "127.0.0.1:0",
                                           "--data", dir, "--query-timeout", "300"};
  int argc = 8;
  for (int i = 0; i < O.nserver_args; i++) argv[argc++] = O.server_args[i];
  argv[argc] = NULL;
  double t0 = now_s();
  server_pid = fork();
  if (server_pid < 0) die("fork: %s", strerror(errno));
  if (server_pid == 0) {
    dup2(out[1], 1);
    int fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (fd >= 0) dup2(fd, 2);
    close(out[0]);
    execv(ember, (char *const *)argv);
    _exit(127);
  }
  close(out[1]);
  FILE *f = fdopen(out[0], "r");
  char line[512];
  port = 0;
  while (!port && fgets(line, sizeof line, f)) {
    const char *at = strstr(line, "listening on ");
    const char *sp = at ? strchr(at + 13, ' ') : NULL;
    if (!sp) continue;
    const char *colon = sp;
    while (colon > at && *colon != ':') colon--;
    port = (uint16_t)atoi(colon + 1);
  }
  if (!port) die("the server did not start; see %s", log);
  double listening = now_s() - t0;
  /* stdout stays open (and unread) until the server exits; it writes
   * nothing more there. */
  http_t h = {.fd = -1};
  int status = 0;
  while ((status = http_do(&h, "GET", "/healthz", NULL, 0)) != 200) {
    if (now_s() - t0 > 60) die("/healthz did not answer 200 within 60 s (%d)", status);
    usleep(1000);
  }
  http_close(&h);
  free(h.buf);
  printf("start              listening after %.3f s, /healthz 200 after %.3f s\n",
         listening, now_s() - t0);
  fflush(stdout);
}

static void server_stop(void) {
  if (server_pid <= 0) return;
  kill(server_pid, SIGTERM);
  int st;
  waitpid(server_pid, &st, 0);
  server_pid = 0;
}

/* The server's peak resident set since the last reset, in MiB. */
static double peak_rss_mib(void) {
  char p[64], line[256];
  snprintf(p, sizeof p, "/proc/%d/status", (int)server_pid);
  FILE *f = fopen(p, "r");
  double kib = -1;
  while (f && fgets(line, sizeof line, f))
    if (!strncmp(line, "VmHWM:", 6)) kib = atof(line + 6);
  if (f) fclose(f);
  return kib / 1024.0;
}

/* CPU seconds the server has used (user and system, every thread). */
static double server_cpu(void) {
  char p[64], buf[1024];
  snprintf(p, sizeof p, "/proc/%d/stat", (int)server_pid);
  FILE *f = fopen(p, "r");
  size_t n = f ? fread(buf, 1, sizeof buf - 1, f) : 0;
  if (f) fclose(f);
  buf[n] = '\0';
  /* The fields after the command name, which may hold spaces: utime and
   * stime are the 12th and 13th after its closing parenthesis. */
  const char *q = strrchr(buf, ')');
  unsigned long long ut = 0, st = 0;
  if (q && sscanf(q + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut,
                  &st) == 2)
    return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
  return 0;
}

static void peak_rss_reset(void) {
  char p[64];
  snprintf(p, sizeof p, "/proc/%d/clear_refs", (int)server_pid);
  FILE *f = fopen(p, "w");
  if (f) {
    fputs("5", f);
    fclose(f);
  }
}

/* ---- Ingest load ------------------------------------------------------- */

#define INGEST_CONNS 8

typedef struct {
  const char *body;
  size_t len;
  double rate; /* pushes/s; 0: as fast as answered */
  double t0;
  atomic_long next, done, failed;
  atomic_bool stop;
  pthread_t threads[INGEST_CONNS];
} ingest_t;

static ingest_t ING;

static void *ingest_main(void *arg) {
  (void)arg;
  http_t h = {.fd = -1};
  while (!atomic_load(&ING.stop)) {
    long k = atomic_fetch_add(&ING.next, 1);
    if (ING.rate > 0) {
      double due = ING.t0 + (double)k / ING.rate, wait = due - now_s();
      while (wait > 0 && !atomic_load(&ING.stop)) {
        usleep(wait > 0.05 ? 50000 : (useconds_t)(wait * 1e6));
        wait = due - now_s();
      }
      if (atomic_load(&ING.stop)) break;
    }
    char target[256];
    long t = (long)time(NULL);
    snprintf(target, sizeof target,
             "/ingest?name=load.cpu%%7Bpod%%3Dpod-%ld%%7D&from=%ld&until=%ld&spyName=gospy",
             k % 20, t - 10, t);
    int status = http_do(&h, "POST", target, ING.body, ING.len);
    atomic_fetch_add(status == 200 ? &ING.done : &ING.failed, 1);
    if (status != 200) usleep(10000);
  }
  http_close(&h);
  free(h.buf);
  return NULL;
}

static void ingest_start(double rate) {
  atomic_store(&ING.next, 0);
  atomic_store(&ING.done, 0);
  atomic_store(&ING.failed, 0);
  atomic_store(&ING.stop, false);
  ING.rate = rate;
  ING.t0 = now_s();
  for (int i = 0; i < INGEST_CONNS; i++)
    pthread_create(&ING.threads[i], NULL, ingest_main, NULL);
}

/* Stops the load; returns the pushes per second it achieved. */
static double ingest_stop(void) {
  atomic_store(&ING.stop, true);
  for (int i = 0; i < INGEST_CONNS; i++) pthread_join(ING.threads[i], NULL);
  return (double)atomic_load(&ING.done) / (now_s() - ING.t0);
}

/* Pushes as fast as the server answers for a few seconds. */
static double ingest_capacity(void) {
  ingest_start(0);
  sleep(2);
  atomic_store(&ING.done, 0);
  ING.t0 = now_s();
  sleep(5);
  double r = ingest_stop();
  printf("ingest capacity    %.0f pushes/s of %zu bytes (%ld refused)\n", r, ING.len,
         (long)atomic_load(&ING.failed));
  return r;
}

/* ---- Queries ----------------------------------------------------------- */

typedef struct {
  const char *label;
  char target[512];
} query_t;

typedef struct {
  const query_t *q;
  int clients;
  int want;
  double deadline;
  atomic_int next;
  atomic_int busy503, errors;
  double *lat;
  atomic_int nlat;
  pthread_mutex_t m;
} run_t;

static void *client_main(void *arg) {
  run_t *r = arg;
  http_t h = {.fd = -1};
  int mine = 0;
  for (;;) {
    int k = atomic_fetch_add(&r->next, 1);
    if (k >= r->want || (mine > 0 && now_s() > r->deadline)) break;
    double t0 = now_s();
    int status;
    while ((status = http_do(&h, "GET", r->q->target, NULL, 0)) == 503) {
      atomic_fetch_add(&r->busy503, 1);
      usleep(10000);
    }
    double dt = now_s() - t0;
    if (status != 200) {
      atomic_fetch_add(&r->errors, 1);
      if (atomic_load(&r->errors) == 1)
        fprintf(stderr, "query: %s answered %d\n", r->q->label, status);
    }
    r->lat[atomic_fetch_add(&r->nlat, 1)] = dt;
    mine++;
  }
  http_close(&h);
  free(h.buf);
  return NULL;
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

/* Runs q with `clients` clients; prints p50 and p99 in ms (and, when
 * nothing else runs on the server, its CPU per request) and returns the
 * p50 in seconds. */
static double measure(const query_t *q, int clients, bool alone) {
  run_t r = {.q = q, .clients = clients};
  r.want = O.requests > 4 * clients ? O.requests : 4 * clients;
  r.lat = calloc((size_t)r.want, sizeof *r.lat);
  /* One warm-up request first: the dictionary is loaded by the first
   * query of an app. One that alone takes longer than the budget is the
   * only sample: a week of 10 s rows takes minutes, and says it once. */
  http_t h = {.fd = -1};
  double t0 = now_s();
  int status = http_do(&h, "GET", q->target, NULL, 0);
  double warm = now_s() - t0;
  http_close(&h);
  free(h.buf);
  double cpu0 = server_cpu();
  if (warm > O.budget && clients == 1) {
    cpu0 = -1;
    r.lat[0] = warm;
    atomic_store(&r.nlat, 1);
    if (status != 200) atomic_store(&r.errors, 1);
  } else {
    r.deadline = now_s() + O.budget;
    pthread_t th[MAX_CLIENTS];
    for (int i = 0; i < clients; i++) pthread_create(&th[i], NULL, client_main, &r);
    for (int i = 0; i < clients; i++) pthread_join(th[i], NULL);
  }
  int n = atomic_load(&r.nlat);
  double cpu = cpu0 >= 0 && alone ? (server_cpu() - cpu0) / n : -1;
  qsort(r.lat, (size_t)n, sizeof *r.lat, cmp_double);
  double p50 = r.lat[(n - 1) / 2];
  size_t i99 = (size_t)ceil(0.99 * n);
  double p99 = r.lat[i99 ? i99 - 1 : 0];
  printf("  %-34s %2d  %9.1f %9.1f  %5d", q->label, clients, p50 * 1e3, p99 * 1e3, n);
  if (cpu >= 0) printf("  %7.1f", cpu * 1e3);
  if (atomic_load(&r.busy503)) printf("  (%d x 503)", atomic_load(&r.busy503));
  if (atomic_load(&r.errors)) printf("  (%d errors)", atomic_load(&r.errors));
  printf("\n");
  fflush(stdout);
  free(r.lat);
  return p50;
}

static size_t build_queries(query_t *qs) {
  static const struct {
    const char *name;
    int64_t secs;
  } ranges[] = {{"1h", 3600}, {"24h", 86400}, {"7d", 7 * 86400}};
  static const struct {
    const char *name, *sel;
  } sels[] = {{"whole app", "bench.cpu%7B%7D"},
              {"region=eu-west", "bench.cpu%7Bregion%3D%22eu-west%22%7D"}};
  size_t n = 0;
  int64_t until = t_end - 1;
  for (size_t s = 0; s < 2; s++)
    for (size_t r = 0; r < 3; r++) {
      int64_t span = ranges[r].secs;
      if (span > t_end - t_begin) span = t_end - t_begin;
      static char labels[16][64];
      snprintf(labels[n], sizeof labels[n], "render %s %s", sels[s].name, ranges[r].name);
      qs[n].label = labels[n];
      snprintf(qs[n].target, sizeof qs[n].target, "/render?query=%s&from=%lld&until=%lld",
               sels[s].sel, (long long)(until - span + 1), (long long)until);
      n++;
    }
  int64_t day = t_end - t_begin >= 2 * 86400 ? 86400 : (t_end - t_begin) / 2;
  qs[n].label = "render-diff whole app 24h vs 24h";
  snprintf(qs[n].target, sizeof qs[n].target,
           "/render-diff?leftQuery=bench.cpu%%7B%%7D&leftFrom=%lld&leftUntil=%lld"
           "&rightQuery=bench.cpu%%7B%%7D&rightFrom=%lld&rightUntil=%lld",
           (long long)(until - 2 * day + 1), (long long)(until - day),
           (long long)(until - day + 1), (long long)until);
  n++;
  /* The tag explorer of the whole app split by region, as the UI asks. */
  for (size_t r = 1; r < 3; r++) {
    static char labels[2][64];
    int64_t span = ranges[r].secs > t_end - t_begin ? t_end - t_begin : ranges[r].secs;
    snprintf(labels[r - 1], sizeof labels[r - 1], "explore by region %s", ranges[r].name);
    qs[n].label = labels[r - 1];
    snprintf(qs[n].target, sizeof qs[n].target,
             "/api/explore?query=bench.cpu%%7B%%7D&groupBy=region&from=%lld&until=%lld",
             (long long)(until - span + 1), (long long)until);
    n++;
  }
  return n;
}

/* Every query with every client count, under the ingest load. */
static void measure_all(const char *phase, double rate) {
  query_t qs[10];
  size_t nq = build_queries(qs);
  if (rate > 0) ingest_start(rate);
  printf("%s: ingest %.0f pushes/s of another app\n", phase, rate);
  printf("  %-34s %2s  %9s %9s  %5s%s\n", "query", "c", "p50 ms", "p99 ms", "n",
         rate > 0 ? "" : "  cpu ms");
  double one[10] = {0};
  for (int c = 0; c < O.nclients; c++) {
    peak_rss_reset();
    for (size_t i = 0; i < nq; i++) {
      int clients = O.clients[c];
      /* Beyond a few seconds a request, 16 of them at once take minutes
       * and say nothing more. */
      if (clients > 1 && one[i] > 2.0) {
        printf("  %-34s %2d  skipped: one request alone takes %.1f s\n", qs[i].label,
               clients, one[i]);
        continue;
      }
      double p50 = measure(&qs[i], clients, rate <= 0);
      if (clients == 1) one[i] = p50;
    }
    printf("  peak RSS of the server with %d client(s): %.0f MiB\n", O.clients[c],
           peak_rss_mib());
  }
  if (rate > 0)
    printf("  ingest achieved %.0f pushes/s (%ld refused)\n", ingest_stop(),
           (long)atomic_load(&ING.failed));
  fflush(stdout);
}

/* ---- Main -------------------------------------------------------------- */

static void remove_dir(const char *dir) {
  const char *const files[] = {"ember.db", "ember.db-wal", "ember.db-shm", "ember.lock",
                               "server.log"};
  for (int i = 0; i < 5; i++) {
    char p[1024];
    snprintf(p, sizeof p, "%s/%s", dir, files[i]);
    unlink(p);
  }
  rmdir(dir);
}

static void on_signal(int sig) {
  if (server_pid > 0) kill(server_pid, SIGKILL);
  signal(sig, SIG_DFL);
  raise(sig);
}

int main(int argc, char **argv) {
  parse_opts(argc, argv);
  signal(SIGINT, on_signal);
  signal(SIGTERM, on_signal);
  signal(SIGPIPE, SIG_IGN);
  const char *ember = ember_path(argv[0]);
  if (access(ember, X_OK)) usage_error("no ember binary at (use --ember)", ember);
  char tmpl[] = "/tmp/ember-query-XXXXXX";
  const char *dir = O.dir ? O.dir : mkdtemp(tmpl);
  if (!dir) die("cannot create a directory under /tmp: %s", strerror(errno));
  build_universe();
  bool rolled = false;
  if (O.reuse) {
    rolled = reuse(dir);
  } else {
    t_end = time(NULL) / BUCKET * BUCKET;
    t_begin = t_end - (int64_t)O.days * 86400;
    fill(dir);
  }
  size_t lines;
  ING.body = folded_body(&ING.len, &lines);
  double rate = O.ingest_rate;
  if (O.before && !rolled) {
    drop_cache(dir);
    server_start(ember, dir);
    if (rate < 0) rate = ingest_capacity() / 2;
    measure_all("right after loading (no rollups)", rate);
    server_stop();
  } else if (O.before) {
    printf("right after loading: skipped, the data is rolled up already\n");
  }
  if (O.after) {
    if (!rolled) list_rollups(dir);
    drop_cache(dir);
    double t0 = now_s();
    int64_t started = time(NULL);
    server_start(ember, dir);
    /* The last day first (the server rolls up the newest periods first),
     * then all of it. */
    while (rollups_pending(dir, started, t_end - 86400) > 0) usleep(200000);
    printf("maintenance        the last 24 h rolled up after %.1f s\n", now_s() - t0);
    while (rollups_pending(dir, started, INT64_MIN) > 0) usleep(500000);
    printf("maintenance        caught up after %.1f s\n", now_s() - t0);
    if (rate < 0) rate = ingest_capacity() / 2;
    measure_all("after maintenance", rate);
    server_stop();
  }
  printf("database           %.2f GiB\n", (double)file_bytes(dir) / 1073741824.0);
  if (!O.keep) remove_dir(dir);
  else printf("kept               %s\n", dir);
  return 0;
}
