/* A one-connection HTTP server on 127.0.0.1 for the client tests: it
 * accepts one connection, keeps the request it reads, answers with canned
 * bytes and closes. Header-only; include after cmocka.h. */
#ifndef EMBER_TESTS_CLIENT_FAKE_SERVER_H
#define EMBER_TESTS_CLIENT_FAKE_SERVER_H

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

typedef struct {
  int listen_fd;
  uint16_t port;
  const char *answer; /* bytes to send back */
  size_t answer_len;
  int silent_ms;      /* wait this long before answering */
  char request[8192]; /* what the client sent (headers) */
  pthread_t thread;
} fake_server_t;

static void *fake_serve(void *arg) {
  fake_server_t *f = arg;
  int c = accept(f->listen_fd, NULL, NULL);
  if (c < 0) return NULL;
  size_t n = 0;
  while (n + 1 < sizeof f->request) {
    ssize_t k = recv(c, f->request + n, sizeof f->request - 1 - n, 0);
    if (k <= 0) break;
    n += (size_t)k;
    f->request[n] = '\0';
    if (strstr(f->request, "\r\n\r\n")) break;
  }
  if (f->silent_ms) usleep((useconds_t)f->silent_ms * 1000);
  size_t off = 0;
  while (off < f->answer_len) {
    ssize_t k = send(c, f->answer + off, f->answer_len - off, MSG_NOSIGNAL);
    if (k <= 0) break;
    off += (size_t)k;
  }
  close(c);
  return NULL;
}

/* Starts the server answering answer (NUL-terminated unless len given). */
static inline void fake_start(fake_server_t *f, const char *answer, size_t len) {
  memset(f, 0, sizeof *f);
  f->answer = answer;
  f->answer_len = len ? len : strlen(answer);
  f->listen_fd = socket(AF_INET, SOCK_STREAM, 0);
  assert_true(f->listen_fd >= 0);
  struct sockaddr_in a;
  memset(&a, 0, sizeof a);
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  assert_int_equal(bind(f->listen_fd, (struct sockaddr *)&a, sizeof a), 0);
  assert_int_equal(listen(f->listen_fd, 4), 0);
  socklen_t sl = sizeof a;
  assert_int_equal(getsockname(f->listen_fd, (struct sockaddr *)&a, &sl), 0);
  f->port = ntohs(a.sin_port);
}

static inline void fake_run(fake_server_t *f) {
  assert_int_equal(pthread_create(&f->thread, NULL, fake_serve, f), 0);
}

static inline void fake_stop(fake_server_t *f) {
  pthread_join(f->thread, NULL);
  close(f->listen_fd);
}

/* A port nothing listens on: bound, then closed. */
static inline uint16_t fake_dead_port(void) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a;
  memset(&a, 0, sizeof a);
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bind(fd, (struct sockaddr *)&a, sizeof a);
  socklen_t sl = sizeof a;
  getsockname(fd, (struct sockaddr *)&a, &sl);
  close(fd);
  return ntohs(a.sin_port);
}

#endif
