/*
 * pprof_export.c - /render?format=pprof: a query result as a gzipped pprof
 * profile (perftools.profiles.Profile), so `go tool pprof` and every other
 * pprof reader open Ember's data.
 *
 * The tree becomes one sample per node with a self value: its path from the
 * root is the stack (written leaf first, as pprof wants), its self the
 * value. Each distinct frame name is one function and one location, so the
 * profile is as small as the names allow.
 *
 * Sample types follow the app's units: "samples" gives samples/count plus
 * cpu/nanoseconds (wall/nanoseconds for a .wall app) at the app's sample
 * rate, as a Go CPU profile has them, so pprof shows time; any other unit
 * gives one type named after the app's suffix ("inuse_space"/"bytes").
 */
#include "query_int.h"

#include "pprof/profile.pb-c.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

typedef Perftools__Profiles__Profile pb_profile_t;
typedef Perftools__Profiles__ValueType pb_type_t;
typedef Perftools__Profiles__Sample pb_sample_t;
typedef Perftools__Profiles__Location pb_location_t;
typedef Perftools__Profiles__Line pb_line_t;
typedef Perftools__Profiles__Function pb_function_t;

/* The profile being built and the memory behind it. Owns everything. */
typedef struct {
  pb_profile_t p;
  char **strings;
  size_t nstrings;
  pb_type_t types[2], period_type;
  pb_type_t *type_ptrs[2];
  pb_function_t *funcs;
  pb_function_t **func_ptrs;
  pb_location_t *locs;
  pb_location_t **loc_ptrs;
  pb_line_t *lines;
  pb_line_t **line_ptrs;
  pb_sample_t *samples;
  pb_sample_t **sample_ptrs;
  uint64_t *ids;   /* every sample's location ids, back to back */
  int64_t *values; /* every sample's values, back to back */
  uint64_t *fid_of_name; /* tree name id -> function id, 0 when unused */
} export_t;

static void export_free(export_t *e) {
  for (size_t i = 0; i < e->nstrings; i++) free(e->strings[i]);
  free(e->strings);
  free(e->funcs);
  free(e->func_ptrs);
  free(e->locs);
  free(e->loc_ptrs);
  free(e->lines);
  free(e->line_ptrs);
  free(e->samples);
  free(e->sample_ptrs);
  free(e->ids);
  free(e->values);
  free(e->fid_of_name);
}

/* Adds a string to the table (no deduplication: the callers add each
 * distinct string once) and returns its index. */
static int64_t add_string(export_t *e, const char *s, size_t len) {
  e->strings[e->nstrings] = ember_strndup(s, len);
  return (int64_t)e->nstrings++;
}

/* ---- Sample types -------------------------------------------------------- */

/* The text after the app name's last '.', or the whole name. */
static const char *app_suffix(const char *app) {
  const char *dot = app ? strrchr(app, '.') : NULL;
  return dot && dot[1] ? dot + 1 : app && *app ? app : "samples";
}

static void set_types(export_t *e, const ember_render_meta_t *m) {
  const char *units = m->units && *m->units ? m->units : "samples";
  for (int i = 0; i < 2; i++) {
    perftools__profiles__value_type__init(&e->types[i]);
    e->type_ptrs[i] = &e->types[i];
  }
  e->p.sample_type = e->type_ptrs;
  if (!strcmp(units, "samples")) {
    const char *time = !strcmp(app_suffix(m->app_name), "wall") ? "wall" : "cpu";
    int64_t ns = add_string(e, "nanoseconds", 11), t = add_string(e, time, strlen(time));
    e->types[0].type = add_string(e, "samples", 7);
    e->types[0].unit = add_string(e, "count", 5);
    e->types[1].type = t;
    e->types[1].unit = ns;
    e->p.n_sample_type = 2;
    perftools__profiles__value_type__init(&e->period_type);
    e->period_type.type = t;
    e->period_type.unit = ns;
    e->p.period_type = &e->period_type;
    uint32_t rate = m->sample_rate ? m->sample_rate : 100;
    e->p.period = (1000000000 + rate / 2) / rate;
  } else {
    const char *suffix = app_suffix(m->app_name);
    e->types[0].type = add_string(e, suffix, strlen(suffix));
    e->types[0].unit = add_string(e, units, strlen(units));
    e->p.n_sample_type = 1;
  }
}

/* ---- Functions, locations, samples ----------------------------------------- */

/* One function and one location per frame name the tree uses (not the
 * root's "total"); ids are 1..n in order, as pprof writers number them. */
static int add_functions(export_t *e, const ember_tree_t *t, ember_err_t *err) {
  size_t nnames = ember_tree_name_count(t), nodes = ember_tree_count(t), n = 0;
  e->fid_of_name = ember_calloc(nnames + 1, sizeof *e->fid_of_name);
  for (uint32_t id = 1; id < nodes; id++) {
    int rc = ember_query_deadline(id, "numbering the functions of the export", err);
    if (rc) return rc;
    uint32_t name = ember_tree_node(t, id)->name;
    if (!e->fid_of_name[name]) e->fid_of_name[name] = ++n;
  }
  e->funcs = ember_calloc(n + 1, sizeof *e->funcs);
  e->func_ptrs = ember_calloc(n + 1, sizeof *e->func_ptrs);
  e->locs = ember_calloc(n + 1, sizeof *e->locs);
  e->loc_ptrs = ember_calloc(n + 1, sizeof *e->loc_ptrs);
  e->lines = ember_calloc(n + 1, sizeof *e->lines);
  e->line_ptrs = ember_calloc(n + 1, sizeof *e->line_ptrs);
  for (uint32_t name = 0; name < nnames; name++) {
    uint64_t fid = e->fid_of_name[name];
    if (!fid) continue;
    size_t i = (size_t)fid - 1;
    ember_slice_t s = ember_tree_name(t, name);
    perftools__profiles__function__init(&e->funcs[i]);
    e->funcs[i].id = fid;
    e->funcs[i].name = e->funcs[i].system_name = add_string(e, s.base, s.len);
    e->func_ptrs[i] = &e->funcs[i];
    perftools__profiles__line__init(&e->lines[i]);
    e->lines[i].function_id = fid;
    e->line_ptrs[i] = &e->lines[i];
    perftools__profiles__location__init(&e->locs[i]);
    e->locs[i].id = fid;
    e->locs[i].n_line = 1;
    e->locs[i].line = &e->line_ptrs[i];
    e->loc_ptrs[i] = &e->locs[i];
  }
  e->p.function = e->func_ptrs;
  e->p.n_function = n;
  e->p.location = e->loc_ptrs;
  e->p.n_location = n;
  return EMBER_OK;
}

/* Depth of every node (the root is 0); *frames is the sum over the nodes
 * with a self value, the number of location ids the samples will hold. */
static int depths(const ember_tree_t *t, uint32_t *depth, size_t *nsamples,
                  size_t *out_frames, ember_err_t *err) {
  size_t n = ember_tree_count(t), frames = 0;
  *nsamples = 0;
  for (uint32_t id = 0; id < n; id++) {
    int rc = ember_query_deadline(id, "measuring the stacks of the export", err);
    if (rc) return rc;
    const ember_tree_node_t *nd = ember_tree_node(t, id);
    depth[id] = id == EMBER_TREE_ROOT ? 0 : depth[nd->parent] + 1;
    if (!nd->self[0]) continue;
    (*nsamples)++;
    frames = frames > SIZE_MAX - depth[id] ? SIZE_MAX : frames + depth[id];
  }
  *out_frames = frames;
  return EMBER_OK;
}

static int add_samples(export_t *e, const ember_tree_t *t, const uint32_t *depth,
                       size_t nsamples, size_t frames, ember_err_t *err) {
  size_t n = ember_tree_count(t), s = 0, at = 0;
  size_t nvalues = e->p.n_sample_type;
  e->samples = ember_calloc(nsamples + 1, sizeof *e->samples);
  e->sample_ptrs = ember_calloc(nsamples + 1, sizeof *e->sample_ptrs);
  e->ids = ember_calloc(frames + 1, sizeof *e->ids);
  e->values = ember_calloc(nsamples * nvalues + 1, sizeof *e->values);
  for (uint32_t id = 0; id < n; id++) {
    const ember_tree_node_t *nd = ember_tree_node(t, id);
    if (!nd->self[0]) continue;
    int rc = ember_query_deadline(s, "writing the samples of the export", err);
    if (rc) return rc;
    pb_sample_t *smp = &e->samples[s];
    perftools__profiles__sample__init(smp);
    smp->location_id = e->ids + at;
    smp->n_location_id = depth[id];
    for (uint32_t p = id; p != EMBER_TREE_ROOT; p = ember_tree_node(t, p)->parent)
      e->ids[at++] = e->fid_of_name[ember_tree_node(t, p)->name]; /* leaf first */
    int64_t v = nd->self[0] > INT64_MAX ? INT64_MAX : (int64_t)nd->self[0];
    smp->value = e->values + s * nvalues;
    smp->n_value = nvalues;
    smp->value[0] = v;
    if (nvalues == 2) /* samples and their time */
      smp->value[1] = v > INT64_MAX / e->p.period ? INT64_MAX : v * e->p.period;
    e->sample_ptrs[s++] = smp;
  }
  e->p.sample = e->sample_ptrs;
  e->p.n_sample = s;
  return EMBER_OK;
}

/* At least what building the export holds at once: the location ids of
 * every sample (8 bytes each while built), the packed profile (each id at
 * most 5 bytes, strings with their tags, a function and a location per
 * name, two values per sample) and its gzip copy, a little larger. */
static size_t export_bound(const ember_tree_t *t, size_t nsamples, size_t frames) {
  size_t packed = 1024, nnames = ember_tree_name_count(t);
  for (uint32_t id = 0; id < nnames; id++)
    packed = ember_size_add(packed, ember_tree_name(t, id).len + 64);
  packed = ember_size_add(packed, ember_size_mul(nsamples, 40));
  packed = ember_size_add(packed, ember_size_mul(frames, 5));
  size_t gzip = ember_size_add(packed, packed / 1000 + 64);
  return ember_size_add(ember_size_add(packed, gzip), ember_size_mul(frames, 8));
}

/* Seconds as nanoseconds; 0 when that does not fit (pprof's "unknown"). */
static int64_t to_nanos(int64_t s) {
  return s >= 0 && s <= INT64_MAX / 1000000000 ? s * 1000000000 : 0;
}

/* ---- Encoding ----------------------------------------------------------- */

int ember_render_pprof(ember_buf_t *out, const ember_tree_t *t,
                       const ember_render_meta_t *m, ember_err_t *err) {
  export_t e;
  memset(&e, 0, sizeof e);
  perftools__profiles__profile__init(&e.p);
  size_t nsamples, frames, nnodes = ember_tree_count(t);
  uint32_t *depth = ember_malloc(nnodes * sizeof *depth);
  uint8_t *packed = NULL;
  int rc = depths(t, depth, &nsamples, &frames, err);
  if (!rc)
    rc = ember_query_check_size(export_bound(t, nsamples, frames), m->max_output,
                                "the pprof export", err);
  if (rc) goto done;
  /* "", four type strings at most, one per name. */
  e.strings = ember_calloc(ember_tree_name_count(t) + 6, sizeof *e.strings);
  add_string(&e, "", 0);
  e.p.string_table = e.strings;
  set_types(&e, m);
  rc = add_functions(&e, t, err);
  if (!rc) rc = add_samples(&e, t, depth, nsamples, frames, err);
  if (rc) goto done;
  e.p.n_string_table = e.nstrings;
  e.p.time_nanos = to_nanos(m->from);
  e.p.duration_nanos = to_nanos(m->until - m->from);
  size_t len = perftools__profiles__profile__get_packed_size(&e.p);
  packed = ember_malloc(len ? len : 1);
  perftools__profiles__profile__pack(&e.p, packed);
  if (ember_gzip_append(out, packed, len, 6) != 0)
    rc = ember_err_set(err, EMBER_EIO, "cannot compress the pprof export");
done:
  free(packed);
  free(depth);
  export_free(&e);
  return rc;
}
