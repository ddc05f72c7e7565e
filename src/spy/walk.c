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

/* The thread state holding the GIL of interp, or 0. */
static uint64_t gil_holder(spy_proc_t *p, uint64_t interp) {
  const spy_layout_t *L = p->py.L;
  uint64_t gil = 0;
  if (L->rt_gil) gil = p->py.runtime + L->rt_gil;
  else if (spy_read_u64(&p->mem, interp + L->is_gil_ptr, &gil)) return 0;
  uint8_t g[24];
  if (!gil || spy_read(&p->mem, gil, g, sizeof g)) return 0;
  return spy_i32(g, L->gil_locked) > 0 ? spy_u64(g, L->gil_last_holder) : 0;
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
  uint8_t rt[128];
  *n = 0;
  p->generation++;
  if (spy_read(&p->mem, p->py.runtime, rt, sizeof rt)) return -1;
  uint64_t interp = spy_u64(rt, L->rt_interp_head);
  unsigned long main_thread = (unsigned long)spy_u64(rt, L->rt_main_thread);
  for (int ni = 0; interp && ni < SPY_MAX_INTERPRETERS; ni++) {
    uint64_t holder = gil_holder(p, interp), ts = 0, next_interp = 0;
    if (spy_read_u64(&p->mem, interp + L->is_threads_head, &ts) ||
        spy_read_u64(&p->mem, interp + L->is_next, &next_interp))
      break;
    for (int nt = 0; ts && nt < SPY_MAX_THREADS && *n < max; nt++) {
      uint8_t t[168];
      if (spy_read(&p->mem, ts, t, (size_t)L->ts_native_id + 8)) break;
      spy_thread_t *th = &out[(*n)++];
      th->tstate = ts;
      th->tid = (pid_t)spy_u64(t, L->ts_native_id);
      th->thread_id = (unsigned long)spy_u64(t, L->ts_thread_id);
      th->main = th->thread_id == main_thread;
      th->gil = holder == ts;
      th->idle = with_state && th->tid > 0 ? !thread_active(p, th->tid) : false;
      uint64_t next = spy_u64(t, L->ts_next);
      if (next == ts) break;
      ts = next;
    }
    if (next_interp == interp) break;
    interp = next_interp;
  }
  if (with_state) forget_threads(p);
  return 0;
}

int spy_stack(spy_proc_t *p, spy_names_t *names, const spy_thread_t *t, spy_frame_t *out,
              size_t max, size_t *n, bool *cut) {
  const spy_layout_t *L = p->py.L;
  *n = 0;
  *cut = false;
  if (p->ncodes >= CODE_CACHE_MAX) codes_flush(p); /* no frame points in yet */
  uint64_t cframe, frame;
  if (spy_read_u64(&p->mem, t->tstate + L->ts_cframe, &cframe)) return -1;
  if (!cframe) return 0; /* no Python frames (yet) */
  if (spy_read_u64(&p->mem, cframe + L->cf_current_frame, &frame)) return -1;
  uint8_t fr[128], co[256];
  while (frame) {
    if (*n == max) {
      *cut = true;
      return 0;
    }
    if (spy_read(&p->mem, frame, fr, L->fr_localsplus)) return -1;
    uint64_t code = spy_u64(fr, L->fr_code), prev = spy_u64(fr, L->fr_previous);
    uint8_t owner = fr[L->fr_owner];
    if (prev == frame) return -1;
    if (owner == L->owner_cstack) { /* a shim frame of 3.12: no Python code */
      frame = prev;
      continue;
    }
    if (owner > 3 || spy_read(&p->mem, code, co, L->co_code) ||
        spy_u64(co, SPY_OB_TYPE) != p->py.t_code)
      return -1;
    const spy_code_t *c = code_get(p, names, code, co, spy_u64(fr, L->fr_globals));
    if (!c) return -1;
    uint64_t start = code + L->co_code, instr = spy_u64(fr, L->fr_prev_instr);
    int64_t lasti = ((int64_t)(instr - start)) / 2;
    bool incomplete = owner != SPY_FRAME_OWNED_BY_GENERATOR &&
                      (int64_t)(instr - start) < (int64_t)c->firsttraceable * 2;
    if (!incomplete) {
      spy_frame_t *f = &out[(*n)++];
      f->code = c;
      f->addr = frame;
      f->line = spy_addr2line(c->linetable, c->linetable_len, c->firstlineno, lasti * 2);
    }
    frame = prev;
  }
  return 0;
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
