/*
 * session.c - ember_spy_t: the processes being read and one sample of all
 * their threads.
 *
 * A session starts with one process. With --subprocesses it looks for new
 * children of the processes it knows once a second (through /proc), and
 * attaches to those that are Python; the others are remembered (a forked
 * child may exec Python later: it is tried a few times) so that their own
 * children are found too. A process that exits leaves the session; the
 * session ends when the first one does.
 *
 * A stack that does not hold together (a torn read: the target changed it
 * while it was read) is read once more, then dropped and counted.
 */
#include "spy/spy_int.h"

#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#define SCAN_EVERY_NS 1000000000ull
/* Times a child that is not (yet) Python is tried before it is ignored. */
#define CHILD_TRIES 5
/* Frames one walk follows before it gives up on the rest. */
#define SPY_MAX_FRAMES 16384

/* ---- Types ------------------------------------------------------------- */

/* A descendant that is not a Python process (yet). */
typedef struct {
  pid_t pid;
  uint64_t start_time;
  int tries;
} other_t;

struct ember_spy {
  ember_spy_opts_t o;
  spy_names_t names;
  spy_proc_t **procs; /* procs[0] is the first process when it is Python */
  size_t nprocs, procs_cap;
  pid_t root;
  bool root_python;
  bool root_gone;
  other_t *others;
  size_t nothers, others_cap;
  uint64_t next_scan_ns;
  ember_spy_stats_t st;
  spy_thread_t *threads;
  spy_frame_t *frames;
  uint32_t *ids;
  uint32_t truncated_id;
};

/* ---- Private functions ------------------------------------------------- */

static uint32_t intern_cleaned(ember_spy_t *s, const char *text) {
  ember_buf_t b = EMBER_BUF_INIT;
  spy_clean_name(&b, text);
  uint32_t id = spy_names_intern(&s->names, b.data, b.len);
  ember_buf_free(&b);
  return id;
}

static int attach_one(ember_spy_t *s, pid_t pid, ember_err_t *err) {
  spy_python_t py;
  int rc = spy_find_python(pid, &py, err);
  if (rc) return rc;
  spy_proc_t *p = ember_calloc(1, sizeof *p);
  spy_proc_init(p, pid, &py);
  char head[300];
  snprintf(head, sizeof head, "process %d (%s)", (int)pid, p->cmdline);
  p->root_id = intern_cleaned(s, head);
  spy_refresh_paths(p, &s->names, ember_mono_ns());
  ember_grow((void **)&s->procs, &s->procs_cap, s->nprocs + 1, sizeof *s->procs);
  s->procs[s->nprocs++] = p;
  s->st.processes++;
  return EMBER_OK;
}

static void drop_proc(ember_spy_t *s, size_t i) {
  spy_proc_free(s->procs[i]);
  free(s->procs[i]);
  memmove(&s->procs[i], &s->procs[i + 1], (s->nprocs - i - 1) * sizeof *s->procs);
  s->nprocs--;
}

/* Whether pid still runs (a zombie does not). */
static bool alive(pid_t pid, uint64_t start_time) {
  spy_stat_t st;
  return spy_stat(pid, 0, &st) == 0 && st.state != 'Z' &&
         (!start_time || st.start_time == start_time);
}

static bool known(const ember_spy_t *s, pid_t pid) {
  if (pid == s->root) return true;
  for (size_t i = 0; i < s->nprocs; i++)
    if (s->procs[i]->pid == pid) return true;
  for (size_t i = 0; i < s->nothers; i++)
    if (s->others[i].pid == pid) return true;
  return false;
}

/* Tries the descendants that are not Python yet once more; forgets those
 * that exited or were tried enough. */
static void retry_others(ember_spy_t *s) {
  size_t k = 0;
  for (size_t i = 0; i < s->nothers; i++) {
    other_t o = s->others[i];
    if (!alive(o.pid, o.start_time)) continue;
    if (o.tries < CHILD_TRIES && attach_one(s, o.pid, NULL) == 0) continue;
    o.tries++;
    s->others[k++] = o;
  }
  s->nothers = k;
}

/* Finds new descendants of the processes of the session. */
static void scan(ember_spy_t *s) {
  retry_others(s);
  for (int level = 0; level < 8; level++) {
    size_t n = 1 + s->nprocs + s->nothers, nkids = 0;
    pid_t *parents = ember_malloc(n * sizeof *parents), *kids = NULL;
    size_t k = 0;
    parents[k++] = s->root;
    for (size_t i = 0; i < s->nprocs; i++) parents[k++] = s->procs[i]->pid;
    for (size_t i = 0; i < s->nothers; i++) parents[k++] = s->others[i].pid;
    spy_children(parents, k, &kids, &nkids);
    size_t added = 0;
    for (size_t i = 0; i < nkids; i++) {
      if (known(s, kids[i])) continue;
      added++;
      if (attach_one(s, kids[i], NULL) == 0) continue;
      spy_stat_t st;
      ember_grow((void **)&s->others, &s->others_cap, s->nothers + 1, sizeof *s->others);
      s->others[s->nothers++] = (other_t){kids[i], spy_stat(kids[i], 0, &st) ? 0 : st.start_time, 1};
    }
    free(parents);
    free(kids);
    if (!added) break;
  }
}

/* The name ids of one stack, root first, into s->ids. */
static size_t stack_ids(ember_spy_t *s, spy_proc_t *p, const spy_thread_t *t, size_t n) {
  size_t k = 0;
  if (s->o.processes) s->ids[k++] = p->root_id;
  if (s->o.threads) {
    char name[64];
    snprintf(name, sizeof name, "thread %d%s", (int)t->tid, t->main ? " (MainThread)" : "");
    s->ids[k++] = spy_names_intern(&s->names, name, strlen(name));
  }
  size_t keep = n, room = EMBER_SPY_MAX_DEPTH;
  if (n > room) keep = room - 1; /* the root-most frames, then [truncated] */
  for (size_t j = 0; j < keep; j++) {
    const spy_frame_t *f = &s->frames[n - 1 - j];
    if (!s->o.lines) {
      s->ids[k++] = f->code->name_id;
      continue;
    }
    char text[SPY_STR_MAX * 3 + 64];
    const spy_code_t *c = f->code;
    snprintf(text, sizeof text, "%s:%s (%s:%d)", c->module, c->qualname, c->shortfile,
             f->line >= 0 ? f->line : c->firstlineno);
    s->ids[k++] = intern_cleaned(s, text);
  }
  if (keep < n) s->ids[k++] = s->truncated_id;
  return k;
}

/* One sample of p's threads. -1 when p cannot be read any more. */
static int sample_proc(ember_spy_t *s, spy_proc_t *p, ember_spy_stack_fn fn, void *ctx,
                       uint64_t now) {
  spy_refresh_paths(p, &s->names, now);
  size_t nt;
  uint64_t reads = p->mem.reads;
  bool with_state = !s->o.idle && !s->o.gil;
  int rc = spy_threads(p, with_state, s->threads, SPY_MAX_THREADS, &nt);
  for (size_t i = 0; rc == 0 && i < nt; i++) {
    spy_thread_t *t = &s->threads[i];
    if (s->o.gil && !t->gil) continue;
    if (t->idle && !s->o.idle) {
      s->st.idle++;
      continue;
    }
    size_t n = 0;
    bool cut;
    int walked = spy_stack(p, &s->names, t, s->frames, SPY_MAX_FRAMES, &n, &cut);
    if (walked < 0) {
      s->st.retried++;
      if (spy_thread_refresh(p, t) == 0)
        walked = spy_stack(p, &s->names, t, s->frames, SPY_MAX_FRAMES, &n, &cut);
    }
    if (walked < 0) {
      s->st.dropped++;
      continue;
    }
    if (n == 0) continue; /* no Python code running */
    ember_spy_stack_t st = {.pid = p->pid, .tid = t->tid, .idle = t->idle, .gil = t->gil};
    st.n = stack_ids(s, p, t, n);
    st.frames = s->ids;
    s->st.samples++;
    fn(ctx, &st);
  }
  s->st.reads += p->mem.reads - reads;
  return rc;
}

static ember_spy_t *session_new(pid_t pid, const ember_spy_opts_t *o) {
  ember_spy_t *s = ember_calloc(1, sizeof *s);
  if (o) s->o = *o;
  s->root = pid;
  s->threads = ember_malloc(SPY_MAX_THREADS * sizeof *s->threads);
  s->frames = ember_malloc(SPY_MAX_FRAMES * sizeof *s->frames);
  s->ids = ember_malloc((EMBER_SPY_MAX_DEPTH + 4) * sizeof *s->ids);
  s->truncated_id = spy_names_intern(&s->names, "[truncated]", 11);
  return s;
}

/* ---- API --------------------------------------------------------------- */

int ember_spy_attach(pid_t pid, const ember_spy_opts_t *o, ember_spy_t **out,
                     ember_err_t *err) {
  ember_spy_t *s = session_new(pid, o);
  int rc = attach_one(s, pid, err);
  if (rc == EMBER_EINVAL && s->o.subprocesses && alive(pid, 0)) {
    rc = EMBER_OK; /* a launcher: its Python children are what counts */
  } else if (rc == EMBER_OK) {
    s->root_python = true;
  }
  if (rc) {
    ember_spy_close(s);
    return rc;
  }
  if (s->o.subprocesses) scan(s);
  s->next_scan_ns = ember_mono_ns() + SCAN_EVERY_NS;
  *out = s;
  return EMBER_OK;
}

int ember_spy_attach_wait(pid_t pid, const ember_spy_opts_t *o, int timeout_ms,
                          ember_spy_t **out, ember_err_t *err) {
  uint64_t until = ember_mono_ns() + (uint64_t)timeout_ms * 1000000u;
  for (;;) {
    int rc = ember_spy_attach(pid, o, out, err);
    if (rc != EMBER_EINVAL && rc != EMBER_EIO) return rc;
    if (!alive(pid, 0))
      return ember_err_set(err, EMBER_ENOTFOUND,
                           "process %d exited before it ran Python", (int)pid);
    if (ember_mono_ns() >= until) return rc;
    struct timespec ts = {0, 20 * 1000000};
    nanosleep(&ts, NULL);
  }
}

void ember_spy_close(ember_spy_t *s) {
  if (!s) return;
  while (s->nprocs) drop_proc(s, s->nprocs - 1);
  free(s->procs);
  free(s->others);
  free(s->threads);
  free(s->frames);
  free(s->ids);
  spy_names_free(&s->names);
  free(s);
}

int ember_spy_sample(ember_spy_t *s, ember_spy_stack_fn fn, void *ctx) {
  s->st.ticks++;
  uint64_t now = ember_mono_ns();
  if (s->o.subprocesses && now >= s->next_scan_ns) {
    scan(s);
    s->next_scan_ns = now + SCAN_EVERY_NS;
    if (!s->root_python && !alive(s->root, 0)) s->root_gone = true;
  }
  for (size_t i = 0; i < s->nprocs;) {
    spy_proc_t *p = s->procs[i];
    if (sample_proc(s, p, fn, ctx, now) == 0 || alive(p->pid, p->start_time)) {
      i++;
      continue;
    }
    if (s->root_python && p->pid == s->root) s->root_gone = true;
    drop_proc(s, i);
  }
  return s->root_gone ? EMBER_ENOTFOUND : EMBER_OK;
}

ember_slice_t ember_spy_name(const ember_spy_t *s, uint32_t id) {
  return spy_names_get(&s->names, id);
}

ember_spy_stats_t ember_spy_stats(const ember_spy_t *s) {
  return s->st;
}

void ember_spy_describe(const ember_spy_t *s, ember_buf_t *out) {
  if (!s->nprocs) {
    char *cmd = spy_cmdline(s->root, 200);
    ember_buf_printf(out, "%d (%s), not Python itself", (int)s->root, cmd);
    free(cmd);
    return;
  }
  const spy_proc_t *p = s->procs[0];
  uint32_t v = p->py.version;
  ember_buf_printf(out, "%d (%s), Python %u.%u.%u (%s)", (int)p->pid, p->cmdline, v >> 24,
                   (v >> 16) & 0xff, (v >> 8) & 0xff, p->py.file);
}

uint64_t spy_next_tick(uint64_t prev, uint64_t period, uint64_t now, uint64_t *seed) {
  /* xorshift64: cheap, and good enough to spread ticks */
  uint64_t x = *seed ? *seed : 0x9e3779b97f4a7c15ull;
  x ^= x << 13;
  x ^= x >> 7;
  x ^= x << 17;
  *seed = x;
  uint64_t p = period ? period : 1, next = prev + p / 2 + x % p;
  /* A tick a little late (the sampler waited for a CPU) is taken at once
   * and the schedule kept, so the rate holds on a busy machine; one more
   * than a period late starts again from now rather than in a burst. */
  if (next + p <= now) next = now + (x >> 32) % p / 2;
  return next;
}

spy_proc_t *spy_session_proc(ember_spy_t *s, size_t i) {
  return i < s->nprocs ? s->procs[i] : NULL;
}

size_t spy_session_nprocs(const ember_spy_t *s) {
  return s->nprocs;
}

spy_names_t *spy_session_names(ember_spy_t *s) {
  return &s->names;
}
