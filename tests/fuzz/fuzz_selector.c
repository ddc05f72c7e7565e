/* Fuzz driver for ember_selector_parse (src/profile/series.c): no crash, no
 * runaway regex compilation, and a parsed selector formats to a text that
 * parses back to the same selector. */
#include "ember/series.h"
#include "fuzz_util.h"

static const ember_label_t LABELS[] = {
    {"pod", "web-1"},
    {"region", "eu-north"},
    {"vehicle", ""},
    {"zone", "a\"b\\c"},
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  ember_selector_t sel, again;
  ember_err_t err;
  int rc = ember_selector_parse((const char *)data, size, &sel, &err);
  fuzz_check_message(rc, &err);
  if (rc) {
    FUZZ_CHECK(rc == EMBER_EINVAL);
    return 0;
  }
  ember_buf_t text = EMBER_BUF_INIT, text2 = EMBER_BUF_INIT;
  ember_selector_format(&sel, &text);
  FUZZ_CHECK(ember_selector_parse(text.data, text.len, &again, &err) == 0);
  ember_selector_format(&again, &text2);
  FUZZ_CHECK(text.len == text2.len && memcmp(text.data, text2.data, text.len) == 0);
  FUZZ_CHECK(sel.n == again.n);
  for (size_t i = 0; i < sel.n; i++) {
    FUZZ_CHECK(sel.matchers[i].op == again.matchers[i].op);
    FUZZ_CHECK(strcmp(sel.matchers[i].value, again.matchers[i].value) == 0);
  }
  bool m1 = ember_selector_match(&sel, LABELS, sizeof LABELS / sizeof *LABELS);
  bool m2 = ember_selector_match(&again, LABELS, sizeof LABELS / sizeof *LABELS);
  FUZZ_CHECK(m1 == m2);
  ember_selector_match(&sel, NULL, 0);
  ember_buf_free(&text);
  ember_buf_free(&text2);
  ember_selector_free(&sel);
  ember_selector_free(&again);
  return 0;
}
