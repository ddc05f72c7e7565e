/* Tests for src/store/writer.c: commits and answers, concurrency, a full
 * queue, closing with work pending, one bad request in a batch, deletion. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/wait.h>

#include "store/helpers.h"
#include "store/store_int.h"

/* In the future, so the background maintenance pass (which uses the real
 * clock) never finds these rows settled and rolls them up mid-test. */
#define T0 4000000000

/* Records how often and how each request was answered. */
typedef struct {
  atomic_int calls;
  atomic_int rc;
} answer_t;

static void on_done(void *ctx, int rc, const ember_err_t *err) {
  answer_t *a = ctx;
  atomic_store(&a->rc, rc);
  atomic_fetch_add(&a->calls, 1);
}

static void test_writer_answers_a_write_only_after_it_is_committed(void **state) {
  fixture_t *f = *state;
  f->s = open_store(f->dir, 0, 0);
  put(f->s, "app.cpu{host=a}", T0, T0 + 10, "main;work 3\nmain;idle 1");
  ember_store_stats_t st;
  ember_store_stats(f->s, &st);
  assert_true(st.commits >= 1);
  assert_int_equal(st.rows_written, 1);
  assert_int_equal(st.queue_depth, 0);
  assert_int_equal(st.queue_max, 1024);
  assert_true(st.db_bytes > 0);
  /* Committed means visible to a fresh reader. */
  assert_int_equal(total_of(f->s, "app.cpu{}", T0, T0 + 10), 4);
}

typedef struct {
  ember_store_t *s;
  answer_t *answers;
  int base, count;
  atomic_int *busy;
} submitter_t;

static void *submit_many(void *arg) {
  submitter_t *w = arg;
  char name[64];
  for (int i = 0; i < w->count; i++) {
    int k = w->base + i;
    snprintf(name, sizeof name, "app.cpu{worker=w%d}", k % 7);
    ember_ingest_result_t r = make_result(name, T0 + 10 * (k % 30), T0 + 10 * (k % 30) + 10,
                                          "main;work 2\nmain;gc 1", EMBER_AGG_SUM);
    int rc;
    while ((rc = ember_store_submit(w->s, &r, on_done, &w->answers[k], NULL)) ==
           EMBER_EBUSY) {
      atomic_fetch_add(w->busy, 1);
      usleep(200);
    }
    assert_int_equal(rc, 0);
    assert_int_equal(r.n, 0); /* the store took the profiles */
    ember_ingest_result_free(&r);
  }
  return NULL;
}

static void test_writer_answers_every_concurrent_submit_exactly_once(void **state) {
  fixture_t *f = *state;
  enum { THREADS = 4, EACH = 150 };
  f->s = open_store(f->dir, 16, 0);
  answer_t *answers = calloc(THREADS * EACH, sizeof *answers);
  atomic_int busy = 0;
  pthread_t th[THREADS];
  submitter_t w[THREADS];
  for (int i = 0; i < THREADS; i++) {
    w[i] = (submitter_t){f->s, answers, i * EACH, EACH, &busy};
    pthread_create(&th[i], NULL, submit_many, &w[i]);
  }
  for (int i = 0; i < THREADS; i++) pthread_join(th[i], NULL);
  /* Closing drains the queue and answers what is left. */
  ember_store_close(f->s);
  for (int i = 0; i < THREADS * EACH; i++) {
    assert_int_equal(atomic_load(&answers[i].calls), 1);
    assert_int_equal(atomic_load(&answers[i].rc), 0);
  }
  f->s = open_store(f->dir, 0, 0);
  assert_int_equal(total_of(f->s, "app.cpu{}", T0, T0 + 300), 3 * THREADS * EACH);
  assert_int_equal(total_of(f->s, "app.cpu{worker=\"w3\"}", T0, T0 + 300),
                   3 * (uint64_t)(THREADS * EACH / 7 + (THREADS * EACH % 7 > 3)));
  free(answers);
}

static void test_writer_refuses_with_ebusy_when_the_queue_is_full(void **state) {
  fixture_t *f = *state;
  f->s = open_store(f->dir, 2, 0);
  ember_store_test_pause(f->s, true);
  answer_t a[3] = {0};
  for (int i = 0; i < 2; i++) {
    ember_ingest_result_t r = make_result("app.cpu", T0, T0 + 10, "a 1", EMBER_AGG_SUM);
    assert_int_equal(ember_store_submit(f->s, &r, on_done, &a[i], NULL), 0);
    ember_ingest_result_free(&r);
  }
  ember_ingest_result_t r = make_result("app.cpu", T0, T0 + 10, "a 1", EMBER_AGG_SUM);
  ember_err_t err;
  assert_int_equal(ember_store_submit(f->s, &r, on_done, &a[2], &err), EMBER_EBUSY);
  assert_non_null(strstr(err.msg, "retry"));
  assert_int_equal(r.n, 1); /* nothing was taken */
  assert_non_null(r.items[0].tree);
  ember_store_stats_t st;
  ember_store_stats(f->s, &st);
  assert_int_equal(st.queue_depth, 2);
  ember_store_test_pause(f->s, false);
  /* Once the writer drains the queue, the same request goes through. */
  int rc;
  while ((rc = ember_store_write(f->s, &r, NULL)) == EMBER_EBUSY) usleep(100);
  assert_int_equal(rc, 0);
  ember_ingest_result_free(&r);
  assert_int_equal(atomic_load(&a[0].calls), 1);
  assert_int_equal(atomic_load(&a[1].calls), 1);
  assert_int_equal(atomic_load(&a[2].calls), 0); /* refused: never called */
  assert_int_equal(total_of(f->s, "app.cpu{}", T0, T0 + 10), 3);
}

static void test_writer_close_commits_and_answers_pending_work(void **state) {
  fixture_t *f = *state;
  f->s = open_store(f->dir, 0, 0);
  ember_store_test_pause(f->s, true);
  enum { N = 40 };
  answer_t a[N] = {0};
  for (int i = 0; i < N; i++) {
    ember_ingest_result_t r = make_result("app.cpu{i=x}", T0 + 10 * i, T0 + 10 * i + 10,
                                          "main 5", EMBER_AGG_SUM);
    assert_int_equal(ember_store_submit(f->s, &r, on_done, &a[i], NULL), 0);
    ember_ingest_result_free(&r);
  }
  ember_store_close(f->s);
  f->s = NULL;
  for (int i = 0; i < N; i++) {
    assert_int_equal(atomic_load(&a[i].calls), 1);
    assert_int_equal(atomic_load(&a[i].rc), 0);
  }
  f->s = open_store(f->dir, 0, 0);
  assert_int_equal(total_of(f->s, "app.cpu{}", T0, T0 + 10 * N), 5 * N);
}

static void test_writer_refuses_submits_once_shutting_down(void **state) {
  fixture_t *f = *state;
  f->s = open_store(f->dir, 0, 0);
  ember_maint_stop(f->s);
  ember_writer_stop(f->s); /* what close does first */
  ember_ingest_result_t r = make_result("app.cpu", T0, T0 + 10, "a 1", EMBER_AGG_SUM);
  ember_err_t err;
  assert_int_equal(ember_store_submit(f->s, &r, on_done, NULL, &err), EMBER_ESHUTDOWN);
  assert_int_equal(ember_store_write(f->s, &r, &err), EMBER_ESHUTDOWN);
  assert_int_equal(r.n, 1);
  ember_ingest_result_free(&r);
}

static void test_writer_fails_a_bad_request_alone_in_its_batch(void **state) {
  fixture_t *f = *state;
  f->s = open_store(f->dir, 0, 0);
  ember_store_test_pause(f->s, true); /* so all three share one transaction */
  answer_t a[3] = {0};
  ember_ingest_result_t good1 = make_result("app.cpu", T0, T0 + 10, "x;y 2", EMBER_AGG_SUM);
  ember_ingest_result_t bad = make_result("app.cpu", T0 + 50, T0 + 20, "x;new;frames 9",
                                          EMBER_AGG_SUM);
  ember_ingest_result_t good2 = make_result("app.cpu", T0 + 10, T0 + 20, "x;z 3",
                                            EMBER_AGG_SUM);
  assert_int_equal(ember_store_submit(f->s, &good1, on_done, &a[0], NULL), 0);
  assert_int_equal(ember_store_submit(f->s, &bad, on_done, &a[1], NULL), 0);
  assert_int_equal(ember_store_submit(f->s, &good2, on_done, &a[2], NULL), 0);
  ember_store_test_pause(f->s, false);
  put(f->s, "app.cpu", T0 + 20, T0 + 30, "x;w 1"); /* queued behind: waits for them */
  assert_int_equal(atomic_load(&a[0].rc), 0);
  assert_int_equal(atomic_load(&a[1].rc), EMBER_EINVAL);
  assert_int_equal(atomic_load(&a[2].rc), 0);
  assert_int_equal(atomic_load(&a[1].calls), 1);
  int rc;
  ember_tree_t *t = get_tree(f->s, "app.cpu{}", T0, T0 + 100, &rc);
  assert_int_equal(rc, 0);
  assert_int_equal(ember_tree_total(t, 0), 6);
  assert_int_equal(self_at(t, "x;y", 0), 2);
  assert_int_equal(self_at(t, "x;z", 0), 3);
  assert_int_equal(self_at(t, "x;w", 0), 1);
  assert_true(self_at(t, "x;new;frames", 0) == UINT64_MAX); /* rolled back */
  ember_tree_free(t);
  ember_ingest_result_free(&good1);
  ember_ingest_result_free(&bad);
  ember_ingest_result_free(&good2);
}

static void test_writer_deletes_an_app_and_all_its_data(void **state) {
  fixture_t *f = *state;
  f->s = open_store(f->dir, 0, 0);
  put(f->s, "gone.cpu{host=a}", T0, T0 + 10, "a;b 1");
  put(f->s, "gone.cpu{host=b}", T0 + 10, T0 + 20, "a;c 2");
  put(f->s, "kept.cpu{host=a}", T0, T0 + 10, "k 4");
  ember_err_t err;
  assert_int_equal(ember_store_delete_app(f->s, "gone.cpu", &err), 0);
  assert_int_equal(ember_store_delete_app(f->s, "gone.cpu", &err), EMBER_ENOTFOUND);
  assert_non_null(strstr(err.msg, "gone.cpu"));
  int rc;
  ember_tree_t *t = get_tree(f->s, "gone.cpu{}", T0, T0 + 100, &rc);
  assert_int_equal(rc, EMBER_ENOTFOUND);
  assert_int_equal(ember_tree_total(t, 0), 0);
  ember_tree_free(t);
  assert_int_equal(total_of(f->s, "kept.cpu{}", T0, T0 + 100), 4);
  ember_store_stats_t st;
  ember_store_stats(f->s, &st);
  assert_int_equal(st.rows_deleted, 2);
  ember_app_info_t *apps;
  size_t n;
  assert_int_equal(ember_store_apps(f->s, &apps, &n, NULL), 0);
  assert_int_equal(n, 1);
  assert_string_equal(apps[0].name, "kept.cpu");
  ember_app_info_free(&apps[0]);
  free(apps);
  /* A new app of the same name starts empty, with a fresh dictionary. */
  put(f->s, "gone.cpu", T0, T0 + 10, "fresh;start 7");
  t = get_tree(f->s, "gone.cpu{}", T0, T0 + 100, &rc);
  assert_int_equal(rc, 0);
  assert_int_equal(ember_tree_total(t, 0), 7);
  assert_int_equal(self_at(t, "fresh;start", 0), 7);
  ember_tree_free(t);
}

static void test_writer_counts_every_row_it_writes(void **state) {
  fixture_t *f = *state;
  f->s = open_store(f->dir, 0, 0);
  put(f->s, "app.cpu", T0, T0 + 60, "a 60"); /* six buckets, one span row */
  put(f->s, "app.cpu", T0, T0 + 10, "a 1");
  ember_store_stats_t st;
  ember_store_stats(f->s, &st);
  assert_int_equal(st.rows_written, 2);
  assert_true(st.last_commit_ns > 0);
}

/* The promise behind a 200: a child process writes and reports each
 * acknowledged write on a pipe; it is killed with SIGKILL mid-stream; every
 * write it reported must be in the database afterwards. */
static void child_writes_until_killed(const char *dir, int fd) {
  ember_store_config_t cfg = {.data_dir = dir};
  ember_store_t *s;
  if (ember_store_open(&cfg, &s, NULL) != 0) _exit(2);
  for (int32_t i = 0;; i++) {
    ember_ingest_result_t r = make_result("crash.cpu", T0 + 10 * i, T0 + 10 * i + 10,
                                          "main;work 1", EMBER_AGG_SUM);
    if (ember_store_write(s, &r, NULL) != 0) _exit(3);
    ember_ingest_result_free(&r);
    if (write(fd, &i, sizeof i) != sizeof i) _exit(4);
  }
}

static void test_writer_keeps_every_acknowledged_write_across_kill_9(void **state) {
  fixture_t *f = *state;
  int fds[2];
  assert_int_equal(pipe(fds), 0);
  pid_t pid = fork();
  assert_true(pid >= 0);
  if (pid == 0) {
    close(fds[0]);
    child_writes_until_killed(f->dir, fds[1]);
  }
  close(fds[1]);
  int32_t acked = -1, i;
  while (acked < 30 && read(fds[0], &i, sizeof i) == sizeof i) acked = i;
  kill(pid, SIGKILL);
  int status;
  waitpid(pid, &status, 0);
  assert_true(WIFSIGNALED(status));
  while (read(fds[0], &i, sizeof i) == sizeof i) acked = i; /* drain */
  close(fds[0]);
  f->s = open_store(f->dir, 0, 0);
  uint64_t stored = total_of(f->s, "crash.cpu", T0, T0 + 10 * (acked + 10));
  /* Everything acknowledged is there; at most the one write in flight more. */
  assert_true(stored >= (uint64_t)acked + 1);
  assert_true(stored <= (uint64_t)acked + 2);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_writer_answers_a_write_only_after_it_is_committed, dir_setup, store_teardown),
      cmocka_unit_test_setup_teardown(test_writer_answers_every_concurrent_submit_exactly_once, dir_setup, store_teardown),
      cmocka_unit_test_setup_teardown(test_writer_refuses_with_ebusy_when_the_queue_is_full, dir_setup, store_teardown),
      cmocka_unit_test_setup_teardown(test_writer_close_commits_and_answers_pending_work, dir_setup, store_teardown),
      cmocka_unit_test_setup_teardown(test_writer_refuses_submits_once_shutting_down, dir_setup, store_teardown),
      cmocka_unit_test_setup_teardown(test_writer_fails_a_bad_request_alone_in_its_batch, dir_setup, store_teardown),
      cmocka_unit_test_setup_teardown(test_writer_deletes_an_app_and_all_its_data, dir_setup, store_teardown),
      cmocka_unit_test_setup_teardown(test_writer_counts_every_row_it_writes, dir_setup, store_teardown),
      cmocka_unit_test_setup_teardown(test_writer_keeps_every_acknowledged_write_across_kill_9, dir_setup, store_teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
