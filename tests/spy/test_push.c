/* Tests for src/spy/push.c: the pusher thread against a scripted server on
 * 127.0.0.1 that answers each connection with the next canned response (the
 * retry rules themselves: tests/client/test_retry.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "spy/spy_int.h"

#include "client/script_server.h"

/* Pushes one window through a pusher to the scripted server. */
static spy_push_stats_t push_one(script_t *s, FILE *log) {
  char url[64];
  snprintf(url, sizeof url, "http://127.0.0.1:%u", s->port);
  spy_pusher_t *p;
  assert_int_equal(spy_pusher_start(url, "app.cpu{k=v}", NULL, 100, log, &p, NULL), 0);
  char *body = ember_strdup("a;b 3\n");
  spy_pusher_submit(p, 1700000000, 1700000010, body, strlen(body), 3);
  spy_push_stats_t st;
  spy_pusher_close(p, 20000, &st);
  return st;
}

/* ---- Tests ---------------------------------------------------------------- */

static void test_server_errors_are_retried_until_a_push_goes_through(void **state) {
  static const char *const answers[] = {BUSY, SLOW_DOWN, OK, NULL};
  script_t s;
  script_start(&s, answers);
  spy_push_stats_t st = push_one(&s, stderr);
  script_stop(&s);
  assert_int_equal(st.pushes, 1);
  assert_int_equal(st.retries, 2);
  assert_int_equal(st.pushes_dropped, 0);
  assert_int_equal(st.samples_sent, 3);
  assert_int_equal(s.served, 3);
  s.first[s.first_len < sizeof s.first ? s.first_len : sizeof s.first - 1] = '\0';
  assert_non_null(strstr(s.first, "POST /ingest?name=app.cpu%7Bk%3Dv%7D&from=1700000000"
                                  "&until=1700000010&format=folded&sampleRate=100"
                                  "&spyName=emberspy"));
  assert_non_null(strstr(s.first, "Content-Encoding: gzip"));
  const char *body = strstr(s.first, "\r\n\r\n");
  assert_non_null(body);
  assert_int_equal((unsigned char)body[4], 0x1f); /* gzip magic */
  assert_int_equal((unsigned char)body[5], 0x8b);
}

static void test_a_refused_push_is_dropped_at_once(void **state) {
  static const char *const answers[] = {BAD, NULL};
  script_t s;
  script_start(&s, answers);
  char *logbuf = NULL;
  size_t loglen = 0;
  FILE *log = open_memstream(&logbuf, &loglen);
  spy_push_stats_t st = push_one(&s, log);
  fclose(log);
  script_stop(&s);
  assert_int_equal(st.pushes, 0);
  assert_int_equal(st.retries, 0);
  assert_int_equal(st.pushes_dropped, 1);
  assert_true(st.refused);
  assert_non_null(strstr(st.last_error, "400"));
  assert_non_null(strstr(logbuf, "bad name x")); /* the server's own message */
  free(logbuf);
}

static void test_a_push_is_dropped_after_three_retries(void **state) {
  static const char *const answers[] = {FAIL, FAIL, FAIL, FAIL, NULL};
  script_t s;
  script_start(&s, answers);
  char *logbuf = NULL;
  size_t loglen = 0;
  FILE *log = open_memstream(&logbuf, &loglen);
  spy_push_stats_t st = push_one(&s, log);
  fclose(log);
  script_stop(&s);
  assert_int_equal(s.served, 4);
  assert_int_equal(st.retries, 3);
  assert_int_equal(st.pushes_dropped, 1);
  assert_int_equal(st.samples_dropped, 3);
  assert_false(st.refused);
  assert_non_null(strstr(logbuf, "after 3 retries"));
  free(logbuf);
}

static void test_windows_waiting_beyond_the_queue_drop_the_oldest(void **state) {
  /* Nothing listens: every push fails; the first is in its retry delay
   * while eight more arrive, of which six may wait. */
  static const char *const none[] = {NULL};
  script_t s;
  script_start(&s, none);
  script_stop(&s); /* the port is closed now */
  char url[64];
  snprintf(url, sizeof url, "http://127.0.0.1:%u", s.port);
  char *logbuf = NULL;
  size_t loglen = 0;
  FILE *log = open_memstream(&logbuf, &loglen);
  spy_pusher_t *p;
  assert_int_equal(spy_pusher_start(url, "app.cpu", NULL, 100, log, &p, NULL), 0);
  spy_pusher_submit(p, 0, 10, ember_strdup("a 1\n"), 4, 1);
  usleep(100000); /* the pusher has taken it */
  for (int i = 0; i < 8; i++) spy_pusher_submit(p, 10, 20, ember_strdup("a 1\n"), 4, 1);
  spy_push_stats_t st;
  spy_pusher_close(p, 0, &st);
  fclose(log);
  assert_int_equal(st.windows_dropped, 2);
  assert_int_equal(st.pushes, 0);
  assert_int_equal(st.pushes_dropped, 7);
  assert_int_equal(st.samples_dropped, 9);
  assert_non_null(strstr(logbuf, "dropping the oldest"));
  free(logbuf);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_server_errors_are_retried_until_a_push_goes_through),
      cmocka_unit_test(test_a_refused_push_is_dropped_at_once),
      cmocka_unit_test(test_a_push_is_dropped_after_three_retries),
      cmocka_unit_test(test_windows_waiting_beyond_the_queue_drop_the_oldest),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
