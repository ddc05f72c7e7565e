/* tests/client/test_retry.c - the retry rules every pusher shares. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "ember/client.h"

static void test_delays_and_retries_follow_the_agents_rules(void **state) {
  assert_int_equal(ember_client_retry_delay_ms(0, -1, 0, 0.0), 250);
  assert_in_range(ember_client_retry_delay_ms(0, -1, 0, 0.999), 498, 500);
  assert_int_equal(ember_client_retry_delay_ms(503, -1, 1, 0.0), 500);
  assert_int_equal(ember_client_retry_delay_ms(500, -1, 2, 0.0), 1000);
  assert_int_equal(ember_client_retry_delay_ms(0, -1, 10, 0.0), 5000); /* capped at 10 s */
  assert_in_range(ember_client_retry_delay_ms(0, -1, 10, 0.999), 9990, 10000);
  assert_int_equal(ember_client_retry_delay_ms(429, 3, 0, 0.5), 3000); /* Retry-After, no jitter */
  assert_int_equal(ember_client_retry_delay_ms(429, 60, 0, 0.5), 10000);
  assert_int_equal(ember_client_retry_delay_ms(429, -1, 0, 0.0), 250);
  assert_true(ember_client_retryable(0));
  assert_true(ember_client_retryable(429));
  assert_true(ember_client_retryable(500));
  assert_true(ember_client_retryable(503));
  assert_false(ember_client_retryable(400));
  assert_false(ember_client_retryable(401));
  assert_false(ember_client_retryable(413));
  assert_false(ember_client_retryable(422));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_delays_and_retries_follow_the_agents_rules),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
