/*
 * handlers_connect.c - the Connect routes: a request's path, headers and
 * body handed to the connect module, and its response copied back. The
 * route table (router.c) gives each service its role, its workers and its
 * body limit like any other route; queries run with their deadline set.
 */
#include <string.h>

#include <stdio.h>

#include "ember/push.h"
#include "ember/querier.h"
#include "ember/query.h"
#include "http/http_int.h"

void ember_http_connect_request(const ember_http_req_t *req, ember_connect_request_t *rq) {
  memset(rq, 0, sizeof *rq);
  rq->method = req->path + strlen(req->route->path);
  rq->content_type = ember_http_header(req, "Content-Type");
  rq->content_encoding = ember_http_header(req, "Content-Encoding");
  rq->accept_encoding = ember_http_header(req, "Accept-Encoding");
  rq->protocol_version = ember_http_header(req, "Connect-Protocol-Version");
  rq->timeout_ms = ember_http_header(req, "Connect-Timeout-Ms");
  rq->body = (const uint8_t *)req->body.data;
  rq->len = req->body.len;
  rq->max_message = req->route->big_body ? ember_http_max_body(req) : EMBER_HTTP_SMALL_BODY;
}

void ember_http_connect_respond(ember_http_req_t *req, ember_connect_response_t *resp) {
  req->status = resp->status;
  req->content_type = resp->content_type;
  if (resp->content_encoding)
    ember_http_set_header(req, "Content-Encoding", resp->content_encoding);
  if (resp->accept_post) ember_http_set_header(req, "Accept-Post", resp->accept_post);
  if (resp->accept_encoding)
    ember_http_set_header(req, "Accept-Encoding", resp->accept_encoding);
  ember_buf_free(&req->resp);
  req->resp = resp->body;
  resp->body = (ember_buf_t)EMBER_BUF_INIT;
}

int ember_http_querier(ember_http_req_t *req, ember_err_t *err) {
  ember_connect_request_t rq;
  ember_http_connect_request(req, &rq);
  ember_querier_ctx_t ctx = {
      .store = ember_http_store(req),
      .max_nodes_limit = ember_http_max_nodes(req),
      .max_output = EMBER_QUERY_MAX_OUTPUT,
      .now = ember_now(),
  };
  ember_connect_response_t resp;
  int code = ember_connect_unary(&ember_querier_service, &rq, &ctx, &resp);
  if (code == EMBER_CONNECT_DEADLINE_EXCEEDED) ember_metrics_refused(METRIC_REFUSED_TIMEOUT);
  ember_http_connect_respond(req, &resp);
  return EMBER_OK;
}

/* ---- push.v1.PusherService ------------------------------------------------ */

static bool push_charge(void *arg, size_t n) {
  return ember_http_charge(arg, n);
}

/* Fills req from a call ended with rc; a busy server says when to retry. */
static void push_answer(ember_http_req_t *req, ember_connect_call_t *call, int rc,
                        const ember_err_t *err) {
  ember_connect_response_t resp;
  ember_connect_end(call, rc, err, &resp);
  ember_http_connect_respond(req, &resp);
  if (rc == EMBER_EBUSY) ember_http_set_header(req, "Retry-After", "1");
}

/* The store's answer, on its writer thread. */
static void push_done(void *arg, ember_connect_call_t *call, int rc,
                      const ember_err_t *err) {
  ember_http_req_t *req = arg;
  if (rc) fprintf(stderr, "ember: push failed: %s\n", err ? err->msg : "?");
  push_answer(req, call, rc, err);
  ember_http_finish(req);
}

int ember_http_push(ember_http_req_t *req, ember_err_t *err) {
  ember_connect_request_t rq;
  ember_http_connect_request(req, &rq);
  rq.budget = ember_http_budget(req);
  ember_push_ctx_t ctx = {
      .store = ember_http_store(req),
      .max_body = ember_http_max_body(req),
      .now = ember_now(),
      .limits = *ember_http_ingest_limits(req),
      .budget = ember_http_budget(req),
      .charge = push_charge,
      .done = push_done,
      .arg = req,
  };
  ember_connect_call_t *call;
  ember_connect_response_t resp;
  if (ember_connect_begin(&ember_push_service, &rq, &call, &resp)) {
    if (resp.code == EMBER_CONNECT_RESOURCE_EXHAUSTED) {
      ember_http_set_header(req, "Retry-After", "1");
      ember_metrics_refused(METRIC_REFUSED_BUDGET);
    }
    ember_http_connect_respond(req, &resp);
    return EMBER_OK;
  }
  ember_err_t e;
  ember_err_clear(&e);
  size_t body_len = req->body.len;
  const ember_connect_method_t *m = ember_connect_call_method(call);
  int rc = m->fn(&ctx, call, ember_connect_call_input(call), &e);
  if (rc == EMBER_OK || rc == EMBER_CONNECT_PENDING) {
    ember_metrics_stacks_truncated(ctx.truncated);
    ember_metrics_ingest(body_len, ctx.profiles, ctx.samples);
  }
  /* Pending: the store answers (push_done); req may be gone already. */
  if (rc == EMBER_CONNECT_PENDING) return EMBER_HTTP_PENDING;
  push_answer(req, call, rc, &e);
  return EMBER_OK;
}
