/* Fuzz driver for the ELF symbol reader of `ember spy` (src/spy/elf.c):
 * any file, however broken its headers and tables, is either read or
 * refused with a message, never read outside its bytes. */
#include "fuzz_util.h"
#include "spy/spy_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static const char *const names[] = {"_PyRuntime", "Py_Version", "PyCode_Type", "x"};
  uint64_t v[4], load = 0;
  bool has = false;
  ember_err_t err;
  /* A copy of exactly size bytes, so that the sanitizer sees any overread. */
  uint8_t *copy = malloc(size ? size : 1);
  FUZZ_CHECK(copy);
  if (size) memcpy(copy, data, size);
  int rc = spy_elf_symbols(copy, size, names, 4, v, &load, &has, &err);
  fuzz_check_message(rc, &err);
  free(copy);
  return 0;
}
