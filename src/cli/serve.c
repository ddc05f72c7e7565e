/*
 * serve.c - `ember serve`: its options, where each may come from, and the
 * run of the server until a signal.
 *
 * One table (flags[] below) holds everything an option is: its name, the
 * help text, the parser of its value and the field the value goes to. From
 * it come getopt's list, `ember serve --help` and the environment: every
 * option --NAME is also read from EMBER_NAME (upper case, '-' as '_'), the
 * way containers are configured. The command line wins over the
 * environment; an empty variable counts as unset; a repeatable option takes
 * a comma-separated list; a bad value is refused exactly as a bad flag is,
 * naming the variable. Adding an option is adding one row.
 */
#include <ctype.h>
#include <getopt.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "ember/common.h"
#include "ember/http.h"
#include "ember/store.h"
#include "ember/timeexpr.h"

/* ---- Types ------------------------------------------------------------- */

/* A flag that may be given many times, collected NULL-terminated. The
 * strings are borrowed (from argv, or from env_copies below). */
typedef struct {
  const char **items;
  size_t n;
} str_list_t;

/* Everything `ember serve` was asked. */
typedef struct {
  ember_server_config_t scfg;
  ember_store_config_t stcfg;
  str_list_t origins, hosts;
  unsigned grace;      /* seconds */
  size_t max_nodes;    /* 0: the server's default */
  char *env_copies[8]; /* split copies of list variables; freed at the end */
  size_t nenv_copies;
  char from_env[512]; /* variables that set something, for messages */
} serve_opts_t;

/* How an option's text becomes its value, and the C type of the field the
 * value goes to (AT below checks that type). */
typedef enum {
  V_TEXT,   /* const char *, taken as it is */
  V_LIST,   /* str_list_t: repeatable, or comma-separated in the environment */
  V_SIZE,   /* size_t bytes: 32MiB, 512k, 1048576 */
  V_SIZE64, /* uint64_t bytes, as V_SIZE */
  V_UINT,   /* unsigned count from 1 to max */
  V_ZCOUNT, /* size_t count from 1 to max */
  V_AGE,    /* int64_t seconds: 30d, 12h, 90m */
} value_kind_t;

/* One option of `ember serve`, or (name NULL) the title of a section of
 * the help. */
typedef struct {
  const char *name;    /* the long option, without "--" */
  const char *metavar; /* what the help calls its value */
  value_kind_t kind;
  size_t off;       /* the field in serve_opts_t */
  unsigned max;     /* counts: the largest accepted */
  const char *hint; /* how a good value looks, said when one is refused */
  const char *help; /* lines of the help, '\n' between them */
} flag_t;

/* The offset of member in serve_opts_t, which must have type T: a row
 * whose kind does not match its field fails to compile instead of writing
 * the field as the wrong type. */
#define AT(T, member)                                                                    \
  (offsetof(serve_opts_t, member) +                                                      \
   0 * sizeof(struct {                                                                   \
     int type_matches : _Generic(((serve_opts_t *)0)->member, T : 1, default : -1);      \
   }))

/* The kind of a row and the field its value goes to, whose type the kind
 * fixes. */
#define TEXT(m) V_TEXT, AT(const char *, m)
#define LIST(m) V_LIST, AT(str_list_t, m)
#define SIZE(m) V_SIZE, AT(size_t, m)
#define SIZE64(m) V_SIZE64, AT(uint64_t, m)
#define UINT(m) V_UINT, AT(unsigned, m)
#define ZCOUNT(m) V_ZCOUNT, AT(size_t, m)
#define AGE(m) V_AGE, AT(int64_t, m)
#define SECTION(title)                                                                   \
  { NULL, NULL, V_TEXT, 0, 0, NULL, title }

/* ---- The options ------------------------------------------------------- */

static const flag_t flags[] = {
    SECTION("Options:"),
    {"listen", "HOST:PORT", TEXT(scfg.listen), 0, NULL,
     "address to listen on (default 127.0.0.1:4040;\n"
     "0.0.0.0:4040 for every interface, port 0 for any\n"
     "free port)"},
    {"data", "DIR", TEXT(stcfg.data_dir), 0, NULL,
     "directory of the database, created if missing\n"
     "(default ./data)"},
    {"store", "URL|DIR", TEXT(stcfg.location), 0, NULL,
     "where the data lives: postgres://user@host/db (or\n"
     "postgresql://) for a PostgreSQL database several\n"
     "nodes share, else a directory as --data"},
    {"retention", "AGE", AGE(stcfg.retention_seconds), 0, "use e.g. 30d, 12h or 90m",
     "delete data older than AGE, e.g. 30d, 12h, 90m\n"
     "(default: keep forever)"},
    {"max-body", "SIZE", SIZE(scfg.max_body), 0, "use e.g. 32MiB, 512KiB or 1048576",
     "largest request body accepted, also after\n"
     "decompression, e.g. 32MiB, 512KiB, 1048576\n"
     "(default 32MiB)"},
    {"workers", "N", UINT(scfg.workers), 1024, "use a number from 1 to 1024",
     "threads that parse pushes and run queries\n"
     "(default: two per core)"},
    {"write-queue", "N", ZCOUNT(stcfg.queue_max), 1000000,
     "use a number from 1 to 1000000",
     "pushes waiting for the disk before /ingest answers\n"
     "429 (default 1024)"},
    {"shutdown-grace", "S", UINT(grace), 3600, "use seconds from 1 to 3600",
     "on SIGTERM, seconds to let requests finish before\n"
     "what still waits is answered 503; pushes already\n"
     "with the disk are always committed (default 30)"},

    SECTION("Limits (what one client, or all together, may hold):"),
    {"max-inflight", "SIZE", SIZE(scfg.max_inflight), 0, "use e.g. 512MiB or 2GiB",
     "bytes of request bodies and parsed profiles held at\n"
     "once; more is answered 429 (default 512MiB)"},
    {"max-conns-per-ip", "N", UINT(scfg.max_conns_per_ip), 65535,
     "use a number from 1 to 65535", "open connections from one address (default 128)"},
    {"request-timeout", "S", UINT(scfg.request_timeout), 3600,
     "use seconds from 1 to 3600",
     "seconds a client has to send a request's headers\n"
     "and body (default 30)"},
    {"idle-timeout", "S", UINT(scfg.idle_timeout), 3600, "use seconds from 1 to 3600",
     "seconds a connection may idle between requests\n"
     "(default 60)"},
    {"max-queries", "N", UINT(scfg.max_queries), 1024, "use a number from 1 to 1024",
     "queries running at once; a few more wait, the rest\n"
     "get 503 (default: one per core, at least 2)"},
    {"query-timeout", "S", UINT(scfg.query_timeout), 3600, "use seconds from 1 to 3600",
     "seconds a query may take, waiting included; then\n"
     "504 (default 30)"},
    {"max-nodes", "N", ZCOUNT(max_nodes), 100000000, "use a number from 1 to 100000000",
     "most nodes a flame graph may draw: maxNodes=-1 means\n"
     "this many, larger values are lowered to it\n"
     "(default 65536)"},
    {"max-new-stacks", "N", ZCOUNT(stcfg.max_new_stacks), 100000000,
     "use a number from 1 to 100000000",
     "distinct stacks one push may add to the store; more\n"
     "is answered 429 and nothing is stored (default 250000)"},
    {"max-series-per-app", "N", ZCOUNT(stcfg.max_series_per_app), 100000000,
     "use a number from 1 to 100000000",
     "series (label sets) one app may have (default\n"
     "10000)"},
    {"max-apps", "N", ZCOUNT(stcfg.max_apps), 100000000,
     "use a number from 1 to 100000000", "apps the server holds (default 10000)"},
    {"dict-cache", "SIZE", SIZE(stcfg.dict_cache), 0, "use e.g. 256MiB or 2GiB",
     "memory for cached stack dictionaries; the least\n"
     "recently used apps' are dropped beyond it and reloaded\n"
     "when needed (default 256MiB)"},
    {"min-free-disk", "SIZE", SIZE64(stcfg.min_free_disk), 0, "use e.g. 64MiB or 1GiB",
     "free space on the data's disk below which /readyz\n"
     "answers 503 (default 64MiB)"},

    SECTION("Access (docs/API.md, \"Auth\" and \"Browser safety\"):"),
    {"auth-token-file", "F", TEXT(scfg.auth_token_file), 0, NULL,
     "require tokens: one per line, 'TOKEN [ingest|read|\n"
     "admin]' (admin when no role is given)"},
    {"allow-origin", "O", LIST(origins), 0, NULL,
     "let pages of origin O (e.g. https://grafana.example)\n"
     "make changing requests; repeatable, * for any"},
    {"allow-host", "NAME", LIST(hosts), 0, NULL,
     "answer requests for Host NAME; repeatable. Without\n"
     "it, a loopback server answers only localhost and IP\n"
     "addresses, and others answer any Host"},
    {"tls-cert", "FILE", TEXT(scfg.tls_cert), 0, NULL,
     "serve HTTPS with this PEM certificate (chain) ..."},
    {"tls-key", "FILE", TEXT(scfg.tls_key), 0, NULL, "... and this PEM private key"},

    SECTION("Limits of one push:"),
    {"max-stack-depth", "N", UINT(scfg.ingest.max_stack_depth), 100000,
     "use a number of frames from 1 to 100000",
     "frames kept per stack; deeper stacks keep the N-1\n"
     "nearest the root and end in [truncated] (default\n"
     "1000)"},
    {"max-apps-per-push", "N", UINT(scfg.ingest.max_apps), 10000,
     "use a number from 1 to 10000",
     "apps (pprof sample types) one push may write, else\n"
     "429 (default 32)"},
    {"max-series-per-push", "N", UINT(scfg.ingest.max_series), 1000000,
     "use a number from 1 to 1000000",
     "series (label sets times apps) one push may write,\n"
     "else 429 (default 1000)"},
    {"max-future-skew", "AGE", AGE(scfg.ingest.max_future_skew), 0,
     "use e.g. 10m, 1h or 90s",
     "how far ahead of the server's clock a push may be,\n"
     "else 422, e.g. 10m, 1h (default 10m)"},
};

#define NFLAGS (sizeof flags / sizeof flags[0])

/* getopt's value for flags[i]; below it are the short options. */
#define FLAG_VAL 256

/* UINT rows point at uint32_t fields (the ingest limits) as unsigned. */
_Static_assert(_Generic((uint32_t)0, unsigned : 1, default : 0),
               "uint32_t is unsigned int");

static const char usage_head[] =
    "Usage: ember serve [options]\n"
    "\n"
    "Runs the server until SIGINT or SIGTERM, then finishes the requests in\n"
    "flight, commits queued writes and exits.\n"
    "\n"
    "Every option can also be set in the environment, by the variable named\n"
    "under it (EMBER_ and the option in capitals, '-' as '_'), as containers\n"
    "are configured. The command line wins; an empty variable counts as\n"
    "unset; a repeatable option takes a comma-separated list, e.g.\n"
    "EMBER_ALLOW_ORIGIN=https://a.example,https://b.example.\n";

/* ---- Help and names ---------------------------------------------------- */

/* Where descriptions start in the help. */
#define HELP_COL 23

/* EMBER_ and f's name in capitals, '-' as '_'. */
static void env_name(const flag_t *f, char *out, size_t size) {
  size_t n = (size_t)snprintf(out, size, "EMBER_%s", f->name);
  for (size_t i = 6; i < n && i < size; i++)
    out[i] = out[i] == '-' ? '_' : (char)toupper((unsigned char)out[i]);
}

/* Prints one option: its flag and its variable in the left column, the
 * description beside them; a left entry too wide for the column gets a
 * line of its own. */
static void print_flag(FILE *out, const flag_t *f) {
  char left[2][64];
  snprintf(left[0], sizeof left[0], "--%s %s", f->name, f->metavar);
  env_name(f, left[1], sizeof left[1]);
  const char *right = f->help;
  for (size_t i = 0; i < 2 || *right; i++) {
    const char *l = i < 2 ? left[i] : "";
    if (strlen(l) > HELP_COL - 4) { /* two spaces before the description */
      fprintf(out, "  %s\n", l);
      continue;
    }
    size_t len = strcspn(right, "\n");
    if (len)
      fprintf(out, "  %-*s%.*s\n", HELP_COL - 2, l, (int)len, right);
    else
      fprintf(out, "  %s\n", l);
    right += len;
    if (*right == '\n') right++;
  }
}

static void print_usage(FILE *out) {
  fputs(usage_head, out);
  for (size_t i = 0; i < NFLAGS; i++) {
    if (!flags[i].name)
      fprintf(out, "\n%s\n", flags[i].help);
    else
      print_flag(out, &flags[i]);
  }
  fputs("  -h, --help           show this help\n", out);
  fputs(EMBER_CLI_EXIT_CODES, out);
}

/* ---- Values ------------------------------------------------------------ */

static void str_list_add(str_list_t *l, const char *s) {
  l->items = ember_realloc(l->items, (l->n + 2) * sizeof *l->items);
  l->items[l->n++] = s;
  l->items[l->n] = NULL;
}

/* Parses text (borrowed for as long as o is used) as f's value into o.
 * 0, or -1 when text is not a good value. */
static int set_value(const flag_t *f, const char *text, serve_opts_t *o) {
  char *at = (char *)o + f->off;
  unsigned n;
  size_t size;
  switch (f->kind) {
  case V_TEXT: *(const char **)at = text; return 0;
  case V_LIST: str_list_add((str_list_t *)at, text); return 0;
  case V_SIZE: return ember_cli_parse_size(text, (size_t *)at);
  case V_SIZE64:
    if (ember_cli_parse_size(text, &size)) return -1;
    *(uint64_t *)at = size;
    return 0;
  case V_UINT: return ember_cli_parse_count(text, f->max, (unsigned *)at);
  case V_ZCOUNT:
    if (ember_cli_parse_count(text, f->max, &n)) return -1;
    *(size_t *)at = n;
    return 0;
  case V_AGE: return ember_duration_parse(text, (int64_t *)at, NULL) ? -1 : 0;
  }
  return -1;
}

/* Adds the comma-separated items of text to f's list, spaces around them
 * trimmed and empty ones skipped. */
static void set_list(const flag_t *f, const char *text, serve_opts_t *o) {
  if (o->nenv_copies == sizeof o->env_copies / sizeof *o->env_copies) abort();
  char *copy = ember_strdup(text);
  o->env_copies[o->nenv_copies++] = copy;
  for (char *save = NULL, *item = strtok_r(copy, ",", &save); item;
       item = strtok_r(NULL, ",", &save)) {
    while (*item == ' ' || *item == '\t')
      item++;
    size_t len = strlen(item);
    while (len && (item[len - 1] == ' ' || item[len - 1] == '\t'))
      item[--len] = '\0';
    if (len) set_value(f, item, o);
  }
}

/* Reads the variable of every option the command line left out. Returns
 * -1 when all are good, else the exit code. */
static int read_env(serve_opts_t *o, const bool *given) {
  for (size_t i = 0; i < NFLAGS; i++) {
    const flag_t *f = &flags[i];
    if (!f->name || given[i]) continue;
    char var[64];
    env_name(f, var, sizeof var);
    const char *v = getenv(var);
    if (!v || !*v) continue;
    size_t used = strlen(o->from_env);
    snprintf(o->from_env + used, sizeof o->from_env - used, "%s%s", used ? ", " : "",
             var);
    if (f->kind == V_LIST) {
      set_list(f, v, o);
      continue;
    }
    char what[80];
    snprintf(what, sizeof what, "bad %s", var);
    if (set_value(f, v, o)) return ember_cli_fail("serve", what, v, f->hint);
  }
  return -1;
}

/* Reads the command line into o, marking in given[] the options it set.
 * Returns -1 when all is good, else the exit code (0 after --help). */
static int read_args(int argc, char **argv, serve_opts_t *o, bool *given) {
  struct option opts[NFLAGS + 2];
  size_t n = 0;
  for (size_t i = 0; i < NFLAGS; i++)
    if (flags[i].name)
      opts[n++] =
          (struct option){flags[i].name, required_argument, NULL, FLAG_VAL + (int)i};
  opts[n++] = (struct option){"help", no_argument, NULL, 'h'};
  opts[n] = (struct option){NULL, 0, NULL, 0};
  opterr = 0;
  int c;
  while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
    if (c >= FLAG_VAL) {
      const flag_t *f = &flags[c - FLAG_VAL];
      given[c - FLAG_VAL] = true;
      char what[80];
      snprintf(what, sizeof what, "bad --%s", f->name);
      if (set_value(f, optarg, o)) return ember_cli_fail("serve", what, optarg, f->hint);
      continue;
    }
    switch (c) {
    case 'h': print_usage(stdout); return 0;
    case ':':
      return ember_cli_fail("serve", "missing value for", argv[optind - 1],
                            "run `ember serve --help`");
    default:
      return ember_cli_fail("serve", "unknown option", argv[optind - 1],
                            "run `ember serve --help`");
    }
  }
  if (optind < argc)
    return ember_cli_fail("serve", "unexpected argument", argv[optind],
                          "run `ember serve --help`");
  return -1;
}

/* The form of --listen is a usage error (exit 2) like any bad value; only
 * binding it is left to the start. Returns -1 when good, else 2. */
static int check_listen(const serve_opts_t *o, const bool *given) {
  ember_err_t err;
  if (!ember_server_check_listen(o->scfg.listen, &err)) return -1;
  bool from_env = false;
  for (size_t i = 0; i < NFLAGS; i++)
    if (flags[i].name && !strcmp(flags[i].name, "listen")) from_env = !given[i];
  fprintf(stderr, "ember serve: %s%s\n", err.msg,
          from_env ? " (set from EMBER_LISTEN)" : "");
  return 2;
}

/* ---- Running ----------------------------------------------------------- */

/* Says why the server could not start, and which settings came from the
 * environment: in a container they are nowhere on the command line. */
static int start_failed(const serve_opts_t *o, const ember_err_t *err) {
  if (o->from_env[0])
    fprintf(stderr, "ember serve: %s (set from the environment: %s)\n", err->msg,
            o->from_env);
  else
    fprintf(stderr, "ember serve: %s\n", err->msg);
  return 1;
}

/* Keeps freed memory for the next request instead of giving it back to
 * the kernel at once. A query sums into arrays of megabytes and frees them
 * at its end; with glibc's defaults those pages went back to the kernel
 * and the next query faulted every one of them in again, a sixth of the
 * CPU of a large render. Up to 64 MiB per malloc arena is kept; larger
 * blocks still come from and go back to the kernel directly. */
static void tune_malloc(void) {
#ifdef __GLIBC__
  mallopt(M_MMAP_THRESHOLD, 32 << 20);
  mallopt(M_TRIM_THRESHOLD, 64 << 20);
#endif
}

/* Runs the server until a signal; returns the exit code. */
static int serve_run(const serve_opts_t *o) {
  const ember_server_config_t *scfg = &o->scfg;
  const ember_store_config_t *stcfg = &o->stcfg;
  /* Every thread started from here on inherits the blocked signals, so only
   * sigwait below sees SIGINT/SIGTERM. */
  sigset_t sigs;
  sigemptyset(&sigs);
  sigaddset(&sigs, SIGINT);
  sigaddset(&sigs, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &sigs, NULL);
  signal(SIGPIPE, SIG_IGN);

  ember_store_t *store = NULL;
  ember_server_t *srv = NULL;
  ember_err_t err;
  tune_malloc();
  /* Bind (and read the TLS and token files) before the store is opened: a
   * start that fails on them leaves no database behind. */
  if (ember_server_new(scfg, &srv, &err)) return start_failed(o, &err);
  if (ember_store_open(stcfg, &store, &err)) {
    ember_server_stop(srv, 0);
    return start_failed(o, &err);
  }
  ember_store_health_t health;
  ember_store_health(store, &health);
  if (!health.ready)
    fprintf(stderr, "ember serve: warning: not ready: %s\n", health.reason);
  if (ember_server_run(srv, store, &err)) {
    ember_server_stop(srv, 0);
    ember_store_close(store);
    return start_failed(o, &err);
  }
  const char *colon = strrchr(scfg->listen, ':');
  printf("ember %s listening on %s://%.*s:%u (data in %s)\n", EMBER_VERSION,
         ember_server_tls(srv) ? "https" : "http", (int)(colon - scfg->listen),
         scfg->listen, ember_server_port(srv), ember_store_where(store));
  fflush(stdout);

  int sig = 0;
  sigwait(&sigs, &sig);
  fprintf(stderr,
          "ember: %s received, finishing requests in flight (Ctrl-C again stops at "
          "once)\n",
          sig == SIGINT ? "SIGINT" : "SIGTERM");
  /* A second Ctrl-C ends the process on the spot: what was answered 200 is
   * on disk already, and nothing else was promised. A repeated SIGTERM (a
   * supervisor asking again) keeps the graceful stop going. */
  sigset_t again;
  sigemptyset(&again);
  sigaddset(&again, SIGINT);
  signal(SIGINT, SIG_DFL);
  pthread_sigmask(SIG_UNBLOCK, &again, NULL);
  ember_server_stop(srv, o->grace * 1000u);
  ember_store_close(store);
  fprintf(stderr, "ember: stopped\n");
  return 0;
}

int ember_cli_serve(int argc, char **argv) {
  serve_opts_t o = {.scfg = {.listen = EMBER_HTTP_DEFAULT_LISTEN,
                             .max_body = EMBER_HTTP_DEFAULT_MAX_BODY},
                    .stcfg = {.data_dir = "./data"},
                    .grace = 30};
  bool given[NFLAGS] = {false};
  int rc = read_args(argc, argv, &o, given);
  if (rc < 0) rc = read_env(&o, given);
  if (rc < 0) rc = check_listen(&o, given);
  if (rc < 0) {
    o.scfg.max_nodes = (long)o.max_nodes;
    o.scfg.allow_origins = o.origins.items;
    o.scfg.allow_hosts = o.hosts.items;
    rc = serve_run(&o);
  }
  free(o.origins.items);
  free(o.hosts.items);
  for (size_t i = 0; i < o.nenv_copies; i++)
    free(o.env_copies[i]);
  return rc;
}
