/*
 * top.c - `ember spy top`: the hottest functions of a running program, in
 * a full-screen table redrawn every second.
 *
 *   %Own       share of the last second's samples with the function as the
 *              innermost frame (where the time goes)
 *   %Total     share with the function anywhere on the stack (counted once
 *              per sample, however deep it recurses)
 *   OwnTime,   seconds since the start, at one sample worth 1/rate s
 *   TotalTime
 *
 * Keys: o or 1 sorts by %Own, t or 2 by %Total, 3 by OwnTime, 4 by
 * TotalTime; q or Ctrl-C quits. The terminal is put back as it was on
 * every way out (q, Ctrl-C, the target's exit, an error).
 *
 * The table (spy_top_add, spy_top_screen) is pure and tested on its own;
 * the loop below only samples, reads keys and writes screens.
 */
#include "spy/spy_int.h"

#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#define REDRAW_NS 1000000000ull

/* ---- Private functions: the table -------------------------------------- */

static struct spy_top_row *row_of(spy_top_t *t, uint32_t id) {
  if (id >= t->slot_cap) {
    size_t old = t->slot_cap;
    ember_grow((void **)&t->slot_of, &t->slot_cap, (size_t)id + 1, sizeof *t->slot_of);
    memset(t->slot_of + old, 0, (t->slot_cap - old) * sizeof *t->slot_of);
  }
  if (!t->slot_of[id]) {
    ember_grow((void **)&t->rows, &t->cap, t->n + 1, sizeof *t->rows);
    memset(&t->rows[t->n], 0, sizeof *t->rows);
    t->rows[t->n].id = id;
    t->slot_of[id] = (uint32_t)++t->n;
  }
  return &t->rows[t->slot_of[id] - 1];
}

typedef struct {
  const struct spy_top_row *rows;
  spy_sort_t key;
} sort_ctx_t;

static uint64_t sort_value(const struct spy_top_row *r, spy_sort_t key) {
  switch (key) {
  case SPY_SORT_OWN: return r->own_now;
  case SPY_SORT_TOTAL: return r->total_now;
  case SPY_SORT_OWN_TIME: return r->own;
  default: return r->total;
  }
}

static spy_sort_t sort_key_now; /* qsort has no context argument */

/* By the key, then ties by the same kind of count since the start (own
 * for the own keys, total for the total keys), then by the other. */
static int by_key(const void *a, const void *b) {
  const struct spy_top_row *x = *(const struct spy_top_row *const *)a,
                           *y = *(const struct spy_top_row *const *)b;
  bool own = sort_key_now == SPY_SORT_OWN || sort_key_now == SPY_SORT_OWN_TIME;
  uint64_t kx[3] = {sort_value(x, sort_key_now), own ? x->own : x->total,
                    own ? x->total : x->own};
  uint64_t ky[3] = {sort_value(y, sort_key_now), own ? y->own : y->total,
                    own ? y->total : y->own};
  for (int i = 0; i < 3; i++)
    if (kx[i] != ky[i]) return kx[i] < ky[i] ? 1 : -1;
  return x->id < y->id ? -1 : x->id > y->id;
}

/* Appends s cut to width columns (bytes; names are mostly ASCII). */
static void put_cut(ember_buf_t *out, const char *s, size_t n, int width) {
  size_t w = width > 0 ? (size_t)width : 0;
  if (n > w) {
    n = w;
    while (n && ((unsigned char)s[n] & 0xc0) == 0x80) n--;
  }
  ember_buf_append(out, s, n);
}

/* ---- API: the table ---------------------------------------------------- */

void spy_top_add(spy_top_t *t, const uint32_t *ids, size_t n) {
  t->samples++;
  t->samples_now++;
  t->sample_no++;
  for (size_t i = 0; i < n; i++) {
    struct spy_top_row *r = row_of(t, ids[i]);
    if (r->seen != t->sample_no) {
      r->seen = t->sample_no;
      r->total++;
      r->total_now++;
    }
    if (i + 1 == n) {
      r->own++;
      r->own_now++;
    }
  }
}

void spy_top_interval(spy_top_t *t) {
  for (size_t i = 0; i < t->n; i++) t->rows[i].own_now = t->rows[i].total_now = 0;
  t->samples_now = 0;
}

void spy_top_free(spy_top_t *t) {
  if (!t) return;
  free(t->rows);
  free(t->slot_of);
  memset(t, 0, sizeof *t);
}

void spy_top_screen(const spy_top_t *t, const spy_names_t *names, const char *header,
                    spy_sort_t key, unsigned rate, int width, int height,
                    ember_buf_t *out) {
  int lines = 0;
  for (const char *h = header; h && *h && lines < height;) {
    size_t n = strcspn(h, "\n");
    put_cut(out, h, n, width);
    ember_buf_puts(out, "\x1b[K\r\n");
    lines++;
    h += n + (h[n] == '\n');
  }
  if (lines >= height) return;
  char title[200];
  snprintf(title, sizeof title, "%7s %7s %9s %10s  %s", "%Own", "%Total", "OwnTime",
           "TotalTime", "Function (file:line)");
  ember_buf_puts(out, "\x1b[7m");
  put_cut(out, title, strlen(title), width);
  ember_buf_printf(out, "\x1b[0m\x1b[K\r\n");
  lines++;
  const struct spy_top_row **order = ember_malloc((t->n + 1) * sizeof *order);
  for (size_t i = 0; i < t->n; i++) order[i] = &t->rows[i];
  sort_key_now = key;
  qsort(order, t->n, sizeof *order, by_key);
  double denom = t->samples_now ? (double)t->samples_now : 1.0;
  double per = rate ? 1.0 / rate : 0.01;
  for (size_t i = 0; i < t->n && lines < height; i++, lines++) {
    const struct spy_top_row *r = order[i];
    ember_slice_t name = spy_names_get(names, r->id);
    char cols[96];
    snprintf(cols, sizeof cols, "%6.1f%% %6.1f%% %8.2fs %9.2fs  ",
             100.0 * (double)r->own_now / denom, 100.0 * (double)r->total_now / denom,
             (double)r->own * per, (double)r->total * per);
    ember_buf_t line = EMBER_BUF_INIT;
    ember_buf_puts(&line, cols);
    ember_buf_append(&line, name.base, name.len);
    put_cut(out, line.data, line.len, width);
    ember_buf_puts(out, "\x1b[K\r\n");
    ember_buf_free(&line);
  }
  free(order);
  ember_buf_puts(out, "\x1b[J");
}

/* ---- Private functions: the terminal ------------------------------------ */

typedef struct {
  spy_top_t table;
  uint64_t gil, active, stacks; /* this interval */
} top_state_t;

static void on_stack(void *ctx, const ember_spy_stack_t *st) {
  top_state_t *ts = ctx;
  spy_top_add(&ts->table, st->frames, st->n);
  ts->stacks++;
  if (st->gil) ts->gil++;
  if (!st->idle) ts->active++;
}

static void write_all(int fd, const char *p, size_t n) {
  while (n) {
    ssize_t k = write(fd, p, n);
    if (k < 0 && errno == EINTR) continue;
    if (k <= 0) return;
    p += k;
    n -= (size_t)k;
  }
}

static void draw(const ember_spy_top_opts_t *o, ember_spy_t *s, top_state_t *ts,
                 spy_sort_t key, unsigned rate, const char *what) {
  struct winsize ws;
  int width = 80, height = 24;
  if (ioctl(o->out_fd, TIOCGWINSZ, &ws) == 0 && ws.ws_col && ws.ws_row) {
    width = ws.ws_col;
    height = ws.ws_row;
  }
  static const char *const keys[] = {"%Own", "%Total", "OwnTime", "TotalTime"};
  ember_spy_stats_t st = ember_spy_stats(s);
  ember_buf_t head = EMBER_BUF_INIT, screen = EMBER_BUF_INIT;
  ember_buf_printf(&head, "ember spy top: %s\n", what);
  ember_buf_printf(&head,
                   "%" PRIu64 " samples, %" PRIu64 " in the last second; GIL held in %.0f%%; "
                   "%" PRIu64 " torn reads dropped\n",
                   ts->table.samples, ts->table.samples_now,
                   ts->stacks ? 100.0 * (double)ts->gil / (double)ts->stacks : 0.0, st.dropped);
  ember_buf_printf(&head, "sorted by %s; keys: o/t or 1-4 sort, q quits\n", keys[key]);
  ember_buf_puts(&screen, "\x1b[H");
  spy_top_screen(&ts->table, spy_session_names(s), head.data, key, rate, width, height - 1,
                 &screen);
  write_all(o->out_fd, screen.data, screen.len);
  ember_buf_free(&head);
  ember_buf_free(&screen);
}

/* Reads the keys waiting; returns false on q. */
static bool read_keys(int fd, spy_sort_t *key) {
  char buf[32];
  ssize_t n = read(fd, buf, sizeof buf);
  for (ssize_t i = 0; i < n; i++) {
    switch (buf[i]) {
    case 'q': case 'Q': case 3: return false;
    case 'o': case '1': *key = SPY_SORT_OWN; break;
    case 't': case '2': *key = SPY_SORT_TOTAL; break;
    case '3': *key = SPY_SORT_OWN_TIME; break;
    case '4': *key = SPY_SORT_TOTAL_TIME; break;
    default: break;
    }
  }
  return true;
}

/* ---- API: the command --------------------------------------------------- */

int ember_spy_top(const ember_spy_top_opts_t *o, ember_err_t *err) {
  if (!isatty(o->in_fd) || !isatty(o->out_fd))
    return ember_err_set(err, EMBER_EINVAL,
                         "ember spy top needs a terminal; use `ember spy record -o "
                         "profile.folded` or `ember spy dump` from scripts");
  unsigned rate = o->rate ? o->rate : EMBER_SPY_DEFAULT_RATE;
  ember_spy_t *s = NULL;
  int rc = o->launched ? ember_spy_attach_wait(o->pid, &o->spy, 10000, &s, err)
                       : ember_spy_attach(o->pid, &o->spy, &s, err);
  if (rc) return rc;
  struct termios saved, raw;
  tcgetattr(o->in_fd, &saved);
  raw = saved;
  raw.c_lflag &= ~(tcflag_t)(ICANON | ECHO);
  raw.c_cc[VMIN] = 0;
  raw.c_cc[VTIME] = 0;
  tcsetattr(o->in_fd, TCSANOW, &raw);
  const char *enter = "\x1b[?1049h\x1b[?25l\x1b[H\x1b[2J";
  write_all(o->out_fd, enter, strlen(enter));

  ember_buf_t what = EMBER_BUF_INIT;
  ember_spy_describe(s, &what);
  top_state_t ts;
  memset(&ts, 0, sizeof ts);
  spy_sort_t key = SPY_SORT_OWN;
  uint64_t period = 1000000000ull / rate, next = ember_mono_ns(),
           redraw = next + REDRAW_NS, seed = next | 1;
  bool exited = false;
  draw(o, s, &ts, key, rate, what.data);
  while (!(o->stop && *o->stop)) {
    int status;
    if (o->launched && waitpid(o->pid, &status, WNOHANG) == o->pid) {
      exited = true;
      break;
    }
    if (ember_spy_sample(s, on_stack, &ts) == EMBER_ENOTFOUND) {
      exited = true;
      break;
    }
    uint64_t now = ember_mono_ns();
    if (now >= redraw) {
      draw(o, s, &ts, key, rate, what.data);
      spy_top_interval(&ts.table);
      ts.gil = ts.active = ts.stacks = 0;
      redraw += REDRAW_NS;
      if (redraw < now) redraw = now + REDRAW_NS;
    }
    next = spy_next_tick(next, period, ember_mono_ns(), &seed);
    now = ember_mono_ns();
    uint64_t wait = next > now ? next - now : 0;
    struct timespec tmo = {(time_t)(wait / 1000000000u), (long)(wait % 1000000000u)};
    struct pollfd pfd = {o->in_fd, POLLIN, 0};
    if (ppoll(&pfd, 1, &tmo, NULL) > 0) {
      spy_sort_t was = key;
      if (!read_keys(o->in_fd, &key)) break;
      if (key != was) draw(o, s, &ts, key, rate, what.data);
    }
  }
  const char *leave = "\x1b[?25h\x1b[?1049l";
  write_all(o->out_fd, leave, strlen(leave));
  tcsetattr(o->in_fd, TCSANOW, &saved);
  if (exited) fprintf(stderr, "ember spy: process %d exited\n", (int)o->pid);
  if (o->launched) {
    int status;
    if (waitpid(o->pid, &status, WNOHANG) == 0) {
      kill(o->pid, SIGTERM);
      waitpid(o->pid, &status, 0);
    }
  }
  ember_buf_free(&what);
  spy_top_free(&ts.table);
  ember_spy_close(s);
  return EMBER_OK;
}
