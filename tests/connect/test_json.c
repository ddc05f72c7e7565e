/* Tests for src/connect/json.c: protobuf's canonical JSON mapping of the
 * querier and types schemas, both ways, and what it refuses. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ember/connect.h"
#include "pprof/profile.pb-c.h"
#include "proto/querier.pb-c.h"

/* ---- Helpers ----------------------------------------------------------- */

static ember_connect_arena_t *arena;

static int setup(void **state) {
  arena = ember_connect_arena_new(0);
  return 0;
}

static int teardown(void **state) {
  ember_connect_arena_free(arena);
  return 0;
}

/* Decodes json as d, which must succeed. */
static ProtobufCMessage *decode(const ProtobufCMessageDescriptor *d, const char *json) {
  ember_err_t err;
  ember_err_clear(&err);
  ProtobufCMessage *m = NULL;
  int rc = ember_connect_json_decode(d, json, strlen(json), arena, &m, &err);
  if (rc) fail_msg("decoding %s failed: %s", json, err.msg);
  return m;
}

/* Decodes json as d, which must fail with EMBER_EINVAL; the message. */
static const char *refused(const ProtobufCMessageDescriptor *d, const char *json) {
  static ember_err_t err;
  ember_err_clear(&err);
  ProtobufCMessage *m = NULL;
  int rc = ember_connect_json_decode(d, json, strlen(json), arena, &m, &err);
  if (rc != EMBER_EINVAL) fail_msg("decoding %s gave %d, not EINVAL", json, rc);
  assert_null(m);
  return err.msg;
}

/* m encoded (static). */
static const char *encode(const ProtobufCMessage *m) {
  static char out[4096];
  ember_buf_t b = EMBER_BUF_INIT;
  ember_connect_json_encode(m, &b);
  snprintf(out, sizeof out, "%s", b.data);
  ember_buf_free(&b);
  return out;
}

#define SERIES_REQ &querier__v1__select_series_request__descriptor
#define STACKS_REQ &querier__v1__select_merge_stacktraces_request__descriptor

/* ---- Tests ------------------------------------------------------------- */

static void test_json_names_are_lower_camel_case(void **state) {
  char out[64];
  ember_connect_json_name("profile_typeID", out);
  assert_string_equal(out, "profileTypeID");
  ember_connect_json_name("max_self", out);
  assert_string_equal(out, "maxSelf");
  ember_connect_json_name("leftTicks", out);
  assert_string_equal(out, "leftTicks");
  ember_connect_json_name("ID", out);
  assert_string_equal(out, "ID");
}

static void test_json_reads_every_kind_of_field(void **state) {
  const Querier__V1__SelectSeriesRequest *rq = (const void *)decode(
      SERIES_REQ,
      "{\"profileTypeID\":\"process_cpu:cpu:nanoseconds:cpu:nanoseconds\","
      "\"labelSelector\":\"{service_name=\\\"ride\\\"}\",\"start\":\"1700000000000\","
      "\"end\":1700000060000,\"groupBy\":[\"region\",\"vehicle\"],\"step\":15.5,"
      "\"aggregation\":\"TIME_SERIES_AGGREGATION_TYPE_AVERAGE\",\"limit\":\"3\","
      "\"exemplarType\":2,\"stackTraceSelector\":{\"callSite\":[{\"name\":\"main\"}]}}");
  assert_string_equal(rq->profile_typeid, "process_cpu:cpu:nanoseconds:cpu:nanoseconds");
  assert_string_equal(rq->label_selector, "{service_name=\"ride\"}");
  assert_int_equal(rq->start, 1700000000000LL);
  assert_int_equal(rq->end, 1700000060000LL);
  assert_int_equal(rq->n_group_by, 2);
  assert_string_equal(rq->group_by[1], "vehicle");
  assert_true(rq->step == 15.5);
  assert_int_equal(rq->has_aggregation_case,
                   QUERIER__V1__SELECT_SERIES_REQUEST__HAS_AGGREGATION_AGGREGATION);
  assert_int_equal(rq->aggregation, 1);
  assert_int_equal(rq->has_limit_case, QUERIER__V1__SELECT_SERIES_REQUEST__HAS_LIMIT_LIMIT);
  assert_int_equal(rq->limit, 3);
  assert_int_equal(rq->exemplar_type, 2);
  assert_int_equal(rq->stack_trace_selector->n_call_site, 1);
  assert_string_equal(rq->stack_trace_selector->call_site[0]->name, "main");
}

static void test_json_reads_schema_names_too(void **state) {
  const Querier__V1__SelectMergeStacktracesRequest *rq =
      (const void *)decode(STACKS_REQ, "{\"profile_typeID\":\"a:b:c:d:e\",\"max_nodes\":7}");
  assert_string_equal(rq->profile_typeid, "a:b:c:d:e");
  assert_int_equal(rq->max_nodes, 7);
  assert_true(strstr(refused(STACKS_REQ, "{\"profile_typeID\":\"a\",\"profileTypeID\":\"b\"}"),
                     "given twice"));
}

static void test_json_round_trips_a_request(void **state) {
  const char *doc =
      "{\"profileTypeID\":\"p:c:n:c:n\",\"labelSelector\":\"{}\",\"start\":\"1\","
      "\"end\":\"2\",\"groupBy\":[\"region\"],\"step\":15,\"aggregation\":"
      "\"TIME_SERIES_AGGREGATION_TYPE_SUM\",\"limit\":\"0\"}";
  const ProtobufCMessage *m = decode(SERIES_REQ, doc);
  /* A oneof member is written when set, even at its default. */
  assert_string_equal(encode(m), doc);
}

static void test_json_leaves_defaults_out(void **state) {
  Querier__V1__FlameGraph fg = QUERIER__V1__FLAME_GRAPH__INIT;
  assert_string_equal(encode(&fg.base), "{}");
  Querier__V1__Level lv = QUERIER__V1__LEVEL__INIT;
  int64_t values[] = {0, -5, INT64_MAX, 3};
  Querier__V1__Level *levels[] = {&lv};
  char *names[] = {"total", "a\"b"};
  lv.values = values;
  lv.n_values = 4;
  fg.levels = levels;
  fg.n_levels = 1;
  fg.names = names;
  fg.n_names = 2;
  fg.max_self = 3;
  assert_string_equal(encode(&fg.base),
                      "{\"names\":[\"total\",\"a\\\"b\"],\"levels\":[{\"values\":[\"0\",\"-5\","
                      "\"9223372036854775807\",\"3\"]}],\"maxSelf\":\"3\"}");
}

static void test_json_writes_doubles_enums_and_bytes(void **state) {
  Types__V1__Point p = TYPES__V1__POINT__INIT;
  p.value = 0.1;
  p.timestamp = 1700000000000LL;
  assert_string_equal(encode(&p.base), "{\"value\":0.1,\"timestamp\":\"1700000000000\"}");
  p.value = 1980000000;
  assert_string_equal(encode(&p.base), "{\"value\":1980000000,\"timestamp\":\"1700000000000\"}");
  p.value = 1e300;
  assert_string_equal(encode(&p.base), "{\"value\":1e+300,\"timestamp\":\"1700000000000\"}");
  p.value = -0.0;
  assert_string_equal(encode(&p.base), "{\"value\":-0.0,\"timestamp\":\"1700000000000\"}");
  p.value = NAN;
  assert_string_equal(encode(&p.base), "{\"value\":\"NaN\",\"timestamp\":\"1700000000000\"}");
  p.value = -INFINITY;
  p.timestamp = 0;
  assert_string_equal(encode(&p.base), "{\"value\":\"-Infinity\"}");
  Querier__V1__SelectMergeStacktracesResponse r =
      QUERIER__V1__SELECT_MERGE_STACKTRACES_RESPONSE__INIT;
  r.tree.data = (uint8_t *)"\x00\xff\x10";
  r.tree.len = 3;
  assert_string_equal(encode(&r.base), "{\"tree\":\"AP8Q\"}");
  r.tree.len = 1;
  assert_string_equal(encode(&r.base), "{\"tree\":\"AA==\"}");
  Querier__V1__SelectMergeStacktracesRequest q =
      QUERIER__V1__SELECT_MERGE_STACKTRACES_REQUEST__INIT;
  q.format = QUERIER__V1__PROFILE_FORMAT__PROFILE_FORMAT_TREE;
  assert_string_equal(encode(&q.base), "{\"format\":\"PROFILE_FORMAT_TREE\"}");
  q.format = 42; /* a number the schema does not name */
  assert_string_equal(encode(&q.base), "{\"format\":42}");
}

static void test_json_reads_base64_in_both_alphabets(void **state) {
  const Querier__V1__SelectMergeStacktracesResponse *r;
  r = (const void *)decode(&querier__v1__select_merge_stacktraces_response__descriptor,
                           "{\"tree\":\"AP8Q\"}");
  assert_int_equal(r->tree.len, 3);
  assert_memory_equal(r->tree.data, "\x00\xff\x10", 3);
  r = (const void *)decode(&querier__v1__select_merge_stacktraces_response__descriptor,
                           "{\"tree\":\"_-8\"}");
  assert_int_equal(r->tree.len, 2);
  assert_memory_equal(r->tree.data, "\xff\xef", 2);
  r = (const void *)decode(&querier__v1__select_merge_stacktraces_response__descriptor,
                           "{\"tree\":\"AA\"}");
  assert_int_equal(r->tree.len, 1);
  r = (const void *)decode(&querier__v1__select_merge_stacktraces_response__descriptor,
                           "{\"tree\":\"AA==\"}");
  assert_int_equal(r->tree.len, 1);
  refused(&querier__v1__select_merge_stacktraces_response__descriptor, "{\"tree\":\"A\"}");
  refused(&querier__v1__select_merge_stacktraces_response__descriptor, "{\"tree\":\"AA=\"}");
  refused(&querier__v1__select_merge_stacktraces_response__descriptor, "{\"tree\":\"A*==\"}");
  refused(&querier__v1__select_merge_stacktraces_response__descriptor, "{\"tree\":7}");
}

static void test_json_reads_numbers_in_every_canonical_form(void **state) {
  const Types__V1__Point *p =
      (const void *)decode(&types__v1__point__descriptor,
                           "{\"value\":\"Infinity\",\"timestamp\":\"-9223372036854775808\"}");
  assert_true(isinf(p->value) && p->value > 0);
  assert_true(p->timestamp == INT64_MIN);
  p = (const void *)decode(&types__v1__point__descriptor,
                           "{\"value\":\"1.5e3\",\"timestamp\":1e3}");
  assert_true(p->value == 1500);
  assert_int_equal(p->timestamp, 1000);
  const Perftools__Profiles__Function *f =
      (const void *)decode(&perftools__profiles__function__descriptor,
                           "{\"id\":\"18446744073709551615\"}");
  assert_true(f->id == UINT64_MAX);
}

static void test_json_refuses_values_of_the_wrong_kind(void **state) {
  assert_true(strstr(refused(&types__v1__point__descriptor, "{\"timestamp\":\"12a\"}"),
                     "timestamp"));
  refused(&types__v1__point__descriptor, "{\"timestamp\":1.5}");
  refused(&types__v1__point__descriptor, "{\"timestamp\":\"9223372036854775808\"}");
  refused(&types__v1__point__descriptor, "{\"timestamp\":true}");
  refused(&types__v1__point__descriptor, "{\"value\":\"0x10\"}");
  refused(&types__v1__point__descriptor, "{\"value\":\"nan\"}");
  refused(&types__v1__point__descriptor, "{\"value\":[1]}");
  refused(&perftools__profiles__function__descriptor, "{\"id\":-1}");
  refused(&perftools__profiles__function__descriptor, "{\"id\":\"-1\"}");
  refused(&types__v1__go_pgo__descriptor, "{\"keepLocations\":4294967296}");
  refused(&types__v1__go_pgo__descriptor, "{\"aggregateCallees\":1}");
  refused(&types__v1__label_pair__descriptor, "{\"name\":5}");
  assert_true(strstr(refused(STACKS_REQ, "{\"format\":\"PROFILE_FORMAT_PDF\"}"),
                     "not a value of querier.v1.ProfileFormat"));
  refused(SERIES_REQ, "{\"groupBy\":\"region\"}");
  refused(SERIES_REQ, "{\"groupBy\":[\"region\",null]}");
  refused(SERIES_REQ, "{\"stackTraceSelector\":[]}");
  refused(SERIES_REQ, "[]");
  refused(SERIES_REQ, "");
  refused(SERIES_REQ, "{\"step\":1,\"step\":2}");
  refused(SERIES_REQ, "{\"labelSelector\":\"\\u0000\"}");
  refused(SERIES_REQ, "{} {}");
}

static void test_json_skips_unknown_fields_and_reads_null_as_unset(void **state) {
  const Querier__V1__SelectMergeStacktracesRequest *rq = (const void *)decode(
      STACKS_REQ, "{\"fromTheFuture\":{\"x\":[1,2]},\"maxNodes\":null,\"labelSelector\":null,"
                  "\"stackTraceSelector\":null,\"profileIdSelector\":null}");
  assert_int_equal(rq->has_max_nodes_case, 0);
  assert_string_equal(rq->label_selector, "");
  assert_null(rq->stack_trace_selector);
  assert_int_equal(rq->n_profile_id_selector, 0);
}

static void test_json_decoding_stops_at_the_arena_limit(void **state) {
  ember_connect_arena_t *small = ember_connect_arena_new(256);
  ember_err_t err;
  ProtobufCMessage *m = NULL;
  const char *doc = "{\"groupBy\":[\"a\",\"b\",\"c\",\"d\",\"e\",\"f\",\"g\",\"h\",\"i\","
                    "\"j\",\"k\",\"l\",\"m\",\"n\",\"o\",\"p\",\"q\",\"r\",\"s\",\"t\"]}";
  assert_int_equal(ember_connect_json_decode(SERIES_REQ, doc, strlen(doc), small, &m, &err),
                   EMBER_ETOOBIG);
  assert_null(m);
  ember_connect_arena_free(small);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_json_names_are_lower_camel_case),
      cmocka_unit_test(test_json_reads_every_kind_of_field),
      cmocka_unit_test(test_json_reads_schema_names_too),
      cmocka_unit_test(test_json_round_trips_a_request),
      cmocka_unit_test(test_json_leaves_defaults_out),
      cmocka_unit_test(test_json_writes_doubles_enums_and_bytes),
      cmocka_unit_test(test_json_reads_base64_in_both_alphabets),
      cmocka_unit_test(test_json_reads_numbers_in_every_canonical_form),
      cmocka_unit_test(test_json_refuses_values_of_the_wrong_kind),
      cmocka_unit_test(test_json_skips_unknown_fields_and_reads_null_as_unset),
      cmocka_unit_test(test_json_decoding_stops_at_the_arena_limit),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
