/*
 * ingest_int.h - what the ingest decoders share and nobody else needs: the
 * quoting of untrusted bytes in error messages, text stacks ("a;b;c") and
 * the work budget of the binary formats.
 */
#ifndef EMBER_INGEST_INT_H
#define EMBER_INGEST_INT_H

#include "ember/ingest.h"

/* ---- Error messages ---------------------------------------------------- */

/* How many input bytes an error message quotes before cutting with "...". */
#define INGEST_EXCERPT_MAX 60

/* A quotable copy of untrusted bytes: printable ASCII as is, anything else
 * as \xNN, cut after INGEST_EXCERPT_MAX input bytes. */
typedef ember_excerpt_t ingest_excerpt_t;

const char *ingest_excerpt(ingest_excerpt_t *e, const char *s, size_t n);

/* ---- Text stacks ------------------------------------------------------- */

/* Scratch space for splitting stacks, reused from line to line so a body is
 * parsed without an allocation per line. Owns frames; free with
 * ingest_frames_free. */
typedef struct {
  ember_slice_t *frames;
  size_t cap;
} ingest_frames_t;

/* Adds the stack spelled by "a;b;c" (root first) with value to side 0 of t.
 * Empty frames (from "a;;b" or a trailing ';') are skipped; a stack with no
 * frames at all adds to the root's self. */
void ingest_add_text_stack(ember_tree_t *t, ember_slice_t stack, uint64_t value,
                           ingest_frames_t *scratch);
void ingest_frames_free(ingest_frames_t *f);

/* Cuts the next line out of buf starting at *pos and advances *pos past its
 * newline. The line loses its "\n" or "\r\n" and trailing spaces and tabs.
 * Returns false when nothing is left. */
bool ingest_next_line(const char *buf, size_t len, size_t *pos, ember_slice_t *line);

/* ---- Tree and trie node reader ---------------------------------------- */

/* Both binary formats are a depth-first, pre-order list of nodes, each a
 * uvarint name length, the name bytes, a uvarint value and a uvarint child
 * count. The reader checks every length against the bytes left, and keeps
 * count of the nodes announced but not read yet: each takes at least 3
 * bytes, so a child count the rest of the body cannot hold is refused before
 * anything is allocated for it. */
typedef struct {
  const uint8_t *base, *p, *end;
  uint64_t pending;   /* nodes announced (the root included) but not read */
  const char *format; /* "tree" or "trie", for messages */
} ingest_reader_t;

typedef struct {
  ember_slice_t name; /* borrowed from the body */
  uint64_t value;
  uint64_t nchildren;
} ingest_node_t;

void ingest_reader_init(ingest_reader_t *r, const uint8_t *buf, size_t len,
                        const char *format);
/* Reads the next node. EMBER_EPARSE names the byte offset and the problem. */
int ingest_read_node(ingest_reader_t *r, ingest_node_t *node, ember_err_t *err);
/* EMBER_EPARSE when bytes are left after the root's subtree. */
int ingest_reader_finish(const ingest_reader_t *r, ember_err_t *err);

/* ---- Work budget of trie bodies ----------------------------------------- */

/* In the trie encoding a node costs a few bytes, but the frame a node's key
 * ends in may repeat all of its ancestors' fragments, and every node with a
 * value interns that frame anew. A hostile body can make that quadratic, so
 * decoding stops with EMBER_ETOOBIG once the bytes hashed pass a budget that
 * honest profiles stay far below: 16 M plus 8 per body byte, capped at 64 M,
 * which bounds the time to well under a second and the bytes of new frame
 * names to 64 MiB. */
#define INGEST_WORK_BASE (UINT64_C(1) << 24)
#define INGEST_WORK_PER_BYTE 8
#define INGEST_WORK_CAP (UINT64_C(1) << 26)

static inline uint64_t ingest_work_budget(size_t len) {
  uint64_t per = (uint64_t)len > INGEST_WORK_CAP / INGEST_WORK_PER_BYTE
                     ? INGEST_WORK_CAP
                     : (uint64_t)len * INGEST_WORK_PER_BYTE;
  uint64_t b = INGEST_WORK_BASE + per;
  return b > INGEST_WORK_CAP ? INGEST_WORK_CAP : b;
}

/* The EMBER_ETOOBIG error for a body that passed its budget. */
int ingest_too_much_work(const char *format, ember_err_t *err);

/* ---- multipart/form-data (multipart.c) --------------------------------- */

/* One field of a form. Everything is borrowed from the body. */
typedef struct {
  ember_slice_t name;
  const uint8_t *data;
  size_t len;
} ingest_part_t;

/* The fields of one form, in body order. Owns the array only. */
typedef struct {
  ingest_part_t *parts;
  size_t n;
} ingest_form_t;

/* True when the Content-Type's media type is multipart/form-data. */
bool ingest_is_multipart(const char *content_type);

/* Splits a multipart/form-data body (RFC 7578) along the boundary named in
 * content_type. Lines may end in CRLF or LF; a preamble before the first
 * boundary and an epilogue after the last are ignored. EMBER_EPARSE for a
 * missing boundary parameter, a part without a name, or a body that does not
 * end with the closing boundary. On success *out is the caller's to free
 * with ingest_form_free. */
int ingest_multipart_parse(const char *content_type, const uint8_t *body, size_t len,
                           ingest_form_t *out, ember_err_t *err);
/* The first field called name, or NULL. */
const ingest_part_t *ingest_form_get(const ingest_form_t *f, const char *name);
void ingest_form_free(ingest_form_t *f);

/* ---- pprof sample types (pprof_types.c) -------------------------------- */

/* How one pprof sample type is stored. Owns its strings. */
typedef struct {
  char *type;   /* the pprof name, "alloc_space" */
  char *suffix; /* the app is "<name>.<suffix>" */
  char *units;
  ember_aggregation_t aggregation;
  bool cumulative; /* counts since process start: prev_profile is subtracted */
} pprof_type_t;

/* One type's entry of sample_type_config. Owns its strings; a field the
 * entry does not set is NULL (strings) or -1 (the others). */
typedef struct {
  char *type;
  char *display_name;
  char *units;
  int aggregation; /* ember_aggregation_t */
  int cumulative;  /* 0 or 1 */
} pprof_override_t;

typedef struct {
  pprof_override_t *items;
  size_t n;
} pprof_config_t;

/* Parses the sample_type_config JSON: {"<type>": {"units": "bytes",
 * "aggregation": "sum"|"average", "display-name": "...", "cumulative":
 * bool}, ...}; other members are ignored. EMBER_EPARSE names what is wrong.
 * Free with pprof_config_free. */
int pprof_config_parse(const uint8_t *json, size_t len, pprof_config_t *out,
                       ember_err_t *err);
void pprof_config_free(pprof_config_t *c);
/* The entry for type, or NULL (cfg may be NULL). Borrowed. */
const pprof_override_t *pprof_config_get(const pprof_config_t *cfg, const char *type);

/* Settles type (whose pprof unit is unit): cfg first, then the built-in
 * table, else the type's own name, unit and sum. EMBER_EPARSE when the
 * suffix cannot be part of an app name. Free *out with pprof_type_free. */
int pprof_type_resolve(const pprof_config_t *cfg, const char *type, const char *unit,
                       pprof_type_t *out, ember_err_t *err);
void pprof_type_free(pprof_type_t *t);

/* Length of app without a trailing ".cpu", ".alloc_space", ... suffix. */
size_t pprof_app_base_len(const char *app);

/* Samples per second of a period given in a time unit ("nanoseconds",
 * "microseconds", "milliseconds", "seconds"), rounded, at least 1; 0 when
 * the unit is not a time or period <= 0. */
uint32_t pprof_rate_from_period(const char *unit, int64_t period);

/* ---- One pprof profile (pprof.c) ---------------------------------------- */

struct Perftools__Profiles__Profile; /* generated from pprof/profile.proto */

typedef struct {
  uint64_t id;
  size_t idx;
} pprof_idpair_t;

/* Element ids to indexes: no table when the ids are 1..n in order. */
typedef struct {
  pprof_idpair_t *pairs; /* sorted by id, or NULL for ids 1..n */
  size_t n;
} pprof_idmap_t;

/* An unpacked, checked profile and the frames of each location. Owns
 * everything; see pprof.c for its invariants. */
typedef struct {
  const char *what; /* "profile" or "prev_profile", for messages */
  size_t size;      /* bytes of protobuf, after decompression */
  struct Perftools__Profiles__Profile *pb;
  pprof_idmap_t locations, functions, mappings;
  size_t *first;         /* location i's frames: frames[first[i]..first[i+1]) */
  ember_slice_t *frames; /* leaf first within a location */
  size_t nframes;
  ember_buf_t arena;     /* names made up for frames without symbols */
} pprof_doc_t;

/* The frames of one sample, root first. Owns frames (not the names). */
typedef struct {
  ember_slice_t *frames;
  size_t n, cap;
  uint64_t bytes; /* sum of the names' lengths */
} pprof_stack_t;

/* Decompresses buf when it starts with the gzip magic (up to max_body
 * bytes: EMBER_ETOOBIG past it), unpacks and checks it. Errors start with
 * what. On failure *d is left empty; else close it with pprof_doc_close. */
int pprof_doc_open(pprof_doc_t *d, const char *what, const uint8_t *buf, size_t len,
                   size_t max_body, ember_err_t *err);
void pprof_doc_close(pprof_doc_t *d);

/* String idx of the table, field naming its use in the message when the
 * index is out of range (EMBER_EPARSE). Index 0 is "" even in an empty
 * table. *out borrowed from d. */
int pprof_doc_string(const pprof_doc_t *d, int64_t idx, const char *field,
                     const char **out, ember_err_t *err);

/* Fills st with the frames of sample i, root first. EMBER_EPARSE when the
 * sample names a location that does not exist. */
int pprof_doc_stack(const pprof_doc_t *d, size_t sample, pprof_stack_t *st,
                    ember_err_t *err);
void pprof_stack_free(pprof_stack_t *st);

#endif
