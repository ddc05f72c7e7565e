/*
 * http.h - the HTTP server: the only module that sees libmicrohttpd.
 *
 * It turns requests into calls of the ingest, query and store modules and
 * their return codes into statuses with JSON error bodies (docs/API.md).
 * Network threads only move bytes; parsing and queries run on a pool of
 * worker threads while the connection is suspended, and an ingest request
 * stays suspended until the store has committed it.
 */
#ifndef EMBER_HTTP_H
#define EMBER_HTTP_H

#include "ember/common.h"
#include "ember/ingest.h"
#include "ember/store.h"

typedef struct ember_server ember_server_t;

/* Every field may be left 0/NULL for its default. Strings are borrowed for
 * the duration of ember_server_start (or ember_server_new). */
typedef struct {
  const char *listen;  /* "host:port", "[v6]:port"; port 0 picks a free one */
  size_t max_body;     /* bytes, for request bodies and decompressed bodies */
  unsigned workers;    /* ingest worker threads; 0 = two per core */
  unsigned io_threads; /* network threads; 0 = default */

  /* Resources one client or all of them together may hold. */
  size_t max_inflight;       /* bytes of bodies and parsed profiles at once */
  unsigned max_conns_per_ip; /* open connections from one address */
  unsigned request_timeout;  /* seconds to send headers and body */
  unsigned idle_timeout;     /* seconds a connection may idle between requests */
  unsigned max_queries;      /* queries running at once */
  unsigned query_timeout;    /* seconds a query may take, queueing included */

  /* Access control (docs/API.md, "Auth" and "Browser safety"). */
  const char *auth_token_file;      /* NULL: auth off */
  const char *const *allow_origins; /* NULL-terminated; "*" allows any */
  const char *const *allow_hosts;   /* NULL-terminated extra Host names */

  /* TLS: both or neither, PEM files. */
  const char *tls_cert;
  const char *tls_key;
  long max_nodes;      /* most nodes a render draws; 0 = EMBER_QUERY_MAX_NODES_LIMIT */
  ember_ingest_limits_t ingest; /* per push; a field left 0 takes the default */
} ember_server_config_t;

#define EMBER_HTTP_DEFAULT_LISTEN "127.0.0.1:4040"
#define EMBER_HTTP_DEFAULT_MAX_BODY ((size_t)32 << 20)
#define EMBER_HTTP_DEFAULT_MAX_INFLIGHT ((size_t)512 << 20)
#define EMBER_HTTP_DEFAULT_CONNS_PER_IP 128
#define EMBER_HTTP_DEFAULT_REQUEST_TIMEOUT 30
#define EMBER_HTTP_DEFAULT_IDLE_TIMEOUT 60
#define EMBER_HTTP_DEFAULT_QUERY_TIMEOUT 30

/* Checks the form of a listen address ("host:port", "[v6]:port", ":port",
 * a port from 0 to 65535) without resolving or binding anything, so that a
 * malformed one is refused as a usage error. */
int ember_server_check_listen(const char *listen, ember_err_t *err);

/* Starting is two steps, so that everything a user can get wrong (the
 * address, a port in use, TLS and token files) fails before the caller
 * opens or creates a store. ember_server_new reads those files and binds
 * the listening socket, serving nothing yet; ember_server_run then serves
 * from store (borrowed; it must outlive the server). *out is written only
 * on success. A server that was made but did not run, or whose run failed,
 * is freed by ember_server_stop. */
int ember_server_new(const ember_server_config_t *cfg, ember_server_t **out,
                     ember_err_t *err);
int ember_server_run(ember_server_t *srv, ember_store_t *store, ember_err_t *err);

/* Both steps at once: starts listening and serving from store (borrowed;
 * it must outlive the server). *out written only on success. */
int ember_server_start(const ember_server_config_t *cfg, ember_store_t *store,
                       ember_server_t **out, ember_err_t *err);

/* The port actually bound (useful with port 0). */
uint16_t ember_server_port(const ember_server_t *srv);
/* True when the server speaks HTTPS. */
bool ember_server_tls(const ember_server_t *srv);

/* Graceful stop: answers every new request (on new connections as on open
 * ones) with 503 and waits up to grace_ms for requests in flight.
 * Then queued work that has not started is answered 503, and the server
 * waits for every request already handed to a worker or to the store to be
 * answered (an ingest waiting for the disk still gets its commit and its
 * 200), saying every few seconds what it waits for; only then closes the
 * connections and frees srv. NULL is accepted. */
void ember_server_stop(ember_server_t *srv, unsigned grace_ms);

#endif
