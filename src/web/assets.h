/*
 * assets.h - the web UI files, embedded at build time by cmake/embed.cmake
 * (the generated C file defines these; nothing is read from disk).
 */
#ifndef EMBER_WEB_ASSETS_H
#define EMBER_WEB_ASSETS_H

#include <stddef.h>

typedef struct {
  const char *path; /* "/index.html" */
  const unsigned char *data;
  size_t size;
} ember_asset_t;

/* Terminated by an entry whose path is NULL. */
extern const ember_asset_t ember_web_assets[];
extern const size_t ember_web_assets_count;

#endif
