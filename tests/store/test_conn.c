/* Tests for src/store/conn.c: reader connections stop a statement once the
 * calling thread's deadline has passed, and say so; the writer's never do. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "store/helpers.h"
#include "store/store_int.h"

/* Enough virtual machine work to take seconds if nothing stops it. */
static const char SQL_LONG[] = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 "
                               "FROM c WHERE x < 200000000) SELECT count(*) FROM c";
static const char SQL_SHORT[] = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 "
                                "FROM c WHERE x < 1000) SELECT count(*) FROM c";

/* Steps sql once on c; returns the step's result and its duration. */
static int run(ember_conn_t *c, const char *sql, double *seconds) {
  sqlite3_stmt *st;
  assert_int_equal(ember_conn_prepare(c, sql, &st, NULL), 0);
  uint64_t t = ember_mono_ns();
  int step = sqlite3_step(st);
  *seconds = (double)(ember_mono_ns() - t) / 1e9;
  sqlite3_reset(st);
  return step;
}

static void test_conn_stops_a_reader_statement_past_the_deadline(void **state) {
  fixture_t *f = *state;
  ember_conn_t *c;
  assert_int_equal(ember_pool_get(f->s, &c, NULL), 0);
  double took;
  /* No deadline: it runs to the end. */
  assert_int_equal(run(c, SQL_SHORT, &took), SQLITE_ROW);
  /* A deadline 50 ms away stops a statement that would run for seconds. */
  ember_deadline_set(ember_mono_ns() + 50 * 1000000ull);
  assert_int_equal(run(c, SQL_LONG, &took), SQLITE_INTERRUPT);
  assert_true(took < 1.0);
  ember_err_t err;
  assert_int_equal(ember_conn_fail(c, &err, "counting"), EMBER_ETIMEOUT);
  assert_non_null(strstr(err.msg, "deadline"));
  assert_non_null(strstr(err.msg, "while counting"));
  /* One already passed stops it at once. */
  ember_deadline_set(ember_mono_ns() - 1);
  assert_int_equal(run(c, SQL_LONG, &took), SQLITE_INTERRUPT);
  assert_true(took < 0.5);
  ember_deadline_set(0);
  assert_int_equal(run(c, SQL_SHORT, &took), SQLITE_ROW);
  ember_pool_put(f->s, c);
}

static void test_conn_never_stops_the_writer_connection(void **state) {
  fixture_t *f = *state;
  char path[600];
  snprintf(path, sizeof path, "%s/ember.db", f->dir);
  ember_conn_t *w;
  assert_int_equal(ember_conn_open(path, true, &w, NULL), 0);
  ember_deadline_set(ember_mono_ns() - 1);
  double took;
  static const char sql[] = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 "
                            "FROM c WHERE x < 300000) SELECT count(*) FROM c";
  assert_int_equal(run(w, sql, &took), SQLITE_ROW);
  ember_deadline_set(0);
  ember_conn_close(w);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(
          test_conn_stops_a_reader_statement_past_the_deadline, store_setup,
          store_teardown),
      cmocka_unit_test_setup_teardown(test_conn_never_stops_the_writer_connection,
                                      store_setup, store_teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
