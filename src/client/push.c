/*
 * push.c - `ember push`: one profile to /ingest, retried by the rules every
 * pusher of this binary shares (retry.c) so that a CI job racing a busy or
 * restarting server waits for it rather than failing the build.
 */
#include "ember/client.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ---- Private functions ------------------------------------------------- */

static void put_param(ember_buf_t *b, const char *name, const char *value) {
  if (!value) return;
  ember_buf_putc(b, '&');
  ember_buf_puts(b, name);
  ember_buf_putc(b, '=');
  ember_client_urlencode(b, value);
}

static void sleep_ms(int ms) {
  struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
  while (nanosleep(&ts, &ts))
    ;
}

/* One POST: the status (0: no answer) and, when not 200, why in msg. */
static int post_once(const ember_client_url_t *u, const char *target,
                     const ember_push_opts_t *o, int *retry_after, ember_buf_t *msg) {
  ember_client_resp_t resp;
  memset(&resp, 0, sizeof resp);
  ember_err_t err;
  int status = 0;
  *retry_after = -1;
  ember_buf_reset(msg);
  if (ember_client_post(u, target, o->token, o->content_type, o->content_encoding, o->body,
                        o->len, o->timeout_ms > 0 ? o->timeout_ms
                                                  : EMBER_CLIENT_DEFAULT_TIMEOUT_MS,
                        &resp, &err)) {
    ember_buf_puts(msg, err.msg);
  } else {
    status = resp.status;
    *retry_after = resp.retry_after;
    if (status != 200) {
      ember_buf_printf(msg, "the server answered %d: ", status);
      ember_client_error_message(&resp, msg);
    }
  }
  ember_client_resp_free(&resp);
  return status;
}

/* ---- API --------------------------------------------------------------- */

int ember_client_push(const ember_push_opts_t *o, unsigned *retries, ember_err_t *err) {
  ember_client_url_t url;
  int rc = ember_client_url_parse(o->server ? o->server : EMBER_CLIENT_DEFAULT_SERVER, &url,
                                  err);
  if (rc) return rc;
  ember_buf_t target = EMBER_BUF_INIT, msg = EMBER_BUF_INIT;
  ember_buf_puts(&target, "/ingest?name=");
  ember_client_urlencode(&target, o->name);
  put_param(&target, "from", o->from);
  put_param(&target, "until", o->until);
  put_param(&target, "format", o->format);
  put_param(&target, "sampleRate", o->sample_rate);
  put_param(&target, "units", o->units);
  put_param(&target, "spyName", o->spy_name);
  unsigned seed = (unsigned)ember_mono_ns();
  unsigned attempt = 0;
  for (;; attempt++) {
    int retry_after;
    int status = post_once(&url, target.data, o, &retry_after, &msg);
    if (status == 200) break;
    if (ember_client_retryable(status) && attempt < o->max_retries) {
      double jitter = (double)rand_r(&seed) / ((double)RAND_MAX + 1.0);
      sleep_ms(ember_client_retry_delay_ms(status, retry_after, attempt, jitter));
      continue;
    }
    if (!ember_client_retryable(status))
      rc = ember_err_set(err, EMBER_EINVAL, "%s", msg.data);
    else if (attempt)
      rc = ember_err_set(err, EMBER_EIO, "%s (gave up after %u retries)", msg.data, attempt);
    else
      rc = ember_err_set(err, EMBER_EIO, "%s", msg.data);
    break;
  }
  if (retries) *retries = attempt;
  ember_buf_free(&target);
  ember_buf_free(&msg);
  return rc;
}
