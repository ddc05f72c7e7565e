/*
 * series.c - series keys and FlameQL selectors (include/ember/series.h).
 *
 * A series key is what an agent names on /ingest (`app{k=v,k2=v2}`, values
 * unquoted); a selector is what a reader asks for on /render
 * (`app{k="v",k2=~"re"}`). Both parsers are hand-written single passes over a
 * (pointer, length) input, so they never read past the bytes they were given
 * and report the exact spot where the input went wrong. Their messages end up
 * in 400 responses, so each one says what is wrong and how to write it right.
 */
#include "ember/series.h"

#include "profile/regex.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* How much of an input an error message quotes. */
#define EXCERPT_MAX 80

/* ---- Character classes ------------------------------------------------- */

static bool is_alnum(unsigned char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

static bool is_app_char(unsigned char c) {
  return is_alnum(c) || c == '_' || c == '.' || c == '-';
}

static bool is_key_char(unsigned char c) {
  return is_alnum(c) || c == '_' || c == '.';
}

static bool is_ctrl(unsigned char c) {
  return c < 0x20 || c == 0x7f;
}

static bool is_value_char(unsigned char c) {
  return !is_ctrl(c) && c != ',' && c != '}';
}

static bool is_space(unsigned char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

bool ember_app_name_valid(const char *s, size_t n) {
  if (n == 0) return false;
  for (size_t i = 0; i < n; i++)
    if (!is_app_char((unsigned char)s[i])) return false;
  return true;
}

bool ember_label_key_valid(const char *s, size_t n) {
  if (n == 0) return false;
  for (size_t i = 0; i < n; i++)
    if (!is_key_char((unsigned char)s[i])) return false;
  return true;
}

bool ember_label_value_valid(const char *s, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (!is_value_char((unsigned char)s[i])) return false;
  return true;
}

/* ---- Error message helpers --------------------------------------------- */

/* A quotable copy of untrusted bytes: printable ASCII as is, anything else as
 * \xNN, cut with "..." after EXCERPT_MAX input bytes. */
typedef ember_excerpt_t excerpt_t;

static const char *excerpt(excerpt_t *e, const char *s, size_t n) {
  return ember_excerpt(e, s, n, EXCERPT_MAX);
}

/* The curl hint: `curl 'http://h/ingest?name=app{a=b}'` without -g turns
 * the braces into a URL glob, so Ember sees `appa=b`. */
static const char *curl_hint(const char *s, size_t n) {
  return n && memchr(s, '{', n)
             ? ""
             : " (if you sent it with curl: curl expands {...} in URLs "
               "unless given -g/--globoff)";
}

/* Checks an app name; what ("name: " or "query: ") prefixes the message. */
static int check_app(const char *what, ember_slice_t app, const char *whole,
                     size_t whole_len, ember_err_t *err) {
  excerpt_t e1, e2;
  if (app.len == 0)
    return ember_err_set(
        err, EMBER_EINVAL, "%sthe app name is missing in '%s'; start with it, e.g. %s",
        what, excerpt(&e1, whole, whole_len),
        what[0] == 'q' ? "myapp.cpu{region=\"eu\"}" : "myapp.cpu{region=eu}");
  for (size_t i = 0; i < app.len; i++) {
    if (is_app_char((unsigned char)app.base[i])) continue;
    return ember_err_set(err, EMBER_EINVAL,
                         "%sapp name '%s' has invalid character '%s' at position "
                         "%zu; app names may contain only letters, digits, '_', '.' "
                         "and '-'%s",
                         what, excerpt(&e1, app.base, app.len),
                         excerpt(&e2, app.base + i, 1),
                         (size_t)(app.base - whole) + i + 1, curl_hint(whole, whole_len));
  }
  return EMBER_OK;
}

/* Checks a label key: charset and the reserved __name__. */
static int check_key(const char *what, const char *s, size_t n, int code,
                     ember_err_t *err) {
  excerpt_t e1, e2;
  if (n == 0)
    return ember_err_set(err, code, "%sa label has an empty key; write key=value", what);
  for (size_t i = 0; i < n; i++) {
    if (is_key_char((unsigned char)s[i])) continue;
    return ember_err_set(err, code,
                         "%slabel key '%s' has invalid character '%s'; keys may "
                         "contain only letters, digits, '_' and '.'",
                         what, excerpt(&e1, s, n), excerpt(&e2, s + i, 1));
  }
  if (n == strlen(EMBER_NAME_LABEL) && memcmp(s, EMBER_NAME_LABEL, n) == 0)
    return ember_err_set(err, code,
                         "%slabel key '%s' is reserved for the app name; put the "
                         "app name before '{' instead",
                         what, EMBER_NAME_LABEL);
  return EMBER_OK;
}

static int check_value(const char *what, const char *key, size_t klen, const char *s,
                       size_t n, int code, ember_err_t *err) {
  excerpt_t e1, e2;
  for (size_t i = 0; i < n; i++) {
    if (is_value_char((unsigned char)s[i])) continue;
    return ember_err_set(err, code,
                         "%sthe value of label '%s' has invalid character '%s'; "
                         "values may not contain control characters, ',' or '}'",
                         what, excerpt(&e1, key, klen), excerpt(&e2, s + i, 1));
  }
  return EMBER_OK;
}

/* ---- Series keys ------------------------------------------------------- */

/* Where key lives in k's sorted labels, or where it would be inserted. */
static size_t find_label(const ember_label_t *labels, size_t n, const char *key,
                         size_t klen, bool *found) {
  size_t lo = 0, hi = n;
  *found = false;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    const char *mk = labels[mid].key;
    size_t mlen = strlen(mk);
    int c = memcmp(mk, key, mlen < klen ? mlen : klen);
    if (c == 0) c = mlen < klen ? -1 : mlen > klen;
    if (c == 0) {
      *found = true;
      return mid;
    }
    if (c < 0)
      lo = mid + 1;
    else
      hi = mid;
  }
  return lo;
}

/* Inserts or replaces key=value (already validated). With replace false a key
 * already present is an error. */
static int put_label(ember_series_key_t *k, const char *key, size_t klen,
                     const char *value, size_t vlen, bool replace, const char *what,
                     int code, ember_err_t *err) {
  bool found;
  size_t i = find_label(k->labels, k->nlabels, key, klen, &found);
  if (found) {
    excerpt_t e;
    if (!replace)
      return ember_err_set(err, code,
                           "%slabel key '%s' appears twice; give each key one value",
                           what, excerpt(&e, key, klen));
    free(k->labels[i].value);
    k->labels[i].value = ember_strndup(value, vlen);
    return EMBER_OK;
  }
  ember_grow((void **)&k->labels, &k->cap, k->nlabels + 1, sizeof *k->labels);
  memmove(&k->labels[i + 1], &k->labels[i], (k->nlabels - i) * sizeof *k->labels);
  k->labels[i].key = ember_strndup(key, klen);
  k->labels[i].value = ember_strndup(value, vlen);
  k->nlabels++;
  return EMBER_OK;
}

/* Validates and adds one "key=value" item of a label list. */
static int add_item(ember_series_key_t *k, ember_slice_t item, bool trim,
                    const char *what, int code, ember_err_t *err) {
  excerpt_t e;
  const char *eq = memchr(item.base, '=', item.len);
  if (!eq)
    return ember_err_set(err, code, "%slabel '%s' has no '='; write key=value", what,
                         excerpt(&e, item.base, item.len));
  ember_slice_t key = ember_slice(item.base, (size_t)(eq - item.base));
  ember_slice_t val = ember_slice(eq + 1, item.len - key.len - 1);
  if (trim) {
    key = ember_slice_trim(key);
    val = ember_slice_trim(val);
  }
  int rc = check_key(what, key.base, key.len, code, err);
  if (rc == EMBER_OK)
    rc = check_value(what, key.base, key.len, val.base, val.len, code, err);
  if (rc == EMBER_OK)
    rc = put_label(k, key.base, key.len, val.base, val.len, false, what, code, err);
  return rc;
}

/* Parses the part after '{' up to and including '}' (s[0..n) is everything
 * after the '{'). A trailing comma is allowed, an empty item between commas
 * is not. */
static int parse_braced(ember_series_key_t *k, const char *s, size_t n,
                        ember_err_t *err) {
  excerpt_t e;
  size_t p = 0;
  for (;;) {
    size_t j = p;
    while (j < n && s[j] != ',' && s[j] != '}')
      j++;
    if (j == n)
      return ember_err_set(err, EMBER_EINVAL,
                           "name: the label list has no closing '}'; write "
                           "app{key=value,key2=value2}");
    ember_slice_t item = ember_slice_trim(ember_slice(s + p, j - p));
    if (item.len == 0 && s[j] == ',')
      return ember_err_set(err, EMBER_EINVAL,
                           "name: empty label before ','; write "
                           "app{key=value,key2=value2}");
    if (item.len) {
      int rc = add_item(k, item, true, "name: ", EMBER_EINVAL, err);
      if (rc) return rc;
    }
    p = j + 1;
    if (s[j] == '}') break;
  }
  if (p != n)
    return ember_err_set(err, EMBER_EINVAL,
                         "name: unexpected '%s' after '}'; nothing may follow the "
                         "label list",
                         excerpt(&e, s + p, n - p));
  return EMBER_OK;
}

int ember_series_key_parse(const char *s, size_t n, ember_series_key_t *out,
                           ember_err_t *err) {
  ember_series_key_t k = {0};
  ember_slice_t all = ember_slice_trim(ember_slice(s, n));
  const char *brace = all.len ? memchr(all.base, '{', all.len) : NULL;
  size_t alen = brace ? (size_t)(brace - all.base) : all.len;
  ember_slice_t app = ember_slice_trim(ember_slice(all.base, alen));
  int rc = check_app("name: ", app, s, n, err);
  if (rc) goto fail;
  k.app = ember_strndup(app.base, app.len);
  if (brace) {
    rc = parse_braced(&k, brace + 1, all.len - alen - 1, err);
    if (rc) goto fail;
  }
  *out = k;
  return EMBER_OK;
fail:
  ember_series_key_free(&k);
  memset(out, 0, sizeof *out);
  return rc;
}

int ember_series_key_set(ember_series_key_t *k, const char *key, size_t klen,
                         const char *value, size_t vlen, ember_err_t *err) {
  ember_slice_t kt = ember_slice_trim(ember_slice(key, klen));
  ember_slice_t vt = ember_slice_trim(ember_slice(value, vlen));
  int rc = check_key("", kt.base, kt.len, EMBER_EINVAL, err);
  if (rc == EMBER_OK)
    rc = check_value("", kt.base, kt.len, vt.base, vt.len, EMBER_EINVAL, err);
  if (rc == EMBER_OK)
    rc = put_label(k, kt.base, kt.len, vt.base, vt.len, true, "", EMBER_EINVAL, err);
  return rc;
}

static void free_labels(ember_label_t *labels, size_t n) {
  for (size_t i = 0; i < n; i++) {
    free(labels[i].key);
    free(labels[i].value);
  }
  free(labels);
}

void ember_series_key_copy(ember_series_key_t *dst, const ember_series_key_t *src) {
  memset(dst, 0, sizeof *dst);
  dst->app = src->app ? ember_strdup(src->app) : NULL;
  if (src->nlabels == 0) return;
  dst->labels = ember_malloc(src->nlabels * sizeof *dst->labels);
  dst->cap = dst->nlabels = src->nlabels;
  for (size_t i = 0; i < src->nlabels; i++) {
    dst->labels[i].key = ember_strdup(src->labels[i].key);
    dst->labels[i].value = ember_strdup(src->labels[i].value);
  }
}

void ember_series_key_free(ember_series_key_t *k) {
  if (!k) return;
  free(k->app);
  free_labels(k->labels, k->nlabels);
  memset(k, 0, sizeof *k);
}

void ember_series_key_labels(const ember_series_key_t *k, ember_buf_t *out) {
  ember_buf_append(out, "", 0); /* NUL-terminated even with no labels */
  for (size_t i = 0; i < k->nlabels; i++) {
    if (i) ember_buf_putc(out, ',');
    ember_buf_puts(out, k->labels[i].key);
    ember_buf_putc(out, '=');
    ember_buf_puts(out, k->labels[i].value);
  }
}

void ember_series_key_format(const ember_series_key_t *k, ember_buf_t *out) {
  ember_buf_puts(out, k->app ? k->app : "");
  ember_buf_putc(out, '{');
  ember_series_key_labels(k, out);
  ember_buf_putc(out, '}');
}

int ember_series_key_parse_labels(const char *s, size_t n, ember_series_key_t *k,
                                  ember_err_t *err) {
  /* Canonical strings are written by ember_series_key_labels, so nothing is
   * trimmed: what was stored is what comes back. */
  ember_series_key_t tmp = {0};
  int rc = EMBER_OK;
  for (size_t p = 0; p < n;) {
    const char *comma = memchr(s + p, ',', n - p);
    size_t j = comma ? (size_t)(comma - s) : n;
    rc = add_item(&tmp, ember_slice(s + p, j - p), false,
                  "stored label set: ", EMBER_EPARSE, err);
    if (rc) goto done;
    if (comma && j + 1 == n) {
      rc = ember_err_set(err, EMBER_EPARSE, "stored label set: ends with ','");
      goto done;
    }
    p = j + 1;
  }
  free_labels(k->labels, k->nlabels);
  k->labels = tmp.labels;
  k->nlabels = tmp.nlabels;
  k->cap = tmp.cap;
  tmp.labels = NULL;
  tmp.nlabels = 0;
done:
  ember_series_key_free(&tmp);
  return rc;
}

/* ---- Selectors: regular expressions ------------------------------------ */

/* How much regex memory each matcher of sel may take: an even share of
 * EMBER_SELECTOR_REGEX_MEM, at most EMBER_REGEX_MEM_MAX. */
static size_t re_budget(size_t nregex) {
  size_t share = EMBER_SELECTOR_REGEX_MEM / (nregex ? nregex : 1);
  return share < EMBER_REGEX_MEM_MAX ? share : EMBER_REGEX_MEM_MAX;
}

/* Compiles m's value with at most max_mem bytes. The source is checked for
 * length first: RE2 bounds the compiled form, the cap bounds the parse. */
static int compile_re(ember_matcher_t *m, size_t max_mem, size_t nregex,
                      ember_err_t *err) {
  excerpt_t e;
  char why[160];
  size_t n = strlen(m->value);
  if (n > EMBER_REGEX_SOURCE_MAX)
    return ember_err_set(err, EMBER_EINVAL,
                         "query: the regular expression for label '%s' is longer "
                         "than %d bytes; use a shorter one",
                         m->key, EMBER_REGEX_SOURCE_MAX);
  ember_regex_t *re = NULL;
  switch (ember_regex_compile(m->value, n, max_mem, &re, why, sizeof why)) {
  case EMBER_REGEX_OK: m->re = re; return EMBER_OK;
  case EMBER_REGEX_REPEAT:
    return ember_err_set(err, EMBER_EINVAL,
                         "query: the regular expression for label '%s' repeats too "
                         "much (%s): a repetition may count at most 1000, nested "
                         "ones multiplied; use a smaller count or '*' / '+'",
                         m->key, excerpt(&e, why, strlen(why)));
  case EMBER_REGEX_TOO_LARGE:
    return ember_err_set(err, EMBER_EINVAL,
                         "query: the regular expression for label '%s' is too large "
                         "once compiled (over %zu KiB, the share of each of the %zu "
                         "in this selector); simplify it, e.g. fewer or smaller "
                         "repetitions, or use fewer regular expressions",
                         m->key, max_mem >> 10, nregex);
  default:
    return ember_err_set(err, EMBER_EINVAL,
                         "query: invalid regular expression \"%s\" for label '%s': "
                         "%s; write an RE2 regular expression (the syntax of "
                         "Prometheus and Pyroscope selectors)",
                         excerpt(&e, m->value, n), m->key, why);
  }
}

/* Compiles every =~ and !~ of sel once the whole selector has parsed, so
 * that the memory they may share is known: a selector holds at most
 * EMBER_SELECTOR_REGEX_MAX of them, together within
 * EMBER_SELECTOR_REGEX_MEM. */
static int compile_all(ember_selector_t *sel, ember_err_t *err) {
  size_t nregex = 0;
  for (size_t i = 0; i < sel->n; i++)
    nregex +=
        sel->matchers[i].op == EMBER_MATCH_RE || sel->matchers[i].op == EMBER_MATCH_NRE;
  if (nregex > EMBER_SELECTOR_REGEX_MAX)
    return ember_err_set(err, EMBER_EINVAL,
                         "query: %zu regular expression matchers (=~ or !~) in one "
                         "selector, the limit is %d; combine them, e.g. "
                         "k=~\"a|b\" for two values of one label",
                         nregex, EMBER_SELECTOR_REGEX_MAX);
  size_t budget = re_budget(nregex);
  for (size_t i = 0; i < sel->n; i++) {
    ember_matcher_t *m = &sel->matchers[i];
    if (m->op != EMBER_MATCH_RE && m->op != EMBER_MATCH_NRE) continue;
    int rc = compile_re(m, budget, nregex, err);
    if (rc) return rc;
  }
  return EMBER_OK;
}

/* ---- Selectors: parser ------------------------------------------------- */

typedef struct {
  const char *s;
  size_t n;
  size_t i;
  ember_err_t *err;
  bool matchers_only; /* a Pyroscope label selector: no app, __name__ allowed */
} qparser_t;

static void skip_ws(qparser_t *p) {
  while (p->i < p->n && is_space((unsigned char)p->s[p->i]))
    p->i++;
}

/* "query: expected X at position N in 'query'" plus an optional hint. */
static int expected(qparser_t *p, const char *what, const char *hint) {
  excerpt_t e;
  return ember_err_set(p->err, EMBER_EINVAL,
                       "%s: expected %s at position %zu in '%s'%s%s",
                       p->matchers_only ? "label selector" : "query", what, p->i + 1,
                       excerpt(&e, p->s, p->n), hint ? "; " : "", hint ? hint : "");
}

static int parse_op(qparser_t *p, ember_match_op_t *op, const char **text) {
  const char *s = p->s + p->i;
  size_t left = p->n - p->i;
  if (left >= 2 && s[0] == '=' && s[1] == '~')
    *op = EMBER_MATCH_RE, *text = "'=~'";
  else if (left >= 2 && s[0] == '!' && s[1] == '~')
    *op = EMBER_MATCH_NRE, *text = "'!~'";
  else if (left >= 2 && s[0] == '!' && s[1] == '=')
    *op = EMBER_MATCH_NEQ, *text = "'!='";
  else if (left >= 1 && s[0] == '=')
    *op = EMBER_MATCH_EQ, *text = "'='";
  else
    return expected(p, "one of = != =~ !~ after the label name", NULL);
  p->i += *op == EMBER_MATCH_EQ ? 1 : 2;
  return EMBER_OK;
}

/* Reads a double-quoted string at p->i into *out (caller frees). \" and \\
 * are escapes; any other backslash stays as written, so regexes such as
 * "web\.1" need no doubling. */
static int parse_string(qparser_t *p, const char *after, char **out) {
  char what[48];
  if (p->i >= p->n || p->s[p->i] != '"') {
    snprintf(what, sizeof what, "'\"' after %s", after);
    return expected(p, what, "quote label values, e.g. region=\"eu\"");
  }
  size_t start = p->i++;
  ember_buf_t b = EMBER_BUF_INIT;
  ember_buf_append(&b, "", 0); /* so an empty string is "" */
  for (; p->i < p->n; p->i++) {
    unsigned char c = (unsigned char)p->s[p->i];
    if (c == '"') {
      p->i++;
      *out = ember_buf_take(&b, NULL);
      return EMBER_OK;
    }
    if (is_ctrl(c)) {
      ember_buf_free(&b);
      return expected(p, "a printable character or '\"'",
                      "label values cannot contain control characters");
    }
    if (c == '\\' && p->i + 1 < p->n && (p->s[p->i + 1] == '"' || p->s[p->i + 1] == '\\'))
      c = (unsigned char)p->s[++p->i];
    ember_buf_putc(&b, (char)c);
  }
  ember_buf_free(&b);
  p->i = start;
  return expected(p, "a closing '\"' for the value that starts", NULL);
}

/* Parses one `key op "value"` into m (which owns what it gets even on error,
 * so the caller frees it either way). */
static int parse_matcher(qparser_t *p, ember_matcher_t *m) {
  size_t start = p->i;
  while (p->i < p->n && is_key_char((unsigned char)p->s[p->i]))
    p->i++;
  if (p->i == start)
    return expected(p, "a label name",
                    "label names contain letters, digits, '_' "
                    "and '.'");
  m->key = ember_strndup(p->s + start, p->i - start);
  if (!p->matchers_only && strcmp(m->key, EMBER_NAME_LABEL) == 0) {
    p->i = start;
    return expected(p, "a label name other than " EMBER_NAME_LABEL,
                    "put the app name before '{' instead");
  }
  skip_ws(p);
  const char *optext = "";
  int rc = parse_op(p, &m->op, &optext);
  if (rc) return rc;
  skip_ws(p);
  return parse_string(p, optext, &m->value);
}

static void free_matcher(ember_matcher_t *m) {
  free(m->key);
  free(m->value);
  ember_regex_free(m->re);
}

static int parse_matchers(qparser_t *p, ember_selector_t *sel) {
  size_t cap = 0;
  for (;;) {
    skip_ws(p);
    if (p->i < p->n && p->s[p->i] == '}') break;
    ember_grow((void **)&sel->matchers, &cap, sel->n + 1, sizeof *sel->matchers);
    ember_matcher_t *m = &sel->matchers[sel->n++];
    memset(m, 0, sizeof *m);
    int rc = parse_matcher(p, m);
    if (rc) return rc;
    skip_ws(p);
    if (p->i < p->n && p->s[p->i] == ',') {
      p->i++;
      continue;
    }
    if (p->i < p->n && p->s[p->i] == '}') break;
    return expected(p, "',' or '}' after the label matcher", NULL);
  }
  p->i++; /* the '}' */
  return EMBER_OK;
}

/* From the '{' at p->i: the matchers, the '}', nothing but blanks after it
 * (else "expected <end>"), and the regexes compiled. */
static int braces_to_end(qparser_t *p, ember_selector_t *sel, const char *end) {
  p->i++; /* the '{' */
  int rc = parse_matchers(p, sel);
  if (rc) return rc;
  skip_ws(p);
  if (p->i < p->n) return expected(p, end, NULL);
  return compile_all(sel, p->err);
}

int ember_selector_parse(const char *s, size_t n, ember_selector_t *out,
                         ember_err_t *err) {
  ember_selector_t sel = {0};
  qparser_t p = {s, n, 0, err, false};
  int rc = EMBER_OK;
  skip_ws(&p);
  size_t start = p.i;
  while (p.i < p.n && is_app_char((unsigned char)s[p.i]))
    p.i++;
  size_t alen = p.i - start;
  skip_ws(&p);
  if (p.i < p.n && s[p.i] != '{') {
    /* Not '{' and not the end: a character app names may not hold. */
    ember_slice_t app = ember_slice(s + start, p.n - start);
    const char *brace = memchr(app.base, '{', app.len);
    if (brace) app.len = (size_t)(brace - app.base);
    rc = check_app("query: ", ember_slice_trim(app), s, n, err);
    if (rc == EMBER_OK) rc = expected(&p, "'{' or the end of the query", NULL);
    goto fail;
  }
  if (alen == 0) {
    rc = check_app("query: ", ember_slice(s + start, 0), s, n, err);
    goto fail;
  }
  sel.app = ember_strndup(s + start, alen);
  if (p.i < p.n && (rc = braces_to_end(&p, &sel, "the end of the query after '}'")))
    goto fail;
  *out = sel;
  return EMBER_OK;
fail:
  ember_selector_free(&sel);
  memset(out, 0, sizeof *out);
  return rc;
}

int ember_selector_parse_matchers(const char *s, size_t n, ember_selector_t *out,
                                  ember_err_t *err) {
  ember_selector_t sel = {0};
  qparser_t p = {s, n, 0, err, true};
  int rc = EMBER_OK;
  skip_ws(&p);
  if (p.i < p.n) {
    if (s[p.i] != '{') {
      rc = expected(&p, "'{'", "a label selector is written {key=\"value\",...}");
      goto fail;
    }
    rc = braces_to_end(&p, &sel, "the end of the label selector after '}'");
    if (rc) goto fail;
  }
  *out = sel;
  return EMBER_OK;
fail:
  ember_selector_free(&sel);
  memset(out, 0, sizeof *out);
  return rc;
}

void ember_selector_free(ember_selector_t *sel) {
  if (!sel) return;
  for (size_t i = 0; i < sel->n; i++)
    free_matcher(&sel->matchers[i]);
  free(sel->matchers);
  free(sel->app);
  memset(sel, 0, sizeof *sel);
}

/* ---- Selectors: matching and formatting -------------------------------- */

bool ember_selector_match(const ember_selector_t *sel, const ember_label_t *labels,
                          size_t n) {
  for (size_t i = 0; i < sel->n; i++) {
    const ember_matcher_t *m = &sel->matchers[i];
    bool found;
    size_t at = find_label(labels, n, m->key, strlen(m->key), &found);
    const char *v = found ? labels[at].value : "";
    bool ok;
    switch (m->op) {
    case EMBER_MATCH_EQ: ok = strcmp(v, m->value) == 0; break;
    case EMBER_MATCH_NEQ: ok = strcmp(v, m->value) != 0; break;
    case EMBER_MATCH_RE: ok = ember_regex_full_match(m->re, v, strlen(v)); break;
    case EMBER_MATCH_NRE: ok = !ember_regex_full_match(m->re, v, strlen(v)); break;
    default: ok = false;
    }
    if (!ok) return false;
  }
  return true;
}

void ember_selector_format(const ember_selector_t *sel, ember_buf_t *out) {
  static const char *const ops[] = {"=", "!=", "=~", "!~"};
  ember_buf_puts(out, sel->app ? sel->app : "");
  ember_buf_putc(out, '{');
  for (size_t i = 0; i < sel->n; i++) {
    const ember_matcher_t *m = &sel->matchers[i];
    if (i) ember_buf_putc(out, ',');
    ember_buf_puts(out, m->key);
    ember_buf_puts(out, ops[m->op]);
    ember_buf_putc(out, '"');
    for (const char *c = m->value; *c; c++) {
      if (*c == '"' || *c == '\\') ember_buf_putc(out, '\\');
      ember_buf_putc(out, *c);
    }
    ember_buf_putc(out, '"');
  }
  ember_buf_putc(out, '}');
}
