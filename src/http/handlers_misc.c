/*
 * handlers_misc.c - the small endpoints: /healthz, /readyz, /metrics and
 * the embedded web UI files.
 */
#include "ember/web.h"
#include "http/http_int.h"

int ember_http_healthz(ember_http_req_t *req, ember_err_t *err) {
  req->content_type = "text/plain; charset=utf-8";
  ember_buf_puts(&req->resp, "server is ready\n");
  return EMBER_OK;
}

/* Liveness (/healthz) says the process answers; readiness says pushes can
 * be expected to be stored: the store's last write succeeded and its disk
 * has room. A load balancer or orchestrator sends traffic elsewhere on 503
 * without restarting a server that still answers reads. */
int ember_http_readyz(ember_http_req_t *req, ember_err_t *err) {
  ember_store_health_t h;
  ember_store_health(ember_http_store(req), &h);
  if (!h.ready) return ember_err_set(err, EMBER_EUNAVAIL, "not ready: %.480s", h.reason);
  req->content_type = "text/plain; charset=utf-8";
  ember_buf_puts(&req->resp, "ready\n");
  return EMBER_OK;
}

int ember_http_metrics(ember_http_req_t *req, ember_err_t *err) {
  req->content_type = "text/plain; version=0.0.4; charset=utf-8";
  ember_server_gauges_t g;
  ember_http_gauges(req, &g);
  ember_metrics_render(&req->resp, &g, ember_http_store(req));
  return EMBER_OK;
}

int ember_http_asset(ember_http_req_t *req, ember_err_t *err) {
  const ember_web_asset_t *a = ember_web_find(req->path);
  if (!a) return ember_err_set(err, EMBER_ENOTFOUND, "no such file: %s", req->path);
  ember_http_set_header(req, "ETag", a->etag);
  /* The UI loads only its own files and talks only to this server; no
   * other site may frame it (clickjacking). */
  ember_http_set_header(req, "Content-Security-Policy",
                        "default-src 'self'; img-src 'self' data: blob:; "
                        "style-src 'self' 'unsafe-inline'; object-src 'none'; "
                        "base-uri 'none'; form-action 'self'; frame-ancestors 'none'");
  ember_http_set_header(req, "X-Frame-Options", "DENY");
  ember_http_set_header(req, "Referrer-Policy", "no-referrer");
  ember_http_set_header(req, "Cache-Control", "no-cache");
  ember_http_set_header(req, "Vary", "Accept-Encoding");
  if (ember_web_etag_matches(ember_http_header(req, "If-None-Match"), a->etag)) {
    req->status = 304;
    return EMBER_OK;
  }
  req->content_type = a->content_type;
  if (a->gz && ember_web_accepts_gzip(ember_http_header(req, "Accept-Encoding"))) {
    ember_http_set_header(req, "Content-Encoding", "gzip");
    req->static_body = a->gz;
    req->static_len = a->gz_size;
  } else {
    req->static_body = a->data;
    req->static_len = a->size;
  }
  return EMBER_OK;
}
