/*
 * args.c - the query string of a request target, decoded by Ember itself.
 *
 * libmicrohttpd would parse the arguments into its per-connection memory
 * pool; a target with a few thousand arguments exhausts that pool, and
 * libmicrohttpd 0.9.75 then neither answers nor closes the connection. It
 * also hands values over as C strings, so an encoded NUL (%00) silently
 * cuts a value short. So server.c takes the raw target before
 * libmicrohttpd parses it, keeps the arguments out of its reach, and
 * decodes them here, where the count is limited and a NUL is an error.
 *
 * Decoding follows the web's form convention, as libmicrohttpd did: pairs
 * split at '&', key and value at the first '=', '+' is a space, %XX is a
 * byte, and a '%' not followed by two hex digits stays as it is.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http/http_int.h"

static int hexval(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

/* Decodes s[0..n) into a new string (caller frees); *nul tells whether the
 * decoded bytes hold a NUL. */
static char *decode(const char *s, size_t n, bool *nul) {
  char *out = ember_malloc(n + 1);
  size_t o = 0;
  for (size_t i = 0; i < n; i++) {
    int hi, lo;
    if (s[i] == '+') {
      out[o++] = ' ';
    } else if (s[i] == '%' && i + 2 < n && (hi = hexval(s[i + 1])) >= 0 &&
               (lo = hexval(s[i + 2])) >= 0) {
      out[o] = (char)(hi << 4 | lo);
      if (!out[o]) *nul = true;
      o++;
      i += 2;
    } else {
      out[o++] = s[i];
    }
  }
  out[o] = '\0';
  return out;
}

int ember_http_args_parse(const char *query, size_t max_args, http_kv_t **out,
                          size_t *nout, ember_err_t *err) {
  http_kv_t *kv = NULL;
  size_t n = 0, cap = 0;
  int rc = EMBER_OK;
  const char *p = query ? query : "";
  while (*p) {
    size_t len = strcspn(p, "&");
    if (len) {
      if (n == max_args) {
        rc = ember_err_set(err, EMBER_ETOOBIG,
                           "the query string has more than %zu arguments; send "
                           "fewer",
                           max_args);
        goto fail;
      }
      const char *eq = memchr(p, '=', len);
      size_t klen = eq ? (size_t)(eq - p) : len;
      bool nul = false;
      ember_grow((void **)&kv, &cap, n + 1, sizeof *kv);
      kv[n].key = decode(p, klen, &nul);
      kv[n].value = eq ? decode(eq + 1, len - klen - 1, &nul) : ember_strdup("");
      n++;
      if (nul) {
        ember_excerpt_t e;
        rc = ember_err_set(err, EMBER_EINVAL,
                           "query argument '%s' holds an encoded NUL byte (%%00), "
                           "which no parameter accepts",
                           ember_excerpt(&e, kv[n - 1].key, strlen(kv[n - 1].key), 40));
        goto fail;
      }
    }
    p += len;
    if (*p == '&') p++;
  }
  *out = kv;
  *nout = n;
  return EMBER_OK;
fail:
  ember_http_kv_free(kv, n);
  return rc;
}

void ember_http_kv_free(http_kv_t *kv, size_t n) {
  for (size_t i = 0; i < n; i++) {
    free(kv[i].key);
    free(kv[i].value);
  }
  free(kv);
}
