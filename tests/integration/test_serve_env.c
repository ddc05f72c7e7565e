/* Integration: `ember serve` takes every option from EMBER_<OPTION> too, as
 * containers are configured: a variable takes effect, the command line
 * wins, a list variable is comma-separated, an empty one counts as unset,
 * a bad one is refused naming it, and --help names every variable. */
#include <ctype.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

/* A body of about n bytes of folded text. */
static char *folded_of_size(size_t n) {
  char *b = malloc(n + 64);
  size_t len = 0;
  for (int i = 0; len < n; i++)
    len += (size_t)sprintf(b + len, "main;handler_%06d 1\n", i);
  return b;
}

/* Status of a POST of body to /ingest with extra headers (may be NULL). */
static int push(const it_server_t *s, const char *headers, const char *body) {
  it_resp_t r;
  if (it_http(s, "POST", "/ingest?name=env.cpu&from=1700000000", headers, body,
              strlen(body), &r))
    fail_msg("POST /ingest: connection failed");
  int st = r.status;
  it_resp_free(&r);
  return st;
}

static int lines(const char *s) {
  int n = 0;
  for (; *s; s++)
    n += *s == '\n';
  return n;
}

/* Runs `ember serve --listen 127.0.0.1:0 --data <tmp>` with env and
 * expects it to exit at once with code and one line holding needle. A
 * server that starts instead is killed after 20 s and fails the test. */
static void expect_env_refusal(const char *const *env, int code, const char *needle) {
  char dir[256];
  it_mkdtemp(dir, sizeof dir, "ember-env");
  const char *argv[] = {
      getenv("EMBER_BIN"), "serve", "--listen", "127.0.0.1:0", "--data", dir, NULL};
  char *out = NULL;
  int st = it_exec(argv, NULL, env, 20, &out);
  it_rmtree(dir);
  if (st != code || lines(out) != 1 || !strstr(out, needle))
    fail_msg("%s: exit %d (want %d), output '%s' (want one line with '%s')", env[0], st,
             code, out, needle);
  free(out);
}

static void test_a_variable_sets_its_option(void **state) {
  it_server_t s = {0};
  const char *env[] = {"EMBER_MAX_BODY=1KiB", NULL};
  it_start_env(&s, NULL, env);
  char *big = folded_of_size(2048);
  assert_int_equal(push(&s, NULL, big), 413);
  assert_int_equal(push(&s, NULL, "main;small 1\n"), 200);
  free(big);
  assert_int_equal(it_stop(&s), 0);
  it_cleanup(&s);
}

static void test_the_command_line_wins_over_the_environment(void **state) {
  it_server_t s = {0};
  const char *env[] = {"EMBER_MAX_BODY=1KiB", NULL};
  const char *args[] = {"--max-body", "1MiB", NULL};
  it_start_env(&s, args, env);
  char *big = folded_of_size(2048);
  assert_int_equal(push(&s, NULL, big), 200);
  free(big);
  assert_int_equal(it_stop(&s), 0);
  it_cleanup(&s);
}

static void test_an_empty_variable_counts_as_unset(void **state) {
  it_server_t s = {0};
  const char *env[] = {
      "EMBER_MAX_BODY=", "EMBER_WORKERS=", "EMBER_AUTH_TOKEN_FILE=", NULL};
  it_start_env(&s, NULL, env);
  char *big = folded_of_size(2048);
  assert_int_equal(push(&s, NULL, big), 200); /* the default 32 MiB, no token */
  free(big);
  assert_int_equal(it_stop(&s), 0);
  it_cleanup(&s);
}

static void test_the_token_file_variable_turns_auth_on(void **state) {
  char dir[256], path[300], var[340];
  it_mkdtemp(dir, sizeof dir, "ember-envtok");
  snprintf(path, sizeof path, "%s/tokens", dir);
  it_write_file(path, "env-key-1 admin\n", 16);
  snprintf(var, sizeof var, "EMBER_AUTH_TOKEN_FILE=%s", path);
  it_server_t s = {0};
  const char *env[] = {var, NULL};
  it_start_env(&s, NULL, env);
  it_resp_t r;
  assert_int_equal(it_http(&s, "GET", "/api/apps", NULL, NULL, 0, &r), 0);
  assert_int_equal(r.status, 401);
  it_resp_free(&r);
  assert_int_equal(
      it_http(&s, "GET", "/api/apps", "Authorization: Bearer env-key-1\r\n", NULL, 0, &r),
      0);
  assert_int_equal(r.status, 200);
  it_resp_free(&r);
  assert_int_equal(it_stop(&s), 0);
  it_cleanup(&s);
  it_rmtree(dir);
}

static void test_a_list_variable_is_comma_separated_and_a_flag_replaces_it(void **state) {
  const char *env[] = {"EMBER_ALLOW_ORIGIN=https://a.example, https://b.example", NULL};
  const char *from_a = "Origin: https://a.example\r\nSec-Fetch-Site: cross-site\r\n";
  const char *from_b = "Origin: https://b.example\r\nSec-Fetch-Site: cross-site\r\n";
  const char *from_c = "Origin: https://c.example\r\nSec-Fetch-Site: cross-site\r\n";
  it_server_t s = {0};
  it_start_env(&s, NULL, env);
  assert_int_equal(push(&s, from_a, "main;a 1\n"), 200);
  assert_int_equal(push(&s, from_b, "main;b 1\n"), 200);
  assert_int_equal(push(&s, from_c, "main;c 1\n"), 403);
  assert_int_equal(it_stop(&s), 0);
  it_cleanup(&s);
  /* A repeatable flag on the command line replaces the whole list. */
  const char *args[] = {"--allow-origin", "https://c.example", NULL};
  it_start_env(&s, args, env);
  assert_int_equal(push(&s, from_b, "main;b 1\n"), 403);
  assert_int_equal(push(&s, from_c, "main;c 1\n"), 200);
  assert_int_equal(it_stop(&s), 0);
  it_cleanup(&s);
}

static void test_a_bad_variable_is_refused_naming_it(void **state) {
  expect_env_refusal((const char *[]){"EMBER_MAX_BODY=lots", NULL}, 2,
                     "bad EMBER_MAX_BODY 'lots'");
  expect_env_refusal((const char *[]){"EMBER_WORKERS=0", NULL}, 2, "EMBER_WORKERS");
  expect_env_refusal((const char *[]){"EMBER_RETENTION=3x", NULL}, 2, "EMBER_RETENTION");
  expect_env_refusal((const char *[]){"EMBER_MAX_FUTURE_SKEW=-5m", NULL}, 2,
                     "EMBER_MAX_FUTURE_SKEW");
  expect_env_refusal((const char *[]){"EMBER_MIN_FREE_DISK=1TB", NULL}, 2,
                     "EMBER_MIN_FREE_DISK");
  /* Values checked when the server starts name the variables they came
   * from, since in a container they are on no command line. */
  expect_env_refusal((const char *[]){"EMBER_AUTH_TOKEN_FILE=/nonexistent/tokens", NULL},
                     1, "EMBER_AUTH_TOKEN_FILE");
  expect_env_refusal((const char *[]){"EMBER_TLS_CERT=/nonexistent/cert.pem", NULL}, 1,
                     "EMBER_TLS_CERT");
}

/* EMBER_STORE (--store) names the data directory as --data does, and
 * wins over it; a URL of an unknown kind is refused naming the variable. */
static void test_the_store_variable_names_the_data_directory(void **state) {
  char dir[256], var[300], db[300];
  it_mkdtemp(dir, sizeof dir, "ember-envstore");
  snprintf(var, sizeof var, "EMBER_STORE=%s/data", dir);
  it_server_t s = {0};
  const char *env[] = {var, NULL};
  it_start_env(&s, NULL, env);
  assert_int_equal(push(&s, NULL, "main;small 1\n"), 200);
  assert_int_equal(it_stop(&s), 0);
  snprintf(db, sizeof db, "%s/data/ember.db", dir);
  FILE *f = fopen(db, "rb");
  if (!f) fail_msg("no database in the directory EMBER_STORE names (%s)", db);
  fclose(f);
  it_cleanup(&s);
  it_rmtree(dir);
  expect_env_refusal((const char *[]){"EMBER_STORE=mysql://db/ember", NULL}, 1,
                     "EMBER_STORE");
}

static void test_help_names_the_variable_of_every_option(void **state) {
  char *out, *err;
  const char *args[] = {"serve", "--help", NULL};
  assert_int_equal(it_run(args, &out, &err), 0);
  int checked = 0;
  for (const char *p = strstr(out, "\n  --"); p; p = strstr(p + 1, "\n  --")) {
    char name[64], var[80];
    size_t n = strcspn(p + 5, " \n");
    if (n >= sizeof name) fail_msg("option name too long in: %.80s", p);
    memcpy(name, p + 5, n);
    name[n] = '\0';
    if (!strcmp(name, "help")) continue;
    int len = snprintf(var, sizeof var, "EMBER_%s", name);
    for (int i = 6; i < len; i++)
      var[i] = var[i] == '-' ? '_' : (char)toupper(var[i]);
    /* The variable follows its flag, before the next flag. */
    const char *at = strstr(p, var), *next = strstr(p + 1, "\n  --");
    if (!at || (next && at > next)) fail_msg("serve --help does not name %s", var);
    checked++;
  }
  if (checked < 25) fail_msg("only %d options found in serve --help:\n%s", checked, out);
  free(out);
  free(err);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_a_variable_sets_its_option),
      cmocka_unit_test(test_the_command_line_wins_over_the_environment),
      cmocka_unit_test(test_an_empty_variable_counts_as_unset),
      cmocka_unit_test(test_the_token_file_variable_turns_auth_on),
      cmocka_unit_test(test_a_list_variable_is_comma_separated_and_a_flag_replaces_it),
      cmocka_unit_test(test_a_bad_variable_is_refused_naming_it),
      cmocka_unit_test(test_the_store_variable_names_the_data_directory),
      cmocka_unit_test(test_help_names_the_variable_of_every_option),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
