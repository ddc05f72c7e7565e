/*
 * layout.c - where CPython keeps what the sampler reads, per minor version,
 * on Linux x86-64 (LP64, 8-byte pointers).
 *
 * The numbers are byte offsets into the structs of each version's headers:
 * _PyRuntimeState (internal/pycore_runtime.h), PyInterpreterState
 * (internal/pycore_interp.h), struct _gil_runtime_state
 * (internal/pycore_gil.h), PyThreadState and _PyCFrame
 * (cpython/pystate.h), _PyInterpreterFrame (internal/pycore_frame.h),
 * PyCodeObject (cpython/code.h), the str objects
 * (cpython/unicodeobject.h) and PyHeapTypeObject (cpython/object.h). They hold for every patch release of a minor
 * version: those structs do not change inside one. Attaching checks them
 * against the target (a thread's interpreter must point back at the
 * interpreter that lists it) before trusting them.
 *
 * What changed from 3.11 to 3.12: the GIL moved from _PyRuntime into each
 * interpreter (reached through a pointer); _PyInterpreterFrame starts with
 * its code object and gained C-stack "shim" frames (owner 3), which are
 * not Python frames; str objects lost their wstr fields; ints keep sign
 * and size in lv_tag.
 */
#include "spy/spy_int.h"

/* ---- Tables ------------------------------------------------------------ */

static const spy_layout_t layout_311 = {
    .major = 3,
    .minor = 11,
    .rt_interp_head = 40,
    .rt_main_thread = 80,
    .rt_gil = 360,
    .is_next = 0,
    .is_threads_head = 16,
    .is_sysdict = 904,
    .is_modules = 888,
    .is_gil_ptr = 0,
    .gil_last_holder = 8,
    .gil_locked = 16,
    .ts_next = 8,
    .ts_interp = 16,
    .ts_cframe = 56,
    .ts_thread_id = 152,
    .ts_native_id = 160,
    .cf_current_frame = 8,
    .fr_code = 32,
    .fr_previous = 48,
    .fr_globals = 8,
    .fr_prev_instr = 56,
    .fr_owner = 69,
    .fr_localsplus = 72,
    .owner_cstack = 0xff,
    .co_argcount = 56,
    .co_firstlineno = 72,
    .co_nlocalsplus = 76,
    .co_localsplusnames = 96,
    .co_localspluskinds = 104,
    .co_filename = 112,
    .co_name = 120,
    .co_qualname = 128,
    .co_linetable = 136,
    .co_firsttraceable = 168,
    .co_code = 184,
    .ht_cached_keys = 872,
    .str_ascii_size = 48,
    .str_compact_size = 72,
    .long_tagged = false,
};

static const spy_layout_t layout_312 = {
    .major = 3,
    .minor = 12,
    .rt_interp_head = 40,
    .rt_main_thread = 64,
    .rt_gil = 0,
    .is_next = 0,
    .is_threads_head = 72,
    .is_sysdict = 352,
    .is_modules = 944,
    .is_gil_ptr = 384,
    .gil_last_holder = 8,
    .gil_locked = 16,
    .ts_next = 8,
    .ts_interp = 16,
    .ts_cframe = 56,
    .ts_thread_id = 136,
    .ts_native_id = 144,
    .cf_current_frame = 0,
    .fr_code = 0,
    .fr_previous = 8,
    .fr_globals = 24,
    .fr_prev_instr = 56,
    .fr_owner = 70,
    .fr_localsplus = 72,
    .owner_cstack = 3,
    .co_argcount = 52,
    .co_firstlineno = 68,
    .co_nlocalsplus = 72,
    .co_localsplusnames = 96,
    .co_localspluskinds = 104,
    .co_filename = 112,
    .co_name = 120,
    .co_qualname = 128,
    .co_linetable = 136,
    .co_firsttraceable = 176,
    .co_code = 192,
    .ht_cached_keys = 880,
    .str_ascii_size = 40,
    .str_compact_size = 56,
    .long_tagged = true,
};

/* ---- API --------------------------------------------------------------- */

const spy_layout_t *spy_layout(unsigned major, unsigned minor) {
  if (major != 3) return NULL;
  if (minor == 11) return &layout_311;
  if (minor == 12) return &layout_312;
  return NULL;
}
