/*
 * wire.c - a look at protobuf bytes before protobuf-c unpacks them, for the
 * two things its unpacker does not refuse: strings that are not UTF-8 or
 * that hold a NUL byte (the C string it hands over would end early, so a
 * selector could be cut short without anyone noticing), and messages nested
 * deeper than the JSON decoder allows. It walks the fields the way the
 * unpacker will, by the message's descriptor.
 */
#include <string.h>

#include "connect/connect_int.h"

/* ---- Private functions ------------------------------------------------- */

/* Length of the valid UTF-8 sequence at s (at most n bytes, not NUL), or
 * 0 for bytes that are not one. */
static size_t utf8_char(const uint8_t *s, size_t n) {
  uint8_t c = s[0];
  if (c == 0) return 0;
  if (c < 0x80) return 1;
  size_t len = c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : c >= 0xc2 ? 2 : 0;
  if (!len || len > n || c > 0xf4) return 0;
  for (size_t i = 1; i < len; i++)
    if ((s[i] & 0xc0) != 0x80) return 0;
  /* Overlong forms, surrogates and code points past U+10FFFF. */
  if (c == 0xe0 && s[1] < 0xa0) return 0;
  if (c == 0xed && s[1] >= 0xa0) return 0;
  if (c == 0xf0 && s[1] < 0x90) return 0;
  if (c == 0xf4 && s[1] >= 0x90) return 0;
  return len;
}

static bool text_ok(const uint8_t *s, size_t n) {
  for (size_t i = 0; i < n;) {
    size_t l = utf8_char(s + i, n - i);
    if (!l) return false;
    i += l;
  }
  return true;
}

static int broken(ember_err_t *err, const ProtobufCMessageDescriptor *d) {
  return ember_err_set(err, EMBER_EINVAL,
                       "the body is not a valid protobuf %s: a field is cut short or "
                       "malformed",
                       d->name);
}

static int check(const ProtobufCMessageDescriptor *d, const uint8_t *p, size_t n,
                 int depth, ember_err_t *err) {
  if (depth > EMBER_CONNECT_JSON_DEPTH)
    return ember_err_set(err, EMBER_EINVAL, "the message nests more than %d deep",
                         EMBER_CONNECT_JSON_DEPTH);
  const uint8_t *end = p + n;
  while (p < end) {
    uint64_t key, len;
    if (ember_varint_get(&p, end, &key)) return broken(err, d);
    uint64_t id = key >> 3;
    if (id == 0 || id > 536870911u) return broken(err, d);
    const ProtobufCFieldDescriptor *f =
        protobuf_c_message_descriptor_get_field(d, (unsigned)id);
    switch (key & 7) {
    case 0:
      if (ember_varint_get(&p, end, &len)) return broken(err, d);
      break;
    case 1:
      if (end - p < 8) return broken(err, d);
      p += 8;
      break;
    case 5:
      if (end - p < 4) return broken(err, d);
      p += 4;
      break;
    case 2:
      if (ember_varint_get(&p, end, &len) || len > (uint64_t)(end - p))
        return broken(err, d);
      if (f && f->type == PROTOBUF_C_TYPE_STRING && !text_ok(p, (size_t)len))
        return ember_err_set(err, EMBER_EINVAL,
                             "field '%s' of %s is not UTF-8 text without NUL bytes",
                             f->name, d->name);
      if (f && f->type == PROTOBUF_C_TYPE_MESSAGE) {
        int rc = check(f->descriptor, p, (size_t)len, depth + 1, err);
        if (rc) return rc;
      }
      p += len;
      break;
    default: return broken(err, d); /* groups, and wire types that do not exist */
    }
  }
  return EMBER_OK;
}

/* ---- API --------------------------------------------------------------- */

int ember_connect_wire_check(const ProtobufCMessageDescriptor *d, const uint8_t *p,
                             size_t n, ember_err_t *err) {
  return check(d, p, n, 0, err);
}
