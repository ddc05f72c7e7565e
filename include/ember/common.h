/*
 * common.h - what every Ember module shares: error codes and the error
 * struct that carries a human message up to the HTTP layer, allocation
 * wrappers that abort on out-of-memory (so error codes stay for real
 * failures), string slices, a growable byte buffer and varints.
 */
#ifndef EMBER_COMMON_H
#define EMBER_COMMON_H

#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---- Errors ------------------------------------------------------------ */

/* Every fallible function returns one of these (0 = success). The HTTP layer
 * maps each to its status code; the comment names that status. */
enum {
  EMBER_OK = 0,
  EMBER_EINVAL = -1,    /* bad parameter: 400 */
  EMBER_EPARSE = -2,    /* unparseable body: 422 */
  EMBER_ETOOBIG = -3,   /* body or decompressed body over the limit: 413 */
  EMBER_EBUSY = -4,     /* write queue full, retry later: 429 */
  EMBER_ESHUTDOWN = -5, /* server is stopping: 503 */
  EMBER_ENOTFOUND = -6, /* no such route or object: 404 */
  EMBER_EAUTH = -7,     /* missing or wrong credentials: 401 */
  EMBER_EIO = -8,       /* storage or system failure: 500 */
  EMBER_ELIMIT = -9,    /* a configured limit (apps, series, stacks) reached: 429 */
  EMBER_ETIMEOUT = -10, /* work passed its deadline and was cancelled: 504 */
  EMBER_EUNAVAIL = -11, /* not ready, or too many queries at once: 503 */
  EMBER_EFORBIDDEN = -12, /* refused by policy (cross-site, Host, role): 403 */
  EMBER_ERANGE = -13,   /* a well-formed value outside what is accepted: 422 */
  EMBER_EUNIMPL = -14,  /* a feature of a protocol Ember does not have: 501 */
};

#define EMBER_ERR_MSG_MAX 512

/* The message that travels with a failing return code. Functions take an
 * `ember_err_t *err` that may be NULL when the caller does not care. */
typedef struct {
  int code;
  char msg[EMBER_ERR_MSG_MAX];
} ember_err_t;

/* Records code and message in err (if non-NULL) and returns code, so that
 * `return ember_err_set(err, EMBER_EINVAL, "...")` reads naturally. */
int ember_err_set(ember_err_t *err, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Clears err to EMBER_OK with an empty message. NULL is accepted. */
void ember_err_clear(ember_err_t *err);

/* Short lowercase name of a code ("bad request", "queue full", ...). */
const char *ember_err_name(int code);

/* ---- Memory ------------------------------------------------------------ */

/* Allocation never fails: on out-of-memory these print one line and abort. */
void *ember_malloc(size_t n);
void *ember_calloc(size_t count, size_t size);
void *ember_realloc(void *p, size_t n);
char *ember_strdup(const char *s);
char *ember_strndup(const char *s, size_t n);
/* Grows *arr (of *cap elements of elem_size) so it holds at least need
 * elements, doubling; zero-fills nothing. A need whose size in bytes does
 * not fit size_t aborts like any other allocation that cannot be met. */
void ember_grow(void **arr, size_t *cap, size_t need, size_t elem_size);

/* ---- Sums -------------------------------------------------------------- */

/* a + b, saturating at UINT64_MAX: a sum of samples that overflowed stays
 * the largest value instead of wrapping into a small one. */
static inline uint64_t ember_sat_add(uint64_t a, uint64_t b) {
  return a > UINT64_MAX - b ? UINT64_MAX : a + b;
}

/* ---- Byte budget ------------------------------------------------------ */

/* A limit on bytes held at once by many threads (request bodies, decoded
 * bodies, parsed profiles waiting for the disk). Whoever takes bytes gives
 * the same number back when it lets go of them. limit 0 means unlimited. */
typedef struct {
  atomic_size_t used;
  size_t limit;
} ember_budget_t;

/* Takes n bytes: true when they fit under the limit (and are now counted),
 * false when they do not (nothing counted). NULL b always fits. */
bool ember_budget_take(ember_budget_t *b, size_t n);
/* Gives back n bytes taken earlier. NULL b is accepted. */
void ember_budget_give(ember_budget_t *b, size_t n);
/* Bytes counted now. */
size_t ember_budget_used(const ember_budget_t *b);

/* ---- Slices ------------------------------------------------------------ */

/* A borrowed, not NUL-terminated view into someone else's bytes. */
typedef struct {
  const char *base;
  size_t len;
} ember_slice_t;

static inline ember_slice_t ember_slice(const char *base, size_t len) {
  ember_slice_t s = {base, len};
  return s;
}
bool ember_slice_eq(ember_slice_t a, const char *cstr);
/* Trims ASCII spaces and tabs from both ends. */
ember_slice_t ember_slice_trim(ember_slice_t s);

/* ---- Quoting untrusted bytes in messages -------------------------------- */

#define EMBER_EXCERPT_MAX 80

typedef struct {
  char s[EMBER_EXCERPT_MAX * 4 + 4];
} ember_excerpt_t;

/* A quotable copy of untrusted bytes for an error message, in e: printable
 * ASCII as is, anything else as \xNN, cut with "..." after max input bytes
 * (at most EMBER_EXCERPT_MAX). Returns e->s. */
const char *ember_excerpt(ember_excerpt_t *e, const char *s, size_t n, size_t max);

/* ---- Buffer ------------------------------------------------------------ */

/* A growable byte buffer, always NUL-terminated after len (data may be NULL
 * while empty). The buffer owns data; ember_buf_free releases it. */
typedef struct {
  char *data;
  size_t len;
  size_t cap;
} ember_buf_t;

#define EMBER_BUF_INIT {NULL, 0, 0}

void ember_buf_reserve(ember_buf_t *b, size_t extra);
void ember_buf_append(ember_buf_t *b, const void *p, size_t n);
void ember_buf_puts(ember_buf_t *b, const char *s);
void ember_buf_putc(ember_buf_t *b, char c);
void ember_buf_printf(ember_buf_t *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void ember_buf_put_u64(ember_buf_t *b, uint64_t v);
void ember_buf_put_i64(ember_buf_t *b, int64_t v);
/* Appends s as a JSON string literal (with quotes), escaping as RFC 8259
 * requires; invalid UTF-8 bytes are replaced by U+FFFD. */
void ember_buf_put_json_string(ember_buf_t *b, const char *s, size_t n);
/* Hands the bytes to the caller (caller frees) and resets b to empty. */
char *ember_buf_take(ember_buf_t *b, size_t *len);
/* Appends in[0..n) as one gzip member, compressed at zlib level (1-9).
 * -1, with out as it was, when zlib cannot (or n is over 2 GiB). */
int ember_gzip_append(ember_buf_t *out, const void *in, size_t n, int level);
void ember_buf_reset(ember_buf_t *b);
void ember_buf_free(ember_buf_t *b);

/* ---- Varints (unsigned LEB128, as protobuf and Pyroscope use) ----------- */

void ember_varint_put(ember_buf_t *b, uint64_t v);
/* Reads one varint at *p (not past end), advances *p. Returns 0, or -1 when
 * the input ends early or the value does not fit 64 bits. */
int ember_varint_get(const uint8_t **p, const uint8_t *end, uint64_t *out);

/* ---- Hashing (for in-memory hash tables; not for anything persisted) --- */

/* Eight bytes at a time in two lanes, with a final mix so that the low
 * bits spread well: names, whole stack lines and asset contents alike.
 * The same bytes give the same hash on every build. */
uint64_t ember_hash_bytes(const void *p, size_t n);
/* A well-mixed hash of two 32-bit ids. */
uint64_t ember_hash_pair(uint32_t a, uint32_t b);

/* ---- Time -------------------------------------------------------------- */

/* Wall clock, Unix seconds. */
int64_t ember_now(void);
/* Monotonic clock in nanoseconds, for durations. */
uint64_t ember_mono_ns(void);

/* ---- Deadlines --------------------------------------------------------- */

/* The calling thread's deadline, on the monotonic clock (ember_mono_ns), for
 * work that may take long (a query): loops that can run for a long time and
 * the store's SQLite calls check it and give up with EMBER_ETIMEOUT. 0 means
 * none. A worker thread sets it before a request and clears it after. */
void ember_deadline_set(uint64_t mono_ns);
uint64_t ember_deadline_get(void);
/* True once the calling thread's deadline has passed (false with none). */
bool ember_deadline_passed(void);

#endif
