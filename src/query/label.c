/*
 * label.c - the label of a frame that is too long for its bar: keep the
 * function, elide the package from the front. The web UI applies the same
 * rule (web/js/label.js), and so does the script inside the SVG when a zoom
 * changes the widths; tests/data/labels.json holds the cases all three
 * must pass, so an export reads like the graph it came from.
 *
 * A name reads as prefix (package, module, path, namespace, class),
 * function, and suffix (an argument list "(int) const", a location
 * " (server.py:58)", a Rust hash "::h0123456789abcdef"):
 *   1. a name that fits is shown whole;
 *   2. otherwise the suffix goes, and what is left is shown when it fits;
 *   3. otherwise, while the function and one ellipsis fit, the ellipsis
 *      and the last characters of what is left;
 *   4. otherwise the function alone when it fits exactly;
 *   5. otherwise the start of the function and the ellipsis, or nothing
 *      when not even two characters fit.
 * Lengths are Unicode code points; the ellipsis U+2026 counts as one. The
 * function starts after the last separator ("::", ".", "/", "\", ":", "#")
 * outside brackets, so template and argument lists never split a name, or
 * after the "file:line - " of the "path:line - function" form; a Go
 * closure (".func1", ".2") keeps the name it belongs to.
 *
 * Input is clean UTF-8 (markup.c's ember_xml_clean): every separator and
 * bracket is ASCII, so byte offsets stand for the UI's string offsets, and
 * every result is a slice of the name, plus at most one ellipsis.
 */
#include "query_int.h"

#include <string.h>

#define ELLIPSIS "\xe2\x80\xa6" /* U+2026 */

/* ---- Characters -------------------------------------------------------- */

static bool is_cont(unsigned char c) {
  return (c & 0xc0) == 0x80;
}

size_t ember_utf8_len(const char *s, size_t n) {
  size_t k = 0;
  for (size_t i = 0; i < n; i++)
    k += !is_cont((unsigned char)s[i]);
  return k;
}

/* Bytes of the first k code points of s. */
static size_t head_bytes(const char *s, size_t n, size_t k) {
  size_t i = 0;
  while (i < n && k) {
    i++;
    while (i < n && is_cont((unsigned char)s[i]))
      i++;
    k--;
  }
  return i;
}

/* Offset where the last k code points of s start. */
static size_t tail_start(const char *s, size_t n, size_t k) {
  size_t i = n;
  while (i > 0 && k) {
    i--;
    while (i > 0 && is_cont((unsigned char)s[i]))
      i--;
    k--;
  }
  return i;
}

/* The code point ending at s[n - 1] and where it starts. */
static uint32_t last_char(const char *s, size_t n, size_t *start) {
  size_t i = n - 1;
  while (i > 0 && is_cont((unsigned char)s[i]))
    i--;
  const unsigned char *p = (const unsigned char *)s + i;
  uint32_t c = p[0];
  size_t len = n - i;
  if (len == 2)
    c = (c & 0x1f) << 6 | (p[1] & 0x3f);
  else if (len == 3)
    c = (c & 0x0f) << 12 | (p[1] & 0x3f) << 6 | (p[2] & 0x3f);
  else if (len == 4)
    c = (c & 0x07) << 18 | (p[1] & 0x3f) << 12 | (p[2] & 0x3f) << 6 | (p[3] & 0x3f);
  *start = i;
  return c;
}

/* What JavaScript's \s matches (control characters never reach here). */
static bool is_space(uint32_t c) {
  return c == ' ' || (c >= 0x09 && c <= 0x0d) || c == 0xa0 || c == 0x1680 ||
         (c >= 0x2000 && c <= 0x200a) || c == 0x2028 || c == 0x2029 || c == 0x202f ||
         c == 0x205f || c == 0x3000 || c == 0xfeff;
}

/* Length of s without its trailing white space. */
static size_t trim_end(const char *s, size_t n) {
  while (n > 0) {
    size_t start;
    if (!is_space(last_char(s, n, &start))) break;
    n = start;
  }
  return n;
}

static bool ends_with(const char *s, size_t n, const char *suffix) {
  size_t k = strlen(suffix);
  return n >= k && !memcmp(s + n - k, suffix, k);
}

static bool is_digit(char c) {
  return c >= '0' && c <= '9';
}

static bool is_word(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || is_digit(c) || c == '_';
}

static bool is_closer(const char *s, size_t i) {
  return s[i] == ')' || s[i] == ']' || (s[i] == '>' && !(i > 0 && s[i - 1] == '-'));
}

static bool is_opener(char c) {
  return c == '(' || c == '[' || c == '<';
}

/* ---- The suffix (step 2) ----------------------------------------------- */

/* Where the bracket group closing at s[end] opens, or -1. Brackets of all
 * three kinds nest; "->" is an arrow, not a bracket. */
static long opening_of(const char *s, size_t end) {
  long depth = 0;
  for (long i = (long)end; i >= 0; i--) {
    if (is_closer(s, (size_t)i))
      depth++;
    else if (is_opener(s[i]) && --depth == 0)
      return i;
  }
  return -1;
}

/* Where a trailing qualifier of a C++ argument list (" const", "&&",
 * " [clone .isra.0]") begins with the white space before it, or 0 when
 * core has none: the leftmost match of the UI's pattern. */
static size_t qualifier_start(const char *core, size_t n) {
  static const char *const words[] = {"&&", "&", "const", "volatile", "noexcept"};
  size_t at = n;
  for (size_t i = 0; i < sizeof words / sizeof *words && at == n; i++)
    if (ends_with(core, n, words[i])) at = n - strlen(words[i]);
  if (at == n && n > 0 && core[n - 1] == ']') {
    /* "[clone " and anything but ']' up to the final ']': the first such
     * start after the ']' before it. */
    size_t lo = 0;
    for (size_t i = n - 1; i-- > 0;)
      if (core[i] == ']') {
        lo = i + 1;
        break;
      }
    for (size_t i = lo; i + 7 < n && at == n; i++)
      if (!memcmp(core + i, "[clone ", 7)) at = i;
  }
  return at == n ? 0 : trim_end(core, at);
}

size_t ember_label_strip(const char *s, size_t n) {
  /* A Rust hash, "::h" and 16 hex digits, ends the name. */
  if (n > 19 && !memcmp(s + n - 19, "::h", 3)) {
    bool hex = true;
    for (size_t i = n - 16; i < n; i++)
      hex &= is_digit(s[i]) || (s[i] >= 'a' && s[i] <= 'f');
    if (hex) return n - 19;
  }
  size_t core = n;
  for (size_t q; (q = qualifier_start(s, core)) > 0;)
    core = q;
  if (core == 0 || s[core - 1] != ')') return n;
  long open = opening_of(s, core - 1);
  if (open <= 0) return n;
  size_t before = (size_t)open;
  if (s[before - 1] == ' ') {
    /* A location " (file:line)": only when it is the very end. */
    if (core != n) return n;
    size_t head = trim_end(s, before);
    return head ? head : n;
  }
  if (ends_with(s, before, "operator") && (before == 8 || !is_word(s[before - 9])))
    return n;
  return before;
}

/* ---- The function (step 3) --------------------------------------------- */

/* "file:line - " ending before the end of s: where the function starts
 * in that form, or 0. Only the leftmost ":digits - " counts. */
static size_t location_form(const char *s, size_t n) {
  for (size_t i = 0; i + 1 < n; i++) {
    if (s[i] != ':' || !is_digit(s[i + 1])) continue;
    size_t j = i + 1;
    while (j < n && is_digit(s[j]))
      j++;
    if (j + 3 <= n && !memcmp(s + j, " - ", 3)) return j + 3 < n ? j + 3 : 0;
  }
  return 0;
}

/* Separators outside brackets, right to left: each call gives the offset
 * after the next one, or 0 when there are no more. */
typedef struct {
  const char *s;
  size_t n, i;
  long depth;
} seps_t;

static size_t next_sep(seps_t *p) {
  while (p->i > 1) {
    size_t i = --p->i;
    char c = p->s[i];
    if (is_closer(p->s, i)) {
      p->depth++;
      continue;
    }
    if (is_opener(c)) {
      if (p->depth > 0) p->depth--;
      continue;
    }
    if (p->depth > 0) continue;
    if ((c == '.' || c == '/' || c == '\\' || c == ':' || c == '#') && i + 1 < p->n)
      return i + 1;
  }
  return 0;
}

/* "func1", "2": the segment names a Go closure. */
static bool is_closure(const char *s, size_t n) {
  size_t i = n >= 4 && !memcmp(s, "func", 4) ? 4 : 0;
  if (i == n) return false;
  for (; i < n; i++)
    if (!is_digit(s[i])) return false;
  return true;
}

size_t ember_label_function(const char *s, size_t n) {
  size_t loc = location_form(s, n);
  if (loc) return loc;
  seps_t p = {s, n, n, 0};
  size_t cur = next_sep(&p), end = n;
  if (!cur) return 0;
  for (;;) {
    if (s[cur - 1] != '.' || !is_closure(s + cur, end - cur)) break;
    size_t next = next_sep(&p);
    if (!next) break;
    end = cur - 1;
    cur = next;
  }
  return cur;
}

/* ---- The same rule for the SVG's script -------------------------------- */

/* What the script inside an SVG export runs when a zoom changes the widths:
 * the functions above, line for line, in plain ECMAScript 5 (a saved SVG
 * opens in any viewer). tests/query/test_label.c runs it on the fixtures
 * too. */
const char ember_label_script[] =
    "function emberCps(s) {\n"
    "  var a = [], i = 0;\n"
    "  while (i < s.length) {\n"
    "    var c = s.charCodeAt(i), k = 1;\n"
    "    if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length &&\n"
    "        (s.charCodeAt(i + 1) & 0xfc00) === 0xdc00) k = 2;\n"
    "    a.push(s.substr(i, k));\n"
    "    i += k;\n"
    "  }\n"
    "  return a;\n"
    "}\n"
    "function emberCloser(s, i) {\n"
    "  var c = s.charAt(i);\n"
    "  if (c === ')' || c === ']') return true;\n"
    "  return c === '>' && !(i > 0 && s.charAt(i - 1) === '-');\n"
    "}\n"
    "function emberOpener(c) { return c === '(' || c === '[' || c === '<'; }\n"
    "function emberStrip(s) {\n"
    "  var hash = /::h[0-9a-f]{16}$/.exec(s);\n"
    "  if (hash && hash.index > 0) return s.slice(0, hash.index);\n"
    "  var q = /(?:\\s*(?:const|volatile|noexcept|&&|&)|\\s*\\[clone [^\\]]*\\])$/;\n"
    "  var core = s, m;\n"
    "  for (m = q.exec(core); m && m.index > 0; m = q.exec(core))\n"
    "    core = core.slice(0, m.index);\n"
    "  if (core.charAt(core.length - 1) !== ')') return s;\n"
    "  var depth = 0, open = -1;\n"
    "  for (var i = core.length - 1; i >= 0; i--) {\n"
    "    if (emberCloser(core, i)) depth++;\n"
    "    else if (emberOpener(core.charAt(i)) && --depth === 0) { open = i; break; }\n"
    "  }\n"
    "  if (open <= 0) return s;\n"
    "  var before = core.slice(0, open);\n"
    "  if (before.charAt(before.length - 1) === ' ') {\n"
    "    if (core !== s) return s;\n"
    "    var head = before.replace(/\\s+$/, '');\n"
    "    return head ? head : s;\n"
    "  }\n"
    "  if (/(?:^|[^A-Za-z0-9_])operator$/.test(before)) return s;\n"
    "  return before;\n"
    "}\n"
    "function emberFunction(s) {\n"
    "  var loc = /:\\d+ - /.exec(s);\n"
    "  var end = loc ? loc.index + loc[0].length : 0;\n"
    "  if (loc && end < s.length) return end;\n"
    "  var seps = [], depth = 0;\n"
    "  for (var i = s.length - 1; i > 0; i--) {\n"
    "    var c = s.charAt(i);\n"
    "    if (emberCloser(s, i)) { depth++; continue; }\n"
    "    if (emberOpener(c)) { if (depth > 0) depth--; continue; }\n"
    "    if (depth > 0) continue;\n"
    "    var sep = c === '.' || c === '/' || c === '\\\\' || c === ':' || c === '#';\n"
    "    if (sep && i + 1 < s.length) seps.push(i + 1);\n"
    "  }\n"
    "  if (!seps.length) return 0;\n"
    "  var k = 0, closure = /^(?:func\\d+|\\d+)$/;\n"
    "  while (k + 1 < seps.length && s.charAt(seps[k] - 1) === '.' &&\n"
    "         closure.test(s.slice(seps[k], k ? seps[k - 1] - 1 : s.length)))\n"
    "    k++;\n"
    "  return seps[k];\n"
    "}\n"
    "function emberElide(name, max) {\n"
    "  if (emberCps(name).length <= max) return name;\n"
    "  if (max < 2) return '';\n"
    "  var s = emberStrip(name), cs = emberCps(s);\n"
    "  if (cs.length <= max) return s;\n"
    "  var fn = emberCps(s.slice(emberFunction(s)));\n"
    "  if (fn.length < cs.length && max >= fn.length + 1)\n"
    "    return '\\u2026' + cs.slice(cs.length - (max - 1)).join('');\n"
    "  if (fn.length <= max) return fn.join('');\n"
    "  return fn.slice(0, max - 1).join('') + '\\u2026';\n"
    "}\n";

/* ---- API --------------------------------------------------------------- */

void ember_label_elide(ember_buf_t *out, const char *s, size_t n, size_t max) {
  if (ember_utf8_len(s, n) <= max) {
    ember_buf_append(out, s, n);
    return;
  }
  if (max < 2) return;
  size_t m = ember_label_strip(s, n), len = ember_utf8_len(s, m);
  if (len <= max) {
    ember_buf_append(out, s, m);
    return;
  }
  size_t f = ember_label_function(s, m), flen = ember_utf8_len(s + f, m - f);
  if (flen < len && max >= flen + 1) {
    size_t t = tail_start(s, m, max - 1);
    ember_buf_puts(out, ELLIPSIS);
    ember_buf_append(out, s + t, m - t);
  } else if (flen <= max) {
    ember_buf_append(out, s + f, m - f);
  } else {
    ember_buf_append(out, s + f, head_bytes(s + f, m - f, max - 1));
    ember_buf_puts(out, ELLIPSIS);
  }
}
