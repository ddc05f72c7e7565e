/* Tests for src/http/args.c: the query string, decoded by Ember. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http/http_int.h"

static void test_args_decode_pairs_plus_and_percent(void **state) {
  http_kv_t *kv = NULL;
  size_t n = 0;
  ember_err_t err;
  assert_int_equal(ember_http_args_parse("query=app.cpu%7Bk%3D%22v+w%22%7D&from=now-1h&"
                                         "flag&&empty=&bad=%zz%4",
                                         16, &kv, &n, &err),
                   0);
  assert_int_equal(n, 5);
  assert_string_equal(kv[0].key, "query");
  assert_string_equal(kv[0].value, "app.cpu{k=\"v w\"}");
  assert_string_equal(kv[1].value, "now-1h");
  assert_string_equal(kv[2].key, "flag");
  assert_string_equal(kv[2].value, "");
  assert_string_equal(kv[3].key, "empty");
  assert_string_equal(kv[3].value, "");
  assert_string_equal(kv[4].value, "%zz%4"); /* not an escape: kept */
  ember_http_kv_free(kv, n);
}

static void test_args_refuse_an_encoded_nul(void **state) {
  http_kv_t *kv = NULL;
  size_t n = 0;
  ember_err_t err;
  assert_int_equal(ember_http_args_parse("name=x%00evil.cpu", 16, &kv, &n, &err),
                   EMBER_EINVAL);
  assert_non_null(strstr(err.msg, "NUL"));
  assert_non_null(strstr(err.msg, "name"));
  assert_null(kv);
  assert_int_equal(ember_http_args_parse("a%00b=1", 16, &kv, &n, &err), EMBER_EINVAL);
}

static void test_args_refuse_more_than_the_limit(void **state) {
  char q[64 * 6];
  size_t len = 0;
  for (int i = 0; i < 64; i++)
    len += (size_t)snprintf(q + len, sizeof q - len, "a%d=1&", i);
  http_kv_t *kv = NULL;
  size_t n = 0;
  ember_err_t err;
  assert_int_equal(ember_http_args_parse(q, 64, &kv, &n, &err), 0);
  assert_int_equal(n, 64);
  ember_http_kv_free(kv, n);
  assert_int_equal(ember_http_args_parse(q, 63, &kv, &n, &err), EMBER_ETOOBIG);
  assert_non_null(strstr(err.msg, "63"));
}

static void test_args_of_an_empty_query_are_none(void **state) {
  http_kv_t *kv = NULL;
  size_t n = 7;
  ember_err_t err;
  assert_int_equal(ember_http_args_parse("", 4, &kv, &n, &err), 0);
  assert_int_equal(n, 0);
  assert_int_equal(ember_http_args_parse("&&&", 4, &kv, &n, &err), 0);
  assert_int_equal(n, 0);
  ember_http_kv_free(kv, n);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_args_decode_pairs_plus_and_percent),
      cmocka_unit_test(test_args_refuse_an_encoded_nul),
      cmocka_unit_test(test_args_refuse_more_than_the_limit),
      cmocka_unit_test(test_args_of_an_empty_query_are_none),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
