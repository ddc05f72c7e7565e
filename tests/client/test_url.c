/* Tests for src/client/url.c: the --server URL and query string encoding. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "ember/client.h"

static ember_client_url_t parse_ok(const char *s) {
  ember_client_url_t u;
  ember_err_t err;
  int rc = ember_client_url_parse(s, &u, &err);
  if (rc) fprintf(stderr, "%s: %s\n", s, err.msg);
  assert_int_equal(rc, 0);
  return u;
}

static void parse_fails(const char *s, const char *want) {
  ember_client_url_t u;
  memset(&u, 0x5a, sizeof u);
  ember_err_t err;
  assert_int_equal(ember_client_url_parse(s, &u, &err), EMBER_EINVAL);
  if (!strstr(err.msg, want)) fprintf(stderr, "%s: message: %s\n", s, err.msg);
  assert_non_null(strstr(err.msg, want));
  assert_int_equal(u.port, 0x5a5a); /* untouched */
}

static void test_url_takes_host_and_port(void **state) {
  ember_client_url_t u = parse_ok("http://127.0.0.1:4040");
  assert_string_equal(u.host, "127.0.0.1");
  assert_int_equal(u.port, 4040);
  assert_string_equal(u.prefix, "");
  u = parse_ok("HTTP://LocalHost:80/");
  assert_string_equal(u.host, "LocalHost");
  assert_int_equal(u.port, 80);
  assert_string_equal(u.prefix, "");
}

static void test_url_without_scheme_is_http(void **state) {
  ember_client_url_t u = parse_ok("localhost:4040");
  assert_string_equal(u.host, "localhost");
  assert_int_equal(u.port, 4040);
  u = parse_ok("profiling.internal");
  assert_string_equal(u.host, "profiling.internal");
  assert_int_equal(u.port, 80);
}

static void test_url_without_port_uses_80(void **state) {
  ember_client_url_t u = parse_ok("http://proxy.example.com");
  assert_int_equal(u.port, 80);
}

static void test_url_keeps_a_path_prefix_without_trailing_slashes(void **state) {
  ember_client_url_t u = parse_ok("http://proxy.example.com:8080/tools/ember//");
  assert_string_equal(u.host, "proxy.example.com");
  assert_int_equal(u.port, 8080);
  assert_string_equal(u.prefix, "/tools/ember");
}

static void test_url_takes_ipv6_in_brackets(void **state) {
  ember_client_url_t u = parse_ok("http://[::1]:4040");
  assert_string_equal(u.host, "::1");
  assert_int_equal(u.port, 4040);
  u = parse_ok("http://[fe80::1%eth0]/p");
  assert_string_equal(u.host, "fe80::1%eth0");
  assert_int_equal(u.port, 80);
  assert_string_equal(u.prefix, "/p");
}

static void test_url_refuses_https_and_other_schemes(void **state) {
  parse_fails("https://ember.example.com", "https is not supported");
  parse_fails("HTTPS://ember.example.com", "https is not supported");
  parse_fails("ftp://host:21", "unsupported scheme");
}

static void test_url_refuses_what_it_would_misread(void **state) {
  parse_fails("http://::1:4040", "put it in brackets: http://[::1]:4040");
  parse_fails("http://[::1:4040", "without ']'");
  parse_fails("http://[::1]x:4040", "text after ']'");
  parse_fails("http://user:pw@host:4040", "carries credentials");
  parse_fails("http://host:4040/?query=x", "no query, fragment");
  parse_fails("http://host:4040#top", "no query, fragment");
  parse_fails("http://host:4040/a b", "no query, fragment, spaces");
  parse_fails("http://:4040", "names no host");
  parse_fails("", "names no host");
  parse_fails("http://ho st:1", "is not a host name or address");
}

static void test_url_refuses_bad_ports(void **state) {
  const char *bad[] = {"http://h:0", "http://h:65536", "http://h:", "http://h:80a",
                       "http://h:-1", "http://h:123456"};
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
    parse_fails(bad[i], "has a bad port");
  assert_int_equal(parse_ok("http://h:65535").port, 65535);
}

static void test_urlencode_keeps_only_unreserved_bytes(void **state) {
  ember_buf_t b = EMBER_BUF_INIT;
  ember_client_urlencode(&b, "app.cpu{region=\"eu-north\",pod=~\"web-.+\"}");
  assert_string_equal(b.data,
                      "app.cpu%7Bregion%3D%22eu-north%22%2Cpod%3D~%22web-.%2B%22%7D");
  ember_buf_reset(&b);
  ember_client_urlencode(&b, "now-1h & a/b?c#d %\xc3\xa9~_");
  assert_string_equal(b.data, "now-1h%20%26%20a%2Fb%3Fc%23d%20%25%C3%A9~_");
  ember_buf_reset(&b);
  ember_client_urlencode(&b, "");
  assert_string_equal(b.data, "");
  ember_buf_free(&b);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_url_takes_host_and_port),
      cmocka_unit_test(test_url_without_scheme_is_http),
      cmocka_unit_test(test_url_without_port_uses_80),
      cmocka_unit_test(test_url_keeps_a_path_prefix_without_trailing_slashes),
      cmocka_unit_test(test_url_takes_ipv6_in_brackets),
      cmocka_unit_test(test_url_refuses_https_and_other_schemes),
      cmocka_unit_test(test_url_refuses_what_it_would_misread),
      cmocka_unit_test(test_url_refuses_bad_ports),
      cmocka_unit_test(test_urlencode_keeps_only_unreserved_bytes),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
