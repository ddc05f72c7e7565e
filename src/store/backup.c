/*
 * backup.c - a copy of a live database (`ember backup`) and putting one
 * back (`ember restore`), through SQLite's online backup API.
 *
 * Consistent, without holding anyone up: the source is opened read-only and
 * one read transaction spans the whole copy, so every page comes from the
 * snapshot its first step saw. (Without that transaction SQLite restarts a
 * stepped backup from the first page whenever another connection commits:
 * under steady ingest it would never end.) In WAL mode a reader and the
 * writer never wait for each other: the server keeps committing into its
 * WAL while the copy reads. Only its checkpoints cannot move pages newer
 * than our snapshot into the database file, so the WAL grows by what is
 * written during the copy, and shrinks back (to the server's
 * journal_size_limit) at the first checkpoint after it.
 *
 * Whole or not at all: the copy goes into a new temporary file beside its
 * destination, without a journal (nobody else sees the file yet), is
 * fsynced, renamed over the destination, and the directory fsynced. After
 * a crash the destination is the old file or the whole new one; at worst a
 * temporary file (NAME.tmp-PID-N) is left beside it.
 *
 * In steps: each copies STEP_PAGES pages; between steps the caller hears of
 * the progress (and may cancel), and a rate limit may pause the copy so
 * that its reads leave the disk to the server.
 *
 * A copy's life:
 *
 *   open_source() -> [restore: check_intact()] -> temp_create()
 *     -> copy_pages() -> close the copy -> sync_path()
 *     -> [restore: remove the old WAL and -shm] -> publish()
 *   (any failure: unlink the temporary file, close the source)
 */
#include "store/store_int.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* Pages per step: 1 MiB with SQLite's default 4 KiB pages, a few
 * milliseconds of reading, so progress moves and a cancel is quick. */
#define STEP_PAGES 256
/* Bytes of the copy written between two flushes to disk. Flushing as it
 * goes, instead of once at the end, keeps the disk's queue short: a
 * server's commit, which waits for its own fsync, then never queues behind
 * hundreds of MB of the copy's writes. */
#define FLUSH_BYTES ((uint64_t)8 << 20)
/* Tables every schema version since 1 has (apps is a view from 3 on). */
static const char SQL_EMBER_TABLES[] =
    "SELECT count(*) FROM sqlite_master WHERE name IN "
    "('apps', 'series', 'series_labels', 'frames', 'stacks', 'segments')";
#define EMBER_TABLES 6

/* ---- Paths ------------------------------------------------------------- */

/* The directory part of path ("." when it has none). */
static void dir_of(const char *path, char *out, size_t size) {
  const char *slash = strrchr(path, '/');
  if (!slash)
    snprintf(out, size, ".");
  else if (slash == path)
    snprintf(out, size, "/");
  else
    snprintf(out, size, "%.*s", (int)(slash - path), path);
}

/* True when a and b name the same existing file or directory. */
static bool same_file(const char *a, const char *b) {
  struct stat sa, sb;
  return stat(a, &sa) == 0 && stat(b, &sb) == 0 && sa.st_dev == sb.st_dev &&
         sa.st_ino == sb.st_ino;
}

/* True when dest would be one of the files the server keeps in data_dir:
 * writing a backup there would replace the live database. */
static bool is_server_file(const char *data_dir, const char *dest) {
  static const char *const names[] = {
      EMBER_STORE_DB_NAME, EMBER_STORE_DB_NAME "-wal", EMBER_STORE_DB_NAME "-shm",
      EMBER_STORE_DB_NAME "-journal", EMBER_STORE_LOCK_NAME};
  char dir[4096];
  dir_of(dest, dir, sizeof dir);
  if (!same_file(dir, data_dir)) return false;
  const char *base = strrchr(dest, '/') ? strrchr(dest, '/') + 1 : dest;
  for (size_t i = 0; i < sizeof names / sizeof *names; i++)
    if (!strcmp(base, names[i])) return true;
  return false;
}

/* fsyncs the file or directory at path. */
static int sync_path(const char *path, bool dir, ember_err_t *err) {
  int fd = open(path, (dir ? O_RDONLY | O_DIRECTORY : O_RDWR) | O_CLOEXEC);
  if (fd < 0 || fsync(fd) != 0) {
    int e = errno;
    if (fd >= 0) close(fd);
    return ember_err_set(err, EMBER_EIO, "cannot flush %s to disk: %s%s", path,
                         strerror(e), e == ENOSPC ? "; free space on that disk" : "");
  }
  close(fd);
  return 0;
}

/* Creates a new, empty file beside dest and writes its name to tmp. */
static int temp_create(const char *dest, char *tmp, size_t size, ember_err_t *err) {
  for (unsigned i = 0;; i++) {
    snprintf(tmp, size, "%s.tmp-%ld-%u", dest, (long)getpid(), i);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd >= 0) {
      close(fd);
      return 0;
    }
    if (errno != EEXIST || i == 100)
      return ember_err_set(err, EMBER_EIO,
                           "cannot write %s: creating %s beside it failed: %s; name a "
                           "file in a directory that exists and is writable",
                           dest, tmp, strerror(errno));
  }
}

/* ---- Source ------------------------------------------------------------ */

static int sqlite_fail(sqlite3 *db, ember_err_t *err, const char *what,
                       const char *path) {
  int code = db ? sqlite3_extended_errcode(db) : SQLITE_NOMEM;
  if ((code & 0xff) == SQLITE_CORRUPT)
    return ember_err_set(err, EMBER_EINVAL,
                         "%s %s: the file is damaged (%s); use another copy", what, path,
                         sqlite3_errmsg(db));
  if ((code & 0xff) == SQLITE_FULL)
    return ember_err_set(err, EMBER_EIO, "%s %s: disk full; free space on that disk",
                         what, path);
  return ember_err_set(err, EMBER_EIO, "%s %s: %s (sqlite code %d)", what, path,
                       db ? sqlite3_errmsg(db) : "out of memory", code);
}

/* One integer from sql, run on db. */
static int query_int(sqlite3 *db, const char *sql, int64_t *out) {
  sqlite3_stmt *st = NULL;
  int rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);
  if (rc == SQLITE_OK) rc = sqlite3_step(st);
  if (rc == SQLITE_ROW) *out = sqlite3_column_int64(st, 0);
  sqlite3_finalize(st);
  return rc == SQLITE_ROW ? SQLITE_OK : rc;
}

/* Inside the read transaction: checks that db is an Ember database and
 * notes its version and apps. A version newer than this build's is copied
 * by a backup (bytes are bytes) but refused by a restore (max_version). */
static int check_ember(sqlite3 *db, const char *path, int max_version,
                       ember_store_copy_info_t *info, ember_err_t *err) {
  int64_t tables = 0, version = 0, apps = 0;
  int rc = query_int(db, SQL_EMBER_TABLES, &tables);
  if ((rc & 0xff) == SQLITE_NOTADB)
    return ember_err_set(err, EMBER_EINVAL,
                         "%s is not an Ember database (not an SQLite file at all)", path);
  if (rc != SQLITE_OK) return sqlite_fail(db, err, "cannot read", path);
  if (query_int(db, "PRAGMA user_version", &version) != SQLITE_OK)
    return sqlite_fail(db, err, "cannot read the schema version of", path);
  if (tables != EMBER_TABLES || version < 1)
    return ember_err_set(err, EMBER_EINVAL,
                         "%s is an SQLite file but not an Ember database (its tables "
                         "are not Ember's)",
                         path);
  if (version > max_version)
    return ember_err_set(err, EMBER_EINVAL,
                         "%s has schema version %lld but this ember knows only up to "
                         "%d; restore it with the newer ember that wrote it",
                         path, (long long)version, max_version);
  if (query_int(db, "SELECT count(*) FROM apps", &apps) != SQLITE_OK)
    return sqlite_fail(db, err, "cannot count the apps of", path);
  info->schema_version = (int)version;
  info->apps = (uint64_t)apps;
  return 0;
}

/* Opens path read-only and begins the read transaction the whole copy
 * reads in, checking that it is an Ember database (see check_ember).
 * *out (closed by the caller; the transaction ends with it) is written
 * only on success. */
static int open_source(const char *path, int max_version, sqlite3 **out,
                       ember_store_copy_info_t *info, ember_err_t *err) {
  sqlite3 *db = NULL;
  int rc = 0;
  if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, NULL) !=
      SQLITE_OK) {
    rc = sqlite_fail(db, err, "cannot open", path);
    goto fail;
  }
  /* Beginning a read transaction can meet the server mid-checkpoint or
   * mid-recovery for a moment; it never waits for a commit. */
  sqlite3_busy_timeout(db, 10000);
  sqlite3_extended_result_codes(db, 1);
  if (sqlite3_exec(db, "BEGIN", NULL, NULL, NULL) != SQLITE_OK) {
    rc = sqlite_fail(db, err, "cannot read", path);
    goto fail;
  }
  /* The first read (in check_ember) fixes the snapshot. */
  if ((rc = check_ember(db, path, max_version, info, err)) != 0) goto fail;
  *out = db;
  return 0;
fail:
  sqlite3_close_v2(db);
  return rc;
}

/* ---- Copy -------------------------------------------------------------- */

/* Sleeps ns, or less when a signal arrives: the caller's progress
 * callback then gets to cancel the copy at once, and the next pause makes
 * up for the time not slept. */
static void sleep_ns(uint64_t ns) {
  struct timespec ts = {(time_t)(ns / 1000000000u), (long)(ns % 1000000000u)};
  nanosleep(&ts, NULL);
}

/* Copies every page of src (in its open read transaction) into dst, step
 * by step, flushing what reached dst's file (sync_fd) every FLUSH_BYTES;
 * *bytes gets the size of the copy. */
static int copy_pages(sqlite3 *src, sqlite3 *dst, int sync_fd, const char *dest_name,
                      const ember_store_copy_opts_t *opts, uint64_t *bytes,
                      ember_err_t *err) {
  int64_t page = 4096;
  if (query_int(src, "PRAGMA page_size", &page) != SQLITE_OK)
    return sqlite_fail(src, err, "cannot read the page size of", "the database");
  sqlite3_backup *b = sqlite3_backup_init(dst, "main", src, "main");
  if (!b) return sqlite_fail(dst, err, "cannot start a copy into", dest_name);
  uint64_t start = ember_mono_ns(), flushed = 0;
  int rc = 0, step;
  do {
    step = sqlite3_backup_step(b, STEP_PAGES);
    uint64_t total = (uint64_t)sqlite3_backup_pagecount(b) * (uint64_t)page;
    uint64_t done = total - (uint64_t)sqlite3_backup_remaining(b) * (uint64_t)page;
    *bytes = total;
    if (step != SQLITE_OK && step != SQLITE_DONE) break;
    if (done - flushed >= FLUSH_BYTES) {
      fdatasync(sync_fd); /* errors show at the final fsync */
      flushed = done;
    }
    if (opts && opts->progress && !opts->progress(opts->ctx, done, total)) {
      rc = ember_err_set(err, EMBER_ESHUTDOWN,
                         "stopped before the end; %s was not written", dest_name);
      break;
    }
    if (opts && opts->max_rate && step == SQLITE_OK) {
      /* Sleep until the bytes read so far are what max_rate allows. */
      uint64_t due = start + (uint64_t)((double)done / (double)opts->max_rate * 1e9);
      uint64_t now = ember_mono_ns();
      if (due > now) sleep_ns(due - now);
    }
  } while (step == SQLITE_OK);
  /* finish returns the error of the last step, if any. */
  int fin = sqlite3_backup_finish(b);
  if (rc == 0 && fin != SQLITE_OK)
    rc = sqlite_fail(dst, err, "copying the database into", dest_name);
  return rc;
}

/* Copies src into the new file tmp, flushed to disk when this returns 0. */
static int copy_to(sqlite3 *src, const char *tmp, const char *dest_name,
                   const ember_store_copy_opts_t *opts, uint64_t *bytes,
                   ember_err_t *err) {
  sqlite3 *dst = NULL;
  int rc = 0, sync_fd = open(tmp, O_RDWR | O_CLOEXEC);
  if (sync_fd < 0) {
    rc = ember_err_set(err, EMBER_EIO, "cannot open %s: %s", tmp, strerror(errno));
    goto done;
  }
  if (sqlite3_open_v2(tmp, &dst, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL) !=
      SQLITE_OK) {
    rc = sqlite_fail(dst, err, "cannot open", tmp);
    goto done;
  }
  sqlite3_extended_result_codes(dst, 1);
  /* No journal and no syncs of SQLite's: until the rename nobody reads
   * this file, copy_pages flushes it as it goes and sync_path at the end. */
  if (sqlite3_exec(dst, "PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF", NULL, NULL,
                   NULL) != SQLITE_OK) {
    rc = sqlite_fail(dst, err, "cannot prepare", tmp);
    goto done;
  }
  rc = copy_pages(src, dst, sync_fd, dest_name, opts, bytes, err);
done:
  if (sync_fd >= 0) close(sync_fd);
  if (sqlite3_close(dst) != SQLITE_OK && rc == 0)
    rc = sqlite_fail(dst, err, "cannot close", tmp);
  if (rc == 0) rc = sync_path(tmp, false, err);
  return rc;
}

/* Renames tmp over dest and flushes the directory, so the rename itself
 * survives a crash. */
static int publish(const char *tmp, const char *dest, ember_err_t *err) {
  if (rename(tmp, dest) != 0)
    return ember_err_set(err, EMBER_EIO, "cannot write %s: renaming %s to it failed: %s",
                         dest, tmp, strerror(errno));
  char dir[4096];
  dir_of(dest, dir, sizeof dir);
  return sync_path(dir, true, err);
}

/* ---- Backup ------------------------------------------------------------ */

/* The path of data_dir's database when it has one. */
static int find_db(const char *data_dir, char *path, size_t size, ember_err_t *err) {
  struct stat st;
  if (stat(data_dir, &st) != 0)
    return ember_err_set(err, EMBER_ENOTFOUND,
                         "no data directory %s: %s; pass the --data the server runs with",
                         data_dir, strerror(errno));
  if (!S_ISDIR(st.st_mode))
    return ember_err_set(err, EMBER_ENOTFOUND,
                         "%s is not a directory; pass the --data the server runs with",
                         data_dir);
  snprintf(path, size, "%s/%s", data_dir, EMBER_STORE_DB_NAME);
  if (stat(path, &st) != 0)
    return ember_err_set(err, EMBER_ENOTFOUND,
                         "no database in %s (no %s there); pass the --data the server "
                         "runs with",
                         data_dir, EMBER_STORE_DB_NAME);
  return 0;
}

int ember_store_backup(const char *data_dir, const char *dest,
                       const ember_store_copy_opts_t *opts, ember_store_copy_info_t *out,
                       ember_err_t *err) {
  char db_path[4096 + sizeof "/" EMBER_STORE_DB_NAME], tmp[4096 + 64];
  ember_store_copy_info_t info = {0};
  sqlite3 *src = NULL;
  int rc = find_db(data_dir, db_path, sizeof db_path, err);
  if (rc != 0) return rc;
  if (!dest || !*dest || is_server_file(data_dir, dest))
    return ember_err_set(err, EMBER_EINVAL,
                         "will not write the backup over %s, a file of the server's "
                         "data directory; name a file elsewhere",
                         dest && *dest ? dest : "(empty)");
  struct stat st;
  if (stat(dest, &st) == 0 && S_ISDIR(st.st_mode))
    return ember_err_set(err, EMBER_EINVAL,
                         "cannot write %s: it is a directory; name a file in it", dest);
  if ((rc = open_source(db_path, INT32_MAX, &src, &info, err)) != 0) return rc;
  tmp[0] = '\0';
  if ((rc = temp_create(dest, tmp, sizeof tmp, err)) != 0) goto done;
  if ((rc = copy_to(src, tmp, dest, opts, &info.bytes, err)) != 0) goto done;
  /* The snapshot is copied: let the server checkpoint its WAL at once. */
  sqlite3_close_v2(src);
  src = NULL;
  rc = publish(tmp, dest, err);
done:
  if (rc != 0 && tmp[0]) unlink(tmp);
  sqlite3_close_v2(src);
  if (rc == 0 && out) *out = info;
  return rc;
}

/* ---- Restore ----------------------------------------------------------- */

/* Removes the old database's WAL and shared memory: replayed onto the
 * restored file, the old WAL would corrupt it. */
static int remove_old_wal(const char *db_path, ember_err_t *err) {
  static const char *const suffixes[] = {"-wal", "-shm", "-journal"};
  char p[4096 + 64];
  for (size_t i = 0; i < sizeof suffixes / sizeof *suffixes; i++) {
    snprintf(p, sizeof p, "%s%s", db_path, suffixes[i]);
    if (unlink(p) != 0 && errno != ENOENT)
      return ember_err_set(err, EMBER_EIO, "cannot remove %s: %s", p, strerror(errno));
  }
  return 0;
}

/* Run as root (a restore in a container or a system service), the file
 * goes to whoever owns the directory: the server's user must write it. */
static int give_to_dir_owner(const char *data_dir, const char *path, ember_err_t *err) {
  struct stat st;
  if (geteuid() != 0 || stat(data_dir, &st) != 0 || st.st_uid == 0) return 0;
  if (chown(path, st.st_uid, st.st_gid) != 0)
    return ember_err_set(err, EMBER_EIO, "cannot give %s to the owner of %s: %s", path,
                         data_dir, strerror(errno));
  return 0;
}

/* Reads every page of src (in its read transaction) and checks the
 * structure of its tables and indexes, so that a truncated or damaged
 * backup is refused before it replaces anything. Half a second for 400 MB:
 * little beside the copy. */
static int check_intact(sqlite3 *src, const char *path, ember_err_t *err) {
  sqlite3_stmt *st = NULL;
  int rc = sqlite3_prepare_v2(src, "PRAGMA quick_check(1)", -1, &st, NULL);
  if (rc == SQLITE_OK) rc = sqlite3_step(st);
  if (rc != SQLITE_ROW) {
    rc = sqlite_fail(src, err, "cannot check", path);
  } else if (strcmp((const char *)sqlite3_column_text(st, 0), "ok") != 0) {
    char why[200]; /* SQLite's report, on one line */
    snprintf(why, sizeof why, "%s", (const char *)sqlite3_column_text(st, 0));
    for (char *p = why; *p; p++)
      if (*p == '\n') *p = ' ';
    rc = ember_err_set(err, EMBER_EINVAL, "%s is damaged (%s); use another copy", path,
                       why);
  } else {
    rc = 0;
  }
  sqlite3_finalize(st);
  return rc;
}

/* Refuses a data_dir that holds a database already (unless replace) and a
 * src that is that database. */
static int check_target(const char *data_dir, const char *db_path, const char *src,
                        bool replace, ember_err_t *err) {
  if (same_file(src, db_path))
    return ember_err_set(err, EMBER_EINVAL,
                         "%s is the database of %s already; restore a backup file", src,
                         data_dir);
  struct stat st;
  if (!replace && stat(db_path, &st) == 0)
    return ember_err_set(err, EMBER_EINVAL,
                         "%s holds a database already (%s, %lld bytes); restore into an "
                         "empty directory, or replace it and lose its data with --force",
                         data_dir, EMBER_STORE_DB_NAME, (long long)st.st_size);
  return 0;
}

int ember_store_restore(const char *data_dir, const char *src_path, bool replace,
                        const ember_store_copy_opts_t *opts, ember_store_copy_info_t *out,
                        ember_err_t *err) {
  char db_path[4096 + sizeof "/" EMBER_STORE_DB_NAME], tmp[4096 + 64];
  ember_store_copy_info_t info = {0};
  sqlite3 *src = NULL;
  int lock_fd = -1, rc;
  struct stat st;
  tmp[0] = '\0';
  if (stat(src_path, &st) != 0)
    return ember_err_set(err, EMBER_ENOTFOUND, "cannot read the backup %s: %s", src_path,
                         strerror(errno));
  if (!S_ISREG(st.st_mode))
    return ember_err_set(err, EMBER_EINVAL, "the backup %s is not a file", src_path);
  if ((rc = ember_schema_prepare_dir(data_dir, err)) != 0) return rc;
  snprintf(db_path, sizeof db_path, "%s/%s", data_dir, EMBER_STORE_DB_NAME);
  /* Held to the end: no server may start on the directory halfway. */
  if ((rc = ember_schema_lock_dir(data_dir, &lock_fd, err)) != 0) return rc;
  char lock_path[4096 + sizeof "/" EMBER_STORE_LOCK_NAME];
  snprintf(lock_path, sizeof lock_path, "%s/%s", data_dir, EMBER_STORE_LOCK_NAME);
  if ((rc = give_to_dir_owner(data_dir, lock_path, err)) != 0 ||
      (rc = check_target(data_dir, db_path, src_path, replace, err)) != 0 ||
      (rc = open_source(src_path, EMBER_SCHEMA_VERSION, &src, &info, err)) != 0 ||
      (rc = check_intact(src, src_path, err)) != 0 ||
      (rc = temp_create(db_path, tmp, sizeof tmp, err)) != 0 ||
      (rc = give_to_dir_owner(data_dir, tmp, err)) != 0 ||
      (rc = copy_to(src, tmp, db_path, opts, &info.bytes, err)) != 0 ||
      (rc = remove_old_wal(db_path, err)) != 0)
    goto done;
  rc = publish(tmp, db_path, err);
done:
  if (rc != 0 && tmp[0]) unlink(tmp);
  sqlite3_close_v2(src);
  close(lock_fd);
  if (rc == 0 && out) *out = info;
  return rc;
}
