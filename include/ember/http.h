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
#include "ember/store.h"

typedef struct ember_server ember_server_t;

typedef struct {
  const char *listen;  /* "host:port", "[v6]:port"; port 0 picks a free one */
  size_t max_body;     /* bytes, for request bodies and decompressed bodies */
  unsigned workers;    /* worker threads; 0 = two per core */
  unsigned io_threads; /* network threads; 0 = default */
  long max_nodes;      /* most nodes a render draws; 0 = EMBER_QUERY_MAX_NODES_LIMIT */
} ember_server_config_t;

#define EMBER_HTTP_DEFAULT_LISTEN "127.0.0.1:4040"
#define EMBER_HTTP_DEFAULT_MAX_BODY ((size_t)32 << 20)

/* Starts listening and serving from store (borrowed; it must outlive the
 * server). *out written only on success. */
int ember_server_start(const ember_server_config_t *cfg, ember_store_t *store,
                       ember_server_t **out, ember_err_t *err);

/* The port actually bound (useful with port 0). */
uint16_t ember_server_port(const ember_server_t *srv);

/* Graceful stop: stops accepting connections, answers new requests on open
 * connections with 503, waits up to grace_ms for requests in flight (an
 * ingest in flight still gets its commit and its 200), then closes
 * everything and frees srv. NULL is accepted. */
void ember_server_stop(ember_server_t *srv, unsigned grace_ms);

#endif
