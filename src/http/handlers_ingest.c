/*
 * handlers_ingest.c - POST /ingest: parse on a worker, hand the profiles to
 * the store's writer, and answer only once the writer has committed them.
 */
#include <stdio.h>

#include "ember/ingest.h"
#include "ember/store.h"
#include "http/http_int.h"

/* The store's done callback, on the writer thread: the commit (or its
 * failure) decides the response. */
static void on_committed(void *ctx, int rc, const ember_err_t *err) {
  ember_http_req_t *req = ctx;
  if (rc == EMBER_OK) {
    req->status = 200;
  } else {
    ember_http_set_error(req, rc,
                         err && err->msg[0] ? err->msg : "storing the profile failed");
    fprintf(stderr, "ember: ingest failed: %s\n", err ? err->msg : "?");
  }
  ember_http_finish(req);
}

int ember_http_ingest(ember_http_req_t *req, ember_err_t *err) {
  ember_ingest_request_t in = {
      .name = ember_http_arg(req, "name"),
      .from = ember_http_arg(req, "from"),
      .until = ember_http_arg(req, "until"),
      .format = ember_http_arg(req, "format"),
      .sample_rate = ember_http_arg(req, "sampleRate"),
      .spy_name = ember_http_arg(req, "spyName"),
      .units = ember_http_arg(req, "units"),
      .aggregation = ember_http_arg(req, "aggregationType"),
      .event = ember_http_arg(req, "event"),
      .content_type = ember_http_header(req, "Content-Type"),
      .content_encoding = ember_http_header(req, "Content-Encoding"),
      .body = (const uint8_t *)req->body.data,
      .body_len = req->body.len,
      .max_body = ember_http_max_body(req),
      .now = ember_now(),
      .limits = *ember_http_ingest_limits(req),
      .budget = ember_http_budget(req),
      /* The body lives until the request completes, after the store's
       * done callback: the profile may point into it. */
      .text_stacks = true,
  };
  ember_ingest_result_t res = {0};
  int rc = ember_ingest_parse(&in, &res, err);
  if (rc) return rc;
  ember_metrics_stacks_truncated(res.stacks_truncated);
  ember_metrics_jfr_unknown_contexts(res.unknown_contexts);
  /* The parsed profiles stay in memory until the writer has them on disk:
   * they are held against the budget as long as the request lives. */
  if (!ember_http_charge(req, res.mem_bytes)) {
    ember_ingest_result_free(&res);
    ember_metrics_refused(METRIC_REFUSED_BUDGET);
    return ember_err_set(err, EMBER_EBUSY,
                         "the server holds too many bytes in flight; retry in a moment "
                         "(the limit is --max-inflight)");
  }
  uint64_t samples = ember_ingest_result_samples(&res);
  size_t profiles = res.n;
  if (profiles == 0) { /* an empty push is valid and stores nothing */
    ember_metrics_ingest(req->body.len, 0, 0);
    ember_ingest_result_free(&res);
    req->status = 200;
    return EMBER_OK;
  }
  /* Once submitted, the writer may commit, answer and free req before
   * ember_store_submit even returns: nothing below may touch req. */
  size_t body_len = req->body.len;
  rc = ember_store_submit(ember_http_store(req), &res, on_committed, req, err);
  ember_ingest_result_free(&res);
  if (rc) return rc;
  ember_metrics_ingest(body_len, profiles, samples);
  return EMBER_HTTP_PENDING;
}
