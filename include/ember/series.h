/*
 * series.h - series keys and selectors.
 *
 * A series is one app plus one canonical label set: what an agent names in
 * `/ingest?name=app.cpu{region=eu-north,vehicle=car}`. A selector is what a
 * query names in FlameQL: `app.cpu{region="eu-north",pod=~"web-.*"}`.
 *
 * Rules (docs/API.md): app names [A-Za-z0-9_.-]+; label keys [A-Za-z0-9_.]+,
 * `__name__` reserved; values anything but ',' '}' and control characters;
 * keys and values trimmed of spaces; label sets sorted by key, one value per
 * key, so {b=2,a=1} and {a=1,b=2} are one series.
 */
#ifndef EMBER_SERIES_H
#define EMBER_SERIES_H

#include "ember/common.h"

#define EMBER_NAME_LABEL "__name__"

typedef struct {
  char *key;   /* owned */
  char *value; /* owned */
} ember_label_t;

/* A series key. Owns app and every label; labels sorted by key, unique. */
typedef struct {
  char *app;
  ember_label_t *labels;
  size_t nlabels;
  size_t cap;
} ember_series_key_t;

bool ember_app_name_valid(const char *s, size_t n);
bool ember_label_key_valid(const char *s, size_t n);
bool ember_label_value_valid(const char *s, size_t n);

/* Parses the ingest form "app{k=v,k2=v2}" (braces optional, values unquoted,
 * spaces around keys and values trimmed, empty label list allowed). On
 * success *out owns the result (free with ember_series_key_free); on failure
 * *out is left empty and err says which part is wrong. A repeated key is an
 * error; a value may be empty. */
int ember_series_key_parse(const char *s, size_t n, ember_series_key_t *out,
                           ember_err_t *err);

/* Sets key=value (validated) in k, replacing an existing value for key and
 * keeping the labels sorted. */
int ember_series_key_set(ember_series_key_t *k, const char *key, size_t klen,
                         const char *value, size_t vlen, ember_err_t *err);

/* Deep copy; dst must be empty or freed. */
void ember_series_key_copy(ember_series_key_t *dst, const ember_series_key_t *src);
/* Frees what k owns and leaves it empty. NULL is accepted. */
void ember_series_key_free(ember_series_key_t *k);

/* Appends the canonical label string "k=v,k2=v2" (no braces, sorted; empty
 * for no labels). The store keys series by (app, this string). */
void ember_series_key_labels(const ember_series_key_t *k, ember_buf_t *out);
/* Appends "app{k=v,k2=v2}". */
void ember_series_key_format(const ember_series_key_t *k, ember_buf_t *out);

/* Parses a canonical label string as written by ember_series_key_labels back
 * into k's labels (k->app untouched). Returns EMBER_EPARSE on a malformed
 * string. */
int ember_series_key_parse_labels(const char *s, size_t n, ember_series_key_t *k,
                                  ember_err_t *err);

/* ---- Selectors (FlameQL) ---------------------------------------------- */

/* Limits on the regular expressions of one selector, which anyone who can
 * reach a read endpoint sends. The source length bounds parsing; memory
 * bounds the compiled programs and their matching caches (RE2's max_mem):
 * the matchers of a selector share EMBER_SELECTOR_REGEX_MEM evenly, each
 * taking at most EMBER_REGEX_MEM_MAX. An expression that needs more is
 * refused, never granted. */
#define EMBER_REGEX_SOURCE_MAX 1024
#define EMBER_SELECTOR_REGEX_MAX 16
#define EMBER_REGEX_MEM_MAX ((size_t)2 << 20)
#define EMBER_SELECTOR_REGEX_MEM ((size_t)8 << 20)

typedef enum {
  EMBER_MATCH_EQ,  /* =  */
  EMBER_MATCH_NEQ, /* != */
  EMBER_MATCH_RE,  /* =~ RE2 regex, matching the whole value */
  EMBER_MATCH_NRE, /* !~ */
} ember_match_op_t;

typedef struct {
  char *key;
  char *value; /* the literal or the regex source, unquoted */
  ember_match_op_t op;
  void *re; /* compiled regex for RE/NRE, owned; NULL otherwise */
} ember_matcher_t;

/* A parsed FlameQL query: one app and zero or more matchers, all of which
 * must hold. As in Prometheus, a label a series lacks has the value "":
 * {k!="x"} matches series without k, {k=""} matches only those. */
typedef struct {
  char *app;
  ember_matcher_t *matchers;
  size_t n;
} ember_selector_t;

/* Parses `app{k="v",k2!="v",k3=~"re",k4!~"re"}` (braces optional; values in
 * double quotes with \" and \\ escapes; whitespace allowed between tokens).
 * Regexes are RE2 syntax and must match the whole value; the limits above
 * apply. On failure err names the position and what was expected, or the
 * regex and why it is refused. */
int ember_selector_parse(const char *s, size_t n, ember_selector_t *out,
                         ember_err_t *err);
/* Parses a label selector as Pyroscope's APIs write it: the matchers
 * alone, `{k="v",k2=~"re"}` (or an empty string, no matchers), with the
 * syntax and limits of ember_selector_parse; out->app is NULL and
 * `__name__` is a key like any other. Errors say "label selector" where
 * ember_selector_parse's say "query". */
int ember_selector_parse_matchers(const char *s, size_t n, ember_selector_t *out,
                                  ember_err_t *err);
void ember_selector_free(ember_selector_t *sel);

/* True when the label set (sorted by key) satisfies every matcher. The app
 * is not compared: callers look series up by app first. */
bool ember_selector_match(const ember_selector_t *sel, const ember_label_t *labels,
                          size_t n);

/* Appends the normalised query text `app{k="v",...}` (matchers in the order
 * given). */
void ember_selector_format(const ember_selector_t *sel, ember_buf_t *out);

#endif
