/* Fuzz driver for the code that decodes a target's memory (src/spy/): the
 * input is the memory of a fake CPython process, and the sampler reads its
 * threads, stacks, names, sys.path and locals as it would a real one. Any
 * bytes must end in a result or a refusal: no crash, no read outside the
 * image, no endless loop.
 *
 * Input: byte 0 picks the layout (even 3.11, odd 3.12), byte 1 is flags
 * (bit 0: read locals), the rest is memory from FAKE_BASE on, where the
 * type objects and _PyRuntime sit at the fixed addresses of
 * tests/spy/fake_python.h. The seeds corpus/spy/scene311 and scene312 are
 * fake_scene() images, written by tests/fuzz/spy_seeds.c. */
#include "../spy/fake_python.h"
#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 2) return 0;
  fake_t f;
  fake_init(&f, (data[0] & 1) ? 12 : 11); /* only for f.py: the image is the input */
  bool locals = data[1] & 1;
  spy_proc_t p;
  spy_proc_init(&p, 0, &f.py);
  p.mem.image = data + 2;
  p.mem.base = FAKE_BASE;
  p.mem.len = size - 2;
  spy_names_t names;
  memset(&names, 0, sizeof names);
  spy_refresh_paths(&p, &names, 1);
  spy_thread_t *t = malloc(SPY_MAX_THREADS * sizeof *t);
  spy_frame_t *fr = malloc(512 * sizeof *fr);
  size_t nt = 0;
  if (spy_threads(&p, false, t, SPY_MAX_THREADS, &nt) == 0) {
    FUZZ_CHECK(nt <= SPY_MAX_THREADS);
    char **tnames = calloc(nt + 1, sizeof *tnames);
    spy_thread_names(&p, t, nt, tnames);
    for (size_t i = 0; i < nt; i++) free(tnames[i]);
    free(tnames);
    for (size_t i = 0; i < nt; i++) {
      size_t n = 0;
      bool cut;
      if (spy_stack(&p, &names, &t[i], fr, 512, &n, &cut)) continue;
      FUZZ_CHECK(n <= 512);
      for (size_t k = 0; k < n; k++) {
        const spy_code_t *c = fr[k].code;
        FUZZ_CHECK(c && c->qualname && c->filename && c->module && c->shortfile);
        ember_slice_t name = spy_names_get(&names, c->name_id);
        FUZZ_CHECK(name.len > 0 && !memchr(name.base, ';', name.len) &&
                   !memchr(name.base, '\n', name.len));
        if (locals) {
          ember_buf_t out = EMBER_BUF_INIT;
          spy_frame_locals(&p, &fr[k], "  ", &out);
          ember_buf_free(&out);
        }
      }
    }
  }
  /* The repr of whatever the first words of the heap point at. */
  for (size_t off = (size_t)(FAKE_HEAP - FAKE_BASE); off + 8 <= p.mem.len && off < 0x2100;
       off += 8) {
    ember_buf_t out = EMBER_BUF_INIT;
    spy_repr(&p.mem, &p.py, spy_u64(p.mem.image, off), &out);
    ember_buf_free(&out);
  }
  free(t);
  free(fr);
  spy_names_free(&names);
  spy_proc_free(&p);
  fake_free(&f);
  return 0;
}
