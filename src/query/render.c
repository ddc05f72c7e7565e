/*
 * render.c - the requests behind /render and /render-diff: check every
 * parameter first, then read the tree and the timeline of each selection
 * from the store, truncate, and encode.
 *
 * Nothing is read before all parameters are known to be good, so a typo
 * costs no I/O. Everything one request reads (metadata, trees and
 * timelines of both sides) comes from one store read session, so the graph
 * and its timeline describe the same data even while pushes land. What a
 * response may cost is bounded twice: maxNodes is lowered to the server's
 * limit (-1 means that limit), and every format refuses, before building
 * anything, output that would pass max_output.
 *
 * An app the store does not know renders as an empty flame graph with
 * default metadata (Pyroscope's behaviour, and what a UI wants for a query
 * typed before the first push).
 */
#include "query_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ---- Types ------------------------------------------------------------- */

/* One selection (the only one of /render, one side of /render-diff) and
 * what the store said about it. Owns everything. */
typedef struct {
  ember_selector_t sel;
  ember_buf_t query; /* normalised text */
  int64_t from, until;
  bool known;        /* the store has the app */
  ember_app_info_t app;
  ember_timeline_grid_t grid;
  uint64_t *timeline;
} side_t;

typedef enum { FMT_JSON, FMT_COLLAPSED, FMT_PPROF, FMT_SVG, FMT_HTML } format_t;

/* ---- Sides ------------------------------------------------------------- */

static void side_free(side_t *sd) {
  ember_selector_free(&sd->sel);
  ember_buf_free(&sd->query);
  ember_app_info_free(&sd->app);
  free(sd->timeline);
}

/* Parses a side's query and range. */
static int side_parse(side_t *sd, const char *qname, const char *q,
                      const char *fname, const char *from, const char *uname,
                      const char *until, int64_t now, ember_err_t *err) {
  int rc = ember_param_selector(qname, q, &sd->sel, err);
  if (rc) return rc;
  ember_selector_format(&sd->sel, &sd->query);
  return ember_param_range(fname, from, uname, until, now, &sd->from, &sd->until,
                           err);
}

/* Asks the store for the app's metadata; unknown is not an error. */
static int side_lookup(ember_store_reader_t *r, side_t *sd, ember_err_t *err) {
  int rc = ember_store_reader_app(r, sd->sel.app, &sd->app, err);
  if (rc == EMBER_ENOTFOUND) {
    ember_err_clear(err);
    return EMBER_OK;
  }
  if (rc == EMBER_OK) sd->known = true;
  return rc;
}

/* Reads the side's samples into side `side` of sums, and its timeline. An
 * app deleted since side_lookup reads as empty. */
static int side_read(ember_store_reader_t *r, side_t *sd, ember_store_sums_t *sums,
                     int side, ember_err_t *err) {
  sd->grid = ember_timeline_grid(sd->from, sd->until);
  sd->timeline = ember_calloc(sd->grid.n ? sd->grid.n : 1, sizeof *sd->timeline);
  if (!sd->known) return EMBER_OK;
  int rc = ember_store_reader_sums(r, &sd->sel, sd->from, sd->until, sums, side, err);
  if (rc == EMBER_OK)
    rc = ember_store_reader_timeline(r, &sd->sel, sd->grid.start, sd->grid.step,
                                     sd->timeline, sd->grid.n, err);
  if (rc == EMBER_ENOTFOUND) {
    ember_err_clear(err);
    return EMBER_OK;
  }
  return rc;
}

/* How many nodes to draw, and how large a body may grow. */
typedef struct {
  long max_nodes;
  bool clamped; /* the request asked for more than the server's limit */
  size_t max_functions;
  size_t max_output;
} limits_t;

/* The function table is bounded by the same limit as the graph: both are
 * rows a response carries. */
static int parse_limits(const char *max_nodes, const char *max_functions, long limit,
                        size_t max_output, limits_t *out, ember_err_t *err) {
  if (limit <= 0) limit = EMBER_QUERY_MAX_NODES_LIMIT;
  out->max_output = max_output ? max_output : EMBER_QUERY_MAX_OUTPUT;
  int rc = ember_param_max_nodes(max_nodes, limit, &out->max_nodes, &out->clamped, err);
  return rc ? rc : ember_param_max_functions(max_functions, limit, &out->max_functions, err);
}

/* The metadata a side renders with; info supplies spy name, rate and units
 * (defaults when NULL). Borrows from sd. */
static ember_render_meta_t side_meta(const side_t *sd, const ember_app_info_t *info,
                                     const limits_t *lim) {
  ember_render_meta_t m;
  memset(&m, 0, sizeof m);
  m.app_name = sd->sel.app;
  m.query = sd->query.data;
  m.spy_name = info ? info->spy_name : "unknown";
  m.sample_rate = info ? info->sample_rate : 100;
  m.units = info ? info->units : "samples";
  m.from = sd->from;
  m.until = sd->until;
  m.max_nodes = lim->max_nodes;
  m.max_nodes_clamped = lim->clamped;
  m.max_output = lim->max_output;
  m.timeline = sd->timeline;
  m.grid = sd->grid;
  return m;
}

/* ---- Parameters -------------------------------------------------------- */

/* single: /render (which answers every format) rather than /render-diff
 * (whose two sides fold into no single collapsed text or pprof). */
static int parse_format(const char *f, bool single, format_t *out, ember_err_t *err) {
  static const struct {
    const char *name;
    format_t fmt;
    bool single_only;
  } formats[] = {{"json", FMT_JSON, false},
                 {"collapsed", FMT_COLLAPSED, true},
                 {"pprof", FMT_PPROF, true},
                 {"svg", FMT_SVG, false},
                 {"html", FMT_HTML, false}};
  const char *use = single ? "json, collapsed, pprof, svg or html" : "json, svg or html";
  if (!ember_param_given(f)) {
    *out = FMT_JSON;
    return EMBER_OK;
  }
  for (size_t i = 0; i < sizeof formats / sizeof *formats; i++)
    if (!strcmp(f, formats[i].name) && (single || !formats[i].single_only)) {
      *out = formats[i].fmt;
      return EMBER_OK;
    }
  return ember_err_set(err, EMBER_EINVAL, "unknown format '%.40s'; use %s", f, use);
}

/* 400 when both apps are known and their values cannot share one graph. */
static int check_comparable(const side_t *l, const side_t *r, ember_err_t *err) {
  if (!l->known || !r->known) return EMBER_OK;
  if (strcmp(l->app.units, r->app.units))
    return ember_err_set(err, EMBER_EINVAL,
                         "cannot compare different units: the left query ('%s') "
                         "counts %s, the right ('%s') %s; compare profiles of the "
                         "same kind",
                         l->sel.app, l->app.units, r->sel.app, r->app.units);
  if (l->app.sample_rate != r->app.sample_rate)
    return ember_err_set(err, EMBER_EINVAL,
                         "cannot compare different sample rates: the left query "
                         "('%s') is sampled at %u Hz, the right ('%s') at %u Hz; "
                         "compare profiles taken at the same rate",
                         l->sel.app, l->app.sample_rate, r->sel.app,
                         r->app.sample_rate);
  return EMBER_OK;
}

/* ---- Encoding ---------------------------------------------------------- */

/* Whether a format carries the /render JSON (and so the function table):
 * json itself, and html, which inlines it. */
static bool carries_json(format_t f) { return f == FMT_JSON || f == FMT_HTML; }

/* The tree to draw into *shown (stored in *t): the sums cut to max_nodes
 * as they become a tree, so the nodes no graph would show are never built;
 * and, when fns is not NULL, the function table of the whole tree (nsides
 * sides, the first max_functions), summed by the store on the way, its
 * names in *names (which fns borrows).
 * The store's reads may have used up the time: that is looked at first. */
static int fit(ember_store_sums_t *sums, long max_nodes, int nsides, size_t max_functions,
               ember_functions_t *fns, ember_tree_t **names, ember_tree_t **t,
               const ember_tree_t **shown, ember_err_t *err) {
  ember_store_functions_t all = {NULL, 0, NULL};
  int rc = ember_query_deadline(0, "reading the profiles", err);
  if (!rc) rc = ember_store_sums_tree(sums, max_nodes, t, fns ? &all : NULL, err);
  if (!rc && fns) {
    uint64_t totals[EMBER_TREE_SIDES] = {ember_tree_total(*t, 0), ember_tree_total(*t, 1)};
    *names = all.names;
    rc = ember_functions_rank(all.names, totals, all.items, all.n, nsides, max_functions,
                              fns, err);
  }
  if (!rc) *shown = *t;
  return rc;
}

/* ---- File names -------------------------------------------------------- */

/* Appends s (at most max bytes of it) as a piece of a file name: runs of
 * anything but letters, digits, '.' and '-' become one '_', none at
 * either end. ride.cpu{region="eu-north"} reads ride.cpu_region_eu-north. */
static void put_slug(ember_buf_t *b, const char *s, size_t max) {
  size_t start = b->len;
  bool gap = false;
  for (const char *p = s; *p && b->len - start < max; p++) {
    char c = *p;
    bool keep = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                c == '.' || c == '-';
    if (!keep) {
      gap = b->len > start;
      continue;
    }
    if (gap) ember_buf_putc(b, '_');
    gap = false;
    ember_buf_putc(b, c);
  }
  if (b->len == start) ember_buf_puts(b, "profile");
}

/* "20231114T221320Z", or the bare number out of the calendar's range. */
static void put_stamp(ember_buf_t *b, int64_t t) {
  struct tm tm;
  time_t tt = (time_t)t;
  char s[32];
  if ((int64_t)tt == t && gmtime_r(&tt, &tm) && strftime(s, sizeof s, "%Y%m%dT%H%M%SZ", &tm))
    ember_buf_puts(b, s);
  else
    ember_buf_put_i64(b, t);
}

static const char *extension(format_t f) {
  switch (f) {
  case FMT_COLLAPSED: return ".folded.txt";
  case FMT_PPROF: return ".pb.gz";
  case FMT_SVG: return ".svg";
  case FMT_HTML: return ".html";
  default: return "";
  }
}

static void set_filename(ember_query_out_t *out, const ember_buf_t *name, format_t f) {
  snprintf(out->filename, sizeof out->filename, "%.*s%s",
           (int)(name->len < sizeof out->filename - 16 ? name->len
                                                       : sizeof out->filename - 16),
           name->data, extension(f));
}

/* An export of one selection is named after its query. */
static void name_single(ember_query_out_t *out, const side_t *sd, format_t f) {
  ember_buf_t n = EMBER_BUF_INIT;
  put_slug(&n, sd->query.data, 150);
  set_filename(out, &n, f);
  ember_buf_free(&n);
}

/* A diff names both sides: diff_<left>_vs_<right>, the right without the
 * app when both read the same app; two ranges of one query are named by
 * their start times instead. */
static void name_diff(ember_query_out_t *out, const side_t *l, const side_t *r,
                      format_t f) {
  ember_buf_t n = EMBER_BUF_INIT;
  ember_buf_puts(&n, "diff_");
  put_slug(&n, l->query.data, 80);
  if (!strcmp(l->query.data, r->query.data)) {
    ember_buf_putc(&n, '_');
    put_stamp(&n, l->from);
    ember_buf_puts(&n, "_vs_");
    put_stamp(&n, r->from);
  } else {
    const char *rq = r->query.data;
    size_t app = strlen(l->sel.app);
    if (!strcmp(l->sel.app, r->sel.app) && rq[app] == '{' && rq[app + 1] != '}') rq += app;
    ember_buf_puts(&n, "_vs_");
    put_slug(&n, rq, 80);
  }
  set_filename(out, &n, f);
  ember_buf_free(&n);
}

/* ---- API --------------------------------------------------------------- */

int ember_query_render(ember_store_t *s, const ember_render_params_t *p,
                       ember_query_out_t *out, ember_err_t *err) {
  side_t sd;
  memset(&sd, 0, sizeof sd);
  ember_tree_t *t = NULL, *fnames = NULL;
  ember_store_sums_t *sums = NULL;
  const ember_tree_t *shown = NULL;
  ember_functions_t fns = {0};
  ember_store_reader_t *r = NULL;
  ember_query_out_t res = {EMBER_BUF_INIT, EMBER_QUERY_JSON, ""};
  format_t fmt;
  limits_t lim;
  const char *q = ember_param_given(p->query) ? p->query : p->name;
  int rc = side_parse(&sd, "query", q, "from", p->from, "until", p->until, p->now, err);
  if (!rc)
    rc = parse_limits(p->max_nodes, p->max_functions, p->max_nodes_limit, p->max_output,
                      &lim, err);
  if (!rc) rc = parse_format(p->format, true, &fmt, err);
  if (!rc) rc = ember_store_reader_open(s, &r, err);
  if (!rc) rc = side_lookup(r, &sd, err);
  if (rc) goto done;
  sums = ember_store_sums_new();
  rc = side_read(r, &sd, sums, 0, err);
  /* Encoding needs no snapshot: let it go. */
  ember_store_reader_close(r);
  r = NULL;
  if (!rc)
    rc = fit(sums, lim.max_nodes, 1, lim.max_functions, carries_json(fmt) ? &fns : NULL,
             &fnames, &t, &shown, err);
  if (rc) goto done;
  ember_render_meta_t m = side_meta(&sd, sd.known ? &sd.app : NULL, &lim);
  if (carries_json(fmt)) m.functions = &fns;
  switch (fmt) {
  case FMT_COLLAPSED:
    rc = ember_render_collapsed(&res.body, shown, 0, m.max_output, err);
    res.content_type = EMBER_QUERY_TEXT;
    break;
  case FMT_PPROF:
    rc = ember_render_pprof(&res.body, shown, &m, err);
    res.content_type = EMBER_QUERY_BINARY;
    break;
  case FMT_SVG:
    rc = ember_render_svg(&res.body, shown, &m, err);
    res.content_type = EMBER_QUERY_SVG;
    break;
  case FMT_HTML:
    rc = ember_render_html(&res.body, shown, &m, err);
    res.content_type = EMBER_QUERY_HTML;
    break;
  default: rc = ember_render_single(&res.body, shown, &m, err);
  }
  if (rc) goto done;
  if (fmt != FMT_JSON) name_single(&res, &sd, fmt);
  *out = res;
  memset(&res, 0, sizeof res);
done:
  ember_store_reader_close(r);
  ember_buf_free(&res.body);
  ember_functions_free(&fns);
  ember_tree_free(fnames);
  ember_tree_free(t);
  ember_store_sums_free(sums);
  side_free(&sd);
  return rc;
}

int ember_query_render_diff(ember_store_t *s, const ember_diff_params_t *p,
                            ember_query_out_t *out, ember_err_t *err) {
  side_t l, r;
  memset(&l, 0, sizeof l);
  memset(&r, 0, sizeof r);
  ember_tree_t *t = NULL, *fnames = NULL;
  ember_store_sums_t *sums = NULL;
  const ember_tree_t *shown = NULL;
  ember_functions_t fns = {0};
  ember_store_reader_t *rd = NULL;
  ember_query_out_t res = {EMBER_BUF_INIT, EMBER_QUERY_JSON, ""};
  format_t fmt;
  limits_t lim;
  int rc = side_parse(&l, "leftQuery", p->left_query, "leftFrom", p->left_from,
                      "leftUntil", p->left_until, p->now, err);
  if (!rc)
    rc = side_parse(&r, "rightQuery", p->right_query, "rightFrom", p->right_from,
                    "rightUntil", p->right_until, p->now, err);
  if (!rc)
    rc = parse_limits(p->max_nodes, p->max_functions, p->max_nodes_limit, p->max_output,
                      &lim, err);
  if (!rc) rc = parse_format(p->format, false, &fmt, err);
  if (!rc) rc = ember_store_reader_open(s, &rd, err);
  if (!rc) rc = side_lookup(rd, &l, err);
  if (!rc) rc = side_lookup(rd, &r, err);
  if (!rc) rc = check_comparable(&l, &r, err);
  if (rc) goto done;
  sums = ember_store_sums_new();
  rc = side_read(rd, &l, sums, 0, err);
  if (!rc) rc = side_read(rd, &r, sums, 1, err);
  ember_store_reader_close(rd);
  rd = NULL;
  if (!rc)
    rc = fit(sums, lim.max_nodes, 2, lim.max_functions, carries_json(fmt) ? &fns : NULL,
             &fnames, &t, &shown, err);
  if (rc) goto done;
  /* One side may be unknown: both then describe themselves with the known
   * side's spy name, rate and units. */
  const ember_app_info_t *info = l.known ? &l.app : r.known ? &r.app : NULL;
  ember_render_meta_t lm = side_meta(&l, info, &lim);
  ember_render_meta_t rm = side_meta(&r, info, &lim);
  if (carries_json(fmt)) lm.functions = &fns;
  switch (fmt) {
  case FMT_SVG:
    rc = ember_render_svg_diff(&res.body, shown, &lm, &rm, err);
    res.content_type = EMBER_QUERY_SVG;
    break;
  case FMT_HTML:
    rc = ember_render_html_diff(&res.body, shown, &lm, &rm, err);
    res.content_type = EMBER_QUERY_HTML;
    break;
  default: rc = ember_render_double(&res.body, shown, &lm, &rm, err);
  }
  if (rc) goto done;
  if (fmt != FMT_JSON) name_diff(&res, &l, &r, fmt);
  *out = res;
  memset(&res, 0, sizeof res);
done:
  ember_store_reader_close(rd);
  ember_buf_free(&res.body);
  ember_functions_free(&fns);
  ember_tree_free(fnames);
  ember_tree_free(t);
  ember_store_sums_free(sums);
  side_free(&l);
  side_free(&r);
  return rc;
}
