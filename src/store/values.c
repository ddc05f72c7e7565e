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
