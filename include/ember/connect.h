/*
 * connect.h - unary calls of the Connect protocol: `POST /<package>.<Service>/
 * <Method>` whose body is one protobuf message, as `application/proto` or in
 * protobuf's canonical JSON mapping (`application/json`), optionally gzipped;
 * the answer is one message in the same encoding, or a Connect error
 * (`{"code": "invalid_argument", "message": "..."}`) with the HTTP status of
 * its code.
 *
 * This module knows messages only through protobuf-c's descriptors, so one
 * layer serves every schema of src/proto/: a service is a table of methods,
 * each with its request and response descriptors and a function. It never
 * sees the network: the HTTP layer hands it the body and the headers that
 * matter and copies the response back.
 *
 * A call's memory (the decoded request, the reply being built) comes from
 * one arena and goes with the call, so a method builds its reply with
 * ember_connect_alloc and never frees anything.
 *
 * A call runs in three steps, so that a method may also finish later on
 * another thread (a push answered once it is on disk):
 *
 *   ember_connect_begin  - finds the method, checks the headers, decodes
 *                          the body (or fills the error response)
 *   ember_connect_reply* - the method hands over its answer
 *   ember_connect_end    - encodes the answer (or the error the method
 *                          returned) into the response and frees the call
 *
 * ember_connect_unary does all three for a method that answers at once.
 */
#ifndef EMBER_CONNECT_H
#define EMBER_CONNECT_H

#include <protobuf-c/protobuf-c.h>

#include "ember/common.h"

/* ---- Error codes ------------------------------------------------------- */

/* Connect's error codes, numbered as gRPC numbers them. */
typedef enum {
  EMBER_CONNECT_OK = 0,
  EMBER_CONNECT_CANCELED = 1,
  EMBER_CONNECT_UNKNOWN = 2,
  EMBER_CONNECT_INVALID_ARGUMENT = 3,
  EMBER_CONNECT_DEADLINE_EXCEEDED = 4,
  EMBER_CONNECT_NOT_FOUND = 5,
  EMBER_CONNECT_ALREADY_EXISTS = 6,
  EMBER_CONNECT_PERMISSION_DENIED = 7,
  EMBER_CONNECT_RESOURCE_EXHAUSTED = 8,
  EMBER_CONNECT_FAILED_PRECONDITION = 9,
  EMBER_CONNECT_ABORTED = 10,
  EMBER_CONNECT_OUT_OF_RANGE = 11,
  EMBER_CONNECT_UNIMPLEMENTED = 12,
  EMBER_CONNECT_INTERNAL = 13,
  EMBER_CONNECT_UNAVAILABLE = 14,
  EMBER_CONNECT_DATA_LOSS = 15,
  EMBER_CONNECT_UNAUTHENTICATED = 16,
} ember_connect_code_t;

/* "invalid_argument", as the error JSON writes it ("ok" for 0). */
const char *ember_connect_code_name(ember_connect_code_t code);
/* The HTTP status the protocol gives a code: 400 for invalid_argument, 404
 * not_found and unimplemented... (200 for 0). */
int ember_connect_http_status(ember_connect_code_t code);
/* The code for an Ember error code (common.h): EMBER_EINVAL is
 * invalid_argument, EMBER_ETIMEOUT deadline_exceeded, EMBER_EBUSY
 * resource_exhausted, EMBER_EUNIMPL unimplemented, ... */
ember_connect_code_t ember_connect_code_for(int rc);
/* Appends {"code":"...","message":"..."}. */
void ember_connect_error_json(ember_buf_t *out, ember_connect_code_t code,
                              const char *msg);

/* ---- Arena ------------------------------------------------------------- */

/* Memory that is freed all at once. limit bounds what it hands out (0: no
 * bound), so that a hostile message cannot decode into more than a known
 * multiple of its size. */
typedef struct ember_connect_arena ember_connect_arena_t;

ember_connect_arena_t *ember_connect_arena_new(size_t limit);
/* n zeroed bytes aligned for any type; NULL past the limit. */
void *ember_connect_arena_alloc(ember_connect_arena_t *a, size_t n);
/* Bytes handed out so far. */
size_t ember_connect_arena_used(const ember_connect_arena_t *a);
/* A protobuf-c allocator over the arena (its free does nothing). */
ProtobufCAllocator ember_connect_arena_allocator(ember_connect_arena_t *a);
void ember_connect_arena_free(ember_connect_arena_t *a); /* NULL is accepted */

/* ---- Canonical JSON ---------------------------------------------------- */

/* The deepest nesting of messages the JSON decoder follows. */
#define EMBER_CONNECT_JSON_DEPTH 32

/* Decodes the JSON object s[0..n) into a new message of type d, allocated
 * in a (so it is freed with the arena). Fields are found by their JSON name
 * (lowerCamelCase) or their name in the schema; unknown fields are skipped,
 * as Connect servers skip them; anything else that is not the canonical
 * mapping (a string where a number belongs, an enum name the schema does
 * not have, a field given twice, bad base64, a number out of its type's
 * range) is EMBER_EINVAL with a message naming the field. 64-bit integers
 * may be numbers or strings, enums names or numbers, bytes standard or
 * URL-safe base64 with or without padding. *out written only on success;
 * EMBER_ETOOBIG when the arena's limit is reached, or would be by what the
 * parse itself allocates (counted from the number of values before
 * parsing). */
int ember_connect_json_decode(const ProtobufCMessageDescriptor *d, const char *s,
                              size_t n, ember_connect_arena_t *a, ProtobufCMessage **out,
                              ember_err_t *err);

/* Appends m in the canonical JSON mapping: lowerCamelCase names, fields at
 * their default value left out (a oneof member is written when set),
 * 64-bit integers as strings, enums by name, bytes as base64. */
void ember_connect_json_encode(const ProtobufCMessage *m, ember_buf_t *out);

/* The JSON name of a field: "profile_typeID" is "profileTypeID". out holds
 * at least strlen(name) + 1 bytes. */
void ember_connect_json_name(const char *name, char *out);

/* ---- Services ---------------------------------------------------------- */

typedef struct ember_connect_call ember_connect_call_t;

/* A method's implementation: reads `in` (the decoded request), and either
 * hands its answer to ember_connect_reply / ember_connect_reply_packed and
 * returns 0, or returns an Ember error code with err set (turned into the
 * Connect error of ember_connect_code_for). ctx is the caller's. A method
 * that will answer later returns EMBER_CONNECT_PENDING and calls
 * ember_connect_end itself once it has. */
typedef int (*ember_connect_fn)(void *ctx, ember_connect_call_t *call,
                                const ProtobufCMessage *in, ember_err_t *err);
#define EMBER_CONNECT_PENDING 1

typedef struct {
  const char *name; /* "ProfileTypes" */
  const ProtobufCMessageDescriptor *input;
  const ProtobufCMessageDescriptor *output;
  ember_connect_fn fn;
} ember_connect_method_t;

typedef struct {
  const char *name; /* "querier.v1.QuerierService" */
  const ember_connect_method_t *methods;
  size_t n;
} ember_connect_service_t;

/* What a call is made of, all borrowed; headers NULL when absent. */
typedef struct {
  const char *method;           /* the last part of the path: "ProfileTypes" */
  const char *content_type;     /* application/proto or application/json */
  const char *content_encoding; /* identity or gzip */
  const char *accept_encoding;  /* gzip when the answer may be compressed */
  const char *protocol_version; /* Connect-Protocol-Version: "1" when sent */
  const char *timeout_ms;       /* Connect-Timeout-Ms */
  const uint8_t *body;
  size_t len;
  size_t max_message; /* largest request once decompressed; 0: 64 KiB */
  /* Bytes in flight across the server (borrowed; NULL: none counted): the
   * memory the decoded request takes is taken from it as it is decoded and
   * given back when the call ends, and a request it has no room for is
   * refused with resource_exhausted. For routes whose messages are large
   * (a push's profiles). */
  ember_budget_t *budget;
} ember_connect_request_t;

/* The HTTP response of a call. Owns body. */
typedef struct {
  int status;
  const char *content_type;     /* static */
  const char *content_encoding; /* NULL or "gzip" */
  const char *accept_post;      /* for a 415: the media types accepted */
  const char *accept_encoding;  /* when an encoding was refused: those accepted */
  ember_buf_t body;
  ember_connect_code_t code; /* EMBER_CONNECT_OK on success */
} ember_connect_response_t;

void ember_connect_response_free(ember_connect_response_t *r); /* NULL is accepted */

/* The request bytes a call may decode to unless told otherwise. */
#define EMBER_CONNECT_DEFAULT_MAX_MESSAGE ((size_t)64 << 10)
/* Answers at least this long go out gzipped when the client accepts it. */
#define EMBER_CONNECT_COMPRESS_MIN 1024

/* Starts a call of svc: finds the method (unimplemented, 404, when svc has
 * none of that name), checks the media type (415 with Accept-Post),
 * Connect-Protocol-Version and Connect-Timeout-Ms, undoes the
 * Content-Encoding (unimplemented for one other than gzip) and decodes the
 * message (resource_exhausted past max_message, or when decoding would
 * allocate more than 64 times a small message or 4 times plus 16 MiB a
 * large one). Returns 0 with *call (ended by ember_connect_end), or the Connect
 * code of the refusal with *resp filled and *call NULL. */
int ember_connect_begin(const ember_connect_service_t *svc,
                        const ember_connect_request_t *rq, ember_connect_call_t **call,
                        ember_connect_response_t *resp);

const ember_connect_method_t *ember_connect_call_method(const ember_connect_call_t *c);
const ProtobufCMessage *ember_connect_call_input(const ember_connect_call_t *c);
/* Whether the call speaks JSON (else protobuf). */
bool ember_connect_call_json(const ember_connect_call_t *c);
/* Connect-Timeout-Ms in nanoseconds, 0 when the client sent none. */
uint64_t ember_connect_call_timeout_ns(const ember_connect_call_t *c);

/* n zeroed bytes that live as long as the call (they never fail: past the
 * arena's bound, which replies do not have, allocation aborts like
 * ember_malloc). */
void *ember_connect_alloc(ember_connect_call_t *c, size_t n);
/* A NUL-terminated copy of s[0..n) in the call's memory. */
char *ember_connect_strndup(ember_connect_call_t *c, const char *s, size_t n);

/* Hands over the answer: a message of the method's output type (borrowed
 * until ember_connect_end), or that message already serialised as
 * protobuf (copied; decoded again when the call speaks JSON, EMBER_EIO
 * when it does not decode). */
void ember_connect_reply(ember_connect_call_t *c, const ProtobufCMessage *msg);
int ember_connect_reply_packed(ember_connect_call_t *c, const uint8_t *p, size_t n,
                               ember_err_t *err);

/* Ends a call: rc 0 encodes the answer given (an empty message when none
 * was), else the Connect error for rc with err's message. Fills *resp and
 * frees c. */
void ember_connect_end(ember_connect_call_t *c, int rc, const ember_err_t *err,
                       ember_connect_response_t *resp);

/* begin, the method with ctx, end; the calling thread's deadline is
 * lowered to Connect-Timeout-Ms for the method's run, and put back after.
 * Fills *resp (caller frees) and returns its code. */
int ember_connect_unary(const ember_connect_service_t *svc,
                        const ember_connect_request_t *rq, void *ctx,
                        ember_connect_response_t *resp);

/* ---- Compression ------------------------------------------------------- */

/* Whether an Accept-Encoding header accepts gzip (a q of 0 refuses it). */
bool ember_connect_accepts_gzip(const char *accept_encoding);
/* Appends the gunzipped in[0..n) to out, never more than max bytes:
 * EMBER_ETOOBIG past it, EMBER_EPARSE for a stream that is not gzip or is
 * cut short. */
int ember_connect_gunzip(const uint8_t *in, size_t n, size_t max, ember_buf_t *out,
                         ember_err_t *err);

#endif
