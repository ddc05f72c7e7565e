/*
 * web.c - lookup, media types, ETags and gzip copies of the embedded UI
 * assets (the bytes themselves come from the file CMake generates).
 */
#include "ember/web.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "ember/common.h"
#include "web/assets.h"

static ember_web_asset_t *assets;
static size_t nassets;
static pthread_once_t once = PTHREAD_ONCE_INIT;

static const char *media_type(const char *path) {
  static const struct {
    const char *ext, *type;
  } types[] = {
      {".html", "text/html; charset=utf-8"},
      {".js", "text/javascript; charset=utf-8"},
      {".mjs", "text/javascript; charset=utf-8"},
      {".css", "text/css; charset=utf-8"},
      {".json", "application/json"},
      {".svg", "image/svg+xml"},
      {".png", "image/png"},
      {".ico", "image/x-icon"},
      {".txt", "text/plain; charset=utf-8"},
      {".woff2", "font/woff2"},
  };
  const char *dot = strrchr(path, '.');
  for (size_t i = 0; dot && i < sizeof types / sizeof types[0]; i++)
    if (!strcmp(dot, types[i].ext)) return types[i].type;
  return "application/octet-stream";
}

static bool is_text(const char *type) {
  return !strncmp(type, "text/", 5) || strstr(type, "json") || strstr(type, "svg");
}

/* gzip of data, or NULL when it would not save at least a tenth. */
static unsigned char *gzip(const unsigned char *data, size_t n, size_t *out_n) {
  ember_buf_t b = EMBER_BUF_INIT;
  if (ember_gzip_append(&b, data, n, 9) != 0 || b.len > n - n / 10) {
    ember_buf_free(&b);
    return NULL;
  }
  return (unsigned char *)ember_buf_take(&b, out_n);
}

static void init(void) {
  nassets = ember_web_assets_count;
  assets = ember_calloc(nassets ? nassets : 1, sizeof *assets);
  for (size_t i = 0; i < nassets; i++) {
    const ember_asset_t *src = &ember_web_assets[i];
    ember_web_asset_t *a = &assets[i];
    a->path = src->path;
    a->data = src->data;
    a->size = src->size;
    a->content_type = media_type(src->path);
    /* A hash of the bytes: stable across builds of the same content. */
    uint64_t h = ember_hash_bytes(src->data, src->size);
    char tag[24];
    snprintf(tag, sizeof tag, "\"%016llx\"", (unsigned long long)h);
    a->etag = ember_strdup(tag);
    if (is_text(a->content_type) && a->size > 512)
      a->gz = gzip(a->data, a->size, &a->gz_size);
  }
}

const ember_web_asset_t *ember_web_find(const char *path) {
  pthread_once(&once, init);
  if (!strcmp(path, "/")) path = "/index.html";
  for (size_t i = 0; i < nassets; i++)
    if (!strcmp(assets[i].path, path)) return &assets[i];
  return NULL;
}

bool ember_web_accepts_gzip(const char *ae) {
  /* Tokens separated by commas; "gzip;q=0" refuses it. */
  for (const char *p = ae; p && *p;) {
    while (*p == ' ' || *p == ',') p++;
    size_t n = strcspn(p, ",");
    if (n >= 4 && !strncasecmp(p, "gzip", 4) &&
        (n == 4 || p[4] == ';' || p[4] == ' ')) {
      const char *q = memchr(p, '=', n);
      return !(q && q[1] == '0' && strspn(q + 2, ".0") == (size_t)(p + n - q - 2));
    }
    p += n;
  }
  return false;
}

bool ember_web_etag_matches(const char *inm, const char *etag) {
  if (!inm) return false;
  size_t el = strlen(etag);
  for (const char *p = inm; *p;) {
    while (*p == ' ' || *p == ',') p++;
    if (*p == '*') return true;
    if (!strncmp(p, "W/", 2)) p += 2;
    if (!strncmp(p, etag, el)) return true;
    p += strcspn(p, ",");
  }
  return false;
}
