/*
 * record.c - `ember spy record`: sample at a fixed rate until the target
 * exits, the duration passes or Ctrl-C, and either push a folded profile
 * to the server every 10 s (one window per push, aligned to multiples of
 * 10 s of Unix time as the agents do, so that pushes fill the server's
 * buckets and line up across processes) or write one file at the end.
 *
 * The sampler runs on the calling thread and sleeps to absolute times on
 * the monotonic clock, so a slow sample does not shift the rate: a tick a
 * little late is taken at once, ticks more than a period late are skipped,
 * not made up in a burst (spy_next_tick). Each
 * interval is drawn between half and one and a half periods
 * (spy_next_tick): a program that repeats the same work every few periods
 * would otherwise lock onto the sampler's phase and be sampled always at
 * the same points of its cycle, which skews the shares. Pushing
 * happens on the pusher thread (push.c) and never delays sampling.
 */
#include "spy/spy_int.h"

#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>

#include "ember/client.h"

#define CLOSE_TIMEOUT_MS 5000
/* Seconds a launched program gets to exit after SIGTERM. */
#define CHILD_GRACE_S 5

/* ---- Types ------------------------------------------------------------- */

typedef struct {
  spy_fold_t fold;  /* the window being filled, or everything with -o */
  uint64_t samples; /* in fold */
} rec_t;

/* ---- Private functions ------------------------------------------------- */

static void on_stack(void *ctx, const ember_spy_stack_t *st) {
  rec_t *r = ctx;
  spy_fold_add(&r->fold, st->frames, st->n, 1);
  r->samples++;
}

static uint64_t thread_cpu_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Hands the window [from, until) to the pusher and starts a new one. */
static void flush(rec_t *r, ember_spy_t *s, spy_pusher_t *p, int64_t from, int64_t until) {
  if (r->fold.n) {
    ember_buf_t body = EMBER_BUF_INIT;
    spy_fold_text(&r->fold, spy_session_names(s), &body);
    size_t len;
    char *data = ember_buf_take(&body, &len);
    spy_pusher_submit(p, from, until, data, len, r->samples);
  }
  spy_fold_reset(&r->fold);
  r->samples = 0;
}

/* Whether the launched child has exited (then reaped, status in *status). */
static bool child_exited(pid_t pid, int *status) {
  pid_t k = waitpid(pid, status, WNOHANG);
  return k == pid || (k < 0 && errno == ECHILD);
}

/* Stops a launched child that still runs: SIGTERM, then SIGKILL. */
static void stop_child(pid_t pid) {
  int status;
  if (child_exited(pid, &status)) return;
  kill(pid, SIGTERM);
  for (int i = 0; i < CHILD_GRACE_S * 20; i++) {
    if (child_exited(pid, &status)) return;
    struct timespec ts = {0, 50 * 1000000};
    nanosleep(&ts, NULL);
  }
  kill(pid, SIGKILL);
  waitpid(pid, &status, 0);
}

static int write_output(const char *path, const rec_t *r, ember_spy_t *s,
                        const char *title, unsigned rate, int64_t from, int64_t until,
                        ember_err_t *err) {
  ember_buf_t b = EMBER_BUF_INIT;
  const char *dot = strrchr(path, '.');
  int rc = EMBER_OK;
  const spy_names_t *names = spy_session_names(s);
  if (dot && !strcmp(dot, ".svg")) rc = spy_fold_svg(&r->fold, names, title, rate, from, until, &b, err);
  else spy_fold_text(&r->fold, names, &b);
  if (rc == 0) rc = ember_client_write_file(path, b.data ? b.data : "", b.len, err);
  ember_buf_free(&b);
  return rc;
}

static void summary(FILE *log, const ember_spy_t *s, double seconds, unsigned rate,
                    uint64_t cpu_ns, const spy_push_stats_t *ps, bool pushed) {
  ember_spy_stats_t st = ember_spy_stats(s);
  fprintf(log,
          "ember spy: %" PRIu64 " samples in %.1f s at %u Hz (%" PRIu64 " ticks, %" PRIu64
          " stacks of idle threads left out, %" PRIu64 " process%s)\n",
          st.samples, seconds, rate, st.ticks, st.idle, st.processes,
          st.processes == 1 ? "" : "es");
  fprintf(log,
          "ember spy: torn reads: %" PRIu64 " stacks read again, %" PRIu64
          " dropped (%.3f%% of stacks)\n",
          st.retried, st.dropped,
          st.samples + st.dropped ? 100.0 * (double)st.dropped / (double)(st.samples + st.dropped)
                                  : 0.0);
  if (st.ticks)
    fprintf(log,
            "ember spy: sampler CPU %.1f us per tick (%.2f%% of one core at %u Hz), %.1f "
            "reads of the target per tick\n",
            (double)cpu_ns / 1000.0 / (double)st.ticks,
            (double)cpu_ns / (double)st.ticks * rate / 1e7, rate,
            (double)st.reads / (double)st.ticks);
  if (pushed)
    fprintf(log,
            "ember spy: %" PRIu64 " pushes sent, %" PRIu64 " dropped, %" PRIu64
            " retries, %" PRIu64 " windows dropped waiting%s%s\n",
            ps->pushes, ps->pushes_dropped, ps->retries, ps->windows_dropped,
            ps->last_error[0] ? "; last error: " : "", ps->last_error);
}

/* ---- API --------------------------------------------------------------- */

int ember_spy_record(const ember_spy_record_opts_t *o, ember_err_t *err) {
  FILE *log = o->log ? o->log : stderr;
  unsigned rate = o->rate ? o->rate : EMBER_SPY_DEFAULT_RATE;
  unsigned upload = o->upload_s ? o->upload_s : 10;
  ember_spy_opts_t so = o->spy;
  if (so.subprocesses) so.processes = true;
  ember_spy_t *s = NULL;
  spy_pusher_t *pusher = NULL;
  rec_t r;
  memset(&r, 0, sizeof r);
  int rc = o->launched ? ember_spy_attach_wait(o->pid, &so, 10000, &s, err)
                       : ember_spy_attach(o->pid, &so, &s, err);
  if (rc == 0 && !o->output)
    rc = spy_pusher_start(o->server ? o->server : EMBER_CLIENT_DEFAULT_SERVER, o->series,
                          o->token, rate, log, &pusher, err);
  if (rc) goto done;
  ember_buf_t d = EMBER_BUF_INIT;
  ember_spy_describe(s, &d);
  fprintf(log, "ember spy: recording %s at %u Hz; %s%s%s\n", d.data, rate,
          o->output ? "writing " : "pushing ", o->output ? o->output : o->series,
          o->output ? " at the end" : " every 10 s");
  ember_buf_free(&d);

  uint64_t period = 1000000000ull / rate, start = ember_mono_ns(), next = start, cpu = 0;
  uint64_t seed = start | 1;
  uint64_t end = o->duration_s ? start + (uint64_t)o->duration_s * 1000000000ull : 0;
  int64_t first = ember_now(), from = first / upload * upload;
  int status = 0;
  bool exited = false;
  while (!(o->stop && *o->stop)) {
    uint64_t now = ember_mono_ns();
    if (end && now >= end) break;
    if (o->launched && child_exited(o->pid, &status)) {
      exited = true;
      break;
    }
    uint64_t c0 = thread_cpu_ns();
    int sampled = ember_spy_sample(s, on_stack, &r);
    cpu += thread_cpu_ns() - c0;
    if (sampled == EMBER_ENOTFOUND) {
      exited = true;
      break;
    }
    int64_t wall = ember_now();
    if (pusher && wall >= from + upload) {
      flush(&r, s, pusher, from, from + upload);
      from = wall / upload * upload;
    }
    next = spy_next_tick(next, period, ember_mono_ns(), &seed);
    struct timespec ts = {(time_t)(next / 1000000000u), (long)(next % 1000000000u)};
    clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL);
  }
  int64_t until = ember_now();
  if (until <= from) until = from + 1;
  double seconds = (double)(ember_mono_ns() - start) / 1e9;
  if (exited) fprintf(log, "ember spy: process %d exited\n", (int)o->pid);
  spy_push_stats_t ps;
  memset(&ps, 0, sizeof ps);
  if (pusher) {
    flush(&r, s, pusher, from, until);
    spy_pusher_close(pusher, CLOSE_TIMEOUT_MS, &ps);
    pusher = NULL;
  } else {
    rc = write_output(o->output, &r, s, o->series ? o->series : "ember spy", rate, first,
                      until, err);
    if (rc == 0) fprintf(log, "ember spy: wrote %s\n", o->output);
  }
  summary(log, s, seconds, rate, cpu, &ps, o->output == NULL);
  if (rc == 0 && !o->output && ps.pushes_dropped && !ps.pushes)
    rc = ember_err_set(err, ps.refused ? EMBER_EINVAL : EMBER_EIO,
                       "no push reached the server: %s", ps.last_error);
done:
  if (pusher) spy_pusher_close(pusher, 0, NULL);
  if (o->launched) stop_child(o->pid);
  spy_fold_free(&r.fold);
  ember_spy_close(s);
  return rc;
}
