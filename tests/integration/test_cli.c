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
#include <sys/stat.h>

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
  /* A malformed --listen is a usage error like any bad value (2); only a
   * well-formed address that cannot be bound is a runtime failure (1). */
  expect_refusal((const char *[]){"serve", "--listen", "127.0.0.1", NULL}, 2, "host:port");
  expect_refusal((const char *[]){"serve", "--listen", "127.0.0.1:99999", NULL}, 2,
                 "port");
  expect_refusal((const char *[]){"serve", "--listen", "127.0.0.1:", NULL}, 2,
                 "host:port");
  expect_refusal((const char *[]){"serve", "--listen", "127.0.0.1:-1", NULL}, 2, "port");
  expect_refusal((const char *[]){"serve", "--listen", "127.0.0.1:http", NULL}, 2,
                 "port");
  expect_refusal((const char *[]){"export", "--format", "gif", "-q", "a{}", NULL}, 2,
                 "--format");
  expect_refusal((const char *[]){"export", NULL}, 2, "--query");
  expect_refusal((const char *[]){"export", "-q", "a{}", "--server", "ftp://x", NULL}, 2,
                 "ftp://x");
  expect_refusal((const char *[]){"backup", "--data", "d", "-o", "f", "--max-rate", "fast",
                                  NULL},
                 2, "--max-rate");
  expect_refusal((const char *[]){"backup", "--data", "d", NULL}, 2, "-o");
  expect_refusal((const char *[]){"restore", "--bogus", NULL}, 2, "--bogus");
  expect_refusal((const char *[]){"spy", "frob", NULL}, 2, "unknown command 'frob'");
  expect_refusal((const char *[]){"spy", "record", "--rate", "0", "--pid", "1", NULL}, 2,
                 "--rate");
  expect_refusal((const char *[]){"spy", "dump", NULL}, 2, "--pid");
  expect_refusal((const char *[]){"serve", "--data", "/proc/ember-cannot-be-here",
                                  "--listen", "127.0.0.1:0", NULL},
                 1, "/proc/ember-cannot-be-here");
}

static void test_listen_from_the_environment_is_checked_like_the_flag(void **state) {
  char *out, *err;
  const char *args[] = {"serve", NULL};
  const char *env[] = {"EMBER_LISTEN=localhost", NULL};
  int st = it_run_env(args, env, &out, &err);
  if (st != 2 || lines(err) != 1 || !strstr(err, "host:port") ||
      !strstr(err, "EMBER_LISTEN"))
    fail_msg("EMBER_LISTEN=localhost: exit %d (want 2), stderr '%s'", st, err);
  free(out);
  free(err);
}

/* The help lists the exit codes: the common line, or a section of the
 * command's own naming what each of 0, 1 and 2 means for it. */
static bool lists_exit_codes(const char *help) {
  if (strstr(help, "Exit status: 0 success; 1 a runtime failure") &&
      strstr(help, "2 a usage error"))
    return true;
  const char *own = strstr(help, "Exit codes:\n");
  return own && strstr(own, "\n  0  ") && strstr(own, "\n  1  ") && strstr(own, "\n  2  ");
}

/* Every command's --help, and the top-level one, lists the exit codes; the
 * commands are those `ember --help` lists. */
static void test_every_help_lists_the_exit_codes(void **state) {
  static const char codes[] = "Exit status: 0 success; 1 a runtime failure";
  char *out, *err;
  assert_int_equal(it_run((const char *[]){"--help", NULL}, &out, &err), 0);
  if (!strstr(out, codes)) fail_msg("ember --help lacks the exit codes:\n%s", out);
  if (!strstr(out, "2 a usage error")) fail_msg("ember --help lacks exit code 2");
  const char *list = strstr(out, "Commands:\n");
  assert_non_null(list);
  int ncommands = 0;
  for (const char *line = strchr(list, '\n') + 1; *line == ' ';
       line = strchr(line, '\n') + 1) {
    char name[32];
    if (sscanf(line, "  %31[a-z-]", name) != 1 || line[2] == ' ') continue;
    if (!strcmp(name, "version")) continue;
    const char *subs[] = {name, NULL, NULL, NULL};
    const char *spy_cmds[] = {"record", "top", "dump", NULL};
    for (size_t i = 0; i < (strcmp(name, "spy") ? 1 : 4); i++) {
      subs[1] = i ? spy_cmds[i - 1] : "--help";
      subs[2] = i ? "--help" : NULL;
      char *o2, *e2;
      int st = it_run(subs, &o2, &e2);
      if (st != 0 || !lists_exit_codes(o2))
        fail_msg("ember %s %s: exit %d, no exit codes in:\n%s", subs[0], subs[1], st, o2);
      free(o2);
      free(e2);
    }
    ncommands++;
  }
  assert_true(ncommands >= 7); /* serve, export, backup, restore, spy, push, diff */
  free(out);
  free(err);
}

static bool exists(const char *path) {
  struct stat st;
  return stat(path, &st) == 0;
}

/* A start that fails on its address, its token file or its TLS files has
 * written nothing: not the data directory, not the database. */
static void test_a_failed_start_leaves_no_files(void **state) {
  it_server_t s = {0};
  it_start(&s, NULL);
  char addr[32], dir[300], db[340], missing[340];
  snprintf(addr, sizeof addr, "127.0.0.1:%u", s.port);
  snprintf(dir, sizeof dir, "%s/second", s.data_dir);
  snprintf(db, sizeof db, "%s/ember.db", dir);
  snprintf(missing, sizeof missing, "%s/no-such-file", s.data_dir);
  expect_refusal((const char *[]){"serve", "--listen", addr, "--data", dir, NULL}, 1,
                 "Address already in use");
  if (exists(dir)) fail_msg("a start on a port in use made %s", dir);
  expect_refusal((const char *[]){"serve", "--listen", "127.0.0.1:0", "--data", dir,
                                  "--auth-token-file", missing, NULL},
                 1, "no-such-file");
  if (exists(dir)) fail_msg("a start with a missing token file made %s", dir);
  expect_refusal((const char *[]){"serve", "--listen", "127.0.0.1:0", "--data", dir,
                                  "--tls-cert", missing, "--tls-key", missing, NULL},
                 1, "no-such-file");
  if (exists(dir)) fail_msg("a start with a missing TLS file made %s", dir);
  /* The directory exists, the database does not: still nothing made. */
  mkdir(dir, 0700);
  expect_refusal((const char *[]){"serve", "--listen", addr, "--data", dir, NULL}, 1,
                 "Address already in use");
  if (exists(db)) fail_msg("a start on a port in use made %s", db);
  assert_int_equal(it_stop(&s), 0);
  it_cleanup(&s);
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
      cmocka_unit_test(test_listen_from_the_environment_is_checked_like_the_flag),
      cmocka_unit_test(test_every_help_lists_the_exit_codes),
      cmocka_unit_test(test_a_failed_start_leaves_no_files),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
