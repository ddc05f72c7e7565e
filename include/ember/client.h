/*
 * client.h - the other end of Ember's HTTP API, for the command line:
 * `ember export` asks a running server for a rendered profile and writes it
 * to a file; `ember spy record` pushes what it samples to /ingest.
 *
 * Plain HTTP/1.1, one blocking TCP connection per request, http:// only
 * (https is refused with a message saying so). Enough to talk to Ember and
 * to a reverse proxy in front of it; not a general-purpose client.
 */
#ifndef EMBER_CLIENT_H
#define EMBER_CLIENT_H

#include "ember/common.h"

#define EMBER_CLIENT_DEFAULT_SERVER "http://127.0.0.1:4040"
#define EMBER_CLIENT_DEFAULT_TIMEOUT_MS 60000
/* Larger responses are refused rather than held in memory. */
#define EMBER_CLIENT_MAX_RESPONSE ((size_t)1 << 31)

/* ---- URLs -------------------------------------------------------------- */

/* Where a server is: http://HOST[:PORT][/PREFIX]. */
typedef struct {
  char host[256];   /* a name or an address; IPv6 without its brackets */
  uint16_t port;    /* 80 when the URL names none, as for any http:// URL */
  char prefix[512]; /* path before the API's paths, "" or "/ember" (no
                     * trailing slash) */
} ember_client_url_t;

/* Parses url: "http://127.0.0.1:4040", "localhost:4040" (http assumed),
 * "http://[::1]:4040", "http://proxy.internal/ember/". Writes *out only on
 * success; EMBER_EINVAL with a message that says what to write otherwise
 * (https, credentials, a query string, an unbracketed IPv6 address, a bad
 * port). */
int ember_client_url_parse(const char *url, ember_client_url_t *out,
                           ember_err_t *err);

/* Appends s percent-encoded for a query string value: every byte but the
 * unreserved A-Z a-z 0-9 - . _ ~ becomes %XX. */
void ember_client_urlencode(ember_buf_t *b, const char *s);

/* ---- Requests ---------------------------------------------------------- */

/* A response. Owns body; free with ember_client_resp_free. */
typedef struct {
  int status;
  char content_type[128]; /* "" when the server sent none */
  int retry_after;        /* seconds of a Retry-After in seconds, -1 for none */
  ember_buf_t body;       /* decoded (chunked transfer undone) */
} ember_client_resp_t;

/* Parses one complete HTTP/1.x response, as read until the server closed
 * the connection: status line, headers, then a body delimited by
 * Content-Length, chunked transfer encoding, or the end of data. Writes
 * *out only on success (caller frees it); EMBER_EIO when the bytes are not
 * a whole response. */
int ember_client_response_parse(const char *data, size_t n,
                                ember_client_resp_t *out, ember_err_t *err);

/* GET prefix + target (target starts with '/', query string encoded) from
 * the server at u, with `Authorization: Bearer token` when token is not
 * NULL, waiting at most timeout_ms for the connection and for each read. Any status is a success here: the caller looks at it. Fails
 * with EMBER_EIO and a one-line message naming the server when it cannot
 * be resolved, refuses the connection ("start it with `ember serve`"),
 * times out, or answers something that is not HTTP. */
int ember_client_get(const ember_client_url_t *u, const char *target,
                     const char *token, int timeout_ms, ember_client_resp_t *out,
                     ember_err_t *err);

/* POSTs body[0..n) to prefix + target as ember_client_get sends a GET,
 * with Content-Type content_type and, when not NULL, Content-Encoding
 * encoding. Fails as ember_client_get does. */
int ember_client_post(const ember_client_url_t *u, const char *target,
                      const char *token, const char *content_type,
                      const char *encoding, const void *body, size_t n,
                      int timeout_ms, ember_client_resp_t *out, ember_err_t *err);

/* Frees what r owns; r may be zeroed or NULL. */
void ember_client_resp_free(ember_client_resp_t *r);

/* Appends the message of an error response: the "error" string of Ember's
 * JSON body, else the body's first line, made printable (control
 * characters as '?') and cut to 300 bytes; "(no message)" for none. */
void ember_client_error_message(const ember_client_resp_t *r, ember_buf_t *out);

/* Writes n bytes to path atomically: into a new file beside it, flushed to
 * disk, then renamed over path, so a reader sees the old file or the whole
 * new one, never a part. A failure leaves path as it was and no temporary
 * file behind. EMBER_EIO with the path and the reason. */
int ember_client_write_file(const char *path, const void *data, size_t n,
                            ember_err_t *err);

/* ---- Retries ----------------------------------------------------------- */

/* The retry rules of Ember's agents, for every pusher of this binary: a
 * connection error, a timeout, 429 or 5xx is retried after a delay that
 * starts at 0.5 s and doubles up to 10 s, each drawn between half and all
 * of it so that pushers restarting together spread out (a 429's
 * Retry-After, up to 10 s, is the delay instead); after 3 retries the push
 * is given up. Any other answer (400, 401, 413, 422: the request itself is
 * wrong) is given up at once, since sending it again cannot help. */
#define EMBER_CLIENT_RETRIES 3
#define EMBER_CLIENT_BACKOFF_MS 500
#define EMBER_CLIENT_MAX_BACKOFF_MS 10000

/* Whether a push that failed with status (0: no answer) is worth retrying. */
bool ember_client_retryable(int status);
/* The delay before retry number attempt (0-based) of a push that failed
 * with status (0: no answer) and Retry-After retry_after_s (-1: none);
 * jitter in [0, 1) draws it between half and all of the backoff. */
int ember_client_retry_delay_ms(int status, int retry_after_s, unsigned attempt,
                                double jitter);

/* ---- ember export ------------------------------------------------------ */

/* Options of `ember export`, already checked by the command line: format
 * is one the server renders, max_nodes a count or "-1". Strings borrowed;
 * NULL means the default. */
typedef struct {
  const char *server;    /* EMBER_CLIENT_DEFAULT_SERVER */
  const char *query;     /* required */
  const char *from;      /* "now-1h" */
  const char *until;     /* "now" */
  const char *format;    /* "json" */
  const char *max_nodes; /* the server's default */
  const char *output;    /* "-": standard output */
  int timeout_ms;        /* 0: EMBER_CLIENT_DEFAULT_TIMEOUT_MS */
  const char *token;     /* for a server with --auth-token-file; NULL: none */
} ember_export_opts_t;

/* Fetches GET /render with the options as parameters and writes the body
 * to the output (atomically, see ember_client_write_file). On success sets
 * *bytes to the bytes written. Fails with the server's own message when it
 * answers an error (EMBER_EINVAL for 4xx, EMBER_EIO otherwise), and with
 * EMBER_EIO when it cannot be reached or the output cannot be written;
 * nothing is written then. */
int ember_client_export(const ember_export_opts_t *o, size_t *bytes,
                        ember_err_t *err);

/* ---- ember push -------------------------------------------------------- */

/* One profile for /ingest, already checked by the command line. Strings
 * and body borrowed; NULL leaves a parameter to the server's default. */
typedef struct {
  const char *server;           /* EMBER_CLIENT_DEFAULT_SERVER */
  const char *name;             /* the series, "app{k=v,...}" (required) */
  const char *from, *until;     /* /ingest's times: Unix seconds or now-1m */
  const char *format;           /* folded, lines, pprof or jfr */
  const char *sample_rate;
  const char *units;
  const char *spy_name;
  const char *content_type;     /* NULL: none */
  const char *content_encoding; /* "gzip" for a gzipped text body; NULL */
  const void *body;
  size_t len;
  unsigned max_retries; /* EMBER_CLIENT_RETRIES for the agents' rule; 0: none */
  int timeout_ms;       /* per request; 0: EMBER_CLIENT_DEFAULT_TIMEOUT_MS */
  const char *token;    /* NULL: none */
} ember_push_opts_t;

/* POSTs the body to /ingest, retrying a connection error, 429 or 5xx by
 * the rules above. *retries (may be NULL) gets the retries made. Fails
 * with the server's own message: EMBER_EINVAL when it refused the request
 * (4xx but 429: retrying cannot help), EMBER_EIO when it could not be
 * reached or stayed busy through every retry. */
int ember_client_push(const ember_push_opts_t *o, unsigned *retries, ember_err_t *err);

#endif
