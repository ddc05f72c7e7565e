/*
 * load.c - profile files for `ember diff` and `ember push`: what format a
 * file is in, and its samples as a tree, read by /ingest's own decoders so
 * that a file compared offline reads exactly as the server would store it.
 */
#include "ember/compare.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zlib.h>

#include "ember/ingest.h"

#define PEEK_MAX ((size_t)64 << 10)
#define LOAD_MAX_BODY ((size_t)256 << 20)

/* ---- Detection ----------------------------------------------------------- */

/* Up to PEEK_MAX bytes of the gzip stream p[0..n) into out; what could be
 * inflated before the stream ended or broke. */
static size_t gunzip_peek(const uint8_t *p, size_t n, uint8_t *out) {
  z_stream z;
  memset(&z, 0, sizeof z);
  if (inflateInit2(&z, 15 + 16) != Z_OK) return 0;
  z.next_in = (Bytef *)p;
  z.avail_in = (uInt)(n < UINT32_MAX ? n : UINT32_MAX);
  z.next_out = out;
  z.avail_out = (uInt)PEEK_MAX;
  (void)inflate(&z, Z_SYNC_FLUSH);
  size_t got = PEEK_MAX - z.avail_out;
  inflateEnd(&z);
  return got;
}

/* Text: no NUL and no control character but tab, CR and LF. Bytes of 0x80
 * and up pass: frame names may be UTF-8 or worse, and a pprof profile
 * starts with a field tag, never with them alone. */
static bool looks_text(const uint8_t *p, size_t n) {
  for (size_t i = 0; i < n; i++)
    if ((p[i] < 0x20 && p[i] != '\t' && p[i] != '\r' && p[i] != '\n') || p[i] == 0x7f)
      return false;
  return true;
}

/* Folded when the first non-empty line ends in " <digits>". */
static bool looks_folded(const uint8_t *p, size_t n) {
  size_t i = 0;
  while (i < n && (p[i] == '\n' || p[i] == '\r'))
    i++;
  size_t end = i;
  while (end < n && p[end] != '\n')
    end++;
  if (end > i && p[end - 1] == '\r') end--;
  size_t d = end;
  while (d > i && p[d - 1] >= '0' && p[d - 1] <= '9')
    d--;
  return d < end && d > i && (p[d - 1] == ' ' || p[d - 1] == '\t');
}

static const char *detect_plain(const uint8_t *p, size_t n) {
  if (n >= 4 && !memcmp(p, "FLR\0", 4)) return "jfr";
  if (n && !looks_text(p, n)) return "pprof";
  return looks_folded(p, n) ? "folded" : "lines";
}

const char *ember_profile_detect(const uint8_t *p, size_t n, bool *gzipped) {
  bool gz = n >= 2 && p[0] == 0x1f && p[1] == 0x8b;
  if (gzipped) *gzipped = gz;
  if (!gz) return detect_plain(p, n < PEEK_MAX ? n : PEEK_MAX);
  uint8_t *peek = ember_malloc(PEEK_MAX);
  size_t got = gunzip_peek(p, n, peek);
  /* A text line may be cut at the end of the peek: only its start counts. */
  const char *f = detect_plain(peek, got);
  free(peek);
  return f;
}

/* ---- Files --------------------------------------------------------------- */

int ember_profile_read_file(const char *path, size_t max, uint8_t **data, size_t *n,
                            ember_err_t *err) {
  bool std_in = !strcmp(path, "-");
  FILE *f = std_in ? stdin : fopen(path, "rb");
  if (!f)
    return ember_err_set(err, EMBER_EIO, "cannot open %s: %s", path, strerror(errno));
  const char *name = std_in ? "standard input" : path;
  ember_buf_t b = EMBER_BUF_INIT;
  int rc = EMBER_OK;
  char chunk[65536];
  size_t got;
  while ((got = fread(chunk, 1, sizeof chunk, f)) > 0) {
    if (b.len + got > max) {
      rc = ember_err_set(err, EMBER_ETOOBIG, "%s is larger than %zu MiB", name, max >> 20);
      break;
    }
    ember_buf_append(&b, chunk, got);
  }
  if (!rc && ferror(f)) rc = ember_err_set(err, EMBER_EIO, "cannot read %s: %s", name,
                                           strerror(errno));
  if (!std_in) fclose(f);
  if (rc) {
    ember_buf_free(&b);
    return rc;
  }
  size_t len = b.len;
  *data = (uint8_t *)ember_buf_take(&b, &len);
  if (!*data) *data = ember_calloc(1, 1);
  *n = len;
  return EMBER_OK;
}

/* ---- Loading ------------------------------------------------------------- */

static bool known_format(const char *f) {
  static const char *const names[] = {"folded", "lines", "pprof", "jfr"};
  for (size_t i = 0; i < sizeof names / sizeof *names; i++)
    if (!strcmp(f, names[i])) return true;
  return false;
}

/* Adds every profile of the first profile's app to side of t. */
static void take_first_app(const ember_ingest_result_t *res, ember_tree_t *t, int side,
                           ember_profile_info_t *info) {
  const ember_profile_t *first = &res->items[0];
  snprintf(info->units, sizeof info->units, "%s", first->units ? first->units : "samples");
  info->sample_rate = first->sample_rate;
  const char *dot = strrchr(first->key.app, '.');
  snprintf(info->app, sizeof info->app, "%s", dot ? dot + 1 : first->key.app);
  for (size_t i = 0; i < res->n; i++)
    if (!strcmp(res->items[i].key.app, first->key.app) && res->items[i].tree)
      ember_tree_merge(t, side, res->items[i].tree, 0);
}

int ember_profile_load(const uint8_t *data, size_t n, const ember_profile_load_opts_t *o,
                       ember_tree_t *t, int side, ember_profile_info_t *info,
                       ember_err_t *err) {
  bool gz = false;
  const char *fmt = o->format && strcmp(o->format, "auto") ? o->format : NULL;
  if (fmt && !known_format(fmt))
    return ember_err_set(err, EMBER_EINVAL, "unknown format '%.40s'; use auto, folded, "
                                            "lines, pprof or jfr", fmt);
  const char *seen = ember_profile_detect(data, n, &gz);
  if (!fmt) fmt = seen;
  bool text = !strcmp(fmt, "folded") || !strcmp(fmt, "lines");
  ember_ingest_request_t req;
  memset(&req, 0, sizeof req);
  req.name = "profile";
  req.format = fmt;
  req.sample_rate = o->sample_rate;
  req.units = text ? o->units : NULL;
  req.content_encoding = text && gz ? "gzip" : NULL;
  req.body = data;
  req.body_len = n;
  req.max_body = o->max_body ? o->max_body : LOAD_MAX_BODY;
  req.now = (int64_t)time(NULL);
  ember_ingest_result_t res;
  memset(&res, 0, sizeof res);
  int rc = ember_ingest_parse(&req, &res, err);
  if (rc) return rc;
  ember_profile_info_t in;
  memset(&in, 0, sizeof in);
  snprintf(in.format, sizeof in.format, "%s", fmt);
  snprintf(in.units, sizeof in.units, "%s", o->units && *o->units ? o->units : "samples");
  in.sample_rate = 100;
  if (res.n) take_first_app(&res, t, side, &in);
  ember_ingest_result_free(&res);
  *info = in;
  return EMBER_OK;
}
