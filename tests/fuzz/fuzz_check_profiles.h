/* What the pprof fuzz drivers share: the request they push as, and the
 * checks every profile of a successful push must pass. */
#ifndef EMBER_FUZZ_CHECK_PROFILES_H
#define EMBER_FUZZ_CHECK_PROFILES_H

#include "ember/ingest.h"
#include "ember/series.h"
#include "fuzz_util.h"

/* The request: app.cpu{region=eu}, 10 s, 100 Hz. Free with
 * ember_profile_free. */
static inline void fuzz_base(ember_profile_t *base) {
  memset(base, 0, sizeof *base);
  FUZZ_CHECK(ember_series_key_parse("app.cpu{region=eu}", 18, &base->key, NULL) == 0);
  base->from = 1700000000;
  base->until = 1700000010;
  base->sample_rate = 100;
  base->spy_name = fuzz_cstr((const uint8_t *)"gospy", 5);
  base->units = fuzz_cstr((const uint8_t *)"samples", 7);
}

/* Each profile is a series Ember can store: a valid app name starting with
 * the request's, valid sorted unique labels, a sane rate, a non-empty
 * valid tree. Frees the result. */
static inline void fuzz_check_profiles(ember_ingest_result_t *res) {
  for (size_t i = 0; i < res->n; i++) {
    const ember_profile_t *p = &res->items[i];
    FUZZ_CHECK(p->key.app && p->spy_name && p->units && p->tree);
    FUZZ_CHECK(ember_app_name_valid(p->key.app, strlen(p->key.app)));
    FUZZ_CHECK(!strncmp(p->key.app, "app.", 4));
    for (size_t k = 0; k < p->key.nlabels; k++) {
      const ember_label_t *l = &p->key.labels[k];
      FUZZ_CHECK(ember_label_key_valid(l->key, strlen(l->key)));
      FUZZ_CHECK(ember_label_value_valid(l->value, strlen(l->value)));
      FUZZ_CHECK(k == 0 || strcmp(p->key.labels[k - 1].key, l->key) < 0);
    }
    FUZZ_CHECK(p->sample_rate >= 1 && p->sample_rate <= 1000000000);
    FUZZ_CHECK(p->from == 1700000000 && p->until == 1700000010);
    FUZZ_CHECK(ember_tree_total(p->tree, 0) > 0);
    fuzz_check_tree(p->tree);
    fuzz_check_depth(p->tree, EMBER_INGEST_DEFAULT_MAX_STACK_DEPTH);
  }
  ember_ingest_result_free(res);
}

#endif
