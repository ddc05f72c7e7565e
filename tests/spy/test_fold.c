/* Tests for src/spy/fold.c: counting stacks of name ids, folded text and
 * the SVG flame graph. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "spy/spy_int.h"

static uint32_t id(spy_names_t *t, const char *s) {
  return spy_names_intern(t, s, strlen(s));
}

static void test_equal_stacks_are_counted_once_and_written_sorted(void **state) {
  spy_names_t names;
  memset(&names, 0, sizeof names);
  spy_fold_t f;
  memset(&f, 0, sizeof f);
  uint32_t m = id(&names, "app:main (app.py:1)"), b = id(&names, "app:b (app.py:9)"),
           a = id(&names, "app:a (app.py:5)");
  uint32_t s1[] = {m, b}, s2[] = {m, a}, s3[] = {m};
  for (int i = 0; i < 3; i++) spy_fold_add(&f, s1, 2, 1);
  spy_fold_add(&f, s2, 2, 5);
  spy_fold_add(&f, s3, 1, 1);
  assert_int_equal(f.n, 3);
  assert_int_equal(f.total, 9);
  ember_buf_t out = EMBER_BUF_INIT;
  spy_fold_text(&f, &names, &out);
  assert_string_equal(out.data, "app:main (app.py:1) 1\n"
                                "app:main (app.py:1);app:a (app.py:5) 5\n"
                                "app:main (app.py:1);app:b (app.py:9) 3\n");
  ember_buf_free(&out);
  spy_fold_reset(&f);
  assert_int_equal(f.n, 0);
  spy_fold_text(&f, &names, &out);
  assert_int_equal(out.len, 0);
  ember_buf_free(&out);
  /* Many distinct stacks survive the table's growth. */
  for (uint32_t i = 0; i < 3000; i++) {
    uint32_t s[] = {m, i % 3 ? a : b, i};
    spy_fold_add(&f, s, 3, 1);
    spy_fold_add(&f, s, 3, 1);
  }
  assert_int_equal(f.n, 3000);
  assert_int_equal(f.total, 6000);
  spy_fold_free(&f);
  spy_names_free(&names);
}

static void test_svg_draws_the_stacks(void **state) {
  spy_names_t names;
  memset(&names, 0, sizeof names);
  spy_fold_t f;
  memset(&f, 0, sizeof f);
  uint32_t s[] = {id(&names, "app:main (app.py:1)"), id(&names, "app:hot (app.py:7)")};
  spy_fold_add(&f, s, 2, 10);
  ember_buf_t out = EMBER_BUF_INIT;
  assert_int_equal(spy_fold_svg(&f, &names, "app.cpu{}", 100, 1700000000, 1700000010, &out,
                                NULL), 0);
  assert_non_null(strstr(out.data, "<svg"));
  assert_non_null(strstr(out.data, "app:hot (app.py:7)"));
  assert_non_null(strstr(out.data, "</svg>"));
  ember_buf_free(&out);
  spy_fold_free(&f);
  spy_names_free(&names);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_equal_stacks_are_counted_once_and_written_sorted),
      cmocka_unit_test(test_svg_draws_the_stacks),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
