/*
 * push.c - the pusher thread of `ember spy record`: sends each finished
 * window of folded stacks to the server's /ingest, with the rules of
 * Ember's agents (examples/python/ember_agent/_push.py), so that a server
 * that is down or slow costs the sampler nothing:
 *
 *   - failures are retried, or dropped at once, by the rules every pusher
 *     of this binary shares (ember/client.h, "Retries": backoff from 0.5 s
 *     to 10 s with jitter, Retry-After, 3 retries);
 *   - windows wait in a queue of 6; when the server is slower than the
 *     sampler, the oldest waiting window is dropped.
 *
 * Every drop is counted; the first failure of each kind is logged, later
 * ones only counted, and "works again" is logged once the server answers.
 * Closing sends what waits, giving up at a deadline: a retry whose delay
 * would end after it is not made, and requests made after it get 0.1 s.
 *
 * Bodies are folded text, gzip-compressed.
 *
 * Invariants (mu guards the queue, closing, deadline_ns and st):
 *  1. 0 <= n <= SPY_PUSH_QUEUE; the windows waiting are q[head..head+n)
 *     modulo the queue's size, oldest first, each body owned by the queue.
 *  2. deadline_ns is 0 until closing is set, and set at the same time.
 *  3. The thread leaves its loop only when closing is set and n == 0, so
 *     every window submitted is either sent, dropped and counted, or (once
 *     past the deadline) tried once more and then dropped and counted.
 *
 *   spy_pusher_start --> waiting --(submit)--> pushing --(sent/dropped)--> waiting
 *                           |                                                 |
 *                           +--(close, queue empty)--> stopped <--(close)-----+
 */
#include "spy/spy_int.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include "ember/client.h"

/* ---- Types ------------------------------------------------------------- */

typedef struct {
  int64_t from, until;
  char *body;
  size_t len;
  uint64_t samples;
} window_t;

struct spy_pusher {
  ember_client_url_t url;
  char *series, *token;
  unsigned rate;
  FILE *log;
  pthread_mutex_t mu;
  pthread_cond_t cv;
  window_t q[SPY_PUSH_QUEUE];
  size_t head, n;
  bool closing;
  uint64_t deadline_ns; /* 0: none yet */
  pthread_t thread;
  spy_push_stats_t st;
  char logged[16][24]; /* kinds of failure already logged */
  size_t nlogged;
  bool failing;
  unsigned seed;
};

/* ---- Private functions ------------------------------------------------- */

/* Logs msg the first time kind happens. Called with mu held. */
static void log_once(spy_pusher_t *p, const char *kind, const char *msg) {
  for (size_t i = 0; i < p->nlogged; i++)
    if (!strcmp(p->logged[i], kind)) return;
  if (p->nlogged < sizeof p->logged / sizeof p->logged[0])
    snprintf(p->logged[p->nlogged++], sizeof p->logged[0], "%s", kind);
  fprintf(p->log, "ember spy: %s\n", msg);
}

static int gzip_body(const char *in, size_t n, ember_buf_t *out) {
  z_stream z;
  memset(&z, 0, sizeof z);
  if (deflateInit2(&z, 1, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK) return -1;
  size_t bound = deflateBound(&z, (uLong)n) + 32;
  ember_buf_reserve(out, bound);
  z.next_in = (Bytef *)in;
  z.avail_in = (uInt)n;
  z.next_out = (Bytef *)out->data;
  z.avail_out = (uInt)bound;
  int rc = deflate(&z, Z_FINISH);
  out->len = z.total_out;
  deflateEnd(&z);
  return rc == Z_STREAM_END ? 0 : -1;
}

/* Waits ms before a retry; false when the closing deadline comes first.
 * Closing wakes the wait only to check the deadline: the retry keeps its
 * delay, so a closing sampler never sends a burst of retries. */
static bool wait_before_retry(spy_pusher_t *p, int ms) {
  uint64_t until = ember_mono_ns() + (uint64_t)ms * 1000000u;
  pthread_mutex_lock(&p->mu);
  bool ok = true;
  for (;;) {
    if (p->deadline_ns && until >= p->deadline_ns) {
      ok = false;
      break;
    }
    uint64_t now = ember_mono_ns();
    if (now >= until) break;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    uint64_t left = until - now;
    ts.tv_sec += (time_t)(left / 1000000000u);
    ts.tv_nsec += (long)(left % 1000000000u);
    if (ts.tv_nsec >= 1000000000L) {
      ts.tv_sec++;
      ts.tv_nsec -= 1000000000L;
    }
    pthread_cond_timedwait(&p->cv, &p->mu, &ts);
  }
  pthread_mutex_unlock(&p->mu);
  return ok;
}

/* The timeout of the next request: 5 s, less once closing. */
static int request_timeout(spy_pusher_t *p) {
  pthread_mutex_lock(&p->mu);
  uint64_t deadline = p->deadline_ns;
  pthread_mutex_unlock(&p->mu);
  if (!deadline) return SPY_PUSH_TIMEOUT_MS;
  uint64_t now = ember_mono_ns();
  int64_t left = deadline > now ? (int64_t)((deadline - now) / 1000000u) : 0;
  return left < 100 ? 100 : left < SPY_PUSH_TIMEOUT_MS ? (int)left : SPY_PUSH_TIMEOUT_MS;
}

/* One POST. Returns the status (0: no answer), the message in msg. */
static int post(spy_pusher_t *p, const window_t *w, const ember_buf_t *gz, int *retry_after,
                char *msg, size_t cap) {
  ember_buf_t target = EMBER_BUF_INIT;
  ember_buf_puts(&target, "/ingest?name=");
  ember_client_urlencode(&target, p->series);
  ember_buf_printf(&target,
                   "&from=%" PRId64 "&until=%" PRId64
                   "&format=folded&sampleRate=%u&spyName=emberspy&units=samples"
                   "&aggregationType=sum",
                   w->from, w->until, p->rate);
  ember_client_resp_t resp;
  memset(&resp, 0, sizeof resp);
  ember_err_t err;
  int status = 0;
  *retry_after = -1;
  if (ember_client_post(&p->url, target.data, p->token, "text/plain; charset=utf-8", "gzip",
                        gz->data, gz->len, request_timeout(p), &resp, &err)) {
    snprintf(msg, cap, "%.280s", err.msg);
  } else {
    status = resp.status;
    *retry_after = resp.retry_after;
    ember_buf_t m = EMBER_BUF_INIT;
    ember_client_error_message(&resp, &m);
    snprintf(msg, cap, "the server answered %d: %s", status, m.data);
    ember_buf_free(&m);
  }
  ember_client_resp_free(&resp);
  ember_buf_free(&target);
  return status;
}

/* Sends one window, retrying as the rules say. */
static void push_window(spy_pusher_t *p, const window_t *w) {
  ember_buf_t gz = EMBER_BUF_INIT;
  if (gzip_body(w->body, w->len, &gz)) {
    ember_buf_reset(&gz);
    ember_buf_append(&gz, w->body, w->len); /* cannot happen; keep the data */
  }
  char msg[300];
  for (unsigned attempt = 0;; attempt++) {
    int retry_after;
    int status = post(p, w, &gz, &retry_after, msg, sizeof msg);
    if (status == 200) {
      if (p->failing) fprintf(p->log, "ember spy: pushing to the server works again\n");
      p->failing = false;
      pthread_mutex_lock(&p->mu);
      p->st.pushes++;
      p->st.samples_sent += w->samples;
      pthread_mutex_unlock(&p->mu);
      break;
    }
    p->failing = true;
    pthread_mutex_lock(&p->mu);
    snprintf(p->st.last_error, sizeof p->st.last_error, "%.250s", msg);
    pthread_mutex_unlock(&p->mu);
    bool retry = ember_client_retryable(status) && attempt < EMBER_CLIENT_RETRIES;
    if (retry) {
      double jitter = (double)rand_r(&p->seed) / ((double)RAND_MAX + 1.0);
      retry = wait_before_retry(p, ember_client_retry_delay_ms(status, retry_after, attempt, jitter));
    }
    pthread_mutex_lock(&p->mu);
    if (retry) {
      p->st.retries++;
      pthread_mutex_unlock(&p->mu);
      continue;
    }
    char kind[24], line[420];
    if (!ember_client_retryable(status)) {
      p->st.refused = true; /* under mu: taken above */
      snprintf(kind, sizeof kind, "drop-%d", status);
      snprintf(line, sizeof line, "dropped a profile for %s: %s (further failures are only "
               "counted)", p->series, msg);
    } else {
      snprintf(kind, sizeof kind, "drop-retry");
      snprintf(line, sizeof line, "dropped a profile for %s: %s after %u retries (further "
               "failures are only counted)", p->series, msg, attempt);
    }
    log_once(p, kind, line);
    p->st.pushes_dropped++;
    p->st.samples_dropped += w->samples;
    pthread_mutex_unlock(&p->mu);
    break;
  }
  ember_buf_free(&gz);
}

static void *run(void *arg) {
  spy_pusher_t *p = arg;
  for (;;) {
    pthread_mutex_lock(&p->mu);
    while (!p->n && !p->closing) pthread_cond_wait(&p->cv, &p->mu);
    if (!p->n) {
      pthread_mutex_unlock(&p->mu);
      return NULL;
    }
    window_t w = p->q[p->head];
    p->head = (p->head + 1) % SPY_PUSH_QUEUE;
    p->n--;
    pthread_mutex_unlock(&p->mu);
    push_window(p, &w);
    free(w.body);
  }
}

/* ---- API --------------------------------------------------------------- */

int spy_pusher_start(const char *server, const char *series, const char *token,
                     unsigned rate, FILE *log, spy_pusher_t **out, ember_err_t *err) {
  spy_pusher_t *p = ember_calloc(1, sizeof *p);
  int rc = ember_client_url_parse(server, &p->url, err);
  if (rc) {
    free(p);
    return rc;
  }
  p->series = ember_strdup(series);
  p->token = token ? ember_strdup(token) : NULL;
  p->rate = rate;
  p->log = log ? log : stderr;
  p->seed = (unsigned)ember_mono_ns() ^ (unsigned)getpid();
  pthread_mutex_init(&p->mu, NULL);
  pthread_cond_init(&p->cv, NULL);
  if (pthread_create(&p->thread, NULL, run, p)) {
    free(p->series);
    free(p->token);
    free(p);
    return ember_err_set(err, EMBER_EIO, "cannot start the pusher thread");
  }
  *out = p;
  return EMBER_OK;
}

void spy_pusher_submit(spy_pusher_t *p, int64_t from, int64_t until, char *body, size_t len,
                       uint64_t samples) {
  pthread_mutex_lock(&p->mu);
  if (p->n == SPY_PUSH_QUEUE) {
    window_t *old = &p->q[p->head];
    p->st.windows_dropped++;
    p->st.samples_dropped += old->samples;
    free(old->body);
    p->head = (p->head + 1) % SPY_PUSH_QUEUE;
    p->n--;
    log_once(p, "queue", "the server is slower than the samples come in; dropping the "
                         "oldest waiting profile (further drops are only counted)");
  }
  p->q[(p->head + p->n) % SPY_PUSH_QUEUE] = (window_t){from, until, body, len, samples};
  p->n++;
  pthread_cond_signal(&p->cv);
  pthread_mutex_unlock(&p->mu);
}

void spy_pusher_close(spy_pusher_t *p, int timeout_ms, spy_push_stats_t *st) {
  if (!p) return;
  pthread_mutex_lock(&p->mu);
  p->closing = true;
  p->deadline_ns = ember_mono_ns() + (uint64_t)(timeout_ms > 0 ? timeout_ms : 0) * 1000000u;
  pthread_cond_broadcast(&p->cv);
  pthread_mutex_unlock(&p->mu);
  pthread_join(p->thread, NULL);
  if (st) *st = p->st;
  pthread_mutex_destroy(&p->mu);
  pthread_cond_destroy(&p->cv);
  free(p->series);
  free(p->token);
  free(p);
}
