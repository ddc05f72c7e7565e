/*
 * colors.c - the web UI's frame colors (web/js/colors.js, light theme), so
 * that an SVG or HTML export looks like the flame graph it came from.
 *
 * A frame's color in a single graph is one of EMBER_COLOR_HUES hues, picked
 * by a hash of its package or module: FNV-1a over the UTF-16 code units of
 * the package, as the browser hashes the same string. In a diff it is one
 * of 2 * EMBER_COLOR_DIFF_STEPS + 1 steps from green (a smaller share on the
 * right) through grey to red (a larger one), by the relative change of the
 * frame's share. The palette is the UI's HSL colors, written as #rrggbb by
 * CSS's own conversion. tests/data/colors.json holds names, their hues and
 * the palette: the UI's tests (tests/web/unit/colors.test.mjs) check
 * colors.js against it, and tests/query/test_colors.c this file.
 */
#include "query_int.h"

#include <math.h>
#include <string.h>

/* ---- Packages ---------------------------------------------------------- */

static bool is_bracket(char c) {
  return c == '(' || c == ')' || c == '<' || c == '>' || c == '[' || c == ']';
}

/* "func (path/file.py:12)" (py-spy and the agents): the file, "path/file.py",
 * in *pkg; false when s is not of that form. */
static bool python_file(ember_slice_t s, ember_slice_t *pkg) {
  if (s.len < 5 || s.base[s.len - 1] != ')') return false;
  const char *open = memchr(s.base, '(', s.len);
  if (!open) return false; /* other brackets, but no "(" */
  size_t o = (size_t)(open - s.base);
  /* One or more characters, a space, "(", a location without brackets. */
  if (o < 2 || s.base[o - 1] != ' ' || o + 2 >= s.len) return false;
  if (memchr(s.base, ')', o)) return false;
  size_t a = o + 1, b = s.len - 1; /* the location: [a, b) */
  for (size_t i = a; i < b; i++)
    if (s.base[i] == '(' || s.base[i] == ')') return false;
  /* Without a ":LINE" ending, when something is left before it. */
  size_t d = b;
  while (d > a && s.base[d - 1] >= '0' && s.base[d - 1] <= '9')
    d--;
  if (d < b && d > a + 1 && s.base[d - 1] == ':') b = d - 1;
  *pkg = (ember_slice_t){s.base + a, b - a};
  return true;
}

ember_slice_t ember_color_package(ember_slice_t s) {
  bool brackets = false;
  for (size_t i = 0; i < s.len && !brackets; i++)
    brackets = is_bracket(s.base[i]);
  if (!brackets) {
    size_t i = s.len;
    while (i > 0 && s.base[i - 1] != '.' && s.base[i - 1] != '/' && s.base[i - 1] != ':')
      i--;
    if (i <= 1) return s; /* no separator, or only at the start */
    i--;
    if (s.base[i] == ':' && s.base[i - 1] == ':') i--;
    return (ember_slice_t){s.base, i};
  }
  ember_slice_t pkg;
  if (python_file(s, &pkg)) return pkg;
  int depth = 0;
  for (size_t i = s.len - 1; i > 0; i--) {
    char c = s.base[i];
    if (c == ')' || c == '>' || c == ']') depth++;
    else if (c == '(' || c == '<' || c == '[') depth = depth > 0 ? depth - 1 : 0;
    else if (depth == 0) {
      if (c == '.' || c == '/') return (ember_slice_t){s.base, i};
      if (c == ':') return (ember_slice_t){s.base, s.base[i - 1] == ':' ? i - 1 : i};
    }
  }
  return s;
}

/* ---- Hues -------------------------------------------------------------- */

/* The next code point of UTF-8 s from *i, U+FFFD for a byte that does not
 * start a valid sequence (as a browser decodes it). */
static uint32_t next_cp(ember_slice_t s, size_t *i) {
  const unsigned char *p = (const unsigned char *)s.base + *i;
  size_t left = s.len - *i;
  unsigned c = p[0];
  size_t n = c < 0x80 ? 1 : (c & 0xe0) == 0xc0 ? 2 : (c & 0xf0) == 0xe0 ? 3
                      : (c & 0xf8) == 0xf0 ? 4 : 0;
  uint32_t cp = n == 1 ? c : n == 2 ? c & 0x1f : n == 3 ? c & 0x0f : c & 0x07;
  if (n == 0 || n > left) goto bad;
  for (size_t k = 1; k < n; k++) {
    if ((p[k] & 0xc0) != 0x80) goto bad;
    cp = cp << 6 | (p[k] & 0x3f);
  }
  static const uint32_t least[] = {0, 0, 0x80, 0x800, 0x10000};
  if (cp < least[n] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) goto bad;
  *i += n;
  return cp;
bad:
  *i += 1;
  return 0xfffd;
}

static uint32_t fnv(uint32_t h, uint32_t unit) {
  return (h ^ unit) * 0x01000193u;
}

int ember_color_hue(ember_slice_t name) {
  ember_slice_t pkg = ember_color_package(name);
  uint32_t h = 0x811c9dc5u;
  for (size_t i = 0; i < pkg.len;) {
    uint32_t cp = next_cp(pkg, &i);
    if (cp < 0x10000) {
      h = fnv(h, cp);
    } else {
      cp -= 0x10000;
      h = fnv(fnv(h, 0xd800 + (cp >> 10)), 0xdc00 + (cp & 0x3ff));
    }
  }
  return (int)(h % EMBER_COLOR_HUES);
}

/* ---- Diff steps -------------------------------------------------------- */

double ember_color_change(uint64_t ltotal, uint64_t rtotal, uint64_t lticks,
                          uint64_t rticks) {
  double l = lticks ? (double)ltotal / (double)lticks : 0;
  double r = rticks ? (double)rtotal / (double)rticks : 0;
  if (l == 0) return r == 0 ? 0 : INFINITY;
  return (r - l) / l;
}

int ember_color_diff_step(double change) {
  double a = fabs(change);
  if (!(a >= 0.02)) return 0;
  int s = (int)ceil((a < 1 ? a : 1) * EMBER_COLOR_DIFF_STEPS);
  return change > 0 ? s : -s;
}

/* ---- The palette ------------------------------------------------------- */

/* JavaScript's Math.round. */
static int js_round(double v) { return (int)floor(v + 0.5); }

void ember_color_hsl(int color, int *h, int *s, int *l) {
  if (color >= 0 && color < EMBER_COLOR_HUES) {
    /* Oranges, yellows, cyans, blues and purples: red and green mean more
     * and less in a diff. Interleaved, so neighbouring hues differ. */
    double v = (double)((color * 7) % EMBER_COLOR_HUES) * (195.0 / EMBER_COLOR_HUES);
    *h = js_round(v < 35 ? 25 + v : 170 + (v - 35));
    *s = 70;
    *l = 76;
  } else if (color == EMBER_COLOR_OTHER) {
    *h = 220, *s = 8, *l = 80;
  } else if (color == EMBER_COLOR_ROOT) {
    *h = 220, *s = 12, *l = 84;
  } else if (color == EMBER_COLOR_DIM) {
    *h = 220, *s = 10, *l = 92;
  } else {
    int step = color - EMBER_COLOR_DIFF;
    if (step < -EMBER_COLOR_DIFF_STEPS) step = -EMBER_COLOR_DIFF_STEPS;
    if (step > EMBER_COLOR_DIFF_STEPS) step = EMBER_COLOR_DIFF_STEPS;
    double t = fabs((double)step) / EMBER_COLOR_DIFF_STEPS;
    if (step == 0) {
      *h = 220, *s = 10, *l = 86;
      return;
    }
    *h = step > 0 ? 0 : 130;
    *s = js_round(35 + 50 * t);
    if (*s > 95) *s = 95;
    *l = js_round(86 - 32 * t);
  }
}

/* CSS's HSL to RGB, each channel rounded to 0..255. */
static double hue_to_rgb(double m1, double m2, double h) {
  if (h < 0) h += 1;
  if (h > 1) h -= 1;
  if (h * 6 < 1) return m1 + (m2 - m1) * h * 6;
  if (h * 2 < 1) return m2;
  if (h * 3 < 2) return m1 + (m2 - m1) * (2.0 / 3 - h) * 6;
  return m1;
}

void ember_color_put(ember_buf_t *b, int color) {
  int hi, si, li;
  ember_color_hsl(color, &hi, &si, &li);
  double h = hi / 360.0, s = si / 100.0, l = li / 100.0;
  double m2 = l <= 0.5 ? l * (s + 1) : l + s - l * s, m1 = l * 2 - m2;
  double rgb[3] = {hue_to_rgb(m1, m2, h + 1.0 / 3), hue_to_rgb(m1, m2, h),
                   hue_to_rgb(m1, m2, h - 1.0 / 3)};
  static const char hex[] = "0123456789abcdef";
  char out[7] = {'#'};
  for (int i = 0; i < 3; i++) {
    int v = js_round(rgb[i] * 255);
    v = v < 0 ? 0 : v > 255 ? 255 : v;
    out[1 + 2 * i] = hex[v >> 4];
    out[2 + 2 * i] = hex[v & 15];
  }
  ember_buf_append(b, out, 7);
}
