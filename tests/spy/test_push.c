/* Tests for src/spy/push.c: the retry rules of the agents (delays, what is
 * retried), and the pusher thread against a scripted server on 127.0.0.1
 * that answers each connection with the next canned response. */
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

/* ---- A scripted server ---------------------------------------------------- */

typedef struct {
  int fd;
  uint16_t port;
  const char *const *answers; /* one per connection, NULL-terminated */
  int served;
  char first[4096]; /* the first request, headers and body */
  size_t first_len;
  pthread_t thread;
} script_t;

static void *serve(void *arg) {
  script_t *s = arg;
  for (; s->answers[s->served]; s->served++) {
    int c = accept(s->fd, NULL, NULL);
    if (c < 0) return NULL;
    char buf[65536];
    size_t n = 0;
    for (;;) { /* headers, then Content-Length bytes of body */
      ssize_t k = recv(c, buf + n, sizeof buf - 1 - n, 0);
      if (k <= 0) break;
      n += (size_t)k;
      buf[n] = '\0';
      char *end = strstr(buf, "\r\n\r\n"), *cl = strstr(buf, "Content-Length: ");
      if (end && cl && n >= (size_t)(end + 4 - buf) + strtoul(cl + 16, NULL, 10)) break;
    }
    if (s->served == 0) {
      s->first_len = n < sizeof s->first ? n : sizeof s->first;
      memcpy(s->first, buf, s->first_len);
    }
    const char *a = s->answers[s->served];
    ssize_t w = send(c, a, strlen(a), MSG_NOSIGNAL);
    (void)w;
    close(c);
  }
  return NULL;
}

static void script_start(script_t *s, const char *const *answers) {
  memset(s, 0, sizeof *s);
  s->answers = answers;
  s->fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a;
  memset(&a, 0, sizeof a);
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  assert_int_equal(bind(s->fd, (struct sockaddr *)&a, sizeof a), 0);
  assert_int_equal(listen(s->fd, 16), 0);
  socklen_t sl = sizeof a;
  getsockname(s->fd, (struct sockaddr *)&a, &sl);
  s->port = ntohs(a.sin_port);
  assert_int_equal(pthread_create(&s->thread, NULL, serve, s), 0);
}

static void script_stop(script_t *s) {
  shutdown(s->fd, SHUT_RDWR);
  pthread_join(s->thread, NULL);
  close(s->fd);
}

#define OK "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"
#define BUSY "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n"
#define FAIL "HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\n\r\n"
#define SLOW_DOWN "HTTP/1.1 429 Too Many Requests\r\nRetry-After: 1\r\nContent-Length: 0\r\n\r\n"
#define BAD "HTTP/1.1 400 Bad Request\r\nContent-Type: application/json\r\n" \
            "Content-Length: 22\r\n\r\n{\"error\":\"bad name x\"}"

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
