/* Integration: the SVG and HTML exports of /render and /render-diff through
 * the real binary read like the web UI: frame labels keep the function,
 * values are in the profile's units, and each export comes with a file
 * name, a diff's naming both sides. */
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
  const char *eu = "main;server:handle (server.py:12);server:mutex_lock (server.py:58) 1000\n"
                   "main;server:handle (server.py:12) 100\n"
                   "main;idle 8900\n";
  const char *us = "main;server:handle (server.py:12) 1100\nmain;idle 8900\n";
  assert_int_equal(it_ingest(&srv, "ride.cpu{region=eu-north}", T0 + 100, T0 + 110, eu), 200);
  assert_int_equal(it_ingest(&srv, "ride.cpu{region=us-east}", T0 + 100, T0 + 110, us), 200);
  /* An app in bytes, pushed with its units. */
  it_resp_t r;
  it_expect(&srv, 200, "POST",
            "/ingest?name=ride.alloc_space%7B%7D&from=1700000100&until=1700000110&units=bytes",
            "main;alloc 276824064\n", 21, &r);
  it_resp_free(&r);
  return 0;
}

static int teardown(void **state) {
  assert_int_equal(it_stop(&srv), 0);
  it_cleanup(&srv);
  return 0;
}

/* GET target expecting 200; the body stays in *r (caller frees). */
static void get(const char *target, it_resp_t *r) {
  it_expect(&srv, 200, "GET", target, NULL, 0, r);
}

static void expect_header(const it_resp_t *r, const char *name, const char *want) {
  char *v = it_header(r, name);
  if (!v || strcmp(v, want)) fail_msg("%s: got '%s', want '%s'", name, v ? v : "(none)", want);
  free(v);
}

#define DIFF                                                                            \
  "/render-diff?leftQuery=ride.cpu%7Bregion%3D%22us-east%22%7D"                        \
  "&rightQuery=ride.cpu%7Bregion%3D%22eu-north%22%7D&leftFrom=1700000000"              \
  "&leftUntil=1700003599&rightFrom=1700000000&rightUntil=1700003599"

static void test_diff_svg_names_both_sides_and_reads_like_the_ui(void **state) {
  it_resp_t r;
  get(DIFF "&format=svg", &r);
  expect_header(&r, "Content-Type", "image/svg+xml");
  expect_header(&r, "Content-Disposition",
                "inline; filename=\"diff_ride.cpu_region_us-east_vs_region_eu-north.svg\"");
  /* The header line of each side: its total as CPU time. */
  assert_non_null(strstr(r.body, ": 1 min 40 s (10,000 samples)</text>"));
  /* mutex_lock's bar is 5% of 1180 px wide (the mean of 0% and 10%): 7
   * characters fit, and they are its function's, not "server:". */
  assert_non_null(strstr(r.body, "<title>server:mutex_lock (server.py:58)\n"
                                 "left: 0 s (0 samples), 0%\n"
                                 "right: 10.0 s (1,000 samples), 10%\n"
                                 "change: +10 pp of the total: 0% \xe2\x86\x92 10%, "
                                 "only on the right</title>"));
  assert_non_null(strstr(r.body, ">mutex_\xe2\x80\xa6</text>"));
  assert_null(strstr(r.body, "\">server:m")); /* a label, not the title */
  /* The handler's bar is wide enough for its name without the location. */
  assert_non_null(strstr(r.body, ">server:handle</text>"));
  it_resp_free(&r);
}

static void test_diff_html_names_both_sides(void **state) {
  it_resp_t r;
  get(DIFF "&format=html", &r);
  expect_header(&r, "Content-Disposition",
                "inline; filename=\"diff_ride.cpu_region_us-east_vs_region_eu-north.html\"");
  assert_non_null(strstr(r.body, "<h1>Diff: ride.cpu{region=&quot;us-east&quot;} &rarr; "));
  assert_non_null(strstr(r.body, "Left: 2023-11-14 "));
  assert_non_null(strstr(r.body, "UTC: 1 min 40 s (10,000 samples)<br>"));
  /* The inlined document is format=json's, function table included. */
  assert_non_null(strstr(r.body, "\"functions\":{\"count\":4,"));
  it_resp_free(&r);
  /* Comparing two ranges of one query: the ranges name the sides. */
  get("/render-diff?leftQuery=ride.cpu%7B%7D&rightQuery=ride.cpu%7B%7D"
      "&leftFrom=1700000000&leftUntil=1700001799&rightFrom=1700001800"
      "&rightUntil=1700003599&format=svg",
      &r);
  expect_header(&r, "Content-Disposition",
                "inline; filename=\"diff_ride.cpu_20231114T221320Z_vs_20231114T224320Z.svg\"");
  it_resp_free(&r);
}

static void test_render_exports_are_named_and_in_their_units(void **state) {
  it_resp_t r;
  get("/render?query=ride.alloc_space%7B%7D&from=1700000000&until=1700003599&format=svg",
      &r);
  expect_header(&r, "Content-Disposition", "inline; filename=\"ride.alloc_space.svg\"");
  assert_non_null(strstr(r.body, "<title>alloc\ntotal: 264 MiB, 100%\n"));
  it_resp_free(&r);
  get("/render?query=ride.alloc_space%7B%7D&from=1700000000&until=1700003599&format=html",
      &r);
  expect_header(&r, "Content-Disposition", "inline; filename=\"ride.alloc_space.html\"");
  assert_non_null(strstr(r.body, "UTC: 264 MiB &middot; "));
  it_resp_free(&r);
  get("/render?query=ride.cpu%7B%7D&from=1700000000&until=1700003599&format=pprof", &r);
  expect_header(&r, "Content-Disposition", "inline; filename=\"ride.cpu.pb.gz\"");
  it_resp_free(&r);
  /* JSON is an API answer, not a file. */
  get("/render?query=ride.cpu%7B%7D&from=1700000000&until=1700003599", &r);
  assert_null(it_header(&r, "Content-Disposition"));
  it_resp_free(&r);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_diff_svg_names_both_sides_and_reads_like_the_ui),
      cmocka_unit_test(test_diff_html_names_both_sides),
      cmocka_unit_test(test_render_exports_are_named_and_in_their_units),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
