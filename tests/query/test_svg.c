/* Tests for src/query/svg.c: the SVG flame graph, read back through a
 * well-formedness check that also returns every drawn frame. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "query/query_int.h"
#include "query/svg_check.h"

/* ---- Helpers ----------------------------------------------------------- */

static void close_fd(int fd) { close(fd); }

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
  return m;
}

/* Adds "a;b;c" with value v on side. */
static void add(ember_tree_t *t, int side, const char *stack, uint64_t v) {
  uint32_t node = EMBER_TREE_ROOT;
  const char *p = stack;
  while (*p) {
    const char *e = strchr(p, ';');
    size_t len = e ? (size_t)(e - p) : strlen(p);
    node = ember_tree_child(t, node, ember_tree_intern(t, p, len));
    p += len + (e ? 1 : 0);
  }
  ember_tree_add(t, node, side, v);
}

/* Renders t (a diff when diff) and parses the result, failing the test
 * unless it is well-formed. The raw text stays in *raw (caller frees). */
static void draw(const ember_tree_t *t, bool diff, svg_doc_t *d, ember_buf_t *raw) {
  ember_render_meta_t l = meta("app.cpu{}"), r = meta("app.cpu{region=\"eu\"}");
  ember_buf_t b = EMBER_BUF_INIT;
  if (diff)
    assert_int_equal(ember_render_svg_diff(&b, t, &l, &r, NULL), 0);
  else
    assert_int_equal(ember_render_svg(&b, t, &l, NULL), 0);
  int rc = svg_parse(b.data, b.len, d);
  if (rc) fprintf(stderr, "not well-formed: %s\n", d->err);
  assert_int_equal(rc, 0);
  assert_string_equal(d->root, "svg");
  if (raw) *raw = b;
  else ember_buf_free(&b);
}

static const svg_frame_t *frame(const svg_doc_t *d, const char *name) {
  const svg_frame_t *f = svg_frame(d, name);
  if (!f) fprintf(stderr, "no frame named '%s'\n", name);
  assert_non_null(f);
  return f;
}

static void assert_near(double got, double want) {
  if (fabs(got - want) > 0.006) fprintf(stderr, "got %.4f, want %.4f\n", got, want);
  assert_true(fabs(got - want) <= 0.006);
}

/* ---- Single graphs ----------------------------------------------------- */

static void test_svg_draws_each_node_with_its_values(void **state) {
  ember_tree_t *t = ember_tree_new();
  add(t, 0, "a;b", 1);
  add(t, 0, "a;c", 2);
  svg_doc_t d;
  ember_buf_t raw;
  draw(t, false, &d, &raw);
  assert_int_equal(d.n, 4);
  const svg_frame_t *root = frame(&d, "total"), *a = frame(&d, "a"), *b = frame(&d, "b"),
                    *c = frame(&d, "c");
  assert_near(root->x, 10);
  assert_near(root->w, 1180);
  assert_near(a->w, 1180);
  assert_near(b->x, 10);
  assert_near(b->w, 393.33);
  assert_near(c->x, 403.33);
  assert_near(c->w, 786.67);
  /* One row per depth, the root on top. */
  assert_near(a->y - root->y, 16);
  assert_near(b->y, c->y);
  assert_near(c->y - a->y, 16);
  /* Values in the profile's units: samples at 100 Hz are CPU time. */
  assert_string_equal(c->title, "c\ntotal: 20.0 ms (2 samples), 66.67%\n"
                                "self: 20.0 ms (2 samples), 66.67%");
  assert_string_equal(a->title, "a\ntotal: 30.0 ms (3 samples), 100%\n"
                                "self: 0 s (0 samples), 0%");
  assert_string_equal(c->label, "c");
  /* The header names the query and range. */
  assert_non_null(strstr(raw.data, ">app.cpu{}</text>"));
  assert_non_null(strstr(raw.data, "2023-11-14 22:13:20 UTC to 2023-11-14 23:13:20 UTC: "
                                   "30.0 ms (3 samples)</text>"));
  assert_true(!strncmp(raw.data, "<?xml version=\"1.0\"", 19));
  ember_buf_free(&raw);
  svg_doc_free(&d);
  ember_tree_free(t);
}

static void test_svg_children_start_after_the_parent_self(void **state) {
  ember_tree_t *t = ember_tree_new();
  add(t, 0, "a", 2);
  add(t, 0, "a;b", 1);
  add(t, 0, "z", 1);
  svg_doc_t d;
  draw(t, false, &d, NULL);
  const svg_frame_t *a = frame(&d, "a"), *b = frame(&d, "b"), *z = frame(&d, "z");
  assert_near(a->x, 10);
  assert_near(a->w, 885);
  assert_near(b->x, 10 + 590); /* a's self (2 of 4) comes first */
  assert_near(b->w, 295);
  assert_near(z->x, 895);
  svg_doc_free(&d);
  ember_tree_free(t);
}

static void test_svg_puts_siblings_in_name_order_and_other_last(void **state) {
  ember_tree_t *t = ember_tree_new();
  add(t, 0, "other", 5);
  add(t, 0, "zeta", 1);
  add(t, 0, "alpha", 4);
  add(t, 0, "Beta", 2); /* byte order: upper case first */
  svg_doc_t d;
  draw(t, false, &d, NULL);
  const svg_frame_t *al = frame(&d, "alpha"), *be = frame(&d, "Beta"),
                    *ze = frame(&d, "zeta"), *ot = frame(&d, "other");
  assert_true(be->x < al->x);
  assert_true(al->x < ze->x);
  assert_true(ze->x < ot->x);
  assert_near(ot->x + ot->w, 1190);
  /* The UI's colors for "other" and the root (tests/data/colors.json). */
  assert_string_equal(ot->fill, "#c8cbd0");
  assert_string_equal(frame(&d, "total")->fill, "#d1d5db");
  svg_doc_free(&d);
  ember_tree_free(t);
}

static void test_svg_escapes_and_cleans_weird_names(void **state) {
  static const struct {
    const char *raw;
    const char *shown;
  } names[] = {
      {"<script>alert(1)</script>", "<script>alert(1)</script>"},
      {"a&b \"q\" 'x'", "a&b \"q\" 'x'"},
      {"]]></svg>", "]]></svg>"},
      {"ctl\x01\x02\x1b[31m\x7f\n", "ctl[31m"},
      {"bad\xff\xfe utf8", "bad\xef\xbf\xbd\xef\xbf\xbd utf8"},
      {"nonchar\xef\xbf\xbf", "nonchar\xef\xbf\xbd"},
      {"&#0;&lt;", "&#0;&lt;"},
  };
  size_t n = sizeof names / sizeof names[0];
  /* One chain, so every bar is wide enough for its whole label. */
  ember_tree_t *t = ember_tree_new();
  uint32_t node = EMBER_TREE_ROOT;
  for (size_t i = 0; i < n; i++)
    node = ember_tree_child(t, node, ember_tree_intern(t, names[i].raw, strlen(names[i].raw)));
  node = ember_tree_child(t, node, ember_tree_intern(t, "nul\0byte", 8));
  ember_tree_add(t, node, 0, 100);
  svg_doc_t d;
  ember_buf_t raw;
  draw(t, false, &d, &raw);
  for (size_t i = 0; i < n; i++) {
    const svg_frame_t *f = frame(&d, names[i].shown);
    assert_non_null(f->label);
    assert_string_equal(f->label, names[i].shown);
  }
  frame(&d, "nulbyte");
  assert_null(strstr(raw.data, "<script>alert"));
  ember_buf_free(&raw);
  svg_doc_free(&d);
  ember_tree_free(t);
}

static void test_svg_elides_labels_to_fit_their_bar(void **state) {
  ember_tree_t *t = ember_tree_new();
  const char *longname = "com.example.service.handlers.VeryLongClassName.process";
  char stack[128];
  snprintf(stack, sizeof stack, "%s", longname);
  add(t, 0, stack, 10);
  add(t, 0, "wide", 90);
  add(t, 0, "zz_tiny", 1); /* 11.7 px: too narrow for any label */
  svg_doc_t d;
  draw(t, false, &d, NULL);
  const svg_frame_t *f = frame(&d, longname);
  /* 116.83 px hold 15 characters: the package goes from the front, the
   * method stays (the web UI's rule, label.c). */
  assert_non_null(f->label);
  assert_string_equal(f->label, "\xe2\x80\xa6ssName.process");
  assert_true((double)ember_utf8_len(f->label, strlen(f->label)) <= (f->w - 6) / 7.0);
  assert_string_equal(frame(&d, "wide")->label, "wide");
  assert_null(frame(&d, "zz_tiny")->label);
  svg_doc_free(&d);
  ember_tree_free(t);
}

/* The example: a Python frame in a narrow bar keeps its function,
 * never "server:...k (server.py:58)". */
static void test_svg_labels_keep_the_function_and_drop_the_location(void **state) {
  ember_tree_t *t = ember_tree_new();
  add(t, 0, "server:mutex_lock (server.py:58)", 10);
  add(t, 0, "github.com/jackc/pgx/v5.(*Conn).runCursor", 8);
  add(t, 0, "wide", 82);
  svg_doc_t d;
  draw(t, false, &d, NULL);
  /* 118 px: 16 characters; 94.4 px: 12. */
  assert_string_equal(frame(&d, "server:mutex_lock (server.py:58)")->label,
                      "\xe2\x80\xa6rver:mutex_lock");
  assert_string_equal(frame(&d, "github.com/jackc/pgx/v5.(*Conn).runCursor")->label,
                      "\xe2\x80\xa6).runCursor");
  svg_doc_free(&d);
  ember_tree_free(t);
}

/* The inline script (zoom, search, and the label rule it re-elides with)
 * parses as JavaScript; skipped where node is not installed. */
static void test_svg_script_is_valid_javascript(void **state) {
  if (system("node --version >/dev/null 2>&1") != 0) {
    fprintf(stderr, "node is not installed: the SVG's script is not checked\n");
    skip();
  }
  ember_tree_t *t = ember_tree_new();
  add(t, 0, "a", 1);
  ember_buf_t raw;
  svg_doc_t d;
  draw(t, false, &d, &raw);
  const char *open = strstr(raw.data, "<script><![CDATA[");
  assert_non_null(open);
  open += strlen("<script><![CDATA[");
  const char *close = strstr(open, "]]></script>");
  assert_non_null(close);
  char path[] = "/tmp/ember-svg-XXXXXX.js";
  int fd = mkstemps(path, 3);
  assert_true(fd >= 0);
  assert_int_equal(write(fd, open, (size_t)(close - open)), close - open);
  close_fd(fd);
  char cmd[256];
  snprintf(cmd, sizeof cmd, "node --check %s", path);
  int rc = system(cmd);
  unlink(path);
  assert_int_equal(rc, 0);
  assert_non_null(strstr(open, "function emberElide(name, max)"));
  assert_true(strlen(ember_label_script) <= EMBER_LABEL_SCRIPT_MAX);
  ember_buf_free(&raw);
  svg_doc_free(&d);
  ember_tree_free(t);
}

static void test_svg_leaves_out_bars_under_a_tenth_of_a_pixel(void **state) {
  ember_tree_t *t = ember_tree_new();
  add(t, 0, "big", 999850);
  add(t, 0, "small", 100);      /* 0.118 px: drawn */
  add(t, 0, "tiny", 50);        /* 0.059 px: left out */
  add(t, 0, "small;under", 100); /* 0.118 px: drawn */
  svg_doc_t d;
  draw(t, false, &d, NULL);
  assert_null(svg_frame(&d, "tiny"));
  assert_non_null(svg_frame(&d, "small"));
  assert_non_null(svg_frame(&d, "under"));
  /* The whole still counts what was left out. */
  assert_string_equal(frame(&d, "total")->title,
                      "total\ntotal: 2 h 47 min (1,000,100 samples), 100%\n"
                      "self: 0 s (0 samples), 0%");
  svg_doc_free(&d);
  ember_tree_free(t);
}

static void test_svg_colors_frames_by_package(void **state) {
  ember_tree_t *t = ember_tree_new();
  const char *names[] = {"pkg.A",          "pkg.B",          "a::b::c",   "a::b::d",
                         "net/http.Get",   "net/http.Post",  "io/fs:Open", "io/fs:Stat",
                         "rt.sched.run",   "solo"};
  for (size_t i = 0; i < 10; i++) add(t, 0, names[i], 10);
  svg_doc_t d;
  draw(t, false, &d, NULL);
  for (size_t i = 0; i < 8; i += 2)
    assert_string_equal(frame(&d, names[i])->fill, frame(&d, names[i + 1])->fill);
  assert_int_equal(strlen(frame(&d, "solo")->fill), 7);
  assert_int_equal(frame(&d, "solo")->fill[0], '#');
  /* Stable: the same package has the same color in another graph. */
  ember_tree_t *u = ember_tree_new();
  add(u, 0, "pkg.Z", 3);
  svg_doc_t e;
  draw(u, false, &e, NULL);
  assert_string_equal(frame(&e, "pkg.Z")->fill, frame(&d, "pkg.A")->fill);
  svg_doc_free(&e);
  svg_doc_free(&d);
  ember_tree_free(u);
  ember_tree_free(t);
}

static void test_svg_of_an_empty_tree_is_one_bar(void **state) {
  ember_tree_t *t = ember_tree_new();
  svg_doc_t d;
  draw(t, false, &d, NULL);
  assert_int_equal(d.n, 1);
  assert_near(d.frames[0].w, 1180);
  assert_string_equal(d.frames[0].title,
                      "total\ntotal: 0 s (0 samples), 0%\nself: 0 s (0 samples), 0%");
  svg_doc_free(&d);
  ember_tree_free(t);
}

static void test_svg_draws_a_chain_100000_frames_deep(void **state) {
  ember_tree_t *t = ember_tree_new();
  uint32_t node = EMBER_TREE_ROOT, name = ember_tree_intern(t, "f", 1);
  for (int i = 0; i < 100000; i++) node = ember_tree_child(t, node, name);
  ember_tree_add(t, node, 0, 7);
  svg_doc_t d;
  draw(t, false, &d, NULL);
  assert_int_equal(d.n, 100001);
  assert_near(d.frames[d.n - 1].y - d.frames[0].y, 100000.0 * 16);
  assert_near(d.frames[d.n - 1].w, 1180);
  svg_doc_free(&d);
  ember_tree_free(t);
}

static void test_svg_refers_to_nothing_outside_itself(void **state) {
  ember_tree_t *t = ember_tree_new();
  add(t, 0, "a", 1);
  svg_doc_t d;
  ember_buf_t raw;
  draw(t, false, &d, &raw);
  assert_null(strstr(raw.data, "href"));
  assert_null(strstr(raw.data, "src="));
  assert_null(strstr(raw.data, "url("));
  assert_null(strstr(raw.data, "@import"));
  for (const char *p = strstr(raw.data, "http"); p; p = strstr(p + 1, "http"))
    assert_int_equal(strncmp(p, "http://www.w3.org/2000/svg", 26), 0);
  /* The script that zooms and searches is inline. */
  assert_non_null(strstr(raw.data, "<script><![CDATA["));
  assert_non_null(strstr(raw.data, "function zoom("));
  assert_non_null(strstr(raw.data, "function find("));
  ember_buf_free(&raw);
  svg_doc_free(&d);
  ember_tree_free(t);
}

/* ---- Diffs ------------------------------------------------------------- */

/* Left: a 10, b 10. Right: a 30, b 10, c 40 (new). */
static ember_tree_t *diff_tree(void) {
  ember_tree_t *t = ember_tree_new();
  add(t, 0, "a", 10);
  add(t, 0, "b", 10);
  add(t, 1, "a", 30);
  add(t, 1, "b", 10);
  add(t, 1, "c", 40);
  add(t, 0, "d", 0); /* present, no value anywhere: not drawn */
  return t;
}

static int red(const char *fill) { return (int)strtol((char[]){fill[1], fill[2], 0}, NULL, 16); }
static int green(const char *fill) { return (int)strtol((char[]){fill[3], fill[4], 0}, NULL, 16); }

static void test_svg_diff_colors_growth_red_and_shrinkage_green(void **state) {
  ember_tree_t *t = ember_tree_new();
  add(t, 0, "grows", 10);
  add(t, 0, "shrinks", 10);
  add(t, 0, "same", 20);
  add(t, 0, "gone", 10);
  add(t, 1, "grows", 15);   /* share 0.20 -> 0.30 */
  add(t, 1, "shrinks", 5);  /* 0.20 -> 0.10: -50%, half way to full green */
  add(t, 1, "same", 20);    /* 0.40 -> 0.40 */
  add(t, 1, "new", 10);     /* only on the right: full red */
  svg_doc_t d;
  draw(t, true, &d, NULL);
  const char *grows = frame(&d, "grows")->fill, *shrinks = frame(&d, "shrinks")->fill;
  assert_true(red(grows) > green(grows));
  assert_true(green(shrinks) > red(shrinks));
  /* The UI's diff colors (tests/data/colors.json): step -5 of 10, full
   * green for a frame gone, full red for a new one, grey for no change. */
  assert_string_equal(shrinks, "#85e094");
  assert_string_equal(frame(&d, "gone")->fill, "#26ed47");
  assert_string_equal(frame(&d, "new")->fill, "#ed2626");
  assert_string_equal(frame(&d, "same")->fill, "#d8dadf");
  /* Stronger change, stronger color: +50% is paler than a new frame. */
  assert_true(green(grows) > green(frame(&d, "new")->fill));
  /* The change in percentage points of the total first, as the UI words
   * it, then relative to the left share. */
  assert_string_equal(frame(&d, "grows")->title,
                      "grows\nleft: 100 ms (10 samples), 20%\n"
                      "right: 150 ms (15 samples), 30%\n"
                      "change: +10 pp of the total: 20% \xe2\x86\x92 30%, +50% of the share");
  assert_string_equal(frame(&d, "new")->title,
                      "new\nleft: 0 s (0 samples), 0%\nright: 100 ms (10 samples), 20%\n"
                      "change: +20 pp of the total: 0% \xe2\x86\x92 20%, only on the right");
  assert_string_equal(frame(&d, "gone")->title,
                      "gone\nleft: 100 ms (10 samples), 20%\nright: 0 s (0 samples), 0%\n"
                      "change: -20 pp of the total: 20% \xe2\x86\x92 0%, only on the left");
  assert_string_equal(frame(&d, "same")->title,
                      "same\nleft: 200 ms (20 samples), 40%\n"
                      "right: 200 ms (20 samples), 40%\n"
                      "change: +0 pp of the total: 40% \xe2\x86\x92 40%, +0% of the share");
  svg_doc_free(&d);
  ember_tree_free(t);
}

static void test_svg_diff_widths_are_the_mean_of_both_shares(void **state) {
  ember_tree_t *t = diff_tree();
  svg_doc_t d;
  ember_buf_t raw;
  draw(t, true, &d, &raw);
  /* Shares: a 0.5 | 0.375, b 0.5 | 0.125, c 0 | 0.5. */
  assert_near(frame(&d, "total")->w, 1180);
  assert_near(frame(&d, "a")->x, 10);
  assert_near(frame(&d, "a")->w, 1180 * 0.4375);
  assert_near(frame(&d, "b")->x, 10 + 1180 * 0.4375);
  assert_near(frame(&d, "b")->w, 1180 * 0.3125);
  assert_near(frame(&d, "c")->w, 1180 * 0.25);
  assert_null(svg_frame(&d, "d"));
  assert_non_null(strstr(raw.data, "left: app.cpu{}, 2023-11-14 22:13:20 UTC"));
  assert_non_null(strstr(raw.data, "right: app.cpu{region=&quot;eu&quot;}, "));
  assert_non_null(strstr(raw.data, ": 800 ms (80 samples)</text>"));
  ember_buf_free(&raw);
  svg_doc_free(&d);
  ember_tree_free(t);
}

static void test_svg_diff_with_an_empty_side_uses_the_other(void **state) {
  ember_tree_t *t = ember_tree_new();
  add(t, 1, "a", 3);
  add(t, 1, "b", 1);
  svg_doc_t d;
  draw(t, true, &d, NULL);
  assert_near(frame(&d, "total")->w, 1180);
  assert_near(frame(&d, "a")->w, 885);
  assert_string_equal(frame(&d, "a")->fill, "#ed2626");
  svg_doc_free(&d);
  ember_tree_free(t);
}

/* ---- Limits ------------------------------------------------------------ */

static ember_tree_t *weird_tree(void) {
  ember_tree_t *t = ember_tree_new();
  add(t, 0, "main;\"q\"&<b>;'x'", 1000);
  add(t, 0, "main;\x01\x02;\xff\xfe\xc3", 700);
  add(t, 1, "main;caf\xc3\xa9;\xe2\x82\xac", 900);
  for (int i = 0; i < 300; i++) {
    char stack[64];
    snprintf(stack, sizeof stack, "main;worker;fn_%d", i);
    add(t, i % 2, stack, (uint64_t)i * 10 + 1);
  }
  return t;
}

static void test_svg_never_passes_its_bound(void **state) {
  ember_tree_t *t = weird_tree();
  ember_render_meta_t l = meta("app.cpu{k=\"<&>\"}"), r = meta("app.cpu{}");
  ember_buf_t b = EMBER_BUF_INIT;
  assert_int_equal(ember_render_svg(&b, t, &l, NULL), 0);
  size_t bound = ember_svg_bound(t, &l, NULL);
  assert_true(b.len <= bound);
  assert_true(bound <= 4 * b.len); /* and close enough to be useful */
  ember_buf_reset(&b);
  assert_int_equal(ember_render_svg_diff(&b, t, &l, &r, NULL), 0);
  assert_true(b.len <= ember_svg_bound(t, &l, &r));
  ember_buf_free(&b);
  ember_tree_free(t);
}

static void test_svg_over_max_output_is_refused_before_it_is_drawn(void **state) {
  ember_tree_t *t = weird_tree();
  ember_render_meta_t l = meta("app.cpu{}"), r = meta("app.cpu{}");
  ember_buf_t b = EMBER_BUF_INIT;
  ember_err_t err;
  l.max_output = ember_svg_bound(t, &l, NULL) - 1;
  assert_int_equal(ember_render_svg(&b, t, &l, &err), EMBER_EINVAL);
  assert_non_null(strstr(err.msg, "the SVG flame graph would take up to"));
  assert_null(b.data);
  l.max_output = ember_svg_bound(t, &l, &r) - 1;
  assert_int_equal(ember_render_svg_diff(&b, t, &l, &r, &err), EMBER_EINVAL);
  assert_non_null(strstr(err.msg, "the SVG diff would take up to"));
  assert_null(b.data);
  l.max_output = ember_svg_bound(t, &l, NULL);
  assert_int_equal(ember_render_svg(&b, t, &l, &err), 0);
  ember_buf_free(&b);
  ember_tree_free(t);
}

static void test_svg_gives_up_once_the_deadline_has_passed(void **state) {
  ember_tree_t *t = weird_tree();
  ember_render_meta_t l = meta("app.cpu{}");
  ember_buf_t b = EMBER_BUF_INIT;
  ember_err_t err;
  ember_deadline_set(ember_mono_ns() - 1);
  int rc = ember_render_svg(&b, t, &l, &err);
  int rc2 = ember_render_svg_diff(&b, t, &l, &l, NULL);
  ember_deadline_set(0);
  assert_int_equal(rc, EMBER_ETIMEOUT);
  assert_int_equal(rc2, EMBER_ETIMEOUT);
  assert_non_null(strstr(err.msg, "ran out of time while drawing the flame graph"));
  ember_buf_free(&b);
  ember_tree_free(t);
}

static void test_svg_says_when_a_sum_saturated(void **state) {
  ember_tree_t *t = ember_tree_new();
  add(t, 0, "a", UINT64_MAX - 1);
  add(t, 0, "b", 5);
  svg_doc_t d;
  ember_buf_t raw;
  draw(t, false, &d, &raw);
  const svg_frame_t *root = frame(&d, "total");
  assert_non_null(strstr(root->title, "total: at least 18,446,744,073,709,551,615 "
                                      "samples (the sum saturated)"));
  assert_non_null(strstr(raw.data, ": at least 18,446,744,073,709,551,615 samples (the "
                                   "sum saturated)</text>"));
  /* One short of the ceiling is a measurement, and reads as one, exact. */
  assert_non_null(
      strstr(frame(&d, "a")->title, " (18,446,744,073,709,551,614 samples), "));
  svg_doc_free(&d);
  ember_buf_free(&raw);
  ember_tree_free(t);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_svg_draws_each_node_with_its_values),
      cmocka_unit_test(test_svg_children_start_after_the_parent_self),
      cmocka_unit_test(test_svg_puts_siblings_in_name_order_and_other_last),
      cmocka_unit_test(test_svg_escapes_and_cleans_weird_names),
      cmocka_unit_test(test_svg_elides_labels_to_fit_their_bar),
      cmocka_unit_test(test_svg_labels_keep_the_function_and_drop_the_location),
      cmocka_unit_test(test_svg_script_is_valid_javascript),
      cmocka_unit_test(test_svg_leaves_out_bars_under_a_tenth_of_a_pixel),
      cmocka_unit_test(test_svg_colors_frames_by_package),
      cmocka_unit_test(test_svg_of_an_empty_tree_is_one_bar),
      cmocka_unit_test(test_svg_draws_a_chain_100000_frames_deep),
      cmocka_unit_test(test_svg_refers_to_nothing_outside_itself),
      cmocka_unit_test(test_svg_diff_colors_growth_red_and_shrinkage_green),
      cmocka_unit_test(test_svg_diff_widths_are_the_mean_of_both_shares),
      cmocka_unit_test(test_svg_diff_with_an_empty_side_uses_the_other),
      cmocka_unit_test(test_svg_never_passes_its_bound),
      cmocka_unit_test(test_svg_over_max_output_is_refused_before_it_is_drawn),
      cmocka_unit_test(test_svg_gives_up_once_the_deadline_has_passed),
      cmocka_unit_test(test_svg_says_when_a_sum_saturated),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
