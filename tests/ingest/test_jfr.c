/* Tests for the JFR reader (src/ingest/jfr_*.c): recordings to series.
 *
 * tests/data/jfr/ holds a recording of examples/java/HotMethods.java by the
 * JDK's own recorder, whose stacks must be exactly what the JDK's reader
 * (`jfr print --json`) sees in it, and recordings written the way
 * async-profiler writes them from a model (make_fixtures.py) covering
 * context ids, every string encoding, several chunks, uncompressed
 * integers and event types Ember does not read; hostile/ holds broken and
 * hostile recordings with the answer each must get. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ember/ingest.h"
#include "ingest/ingest_int.h"
#include "ingest/jfr_int.h"
#include "ingest/pprof_test_util.h"

#define MAX_BODY ((size_t)32 << 20)
#define FORM_TYPE "multipart/form-data; boundary=XyZ"

static void base_init(ember_profile_t *p, const char *name) {
  memset(p, 0, sizeof *p);
  ember_err_t err;
  if (ember_series_key_parse(name, strlen(name), &p->key, &err)) fail_msg("%s", err.msg);
  p->from = 1700000000;
  p->until = 1700000010;
  p->sample_rate = 100;
  p->spy_name = strdup("javaspy");
  p->units = strdup("samples");
}

/* A push with the given limits (NULL: the defaults) and budget. */
static int push(const char *name, const char *event, const char *content_type,
                const void *body, size_t len, const ember_ingest_limits_t *lim,
                ember_budget_t *budget, ember_ingest_result_t *res, uint64_t *truncated,
                ember_err_t *err) {
  ember_profile_t base;
  base_init(&base, name);
  ingest_ctx_t c;
  ingest_ctx_init(&c, lim, MAX_BODY, budget);
  int rc = ingest_jfr(&base, event, content_type, body, len, &c, res, err);
  if (truncated) *truncated = c.truncated;
  ingest_mem_release(&c);
  ember_profile_free(&base);
  return rc;
}

static ember_ingest_result_t push_ok(const char *event, const char *content_type,
                                     const void *body, size_t len) {
  ember_ingest_result_t res;
  ember_err_t err;
  int rc = push("app{env=test}", event, content_type, body, len, NULL, NULL, &res, NULL,
                &err);
  if (rc) fail_msg("push failed (%d): %s", rc, err.msg);
  return res;
}

/* A form: "jfr" and, unless labels is NULL, "labels". Caller frees. */
static char *form(const void *jfr, size_t jlen, const void *labels, size_t llen,
                  size_t *len) {
  ember_buf_t b = EMBER_BUF_INIT;
  ember_buf_puts(&b, "--XyZ\r\nContent-Disposition: form-data; name=\"jfr\"; "
                     "filename=\"jfr\"\r\nContent-Type: application/octet-stream\r\n\r\n");
  ember_buf_append(&b, jfr, jlen);
  if (labels) {
    ember_buf_puts(&b, "\r\n--XyZ\r\nContent-Disposition: form-data; name=\"labels\"; "
                       "filename=\"labels\"\r\n\r\n");
    ember_buf_append(&b, labels, llen);
  }
  ember_buf_puts(&b, "\r\n--XyZ--\r\n");
  return ember_buf_take(&b, len);
}

static void assert_dump(ember_ingest_result_t *res, const char *expected_file) {
  size_t elen;
  char *expected = read_fixture(expected_file, &elen);
  char *dump = result_dump(res);
  assert_string_equal(dump, expected);
  free(dump);
  free(expected);
}

static const ember_profile_t *find_app(const ember_ingest_result_t *r, const char *app) {
  for (size_t i = 0; i < r->n; i++)
    if (!strcmp(r->items[i].key.app, app)) return &r->items[i];
  return NULL;
}

/* ---- Real and modelled recordings ------------------------------------------------- */

static void test_jfr_reads_the_jdk_recording_as_the_jdk_reader_sees_it(void **state) {
  size_t len;
  char *gz = read_fixture("jfr/jdk17_hot.jfr.gz", &len);
  ember_ingest_result_t res = push_ok(NULL, NULL, gz, len);
  assert_dump(&res, "jfr/jdk17_hot.expected");
  const ember_profile_t *cpu = find_app(&res, "app.cpu");
  assert_non_null(cpu);
  assert_string_equal(cpu->units, "samples");
  assert_string_equal(cpu->spy_name, "javaspy");
  const ember_profile_t *bytes = find_app(&res, "app.alloc_in_new_tlab_bytes");
  assert_non_null(bytes);
  assert_string_equal(bytes->units, "bytes");
  const ember_profile_t *lock = find_app(&res, "app.lock_duration");
  assert_non_null(lock);
  assert_string_equal(lock->units, "lock_nanoseconds");
  ember_ingest_result_free(&res);
  free(gz);
}

static void test_jfr_resolves_context_ids_through_the_labels_part(void **state) {
  size_t jlen, llen, flen;
  char *jfr = read_fixture("jfr/asprof.jfr", &jlen);
  char *labels = read_fixture("jfr/asprof.labels", &llen);
  char *body = form(jfr, jlen, labels, llen, &flen);
  ember_ingest_result_t res = push_ok("cpu", FORM_TYPE, body, flen);
  assert_dump(&res, "jfr/asprof.expected");
  /* One sample names context 99, which the labels part does not have. */
  assert_int_equal(res.unknown_contexts, 1);
  const ember_profile_t *live = find_app(&res, "app.live");
  assert_non_null(live);
  assert_int_equal(live->aggregation, EMBER_AGG_AVERAGE);
  ember_ingest_result_free(&res);
  /* Gzipped labels read the same. */
  size_t gzlen;
  uint8_t *gz = gzip_bytes(labels, llen, &gzlen);
  free(body);
  body = form(jfr, jlen, gz, gzlen, &flen);
  res = push_ok("cpu", FORM_TYPE, body, flen);
  assert_dump(&res, "jfr/asprof.expected");
  ember_ingest_result_free(&res);
  free(gz);
  free(body);
  free(labels);
  free(jfr);
}

static void test_jfr_without_labels_counts_every_context_as_unknown(void **state) {
  size_t len;
  char *jfr = read_fixture("jfr/asprof.jfr", &len);
  ember_ingest_result_t res = push_ok(NULL, NULL, jfr, len);
  assert_dump(&res, "jfr/asprof_nolabels.expected");
  assert_int_equal(res.unknown_contexts, 7);
  ember_ingest_result_free(&res);
  free(jfr);
}

static void test_jfr_reads_uncompressed_integers_alike(void **state) {
  size_t jlen, llen, flen;
  char *jfr = read_fixture("jfr/uncompressed.jfr", &jlen);
  char *labels = read_fixture("jfr/asprof.labels", &llen);
  char *body = form(jfr, jlen, labels, llen, &flen);
  ember_ingest_result_t res = push_ok(NULL, FORM_TYPE, body, flen);
  assert_dump(&res, "jfr/asprof.expected");
  ember_ingest_result_free(&res);
  free(body);
  free(labels);
  free(jfr);
}

static void test_jfr_wall_counts_every_sample_and_cpu_the_running_ones(void **state) {
  size_t jlen, llen, flen;
  char *jfr = read_fixture("jfr/asprof.jfr", &jlen);
  char *labels = read_fixture("jfr/asprof.labels", &llen);
  char *body = form(jfr, jlen, labels, llen, &flen);
  ember_ingest_result_t res = push_ok("wall", FORM_TYPE, body, flen);
  assert_dump(&res, "jfr/asprof_wall.expected");
  ember_ingest_result_free(&res);
  free(body);
  free(labels);
  free(jfr);
}

static void test_jfr_event_names_the_sample_app(void **state) {
  size_t len;
  char *jfr = read_fixture("jfr/asprof.jfr", &len);
  ember_ingest_result_t res = push_ok("itimer", NULL, jfr, len);
  assert_non_null(find_app(&res, "app.itimer"));
  assert_null(find_app(&res, "app.cpu"));
  ember_ingest_result_free(&res);
  res = push_ok("alloc", NULL, jfr, len); /* samples of an alloc run are cpu */
  assert_non_null(find_app(&res, "app.cpu"));
  assert_non_null(find_app(&res, "app.alloc_in_new_tlab_bytes"));
  ember_ingest_result_free(&res);
  free(jfr);
}

static void test_jfr_drops_an_app_suffix_already_on_the_name(void **state) {
  size_t len;
  char *jfr = read_fixture("jfr/asprof.jfr", &len);
  ember_ingest_result_t res;
  ember_err_t err;
  assert_int_equal(push("app.itimer{env=test}", "cpu", NULL, jfr, len, NULL, NULL, &res,
                        NULL, &err),
                   0);
  assert_non_null(find_app(&res, "app.cpu"));
  assert_non_null(find_app(&res, "app.lock_count"));
  assert_null(find_app(&res, "app.itimer.cpu"));
  ember_ingest_result_free(&res);
  free(jfr);
}

static void test_jfr_refuses_an_unknown_event(void **state) {
  size_t len;
  char *jfr = read_fixture("jfr/asprof.jfr", &len);
  ember_ingest_result_t res = {.n = 77};
  ember_err_t err;
  assert_int_equal(push("app", "cycles", NULL, jfr, len, NULL, NULL, &res, NULL, &err),
                   EMBER_EINVAL);
  assert_non_null(strstr(err.msg, "event: expected cpu, itimer, wall, alloc or lock"));
  assert_int_equal(res.n, 77);
  free(jfr);
}

/* ---- Broken and hostile recordings ---------------------------------------------------- */

/* Every prefix of a recording fails with a 422, but for the ones ending where
 * a chunk ends: those are whole recordings of fewer chunks. */
static void test_jfr_refuses_every_truncation(void **state) {
  size_t len;
  char *jfr = read_fixture("jfr/asprof.jfr", &len);
  size_t first = 0;
  for (int i = 0; i < 8; i++)
    first = first << 8 | (uint8_t)jfr[8 + i]; /* the first chunk's size */
  size_t ok = 0;
  for (size_t n = 0; n < len; n++) {
    ember_ingest_result_t res = {.n = 77};
    ember_err_t err;
    int rc = push("app", NULL, NULL, jfr, n, NULL, NULL, &res, NULL, &err);
    if (rc == EMBER_OK) {
      assert_int_equal(n, first);
      ember_ingest_result_free(&res);
      ok++;
      continue;
    }
    if (rc != EMBER_EPARSE) fail_msg("prefix of %zu bytes: %d (%s)", n, rc, err.msg);
    assert_int_equal(res.n, 77);
    assert_non_null(strstr(err.msg, "jfr: "));
  }
  assert_int_equal(ok, 1);
  free(jfr);
}

static void test_jfr_answers_each_hostile_recording_as_its_manifest_says(void **state) {
  size_t mlen;
  char *manifest = read_fixture("jfr/hostile/manifest.txt", &mlen);
  size_t checked = 0;
  for (char *line = strtok(manifest, "\n"); line; line = strtok(NULL, "\n")) {
    char name[128], path[200];
    int code, at = 0;
    if (sscanf(line, "%127s %d %n", name, &code, &at) < 2) fail_msg("bad line: %s", line);
    snprintf(path, sizeof path, "jfr/hostile/%s", name);
    size_t len;
    char *jfr = read_fixture(path, &len);
    ember_ingest_result_t res = {.n = 77};
    ember_err_t err = {0};
    int rc = push("app", NULL, NULL, jfr, len, NULL, NULL, &res, NULL, &err);
    if (rc != code) fail_msg("%s: got %d (%s), want %d", name, rc, err.msg, code);
    if (rc == EMBER_OK) {
      ember_ingest_result_free(&res);
    } else {
      assert_int_equal(res.n, 77);
      if (!strstr(err.msg, line + at))
        fail_msg("%s: message '%s' does not say '%s'", name, err.msg, line + at);
    }
    free(jfr);
    checked++;
  }
  assert_true(checked >= 15);
  free(manifest);
}

static void test_jfr_refuses_a_form_without_a_recording(void **state) {
  const char body[] = "--XyZ\r\nContent-Disposition: form-data; name=\"labels\"\r\n\r\n"
                      "x\r\n--XyZ--\r\n";
  ember_ingest_result_t res;
  ember_err_t err;
  assert_int_equal(push("app", NULL, FORM_TYPE, body, sizeof body - 1, NULL, NULL, &res,
                        NULL, &err),
                   EMBER_EPARSE);
  assert_non_null(strstr(err.msg, "no 'jfr' field (the form has 'labels')"));
}

static void test_jfr_refuses_labels_that_are_not_a_snapshot(void **state) {
  size_t jlen, flen;
  char *jfr = read_fixture("jfr/asprof.jfr", &jlen);
  char *body = form(jfr, jlen, "\xff\xff\xff", 3, &flen);
  ember_ingest_result_t res;
  ember_err_t err;
  assert_int_equal(push("app", NULL, FORM_TYPE, body, flen, NULL, NULL, &res, NULL, &err),
                   EMBER_EPARSE);
  assert_non_null(strstr(err.msg, "labels: not a labels snapshot"));
  free(body);
  free(jfr);
}

/* A snapshot of one context (id 1) with one label. */
static ember_buf_t snapshot(const char *key, const char *value) {
  ember_buf_t snap = EMBER_BUF_INIT, ctx = EMBER_BUF_INIT, kv = EMBER_BUF_INIT,
              entry = EMBER_BUF_INIT, s = EMBER_BUF_INIT;
  pbw_varint(&kv, 1, 10);
  pbw_varint(&kv, 2, 11);
  pbw_msg(&ctx, 1, &kv);
  pbw_varint(&entry, 1, 1);
  pbw_msg(&entry, 2, &ctx);
  pbw_msg(&snap, 1, &entry);
  const char *texts[] = {key, value};
  for (int i = 0; i < 2; i++) {
    pbw_varint(&s, 1, 10 + (uint64_t)i);
    pbw_bytes(&s, 2, texts[i], strlen(texts[i]));
    pbw_msg(&snap, 2, &s);
  }
  return snap;
}

static void test_jfr_refuses_a_context_label_ember_cannot_store(void **state) {
  size_t jlen, flen;
  char *jfr = read_fixture("jfr/asprof.jfr", &jlen);
  ember_buf_t snap = snapshot("route", "/a,b");
  char *body = form(jfr, jlen, snap.data, snap.len, &flen);
  ember_ingest_result_t res;
  ember_err_t err;
  assert_int_equal(push("app", NULL, FORM_TYPE, body, flen, NULL, NULL, &res, NULL, &err),
                   EMBER_EPARSE);
  assert_non_null(strstr(err.msg, "labels: context 1:"));
  assert_non_null(strstr(err.msg, "route"));
  free(body);
  ember_buf_free(&snap);
  /* A context's label wins over the name's. */
  snap = snapshot("env", "prod");
  body = form(jfr, jlen, snap.data, snap.len, &flen);
  res = push_ok(NULL, FORM_TYPE, body, flen);
  bool prod = false;
  for (size_t i = 0; i < res.n; i++)
    prod |= !strcmp(res.items[i].key.labels[0].value, "prod");
  assert_true(prod);
  ember_ingest_result_free(&res);
  free(body);
  ember_buf_free(&snap);
  free(jfr);
}

static void test_jfr_keeps_to_the_series_and_app_limits(void **state) {
  size_t jlen, llen, flen;
  char *jfr = read_fixture("jfr/asprof.jfr", &jlen);
  char *labels = read_fixture("jfr/asprof.labels", &llen);
  char *body = form(jfr, jlen, labels, llen, &flen);
  ember_ingest_result_t res;
  ember_err_t err;
  ember_ingest_limits_t lim = {.max_series = 3};
  assert_int_equal(push("app", NULL, FORM_TYPE, body, flen, &lim, NULL, &res, NULL, &err),
                   EMBER_ELIMIT);
  assert_non_null(strstr(err.msg, "--max-series-per-push"));
  ember_ingest_limits_t apps = {.max_apps = 2};
  assert_int_equal(push("app", NULL, FORM_TYPE, body, flen, &apps, NULL, &res, NULL, &err),
                   EMBER_ELIMIT);
  assert_non_null(strstr(err.msg, "--max-apps-per-push"));
  free(body);
  free(labels);
  free(jfr);
}

static void test_jfr_cuts_deep_stacks_at_the_depth_limit(void **state) {
  size_t len;
  char *jfr = read_fixture("jfr/asprof.jfr", &len);
  ember_ingest_result_t res;
  ember_err_t err;
  uint64_t truncated = 0;
  ember_ingest_limits_t lim = {.max_stack_depth = 2};
  assert_int_equal(push("app", NULL, NULL, jfr, len, &lim, NULL, &res, &truncated, &err),
                   EMBER_OK);
  assert_true(truncated > 0);
  char *dump = result_dump(&res);
  assert_non_null(strstr(dump, "app.cpu{} demo/Main.main;[truncated] "));
  assert_non_null(strstr(dump, "app.cpu{} demo/Main.main;demo/Main.work 5\n"));
  free(dump);
  ember_ingest_result_free(&res);
  free(jfr);
}

static void test_jfr_takes_what_it_holds_from_the_budget(void **state) {
  size_t len;
  char *gz = read_fixture("jfr/jdk17_hot.jfr.gz", &len);
  ember_budget_t budget = {0, (size_t)64 << 10};
  ember_ingest_result_t res;
  ember_err_t err;
  int rc = push("app", NULL, NULL, gz, len, NULL, &budget, &res, NULL, &err);
  assert_true(rc == EMBER_EBUSY || rc == EMBER_ETOOBIG);
  assert_int_equal(ember_budget_used(&budget), 0); /* all given back */
  budget.limit = (size_t)256 << 20;
  assert_int_equal(push("app", NULL, NULL, gz, len, NULL, &budget, &res, NULL, &err), 0);
  assert_int_equal(ember_budget_used(&budget), 0);
  ember_ingest_result_free(&res);
  free(gz);
}

static void test_jfr_public_entry_point_reads_a_recording(void **state) {
  size_t len;
  char *jfr = read_fixture("jfr/asprof.jfr", &len);
  ember_profile_t base;
  base_init(&base, "app{env=test}");
  ember_ingest_result_t res;
  ember_err_t err;
  assert_int_equal(ember_ingest_jfr(&base, NULL, NULL, (const uint8_t *)jfr, len, MAX_BODY,
                                    &res, &err),
                   0);
  assert_dump(&res, "jfr/asprof_nolabels.expected");
  assert_true(res.mem_bytes > 0);
  ember_ingest_result_free(&res);
  ember_profile_free(&base);
  free(jfr);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_jfr_reads_the_jdk_recording_as_the_jdk_reader_sees_it),
      cmocka_unit_test(test_jfr_resolves_context_ids_through_the_labels_part),
      cmocka_unit_test(test_jfr_without_labels_counts_every_context_as_unknown),
      cmocka_unit_test(test_jfr_reads_uncompressed_integers_alike),
      cmocka_unit_test(test_jfr_wall_counts_every_sample_and_cpu_the_running_ones),
      cmocka_unit_test(test_jfr_event_names_the_sample_app),
      cmocka_unit_test(test_jfr_drops_an_app_suffix_already_on_the_name),
      cmocka_unit_test(test_jfr_refuses_an_unknown_event),
      cmocka_unit_test(test_jfr_refuses_every_truncation),
      cmocka_unit_test(test_jfr_answers_each_hostile_recording_as_its_manifest_says),
      cmocka_unit_test(test_jfr_refuses_a_form_without_a_recording),
      cmocka_unit_test(test_jfr_refuses_labels_that_are_not_a_snapshot),
      cmocka_unit_test(test_jfr_refuses_a_context_label_ember_cannot_store),
      cmocka_unit_test(test_jfr_keeps_to_the_series_and_app_limits),
      cmocka_unit_test(test_jfr_cuts_deep_stacks_at_the_depth_limit),
      cmocka_unit_test(test_jfr_takes_what_it_holds_from_the_budget),
      cmocka_unit_test(test_jfr_public_entry_point_reads_a_recording),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
