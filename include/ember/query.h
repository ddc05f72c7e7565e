/*
 * query.h - the read side: from the parameters of /render, /render-diff,
 * /labels, /label-values and /api/apps to response bodies.
 *
 * Two layers. The request functions (ember_query_*) validate parameters,
 * ask the store, truncate and encode; the HTTP layer only maps their return
 * code to a status. The render functions below them are pure (tree in,
 * bytes out) and are what the unit tests and benchmarks drive directly.
 */
#ifndef EMBER_QUERY_H
#define EMBER_QUERY_H

#include "ember/common.h"
#include "ember/store.h"
#include "ember/tree.h"

#define EMBER_QUERY_DEFAULT_MAX_NODES 8192
/* The most nodes a response may draw unless the server says otherwise
 * (`ember serve --max-nodes`): maxNodes=-1 means this many, larger values
 * are lowered to it. */
#define EMBER_QUERY_MAX_NODES_LIMIT 65536
/* The largest response body a render builds unless told otherwise: each
 * format's size is bounded before it is built, and one that would pass
 * this is refused (lower maxNodes or narrow the range). */
#define EMBER_QUERY_MAX_OUTPUT ((size_t)128 << 20)
#define EMBER_TIMELINE_MAX_POINTS 1024
/* Rows of the function table a response carries unless asked otherwise
 * (maxFunctions); like maxNodes, never more than the server's node limit. */
#define EMBER_QUERY_DEFAULT_MAX_FUNCTIONS 5000

/* ---- Requests ---------------------------------------------------------- */

/* A response body, its media type (a static string) and, for an export
 * (svg, html, pprof, collapsed), the file name to save it as: letters,
 * digits, '.', '_' and '-' only, so it needs no quoting; "" otherwise. */
#define EMBER_QUERY_FILENAME_MAX 192
typedef struct {
  ember_buf_t body;
  const char *content_type;
  char filename[EMBER_QUERY_FILENAME_MAX];
} ember_query_out_t;

/* /render parameters as received (borrowed, NULL when absent), and the
 * server's limits (0 for the defaults). */
typedef struct {
  const char *query;     /* FlameQL */
  const char *name;      /* legacy spelling of query */
  const char *from;      /* default now-1h */
  const char *until;     /* default now */
  const char *max_nodes; /* "maxNodes" or "max-nodes"; -1 = the server's limit */
  const char *max_functions; /* "maxFunctions"; -1 = the server's limit */
  const char *format;    /* json (default) | collapsed | pprof | html | svg */
  int64_t now;
  long max_nodes_limit; /* 0: EMBER_QUERY_MAX_NODES_LIMIT */
  size_t max_output;    /* 0: EMBER_QUERY_MAX_OUTPUT */
} ember_render_params_t;

/* /render-diff parameters as received, and the server's limits. */
typedef struct {
  const char *left_query, *left_from, *left_until;
  const char *right_query, *right_from, *right_until;
  const char *max_nodes;
  const char *max_functions;
  const char *format; /* json (default) | svg | html */
  int64_t now;
  long max_nodes_limit; /* 0: EMBER_QUERY_MAX_NODES_LIMIT */
  size_t max_output;    /* 0: EMBER_QUERY_MAX_OUTPUT */
} ember_diff_params_t;

/* /api/explore parameters as received (borrowed, NULL when absent). */
typedef struct {
  const char *query;    /* FlameQL, required */
  const char *group_by; /* the label key to split by, required */
  const char *from;     /* default now-1h */
  const char *until;    /* default now */
  const char *top;      /* values listed apart, 1 to 100, default 10 */
  int64_t now;
  size_t max_output; /* 0: EMBER_QUERY_MAX_OUTPUT */
} ember_explore_params_t;

/* Each fills out (caller frees out->body) and returns 0, or an error code
 * with err set: EMBER_EINVAL for bad parameters and for a response that
 * would pass max_output, EMBER_ETIMEOUT when the calling thread's deadline
 * (ember_deadline_set) passes, EMBER_EIO for storage failures. An unknown
 * app renders as an empty result, not an error. */
int ember_query_render(ember_store_t *s, const ember_render_params_t *p,
                       ember_query_out_t *out, ember_err_t *err);
int ember_query_render_diff(ember_store_t *s, const ember_diff_params_t *p,
                            ember_query_out_t *out, ember_err_t *err);
/* The tag explorer: the selection's timeline split by the values of one
 * label (top N, the rest as other, series without it as missing), each
 * with its total, share, average and peak per step, from the stored
 * per-bucket totals. */
int ember_query_explore(ember_store_t *s, const ember_explore_params_t *p,
                        ember_query_out_t *out, ember_err_t *err);
/* JSON array of label keys, "__name__" first. */
int ember_query_labels(ember_store_t *s, const char *query,
                       ember_query_out_t *out, ember_err_t *err);
/* JSON array of the values of label; label "__name__" lists app names. */
int ember_query_label_values(ember_store_t *s, const char *label,
                             const char *query, ember_query_out_t *out,
                             ember_err_t *err);
/* JSON array of {"name","spyName","sampleRate","units"} objects. */
int ember_query_apps(ember_store_t *s, ember_query_out_t *out, ember_err_t *err);

/* ---- Timeline ---------------------------------------------------------- */

/* The timeline grid for [from, until): step is 10 s, or the smallest of
 * 100, 1000, ... that keeps the point count at or under
 * EMBER_TIMELINE_MAX_POINTS; start is from rounded down to a step. */
typedef struct {
  int64_t start;
  int64_t step;
  size_t n;
} ember_timeline_grid_t;

ember_timeline_grid_t ember_timeline_grid(int64_t from, int64_t until);

/* ---- Function table ---------------------------------------------------- */

/* (ember_function_t, one function's sums, is tree.h's.) */

/* The ranked functions of a tree. Owns items; borrows tree (whose names
 * the items use) until it is freed. */
typedef struct {
  const ember_tree_t *tree;
  int nsides;              /* 1: side 0; 2: side 0 left and side 1 right */
  ember_function_t *items; /* the first n by rank */
  size_t n;
  size_t count;            /* distinct functions with a value: n < count when cut */
} ember_functions_t;

/* Computes the function table of t's whole tree, every node but the root:
 * with nsides 1 ranked by self (descending), with nsides 2 by the change
 * of the self share of the side's total, in percentage points, largest
 * first (ties: larger values first, then name bytes). Keeps the first max.
 * *out (freed with ember_functions_free) written only on success;
 * EMBER_ETIMEOUT when the deadline passes. O(nodes + names log names). */
int ember_functions_compute(const ember_tree_t *t, int nsides, size_t max,
                            ember_functions_t *out, ember_err_t *err);
void ember_functions_free(ember_functions_t *f); /* NULL is accepted */
/* The same ranking of sums already made (ember_tree_functions, or the
 * store's ember_store_sums_tree): their names are those of `names`, which
 * out borrows; totals[s] is side s's total (the share a diff ranks by).
 * all (n of them) is consumed. */
int ember_functions_rank(const ember_tree_t *names, const uint64_t *totals,
                         ember_function_t *all, size_t n, int nsides, size_t max,
                         ember_functions_t *out, ember_err_t *err);

/* Appends {"count":N,"truncated":B,"items":[{"name","self","total"}...]},
 * self and total as [left,right] for two sides. */
void ember_functions_put_json(ember_buf_t *out, const ember_functions_t *f);

/* ---- Values ------------------------------------------------------------ */

/* Appends a sum of values in the units of its profile type, as the web UI
 * writes it: samples at sample_rate > 0 as time with the count beside it
 * ("2.50 s (250 samples)"), durations, bytes in binary units, counts with
 * their names; the count written exact. UINT64_MAX, where sums saturate,
 * reads as "at least 18,446,744,073,709,551,615 <units> (the sum
 * saturated)". units NULL or "" reads as samples. Not escaped. */
void ember_fmt_sum_units(ember_buf_t *b, uint64_t v, const char *units,
                         uint32_t sample_rate);

/* ---- Rendering (pure) -------------------------------------------------- */

/* What the metadata and timeline of a flamebearer response say, and how
 * large the response may grow. Strings borrowed. */
typedef struct {
  const char *app_name;    /* "app.cpu" */
  const char *query;       /* normalised FlameQL */
  const char *spy_name;
  uint32_t sample_rate;
  const char *units;
  int64_t from, until;
  long max_nodes;           /* the truncation applied */
  bool max_nodes_clamped;   /* the request asked for more than the limit */
  const uint64_t *timeline; /* raw sums per step, NULL for none */
  ember_timeline_grid_t grid;
  size_t max_output; /* largest body a render may build; 0: no limit */
  /* The function table the JSON carries as "functions" (computed from the
   * untruncated tree, which it borrows); NULL: none. The diff renderers
   * read the left side's. */
  const ember_functions_t *functions;
} ember_render_meta_t;

/* The renderers below are pure (tree in, bytes appended to out) and share
 * two rules. Each works out an upper bound of what it would append before
 * building any of it, and refuses with EMBER_EINVAL when that passes
 * m->max_output (the diff renderers read the left side's), leaving out
 * unchanged. And each checks the calling thread's deadline
 * (ember_deadline_passed) as it goes, returning EMBER_ETIMEOUT once it has
 * passed; out may then hold part of the document. */

/* Appends the /render JSON document for a (truncated) single tree. */
int ember_render_single(ember_buf_t *out, const ember_tree_t *t,
                        const ember_render_meta_t *m, ember_err_t *err);

/* Appends the /render-diff JSON document for a tree whose side 0 is the left
 * and side 1 the right selection. */
int ember_render_double(ember_buf_t *out, const ember_tree_t *t,
                        const ember_render_meta_t *left, const ember_render_meta_t *right,
                        ember_err_t *err);

/* Appends a standalone interactive SVG flame graph of side 0 of t (hover
 * titles, click to zoom, search): what format=svg answers. */
int ember_render_svg(ember_buf_t *out, const ember_tree_t *t,
                     const ember_render_meta_t *m, ember_err_t *err);

/* Appends the diff flame graph of a tree whose side 0 is the left and side 1
 * the right selection, bars colored by the change of their share. */
int ember_render_svg_diff(ember_buf_t *out, const ember_tree_t *t,
                          const ember_render_meta_t *left,
                          const ember_render_meta_t *right, ember_err_t *err);

/* Appends one standalone HTML page: a header naming the selection, the SVG
 * flame graph, a search box, and the /render JSON inlined in
 * <script type="application/json" id="flamebearer">. No outside resources,
 * so a saved page works offline. */
int ember_render_html(ember_buf_t *out, const ember_tree_t *t,
                      const ember_render_meta_t *m, ember_err_t *err);

/* The same for a diff: the diff SVG and the /render-diff JSON. */
int ember_render_html_diff(ember_buf_t *out, const ember_tree_t *t,
                           const ember_render_meta_t *left,
                           const ember_render_meta_t *right, ember_err_t *err);

/* Appends one "frame;frame;leaf value" line per node with a non-zero self on
 * side, depth first, children sorted by name; refused past max_output
 * bytes (0: no limit). */
int ember_render_collapsed(ember_buf_t *out, const ember_tree_t *t, int side,
                           size_t max_output, ember_err_t *err);

/* Appends side 0 of t as a gzipped pprof profile: one sample per node with
 * a self value, sample types from m->units (samples also as cpu or wall
 * nanoseconds at m->sample_rate), times from m->from and m->until. */
int ember_render_pprof(ember_buf_t *out, const ember_tree_t *t,
                       const ember_render_meta_t *m, ember_err_t *err);

#endif
