/* Integration: the command line answers --help and refuses bad flags with
 * one clear line and a non-zero exit. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

static int lines(const char *s) {
  int n = 0;
  for (; *s; s++) n += *s == '\n';
  return n;
}

/* Runs args, expects exit status `code`, stderr of exactly one line that
 * contains `needle`, and nothing on stdout. */
static void expect_refusal(const char *const *args, int code, const char *needle) {
  char *out, *err;
  int st = it_run(args, &out, &err);
  if (st != code || lines(err) != 1 || !strstr(err, needle) || *out)
    fail_msg("%s %s: exit %d (want %d), stderr '%s' (want one line with '%s'), stdout '%s'",
             args[0], args[1] ? args[1] : "", st, code, err, needle, out);
  free(out);
  free(err);
}

static void test_help_lists_commands_and_every_serve_flag(void **state) {
  char *out, *err;
  const char *top[] = {"--help", NULL};
  assert_int_equal(it_run(top, &out, &err), 0);
  assert_non_null(strstr(out, "serve"));
  assert_non_null(strstr(out, "version"));
  free(out);
  free(err);
  const char *serve[] = {"serve", "--help", NULL};
  assert_int_equal(it_run(serve, &out, &err), 0);
  const char *flags[] = {"--listen", "--data", "--retention", "--max-body",
                         "--workers", "--write-queue", "--help"};
  for (size_t i = 0; i < sizeof flags / sizeof flags[0]; i++)
    if (!strstr(out, flags[i])) fail_msg("serve --help does not explain %s", flags[i]);
  free(out);
  free(err);
  const char *version[] = {"version", NULL};
  assert_int_equal(it_run(version, &out, &err), 0);
  assert_true(strncmp(out, "ember ", 6) == 0);
  free(out);
  free(err);
}

static void test_bad_commands_and_flags_exit_non_zero_with_one_line(void **state) {
  expect_refusal((const char *[]){"frobnicate", NULL}, 2, "unknown command 'frobnicate'");
  expect_refusal((const char *[]){"serve", "--bogus", NULL}, 2, "unknown option '--bogus'");
  expect_refusal((const char *[]){"serve", "--retention", "3x", NULL}, 2, "--retention");
  expect_refusal((const char *[]){"serve", "--max-body", "lots", NULL}, 2, "--max-body");
  expect_refusal((const char *[]){"serve", "--workers", "0", NULL}, 2, "--workers");
  expect_refusal((const char *[]){"serve", "--listen", NULL}, 2, "missing value");
  expect_refusal((const char *[]){"serve", "extra", NULL}, 2, "unexpected argument");
  expect_refusal((const char *[]){"serve", "--listen", "127.0.0.1", NULL}, 1, "host:port");
  expect_refusal((const char *[]){"serve", "--listen", "127.0.0.1:99999", NULL}, 1,
                 "port");
  expect_refusal((const char *[]){"serve", "--data", "/proc/ember-cannot-be-here",
                                  "--listen", "127.0.0.1:0", NULL},
                 1, "/proc/ember-cannot-be-here");
}

static void test_a_port_in_use_is_reported_with_the_cause(void **state) {
  it_server_t s = {0};
  it_start(&s, NULL);
  char addr[32];
  snprintf(addr, sizeof addr, "127.0.0.1:%u", s.port);
  char dir[300];
  snprintf(dir, sizeof dir, "%s/second", s.data_dir);
  expect_refusal((const char *[]){"serve", "--listen", addr, "--data", dir, NULL}, 1,
                 "Address already in use");
  assert_int_equal(it_stop(&s), 0);
  it_cleanup(&s);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_help_lists_commands_and_every_serve_flag),
      cmocka_unit_test(test_bad_commands_and_flags_exit_non_zero_with_one_line),
      cmocka_unit_test(test_a_port_in_use_is_reported_with_the_cause),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
