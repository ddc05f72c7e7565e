/*
 * linetable.c - line numbers from the location table of a code object, the
 * format of CPython 3.11 and 3.12 (co_linetable; the format is described in
 * CPython's Objects/locations.md).
 *
 * The table is a sequence of entries, each covering 1 to 8 code units (2
 * bytes each). An entry's first byte has its top bit set, a 4-bit code in
 * bits 3-6 and the unit count minus one in bits 0-2; the bytes after it,
 * up to the next byte with the top bit set, carry its data:
 *
 *   code 15     no location: these instructions have no line (-1)
 *   code 14     long form: line delta (signed varint), end line delta,
 *               column + 1, end column + 1 (varints)
 *   code 13     no columns: line delta (signed varint)
 *   code 10-12  one line: line delta code - 10, then two column bytes
 *   code 0-9    short form: same line, one byte of columns
 *
 * A varint is 6 bits per byte, low bits first, bit 6 set when more follow;
 * a signed varint keeps the sign in its lowest bit. Lines accumulate from
 * co_firstlineno; an entry with no location does not change the running
 * line, which the next entry's delta continues from.
 */
#include "spy/spy_int.h"

/* ---- Private functions ------------------------------------------------- */

/* The varint at t[*i..n); *i moves past it. Stops at the table's end and
 * after 32 bits, as garbage must not loop or overflow. */
static uint32_t varint(const uint8_t *t, size_t n, size_t *i) {
  uint32_t v = 0;
  for (unsigned shift = 0; *i < n && shift < 32; shift += 6) {
    uint8_t b = t[(*i)++];
    v |= (uint32_t)(b & 63) << shift;
    if (!(b & 64)) break;
  }
  return v;
}

static int64_t signed_varint(const uint8_t *t, size_t n, size_t *i) {
  uint32_t u = varint(t, n, i);
  return (u & 1) ? -(int64_t)(u >> 1) : (int64_t)(u >> 1);
}

/* ---- API --------------------------------------------------------------- */

int spy_addr2line(const uint8_t *t, size_t n, int firstlineno, int64_t addrq) {
  if (addrq < 0) return firstlineno;
  int64_t line = firstlineno, start = 0;
  size_t i = 0;
  while (i < n) {
    uint8_t b = t[i];
    if (!(b & 0x80)) { /* not an entry's first byte: resynchronise */
      i++;
      continue;
    }
    int code = (b >> 3) & 15;
    int64_t units = (b & 7) + 1;
    size_t j = i + 1;
    if (code == 13 || code == 14) line += signed_varint(t, n, &j);
    else if (code >= 10 && code <= 12) line += code - 10;
    if (addrq < start + units * 2) {
      if (code == 15) return -1;
      return line > INT32_MAX ? INT32_MAX : line < INT32_MIN ? INT32_MIN : (int)line;
    }
    start += units * 2;
    for (i++; i < n && !(t[i] & 0x80); i++) {
    }
  }
  return -1;
}
