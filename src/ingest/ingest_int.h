/*
 * ingest_int.h - what the ingest decoders share and nobody else needs: the
 * quoting of untrusted bytes in error messages, text stacks ("a;b;c") and
 * the work budget of the binary formats.
 */
#ifndef EMBER_INGEST_INT_H
#define EMBER_INGEST_INT_H

#include "ember/ingest.h"

#include <protobuf-c/protobuf-c.h>

/* ---- Error messages ---------------------------------------------------- */

/* How many input bytes an error message quotes before cutting with "...". */
#define INGEST_EXCERPT_MAX 60

/* A quotable copy of untrusted bytes: printable ASCII as is, anything else
 * as \xNN, cut after INGEST_EXCERPT_MAX input bytes. */
typedef ember_excerpt_t ingest_excerpt_t;

/* Inline, so that no decoder depends on the file that runs them all. */
static inline const char *ingest_excerpt(ingest_excerpt_t *e, const char *s, size_t n) {
  return ember_excerpt(e, s, n, INGEST_EXCERPT_MAX);
}

/* ---- One request's limits, budget and counters (budget.c) -------------- */

/* What the decoders of one request share: its limits with the defaults
 * filled in, the byte budget, and what they count on the way. */
typedef struct {
  size_t max_body;        /* a decoded body or inflated profile, bytes */
  uint32_t max_depth;     /* frames per stack, >= 1 */
  uint32_t max_apps;      /* apps per push, >= 1 */
  uint32_t max_series;    /* series per push, >= 1 */
  ember_budget_t *budget; /* borrowed; NULL = unlimited */
  size_t mem_limit;       /* what the profiles may hold (ingest_mem_body) */
  size_t mem_held;        /* what they hold, taken from budget */
  size_t tree_held;       /* of which the tree of a one-tree format */
  uint64_t truncated;     /* OUT: stacks cut at max_depth */
  /* push.v1: a pprof profile's times are its own (time_nanos and
   * duration_nanos), checked against now and skew as from and until are. */
  bool profile_times;
  int64_t now, skew;
  /* push.v1: labels whose key starts with "__" are not stored, the
   * samples' as the series'. */
  bool drop_reserved;
} ingest_ctx_t;

/* lim may be NULL (every default). */
void ingest_ctx_init(ingest_ctx_t *c, const ember_ingest_limits_t *lim, size_t max_body,
                     ember_budget_t *budget);

/* A time a push may cover: from 2000-01-01 to now + skew, else EMBER_ERANGE
 * naming param (ingest.c). */
int ingest_check_time(const char *param, int64_t t, int64_t now, int64_t skew,
                      ember_err_t *err);

/* ---- Memory of the profiles being built (budget.c) ------------------------ */

/* The profiles a push builds may hold at most 16 MiB plus 32 bytes per
 * body byte (honest profiles hold 1 to 5 per byte; a hostile folded body of
 * one-letter frames some 45), and take what they hold from the budget as
 * they grow, so that parsing itself can neither outgrow its body without
 * bound nor push the server past its budget. */
#define INGEST_MEM_BASE ((size_t)16 << 20)
#define INGEST_MEM_PER_BYTE 32

/* Raises c's memory limit to what a body of len bytes may build. */
void ingest_mem_body(ingest_ctx_t *c, size_t len);

/* Counts an object whose size went from *held to now bytes: EMBER_ETOOBIG
 * past the limit, EMBER_EBUSY when the budget has no room now (ETOOBIG
 * when this push alone would not fit it). *held follows on success. */
int ingest_mem_grow(ingest_ctx_t *c, size_t *held, size_t now, ember_err_t *err);
/* ingest_mem_grow for the tree of a one-tree format. */
int ingest_mem_tree(ingest_ctx_t *c, const ember_tree_t *t, ember_err_t *err);
/* Gives back everything ingest_mem_grow took (when the push is parsed:
 * from then on the result's mem_bytes are the caller's to count). */
void ingest_mem_release(ingest_ctx_t *c);

/* Takes n bytes from c's budget; EMBER_EBUSY (ingest_busy) when they do
 * not fit. */
int ingest_budget_take(const ingest_ctx_t *c, size_t n, ember_err_t *err);
int ingest_busy(ember_err_t *err);
void ingest_budget_give(const ingest_ctx_t *c, size_t n);

/* ---- Decoders with the request's limits ------------------------------- */

/* The public ember_ingest_<format> functions run these with the default
 * limits; ember_ingest_parse runs them with the request's. Each adds to
 * side 0 of t and counts what it cuts in c. */
int ingest_folded(const char *buf, size_t len, ember_tree_t *t, ingest_ctx_t *c,
                  ember_err_t *err);
int ingest_lines(const char *buf, size_t len, ember_tree_t *t, ingest_ctx_t *c,
                 ember_err_t *err);
int ingest_tree(const uint8_t *buf, size_t len, ember_tree_t *t, ingest_ctx_t *c,
                ember_err_t *err);
int ingest_trie(const uint8_t *buf, size_t len, ember_tree_t *t, ingest_ctx_t *c,
                ember_err_t *err);
int ingest_pprof(const ember_profile_t *base, const char *content_type,
                 const uint8_t *body, size_t len, ingest_ctx_t *c,
                 ember_ingest_result_t *out, ember_err_t *err);

/* ---- protobuf-c unpacking with a budget (budget.c) ---------------------- */

/* protobuf-c's allocations while it unpacks one message, counted against a
 * limit of the message's own (in proportion to its bytes) and taken from
 * the request's byte budget (c may be NULL), a megabyte at a time.
 * protobuf-c frees nothing while an unpack succeeds, so what was taken
 * (taken) is given back when the message is freed. */
typedef struct {
  size_t used, limit;
  size_t taken; /* from c's budget, >= used */
  bool over;    /* the limit was reached: a 413 */
  bool busy;    /* the budget had no room: a 429 */
  const ingest_ctx_t *c;
} ingest_unpack_t;

/* The allocator for one unpack, counting in *u (which must outlive it). */
ProtobufCAllocator ingest_unpack_begin(ingest_unpack_t *u, const ingest_ctx_t *c,
                                       size_t limit);
/* The allocator to free an unpacked message with (the caller gives its
 * taken bytes back itself). */
ProtobufCAllocator ingest_unpack_freer(void);

/* An estimate of the bytes r's profiles hold: trees, keys, strings. */
size_t ingest_result_bytes(const ember_ingest_result_t *r);

/* A body after its Content-Encoding: either the input itself (owned NULL)
 * or a new buffer whose capacity was taken from the request's budget. */
typedef struct {
  const uint8_t *data;
  size_t len;
  uint8_t *owned; /* free with ingest_buf_free */
  size_t taken;   /* bytes taken from the budget */
} ingest_buf_t;

/* ember_ingest_decode without the copy for identity, with c's limit
 * (max_body) and budget: EMBER_EBUSY when the budget cannot hold the
 * output. On success free *out with ingest_buf_free. */
int ingest_decode(const char *encoding, const uint8_t *in, size_t len,
                  const ingest_ctx_t *c, ingest_buf_t *out, ember_err_t *err);
void ingest_buf_free(const ingest_ctx_t *c, ingest_buf_t *b);

/* ---- Stacks and their depth (stack.c) ------------------------------------ */

/* How far down the tree a stack being added has got (tree.h: the rule for
 * stacks deeper than the request's max_depth lives with the tree, so that
 * the store cuts the text stacks it builds exactly as the decoders cut). */
typedef ember_tree_pos_t ingest_pos_t;

static inline ingest_pos_t ingest_pos_root(void) { return ember_tree_pos_root(); }

/* The position one frame (name, which must stay valid as long as the
 * position is used) below p. */
static inline ingest_pos_t ingest_pos_down(ember_tree_t *t, const ingest_ctx_t *c,
                                           ingest_pos_t p, const char *name, size_t len) {
  return ember_tree_pos_down(t, c->max_depth, p, name, len);
}

/* Adds value to p's node on side 0, counting a cut stack in c. */
static inline void ingest_pos_add(ember_tree_t *t, ingest_ctx_t *c, ingest_pos_t p,
                                  uint64_t value) {
  bool cut;
  ember_tree_pos_add(t, c->max_depth, p, value, &cut);
  c->truncated += cut;
}

/* Adds the stack spelled by "a;b;c" (root first) with value to side 0 of t.
 * Empty frames (from "a;;b" or a trailing ';') are skipped; a stack with no
 * frames at all adds to the root's self. Fails as ingest_mem_tree. */
int ingest_add_text_stack(ember_tree_t *t, ingest_ctx_t *c, ember_slice_t stack,
                          uint64_t value, ember_err_t *err);

/* s without its trailing spaces and tabs. */
static inline ember_slice_t ingest_rtrim(ember_slice_t s) {
  while (s.len && (s.base[s.len - 1] == ' ' || s.base[s.len - 1] == '\t')) s.len--;
  return s;
}

/* Cuts the next line out of buf starting at *pos and advances *pos past its
 * newline. The line loses its "\n" or "\r\n" and trailing spaces and tabs.
 * Returns false when nothing is left. */
bool ingest_next_line(const char *buf, size_t len, size_t *pos, ember_slice_t *line);

/* ---- Where the text formats put their stacks (text.c) --------------------- */

/* The folded and lines decoders read stacks and hand each to a sink: the
 * tree sink (ingest_add_text_stack) builds the call tree, the text sink
 * (ingest_texts_add) keeps the texts for the store. Both see the same
 * lines, so both formats keep one parser. */
typedef int (*ingest_sink_fn)(void *sink, ingest_ctx_t *c, ember_slice_t stack,
                              uint64_t value, ember_err_t *err);

/* ingest_add_text_stack with sink a tree. */
int ingest_tree_sink(void *tree, ingest_ctx_t *c, ember_slice_t stack, uint64_t value,
                     ember_err_t *err);

/* Text stacks being collected: each distinct text once, values summed, in
 * one pass over the body and without a copy of it (the texts point into
 * it). What it holds is taken from c's memory limit and budget. */
typedef struct {
  ember_text_stacks_t *s;
  size_t cap;      /* of s->items */
  uint64_t *slots; /* hash >> 32 << 32 | (item + 1); 0 = empty */
  size_t nslots;   /* a power of two, at least twice s->n */
  size_t held;     /* bytes taken through ingest_mem_grow */
} ingest_texts_t;

void ingest_texts_init(ingest_texts_t *b, const ingest_ctx_t *c);
/* The text sink: counts a stack cut at c->max_depth as the tree would. */
int ingest_texts_add(void *b, ingest_ctx_t *c, ember_slice_t stack, uint64_t value,
                     ember_err_t *err);
/* Hands over the stacks (caller frees with ember_text_stacks_free) and
 * frees the rest; b is left empty. */
ember_text_stacks_t *ingest_texts_finish(ingest_texts_t *b);
void ingest_texts_free(ingest_texts_t *b);

/* The folded and lines decoders, into any sink. */
int ingest_folded_to(const char *buf, size_t len, ingest_sink_fn add, void *sink,
                     ingest_ctx_t *c, ember_err_t *err);
int ingest_lines_to(const char *buf, size_t len, ingest_sink_fn add, void *sink,
                    ingest_ctx_t *c, ember_err_t *err);

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
/* The field called name, or NULL when the form has none or it is empty;
 * EMBER_EPARSE when the form has it twice. */
int ingest_form_one(const ingest_form_t *f, const char *name, const ingest_part_t **out,
                    ember_err_t *err);
/* The EMBER_EPARSE error for a form without its required field name,
 * listing the fields it has; what says what belongs in it. */
int ingest_form_missing(const ingest_form_t *f, const char *name, const char *what,
                        ember_err_t *err);
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

/* The largest sample_type_config accepted (EMBER_ETOOBIG past it). */
#define PPROF_CONFIG_MAX (64 << 10)

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
  const char *what;      /* "profile" or "prev_profile", for messages */
  const ingest_ctx_t *c; /* borrowed: the budget the unpacked bytes came from */
  size_t size;           /* bytes of protobuf, after decompression */
  size_t unpacked;       /* bytes protobuf-c allocated, taken from c's budget */
  struct Perftools__Profiles__Profile *pb;
  size_t *str_len; /* the length of each string of the table */
  pprof_idmap_t locations, functions, mappings;
  size_t *first;         /* location i's frames: frames[first[i]..first[i+1]) */
  ember_slice_t *frames; /* leaf first within a location */
  size_t nframes;
  ember_buf_t arena;     /* names made up for frames without symbols */
} pprof_doc_t;

/* The frames of one sample, root first, at most the depth limit of them.
 * Owns frames (not the names). */
typedef struct {
  ember_slice_t *frames;
  size_t n, cap;
  uint64_t bytes;  /* sum of the kept names' lengths */
  uint64_t depth;  /* frames of the whole stack, before it was cut */
  uint64_t walked; /* location ids read to find them */
} pprof_stack_t;

/* Decompresses buf when it starts with the gzip magic (up to c->max_body
 * bytes), unpacks and checks it; the inflated bytes and what protobuf-c
 * allocates are taken from c's budget (EMBER_EBUSY when it has no room)
 * until pprof_doc_close. Errors start with what. On failure *d is left
 * empty; else close it with pprof_doc_close. c is borrowed until then. */
int pprof_doc_open(pprof_doc_t *d, const char *what, const uint8_t *buf, size_t len,
                   const ingest_ctx_t *c, ember_err_t *err);
void pprof_doc_close(pprof_doc_t *d);

/* String idx of the table, field naming its use in the message when the
 * index is out of range (EMBER_EPARSE). Index 0 is "" even in an empty
 * table. *out borrowed from d. pprof_doc_slice gives its length too, in
 * O(1). */
int pprof_doc_string(const pprof_doc_t *d, int64_t idx, const char *field,
                     const char **out, ember_err_t *err);
int pprof_doc_slice(const pprof_doc_t *d, int64_t idx, const char *field,
                    ember_slice_t *out, ember_err_t *err);

/* Fills st with the frames of sample i, root first. A stack deeper than
 * max_depth (>= 1) keeps its max_depth - 1 frames nearest the root and
 * ends in EMBER_INGEST_TRUNCATED_FRAME; st->depth says how deep it was.
 * Takes O(location ids + max_depth) time and at most max_depth + 1 frames
 * of memory, however many frames the locations expand to. EMBER_EPARSE
 * when the sample names a location that does not exist. */
int pprof_doc_stack(const pprof_doc_t *d, size_t sample, uint32_t max_depth,
                    pprof_stack_t *st, ember_err_t *err);
void pprof_stack_free(pprof_stack_t *st);

#endif
