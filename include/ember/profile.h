/*
 * profile.h - profiles: what ingest produces, the store keeps and queries
 * read back. A profile is the call tree of one series over a time range
 * (or, for the text formats on their way to the store, its stacks as the
 * lines they were sent as), with the metadata that says how to read its
 * values; the profiles of one push travel together as an
 * ember_ingest_result_t.
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

/* ---- Text stacks ----------------------------------------------------------- */

/* One distinct stack of a folded or lines body as it was sent: "a;b;c",
 * root first, with its empty frames and the frames past the depth limit. */
typedef struct {
  const char *text; /* borrowed: see ember_text_stacks_t */
  uint32_t len;
  uint64_t hash;  /* ember_hash_bytes(text, len) */
  uint64_t value; /* the sum of the values sent for it, > 0 */
} ember_text_stack_t;

/* The stacks of a text body kept as text instead of a tree, so that the
 * store resolves each whole line to its stack id with one lookup and builds
 * a tree only of the lines it has not seen before (ember_text_tree_build).
 * Owns items and owned. The texts point into owned when decoding the body
 * made a copy (a Content-Encoding undone), else into the request's body,
 * which must then outlive the profile's use: until the store has answered
 * the push (its done callback). */
typedef struct {
  ember_text_stack_t *items; /* distinct texts, in order of first appearance */
  size_t n;
  uint64_t total;     /* sum of the values, saturating */
  uint32_t max_depth; /* the push's depth limit, which their tree follows */
  char *owned;        /* NULL, or the decoded body the texts point into */
  size_t owned_cap;
  /* What building their tree may hold: it takes its bytes from budget
   * (borrowed, NULL = unlimited; the server's, which outlives its pushes)
   * as it grows, and at most mem_limit of them. */
  ember_budget_t *budget;
  size_t mem_limit;
} ember_text_stacks_t;

/* Frees s and everything it owns (never the body it borrows); NULL is
 * accepted. */
void ember_text_stacks_free(ember_text_stacks_t *s);
/* Bytes s holds: its items and the body it owns. NULL gives 0. */
size_t ember_text_stacks_mem(const ember_text_stacks_t *s);

/* A tree built from text stacks, with the bytes it took from a budget. */
typedef struct {
  ember_tree_t *tree;
  ember_budget_t *budget; /* borrowed */
  size_t held;            /* bytes taken from budget */
} ember_text_tree_t;

/* Builds into *out the tree of items[which[i]] for i < n (every item, in
 * order, when which is NULL), each cut at s->max_depth exactly as a tree
 * decoder cuts it, and sets leaf[i] (may be NULL) to the node of the i-th.
 * The tree takes its bytes from s->budget as it grows: EMBER_EBUSY when the
 * budget has no room now, EMBER_ETOOBIG past s->mem_limit. On failure *out
 * is left empty; else free it with ember_text_tree_free. */
int ember_text_tree_build(const ember_text_stacks_t *s, const uint32_t *which, size_t n,
                          uint32_t *leaf, ember_text_tree_t *out, ember_err_t *err);
/* Frees the tree and gives its bytes back; NULL is accepted. */
void ember_text_tree_free(ember_text_tree_t *t);

/* ---- Profiles ----------------------------------------------------------------- */

/* One series' worth of samples over [from, until]. Owns key, strings, and
 * its samples: exactly one of tree and stacks is set. */
typedef struct {
  ember_series_key_t key;
  int64_t from;  /* Unix seconds */
  int64_t until; /* Unix seconds, >= from */
  uint32_t sample_rate;
  char *spy_name;
  char *units;
  ember_aggregation_t aggregation;
  ember_tree_t *tree;          /* side 0 holds the values, or NULL */
  ember_text_stacks_t *stacks; /* or the stacks as text (ingest.h, text_stacks) */
} ember_profile_t;

/* The profiles of one request. Owns the array and every profile. */
typedef struct {
  ember_profile_t *items;
  size_t n;
  uint64_t stacks_truncated; /* stacks cut at max_stack_depth */
  uint64_t unknown_contexts; /* JFR events whose context id had no labels */
  size_t mem_bytes;          /* estimate of the memory the profiles hold */
} ember_ingest_result_t;

/* Free what they own and leave them empty; NULL is accepted. */
void ember_ingest_result_free(ember_ingest_result_t *r);
void ember_profile_free(ember_profile_t *p);

/* Total number of samples (sum of values) over all profiles. */
uint64_t ember_ingest_result_samples(const ember_ingest_result_t *r);

#endif
