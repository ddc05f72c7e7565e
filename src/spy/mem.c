/*
 * mem.c - reads of another process's memory, or of an image of it.
 *
 * process_vm_readv copies straight from the target's pages into ours: the
 * target is not stopped and does not notice. A read of an address the
 * target does not map fails with EFAULT and nothing else happens, which is
 * what makes following pointers read from a racing target safe.
 */
#include "spy/spy_int.h"

#include <errno.h>
#include <sys/uio.h>

/* ---- Private functions ------------------------------------------------- */

/* Bytes readable at [addr, addr + n) of the image, from its start. */
static size_t image_read(spy_mem_t *m, uint64_t addr, void *dst, size_t n) {
  if (addr < m->base || addr - m->base >= m->len) {
    m->err = EFAULT;
    return 0;
  }
  size_t off = (size_t)(addr - m->base), have = m->len - off;
  size_t k = n < have ? n : have;
  memcpy(dst, m->image + off, k);
  if (k < n) m->err = EFAULT;
  return k;
}

static size_t remote_read(spy_mem_t *m, uint64_t addr, void *dst, size_t n) {
  struct iovec local = {dst, n};
  struct iovec remote = {(void *)(uintptr_t)addr, n};
  ssize_t k = process_vm_readv(m->pid, &local, 1, &remote, 1, 0);
  if (k < 0) {
    m->err = errno;
    return 0;
  }
  if ((size_t)k < n) m->err = EFAULT;
  return (size_t)k;
}

/* ---- API --------------------------------------------------------------- */

size_t spy_read_some(spy_mem_t *m, uint64_t addr, void *dst, size_t n) {
  if (n == 0) return 0;
  m->reads++;
  if (addr == 0 || addr + n < addr) { /* NULL, or wrapping around */
    m->err = EFAULT;
    return 0;
  }
  return m->pid > 0 ? remote_read(m, addr, dst, n) : image_read(m, addr, dst, n);
}

int spy_read(spy_mem_t *m, uint64_t addr, void *dst, size_t n) {
  return spy_read_some(m, addr, dst, n) == n ? 0 : -1;
}

int spy_read_u64(spy_mem_t *m, uint64_t addr, uint64_t *out) {
  uint8_t b[8];
  if (spy_read(m, addr, b, 8)) return -1;
  *out = spy_u64(b, 0);
  return 0;
}
