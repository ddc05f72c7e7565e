/* Tests for src/store/writer.c: commits and answers, concurrency, a full
 * queue, closing with work pending, one bad request in a batch, deletion. */
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
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

/* What a done callback saw of the database when it was called. */
typedef struct {
  const char *dir;
  atomic_int calls;
  atomic_int rc;
  atomic_llong rows_seen; /* segment rows a second connection saw */
} observer_t;

/* Looks at the database through a connection of its own, as another
 * process would: only committed data is visible to it. */
static void on_done_look(void *ctx, int rc, const ember_err_t *err) {
  observer_t *o = ctx;
  char path[600];
  snprintf(path, sizeof path, "%s/ember.db", o->dir);
  sqlite3 *db = NULL;
  sqlite3_stmt *st = NULL;
  long long n = -1;
  if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK &&
      sqlite3_prepare_v2(db,
                         "SELECT COUNT(*) FROM segments g JOIN series s ON "
                         "s.id = g.series_id WHERE s.labels = 'host=a'",
                         -1, &st, NULL) == SQLITE_OK &&
      sqlite3_step(st) == SQLITE_ROW)
    n = sqlite3_column_int64(st, 0);
  sqlite3_finalize(st);
  sqlite3_close(db);
  atomic_store(&o->rows_seen, n);
  atomic_store(&o->rc, rc);
  atomic_fetch_add(&o->calls, 1);
}

/* The done callback is what sends the 200: when it runs, the data must
 * already be committed, which another connection can tell. Three writes
 * share one transaction here, so each callback must see all three. */
static void test_writer_answers_a_write_only_after_it_is_committed(void **state) {
  fixture_t *f = *state;
  f->s = open_store(f->dir, 0, 0);
  ember_store_test_pause(f->s, true); /* so the three share one batch */
  observer_t o[3];
  for (int i = 0; i < 3; i++) {
    o[i].dir = f->dir;
    atomic_init(&o[i].calls, 0);
    atomic_init(&o[i].rc, -1);
    atomic_init(&o[i].rows_seen, -1);
    ember_ingest_result_t r =
        make_result("app.cpu{host=a}", T0 + 10 * i, T0 + 10 * i + 10,
                    "main;work 3\nmain;idle 1", EMBER_AGG_SUM);
    assert_int_equal(ember_store_submit(f->s, &r, on_done_look, &o[i], NULL), 0);
    ember_ingest_result_free(&r);
  }
  ember_store_test_pause(f->s, false);
  put(f->s, "app.cpu{host=b}", T0, T0 + 10, "x 1"); /* after the three */
  for (int i = 0; i < 3; i++) {
    assert_int_equal(atomic_load(&o[i].calls), 1);
    assert_int_equal(atomic_load(&o[i].rc), 0);
    if (atomic_load(&o[i].rows_seen) != 3)
      fail_msg("write %d was answered while another connection saw %lld of its 3 "
               "rows: answered before its commit",
               i, (long long)atomic_load(&o[i].rows_seen));
  }
  ember_store_stats_t st;
  ember_store_stats(f->s, &st);
  assert_int_equal(st.rows_written, 4);
  assert_int_equal(st.queue_depth, 0);
  assert_int_equal(st.queue_max, 1024);
  assert_true(st.db_bytes > 0);
  assert_int_equal(total_of(f->s, "app.cpu{}", T0, T0 + 30), 13);
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
    ember_ingest_result_t r =
        make_result(name, T0 + 10 * (k % 30), T0 + 10 * (k % 30) + 10,
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
  for (int i = 0; i < THREADS; i++)
    pthread_join(th[i], NULL);
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
  while ((rc = ember_store_write(f->s, &r, NULL)) == EMBER_EBUSY)
    usleep(100);
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
  ember_ingest_result_t good1 =
      make_result("app.cpu", T0, T0 + 10, "x;y 2", EMBER_AGG_SUM);
  ember_ingest_result_t bad =
      make_result("app.cpu", T0 + 50, T0 + 20, "x;new;frames 9", EMBER_AGG_SUM);
  ember_ingest_result_t good2 =
      make_result("app.cpu", T0 + 10, T0 + 20, "x;z 3", EMBER_AGG_SUM);
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
  /* Its app rollups go too. */
  put(f->s, "gone.cpu{host=a}", T0 + 2000, T0 + 2010, "a;b 8");
  put(f->s, "gone.cpu{host=b}", T0 + 2000, T0 + 2010, "a;c 16");
  maintain_at(f->s, T0 + 100000);
  assert_true(count_sql(f->dir, "SELECT COUNT(*) FROM app_segments") > 0);
  ember_err_t err;
  assert_int_equal(ember_store_delete_app(f->s, "gone.cpu", &err), 0);
  assert_int_equal(count_sql(f->dir, "SELECT COUNT(*) FROM app_segments WHERE app_id "
                                     "NOT IN (SELECT id FROM app_rows)"),
                   0);
  assert_int_equal(count_sql(f->dir, "SELECT COUNT(*) FROM app_rollup_todo WHERE app_id "
                                     "NOT IN (SELECT id FROM app_rows)"),
                   0);
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
  /* Its four rows at least (and the rollups of them). */
  assert_true(st.rows_deleted >= 4);
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

/* ---- Limits on one push ------------------------------------------------ */

/* Folded text of n distinct stacks "root;sK 1". Caller frees. */
static char *many_stacks(const char *root, int first, int n) {
  ember_buf_t b = EMBER_BUF_INIT;
  for (int i = first; i < first + n; i++)
    ember_buf_printf(&b, "%s;s%d 1\n", root, i);
  return ember_buf_take(&b, NULL);
}

static size_t cached_dicts(ember_store_t *s) {
  size_t n = 0;
  ember_dicts_stats(s->dicts, NULL, &n, NULL);
  return n;
}

static void test_writer_refuses_a_push_adding_too_many_new_stacks(void **state) {
  fixture_t *f = *state;
  ember_store_config_t cfg = {.data_dir = f->dir, .max_new_stacks = 10};
  f->s = open_store_cfg(&cfg);
  char *twelve = many_stacks("a", 0, 12), *five = many_stacks("a", 0, 5);
  ember_err_t err = {0};
  /* "a" and its 12 children: 13 new stacks. Nothing of it is kept. */
  assert_int_equal(try_put(f->s, "a.cpu", T0, T0 + 10, twelve, &err), EMBER_ELIMIT);
  assert_non_null(strstr(err.msg, "--max-new-stacks"));
  assert_non_null(strstr(err.msg, "more than 10 new distinct stacks"));
  ember_app_info_t *apps;
  size_t n;
  assert_int_equal(ember_store_apps(f->s, &apps, &n, NULL), 0);
  assert_int_equal(n, 0);
  free(apps);
  put(f->s, "a.cpu", T0, T0 + 10, five); /* 6 new */
  /* Known stacks are free: the same 5 again plus 4 more add 4. */
  char *nine = many_stacks("a", 0, 9);
  put(f->s, "a.cpu", T0, T0 + 10, nine);
  assert_int_equal(total_of(f->s, "a.cpu", T0, T0 + 10), 14);
  /* A refusal adds nothing to the caches, so it must not empty them (a
   * stream of refused pushes would otherwise reload every dictionary). */
  size_t cached = cached_dicts(f->s);
  assert_true(cached > 0);
  char *more = many_stacks("a", 100, 11);
  assert_int_equal(try_put(f->s, "a.cpu", T0, T0 + 10, more, &err), EMBER_ELIMIT);
  assert_int_equal(cached_dicts(f->s), cached);
  /* The limit is per push, over all its profiles: 6 + 6 new is too many. */
  char *b5 = many_stacks("b", 0, 5), *c5 = many_stacks("c", 0, 5);
  ember_ingest_result_t r = make_result("b.cpu", T0, T0 + 10, b5, EMBER_AGG_SUM);
  ember_ingest_result_t r2 = make_result("c.cpu", T0, T0 + 10, c5, EMBER_AGG_SUM);
  join_results(&r, &r2);
  assert_int_equal(ember_store_write(f->s, &r, &err), EMBER_ELIMIT);
  ember_ingest_result_free(&r);
  assert_int_equal(total_of(f->s, "a.cpu", T0, T0 + 10), 14);
  int rc;
  ember_tree_free(get_tree(f->s, "b.cpu{}", T0, T0 + 10, &rc));
  assert_int_equal(rc, EMBER_ENOTFOUND);
  free(twelve);
  free(five);
  free(nine);
  free(more);
  free(b5);
  free(c5);
}

/* ---- Deleting a big app ------------------------------------------------ */

/* An app with `rows` segment rows (one per 10 s bucket) and `stacks`
 * distinct stacks. */
static void make_big_app(ember_store_t *s, const char *name, int rows, int stacks) {
  char *wide = many_stacks("main", 0, stacks);
  ember_ingest_result_t r = make_result(name, T0, T0 + 10, wide, EMBER_AGG_SUM);
  free(wide);
  for (int i = 1; i < rows; i++) {
    ember_ingest_result_t m =
        make_result(name, T0 + 10 * i, T0 + 10 * i + 10, "main;s0 1", EMBER_AGG_SUM);
    join_results(&r, &m);
  }
  assert_int_equal(ember_store_write(s, &r, NULL), 0);
  ember_ingest_result_free(&r);
}

typedef struct {
  ember_store_t *s;
  const char *app;
  int rc;
  atomic_bool done;
} deleter_t;

static void *delete_in_background(void *arg) {
  deleter_t *d = arg;
  d->rc = ember_store_delete_app(d->s, d->app, NULL);
  atomic_store(&d->done, true);
  return NULL;
}

/* One transaction for a big app would hold every push up for its whole
 * length: the deletion must commit in chunks, and a push that arrives
 * meanwhile must be answered before the deletion ends. */
static void
test_writer_deletes_a_big_app_in_chunks_that_let_pushes_through(void **state) {
  fixture_t *f = *state;
  f->s = open_store(f->dir, 0, 0);
  make_big_app(f->s, "big.cpu", 6000, 40000);
  put(f->s, "kept.cpu", T0, T0 + 10, "k 4");
  ember_store_stats_t before, after;
  ember_store_stats(f->s, &before);
  deleter_t d = {.s = f->s, .app = "big.cpu", .rc = -1};
  atomic_init(&d.done, false);
  pthread_t th;
  pthread_create(&th, NULL, delete_in_background, &d);
  /* Once the app is hidden (the first step), push. */
  ember_app_info_t a;
  while (ember_store_app(f->s, "big.cpu", &a, NULL) == 0) {
    ember_app_info_free(&a);
    usleep(200);
  }
  put(f->s, "kept.cpu", T0 + 10, T0 + 20, "k 1");
  bool answered_first = !atomic_load(&d.done);
  pthread_join(th, NULL);
  assert_int_equal(d.rc, 0);
  assert_true(answered_first);
  ember_store_stats(f->s, &after);
  fprintf(stderr, "deleting 6000 rows and 40000 stacks took %llu commits\n",
          (unsigned long long)(after.commits - before.commits));
  assert_true(after.commits - before.commits >= 5);
  assert_int_equal(after.rows_deleted - before.rows_deleted, 6000);
  assert_int_equal(total_of(f->s, "kept.cpu{}", T0, T0 + 20), 5);
  int rc;
  ember_tree_free(get_tree(f->s, "big.cpu{}", T0, T0 + 100000, &rc));
  assert_int_equal(rc, EMBER_ENOTFOUND);
}

/* The first step alone: the app is gone for every reader, its name is free
 * for a new app, and its rows wait for the chunks. */
static void hide(ember_store_t *s, const char *app) {
  ember_job_t j;
  memset(&j, 0, sizeof j);
  j.run = ember_apply_hide_app;
  j.app = (char *)app;
  assert_int_equal(ember_writer_call(s, &j, NULL), 0);
}

static void test_writer_hides_an_app_from_the_first_step_of_its_deletion(void **state) {
  fixture_t *f = *state;
  f->s = open_store(f->dir, 0, 0);
  put(f->s, "gone.cpu{pod=a}", T0, T0 + 10, "a;b 2");
  put(f->s, "kept.cpu", T0, T0 + 10, "k 4");
  hide(f->s, "gone.cpu");
  ember_app_info_t a;
  assert_int_equal(ember_store_app(f->s, "gone.cpu", &a, NULL), EMBER_ENOTFOUND);
  ember_app_info_t *apps;
  size_t n;
  assert_int_equal(ember_store_apps(f->s, &apps, &n, NULL), 0);
  assert_int_equal(n, 1);
  assert_string_equal(apps[0].name, "kept.cpu");
  ember_app_info_free(&apps[0]);
  free(apps);
  int rc;
  ember_tree_free(get_tree(f->s, "gone.cpu{}", T0, T0 + 10, &rc));
  assert_int_equal(rc, EMBER_ENOTFOUND);
  assert_int_equal(count_sql(f->dir, "SELECT COUNT(*) FROM segments"), 2);
  /* The name is free at once: a new app starts empty. */
  put(f->s, "gone.cpu", T0, T0 + 10, "fresh 7");
  ember_tree_t *t = get_tree(f->s, "gone.cpu{}", T0, T0 + 10, &rc);
  assert_int_equal(rc, 0);
  assert_int_equal(ember_tree_total(t, 0), 7);
  assert_true(self_at(t, "a;b", 0) == UINT64_MAX);
  ember_tree_free(t);
  /* The maintenance pass finishes what the first step began. */
  assert_int_equal(ember_maint_pass(f->s, 0, NULL), 0);
  assert_int_equal(count_sql(f->dir, "SELECT COUNT(*) FROM segments"), 2);
  assert_int_equal(count_sql(f->dir, "SELECT COUNT(*) FROM app_rows"), 2);
  assert_int_equal(count_sql(f->dir, "SELECT COUNT(*) FROM stacks"), 2); /* k, fresh */
  assert_int_equal(total_of(f->s, "gone.cpu{}", T0, T0 + 10), 7);
}

static void test_writer_finishes_a_deletion_a_stop_interrupted(void **state) {
  fixture_t *f = *state;
  f->s = open_store(f->dir, 0, 0);
  make_big_app(f->s, "big.cpu", 50, 3000);
  hide(f->s, "big.cpu");
  ember_store_close(f->s);
  f->s = open_store(f->dir, 0, 0); /* its maintenance thread takes over */
  int64_t left = -1;
  for (int i = 0; i < 500 && left != 0; i++) {
    usleep(20000);
    left = count_sql(f->dir, "SELECT COUNT(*) FROM app_rows") +
           count_sql(f->dir, "SELECT COUNT(*) FROM stacks") +
           count_sql(f->dir, "SELECT COUNT(*) FROM segments");
  }
  assert_int_equal(left, 0);
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
  while (acked < 30 && read(fds[0], &i, sizeof i) == sizeof i)
    acked = i;
  kill(pid, SIGKILL);
  int status;
  waitpid(pid, &status, 0);
  assert_true(WIFSIGNALED(status));
  while (read(fds[0], &i, sizeof i) == sizeof i)
    acked = i; /* drain */
  close(fds[0]);
  f->s = open_store(f->dir, 0, 0);
  uint64_t stored = total_of(f->s, "crash.cpu", T0, T0 + 10 * (acked + 10));
  /* Everything acknowledged is there; at most the one write in flight more. */
  assert_true(stored >= (uint64_t)acked + 1);
  assert_true(stored <= (uint64_t)acked + 2);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(
          test_writer_answers_a_write_only_after_it_is_committed, dir_setup,
          store_teardown),
      cmocka_unit_test_setup_teardown(
          test_writer_answers_every_concurrent_submit_exactly_once, dir_setup,
          store_teardown),
      cmocka_unit_test_setup_teardown(
          test_writer_refuses_with_ebusy_when_the_queue_is_full, dir_setup,
          store_teardown),
      cmocka_unit_test_setup_teardown(test_writer_close_commits_and_answers_pending_work,
                                      dir_setup, store_teardown),
      cmocka_unit_test_setup_teardown(test_writer_refuses_submits_once_shutting_down,
                                      dir_setup, store_teardown),
      cmocka_unit_test_setup_teardown(test_writer_fails_a_bad_request_alone_in_its_batch,
                                      dir_setup, store_teardown),
      cmocka_unit_test_setup_teardown(test_writer_deletes_an_app_and_all_its_data,
                                      dir_setup, store_teardown),
      cmocka_unit_test_setup_teardown(test_writer_counts_every_row_it_writes, dir_setup,
                                      store_teardown),
      cmocka_unit_test_setup_teardown(
          test_writer_keeps_every_acknowledged_write_across_kill_9, dir_setup,
          store_teardown),
      cmocka_unit_test_setup_teardown(
          test_writer_refuses_a_push_adding_too_many_new_stacks, dir_setup,
          store_teardown),
      cmocka_unit_test_setup_teardown(
          test_writer_deletes_a_big_app_in_chunks_that_let_pushes_through, dir_setup,
          store_teardown),
      cmocka_unit_test_setup_teardown(
          test_writer_hides_an_app_from_the_first_step_of_its_deletion, dir_setup,
          store_teardown),
      cmocka_unit_test_setup_teardown(test_writer_finishes_a_deletion_a_stop_interrupted,
                                      dir_setup, store_teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
