/*
 * querier.h - Grafana Pyroscope's query API (`querier.v1.QuerierService`,
 * src/proto/querier.proto) answered from Ember's store, so that Grafana's
 * "Grafana Pyroscope" data source reads Ember: profile types, labels,
 * series, flame graphs, diffs, time series, pprof and statistics.
 *
 * Pyroscope names a profile by labels: `service_name` and the profile type
 * (`__profile_type__`, "process_cpu:cpu:nanoseconds:cpu:nanoseconds"),
 * beside the labels the agent sent. Ember names it by app, `name.suffix`
 * ("ride-sharing-app.cpu"). The two meet here: each app answers as one
 * profile type (two for CPU and wall time counted in samples, whose values
 * also read as nanoseconds), its base name is its service_name, and a
 * selector over those labels picks the apps to read; the other matchers go
 * to the store as FlameQL matchers. docs/grafana.md has the table.
 *
 * Reads go through the store's read sessions and the query module's
 * limits, as /render's do, so the numbers are /render's and the bounds too
 * (maxNodes, the size of an answer, the calling thread's deadline).
 */
#ifndef EMBER_QUERIER_H
#define EMBER_QUERIER_H

#include "ember/common.h"
#include "ember/connect.h"
#include "ember/store.h"

/* What the methods need from the server. */
typedef struct {
  ember_store_t *store;  /* borrowed */
  long max_nodes_limit;  /* --max-nodes; 0: EMBER_QUERY_MAX_NODES_LIMIT */
  size_t max_output;     /* largest answer; 0: EMBER_QUERY_MAX_OUTPUT */
  int64_t now;           /* Unix seconds */
} ember_querier_ctx_t;

/* The methods, for ember_connect_unary with an ember_querier_ctx_t. */
extern const ember_connect_service_t ember_querier_service;

/* ---- Profile types ----------------------------------------------------- */

#define EMBER_PROFILE_TYPE_PART 128

/* One profile type an app answers as. */
typedef struct {
  char name[EMBER_PROFILE_TYPE_PART]; /* __name__: "process_cpu" */
  char sample_type[EMBER_PROFILE_TYPE_PART];
  char sample_unit[EMBER_PROFILE_TYPE_PART];
  char period_type[EMBER_PROFILE_TYPE_PART];
  char period_unit[EMBER_PROFILE_TYPE_PART];
  char id[5 * EMBER_PROFILE_TYPE_PART]; /* the five, ':' between */
  /* What one stored value stands for in this type's unit: the sampling
   * period in nanoseconds for CPU or wall time counted in samples, else 1. */
  uint64_t scale;
} ember_profile_type_t;

/* The profile types of an app (its name, units and sample rate): one, or
 * two for a cpu, itimer or wall app counted in samples (its time in
 * nanoseconds first, then its samples). Returns how many were written to
 * out. */
size_t ember_profile_types_of(const char *app, const char *units, uint32_t sample_rate,
                              ember_profile_type_t out[2]);

/* An app's service_name: its name up to the last '.', or all of it. Writes
 * at most size bytes (NUL included). */
void ember_profile_service_name(const char *app, char *out, size_t size);

/* Whether id has the five ':'-separated parts of a profile type ID. */
bool ember_profile_type_id_valid(const char *id);

#endif
