/* Integration: `ember backup` copies the database of a server that keeps
 * ingesting, without stopping its writes, and `ember restore` makes the
 * copy a data directory that a second server answers the same from; both
 * refuse what they must with one line. */
#include <dirent.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"

#define APPS 3
#define PUSHES 20 /* per app, before any backup */
#define LINES 1500

/* The server every test backs up, filled once by setup: APPS apps of
 * PUSHES pushes each from t0 on, each push with LINES stacks of its own,
 * a few MB in all. */
typedef struct {
  it_server_t srv;
  long t0, t1;   /* the filled range */
  char tmp[200]; /* where backups and restored directories go */
} fixture_t;

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static char *push_body(int app, int push) {
  size_t cap = (size_t)LINES * 64, n = 0;
  char *b = malloc(cap);
  for (int k = 0; k < LINES; k++)
    n += (size_t)snprintf(b + n, cap - n, "main;svc_%d;handler_%d_%d_%d;leaf_%d %d\n",
                          k % 40, app, push, k, k % 7, 1 + (k * 31 + push) % 97);
  return b;
}

static int setup(void **state) {
  fixture_t *f = calloc(1, sizeof *f);
  it_start(&f->srv, NULL);
  it_mkdtemp(f->tmp, sizeof f->tmp, "ember-backup");
  f->t0 = (time(NULL) - 7200) / 10 * 10;
  f->t1 = f->t0 + PUSHES * 10;
  for (int i = 0; i < PUSHES; i++)
    for (int a = 0; a < APPS; a++) {
      char name[64];
      snprintf(name, sizeof name, "backup%d.cpu{region=%s}", a, i % 2 ? "eu" : "us");
      char *body = push_body(a, i);
      long from = f->t0 + i * 10;
      int st = it_ingest(&f->srv, name, from, from + 10, body);
      free(body);
      if (st != 200)
        fail_msg("filling the server: push %d of app %d answered %d", i, a, st);
    }
  *state = f;
  return 0;
}

static int teardown(void **state) {
  fixture_t *f = *state;
  if (!f) return 0; /* setup failed */
  it_stop(&f->srv);
  it_cleanup(&f->srv);
  it_rmtree(f->tmp);
  free(f);
  return 0;
}

/* ---- A pusher that never stops ------------------------------------------ */

typedef struct {
  const it_server_t *srv;
  atomic_bool stop;
  atomic_int ok, failed;
  atomic_long max_us; /* slowest push */
} pusher_t;

/* Pushes into an existing series, at the current time (outside the filled
 * range), as fast as the server answers. No cmocka calls: this is not the
 * test's thread. */
static void *pusher(void *arg) {
  pusher_t *p = arg;
  while (!atomic_load(&p->stop)) {
    long t = time(NULL);
    double start = now_s();
    int st = it_ingest(p->srv, "backup0.cpu{region=eu}", t - 10, t, "main;live;tick 3\n");
    long us = (long)((now_s() - start) * 1e6);
    if (us > atomic_load(&p->max_us)) atomic_store(&p->max_us, us);
    if (st == 200)
      atomic_fetch_add(&p->ok, 1);
    else
      atomic_fetch_add(&p->failed, 1);
  }
  return NULL;
}

/* ---- Helpers ------------------------------------------------------------- */

static int lines(const char *s) {
  int n = 0;
  for (; *s; s++)
    n += *s == '\n';
  return n;
}

/* Runs `ember args...` and expects exit code and one line holding needle
 * on stderr (with EMBER_DATA unset, whatever the caller's environment). */
static void expect_refusal(const char *const *args, int code, const char *needle) {
  char *out, *err;
  const char *env[] = {"EMBER_DATA=", NULL};
  int st = it_run_env(args, env, &out, &err);
  if (st != code || lines(err) != 1 || !strstr(err, needle))
    fail_msg("ember %s: exit %d (want %d), stderr '%s' (want one line with '%s')",
             args[0], st, code, err, needle);
  free(out);
  free(err);
}

static void run_ok(const char *const *args, char **err_out) {
  char *out, *err;
  int st = it_run(args, &out, &err);
  if (st != 0) fail_msg("ember %s %s: exit %d: %s", args[0], args[1], st, err);
  free(out);
  if (err_out)
    *err_out = err;
  else
    free(err);
}

/* Fails unless GET target answers the same JSON from both servers. */
static void expect_same(const it_server_t *a, const it_server_t *b, const char *target) {
  it_resp_t ra, rb;
  it_expect(a, 200, "GET", target, NULL, 0, &ra);
  it_expect(b, 200, "GET", target, NULL, 0, &rb);
  json_t *ja = it_json(&ra), *jb = it_json(&rb);
  if (!json_equal(ja, jb))
    fail_msg("%s differs:\n  live:     %.400s\n  restored: %.400s", target, ra.body,
             rb.body);
  json_decref(ja);
  json_decref(jb);
  it_resp_free(&ra);
  it_resp_free(&rb);
}

static void expect_same_render(const it_server_t *a, const it_server_t *b,
                               const char *query, long from, long until) {
  char *q = it_urlencode(query);
  char target[512];
  snprintf(target, sizeof target, "/render?query=%s&from=%ld&until=%ld", q, from, until);
  free(q);
  json_t *r = it_render(a, query, from, until, NULL);
  if (it_ticks(r) <= 0) fail_msg("%s holds no samples on the live server", query);
  json_decref(r);
  expect_same(a, b, target);
}

/* Starts a server on a new directory under f->tmp restored from file. */
static void start_restored(fixture_t *f, const char *file, const char *name,
                           it_server_t *out) {
  memset(out, 0, sizeof *out);
  snprintf(out->data_dir, sizeof out->data_dir, "%s/%s", f->tmp, name);
  run_ok((const char *[]){"restore", "--data", out->data_dir, file, NULL}, NULL);
  it_start(out, NULL);
}

/* ---- Tests --------------------------------------------------------------- */

static void test_a_backup_taken_during_ingest_restores_to_the_same_answers(void **state) {
  fixture_t *f = *state;
  char file[300];
  snprintf(file, sizeof file, "%s/live.db", f->tmp);
  pusher_t p = {.srv = &f->srv};
  pthread_t th;
  pthread_create(&th, NULL, pusher, &p);
  while (atomic_load(&p.ok) < 3)
    usleep(10000);
  /* Slowed down so that the copy spans many of its steps and many pushes. */
  int before = atomic_load(&p.ok);
  double start = now_s();
  char *err;
  run_ok((const char *[]){"backup", "--data", f->srv.data_dir, "-o", file, "--max-rate",
                          "2MiB", NULL},
         &err);
  double took = now_s() - start;
  int after = atomic_load(&p.ok), during = after - before;
  atomic_store(&p.stop, true);
  pthread_join(th, NULL);
  print_message("backup took %.2f s; %d pushes committed meanwhile, the slowest in %ld "
                "ms; %s",
                took, during, atomic_load(&p.max_us) / 1000, err);
  if (!strstr(err, "wrote") || !strstr(err, "3 apps"))
    fail_msg("no summary from ember backup: %s", err);
  free(err);
  assert_int_equal(atomic_load(&p.failed), 0);
  if (took < 1.0) fail_msg("the backup took %.2f s: too little data to overlap", took);
  if (during < 5)
    fail_msg("only %d pushes during the backup: ingest was held up", during);
  /* The live server's writer kept committing; no push waited seconds. */
  if (atomic_load(&p.max_us) > 5000000)
    fail_msg("a push took %ld ms during the backup", atomic_load(&p.max_us) / 1000);

  it_server_t b;
  start_restored(f, file, "restored", &b);
  for (int a = 0; a < APPS; a++) {
    char q[64];
    snprintf(q, sizeof q, "backup%d.cpu{}", a);
    expect_same_render(&f->srv, &b, q, f->t0, f->t1);
    snprintf(q, sizeof q, "backup%d.cpu{region=\"eu\"}", a);
    expect_same_render(&f->srv, &b, q, f->t0 + 40, f->t1 - 50);
  }
  expect_same(&f->srv, &b, "/api/apps");
  /* The copy is the snapshot of the backup's start: it holds every push
   * acknowledged before, and not those of the seconds the copy took. */
  json_t *r = it_render(&b, "backup0.cpu{region=\"eu\"}", time(NULL) - 600,
                        time(NULL) + 10, NULL);
  long total = 0, self = 0;
  it_node(r, "tick", &total, &self);
  json_decref(r);
  long restored = self / 3;
  print_message("the copy holds %ld live pushes: %d were acknowledged before the backup "
                "began, %d by its end\n",
                restored, before, after);
  if (restored < before || restored > before + during / 2)
    fail_msg("the copy holds %ld pushes; want the %d acknowledged before it began, and "
             "not most of the %d acknowledged during it",
             restored, before, during);
  /* The restored copy is a server like any other: it takes pushes. */
  assert_int_equal(it_ingest(&b, "backup0.cpu{region=eu}", time(NULL) - 10, time(NULL),
                             "main;after 1\n"),
                   200);
  assert_int_equal(it_stop(&b), 0);
  it_cleanup(&b);
  unlink(file);
}

static void test_backup_refuses_what_it_cannot_do_with_one_line(void **state) {
  fixture_t *f = *state;
  char empty[300], out[300], inside[300];
  snprintf(empty, sizeof empty, "%s/empty", f->tmp);
  mkdir(empty, 0755);
  snprintf(out, sizeof out, "%s/out.db", f->tmp);
  snprintf(inside, sizeof inside, "%s/ember.db", f->srv.data_dir);
  const char *data = f->srv.data_dir;
  expect_refusal((const char *[]){"backup", "-o", out, NULL}, 2, "missing --data");
  expect_refusal((const char *[]){"backup", "--data", data, NULL}, 2, "missing -o");
  expect_refusal(
      (const char *[]){"backup", "--data", data, "-o", out, "--max-rate", "fast", NULL},
      2, "--max-rate");
  expect_refusal((const char *[]){"backup", "--data", data, "-o", out, "extra", NULL}, 2,
                 "unexpected argument");
  expect_refusal((const char *[]){"backup", "--data", empty, "-o", out, NULL}, 1,
                 "no database in");
  expect_refusal(
      (const char *[]){"backup", "--data", "/nonexistent/ember", "-o", out, NULL}, 1,
      "no data directory /nonexistent/ember");
  expect_refusal((const char *[]){"backup", "--data", data, "-o",
                                  "/nonexistent/dir/backup.db", NULL},
                 1, "cannot write /nonexistent/dir/backup.db");
  expect_refusal((const char *[]){"backup", "--data", data, "-o", f->tmp, NULL}, 1,
                 "it is a directory");
  expect_refusal((const char *[]){"backup", "--data", data, "-o", inside, NULL}, 1,
                 "will not write the backup over");
  /* A PostgreSQL store: one line pointing to PostgreSQL's tools, however
   * it is named. */
  const char *pg = "postgres://ember:secret@db.example/ember";
  expect_refusal((const char *[]){"backup", "--data", pg, "-o", out, NULL}, 2, "pg_dump");
  expect_refusal((const char *[]){"backup", "--store", pg, "-o", out, NULL}, 2, "pg_dump");
  expect_refusal((const char *[]){"restore", "--store", "postgresql://h/db", out, NULL}, 2,
                 "pg_restore");
  char *o0, *e0;
  const char *pgenv[] = {"EMBER_DATA=", "EMBER_STORE=postgres://ember:secret@h/db", NULL};
  assert_int_equal(it_run_env((const char *[]){"backup", "-o", out, NULL}, pgenv, &o0, &e0),
                   2);
  assert_non_null(strstr(e0, "pg_dump"));
  assert_null(strstr(e0, "secret"));
  free(o0);
  free(e0);
  struct stat st;
  assert_int_equal(stat(out, &st), -1); /* nothing was left behind */
  /* EMBER_DATA stands for --data, as for ember serve. */
  char var[300], *o, *e;
  snprintf(var, sizeof var, "EMBER_DATA=%s", data);
  const char *env[] = {var, NULL};
  assert_int_equal(it_run_env((const char *[]){"backup", "-o", out, NULL}, env, &o, &e),
                   0);
  free(o);
  free(e);
  assert_int_equal(stat(out, &st), 0);
  unlink(out);
}

static void
test_restore_refuses_a_running_server_a_foreign_file_and_a_full_dir(void **state) {
  fixture_t *f = *state;
  char file[300], junk[300], dir[300], sqlite_file[300];
  snprintf(file, sizeof file, "%s/r.db", f->tmp);
  snprintf(junk, sizeof junk, "%s/junk.db", f->tmp);
  snprintf(sqlite_file, sizeof sqlite_file, "%s/other.db", f->tmp);
  snprintf(dir, sizeof dir, "%s/full", f->tmp);
  run_ok((const char *[]){"backup", "--data", f->srv.data_dir, "-o", file, NULL}, NULL);
  it_write_file(junk, "not a database at all, just some bytes\n", 39);
  /* An SQLite file of another program. */
  const char *mk[] = {"sqlite3", sqlite_file,
                      "CREATE TABLE t(x); INSERT INTO t VALUES(1);", NULL};
  bool have_sqlite = it_have("sqlite3") && it_exec(mk, NULL, NULL, 20, NULL) == 0;

  expect_refusal((const char *[]){"restore", "--data", f->srv.data_dir, file, NULL}, 1,
                 "in use by another ember process");
  expect_refusal((const char *[]){"restore", "--data", dir, junk, NULL}, 1,
                 "is not an Ember database");
  if (have_sqlite)
    expect_refusal((const char *[]){"restore", "--data", dir, sqlite_file, NULL}, 1,
                   "not an Ember database");
  /* A backup cut short in transfer. */
  struct stat st;
  char cut[300];
  snprintf(cut, sizeof cut, "%s/cut.db", f->tmp);
  const char *cp[] = {"cp", file, cut, NULL};
  assert_int_equal(it_exec(cp, NULL, NULL, 20, NULL), 0);
  assert_int_equal(stat(cut, &st), 0);
  assert_int_equal(truncate(cut, st.st_size / 2), 0);
  expect_refusal((const char *[]){"restore", "--data", dir, cut, NULL}, 1, "damaged");
  unlink(cut);
  expect_refusal((const char *[]){"restore", "--data", dir, NULL}, 2,
                 "missing the backup");
  expect_refusal((const char *[]){"restore", file, NULL}, 2, "missing --data");
  expect_refusal((const char *[]){"restore", "--data", dir, "/nonexistent.db", NULL}, 1,
                 "/nonexistent.db");
  /* A directory with a database is kept unless --force. */
  run_ok((const char *[]){"restore", "--data", dir, file, NULL}, NULL);
  expect_refusal((const char *[]){"restore", "--data", dir, file, NULL}, 1, "--force");
  run_ok((const char *[]){"restore", "--data", dir, "--force", file, NULL}, NULL);
  /* Nothing but the database and the lock file is left in it. */
  DIR *d = opendir(dir);
  struct dirent *e;
  while ((e = readdir(d)))
    if (e->d_name[0] != '.' && strcmp(e->d_name, "ember.db") &&
        strcmp(e->d_name, "ember.lock"))
      fail_msg("restore left %s behind in %s", e->d_name, dir);
  closedir(d);
  it_rmtree(dir);
  /* Restored by root (in a container, by a system service), the database
   * belongs to whoever owns the directory: the user the server runs as. */
  if (geteuid() == 0) {
    mkdir(dir, 0755);
    assert_int_equal(chown(dir, 65534, 65534), 0);
    run_ok((const char *[]){"restore", "--data", dir, file, NULL}, NULL);
    char db[320];
    snprintf(db, sizeof db, "%s/ember.db", dir);
    assert_int_equal(stat(db, &st), 0);
    assert_int_equal(st.st_uid, 65534);
    snprintf(db, sizeof db, "%s/ember.lock", dir);
    assert_int_equal(stat(db, &st), 0);
    assert_int_equal(st.st_uid, 65534);
    it_rmtree(dir);
  }
  unlink(file);
  unlink(junk);
  unlink(sqlite_file);
}

static void test_an_interrupted_backup_leaves_nothing_behind(void **state) {
  fixture_t *f = *state;
  char file[300];
  snprintf(file, sizeof file, "%s/interrupted.db", f->tmp);
  pid_t pid = fork();
  if (pid == 0) {
    int null = open("/dev/null", 1);
    dup2(null, 2);
    execl(getenv("EMBER_BIN"), "ember", "backup", "--data", f->srv.data_dir, "-o", file,
          "--max-rate", "256KiB", (char *)NULL);
    _exit(127);
  }
  usleep(500000);
  kill(pid, SIGINT);
  int st;
  waitpid(pid, &st, 0);
  assert_true(WIFEXITED(st));
  assert_int_equal(WEXITSTATUS(st), 1);
  DIR *d = opendir(f->tmp);
  struct dirent *e;
  while ((e = readdir(d)))
    if (strstr(e->d_name, "interrupted"))
      fail_msg("an interrupted backup left %s behind", e->d_name);
  closedir(d);
}

static void test_a_backup_of_a_killed_server_holds_every_acknowledged_push(void **state) {
  fixture_t *f = *state;
  it_server_t c = {0};
  it_start(&c, NULL);
  long t = time(NULL) - 60;
  assert_int_equal(it_ingest(&c, "killed.cpu", t, t + 10, "main;acked;push 42\n"), 200);
  it_kill9(&c); /* the push is in the WAL only; no checkpoint ran */
  char file[300];
  snprintf(file, sizeof file, "%s/killed.db", f->tmp);
  run_ok((const char *[]){"backup", "--data", c.data_dir, "-o", file, NULL}, NULL);
  it_server_t b;
  start_restored(f, file, "killed", &b);
  json_t *r = it_render(&b, "killed.cpu{}", t - 10, t + 20, NULL);
  long total, self;
  assert_true(it_node(r, "push", &total, &self));
  assert_int_equal(self, 42);
  json_decref(r);
  assert_int_equal(it_stop(&b), 0);
  it_cleanup(&b);
  it_cleanup(&c);
  unlink(file);
}

static void test_help_explains_backup_and_restore(void **state) {
  char *out, *err;
  const char *cmds[][2] = {{"backup", "--output"}, {"restore", "--force"}};
  for (size_t i = 0; i < 2; i++) {
    assert_int_equal(it_run((const char *[]){cmds[i][0], "--help", NULL}, &out, &err), 0);
    if (!strstr(out, "--data") || !strstr(out, cmds[i][1]) || !strstr(out, "EMBER_DATA"))
      fail_msg("ember %s --help: %s", cmds[i][0], out);
    free(out);
    free(err);
  }
  assert_int_equal(it_run((const char *[]){"--help", NULL}, &out, &err), 0);
  assert_non_null(strstr(out, "backup"));
  assert_non_null(strstr(out, "restore"));
  free(out);
  free(err);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_a_backup_taken_during_ingest_restores_to_the_same_answers),
      cmocka_unit_test(test_backup_refuses_what_it_cannot_do_with_one_line),
      cmocka_unit_test(
          test_restore_refuses_a_running_server_a_foreign_file_and_a_full_dir),
      cmocka_unit_test(test_an_interrupted_backup_leaves_nothing_behind),
      cmocka_unit_test(test_a_backup_of_a_killed_server_holds_every_acknowledged_push),
      cmocka_unit_test(test_help_explains_backup_and_restore),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
