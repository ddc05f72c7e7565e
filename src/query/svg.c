/*
 * svg.c - /render?format=svg and /render-diff?format=svg: a call tree drawn
 * as one standalone, interactive SVG flame graph, the kind of file a
 * profiler's `record -o profile.svg` writes. It opens in any browser with no
 * server and no network: hover a bar for its name and values, click it to
 * zoom in, click the top bar or press Esc to zoom out, search with Ctrl-F or
 * the "Search" button. The same picture is the heart of format=html.
 *
 * The picture. The root is the top row (as the web UI draws it), one row
 * of ROW_H px per depth. Bars follow the layout rules of the flamebearer
 * JSON (docs/API.md): a child starts at its parent's x plus the parent's
 * self, siblings follow in name order with "other" last, and a bar's width
 * is its share of the whole. A bar narrower than MIN_PX at full width is
 * left out with everything under it (its parent's width still counts it),
 * so a long tail of invisible frames does not fill the file.
 *
 * Each bar is <g class="f"><title>NAME\nVALUES</title><rect/><text/></g>.
 * The title's first line is the full (cleaned) name: the script reads it
 * back to re-elide labels after a zoom, so each name is written only once
 * (plus its elided label). Labels keep the function and elide the package
 * from the front, by the web UI's rule (label.c, whose script version the
 * SVG carries), and values read in the profile's units, by the UI's rule
 * too (units.c): "2.50 s (250 samples)", "264 MiB".
 *
 * Colors are the web UI's (colors.c). A single graph colors frames by
 * package or module, so the functions of one package share a color in
 * every graph. A diff colors by the relative change of the frame's share
 * of its side's total: red when the right side spends a larger share
 * there, green when a smaller one, grey under 2%, at full strength from
 * twice the share on (or from none at all on the right). Comparing shares
 * rather than raw values keeps two ranges of different lengths comparable.
 *
 * Diff widths. A bar is as wide as the mean of its share of the left total
 * and its share of the right total (one side alone when the other is
 * empty). Widths then nest (children never outgrow their parent), both
 * selections weigh the same whatever their totals, and a frame present on
 * one side only still has a width to click.
 *
 * The walk is an explicit stack: depth is attacker-controlled.
 */
#include "query_int.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define SVG_W 1200
#define PAD 10
#define FRAME_W (SVG_W - 2 * PAD)
#define ROW_H 16
#define BAR_H 15
#define CHAR_W 7.0 /* average advance of 12 px Verdana: for eliding only */
#define LABEL_PAD 3
#define MIN_PX 0.1
#define LINE_H 18 /* header and footer lines */
/* A bar gets a label from this width on, as in the web UI: four
 * characters and the padding. */
#define LABEL_MIN_W (4 * CHAR_W + 2 * LABEL_PAD)

/* ---- Types ------------------------------------------------------------- */

/* A bar waiting to be drawn: its node, row and x in samples per side. */
typedef struct {
  uint32_t node;
  uint32_t depth;
  uint64_t x[EMBER_TREE_SIDES];
} pending_t;

/* What drawing one graph shares. Borrows everything but bars. */
typedef struct {
  const ember_tree_t *t;
  const ember_render_meta_t *left, *right; /* right NULL: single graph */
  int nsides;
  uint64_t total[EMBER_TREE_SIDES];
  double px[EMBER_TREE_SIDES]; /* px per sample of each side */
  double top;                  /* y of the root row */
  uint32_t depth;              /* deepest row drawn */
  ember_buf_t bars;            /* the <g> elements, owned */
  ember_buf_t clean, label;    /* scratch for one bar's name, owned */
  ember_buf_t value;           /* scratch for one value, owned */
} canvas_t;

/* ---- Numbers and colors ------------------------------------------------ */

static void put_px(ember_buf_t *b, double v) { ember_fmt_fixed(b, v, 2, true); }

/* Share of a side's total, 0 for an empty side. */
static double share(const canvas_t *c, int side, uint64_t v) {
  return c->total[side] ? (double)v / (double)c->total[side] : 0;
}


/* ---- Titles ------------------------------------------------------------ */

/* A value in the profile's units, escaped (units are the app's text). */
static void put_units(ember_buf_t *b, ember_buf_t *scratch, uint64_t v,
                      const ember_render_meta_t *m) {
  ember_buf_reset(scratch);
  ember_fmt_sum_units(scratch, v, m->units, m->sample_rate);
  ember_xml_put(b, scratch->data, scratch->len, SIZE_MAX);
}

/* A share of the whole: "12.5%". */
static void put_share(ember_buf_t *b, double frac) {
  ember_fmt_fixed(b, frac * 100, 2, true);
  ember_buf_putc(b, '%');
}

/* "2.50 s (250 samples), 12.5%" */
static void put_value(canvas_t *c, uint64_t v, double frac) {
  put_units(&c->bars, &c->value, v, c->left);
  ember_buf_puts(&c->bars, ", ");
  put_share(&c->bars, frac);
}

/* The change line of a diff title: the change of the share in percentage
 * points of the total, as the web UI words it ("+40.2 pp of the total: 0%
 * -> 40.2%"), and relative to the left share. */
static void put_change(ember_buf_t *b, double l, double r) {
  double pp = (r - l) * 100;
  ember_buf_puts(b, "\nchange: ");
  if (pp >= 0) ember_buf_putc(b, '+');
  ember_fmt_fixed(b, pp, 2, true);
  ember_buf_puts(b, " pp of the total: ");
  put_share(b, l);
  ember_buf_puts(b, " \xe2\x86\x92 "); /* U+2192 */
  put_share(b, r);
  if (l == 0 && r == 0) return;
  if (l == 0) {
    ember_buf_puts(b, ", only on the right");
  } else if (r == 0) {
    ember_buf_puts(b, ", only on the left");
  } else {
    double pct = (r / l - 1) * 100;
    ember_buf_puts(b, pct >= 0 ? ", +" : ", ");
    ember_fmt_fixed(b, pct, 2, true);
    ember_buf_puts(b, "% of the share");
  }
}

/* The lines of a title after the name. */
static void put_values(canvas_t *c, const ember_tree_node_t *nd) {
  ember_buf_t *b = &c->bars;
  if (c->nsides == 1) {
    ember_buf_puts(b, "\ntotal: ");
    put_value(c, nd->total[0], share(c, 0, nd->total[0]));
    ember_buf_puts(b, "\nself: ");
    put_value(c, nd->self[0], share(c, 0, nd->self[0]));
    return;
  }
  double l = share(c, 0, nd->total[0]), r = share(c, 1, nd->total[1]);
  ember_buf_puts(b, "\nleft: ");
  put_value(c, nd->total[0], l);
  ember_buf_puts(b, "\nright: ");
  put_value(c, nd->total[1], r);
  put_change(b, l, r);
}

/* ---- Bars -------------------------------------------------------------- */

static double px_of(const canvas_t *c, const uint64_t *v) {
  double p = 0;
  for (int s = 0; s < c->nsides; s++) p += c->px[s] * (double)v[s];
  return p;
}

/* The bar's label: its name elided to what the width holds, by the rule
 * the script applies after a zoom (which reads the width back as written,
 * to two decimals). Empty when nothing fits. */
static void make_label(canvas_t *c, ember_slice_t name, double w) {
  ember_buf_reset(&c->clean);
  ember_buf_reset(&c->label);
  w = (double)llround(w * 100) / 100;
  if (w < LABEL_MIN_W) return;
  ember_xml_clean(&c->clean, name.base, name.len);
  ember_label_elide(&c->label, c->clean.data, c->clean.len,
                    (size_t)floor((w - 2 * LABEL_PAD) / CHAR_W));
}

static void put_bar(canvas_t *c, const pending_t *p, double x, double w) {
  const ember_tree_node_t *nd = ember_tree_node(c->t, p->node);
  ember_slice_t name = ember_tree_name(c->t, nd->name);
  ember_buf_t *b = &c->bars;
  double y = c->top + (double)p->depth * ROW_H;
  ember_buf_puts(b, "<g class=\"f\"><title>");
  ember_xml_put(b, name.base, name.len, SIZE_MAX);
  put_values(c, nd);
  ember_buf_puts(b, "</title><rect x=\"");
  put_px(b, x);
  ember_buf_puts(b, "\" y=\"");
  put_px(b, y);
  ember_buf_puts(b, "\" width=\"");
  put_px(b, w);
  ember_buf_puts(b, "\" height=\"15\" fill=\"");
  if (c->nsides == 2)
    ember_color_put(b, EMBER_COLOR_DIFF +
                           ember_color_diff_step(ember_color_change(
                               nd->total[0], nd->total[1], c->total[0], c->total[1])));
  else if (p->node == EMBER_TREE_ROOT)
    ember_color_put(b, EMBER_COLOR_ROOT);
  else if (ember_slice_eq(name, "other"))
    ember_color_put(b, EMBER_COLOR_OTHER);
  else
    ember_color_put(b, ember_color_hue(name));
  ember_buf_puts(b, "\"/>");
  make_label(c, name, w);
  if (c->label.len) {
    ember_buf_puts(b, "<text x=\"");
    put_px(b, x + LABEL_PAD);
    ember_buf_puts(b, "\" y=\"");
    put_px(b, y + 12);
    ember_buf_puts(b, "\">");
    ember_xml_put(b, c->label.data, c->label.len, SIZE_MAX);
    ember_buf_puts(b, "</text>");
  }
  ember_buf_puts(b, "</g>\n");
  if (p->depth > c->depth) c->depth = p->depth;
}

/* Pushes node's children in reverse name order, so the first pops first,
 * each placed where the one before it ends, the first right after the
 * parent's self. Children too narrow to draw are dropped when popped. */
static void push_children(canvas_t *c, const pending_t *p, pending_t **stack,
                          size_t *n, size_t *cap, uint32_t **kids, size_t *kcap) {
  const ember_tree_node_t *nd = ember_tree_node(c->t, p->node);
  size_t k = ember_tree_sorted_children(c->t, p->node, kids, kcap);
  ember_grow((void **)stack, cap, *n + k, sizeof **stack);
  uint64_t at[EMBER_TREE_SIDES];
  for (int s = 0; s < EMBER_TREE_SIDES; s++) at[s] = ember_sat_add(p->x[s], nd->self[s]);
  size_t first = *n;
  for (size_t i = 0; i < k; i++) {
    const ember_tree_node_t *kid = ember_tree_node(c->t, (*kids)[i]);
    pending_t q = {(*kids)[i], p->depth + 1, {0, 0}};
    for (int s = 0; s < EMBER_TREE_SIDES; s++) {
      q.x[s] = at[s];
      at[s] = ember_sat_add(at[s], kid->total[s]);
    }
    (*stack)[(*n)++] = q;
  }
  for (size_t i = first, j = *n; i + 1 < j; i++, j--) {
    pending_t tmp = (*stack)[i];
    (*stack)[i] = (*stack)[j - 1];
    (*stack)[j - 1] = tmp;
  }
}

/* Depth first from the root. A bar too narrow to see ends its branch. */
static int draw_bars(canvas_t *c, ember_err_t *err) {
  size_t cap = 64, n = 0, kcap = 0, drawn = 0;
  int rc = EMBER_OK;
  pending_t *stack = ember_malloc(cap * sizeof *stack);
  uint32_t *kids = NULL;
  pending_t root = {EMBER_TREE_ROOT, 0, {0, 0}};
  stack[n++] = root;
  while (n) {
    pending_t p = stack[--n];
    const ember_tree_node_t *nd = ember_tree_node(c->t, p.node);
    double x = PAD + px_of(c, p.x), w = px_of(c, nd->total);
    if (w < MIN_PX) {
      if (p.node != EMBER_TREE_ROOT) continue;
      w = FRAME_W; /* no data at all: still one bar to say so */
    }
    if ((rc = ember_query_deadline(drawn++, "drawing the flame graph", err))) break;
    put_bar(c, &p, x, w);
    push_children(c, &p, &stack, &n, &cap, &kids, &kcap);
  }
  free(stack);
  free(kids);
  return rc;
}

/* ---- Header and footer ------------------------------------------------- */

/* One header or footer line of text; cls and anchor may be NULL. The text
 * is elided to max_px. */
static void put_line(ember_buf_t *b, double x, double y, const char *cls,
                     const char *anchor, const char *text, size_t len, double max_px) {
  ember_buf_puts(b, "<text x=\"");
  put_px(b, x);
  ember_buf_puts(b, "\" y=\"");
  put_px(b, y);
  ember_buf_putc(b, '"');
  if (cls) ember_buf_printf(b, " class=\"%s\"", cls);
  if (anchor) ember_buf_printf(b, " text-anchor=\"%s\"", anchor);
  ember_buf_putc(b, '>');
  ember_xml_put(b, text, len, (size_t)(max_px / CHAR_W));
  ember_buf_puts(b, "</text>\n");
}

/* "[label query, ]2023-... to 2023-...: 12.3 s (1,234 samples)" into line. */
static void describe(ember_buf_t *line, const char *label, const ember_render_meta_t *m,
                     uint64_t total) {
  ember_buf_reset(line);
  if (label) {
    ember_buf_puts(line, label);
    ember_buf_puts(line, m->query ? m->query : m->app_name ? m->app_name : "");
    ember_buf_puts(line, ", ");
  }
  ember_fmt_utc(line, m->from);
  ember_buf_puts(line, " to ");
  ember_fmt_utc(line, m->until);
  ember_buf_puts(line, ": ");
  ember_fmt_sum_units(line, total, m->units, m->sample_rate);
}

/* The header lines; returns how many. */
static int put_header(ember_buf_t *b, const canvas_t *c) {
  ember_buf_t line = EMBER_BUF_INIT;
  const double text_w = FRAME_W - 200; /* leaves room for the controls */
  int lines;
  if (c->nsides == 1) {
    const char *q = c->left->query ? c->left->query : "";
    put_line(b, PAD, LINE_H, "h1", NULL, q, strlen(q), text_w * 0.75);
    describe(&line, NULL, c->left, c->total[0]);
    put_line(b, PAD, 2 * LINE_H, "sub", NULL, line.data, line.len, text_w);
    lines = 2;
  } else {
    static const char head[] = "Diff: red spends a larger share on the right, green "
                               "a smaller one";
    put_line(b, PAD, LINE_H, "h1", NULL, head, sizeof head - 1, text_w * 0.75);
    describe(&line, "left: ", c->left, c->total[0]);
    put_line(b, PAD, 2 * LINE_H, "sub", NULL, line.data, line.len, text_w);
    describe(&line, "right: ", c->right, c->total[1]);
    put_line(b, PAD, 3 * LINE_H, "sub", NULL, line.data, line.len, text_w);
    lines = 3;
  }
  ember_buf_printf(b,
                   "<text id=\"ember-search-ctl\" class=\"ctl\" x=\"%d\" y=\"%d\" "
                   "text-anchor=\"end\">Search</text>\n"
                   "<text id=\"ember-reset-ctl\" class=\"ctl hide\" x=\"%d\" y=\"%d\" "
                   "text-anchor=\"end\">Reset zoom</text>\n",
                   SVG_W - PAD, LINE_H, SVG_W - PAD, 2 * LINE_H);
  ember_buf_free(&line);
  return lines;
}

/* ---- Script ------------------------------------------------------------ */

/* Zoom, search and hover details. Plain ECMAScript, no outside references.
 * In an HTML page it also wires #ember-search (an input), #ember-reset (a
 * button) and #ember-share (where the matched share goes). */
static const char script_head[] = "(function () {\n'use strict';\n";

static const char script[] =
    "var NS = 'http://www.w3.org/2000/svg', PAD = 10, W = 1180, CW = 7, LP = 3;\n"
    "var svg = document.getElementById('ember-flame');\n"
    "if (!svg) return;\n"
    "function el(id) { return document.getElementById(id); }\n"
    "var details = el('ember-details'), matched = el('ember-matched');\n"
    "var resetCtl = el('ember-reset-ctl'), input = el('ember-search');\n"
    "var share = el('ember-share'), frames = [], top = Infinity, zoomed = null, term = '';\n"
    "var gs = svg.getElementsByClassName('f');\n"
    "for (var i = 0; i < gs.length; i++) {\n"
    "  var g = gs[i], r = g.getElementsByTagName('rect')[0];\n"
    "  var info = g.getElementsByTagName('title')[0].textContent, nl = info.indexOf('\\n');\n"
    "  var f = {g: g, r: r, t: g.getElementsByTagName('text')[0] || null, info: info,\n"
    "    name: nl < 0 ? info : info.slice(0, nl), x: +r.getAttribute('x'),\n"
    "    w: +r.getAttribute('width'), y: +r.getAttribute('y')};\n"
    "  g.emberFrame = f;\n"
    "  frames.push(f);\n"
    "  if (f.y < top) top = f.y;\n"
    "}\n"
    "function fit(name, w) {\n"
    "  w = Math.round(w * 100) / 100;\n"
    "  if (w < 4 * CW + 2 * LP) return '';\n"
    "  return emberElide(name, Math.floor((w - 2 * LP) / CW));\n"
    "}\n"
    "function place(f, x, w) {\n"
    "  f.g.style.display = '';\n"
    "  f.r.setAttribute('x', x.toFixed(2));\n"
    "  f.r.setAttribute('width', w.toFixed(2));\n"
    "  var s = fit(f.name, w);\n"
    "  if (s && !f.t) {\n"
    "    f.t = document.createElementNS(NS, 'text');\n"
    "    f.t.setAttribute('y', (f.y + 12).toFixed(2));\n"
    "    f.g.appendChild(f.t);\n"
    "  }\n"
    "  if (f.t) { f.t.setAttribute('x', (x + LP).toFixed(2)); f.t.textContent = s; }\n"
    "}\n"
    "function zoom(z) {\n"
    "  zoomed = z && z.y > top ? z : null;\n"
    "  var e = 0.02;\n"
    "  for (var i = 0; i < frames.length; i++) {\n"
    "    var f = frames[i], anc = false;\n"
    "    if (!zoomed) { place(f, f.x, f.w); }\n"
    "    else if (f.y < zoomed.y) {\n"
    "      anc = f.x <= zoomed.x + e && f.x + f.w >= zoomed.x + zoomed.w - e;\n"
    "      if (anc) place(f, PAD, W); else f.g.style.display = 'none';\n"
    "    } else if (f.x >= zoomed.x - e && f.x + f.w <= zoomed.x + zoomed.w + e) {\n"
    "      var k = W / zoomed.w;\n"
    "      place(f, PAD + (f.x - zoomed.x) * k, f.w * k);\n"
    "    } else { f.g.style.display = 'none'; }\n"
    "    f.g.classList.toggle('a', anc);\n"
    "  }\n"
    "  if (resetCtl) resetCtl.classList.toggle('hide', !zoomed);\n"
    "}\n"
    "function find(t) {\n"
    "  term = t || '';\n"
    "  var re = null, spans = [], sum = 0, end = -1;\n"
    "  if (term) { try { re = new RegExp(term); } catch (err) { re = null; } }\n"
    "  for (var i = 0; i < frames.length; i++) {\n"
    "    var f = frames[i];\n"
    "    var m = term !== '' && (re ? re.test(f.name) : f.name.indexOf(term) >= 0);\n"
    "    f.g.classList.toggle('m', m);\n"
    "    if (m) spans.push([f.x, f.x + f.w]);\n"
    "  }\n"
    "  svg.classList.toggle('s', term !== '');\n"
    "  spans.sort(function (a, b) { return a[0] - b[0]; });\n"
    "  for (var j = 0; j < spans.length; j++) {\n"
    "    var a = Math.max(spans[j][0], end);\n"
    "    if (spans[j][1] > a) sum += spans[j][1] - a;\n"
    "    if (spans[j][1] > end) end = spans[j][1];\n"
    "  }\n"
    "  var text = term ? 'Matched: ' + (sum / W * 100).toFixed(2) + '%' : '';\n"
    "  if (matched) matched.textContent = text;\n"
    "  if (share) share.textContent = text;\n"
    "  return sum / W;\n"
    "}\n"
    "function ask() {\n"
    "  var t = window.prompt('Search frames (a regular expression; empty clears)', term);\n"
    "  if (t !== null) find(t);\n"
    "}\n"
    "function frameOf(ev) {\n"
    "  var g = ev.target && ev.target.closest ? ev.target.closest('.f') : null;\n"
    "  return g && g.emberFrame ? g.emberFrame : null;\n"
    "}\n"
    "svg.addEventListener('click', function (ev) {\n"
    "  var f = frameOf(ev);\n"
    "  if (f) zoom(f);\n"
    "});\n"
    "svg.addEventListener('mouseover', function (ev) {\n"
    "  var f = frameOf(ev);\n"
    "  if (details) details.textContent = f ? f.info.replace(/\\n/g, '  |  ') : '';\n"
    "});\n"
    "svg.addEventListener('mouseleave', function () {\n"
    "  if (details) details.textContent = '';\n"
    "});\n"
    "var sc = el('ember-search-ctl');\n"
    "if (sc) sc.addEventListener('click', function (ev) { ev.stopPropagation(); ask(); });\n"
    "if (resetCtl) resetCtl.addEventListener('click', function (ev) {\n"
    "  ev.stopPropagation(); zoom(null);\n"
    "});\n"
    "var rb = el('ember-reset');\n"
    "if (rb) rb.addEventListener('click', function () { zoom(null); });\n"
    "if (input) input.addEventListener('input', function () { find(input.value); });\n"
    "document.addEventListener('keydown', function (ev) {\n"
    "  if (ev.key === 'Escape') {\n"
    "    if (zoomed) zoom(null);\n"
    "    else { find(''); if (input) input.value = ''; }\n"
    "  } else if ((ev.ctrlKey || ev.metaKey) && (ev.key === 'f' || ev.key === 'F')) {\n"
    "    ev.preventDefault();\n"
    "    if (input) input.focus(); else ask();\n"
    "  }\n"
    "});\n"
    "window.emberFlame = {zoom: zoom, search: find, reset: function () { zoom(null); },\n"
    "  frames: frames};\n"
    "})();\n";

static const char style[] =
    "#ember-flame .f { cursor: pointer }\n"
    "#ember-flame .f:hover rect { stroke: #000; stroke-width: 0.5 }\n"
    "#ember-flame .f text { pointer-events: none; fill: #1b1d22 }\n"
    "#ember-flame .a rect { opacity: 0.55 }\n"

    "#ember-flame .hide { display: none }\n"
    "#ember-flame .h1 { font-size: 15px; font-weight: bold }\n"
    "#ember-flame .sub { fill: #555 }\n"
    "#ember-flame .ctl { cursor: pointer; fill: #1a4dab; text-decoration: underline }\n";

/* ---- API --------------------------------------------------------------- */

/* Sets up sides, totals and scale. */
static void canvas_init(canvas_t *c, const ember_tree_t *t, const ember_render_meta_t *left,
                        const ember_render_meta_t *right) {
  memset(c, 0, sizeof *c);
  c->t = t;
  c->left = left;
  c->right = right;
  c->nsides = right ? 2 : 1;
  int nonempty = 0;
  for (int s = 0; s < c->nsides; s++) {
    c->total[s] = ember_tree_total(t, s);
    nonempty += c->total[s] != 0;
  }
  for (int s = 0; s < c->nsides; s++)
    c->px[s] = c->total[s] ? FRAME_W / (double)c->total[s] / nonempty : 0;
}

/* Header lines, the controls, the footer, the style and the script: all
 * but the bars. Header lines are elided to about 140 characters, each at
 * most 6 bytes once escaped. */
#define FIXED_MAX (sizeof script + sizeof style + 8192 + EMBER_LABEL_SCRIPT_MAX)
/* A bar without its name and values: markup, five numbers of at most 20
 * characters, a color. */
#define BAR_MAX 256

size_t ember_svg_bound(const ember_tree_t *t, const ember_render_meta_t *left,
                       const ember_render_meta_t *right) {
  canvas_t c;
  canvas_init(&c, t, left, right);
  const char *units = left->units ? left->units : "samples";
  /* A title holds two value lines ("\ntotal: 2.50 s (250 samples), 12.5%")
   * or, for a diff, two and a change line. A value is a duration, size or
   * count of at most a few dozen characters, a grouped count (26) and the
   * units' name, or the saturated form of ember_fmt_sum_units. */
  size_t line = 160 + EMBER_FMT_SUM_MAX + 2 * ember_xml_size(units, strlen(units));
  size_t values = c.nsides == 1 ? 2 * line : 2 * line + 192;
  size_t n = ember_tree_count(t), size = FIXED_MAX;
  /* The bars draw_bars draws: those wide enough whose parents are drawn
   * (a parent has a smaller id, invariant 2 of tree.h). */
  uint8_t *drawn = ember_calloc(n ? n : 1, 1);
  for (uint32_t id = 0; id < n; id++) {
    const ember_tree_node_t *nd = ember_tree_node(t, id);
    if (id != EMBER_TREE_ROOT && (!drawn[nd->parent] || px_of(&c, nd->total) < MIN_PX))
      continue;
    drawn[id] = 1;
    ember_slice_t name = ember_tree_name(t, nd->name);
    size_t bar = ember_size_add(BAR_MAX + values + 2,
                                ember_size_mul(2, ember_xml_size(name.base, name.len)));
    size = ember_size_add(size, bar);
  }
  free(drawn);
  return size;
}

int ember_svg_put(ember_buf_t *out, const ember_tree_t *t,
                  const ember_render_meta_t *left, const ember_render_meta_t *right,
                  bool standalone, ember_err_t *err) {
  canvas_t c;
  canvas_init(&c, t, left, right);
  ember_buf_t head = EMBER_BUF_INIT;
  /* In a page, the page's header names the selection and holds the one
   * search box; a standalone file carries its own. */
  int lines = standalone ? put_header(&head, &c) : 0;
  c.top = lines * LINE_H + 10;
  /* Bars first: the height depends on the deepest row drawn. */
  size_t guess = ember_tree_count(t);
  ember_buf_reserve(&c.bars, (guess < 16384 ? guess : 16384) * 200);
  int rc = draw_bars(&c, err);
  if (rc) goto done;
  double foot = c.top + (double)(c.depth + 1) * ROW_H + LINE_H;
  double height = foot + 8;
  ember_buf_reserve(out, c.bars.len + head.len + sizeof script + sizeof style +
                             strlen(ember_label_script) + 1024);
  if (standalone)
    ember_buf_puts(out, "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"no\"?>\n");
  ember_buf_puts(out, "<svg xmlns=\"http://www.w3.org/2000/svg\" id=\"ember-flame\" "
                      "version=\"1.1\" width=\"1200\" height=\"");
  put_px(out, height);
  ember_buf_puts(out, "\" viewBox=\"0 0 1200 ");
  put_px(out, height);
  ember_buf_puts(out, "\" font-family=\"Verdana, sans-serif\" font-size=\"12\">\n"
                      "<style><![CDATA[\n");
  ember_buf_puts(out, style);
  /* Frames outside a search fade as in the web UI. */
  ember_buf_puts(out, "#ember-flame.s .f:not(.m) rect { fill: ");
  ember_color_put(out, EMBER_COLOR_DIM);
  ember_buf_puts(out, " }\n");
  ember_buf_puts(out, "]]></style>\n<rect width=\"100%\" height=\"100%\" fill=\"#fff\"/>\n");
  ember_buf_append(out, head.data, head.len);
  ember_buf_append(out, c.bars.data, c.bars.len);
  ember_buf_printf(out, "<text id=\"ember-details\" x=\"%d\" y=\"", PAD);
  put_px(out, foot);
  ember_buf_puts(out, "\"> </text>\n");
  if (standalone) {
    ember_buf_printf(out, "<text id=\"ember-matched\" x=\"%d\" y=\"", SVG_W - PAD);
    put_px(out, foot);
    ember_buf_puts(out, "\" text-anchor=\"end\"></text>\n");
  }
  ember_buf_puts(out, "<script><![CDATA[\n");
  ember_buf_puts(out, script_head);
  ember_buf_puts(out, ember_label_script);
  ember_buf_puts(out, script);
  ember_buf_puts(out, "]]></script>\n</svg>\n");
done:
  ember_buf_free(&head);
  ember_buf_free(&c.bars);
  ember_buf_free(&c.clean);
  ember_buf_free(&c.label);
  ember_buf_free(&c.value);
  return rc;
}

int ember_render_svg(ember_buf_t *out, const ember_tree_t *t,
                     const ember_render_meta_t *m, ember_err_t *err) {
  int rc = ember_query_check_size(ember_svg_bound(t, m, NULL), m->max_output,
                                  "the SVG flame graph", err);
  return rc ? rc : ember_svg_put(out, t, m, NULL, true, err);
}

int ember_render_svg_diff(ember_buf_t *out, const ember_tree_t *t,
                          const ember_render_meta_t *left,
                          const ember_render_meta_t *right, ember_err_t *err) {
  int rc = ember_query_check_size(ember_svg_bound(t, left, right), left->max_output,
                                  "the SVG diff", err);
  return rc ? rc : ember_svg_put(out, t, left, right, true, err);
}
