/*
 * jfr_int.h - the Java Flight Recorder reader: what jfr_read.c, jfr_meta.c,
 * jfr_pool.c, jfr_stack.c and jfr_series.c share, and nobody outside
 * src/ingest/ needs.
 *
 * A JFR file is one or more chunks. Each chunk starts with a 68-byte header
 * (magic "FLR\0", version 2.x, the chunk's size, the offsets of its last
 * constant pool and of its metadata, start time, duration, ticks per
 * second, and a flag byte whose bit 0 says integers are compressed) and
 * is a sequence of events, each "size, type id, fields". Type 0 is the
 * metadata event, which declares every class the chunk uses: its id, its
 * name and its fields in order, each field a class id, whether it is an
 * array, and whether its value sits in a constant pool (then the event
 * holds a key). Type 1 is a checkpoint, holding constant pools: for a class
 * id, a list of (key, value). Every other type is an event class of the
 * metadata.
 *
 * Nothing here is hard-coded but the names of the classes and fields Ember
 * reads (jdk.ExecutionSample.stackTrace, jdk.types.Method.name, ...): the
 * layout of every value, theirs included, comes from the chunk's own
 * metadata, so a field Ember does not know, or an event type it does not
 * read, is stepped over by the types the metadata gives it, and an event
 * as a whole by its declared size.
 *
 * Integers: with compression on (what every JDK and async-profiler write)
 * an integer is a varint of 7 bits per byte, low bits first, whose ninth
 * byte, if it gets there, holds 8 bits; without it, short, char, int and
 * long are big-endian 2, 2, 4 and 8 bytes. Floats and doubles are always
 * big-endian IEEE 754; booleans and bytes one byte.
 *
 * Strings start with an encoding byte: 0 null, 1 empty, 2 a key into the
 * java.lang.String constant pool, 3 UTF-8, 4 UTF-16 code units, 5
 * Latin-1; 3 to 5 follow with an integer length.
 *
 * Limits: every count the file gives (strings, elements, fields, pool
 * entries, array elements) is checked against the bytes left before
 * anything is allocated for it; nested inline values are at most
 * JFR_MAX_NESTING deep; the structures built are charged to the request's
 * memory limit and budget (ingest_mem_grow), and the work done (values
 * decoded, frames named, stacks walked into trees) to a work budget in
 * proportion to the body, past which the push is a 413.
 */
#ifndef EMBER_JFR_INT_H
#define EMBER_JFR_INT_H

#include "ingest_int.h"

#define JFR_HEADER_SIZE 68
#define JFR_MAX_NESTING 32
#define JFR_NONE UINT32_MAX

/* The work budget: 16 M units plus 64 per byte of recording, at most
 * 2^30 (a few seconds). A unit is a value decoded, a frame named or a frame
 * walked into a tree; honest recordings need 2 to 10 per byte. */
#define JFR_WORK_BASE (UINT64_C(1) << 24)
#define JFR_WORK_PER_BYTE 64
#define JFR_WORK_CAP (UINT64_C(1) << 30)

/* ---- Bytes (jfr_read.c) --------------------------------------------------- */

/* A cursor over one chunk. Reading past end, or a malformed varint, sets
 * bad and yields 0s from then on: callers check bad once after a group of
 * reads instead of after each. */
typedef struct {
  const uint8_t *base; /* the chunk's first byte */
  size_t pos, end;     /* offsets from base */
  bool compressed;     /* integers are varints */
  bool bad;
} jfr_rd_t;

uint8_t jfr_rd_u8(jfr_rd_t *r);
/* long, int and short/char as the chunk encodes them. */
uint64_t jfr_rd_long(jfr_rd_t *r);
uint32_t jfr_rd_int(jfr_rd_t *r);
uint16_t jfr_rd_short(jfr_rd_t *r);
/* Fixed-size big-endian (floats, doubles, the chunk header). */
uint64_t jfr_rd_be(jfr_rd_t *r, size_t n);
/* Skips n bytes. */
void jfr_rd_skip(jfr_rd_t *r, size_t n);
/* An int count that must not exceed the bytes left (each counted thing
 * takes at least one byte); bad otherwise. */
uint32_t jfr_rd_count(jfr_rd_t *r);

/* ---- Memory of one chunk (jfr_read.c) ------------------------------------- */

/* Blocks that never move, for strings made up while reading (Latin-1 and
 * UTF-16 turned into UTF-8, frame names), so slices into them stay valid
 * until the arena is reset. */
typedef struct jfr_block jfr_block_t;
typedef struct {
  jfr_block_t *head; /* newest first */
  size_t used;       /* in head */
  size_t bytes;      /* of every block, for the memory count */
} jfr_arena_t;

char *jfr_arena_alloc(jfr_arena_t *a, size_t n);
/* Keeps the newest block for reuse, frees the others. */
void jfr_arena_reset(jfr_arena_t *a);
void jfr_arena_free(jfr_arena_t *a);

/* ---- Metadata (jfr_meta.c) ------------------------------------------------ */

typedef enum {
  JFR_STRUCT = 0,
  JFR_BOOLEAN,
  JFR_BYTE,
  JFR_CHAR,
  JFR_SHORT,
  JFR_INT,
  JFR_LONG,
  JFR_FLOAT,
  JFR_DOUBLE,
  JFR_STRING,
} jfr_kind_t;

typedef struct {
  ember_slice_t name;
  uint32_t cls;  /* index into the chunk's classes */
  bool cpool;    /* the value is a key into cls's constant pool */
  bool array;    /* an int count, then that many values */
} jfr_field_t;

typedef struct {
  uint64_t id;
  ember_slice_t name;
  jfr_kind_t kind;
  uint32_t first, nfields; /* fields[first .. first + nfields) */
} jfr_class_t;

/* One chunk's classes, sorted by id. Every field's cls is a valid index,
 * no struct contains itself inline (through arrays it may, bounded by
 * JFR_MAX_NESTING when read), and no two classes share an id. */
typedef struct {
  jfr_class_t *classes;
  size_t nclasses, ccap;
  jfr_field_t *fields;
  size_t nfields, fcap;
  ember_slice_t *strings; /* the metadata's string table */
  size_t nstrings, scap;
  uint32_t string_cls; /* java.lang.String, or JFR_NONE */
  size_t max_fields;   /* the most fields one class has */
} jfr_meta_t;

/* ---- One chunk being read (jfr_read.c, jfr_pool.c) ------------------------ */

typedef struct {
  uint64_t key;
  uint64_t off; /* where the value starts, from the chunk's base */
  uint32_t cls; /* JFR_NONE: a free slot */
} jfr_pool_entry_t;

typedef struct jfr_chunk {
  const uint8_t *base;
  size_t size;
  size_t index;          /* 0 for the first chunk of the file */
  bool compressed;
  uint64_t ticks_per_sec; /* > 0 */
  jfr_meta_t meta;
  jfr_pool_entry_t *pool; /* open addressing over (cls, key) */
  size_t pool_cap, pool_n;
  jfr_arena_t arena;     /* strings made up for this chunk */
  size_t held;           /* bytes of the above, charged (jfr_chunk_charge) */
} jfr_chunk_t;

/* What reading one request's recording shares: limits, work and memory
 * counters, and the first error. */
typedef struct {
  ingest_ctx_t *c;
  ember_err_t *err;
  uint64_t work, work_limit;
} jfr_ctx_t;

/* Counts cost units of work; EMBER_ETOOBIG (with err set) past the budget. */
int jfr_work(jfr_ctx_t *x, uint64_t cost);
/* Charges ch's tables and arena as they grow (ingest_mem_grow). */
int jfr_chunk_charge(jfr_ctx_t *x, jfr_chunk_t *ch);

/* The EMBER_EPARSE error "jfr: chunk N, byte B: ...". */
int jfr_fail(jfr_ctx_t *x, const jfr_chunk_t *ch, size_t at, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Reads the header of the chunk starting at body[at] (len bytes in all) into
 * ch: its size (within what is left), flags and clock. */
int jfr_chunk_header(jfr_ctx_t *x, const uint8_t *body, size_t len, size_t at,
                     size_t index, jfr_chunk_t *ch);
/* Empties ch for the next chunk, keeping its capacity. */
void jfr_chunk_reset(jfr_chunk_t *ch);
void jfr_chunk_free(jfr_chunk_t *ch);

/* Parses the metadata event the header points to into ch->meta. */
int jfr_meta_read(jfr_ctx_t *x, jfr_chunk_t *ch, size_t at);
/* The class of a name, or JFR_NONE. */
uint32_t jfr_meta_find(const jfr_meta_t *m, const char *name);
/* The class of an id, or JFR_NONE. */
uint32_t jfr_meta_by_id(const jfr_meta_t *m, uint64_t id);
/* The index within class cls of its field called name, or JFR_NONE. */
uint32_t jfr_meta_field(const jfr_meta_t *m, uint32_t cls, const char *name);

/* An event's header: where its fields start and where it ends. */
typedef struct {
  size_t start, fields, end;
  uint64_t type;
} jfr_event_t;

/* Reads the event header at *pos and moves *pos to the next event. */
int jfr_event_next(jfr_ctx_t *x, const jfr_chunk_t *ch, size_t *pos, jfr_event_t *ev);

/* ---- Values ---------------------------------------------------------------- */

/* One field's value, read or stepped over: a number (integers, booleans,
 * a constant pool key), or where a string, inline struct or array starts. */
typedef struct {
  uint64_t u;   /* the integer, the key, or an array's count */
  size_t at;    /* where the value starts */
  bool present; /* the field exists (jfr_values_get) */
} jfr_value_t;

/* Reads the fields of one value of class cls at r into vals[0 .. nfields),
 * stepping over nested values by their declared types. depth counts the
 * nesting so far. Fails (with the reader's position) on a value that runs
 * past r's end. */
int jfr_read_struct(jfr_ctx_t *x, const jfr_chunk_t *ch, jfr_rd_t *r, uint32_t cls,
                    jfr_value_t *vals, int depth);
/* Steps over one value of field f (array, key or inline) at r. */
int jfr_skip_field(jfr_ctx_t *x, const jfr_chunk_t *ch, jfr_rd_t *r,
                   const jfr_field_t *f, int depth);

/* Reads the string at r: NULL base for null, else the text as UTF-8 (a
 * slice of the chunk, or of its arena for Latin-1 and UTF-16). A key into
 * the String pool is followed once. */
int jfr_read_string(jfr_ctx_t *x, jfr_chunk_t *ch, jfr_rd_t *r, ember_slice_t *out,
                    int depth);

/* ---- Constant pools (jfr_pool.c) ------------------------------------------ */

/* Reads every checkpoint event of the chunk into ch's pool table. */
int jfr_pools_read(jfr_ctx_t *x, jfr_chunk_t *ch);
/* Where the value of (cls, key) starts, or false. */
bool jfr_pool_find(const jfr_chunk_t *ch, uint32_t cls, uint64_t key, uint64_t *off);

/* ---- Frames (jfr_stack.c) -------------------------------------------------- */

/* Names the frames of a chunk's stack traces, "package/Class.method" as
 * Pyroscope shows them (native frames by their symbol alone), caching
 * every method's name and every stack's frames for the chunk. Owns its
 * tables; reset per chunk, freed once. */
typedef struct jfr_frames jfr_frames_t;

jfr_frames_t *jfr_frames_new(void);
void jfr_frames_reset(jfr_frames_t *f);
void jfr_frames_free(jfr_frames_t *f);
/* Finds the classes and fields stacks are read through in ch's metadata;
 * EMBER_EPARSE when jdk.types.StackTrace and friends are not as JFR
 * defines them. Call once per chunk before jfr_frames_stack. */
int jfr_frames_bind(jfr_frames_t *f, jfr_ctx_t *x, const jfr_chunk_t *ch);
/* The frames of stack trace key, root first, at most max_depth of them (a
 * deeper stack keeps its max_depth - 1 frames nearest the root and ends in
 * EMBER_INGEST_TRUNCATED_FRAME; *cut says so). Borrowed until the next
 * call. A key with no entry is an error, except key 0 (no stack), which
 * gives *n = 0 and *found = false. */
int jfr_frames_stack(jfr_frames_t *f, jfr_ctx_t *x, jfr_chunk_t *ch, uint64_t key,
                     uint32_t max_depth, const ember_slice_t **frames, size_t *n,
                     bool *found, bool *cut);
/* Bytes the tables hold. */
size_t jfr_frames_mem(const jfr_frames_t *f);

/* ---- Context labels (jfr_labels.c) ---------------------------------------- */

/* One label of a context: its key and value strings. Borrowed from the
 * snapshot. */
typedef struct {
  ember_slice_t key, value;
} jfr_label_t;

/* The labels part of a push: contexts by id, each a list of labels whose
 * strings both exist (a label naming a missing string is dropped, as
 * Pyroscope drops it). */
typedef struct jfr_labels jfr_labels_t;

/* Decodes the labels part (a LabelsSnapshot protobuf, src/jfr/labels.proto,
 * gzipped or not). On success *out is the caller's (jfr_labels_free). */
int jfr_labels_open(const uint8_t *buf, size_t len, ingest_ctx_t *c, jfr_labels_t **out,
                    ember_err_t *err);
void jfr_labels_free(jfr_labels_t *l);
/* The labels of context id, or false when the snapshot has no such id. */
bool jfr_labels_get(const jfr_labels_t *l, int64_t id, const jfr_label_t **labels,
                    size_t *n);

/* ---- The push (jfr_series.c) ---------------------------------------------- */

/* A JFR push: the raw recording, or a multipart form with the fields jfr
 * and labels; event is the request's event parameter. */
int ingest_jfr(const ember_profile_t *base, const char *event, const char *content_type,
               const uint8_t *body, size_t len, ingest_ctx_t *c,
               ember_ingest_result_t *out, ember_err_t *err);

#endif
