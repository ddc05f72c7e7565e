/* Fuzz driver for multipart/form-data pprof pushes (src/ingest/multipart.c
 * and what reads the fields: profile, prev_profile, sample_type_config).
 * The input's first line is the Content-Type, the rest the body. */
#include "ember/ingest.h"
#include "fuzz_check_profiles.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  const uint8_t *nl = memchr(data, '\n', size);
  size_t ct_len = nl ? (size_t)(nl - data) : size;
  char *ct = fuzz_cstr(data, ct_len);
  size_t off = nl ? ct_len + 1 : size;
  ember_profile_t base;
  fuzz_base(&base);
  ember_ingest_result_t res;
  ember_err_t err;
  int rc = ember_ingest_pprof(&base, ct, data + off, size - off, 1u << 20, &res, &err);
  fuzz_check_message(rc, &err);
  FUZZ_CHECK(rc == 0 || rc == EMBER_EPARSE || rc == EMBER_ETOOBIG || rc == EMBER_ELIMIT);
  if (rc == 0) fuzz_check_profiles(&res);
  ember_profile_free(&base);
  free(ct);
  return 0;
}
