/* Tests for src/store/store.c: opening checks, health (readiness) and
 * statistics. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "store/helpers.h"
#include "store/store_int.h"

#define T0 4000000000

static void test_store_is_ready_after_open_and_tells_the_free_disk_space(void **state) {
  fixture_t *f = *state;
  f->s = open_store(f->dir, 0, 0);
  ember_store_health_t h;
  ember_store_health(f->s, &h);
  assert_true(h.ready);
  assert_string_equal(h.reason, "");
  assert_false(h.last_write_failed);
  assert_true(h.last_commit_unix >= ember_now() - 60); /* the probe at open */
  assert_int_equal(h.last_failure_unix, 0);
  assert_true(h.disk_free_bytes > 0 && h.disk_free_bytes != UINT64_MAX);
  assert_true(h.min_free_bytes == (uint64_t)64 << 20);
}

static void test_store_is_not_ready_below_the_free_disk_threshold(void **state) {
  fixture_t *f = *state;
  ember_store_config_t cfg = {.data_dir = f->dir, .min_free_disk = UINT64_MAX / 2};
  f->s = open_store_cfg(&cfg);
  ember_store_health_t h;
  ember_store_health(f->s, &h);
  assert_false(h.ready);
  assert_non_null(strstr(h.reason, "disk nearly full"));
  assert_non_null(strstr(h.reason, "--min-free-disk"));
  /* Writes still work: readiness is advice to send traffic elsewhere. */
  put(f->s, "app.cpu", T0, T0 + 10, "a 1");
}

/* A job that fails the way a full disk makes a write fail. */
static int failing_job(ember_store_t *s, ember_job_t *j, ember_err_t *err) {
  return ember_err_set(err, EMBER_EIO,
                       "storage error while adding a stack: disk full (database or "
                       "disk is full, sqlite code 13)");
}

/* A failed write makes the store not ready; with no push coming (a load
 * balancer stopped sending them), its own probe makes it ready again once
 * writes succeed. */
static void
test_store_is_not_ready_after_a_failed_write_until_one_succeeds(void **state) {
  fixture_t *f = *state;
  f->s = open_store(f->dir, 0, 0);
  ember_job_t j;
  memset(&j, 0, sizeof j);
  j.run = failing_job;
  ember_err_t err;
  assert_int_equal(ember_writer_call(f->s, &j, &err), EMBER_EIO);
  ember_store_health_t h;
  ember_store_health(f->s, &h);
  assert_false(h.ready);
  assert_true(h.last_write_failed);
  assert_non_null(strstr(h.reason, "last write failed: storage error"));
  assert_non_null(strstr(h.last_write_error, "disk full"));
  assert_true(h.last_failure_unix > 0);
  /* A refusal that is not a storage failure changes nothing. */
  ember_err_t why;
  assert_int_equal(try_put(f->s, "app.cpu", T0 + 20, T0 + 10, "a 1", &why), EMBER_EINVAL);
  ember_store_health(f->s, &h);
  assert_false(h.ready);
  /* The maintenance thread probes every EMBER_STORE_PROBE_PERIOD s. */
  for (int i = 0; i < 100 && !h.ready; i++) {
    usleep(100000);
    ember_store_health(f->s, &h);
  }
  assert_true(h.ready);
  assert_false(h.last_write_failed);
  /* And a push that commits makes it ready at once. */
  assert_int_equal(ember_writer_call(f->s, &j, &err), EMBER_EIO);
  ember_store_health(f->s, &h);
  assert_false(h.ready);
  put(f->s, "app.cpu", T0, T0 + 10, "a 1");
  ember_store_health(f->s, &h);
  assert_true(h.ready);
}

/* Opening as `uid` in a child process (root writes anywhere, so the test
 * drops to another user when it runs as root); returns the child's status,
 * and what it was told in msg. */
static int open_as(const char *dir, uid_t uid, char *msg, size_t n) {
  int fds[2];
  assert_int_equal(pipe(fds), 0);
  pid_t pid = fork();
  assert_true(pid >= 0);
  if (pid == 0) {
    close(fds[0]);
    if (getuid() != uid && (setgid(uid) != 0 || setuid(uid) != 0)) _exit(3);
    ember_store_config_t cfg = {.data_dir = dir};
    ember_store_t *s = NULL;
    ember_err_t err = {0};
    int rc = ember_store_open(&cfg, &s, &err);
    if (write(fds[1], err.msg, strlen(err.msg)) < 0) _exit(4);
    if (rc == 0) ember_store_close(s);
    _exit(rc == EMBER_EIO ? 0 : 1);
  }
  close(fds[1]);
  ssize_t got = read(fds[0], msg, n - 1);
  msg[got > 0 ? got : 0] = '\0';
  close(fds[0]);
  int status;
  assert_int_equal(waitpid(pid, &status, 0), pid);
  return status;
}

static void chown_tree(const char *dir, uid_t uid) {
  const char *names[] = {"", "/ember.db", "/ember.db-wal", "/ember.db-shm",
                         "/ember.lock"};
  char p[700];
  for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
    snprintf(p, sizeof p, "%s%s", dir, names[i]);
    if (chown(p, uid, uid) != 0 && i == 0) fail_msg("chown %s failed", p);
  }
}

/* SQLite quietly opens a file it may not write read-only, and every push
 * would then fail: a read-only database must stop the server at start. */
static void test_store_refuses_to_open_a_database_it_cannot_write(void **state) {
  fixture_t *f = *state;
  ember_store_close(open_store(f->dir, 0, 0)); /* a database to find */
  uid_t uid = geteuid() == 0 ? 65534 : geteuid();
  chown_tree(f->dir, uid);
  char db[600], msg[EMBER_ERR_MSG_MAX + 1];
  snprintf(db, sizeof db, "%s/ember.db", f->dir);
  assert_int_equal(chmod(db, 0444), 0);
  int status = open_as(f->dir, uid, msg, sizeof msg);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
    fail_msg("opened a read-only database (status %#x): %s", status, msg);
  assert_non_null(strstr(msg, "ember.db cannot be written"));
  assert_non_null(strstr(msg, "writable by the user running ember"));
  /* The directory too. */
  assert_int_equal(chmod(db, 0644), 0);
  assert_int_equal(chmod(f->dir, 0555), 0);
  status = open_as(f->dir, uid, msg, sizeof msg);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
    fail_msg("opened in a read-only directory (status %#x): %s", status, msg);
  assert_non_null(strstr(msg, "is not writable"));
  assert_int_equal(chmod(f->dir, 0755), 0);
  chown_tree(f->dir, geteuid());
}

static void test_store_keeps_its_dictionaries_within_the_cache_bound(void **state) {
  fixture_t *f = *state;
  ember_store_config_t cfg = {.data_dir = f->dir, .dict_cache = 1};
  f->s = open_store_cfg(&cfg);
  put(f->s, "one.cpu", T0, T0 + 10, "a;b 1\na;c 2");
  ember_store_stats_t st;
  ember_store_stats(f->s, &st);
  assert_true(st.dict_bytes > 0);
  uint64_t one = st.dict_bytes;
  put(f->s, "two.cpu", T0, T0 + 10, "x;y 4");
  ember_store_stats(f->s, &st);
  /* Bounded at one byte, only the most recently used dictionary stays... */
  assert_true(st.dict_evictions >= 1);
  assert_true(st.dict_bytes <= one);
  /* ...until two maintenance passes find it unused. */
  assert_int_equal(ember_maint_pass(f->s, 0, NULL), 0);
  assert_int_equal(ember_maint_pass(f->s, 0, NULL), 0);
  ember_store_stats(f->s, &st);
  assert_int_equal(st.dict_bytes, 0);
  assert_int_equal(total_of(f->s, "one.cpu", T0, T0 + 10), 3); /* reloaded */
  assert_int_equal(total_of(f->s, "two.cpu", T0, T0 + 10), 4);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(
          test_store_is_ready_after_open_and_tells_the_free_disk_space, dir_setup,
          store_teardown),
      cmocka_unit_test_setup_teardown(
          test_store_is_not_ready_below_the_free_disk_threshold, dir_setup,
          store_teardown),
      cmocka_unit_test_setup_teardown(
          test_store_is_not_ready_after_a_failed_write_until_one_succeeds, dir_setup,
          store_teardown),
      cmocka_unit_test_setup_teardown(
          test_store_refuses_to_open_a_database_it_cannot_write, dir_setup,
          store_teardown),
      cmocka_unit_test_setup_teardown(
          test_store_keeps_its_dictionaries_within_the_cache_bound, dir_setup,
          store_teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
