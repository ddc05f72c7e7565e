/*
 * connect.c - one unary Connect call, from the request's bytes to the
 * response's (connect.h says how a call runs).
 *
 * A call moves through three states:
 *
 *   ember_connect_begin: method found, headers checked, body decoded
 *        -> STARTED (the method runs)
 *   ember_connect_reply / _reply_packed
 *        -> ANSWERED (the answer is held, not yet encoded)
 *   ember_connect_end: answer (or error) encoded into the response
 *        -> freed
 *
 * Invariants:
 *  1. Everything a call holds (the request, the answer, the method's
 *     scratch) lives in its arena, freed by ember_connect_end alone.
 *  2. The decoded request is bounded: the body is inflated to at most
 *     max_message bytes, and decoding it (the arena, and jansson's parse of
 *     a JSON body) takes at most decode_limit() of its size.
 *  3. Every response is either a message in the request's encoding with
 *     status 200, or a Connect error JSON with its code's status (415 for a
 *     media type the protocol cannot read, with Accept-Post).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "connect/connect_int.h"

/* ---- Types ------------------------------------------------------------- */

/* What decoding a message of n bytes may allocate: protobuf-c's structs are
 * larger than their encodings (a two-byte empty message becomes a struct of
 * dozens of bytes), so a small message may take 64 times its size; past a
 * few hundred kilobytes, four times plus 16 MiB, which honest messages
 * (whose bulk is strings and bytes) never approach. */
static size_t decode_limit(size_t n) {
  size_t small = n * 64, large = n * 4 + ((size_t)16 << 20);
  return (small < large ? small : large) + ((size_t)64 << 10);
}

#define MEDIA_PROTO "application/proto"
#define MEDIA_JSON "application/json"

struct ember_connect_call {
  const ember_connect_method_t *method;
  bool json;
  bool gzip_ok; /* the client accepts a gzipped answer */
  uint64_t timeout_ns;
  ember_connect_arena_t *arena;
  ProtobufCMessage *input;
  const ProtobufCMessage *answer; /* borrowed */
  uint8_t *packed;                /* or the answer serialised, in the arena */
  size_t packed_len;
};

/* ---- Codes ------------------------------------------------------------- */

static const struct {
  const char *name;
  int status;
} codes[] = {
    {"ok", 200},
    {"canceled", 499},
    {"unknown", 500},
    {"invalid_argument", 400},
    {"deadline_exceeded", 504},
    {"not_found", 404},
    {"already_exists", 409},
    {"permission_denied", 403},
    {"resource_exhausted", 429},
    {"failed_precondition", 400},
    {"aborted", 409},
    {"out_of_range", 400},
    {"unimplemented", 501},
    {"internal", 500},
    {"unavailable", 503},
    {"data_loss", 500},
    {"unauthenticated", 401},
};

const char *ember_connect_code_name(ember_connect_code_t code) {
  return (unsigned)code < sizeof codes / sizeof *codes ? codes[code].name : "unknown";
}

int ember_connect_http_status(ember_connect_code_t code) {
  return (unsigned)code < sizeof codes / sizeof *codes ? codes[code].status : 500;
}

ember_connect_code_t ember_connect_code_for(int rc) {
  switch (rc) {
  case EMBER_OK: return EMBER_CONNECT_OK;
  case EMBER_EINVAL:
  case EMBER_EPARSE:
  case EMBER_ERANGE: return EMBER_CONNECT_INVALID_ARGUMENT;
  case EMBER_ETOOBIG:
  case EMBER_EBUSY:
  case EMBER_ELIMIT: return EMBER_CONNECT_RESOURCE_EXHAUSTED;
  case EMBER_ESHUTDOWN:
  case EMBER_EUNAVAIL: return EMBER_CONNECT_UNAVAILABLE;
  case EMBER_ENOTFOUND: return EMBER_CONNECT_NOT_FOUND;
  case EMBER_EAUTH: return EMBER_CONNECT_UNAUTHENTICATED;
  case EMBER_EFORBIDDEN: return EMBER_CONNECT_PERMISSION_DENIED;
  case EMBER_ETIMEOUT: return EMBER_CONNECT_DEADLINE_EXCEEDED;
  case EMBER_EUNIMPL: return EMBER_CONNECT_UNIMPLEMENTED;
  default: return EMBER_CONNECT_INTERNAL;
  }
}

void ember_connect_error_json(ember_buf_t *out, ember_connect_code_t code,
                              const char *msg) {
  const char *name = ember_connect_code_name(code);
  ember_buf_puts(out, "{\"code\":\"");
  ember_buf_puts(out, name);
  ember_buf_puts(out, "\",\"message\":");
  ember_buf_put_json_string(out, msg, strlen(msg));
  ember_buf_puts(out, "}");
}

/* ---- Responses --------------------------------------------------------- */

void ember_connect_response_free(ember_connect_response_t *r) {
  if (!r) return;
  ember_buf_free(&r->body);
}

/* Fills r with the error code/msg, with the status of the code. */
static int fail(ember_connect_response_t *r, ember_connect_code_t code, const char *msg) {
  ember_buf_reset(&r->body);
  r->status = ember_connect_http_status(code);
  r->content_type = MEDIA_JSON;
  r->content_encoding = NULL;
  r->code = code;
  ember_connect_error_json(&r->body, code, msg);
  return code;
}

/* ---- Parsing the headers ----------------------------------------------- */

/* The media type of a Content-Type, without parameters or case: 1 for
 * protobuf, 2 for JSON, 0 for anything else. */
static int media(const char *ct) {
  if (!ct) return 0;
  while (*ct == ' ' || *ct == '\t')
    ct++;
  size_t n = strcspn(ct, "; \t");
  if (n == strlen(MEDIA_PROTO) && !strncasecmp(ct, MEDIA_PROTO, n)) return 1;
  if (n == strlen(MEDIA_JSON) && !strncasecmp(ct, MEDIA_JSON, n)) return 2;
  return 0;
}

/* Connect-Timeout-Ms: a positive integer of at most ten digits. */
static bool parse_timeout(const char *v, uint64_t *ns) {
  size_t n = strlen(v);
  if (!n || n > 10 || strspn(v, "0123456789") != n) return false;
  *ns = strtoull(v, NULL, 10) * 1000000u;
  return *ns > 0;
}

static bool identity(const char *enc) {
  return !enc || !*enc || !strcasecmp(enc, "identity");
}

static const ember_connect_method_t *find_method(const ember_connect_service_t *svc,
                                                 const char *name) {
  for (size_t i = 0; name && i < svc->n; i++)
    if (!strcmp(svc->methods[i].name, name)) return &svc->methods[i];
  return NULL;
}

static int no_method(const ember_connect_service_t *svc, const char *name,
                     ember_connect_response_t *r) {
  ember_buf_t msg = EMBER_BUF_INIT;
  ember_excerpt_t e;
  ember_buf_printf(&msg, "%s has no method '%s'; it has ", svc->name,
                   ember_excerpt(&e, name ? name : "", name ? strlen(name) : 0, 60));
  for (size_t i = 0; i < svc->n; i++)
    ember_buf_printf(&msg, "%s%s", i ? ", " : "", svc->methods[i].name);
  fail(r, EMBER_CONNECT_UNIMPLEMENTED, msg.data);
  r->status = 404; /* the path names nothing, as for any unknown route */
  ember_buf_free(&msg);
  return EMBER_CONNECT_UNIMPLEMENTED;
}

/* Checks what the headers say; fills r and returns the code on a refusal. */
static int check_headers(const ember_connect_request_t *rq, ember_connect_call_t *c,
                         ember_connect_response_t *r) {
  char msg[300];
  int kind = media(rq->content_type);
  if (!kind) {
    ember_excerpt_t e;
    const char *ct = rq->content_type ? rq->content_type : "";
    snprintf(msg, sizeof msg,
             "Content-Type '%s' is not one this endpoint reads; send application/proto "
             "or application/json",
             ember_excerpt(&e, ct, strlen(ct), 60));
    fail(r, EMBER_CONNECT_INVALID_ARGUMENT, msg);
    r->status = 415;
    r->accept_post = MEDIA_PROTO ", " MEDIA_JSON;
    return EMBER_CONNECT_INVALID_ARGUMENT;
  }
  c->json = kind == 2;
  if (rq->protocol_version && strcmp(rq->protocol_version, "1"))
    return fail(r, EMBER_CONNECT_INVALID_ARGUMENT,
                "Connect-Protocol-Version must be 1, the version of the protocol this "
                "server speaks");
  if (rq->timeout_ms && !parse_timeout(rq->timeout_ms, &c->timeout_ns))
    return fail(r, EMBER_CONNECT_INVALID_ARGUMENT,
                "Connect-Timeout-Ms must be a positive number of milliseconds of at "
                "most ten digits");
  if (!identity(rq->content_encoding) && strcasecmp(rq->content_encoding, "gzip")) {
    ember_excerpt_t e;
    snprintf(msg, sizeof msg,
             "Content-Encoding '%s' is not supported; send the body as is or gzipped",
             ember_excerpt(&e, rq->content_encoding, strlen(rq->content_encoding), 40));
    fail(r, EMBER_CONNECT_UNIMPLEMENTED, msg);
    r->accept_encoding = "gzip";
    return EMBER_CONNECT_UNIMPLEMENTED;
  }
  c->gzip_ok = ember_connect_accepts_gzip(rq->accept_encoding);
  return EMBER_CONNECT_OK;
}

/* Undoes the encoding and decodes the message into c->input. */
static int decode(const ember_connect_request_t *rq, ember_connect_call_t *c,
                  ember_err_t *err) {
  size_t max = rq->max_message ? rq->max_message : EMBER_CONNECT_DEFAULT_MAX_MESSAGE;
  const ProtobufCMessageDescriptor *d = c->method->input;
  ember_buf_t plain = EMBER_BUF_INIT;
  const uint8_t *p = rq->body;
  size_t n = rq->len, held = 0;
  int rc = EMBER_OK;
  if (!identity(rq->content_encoding)) {
    rc = ember_connect_gunzip(rq->body, rq->len, max, &plain, err);
    p = (const uint8_t *)plain.data;
    n = plain.len;
    /* The inflated body counts while it is decoded. */
    if (rc == EMBER_OK && rq->budget) {
      if (ember_budget_take(rq->budget, plain.cap))
        held = plain.cap;
      else
        rc = ember_err_set(err, EMBER_EBUSY,
                           "server is busy: too many bytes in flight; retry");
    }
  } else if (n > max) {
    rc = ember_err_set(err, EMBER_ETOOBIG,
                       "the message is %zu bytes, over the %zu this endpoint takes", n,
                       max);
  }
  if (rc) goto done;
  ember_connect_arena_limit(c->arena, decode_limit(n));
  ember_connect_arena_budget(c->arena, rq->budget, true);
  if (c->json) {
    rc = ember_connect_json_decode(d, (const char *)p, n, c->arena, &c->input, err);
  } else if (!(rc = ember_connect_wire_check(d, p, n, err))) {
    ProtobufCAllocator al = ember_connect_arena_allocator(c->arena);
    c->input = protobuf_c_message_unpack(d, &al, n, p);
    if (!c->input)
      rc = ember_err_set(err, EMBER_EINVAL, "the body is not a valid protobuf %s",
                         d->name);
  }
  ember_connect_arena_limit(c->arena, 0);
  ember_connect_arena_budget(c->arena, NULL, false);
  if (rc && ember_connect_arena_busy(c->arena))
    rc = ember_err_set(err, EMBER_EBUSY, "server is busy: too many bytes in flight; retry");
done:
  if (held) ember_budget_give(rq->budget, held);
  ember_buf_free(&plain);
  return rc;
}

/* ---- API --------------------------------------------------------------- */

int ember_connect_begin(const ember_connect_service_t *svc,
                        const ember_connect_request_t *rq, ember_connect_call_t **call,
                        ember_connect_response_t *resp) {
  memset(resp, 0, sizeof *resp);
  *call = NULL;
  const ember_connect_method_t *m = find_method(svc, rq->method);
  if (!m) return no_method(svc, rq->method, resp);
  ember_connect_call_t *c = ember_calloc(1, sizeof *c);
  c->method = m;
  c->arena = ember_connect_arena_new(0);
  int code = check_headers(rq, c, resp);
  if (!code) {
    ember_err_t err;
    ember_err_clear(&err);
    int rc = decode(rq, c, &err);
    if (rc) code = fail(resp, ember_connect_code_for(rc), err.msg);
  }
  if (code) {
    ember_connect_arena_free(c->arena);
    free(c);
    return code;
  }
  *call = c;
  return EMBER_CONNECT_OK;
}

const ember_connect_method_t *ember_connect_call_method(const ember_connect_call_t *c) {
  return c->method;
}

const ProtobufCMessage *ember_connect_call_input(const ember_connect_call_t *c) {
  return c->input;
}

bool ember_connect_call_json(const ember_connect_call_t *c) { return c->json; }

uint64_t ember_connect_call_timeout_ns(const ember_connect_call_t *c) {
  return c->timeout_ns;
}

void *ember_connect_alloc(ember_connect_call_t *c, size_t n) {
  void *p = ember_connect_arena_alloc(c->arena, n);
  if (!p) {
    fprintf(stderr, "ember: cannot allocate %zu bytes for an answer\n", n);
    abort();
  }
  return p;
}

char *ember_connect_strndup(ember_connect_call_t *c, const char *s, size_t n) {
  char *p = ember_connect_alloc(c, n + 1);
  if (n) memcpy(p, s, n);
  return p;
}

void ember_connect_reply(ember_connect_call_t *c, const ProtobufCMessage *msg) {
  c->answer = msg;
  c->packed = NULL;
}

int ember_connect_reply_packed(ember_connect_call_t *c, const uint8_t *p, size_t n,
                               ember_err_t *err) {
  c->answer = NULL;
  if (c->json) {
    /* JSON needs the message itself. */
    ProtobufCAllocator al = ember_connect_arena_allocator(c->arena);
    ProtobufCMessage *m = protobuf_c_message_unpack(c->method->output, &al, n, p);
    if (!m)
      return ember_err_set(err, EMBER_EIO, "the answer does not decode as %s",
                           c->method->output->name);
    c->answer = m;
    return EMBER_OK;
  }
  c->packed = ember_connect_alloc(c, n ? n : 1);
  if (n) memcpy(c->packed, p, n);
  c->packed_len = n;
  return EMBER_OK;
}

/* Serialises the answer into body, in the call's encoding. */
static void encode_answer(ember_connect_call_t *c, ember_buf_t *body) {
  const ProtobufCMessage *m = c->answer;
  if (!m && !c->packed) {
    /* No answer: the empty message of the output type. */
    ProtobufCMessage *empty = ember_connect_alloc(c, c->method->output->sizeof_message);
    c->method->output->message_init(empty);
    m = empty;
  }
  if (c->json) {
    ember_connect_json_encode(m, body);
  } else if (c->packed) {
    ember_buf_append(body, c->packed, c->packed_len);
  } else {
    size_t n = protobuf_c_message_get_packed_size(m);
    ember_buf_reserve(body, n + 1);
    body->len += protobuf_c_message_pack(m, (uint8_t *)body->data + body->len);
    body->data[body->len] = '\0';
  }
}

void ember_connect_end(ember_connect_call_t *c, int rc, const ember_err_t *err,
                       ember_connect_response_t *resp) {
  memset(resp, 0, sizeof *resp);
  if (rc) {
    const char *msg = err && err->msg[0] ? err->msg : ember_err_name(rc);
    fail(resp, ember_connect_code_for(rc), msg);
  } else {
    ember_buf_t body = EMBER_BUF_INIT;
    encode_answer(c, &body);
    resp->status = 200;
    resp->code = EMBER_CONNECT_OK;
    resp->content_type = c->json ? MEDIA_JSON : MEDIA_PROTO;
    if (c->gzip_ok && body.len >= EMBER_CONNECT_COMPRESS_MIN &&
        ember_gzip_append(&resp->body, body.data, body.len, 6) == 0) {
      resp->content_encoding = "gzip";
      ember_buf_free(&body);
    } else {
      ember_buf_free(&resp->body);
      resp->body = body;
    }
  }
  ember_connect_arena_free(c->arena);
  free(c);
}

int ember_connect_unary(const ember_connect_service_t *svc,
                        const ember_connect_request_t *rq, void *ctx,
                        ember_connect_response_t *resp) {
  ember_connect_call_t *c;
  int code = ember_connect_begin(svc, rq, &c, resp);
  if (code) return code;
  /* The client's own timeout, when shorter than the server's. */
  uint64_t before = ember_deadline_get();
  if (c->timeout_ns) {
    uint64_t mine = ember_mono_ns() + c->timeout_ns;
    if (!before || mine < before) ember_deadline_set(mine);
  }
  ember_err_t err;
  ember_err_clear(&err);
  int rc = c->method->fn(ctx, c, c->input, &err);
  ember_deadline_set(before);
  if (rc == EMBER_CONNECT_PENDING)
    rc = ember_err_set(&err, EMBER_EIO, "%s cannot answer later here", c->method->name);
  ember_connect_end(c, rc, &err, resp);
  return resp->code;
}
