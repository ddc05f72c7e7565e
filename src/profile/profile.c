/*
 * profile.c - freeing and counting profiles (include/ember/profile.h).
 */
#include "ember/profile.h"

#include <stdlib.h>
#include <string.h>

void ember_profile_free(ember_profile_t *p) {
  if (!p) return;
  ember_series_key_free(&p->key);
  free(p->spy_name);
  free(p->units);
  ember_tree_free(p->tree);
  ember_text_stacks_free(p->stacks);
  memset(p, 0, sizeof *p);
}

void ember_ingest_result_free(ember_ingest_result_t *r) {
  if (!r) return;
  for (size_t i = 0; i < r->n; i++)
    ember_profile_free(&r->items[i]);
  free(r->items);
  r->items = NULL;
  r->n = 0;
}

uint64_t ember_ingest_result_samples(const ember_ingest_result_t *r) {
  uint64_t sum = 0;
  for (size_t i = 0; i < r->n; i++) {
    const ember_profile_t *p = &r->items[i];
    uint64_t v = p->stacks ? p->stacks->total : ember_tree_total(p->tree, 0);
    sum = ember_sat_add(sum, v);
  }
  return sum;
}
