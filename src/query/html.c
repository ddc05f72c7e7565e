/*
 * html.c - /render?format=html and /render-diff?format=html: one page that
 * carries everything it needs. One header names the selection (query, time
 * range, totals) and holds the one search box; below it the inline SVG
 * flame graph of svg.c, drawn without its own header (its script is what
 * the search box drives), and the data itself travels in
 * <script type="application/json" id="flamebearer">, exactly what
 * format=json answers, so a saved page opens offline and can be fed to
 * another tool. Nothing is loaded from anywhere.
 *
 * Looks: the page wears the web UI's colors. Its style reads the UI's own
 * color variables, the first ":root" block of web/style.css as the binary
 * embeds it, so the two cannot drift apart; the frames have the UI's
 * palette (colors.c).
 *
 * Safety: every name reaching the page is cleaned and escaped by markup.c.
 * In the inlined JSON every '<' is written as \u003c: the JSON means the
 * same, and no frame name can close the script element ("</script>") or
 * start a comment ("<!--") that would change how the page parses.
 */
#include "query_int.h"

#include <string.h>

#include "web/assets.h"

/* ---- Page parts -------------------------------------------------------- */

/* The layout; every color is one of the UI's variables (ui_colors). */
static const char page_style[] =
    "body { margin: 0; font: 14px/1.45 var(--sans); color: var(--text); "
    "background: var(--bg) }\n"
    "header { padding: 12px 16px; background: var(--panel); "
    "border-bottom: 1px solid var(--border) }\n"
    "h1 { margin: 0 0 4px; font: 600 16px var(--mono); word-break: break-all }\n"
    ".meta { margin: 0; color: var(--muted) }\n"
    ".tools { margin: 8px 0 0; display: flex; gap: 10px; align-items: center; "
    "flex-wrap: wrap }\n"
    "#ember-search, button { font: inherit; color: var(--text); background: var(--panel); "
    "border: 1px solid var(--border); border-radius: 6px; padding: 4px 10px }\n"
    "#ember-search { width: 22em; max-width: 100% }\n"
    "#ember-search:focus, button:focus-visible { outline: 2px solid var(--focus); "
    "outline-offset: 1px }\n"
    "button { cursor: pointer; background: var(--panel-2) }\n"
    "#ember-share { color: var(--muted) }\n"
    ".swatch { display: inline-block; width: 11px; height: 11px; margin-right: 4px; "
    "vertical-align: -1px; border-radius: 2px }\n"
    "main { padding: 10px 16px }\n"
    "main svg { display: block; width: 100%; height: auto; background: var(--panel); "
    "border: 1px solid var(--border); border-radius: 6px }\n"
    "footer { padding: 4px 16px 16px; color: var(--muted); font-size: 12px }\n";

/* The web UI's color variables: the first ":root { ... }" block of its
 * style sheet (the light theme), or NULL when the sheet has none. */
static ember_slice_t ui_colors(void) {
  for (size_t i = 0; ember_web_assets[i].path; i++) {
    if (strcmp(ember_web_assets[i].path, "/style.css")) continue;
    const char *css = (const char *)ember_web_assets[i].data;
    size_t n = ember_web_assets[i].size;
    const char *root = memmem(css, n, ":root {", 7);
    if (!root) break;
    const char *end = memchr(root, '}', n - (size_t)(root - css));
    if (!end) break;
    return (ember_slice_t){root, (size_t)(end - root) + 1};
  }
  return (ember_slice_t){NULL, 0};
}

static void put_text(ember_buf_t *b, const char *s) {
  if (s) ember_xml_put(b, s, strlen(s), SIZE_MAX);
}

/* "2023-11-14 22:13:20 UTC to 2023-11-14 23:13:20 UTC: 12.3 s (1,234
 * samples)": the total in the profile's units, as the web UI writes it. */
static void put_range(ember_buf_t *b, const ember_render_meta_t *m, uint64_t total) {
  ember_fmt_utc(b, m->from);
  ember_buf_puts(b, " to ");
  ember_fmt_utc(b, m->until);
  ember_buf_puts(b, ": ");
  ember_buf_t v = EMBER_BUF_INIT;
  ember_fmt_sum_units(&v, total, m->units, m->sample_rate);
  ember_xml_put(b, v.data, v.len, SIZE_MAX);
  ember_buf_free(&v);
}

/* "pyspy at 100 Hz, at most 8,192 nodes", and whether that is the
 * server's limit rather than what was asked for. */
static void put_source(ember_buf_t *b, const ember_render_meta_t *m) {
  put_text(b, m->spy_name ? m->spy_name : "unknown");
  ember_buf_printf(b, " at %u Hz", m->sample_rate);
  if (m->max_nodes > 0) {
    ember_buf_puts(b, ", at most ");
    ember_fmt_count(b, (uint64_t)m->max_nodes);
    ember_buf_puts(b, m->max_nodes_clamped ? " nodes (the server's limit)" : " nodes");
  }
}

/* <!DOCTYPE html> through the opening <header>. */
static void put_head(ember_buf_t *b, const char *title) {
  ember_buf_puts(b, "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
                    "<meta name=\"viewport\" content=\"width=device-width, "
                    "initial-scale=1\">\n<title>");
  put_text(b, title);
  ember_buf_puts(b, " - Ember flame graph</title>\n<style>\n");
  ember_slice_t colors = ui_colors();
  ember_buf_append(b, colors.base, colors.len);
  ember_buf_puts(b, "\n");
  ember_buf_puts(b, page_style);
  ember_buf_puts(b, "</style>\n</head>\n<body>\n<header>\n");
}

static void put_tools(ember_buf_t *b) {
  ember_buf_puts(b, "<p class=\"tools\"><input type=\"search\" id=\"ember-search\" "
                    "placeholder=\"Search frames (regular expression)\" "
                    "aria-label=\"Search frames\" autocomplete=\"off\">\n"
                    "<span id=\"ember-share\"></span>\n"
                    "<button type=\"button\" id=\"ember-reset\">Reset zoom</button></p>\n"
                    "</header>\n<main>\n");
}

/* The JSON with every '<' as \u003c (see the top of the file). */
static void put_json_block(ember_buf_t *b, const ember_buf_t *json) {
  ember_buf_puts(b, "<script type=\"application/json\" id=\"flamebearer\">");
  ember_buf_reserve(b, json->len + 64);
  const char *p = json->data, *end = json->data + json->len;
  while (p < end) {
    const char *lt = memchr(p, '<', (size_t)(end - p));
    ember_buf_append(b, p, (size_t)((lt ? lt : end) - p));
    if (!lt) break;
    ember_buf_puts(b, "\\u003c");
    p = lt + 1;
  }
  ember_buf_puts(b, "</script>\n");
}

static void put_tail(ember_buf_t *b, const ember_buf_t *json, const char *what) {
  ember_buf_puts(b, "</main>\n<footer>Click a frame to zoom in; click the top bar or "
                    "press Esc to zoom out; Ctrl-F searches. The data behind the graph "
                    "is inside this page: the JSON in the script element "
                    "&quot;flamebearer&quot;, as ");
  ember_buf_puts(b, what);
  ember_buf_puts(b, " answers with format=json.</footer>\n");
  put_json_block(b, json);
  ember_buf_puts(b, "</body>\n</html>\n");
}

/* ---- Bounds ------------------------------------------------------------ */

/* Everything but the SVG and the JSON: the style, the header (each query
 * three times at most, escaped, and the metadata), the tools and the
 * footer. */
static size_t page_bound(const ember_render_meta_t *left,
                         const ember_render_meta_t *right) {
  size_t size = sizeof page_style + ui_colors().len + 8192;
  const ember_render_meta_t *ms[] = {left, right};
  for (int i = 0; i < 2; i++) {
    if (!ms[i]) continue;
    const char *strs[] = {ms[i]->query, ms[i]->app_name, ms[i]->units, ms[i]->spy_name};
    for (size_t k = 0; k < sizeof strs / sizeof *strs; k++)
      if (strs[k])
        size = ember_size_add(size, 3 * ember_xml_size(strs[k], strlen(strs[k])));
  }
  return size;
}

static int check_page(const ember_tree_t *t, const ember_render_meta_t *left,
                      const ember_render_meta_t *right, const char *what,
                      ember_err_t *err) {
  size_t size = ember_size_add(page_bound(left, right), ember_svg_bound(t, left, right));
  size = ember_size_add(size, ember_flamebearer_bound(t, left, right, true));
  return ember_query_check_size(size, left->max_output, what, err);
}

/* ---- API --------------------------------------------------------------- */

int ember_render_html(ember_buf_t *out, const ember_tree_t *t,
                      const ember_render_meta_t *m, ember_err_t *err) {
  int rc = check_page(t, m, NULL, "the HTML page", err);
  if (rc) return rc;
  ember_buf_t json = EMBER_BUF_INIT;
  ember_render_meta_t whole = *m;
  whole.max_output = 0; /* the page as a whole was checked */
  rc = ember_render_single(&json, t, &whole, err);
  if (rc) goto done;
  const char *query = m->query ? m->query : m->app_name ? m->app_name : "";
  ember_buf_reserve(out, json.len * 4 + 65536);
  put_head(out, query);
  ember_buf_puts(out, "<h1>");
  put_text(out, query);
  ember_buf_puts(out, "</h1>\n<p class=\"meta\">");
  put_range(out, m, ember_tree_total(t, 0));
  ember_buf_puts(out, " &middot; ");
  put_source(out, m);
  ember_buf_puts(out, "</p>\n");
  put_tools(out);
  rc = ember_svg_put(out, t, m, NULL, false, err);
  if (rc) goto done;
  put_tail(out, &json, "/render");
done:
  ember_buf_free(&json);
  return rc;
}

int ember_render_html_diff(ember_buf_t *out, const ember_tree_t *t,
                           const ember_render_meta_t *left,
                           const ember_render_meta_t *right, ember_err_t *err) {
  int rc = check_page(t, left, right, "the HTML diff page", err);
  if (rc) return rc;
  ember_buf_t json = EMBER_BUF_INIT;
  ember_render_meta_t whole = *left;
  whole.max_output = 0; /* the page as a whole was checked */
  rc = ember_render_double(&json, t, &whole, right, err);
  if (rc) goto done;
  const char *lq = left->query ? left->query : "";
  const char *rq = right->query ? right->query : "";
  ember_buf_reserve(out, json.len * 4 + 65536);
  put_head(out, "Diff");
  ember_buf_puts(out, "<h1>Diff: ");
  put_text(out, lq);
  ember_buf_puts(out, " &rarr; ");
  put_text(out, rq);
  ember_buf_puts(out, "</h1>\n<p class=\"meta\">Left: ");
  put_range(out, left, ember_tree_total(t, 0));
  ember_buf_puts(out, "<br>\nRight: ");
  put_range(out, right, ember_tree_total(t, 1));
  ember_buf_puts(out, "<br>\n");
  put_source(out, right);
  ember_buf_puts(out, " &middot; <span class=\"swatch\" style=\"background:");
  ember_color_put(out, EMBER_COLOR_DIFF + EMBER_COLOR_DIFF_STEPS);
  ember_buf_puts(out, "\"></span>larger share on the right <span class=\"swatch\" "
                      "style=\"background:");
  ember_color_put(out, EMBER_COLOR_DIFF - EMBER_COLOR_DIFF_STEPS);
  ember_buf_puts(out, "\"></span>smaller share on the right (full color from twice the "
                      "share on, or none left)</p>\n");
  put_tools(out);
  rc = ember_svg_put(out, t, left, right, false, err);
  if (rc) goto done;
  put_tail(out, &json, "/render-diff");
done:
  ember_buf_free(&json);
  return rc;
}
