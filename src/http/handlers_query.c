/*
 * handlers_query.c - the read endpoints: /render, /render-diff,
 * /api/explore, /labels, /label-values and /api/apps. Each maps its parameters onto the query
 * module and copies the result into the response.
 */
#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "ember/query.h"
#include "ember/store.h"
#include "http/http_int.h"

static bool is_page(const char *content_type) {
  return content_type && (!strncmp(content_type, "text/html", 9) ||
                          !strncmp(content_type, "image/svg", 9));
}

static int respond(ember_http_req_t *req, int rc, ember_query_out_t *out) {
  if (rc == EMBER_OK) {
    ember_buf_free(&req->resp);
    req->resp = out->body;
    out->body = (ember_buf_t)EMBER_BUF_INIT;
    req->content_type = out->content_type;
    req->status = 200;
    /* An exported graph runs its own inline script when opened from the
     * server; as a sandboxed page of no origin it cannot call the API with
     * the viewer's credentials, whatever frame names it holds. */
    if (is_page(req->content_type))
      ember_http_set_header(req, "Content-Security-Policy",
                            "sandbox allow-scripts; default-src 'none'; "
                            "script-src 'unsafe-inline'; style-src 'unsafe-inline'; "
                            "img-src data:");
    /* Exports say what to save them as (a diff names both sides); inline,
     * so that a browser still shows an SVG or a page. The name holds only
     * [A-Za-z0-9._-]: no quoting to get wrong. */
    if (out->filename[0]) {
      char v[EMBER_QUERY_FILENAME_MAX + 32];
      snprintf(v, sizeof v, "inline; filename=\"%s\"", out->filename);
      ember_http_set_header(req, "Content-Disposition", v);
    }
  }
  ember_buf_free(&out->body);
  return rc;
}

static const char *max_nodes_arg(const ember_http_req_t *req) {
  const char *v = ember_http_arg(req, "maxNodes");
  return v ? v : ember_http_arg(req, "max-nodes");
}

int ember_http_render(ember_http_req_t *req, ember_err_t *err) {
  ember_render_params_t p = {
      .query = ember_http_arg(req, "query"),
      .name = ember_http_arg(req, "name"),
      .from = ember_http_arg(req, "from"),
      .until = ember_http_arg(req, "until"),
      .max_nodes = max_nodes_arg(req),
      .max_functions = ember_http_arg(req, "maxFunctions"),
      .format = ember_http_arg(req, "format"),
      .now = ember_now(),
      .max_nodes_limit = ember_http_max_nodes(req),
  };
  ember_query_out_t out = {EMBER_BUF_INIT, NULL, ""};
  return respond(req, ember_query_render(ember_http_store(req), &p, &out, err), &out);
}

int ember_http_render_diff(ember_http_req_t *req, ember_err_t *err) {
  ember_diff_params_t p = {
      .left_query = ember_http_arg(req, "leftQuery"),
      .left_from = ember_http_arg(req, "leftFrom"),
      .left_until = ember_http_arg(req, "leftUntil"),
      .right_query = ember_http_arg(req, "rightQuery"),
      .right_from = ember_http_arg(req, "rightFrom"),
      .right_until = ember_http_arg(req, "rightUntil"),
      .max_nodes = max_nodes_arg(req),
      .max_functions = ember_http_arg(req, "maxFunctions"),
      .format = ember_http_arg(req, "format"),
      .now = ember_now(),
      .max_nodes_limit = ember_http_max_nodes(req),
  };
  ember_query_out_t out = {EMBER_BUF_INIT, NULL, ""};
  return respond(req, ember_query_render_diff(ember_http_store(req), &p, &out, err),
                 &out);
}

int ember_http_explore(ember_http_req_t *req, ember_err_t *err) {
  ember_explore_params_t p = {
      .query = ember_http_arg(req, "query"),
      .group_by = ember_http_arg(req, "groupBy"),
      .from = ember_http_arg(req, "from"),
      .until = ember_http_arg(req, "until"),
      .top = ember_http_arg(req, "top"),
      .now = ember_now(),
  };
  ember_query_out_t out = {EMBER_BUF_INIT, NULL, ""};
  return respond(req, ember_query_explore(ember_http_store(req), &p, &out, err), &out);
}

int ember_http_labels(ember_http_req_t *req, ember_err_t *err) {
  ember_query_out_t out = {EMBER_BUF_INIT, NULL, ""};
  int rc =
      ember_query_labels(ember_http_store(req), ember_http_arg(req, "query"), &out, err);
  return respond(req, rc, &out);
}

int ember_http_label_values(ember_http_req_t *req, ember_err_t *err) {
  ember_query_out_t out = {EMBER_BUF_INIT, NULL, ""};
  int rc = ember_query_label_values(ember_http_store(req), ember_http_arg(req, "label"),
                                    ember_http_arg(req, "query"), &out, err);
  return respond(req, rc, &out);
}

/* DELETE /api/apps takes {"name": "app.cpu"}; ?name= works too, for curl. */
static int delete_app(ember_http_req_t *req, ember_err_t *err) {
  const char *name = ember_http_arg(req, "name");
  json_t *doc = NULL;
  int rc;
  if (!name && req->body.len) {
    json_error_t je;
    doc = json_loadb(req->body.data, req->body.len, 0, &je);
    if (!doc) {
      rc = ember_err_set(err, EMBER_EINVAL,
                         "body is not JSON (%s); send {\"name\": \"app.cpu\"}", je.text);
      goto done;
    }
    name = json_string_value(json_object_get(doc, "name"));
  }
  if (!name || !*name) {
    rc = ember_err_set(err, EMBER_EINVAL,
                       "missing app name; send {\"name\": \"app.cpu\"}");
    goto done;
  }
  rc = ember_store_delete_app(ember_http_store(req), name, err);
  if (rc == EMBER_OK) {
    req->status = 200;
    req->content_type = "application/json";
    ember_buf_puts(&req->resp, "{\"deleted\":");
    ember_buf_put_json_string(&req->resp, name, strlen(name));
    ember_buf_puts(&req->resp, "}\n");
  }
done:
  json_decref(doc);
  return rc;
}

int ember_http_apps(ember_http_req_t *req, ember_err_t *err) {
  if (req->method == HTTP_DELETE) return delete_app(req, err);
  ember_query_out_t out = {EMBER_BUF_INIT, NULL, ""};
  return respond(req, ember_query_apps(ember_http_store(req), &out, err), &out);
}
