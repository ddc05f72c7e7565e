/* Fuzz driver for ember_time_parse and ember_duration_parse
 * (src/common/timeexpr.c): no overflow, no crash, sane results. */
#include "ember/timeexpr.h"
#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char *s = fuzz_cstr(data, size);
  ember_err_t err;
  int64_t v = -42;
  int rc = ember_time_parse(s, INT64_C(1700000000), &v, &err);
  fuzz_check_message(rc, &err);
  FUZZ_CHECK(rc == 0 ? v >= 0 : (rc == EMBER_EINVAL && v == -42));
  /* Extreme clocks must not overflow either. */
  ember_time_parse(s, INT64_MAX, &v, NULL);
  ember_time_parse(s, 0, &v, NULL);
  v = -42;
  rc = ember_duration_parse(s, &v, &err);
  fuzz_check_message(rc, &err);
  FUZZ_CHECK(rc == 0 ? v > 0 : (rc == EMBER_EINVAL && v == -42));
  free(s);
  return 0;
}
