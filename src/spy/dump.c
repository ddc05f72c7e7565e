/*
 * dump.c - `ember spy dump`: every thread's stack right now, innermost
 * frame first, with the file and line running in each frame exactly as
 * Python reports them (co_qualname, co_filename, frame.f_lineno), and with
 * --locals the local variables that hold simple values.
 *
 * Threads are named as threading names them (threading._active), the
 * main thread first. Threads that wait are shown too, marked idle. A stack that changes while
 * it is read is read again, up to three times; a thread whose stack never
 * holds together says so instead of showing a wrong one.
 */
#include "spy/spy_int.h"

#include <stdlib.h>

#define DUMP_TRIES 3

/* ---- Private functions ------------------------------------------------- */

/* The main thread first, the others in the interpreter's order. */
static void main_first(spy_thread_t *t, size_t n) {
  for (size_t i = 1; i < n; i++)
    if (t[i].main) {
      spy_thread_t m = t[i];
      memmove(&t[1], &t[0], i * sizeof *t);
      t[0] = m;
      return;
    }
}

static void free_names(char **names, size_t n) {
  for (size_t i = 0; i < n; i++) free(names[i]);
}

static void dump_thread(spy_proc_t *p, spy_names_t *names, spy_thread_t *t,
                        const char *name, spy_frame_t *frames, size_t max, bool locals,
                        ember_buf_t *out) {
  ember_buf_printf(out, "Thread %d (%s%s)", (int)t->tid, t->idle ? "idle" : "active",
                   t->gil ? ", holds the GIL" : "");
  if (name || t->main) {
    ember_buf_puts(out, ": \"");
    for (const char *c = name ? name : "MainThread"; *c; c++)
      ember_buf_putc(out, (unsigned char)*c < 0x20 || *c == '"' ? '?' : *c);
    ember_buf_putc(out, '"');
  }
  ember_buf_putc(out, '\n');
  size_t n = 0;
  bool cut = false;
  int rc = -1;
  for (int i = 0; i < DUMP_TRIES && rc; i++)
    if (i == 0 || spy_thread_refresh(p, t) == 0) rc = spy_stack(p, names, t, frames, max, &n, &cut);
  if (rc) {
    ember_buf_puts(out, "    (its stack changed while it was read; dump again)\n");
    return;
  }
  if (!n) ember_buf_puts(out, "    (no Python frames)\n");
  for (size_t i = 0; i < n; i++) {
    const spy_frame_t *f = &frames[i];
    ember_buf_printf(out, "    %s (%s:", f->code->qualname, f->code->filename);
    if (f->line >= 0) ember_buf_printf(out, "%d)\n", f->line);
    else ember_buf_puts(out, "?)\n");
    if (locals) spy_frame_locals(p, f, "        ", out);
  }
  if (cut) ember_buf_puts(out, "    ... (outer frames not shown)\n");
}

/* ---- API --------------------------------------------------------------- */

int ember_spy_dump(ember_spy_t *s, bool locals, ember_buf_t *out, ember_err_t *err) {
  enum { MAX_FRAMES = 4096 };
  spy_thread_t *threads = ember_malloc(SPY_MAX_THREADS * sizeof *threads);
  spy_frame_t *frames = ember_malloc(MAX_FRAMES * sizeof *frames);
  char **names = ember_calloc(SPY_MAX_THREADS, sizeof *names);
  int rc = EMBER_OK;
  size_t np = spy_session_nprocs(s);
  if (!np) rc = ember_err_set(err, EMBER_ENOTFOUND, "no Python process to dump");
  for (size_t i = 0; rc == 0 && i < np; i++) {
    spy_proc_t *p = spy_session_proc(s, i);
    uint32_t v = p->py.version;
    spy_refresh_paths(p, spy_session_names(s), ember_mono_ns());
    size_t nt = 0;
    if (spy_threads(p, p->pid > 0, threads, SPY_MAX_THREADS, &nt)) {
      rc = ember_err_set(err, EMBER_ENOTFOUND, "process %d exited", (int)p->pid);
      break;
    }
    ember_buf_printf(out, "%sProcess %d: %s\nPython %u.%u.%u (%s)\n", i ? "\n" : "",
                     (int)p->pid, p->cmdline, v >> 24, (v >> 16) & 0xff, (v >> 8) & 0xff,
                     p->py.file);
    if (!nt) ember_buf_puts(out, "\n(no Python threads yet)\n");
    main_first(threads, nt);
    spy_thread_names(p, threads, nt, names);
    for (size_t k = 0; k < nt; k++) {
      ember_buf_putc(out, '\n');
      dump_thread(p, spy_session_names(s), &threads[k], names[k], frames, MAX_FRAMES, locals,
                  out);
    }
    free_names(names, nt);
  }
  free(threads);
  free(frames);
  free(names);
  return rc;
}
