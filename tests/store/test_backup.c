/* Tests for src/store/backup.c: a copy of an open store is the snapshot of
 * its start whatever is written meanwhile, is paced, can be cancelled
 * without a trace, and restores to the same data; restore refuses what
 * would lose or damage data. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "store/helpers.h"
#include "store/store_int.h"

#define T0 4000000000

/* Pushes with stacks of their own, so the file grows by about 100 KB each:
 * enough of them make a copy take many steps. */
static void fill(ember_store_t *s, const char *app, int pushes) {
  size_t cap = 2000 * 48;
  char *folded = malloc(cap);
  for (int i = 0; i < pushes; i++) {
    size_t n = 0;
    for (int k = 0; k < 2000; k++)
      n += (size_t)snprintf(folded + n, cap - n, "main;fn_%d_%d;leaf_%d %d\n", i, k,
                            k % 9, 1 + k % 5);
    put(s, app, T0 + i * 10, T0 + i * 10 + 10, folded);
  }
  free(folded);
}

static char *path_in(const char *dir, const char *name) {
  char p[600];
  snprintf(p, sizeof p, "%s/%s", dir, name);
  return strdup(p);
}

/* Opens a store on a new directory restored from file; the caller closes
 * it and removes *dir. */
static ember_store_t *restored(const char *file, char **dir) {
  *dir = temp_dir();
  ember_err_t err = {0};
  int rc = ember_store_restore(*dir, file, false, NULL, NULL, &err);
  if (rc != 0) fail_msg("restore: %s", err.msg);
  return open_store(*dir, 0, 0);
}

/* ---- Backup ---------------------------------------------------------- */

static void test_a_backup_of_an_open_store_restores_to_the_same_data(void **state) {
  fixture_t *f = *state;
  put(f->s, "a.cpu{pod=x}", T0, T0 + 10, "main;work 7\nmain;idle 1");
  put(f->s, "a.cpu{pod=y}", T0 + 10, T0 + 20, "main;work 5");
  put(f->s, "b.alloc", T0, T0 + 30, "main;grow 40");
  char *file = path_in(f->dir, "copy.db");
  ember_store_copy_info_t info = {0};
  ember_err_t err = {0};
  assert_int_equal(ember_store_backup(f->dir, file, NULL, &info, &err), 0);
  assert_int_equal(info.apps, 2);
  assert_int_equal(info.schema_version, EMBER_SCHEMA_VERSION);
  struct stat st;
  assert_int_equal(stat(file, &st), 0);
  assert_int_equal((uint64_t)st.st_size, info.bytes);

  char *dir2;
  ember_store_t *s2 = restored(file, &dir2);
  assert_int_equal(total_of(s2, "a.cpu{}", T0, T0 + 100), 13);
  assert_int_equal(total_of(s2, "a.cpu{pod=\"y\"}", T0, T0 + 100), 5);
  assert_int_equal(total_of(s2, "b.alloc{}", T0, T0 + 100), 40);
  /* The restored store takes writes, and the original went on as before. */
  put(s2, "a.cpu{pod=x}", T0 + 50, T0 + 60, "main;later 2");
  assert_int_equal(total_of(s2, "a.cpu{}", T0, T0 + 100), 15);
  put(f->s, "a.cpu{pod=x}", T0 + 50, T0 + 60, "main;later 3");
  assert_int_equal(total_of(f->s, "a.cpu{}", T0, T0 + 100), 16);
  ember_store_close(s2);
  rm_tree(dir2);
  free(dir2);
  free(file);
}

typedef struct {
  ember_store_t *s;
  int calls;
  uint64_t last_done;
  bool went_back; /* done did not grow: the copy started over */
} writer_ctx_t;

/* Writes a push between every two steps of the copy. */
static bool write_between_steps(void *ctx, uint64_t done, uint64_t total) {
  writer_ctx_t *w = ctx;
  if (w->calls && done <= w->last_done) { /* every step copies pages */
    w->went_back = true;
    return false; /* it would start over forever */
  }
  w->last_done = done;
  if (done < total)
    put(w->s, "live.cpu", T0 + 10 * w->calls, T0 + 10 * w->calls + 10, "main;during 1");
  w->calls++;
  return true;
}

/* Without one read transaction over the whole copy, SQLite starts a
 * stepped backup over whenever another connection commits, so under
 * steady writes it would copy forever, or copy a later state. */
static void test_a_backup_is_the_snapshot_of_its_start_while_writes_go_on(void **state) {
  fixture_t *f = *state;
  fill(f->s, "big.cpu", 40);
  put(f->s, "live.cpu", T0 - 10, T0, "main;before 1");
  char *file = path_in(f->dir, "copy.db");
  writer_ctx_t w = {.s = f->s};
  ember_store_copy_opts_t opts = {.progress = write_between_steps, .ctx = &w};
  ember_store_copy_info_t info;
  ember_err_t err = {0};
  int rc = ember_store_backup(f->dir, file, &opts, &info, &err);
  if (w.went_back) fail_msg("the copy started over after a write");
  assert_int_equal(rc, 0);
  if (w.calls < 3) fail_msg("the copy took %d steps; it needs more data", w.calls);
  char *dir2;
  ember_store_t *s2 = restored(file, &dir2);
  /* What was there before, and none of the pushes written during the copy. */
  assert_int_equal(total_of(s2, "live.cpu{}", T0 - 10, T0 + 100000), 1);
  assert_int_equal(total_of(f->s, "live.cpu{}", T0 - 10, T0 + 100000), w.calls);
  ember_store_close(s2);
  rm_tree(dir2);
  free(dir2);
  free(file);
}

static bool cancel_at_once(void *ctx, uint64_t done, uint64_t total) {
  return false;
}

static void test_a_cancelled_copy_leaves_nothing_behind(void **state) {
  fixture_t *f = *state;
  fill(f->s, "big.cpu", 20);
  char *file = path_in(f->dir, "copy.db");
  ember_store_copy_opts_t opts = {.progress = cancel_at_once};
  ember_err_t err = {0};
  assert_int_equal(ember_store_backup(f->dir, file, &opts, NULL, &err), EMBER_ESHUTDOWN);
  assert_non_null(strstr(err.msg, "was not written"));
  DIR *d = opendir(f->dir);
  struct dirent *e;
  while ((e = readdir(d)))
    if (!strncmp(e->d_name, "copy.db", 7)) fail_msg("%s was left behind", e->d_name);
  closedir(d);
  free(file);
}

static void test_max_rate_paces_the_copy(void **state) {
  fixture_t *f = *state;
  fill(f->s, "big.cpu", 40);
  char *file = path_in(f->dir, "copy.db");
  ember_store_copy_info_t info;
  ember_err_t err = {0};
  assert_int_equal(ember_store_backup(f->dir, file, NULL, &info, &err), 0);
  assert_true(info.bytes > (3u << 20));
  /* At the size per second, the copy takes about a second: the last step
   * is not waited for. */
  ember_store_copy_opts_t opts = {.max_rate = info.bytes};
  uint64_t start = ember_mono_ns();
  assert_int_equal(ember_store_backup(f->dir, file, &opts, &info, &err), 0);
  double took = (double)(ember_mono_ns() - start) / 1e9;
  if (took < 0.6 || took > 10) fail_msg("a copy paced to one second took %.2f s", took);
  free(file);
}

static void
test_backup_refuses_the_stores_own_files_and_a_missing_database(void **state) {
  fixture_t *f = *state;
  put(f->s, "a.cpu", T0, T0 + 10, "main 1");
  ember_err_t err = {0};
  const char *own[] = {"ember.db", "ember.db-wal", "ember.db-shm", "ember.lock"};
  for (size_t i = 0; i < 4; i++) {
    char *p = path_in(f->dir, own[i]);
    assert_int_equal(ember_store_backup(f->dir, p, NULL, NULL, &err), EMBER_EINVAL);
    assert_non_null(strstr(err.msg, "will not write the backup over"));
    free(p);
  }
  char *empty = temp_dir(), *file = path_in(empty, "copy.db");
  assert_int_equal(ember_store_backup(empty, file, NULL, NULL, &err), EMBER_ENOTFOUND);
  assert_non_null(strstr(err.msg, "no database in"));
  struct stat st;
  assert_int_equal(stat(file, &st), -1);
  rm_tree(empty);
  free(empty);
  free(file);
  /* None of it disturbed the store. */
  put(f->s, "a.cpu", T0 + 10, T0 + 20, "main 2");
  assert_int_equal(total_of(f->s, "a.cpu{}", T0, T0 + 100), 3);
}

/* ---- Restore --------------------------------------------------------- */

static void set_user_version(const char *file, int v) {
  sqlite3 *db;
  char sql[64];
  snprintf(sql, sizeof sql, "PRAGMA user_version=%d", v);
  assert_int_equal(sqlite3_open(file, &db), SQLITE_OK);
  assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
  sqlite3_close(db);
}

static void
test_restore_refuses_an_open_store_a_newer_schema_and_a_full_directory(void **state) {
  fixture_t *f = *state;
  put(f->s, "a.cpu", T0, T0 + 10, "main 1");
  char *file = path_in(f->dir, "copy.db"), *newer = path_in(f->dir, "newer.db");
  ember_err_t err = {0};
  assert_int_equal(ember_store_backup(f->dir, file, NULL, NULL, &err), 0);
  assert_int_equal(ember_store_backup(f->dir, newer, NULL, NULL, &err), 0);
  set_user_version(newer, 99);

  /* The store holds its directory. */
  assert_int_equal(ember_store_restore(f->dir, file, true, NULL, NULL, &err),
                   EMBER_EBUSY);
  assert_non_null(strstr(err.msg, "in use by another ember process"));

  char *dir2 = temp_dir(), *db2 = path_in(dir2, "ember.db");
  assert_int_equal(ember_store_restore(dir2, newer, false, NULL, NULL, &err),
                   EMBER_EINVAL);
  assert_non_null(strstr(err.msg, "schema version 99"));
  struct stat st;
  assert_int_equal(stat(db2, &st), -1);

  assert_int_equal(ember_store_restore(dir2, file, false, NULL, NULL, &err), 0);
  assert_int_equal(ember_store_restore(dir2, file, false, NULL, NULL, &err),
                   EMBER_EINVAL);
  assert_non_null(strstr(err.msg, "--force"));
  assert_int_equal(ember_store_restore(dir2, db2, true, NULL, NULL, &err), EMBER_EINVAL);
  assert_non_null(strstr(err.msg, "is the database of"));
  /* Replacing: a stale WAL of the old database must not survive it. */
  char *wal = path_in(dir2, "ember.db-wal");
  FILE *w = fopen(wal, "w");
  fputs("stale", w);
  fclose(w);
  assert_int_equal(ember_store_restore(dir2, file, true, NULL, NULL, &err), 0);
  assert_int_equal(stat(wal, &st), -1);
  ember_store_t *s2 = open_store(dir2, 0, 0);
  assert_int_equal(total_of(s2, "a.cpu{}", T0, T0 + 100), 1);
  ember_store_close(s2);
  rm_tree(dir2);
  free(dir2);
  free(db2);
  free(wal);
  free(file);
  free(newer);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(
          test_a_backup_of_an_open_store_restores_to_the_same_data, store_setup,
          store_teardown),
      cmocka_unit_test_setup_teardown(
          test_a_backup_is_the_snapshot_of_its_start_while_writes_go_on, store_setup,
          store_teardown),
      cmocka_unit_test_setup_teardown(test_a_cancelled_copy_leaves_nothing_behind,
                                      store_setup, store_teardown),
      cmocka_unit_test_setup_teardown(test_max_rate_paces_the_copy, store_setup,
                                      store_teardown),
      cmocka_unit_test_setup_teardown(
          test_backup_refuses_the_stores_own_files_and_a_missing_database, store_setup,
          store_teardown),
      cmocka_unit_test_setup_teardown(
          test_restore_refuses_an_open_store_a_newer_schema_and_a_full_directory,
          store_setup, store_teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
