/*
 * spy_int.h - what the files of src/spy/ share.
 *
 *   mem.c        reading another process's memory (or an image of it)
 *   proc.c       /proc: maps, thread states, command lines, children
 *   elf.c        symbol tables of an ELF file
 *   layout.c     CPython's struct layouts, one table per minor version
 *   pyobj.c      str, bytes, tuple, dict and simple values read remotely
 *   linetable.c  the location table of 3.11+ code objects
 *   attach.c     finding the interpreter of a process
 *   walk.c       threads and their frames, the code object cache
 *   names.c      the interned frame names of a session
 *   session.c    ember_spy_t: processes, subprocesses, one sample
 *   fold.c       folded stacks: counting, text, the SVG flame graph
 *   push.c       the pusher thread (retries and backoff of the agents)
 *   record.c     ember spy record
 *   top.c        ember spy top
 *   dump.c       ember spy dump
 *
 * Everything read from a target is untrusted: it may change while it is
 * read, or be garbage. Every loop over target memory is bounded, every
 * pointer read is checked before it is followed (type objects compared
 * with the addresses of the real ones), and a failed check is a torn read,
 * never a crash.
 */
#ifndef EMBER_SPY_INT_H
#define EMBER_SPY_INT_H

#include <limits.h>
#include <string.h>
#include <sys/types.h>

#include "ember/spy.h"

/* ---- Memory of another process (mem.c) ----------------------------------- */

/* Where reads go: a live process, or (tests, fuzzing) a copy of memory
 * mapped at base. */
typedef struct {
  pid_t pid;            /* > 0: that process, through process_vm_readv */
  const uint8_t *image; /* pid == 0: bytes at [base, base + len) */
  uint64_t base;
  size_t len;
  uint64_t reads; /* reads attempted */
  int err;        /* errno of the last failed read (EPERM, ESRCH, EFAULT) */
} spy_mem_t;

/* Reads n bytes at addr into dst: 0, or -1 unless all of them could be
 * read (m->err says why). */
int spy_read(spy_mem_t *m, uint64_t addr, void *dst, size_t n);
/* Reads as much of [addr, addr + n) as is readable from its start (a read
 * across the end of a mapping stops there): the bytes read, 0..n. */
size_t spy_read_some(spy_mem_t *m, uint64_t addr, void *dst, size_t n);
int spy_read_u64(spy_mem_t *m, uint64_t addr, uint64_t *out /* OUT */);
/* Reads n blocks (size[i] bytes at addr[i] into dst[i]) with as few system
 * calls as possible: one per 64 blocks. Returns how many blocks, from the
 * first, were read whole. */
size_t spy_read_blocks(spy_mem_t *m, const uint64_t *addr, uint8_t *const *dst,
                       const size_t *size, size_t n);

/* Little-endian fields of a block already read. */
static inline uint64_t spy_u64(const uint8_t *p, size_t off) {
  uint64_t v;
  memcpy(&v, p + off, 8);
  return v;
}
static inline uint32_t spy_u32(const uint8_t *p, size_t off) {
  uint32_t v;
  memcpy(&v, p + off, 4);
  return v;
}
static inline int32_t spy_i32(const uint8_t *p, size_t off) {
  int32_t v;
  memcpy(&v, p + off, 4);
  return v;
}

/* ---- /proc (proc.c) ------------------------------------------------------ */

/* One line of /proc/PID/maps. path is borrowed until the next line. */
typedef struct {
  uint64_t start, end, offset;
  char perms[5];
  const char *path; /* "" for anonymous memory */
} spy_map_t;

/* Calls fn for each mapping of pid, in address order, until fn returns
 * non-zero (then returns that). -1 with errno when maps cannot be read. */
int spy_maps(pid_t pid, int (*fn)(void *ctx, const spy_map_t *m), void *ctx);

/* Fields of /proc/PID/stat (or /proc/PID/task/TID/stat). */
typedef struct {
  char state;          /* R running, S sleeping, D disk, Z zombie, T stopped, ... */
  pid_t ppid;
  uint64_t start_time; /* clock ticks after boot: tells a reused pid apart */
  char comm[32];
} spy_stat_t;

/* Parses the text of a stat file. 0 or -1. */
int spy_stat_parse(const char *text, size_t n, spy_stat_t *out /* OUT */);
/* Reads /proc/pid/stat (tid 0) or /proc/pid/task/tid/stat. 0 or -1. */
int spy_stat(pid_t pid, pid_t tid, spy_stat_t *out /* OUT */);
/* The command line of pid, arguments joined by spaces, control characters
 * as '?', cut at max bytes (caller frees); "?" when unreadable. */
char *spy_cmdline(pid_t pid, size_t max);
/* The processes whose parent is one of pids[0..n): appended to *out
 * (caller frees), *nout updated. */
void spy_children(const pid_t *pids, size_t n, pid_t **out, size_t *nout);
/* One line saying how to be allowed to read pid's memory. */
void spy_permission_hint(pid_t pid, char *buf, size_t cap);

/* ---- ELF symbols (elf.c) ------------------------------------------------- */

/* Looks up names[0..count) in the .symtab and .dynsym of the ELF image
 * data[0..n): vaddrs[i] is the symbol's value (0 when absent). *load_vaddr
 * is the page-aligned p_vaddr of the PT_LOAD segment at file offset 0,
 * *has_symbols whether any symbol table was found. EMBER_EINVAL when data
 * is not a 64-bit little-endian ELF file or its tables are broken. Only
 * reads inside data. */
int spy_elf_symbols(const uint8_t *data, size_t n, const char *const *names,
                    size_t count, uint64_t *vaddrs /* OUT */, uint64_t *load_vaddr /* OUT */,
                    bool *has_symbols /* OUT */, ember_err_t *err);

/* ---- CPython layouts (layout.c) ------------------------------------------ */

/* Byte offsets of the fields the sampler reads, for one minor version of
 * CPython on Linux x86-64 (taken from that version's internal headers:
 * Include/internal/pycore_{runtime,interp,frame,gil}.h, cpython/code.h,
 * cpython/pystate.h, cpython/unicodeobject.h). Offsets shared by 3.11 and
 * 3.12 (object headers, tuples, dicts, bytes) are constants in pyobj.c. */
typedef struct {
  unsigned major, minor;
  /* _PyRuntime */
  uint16_t rt_interp_head, rt_main_thread;
  uint16_t rt_gil; /* 3.11: the GIL, inside _PyRuntime; 0 when per interpreter */
  /* PyInterpreterState */
  uint16_t is_next, is_threads_head, is_sysdict, is_modules;
  uint16_t is_gil_ptr; /* 3.12: pointer to the interpreter's GIL */
  /* struct _gil_runtime_state */
  uint16_t gil_last_holder, gil_locked;
  /* PyThreadState */
  uint16_t ts_next, ts_interp, ts_cframe, ts_thread_id, ts_native_id;
  /* _PyCFrame */
  uint16_t cf_current_frame;
  /* _PyInterpreterFrame */
  uint16_t fr_code, fr_previous, fr_globals, fr_prev_instr, fr_owner, fr_localsplus;
  uint8_t owner_cstack; /* the owner of C-stack shim frames; 0xff: none */
  /* PyCodeObject */
  uint16_t co_argcount, co_firstlineno, co_nlocalsplus, co_localsplusnames,
      co_localspluskinds, co_filename, co_name, co_qualname, co_linetable,
      co_firsttraceable, co_code;
  /* PyHeapTypeObject: the shared keys of instances' managed dicts */
  uint16_t ht_cached_keys;
  /* PyASCIIObject, PyCompactUnicodeObject */
  uint16_t str_ascii_size, str_compact_size;
  bool long_tagged; /* ints keep sign and size in lv_tag (3.12) */
} spy_layout_t;

/* The layout for major.minor, or NULL when unsupported. */
const spy_layout_t *spy_layout(unsigned major, unsigned minor);

/* Offsets that 3.11 and 3.12 share. */
#define SPY_OB_TYPE 8
#define SPY_OB_SIZE 16
#define SPY_TYPE_NAME 24    /* PyTypeObject.tp_name */
#define SPY_BYTES_DATA 32   /* PyBytesObject.ob_sval */
#define SPY_TUPLE_ITEMS 24  /* PyTupleObject.ob_item[] */
#define SPY_LIST_ITEMS 24   /* PyListObject.ob_item (a pointer) */
#define SPY_DICT_USED 16    /* PyDictObject.ma_used */
#define SPY_DICT_KEYS 32    /* PyDictObject.ma_keys */
#define SPY_DICT_VALUES 40  /* PyDictObject.ma_values */
#define SPY_KEYS_LOG2_SIZE 8
#define SPY_KEYS_LOG2_INDEX_BYTES 9
#define SPY_KEYS_KIND 10
#define SPY_KEYS_NENTRIES 24
#define SPY_KEYS_INDICES 32
#define SPY_FLOAT_VALUE 16  /* PyFloatObject.ob_fval */
#define SPY_LONG_DIGITS 24  /* ob_digit[], 30-bit digits */
#define SPY_CELL_REF 16     /* PyCellObject.ob_ref */
#define SPY_MODULE_DICT 16  /* PyModuleObject.md_dict */
#define SPY_TYPE_FLAGS 168  /* PyTypeObject.tp_flags */
#define SPY_TPFLAGS_MANAGED_DICT (1u << 4)
#define SPY_CO_FAST_CELL 0x40
#define SPY_CO_FAST_FREE 0x80
#define SPY_FRAME_OWNED_BY_GENERATOR 1

/* ---- One Python process (attach.c) --------------------------------------- */

/* What attaching learnt about a process: where the interpreter is, its
 * version and layout, and where the type objects that tell objects apart
 * live. */
typedef struct {
  uint64_t runtime;  /* &_PyRuntime */
  uint32_t version;  /* PY_VERSION_HEX, from Py_Version */
  const spy_layout_t *L;
  uint64_t t_code, t_str, t_bytes, t_int, t_float, t_bool, t_tuple, t_list, t_dict,
      t_cell, t_module, none, true_obj;
  char file[PATH_MAX]; /* the file holding _PyRuntime, as mapped */
} spy_python_t;

/* Finds the interpreter of pid. Errors as ember_spy_attach's. */
int spy_find_python(pid_t pid, spy_python_t *out /* OUT */, ember_err_t *err);

/* ---- Objects of the target (pyobj.c) ------------------------------------- */

/* Longest text read from one str or bytes object. */
#define SPY_STR_MAX 4096

/* Appends the str at addr as UTF-8 (at most max bytes of text; longer
 * strings are cut on a character boundary; lone surrogates become U+FFFD).
 * 0, or -1 when addr is not a readable str. */
int spy_str(spy_mem_t *m, const spy_python_t *py, uint64_t addr, size_t max,
            ember_buf_t *out);
/* Reads the contents of the bytes object at addr (at most max bytes):
 * caller frees *data. 0 or -1. */
int spy_bytes(spy_mem_t *m, const spy_python_t *py, uint64_t addr, size_t max,
              uint8_t **data /* OUT */, size_t *len /* OUT */);
/* Reads up to max item pointers of the tuple (or list) at addr into
 * items; *n is how many. 0 or -1. */
int spy_sequence(spy_mem_t *m, const spy_python_t *py, uint64_t addr, uint64_t *items,
                 size_t max, size_t *n /* OUT */);
/* The value of key in the dict at addr (str keys compared by content). 0
 * with *value set, or -1 when absent or unreadable. */
int spy_dict_get(spy_mem_t *m, const spy_python_t *py, uint64_t addr, const char *key,
                 uint64_t *value /* OUT */);
/* The value stored under a key whose hash is `hash` in the dict at addr
 * (for keys that are not str: an int's hash is itself below 2**61 - 1).
 * 0 or -1. */
int spy_dict_get_hash(spy_mem_t *m, const spy_python_t *py, uint64_t addr, uint64_t hash,
                      uint64_t *value /* OUT */);
/* The attribute name of the instance at addr, from its __dict__ (the
 * managed dict of 3.11 and 3.12: a dict, or values with the keys its type
 * shares). 0 or -1. */
int spy_instance_attr(spy_mem_t *m, const spy_python_t *py, uint64_t addr, const char *name,
                      uint64_t *value /* OUT */);
/* Appends a short repr of the object at addr: None, True, 42, 1.5, 'text'
 * (cut), b'..', <list of 3 items>, or <Name object at 0x...>; never
 * fails ("<unreadable>"). */
void spy_repr(spy_mem_t *m, const spy_python_t *py, uint64_t addr, ember_buf_t *out);

/* ---- Location tables (linetable.c) --------------------------------------- */

/* The line of the instruction at byte offset addrq of a code object whose
 * location table (co_linetable, 3.11 and 3.12 format) is t[0..n), as
 * PyCode_Addr2Line answers: firstlineno for addrq < 0, -1 where the table
 * says "no line" or ends before addrq. */
int spy_addr2line(const uint8_t *t, size_t n, int firstlineno, int64_t addrq);

/* ---- Names (names.c) ----------------------------------------------------- */

/* Interned strings: the same bytes always get the same id. */
typedef struct {
  char *arena;
  size_t arena_len, arena_cap;
  uint64_t *offs; /* per id: offset << 24 | length (names up to 16 MiB) */
  size_t n, cap;
  uint32_t *slots; /* open addressing, id + 1; 0 empty */
  size_t nslots;
} spy_names_t;

uint32_t spy_names_intern(spy_names_t *t, const char *s, size_t len);
ember_slice_t spy_names_get(const spy_names_t *t, uint32_t id);
void spy_names_free(spy_names_t *t);

/* ---- Threads and frames (walk.c) ----------------------------------------- */

/* A code object, read once and cached by address. */
typedef struct {
  uint64_t addr;      /* 0: empty slot */
  uint64_t check[3];  /* filename, qualname and linetable pointers: the same
                       * address with other pointers is another object */
  int firstlineno, firsttraceable, argcount, nlocalsplus;
  uint64_t localsplusnames, localspluskinds;
  char *qualname, *filename, *module, *shortfile; /* owned, never NULL */
  uint8_t *linetable;
  size_t linetable_len;
  uint32_t name_id; /* "module:qualname (shortfile:firstlineno)" */
} spy_code_t;

/* The process being read and its caches. */
typedef struct {
  pid_t pid;
  uint64_t start_time;
  char *cmdline;
  spy_mem_t mem;
  spy_python_t py;
  spy_code_t **codes; /* open addressing by address; entries owned */
  size_t ncodes, code_slots;
  char **paths; /* sys.path, absolute, longest first */
  size_t npaths;
  char *cwd;
  uint64_t paths_checked_ns;
  uint64_t paths_sig; /* hash of the last sys.path read */
  struct spy_tfd {
    pid_t tid;
    int fd;
    uint64_t seen;
  } * tfds; /* open stat files of the threads */
  size_t ntfds, tfds_cap;
  uint64_t generation; /* samples taken: ages tfds */
  uint32_t root_id;    /* "process PID (cmdline)" */
} spy_proc_t;

/* One thread of the interpreter. */
typedef struct {
  uint64_t tstate;
  uint64_t cframe; /* tstate->cframe, read with the thread */
  pid_t tid;
  unsigned long thread_id;
  bool main, gil, idle;
} spy_thread_t;

/* One frame of a stack. code is borrowed until the code cache changes
 * (the next spy_stack call). */
typedef struct {
  const spy_code_t *code;
  int line; /* the line running, as frame.f_lineno; -1 for none */
  uint64_t addr;
} spy_frame_t;

#define SPY_MAX_THREADS 4096
#define SPY_MAX_INTERPRETERS 64

/* Sets up p for a process found by spy_find_python (mem.pid is pid). */
void spy_proc_init(spy_proc_t *p, pid_t pid, const spy_python_t *py);
void spy_proc_free(spy_proc_t *p);

/* The threads of every interpreter of p (at most max), the GIL holder
 * marked; idle from /proc when with_state (a live process), else false.
 * 0, or -1 when the thread list itself cannot be read (the process
 * exited: m->err ESRCH). */
int spy_threads(spy_proc_t *p, bool with_state, spy_thread_t *out, size_t max,
                size_t *n /* OUT */);

/* Reads t->cframe again (before reading a stack again after a torn
 * read). 0 or -1. */
int spy_thread_refresh(spy_proc_t *p, spy_thread_t *t);

/* The frames of thread t, innermost first (at most max; a deeper stack
 * loses its outermost frames and sets *cut). 0, or -1 when the frames did
 * not hold together (a torn read or garbage). */
int spy_stack(spy_proc_t *p, spy_names_t *names, const spy_thread_t *t, spy_frame_t *out,
              size_t max, size_t *n /* OUT */, bool *cut /* OUT */);

/* Names threads[0..n) by their threading.Thread's name (threading._active
 * keyed by thread ident): names[i] is set (caller frees) or left NULL. */
void spy_thread_names(spy_proc_t *p, const spy_thread_t *threads, size_t n, char **names);

/* Re-reads sys.path when its time has come (every 2 s) and empties the code
 * cache when it changed, so that file names follow it. */
void spy_refresh_paths(spy_proc_t *p, spy_names_t *names, uint64_t now_ns);

/* Appends the locals of the frame at f (names from its code object, simple
 * values), one "prefix name = value\n" line each. */
void spy_frame_locals(spy_proc_t *p, const spy_frame_t *f, const char *prefix,
                      ember_buf_t *out);

/* "name (file:line)" cleaned for the folded format: ';' and line breaks
 * become '_'. */
void spy_clean_name(ember_buf_t *b, const char *s);

/* ---- Sessions (session.c) ------------------------------------------------ */

/* The time of the tick after prev: prev plus between half and one and a
 * half periods (drawn from *seed), the mean interval one period. It may be
 * past already (now): the caller then samples at once. When it is more
 * than a period past, the missed ticks are dropped: the next one is at
 * most half a period from now. */
uint64_t spy_next_tick(uint64_t prev, uint64_t period, uint64_t now, uint64_t *seed);

/* The session itself, for the command files of the module. */
spy_proc_t *spy_session_proc(ember_spy_t *s, size_t i);
size_t spy_session_nprocs(const ember_spy_t *s);
spy_names_t *spy_session_names(ember_spy_t *s);

/* ---- Folded stacks (fold.c) ---------------------------------------------- */

/* Counts of distinct stacks of name ids. */
typedef struct {
  uint32_t *ids; /* every stack's ids, back to back */
  size_t nids, ids_cap;
  struct spy_fold_entry {
    uint64_t hash;
    size_t off; /* into ids */
    uint32_t len;
    uint64_t count;
  } * entries;
  size_t n, cap;
  uint32_t *slots; /* entry index + 1 */
  size_t nslots;
  uint64_t total;
} spy_fold_t;

void spy_fold_add(spy_fold_t *f, const uint32_t *ids, size_t n, uint64_t count);
void spy_fold_reset(spy_fold_t *f);
void spy_fold_free(spy_fold_t *f);
/* Appends "a;b;c count\n" per stack, lines sorted. */
void spy_fold_text(const spy_fold_t *f, const spy_names_t *names, ember_buf_t *out);
/* Appends the standalone SVG flame graph of f (through query's renderer). */
int spy_fold_svg(const spy_fold_t *f, const spy_names_t *names, const char *title,
                 unsigned rate, int64_t from, int64_t until, ember_buf_t *out,
                 ember_err_t *err);

/* ---- Pushing (push.c) ---------------------------------------------------- */

/* Retries follow the rules of ember/client.h (ember_client_retryable,
 * ember_client_retry_delay_ms). At most 6 windows wait; beyond, the oldest
 * is dropped. */
#define SPY_PUSH_TIMEOUT_MS 5000
#define SPY_PUSH_QUEUE 6

typedef struct spy_pusher spy_pusher_t;

typedef struct {
  uint64_t pushes, pushes_dropped, retries, windows_dropped, samples_sent,
      samples_dropped;
  bool refused; /* a push was refused for good (4xx): a bad name or token */
  char last_error[256];
} spy_push_stats_t;

/* Starts the pusher thread. Strings copied. */
int spy_pusher_start(const char *server, const char *series, const char *token,
                     unsigned rate, FILE *log, spy_pusher_t **out, ember_err_t *err);
/* Queues one window's folded text (consumed: *body is taken). Never
 * blocks. */
void spy_pusher_submit(spy_pusher_t *p, int64_t from, int64_t until, char *body,
                       size_t len, uint64_t samples);
/* Sends what waits, giving up timeout_ms from now, stops the thread and
 * frees p; *st gets the counters. */
void spy_pusher_close(spy_pusher_t *p, int timeout_ms, spy_push_stats_t *st);

/* ---- top (top.c) --------------------------------------------------------- */

/* Own and total samples per function. */
typedef struct {
  struct spy_top_row {
    uint32_t id;
    uint64_t own, total;           /* since the start */
    uint64_t own_now, total_now;   /* in the current interval */
    uint64_t seen;                 /* the sample that last counted its total */
  } * rows;
  size_t n, cap;
  uint32_t *slot_of; /* by name id: row + 1 */
  size_t slot_cap;
  uint64_t samples, samples_now, sample_no;
} spy_top_t;

void spy_top_add(spy_top_t *t, const uint32_t *ids, size_t n);
/* Ends an interval: the _now counts start again. */
void spy_top_interval(spy_top_t *t);
void spy_top_free(spy_top_t *t);

typedef enum { SPY_SORT_OWN, SPY_SORT_TOTAL, SPY_SORT_OWN_TIME, SPY_SORT_TOTAL_TIME } spy_sort_t;

/* Appends one screen of `top`: header lines, the column titles, then rows
 * sorted by key, cut to width columns and height lines (ANSI escapes only
 * for the inverse title row). */
void spy_top_screen(const spy_top_t *t, const spy_names_t *names, const char *header,
                    spy_sort_t key, unsigned rate, int width, int height,
                    ember_buf_t *out);

#endif
