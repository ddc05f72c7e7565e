/* Tests for src/querier/flamegraph.c: SelectMergeStacktraces, Diff and
 * SelectMergeProfile on a real store, against what /render and
 * /render-diff (the query module) give for the same data. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto/querier.pb-c.h"
#include "querier/querier_fixture.h"

#define CPU "process_cpu:cpu:nanoseconds:cpu:nanoseconds"
#define SAMPLES "process_cpu:samples:count:cpu:nanoseconds"
#define RANGE "\"start\":\"1700000000000\",\"end\":\"1700003600000\""

static fixture_t *fx;

static int setup(void **state) {
  fx = fixture_open();
  fixture_push(fx, "ride.cpu{region=eu-north,vehicle=car}", T0, "pyspy", 100, "samples",
               "main;handle;parse 120\nmain;handle;db;mutex_lock 75\nmain;idle 3");
  fixture_push(fx, "ride.cpu{region=us-east,vehicle=bike}", T0 + 20, "pyspy", 100,
               "samples", "main;handle;parse 20\nmain;bike 5");
  fixture_push(fx, "other.cpu{region=eu-north}", T0, "gospy", 50, "samples",
               "main;handle;parse 4\nrun;loop 6");
  fixture_push(fx, "ride.alloc_space{region=eu-north}", T0, "gospy", 100, "bytes",
               "main;alloc 4096");
  return 0;
}

static int teardown(void **state) {
  fixture_close(fx);
  return 0;
}

/* The nodes of a flame graph's levels, one line each, "depth:x:total:self:
 * name" (a diff's seven numbers give both sides), sorted: two graphs with
 * the same nodes read the same whatever order their names come in. scale
 * multiplies /render's numbers. */
static char *nodes(json_t *names, json_t *levels, int per, long long scale) {
  ember_buf_t b = EMBER_BUF_INIT;
  char **lines = NULL;
  size_t n = 0;
  for (size_t d = 0; d < json_array_size(levels); d++) {
    json_t *lv = json_array_get(levels, d);
    if (json_is_object(lv)) lv = json_object_get(lv, "values");
    long long end[2] = {0, 0};
    for (size_t i = 0; i + per <= json_array_size(lv); i += per) {
      char line[512];
      int k = snprintf(line, sizeof line, "%zu", d);
      for (int s = 0; s < (per == 4 ? 1 : 2); s++) {
        long long x = end[s] + qint(json_array_get(lv, i + s * 3)) * scale;
        long long total = qint(json_array_get(lv, i + s * 3 + 1)) * scale;
        long long self = qint(json_array_get(lv, i + s * 3 + 2)) * scale;
        end[s] = x + total;
        k += snprintf(line + k, sizeof line - k, ":%lld:%lld:%lld", x, total, self);
      }
      long long idx = qint(json_array_get(lv, i + per - 1));
      snprintf(line + k, sizeof line - k, ":%s", json_string_value(json_array_get(names, idx)));
      lines = realloc(lines, (n + 1) * sizeof *lines);
      lines[n++] = strdup(line);
    }
  }
  for (size_t i = 1; i < n; i++)
    for (size_t j = i; j > 0 && strcmp(lines[j - 1], lines[j]) > 0; j--) {
      char *t = lines[j];
      lines[j] = lines[j - 1];
      lines[j - 1] = t;
    }
  for (size_t i = 0; i < n; i++) {
    ember_buf_printf(&b, "%s\n", lines[i]);
    free(lines[i]);
  }
  free(lines);
  return ember_buf_take(&b, NULL);
}

static json_t *render(const char *query, const char *max_nodes) {
  ember_render_params_t p = {.query = query, .from = "1700000000", .until = "1700003599",
                             .max_nodes = max_nodes, .now = T0 + 3600};
  ember_query_out_t out = {EMBER_BUF_INIT, NULL, ""};
  ember_err_t err;
  assert_int_equal(ember_query_render(fx->store, &p, &out, &err), 0);
  json_t *j = fixture_json(&out);
  ember_buf_free(&out.body);
  return j;
}

/* Checks that SelectMergeStacktraces(type, selector, extra) draws what
 * /render draws for query, values times scale. */
static void same_as_render(const char *type, const char *selector, const char *extra,
                           const char *query, const char *max_nodes, long long scale) {
  char req[1024];
  snprintf(req, sizeof req, "{\"profileTypeID\":\"%s\",\"labelSelector\":\"%s\"," RANGE "%s}",
           type, selector, extra);
  json_t *got = qcall(fx, "SelectMergeStacktraces", req, 200);
  json_t *fg = json_object_get(got, "flamegraph");
  json_t *want = render(query, max_nodes);
  json_t *fb = json_object_get(want, "flamebearer");
  char *a = nodes(json_object_get(fg, "names"), json_object_get(fg, "levels"), 4, 1);
  char *b = nodes(json_object_get(fb, "names"), json_object_get(fb, "levels"), 4, scale);
  assert_string_equal(a, b);
  assert_int_equal(qint(json_object_get(fg, "total")),
                   json_integer_value(json_object_get(fb, "numTicks")) * scale);
  assert_int_equal(qint(json_object_get(fg, "maxSelf")),
                   json_integer_value(json_object_get(fb, "maxSelf")) * scale);
  free(a);
  free(b);
  json_decref(got);
  json_decref(want);
}

/* ---- Tests ------------------------------------------------------------- */

static void test_flamegraph_of_one_app_is_renders(void **state) {
  same_as_render(SAMPLES, "{service_name=\\\"ride\\\"}", "", "ride.cpu{}", NULL, 1);
  same_as_render(SAMPLES, "{service_name=\\\"ride\\\",region=~\\\"eu.*\\\"}", "",
                 "ride.cpu{region=~\"eu.*\"}", NULL, 1);
  same_as_render(CPU, "{service_name=\\\"ride\\\",vehicle!=\\\"car\\\"}", "",
                 "ride.cpu{vehicle!=\"car\"}", NULL, 10000000);
  same_as_render("memory:alloc_space:bytes:space:bytes", "{}", "", "ride.alloc_space{}",
                 NULL, 1);
}

static void test_flamegraph_max_nodes_cuts_as_render_does(void **state) {
  same_as_render(SAMPLES, "{service_name=\\\"ride\\\"}", ",\"maxNodes\":\"3\"", "ride.cpu{}",
                 "3", 1);
  same_as_render(SAMPLES, "{service_name=\\\"ride\\\"}", ",\"maxNodes\":-1", "ride.cpu{}", "-1",
                 1);
  qerror(fx, "SelectMergeStacktraces",
         "{\"profileTypeID\":\"" SAMPLES "\"," RANGE ",\"maxNodes\":-2}", 400,
         "invalid_argument");
}

static void test_flamegraph_merges_apps_each_at_its_period(void **state) {
  /* Without service_name: ride (100 Hz) and other (50 Hz) together. */
  json_t *j = qcall(fx, "SelectMergeStacktraces", "{\"profileTypeID\":\"" CPU "\"," RANGE "}",
                    200);
  long long ride = (120 + 75 + 3 + 20 + 5) * 10000000LL, other = (4 + 6) * 20000000LL;
  assert_int_equal(qint(json_object_get(json_object_get(j, "flamegraph"), "total")),
                   ride + other);
  json_decref(j);
  j = qcall(fx, "SelectMergeStacktraces", "{\"profileTypeID\":\"" SAMPLES "\"," RANGE "}", 200);
  assert_int_equal(qint(json_object_get(json_object_get(j, "flamegraph"), "total")), 233);
  json_decref(j);
}

static void test_flamegraph_keeps_the_stacks_under_a_call_site(void **state) {
  json_t *j = qcall(fx, "SelectMergeStacktraces",
                    "{\"profileTypeID\":\"" SAMPLES "\",\"labelSelector\":"
                    "\"{service_name=\\\"ride\\\"}\"," RANGE ",\"stackTraceSelector\":"
                    "{\"callSite\":[{\"name\":\"main\"},{\"name\":\"handle\"}]}}",
                    200);
  json_t *fg = json_object_get(j, "flamegraph");
  assert_int_equal(qint(json_object_get(fg, "total")), 215);
  char *got = nodes(json_object_get(fg, "names"), json_object_get(fg, "levels"), 4, 1);
  assert_string_equal(got, "0:0:215:0:total\n1:0:215:0:main\n2:0:215:0:handle\n"
                           "3:0:75:0:db\n3:75:140:140:parse\n4:0:75:75:mutex_lock\n");
  free(got);
  json_decref(j);
  j = qcall(fx, "SelectMergeStacktraces",
            "{\"profileTypeID\":\"" SAMPLES "\"," RANGE ",\"stackTraceSelector\":"
            "{\"callSite\":[{\"name\":\"nowhere\"}]}}",
            200);
  assert_int_equal(qint(json_object_get(json_object_get(j, "flamegraph"), "total")), 0);
  json_decref(j);
}

static void test_flamegraph_of_nothing_is_the_empty_graph(void **state) {
  json_t *j = qcall(fx, "SelectMergeStacktraces",
                    "{\"profileTypeID\":\"block:delay:nanoseconds:contentions:count\"," RANGE
                    "}",
                    200);
  assert_json_text(json_object_get(j, "flamegraph"),
                   "{\"names\":[\"total\"],\"levels\":[{\"values\":[\"0\",\"0\",\"0\",\"0\"]}]}");
  json_decref(j);
}

static void test_flamegraph_refuses_what_it_cannot_do(void **state) {
  const char *msg = qerror(fx, "SelectMergeStacktraces", "{" RANGE "}", 400,
                           "invalid_argument");
  assert_non_null(strstr(msg, "profile_typeID is required"));
  qerror(fx, "SelectMergeStacktraces",
         "{\"profileTypeID\":\"" SAMPLES "\"," RANGE ",\"format\":\"PROFILE_FORMAT_TREE\"}",
         501, "unimplemented");
  qerror(fx, "SelectMergeStacktraces",
         "{\"profileTypeID\":\"" SAMPLES "\"," RANGE ",\"profileIdSelector\":[\"x\"]}", 501,
         "unimplemented");
  qerror(fx, "SelectMergeProfile",
         "{\"profileTypeID\":\"" SAMPLES "\"," RANGE
         ",\"stackTraceSelector\":{\"goPgo\":{\"keepLocations\":2}}}",
         501, "unimplemented");
  msg = qerror(fx, "SelectMergeStacktraces",
               "{\"profileTypeID\":\"" SAMPLES "\",\"labelSelector\":\"{region=\\\"a\\\"\","
               RANGE "}",
               400, "invalid_argument");
  assert_non_null(strstr(msg, "label_selector: expected"));
  msg = qerror(fx, "SelectMergeStacktraces",
               "{\"profileTypeID\":\"" SAMPLES "\",\"start\":\"5000\",\"end\":\"5000\"}", 400,
               "invalid_argument");
  assert_non_null(strstr(msg, "must be before end"));
}

static void test_diff_is_render_diffs(void **state) {
  json_t *j = qcall(fx, "Diff",
                    "{\"left\":{\"profileTypeID\":\"" SAMPLES "\",\"labelSelector\":"
                    "\"{service_name=\\\"ride\\\",region=\\\"eu-north\\\"}\"," RANGE "},"
                    "\"right\":{\"profileTypeID\":\"" SAMPLES "\",\"labelSelector\":"
                    "\"{service_name=\\\"ride\\\",region=\\\"us-east\\\"}\"," RANGE "}}",
                    200);
  ember_diff_params_t p = {.left_query = "ride.cpu{region=\"eu-north\"}",
                           .right_query = "ride.cpu{region=\"us-east\"}",
                           .left_from = "1700000000", .left_until = "1700003599",
                           .right_from = "1700000000", .right_until = "1700003599",
                           .now = T0 + 3600};
  ember_query_out_t out = {EMBER_BUF_INIT, NULL, ""};
  ember_err_t err;
  assert_int_equal(ember_query_render_diff(fx->store, &p, &out, &err), 0);
  json_t *want = fixture_json(&out);
  json_t *fg = json_object_get(j, "flamegraph"), *fb = json_object_get(want, "flamebearer");
  char *a = nodes(json_object_get(fg, "names"), json_object_get(fg, "levels"), 7, 1);
  char *b = nodes(json_object_get(fb, "names"), json_object_get(fb, "levels"), 7, 1);
  assert_string_equal(a, b);
  assert_int_equal(qint(json_object_get(fg, "leftTicks")), 198);
  assert_int_equal(qint(json_object_get(fg, "rightTicks")), 25);
  assert_int_equal(qint(json_object_get(fg, "total")),
                   json_integer_value(json_object_get(fb, "numTicks")));
  assert_int_equal(qint(json_object_get(fg, "maxSelf")),
                   json_integer_value(json_object_get(fb, "maxSelf")));
  free(a);
  free(b);
  ember_buf_free(&out.body);
  json_decref(want);
  json_decref(j);
}

static void test_diff_refuses_sides_of_other_units(void **state) {
  qerror(fx, "Diff",
         "{\"left\":{\"profileTypeID\":\"" SAMPLES "\"," RANGE "},"
         "\"right\":{\"profileTypeID\":\"memory:alloc_space:bytes:space:bytes\"," RANGE "}}",
         400, "invalid_argument");
  qerror(fx, "Diff", "{\"left\":{\"profileTypeID\":\"" SAMPLES "\"," RANGE "}}", 400,
         "invalid_argument");
}

static void test_merge_profile_is_the_pprof_export(void **state) {
  ember_querier_ctx_t ctx = {.store = fx->store, .now = T0 + 3600};
  const char *req = "{\"profileTypeID\":\"" CPU "\",\"labelSelector\":"
                    "\"{service_name=\\\"ride\\\"}\"," RANGE "}";
  ember_connect_request_t rq = {.method = "SelectMergeProfile",
                                .content_type = "application/json",
                                .body = (const uint8_t *)req,
                                .len = strlen(req)};
  rq.content_type = "application/json";
  ember_connect_response_t json;
  ember_connect_unary(&ember_querier_service, &rq, &ctx, &json);
  assert_int_equal(json.status, 200);
  assert_non_null(strstr(json.body.data, "\"sampleType\""));
  ember_connect_response_free(&json);
  /* The same call in protobuf: the bytes of /render?format=pprof, ungzipped. */
  Querier__V1__SelectMergeProfileRequest pr = QUERIER__V1__SELECT_MERGE_PROFILE_REQUEST__INIT;
  pr.profile_typeid = CPU;
  pr.label_selector = "{service_name=\"ride\"}";
  pr.start = 1700000000000LL;
  pr.end = 1700003600000LL;
  uint8_t buf[512];
  size_t n = querier__v1__select_merge_profile_request__pack(&pr, buf);
  rq.content_type = "application/proto";
  rq.body = buf;
  rq.len = n;
  ember_connect_response_t proto;
  ember_connect_unary(&ember_querier_service, &rq, &ctx, &proto);
  assert_int_equal(proto.status, 200);
  ember_render_params_t p = {.query = "ride.cpu{}", .from = "1700000000",
                             .until = "1700003599", .max_nodes = "-1", .format = "pprof",
                             .now = T0 + 3600};
  ember_query_out_t out = {EMBER_BUF_INIT, NULL, ""};
  ember_err_t err;
  assert_int_equal(ember_query_render(fx->store, &p, &out, &err), 0);
  ember_buf_t raw = EMBER_BUF_INIT;
  assert_int_equal(ember_connect_gunzip((const uint8_t *)out.body.data, out.body.len, 1 << 24,
                                        &raw, &err),
                   0);
  assert_int_equal(proto.body.len, raw.len);
  assert_memory_equal(proto.body.data, raw.data, raw.len);
  ember_buf_free(&raw);
  ember_buf_free(&out.body);
  ember_connect_response_free(&proto);
  /* ride at 100 Hz and other at 50 Hz make no one profile. */
  qerror(fx, "SelectMergeProfile", "{\"profileTypeID\":\"" CPU "\"," RANGE "}", 400,
         "invalid_argument");
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_flamegraph_of_one_app_is_renders),
      cmocka_unit_test(test_flamegraph_max_nodes_cuts_as_render_does),
      cmocka_unit_test(test_flamegraph_merges_apps_each_at_its_period),
      cmocka_unit_test(test_flamegraph_keeps_the_stacks_under_a_call_site),
      cmocka_unit_test(test_flamegraph_of_nothing_is_the_empty_graph),
      cmocka_unit_test(test_flamegraph_refuses_what_it_cannot_do),
      cmocka_unit_test(test_diff_is_render_diffs),
      cmocka_unit_test(test_diff_refuses_sides_of_other_units),
      cmocka_unit_test(test_merge_profile_is_the_pprof_export),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
