/*
 * multipart.c - multipart/form-data bodies (RFC 7578, RFC 2046 section 5.1),
 * the way pprof agents upload a profile with its companions: fields
 * `profile`, `prev_profile` and `sample_type_config`.
 *
 * Agents differ in the details, so the reader takes CRLF or bare LF line
 * ends, quoted or bare boundaries, a preamble and an epilogue, and spaces
 * after a boundary. What it does not guess at is the end: a body without
 * its closing boundary was cut off somewhere, and a profile cut off at an
 * unknown point is refused rather than stored half.
 *
 * Nothing is copied: parts point into the body.
 */
#include "ingest_int.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* RFC 2046: a boundary is 1 to 70 characters. */
#define BOUNDARY_MAX 70

static bool is_space(char c) { return c == ' ' || c == '\t'; }

static bool slice_ieq(ember_slice_t s, const char *cstr) {
  size_t n = strlen(cstr);
  return s.len == n && strncasecmp(s.base, cstr, n) == 0;
}

/* The part of a header value before its first ';' (the media type or the
 * disposition type), trimmed. */
static ember_slice_t head_value(ember_slice_t s) {
  const char *semi = memchr(s.base, ';', s.len);
  if (semi) s.len = (size_t)(semi - s.base);
  return ember_slice_trim(s);
}

/* Reads one parameter value at s[*i] (just past the '='): a quoted string
 * (the slice keeps any backslash escapes; the names and boundaries compared
 * here never need them) or a bare token up to the next ';'. */
static ember_slice_t param_value(ember_slice_t s, size_t *i) {
  size_t j = *i;
  while (j < s.len && is_space(s.base[j])) j++;
  ember_slice_t v;
  if (j < s.len && s.base[j] == '"') {
    size_t start = ++j;
    while (j < s.len && s.base[j] != '"')
      j += (s.base[j] == '\\' && j + 1 < s.len) ? 2 : 1;
    v = ember_slice(s.base + start, (j < s.len ? j : s.len) - start);
    while (j < s.len && s.base[j] != ';') j++;
  } else {
    size_t start = j;
    while (j < s.len && s.base[j] != ';') j++;
    v = ember_slice_trim(ember_slice(s.base + start, j - start));
  }
  *i = j;
  return v;
}

/* Finds parameter want (case-insensitive) in a header value such as
 * `form-data; name="profile"; filename="p.pprof"`. A quoted value may hold
 * ';'. */
static bool find_param(ember_slice_t s, const char *want, ember_slice_t *out) {
  size_t i = 0;
  while (i < s.len && s.base[i] != ';') i++;
  while (i < s.len) {
    i++; /* the ';' */
    size_t k = i;
    while (i < s.len && s.base[i] != '=' && s.base[i] != ';') i++;
    ember_slice_t key = ember_slice_trim(ember_slice(s.base + k, i - k));
    ember_slice_t val = ember_slice(s.base + i, 0);
    if (i < s.len && s.base[i] == '=') {
      i++;
      val = param_value(s, &i);
    }
    if (slice_ieq(key, want)) {
      *out = val;
      return true;
    }
  }
  return false;
}

bool ingest_is_multipart(const char *content_type) {
  if (!content_type) return false;
  ember_slice_t ct = head_value(ember_slice(content_type, strlen(content_type)));
  return slice_ieq(ct, "multipart/form-data");
}

static int get_boundary(const char *content_type, ember_slice_t *out,
                        ember_err_t *err) {
  ember_slice_t ct = ember_slice(content_type ? content_type : "",
                                 content_type ? strlen(content_type) : 0);
  ember_slice_t b;
  if (!find_param(ct, "boundary", &b) || b.len == 0)
    return ember_err_set(err, EMBER_EPARSE,
                         "multipart body: the Content-Type has no boundary "
                         "parameter; send 'multipart/form-data; boundary=...'");
  if (b.len > BOUNDARY_MAX) {
    ingest_excerpt_t e;
    return ember_err_set(err, EMBER_EPARSE,
                         "multipart body: the boundary '%s' is %zu characters long; "
                         "use at most %d",
                         ingest_excerpt(&e, b.base, b.len), b.len, BOUNDARY_MAX);
  }
  *out = b;
  return EMBER_OK;
}

/* ---- Body ---------------------------------------------------------------- */

typedef struct {
  const uint8_t *p, *end;
  char delim[BOUNDARY_MAX + 3]; /* "\n--" + boundary */
  size_t delim_len;
  size_t nparts; /* for messages */
} reader_t;

/* The first delimiter: at the very start, or after a preamble line. */
static const uint8_t *first_delim(const reader_t *r) {
  const uint8_t *start = r->p;
  size_t n = (size_t)(r->end - start);
  if (n >= r->delim_len - 1 && !memcmp(start, r->delim + 1, r->delim_len - 1))
    return start + r->delim_len - 1;
  const uint8_t *q = memmem(start, n, r->delim, r->delim_len);
  return q ? q + r->delim_len : NULL;
}

/* After a delimiter: "--" closes the form (true in *closed); otherwise
 * optional padding and a line end lead to the next part's headers. */
static int after_delim(reader_t *r, bool *closed, ember_err_t *err) {
  if (r->end - r->p >= 2 && r->p[0] == '-' && r->p[1] == '-') {
    *closed = true;
    return EMBER_OK;
  }
  *closed = false;
  while (r->p < r->end && is_space((char)*r->p)) r->p++;
  if (r->p < r->end && *r->p == '\r') r->p++;
  if (r->p < r->end && *r->p == '\n') {
    r->p++;
    return EMBER_OK;
  }
  if (r->p == r->end)
    return ember_err_set(err, EMBER_EPARSE,
                         "multipart body: it ends right after a boundary without the "
                         "closing '--'; send the complete form");
  return ember_err_set(err, EMBER_EPARSE,
                       "multipart body: unexpected bytes after boundary %zu; each "
                       "boundary must end its line",
                       r->nparts + 1);
}

/* Reads a part's header lines up to the empty line and takes its name from
 * Content-Disposition. */
static int read_headers(reader_t *r, ingest_part_t *part, ember_err_t *err) {
  bool named = false;
  for (;;) {
    const uint8_t *nl = memchr(r->p, '\n', (size_t)(r->end - r->p));
    if (!nl)
      return ember_err_set(err, EMBER_EPARSE,
                           "multipart body: the headers of part %zu do not end "
                           "with an empty line; send the complete form",
                           r->nparts + 1);
    ember_slice_t line = ember_slice((const char *)r->p, (size_t)(nl - r->p));
    r->p = nl + 1;
    if (line.len && line.base[line.len - 1] == '\r') line.len--;
    if (line.len == 0) break;
    const char *colon = memchr(line.base, ':', line.len);
    if (!colon) continue;
    ember_slice_t hname = ember_slice_trim(ember_slice(line.base, (size_t)(colon - line.base)));
    ember_slice_t value = ember_slice(colon + 1, line.len - (size_t)(colon + 1 - line.base));
    if (slice_ieq(hname, "Content-Disposition") && find_param(value, "name", &part->name))
      named = part->name.len > 0;
  }
  if (!named)
    return ember_err_set(err, EMBER_EPARSE,
                         "multipart body: part %zu has no name; each part needs "
                         "'Content-Disposition: form-data; name=\"...\"'",
                         r->nparts + 1);
  return EMBER_OK;
}

/* Reads a part's content up to the next delimiter, which it consumes. The
 * line end before the delimiter belongs to the delimiter. */
static int read_content(reader_t *r, ingest_part_t *part, ember_err_t *err) {
  /* Start one byte early: for an empty part the '\n' that ended the
   * headers is also the one in front of the delimiter. */
  const uint8_t *from = r->p - 1;
  const uint8_t *q = memmem(from, (size_t)(r->end - from), r->delim, r->delim_len);
  if (!q) {
    ingest_excerpt_t e;
    return ember_err_set(err, EMBER_EPARSE,
                         "multipart body: part %zu ('%s') is not followed by a "
                         "boundary; the body ends without the closing '--%.*s--', "
                         "send the complete form",
                         r->nparts + 1, ingest_excerpt(&e, part->name.base, part->name.len),
                         (int)(r->delim_len - 3), r->delim + 3);
  }
  const uint8_t *content_end = q < r->p ? r->p : q;
  if (content_end > r->p && content_end[-1] == '\r') content_end--;
  part->data = r->p;
  part->len = (size_t)(content_end - r->p);
  r->p = q + r->delim_len;
  return EMBER_OK;
}

int ingest_multipart_parse(const char *content_type, const uint8_t *body, size_t len,
                           ingest_form_t *out, ember_err_t *err) {
  ember_slice_t boundary = {NULL, 0};
  ingest_form_t form = {NULL, 0};
  size_t cap = 0;
  int rc = get_boundary(content_type, &boundary, err);
  if (rc) return rc;
  reader_t r = {.p = body, .end = body + len, .nparts = 0};
  memcpy(r.delim, "\n--", 3);
  memcpy(r.delim + 3, boundary.base, boundary.len);
  r.delim_len = boundary.len + 3;
  r.p = len ? first_delim(&r) : NULL;
  if (!r.p)
    return ember_err_set(err, EMBER_EPARSE,
                         "multipart body: the boundary '--%.*s' named in the "
                         "Content-Type never appears; check the boundary",
                         (int)boundary.len, boundary.base);
  for (;;) {
    bool closed;
    rc = after_delim(&r, &closed, err);
    if (rc || closed) break;
    ingest_part_t part = {{NULL, 0}, NULL, 0};
    rc = read_headers(&r, &part, err);
    if (rc == EMBER_OK) rc = read_content(&r, &part, err);
    if (rc) break;
    ember_grow((void **)&form.parts, &cap, form.n + 1, sizeof *form.parts);
    form.parts[form.n++] = part;
    r.nparts++;
  }
  if (rc) {
    ingest_form_free(&form);
    return rc;
  }
  *out = form;
  return EMBER_OK;
}

const ingest_part_t *ingest_form_get(const ingest_form_t *f, const char *name) {
  for (size_t i = 0; i < f->n; i++)
    if (ember_slice_eq(f->parts[i].name, name)) return &f->parts[i];
  return NULL;
}

void ingest_form_free(ingest_form_t *f) {
  if (!f) return;
  free(f->parts);
  f->parts = NULL;
  f->n = 0;
}

int ingest_form_one(const ingest_form_t *f, const char *name, const ingest_part_t **out,
                    ember_err_t *err) {
  *out = NULL;
  for (size_t i = 0; i < f->n; i++) {
    if (!ember_slice_eq(f->parts[i].name, name)) continue;
    if (*out)
      return ember_err_set(err, EMBER_EPARSE,
                           "multipart body: the field '%s' appears twice; send it "
                           "once",
                           name);
    *out = &f->parts[i];
  }
  if (*out && (*out)->len == 0) *out = NULL; /* an empty field is no field */
  return EMBER_OK;
}

int ingest_form_missing(const ingest_form_t *f, const char *name, const char *what,
                        ember_err_t *err) {
  ember_buf_t names = EMBER_BUF_INIT;
  for (size_t i = 0; i < f->n && names.len < 200; i++) {
    ingest_excerpt_t e;
    ember_buf_printf(&names, "%s'%s'", i ? ", " : "",
                     ingest_excerpt(&e, f->parts[i].name.base, f->parts[i].name.len));
  }
  int rc = ember_err_set(err, EMBER_EPARSE,
                         "multipart body: no '%s' field (the form has %s); send %s in a "
                         "field named '%s'",
                         name, names.len ? names.data : "no fields", what, name);
  ember_buf_free(&names);
  return rc;
}
