/*
 * url.c - the server URL a person types after --server, and the encoding
 * of query string values.
 *
 * Only what reaching an Ember server needs: http://, a host name or an
 * address (IPv6 in brackets), a port, and a path prefix for a server
 * behind a reverse proxy. Everything else is refused with a message that
 * says what to write instead, because a URL that is silently read some
 * other way sends the request somewhere unexpected.
 */
#include "ember/client.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* ---- Private functions ------------------------------------------------- */

static bool host_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
         c == '-' || c == '.' || c == '_';
}

static bool ipv6_char(char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F') ||
         c == ':' || c == '.' || c == '%' || host_char(c);
}

/* Splits the authority a (n bytes, "host", "host:port", "[v6]:port") into
 * host and port. */
static int parse_authority(const char *url, const char *a, size_t n,
                           ember_client_url_t *u, ember_err_t *err) {
  const char *port = NULL, *host = a, *end = a + n;
  size_t hlen;
  if (n && a[0] == '[') {
    const char *close = memchr(a, ']', n);
    if (!close)
      return ember_err_set(err, EMBER_EINVAL,
                           "server URL '%.200s' opens '[' without ']'; write an IPv6 "
                           "address as http://[::1]:4040",
                           url);
    host = a + 1;
    hlen = (size_t)(close - host);
    if (close + 1 < end && close[1] != ':')
      return ember_err_set(err, EMBER_EINVAL,
                           "server URL '%.200s' has text after ']'; write "
                           "http://[ADDRESS]:PORT",
                           url);
    if (close + 1 < end) port = close + 2;
    for (size_t i = 0; i < hlen; i++)
      if (!ipv6_char(host[i]))
        return ember_err_set(err, EMBER_EINVAL,
                             "server URL '%.200s': '%.*s' is not an IPv6 address", url,
                             (int)hlen, host);
  } else {
    const char *colon = memchr(a, ':', n);
    if (colon && memchr(colon + 1, ':', (size_t)(end - colon - 1)))
      return ember_err_set(err, EMBER_EINVAL,
                           "server URL '%.200s' looks like a bare IPv6 address; put it "
                           "in brackets: http://[::1]:4040",
                           url);
    hlen = colon ? (size_t)(colon - a) : n;
    if (colon) port = colon + 1;
    for (size_t i = 0; i < hlen; i++)
      if (!host_char(host[i]))
        return ember_err_set(err, EMBER_EINVAL,
                             "server URL '%.200s': '%.*s' is not a host name or address",
                             url, (int)hlen, host);
  }
  if (hlen == 0 || hlen >= sizeof u->host)
    return ember_err_set(err, EMBER_EINVAL,
                         "server URL '%.200s' names no host (or too long a one); write "
                         "e.g. http://127.0.0.1:4040",
                         url);
  memcpy(u->host, host, hlen);
  u->host[hlen] = '\0';
  u->port = 80;
  if (port) {
    unsigned long v = 0;
    size_t plen = (size_t)(end - port);
    bool ok = plen > 0 && plen <= 5;
    for (size_t i = 0; ok && i < plen; i++) {
      ok = port[i] >= '0' && port[i] <= '9';
      v = v * 10 + (unsigned long)(port[i] - '0');
    }
    if (!ok || v == 0 || v > 65535)
      return ember_err_set(err, EMBER_EINVAL,
                           "server URL '%.200s' has a bad port '%.*s'; use a number from "
                           "1 to 65535, e.g. http://127.0.0.1:4040",
                           url, (int)(plen > 20 ? 20 : plen), port);
    u->port = (uint16_t)v;
  }
  return EMBER_OK;
}

/* True when s starts with some "scheme://". */
static bool has_scheme(const char *s) {
  size_t i = 0;
  while ((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
         (i && ((s[i] >= '0' && s[i] <= '9') || s[i] == '+' || s[i] == '-' || s[i] == '.')))
    i++;
  return i && !strncmp(s + i, "://", 3);
}

/* The path after the authority: kept as a prefix, trailing '/' dropped. */
static int parse_prefix(const char *url, const char *p, ember_client_url_t *u,
                        ember_err_t *err) {
  size_t n = strlen(p);
  while (n && p[n - 1] == '/') n--;
  if (n >= sizeof u->prefix)
    return ember_err_set(err, EMBER_EINVAL, "server URL '%.200s' has too long a path", url);
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)p[i];
    if (c <= ' ' || c == 0x7f || c == '?' || c == '#')
      return ember_err_set(err, EMBER_EINVAL,
                           "server URL '%.200s' may hold a path but no query, fragment, "
                           "spaces or control characters; write "
                           "http://HOST:PORT[/PREFIX]",
                           url);
  }
  memcpy(u->prefix, p, n);
  u->prefix[n] = '\0';
  return EMBER_OK;
}

/* ---- API --------------------------------------------------------------- */

int ember_client_url_parse(const char *url, ember_client_url_t *out, ember_err_t *err) {
  ember_client_url_t u;
  memset(&u, 0, sizeof u);
  const char *p = url ? url : "";
  if (!strncasecmp(p, "https://", 8))
    return ember_err_set(err, EMBER_EINVAL,
                         "https is not supported: ember export speaks plain http; use "
                         "http://HOST:PORT (through an SSH tunnel or a local proxy if the "
                         "server is only reachable over TLS)");
  if (!strncasecmp(p, "http://", 7)) p += 7;
  else if (has_scheme(p))
    return ember_err_set(err, EMBER_EINVAL,
                         "server URL '%.200s' has an unsupported scheme; use "
                         "http://HOST:PORT",
                         url);
  size_t alen = strcspn(p, "/?#");
  if (memchr(p, '@', alen))
    return ember_err_set(err, EMBER_EINVAL,
                         "server URL '%.200s' carries credentials; Ember takes none, "
                         "write http://HOST:PORT",
                         url);
  int rc = parse_authority(url, p, alen, &u, err);
  if (rc) return rc;
  rc = parse_prefix(url, p + alen, &u, err);
  if (rc) return rc;
  *out = u;
  return EMBER_OK;
}

void ember_client_urlencode(ember_buf_t *b, const char *s) {
  static const char hex[] = "0123456789ABCDEF";
  size_t n = strlen(s);
  ember_buf_reserve(b, n * 3);
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
        c == '-' || c == '.' || c == '_' || c == '~') {
      b->data[b->len++] = (char)c;
    } else {
      b->data[b->len++] = '%';
      b->data[b->len++] = hex[c >> 4];
      b->data[b->len++] = hex[c & 15];
    }
  }
  b->data[b->len] = '\0';
}
