/*
 * harness.h - what the integration tests share: start the real ember binary
 * on 127.0.0.1 with a free port and a temporary data directory, speak
 * HTTP/1.1 to it over a plain socket, stop or kill it.
 */
#ifndef EMBER_TEST_HARNESS_H
#define EMBER_TEST_HARNESS_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

typedef struct {
  pid_t pid;
  int out_fd; /* the server's stdout */
  uint16_t port;
  char data_dir[256];
} it_server_t;

/* Starts `ember serve --listen 127.0.0.1:0 --data <dir>` plus extra_args
 * (NULL-terminated, may be NULL). A new temporary data dir is made unless
 * s->data_dir is already set (for restarts). Fails the test on error. */
void it_start(it_server_t *s, const char *const *extra_args);
/* As it_start, with the extra environment "K=V" strings of env
 * (NULL-terminated, may be NULL) added to the server's. */
void it_start_env(it_server_t *s, const char *const *extra_args,
                  const char *const *env);
/* SIGTERM and wait; returns the exit status (or -1 if killed by a signal). */
int it_stop(it_server_t *s);
/* SIGKILL and wait. */
void it_kill9(it_server_t *s);
/* Removes the data directory. */
void it_cleanup(it_server_t *s);

typedef struct {
  int status;
  char *head; /* status line and headers */
  char *body;
  size_t body_len;
} it_resp_t;

/* One request on its own connection. extra_headers: "Name: v\r\n..." or
 * NULL. Returns 0, or -1 when the connection failed. */
int it_http(const it_server_t *s, const char *method, const char *target,
            const char *extra_headers, const void *body, size_t len,
            it_resp_t *out);
void it_resp_free(it_resp_t *r);
/* Value of a response header (malloc'd, caller frees), or NULL. */
char *it_header(const it_resp_t *r, const char *name);
/* The body parsed as JSON (caller decrefs); fails the test if it is not. */
json_t *it_json(const it_resp_t *r);

/* Shorthands that fail the test unless the status matches. */
void it_expect(const it_server_t *s, int status, const char *method,
               const char *target, const void *body, size_t len, it_resp_t *out);
/* Percent-encodes s for a query string (caller frees). */
char *it_urlencode(const char *s);
/* GET /render?query=<encoded q>&from=..&until=..&<extra> and parse JSON. */
json_t *it_render(const it_server_t *s, const char *query, long from, long until,
                  const char *extra);
/* POST folded text to /ingest?name=<encoded name>&from&until. Returns status. */
int it_ingest(const it_server_t *s, const char *name, long from, long until,
              const char *folded);
/* Sum of numTicks of a /render JSON. */
long it_ticks(json_t *render);
/* The (total, self) of the first node named `name` in a flamebearer
 * response; false when absent. */
bool it_node(json_t *render, const char *name, long *total, long *self);


/* Runs `ember <args...>` (NULL-terminated) to completion; returns its exit
 * status and what it printed (caller frees both strings). */
int it_run(const char *const *args, char **out, char **err);
/* As it_run, with the extra environment "K=V" strings of env added. */
int it_run_env(const char *const *args, const char *const *env, char **out,
               char **err);

/* ---- Other programs (the real agents) ---------------------------------- */

/* Runs argv[0] (looked up in PATH) in directory cwd (NULL: here) with the
 * extra environment "K=V" strings of env (NULL-terminated, may be NULL),
 * killing it after timeout_s seconds. Its stdout and stderr go to
 * *output (caller frees; may be NULL to discard). Returns the exit status,
 * or -1 when it could not run or was killed. */
int it_exec(const char *const *argv, const char *cwd, const char *const *env,
            int timeout_s, char **output);
/* True when prog is an executable in PATH. */
bool it_have(const char *prog);
/* Writes n bytes to path; fails the test on error. */
void it_write_file(const char *path, const void *p, size_t n);
/* A new temporary directory (caller removes it with it_rmtree). */
void it_mkdtemp(char *buf, size_t size, const char *prefix);
void it_rmtree(const char *dir);

/* Sums the total and self of every node named name (or, with substring,
 * whose name contains it) in a flamebearer response; false when none. */
bool it_frames(json_t *render, const char *name, bool substring, long *total,
               long *self);

/* Raw connections, for keep-alive and partial sends. */
int it_connect(const it_server_t *s);
void it_send(int fd, const void *p, size_t n);
/* Reads one response (by Content-Length) from a keep-alive connection. */
int it_read_response(int fd, it_resp_t *out);

#endif
