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

/* The exact number of bytes ember_render_collapsed would append, saturating
 * at SIZE_MAX. Lets a caller refuse an export before building it: the text
 * repeats every path, so it grows with depth times nodes. */
size_t ember_collapsed_size(const ember_tree_t *t, int side);

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

/* maxNodes: a positive count or -1; default EMBER_QUERY_DEFAULT_MAX_NODES. */
int ember_param_max_nodes(const char *value, long *out, ember_err_t *err);

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

/* Appends the n bytes of s (any bytes) as XML/HTML character data, safe in
 * text and in quoted attributes: cleaned as above and with & < > " '
 * escaped. When the cleaned text has more than max_chars characters, only
 * the first max_chars - 2 are written, then "..". SIZE_MAX: no limit. */
void ember_xml_put(ember_buf_t *b, const char *s, size_t n, size_t max_chars);

/* Appends v with thousands separators: 1,234,567. */
void ember_fmt_count(ember_buf_t *b, uint64_t v);

/* Appends v with decimals (0 to 4) digits after the point, rounded; trim
 * drops trailing zeros and a bare point (10.50 -> 10.5, 3.00 -> 3). */
void ember_fmt_fixed(ember_buf_t *b, double v, int decimals, bool trim);

/* Appends Unix time t as "2023-11-14 22:13:20 UTC" (the bare number when
 * out of the calendar's range). */
void ember_fmt_utc(ember_buf_t *b, int64_t t);

/* ---- SVG (svg.c) ------------------------------------------------------- */

/* Appends the flame graph of t as SVG: side 0 alone when right is NULL,
 * else the diff of side 0 (described by left) and side 1 (right).
 * standalone adds the XML declaration a file needs and an HTML page must
 * not carry. */
void ember_svg_put(ember_buf_t *out, const ember_tree_t *t,
                   const ember_render_meta_t *left,
                   const ember_render_meta_t *right, bool standalone);

#endif
