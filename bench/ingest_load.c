/*
 * ingest_load.c - how many stack lines per second a server commits, and
 * what each costs it.
 *
 *   build/bench/ingest_load [options] [HOST:PORT] [-- SERVE_OPTIONS...]
 *
 * Without HOST:PORT it starts build/ember (or $EMBER_BIN) itself on a free
 * port and a temporary data directory, passing SERVE_OPTIONS on; with one,
 * give --pid PID of the server to get its CPU and memory.
 *
 * The load (defaults in brackets): BODIES [16] distinct folded bodies of
 * STACKS [1870] lines each, generated from a fixed seed. Their stacks come
 * from one app's pool of shared-prefix stacks 10 to 40 frames deep: a core
 * that every body holds and a tail each body draws its own part of, so most
 * lines of a push repeat what earlier pushes sent, as a real agent's pushes
 * do. CONNECTIONS [8] keep-alive connections push them round the bodies and
 * round SERIES [20] series of the app, each push into the next 10 s bucket
 * of its series. A 200 comes only after the commit, so the rate is the
 * durable one. The first WARMUP [2] seconds are not counted.
 *
 * Prints pushes/s, stack lines/s, samples/s, the latency of a 200, and from
 * /proc: the server's CPU seconds per million stack lines (also per thread
 * kind when its threads are named), and its peak RSS.
 *
 * With --buckets N each series gets N buckets (from 2023-11-14 22:13:20 on)
 * and the run ends once all are acknowledged, or after SECONDS: a fill of
 * N x 10 s of data, whose rate is the run's. --app NAME [load] names the
 * app, so that several runs side by side fill apps of their own.
 *
 * Options: -c CONNECTIONS, -t SECONDS [10], -w WARMUP, --bodies N,
 * --stacks N, --series N, --buckets N, --app NAME, --seed N,
 * --names short|long, --file FILE (push
 * that file instead), --format NAME (the format= of the pushes; with
 * pprof, the file is a gzipped profile and the rates are in MB of it),
 * --pid PID, --dump DIR (write the bodies there and exit).
 */

#include <arpa/inet.h>
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "ember/common.h"
#include "ember/series.h"

/* ---- Options ------------------------------------------------------------ */

typedef struct {
  const char *target; /* HOST:PORT, or NULL to start a server */
  const char *file;
  const char *dump;
  const char *format; /* NULL: folded */
  const char *app;
  long buckets; /* per series; 0: as many as the time allows */
  char **serve_args;
  int nserve_args;
  int conns, secs, warmup, bodies, stacks, series;
  bool long_names;
  uint64_t seed;
  pid_t pid;
} opts_t;

static void usage(const char *argv0) {
  fprintf(stderr,
          "usage: %s [-c CONNS] [-t SECONDS] [-w WARMUP] [--bodies N] [--stacks N]\n"
          "       [--series N] [--buckets N] [--app NAME] [--seed N]\n"
          "       [--names short|long] [--file FOLDED]\n"
          "       [--format NAME] [--pid PID] [--dump DIR] [HOST:PORT]\n"
          "       [-- SERVE_OPTIONS...]\n",
          argv0);
  exit(2);
}

static long num(const char *argv0, const char *s) {
  char *end;
  long v = s ? strtol(s, &end, 10) : -1;
  if (!s || *end || v < 0) usage(argv0);
  return v;
}

static void parse_opts(int argc, char **argv, opts_t *o) {
  *o = (opts_t){.conns = 8, .secs = 10, .warmup = 2, .bodies = 16, .stacks = 1870,
                .series = 20, .seed = 20240601, .app = "load"};
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
    if (!strcmp(a, "--")) {
      o->serve_args = argv + i + 1;
      o->nserve_args = argc - i - 1;
      break;
    }
    if (a[0] != '-') {
      o->target = a;
      continue;
    }
    i++;
    if (!strcmp(a, "-c")) o->conns = (int)num(argv[0], v);
    else if (!strcmp(a, "-t")) o->secs = (int)num(argv[0], v);
    else if (!strcmp(a, "-w")) o->warmup = (int)num(argv[0], v);
    else if (!strcmp(a, "--bodies")) o->bodies = (int)num(argv[0], v);
    else if (!strcmp(a, "--stacks")) o->stacks = (int)num(argv[0], v);
    else if (!strcmp(a, "--series")) o->series = (int)num(argv[0], v);
    else if (!strcmp(a, "--buckets")) o->buckets = num(argv[0], v);
    else if (!strcmp(a, "--app") && v && ember_app_name_valid(v, strlen(v))) o->app = v;
    else if (!strcmp(a, "--seed")) o->seed = (uint64_t)num(argv[0], v);
    else if (!strcmp(a, "--pid")) o->pid = (pid_t)num(argv[0], v);
    else if (!strcmp(a, "--file")) o->file = v;
    else if (!strcmp(a, "--dump")) o->dump = v;
    else if (!strcmp(a, "--format")) o->format = v;
    else if (!strcmp(a, "--names") && v && (!strcmp(v, "short") || !strcmp(v, "long")))
      o->long_names = !strcmp(v, "long");
    else usage(argv[0]);
  }
  if (o->conns < 1 || o->secs < 1 || o->bodies < 1 || o->stacks < 1 || o->series < 1)
    usage(argv[0]);
}

/* ---- Generated bodies --------------------------------------------------- */

static uint64_t rnd(uint64_t *s) { /* splitmix64 */
  uint64_t z = (*s += 0x9E3779B97F4A7C15u);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9u;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBu;
  return z ^ (z >> 31);
}

static uint64_t below(uint64_t *s, uint64_t n) { return rnd(s) % n; }

#define NFRAMES 900

/* Frame names: "short" ones are 2-4 characters (so that a push of 1,870
 * stacks is about 100 KB, as the load the targets are set for), "long" ones
 * look like the qualified names of a JIT or a Go binary. */
static char **make_names(uint64_t *s, bool long_names) {
  static const char *pkgs[] = {"runtime", "net/http", "encoding/json", "internal/db",
                               "app/api", "app/store", "sync", "crypto/tls"};
  static const char *verbs[] = {"read", "write", "parse", "handle", "encode", "decode",
                                "lock", "flush", "serve", "scan", "hash", "alloc"};
  char **names = ember_calloc(NFRAMES, sizeof *names);
  for (int i = 0; i < NFRAMES; i++) {
    char buf[128];
    if (long_names) {
      snprintf(buf, sizeof buf, "%s.(*T%d).%s%s", pkgs[below(s, 8)], (int)below(s, 60),
               verbs[below(s, 12)], i % 3 ? "Slow" : "");
      snprintf(buf + strlen(buf), sizeof buf - strlen(buf), "_%d", i);
    } else {
      /* Unique by construction: the index in base 36, padded at random. */
      int len = 0, v = i;
      do {
        buf[len++] = "abcdefghijklmnopqrstuvwxyz0123456789"[v % 36];
        v /= 36;
      } while (v);
      if (below(s, 2) == 0) buf[len++] = '_';
      if (below(s, 4) == 0) buf[len++] = 'x';
      buf[len] = '\0';
    }
    names[i] = ember_strdup(buf);
  }
  return names;
}

/* One app's stacks: each new one shares a prefix with an earlier one and
 * continues with frames of its own to a depth of 10 to 40, most near 10. */
typedef struct {
  uint16_t *frames; /* depth entries */
  int depth;
} gstack_t;

static gstack_t *make_pool(uint64_t *s, int n) {
  gstack_t *pool = ember_calloc((size_t)n, sizeof *pool);
  for (int i = 0; i < n; i++) {
    int depth = 10;
    while (depth < 40 && below(s, 100) < 62) depth += 1 + (int)below(s, 3);
    if (depth > 40) depth = 40;
    gstack_t *g = &pool[i];
    g->frames = ember_malloc((size_t)depth * sizeof *g->frames);
    g->depth = depth;
    int shared = 0;
    if (i > 0) {
      const gstack_t *o = &pool[below(s, (uint64_t)i)];
      shared = (int)below(s, (uint64_t)(o->depth < depth ? o->depth : depth));
      memcpy(g->frames, o->frames, (size_t)shared * sizeof *g->frames);
    }
    for (int d = shared; d < depth; d++)
      g->frames[d] = (uint16_t)(d == 0 ? below(s, 4) : 4 + below(s, NFRAMES - 4));
    /* The last frame is a fresh draw, so two stacks never coincide unless
     * the draw repeats; those few duplicates are summed by the server. */
  }
  return pool;
}

/* Body b: the pool's core (its first 80%) and a draw of the tail. */
static void make_body(uint64_t *s, char **names, const gstack_t *pool, int npool,
                      int nstacks, ember_buf_t *out) {
  int core = nstacks * 4 / 5;
  for (int k = 0; k < nstacks; k++) {
    int idx = k < core ? k : core + (int)below(s, (uint64_t)(npool - core));
    const gstack_t *g = &pool[idx];
    for (int d = 0; d < g->depth; d++) {
      if (d) ember_buf_putc(out, ';');
      ember_buf_puts(out, names[g->frames[d]]);
    }
    /* Counts skewed as samples are: most stacks seen a few times. */
    uint64_t r = below(s, 1000);
    uint64_t count = r < 700 ? 1 + r % 3 : r < 950 ? 4 + r % 40 : 50 + r * 3;
    ember_buf_printf(out, " %llu\n", (unsigned long long)count);
  }
}

/* ---- Bodies to push ------------------------------------------------------ */

typedef struct {
  ember_buf_t *bodies;
  int n;
  bool format_folded; /* lines and samples are counted */
  uint64_t *lines, *samples; /* per body */
} load_t;

static void count_body(load_t *l, int i) {
  const ember_buf_t *b = &l->bodies[i];
  for (size_t p = 0; p < b->len;) {
    const char *nl = memchr(b->data + p, '\n', b->len - p);
    size_t e = nl ? (size_t)(nl - b->data) : b->len;
    size_t sp = e;
    while (sp > p && b->data[sp - 1] != ' ') sp--;
    if (e > p) {
      l->lines[i]++;
      l->samples[i] += strtoull(b->data + sp, NULL, 10);
    }
    p = e + 1;
  }
}

static void load_bodies(const opts_t *o, load_t *l) {
  l->n = o->file ? 1 : o->bodies;
  l->format_folded = !o->format || !strcmp(o->format, "folded");
  l->bodies = ember_calloc((size_t)l->n, sizeof *l->bodies);
  l->lines = ember_calloc((size_t)l->n, sizeof *l->lines);
  l->samples = ember_calloc((size_t)l->n, sizeof *l->samples);
  if (o->file) {
    FILE *f = fopen(o->file, "rb");
    if (!f) {
      perror(o->file);
      exit(1);
    }
    char chunk[65536];
    size_t k;
    while ((k = fread(chunk, 1, sizeof chunk, f)) > 0) ember_buf_append(&l->bodies[0], chunk, k);
    fclose(f);
  } else {
    uint64_t s = o->seed;
    char **names = make_names(&s, o->long_names);
    int npool = o->stacks + o->stacks / 2;
    gstack_t *pool = make_pool(&s, npool);
    for (int i = 0; i < l->n; i++) make_body(&s, names, pool, npool, o->stacks, &l->bodies[i]);
    for (int i = 0; i < npool; i++) free(pool[i].frames);
    for (int i = 0; i < NFRAMES; i++) free(names[i]);
    free(pool);
    free(names);
  }
  for (int i = 0; l->format_folded && i < l->n; i++) count_body(l, i);
}

/* ---- The server under load ----------------------------------------------- */

typedef struct {
  unsigned long long user, sys; /* clock ticks */
} cpu_t;

typedef struct {
  const char *kind; /* a thread-name prefix, "" for the rest */
  cpu_t cpu;
} kind_cpu_t;

/* Thread names the server gives its threads, and what they do. */
static const char *KINDS[] = {"ember-writer", "ember-ingest", "ember-query", "ember-maint",
                              "ember-guard", ""};
#define NKINDS (sizeof KINDS / sizeof *KINDS)

static bool read_stat(const char *path, cpu_t *out, char *comm, size_t ncomm) {
  char buf[1024];
  FILE *f = fopen(path, "r");
  if (!f) return false;
  size_t n = fread(buf, 1, sizeof buf - 1, f);
  fclose(f);
  buf[n] = '\0';
  char *open = strchr(buf, '('), *close = strrchr(buf, ')');
  if (!open || !close) return false;
  if (comm) {
    size_t len = (size_t)(close - open - 1) < ncomm - 1 ? (size_t)(close - open - 1) : ncomm - 1;
    memcpy(comm, open + 1, len);
    comm[len] = '\0';
  }
  /* Fields after the name: state is field 3; utime 14, stime 15. */
  char *p = close + 2;
  for (int field = 3; field < 14 && p; field++) p = strchr(p, ' '), p = p ? p + 1 : p;
  if (!p) return false;
  return sscanf(p, "%llu %llu", &out->user, &out->sys) == 2;
}

/* The server's CPU so far, as a whole and by kind of thread. */
static void sample_cpu(pid_t pid, cpu_t *total, kind_cpu_t kinds[NKINDS]) {
  char path[128];
  memset(total, 0, sizeof *total);
  snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
  read_stat(path, total, NULL, 0);
  for (size_t k = 0; k < NKINDS; k++) kinds[k] = (kind_cpu_t){KINDS[k], {0, 0}};
  snprintf(path, sizeof path, "/proc/%d/task", (int)pid);
  DIR *d = opendir(path);
  for (struct dirent *e; d && (e = readdir(d));) {
    if (e->d_name[0] == '.') continue;
    char tpath[300], comm[64];
    cpu_t c;
    snprintf(tpath, sizeof tpath, "/proc/%d/task/%s/stat", (int)pid, e->d_name);
    if (!read_stat(tpath, &c, comm, sizeof comm)) continue;
    for (size_t k = 0; k < NKINDS; k++) {
      if (strncmp(comm, KINDS[k], strlen(KINDS[k])) == 0) {
        kinds[k].cpu.user += c.user;
        kinds[k].cpu.sys += c.sys;
        break;
      }
    }
  }
  if (d) closedir(d);
}

static long peak_rss_kib(pid_t pid) {
  char path[64], line[256];
  long kib = -1;
  snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
  FILE *f = fopen(path, "r");
  while (f && fgets(line, sizeof line, f))
    if (!strncmp(line, "VmHWM:", 6)) kib = strtol(line + 6, NULL, 10);
  if (f) fclose(f);
  return kib;
}

static void *drain_output(void *arg) {
  char line[512];
  while (fgets(line, sizeof line, (FILE *)arg)) {
  }
  return NULL;
}

/* Starts the server on a free port; *port and *dir (caller removes it). */
static pid_t start_server(const opts_t *o, const char *argv0, int *port, char **dir) {
  char bin[4096];
  const char *env = getenv("EMBER_BIN");
  if (env) {
    snprintf(bin, sizeof bin, "%s", env);
  } else {
    const char *slash = strrchr(argv0, '/');
    snprintf(bin, sizeof bin, "%.*s../ember", slash ? (int)(slash - argv0 + 1) : 0, argv0);
  }
  char tmpl[] = "/tmp/ember-load-XXXXXX";
  if (!mkdtemp(tmpl)) {
    perror("mkdtemp");
    exit(1);
  }
  *dir = ember_strdup(tmpl);
  int fds[2];
  if (pipe(fds)) exit(1);
  pid_t pid = fork();
  if (pid == 0) {
    dup2(fds[1], 1);
    close(fds[0]);
    char **args = ember_calloc((size_t)o->nserve_args + 8, sizeof *args);
    int n = 0;
    args[n++] = bin;
    args[n++] = "serve";
    args[n++] = "--listen";
    args[n++] = "127.0.0.1:0";
    args[n++] = "--data";
    args[n++] = tmpl;
    for (int i = 0; i < o->nserve_args; i++) args[n++] = o->serve_args[i];
    execv(bin, args);
    perror(bin);
    _exit(127);
  }
  close(fds[1]);
  FILE *f = fdopen(fds[0], "r");
  char line[512];
  *port = 0;
  while (!*port && fgets(line, sizeof line, f)) {
    const char *p = strstr(line, "listening on http://127.0.0.1:");
    if (p) *port = atoi(p + strlen("listening on http://127.0.0.1:"));
  }
  if (!*port) {
    fprintf(stderr, "the server did not start (%s)\n", bin);
    exit(1);
  }
  /* The rest of its output is drained, so the server never blocks on it. */
  pthread_t drain;
  pthread_create(&drain, NULL, drain_output, f);
  pthread_detach(drain);
  return pid;
}

/* ---- Connections --------------------------------------------------------- */

typedef struct {
  struct sockaddr_in addr;
  const load_t *load;
  const char *format, *app;
  long max_buckets;
  int id, nconn, nseries;
  atomic_llong *buckets; /* next bucket per series */
  uint64_t count_from_ns, deadline_ns;
  uint64_t *lat_ns;
  size_t n, cap;
  uint64_t lines, samples, bytes;
  int errors, busy;
} conn_t;

static int read_response(int fd, char *buf, size_t cap) {
  size_t n = 0;
  char *end = NULL;
  while (!end) {
    if (n == cap - 1) return -1;
    ssize_t k = recv(fd, buf + n, cap - 1 - n, 0);
    if (k <= 0) return -1;
    n += (size_t)k;
    buf[n] = '\0';
    end = strstr(buf, "\r\n\r\n");
  }
  const char *cl = strcasestr(buf, "Content-Length:");
  size_t want = cl ? strtoul(cl + 15, NULL, 10) : 0;
  size_t have = n - (size_t)(end + 4 - buf);
  int status = atoi(buf + 9);
  while (have < want) {
    ssize_t k = recv(fd, buf, cap - 1, 0);
    if (k <= 0) return -1;
    have += (size_t)k;
  }
  return status;
}

static void *run(void *arg) {
  conn_t *c = arg;
  int fd = socket(AF_INET, SOCK_STREAM, 0), one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  if (connect(fd, (struct sockaddr *)&c->addr, sizeof c->addr)) {
    perror("connect");
    exit(1);
  }
  char head[512], resp[65536];
  for (long i = 0;; i++) {
    uint64_t t0 = ember_mono_ns();
    if (t0 >= c->deadline_ns) break;
    int series = (int)((c->id + (long)c->nconn * i) % c->nseries);
    int body = (int)((c->id * 5 + i) % c->load->n);
    long k = (long)atomic_fetch_add(&c->buckets[series], 1);
    if (c->max_buckets && k >= c->max_buckets) {
      bool left = false;
      for (int s = 0; s < c->nseries && !left; s++)
        left = atomic_load(&c->buckets[s]) < c->max_buckets;
      if (!left) break;
      continue;
    }
    long from = 1700000000L + 10 * k;
    const ember_buf_t *b = &c->load->bodies[body];
    int hn = snprintf(head, sizeof head,
                      "POST /ingest?name=%s.cpu%%7Bseries%%3D%d%%7D&from=%ld&until=%ld"
                      "&format=%s HTTP/1.1\r\nHost: localhost\r\nContent-Length: %zu"
                      "\r\n\r\n",
                      c->app, series, from, from + 10, c->format, b->len);
    if (send(fd, head, (size_t)hn, MSG_NOSIGNAL) != hn ||
        send(fd, b->data, b->len, MSG_NOSIGNAL) != (ssize_t)b->len) {
      c->errors++;
      break;
    }
    int status = read_response(fd, resp, sizeof resp);
    if (status < 0) {
      c->errors++;
      break;
    }
    if (t0 < c->count_from_ns) continue; /* warming up */
    if (status == 429) {
      c->busy++;
      continue;
    }
    if (status != 200) {
      if (c->errors++ == 0) fprintf(stderr, "push answered %d\n", status);
      continue;
    }
    ember_grow((void **)&c->lat_ns, &c->cap, c->n + 1, sizeof *c->lat_ns);
    c->lat_ns[c->n++] = ember_mono_ns() - t0;
    c->lines += c->load->lines[body];
    c->samples += c->load->samples[body];
    c->bytes += b->len;
  }
  close(fd);
  return NULL;
}

static double tv_s(struct timeval tv) { return (double)tv.tv_sec + (double)tv.tv_usec / 1e6; }

static int cmp_u64(const void *a, const void *b) {
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return x < y ? -1 : x > y;
}

/* ---- Main ----------------------------------------------------------------- */

static void dump(const opts_t *o, const load_t *l) {
  mkdir(o->dump, 0755);
  for (int i = 0; i < l->n; i++) {
    char path[4096];
    snprintf(path, sizeof path, "%s/body%02d.folded", o->dump, i);
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(l->bodies[i].data, 1, l->bodies[i].len, f) != l->bodies[i].len) {
      perror(path);
      exit(1);
    }
    fclose(f);
  }
}

/* The size of what the server left in dir (warm-up pushes included). */
static void dir_report(const char *dir, uint64_t lines) {
  DIR *d = opendir(dir);
  uint64_t bytes = 0;
  for (struct dirent *e; d && (e = readdir(d));) {
    char path[4096];
    struct stat st;
    snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
    if (e->d_name[0] != '.' && stat(path, &st) == 0) bytes += (uint64_t)st.st_size;
  }
  if (d) closedir(d);
  printf("data directory after the run: %.1f MB (%.1f bytes per stack line counted)\n",
         (double)bytes / 1e6, lines ? (double)bytes / (double)lines : 0);
}

static void describe(const load_t *l) {
  size_t bytes = 0;
  uint64_t lines = 0;
  for (int i = 0; i < l->n; i++) bytes += l->bodies[i].len, lines += l->lines[i];
  printf("load: %d bodies of %.0f stack lines on average (%.1f KB each, %.2f MB in all)\n",
         l->n, (double)lines / l->n, (double)bytes / l->n / 1e3, (double)bytes / 1e6);
  if (!l->format_folded) printf("  (lines are counted in folded bodies only)\n");
}

int main(int argc, char **argv) {
  opts_t o;
  parse_opts(argc, argv, &o);
  load_t load = {0};
  load_bodies(&o, &load);
  if (o.dump) {
    dump(&o, &load);
    return 0;
  }
  describe(&load);

  char host[64] = "127.0.0.1", *dir = NULL;
  int port = 0;
  pid_t started = 0;
  if (o.target) {
    const char *colon = strrchr(o.target, ':');
    if (!colon || (size_t)(colon - o.target) >= sizeof host) usage(argv[0]);
    memcpy(host, o.target, (size_t)(colon - o.target));
    host[colon - o.target] = '\0';
    port = atoi(colon + 1);
  } else {
    started = o.pid = start_server(&o, argv[0], &port, &dir);
  }

  conn_t *conns = ember_calloc((size_t)o.conns, sizeof *conns);
  pthread_t *th = ember_calloc((size_t)o.conns, sizeof *th);
  atomic_llong *buckets = ember_calloc((size_t)o.series, sizeof *buckets);
  uint64_t start = ember_mono_ns();
  uint64_t count_from = start + (uint64_t)o.warmup * 1000000000u;
  for (int i = 0; i < o.conns; i++) {
    conn_t *c = &conns[i];
    c->addr.sin_family = AF_INET;
    c->addr.sin_port = htons((uint16_t)port);
    inet_pton(AF_INET, host, &c->addr.sin_addr);
    c->load = &load;
    c->format = o.format ? o.format : "folded";
    c->app = o.app;
    c->max_buckets = o.buckets;
    c->id = i;
    c->nconn = o.conns;
    c->nseries = o.series;
    c->buckets = buckets;
    c->count_from_ns = count_from;
    c->deadline_ns = count_from + (uint64_t)o.secs * 1000000000u;
    pthread_create(&th[i], NULL, run, c);
  }
  cpu_t cpu0 = {0}, cpu1 = {0};
  kind_cpu_t k0[NKINDS], k1[NKINDS];
  struct timespec nap = {0, 10000000};
  while (ember_mono_ns() < count_from) nanosleep(&nap, NULL);
  if (o.pid) sample_cpu(o.pid, &cpu0, k0);
  struct rusage ru0, ru1;
  getrusage(RUSAGE_SELF, &ru0);
  uint64_t t0 = ember_mono_ns();

  size_t total = 0;
  uint64_t lines = 0, samples = 0, bytes = 0;
  int errors = 0, busy = 0;
  for (int i = 0; i < o.conns; i++) {
    pthread_join(th[i], NULL);
    total += conns[i].n;
    lines += conns[i].lines;
    samples += conns[i].samples;
    bytes += conns[i].bytes;
    errors += conns[i].errors;
    busy += conns[i].busy;
  }
  double elapsed = (double)(ember_mono_ns() - t0) / 1e9;
  if (o.pid) sample_cpu(o.pid, &cpu1, k1);
  getrusage(RUSAGE_SELF, &ru1);

  uint64_t *all = ember_malloc((total ? total : 1) * sizeof *all);
  size_t j = 0;
  for (int i = 0; i < o.conns; i++)
    for (size_t m = 0; m < conns[i].n; m++) all[j++] = conns[i].lat_ns[m];
  qsort(all, total, sizeof *all, cmp_u64);
  printf("%d connections over %d series, %.1f s after %d s of warm-up: %zu pushes "
         "acknowledged (%d refused with 429, %d errors)\n",
         o.conns, o.series, elapsed, o.warmup, total, busy, errors);
  if (load.format_folded)
    printf("rate: %.0f pushes/s, %.0f stack lines/s, %.0f samples/s, %.1f MB/s of folded "
           "text\n",
           (double)total / elapsed, (double)lines / elapsed, (double)samples / elapsed,
           (double)bytes / elapsed / 1e6);
  else
    printf("rate: %.0f pushes/s, %.1f MB/s of %s bodies\n", (double)total / elapsed,
           (double)bytes / elapsed / 1e6, o.format);
  if (total)
    printf("latency of a 200: p50 %.1f ms, p90 %.1f ms, p99 %.1f ms, max %.1f ms\n",
           (double)all[total / 2] / 1e6, (double)all[total * 9 / 10] / 1e6,
           (double)all[total * 99 / 100] / 1e6, (double)all[total - 1] / 1e6);
  if (o.pid) {
    double hz = (double)sysconf(_SC_CLK_TCK);
    double user = (double)(cpu1.user - cpu0.user) / hz, sys = (double)(cpu1.sys - cpu0.sys) / hz;
    double per = lines ? (user + sys) / ((double)lines / 1e6) : 0;
    if (lines)
      printf("server CPU: %.2f s (user %.2f, sys %.2f) = %.2f s per million stack lines, "
             "%.0f%% of one core\n",
             user + sys, user, sys, per, (user + sys) / elapsed * 100);
    else
      printf("server CPU: %.2f s (user %.2f, sys %.2f) = %.1f MB of pushes per CPU "
             "second, %.0f%% of one core\n",
             user + sys, user, sys, (double)bytes / 1e6 / (user + sys),
             (user + sys) / elapsed * 100);
    printf("  by thread:");
    for (size_t k = 0; k < NKINDS; k++) {
      double s = (double)(k1[k].cpu.user + k1[k].cpu.sys - k0[k].cpu.user - k0[k].cpu.sys) / hz;
      printf(" %s %.2f s%s", k1[k].kind[0] ? k1[k].kind : "other", s,
             k + 1 < NKINDS ? "," : "\n");
    }
    printf("server peak RSS: %.1f MiB\n", (double)peak_rss_kib(o.pid) / 1024);
  }
  double gen = tv_s(ru1.ru_utime) - tv_s(ru0.ru_utime) + tv_s(ru1.ru_stime) -
               tv_s(ru0.ru_stime);
  printf("load generator CPU: %.2f s, %.0f%% of one core\n", gen, gen / elapsed * 100);

  if (started) {
    kill(started, SIGTERM);
    waitpid(started, NULL, 0);
    dir_report(dir, lines);
    char cmd[256];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", dir);
  }
  for (int i = 0; i < o.conns; i++) free(conns[i].lat_ns);
  for (int i = 0; i < load.n; i++) ember_buf_free(&load.bodies[i]);
  free(load.bodies);
  free(load.lines);
  free(load.samples);
  free(all);
  free(conns);
  free(th);
  free(buckets);
  free(dir);
  return errors ? 1 : 0;
}
