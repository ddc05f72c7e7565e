/* Integration: the HTTP API end to end against the real binary. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

#define T0 1700000000L

static it_server_t srv;

static int setup(void **state) {
  memset(&srv, 0, sizeof srv);
  it_start(&srv, NULL);
  assert_int_equal(it_ingest(&srv, "ride.cpu{region=eu-north,vehicle=car}", T0, T0 + 10,
                             "main;order_car;find_nearest 30\n"
                             "main;order_car;check_driver;mutex_lock 20\n"
                             "main;idle 5\n"),
                   200);
  assert_int_equal(it_ingest(&srv, "ride.cpu{vehicle=bike, region=us-east}", T0, T0 + 10,
                             "main;order_bike;find_nearest 10\nmain;idle 5\n"),
                   200);
  assert_int_equal(it_ingest(&srv, "ride.cpu{region=ap-south,vehicle=scooter}", T0,
                             T0 + 10, "main;order_scooter;find_nearest 7\n"),
                   200);
  /* Later data, outside the first window. */
  assert_int_equal(it_ingest(&srv, "ride.cpu{region=eu-north,vehicle=car}", T0 + 600,
                             T0 + 610, "main;late 1000\n"),
                   200);
  return 0;
}

static int teardown(void **state) {
  assert_int_equal(it_stop(&srv), 0);
  it_cleanup(&srv);
  return 0;
}

static long ticks_for(const char *query) {
  json_t *j = it_render(&srv, query, T0, T0 + 60, NULL);
  long t = it_ticks(j);
  json_decref(j);
  return t;
}

static void test_render_merges_every_series_of_the_app(void **state) {
  json_t *j = it_render(&srv, "ride.cpu{}", T0, T0 + 60, NULL);
  assert_int_equal(it_ticks(j), 77);
  long total, self;
  assert_true(it_node(j, "order_car", &total, &self));
  assert_int_equal(total, 50);
  assert_int_equal(self, 0);
  assert_true(it_node(j, "mutex_lock", &total, &self));
  assert_int_equal(self, 20);
  json_t *md = json_object_get(j, "metadata");
  assert_string_equal(json_string_value(json_object_get(md, "format")), "single");
  assert_string_equal(json_string_value(json_object_get(md, "appName")), "ride.cpu");
  assert_int_equal(json_integer_value(json_object_get(md, "sampleRate")), 100);
  json_t *tl = json_object_get(j, "timeline");
  assert_int_equal(json_integer_value(json_object_get(tl, "durationDelta")), 10);
  assert_int_equal(json_integer_value(json_array_get(json_object_get(tl, "samples"), 0)),
                   78); /* 1 + sum */
  json_decref(j);
}

static void test_render_selects_with_each_matcher(void **state) {
  assert_int_equal(ticks_for("ride.cpu{region=\"eu-north\"}"), 55);
  assert_int_equal(ticks_for("ride.cpu{region!=\"eu-north\"}"), 22);
  assert_int_equal(ticks_for("ride.cpu{region=~\"eu-.*|us-.*\"}"), 70);
  assert_int_equal(ticks_for("ride.cpu{region!~\"eu-.*\"}"), 22);
  assert_int_equal(ticks_for("ride.cpu{region=~\"eu\"}"), 0); /* anchored */
  assert_int_equal(ticks_for("ride.cpu{region=\"eu-north\",vehicle=\"car\"}"), 55);
  assert_int_equal(ticks_for("ride.cpu{region=\"eu-north\",vehicle=\"bike\"}"), 0);
  assert_int_equal(ticks_for("ride.cpu{ region = \"us-east\" }"), 15);
  assert_int_equal(ticks_for("nosuch.cpu{}"), 0);
}

static void test_render_respects_the_time_range(void **state) {
  json_t *j = it_render(&srv, "ride.cpu{}", T0 + 600, T0 + 700, NULL);
  assert_int_equal(it_ticks(j), 1000);
  json_decref(j);
  j = it_render(&srv, "ride.cpu{}", T0, T0 + 700, NULL);
  assert_int_equal(it_ticks(j), 1077);
  json_decref(j);
}

static void test_render_truncates_to_max_nodes_with_other(void **state) {
  json_t *j = it_render(&srv, "ride.cpu{}", T0, T0 + 60, "maxNodes=3");
  long total, self;
  assert_int_equal(it_ticks(j), 77);
  assert_true(it_node(j, "other", &total, &self));
  assert_false(it_node(j, "mutex_lock", &total, &self));
  json_decref(j);
}

static void test_render_collapsed_prints_folded_lines(void **state) {
  char *q = it_urlencode("ride.cpu{vehicle=\"bike\"}");
  char target[512];
  snprintf(target, sizeof target, "/render?query=%s&from=%ld&until=%ld&format=collapsed",
           q, T0, T0 + 60);
  free(q);
  it_resp_t r;
  it_expect(&srv, 200, "GET", target, NULL, 0, &r);
  assert_string_equal(r.body, "main;idle 5\nmain;order_bike;find_nearest 10\n");
  it_resp_free(&r);
}

static void test_render_diff_puts_both_sides_in_one_tree(void **state) {
  char *l = it_urlencode("ride.cpu{vehicle=\"bike\"}");
  char *rq = it_urlencode("ride.cpu{vehicle=\"car\"}");
  char target[1024];
  snprintf(target, sizeof target,
           "/render-diff?leftQuery=%s&leftFrom=%ld&leftUntil=%ld&rightQuery=%s"
           "&rightFrom=%ld&rightUntil=%ld",
           l, T0, T0 + 60, rq, T0, T0 + 60);
  free(l);
  free(rq);
  it_resp_t r;
  it_expect(&srv, 200, "GET", target, NULL, 0, &r);
  json_t *j = it_json(&r);
  assert_int_equal(json_integer_value(json_object_get(j, "leftTicks")), 15);
  assert_int_equal(json_integer_value(json_object_get(j, "rightTicks")), 55);
  json_t *fb = json_object_get(j, "flamebearer");
  assert_int_equal(json_integer_value(json_object_get(fb, "numTicks")), 70);
  json_t *root = json_array_get(json_object_get(fb, "levels"), 0);
  assert_int_equal(json_array_size(root), 7);
  assert_string_equal(
      json_string_value(json_object_get(json_object_get(j, "metadata"), "format")),
      "double");
  json_decref(j);
  it_resp_free(&r);
}

static void test_labels_and_label_values_list_what_was_pushed(void **state) {
  it_resp_t r;
  it_expect(&srv, 200, "GET", "/labels?query=ride.cpu%7B%7D", NULL, 0, &r);
  assert_string_equal(r.body, "[\"__name__\",\"region\",\"vehicle\"]");
  it_resp_free(&r);
  it_expect(&srv, 200, "GET", "/label-values?label=region&query=ride.cpu%7B%7D", NULL,
            0, &r);
  assert_string_equal(r.body, "[\"ap-south\",\"eu-north\",\"us-east\"]");
  it_resp_free(&r);
  it_expect(&srv, 200, "GET",
            "/label-values?label=vehicle&query=ride.cpu%7Bregion%3D%22eu-north%22%7D",
            NULL, 0, &r);
  assert_string_equal(r.body, "[\"car\"]");
  it_resp_free(&r);
  it_expect(&srv, 200, "GET", "/label-values?label=__name__", NULL, 0, &r);
  assert_string_equal(r.body, "[\"ride.cpu\"]");
  it_resp_free(&r);
}

static void test_apps_lists_metadata(void **state) {
  it_resp_t r;
  it_expect(&srv, 200, "GET", "/api/apps", NULL, 0, &r);
  json_t *j = it_json(&r);
  assert_int_equal(json_array_size(j), 1);
  json_t *a = json_array_get(j, 0);
  assert_string_equal(json_string_value(json_object_get(a, "name")), "ride.cpu");
  assert_string_equal(json_string_value(json_object_get(a, "spyName")), "unknown");
  assert_string_equal(json_string_value(json_object_get(a, "units")), "samples");
  json_decref(j);
  it_resp_free(&r);
}

static void test_healthz_metrics_and_ui_answer(void **state) {
  it_resp_t r;
  it_expect(&srv, 200, "GET", "/healthz", NULL, 0, &r);
  assert_string_equal(r.body, "server is ready\n");
  it_resp_free(&r);
  it_expect(&srv, 200, "GET", "/metrics", NULL, 0, &r);
  assert_non_null(strstr(r.body, "ember_ingest_profiles_total 4\n"));
  assert_non_null(strstr(r.body, "ember_http_requests_total{route=\"/ingest\",code=\"200\"} 4\n"));
  assert_non_null(strstr(r.body, "ember_db_size_bytes "));
  it_resp_free(&r);
  it_expect(&srv, 200, "GET", "/", NULL, 0, &r);
  char *ct = it_header(&r, "Content-Type"), *etag = it_header(&r, "ETag");
  assert_string_equal(ct, "text/html; charset=utf-8");
  assert_non_null(etag);
  it_resp_free(&r);
  char hdr[128];
  snprintf(hdr, sizeof hdr, "If-None-Match: %s\r\n", etag);
  assert_int_equal(it_http(&srv, "GET", "/", hdr, NULL, 0, &r), 0);
  assert_int_equal(r.status, 304);
  it_resp_free(&r);
  free(ct);
  free(etag);
}

static void test_delete_app_removes_it_and_its_data(void **state) {
  assert_int_equal(it_ingest(&srv, "gone.cpu{}", T0, T0 + 10, "a;b 5\n"), 200);
  assert_int_equal(ticks_for("gone.cpu{}"), 5);
  it_resp_t r;
  const char body[] = "{\"name\": \"gone.cpu\"}";
  it_expect(&srv, 200, "DELETE", "/api/apps", body, sizeof body - 1, &r);
  it_resp_free(&r);
  assert_int_equal(ticks_for("gone.cpu{}"), 0);
  it_expect(&srv, 404, "DELETE", "/api/apps", body, sizeof body - 1, &r);
  it_resp_free(&r);
  it_expect(&srv, 200, "GET", "/api/apps", NULL, 0, &r);
  assert_null(strstr(r.body, "gone.cpu"));
  it_resp_free(&r);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_render_merges_every_series_of_the_app),
      cmocka_unit_test(test_render_selects_with_each_matcher),
      cmocka_unit_test(test_render_respects_the_time_range),
      cmocka_unit_test(test_render_truncates_to_max_nodes_with_other),
      cmocka_unit_test(test_render_collapsed_prints_folded_lines),
      cmocka_unit_test(test_render_diff_puts_both_sides_in_one_tree),
      cmocka_unit_test(test_labels_and_label_values_list_what_was_pushed),
      cmocka_unit_test(test_apps_lists_metadata),
      cmocka_unit_test(test_healthz_metrics_and_ui_answer),
      cmocka_unit_test(test_delete_app_removes_it_and_its_data),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
