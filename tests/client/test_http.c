/* Tests for src/client/http.c: parsing responses, error messages, and a GET
 * and a POST against a one-connection server on 127.0.0.1. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "client/fake_server.h"
#include "ember/client.h"

static ember_client_resp_t parse_ok(const char *raw, size_t n) {
  ember_client_resp_t r;
  ember_err_t err;
  int rc = ember_client_response_parse(raw, n ? n : strlen(raw), &r, &err);
  if (rc) fprintf(stderr, "parse: %s\n", err.msg);
  assert_int_equal(rc, 0);
  return r;
}

static void parse_fails(const char *raw, const char *want) {
  ember_client_resp_t r;
  ember_err_t err;
  assert_int_equal(ember_client_response_parse(raw, strlen(raw), &r, &err), EMBER_EIO);
  if (!strstr(err.msg, want)) fprintf(stderr, "message: %s\n", err.msg);
  assert_non_null(strstr(err.msg, want));
}

/* ---- Parsing ----------------------------------------------------------- */

static void test_response_with_content_length(void **state) {
  ember_client_resp_t r = parse_ok("HTTP/1.1 200 OK\r\nContent-Type: image/svg+xml\r\n"
                                   "content-length: 5\r\n\r\nhello, and more", 0);
  assert_int_equal(r.status, 200);
  assert_string_equal(r.content_type, "image/svg+xml");
  assert_int_equal(r.body.len, 5);
  assert_string_equal(r.body.data, "hello");
  ember_client_resp_free(&r);
}

static void test_response_with_chunked_body(void **state) {
  ember_client_resp_t r =
      parse_ok("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
               "4\r\nWiki\r\n6;ext=1\r\npedia \r\nE\r\nin \r\n\r\nchunks.\r\n0\r\nX-T: 1\r\n\r\n",
               0);
  assert_string_equal(r.body.data, "Wikipedia in \r\n\r\nchunks.");
  assert_string_equal(r.content_type, "");
  ember_client_resp_free(&r);
}

static void test_response_chunked_wins_over_content_length(void **state) {
  ember_client_resp_t r = parse_ok("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n"
                                   "Content-Length: 1\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
                                   0);
  assert_string_equal(r.body.data, "abc");
  ember_client_resp_free(&r);
}

static void test_response_without_length_runs_to_the_end(void **state) {
  const char raw[] = "HTTP/1.0 404 Not Found\r\n\r\nbinary\0body";
  ember_client_resp_t r = parse_ok(raw, sizeof raw - 1);
  assert_int_equal(r.status, 404);
  assert_int_equal(r.body.len, 11);
  assert_memory_equal(r.body.data, "binary\0body", 11);
  ember_client_resp_free(&r);
}

static void test_response_with_empty_body(void **state) {
  ember_client_resp_t r = parse_ok("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", 0);
  assert_int_equal(r.body.len, 0);
  assert_non_null(r.body.data);
  ember_client_resp_free(&r);
}

static void test_response_refuses_what_is_not_a_whole_response(void **state) {
  parse_fails("SSH-2.0-OpenSSH_9.2\r\n", "not HTTP/1.x");
  parse_fails("HTTP/1.1 2000 OK\r\n\r\n", "not HTTP/1.x");
  parse_fails("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n", "ended inside its headers");
  parse_fails("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort", "ended early: 5 of 10");
  parse_fails("HTTP/1.1 200 OK\r\nContent-Length: 1x\r\n\r\nx", "bad Content-Length");
  parse_fails("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab", "chunked body");
  parse_fails("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", "chunked body");
  parse_fails("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
              "ffffffffffffffffff\r\n", "bad chunk size");
}

/* ---- Error messages ---------------------------------------------------- */

static const char *message(const char *raw) {
  static ember_buf_t b = EMBER_BUF_INIT;
  ember_client_resp_t r = parse_ok(raw, 0);
  ember_buf_reset(&b);
  ember_client_error_message(&r, &b);
  ember_client_resp_free(&r);
  return b.data;
}

static void test_error_message_is_the_json_error(void **state) {
  assert_string_equal(message("HTTP/1.1 400 Bad Request\r\n\r\n"
                              "{\"error\": \"query: expected '}'\\nat 9\"}"),
                      "query: expected '}'?at 9");
}

static void test_error_message_falls_back_to_the_first_line(void **state) {
  assert_string_equal(message("HTTP/1.1 502 Bad Gateway\r\n\r\n<html>bad gateway\x1b[0m\n"
                              "<body>"),
                      "<html>bad gateway?[0m");
  assert_string_equal(message("HTTP/1.1 500 Oops\r\n\r\n"), "(no message)");
}

static void test_error_message_is_cut_at_a_character_boundary(void **state) {
  char raw[1024];
  int n = snprintf(raw, sizeof raw, "HTTP/1.1 400 X\r\n\r\n");
  for (int i = 0; i < 200; i++) n += snprintf(raw + n, sizeof raw - (size_t)n, "\xc3\xa9");
  const char *m = message(raw);
  assert_int_equal(strlen(m), 300);
  assert_int_equal(strlen(message("HTTP/1.1 400 X\r\n\r\nx\xc3\xa9\xc3\xa9")), 5);
}

static void test_response_reads_retry_after_in_seconds(void **state) {
  ember_client_resp_t r = parse_ok("HTTP/1.1 429 Too Many\r\nRetry-After: 7\r\n"
                                   "Content-Length: 0\r\n\r\n", 0);
  assert_int_equal(r.status, 429);
  assert_int_equal(r.retry_after, 7);
  ember_client_resp_free(&r);
  r = parse_ok("HTTP/1.1 503 Busy\r\nRetry-After: Wed, 21 Oct 2015 07:28:00 GMT\r\n"
               "Content-Length: 0\r\n\r\n", 0);
  assert_int_equal(r.retry_after, -1); /* a date: not used */
  ember_client_resp_free(&r);
  r = parse_ok("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", 0);
  assert_int_equal(r.retry_after, -1);
  ember_client_resp_free(&r);
}

/* ---- POST -------------------------------------------------------------- */

static void test_post_sends_the_body_with_its_type_and_encoding(void **state) {
  fake_server_t f;
  fake_start(&f, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", 0);
  fake_run(&f);
  char url[64];
  snprintf(url, sizeof url, "http://127.0.0.1:%u", f.port);
  ember_client_url_t u;
  ember_err_t err;
  assert_int_equal(ember_client_url_parse(url, &u, &err), 0);
  ember_client_resp_t r;
  int rc = ember_client_post(&u, "/ingest?name=a", "tok", "text/plain", "gzip", "hello", 5,
                             5000, &r, &err);
  if (rc) fprintf(stderr, "post: %s\n", err.msg);
  assert_int_equal(rc, 0);
  fake_stop(&f);
  assert_int_equal(r.status, 200);
  const char *line = "POST /ingest?name=a HTTP/1.1\r\n";
  assert_int_equal(strncmp(f.request, line, strlen(line)), 0);
  assert_non_null(strstr(f.request, "\r\nContent-Type: text/plain\r\n"));
  assert_non_null(strstr(f.request, "\r\nContent-Length: 5\r\n"));
  assert_non_null(strstr(f.request, "\r\nContent-Encoding: gzip\r\n"));
  assert_non_null(strstr(f.request, "\r\nAuthorization: Bearer tok\r\n"));
  ember_client_resp_free(&r);
}

/* ---- GET --------------------------------------------------------------- */

static void test_get_sends_one_request_and_reads_the_answer(void **state) {
  fake_server_t f;
  fake_start(&f, "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 3\r\n\r\nabc",
             0);
  fake_run(&f);
  char url[64];
  snprintf(url, sizeof url, "http://localhost:%u/base/", f.port);
  ember_client_url_t u;
  ember_err_t err;
  assert_int_equal(ember_client_url_parse(url, &u, &err), 0);
  ember_client_resp_t r;
  int rc = ember_client_get(&u, "/render?query=a%7B%7D", NULL, 5000, &r, &err);
  if (rc) fprintf(stderr, "get: %s\n", err.msg);
  assert_int_equal(rc, 0);
  fake_stop(&f);
  assert_int_equal(r.status, 200);
  assert_string_equal(r.body.data, "abc");
  char want[128];
  snprintf(want, sizeof want, "GET /base/render?query=a%%7B%%7D HTTP/1.1\r\nHost: localhost:%u\r\n",
           f.port);
  assert_int_equal(strncmp(f.request, want, strlen(want)), 0);
  assert_non_null(strstr(f.request, "\r\nConnection: close\r\n"));
  ember_client_resp_free(&r);
}

static void test_get_sends_the_token_only_when_given_one(void **state) {
  for (int with = 0; with < 2; with++) {
    fake_server_t f;
    fake_start(&f, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", 0);
    fake_run(&f);
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%u", f.port);
    ember_client_url_t u;
    ember_err_t err;
    assert_int_equal(ember_client_url_parse(url, &u, &err), 0);
    ember_client_resp_t r;
    assert_int_equal(ember_client_get(&u, "/render", with ? "s3cret" : NULL, 5000, &r, &err),
                     0);
    fake_stop(&f);
    const char *auth = strstr(f.request, "\r\nAuthorization: Bearer s3cret\r\n");
    if (with)
      assert_non_null(auth);
    else
      assert_null(strstr(f.request, "Authorization"));
    assert_non_null(strstr(f.request, "\r\n\r\n")); /* the head still ends */
    ember_client_resp_free(&r);
  }
}

static void test_get_to_a_closed_port_says_to_start_the_server(void **state) {
  char url[64];
  snprintf(url, sizeof url, "http://127.0.0.1:%u", fake_dead_port());
  ember_client_url_t u;
  ember_err_t err;
  assert_int_equal(ember_client_url_parse(url, &u, &err), 0);
  ember_client_resp_t r;
  assert_int_equal(ember_client_get(&u, "/render", NULL, 5000, &r, &err), EMBER_EIO);
  char want[160];
  snprintf(want, sizeof want, "the server at %s is not reachable (connection refused); "
                              "start it with `ember serve`", url);
  assert_non_null(strstr(err.msg, want));
  assert_null(strchr(err.msg, '\n'));
}

static void test_get_gives_up_on_a_silent_server(void **state) {
  fake_server_t f;
  fake_start(&f, "HTTP/1.1 200 OK\r\n\r\n", 0);
  f.silent_ms = 700;
  fake_run(&f);
  char url[64];
  snprintf(url, sizeof url, "127.0.0.1:%u", f.port);
  ember_client_url_t u;
  ember_err_t err;
  assert_int_equal(ember_client_url_parse(url, &u, &err), 0);
  ember_client_resp_t r;
  assert_int_equal(ember_client_get(&u, "/render", NULL, 300, &r, &err), EMBER_EIO);
  assert_non_null(strstr(err.msg, "sent nothing for"));
  assert_non_null(strstr(err.msg, "--timeout"));
  fake_stop(&f);
}

static void test_get_of_something_that_is_not_http(void **state) {
  fake_server_t f;
  fake_start(&f, "SSH-2.0-OpenSSH_9.2\r\n", 0);
  fake_run(&f);
  char url[64];
  snprintf(url, sizeof url, "127.0.0.1:%u", f.port);
  ember_client_url_t u;
  ember_err_t err;
  assert_int_equal(ember_client_url_parse(url, &u, &err), 0);
  ember_client_resp_t r;
  assert_int_equal(ember_client_get(&u, "/render", NULL, 5000, &r, &err), EMBER_EIO);
  assert_non_null(strstr(err.msg, "is --server pointing at an Ember server?"));
  fake_stop(&f);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_response_with_content_length),
      cmocka_unit_test(test_response_with_chunked_body),
      cmocka_unit_test(test_response_chunked_wins_over_content_length),
      cmocka_unit_test(test_response_without_length_runs_to_the_end),
      cmocka_unit_test(test_response_with_empty_body),
      cmocka_unit_test(test_response_refuses_what_is_not_a_whole_response),
      cmocka_unit_test(test_error_message_is_the_json_error),
      cmocka_unit_test(test_error_message_falls_back_to_the_first_line),
      cmocka_unit_test(test_error_message_is_cut_at_a_character_boundary),
      cmocka_unit_test(test_response_reads_retry_after_in_seconds),
      cmocka_unit_test(test_post_sends_the_body_with_its_type_and_encoding),
      cmocka_unit_test(test_get_sends_one_request_and_reads_the_answer),
      cmocka_unit_test(test_get_sends_the_token_only_when_given_one),
      cmocka_unit_test(test_get_to_a_closed_port_says_to_start_the_server),
      cmocka_unit_test(test_get_gives_up_on_a_silent_server),
      cmocka_unit_test(test_get_of_something_that_is_not_http),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
