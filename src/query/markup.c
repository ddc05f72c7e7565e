/*
 * markup.c - writing text into SVG and HTML: frame names made safe for
 * XML, elided to fit a bar, and the numbers and times a person reads in
 * titles and headers.
 *
 * Frame names are whatever bytes an agent sent. XML 1.0 refuses most
 * control characters outright (a single one makes the whole file
 * unreadable), so names are cleaned before they are escaped: invalid UTF-8
 * becomes U+FFFD, C0 and C1 control characters and DEL are dropped, and
 * the two noncharacters U+FFFE and U+FFFF become U+FFFD. What is left is
 * valid in XML and in HTML alike.
 *
 * The numbers go into every title of a large graph, so they are formatted
 * by hand rather than through printf.
 */
#include "query_int.h"

#include <math.h>
#include <string.h>
#include <time.h>

#define REPLACEMENT 0xfffdu

/* ---- Characters -------------------------------------------------------- */

/* Decodes the character at s (n > 0 bytes left) into *cp and returns its
 * length; a byte that does not start valid UTF-8 decodes as U+FFFD of
 * length 1, so every input makes progress. */
static size_t decode(const unsigned char *s, size_t n, uint32_t *cp) {
  uint32_t c = s[0], min;
  size_t len;
  if (c < 0x80) {
    *cp = c;
    return 1;
  }
  if ((c & 0xe0) == 0xc0) { len = 2; min = 0x80; c &= 0x1f; }
  else if ((c & 0xf0) == 0xe0) { len = 3; min = 0x800; c &= 0x0f; }
  else if ((c & 0xf8) == 0xf0) { len = 4; min = 0x10000; c &= 0x07; }
  else goto bad;
  if (len > n) goto bad;
  for (size_t i = 1; i < len; i++) {
    if ((s[i] & 0xc0) != 0x80) goto bad;
    c = (c << 6) | (s[i] & 0x3f);
  }
  if (c < min || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff)) goto bad;
  *cp = c;
  return len;
bad:
  *cp = REPLACEMENT;
  return 1;
}

/* What a decoded character becomes: 0 when dropped. */
static uint32_t clean(uint32_t cp) {
  if (cp < 0x20 || (cp >= 0x7f && cp <= 0x9f)) return 0;
  if (cp == 0xfffe || cp == 0xffff) return REPLACEMENT;
  return cp;
}

static void put_utf8(ember_buf_t *b, uint32_t cp) {
  char u[4];
  size_t n;
  if (cp < 0x80) { u[0] = (char)cp; n = 1; }
  else if (cp < 0x800) {
    u[0] = (char)(0xc0 | cp >> 6);
    u[1] = (char)(0x80 | (cp & 0x3f));
    n = 2;
  } else if (cp < 0x10000) {
    u[0] = (char)(0xe0 | cp >> 12);
    u[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
    u[2] = (char)(0x80 | (cp & 0x3f));
    n = 3;
  } else {
    u[0] = (char)(0xf0 | cp >> 18);
    u[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
    u[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
    u[3] = (char)(0x80 | (cp & 0x3f));
    n = 4;
  }
  ember_buf_append(b, u, n);
}

/* Printable ASCII that needs no escaping. */
static bool plain(unsigned char c) {
  return c >= 0x20 && c < 0x7f && c != '&' && c != '<' && c != '>' && c != '"' &&
         c != '\'';
}

/* Bytes of one clean character once escaped: what put_char appends. */
static size_t char_size(uint32_t cp) {
  switch (cp) {
  case '&': return 5;
  case '<':
  case '>': return 4;
  case '"': return 6;
  case '\'': return 5;
  default: return cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4;
  }
}

/* Appends one clean character, escaped. */
static void put_char(ember_buf_t *b, uint32_t cp) {
  switch (cp) {
  case '&': ember_buf_puts(b, "&amp;"); break;
  case '<': ember_buf_puts(b, "&lt;"); break;
  case '>': ember_buf_puts(b, "&gt;"); break;
  case '"': ember_buf_puts(b, "&quot;"); break;
  case '\'': ember_buf_puts(b, "&#39;"); break;
  default: put_utf8(b, cp);
  }
}

/* ---- Numbers ----------------------------------------------------------- */

/* Writes v in decimal at the end of b. */
static void put_digits(ember_buf_t *b, uint64_t v, int min_digits) {
  char tmp[24];
  int i = (int)sizeof tmp;
  do {
    tmp[--i] = (char)('0' + v % 10);
    v /= 10;
    min_digits--;
  } while (v || min_digits > 0);
  ember_buf_append(b, tmp + i, sizeof tmp - (size_t)i);
}

/* ---- API --------------------------------------------------------------- */

size_t ember_xml_chars(const char *s, size_t n) {
  const unsigned char *p = (const unsigned char *)s;
  size_t chars = 0;
  for (size_t i = 0; i < n;) {
    uint32_t cp;
    i += decode(p + i, n - i, &cp);
    if (clean(cp)) chars++;
  }
  return chars;
}

size_t ember_xml_size(const char *s, size_t n) {
  const unsigned char *p = (const unsigned char *)s;
  size_t size = 0;
  for (size_t i = 0; i < n;) {
    if (plain(p[i])) {
      size++;
      i++;
      continue;
    }
    uint32_t cp;
    size_t len = decode(p + i, n - i, &cp);
    uint32_t c = clean(cp);
    if (c == cp && len > 1)
      size += len;
    else if (c)
      size += char_size(c);
    i += len;
  }
  return size;
}

void ember_xml_put(ember_buf_t *b, const char *s, size_t n, size_t max_chars) {
  const unsigned char *p = (const unsigned char *)s;
  size_t keep = SIZE_MAX;
  if (max_chars != SIZE_MAX && ember_xml_chars(s, n) > max_chars)
    keep = max_chars >= 2 ? max_chars - 2 : 0;
  ember_buf_reserve(b, n + 8);
  size_t written = 0;
  for (size_t i = 0; i < n && written < keep;) {
    /* Plain ASCII, the bulk of most names, goes in runs. */
    size_t run = 0;
    while (i + run < n && written + run < keep && plain(p[i + run])) run++;
    if (run) {
      ember_buf_append(b, p + i, run);
      i += run;
      written += run;
      continue;
    }
    uint32_t cp;
    size_t len = decode(p + i, n - i, &cp);
    uint32_t c = clean(cp);
    if (c == cp && len > 1) { /* valid and kept: copy the bytes as they are */
      ember_buf_append(b, p + i, len);
    } else if (c) {
      put_char(b, c);
    }
    written += c != 0;
    i += len;
  }
  if (keep != SIZE_MAX && max_chars >= 2) ember_buf_puts(b, "..");
}

void ember_xml_clean(ember_buf_t *b, const char *s, size_t n) {
  const unsigned char *p = (const unsigned char *)s;
  ember_buf_reserve(b, n + 8);
  for (size_t i = 0; i < n;) {
    size_t run = 0;
    while (i + run < n && p[i + run] >= 0x20 && p[i + run] < 0x7f) run++;
    if (run) {
      ember_buf_append(b, p + i, run);
      i += run;
      continue;
    }
    uint32_t cp;
    size_t len = decode(p + i, n - i, &cp);
    uint32_t c = clean(cp);
    if (c == cp && len > 1) ember_buf_append(b, p + i, len);
    else if (c) put_utf8(b, c);
    i += len;
  }
}

void ember_fmt_count(ember_buf_t *b, uint64_t v) {
  /* Groups of three from the left: the first group takes the remainder. */
  char digits[24];
  int n = 0;
  do {
    digits[n++] = (char)('0' + v % 10);
    v /= 10;
  } while (v);
  ember_buf_reserve(b, (size_t)n + (size_t)n / 3);
  for (int i = n - 1; i >= 0; i--) {
    b->data[b->len++] = digits[i];
    if (i && i % 3 == 0) b->data[b->len++] = ',';
  }
  b->data[b->len] = '\0';
}

void ember_fmt_sum(ember_buf_t *b, uint64_t v) {
  /* A reader must not take the ceiling for a measurement. */
  if (v == UINT64_MAX) ember_buf_puts(b, "at least ");
  ember_fmt_count(b, v);
  if (v == UINT64_MAX) ember_buf_puts(b, " (the sum saturated)");
}

void ember_fmt_fixed(ember_buf_t *b, double v, int decimals, bool trim) {
  static const double scale[] = {1, 10, 100, 1000, 10000};
  if (decimals < 0) decimals = 0;
  if (decimals > 4) decimals = 4;
  if (!(v == v)) v = 0; /* NaN */
  bool neg = v < 0;
  if (neg) v = -v;
  if (v > 1e15) v = 1e15; /* beyond any share or pixel: keep the cast defined */
  uint64_t u = (uint64_t)llround(v * scale[decimals]);
  uint64_t div = (uint64_t)scale[decimals], frac = u % div;
  if (neg && u) ember_buf_putc(b, '-'); /* no "-0" for what rounds to zero */
  put_digits(b, u / div, 1);
  if (!decimals || (trim && !frac)) return;
  ember_buf_putc(b, '.');
  put_digits(b, frac, decimals);
  if (trim)
    while (b->data[b->len - 1] == '0') b->data[--b->len] = '\0';
}

void ember_fmt_utc(ember_buf_t *b, int64_t t) {
  struct tm tm;
  time_t tt = (time_t)t;
  if ((int64_t)tt != t || !gmtime_r(&tt, &tm) || tm.tm_year + 1900 < 0 ||
      tm.tm_year + 1900 > 9999) {
    ember_buf_put_i64(b, t); /* out of the calendar's range: say the number */
    return;
  }
  ember_buf_printf(b, "%04d-%02d-%02d %02d:%02d:%02d UTC", tm.tm_year + 1900,
                   tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
}
