/* Fuzz driver for the pprof decoder (src/ingest/pprof.c and
 * pprof_series.c): the input is a pprof profile, gzipped or not, pushed
 * raw as @pyroscope/nodejs sends it. Every profile that comes out must be a
 * valid series with a valid, non-empty tree. */
#include "ember/ingest.h"
#include "fuzz_check_profiles.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  ember_profile_t base;
  fuzz_base(&base);
  ember_ingest_result_t res;
  ember_err_t err;
  int rc = ember_ingest_pprof(&base, NULL, data, size, 1u << 20, &res, &err);
  fuzz_check_message(rc, &err);
  FUZZ_CHECK(rc == 0 || rc == EMBER_EPARSE || rc == EMBER_ETOOBIG || rc == EMBER_ELIMIT);
  if (rc == 0) fuzz_check_profiles(&res);
  ember_profile_free(&base);
  return 0;
}
