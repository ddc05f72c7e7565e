/*
 * gzip.c - Content-Encoding gzip for Connect calls: bounded inflation of
 * request bodies (a small body that inflates past the message limit is
 * stopped at the limit, never held whole) and the choice of compressing an
 * answer.
 */
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <zlib.h>

#include "ember/connect.h"

/* ---- API --------------------------------------------------------------- */

/* The weight of one coding of an Accept-Encoding list: the number after
 * "q=" in its parameters (p points after the coding's name), 1 without. */
static double weight(const char *p) {
  double q = 1;
  while (*p && *p != ',') {
    if (*p == ';') {
      p++;
      while (*p == ' ' || *p == '\t')
        p++;
      if ((p[0] == 'q' || p[0] == 'Q') && p[1] == '=') q = strtod(p + 2, NULL);
      continue;
    }
    p++;
  }
  return q;
}

bool ember_connect_accepts_gzip(const char *h) {
  /* A comma-separated list of codings, each with an optional ";q=..."; a
   * weight of zero refuses the coding. */
  for (const char *p = h; p && *p;) {
    while (*p == ' ' || *p == '\t' || *p == ',')
      p++;
    const char *name = p;
    while (*p && *p != ',' && *p != ';' && *p != ' ' && *p != '\t')
      p++;
    size_t len = (size_t)(p - name);
    bool gzip = (len == 4 && !strncasecmp(name, "gzip", 4)) || (len == 1 && *name == '*');
    if (gzip && weight(p) > 0) return true;
    while (*p && *p != ',')
      p++;
  }
  return false;
}

int ember_connect_gunzip(const uint8_t *in, size_t n, size_t max, ember_buf_t *out,
                         ember_err_t *err) {
  z_stream zs;
  memset(&zs, 0, sizeof zs);
  if (n > UINT_MAX || inflateInit2(&zs, 16 + MAX_WBITS) != Z_OK)
    return ember_err_set(err, EMBER_EPARSE, "the gzip body cannot be read");
  zs.next_in = (Bytef *)in;
  zs.avail_in = (uInt)n;
  size_t start = out->len;
  int rc = EMBER_OK, z = Z_OK;
  unsigned char chunk[16384];
  while (z != Z_STREAM_END) {
    zs.next_out = chunk;
    zs.avail_out = sizeof chunk;
    z = inflate(&zs, Z_NO_FLUSH);
    if (z != Z_OK && z != Z_STREAM_END) {
      rc = ember_err_set(err, EMBER_EPARSE,
                         "the body is not valid gzip (%s); send it uncompressed or "
                         "as one gzip stream",
                         zs.msg ? zs.msg : "the stream ends early");
      break;
    }
    size_t got = sizeof chunk - zs.avail_out;
    if (out->len - start + got > max) {
      rc = ember_err_set(err, EMBER_ETOOBIG,
                         "the gzip body inflates past %zu bytes, the largest message "
                         "this endpoint takes",
                         max);
      break;
    }
    ember_buf_append(out, chunk, got);
    if (z == Z_OK && got == 0 && zs.avail_in == 0) {
      rc = ember_err_set(err, EMBER_EPARSE, "the gzip body is cut short");
      break;
    }
  }
  inflateEnd(&zs);
  if (rc) {
    out->len = start;
    if (out->data) out->data[start] = '\0';
  }
  return rc;
}
