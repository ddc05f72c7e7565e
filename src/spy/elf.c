/*
 * elf.c - the symbols of an ELF file: where _PyRuntime and the type objects
 * are, relative to the file's load address.
 *
 * Both symbol tables are searched: .symtab (absent from stripped builds)
 * and .dynsym (kept by stripping, and holding _PyRuntime whenever Python
 * exports its C API, which Debian's python3 and every libpython do). The
 * file is untrusted input like any other: every offset and size is checked
 * against the image before it is used.
 */
#include "spy/spy_int.h"

#include <elf.h>

/* ---- Private functions ------------------------------------------------- */

/* True when [off, off + size) lies inside an image of n bytes. */
static bool inside(uint64_t off, uint64_t size, size_t n) {
  return off <= n && size <= n - off;
}

/* Looks up names in one symbol table (section sh, strings in section str). */
static void scan_table(const uint8_t *data, size_t n, const Elf64_Shdr *sh,
                       const Elf64_Shdr *str, const char *const *names, size_t count,
                       uint64_t *vaddrs) {
  if (sh->sh_entsize != sizeof(Elf64_Sym) || !inside(sh->sh_offset, sh->sh_size, n) ||
      !inside(str->sh_offset, str->sh_size, n))
    return;
  const char *strs = (const char *)data + str->sh_offset;
  size_t nsyms = sh->sh_size / sizeof(Elf64_Sym);
  for (size_t i = 0; i < nsyms; i++) {
    Elf64_Sym sym;
    memcpy(&sym, data + sh->sh_offset + i * sizeof sym, sizeof sym);
    if (sym.st_shndx == SHN_UNDEF || sym.st_value == 0 || sym.st_name >= str->sh_size)
      continue;
    const char *name = strs + sym.st_name;
    size_t room = str->sh_size - sym.st_name;
    for (size_t k = 0; k < count; k++) {
      if (vaddrs[k] || name[0] != names[k][0]) continue;
      size_t len = strlen(names[k]);
      if (len < room && !memcmp(name, names[k], len + 1)) vaddrs[k] = sym.st_value;
    }
  }
}

/* The page-aligned virtual address of the segment that maps file offset 0
 * (the one whose mapping /proc/PID/maps shows at offset 0). */
static int load_address(const uint8_t *data, size_t n, const Elf64_Ehdr *eh,
                        uint64_t *out) {
  if (eh->e_phentsize != sizeof(Elf64_Phdr) ||
      !inside(eh->e_phoff, (uint64_t)eh->e_phnum * sizeof(Elf64_Phdr), n))
    return -1;
  bool found = false;
  uint64_t best_off = 0;
  for (size_t i = 0; i < eh->e_phnum; i++) {
    Elf64_Phdr ph;
    memcpy(&ph, data + eh->e_phoff + i * sizeof ph, sizeof ph);
    if (ph.p_type != PT_LOAD) continue;
    if (!found || ph.p_offset < best_off) {
      found = true;
      best_off = ph.p_offset;
      *out = (ph.p_vaddr - ph.p_offset) & ~(uint64_t)0xfff;
    }
  }
  return found ? 0 : -1;
}

/* ---- API --------------------------------------------------------------- */

int spy_elf_symbols(const uint8_t *data, size_t n, const char *const *names, size_t count,
                    uint64_t *vaddrs, uint64_t *load_vaddr, bool *has_symbols,
                    ember_err_t *err) {
  for (size_t k = 0; k < count; k++) vaddrs[k] = 0;
  *has_symbols = false;
  Elf64_Ehdr eh;
  if (n < sizeof eh || memcmp(data, ELFMAG, SELFMAG))
    return ember_err_set(err, EMBER_EINVAL, "not an ELF file");
  memcpy(&eh, data, sizeof eh);
  if (eh.e_ident[EI_CLASS] != ELFCLASS64 || eh.e_ident[EI_DATA] != ELFDATA2LSB ||
      eh.e_machine != EM_X86_64)
    return ember_err_set(err, EMBER_EINVAL, "not a 64-bit x86-64 ELF file");
  if (load_address(data, n, &eh, load_vaddr))
    return ember_err_set(err, EMBER_EINVAL, "the ELF file has no loadable segment");
  if (eh.e_shoff == 0 || eh.e_shnum == 0) return EMBER_OK; /* no sections at all */
  if (eh.e_shentsize != sizeof(Elf64_Shdr) ||
      !inside(eh.e_shoff, (uint64_t)eh.e_shnum * sizeof(Elf64_Shdr), n))
    return ember_err_set(err, EMBER_EINVAL, "the ELF file's section table is cut short");
  for (size_t i = 0; i < eh.e_shnum; i++) {
    Elf64_Shdr sh, str;
    memcpy(&sh, data + eh.e_shoff + i * sizeof sh, sizeof sh);
    if (sh.sh_type != SHT_SYMTAB && sh.sh_type != SHT_DYNSYM) continue;
    if (sh.sh_link >= eh.e_shnum) continue;
    memcpy(&str, data + eh.e_shoff + (size_t)sh.sh_link * sizeof str, sizeof str);
    *has_symbols = true;
    scan_table(data, n, &sh, &str, names, count, vaddrs);
  }
  return EMBER_OK;
}
