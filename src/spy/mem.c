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

size_t spy_read_blocks(spy_mem_t *m, const uint64_t *addr, uint8_t *const *dst,
                       const size_t *size, size_t n) {
  enum { BATCH = 64 }; /* well under IOV_MAX */
  size_t done = 0;
  while (done < n) {
    size_t k = n - done < BATCH ? n - done : BATCH;
    struct iovec local[BATCH], remote[BATCH];
    for (size_t i = 0; i < k; i++) {
      if (addr[done + i] == 0 || addr[done + i] + size[done + i] < addr[done + i]) {
        k = i; /* a block that cannot be read ends the batch */
        break;
      }
      local[i] = (struct iovec){dst[done + i], size[done + i]};
      remote[i] = (struct iovec){(void *)(uintptr_t)addr[done + i], size[done + i]};
    }
    if (k == 0) return done;
    m->reads++;
    size_t got = 0;
    if (m->pid > 0) {
      ssize_t r = process_vm_readv(m->pid, local, k, remote, k, 0);
      if (r < 0) m->err = errno;
      got = r < 0 ? 0 : (size_t)r;
    } else {
      for (size_t i = 0; i < k; i++) {
        size_t one = image_read(m, addr[done + i], dst[done + i], size[done + i]);
        got += one;
        if (one < size[done + i]) break;
      }
    }
    size_t whole = 0;
    for (size_t i = 0; i < k && got >= size[done + i]; i++) {
      got -= size[done + i];
      whole++;
    }
    done += whole;
    if (whole < k) return done;
  }
  return done;
}

int spy_read_u64(spy_mem_t *m, uint64_t addr, uint64_t *out) {
  uint8_t b[8];
  if (spy_read(m, addr, b, 8)) return -1;
  *out = spy_u64(b, 0);
  return 0;
}
