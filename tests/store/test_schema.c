/* Tests for src/store/schema.c (and the PRAGMAs of conn.c): the data
 * directory, the schema version, refusing what cannot be used. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <sqlite3.h>
#include <sys/wait.h>

#include "store/helpers.h"
#include "store/store_int.h"

static int64_t query_int(const char *db_path, const char *sql) {
  sqlite3 *db;
  sqlite3_stmt *st;
  assert_int_equal(sqlite3_open(db_path, &db), SQLITE_OK);
  assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
  assert_int_equal(sqlite3_step(st), SQLITE_ROW);
  int64_t v = sqlite3_column_int64(st, 0);
  sqlite3_finalize(st);
  sqlite3_close(db);
  return v;
}

static void test_schema_creates_nested_data_directories(void **state) {
  char *base = temp_dir();
  char dir[600], db[700];
  snprintf(dir, sizeof dir, "%s/a/b/c", base);
  ember_store_t *s = open_store(dir, 0, 0);
  ember_store_close(s);
  snprintf(db, sizeof db, "%s/ember.db", dir);
  assert_int_equal(query_int(db, "PRAGMA user_version"), EMBER_SCHEMA_VERSION);
  assert_int_equal(query_int(db, "SELECT COUNT(*) FROM sqlite_master WHERE name IN "
                                 "('apps','series','series_labels','frames','stacks',"
                                 "'segments','rollup_todo')"),
                   7);
  rm_tree(dir);
  snprintf(dir, sizeof dir, "%s/a/b", base);
  rmdir(dir);
  snprintf(dir, sizeof dir, "%s/a", base);
  rmdir(dir);
  rm_tree(base);
  free(base);
}

static void test_schema_uses_wal_so_readers_never_block_the_writer(void **state) {
  char *dir = temp_dir();
  ember_store_t *s = open_store(dir, 0, 0);
  char db[600];
  snprintf(db, sizeof db, "%s/ember.db", dir);
  sqlite3 *h;
  sqlite3_stmt *st;
  assert_int_equal(sqlite3_open(db, &h), SQLITE_OK);
  assert_int_equal(sqlite3_prepare_v2(h, "PRAGMA journal_mode", -1, &st, NULL), SQLITE_OK);
  assert_int_equal(sqlite3_step(st), SQLITE_ROW);
  assert_string_equal((const char *)sqlite3_column_text(st, 0), "wal");
  sqlite3_finalize(st);
  sqlite3_close(h);
  /* synchronous=FULL (2) is what makes a commit durable. */
  sqlite3 *w = s->wconn->db;
  assert_int_equal(sqlite3_prepare_v2(w, "PRAGMA synchronous", -1, &st, NULL), SQLITE_OK);
  assert_int_equal(sqlite3_step(st), SQLITE_ROW);
  assert_int_equal(sqlite3_column_int(st, 0), 2);
  sqlite3_finalize(st);
  ember_store_close(s);
  rm_tree(dir);
  free(dir);
}

static void test_schema_refuses_a_data_path_that_is_a_file(void **state) {
  char *dir = temp_dir();
  char file[600];
  snprintf(file, sizeof file, "%s/plain", dir);
  FILE *fp = fopen(file, "w");
  assert_non_null(fp);
  fclose(fp);
  ember_store_config_t cfg = {.data_dir = file};
  ember_store_t *s = (ember_store_t *)0x1;
  ember_err_t err;
  assert_int_equal(ember_store_open(&cfg, &s, &err), EMBER_EIO);
  assert_ptr_equal(s, (ember_store_t *)0x1); /* untouched on failure */
  assert_non_null(strstr(err.msg, "cannot create data directory"));
  assert_non_null(strstr(err.msg, "--data"));
  /* A file in the middle of the path fails at mkdir. */
  char deeper[700];
  snprintf(deeper, sizeof deeper, "%s/sub", file);
  cfg.data_dir = deeper;
  assert_int_equal(ember_store_open(&cfg, &s, &err), EMBER_EIO);
  assert_non_null(strstr(err.msg, "Not a directory"));
  rm_tree(dir);
  free(dir);
}

static void test_schema_refuses_an_unwritable_directory(void **state) {
  if (geteuid() == 0) skip(); /* root writes anywhere */
  char *dir = temp_dir();
  chmod(dir, 0500);
  ember_store_config_t cfg = {.data_dir = dir};
  ember_store_t *s = NULL;
  ember_err_t err;
  assert_int_equal(ember_store_open(&cfg, &s, &err), EMBER_EIO);
  assert_non_null(strstr(err.msg, "not writable"));
  chmod(dir, 0700);
  rm_tree(dir);
  free(dir);
}

static void test_schema_refuses_a_database_from_a_newer_version(void **state) {
  char *dir = temp_dir();
  ember_store_close(open_store(dir, 0, 0));
  char db[600];
  snprintf(db, sizeof db, "%s/ember.db", dir);
  sqlite3 *h;
  assert_int_equal(sqlite3_open(db, &h), SQLITE_OK);
  assert_int_equal(sqlite3_exec(h, "PRAGMA user_version=99", NULL, NULL, NULL), SQLITE_OK);
  sqlite3_close(h);
  ember_store_config_t cfg = {.data_dir = dir};
  ember_store_t *s = NULL;
  ember_err_t err;
  assert_int_equal(ember_store_open(&cfg, &s, &err), EMBER_EIO);
  assert_non_null(strstr(err.msg, "schema version 99"));
  assert_null(s);
  rm_tree(dir);
  free(dir);
}

static void test_schema_reopens_an_existing_database_without_migrating(void **state) {
  char *dir = temp_dir();
  ember_store_t *s = open_store(dir, 0, 0);
  put(s, "app.cpu", 4000000000, 4000000010, "a 1");
  ember_store_close(s);
  s = open_store(dir, 0, 0);
  assert_int_equal(total_of(s, "app.cpu", 4000000000, 4000000010), 1);
  ember_store_close(s);
  rm_tree(dir);
  free(dir);
}

/* What version 4 added, taken away again: a version 3 file. */
#define UNDO_V4                                                                          \
  "DROP TABLE app_backfill; DROP TABLE app_rollup_todo; DROP TABLE app_segments;"        \
  "PRAGMA user_version=3;"

/* What versions 3 and 4 added, taken away again: a version 2 file. */
#define UNDO_V3                                                                          \
  UNDO_V4 "DROP VIEW apps; DROP TABLE probe; ALTER TABLE app_rows DROP COLUMN deleting;" \
          "ALTER TABLE app_rows RENAME TO apps; PRAGMA user_version=2;"

/* Version 4 adds app rollups: a version 3 file opens without reading its
 * data and answers as before; the maintenance thread then lists the app
 * periods of the rollups version 3 built, and builds them. */
static void test_schema_migrates_a_version_3_database_to_app_rollups(void **state) {
  char *dir = temp_dir();
  ember_store_t *s = open_store(dir, 0, 0);
  for (int64_t t = 4000000000; t < 4000003000; t += 10) {
    put(s, "one.cpu{pod=a}", t, t + 10, "a;b 1");
    put(s, "one.cpu{pod=b}", t, t + 10, "a;c 2");
  }
  assert_int_equal(ember_maint_pass(s, 4000100000, NULL), 0);
  ember_store_close(s);
  char db[600];
  snprintf(db, sizeof db, "%s/ember.db", dir);
  sqlite3 *h;
  assert_int_equal(sqlite3_open(db, &h), SQLITE_OK);
  assert_int_equal(sqlite3_exec(h, UNDO_V4, NULL, NULL, NULL), SQLITE_OK);
  sqlite3_close(h);
  assert_true(query_int(db, "SELECT COUNT(*) FROM segments WHERE level=2") > 0);
  s = open_store(dir, 0, 0);
  assert_int_equal(query_int(db, "PRAGMA user_version"), EMBER_SCHEMA_VERSION);
  assert_int_equal(query_int(db, "SELECT COUNT(*) FROM app_segments"), 0);
  assert_int_equal(total_of(s, "one.cpu{}", 4000000000, 4000003000), 900);
  assert_int_equal(ember_maint_pass(s, 4000100000, NULL), 0);
  /* Every period with a rollup of a series now has the app's. */
  assert_int_equal(query_int(db, "SELECT COUNT(*) FROM app_segments"),
                   query_int(db, "SELECT COUNT(DISTINCT level || ' ' || start) FROM "
                                 "segments WHERE level>0"));
  assert_int_equal(query_int(db, "SELECT COUNT(*) FROM app_backfill"), 0);
  assert_int_equal(total_of(s, "one.cpu{}", 4000000000, 4000003000), 900);
  ember_store_close(s);
  rm_tree(dir);
  free(dir);
}

/* Version 3 moves the apps to app_rows behind the view apps: every app, its
 * data and its dictionary must come through, and the foreign keys must
 * follow, or deleting an app would break. */
static void test_schema_migrates_a_version_2_database_keeping_every_app(void **state) {
  char *dir = temp_dir();
  ember_store_t *s = open_store(dir, 0, 0);
  put(s, "one.cpu{pod=a}", 4000000000, 4000000010, "a;b 1");
  put(s, "two.cpu", 4000000000, 4000000010, "c 2");
  ember_store_close(s);
  char db[600];
  snprintf(db, sizeof db, "%s/ember.db", dir);
  sqlite3 *h;
  assert_int_equal(sqlite3_open(db, &h), SQLITE_OK);
  assert_int_equal(sqlite3_exec(h, UNDO_V3, NULL, NULL, NULL), SQLITE_OK);
  sqlite3_close(h);
  assert_int_equal(query_int(db, "SELECT COUNT(*) FROM sqlite_master WHERE "
                                 "sql LIKE '%app_rows%'"),
                   0);
  s = open_store(dir, 0, 0);
  assert_int_equal(query_int(db, "PRAGMA user_version"), EMBER_SCHEMA_VERSION);
  assert_int_equal(query_int(db, "SELECT COUNT(*) FROM apps"), 2);
  /* The dictionary and series tables now point at app_rows. */
  assert_int_equal(query_int(db, "SELECT COUNT(*) FROM sqlite_master WHERE name IN "
                                 "('series','frames','stacks') AND "
                                 "sql LIKE '%REFERENCES \"app_rows\"%'"),
                   3);
  assert_int_equal(total_of(s, "one.cpu{}", 4000000000, 4000000010), 1);
  assert_int_equal(ember_store_delete_app(s, "one.cpu", NULL), 0);
  put(s, "three.cpu", 4000000000, 4000000010, "d 3");
  assert_int_equal(total_of(s, "two.cpu", 4000000000, 4000000010), 2);
  assert_int_equal(total_of(s, "three.cpu", 4000000000, 4000000010), 3);
  ember_store_close(s);
  assert_int_equal(query_int(db, "SELECT COUNT(*) FROM app_rows"), 2);
  assert_int_equal(query_int(db, "SELECT COUNT(*) FROM pragma_foreign_key_check"), 0);
  rm_tree(dir);
  free(dir);
}

static void test_schema_migrates_a_version_1_database_to_span_rows(void **state) {
  char *dir = temp_dir();
  ember_store_t *s = open_store(dir, 0, 0);
  put(s, "app.cpu", 4000000000, 4000000010, "a 1");
  ember_store_close(s);
  /* Take the file back to what version 1 created. */
  char db[600];
  snprintf(db, sizeof db, "%s/ember.db", dir);
  sqlite3 *h;
  assert_int_equal(sqlite3_open(db, &h), SQLITE_OK);
  assert_int_equal(sqlite3_exec(h, UNDO_V3, NULL, NULL, NULL), SQLITE_OK);
  assert_int_equal(sqlite3_exec(h,
                                "DROP INDEX segments_spans;"
                                "ALTER TABLE segments DROP COLUMN span_start;"
                                "PRAGMA user_version=1",
                                NULL, NULL, NULL),
                   SQLITE_OK);
  sqlite3_close(h);
  s = open_store(dir, 0, 0);
  assert_int_equal(query_int(db, "PRAGMA user_version"), EMBER_SCHEMA_VERSION);
  assert_int_equal(query_int(db, "SELECT COUNT(*) FROM sqlite_master WHERE "
                                 "name='segments_spans'"),
                   1);
  /* Old rows read as before, and a long push is stored as one span row. */
  assert_int_equal(total_of(s, "app.cpu", 4000000000, 4000000009), 1);
  put(s, "app.cpu", 4000000100, 4000000400, "b 30");
  assert_int_equal(total_of(s, "app.cpu", 4000000000, 4000000400), 31);
  assert_int_equal(total_of(s, "app.cpu", 4000000100, 4000000109), 1);
  ember_store_close(s);
  assert_int_equal(query_int(db, "SELECT COUNT(*) FROM segments WHERE seq < 0 AND "
                                 "span_start = 4000000100"),
                   1);
  rm_tree(dir);
  free(dir);
}

/* Two servers on one directory would hand out the same dictionary ids:
 * the second must be refused at open, told who holds the directory. */
static void test_schema_refuses_a_directory_another_process_holds(void **state) {
  char *dir = temp_dir();
  int ready[2], quit[2];
  assert_int_equal(pipe(ready), 0);
  assert_int_equal(pipe(quit), 0);
  pid_t pid = fork();
  assert_true(pid >= 0);
  if (pid == 0) {
    close(quit[1]); /* or the read below would never see end of file */
    ember_store_config_t cfg = {.data_dir = dir};
    ember_store_t *s;
    if (ember_store_open(&cfg, &s, NULL) != 0) _exit(2);
    char c = 'r';
    if (write(ready[1], &c, 1) != 1) _exit(3);
    if (read(quit[0], &c, 1) < 0) _exit(4); /* until the parent says so */
    ember_store_close(s);
    _exit(0);
  }
  char c;
  assert_int_equal(read(ready[0], &c, 1), 1);
  ember_store_config_t cfg = {.data_dir = dir};
  ember_store_t *s = NULL;
  ember_err_t err;
  assert_int_equal(ember_store_open(&cfg, &s, &err), EMBER_EBUSY);
  assert_null(s);
  char who[64];
  snprintf(who, sizeof who, "in use by another ember process (pid %ld)", (long)pid);
  if (!strstr(err.msg, who)) fail_msg("unexpected message: %s", err.msg);
  assert_non_null(strstr(err.msg, "--data"));
  /* Once the holder is gone, the directory is free again. */
  close(quit[1]);
  int status;
  assert_int_equal(waitpid(pid, &status, 0), pid);
  assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  s = open_store(dir, 0, 0);
  ember_store_close(s);
  close(ready[0]);
  close(ready[1]);
  close(quit[0]);
  rm_tree(dir);
  free(dir);
}

static void test_schema_refuses_a_second_open_in_the_same_process(void **state) {
  char *dir = temp_dir();
  ember_store_t *s = open_store(dir, 0, 0);
  ember_store_config_t cfg = {.data_dir = dir};
  ember_store_t *again = NULL;
  ember_err_t err;
  assert_int_equal(ember_store_open(&cfg, &again, &err), EMBER_EBUSY);
  char who[64];
  snprintf(who, sizeof who, "(pid %ld)", (long)getpid());
  assert_non_null(strstr(err.msg, who));
  ember_store_close(s);
  rm_tree(dir);
  free(dir);
}

static void test_schema_rejects_a_negative_retention(void **state) {
  ember_store_config_t cfg = {
      .data_dir = "/nonexistent-never-created", .retention_seconds = -5, .queue_max = 0};
  ember_store_t *s = NULL;
  ember_err_t err;
  assert_int_equal(ember_store_open(&cfg, &s, &err), EMBER_EINVAL);
  assert_non_null(strstr(err.msg, "retention"));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_schema_creates_nested_data_directories),
      cmocka_unit_test(test_schema_uses_wal_so_readers_never_block_the_writer),
      cmocka_unit_test(test_schema_refuses_a_data_path_that_is_a_file),
      cmocka_unit_test(test_schema_refuses_an_unwritable_directory),
      cmocka_unit_test(test_schema_refuses_a_database_from_a_newer_version),
      cmocka_unit_test(test_schema_reopens_an_existing_database_without_migrating),
      cmocka_unit_test(test_schema_migrates_a_version_1_database_to_span_rows),
      cmocka_unit_test(test_schema_migrates_a_version_2_database_keeping_every_app),
      cmocka_unit_test(test_schema_migrates_a_version_3_database_to_app_rollups),
      cmocka_unit_test(test_schema_refuses_a_directory_another_process_holds),
      cmocka_unit_test(test_schema_refuses_a_second_open_in_the_same_process),
      cmocka_unit_test(test_schema_rejects_a_negative_retention),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
