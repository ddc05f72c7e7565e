/*
 * pprof_types.c - what becomes of each pprof sample type: the app it is
 * stored under, its units and aggregation, and whether its values are
 * cumulative. A built-in table covers the types Go and Node agents send; an
 * agent's `sample_type_config` form field overrides it per type; any other
 * type is kept under its own name.
 *
 * Also here: the sample rate a profile's period implies, and the suffix an
 * agent may already have put on the app name.
 */
#include "ingest_int.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#define UNITS_MAX 64 /* as the units= parameter */

typedef struct {
  const char *type;
  const char *suffix;
  const char *units; /* NULL: the unit the profile gives */
  ember_aggregation_t aggregation;
  bool cumulative;
} builtin_t;

/* Gauges (in-use memory, goroutines) average over pushes; counters sum.
 * alloc_*, contentions and delay count from process start, so an agent
 * that sends prev_profile gets the difference. */
static const builtin_t BUILTIN[] = {
    {"samples", "cpu", "samples", EMBER_AGG_SUM, false},
    {"cpu", "cpu", "nanoseconds", EMBER_AGG_SUM, false},
    {"wall", "wall", NULL, EMBER_AGG_SUM, false},
    {"inuse_objects", "inuse_objects", "objects", EMBER_AGG_AVERAGE, false},
    {"inuse_space", "inuse_space", "bytes", EMBER_AGG_AVERAGE, false},
    {"alloc_objects", "alloc_objects", "objects", EMBER_AGG_SUM, true},
    {"alloc_space", "alloc_space", "bytes", EMBER_AGG_SUM, true},
    {"goroutine", "goroutines", "goroutines", EMBER_AGG_AVERAGE, false},
    {"contentions", "mutex_count", "lock_samples", EMBER_AGG_SUM, true},
    {"delay", "mutex_duration", "lock_nanoseconds", EMBER_AGG_SUM, true},
};
#define NBUILTIN (sizeof BUILTIN / sizeof *BUILTIN)

/* App name endings an agent may already have added (pyroscope-go names
 * its CPU pushes app.cpu): the type's own suffix replaces them. */
static const char *const KNOWN_SUFFIXES[] = {
    "cpu",           "wall",          "inuse_objects", "inuse_space",
    "alloc_objects", "alloc_space",   "goroutines",    "mutex_count",
    "mutex_duration", "block_count",  "block_duration",
};

static const builtin_t *builtin(const char *type) {
  for (size_t i = 0; i < NBUILTIN; i++)
    if (!strcmp(BUILTIN[i].type, type)) return &BUILTIN[i];
  return NULL;
}

size_t pprof_app_base_len(const char *app) {
  size_t n = strlen(app);
  for (size_t i = 0; i < sizeof KNOWN_SUFFIXES / sizeof *KNOWN_SUFFIXES; i++) {
    size_t s = strlen(KNOWN_SUFFIXES[i]);
    if (n > s + 1 && app[n - s - 1] == '.' && !strcmp(app + n - s, KNOWN_SUFFIXES[i]))
      return n - s - 1;
  }
  return n;
}

uint32_t pprof_rate_from_period(const char *unit, int64_t period) {
  static const struct {
    const char *unit;
    uint64_t per_second;
  } TIME_UNITS[] = {{"nanoseconds", 1000000000},
                    {"microseconds", 1000000},
                    {"milliseconds", 1000},
                    {"seconds", 1}};
  if (period <= 0) return 0;
  for (size_t i = 0; i < sizeof TIME_UNITS / sizeof *TIME_UNITS; i++) {
    if (strcmp(unit, TIME_UNITS[i].unit)) continue;
    uint64_t ps = TIME_UNITS[i].per_second, p = (uint64_t)period;
    uint64_t rate = (ps + p / 2) / p; /* rounded */
    return rate == 0 ? 1 : (uint32_t)rate;
  }
  return 0;
}

/* ---- sample_type_config ---------------------------------------------------- */

static bool printable(const char *s, size_t max) {
  size_t n = strlen(s);
  if (n == 0 || n > max) return false;
  for (size_t i = 0; i < n; i++)
    if (s[i] < 0x20 || s[i] >= 0x7f) return false;
  return true;
}

/* A string member of a type's settings, or NULL when absent. */
static int get_string(json_t *o, const char *type, const char *field, const char **out,
                      ember_err_t *err) {
  json_t *v = json_object_get(o, field);
  *out = NULL;
  if (!v) return EMBER_OK;
  if (!json_is_string(v))
    return ember_err_set(err, EMBER_EPARSE,
                         "sample_type_config: '%.64s'.'%s' must be a string", type,
                         field);
  *out = json_string_value(v);
  return EMBER_OK;
}

static int parse_override(const char *type, json_t *o, pprof_override_t *ov,
                          ember_err_t *err) {
  const char *units, *agg, *name;
  if (!json_is_object(o))
    return ember_err_set(err, EMBER_EPARSE,
                         "sample_type_config: the settings of '%.64s' must be an "
                         "object such as {\"units\":\"bytes\"}",
                         type);
  int rc = get_string(o, type, "units", &units, err);
  if (!rc) rc = get_string(o, type, "aggregation", &agg, err);
  if (!rc) rc = get_string(o, type, "display-name", &name, err);
  if (rc) return rc;
  if (units && !printable(units, UNITS_MAX))
    return ember_err_set(err, EMBER_EPARSE,
                         "sample_type_config: units of '%.64s' must be 1 to %d "
                         "printable ASCII characters",
                         type, UNITS_MAX);
  ov->aggregation = -1;
  if (agg && !strcmp(agg, "sum")) {
    ov->aggregation = EMBER_AGG_SUM;
  } else if (agg && (!strcmp(agg, "average") || !strcmp(agg, "avg"))) {
    ov->aggregation = EMBER_AGG_AVERAGE;
  } else if (agg) {
    return ember_err_set(err, EMBER_EPARSE,
                         "sample_type_config: aggregation of '%.64s' must be \"sum\" "
                         "or \"average\", got \"%.64s\"",
                         type, agg);
  }
  json_t *cum = json_object_get(o, "cumulative");
  if (cum && !json_is_boolean(cum))
    return ember_err_set(err, EMBER_EPARSE,
                         "sample_type_config: cumulative of '%.64s' must be true or "
                         "false",
                         type);
  ov->cumulative = cum ? json_is_true(cum) : -1;
  ov->type = ember_strdup(type);
  ov->display_name = name && *name ? ember_strdup(name) : NULL;
  ov->units = units ? ember_strdup(units) : NULL;
  return EMBER_OK;
}

int pprof_config_parse(const uint8_t *buf, size_t len, pprof_config_t *out,
                       ember_err_t *err) {
  json_error_t jerr;
  pprof_config_t c = {NULL, 0};
  int rc = EMBER_OK;
  /* jansson takes some 80 bytes per byte of a dense document: the cap
   * keeps that to a few MiB, while a config for every type there is fits in
   * a few hundred bytes. */
  if (len > PPROF_CONFIG_MAX)
    return ember_err_set(err, EMBER_ETOOBIG,
                         "sample_type_config: %zu bytes is over this field's limit of "
                         "%d KiB; send only the settings of the sample types the "
                         "profile has",
                         len, PPROF_CONFIG_MAX >> 10);
  json_t *root = json_loadb((const char *)buf, len, JSON_REJECT_DUPLICATES, &jerr);
  if (!root)
    return ember_err_set(err, EMBER_EPARSE,
                         "sample_type_config: not valid JSON (%s at line %d); send "
                         "an object such as {\"alloc_space\":{\"units\":\"bytes\"}}",
                         jerr.text, jerr.line);
  if (!json_is_object(root)) {
    rc = ember_err_set(err, EMBER_EPARSE,
                       "sample_type_config: expected a JSON object keyed by sample "
                       "type, such as {\"alloc_space\":{\"units\":\"bytes\"}}");
    goto done;
  }
  c.items = ember_calloc(json_object_size(root) + 1, sizeof *c.items);
  const char *type;
  json_t *v;
  json_object_foreach(root, type, v) {
    rc = parse_override(type, v, &c.items[c.n], err);
    if (rc) goto done;
    c.n++;
  }
  *out = c;
  memset(&c, 0, sizeof c);
done:
  pprof_config_free(&c);
  json_decref(root);
  return rc;
}

void pprof_config_free(pprof_config_t *c) {
  if (!c) return;
  for (size_t i = 0; i < c->n; i++) {
    free(c->items[i].type);
    free(c->items[i].display_name);
    free(c->items[i].units);
  }
  free(c->items);
  c->items = NULL;
  c->n = 0;
}

const pprof_override_t *pprof_config_get(const pprof_config_t *c, const char *type) {
  for (size_t i = 0; c && i < c->n; i++)
    if (!strcmp(c->items[i].type, type)) return &c->items[i];
  return NULL;
}

/* ---- Resolution ------------------------------------------------------------ */

int pprof_type_resolve(const pprof_config_t *cfg, const char *type, const char *unit,
                       pprof_type_t *out, ember_err_t *err) {
  const builtin_t *b = builtin(type);
  const pprof_override_t *ov = pprof_config_get(cfg, type);
  const char *suffix = ov && ov->display_name ? ov->display_name : b ? b->suffix : type;
  const char *units = ov && ov->units ? ov->units
                      : b && b->units ? b->units
                      : printable(unit, UNITS_MAX) ? unit
                                                   : "samples";
  if (!ember_app_name_valid(suffix, strlen(suffix))) {
    ingest_excerpt_t e;
    return ember_err_set(err, EMBER_EPARSE,
                         "profile: sample type '%s' cannot name an app (letters, "
                         "digits, '_', '.' and '-' only); name it with a "
                         "display-name in sample_type_config",
                         ingest_excerpt(&e, suffix, strlen(suffix)));
  }
  out->type = ember_strdup(type);
  out->suffix = ember_strdup(suffix);
  out->units = ember_strdup(units);
  out->aggregation = ov && ov->aggregation >= 0 ? (ember_aggregation_t)ov->aggregation
                     : b                        ? b->aggregation
                                                : EMBER_AGG_SUM;
  out->cumulative = ov && ov->cumulative >= 0 ? ov->cumulative != 0
                    : b                       ? b->cumulative
                                              : false;
  return EMBER_OK;
}

void pprof_type_free(pprof_type_t *t) {
  if (!t) return;
  free(t->type);
  free(t->suffix);
  free(t->units);
  memset(t, 0, sizeof *t);
}
