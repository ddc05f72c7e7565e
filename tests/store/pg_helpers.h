/* The backend a store test runs against: SQLite in a temporary directory,
 * or, with EMBER_TEST_STORE=postgres, a new database on the throw-away
 * PostgreSQL that scripts/pgtest.sh started (its URL in the file named by
 * EMBER_TEST_PG_STATE). Header-only; include after cmocka.h. */
#ifndef EMBER_TESTS_STORE_PG_HELPERS_H
#define EMBER_TESTS_STORE_PG_HELPERS_H

#include <libpq-fe.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static inline bool test_on_pg(void) {
  const char *b = getenv("EMBER_TEST_STORE");
  return b && strcmp(b, "postgres") == 0;
}

/* The server's URL (database "postgres"), or NULL when none runs. Caller
 * frees. */
static inline char *pg_server_url(void) {
  const char *state = getenv("EMBER_TEST_PG_STATE");
  FILE *f = state ? fopen(state, "r") : NULL;
  if (!f) return NULL;
  char line[1024];
  char *url = fgets(line, sizeof line, f) ? strdup(line) : NULL;
  fclose(f);
  if (url) url[strcspn(url, "\n")] = '\0';
  return url;
}

/* Exits 77 with a line saying why when no PostgreSQL runs for the tests. */
static inline void pg_require(void) {
  char *url = pg_server_url();
  if (!url) {
    printf("SKIP: no test PostgreSQL (scripts/pgtest.sh did not start one; "
           "install postgresql-15 with scripts/deps.sh --test)\n");
    exit(77);
  }
  free(url);
}

static inline void pg_quiet(void *arg, const char *msg) {}

/* A new empty database; its URL (caller frees). */
static inline char *pg_new_db(void) {
  static int seq;
  char *server = pg_server_url();
  assert_non_null(server);
  PGconn *c = PQconnectdb(server);
  assert_int_equal(PQstatus(c), CONNECTION_OK);
  PQsetNoticeProcessor(c, pg_quiet, NULL);
  char name[64], sql[200];
  snprintf(name, sizeof name, "ember_t%d_%d", (int)getpid(), seq++);
  snprintf(sql, sizeof sql, "DROP DATABASE IF EXISTS %s", name);
  PQclear(PQexec(c, sql));
  snprintf(sql, sizeof sql, "CREATE DATABASE %s", name);
  PGresult *r = PQexec(c, sql);
  assert_int_equal(PQresultStatus(r), PGRES_COMMAND_OK);
  PQclear(r);
  PQfinish(c);
  char *at = strstr(server, "/postgres?");
  assert_non_null(at);
  size_t n = strlen(server) + strlen(name) + 8;
  char *url = malloc(n);
  snprintf(url, n, "%.*s/%s%s", (int)(at - server), server, name, at + 9);
  free(server);
  return url;
}

#endif
