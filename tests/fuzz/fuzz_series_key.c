/* Fuzz driver for ember_series_key_parse and the canonical label string
 * (src/profile/series.c). Beyond "no crash", it checks that a parsed key is
 * canonical: formatting and parsing again gives the same key, and its label
 * string reads back to the same labels. */
#include "ember/series.h"
#include "fuzz_util.h"

static void check_same_labels(const ember_series_key_t *a, const ember_series_key_t *b) {
  FUZZ_CHECK(a->nlabels == b->nlabels);
  for (size_t i = 0; i < a->nlabels; i++) {
    FUZZ_CHECK(strcmp(a->labels[i].key, b->labels[i].key) == 0);
    FUZZ_CHECK(strcmp(a->labels[i].value, b->labels[i].value) == 0);
    if (i) FUZZ_CHECK(strcmp(a->labels[i - 1].key, a->labels[i].key) < 0);
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  ember_series_key_t k, again, copy, from_labels = {0};
  ember_err_t err;
  int rc = ember_series_key_parse((const char *)data, size, &k, &err);
  fuzz_check_message(rc, &err);
  if (rc) {
    FUZZ_CHECK(rc == EMBER_EINVAL);
    return 0;
  }
  FUZZ_CHECK(ember_app_name_valid(k.app, strlen(k.app)));

  ember_buf_t text = EMBER_BUF_INIT, text2 = EMBER_BUF_INIT, labels = EMBER_BUF_INIT;
  ember_series_key_format(&k, &text);
  FUZZ_CHECK(ember_series_key_parse(text.data, text.len, &again, &err) == 0);
  ember_series_key_format(&again, &text2);
  FUZZ_CHECK(text.len == text2.len && memcmp(text.data, text2.data, text.len) == 0);
  check_same_labels(&k, &again);

  ember_series_key_labels(&k, &labels);
  FUZZ_CHECK(ember_series_key_parse_labels(labels.data, labels.len, &from_labels, &err) ==
             0);
  check_same_labels(&k, &from_labels);

  ember_series_key_copy(&copy, &k);
  check_same_labels(&k, &copy);
  /* Setting an existing key replaces its value and keeps the order. */
  if (copy.nlabels) {
    const char *key = copy.labels[0].key;
    FUZZ_CHECK(ember_series_key_set(&copy, key, strlen(key), "v", 1, &err) == 0);
    FUZZ_CHECK(copy.nlabels == k.nlabels);
  }

  ember_buf_free(&text);
  ember_buf_free(&text2);
  ember_buf_free(&labels);
  ember_series_key_free(&k);
  ember_series_key_free(&again);
  ember_series_key_free(&copy);
  ember_series_key_free(&from_labels);
  return 0;
}
