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
  ember_ingest_result_t res = {NULL, 77};
  int rc = ember_ingest_pprof(&b.p, NULL, body, len, MAX_BODY, &res, &err);
  ember_profile_free(&b.p);
  if (rc != code) fail_msg("gave %d (%s), want %d", rc, err.msg, code);
  assert_int_equal(res.n, 77); /* untouched on failure */
  return err.msg;
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

static void test_pprof_refuses_too_many_label_sets(void **state) {
  /* Hand-encoded: strings "", "samples", "count", "k", "f", then one
   * sample per label value. */
  ember_buf_t b = EMBER_BUF_INIT;
  static const char *const strs[] = {"", "samples", "count", "k", "f"};
  for (size_t i = 0; i < 5; i++) {
    ember_buf_putc(&b, 0x32); /* field 6, string */
    ember_varint_put(&b, strlen(strs[i]));
    ember_buf_puts(&b, strs[i]);
  }
  ember_buf_append(&b, "\x0a\x04\x08\x01\x10\x02", 6);         /* samples/count */
  ember_buf_append(&b, "\x2a\x04\x08\x01\x10\x04", 6);         /* function 1 "f" */
  ember_buf_append(&b, "\x22\x06\x08\x01\x22\x02\x08\x01", 8); /* location 1 */
  for (int i = 0; i < 4100; i++) {
    char v[16];
    int n = snprintf(v, sizeof v, "%d", i);
    ember_buf_putc(&b, 0x32);
    ember_buf_putc(&b, (char)n);
    ember_buf_append(&b, v, (size_t)n);
    ember_buf_t s = EMBER_BUF_INIT; /* sample: location 1, value 1, k=v */
    ember_buf_append(&s, "\x0a\x01\x01\x12\x01\x01\x1a", 7);
    ember_buf_t l = EMBER_BUF_INIT;
    ember_buf_append(&l, "\x08\x03\x10", 3);
    ember_varint_put(&l, 5 + (uint64_t)i);
    ember_varint_put(&s, l.len);
    ember_buf_append(&s, l.data, l.len);
    ember_buf_putc(&b, 0x12);
    ember_varint_put(&b, s.len);
    ember_buf_append(&b, s.data, s.len);
    ember_buf_free(&s);
    ember_buf_free(&l);
  }
  assert_contains(ingest_error("app", b.data, b.len, EMBER_EPARSE),
                  "more than 4096 distinct label sets");
  ember_buf_free(&b);
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
      cmocka_unit_test(test_pprof_refuses_too_many_label_sets),
      cmocka_unit_test(test_pprof_limits_the_work_of_expanding_stacks),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
