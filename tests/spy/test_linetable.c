/* Tests for src/spy/linetable.c: every instruction of real code objects
 * (tests/data/spy/linetables.txt, made by make_linetables.py with CPython
 * 3.11 and 3.12) gets the line CPython gives it; hand-made tables cover
 * the corners; garbage never reads past the table. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "spy/spy_int.h"

static size_t unhex(const char *s, uint8_t *out) {
  size_t n = 0;
  for (; s[0] && s[1] && s[0] != '\n'; s += 2) {
    unsigned v;
    sscanf(s, "%2x", &v);
    out[n++] = (uint8_t)v;
  }
  return n;
}

static void test_addr2line_matches_cpython_on_real_code_objects(void **state) {
  char path[4096];
  snprintf(path, sizeof path, "%s/spy/linetables.txt", getenv("EMBER_TEST_DATA"));
  FILE *f = fopen(path, "r");
  assert_non_null(f);
  char *line = NULL;
  size_t cap = 0;
  int codes = 0, checked = 0, versions[2] = {0, 0};
  uint8_t *table = malloc(1 << 20);
  while (getline(&line, &cap, f) > 0) {
    char version[8], name[512];
    int first, units;
    if (sscanf(line, "code %7s %511s %d %d", version, name, &first, &units) != 4) continue;
    versions[strcmp(version, "3.11") ? 1 : 0]++;
    assert_true(getline(&line, &cap, f) > 0 && !strncmp(line, "table ", 6));
    size_t n = unhex(line + 6, table);
    assert_true(getline(&line, &cap, f) > 0 && !strncmp(line, "lines", 5));
    char *p = line + 5;
    for (int u = 0; u < units; u++) {
      char *end;
      long want = strtol(p, &end, 10);
      assert_true(end != p);
      p = end;
      int got = spy_addr2line(table, n, first, (int64_t)u * 2);
      if (got != want) fprintf(stderr, "%s %s unit %d: %d, want %ld\n", version, name, u, got, want);
      assert_int_equal(got, want);
      checked++;
    }
    /* Before the first instruction (a frame not started): the first line. */
    assert_int_equal(spy_addr2line(table, n, first, -2), first);
    codes++;
  }
  free(line);
  free(table);
  fclose(f);
  assert_true(codes > 50);
  assert_true(checked > 1000);
  assert_true(versions[0] > 0 && versions[1] > 0);
}

static void test_long_form_and_negative_deltas(void **state) {
  /* line 10: 2 units; long form +300 (zigzag 600 = 0x258 -> 0x58|0x40, 0x09);
   * no-columns -5 (zigzag 11); one-line +2 (code 12) with two column bytes. */
  const uint8_t t[] = {0x80 | (13 << 3) | 1, 0x00,
                       0x80 | (14 << 3) | 0, 0x58 | 0x40, 0x09, 0x00, 0x01, 0x02,
                       0x80 | (13 << 3) | 2, 11,
                       0x80 | (12 << 3) | 0, 0x03, 0x04};
  assert_int_equal(spy_addr2line(t, sizeof t, 10, 0), 10);
  assert_int_equal(spy_addr2line(t, sizeof t, 10, 2), 10);
  assert_int_equal(spy_addr2line(t, sizeof t, 10, 4), 310);
  assert_int_equal(spy_addr2line(t, sizeof t, 10, 6), 305);
  assert_int_equal(spy_addr2line(t, sizeof t, 10, 10), 305);
  assert_int_equal(spy_addr2line(t, sizeof t, 10, 12), 307);
  assert_int_equal(spy_addr2line(t, sizeof t, 10, 14), -1); /* past the table */
}

static void test_no_location_entries_have_no_line_and_keep_the_running_line(void **state) {
  const uint8_t t[] = {0x80 | (13 << 3) | 0, 0x04,  /* +2: line 7 */
                       0x80 | (15 << 3) | 1,        /* no line, 2 units */
                       0x80 | (0 << 3) | 0, 0x05};  /* short form: line 7 again */
  assert_int_equal(spy_addr2line(t, sizeof t, 5, 0), 7);
  assert_int_equal(spy_addr2line(t, sizeof t, 5, 2), -1);
  assert_int_equal(spy_addr2line(t, sizeof t, 5, 4), -1);
  assert_int_equal(spy_addr2line(t, sizeof t, 5, 6), 7);
}

static void test_garbage_stays_inside_the_table(void **state) {
  uint8_t t[64];
  unsigned seed = 7;
  for (int round = 0; round < 2000; round++) {
    size_t n = (size_t)(rand_r(&seed) % (int)sizeof t);
    for (size_t i = 0; i < n; i++) t[i] = (uint8_t)rand_r(&seed);
    /* A long varint at the very end must not read beyond n. */
    if (n) t[n - 1] |= 0x40;
    uint8_t *copy = malloc(n ? n : 1);
    memcpy(copy, t, n);
    for (int64_t a = -2; a < 200; a += 2) spy_addr2line(copy, n, 1, a);
    free(copy);
  }
  assert_int_equal(spy_addr2line(NULL, 0, 3, 0), -1);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_addr2line_matches_cpython_on_real_code_objects),
      cmocka_unit_test(test_long_form_and_negative_deltas),
      cmocka_unit_test(test_no_location_entries_have_no_line_and_keep_the_running_line),
      cmocka_unit_test(test_garbage_stays_inside_the_table),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
