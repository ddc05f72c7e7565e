/* Tests for src/connect/connect.c (with arena.c, gzip.c and wire.c): one
 * unary call of a small service through both encodings, the refusals
 * before a method runs, errors and their statuses, compression and the
 * client's timeout. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ember/connect.h"
#include "proto/types.pb-c.h"

/* ---- A service to call ------------------------------------------------- */

/* Echo: the matchers of a LabelValuesRequest come back as names, "fail"
 * as the name fails with EMBER_EINVAL, "late" answers with the deadline it
 * ran under, "packed" answers through ember_connect_reply_packed, "none"
 * answers nothing. */
static int echo(void *ctx, ember_connect_call_t *call, const ProtobufCMessage *in,
                ember_err_t *err) {
  const Types__V1__LabelValuesRequest *rq = (const void *)in;
  if (!strcmp(rq->name, "fail")) return ember_err_set(err, EMBER_EINVAL, "bad name 'fail'");
  if (!strcmp(rq->name, "none")) return EMBER_OK;
  Types__V1__LabelValuesResponse *out = ember_connect_alloc(call, sizeof *out);
  types__v1__label_values_response__init(out);
  out->names = ember_connect_alloc(call, (rq->n_matchers + 1) * sizeof *out->names);
  for (size_t i = 0; i < rq->n_matchers; i++)
    out->names[out->n_names++] =
        ember_connect_strndup(call, rq->matchers[i], strlen(rq->matchers[i]));
  if (!strcmp(rq->name, "late")) {
    char buf[32];
    snprintf(buf, sizeof buf, "%d", ember_deadline_get() != 0);
    out->names[out->n_names++] = ember_connect_strndup(call, buf, strlen(buf));
  }
  if (!strcmp(rq->name, "packed")) {
    size_t n = protobuf_c_message_get_packed_size(&out->base);
    uint8_t *p = ember_connect_alloc(call, n + 1);
    protobuf_c_message_pack(&out->base, p);
    return ember_connect_reply_packed(call, p, n, err);
  }
  ember_connect_reply(call, &out->base);
  return EMBER_OK;
}

static const ember_connect_method_t methods[] = {
    {"Echo", &types__v1__label_values_request__descriptor,
     &types__v1__label_values_response__descriptor, echo},
};
static const ember_connect_service_t service = {"test.v1.EchoService", methods, 1};

/* ---- Helpers ----------------------------------------------------------- */

static ember_connect_request_t json_call(const char *body) {
  ember_connect_request_t rq = {.method = "Echo",
                                .content_type = "application/json",
                                .body = (const uint8_t *)body,
                                .len = strlen(body)};
  return rq;
}

/* The request's body as protobuf (caller frees). */
static uint8_t *pack_request(const char *name, const char *const *matchers, size_t n,
                             size_t *len) {
  Types__V1__LabelValuesRequest rq = TYPES__V1__LABEL_VALUES_REQUEST__INIT;
  rq.name = (char *)name;
  rq.matchers = (char **)matchers;
  rq.n_matchers = n;
  *len = types__v1__label_values_request__get_packed_size(&rq);
  uint8_t *p = malloc(*len + 1);
  types__v1__label_values_request__pack(&rq, p);
  return p;
}

static void expect_error(const ember_connect_response_t *r, int status, const char *code,
                         const char *msg_part) {
  assert_int_equal(r->status, status);
  assert_string_equal(r->content_type, "application/json");
  char want[64];
  snprintf(want, sizeof want, "{\"code\":\"%s\",\"message\":", code);
  if (strncmp(r->body.data, want, strlen(want)))
    fail_msg("expected %s, got %s", want, r->body.data);
  if (msg_part && !strstr(r->body.data, msg_part))
    fail_msg("'%s' not in %s", msg_part, r->body.data);
}

/* ---- Tests ------------------------------------------------------------- */

static void test_connect_codes_have_the_protocols_statuses(void **state) {
  assert_string_equal(ember_connect_code_name(EMBER_CONNECT_INVALID_ARGUMENT),
                      "invalid_argument");
  assert_int_equal(ember_connect_http_status(EMBER_CONNECT_INVALID_ARGUMENT), 400);
  assert_int_equal(ember_connect_http_status(EMBER_CONNECT_UNAUTHENTICATED), 401);
  assert_int_equal(ember_connect_http_status(EMBER_CONNECT_PERMISSION_DENIED), 403);
  assert_int_equal(ember_connect_http_status(EMBER_CONNECT_NOT_FOUND), 404);
  assert_int_equal(ember_connect_http_status(EMBER_CONNECT_RESOURCE_EXHAUSTED), 429);
  assert_int_equal(ember_connect_http_status(EMBER_CONNECT_UNIMPLEMENTED), 501);
  assert_int_equal(ember_connect_http_status(EMBER_CONNECT_UNAVAILABLE), 503);
  assert_int_equal(ember_connect_http_status(EMBER_CONNECT_DEADLINE_EXCEEDED), 504);
  assert_int_equal(ember_connect_http_status(EMBER_CONNECT_CANCELED), 499);
  assert_int_equal(ember_connect_code_for(EMBER_EINVAL), EMBER_CONNECT_INVALID_ARGUMENT);
  assert_int_equal(ember_connect_code_for(EMBER_EPARSE), EMBER_CONNECT_INVALID_ARGUMENT);
  assert_int_equal(ember_connect_code_for(EMBER_ETIMEOUT), EMBER_CONNECT_DEADLINE_EXCEEDED);
  assert_int_equal(ember_connect_code_for(EMBER_EBUSY), EMBER_CONNECT_RESOURCE_EXHAUSTED);
  assert_int_equal(ember_connect_code_for(EMBER_EUNIMPL), EMBER_CONNECT_UNIMPLEMENTED);
  assert_int_equal(ember_connect_code_for(EMBER_EAUTH), EMBER_CONNECT_UNAUTHENTICATED);
  assert_int_equal(ember_connect_code_for(EMBER_EIO), EMBER_CONNECT_INTERNAL);
}

static void test_connect_answers_json_with_json(void **state) {
  ember_connect_request_t rq = json_call("{\"name\":\"x\",\"matchers\":[\"{a=\\\"b\\\"}\"]}");
  ember_connect_response_t r;
  assert_int_equal(ember_connect_unary(&service, &rq, NULL, &r), EMBER_CONNECT_OK);
  assert_int_equal(r.status, 200);
  assert_string_equal(r.content_type, "application/json");
  assert_null(r.content_encoding);
  assert_string_equal(r.body.data, "{\"names\":[\"{a=\\\"b\\\"}\"]}");
  ember_connect_response_free(&r);
}

static void test_connect_answers_proto_with_proto(void **state) {
  const char *m[] = {"one", "two"};
  size_t len;
  uint8_t *body = pack_request("x", m, 2, &len);
  ember_connect_request_t rq = {.method = "Echo",
                                .content_type = "application/proto",
                                .protocol_version = "1",
                                .body = body,
                                .len = len};
  ember_connect_response_t r;
  assert_int_equal(ember_connect_unary(&service, &rq, NULL, &r), EMBER_CONNECT_OK);
  assert_int_equal(r.status, 200);
  assert_string_equal(r.content_type, "application/proto");
  Types__V1__LabelValuesResponse *out = types__v1__label_values_response__unpack(
      NULL, r.body.len, (const uint8_t *)r.body.data);
  assert_non_null(out);
  assert_int_equal(out->n_names, 2);
  assert_string_equal(out->names[1], "two");
  types__v1__label_values_response__free_unpacked(out, NULL);
  ember_connect_response_free(&r);
  free(body);
}

static void test_connect_packed_answers_reach_both_encodings(void **state) {
  ember_connect_request_t rq = json_call("{\"name\":\"packed\",\"matchers\":[\"m\"]}");
  ember_connect_response_t r;
  assert_int_equal(ember_connect_unary(&service, &rq, NULL, &r), EMBER_CONNECT_OK);
  assert_string_equal(r.body.data, "{\"names\":[\"m\"]}");
  ember_connect_response_free(&r);
  const char *m[] = {"m"};
  size_t len;
  uint8_t *body = pack_request("packed", m, 1, &len);
  rq.content_type = "application/proto; charset=utf-8";
  rq.body = body;
  rq.len = len;
  assert_int_equal(ember_connect_unary(&service, &rq, NULL, &r), EMBER_CONNECT_OK);
  assert_int_equal(r.body.len, 3);
  assert_memory_equal(r.body.data, "\x0a\x01m", 3);
  ember_connect_response_free(&r);
  free(body);
}

static void test_connect_no_answer_is_the_empty_message(void **state) {
  ember_connect_request_t rq = json_call("{\"name\":\"none\"}");
  ember_connect_response_t r;
  assert_int_equal(ember_connect_unary(&service, &rq, NULL, &r), EMBER_CONNECT_OK);
  assert_string_equal(r.body.data, "{}");
  ember_connect_response_free(&r);
}

static void test_connect_method_errors_become_connect_errors(void **state) {
  ember_connect_request_t rq = json_call("{\"name\":\"fail\"}");
  ember_connect_response_t r;
  assert_int_equal(ember_connect_unary(&service, &rq, NULL, &r),
                   EMBER_CONNECT_INVALID_ARGUMENT);
  expect_error(&r, 400, "invalid_argument", "bad name 'fail'");
  ember_connect_response_free(&r);
}

static void test_connect_unknown_method_is_unimplemented_404(void **state) {
  ember_connect_request_t rq = json_call("{}");
  rq.method = "Nope";
  ember_connect_response_t r;
  assert_int_equal(ember_connect_unary(&service, &rq, NULL, &r), EMBER_CONNECT_UNIMPLEMENTED);
  expect_error(&r, 404, "unimplemented", "it has Echo");
  ember_connect_response_free(&r);
}

static void test_connect_other_media_types_are_415(void **state) {
  const char *types[] = {"text/plain", "application/grpc", NULL, "application/protobuf"};
  for (size_t i = 0; i < sizeof types / sizeof *types; i++) {
    ember_connect_request_t rq = json_call("{}");
    rq.content_type = types[i];
    ember_connect_response_t r;
    assert_int_not_equal(ember_connect_unary(&service, &rq, NULL, &r), 0);
    expect_error(&r, 415, "invalid_argument", "application/proto or application/json");
    assert_string_equal(r.accept_post, "application/proto, application/json");
    ember_connect_response_free(&r);
  }
}

static void test_connect_checks_version_and_timeout_headers(void **state) {
  ember_connect_request_t rq = json_call("{}");
  ember_connect_response_t r;
  rq.protocol_version = "2";
  ember_connect_unary(&service, &rq, NULL, &r);
  expect_error(&r, 400, "invalid_argument", "Connect-Protocol-Version");
  ember_connect_response_free(&r);
  const char *bad[] = {"0", "-5", "12345678901", "1.5", ""};
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
    rq = json_call("{}");
    rq.timeout_ms = bad[i];
    ember_connect_unary(&service, &rq, NULL, &r);
    expect_error(&r, 400, "invalid_argument", "Connect-Timeout-Ms");
    ember_connect_response_free(&r);
  }
}

static void test_connect_timeout_lowers_the_deadline_for_the_method(void **state) {
  ember_deadline_set(0);
  ember_connect_request_t rq = json_call("{\"name\":\"late\"}");
  ember_connect_response_t r;
  ember_connect_unary(&service, &rq, NULL, &r);
  assert_string_equal(r.body.data, "{\"names\":[\"0\"]}");
  ember_connect_response_free(&r);
  rq.timeout_ms = "5000";
  ember_connect_unary(&service, &rq, NULL, &r);
  assert_string_equal(r.body.data, "{\"names\":[\"1\"]}");
  ember_connect_response_free(&r);
  assert_int_equal(ember_deadline_get(), 0); /* put back */
}

static void test_connect_reads_gzip_and_refuses_other_encodings(void **state) {
  const char *doc = "{\"name\":\"x\",\"matchers\":[\"zipped\"]}";
  ember_buf_t gz = EMBER_BUF_INIT;
  assert_int_equal(ember_gzip_append(&gz, doc, strlen(doc), 6), 0);
  ember_connect_request_t rq = json_call("");
  rq.body = (const uint8_t *)gz.data;
  rq.len = gz.len;
  rq.content_encoding = "gzip";
  ember_connect_response_t r;
  assert_int_equal(ember_connect_unary(&service, &rq, NULL, &r), EMBER_CONNECT_OK);
  assert_string_equal(r.body.data, "{\"names\":[\"zipped\"]}");
  ember_connect_response_free(&r);
  rq.len = gz.len - 9; /* cut short */
  ember_connect_unary(&service, &rq, NULL, &r);
  expect_error(&r, 400, "invalid_argument", "gzip");
  ember_connect_response_free(&r);
  rq.len = gz.len;
  rq.content_encoding = "br";
  ember_connect_unary(&service, &rq, NULL, &r);
  expect_error(&r, 501, "unimplemented", "Content-Encoding 'br'");
  assert_string_equal(r.accept_encoding, "gzip");
  ember_connect_response_free(&r);
  ember_buf_free(&gz);
}

static void test_connect_bounds_the_message_also_inflated(void **state) {
  /* A megabyte of spaces gzips to about a kilobyte. */
  size_t n = 1 << 20;
  char *big = malloc(n + 3);
  memset(big, ' ', n + 2);
  big[0] = '{';
  big[n + 1] = '}';
  big[n + 2] = '\0';
  ember_buf_t gz = EMBER_BUF_INIT;
  assert_int_equal(ember_gzip_append(&gz, big, n + 2, 6), 0);
  assert_true(gz.len < 4096);
  ember_connect_request_t rq = json_call("");
  rq.body = (const uint8_t *)gz.data;
  rq.len = gz.len;
  rq.content_encoding = "gzip";
  ember_connect_response_t r;
  ember_connect_unary(&service, &rq, NULL, &r);
  expect_error(&r, 429, "resource_exhausted", "inflates past 65536 bytes");
  ember_connect_response_free(&r);
  rq = json_call(big);
  ember_connect_unary(&service, &rq, NULL, &r);
  expect_error(&r, 429, "resource_exhausted", "over the 65536");
  ember_connect_response_free(&r);
  rq.max_message = 2 << 20;
  assert_int_equal(ember_connect_unary(&service, &rq, NULL, &r), EMBER_CONNECT_OK);
  ember_connect_response_free(&r);
  ember_buf_free(&gz);
  free(big);
}

static void test_connect_bounds_the_memory_of_a_json_parse(void **state) {
  /* 8 MiB of tiny values would take jansson hundreds of megabytes. */
  size_t n = 8 << 20;
  char *doc = malloc(n + 32);
  size_t k = (size_t)sprintf(doc, "{\"name\":\"x\",\"other\":[");
  while (k < n)
    k += (size_t)sprintf(doc + k, "0,");
  strcpy(doc + k, "0]}");
  ember_connect_request_t rq = json_call(doc);
  rq.max_message = 32 << 20;
  ember_connect_response_t r;
  assert_int_equal(ember_connect_unary(&service, &rq, NULL, &r),
                   EMBER_CONNECT_RESOURCE_EXHAUSTED);
  expect_error(&r, 429, "resource_exhausted", "application/proto");
  ember_connect_response_free(&r);
  /* Eight megabytes in one string cost nothing of the kind. */
  k = (size_t)sprintf(doc, "{\"name\":\"");
  memset(doc + k, 'a', n - k);
  strcpy(doc + n, "\"}");
  rq = json_call(doc);
  rq.max_message = 32 << 20;
  assert_int_equal(ember_connect_unary(&service, &rq, NULL, &r), EMBER_CONNECT_OK);
  ember_connect_response_free(&r);
  free(doc);
}

static void test_connect_gzips_large_answers_when_accepted(void **state) {
  ember_buf_t doc = EMBER_BUF_INIT;
  ember_buf_puts(&doc, "{\"name\":\"x\",\"matchers\":[");
  for (int i = 0; i < 200; i++)
    ember_buf_printf(&doc, "%s\"{region=\\\"eu-north-%d\\\"}\"", i ? "," : "", i);
  ember_buf_puts(&doc, "]}");
  ember_connect_request_t rq = json_call(doc.data);
  rq.accept_encoding = "deflate, gzip;q=0.5";
  ember_connect_response_t r;
  assert_int_equal(ember_connect_unary(&service, &rq, NULL, &r), EMBER_CONNECT_OK);
  assert_string_equal(r.content_encoding, "gzip");
  ember_buf_t plain = EMBER_BUF_INIT;
  assert_int_equal(ember_connect_gunzip((const uint8_t *)r.body.data, r.body.len, 1 << 20,
                                        &plain, NULL),
                   0);
  assert_non_null(strstr(plain.data, "eu-north-199"));
  ember_buf_free(&plain);
  ember_connect_response_free(&r);
  rq.accept_encoding = "gzip;q=0, identity";
  ember_connect_unary(&service, &rq, NULL, &r);
  assert_null(r.content_encoding);
  ember_connect_response_free(&r);
  ember_buf_free(&doc);
}

static void test_connect_accept_encoding_weights(void **state) {
  assert_true(ember_connect_accepts_gzip("gzip"));
  assert_true(ember_connect_accepts_gzip("br, GZIP"));
  assert_true(ember_connect_accepts_gzip("*"));
  assert_true(ember_connect_accepts_gzip("gzip;q=0.1"));
  assert_false(ember_connect_accepts_gzip(NULL));
  assert_false(ember_connect_accepts_gzip("identity"));
  assert_false(ember_connect_accepts_gzip("gzip;q=0"));
  assert_false(ember_connect_accepts_gzip("gzip; q=0.000"));
  assert_false(ember_connect_accepts_gzip("x-gzip"));
}

static void test_connect_refuses_broken_protobuf(void **state) {
  static const struct {
    const char *bytes;
    size_t len;
    const char *why;
  } cases[] = {
      {"\x0a\x05" "ab", 4, "cut short"},                      /* length past the end */
      {"\x0a\x02\xc3\x28", 4, "not UTF-8"},                   /* invalid UTF-8 */
      {"\x12\x03" "a\x00" "b", 5, "without NUL"},             /* NUL in a string */
      {"\x0b", 1, "malformed"},                               /* a group */
      {"\x08", 1, "cut short"},                               /* a varint with no value */
      {"\x0a\x02\xed\xa0", 4, "not UTF-8"},                   /* a surrogate */
  };
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    ember_connect_request_t rq = {.method = "Echo",
                                  .content_type = "application/proto",
                                  .body = (const uint8_t *)cases[i].bytes,
                                  .len = cases[i].len};
    ember_connect_response_t r;
    assert_int_equal(ember_connect_unary(&service, &rq, NULL, &r),
                     EMBER_CONNECT_INVALID_ARGUMENT);
    expect_error(&r, 400, "invalid_argument", cases[i].why);
    ember_connect_response_free(&r);
  }
}

static void test_connect_call_steps_can_end_later(void **state) {
  ember_connect_request_t rq = json_call("{\"name\":\"later\",\"matchers\":[\"a\"]}");
  ember_connect_call_t *call;
  ember_connect_response_t r;
  assert_int_equal(ember_connect_begin(&service, &rq, &call, &r), 0);
  assert_true(ember_connect_call_json(call));
  assert_ptr_equal(ember_connect_call_method(call), &methods[0]);
  const Types__V1__LabelValuesRequest *in = (const void *)ember_connect_call_input(call);
  assert_string_equal(in->name, "later");
  ember_err_t err;
  ember_err_set(&err, EMBER_EBUSY, "the queue is full");
  ember_connect_end(call, EMBER_EBUSY, &err, &r);
  expect_error(&r, 429, "resource_exhausted", "the queue is full");
  ember_connect_response_free(&r);
}

static void test_connect_arena_bounds_and_aligns(void **state) {
  ember_connect_arena_t *a = ember_connect_arena_new(100);
  void *p = ember_connect_arena_alloc(a, 10);
  assert_non_null(p);
  assert_int_equal((uintptr_t)p % _Alignof(max_align_t), 0);
  void *q = ember_connect_arena_alloc(a, 10);
  assert_int_equal((uintptr_t)q % _Alignof(max_align_t), 0);
  assert_null(ember_connect_arena_alloc(a, 100));
  assert_true(ember_connect_arena_used(a) <= 100);
  ember_connect_arena_free(a);
  a = ember_connect_arena_new(0);
  for (int i = 0; i < 100; i++)
    memset(ember_connect_arena_alloc(a, 5000), 1, 5000);
  memset(ember_connect_arena_alloc(a, 1 << 20), 1, 1 << 20);
  ember_connect_arena_free(a);
  ember_connect_arena_free(NULL);
}

static void test_connect_takes_decoded_requests_from_the_budget(void **state) {
  const char *m[64];
  for (size_t i = 0; i < 64; i++) m[i] = "a matcher long enough to be counted";
  size_t len;
  uint8_t *p = pack_request("x", m, 64, &len);
  ember_connect_request_t rq = {.method = "Echo", .content_type = "application/proto",
                                .body = p, .len = len};
  /* A budget with no room: refused before the method runs. */
  ember_budget_t none = {0, 16};
  rq.budget = &none;
  ember_connect_response_t resp;
  assert_int_equal(ember_connect_unary(&service, &rq, NULL, &resp),
                   EMBER_CONNECT_RESOURCE_EXHAUSTED);
  expect_error(&resp, 429, "resource_exhausted", "too many bytes in flight");
  ember_connect_response_free(&resp);
  assert_int_equal(ember_budget_used(&none), 0);
  /* With room, what was taken is given back when the call ends. */
  ember_budget_t room = {0, (size_t)1 << 20};
  rq.budget = &room;
  ember_connect_call_t *call;
  assert_int_equal(ember_connect_begin(&service, &rq, &call, &resp), 0);
  assert_true(ember_budget_used(&room) > 0);
  ember_connect_end(call, EMBER_OK, NULL, &resp);
  ember_connect_response_free(&resp);
  assert_int_equal(ember_budget_used(&room), 0);
  free(p);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_connect_codes_have_the_protocols_statuses),
      cmocka_unit_test(test_connect_answers_json_with_json),
      cmocka_unit_test(test_connect_answers_proto_with_proto),
      cmocka_unit_test(test_connect_packed_answers_reach_both_encodings),
      cmocka_unit_test(test_connect_no_answer_is_the_empty_message),
      cmocka_unit_test(test_connect_method_errors_become_connect_errors),
      cmocka_unit_test(test_connect_unknown_method_is_unimplemented_404),
      cmocka_unit_test(test_connect_other_media_types_are_415),
      cmocka_unit_test(test_connect_checks_version_and_timeout_headers),
      cmocka_unit_test(test_connect_timeout_lowers_the_deadline_for_the_method),
      cmocka_unit_test(test_connect_reads_gzip_and_refuses_other_encodings),
      cmocka_unit_test(test_connect_bounds_the_message_also_inflated),
      cmocka_unit_test(test_connect_bounds_the_memory_of_a_json_parse),
      cmocka_unit_test(test_connect_gzips_large_answers_when_accepted),
      cmocka_unit_test(test_connect_accept_encoding_weights),
      cmocka_unit_test(test_connect_refuses_broken_protobuf),
      cmocka_unit_test(test_connect_call_steps_can_end_later),
      cmocka_unit_test(test_connect_arena_bounds_and_aligns),
      cmocka_unit_test(test_connect_takes_decoded_requests_from_the_budget),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
