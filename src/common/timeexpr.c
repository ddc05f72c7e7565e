/*
 * timeexpr.c - time and duration expressions (include/ember/timeexpr.h).
 *
 * Times arrive from agents (`from`/`until` on /ingest, usually Unix seconds,
 * sometimes milliseconds or nanoseconds) and from people (`now-1h` in a URL,
 * `--retention 30d` on the command line). Every number is read digit by digit
 * with an overflow check, so no input can wrap an int64.
 */
#include "ember/timeexpr.h"

#include <stdio.h>
#include <string.h>

#define INPUT_QUOTE_MAX 40 /* how much of a bad input a message repeats */

static const char UNITS_HINT[] = "use s, m or min, h, d, w, M or mon (30 days), "
                                 "y (365 days)";

typedef struct {
  const char *name;
  int64_t seconds;
} unit_t;

/* Longest names first, so "min" is not read as "m" followed by "in". */
static const unit_t UNITS[] = {
    {"min", 60},  {"mon", 30 * 86400}, {"s", 1},          {"m", 60},          {"h", 3600},
    {"d", 86400}, {"w", 7 * 86400},    {"M", 30 * 86400}, {"y", 365 * 86400},
};

/* ---- Helpers ----------------------------------------------------------- */

static bool is_digit(char c) {
  return c >= '0' && c <= '9';
}

/* Copies s[0..n) for a message: printable ASCII only, cut after a while. */
static const char *quote(char *dst, size_t cap, const char *s, size_t n) {
  size_t o = 0;
  for (size_t i = 0; i < n && o + 5 < cap; i++) {
    unsigned char c = (unsigned char)s[i];
    if (i == INPUT_QUOTE_MAX) {
      memcpy(dst + o, "...", 3);
      o += 3;
      break;
    }
    if (c >= 0x20 && c < 0x7f)
      dst[o++] = (char)c;
    else
      o += (size_t)snprintf(dst + o, cap - o, "\\x%02x", c);
  }
  dst[o] = '\0';
  return dst;
}

/* Reads the digits at s[*i..n) into *v. Returns false when there are none or
 * the number does not fit an int64. */
static bool read_number(const char *s, size_t n, size_t *i, int64_t *v) {
  size_t start = *i;
  int64_t x = 0;
  for (; *i < n && is_digit(s[*i]); (*i)++) {
    int d = s[*i] - '0';
    if (x > (INT64_MAX - d) / 10) return false;
    x = x * 10 + d;
  }
  *v = x;
  return *i > start;
}

static const unit_t *read_unit(const char *s, size_t n, size_t *i) {
  for (size_t u = 0; u < sizeof UNITS / sizeof *UNITS; u++) {
    size_t len = strlen(UNITS[u].name);
    if (n - *i >= len && memcmp(s + *i, UNITS[u].name, len) == 0) {
      *i += len;
      return &UNITS[u];
    }
  }
  return NULL;
}

/* Parses a span such as "90m", "1h30m" or (alone) "3600" into seconds.
 * what names the whole input in messages. */
static int parse_span(const char *s, size_t n, const char *what, int64_t *out,
                      ember_err_t *err) {
  char q[INPUT_QUOTE_MAX * 4 + 8];
  int64_t total = 0;
  size_t i = 0;
  if (n == 0)
    return ember_err_set(err, EMBER_EINVAL,
                         "'%s' has no duration; write a number and a unit, e.g. 30m",
                         what);
  while (i < n) {
    int64_t v = 0;
    if (!is_digit(s[i]))
      return ember_err_set(err, EMBER_EINVAL,
                           "'%s': expected a number at '%s'; write a number and a "
                           "unit, e.g. 30m or 1h30m",
                           what, quote(q, sizeof q, s + i, n - i));
    if (!read_number(s, n, &i, &v))
      return ember_err_set(err, EMBER_EINVAL, "'%s': the number is too large", what);
    const unit_t *u = i < n ? read_unit(s, n, &i) : NULL;
    if (!u && i < n)
      return ember_err_set(err, EMBER_EINVAL, "'%s': unknown unit '%s'; %s", what,
                           quote(q, sizeof q, s + i, n - i), UNITS_HINT);
    if (!u && total == 0 && i == n) {
      *out = v; /* a bare number is seconds */
      return EMBER_OK;
    }
    if (!u)
      return ember_err_set(err, EMBER_EINVAL, "'%s': the last number has no unit; %s",
                           what, UNITS_HINT);
    if (v > INT64_MAX / u->seconds || total > INT64_MAX - v * u->seconds)
      return ember_err_set(err, EMBER_EINVAL, "'%s': the duration is too large", what);
    total += v * u->seconds;
  }
  *out = total;
  return EMBER_OK;
}

/* Reads an all-digit absolute time; the digit count gives the unit. */
static int parse_absolute(const char *s, size_t n, const char *what, int64_t *out,
                          ember_err_t *err) {
  static const int64_t div_by_digits[20] = {
      [1] = 1, [2] = 1, [3] = 1,  [4] = 1,     [5] = 1,        [6] = 1,           [7] = 1,
      [8] = 1, [9] = 1, [10] = 1, [13] = 1000, [16] = 1000000, [19] = 1000000000,
  };
  int64_t v = 0;
  size_t i = 0;
  if (n >= sizeof div_by_digits / sizeof *div_by_digits || div_by_digits[n] == 0)
    return ember_err_set(err, EMBER_EINVAL,
                         "'%s' has %zu digits; write Unix seconds (up to 10 digits) "
                         "or milliseconds (13), microseconds (16) or nanoseconds "
                         "(19)",
                         what, n);
  if (!read_number(s, n, &i, &v))
    return ember_err_set(err, EMBER_EINVAL, "'%s' is too large for a time in nanoseconds",
                         what);
  *out = v / div_by_digits[n]; /* v >= 0, so this truncates to the past */
  return EMBER_OK;
}

/* ---- API --------------------------------------------------------------- */

int ember_time_parse(const char *s, int64_t now, int64_t *out, ember_err_t *err) {
  char what[INPUT_QUOTE_MAX * 4 + 8];
  ember_slice_t t = ember_slice_trim(ember_slice(s ? s : "", s ? strlen(s) : 0));
  quote(what, sizeof what, t.base, t.len);
  int64_t v = 0, span = 0;
  int rc;
  if (t.len == 0)
    return ember_err_set(err, EMBER_EINVAL,
                         "the time is empty; write Unix seconds (e.g. 1700000000) or "
                         "a relative time such as now-1h");
  size_t digits = 0;
  while (digits < t.len && is_digit(t.base[digits]))
    digits++;
  if (digits == t.len) {
    rc = parse_absolute(t.base, t.len, what, &v, err);
    if (rc) return rc;
    *out = v;
    return EMBER_OK;
  }
  if (t.len < 3 || memcmp(t.base, "now", 3) != 0)
    return ember_err_set(err, EMBER_EINVAL,
                         "'%s' is not a time; write Unix seconds (e.g. 1700000000), "
                         "milliseconds (13 digits), or now, now-1h, now+30m",
                         what);
  if (t.len == 3) {
    *out = now;
    return EMBER_OK;
  }
  char sign = t.base[3];
  if (sign != '-' && sign != '+')
    return ember_err_set(err, EMBER_EINVAL,
                         "'%s': expected '-' or '+' after 'now', e.g. now-1h", what);
  rc = parse_span(t.base + 4, t.len - 4, what, &span, err);
  if (rc) return rc;
  if (sign == '-') {
    /* Far enough back means the beginning of time, not an error. */
    *out = span >= now ? 0 : now - span;
  } else {
    if (now > 0 && span > INT64_MAX - now)
      return ember_err_set(err, EMBER_EINVAL, "'%s' is too far in the future", what);
    *out = now + span;
  }
  return EMBER_OK;
}

int ember_duration_parse(const char *s, int64_t *out, ember_err_t *err) {
  char what[INPUT_QUOTE_MAX * 4 + 8];
  ember_slice_t t = ember_slice_trim(ember_slice(s ? s : "", s ? strlen(s) : 0));
  quote(what, sizeof what, t.base, t.len);
  int64_t v = 0;
  if (t.len == 0)
    return ember_err_set(err, EMBER_EINVAL,
                         "the duration is empty; write a number and a unit, e.g. 30d, "
                         "12h or 90m (a bare number is seconds)");
  int rc = parse_span(t.base, t.len, what, &v, err);
  if (rc) return rc;
  if (v <= 0)
    return ember_err_set(err, EMBER_EINVAL,
                         "'%s': the duration must be greater than zero, e.g. 30d", what);
  *out = v;
  return EMBER_OK;
}
