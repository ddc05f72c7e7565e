/* Tests for src/query/colors.c: the exports color frames as the web UI
 * does, checked against the names, hues and palette of
 * tests/data/colors.json, which the UI's own tests check web/js/colors.js
 * against. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "query/query_int.h"

static json_t *fixture(void) {
  const char *dir = getenv("EMBER_TEST_DATA");
  char path[1024];
  snprintf(path, sizeof path, "%s/colors.json", dir ? dir : "tests/data");
  json_error_t e;
  json_t *doc = json_load_file(path, 0, &e);
  if (!doc) fprintf(stderr, "%s: %s\n", path, e.text);
  assert_non_null(doc);
  return doc;
}

static long num(json_t *o, const char *key) {
  return (long)json_integer_value(json_object_get(o, key));
}

static void test_colors_use_the_uis_palette_indices(void **state) {
  json_t *fx = fixture();
  assert_int_equal(num(fx, "hues"), EMBER_COLOR_HUES);
  assert_int_equal(num(fx, "other"), EMBER_COLOR_OTHER);
  assert_int_equal(num(fx, "root"), EMBER_COLOR_ROOT);
  assert_int_equal(num(fx, "dim"), EMBER_COLOR_DIM);
  assert_int_equal(num(fx, "diffBase"), EMBER_COLOR_DIFF);
  assert_int_equal(num(fx, "diffSteps"), EMBER_COLOR_DIFF_STEPS);
  json_decref(fx);
}

static void test_colors_pick_the_uis_package_and_hue_for_every_name(void **state) {
  json_t *fx = fixture(), *n;
  size_t i;
  json_array_foreach(json_object_get(fx, "names"), i, n) {
    const char *name = json_string_value(json_object_get(n, "name"));
    const char *want = json_string_value(json_object_get(n, "package"));
    ember_slice_t s = {name, strlen(name)};
    ember_slice_t pkg = ember_color_package(s);
    if (pkg.len != strlen(want) || memcmp(pkg.base, want, pkg.len))
      fail_msg("package of '%s': '%.*s', the UI's '%s'", name, (int)pkg.len, pkg.base, want);
    if (ember_color_hue(s) != num(n, "hue"))
      fail_msg("hue of '%s': %d, the UI's %ld", name, ember_color_hue(s), num(n, "hue"));
  }
  assert_true(i > 20);
  json_decref(fx);
}

static void test_colors_step_diffs_as_the_ui(void **state) {
  json_t *fx = fixture(), *c;
  size_t i;
  json_array_foreach(json_object_get(fx, "changes"), i, c) {
    double change = json_number_value(json_object_get(c, "change"));
    assert_int_equal(ember_color_diff_step(change), num(c, "step"));
  }
  assert_int_equal(ember_color_diff_step(INFINITY), EMBER_COLOR_DIFF_STEPS);
  assert_true(isinf(ember_color_change(0, 5, 100, 100)));
  assert_true(ember_color_change(5, 0, 100, 100) == -1);
  assert_true(ember_color_change(10, 20, 100, 200) == 0);
  assert_true(ember_color_change(0, 0, 0, 0) == 0);
  json_decref(fx);
}

static void test_colors_are_the_uis_light_palette(void **state) {
  json_t *fx = fixture(), *p;
  size_t i;
  json_array_foreach(json_object_get(fx, "palette"), i, p) {
    int idx = (int)num(p, "index");
    if (idx > EMBER_COLOR_DIM && idx < EMBER_COLOR_DIFF - EMBER_COLOR_DIFF_STEPS)
      continue; /* no such index */
    int h, s, l;
    ember_color_hsl(idx, &h, &s, &l);
    char hsl[40];
    snprintf(hsl, sizeof hsl, "hsl(%d, %d%%, %d%%)", h, s, l);
    assert_string_equal(hsl, json_string_value(json_object_get(p, "hsl")));
    ember_buf_t b = EMBER_BUF_INIT;
    ember_color_put(&b, idx);
    ember_buf_putc(&b, '\0');
    assert_string_equal(b.data, json_string_value(json_object_get(p, "hex")));
    ember_buf_free(&b);
  }
  assert_int_equal(i, EMBER_COLOR_DIFF + EMBER_COLOR_DIFF_STEPS + 1);
  json_decref(fx);
}

/* Broken UTF-8 hashes as U+FFFD, as a browser decodes it, and never reads
 * past the name. */
static void test_colors_hash_broken_utf8_as_the_replacement_character(void **state) {
  const char bad[] = {'\xff', '.', 'f'}, repl[] = "\xef\xbf\xbd.f";
  assert_int_equal(ember_color_hue((ember_slice_t){bad, 3}),
                   ember_color_hue((ember_slice_t){repl, 5}));
  const char cut[] = {'\xe6', '\x97'};
  int h = ember_color_hue((ember_slice_t){cut, 2});
  assert_true(h >= 0 && h < EMBER_COLOR_HUES);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_colors_use_the_uis_palette_indices),
      cmocka_unit_test(test_colors_pick_the_uis_package_and_hue_for_every_name),
      cmocka_unit_test(test_colors_step_diffs_as_the_ui),
      cmocka_unit_test(test_colors_are_the_uis_light_palette),
      cmocka_unit_test(test_colors_hash_broken_utf8_as_the_replacement_character),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
