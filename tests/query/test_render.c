/* Tests for src/query/render.c: /render and /render-diff against a real
 * store in a temporary directory. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "query/store_fixture.h"
#include "store/store_int.h"

/* Every test's store: app.cpu with two regions, app.alloc in bytes, and
 * app.slow sampled at 19 Hz. */
static int setup(void **state) {
  fixture_t *f = fixture_open();
  fixture_push(f, "app.cpu{region=eu}", T0 + 100, "pyspy", 100, "samples",
               "a;b 1\na;c 2");
  fixture_push(f, "app.cpu{region=us}", T0 + 200, "pyspy", 100, "samples", "a;b 10");
  fixture_push(f, "app.cpu{region=eu}", T0 + 7200, "pyspy", 100, "samples", "late 5");
  fixture_push(f, "app.alloc{}", T0 + 100, "gospy", 100, "bytes", "malloc 4096");
  fixture_push(f, "app.slow{}", T0 + 100, "pyspy", 19, "samples", "a 1");
  *state = f;
  return 0;
}

static int teardown(void **state) {
  fixture_close(*state);
  return 0;
}

static ember_render_params_t params(const char *query) {
  ember_render_params_t p;
  memset(&p, 0, sizeof p);
  p.query = query;
  p.from = "1700000000";
  p.until = "1700003600";
  p.now = T0 + 3600;
  return p;
}

/* Runs /render and returns its parsed JSON (the call must succeed). */
static json_t *render(void **state, const ember_render_params_t *p) {
  fixture_t *f = *state;
  ember_query_out_t out;
  ember_err_t err;
  int rc = ember_query_render(f->store, p, &out, &err);
  if (rc) fprintf(stderr, "render: %s\n", err.msg);
  assert_int_equal(rc, 0);
  json_t *j = fixture_json(&out);
  ember_buf_free(&out.body);
  return j;
}

/* Runs /render expecting a 400 whose message contains want. */
static void render_fails(void **state, const ember_render_params_t *p,
                         const char *want) {
  fixture_t *f = *state;
  ember_query_out_t out = {EMBER_BUF_INIT, "untouched", ""};
  ember_err_t err;
  assert_int_equal(ember_query_render(f->store, p, &out, &err), EMBER_EINVAL);
  if (!strstr(err.msg, want)) fprintf(stderr, "message: %s\n", err.msg);
  assert_non_null(strstr(err.msg, want));
  assert_string_equal(out.content_type, "untouched");
}

static json_t *get(json_t *j, const char *a, const char *b) {
  return json_object_get(json_object_get(j, a), b);
}

/* ---- /render ----------------------------------------------------------- */

static void test_render_answers_the_documented_example(void **state) {
  ember_render_params_t p = params("app.cpu{region=\"eu\"}");
  json_t *j = render(state, &p);
  assert_json_text(json_object_get(j, "flamebearer"),
                   "{\"names\":[\"total\",\"a\",\"c\",\"b\"],\"levels\":[[0,3,0,0],"
                   "[0,3,0,1],[0,1,1,3,0,2,2,2]],\"numTicks\":3,\"maxSelf\":2}");
  json_t *md = json_object_get(j, "metadata");
  assert_string_equal(json_string_value(json_object_get(md, "format")), "single");
  assert_string_equal(json_string_value(json_object_get(md, "spyName")), "pyspy");
  assert_int_equal(json_integer_value(json_object_get(md, "sampleRate")), 100);
  assert_string_equal(json_string_value(json_object_get(md, "units")), "samples");
  assert_string_equal(json_string_value(json_object_get(md, "name")), "app.cpu");
  assert_string_equal(json_string_value(json_object_get(md, "appName")), "app.cpu");
  assert_string_equal(json_string_value(json_object_get(md, "query")),
                      "app.cpu{region=\"eu\"}");
  assert_int_equal(json_integer_value(json_object_get(md, "startTime")), T0);
  assert_int_equal(json_integer_value(json_object_get(md, "endTime")), T0 + 3600);
  assert_int_equal(json_integer_value(json_object_get(md, "maxNodes")), 8192);
  json_t *samples = get(j, "timeline", "samples");
  assert_int_equal(json_array_size(samples), 361); /* until's bucket counts */
  assert_int_equal(json_integer_value(get(j, "timeline", "startTime")), T0);
  assert_int_equal(json_integer_value(get(j, "timeline", "durationDelta")), 10);
  for (size_t i = 0; i < 361; i++)
    assert_int_equal(json_integer_value(json_array_get(samples, i)), i == 10 ? 4 : 0);
  json_decref(j);
}

static void test_render_sums_every_series_the_selector_matches(void **state) {
  ember_render_params_t p = params("app.cpu{}");
  json_t *j = render(state, &p);
  assert_int_equal(json_integer_value(get(j, "flamebearer", "numTicks")), 13);
  assert_json_text(get(j, "flamebearer", "levels"),
                   "[[0,13,0,0],[0,13,0,1],[0,11,11,3,0,2,2,2]]");
  json_decref(j);
  p = params("app.cpu{region!=\"eu\"}");
  j = render(state, &p);
  assert_int_equal(json_integer_value(get(j, "flamebearer", "numTicks")), 10);
  json_decref(j);
}

static void test_render_reads_only_the_time_range(void **state) {
  ember_render_params_t p = params("app.cpu{region=\"eu\"}");
  p.from = "1700007000";
  p.until = "now";
  p.now = T0 + 7300;
  json_t *j = render(state, &p);
  assert_json_text(get(j, "flamebearer", "names"), "[\"total\",\"late\"]");
  assert_int_equal(json_integer_value(get(j, "flamebearer", "numTicks")), 5);
  json_decref(j);
}

static void test_render_takes_the_legacy_name_parameter(void **state) {
  ember_render_params_t p = params(NULL);
  p.name = "app.alloc";
  json_t *j = render(state, &p);
  assert_int_equal(json_integer_value(get(j, "flamebearer", "numTicks")), 4096);
  assert_string_equal(json_string_value(get(j, "metadata", "units")), "bytes");
  assert_string_equal(json_string_value(get(j, "metadata", "spyName")), "gospy");
  json_decref(j);
}

static void test_render_of_an_unknown_app_is_empty_not_an_error(void **state) {
  ember_render_params_t p = params("nobody.cpu{}");
  json_t *j = render(state, &p);
  assert_json_text(json_object_get(j, "flamebearer"),
                   "{\"names\":[\"total\"],\"levels\":[[0,0,0,0]],\"numTicks\":0,"
                   "\"maxSelf\":0}");
  assert_string_equal(json_string_value(get(j, "metadata", "spyName")), "unknown");
  assert_int_equal(json_integer_value(get(j, "metadata", "sampleRate")), 100);
  assert_string_equal(json_string_value(get(j, "metadata", "units")), "samples");
  assert_int_equal(json_array_size(get(j, "timeline", "samples")), 361);
  json_decref(j);
}

static void test_render_truncates_to_max_nodes(void **state) {
  ember_render_params_t p = params("app.cpu{}");
  p.max_nodes = "3"; /* total, a, b; c goes to other */
  json_t *j = render(state, &p);
  assert_json_text(get(j, "flamebearer", "names"), "[\"total\",\"a\",\"other\",\"b\"]");
  assert_json_text(get(j, "flamebearer", "levels"),
                   "[[0,13,0,0],[0,13,0,1],[0,11,11,3,0,2,2,2]]");
  assert_int_equal(json_integer_value(get(j, "metadata", "maxNodes")), 3);
  assert_null(get(j, "metadata", "maxNodesClamped"));
  json_decref(j);
  p.max_nodes = "-1";
  j = render(state, &p);
  assert_int_equal(json_integer_value(get(j, "metadata", "maxNodes")),
                   EMBER_QUERY_MAX_NODES_LIMIT);
  assert_true(json_is_true(get(j, "metadata", "maxNodesClamped")));
  assert_json_text(get(j, "flamebearer", "names"), "[\"total\",\"a\",\"c\",\"b\"]");
  json_decref(j);
}

/* The table comes from the tree before truncation: "other" never shows in
 * it, and c keeps its exact self though the graph folds it away. */
static void test_render_lists_functions_of_the_untruncated_tree(void **state) {
  ember_render_params_t p = params("app.cpu{}");
  p.max_nodes = "3";
  json_t *j = render(state, &p);
  assert_json_text(get(j, "flamebearer", "names"), "[\"total\",\"a\",\"other\",\"b\"]");
  assert_json_text(json_object_get(j, "functions"),
                   "{\"count\":3,\"truncated\":false,\"items\":["
                   "{\"name\":\"b\",\"self\":11,\"total\":11},"
                   "{\"name\":\"c\",\"self\":2,\"total\":2},"
                   "{\"name\":\"a\",\"self\":0,\"total\":13}]}");
  json_decref(j);
  p.max_functions = "1";
  j = render(state, &p);
  assert_json_text(json_object_get(j, "functions"),
                   "{\"count\":3,\"truncated\":true,\"items\":["
                   "{\"name\":\"b\",\"self\":11,\"total\":11}]}");
  json_decref(j);
}

/* maxFunctions is bounded like maxNodes: -1 and larger counts are the
 * server's limit, and bad values are refused naming the parameter. */
static void test_render_bounds_max_functions(void **state) {
  static const char *asked[] = {"-1", "99999999"};
  for (size_t i = 0; i < 2; i++) {
    ember_render_params_t p = params("app.cpu{}");
    p.max_nodes_limit = 2;
    p.max_functions = asked[i];
    json_t *j = render(state, &p);
    assert_int_equal(json_array_size(get(j, "functions", "items")), 2);
    assert_true(json_is_true(get(j, "functions", "truncated")));
    json_decref(j);
  }
  static const char *bad[] = {"x", "-2", "1.5", " 3", "+3", "99999999999999999999999"};
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
    ember_render_params_t p = params("app.cpu{}");
    p.max_functions = bad[i];
    render_fails(state, &p, "maxFunctions");
  }
  ember_diff_params_t d;
  memset(&d, 0, sizeof d);
  d.left_query = d.right_query = "app.cpu{}";
  d.max_functions = "no";
  d.now = T0 + 3600;
  fixture_t *f = *state;
  ember_query_out_t out;
  ember_err_t err;
  assert_int_equal(ember_query_render_diff(f->store, &d, &out, &err), EMBER_EINVAL);
  assert_non_null(strstr(err.msg, "maxFunctions"));
}

static void test_render_lowers_max_nodes_to_the_servers_limit(void **state) {
  static const char *asked[] = {"-1", "1000000", "3"};
  for (size_t i = 0; i < 3; i++) {
    ember_render_params_t p = params("app.cpu{}");
    p.max_nodes_limit = 2; /* total and a: b and c fold into other */
    p.max_nodes = asked[i];
    json_t *j = render(state, &p);
    assert_json_text(get(j, "flamebearer", "names"), "[\"total\",\"a\",\"other\"]");
    assert_int_equal(json_integer_value(get(j, "metadata", "maxNodes")), 2);
    assert_true(json_is_true(get(j, "metadata", "maxNodesClamped")));
    json_decref(j);
  }
  /* The default is lowered too, but nobody asked for more. */
  ember_render_params_t p = params("app.cpu{}");
  p.max_nodes_limit = 2;
  json_t *j = render(state, &p);
  assert_int_equal(json_integer_value(get(j, "metadata", "maxNodes")), 2);
  assert_null(get(j, "metadata", "maxNodesClamped"));
  json_decref(j);
}

static void test_render_refuses_every_format_over_the_output_limit(void **state) {
  static const char *formats[] = {"json", "collapsed", "pprof", "svg", "html"};
  fixture_t *f = *state;
  for (size_t i = 0; i < sizeof formats / sizeof *formats; i++) {
    ember_render_params_t p = params("app.cpu{}");
    p.format = formats[i];
    /* Large enough for the smallest (collapsed: 13 bytes), not for any. */
    p.max_output = 12;
    render_fails(state, &p,
                 "over the server's limit of 12 bytes; lower maxNodes or "
                 "narrow the time range or the selector");
    /* At a limit that fits, the same render is built. */
    p.max_output = 1 << 20;
    ember_query_out_t out;
    ember_err_t err;
    assert_int_equal(ember_query_render(f->store, &p, &out, &err), 0);
    assert_true(out.body.len > 0 && out.body.len <= p.max_output);
    ember_buf_free(&out.body);
  }
}

static void test_render_gives_up_once_its_deadline_has_passed(void **state) {
  fixture_t *f = *state;
  static const char *formats[] = {"json", "collapsed", "pprof", "svg", "html"};
  for (size_t i = 0; i < sizeof formats / sizeof *formats; i++) {
    ember_render_params_t p = params("app.cpu{}");
    p.format = formats[i];
    ember_query_out_t out = {EMBER_BUF_INIT, "untouched", ""};
    ember_err_t err;
    ember_deadline_set(ember_mono_ns() - 1);
    int rc = ember_query_render(f->store, &p, &out, &err);
    ember_deadline_set(0);
    assert_int_equal(rc, EMBER_ETIMEOUT);
    assert_non_null(strstr(err.msg, "narrow the time range"));
    assert_string_equal(out.content_type, "untouched");
  }
}

static void test_render_writes_collapsed_text(void **state) {
  fixture_t *f = *state;
  ember_render_params_t p = params("app.cpu{}");
  p.format = "collapsed";
  ember_query_out_t out;
  ember_err_t err;
  assert_int_equal(ember_query_render(f->store, &p, &out, &err), 0);
  assert_string_equal(out.content_type, "text/plain; charset=utf-8");
  assert_string_equal(out.body.data, "a;b 11\na;c 2\n");
  ember_buf_free(&out.body);
}

static void test_render_requires_a_query(void **state) {
  ember_render_params_t p = params(NULL);
  render_fails(state, &p, "missing 'query' parameter, e.g. query=myapp.cpu{}");
  p.query = "";
  render_fails(state, &p, "missing 'query' parameter, e.g. query=myapp.cpu{}");
  p.query = "app.cpu{region=eu}";
  render_fails(state, &p, "query: ");
}

static void test_render_rejects_bad_ranges(void **state) {
  ember_render_params_t p = params("app.cpu{}");
  p.from = p.until;
  render_fails(state, &p, "must be before 'until'");
  p = params("app.cpu{}");
  p.until = "tomorrow";
  render_fails(state, &p, "until: ");
}

static void test_render_rejects_bad_max_nodes(void **state) {
  const char *bad[] = {"0", "-5", "many", "8k"};
  for (size_t i = 0; i < 4; i++) {
    ember_render_params_t p = params("app.cpu{}");
    p.max_nodes = bad[i];
    render_fails(state, &p, "maxNodes");
  }
}

static void test_render_exports_pprof(void **state) {
  fixture_t *f = *state;
  ember_render_params_t p = params("app.cpu{}");
  p.format = "pprof";
  ember_query_out_t out;
  ember_err_t err;
  assert_int_equal(ember_query_render(f->store, &p, &out, &err), 0);
  assert_string_equal(out.content_type, "application/octet-stream");
  /* Read back through pprof ingest: the stacks and the app's rate. */
  ember_profile_t base;
  memset(&base, 0, sizeof base);
  assert_int_equal(ember_series_key_parse("back", 4, &base.key, &err), 0);
  base.sample_rate = 1;
  base.spy_name = strdup("x");
  base.units = strdup("samples");
  ember_ingest_result_t back;
  assert_int_equal(ember_ingest_pprof(&base, NULL, (uint8_t *)out.body.data, out.body.len,
                                      1 << 20, &back, &err),
                   0);
  assert_int_equal(back.n, 1);
  ember_buf_t folded = EMBER_BUF_INIT;
  assert_int_equal(ember_render_collapsed(&folded, back.items[0].tree, 0, 0, NULL), 0);
  assert_string_equal(folded.data, "a;b 11\na;c 2\n");
  assert_int_equal(back.items[0].sample_rate, 100);
  ember_buf_free(&folded);
  ember_ingest_result_free(&back);
  ember_profile_free(&base);
  ember_buf_free(&out.body);
  /* Not for diffs. */
  ember_diff_params_t d;
  memset(&d, 0, sizeof d);
  d.left_query = d.right_query = "app.cpu{}";
  d.format = "pprof";
  d.now = T0;
  assert_int_equal(ember_query_render_diff(f->store, &d, &out, &err), EMBER_EINVAL);
  assert_string_equal(err.msg, "unknown format 'pprof'; use json, svg or html");
}

static void test_render_names_the_formats_it_knows(void **state) {
  ember_render_params_t p = params("app.cpu{}");
  p.format = "yaml";
  render_fails(state, &p, "unknown format 'yaml'; use json, collapsed, pprof, svg or html");
}

/* Runs /render or /render-diff with format fmt and checks the media type
 * and what the body starts with; returns the body (caller frees). */
static char *render_as(void **state, const char *fmt, bool diff, const char *type,
                       const char *start) {
  fixture_t *f = *state;
  ember_query_out_t out;
  ember_err_t err;
  int rc;
  if (diff) {
    ember_diff_params_t p;
    memset(&p, 0, sizeof p);
    p.left_query = "app.cpu{region=\"eu\"}";
    p.right_query = "app.cpu{region=\"us\"}";
    p.left_from = p.right_from = "1700000000";
    p.left_until = p.right_until = "1700003600";
    p.format = fmt;
    p.now = T0 + 3600;
    rc = ember_query_render_diff(f->store, &p, &out, &err);
  } else {
    ember_render_params_t p = params("app.cpu{}");
    p.format = fmt;
    rc = ember_query_render(f->store, &p, &out, &err);
  }
  if (rc) fprintf(stderr, "render: %s\n", err.msg);
  assert_int_equal(rc, 0);
  assert_string_equal(out.content_type, type);
  assert_int_equal(strncmp(out.body.data, start, strlen(start)), 0);
  return ember_buf_take(&out.body, NULL);
}

static void test_render_draws_svg_and_html(void **state) {
  char *svg = render_as(state, "svg", false, "image/svg+xml", "<?xml version=\"1.0\"");
  assert_non_null(strstr(svg, "<title>b\ntotal: 110 ms (11 samples), 84.62%"));
  free(svg);
  char *html = render_as(state, "html", false, "text/html; charset=utf-8",
                         "<!DOCTYPE html>");
  assert_non_null(strstr(html, "<h1>app.cpu{}</h1>"));
  assert_non_null(strstr(html, "\"numTicks\":13"));
  /* The inlined JSON is format=json's, table included. */
  assert_non_null(strstr(html, "\"functions\":{\"count\":3,"));
  free(html);
}

static void test_render_diff_draws_svg_and_html(void **state) {
  char *svg = render_as(state, "svg", true, "image/svg+xml", "<?xml version=\"1.0\"");
  assert_non_null(strstr(svg, "<title>c\nleft: 20.0 ms (2 samples), 66.67%\n"
                              "right: 0 s (0 samples), 0%"));
  free(svg);
  char *html = render_as(state, "html", true, "text/html; charset=utf-8", "<!DOCTYPE html>");
  assert_non_null(strstr(html, "\"leftTicks\":3,\"rightTicks\":10"));
  assert_non_null(strstr(html, "\"functions\":{\"count\":3,"));
  free(html);
}

/* The file name an export is saved as: the query, and for a diff both
 * sides (or, comparing two ranges of one query, both start times). */
static const char *filename_of(void **state, const char *fmt, const char *left,
                               const char *right, const char *right_from) {
  static char name[EMBER_QUERY_FILENAME_MAX];
  fixture_t *f = *state;
  ember_query_out_t out;
  ember_err_t err;
  int rc;
  if (right) {
    ember_diff_params_t p;
    memset(&p, 0, sizeof p);
    p.left_query = left;
    p.right_query = right;
    p.left_from = "1700000000";
    p.right_from = right_from;
    p.left_until = p.right_until = "1700003600";
    p.format = fmt;
    p.now = T0 + 3600;
    rc = ember_query_render_diff(f->store, &p, &out, &err);
  } else {
    ember_render_params_t p = params(left);
    p.format = fmt;
    rc = ember_query_render(f->store, &p, &out, &err);
  }
  if (rc) fprintf(stderr, "render: %s\n", err.msg);
  assert_int_equal(rc, 0);
  ember_buf_free(&out.body);
  snprintf(name, sizeof name, "%s", out.filename);
  return name;
}

static void test_exports_are_named_after_their_selections(void **state) {
  assert_string_equal(filename_of(state, "json", "app.cpu{}", NULL, NULL), "");
  assert_string_equal(filename_of(state, "svg", "app.cpu{}", NULL, NULL), "app.cpu.svg");
  assert_string_equal(filename_of(state, "html", "app.cpu{region=~\"e.*|u/s\"}", NULL, NULL),
                      "app.cpu_region_e._u_s.html");
  assert_string_equal(filename_of(state, "pprof", "app.cpu{}", NULL, NULL), "app.cpu.pb.gz");
  assert_string_equal(filename_of(state, "collapsed", "app.cpu{}", NULL, NULL),
                      "app.cpu.folded.txt");
  assert_string_equal(filename_of(state, "json", "app.cpu{}", "app.cpu{}", "1700000000"), "");
  /* Both sides; the right without the app when it is the left's. */
  assert_string_equal(filename_of(state, "svg", "app.cpu{region=\"eu\"}",
                                  "app.cpu{region=\"us\"}", "1700000000"),
                      "diff_app.cpu_region_eu_vs_region_us.svg");
  assert_string_equal(filename_of(state, "html", "app.cpu{region=\"eu\"}", "app.cpu{}",
                                  "1700000000"),
                      "diff_app.cpu_region_eu_vs_app.cpu.html");
  assert_string_equal(filename_of(state, "svg", "app.cpu{}", "nobody.cpu{}", "1700000000"),
                      "diff_app.cpu_vs_nobody.cpu.svg");
  /* One query over two ranges: the ranges name the sides. */
  assert_string_equal(filename_of(state, "svg", "app.cpu{}", "app.cpu{}", "1700001800"),
                      "diff_app.cpu_20231114T221320Z_vs_20231114T224320Z.svg");
}

/* ---- /render-diff ------------------------------------------------------ */

static ember_diff_params_t diff_params(const char *left, const char *right) {
  ember_diff_params_t p;
  memset(&p, 0, sizeof p);
  p.left_query = left;
  p.right_query = right;
  p.left_from = p.right_from = "1700000000";
  p.left_until = p.right_until = "1700003600";
  p.now = T0 + 3600;
  return p;
}

static json_t *diff(void **state, const ember_diff_params_t *p) {
  fixture_t *f = *state;
  ember_query_out_t out;
  ember_err_t err;
  int rc = ember_query_render_diff(f->store, p, &out, &err);
  if (rc) fprintf(stderr, "diff: %s\n", err.msg);
  assert_int_equal(rc, 0);
  json_t *j = fixture_json(&out);
  ember_buf_free(&out.body);
  return j;
}

static void diff_fails(void **state, const ember_diff_params_t *p, const char *want) {
  fixture_t *f = *state;
  ember_query_out_t out;
  ember_err_t err;
  assert_int_equal(ember_query_render_diff(f->store, p, &out, &err), EMBER_EINVAL);
  if (!strstr(err.msg, want)) fprintf(stderr, "message: %s\n", err.msg);
  assert_non_null(strstr(err.msg, want));
}

static void test_diff_refuses_every_format_over_the_output_limit(void **state) {
  static const char *formats[] = {"json", "svg", "html"};
  for (size_t i = 0; i < 3; i++) {
    ember_diff_params_t p = diff_params("app.cpu{region=\"eu\"}", "app.cpu{}");
    p.format = formats[i];
    p.max_output = 100;
    diff_fails(state, &p, "over the server's limit of 100 bytes; lower maxNodes");
  }
  ember_diff_params_t p = diff_params("app.cpu{region=\"eu\"}", "app.cpu{}");
  p.max_nodes = "-1";
  p.max_nodes_limit = 2;
  json_t *j = diff(state, &p);
  assert_int_equal(json_integer_value(get(j, "metadata", "maxNodes")), 2);
  assert_true(json_is_true(get(j, "metadata", "maxNodesClamped")));
  assert_json_text(get(j, "flamebearer", "names"), "[\"total\",\"a\",\"other\"]");
  json_decref(j);
}

static void test_diff_gives_up_once_its_deadline_has_passed(void **state) {
  fixture_t *f = *state;
  ember_diff_params_t p = diff_params("app.cpu{region=\"eu\"}", "app.cpu{}");
  ember_query_out_t out;
  ember_err_t err;
  ember_deadline_set(ember_mono_ns() - 1);
  int rc = ember_query_render_diff(f->store, &p, &out, &err);
  ember_deadline_set(0);
  assert_int_equal(rc, EMBER_ETIMEOUT);
}

static void test_diff_puts_left_and_right_side_by_side(void **state) {
  ember_diff_params_t p =
      diff_params("app.cpu{region=\"eu\"}", "app.cpu{region=\"us\"}");
  json_t *j = diff(state, &p);
  assert_int_equal(json_integer_value(json_object_get(j, "leftTicks")), 3);
  assert_int_equal(json_integer_value(json_object_get(j, "rightTicks")), 10);
  assert_json_text(get(j, "flamebearer", "names"), "[\"total\",\"a\",\"c\",\"b\"]");
  assert_json_text(get(j, "flamebearer", "levels"),
                   "[[0,3,0,0,10,0,0],[0,3,0,0,10,0,1],"
                   "[0,1,1,0,10,10,3,0,2,2,0,0,0,2]]");
  assert_int_equal(json_integer_value(get(j, "flamebearer", "numTicks")), 13);
  assert_string_equal(json_string_value(get(j, "metadata", "format")), "double");
  assert_string_equal(json_string_value(get(j, "metadata", "leftQuery")),
                      "app.cpu{region=\"eu\"}");
  assert_int_equal(json_array_size(get(j, "leftTimeline", "samples")), 361);
  assert_int_equal(json_integer_value(json_array_get(get(j, "leftTimeline", "samples"), 10)), 4);
  assert_int_equal(json_integer_value(json_array_get(get(j, "rightTimeline", "samples"), 20)), 11);
  assert_int_equal(json_integer_value(json_array_get(get(j, "timeline", "samples"), 20)), 11);
  /* b: 33% -> 100% of the self time; c: 67% -> 0%. */
  assert_json_text(json_object_get(j, "functions"),
                   "{\"count\":3,\"truncated\":false,\"items\":["
                   "{\"name\":\"b\",\"self\":[1,10],\"total\":[1,10]},"
                   "{\"name\":\"c\",\"self\":[2,0],\"total\":[2,0]},"
                   "{\"name\":\"a\",\"self\":[0,0],\"total\":[3,10]}]}");
  json_decref(j);
}

static void test_diff_compares_two_time_ranges(void **state) {
  ember_diff_params_t p = diff_params("app.cpu{region=\"eu\"}", "app.cpu{region=\"eu\"}");
  p.right_from = "1700007000";
  p.right_until = "1700007300";
  p.now = T0 + 8000;
  json_t *j = diff(state, &p);
  assert_int_equal(json_integer_value(json_object_get(j, "leftTicks")), 3);
  assert_int_equal(json_integer_value(json_object_get(j, "rightTicks")), 5);
  assert_int_equal(json_integer_value(get(j, "metadata", "leftStartTime")), T0);
  assert_int_equal(json_integer_value(get(j, "metadata", "rightStartTime")), T0 + 7000);
  json_decref(j);
}

static void test_diff_with_an_unknown_side_uses_the_known_metadata(void **state) {
  ember_diff_params_t p = diff_params("nobody.cpu{}", "app.alloc{}");
  json_t *j = diff(state, &p);
  assert_int_equal(json_integer_value(json_object_get(j, "leftTicks")), 0);
  assert_int_equal(json_integer_value(json_object_get(j, "rightTicks")), 4096);
  assert_string_equal(json_string_value(get(j, "metadata", "units")), "bytes");
  json_decref(j);
}

static void test_diff_refuses_different_units_or_rates(void **state) {
  ember_diff_params_t p = diff_params("app.cpu{}", "app.alloc{}");
  diff_fails(state, &p, "cannot compare different units");
  p = diff_params("app.cpu{}", "app.slow{}");
  diff_fails(state, &p, "cannot compare different sample rates");
}

static void test_diff_requires_both_queries_and_good_ranges(void **state) {
  ember_diff_params_t p = diff_params(NULL, "app.cpu{}");
  diff_fails(state, &p, "missing 'leftQuery' parameter, e.g. leftQuery=myapp.cpu{}");
  p = diff_params("app.cpu{}", "");
  diff_fails(state, &p, "missing 'rightQuery' parameter");
  p = diff_params("app.cpu{}", "app.cpu{}");
  p.right_from = "now";
  diff_fails(state, &p, "'rightFrom'");
  p = diff_params("app.cpu{}", "app.cpu{}");
  p.format = "collapsed";
  diff_fails(state, &p, "unknown format 'collapsed'; use json, svg or html");
}

/* ---- One snapshot per request ----------------------------------------- */

/* After the first tree read of a request, a push lands in the range. */
static void push_between_reads(void *ctx) {
  fixture_t *f = ctx;
  ember_store_test_after_tree(f->store, NULL, NULL);
  fixture_push(f, "app.cpu{region=eu}", T0 + 300, "pyspy", 100, "samples", "a;b 1000");
}

/* The sum of a JSON timeline (its samples are 1 + the value, or 0). */
static long timeline_sum(json_t *tl) {
  long sum = 0;
  json_t *samples = json_object_get(tl, "samples");
  for (size_t i = 0; i < json_array_size(samples); i++) {
    long v = (long)json_integer_value(json_array_get(samples, i));
    sum += v ? v - 1 : 0;
  }
  return sum;
}

static void test_render_draws_graph_and_timeline_from_one_snapshot(void **state) {
  fixture_t *f = *state;
  ember_store_test_after_tree(f->store, push_between_reads, f);
  ember_render_params_t p = params("app.cpu{region=\"eu\"}");
  p.until = "1700003599";
  json_t *j = render(state, &p);
  assert_int_equal(json_integer_value(get(j, "flamebearer", "numTicks")), 3);
  assert_int_equal(timeline_sum(json_object_get(j, "timeline")), 3);
  json_decref(j);
  /* The next request sees the push, in both. */
  j = render(state, &p);
  assert_int_equal(json_integer_value(get(j, "flamebearer", "numTicks")), 1003);
  assert_int_equal(timeline_sum(json_object_get(j, "timeline")), 1003);
  json_decref(j);
}

static void test_diff_reads_both_sides_from_one_snapshot(void **state) {
  fixture_t *f = *state;
  ember_store_test_after_tree(f->store, push_between_reads, f);
  ember_diff_params_t p = diff_params("app.cpu{region=\"eu\"}", "app.cpu{region=\"eu\"}");
  p.left_until = p.right_until = "1700003599";
  json_t *j = diff(state, &p);
  assert_int_equal(json_integer_value(json_object_get(j, "leftTicks")), 3);
  assert_int_equal(json_integer_value(json_object_get(j, "rightTicks")), 3);
  json_decref(j);
}

int main(void) {
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
  const struct CMUnitTest tests[] = {
      T(test_render_answers_the_documented_example),
      T(test_render_sums_every_series_the_selector_matches),
      T(test_render_reads_only_the_time_range),
      T(test_render_takes_the_legacy_name_parameter),
      T(test_render_of_an_unknown_app_is_empty_not_an_error),
      T(test_render_truncates_to_max_nodes),
      T(test_render_lowers_max_nodes_to_the_servers_limit),
      T(test_render_lists_functions_of_the_untruncated_tree),
      T(test_render_bounds_max_functions),
      T(test_render_refuses_every_format_over_the_output_limit),
      T(test_render_gives_up_once_its_deadline_has_passed),
      T(test_render_writes_collapsed_text),
      T(test_render_exports_pprof),
      T(test_render_requires_a_query),
      T(test_render_rejects_bad_ranges),
      T(test_render_rejects_bad_max_nodes),
      T(test_render_names_the_formats_it_knows),
      T(test_render_draws_svg_and_html),
      T(test_exports_are_named_after_their_selections),
      T(test_diff_puts_left_and_right_side_by_side),
      T(test_diff_compares_two_time_ranges),
      T(test_diff_with_an_unknown_side_uses_the_known_metadata),
      T(test_diff_refuses_different_units_or_rates),
      T(test_diff_requires_both_queries_and_good_ranges),
      T(test_diff_refuses_every_format_over_the_output_limit),
      T(test_diff_gives_up_once_its_deadline_has_passed),
      T(test_render_diff_draws_svg_and_html),
      T(test_render_draws_graph_and_timeline_from_one_snapshot),
      T(test_diff_reads_both_sides_from_one_snapshot),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
