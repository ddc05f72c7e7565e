/*
 * spy.c - `ember spy record | top | dump`: the options of the three
 * commands; the work is in src/spy/.
 */
#include <getopt.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "ember/client.h"
#include "ember/common.h"
#include "ember/series.h"
#include "ember/spy.h"

static const char spy_usage[] =
    "Usage: ember spy record|top|dump [options] (--pid PID | -- COMMAND [ARG...])\n"
    "\n"
    "Profiles a running CPython 3.11 or 3.12 program from outside: it reads the\n"
    "program's memory and never stops it, changes it or needs its code changed.\n"
    "\n"
    "Commands:\n"
    "  record    sample it and push to an Ember server every 10 s, or write a\n"
    "            flame graph (.svg) or folded stacks (.folded)\n"
    "  top       a live view of its hottest functions, redrawn every second\n"
    "  dump      every thread's stack right now, with file:line and, with\n"
    "            --locals, simple local values\n"
    "\n"
    "Reading another process needs ptrace rights: root, CAP_SYS_PTRACE, or\n"
    "kernel.yama.ptrace_scope 0 for your own processes; a program started\n"
    "by ember spy itself (-- COMMAND) needs none of them.\n"
    "\n"
    "Run `ember spy <command> --help` for its options.\n"
    EMBER_CLI_EXIT_CODES;

static const char record_usage[] =
    "Usage: ember spy record (--pid PID | -- COMMAND [ARG...]) [options]\n"
    "\n"
    "Samples a Python program and pushes what it runs to an Ember server every\n"
    "10 s, as the agents do (retrying with backoff when the server is down),\n"
    "or, with -o, writes one file at the end. Stops when the program exits,\n"
    "after --duration, or on Ctrl-C (then sends what is left); a program it\n"
    "started is stopped with it.\n"
    "\n"
    "Options:\n"
    "  -p, --pid PID          the process to profile\n"
    "      --app NAME{K=V,..} what to push: the app name and tags, e.g.\n"
    "                         'ride-sharing-app{region=eu-north}' (pushed as\n"
    "                         NAME.cpu{...}); required unless -o is given\n"
    "      --server URL       the server (default http://127.0.0.1:4040)\n"
    "  -r, --rate HZ          samples per second (default 100, at most 1000)\n"
    "  -d, --duration SECS    stop after SECS seconds\n"
    "  -o, --output FILE      write FILE instead of pushing: a flame graph when\n"
    "                         it ends in .svg, folded stacks when in .folded\n"
    "      --idle             also sample threads that wait (sleep, I/O, the GIL)\n"
    "      --gil              only sample the thread that holds the GIL\n"
    "      --threads          one root frame per thread\n"
    "  -s, --subprocesses     also profile the Python processes it starts (one\n"
    "                         root frame per process)\n"
    "      --lines            one frame per line run, not per function\n"
    "  -h, --help             show this help\n"
    "\n"
    "Environment:\n"
    "  EMBER_TOKEN            token for a server started with --auth-token-file\n"
    "                         (role ingest or admin)\n"
    "\n"
    "Examples:\n"
    "  ember spy record --pid 4242 --app 'ride-sharing-app{region=eu-north}'\n"
    "  ember spy record -o profile.svg -d 30 -- python3 app.py\n"
    EMBER_CLI_EXIT_CODES;

static const char top_usage[] =
    "Usage: ember spy top (--pid PID | -- COMMAND [ARG...]) [options]\n"
    "\n"
    "A full-screen table of the functions a Python program spends its time in,\n"
    "redrawn every second: %Own (innermost frame) and %Total (anywhere on the\n"
    "stack) over the last second, OwnTime and TotalTime since the start.\n"
    "Keys: o or 1 sort by %Own, t or 2 by %Total, 3 by OwnTime, 4 by\n"
    "TotalTime; q or Ctrl-C quits.\n"
    "\n"
    "Options:\n"
    "  -p, --pid PID          the process to watch\n"
    "  -r, --rate HZ          samples per second (default 100, at most 1000)\n"
    "      --idle             also count threads that wait\n"
    "      --gil              only count the thread that holds the GIL\n"
    "  -s, --subprocesses     also the Python processes it starts\n"
    "      --lines            one row per line run, not per function\n"
    "  -h, --help             show this help\n"
    EMBER_CLI_EXIT_CODES;

static const char dump_usage[] =
    "Usage: ember spy dump --pid PID [options]\n"
    "\n"
    "Prints every thread's Python stack, innermost frame first, with the file\n"
    "and line each frame runs, as Python would report them.\n"
    "\n"
    "Options:\n"
    "  -p, --pid PID          the process to dump\n"
    "      --locals           also each frame's local variables (None, bool,\n"
    "                         int, float, str and bytes shown, others by type)\n"
    "  -s, --subprocesses     also its Python child processes\n"
    "  -h, --help             show this help\n"
    EMBER_CLI_EXIT_CODES;

static volatile sig_atomic_t stop_flag;

static void on_signal(int sig) {
  (void)sig;
  stop_flag = 1;
}

static void catch_signals(void) {
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, NULL);
  sigaction(SIGTERM, &sa, NULL);
  signal(SIGPIPE, SIG_IGN);
}

/* What the three commands parse alike. */
typedef struct {
  const char *cmd; /* "record", "top", "dump" */
  const char *usage;
  ember_spy_opts_t spy;
  pid_t pid;
  char **argv; /* the command to start, or NULL */
  unsigned rate, duration;
  const char *output, *server, *app;
  bool locals;
} spy_args_t;

static int fail(const spy_args_t *a, const char *what, const char *arg, const char *hint) {
  char cmd[32];
  snprintf(cmd, sizeof cmd, "spy %s", a->cmd);
  return ember_cli_fail(cmd, what, arg, hint);
}

/* Parses argv into a: 0, 1 after --help (exit 0), or 2. */
static int parse(int argc, char **argv, spy_args_t *a) {
  enum { O_APP = 256, O_SERVER, O_IDLE, O_GIL, O_THREADS, O_LINES, O_LOCALS };
  static const struct option opts[] = {{"pid", required_argument, NULL, 'p'},
                                       {"app", required_argument, NULL, O_APP},
                                       {"server", required_argument, NULL, O_SERVER},
                                       {"rate", required_argument, NULL, 'r'},
                                       {"duration", required_argument, NULL, 'd'},
                                       {"output", required_argument, NULL, 'o'},
                                       {"idle", no_argument, NULL, O_IDLE},
                                       {"gil", no_argument, NULL, O_GIL},
                                       {"threads", no_argument, NULL, O_THREADS},
                                       {"subprocesses", no_argument, NULL, 's'},
                                       {"lines", no_argument, NULL, O_LINES},
                                       {"locals", no_argument, NULL, O_LOCALS},
                                       {"help", no_argument, NULL, 'h'},
                                       {NULL, 0, NULL, 0}};
  bool record = !strcmp(a->cmd, "record"), dump = !strcmp(a->cmd, "dump");
  char hint[64];
  snprintf(hint, sizeof hint, "run `ember spy %s --help`", a->cmd);
  int c;
  opterr = 0;
  optind = 1;
  while ((c = getopt_long(argc, argv, "+:hp:r:d:o:s", opts, NULL)) != -1) {
    unsigned v;
    /* Options a command does not take are refused by name. */
    bool only_record = c == O_APP || c == O_SERVER || c == 'd' || c == 'o' || c == O_THREADS;
    bool not_dump = c == 'r' || c == O_IDLE || c == O_GIL || c == O_LINES;
    if ((only_record && !record) || (not_dump && dump) || (c == O_LOCALS && !dump))
      return fail(a, "this command does not take", argv[optind - 1], hint);
    switch (c) {
    case 'p':
      if (ember_cli_parse_count(optarg, 0x7fffffff, &v))
        return fail(a, "bad --pid", optarg, "give the process id of a running program");
      a->pid = (pid_t)v;
      break;
    case O_APP: a->app = optarg; break;
    case O_SERVER: a->server = optarg; break;
    case 'r':
      if (ember_cli_parse_count(optarg, EMBER_SPY_MAX_RATE, &a->rate))
        return fail(a, "bad --rate", optarg, "use samples per second from 1 to 1000");
      break;
    case 'd':
      if (ember_cli_parse_count(optarg, 31 * 86400, &a->duration))
        return fail(a, "bad --duration", optarg, "use whole seconds, at least 1");
      break;
    case 'o': a->output = optarg; break;
    case O_IDLE: a->spy.idle = true; break;
    case O_GIL: a->spy.gil = true; break;
    case O_THREADS: a->spy.threads = true; break;
    case 's': a->spy.subprocesses = true; break;
    case O_LINES: a->spy.lines = true; break;
    case O_LOCALS: a->locals = true; break;
    case 'h': fputs(a->usage, stdout); return 1;
    case ':': return fail(a, "missing value for", argv[optind - 1], hint);
    default: return fail(a, "unknown option", argv[optind - 1], hint);
    }
  }
  if (optind < argc) {
    if (dump) return fail(a, "unexpected argument", argv[optind], "dump takes --pid only");
    a->argv = argv + optind;
  }
  if (!a->pid == !a->argv) {
    fprintf(stderr, "ember spy %s: give either --pid PID or -- COMMAND to start (%s)\n",
            a->cmd, hint);
    return 2;
  }
  return 0;
}

/* "app{k=v}" to the series pushed: "app.cpu{k=v}". */
static int series_of(const char *app, ember_buf_t *out) {
  ember_series_key_t k;
  ember_err_t err;
  if (ember_series_key_parse(app, strlen(app), &k, &err)) {
    fprintf(stderr, "ember spy record: bad --app '%s': %s\n", app, err.msg);
    return 2;
  }
  size_t n = strlen(k.app);
  if (n < 4 || strcmp(k.app + n - 4, ".cpu")) {
    char *with = ember_malloc(n + 5);
    memcpy(with, k.app, n);
    memcpy(with + n, ".cpu", 5);
    free(k.app);
    k.app = with;
  }
  ember_series_key_format(&k, out);
  ember_series_key_free(&k);
  return 0;
}

static int start(spy_args_t *a, bool *launched) {
  *launched = false;
  if (!a->argv) return 0;
  ember_err_t err;
  if (ember_spy_launch(a->argv, &a->pid, &err)) {
    fprintf(stderr, "ember spy %s: %s\n", a->cmd, err.msg);
    return 1;
  }
  *launched = true;
  return 0;
}

static int run_record(spy_args_t *a) {
  ember_spy_record_opts_t o;
  memset(&o, 0, sizeof o);
  ember_buf_t series = EMBER_BUF_INIT;
  if (a->output) {
    const char *dot = strrchr(a->output, '.');
    if (!dot || (strcmp(dot, ".svg") && strcmp(dot, ".folded")))
      return fail(a, "unknown kind of --output", a->output,
                  "name a .svg (flame graph) or .folded (folded stacks) file");
  } else if (!a->app) {
    fprintf(stderr, "ember spy record: give --app NAME to push to a server, or -o FILE "
                    "(.svg or .folded) to write a file\n");
    return 2;
  }
  if (a->app && series_of(a->app, &series)) return 2;
  ember_client_url_t url;
  ember_err_t err;
  o.server = a->server ? a->server : EMBER_CLIENT_DEFAULT_SERVER;
  if (!a->output && ember_client_url_parse(o.server, &url, &err)) {
    fprintf(stderr, "ember spy record: %s\n", err.msg);
    ember_buf_free(&series);
    return 2;
  }
  o.token = getenv("EMBER_TOKEN");
  if (o.token && !*o.token) o.token = NULL;
  for (const char *p = o.token; p && *p; p++)
    if ((unsigned char)*p <= ' ' || *p == 0x7f) {
      fprintf(stderr, "ember spy record: EMBER_TOKEN holds a space or control character; "
                      "set it to the token alone\n");
      ember_buf_free(&series);
      return 2;
    }
  catch_signals();
  int rc = start(a, &o.launched);
  if (rc) {
    ember_buf_free(&series);
    return rc;
  }
  o.spy = a->spy;
  o.pid = a->pid;
  o.rate = a->rate;
  o.duration_s = a->duration;
  o.output = a->output;
  o.series = series.data;
  o.stop = &stop_flag;
  rc = ember_spy_record(&o, &err);
  if (rc) fprintf(stderr, "ember spy record: %s\n", err.msg);
  ember_buf_free(&series);
  return rc ? 1 : 0;
}

static int run_top(spy_args_t *a) {
  ember_spy_top_opts_t o;
  memset(&o, 0, sizeof o);
  if (!isatty(STDIN_FILENO) || !isatty(STDOUT_FILENO)) {
    fprintf(stderr, "ember spy top: needs a terminal; use `ember spy record -o "
                    "profile.folded` or `ember spy dump` from scripts\n");
    return 2;
  }
  catch_signals();
  int rc = start(a, &o.launched);
  if (rc) return rc;
  o.spy = a->spy;
  o.pid = a->pid;
  o.rate = a->rate;
  o.in_fd = STDIN_FILENO;
  o.out_fd = STDOUT_FILENO;
  o.stop = &stop_flag;
  ember_err_t err;
  if (ember_spy_top(&o, &err)) {
    fprintf(stderr, "ember spy top: %s\n", err.msg);
    return 1;
  }
  return 0;
}

static int run_dump(spy_args_t *a) {
  ember_spy_t *s = NULL;
  ember_err_t err;
  ember_buf_t out = EMBER_BUF_INIT;
  int rc = ember_spy_attach(a->pid, &a->spy, &s, &err);
  if (rc == 0) rc = ember_spy_dump(s, a->locals, &out, &err);
  if (rc == 0) fwrite(out.data, 1, out.len, stdout);
  else fprintf(stderr, "ember spy dump: %s\n", err.msg);
  ember_buf_free(&out);
  ember_spy_close(s);
  return rc ? 1 : 0;
}

int ember_cli_spy(int argc, char **argv) {
  if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
    fputs(spy_usage, argc < 2 ? stderr : stdout);
    return argc < 2 ? 2 : 0;
  }
  spy_args_t a;
  memset(&a, 0, sizeof a);
  a.cmd = argv[1];
  if (!strcmp(a.cmd, "record")) a.usage = record_usage;
  else if (!strcmp(a.cmd, "top")) a.usage = top_usage;
  else if (!strcmp(a.cmd, "dump")) a.usage = dump_usage;
  else
    return ember_cli_fail("spy", "unknown command", a.cmd, "use record, top or dump");
  int rc = parse(argc - 1, argv + 1, &a);
  if (rc) return rc == 1 ? 0 : rc;
  if (!strcmp(a.cmd, "record")) return run_record(&a);
  if (!strcmp(a.cmd, "top")) return run_top(&a);
  return run_dump(&a);
}
