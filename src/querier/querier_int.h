/*
 * querier_int.h - what the files of src/querier/ share: the selection of
 * apps a label selector names (select.c), the request parameters every
 * method reads (params.c), and the methods themselves.
 */
#ifndef EMBER_QUERIER_INT_H
#define EMBER_QUERIER_INT_H

#include "ember/querier.h"
#include "ember/query.h"
#include "ember/series.h"
#include "proto/querier.pb-c.h"

/* ---- Selection (select.c) ----------------------------------------------
 * A Pyroscope label selector names series by labels Ember keeps (region,
 * vehicle, ...) and by labels Ember derives from the app (service_name and
 * the profile type's): the "virtual" labels. The first kind go to the
 * store as FlameQL matchers, the second pick the apps. */

/* service_name, __name__, __profile_type__, __type__, __unit__,
 * __period_type__, __period_unit__. */
#define Q_VIRTUAL_LABELS 7

bool q_is_virtual(const char *key);

/* One app read as one of its profile types. Owns app and service. */
typedef struct {
  ember_app_info_t app;
  char *service;
  ember_profile_type_t type;
} q_target_t;

/* A parsed selector and the targets it picks. Owns everything. */
typedef struct {
  ember_selector_t stored;  /* matchers on stored labels (app unset) */
  ember_selector_t virt;    /* matchers on virtual labels (app unset) */
  q_target_t *items;
  size_t n;
} q_select_t;

/* Parses a label selector ("" selects everything); what names the field
 * in error messages ("label_selector", "matchers"). */
int q_select_parse(const char *what, const char *selector, q_select_t *out,
                   ember_err_t *err);
/* Adds to qs every app and profile type whose virtual labels qs->virt
 * matches and, when type_id is not NULL, whose type ID is type_id; in app
 * order. */
int q_select_resolve(ember_store_reader_t *r, const char *type_id, q_select_t *qs,
                     ember_err_t *err);
void q_select_free(q_select_t *qs); /* NULL is accepted */

/* The FlameQL selector of target i: its app and the stored matchers, plus
 * extra (NULL or n_extra matchers) placed first, where the store looks for
 * an indexed equality. Borrows everything; free only .matchers. */
ember_selector_t q_target_selector(const q_select_t *qs, size_t i,
                                   const ember_matcher_t *extra, size_t n_extra);

/* The virtual labels of a target, sorted by key, into out; returns how
 * many. */
size_t q_target_labels(const q_target_t *t, ember_label_t out[Q_VIRTUAL_LABELS]);

/* Whether the series sel picks hold samples in [from, until] (seconds),
 * by their stored totals. */
int q_has_data(ember_store_reader_t *r, const ember_selector_t *sel, int64_t from,
               int64_t until, bool *out, ember_err_t *err);

/* Calls fn for each distinct combination of values that the series sel
 * picks have for keys (sorted; a value "" for a key a series lacks), with
 * the selector narrowed to that combination (key="value" matchers first)
 * and the combination's labels (the non-empty ones). exact: only
 * combinations some series has; else a combination of absent values may
 * come up that no series has (its reads then find nothing). */
typedef int (*q_combo_fn)(void *ctx, const ember_selector_t *narrowed,
                          const ember_label_t *labels, size_t n, ember_err_t *err);
int q_combinations(ember_store_reader_t *r, const ember_selector_t *sel, char **keys,
                   size_t nkeys, bool exact, q_combo_fn fn, void *ctx, ember_err_t *err);

/* ---- Parameters (params.c) -------------------------------------------- */

/* The earliest a push may cover (docs/API.md): 2000-01-01; and a time
 * past any push, for "any time" (the store's reads span at most 2^61 s). */
#define Q_EPOCH 946684800
#define Q_FOREVER ((int64_t)1 << 40)

/* A range of milliseconds as the seconds a read takes: from is the
 * second holding start, until the second before end (end is excluded).
 * With required false, start and end both 0 mean any time (*any true). */
int q_range(int64_t start, int64_t end, bool required, int64_t *from, int64_t *until,
            bool *any, ember_err_t *err);

/* profile_typeID: required and well formed. */
int q_type_id(const char *id, ember_err_t *err);

/* max_nodes as /render reads maxNodes: unset the default (dflt), -1 (or
 * anything past the limit) the server's limit, otherwise 1 or more. */
int q_max_nodes(bool given, int64_t v, long dflt, const ember_querier_ctx_t *ctx,
                long *out, ember_err_t *err);

/* EMBER_EUNIMPL for parts of a request Ember cannot honour: profile IDs,
 * Go PGO. */
int q_unsupported(const Types__V1__StackTraceSelector *sts, size_t n_profile_ids,
                  ember_err_t *err);

/* The server's limit of answer bytes. */
size_t q_max_output(const ember_querier_ctx_t *ctx);

/* ---- Methods ----------------------------------------------------------- */

int q_profile_types(void *ctx, ember_connect_call_t *call, const ProtobufCMessage *in,
                    ember_err_t *err);
int q_label_names(void *ctx, ember_connect_call_t *call, const ProtobufCMessage *in,
                  ember_err_t *err);
int q_label_values(void *ctx, ember_connect_call_t *call, const ProtobufCMessage *in,
                   ember_err_t *err);
int q_series(void *ctx, ember_connect_call_t *call, const ProtobufCMessage *in,
             ember_err_t *err);
int q_profile_stats(void *ctx, ember_connect_call_t *call, const ProtobufCMessage *in,
                    ember_err_t *err);
int q_merge_stacktraces(void *ctx, ember_connect_call_t *call,
                        const ProtobufCMessage *in, ember_err_t *err);
int q_merge_profile(void *ctx, ember_connect_call_t *call, const ProtobufCMessage *in,
                    ember_err_t *err);
int q_diff(void *ctx, ember_connect_call_t *call, const ProtobufCMessage *in,
           ember_err_t *err);
int q_select_series(void *ctx, ember_connect_call_t *call, const ProtobufCMessage *in,
                    ember_err_t *err);

#endif
