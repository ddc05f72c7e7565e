/*
 * service.c - push.v1.PusherService/Push: a PushRequest to
 * ember_ingest_push's plain series, the profiles it gives to the store, and
 * the answer once they are committed (include/ember/push.h).
 *
 * A push is answered at once when it cannot be read (invalid_argument),
 * does not fit the limits (resource_exhausted, as /ingest's 413 and 429),
 * holds no samples (an empty PushResponse) or the store will not take it
 * (its queue is full: resource_exhausted, retry); otherwise the call stays
 * open until the store's writer has committed it, and then gets its empty
 * PushResponse, or the error of the commit.
 */
#include <stdlib.h>
#include <string.h>

#include "ember/push.h"
#include "proto/push.pb-c.h"

typedef Push__V1__PushRequest pb_request_t;
typedef Push__V1__RawProfileSeries pb_series_t;

/* A push handed to the store, until its commit. */
typedef struct {
  void (*done)(void *arg, ember_connect_call_t *call, int rc, const ember_err_t *err);
  void *arg;
  ember_connect_call_t *call;
} pending_t;

static void committed(void *ctx, int rc, const ember_err_t *err) {
  pending_t p = *(pending_t *)ctx;
  free(ctx);
  p.done(p.arg, p.call, rc, err);
}

/* The series of the request as ember_ingest_push reads them, in the call's
 * memory (they borrow the request's strings and bytes). */
static ember_ingest_series_t *plain_series(ember_connect_call_t *call,
                                           const pb_request_t *rq) {
  ember_ingest_series_t *out = ember_connect_alloc(call, (rq->n_series + 1) * sizeof *out);
  for (size_t i = 0; i < rq->n_series; i++) {
    const pb_series_t *s = rq->series[i];
    ember_ingest_label_t *labels =
        ember_connect_alloc(call, (s->n_labels + 1) * sizeof *labels);
    ember_ingest_raw_t *samples =
        ember_connect_alloc(call, (s->n_samples + 1) * sizeof *samples);
    for (size_t l = 0; l < s->n_labels; l++)
      labels[l] = (ember_ingest_label_t){s->labels[l]->name, s->labels[l]->value};
    for (size_t k = 0; k < s->n_samples; k++)
      samples[k] = (ember_ingest_raw_t){s->samples[k]->raw_profile.data,
                                        s->samples[k]->raw_profile.len};
    out[i] = (ember_ingest_series_t){labels, s->n_labels, samples, s->n_samples};
  }
  return out;
}

static int push(void *vctx, ember_connect_call_t *call, const ProtobufCMessage *in,
                ember_err_t *err) {
  ember_push_ctx_t *ctx = vctx;
  const pb_request_t *rq = (const pb_request_t *)in;
  ember_ingest_push_t ip = {plain_series(call, rq), rq->n_series, ctx->max_body, ctx->now,
                            ctx->limits, ctx->budget};
  ember_ingest_result_t res;
  int rc = ember_ingest_push(&ip, &res, err);
  if (rc) return rc;
  ctx->profiles = res.n;
  ctx->samples = ember_ingest_result_samples(&res);
  ctx->truncated = res.stacks_truncated;
  if (!ctx->charge(ctx->arg, res.mem_bytes)) {
    ember_ingest_result_free(&res);
    return ember_err_set(err, EMBER_EBUSY,
                         "the server holds too many bytes in flight; retry in a moment "
                         "(the limit is --max-inflight)");
  }
  if (res.n == 0) return EMBER_OK; /* nothing to store: answered at once */
  pending_t *p = ember_malloc(sizeof *p);
  *p = (pending_t){ctx->done, ctx->arg, call};
  /* Once submitted, the writer may commit and answer before the submit
   * returns: nothing below may touch call or ctx's request. */
  rc = ember_store_submit(ctx->store, &res, committed, p, err);
  ember_ingest_result_free(&res);
  if (rc) {
    free(p);
    return rc;
  }
  return EMBER_CONNECT_PENDING;
}

static const ember_connect_method_t methods[] = {
    {"Push", &push__v1__push_request__descriptor, &push__v1__push_response__descriptor,
     push},
};

const ember_connect_service_t ember_push_service = {"push.v1.PusherService", methods,
                                                    sizeof methods / sizeof *methods};
