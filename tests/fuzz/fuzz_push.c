/* Fuzz driver for push.v1 pushes (src/ingest/push.c, and through it the
 * pprof reader): the input is a PushRequest protobuf, decoded by the code
 * generated from src/proto/push.proto, whose series go to
 * ember_ingest_push. Every profile that comes out must be a valid series
 * with a valid, non-empty tree, named after its series' service_name. */
#include "ember/ingest.h"
#include "fuzz_check_profiles.h"
#include "proto/push.pb-c.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  Push__V1__PushRequest *rq = push__v1__push_request__unpack(NULL, size, data);
  if (!rq) return 0;
  size_t nlabels = 0, nsamples = 0;
  for (size_t i = 0; i < rq->n_series; i++) {
    nlabels += rq->series[i]->n_labels;
    nsamples += rq->series[i]->n_samples;
  }
  ember_ingest_series_t *series = calloc(rq->n_series + 1, sizeof *series);
  ember_ingest_label_t *labels = calloc(nlabels + 1, sizeof *labels);
  ember_ingest_raw_t *raw = calloc(nsamples + 1, sizeof *raw);
  FUZZ_CHECK(series && labels && raw);
  size_t l = 0, r = 0;
  for (size_t i = 0; i < rq->n_series; i++) {
    const Push__V1__RawProfileSeries *s = rq->series[i];
    series[i] = (ember_ingest_series_t){labels + l, s->n_labels, raw + r, s->n_samples};
    for (size_t k = 0; k < s->n_labels; k++)
      labels[l++] = (ember_ingest_label_t){s->labels[k]->name, s->labels[k]->value};
    for (size_t k = 0; k < s->n_samples; k++)
      raw[r++] = (ember_ingest_raw_t){s->samples[k]->raw_profile.data,
                                      s->samples[k]->raw_profile.len};
  }
  /* A now far ahead, so that the captures' times are never in its future. */
  ember_ingest_push_t req = {series, rq->n_series, 1u << 20, INT64_C(4000000000), {0}, NULL};
  ember_ingest_result_t res;
  ember_err_t err;
  int rc = ember_ingest_push(&req, &res, &err);
  fuzz_check_message(rc, &err);
  FUZZ_CHECK(rc == 0 || rc == EMBER_EINVAL || rc == EMBER_EPARSE || rc == EMBER_ERANGE ||
             rc == EMBER_ETOOBIG || rc == EMBER_ELIMIT);
  for (size_t i = 0; rc == 0 && i < res.n; i++) {
    const ember_profile_t *p = &res.items[i];
    FUZZ_CHECK(ember_app_name_valid(p->key.app, strlen(p->key.app)));
    for (size_t k = 0; k < p->key.nlabels; k++)
      FUZZ_CHECK(strncmp(p->key.labels[k].key, "__", 2) != 0);
    FUZZ_CHECK(ember_tree_total(p->tree, 0) > 0);
    fuzz_check_tree(p->tree);
  }
  if (rc == 0) ember_ingest_result_free(&res);
  free(series);
  free(labels);
  free(raw);
  push__v1__push_request__free_unpacked(rq, NULL);
  return 0;
}
