/* Tests for src/ingest/pprof_series.c: pprof pushes to series. The real
 * profiles in tests/data/pprof/ (captured from runtime/pprof and
 * @pyroscope/nodejs) must give exactly the stacks `go tool pprof -raw` sees
 * in them; hand-made profiles cover each rule on its own. */
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
#include "ingest/pprof_test_util.h"

#define MAX_BODY ((size_t)32 << 20)

/* The request's side: name, times, rate, spy name. */
typedef struct {
  ember_profile_t p;
} base_t;

static void base_init(base_t *b, const char *name) {
  memset(b, 0, sizeof *b);
  ember_err_t err;
  if (ember_series_key_parse(name, strlen(name), &b->p.key, &err)) fail_msg("%s", err.msg);
  b->p.from = 1700000000;
  b->p.until = 1700000010;
  b->p.sample_rate = 17; /* what @pyroscope/nodejs sends: not the real rate */
  b->p.spy_name = strdup("gospy");
  b->p.units = strdup("samples");
}

static ember_ingest_result_t ingest_ok(const char *name, const char *content_type,
                                       const void *body, size_t len) {
  base_t b;
  base_init(&b, name);
  ember_ingest_result_t res;
  ember_err_t err;
  int rc = ember_ingest_pprof(&b.p, content_type, body, len, MAX_BODY, &res, &err);
  ember_profile_free(&b.p);
  if (rc) fail_msg("ingest failed (%d): %s", rc, err.msg);
  return res;
}

static const char *ingest_error(const char *name, const void *body, size_t len,
                                int code) {
  static ember_err_t err;
  base_t b;
  base_init(&b, name);
  ember_ingest_result_t res = {.items = NULL, .n = 77};
  int rc = ember_ingest_pprof(&b.p, NULL, body, len, MAX_BODY, &res, &err);
  ember_profile_free(&b.p);
  if (rc != code) fail_msg("gave %d (%s), want %d", rc, err.msg, code);
  assert_int_equal(res.n, 77); /* untouched on failure */
  return err.msg;
}

/* A push with the given limits (NULL: the defaults); *truncated gets the
 * count of cut stacks. The error, if any, is in err. */
static int ingest_with(const ember_ingest_limits_t *lim, const char *content_type,
                       const void *body, size_t len, ember_ingest_result_t *res,
                       uint64_t *truncated, ember_err_t *err) {
  base_t b;
  base_init(&b, "app");
  ingest_ctx_t c;
  ingest_ctx_init(&c, lim, MAX_BODY, NULL);
  int rc = ingest_pprof(&b.p, content_type, body, len, &c, res, err);
  ember_profile_free(&b.p);
  if (truncated) *truncated = c.truncated;
  return rc;
}

/* The dump of a fixture pushed raw (or as a form when a .type file is
 * given), compared with an .expected file. */
static void assert_fixture(const char *body_file, const char *type_file,
                           const char *expected_file, ember_ingest_result_t *keep) {
  size_t len, tlen, elen;
  char *body = read_fixture(body_file, &len);
  char *type = type_file ? read_fixture(type_file, &tlen) : NULL;
  if (type) type[strcspn(type, "\r\n")] = '\0';
  char *expected = read_fixture(expected_file, &elen);
  ember_ingest_result_t res = ingest_ok("app", type, body, len);
  char *dump = result_dump(&res);
  assert_string_equal(dump, expected);
  free(dump);
  free(body);
  free(type);
  free(expected);
  if (keep)
    *keep = res;
  else
    ember_ingest_result_free(&res);
}

static void assert_contains(const char *hay, const char *needle) {
  if (!strstr(hay, needle)) fail_msg("'%s' does not contain '%s'", hay, needle);
}

/* ---- Real profiles ------------------------------------------------------- */

static void test_pprof_go_cpu_profile_matches_go_tool_pprof(void **state) {
  ember_ingest_result_t res;
  assert_fixture("pprof/go_cpu.pb.gz", NULL, "pprof/go_cpu.expected", &res);
  /* samples and cpu nanoseconds are one measurement: only .cpu, counted in
   * samples, at the 100 Hz the 10 ms period says. */
  for (size_t i = 0; i < res.n; i++) {
    const ember_profile_t *p = &res.items[i];
    assert_string_equal(p->key.app, "app.cpu");
    assert_string_equal(p->units, "samples");
    assert_int_equal(p->sample_rate, 100);
    assert_int_equal(p->aggregation, EMBER_AGG_SUM);
    assert_string_equal(p->spy_name, "gospy");
    assert_int_equal(p->from, 1700000000);
    assert_int_equal(p->until, 1700000010);
  }
  assert_non_null(result_find(&res, "app.cpu", "vehicle=car"));
  assert_non_null(result_find(&res, "app.cpu", ""));
  ember_ingest_result_free(&res);
}

static void test_pprof_uncompressed_profile_reads_the_same(void **state) {
  assert_fixture("pprof/go_cpu.pb", NULL, "pprof/go_cpu.expected", NULL);
}

static void test_pprof_multipart_form_from_go_reads_the_same(void **state) {
  assert_fixture("pprof/go_cpu_multipart.body", "pprof/go_cpu_multipart.type",
                 "pprof/go_cpu.expected", NULL);
}

static void test_pprof_heap_profile_gives_an_app_per_type(void **state) {
  ember_ingest_result_t res;
  assert_fixture("pprof/go_heap.pb.gz", NULL, "pprof/go_heap.expected", &res);
  static const struct {
    const char *app, *units;
    ember_aggregation_t agg;
  } want[] = {{"app.alloc_objects", "objects", EMBER_AGG_SUM},
              {"app.alloc_space", "bytes", EMBER_AGG_SUM},
              {"app.inuse_objects", "objects", EMBER_AGG_AVERAGE},
              {"app.inuse_space", "bytes", EMBER_AGG_AVERAGE}};
  for (size_t i = 0; i < 4; i++) {
    const ember_profile_t *p = result_find(&res, want[i].app, "");
    assert_non_null(p);
    assert_string_equal(p->units, want[i].units);
    assert_int_equal(p->aggregation, want[i].agg);
    assert_int_equal(p->sample_rate, 17); /* the period is in bytes: no rate */
  }
  assert_int_equal(res.n, 4);
  ember_ingest_result_free(&res);
}

static void test_pprof_prev_profile_is_subtracted_from_cumulative_types(void **state) {
  /* The form also carries sample_type_config, as pyroscope-go sends it. */
  assert_fixture("pprof/go_heap_multipart.body", "pprof/go_heap_multipart.type",
                 "pprof/go_heap_delta.expected", NULL);
}

static void test_pprof_node_wall_profile_matches_go_tool_pprof(void **state) {
  ember_ingest_result_t res;
  assert_fixture("pprof/node_wall.pb.gz", NULL, "pprof/node_wall.expected", &res);
  size_t len;
  char *gz = read_fixture("pprof/node_wall.pb.gz", &len);
  uint8_t *pb;
  size_t pblen;
  assert_int_equal(ember_ingest_decode("gzip", (uint8_t *)gz, len, MAX_BODY, &pb, &pblen,
                                       NULL),
                   0);
  Perftools__Profiles__Profile *p = perftools__profiles__profile__unpack(NULL, pblen, pb);
  assert_non_null(p);
  uint32_t rate = (uint32_t)((1000000000 + p->period / 2) / p->period);
  const ember_profile_t *cpu = result_find(&res, "app.cpu", "");
  const ember_profile_t *wall = result_find(&res, "app.wall", "vehicle=car");
  assert_non_null(cpu);
  assert_non_null(wall);
  assert_int_equal(cpu->sample_rate, rate); /* the period's, not sampleRate=17 */
  assert_string_equal(wall->units, "nanoseconds");
  perftools__profiles__profile__free_unpacked(p, NULL);
  free(pb);
  free(gz);
  ember_ingest_result_free(&res);
}

/* ---- Hand-made profiles --------------------------------------------------- */

/* A CPU profile of main -> work -> {fast, slow} with the given labels on
 * the slow sample. */
static uint8_t *cpu_profile(size_t *len, const char *const *slow_labels) {
  pb_t b;
  pb_init(&b);
  pb_type(&b, "samples", "count");
  pb_type(&b, "cpu", "nanoseconds");
  pb_period(&b, "cpu", "nanoseconds", 10000000);
  uint64_t fmain = pb_func(&b, "main", "main.go"), fwork = pb_func(&b, "work", "main.go");
  uint64_t ffast = pb_func(&b, "fast", "main.go"), fslow = pb_func(&b, "slow", "main.go");
  uint64_t lmain = pb_loc1(&b, fmain), lwork = pb_loc1(&b, fwork);
  uint64_t lfast = pb_loc1(&b, ffast), lslow = pb_loc1(&b, fslow);
  pb_sample(&b, 3, (uint64_t[]){lfast, lwork, lmain}, (int64_t[]){3, 30000000}, NULL);
  pb_sample(&b, 3, (uint64_t[]){lslow, lwork, lmain}, (int64_t[]){5, 50000000},
            slow_labels);
  uint8_t *out = pb_pack(&b, len);
  pb_free(&b);
  return out;
}

static void test_pprof_sample_labels_merge_with_the_name_and_win(void **state) {
  size_t len;
  uint8_t *pb = cpu_profile(&len, (const char *[]){"vehicle=car", "zone=b", NULL});
  ember_ingest_result_t res = ingest_ok("shop.cpu{region=eu,vehicle=bike}", NULL, pb, len);
  char *dump = result_dump(&res);
  assert_string_equal(dump,
                      "shop.cpu{region=eu,vehicle=bike} main;work;fast 3\n"
                      "shop.cpu{region=eu,vehicle=car,zone=b} main;work;slow 5\n");
  free(dump);
  ember_ingest_result_free(&res);
  free(pb);
}

static void test_pprof_label_order_in_the_profile_does_not_matter(void **state) {
  pb_t b;
  pb_init(&b);
  pb_type(&b, "samples", "count");
  uint64_t l = pb_loc1(&b, pb_func(&b, "f", ""));
  pb_sample(&b, 1, &l, (int64_t[]){1}, (const char *[]){"a=1", "b=2", NULL});
  pb_sample(&b, 1, &l, (int64_t[]){2}, (const char *[]){"b=2", "a=1", NULL});
  pb_sample(&b, 1, &l, (int64_t[]){4}, (const char *[]){" b = 2 ", "a=1", NULL});
  size_t len;
  uint8_t *pb = pb_pack(&b, &len);
  ember_ingest_result_t res = ingest_ok("app", NULL, pb, len);
  assert_int_equal(res.n, 1);
  char *dump = result_dump(&res);
  assert_string_equal(dump, "app.cpu{a=1,b=2} f 7\n");
  free(dump);
  ember_ingest_result_free(&res);
  free(pb);
  pb_free(&b);
}

static void test_pprof_numeric_labels_are_not_series_labels(void **state) {
  size_t len;
  uint8_t *pb = cpu_profile(&len, (const char *[]){"bytes=#4096", "thread=#7", NULL});
  ember_ingest_result_t res = ingest_ok("app", NULL, pb, len);
  char *dump = result_dump(&res);
  assert_string_equal(dump, "app.cpu{} main;work;fast 3\napp.cpu{} main;work;slow 5\n");
  free(dump);
  ember_ingest_result_free(&res);
  free(pb);
}

static void test_pprof_accepts_dotted_label_keys(void **state) {
  size_t len;
  uint8_t *pb = cpu_profile(&len, (const char *[]){"process.runtime.name=nodejs", NULL});
  ember_ingest_result_t res = ingest_ok("app{otel.scope.name=x/y}", NULL, pb, len);
  assert_non_null(
      result_find(&res, "app.cpu", "otel.scope.name=x/y,process.runtime.name=nodejs"));
  ember_ingest_result_free(&res);
  free(pb);
}

static void test_pprof_refuses_labels_that_cannot_name_a_series(void **state) {
  size_t len;
  uint8_t *pb = cpu_profile(&len, (const char *[]){"span id=1", NULL});
  const char *msg = ingest_error("app", pb, len, EMBER_EPARSE);
  assert_contains(msg, "profile: sample 2: label key 'span id' has invalid character ' '");
  free(pb);
  pb = cpu_profile(&len, (const char *[]){"__name__=x", NULL});
  assert_contains(ingest_error("app", pb, len, EMBER_EPARSE), "reserved");
  free(pb);
  pb = cpu_profile(&len, (const char *[]){"k=a,b", NULL});
  assert_contains(ingest_error("app", pb, len, EMBER_EPARSE), "invalid character ','");
  free(pb);
}

static void test_pprof_one_push_may_make_many_series(void **state) {
  pb_t b;
  pb_init(&b);
  pb_type(&b, "samples", "count");
  uint64_t l = pb_loc1(&b, pb_func(&b, "f", ""));
  char labels[40][16];
  for (int i = 0; i < 40; i++) {
    snprintf(labels[i], sizeof labels[i], "n=%d", i % 20);
    pb_sample(&b, 1, &l, (int64_t[]){i + 1}, (const char *[]){labels[i], NULL});
  }
  size_t len;
  uint8_t *pb = pb_pack(&b, &len);
  ember_ingest_result_t res = ingest_ok("app", NULL, pb, len);
  assert_int_equal(res.n, 20);
  /* Series in the order of their first sample: n=0 got samples 1 and 21. */
  ember_buf_t l0 = EMBER_BUF_INIT;
  ember_series_key_labels(&res.items[0].key, &l0);
  assert_string_equal(l0.data, "n=0");
  assert_int_equal(ember_tree_total(res.items[0].tree, 0), 1 + 21);
  assert_int_equal(ember_ingest_result_samples(&res), 40 * 41 / 2);
  ember_buf_free(&l0);
  ember_ingest_result_free(&res);
  free(pb);
  pb_free(&b);
}

static void test_pprof_unknown_types_keep_their_own_name(void **state) {
  pb_t b;
  pb_init(&b);
  pb_type(&b, "lock_wait", "microseconds");
  pb_type(&b, "goroutine", "count");
  pb_type(&b, "contentions", "count");
  pb_type(&b, "delay", "nanoseconds");
  uint64_t l = pb_loc1(&b, pb_func(&b, "f", ""));
  pb_sample(&b, 1, &l, (int64_t[]){7, 3, 2, 900}, NULL);
  size_t len;
  uint8_t *pb = pb_pack(&b, &len);
  ember_ingest_result_t res = ingest_ok("app", NULL, pb, len);
  char *dump = result_dump(&res);
  assert_string_equal(dump,
                      "app.goroutines{} f 3\n"
                      "app.lock_wait{} f 7\n"
                      "app.mutex_count{} f 2\n"
                      "app.mutex_duration{} f 900\n");
  assert_string_equal(result_find(&res, "app.lock_wait", "")->units, "microseconds");
  assert_string_equal(result_find(&res, "app.goroutines", "")->units, "goroutines");
  assert_int_equal(result_find(&res, "app.goroutines", "")->aggregation, EMBER_AGG_AVERAGE);
  assert_string_equal(result_find(&res, "app.mutex_duration", "")->units,
                      "lock_nanoseconds");
  free(dump);
  ember_ingest_result_free(&res);
  free(pb);
  pb_free(&b);
}

static void test_pprof_uses_cpu_time_only_without_a_samples_type(void **state) {
  pb_t b;
  pb_init(&b);
  pb_type(&b, "cpu", "nanoseconds");
  pb_period(&b, "cpu", "nanoseconds", 1000000); /* 1 ms: 1000 Hz */
  uint64_t l = pb_loc1(&b, pb_func(&b, "f", ""));
  pb_sample(&b, 1, &l, (int64_t[]){4000000}, NULL);
  size_t len;
  uint8_t *pb = pb_pack(&b, &len);
  ember_ingest_result_t res = ingest_ok("app", NULL, pb, len);
  assert_int_equal(res.n, 1);
  assert_string_equal(res.items[0].key.app, "app.cpu");
  assert_string_equal(res.items[0].units, "nanoseconds");
  assert_int_equal(res.items[0].sample_rate, 1000);
  assert_int_equal(ember_tree_total(res.items[0].tree, 0), 4000000);
  ember_ingest_result_free(&res);
  free(pb);
  pb_free(&b);
}

static void test_pprof_replaces_a_type_suffix_already_in_the_name(void **state) {
  size_t len;
  uint8_t *pb = cpu_profile(&len, NULL);
  static const char *const names[][2] = {{"app.cpu", "app.cpu"},
                                         {"app.alloc_space", "app.cpu"},
                                         {"my.app", "my.app.cpu"},
                                         {"cpu", "cpu.cpu"}};
  for (size_t i = 0; i < 4; i++) {
    ember_ingest_result_t res = ingest_ok(names[i][0], NULL, pb, len);
    assert_string_equal(res.items[0].key.app, names[i][1]);
    ember_ingest_result_free(&res);
  }
  free(pb);
}

static void test_pprof_sample_type_config_overrides_the_table(void **state) {
  pb_t b;
  pb_init(&b);
  pb_type(&b, "contentions", "count");
  pb_type(&b, "delay", "nanoseconds");
  pb_type(&b, "weird type", "things");
  uint64_t l = pb_loc1(&b, pb_func(&b, "f", ""));
  pb_sample(&b, 1, &l, (int64_t[]){2, 500, 1}, NULL);
  size_t len;
  uint8_t *pb = pb_pack(&b, &len);
  const char *cfg =
      "{\"contentions\":{\"display-name\":\"block_count\",\"units\":\"blocks\","
      "\"aggregation\":\"average\",\"sampled\":true},"
      "\"delay\":{\"display-name\":\"block_duration\"},"
      "\"weird type\":{\"display-name\":\"weird\"}}";
  ember_buf_t body = EMBER_BUF_INIT;
  ember_buf_puts(&body, "--XX\r\nContent-Disposition: form-data; name=\"profile\"; "
                        "filename=\"profile.pprof\"\r\n\r\n");
  ember_buf_append(&body, pb, len);
  ember_buf_puts(&body, "\r\n--XX\r\nContent-Disposition: form-data; "
                        "name=\"sample_type_config\"\r\n\r\n");
  ember_buf_puts(&body, cfg);
  ember_buf_puts(&body, "\r\n--XX--\r\n");
  ember_ingest_result_t res =
      ingest_ok("app", "multipart/form-data; boundary=XX", body.data, body.len);
  char *dump = result_dump(&res);
  assert_string_equal(dump, "app.block_count{} f 2\napp.block_duration{} f 500\n"
                            "app.weird{} f 1\n");
  const ember_profile_t *p = result_find(&res, "app.block_count", "");
  assert_string_equal(p->units, "blocks");
  assert_int_equal(p->aggregation, EMBER_AGG_AVERAGE);
  p = result_find(&res, "app.block_duration", "");
  assert_string_equal(p->units, "lock_nanoseconds"); /* the table's, not overridden */
  assert_int_equal(p->aggregation, EMBER_AGG_SUM);
  free(dump);
  ember_ingest_result_free(&res);
  ember_buf_free(&body);
  free(pb);
  pb_free(&b);
}

static void test_pprof_refuses_types_that_cannot_name_an_app(void **state) {
  pb_t b;
  pb_init(&b);
  pb_type(&b, "weird type", "count");
  uint64_t l = pb_loc1(&b, pb_func(&b, "f", ""));
  pb_sample(&b, 1, &l, (int64_t[]){1}, NULL);
  size_t len;
  uint8_t *pb = pb_pack(&b, &len);
  assert_contains(ingest_error("app", pb, len, EMBER_EPARSE),
                  "sample type 'weird type' cannot name an app");
  free(pb);
  pb_free(&b);
}

static void test_pprof_refuses_two_types_for_one_app(void **state) {
  pb_t b;
  pb_init(&b);
  pb_type(&b, "samples", "count");
  pb_type(&b, "cpu", "count");
  pb_type(&b, "wall", "nanoseconds");
  pb_type(&b, "wall", "microseconds");
  uint64_t l = pb_loc1(&b, pb_func(&b, "f", ""));
  pb_sample(&b, 1, &l, (int64_t[]){1, 1, 1, 1}, NULL);
  size_t len;
  uint8_t *pb = pb_pack(&b, &len);
  assert_contains(ingest_error("app", pb, len, EMBER_EPARSE),
                  "sample types 'wall' and 'wall' would both be stored as '.wall'");
  free(pb);
  pb_free(&b);
}

static void test_pprof_period_in_a_time_unit_gives_the_rate(void **state) {
  pb_t b;
  pb_init(&b);
  pb_type(&b, "samples", "count");
  pb_period(&b, "wall", "microseconds", 10000);
  uint64_t l = pb_loc1(&b, pb_func(&b, "f", ""));
  pb_sample(&b, 1, &l, (int64_t[]){1}, NULL);
  size_t len;
  uint8_t *pb = pb_pack(&b, &len);
  ember_ingest_result_t res = ingest_ok("app", NULL, pb, len);
  assert_int_equal(res.items[0].sample_rate, 100);
  ember_ingest_result_free(&res);
  free(pb);
  b.period_type.unit = pb_str(&b, "bytes");
  pb = pb_pack(&b, &len);
  res = ingest_ok("app", NULL, pb, len);
  assert_int_equal(res.items[0].sample_rate, 17); /* the request's */
  ember_ingest_result_free(&res);
  free(pb);
  pb_free(&b);
}

static void test_pprof_zero_and_negative_values_store_nothing(void **state) {
  pb_t b;
  pb_init(&b);
  pb_type(&b, "samples", "count");
  uint64_t l = pb_loc1(&b, pb_func(&b, "f", ""));
  pb_sample(&b, 1, &l, (int64_t[]){0}, NULL);
  pb_sample(&b, 1, &l, (int64_t[]){-5}, (const char *[]){"k=v", NULL});
  size_t len;
  uint8_t *pb = pb_pack(&b, &len);
  ember_ingest_result_t res = ingest_ok("app", NULL, pb, len);
  assert_int_equal(res.n, 0);
  assert_null(res.items);
  free(pb);
  /* An empty body is an empty profile. */
  res = ingest_ok("app", NULL, "", 0);
  assert_int_equal(res.n, 0);
  pb_free(&b);
}

static void test_pprof_prev_profile_matches_stacks_by_name_and_labels(void **state) {
  /* Current: f 10, g 4 {k=v}, h 3; previous: f 4, g 9 {k=v}, h 3, gone 5;
   * the types are listed in another order in the previous profile. */
  pb_t cur, prev;
  pb_init(&cur);
  pb_type(&cur, "alloc_space", "bytes");
  pb_type(&cur, "inuse_space", "bytes");
  uint64_t f = pb_loc1(&cur, pb_func(&cur, "f", "")), g = pb_loc1(&cur, pb_func(&cur, "g", ""));
  uint64_t h = pb_loc1(&cur, pb_func(&cur, "h", ""));
  pb_sample(&cur, 1, &f, (int64_t[]){10, 1}, NULL);
  pb_sample(&cur, 1, &g, (int64_t[]){4, 1}, (const char *[]){"k=v", NULL});
  pb_sample(&cur, 1, &h, (int64_t[]){3, 1}, NULL);
  pb_init(&prev);
  pb_type(&prev, "inuse_space", "bytes");
  pb_type(&prev, "alloc_space", "bytes");
  uint64_t pg = pb_loc1(&prev, pb_func(&prev, "g", "")); /* other ids */
  uint64_t pf = pb_loc1(&prev, pb_func(&prev, "f", ""));
  uint64_t ph = pb_loc1(&prev, pb_func(&prev, "h", ""));
  uint64_t pgone = pb_loc1(&prev, pb_func(&prev, "gone", ""));
  pb_sample(&prev, 1, &pf, (int64_t[]){50, 4}, NULL);
  pb_sample(&prev, 1, &pg, (int64_t[]){50, 9}, (const char *[]){"k=v", NULL});
  pb_sample(&prev, 1, &ph, (int64_t[]){50, 3}, NULL);
  pb_sample(&prev, 1, &pgone, (int64_t[]){50, 5}, NULL);
  size_t clen, plen, zlen;
  uint8_t *cpb = pb_pack(&cur, &clen), *ppb = pb_pack(&prev, &plen);
  uint8_t *pz = gzip_bytes(ppb, plen, &zlen); /* either may be gzipped */
  ember_buf_t body = EMBER_BUF_INIT;
  ember_buf_puts(&body, "--b\nContent-Disposition: form-data; name=\"prev_profile\"\n\n");
  ember_buf_append(&body, pz, zlen);
  ember_buf_puts(&body, "\n--b\nContent-Disposition: form-data; name=\"profile\"\n\n");
  ember_buf_append(&body, cpb, clen);
  ember_buf_puts(&body, "\n--b--\n");
  ember_ingest_result_t res =
      ingest_ok("app", "multipart/form-data; boundary=b", body.data, body.len);
  char *dump = result_dump(&res);
  /* alloc_space: f 10-4, g 4-9 -> 0, h 3-3 -> 0; inuse_space untouched. */
  assert_string_equal(dump, "app.alloc_space{} f 6\n"
                            "app.inuse_space{k=v} g 1\n"
                            "app.inuse_space{} f 1\n"
                            "app.inuse_space{} h 1\n");
  free(dump);
  ember_ingest_result_free(&res);
  ember_buf_free(&body);
  free(cpb);
  free(ppb);
  free(pz);
  pb_free(&cur);
  pb_free(&prev);
}

/* ---- Limits ----------------------------------------------------------------- */

/* Three label sets (n=0, n=1, n=2) of two types: six series. */
static uint8_t *six_series(size_t *len) {
  pb_t b;
  pb_init(&b);
  pb_type(&b, "alpha", "count");
  pb_type(&b, "beta", "count");
  uint64_t l = pb_loc1(&b, pb_func(&b, "f", ""));
  static const char *const labels[] = {"n=0", "n=1", "n=2"};
  for (int i = 0; i < 6; i++)
    pb_sample(&b, 1, &l, (int64_t[]){1, 1}, (const char *[]){labels[i % 3], NULL});
  uint8_t *out = pb_pack(&b, len);
  pb_free(&b);
  return out;
}

static void test_pprof_refuses_more_apps_than_the_limit(void **state) {
  size_t len;
  uint8_t *pb = six_series(&len);
  ember_ingest_result_t res;
  ember_err_t err;
  ember_ingest_limits_t lim = {.max_apps = 1};
  assert_int_equal(ingest_with(&lim, NULL, pb, len, &res, NULL, &err), EMBER_ELIMIT);
  assert_string_equal(err.msg,
                      "profile: it has more than 1 sample types to store, and each is an "
                      "app; a push may write at most 1 apps (the server's "
                      "--max-apps-per-push): send fewer sample types per push, or raise "
                      "the limit");
  lim.max_apps = 2;
  assert_int_equal(ingest_with(&lim, NULL, pb, len, &res, NULL, &err), 0);
  assert_int_equal(res.n, 6);
  ember_ingest_result_free(&res);
  free(pb);
  /* 10,000 sample types in 180 KB: one app each, were they let in. */
  ember_buf_t b = EMBER_BUF_INIT;
  pbw_fanout(&b, 1, 1, 1, 10000);
  assert_contains(ingest_error("app", b.data, b.len, EMBER_ELIMIT),
                  "more than 32 sample types");
  ember_buf_free(&b);
}

static void test_pprof_refuses_more_series_than_the_limit(void **state) {
  size_t len;
  uint8_t *pb = six_series(&len);
  ember_ingest_result_t res;
  ember_err_t err;
  ember_ingest_limits_t lim = {.max_series = 5};
  assert_int_equal(ingest_with(&lim, NULL, pb, len, &res, NULL, &err), EMBER_ELIMIT);
  assert_string_equal(err.msg,
                      "profile: the push would write more than 5 series (distinct label "
                      "sets times sample types); a push may write at most 5 (the "
                      "server's --max-series-per-push): drop high-cardinality labels "
                      "(such as request or span ids) from the profile, or raise the "
                      "limit");
  lim.max_series = 6;
  assert_int_equal(ingest_with(&lim, NULL, pb, len, &res, NULL, &err), 0);
  assert_int_equal(res.n, 6);
  ember_ingest_result_free(&res);
  free(pb);
  /* One sample per label value: 1,001 label sets of one type. */
  ember_buf_t b = EMBER_BUF_INIT;
  pbw_string(&b, "");
  pbw_string(&b, "samples");
  pbw_string(&b, "count");
  pbw_string(&b, "f");
  pbw_string(&b, "k");
  pbw_value_type(&b, 1, 2);
  pbw_function(&b, 1, 3);
  pbw_location(&b, 1, 1, 1);
  for (int i = 0; i < 1001; i++) {
    char v[16];
    snprintf(v, sizeof v, "%d", i);
    pbw_string(&b, v);
    pbw_sample(&b, 1, 1, 1, 4, 5 + i);
  }
  assert_contains(ingest_error("app", b.data, b.len, EMBER_ELIMIT),
                  "more than 1000 series");
  ember_buf_free(&b);
}

static void test_pprof_refuses_too_many_series_before_building_any(void **state) {
  /* Ten costly samples of one label set (each hashes 64 copies of a
   * 300 KB name: past the work budget together), then six label sets. A
   * push that built trees as it read would stop at the work (413); the
   * series are counted first, so the answer is the limit (429). */
  pb_t b;
  pb_init(&b);
  pb_type(&b, "samples", "count");
  char *name = malloc(300001);
  memset(name, 'f', 300000);
  name[300000] = '\0';
  uint64_t l = pb_loc1(&b, pb_func(&b, name, ""));
  uint64_t locs[64];
  for (int i = 0; i < 64; i++)
    locs[i] = l;
  for (int i = 0; i < 10; i++)
    pb_sample(&b, 64, locs, (int64_t[]){1}, NULL);
  static const char *const labels[] = {"n=1", "n=2", "n=3", "n=4", "n=5", "n=6"};
  for (int i = 0; i < 6; i++)
    pb_sample(&b, 1, &l, (int64_t[]){1}, (const char *[]){labels[i], NULL});
  size_t len;
  uint8_t *pb = pb_pack(&b, &len);
  ember_ingest_result_t res;
  ember_err_t err;
  ember_ingest_limits_t lim = {.max_series = 5};
  assert_int_equal(ingest_with(&lim, NULL, pb, len, &res, NULL, &err), EMBER_ELIMIT);
  lim.max_series = 7;
  assert_int_equal(ingest_with(&lim, NULL, pb, len, &res, NULL, &err), EMBER_ETOOBIG);
  free(pb);
  free(name);
  pb_free(&b);
}

static void test_pprof_prev_profile_makes_no_series_of_its_own(void **state) {
  /* The previous profile has label sets the current one does not: they
   * would subtract from nothing, so they neither count nor come out. */
  pb_t cur, prev;
  pb_init(&cur);
  pb_type(&cur, "alloc_space", "bytes");
  uint64_t f = pb_loc1(&cur, pb_func(&cur, "f", ""));
  pb_sample(&cur, 1, &f, (int64_t[]){10}, NULL);
  pb_init(&prev);
  pb_type(&prev, "alloc_space", "bytes");
  uint64_t pf = pb_loc1(&prev, pb_func(&prev, "f", ""));
  static const char *const labels[] = {"n=1", "n=2", "n=3"};
  pb_sample(&prev, 1, &pf, (int64_t[]){4}, NULL);
  for (int i = 0; i < 3; i++)
    pb_sample(&prev, 1, &pf, (int64_t[]){50}, (const char *[]){labels[i], NULL});
  size_t clen, plen;
  uint8_t *cpb = pb_pack(&cur, &clen), *ppb = pb_pack(&prev, &plen);
  ember_buf_t body = EMBER_BUF_INIT;
  ember_buf_puts(&body, "--b\nContent-Disposition: form-data; name=\"profile\"\n\n");
  ember_buf_append(&body, cpb, clen);
  ember_buf_puts(&body,
                 "\n--b\nContent-Disposition: form-data; name=\"prev_profile\"\n\n");
  ember_buf_append(&body, ppb, plen);
  ember_buf_puts(&body, "\n--b--\n");
  ember_ingest_limits_t lim = {.max_series = 1};
  ember_ingest_result_t res;
  ember_err_t err;
  assert_int_equal(ingest_with(&lim, "multipart/form-data; boundary=b", body.data,
                               body.len, &res, NULL, &err),
                   0);
  char *dump = result_dump(&res);
  assert_string_equal(dump, "app.alloc_space{} f 6\n");
  free(dump);
  ember_ingest_result_free(&res);
  ember_buf_free(&body);
  free(cpb);
  free(ppb);
  pb_free(&cur);
  pb_free(&prev);
}

/* ---- Deep stacks and fan-out ------------------------------------------------- */

static void test_pprof_cuts_deep_stacks_and_counts_them(void **state) {
  /* Three-frame limit: a;b;c;d;e is cut to a;b;[truncated] (once, though
   * it has values of two types), a;b;x;y merges into the same marker,
   * a;b;c stays whole, and a cut stack without values counts for
   * nothing. */
  pb_t b;
  pb_init(&b);
  pb_type(&b, "alpha", "count");
  pb_type(&b, "beta", "count");
  uint64_t la = pb_loc1(&b, pb_func(&b, "a", "")), lb = pb_loc1(&b, pb_func(&b, "b", ""));
  uint64_t lc = pb_loc1(&b, pb_func(&b, "c", "")), ld = pb_loc1(&b, pb_func(&b, "d", ""));
  uint64_t le = pb_loc1(&b, pb_func(&b, "e", "")), lx = pb_loc1(&b, pb_func(&b, "x", ""));
  uint64_t ly = pb_loc1(&b, pb_func(&b, "y", ""));
  pb_sample(&b, 5, (uint64_t[]){le, ld, lc, lb, la}, (int64_t[]){2, 3}, NULL);
  pb_sample(&b, 4, (uint64_t[]){ly, lx, lb, la}, (int64_t[]){5, 0}, NULL);
  pb_sample(&b, 3, (uint64_t[]){lc, lb, la}, (int64_t[]){7, 0}, NULL);
  pb_sample(&b, 4, (uint64_t[]){ld, lc, lb, la}, (int64_t[]){0, 0}, NULL);
  size_t len;
  uint8_t *pb = pb_pack(&b, &len);
  ember_ingest_limits_t lim = {.max_stack_depth = 3};
  ember_ingest_result_t res;
  ember_err_t err;
  uint64_t truncated = 0;
  assert_int_equal(ingest_with(&lim, NULL, pb, len, &res, &truncated, &err), 0);
  char *dump = result_dump(&res);
  assert_string_equal(dump, "app.alpha{} a;b;[truncated] 7\n"
                            "app.alpha{} a;b;c 7\n"
                            "app.beta{} a;b;[truncated] 3\n");
  assert_int_equal(truncated, 2);
  free(dump);
  ember_ingest_result_free(&res);
  free(pb);
  pb_free(&b);
}

/* The inline fan-out of the issue: one location of 1,000 inlined lines,
 * named 100,000 times by one sample: 107 KB that would expand to 10^8
 * frames (1.6 GB of slices before anything was checked). */
static bool fanout_is_cut(void *arg) {
  const ember_buf_t *body = arg;
  ember_ingest_result_t res;
  ember_err_t err;
  uint64_t truncated = 0;
  if (ingest_with(NULL, NULL, body->data, body->len, &res, &truncated, &err)) {
    fprintf(stderr, "%s\n", err.msg);
    return false;
  }
  bool ok =
      res.n == 1 && truncated == 1 &&
      ember_tree_count(res.items[0].tree) == EMBER_INGEST_DEFAULT_MAX_STACK_DEPTH + 1;
  ember_ingest_result_free(&res);
  return ok;
}

static void test_pprof_inline_fan_out_is_cut_in_bounded_memory(void **state) {
  ember_buf_t body = EMBER_BUF_INIT;
  pbw_fanout(&body, 1000, 100000, 1, 1);
  assert_true(run_bounded(fanout_is_cut, &body, 64, 10));
  ember_buf_free(&body);
}

/* The fan-out again, then 30,000 samples that name the location once
 * with a value in each of 32 types: each is a 1,000-frame stack hashed
 * into 32 trees, far more work than 1.3 MB warrants. */
static bool fanout_is_refused(void *arg) {
  const ember_buf_t *body = arg;
  ember_ingest_result_t res;
  ember_err_t err;
  int rc = ingest_with(NULL, NULL, body->data, body->len, &res, NULL, &err);
  if (rc != EMBER_ETOOBIG) fprintf(stderr, "gave %d: %s\n", rc, err.msg);
  if (rc == 0) ember_ingest_result_free(&res);
  return rc == EMBER_ETOOBIG && strstr(err.msg, "too deep or too many");
}

static void test_pprof_inline_fan_out_past_the_work_budget_is_refused_in_bounded_memory(
    void **state) {
  ember_buf_t body = EMBER_BUF_INIT;
  pbw_fanout(&body, 1000, 100000, 1, 32);
  for (int i = 0; i < 30000; i++)
    pbw_sample(&body, 1, 1, 32, 0, 0);
  assert_true(run_bounded(fanout_is_refused, &body, 256, 20));
  ember_buf_free(&body);
}

/* One label of a 1 MB value, on 100,000 samples of a few bytes each:
 * merging and hashing it per sample would be 100 GB of work. */
static bool label_fan_out_is_refused(void *arg) {
  const ember_buf_t *body = arg;
  ember_ingest_result_t res;
  ember_err_t err;
  int rc = ingest_with(NULL, NULL, body->data, body->len, &res, NULL, &err);
  if (rc == 0) ember_ingest_result_free(&res);
  return rc == EMBER_ETOOBIG && strstr(err.msg, "labels repeat too much text");
}

static void test_pprof_label_fan_out_is_charged_to_the_work_budget(void **state) {
  ember_buf_t body = EMBER_BUF_INIT;
  char *value = malloc((1 << 20) + 1);
  memset(value, 'v', 1 << 20);
  value[1 << 20] = '\0';
  pbw_string(&body, "");
  pbw_string(&body, "samples");
  pbw_string(&body, "count");
  pbw_string(&body, "f");
  pbw_string(&body, "k");
  pbw_string(&body, value);
  pbw_value_type(&body, 1, 2);
  pbw_function(&body, 1, 3);
  pbw_location(&body, 1, 1, 1);
  for (int i = 0; i < 100000; i++)
    pbw_sample(&body, 1, 1, 1, 4, 5);
  assert_true(run_bounded(label_fan_out_is_refused, &body, 512, 10));
  free(value);
  ember_buf_free(&body);
}

/* A cumulative type with a 60 KB name, and a previous profile that lists
 * that name as two million sample types: matching them compares 120 GB. */
static bool prev_type_fan_out_is_refused(void *arg) {
  const ember_buf_t *body = arg;
  ember_ingest_result_t res;
  ember_err_t err;
  base_t b;
  base_init(&b, "app");
  ingest_ctx_t c;
  ingest_ctx_init(&c, NULL, (size_t)64 << 20, NULL);
  int rc = ingest_pprof(&b.p, "multipart/form-data; boundary=b", (uint8_t *)body->data,
                        body->len, &c, &res, &err);
  ember_profile_free(&b.p);
  if (rc == 0) ember_ingest_result_free(&res);
  if (rc != EMBER_ETOOBIG) fprintf(stderr, "gave %d: %s\n", rc, err.msg);
  return rc == EMBER_ETOOBIG && strstr(err.msg, "prev_profile: its sample types repeat");
}

static void
test_pprof_prev_profile_type_fan_out_is_charged_to_the_work_budget(void **state) {
  size_t n = 60000;
  char *type = malloc(n + 1);
  memset(type, 't', n);
  type[n] = '\0';
  ember_buf_t cur = EMBER_BUF_INIT, prev = EMBER_BUF_INIT, body = EMBER_BUF_INIT;
  pbw_string(&cur, "");
  pbw_string(&cur, "count");
  pbw_string(&cur, "f");
  pbw_string(&cur, type);
  pbw_value_type(&cur, 3, 1);
  pbw_function(&cur, 1, 2);
  pbw_location(&cur, 1, 1, 1);
  pbw_sample(&cur, 1, 1, 1, 0, 0);
  pbw_string(&prev, "");
  pbw_string(&prev, "count");
  pbw_string(&prev, type);
  for (int i = 0; i < 2000000; i++)
    pbw_value_type(&prev, 2, 1);
  ember_buf_puts(&body,
                 "--b\nContent-Disposition: form-data; name=\"sample_type_config\"\n\n");
  ember_buf_printf(&body, "{\"%s\": {\"display-name\": \"big\", \"cumulative\": true}}",
                   type);
  ember_buf_puts(&body, "\n--b\nContent-Disposition: form-data; name=\"profile\"\n\n");
  ember_buf_append(&body, cur.data, cur.len);
  ember_buf_puts(&body,
                 "\n--b\nContent-Disposition: form-data; name=\"prev_profile\"\n\n");
  ember_buf_append(&body, prev.data, prev.len);
  ember_buf_puts(&body, "\n--b--\n");
  assert_true(run_bounded(prev_type_fan_out_is_refused, &body, 1024, 10));
  free(type);
  ember_buf_free(&cur);
  ember_buf_free(&prev);
  ember_buf_free(&body);
}

static void test_pprof_limits_the_work_of_expanding_stacks(void **state) {
  /* 64 samples of 64 frames, all one function with a 300 KB name: 300 KB
   * of input, over a gigabyte of names to hash into the tree. */
  pb_t b;
  pb_init(&b);
  pb_type(&b, "samples", "count");
  char *name = malloc(300001);
  memset(name, 'f', 300000);
  name[300000] = '\0';
  uint64_t l = pb_loc1(&b, pb_func(&b, name, ""));
  uint64_t locs[64];
  for (int i = 0; i < 64; i++) locs[i] = l;
  for (int i = 0; i < 64; i++) pb_sample(&b, 64, locs, (int64_t[]){1}, NULL);
  size_t len;
  uint8_t *pb = pb_pack(&b, &len);
  assert_string_equal(ingest_error("app", pb, len, EMBER_ETOOBIG),
                      "pprof body: its stacks are too deep or too many for its size to be "
                      "expanded; send the profile in smaller pushes or as folded text");
  free(pb);
  free(name);
  pb_free(&b);
}

/* 999 one-letter functions, 32 sample types, and 300 samples that each
 * name all 999 locations, rotated so that every sample is a new path of
 * 999 nodes in each of 32 trees: 2 KB of body per sample, 2 MB of trees.
 * The work budget lets that through (about 32 units a byte); the memory
 * the trees take does not. */
static bool distinct_deep_stacks_are_refused(void *arg) {
  const ember_buf_t *body = arg;
  ember_ingest_result_t res;
  ember_err_t err;
  int rc = ingest_with(NULL, NULL, body->data, body->len, &res, NULL, &err);
  if (rc == 0) ember_ingest_result_free(&res);
  if (rc != EMBER_ETOOBIG) fprintf(stderr, "gave %d: %s\n", rc, rc ? err.msg : "");
  return rc == EMBER_ETOOBIG && strstr(err.msg, "more than its size warrants");
}

static void test_pprof_trees_may_not_outgrow_their_body(void **state) {
  enum { NFUNC = 999, NTYPES = 32, NSAMPLES = 300 };
  ember_buf_t b = EMBER_BUF_INIT;
  pbw_string(&b, "");
  pbw_string(&b, "count");
  for (int i = 0; i < NTYPES; i++) {
    char t[16];
    snprintf(t, sizeof t, "t%d", i);
    pbw_string(&b, t);
    pbw_value_type(&b, 2 + i, 1);
  }
  for (int i = 0; i < NFUNC; i++) {
    char f[16];
    snprintf(f, sizeof f, "%c%d", 'a' + i % 26, i / 26);
    pbw_string(&b, f);
    pbw_function(&b, (uint64_t)i + 1, 2 + NTYPES + i);
    pbw_location(&b, (uint64_t)i + 1, (uint64_t)i + 1, 1);
  }
  for (int s = 0; s < NSAMPLES; s++) {
    ember_buf_t m = EMBER_BUF_INIT, ids = EMBER_BUF_INIT, vals = EMBER_BUF_INIT;
    for (int k = 0; k < NFUNC; k++)
      ember_varint_put(&ids, (uint64_t)((s + k) % NFUNC) + 1);
    for (int k = 0; k < NTYPES; k++)
      ember_varint_put(&vals, 1);
    pbw_msg(&m, PB_SAMPLE_LOCATION_ID, &ids);
    pbw_msg(&m, PB_SAMPLE_VALUE, &vals);
    pbw_msg(&b, PB_PROFILE_SAMPLE, &m);
  }
  assert_true(run_bounded(distinct_deep_stacks_are_refused, &b, 256, 20));
  ember_buf_free(&b);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_pprof_go_cpu_profile_matches_go_tool_pprof),
      cmocka_unit_test(test_pprof_uncompressed_profile_reads_the_same),
      cmocka_unit_test(test_pprof_multipart_form_from_go_reads_the_same),
      cmocka_unit_test(test_pprof_heap_profile_gives_an_app_per_type),
      cmocka_unit_test(test_pprof_prev_profile_is_subtracted_from_cumulative_types),
      cmocka_unit_test(test_pprof_node_wall_profile_matches_go_tool_pprof),
      cmocka_unit_test(test_pprof_sample_labels_merge_with_the_name_and_win),
      cmocka_unit_test(test_pprof_label_order_in_the_profile_does_not_matter),
      cmocka_unit_test(test_pprof_numeric_labels_are_not_series_labels),
      cmocka_unit_test(test_pprof_accepts_dotted_label_keys),
      cmocka_unit_test(test_pprof_refuses_labels_that_cannot_name_a_series),
      cmocka_unit_test(test_pprof_one_push_may_make_many_series),
      cmocka_unit_test(test_pprof_unknown_types_keep_their_own_name),
      cmocka_unit_test(test_pprof_uses_cpu_time_only_without_a_samples_type),
      cmocka_unit_test(test_pprof_replaces_a_type_suffix_already_in_the_name),
      cmocka_unit_test(test_pprof_sample_type_config_overrides_the_table),
      cmocka_unit_test(test_pprof_refuses_types_that_cannot_name_an_app),
      cmocka_unit_test(test_pprof_refuses_two_types_for_one_app),
      cmocka_unit_test(test_pprof_period_in_a_time_unit_gives_the_rate),
      cmocka_unit_test(test_pprof_zero_and_negative_values_store_nothing),
      cmocka_unit_test(test_pprof_prev_profile_matches_stacks_by_name_and_labels),
      cmocka_unit_test(test_pprof_refuses_more_apps_than_the_limit),
      cmocka_unit_test(test_pprof_refuses_more_series_than_the_limit),
      cmocka_unit_test(test_pprof_refuses_too_many_series_before_building_any),
      cmocka_unit_test(test_pprof_prev_profile_makes_no_series_of_its_own),
      cmocka_unit_test(test_pprof_cuts_deep_stacks_and_counts_them),
      cmocka_unit_test(test_pprof_inline_fan_out_is_cut_in_bounded_memory),
      cmocka_unit_test(
          test_pprof_inline_fan_out_past_the_work_budget_is_refused_in_bounded_memory),
      cmocka_unit_test(test_pprof_label_fan_out_is_charged_to_the_work_budget),
      cmocka_unit_test(
          test_pprof_prev_profile_type_fan_out_is_charged_to_the_work_budget),
      cmocka_unit_test(test_pprof_limits_the_work_of_expanding_stacks),
      cmocka_unit_test(test_pprof_trees_may_not_outgrow_their_body),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
