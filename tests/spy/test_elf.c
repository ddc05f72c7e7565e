/* Tests for src/spy/elf.c: symbols of this very test program, found in its
 * own file, land where the loader put them; broken files are refused or
 * read without reading past their end. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <elf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "spy/spy_int.h"

/* A global the test looks for in its own symbol table. */
int spy_test_marker_symbol = 42;

static uint8_t *slurp(const char *path, size_t *n) {
  FILE *f = fopen(path, "rb");
  assert_non_null(f);
  fseek(f, 0, SEEK_END);
  long size = ftell(f);
  fseek(f, 0, SEEK_SET);
  uint8_t *p = malloc((size_t)size);
  assert_int_equal(fread(p, 1, (size_t)size, f), (size_t)size);
  fclose(f);
  *n = (size_t)size;
  return p;
}

typedef struct {
  char exe[4096];
  uint64_t base;
} find_t;

static int lowest(void *ctx, const spy_map_t *m) {
  find_t *f = ctx;
  if (m->offset == 0 && !strcmp(m->path, f->exe) && !f->base) f->base = m->start;
  return 0;
}

static void test_symbols_of_this_program_match_where_they_are_loaded(void **state) {
  find_t f;
  memset(&f, 0, sizeof f);
  ssize_t k = readlink("/proc/self/exe", f.exe, sizeof f.exe - 1);
  assert_true(k > 0);
  f.exe[k] = '\0';
  assert_int_equal(spy_maps(getpid(), lowest, &f), 0);
  assert_true(f.base != 0);
  size_t n;
  uint8_t *data = slurp(f.exe, &n);
  static const char *const names[] = {"spy_test_marker_symbol", "spy_elf_symbols",
                                      "no_such_symbol_anywhere"};
  uint64_t v[3], load;
  bool has;
  ember_err_t err;
  assert_int_equal(spy_elf_symbols(data, n, names, 3, v, &load, &has, &err), 0);
  assert_true(has);
  assert_int_equal(v[0] + f.base - load, (uint64_t)(uintptr_t)&spy_test_marker_symbol);
  assert_int_equal(v[1] + f.base - load, (uint64_t)(uintptr_t)&spy_elf_symbols);
  assert_int_equal(v[2], 0);
  /* Every cut of the file is read or refused, never overread (ASan). */
  for (size_t cut = 0; cut < n; cut += n / 97 + 1) {
    uint8_t *part = malloc(cut ? cut : 1);
    memcpy(part, data, cut);
    spy_elf_symbols(part, cut, names, 3, v, &load, &has, NULL);
    free(part);
  }
  free(data);
}

static void test_what_is_not_a_64_bit_elf_file_is_refused(void **state) {
  static const char *const names[] = {"_PyRuntime"};
  uint64_t v[1], load;
  bool has;
  ember_err_t err;
  assert_int_equal(spy_elf_symbols((const uint8_t *)"#!/bin/sh\n", 10, names, 1, v, &load,
                                   &has, &err),
                   EMBER_EINVAL);
  assert_non_null(strstr(err.msg, "not an ELF file"));
  Elf64_Ehdr eh;
  memset(&eh, 0, sizeof eh);
  memcpy(eh.e_ident, ELFMAG, SELFMAG);
  eh.e_ident[EI_CLASS] = ELFCLASS32;
  assert_int_equal(spy_elf_symbols((const uint8_t *)&eh, sizeof eh, names, 1, v, &load, &has,
                                   &err),
                   EMBER_EINVAL);
  assert_non_null(strstr(err.msg, "64-bit"));
}

static void test_a_file_without_symbol_tables_says_so(void **state) {
  /* A header and one loadable segment, no sections: what `strip` leaves
   * of a static program. */
  struct {
    Elf64_Ehdr eh;
    Elf64_Phdr ph;
  } f;
  memset(&f, 0, sizeof f);
  memcpy(f.eh.e_ident, ELFMAG, SELFMAG);
  f.eh.e_ident[EI_CLASS] = ELFCLASS64;
  f.eh.e_ident[EI_DATA] = ELFDATA2LSB;
  f.eh.e_machine = EM_X86_64;
  f.eh.e_phoff = sizeof f.eh;
  f.eh.e_phentsize = sizeof f.ph;
  f.eh.e_phnum = 1;
  f.ph.p_type = PT_LOAD;
  f.ph.p_vaddr = 0x401000;
  f.ph.p_offset = 0;
  static const char *const names[] = {"_PyRuntime"};
  uint64_t v[1], load;
  bool has = true;
  assert_int_equal(spy_elf_symbols((const uint8_t *)&f, sizeof f, names, 1, v, &load, &has,
                                   NULL),
                   0);
  assert_false(has);
  assert_int_equal(v[0], 0);
  assert_int_equal(load, 0x401000);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_symbols_of_this_program_match_where_they_are_loaded),
      cmocka_unit_test(test_what_is_not_a_64_bit_elf_file_is_refused),
      cmocka_unit_test(test_a_file_without_symbol_tables_says_so),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
