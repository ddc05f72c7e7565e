/* Integration: what the store's reads promise, through the real binary: a
 * push shows at once in a render whose until is the second it landed in,
 * and a push over an hour costs the disk what a 10 s push of the same tree
 * costs, while renders of any part of the hour still get their share. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "harness.h"

/* A whole hour, in the past, aligned to every rollup width below 10000 s. */
#define T0 1700000000L

static it_server_t srv;

static int setup(void **state) {
  memset(&srv, 0, sizeof srv);
  it_start(&srv, NULL);
  return 0;
}

static int teardown(void **state) {
  assert_int_equal(it_stop(&srv), 0);
  it_cleanup(&srv);
  return 0;
}

static void test_reads_show_a_push_in_a_render_of_the_second_it_landed_in(void **state) {
  /* An agent pushing with from = now on a whole 10 s mark (and until =
   * now), then a render with until = now within the same second: the
   * bucket that holds until is the push's. */
  long now = (long)time(NULL) / 10 * 10;
  assert_int_equal(it_ingest(&srv, "fresh.cpu{}", now, now, "main;work 5\n"), 200);
  json_t *j = it_render(&srv, "fresh.cpu{}", now - 3600, now, NULL);
  assert_int_equal(it_ticks(j), 5);
  json_decref(j);
  /* And a push of [now - 10, now) is in the bucket before: both count. */
  assert_int_equal(it_ingest(&srv, "fresh.cpu{}", now - 10, now, "main;work 2\n"), 200);
  j = it_render(&srv, "fresh.cpu{}", now - 3600, now, NULL);
  assert_int_equal(it_ticks(j), 7);
  json_decref(j);
}

/* Bytes of the regular files in dir. */
static long long dir_bytes(const char *dir) {
  DIR *d = opendir(dir);
  assert_non_null(d);
  long long n = 0;
  struct dirent *e;
  while ((e = readdir(d)) != NULL) {
    char p[600];
    struct stat st;
    snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
    if (stat(p, &st) == 0 && S_ISREG(st.st_mode)) n += st.st_size;
  }
  closedir(d);
  return n;
}

/* 3,000 stacks; stack i has 3600 * k(i) samples, so every 10 s bucket of
 * an hour gets 10 * k(i) of it. */
static long k(int i) {
  return 1 + (long)i * 7919 % 1000;
}

static char *big_body(void) {
  size_t cap = 3000 * 48, len = 0;
  char *b = malloc(cap);
  for (int i = 0; i < 3000; i++)
    len += (size_t)snprintf(b + len, cap - len, "main;mod%d;fn%d %ld\n", i % 41, i,
                            3600 * k(i));
  return b;
}

/* Restarts the server on a new, empty data directory. */
static void restart_empty(void) {
  assert_int_equal(it_stop(&srv), 0);
  it_cleanup(&srv);
  memset(&srv, 0, sizeof srv);
  it_start(&srv, NULL);
}

/* On an empty store, pushes the body once over [T0, T0 + span), checks a
 * render of the part [from, until] and returns the bytes on disk after a
 * clean stop. */
static long long push_and_measure(long span, long from, long until, long want) {
  restart_empty();
  char *body = big_body();
  assert_int_equal(it_ingest(&srv, "big.cpu{}", T0, T0 + span, body), 200);
  free(body);
  json_t *j = it_render(&srv, "big.cpu{}", from, until, "maxNodes=10");
  assert_int_equal(it_ticks(j), want);
  json_decref(j);
  assert_int_equal(it_stop(&srv), 0);
  long long n = dir_bytes(srv.data_dir);
  it_start(&srv, NULL); /* again on the same directory, for what follows */
  return n;
}

static void test_reads_store_an_hour_long_push_in_the_space_of_a_short_one(void **state) {
  long sum = 0;
  for (int i = 0; i < 3000; i++)
    sum += k(i);
  long long ten_s = push_and_measure(10, T0, T0 + 9, 3600 * sum);
  /* The buckets from T0 + 600 to T0 + 1190: 60 buckets of 10 * k(i). */
  long long hour = push_and_measure(3600, T0 + 600, T0 + 1199, 600 * sum);
  fprintf(stderr, "3,000 stacks pushed once: %lld bytes over 10 s, %lld over 1 h\n",
          ten_s, hour);
  assert_true(hour <= ten_s + ten_s / 4);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(
          test_reads_show_a_push_in_a_render_of_the_second_it_landed_in, setup, teardown),
      cmocka_unit_test_setup_teardown(
          test_reads_store_an_hour_long_push_in_the_space_of_a_short_one, setup,
          teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
