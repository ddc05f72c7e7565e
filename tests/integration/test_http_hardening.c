/* Integration: what the HTTP layer does against hostile or careless
 * clients (issue-level attacks are replayed in tests/attack/): query
 * strings it cannot store, bodies past their limits, bytes in flight, slow
 * and idle connections, connections per address, Host and cross-site
 * checks, tokens, security headers, TLS, and a shutdown while pushes wait
 * for the disk. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "ember/common.h"
#include "harness.h"

static void sleep_ms(int ms) {
  struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
}

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* A connection from a chosen loopback source address (all of 127/8 is
 * loopback on Linux), so that one test can play several clients. */
static int connect_from(const it_server_t *s, const char *src) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = {0};
  a.sin_family = AF_INET;
  inet_pton(AF_INET, src, &a.sin_addr);
  if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof a))
    fail_msg("bind %s: %s", src, strerror(errno));
  a.sin_port = htons(s->port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, (struct sockaddr *)&a, sizeof a))
    fail_msg("connect from %s: %s", src, strerror(errno));
  return fd;
}

/* True when the server closes fd within ms (EOF or reset). */
static bool closed_within(int fd, int ms) {
  char buf[4096];
  double end = now_s() + ms / 1000.0;
  while (now_s() < end) {
    struct pollfd p = {fd, POLLIN, 0};
    if (poll(&p, 1, 50) <= 0) continue;
    ssize_t k = recv(fd, buf, sizeof buf, 0);
    if (k <= 0) return true;
  }
  return false;
}

/* Sends a raw request on a new connection and reads the response. */
static void raw(const it_server_t *s, const char *request, it_resp_t *r) {
  int fd = it_connect(s);
  it_send(fd, request, strlen(request));
  if (it_read_response(fd, r)) fail_msg("no response to: %.80s", request);
  close(fd);
}

static void expect_json_error(const it_resp_t *r, int status, const char *hint) {
  if (r->status != status)
    fail_msg("expected %d, got %d: %s", status, r->status, r->body);
  if (!strstr(r->body, "\"error\"")) fail_msg("no JSON error body: %s", r->body);
  if (hint && !strstr(r->body, hint)) fail_msg("error '%s' lacks '%s'", r->body, hint);
}

/* ---- Query strings ------------------------------------------------------ */

static void test_thousands_of_query_arguments_answer_431_at_once(void **state) {
  it_server_t s = {0};
  it_start(&s, NULL);
  ember_buf_t q = EMBER_BUF_INIT;
  ember_buf_puts(&q, "GET /render?query=a.cpu");
  for (int i = 0; i < 4000; i++)
    ember_buf_printf(&q, "&a%d=1", i);
  ember_buf_puts(&q, " HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
  double t0 = now_s();
  it_resp_t r;
  raw(&s, q.data, &r);
  expect_json_error(&r, 431, "arguments");
  assert_true(now_s() - t0 < 5);
  it_resp_free(&r);
  ember_buf_free(&q);
  assert_int_equal(it_stop(&s), 0);
  it_cleanup(&s);
}

static void test_an_encoded_nul_in_a_name_is_refused_not_cut(void **state) {
  it_server_t s = {0};
  it_start(&s, NULL);
  it_resp_t r;
  assert_int_equal(it_http(&s, "POST", "/ingest?name=x%00evil.cpu&from=1700000000", NULL,
                           "a;b 1\n", 6, &r),
                   0);
  expect_json_error(&r, 400, "NUL");
  it_resp_free(&r);
  it_expect(&s, 200, "GET", "/api/apps", NULL, 0, &r);
  assert_string_equal(r.body, "[]");
  it_resp_free(&r);
  assert_int_equal(it_stop(&s), 0);
  it_cleanup(&s);
}

/* ---- Bodies ------------------------------------------------------------- */

static void test_a_chunked_body_over_the_limit_gets_413(void **state) {
  it_server_t s = {0};
  const char *args[] = {"--max-body", "1KiB", NULL};
  it_start(&s, args);
  int fd = it_connect(&s);
  const char head[] = "POST /ingest?name=big.cpu HTTP/1.1\r\nHost: localhost\r\n"
                      "Transfer-Encoding: chunked\r\n\r\n";
  it_send(fd, head, sizeof head - 1);
  char chunk[1100];
  memset(chunk, 'a', sizeof chunk);
  for (int i = 0; i < 5; i++) {
    char size[16];
    int n = snprintf(size, sizeof size, "%zx\r\n", sizeof chunk);
    it_send(fd, size, (size_t)n);
    it_send(fd, chunk, sizeof chunk);
    it_send(fd, "\r\n", 2);
  }
  it_send(fd, "0\r\n\r\n", 5);
  it_resp_t r;
  assert_int_equal(it_read_response(fd, &r), 0);
  expect_json_error(&r, 413, "--max-body");
  it_resp_free(&r);
  close(fd);
  assert_int_equal(it_stop(&s), 0);
  it_cleanup(&s);
}

static void test_a_control_endpoint_refuses_a_large_body_before_reading_it(void **state) {
  it_server_t s = {0};
  it_start(&s, NULL);
  it_resp_t r;
  raw(&s,
      "DELETE /api/apps HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
      "Content-Length: 10485760\r\nConnection: close\r\n\r\n{\"name\":",
      &r);
  expect_json_error(&r, 413, "small JSON body");
  it_resp_free(&r);
  assert_int_equal(it_stop(&s), 0);
  it_cleanup(&s);
}

static void test_bytes_in_flight_past_the_budget_get_429(void **state) {
  it_server_t s = {0};
  const char *args[] = {"--max-inflight", "1MiB", NULL};
  it_start(&s, args);
  /* One push declares most of the budget and stalls half-way. */
  int slow = it_connect(&s);
  const char head[] = "POST /ingest?name=slow.cpu HTTP/1.1\r\nHost: localhost\r\n"
                      "Content-Length: 900000\r\n\r\nmain;a 1\n";
  it_send(slow, head, sizeof head - 1);
  sleep_ms(200);
  /* The next one does not fit: refused at once, told to retry. */
  char big[300000];
  memset(big, 'x', sizeof big);
  it_resp_t r;
  assert_int_equal(
      it_http(&s, "POST", "/ingest?name=other.cpu", NULL, big, sizeof big, &r), 0);
  expect_json_error(&r, 429, "--max-inflight");
  char *ra = it_header(&r, "Retry-After");
  assert_non_null(ra);
  free(ra);
  it_resp_free(&r);
  /* A small push still fits beside it. */
  assert_int_equal(it_ingest(&s, "small.cpu", 1700000000, 1700000010, "main;b 2\n"), 200);
  /* The budget comes back when the stalled request ends. */
  close(slow);
  sleep_ms(300);
  assert_int_equal(it_http(&s, "POST", "/ingest?name=other.cpu&format=folded", NULL, big,
                           sizeof big, &r),
                   0);
  assert_int_not_equal(r.status, 429);
  it_resp_free(&r);
  assert_int_equal(it_stop(&s), 0);
  it_cleanup(&s);
}

/* ---- Connections -------------------------------------------------------- */

static void test_slow_requests_and_idle_connections_are_closed_on_time(void **state) {
  it_server_t s = {0};
  const char *args[] = {"--request-timeout", "1", "--idle-timeout", "2", NULL};
  it_start(&s, args);
  /* A header line now and then keeps an ordinary timeout from firing; the
   * request's own deadline still does. */
  int loris = it_connect(&s);
  it_send(loris, "GET /healthz HTTP/1.1\r\n", 23);
  double t0 = now_s();
  bool closed = false;
  for (int i = 0; i < 8 && !closed; i++) {
    it_send(loris, "X-a: b\r\n", 8);
    closed = closed_within(loris, 400);
  }
  assert_true(closed);
  assert_true(now_s() - t0 < 2.5);
  close(loris);
  /* A new connection that sends nothing has as long as a request. */
  int mute = it_connect(&s);
  assert_true(closed_within(mute, 2000));
  close(mute);
  /* After a response, the connection may idle for --idle-timeout. */
  int idle = it_connect(&s);
  const char get[] = "GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n";
  it_send(idle, get, sizeof get - 1);
  it_resp_t r;
  assert_int_equal(it_read_response(idle, &r), 0);
  assert_int_equal(r.status, 200);
  it_resp_free(&r);
  assert_false(closed_within(idle, 1200)); /* past the request deadline */
  assert_true(closed_within(idle, 2500));
  close(idle);
  assert_int_equal(it_stop(&s), 0);
  it_cleanup(&s);
}

static void test_a_request_cut_short_by_its_client_is_let_go_at_once(void **state) {
  it_server_t s = {0};
  const char *args[] = {"--request-timeout", "20", NULL};
  it_start(&s, args);
  int fd = it_connect(&s);
  const char half[] = "POST /ingest?name=cut.cpu HTTP/1.1\r\nHost: localhost\r\n"
                      "Content-Length: 1000\r\n\r\nmain;a 1\n";
  it_send(fd, half, sizeof half - 1);
  shutdown(fd, SHUT_WR); /* the rest can never come */
  double t0 = now_s();
  assert_true(closed_within(fd, 3000));
  assert_true(now_s() - t0 < 3);
  close(fd);
  /* Nor does it hold up a stop. */
  int fd2 = it_connect(&s);
  it_send(fd2, half, sizeof half - 1);
  shutdown(fd2, SHUT_WR);
  t0 = now_s();
  assert_int_equal(it_stop(&s), 0);
  assert_true(now_s() - t0 < 5);
  close(fd2);
  it_cleanup(&s);
}

static void test_one_address_cannot_take_every_connection(void **state) {
  it_server_t s = {0};
  const char *args[] = {"--max-conns-per-ip", "4", NULL};
  it_start(&s, args);
  int fds[6];
  for (int i = 0; i < 6; i++)
    fds[i] = connect_from(&s, "127.0.0.2");
  /* The fifth and sixth are closed by the server at once. */
  assert_true(closed_within(fds[4], 1000));
  assert_true(closed_within(fds[5], 1000));
  assert_false(closed_within(fds[0], 200));
  /* Another address is served as usual. */
  it_resp_t r;
  it_expect(&s, 200, "GET", "/healthz", NULL, 0, &r);
  it_resp_free(&r);
  for (int i = 0; i < 6; i++)
    close(fds[i]);
  assert_int_equal(it_stop(&s), 0);
  it_cleanup(&s);
}

/* ---- Host, cross-site, tokens, headers ---------------------------------- */

static void test_a_loopback_server_refuses_rebound_names(void **state) {
  it_server_t s = {0};
  it_start(&s, NULL);
  it_resp_t r;
  raw(&s,
      "GET /api/apps HTTP/1.1\r\nHost: rebind.evil.example\r\nConnection: close\r\n\r\n",
      &r);
  expect_json_error(&r, 403, "--allow-host");
  it_resp_free(&r);
  raw(&s,
      "DELETE /api/apps?name=x.cpu HTTP/1.1\r\nHost: rebind.evil.example\r\n"
      "Connection: close\r\n\r\n",
      &r);
  expect_json_error(&r, 403, "rebinding");
  it_resp_free(&r);
  raw(&s, "GET /api/apps HTTP/1.1\r\nHost: localhost:4040\r\nConnection: close\r\n\r\n",
      &r);
  assert_int_equal(r.status, 200);
  it_resp_free(&r);
  assert_int_equal(it_stop(&s), 0);
  it_cleanup(&s);
}

static void test_a_server_on_every_interface_answers_service_names(void **state) {
  it_server_t s = {0};
  const char *args[] = {"--listen", "0.0.0.0:0", NULL};
  it_start(&s, args);
  it_resp_t r;
  raw(&s,
      "POST /ingest?name=compose.cpu&from=1700000000 HTTP/1.1\r\nHost: ember:4040\r\n"
      "Content-Length: 9\r\nConnection: close\r\n\r\nmain;a 3\n",
      &r);
  assert_int_equal(r.status, 200);
  it_resp_free(&r);
  assert_int_equal(it_stop(&s), 0);
  it_cleanup(&s);
}

static void test_pages_of_other_sites_cannot_push_or_delete(void **state) {
  it_server_t s = {0};
  const char *args[] = {"--allow-origin", "https://grafana.example", NULL};
  it_start(&s, args);
  it_resp_t r;
  /* fetch(url, {method: 'POST', mode: 'no-cors', body}) from another page. */
  assert_int_equal(it_http(&s, "POST", "/ingest?name=csrf.cpu&from=1700000000",
                           "Origin: http://evil.example\r\n", "main;a 1\n", 9, &r),
                   0);
  expect_json_error(&r, 403, "--allow-origin");
  it_resp_free(&r);
  /* <form enctype="text/plain" method="post"> */
  assert_int_equal(it_http(&s, "POST", "/ingest?name=csrf.cpu&from=1700000000",
                           "Content-Type: text/plain\r\nSec-Fetch-Site: cross-site\r\n"
                           "Origin: null\r\n",
                           "main;a 1\n", 9, &r),
                   0);
  expect_json_error(&r, 403, "cross-site");
  it_resp_free(&r);
  assert_int_equal(it_http(&s, "GET", "/api/apps", NULL, NULL, 0, &r), 0);
  assert_string_equal(r.body, "[]"); /* nothing got in */
  it_resp_free(&r);
  /* An allowed origin may push. */
  assert_int_equal(
      it_http(&s, "POST", "/ingest?name=ok.cpu&from=1700000000",
              "Origin: https://grafana.example\r\nSec-Fetch-Site: cross-site\r\n",
              "main;a 1\n", 9, &r),
      0);
  assert_int_equal(r.status, 200);
  it_resp_free(&r);
  assert_int_equal(it_stop(&s), 0);
  it_cleanup(&s);
}

static void test_tokens_guard_every_api_route_by_role(void **state) {
  char dir[256], path[300];
  it_mkdtemp(dir, sizeof dir, "ember-tok");
  snprintf(path, sizeof path, "%s/tokens", dir);
  const char tokens[] = "agent-key-1 ingest\nviewer-key-2 read\nroot-key-3 admin\n";
  it_write_file(path, tokens, sizeof tokens - 1);
  it_server_t s = {0};
  const char *args[] = {"--auth-token-file", path, NULL};
  it_start(&s, args);
  it_resp_t r;
  const char *push = "/ingest?name=auth.cpu&from=1700000000";
  assert_int_equal(it_http(&s, "POST", push, NULL, "main;a 1\n", 9, &r), 0);
  expect_json_error(&r, 401, "token");
  char *www = it_header(&r, "WWW-Authenticate");
  assert_non_null(www);
  assert_non_null(strstr(www, "Bearer"));
  free(www);
  it_resp_free(&r);
  assert_int_equal(it_http(&s, "POST", push, "Authorization: Bearer viewer-key-2\r\n",
                           "main;a 1\n", 9, &r),
                   0);
  expect_json_error(&r, 403, "ingest");
  it_resp_free(&r);
  /* Agents send the key as the Basic password: "pyroscope:agent-key-1". */
  assert_int_equal(it_http(&s, "POST", push,
                           "Authorization: Basic cHlyb3Njb3BlOmFnZW50LWtleS0x\r\n",
                           "main;a 1\n", 9, &r),
                   0);
  assert_int_equal(r.status, 200);
  it_resp_free(&r);
  assert_int_equal(it_http(&s, "GET", "/api/apps",
                           "Authorization: Bearer agent-key-1\r\n", NULL, 0, &r),
                   0);
  assert_int_equal(r.status, 403);
  it_resp_free(&r);
  assert_int_equal(it_http(&s, "GET", "/api/apps",
                           "Authorization: Bearer viewer-key-2\r\n", NULL, 0, &r),
                   0);
  assert_int_equal(r.status, 200);
  assert_non_null(strstr(r.body, "auth.cpu"));
  it_resp_free(&r);
  assert_int_equal(it_http(&s, "DELETE", "/api/apps?name=auth.cpu",
                           "Authorization: Bearer viewer-key-2\r\n", NULL, 0, &r),
                   0);
  assert_int_equal(r.status, 403);
  it_resp_free(&r);
  assert_int_equal(it_http(&s, "DELETE", "/api/apps?name=auth.cpu",
                           "Authorization: Bearer root-key-3\r\n", NULL, 0, &r),
                   0);
  assert_int_equal(r.status, 200);
  it_resp_free(&r);
  /* Health and the UI's files stay open. */
  it_expect(&s, 200, "GET", "/healthz", NULL, 0, &r);
  it_resp_free(&r);
  it_expect(&s, 200, "GET", "/", NULL, 0, &r);
  it_resp_free(&r);
  assert_int_equal(it_stop(&s), 0);
  it_cleanup(&s);
  it_rmtree(dir);
}

static void test_the_ui_and_exports_carry_security_headers(void **state) {
  it_server_t s = {0};
  it_start(&s, NULL);
  it_resp_t r;
  it_expect(&s, 200, "GET", "/", NULL, 0, &r);
  char *csp = it_header(&r, "Content-Security-Policy");
  assert_non_null(csp);
  assert_non_null(strstr(csp, "frame-ancestors 'none'"));
  assert_non_null(strstr(csp, "default-src 'self'"));
  free(csp);
  char *nosniff = it_header(&r, "X-Content-Type-Options");
  assert_non_null(nosniff);
  assert_string_equal(nosniff, "nosniff");
  free(nosniff);
  it_resp_free(&r);
  assert_int_equal(it_ingest(&s, "hdr.cpu", 1700000000, 1700000010, "main;a 1\n"), 200);
  it_expect(&s, 200, "GET",
            "/render?query=hdr.cpu%7B%7D&from=1700000000&until=1700000100&format=svg",
            NULL, 0, &r);
  csp = it_header(&r, "Content-Security-Policy");
  assert_non_null(csp);
  assert_non_null(strstr(csp, "sandbox"));
  free(csp);
  it_resp_free(&r);
  it_expect(&s, 200, "GET", "/api/apps", NULL, 0, &r);
  nosniff = it_header(&r, "X-Content-Type-Options");
  assert_non_null(nosniff);
  free(nosniff);
  it_resp_free(&r);
  assert_int_equal(it_stop(&s), 0);
  it_cleanup(&s);
}

/* ---- TLS ---------------------------------------------------------------- */

static void test_tls_serves_https_with_the_given_certificate(void **state) {
  if (!it_have("openssl") || !it_have("curl")) skip();
  char dir[256], cert[300], key[300], url[128];
  it_mkdtemp(dir, sizeof dir, "ember-tls");
  snprintf(cert, sizeof cert, "%s/cert.pem", dir);
  snprintf(key, sizeof key, "%s/key.pem", dir);
  const char *gen[] = {"openssl",  "req",
                       "-x509",    "-newkey",
                       "rsa:2048", "-nodes",
                       "-keyout",  key,
                       "-out",     cert,
                       "-days",    "2",
                       "-subj",    "/CN=localhost",
                       "-addext",  "subjectAltName=DNS:localhost,IP:127.0.0.1",
                       NULL};
  char *out = NULL;
  if (it_exec(gen, NULL, NULL, 60, &out) != 0) fail_msg("openssl: %s", out);
  free(out);
  it_server_t s = {0};
  const char *args[] = {"--tls-cert", cert, "--tls-key", key, NULL};
  it_start(&s, args);
  snprintf(url, sizeof url, "https://127.0.0.1:%u/healthz", s.port);
  const char *get[] = {"curl", "-sS", "--cacert", cert, url, NULL};
  assert_int_equal(it_exec(get, NULL, NULL, 30, &out), 0);
  assert_non_null(strstr(out, "ready"));
  free(out);
  /* Plain HTTP to a TLS port gets nowhere, and nothing in clear text. */
  snprintf(url, sizeof url, "http://127.0.0.1:%u/healthz", s.port);
  const char *plain[] = {"curl", "-sS", "--max-time", "5", url, NULL};
  assert_int_not_equal(it_exec(plain, NULL, NULL, 30, &out), 0);
  free(out);
  assert_int_equal(it_stop(&s), 0);
  it_cleanup(&s);
  /* A key that is not the certificate's is refused at start. */
  const char *gen2[] = {"openssl", "genrsa", "-out", key, "2048", NULL};
  assert_int_equal(it_exec(gen2, NULL, NULL, 60, &out), 0);
  free(out);
  const char *bad[] = {"serve",      "--listen", "127.0.0.1:0", "--data", dir,
                       "--tls-cert", cert,       "--tls-key",   key,      NULL};
  char *err = NULL;
  assert_int_equal(it_run(bad, &out, &err), 1);
  assert_non_null(strstr(err, "TLS"));
  free(out);
  free(err);
  const char *half[] = {"serve", "--data", dir, "--tls-cert", cert, NULL};
  assert_int_not_equal(it_run(half, &out, &err), 0);
  assert_non_null(strstr(err, "--tls-key"));
  free(out);
  free(err);
  it_rmtree(dir);
}

/* ---- Shutdown ----------------------------------------------------------- */

typedef struct {
  it_server_t *s;
  int status;
} push_t;

static void *push_one(void *arg) {
  push_t *p = arg;
  p->status = it_ingest(p->s, "stuck.cpu", 1700000000, 1700000010, "main;disk 5\n");
  return NULL;
}

static void test_shutdown_waits_for_pushes_held_by_a_slow_disk(void **state) {
  it_server_t s = {0};
  const char *args[] = {"--shutdown-grace", "1", NULL};
  it_start(&s, args);
  /* Another connection holds the database's write lock: the writer waits
   * (SQLite's busy timeout), as it would for a disk that hangs. */
  char db[300];
  snprintf(db, sizeof db, "%s/ember.db", s.data_dir);
  sqlite3 *h = NULL;
  assert_int_equal(sqlite3_open(db, &h), SQLITE_OK);
  assert_int_equal(sqlite3_exec(h, "BEGIN IMMEDIATE", NULL, NULL, NULL), SQLITE_OK);
  pthread_t th[4];
  push_t p[4];
  for (int i = 0; i < 4; i++) {
    p[i] = (push_t){&s, 0};
    pthread_create(&th[i], NULL, push_one, &p[i]);
  }
  sleep_ms(500);
  kill(s.pid, SIGTERM);
  /* Past the grace period, the pushes still wait for the disk: the server
   * must neither abort nor answer them before their commit. */
  sleep_ms(2500);
  assert_int_equal(sqlite3_exec(h, "COMMIT", NULL, NULL, NULL), SQLITE_OK);
  sqlite3_close(h);
  for (int i = 0; i < 4; i++) {
    pthread_join(th[i], NULL);
    assert_int_equal(p[i].status, 200);
  }
  assert_int_equal(it_stop(&s), 0); /* exits 0, no abort */
  it_start(&s, NULL);
  json_t *j = it_render(&s, "stuck.cpu{}", 1700000000, 1700000100, NULL);
  assert_int_equal(it_ticks(j), 4 * 5);
  json_decref(j);
  assert_int_equal(it_stop(&s), 0);
  it_cleanup(&s);
}

int main(void) {
  signal(SIGPIPE, SIG_IGN);
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_thousands_of_query_arguments_answer_431_at_once),
      cmocka_unit_test(test_an_encoded_nul_in_a_name_is_refused_not_cut),
      cmocka_unit_test(test_a_chunked_body_over_the_limit_gets_413),
      cmocka_unit_test(test_a_control_endpoint_refuses_a_large_body_before_reading_it),
      cmocka_unit_test(test_bytes_in_flight_past_the_budget_get_429),
      cmocka_unit_test(test_slow_requests_and_idle_connections_are_closed_on_time),
      cmocka_unit_test(test_a_request_cut_short_by_its_client_is_let_go_at_once),
      cmocka_unit_test(test_one_address_cannot_take_every_connection),
      cmocka_unit_test(test_a_loopback_server_refuses_rebound_names),
      cmocka_unit_test(test_a_server_on_every_interface_answers_service_names),
      cmocka_unit_test(test_pages_of_other_sites_cannot_push_or_delete),
      cmocka_unit_test(test_tokens_guard_every_api_route_by_role),
      cmocka_unit_test(test_the_ui_and_exports_carry_security_headers),
      cmocka_unit_test(test_tls_serves_https_with_the_given_certificate),
      cmocka_unit_test(test_shutdown_waits_for_pushes_held_by_a_slow_disk),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
