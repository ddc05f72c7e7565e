/*
 * common.c - errors, allocation, slices, buffers, varints and clocks shared
 * by every module. See include/ember/common.h.
 */
#include "ember/common.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ---- Errors ------------------------------------------------------------ */

int ember_err_set(ember_err_t *err, int code, const char *fmt, ...) {
  if (err) {
    va_list ap;
    va_start(ap, fmt);
    err->code = code;
    vsnprintf(err->msg, sizeof err->msg, fmt, ap);
    va_end(ap);
  }
  return code;
}

void ember_err_clear(ember_err_t *err) {
  if (err) {
    err->code = EMBER_OK;
    err->msg[0] = '\0';
  }
}

const char *ember_err_name(int code) {
  switch (code) {
  case EMBER_OK: return "ok";
  case EMBER_EINVAL: return "bad request";
  case EMBER_EPARSE: return "unparseable body";
  case EMBER_ETOOBIG: return "too large";
  case EMBER_EBUSY: return "busy";
  case EMBER_ESHUTDOWN: return "shutting down";
  case EMBER_ENOTFOUND: return "not found";
  case EMBER_EAUTH: return "unauthorized";
  case EMBER_EIO: return "internal error";
  case EMBER_ELIMIT: return "limit reached";
  case EMBER_ETIMEOUT: return "timed out";
  case EMBER_EUNAVAIL: return "unavailable";
  case EMBER_EFORBIDDEN: return "forbidden";
  case EMBER_ERANGE: return "out of range";
  case EMBER_EUNIMPL: return "not implemented";
  default: return "error";
  }
}

/* ---- Memory ------------------------------------------------------------ */

static void oom(size_t n) {
  fprintf(stderr, "ember: out of memory allocating %zu bytes\n", n);
  abort();
}

void *ember_malloc(size_t n) {
  void *p = malloc(n ? n : 1);
  if (!p) oom(n);
  return p;
}

void *ember_calloc(size_t count, size_t size) {
  void *p = calloc(count ? count : 1, size ? size : 1);
  if (!p) oom(count * size);
  return p;
}

void *ember_realloc(void *p, size_t n) {
  void *q = realloc(p, n ? n : 1);
  if (!q) oom(n);
  return q;
}

char *ember_strdup(const char *s) { return ember_strndup(s, strlen(s)); }

char *ember_strndup(const char *s, size_t n) {
  char *d = ember_malloc(n + 1);
  memcpy(d, s, n);
  d[n] = '\0';
  return d;
}

/* Counts often come from the wire: an array whose size in bytes does not
 * even fit size_t is a request no allocator can meet, so it ends as one
 * that fails does, never in a wrapped-around small buffer. */
static void oom_elems(size_t count, size_t size) {
  fprintf(stderr, "ember: out of memory allocating %zu elements of %zu bytes\n", count,
          size);
  abort();
}

void ember_grow(void **arr, size_t *cap, size_t need, size_t elem_size) {
  if (need <= *cap) return;
  size_t max = elem_size ? SIZE_MAX / elem_size : SIZE_MAX;
  if (need > max) oom_elems(need, elem_size);
  size_t c = *cap ? *cap : 8;
  /* Doubling past max would wrap; then exactly need is what there is. */
  while (c < need)
    c = c > max / 2 ? need : c * 2;
  *arr = ember_realloc(*arr, c * elem_size);
  *cap = c;
}

/* ---- Byte budget ------------------------------------------------------ */

bool ember_budget_take(ember_budget_t *b, size_t n) {
  if (!b) return true;
  size_t cur = atomic_load(&b->used);
  do {
    if (b->limit && (n > b->limit || cur > b->limit - n)) return false;
  } while (!atomic_compare_exchange_weak(&b->used, &cur, cur + n));
  return true;
}

void ember_budget_give(ember_budget_t *b, size_t n) {
  if (b) atomic_fetch_sub(&b->used, n);
}

size_t ember_budget_used(const ember_budget_t *b) {
  return b ? atomic_load(&((ember_budget_t *)b)->used) : 0;
}

/* ---- Slices ------------------------------------------------------------ */

bool ember_slice_eq(ember_slice_t a, const char *cstr) {
  size_t n = strlen(cstr);
  return a.len == n && memcmp(a.base, cstr, n) == 0;
}

ember_slice_t ember_slice_trim(ember_slice_t s) {
  while (s.len && (s.base[0] == ' ' || s.base[0] == '\t')) {
    s.base++;
    s.len--;
  }
  while (s.len && (s.base[s.len - 1] == ' ' || s.base[s.len - 1] == '\t'))
    s.len--;
  return s;
}

/* ---- Quoting untrusted bytes in messages -------------------------------- */

const char *ember_excerpt(ember_excerpt_t *e, const char *s, size_t n, size_t max) {
  size_t o = 0;
  if (max > EMBER_EXCERPT_MAX) max = EMBER_EXCERPT_MAX;
  for (size_t i = 0; i < n && i < max; i++) {
    unsigned char c = (unsigned char)s[i];
    if (c >= 0x20 && c < 0x7f)
      e->s[o++] = (char)c;
    else
      o += (size_t)snprintf(e->s + o, 5, "\\x%02x", c);
  }
  if (n > max) {
    memcpy(e->s + o, "...", 3);
    o += 3;
  }
  e->s[o] = '\0';
  return e->s;
}

/* ---- Buffer ------------------------------------------------------------ */

void ember_buf_reserve(ember_buf_t *b, size_t extra) {
  if (extra > SIZE_MAX - b->len - 1) oom_elems(extra, 1); /* len + extra + 1 wraps */
  size_t need = b->len + extra + 1;
  if (need <= b->cap) return;
  ember_grow((void **)&b->data, &b->cap, need < 64 ? 64 : need, 1);
  b->data[b->len] = '\0'; /* a fresh buffer is a valid empty string */
}

void ember_buf_append(ember_buf_t *b, const void *p, size_t n) {
  ember_buf_reserve(b, n);
  if (n) memcpy(b->data + b->len, p, n);
  b->len += n;
  b->data[b->len] = '\0';
}

void ember_buf_puts(ember_buf_t *b, const char *s) {
  ember_buf_append(b, s, strlen(s));
}

void ember_buf_putc(ember_buf_t *b, char c) {
  ember_buf_reserve(b, 1);
  b->data[b->len++] = c;
  b->data[b->len] = '\0';
}

void ember_buf_printf(ember_buf_t *b, const char *fmt, ...) {
  va_list ap, ap2;
  va_start(ap, fmt);
  va_copy(ap2, ap);
  int n = vsnprintf(NULL, 0, fmt, ap);
  va_end(ap);
  if (n > 0) {
    ember_buf_reserve(b, (size_t)n);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap2);
    b->len += (size_t)n;
  }
  va_end(ap2);
}

void ember_buf_put_u64(ember_buf_t *b, uint64_t v) {
  char tmp[24];
  size_t i = sizeof tmp;
  do {
    tmp[--i] = (char)('0' + v % 10);
    v /= 10;
  } while (v);
  ember_buf_append(b, tmp + i, sizeof tmp - i);
}

void ember_buf_put_i64(ember_buf_t *b, int64_t v) {
  if (v < 0) {
    ember_buf_putc(b, '-');
    ember_buf_put_u64(b, (uint64_t)0 - (uint64_t)v);
  } else {
    ember_buf_put_u64(b, (uint64_t)v);
  }
}

/* Length of the valid UTF-8 sequence starting at s (at most n bytes), or 0
 * when the bytes there are not valid UTF-8. */
static size_t utf8_len(const unsigned char *s, size_t n) {
  unsigned c = s[0];
  size_t len;
  unsigned min;
  if (c < 0x80) return 1;
  if ((c & 0xe0) == 0xc0) { len = 2; min = 0x80; c &= 0x1f; }
  else if ((c & 0xf0) == 0xe0) { len = 3; min = 0x800; c &= 0x0f; }
  else if ((c & 0xf8) == 0xf0) { len = 4; min = 0x10000; c &= 0x07; }
  else return 0;
  if (len > n) return 0;
  for (size_t i = 1; i < len; i++) {
    if ((s[i] & 0xc0) != 0x80) return 0;
    c = (c << 6) | (s[i] & 0x3f);
  }
  if (c < min || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff)) return 0;
  return len;
}

void ember_buf_put_json_string(ember_buf_t *b, const char *s, size_t n) {
  const unsigned char *p = (const unsigned char *)s;
  ember_buf_reserve(b, n + 2);
  ember_buf_putc(b, '"');
  size_t run = 0; /* bytes copied verbatim, flushed in one append */
  for (size_t i = 0; i < n;) {
    unsigned c = p[i];
    /* Printable ASCII, nearly all of a frame name, in the run at once. */
    if (c >= 0x20 && c < 0x80 && c != '"' && c != '\\') {
      i++;
      run++;
      continue;
    }
    size_t l = c >= 0x20 && c != '"' && c != '\\' ? utf8_len(p + i, n - i) : 0;
    if (l) {
      i += l;
      run += l;
      continue;
    }
    ember_buf_append(b, p + i - run, run);
    run = 0;
    switch (c) {
    case '"': ember_buf_puts(b, "\\\""); break;
    case '\\': ember_buf_puts(b, "\\\\"); break;
    case '\n': ember_buf_puts(b, "\\n"); break;
    case '\r': ember_buf_puts(b, "\\r"); break;
    case '\t': ember_buf_puts(b, "\\t"); break;
    default:
      if (c < 0x20) ember_buf_printf(b, "\\u%04x", c);
      else ember_buf_puts(b, "\xef\xbf\xbd"); /* invalid UTF-8 byte */
    }
    i++;
  }
  ember_buf_append(b, p + n - run, run);
  ember_buf_putc(b, '"');
}

char *ember_buf_take(ember_buf_t *b, size_t *len) {
  if (!b->data) ember_buf_reserve(b, 0);
  char *d = b->data;
  if (len) *len = b->len;
  b->data = NULL;
  b->len = b->cap = 0;
  return d;
}

void ember_buf_reset(ember_buf_t *b) {
  b->len = 0;
  if (b->data) b->data[0] = '\0';
}

void ember_buf_free(ember_buf_t *b) {
  if (!b) return;
  free(b->data);
  b->data = NULL;
  b->len = b->cap = 0;
}

/* ---- Varints ----------------------------------------------------------- */

void ember_varint_put(ember_buf_t *b, uint64_t v) {
  uint8_t tmp[10];
  size_t n = 0;
  while (v >= 0x80) {
    tmp[n++] = (uint8_t)(v | 0x80);
    v >>= 7;
  }
  tmp[n++] = (uint8_t)v;
  ember_buf_append(b, tmp, n);
}

int ember_varint_get(const uint8_t **p, const uint8_t *end, uint64_t *out) {
  uint64_t v = 0;
  const uint8_t *q = *p;
  for (unsigned shift = 0; shift < 64; shift += 7) {
    if (q >= end) return -1;
    uint8_t byte = *q++;
    if (shift == 63 && byte > 1) return -1;
    v |= (uint64_t)(byte & 0x7f) << shift;
    if (!(byte & 0x80)) {
      *p = q;
      *out = v;
      return 0;
    }
  }
  return -1;
}

/* ---- Hashing ----------------------------------------------------------- */

/* 8 bytes at p as one little-endian word, whatever the machine, so that a
 * hash is the same on every build (compilers make one load of this). */
static inline uint64_t load64(const unsigned char *p) {
  return (uint64_t)p[0] | (uint64_t)p[1] << 8 | (uint64_t)p[2] << 16 |
         (uint64_t)p[3] << 24 | (uint64_t)p[4] << 32 | (uint64_t)p[5] << 40 |
         (uint64_t)p[6] << 48 | (uint64_t)p[7] << 56;
}

/* The last n < 8 bytes of a key as one word. */
static uint64_t load_tail(const unsigned char *p, size_t n) {
  uint64_t w = 0;
  for (size_t i = 0; i < n; i++) w |= (uint64_t)p[i] << (8 * i);
  return w;
}

static uint64_t rotl64(uint64_t v, int r) { return v << r | v >> (64 - r); }

uint64_t ember_hash_bytes(const void *p, size_t n) {
  const unsigned char *c = p;
  const uint64_t k1 = 0x9e3779b97f4a7c15ull, k2 = 0xc2b2ae3d27d4eb4full;
  /* Two lanes, so the multiplications of neighbouring words overlap. */
  uint64_t a = 0x243f6a8885a308d3ull ^ n, b = 0x13198a2e03707344ull;
  for (; n >= 16; c += 16, n -= 16) {
    uint64_t w0 = load64(c), w1 = load64(c + 8);
    a = rotl64(a ^ (w0 * k1), 31) * k2;
    b = rotl64(b ^ (w1 * k2), 29) * k1;
  }
  if (n >= 8) {
    a = rotl64(a ^ (load64(c) * k1), 31) * k2;
    c += 8;
    n -= 8;
  }
  if (n) b = rotl64(b ^ (load_tail(c, n) * k2), 29) * k1;
  uint64_t h = a ^ rotl64(b, 17);
  h ^= h >> 33;
  h *= 0xff51afd7ed558ccdull;
  h ^= h >> 33;
  h *= 0xc4ceb9fe1a85ec53ull;
  return h ^ (h >> 33);
}

uint64_t ember_hash_pair(uint32_t a, uint32_t b) {
  uint64_t h = ((uint64_t)a << 32 | b) * 0x9e3779b97f4a7c15ull;
  return h ^ (h >> 31);
}

/* ---- Time -------------------------------------------------------------- */

int64_t ember_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec;
}

uint64_t ember_mono_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* ---- Deadlines --------------------------------------------------------- */

static _Thread_local uint64_t thread_deadline;

void ember_deadline_set(uint64_t mono_ns) { thread_deadline = mono_ns; }

uint64_t ember_deadline_get(void) { return thread_deadline; }

bool ember_deadline_passed(void) {
  return thread_deadline && ember_mono_ns() >= thread_deadline;
}
