/* Integration: the limits of one push, set by the serve flags
 * --max-stack-depth, --max-apps-per-push, --max-series-per-push and
 * --max-future-skew, and the answers hostile pushes get: deep stacks are
 * cut and counted in /metrics, pushes beyond a limit are refused with a
 * message naming it, and the server's memory stays small. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ember/common.h"
#include "harness.h"

#define T0 1700000000L

static it_server_t srv;

static int setup(void **state) {
  memset(&srv, 0, sizeof srv);
  const char *args[] = {"--max-stack-depth",
                        "5",
                        "--max-apps-per-push",
                        "2",
                        "--max-series-per-push",
                        "3",
                        "--max-future-skew",
                        "1h",
                        NULL};
  it_start(&srv, args);
  return 0;
}

static int teardown(void **state) {
  assert_int_equal(it_stop(&srv), 0);
  it_cleanup(&srv);
  return 0;
}

/* POSTs body to target; returns the status and, when msg is set, the
 * JSON error message (caller frees). */
static int post(const char *target, const char *headers, const void *body, size_t len,
                char **msg) {
  it_resp_t r;
  assert_int_equal(it_http(&srv, "POST", target, headers, body, len, &r), 0);
  int status = r.status;
  if (msg) {
    *msg = NULL;
    if (status != 200) {
      json_t *j = it_json(&r);
      *msg = strdup(json_string_value(json_object_get(j, "error")));
      json_decref(j);
    }
  }
  it_resp_free(&r);
  return status;
}

static void assert_contains(const char *hay, const char *needle) {
  if (!hay || !strstr(hay, needle))
    fail_msg("'%s' does not contain '%s'", hay ? hay : "(none)", needle);
}

/* The value of a metric line "name value" of /metrics, or -1. */
static long metric(const char *name) {
  it_resp_t r;
  it_expect(&srv, 200, "GET", "/metrics", NULL, 0, &r);
  long v = -1;
  char want[128];
  snprintf(want, sizeof want, "\n%s ", name);
  const char *at = strstr(r.body, want);
  if (at) v = strtol(at + strlen(want), NULL, 10);
  it_resp_free(&r);
  return v;
}

/* The server's peak resident memory, in KiB. */
static long peak_rss_kib(void) {
  char path[64], line[256];
  snprintf(path, sizeof path, "/proc/%d/status", (int)srv.pid);
  FILE *f = fopen(path, "r");
  long kib = -1;
  while (f && fgets(line, sizeof line, f))
    if (sscanf(line, "VmHWM: %ld kB", &kib) == 1) break;
  if (f) fclose(f);
  return kib;
}

/* ---- A little protobuf writer for pprof bodies ---------------------------- */

static void pb_field(ember_buf_t *b, uint32_t field, uint64_t v) {
  ember_varint_put(b, (uint64_t)field << 3);
  ember_varint_put(b, v);
}

static void pb_bytes(ember_buf_t *b, uint32_t field, const void *p, size_t n) {
  ember_varint_put(b, (uint64_t)field << 3 | 2);
  ember_varint_put(b, n);
  ember_buf_append(b, p, n);
}

static void pb_msg(ember_buf_t *b, uint32_t field, ember_buf_t *m) {
  pb_bytes(b, field, m->data ? m->data : "", m->len);
  ember_buf_free(m);
}

/* A profile with strings "", "count", "f", "k", "t0".."t<ntypes-1>", then
 * "0".."<nlabels-1>"; ntypes sample types; one location of nlines inlined
 * calls of f; and one sample per label value k=<i> (or one sample without
 * labels when nlabels is 0) naming that location nrefs times, valued 1 in
 * every type. */
static void pprof_body(ember_buf_t *b, size_t ntypes, size_t nlabels, size_t nlines,
                       size_t nrefs) {
  char s[32];
  pb_bytes(b, 6, "", 0);
  pb_bytes(b, 6, "count", 5);
  pb_bytes(b, 6, "f", 1);
  pb_bytes(b, 6, "k", 1);
  for (size_t i = 0; i < ntypes; i++) {
    int n = snprintf(s, sizeof s, "t%zu", i);
    pb_bytes(b, 6, s, (size_t)n);
    ember_buf_t vt = EMBER_BUF_INIT;
    pb_field(&vt, 1, 4 + i);
    pb_field(&vt, 2, 1);
    pb_msg(b, 1, &vt);
  }
  for (size_t i = 0; i < nlabels; i++) {
    int n = snprintf(s, sizeof s, "%zu", i);
    pb_bytes(b, 6, s, (size_t)n);
  }
  ember_buf_t fn = EMBER_BUF_INIT, loc = EMBER_BUF_INIT, line = EMBER_BUF_INIT;
  pb_field(&fn, 1, 1);
  pb_field(&fn, 2, 2);
  pb_msg(b, 5, &fn);
  pb_field(&loc, 1, 1);
  pb_field(&line, 1, 1);
  for (size_t i = 0; i < nlines; i++)
    pb_bytes(&loc, 4, line.data, line.len);
  ember_buf_free(&line);
  pb_msg(b, 4, &loc);
  for (size_t i = 0; i < (nlabels ? nlabels : 1); i++) {
    ember_buf_t smp = EMBER_BUF_INIT, ids = EMBER_BUF_INIT, vals = EMBER_BUF_INIT;
    for (size_t k = 0; k < nrefs; k++)
      ember_varint_put(&ids, 1);
    for (size_t k = 0; k < ntypes; k++)
      ember_varint_put(&vals, 1);
    pb_msg(&smp, 1, &ids);
    pb_msg(&smp, 2, &vals);
    if (nlabels) {
      ember_buf_t l = EMBER_BUF_INIT;
      pb_field(&l, 1, 3);
      pb_field(&l, 2, 4 + ntypes + i);
      pb_msg(&smp, 3, &l);
    }
    pb_msg(b, 2, &smp);
  }
}

/* ---- Tests ------------------------------------------------------------------ */

static void test_deep_stacks_are_cut_at_the_flag_and_counted_in_metrics(void **state) {
  long before = metric("ember_ingest_stacks_truncated_total");
  assert_true(before >= 0);
  assert_int_equal(it_ingest(&srv, "deep.cpu{}", T0, T0 + 10,
                             "a;b;c;d;e;f;g 3\na;b;c;d;x;y 2\na;b;c;d;e 1\n"),
                   200);
  json_t *j = it_render(&srv, "deep.cpu{}", T0, T0 + 10, NULL);
  long total, self;
  assert_true(it_node(j, "[truncated]", &total, &self));
  assert_int_equal(total, 5);
  assert_int_equal(self, 5);
  assert_true(it_node(j, "e", &total, &self)); /* exactly 5 deep: whole */
  assert_int_equal(self, 1);
  assert_false(it_node(j, "g", &total, &self));
  json_decref(j);
  assert_int_equal(metric("ember_ingest_stacks_truncated_total"), before + 2);
}

static void test_pushes_beyond_the_future_skew_or_before_2000_are_422(void **state) {
  char *msg;
  assert_int_equal(
      post("/ingest?name=time.cpu&from=now%2B2h&until=now%2B2h", NULL, "a 1\n", 4, &msg),
      422);
  assert_contains(msg, "to now+1h");
  assert_contains(msg, "--max-future-skew");
  free(msg);
  assert_int_equal(post("/ingest?name=time.cpu&from=now%2B100y", NULL, "a 1\n", 4, &msg),
                   422);
  free(msg);
  assert_int_equal(post("/ingest?name=time.cpu&from=0&until=10", NULL, "a 1\n", 4, &msg),
                   422);
  assert_contains(msg, "before the year 2000");
  free(msg);
  /* Half an hour ahead is within this server's skew. */
  assert_int_equal(post("/ingest?name=time.cpu&from=now%2B30m&until=now%2B30m", NULL,
                        "a 1\n", 4, NULL),
                   200);
}

static void test_too_many_apps_or_series_in_one_push_are_429(void **state) {
  ember_buf_t b = EMBER_BUF_INIT;
  char *msg;
  pprof_body(&b, 3, 0, 1, 1);
  assert_int_equal(post("/ingest?name=many&format=pprof", NULL, b.data, b.len, &msg),
                   429);
  assert_contains(msg, "--max-apps-per-push");
  free(msg);
  ember_buf_reset(&b);
  pprof_body(&b, 2, 2, 1, 1); /* 2 label sets x 2 types = 4 series */
  assert_int_equal(post("/ingest?name=many&format=pprof", NULL, b.data, b.len, &msg),
                   429);
  assert_contains(msg, "--max-series-per-push");
  free(msg);
  ember_buf_reset(&b);
  pprof_body(&b, 1, 3, 1, 1);
  assert_int_equal(post("/ingest?name=many&format=pprof", NULL, b.data, b.len, NULL),
                   200);
  ember_buf_free(&b);
  /* Nothing of the refused pushes was stored. */
  json_t *j = it_render(&srv, "many.t1{}", 0, 2000000000, NULL);
  assert_int_equal(it_ticks(j), 0);
  json_decref(j);
}

static void test_hostile_pprof_and_config_parts_leave_memory_small(void **state) {
  /* The inline fan-out (1,000 inlined lines named 100,000 times: 1.6 GB
   * if expanded) is cut to the depth limit; a 10 MB sample_type_config
   * (some 800 MB inside jansson) is refused by its own cap. */
  ember_buf_t b = EMBER_BUF_INIT;
  pprof_body(&b, 1, 0, 1000, 100000);
  assert_true(b.len < 110000);
  assert_int_equal(post("/ingest?name=fan&format=pprof", NULL, b.data, b.len, NULL), 200);
  ember_buf_t form = EMBER_BUF_INIT;
  ember_buf_puts(&form, "--zz\r\nContent-Disposition: form-data; "
                        "name=\"sample_type_config\"\r\n\r\n[");
  for (int i = 0; i < 3495253; i++)
    ember_buf_puts(&form, i ? ",{}" : "{}");
  ember_buf_puts(&form,
                 "]\r\n--zz\r\nContent-Disposition: form-data; name=\"profile\"\r\n\r\n");
  ember_buf_append(&form, b.data, b.len);
  ember_buf_puts(&form, "\r\n--zz--\r\n");
  char *msg;
  assert_int_equal(post("/ingest?name=fan",
                        "Content-Type: multipart/form-data; boundary=zz\r\n", form.data,
                        form.len, &msg),
                   413);
  assert_contains(msg, "over this field's limit of 64 KiB");
  free(msg);
  long peak = peak_rss_kib();
  fprintf(stderr, "server peak RSS after the hostile pushes: %ld KiB\n", peak);
  assert_true(peak > 0 && peak < 128 * 1024);
  ember_buf_free(&form);
  ember_buf_free(&b);
}

/* One node of the tree format: name, self value, child count. */
static void tree_node(ember_buf_t *b, const char *name, uint64_t value, uint64_t kids) {
  ember_varint_put(b, strlen(name));
  ember_buf_puts(b, name);
  ember_varint_put(b, value);
  ember_varint_put(b, kids);
}

static void test_trees_that_outgrow_the_inflight_budget_are_refused(void **state) {
  /* 20,000 distinct stacks in some 300 KB of tree format: the body fits a
   * 2 MiB budget, its tree (some 4 MB) does not. */
  it_server_t small;
  memset(&small, 0, sizeof small);
  const char *args[] = {"--max-inflight", "2MiB", NULL};
  it_start(&small, args);
  ember_buf_t body = EMBER_BUF_INIT;
  tree_node(&body, "", 0, 1);
  tree_node(&body, "main", 0, 20000);
  for (int i = 0; i < 20000; i++) {
    char f[16], g[16];
    snprintf(f, sizeof f, "f%d", i);
    snprintf(g, sizeof g, "g%d", i);
    tree_node(&body, f, 0, 1);
    tree_node(&body, g, 1, 0);
  }
  it_resp_t r;
  int sent = it_http(&small, "POST", "/ingest?name=big.cpu",
                     "Content-Type: binary/octet-stream+tree\r\n", body.data, body.len, &r);
  /* A small push still goes in: nothing was left held. */
  int after = it_ingest(&small, "big.cpu", T0, T0 + 10, "main;f 1\n");
  int stopped = it_stop(&small); /* before any check can end the test */
  it_cleanup(&small);
  ember_buf_free(&body);
  assert_int_equal(sent, 0);
  if (r.status != 413) fail_msg("expected 413, got %d: %s", r.status, r.body);
  assert_contains(r.body, "--max-inflight");
  it_resp_free(&r);
  assert_int_equal(after, 200);
  assert_int_equal(stopped, 0);
}

static void test_folded_pushes_never_hold_their_whole_tree(void **state) {
  /* The same 20,000 stacks as folded text (440 KB): the store resolves
   * them as text, building trees of 16 KiB of new lines at a time, so the
   * push fits the budget its whole tree would not, and is all stored. */
  it_server_t small;
  memset(&small, 0, sizeof small);
  const char *args[] = {"--max-inflight", "2MiB", NULL};
  it_start(&small, args);
  ember_buf_t body = EMBER_BUF_INIT;
  for (int i = 0; i < 20000; i++) ember_buf_printf(&body, "main;f%d;g%d 1\n", i, i);
  int status = it_ingest(&small, "big.cpu", T0, T0 + 10, body.data);
  json_t *render = status == 200 ? it_render(&small, "big.cpu", T0, T0 + 10, NULL) : NULL;
  long ticks = render ? it_ticks(render) : -1;
  json_decref(render);
  int stopped = it_stop(&small);
  it_cleanup(&small);
  ember_buf_free(&body);
  assert_int_equal(status, 200);
  assert_int_equal(ticks, 20000);
  assert_int_equal(stopped, 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_deep_stacks_are_cut_at_the_flag_and_counted_in_metrics),
      cmocka_unit_test(test_pushes_beyond_the_future_skew_or_before_2000_are_422),
      cmocka_unit_test(test_too_many_apps_or_series_in_one_push_are_429),
      cmocka_unit_test(test_hostile_pprof_and_config_parts_leave_memory_small),
      cmocka_unit_test(test_trees_that_outgrow_the_inflight_budget_are_refused),
      cmocka_unit_test(test_folded_pushes_never_hold_their_whole_tree),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
