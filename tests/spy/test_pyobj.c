/* Tests for src/spy/pyobj.c: str, bytes, tuples, lists, dicts and the
 * repr of simple values, read from a fake CPython image (fake_python.h)
 * laid out as 3.11 and as 3.12. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fake_python.h"

static const unsigned minors[] = {11, 12};

static char *str_of(fake_t *f, uint64_t a, size_t max) {
  spy_mem_t m = fake_mem(f);
  ember_buf_t b = EMBER_BUF_INIT;
  if (spy_str(&m, &f->py, a, max, &b)) {
    ember_buf_free(&b);
    return NULL;
  }
  ember_buf_reserve(&b, 0);
  return ember_buf_take(&b, NULL);
}

static char *repr_of(fake_t *f, uint64_t a) {
  spy_mem_t m = fake_mem(f);
  ember_buf_t b = EMBER_BUF_INIT;
  spy_repr(&m, &f->py, a, &b);
  return ember_buf_take(&b, NULL);
}

static void expect_repr(fake_t *f, uint64_t a, const char *want) {
  char *got = repr_of(f, a);
  if (strcmp(got, want)) fprintf(stderr, "3.%u: repr %s, want %s\n", f->L->minor, got, want);
  assert_string_equal(got, want);
  free(got);
}

static void test_str_of_every_kind_reads_as_utf8(void **state) {
  for (size_t v = 0; v < 2; v++) {
    fake_t f;
    fake_init(&f, minors[v]);
    uint64_t ascii = fake_str(&f, "Handler.do_GET");
    const uint32_t latin[] = {'c', 0xe9, '!'}, ucs2[] = {0x4e2d, 'x'}, ucs4[] = {0x1f525, 0xd800};
    uint64_t a1 = fake_str_points(&f, latin, 3, 1), a2 = fake_str_points(&f, ucs2, 2, 2),
             a4 = fake_str_points(&f, ucs4, 2, 4);
    char *s = str_of(&f, ascii, 100);
    assert_string_equal(s, "Handler.do_GET");
    free(s);
    s = str_of(&f, a1, 100);
    assert_string_equal(s, "c\xc3\xa9!");
    free(s);
    s = str_of(&f, a2, 100);
    assert_string_equal(s, "\xe4\xb8\xadx");
    free(s);
    s = str_of(&f, a4, 100); /* a lone surrogate becomes U+FFFD */
    assert_string_equal(s, "\xf0\x9f\x94\xa5\xef\xbf\xbd");
    free(s);
    s = str_of(&f, ascii, 7); /* cut at max bytes */
    assert_string_equal(s, "Handler");
    free(s);
    s = str_of(&f, a1, 2); /* never half a character */
    assert_string_equal(s, "c");
    free(s);
    fake_free(&f);
  }
}

static void test_non_str_and_unreadable_addresses_are_refused(void **state) {
  fake_t f;
  fake_init(&f, 11);
  uint64_t b = fake_bytes(&f, "abc", 3);
  assert_null(str_of(&f, b, 10));
  assert_null(str_of(&f, 0, 10));
  assert_null(str_of(&f, FAKE_BASE + f.len + 4096, 10));
  /* A str whose length runs past the image. */
  uint64_t s = fake_str(&f, "abc");
  fake_u64(&f, s + 16, 1u << 20);
  assert_null(str_of(&f, s, 1u << 21));
  fake_free(&f);
}

static void test_bytes_tuples_lists_and_dicts(void **state) {
  for (size_t v = 0; v < 2; v++) {
    fake_t f;
    fake_init(&f, minors[v]);
    spy_mem_t m;
    uint64_t b = fake_bytes(&f, "\x01\x02\x03", 3);
    uint64_t items[3] = {fake_int(&f, 1), fake_int(&f, 2), fake_int(&f, 3)};
    uint64_t t = fake_tuple(&f, items, 3), l = fake_list(&f, items, 3);
    const char *keys[] = {"__name__", "path", "other"};
    uint64_t vals[] = {fake_str(&f, "pkg.mod"), l, FAKE_NONE};
    uint64_t d = fake_dict(&f, keys, vals, 3);
    m = fake_mem(&f);
    uint8_t *data;
    size_t len;
    assert_int_equal(spy_bytes(&m, &f.py, b, 100, &data, &len), 0);
    assert_int_equal(len, 3);
    assert_memory_equal(data, "\x01\x02\x03", 3);
    free(data);
    assert_int_equal(spy_bytes(&m, &f.py, b, 2, &data, &len), -1); /* over max */
    uint64_t got[4];
    size_t n;
    assert_int_equal(spy_sequence(&m, &f.py, t, got, 4, &n), 0);
    assert_int_equal(n, 3);
    assert_memory_equal(got, items, sizeof items);
    assert_int_equal(spy_sequence(&m, &f.py, l, got, 2, &n), 0);
    assert_int_equal(n, 2);
    uint64_t value;
    assert_int_equal(spy_dict_get(&m, &f.py, d, "path", &value), 0);
    assert_int_equal(value, l);
    assert_int_equal(spy_dict_get(&m, &f.py, d, "__name__", &value), 0);
    assert_int_equal(value, vals[0]);
    assert_int_equal(spy_dict_get(&m, &f.py, d, "missing", &value), -1);
    assert_int_equal(spy_dict_get(&m, &f.py, d, "pat", &value), -1);
    assert_int_equal(spy_dict_get(&m, &f.py, t, "path", &value), -1); /* not a dict */
    fake_free(&f);
  }
}

static void test_instance_attributes_and_keys_by_hash(void **state) {
  for (size_t v = 0; v < 2; v++) {
    fake_t f;
    fake_init(&f, minors[v]);
    const char *keys[] = {"_target", "_name", "_ident"};
    uint64_t name = fake_str(&f, "worker-1");
    uint64_t vals[] = {FAKE_NONE, name, fake_int(&f, 7)};
    uint64_t obj = fake_instance(&f, keys, vals, 3);
    spy_mem_t m = fake_mem(&f);
    uint64_t got;
    assert_int_equal(spy_instance_attr(&m, &f.py, obj, "_name", &got), 0);
    assert_int_equal(got, name);
    assert_int_equal(spy_instance_attr(&m, &f.py, obj, "_other", &got), -1);
    assert_int_equal(spy_instance_attr(&m, &f.py, fake_int(&f, 1), "_name", &got), -1);
    /* A dict with int keys, looked up by hash: a general-kind table. */
    uint64_t d = fake_object(&f, 48, FAKE_T_DICT);
    uint64_t k = fake_alloc(&f, SPY_KEYS_INDICES + 8 + 24 * 2);
    fake_u8(&f, k + SPY_KEYS_LOG2_SIZE, 3);
    fake_u8(&f, k + SPY_KEYS_LOG2_INDEX_BYTES, 3);
    fake_u8(&f, k + SPY_KEYS_KIND, 0);
    fake_u64(&f, k + SPY_KEYS_NENTRIES, 2);
    uint64_t e = k + SPY_KEYS_INDICES + 8;
    fake_u64(&f, e, 139700000000000ull);
    fake_u64(&f, e + 8, fake_int(&f, 1));
    fake_u64(&f, e + 16, name);
    fake_u64(&f, e + 24, 5);
    fake_u64(&f, e + 32, fake_int(&f, 5));
    fake_u64(&f, e + 40, obj);
    fake_u64(&f, d + SPY_DICT_KEYS, k);
    m = fake_mem(&f);
    assert_int_equal(spy_dict_get_hash(&m, &f.py, d, 5, &got), 0);
    assert_int_equal(got, obj);
    assert_int_equal(spy_dict_get_hash(&m, &f.py, d, 139700000000000ull, &got), 0);
    assert_int_equal(got, name);
    assert_int_equal(spy_dict_get_hash(&m, &f.py, d, 6, &got), -1);
    fake_free(&f);
  }
}

static void test_repr_of_simple_values(void **state) {
  for (size_t v = 0; v < 2; v++) {
    fake_t f;
    fake_init(&f, minors[v]);
    expect_repr(&f, fake_int(&f, 0), "0");
    expect_repr(&f, fake_int(&f, 42), "42");
    expect_repr(&f, fake_int(&f, -7), "-7");
    expect_repr(&f, fake_int(&f, 1234567890123456789LL), "1234567890123456789");
    expect_repr(&f, fake_int(&f, INT64_MIN), "-9223372036854775808");
    expect_repr(&f, fake_float(&f, 1.5), "1.5");
    expect_repr(&f, fake_float(&f, 0.1), "0.1");
    expect_repr(&f, fake_float(&f, 2.0), "2.0");
    expect_repr(&f, fake_float(&f, 1e300), "1e+300");
    expect_repr(&f, fake_str(&f, "it's\n"), "'it\\'s\\n'");
    expect_repr(&f, fake_bytes(&f, "\x00" "ab", 3), "b'\\x00ab'");
    expect_repr(&f, FAKE_NONE, "None");
    expect_repr(&f, FAKE_TRUE, "True");
    expect_repr(&f, FAKE_FALSE, "False");
    uint64_t items[2] = {FAKE_NONE, FAKE_NONE};
    expect_repr(&f, fake_list(&f, items, 2), "<list of 2 items>");
    expect_repr(&f, fake_tuple(&f, items, 1), "<tuple of 1 items>");
    uint64_t thing = fake_object(&f, 32, FAKE_T_OTHER);
    char want[64];
    snprintf(want, sizeof want, "<Thing object at 0x%llx>", (unsigned long long)thing);
    expect_repr(&f, thing, want);
    expect_repr(&f, 0, "<NULL>");
    expect_repr(&f, FAKE_BASE + f.len + 100000, "<unreadable>");
    char long_text[200];
    memset(long_text, 'x', sizeof long_text - 1);
    long_text[sizeof long_text - 1] = '\0';
    char *r = repr_of(&f, fake_str(&f, long_text));
    assert_int_equal(strlen(r), 80 + 2 + 3);
    assert_string_equal(r + strlen(r) - 4, "'...");
    free(r);
    fake_free(&f);
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_str_of_every_kind_reads_as_utf8),
      cmocka_unit_test(test_non_str_and_unreadable_addresses_are_refused),
      cmocka_unit_test(test_bytes_tuples_lists_and_dicts),
      cmocka_unit_test(test_instance_attributes_and_keys_by_hash),
      cmocka_unit_test(test_repr_of_simple_values),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
