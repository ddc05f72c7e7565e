/*
 * guard.c - deadlines for the client's side of a connection.
 *
 * libmicrohttpd 0.9.75 has one timeout per connection, and it restarts with
 * every byte received: a client that sends a header line every few seconds,
 * or a body at a byte a second, holds its connection (and the memory of
 * what it sent) for as long as it likes. This file keeps a record of every
 * connection and a thread that closes the ones that miss a deadline
 * counted from a fixed start:
 *
 *   - a request (headers and body) must arrive within request_s of its
 *     first byte; a new connection must send its first request that fast;
 *   - between requests, a connection may stay idle for idle_s.
 *
 * Whether an idle connection has started its next request is read from the
 * kernel (TCP_INFO's count of bytes received), because libmicrohttpd says
 * nothing until the headers are complete.
 *
 * States and the calls that move them (all under the guard's lock):
 *
 *   open() -> SENDING --reading()--> READING --busy()--> BUSY --idle()--> IDLE
 *   IDLE --(sweep sees new bytes)--> SENDING
 *   SENDING, READING --(request_s passed, or the client shut its side)-->
 *                       CLOSED (socket shut down)
 *   IDLE --(idle_s passed)--> CLOSED
 *
 * Invariants:
 *  1. A record is in the list exactly from open() to close(); close() is
 *     called by libmicrohttpd's connection notification before it closes
 *     the socket, so under the lock fd always names this connection.
 *     A record may outlive its connection while a request still holds it
 *     (libmicrohttpd may report the close before the request's end, and
 *     from another thread); it is freed when the last holder lets go, and
 *     a detached record is never swept.
 *  2. BUSY connections (the server is working on the request or sending the
 *     answer) are never touched: they wait for us, not we for them.
 */
#include <errno.h>
#include <linux/tcp.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <time.h>

#include "http/http_int.h"

#define SWEEP_MS 250

/* The kernel's number for a socket whose peer sent FIN (include/net/
 * tcp_states.h); glibc names it only in netinet/tcp.h, whose struct
 * tcp_info lacks the byte counts that linux/tcp.h has. */
#define KERNEL_TCP_CLOSE_WAIT 8

typedef enum {
  CONN_SENDING,
  CONN_READING,
  CONN_BUSY,
  CONN_IDLE,
  CONN_CLOSED
} conn_state_t;

struct http_conn {
  http_conn_t *prev, *next;
  int refs;      /* the connection's own, plus one per request holding it */
  bool attached; /* in the list: the connection is open */
  int fd;
  conn_state_t state;
  uint64_t since_ns;   /* when the current state's deadline started */
  uint64_t bytes_mark; /* bytes received when it went idle */
};

struct http_guard {
  pthread_mutex_t lock;
  pthread_cond_t wake;
  http_conn_t list; /* sentinel of a circular list */
  uint64_t request_ns, idle_ns;
  bool stop;
  pthread_t thread;
  atomic_ullong closed;
};

/* What the kernel knows of the connection: bytes received so far, and
 * whether the client has closed its side (it can send nothing more). */
static uint64_t tcp_state(int fd, bool *peer_closed) {
  struct tcp_info ti;
  socklen_t len = sizeof ti;
  *peer_closed = false;
  if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &len) != 0 ||
      len < offsetof(struct tcp_info, tcpi_bytes_received) + sizeof ti.tcpi_bytes_received)
    return 0;
  *peer_closed = ti.tcpi_state == KERNEL_TCP_CLOSE_WAIT;
  return ti.tcpi_bytes_received;
}

static uint64_t bytes_received(int fd) {
  bool closed;
  return tcp_state(fd, &closed);
}

static void shut(http_guard_t *g, http_conn_t *c, const char *why, uint64_t limit_ns) {
  /* libmicrohttpd sees the connection end and closes it as if the client
   * had gone; the descriptor stays its own. */
  shutdown(c->fd, SHUT_RDWR);
  c->state = CONN_CLOSED;
  atomic_fetch_add(&g->closed, 1);
  if (limit_ns)
    ember_http_log("closed a connection that %s within %llu s\n", why,
                   (unsigned long long)(limit_ns / 1000000000u));
  else
    ember_http_log("closed a connection that %s\n", why);
}

static void sweep(http_guard_t *g, uint64_t now) {
  for (http_conn_t *c = g->list.next; c != &g->list; c = c->next) {
    switch (c->state) {
    case CONN_IDLE:
      if (bytes_received(c->fd) > c->bytes_mark) {
        c->state = CONN_SENDING;
        c->since_ns = now;
      } else if (now - c->since_ns > g->idle_ns) {
        shut(g, c, "stayed idle", g->idle_ns);
      }
      break;
    case CONN_SENDING:
    case CONN_READING: {
      /* A client that closed its side in the middle of a request will
       * never finish it; libmicrohttpd 0.9.75 does not always notice. */
      bool peer_closed;
      tcp_state(c->fd, &peer_closed);
      if (peer_closed)
        shut(g, c, "closed its side before sending a whole request", 0);
      else if (now - c->since_ns > g->request_ns)
        shut(g, c, "did not send a whole request", g->request_ns);
      break;
    }
    default: break;
    }
  }
}

static void *guard_main(void *arg) {
  http_guard_t *g = arg;
  pthread_setname_np(pthread_self(), "ember-guard");
  pthread_mutex_lock(&g->lock);
  while (!g->stop) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    ts.tv_nsec += SWEEP_MS * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
      ts.tv_sec++;
      ts.tv_nsec -= 1000000000L;
    }
    pthread_cond_timedwait(&g->wake, &g->lock, &ts);
    if (!g->stop) sweep(g, ember_mono_ns());
  }
  pthread_mutex_unlock(&g->lock);
  return NULL;
}

http_guard_t *ember_guard_start(unsigned request_s, unsigned idle_s) {
  http_guard_t *g = ember_calloc(1, sizeof *g);
  pthread_mutex_init(&g->lock, NULL);
  pthread_condattr_t ca;
  pthread_condattr_init(&ca);
  pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
  pthread_cond_init(&g->wake, &ca);
  pthread_condattr_destroy(&ca);
  g->list.next = g->list.prev = &g->list;
  g->request_ns = (uint64_t)request_s * 1000000000u;
  g->idle_ns = (uint64_t)idle_s * 1000000000u;
  if (pthread_create(&g->thread, NULL, guard_main, g) != 0) abort();
  return g;
}

void ember_guard_stop(http_guard_t *g) {
  if (!g) return;
  pthread_mutex_lock(&g->lock);
  g->stop = true;
  pthread_cond_signal(&g->wake);
  pthread_mutex_unlock(&g->lock);
  pthread_join(g->thread, NULL);
  pthread_mutex_destroy(&g->lock);
  pthread_cond_destroy(&g->wake);
  free(g);
}

http_conn_t *ember_guard_open(http_guard_t *g, int fd) {
  http_conn_t *c = ember_calloc(1, sizeof *c);
  c->refs = 1;
  c->attached = true;
  c->fd = fd;
  c->state = CONN_SENDING;
  c->since_ns = ember_mono_ns();
  pthread_mutex_lock(&g->lock);
  c->next = g->list.next;
  c->prev = &g->list;
  g->list.next->prev = c;
  g->list.next = c;
  pthread_mutex_unlock(&g->lock);
  return c;
}

/* Drops one reference; lock held. True when c must be freed. */
static bool unref(http_conn_t *c) {
  return --c->refs == 0;
}

void ember_guard_close(http_guard_t *g, http_conn_t *c) {
  if (!c) return;
  pthread_mutex_lock(&g->lock);
  c->prev->next = c->next;
  c->next->prev = c->prev;
  c->attached = false;
  c->state = CONN_CLOSED;
  bool last = unref(c);
  pthread_mutex_unlock(&g->lock);
  if (last) free(c);
}

http_conn_t *ember_guard_hold(http_guard_t *g, http_conn_t *c) {
  if (!c) return NULL;
  pthread_mutex_lock(&g->lock);
  c->refs++;
  pthread_mutex_unlock(&g->lock);
  return c;
}

void ember_guard_release(http_guard_t *g, http_conn_t *c) {
  if (!c) return;
  pthread_mutex_lock(&g->lock);
  bool last = unref(c);
  pthread_mutex_unlock(&g->lock);
  if (last) free(c);
}

static void set_state(http_guard_t *g, http_conn_t *c, conn_state_t st) {
  if (!c) return;
  pthread_mutex_lock(&g->lock);
  /* Read under the lock: only then is fd surely still this connection's. */
  uint64_t mark = st == CONN_IDLE && c->attached ? bytes_received(c->fd) : 0;
  if (c->state != CONN_CLOSED) {
    /* A request that went on from the bytes the sweep saw keeps the start
     * of its deadline; every other move starts a new one. */
    if (!(st == CONN_READING && c->state == CONN_SENDING)) c->since_ns = ember_mono_ns();
    c->state = st;
    c->bytes_mark = mark;
  }
  pthread_mutex_unlock(&g->lock);
}

void ember_guard_reading(http_guard_t *g, http_conn_t *c) {
  set_state(g, c, CONN_READING);
}
void ember_guard_busy(http_guard_t *g, http_conn_t *c) {
  set_state(g, c, CONN_BUSY);
}
void ember_guard_idle(http_guard_t *g, http_conn_t *c) {
  set_state(g, c, CONN_IDLE);
}

uint64_t ember_guard_closed(const http_guard_t *g) {
  return g ? atomic_load(&((http_guard_t *)g)->closed) : 0;
}
