/* Tests for src/client/push.c: `ember push`'s request, retried through a
 * busy server by the agents' rules, and refused for good on a 4xx. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "ember/client.h"

#include "client/script_server.h"

static ember_push_opts_t opts(const script_t *s, char *url, size_t cap) {
  snprintf(url, cap, "http://127.0.0.1:%u", s->port);
  ember_push_opts_t o;
  memset(&o, 0, sizeof o);
  o.server = url;
  o.name = "bench.cpu{commit=a1 b2}";
  o.from = "1700000000";
  o.format = "folded";
  o.content_type = "text/plain";
  o.body = "main;work 3\n";
  o.len = strlen("main;work 3\n");
  o.max_retries = EMBER_CLIENT_RETRIES;
  o.timeout_ms = 5000;
  return o;
}

static void test_push_retries_503_and_429_then_succeeds(void **state) {
  static const char *const answers[] = {BUSY, SLOW_DOWN, OK, NULL};
  script_t s;
  script_start(&s, answers);
  char url[64];
  ember_push_opts_t o = opts(&s, url, sizeof url);
  unsigned retries = 9;
  ember_err_t err;
  assert_int_equal(ember_client_push(&o, &retries, &err), 0);
  script_stop(&s);
  assert_int_equal(s.served, 3);
  assert_int_equal(retries, 2);
  /* The series is percent-encoded, the format and time passed on. */
  assert_non_null(strstr(s.first, "POST /ingest?name=bench.cpu%7Bcommit%3Da1%20b2%7D&from="
                                   "1700000000&format=folded "));
  assert_non_null(strstr(s.first, "main;work 3\n"));
}

static void test_push_gives_up_at_once_on_a_4xx(void **state) {
  static const char *const answers[] = {BAD, OK, NULL};
  script_t s;
  script_start(&s, answers);
  char url[64];
  ember_push_opts_t o = opts(&s, url, sizeof url);
  ember_err_t err;
  assert_int_equal(ember_client_push(&o, NULL, &err), EMBER_EINVAL);
  script_stop(&s);
  assert_int_equal(s.served, 1);
  assert_non_null(strstr(err.msg, "the server answered 400: bad name x"));
}

static void test_push_gives_up_after_the_retries(void **state) {
  static const char *const answers[] = {FAIL, FAIL, NULL};
  script_t s;
  script_start(&s, answers);
  char url[64];
  ember_push_opts_t o = opts(&s, url, sizeof url);
  o.max_retries = 1;
  ember_err_t err;
  assert_int_equal(ember_client_push(&o, NULL, &err), EMBER_EIO);
  script_stop(&s);
  assert_int_equal(s.served, 2);
  assert_non_null(strstr(err.msg, "gave up after 1 retries"));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_push_retries_503_and_429_then_succeeds),
      cmocka_unit_test(test_push_gives_up_at_once_on_a_4xx),
      cmocka_unit_test(test_push_gives_up_after_the_retries),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
