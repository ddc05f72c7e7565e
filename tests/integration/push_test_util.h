/* What the push.v1 tests share: the times a pprof profile says it covers,
 * and the comparison of two apps' stored data (the same apps in the same
 * units, the same flame graphs, label names and values). */
#ifndef EMBER_PUSH_TEST_UTIL_H
#define EMBER_PUSH_TEST_UTIL_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "harness.h"
#include "pprof/profile.pb-c.h"

/* The seconds a gzipped profile says it covers. */
static inline void profile_times(const char *gz, size_t len, long *from, long *until) {
  uint8_t *plain = malloc(1 << 20);
  z_stream zs;
  memset(&zs, 0, sizeof zs);
  inflateInit2(&zs, 16 + MAX_WBITS);
  zs.next_in = (Bytef *)gz;
  zs.avail_in = (uInt)len;
  zs.next_out = plain;
  zs.avail_out = 1 << 20;
  assert_int_equal(inflate(&zs, Z_FINISH), Z_STREAM_END);
  Perftools__Profiles__Profile *p =
      perftools__profiles__profile__unpack(NULL, zs.total_out, plain);
  assert_non_null(p);
  *from = (long)(p->time_nanos / 1000000000);
  *until = (long)((p->time_nanos + p->duration_nanos) / 1000000000);
  perftools__profiles__profile__free_unpacked(p, NULL);
  inflateEnd(&zs);
  free(plain);
}

static inline char *get(const it_server_t *s, const char *target) {
  it_resp_t r;
  it_expect(s, 200, "GET", target, NULL, 0, &r);
  char *body = strdup(r.body);
  it_resp_free(&r);
  return body;
}

/* The apps whose name starts with prefix, "suffix units aggregation" per
 * line, sorted as /api/apps sorts them. */
static inline char *apps_of(const it_server_t *s, const char *prefix) {
  it_resp_t r;
  it_expect(s, 200, "GET", "/api/apps", NULL, 0, &r);
  json_t *a = it_json(&r);
  it_resp_free(&r);
  char out[4096] = "";
  for (size_t i = 0; i < json_array_size(a); i++) {
    json_t *app = json_array_get(a, i);
    const char *name = json_string_value(json_object_get(app, "name"));
    if (strncmp(name, prefix, strlen(prefix)) || name[strlen(prefix)] != '.') continue;
    snprintf(out + strlen(out), sizeof out - strlen(out), "%s %s %s %lld\n",
             name + strlen(prefix) + 1, json_string_value(json_object_get(app, "units")),
             json_string_value(json_object_get(app, "aggregationType")),
             (long long)json_integer_value(json_object_get(app, "sampleRate")));
  }
  json_decref(a);
  return strdup(out);
}

/* Every app of prefix a reads as the same app of prefix b: flame graph,
 * label names and their values. */
static inline void assert_same(const it_server_t *s, const char *a, const char *b,
                               long from, long until) {
  char *apps_a = apps_of(s, a), *apps_b = apps_of(s, b);
  assert_string_equal(apps_a, apps_b);
  assert_true(strlen(apps_a) > 0);
  for (char *line = strtok(apps_a, "\n"); line; line = strtok(NULL, "\n")) {
    char suffix[128], target[512];
    sscanf(line, "%127s", suffix);
    const char *fmt[] = {("/render?query=%s.%s%%7B%%7D&from=%ld&until=%ld&format=collapsed"
                          "&maxNodes=-1"),
                         "/labels?query=%s.%s%%7B%%7D&from=%ld&until=%ld",
                         "/label-values?label=vehicle&query=%s.%s%%7B%%7D&from=%ld&until=%ld"};
    for (size_t k = 0; k < 3; k++) {
      snprintf(target, sizeof target, fmt[k], a, suffix, from, until);
      char *x = get(s, target);
      snprintf(target, sizeof target, fmt[k], b, suffix, from, until);
      char *y = get(s, target);
      if (k == 0 && !*x) fail_msg("%s.%s has no flame graph", a, suffix);
      if (strcmp(x, y)) fail_msg("%s.%s and %s.%s differ:\n%s\n--\n%s", a, suffix, b, suffix,
                                 x, y);
      free(x);
      free(y);
    }
  }
  free(apps_a);
  free(apps_b);
}

#endif
