/*
 * connect_int.h - what the files of src/connect/ share.
 */
#ifndef EMBER_CONNECT_INT_H
#define EMBER_CONNECT_INT_H

#include "ember/connect.h"

/* Checks the protobuf encoding p[0..n) of a message of type d before
 * protobuf-c unpacks it, for what the unpacker lets through: a string field
 * must hold UTF-8 without NUL (protobuf-c would hand a C string cut at its
 * first NUL, and the mapping to JSON needs UTF-8), nesting is at most
 * EMBER_CONNECT_JSON_DEPTH deep, and the bytes are whole fields. Unknown
 * fields are skipped. EMBER_EINVAL with a message naming the field. */
int ember_connect_wire_check(const ProtobufCMessageDescriptor *d, const uint8_t *p,
                             size_t n, ember_err_t *err);

/* Changes the bound of what a (from now on) hands out; 0: none. */
void ember_connect_arena_limit(ember_connect_arena_t *a, size_t limit);
/* What a may still hand out (SIZE_MAX without a bound). */
size_t ember_connect_arena_left(const ember_connect_arena_t *a);

/* While taking is set, the blocks a allocates are taken from budget first
 * (an allocation it has no room for fails, and a remembers it: busy);
 * whatever was taken is given back when a is freed. budget NULL: none. */
void ember_connect_arena_budget(ember_connect_arena_t *a, ember_budget_t *budget,
                                bool taking);
/* Whether an allocation failed for want of budget. */
bool ember_connect_arena_busy(const ember_connect_arena_t *a);

#endif
