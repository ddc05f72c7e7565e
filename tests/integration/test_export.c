/* Integration: `ember export` against the real server, in every format,
 * and its answers to bad flags and to a server that is not there. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../query/svg_check.h"
#include "harness.h"

#define T0 1700000000L

static it_server_t srv;
static char work[256];   /* where the exports go */
static char server[64];  /* http://127.0.0.1:PORT */

static const char seed[] = "main;order_car;find_nearest 30\n"
                           "main;order_car;check_driver;mutex_lock 20\n"
                           "main;idle 5\n"
                           "main;parse<T>(a & \"b\") 2\n";

static int setup(void **state) {
  memset(&srv, 0, sizeof srv);
  it_start(&srv, NULL);
  assert_int_equal(it_ingest(&srv, "ride.cpu{region=eu-north}", T0, T0 + 10, seed), 200);
  assert_int_equal(it_ingest(&srv, "ride.cpu{region=us-east}", T0, T0 + 10,
                             "main;order_bike;find_nearest 10\n"),
                   200);
  snprintf(server, sizeof server, "http://127.0.0.1:%u", srv.port);
  const char *tmp = getenv("TMPDIR");
  snprintf(work, sizeof work, "%s/ember-export-it-XXXXXX", tmp && *tmp ? tmp : "/tmp");
  assert_non_null(mkdtemp(work));
  return 0;
}

static int teardown(void **state) {
  assert_int_equal(it_stop(&srv), 0);
  it_cleanup(&srv);
  const char *names[] = {"p.svg", "p.html", "p.json", "p.txt", "bad.json", "out", "err"};
  for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
    char p[400];
    snprintf(p, sizeof p, "%s/%s", work, names[i]);
    unlink(p);
  }
  rmdir(work);
  return 0;
}

/* ---- Running the binary ------------------------------------------------ */

typedef struct {
  int status;     /* exit code, -1 when killed */
  char *out, *err; /* what it printed (malloc'd) */
  size_t out_len;
} run_t;

static char *slurp(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  if (!f) {
    if (len) *len = 0;
    return NULL;
  }
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  fseek(f, 0, SEEK_SET);
  char *b = malloc((size_t)n + 1);
  size_t got = fread(b, 1, (size_t)n, f);
  fclose(f);
  b[got] = '\0';
  if (len) *len = got;
  return b;
}

static void path_of(char *buf, size_t cap, const char *name) {
  snprintf(buf, cap, "%s/%s", work, name);
}

/* Runs `ember <args...>` (NULL-terminated) with stdout and stderr in files. */
static void run(run_t *r, const char *const *args) {
  const char *argv[32] = {getenv("EMBER_BIN")};
  size_t argc = 1;
  for (size_t i = 0; args[i] && argc < 31; i++) argv[argc++] = args[i];
  argv[argc] = NULL;
  char out[400], err[400];
  path_of(out, sizeof out, "out");
  path_of(err, sizeof err, "err");
  pid_t pid = fork();
  assert_true(pid >= 0);
  if (pid == 0) {
    int o = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    int e = open(err, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    dup2(o, 1);
    dup2(e, 2);
    execv(argv[0], (char *const *)argv);
    _exit(127);
  }
  int st = 0;
  waitpid(pid, &st, 0);
  r->status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  r->out = slurp(out, &r->out_len);
  r->err = slurp(err, NULL);
}

static void run_free(run_t *r) {
  free(r->out);
  free(r->err);
}

/* stderr is exactly one line that contains want. */
static void assert_one_line(const run_t *r, const char *want) {
  const char *nl = strchr(r->err, '\n');
  if (!strstr(r->err, want) || !nl || nl[1])
    fprintf(stderr, "stderr was: [%s], wanted one line with [%s]\n", r->err, want);
  assert_non_null(strstr(r->err, want));
  assert_non_null(nl);
  assert_int_equal(nl[1], '\0');
}

/* Exports query over [T0, T0 + 60) in format to work/<file>; must succeed.
 * Returns the file's bytes (caller frees). */
static char *export_ok(const char *format, const char *file, size_t *len) {
  char path[400], from[24], until[24], want[500];
  path_of(path, sizeof path, file);
  snprintf(from, sizeof from, "%ld", T0);
  snprintf(until, sizeof until, "%ld", T0 + 60);
  const char *args[] = {"export", "--server", server, "--query", "ride.cpu{}", "--from",
                        from, "--until", until, "--format", format, "-o", path, NULL};
  run_t r;
  run(&r, args);
  if (r.status) fprintf(stderr, "export failed: %s\n", r.err);
  assert_int_equal(r.status, 0);
  char *body = slurp(path, len);
  assert_non_null(body);
  snprintf(want, sizeof want, "ember export: wrote %zu bytes of %s to %s", *len, format, path);
  assert_one_line(&r, want);
  assert_int_equal(r.out_len, 0);
  run_free(&r);
  return body;
}

/* GET /render?query=ride.cpu{}&from=T0&until=T0+60&format=... body. */
static char *render_raw(const char *format, size_t *len) {
  char target[256];
  snprintf(target, sizeof target, "/render?query=ride.cpu%%7B%%7D&from=%ld&until=%ld&format=%s",
           T0, T0 + 60, format);
  it_resp_t r;
  it_expect(&srv, 200, "GET", target, NULL, 0, &r);
  char *b = malloc(r.body_len + 1);
  memcpy(b, r.body, r.body_len + 1);
  *len = r.body_len;
  it_resp_free(&r);
  return b;
}

/* ---- Formats ----------------------------------------------------------- */

static void test_export_writes_an_svg_with_the_seeded_frames(void **state) {
  size_t len;
  char *svg = export_ok("svg", "p.svg", &len);
  svg_doc_t d;
  int rc = svg_parse(svg, len, &d);
  if (rc) fprintf(stderr, "svg: %s\n", d.err);
  assert_int_equal(rc, 0);
  const svg_frame_t *f = svg_frame(&d, "mutex_lock");
  assert_non_null(f);
  /* Samples at the default 100 Hz read as CPU time, as in the UI. */
  assert_string_equal(f->title, "mutex_lock\ntotal: 200 ms (20 samples), 29.85%\n"
                                "self: 200 ms (20 samples), 29.85%");
  assert_non_null(svg_frame(&d, "find_nearest"));
  assert_non_null(svg_frame(&d, "order_bike"));
  assert_non_null(svg_frame(&d, "parse<T>(a & \"b\")"));
  assert_string_equal(svg_frame(&d, "total")->title,
                      "total\ntotal: 670 ms (67 samples), 100%\n"
                      "self: 0 s (0 samples), 0%");
  svg_doc_free(&d);
  /* A second, independent XML parser agrees, where there is one. */
  if (system("command -v python3 >/dev/null 2>&1") == 0) {
    char cmd[600];
    snprintf(cmd, sizeof cmd,
             "python3 -c \"import sys, xml.etree.ElementTree as E; "
             "E.parse(sys.argv[1])\" '%s/p.svg'",
             work);
    assert_int_equal(system(cmd), 0);
  }
  free(svg);
}

static void test_export_writes_an_html_page_with_its_data_inlined(void **state) {
  size_t len;
  char *html = export_ok("html", "p.html", &len);
  assert_int_equal(strncmp(html, "<!DOCTYPE html>", 15), 0);
  assert_non_null(strstr(html, "<h1>ride.cpu{}</h1>"));
  const char *open = "<script type=\"application/json\" id=\"flamebearer\">";
  char *start = strstr(html, open);
  assert_non_null(start);
  start += strlen(open);
  char *end = strstr(start, "</script>");
  assert_non_null(end);
  *end = '\0';
  json_error_t e;
  json_t *inl = json_loads(start, 0, &e);
  assert_non_null(inl);
  json_t *live = it_render(&srv, "ride.cpu{}", T0, T0 + 60, NULL);
  assert_int_equal(it_ticks(inl), 67);
  assert_int_equal(it_ticks(inl), it_ticks(live));
  assert_true(json_equal(inl, live));
  json_decref(inl);
  json_decref(live);
  free(html);
}

static void test_export_writes_json_as_render_answers_it(void **state) {
  size_t len;
  char *body = export_ok("json", "p.json", &len);
  json_error_t e;
  json_t *got = json_loadb(body, len, 0, &e);
  assert_non_null(got);
  json_t *live = it_render(&srv, "ride.cpu{}", T0, T0 + 60, NULL);
  assert_true(json_equal(got, live));
  json_decref(got);
  json_decref(live);
  free(body);
}

static void test_export_writes_collapsed_text_byte_for_byte(void **state) {
  size_t len, want_len;
  char *body = export_ok("collapsed", "p.txt", &len);
  char *want = render_raw("collapsed", &want_len);
  assert_int_equal(len, want_len);
  assert_memory_equal(body, want, len);
  assert_non_null(strstr(body, "main;order_car;find_nearest 30\n"));
  free(body);
  free(want);
}

static void test_export_to_standard_output(void **state) {
  char from[24];
  snprintf(from, sizeof from, "%ld", T0);
  const char *args[] = {"export", "--server", server, "-q", "ride.cpu{region=\"us-east\"}",
                        "--from", from, "--until", "1700000060", "-f", "collapsed",
                        "-o", "-", NULL};
  run_t r;
  run(&r, args);
  assert_int_equal(r.status, 0);
  assert_string_equal(r.out, "main;order_bike;find_nearest 10\n");
  assert_one_line(&r, "ember export: wrote 32 bytes of collapsed to standard output");
  run_free(&r);
}

/* ---- Failures ---------------------------------------------------------- */

static void test_export_reports_the_server_error_in_one_line(void **state) {
  char path[400];
  path_of(path, sizeof path, "bad.json");
  const char *args[] = {"export", "--server", server, "--query", "ride.cpu{region=",
                        "-o", path, NULL};
  run_t r;
  run(&r, args);
  assert_int_equal(r.status, 2); /* bad input, as the exit codes say */
  assert_one_line(&r, "ember export: the server answered 400: query: ");
  assert_int_equal(access(path, F_OK), -1);
  run_free(&r);
}

static void test_export_to_an_unreachable_server_says_to_start_it(void **state) {
  /* A port bound and closed again: nothing listens there. */
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a;
  memset(&a, 0, sizeof a);
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t sl = sizeof a;
  assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
  assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &sl), 0);
  close(fd);
  char dead[64];
  snprintf(dead, sizeof dead, "http://127.0.0.1:%u", ntohs(a.sin_port));
  const char *args[] = {"export", "--server", dead, "--query", "ride.cpu{}", NULL};
  run_t r;
  run(&r, args);
  assert_int_equal(r.status, 1);
  char want[200];
  snprintf(want, sizeof want, "ember export: the server at %s is not reachable", dead);
  assert_one_line(&r, want);
  assert_one_line(&r, "start it with `ember serve`");
  run_free(&r);
}

static void test_export_refuses_bad_flags_in_one_line(void **state) {
  static const struct {
    const char *args[8];
    const char *want;
  } cases[] = {
      {{"export", "--query", "a{}", "--bogus", NULL}, "unknown option '--bogus'"},
      {{"export", "--query", "a{}", "--format", "pdf", NULL},
       "unknown --format 'pdf'; use svg, html, json or collapsed"},
      {{"export", "--query", "a{}", "--max-nodes", "0", NULL}, "bad --max-nodes '0'"},
      {{"export", "--query", "a{}", "--timeout", "soon", NULL}, "bad --timeout 'soon'"},
      {{"export", "--format", "svg", NULL}, "missing --query"},
      {{"export", "--query", NULL}, "missing value for '--query'"},
      {{"export", "--query", "a{}", "extra", NULL}, "unexpected argument 'extra'"},
      {{"export", "--query", "a{}", "--server", "https://ember.example.com", NULL},
       "https is not supported"},
      {{"export", "--query", "a{}", "--server", "http://::1:4040", NULL},
       "put it in brackets"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    run_t r;
    run(&r, cases[i].args);
    assert_int_equal(r.status, 2);
    assert_one_line(&r, cases[i].want);
    assert_int_equal(strncmp(r.err, "ember export: ", 14), 0);
    run_free(&r);
  }
}

static void test_export_help_answers_and_ember_help_lists_export(void **state) {
  run_t r;
  const char *help[] = {"export", "--help", NULL};
  run(&r, help);
  assert_int_equal(r.status, 0);
  assert_int_equal(strncmp(r.out, "Usage: ember export", 19), 0);
  assert_non_null(strstr(r.out, "--format"));
  run_free(&r);
  const char *top[] = {"--help", NULL};
  run(&r, top);
  assert_int_equal(r.status, 0);
  assert_non_null(strstr(r.out, "\n  export "));
  run_free(&r);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_export_writes_an_svg_with_the_seeded_frames),
      cmocka_unit_test(test_export_writes_an_html_page_with_its_data_inlined),
      cmocka_unit_test(test_export_writes_json_as_render_answers_it),
      cmocka_unit_test(test_export_writes_collapsed_text_byte_for_byte),
      cmocka_unit_test(test_export_to_standard_output),
      cmocka_unit_test(test_export_reports_the_server_error_in_one_line),
      cmocka_unit_test(test_export_to_an_unreachable_server_says_to_start_it),
      cmocka_unit_test(test_export_refuses_bad_flags_in_one_line),
      cmocka_unit_test(test_export_help_answers_and_ember_help_lists_export),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
