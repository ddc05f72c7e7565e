/*
 * profile.h - profiles: what ingest produces, the store keeps and queries
 * read back. A profile is the call tree of one series over a time range,
 * with the metadata that says how to read its values; the profiles of one
 * push travel together as an ember_ingest_result_t.
 *
 * The model lives here, apart from every stage that uses it, so that
 * ingest, store and query depend on it and never on each other.
 */
#ifndef EMBER_PROFILE_H
#define EMBER_PROFILE_H

#include "ember/common.h"
#include "ember/series.h"
#include "ember/tree.h"

typedef enum {
  EMBER_AGG_SUM = 0,
  EMBER_AGG_AVERAGE = 1,
} ember_aggregation_t;

/* One series' worth of samples over [from, until]. Owns key, strings, tree. */
typedef struct {
  ember_series_key_t key;
  int64_t from;  /* Unix seconds */
  int64_t until; /* Unix seconds, >= from */
  uint32_t sample_rate;
  char *spy_name;
  char *units;
  ember_aggregation_t aggregation;
  ember_tree_t *tree; /* side 0 holds the values */
} ember_profile_t;

/* The profiles of one request. Owns the array and every profile. */
typedef struct {
  ember_profile_t *items;
  size_t n;
  uint64_t stacks_truncated; /* stacks cut at max_stack_depth */
  size_t mem_bytes;          /* estimate of the memory the profiles hold */
} ember_ingest_result_t;

/* Free what they own and leave them empty; NULL is accepted. */
void ember_ingest_result_free(ember_ingest_result_t *r);
void ember_profile_free(ember_profile_t *p);

/* Total number of samples (sum of values) over all profiles. */
uint64_t ember_ingest_result_samples(const ember_ingest_result_t *r);

#endif
