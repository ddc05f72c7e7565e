/* Tests for src/client/export.c: atomic file writes and the request
 * `ember export` makes, against a one-connection server on 127.0.0.1. */
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

#include "client/fake_server.h"
#include "ember/client.h"

typedef struct {
  char dir[256];
  char path[300];
} tmp_t;

static int setup(void **state) {
  tmp_t *t = calloc(1, sizeof *t);
  const char *base = getenv("TMPDIR");
  snprintf(t->dir, sizeof t->dir, "%s/ember-export-XXXXXX", base && *base ? base : "/tmp");
  assert_non_null(mkdtemp(t->dir));
  snprintf(t->path, sizeof t->path, "%s/out.svg", t->dir);
  *state = t;
  return 0;
}

static int teardown(void **state) {
  tmp_t *t = *state;
  DIR *d = opendir(t->dir);
  struct dirent *e;
  while (d && (e = readdir(d)) != NULL) {
    if (e->d_name[0] == '.') continue;
    char p[600];
    snprintf(p, sizeof p, "%s/%s", t->dir, e->d_name);
    if (remove(p)) rmdir(p);
  }
  if (d) closedir(d);
  rmdir(t->dir);
  free(t);
  return 0;
}

/* Number of entries in dir. */
static int entries(const char *dir) {
  DIR *d = opendir(dir);
  int n = 0;
  struct dirent *e;
  while (d && (e = readdir(d)) != NULL)
    if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) n++;
  if (d) closedir(d);
  return n;
}

/* The file's contents (static buffer), "" when it cannot be read. */
static const char *slurp(const char *path) {
  static char buf[4096];
  FILE *f = fopen(path, "rb");
  size_t n = f ? fread(buf, 1, sizeof buf - 1, f) : 0;
  if (f) fclose(f);
  buf[n] = '\0';
  return buf;
}

/* ---- Writing ----------------------------------------------------------- */

static void test_write_file_creates_it_and_leaves_nothing_else(void **state) {
  tmp_t *t = *state;
  ember_err_t err;
  assert_int_equal(ember_client_write_file(t->path, "<svg/>", 6, &err), 0);
  assert_string_equal(slurp(t->path), "<svg/>");
  assert_int_equal(entries(t->dir), 1);
}

static void test_write_file_replaces_an_existing_file(void **state) {
  tmp_t *t = *state;
  ember_err_t err;
  assert_int_equal(ember_client_write_file(t->path, "old contents", 12, &err), 0);
  assert_int_equal(ember_client_write_file(t->path, "new", 3, &err), 0);
  assert_string_equal(slurp(t->path), "new");
  assert_int_equal(entries(t->dir), 1);
}

static void test_write_file_into_a_missing_directory_fails_cleanly(void **state) {
  tmp_t *t = *state;
  char path[400];
  snprintf(path, sizeof path, "%s/no/such/dir/out.svg", t->dir);
  ember_err_t err;
  assert_int_equal(ember_client_write_file(path, "x", 1, &err), EMBER_EIO);
  assert_non_null(strstr(err.msg, "cannot write '"));
  assert_non_null(strstr(err.msg, "No such file or directory"));
  assert_int_equal(entries(t->dir), 0);
}

static void test_write_file_over_a_directory_leaves_no_temporary_file(void **state) {
  tmp_t *t = *state;
  assert_int_equal(mkdir(t->path, 0755), 0);
  ember_err_t err;
  assert_int_equal(ember_client_write_file(t->path, "x", 1, &err), EMBER_EIO);
  assert_non_null(strstr(err.msg, "cannot write '"));
  assert_int_equal(entries(t->dir), 1); /* the directory itself */
}

/* ---- Export ------------------------------------------------------------ */

static int export_to(fake_server_t *f, const char *output, const char *format,
                     size_t *bytes, ember_err_t *err) {
  char server[64];
  snprintf(server, sizeof server, "http://127.0.0.1:%u", f->port);
  ember_export_opts_t o = {.server = server,
                           .query = "app.cpu{region=\"eu north\"}",
                           .from = "now-6h",
                           .format = format,
                           .max_nodes = "-1",
                           .output = output,
                           .timeout_ms = 5000};
  fake_run(f);
  int rc = ember_client_export(&o, bytes, err);
  fake_stop(f);
  return rc;
}

static void test_export_asks_for_render_with_every_option(void **state) {
  tmp_t *t = *state;
  fake_server_t f;
  fake_start(&f, "HTTP/1.1 200 OK\r\nContent-Type: image/svg+xml\r\nContent-Length: 6\r\n\r\n"
                 "<svg/>", 0);
  size_t bytes = 0;
  ember_err_t err;
  int rc = export_to(&f, t->path, "svg", &bytes, &err);
  if (rc) fprintf(stderr, "export: %s\n", err.msg);
  assert_int_equal(rc, 0);
  assert_int_equal(bytes, 6);
  assert_string_equal(slurp(t->path), "<svg/>");
  const char *want = "GET /render?query=app.cpu%7Bregion%3D%22eu%20north%22%7D"
                     "&from=now-6h&until=now&format=svg&maxNodes=-1 HTTP/1.1\r\n";
  if (strncmp(f.request, want, strlen(want))) fprintf(stderr, "request: %s\n", f.request);
  assert_int_equal(strncmp(f.request, want, strlen(want)), 0);
}

static void test_export_of_an_error_says_the_server_message_and_writes_nothing(void **state) {
  tmp_t *t = *state;
  ember_err_t err;
  assert_int_equal(ember_client_write_file(t->path, "keep me", 7, &err), 0);
  fake_server_t f;
  fake_start(&f, "HTTP/1.1 400 Bad Request\r\nContent-Type: application/json\r\n"
                 "Content-Length: 45\r\n\r\n{\"error\":\"query: expected '}' at position 9\"}",
             0);
  size_t bytes = 99;
  assert_int_equal(export_to(&f, t->path, "json", &bytes, &err), EMBER_EINVAL);
  assert_string_equal(err.msg, "the server answered 400: query: expected '}' at position 9");
  assert_int_equal(bytes, 99);
  assert_string_equal(slurp(t->path), "keep me");
  assert_int_equal(entries(t->dir), 1);
}

static void test_export_of_a_server_failure_is_an_io_error(void **state) {
  tmp_t *t = *state;
  fake_server_t f;
  fake_start(&f, "HTTP/1.1 500 Internal Server Error\r\nContent-Length: 23\r\n\r\n"
                 "{\"error\":\"disk I/O\"}   ", 0);
  size_t bytes = 0;
  ember_err_t err;
  assert_int_equal(export_to(&f, t->path, "json", &bytes, &err), EMBER_EIO);
  assert_string_equal(err.msg, "the server answered 500: disk I/O");
  assert_int_equal(entries(t->dir), 0);
}

int main(void) {
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
  const struct CMUnitTest tests[] = {
      T(test_write_file_creates_it_and_leaves_nothing_else),
      T(test_write_file_replaces_an_existing_file),
      T(test_write_file_into_a_missing_directory_fails_cleanly),
      T(test_write_file_over_a_directory_leaves_no_temporary_file),
      T(test_export_asks_for_render_with_every_option),
      T(test_export_of_an_error_says_the_server_message_and_writes_nothing),
      T(test_export_of_a_server_failure_is_an_io_error),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
