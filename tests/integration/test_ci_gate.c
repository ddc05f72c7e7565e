/* Integration: `ember push` and `ember diff`, the CI regression gate, with
 * files alone and against the real server: the gate trips on a function
 * that grew from 10% to 25% of the total and names it first, passes a
 * profile against itself, prints a valid Markdown table, agrees with
 * /render-diff, and answers bad input with one line and exit 2. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness.h"

#define T0 1700000000L

static it_server_t srv;
static char work[256];
static char server[64];
static char base_path[320], head_path[320], empty_path[320];

/* parse_json: 10% of the base, 25% of the head. */
static const char base_folded[] = "main;handle;parse_json 100\n"
                                  "main;handle;db_query 500\n"
                                  "main;handle;render 300\n"
                                  "main;idle 100\n";
static const char head_folded[] = "main;handle;parse_json 300\n"
                                  "main;handle;db_query 500\n"
                                  "main;handle;render 300\n"
                                  "main;idle 100\n";

static int setup(void **state) {
  memset(&srv, 0, sizeof srv);
  it_start(&srv, NULL);
  snprintf(server, sizeof server, "http://127.0.0.1:%u", srv.port);
  it_mkdtemp(work, sizeof work, "ember-ci-it");
  snprintf(base_path, sizeof base_path, "%s/base.folded", work);
  snprintf(head_path, sizeof head_path, "%s/head.folded", work);
  snprintf(empty_path, sizeof empty_path, "%s/empty.folded", work);
  it_write_file(base_path, base_folded, strlen(base_folded));
  it_write_file(head_path, head_folded, strlen(head_folded));
  it_write_file(empty_path, "", 0);
  return 0;
}

static int teardown(void **state) {
  assert_int_equal(it_stop(&srv), 0);
  it_cleanup(&srv);
  it_rmtree(work);
  return 0;
}

/* ---- Helpers ----------------------------------------------------------- */

typedef struct {
  int status;
  char *out, *err;
} run_t;

static run_t run(const char *const *args) {
  run_t r;
  r.status = it_run(args, &r.out, &r.err);
  return r;
}

static void run_free(run_t *r) {
  free(r->out);
  free(r->err);
}

/* Exit 2 with one readable line on stderr and nothing on stdout. */
static void expect_one_line_2(const char *const *args, const char *needle) {
  run_t r = run(args);
  assert_int_equal(r.status, 2);
  assert_string_equal(r.out, "");
  size_t n = strlen(r.err);
  assert_true(n > 12);
  assert_int_equal(r.err[n - 1], '\n');
  assert_null(memchr(r.err, '\n', n - 1));
  if (!strstr(r.err, needle)) fail_msg("'%s' not in: %s", needle, r.err);
  run_free(&r);
}

/* Cells of a Markdown table row: the unescaped '|' count minus one. */
static int md_cells(const char *line, size_t n) {
  int pipes = 0;
  for (size_t i = 0; i < n; i++) {
    if (line[i] == '\\') {
      i++;
      continue;
    }
    pipes += line[i] == '|';
  }
  return pipes - 1;
}

/* A GitHub-flavoured Markdown table: a header row, a delimiter row of
 * ---, :--, --: or :-: cells, then rows with as many cells; returns the
 * number of body rows. */
static int check_markdown_table(const char *md) {
  const char *p = strstr(md, "\n| ");
  assert_non_null(p);
  p++;
  int cols = -1, rows = 0, line_no = 0;
  while (*p == '|') {
    const char *end = strchr(p, '\n');
    assert_non_null(end);
    size_t n = (size_t)(end - p);
    assert_int_equal(p[n - 1], '|');
    int c = md_cells(p, n);
    if (line_no == 0) cols = c;
    assert_int_equal(c, cols);
    if (line_no == 1) {
      for (size_t i = 0; i < n; i++)
        assert_non_null(strchr("|-: ", p[i]));
    } else if (line_no > 1) {
      rows++;
    }
    line_no++;
    p = end + 1;
  }
  assert_true(cols >= 4);
  return rows;
}

/* ---- Offline ------------------------------------------------------------- */

static void test_offline_gate_trips_on_a_function_that_grew_and_names_it_first(void **st) {
  const char *args[] = {"diff", "--fail-above", "5", "--color", "always", base_path, head_path,
                        NULL};
  run_t r = run(args);
  assert_int_equal(r.status, 1);
  /* 100/1000 = 10% to 300/1200 = 25%: +15 pp; it leads the table. */
  const char *first_row = strstr(r.out, "\nparse_json");
  assert_non_null(first_row);
  assert_true(strstr(r.out, "\ndb_query") > first_row);
  assert_non_null(strstr(first_row, "10.00%"));
  assert_non_null(strstr(first_row, "25.00%"));
  assert_non_null(strstr(r.out, "+15.00 pp"));
  assert_non_null(strstr(r.out, "FAIL"));
  assert_non_null(strstr(r.out, "\033[")); /* --color always */
  assert_non_null(strstr(r.out, "  parse_json: self 10.00% -> 25.00% (+15.00 pp)"));
  run_free(&r);

  /* Under the limit, ignored, or below the total gate: it passes. */
  const char *loose[] = {"diff", "--fail-above", "20", base_path, head_path, NULL};
  r = run(loose);
  assert_int_equal(r.status, 0);
  assert_non_null(strstr(r.out, "PASS"));
  assert_null(strstr(r.out, "\033["));
  run_free(&r);
  const char *ignored[] = {"diff", "--fail-above", "5", "--ignore", "json$", base_path,
                           head_path, NULL};
  r = run(ignored);
  assert_int_equal(r.status, 0);
  assert_null(strstr(r.out, "parse_json"));
  assert_non_null(strstr(r.out, "1 function ignored"));
  run_free(&r);
  /* The head's total is 20% above the base's. */
  const char *total[] = {"diff", "--fail-total-above", "10", base_path, head_path, NULL};
  r = run(total);
  assert_int_equal(r.status, 1);
  assert_non_null(strstr(r.out, "20.0% above the base's"));
  run_free(&r);
  const char *total_ok[] = {"diff", "--fail-total-above", "25", base_path, head_path, NULL};
  r = run(total_ok);
  assert_int_equal(r.status, 0);
  run_free(&r);
  /* --min-share hides what is under it on both sides. */
  const char *min[] = {"diff", "--min-share", "20", base_path, head_path, NULL};
  r = run(min);
  assert_int_equal(r.status, 0);
  assert_null(strstr(r.out, "\nidle"));
  assert_non_null(strstr(r.out, "\nparse_json")); /* 25% on the head */
  run_free(&r);
}

static void test_offline_a_profile_against_itself_passes(void **st) {
  const char *args[] = {"diff", "--fail-above", "0.01", "--fail-total-above", "0",
                        head_path, head_path, NULL};
  run_t r = run(args);
  assert_int_equal(r.status, 0);
  assert_non_null(strstr(r.out, "PASS"));
  assert_non_null(strstr(r.out, "+0.00 pp"));
  run_free(&r);
}

static void test_offline_markdown_is_a_valid_table_and_json_parses(void **st) {
  const char *args[] = {"diff", "--fail-above", "5", "-f", "markdown", base_path, head_path,
                        NULL};
  run_t r = run(args);
  assert_int_equal(r.status, 1);
  assert_int_equal(check_markdown_table(r.out), 6); /* six functions */
  assert_non_null(strstr(r.out, "| parse\\_json | 10.00% | 25.00% | **+15.00 pp** |"));
  assert_non_null(strstr(r.out, "**Fail**"));
  run_free(&r);

  const char *js[] = {"diff", "--fail-above", "5", "-f", "json", base_path, head_path, NULL};
  r = run(js);
  assert_int_equal(r.status, 1);
  json_error_t e;
  json_t *doc = json_loads(r.out, 0, &e);
  assert_non_null(doc);
  assert_false(json_is_true(json_object_get(json_object_get(doc, "gate"), "passed")));
  json_t *regs = json_object_get(json_object_get(doc, "gate"), "regressions");
  assert_int_equal(json_array_size(regs), 1);
  assert_string_equal(json_string_value(json_object_get(json_array_get(regs, 0), "name")),
                      "parse_json");
  assert_int_equal(json_integer_value(json_object_get(json_object_get(doc, "head"), "total")),
                   1200);
  json_decref(doc);
  run_free(&r);
}

static void test_offline_html_is_the_servers_diff_page(void **st) {
  char html[400];
  snprintf(html, sizeof html, "%s/report.html", work);
  const char *args[] = {"diff", base_path, head_path, "-o", html, NULL};
  run_t r = run(args);
  assert_int_equal(r.status, 0);
  run_free(&r);
  FILE *f = fopen(html, "rb");
  assert_non_null(f);
  char buf[1 << 16];
  size_t n = fread(buf, 1, sizeof buf - 1, f);
  fclose(f);
  buf[n] = '\0';
  assert_non_null(strstr(buf, "<!DOCTYPE html>"));
  assert_non_null(strstr(buf, "id=\"flamebearer\""));
  assert_non_null(strstr(buf, "\"format\":\"double\""));
  assert_non_null(strstr(buf, "parse_json"));
}

/* ---- Server mode --------------------------------------------------------- */

static void push(const char *file, const char *app) {
  char from[32], until[32];
  snprintf(from, sizeof from, "%ld", T0);
  snprintf(until, sizeof until, "%ld", T0 + 10);
  const char *args[] = {"push", "--server", server, "--app", app, "--from", from, "--until",
                        until, file, NULL};
  run_t r = run(args);
  if (r.status) fail_msg("push %s: %s", file, r.err);
  assert_non_null(strstr(r.err, "pushed"));
  run_free(&r);
}

static void test_server_diff_equals_render_diff_and_trips_the_gate(void **st) {
  push(base_path, "ci.cpu{commit=a1,branch=main}");
  push(head_path, "ci.cpu{commit=b2,branch=feature}");
  char from[32], until[32];
  snprintf(from, sizeof from, "%ld", T0 - 10);
  snprintf(until, sizeof until, "%ld", T0 + 20);
  const char *args[] = {"diff", "--server", server, "--base", "ci.cpu{commit=\"a1\"}",
                        "--head", "ci.cpu{commit=\"b2\"}", "--base-from", from,
                        "--base-until", until, "--head-from", from, "--head-until", until,
                        "--fail-above", "5", "--top", "0", "-f", "json", NULL};
  run_t r = run(args);
  assert_int_equal(r.status, 1);
  json_error_t e;
  json_t *mine = json_loads(r.out, 0, &e);
  assert_non_null(mine);
  run_free(&r);

  char *lq = it_urlencode("ci.cpu{commit=\"a1\"}"), *rq = it_urlencode("ci.cpu{commit=\"b2\"}");
  char target[512];
  snprintf(target, sizeof target,
           "/render-diff?leftQuery=%s&rightQuery=%s&leftFrom=%s&leftUntil=%s&rightFrom=%s"
           "&rightUntil=%s",
           lq, rq, from, until, from, until);
  free(lq);
  free(rq);
  it_resp_t resp;
  it_expect(&srv, 200, "GET", target, NULL, 0, &resp);
  json_t *theirs = it_json(&resp);
  it_resp_free(&resp);
  assert_int_equal(json_integer_value(json_object_get(theirs, "leftTicks")),
                   json_integer_value(json_object_get(json_object_get(mine, "base"), "total")));
  assert_int_equal(json_integer_value(json_object_get(theirs, "rightTicks")),
                   json_integer_value(json_object_get(json_object_get(mine, "head"), "total")));
  /* The same functions, the same values, in the same order. */
  json_t *a = json_object_get(mine, "functions");
  json_t *b = json_object_get(json_object_get(theirs, "functions"), "items");
  assert_int_equal(json_array_size(a), json_array_size(b));
  assert_int_equal(json_array_size(a), 6);
  for (size_t i = 0; i < json_array_size(a); i++) {
    json_t *x = json_array_get(a, i), *y = json_array_get(b, i);
    assert_string_equal(json_string_value(json_object_get(x, "name")),
                        json_string_value(json_object_get(y, "name")));
    assert_true(json_equal(json_object_get(x, "self"), json_object_get(y, "self")));
    assert_true(json_equal(json_object_get(x, "total"), json_object_get(y, "total")));
  }
  assert_string_equal(json_string_value(json_object_get(json_array_get(a, 0), "name")),
                      "parse_json");
  json_decref(mine);
  json_decref(theirs);

  /* The text report and the HTML page, from the server's renderer. */
  char html[400];
  snprintf(html, sizeof html, "%s/server.html", work);
  const char *text[] = {"diff", "--server", server, "--base", "ci.cpu{commit=\"a1\"}",
                        "--head", "ci.cpu{commit=\"b2\"}", "--base-from", from,
                        "--base-until", until, "--head-from", from, "--head-until", until,
                        "--fail-above", "5", "-o", html, NULL};
  r = run(text);
  assert_int_equal(r.status, 1);
  assert_non_null(strstr(r.out, "parse_json: self 10.00% -> 25.00% (+15.00 pp)"));
  run_free(&r);
  struct stat sb;
  assert_int_equal(stat(html, &sb), 0);
  assert_true(sb.st_size > 1000);
  /* The base against itself passes. */
  const char *same[] = {"diff", "--server", server, "--base", "ci.cpu{commit=\"a1\"}",
                        "--head", "ci.cpu{branch=\"main\"}", "--base-from", from,
                        "--base-until", until, "--head-from", from, "--head-until", until,
                        "--fail-above", "5", NULL};
  r = run(same);
  assert_int_equal(r.status, 0);
  run_free(&r);
}

static void test_push_detects_gzip_and_pprof_and_refuses_bad_input(void **st) {
  /* A gzipped folded file travels as a gzip Content-Encoding. */
  char gz[400], cmd[1000];
  snprintf(gz, sizeof gz, "%s/base.folded.gz", work);
  snprintf(cmd, sizeof cmd, "gzip -c '%s' > '%s'", base_path, gz);
  assert_int_equal(system(cmd), 0);
  push(gz, "ci_gz.cpu{commit=a1}");
  json_t *doc = it_render(&srv, "ci_gz.cpu{}", T0 - 10, T0 + 20, NULL);
  assert_int_equal(it_ticks(doc), 1000);
  json_decref(doc);

  /* A pprof profile, gzipped or not, is read as one: the same profile. */
  char pb[400], pbgz[400];
  snprintf(pb, sizeof pb, "%s/pprof/go_cpu.pb", getenv("EMBER_TEST_DATA"));
  snprintf(pbgz, sizeof pbgz, "%s/pprof/go_cpu.pb.gz", getenv("EMBER_TEST_DATA"));
  const char *same_pprof[] = {"diff", "--fail-above", "0.01", pb, pbgz, NULL};
  run_t r = run(same_pprof);
  assert_int_equal(r.status, 0);
  run_free(&r);
  push(pbgz, "ci_go{commit=a1}");
  doc = it_render(&srv, "ci_go.cpu{}", T0 - 10, T0 + 20, NULL);
  assert_true(it_ticks(doc) > 0);
  json_decref(doc);

  const char *no_app[] = {"push", "--server", server, base_path, NULL};
  expect_one_line_2(no_app, "missing --app");
  const char *bad_app[] = {"push", "--server", server, "--app", "x{", base_path, NULL};
  expect_one_line_2(bad_app, "bad --app");
  const char *empty[] = {"push", "--server", server, "--app", "x.cpu", empty_path, NULL};
  expect_one_line_2(empty, "is empty");
  const char *missing[] = {"push", "--server", server, "--app", "x.cpu", "/nonexistent/p",
                           NULL};
  expect_one_line_2(missing, "cannot open /nonexistent/p");
  /* The server refuses it (422): retrying cannot help. */
  char junk[400];
  snprintf(junk, sizeof junk, "%s/junk.folded", work);
  it_write_file(junk, "a;b notanumber x\n", 17);
  const char *refused[] = {"push", "--server", server, "--app", "x.cpu", "--format", "folded",
                           junk, NULL};
  r = run(refused);
  assert_int_equal(r.status, 2);
  assert_non_null(strstr(r.err, "the server answered 4"));
  run_free(&r);
  /* Nobody there: retried, then a runtime failure. */
  const char *down[] = {"push", "--server", "http://127.0.0.1:1", "--retries", "1", "--app",
                        "x.cpu", base_path, NULL};
  r = run(down);
  assert_int_equal(r.status, 1);
  assert_non_null(strstr(r.err, "gave up after 1 retries"));
  run_free(&r);
}

/* ---- Bad input ----------------------------------------------------------- */

static void test_bad_input_gives_one_line_and_exit_2(void **st) {
  const char *unreachable[] = {"diff", "--server", "http://127.0.0.1:1", "--base", "a.cpu{}",
                               "--head", "a.cpu{}", NULL};
  expect_one_line_2(unreachable, "127.0.0.1:1");
  const char *bad_query[] = {"diff", "--server", server, "--base", "ci.cpu{commit=",
                             "--head", "ci.cpu{}", NULL};
  expect_one_line_2(bad_query, "the server answered 400");
  const char *empty_file[] = {"diff", base_path, empty_path, NULL};
  expect_one_line_2(empty_file, "holds no samples");
  const char *empty_sel[] = {"diff", "--server", server, "--base", "ci.cpu{commit=\"zz\"}",
                             "--head", "ci.cpu{}", "--base-from", "1699999000",
                             "--base-until", "1700000100", "--head-from", "1699999000",
                             "--head-until", "1700000100", NULL};
  expect_one_line_2(empty_sel, "has no samples");
  /* Different units: the server says so (400). */
  char from[32];
  snprintf(from, sizeof from, "%ld", T0);
  const char *push_bytes[] = {"push", "--server", server, "--app", "mem.alloc{commit=a1}",
                              "--units", "bytes", "--from", from, base_path, NULL};
  run_t r = run(push_bytes);
  assert_int_equal(r.status, 0);
  run_free(&r);
  const char *units[] = {"diff", "--server", server, "--base", "ci.cpu{}", "--head",
                         "mem.alloc{}", "--base-from", "1699999000", "--base-until",
                         "1700000100", "--head-from", "1699999000", "--head-until",
                         "1700000100", NULL};
  expect_one_line_2(units, "different units");
  /* And offline: a CPU profile against a heap profile. */
  char heap[400];
  snprintf(heap, sizeof heap, "%s/pprof/go_heap.pb.gz", getenv("EMBER_TEST_DATA"));
  const char *offline_units[] = {"diff", base_path, heap, NULL};
  expect_one_line_2(offline_units, "cannot compare different units");
  const char *usage[] = {"diff", base_path, NULL};
  expect_one_line_2(usage, "name two profile files");
  const char *bad_gate[] = {"diff", "--fail-above", "five", base_path, head_path, NULL};
  expect_one_line_2(bad_gate, "bad --fail-above");
  const char *bad_re[] = {"diff", "--ignore", "(", base_path, head_path, NULL};
  expect_one_line_2(bad_re, "bad --ignore");
  const char *bad_fmt[] = {"diff", "-f", "xml", base_path, head_path, NULL};
  expect_one_line_2(bad_fmt, "unknown --format");
  const char *both[] = {"diff", "--server", server, "--base", "a.cpu{}", "--head", "a.cpu{}",
                        base_path, NULL};
  expect_one_line_2(both, "not both");
}

static void test_help_documents_the_exit_codes(void **st) {
  const char *d[] = {"diff", "--help", NULL};
  run_t r = run(d);
  assert_int_equal(r.status, 0);
  assert_non_null(strstr(r.out, "Exit codes:"));
  assert_non_null(strstr(r.out, "1  regression"));
  run_free(&r);
  const char *p[] = {"push", "--help", NULL};
  r = run(p);
  assert_int_equal(r.status, 0);
  assert_non_null(strstr(r.out, "Exit codes:"));
  run_free(&r);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_offline_gate_trips_on_a_function_that_grew_and_names_it_first),
      cmocka_unit_test(test_offline_a_profile_against_itself_passes),
      cmocka_unit_test(test_offline_markdown_is_a_valid_table_and_json_parses),
      cmocka_unit_test(test_offline_html_is_the_servers_diff_page),
      cmocka_unit_test(test_server_diff_equals_render_diff_and_trips_the_gate),
      cmocka_unit_test(test_push_detects_gzip_and_pprof_and_refuses_bad_input),
      cmocka_unit_test(test_bad_input_gives_one_line_and_exit_2),
      cmocka_unit_test(test_help_documents_the_exit_codes),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
