/* A fake CPython in a byte buffer, for the tests of src/spy/ and the seeds
 * of its fuzz driver: the objects the sampler reads (runtime,
 * interpreter, threads, frames, code, str, bytes, tuple, dict, int,
 * float), laid out with the offsets of spy_layout(3, minor) at addresses
 * of an image that starts at FAKE_BASE.
 *
 * The image always begins the same way, which the fuzz driver relies on:
 * the type objects at fixed addresses (FAKE_T_*), then _PyRuntime at
 * FAKE_RUNTIME; everything else is allocated after. Header-only; include
 * after cmocka.h (or fuzz_util.h). */
#ifndef EMBER_TESTS_SPY_FAKE_PYTHON_H
#define EMBER_TESTS_SPY_FAKE_PYTHON_H

#include <stdlib.h>
#include <string.h>

#include "spy/spy_int.h"

#define FAKE_BASE 0x100000ull
#define FAKE_TYPE(i) (FAKE_BASE + 0x100ull * (uint64_t)(i))
#define FAKE_T_CODE FAKE_TYPE(1)
#define FAKE_T_STR FAKE_TYPE(2)
#define FAKE_T_BYTES FAKE_TYPE(3)
#define FAKE_T_INT FAKE_TYPE(4)
#define FAKE_T_FLOAT FAKE_TYPE(5)
#define FAKE_T_BOOL FAKE_TYPE(6)
#define FAKE_T_TUPLE FAKE_TYPE(7)
#define FAKE_T_LIST FAKE_TYPE(8)
#define FAKE_T_DICT FAKE_TYPE(9)
#define FAKE_T_CELL FAKE_TYPE(10)
#define FAKE_T_MODULE FAKE_TYPE(11)
#define FAKE_T_OTHER FAKE_TYPE(12) /* a class named "Thing" */
#define FAKE_NONE FAKE_TYPE(13)
#define FAKE_TRUE FAKE_TYPE(14)
#define FAKE_FALSE (FAKE_TYPE(14) + 0x80)
#define FAKE_RUNTIME (FAKE_BASE + 0x1000)
#define FAKE_HEAP (FAKE_BASE + 0x2000)

typedef struct {
  uint8_t *mem;
  size_t len, cap;
  const spy_layout_t *L;
  spy_python_t py;
} fake_t;

static inline void fake_reserve(fake_t *f, size_t end) {
  if (end <= f->cap) return;
  size_t cap = f->cap ? f->cap : 65536;
  while (cap < end) cap *= 2;
  f->mem = realloc(f->mem, cap);
  memset(f->mem + f->cap, 0, cap - f->cap);
  f->cap = cap;
}

static inline void fake_put(fake_t *f, uint64_t addr, const void *p, size_t n) {
  fake_reserve(f, (size_t)(addr - FAKE_BASE) + n);
  memcpy(f->mem + (addr - FAKE_BASE), p, n);
  if ((size_t)(addr - FAKE_BASE) + n > f->len) f->len = (size_t)(addr - FAKE_BASE) + n;
}
static inline void fake_u64(fake_t *f, uint64_t addr, uint64_t v) {
  fake_put(f, addr, &v, 8);
}
static inline void fake_u32(fake_t *f, uint64_t addr, uint32_t v) {
  fake_put(f, addr, &v, 4);
}
static inline void fake_u8(fake_t *f, uint64_t addr, uint8_t v) {
  fake_put(f, addr, &v, 1);
}

/* n zeroed bytes, 16-aligned. */
static inline uint64_t fake_alloc(fake_t *f, size_t n) {
  size_t at = f->len < (FAKE_HEAP - FAKE_BASE) ? (size_t)(FAKE_HEAP - FAKE_BASE) : f->len;
  at = (at + 15) & ~(size_t)15;
  fake_reserve(f, at + n + 16);
  memset(f->mem + at, 0, n);
  f->len = at + n;
  return FAKE_BASE + at;
}

/* An object header: refcount 1 and its type. */
static inline uint64_t fake_object(fake_t *f, size_t size, uint64_t type) {
  uint64_t a = fake_alloc(f, size);
  fake_u64(f, a, 1);
  fake_u64(f, a + SPY_OB_TYPE, type);
  return a;
}

/* A str of n code points of kind 1, 2 or 4 (compact; ASCII when kind 1
 * and every point < 128). */
static inline uint64_t fake_str_points(fake_t *f, const uint32_t *pts, size_t n,
                                       unsigned kind) {
  bool ascii = kind == 1;
  for (size_t i = 0; i < n && ascii; i++) ascii = pts[i] < 128;
  size_t head = ascii ? f->L->str_ascii_size : f->L->str_compact_size;
  uint64_t a = fake_object(f, head + (n + 1) * kind, FAKE_T_STR);
  fake_u64(f, a + 16, n);
  fake_u64(f, a + 24, (uint64_t)-1); /* hash */
  fake_u32(f, a + 32, (kind << 2) | (1u << 5) | ((ascii ? 1u : 0u) << 6) | (1u << 7));
  for (size_t i = 0; i < n; i++) {
    if (kind == 1) fake_u8(f, a + head + i, (uint8_t)pts[i]);
    else if (kind == 2) {
      fake_u8(f, a + head + 2 * i, (uint8_t)pts[i]);
      fake_u8(f, a + head + 2 * i + 1, (uint8_t)(pts[i] >> 8));
    } else fake_u32(f, a + head + 4 * i, pts[i]);
  }
  return a;
}

/* An ASCII str. */
static inline uint64_t fake_str(fake_t *f, const char *s) {
  size_t n = strlen(s);
  uint32_t *pts = malloc((n + 1) * sizeof *pts);
  for (size_t i = 0; i < n; i++) pts[i] = (unsigned char)s[i];
  uint64_t a = fake_str_points(f, pts, n, 1);
  free(pts);
  return a;
}

static inline uint64_t fake_bytes(fake_t *f, const void *p, size_t n) {
  uint64_t a = fake_object(f, SPY_BYTES_DATA + n + 1, FAKE_T_BYTES);
  fake_u64(f, a + SPY_OB_SIZE, n);
  if (n) fake_put(f, a + SPY_BYTES_DATA, p, n);
  return a;
}

static inline uint64_t fake_tuple(fake_t *f, const uint64_t *items, size_t n) {
  uint64_t a = fake_object(f, SPY_TUPLE_ITEMS + 8 * n, FAKE_T_TUPLE);
  fake_u64(f, a + SPY_OB_SIZE, n);
  for (size_t i = 0; i < n; i++) fake_u64(f, a + SPY_TUPLE_ITEMS + 8 * i, items[i]);
  return a;
}

static inline uint64_t fake_list(fake_t *f, const uint64_t *items, size_t n) {
  uint64_t a = fake_object(f, 40, FAKE_T_LIST);
  uint64_t arr = fake_alloc(f, 8 * n + 8);
  fake_u64(f, a + SPY_OB_SIZE, n);
  fake_u64(f, a + SPY_LIST_ITEMS, arr);
  for (size_t i = 0; i < n; i++) fake_u64(f, arr + 8 * i, items[i]);
  return a;
}

/* A dict with str keys (a combined table of the unicode kind). */
static inline uint64_t fake_dict(fake_t *f, const char *const *keys, const uint64_t *values,
                                 size_t n) {
  unsigned log2 = 3;
  while ((1u << log2) * 2 < n * 3) log2++;
  uint64_t d = fake_object(f, 48, FAKE_T_DICT);
  uint64_t k = fake_alloc(f, SPY_KEYS_INDICES + (1u << log2) + 16 * n);
  fake_u64(f, k, 1);
  fake_u8(f, k + SPY_KEYS_LOG2_SIZE, (uint8_t)log2);
  fake_u8(f, k + SPY_KEYS_LOG2_INDEX_BYTES, (uint8_t)log2); /* one byte per index */
  fake_u8(f, k + SPY_KEYS_KIND, 1);
  fake_u64(f, k + SPY_KEYS_NENTRIES, n);
  uint64_t entries = k + SPY_KEYS_INDICES + (1u << log2);
  for (size_t i = 0; i < n; i++) {
    fake_u64(f, entries + 16 * i, fake_str(f, keys[i]));
    fake_u64(f, entries + 16 * i + 8, values[i]);
  }
  fake_u64(f, d + SPY_DICT_USED, n);
  fake_u64(f, d + SPY_DICT_KEYS, k);
  return d;
}

/* An instance of a class whose instances keep their attributes in inline
 * values, with the keys the class shares (3.11 and 3.12 layouts). */
static inline uint64_t fake_instance(fake_t *f, const char *const *keys, const uint64_t *values,
                                     size_t n) {
  uint64_t type = fake_alloc(f, 1024);
  fake_u64(f, type + SPY_TYPE_FLAGS, SPY_TPFLAGS_MANAGED_DICT);
  unsigned log2 = 3;
  uint64_t k = fake_alloc(f, SPY_KEYS_INDICES + (1u << log2) + 16 * n);
  fake_u8(f, k + SPY_KEYS_LOG2_SIZE, (uint8_t)log2);
  fake_u8(f, k + SPY_KEYS_LOG2_INDEX_BYTES, (uint8_t)log2);
  fake_u8(f, k + SPY_KEYS_KIND, 2); /* DICT_KEYS_SPLIT */
  fake_u64(f, k + SPY_KEYS_NENTRIES, n);
  for (size_t i = 0; i < n; i++)
    fake_u64(f, k + SPY_KEYS_INDICES + (1u << log2) + 16 * i, fake_str(f, keys[i]));
  fake_u64(f, type + f->L->ht_cached_keys, k);
  uint64_t vals = fake_alloc(f, 8 * n + 8);
  for (size_t i = 0; i < n; i++) fake_u64(f, vals + 8 * i, values[i]);
  uint64_t pre = fake_alloc(f, 32 + 16); /* the words before the object */
  uint64_t obj = pre + 32;
  fake_u64(f, obj, 1);
  fake_u64(f, obj + SPY_OB_TYPE, type);
  if (f->L->minor == 11) fake_u64(f, obj - 32, vals);
  else fake_u64(f, obj - 24, vals - 1);
  return obj;
}

static inline uint64_t fake_int(fake_t *f, int64_t v) {
  uint64_t mag = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
  uint32_t digits[3];
  size_t nd = 0;
  while (mag) {
    digits[nd++] = (uint32_t)(mag & 0x3fffffff);
    mag >>= 30;
  }
  uint64_t a = fake_object(f, SPY_LONG_DIGITS + 4 * (nd ? nd : 1), FAKE_T_INT);
  if (f->L->long_tagged)
    fake_u64(f, a + 16, (uint64_t)nd << 3 | (v < 0 ? 2u : v == 0 ? 1u : 0u));
  else
    fake_u64(f, a + 16, (uint64_t)(v < 0 ? -(int64_t)nd : (int64_t)nd));
  for (size_t i = 0; i < nd; i++) fake_u32(f, a + SPY_LONG_DIGITS + 4 * i, digits[i]);
  return a;
}

static inline uint64_t fake_float(fake_t *f, double d) {
  uint64_t a = fake_object(f, 24, FAKE_T_FLOAT);
  fake_put(f, a + SPY_FLOAT_VALUE, &d, 8);
  return a;
}

/* A code object with `units` code units of bytecode. */
typedef struct {
  const char *qualname, *filename;
  int firstlineno, firsttraceable;
  const uint8_t *linetable;
  size_t linetable_len;
  size_t units;
  const char *const *locals; /* names of the fast locals */
  const uint8_t *kinds;
  size_t nlocals;
} fake_code_t;

static inline uint64_t fake_code(fake_t *f, const fake_code_t *c) {
  const spy_layout_t *L = f->L;
  uint64_t a = fake_object(f, L->co_code + 2 * c->units + 2, FAKE_T_CODE);
  fake_u64(f, a + SPY_OB_SIZE, c->units);
  fake_u64(f, a + L->co_qualname, fake_str(f, c->qualname));
  fake_u64(f, a + L->co_name, fake_str(f, c->qualname));
  fake_u64(f, a + L->co_filename, fake_str(f, c->filename));
  fake_u64(f, a + L->co_linetable, fake_bytes(f, c->linetable, c->linetable_len));
  fake_u32(f, a + L->co_firstlineno, (uint32_t)c->firstlineno);
  fake_u32(f, a + L->co_firsttraceable, (uint32_t)c->firsttraceable);
  fake_u32(f, a + L->co_nlocalsplus, (uint32_t)c->nlocals);
  uint64_t names[16];
  for (size_t i = 0; i < c->nlocals && i < 16; i++) names[i] = fake_str(f, c->locals[i]);
  fake_u64(f, a + L->co_localsplusnames, fake_tuple(f, names, c->nlocals));
  fake_u64(f, a + L->co_localspluskinds, fake_bytes(f, c->kinds, c->nlocals));
  return a;
}

/* A frame running code at code unit `unit`, linked to prev. */
static inline uint64_t fake_frame(fake_t *f, uint64_t code, uint64_t prev, int64_t unit,
                                  uint8_t owner, uint64_t globals, const uint64_t *locals,
                                  size_t nlocals) {
  const spy_layout_t *L = f->L;
  uint64_t a = fake_alloc(f, L->fr_localsplus + 8 * nlocals + 8);
  fake_u64(f, a + L->fr_code, code);
  fake_u64(f, a + L->fr_previous, prev);
  fake_u64(f, a + L->fr_globals, globals);
  fake_u64(f, a + L->fr_prev_instr, code + L->co_code + (uint64_t)(2 * unit));
  fake_u8(f, a + L->fr_owner, owner);
  for (size_t i = 0; i < nlocals; i++) fake_u64(f, a + L->fr_localsplus + 8 * i, locals[i]);
  return a;
}

/* A thread state whose innermost frame is frame, with a cframe of its own. */
static inline uint64_t fake_thread(fake_t *f, uint64_t interp, uint64_t next, uint64_t frame,
                                   unsigned long thread_id, pid_t tid) {
  const spy_layout_t *L = f->L;
  uint64_t ts = fake_alloc(f, 400);
  uint64_t cframe = fake_alloc(f, 32);
  fake_u64(f, cframe + L->cf_current_frame, frame);
  fake_u64(f, ts + L->ts_next, next);
  fake_u64(f, ts + L->ts_interp, interp);
  fake_u64(f, ts + L->ts_cframe, cframe);
  fake_u64(f, ts + L->ts_thread_id, thread_id);
  fake_u64(f, ts + L->ts_native_id, (uint64_t)tid);
  return ts;
}

/* Type objects, None, True and an empty runtime; sets f->py. */
static inline void fake_init(fake_t *f, unsigned minor) {
  memset(f, 0, sizeof *f);
  f->L = spy_layout(3, minor);
  static const char *const names[] = {"",     "code",  "str",  "bytes",    "int",
                                      "float", "bool", "tuple", "list",    "dict",
                                      "cell",  "module", "Thing", "NoneType", "bool"};
  fake_reserve(f, FAKE_HEAP - FAKE_BASE);
  f->len = FAKE_HEAP - FAKE_BASE;
  for (int i = 1; i <= 12; i++) {
    uint64_t name = FAKE_TYPE(i) + 0x80; /* the C string inside the slot */
    fake_put(f, name, names[i], strlen(names[i]) + 1);
    fake_u64(f, FAKE_TYPE(i) + SPY_TYPE_NAME, name);
  }
  fake_u64(f, FAKE_NONE + SPY_OB_TYPE, FAKE_TYPE(12));
  fake_u64(f, FAKE_TRUE + SPY_OB_TYPE, FAKE_T_BOOL);
  fake_u64(f, FAKE_TRUE + 16, 1);
  fake_u64(f, FAKE_TRUE + 24, 1);
  fake_u64(f, FAKE_FALSE + SPY_OB_TYPE, FAKE_T_BOOL);
  spy_python_t *py = &f->py;
  py->runtime = FAKE_RUNTIME;
  py->version = 0x03000000u | (minor << 16);
  py->L = f->L;
  py->t_code = FAKE_T_CODE;
  py->t_str = FAKE_T_STR;
  py->t_bytes = FAKE_T_BYTES;
  py->t_int = FAKE_T_INT;
  py->t_float = FAKE_T_FLOAT;
  py->t_bool = FAKE_T_BOOL;
  py->t_tuple = FAKE_T_TUPLE;
  py->t_list = FAKE_T_LIST;
  py->t_dict = FAKE_T_DICT;
  py->t_cell = FAKE_T_CELL;
  py->t_module = FAKE_T_MODULE;
  py->none = FAKE_NONE;
  py->true_obj = FAKE_TRUE;
  strcpy(py->file, "fake");
}

/* A memory reader over the image (valid until f changes). */
static inline spy_mem_t fake_mem(const fake_t *f) {
  spy_mem_t m;
  memset(&m, 0, sizeof m);
  m.image = f->mem;
  m.base = FAKE_BASE;
  m.len = f->len;
  return m;
}

static inline void fake_free(fake_t *f) {
  free(f->mem);
  memset(f, 0, sizeof *f);
}

/* A linetable of one entry per line: `units` code units per line, lines
 * first, first + 1, ... (the short "no columns" form). */
static inline size_t fake_linetable(uint8_t *out, int lines, int units) {
  size_t n = 0;
  for (int i = 0; i < lines; i++) {
    out[n++] = (uint8_t)(0x80 | (13 << 3) | (units - 1));
    out[n++] = i == 0 ? 0 : 2; /* signed varint: +1 */
  }
  return n;
}

/* ---- A whole scene ------------------------------------------------------ */

/* What fake_scene builds: one interpreter with sys.path ["/srv"] and two
 * threads.
 *
 *   main thread (tid 100, holds the GIL): <module> (/srv/app/main.py:1),
 *     main (line 12), busy (line 22, its locals n = 5, s = 'x', and a cell
 *     holding 2.5), and on top a frame that has not started yet (skipped);
 *     in 3.12 a C-stack shim frame sits between main and <module>;
 *   second thread (tid 101): wait (/srv/app/main.py:31), in a module whose
 *     __name__ is "__main__". */
typedef struct {
  uint64_t interp, ts_main, ts_other;
  uint64_t code_module, code_main, code_busy, code_wait;
  uint64_t frame_busy, frame_main, frame_wait;
} fake_scene_t;

static inline void fake_scene(fake_t *f, unsigned minor, fake_scene_t *sc) {
  const spy_layout_t *L;
  fake_init(f, minor);
  L = f->L;
  memset(sc, 0, sizeof *sc);
  uint8_t lt[64];
  size_t n = fake_linetable(lt, 10, 2); /* lines first..first+9, 2 units each */
  const char *busy_locals[] = {"n", "s", "c"};
  const uint8_t busy_kinds[] = {0x20, 0x20, SPY_CO_FAST_CELL};
  fake_code_t module = {"<module>", "/srv/app/main.py", 1, 0, lt, n, 20, NULL, NULL, 0};
  fake_code_t mainc = {"main", "/srv/app/main.py", 10, 1, lt, n, 20, NULL, NULL, 0};
  fake_code_t busy = {"Worker.busy", "/srv/app/main.py", 20, 1, lt, n, 20,
                      busy_locals, busy_kinds, 3};
  fake_code_t wait = {"wait", "/srv/app/main.py", 30, 0, lt, n, 20, NULL, NULL, 0};
  fake_code_t fresh = {"not_started", "/srv/app/main.py", 40, 3, lt, n, 20, NULL, NULL, 0};
  sc->code_module = fake_code(f, &module);
  sc->code_main = fake_code(f, &mainc);
  sc->code_busy = fake_code(f, &busy);
  sc->code_wait = fake_code(f, &wait);
  uint64_t code_fresh = fake_code(f, &fresh);
  const char *gkeys[] = {"__name__"};
  uint64_t app = fake_str(f, "app.main"), dunder_main = fake_str(f, "__main__");
  uint64_t globals = fake_dict(f, gkeys, &app, 1);
  uint64_t main_globals = fake_dict(f, gkeys, &dunder_main, 1);
  /* The main thread's frames, outermost first. */
  uint64_t fm = fake_frame(f, sc->code_module, 0, 0, 0, globals, NULL, 0);
  if (L->owner_cstack != 0xff) /* a 3.12 shim between two Python frames */
    fm = fake_frame(f, sc->code_module, fm, 0, L->owner_cstack, 0, NULL, 0);
  sc->frame_main = fake_frame(f, sc->code_main, fm, 5, 0, globals, NULL, 0);
  uint64_t cell = fake_object(f, 24, FAKE_T_CELL);
  fake_u64(f, cell + SPY_CELL_REF, fake_float(f, 2.5));
  uint64_t locals[3] = {fake_int(f, 5), fake_str(f, "x"), cell};
  sc->frame_busy = fake_frame(f, sc->code_busy, sc->frame_main, 5, 0, globals, locals, 3);
  uint64_t top = fake_frame(f, code_fresh, sc->frame_busy, 1, 0, globals, NULL, 0);
  sc->frame_wait = fake_frame(f, sc->code_wait, 0, 2, 0, main_globals, NULL, 0);
  /* The interpreter, its threads, sys.path, the GIL. */
  sc->interp = fake_alloc(f, 2048);
  sc->ts_other = fake_thread(f, sc->interp, 0, sc->frame_wait, 7001, 101);
  sc->ts_main = fake_thread(f, sc->interp, sc->ts_other, top, 7000, 100);
  fake_u64(f, sc->interp + L->is_threads_head, sc->ts_main);
  uint64_t path_items[1] = {fake_str(f, "/srv")};
  const char *skeys[] = {"path"};
  uint64_t path = fake_list(f, path_items, 1);
  fake_u64(f, sc->interp + L->is_sysdict, fake_dict(f, skeys, &path, 1));
  uint64_t gil = L->rt_gil ? FAKE_RUNTIME + L->rt_gil : fake_alloc(f, 64);
  if (!L->rt_gil) fake_u64(f, sc->interp + L->is_gil_ptr, gil);
  fake_u64(f, gil + L->gil_last_holder, sc->ts_main);
  fake_u32(f, gil + L->gil_locked, 1);
  fake_u64(f, FAKE_RUNTIME + L->rt_interp_head, sc->interp);
  fake_u64(f, FAKE_RUNTIME + L->rt_main_thread, 7000);
}

#endif
