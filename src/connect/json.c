/*
 * json.c - protobuf's canonical JSON mapping for any protobuf-c message,
 * driven by the message's descriptor: what `application/json` Connect calls
 * carry.
 *
 * Decoding parses the document with jansson (duplicate keys refused, strings
 * valid UTF-8 without NUL) and fills a message allocated in the call's
 * arena, field by field, checking each value against its field's type; the
 * result is laid out exactly as protobuf-c's unpacker lays out a message,
 * so the code that reads requests cannot tell the two encodings apart.
 * Encoding walks the descriptor and writes what is set.
 *
 * The mapping (https://protobuf.dev/programming-guides/json/), as far as
 * the schemas of src/proto/ need it:
 *
 *   field names      lowerCamelCase written; that or the schema's name read
 *   int32, uint32    numbers (integral reals and decimal strings read too)
 *   int64, uint64    decimal strings written; strings or numbers read
 *   float, double    numbers, or "NaN", "Infinity", "-Infinity"
 *   bool             true, false
 *   enum             the value's name written; names or numbers read
 *   bytes            standard base64 written; standard or URL-safe, with or
 *                    without padding, read
 *   message          an object; null reads as unset
 *   repeated         an array, left out when empty
 *   defaults         a field at its default (0, "", false, empty) is left
 *                    out, a member of a oneof is written whenever it is set
 */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "connect/connect_int.h"

/* ---- Names ------------------------------------------------------------- */

void ember_connect_json_name(const char *name, char *out) {
  bool upper = false;
  for (; *name; name++) {
    if (*name == '_') {
      upper = true;
      continue;
    }
    *out++ = upper && *name >= 'a' && *name <= 'z' ? (char)(*name - 'a' + 'A') : *name;
    upper = false;
  }
  *out = '\0';
}

/* The field of d named key, by JSON name or schema name; NULL if none. */
static const ProtobufCFieldDescriptor *find_field(const ProtobufCMessageDescriptor *d,
                                                  const char *key) {
  char json[256];
  for (unsigned i = 0; i < d->n_fields; i++) {
    const ProtobufCFieldDescriptor *f = &d->fields[i];
    if (!strcmp(f->name, key)) return f;
    if (strlen(f->name) >= sizeof json) continue;
    ember_connect_json_name(f->name, json);
    if (!strcmp(json, key)) return f;
  }
  return NULL;
}

/* ---- Decoding ---------------------------------------------------------- */

typedef struct {
  ember_connect_arena_t *a;
  ember_err_t *err;
  const char *field; /* the field being read, for messages */
} dec_t;

static int no_memory(dec_t *d) {
  return ember_err_set(d->err, EMBER_ETOOBIG,
                       "the JSON message holds more than this endpoint takes; send "
                       "a smaller one");
}

static int bad(dec_t *d, const char *what, const json_t *v) {
  static const char *const kinds[] = {"an object", "an array",  "a string", "an integer",
                                      "a number",  "true",      "false",    "null"};
  int t = v ? (int)json_typeof(v) : 7;
  return ember_err_set(d->err, EMBER_EINVAL, "field '%s': expected %s, got %s", d->field,
                       what, t >= 0 && t < 8 ? kinds[t] : "something else");
}

static void *alloc(dec_t *d, size_t n) {
  return ember_connect_arena_alloc(d->a, n);
}

/* A decimal integer in a string: an optional '-', then digits only. */
static bool parse_decimal(const char *s, bool *neg, uint64_t *mag) {
  *neg = *s == '-';
  if (*neg) s++;
  if (!*s || strlen(s) > 20) return false;
  uint64_t v = 0;
  for (; *s; s++) {
    if (*s < '0' || *s > '9') return false;
    unsigned dgt = (unsigned)(*s - '0');
    if (v > (UINT64_MAX - dgt) / 10) return false;
    v = v * 10 + dgt;
  }
  *mag = v;
  return true;
}

/* Any JSON integer form of a value within [min, max] (max for unsigned
 * types, min 0): an integer, an integral real, or a decimal string. */
static int get_integer(dec_t *d, const json_t *v, int64_t min, uint64_t max,
                       bool is_signed, uint64_t *out) {
  bool neg = false;
  uint64_t mag = 0;
  if (json_is_integer(v)) {
    json_int_t i = json_integer_value(v);
    neg = i < 0;
    mag = neg ? (uint64_t)(-(i + 1)) + 1 : (uint64_t)i;
  } else if (json_is_real(v)) {
    double r = json_real_value(v);
    if (r != floor(r) || !(r >= -9223372036854775808.0 && r < 18446744073709551616.0))
      return ember_err_set(d->err, EMBER_EINVAL,
                           "field '%s': %g is not an integer of the field's type",
                           d->field, r);
    neg = r < 0;
    mag = neg ? (uint64_t)(-r) : (uint64_t)r;
  } else if (json_is_string(v)) {
    if (!parse_decimal(json_string_value(v), &neg, &mag))
      return ember_err_set(d->err, EMBER_EINVAL,
                           "field '%s': \"%.40s\" is not a decimal integer", d->field,
                           json_string_value(v));
  } else {
    return bad(d, "an integer (a number or a decimal string)", v);
  }
  if (mag == 0) neg = false; /* "-0" */
  bool ok = neg ? is_signed && mag <= (uint64_t)(-(min + 1)) + 1 : mag <= max;
  if (!ok)
    return ember_err_set(d->err, EMBER_EINVAL,
                         "field '%s': %s%" PRIu64 " is out of the range of the field's type",
                         d->field, neg ? "-" : "", mag);
  *out = neg ? (uint64_t)0 - mag : mag;
  return EMBER_OK;
}

/* Whether s is a JSON number: -?digits(.digits)?([eE][+-]?digits)?. */
static bool number_text(const char *s) {
  if (*s == '-') s++;
  if (*s < '0' || *s > '9') return false;
  while (*s >= '0' && *s <= '9')
    s++;
  if (*s == '.') {
    s++;
    if (*s < '0' || *s > '9') return false;
    while (*s >= '0' && *s <= '9')
      s++;
  }
  if (*s == 'e' || *s == 'E') {
    s++;
    if (*s == '+' || *s == '-') s++;
    if (*s < '0' || *s > '9') return false;
    while (*s >= '0' && *s <= '9')
      s++;
  }
  return *s == '\0';
}

static int get_double(dec_t *d, const json_t *v, double *out) {
  if (json_is_number(v)) {
    *out = json_number_value(v);
    return EMBER_OK;
  }
  if (!json_is_string(v)) return bad(d, "a number", v);
  const char *s = json_string_value(v);
  if (!strcmp(s, "NaN")) *out = NAN;
  else if (!strcmp(s, "Infinity")) *out = INFINITY;
  else if (!strcmp(s, "-Infinity")) *out = -INFINITY;
  else if (number_text(s) && strlen(s) < 400 && isfinite(*out = strtod(s, NULL))) {
  } else {
    return ember_err_set(d->err, EMBER_EINVAL, "field '%s': \"%.40s\" is not a number",
                         d->field, s);
  }
  return EMBER_OK;
}

/* The value of one base64 character in either alphabet, or -1. */
static int b64_value(unsigned char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+' || c == '-') return 62;
  if (c == '/' || c == '_') return 63;
  return -1;
}

static int get_bytes(dec_t *d, const json_t *v, ProtobufCBinaryData *out) {
  if (!json_is_string(v)) return bad(d, "a base64 string", v);
  const char *s = json_string_value(v);
  size_t n = json_string_length(v), pads = 0;
  while (pads < 2 && n > pads && s[n - 1 - pads] == '=')
    pads++;
  /* Padded text comes in groups of four; unpadded text never ends with a
   * lone character. */
  if ((pads && n % 4) || (n - pads) % 4 == 1) goto fail;
  n -= pads;
  uint8_t *p = alloc(d, n / 4 * 3 + 3);
  if (!p) return no_memory(d);
  size_t len = 0;
  uint32_t acc = 0;
  int bits = 0;
  for (size_t i = 0; i < n; i++) {
    int x = b64_value((unsigned char)s[i]);
    if (x < 0) goto fail;
    acc = acc << 6 | (uint32_t)x;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      p[len++] = (uint8_t)(acc >> bits);
    }
  }
  out->data = p;
  out->len = len;
  return EMBER_OK;
fail:
  return ember_err_set(d->err, EMBER_EINVAL, "field '%s': not valid base64", d->field);
}

static int decode_message(dec_t *d, const ProtobufCMessageDescriptor *desc,
                          const json_t *obj, int depth, ProtobufCMessage **out);

/* Reads v as a value of field f into dst (the field's member, or one
 * element of a repeated field). */
static int decode_value(dec_t *d, const ProtobufCFieldDescriptor *f, const json_t *v,
                        void *dst, int depth) {
  uint64_t u;
  double x;
  int rc = EMBER_OK;
  switch (f->type) {
  case PROTOBUF_C_TYPE_INT32:
  case PROTOBUF_C_TYPE_SINT32:
  case PROTOBUF_C_TYPE_SFIXED32:
    rc = get_integer(d, v, INT32_MIN, INT32_MAX, true, &u);
    if (!rc) *(int32_t *)dst = (int32_t)(int64_t)u;
    return rc;
  case PROTOBUF_C_TYPE_UINT32:
  case PROTOBUF_C_TYPE_FIXED32:
    rc = get_integer(d, v, 0, UINT32_MAX, false, &u);
    if (!rc) *(uint32_t *)dst = (uint32_t)u;
    return rc;
  case PROTOBUF_C_TYPE_INT64:
  case PROTOBUF_C_TYPE_SINT64:
  case PROTOBUF_C_TYPE_SFIXED64:
    rc = get_integer(d, v, INT64_MIN, INT64_MAX, true, &u);
    if (!rc) *(int64_t *)dst = (int64_t)u;
    return rc;
  case PROTOBUF_C_TYPE_UINT64:
  case PROTOBUF_C_TYPE_FIXED64:
    rc = get_integer(d, v, 0, UINT64_MAX, false, &u);
    if (!rc) *(uint64_t *)dst = u;
    return rc;
  case PROTOBUF_C_TYPE_FLOAT:
    rc = get_double(d, v, &x);
    if (!rc && isfinite(x) && fabs(x) > 3.4028234663852886e38)
      return ember_err_set(d->err, EMBER_EINVAL, "field '%s': %g is out of the range of "
                                                 "a float", d->field, x);
    if (!rc) *(float *)dst = (float)x;
    return rc;
  case PROTOBUF_C_TYPE_DOUBLE:
    rc = get_double(d, v, &x);
    if (!rc) *(double *)dst = x;
    return rc;
  case PROTOBUF_C_TYPE_BOOL:
    if (!json_is_boolean(v)) return bad(d, "true or false", v);
    *(protobuf_c_boolean *)dst = json_is_true(v);
    return EMBER_OK;
  case PROTOBUF_C_TYPE_ENUM: {
    const ProtobufCEnumDescriptor *ed = f->descriptor;
    if (json_is_string(v)) {
      const ProtobufCEnumValue *ev =
          protobuf_c_enum_descriptor_get_value_by_name(ed, json_string_value(v));
      if (!ev)
        return ember_err_set(d->err, EMBER_EINVAL,
                             "field '%s': \"%.60s\" is not a value of %s", d->field,
                             json_string_value(v), ed->name);
      *(int *)dst = ev->value;
      return EMBER_OK;
    }
    rc = get_integer(d, v, INT32_MIN, INT32_MAX, true, &u);
    if (!rc) *(int *)dst = (int)(int64_t)u;
    return rc;
  }
  case PROTOBUF_C_TYPE_STRING: {
    if (!json_is_string(v)) return bad(d, "a string", v);
    size_t n = json_string_length(v);
    char *s = alloc(d, n + 1);
    if (!s) return no_memory(d);
    memcpy(s, json_string_value(v), n);
    *(char **)dst = s;
    return EMBER_OK;
  }
  case PROTOBUF_C_TYPE_BYTES: return get_bytes(d, v, dst);
  case PROTOBUF_C_TYPE_MESSAGE:
    return decode_message(d, f->descriptor, v, depth + 1, (ProtobufCMessage **)dst);
  default:
    return ember_err_set(d->err, EMBER_EINVAL, "field '%s': a type JSON does not carry",
                         d->field);
  }
}

/* The bytes one element of a field takes in its C struct. */
static size_t elem_size(const ProtobufCFieldDescriptor *f) {
  switch (f->type) {
  case PROTOBUF_C_TYPE_INT32:
  case PROTOBUF_C_TYPE_SINT32:
  case PROTOBUF_C_TYPE_SFIXED32:
  case PROTOBUF_C_TYPE_UINT32:
  case PROTOBUF_C_TYPE_FIXED32:
  case PROTOBUF_C_TYPE_FLOAT: return 4;
  case PROTOBUF_C_TYPE_INT64:
  case PROTOBUF_C_TYPE_SINT64:
  case PROTOBUF_C_TYPE_SFIXED64:
  case PROTOBUF_C_TYPE_UINT64:
  case PROTOBUF_C_TYPE_FIXED64:
  case PROTOBUF_C_TYPE_DOUBLE: return 8;
  case PROTOBUF_C_TYPE_BOOL: return sizeof(protobuf_c_boolean);
  case PROTOBUF_C_TYPE_ENUM: return sizeof(int);
  case PROTOBUF_C_TYPE_STRING: return sizeof(char *);
  case PROTOBUF_C_TYPE_BYTES: return sizeof(ProtobufCBinaryData);
  case PROTOBUF_C_TYPE_MESSAGE: return sizeof(ProtobufCMessage *);
  }
  return 8;
}

static int decode_repeated(dec_t *d, const ProtobufCFieldDescriptor *f, const json_t *v,
                           ProtobufCMessage *m, int depth) {
  if (!json_is_array(v)) return bad(d, "an array", v);
  size_t n = json_array_size(v), size = elem_size(f);
  if (!n) return EMBER_OK;
  char *arr = alloc(d, n * size);
  if (!arr) return no_memory(d);
  for (size_t i = 0; i < n; i++) {
    const json_t *e = json_array_get(v, i);
    if (json_is_null(e))
      return ember_err_set(d->err, EMBER_EINVAL, "field '%s': null in an array",
                           d->field);
    int rc = decode_value(d, f, e, arr + i * size, depth);
    if (rc) return rc;
  }
  *(size_t *)((char *)m + f->quantifier_offset) = n;
  *(void **)((char *)m + f->offset) = arr;
  return EMBER_OK;
}

/* Marks f set: its oneof's case, or its presence flag. A second member of
 * one oneof is refused, as the mapping refuses it. */
static int mark_set(dec_t *d, const ProtobufCMessageDescriptor *desc,
                    const ProtobufCFieldDescriptor *f, ProtobufCMessage *m) {
  if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) {
    uint32_t *c = (uint32_t *)((char *)m + f->quantifier_offset);
    if (*c && *c != f->id)
      return ember_err_set(d->err, EMBER_EINVAL,
                           "field '%s': another member of its oneof in %s is set already",
                           d->field, desc->name);
    *c = f->id;
  } else if (f->label == PROTOBUF_C_LABEL_OPTIONAL && f->quantifier_offset &&
             f->type != PROTOBUF_C_TYPE_MESSAGE && f->type != PROTOBUF_C_TYPE_STRING) {
    *(protobuf_c_boolean *)((char *)m + f->quantifier_offset) = 1;
  }
  return EMBER_OK;
}

static int decode_message(dec_t *d, const ProtobufCMessageDescriptor *desc,
                          const json_t *obj, int depth, ProtobufCMessage **out) {
  if (depth > EMBER_CONNECT_JSON_DEPTH)
    return ember_err_set(d->err, EMBER_EINVAL,
                         "the JSON nests messages more than %d deep",
                         EMBER_CONNECT_JSON_DEPTH);
  if (!json_is_object(obj)) return bad(d, "an object", obj);
  ProtobufCMessage *m = alloc(d, desc->sizeof_message);
  bool *seen = alloc(d, desc->n_fields + 1);
  if (!m || !seen) return no_memory(d);
  desc->message_init(m);
  const char *key;
  json_t *v;
  const char *outer = d->field;
  json_object_foreach((json_t *)obj, key, v) {
    const ProtobufCFieldDescriptor *f = find_field(desc, key);
    if (!f) continue; /* unknown: skipped, as Connect servers skip them */
    size_t idx = (size_t)(f - desc->fields);
    d->field = f->name;
    if (seen[idx])
      return ember_err_set(d->err, EMBER_EINVAL,
                           "field '%s' is given twice (by both of its names)", f->name);
    seen[idx] = true;
    if (json_is_null(v)) continue; /* null is the default */
    int rc;
    if (f->label == PROTOBUF_C_LABEL_REPEATED) {
      rc = decode_repeated(d, f, v, m, depth);
    } else {
      rc = decode_value(d, f, v, (char *)m + f->offset, depth);
      if (!rc) rc = mark_set(d, desc, f, m);
    }
    if (rc) return rc;
  }
  d->field = outer;
  *out = m;
  return EMBER_OK;
}

/* What jansson allocates to parse s[0..n), at most: a value costs it a
 * few dozen bytes however short its text ("0," is two bytes), so the
 * values are counted first (by the separators and brackets outside
 * strings) and charged before parsing. */
static size_t parse_cost(const char *s, size_t n) {
  size_t values = 1;
  bool in_string = false;
  for (size_t i = 0; i < n; i++) {
    char c = s[i];
    if (in_string) {
      if (c == '\\') i++;
      else if (c == '"') in_string = false;
    } else if (c == '"') {
      in_string = true;
    } else if (c == ',' || c == ':' || c == '[' || c == '{') {
      values++;
    }
  }
  return values > (SIZE_MAX - n) / 96 ? SIZE_MAX : n + values * 96;
}

int ember_connect_json_decode(const ProtobufCMessageDescriptor *desc, const char *s,
                              size_t n, ember_connect_arena_t *a, ProtobufCMessage **out,
                              ember_err_t *err) {
  if (parse_cost(s, n) > ember_connect_arena_left(a))
    return ember_err_set(err, EMBER_ETOOBIG,
                         "the JSON message holds too many values for its size to be "
                         "parsed within this endpoint's bounds; send a smaller one, or "
                         "send it as application/proto");
  json_error_t je;
  json_t *doc = json_loadb(s, n, JSON_REJECT_DUPLICATES, &je);
  if (!doc) {
    if (!n)
      return ember_err_set(err, EMBER_EINVAL,
                           "the body is empty; a JSON request is an object, {} at least");
    return ember_err_set(err, EMBER_EINVAL, "the body is not JSON: %s (at byte %d)",
                         je.text, je.position);
  }
  dec_t d = {a, err, "(the message)"};
  ProtobufCMessage *m = NULL;
  int rc = decode_message(&d, desc, doc, 0, &m);
  json_decref(doc);
  if (rc == EMBER_OK) *out = m;
  return rc;
}

/* ---- Encoding ---------------------------------------------------------- */

/* The shortest text that reads back as v. */
static void put_double(ember_buf_t *b, double v, bool single) {
  if (isnan(v)) {
    ember_buf_puts(b, "\"NaN\"");
    return;
  }
  if (isinf(v)) {
    ember_buf_puts(b, v > 0 ? "\"Infinity\"" : "\"-Infinity\"");
    return;
  }
  char tmp[40];
  if (v == 0 && signbit(v)) {
    /* "-0" would read back as the integer 0, without its sign. */
    ember_buf_puts(b, "-0.0");
    return;
  }
  if (v == floor(v) && fabs(v) < 9007199254740992.0) {
    /* Whole numbers as integers: 1980000000, not 1.98e+09. */
    snprintf(tmp, sizeof tmp, "%.0f", v);
    ember_buf_puts(b, tmp);
    return;
  }
  for (int prec = 1; prec <= 17; prec++) {
    snprintf(tmp, sizeof tmp, "%.*g", prec, v);
    double back = strtod(tmp, NULL);
    if (single ? (float)back == (float)v : back == v) break;
  }
  ember_buf_puts(b, tmp);
}

static void put_base64(ember_buf_t *b, const uint8_t *p, size_t n) {
  static const char abc[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  ember_buf_putc(b, '"');
  for (size_t i = 0; i < n; i += 3) {
    uint32_t v = (uint32_t)p[i] << 16;
    if (i + 1 < n) v |= (uint32_t)p[i + 1] << 8;
    if (i + 2 < n) v |= p[i + 2];
    char q[4] = {abc[v >> 18 & 63], abc[v >> 12 & 63], i + 1 < n ? abc[v >> 6 & 63] : '=',
                 i + 2 < n ? abc[v & 63] : '='};
    ember_buf_append(b, q, 4);
  }
  ember_buf_putc(b, '"');
}

static void encode_message(const ProtobufCMessage *m, ember_buf_t *b);

/* Appends the value at p, of field f's type. */
static void encode_value(const ProtobufCFieldDescriptor *f, const void *p, ember_buf_t *b) {
  switch (f->type) {
  case PROTOBUF_C_TYPE_INT32:
  case PROTOBUF_C_TYPE_SINT32:
  case PROTOBUF_C_TYPE_SFIXED32: ember_buf_printf(b, "%" PRId32, *(const int32_t *)p); break;
  case PROTOBUF_C_TYPE_UINT32:
  case PROTOBUF_C_TYPE_FIXED32: ember_buf_printf(b, "%" PRIu32, *(const uint32_t *)p); break;
  case PROTOBUF_C_TYPE_INT64:
  case PROTOBUF_C_TYPE_SINT64:
  case PROTOBUF_C_TYPE_SFIXED64:
    ember_buf_putc(b, '"');
    ember_buf_put_i64(b, *(const int64_t *)p);
    ember_buf_putc(b, '"');
    break;
  case PROTOBUF_C_TYPE_UINT64:
  case PROTOBUF_C_TYPE_FIXED64:
    ember_buf_putc(b, '"');
    ember_buf_put_u64(b, *(const uint64_t *)p);
    ember_buf_putc(b, '"');
    break;
  case PROTOBUF_C_TYPE_FLOAT: put_double(b, *(const float *)p, true); break;
  case PROTOBUF_C_TYPE_DOUBLE: put_double(b, *(const double *)p, false); break;
  case PROTOBUF_C_TYPE_BOOL:
    ember_buf_puts(b, *(const protobuf_c_boolean *)p ? "true" : "false");
    break;
  case PROTOBUF_C_TYPE_ENUM: {
    int v = *(const int *)p;
    const ProtobufCEnumValue *ev = protobuf_c_enum_descriptor_get_value(f->descriptor, v);
    if (ev) {
      ember_buf_putc(b, '"');
      ember_buf_puts(b, ev->name);
      ember_buf_putc(b, '"');
    } else {
      ember_buf_printf(b, "%d", v);
    }
    break;
  }
  case PROTOBUF_C_TYPE_STRING: {
    const char *s = *(char *const *)p;
    ember_buf_put_json_string(b, s ? s : "", s ? strlen(s) : 0);
    break;
  }
  case PROTOBUF_C_TYPE_BYTES: {
    const ProtobufCBinaryData *bd = p;
    put_base64(b, bd->data, bd->len);
    break;
  }
  case PROTOBUF_C_TYPE_MESSAGE: {
    const ProtobufCMessage *sub = *(ProtobufCMessage *const *)p;
    if (sub) encode_message(sub, b);
    else ember_buf_puts(b, "{}");
    break;
  }
  }
}

/* Whether a singular field without presence holds its default. */
static bool is_default(const ProtobufCFieldDescriptor *f, const void *p) {
  switch (f->type) {
  case PROTOBUF_C_TYPE_INT32:
  case PROTOBUF_C_TYPE_SINT32:
  case PROTOBUF_C_TYPE_SFIXED32:
  case PROTOBUF_C_TYPE_UINT32:
  case PROTOBUF_C_TYPE_FIXED32: return *(const uint32_t *)p == 0;
  case PROTOBUF_C_TYPE_INT64:
  case PROTOBUF_C_TYPE_SINT64:
  case PROTOBUF_C_TYPE_SFIXED64:
  case PROTOBUF_C_TYPE_UINT64:
  case PROTOBUF_C_TYPE_FIXED64: return *(const uint64_t *)p == 0;
  case PROTOBUF_C_TYPE_FLOAT: {
    float v = *(const float *)p;
    return v == 0 && !signbit(v);
  }
  case PROTOBUF_C_TYPE_DOUBLE: {
    double v = *(const double *)p;
    return v == 0 && !signbit(v);
  }
  case PROTOBUF_C_TYPE_BOOL: return !*(const protobuf_c_boolean *)p;
  case PROTOBUF_C_TYPE_ENUM: return *(const int *)p == 0;
  case PROTOBUF_C_TYPE_STRING: {
    const char *s = *(char *const *)p;
    return !s || !*s;
  }
  case PROTOBUF_C_TYPE_BYTES: return ((const ProtobufCBinaryData *)p)->len == 0;
  case PROTOBUF_C_TYPE_MESSAGE: return *(ProtobufCMessage *const *)p == NULL;
  }
  return true;
}

/* Whether field f of m is written at all. */
static bool present(const ProtobufCMessage *m, const ProtobufCFieldDescriptor *f) {
  const char *base = (const char *)m;
  if (f->label == PROTOBUF_C_LABEL_REPEATED)
    return *(const size_t *)(base + f->quantifier_offset) > 0;
  if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF)
    return *(const uint32_t *)(base + f->quantifier_offset) == f->id;
  if (f->label == PROTOBUF_C_LABEL_OPTIONAL && f->quantifier_offset &&
      f->type != PROTOBUF_C_TYPE_MESSAGE && f->type != PROTOBUF_C_TYPE_STRING)
    return *(const protobuf_c_boolean *)(base + f->quantifier_offset);
  if (f->label == PROTOBUF_C_LABEL_REQUIRED) return true;
  return !is_default(f, base + f->offset);
}

static void encode_message(const ProtobufCMessage *m, ember_buf_t *b) {
  const ProtobufCMessageDescriptor *d = m->descriptor;
  char name[256];
  bool first = true;
  ember_buf_putc(b, '{');
  for (unsigned i = 0; i < d->n_fields; i++) {
    const ProtobufCFieldDescriptor *f = &d->fields[i];
    if (!present(m, f) || strlen(f->name) >= sizeof name) continue;
    if (!first) ember_buf_putc(b, ',');
    first = false;
    ember_connect_json_name(f->name, name);
    ember_buf_put_json_string(b, name, strlen(name));
    ember_buf_putc(b, ':');
    const char *p = (const char *)m + f->offset;
    if (f->label != PROTOBUF_C_LABEL_REPEATED) {
      encode_value(f, p, b);
      continue;
    }
    size_t n = *(const size_t *)((const char *)m + f->quantifier_offset), size = elem_size(f);
    const char *arr = *(char *const *)p;
    ember_buf_putc(b, '[');
    for (size_t k = 0; k < n; k++) {
      if (k) ember_buf_putc(b, ',');
      encode_value(f, arr + k * size, b);
    }
    ember_buf_putc(b, ']');
  }
  ember_buf_putc(b, '}');
}

void ember_connect_json_encode(const ProtobufCMessage *m, ember_buf_t *out) {
  encode_message(m, out);
}
