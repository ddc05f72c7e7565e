/*
 * ingest.c - one /ingest request from parameters and bytes to profiles
 * (include/ember/ingest.h): checks the query parameters, picks the body
 * format, undoes the Content-Encoding and hands the body to its decoder.
 *
 * The order of the checks is the order of the status codes a client should
 * fix first: parameters (400, or 422 for times outside the accepted range),
 * then the body's size (413), then its content (422).
 */
#include "ingest_int.h"
#include "jfr_int.h"

#include "ember/timeexpr.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define SAMPLE_RATE_DEFAULT 100
#define SAMPLE_RATE_MAX 1000000000u
#define LABEL_PARAM_MAX 64 /* spyName and units */

/* ---- Error messages ---------------------------------------------------- */

/* Puts "param: " in front of the message a parser left in err. */
static int with_param(ember_err_t *err, const char *param, int rc) {
  if (err) {
    char msg[EMBER_ERR_MSG_MAX];
    memcpy(msg, err->msg, sizeof msg);
    ember_err_set(err, rc, "%s: %s", param, msg);
  }
  return rc;
}

/* ---- Formats ----------------------------------------------------------- */

typedef int (*tree_decoder_t)(const uint8_t *buf, size_t len, ember_tree_t *t,
                              ingest_ctx_t *c, ember_err_t *err);
/* For formats that may give several profiles from one body (pprof: one per
 * sample type and label set). base holds the request's parameters; buf is
 * the body after its Content-Encoding. */
typedef int (*profiles_decoder_t)(const ember_ingest_request_t *req,
                                  const ember_profile_t *base, const uint8_t *buf,
                                  size_t len, ingest_ctx_t *c, ember_ingest_result_t *out,
                                  ember_err_t *err);

static int folded(const uint8_t *buf, size_t len, ember_tree_t *t, ingest_ctx_t *c,
                  ember_err_t *err) {
  return ingest_folded((const char *)buf, len, t, c, err);
}

static int lines(const uint8_t *buf, size_t len, ember_tree_t *t, ingest_ctx_t *c,
                 ember_err_t *err) {
  return ingest_lines((const char *)buf, len, t, c, err);
}

static int pprof(const ember_ingest_request_t *req, const ember_profile_t *base,
                 const uint8_t *buf, size_t len, ingest_ctx_t *c,
                 ember_ingest_result_t *out, ember_err_t *err) {
  return ingest_pprof(base, req->content_type, buf, len, c, out, err);
}

static int jfr(const ember_ingest_request_t *req, const ember_profile_t *base,
               const uint8_t *buf, size_t len, ingest_ctx_t *c, ember_ingest_result_t *out,
               ember_err_t *err) {
  return ingest_jfr(base, req->event, req->content_type, buf, len, c, out, err);
}

/* The text formats' decoders into any sink (ingest_int.h). */
typedef int (*text_decoder_t)(const char *buf, size_t len, ingest_sink_fn add,
                              void *sink, ingest_ctx_t *c, ember_err_t *err);

/* A format and what selects it. Exactly one of tree and profiles is set;
 * text too for the formats whose stacks may stay text. */
typedef struct {
  const char *name;         /* the format= value */
  const char *content_type; /* a media type that selects it too, or NULL */
  tree_decoder_t tree;
  profiles_decoder_t profiles;
  text_decoder_t text;
} format_t;

/* In order of precedence: the first entry whose name or content type
 * matches wins; the last one is the default. */
static const format_t FORMATS[] = {
    {"trie", "binary/octet-stream+trie", ingest_trie, NULL, NULL},
    {"tree", "binary/octet-stream+tree", ingest_tree, NULL, NULL},
    {"lines", NULL, lines, NULL, ingest_lines_to},
    {"jfr", NULL, NULL, jfr, NULL},
    {"pprof", "multipart/form-data", NULL, pprof, NULL},
    {"folded", NULL, folded, NULL, ingest_folded_to},
};
#define NFORMATS (sizeof FORMATS / sizeof *FORMATS)

static bool slice_ieq(ember_slice_t s, const char *cstr) {
  return cstr && s.len == strlen(cstr) && strncasecmp(s.base, cstr, s.len) == 0;
}

static ember_slice_t param(const char *s) {
  return s ? ember_slice_trim(ember_slice(s, strlen(s))) : ember_slice("", 0);
}

static int pick_format(const ember_ingest_request_t *req, const format_t **out,
                       ember_err_t *err) {
  ember_slice_t name = param(req->format);
  ember_slice_t ct = param(req->content_type);
  const char *semi = ct.len ? memchr(ct.base, ';', ct.len) : NULL;
  if (semi) ct = ember_slice_trim(ember_slice(ct.base, (size_t)(semi - ct.base)));
  bool known = name.len == 0;
  for (size_t i = 0; i < NFORMATS && !known; i++)
    known = slice_ieq(name, FORMATS[i].name);
  if (!known) {
    ingest_excerpt_t e;
    return ember_err_set(err, EMBER_EINVAL,
                         "unknown format '%s'; use folded, lines, tree, trie, pprof or jfr",
                         ingest_excerpt(&e, name.base, name.len));
  }
  for (size_t i = 0; i < NFORMATS; i++) {
    if (slice_ieq(name, FORMATS[i].name) || slice_ieq(ct, FORMATS[i].content_type)) {
      *out = &FORMATS[i];
      return EMBER_OK;
    }
  }
  *out = &FORMATS[NFORMATS - 1];
  return EMBER_OK;
}

/* ---- Parameters -------------------------------------------------------- */

static int parse_sample_rate(ember_slice_t s, uint32_t *out, ember_err_t *err) {
  uint64_t v = 0;
  bool ok = s.len > 0;
  for (size_t i = 0; ok && i < s.len; i++) {
    ok = s.base[i] >= '0' && s.base[i] <= '9';
    v = v * 10 + (uint64_t)(s.base[i] - '0');
    ok = ok && v <= SAMPLE_RATE_MAX;
  }
  if (!ok || v == 0) {
    ingest_excerpt_t e;
    return ember_err_set(err, EMBER_EINVAL,
                         "sampleRate: expected a whole number of samples per second "
                         "from 1 to %u, got '%s'",
                         SAMPLE_RATE_MAX, ingest_excerpt(&e, s.base, s.len));
  }
  *out = (uint32_t)v;
  return EMBER_OK;
}

/* spyName and units: short printable ASCII, or the default when absent. */
static int parse_label_param(const char *pname, ember_slice_t s, const char *dflt,
                             char **out, ember_err_t *err) {
  bool ok = s.len <= LABEL_PARAM_MAX;
  for (size_t i = 0; ok && i < s.len; i++)
    ok = s.base[i] >= 0x20 && s.base[i] < 0x7f;
  if (!ok) {
    ingest_excerpt_t e;
    return ember_err_set(err, EMBER_EINVAL,
                         "%s: expected at most %d printable ASCII characters, got "
                         "'%s'",
                         pname, LABEL_PARAM_MAX, ingest_excerpt(&e, s.base, s.len));
  }
  *out = s.len ? ember_strndup(s.base, s.len) : ember_strdup(dflt);
  return EMBER_OK;
}

/* "2023-11-14T22:13:20Z", or the number when the year has no 4 digits. */
static const char *iso_time(char buf[32], int64_t t) {
  struct tm tm;
  time_t tt = (time_t)t;
  if (t < 0 || t > INT64_C(253402300799) || !gmtime_r(&tt, &tm) ||
      !strftime(buf, 32, "%Y-%m-%dT%H:%M:%SZ", &tm))
    snprintf(buf, 32, "%" PRId64, t);
  return buf;
}

/* A number of seconds as the largest whole unit: "10m", "2h", "90s". */
static const char *span_str(char buf[32], int64_t secs) {
  static const struct {
    int64_t s;
    char unit;
  } UNITS[] = {{86400, 'd'}, {3600, 'h'}, {60, 'm'}};
  for (size_t i = 0; i < sizeof UNITS / sizeof *UNITS; i++) {
    if (secs % UNITS[i].s == 0) {
      snprintf(buf, 32, "%" PRId64 "%c", secs / UNITS[i].s, UNITS[i].unit);
      return buf;
    }
  }
  snprintf(buf, 32, "%" PRId64 "s", secs);
  return buf;
}

/* A time a push may cover: from 2000-01-01 (anything earlier is a clock or
 * unit error) to now plus the allowed skew (anything later would sit past
 * the newest data, where retention never reaches it). */
int ingest_check_time(const char *param, int64_t t, int64_t now, int64_t skew,
                      ember_err_t *err) {
  char tb[32], nb[32], lb[32], sb[32];
  int64_t latest = now > INT64_MAX - skew ? INT64_MAX : now + skew;
  if (t >= EMBER_INGEST_MIN_TIME && t <= latest) return EMBER_OK;
  return ember_err_set(
      err, EMBER_ERANGE,
      "%s: %" PRId64 " (%s) is %s; a push may cover times from %s to "
      "now+%s (%s by the server's clock); check the agent's clock and "
      "time unit%s",
      param, t, iso_time(tb, t),
      t < EMBER_INGEST_MIN_TIME ? "before the year 2000" : "too far in the future",
      iso_time(nb, EMBER_INGEST_MIN_TIME), span_str(sb, skew), iso_time(lb, latest),
      t < EMBER_INGEST_MIN_TIME ? ""
                                : ", or raise the server's "
                                  "--max-future-skew");
}

static int parse_times(const ember_ingest_request_t *req, ember_profile_t *p,
                       ember_err_t *err) {
  int rc;
  int64_t skew = req->limits.max_future_skew > 0 ? req->limits.max_future_skew
                                                 : EMBER_INGEST_DEFAULT_MAX_FUTURE_SKEW;
  p->until = req->now;
  if (param(req->until).len) {
    rc = ember_time_parse(req->until, req->now, &p->until, err);
    if (rc) return with_param(err, "until", rc);
  }
  p->from = p->until;
  if (param(req->from).len) {
    rc = ember_time_parse(req->from, req->now, &p->from, err);
    if (rc) return with_param(err, "from", rc);
  }
  rc = ingest_check_time("from", p->from, req->now, skew, err);
  if (rc == EMBER_OK) rc = ingest_check_time("until", p->until, req->now, skew, err);
  if (rc) return rc;
  if (p->until < p->from)
    return ember_err_set(err, EMBER_EINVAL,
                         "'until' (%" PRId64 ") is before 'from' (%" PRId64
                         "); send a time range with from <= until",
                         p->until, p->from);
  return EMBER_OK;
}

static int parse_aggregation(ember_slice_t s, ember_aggregation_t *out,
                             ember_err_t *err) {
  if (s.len == 0 || slice_ieq(s, "sum")) {
    *out = EMBER_AGG_SUM;
  } else if (slice_ieq(s, "average")) {
    *out = EMBER_AGG_AVERAGE;
  } else {
    ingest_excerpt_t e;
    return ember_err_set(err, EMBER_EINVAL,
                         "aggregationType: expected 'sum' or 'average', got '%s'",
                         ingest_excerpt(&e, s.base, s.len));
  }
  return EMBER_OK;
}

/* Fills everything of p but the tree from the query parameters. On failure
 * p may hold part of it; the caller frees it either way. */
static int parse_params(const ember_ingest_request_t *req, ember_profile_t *p,
                        ember_err_t *err) {
  ember_slice_t name = param(req->name);
  if (name.len == 0)
    return ember_err_set(err, EMBER_EINVAL,
                         "missing 'name' parameter: name the series, e.g. "
                         "name=myapp.cpu{region=eu}");
  int rc = ember_series_key_parse(name.base, name.len, &p->key, err);
  if (rc == EMBER_OK) rc = parse_times(req, p, err);
  p->sample_rate = SAMPLE_RATE_DEFAULT;
  if (rc == EMBER_OK && param(req->sample_rate).len)
    rc = parse_sample_rate(param(req->sample_rate), &p->sample_rate, err);
  if (rc == EMBER_OK)
    rc = parse_label_param("spyName", param(req->spy_name), "unknown", &p->spy_name, err);
  if (rc == EMBER_OK)
    rc = parse_label_param("units", param(req->units), "samples", &p->units, err);
  if (rc == EMBER_OK)
    rc = parse_aggregation(param(req->aggregation), &p->aggregation, err);
  return rc;
}

/* ---- API --------------------------------------------------------------- */

/* Wraps one decoded tree or set of text stacks into a result: no profile
 * at all when it holds no samples. Takes base (its key and strings), the
 * tree and the stacks. */
static void one_profile(ember_profile_t *base, ember_tree_t *tree,
                        ember_text_stacks_t *stacks, ember_ingest_result_t *out) {
  memset(out, 0, sizeof *out);
  if (stacks ? stacks->total == 0 : ember_tree_total(tree, 0) == 0) {
    ember_tree_free(tree);
    ember_text_stacks_free(stacks);
    ember_profile_free(base);
    return;
  }
  out->items = ember_malloc(sizeof *out->items);
  out->items[0] = *base;
  out->items[0].tree = tree;
  out->items[0].stacks = stacks;
  out->n = 1;
  memset(base, 0, sizeof *base);
}

/* A text body into text stacks that point into it; the decoded copy of a
 * body, if decoding made one, goes with them (body is then left without
 * it, its bytes still counted in c until the parse ends). */
static int text_profile(const format_t *fmt, ingest_buf_t *body, ingest_ctx_t *c,
                        ember_profile_t *base, ember_ingest_result_t *out,
                        ember_err_t *err) {
  ingest_texts_t b;
  ingest_texts_init(&b, c);
  int rc = fmt->text((const char *)body->data, body->len, ingest_texts_add, &b, c, err);
  if (rc) {
    ingest_texts_free(&b);
    return rc;
  }
  ember_text_stacks_t *s = ingest_texts_finish(&b);
  s->mem_limit = c->mem_limit;
  if (body->owned) {
    s->owned = (char *)body->owned;
    s->owned_cap = body->taken;
    body->owned = NULL;
  }
  one_profile(base, NULL, s, out);
  return EMBER_OK;
}


int ember_ingest_parse(const ember_ingest_request_t *req, ember_ingest_result_t *out,
                       ember_err_t *err) {
  ember_profile_t base = {0};
  ember_tree_t *tree = NULL;
  ingest_buf_t body = {NULL, 0, NULL, 0};
  ingest_ctx_t c;
  const format_t *fmt = NULL;
  ingest_ctx_init(&c, &req->limits, req->max_body, req->budget);
  int rc = parse_params(req, &base, err);
  if (rc == EMBER_OK) rc = pick_format(req, &fmt, err);
  if (rc == EMBER_OK)
    rc = ingest_decode(req->content_encoding, req->body, req->body_len, &c, &body, err);
  if (rc) goto done;
  if (fmt->profiles) {
    rc = fmt->profiles(req, &base, body.data, body.len, &c, out, err);
  } else if (fmt->text && req->text_stacks) {
    rc = text_profile(fmt, &body, &c, &base, out, err);
  } else {
    tree = ember_tree_new();
    rc = fmt->tree(body.data, body.len, tree, &c, err);
    if (rc == EMBER_OK) {
      one_profile(&base, tree, NULL, out);
      tree = NULL;
    }
  }
  if (rc == EMBER_OK) {
    out->stacks_truncated = c.truncated;
    out->mem_bytes = ingest_result_bytes(out);
  }
done:
  ember_tree_free(tree);
  ember_profile_free(&base);
  ingest_buf_free(&c, &body);
  ingest_mem_release(&c);
  return rc;
}
