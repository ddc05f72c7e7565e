/*
 * spy.h - `ember spy`: profile a running CPython 3.11 or 3.12 process from
 * outside, without touching it.
 *
 * The sampler reads the target's memory with process_vm_readv: it finds
 * the interpreter through the ELF symbol `_PyRuntime` (in the executable or
 * in the libpython it loaded), walks every thread's frames with the struct
 * layouts of the target's minor version, and names each frame the way
 * Ember's Python agent does (`module:qualname (file:line)`). The target is
 * never stopped, never written to and never sees a signal: a read that
 * races with the target (a torn read) is retried once, then dropped and
 * counted.
 *
 * Three commands are built on one session (ember_spy_t):
 *   record  samples at a rate, pushes folded stacks to a server every 10 s
 *           (retries and backoff as the agents) or writes .svg / .folded;
 *   top     a full-screen table of the hottest functions, every second;
 *   dump    every thread's stack once, with file:line and simple locals.
 *
 * Reading another process needs ptrace rights over it: root, CAP_SYS_PTRACE,
 * or the same user with kernel.yama.ptrace_scope 0 (1 allows only one's
 * own descendants, which `record -- cmd` is). docs/spy.md has the details.
 */
#ifndef EMBER_SPY_H
#define EMBER_SPY_H

#include <signal.h>
#include <stdio.h>
#include <sys/types.h>

#include "ember/common.h"

#define EMBER_SPY_DEFAULT_RATE 100
#define EMBER_SPY_MAX_RATE 1000
/* Frames kept per stack; a deeper stack keeps those nearest the root. */
#define EMBER_SPY_MAX_DEPTH 512

/* ---- Sessions ---------------------------------------------------------- */

/* What to sample. Zero is the default of every field. */
typedef struct {
  bool idle;         /* also threads that wait (sleep, I/O, the GIL) */
  bool gil;          /* only the thread holding the GIL */
  bool subprocesses; /* also the Python processes the target starts */
  bool lines;        /* name frames by the line running, not the line the
                      * function starts on (one frame per line) */
  bool threads;      /* a root frame per thread: "thread 1234 (MainThread)" */
  bool processes;    /* a root frame per process: "process 1234 (cmd ...)";
                      * set by record when it follows subprocesses */
} ember_spy_opts_t;

/* An attached process tree. Opaque; one thread uses it at a time. */
typedef struct ember_spy ember_spy_t;

/* Attaches to the Python process pid (and, with o->subprocesses, to its
 * Python descendants as they appear). Reads the target only. On success
 * *out is the caller's (ember_spy_close). Fails with EMBER_ENOTFOUND when
 * there is no such process, EMBER_EFORBIDDEN when reading it is not
 * allowed (the message says how to get the right), EMBER_EINVAL when it is
 * not a supported Python (no _PyRuntime, stripped, another version), each
 * with one line in err. */
int ember_spy_attach(pid_t pid, const ember_spy_opts_t *o, ember_spy_t **out,
                     ember_err_t *err);

/* As ember_spy_attach, for a process that was just started (ember spy
 * record -- cmd): tries again every 20 ms while it is not yet a Python
 * interpreter (a shell or launcher that will exec one), for at most
 * timeout_ms, and gives up early when it exits. */
int ember_spy_attach_wait(pid_t pid, const ember_spy_opts_t *o, int timeout_ms,
                          ember_spy_t **out, ember_err_t *err);

/* Frees s. NULL is accepted. */
void ember_spy_close(ember_spy_t *s);

/* One sampled stack, handed to the callback of ember_spy_sample. Borrowed
 * for the duration of the call. */
typedef struct {
  pid_t pid;
  pid_t tid;
  bool idle; /* waiting: not running on a CPU */
  bool gil;  /* holds the GIL */
  const uint32_t *frames; /* name ids (ember_spy_name), root first */
  size_t n;
} ember_spy_stack_t;

typedef void (*ember_spy_stack_fn)(void *ctx, const ember_spy_stack_t *st);

/* Takes one sample: calls fn once for every thread that passes the
 * options (active, or idle too with o.idle; only the GIL holder with
 * o.gil). Threads of processes that exited are dropped; returns
 * EMBER_ENOTFOUND once the first process has exited, else 0. */
int ember_spy_sample(ember_spy_t *s, ember_spy_stack_fn fn, void *ctx);

/* The bytes of a name id, borrowed until s is closed. */
ember_slice_t ember_spy_name(const ember_spy_t *s, uint32_t id);

/* Counters since attaching. */
typedef struct {
  uint64_t ticks;     /* calls of ember_spy_sample */
  uint64_t samples;   /* stacks handed to callbacks */
  uint64_t idle;      /* idle threads left out */
  uint64_t retried;   /* stacks read again after a torn read */
  uint64_t dropped;   /* stacks given up after a second torn read */
  uint64_t reads;     /* reads of the targets' memory (system calls) */
  uint64_t processes; /* processes attached, the first included */
} ember_spy_stats_t;

ember_spy_stats_t ember_spy_stats(const ember_spy_t *s);

/* Appends "PID (cmd ...), Python 3.11.2 (/usr/bin/python3.11)" for the
 * first process. */
void ember_spy_describe(const ember_spy_t *s, ember_buf_t *out);

/* ---- Starting the program to profile ------------------------------------- */

/* Starts argv (argv[0] looked up in PATH) as a child in the caller's
 * process group, so that Ctrl-C reaches both. *pid is the caller's to
 * wait for. EMBER_EINVAL with the reason when it cannot be run. */
int ember_spy_launch(char *const *argv, pid_t *pid, ember_err_t *err);

/* ---- The commands -------------------------------------------------------- */

/* ember spy record: strings borrowed; NULL means the default. */
typedef struct {
  ember_spy_opts_t spy;
  pid_t pid;               /* the target; with launched, the child started */
  bool launched;           /* pid is our child: stopped (SIGTERM) and reaped
                            * when recording ends before it does */
  unsigned rate;           /* samples per second; 0: EMBER_SPY_DEFAULT_RATE */
  unsigned duration_s;     /* 0: until the target exits or *stop is set */
  const char *output;      /* write a .svg or .folded file instead of pushing */
  const char *server;      /* EMBER_CLIENT_DEFAULT_SERVER */
  const char *series;      /* "app.cpu{k=v}", already checked */
  const char *token;       /* Authorization: Bearer; NULL for none */
  unsigned upload_s;       /* seconds per push; 0: 10 */
  volatile sig_atomic_t *stop; /* set by a signal handler to stop */
  FILE *log;               /* progress and the summary; NULL: stderr */
} ember_spy_record_opts_t;

/* Runs until the target exits, the duration passes or *stop is set; then
 * sends the last window (or writes the file) and prints a summary to
 * log: samples, dropped torn reads, pushes sent and dropped. Returns 0, or
 * an error from attaching, the first push refused for good (EMBER_EINVAL,
 * a bad --app or token) or writing the file. */
int ember_spy_record(const ember_spy_record_opts_t *o, ember_err_t *err);

/* ember spy top. */
typedef struct {
  ember_spy_opts_t spy;
  pid_t pid;
  bool launched;
  unsigned rate;
  int in_fd, out_fd;           /* the terminal */
  volatile sig_atomic_t *stop;
} ember_spy_top_opts_t;

/* Takes over the terminal (alternate screen, keys without Enter) and
 * redraws every second until q, Ctrl-C or the target's exit; the
 * terminal is restored on every way out. EMBER_EINVAL when in_fd or
 * out_fd is not a terminal. */
int ember_spy_top(const ember_spy_top_opts_t *o, ember_err_t *err);

/* ember spy dump: every thread of the attached processes, innermost frame
 * first, as
 *
 *   Process 1234: python3 app.py
 *   Python 3.11.2 (/usr/bin/python3.11)
 *
 *   Thread 1234 (active, gil): "MainThread"
 *       busy (app.py:12)
 *           n = 3
 *       main (app.py:30)
 *
 * with the locals of each frame (simple values: None, bool, int, float,
 * str, bytes; others by type) when locals is set. Threads that wait are
 * shown too. */
int ember_spy_dump(ember_spy_t *s, bool locals, ember_buf_t *out, ember_err_t *err);

#endif
