/* Calls of the querier's methods on a store of the query fixture, in
 * JSON, for the tests of src/querier/. Header-only; include after
 * cmocka.h. */
#ifndef EMBER_TESTS_QUERIER_FIXTURE_H
#define EMBER_TESTS_QUERIER_FIXTURE_H

#include "ember/connect.h"
#include "ember/querier.h"
#include "query/store_fixture.h"

/* Calls method with the JSON request; fails the test unless the answer's
 * status is status. Returns the answer's JSON (caller decrefs). */
static inline json_t *qcall(fixture_t *f, const char *method, const char *request,
                            int status) {
  ember_querier_ctx_t ctx = {.store = f->store, .now = T0 + 3600};
  ember_connect_request_t rq = {.method = method,
                                .content_type = "application/json",
                                .body = (const uint8_t *)request,
                                .len = strlen(request)};
  ember_connect_response_t r;
  ember_connect_unary(&ember_querier_service, &rq, &ctx, &r);
  if (r.status != status)
    fail_msg("%s %s: status %d, not %d: %s", method, request, r.status, status,
             r.body.data);
  json_error_t je;
  json_t *doc = json_loadb(r.body.data, r.body.len, 0, &je);
  if (!doc) fail_msg("%s answered no JSON: %s", method, r.body.data);
  ember_connect_response_free(&r);
  return doc;
}

/* The message of an error answer with this status (static). */
static inline const char *qerror(fixture_t *f, const char *method, const char *request,
                                 int status, const char *code) {
  static char msg[1024];
  json_t *doc = qcall(f, method, request, status);
  const char *c = json_string_value(json_object_get(doc, "code"));
  if (!c || strcmp(c, code)) fail_msg("%s: code %s, not %s", method, c ? c : "-", code);
  snprintf(msg, sizeof msg, "%s", json_string_value(json_object_get(doc, "message")));
  json_decref(doc);
  return msg;
}

/* A JSON int64 (a string in the canonical mapping) as a number. */
static inline long long qint(const json_t *v) {
  if (json_is_string(v)) return strtoll(json_string_value(v), NULL, 10);
  return (long long)json_integer_value(v);
}

#endif
