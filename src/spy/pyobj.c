/*
 * pyobj.c - Python objects read from the target: str (for names and file
 * names), bytes (location tables), tuples and lists (sys.path, local
 * names), dicts (globals, sys) and the short repr of simple values (the
 * locals of `dump --locals`).
 *
 * An object is believed only when its ob_type is the address of the real
 * type object, found by its symbol when attaching: garbage or a freed
 * object almost never passes that, and whatever passes is still read with
 * every length bounded.
 */
#include "spy/spy_int.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

/* Most entries of one dict compared with a key; dicts of more are cut. */
#define DICT_SCAN_MAX 65536
/* Entries read at once. */
#define DICT_CHUNK 64
/* A str or bytes repr shows this many characters before "...". */
#define REPR_TEXT_MAX 80

/* ---- Private functions ------------------------------------------------- */

static void put_utf8(ember_buf_t *out, uint32_t c) {
  if (c >= 0xd800 && c <= 0xdfff) c = 0xfffd; /* a lone surrogate */
  if (c > 0x10ffff) c = 0xfffd;
  char b[4];
  size_t n;
  if (c < 0x80) {
    b[0] = (char)c;
    n = 1;
  } else if (c < 0x800) {
    b[0] = (char)(0xc0 | (c >> 6));
    b[1] = (char)(0x80 | (c & 0x3f));
    n = 2;
  } else if (c < 0x10000) {
    b[0] = (char)(0xe0 | (c >> 12));
    b[1] = (char)(0x80 | ((c >> 6) & 0x3f));
    b[2] = (char)(0x80 | (c & 0x3f));
    n = 3;
  } else {
    b[0] = (char)(0xf0 | (c >> 18));
    b[1] = (char)(0x80 | ((c >> 12) & 0x3f));
    b[2] = (char)(0x80 | ((c >> 6) & 0x3f));
    b[3] = (char)(0x80 | (c & 0x3f));
    n = 4;
  }
  ember_buf_append(out, b, n);
}

/* Appends chars code points of kind bytes each, stopping before the text
 * passes max bytes. */
static void put_chars(ember_buf_t *out, const uint8_t *p, size_t chars, unsigned kind,
                      size_t max) {
  size_t start = out->len;
  ember_buf_reserve(out, chars < max ? chars : max);
  for (size_t i = 0; i < chars; i++) {
    uint32_t c = kind == 1 ? p[i] : kind == 2 ? (uint32_t)p[2 * i] | (uint32_t)p[2 * i + 1] << 8
                                              : spy_u32(p, 4 * i);
    size_t need = c < 0x80 ? 1 : c < 0x800 ? 2 : c < 0x10000 ? 3 : 4;
    if (out->len - start + need > max) break;
    put_utf8(out, c);
  }
}

/* The type of the object at addr (its ob_type), or 0. */
static uint64_t type_of(spy_mem_t *m, uint64_t addr) {
  uint64_t t;
  return spy_read_u64(m, addr + SPY_OB_TYPE, &t) ? 0 : t;
}

/* Compares the str at addr with key. */
static bool str_equals(spy_mem_t *m, const spy_python_t *py, uint64_t addr,
                       const char *key) {
  size_t klen = strlen(key);
  ember_buf_t b = EMBER_BUF_INIT;
  bool eq = spy_str(m, py, addr, klen + 1, &b) == 0 && b.len == klen &&
            !memcmp(b.data, key, klen);
  ember_buf_free(&b);
  return eq;
}

/* The value of an int object, when it fits 128 bits. */
static int long_value(spy_mem_t *m, const spy_python_t *py, uint64_t addr,
                      unsigned __int128 *mag, bool *neg, uint64_t *ndigits) {
  uint8_t h[24 + 4 * 4];
  size_t got = spy_read_some(m, addr, h, sizeof h);
  if (got < 24) return -1;
  uint64_t tag = spy_u64(h, 16);
  if (py->L->long_tagged) {
    *ndigits = tag >> 3;
    *neg = (tag & 3) == 2;
  } else {
    int64_t size = (int64_t)tag;
    *neg = size < 0;
    *ndigits = size < 0 ? (uint64_t)-size : (uint64_t)size;
  }
  if (*ndigits > 4 || got < 24 + 4 * *ndigits) return -1;
  *mag = 0;
  for (uint64_t i = *ndigits; i > 0; i--)
    *mag = (*mag << 30) | (spy_u32(h, 24 + 4 * (i - 1)) & 0x3fffffff);
  return 0;
}

static void put_u128(ember_buf_t *out, unsigned __int128 v) {
  char digits[48];
  size_t n = 0;
  do {
    digits[n++] = (char)('0' + (int)(v % 10));
    v /= 10;
  } while (v);
  while (n) ember_buf_putc(out, digits[--n]);
}

/* The shortest text that reads back as the same double, as repr does. */
static void put_float(ember_buf_t *out, double d) {
  if (isnan(d)) {
    ember_buf_puts(out, "nan");
    return;
  }
  if (isinf(d)) {
    ember_buf_puts(out, d < 0 ? "-inf" : "inf");
    return;
  }
  char s[40];
  for (int prec = 1; prec <= 17; prec++) {
    snprintf(s, sizeof s, "%.*g", prec, d);
    if (strtod(s, NULL) == d) break;
  }
  ember_buf_puts(out, s);
  if (!strpbrk(s, ".e")) ember_buf_puts(out, ".0");
}

/* Appends text (UTF-8) quoted as a Python literal, cut after max bytes. */
static void put_quoted(ember_buf_t *out, const char *prefix, const char *s, size_t n,
                       bool cut) {
  ember_buf_puts(out, prefix);
  ember_buf_putc(out, '\'');
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    if (c == '\\' || c == '\'') ember_buf_printf(out, "\\%c", c);
    else if (c == '\n') ember_buf_puts(out, "\\n");
    else if (c == '\r') ember_buf_puts(out, "\\r");
    else if (c == '\t') ember_buf_puts(out, "\\t");
    else if (c < 0x20 || c == 0x7f) ember_buf_printf(out, "\\x%02x", c);
    else ember_buf_putc(out, (char)c);
  }
  ember_buf_putc(out, '\'');
  if (cut) ember_buf_puts(out, "...");
}

/* "<Name object at 0x...>" from the type's tp_name (a C string). */
static void put_object(spy_mem_t *m, uint64_t addr, uint64_t type, ember_buf_t *out) {
  char name[64];
  uint64_t p;
  size_t got = 0;
  if (type && spy_read_u64(m, type + SPY_TYPE_NAME, &p) == 0)
    got = spy_read_some(m, p, name, sizeof name - 1);
  name[got] = '\0';
  size_t len = strnlen(name, got);
  bool ok = len > 0;
  for (size_t i = 0; i < len; i++)
    if ((unsigned char)name[i] < 0x20 || (unsigned char)name[i] >= 0x7f) ok = false;
  ember_buf_printf(out, "<%s object at 0x%" PRIx64 ">", ok ? name : "?", addr);
}

/* ---- API --------------------------------------------------------------- */

int spy_str(spy_mem_t *m, const spy_python_t *py, uint64_t addr, size_t max,
            ember_buf_t *out) {
  const spy_layout_t *L = py->L;
  uint8_t buf[256];
  size_t got = spy_read_some(m, addr, buf, sizeof buf);
  if (got < L->str_ascii_size || spy_u64(buf, SPY_OB_TYPE) != py->t_str) return -1;
  int64_t length = (int64_t)spy_u64(buf, 16);
  uint32_t state = spy_u32(buf, 32);
  unsigned kind = (state >> 2) & 7, compact = (state >> 5) & 1, ascii = (state >> 6) & 1;
  if (length < 0 || length > ((int64_t)1 << 30) || (kind != 1 && kind != 2 && kind != 4) ||
      (ascii && kind != 1))
    return -1;
  uint64_t data;
  size_t hdr = 0;
  if (compact) {
    hdr = ascii ? L->str_ascii_size : L->str_compact_size;
    data = addr + hdr;
  } else { /* a legacy string: its characters elsewhere */
    if (got < (size_t)L->str_compact_size + 8) return -1;
    data = spy_u64(buf, L->str_compact_size);
  }
  size_t chars = (size_t)length < max ? (size_t)length : max;
  size_t nbytes = chars * kind;
  if (compact && hdr + nbytes <= got) {
    put_chars(out, buf + hdr, chars, kind, max);
    return 0;
  }
  uint8_t *tmp = ember_malloc(nbytes ? nbytes : 1);
  int rc = spy_read(m, data, tmp, nbytes);
  if (rc == 0) put_chars(out, tmp, chars, kind, max);
  free(tmp);
  return rc;
}

int spy_bytes(spy_mem_t *m, const spy_python_t *py, uint64_t addr, size_t max,
              uint8_t **data, size_t *len) {
  uint8_t h[SPY_BYTES_DATA];
  if (spy_read(m, addr, h, sizeof h) || spy_u64(h, SPY_OB_TYPE) != py->t_bytes) return -1;
  int64_t size = (int64_t)spy_u64(h, SPY_OB_SIZE);
  if (size < 0 || (uint64_t)size > max) return -1;
  uint8_t *p = ember_malloc((size_t)size + 1);
  if (spy_read(m, addr + SPY_BYTES_DATA, p, (size_t)size)) {
    free(p);
    return -1;
  }
  *data = p;
  *len = (size_t)size;
  return 0;
}

int spy_sequence(spy_mem_t *m, const spy_python_t *py, uint64_t addr, uint64_t *items,
                 size_t max, size_t *n) {
  uint8_t h[32];
  if (spy_read(m, addr, h, sizeof h)) return -1;
  uint64_t type = spy_u64(h, SPY_OB_TYPE);
  int64_t size = (int64_t)spy_u64(h, SPY_OB_SIZE);
  if (size < 0 || (type != py->t_tuple && type != py->t_list)) return -1;
  size_t k = (uint64_t)size < max ? (size_t)size : max;
  uint64_t at = type == py->t_tuple ? addr + SPY_TUPLE_ITEMS : spy_u64(h, SPY_LIST_ITEMS);
  if (k && spy_read(m, at, items, k * 8)) return -1;
  *n = k;
  return 0;
}

/* Looks up a key in a dict's keys object: by str content when key is not
 * NULL, else by hash. values is the dict's ma_values (split tables) or 0. */
static int keys_get(spy_mem_t *m, const spy_python_t *py, uint64_t keys, uint64_t values,
                    const char *key, uint64_t hash, uint64_t *value) {
  uint8_t k[32];
  if (spy_read(m, keys, k, sizeof k)) return -1;
  unsigned log2_size = k[SPY_KEYS_LOG2_SIZE], log2_index = k[SPY_KEYS_LOG2_INDEX_BYTES];
  int64_t nentries = (int64_t)spy_u64(k, SPY_KEYS_NENTRIES);
  if (log2_size > 40 || log2_index > 43 || nentries < 0 ||
      (uint64_t)nentries > ((uint64_t)1 << log2_size))
    return -1;
  if (nentries > DICT_SCAN_MAX) nentries = DICT_SCAN_MAX;
  bool general = k[SPY_KEYS_KIND] == 0; /* DICT_KEYS_GENERAL: entries keep the hash */
  if (!key && !general) return -1;      /* str keys only: no int in there */
  size_t esize = general ? 24 : 16, koff = general ? 8 : 0;
  uint64_t entries = keys + SPY_KEYS_INDICES + ((uint64_t)1 << log2_index);
  uint8_t chunk[DICT_CHUNK * 24];
  for (int64_t i = 0; i < nentries; i += DICT_CHUNK) {
    size_t count = nentries - i < DICT_CHUNK ? (size_t)(nentries - i) : DICT_CHUNK;
    if (spy_read(m, entries + (uint64_t)i * esize, chunk, count * esize)) return -1;
    for (size_t j = 0; j < count; j++) {
      uint64_t kaddr = spy_u64(chunk, j * esize + koff);
      if (!kaddr) continue;
      if (key ? !str_equals(m, py, kaddr, key) : spy_u64(chunk, j * esize) != hash) continue;
      if (!values) { /* a combined table: the value sits in the entry */
        *value = spy_u64(chunk, j * esize + koff + 8);
        return *value ? 0 : -1;
      }
      /* A split table: the values live apart, by entry index. */
      if (spy_read_u64(m, values + 8 * (uint64_t)(i + (int64_t)j), value) || !*value)
        return -1;
      return 0;
    }
  }
  return -1;
}

static int dict_lookup(spy_mem_t *m, const spy_python_t *py, uint64_t addr, const char *key,
                       uint64_t hash, uint64_t *value) {
  uint8_t d[48];
  if (spy_read(m, addr, d, sizeof d) || spy_u64(d, SPY_OB_TYPE) != py->t_dict) return -1;
  return keys_get(m, py, spy_u64(d, SPY_DICT_KEYS), spy_u64(d, SPY_DICT_VALUES), key, hash,
                  value);
}

int spy_dict_get(spy_mem_t *m, const spy_python_t *py, uint64_t addr, const char *key,
                 uint64_t *value) {
  return dict_lookup(m, py, addr, key, 0, value);
}

int spy_dict_get_hash(spy_mem_t *m, const spy_python_t *py, uint64_t addr, uint64_t hash,
                      uint64_t *value) {
  return dict_lookup(m, py, addr, NULL, hash, value);
}

int spy_instance_attr(spy_mem_t *m, const spy_python_t *py, uint64_t addr, const char *name,
                      uint64_t *value) {
  uint64_t type, flags, slot;
  if (addr < 32 || spy_read_u64(m, addr + SPY_OB_TYPE, &type) ||
      spy_read_u64(m, type + SPY_TYPE_FLAGS, &flags) || !(flags & SPY_TPFLAGS_MANAGED_DICT))
    return -1;
  /* 3.11: the dict at obj[-3], else inline values at obj[-4]; 3.12: one
   * slot at obj[-3], the values when its low bit is set (stored minus 1). */
  if (spy_read_u64(m, addr - 24, &slot)) return -1;
  uint64_t values = 0, keys;
  if (py->L->minor == 11) {
    if (slot) return spy_dict_get(m, py, slot, name, value);
    if (spy_read_u64(m, addr - 32, &values) || !values) return -1;
  } else {
    if (!(slot & 1)) return slot ? spy_dict_get(m, py, slot, name, value) : -1;
    values = slot + 1;
  }
  if (spy_read_u64(m, type + py->L->ht_cached_keys, &keys) || !keys) return -1;
  return keys_get(m, py, keys, values, name, 0, value);
}

void spy_repr(spy_mem_t *m, const spy_python_t *py, uint64_t addr, ember_buf_t *out) {
  if (addr == 0) {
    ember_buf_puts(out, "<NULL>");
    return;
  }
  if (addr == py->none) {
    ember_buf_puts(out, "None");
    return;
  }
  uint64_t type = type_of(m, addr);
  if (!type) {
    ember_buf_puts(out, "<unreadable>");
    return;
  }
  if (type == py->t_bool) {
    ember_buf_puts(out, addr == py->true_obj ? "True" : "False");
  } else if (type == py->t_int) {
    unsigned __int128 mag;
    bool neg;
    uint64_t nd;
    if (long_value(m, py, addr, &mag, &neg, &nd) == 0) {
      if (neg) ember_buf_putc(out, '-');
      put_u128(out, mag);
    } else {
      ember_buf_puts(out, "<int too large to show>");
    }
  } else if (type == py->t_float) {
    uint8_t f[8];
    if (spy_read(m, addr + SPY_FLOAT_VALUE, f, 8) == 0) {
      double d;
      memcpy(&d, f, 8);
      put_float(out, d);
    } else {
      ember_buf_puts(out, "<unreadable float>");
    }
  } else if (type == py->t_str) {
    ember_buf_t s = EMBER_BUF_INIT;
    if (spy_str(m, py, addr, REPR_TEXT_MAX + 1, &s) == 0) {
      bool cut = s.len > REPR_TEXT_MAX;
      size_t n = s.len;
      if (cut) { /* on a character boundary */
        n = REPR_TEXT_MAX;
        while (n && ((unsigned char)s.data[n] & 0xc0) == 0x80) n--;
      }
      put_quoted(out, "", s.data ? s.data : "", n, cut);
    } else {
      ember_buf_puts(out, "<unreadable str>");
    }
    ember_buf_free(&s);
  } else if (type == py->t_bytes) {
    uint8_t h[24], data[REPR_TEXT_MAX];
    int64_t size = spy_read(m, addr, h, sizeof h) ? -1 : (int64_t)spy_u64(h, SPY_OB_SIZE);
    size_t n = size < 0 ? 0 : size > REPR_TEXT_MAX ? REPR_TEXT_MAX : (size_t)size;
    if (size >= 0 && spy_read(m, addr + SPY_BYTES_DATA, data, n) == 0)
      put_quoted(out, "b", (const char *)data, n, (size_t)size > n);
    else
      ember_buf_puts(out, "<unreadable bytes>");
  } else if (type == py->t_tuple || type == py->t_list || type == py->t_dict) {
    uint8_t h[24];
    int64_t size = spy_read(m, addr, h, sizeof h) ? -1 : (int64_t)spy_u64(h, 16);
    const char *what = type == py->t_tuple ? "tuple" : type == py->t_list ? "list" : "dict";
    if (size >= 0) ember_buf_printf(out, "<%s of %" PRId64 " items>", what, size);
    else ember_buf_printf(out, "<unreadable %s>", what);
  } else {
    put_object(m, addr, type, out);
  }
}
