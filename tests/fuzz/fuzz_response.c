/* Fuzz driver for ember_client_response_parse and
 * ember_client_error_message (src/client/http.c): whatever a server sends
 * back is parsed without reading out of bounds, and an error message made
 * of it is printable. */
#include "ember/client.h"
#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  ember_client_resp_t r;
  ember_err_t err;
  int rc = ember_client_response_parse((const char *)data, size, &r, &err);
  fuzz_check_message(rc, &err);
  FUZZ_CHECK(rc == 0 || rc == EMBER_EIO);
  if (rc) return 0;
  FUZZ_CHECK(r.status >= 100 && r.status <= 599);
  FUZZ_CHECK(r.body.len <= size);
  ember_buf_t msg = EMBER_BUF_INIT;
  ember_client_error_message(&r, &msg);
  FUZZ_CHECK(msg.len > 0 && msg.len <= 300);
  for (size_t i = 0; i < msg.len; i++)
    FUZZ_CHECK((unsigned char)msg.data[i] >= 0x20 && msg.data[i] != 0x7f);
  ember_buf_free(&msg);
  ember_client_resp_free(&r);
  return 0;
}
