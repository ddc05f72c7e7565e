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
#include "ember/connect.h"
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

struct route;
typedef struct http_conn http_conn_t;

/* One request from its first byte to its response. Created by server.c on
 * the network thread; handlers run on a worker thread and only touch this
 * struct (never the connection), which is what makes the hand-over safe:
 * while a handler runs, the connection is suspended and nothing else reads
 * or writes the request. Freed by server.c when libmicrohttpd reports the
 * request complete. */
typedef struct ember_http_req {
  ember_server_t *srv;
  void *conn;       /* struct MHD_Connection *, for server.c only */
  http_conn_t *tcp; /* the connection's deadline record (guard.c), held */
  const struct route *route;
  http_method_t method;
  char *path;

  http_kv_t *args; /* query string, decoded, in order */
  size_t nargs;
  int args_rc;        /* why the query string was refused, or 0 */
  char *args_error;   /* its message (owned), when args_rc != 0 */
  http_kv_t *headers; /* the request headers handlers may ask for */
  size_t nheaders;

  ember_buf_t body;
  size_t declared_len;  /* Content-Length, or 0 */
  bool has_length;      /* a Content-Length header was sent */
  size_t discarded;     /* body bytes thrown away after a refusal */
  size_t charged;       /* bytes of the server's budget this request holds */
  size_t parsed_charge; /* of those, for parsed profiles awaiting the disk */

  /* The response, filled by a handler. */
  int status;
  const char *content_type; /* static string */
  ember_buf_t resp;
  const unsigned char *static_body; /* instead of resp, for embedded assets */
  size_t static_len;
  http_kv_t *resp_headers; /* names and values owned */
  size_t nresp_headers, resp_headers_cap;

  atomic_int phase; /* http_phase_t */
  bool queued;      /* response handed to libmicrohttpd */
  bool suspended;   /* counted in the server's suspended requests */
  uint64_t start_ns;
  uint64_t deadline_ns; /* for queries: when to give up (monotonic), or 0 */
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

/* Adds a response header (copies name and value). */
void ember_http_set_header(ember_http_req_t *req, const char *name, const char *value);

/* Fills req with a JSON error response {"error": msg} for code. */
void ember_http_set_error(ember_http_req_t *req, int code, const char *msg);

/* Marks the response ready and wakes the connection. Called once per
 * request, from any thread, after the response is filled. */
void ember_http_finish(ember_http_req_t *req);

int ember_http_status_for(int code);

/* ---- Routes ------------------------------------------------------------ */

/* Where a route's handler runs. */
typedef enum {
  HTTP_RUN_INLINE, /* on the network thread: cheap, never blocks */
  HTTP_RUN_INGEST, /* on the ingest workers (parsing, writes) */
  HTTP_RUN_QUERY,  /* on the query workers: limited, with a deadline */
} http_run_t;

/* Roles a token may have (access.c); a route needs one of them. */
enum {
  HTTP_ROLE_NONE = 0, /* open to anyone (health, the UI's files) */
  HTTP_ROLE_INGEST = 1 << 0,
  HTTP_ROLE_READ = 1 << 1,
  HTTP_ROLE_ADMIN = 1 << 2,
};

typedef struct route {
  const char *path; /* exact path, or prefix when it ends in '/' and `prefix` */
  bool prefix;
  unsigned methods; /* http_method_t mask */
  http_run_t run;   /* where GET/HEAD/POST run */
  http_handler_fn fn;
  int metric;    /* index into the per-route metrics */
  unsigned role; /* role GET/HEAD/POST need (HTTP_ROLE_*) */
  bool big_body; /* takes bodies up to --max-body (else a small cap) */
  /* A Connect service whose methods are the paths below `path` (a prefix
   * route, "/querier.v1.QuerierService/"): its errors, refusals before the
   * handler included, are Connect error JSON with their codes' statuses. */
  const ember_connect_service_t *service;
} route_t;

/* A request body to any route but /ingest is a small JSON document. */
#define EMBER_HTTP_SMALL_BODY ((size_t)64 << 10)

/* Where req's handler runs and which role it needs: DELETE is a write
 * that only admins may make, whatever the route says for reads. */
http_run_t ember_http_run_of(const ember_http_req_t *req);
unsigned ember_http_role_of(const ember_http_req_t *req);

/* Finds the route for a path: *out = the route, or NULL (404). */
const route_t *ember_http_route(const char *path);
/* "GET, HEAD" style list of the methods a route allows. */
void ember_http_allow(const route_t *r, ember_buf_t *out);

/* Handlers (handlers_*.c). */
int ember_http_ingest(ember_http_req_t *req, ember_err_t *err);
int ember_http_push(ember_http_req_t *req, ember_err_t *err);
int ember_http_render(ember_http_req_t *req, ember_err_t *err);
int ember_http_render_diff(ember_http_req_t *req, ember_err_t *err);
int ember_http_explore(ember_http_req_t *req, ember_err_t *err);
int ember_http_labels(ember_http_req_t *req, ember_err_t *err);
int ember_http_label_values(ember_http_req_t *req, ember_err_t *err);
int ember_http_apps(ember_http_req_t *req, ember_err_t *err);
int ember_http_healthz(ember_http_req_t *req, ember_err_t *err);
int ember_http_readyz(ember_http_req_t *req, ember_err_t *err);
int ember_http_metrics(ember_http_req_t *req, ember_err_t *err);
int ember_http_asset(ember_http_req_t *req, ember_err_t *err);
int ember_http_querier(ember_http_req_t *req, ember_err_t *err);

/* ---- Connect routes (handlers_connect.c) -------------------------------- */

/* Fills rq from req: the method named by the path below the route's
 * prefix, the headers Connect reads, the body (all borrowed from req). */
void ember_http_connect_request(const ember_http_req_t *req, ember_connect_request_t *rq);
/* Copies a call's response into req (status, media type, headers) and
 * takes its body. */
void ember_http_connect_respond(ember_http_req_t *req, ember_connect_response_t *resp);

/* ---- Server internals handlers need ------------------------------------ */

ember_store_t *ember_http_store(const ember_http_req_t *req);
size_t ember_http_max_body(const ember_http_req_t *req);
/* The budget of bytes in flight that request bodies, decoded bodies and
 * parsed profiles share. */
ember_budget_t *ember_http_budget(const ember_http_req_t *req);
/* Charges n more bytes to req (given back when req completes); false, with
 * nothing charged, when the budget has no room. */
bool ember_http_charge(ember_http_req_t *req, size_t n);
/* Gives back n of the bytes req holds. */
void ember_http_uncharge(ember_http_req_t *req, size_t n);

/* ---- Query strings (args.c) -------------------------------------------- */

/* Decodes a raw query string ("a=1&b=x+y", without the '?') into *out (caller
 * frees with ember_http_kv_free). EMBER_ETOOBIG past max_args arguments,
 * EMBER_EINVAL when a key or value decodes to bytes holding a NUL. */
int ember_http_args_parse(const char *query, size_t max_args, http_kv_t **out,
                          size_t *nout, ember_err_t *err);
void ember_http_kv_free(http_kv_t *kv, size_t n);

/* Arguments one request may carry; more is answered 431. */
#define EMBER_HTTP_MAX_ARGS 256

/* ---- Access control (access.c) ------------------------------------------ */

typedef struct http_access http_access_t;

/* What access.c looks at in a request, all borrowed, NULL when absent. */
typedef struct {
  http_method_t method;
  unsigned role; /* the route's need (HTTP_ROLE_*) */
  const char *host;
  const char *origin;
  const char *sec_fetch_site;
  const char *authorization;
} http_asker_t;

/* Builds the policy from cfg: loads cfg->auth_token_file (if set), the
 * allowed origins and hosts; loopback says the server listens only on a
 * loopback address, which turns the Host check on by default. *out is
 * written only on success (free with ember_access_free). */
int ember_access_new(const ember_server_config_t *cfg, bool loopback, bool tls,
                     http_access_t **out, ember_err_t *err);
void ember_access_free(http_access_t *a);
/* Number of tokens loaded (0: auth off). */
size_t ember_access_tokens(const http_access_t *a);
/* Decides whether the request may go on: 0, or EMBER_EFORBIDDEN (Host,
 * cross-site, role) or EMBER_EAUTH (no or unknown token) with a message
 * that never repeats a credential. *by_token tells whether the token (not
 * the Host or the origin) was the reason. */
int ember_access_check(const http_access_t *a, const http_asker_t *q, bool *by_token,
                       ember_err_t *err);

/* ---- Connection deadlines (guard.c) ------------------------------------- */

typedef struct http_guard http_guard_t;

/* Starts the thread that closes connections which take longer than
 * request_s to send a request (headers and body) or stay idle between
 * requests longer than idle_s. */
http_guard_t *ember_guard_start(unsigned request_s, unsigned idle_s);
/* Stops the thread; every connection must be closed already. */
void ember_guard_stop(http_guard_t *g);
/* A new TCP connection on socket fd; the record lives until close. */
http_conn_t *ember_guard_open(http_guard_t *g, int fd);
void ember_guard_close(http_guard_t *g, http_conn_t *c);
/* A request holds its connection's record from its first callback to its
 * end, so the record outlives a close reported in between. */
http_conn_t *ember_guard_hold(http_guard_t *g, http_conn_t *c);
void ember_guard_release(http_guard_t *g, http_conn_t *c);
/* A request's headers arrived: its body must follow within the deadline. */
void ember_guard_reading(http_guard_t *g, http_conn_t *c);
/* The request is whole: the server, not the client, is slow now. */
void ember_guard_busy(http_guard_t *g, http_conn_t *c);
/* The response went out: the connection is idle until the next request. */
void ember_guard_idle(http_guard_t *g, http_conn_t *c);
/* Connections closed for missing a deadline since start. */
uint64_t ember_guard_closed(const http_guard_t *g);

/* ---- Logging (log.c) ---------------------------------------------------- */

/* One line to stderr, "ember: " first; at most a burst of lines then a few
 * per second, so a flood of bad connections cannot fill the disk; what was
 * held back is counted in the next line that goes out. */
void ember_http_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void ember_http_vlog(const char *fmt, va_list ap);
/* The --max-nodes limit of renders, 0 for the default. */
long ember_http_max_nodes(const ember_http_req_t *req);
/* The limits of one push (--max-stack-depth and the like). Borrowed. */
const ember_ingest_limits_t *ember_http_ingest_limits(const ember_http_req_t *req);

/* ---- Worker pool (jobs.c) ---------------------------------------------- */

typedef struct jobs jobs_t;
typedef void (*job_fn)(void *arg);

/* Starts nthreads workers named name (at most 15 bytes are kept) with a
 * queue of max_queued jobs; workers run at the given nice increment (0: as
 * the process), so queries can yield the CPU to ingest. */
jobs_t *ember_jobs_start(const char *name, unsigned nthreads, size_t max_queued,
                         int nice);
/* Queues fn(arg); EMBER_EBUSY when max_queued jobs are waiting,
 * EMBER_ESHUTDOWN once the pool stops. */
int ember_jobs_submit(jobs_t *j, job_fn fn, void *arg);
/* Jobs running and waiting now. */
void ember_jobs_load(jobs_t *j, size_t *running, size_t *waiting);
/* Stops taking jobs: every job still waiting gets cancel(arg) instead of
 * fn(arg) (cancel NULL: it runs), running ones finish; then joins the
 * threads and frees j. NULL is accepted. */
void ember_jobs_stop(jobs_t *j, job_fn cancel);

/* ---- Metrics (metrics.c) ----------------------------------------------- */

enum {
  METRIC_ROUTE_INGEST,
  METRIC_ROUTE_RENDER,
  METRIC_ROUTE_RENDER_DIFF,
  METRIC_ROUTE_LABELS,
  METRIC_ROUTE_LABEL_VALUES,
  METRIC_ROUTE_APPS,
  METRIC_ROUTE_EXPLORE,
  METRIC_ROUTE_QUERIER,
  METRIC_ROUTE_PUSH,
  METRIC_ROUTE_HEALTHZ,
  METRIC_ROUTE_READYZ,
  METRIC_ROUTE_METRICS,
  METRIC_ROUTE_UI,
  METRIC_ROUTE_OTHER,
  METRIC_ROUTE_COUNT
};

void ember_metrics_request(int route, int status, uint64_t duration_ns);
/* Requests refused before their handler ran, by reason. */
enum {
  METRIC_REFUSED_AUTH,    /* 401, 403 for a role */
  METRIC_REFUSED_POLICY,  /* 403 cross-site or Host */
  METRIC_REFUSED_BUDGET,  /* 429 bytes in flight */
  METRIC_REFUSED_QUERIES, /* 503 too many queries */
  METRIC_REFUSED_TIMEOUT, /* 504 query deadline */
  METRIC_REFUSED_COUNT
};
void ember_metrics_refused(int reason);
void ember_metrics_ingest(uint64_t bytes, uint64_t profiles, uint64_t samples);
/* Gauges of the server itself, read when /metrics is asked. */
typedef struct {
  uint64_t inflight_bytes, inflight_limit;
  uint64_t queries_running, queries_waiting;
  uint64_t conns_closed_deadline;
} ember_server_gauges_t;

void ember_http_gauges(const ember_http_req_t *req, ember_server_gauges_t *g);

/* Appends the Prometheus text exposition of every counter plus the
 * server's and the store's figures. */
void ember_metrics_render(ember_buf_t *out, const ember_server_gauges_t *g,
                          ember_store_t *store);
/* Stacks an ingest cut at the depth limit (ember_ingest_result_t). */
void ember_metrics_stacks_truncated(uint64_t stacks);
/* JFR events whose context id the push's labels did not have. */
void ember_metrics_jfr_unknown_contexts(uint64_t events);

#endif
