/*
 * server.c - the libmicrohttpd glue: listening socket, request lifecycle,
 * suspend/resume hand-over to workers and the store, responses, shutdown.
 *
 * A request moves through three phases (http_int.h):
 *
 *   READING --(body complete, cheap route)----------------> DONE
 *   READING --(body complete, offloaded: suspend, queue)--> RUNNING
 *   RUNNING --(worker or store done: ember_http_finish)---> DONE
 *   DONE    --(network thread queues the response)--------> freed on completion
 *
 * Invariants:
 *  1. Only the network thread calls MHD functions on a connection, except
 *     MHD_resume_connection, which ember_http_finish calls exactly once per
 *     suspended request, as its very last access to the request.
 *  2. A request is suspended exactly while its phase is RUNNING.
 *  3. srv->inflight counts requests from their first callback to their
 *     completion notice; shutdown waits for it to reach zero, so every
 *     request in flight gets its answer.
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
  jobs_t *jobs;
  size_t max_body;
  long max_nodes;
  uint16_t port;
  int listen_fd;
  atomic_bool draining;
  atomic_int inflight;
};

/* ---- Request helpers used by handlers ---------------------------------- */

static const char *kv_find(const http_kv_t *kv, size_t n, const char *key,
                           bool nocase) {
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

void ember_http_set_header(ember_http_req_t *req, const char *name,
                           const char *value) {
  if (req->nresp_headers == HTTP_MAX_RESP_HEADERS) abort(); /* a code bug */
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
  default: return 500;
  }
}

void ember_http_set_error(ember_http_req_t *req, int code, const char *msg) {
  req->status = ember_http_status_for(code);
  req->content_type = "application/json";
  req->static_body = NULL;
  ember_buf_reset(&req->resp);
  ember_buf_puts(&req->resp, "{\"error\":");
  ember_buf_put_json_string(&req->resp, msg, strlen(msg));
  ember_buf_puts(&req->resp, "}\n");
  if (code == EMBER_EBUSY || code == EMBER_ESHUTDOWN || code == EMBER_EUNAVAIL)
    ember_http_set_header(req, "Retry-After", "1");
}

void ember_http_finish(ember_http_req_t *req) {
  struct MHD_Connection *c = req->conn;
  atomic_store(&req->phase, PHASE_DONE);
  MHD_resume_connection(c); /* last touch: req may be freed from here on */
}

ember_store_t *ember_http_store(const ember_http_req_t *req) {
  return req->srv->store;
}

size_t ember_http_max_body(const ember_http_req_t *req) {
  return req->srv->max_body;
}

long ember_http_max_nodes(const ember_http_req_t *req) {
  return req->srv->max_nodes;
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

static enum MHD_Result collect_kv(void *cls, enum MHD_ValueKind kind,
                                  const char *key, const char *value) {
  ember_http_req_t *req = cls;
  http_kv_t **arr = kind == MHD_GET_ARGUMENT_KIND ? &req->args : &req->headers;
  size_t *n = kind == MHD_GET_ARGUMENT_KIND ? &req->nargs : &req->nheaders;
  *arr = ember_realloc(*arr, (*n + 1) * sizeof **arr);
  (*arr)[*n].key = ember_strdup(key);
  (*arr)[*n].value = ember_strdup(value ? value : "");
  (*n)++;
  return MHD_YES;
}

static ember_http_req_t *req_new(ember_server_t *srv, struct MHD_Connection *c,
                                 const char *url, const char *method) {
  ember_http_req_t *req = ember_calloc(1, sizeof *req);
  req->srv = srv;
  req->conn = c;
  req->path = ember_strdup(url);
  req->method = parse_method(method);
  req->start_ns = ember_mono_ns();
  atomic_init(&req->phase, PHASE_READING);
  MHD_get_connection_values(c, MHD_GET_ARGUMENT_KIND, collect_kv, req);
  MHD_get_connection_values(c, MHD_HEADER_KIND, collect_kv, req);
  const char *cl = ember_http_header(req, "Content-Length");
  if (cl) req->declared_len = strtoull(cl, NULL, 10);
  return req;
}

static void kv_free(http_kv_t *kv, size_t n) {
  for (size_t i = 0; i < n; i++) {
    free(kv[i].key);
    free(kv[i].value);
  }
}

static void req_free(ember_http_req_t *req) {
  if (!req) return;
  kv_free(req->args, req->nargs);
  free(req->args);
  kv_free(req->headers, req->nheaders);
  free(req->headers);
  kv_free(req->resp_headers, req->nresp_headers);
  ember_buf_free(&req->body);
  ember_buf_free(&req->resp);
  free(req->path);
  free(req);
}

/* Queues the filled response on the connection (network thread only). */
static enum MHD_Result send_response(ember_http_req_t *req) {
  struct MHD_Response *resp;
  if (req->queued) return MHD_YES;
  req->queued = true;
  if (req->static_body) {
    resp = MHD_create_response_from_buffer(req->static_len,
                                           (void *)req->static_body,
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
  for (size_t i = 0; i < req->nresp_headers; i++)
    MHD_add_response_header(resp, req->resp_headers[i].key,
                            req->resp_headers[i].value);
  int status = req->status ? req->status : 200;
  enum MHD_Result r = MHD_queue_response(req->conn, (unsigned)status, resp);
  MHD_destroy_response(resp);
  ember_metrics_request(req->route ? req->route->metric : METRIC_ROUTE_OTHER,
                        status, ember_mono_ns() - req->start_ns);
  return r;
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
  }
  if (!req->status) req->status = 200;
  atomic_store(&req->phase, PHASE_DONE);
  return true;
}

static void job_run(void *arg) {
  ember_http_req_t *req = arg;
  if (run_handler(req)) ember_http_finish(req);
}

/* Checks a new request before its body is read. Returns false and fills the
 * error response when it must be refused. */
static bool admit(ember_http_req_t *req) {
  ember_server_t *srv = req->srv;
  char msg[256];
  if (atomic_load(&srv->draining)) {
    ember_http_set_error(req, EMBER_ESHUTDOWN,
                         "server is shutting down; retry in a moment");
    return false;
  }
  req->route = ember_http_route(req->path);
  if (!req->route) {
    snprintf(msg, sizeof msg, "no such endpoint: %.200s (see docs/API.md)", req->path);
    ember_http_set_error(req, EMBER_ENOTFOUND, msg);
    return false;
  }
  if (!(req->route->methods & req->method)) {
    ember_buf_t allow = EMBER_BUF_INIT;
    ember_http_allow(req->route, &allow);
    snprintf(msg, sizeof msg, "method not allowed on %.100s; use %s", req->path,
             allow.data);
    ember_http_set_error(req, EMBER_EINVAL, msg);
    req->status = 405;
    ember_http_set_header(req, "Allow", allow.data);
    ember_buf_free(&allow);
    return false;
  }
  if (req->declared_len > srv->max_body) {
    snprintf(msg, sizeof msg,
             "request body of %zu bytes is over the limit of %zu bytes; send "
             "smaller pushes or raise --max-body",
             req->declared_len, srv->max_body);
    ember_http_set_error(req, EMBER_ETOOBIG, msg);
    return false;
  }
  return true;
}

static enum MHD_Result on_body_complete(ember_http_req_t *req) {
  if (!req->route->offload) {
    (void)run_handler(req); /* cheap routes answer at once, never hand on */
    return send_response(req);
  }
  atomic_store(&req->phase, PHASE_RUNNING);
  MHD_suspend_connection(req->conn);
  if (ember_jobs_submit(req->srv->jobs, job_run, req) != 0) {
    ember_http_set_error(req, EMBER_EBUSY,
                         "server is overloaded: too many requests waiting; "
                         "retry shortly");
    ember_http_finish(req);
  }
  return MHD_YES;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c,
                                  const char *url, const char *method,
                                  const char *version, const char *upload,
                                  size_t *upload_size, void **con_cls) {
  ember_server_t *srv = cls;
  ember_http_req_t *req = *con_cls;
  if (!req) {
    req = req_new(srv, c, url, method);
    *con_cls = req;
    atomic_fetch_add(&srv->inflight, 1);
    if (!admit(req)) {
      atomic_store(&req->phase, PHASE_DONE);
      return send_response(req);
    }
    return MHD_YES;
  }
  switch (atomic_load(&req->phase)) {
  case PHASE_READING:
    if (*upload_size) {
      if (req->body.len + *upload_size > srv->max_body) {
        char msg[200];
        snprintf(msg, sizeof msg,
                 "request body is over the limit of %zu bytes; send smaller "
                 "pushes or raise --max-body",
                 srv->max_body);
        ember_http_set_error(req, EMBER_ETOOBIG, msg);
        atomic_store(&req->phase, PHASE_DONE);
        *upload_size = 0;
        return send_response(req);
      }
      ember_buf_append(&req->body, upload, *upload_size);
      *upload_size = 0;
      return MHD_YES;
    }
    return on_body_complete(req);
  case PHASE_DONE:
    if (*upload_size) { /* the rest of a refused body: discard */
      *upload_size = 0;
      return MHD_YES;
    }
    return send_response(req);
  default:
    return MHD_YES; /* not reached: a RUNNING request is suspended */
  }
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                         enum MHD_RequestTerminationCode toe) {
  ember_server_t *srv = cls;
  ember_http_req_t *req = *con_cls;
  if (!req) return;
  req_free(req);
  *con_cls = NULL;
  atomic_fetch_sub(&srv->inflight, 1);
}

static void on_mhd_error(void *cls, const char *fmt, va_list ap) {
  fputs("ember: http: ", stderr);
  vfprintf(stderr, fmt, ap);
}

/* ---- Listening --------------------------------------------------------- */

/* Splits "host:port" / "[v6]:port" / ":port" and binds a listening socket,
 * so errors can name the real cause (address in use, permission, ...). */
static int open_listener(const char *listen_addr, int *fd_out, uint16_t *port_out,
                         bool *v6_out, ember_err_t *err) {
  char host[256];
  const char *port;
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
  if (hlen >= sizeof host)
    return ember_err_set(err, EMBER_EINVAL, "--listen host is too long");
  memcpy(host, h, hlen);
  host[hlen] = '\0';
  port = colon + 1;
  char *end;
  long p = strtol(port, &end, 10);
  if (*end || p < 0 || p > 65535)
    return ember_err_set(err, EMBER_EINVAL,
                         "--listen port '%s' is not a number from 0 to 65535", port);

  struct addrinfo hints = {0}, *res = NULL;
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE;
  int gai = getaddrinfo(hlen ? host : NULL, port, &hints, &res);
  if (gai)
    return ember_err_set(err, EMBER_EINVAL, "--listen host '%s': %s", host,
                         gai_strerror(gai));
  int fd = socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  int one = 1, rc = EMBER_OK;
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
  *port_out = ntohs(ss.ss_family == AF_INET6
                        ? ((struct sockaddr_in6 *)&ss)->sin6_port
                        : ((struct sockaddr_in *)&ss)->sin_port);
  *v6_out = ss.ss_family == AF_INET6;
  *fd_out = fd;
done:
  freeaddrinfo(res);
  return rc;
}

/* ---- API --------------------------------------------------------------- */

int ember_server_start(const ember_server_config_t *cfg, ember_store_t *store,
                       ember_server_t **out, ember_err_t *err) {
  ember_server_t *srv = ember_calloc(1, sizeof *srv);
  bool v6 = false;
  int rc;
  srv->store = store;
  srv->max_body = cfg->max_body ? cfg->max_body : EMBER_HTTP_DEFAULT_MAX_BODY;
  srv->max_nodes = cfg->max_nodes; /* 0: the query module's default */
  srv->listen_fd = -1;
  atomic_init(&srv->draining, false);
  atomic_init(&srv->inflight, 0);
  rc = open_listener(cfg->listen ? cfg->listen : EMBER_HTTP_DEFAULT_LISTEN,
                     &srv->listen_fd, &srv->port, &v6, err);
  if (rc) goto fail;

  long cores = sysconf(_SC_NPROCESSORS_ONLN);
  unsigned workers = cfg->workers ? cfg->workers : (unsigned)(cores > 0 ? cores * 2 : 4);
  unsigned io = cfg->io_threads ? cfg->io_threads : 2;
  srv->jobs = ember_jobs_start(workers, 4096);

  unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL |
                   MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ITC | MHD_USE_ERROR_LOG;
  if (v6) flags |= MHD_USE_IPv6;
  srv->daemon = MHD_start_daemon(
      flags, 0, NULL, NULL, on_request, srv,
      MHD_OPTION_EXTERNAL_LOGGER, on_mhd_error, NULL, /* must come first */
      MHD_OPTION_LISTEN_SOCKET, srv->listen_fd,
      MHD_OPTION_THREAD_POOL_SIZE, io,
      MHD_OPTION_NOTIFY_COMPLETED, on_completed, srv,
      MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)120,
      MHD_OPTION_CONNECTION_LIMIT, (unsigned)4096,
      MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)(256 * 1024),
      MHD_OPTION_END);
  if (!srv->daemon) {
    rc = ember_err_set(err, EMBER_EIO, "cannot start the HTTP server on %s",
                       cfg->listen ? cfg->listen : EMBER_HTTP_DEFAULT_LISTEN);
    goto fail;
  }
  *out = srv;
  return EMBER_OK;
fail:
  if (srv->jobs) ember_jobs_stop(srv->jobs);
  if (srv->listen_fd >= 0) close(srv->listen_fd);
  free(srv);
  return rc;
}

uint16_t ember_server_port(const ember_server_t *srv) { return srv->port; }

void ember_server_stop(ember_server_t *srv, unsigned grace_ms) {
  if (!srv) return;
  atomic_store(&srv->draining, true);
  MHD_socket lfd = MHD_quiesce_daemon(srv->daemon);
  if (lfd != MHD_INVALID_SOCKET) close(lfd);
  uint64_t deadline = ember_mono_ns() + (uint64_t)grace_ms * 1000000u;
  while (atomic_load(&srv->inflight) > 0 && ember_mono_ns() < deadline) {
    struct timespec ts = {0, 10 * 1000 * 1000};
    nanosleep(&ts, NULL);
  }
  int left = atomic_load(&srv->inflight);
  if (left > 0)
    fprintf(stderr, "ember: %d request(s) still running after %u ms; closing\n",
            left, grace_ms);
  ember_jobs_stop(srv->jobs);
  MHD_stop_daemon(srv->daemon);
  free(srv);
}
