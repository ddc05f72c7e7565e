/*
 * params.c - reading the query parameters the read endpoints share: a
 * FlameQL selector, a time, maxNodes. Each failure names the parameter and
 * says what to write instead, because the message goes back to whoever
 * typed the URL.
 *
 * An empty value (`?from=`) counts as absent: that is what a form or a
 * script with an unset variable sends.
 */
#include "query_int.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "ember/timeexpr.h"

/* ---- Private functions ------------------------------------------------- */

/* Re-sets err with "<param>: <its message>", so the reader knows which of
 * several times was wrong. */
static int blame(ember_err_t *err, int rc, const char *param, const ember_err_t *why) {
  return ember_err_set(err, rc, "%s: %s", param, why->msg);
}

/* ---- API --------------------------------------------------------------- */

bool ember_param_given(const char *v) { return v && *v; }

int ember_param_selector(const char *param, const char *value, ember_selector_t *out,
                         ember_err_t *err) {
  if (!ember_param_given(value))
    return ember_err_set(err, EMBER_EINVAL, "missing '%s' parameter, e.g. %s=myapp.cpu{}",
                         param, param);
  ember_err_t why;
  ember_err_clear(&why);
  ember_selector_t sel;
  int rc = ember_selector_parse(value, strlen(value), &sel, &why);
  if (rc) {
    /* The parser says "query: ..."; only the diff's names need saying. */
    if (!strcmp(param, "query")) return ember_err_set(err, EMBER_EINVAL, "%s", why.msg);
    return blame(err, EMBER_EINVAL, param, &why);
  }
  *out = sel;
  return EMBER_OK;
}

int ember_param_time(const char *param, const char *value, const char *dflt,
                     int64_t now, int64_t *out, ember_err_t *err) {
  ember_err_t why;
  ember_err_clear(&why);
  int64_t v;
  int rc = ember_time_parse(ember_param_given(value) ? value : dflt, now, &v, &why);
  if (rc) return blame(err, EMBER_EINVAL, param, &why);
  *out = v;
  return EMBER_OK;
}

int ember_param_range(const char *from_param, const char *from,
                      const char *until_param, const char *until, int64_t now,
                      int64_t *from_out, int64_t *until_out, ember_err_t *err) {
  int64_t f, u;
  int rc = ember_param_time(from_param, from, "now-1h", now, &f, err);
  if (rc) return rc;
  rc = ember_param_time(until_param, until, "now", now, &u, err);
  if (rc) return rc;
  if (f >= u)
    return ember_err_set(err, EMBER_EINVAL,
                         "'%s' (%lld) must be before '%s' (%lld); swap them or widen "
                         "the range",
                         from_param, (long long)f, until_param, (long long)u);
  *from_out = f;
  *until_out = u;
  return EMBER_OK;
}

int ember_param_max_nodes(const char *value, long limit, long *out, bool *clamped,
                          ember_err_t *err) {
  if (!ember_param_given(value)) {
    /* A server whose limit is below the default draws what it allows,
     * without calling that a clamp: nobody asked for more. */
    *out = EMBER_QUERY_DEFAULT_MAX_NODES < limit ? EMBER_QUERY_DEFAULT_MAX_NODES : limit;
    *clamped = false;
    return EMBER_OK;
  }
  /* strtol alone would take " 12", "+12" and "12abc": only -1 or digits. */
  const char *p = value[0] == '-' ? value + 1 : value;
  bool digits = *p != '\0';
  for (const char *q = p; *q; q++)
    if (*q < '0' || *q > '9') digits = false;
  errno = 0;
  long v = digits ? strtol(value, NULL, 10) : 0;
  if (!digits || errno == ERANGE || v == 0 || v < -1)
    return ember_err_set(err, EMBER_EINVAL,
                         "maxNodes '%.40s' is not valid; write a positive number of "
                         "nodes (default %d) or -1 for as many as the server allows "
                         "(%ld)",
                         value, EMBER_QUERY_DEFAULT_MAX_NODES, limit);
  *clamped = v < 0 || v > limit;
  *out = *clamped ? limit : v;
  return EMBER_OK;
}

int ember_param_max_functions(const char *value, long limit, size_t *out,
                              ember_err_t *err) {
  if (!ember_param_given(value)) {
    *out = (size_t)(EMBER_QUERY_DEFAULT_MAX_FUNCTIONS < limit
                        ? EMBER_QUERY_DEFAULT_MAX_FUNCTIONS
                        : limit);
    return EMBER_OK;
  }
  const char *p = value[0] == '-' ? value + 1 : value;
  bool digits = *p != '\0';
  for (const char *q = p; *q; q++)
    if (*q < '0' || *q > '9') digits = false;
  errno = 0;
  long v = digits ? strtol(value, NULL, 10) : 0;
  if (!digits || errno == ERANGE || v < -1)
    return ember_err_set(err, EMBER_EINVAL,
                         "maxFunctions '%.40s' is not valid; write a number of rows "
                         "of the function table (default %d, 0 for none) or -1 for "
                         "as many as the server allows (%ld)",
                         value, EMBER_QUERY_DEFAULT_MAX_FUNCTIONS, limit);
  *out = (size_t)(v < 0 || v > limit ? limit : v);
  return EMBER_OK;
}

int ember_query_check_size(size_t bound, size_t max, const char *what, ember_err_t *err) {
  if (!max || bound <= max) return EMBER_OK;
  /* In the limit's own unit; the bound rounded up, so that it never reads
   * as equal to the limit. */
  size_t unit = max >= ((size_t)1 << 20) ? (size_t)1 << 20 : max >= 1024 ? 1024 : 1;
  const char *name = unit == 1 ? "bytes" : unit == 1024 ? "KiB" : "MiB";
  if (unit == 1) bound--; /* exact: no rounding up */
  return ember_err_set(err, EMBER_EINVAL,
                       "%s would take up to %zu %s, over the server's limit of %zu "
                       "%s; lower maxNodes or narrow the time range or the selector",
                       what, bound / unit + 1, name, max / unit, name);
}
