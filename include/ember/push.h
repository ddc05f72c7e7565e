/*
 * push.h - push.v1.PusherService (src/proto/push.proto): the write API of
 * Grafana Alloy's pyroscope.write and the current Pyroscope SDKs, as a
 * Connect service. One method, Push: series of labels and raw pprof
 * profiles, read by the rules of ember_ingest_push (docs/API.md, "push.v1")
 * and answered, like /ingest, only once the store has committed them.
 *
 * The method needs the server's store and limits and two things only the
 * HTTP layer can do, given as callbacks in ember_push_ctx_t: hold the
 * parsed profiles against the request's share of the bytes in flight, and
 * answer the call once the store is done with it.
 */
#ifndef EMBER_PUSH_H
#define EMBER_PUSH_H

#include "ember/connect.h"
#include "ember/ingest.h"
#include "ember/store.h"

/* What a Push call is run with. Borrowed by the method while it runs;
 * the callbacks and arg must stay valid until done has been called. */
typedef struct {
  ember_store_t *store;
  size_t max_body; /* a profile, decompressed */
  int64_t now;     /* Unix seconds */
  ember_ingest_limits_t limits;
  ember_budget_t *budget;
  /* Holds n more bytes (the parsed profiles, until they are on disk)
   * against the request; false when the budget has no room for them. */
  bool (*charge)(void *arg, size_t n);
  /* For a call the method left pending (EMBER_CONNECT_PENDING): called
   * once, on the store's writer thread, when the push is committed (rc 0)
   * or has failed; it ends the call (ember_connect_end) and answers. */
  void (*done)(void *arg, ember_connect_call_t *call, int rc, const ember_err_t *err);
  void *arg;
  /* OUT: what the push held, set before it goes to the store. */
  uint64_t profiles, samples, truncated;
} ember_push_ctx_t;

/* The service; its method takes an ember_push_ctx_t as ctx. */
extern const ember_connect_service_t ember_push_service;

#endif
