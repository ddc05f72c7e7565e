/*
 * walk.c - the threads of an interpreter and the frames of each thread.
 *
 * From _PyRuntime: interpreters.head, then each interpreter's threads
 * (PyThreadState, linked by next), then each thread's innermost frame
 * (tstate->cframe->current_frame) and the chain of _PyInterpreterFrame
 * linked by previous. Each frame names its code object, which is read once
 * and cached by address (its names, file, location table), so a sample
 * costs two small reads per frame: the frame and the head of its code
 * object, compared with the cache to notice an address reused by another
 * code object.
 *
 * Frames are kept the way Python itself shows them: C-stack shim frames
 * (3.12) and frames that have not started yet (before their RESUME: an
 * "incomplete" frame, which sys._getframe skips too) are left out.
 *
 * Names follow Ember's Python agent, so that a process profiled by either
 * looks the same: `module:qualname (file:line)`, where module is the
 * frame's __name__ (for __main__, the script's file name without .py),
 * file the path relative to the longest sys.path entry holding it (else
 * its base name) and line the line the function starts on.
 */
#include "spy/spy_int.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

/* A code object cache holds at most this many; then it starts again. */
#define CODE_CACHE_MAX 16384
#define PATHS_EVERY_NS 2000000000ull
#define SYS_PATH_MAX 256
/* A location table or name longer than this is not believed. */
#define LINETABLE_MAX (1u << 20)

/* ---- Private functions: the code object cache ---------------------------- */

/* Entries are allocated one by one, so that the frames of a stack being
 * walked keep pointing at them while the table grows; the table is only
 * emptied between stacks. */

static void code_clear(spy_code_t *c) {
  free(c->qualname);
  free(c->filename);
  free(c->module);
  free(c->shortfile);
  free(c->linetable);
  memset(c, 0, sizeof *c);
}

static void codes_flush(spy_proc_t *p) {
  for (size_t i = 0; i < p->code_slots; i++)
    if (p->codes[i]) {
      code_clear(p->codes[i]);
      free(p->codes[i]);
      p->codes[i] = NULL;
    }
  p->ncodes = 0;
}

/* The slot of addr: its entry, or the empty slot where it would go. */
static size_t code_slot(const spy_proc_t *p, uint64_t addr) {
  size_t mask = p->code_slots - 1;
  size_t i = (size_t)(ember_hash_bytes(&addr, sizeof addr)) & mask;
  while (p->codes[i] && p->codes[i]->addr != addr) i = (i + 1) & mask;
  return i;
}

/* Room for one more entry. */
static void codes_grow(spy_proc_t *p) {
  if ((p->ncodes + 1) * 2 <= p->code_slots) return;
  size_t old = p->code_slots;
  spy_code_t **was = p->codes;
  p->code_slots = old ? old * 2 : 256;
  p->codes = ember_calloc(p->code_slots, sizeof *p->codes);
  for (size_t i = 0; i < old; i++)
    if (was[i]) p->codes[code_slot(p, was[i]->addr)] = was[i];
  free(was);
}

/* ---- Private functions: names ------------------------------------------ */

static const char *base_name(const char *path) {
  const char *s = strrchr(path, '/');
  return s ? s + 1 : path;
}

/* The file name as the agent shows it: relative to the longest sys.path
 * entry holding it, else its base name; "<frozen ...>" and the like as
 * they are. */
static char *short_file(const spy_proc_t *p, const char *file) {
  if (!file[0]) return ember_strdup("?");
  if (file[0] == '<') return ember_strdup(file);
  ember_buf_t abs = EMBER_BUF_INIT;
  if (file[0] != '/' && p->cwd) ember_buf_printf(&abs, "%s/", p->cwd);
  ember_buf_puts(&abs, file);
  char *out = NULL;
  for (size_t i = 0; i < p->npaths && !out; i++) {
    size_t n = strlen(p->paths[i]);
    if (abs.len > n && !strncmp(abs.data, p->paths[i], n)) out = ember_strdup(abs.data + n);
  }
  if (!out) out = ember_strdup(base_name(abs.data));
  ember_buf_free(&abs);
  return out;
}

/* The frame's module: its globals' __name__, the script's stem for
 * __main__, "?" when there is none. */
static char *module_name(spy_proc_t *p, uint64_t globals, const char *file) {
  ember_buf_t b = EMBER_BUF_INIT;
  uint64_t name;
  if (!globals || spy_dict_get(&p->mem, &p->py, globals, "__name__", &name) ||
      spy_str(&p->mem, &p->py, name, 512, &b) || !b.len) {
    ember_buf_free(&b);
    return ember_strdup("?");
  }
  if (!strcmp(b.data, "__main__")) {
    const char *base = base_name(file);
    const char *dot = strrchr(base, '.');
    size_t n = dot && dot != base ? (size_t)(dot - base) : strlen(base);
    if (n) {
      ember_buf_free(&b);
      return ember_strndup(base, n);
    }
  }
  return ember_buf_take(&b, NULL);
}

static void set_name(spy_names_t *names, spy_code_t *c) {
  ember_buf_t b = EMBER_BUF_INIT;
  char line[16];
  snprintf(line, sizeof line, "%d", c->firstlineno);
  ember_buf_printf(&b, "%s:%s (%s:%s)", c->module, c->qualname, c->shortfile, line);
  ember_buf_t clean = EMBER_BUF_INIT;
  spy_clean_name(&clean, b.data);
  c->name_id = spy_names_intern(names, clean.data, clean.len);
  ember_buf_free(&b);
  ember_buf_free(&clean);
}

/* Reads what the cache keeps of the code object at addr, whose head is in
 * co. 0 or -1 (unreadable: a torn read). */
static int code_load(spy_proc_t *p, spy_names_t *names, uint64_t addr, const uint8_t *co,
                     uint64_t globals, spy_code_t *c) {
  const spy_layout_t *L = p->py.L;
  memset(c, 0, sizeof *c);
  ember_buf_t q = EMBER_BUF_INIT, f = EMBER_BUF_INIT;
  uint64_t qual = spy_u64(co, L->co_qualname), file = spy_u64(co, L->co_filename);
  uint64_t table = spy_u64(co, L->co_linetable);
  if (spy_str(&p->mem, &p->py, qual, SPY_STR_MAX, &q) ||
      spy_str(&p->mem, &p->py, file, SPY_STR_MAX, &f) ||
      spy_bytes(&p->mem, &p->py, table, LINETABLE_MAX, &c->linetable, &c->linetable_len)) {
    ember_buf_free(&q);
    ember_buf_free(&f);
    return -1;
  }
  c->addr = addr;
  c->check[0] = file;
  c->check[1] = qual;
  c->check[2] = table;
  c->firstlineno = spy_i32(co, L->co_firstlineno);
  c->firsttraceable = spy_i32(co, L->co_firsttraceable);
  c->argcount = spy_i32(co, L->co_argcount);
  c->nlocalsplus = spy_i32(co, L->co_nlocalsplus);
  c->localsplusnames = spy_u64(co, L->co_localsplusnames);
  c->localspluskinds = spy_u64(co, L->co_localspluskinds);
  c->qualname = q.len ? ember_buf_take(&q, NULL) : ember_strdup("?");
  c->filename = f.len ? ember_buf_take(&f, NULL) : ember_strdup("?");
  ember_buf_free(&q);
  ember_buf_free(&f);
  c->module = module_name(p, globals, c->filename);
  c->shortfile = short_file(p, c->filename);
  set_name(names, c);
  return 0;
}

/* The cached code object at addr (head in co), loaded when missing or
 * stale. NULL on a torn read. */
static const spy_code_t *code_get(spy_proc_t *p, spy_names_t *names, uint64_t addr,
                                  const uint8_t *co, uint64_t globals) {
  const spy_layout_t *L = p->py.L;
  codes_grow(p);
  size_t i = code_slot(p, addr);
  spy_code_t *c = p->codes[i];
  if (c && c->check[0] == spy_u64(co, L->co_filename) &&
      c->check[1] == spy_u64(co, L->co_qualname) &&
      c->check[2] == spy_u64(co, L->co_linetable))
    return c;
  spy_code_t fresh;
  if (code_load(p, names, addr, co, globals, &fresh)) return NULL;
  if (c) { /* the address now holds another code object */
    code_clear(c);
  } else {
    c = p->codes[i] = ember_malloc(sizeof *c);
    p->ncodes++;
  }
  *c = fresh;
  return c;
}

/* ---- Private functions: threads ---------------------------------------- */

/* Whether thread tid of p is running on a CPU, from its stat file, which
 * stays open between samples (read again from offset 0). */
static bool thread_active(spy_proc_t *p, pid_t tid) {
  struct spy_tfd *t = NULL;
  for (size_t i = 0; i < p->ntfds && !t; i++)
    if (p->tfds[i].tid == tid) t = &p->tfds[i];
  if (!t) {
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/task/%d/stat", (int)p->pid, (int)tid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return false;
    ember_grow((void **)&p->tfds, &p->tfds_cap, p->ntfds + 1, sizeof *p->tfds);
    t = &p->tfds[p->ntfds++];
    t->tid = tid;
    t->fd = fd;
  }
  t->seen = p->generation;
  char buf[512];
  ssize_t n = pread(t->fd, buf, sizeof buf - 1, 0);
  spy_stat_t st;
  if (n <= 0 || spy_stat_parse(buf, (size_t)n, &st)) return false;
  return st.state == 'R';
}

/* Closes the stat files of threads not seen in this sample. */
static void forget_threads(spy_proc_t *p) {
  size_t k = 0;
  for (size_t i = 0; i < p->ntfds; i++) {
    if (p->tfds[i].seen == p->generation) p->tfds[k++] = p->tfds[i];
    else close(p->tfds[i].fd);
  }
  p->ntfds = k;
}

/* The thread state holding the GIL, from the blocks already read of
 * _PyRuntime (3.11) or of the interpreter (3.12: one more read). */
static uint64_t gil_holder(spy_proc_t *p, const uint8_t *rt, const uint8_t *is) {
  const spy_layout_t *L = p->py.L;
  uint8_t g[24];
  const uint8_t *gil = rt + L->rt_gil;
  if (!L->rt_gil) {
    uint64_t at = spy_u64(is, L->is_gil_ptr);
    if (!at || spy_read(&p->mem, at, g, sizeof g)) return 0;
    gil = g;
  }
  return spy_i32(gil, L->gil_locked) > 0 ? spy_u64(gil, L->gil_last_holder) : 0;
}

static size_t max3(size_t a, size_t b, size_t c) {
  return a > b ? (a > c ? a : c) : (b > c ? b : c);
}

/* ---- API --------------------------------------------------------------- */

void spy_clean_name(ember_buf_t *b, const char *s) {
  for (; *s; s++) ember_buf_putc(b, *s == ';' || *s == '\n' || *s == '\r' ? '_' : *s);
  if (!b->data) ember_buf_reserve(b, 0);
}

void spy_proc_init(spy_proc_t *p, pid_t pid, const spy_python_t *py) {
  memset(p, 0, sizeof *p);
  p->pid = pid;
  p->mem.pid = pid;
  p->py = *py;
  p->cmdline = pid > 0 ? spy_cmdline(pid, 200) : ember_strdup("?");
  spy_stat_t st;
  if (pid > 0 && spy_stat(pid, 0, &st) == 0) p->start_time = st.start_time;
  char link[64], cwd[PATH_MAX];
  snprintf(link, sizeof link, "/proc/%d/cwd", (int)pid);
  ssize_t k = pid > 0 ? readlink(link, cwd, sizeof cwd - 1) : -1;
  if (k > 0) p->cwd = ember_strndup(cwd, (size_t)k);
}

void spy_proc_free(spy_proc_t *p) {
  if (!p) return;
  codes_flush(p);
  free(p->codes);
  for (size_t i = 0; i < p->npaths; i++) free(p->paths[i]);
  free(p->paths);
  for (size_t i = 0; i < p->ntfds; i++) close(p->tfds[i].fd);
  free(p->tfds);
  free(p->cmdline);
  free(p->cwd);
  memset(p, 0, sizeof *p);
}

int spy_threads(spy_proc_t *p, bool with_state, spy_thread_t *out, size_t max, size_t *n) {
  const spy_layout_t *L = p->py.L;
  /* One read for what _PyRuntime holds (the 3.11 GIL included), one per
   * interpreter, one per thread. */
  uint8_t rt[512], is[512];
  size_t rt_len = max3(L->rt_interp_head, L->rt_main_thread, L->rt_gil ? L->rt_gil + 16u : 0) + 8;
  size_t is_len = max3(L->is_threads_head, L->is_next, L->is_gil_ptr) + 8;
  *n = 0;
  p->generation++;
  if (spy_read(&p->mem, p->py.runtime, rt, rt_len)) return -1;
  uint64_t interp = spy_u64(rt, L->rt_interp_head);
  unsigned long main_thread = (unsigned long)spy_u64(rt, L->rt_main_thread);
  for (int ni = 0; interp && ni < SPY_MAX_INTERPRETERS; ni++) {
    if (spy_read(&p->mem, interp, is, is_len)) break;
    uint64_t holder = gil_holder(p, rt, is), ts = spy_u64(is, L->is_threads_head);
    for (int nt = 0; ts && nt < SPY_MAX_THREADS && *n < max; nt++) {
      uint8_t t[168];
      if (spy_read(&p->mem, ts, t, (size_t)L->ts_native_id + 8)) break;
      spy_thread_t *th = &out[(*n)++];
      th->tstate = ts;
      th->cframe = spy_u64(t, L->ts_cframe);
      th->tid = (pid_t)spy_u64(t, L->ts_native_id);
      th->thread_id = (unsigned long)spy_u64(t, L->ts_thread_id);
      th->main = th->thread_id == main_thread;
      th->gil = holder == ts;
      th->idle = with_state && th->tid > 0 ? !thread_active(p, th->tid) : false;
      uint64_t next = spy_u64(t, L->ts_next);
      if (next == ts) break;
      ts = next;
    }
    uint64_t next_interp = spy_u64(is, L->is_next);
    if (next_interp == interp) break;
    interp = next_interp;
  }
  if (with_state) forget_threads(p);
  return 0;
}

int spy_thread_refresh(spy_proc_t *p, spy_thread_t *t) {
  return spy_read_u64(&p->mem, t->tstate + p->py.L->ts_cframe, &t->cframe);
}

/* A frame as read, before its code object is. */
typedef struct {
  uint64_t addr, code, instr, globals;
  uint8_t owner;
} raw_frame_t;

/* Frames read before their code objects are read in one batch. */
#define STACK_CHUNK 32
#define CODE_HEAD_MAX 256
#define PAGE 4096u

/* The page a frame was read from. Frames live on their thread's data stack,
 * each caller just below its callee, so the frames of one stack sit a few
 * pages at most: reading the whole page under a frame brings the next
 * frames with it, one system call for many frames (and a snapshot of them
 * taken at one moment). */
typedef struct {
  uint64_t start;
  size_t len;
  uint8_t buf[PAGE + 128];
} frame_window_t;

/* Reads n bytes of the frame at addr, from the window when it holds them,
 * else by reading from the start of addr's page up to the frame's end. */
static int read_frame(spy_mem_t *m, frame_window_t *w, uint64_t addr, uint8_t *out, size_t n) {
  if (addr >= w->start && addr - w->start + n <= w->len) {
    memcpy(out, w->buf + (addr - w->start), n);
    return 0;
  }
  uint64_t lo = addr & ~(uint64_t)(PAGE - 1);
  if (addr + n - lo <= sizeof w->buf && spy_read(m, lo, w->buf, (size_t)(addr + n - lo)) == 0) {
    w->start = lo;
    w->len = (size_t)(addr + n - lo);
    memcpy(out, w->buf + (addr - lo), n);
    return 0;
  }
  w->len = 0;
  return spy_read(m, addr, out, n);
}

int spy_stack(spy_proc_t *p, spy_names_t *names, const spy_thread_t *t, spy_frame_t *out,
              size_t max, size_t *n, bool *cut) {
  const spy_layout_t *L = p->py.L;
  *n = 0;
  *cut = false;
  if (p->ncodes >= CODE_CACHE_MAX) codes_flush(p); /* no frame points in yet */
  uint64_t frame;
  if (!t->cframe) return 0; /* no Python frames (yet) */
  if (spy_read_u64(&p->mem, t->cframe + L->cf_current_frame, &frame)) return -1;
  raw_frame_t raw[STACK_CHUNK];
  uint8_t heads[STACK_CHUNK][CODE_HEAD_MAX], *dst[STACK_CHUNK];
  frame_window_t window;
  window.len = 0;
  window.start = 0;
  uint64_t addrs[STACK_CHUNK];
  size_t sizes[STACK_CHUNK];
  while (frame) {
    /* The frames of this chunk, each one read... */
    size_t k = 0;
    while (frame && k < STACK_CHUNK) {
      uint8_t fr[128];
      if (read_frame(&p->mem, &window, frame, fr, L->fr_localsplus)) return -1;
      raw_frame_t *r = &raw[k];
      r->addr = frame;
      r->code = spy_u64(fr, L->fr_code);
      r->instr = spy_u64(fr, L->fr_prev_instr);
      r->globals = spy_u64(fr, L->fr_globals);
      r->owner = fr[L->fr_owner];
      uint64_t prev = spy_u64(fr, L->fr_previous);
      if (prev == frame || r->owner > 3) return -1;
      frame = prev;
      if (r->owner == L->owner_cstack) continue; /* a 3.12 shim: no Python code */
      addrs[k] = r->code;
      dst[k] = heads[k];
      sizes[k] = L->co_code;
      k++;
    }
    /* ... then the heads of their code objects, all in one read. */
    if (spy_read_blocks(&p->mem, addrs, dst, sizes, k) < k) return -1;
    for (size_t i = 0; i < k; i++) {
      const raw_frame_t *r = &raw[i];
      if (spy_u64(heads[i], SPY_OB_TYPE) != p->py.t_code) return -1;
      const spy_code_t *c = code_get(p, names, r->code, heads[i], r->globals);
      if (!c) return -1;
      int64_t offset = (int64_t)(r->instr - (r->code + L->co_code));
      if (r->owner != SPY_FRAME_OWNED_BY_GENERATOR && offset < (int64_t)c->firsttraceable * 2)
        continue; /* not started yet: Python does not show it either */
      if (*n == max) {
        *cut = true;
        return 0;
      }
      spy_frame_t *f = &out[(*n)++];
      f->code = c;
      f->addr = r->addr;
      f->line = spy_addr2line(c->linetable, c->linetable_len, c->firstlineno,
                              offset / 2 * 2);
    }
  }
  return 0;
}

void spy_thread_names(spy_proc_t *p, const spy_thread_t *threads, size_t n, char **names) {
  const spy_layout_t *L = p->py.L;
  uint64_t interp, modules, threading, globals, active;
  for (size_t i = 0; i < n; i++) names[i] = NULL;
  if (spy_read_u64(&p->mem, p->py.runtime + L->rt_interp_head, &interp) || !interp ||
      spy_read_u64(&p->mem, interp + L->is_modules, &modules) ||
      spy_dict_get(&p->mem, &p->py, modules, "threading", &threading) ||
      spy_read_u64(&p->mem, threading + SPY_MODULE_DICT, &globals) ||
      spy_dict_get(&p->mem, &p->py, globals, "_active", &active))
    return;
  for (size_t i = 0; i < n; i++) {
    /* _active maps get_ident() (the pthread id) to the Thread; an int's
     * hash is the int itself below 2**61 - 1. */
    uint64_t ident = threads[i].thread_id % ((1ull << 61) - 1), thread, name;
    ember_buf_t b = EMBER_BUF_INIT;
    if (spy_dict_get_hash(&p->mem, &p->py, active, ident, &thread) == 0 &&
        spy_instance_attr(&p->mem, &p->py, thread, "_name", &name) == 0 &&
        spy_str(&p->mem, &p->py, name, 200, &b) == 0 && b.len)
      names[i] = ember_buf_take(&b, NULL);
    ember_buf_free(&b);
  }
}

void spy_refresh_paths(spy_proc_t *p, spy_names_t *names, uint64_t now_ns) {
  (void)names;
  if (p->paths_checked_ns && now_ns - p->paths_checked_ns < PATHS_EVERY_NS) return;
  p->paths_checked_ns = now_ns ? now_ns : 1;
  const spy_layout_t *L = p->py.L;
  uint64_t interp, sysdict, list, items[SYS_PATH_MAX];
  size_t n = 0;
  if (spy_read_u64(&p->mem, p->py.runtime + L->rt_interp_head, &interp) || !interp ||
      spy_read_u64(&p->mem, interp + L->is_sysdict, &sysdict) || !sysdict ||
      spy_dict_get(&p->mem, &p->py, sysdict, "path", &list) ||
      spy_sequence(&p->mem, &p->py, list, items, SYS_PATH_MAX, &n))
    return;
  char **paths = ember_calloc(n + 1, sizeof *paths);
  size_t k = 0;
  uint64_t sig = 0x9e3779b97f4a7c15ull;
  for (size_t i = 0; i < n; i++) {
    ember_buf_t b = EMBER_BUF_INIT;
    if (spy_str(&p->mem, &p->py, items[i], SPY_STR_MAX, &b)) {
      ember_buf_free(&b);
      continue;
    }
    sig = (sig ^ ember_hash_bytes(b.data ? b.data : "", b.len)) * 0x100000001b3ull;
    ember_buf_t abs = EMBER_BUF_INIT;
    if ((!b.len || b.data[0] != '/') && p->cwd) ember_buf_printf(&abs, "%s/", p->cwd);
    if (b.len) ember_buf_append(&abs, b.data, b.len);
    while (abs.len > 1 && abs.data[abs.len - 1] == '/') abs.data[--abs.len] = '\0';
    ember_buf_putc(&abs, '/');
    paths[k++] = ember_buf_take(&abs, NULL);
    ember_buf_free(&b);
  }
  if (sig == p->paths_sig && p->npaths == k) {
    for (size_t i = 0; i < k; i++) free(paths[i]);
    free(paths);
    return;
  }
  /* Longest first, so the first prefix that matches is the longest. */
  for (size_t i = 1; i < k; i++)
    for (size_t j = i; j > 0 && strlen(paths[j]) > strlen(paths[j - 1]); j--) {
      char *tmp = paths[j];
      paths[j] = paths[j - 1];
      paths[j - 1] = tmp;
    }
  for (size_t i = 0; i < p->npaths; i++) free(p->paths[i]);
  free(p->paths);
  p->paths = paths;
  p->npaths = k;
  p->paths_sig = sig;
  codes_flush(p); /* names were made with the old sys.path */
}

void spy_frame_locals(spy_proc_t *p, const spy_frame_t *f, const char *prefix,
                      ember_buf_t *out) {
  const spy_code_t *c = f->code;
  const spy_layout_t *L = p->py.L;
  enum { MAX_LOCALS = 256 };
  uint64_t names[MAX_LOCALS], values[MAX_LOCALS];
  uint8_t *kinds = NULL;
  size_t nnames = 0, nkinds = 0;
  size_t want = c->nlocalsplus > 0 ? (size_t)c->nlocalsplus : 0;
  if (want > MAX_LOCALS) want = MAX_LOCALS;
  if (!want || spy_sequence(&p->mem, &p->py, c->localsplusnames, names, want, &nnames) ||
      spy_bytes(&p->mem, &p->py, c->localspluskinds, MAX_LOCALS * 4, &kinds, &nkinds) ||
      spy_read(&p->mem, f->addr + L->fr_localsplus, values, nnames * 8)) {
    free(kinds);
    return;
  }
  for (size_t i = 0; i < nnames; i++) {
    uint64_t v = values[i], type;
    if (!v) continue; /* not bound yet */
    if (i < nkinds && (kinds[i] & (SPY_CO_FAST_CELL | SPY_CO_FAST_FREE)) &&
        spy_read_u64(&p->mem, v + SPY_OB_TYPE, &type) == 0 && type == p->py.t_cell &&
        (spy_read_u64(&p->mem, v + SPY_CELL_REF, &v) || !v))
      continue; /* an empty cell */
    ember_buf_t name = EMBER_BUF_INIT;
    if (spy_str(&p->mem, &p->py, names[i], 256, &name) == 0) {
      ember_buf_printf(out, "%s%s = ", prefix, name.data ? name.data : "");
      spy_repr(&p->mem, &p->py, v, out);
      ember_buf_putc(out, '\n');
    }
    ember_buf_free(&name);
  }
  free(kinds);
}
