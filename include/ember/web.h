/*
 * web.h - the embedded web UI assets, as the HTTP layer serves them: found
 * by path, with a media type, a strong ETag and, for text, a gzip copy made
 * once at first use.
 */
#ifndef EMBER_WEB_H
#define EMBER_WEB_H

#include <stdbool.h>
#include <stddef.h>

typedef struct {
  const char *path;         /* "/index.html" */
  const char *content_type; /* "text/html; charset=utf-8" */
  const char *etag;         /* quoted, e.g. "\"3f2a...\"" */
  const unsigned char *data;
  size_t size;
  const unsigned char *gz; /* gzip of data, or NULL when not worth it */
  size_t gz_size;
} ember_web_asset_t;

/* The asset for a request path ("/" means "/index.html"), or NULL. The
 * result is static: valid for the life of the process. Thread-safe. */
const ember_web_asset_t *ember_web_find(const char *path);

/* True when an Accept-Encoding header value allows gzip. */
bool ember_web_accepts_gzip(const char *accept_encoding);

/* True when an If-None-Match header value matches etag. */
bool ember_web_etag_matches(const char *if_none_match, const char *etag);

#endif
