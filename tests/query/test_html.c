/* Tests for src/query/html.c: the standalone page of format=html, with its
 * inline SVG and its inlined flamebearer JSON. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "query/query_int.h"
#include "query/svg_check.h"

#define JSON_OPEN "<script type=\"application/json\" id=\"flamebearer\">"

static ember_render_meta_t meta(const char *query) {
  ember_render_meta_t m;
  memset(&m, 0, sizeof m);
  m.app_name = "app.cpu";
  m.query = query;
  m.spy_name = "pyspy";
  m.sample_rate = 100;
  m.units = "samples";
  m.from = 1700000000;
  m.until = 1700003600;
  m.max_nodes = 8192;
  m.grid = ember_timeline_grid(m.from, m.until);
  return m;
}

static void add(ember_tree_t *t, int side, const char *name, uint64_t v) {
  uint32_t id = ember_tree_intern(t, name, strlen(name));
  ember_tree_add(t, ember_tree_child(t, EMBER_TREE_ROOT, id), side, v);
}

/* The inlined JSON block's raw text (caller frees). */
static char *json_block(const char *page) {
  const char *open = strstr(page, JSON_OPEN);
  assert_non_null(open);
  open += strlen(JSON_OPEN);
  const char *close = strstr(open, "</script>");
  assert_non_null(close);
  return strndup(open, (size_t)(close - open));
}

static json_t *parse_json(const char *text) {
  json_error_t e;
  json_t *j = json_loads(text, 0, &e);
  if (!j) fprintf(stderr, "json: %s\n", e.text);
  assert_non_null(j);
  return j;
}

/* The inline SVG must be well-formed XML on its own. */
static void check_svg(const char *page, svg_doc_t *d) {
  const char *start = strstr(page, "<svg ");
  const char *end = strstr(page, "</svg>");
  assert_non_null(start);
  assert_non_null(end);
  int rc = svg_parse(start, (size_t)(end - start) + 6, d);
  if (rc) fprintf(stderr, "svg: %s\n", d->err);
  assert_int_equal(rc, 0);
  assert_null(strstr(page, "<?xml")); /* no XML declaration inside HTML */
}

/* How often needle occurs in s. */
static int count(const char *s, const char *needle) {
  int n = 0;
  for (const char *p = strstr(s, needle); p; p = strstr(p + 1, needle))
    n++;
  return n;
}

/* One header (the page's: the SVG inside draws none), one search box (no
 * "Search" link in the SVG), the query and the total once each, and the
 * web UI's colors: its own color variables and its frame palette. */
static void test_html_has_one_header_one_search_and_the_uis_colors(void **state) {
  ember_tree_t *t = ember_tree_new();
  add(t, 0, "pkg.main", 1234);
  ember_render_meta_t m = meta("app.cpu{region=\"eu\"}");
  ember_buf_t b = EMBER_BUF_INIT;
  assert_int_equal(ember_render_html(&b, t, &m, NULL), 0);
  assert_int_equal(count(b.data, "<header>"), 1);
  assert_int_equal(count(b.data, "<h1>"), 1);
  /* In the title and the header, nowhere else. */
  assert_int_equal(count(b.data, "app.cpu{region=&quot;eu&quot;}"), 2);
  /* The header, and the hover texts of the root and the frame. */
  assert_int_equal(count(b.data, "12.3 s (1,234 samples)"), 1 + 3);
  assert_int_equal(count(b.data, "type=\"search\""), 1);
  assert_null(strstr(b.data, "id=\"ember-search-ctl\""));
  assert_null(strstr(b.data, "id=\"ember-matched\""));
  assert_null(strstr(b.data, "class=\"h1\""));
  /* The UI's light theme variables, as its style sheet has them. */
  assert_non_null(strstr(b.data, ":root {\n  color-scheme: light;\n  --bg: #f6f7f9;"));
  assert_non_null(strstr(b.data, "background: var(--bg)"));
  /* The frame in the UI's hue of its package (tests/data/colors.json). */
  svg_doc_t d;
  check_svg(b.data, &d);
  char want[8] = {0};
  ember_buf_t c = EMBER_BUF_INIT;
  ember_color_put(&c, ember_color_hue((ember_slice_t){"pkg.main", 8}));
  memcpy(want, c.data, 7);
  assert_string_equal(svg_frame(&d, "pkg.main")->fill, want);
  ember_buf_free(&c);
  svg_doc_free(&d);
  ember_buf_free(&b);
  ember_tree_free(t);
}

static void test_html_page_names_the_selection_and_inlines_the_graph(void **state) {
  ember_tree_t *t = ember_tree_new();
  add(t, 0, "main", 1234);
  ember_render_meta_t m = meta("app.cpu{region=\"eu\"}");
  ember_buf_t b = EMBER_BUF_INIT;
  assert_int_equal(ember_render_html(&b, t, &m, NULL), 0);
  assert_int_equal(strncmp(b.data, "<!DOCTYPE html>\n<html lang=\"en\">", 32), 0);
  assert_non_null(strstr(b.data, "<meta charset=\"utf-8\">"));
  assert_non_null(strstr(b.data, "<title>app.cpu{region=&quot;eu&quot;} - Ember flame graph</title>"));
  assert_non_null(strstr(b.data, "<h1>app.cpu{region=&quot;eu&quot;}</h1>"));
  assert_non_null(strstr(b.data, "2023-11-14 22:13:20 UTC to 2023-11-14 23:13:20 UTC: "
                                 "12.3 s (1,234 samples)"));
  assert_non_null(strstr(b.data, "pyspy at 100 Hz, at most 8,192 nodes"));
  /* The search box the SVG's script wires itself to. */
  assert_non_null(strstr(b.data, "<input type=\"search\" id=\"ember-search\""));
  assert_non_null(strstr(b.data, "id=\"ember-share\""));
  assert_non_null(strstr(b.data, "id=\"ember-reset\""));
  svg_doc_t d;
  check_svg(b.data, &d);
  assert_int_equal(d.n, 2);
  assert_string_equal(svg_frame(&d, "main")->title,
                      "main\ntotal: 12.3 s (1,234 samples), 100%\n"
                      "self: 12.3 s (1,234 samples), 100%");
  svg_doc_free(&d);
  assert_string_equal(b.data + b.len - 26, "</script>\n</body>\n</html>\n");
  ember_buf_free(&b);
  ember_tree_free(t);
}

/* The header's total reads in the profile's units, as the UI's does:
 * bytes in binary units, nanoseconds as a duration, objects by name. */
static void test_html_header_shows_the_total_in_its_unit(void **state) {
  static const struct {
    const char *units;
    uint64_t v;
    const char *want;
  } cases[] = {{"bytes", 276824064, "UTC: 264 MiB</p>"},
               {"nanoseconds", 10000000000ull, "UTC: 10.0 s</p>"},
               {"objects", 7500000000ull, "UTC: 7,500,000,000 objects</p>"},
               {"lock_samples", 1, "UTC: 1 contention</p>"},
               {"a<b", 2, "UTC: 2 a&lt;b</p>"}};
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    ember_tree_t *t = ember_tree_new();
    add(t, 0, "main", cases[i].v);
    ember_render_meta_t m = meta("app.x{}");
    m.units = cases[i].units;
    m.max_nodes = 0; /* no "at most N nodes": the total ends the line */
    ember_buf_t b = EMBER_BUF_INIT;
    assert_int_equal(ember_render_html(&b, t, &m, NULL), 0);
    char *p = strstr(b.data, "<p class=\"meta\">");
    assert_non_null(p);
    char *dot = strstr(p, " &middot; ");
    assert_non_null(dot);
    memcpy(dot, "</p>", 4);
    dot[4] = '\0';
    if (!strstr(p, cases[i].want)) fprintf(stderr, "%s: %s\n", cases[i].units, p);
    assert_non_null(strstr(p, cases[i].want));
    ember_buf_free(&b);
    ember_tree_free(t);
  }
}

static void test_html_carries_the_same_json_as_format_json(void **state) {
  ember_tree_t *t = ember_tree_new();
  add(t, 0, "a", 1);
  add(t, 0, "b", 2);
  ember_render_meta_t m = meta("app.cpu{}");
  ember_buf_t page = EMBER_BUF_INIT, json = EMBER_BUF_INIT;
  assert_int_equal(ember_render_html(&page, t, &m, NULL), 0);
  assert_int_equal(ember_render_single(&json, t, &m, NULL), 0);
  char *block = json_block(page.data);
  /* Byte for byte, as no name holds a '<'. */
  assert_string_equal(block, json.data);
  json_t *j = parse_json(block);
  assert_int_equal(json_integer_value(json_object_get(json_object_get(j, "flamebearer"),
                                                      "numTicks")),
                   3);
  json_decref(j);
  free(block);
  ember_buf_free(&page);
  ember_buf_free(&json);
  ember_tree_free(t);
}

static void test_html_names_cannot_break_out_of_the_json_block(void **state) {
  const char *evil = "</script><script>alert(1)</script><!--";
  ember_tree_t *t = ember_tree_new();
  add(t, 0, evil, 5);
  ember_render_meta_t m = meta("app.cpu{x=\"</script>\"}");
  ember_buf_t b = EMBER_BUF_INIT;
  assert_int_equal(ember_render_html(&b, t, &m, NULL), 0);
  char *block = json_block(b.data);
  assert_null(strchr(block, '<'));
  json_t *j = parse_json(block);
  json_t *names = json_object_get(json_object_get(j, "flamebearer"), "names");
  assert_string_equal(json_string_value(json_array_get(names, 1)), evil);
  assert_string_equal(json_string_value(json_object_get(json_object_get(j, "metadata"), "query")),
                      "app.cpu{x=\"</script>\"}");
  json_decref(j);
  free(block);
  /* Nowhere on the page does the name appear unescaped. */
  assert_null(strstr(b.data, "<script>alert"));
  /* Exactly two script elements: the graph's and the data. */
  size_t scripts = 0;
  for (const char *p = strstr(b.data, "<script"); p; p = strstr(p + 1, "<script")) scripts++;
  assert_int_equal(scripts, 2);
  svg_doc_t d;
  check_svg(b.data, &d);
  assert_non_null(svg_frame(&d, evil));
  svg_doc_free(&d);
  ember_buf_free(&b);
  ember_tree_free(t);
}

static void test_html_loads_nothing_from_outside(void **state) {
  ember_tree_t *t = ember_tree_new();
  add(t, 0, "a", 1);
  ember_render_meta_t m = meta("app.cpu{}");
  ember_buf_t b = EMBER_BUF_INIT;
  assert_int_equal(ember_render_html(&b, t, &m, NULL), 0);
  assert_null(strstr(b.data, "src="));
  assert_null(strstr(b.data, "href"));
  assert_null(strstr(b.data, "url("));
  assert_null(strstr(b.data, "@import"));
  assert_null(strstr(b.data, "<link"));
  for (const char *p = strstr(b.data, "http"); p; p = strstr(p + 1, "http"))
    assert_int_equal(strncmp(p, "http://www.w3.org/2000/svg", 26), 0);
  ember_buf_free(&b);
  ember_tree_free(t);
}

static void test_html_diff_shows_both_sides(void **state) {
  ember_tree_t *t = ember_tree_new();
  add(t, 0, "a", 4);
  add(t, 1, "a", 2);
  add(t, 1, "b", 6);
  ember_render_meta_t l = meta("app.cpu{v=\"1\"}"), r = meta("app.cpu{v=\"2\"}");
  r.from += 3600;
  r.until += 3600;
  ember_buf_t b = EMBER_BUF_INIT;
  assert_int_equal(ember_render_html_diff(&b, t, &l, &r, NULL), 0);
  assert_non_null(strstr(b.data, "<h1>Diff: app.cpu{v=&quot;1&quot;} &rarr; "
                                 "app.cpu{v=&quot;2&quot;}</h1>"));
  assert_non_null(strstr(b.data, "Left: 2023-11-14 22:13:20 UTC "
                                 "to 2023-11-14 23:13:20 UTC: 40.0 ms (4 samples)"));
  assert_non_null(strstr(b.data, "Right: 2023-11-14 23:13:20 UTC "
                                 "to 2023-11-15 00:13:20 UTC: 80.0 ms (8 samples)"));
  /* Each query once, in the one header; the legend in the UI's colors. */
  assert_int_equal(count(b.data, "app.cpu{v=&quot;1&quot;}"), 1);
  assert_int_equal(count(b.data, "app.cpu{v=&quot;2&quot;}"), 1);
  assert_non_null(strstr(b.data, "background:#ed2626\"></span>larger share"));
  assert_non_null(strstr(b.data, "background:#26ed47\"></span>smaller share"));
  char *block = json_block(b.data);
  json_t *j = parse_json(block);
  assert_int_equal(json_integer_value(json_object_get(j, "leftTicks")), 4);
  assert_int_equal(json_integer_value(json_object_get(j, "rightTicks")), 8);
  assert_string_equal(json_string_value(json_object_get(json_object_get(j, "metadata"), "format")),
                      "double");
  json_decref(j);
  free(block);
  svg_doc_t d;
  check_svg(b.data, &d);
  assert_string_equal(svg_frame(&d, "b")->title,
                      "b\nleft: 0 s (0 samples), 0%\nright: 60.0 ms (6 samples), 75%\n"
                      "change: +75 pp of the total: 0% \xe2\x86\x92 75%, only on the right");
  svg_doc_free(&d);
  ember_buf_free(&b);
  ember_tree_free(t);
}

/* ---- Limits ------------------------------------------------------------ */

static void test_html_over_max_output_is_refused_before_it_is_built(void **state) {
  ember_tree_t *t = ember_tree_new();
  add(t, 0, "main", 10);
  add(t, 1, "main", 12);
  ember_render_meta_t m = meta("app.cpu{}");
  ember_buf_t b = EMBER_BUF_INIT;
  ember_err_t err;
  m.max_output = 4096; /* the SVG's script alone is larger */
  assert_int_equal(ember_render_html(&b, t, &m, &err), EMBER_EINVAL);
  assert_non_null(strstr(err.msg, "the HTML page would take up to"));
  assert_int_equal(ember_render_html_diff(&b, t, &m, &m, &err), EMBER_EINVAL);
  assert_non_null(strstr(err.msg, "the HTML diff page would take up to"));
  assert_null(b.data);
  m.max_output = 1 << 20;
  assert_int_equal(ember_render_html(&b, t, &m, &err), 0);
  assert_true(b.len <= m.max_output);
  ember_buf_free(&b);
  ember_tree_free(t);
}

static void test_html_gives_up_once_the_deadline_has_passed(void **state) {
  ember_tree_t *t = ember_tree_new();
  add(t, 0, "main", 10);
  ember_render_meta_t m = meta("app.cpu{}");
  ember_buf_t b = EMBER_BUF_INIT;
  ember_deadline_set(ember_mono_ns() - 1);
  int rc = ember_render_html(&b, t, &m, NULL);
  int rc2 = ember_render_html_diff(&b, t, &m, &m, NULL);
  ember_deadline_set(0);
  assert_int_equal(rc, EMBER_ETIMEOUT);
  assert_int_equal(rc2, EMBER_ETIMEOUT);
  ember_buf_free(&b);
  ember_tree_free(t);
}

static void test_html_says_when_the_server_lowered_max_nodes(void **state) {
  ember_tree_t *t = ember_tree_new();
  add(t, 0, "main", 10);
  ember_render_meta_t m = meta("app.cpu{}");
  m.max_nodes = 65536;
  m.max_nodes_clamped = true;
  ember_buf_t b = EMBER_BUF_INIT;
  assert_int_equal(ember_render_html(&b, t, &m, NULL), 0);
  assert_non_null(strstr(b.data, "at most 65,536 nodes (the server's limit)"));
  ember_buf_free(&b);
  ember_tree_free(t);
}

static void test_html_says_when_a_sum_saturated(void **state) {
  ember_tree_t *t = ember_tree_new();
  add(t, 0, "a", UINT64_MAX - 1);
  add(t, 0, "b", 2);
  ember_render_meta_t m = meta("app.cpu{}");
  ember_buf_t b = EMBER_BUF_INIT;
  assert_int_equal(ember_render_html(&b, t, &m, NULL), 0);
  assert_non_null(strstr(b.data,
                         "<p class=\"meta\">2023-11-14 22:13:20 UTC to "
                         "2023-11-14 23:13:20 UTC: at least "
                         "18,446,744,073,709,551,615 samples (the sum saturated)"));
  assert_non_null(strstr(b.data, "\"saturated\":true"));
  ember_buf_free(&b);
  ember_tree_free(t);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_html_page_names_the_selection_and_inlines_the_graph),
      cmocka_unit_test(test_html_has_one_header_one_search_and_the_uis_colors),
      cmocka_unit_test(test_html_header_shows_the_total_in_its_unit),
      cmocka_unit_test(test_html_carries_the_same_json_as_format_json),
      cmocka_unit_test(test_html_names_cannot_break_out_of_the_json_block),
      cmocka_unit_test(test_html_loads_nothing_from_outside),
      cmocka_unit_test(test_html_diff_shows_both_sides),
      cmocka_unit_test(test_html_over_max_output_is_refused_before_it_is_built),
      cmocka_unit_test(test_html_gives_up_once_the_deadline_has_passed),
      cmocka_unit_test(test_html_says_when_the_server_lowered_max_nodes),
      cmocka_unit_test(test_html_says_when_a_sum_saturated),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
