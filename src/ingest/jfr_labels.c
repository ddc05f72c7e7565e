/*
 * jfr_labels.c - the labels part of a JFR push: a LabelsSnapshot protobuf
 * (src/jfr/labels.proto), gzipped or not, turned into a table from context
 * id to the labels of that context.
 *
 * Strings are interned in the snapshot: a context maps a key's string id to
 * a value's string id. A label whose key or value id has no string is
 * dropped, as Pyroscope drops it. A map key given twice keeps its last
 * value, as protobuf maps do.
 *
 * Memory: protobuf-c unpacks within a limit in proportion to the part's
 * size and takes what it allocates from the request's budget; the tables
 * built here are charged to the request's memory limit.
 */
#include "jfr_int.h"

#include "jfr/labels.pb-c.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define UNPACK_BASE ((size_t)4 << 20)
#define UNPACK_PER_BYTE 16

typedef Ember__Jfr__LabelsSnapshot pb_snapshot_t;

typedef struct {
  int64_t id;
  ember_slice_t text;
  bool used;
} string_entry_t;

typedef struct {
  int64_t id;
  uint32_t first, n; /* labels[first .. first + n) */
  bool used;
} context_entry_t;

struct jfr_labels {
  pb_snapshot_t *pb;
  ingest_ctx_t *c;
  size_t taken; /* what protobuf-c took from c's budget */
  string_entry_t *strings;
  size_t scap;
  context_entry_t *contexts;
  size_t ccap;
  jfr_label_t *labels;
  size_t nlabels;
  size_t held; /* the tables, charged to c */
};

/* Open addressing with room for n: a power of two at least 2n. */
static size_t table_cap(size_t n) {
  size_t cap = 16;
  while (cap < n * 2)
    cap *= 2;
  return cap;
}

static size_t slot(int64_t id, size_t cap) {
  uint64_t u = (uint64_t)id;
  return (size_t)ember_hash_pair((uint32_t)u, (uint32_t)(u >> 32)) & (cap - 1);
}

static string_entry_t *string_slot(const jfr_labels_t *l, int64_t id) {
  size_t at = slot(id, l->scap);
  while (l->strings[at].used && l->strings[at].id != id)
    at = (at + 1) & (l->scap - 1);
  return &l->strings[at];
}

static context_entry_t *context_slot(const jfr_labels_t *l, int64_t id) {
  size_t at = slot(id, l->ccap);
  while (l->contexts[at].used && l->contexts[at].id != id)
    at = (at + 1) & (l->ccap - 1);
  return &l->contexts[at];
}

static int unpack(jfr_labels_t *l, const uint8_t *buf, size_t len, ember_err_t *err) {
  ingest_unpack_t u;
  size_t limit = len > (SIZE_MAX - UNPACK_BASE) / UNPACK_PER_BYTE
                     ? SIZE_MAX
                     : UNPACK_BASE + len * UNPACK_PER_BYTE;
  ProtobufCAllocator a = ingest_unpack_begin(&u, l->c, limit);
  l->pb = ember__jfr__labels_snapshot__unpack(&a, len, buf);
  if (l->pb) {
    l->taken = u.taken;
    return EMBER_OK;
  }
  ingest_budget_give(l->c, u.taken);
  if (u.busy) return ingest_busy(err);
  if (u.over)
    return ember_err_set(err, EMBER_ETOOBIG,
                         "labels: the snapshot holds too many elements for its size to "
                         "be unpacked; send smaller pushes");
  return ember_err_set(err, EMBER_EPARSE,
                       "labels: not a labels snapshot (%zu bytes that do not decode as a "
                       "LabelsSnapshot protobuf); send the labels the agent wrote, "
                       "gzipped or not",
                       len);
}

static size_t tables_mem(const jfr_labels_t *l) {
  return l->scap * sizeof *l->strings + l->ccap * sizeof *l->contexts +
         l->nlabels * sizeof *l->labels;
}

static void index_strings(jfr_labels_t *l) {
  const pb_snapshot_t *pb = l->pb;
  l->scap = table_cap(pb->n_strings);
  l->strings = ember_calloc(l->scap, sizeof *l->strings);
  for (size_t i = 0; i < pb->n_strings; i++) {
    const char *s = pb->strings[i]->value ? pb->strings[i]->value : "";
    string_entry_t *e = string_slot(l, pb->strings[i]->key);
    *e = (string_entry_t){pb->strings[i]->key, ember_slice(s, strlen(s)), true};
  }
}

static void index_contexts(jfr_labels_t *l) {
  const pb_snapshot_t *pb = l->pb;
  size_t total = 0;
  for (size_t i = 0; i < pb->n_contexts; i++)
    if (pb->contexts[i]->value) total += pb->contexts[i]->value->n_labels;
  l->labels = ember_malloc((total + 1) * sizeof *l->labels);
  l->ccap = table_cap(pb->n_contexts);
  l->contexts = ember_calloc(l->ccap, sizeof *l->contexts);
  for (size_t i = 0; i < pb->n_contexts; i++) {
    const Ember__Jfr__Context *ctx = pb->contexts[i]->value;
    context_entry_t *e = context_slot(l, pb->contexts[i]->key);
    *e = (context_entry_t){pb->contexts[i]->key, (uint32_t)l->nlabels, 0, true};
    for (size_t j = 0; ctx && j < ctx->n_labels; j++) {
      const string_entry_t *k = string_slot(l, ctx->labels[j]->key);
      const string_entry_t *v = string_slot(l, ctx->labels[j]->value);
      if (!k->used || !v->used) continue;
      l->labels[l->nlabels++] = (jfr_label_t){k->text, v->text};
      e->n++;
    }
  }
}

int jfr_labels_open(const uint8_t *buf, size_t len, ingest_ctx_t *c, jfr_labels_t **out,
                    ember_err_t *err) {
  jfr_labels_t *l = ember_calloc(1, sizeof *l);
  ingest_buf_t plain = {buf, len, NULL, 0};
  l->c = c;
  int rc = EMBER_OK;
  if (len >= 2 && buf[0] == 0x1f && buf[1] == 0x8b) {
    rc = ingest_decode("gzip", buf, len, c, &plain, err);
    if (rc && err) {
      char msg[EMBER_ERR_MSG_MAX];
      snprintf(msg, sizeof msg, "%s", err->msg);
      rc = ember_err_set(err, rc, "labels: %s", msg);
    }
  }
  if (rc == EMBER_OK) rc = unpack(l, plain.data, plain.len, err);
  ingest_buf_free(c, &plain); /* protobuf-c copied what it keeps */
  if (rc == EMBER_OK) {
    index_strings(l);
    index_contexts(l);
    rc = ingest_mem_grow(c, &l->held, tables_mem(l), err);
  }
  if (rc) {
    jfr_labels_free(l);
    return rc;
  }
  *out = l;
  return EMBER_OK;
}

void jfr_labels_free(jfr_labels_t *l) {
  if (!l) return;
  if (l->pb) {
    ProtobufCAllocator a = ingest_unpack_freer();
    ember__jfr__labels_snapshot__free_unpacked(l->pb, &a);
    ingest_budget_give(l->c, l->taken);
  }
  free(l->strings);
  free(l->contexts);
  free(l->labels);
  free(l);
}

bool jfr_labels_get(const jfr_labels_t *l, int64_t id, const jfr_label_t **labels,
                    size_t *n) {
  if (!l || !l->ccap) return false;
  const context_entry_t *e = context_slot(l, id);
  if (!e->used) return false;
  *labels = l->labels + e->first;
  *n = e->n;
  return true;
}
