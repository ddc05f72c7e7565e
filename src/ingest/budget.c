/*
 * budget.c - what the decoders of one request share: its limits with the
 * defaults filled in, the memory the profiles being built may hold, and the
 * bytes they borrow from the server's in-flight budget (ingest_int.h).
 */
#include "ingest_int.h"

#include <stdlib.h>
#include <string.h>

void ingest_ctx_init(ingest_ctx_t *c, const ember_ingest_limits_t *lim, size_t max_body,
                     ember_budget_t *budget) {
  memset(c, 0, sizeof *c);
  c->max_body = max_body;
  c->budget = budget;
  c->max_depth = lim && lim->max_stack_depth ? lim->max_stack_depth
                                             : EMBER_INGEST_DEFAULT_MAX_STACK_DEPTH;
  c->max_apps = lim && lim->max_apps ? lim->max_apps : EMBER_INGEST_DEFAULT_MAX_APPS;
  c->max_series =
      lim && lim->max_series ? lim->max_series : EMBER_INGEST_DEFAULT_MAX_SERIES;
}

void ingest_mem_body(ingest_ctx_t *c, size_t len) {
  size_t lim = len > (SIZE_MAX - INGEST_MEM_BASE) / INGEST_MEM_PER_BYTE
                   ? SIZE_MAX
                   : INGEST_MEM_BASE + len * INGEST_MEM_PER_BYTE;
  if (lim > c->mem_limit) c->mem_limit = lim;
}

static int too_much_memory(const char *what, size_t limit, ember_err_t *err) {
  bool mib = limit >= (size_t)1 << 20;
  return ember_err_set(err, EMBER_ETOOBIG,
                       "body: its profiles would take more than %zu %s of memory, %s; "
                       "send smaller pushes",
                       mib ? limit >> 20 : limit >> 10, mib ? "MiB" : "KiB", what);
}

int ingest_mem_grow(ingest_ctx_t *c, size_t *held, size_t now, ember_err_t *err) {
  if (now <= *held) return EMBER_OK;
  size_t more = now - *held;
  if (more > c->mem_limit - c->mem_held)
    return too_much_memory("more than its size warrants", c->mem_limit, err);
  if (!ember_budget_take(c->budget, more)) {
    if (c->mem_held + more > c->budget->limit)
      return too_much_memory("more than the server holds for all pushes at once "
                             "(--max-inflight)",
                             c->budget->limit, err);
    return ingest_busy(err);
  }
  c->mem_held += more;
  *held = now;
  return EMBER_OK;
}

int ingest_mem_tree(ingest_ctx_t *c, const ember_tree_t *t, ember_err_t *err) {
  return ingest_mem_grow(c, &c->tree_held, ember_tree_mem(t), err);
}

void ingest_mem_release(ingest_ctx_t *c) {
  ingest_budget_give(c, c->mem_held);
  c->mem_held = c->tree_held = 0;
}

int ingest_busy(ember_err_t *err) {
  return ember_err_set(err, EMBER_EBUSY,
                       "server is busy: too many bytes in flight; retry");
}

int ingest_budget_take(const ingest_ctx_t *c, size_t n, ember_err_t *err) {
  return ember_budget_take(c->budget, n) ? EMBER_OK : ingest_busy(err);
}

void ingest_budget_give(const ingest_ctx_t *c, size_t n) {
  if (n) ember_budget_give(c->budget, n);
}

size_t ingest_result_bytes(const ember_ingest_result_t *r) {
  size_t sum = r->n * sizeof *r->items;
  for (size_t i = 0; i < r->n; i++) {
    const ember_profile_t *p = &r->items[i];
    sum += ember_tree_mem(p->tree) + ember_text_stacks_mem(p->stacks) + strlen(p->key.app) + 1 + strlen(p->spy_name) + 1 +
           strlen(p->units) + 1 + p->key.nlabels * sizeof *p->key.labels;
    for (size_t l = 0; l < p->key.nlabels; l++)
      sum += strlen(p->key.labels[l].key) + strlen(p->key.labels[l].value) + 2;
  }
  return sum;
}

/* ---- protobuf-c unpacking ------------------------------------------------------ */

/* Taken from the budget a chunk at a time: an unpack makes an allocation
 * per element, and the budget is shared by every thread. */
#define UNPACK_CHUNK ((size_t)1 << 20)

static void *unpack_alloc(void *ctx, size_t n) {
  ingest_unpack_t *b = ctx;
  if (n > b->limit - b->used) {
    b->over = true;
    return NULL;
  }
  if (b->c && n > b->taken - b->used) {
    size_t need = n - (b->taken - b->used);
    size_t more = need > UNPACK_CHUNK ? need : UNPACK_CHUNK;
    if (more > b->limit - b->taken) more = need;
    bool ok = ingest_budget_take(b->c, more, NULL) == EMBER_OK;
    if (!ok && more > need) { /* a chunk is a convenience: try what is needed */
      more = need;
      ok = ingest_budget_take(b->c, more, NULL) == EMBER_OK;
    }
    if (!ok) {
      b->busy = true;
      return NULL;
    }
    b->taken += more;
  }
  b->used += n;
  return malloc(n ? n : 1);
}

static void unpack_free(void *ctx, void *p) { free(p); }

ProtobufCAllocator ingest_unpack_begin(ingest_unpack_t *u, const ingest_ctx_t *c,
                                       size_t limit) {
  memset(u, 0, sizeof *u);
  u->limit = limit;
  u->c = c;
  ProtobufCAllocator a = {unpack_alloc, unpack_free, u};
  return a;
}

ProtobufCAllocator ingest_unpack_freer(void) {
  ProtobufCAllocator a = {unpack_alloc, unpack_free, NULL};
  return a;
}
