/* Integration: readiness (/readyz) against a real disk, and what the server
 * says when its disk is full or read-only at start. The disk-full and
 * read-only cases mount a small tmpfs, which needs root (CAP_SYS_ADMIN);
 * without it they are skipped. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"

static long now_minus(long s) {
  return (long)time(NULL) - s;
}

/* Folded text of n distinct stacks under root. Caller frees. */
static char *stacks(const char *root, int n) {
  size_t cap = (size_t)n * 32 + 1, len = 0;
  char *b = malloc(cap);
  for (int i = 0; i < n; i++)
    len += (size_t)snprintf(b + len, cap - len, "%s;frame_%d 1\n", root, i);
  return b;
}

static void expect_ready(const it_server_t *s) {
  it_resp_t r;
  it_expect(s, 200, "GET", "/readyz", NULL, 0, &r);
  assert_string_equal(r.body, "ready\n");
  it_resp_free(&r);
}

/* GET /readyz must answer 503 with a JSON error holding `want`. */
static void expect_not_ready(const it_server_t *s, const char *want) {
  it_resp_t r;
  it_expect(s, 503, "GET", "/readyz", NULL, 0, &r);
  json_t *j = it_json(&r);
  const char *msg = json_string_value(json_object_get(j, "error"));
  if (!msg || !strstr(msg, want)) fail_msg("/readyz said %s, not '%s'", r.body, want);
  json_decref(j);
  it_resp_free(&r);
  /* Liveness is another question: the process answers. */
  it_expect(s, 200, "GET", "/healthz", NULL, 0, &r);
  it_resp_free(&r);
}

static bool metric_is(const it_server_t *s, const char *line) {
  it_resp_t r;
  it_expect(s, 200, "GET", "/metrics", NULL, 0, &r);
  bool found = strstr(r.body, line) != NULL;
  it_resp_free(&r);
  return found;
}

static void test_readyz_answers_ready_while_writes_succeed(void **state) {
  it_server_t s = {0};
  it_start(&s, NULL);
  expect_ready(&s);
  assert_int_equal(it_ingest(&s, "ready.cpu", now_minus(20), now_minus(10), "a;b 1\n"),
                   200);
  expect_ready(&s);
  assert_true(metric_is(&s, "\nember_store_ready 1\n"));
  assert_true(metric_is(&s, "\nember_store_disk_free_bytes "));
  assert_true(metric_is(&s, "\nember_store_last_success_timestamp_seconds "));
  assert_int_equal(it_stop(&s), 0);
  it_cleanup(&s);
}

static void test_readyz_answers_503_when_the_disk_is_nearly_full(void **state) {
  it_server_t s = {0};
  const char *args[] = {"--min-free-disk", "1000000GiB", NULL};
  it_start(&s, args);
  expect_not_ready(&s, "disk nearly full");
  expect_not_ready(&s, "--min-free-disk");
  assert_true(metric_is(&s, "\nember_store_ready 0\n"));
  assert_int_equal(it_stop(&s), 0);
  it_cleanup(&s);
}

/* ---- A real full disk: a small tmpfs ----------------------------------- */

typedef struct {
  char dir[200];
  bool mounted;
} mnt_t;

/* A test's mount and server, cleaned up by the teardown even when an
 * assertion fails half-way. */
typedef struct {
  mnt_t m;
  it_server_t s;
} disk_fixture_t;

/* Mounts a tmpfs of `size` on a new directory; skips the test when this
 * process may not mount. */
static void mount_small(mnt_t *m, const char *size) {
  it_mkdtemp(m->dir, sizeof m->dir, "ember-tmpfs");
  char opts[64];
  snprintf(opts, sizeof opts, "size=%s,mode=0755", size);
  if (mount("tmpfs", m->dir, "tmpfs", 0, opts) != 0) {
    int e = errno;
    rmdir(m->dir);
    if (e == EPERM || e == EACCES) {
      fprintf(stderr, "cannot mount a tmpfs (%s): skipped\n", strerror(e));
      skip();
    }
    fail_msg("mount tmpfs on %s: %s", m->dir, strerror(e));
  }
  m->mounted = true;
}

static void unmount(mnt_t *m) {
  if (m->mounted && umount2(m->dir, MNT_DETACH) != 0)
    fprintf(stderr, "umount %s: %s\n", m->dir, strerror(errno));
  if (m->mounted) rmdir(m->dir);
  m->mounted = false;
}

static int disk_setup(void **state) {
  *state = calloc(1, sizeof(disk_fixture_t));
  return 0;
}

static int disk_teardown(void **state) {
  disk_fixture_t *f = *state;
  it_cleanup(&f->s); /* kills a server left running, removes its data */
  unmount(&f->m);
  free(f);
  return 0;
}

/* Writes a file until the disk is full. */
static void fill(const char *path) {
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
  assert_true(fd >= 0);
  static char block[65536];
  while (write(fd, block, sizeof block) > 0) {
  }
  /* The last pages: smaller writes until nothing fits. */
  while (write(fd, block, 512) > 0) {
  }
  close(fd);
}

static void test_a_full_disk_makes_readyz_say_so_until_space_is_freed(void **state) {
  disk_fixture_t *f = *state;
  mount_small(&f->m, "8m");
  snprintf(f->s.data_dir, sizeof f->s.data_dir, "%s/data", f->m.dir);
  const char *args[] = {"--min-free-disk", "1KiB", NULL};
  it_start(&f->s, args);
  assert_int_equal(it_ingest(&f->s, "full.cpu", now_minus(30), now_minus(20), "a;b 1\n"),
                   200);
  expect_ready(&f->s);
  char filler[300];
  snprintf(filler, sizeof filler, "%s/filler", f->m.dir);
  fill(filler);
  /* Enough new stacks that the write needs new pages. */
  char *body = stacks("main", 4000);
  char target[256];
  snprintf(target, sizeof target, "/ingest?name=full.cpu&from=%ld&until=%ld",
           now_minus(20), now_minus(10));
  it_resp_t r;
  assert_int_equal(it_http(&f->s, "POST", target, NULL, body, strlen(body), &r), 0);
  if (r.status != 500 || !strstr(r.body, "disk full"))
    fail_msg("a push to a full disk got %d %s", r.status, r.body);
  it_resp_free(&r);
  expect_not_ready(&f->s, "last write failed");
  expect_not_ready(&f->s, "disk full");
  assert_true(metric_is(&f->s, "\nember_store_ready 0\n"));
  /* Space comes back: readiness follows without any push (its probe). */
  assert_int_equal(unlink(filler), 0);
  int waited = 0;
  for (; waited < 150; waited++) {
    assert_int_equal(it_http(&f->s, "GET", "/readyz", NULL, NULL, 0, &r), 0);
    int st = r.status;
    it_resp_free(&r);
    if (st == 200) break;
    struct timespec ts = {0, 100 * 1000 * 1000};
    nanosleep(&ts, NULL);
  }
  fprintf(stderr, "ready again %.1f s after space was freed\n", waited / 10.0);
  assert_true(waited < 150);
  assert_int_equal(it_ingest(&f->s, "full.cpu", now_minus(20), now_minus(10), body), 200);
  expect_ready(&f->s);
  free(body);
  assert_int_equal(it_stop(&f->s), 0);
}

/* Runs `ember serve --data dir` and expects it to exit 1 saying `want`. */
static void expect_refused_start(const char *dir, const char *want) {
  const char *bin = getenv("EMBER_BIN");
  assert_non_null(bin);
  const char *argv[] = {bin, "serve", "--listen", "127.0.0.1:0", "--data", dir, NULL};
  char *out = NULL;
  int rc = it_exec(argv, NULL, NULL, 10, &out);
  if (rc != 1 || !strstr(out, want))
    fail_msg("ember serve --data %s: exit %d, said: %s", dir, rc, out);
  free(out);
}

static void test_a_server_on_a_full_disk_refuses_to_start_saying_disk_full(void **state) {
  disk_fixture_t *f = *state;
  mount_small(&f->m, "4m");
  char fresh[300], filler[300];
  snprintf(fresh, sizeof fresh, "%s/fresh", f->m.dir);
  snprintf(filler, sizeof filler, "%s/filler", f->m.dir);
  /* A database made while there was room, then the disk filled up. */
  snprintf(f->s.data_dir, sizeof f->s.data_dir, "%s/used", f->m.dir);
  it_start(&f->s, NULL);
  assert_int_equal(it_ingest(&f->s, "used.cpu", now_minus(30), now_minus(20), "a 1\n"),
                   200);
  assert_int_equal(it_stop(&f->s), 0);
  fill(filler);
  expect_refused_start(f->s.data_dir, "disk full");
  /* And a new data directory on the full disk. */
  expect_refused_start(fresh, "disk full");
  unlink(filler);
}

static void test_a_server_on_a_read_only_disk_refuses_to_start(void **state) {
  disk_fixture_t *f = *state;
  mount_small(&f->m, "8m");
  snprintf(f->s.data_dir, sizeof f->s.data_dir, "%s/data", f->m.dir);
  it_start(&f->s, NULL);
  assert_int_equal(it_ingest(&f->s, "ro.cpu", now_minus(30), now_minus(20), "a 1\n"),
                   200);
  assert_int_equal(it_stop(&f->s), 0);
  if (mount(NULL, f->m.dir, NULL, MS_REMOUNT | MS_RDONLY, NULL) != 0)
    fail_msg("remount read-only: %s", strerror(errno));
  expect_refused_start(f->s.data_dir, "not writable");
  f->s.data_dir[0] = '\0'; /* read-only: nothing to remove */
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_readyz_answers_ready_while_writes_succeed),
      cmocka_unit_test(test_readyz_answers_503_when_the_disk_is_nearly_full),
      cmocka_unit_test_setup_teardown(
          test_a_full_disk_makes_readyz_say_so_until_space_is_freed, disk_setup,
          disk_teardown),
      cmocka_unit_test_setup_teardown(
          test_a_server_on_a_full_disk_refuses_to_start_saying_disk_full, disk_setup,
          disk_teardown),
      cmocka_unit_test_setup_teardown(test_a_server_on_a_read_only_disk_refuses_to_start,
                                      disk_setup, disk_teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
