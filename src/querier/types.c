/*
 * types.c - Ember's apps as Pyroscope's profile types, one way; the other
 * way is this one applied to every app and compared (select.c), so the
 * mapping needs no inverse to stay consistent.
 *
 * The suffix of an app name ("ride-sharing-app.cpu" -> cpu) says what it
 * measures, by the names Pyroscope's agents push under (docs/API.md, the
 * pprof table, and the JFR apps): the table below gives the metric name
 * (__name__), the sample type and the period of each. The sample unit
 * comes from the app's units. An app counted in samples of CPU or wall
 * time is two types: its time in nanoseconds (samples times the sampling
 * period, as Pyroscope stores a CPU profile) and its raw samples.
 */
#include <stdio.h>
#include <string.h>

#include "querier/querier_int.h"

/* ---- The table ---------------------------------------------------------- */

typedef struct {
  const char *suffix;
  const char *name;
  const char *sample_type; /* NULL: the suffix */
  const char *period_type;
  const char *period_unit;
  bool time; /* CPU or wall time: samples also read as nanoseconds */
} kind_t;

static const kind_t kinds[] = {
    {"cpu", "process_cpu", "cpu", "cpu", "nanoseconds", true},
    {"itimer", "process_cpu", "cpu", "cpu", "nanoseconds", true},
    {"wall", "wall", "wall", "wall", "nanoseconds", true},
    {"inuse_objects", "memory", NULL, "space", "bytes", false},
    {"inuse_space", "memory", NULL, "space", "bytes", false},
    {"alloc_objects", "memory", NULL, "space", "bytes", false},
    {"alloc_space", "memory", NULL, "space", "bytes", false},
    {"goroutines", "goroutines", "goroutine", "goroutine", "count", false},
    {"mutex_count", "mutex", "contentions", "contentions", "count", false},
    {"mutex_duration", "mutex", "delay", "contentions", "count", false},
    {"block_count", "block", "contentions", "contentions", "count", false},
    {"block_duration", "block", "delay", "contentions", "count", false},
    {"alloc_in_new_tlab_objects", "memory", NULL, "space", "bytes", false},
    {"alloc_in_new_tlab_bytes", "memory", NULL, "space", "bytes", false},
    {"alloc_outside_tlab_objects", "memory", NULL, "space", "bytes", false},
    {"alloc_outside_tlab_bytes", "memory", NULL, "space", "bytes", false},
    {"alloc_sample_objects", "memory", NULL, "space", "bytes", false},
    {"alloc_sample_bytes", "memory", NULL, "space", "bytes", false},
    {"lock_count", "mutex", "contentions", "mutex", "count", false},
    {"lock_duration", "mutex", "delay", "mutex", "count", false},
    {"live", "memory", NULL, "objects", "count", false},
    {"exceptions", "exceptions", NULL, "exceptions", "count", false},
};

/* Ember's units as Pyroscope's sample units. */
static const struct {
  const char *units, *unit;
} unit_names[] = {
    {"samples", "count"},        {"objects", "count"},
    {"goroutines", "count"},     {"lock_samples", "count"},
    {"bytes", "bytes"},          {"nanoseconds", "nanoseconds"},
    {"lock_nanoseconds", "nanoseconds"},
};

/* ---- Private functions ------------------------------------------------- */

/* Copies s into a part of an ID: ':' separates the parts, so it becomes
 * '_' (units are free text). */
static void put_part(char *dst, const char *s) {
  size_t i = 0;
  for (; s[i] && i + 1 < EMBER_PROFILE_TYPE_PART; i++)
    dst[i] = s[i] == ':' ? '_' : s[i];
  dst[i] = '\0';
}

static const char *unit_of(const char *units) {
  for (size_t i = 0; i < sizeof unit_names / sizeof *unit_names; i++)
    if (!strcmp(units, unit_names[i].units)) return unit_names[i].unit;
  return units;
}

static void finish(ember_profile_type_t *t, uint64_t scale) {
  snprintf(t->id, sizeof t->id, "%s:%s:%s:%s:%s", t->name, t->sample_type, t->sample_unit,
           t->period_type, t->period_unit);
  t->scale = scale;
}

/* The part of an app name after its last '.', "" without one. */
static const char *suffix_of(const char *app) {
  const char *dot = strrchr(app, '.');
  return dot ? dot + 1 : "";
}

/* ---- API --------------------------------------------------------------- */

void ember_profile_service_name(const char *app, char *out, size_t size) {
  const char *dot = strrchr(app, '.');
  size_t n = dot ? (size_t)(dot - app) : strlen(app);
  if (!size) return;
  if (n >= size) n = size - 1;
  memcpy(out, app, n);
  out[n] = '\0';
}

bool ember_profile_type_id_valid(const char *id) {
  size_t colons = 0;
  for (const char *p = id; *p; p++)
    colons += *p == ':';
  /* Pyroscope allows a sixth part, ":delta"; Ember's types have none. */
  return *id && colons == 4;
}

size_t ember_profile_types_of(const char *app, const char *units, uint32_t sample_rate,
                              ember_profile_type_t out[2]) {
  const char *suffix = suffix_of(app);
  if (!units || !*units) units = "samples";
  bool samples = !strcmp(units, "samples");
  /* An app without a suffix is a CPU profile, as Pyroscope reads one. */
  if (!*suffix && (samples || !strcmp(units, "nanoseconds"))) suffix = "cpu";
  const kind_t *k = NULL;
  for (size_t i = 0; i < sizeof kinds / sizeof *kinds; i++)
    if (!strcmp(kinds[i].suffix, suffix)) k = &kinds[i];
  memset(out, 0, 2 * sizeof *out);
  if (!k) {
    /* A type of its own: named after the suffix (or the units). */
    const char *name = *suffix ? suffix : units;
    put_part(out->name, name);
    put_part(out->sample_type, name);
    put_part(out->sample_unit, unit_of(units));
    put_part(out->period_type, name);
    put_part(out->period_unit, unit_of(units));
    finish(out, 1);
    return 1;
  }
  put_part(out->name, k->name);
  put_part(out->period_type, k->period_type);
  put_part(out->period_unit, k->period_unit);
  if (!k->time || !samples) {
    put_part(out->sample_type, k->sample_type ? k->sample_type : suffix);
    put_part(out->sample_unit, unit_of(units));
    finish(out, 1);
    return 1;
  }
  /* Time counted in samples: nanoseconds at the sampling period (rounded
   * as the pprof export rounds it), then the samples themselves. */
  uint32_t rate = sample_rate ? sample_rate : 100;
  put_part(out->sample_type, k->sample_type);
  put_part(out->sample_unit, "nanoseconds");
  finish(out, (1000000000u + rate / 2) / rate);
  out[1] = out[0];
  put_part(out[1].sample_type, "samples");
  put_part(out[1].sample_unit, "count");
  finish(&out[1], 1);
  return 2;
}
