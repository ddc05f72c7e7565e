/* Tests for src/spy/names.c: interning frame names. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "spy/spy_int.h"

static void test_the_same_bytes_get_the_same_id_across_growth(void **state) {
  spy_names_t t;
  memset(&t, 0, sizeof t);
  char name[32];
  for (int i = 0; i < 5000; i++) {
    snprintf(name, sizeof name, "mod:f%d (f.py:%d)", i, i);
    assert_int_equal(spy_names_intern(&t, name, strlen(name)), (uint32_t)i);
  }
  for (int i = 0; i < 5000; i += 7) {
    snprintf(name, sizeof name, "mod:f%d (f.py:%d)", i, i);
    assert_int_equal(spy_names_intern(&t, name, strlen(name)), (uint32_t)i);
    ember_slice_t s = spy_names_get(&t, (uint32_t)i);
    assert_int_equal(s.len, strlen(name));
    assert_memory_equal(s.base, name, s.len);
  }
  /* Bytes, not C strings: a NUL inside is part of the name. */
  uint32_t a = spy_names_intern(&t, "a\0b", 3), b = spy_names_intern(&t, "a", 1);
  assert_int_not_equal(a, b);
  ember_slice_t unknown = spy_names_get(&t, 999999);
  assert_int_equal(unknown.len, 1);
  spy_names_free(&t);
  spy_names_free(NULL);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_the_same_bytes_get_the_same_id_across_growth),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
