/*
 * params.c - the fields every querier method reads the same way: the time
 * range in milliseconds, the profile type, max_nodes, and the parts of a
 * request Ember cannot honour. Each error names the field as the schema
 * does and says what to send instead.
 */
#include <string.h>

#include "querier/querier_int.h"

/* ---- API --------------------------------------------------------------- */

int q_range(int64_t start, int64_t end, bool required, int64_t *from, int64_t *until,
            bool *any, ember_err_t *err) {
  *any = false;
  if (!required && start == 0 && end == 0) {
    *any = true;
    *from = Q_EPOCH;
    *until = Q_FOREVER;
    return EMBER_OK;
  }
  if (start < 0 || end <= 0)
    return ember_err_set(err, EMBER_EINVAL,
                         "start (%lld) and end (%lld) must be milliseconds since the "
                         "Unix epoch",
                         (long long)start, (long long)end);
  if (start >= end)
    return ember_err_set(err, EMBER_EINVAL,
                         "start (%lld) must be before end (%lld), both in milliseconds; "
                         "swap them or widen the range",
                         (long long)start, (long long)end);
  /* end is excluded: the last second read is the one before it, so that
   * ranges that meet share no second (and no 10 s bucket when they meet
   * on one's edge). */
  *from = start / 1000;
  *until = (end - 1) / 1000;
  return EMBER_OK;
}

int q_type_id(const char *id, ember_err_t *err) {
  if (!id || !*id)
    return ember_err_set(err, EMBER_EINVAL,
                         "profile_typeID is required, e.g. "
                         "process_cpu:cpu:nanoseconds:cpu:nanoseconds (ProfileTypes "
                         "lists them)");
  if (!ember_profile_type_id_valid(id)) {
    ember_excerpt_t e;
    return ember_err_set(err, EMBER_EINVAL,
                         "profile_typeID '%s' is not "
                         "<name>:<sample type>:<sample unit>:<period type>:<period unit>, "
                         "e.g. process_cpu:cpu:nanoseconds:cpu:nanoseconds (ProfileTypes "
                         "lists them)",
                         ember_excerpt(&e, id, strlen(id), 80));
  }
  return EMBER_OK;
}

int q_max_nodes(bool given, int64_t v, long dflt, const ember_querier_ctx_t *ctx,
                long *out, ember_err_t *err) {
  long limit = ctx->max_nodes_limit > 0 ? ctx->max_nodes_limit : EMBER_QUERY_MAX_NODES_LIMIT;
  if (!given || v == 0) {
    *out = dflt < 0 || dflt > limit ? limit : dflt;
    return EMBER_OK;
  }
  if (v < -1)
    return ember_err_set(err, EMBER_EINVAL,
                         "max_nodes %lld is not valid; send a positive number of nodes or "
                         "-1 for as many as the server allows (%ld)",
                         (long long)v, limit);
  *out = v < 0 || v > limit ? limit : (long)v;
  return EMBER_OK;
}

int q_unsupported(const Types__V1__StackTraceSelector *sts, size_t n_profile_ids,
                  ember_err_t *err) {
  if (n_profile_ids)
    return ember_err_set(err, EMBER_EUNIMPL,
                         "profile_id_selector: Ember keeps no profile IDs; select by "
                         "labels and time instead");
  if (sts && sts->go_pgo)
    return ember_err_set(err, EMBER_EUNIMPL,
                         "stack_trace_selector.go_pgo is not supported by Ember");
  return EMBER_OK;
}

size_t q_max_output(const ember_querier_ctx_t *ctx) {
  return ctx->max_output ? ctx->max_output : EMBER_QUERY_MAX_OUTPUT;
}
