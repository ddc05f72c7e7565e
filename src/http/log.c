/*
 * log.c - the server's lines on stderr, rate-limited.
 *
 * Every aborted connection, refused handshake or failed push is worth a
 * line, but a client can cause thousands of them a second. A token bucket
 * lets a burst through and then a few lines per second; lines held back
 * are counted and the count goes out with the next line that passes.
 */
#include <stdarg.h>
#include <stdio.h>

#include "http/http_int.h"

#define LOG_BURST 20.0 /* lines that may go out at once */
#define LOG_RATE 5.0   /* lines per second after the burst */

static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;
static double log_tokens = LOG_BURST;
static uint64_t log_last_ns;
static unsigned long long log_dropped;

void ember_http_vlog(const char *fmt, va_list ap) {
  uint64_t now = ember_mono_ns();
  pthread_mutex_lock(&log_lock);
  if (log_last_ns) {
    log_tokens += (double)(now - log_last_ns) / 1e9 * LOG_RATE;
    if (log_tokens > LOG_BURST) log_tokens = LOG_BURST;
  }
  log_last_ns = now;
  if (log_tokens < 1.0) {
    log_dropped++;
    pthread_mutex_unlock(&log_lock);
    return;
  }
  log_tokens -= 1.0;
  if (log_dropped) {
    fprintf(stderr, "ember: (%llu similar lines held back)\n", log_dropped);
    log_dropped = 0;
  }
  fputs("ember: ", stderr);
  vfprintf(stderr, fmt, ap);
  pthread_mutex_unlock(&log_lock);
}

void ember_http_log(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  ember_http_vlog(fmt, ap);
  va_end(ap);
}
