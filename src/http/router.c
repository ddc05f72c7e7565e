/*
 * router.c - the route table: which path goes to which handler, with which
 * methods, and whether it runs on a worker. Unknown paths are 404 and known
 * paths with another method 405, both decided here before any body is read.
 */
#include <string.h>

#include "ember/push.h"
#include "ember/querier.h"
#include "ember/web.h"
#include "http/http_int.h"

#define READ (HTTP_GET | HTTP_HEAD)

static const route_t routes[] = {
    {"/ingest", false, HTTP_POST, HTTP_RUN_INGEST, ember_http_ingest, METRIC_ROUTE_INGEST,
     HTTP_ROLE_INGEST, true, NULL},
    /* Alloy's pyroscope.write and the SDKs: a Connect call, stored like
     * /ingest. */
    {"/push.v1.PusherService/", true, HTTP_POST, HTTP_RUN_INGEST, ember_http_push,
     METRIC_ROUTE_PUSH, HTTP_ROLE_INGEST, true, &ember_push_service},
    {"/render", false, READ, HTTP_RUN_QUERY, ember_http_render, METRIC_ROUTE_RENDER,
     HTTP_ROLE_READ, false, NULL},
    {"/render-diff", false, READ, HTTP_RUN_QUERY, ember_http_render_diff,
     METRIC_ROUTE_RENDER_DIFF, HTTP_ROLE_READ, false, NULL},
    {"/labels", false, READ, HTTP_RUN_QUERY, ember_http_labels, METRIC_ROUTE_LABELS,
     HTTP_ROLE_READ, false, NULL},
    {"/label-values", false, READ, HTTP_RUN_QUERY, ember_http_label_values,
     METRIC_ROUTE_LABEL_VALUES, HTTP_ROLE_READ, false, NULL},
    {"/api/apps", false, READ | HTTP_DELETE, HTTP_RUN_QUERY, ember_http_apps,
     METRIC_ROUTE_APPS, HTTP_ROLE_READ, false, NULL},
    {"/api/explore", false, READ, HTTP_RUN_QUERY, ember_http_explore,
     METRIC_ROUTE_EXPLORE, HTTP_ROLE_READ, false, NULL},
    /* Grafana's Pyroscope data source: Connect calls, read like /render. */
    {"/querier.v1.QuerierService/", true, HTTP_POST, HTTP_RUN_QUERY, ember_http_querier,
     METRIC_ROUTE_QUERIER, HTTP_ROLE_READ, false, &ember_querier_service},
    {"/healthz", false, READ, HTTP_RUN_INLINE, ember_http_healthz, METRIC_ROUTE_HEALTHZ,
     HTTP_ROLE_NONE, false, NULL},
    {"/readyz", false, READ, HTTP_RUN_INLINE, ember_http_readyz, METRIC_ROUTE_READYZ,
     HTTP_ROLE_NONE, false, NULL},
    {"/metrics", false, READ, HTTP_RUN_INLINE, ember_http_metrics, METRIC_ROUTE_METRICS,
     HTTP_ROLE_READ, false, NULL},
};

/* The UI's files hold nothing secret: the page loads without a token and
 * asks for one when the API answers 401. */
static const route_t asset_route = {
    "/",  true, READ, HTTP_RUN_INLINE, ember_http_asset, METRIC_ROUTE_UI, HTTP_ROLE_NONE,
    false, NULL};

const route_t *ember_http_route(const char *path) {
  for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++) {
    const route_t *r = &routes[i];
    if (r->prefix ? !strncmp(r->path, path, strlen(r->path)) : !strcmp(r->path, path))
      return r;
  }
  if (ember_web_find(path)) return &asset_route;
  return NULL;
}

http_run_t ember_http_run_of(const ember_http_req_t *req) {
  /* A delete waits for the writer, as pushes do, not for a query slot. */
  return req->method == HTTP_DELETE ? HTTP_RUN_INGEST : req->route->run;
}

unsigned ember_http_role_of(const ember_http_req_t *req) {
  return req->method == HTTP_DELETE ? HTTP_ROLE_ADMIN : req->route->role;
}

void ember_http_allow(const route_t *r, ember_buf_t *out) {
  static const struct {
    unsigned bit;
    const char *name;
  } names[] = {{HTTP_GET, "GET"},
               {HTTP_HEAD, "HEAD"},
               {HTTP_POST, "POST"},
               {HTTP_PUT, "PUT"},
               {HTTP_DELETE, "DELETE"}};
  for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
    if (!(r->methods & names[i].bit)) continue;
    if (out->len) ember_buf_puts(out, ", ");
    ember_buf_puts(out, names[i].name);
  }
}
