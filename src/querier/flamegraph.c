/*
 * flamegraph.c - the methods that merge profiles: SelectMergeStacktraces
 * (a FlameGraph), Diff (a FlameGraphDiff) and SelectMergeProfile (pprof).
 *
 * Each reads the trees of its targets (select.c) from one store snapshot,
 * as /render reads one app's, keeps the stacks under a call site when
 * asked, and cuts the tree to max_nodes with ember_tree_truncate, so a
 * graph of one app is /render's graph node for node. A profile type in
 * nanoseconds of an app counted in samples multiplies every value by the
 * sampling period: at encoding when every target has the same period
 * (always, for one app), else while merging, app by app.
 *
 * The levels are laid out as /render's flamebearer lays them out (docs/
 * API.md): level by level, children in name order ("other" last) starting
 * after their parent's self, each node as [x gap, total, self, name]
 * (seven numbers for a diff, both sides' first), x written as the gap
 * since the previous node of the level ended. Names are numbered in the
 * order they are first met, "total" first.
 */
#include <stdlib.h>
#include <string.h>

#include "querier/querier_int.h"

/* ---- Types ------------------------------------------------------------- */

/* One selection of a request (Diff has two) and what it picks. Owns qs. */
typedef struct {
  q_select_t qs;
  int64_t from, until;
  const char *type_id;
  const Types__V1__StackTraceSelector *sts;
} side_t;

/* A tree laid out level by level. Owns its arrays. */
typedef struct {
  int nsides;
  uint32_t *order;   /* node ids, level after level, each level in x order */
  uint64_t *x;       /* where each node starts, nsides per node */
  size_t n;
  size_t *level_end; /* level d ends before level_end[d] */
  size_t nlevels;
} layout_t;

/* ---- Arithmetic ----------------------------------------------------------- */

static uint64_t sat_mul(uint64_t a, uint64_t b) {
  return a && b > UINT64_MAX / a ? UINT64_MAX : a * b;
}

/* A value in the answer: scaled, and within int64 (where it saturates). */
static int64_t out_value(uint64_t v, uint64_t scale) {
  uint64_t s = sat_mul(v, scale);
  return s > INT64_MAX ? INT64_MAX : (int64_t)s;
}

/* ---- Reading -------------------------------------------------------------- */

static int side_parse(const char *type_id, const char *selector, int64_t start,
                      int64_t end, const Types__V1__StackTraceSelector *sts,
                      size_t n_ids, side_t *sd, ember_err_t *err) {
  bool any;
  sd->type_id = type_id;
  sd->sts = sts;
  int rc = q_type_id(type_id, err);
  if (!rc) rc = q_range(start, end, true, &sd->from, &sd->until, &any, err);
  if (!rc) rc = q_unsupported(sts, n_ids, err);
  if (!rc) rc = q_select_parse("label_selector", selector, &sd->qs, err);
  return rc;
}

/* Adds every value of src (side 0) times scale into side `side` of dst,
 * node by node along the paths of names. */
static int merge_scaled(ember_tree_t *dst, int side, const ember_tree_t *src,
                        uint64_t scale, ember_err_t *err) {
  size_t n = ember_tree_count(src);
  uint32_t *map = ember_malloc(n * sizeof *map);
  int rc = EMBER_OK;
  map[0] = EMBER_TREE_ROOT;
  for (uint32_t id = 0; id < n && !rc; id++) {
    const ember_tree_node_t *nd = ember_tree_node(src, id);
    if (id) {
      ember_slice_t name = ember_tree_name(src, nd->name);
      map[id] = ember_tree_child(dst, map[nd->parent],
                                 ember_tree_intern(dst, name.base, name.len));
    }
    if (nd->self[0]) ember_tree_add(dst, map[id], side, sat_mul(nd->self[0], scale));
    if (id % 4096 == 0 && ember_deadline_passed())
      rc = ember_err_set(err, EMBER_ETIMEOUT,
                         "the query ran out of time while merging the profiles; narrow "
                         "the time range or the selector");
  }
  free(map);
  return rc;
}

/* Reads the side's targets into side `side` of t: raw values, or each app
 * times its type's scale when scaled. */
static int side_read(ember_store_reader_t *r, side_t *sd, ember_tree_t *t, int side,
                     bool scaled, ember_err_t *err) {
  int rc = EMBER_OK;
  for (size_t i = 0; i < sd->qs.n && !rc; i++) {
    ember_selector_t s = q_target_selector(&sd->qs, i, NULL, 0);
    uint64_t scale = sd->qs.items[i].type.scale;
    if (!scaled || scale == 1) {
      rc = ember_store_reader_tree(r, &s, sd->from, sd->until, t, side, err);
    } else {
      ember_tree_t *tmp = ember_tree_new();
      rc = ember_store_reader_tree(r, &s, sd->from, sd->until, tmp, 0, err);
      if (!rc) rc = merge_scaled(t, side, tmp, scale, err);
      ember_tree_free(tmp);
    }
    if (rc == EMBER_ENOTFOUND) { /* deleted since it was listed */
      ember_err_clear(err);
      rc = EMBER_OK;
    }
    free(s.matchers);
  }
  return rc;
}

/* The scale every target of the sides shares, or 0 when they differ. */
static uint64_t common_scale(side_t *const *sides, size_t nsides) {
  uint64_t k = 0;
  for (size_t s = 0; s < nsides; s++)
    for (size_t i = 0; i < sides[s]->qs.n; i++) {
      uint64_t ki = sides[s]->qs.items[i].type.scale;
      if (k && ki != k) return 0;
      k = ki;
    }
  return k ? k : 1;
}

/* ---- Call sites ------------------------------------------------------------ */

/* The child of parent named s, or EMBER_TREE_NONE. */
static uint32_t child_named(const ember_tree_t *t, uint32_t parent, const char *s) {
  size_t len = strlen(s);
  for (uint32_t c = ember_tree_node(t, parent)->first_child; c != EMBER_TREE_NONE;
       c = ember_tree_node(t, c)->next_sibling) {
    ember_slice_t name = ember_tree_name(t, ember_tree_node(t, c)->name);
    if (name.len == len && !memcmp(name.base, s, len)) return c;
  }
  return EMBER_TREE_NONE;
}

/* The stacks of t that start with the call site (root first): the path to
 * it, whose nodes keep only what passes through it, and all below it. */
static ember_tree_t *focus(const ember_tree_t *t, int nsides,
                           const Types__V1__StackTraceSelector *sts) {
  ember_tree_t *out = ember_tree_new();
  uint32_t at = EMBER_TREE_ROOT, mine = EMBER_TREE_ROOT;
  for (size_t i = 0; i < sts->n_call_site; i++) {
    const char *name = sts->call_site[i]->name ? sts->call_site[i]->name : "";
    at = child_named(t, at, name);
    if (at == EMBER_TREE_NONE) return out; /* no stack starts so */
    mine = ember_tree_child(out, mine, ember_tree_intern(out, name, strlen(name)));
  }
  /* Copy the subtree under `at`, depth first. */
  size_t cap = 64, n = 0;
  uint32_t(*stack)[2] = ember_malloc(cap * sizeof *stack);
  stack[n][0] = at;
  stack[n++][1] = mine;
  while (n) {
    uint32_t src = stack[--n][0], dst = stack[n][1];
    const ember_tree_node_t *nd = ember_tree_node(t, src);
    for (int s = 0; s < nsides; s++)
      if (nd->self[s]) ember_tree_add(out, dst, s, nd->self[s]);
    for (uint32_t c = nd->first_child; c != EMBER_TREE_NONE;
         c = ember_tree_node(t, c)->next_sibling) {
      ember_slice_t name = ember_tree_name(t, ember_tree_node(t, c)->name);
      ember_grow((void **)&stack, &cap, n + 1, sizeof *stack);
      stack[n][0] = c;
      stack[n++][1] = ember_tree_child(out, dst, ember_tree_intern(out, name.base, name.len));
    }
  }
  free(stack);
  return out;
}

/* ---- Cutting ----------------------------------------------------------- */

/* t focused on the call site when asked, then cut to max_nodes; the tree to
 * encode goes to *shown, owned by *own (NULL when it is t itself). */
static int shape(const ember_tree_t *t, int nsides, const Types__V1__StackTraceSelector *sts,
                 long max_nodes, ember_tree_t **own, const ember_tree_t **shown,
                 ember_err_t *err) {
  ember_tree_t *focused = NULL;
  *own = NULL;
  if (ember_deadline_passed())
    return ember_err_set(err, EMBER_ETIMEOUT,
                         "the query ran out of time while reading the profiles; narrow "
                         "the time range or the selector");
  if (sts && sts->n_call_site) {
    focused = focus(t, nsides, sts);
    t = focused;
  }
  if (ember_tree_count(t) <= (size_t)max_nodes) {
    *own = focused;
    *shown = t;
    return EMBER_OK;
  }
  int rc = ember_tree_truncate(t, max_nodes, own, err);
  if (!rc) *shown = *own;
  ember_tree_free(focused);
  return rc;
}

/* ---- Layout ------------------------------------------------------------ */

static bool drawn(const ember_tree_node_t *n, int nsides) {
  for (int s = 0; s < nsides; s++)
    if (n->total[s]) return true;
  return false;
}

static void layout_free(layout_t *L) {
  free(L->order);
  free(L->x);
  free(L->level_end);
}

/* Breadth first: each level the sorted children of the one above, each
 * child placed after its parent's self and its elder siblings. */
static int lay_out(const ember_tree_t *t, int nsides, layout_t *L, ember_err_t *err) {
  size_t cap = ember_tree_count(t) + 1, lcap = 16, kcap = 0;
  uint32_t *kids = NULL;
  L->nsides = nsides;
  L->order = ember_malloc(cap * sizeof *L->order);
  L->x = ember_calloc(cap * (size_t)nsides, sizeof *L->x);
  L->level_end = ember_malloc(lcap * sizeof *L->level_end);
  L->order[0] = EMBER_TREE_ROOT;
  L->n = 1;
  L->level_end[0] = 1;
  L->nlevels = 1;
  int rc = EMBER_OK;
  for (size_t i = 0; i < L->n && !rc; i++) {
    if (i % 4096 == 0 && ember_deadline_passed())
      rc = ember_err_set(err, EMBER_ETIMEOUT,
                         "the query ran out of time while laying out the flame graph; "
                         "lower max_nodes or narrow the time range");
    /* Entering a level: every node of it is placed by now, so its end is
     * known. */
    if (i == L->level_end[L->nlevels - 1]) {
      ember_grow((void **)&L->level_end, &lcap, L->nlevels + 1, sizeof *L->level_end);
      L->level_end[L->nlevels++] = L->n;
    }
    const ember_tree_node_t *nd = ember_tree_node(t, L->order[i]);
    uint64_t x[EMBER_TREE_SIDES];
    for (int s = 0; s < nsides; s++)
      x[s] = ember_sat_add(L->x[i * nsides + s], nd->self[s]);
    size_t k = ember_tree_sorted_children(t, L->order[i], &kids, &kcap);
    for (size_t j = 0; j < k; j++) {
      const ember_tree_node_t *c = ember_tree_node(t, kids[j]);
      if (!drawn(c, nsides)) continue;
      L->order[L->n] = kids[j];
      for (int s = 0; s < nsides; s++) {
        L->x[L->n * nsides + s] = x[s];
        x[s] = ember_sat_add(x[s], c->total[s]);
      }
      L->n++;
    }
  }
  free(kids);
  return rc;
}

/* An upper bound of the answer's size in either encoding. */
static size_t answer_bound(const ember_tree_t *t, int nsides) {
  size_t bytes = 1024, names = ember_tree_name_count(t);
  for (uint32_t i = 0; i < names; i++)
    bytes += ember_tree_name(t, i).len * 6 + 8; /* escaped JSON at worst */
  size_t per_node = nsides == 1 ? 4 * 24 : 7 * 24;
  size_t n = ember_tree_count(t);
  return n > (SIZE_MAX - bytes) / per_node ? SIZE_MAX : bytes + n * per_node;
}

/* Fills names, levels and max_self from the layout of t, values times
 * scale[side]. */
typedef struct {
  char **names;
  size_t nnames;
  Querier__V1__Level **levels;
  size_t nlevels;
  int64_t max_self;
} graph_t;

static int encode_graph(ember_connect_call_t *call, const ember_tree_t *t, int nsides,
                        const uint64_t scale[2], size_t max_output, graph_t *g,
                        ember_err_t *err) {
  size_t bound = answer_bound(t, nsides);
  if (bound > max_output)
    return ember_err_set(err, EMBER_EINVAL,
                         "the flame graph would take up to %zu MiB, over the server's "
                         "limit of %zu MiB; lower max_nodes or narrow the time range or "
                         "the selector",
                         bound / (1u << 20) + 1, max_output >> 20);
  layout_t L = {0};
  int rc = lay_out(t, nsides, &L, err);
  if (rc) goto done;
  size_t nn = ember_tree_name_count(t), per = nsides == 1 ? 4 : 7;
  uint32_t *index = ember_malloc((nn ? nn : 1) * sizeof *index);
  memset(index, 0xff, (nn ? nn : 1) * sizeof *index);
  g->names = ember_connect_alloc(call, (L.n + 1) * sizeof *g->names);
  g->levels = ember_connect_alloc(call, L.nlevels * sizeof *g->levels);
  g->nlevels = L.nlevels;
  uint64_t max_self = 0;
  for (size_t d = 0, i = 0; d < L.nlevels; d++) {
    size_t end = L.level_end[d], count = end - i;
    Querier__V1__Level *lv = ember_connect_alloc(call, sizeof *lv);
    querier__v1__level__init(lv);
    lv->values = ember_connect_alloc(call, (count * per + 1) * sizeof *lv->values);
    lv->n_values = count * per;
    uint64_t prev_end[EMBER_TREE_SIDES] = {0, 0};
    for (int64_t *v = lv->values; i < end; i++) {
      const ember_tree_node_t *nd = ember_tree_node(t, L.order[i]);
      for (int s = 0; s < nsides; s++) {
        uint64_t x = L.x[i * nsides + s];
        *v++ = out_value(x > prev_end[s] ? x - prev_end[s] : 0, scale[s]);
        *v++ = out_value(nd->total[s], scale[s]);
        *v++ = out_value(nd->self[s], scale[s]);
        prev_end[s] = ember_sat_add(x, nd->total[s]);
        uint64_t self = sat_mul(nd->self[s], scale[s]);
        if (self > max_self) max_self = self;
      }
      if (index[nd->name] == UINT32_MAX) {
        ember_slice_t name = ember_tree_name(t, nd->name);
        index[nd->name] = (uint32_t)g->nnames;
        g->names[g->nnames++] = ember_connect_strndup(call, name.base, name.len);
      }
      *v++ = index[nd->name];
    }
    g->levels[d] = lv;
  }
  g->max_self = max_self > INT64_MAX ? INT64_MAX : (int64_t)max_self;
  free(index);
done:
  layout_free(&L);
  return rc;
}

/* ---- SelectMergeStacktraces --------------------------------------------- */

static int refuse_tree_format(Querier__V1__ProfileFormat f, ember_err_t *err) {
  if (f != QUERIER__V1__PROFILE_FORMAT__PROFILE_FORMAT_TREE) return EMBER_OK;
  return ember_err_set(err, EMBER_EUNIMPL,
                       "format PROFILE_FORMAT_TREE is not supported by Ember; ask for "
                       "PROFILE_FORMAT_FLAMEGRAPH (the default)");
}

int q_merge_stacktraces(void *vctx, ember_connect_call_t *call, const ProtobufCMessage *in,
                        ember_err_t *err) {
  const ember_querier_ctx_t *ctx = vctx;
  const Querier__V1__SelectMergeStacktracesRequest *rq = (const void *)in;
  side_t sd = {0};
  side_t *sides[1] = {&sd};
  ember_store_reader_t *r = NULL;
  ember_tree_t *t = NULL, *own = NULL;
  const ember_tree_t *shown;
  long max_nodes;
  int rc = side_parse(rq->profile_typeid, rq->label_selector, rq->start, rq->end,
                      rq->stack_trace_selector, rq->n_profile_id_selector, &sd, err);
  if (!rc) rc = refuse_tree_format(rq->format, err);
  if (!rc)
    rc = q_max_nodes(rq->has_max_nodes_case ==
                         QUERIER__V1__SELECT_MERGE_STACKTRACES_REQUEST__HAS_MAX_NODES_MAX_NODES,
                     rq->max_nodes, EMBER_QUERY_DEFAULT_MAX_NODES, ctx, &max_nodes, err);
  if (!rc) rc = ember_store_reader_open(ctx->store, &r, err);
  if (!rc) rc = q_select_resolve(r, sd.type_id, &sd.qs, err);
  if (rc) goto done;
  uint64_t k = common_scale(sides, 1);
  t = ember_tree_new();
  rc = side_read(r, &sd, t, 0, k == 0, err);
  ember_store_reader_close(r);
  r = NULL;
  if (!rc) rc = shape(t, 1, sd.sts, max_nodes, &own, &shown, err);
  graph_t g = {0};
  uint64_t scale[2] = {k ? k : 1, 1};
  if (!rc) rc = encode_graph(call, shown, 1, scale, q_max_output(ctx), &g, err);
  if (rc) goto done;
  Querier__V1__FlameGraph *fg = ember_connect_alloc(call, sizeof *fg);
  querier__v1__flame_graph__init(fg);
  fg->names = g.names;
  fg->n_names = g.nnames;
  fg->levels = g.levels;
  fg->n_levels = g.nlevels;
  fg->total = out_value(ember_tree_total(shown, 0), scale[0]);
  fg->max_self = g.max_self;
  Querier__V1__SelectMergeStacktracesResponse *out = ember_connect_alloc(call, sizeof *out);
  querier__v1__select_merge_stacktraces_response__init(out);
  out->flamegraph = fg;
  ember_connect_reply(call, &out->base);
done:
  ember_store_reader_close(r);
  ember_tree_free(t);
  ember_tree_free(own);
  q_select_free(&sd.qs);
  return rc;
}

/* ---- Diff --------------------------------------------------------------- */

/* The two sides' values must count the same thing. */
static int comparable(const side_t *l, const side_t *r, ember_err_t *err) {
  const char *lu = strchr(l->type_id, ':'), *ru = strchr(r->type_id, ':');
  lu = lu ? strchr(lu + 1, ':') : NULL;
  ru = ru ? strchr(ru + 1, ':') : NULL;
  size_t ln = lu ? strcspn(lu + 1, ":") : 0, rn = ru ? strcspn(ru + 1, ":") : 0;
  if (lu && ru && ln == rn && !memcmp(lu + 1, ru + 1, ln)) return EMBER_OK;
  return ember_err_set(err, EMBER_EINVAL,
                       "cannot compare %.*s with %.*s: the left profile type ('%.100s') "
                       "and the right one ('%.100s') count different units",
                       (int)ln, lu ? lu + 1 : "", (int)rn, ru ? ru + 1 : "", l->type_id,
                       r->type_id);
}

int q_diff(void *vctx, ember_connect_call_t *call, const ProtobufCMessage *in,
           ember_err_t *err) {
  const ember_querier_ctx_t *ctx = vctx;
  const Querier__V1__DiffRequest *rq = (const void *)in;
  side_t l = {0}, rt = {0};
  side_t *sides[2] = {&l, &rt};
  ember_store_reader_t *r = NULL;
  ember_tree_t *t = NULL, *own = NULL;
  const ember_tree_t *shown;
  long max_nodes;
  int rc = EMBER_OK;
  const Querier__V1__SelectMergeStacktracesRequest *lq = rq->left, *rq2 = rq->right;
  if (!lq || !rq2)
    return ember_err_set(err, EMBER_EINVAL,
                         "left and right are both required: the two selections to "
                         "compare");
  rc = side_parse(lq->profile_typeid, lq->label_selector, lq->start, lq->end,
                  lq->stack_trace_selector, lq->n_profile_id_selector, &l, err);
  if (!rc)
    rc = side_parse(rq2->profile_typeid, rq2->label_selector, rq2->start, rq2->end,
                    rq2->stack_trace_selector, rq2->n_profile_id_selector, &rt, err);
  if (!rc) rc = refuse_tree_format(lq->format, err);
  if (!rc) rc = refuse_tree_format(rq2->format, err);
  if (!rc) rc = comparable(&l, &rt, err);
  if (!rc) {
    /* One graph: the left's max_nodes when it has one, else the right's. */
    const Querier__V1__SelectMergeStacktracesRequest *m =
        lq->has_max_nodes_case ? lq : rq2;
    rc = q_max_nodes(m->has_max_nodes_case != 0, m->max_nodes,
                     EMBER_QUERY_DEFAULT_MAX_NODES, ctx, &max_nodes, err);
  }
  if (!rc) rc = ember_store_reader_open(ctx->store, &r, err);
  if (!rc) rc = q_select_resolve(r, l.type_id, &l.qs, err);
  if (!rc) rc = q_select_resolve(r, rt.type_id, &rt.qs, err);
  if (rc) goto done;
  uint64_t k = common_scale(sides, 2);
  t = ember_tree_new();
  rc = side_read(r, &l, t, 0, k == 0, err);
  if (!rc) rc = side_read(r, &rt, t, 1, k == 0, err);
  ember_store_reader_close(r);
  r = NULL;
  /* Each side keeps the stacks under its own call site: both are asked
   * for alike in practice; the left's selector shapes the graph. */
  if (!rc) rc = shape(t, 2, l.sts, max_nodes, &own, &shown, err);
  graph_t g = {0};
  uint64_t scale[2] = {k ? k : 1, k ? k : 1};
  if (!rc) rc = encode_graph(call, shown, 2, scale, q_max_output(ctx), &g, err);
  if (rc) goto done;
  Querier__V1__FlameGraphDiff *fg = ember_connect_alloc(call, sizeof *fg);
  querier__v1__flame_graph_diff__init(fg);
  fg->names = g.names;
  fg->n_names = g.nnames;
  fg->levels = g.levels;
  fg->n_levels = g.nlevels;
  fg->leftticks = out_value(ember_tree_total(shown, 0), scale[0]);
  fg->rightticks = out_value(ember_tree_total(shown, 1), scale[1]);
  fg->total = out_value(ember_sat_add(sat_mul(ember_tree_total(shown, 0), scale[0]),
                                sat_mul(ember_tree_total(shown, 1), scale[1])),
                        1);
  fg->max_self = g.max_self;
  Querier__V1__DiffResponse *out = ember_connect_alloc(call, sizeof *out);
  querier__v1__diff_response__init(out);
  out->flamegraph = fg;
  ember_connect_reply(call, &out->base);
done:
  ember_store_reader_close(r);
  ember_tree_free(t);
  ember_tree_free(own);
  q_select_free(&l.qs);
  q_select_free(&rt.qs);
  return rc;
}

/* ---- SelectMergeProfile ------------------------------------------------- */

/* pprof has one sampling period: the targets must share it, and their
 * units. */
static int one_kind(const side_t *sd, ember_err_t *err) {
  for (size_t i = 1; i < sd->qs.n; i++) {
    const ember_app_info_t *a = &sd->qs.items[0].app, *b = &sd->qs.items[i].app;
    if (strcmp(a->units, b->units) || a->sample_rate != b->sample_rate)
      return ember_err_set(err, EMBER_EINVAL,
                           "the selector picks apps of different units or sample rates "
                           "('%.100s': %s at %u Hz, '%.100s': %s at %u Hz), which one "
                           "pprof profile cannot hold; select one service_name",
                           a->name, a->units, a->sample_rate, b->name, b->units,
                           b->sample_rate);
  }
  return EMBER_OK;
}

int q_merge_profile(void *vctx, ember_connect_call_t *call, const ProtobufCMessage *in,
                    ember_err_t *err) {
  const ember_querier_ctx_t *ctx = vctx;
  const Querier__V1__SelectMergeProfileRequest *rq = (const void *)in;
  side_t sd = {0};
  ember_store_reader_t *r = NULL;
  ember_tree_t *t = NULL, *own = NULL;
  const ember_tree_t *shown;
  ember_buf_t gz = EMBER_BUF_INIT, raw = EMBER_BUF_INIT;
  long max_nodes;
  int rc = side_parse(rq->profile_typeid, rq->label_selector, rq->start, rq->end,
                      rq->stack_trace_selector, rq->n_profile_id_selector, &sd, err);
  /* A profile is a download, not a drawing: whole unless asked (as many
   * nodes as the server allows, /render's maxNodes=-1). */
  if (!rc)
    rc = q_max_nodes(rq->has_max_nodes_case ==
                         QUERIER__V1__SELECT_MERGE_PROFILE_REQUEST__HAS_MAX_NODES_MAX_NODES,
                     rq->max_nodes, -1, ctx, &max_nodes, err);
  if (!rc) rc = ember_store_reader_open(ctx->store, &r, err);
  if (!rc) rc = q_select_resolve(r, sd.type_id, &sd.qs, err);
  if (!rc) rc = one_kind(&sd, err);
  if (rc) goto done;
  t = ember_tree_new();
  rc = side_read(r, &sd, t, 0, false, err);
  ember_store_reader_close(r);
  r = NULL;
  if (!rc) rc = shape(t, 1, sd.sts, max_nodes, &own, &shown, err);
  if (rc) goto done;
  /* The export of /render?format=pprof, ungzipped: Connect compresses the
   * whole answer itself when the client accepts it. */
  ember_render_meta_t m;
  memset(&m, 0, sizeof m);
  const ember_app_info_t *a = sd.qs.n ? &sd.qs.items[0].app : NULL;
  m.app_name = a ? a->name : "";
  m.units = a ? a->units : "samples";
  m.sample_rate = a ? a->sample_rate : 100;
  m.spy_name = a ? a->spy_name : "unknown";
  m.from = sd.from;
  m.until = sd.until;
  m.max_nodes = max_nodes;
  m.max_output = q_max_output(ctx);
  rc = ember_render_pprof(&gz, shown, &m, err);
  if (!rc)
    rc = ember_connect_gunzip((const uint8_t *)gz.data, gz.len, m.max_output, &raw, err);
  if (rc == EMBER_EPARSE || rc == EMBER_ETOOBIG)
    rc = ember_err_set(err, EMBER_EIO, "the pprof export could not be unpacked");
  if (!rc) rc = ember_connect_reply_packed(call, (const uint8_t *)raw.data, raw.len, err);
done:
  ember_store_reader_close(r);
  ember_buf_free(&gz);
  ember_buf_free(&raw);
  ember_tree_free(t);
  ember_tree_free(own);
  q_select_free(&sd.qs);
  return rc;
}
