/*
 * arena.c - the memory of one Connect call: a chain of blocks handed out
 * front to back and freed together, so that a decoded request and the reply
 * built from it need no freeing field by field, and so that a decoder's
 * allocations can be bounded (protobuf-c's unpacker and the JSON decoder
 * both take their memory from here).
 */
#include <stdalign.h>
#include <stdlib.h>
#include <string.h>

#include "connect/connect_int.h"

/* ---- Types ------------------------------------------------------------- */

#define BLOCK_SIZE ((size_t)32 << 10)
#define ALIGN alignof(max_align_t)

typedef struct block {
  struct block *next;
  size_t size; /* usable bytes after the header */
  size_t used;
  alignas(max_align_t) unsigned char data[];
} block_t;

struct ember_connect_arena {
  block_t *head; /* the block being filled; older ones follow */
  size_t limit;  /* 0: none */
  size_t handed; /* bytes handed out, rounded to ALIGN */
  ember_budget_t *budget; /* what blocks are taken from while taking */
  size_t taken;           /* from budget, given back by ember_connect_arena_free */
  bool taking, busy;
};

/* ---- API --------------------------------------------------------------- */

ember_connect_arena_t *ember_connect_arena_new(size_t limit) {
  ember_connect_arena_t *a = ember_calloc(1, sizeof *a);
  a->limit = limit;
  return a;
}

void *ember_connect_arena_alloc(ember_connect_arena_t *a, size_t n) {
  if (n > SIZE_MAX / 2) return NULL;
  size_t need = (n + ALIGN - 1) / ALIGN * ALIGN;
  if (need == 0) need = ALIGN;
  if (a->limit && (need > a->limit || a->handed > a->limit - need)) return NULL;
  block_t *b = a->head;
  if (!b || b->size - b->used < need) {
    size_t size = need > BLOCK_SIZE ? need : BLOCK_SIZE;
    if (a->taking && a->budget) {
      if (!ember_budget_take(a->budget, sizeof *b + size)) {
        a->busy = true;
        return NULL;
      }
      a->taken += sizeof *b + size;
    }
    b = ember_malloc(sizeof *b + size);
    b->size = size;
    b->used = 0;
    /* A large allocation goes behind the block being filled, which keeps
     * its free space for the small ones that follow. */
    if (a->head && size > BLOCK_SIZE) {
      b->next = a->head->next;
      a->head->next = b;
    } else {
      b->next = a->head;
      a->head = b;
    }
  }
  void *p = b->data + b->used;
  b->used += need;
  a->handed += need;
  memset(p, 0, n);
  return p;
}

size_t ember_connect_arena_used(const ember_connect_arena_t *a) {
  return a ? a->handed : 0;
}

static void *pb_alloc(void *ctx, size_t n) {
  return ember_connect_arena_alloc(ctx, n);
}

static void pb_free(void *ctx, void *p) {
  (void)ctx;
  (void)p; /* freed with the arena */
}

ProtobufCAllocator ember_connect_arena_allocator(ember_connect_arena_t *a) {
  ProtobufCAllocator al = {pb_alloc, pb_free, a};
  return al;
}

void ember_connect_arena_free(ember_connect_arena_t *a) {
  if (!a) return;
  if (a->taken) ember_budget_give(a->budget, a->taken);
  for (block_t *b = a->head, *next; b; b = next) {
    next = b->next;
    free(b);
  }
  free(a);
}

void ember_connect_arena_limit(ember_connect_arena_t *a, size_t limit) {
  a->limit = limit;
}

size_t ember_connect_arena_left(const ember_connect_arena_t *a) {
  if (!a->limit) return SIZE_MAX;
  return a->handed < a->limit ? a->limit - a->handed : 0;
}

void ember_connect_arena_budget(ember_connect_arena_t *a, ember_budget_t *budget,
                                bool taking) {
  if (budget) a->budget = budget;
  a->taking = taking;
}

bool ember_connect_arena_busy(const ember_connect_arena_t *a) {
  return a->busy;
}
