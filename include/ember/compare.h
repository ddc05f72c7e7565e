/*
 * compare.h - two profiles side by side, for `ember diff`: which functions'
 * share of their side's total changed most, and whether that passes a
 * regression gate.
 *
 * A comparison is a function table with two sides, the base (side 0) and
 * the head (side 1): per function (frame name) the sum of its self values
 * and its total on each side, as /render-diff's "functions" carries it, and
 * the total of each side. It comes from a two-sided tree built from files
 * (ember_compare_from_tree, the server's own function table code) or from
 * a /render-diff answer (ember_compare_from_json), so the offline and the
 * server comparison are the same numbers.
 *
 * Shares are of the side's whole total, in percent; a change of share is in
 * percentage points (pp). Comparing shares rather than values makes a build
 * that ran for twice as long compare equal to itself; the totals are
 * compared separately (--fail-total-above), for runs of the same work.
 *
 * Also here: reading a profile file (any format /ingest takes from a
 * profiler: folded, lines, pprof, JFR, gzipped or not) into a tree.
 */
#ifndef EMBER_COMPARE_H
#define EMBER_COMPARE_H

#include "ember/common.h"
#include "ember/tree.h"

#define EMBER_COMPARE_BASE 0
#define EMBER_COMPARE_HEAD 1

/* ---- Comparisons --------------------------------------------------------- */

/* One function of both sides. Owns name. */
typedef struct {
  char *name; /* NUL-terminated; a NUL inside a frame name ends it */
  uint64_t self[2];
  uint64_t total[2];
} ember_compare_fn_t;

/* A comparison. Owns items. */
typedef struct {
  ember_compare_fn_t *items;
  size_t n;
  uint64_t total[2]; /* each side's total */
  char units[64];    /* "samples", "nanoseconds", "bytes", ... */
  uint32_t sample_rate;
  bool truncated; /* the server listed only part of the functions */
} ember_compare_t;

/* The comparison of t's side 0 (base) and side 1 (head): every function of
 * the whole tree, through ember_functions_compute. units and sample_rate
 * are copied. *out written only on success (free with
 * ember_compare_free). */
int ember_compare_from_tree(const ember_tree_t *t, const char *units,
                            uint32_t sample_rate, ember_compare_t *out,
                            ember_err_t *err);

/* The comparison a /render-diff JSON answer describes: leftTicks and
 * rightTicks, metadata.units and sampleRate, and the function table. The
 * left side is the base. EMBER_EPARSE when the JSON is not such an
 * answer. */
int ember_compare_from_json(const char *json, size_t len, ember_compare_t *out,
                            ember_err_t *err);

/* Frees what c owns; NULL and zeroed are accepted. */
void ember_compare_free(ember_compare_t *c);

/* ---- The gate ------------------------------------------------------------ */

/* What counts as a regression. Strings borrowed. */
typedef struct {
  double fail_above;       /* pp a self share may grow by; < 0: no limit */
  double fail_total_above; /* % the head's total may pass the base's; < 0: none */
  double min_share;        /* % a function needs on one side to count; 0: all */
  const char *ignore;      /* RE2 expression; functions whose name it matches
                            * anywhere are left out; NULL: none */
  size_t top;              /* rows a report lists; 0: all */
} ember_gate_opts_t;

/* One function as the gate reads it: index into the comparison's items,
 * its self and total shares of each side (%), and the change of its self
 * share (pp, head minus base). */
typedef struct {
  size_t fn;
  double self_share[2];
  double total_share[2];
  double delta_pp;
  bool over; /* grew by more than fail_above */
} ember_gate_row_t;

/* What the gate found. Owns both arrays. */
typedef struct {
  ember_gate_row_t *rows; /* functions left after ignore and min_share, the
                           * largest change of self share first */
  size_t n;
  size_t ignored;          /* functions ignore left out */
  ember_gate_row_t *regressions; /* the rows over fail_above, largest growth
                                  * first */
  size_t nregressions;
  double total_change;     /* head total over base total, in % (+20: 20% more) */
  bool total_over;         /* total_change passed fail_total_above */
  bool passed;
} ember_gate_t;

/* Ranks c's functions and applies o. EMBER_EINVAL when o->ignore is not a
 * valid expression. *out written only on success (free with
 * ember_gate_free). */
int ember_gate_eval(const ember_compare_t *c, const ember_gate_opts_t *o,
                    ember_gate_t *out, ember_err_t *err);
void ember_gate_free(ember_gate_t *g); /* NULL is accepted */

/* ---- Reports ------------------------------------------------------------- */

typedef enum {
  EMBER_REPORT_TEXT,     /* aligned columns for a terminal */
  EMBER_REPORT_JSON,     /* one object, for scripts */
  EMBER_REPORT_MARKDOWN, /* for a pull-request comment or a CI step summary */
} ember_report_format_t;

/* What the report says the sides are ("base.folded",
 * 'app.cpu{commit="a1"}'). Borrowed. */
typedef struct {
  const char *base;
  const char *head;
  bool color; /* text only: ANSI colours for growth and shrinkage */
} ember_report_opts_t;

/* Appends the report of c as the gate g (from c and o) read it: the totals
 * of both sides, the first o->top rows, and the verdict. */
void ember_report_put(ember_buf_t *out, ember_report_format_t f, const ember_compare_t *c,
                      const ember_gate_opts_t *o, const ember_gate_t *g,
                      const ember_report_opts_t *r);

/* ---- Profile files ------------------------------------------------------- */

/* The format of a profile's bytes, from its content: "jfr" for a JFR
 * recording's magic, "pprof" for a protobuf (bytes that are not text),
 * "folded" for text whose first line ends in a count, else "lines". A
 * gzip stream is looked at inside (the first 64 KiB of it); *gzipped (may
 * be NULL) says whether it was one. Never fails: unknown bytes read as
 * text, and the parser says what is wrong with them. */
const char *ember_profile_detect(const uint8_t *p, size_t n, bool *gzipped);

/* Reads the whole file at path ("-": standard input) into *data (caller
 * frees), at most max bytes. EMBER_EIO naming the path and the reason;
 * EMBER_ETOOBIG past max. */
int ember_profile_read_file(const char *path, size_t max, uint8_t **data, size_t *n,
                            ember_err_t *err);

/* How to read a profile file. Strings borrowed; NULL for the defaults. */
typedef struct {
  const char *format;      /* folded, lines, pprof, jfr; NULL or "auto":
                            * ember_profile_detect */
  const char *units;       /* text formats: "samples" */
  const char *sample_rate; /* text formats: "100" */
  size_t max_body;         /* decompressed; 0: 256 MiB */
} ember_profile_load_opts_t;

/* What a loaded profile says about its values. */
typedef struct {
  char format[8];
  char units[64];
  uint32_t sample_rate;
  char app[128]; /* pprof and JFR: the sample type read ("cpu") */
} ember_profile_info_t;

/* Parses data[0..n) with /ingest's own decoders and adds its samples to
 * side `side` of t. A pprof or JFR profile with several sample types adds
 * the first type's (every label set of it). *info written on success.
 * EMBER_EPARSE (with the line or offset) for bytes the format cannot
 * read, EMBER_EINVAL for bad options. */
int ember_profile_load(const uint8_t *data, size_t n, const ember_profile_load_opts_t *o,
                       ember_tree_t *t, int side, ember_profile_info_t *info,
                       ember_err_t *err);

#endif
