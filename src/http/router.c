/*
 * router.c - the route table: which path goes to which handler, with which
 * methods, and whether it runs on a worker. Unknown paths are 404 and known
 * paths with another method 405, both decided here before any body is read.
 */
#include <string.h>

#include "ember/web.h"
#include "http/http_int.h"

#define READ (HTTP_GET | HTTP_HEAD)

static const route_t routes[] = {
    {"/ingest", false, HTTP_POST, true, ember_http_ingest, METRIC_ROUTE_INGEST},
    {"/render", false, READ, true, ember_http_render, METRIC_ROUTE_RENDER},
    {"/render-diff", false, READ, true, ember_http_render_diff,
     METRIC_ROUTE_RENDER_DIFF},
    {"/labels", false, READ, true, ember_http_labels, METRIC_ROUTE_LABELS},
    {"/label-values", false, READ, true, ember_http_label_values,
     METRIC_ROUTE_LABEL_VALUES},
    {"/api/apps", false, READ | HTTP_DELETE, true, ember_http_apps,
     METRIC_ROUTE_APPS},
    {"/healthz", false, READ, false, ember_http_healthz, METRIC_ROUTE_HEALTHZ},
    {"/metrics", false, READ, false, ember_http_metrics, METRIC_ROUTE_METRICS},
};

static const route_t asset_route = {"/", true, READ, false, ember_http_asset,
                                    METRIC_ROUTE_UI};

const route_t *ember_http_route(const char *path) {
  for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++)
    if (!strcmp(routes[i].path, path)) return &routes[i];
  if (ember_web_find(path)) return &asset_route;
  return NULL;
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
