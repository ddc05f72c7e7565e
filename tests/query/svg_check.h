/* An XML well-formedness check strict enough for Ember's SVG, and the
 * frames (<g class="f">) read back out of it: name, title, label and
 * geometry. Header-only test helper; no recursion, so a 100,000-level
 * graph checks as easily as a small one.
 *
 * Checked: valid UTF-8 and only characters XML allows (and no C1 control
 * characters or DEL, which Ember removes from names); tags nest and close
 * in order; exactly one root element; attribute values quoted, without '<';
 * every '&' starts one of the five predefined entities or a character
 * reference; no "]]>" in text. */
#ifndef EMBER_TESTS_QUERY_SVG_CHECK_H
#define EMBER_TESTS_QUERY_SVG_CHECK_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
  char *title; /* decoded */
  char *name;  /* the title's first line */
  char *label; /* the <text> inside, NULL when none */
  double x, y, w;
  char fill[16];
} svg_frame_t;

typedef struct {
  svg_frame_t *frames;
  size_t n, cap;
  char root[32];
  char err[256];
} svg_doc_t;

typedef struct {
  char *p;
  size_t n, cap;
} sc_str_t;

static inline void sc_put(sc_str_t *s, const char *p, size_t n) {
  if (s->n + n + 1 > s->cap) {
    s->cap = (s->n + n + 1) * 2;
    s->p = realloc(s->p, s->cap);
  }
  memcpy(s->p + s->n, p, n);
  s->n += n;
  s->p[s->n] = '\0';
}

static inline int sc_fail(svg_doc_t *d, size_t at, const char *what) {
  snprintf(d->err, sizeof d->err, "byte %zu: %s", at, what);
  return -1;
}

/* Every character valid UTF-8 and allowed by XML 1.0 (minus C1 and DEL). */
static inline int sc_chars(const unsigned char *s, size_t n, svg_doc_t *d) {
  for (size_t i = 0; i < n;) {
    unsigned c = s[i], len = c < 0x80 ? 1 : (c & 0xe0) == 0xc0 ? 2 : (c & 0xf0) == 0xe0 ? 3
                                         : (c & 0xf8) == 0xf0 ? 4 : 0;
    if (!len || i + len > n) return sc_fail(d, i, "invalid UTF-8");
    unsigned cp = len == 1 ? c : c & (0x7f >> len);
    for (unsigned k = 1; k < len; k++) {
      if ((s[i + k] & 0xc0) != 0x80) return sc_fail(d, i, "invalid UTF-8");
      cp = cp << 6 | (s[i + k] & 0x3f);
    }
    if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000))
      return sc_fail(d, i, "overlong UTF-8");
    if ((cp < 0x20 && cp != 9 && cp != 10 && cp != 13) || (cp >= 0x7f && cp <= 0x9f) ||
        (cp >= 0xd800 && cp <= 0xdfff) || cp == 0xfffe || cp == 0xffff || cp > 0x10ffff)
      return sc_fail(d, i, "character not allowed in XML");
    i += len;
  }
  return 0;
}

/* Decodes text (or an attribute value) s[0..n) into out, checking '&'. */
static inline int sc_text(const char *s, size_t n, size_t at, sc_str_t *out, svg_doc_t *d) {
  for (size_t i = 0; i < n; i++) {
    if (s[i] == '<') return sc_fail(d, at + i, "raw '<' in text or attribute");
    if (s[i] == ']' && i + 2 < n && s[i + 1] == ']' && s[i + 2] == '>')
      return sc_fail(d, at + i, "']]>' in text");
    if (s[i] != '&') {
      if (out) sc_put(out, s + i, 1);
      continue;
    }
    const char *semi = memchr(s + i, ';', n - i);
    if (!semi) return sc_fail(d, at + i, "'&' without ';'");
    size_t len = (size_t)(semi - (s + i)) + 1;
    char ent[16] = {0};
    if (len > sizeof ent - 1) return sc_fail(d, at + i, "unknown entity");
    memcpy(ent, s + i, len);
    static const char *const names[][2] = {{"&amp;", "&"}, {"&lt;", "<"}, {"&gt;", ">"},
                                           {"&quot;", "\""}, {"&apos;", "'"}};
    const char *rep = NULL;
    for (int k = 0; k < 5; k++)
      if (!strcmp(ent, names[k][0])) rep = names[k][1];
    char num[8];
    if (!rep && ent[1] == '#') {
      char *end;
      unsigned long cp = ent[2] == 'x' ? strtoul(ent + 3, &end, 16) : strtoul(ent + 2, &end, 10);
      if (*end != ';' || cp < 0x20 || cp > 0x7e) return sc_fail(d, at + i, "bad character reference");
      num[0] = (char)cp;
      num[1] = '\0';
      rep = num;
    }
    if (!rep) return sc_fail(d, at + i, "unknown entity");
    if (out) sc_put(out, rep, strlen(rep));
    i += len - 1;
  }
  return 0;
}

static inline int sc_name_char(char c, int first) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':' ||
         (!first && ((c >= '0' && c <= '9') || c == '-' || c == '.'));
}

/* What the parser is filling in while inside a frame. */
typedef struct {
  size_t depth;  /* stack depth of the open <g class="f">, 0 when none */
  sc_str_t *cap; /* text being captured (title or label), or NULL */
  sc_str_t title, label;
  int has_label;
} sc_frame_state_t;

static inline void sc_frame_begin(svg_doc_t *d) {
  if (d->n == d->cap) {
    d->cap = d->cap ? d->cap * 2 : 64;
    d->frames = realloc(d->frames, d->cap * sizeof *d->frames);
  }
  memset(&d->frames[d->n++], 0, sizeof d->frames[0]);
}

static inline void sc_frame_end(svg_doc_t *d, sc_frame_state_t *f) {
  svg_frame_t *fr = &d->frames[d->n - 1];
  fr->title = strdup(f->title.p ? f->title.p : "");
  char *nl = strchr(fr->title, '\n');
  fr->name = nl ? strndup(fr->title, (size_t)(nl - fr->title)) : strdup(fr->title);
  fr->label = f->has_label ? strdup(f->label.p ? f->label.p : "") : NULL;
  f->title.n = f->label.n = 0;
  if (f->title.p) f->title.p[0] = '\0';
  if (f->label.p) f->label.p[0] = '\0';
  f->has_label = 0;
  f->depth = 0;
}

/* One start tag at s[i] ('<' already seen); sets *self_closing and
 * returns the index after '>', or 0 on error. */
static inline size_t sc_start_tag(const char *s, size_t n, size_t i, char *name,
                                  int *self_closing, sc_str_t *attrs, svg_doc_t *d) {
  size_t j = i + 1, k = 0;
  if (!sc_name_char(s[j], 1)) return sc_fail(d, i, "bad tag name"), 0;
  while (j < n && sc_name_char(s[j], 0) && k < 31) name[k++] = s[j++];
  name[k] = '\0';
  attrs->n = 0;
  if (attrs->p) attrs->p[0] = '\0';
  for (;;) {
    size_t ws = j;
    while (j < n && (s[j] == ' ' || s[j] == '\n' || s[j] == '\t' || s[j] == '\r')) j++;
    if (j >= n) return sc_fail(d, i, "unterminated tag"), 0;
    if (s[j] == '>' || (s[j] == '/' && j + 1 < n && s[j + 1] == '>')) {
      *self_closing = s[j] == '/';
      return j + (*self_closing ? 2 : 1);
    }
    if (j == ws || !sc_name_char(s[j], 1)) return sc_fail(d, j, "bad attribute"), 0;
    size_t an = j;
    while (j < n && sc_name_char(s[j], 0)) j++;
    sc_put(attrs, s + an, j - an);
    if (j >= n || s[j] != '=') return sc_fail(d, j, "attribute without '='"), 0;
    j++;
    char q = j < n ? s[j] : 0;
    if (q != '"' && q != '\'') return sc_fail(d, j, "unquoted attribute"), 0;
    const char *end = memchr(s + j + 1, q, n - j - 1);
    if (!end) return sc_fail(d, j, "unterminated attribute"), 0;
    sc_put(attrs, "=", 1);
    sc_str_t v = {0};
    if (sc_text(s + j + 1, (size_t)(end - s) - j - 1, j + 1, &v, d)) return free(v.p), 0;
    if (v.p) sc_put(attrs, v.p, v.n);
    sc_put(attrs, "\n", 1);
    free(v.p);
    j = (size_t)(end - s) + 1;
  }
}

/* The value of attribute a in "name=value\n..." (static buffer). */
static inline const char *sc_attr(const sc_str_t *attrs, const char *a) {
  static char v[256];
  size_t al = strlen(a);
  for (const char *p = attrs->p; p && *p;) {
    const char *nl = strchr(p, '\n');
    if (!strncmp(p, a, al) && p[al] == '=') {
      size_t l = (size_t)(nl - p) - al - 1;
      if (l >= sizeof v) l = sizeof v - 1;
      memcpy(v, p + al + 1, l);
      v[l] = '\0';
      return v;
    }
    p = nl + 1;
  }
  return NULL;
}

static inline void svg_doc_free(svg_doc_t *d) {
  for (size_t i = 0; i < d->n; i++) {
    free(d->frames[i].title);
    free(d->frames[i].name);
    free(d->frames[i].label);
  }
  free(d->frames);
  memset(d, 0, sizeof *d);
}

/* Parses s; 0 when well-formed, else -1 with d->err. d is filled either
 * way; free it with svg_doc_free. */
static inline int svg_parse(const char *s, size_t n, svg_doc_t *d) {
  memset(d, 0, sizeof *d);
  if (sc_chars((const unsigned char *)s, n, d)) return -1;
  size_t cap = 64, depth = 0, i = 0;
  int roots = 0, rc = -1;
  char (*stack)[32] = malloc(cap * sizeof *stack);
  sc_frame_state_t f = {0};
  sc_str_t attrs = {0};
  if (n >= 5 && !memcmp(s, "<?xml", 5)) {
    const char *e = strstr(s, "?>");
    if (!e) { sc_fail(d, 0, "unterminated XML declaration"); goto done; }
    i = (size_t)(e - s) + 2;
  }
  while (i < n) {
    if (s[i] != '<') {
      const char *lt = memchr(s + i, '<', n - i);
      size_t len = lt ? (size_t)(lt - s) - i : n - i;
      if (!depth)
        for (size_t k = 0; k < len; k++)
          if (!strchr(" \t\r\n", s[i + k])) { sc_fail(d, i + k, "text outside the root"); goto done; }
      if (sc_text(s + i, len, i, f.cap, d)) goto done;
      i += len;
    } else if (!strncmp(s + i, "<!--", 4) || !strncmp(s + i, "<![CDATA[", 9)) {
      int cdata = s[i + 2] == '[';
      const char *e = strstr(s + i, cdata ? "]]>" : "-->");
      if (!e || (size_t)(e - s) >= n) { sc_fail(d, i, "unterminated comment or CDATA"); goto done; }
      if (cdata && f.cap) sc_put(f.cap, s + i + 9, (size_t)(e - s) - i - 9);
      i = (size_t)(e - s) + 3;
    } else if (s[i + 1] == '/') {
      size_t j = i + 2, k = 0;
      char name[32];
      while (j < n && sc_name_char(s[j], k == 0) && k < 31) name[k++] = s[j++];
      name[k] = '\0';
      if (j >= n || s[j] != '>') { sc_fail(d, i, "bad end tag"); goto done; }
      if (!depth || strcmp(stack[depth - 1], name)) { sc_fail(d, i, "end tag does not match"); goto done; }
      if (f.depth && depth == f.depth + 1) f.cap = NULL;
      if (f.depth == depth) sc_frame_end(d, &f);
      depth--;
      i = j + 1;
    } else if (s[i + 1] == '!' || s[i + 1] == '?') {
      sc_fail(d, i, "unexpected declaration or processing instruction");
      goto done;
    } else {
      char name[32];
      int self = 0;
      size_t next = sc_start_tag(s, n, i, name, &self, &attrs, d);
      if (!next) goto done;
      if (!depth && roots++) { sc_fail(d, i, "more than one root element"); goto done; }
      if (!depth) snprintf(d->root, sizeof d->root, "%s", name);
      const char *cls = sc_attr(&attrs, "class");
      if (f.depth && depth == f.depth) {
        if (!strcmp(name, "title")) f.cap = &f.title;
        if (!strcmp(name, "text")) { f.cap = &f.label; f.has_label = 1; }
        if (!strcmp(name, "rect")) {
          svg_frame_t *fr = &d->frames[d->n - 1];
          const char *v;
          if ((v = sc_attr(&attrs, "x"))) fr->x = atof(v);
          if ((v = sc_attr(&attrs, "y"))) fr->y = atof(v);
          if ((v = sc_attr(&attrs, "width"))) fr->w = atof(v);
          if ((v = sc_attr(&attrs, "fill"))) snprintf(fr->fill, sizeof fr->fill, "%.15s", v);
        }
      } else if (!f.depth && !strcmp(name, "g") && cls && !strcmp(cls, "f") && !self) {
        sc_frame_begin(d);
        f.depth = depth + 1;
      }
      if (!self) {
        if (depth == cap) stack = realloc(stack, (cap *= 2) * sizeof *stack);
        memcpy(stack[depth++], name, 32);
      }
      i = next;
    }
  }
  if (depth) { sc_fail(d, n, "elements left open"); goto done; }
  if (!roots) { sc_fail(d, n, "no root element"); goto done; }
  rc = 0;
done:
  free(stack);
  free(attrs.p);
  free(f.title.p);
  free(f.label.p);
  return rc;
}

/* The first frame named name, or NULL. */
static inline const svg_frame_t *svg_frame(const svg_doc_t *d, const char *name) {
  for (size_t i = 0; i < d->n; i++)
    if (!strcmp(d->frames[i].name, name)) return &d->frames[i];
  return NULL;
}

#endif
