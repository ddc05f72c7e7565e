/*
 * http.c - one HTTP/1.1 GET over a plain TCP connection, and the parsing of
 * what comes back.
 *
 * The request says "Connection: close", so the response is read until the
 * server closes (or, when it announced a Content-Length, until that many
 * body bytes are in) and then parsed in one piece: the parser is a pure
 * function of the bytes, which is what the tests drive. Every wait has a
 * timeout: connecting, and each read and write.
 *
 * Failures are worded for the person at the terminal: they name the server
 * as a URL and say what to do (start it, fix --server, raise --timeout).
 */
#include "ember/client.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <jansson.h>

/* ---- Private functions ------------------------------------------------- */

/* "http://host:port/prefix" as a person would type it. */
static void show_url(const ember_client_url_t *u, char *buf, size_t cap) {
  bool v6 = strchr(u->host, ':') != NULL;
  snprintf(buf, cap, "http://%s%s%s:%u%s", v6 ? "[" : "", u->host, v6 ? "]" : "", u->port,
           u->prefix);
}

/* connect() that gives up after timeout_ms. Returns 0 or an errno. */
static int connect_within(int fd, const struct sockaddr *a, socklen_t len, int timeout_ms) {
  int flags = fcntl(fd, F_GETFL);
  if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK)) return errno;
  if (connect(fd, a, len) != 0) {
    if (errno != EINPROGRESS) return errno;
    struct pollfd p = {fd, POLLOUT, 0};
    int r;
    do r = poll(&p, 1, timeout_ms);
    while (r < 0 && errno == EINTR);
    if (r == 0) return ETIMEDOUT;
    if (r < 0) return errno;
    int soerr = 0;
    socklen_t sl = sizeof soerr;
    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl)) return errno;
    if (soerr) return soerr;
  }
  if (fcntl(fd, F_SETFL, flags)) return errno;
  struct timeval tv = {timeout_ms / 1000, (timeout_ms % 1000) * 1000};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  return 0;
}

/* Connects to the first address of u's host that answers. OUT: *fd. */
static int dial(const ember_client_url_t *u, const char *shown, int timeout_ms, int *fd,
                ember_err_t *err) {
  char port[8];
  snprintf(port, sizeof port, "%u", u->port);
  struct addrinfo hints, *res = NULL;
  memset(&hints, 0, sizeof hints);
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_NUMERICSERV;
  int g = getaddrinfo(u->host, port, &hints, &res);
  if (g)
    return ember_err_set(err, EMBER_EIO,
                         "cannot find the server's host '%s' (%s); check --server", u->host,
                         gai_strerror(g));
  int s = -1, last = ECONNREFUSED;
  for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
    s = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
    if (s < 0) {
      last = errno;
      continue;
    }
    last = connect_within(s, ai->ai_addr, ai->ai_addrlen, timeout_ms);
    if (!last) break;
    close(s);
    s = -1;
  }
  freeaddrinfo(res);
  if (s >= 0) {
    *fd = s;
    return EMBER_OK;
  }
  if (last == ECONNREFUSED)
    return ember_err_set(err, EMBER_EIO,
                         "the server at %s is not reachable (connection refused); start "
                         "it with `ember serve`, or point --server at a running one",
                         shown);
  if (last == ETIMEDOUT)
    return ember_err_set(err, EMBER_EIO,
                         "the server at %s did not accept a connection within %d s; check "
                         "--server and that the server runs",
                         shown, timeout_ms / 1000);
  return ember_err_set(err, EMBER_EIO, "cannot connect to the server at %s: %s", shown,
                       strerror(last));
}

static int send_all(int fd, const char *p, size_t n) {
  while (n) {
    ssize_t k = send(fd, p, n, MSG_NOSIGNAL);
    if (k < 0 && errno == EINTR) continue;
    if (k <= 0) return -1;
    p += k;
    n -= (size_t)k;
  }
  return 0;
}

/* True once raw holds the headers and as many body bytes as they
 * announce. Without a Content-Length only the server's close ends it. */
static bool complete(const ember_buf_t *raw) {
  const char *end = memmem(raw->data, raw->len, "\r\n\r\n", 4);
  if (!end) return false;
  size_t head = (size_t)(end - raw->data) + 4;
  for (const char *p = memmem(raw->data, head, "\r\n", 2); p && p < end;
       p = memmem(p + 2, (size_t)(end - p), "\r\n", 2)) {
    if (strncasecmp(p + 2, "Content-Length:", 15)) continue;
    char *stop;
    unsigned long long cl = strtoull(p + 17, &stop, 10);
    return raw->len - head >= cl;
  }
  return false;
}

/* Reads until the response is complete or the server closes. */
static int receive(int fd, const char *shown, int timeout_ms, ember_buf_t *raw,
                   ember_err_t *err) {
  for (;;) {
    ember_buf_reserve(raw, 65536);
    ssize_t k = recv(fd, raw->data + raw->len, raw->cap - raw->len - 1, 0);
    if (k < 0 && errno == EINTR) continue;
    if (k < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
      return ember_err_set(err, EMBER_EIO,
                           "the server at %s sent nothing for %d s; try a shorter time "
                           "range, a lower --max-nodes or a longer --timeout",
                           shown, timeout_ms / 1000);
    if (k < 0)
      return ember_err_set(err, EMBER_EIO, "reading from the server at %s: %s", shown,
                           strerror(errno));
    if (k == 0) return EMBER_OK;
    raw->len += (size_t)k;
    raw->data[raw->len] = '\0';
    if (raw->len > EMBER_CLIENT_MAX_RESPONSE)
      return ember_err_set(err, EMBER_EIO,
                           "the answer from %s is over %zu MiB; lower --max-nodes or "
                           "narrow the time range",
                           shown, EMBER_CLIENT_MAX_RESPONSE >> 20);
    if (complete(raw)) return EMBER_OK;
  }
}

/* Undoes chunked transfer encoding of p[0..n) into out. */
static int dechunk(const char *p, size_t n, ember_buf_t *out, ember_err_t *err) {
  size_t i = 0;
  for (;;) {
    size_t size = 0, digits = 0;
    for (; i < n; i++, digits++) {
      char c = p[i];
      int v = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10
              : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
      if (v < 0) break;
      if (size > (SIZE_MAX >> 4))
        return ember_err_set(err, EMBER_EIO, "the server's answer has a bad chunk size");
      size = size * 16 + (size_t)v;
    }
    const char *eol = digits ? memmem(p + i, n - i, "\r\n", 2) : NULL;
    if (!eol)
      return ember_err_set(err, EMBER_EIO,
                           "the server's answer ended inside its chunked body");
    i = (size_t)(eol - p) + 2;
    if (size == 0) return EMBER_OK; /* trailers, if any, are of no use here */
    if (n - i < size || n - i - size < 2 || p[i + size] != '\r' || p[i + size + 1] != '\n')
      return ember_err_set(err, EMBER_EIO,
                           "the server's answer ended inside its chunked body");
    ember_buf_append(out, p + i, size);
    i += size + 2;
  }
}

/* The value of header name among the header lines [p, end), or NULL;
 * *len is its length, spaces trimmed. */
static const char *header(const char *p, const char *end, const char *name, size_t *len) {
  size_t nl = strlen(name);
  for (const char *line = p; line < end;) {
    const char *eol = memmem(line, (size_t)(end - line), "\r\n", 2);
    if (!eol) eol = end;
    if ((size_t)(eol - line) > nl && !strncasecmp(line, name, nl) && line[nl] == ':') {
      ember_slice_t v = ember_slice_trim(ember_slice(line + nl + 1, (size_t)(eol - line) - nl - 1));
      *len = v.len;
      return v.base;
    }
    line = eol + 2;
  }
  return NULL;
}

/* One request on its own connection: the headers, then body[0..n) when
 * content_type is set. */
static int request(const ember_client_url_t *u, const char *method, const char *target,
                   const char *token, const char *content_type, const char *encoding,
                   const void *body, size_t n, int timeout_ms, ember_client_resp_t *out,
                   ember_err_t *err) {
  char shown[900];
  show_url(u, shown, sizeof shown);
  int fd = -1;
  ember_buf_t req = EMBER_BUF_INIT, raw = EMBER_BUF_INIT;
  int rc = dial(u, shown, timeout_ms, &fd, err);
  if (rc) goto done;
  bool v6 = strchr(u->host, ':') != NULL;
  ember_buf_printf(&req,
                   "%s %s%s HTTP/1.1\r\nHost: %s%s%s:%u\r\nUser-Agent: ember-%s\r\n"
                   "Accept: */*\r\nConnection: close\r\n",
                   method, u->prefix, target, v6 ? "[" : "", u->host, v6 ? "]" : "", u->port,
                   content_type ? "spy" : "export");
  if (token) ember_buf_printf(&req, "Authorization: Bearer %s\r\n", token);
  if (content_type)
    ember_buf_printf(&req, "Content-Type: %s\r\nContent-Length: %zu\r\n", content_type, n);
  if (content_type && encoding) ember_buf_printf(&req, "Content-Encoding: %s\r\n", encoding);
  ember_buf_puts(&req, "\r\n");
  if (content_type && n) ember_buf_append(&req, body, n);
  if (send_all(fd, req.data, req.len)) {
    rc = ember_err_set(err, EMBER_EIO, "sending the request to %s: %s", shown,
                       strerror(errno));
    goto done;
  }
  rc = receive(fd, shown, timeout_ms, &raw, err);
  if (rc) goto done;
  if (raw.len == 0) {
    rc = ember_err_set(err, EMBER_EIO,
                       "the server at %s closed the connection without an answer", shown);
    goto done;
  }
  rc = ember_client_response_parse(raw.data, raw.len, out, err);
done:
  if (fd >= 0) close(fd);
  ember_buf_free(&req);
  ember_buf_free(&raw);
  return rc;
}

/* ---- API --------------------------------------------------------------- */

int ember_client_response_parse(const char *data, size_t n, ember_client_resp_t *out,
                                ember_err_t *err) {
  ember_client_resp_t r;
  memset(&r, 0, sizeof r);
  int rc = EMBER_OK;
  if (n < 13 || memcmp(data, "HTTP/1.", 7) || data[8] != ' ' || data[9] < '1' ||
      data[9] > '5' || data[10] < '0' || data[10] > '9' || data[11] < '0' ||
      data[11] > '9' || (data[12] != ' ' && data[12] != '\r'))
    return ember_err_set(err, EMBER_EIO,
                         "the answer is not HTTP/1.x; is --server pointing at an Ember "
                         "server?");
  r.status = (data[9] - '0') * 100 + (data[10] - '0') * 10 + (data[11] - '0');
  const char *end = memmem(data, n, "\r\n\r\n", 4);
  if (!end) return ember_err_set(err, EMBER_EIO, "the server's answer ended inside its headers");
  const char *lines = memmem(data, n, "\r\n", 2) + 2, *body = end + 4;
  size_t avail = n - (size_t)(body - data), len, te_len;
  const char *v = header(lines, end + 2, "Content-Type", &len);
  if (v) snprintf(r.content_type, sizeof r.content_type, "%.*s", (int)len, v);
  r.retry_after = -1;
  const char *ra = header(lines, end + 2, "Retry-After", &len);
  if (ra && len > 0 && len < 9) {
    int secs = 0;
    size_t i = 0;
    while (i < len && ra[i] >= '0' && ra[i] <= '9') secs = secs * 10 + (ra[i++] - '0');
    if (i == len) r.retry_after = secs;
  }
  const char *te = header(lines, end + 2, "Transfer-Encoding", &te_len);
  const char *cl = header(lines, end + 2, "Content-Length", &len);
  if (te && memmem(te, te_len, "chunked", 7)) {
    rc = dechunk(body, avail, &r.body, err);
  } else if (cl) {
    size_t want = 0;
    bool ok = len > 0 && len < 20;
    for (size_t i = 0; ok && i < len; i++) {
      ok = cl[i] >= '0' && cl[i] <= '9';
      want = want * 10 + (size_t)(cl[i] - '0');
    }
    if (!ok) rc = ember_err_set(err, EMBER_EIO, "the server sent a bad Content-Length");
    else if (avail < want)
      rc = ember_err_set(err, EMBER_EIO,
                         "the server's answer ended early: %zu of %zu body bytes", avail,
                         want);
    else ember_buf_append(&r.body, body, want);
  } else {
    ember_buf_append(&r.body, body, avail);
  }
  if (rc) {
    ember_buf_free(&r.body);
    return rc;
  }
  if (!r.body.data) ember_buf_reserve(&r.body, 0);
  *out = r;
  return EMBER_OK;
}

int ember_client_get(const ember_client_url_t *u, const char *target, const char *token,
                     int timeout_ms, ember_client_resp_t *out, ember_err_t *err) {
  return request(u, "GET", target, token, NULL, NULL, NULL, 0, timeout_ms, out, err);
}

int ember_client_post(const ember_client_url_t *u, const char *target, const char *token,
                      const char *content_type, const char *encoding, const void *body,
                      size_t n, int timeout_ms, ember_client_resp_t *out, ember_err_t *err) {
  return request(u, "POST", target, token, content_type, encoding, body, n, timeout_ms, out,
                 err);
}

void ember_client_resp_free(ember_client_resp_t *r) {
  if (!r) return;
  ember_buf_free(&r->body);
}

void ember_client_error_message(const ember_client_resp_t *r, ember_buf_t *out) {
  const char *msg = NULL;
  size_t len = 0;
  json_t *j = r->body.len ? json_loadb(r->body.data, r->body.len, 0, NULL) : NULL;
  json_t *e = json_object_get(j, "error");
  if (json_is_string(e)) {
    msg = json_string_value(e);
    len = json_string_length(e);
  } else if (r->body.len) {
    msg = r->body.data;
    len = strcspn(msg, "\r\n");
  }
  if (len > 300) {
    len = 300;
    while (len && ((unsigned char)msg[len] & 0xc0) == 0x80) len--; /* whole characters */
  }
  if (!len) ember_buf_puts(out, "(no message)");
  for (size_t i = 0; i < len; i++) {
    unsigned char c = (unsigned char)msg[i];
    ember_buf_putc(out, c < 0x20 || c == 0x7f ? '?' : (char)c);
  }
  json_decref(j);
}
