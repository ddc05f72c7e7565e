/*
 * diff.c - `ember diff`: two profiles compared, from files (no server) or
 * from a running server's /render-diff, as a table of the functions whose
 * share changed most, and a gate that fails a CI job on a regression.
 *
 * Exit codes are the gate's: 0 pass, 1 regression, 2 anything that kept
 * the comparison from being made (a usage error, a file or server that
 * cannot be read, empty profiles, profiles of different units), so that a
 * pipeline tells "slower" from "broken".
 */
#include <getopt.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"
#include "ember/client.h"
#include "ember/common.h"
#include "ember/compare.h"
#include "ember/query.h"

#define DIFF_MAX_FILE ((size_t)1 << 30)
#define DIFF_DEFAULT_TOP 20

static const char diff_usage[] =
    "Usage: ember diff [options] BASE_FILE HEAD_FILE\n"
    "       ember diff --server URL --base QUERY --head QUERY [options]\n"
    "\n"
    "Compares two profiles: the functions whose share of their profile's\n"
    "total changed most, self and total, in percentage points (pp) and\n"
    "relative to the base, and the totals of both. Files are compared on\n"
    "this machine (folded, lines, pprof or JFR, gzipped or not, read as the\n"
    "server reads them); with --server the comparison is the server's\n"
    "/render-diff. Shares, not values, are compared, so a run that took\n"
    "longer is not by itself a regression; --fail-total-above compares the\n"
    "totals, for runs of the same work.\n"
    "\n"
    "The gate:\n"
    "      --fail-above PP       fail when a function's self share grew by more\n"
    "                            than PP percentage points (e.g. 5)\n"
    "      --fail-total-above PCT\n"
    "                            fail when the head's total is more than PCT%\n"
    "                            above the base's\n"
    "      --min-share PCT       leave out functions under PCT% of their total\n"
    "                            on both sides (default 0: none)\n"
    "      --ignore REGEX        leave out functions whose name matches (RE2,\n"
    "                            anywhere in the name), e.g. '^runtime\\.|gc'\n"
    "\n"
    "Output:\n"
    "  -f, --format FORMAT       text (the default; colour on a terminal), json\n"
    "                            or markdown (a pull-request comment or a CI\n"
    "                            step summary), on standard output\n"
    "      --top N               rows to list (default 20; 0 for every one)\n"
    "  -o, --output FILE.html    also write the interactive diff flame graph,\n"
    "                            by the server's own HTML renderer\n"
    "      --color WHEN          auto (the default; off when NO_COLOR is set),\n"
    "                            always or never\n"
    "\n"
    "Files:\n"
    "      --profile-format F    auto (the default), folded, lines, pprof, jfr\n"
    "      --sample-rate HZ      samples per second of text profiles (default 100)\n"
    "      --units UNITS         what text profiles count (default samples)\n"
    "\n"
    "Server:\n"
    "      --server URL          the server, e.g. http://127.0.0.1:4040\n"
    "      --base QUERY          FlameQL selector: 'bench.cpu{commit=\"a1\"}'\n"
    "      --head QUERY          the build to judge: 'bench.cpu{commit=\"b2\"}'\n"
    "      --base-from, --base-until, --head-from, --head-until TIME\n"
    "                            each side's range (default now-1h to now)\n"
    "      --timeout SECS        give up after SECS without progress (default 60)\n"
    "  -h, --help                show this help\n"
    "\n"
    "Environment:\n"
    "  EMBER_TOKEN               token for a server started with --auth-token-file\n"
    "  NO_COLOR                  no colour in text output, as --color never\n"
    "\n"
    "Exit codes:\n"
    "  0  pass: no limit was passed (or none was set)\n"
    "  1  regression: a function's self share grew by more than --fail-above,\n"
    "     or the total by more than --fail-total-above\n"
    "  2  no comparison: a usage error, a file or server that cannot be read,\n"
    "     a bad query, an empty profile, profiles of different units or rates\n"
    "\n"
    "Examples:\n"
    "  ember diff --fail-above 5 base.folded head.folded\n"
    "  ember diff --server http://ember:4040 --fail-above 5 -f markdown \\\n"
    "    --base 'bench.cpu{branch=\"main\"}' --base-from now-7d \\\n"
    "    --head \"bench.cpu{commit=\\\"$SHA\\\"}\" -o diff.html\n";

/* ---- Options ------------------------------------------------------------- */

typedef struct {
  ember_gate_opts_t gate;
  ember_report_format_t format;
  const char *output;
  int color; /* -1 auto, 0 never, 1 always */
  /* files */
  const char *files[2];
  ember_profile_load_opts_t load;
  /* server */
  const char *server;
  const char *query[2], *from[2], *until[2];
  unsigned timeout;
} diff_args_t;

static int fail(const char *what, const char *arg, const char *hint) {
  return ember_cli_fail("diff", what, arg, hint);
}

/* A non-negative number of percent or pp. */
static int parse_pct(const char *opt, const char *s, double *out) {
  char *end;
  double v = strtod(s, &end);
  if (end == s || *end || !isfinite(v) || v < 0 || v > 1e9)
    return fail(opt, s, "use a number of percent, 0 or more, e.g. 5 or 2.5");
  *out = v;
  return 0;
}

static int parse_enum(const char *opt, const char *s, const char *const *names, size_t n,
                      const char *hint, int *out) {
  for (size_t i = 0; i < n; i++)
    if (!strcmp(s, names[i])) {
      *out = (int)i;
      return 0;
    }
  return fail(opt, s, hint);
}

static const struct option diff_opts[] = {
    {"fail-above", required_argument, NULL, 'A'},
    {"fail-total-above", required_argument, NULL, 'T'},
    {"min-share", required_argument, NULL, 'm'},
    {"ignore", required_argument, NULL, 'i'},
    {"format", required_argument, NULL, 'f'},
    {"top", required_argument, NULL, 'n'},
    {"output", required_argument, NULL, 'o'},
    {"color", required_argument, NULL, 'c'},
    {"profile-format", required_argument, NULL, 'P'},
    {"sample-rate", required_argument, NULL, 'r'},
    {"units", required_argument, NULL, 'u'},
    {"server", required_argument, NULL, 's'},
    {"base", required_argument, NULL, 'b'},
    {"head", required_argument, NULL, 'H'},
    {"base-from", required_argument, NULL, 1},
    {"base-until", required_argument, NULL, 2},
    {"head-from", required_argument, NULL, 3},
    {"head-until", required_argument, NULL, 4},
    {"timeout", required_argument, NULL, 't'},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0}};

/* One option; 0, or the exit code (-1: help shown). */
static int take_option(int c, const char *v, char **argv, diff_args_t *a) {
  static const char *const formats[] = {"text", "json", "markdown"};
  static const char *const colors[] = {"never", "always", "auto"};
  static const char *const profile_formats[] = {"auto", "folded", "lines", "pprof", "jfr"};
  unsigned u;
  int k = 0;
  switch (c) {
  case 'A': return parse_pct("bad --fail-above", v, &a->gate.fail_above);
  case 'T': return parse_pct("bad --fail-total-above", v, &a->gate.fail_total_above);
  case 'm': return parse_pct("bad --min-share", v, &a->gate.min_share);
  case 'i': a->gate.ignore = v; return 0;
  case 'f':
    if (parse_enum("unknown --format", v, formats, 3, "use text, json or markdown", &k))
      return 2;
    a->format = k == 1 ? EMBER_REPORT_JSON : k == 2 ? EMBER_REPORT_MARKDOWN : EMBER_REPORT_TEXT;
    return 0;
  case 'n':
    if (!strcmp(v, "0")) {
      a->gate.top = 0;
      return 0;
    }
    if (ember_cli_parse_count(v, 1000000, &u)) return fail("bad --top", v, "use a count, or 0 for all");
    a->gate.top = u;
    return 0;
  case 'o': a->output = v; return 0;
  case 'c':
    if (parse_enum("unknown --color", v, colors, 3, "use auto, always or never", &k)) return 2;
    a->color = k == 2 ? -1 : k;
    return 0;
  case 'P':
    if (parse_enum("unknown --profile-format", v, profile_formats, 5,
                   "use auto, folded, lines, pprof or jfr", &k))
      return 2;
    a->load.format = v;
    return 0;
  case 'r':
    if (ember_cli_parse_count(v, 1000000000, &u)) return fail("bad --sample-rate", v, "use a positive number of Hz");
    a->load.sample_rate = v;
    return 0;
  case 'u': a->load.units = v; return 0;
  case 's': a->server = v; return 0;
  case 'b': a->query[0] = v; return 0;
  case 'H': a->query[1] = v; return 0;
  case 1: a->from[0] = v; return 0;
  case 2: a->until[0] = v; return 0;
  case 3: a->from[1] = v; return 0;
  case 4: a->until[1] = v; return 0;
  case 't':
    if (ember_cli_parse_count(v, 86400, &a->timeout)) return fail("bad --timeout", v, "use seconds from 1 to 86400");
    return 0;
  case 'h': fputs(diff_usage, stdout); return -1;
  case ':': return fail("missing value for", argv[optind - 1], "run `ember diff --help`");
  default: return fail("unknown option", argv[optind - 1], "run `ember diff --help`");
  }
}

/* Which mode the arguments ask for, and whether they are complete. */
static int check_mode(int argc, char **argv, diff_args_t *a) {
  int nfiles = argc - optind;
  if (a->server || a->query[0] || a->query[1]) {
    if (nfiles) return fail("unexpected argument", argv[optind], "compare files or a server's queries, not both");
    if (!a->server) return fail("missing --server for", a->query[0] ? a->query[0] : a->query[1], "name the server the queries read, e.g. --server http://127.0.0.1:4040");
    if (!a->query[0] || !*a->query[0]) return fail("missing --base with --server", a->server, "e.g. --base 'app.cpu{commit=\"a1\"}'");
    if (!a->query[1] || !*a->query[1]) return fail("missing --head with --server", a->server, "e.g. --head 'app.cpu{commit=\"b2\"}'");
    return 0;
  }
  if (nfiles != 2) {
    fprintf(stderr, "ember diff: name two profile files (BASE_FILE HEAD_FILE), or --server "
                    "with --base and --head (run `ember diff --help`)\n");
    return 2;
  }
  a->files[0] = argv[optind];
  a->files[1] = argv[optind + 1];
  return 0;
}

static int parse_args(int argc, char **argv, diff_args_t *a) {
  int c;
  opterr = 0;
  while ((c = getopt_long(argc, argv, ":hf:o:", diff_opts, NULL)) != -1) {
    int rc = take_option(c, optarg, argv, a);
    if (rc) return rc;
  }
  if (a->output && !*a->output) return fail("empty --output", a->output, "name an .html file");
  return check_mode(argc, argv, a);
}

/* ---- Files --------------------------------------------------------------- */

/* Loads one file into side of t. 0 or 2 (the message printed). */
static int load_side(const diff_args_t *a, int side, ember_tree_t *t,
                     ember_profile_info_t *info) {
  uint8_t *data = NULL;
  size_t n = 0;
  ember_err_t err;
  const char *path = a->files[side];
  int rc = ember_profile_read_file(path, DIFF_MAX_FILE, &data, &n, &err);
  if (!rc) rc = ember_profile_load(data, n, &a->load, t, side, info, &err);
  free(data);
  if (rc) {
    fprintf(stderr, "ember diff: %s: %s\n", path, err.msg);
    return 2;
  }
  if (!ember_tree_total(t, side)) {
    fprintf(stderr, "ember diff: %s holds no samples; compare a profile of the run\n", path);
    return 2;
  }
  return 0;
}

static int comparable(const diff_args_t *a, const ember_profile_info_t *b,
                      const ember_profile_info_t *h) {
  if (strcmp(b->units, h->units)) {
    fprintf(stderr, "ember diff: cannot compare different units: %s counts %s, %s %s; "
                    "compare profiles of the same kind\n",
            a->files[0], b->units, a->files[1], h->units);
    return 2;
  }
  if (b->sample_rate != h->sample_rate) {
    fprintf(stderr, "ember diff: cannot compare different sample rates: %s is sampled at "
                    "%u Hz, %s at %u Hz\n",
            a->files[0], b->sample_rate, a->files[1], h->sample_rate);
    return 2;
  }
  return 0;
}

/* The diff flame graph of the files, by /render-diff?format=html's
 * renderer, truncated to the server's default node count as it is. */
static int write_html(const diff_args_t *a, const ember_tree_t *t,
                      const ember_profile_info_t *info, ember_err_t *err) {
  ember_functions_t fns;
  ember_tree_t *cut = NULL;
  ember_buf_t page = EMBER_BUF_INIT;
  int rc = ember_functions_compute(t, 2, EMBER_QUERY_DEFAULT_MAX_FUNCTIONS, &fns, err);
  if (rc) return rc;
  const ember_tree_t *shown = t;
  if (ember_tree_count(t) > EMBER_QUERY_DEFAULT_MAX_NODES) {
    rc = ember_tree_truncate(t, EMBER_QUERY_DEFAULT_MAX_NODES, &cut, err);
    shown = cut;
  }
  if (!rc) {
    int64_t now = (int64_t)time(NULL);
    ember_render_meta_t m[2];
    for (int s = 0; s < 2; s++) {
      memset(&m[s], 0, sizeof m[s]);
      m[s].app_name = a->files[s];
      m[s].query = a->files[s];
      m[s].spy_name = info->format;
      m[s].sample_rate = info->sample_rate;
      m[s].units = info->units;
      m[s].from = now;
      m[s].until = now;
      m[s].max_nodes = EMBER_QUERY_DEFAULT_MAX_NODES;
    }
    m[0].functions = &fns;
    rc = ember_render_html_diff(&page, shown, &m[0], &m[1], err);
  }
  if (!rc) rc = ember_client_write_file(a->output, page.data, page.len, err);
  ember_buf_free(&page);
  ember_tree_free(cut);
  ember_functions_free(&fns);
  return rc;
}

static int compare_files(const diff_args_t *a, ember_compare_t *out) {
  ember_tree_t *t = ember_tree_new();
  ember_profile_info_t info[2];
  ember_err_t err;
  int rc = load_side(a, 0, t, &info[0]);
  if (!rc) rc = load_side(a, 1, t, &info[1]);
  if (!rc) rc = comparable(a, &info[0], &info[1]);
  if (!rc && ember_compare_from_tree(t, info[0].units, info[0].sample_rate, out, &err)) {
    fprintf(stderr, "ember diff: %s\n", err.msg);
    rc = 2;
  }
  if (!rc && a->output && write_html(a, t, &info[0], &err)) {
    fprintf(stderr, "ember diff: %s\n", err.msg);
    rc = 2;
  }
  ember_tree_free(t);
  return rc;
}

/* ---- Server -------------------------------------------------------------- */

static void put_param(ember_buf_t *b, const char *name, const char *value) {
  ember_buf_putc(b, '&');
  ember_buf_puts(b, name);
  ember_buf_putc(b, '=');
  ember_client_urlencode(b, value);
}

/* GET /render-diff in format into *body. 0 or 2 (the message printed). */
static int fetch_diff(const diff_args_t *a, const ember_client_url_t *url, const char *token,
                      const char *format, ember_buf_t *body) {
  static const char *const names[2][3] = {{"leftQuery", "leftFrom", "leftUntil"},
                                          {"rightQuery", "rightFrom", "rightUntil"}};
  ember_buf_t target = EMBER_BUF_INIT, msg = EMBER_BUF_INIT;
  ember_buf_printf(&target, "/render-diff?format=%s", format);
  for (int s = 0; s < 2; s++) {
    put_param(&target, names[s][0], a->query[s]);
    put_param(&target, names[s][1], a->from[s] ? a->from[s] : "now-1h");
    put_param(&target, names[s][2], a->until[s] ? a->until[s] : "now");
  }
  /* The function table covers the whole tree whatever the graph keeps:
   * JSON asks for every function and no more graph than it needs. */
  if (!strcmp(format, "json")) ember_buf_puts(&target, "&maxFunctions=-1&maxNodes=1");
  ember_client_resp_t resp;
  memset(&resp, 0, sizeof resp);
  ember_err_t err;
  int rc = 0;
  if (ember_client_get(url, target.data, token, (int)a->timeout * 1000, &resp, &err)) {
    fprintf(stderr, "ember diff: %s\n", err.msg);
    rc = 2;
  } else if (resp.status != 200) {
    ember_client_error_message(&resp, &msg);
    fprintf(stderr, "ember diff: the server answered %d: %s\n", resp.status, msg.data);
    rc = 2;
  } else {
    ember_buf_append(body, resp.body.data, resp.body.len);
  }
  ember_client_resp_free(&resp);
  ember_buf_free(&target);
  ember_buf_free(&msg);
  return rc;
}

static int compare_server(const diff_args_t *a, ember_compare_t *out) {
  ember_client_url_t url;
  ember_err_t err;
  if (ember_client_url_parse(a->server, &url, &err)) {
    fprintf(stderr, "ember diff: %s\n", err.msg);
    return 2;
  }
  const char *token = getenv("EMBER_TOKEN");
  if (token && !*token) token = NULL;
  ember_buf_t body = EMBER_BUF_INIT;
  int rc = fetch_diff(a, &url, token, "json", &body);
  if (!rc && ember_compare_from_json(body.data, body.len, out, &err)) {
    fprintf(stderr, "ember diff: %s\n", err.msg);
    rc = 2;
  }
  for (int s = 0; !rc && s < 2; s++)
    if (!out->total[s]) {
      fprintf(stderr, "ember diff: the %s selection %s has no samples from %s to %s; check "
                      "its tags and range\n",
              s ? "head" : "base", a->query[s], a->from[s] ? a->from[s] : "now-1h",
              a->until[s] ? a->until[s] : "now");
      rc = 2;
    }
  if (!rc && a->output) {
    ember_buf_reset(&body);
    rc = fetch_diff(a, &url, token, "html", &body);
    if (!rc && ember_client_write_file(a->output, body.data, body.len, &err)) {
      fprintf(stderr, "ember diff: %s\n", err.msg);
      rc = 2;
    }
  }
  ember_buf_free(&body);
  return rc;
}

/* ---- Command ------------------------------------------------------------- */

static bool use_color(int setting) {
  if (setting >= 0) return setting == 1;
  const char *no = getenv("NO_COLOR");
  return !(no && *no) && isatty(STDOUT_FILENO);
}

int ember_cli_diff(int argc, char **argv) {
  diff_args_t a;
  memset(&a, 0, sizeof a);
  a.gate.fail_above = -1;
  a.gate.fail_total_above = -1;
  a.gate.top = DIFF_DEFAULT_TOP;
  a.color = -1;
  a.timeout = 60;
  int rc = parse_args(argc, argv, &a);
  if (rc) return rc < 0 ? 0 : rc;
  signal(SIGPIPE, SIG_IGN);
  ember_compare_t cmp;
  memset(&cmp, 0, sizeof cmp);
  ember_gate_t gate;
  memset(&gate, 0, sizeof gate);
  ember_err_t err;
  rc = a.server ? compare_server(&a, &cmp) : compare_files(&a, &cmp);
  if (rc) goto done;
  if (ember_gate_eval(&cmp, &a.gate, &gate, &err)) {
    fprintf(stderr, "ember diff: %s\n", err.msg);
    rc = 2;
    goto done;
  }
  ember_report_opts_t ro = {a.server ? a.query[0] : a.files[0],
                            a.server ? a.query[1] : a.files[1], use_color(a.color)};
  ember_buf_t out = EMBER_BUF_INIT;
  ember_report_put(&out, a.format, &cmp, &a.gate, &gate, &ro);
  if (out.len && fwrite(out.data, 1, out.len, stdout) != out.len) rc = 2;
  if (fflush(stdout)) rc = 2;
  ember_buf_free(&out);
  if (rc) {
    fprintf(stderr, "ember diff: cannot write the report to standard output\n");
    goto done;
  }
  if (a.output) fprintf(stderr, "ember diff: wrote the diff flame graph to %s\n", a.output);
  rc = gate.passed ? 0 : 1;
done:
  ember_gate_free(&gate);
  ember_compare_free(&cmp);
  return rc;
}
