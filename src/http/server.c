/*
 * server.c - the libmicrohttpd glue: listening socket, request lifecycle,
 * suspend/resume hand-over to workers and the store, responses, shutdown.
 *
 * A request moves through three phases (http_int.h):
 *
 *   on_uri: created, query string decoded ---------------> READING
 *   READING --(refused before or while reading the body)-> DONE
 *   READING --(body complete, cheap route)---------------> DONE
 *   READING --(body complete, handed on: suspend, queue)-> RUNNING
 *   RUNNING --(worker or store done: ember_http_finish)--> DONE
 *   DONE    --(network thread queues the response)-------> freed on completion
 *
 * Invariants:
 *  1. Only the network thread calls MHD functions on a connection, except
 *     MHD_resume_connection, which ember_http_finish calls exactly once per
 *     suspended request, as its very last access to the request.
 *  2. A request is suspended exactly while its phase is RUNNING, and
 *     srv->suspended counts those requests; a request is suspended only
 *     under srv->gate while accepting_work holds.
 *  3. srv->inflight counts requests from on_uri to their completion notice.
 *  4. MHD_stop_daemon runs only once accepting_work is false and
 *     srv->suspended is zero (libmicrohttpd aborts on a suspended
 *     connection), so every request handed on is answered first.
 *  5. Every byte a request takes from the budget (req->charged) is given
 *     back at its completion notice.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "http/http_int.h"

struct ember_server {
  struct MHD_Daemon *daemon;
  ember_store_t *store;
  jobs_t *ingest_jobs; /* parsing pushes, deleting apps */
  jobs_t *query_jobs;  /* queries: few at once, lower priority */
  http_guard_t *guard;
  http_access_t *access;
  ember_budget_t budget;
  size_t max_body;
  uint64_t query_timeout_ns;
  long max_nodes;
  ember_ingest_limits_t ingest_limits;
  uint16_t port;
  int listen_fd;
  bool v6;
  char *tls_cert, *tls_key; /* PEM, alive while the daemon runs */
  /* The sizes ember_server_run starts with, from the configuration. */
  unsigned workers, queries, io_threads, request_s, idle_s, conns_per_ip;
  atomic_bool draining;
  atomic_int inflight;

  /* Handing a request to a worker or the store (which suspends its
   * connection) and closing that door at shutdown are ordered by gate, so
   * that once the door is closed the count of suspended requests only
   * goes down. */
  pthread_mutex_t gate;
  bool accepting_work;
  atomic_int suspended;
};

/* What every request refused for a stop is told. */
#define SHUTTING_DOWN "the server is shutting down; retry against a running one"

/* ---- Request helpers used by handlers ---------------------------------- */

static const char *kv_find(const http_kv_t *kv, size_t n, const char *key, bool nocase) {
  for (size_t i = 0; i < n; i++)
    if (nocase ? !strcasecmp(kv[i].key, key) : !strcmp(kv[i].key, key))
      return kv[i].value;
  return NULL;
}

const char *ember_http_arg(const ember_http_req_t *req, const char *key) {
  return kv_find(req->args, req->nargs, key, false);
}

const char *ember_http_header(const ember_http_req_t *req, const char *name) {
  return kv_find(req->headers, req->nheaders, name, true);
}

void ember_http_set_header(ember_http_req_t *req, const char *name, const char *value) {
  ember_grow((void **)&req->resp_headers, &req->resp_headers_cap, req->nresp_headers + 1,
             sizeof *req->resp_headers);
  http_kv_t *h = &req->resp_headers[req->nresp_headers++];
  h->key = ember_strdup(name);
  h->value = ember_strdup(value);
}

int ember_http_status_for(int code) {
  switch (code) {
  case EMBER_OK: return 200;
  case EMBER_EINVAL: return 400;
  case EMBER_EAUTH: return 401;
  case EMBER_ENOTFOUND: return 404;
  case EMBER_ETOOBIG: return 413;
  case EMBER_EPARSE: return 422;
  case EMBER_EBUSY: return 429;
  case EMBER_ESHUTDOWN: return 503;
  case EMBER_ELIMIT: return 429;
  case EMBER_ETIMEOUT: return 504;
  case EMBER_EUNAVAIL: return 503;
  case EMBER_EFORBIDDEN: return 403;
  case EMBER_ERANGE: return 422;
  case EMBER_EUNIMPL: return 501;
  default: return 500;
  }
}

void ember_http_set_error(ember_http_req_t *req, int code, const char *msg) {
  req->status = ember_http_status_for(code);
  req->content_type = "application/json";
  req->static_body = NULL;
  ember_buf_reset(&req->resp);
  if (req->route && req->route->service) {
    /* A Connect client reads the code from the body, and the status must
     * be the code's. */
    ember_connect_code_t cc = ember_connect_code_for(code);
    req->status = ember_connect_http_status(cc);
    ember_connect_error_json(&req->resp, cc, msg);
  } else {
    ember_buf_puts(&req->resp, "{\"error\":");
    ember_buf_put_json_string(&req->resp, msg, strlen(msg));
    ember_buf_puts(&req->resp, "}\n");
  }
  if (code == EMBER_EBUSY || code == EMBER_ESHUTDOWN || code == EMBER_EUNAVAIL)
    ember_http_set_header(req, "Retry-After", "1");
  if (code == EMBER_EAUTH)
    ember_http_set_header(req, "WWW-Authenticate", "Bearer realm=\"ember\"");
}

void ember_http_finish(ember_http_req_t *req) {
  ember_server_t *srv = req->srv;
  struct MHD_Connection *c = req->conn;
  atomic_store(&req->phase, PHASE_DONE);
  MHD_resume_connection(c); /* last touch: req may be freed from here on */
  atomic_fetch_sub(&srv->suspended, 1);
}

ember_store_t *ember_http_store(const ember_http_req_t *req) {
  return req->srv->store;
}

size_t ember_http_max_body(const ember_http_req_t *req) {
  return req->srv->max_body;
}

ember_budget_t *ember_http_budget(const ember_http_req_t *req) {
  return &req->srv->budget;
}

bool ember_http_charge(ember_http_req_t *req, size_t n) {
  if (!ember_budget_take(&req->srv->budget, n)) return false;
  req->charged += n;
  return true;
}

void ember_http_uncharge(ember_http_req_t *req, size_t n) {
  if (n > req->charged) n = req->charged;
  ember_budget_give(&req->srv->budget, n);
  req->charged -= n;
}

void ember_http_gauges(const ember_http_req_t *req, ember_server_gauges_t *g) {
  ember_server_t *srv = req->srv;
  size_t running, waiting;
  memset(g, 0, sizeof *g);
  g->inflight_bytes = ember_budget_used(&srv->budget);
  g->inflight_limit = srv->budget.limit;
  ember_jobs_load(srv->query_jobs, &running, &waiting);
  g->queries_running = running;
  g->queries_waiting = waiting;
  g->conns_closed_deadline = ember_guard_closed(srv->guard);
}

long ember_http_max_nodes(const ember_http_req_t *req) {
  return req->srv->max_nodes;
}

const ember_ingest_limits_t *ember_http_ingest_limits(const ember_http_req_t *req) {
  return &req->srv->ingest_limits;
}

/* ---- Request lifecycle ------------------------------------------------- */

static http_method_t parse_method(const char *m) {
  if (!strcmp(m, "GET")) return HTTP_GET;
  if (!strcmp(m, "HEAD")) return HTTP_HEAD;
  if (!strcmp(m, "POST")) return HTTP_POST;
  if (!strcmp(m, "PUT")) return HTTP_PUT;
  if (!strcmp(m, "DELETE")) return HTTP_DELETE;
  return HTTP_OTHER;
}

static enum MHD_Result collect_header(void *cls, enum MHD_ValueKind kind, const char *key,
                                      const char *value) {
  ember_http_req_t *req = cls;
  req->headers = ember_realloc(req->headers, (req->nheaders + 1) * sizeof *req->headers);
  req->headers[req->nheaders].key = ember_strdup(key);
  req->headers[req->nheaders].value = ember_strdup(value ? value : "");
  req->nheaders++;
  return MHD_YES;
}

/* libmicrohttpd calls this with the raw request target before it parses
 * the query string (args.c says why we parse it ourselves). The request
 * object starts here. */
static void *on_uri(void *cls, const char *uri, struct MHD_Connection *c) {
  ember_server_t *srv = cls;
  ember_http_req_t *req = ember_calloc(1, sizeof *req);
  req->srv = srv;
  req->conn = c;
  req->start_ns = ember_mono_ns();
  atomic_init(&req->phase, PHASE_READING);
  atomic_fetch_add(&srv->inflight, 1);
  char *q = strchr(uri, '?');
  if (q) {
    ember_err_t err;
    ember_err_clear(&err);
    req->args_rc =
        ember_http_args_parse(q + 1, EMBER_HTTP_MAX_ARGS, &req->args, &req->nargs, &err);
    if (req->args_rc) req->args_error = ember_strdup(err.msg);
    /* libmicrohttpd has already noted where the arguments start (just
     * after this '?') and parses from there once we return: an empty
     * string leaves it nothing to store. */
    q[1] = '\0';
  }
  return req;
}

static void req_free(ember_http_req_t *req) {
  if (!req) return;
  ember_http_kv_free(req->args, req->nargs);
  ember_http_kv_free(req->headers, req->nheaders);
  ember_http_kv_free(req->resp_headers, req->nresp_headers);
  ember_buf_free(&req->body);
  ember_buf_free(&req->resp);
  free(req->args_error);
  free(req->path);
  free(req);
}

/* The deadline record of a connection (NULL once libmicrohttpd said it
 * closed). */
static http_conn_t *tcp_of(struct MHD_Connection *c) {
  const union MHD_ConnectionInfo *ci =
      MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
  return ci ? (http_conn_t *)ci->socket_context : NULL;
}

/* Fills what the first call of the access handler knows: the method, the
 * decoded path and the headers. */
static void req_start(ember_http_req_t *req, const char *url, const char *method) {
  struct MHD_Connection *c = req->conn;
  req->path = ember_strdup(url);
  req->method = parse_method(method);
  MHD_get_connection_values(c, MHD_HEADER_KIND, collect_header, req);
  const char *cl = ember_http_header(req, "Content-Length");
  if (cl) {
    req->has_length = true;
    req->declared_len = strtoull(cl, NULL, 10);
  }
  req->tcp = ember_guard_hold(req->srv->guard, tcp_of(c));
  ember_guard_reading(req->srv->guard, req->tcp);
}

/* Queues the filled response on the connection (network thread only). */
static enum MHD_Result send_response(ember_http_req_t *req) {
  struct MHD_Response *resp;
  if (req->queued) return MHD_YES;
  req->queued = true;
  if (req->static_body) {
    resp = MHD_create_response_from_buffer(req->static_len, (void *)req->static_body,
                                           MHD_RESPMEM_PERSISTENT);
  } else {
    size_t len;
    char *data = ember_buf_take(&req->resp, &len);
    resp = MHD_create_response_from_buffer(len, data, MHD_RESPMEM_MUST_FREE);
    if (!resp) free(data);
  }
  if (!resp) return MHD_NO;
  if (req->content_type)
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, req->content_type);
  MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
  for (size_t i = 0; i < req->nresp_headers; i++)
    MHD_add_response_header(resp, req->resp_headers[i].key, req->resp_headers[i].value);
  int status = req->status ? req->status : 200;
  enum MHD_Result r = MHD_queue_response(req->conn, (unsigned)status, resp);
  MHD_destroy_response(resp);
  ember_metrics_request(req->route ? req->route->metric : METRIC_ROUTE_OTHER, status,
                        ember_mono_ns() - req->start_ns);
  return r;
}

/* Answers req at once with an error (network thread). */
static enum MHD_Result refuse(ember_http_req_t *req, int code, const char *msg) {
  ember_http_set_error(req, code, msg);
  atomic_store(&req->phase, PHASE_DONE);
  return send_response(req);
}

/* Runs the route's handler and turns a failure into a JSON error. Returns
 * false when the handler has handed req on: it may already be answered and
 * freed, so the caller must not touch it again. */
static bool run_handler(ember_http_req_t *req) {
  ember_err_t err;
  ember_err_clear(&err);
  int rc = req->route->fn(req, &err);
  if (rc == EMBER_HTTP_PENDING) return false;
  if (rc < 0) {
    if (!err.msg[0]) ember_err_set(&err, rc, "%s", ember_err_name(rc));
    ember_http_set_error(req, rc, err.msg);
    if (rc == EMBER_ETIMEOUT) ember_metrics_refused(METRIC_REFUSED_TIMEOUT);
  }
  if (!req->status) req->status = 200;
  atomic_store(&req->phase, PHASE_DONE);
  return true;
}

static void job_run(void *arg) {
  ember_http_req_t *req = arg;
  ember_deadline_set(req->deadline_ns);
  if (req->deadline_ns && ember_deadline_passed()) {
    /* It waited its whole time for a free query slot. */
    ember_http_set_error(req, EMBER_EUNAVAIL,
                         "the server is busy with other queries and this one "
                         "waited too long to start; retry shortly");
    ember_metrics_refused(METRIC_REFUSED_QUERIES);
    ember_deadline_set(0);
    ember_http_finish(req);
    return;
  }
  bool answered = run_handler(req);
  ember_deadline_set(0);
  if (answered) ember_http_finish(req);
}

/* What a job still waiting when the server stops gets instead. */
static void job_cancel(void *arg) {
  ember_http_req_t *req = arg;
  ember_http_set_error(req, EMBER_ESHUTDOWN, SHUTTING_DOWN);
  ember_http_finish(req);
}

/* Checks a new request before its body is read. Returns false and fills the
 * error response when it must be refused. */
static bool admit(ember_http_req_t *req) {
  ember_server_t *srv = req->srv;
  char msg[256];
  ember_err_t err;
  if (atomic_load(&srv->draining)) {
    ember_http_set_error(req, EMBER_ESHUTDOWN, SHUTTING_DOWN);
    return false;
  }
  if (req->args_rc) {
    ember_http_set_error(req, req->args_rc, req->args_error);
    if (req->args_rc == EMBER_ETOOBIG) req->status = 431;
    return false;
  }
  req->route = ember_http_route(req->path);
  if (!req->route) {
    ember_excerpt_t e;
    snprintf(msg, sizeof msg, "no such endpoint: %s (see docs/API.md)",
             ember_excerpt(&e, req->path, strlen(req->path), 80));
    ember_http_set_error(req, EMBER_ENOTFOUND, msg);
    return false;
  }
  if (!(req->route->methods & req->method)) {
    ember_buf_t allow = EMBER_BUF_INIT;
    ember_excerpt_t e;
    ember_http_allow(req->route, &allow);
    snprintf(msg, sizeof msg, "method not allowed on %s; use %s",
             ember_excerpt(&e, req->path, strlen(req->path), 80), allow.data);
    ember_http_set_error(req, EMBER_EINVAL, msg);
    req->status = 405;
    ember_http_set_header(req, "Allow", allow.data);
    ember_buf_free(&allow);
    return false;
  }
  http_asker_t q = {
      .method = req->method,
      .role = ember_http_role_of(req),
      .host = ember_http_header(req, "Host"),
      .origin = ember_http_header(req, "Origin"),
      .sec_fetch_site = ember_http_header(req, "Sec-Fetch-Site"),
      .authorization = ember_http_header(req, "Authorization"),
  };
  ember_err_clear(&err);
  bool by_token;
  int rc = ember_access_check(srv->access, &q, &by_token, &err);
  if (rc) {
    ember_http_set_error(req, rc, err.msg);
    ember_metrics_refused(by_token ? METRIC_REFUSED_AUTH : METRIC_REFUSED_POLICY);
    return false;
  }
  size_t cap = req->route->big_body ? srv->max_body : EMBER_HTTP_SMALL_BODY;
  if (req->declared_len > cap) {
    snprintf(msg, sizeof msg,
             "request body of %zu bytes is over the limit of %zu bytes; %s",
             req->declared_len, cap,
             req->route->big_body ? "send smaller pushes or raise --max-body"
                                  : "this endpoint takes a small JSON body");
    ember_http_set_error(req, EMBER_ETOOBIG, msg);
    return false;
  }
  if (req->has_length && req->declared_len) {
    if (!ember_http_charge(req, req->declared_len)) {
      ember_http_set_error(req, EMBER_EBUSY,
                           "the server holds too many request bytes in flight; "
                           "retry in a moment (the limit is --max-inflight)");
      ember_metrics_refused(METRIC_REFUSED_BUDGET);
      return false;
    }
    ember_buf_reserve(&req->body, req->declared_len);
  }
  return true;
}

/* Hands req to the pool its route runs on; its connection stays suspended
 * until a worker (or the store) answers it. */
static enum MHD_Result hand_on(ember_http_req_t *req, http_run_t run) {
  ember_server_t *srv = req->srv;
  pthread_mutex_lock(&srv->gate);
  if (!srv->accepting_work) {
    pthread_mutex_unlock(&srv->gate);
    return refuse(req, EMBER_ESHUTDOWN, SHUTTING_DOWN);
  }
  atomic_fetch_add(&srv->suspended, 1);
  atomic_store(&req->phase, PHASE_RUNNING);
  MHD_suspend_connection(req->conn);
  pthread_mutex_unlock(&srv->gate);
  ember_guard_busy(srv->guard, req->tcp);
  jobs_t *pool = run == HTTP_RUN_QUERY ? srv->query_jobs : srv->ingest_jobs;
  if (run == HTTP_RUN_QUERY) req->deadline_ns = req->start_ns + srv->query_timeout_ns;
  int rc = ember_jobs_submit(pool, job_run, req);
  if (rc == EMBER_OK) return MHD_YES;
  if (rc == EMBER_ESHUTDOWN)
    ember_http_set_error(req, EMBER_ESHUTDOWN, SHUTTING_DOWN);
  else if (run == HTTP_RUN_QUERY) {
    ember_http_set_error(req, EMBER_EUNAVAIL,
                         "too many queries at once; retry shortly (the limit is "
                         "--max-queries)");
    ember_metrics_refused(METRIC_REFUSED_QUERIES);
  } else
    ember_http_set_error(req, EMBER_EBUSY,
                         "server is overloaded: too many requests waiting; retry "
                         "shortly");
  ember_http_finish(req);
  return MHD_YES;
}

static enum MHD_Result on_body_complete(ember_http_req_t *req) {
  http_run_t run = ember_http_run_of(req);
  if (run == HTTP_RUN_INLINE) {
    ember_guard_busy(req->srv->guard, req->tcp);
    (void)run_handler(req); /* cheap routes answer at once, never hand on */
    return send_response(req);
  }
  return hand_on(req, run);
}

/* A refused body is read and thrown away up to this many bytes past its
 * limit, so the client gets to read the answer; beyond that the
 * connection is closed. */
#define DISCARD_MAX ((size_t)64 << 20)

/* Takes one piece of the body (network thread). */
static enum MHD_Result on_upload(ember_http_req_t *req, const char *data, size_t n) {
  ember_server_t *srv = req->srv;
  size_t cap = req->route->big_body ? srv->max_body : EMBER_HTTP_SMALL_BODY;
  char msg[200];
  if (req->body.len + n > cap) {
    snprintf(msg, sizeof msg, "request body is over the limit of %zu bytes; %s", cap,
             req->route->big_body ? "send smaller pushes or raise --max-body"
                                  : "this endpoint takes a small JSON body");
    ember_http_set_error(req, EMBER_ETOOBIG, msg);
    atomic_store(&req->phase, PHASE_DONE);
    return MHD_YES; /* answered once the rest is read (see PHASE_DONE) */
  }
  size_t need = req->body.len + n + 1;
  if (need > req->charged && !ember_http_charge(req, need - req->charged)) {
    ember_http_set_error(req, EMBER_EBUSY,
                         "the server holds too many request bytes in flight; retry "
                         "in a moment (the limit is --max-inflight)");
    ember_metrics_refused(METRIC_REFUSED_BUDGET);
    atomic_store(&req->phase, PHASE_DONE);
    ember_buf_free(&req->body);
    ember_http_uncharge(req, req->charged);
    return MHD_YES;
  }
  ember_buf_append(&req->body, data, n);
  return MHD_YES;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version,
                                  const char *upload, size_t *upload_size,
                                  void **con_cls) {
  ember_http_req_t *req = *con_cls;
  if (!req) return MHD_NO; /* on_uri runs first for every request */
  if (!req->path) {
    req_start(req, url, method);
    if (!admit(req)) atomic_store(&req->phase, PHASE_DONE);
    /* A response queued now, before any body, goes out once libmicrohttpd
     * has read (or given up on) the body; queued later it cannot. */
    if (atomic_load(&req->phase) == PHASE_DONE && !*upload_size && !req->has_length)
      return MHD_YES; /* a chunked body may follow: answer at its end */
    if (atomic_load(&req->phase) == PHASE_DONE) return send_response(req);
    return MHD_YES;
  }
  switch (atomic_load(&req->phase)) {
  case PHASE_READING:
    if (*upload_size) {
      enum MHD_Result r = on_upload(req, upload, *upload_size);
      *upload_size = 0;
      return r;
    }
    return on_body_complete(req);
  case PHASE_DONE:
    if (*upload_size) { /* the rest of a refused body: discard */
      req->discarded += *upload_size;
      *upload_size = 0;
      return req->discarded > DISCARD_MAX ? MHD_NO : MHD_YES;
    }
    return send_response(req);
  default: return MHD_YES; /* not reached: a RUNNING request is suspended */
  }
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                         enum MHD_RequestTerminationCode toe) {
  ember_server_t *srv = cls;
  ember_http_req_t *req = *con_cls;
  if (!req) return;
  ember_guard_idle(srv->guard, req->tcp);
  ember_guard_release(srv->guard, req->tcp);
  ember_budget_give(&srv->budget, req->charged);
  req_free(req);
  *con_cls = NULL;
  atomic_fetch_sub(&srv->inflight, 1);
}

static void on_connection(void *cls, struct MHD_Connection *c, void **socket_ctx,
                          enum MHD_ConnectionNotificationCode code) {
  ember_server_t *srv = cls;
  if (code == MHD_CONNECTION_NOTIFY_STARTED) {
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
    *socket_ctx = ci ? ember_guard_open(srv->guard, ci->connect_fd) : NULL;
  } else {
    ember_guard_close(srv->guard, *socket_ctx);
    *socket_ctx = NULL;
  }
}

static void on_mhd_error(void *cls, const char *fmt, va_list ap) {
  ember_http_vlog(fmt, ap);
}

/* ---- Listening --------------------------------------------------------- */

/* Splits "host:port" / "[v6]:port" / ":port" into host (empty for any
 * address) and the port's text, checking the form only: nothing is
 * resolved or bound. */
static int split_listen(const char *listen_addr, char *host, size_t host_size,
                        const char **port_out, ember_err_t *err) {
  const char *colon = strrchr(listen_addr, ':');
  if (!colon || !colon[1])
    return ember_err_set(err, EMBER_EINVAL,
                         "--listen '%s' needs host:port, e.g. 127.0.0.1:4040",
                         listen_addr);
  size_t hlen = (size_t)(colon - listen_addr);
  const char *h = listen_addr;
  if (hlen >= 2 && h[0] == '[' && h[hlen - 1] == ']') {
    h++;
    hlen -= 2;
  }
  if (hlen >= host_size)
    return ember_err_set(err, EMBER_EINVAL, "--listen host is too long");
  memcpy(host, h, hlen);
  host[hlen] = '\0';
  const char *port = colon + 1;
  char *end;
  long p = strtol(port, &end, 10);
  if (*end || *port < '0' || *port > '9' || p < 0 || p > 65535)
    return ember_err_set(err, EMBER_EINVAL,
                         "--listen port '%s' is not a number from 0 to 65535", port);
  *port_out = port;
  return EMBER_OK;
}

int ember_server_check_listen(const char *listen_addr, ember_err_t *err) {
  char host[256];
  const char *port;
  return split_listen(listen_addr, host, sizeof host, &port, err);
}

/* Resolves listen_addr and binds a listening socket to it, so errors can
 * name the real cause (address in use, permission, ...). */
static int open_listener(const char *listen_addr, int *fd_out, uint16_t *port_out,
                         bool *v6_out, bool *loopback_out, ember_err_t *err) {
  char host[256];
  const char *port;
  int rc = split_listen(listen_addr, host, sizeof host, &port, err);
  if (rc) return rc;
  size_t hlen = strlen(host);

  struct addrinfo hints = {0}, *res = NULL;
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE;
  int gai = getaddrinfo(hlen ? host : NULL, port, &hints, &res);
  if (gai)
    return ember_err_set(err, EMBER_EINVAL, "--listen host '%s': %s", host,
                         gai_strerror(gai));
  int fd = socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  int one = 1;
  if (fd < 0) {
    rc = ember_err_set(err, EMBER_EIO, "cannot create socket: %s", strerror(errno));
    goto done;
  }
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (bind(fd, res->ai_addr, res->ai_addrlen) != 0 || listen(fd, 512) != 0) {
    rc = ember_err_set(err, EMBER_EIO,
                       "cannot listen on %s: %s; pick another address with --listen",
                       listen_addr, strerror(errno));
    close(fd);
    goto done;
  }
  struct sockaddr_storage ss;
  socklen_t sl = sizeof ss;
  getsockname(fd, (struct sockaddr *)&ss, &sl);
  *port_out = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                             : ((struct sockaddr_in *)&ss)->sin_port);
  *v6_out = ss.ss_family == AF_INET6;
  if (ss.ss_family == AF_INET6) {
    const struct in6_addr *a6 = &((struct sockaddr_in6 *)&ss)->sin6_addr;
    *loopback_out =
        IN6_IS_ADDR_LOOPBACK(a6) || (IN6_IS_ADDR_V4MAPPED(a6) && a6->s6_addr[12] == 127);
  } else {
    *loopback_out = (ntohl(((struct sockaddr_in *)&ss)->sin_addr.s_addr) >> 24) == 127;
  }
  *fd_out = fd;
done:
  freeaddrinfo(res);
  return rc;
}

/* ---- TLS --------------------------------------------------------------- */

/* Reads a whole PEM file into a new string (caller frees). */
static int read_pem(const char *path, const char *what, char **out, ember_err_t *err) {
  FILE *f = fopen(path, "rb");
  if (!f)
    return ember_err_set(err, EMBER_EINVAL, "cannot read %s %s: %s", what, path,
                         strerror(errno));
  ember_buf_t b = EMBER_BUF_INIT;
  char chunk[4096];
  size_t n;
  while ((n = fread(chunk, 1, sizeof chunk, f)) > 0 && b.len < (1u << 20))
    ember_buf_append(&b, chunk, n);
  fclose(f);
  if (!b.len || !strstr(b.data, "-----BEGIN ")) {
    ember_buf_free(&b);
    return ember_err_set(err, EMBER_EINVAL, "%s %s is not a PEM file", what, path);
  }
  *out = ember_buf_take(&b, &n);
  return EMBER_OK;
}

static int load_tls(ember_server_t *srv, const ember_server_config_t *cfg,
                    ember_err_t *err) {
  if (!cfg->tls_cert && !cfg->tls_key) return EMBER_OK;
  if (!cfg->tls_cert || !cfg->tls_key)
    return ember_err_set(err, EMBER_EINVAL,
                         "--tls-cert and --tls-key go together; give both or neither");
  if (!MHD_is_feature_supported(MHD_FEATURE_TLS))
    return ember_err_set(err, EMBER_EINVAL,
                         "this libmicrohttpd was built without TLS; run without "
                         "--tls-cert/--tls-key behind a TLS proxy");
  int rc = read_pem(cfg->tls_cert, "--tls-cert", &srv->tls_cert, err);
  if (!rc) rc = read_pem(cfg->tls_key, "--tls-key", &srv->tls_key, err);
  return rc;
}

/* ---- API --------------------------------------------------------------- */

static void server_free(ember_server_t *srv) {
  ember_jobs_stop(srv->ingest_jobs, job_cancel);
  ember_jobs_stop(srv->query_jobs, job_cancel);
  ember_guard_stop(srv->guard);
  ember_access_free(srv->access);
  if (srv->listen_fd >= 0) close(srv->listen_fd);
  if (srv->tls_key) memset(srv->tls_key, 0, strlen(srv->tls_key));
  free(srv->tls_key);
  free(srv->tls_cert);
  pthread_mutex_destroy(&srv->gate);
  free(srv);
}

#define OR(v, d) ((v) ? (v) : (d))

int ember_server_new(const ember_server_config_t *cfg, ember_server_t **out,
                     ember_err_t *err) {
  ember_server_t *srv = ember_calloc(1, sizeof *srv);
  bool loopback = false;
  int rc;
  srv->max_body = OR(cfg->max_body, EMBER_HTTP_DEFAULT_MAX_BODY);
  srv->budget.limit = OR(cfg->max_inflight, EMBER_HTTP_DEFAULT_MAX_INFLIGHT);
  srv->query_timeout_ns =
      (uint64_t)OR(cfg->query_timeout, EMBER_HTTP_DEFAULT_QUERY_TIMEOUT) * 1000000000u;
  srv->max_nodes = cfg->max_nodes; /* 0: the query module's default */
  srv->ingest_limits = cfg->ingest;
  srv->listen_fd = -1;
  srv->accepting_work = true;
  pthread_mutex_init(&srv->gate, NULL);
  atomic_init(&srv->draining, false);
  atomic_init(&srv->inflight, 0);
  atomic_init(&srv->suspended, 0);
  long cores = sysconf(_SC_NPROCESSORS_ONLN);
  if (cores < 1) cores = 2;
  srv->workers = OR(cfg->workers, (unsigned)cores * 2);
  srv->queries = OR(cfg->max_queries, (unsigned)(cores < 2 ? 2 : cores));
  srv->io_threads = OR(cfg->io_threads, 2);
  srv->request_s = OR(cfg->request_timeout, EMBER_HTTP_DEFAULT_REQUEST_TIMEOUT);
  srv->idle_s = OR(cfg->idle_timeout, EMBER_HTTP_DEFAULT_IDLE_TIMEOUT);
  srv->conns_per_ip = OR(cfg->max_conns_per_ip, (unsigned)EMBER_HTTP_DEFAULT_CONNS_PER_IP);
  const char *listen_addr = OR(cfg->listen, EMBER_HTTP_DEFAULT_LISTEN);
  if ((rc = load_tls(srv, cfg, err)) != 0) goto fail;
  rc = open_listener(listen_addr, &srv->listen_fd, &srv->port, &srv->v6, &loopback, err);
  if (rc) goto fail;
  if ((rc = ember_access_new(cfg, loopback, srv->tls_cert != NULL, &srv->access, err)))
    goto fail;
  *out = srv;
  return EMBER_OK;
fail:
  server_free(srv);
  return rc;
}

int ember_server_run(ember_server_t *srv, ember_store_t *store, ember_err_t *err) {
  srv->store = store;
  srv->ingest_jobs = ember_jobs_start("ember-ingest", srv->workers, 4096, 0);
  /* Queries beyond the slots wait, in order, up to eight per slot (sixteen
   * users of a two-core server are served, not bounced); more are refused
   * at once: at a few tens of milliseconds a query, the queue drains well
   * within any deadline, and a client refused is told to come back. */
  srv->query_jobs =
      ember_jobs_start("ember-query", srv->queries, (size_t)srv->queries * 8, 5);
  srv->guard = ember_guard_start(srv->request_s, srv->idle_s);

  unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL |
                   MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ITC | MHD_USE_ERROR_LOG;
  if (srv->v6) flags |= MHD_USE_IPv6;
  if (srv->tls_cert) flags |= MHD_USE_TLS;
  struct MHD_OptionItem tls_opts[] = {
      {srv->tls_cert ? MHD_OPTION_HTTPS_MEM_CERT : MHD_OPTION_END, 0, srv->tls_cert},
      {MHD_OPTION_HTTPS_MEM_KEY, 0, srv->tls_key},
      {MHD_OPTION_END, 0, NULL}};
  srv->daemon = MHD_start_daemon(
      flags, 0, NULL, NULL, on_request, srv, MHD_OPTION_EXTERNAL_LOGGER, on_mhd_error,
      NULL, /* must come first */
      MHD_OPTION_LISTEN_SOCKET, srv->listen_fd, MHD_OPTION_THREAD_POOL_SIZE,
      srv->io_threads, MHD_OPTION_URI_LOG_CALLBACK, on_uri, srv,
      MHD_OPTION_NOTIFY_COMPLETED, on_completed, srv, MHD_OPTION_NOTIFY_CONNECTION,
      on_connection, srv,
      /* guard.c enforces the real deadlines; this one, which restarts
       * with every byte, only backs them up. */
      MHD_OPTION_CONNECTION_TIMEOUT, srv->request_s + srv->idle_s,
      MHD_OPTION_CONNECTION_LIMIT, (unsigned)4096, MHD_OPTION_PER_IP_CONNECTION_LIMIT,
      srv->conns_per_ip, MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)(256 * 1024),
      MHD_OPTION_ARRAY, tls_opts, MHD_OPTION_END);
  if (!srv->daemon)
    return ember_err_set(err, EMBER_EIO, "cannot start the HTTP server on port %u%s",
                         (unsigned)srv->port,
                         srv->tls_cert ? " (is the TLS key the one of the certificate, "
                                         "and not encrypted?)"
                                       : "");
  srv->listen_fd = -1; /* the daemon owns it now */
  return EMBER_OK;
}

int ember_server_start(const ember_server_config_t *cfg, ember_store_t *store,
                       ember_server_t **out, ember_err_t *err) {
  ember_server_t *srv = NULL;
  int rc = ember_server_new(cfg, &srv, err);
  if (rc) return rc;
  if ((rc = ember_server_run(srv, store, err))) {
    server_free(srv);
    return rc;
  }
  *out = srv;
  return EMBER_OK;
}

uint16_t ember_server_port(const ember_server_t *srv) {
  return srv->port;
}

bool ember_server_tls(const ember_server_t *srv) {
  return srv->tls_cert != NULL;
}

static int count_inflight(ember_server_t *srv) {
  return atomic_load(&srv->inflight);
}
static int count_suspended(ember_server_t *srv) {
  return atomic_load(&srv->suspended);
}

/* Waits until count(srv) is zero or deadline (monotonic ns; 0: none)
 * passes; every 5 s says how many `what` it still waits for. */
static bool wait_for(ember_server_t *srv, int (*count)(ember_server_t *),
                     uint64_t deadline, const char *what) {
  uint64_t next_note = ember_mono_ns() + 5000000000ull;
  int n;
  while ((n = count(srv)) > 0) {
    uint64_t now = ember_mono_ns();
    if (deadline && now >= deadline) return false;
    if (now >= next_note) {
      fprintf(stderr, "ember: still waiting for %d %s\n", n, what);
      next_note = now + 5000000000ull;
    }
    struct timespec ts = {0, 10 * 1000 * 1000};
    nanosleep(&ts, NULL);
  }
  return true;
}

void ember_server_stop(ember_server_t *srv, unsigned grace_ms) {
  if (!srv) return;
  if (!srv->daemon) { /* made, never run: nothing to drain */
    server_free(srv);
    return;
  }
  /* The listening socket stays open until the daemon stops: new requests,
   * on new connections as on old ones, are answered 503. (Quiescing the
   * daemon instead races libmicrohttpd 0.9.75's own threads over the
   * socket's place in the epoll set, and the loser aborts the process.) */
  atomic_store(&srv->draining, true);
  uint64_t deadline = ember_mono_ns() + (uint64_t)grace_ms * 1000000u;
  if (!wait_for(srv, count_inflight, deadline, "request(s) in flight"))
    fprintf(stderr,
            "ember: %d request(s) still open after %u ms; answering what "
            "waits with 503\n",
            atomic_load(&srv->inflight), grace_ms);
  /* From here no request is handed on any more; what waits in a queue is
   * answered 503, what runs is waited for. Every suspended connection must
   * be resumed before the daemon stops: libmicrohttpd aborts otherwise. */
  pthread_mutex_lock(&srv->gate);
  srv->accepting_work = false;
  pthread_mutex_unlock(&srv->gate);
  ember_jobs_stop(srv->ingest_jobs, job_cancel);
  ember_jobs_stop(srv->query_jobs, job_cancel);
  srv->ingest_jobs = srv->query_jobs = NULL;
  wait_for(srv, count_suspended, 0,
           "request(s) still being worked on or waiting for the disk");
  /* Give the answers just resumed a moment to go out. */
  wait_for(srv, count_inflight, ember_mono_ns() + 2000000000ull, "response(s)");
  MHD_stop_daemon(srv->daemon);
  server_free(srv);
}
