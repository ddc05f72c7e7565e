/* Integration: Grafana's Pyroscope data source against the real binary.
 *
 * A client written here from the schema (src/proto/querier.proto and
 * types.proto: protobuf-c's structs for application/proto, hand-written
 * JSON for application/json) calls every method of
 * querier.v1.QuerierService in both encodings over ride-sharing data: three
 * regions and three vehicles pushing every 10 s for five minutes, the
 * eu-north region stuck on a lock. Every answer is read the same way from
 * both encodings and checked against what /render, /render-diff, /labels
 * and /label-values answer for the same app, tags and range; wrong input
 * gets its Connect error code and HTTP status in both. docs/grafana.md
 * lists what this covers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ember/connect.h"
#include "harness.h"
#include "proto/querier.pb-c.h"

/* A time that is a multiple of 60 s, so that steps of 10, 20, 30 and 60 s
 * start on it. */
#define TB 1700000040L
#define PUSHES 30 /* 10 s each */
#define APP "ride-sharing-app"
#define CPU "process_cpu:cpu:nanoseconds:cpu:nanoseconds"
#define SAMPLES "process_cpu:samples:count:cpu:nanoseconds"
#define PERIOD 10000000LL /* ns per sample at 100 Hz */
#define QS "/querier.v1.QuerierService/"

static it_server_t srv;
static const char *const regions[] = {"ap-south", "eu-north", "us-east"};
static const char *const vehicles[] = {"bike", "car", "scooter"};

/* ---- The data ------------------------------------------------------------ */

static int setup(void **state) {
  memset(&srv, 0, sizeof srv);
  it_start(&srv, NULL);
  char folded[1024], name[128];
  for (int i = 0; i < PUSHES; i++)
    for (int r = 0; r < 3; r++)
      for (int v = 0; v < 3; v++) {
        int n = snprintf(folded, sizeof folded,
                         "ride_sharing_app;server;handle_request;order_%s;"
                         "find_nearest_vehicle;check_driver_availability %d\n"
                         "ride_sharing_app;server;idle %d\n",
                         vehicles[v], 10 + (i * 7 + r * 3 + v) % 13, 1 + (i + v) % 3);
        if (r == 1) /* eu-north waits on a lock */
          snprintf(folded + n, sizeof folded - (size_t)n,
                   "ride_sharing_app;server;handle_request;order_%s;find_nearest_vehicle;"
                   "mutex_lock %d\n",
                   vehicles[v], 40 + i % 5);
        snprintf(name, sizeof name, APP ".cpu{region=%s,vehicle=%s}", regions[r], vehicles[v]);
        long from = TB + 10L * i;
        assert_int_equal(it_ingest(&srv, name, from, from + 10, folded), 200);
      }
  char target[256];
  snprintf(target, sizeof target,
           "/ingest?name=" APP ".inuse_space%%7Bregion%%3Deu-north%%7D&from=%ld&until=%ld"
           "&units=bytes&aggregationType=average",
           TB, TB + 10);
  it_resp_t resp;
  it_expect(&srv, 200, "POST", target, "ride_sharing_app;cache;alloc 4096\n", 34, &resp);
  it_resp_free(&resp);
  return 0;
}

static int teardown(void **state) {
  assert_int_equal(it_stop(&srv), 0);
  it_cleanup(&srv);
  return 0;
}

/* ---- The client ------------------------------------------------------------ */

/* A call in protobuf: the answer unpacked as `out` (caller frees with
 * protobuf_c_message_free_unpacked), or NULL when the status is not 200;
 * *resp keeps the raw response when not NULL. */
static ProtobufCMessage *call_proto(const char *method, const ProtobufCMessage *req,
                                    const ProtobufCMessageDescriptor *out, it_resp_t *resp) {
  size_t n = protobuf_c_message_get_packed_size(req);
  uint8_t *body = malloc(n + 1);
  protobuf_c_message_pack(req, body);
  char target[128];
  snprintf(target, sizeof target, QS "%s", method);
  it_resp_t r;
  assert_int_equal(it_http(&srv, "POST", target,
                           "Content-Type: application/proto\r\nConnect-Protocol-Version: 1\r\n",
                           body, n, &r),
                   0);
  free(body);
  ProtobufCMessage *m = NULL;
  if (r.status == 200) {
    char *ct = it_header(&r, "Content-Type");
    assert_string_equal(ct, "application/proto");
    free(ct);
    m = protobuf_c_message_unpack(out, NULL, r.body_len, (const uint8_t *)r.body);
    assert_non_null(m);
  }
  if (resp) *resp = r;
  else it_resp_free(&r);
  return m;
}

/* A call in JSON: the answer parsed (caller decrefs); *status its status. */
static json_t *call_json(const char *method, const char *req, int *status) {
  char target[128];
  snprintf(target, sizeof target, QS "%s", method);
  it_resp_t r;
  assert_int_equal(it_http(&srv, "POST", target, "Content-Type: application/json\r\n", req,
                           strlen(req), &r),
                   0);
  char *ct = it_header(&r, "Content-Type");
  assert_string_equal(ct, "application/json");
  free(ct);
  *status = r.status;
  json_t *doc = it_json(&r);
  it_resp_free(&r);
  return doc;
}

static json_t *call_json_ok(const char *method, const char *req) {
  int status;
  json_t *doc = call_json(method, req, &status);
  if (status != 200) fail_msg("%s %s: %d %s", method, req, status, json_dumps(doc, 0));
  return doc;
}

/* A JSON int64, a string in the canonical mapping. */
static long long jint(const json_t *v) {
  if (!v) return 0;
  assert_true(json_is_string(v));
  return strtoll(json_string_value(v), NULL, 10);
}

static char *take(ember_buf_t *b) {
  ember_buf_puts(b, "");
  return ember_buf_take(b, NULL);
}

/* ---- Reading answers the same way from both encodings ----------------------- */

/* Sorted lines, joined. */
static char *sorted(char **lines, size_t n) {
  for (size_t i = 1; i < n; i++)
    for (size_t j = i; j > 0 && strcmp(lines[j - 1], lines[j]) > 0; j--) {
      char *t = lines[j];
      lines[j] = lines[j - 1];
      lines[j - 1] = t;
    }
  ember_buf_t b = EMBER_BUF_INIT;
  for (size_t i = 0; i < n; i++) {
    ember_buf_printf(&b, "%s\n", lines[i]);
    free(lines[i]);
  }
  free(lines);
  return take(&b);
}

/* The nodes of levels of `per` numbers (4, or 7 for a diff) as sorted
 * "depth:x:total:self[:x:total:self]:name" lines; value(level, i) reads a
 * number, name(i) a name. scale multiplies the numbers. */
typedef long long (*value_fn)(const void *levels, size_t d, size_t i);
typedef const char *(*name_fn)(const void *names, size_t i);
typedef size_t (*count_fn)(const void *levels, size_t d);

static char *node_lines(const void *levels, size_t nlevels, count_fn count, value_fn value,
                        const void *names, name_fn name, int per, long long scale) {
  char **lines = NULL;
  size_t n = 0;
  for (size_t d = 0; d < nlevels; d++) {
    long long end[2] = {0, 0};
    for (size_t i = 0; i + per <= count(levels, d); i += per) {
      char line[512];
      int k = snprintf(line, sizeof line, "%zu", d);
      for (int s = 0; s < (per == 4 ? 1 : 2); s++) {
        long long x = end[s] + value(levels, d, i + s * 3) * scale;
        long long total = value(levels, d, i + s * 3 + 1) * scale;
        end[s] = x + total;
        k += snprintf(line + k, sizeof line - k, ":%lld:%lld:%lld", x, total,
                      value(levels, d, i + s * 3 + 2) * scale);
      }
      snprintf(line + k, sizeof line - k, ":%s",
               name(names, (size_t)value(levels, d, i + per - 1)));
      lines = realloc(lines, (n + 1) * sizeof *lines);
      lines[n++] = strdup(line);
    }
  }
  return sorted(lines, n);
}

/* Levels as protobuf-c holds them. */
static size_t pb_count(const void *l, size_t d) {
  return ((Querier__V1__Level *const *)l)[d]->n_values;
}
static long long pb_value(const void *l, size_t d, size_t i) {
  return ((Querier__V1__Level *const *)l)[d]->values[i];
}
static const char *pb_name(const void *names, size_t i) { return ((char *const *)names)[i]; }

/* Levels in the Connect JSON ([{"values": ["0", ...]}]) or /render's
 * ([[0, ...]]). */
static size_t js_count(const void *l, size_t d) {
  json_t *lv = json_array_get((json_t *)l, d);
  return json_array_size(json_is_object(lv) ? json_object_get(lv, "values") : lv);
}
static long long js_value(const void *l, size_t d, size_t i) {
  json_t *lv = json_array_get((json_t *)l, d);
  if (json_is_object(lv)) return jint(json_array_get(json_object_get(lv, "values"), i));
  return json_integer_value(json_array_get(lv, i));
}
static const char *js_name(const void *names, size_t i) {
  return json_string_value(json_array_get((json_t *)names, i));
}

static char *graph_pb(Querier__V1__Level **levels, size_t n, char **names, int per) {
  return node_lines(levels, n, pb_count, pb_value, names, pb_name, per, 1);
}

static char *graph_js(json_t *g, int per, long long scale) {
  json_t *levels = json_object_get(g, "levels");
  return node_lines(levels, json_array_size(levels), js_count, js_value,
                    json_object_get(g, "names"), js_name, per, scale);
}

/* ---- /render and friends ---------------------------------------------------- */

static json_t *get_json(const char *target) {
  it_resp_t r;
  it_expect(&srv, 200, "GET", target, NULL, 0, &r);
  json_t *doc = it_json(&r);
  it_resp_free(&r);
  return doc;
}

/* /render of query over [TB, TB + 300) with extra parameters. */
static json_t *render(const char *query, const char *extra) {
  char *q = it_urlencode(query);
  char target[1024];
  snprintf(target, sizeof target, "/render?query=%s&from=%ld&until=%ld%s", q, TB,
           TB + 10 * PUSHES - 1, extra);
  free(q);
  json_t *doc = get_json(target);
  return doc;
}

/* The request fields of a flame graph over [TB, TB + 300). */
#define RANGE_JSON "\"start\":\"1700000040000\",\"end\":\"1700000340000\""
#define RANGE_START (TB * 1000)
#define RANGE_END ((TB + 10 * PUSHES) * 1000)

/* ---- Tests: labels ------------------------------------------------------------ */

static char *types_pb(const Querier__V1__ProfileTypesResponse *r) {
  ember_buf_t b = EMBER_BUF_INIT;
  for (size_t i = 0; i < r->n_profile_types; i++) {
    const Types__V1__ProfileType *t = r->profile_types[i];
    ember_buf_printf(&b, "%s|%s|%s|%s|%s|%s\n", t->id, t->name, t->sample_type,
                     t->sample_unit, t->period_type, t->period_unit);
  }
  return take(&b);
}

static char *types_js(json_t *doc) {
  ember_buf_t b = EMBER_BUF_INIT;
  json_t *a = json_object_get(doc, "profileTypes");
  for (size_t i = 0; i < json_array_size(a); i++) {
    json_t *t = json_array_get(a, i);
    ember_buf_printf(&b, "%s|%s|%s|%s|%s|%s\n", json_string_value(json_object_get(t, "ID")),
                     json_string_value(json_object_get(t, "name")),
                     json_string_value(json_object_get(t, "sampleType")),
                     json_string_value(json_object_get(t, "sampleUnit")),
                     json_string_value(json_object_get(t, "periodType")),
                     json_string_value(json_object_get(t, "periodUnit")));
  }
  return take(&b);
}

static void test_grafana_profile_types(void **state) {
  Querier__V1__ProfileTypesRequest rq = QUERIER__V1__PROFILE_TYPES_REQUEST__INIT;
  rq.start = RANGE_START;
  rq.end = RANGE_END;
  Querier__V1__ProfileTypesResponse *pb = (void *)call_proto(
      "ProfileTypes", &rq.base, &querier__v1__profile_types_response__descriptor, NULL);
  json_t *js = call_json_ok("ProfileTypes", "{" RANGE_JSON "}");
  char *a = types_pb(pb), *b = types_js(js);
  assert_string_equal(a, b);
  assert_string_equal(a, "memory:inuse_space:bytes:space:bytes|memory|inuse_space|bytes|"
                         "space|bytes\n" CPU "|process_cpu|cpu|nanoseconds|cpu|nanoseconds\n"
                         SAMPLES "|process_cpu|samples|count|cpu|nanoseconds\n");
  free(a);
  free(b);
  json_decref(js);
  protobuf_c_message_free_unpacked(&pb->base, NULL);
  /* Grafana's "Save & test" asks for the types of a few seconds of 1970. */
  Querier__V1__ProfileTypesRequest health = QUERIER__V1__PROFILE_TYPES_REQUEST__INIT;
  health.start = 1000;
  health.end = 4000;
  pb = (void *)call_proto("ProfileTypes", &health.base,
                          &querier__v1__profile_types_response__descriptor, NULL);
  assert_non_null(pb);
  assert_int_equal(pb->n_profile_types, 0);
  protobuf_c_message_free_unpacked(&pb->base, NULL);
  /* An hour later there is nothing. */
  json_t *later =
      call_json_ok("ProfileTypes", "{\"start\":\"1700010000000\",\"end\":\"1700013600000\"}");
  assert_int_equal(json_object_size(later), 0);
  json_decref(later);
}

/* A names answer as "a,b,c". */
static char *names_pb(char **names, size_t n) {
  ember_buf_t b = EMBER_BUF_INIT;
  for (size_t i = 0; i < n; i++)
    ember_buf_printf(&b, "%s%s", i ? "," : "", names[i]);
  return take(&b);
}

static char *names_js(json_t *doc, const char *field, bool skip_private) {
  ember_buf_t b = EMBER_BUF_INIT;
  json_t *a = json_object_get(doc, field);
  for (size_t i = 0; i < json_array_size(a); i++) {
    const char *s = json_string_value(json_array_get(a, i));
    if (skip_private && !strncmp(s, "__", 2)) continue; /* as Grafana does */
    ember_buf_printf(&b, "%s%s", b.len ? "," : "", s);
  }
  return take(&b);
}

static void test_grafana_label_names_and_values(void **state) {
  char *sel = "{service_name=\"" APP "\"}";
  Types__V1__LabelNamesRequest ln = TYPES__V1__LABEL_NAMES_REQUEST__INIT;
  ln.matchers = &sel;
  ln.n_matchers = 1;
  ln.start = RANGE_START;
  ln.end = RANGE_END;
  Types__V1__LabelNamesResponse *pb = (void *)call_proto(
      "LabelNames", &ln.base, &types__v1__label_names_response__descriptor, NULL);
  json_t *js = call_json_ok("LabelNames", "{\"matchers\":[\"{service_name=\\\"" APP "\\\"}\"],"
                                          RANGE_JSON "}");
  char *a = names_pb(pb->names, pb->n_names), *b = names_js(js, "names", false);
  assert_string_equal(a, b);
  free(a);
  free(b);
  /* What Grafana lists (no "__" labels): /labels' keys and service_name. */
  b = names_js(js, "names", true);
  assert_string_equal(b, "region,service_name,vehicle");
  json_t *labels = get_json("/labels?query=" APP ".cpu%7B%7D");
  ember_buf_t keys = EMBER_BUF_INIT;
  for (size_t i = 0; i < json_array_size(labels); i++) {
    const char *k = json_string_value(json_array_get(labels, i));
    if (strcmp(k, "__name__")) ember_buf_printf(&keys, "%s,", k);
  }
  char *k = take(&keys);
  assert_string_equal(k, "region,vehicle,");
  free(k);
  free(b);
  json_decref(labels);
  json_decref(js);
  protobuf_c_message_free_unpacked(&pb->base, NULL);

  Types__V1__LabelValuesRequest lv = TYPES__V1__LABEL_VALUES_REQUEST__INIT;
  lv.name = "region";
  lv.matchers = &sel;
  lv.n_matchers = 1;
  lv.start = RANGE_START;
  lv.end = RANGE_END;
  Types__V1__LabelValuesResponse *vpb = (void *)call_proto(
      "LabelValues", &lv.base, &types__v1__label_values_response__descriptor, NULL);
  js = call_json_ok("LabelValues", "{\"name\":\"region\",\"matchers\":[\"{service_name=\\\"" APP
                                   "\\\"}\"]," RANGE_JSON "}");
  a = names_pb(vpb->names, vpb->n_names);
  b = names_js(js, "names", false);
  assert_string_equal(a, b);
  /* /label-values answers a bare array. */
  json_t *values = get_json("/label-values?label=region&query=" APP ".cpu%7B%7D");
  ember_buf_t vb = EMBER_BUF_INIT;
  for (size_t i = 0; i < json_array_size(values); i++)
    ember_buf_printf(&vb, "%s%s", i ? "," : "", json_string_value(json_array_get(values, i)));
  char *want_values = take(&vb);
  assert_string_equal(a, want_values);
  assert_string_equal(a, "ap-south,eu-north,us-east");
  free(want_values);
  free(a);
  free(b);
  json_decref(values);
  json_decref(js);
  protobuf_c_message_free_unpacked(&vpb->base, NULL);
  /* service_name lists the apps' base names. */
  js = call_json_ok("LabelValues", "{\"name\":\"service_name\"}");
  a = names_js(js, "names", false);
  assert_string_equal(a, APP);
  free(a);
  json_decref(js);
}

static void test_grafana_series(void **state) {
  char *sel = "{service_name=\"" APP "\",__profile_type__=\"" SAMPLES "\"}";
  char *only[] = {"service_name", "region", "vehicle"};
  Querier__V1__SeriesRequest rq = QUERIER__V1__SERIES_REQUEST__INIT;
  rq.matchers = &sel;
  rq.n_matchers = 1;
  rq.label_names = only;
  rq.n_label_names = 3;
  rq.start = RANGE_START;
  rq.end = RANGE_END;
  Querier__V1__SeriesResponse *pb = (void *)call_proto(
      "Series", &rq.base, &querier__v1__series_response__descriptor, NULL);
  json_t *js = call_json_ok(
      "Series", "{\"matchers\":[\"{service_name=\\\"" APP "\\\",__profile_type__=\\\"" SAMPLES
                "\\\"}\"],\"labelNames\":[\"service_name\",\"region\",\"vehicle\"]," RANGE_JSON
                "}");
  ember_buf_t a = EMBER_BUF_INIT, b = EMBER_BUF_INIT;
  for (size_t i = 0; i < pb->n_labels_set; i++) {
    for (size_t k = 0; k < pb->labels_set[i]->n_labels; k++)
      ember_buf_printf(&a, "%s=%s,", pb->labels_set[i]->labels[k]->name,
                       pb->labels_set[i]->labels[k]->value);
    ember_buf_putc(&a, '\n');
  }
  json_t *sets = json_object_get(js, "labelsSet");
  for (size_t i = 0; i < json_array_size(sets); i++) {
    json_t *l = json_object_get(json_array_get(sets, i), "labels");
    for (size_t k = 0; k < json_array_size(l); k++)
      ember_buf_printf(&b, "%s=%s,",
                       json_string_value(json_object_get(json_array_get(l, k), "name")),
                       json_string_value(json_object_get(json_array_get(l, k), "value")));
    ember_buf_putc(&b, '\n');
  }
  char *sa = take(&a), *sb = take(&b);
  assert_string_equal(sa, sb);
  /* Nine series: three regions times three vehicles. */
  size_t lines = 0;
  for (const char *p = sa; *p; p++)
    lines += *p == '\n';
  assert_int_equal(lines, 9);
  assert_non_null(strstr(sa, "region=eu-north,service_name=" APP ",vehicle=scooter,\n"));
  free(sa);
  free(sb);
  json_decref(js);
  protobuf_c_message_free_unpacked(&pb->base, NULL);
}

static void test_grafana_profile_stats(void **state) {
  Types__V1__GetProfileStatsRequest rq = TYPES__V1__GET_PROFILE_STATS_REQUEST__INIT;
  Types__V1__GetProfileStatsResponse *pb = (void *)call_proto(
      "GetProfileStats", &rq.base, &types__v1__get_profile_stats_response__descriptor, NULL);
  json_t *js = call_json_ok("GetProfileStats", "{}");
  assert_true(pb->data_ingested);
  assert_true(json_is_true(json_object_get(js, "dataIngested")));
  assert_int_equal(pb->oldest_profile_time, TB * 1000);
  assert_int_equal(jint(json_object_get(js, "oldestProfileTime")), TB * 1000);
  assert_int_equal(pb->newest_profile_time, (TB + 10 * (PUSHES - 1)) * 1000);
  assert_int_equal(jint(json_object_get(js, "newestProfileTime")), pb->newest_profile_time);
  json_decref(js);
  protobuf_c_message_free_unpacked(&pb->base, NULL);
}

/* ---- Tests: flame graphs ------------------------------------------------------ */

/* SelectMergeStacktraces of type and selector (max_nodes when > 0) in both
 * encodings, against /render of query. */
static void check_flamegraph(const char *type, const char *selector, long max_nodes,
                             const char *query, long long scale) {
  Querier__V1__SelectMergeStacktracesRequest rq =
      QUERIER__V1__SELECT_MERGE_STACKTRACES_REQUEST__INIT;
  rq.profile_typeid = (char *)type;
  rq.label_selector = (char *)selector;
  rq.start = RANGE_START;
  rq.end = RANGE_END;
  if (max_nodes) {
    rq.has_max_nodes_case = QUERIER__V1__SELECT_MERGE_STACKTRACES_REQUEST__HAS_MAX_NODES_MAX_NODES;
    rq.max_nodes = max_nodes;
  }
  Querier__V1__SelectMergeStacktracesResponse *pb = (void *)call_proto(
      "SelectMergeStacktraces", &rq.base,
      &querier__v1__select_merge_stacktraces_response__descriptor, NULL);
  assert_non_null(pb);
  json_t *jsel = json_string(selector);
  char *esc = json_dumps(jsel, JSON_ENCODE_ANY);
  json_decref(jsel);
  char req[1024], extra[64] = "";
  if (max_nodes) snprintf(extra, sizeof extra, ",\"maxNodes\":\"%ld\"", max_nodes);
  snprintf(req, sizeof req, "{\"profileTypeID\":\"%s\",\"labelSelector\":%s," RANGE_JSON "%s}",
           type, esc, extra);
  free(esc);
  json_t *js = call_json_ok("SelectMergeStacktraces", req);
  json_t *fg = json_object_get(js, "flamegraph");
  char *a = graph_pb(pb->flamegraph->levels, pb->flamegraph->n_levels, pb->flamegraph->names, 4);
  char *b = graph_js(fg, 4, 1);
  assert_string_equal(a, b);
  assert_int_equal(pb->flamegraph->total, jint(json_object_get(fg, "total")));
  assert_int_equal(pb->flamegraph->max_self, jint(json_object_get(fg, "maxSelf")));
  /* The same numbers as /render, times the period for nanoseconds. */
  extra[0] = '\0';
  if (max_nodes) snprintf(extra, sizeof extra, "&maxNodes=%ld", max_nodes);
  json_t *want = render(query, extra);
  json_t *fb = json_object_get(want, "flamebearer");
  char *c = graph_js(fb, 4, scale);
  assert_string_equal(a, c);
  assert_int_equal(pb->flamegraph->total, json_integer_value(json_object_get(fb, "numTicks")) * scale);
  assert_int_equal(pb->flamegraph->max_self,
                   json_integer_value(json_object_get(fb, "maxSelf")) * scale);
  assert_true(pb->flamegraph->total > 0);
  free(a);
  free(b);
  free(c);
  json_decref(want);
  json_decref(js);
  protobuf_c_message_free_unpacked(&pb->base, NULL);
}

static void test_grafana_flame_graphs_are_renders(void **state) {
  check_flamegraph(SAMPLES, "{service_name=\"" APP "\"}", 0, APP ".cpu{}", 1);
  check_flamegraph(CPU, "{service_name=\"" APP "\", region=~\"eu.*\"}", 0,
                   APP ".cpu{region=~\"eu.*\"}", PERIOD);
  check_flamegraph(CPU, "{service_name=\"" APP "\",vehicle!=\"car\",region=\"us-east\"}", 0,
                   APP ".cpu{vehicle!=\"car\",region=\"us-east\"}", PERIOD);
  check_flamegraph(SAMPLES, "{service_name=\"" APP "\"}", 5, APP ".cpu{}", 1);
  check_flamegraph("memory:inuse_space:bytes:space:bytes", "{}", 0, APP ".inuse_space{}", 1);
}

static void test_grafana_diff_is_render_diff(void **state) {
  Querier__V1__SelectMergeStacktracesRequest l =
      QUERIER__V1__SELECT_MERGE_STACKTRACES_REQUEST__INIT;
  Querier__V1__SelectMergeStacktracesRequest r =
      QUERIER__V1__SELECT_MERGE_STACKTRACES_REQUEST__INIT;
  l.profile_typeid = r.profile_typeid = SAMPLES;
  l.label_selector = "{service_name=\"" APP "\",region=\"eu-north\"}";
  r.label_selector = "{service_name=\"" APP "\",region=\"us-east\"}";
  l.start = r.start = RANGE_START;
  l.end = r.end = RANGE_END;
  Querier__V1__DiffRequest rq = QUERIER__V1__DIFF_REQUEST__INIT;
  rq.left = &l;
  rq.right = &r;
  Querier__V1__DiffResponse *pb =
      (void *)call_proto("Diff", &rq.base, &querier__v1__diff_response__descriptor, NULL);
  json_t *js = call_json_ok(
      "Diff", "{\"left\":{\"profileTypeID\":\"" SAMPLES "\",\"labelSelector\":"
              "\"{service_name=\\\"" APP "\\\",region=\\\"eu-north\\\"}\"," RANGE_JSON "},"
              "\"right\":{\"profileTypeID\":\"" SAMPLES "\",\"labelSelector\":"
              "\"{service_name=\\\"" APP "\\\",region=\\\"us-east\\\"}\"," RANGE_JSON "}}");
  json_t *fg = json_object_get(js, "flamegraph");
  char *a = graph_pb(pb->flamegraph->levels, pb->flamegraph->n_levels, pb->flamegraph->names, 7);
  char *b = graph_js(fg, 7, 1);
  assert_string_equal(a, b);
  char target[1024];
  char *lq = it_urlencode(APP ".cpu{region=\"eu-north\"}");
  char *rqs = it_urlencode(APP ".cpu{region=\"us-east\"}");
  snprintf(target, sizeof target,
           "/render-diff?leftQuery=%s&rightQuery=%s&leftFrom=%ld&leftUntil=%ld&rightFrom=%ld"
           "&rightUntil=%ld",
           lq, rqs, TB, TB + 10 * PUSHES - 1, TB, TB + 10 * PUSHES - 1);
  free(lq);
  free(rqs);
  json_t *want = get_json(target);
  json_t *fb = json_object_get(want, "flamebearer");
  char *c = graph_js(fb, 7, 1);
  assert_string_equal(a, c);
  assert_int_equal(pb->flamegraph->leftticks, json_integer_value(json_object_get(want, "leftTicks")));
  assert_int_equal(pb->flamegraph->rightticks,
                   json_integer_value(json_object_get(want, "rightTicks")));
  assert_int_equal(jint(json_object_get(fg, "leftTicks")), pb->flamegraph->leftticks);
  assert_int_equal(pb->flamegraph->total, json_integer_value(json_object_get(fb, "numTicks")));
  assert_int_equal(pb->flamegraph->max_self, json_integer_value(json_object_get(fb, "maxSelf")));
  /* eu-north's lock is on the left only. */
  assert_non_null(strstr(a, ":0:0:mutex_lock\n"));
  free(a);
  free(b);
  free(c);
  json_decref(want);
  json_decref(js);
  protobuf_c_message_free_unpacked(&pb->base, NULL);
}

static void test_grafana_merge_profile_is_the_pprof_export(void **state) {
  Querier__V1__SelectMergeProfileRequest rq = QUERIER__V1__SELECT_MERGE_PROFILE_REQUEST__INIT;
  rq.profile_typeid = CPU;
  rq.label_selector = "{service_name=\"" APP "\",region=\"eu-north\"}";
  rq.start = RANGE_START;
  rq.end = RANGE_END;
  it_resp_t raw;
  Perftools__Profiles__Profile *pb = (void *)call_proto(
      "SelectMergeProfile", &rq.base, &perftools__profiles__profile__descriptor, &raw);
  assert_non_null(pb);
  /* Byte for byte the export of /render?format=pprof, ungzipped. */
  char *q = it_urlencode(APP ".cpu{region=\"eu-north\"}");
  char target[512];
  snprintf(target, sizeof target, "/render?query=%s&from=%ld&until=%ld&format=pprof&maxNodes=-1",
           q, TB, TB + 10 * PUSHES - 1);
  free(q);
  it_resp_t gz;
  it_expect(&srv, 200, "GET", target, NULL, 0, &gz);
  ember_buf_t plain = EMBER_BUF_INIT;
  assert_int_equal(ember_connect_gunzip((const uint8_t *)gz.body, gz.body_len, 64 << 20, &plain,
                                        NULL),
                   0);
  assert_int_equal(raw.body_len, plain.len);
  assert_memory_equal(raw.body, plain.data, plain.len);
  ember_buf_free(&plain);
  it_resp_free(&gz);
  it_resp_free(&raw);
  /* The JSON answer is the same profile. */
  json_t *js = call_json_ok("SelectMergeProfile",
                            "{\"profileTypeID\":\"" CPU "\",\"labelSelector\":\"{service_name="
                            "\\\"" APP "\\\",region=\\\"eu-north\\\"}\"," RANGE_JSON "}");
  json_t *samples = json_object_get(js, "sample");
  assert_int_equal(json_array_size(samples), pb->n_sample);
  long long sum_pb = 0, sum_js = 0;
  for (size_t i = 0; i < pb->n_sample; i++) {
    sum_pb += pb->sample[i]->value[0];
    sum_js += jint(json_array_get(json_object_get(json_array_get(samples, i), "value"), 0));
  }
  assert_int_equal(sum_pb, sum_js);
  json_t *want = render(APP ".cpu{region=\"eu-north\"}", "");
  assert_int_equal(sum_pb, json_integer_value(json_object_get(json_object_get(want, "flamebearer"),
                                                            "numTicks")));
  assert_int_equal(jint(json_object_get(js, "period")), PERIOD);
  json_decref(want);
  json_decref(js);
  protobuf_c_message_free_unpacked(&pb->base, NULL);
}

/* ---- Tests: time series -------------------------------------------------------- */

/* Series as "labels|t=v,t=v" lines (t seconds after TB), from either
 * encoding, and their sum. */
static char *series_pb(const Querier__V1__SelectSeriesResponse *r, double *sum) {
  ember_buf_t b = EMBER_BUF_INIT;
  *sum = 0;
  for (size_t i = 0; i < r->n_series; i++) {
    const Types__V1__Series *s = r->series[i];
    for (size_t k = 0; k < s->n_labels; k++)
      ember_buf_printf(&b, "%s=%s,", s->labels[k]->name, s->labels[k]->value);
    ember_buf_putc(&b, '|');
    for (size_t k = 0; k < s->n_points; k++) {
      ember_buf_printf(&b, "%lld=%.0f,", (long long)(s->points[k]->timestamp / 1000 - TB),
                       s->points[k]->value);
      *sum += s->points[k]->value;
    }
    ember_buf_putc(&b, '\n');
  }
  return take(&b);
}

static char *series_js(json_t *doc) {
  ember_buf_t b = EMBER_BUF_INIT;
  json_t *all = json_object_get(doc, "series");
  for (size_t i = 0; i < json_array_size(all); i++) {
    json_t *s = json_array_get(all, i), *l = json_object_get(s, "labels");
    for (size_t k = 0; k < json_array_size(l); k++)
      ember_buf_printf(&b, "%s=%s,",
                       json_string_value(json_object_get(json_array_get(l, k), "name")),
                       json_string_value(json_object_get(json_array_get(l, k), "value")));
    ember_buf_putc(&b, '|');
    json_t *pts = json_object_get(s, "points");
    for (size_t k = 0; k < json_array_size(pts); k++) {
      json_t *p = json_array_get(pts, k);
      ember_buf_printf(&b, "%lld=%.0f,", jint(json_object_get(p, "timestamp")) / 1000 - TB,
                       json_number_value(json_object_get(p, "value")));
    }
    ember_buf_putc(&b, '\n');
  }
  return take(&b);
}

/* SelectSeries in both encodings (group_by one label or none); the sum of
 * its points. */
static double select_series(const char *type, const char *selector, const char *group_by,
                            double step, char **lines) {
  Querier__V1__SelectSeriesRequest rq = QUERIER__V1__SELECT_SERIES_REQUEST__INIT;
  char *gb = (char *)group_by;
  rq.profile_typeid = (char *)type;
  rq.label_selector = (char *)selector;
  rq.start = RANGE_START;
  rq.end = RANGE_END;
  rq.step = step;
  if (group_by) {
    rq.group_by = &gb;
    rq.n_group_by = 1;
  }
  Querier__V1__SelectSeriesResponse *pb = (void *)call_proto(
      "SelectSeries", &rq.base, &querier__v1__select_series_response__descriptor, NULL);
  assert_non_null(pb);
  json_t *jsel = json_string(selector);
  char *esc = json_dumps(jsel, JSON_ENCODE_ANY);
  json_decref(jsel);
  char req[1024], gbs[64] = "";
  if (group_by) snprintf(gbs, sizeof gbs, ",\"groupBy\":[\"%s\"]", group_by);
  snprintf(req, sizeof req,
           "{\"profileTypeID\":\"%s\",\"labelSelector\":%s," RANGE_JSON ",\"step\":%g%s}", type,
           esc, step, gbs);
  free(esc);
  json_t *js = call_json_ok("SelectSeries", req);
  double sum;
  char *a = series_pb(pb, &sum), *b = series_js(js);
  assert_string_equal(a, b);
  free(b);
  *lines = a;
  json_decref(js);
  protobuf_c_message_free_unpacked(&pb->base, NULL);
  return sum;
}

static void test_grafana_series_follow_the_render_timeline(void **state) {
  char *lines;
  double sum = select_series(SAMPLES, "{service_name=\"" APP "\"}", NULL, 10, &lines);
  /* Point for point /render's timeline (which writes 1 + the sum). */
  json_t *want = render(APP ".cpu{}", "");
  json_t *tl = json_object_get(want, "timeline");
  assert_int_equal(json_integer_value(json_object_get(tl, "startTime")), TB);
  json_t *samples = json_object_get(tl, "samples");
  ember_buf_t b = EMBER_BUF_INIT;
  ember_buf_putc(&b, '|');
  for (size_t i = 0; i < json_array_size(samples); i++) {
    long long v = json_integer_value(json_array_get(samples, i));
    if (v) ember_buf_printf(&b, "%zu=%lld,", i * 10, v - 1);
  }
  ember_buf_putc(&b, '\n');
  char *w = take(&b);
  assert_string_equal(lines, w);
  assert_true(sum == (double)it_ticks(want));
  free(w);
  free(lines);
  /* In nanoseconds: the same, times the period. */
  double ns = select_series(CPU, "{service_name=\"" APP "\"}", NULL, 60, &lines);
  assert_true(ns == (double)it_ticks(want) * PERIOD);
  free(lines);
  json_decref(want);
}

static void test_grafana_series_by_region_sum_to_the_app(void **state) {
  char *whole, *parts;
  double all = select_series(CPU, "{service_name=\"" APP "\"}", NULL, 30, &whole);
  double sum = select_series(CPU, "{service_name=\"" APP "\"}", "region", 30, &parts);
  assert_true(all > 0);
  assert_true(sum == all);
  /* One series per region, each /render's total of that region. */
  for (size_t r = 0; r < 3; r++) {
    char label[64], query[128];
    snprintf(label, sizeof label, "region=%s,|", regions[r]);
    const char *line = strstr(parts, label);
    assert_non_null(line);
    double region_sum = 0;
    for (const char *p = strchr(line, '|') + 1; *p && *p != '\n';) {
      const char *eq = strchr(p, '=');
      region_sum += strtod(eq + 1, NULL);
      p = strchr(p, ',') + 1;
    }
    snprintf(query, sizeof query, APP ".cpu{region=\"%s\"}", regions[r]);
    json_t *want = render(query, "");
    assert_true(region_sum == (double)it_ticks(want) * PERIOD);
    json_decref(want);
  }
  free(whole);
  free(parts);
}

/* ---- Tests: wrong input --------------------------------------------------------- */

/* SelectMergeStacktraces with these fields must fail with status and code
 * in both encodings. */
static void expect_refused(const char *type, const char *selector, int64_t start, int64_t end,
                           int status, const char *code) {
  Querier__V1__SelectMergeStacktracesRequest rq =
      QUERIER__V1__SELECT_MERGE_STACKTRACES_REQUEST__INIT;
  rq.profile_typeid = (char *)type;
  rq.label_selector = (char *)selector;
  rq.start = start;
  rq.end = end;
  it_resp_t r;
  assert_null(call_proto("SelectMergeStacktraces", &rq.base,
                         &querier__v1__select_merge_stacktraces_response__descriptor, &r));
  assert_int_equal(r.status, status);
  json_t *err = it_json(&r);
  assert_string_equal(json_string_value(json_object_get(err, "code")), code);
  json_decref(err);
  it_resp_free(&r);
  json_t *jsel = json_string(selector);
  char *esc = json_dumps(jsel, JSON_ENCODE_ANY);
  json_decref(jsel);
  char req[1024];
  snprintf(req, sizeof req,
           "{\"profileTypeID\":\"%s\",\"labelSelector\":%s,\"start\":\"%lld\",\"end\":\"%lld\"}",
           type, esc, (long long)start, (long long)end);
  free(esc);
  int st;
  json_t *js = call_json("SelectMergeStacktraces", req, &st);
  assert_int_equal(st, status);
  assert_string_equal(json_string_value(json_object_get(js, "code")), code);
  assert_non_null(json_string_value(json_object_get(js, "message")));
  json_decref(js);
}

static void test_grafana_wrong_input_gets_connect_errors(void **state) {
  /* A bad matcher: a regex that does not compile, a missing quote. */
  expect_refused(CPU, "{region=~\"(\"}", RANGE_START, RANGE_END, 400, "invalid_argument");
  expect_refused(CPU, "{region=eu-north}", RANGE_START, RANGE_END, 400, "invalid_argument");
  /* An unknown type: not a profile type ID at all. */
  expect_refused("cpu", "{}", RANGE_START, RANGE_END, 400, "invalid_argument");
  expect_refused("", "{}", RANGE_START, RANGE_END, 400, "invalid_argument");
  /* From after until. */
  expect_refused(CPU, "{}", RANGE_END, RANGE_START, 400, "invalid_argument");
  /* A well-formed type no app has: an empty graph, as Pyroscope answers. */
  json_t *js = call_json_ok("SelectMergeStacktraces",
                            "{\"profileTypeID\":\"wall:wall:nanoseconds:wall:nanoseconds\","
                            RANGE_JSON "}");
  assert_int_equal(jint(json_object_get(json_object_get(js, "flamegraph"), "total")), 0);
  json_decref(js);
  /* The other methods read the same fields the same way. */
  int st;
  js = call_json("SelectSeries", "{\"profileTypeID\":\"" CPU "\",\"labelSelector\":"
                                 "\"{region=~\\\"(\\\"}\"," RANGE_JSON ",\"step\":10}",
                 &st);
  assert_int_equal(st, 400);
  json_decref(js);
  js = call_json("LabelNames", "{\"matchers\":[\"{x=\"]}", &st);
  assert_int_equal(st, 400);
  json_decref(js);
  js = call_json("SelectMergeProfile", "{\"profileTypeID\":\"" CPU "\",\"start\":\"2\","
                                       "\"end\":\"1\"}",
                 &st);
  assert_int_equal(st, 400);
  json_decref(js);
  js = call_json("Diff", "{\"left\":{\"profileTypeID\":\"x\"}}", &st);
  assert_int_equal(st, 400);
  assert_string_equal(json_string_value(json_object_get(js, "code")), "invalid_argument");
  json_decref(js);
  /* A body that is not the message. */
  js = call_json("ProfileTypes", "{\"start\":\"soon\"}", &st);
  assert_int_equal(st, 400);
  json_decref(js);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_grafana_profile_types),
      cmocka_unit_test(test_grafana_label_names_and_values),
      cmocka_unit_test(test_grafana_series),
      cmocka_unit_test(test_grafana_profile_stats),
      cmocka_unit_test(test_grafana_flame_graphs_are_renders),
      cmocka_unit_test(test_grafana_diff_is_render_diff),
      cmocka_unit_test(test_grafana_merge_profile_is_the_pprof_export),
      cmocka_unit_test(test_grafana_series_follow_the_render_timeline),
      cmocka_unit_test(test_grafana_series_by_region_sum_to_the_app),
      cmocka_unit_test(test_grafana_wrong_input_gets_connect_errors),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
