/*
 * ingest.h - from the bytes of one /ingest request to profiles ready to store.
 *
 * The HTTP layer hands over the query parameters, two headers and the body;
 * ember_ingest_parse decodes the body (Content-Encoding gzip or zstd), picks
 * the format (docs/API.md, "POST /ingest"), parses it into call trees and
 * returns one ember_profile_t per series. Folded, lines, tree and trie give
 * one profile; pprof may give several (one per sample type and label set).
 *
 * Everything here is pure: no I/O, no globals, safe to call from many
 * threads, and fuzzed (tests/fuzz/).
 */
#ifndef EMBER_INGEST_H
#define EMBER_INGEST_H

#include "ember/common.h"
#include "ember/profile.h"
#include "ember/series.h"

/* ---- Limits ------------------------------------------------------------ */

/* What one push may hold (docs/API.md, "Limits"). A field left 0 takes the
 * default below, so a request built without limits is still bounded. */
typedef struct {
  uint32_t max_stack_depth; /* frames kept per stack; deeper ones are cut */
  uint32_t max_apps;        /* apps (pprof sample types) one push may write */
  uint32_t max_series;      /* distinct series one push may write */
  int64_t max_future_skew;  /* seconds from/until may be ahead of now */
} ember_ingest_limits_t;

#define EMBER_INGEST_DEFAULT_MAX_STACK_DEPTH 1000u
#define EMBER_INGEST_DEFAULT_MAX_APPS 32u
#define EMBER_INGEST_DEFAULT_MAX_SERIES 1000u
#define EMBER_INGEST_DEFAULT_MAX_FUTURE_SKEW INT64_C(600)

/* The frame that stands for the frames cut from a stack deeper than
 * max_stack_depth: the stack keeps its max_stack_depth - 1 frames nearest
 * the root and ends in this one, so every stack cut below one node lands in
 * one bar of the flame graph. */
#define EMBER_INGEST_TRUNCATED_FRAME EMBER_TREE_TRUNCATED_FRAME

/* The earliest time a push may cover, 2000-01-01T00:00:00Z: anything
 * before is a clock or unit error, not a profile. */
#define EMBER_INGEST_MIN_TIME INT64_C(946684800)

/* One /ingest request as the HTTP layer saw it. Every string is borrowed
 * and may be NULL when the parameter or header was absent. */
typedef struct {
  const char *name;
  const char *from;
  const char *until;
  const char *format;
  const char *sample_rate;
  const char *spy_name;
  const char *units;
  const char *aggregation;
  const char *event; /* format=jfr: cpu, itimer, wall, alloc or lock */
  const char *content_type;
  const char *content_encoding;
  const uint8_t *body;
  size_t body_len;
  size_t max_body; /* limit for the decompressed body, bytes */
  int64_t now;     /* Unix seconds, for relative times and defaults */
  ember_ingest_limits_t limits;
  /* Bytes in flight across the server, borrowed; NULL = unlimited. Every
   * buffer decoding makes (a Content-Encoding undone, a gzipped profile
   * inflated, a profile unpacked) takes its bytes from it first and gives
   * them back when it is freed, before ember_ingest_parse returns. */
  ember_budget_t *budget;
  /* Folded and lines bodies: keep their stacks as text (profile.stacks)
   * rather than building the tree, for the store to resolve a line at a
   * time. The texts point into body, which must then outlive the result's
   * use: until the store has answered the push. Other formats give trees
   * whatever this says. */
  bool text_stacks;
} ember_ingest_request_t;

/* Parses a whole request. On success *out owns the profiles (free with
 * ember_ingest_result_free); a body with no samples gives n == 0, which is
 * not an error. Errors: EMBER_EINVAL for bad parameters (400), EMBER_EPARSE
 * for an unreadable body (422), including one that decompresses past
 * max_body (a compression bomb), EMBER_ETOOBIG when decoding it would take
 * more work or memory than its size allows (413). */
int ember_ingest_parse(const ember_ingest_request_t *req,
                       ember_ingest_result_t *out, ember_err_t *err);

/* ---- The decoders, one per body format --------------------------------- */

/* Each adds what it reads to side 0 of t. On EMBER_EPARSE err says where
 * (line number or byte offset) and what was wrong; t may then hold part of
 * the input and should be discarded. */

/* "frame;frame;leaf count" per line, root first; split at the last space;
 * CRLF accepted; empty lines ignored; duplicate stacks summed. */
int ember_ingest_folded(const char *buf, size_t len, ember_tree_t *t,
                        ember_err_t *err);
/* "frame;frame;leaf" per line, one sample each; empty lines ignored. */
int ember_ingest_lines(const char *buf, size_t len, ember_tree_t *t,
                       ember_err_t *err);
/* Pyroscope's tree encoding: depth-first, root first; per node a uvarint
 * name length, the name, a uvarint self value and a uvarint child count.
 * The root's own name is ignored. */
int ember_ingest_tree(const uint8_t *buf, size_t len, ember_tree_t *t,
                      ember_err_t *err);
/* Pyroscope's trie encoding: the same layout, where a node's key is the
 * concatenation of the name fragments from the root and a non-zero value
 * belongs to the folded stack that key spells ("a;b;c"). */
int ember_ingest_trie(const uint8_t *buf, size_t len, ember_tree_t *t,
                      ember_err_t *err);

/* pprof (perftools.profiles.Profile protobuf, gzipped or not): the raw
 * body, or a multipart/form-data body (when content_type says so) with the
 * fields profile (required), prev_profile and sample_type_config. base
 * holds the request's parameters (borrowed); each kept sample type and
 * distinct label set becomes one profile in *out, written only on success
 * (n may be 0). Decompression stops at max_body (EMBER_EPARSE). The rules
 * are in docs/API.md, "pprof". */
int ember_ingest_pprof(const ember_profile_t *base, const char *content_type,
                       const uint8_t *body, size_t len, size_t max_body,
                       ember_ingest_result_t *out, ember_err_t *err);

/* JFR (a Java Flight Recorder recording, gzipped or not): the raw body, or
 * a multipart/form-data body (when content_type says so) with the fields
 * jfr (required) and labels (a LabelsSnapshot protobuf of the context
 * labels, src/jfr/labels.proto). event is the profiler's event (cpu,
 * itimer, wall, alloc or lock; NULL for cpu). base holds the request's
 * parameters (borrowed); each app and label set with samples becomes one
 * profile in *out, written only on success (n may be 0). The rules are in
 * docs/API.md, "JFR". */
int ember_ingest_jfr(const ember_profile_t *base, const char *event,
                     const char *content_type, const uint8_t *body, size_t len,
                     size_t max_body, ember_ingest_result_t *out, ember_err_t *err);

/* ---- push.v1 (Connect) --------------------------------------------------- */

/* What one PushRequest holds, as plain C: series of labels and raw pprof
 * profiles. Everything borrowed; strings NUL-terminated. */
typedef struct {
  const char *name, *value;
} ember_ingest_label_t;

typedef struct {
  const uint8_t *data; /* a pprof profile, gzipped or not */
  size_t len;
} ember_ingest_raw_t;

typedef struct {
  const ember_ingest_label_t *labels;
  size_t nlabels;
  const ember_ingest_raw_t *samples;
  size_t nsamples;
} ember_ingest_series_t;

typedef struct {
  const ember_ingest_series_t *series;
  size_t n;
  size_t max_body; /* a profile, decompressed */
  int64_t now;     /* Unix seconds: a profile without a time is now's */
  ember_ingest_limits_t limits;
  ember_budget_t *budget; /* as ember_ingest_request_t's */
} ember_ingest_push_t;

/* Reads a whole push: service_name (else __name__) names each series' app,
 * labels starting with "__" are dropped, the others are series labels, and
 * each profile is read as a pprof push of that name (an app per sample
 * type), over the time it says it covers (docs/API.md, "push.v1"). On
 * success *out owns every profile of every series; on failure nothing is
 * written and err names the series and profile. Errors: EMBER_EINVAL for a
 * series without an app or with a label Ember cannot store, EMBER_EPARSE
 * for a profile that cannot be read, EMBER_ERANGE for its time,
 * EMBER_ETOOBIG and EMBER_EBUSY for memory and work, EMBER_ELIMIT past the
 * push limits. */
int ember_ingest_push(const ember_ingest_push_t *req, ember_ingest_result_t *out,
                      ember_err_t *err);

/* Decodes a Content-Encoding (NULL, "", "identity", "gzip", "x-gzip",
 * "zstd"). *out is a new buffer (caller frees) even for identity. Stops with
 * EMBER_EPARSE as soon as the output would pass max_out (the body cannot be
 * read within the limit), and for a corrupt or truncated stream;
 * EMBER_ETOOBIG for a zstd frame asking for a window over the limit; EMBER_EINVAL for an unknown encoding. */
int ember_ingest_decode(const char *encoding, const uint8_t *in, size_t len,
                        size_t max_out, uint8_t **out, size_t *out_len,
                        ember_err_t *err);

#endif
