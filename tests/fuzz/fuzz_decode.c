/* Fuzz driver for ember_ingest_decode (src/ingest/decode.c). The first byte
 * picks the Content-Encoding, the rest is the body; the output limit is
 * small so that bombs are caught by the limit, not by the fuzzer's memory
 * cap. */
#include "ember/ingest.h"
#include "fuzz_util.h"

#define MAX_OUT (64u << 10)

static const char *const ENCODINGS[] = {"gzip", "zstd", NULL, "x-gzip", "identity", "br"};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size == 0) return 0;
  const char *enc = ENCODINGS[data[0] % (sizeof ENCODINGS / sizeof *ENCODINGS)];
  uint8_t *out = NULL;
  size_t out_len = 0;
  ember_err_t err;
  int rc = ember_ingest_decode(enc, data + 1, size - 1, MAX_OUT, &out, &out_len, &err);
  fuzz_check_message(rc, &err);
  if (rc == 0) {
    FUZZ_CHECK(out != NULL && out_len <= MAX_OUT);
    free(out);
  } else {
    FUZZ_CHECK(rc == EMBER_EPARSE || rc == EMBER_ETOOBIG || rc == EMBER_EINVAL);
    FUZZ_CHECK(out == NULL);
  }
  return 0;
}
