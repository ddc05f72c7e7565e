/*
 * report.c - a comparison as text for a terminal, JSON for scripts and
 * Markdown for a pull-request comment (include/ember/compare.h).
 *
 * All three say the same things in the same order: the totals of both
 * sides, the functions whose self share changed most (self and total
 * shares of each side, the change in percentage points and relative to
 * the base share), and the verdict of the gate with the functions that
 * tripped it, the largest growth first.
 */
#include "ember/compare.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "ember/query.h"

#define NAME_WIDTH_MAX 60

#define RED "\033[31m"
#define GREEN "\033[32m"
#define BOLD "\033[1m"
#define RESET "\033[0m"

/* ---- Shared pieces ------------------------------------------------------- */

static size_t shown(const ember_gate_opts_t *o, const ember_gate_t *g) {
  return o->top && o->top < g->n ? o->top : g->n;
}

/* "+150%", "new", "gone" or "": the head's self share relative to the
 * base's. */
static void put_relative(ember_buf_t *b, const ember_gate_row_t *r) {
  double x = r->self_share[0], y = r->self_share[1];
  if (x == 0 && y == 0) return;
  if (x == 0) {
    ember_buf_puts(b, "new");
    return;
  }
  if (y == 0) {
    ember_buf_puts(b, "gone");
    return;
  }
  double rel = (y / x - 1.0) * 100.0;
  ember_buf_printf(b, fabs(rel) >= 10 ? "%+.0f%%" : "%+.1f%%", rel);
}

static void put_total(ember_buf_t *b, const ember_compare_t *c, int side) {
  ember_fmt_sum_units(b, c->total[side], c->units, c->sample_rate);
}

static void put_total_change(ember_buf_t *b, const ember_gate_t *g) {
  if (isinf(g->total_change))
    ember_buf_puts(b, "the base is empty");
  else
    ember_buf_printf(b, "%+.1f%% against the base", g->total_change);
}

/* The verdict as one sentence per reason, without markup. */
static void put_verdict_line(ember_buf_t *b, const ember_gate_opts_t *o,
                             const ember_gate_t *g) {
  if (g->passed) {
    if (o->fail_above < 0 && o->fail_total_above < 0)
      ember_buf_puts(b, "no gate set (--fail-above, --fail-total-above)");
    else if (o->fail_above >= 0)
      ember_buf_printf(b, "no function's self share grew by more than %g pp", o->fail_above);
    else
      ember_buf_printf(b, "the total grew by no more than %g%%", o->fail_total_above);
    return;
  }
  if (g->nregressions)
    ember_buf_printf(b, "%zu function%s grew by more than %g pp of self share",
                     g->nregressions, g->nregressions == 1 ? "" : "s", o->fail_above);
  if (g->nregressions && g->total_over) ember_buf_puts(b, "; ");
  if (g->total_over)
    ember_buf_printf(b, "the head's total is %.1f%% above the base's, over %g%%",
                     g->total_change, o->fail_total_above);
}

/* ---- Text ---------------------------------------------------------------- */

/* Appends name in at most width columns (bytes; cut names end in "..."),
 * padded to width. */
static void put_cell_name(ember_buf_t *b, const char *name, size_t width) {
  size_t n = strlen(name);
  if (n > width) {
    ember_buf_append(b, name, width - 3);
    ember_buf_puts(b, "...");
    return;
  }
  ember_buf_puts(b, name);
  for (size_t i = n; i < width; i++)
    ember_buf_putc(b, ' ');
}

static void put_pp_cell(ember_buf_t *b, double pp, bool over, bool color) {
  char cell[32];
  snprintf(cell, sizeof cell, "%+.2f pp", pp);
  if (!strcmp(cell, "-0.00 pp")) snprintf(cell, sizeof cell, "+0.00 pp");
  const char *on = !color ? "" : over ? BOLD RED : pp >= 0.005 ? RED : pp <= -0.005 ? GREEN : "";
  ember_buf_printf(b, "%s%11s%s", on, cell, *on ? RESET : "");
}

static void put_text(ember_buf_t *b, const ember_compare_t *c, const ember_gate_opts_t *o,
                     const ember_gate_t *g, const ember_report_opts_t *r) {
  ember_buf_printf(b, "base  %s: ", r->base);
  put_total(b, c, 0);
  ember_buf_printf(b, "\nhead  %s: ", r->head);
  put_total(b, c, 1);
  ember_buf_puts(b, " (");
  put_total_change(b, g);
  ember_buf_puts(b, ")\n\n");
  size_t n = shown(o, g), width = 8;
  for (size_t i = 0; i < n; i++) {
    size_t len = strlen(c->items[g->rows[i].fn].name);
    if (len > width) width = len;
  }
  if (width > NAME_WIDTH_MAX) width = NAME_WIDTH_MAX;
  put_cell_name(b, "", width);
  ember_buf_puts(b, "  ------------- self share -------------  ------ total share ------\n");
  put_cell_name(b, "function", width);
  ember_buf_puts(b, "     base     head       change     rel.     base     head       change\n");
  for (size_t i = 0; i < n; i++) {
    const ember_gate_row_t *row = &g->rows[i];
    put_cell_name(b, c->items[row->fn].name, width);
    ember_buf_printf(b, "  %7.2f%%  %7.2f%% ", row->self_share[0], row->self_share[1]);
    put_pp_cell(b, row->delta_pp, row->over, r->color);
    ember_buf_t rel = EMBER_BUF_INIT;
    put_relative(&rel, row);
    ember_buf_printf(b, "  %7s  %7.2f%%  %7.2f%% ", rel.len ? rel.data : "", row->total_share[0],
                     row->total_share[1]);
    ember_buf_free(&rel);
    put_pp_cell(b, row->total_share[1] - row->total_share[0], false, r->color);
    ember_buf_putc(b, '\n');
  }
  if (!n) ember_buf_puts(b, "(no function to compare)\n");
  if (n < g->n) ember_buf_printf(b, "... and %zu more (--top)\n", g->n - n);
  if (g->ignored) ember_buf_printf(b, "%zu function%s ignored (--ignore)\n", g->ignored,
                                   g->ignored == 1 ? "" : "s");
  if (c->truncated) ember_buf_puts(b, "(the server listed only part of the functions)\n");
  ember_buf_puts(b, "\n");
  const char *on = !r->color ? "" : g->passed ? BOLD GREEN : BOLD RED;
  ember_buf_printf(b, "%s%s%s: ", on, g->passed ? "PASS" : "FAIL", *on ? RESET : "");
  put_verdict_line(b, o, g);
  ember_buf_putc(b, '\n');
  for (size_t i = 0; i < g->nregressions; i++) {
    const ember_gate_row_t *row = &g->regressions[i];
    ember_buf_printf(b, "  %s: self %.2f%% -> %.2f%% (%+.2f pp)\n", c->items[row->fn].name,
                     row->self_share[0], row->self_share[1], row->delta_pp);
  }
}

/* ---- Markdown ------------------------------------------------------------ */

/* A frame name as Markdown text inside a table cell: every character that
 * a table or inline Markdown reads there (| ` * _ [ ] < > ~ \) escaped with
 * a backslash, control characters as spaces. */
static void put_md_text(ember_buf_t *b, const char *s) {
  for (; *s; s++) {
    unsigned char ch = (unsigned char)*s;
    if (ch < 0x20 || ch == 0x7f)
      ember_buf_putc(b, ' ');
    else {
      if (strchr("\\`*_[]<>|~", ch)) ember_buf_putc(b, '\\');
      ember_buf_putc(b, (char)ch);
    }
  }
}

static void put_markdown(ember_buf_t *b, const ember_compare_t *c, const ember_gate_opts_t *o,
                         const ember_gate_t *g, const ember_report_opts_t *r) {
  ember_buf_printf(b, "### Profile diff: %s\n\n", g->passed ? "pass" : "**regression**");
  ember_buf_puts(b, "**Base** ");
  put_md_text(b, r->base);
  ember_buf_puts(b, ": ");
  put_total(b, c, 0);
  ember_buf_puts(b, "  \n**Head** ");
  put_md_text(b, r->head);
  ember_buf_puts(b, ": ");
  put_total(b, c, 1);
  ember_buf_puts(b, " (");
  put_total_change(b, g);
  ember_buf_puts(b, ")\n\n");
  ember_buf_puts(b, "| Function | Self base | Self head | Self change | Relative | "
                    "Total base | Total head | Total change |\n"
                    "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n");
  size_t n = shown(o, g);
  for (size_t i = 0; i < n; i++) {
    const ember_gate_row_t *row = &g->rows[i];
    ember_buf_puts(b, "| ");
    put_md_text(b, c->items[row->fn].name);
    ember_buf_printf(b, " | %.2f%% | %.2f%% | %s%+.2f pp%s | ", row->self_share[0],
                     row->self_share[1], row->over ? "**" : "", row->delta_pp,
                     row->over ? "**" : "");
    put_relative(b, row);
    ember_buf_printf(b, " | %.2f%% | %.2f%% | %+.2f pp |\n", row->total_share[0],
                     row->total_share[1], row->total_share[1] - row->total_share[0]);
  }
  ember_buf_putc(b, '\n');
  if (n < g->n) ember_buf_printf(b, "%zu more functions changed less.\n\n", g->n - n);
  ember_buf_printf(b, "**%s**: ", g->passed ? "Pass" : "Fail");
  put_verdict_line(b, o, g);
  ember_buf_puts(b, ".\n");
  for (size_t i = 0; i < g->nregressions; i++) {
    const ember_gate_row_t *row = &g->regressions[i];
    ember_buf_puts(b, "- ");
    put_md_text(b, c->items[row->fn].name);
    ember_buf_printf(b, ": self %.2f%% → %.2f%% (%+.2f pp)\n", row->self_share[0],
                     row->self_share[1], row->delta_pp);
  }
}

/* ---- JSON ---------------------------------------------------------------- */

static json_t *pair_u64(const uint64_t v[2]) {
  return json_pack("[II]", (json_int_t)(v[0] > INT64_MAX ? INT64_MAX : v[0]),
                   (json_int_t)(v[1] > INT64_MAX ? INT64_MAX : v[1]));
}

static json_t *row_json(const ember_compare_t *c, const ember_gate_row_t *r) {
  const ember_compare_fn_t *f = &c->items[r->fn];
  json_t *rel = json_null();
  if (r->self_share[0] > 0) rel = json_real((r->self_share[1] / r->self_share[0] - 1) * 100);
  return json_pack("{s:s, s:o, s:o, s:[ff], s:[ff], s:f, s:f, s:o, s:b}", "name", f->name,
                   "self", pair_u64(f->self), "total", pair_u64(f->total), "selfShare",
                   r->self_share[0], r->self_share[1], "totalShare", r->total_share[0],
                   r->total_share[1], "selfChangePp", r->delta_pp, "totalChangePp",
                   r->total_share[1] - r->total_share[0], "relativeChange", rel, "over",
                   r->over);
}

static json_t *opt_num(double v) {
  return v >= 0 ? json_real(v) : json_null();
}

static void put_json(ember_buf_t *b, const ember_compare_t *c, const ember_gate_opts_t *o,
                     const ember_gate_t *g, const ember_report_opts_t *r) {
  json_t *fns = json_array(), *regs = json_array();
  for (size_t i = 0; i < shown(o, g); i++)
    json_array_append_new(fns, row_json(c, &g->rows[i]));
  for (size_t i = 0; i < g->nregressions; i++)
    json_array_append_new(regs, row_json(c, &g->regressions[i]));
  json_t *doc = json_pack(
      "{s:{s:s, s:I}, s:{s:s, s:I}, s:s, s:I, s:o, s:{s:b, s:o, s:o, s:f, s:o, s:o, s:b, s:o}, "
      "s:I, s:I, s:b, s:o}",
      "base", "name", r->base, "total", (json_int_t)(c->total[0] > INT64_MAX ? INT64_MAX : c->total[0]),
      "head", "name", r->head, "total", (json_int_t)(c->total[1] > INT64_MAX ? INT64_MAX : c->total[1]),
      "units", c->units, "sampleRate", (json_int_t)c->sample_rate, "totalChangePct",
      isinf(g->total_change) ? json_null() : json_real(g->total_change), "gate", "passed",
      g->passed, "failAbove", opt_num(o->fail_above), "failTotalAbove",
      opt_num(o->fail_total_above), "minShare", o->min_share, "ignore",
      o->ignore ? json_string(o->ignore) : json_null(), "regressions", regs, "totalOver",
      g->total_over, "ignored", json_integer((json_int_t)g->ignored), "count",
      (json_int_t)g->n, "shown", (json_int_t)shown(o, g), "truncated", c->truncated,
      "functions", fns);
  char *s = json_dumps(doc, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
  if (s) ember_buf_puts(b, s);
  ember_buf_putc(b, '\n');
  free(s);
  json_decref(doc);
}

/* ---- API ----------------------------------------------------------------- */

void ember_report_put(ember_buf_t *out, ember_report_format_t f, const ember_compare_t *c,
                      const ember_gate_opts_t *o, const ember_gate_t *g,
                      const ember_report_opts_t *r) {
  switch (f) {
  case EMBER_REPORT_JSON: put_json(out, c, o, g, r); break;
  case EMBER_REPORT_MARKDOWN: put_markdown(out, c, o, g, r); break;
  default: put_text(out, c, o, g, r);
  }
}
