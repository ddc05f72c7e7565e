/*
 * retry.c - when a push that failed is worth sending again, and after how
 * long: the rules of Ember's agents (examples/python/ember_agent/_push.py),
 * shared by `ember spy record` and `ember push` so that every pusher of
 * this binary backs off from a busy server the same way.
 */
#include "ember/client.h"

bool ember_client_retryable(int status) {
  return status == 0 || status == 429 || status >= 500;
}

int ember_client_retry_delay_ms(int status, int retry_after_s, unsigned attempt,
                                double jitter) {
  if (status == 429 && retry_after_s >= 0)
    return retry_after_s * 1000 < EMBER_CLIENT_MAX_BACKOFF_MS ? retry_after_s * 1000
                                                             : EMBER_CLIENT_MAX_BACKOFF_MS;
  double delay = EMBER_CLIENT_BACKOFF_MS;
  for (unsigned i = 0; i < attempt && delay < EMBER_CLIENT_MAX_BACKOFF_MS; i++) delay *= 2;
  if (delay > EMBER_CLIENT_MAX_BACKOFF_MS) delay = EMBER_CLIENT_MAX_BACKOFF_MS;
  return (int)(delay * (0.5 + 0.5 * jitter));
}
