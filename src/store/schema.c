/*
 * schema.c - the data directory and the tables in it.
 *
 * The schema version lives in PRAGMA user_version. Opening runs every
 * migration from the file's version up to EMBER_SCHEMA_VERSION, each in its
 * own transaction together with the version bump, so a crash mid-upgrade
 * leaves the file at a whole version. A file from a newer Ember is refused
 * rather than guessed at. docs/storage.md explains every table.
 */
#include "store/store_int.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- Data directory ---------------------------------------------------- */

static int dir_error(const char *dir, const char *why, int e, ember_err_t *err) {
  return ember_err_set(err, EMBER_EIO,
                       "cannot create data directory %s: %s%s%s%s; pass --data to "
                       "choose another",
                       dir, e == ENOSPC ? "disk full: " : "", why, e ? ": " : "",
                       e ? strerror(e) : "");
}

int ember_schema_prepare_dir(const char *dir, ember_err_t *err) {
  if (!dir || !*dir) return dir_error("(empty)", "no path given", 0, err);
  size_t n = strlen(dir);
  if (n >= 4096) return dir_error(dir, "path too long", 0, err);
  char path[4096];
  memcpy(path, dir, n + 1);
  /* mkdir -p: create each prefix in turn, tolerating those that exist. */
  for (size_t i = 1; i <= n; i++) {
    if (path[i] != '/' && path[i] != '\0') continue;
    char saved = path[i];
    path[i] = '\0';
    if (mkdir(path, 0755) != 0 && errno != EEXIST) {
      int e = errno;
      path[i] = saved;
      return dir_error(dir, "mkdir failed", e, err);
    }
    path[i] = saved;
  }
  struct stat st;
  if (stat(dir, &st) != 0) return dir_error(dir, "cannot stat it", errno, err);
  if (!S_ISDIR(st.st_mode)) return dir_error(dir, "it exists and is not a directory", 0, err);
  if (access(dir, W_OK | X_OK) != 0)
    return ember_err_set(err, EMBER_EIO,
                         "data directory %s is not writable: %s; make it writable "
                         "by the user running ember, or pass --data to choose "
                         "another",
                         dir, strerror(errno));
  return 0;
}

int ember_schema_check_files(const char *dir, ember_err_t *err) {
  static const char *const names[] = {EMBER_STORE_DB_NAME, EMBER_STORE_DB_NAME "-wal",
                                      EMBER_STORE_DB_NAME "-shm"};
  char path[4096 + 16];
  for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
    snprintf(path, sizeof path, "%s/%s", dir, names[i]);
    if (access(path, F_OK) != 0 || access(path, R_OK | W_OK) == 0) continue;
    return ember_err_set(err, EMBER_EIO,
                         "the database file %s cannot be written: %s; make it "
                         "writable by the user running ember, or pass --data to "
                         "choose another directory",
                         path, strerror(errno));
  }
  return 0;
}

/* ---- Owning the directory ---------------------------------------------- */

/* The pid written in the lock file, or -1 when it cannot be read (the
 * owner may not have written it yet). */
static long lock_owner(int fd) {
  char buf[32];
  ssize_t n = pread(fd, buf, sizeof buf - 1, 0);
  if (n <= 0) return -1;
  buf[n] = '\0';
  char *end;
  long pid = strtol(buf, &end, 10);
  return end != buf && pid > 0 ? pid : -1;
}

int ember_schema_lock_dir(const char *dir, int *out, ember_err_t *err) {
  char path[4096 + sizeof "/" EMBER_STORE_LOCK_NAME];
  snprintf(path, sizeof path, "%s/%s", dir, EMBER_STORE_LOCK_NAME);
  int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0)
    return ember_err_set(err, EMBER_EIO,
                         "cannot open the lock file %s: %s; make the data "
                         "directory writable or pass --data to choose another",
                         path, strerror(errno));
  /* SQLite's own locks only keep two writers from interleaving
   * transactions; each server's dictionary cache would still hand out ids
   * the other already used. The kernel drops a flock when its holder dies,
   * so a crash never leaves a stale lock behind. */
  if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
    int e = errno;
    long pid = e == EWOULDBLOCK ? lock_owner(fd) : -1;
    close(fd);
    if (e != EWOULDBLOCK)
      return ember_err_set(err, EMBER_EIO, "cannot lock %s: %s", path, strerror(e));
    char who[48] = "pid unknown";
    if (pid > 0) snprintf(who, sizeof who, "pid %ld", pid);
    return ember_err_set(err, EMBER_EBUSY,
                         "data directory %s is in use by another ember process "
                         "(%s); two servers on one directory would corrupt each "
                         "other's writes: stop that one, or pass --data to choose "
                         "another directory",
                         dir, who);
  }
  char pid[32];
  int n = snprintf(pid, sizeof pid, "%ld\n", (long)getpid());
  if (ftruncate(fd, 0) != 0 || pwrite(fd, pid, (size_t)n, 0) != n) {
    int e = errno;
    close(fd);
    return ember_err_set(err, EMBER_EIO, "%scannot write the lock file %s: %s%s",
                         e == ENOSPC ? "disk full: " : "", path, strerror(e),
                         e == ENOSPC ? "; free space on that disk" : "");
  }
  *out = fd;
  return 0;
}

/* ---- Migrations -------------------------------------------------------- */

/* Version 1. apps.id never reuses a deleted app's id (AUTOINCREMENT), so a
 * dictionary cached under an old id can never be mistaken for a new app's.
 * series_labels carries app_id so a tag lookup is one index range within
 * one app. rollup_todo lists rollup periods that must be (re)built; it has
 * no foreign key so the writer's hot path pays for no extra index. */
static const char SCHEMA_V1[] =
    "CREATE TABLE apps("
    "  id INTEGER PRIMARY KEY AUTOINCREMENT,"
    "  name TEXT NOT NULL UNIQUE,"
    "  spy_name TEXT NOT NULL,"
    "  units TEXT NOT NULL,"
    "  sample_rate INTEGER NOT NULL,"
    "  aggregation INTEGER NOT NULL);"
    "CREATE TABLE series("
    "  id INTEGER PRIMARY KEY,"
    "  app_id INTEGER NOT NULL REFERENCES apps(id),"
    "  labels TEXT NOT NULL,"
    "  UNIQUE(app_id, labels));"
    "CREATE TABLE series_labels("
    "  app_id INTEGER NOT NULL,"
    "  key TEXT NOT NULL,"
    "  value TEXT NOT NULL,"
    "  series_id INTEGER NOT NULL REFERENCES series(id),"
    "  PRIMARY KEY(app_id, key, value, series_id)) WITHOUT ROWID;"
    "CREATE INDEX series_labels_by_series ON series_labels(series_id);"
    "CREATE TABLE frames("
    "  app_id INTEGER NOT NULL REFERENCES apps(id),"
    "  id INTEGER NOT NULL,"
    "  name BLOB NOT NULL,"
    "  PRIMARY KEY(app_id, id)) WITHOUT ROWID;"
    "CREATE TABLE stacks("
    "  app_id INTEGER NOT NULL REFERENCES apps(id),"
    "  id INTEGER NOT NULL,"
    "  parent_id INTEGER NOT NULL,"
    "  frame_id INTEGER NOT NULL,"
    "  PRIMARY KEY(app_id, id)) WITHOUT ROWID;"
    "CREATE TABLE segments("
    "  series_id INTEGER NOT NULL REFERENCES series(id),"
    "  level INTEGER NOT NULL,"
    "  start INTEGER NOT NULL,"
    "  seq INTEGER NOT NULL,"
    "  total INTEGER NOT NULL,"
    "  profiles INTEGER NOT NULL,"
    "  data BLOB NOT NULL,"
    "  PRIMARY KEY(series_id, level, start, seq));"
    "CREATE INDEX segments_by_age ON segments(level, start);"
    "CREATE TABLE rollup_todo("
    "  level INTEGER NOT NULL,"
    "  start INTEGER NOT NULL,"
    "  series_id INTEGER NOT NULL,"
    "  PRIMARY KEY(level, start, series_id)) WITHOUT ROWID;";

/* Version 2: span rows (docs/storage.md, "Span rows"). A profile that
 * covers several 10 s buckets is stored once, keyed by its last bucket with
 * a negative seq, and span_start says where it begins. The partial index
 * holds only span rows, so finding the spans that reach into a range costs
 * one short index range and never scans the bucket rows beside them. Older
 * rows are bucket or rollup rows and keep span_start NULL. An older ember
 * refuses the file rather than misreading span rows as bucket rows. */
static const char SCHEMA_V2[] =
    "ALTER TABLE segments ADD COLUMN span_start INTEGER;"
    "CREATE INDEX segments_spans ON segments(series_id, start, span_start) "
    "WHERE seq < 0;";

/* Version 3. Deleting a big app takes many small transactions (apply.c),
 * and readers must not see it half-deleted: the app rows move to app_rows,
 * with a deleting flag, and `apps` becomes the view of those not being
 * deleted, which is all readers ever query. The writer writes app_rows.
 * Renaming the table carries the other tables' foreign keys along.
 * probe is the one row the writer rewrites to learn whether the disk takes
 * writes again after a failure (ember_store_health). */
static const char SCHEMA_V3[] =
    "ALTER TABLE apps RENAME TO app_rows;"
    "ALTER TABLE app_rows ADD COLUMN deleting INTEGER NOT NULL DEFAULT 0;"
    "CREATE VIEW apps AS SELECT id, name, spy_name, units, sample_rate, aggregation"
    "  FROM app_rows WHERE deleting = 0;"
    "CREATE TABLE probe("
    "  id INTEGER PRIMARY KEY CHECK (id = 1),"
    "  at INTEGER NOT NULL);";

/* Version 4: app rollups (docs/storage.md, "App rollups"). A query over
 * every series of an app reads one row per period instead of one per
 * series: app_segments holds, per app, level (1-3) and period, the sum of
 * the rows of all its series in that period, and in parts the totals of
 * the period's ten sub-periods (of the level below), so a timeline reads
 * them without decoding anything. app_rollup_todo lists the periods to
 * (re)build. Both tables start empty: creating them reads no data, so an
 * upgrade starts as fast as any other start. app_backfill is where the
 * maintenance thread has got to in listing the app periods of the rollups
 * an older version built (compact.c), a bounded chunk per job; until it is
 * through, those periods are read series by series, exactly as before. */
static const char SCHEMA_V4[] =
    "CREATE TABLE app_segments("
    "  app_id INTEGER NOT NULL REFERENCES app_rows(id),"
    "  level INTEGER NOT NULL,"
    "  start INTEGER NOT NULL,"
    "  total INTEGER NOT NULL,"
    "  profiles INTEGER NOT NULL,"
    "  parts BLOB NOT NULL,"
    "  data BLOB NOT NULL,"
    "  PRIMARY KEY(app_id, level, start));"
    "CREATE INDEX app_segments_by_age ON app_segments(level, start);"
    "CREATE TABLE app_rollup_todo("
    "  level INTEGER NOT NULL,"
    "  start INTEGER NOT NULL,"
    "  app_id INTEGER NOT NULL,"
    "  PRIMARY KEY(level, start, app_id)) WITHOUT ROWID;"
    "CREATE TABLE app_backfill("
    "  id INTEGER PRIMARY KEY CHECK (id = 1),"
    "  level INTEGER NOT NULL,"
    "  next INTEGER NOT NULL);"
    /* Only when there is something to list (one probe of an index). */
    "INSERT INTO app_backfill SELECT 1, 1, -9223372036854775808 "
    "  WHERE EXISTS (SELECT 1 FROM segments WHERE level > 0);";

/* migrations[v] takes a database from version v to v + 1. */
static const char *const migrations[] = {SCHEMA_V1, SCHEMA_V2, SCHEMA_V3, SCHEMA_V4};
_Static_assert(sizeof migrations / sizeof migrations[0] == EMBER_SCHEMA_VERSION,
               "one migration per schema version");

static int user_version(ember_conn_t *c, int64_t *out, ember_err_t *err) {
  sqlite3_stmt *st = NULL;
  int rc = sqlite3_prepare_v2(c->db, "PRAGMA user_version", -1, &st, NULL);
  if (rc == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW) {
    *out = sqlite3_column_int64(st, 0);
    rc = 0;
  } else {
    rc = ember_conn_fail(c, err, "reading the schema version");
  }
  sqlite3_finalize(st);
  return rc;
}

static int migrate_one(ember_conn_t *c, int64_t from, ember_err_t *err) {
  char bump[64];
  snprintf(bump, sizeof bump, "PRAGMA user_version=%lld", (long long)from + 1);
  int rc = ember_conn_exec(c, "BEGIN IMMEDIATE", err);
  if (rc != 0) return rc;
  if ((rc = ember_conn_exec(c, migrations[from], err)) == 0 &&
      (rc = ember_conn_exec(c, bump, err)) == 0 &&
      (rc = ember_conn_exec(c, "COMMIT", err)) == 0)
    return 0;
  sqlite3_exec(c->db, "ROLLBACK", NULL, NULL, NULL);
  return rc;
}

int ember_schema_migrate(ember_conn_t *c, ember_err_t *err) {
  int64_t v = 0;
  int rc = user_version(c, &v, err);
  if (rc != 0) return rc;
  if (v > EMBER_SCHEMA_VERSION || v < 0)
    return ember_err_set(err, EMBER_EIO,
                         "the database has schema version %lld but this ember "
                         "knows only up to %d; run a newer ember or pass --data "
                         "to use another directory",
                         (long long)v, EMBER_SCHEMA_VERSION);
  for (; v < EMBER_SCHEMA_VERSION; v++)
    if ((rc = migrate_one(c, v, err)) != 0) return rc;
  return 0;
}
