/* Tests for src/query/pprof_export.c: trees out as gzipped pprof. Each
 * export is read back twice: field by field with protobuf-c, and through
 * Ember's own pprof ingest, which must give back the same stacks. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ember/ingest.h"
#include "ember/query.h"
#include "ingest/ingest_test_util.h"
#include "pprof/profile.pb-c.h"

typedef Perftools__Profiles__Profile pb_profile_t;

static void add(ember_tree_t *t, const char *stack, uint64_t v) {
  uint32_t node = EMBER_TREE_ROOT;
  const char *p = stack;
  while (*p) {
    const char *e = strchr(p, ';');
    if (!e) e = p + strlen(p);
    node = ember_tree_child(t, node, ember_tree_intern(t, p, (size_t)(e - p)));
    p = *e ? e + 1 : e;
  }
  ember_tree_add(t, node, 0, v);
}

static ember_render_meta_t meta(const char *app, const char *units, uint32_t rate) {
  ember_render_meta_t m;
  memset(&m, 0, sizeof m);
  m.app_name = app;
  m.units = units;
  m.sample_rate = rate;
  m.from = 1700000000;
  m.until = 1700003600;
  return m;
}

/* Exports t and unpacks the result (free with free_profile). */
static pb_profile_t *export(const ember_tree_t *t, const ember_render_meta_t *m,
                            ember_buf_t *raw) {
  ember_err_t err;
  if (ember_render_pprof(raw, t, m, &err)) fail_msg("%s", err.msg);
  assert_true(raw->len > 2);
  assert_int_equal((uint8_t)raw->data[0], 0x1f); /* gzip */
  assert_int_equal((uint8_t)raw->data[1], 0x8b);
  uint8_t *pb;
  size_t len;
  assert_int_equal(ember_ingest_decode("gzip", (uint8_t *)raw->data, raw->len, 1 << 26, &pb,
                                       &len, NULL),
                   0);
  pb_profile_t *p = perftools__profiles__profile__unpack(NULL, len, pb);
  free(pb);
  assert_non_null(p);
  return p;
}

static const char *str(const pb_profile_t *p, int64_t i) {
  assert_true(i >= 0 && (size_t)i < p->n_string_table);
  return p->string_table[i];
}

/* Sample i as "root;...;leaf v1 v2". Static buffer. */
static const char *sample(const pb_profile_t *p, size_t i) {
  static char out[1024];
  const Perftools__Profiles__Sample *s = p->sample[i];
  size_t o = 0;
  out[0] = '\0';
  for (size_t k = s->n_location_id; k-- > 0;) {
    uint64_t id = s->location_id[k];
    assert_true(id >= 1 && id <= p->n_location);
    const Perftools__Profiles__Location *l = p->location[id - 1];
    assert_int_equal(l->id, id);
    assert_int_equal(l->n_line, 1);
    const Perftools__Profiles__Function *f = p->function[l->line[0]->function_id - 1];
    o += (size_t)snprintf(out + o, sizeof out - o, "%s%s", o ? ";" : "", str(p, f->name));
  }
  for (size_t v = 0; v < s->n_value; v++)
    o += (size_t)snprintf(out + o, sizeof out - o, " %lld", (long long)s->value[v]);
  return out;
}

/* What Ember's pprof ingest makes of the export: the dump of its single
 * profile, with that profile's app and units checked. */
static char *reingest(const ember_buf_t *raw, const char *app, const char *units) {
  ember_profile_t base;
  memset(&base, 0, sizeof base);
  assert_int_equal(ember_series_key_parse("back", 4, &base.key, NULL), 0);
  base.sample_rate = 100;
  base.spy_name = strdup("x");
  base.units = strdup("samples");
  ember_ingest_result_t res;
  ember_err_t err;
  if (ember_ingest_pprof(&base, NULL, (uint8_t *)raw->data, raw->len, 1 << 26, &res, &err))
    fail_msg("%s", err.msg);
  assert_int_equal(res.n, 1);
  assert_string_equal(res.items[0].key.app, app);
  assert_string_equal(res.items[0].units, units);
  char *d = tree_dump(res.items[0].tree);
  ember_ingest_result_free(&res);
  ember_profile_free(&base);
  return d;
}

static void test_pprof_export_writes_a_cpu_profile_like_go(void **state) {
  ember_tree_t *t = ember_tree_new();
  add(t, "main;work;fast", 3);
  add(t, "main;work;slow", 5);
  add(t, "main;work", 2);
  add(t, "gc", 1);
  ember_render_meta_t m = meta("app.cpu", "samples", 100);
  ember_buf_t raw = EMBER_BUF_INIT;
  pb_profile_t *p = export(t, &m, &raw);
  assert_int_equal(p->n_sample_type, 2);
  assert_string_equal(str(p, p->sample_type[0]->type), "samples");
  assert_string_equal(str(p, p->sample_type[0]->unit), "count");
  assert_string_equal(str(p, p->sample_type[1]->type), "cpu");
  assert_string_equal(str(p, p->sample_type[1]->unit), "nanoseconds");
  assert_non_null(p->period_type);
  assert_string_equal(str(p, p->period_type->type), "cpu");
  assert_int_equal(p->period, 10000000);
  assert_int_equal(p->time_nanos, INT64_C(1700000000) * 1000000000);
  assert_int_equal(p->duration_nanos, INT64_C(3600) * 1000000000);
  assert_string_equal(str(p, 0), "");
  /* main, work, fast, slow, gc: one function and location each. */
  assert_int_equal(p->n_function, 5);
  assert_int_equal(p->n_location, 5);
  assert_int_equal(p->n_sample, 4);
  assert_string_equal(sample(p, 0), "main;work 2 20000000");
  assert_string_equal(sample(p, 1), "main;work;fast 3 30000000");
  assert_string_equal(sample(p, 2), "main;work;slow 5 50000000");
  assert_string_equal(sample(p, 3), "gc 1 10000000");
  char *back = reingest(&raw, "back.cpu", "samples");
  assert_string_equal(back, "gc 1\nmain;work 2\nmain;work;fast 3\nmain;work;slow 5\n");
  free(back);
  perftools__profiles__profile__free_unpacked(p, NULL);
  ember_buf_free(&raw);
  ember_tree_free(t);
}

static void test_pprof_export_names_other_units_after_the_app(void **state) {
  ember_tree_t *t = ember_tree_new();
  add(t, "main;alloc", 4096);
  ember_render_meta_t m = meta("app.inuse_space", "bytes", 100);
  ember_buf_t raw = EMBER_BUF_INIT;
  pb_profile_t *p = export(t, &m, &raw);
  assert_int_equal(p->n_sample_type, 1);
  assert_string_equal(str(p, p->sample_type[0]->type), "inuse_space");
  assert_string_equal(str(p, p->sample_type[0]->unit), "bytes");
  assert_null(p->period_type);
  assert_string_equal(sample(p, 0), "main;alloc 4096");
  char *back = reingest(&raw, "back.inuse_space", "bytes");
  assert_string_equal(back, "main;alloc 4096\n");
  free(back);
  perftools__profiles__profile__free_unpacked(p, NULL);
  ember_buf_free(&raw);
  /* A wall-clock app counts wall time. */
  m = meta("app.wall", "samples", 1000);
  p = export(t, &m, &raw);
  assert_string_equal(str(p, p->sample_type[1]->type), "wall");
  assert_int_equal(p->period, 1000000);
  perftools__profiles__profile__free_unpacked(p, NULL);
  ember_buf_free(&raw);
  ember_tree_free(t);
}

static void test_pprof_export_keeps_odd_names_and_the_root(void **state) {
  ember_tree_t *t = ember_tree_new();
  add(t, "a b;c:d;x", 1);
  add(t, "x;x", 2); /* one name, two places */
  ember_tree_add(t, EMBER_TREE_ROOT, 0, 7);
  ember_render_meta_t m = meta("app", "samples", 0); /* rate 0: read as 100 */
  ember_buf_t raw = EMBER_BUF_INIT;
  pb_profile_t *p = export(t, &m, &raw);
  assert_int_equal(p->period, 10000000);
  assert_int_equal(p->n_function, 3); /* a b, c:d, x */
  assert_int_equal(p->n_sample, 3);
  assert_string_equal(sample(p, 0), " 7 70000000"); /* the root: no frames */
  assert_string_equal(sample(p, 1), "a b;c:d;x 1 10000000");
  assert_string_equal(sample(p, 2), "x;x 2 20000000");
  perftools__profiles__profile__free_unpacked(p, NULL);
  ember_buf_free(&raw);
  ember_tree_free(t);
}

static void test_pprof_export_of_an_empty_tree_is_a_valid_profile(void **state) {
  ember_tree_t *t = ember_tree_new();
  ember_render_meta_t m = meta("nobody.cpu", "samples", 100);
  ember_buf_t raw = EMBER_BUF_INIT;
  pb_profile_t *p = export(t, &m, &raw);
  assert_int_equal(p->n_sample, 0);
  assert_int_equal(p->n_sample_type, 2);
  perftools__profiles__profile__free_unpacked(p, NULL);
  ember_buf_free(&raw);
  ember_tree_free(t);
}

static void test_pprof_export_refuses_stacks_too_deep_to_repeat(void **state) {
  /* A chain 9000 deep with a value on every node: 9000 samples, but 40.5
   * million frames in all, since each repeats its whole stack: more than
   * 300 MiB to hold while building. */
  ember_tree_t *t = ember_tree_new();
  uint32_t node = EMBER_TREE_ROOT, name = ember_tree_intern(t, "f", 1);
  for (int i = 0; i < 9000; i++) {
    node = ember_tree_child(t, node, name);
    ember_tree_add(t, node, 0, 1);
  }
  ember_render_meta_t m = meta("app.cpu", "samples", 100);
  m.max_output = EMBER_QUERY_MAX_OUTPUT;
  ember_buf_t raw = EMBER_BUF_INIT;
  ember_err_t err;
  assert_int_equal(ember_render_pprof(&raw, t, &m, &err), EMBER_EINVAL);
  assert_string_equal(err.msg, "the pprof export would take up to 697 MiB, over the "
                               "server's limit of 128 MiB; lower maxNodes or narrow the "
                               "time range or the selector");
  assert_int_equal(raw.len, 0);
  ember_buf_free(&raw);
  ember_tree_free(t);
}

static void test_pprof_export_gives_up_once_the_deadline_has_passed(void **state) {
  ember_tree_t *t = ember_tree_new();
  add(t, "main;work", 3);
  ember_render_meta_t m = meta("app.cpu", "samples", 100);
  ember_buf_t raw = EMBER_BUF_INIT;
  ember_err_t err;
  ember_deadline_set(ember_mono_ns() - 1);
  int rc = ember_render_pprof(&raw, t, &m, &err);
  ember_deadline_set(0);
  assert_int_equal(rc, EMBER_ETIMEOUT);
  assert_non_null(strstr(err.msg, "ran out of time while measuring the stacks of the "
                                  "export; narrow the time range or the selector"));
  assert_int_equal(raw.len, 0);
  ember_buf_free(&raw);
  ember_tree_free(t);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_pprof_export_writes_a_cpu_profile_like_go),
      cmocka_unit_test(test_pprof_export_names_other_units_after_the_app),
      cmocka_unit_test(test_pprof_export_keeps_odd_names_and_the_root),
      cmocka_unit_test(test_pprof_export_of_an_empty_tree_is_a_valid_profile),
      cmocka_unit_test(test_pprof_export_refuses_stacks_too_deep_to_repeat),
      cmocka_unit_test(test_pprof_export_gives_up_once_the_deadline_has_passed),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
