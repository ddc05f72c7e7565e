/*
 * service.c - querier.v1.QuerierService as a table of Connect methods: each
 * name with its request and response types (src/proto/querier.proto) and
 * the function that answers it.
 */
#include "querier/querier_int.h"

#define M(name, in, out, fn) {name, &in##__descriptor, &out##__descriptor, fn}

static const ember_connect_method_t methods[] = {
    M("ProfileTypes", querier__v1__profile_types_request,
      querier__v1__profile_types_response, q_profile_types),
    M("LabelNames", types__v1__label_names_request, types__v1__label_names_response,
      q_label_names),
    M("LabelValues", types__v1__label_values_request, types__v1__label_values_response,
      q_label_values),
    M("Series", querier__v1__series_request, querier__v1__series_response, q_series),
    M("SelectMergeStacktraces", querier__v1__select_merge_stacktraces_request,
      querier__v1__select_merge_stacktraces_response, q_merge_stacktraces),
    M("SelectMergeProfile", querier__v1__select_merge_profile_request,
      perftools__profiles__profile, q_merge_profile),
    M("SelectSeries", querier__v1__select_series_request,
      querier__v1__select_series_response, q_select_series),
    M("Diff", querier__v1__diff_request, querier__v1__diff_response, q_diff),
    M("GetProfileStats", types__v1__get_profile_stats_request,
      types__v1__get_profile_stats_response, q_profile_stats),
};

const ember_connect_service_t ember_querier_service = {
    "querier.v1.QuerierService", methods, sizeof methods / sizeof *methods};
