/* Fuzz driver for the decoding of Connect requests (src/connect/): any
 * bytes as the body of any querier method, in protobuf or JSON, gzipped or
 * not. No crash, no unbounded memory (the arena's bound), a refusal always
 * carries a Connect error with a message, and a request that decodes maps
 * to canonical JSON and back to the same JSON.
 *
 * The first byte picks the call: bit 0 JSON (else protobuf), bit 1 gzip,
 * the rest the method; the remaining bytes are the body. */
#include "ember/connect.h"
#include "ember/querier.h"
#include "fuzz_util.h"

/* The canonical JSON of a decoded request decodes again, to a message whose
 * canonical JSON is the same text. */
static void check_round_trip(const ProtobufCMessage *m) {
  ember_buf_t a = EMBER_BUF_INIT, b = EMBER_BUF_INIT;
  ember_connect_json_encode(m, &a);
  ember_connect_arena_t *arena = ember_connect_arena_new(0);
  ProtobufCMessage *again = NULL;
  ember_err_t err;
  int rc = ember_connect_json_decode(m->descriptor, a.data, a.len, arena, &again, &err);
  if (rc) fprintf(stderr, "re-decoding %s failed: %s\n", a.data, err.msg);
  FUZZ_CHECK(rc == 0);
  ember_connect_json_encode(again, &b);
  if (a.len != b.len || memcmp(a.data, b.data, a.len))
    fprintf(stderr, "round trip:\n%s\n%s\n", a.data, b.data);
  FUZZ_CHECK(a.len == b.len && memcmp(a.data, b.data, a.len) == 0);
  /* And it packs: protobuf-c can serialise whatever the decoder built. */
  size_t n = protobuf_c_message_get_packed_size(again);
  uint8_t *p = malloc(n + 1);
  FUZZ_CHECK(p && protobuf_c_message_pack(again, p) == n);
  free(p);
  ember_connect_arena_free(arena);
  ember_buf_free(&a);
  ember_buf_free(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1) return 0;
  const ember_connect_service_t *svc = &ember_querier_service;
  ember_connect_request_t rq = {
      .method = svc->methods[(data[0] >> 2) % svc->n].name,
      .content_type = data[0] & 1 ? "application/json" : "application/proto",
      .content_encoding = data[0] & 2 ? "gzip" : NULL,
      .accept_encoding = "gzip",
      .body = data + 1,
      .len = size - 1,
  };
  ember_connect_call_t *call = NULL;
  ember_connect_response_t resp;
  int code = ember_connect_begin(svc, &rq, &call, &resp);
  if (code) {
    FUZZ_CHECK(call == NULL);
    FUZZ_CHECK(resp.status >= 400 && resp.body.len > 0);
    FUZZ_CHECK(strstr(resp.body.data, "\"message\":\"") != NULL);
    FUZZ_CHECK(code == EMBER_CONNECT_INVALID_ARGUMENT ||
               code == EMBER_CONNECT_RESOURCE_EXHAUSTED);
    ember_connect_response_free(&resp);
    return 0;
  }
  const ProtobufCMessage *in = ember_connect_call_input(call);
  FUZZ_CHECK(in && in->descriptor == ember_connect_call_method(call)->input);
  check_round_trip(in);
  ember_connect_end(call, 0, NULL, &resp);
  FUZZ_CHECK(resp.status == 200);
  ember_connect_response_free(&resp);
  return 0;
}
