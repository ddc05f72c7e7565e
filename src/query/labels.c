/*
 * labels.c - the requests that list things rather than draw them: /labels,
 * /label-values and /api/apps, each a small JSON array.
 *
 * An app the store does not know has no labels and no values: the answer
 * is the empty list (plus "__name__" for /labels), not an error, as for
 * /render.
 */
#include "query_int.h"

#include <stdlib.h>
#include <string.h>

/* ---- Private functions ------------------------------------------------- */

/* Appends ["a","b",...] of l's items, after an optional first item. */
static void put_list(ember_buf_t *b, const char *first, const ember_strlist_t *l) {
  ember_buf_putc(b, '[');
  bool any = false;
  if (first) {
    ember_buf_put_json_string(b, first, strlen(first));
    any = true;
  }
  for (size_t i = 0; i < l->n; i++) {
    if (first && !strcmp(l->items[i], first)) continue;
    if (any) ember_buf_putc(b, ',');
    ember_buf_put_json_string(b, l->items[i], strlen(l->items[i]));
    any = true;
  }
  ember_buf_putc(b, ']');
}

/* Hands b to out as a JSON body. */
static void give(ember_buf_t *b, ember_query_out_t *out) {
  out->body = *b;
  out->content_type = EMBER_QUERY_JSON;
  out->filename[0] = '\0';
  memset(b, 0, sizeof *b);
}

/* An unknown app lists nothing: ENOTFOUND becomes an empty list. */
static int not_found_is_empty(int rc, ember_err_t *err) {
  if (rc != EMBER_ENOTFOUND) return rc;
  ember_err_clear(err);
  return EMBER_OK;
}

static int app_names(ember_store_t *s, ember_strlist_t *out, ember_err_t *err) {
  ember_app_info_t *apps = NULL;
  size_t n = 0;
  int rc = ember_store_apps(s, &apps, &n, err);
  if (rc) return rc;
  out->items = ember_malloc((n ? n : 1) * sizeof *out->items);
  out->n = n;
  for (size_t i = 0; i < n; i++) {
    out->items[i] = apps[i].name; /* moved */
    apps[i].name = NULL;
    ember_app_info_free(&apps[i]);
  }
  free(apps);
  return EMBER_OK;
}

static const char *aggregation_name(ember_aggregation_t a) {
  return a == EMBER_AGG_AVERAGE ? "average" : "sum";
}

/* ---- API --------------------------------------------------------------- */

int ember_query_labels(ember_store_t *s, const char *query, ember_query_out_t *out,
                       ember_err_t *err) {
  ember_selector_t sel;
  ember_strlist_t keys = {NULL, 0};
  ember_buf_t b = EMBER_BUF_INIT;
  int rc = ember_param_selector("query", query, &sel, err);
  if (rc) return rc;
  rc = not_found_is_empty(ember_store_label_keys(s, &sel, &keys, err), err);
  if (rc) goto done;
  put_list(&b, EMBER_NAME_LABEL, &keys);
  give(&b, out);
done:
  ember_strlist_free(&keys);
  ember_selector_free(&sel);
  return rc;
}

int ember_query_label_values(ember_store_t *s, const char *label, const char *query,
                             ember_query_out_t *out, ember_err_t *err) {
  ember_selector_t sel;
  memset(&sel, 0, sizeof sel);
  ember_strlist_t values = {NULL, 0};
  ember_buf_t b = EMBER_BUF_INIT;
  int rc;
  if (!ember_param_given(label))
    return ember_err_set(err, EMBER_EINVAL, "missing 'label' parameter, e.g. label=region");
  if (!strcmp(label, EMBER_NAME_LABEL)) {
    /* The app name is not a stored label: every app is one value. */
    rc = app_names(s, &values, err);
  } else if (!ember_label_key_valid(label, strlen(label))) {
    rc = ember_err_set(err, EMBER_EINVAL,
                       "label '%.80s' is not a valid label key; keys are letters, "
                       "digits, '_' and '.', e.g. label=region",
                       label);
  } else {
    rc = ember_param_selector("query", query, &sel, err);
    if (!rc)
      rc = not_found_is_empty(ember_store_label_values(s, &sel, label, &values, err),
                              err);
  }
  if (rc) goto done;
  put_list(&b, NULL, &values);
  give(&b, out);
done:
  ember_strlist_free(&values);
  ember_selector_free(&sel);
  return rc;
}

int ember_query_apps(ember_store_t *s, ember_query_out_t *out, ember_err_t *err) {
  ember_app_info_t *apps = NULL;
  size_t n = 0;
  ember_buf_t b = EMBER_BUF_INIT;
  int rc = ember_store_apps(s, &apps, &n, err);
  if (rc) return rc;
  ember_buf_putc(&b, '[');
  for (size_t i = 0; i < n; i++) {
    const ember_app_info_t *a = &apps[i];
    ember_buf_puts(&b, i ? ",{\"name\":" : "{\"name\":");
    ember_buf_put_json_string(&b, a->name, strlen(a->name));
    ember_buf_puts(&b, ",\"spyName\":");
    ember_buf_put_json_string(&b, a->spy_name, strlen(a->spy_name));
    ember_buf_printf(&b, ",\"sampleRate\":%u,\"units\":", a->sample_rate);
    ember_buf_put_json_string(&b, a->units, strlen(a->units));
    ember_buf_printf(&b, ",\"aggregationType\":\"%s\"}", aggregation_name(a->aggregation));
  }
  ember_buf_putc(&b, ']');
  give(&b, out);
  for (size_t i = 0; i < n; i++) ember_app_info_free(&apps[i]);
  free(apps);
  return EMBER_OK;
}
