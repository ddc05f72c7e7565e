/* Integration: three `ember serve` nodes share one PostgreSQL database.
 * Pushes go round-robin to the nodes and every node gives the same
 * answers; a node killed with SIGKILL in the middle of ingest loses no
 * push it acknowledged; the maintenance moves to a surviving node. Needs
 * the throw-away PostgreSQL of scripts/pgtest.sh (else exit 77). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../store/pg_helpers.h"
#include "harness.h"

#define NODES 3

static char *url;

static void start_nodes(it_server_t *n) {
  const char *args[] = {"--store", url, NULL};
  for (int i = 0; i < NODES; i++) {
    memset(&n[i], 0, sizeof n[i]);
    it_start(&n[i], args);
  }
}

/* The value of a metric in GET /metrics of s, or -1. */
static long metric(const it_server_t *s, const char *name) {
  it_resp_t r;
  if (it_http(s, "GET", "/metrics", NULL, NULL, 0, &r)) return -1;
  long v = -1;
  char key[128];
  snprintf(key, sizeof key, "\n%s ", name);
  const char *p = r.body ? strstr(r.body, key) : NULL;
  if (p) v = atol(p + strlen(key));
  it_resp_free(&r);
  return v;
}

static void test_round_robin_pushes_read_the_same_on_every_node(void **state) {
  it_server_t n[NODES];
  start_nodes(n);
  long t0 = (long)time(NULL) - 600;
  for (int i = 0; i < 60; i++) {
    char folded[128];
    snprintf(folded, sizeof folded, "main;handler;f%d %d\nmain;gc 1\n", i % 7, i + 1);
    assert_int_equal(it_ingest(&n[i % NODES], "shop.cpu{pod=p1}", t0 + i, t0 + i, folded),
                     200);
  }
  char *first = NULL;
  for (int i = 0; i < NODES; i++) {
    json_t *r = it_render(&n[i], "shop.cpu", t0 - 10, t0 + 100, NULL);
    assert_int_equal(it_ticks(r), 60 * 61 / 2 + 60);
    char *dump = json_dumps(json_object_get(r, "flamebearer"), JSON_SORT_KEYS);
    if (!first) first = dump;
    else {
      assert_string_equal(first, dump);
      free(dump);
    }
    json_decref(r);
  }
  free(first);
  for (int i = 0; i < NODES; i++) {
    assert_int_equal(it_stop(&n[i]), 0);
    it_cleanup(&n[i]);
  }
}

static void test_a_killed_node_loses_no_acknowledged_push_and_maintenance_moves(
    void **state) {
  it_server_t n[NODES];
  start_nodes(n);
  /* Exactly one node does maintenance. */
  int owner = -1, owners = 0;
  for (int tries = 0; tries < 100 && owners != 1; tries++) {
    owners = 0;
    for (int i = 0; i < NODES; i++)
      if (metric(&n[i], "ember_store_maintenance_owner") == 1) owner = i, owners++;
    if (owners != 1) usleep(100000);
  }
  assert_int_equal(owners, 1);
  int victim = owner;
  /* A child pushes to the victim as fast as it answers and reports every
   * push answered 200; the victim is killed meanwhile. */
  int fds[2];
  assert_int_equal(pipe(fds), 0);
  long t0 = (long)time(NULL) - 300;
  pid_t child = fork();
  if (child == 0) {
    close(fds[0]);
    for (int i = 0;; i++) {
      char folded[64];
      snprintf(folded, sizeof folded, "main;push%d 1\n", i);
      if (it_ingest(&n[victim], "kill.cpu", t0, t0, folded) == 200) {
        if (write(fds[1], &i, sizeof i) != sizeof i) _exit(1);
      } else if (i > 0) {
        _exit(0);
      }
    }
  }
  close(fds[1]);
  usleep(1500000);
  it_kill9(&n[victim]);
  int acked[100000], nacked = 0, v;
  while (nacked < 100000 && read(fds[0], &v, sizeof v) == sizeof v) acked[nacked++] = v;
  close(fds[0]);
  waitpid(child, NULL, 0);
  assert_true(nacked > 10);
  int survivor = (victim + 1) % NODES;
  json_t *r = it_render(&n[survivor], "kill.cpu", t0 - 10, t0 + 10, "maxNodes=-1");
  for (int i = 0; i < nacked; i++) {
    char name[32];
    long total, self;
    snprintf(name, sizeof name, "push%d", acked[i]);
    if (!it_node(r, name, &total, &self))
      fail_msg("push %d was answered 200 and is not stored", acked[i]);
  }
  json_decref(r);
  /* A survivor takes the maintenance over within a few seconds. */
  owners = 0;
  for (int tries = 0; tries < 200 && owners != 1; tries++) {
    owners = 0;
    for (int i = 0; i < NODES; i++)
      if (i != victim && metric(&n[i], "ember_store_maintenance_owner") == 1) owners++;
    if (owners != 1) usleep(100000);
  }
  assert_int_equal(owners, 1);
  printf("%d acknowledged pushes to the killed node, all stored\n", nacked);
  for (int i = 0; i < NODES; i++) {
    if (i != victim) assert_int_equal(it_stop(&n[i]), 0);
    it_cleanup(&n[i]);
  }
}

/* The sessions holding the maintenance lock (EMBER_PG_LOCK_CLASS and
 * EMBER_PG_LOCK_MAINT of src/store/pg/pg_int.h), each passed through fn. */
static int lock_holders(const char *fn) {
  char sql[300];
  snprintf(sql, sizeof sql,
           "SELECT %s(pid) FROM pg_locks WHERE locktype='advisory' AND classid=%d "
           "AND objid=%d AND objsubid=2 AND granted",
           fn, 0x656d6265, 2);
  PGconn *c = PQconnectdb(url);
  assert_int_equal(PQstatus(c), CONNECTION_OK);
  PGresult *r = PQexec(c, sql);
  assert_int_equal(PQresultStatus(r), PGRES_TUPLES_OK);
  int n = PQntuples(r);
  PQclear(r);
  PQfinish(c);
  return n;
}

/* The database ends the maintenance node's session (as a restart of
 * PostgreSQL or an operator's pg_terminate_backend would): the lock goes
 * with it. The node that held it learns so within its next check (every
 * second) and stops counting itself the owner, while a node (itself
 * again, or another on its 5 s try) takes the lock. Two nodes may report
 * it only within that second. */
static void test_a_lost_maintenance_session_moves_the_maintenance(void **state) {
  it_server_t n[NODES];
  start_nodes(n);
  int owner = -1, owners = 0;
  for (int tries = 0; tries < 100 && owners != 1; tries++) {
    owners = 0;
    for (int i = 0; i < NODES; i++)
      if (metric(&n[i], "ember_store_maintenance_owner") == 1) owner = i, owners++;
    if (owners != 1) usleep(100000);
  }
  assert_int_equal(owners, 1);
  assert_int_equal(lock_holders("pg_terminate_backend"), 1);
  /* For 12 s (every node tries twice): two owners in at most 1.5 s of
   * polls, never three; then exactly one, and the lock held again in the
   * database. */
  int most = 0, doubled = 0, now_owner = -1;
  for (int tries = 0; tries < 120; tries++) {
    owners = 0;
    for (int i = 0; i < NODES; i++)
      if (metric(&n[i], "ember_store_maintenance_owner") == 1) now_owner = i, owners++;
    most = owners > most ? owners : most;
    doubled += owners > 1;
    usleep(100000);
  }
  fprintf(stderr,
          "maintenance owner: node %d, then node %d; two owners in %d polls of 120\n",
          owner, now_owner, doubled);
  assert_true(most <= 2);
  assert_true(doubled <= 15);
  assert_int_equal(owners, 1);
  assert_int_equal(lock_holders(""), 1);
  for (int i = 0; i < NODES; i++) {
    assert_int_equal(it_stop(&n[i]), 0);
    it_cleanup(&n[i]);
  }
}

static int new_db(void **state) {
  free(url);
  url = pg_new_db();
  return 0;
}

int main(void) {
  pg_require();
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup(test_round_robin_pushes_read_the_same_on_every_node, new_db),
      cmocka_unit_test_setup(
          test_a_killed_node_loses_no_acknowledged_push_and_maintenance_moves, new_db),
      cmocka_unit_test_setup(test_a_lost_maintenance_session_moves_the_maintenance, new_db),
  };
  int rc = cmocka_run_group_tests(tests, NULL, NULL);
  free(url);
  return rc;
}
