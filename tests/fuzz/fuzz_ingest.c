/* Fuzz driver for the whole of ember_ingest_parse (src/ingest/ingest.c).
 * The input is ten '\n'-terminated parameter lines (name, from, until,
 * format, sampleRate, spyName, units, aggregationType, Content-Type,
 * Content-Encoding; an empty line is an absent parameter) and then the
 * body. The limits are small so that inputs reach them, and every byte
 * taken from the budget must be back when the call returns. */
#include "ember/ingest.h"
#include "fuzz_util.h"

enum { NFIELDS = 10, MAX_DEPTH = 12 };

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char *fields[NFIELDS] = {0};
  size_t pos = 0;
  for (int i = 0; i < NFIELDS && pos < size; i++) {
    const uint8_t *nl = memchr(data + pos, '\n', size - pos);
    size_t len = nl ? (size_t)(nl - (data + pos)) : size - pos;
    if (len) fields[i] = fuzz_cstr(data + pos, len);
    pos += len + (nl != NULL);
  }
  ember_budget_t budget = {0, (size_t)256 << 20};
  ember_ingest_request_t req = {
      .name = fields[0],
      .from = fields[1],
      .until = fields[2],
      .format = fields[3],
      .sample_rate = fields[4],
      .spy_name = fields[5],
      .units = fields[6],
      .aggregation = fields[7],
      .content_type = fields[8],
      .content_encoding = fields[9],
      .body = data + pos,
      .body_len = size - pos,
      .max_body = 1u << 20,
      .now = INT64_C(1700000000),
      .limits = {.max_stack_depth = MAX_DEPTH, .max_apps = 4, .max_series = 16},
      .budget = &budget};
  ember_ingest_result_t res;
  ember_err_t err;
  int rc = ember_ingest_parse(&req, &res, &err);
  fuzz_check_message(rc, &err);
  FUZZ_CHECK(ember_budget_used(&budget) == 0);
  if (rc == 0) {
    for (size_t i = 0; i < res.n; i++) {
      const ember_profile_t *p = &res.items[i];
      FUZZ_CHECK(p->key.app && p->spy_name && p->units && p->tree);
      FUZZ_CHECK(p->from <= p->until);
      FUZZ_CHECK(p->from >= EMBER_INGEST_MIN_TIME &&
                 p->until <= INT64_C(1700000000) + 600);
      FUZZ_CHECK(p->sample_rate >= 1 && p->sample_rate <= 1000000000);
      FUZZ_CHECK(ember_tree_total(p->tree, 0) > 0);
      fuzz_check_tree(p->tree);
      fuzz_check_depth(p->tree, MAX_DEPTH);
      FUZZ_CHECK(res.mem_bytes > ember_tree_mem(p->tree));
    }
    FUZZ_CHECK((res.n == 0) == (ember_ingest_result_samples(&res) == 0));
    ember_ingest_result_free(&res);
  }
  for (int i = 0; i < NFIELDS; i++)
    free(fields[i]);
  return 0;
}
