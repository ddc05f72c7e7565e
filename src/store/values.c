/*
 * values.c - what every file of the store shares without depending on the
 * others: the widths of the time levels, and freeing the small value types
 * of store.h.
 */
#include "store/store_int.h"

#include <stdlib.h>
#include <string.h>

const int64_t ember_store_width[EMBER_STORE_LEVELS] = {10, 100, 1000, 10000};

void ember_app_info_free(ember_app_info_t *a) {
  if (!a) return;
  free(a->name);
  free(a->spy_name);
  free(a->units);
  memset(a, 0, sizeof *a);
}

void ember_strlist_free(ember_strlist_t *l) {
  if (!l) return;
  for (size_t i = 0; i < l->n; i++) free(l->items[i]);
  free(l->items);
  l->items = NULL;
  l->n = 0;
}

/* ---- Label lists --------------------------------------------------------- */

void ember_strlist_add(ember_strlist_t *l, size_t *cap, const char *s) {
  ember_grow((void **)&l->items, cap, l->n + 1, sizeof *l->items);
  l->items[l->n++] = ember_strdup(s);
}

static int cmp_str(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

void ember_strlist_of_series(ember_strlist_t *l, size_t *cap, const ember_series_key_t *keys,
                             size_t n, const char *key) {
  for (size_t i = 0; i < n; i++) {
    const ember_series_key_t *k = &keys[i];
    for (size_t j = 0; j < k->nlabels; j++) {
      if (!key && strcmp(k->labels[j].key, EMBER_NAME_LABEL) != 0)
        ember_strlist_add(l, cap, k->labels[j].key);
      else if (key && strcmp(k->labels[j].key, key) == 0)
        ember_strlist_add(l, cap, k->labels[j].value);
    }
  }
  if (l->n < 2) return;
  qsort(l->items, l->n, sizeof *l->items, cmp_str);
  size_t u = 1;
  for (size_t i = 1; i < l->n; i++) {
    if (strcmp(l->items[i], l->items[u - 1]) == 0) free(l->items[i]);
    else l->items[u++] = l->items[i];
  }
  l->n = u;
}
