/* Tests for src/http/jobs.c: the bounded worker pools. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "http/http_int.h"

typedef struct {
  pthread_mutex_t m;
  pthread_cond_t c;
  bool open;
  atomic_int ran, cancelled;
} gate_t;

static gate_t gate;

static void wait_gate(void *arg) {
  pthread_mutex_lock(&gate.m);
  while (!gate.open) pthread_cond_wait(&gate.c, &gate.m);
  pthread_mutex_unlock(&gate.m);
  atomic_fetch_add(&gate.ran, 1);
}

static void cancel(void *arg) { atomic_fetch_add(&gate.cancelled, 1); }

static void open_gate(void) {
  pthread_mutex_lock(&gate.m);
  gate.open = true;
  pthread_cond_broadcast(&gate.c);
  pthread_mutex_unlock(&gate.m);
}

static int reset(void **state) {
  memset(&gate, 0, sizeof gate);
  pthread_mutex_init(&gate.m, NULL);
  pthread_cond_init(&gate.c, NULL);
  return 0;
}

static void test_a_full_queue_refuses_and_a_stopped_pool_says_so(void **state) {
  jobs_t *j = ember_jobs_start("test-jobs", 1, 2, 0);
  assert_int_equal(ember_jobs_submit(j, wait_gate, NULL), 0); /* runs, blocks */
  size_t running = 0, waiting = 0;
  for (int i = 0; i < 100 && running == 0; i++) {
    ember_jobs_load(j, &running, &waiting);
    struct timespec ts = {0, 10000000};
    nanosleep(&ts, NULL);
  }
  assert_int_equal(running, 1);
  assert_int_equal(ember_jobs_submit(j, wait_gate, NULL), 0);
  assert_int_equal(ember_jobs_submit(j, wait_gate, NULL), 0);
  assert_int_equal(ember_jobs_submit(j, wait_gate, NULL), EMBER_EBUSY);
  ember_jobs_load(j, &running, &waiting);
  assert_int_equal(waiting, 2);
  open_gate();
  ember_jobs_stop(j, NULL); /* no cancel: every queued job runs */
  assert_int_equal(atomic_load(&gate.ran), 3);
}

typedef struct {
  jobs_t *j;
} stopper_t;

static void *stop_it(void *arg) {
  ember_jobs_stop(((stopper_t *)arg)->j, cancel);
  return NULL;
}

static void test_stopping_cancels_what_waits_and_finishes_what_runs(void **state) {
  jobs_t *j = ember_jobs_start("test-jobs", 1, 8, 0);
  assert_int_equal(ember_jobs_submit(j, wait_gate, NULL), 0);
  size_t running = 0, waiting = 0;
  for (int i = 0; i < 100 && running == 0; i++) {
    ember_jobs_load(j, &running, &waiting);
    struct timespec ts = {0, 10000000};
    nanosleep(&ts, NULL);
  }
  for (int i = 0; i < 3; i++) assert_int_equal(ember_jobs_submit(j, wait_gate, NULL), 0);
  stopper_t st = {j};
  pthread_t th;
  pthread_create(&th, NULL, stop_it, &st);
  /* Once stopping, new work is refused as shutting down, not as busy. */
  int rc = 0;
  for (int i = 0; i < 200 && rc == 0; i++) {
    rc = ember_jobs_submit(j, wait_gate, NULL); /* one that races ahead is cancelled */
    struct timespec ts = {0, 5000000};
    nanosleep(&ts, NULL);
  }
  assert_int_equal(rc, EMBER_ESHUTDOWN);
  open_gate();
  pthread_join(th, NULL);
  assert_int_equal(atomic_load(&gate.ran), 1); /* the one running */
  assert_true(atomic_load(&gate.cancelled) >= 3);
}

static void test_response_headers_are_not_limited_in_number(void **state) {
  ember_http_req_t req;
  memset(&req, 0, sizeof req);
  char name[16];
  for (int i = 0; i < 20; i++) {
    snprintf(name, sizeof name, "X-H%d", i);
    ember_http_set_header(&req, name, "v");
  }
  assert_int_equal(req.nresp_headers, 20);
  assert_string_equal(req.resp_headers[19].key, "X-H19");
  ember_http_kv_free(req.resp_headers, req.nresp_headers);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup(test_a_full_queue_refuses_and_a_stopped_pool_says_so, reset),
      cmocka_unit_test_setup(test_stopping_cancels_what_waits_and_finishes_what_runs,
                             reset),
      cmocka_unit_test(test_response_headers_are_not_limited_in_number),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
