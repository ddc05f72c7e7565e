/* Tests for src/query/label.c: frame labels elided by the web UI's rule,
 * checked against the cases the UI is tested with (tests/data/labels.json),
 * in C and in the script the SVG carries. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "query/query_int.h"

/* ---- Helpers ----------------------------------------------------------- */

static json_t *load_cases(const char *file) {
  const char *dir = getenv("EMBER_TEST_DATA");
  char path[1024];
  snprintf(path, sizeof path, "%s/%s", dir ? dir : "tests/data", file);
  json_error_t e;
  json_t *doc = json_load_file(path, 0, &e);
  if (!doc) fprintf(stderr, "%s: %s\n", path, e.text);
  assert_non_null(doc);
  json_t *cases = json_object_get(doc, "cases");
  assert_true(json_array_size(cases) > 10);
  json_incref(cases);
  json_decref(doc);
  return cases;
}

static char *elide(const char *name, size_t max) {
  ember_buf_t b = EMBER_BUF_INIT;
  ember_label_elide(&b, name, strlen(name), max);
  ember_buf_putc(&b, '\0');
  return ember_buf_take(&b, NULL);
}

/* ---- The shared cases -------------------------------------------------- */

static void test_labels_follow_every_shared_case(void **state) {
  json_t *cases = load_cases("labels.json"), *c;
  size_t i, failed = 0;
  json_array_foreach(cases, i, c) {
    const char *name = json_string_value(json_object_get(c, "name"));
    const char *want = json_string_value(json_object_get(c, "expected"));
    json_int_t max = json_integer_value(json_object_get(c, "max"));
    assert_non_null(name);
    assert_non_null(want);
    char *got = elide(name, (size_t)max);
    if (strcmp(got, want)) {
      fprintf(stderr, "case %zu: '%s' at %lld: got '%s', want '%s'\n", i, name,
              (long long)max, got, want);
      failed++;
    }
    /* Never longer than asked, never longer than the name. */
    assert_true(ember_utf8_len(got, strlen(got)) <= (size_t)max);
    free(got);
  }
  assert_int_equal(failed, 0);
  json_decref(cases);
}

/* The script an SVG carries must give the same labels: run it with node on
 * the same cases (skipped where node is not installed). */
static void test_svg_script_follows_every_shared_case(void **state) {
  if (system("node --version >/dev/null 2>&1") != 0) {
    fprintf(stderr, "node is not installed: the SVG script's labels are not checked\n");
    skip();
  }
  const char *dir = getenv("EMBER_TEST_DATA");
  char js[] = "/tmp/ember-label-XXXXXX.js";
  int fd = mkstemps(js, 3);
  assert_true(fd >= 0);
  FILE *f = fdopen(fd, "w");
  fputs(ember_label_script, f);
  fputs("\nvar fs = require('fs');\n"
        "var data = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));\n"
        "var bad = 0;\n"
        "data.cases.forEach(function (c) {\n"
        "  var got = emberElide(c.name, c.max);\n"
        "  if (got !== c.expected) {\n"
        "    bad++;\n"
        "    console.error(JSON.stringify(c) + ' got ' + JSON.stringify(got));\n"
        "  }\n"
        "});\n"
        "process.exit(bad ? 1 : 0);\n",
        f);
  fclose(f);
  char cmd[2048];
  snprintf(cmd, sizeof cmd, "node %s %s/labels.json", js, dir ? dir : "tests/data");
  int rc = system(cmd);
  unlink(js);
  assert_int_equal(rc, 0);
}

/* ---- The steps --------------------------------------------------------- */

static void assert_strip(const char *name, const char *want) {
  size_t n = ember_label_strip(name, strlen(name));
  if (n != strlen(want) || strncmp(name, want, n))
    fprintf(stderr, "strip '%s': got '%.*s', want '%s'\n", name, (int)n, name, want);
  assert_int_equal(n, strlen(want));
  assert_memory_equal(name, want, n);
}

static void test_strip_drops_locations_arguments_qualifiers_and_hashes(void **state) {
  assert_strip("server:mutex_lock (server.py:58)", "server:mutex_lock");
  assert_strip("f(int) const &&", "f");
  assert_strip("f(int)  noexcept", "f");
  assert_strip("compress(z*) [clone .isra.0] [clone .cold]", "compress");
  assert_strip("crate::poll::h0123456789abcdef", "crate::poll");
  /* Not a location when a qualifier follows; not an argument list when it
   * is the whole name or belongs to operator. */
  assert_strip("f (int) const", "f (int) const");
  assert_strip("(anonymous)", "(anonymous)");
  assert_strip("Foo::operator()(int)", "Foo::operator()");
  assert_strip("Foo::operator()", "Foo::operator()");
  assert_strip("x->y(a->b)", "x->y");
  assert_strip("plain", "plain");
  assert_strip("", "");
  /* A location of only spaces keeps the name. */
  assert_strip(" (a.py:1)", " (a.py:1)");
  /* Unicode spaces count as space before a location, as in JavaScript. */
  assert_strip("f\xc2\xa0 (a.py:1)", "f");
}

static void assert_function(const char *name, const char *want) {
  size_t n = strlen(name), at = ember_label_function(name, n);
  if (strcmp(name + at, want))
    fprintf(stderr, "function of '%s': got '%s', want '%s'\n", name, name + at, want);
  assert_string_equal(name + at, want);
}

static void test_function_starts_after_the_last_separator_outside_brackets(void **state) {
  assert_function("github.com/jackc/pgx/v5.(*Conn).runCursor", "runCursor");
  assert_function("ns::Cache<std::string, int>::get", "get");
  assert_function("main.(*Server).handle.func1.2", "handle.func1.2");
  assert_function("lib/threading.py:890 - _bootstrap", "_bootstrap");
  assert_function("app/user.rb:12 - User#save", "User#save");
  assert_function("a.b.", "b.");
  assert_function("Foo::operator->", "operator->");
  assert_function("nosep", "nosep");
  assert_function("", "");
  assert_function("pkg.func1", "func1"); /* a closure of nothing stays */
}

static void test_elide_counts_code_points_and_never_splits_one(void **state) {
  char *s = elide("\xe6\x9c\x8d\xe5\x8a\xa1\xe5\xa4\x84\xe7\x90\x86", 3); /* 服务处理 */
  assert_string_equal(s, "\xe6\x9c\x8d\xe5\x8a\xa1\xe2\x80\xa6");
  free(s);
  s = elide("a\xf0\x9f\x98\x80\xf0\x9f\x98\x80", 2);
  assert_string_equal(s, "a\xe2\x80\xa6");
  free(s);
  s = elide("abc", SIZE_MAX);
  assert_string_equal(s, "abc");
  free(s);
  /* Deeply nested brackets and long names cost linear time, not a stack. */
  size_t n = 200000;
  char *big = malloc(n + 1);
  for (size_t i = 0; i < n; i++) big[i] = i < n / 2 ? '<' : '>';
  big[n] = '\0';
  s = elide(big, 10);
  assert_int_equal(ember_utf8_len(s, strlen(s)), 10);
  free(s);
  free(big);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_labels_follow_every_shared_case),
      cmocka_unit_test(test_svg_script_follows_every_shared_case),
      cmocka_unit_test(test_strip_drops_locations_arguments_qualifiers_and_hashes),
      cmocka_unit_test(test_function_starts_after_the_last_separator_outside_brackets),
      cmocka_unit_test(test_elide_counts_code_points_and_never_splits_one),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
