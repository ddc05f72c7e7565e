/* A scripted HTTP server on 127.0.0.1 for the pusher tests: one canned
 * answer per connection, in order, the first request kept. Header-only;
 * include after cmocka.h. */
#ifndef EMBER_TESTS_CLIENT_SCRIPT_SERVER_H
#define EMBER_TESTS_CLIENT_SCRIPT_SERVER_H

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

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

#endif
