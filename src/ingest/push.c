/*
 * push.c - one push.v1 push (include/ember/ingest.h, ember_ingest_push):
 * series of labels and raw pprof profiles to Ember's profiles, by the
 * rules of the pprof path.
 *
 * A series is named by its labels: service_name (else __name__) is the
 * app, labels starting with "__" (__name__, __delta__, ...) are Pyroscope's
 * own and not stored (neither are a profile's sample labels of that kind),
 * and the others become series labels. Each raw
 * profile is then read exactly as a pprof /ingest push of
 * name=<app>{<labels>}: an app per sample type, the sample's string labels
 * over the series', the rate from the profile's period; its times are the
 * profile's own (time_nanos, duration_nanos).
 *
 * The push is all or nothing: the first series or profile that cannot be
 * read fails it, and the limits (--max-series-per-push, --max-apps-per-push,
 * the memory of what it builds) count the push as a whole.
 */
#include "ingest_int.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SERVICE_NAME "service_name"
#define SPY_NAME "unknown"

/* Puts "series N[, profile M]: " before the message a reader left in err. */
static int located(ember_err_t *err, size_t series, size_t sample, int rc) {
  if (!err) return rc;
  char msg[EMBER_ERR_MSG_MAX];
  snprintf(msg, sizeof msg, "%s", err->msg);
  if (sample == SIZE_MAX)
    return ember_err_set(err, rc, "series %zu: %s", series + 1, msg);
  return ember_err_set(err, rc, "series %zu, profile %zu: %s", series + 1, sample + 1, msg);
}

/* The label naming the app: service_name, else __name__; NULL for none. */
static const char *app_of(const ember_ingest_series_t *s) {
  const char *name = NULL;
  for (size_t i = 0; i < s->nlabels; i++) {
    const ember_ingest_label_t *l = &s->labels[i];
    if (!l->name || !l->value || !*l->value) continue;
    if (!strcmp(l->name, SERVICE_NAME)) return l->value;
    if (!strcmp(l->name, EMBER_NAME_LABEL)) name = l->value;
  }
  return name;
}

/* The request side of every profile of series s: its key, and the
 * defaults of the pprof path. */
static int series_base(const ember_ingest_series_t *s, ember_profile_t *p,
                       ember_err_t *err) {
  const char *app = app_of(s);
  memset(p, 0, sizeof *p);
  if (!app)
    return ember_err_set(err, EMBER_EINVAL,
                         "no service_name label (nor __name__) to name the app; label "
                         "every series with service_name");
  if (!ember_app_name_valid(app, strlen(app))) {
    ember_excerpt_t e;
    return ember_err_set(err, EMBER_EINVAL,
                         "service_name '%s' cannot be an app name (letters, digits, "
                         "'_', '.' and '-'); relabel it in the agent",
                         ember_excerpt(&e, app, strlen(app), 60));
  }
  p->key.app = ember_strdup(app);
  p->sample_rate = 100;
  p->spy_name = ember_strdup(SPY_NAME);
  p->units = ember_strdup("samples");
  for (size_t i = 0; i < s->nlabels; i++) {
    const ember_ingest_label_t *l = &s->labels[i];
    if (!l->name || !l->value || !strncmp(l->name, "__", 2) ||
        !strcmp(l->name, SERVICE_NAME))
      continue;
    int rc = ember_series_key_set(&p->key, l->name, strlen(l->name), l->value,
                                  strlen(l->value), err);
    if (rc) return rc;
  }
  return EMBER_OK;
}

/* Moves the profiles of one into all. */
static void append(ember_ingest_result_t *all, ember_ingest_result_t *one) {
  if (one->n) {
    all->items = ember_realloc(all->items, (all->n + one->n) * sizeof *all->items);
    memcpy(all->items + all->n, one->items, one->n * sizeof *one->items);
    all->n += one->n;
  }
  free(one->items);
  memset(one, 0, sizeof *one);
}

/* The push as a whole within --max-series-per-push and --max-apps-per-push. */
static int check_limits(const ember_ingest_result_t *all, const ingest_ctx_t *c,
                        ember_err_t *err) {
  if (all->n > c->max_series)
    return ember_err_set(err, EMBER_ELIMIT,
                         "the push would write more than %" PRIu32 " series (label sets "
                         "times sample types); a push may write at most %" PRIu32
                         " (the server's --max-series-per-push): send fewer series per "
                         "push, or raise the limit",
                         c->max_series, c->max_series);
  size_t apps = 0;
  for (size_t i = 0; i < all->n; i++) {
    bool seen = false;
    for (size_t k = 0; k < i && !seen; k++)
      seen = !strcmp(all->items[k].key.app, all->items[i].key.app);
    apps += !seen;
  }
  if (apps > c->max_apps)
    return ember_err_set(err, EMBER_ELIMIT,
                         "the push would write more than %" PRIu32 " apps; a push may "
                         "write at most %" PRIu32 " (the server's --max-apps-per-push)",
                         c->max_apps, c->max_apps);
  return EMBER_OK;
}

static int read_series(const ember_ingest_series_t *s, size_t idx, ingest_ctx_t *c,
                       ember_ingest_result_t *all, ember_err_t *err) {
  ember_profile_t base;
  int rc = series_base(s, &base, err);
  if (rc) rc = located(err, idx, SIZE_MAX, rc);
  for (size_t j = 0; j < s->nsamples && rc == EMBER_OK; j++) {
    ember_ingest_result_t one;
    memset(&one, 0, sizeof one);
    rc = ingest_pprof(&base, NULL, s->samples[j].data, s->samples[j].len, c, &one, err);
    if (rc) {
      rc = located(err, idx, j, rc);
      break;
    }
    append(all, &one);
    rc = check_limits(all, c, err);
  }
  ember_profile_free(&base);
  return rc;
}

int ember_ingest_push(const ember_ingest_push_t *req, ember_ingest_result_t *out,
                      ember_err_t *err) {
  ingest_ctx_t c;
  ember_ingest_result_t all;
  memset(&all, 0, sizeof all);
  ingest_ctx_init(&c, &req->limits, req->max_body, req->budget);
  c.profile_times = true;
  c.drop_reserved = true;
  c.now = req->now;
  c.skew = req->limits.max_future_skew > 0 ? req->limits.max_future_skew
                                           : EMBER_INGEST_DEFAULT_MAX_FUTURE_SKEW;
  size_t bytes = 0;
  for (size_t i = 0; i < req->n; i++)
    for (size_t j = 0; j < req->series[i].nsamples; j++)
      bytes += req->series[i].samples[j].len;
  ingest_mem_body(&c, bytes);
  int rc = EMBER_OK;
  for (size_t i = 0; i < req->n && rc == EMBER_OK; i++)
    rc = read_series(&req->series[i], i, &c, &all, err);
  if (rc == EMBER_OK) {
    all.stacks_truncated = c.truncated;
    all.mem_bytes = ingest_result_bytes(&all);
    *out = all;
  } else {
    ember_ingest_result_free(&all);
  }
  ingest_mem_release(&c);
  return rc;
}
