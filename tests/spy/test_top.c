/* Tests for src/spy/top.c: own and total counts per function and the
 * screen they make, sorted by each key. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "spy/spy_int.h"

/* The function names of the screen's rows, in order, joined by '|': the
 * rows after the title, whose names start at column 38. */
static void rows(const char *screen, char *out, size_t cap) {
  out[0] = '\0';
  const char *p = strstr(screen, "Function (file:line)");
  assert_non_null(p);
  for (p = strchr(p, '\n'); p && p[1] && strlen(p + 1) > 38 && p[39] != '\x1b';
       p = strchr(p + 1, '\n')) {
    const char *name = p + 1 + 38, *eol = strchr(name, '\x1b');
    if (!eol) break;
    if (out[0]) strncat(out, "|", cap - strlen(out) - 1);
    size_t n = (size_t)(eol - name), room = cap - strlen(out) - 1;
    strncat(out, name, n < room ? n : room);
  }
}

static void expect_order(const char *screen, const char *want) {
  char order[256];
  rows(screen, order, sizeof order);
  if (strcmp(order, want)) fprintf(stderr, "order %s, want %s in\n%s\n", order, want, screen);
  assert_string_equal(order, want);
}

static void test_own_total_and_sorting(void **state) {
  spy_names_t names;
  memset(&names, 0, sizeof names);
  spy_top_t t;
  memset(&t, 0, sizeof t);
  uint32_t m = spy_names_intern(&names, "main", 4), h = spy_names_intern(&names, "hot", 3),
           c = spy_names_intern(&names, "cold", 4), r = spy_names_intern(&names, "rec", 3);
  uint32_t hot[] = {m, h}, cold[] = {m, c}, recursive[] = {m, r, r, r};
  for (int i = 0; i < 6; i++) spy_top_add(&t, hot, 2);
  for (int i = 0; i < 2; i++) spy_top_add(&t, cold, 2);
  spy_top_add(&t, recursive, 4);
  assert_int_equal(t.samples, 9);
  const struct spy_top_row *rr = &t.rows[t.slot_of[r] - 1], *rm = &t.rows[t.slot_of[m] - 1];
  assert_int_equal(rr->total, 1); /* once per sample, however deep */
  assert_int_equal(rr->own, 1);
  assert_int_equal(rm->total, 9);
  assert_int_equal(rm->own, 0);
  ember_buf_t out = EMBER_BUF_INIT;
  spy_top_screen(&t, &names, "header\n", SPY_SORT_OWN, 100, 200, 50, &out);
  assert_non_null(strstr(out.data, "header"));
  expect_order(out.data, "hot|cold|rec|main");
  assert_non_null(strstr(out.data, "66.7%"));
  ember_buf_reset(&out);
  spy_top_screen(&t, &names, "header\n", SPY_SORT_TOTAL, 100, 200, 50, &out);
  expect_order(out.data, "main|hot|cold|rec");
  /* A new interval: percentages start again, times go on. */
  spy_top_interval(&t);
  spy_top_add(&t, cold, 2);
  ember_buf_reset(&out);
  spy_top_screen(&t, &names, "", SPY_SORT_OWN, 100, 200, 50, &out);
  expect_order(out.data, "cold|hot|rec|main");
  ember_buf_reset(&out);
  spy_top_screen(&t, &names, "", SPY_SORT_OWN_TIME, 100, 200, 50, &out);
  expect_order(out.data, "hot|cold|rec|main");
  /* Height and width bound the screen. */
  ember_buf_reset(&out);
  spy_top_screen(&t, &names, "h1\nh2\n", SPY_SORT_OWN, 100, 20, 4, &out);
  int lines = 0;
  for (const char *p = out.data; (p = strchr(p, '\n')); p++) lines++;
  assert_int_equal(lines, 4);
  ember_buf_free(&out);
  spy_top_free(&t);
  spy_names_free(&names);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_own_total_and_sorting),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
