/*
 * http_int.h - what the files of src/http/ share: the request object that a
 * handler reads its parameters from and writes its response into, the route
 * table, the worker pool and the metrics counters.
 */
#ifndef EMBER_HTTP_INT_H
#define EMBER_HTTP_INT_H

#include <pthread.h>
#include <stdatomic.h>

#include "ember/common.h"
#include "ember/http.h"
#include "ember/store.h"

/* ---- Requests ---------------------------------------------------------- */

typedef enum {
  HTTP_GET = 1 << 0,
  HTTP_HEAD = 1 << 1,
  HTTP_POST = 1 << 2,
  HTTP_PUT = 1 << 3,
  HTTP_DELETE = 1 << 4,
  HTTP_OTHER = 1 << 5,
} http_method_t;

typedef struct {
  char *key;
  char *value;
} http_kv_t;

#define HTTP_MAX_RESP_HEADERS 6

struct route;

/* One request from its first byte to its response. Created by server.c on
 * the network thread; handlers run on a worker thread and only touch this
 * struct (never the connection), which is what makes the hand-over safe:
 * while a handler runs, the connection is suspended and nothing else reads
 * or writes the request. Freed by server.c when libmicrohttpd reports the
 * request complete. */
typedef struct ember_http_req {
  ember_server_t *srv;
  void *conn; /* struct MHD_Connection *, for server.c only */
  const struct route *route;
  http_method_t method;
  char *path;

  http_kv_t *args; /* query string, decoded, in order */
  size_t nargs;
  http_kv_t *headers; /* the request headers handlers may ask for */
  size_t nheaders;

  ember_buf_t body;
  size_t declared_len; /* Content-Length, or 0 */
  bool body_too_big;

  /* The response, filled by a handler. */
  int status;
  const char *content_type; /* static string */
  ember_buf_t resp;
  const unsigned char *static_body; /* instead of resp, for embedded assets */
  size_t static_len;
  http_kv_t resp_headers[HTTP_MAX_RESP_HEADERS]; /* values owned */
  size_t nresp_headers;

  atomic_int phase; /* http_phase_t */
  bool queued;      /* response handed to libmicrohttpd */
  uint64_t start_ns;
} ember_http_req_t;

typedef enum {
  PHASE_READING = 0, /* receiving the body on the network thread */
  PHASE_RUNNING,     /* handed to a worker or to the store */
  PHASE_DONE,        /* response ready, connection resumed */
} http_phase_t;

/* Returned by a handler that has handed the request on (to the store); the
 * one it handed it to calls ember_http_finish later, possibly before the
 * hand-over call returns, so from that call on the handler must not touch
 * the request. */
#define EMBER_HTTP_PENDING 1

/* A handler fills req's response and returns 0, returns EMBER_HTTP_PENDING,
 * or returns an error code with err set (turned into a JSON error body). */
typedef int (*http_handler_fn)(ember_http_req_t *req, ember_err_t *err);

/* Query-string argument (first occurrence) or header (case-insensitive),
 * borrowed from req; NULL when absent. */
const char *ember_http_arg(const ember_http_req_t *req, const char *key);
const char *ember_http_header(const ember_http_req_t *req, const char *name);

/* Adds a response header (copies value). */
void ember_http_set_header(ember_http_req_t *req, const char *name,
                           const char *value);

/* Fills req with a JSON error response {"error": msg} for code. */
void ember_http_set_error(ember_http_req_t *req, int code, const char *msg);

/* Marks the response ready and wakes the connection. Called once per
 * request, from any thread, after the response is filled. */
void ember_http_finish(ember_http_req_t *req);

int ember_http_status_for(int code);

/* ---- Routes ------------------------------------------------------------ */

typedef struct route {
  const char *path; /* exact path, or prefix when it ends in '/' and `prefix` */
  bool prefix;
  unsigned methods; /* http_method_t mask */
  bool offload;     /* run on a worker (may block) instead of inline */
  http_handler_fn fn;
  int metric;       /* index into the per-route metrics */
} route_t;

/* Finds the route for a path: *out = the route, or NULL (404). */
const route_t *ember_http_route(const char *path);
/* "GET, HEAD" style list of the methods a route allows. */
void ember_http_allow(const route_t *r, ember_buf_t *out);

/* Handlers (handlers_*.c). */
int ember_http_ingest(ember_http_req_t *req, ember_err_t *err);
int ember_http_render(ember_http_req_t *req, ember_err_t *err);
int ember_http_render_diff(ember_http_req_t *req, ember_err_t *err);
int ember_http_labels(ember_http_req_t *req, ember_err_t *err);
int ember_http_label_values(ember_http_req_t *req, ember_err_t *err);
int ember_http_apps(ember_http_req_t *req, ember_err_t *err);
int ember_http_healthz(ember_http_req_t *req, ember_err_t *err);
int ember_http_metrics(ember_http_req_t *req, ember_err_t *err);
int ember_http_asset(ember_http_req_t *req, ember_err_t *err);

/* ---- Server internals handlers need ------------------------------------ */

ember_store_t *ember_http_store(const ember_http_req_t *req);
size_t ember_http_max_body(const ember_http_req_t *req);
/* The --max-nodes limit of renders, 0 for the default. */
long ember_http_max_nodes(const ember_http_req_t *req);

/* ---- Worker pool (jobs.c) ---------------------------------------------- */

typedef struct jobs jobs_t;
typedef void (*job_fn)(void *arg);

jobs_t *ember_jobs_start(unsigned nthreads, size_t max_queued);
/* Queues fn(arg); returns EMBER_EBUSY when max_queued jobs are waiting. */
int ember_jobs_submit(jobs_t *j, job_fn fn, void *arg);
/* Runs every queued job, then joins the threads and frees j. */
void ember_jobs_stop(jobs_t *j);

/* ---- Metrics (metrics.c) ----------------------------------------------- */

enum {
  METRIC_ROUTE_INGEST,
  METRIC_ROUTE_RENDER,
  METRIC_ROUTE_RENDER_DIFF,
  METRIC_ROUTE_LABELS,
  METRIC_ROUTE_LABEL_VALUES,
  METRIC_ROUTE_APPS,
  METRIC_ROUTE_HEALTHZ,
  METRIC_ROUTE_METRICS,
  METRIC_ROUTE_UI,
  METRIC_ROUTE_OTHER,
  METRIC_ROUTE_COUNT
};

void ember_metrics_request(int route, int status, uint64_t duration_ns);
void ember_metrics_ingest(uint64_t bytes, uint64_t profiles, uint64_t samples);
/* Appends the Prometheus text exposition of every counter plus the store's
 * figures. */
void ember_metrics_render(ember_buf_t *out, ember_store_t *store);

#endif
