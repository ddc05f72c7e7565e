/*
 * access.c - who may ask what: tokens and roles, cross-site requests, and
 * the Host check against DNS rebinding (docs/API.md, "Auth" and "Browser
 * safety").
 *
 * Three questions, in this order, for every request:
 *  1. Host: a server that listens only on loopback answers only names that
 *     cannot be rebound (localhost, IP literals) and the names the operator
 *     allows. A page on evil.example whose DNS answer turns into 127.0.0.1
 *     still sends `Host: evil.example`, and is refused. A server listening
 *     on other interfaces is reached by names of the operator's network
 *     (docker-compose service names, for one), so it checks Host only when
 *     the operator lists names.
 *  2. Cross-site: a request that changes state (anything but GET and HEAD)
 *     and that a browser marks as coming from another site (Sec-Fetch-Site,
 *     or an Origin that is not this server) is refused unless that origin
 *     is allowed. Agents and curl send neither header.
 *  3. Token: with a token file, every route but health and the UI's files
 *     needs a token whose role covers it: ingest for pushes, read for
 *     queries and metrics, admin for everything. Tokens are compared in
 *     time that does not depend on where they differ, and never printed.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "http/http_int.h"

typedef struct {
  char *secret;
  size_t len;
  unsigned role;
} token_t;

struct http_access {
  token_t *tokens;
  size_t ntokens;
  char **origins; /* allowed cross-site origins; "*" is any */
  size_t norigins;
  char **hosts; /* allowed Host names besides localhost and IP literals */
  size_t nhosts;
  bool check_host;
  bool tls;
};

/* ---- Token file ---------------------------------------------------------- */

static unsigned role_named(const char *s) {
  if (!strcmp(s, "ingest")) return HTTP_ROLE_INGEST;
  if (!strcmp(s, "read")) return HTTP_ROLE_READ;
  if (!strcmp(s, "admin")) return HTTP_ROLE_ADMIN;
  return 0;
}

/* Parses one line "token [role]" (comments and blank lines give *skip). */
static int parse_line(char *line, const char *path, unsigned lineno, token_t *out,
                      bool *skip, ember_err_t *err) {
  char *save = NULL;
  char *tok = strtok_r(line, " \t\r\n", &save);
  *skip = !tok || tok[0] == '#';
  if (*skip) return EMBER_OK;
  char *role = strtok_r(NULL, " \t\r\n", &save);
  char *extra = role ? strtok_r(NULL, " \t\r\n", &save) : NULL;
  if (extra && extra[0] != '#')
    return ember_err_set(err, EMBER_EINVAL,
                         "%s line %u: expected 'TOKEN [ingest|read|admin]', found a "
                         "third word",
                         path, lineno);
  unsigned r = role ? role_named(role) : HTTP_ROLE_ADMIN;
  if (!r)
    return ember_err_set(err, EMBER_EINVAL,
                         "%s line %u: unknown role '%.20s'; use ingest, read or admin",
                         path, lineno, role);
  out->len = strlen(tok);
  out->secret = ember_strdup(tok);
  out->role = r;
  return EMBER_OK;
}

static int load_tokens(http_access_t *a, const char *path, ember_err_t *err) {
  FILE *f = fopen(path, "r");
  if (!f)
    return ember_err_set(err, EMBER_EINVAL, "cannot read --auth-token-file %s: %s", path,
                         strerror(errno));
  struct stat st;
  if (fstat(fileno(f), &st) == 0 && (st.st_mode & (S_IRWXG | S_IRWXO)))
    fprintf(stderr, "ember: warning: %s can be read by other users; chmod 600 it\n",
            path);
  char line[4096];
  unsigned lineno = 0;
  size_t cap = 0;
  int rc = EMBER_OK;
  while (fgets(line, sizeof line, f)) {
    lineno++;
    if (!strchr(line, '\n') && !feof(f)) {
      rc = ember_err_set(err, EMBER_EINVAL, "%s line %u is longer than %zu bytes", path,
                         lineno, sizeof line - 2);
      break;
    }
    token_t t = {0};
    bool skip;
    if ((rc = parse_line(line, path, lineno, &t, &skip, err)) != 0) break;
    if (skip) continue;
    ember_grow((void **)&a->tokens, &cap, a->ntokens + 1, sizeof *a->tokens);
    a->tokens[a->ntokens++] = t;
  }
  fclose(f);
  if (!rc && a->ntokens == 0)
    rc = ember_err_set(err, EMBER_EINVAL,
                       "--auth-token-file %s holds no token; write one per line as "
                       "'TOKEN [ingest|read|admin]'",
                       path);
  return rc;
}

static void copy_list(const char *const *src, char ***dst, size_t *n) {
  for (size_t i = 0; src && src[i]; i++) {
    *dst = ember_realloc(*dst, (*n + 1) * sizeof **dst);
    (*dst)[(*n)++] = ember_strdup(src[i]);
  }
}

int ember_access_new(const ember_server_config_t *cfg, bool loopback, bool tls,
                     http_access_t **out, ember_err_t *err) {
  http_access_t *a = ember_calloc(1, sizeof *a);
  a->tls = tls;
  if (cfg->auth_token_file) {
    int rc = load_tokens(a, cfg->auth_token_file, err);
    if (rc) {
      ember_access_free(a);
      return rc;
    }
  }
  copy_list(cfg->allow_origins, &a->origins, &a->norigins);
  copy_list(cfg->allow_hosts, &a->hosts, &a->nhosts);
  a->check_host = loopback || a->nhosts > 0;
  *out = a;
  return EMBER_OK;
}

void ember_access_free(http_access_t *a) {
  if (!a) return;
  for (size_t i = 0; i < a->ntokens; i++) {
    /* The secret should not outlive its use in freed memory. */
    volatile char *p = a->tokens[i].secret;
    for (size_t k = 0; k < a->tokens[i].len; k++)
      p[k] = 0;
    free(a->tokens[i].secret);
  }
  free(a->tokens);
  for (size_t i = 0; i < a->norigins; i++)
    free(a->origins[i]);
  free(a->origins);
  for (size_t i = 0; i < a->nhosts; i++)
    free(a->hosts[i]);
  free(a->hosts);
  free(a);
}

size_t ember_access_tokens(const http_access_t *a) {
  return a ? a->ntokens : 0;
}

/* ---- Host ---------------------------------------------------------------- */

/* Splits a Host value into its name (brackets of an IPv6 literal removed)
 * in buf; false when it is malformed or too long. */
static bool host_name(const char *host, char *buf, size_t size) {
  const char *end;
  if (host[0] == '[') {
    end = strchr(host, ']');
    if (!end || (end[1] && end[1] != ':')) return false;
    host++;
  } else {
    end = strchr(host, ':');
    if (!end) end = host + strlen(host);
  }
  size_t n = (size_t)(end - host);
  if (n == 0 || n >= size) return false;
  memcpy(buf, host, n);
  buf[n] = '\0';
  return true;
}

static bool is_ip_literal(const char *name) {
  unsigned char b[16];
  return inet_pton(AF_INET, name, b) == 1 || inet_pton(AF_INET6, name, b) == 1;
}

static bool host_allowed(const http_access_t *a, const char *host) {
  char name[256];
  if (!host) return true; /* HTTP/1.0 without Host: no browser sends that */
  if (!host_name(host, name, sizeof name)) return false;
  /* Rebinding needs a name a resolver answers; a literal address cannot
   * be rebound, and localhost never leaves the machine. */
  if (is_ip_literal(name) || !strcasecmp(name, "localhost")) return true;
  for (size_t i = 0; i < a->nhosts; i++)
    if (!strcasecmp(name, a->hosts[i])) return true;
  return false;
}

/* ---- Cross-site ---------------------------------------------------------- */

static bool origin_allowed(const http_access_t *a, const char *origin) {
  for (size_t i = 0; i < a->norigins; i++)
    if (!strcmp(a->origins[i], "*") || !strcasecmp(a->origins[i], origin)) return true;
  return false;
}

/* True when origin ("scheme://host[:port]") names this server as reached
 * through host. */
static bool same_origin(const http_access_t *a, const char *origin, const char *host) {
  if (!host) return false;
  const char *scheme = a->tls ? "https://" : "http://";
  size_t sl = strlen(scheme);
  return !strncasecmp(origin, scheme, sl) && !strcasecmp(origin + sl, host);
}

static bool changes_state(http_method_t m) {
  return m != HTTP_GET && m != HTTP_HEAD;
}

static int check_cross_site(const http_access_t *a, const http_asker_t *q,
                            ember_err_t *err) {
  if (!changes_state(q->method)) return EMBER_OK;
  const char *site = q->sec_fetch_site;
  bool cross = false;
  if (site && *site)
    cross = strcasecmp(site, "same-origin") != 0 && strcasecmp(site, "none") != 0;
  else if (q->origin && *q->origin)
    cross = !same_origin(a, q->origin, q->host);
  if (!cross) return EMBER_OK;
  if (q->origin && *q->origin && strcmp(q->origin, "null") != 0 &&
      origin_allowed(a, q->origin))
    return EMBER_OK;
  ember_excerpt_t e;
  const char *o = q->origin && *q->origin ? q->origin : "(none)";
  return ember_err_set(err, EMBER_EFORBIDDEN,
                       "cross-site request from origin %s refused: a page on another "
                       "site may not change data here; start the server with "
                       "--allow-origin ORIGIN to allow one",
                       ember_excerpt(&e, o, strlen(o), 60));
}

/* ---- Tokens -------------------------------------------------------------- */

/* Equality in time that depends only on the lengths, not on the bytes. */
static bool same_secret(const char *given, size_t glen, const token_t *t) {
  unsigned char d = glen != t->len;
  for (size_t i = 0; i < t->len; i++) {
    unsigned char g = i < glen ? (unsigned char)given[i] : 0;
    d |= g ^ (unsigned char)t->secret[i];
  }
  return d == 0;
}

static int b64val(int c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+') return 62;
  if (c == '/') return 63;
  return -1;
}

/* Decodes standard base64 (padding optional) into out (size bytes, NUL
 * terminated); false when malformed or too long. */
static bool b64decode(const char *s, char *out, size_t size) {
  size_t o = 0;
  unsigned acc = 0;
  int bits = 0;
  for (; *s && *s != '='; s++) {
    int v = b64val((unsigned char)*s);
    if (v < 0) return false;
    acc = (acc << 6) | (unsigned)v;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      if (o + 1 >= size) return false;
      out[o++] = (char)((acc >> bits) & 0xff);
    }
  }
  while (*s == '=')
    s++;
  if (*s) return false;
  out[o] = '\0';
  return true;
}

/* The role of the token in an Authorization value: Bearer TOKEN, or Basic
 * with TOKEN as the password (agents put their key there). 0 when absent
 * or unknown. */
static unsigned role_of(const http_access_t *a, const char *auth, bool *presented) {
  char buf[1024];
  const char *secret = NULL;
  *presented = false;
  if (!auth) return 0;
  while (*auth == ' ')
    auth++;
  if (!strncasecmp(auth, "Bearer ", 7)) {
    secret = auth + 7;
    while (*secret == ' ')
      secret++;
  } else if (!strncasecmp(auth, "Basic ", 6)) {
    const char *b = auth + 6;
    while (*b == ' ')
      b++;
    if (!b64decode(b, buf, sizeof buf)) {
      *presented = true;
      return 0;
    }
    char *colon = strchr(buf, ':');
    secret = colon ? colon + 1 : buf;
  } else {
    *presented = *auth != '\0';
    return 0;
  }
  *presented = true;
  size_t len = strlen(secret);
  unsigned role = 0;
  for (size_t i = 0; i < a->ntokens; i++) /* no early exit: same time for all */
    if (same_secret(secret, len, &a->tokens[i])) role |= a->tokens[i].role;
  memset(buf, 0, sizeof buf);
  return role;
}

static const char *role_name(unsigned need) {
  if (need & HTTP_ROLE_INGEST) return "ingest";
  if (need & HTTP_ROLE_READ) return "read";
  return "admin";
}

static int check_token(const http_access_t *a, const http_asker_t *q, ember_err_t *err) {
  if (a->ntokens == 0 || q->role == HTTP_ROLE_NONE) return EMBER_OK;
  bool presented;
  unsigned have = role_of(a, q->authorization, &presented);
  if (!have)
    return ember_err_set(err, EMBER_EAUTH,
                         presented ? "the token is not valid; check the token this "
                                     "client sends"
                                   : "this server needs a token: send 'Authorization: "
                                     "Bearer TOKEN' (or TOKEN as the Basic password)");
  if ((have & HTTP_ROLE_ADMIN) || (have & q->role)) return EMBER_OK;
  return ember_err_set(err, EMBER_EFORBIDDEN,
                       "this token's role does not allow that; it needs a token with "
                       "role %s or admin",
                       role_name(q->role));
}

/* ---- API ----------------------------------------------------------------- */

int ember_access_check(const http_access_t *a, const http_asker_t *q, bool *by_token,
                       ember_err_t *err) {
  *by_token = false;
  if (a->check_host && !host_allowed(a, q->host)) {
    ember_excerpt_t e;
    const char *h = q->host ? q->host : "";
    return ember_err_set(err, EMBER_EFORBIDDEN,
                         "Host '%s' is not served here (a guard against DNS "
                         "rebinding): use localhost or an IP address, or start the "
                         "server with --allow-host NAME",
                         ember_excerpt(&e, h, strlen(h), 60));
  }
  int rc = check_cross_site(a, q, err);
  if (rc) return rc;
  rc = check_token(a, q, err);
  *by_token = rc != 0;
  return rc;
}
