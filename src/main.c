/*
 * main.c - the ember command line. Only wiring lives here: argument parsing,
 * signals, and calls into the library.
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "ember/client.h"
#include "ember/common.h"
#include "ember/http.h"
#include "ember/store.h"
#include "ember/timeexpr.h"

#define EMBER_VERSION "0.1.0"

static const char usage[] =
    "Usage: ember <command> [options]\n"
    "\n"
    "Ember is a continuous profiling server: agents push stack samples over\n"
    "HTTP (Pyroscope's API), Ember stores them and serves flame graphs, diffs\n"
    "and a web UI.\n"
    "\n"
    "Commands:\n"
    "  serve     run the server (default 127.0.0.1:4040, data in ./data)\n"
    "  export    write a flame graph from a running server to a file (svg, html,\n"
    "            json or collapsed)\n"
    "  version   print the version\n"
    "\n"
    "Run `ember <command> --help` for the options of a command.\n";

static const char serve_usage[] =
    "Usage: ember serve [options]\n"
    "\n"
    "Runs the server until SIGINT or SIGTERM, then finishes the requests in\n"
    "flight, commits queued writes and exits.\n"
    "\n"
    "Options:\n"
    "  --listen HOST:PORT   address to listen on (default 127.0.0.1:4040;\n"
    "                       0.0.0.0:4040 for every interface, port 0 for any\n"
    "                       free port)\n"
    "  --data DIR           directory of the database, created if missing\n"
    "                       (default ./data)\n"
    "  --retention AGE      delete data older than AGE, e.g. 30d, 12h, 90m\n"
    "                       (default: keep forever)\n"
    "  --max-body SIZE      largest request body accepted, also after\n"
    "                       decompression, e.g. 32MiB, 512KiB, 1048576\n"
    "                       (default 32MiB)\n"
    "  --workers N          threads that parse pushes and run queries\n"
    "                       (default: two per core)\n"
    "  --write-queue N      pushes waiting for the disk before /ingest answers\n"
    "                       429 (default 1024)\n"
    "  --shutdown-grace S   on SIGTERM, seconds to let requests finish before\n"
    "                       what still waits is answered 503; pushes already\n"
    "                       with the disk are always committed (default 30)\n"
    "\n"
    "Limits (what one client, or all together, may hold):\n"
    "  --max-inflight SIZE  bytes of request bodies and parsed profiles held at\n"
    "                       once; more is answered 429 (default 512MiB)\n"
    "  --max-conns-per-ip N open connections from one address (default 128)\n"
    "  --request-timeout S  seconds a client has to send a request's headers\n"
    "                       and body (default 30)\n"
    "  --idle-timeout S     seconds a connection may idle between requests\n"
    "                       (default 60)\n"
    "  --max-queries N      queries running at once; a few more wait, the rest\n"
    "                       get 503 (default: one per core, at least 2)\n"
    "  --query-timeout S    seconds a query may take, waiting included; then\n"
    "                       504 (default 30)\n"
    "  --max-nodes N        most nodes a flame graph may draw: maxNodes=-1 means\n"
    "                       this many, larger values are lowered to it\n"
    "                       (default 65536)\n"
    "  --max-new-stacks N   distinct stacks one push may add to the store; more\n"
    "                       is answered 429 and nothing is stored (default 250000)\n"
    "  --max-series-per-app N  series (label sets) one app may have (default\n"
    "                       10000)\n"
    "  --max-apps N         apps the server holds (default 10000)\n"
    "  --dict-cache SIZE    memory for cached stack dictionaries; the least\n"
    "                       recently used apps' are dropped beyond it and reloaded\n"
    "                       when needed (default 256MiB)\n"
    "  --min-free-disk SIZE free space on the data's disk below which /readyz\n"
    "                       answers 503 (default 64MiB)\n"
    "\n"
    "Access (docs/API.md, \"Auth\" and \"Browser safety\"):\n"
    "  --auth-token-file F  require tokens: one per line, 'TOKEN [ingest|read|\n"
    "                       admin]' (admin when no role is given)\n"
    "  --allow-origin O     let pages of origin O (e.g. https://grafana.example)\n"
    "                       make changing requests; repeatable, * for any\n"
    "  --allow-host NAME    answer requests for Host NAME; repeatable. Without\n"
    "                       it, a loopback server answers only localhost and IP\n"
    "                       addresses, and others answer any Host\n"
    "  --tls-cert FILE      serve HTTPS with this PEM certificate (chain) ...\n"
    "  --tls-key FILE       ... and this PEM private key\n"
    "\n"
    "Limits of one push:\n"
    "  --max-stack-depth N  frames kept per stack; deeper stacks keep the N-1\n"
    "                       nearest the root and end in [truncated] (default\n"
    "                       1000)\n"
    "  --max-apps-per-push N\n"
    "                       apps (pprof sample types) one push may write, else\n"
    "                       429 (default 32)\n"
    "  --max-series-per-push N\n"
    "                       series (label sets times apps) one push may write,\n"
    "                       else 429 (default 1000)\n"
    "  --max-future-skew AGE\n"
    "                       how far ahead of the server's clock a push may be,\n"
    "                       else 422, e.g. 10m, 1h (default 10m)\n"
    "  -h, --help           show this help\n";

static const char export_usage[] =
    "Usage: ember export --query QUERY [options]\n"
    "\n"
    "Asks a running Ember server for one flame graph (GET /render) and writes\n"
    "it to a file, whole or not at all.\n"
    "\n"
    "Options:\n"
    "  -q, --query QUERY    FlameQL selector, e.g. 'app.cpu{region=\"eu-north\"}'\n"
    "                       (required)\n"
    "      --from TIME      start of the range (default now-1h); also Unix\n"
    "                       seconds or e.g. now-30m\n"
    "      --until TIME     end of the range (default now)\n"
    "  -f, --format FORMAT  svg (interactive flame graph), html (standalone page),\n"
    "                       json (flamebearer, the default) or collapsed (folded\n"
    "                       text, as /ingest takes it)\n"
    "      --max-nodes N    keep the N largest nodes, -1 for as many as the server\n"
    "                       allows (default: the server's, 8192)\n"
    "  -o, --output FILE    where to write; - for standard output (the default)\n"
    "      --server URL     the server (default http://127.0.0.1:4040); plain\n"
    "                       http only: http://HOST[:PORT][/PREFIX], IPv6 as\n"
    "                       http://[::1]:4040\n"
    "      --timeout SECS   give up after SECS without progress (default 60)\n"
    "  -h, --help           show this help\n"
    "\n"
    "Environment:\n"
    "  EMBER_TOKEN          token for a server started with --auth-token-file\n"
    "                       (sent as 'Authorization: Bearer'; a role of read or\n"
    "                       admin)\n"
    "\n"
    "Example:\n"
    "  ember export -q 'ride-sharing-app.cpu{}' --from now-6h -f svg -o cpu.svg\n";

/* Parses "32MiB", "10MB", "512k", "1048576" into bytes. */
static int parse_size(const char *s, size_t *out) {
  char *end;
  errno = 0;
  unsigned long long v = strtoull(s, &end, 10);
  if (end == s || errno || *s == '-') return -1;
  unsigned long long mul = 1;
  if (!*end || !strcasecmp(end, "b"))
    mul = 1;
  else if (!strcasecmp(end, "k") || !strcasecmp(end, "kb") || !strcasecmp(end, "kib"))
    mul = 1ull << 10;
  else if (!strcasecmp(end, "m") || !strcasecmp(end, "mb") || !strcasecmp(end, "mib"))
    mul = 1ull << 20;
  else if (!strcasecmp(end, "g") || !strcasecmp(end, "gb") || !strcasecmp(end, "gib"))
    mul = 1ull << 30;
  else
    return -1;
  if (v == 0 || v > SIZE_MAX / mul) return -1;
  *out = (size_t)(v * mul);
  return 0;
}

static int parse_count(const char *s, unsigned max, unsigned *out) {
  char *end;
  errno = 0;
  unsigned long v = strtoul(s, &end, 10);
  if (end == s || *end || errno || v == 0 || v > max || *s == '-') return -1;
  *out = (unsigned)v;
  return 0;
}

static int fail(const char *cmd, const char *what, const char *arg, const char *hint) {
  fprintf(stderr, "ember %s: %s '%s'; %s\n", cmd, what, arg, hint);
  return 2;
}

/* A flag that may be given many times, collected NULL-terminated. */
typedef struct {
  const char **items;
  size_t n;
} str_list_t;

static void str_list_add(str_list_t *l, const char *s) {
  l->items = ember_realloc(l->items, (l->n + 2) * sizeof *l->items);
  l->items[l->n++] = s;
  l->items[l->n] = NULL;
}

enum {
  OPT_MAX_INFLIGHT = 256,
  OPT_CONNS_PER_IP,
  OPT_REQUEST_TIMEOUT,
  OPT_IDLE_TIMEOUT,
  OPT_MAX_QUERIES,
  OPT_QUERY_TIMEOUT,
  OPT_AUTH_TOKEN_FILE,
  OPT_ALLOW_ORIGIN,
  OPT_ALLOW_HOST,
  OPT_TLS_CERT,
  OPT_TLS_KEY,
  OPT_MAX_NODES,
  OPT_SHUTDOWN_GRACE,
  OPT_MAX_STACK_DEPTH,
  OPT_MAX_APPS,
  OPT_MAX_SERIES,
  OPT_MAX_FUTURE_SKEW,
};

/* Parses the options of the server and its limits; returns -1 when all
 * are good, else the exit code. */
/* What `ember serve` was asked, beyond the store's settings. */
typedef struct {
  ember_server_config_t scfg;
  str_list_t origins, hosts;
  unsigned grace; /* seconds */
} serve_opts_t;

static int serve_option(int c, serve_opts_t *o) {
  ember_server_config_t *scfg = &o->scfg;
  switch (c) {
  case OPT_MAX_INFLIGHT:
    if (parse_size(optarg, &scfg->max_inflight))
      return fail("serve", "bad --max-inflight", optarg, "use e.g. 512MiB or 2GiB");
    return -1;
  case OPT_CONNS_PER_IP:
    if (parse_count(optarg, 65535, &scfg->max_conns_per_ip))
      return fail("serve", "bad --max-conns-per-ip", optarg,
                  "use a number from 1 to 65535");
    return -1;
  case OPT_REQUEST_TIMEOUT:
    if (parse_count(optarg, 3600, &scfg->request_timeout))
      return fail("serve", "bad --request-timeout", optarg, "use seconds from 1 to 3600");
    return -1;
  case OPT_IDLE_TIMEOUT:
    if (parse_count(optarg, 3600, &scfg->idle_timeout))
      return fail("serve", "bad --idle-timeout", optarg, "use seconds from 1 to 3600");
    return -1;
  case OPT_MAX_QUERIES:
    if (parse_count(optarg, 1024, &scfg->max_queries))
      return fail("serve", "bad --max-queries", optarg, "use a number from 1 to 1024");
    return -1;
  case OPT_QUERY_TIMEOUT:
    if (parse_count(optarg, 3600, &scfg->query_timeout))
      return fail("serve", "bad --query-timeout", optarg, "use seconds from 1 to 3600");
    return -1;
  case OPT_AUTH_TOKEN_FILE: scfg->auth_token_file = optarg; return -1;
  case OPT_ALLOW_ORIGIN: str_list_add(&o->origins, optarg); return -1;
  case OPT_ALLOW_HOST: str_list_add(&o->hosts, optarg); return -1;
  case OPT_TLS_CERT: scfg->tls_cert = optarg; return -1;
  case OPT_TLS_KEY: scfg->tls_key = optarg; return -1;
  case OPT_SHUTDOWN_GRACE:
    if (parse_count(optarg, 3600, &o->grace))
      return fail("serve", "bad --shutdown-grace", optarg, "use seconds from 1 to 3600");
    return -1;
  case OPT_MAX_NODES: {
    unsigned n;
    if (parse_count(optarg, 100000000, &n))
      return fail("serve", "bad --max-nodes", optarg, "use a number from 1 to 100000000");
    scfg->max_nodes = (long)n;
    return -1;
  }
  case OPT_MAX_STACK_DEPTH:
    if (parse_count(optarg, 100000, &scfg->ingest.max_stack_depth))
      return fail("serve", "bad --max-stack-depth", optarg,
                  "use a number of frames from 1 to 100000");
    return -1;
  case OPT_MAX_APPS:
    if (parse_count(optarg, 10000, &scfg->ingest.max_apps))
      return fail("serve", "bad --max-apps-per-push", optarg,
                  "use a number from 1 to 10000");
    return -1;
  case OPT_MAX_SERIES:
    if (parse_count(optarg, 1000000, &scfg->ingest.max_series))
      return fail("serve", "bad --max-series-per-push", optarg,
                  "use a number from 1 to 1000000");
    return -1;
  case OPT_MAX_FUTURE_SKEW:
    if (ember_duration_parse(optarg, &scfg->ingest.max_future_skew, NULL))
      return fail("serve", "bad --max-future-skew", optarg, "use e.g. 10m, 1h or 90s");
    return -1;
  default: return -2; /* not one of these */
  }
}

/* The store's limits, numbered apart from the server's options. */
enum {
  OPT_STORE_MAX_NEW_STACKS = 512,
  OPT_STORE_MAX_SERIES_PER_APP,
  OPT_STORE_MAX_APPS,
  OPT_STORE_DICT_CACHE,
  OPT_STORE_MIN_FREE_DISK,
};

/* Parses the options of the store; -1 when good, -2 when c is not one of
 * them, else the exit code. */
static int store_option(int c, ember_store_config_t *cfg) {
  unsigned n;
  size_t size;
  switch (c) {
  case OPT_STORE_MAX_NEW_STACKS:
    if (parse_count(optarg, 100000000, &n))
      return fail("serve", "bad --max-new-stacks", optarg,
                  "use a number from 1 to 100000000");
    cfg->max_new_stacks = n;
    return -1;
  case OPT_STORE_MAX_SERIES_PER_APP:
    if (parse_count(optarg, 100000000, &n))
      return fail("serve", "bad --max-series-per-app", optarg,
                  "use a number from 1 to 100000000");
    cfg->max_series_per_app = n;
    return -1;
  case OPT_STORE_MAX_APPS:
    if (parse_count(optarg, 100000000, &n))
      return fail("serve", "bad --max-apps", optarg, "use a number from 1 to 100000000");
    cfg->max_apps = n;
    return -1;
  case OPT_STORE_DICT_CACHE:
    if (parse_size(optarg, &cfg->dict_cache))
      return fail("serve", "bad --dict-cache", optarg, "use e.g. 256MiB or 2GiB");
    return -1;
  case OPT_STORE_MIN_FREE_DISK:
    if (parse_size(optarg, &size))
      return fail("serve", "bad --min-free-disk", optarg, "use e.g. 64MiB or 1GiB");
    cfg->min_free_disk = size;
    return -1;
  default: return -2;
  }
}

/* Runs the server until a signal; returns the exit code. */
static int serve_run(const ember_server_config_t *scfg, const ember_store_config_t *stcfg,
                     unsigned grace_s) {
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
  if (ember_store_open(stcfg, &store, &err)) {
    fprintf(stderr, "ember serve: %s\n", err.msg);
    return 1;
  }
  ember_store_health_t health;
  ember_store_health(store, &health);
  if (!health.ready)
    fprintf(stderr, "ember serve: warning: not ready: %s\n", health.reason);
  if (ember_server_start(scfg, store, &srv, &err)) {
    fprintf(stderr, "ember serve: %s\n", err.msg);
    ember_store_close(store);
    return 1;
  }
  const char *colon = strrchr(scfg->listen, ':');
  printf("ember %s listening on %s://%.*s:%u (data in %s)\n", EMBER_VERSION,
         ember_server_tls(srv) ? "https" : "http", (int)(colon - scfg->listen),
         scfg->listen, ember_server_port(srv), stcfg->data_dir);
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
  ember_server_stop(srv, grace_s * 1000u);
  ember_store_close(store);
  fprintf(stderr, "ember: stopped\n");
  return 0;
}

static int cmd_serve(int argc, char **argv) {
  static const struct option opts[] = {
      {"listen", required_argument, NULL, 'l'},
      {"data", required_argument, NULL, 'd'},
      {"retention", required_argument, NULL, 'r'},
      {"max-body", required_argument, NULL, 'b'},
      {"workers", required_argument, NULL, 'w'},
      {"write-queue", required_argument, NULL, 'q'},
      {"max-inflight", required_argument, NULL, OPT_MAX_INFLIGHT},
      {"max-conns-per-ip", required_argument, NULL, OPT_CONNS_PER_IP},
      {"request-timeout", required_argument, NULL, OPT_REQUEST_TIMEOUT},
      {"idle-timeout", required_argument, NULL, OPT_IDLE_TIMEOUT},
      {"max-queries", required_argument, NULL, OPT_MAX_QUERIES},
      {"query-timeout", required_argument, NULL, OPT_QUERY_TIMEOUT},
      {"auth-token-file", required_argument, NULL, OPT_AUTH_TOKEN_FILE},
      {"allow-origin", required_argument, NULL, OPT_ALLOW_ORIGIN},
      {"allow-host", required_argument, NULL, OPT_ALLOW_HOST},
      {"tls-cert", required_argument, NULL, OPT_TLS_CERT},
      {"tls-key", required_argument, NULL, OPT_TLS_KEY},
      {"max-nodes", required_argument, NULL, OPT_MAX_NODES},
      {"shutdown-grace", required_argument, NULL, OPT_SHUTDOWN_GRACE},
      {"max-stack-depth", required_argument, NULL, OPT_MAX_STACK_DEPTH},
      {"max-apps-per-push", required_argument, NULL, OPT_MAX_APPS},
      {"max-series-per-push", required_argument, NULL, OPT_MAX_SERIES},
      {"max-future-skew", required_argument, NULL, OPT_MAX_FUTURE_SKEW},
      {"max-new-stacks", required_argument, NULL, OPT_STORE_MAX_NEW_STACKS},
      {"max-series-per-app", required_argument, NULL, OPT_STORE_MAX_SERIES_PER_APP},
      {"max-apps", required_argument, NULL, OPT_STORE_MAX_APPS},
      {"dict-cache", required_argument, NULL, OPT_STORE_DICT_CACHE},
      {"min-free-disk", required_argument, NULL, OPT_STORE_MIN_FREE_DISK},
      {"help", no_argument, NULL, 'h'},
      {NULL, 0, NULL, 0}};
  serve_opts_t o = {.scfg = {.listen = EMBER_HTTP_DEFAULT_LISTEN,
                             .max_body = EMBER_HTTP_DEFAULT_MAX_BODY},
                    .grace = 30};
  ember_server_config_t *scfg = &o.scfg;
  ember_store_config_t stcfg = {.data_dir = "./data"};
  unsigned queue = 0;
  ember_err_t err;
  int c, rc = -1;
  opterr = 0;
  while (rc < 0 && (c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
    rc = serve_option(c, &o);
    if (rc == -2) rc = store_option(c, &stcfg);
    if (rc != -2) continue;
    rc = -1;
    switch (c) {
    case 'l': scfg->listen = optarg; break;
    case 'd': stcfg.data_dir = optarg; break;
    case 'r':
      if (ember_duration_parse(optarg, &stcfg.retention_seconds, &err))
        rc = fail("serve", "bad --retention", optarg, "use e.g. 30d, 12h or 90m");
      break;
    case 'b':
      if (parse_size(optarg, &scfg->max_body))
        rc = fail("serve", "bad --max-body", optarg, "use e.g. 32MiB, 512KiB or 1048576");
      break;
    case 'w':
      if (parse_count(optarg, 1024, &scfg->workers))
        rc = fail("serve", "bad --workers", optarg, "use a number from 1 to 1024");
      break;
    case 'q':
      if (parse_count(optarg, 1000000, &queue))
        rc = fail("serve", "bad --write-queue", optarg, "use a number from 1 to 1000000");
      break;
    case 'h':
      fputs(serve_usage, stdout);
      rc = 0;
      break;
    case ':':
      rc = fail("serve", "missing value for", argv[optind - 1],
                "run `ember serve --help`");
      break;
    default:
      rc = fail("serve", "unknown option", argv[optind - 1], "run `ember serve --help`");
    }
  }
  if (rc < 0 && optind < argc)
    rc = fail("serve", "unexpected argument", argv[optind], "run `ember serve --help`");
  if (rc < 0) {
    stcfg.queue_max = queue;
    scfg->allow_origins = o.origins.items;
    scfg->allow_hosts = o.hosts.items;
    rc = serve_run(scfg, &stcfg, o.grace);
  }
  free(o.origins.items);
  free(o.hosts.items);
  return rc;
}

/* A --max-nodes value the server takes: a positive count or -1. */
static bool good_max_nodes(const char *s) {
  if (!strcmp(s, "-1")) return true;
  unsigned v;
  return parse_count(s, 1000000000, &v) == 0 && s[0] >= '0' && s[0] <= '9';
}

static int cmd_export(int argc, char **argv) {
  static const struct option opts[] = {{"server", required_argument, NULL, 's'},
                                       {"query", required_argument, NULL, 'q'},
                                       {"from", required_argument, NULL, 'F'},
                                       {"until", required_argument, NULL, 'U'},
                                       {"format", required_argument, NULL, 'f'},
                                       {"max-nodes", required_argument, NULL, 'n'},
                                       {"output", required_argument, NULL, 'o'},
                                       {"timeout", required_argument, NULL, 't'},
                                       {"help", no_argument, NULL, 'h'},
                                       {NULL, 0, NULL, 0}};
  static const char *const formats[] = {"svg", "html", "json", "collapsed"};
  ember_export_opts_t o = {.server = EMBER_CLIENT_DEFAULT_SERVER, .output = "-"};
  unsigned timeout = 60;
  ember_err_t err;
  int c;
  opterr = 0;
  while ((c = getopt_long(argc, argv, ":hq:f:o:", opts, NULL)) != -1) {
    switch (c) {
    case 's': o.server = optarg; break;
    case 'q': o.query = optarg; break;
    case 'F': o.from = optarg; break;
    case 'U': o.until = optarg; break;
    case 'f': {
      bool known = false;
      for (size_t i = 0; i < sizeof formats / sizeof *formats; i++)
        known |= !strcmp(optarg, formats[i]);
      if (!known)
        return fail("export", "unknown --format", optarg,
                    "use svg, html, json or collapsed");
      o.format = optarg;
      break;
    }
    case 'n':
      if (!good_max_nodes(optarg))
        return fail("export", "bad --max-nodes", optarg, "use a positive number or -1");
      o.max_nodes = optarg;
      break;
    case 'o': o.output = optarg; break;
    case 't':
      if (parse_count(optarg, 86400, &timeout))
        return fail("export", "bad --timeout", optarg, "use seconds from 1 to 86400");
      break;
    case 'h': fputs(export_usage, stdout); return 0;
    case ':':
      return fail("export", "missing value for", argv[optind - 1],
                  "run `ember export --help`");
    default:
      return fail("export", "unknown option", argv[optind - 1],
                  "run `ember export --help`");
    }
  }
  if (optind < argc)
    return fail("export", "unexpected argument", argv[optind],
                "run `ember export --help`");
  if (!o.query || !*o.query) {
    fprintf(stderr, "ember export: missing --query; e.g. --query 'app.cpu{}' (run `ember "
                    "export --help`)\n");
    return 2;
  }
  if (!*o.output)
    return fail("export", "empty --output", o.output,
                "name a file, or - for standard output");
  ember_client_url_t url;
  if (ember_client_url_parse(o.server, &url, &err)) {
    fprintf(stderr, "ember export: %s\n", err.msg);
    return 2;
  }
  o.timeout_ms = (int)timeout * 1000;
  o.token = getenv("EMBER_TOKEN");
  if (o.token && !*o.token) o.token = NULL;
  for (const char *p = o.token; p && *p; p++)
    if ((unsigned char)*p <= ' ' || *p == 0x7f) {
      fprintf(stderr, "ember export: EMBER_TOKEN holds a space or control character; "
                      "set it to the token alone\n");
      return 2;
    }
  signal(SIGPIPE, SIG_IGN);
  size_t bytes = 0;
  if (ember_client_export(&o, &bytes, &err)) {
    fprintf(stderr, "ember export: %s\n", err.msg);
    return 1;
  }
  fprintf(stderr, "ember export: wrote %zu bytes of %s to %s\n", bytes,
          o.format ? o.format : "json",
          strcmp(o.output, "-") ? o.output : "standard output");
  return 0;
}

int main(int argc, char **argv) {
  if (argc < 2) {
    fputs(usage, stderr);
    return 2;
  }
  const char *cmd = argv[1];
  if (!strcmp(cmd, "--help") || !strcmp(cmd, "-h") || !strcmp(cmd, "help")) {
    fputs(usage, stdout);
    return 0;
  }
  if (!strcmp(cmd, "version") || !strcmp(cmd, "--version")) {
    printf("ember %s\n", EMBER_VERSION);
    return 0;
  }
  if (!strcmp(cmd, "serve")) return cmd_serve(argc - 1, argv + 1);
  if (!strcmp(cmd, "export")) return cmd_export(argc - 1, argv + 1);
  fprintf(stderr, "ember: unknown command '%s'; run `ember --help` for the list\n", cmd);
  return 2;
}
