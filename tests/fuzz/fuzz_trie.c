/* Fuzz driver for ember_ingest_trie (src/ingest/trie.c). */
#include "ember/ingest.h"
#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  ember_tree_t *t = ember_tree_new();
  ember_err_t err;
  int rc = ember_ingest_trie(data, size, t, &err);
  fuzz_check_message(rc, &err);
  FUZZ_CHECK(rc == 0 || rc == EMBER_EPARSE || rc == EMBER_ETOOBIG);
  fuzz_check_tree(t);
  fuzz_check_depth(t, EMBER_INGEST_DEFAULT_MAX_STACK_DEPTH);
  ember_tree_free(t);
  return 0;
}
