/* Tests for src/http/access.c: tokens and roles, cross-site requests and
 * the Host check against DNS rebinding. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "http/http_int.h"

static char token_file[64];

static void write_tokens(const char *text) {
  strcpy(token_file, "/tmp/ember-tokens-XXXXXX");
  int fd = mkstemp(token_file);
  assert_true(fd >= 0);
  assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
  close(fd);
}

static http_access_t *policy(const char *tokens, bool loopback,
                             const char *const *origins, const char *const *hosts) {
  ember_server_config_t cfg = {0};
  if (tokens) {
    write_tokens(tokens);
    cfg.auth_token_file = token_file;
  }
  cfg.allow_origins = origins;
  cfg.allow_hosts = hosts;
  http_access_t *a = NULL;
  ember_err_t err;
  int rc = ember_access_new(&cfg, loopback, false, &a, &err);
  if (tokens) unlink(token_file);
  if (rc) fail_msg("%s", err.msg);
  return a;
}

static int check(const http_access_t *a, http_method_t m, unsigned role, const char *host,
                 const char *origin, const char *site, const char *auth,
                 ember_err_t *err) {
  http_asker_t q = {m, role, host, origin, site, auth};
  ember_err_clear(err);
  bool by_token;
  int rc = ember_access_check(a, &q, &by_token, err);
  /* Only a token refusal is the token's doing. */
  if (rc == EMBER_EAUTH) assert_true(by_token);
  if (rc == 0) assert_false(by_token);
  return rc;
}

static void test_tokens_grant_their_roles(void **state) {
  http_access_t *a = policy("# comment\n\ns3cret-ingest ingest\nr3ad read\nboss-token\n",
                            false, NULL, NULL);
  ember_err_t err;
  assert_int_equal(ember_access_tokens(a), 3);
  assert_int_equal(check(a, HTTP_POST, HTTP_ROLE_INGEST, "h", NULL, NULL, NULL, &err),
                   EMBER_EAUTH);
  assert_non_null(strstr(err.msg, "Bearer"));
  assert_int_equal(check(a, HTTP_POST, HTTP_ROLE_INGEST, "h", NULL, NULL,
                         "Bearer s3cret-ingest", &err),
                   0);
  assert_int_equal(
      check(a, HTTP_GET, HTTP_ROLE_READ, "h", NULL, NULL, "Bearer s3cret-ingest", &err),
      EMBER_EFORBIDDEN);
  assert_null(strstr(err.msg, "s3cret")); /* never repeats a credential */
  assert_int_equal(
      check(a, HTTP_GET, HTTP_ROLE_READ, "h", NULL, NULL, "Bearer r3ad", &err), 0);
  assert_int_equal(
      check(a, HTTP_DELETE, HTTP_ROLE_ADMIN, "h", NULL, NULL, "Bearer r3ad", &err),
      EMBER_EFORBIDDEN);
  /* No role written means admin, which may do everything. */
  assert_int_equal(
      check(a, HTTP_DELETE, HTTP_ROLE_ADMIN, "h", NULL, NULL, "Bearer boss-token", &err),
      0);
  assert_int_equal(
      check(a, HTTP_POST, HTTP_ROLE_INGEST, "h", NULL, NULL, "Bearer boss-token", &err),
      0);
  /* Routes open to all (health, the UI's files) need nothing. */
  assert_int_equal(check(a, HTTP_GET, HTTP_ROLE_NONE, "h", NULL, NULL, NULL, &err), 0);
  ember_access_free(a);
}

static void test_tokens_are_compared_whole(void **state) {
  http_access_t *a = policy("abcdef read\n", false, NULL, NULL);
  ember_err_t err;
  const char *wrong[] = {"Bearer abcde", "Bearer abcdefg", "Bearer ABCDEF", "Bearer ",
                         "Token abcdef", "abcdef",         "Basic !!!"};
  for (size_t i = 0; i < sizeof wrong / sizeof *wrong; i++)
    assert_int_equal(check(a, HTTP_GET, HTTP_ROLE_READ, "h", NULL, NULL, wrong[i], &err),
                     EMBER_EAUTH);
  assert_non_null(strstr(err.msg, "not valid"));
  ember_access_free(a);
}

static void test_basic_auth_takes_the_token_as_password(void **state) {
  http_access_t *a = policy("abcdef ingest\n", false, NULL, NULL);
  ember_err_t err;
  /* "pyroscope:abcdef" and ":abcdef" */
  assert_int_equal(check(a, HTTP_POST, HTTP_ROLE_INGEST, "h", NULL, NULL,
                         "Basic cHlyb3Njb3BlOmFiY2RlZg==", &err),
                   0);
  assert_int_equal(
      check(a, HTTP_POST, HTTP_ROLE_INGEST, "h", NULL, NULL, "Basic OmFiY2RlZg==", &err),
      0);
  /* "pyroscope:wrong" */
  assert_int_equal(check(a, HTTP_POST, HTTP_ROLE_INGEST, "h", NULL, NULL,
                         "Basic cHlyb3Njb3BlOndyb25n", &err),
                   EMBER_EAUTH);
  ember_access_free(a);
}

static void test_a_bad_token_file_is_refused_with_its_line(void **state) {
  ember_server_config_t cfg = {0};
  http_access_t *a = NULL;
  ember_err_t err;
  write_tokens("good read\nbad writer\n");
  cfg.auth_token_file = token_file;
  assert_int_equal(ember_access_new(&cfg, false, false, &a, &err), EMBER_EINVAL);
  assert_non_null(strstr(err.msg, "line 2"));
  assert_non_null(strstr(err.msg, "writer"));
  unlink(token_file);
  write_tokens("# only a comment\n");
  assert_int_equal(ember_access_new(&cfg, false, false, &a, &err), EMBER_EINVAL);
  assert_non_null(strstr(err.msg, "no token"));
  unlink(token_file);
  cfg.auth_token_file = "/nonexistent/tokens";
  assert_int_equal(ember_access_new(&cfg, false, false, &a, &err), EMBER_EINVAL);
  assert_null(a);
}

static void test_cross_site_changes_are_refused_unless_allowed(void **state) {
  const char *origins[] = {"https://grafana.example", NULL};
  http_access_t *a = policy(NULL, false, origins, NULL);
  ember_err_t err;
  const char *host = "ember.internal:4040";
  /* A no-cors fetch from another page sends its Origin. */
  assert_int_equal(check(a, HTTP_POST, HTTP_ROLE_INGEST, host, "http://evil.example",
                         NULL, NULL, &err),
                   EMBER_EFORBIDDEN);
  assert_non_null(strstr(err.msg, "--allow-origin"));
  /* A form post from another site. */
  assert_int_equal(
      check(a, HTTP_POST, HTTP_ROLE_INGEST, host, NULL, "cross-site", NULL, &err),
      EMBER_EFORBIDDEN);
  assert_int_equal(
      check(a, HTTP_DELETE, HTTP_ROLE_ADMIN, host, "null", "cross-site", NULL, &err),
      EMBER_EFORBIDDEN);
  assert_int_equal(
      check(a, HTTP_POST, HTTP_ROLE_INGEST, host, NULL, "same-site", NULL, &err),
      EMBER_EFORBIDDEN);
  /* The UI itself, agents (no browser headers) and reads pass. */
  assert_int_equal(check(a, HTTP_DELETE, HTTP_ROLE_ADMIN, host,
                         "http://ember.internal:4040", "same-origin", NULL, &err),
                   0);
  assert_int_equal(check(a, HTTP_POST, HTTP_ROLE_INGEST, host, NULL, NULL, NULL, &err),
                   0);
  assert_int_equal(check(a, HTTP_GET, HTTP_ROLE_READ, host, "http://evil.example",
                         "cross-site", NULL, &err),
                   0);
  /* An allowed origin may. */
  assert_int_equal(check(a, HTTP_POST, HTTP_ROLE_INGEST, host, "https://grafana.example",
                         "cross-site", NULL, &err),
                   0);
  ember_access_free(a);
}

static void
test_a_loopback_server_answers_only_names_that_cannot_be_rebound(void **state) {
  http_access_t *a = policy(NULL, true, NULL, NULL);
  ember_err_t err;
  const char *ok[] = {"localhost:4040", "LOCALHOST", "127.0.0.1:4040",
                      "[::1]:4040",     "10.1.2.3",  NULL};
  for (size_t i = 0; ok[i]; i++)
    assert_int_equal(check(a, HTTP_GET, HTTP_ROLE_READ, ok[i], NULL, NULL, NULL, &err),
                     0);
  assert_int_equal(check(a, HTTP_GET, HTTP_ROLE_READ, NULL, NULL, NULL, NULL, &err), 0);
  const char *bad[] = {"rebind.evil.example:4040", "localhost.evil.example", "[::1",
                       ":4040", NULL};
  for (size_t i = 0; bad[i]; i++)
    assert_int_equal(check(a, HTTP_GET, HTTP_ROLE_READ, bad[i], NULL, NULL, NULL, &err),
                     EMBER_EFORBIDDEN);
  assert_non_null(strstr(err.msg, "--allow-host"));
  ember_access_free(a);
  const char *hosts[] = {"ember.lan", NULL};
  a = policy(NULL, true, NULL, hosts);
  assert_int_equal(
      check(a, HTTP_GET, HTTP_ROLE_READ, "Ember.LAN:4040", NULL, NULL, NULL, &err), 0);
  assert_int_equal(
      check(a, HTTP_GET, HTTP_ROLE_READ, "other.lan:4040", NULL, NULL, NULL, &err),
      EMBER_EFORBIDDEN);
  ember_access_free(a);
}

static void test_a_server_on_every_interface_answers_its_service_names(void **state) {
  http_access_t *a = policy(NULL, false, NULL, NULL);
  ember_err_t err;
  /* docker-compose agents reach the server by its service name. */
  assert_int_equal(
      check(a, HTTP_POST, HTTP_ROLE_INGEST, "ember:4040", NULL, NULL, NULL, &err), 0);
  ember_access_free(a);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_tokens_grant_their_roles),
      cmocka_unit_test(test_tokens_are_compared_whole),
      cmocka_unit_test(test_basic_auth_takes_the_token_as_password),
      cmocka_unit_test(test_a_bad_token_file_is_refused_with_its_line),
      cmocka_unit_test(test_cross_site_changes_are_refused_unless_allowed),
      cmocka_unit_test(test_a_loopback_server_answers_only_names_that_cannot_be_rebound),
      cmocka_unit_test(test_a_server_on_every_interface_answers_its_service_names),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
