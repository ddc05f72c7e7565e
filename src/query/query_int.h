/*
 * query_int.h - what the files of src/query/ share and nobody else needs.
 */
#ifndef EMBER_QUERY_INT_H
#define EMBER_QUERY_INT_H

#include "ember/query.h"
#include "ember/series.h"

/* Appends {"startTime":s,"samples":[...],"durationDelta":step} for grid g.
 * values holds g.n raw sums (NULL reads as all zero); each is written as 0
 * for no data, else 1 + the sum. */
void ember_timeline_put_json(ember_buf_t *out, ember_timeline_grid_t g,
                             const uint64_t *values);

/* ---- Limits ------------------------------------------------------------
 * Every renderer works out an upper bound of its output before it builds
 * any of it (so a refusal costs no memory), and looks at the deadline
 * every EMBER_QUERY_DEADLINE_STRIDE nodes or bars (often enough to stop
 * within milliseconds, rarely enough to cost nothing). */

#define EMBER_QUERY_DEADLINE_STRIDE 4096

/* EMBER_ETIMEOUT with a message naming what was being done (a gerund:
 * "laying out the flame graph") once the calling thread's deadline has
 * passed; looks only when i is a multiple of the stride. */
static inline int ember_query_deadline(size_t i, const char *doing, ember_err_t *err) {
  if (i % EMBER_QUERY_DEADLINE_STRIDE || !ember_deadline_passed()) return EMBER_OK;
  return ember_err_set(err, EMBER_ETIMEOUT,
                       "the query ran out of time while %s; narrow the time range "
                       "or the selector, or lower maxNodes",
                       doing);
}

/* EMBER_EINVAL when bound passes max (0: no limit), saying what would be
 * too large ("the SVG flame graph") and what to do. */
int ember_query_check_size(size_t bound, size_t max, const char *what, ember_err_t *err);

/* a + b, saturating at SIZE_MAX: bounds of absurd inputs stay absurd
 * instead of wrapping into small numbers. */
static inline size_t ember_size_add(size_t a, size_t b) {
  return a > SIZE_MAX - b ? SIZE_MAX : a + b;
}

static inline size_t ember_size_mul(size_t a, size_t b) {
  return a && b > SIZE_MAX / a ? SIZE_MAX : a * b;
}

/* Decimal digits of v. */
static inline size_t ember_digits(uint64_t v) {
  size_t d = 1;
  while (v >= 10)
    v /= 10, d++;
  return d;
}

/* At least the bytes ember_buf_put_json_string appends for the n bytes of
 * s; html counts every '<' as the six bytes of \u003c, as an HTML page
 * inlines the JSON. */
size_t ember_json_string_bound(const char *s, size_t n, bool html);

/* At least the bytes ember_render_single (nsides 1, right NULL) or
 * ember_render_double (nsides 2) append for t. */
size_t ember_flamebearer_bound(const ember_tree_t *t, const ember_render_meta_t *left,
                               const ember_render_meta_t *right, bool html);

/* At least the bytes ember_functions_put_json appends for f, and its key
 * (0 for NULL); html as for ember_json_string_bound. */
size_t ember_functions_bound(const ember_functions_t *f, bool html);

/* At least the bytes ember_svg_put appends for the same arguments. */
size_t ember_svg_bound(const ember_tree_t *t, const ember_render_meta_t *left,
                       const ember_render_meta_t *right);

/* The exact number of bytes ember_render_collapsed would append, saturating
 * at SIZE_MAX, into *out. Lets a caller refuse an export before building
 * it: the text repeats every path, so it grows with depth times nodes.
 * EMBER_ETIMEOUT when the deadline passes. */
int ember_collapsed_size(const ember_tree_t *t, int side, size_t *out, ember_err_t *err);

/* ---- Parameters (params.c) --------------------------------------------
 * Each writes its OUT parameter only on success; errors are EMBER_EINVAL
 * with a message naming the parameter. Values are borrowed, NULL or ""
 * when absent. */

/* True when the parameter was given with a non-empty value. */
bool ember_param_given(const char *v);

/* Parses a required FlameQL selector named param ("query", "leftQuery").
 * *out is the caller's to free with ember_selector_free. */
int ember_param_selector(const char *param, const char *value,
                         ember_selector_t *out, ember_err_t *err);

/* Parses a time expression, dflt ("now-1h", "now") when absent. */
int ember_param_time(const char *param, const char *value, const char *dflt,
                     int64_t now, int64_t *out, ember_err_t *err);

/* Parses from (default now-1h) and until (default now); from < until. */
int ember_param_range(const char *from_param, const char *from,
                      const char *until_param, const char *until, int64_t now,
                      int64_t *from_out, int64_t *until_out, ember_err_t *err);

/* maxNodes: a positive count or -1; default EMBER_QUERY_DEFAULT_MAX_NODES.
 * The result is at most limit (> 0): -1 and larger counts become limit,
 * and *clamped says so. */
int ember_param_max_nodes(const char *value, long limit, long *out, bool *clamped,
                          ember_err_t *err);

/* maxFunctions: a count of rows (0 for none) or -1; default
 * EMBER_QUERY_DEFAULT_MAX_FUNCTIONS. The result is at most limit (> 0):
 * -1 and larger counts become limit. */
int ember_param_max_functions(const char *value, long limit, size_t *out,
                              ember_err_t *err);

/* Content types of the responses. */
#define EMBER_QUERY_JSON "application/json"
#define EMBER_QUERY_TEXT "text/plain; charset=utf-8"
#define EMBER_QUERY_BINARY "application/octet-stream"
#define EMBER_QUERY_SVG "image/svg+xml"
#define EMBER_QUERY_HTML "text/html; charset=utf-8"

/* ---- Markup (markup.c) ------------------------------------------------- */

/* Number of characters of s once cleaned for XML: invalid UTF-8 counts as
 * one U+FFFD per byte, control characters (C0, DEL, C1) not at all. */
size_t ember_xml_chars(const char *s, size_t n);

/* The exact number of bytes ember_xml_put(b, s, n, SIZE_MAX) appends; an
 * elided copy is never longer than this plus 2. */
size_t ember_xml_size(const char *s, size_t n);

/* Appends the n bytes of s (any bytes) as XML/HTML character data, safe in
 * text and in quoted attributes: cleaned as above and with & < > " '
 * escaped. When the cleaned text has more than max_chars characters, only
 * the first max_chars - 2 are written, then "..". SIZE_MAX: no limit. */
void ember_xml_put(ember_buf_t *b, const char *s, size_t n, size_t max_chars);

/* Appends the n bytes of s cleaned as above, unescaped: the text a name
 * reads as once in a document, which labels are elided from. */
void ember_xml_clean(ember_buf_t *b, const char *s, size_t n);

/* Appends v with thousands separators: 1,234,567. */
void ember_fmt_count(ember_buf_t *b, uint64_t v);

/* Appends a sum of sample values as ember_fmt_count does, except that
 * UINT64_MAX, where sums saturate, reads as a lower bound that says so:
 * "at least 18,446,744,073,709,551,615 (the sum saturated)". At most
 * EMBER_FMT_SUM_MAX bytes. */
void ember_fmt_sum(ember_buf_t *b, uint64_t v);
#define EMBER_FMT_SUM_MAX 64

/* Appends v with decimals (0 to 4) digits after the point, rounded; trim
 * drops trailing zeros and a bare point (10.50 -> 10.5, 3.00 -> 3). */
void ember_fmt_fixed(ember_buf_t *b, double v, int decimals, bool trim);

/* Appends Unix time t as "2023-11-14 22:13:20 UTC" (the bare number when
 * out of the calendar's range). */
void ember_fmt_utc(ember_buf_t *b, int64_t t);

/* ---- Labels (label.c) --------------------------------------------------
 * The rule the web UI shortens frame labels by (web/js/label.js,
 * tests/data/labels.json). s is clean UTF-8 (ember_xml_clean). */

/* Code points of s. */
size_t ember_utf8_len(const char *s, size_t n);

/* Appends s shortened to at most max code points: whole when it fits,
 * else without its argument list or location, else an ellipsis and the
 * end of the name as long as the function fits whole, else the function
 * alone or its start and an ellipsis; nothing when max < 2. */
void ember_label_elide(ember_buf_t *out, const char *s, size_t n, size_t max);

/* Length of s without its suffix (" (file:line)", "(args) const",
 * "::h<16 hex>"), and where its function starts within that: the steps of
 * the rule, for tests. */
size_t ember_label_strip(const char *s, size_t n);
size_t ember_label_function(const char *s, size_t n);

/* The same rule in JavaScript, for the script inside the SVG (which
 * re-elides labels after a zoom): defines function emberElide(name, max).
 * Plain ECMAScript 5, no outside references. */
extern const char ember_label_script[];
/* At least strlen(ember_label_script) (checked by the tests). */
#define EMBER_LABEL_SCRIPT_MAX 8192

/* ---- Colors (colors.c) -------------------------------------------------
 * The web UI's frame colors (web/js/colors.js, light theme,
 * tests/data/colors.json). A color is a palette index: a hue, OTHER, ROOT,
 * or EMBER_COLOR_DIFF plus a diff step. */

#define EMBER_COLOR_HUES 24
#define EMBER_COLOR_OTHER EMBER_COLOR_HUES
#define EMBER_COLOR_ROOT (EMBER_COLOR_HUES + 1)
#define EMBER_COLOR_DIM (EMBER_COLOR_HUES + 2) /* frames outside a search */
#define EMBER_COLOR_DIFF_STEPS 10
#define EMBER_COLOR_DIFF (EMBER_COLOR_HUES + 3 + EMBER_COLOR_DIFF_STEPS) /* no change */

/* The part of a frame name that names its package, module, class or file
 * (a part of name). */
ember_slice_t ember_color_package(ember_slice_t name);
/* The hue of a frame name: 0 to EMBER_COLOR_HUES - 1. */
int ember_color_hue(ember_slice_t name);
/* How much a frame's share grew from the left side to the right: +0.5 is
 * half again as much; INFINITY for a frame on the right only, -1 for one
 * on the left only. */
double ember_color_change(uint64_t ltotal, uint64_t rtotal, uint64_t lticks,
                          uint64_t rticks);
/* -EMBER_COLOR_DIFF_STEPS (much less on the right) to +EMBER_COLOR_DIFF_STEPS:
 * 0 under 2%, saturated from +-100%. */
int ember_color_diff_step(double change);
/* The color's HSL: hue in degrees, saturation and lightness in percent. */
void ember_color_hsl(int color, int *h, int *s, int *l);
/* Appends the color as "#rrggbb". */
void ember_color_put(ember_buf_t *b, int color);

/* ---- Units (units.c) ---------------------------------------------------
 * The rule the web UI formats values by (web/js/units.js,
 * tests/data/units.json). */

/* Appends v in the units of its profile type: samples at sample_rate > 0
 * as time, durations, bytes in binary units, counts with their names.
 * full adds the sample count to a time from samples ("2.50 s (250
 * samples)") and writes counts whole ("45,600 objects" for "45.6 k
 * objects"). units NULL or "" reads as samples. Not escaped. */
void ember_fmt_units(ember_buf_t *b, double v, const char *units, uint32_t sample_rate,
                     bool full);

/* ember_fmt_sum_units is in ember/query.h: the comparison of profiles
 * writes its totals the same way. */

/* ---- SVG (svg.c) ------------------------------------------------------- */

/* Appends the flame graph of t as SVG: side 0 alone when right is NULL,
 * else the diff of side 0 (described by left) and side 1 (right).
 * standalone adds the XML declaration a file needs and an HTML page must
 * not carry. EMBER_ETIMEOUT when the deadline passes; the caller checks
 * the size (ember_svg_bound). */
int ember_svg_put(ember_buf_t *out, const ember_tree_t *t,
                  const ember_render_meta_t *left, const ember_render_meta_t *right,
                  bool standalone, ember_err_t *err);

#endif
