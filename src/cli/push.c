/*
 * push.c - `ember push`: one profile file (or standard input) to a running
 * server's /ingest, its format read from its content, retried while the
 * server is busy. The CI half of `ember diff --server`.
 */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "ember/client.h"
#include "ember/common.h"
#include "ember/compare.h"
#include "ember/series.h"

#define PUSH_MAX_FILE ((size_t)1 << 30)

static const char push_usage[] =
    "Usage: ember push --app 'NAME{k=v,...}' [options] FILE|-\n"
    "\n"
    "Pushes one profile file (or standard input, -) to a running Ember\n"
    "server's /ingest: what a profiler wrote for one build, to compare with\n"
    "`ember diff --server`. The format is read from the content unless given:\n"
    "a JFR recording, a pprof profile, folded text ('a;b;c 12' per line) or\n"
    "lines ('a;b;c' per sample), each gzipped or not.\n"
    "\n"
    "Options:\n"
    "  -a, --app SERIES       the series to store it under, with its tags:\n"
    "                         'bench.cpu{commit=a1b2c3,branch=main}' (required)\n"
    "      --from TIME        start of what the profile covers: Unix seconds or\n"
    "                         e.g. now-5m (default: now)\n"
    "      --until TIME       its end (default: from)\n"
    "      --format FORMAT    auto (the default), folded, lines, pprof or jfr\n"
    "      --sample-rate HZ   samples per second of a text profile (default 100)\n"
    "      --units UNITS      what a text profile counts (default samples)\n"
    "      --spy-name NAME    the profiler's name, shown in the UI\n"
    "      --server URL       the server (default http://127.0.0.1:4040)\n"
    "      --retries N        retries of a connection error, 429 or 5xx, with\n"
    "                         backoff from 0.5 s to 10 s (default 3; 0 for none)\n"
    "      --timeout SECS     give up on a request after SECS (default 60)\n"
    "  -h, --help             show this help\n"
    "\n"
    "Environment:\n"
    "  EMBER_TOKEN            token for a server started with --auth-token-file\n"
    "                         (a role of ingest or admin)\n"
    "\n"
    "Exit codes:\n"
    "  0  the server stored the profile\n"
    "  1  the server could not be reached, or stayed busy through every retry\n"
    "  2  a usage or input error: a bad option, a file that cannot be read or\n"
    "     holds nothing, or a push the server refused (400, 401, 413, 422)\n"
    "\n"
    "Example:\n"
    "  ember push --app \"bench.cpu{commit=$CI_COMMIT_SHA,branch=main}\" cpu.folded\n";

typedef struct {
  ember_push_opts_t p;
  const char *format;
  const char *file;
  unsigned retries;
  unsigned timeout;
} push_args_t;

static int usage_error(const char *what, const char *arg) {
  return ember_cli_fail("push", what, arg, "run `ember push --help`");
}

static int parse_args(int argc, char **argv, push_args_t *a) {
  static const struct option opts[] = {{"app", required_argument, NULL, 'a'},
                                       {"from", required_argument, NULL, 'F'},
                                       {"until", required_argument, NULL, 'U'},
                                       {"format", required_argument, NULL, 'f'},
                                       {"sample-rate", required_argument, NULL, 'r'},
                                       {"units", required_argument, NULL, 'u'},
                                       {"spy-name", required_argument, NULL, 'y'},
                                       {"server", required_argument, NULL, 's'},
                                       {"retries", required_argument, NULL, 'R'},
                                       {"timeout", required_argument, NULL, 't'},
                                       {"help", no_argument, NULL, 'h'},
                                       {NULL, 0, NULL, 0}};
  unsigned v;
  int c;
  opterr = 0;
  while ((c = getopt_long(argc, argv, ":ha:", opts, NULL)) != -1) {
    switch (c) {
    case 'a': a->p.name = optarg; break;
    case 'F': a->p.from = optarg; break;
    case 'U': a->p.until = optarg; break;
    case 'f':
      if (strcmp(optarg, "auto") && strcmp(optarg, "folded") && strcmp(optarg, "lines") &&
          strcmp(optarg, "pprof") && strcmp(optarg, "jfr"))
        return ember_cli_fail("push", "unknown --format", optarg,
                              "use auto, folded, lines, pprof or jfr");
      a->format = optarg;
      break;
    case 'r':
      if (ember_cli_parse_count(optarg, 1000000000, &v))
        return ember_cli_fail("push", "bad --sample-rate", optarg, "use a positive number of Hz");
      a->p.sample_rate = optarg;
      break;
    case 'u': a->p.units = optarg; break;
    case 'y': a->p.spy_name = optarg; break;
    case 's': a->p.server = optarg; break;
    case 'R':
      if (strcmp(optarg, "0") && ember_cli_parse_count(optarg, 100, &a->retries))
        return ember_cli_fail("push", "bad --retries", optarg, "use a number from 0 to 100");
      if (!strcmp(optarg, "0")) a->retries = 0;
      break;
    case 't':
      if (ember_cli_parse_count(optarg, 86400, &a->timeout))
        return ember_cli_fail("push", "bad --timeout", optarg, "use seconds from 1 to 86400");
      break;
    case 'h': fputs(push_usage, stdout); return -1;
    case ':': return ember_cli_fail("push", "missing value for", argv[optind - 1],
                                    "run `ember push --help`");
    default: return usage_error("unknown option", argv[optind - 1]);
    }
  }
  if (optind >= argc) {
    fprintf(stderr, "ember push: missing the profile file; name one, or - for standard "
                    "input (run `ember push --help`)\n");
    return 2;
  }
  if (optind + 1 < argc) return usage_error("unexpected argument", argv[optind + 1]);
  a->file = argv[optind];
  if (!a->p.name || !*a->p.name) {
    fprintf(stderr, "ember push: missing --app; e.g. --app 'bench.cpu{commit=a1b2c3}' (run "
                    "`ember push --help`)\n");
    return 2;
  }
  ember_series_key_t key;
  ember_err_t err;
  if (ember_series_key_parse(a->p.name, strlen(a->p.name), &key, &err)) {
    fprintf(stderr, "ember push: bad --app '%s': %s\n", a->p.name, err.msg);
    return 2;
  }
  ember_series_key_free(&key);
  return 0;
}

/* The token from the environment, NULL for none; -1 when it cannot be
 * sent in a header. */
static int read_token(const char **out) {
  const char *t = getenv("EMBER_TOKEN");
  *out = t && *t ? t : NULL;
  for (const char *p = *out; p && *p; p++)
    if ((unsigned char)*p <= ' ' || *p == 0x7f) {
      fprintf(stderr, "ember push: EMBER_TOKEN holds a space or control character; set it "
                      "to the token alone\n");
      return -1;
    }
  return 0;
}

int ember_cli_push(int argc, char **argv) {
  push_args_t a;
  memset(&a, 0, sizeof a);
  a.retries = EMBER_CLIENT_RETRIES;
  a.timeout = 60;
  int rc = parse_args(argc, argv, &a);
  if (rc) return rc < 0 ? 0 : rc;
  ember_client_url_t url;
  ember_err_t err;
  if (ember_client_url_parse(a.p.server ? a.p.server : EMBER_CLIENT_DEFAULT_SERVER, &url,
                             &err)) {
    fprintf(stderr, "ember push: %s\n", err.msg);
    return 2;
  }
  if (read_token(&a.p.token)) return 2;
  uint8_t *data = NULL;
  size_t n = 0;
  if (ember_profile_read_file(a.file, PUSH_MAX_FILE, &data, &n, &err)) {
    fprintf(stderr, "ember push: %s\n", err.msg);
    return 2;
  }
  const char *name = strcmp(a.file, "-") ? a.file : "standard input";
  if (!n) {
    fprintf(stderr, "ember push: %s is empty; nothing to push\n", name);
    free(data);
    return 2;
  }
  bool gz = false;
  const char *seen = ember_profile_detect(data, n, &gz);
  a.p.format = a.format && strcmp(a.format, "auto") ? a.format : seen;
  bool text = !strcmp(a.p.format, "folded") || !strcmp(a.p.format, "lines");
  /* The text decoders read plain text: a gzipped file travels as a gzip
   * Content-Encoding. pprof and JFR inflate their own. */
  a.p.content_encoding = text && gz ? "gzip" : NULL;
  a.p.content_type = text ? "text/plain; charset=utf-8" : "application/octet-stream";
  a.p.body = data;
  a.p.len = n;
  a.p.max_retries = a.retries;
  a.p.timeout_ms = (int)a.timeout * 1000;
  signal(SIGPIPE, SIG_IGN);
  unsigned retries = 0;
  rc = ember_client_push(&a.p, &retries, &err);
  free(data);
  if (rc) {
    fprintf(stderr, "ember push: %s\n", err.msg);
    return rc == EMBER_EINVAL ? 2 : 1;
  }
  fprintf(stderr, "ember push: pushed %s (%zu bytes, %s%s) as %s%s\n", name, n, a.p.format,
          gz ? ", gzipped" : "", a.p.name, retries ? " after retries" : "");
  return 0;
}
