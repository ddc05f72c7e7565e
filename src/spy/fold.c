/*
 * fold.c - counting sampled stacks, and writing them out: as folded text
 * ("a;b;c 42" per line, what /ingest takes with format=folded) and as the
 * standalone SVG flame graph the server draws for /render?format=svg.
 *
 * A stack is its array of name ids; equal arrays are one entry, found by
 * hash, so counting a sample costs one hash of a few hundred bytes and no
 * allocation once the table has grown.
 */
#include "spy/spy_int.h"

#include <stdlib.h>

#include "ember/query.h"
#include "ember/tree.h"

/* ---- Private functions ------------------------------------------------- */

static bool same(const spy_fold_t *f, const struct spy_fold_entry *e, uint64_t h,
                 const uint32_t *ids, size_t n) {
  return e->hash == h && e->len == n && !memcmp(f->ids + e->off, ids, n * sizeof *ids);
}

static void rehash(spy_fold_t *f) {
  size_t n = f->nslots ? f->nslots * 2 : 1024;
  free(f->slots);
  f->slots = ember_calloc(n, sizeof *f->slots);
  f->nslots = n;
  for (size_t i = 0; i < f->n; i++) {
    size_t j = (size_t)f->entries[i].hash & (n - 1);
    while (f->slots[j]) j = (j + 1) & (n - 1);
    f->slots[j] = (uint32_t)i + 1;
  }
}

static int by_text(const void *a, const void *b) {
  const ember_slice_t *x = a, *y = b;
  size_t n = x->len < y->len ? x->len : y->len;
  int c = memcmp(x->base, y->base, n);
  return c ? c : (x->len > y->len) - (x->len < y->len);
}

/* ---- API --------------------------------------------------------------- */

void spy_fold_add(spy_fold_t *f, const uint32_t *ids, size_t n, uint64_t count) {
  if ((f->n + 1) * 2 > f->nslots) rehash(f);
  uint64_t h = ember_hash_bytes(ids, n * sizeof *ids);
  size_t mask = f->nslots - 1, j = (size_t)h & mask;
  for (; f->slots[j]; j = (j + 1) & mask) {
    struct spy_fold_entry *e = &f->entries[f->slots[j] - 1];
    if (same(f, e, h, ids, n)) {
      e->count += count;
      f->total += count;
      return;
    }
  }
  ember_grow((void **)&f->ids, &f->ids_cap, f->nids + n + 1, sizeof *f->ids);
  if (n) memcpy(f->ids + f->nids, ids, n * sizeof *ids);
  ember_grow((void **)&f->entries, &f->cap, f->n + 1, sizeof *f->entries);
  f->entries[f->n] = (struct spy_fold_entry){h, f->nids, (uint32_t)n, count};
  f->nids += n;
  f->slots[j] = (uint32_t)++f->n;
  f->total += count;
}

void spy_fold_reset(spy_fold_t *f) {
  f->n = 0;
  f->nids = 0;
  f->total = 0;
  if (f->slots) memset(f->slots, 0, f->nslots * sizeof *f->slots);
}

void spy_fold_free(spy_fold_t *f) {
  if (!f) return;
  free(f->ids);
  free(f->entries);
  free(f->slots);
  memset(f, 0, sizeof *f);
}

void spy_fold_text(const spy_fold_t *f, const spy_names_t *names, ember_buf_t *out) {
  ember_buf_t all = EMBER_BUF_INIT;
  size_t *starts = ember_malloc((f->n + 1) * sizeof *starts);
  for (size_t i = 0; i < f->n; i++) {
    const struct spy_fold_entry *e = &f->entries[i];
    starts[i] = all.len;
    for (uint32_t k = 0; k < e->len; k++) {
      ember_slice_t name = spy_names_get(names, f->ids[e->off + k]);
      if (k) ember_buf_putc(&all, ';');
      ember_buf_append(&all, name.base, name.len);
    }
    ember_buf_printf(&all, " %llu\n", (unsigned long long)e->count);
  }
  ember_slice_t *lines = ember_malloc((f->n + 1) * sizeof *lines);
  for (size_t i = 0; i < f->n; i++) {
    size_t end = i + 1 < f->n ? starts[i + 1] : all.len;
    lines[i] = ember_slice(all.data + starts[i], end - starts[i]);
  }
  qsort(lines, f->n, sizeof *lines, by_text);
  for (size_t i = 0; i < f->n; i++) ember_buf_append(out, lines[i].base, lines[i].len);
  if (!out->data) ember_buf_reserve(out, 0);
  free(lines);
  free(starts);
  ember_buf_free(&all);
}

int spy_fold_svg(const spy_fold_t *f, const spy_names_t *names, const char *title,
                 unsigned rate, int64_t from, int64_t until, ember_buf_t *out,
                 ember_err_t *err) {
  ember_tree_t *t = ember_tree_new();
  ember_slice_t *frames = NULL;
  size_t cap = 0;
  for (size_t i = 0; i < f->n; i++) {
    const struct spy_fold_entry *e = &f->entries[i];
    ember_grow((void **)&frames, &cap, e->len + 1, sizeof *frames);
    for (uint32_t k = 0; k < e->len; k++) frames[k] = spy_names_get(names, f->ids[e->off + k]);
    ember_tree_add_stack(t, frames, e->len, e->count);
  }
  ember_render_meta_t m;
  memset(&m, 0, sizeof m);
  m.app_name = title;
  m.query = title;
  m.spy_name = "emberspy";
  m.sample_rate = rate;
  m.units = "samples";
  m.from = from;
  m.until = until;
  m.max_nodes = -1;
  m.grid = ember_timeline_grid(from, until > from ? until : from + 1);
  int rc = ember_render_svg(out, t, &m, err);
  free(frames);
  ember_tree_free(t);
  return rc;
}
