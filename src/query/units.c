/*
 * units.c - values in the units of their profile type, for the titles and
 * headers of the SVG and HTML exports: CPU samples as the time they stand
 * for, nanoseconds as durations, bytes in binary units, objects and other
 * counts with their names. The web UI formats by the same rule
 * (web/js/units.js); tests/data/units.json holds the cases both must
 * pass, so an export reads like the page it was saved from.
 *
 *   samples with a rate  value / rate seconds, as a duration; the full
 *                        form adds the count: "2.50 s (250 samples)"
 *   nanoseconds, lock_nanoseconds, microseconds, milliseconds, seconds
 *                        a duration
 *   bytes                B, KiB, MiB, GiB, TiB, PiB, EiB
 *   anything else        a count with its name: "7 objects", "1 goroutine",
 *                        "45.6 k objects" (short) or "45,600 objects"
 *                        (full); lock_samples read as contentions, an
 *                        unknown unit as its name with '_' as a space
 *
 * Numbers carry three significant digits, rounded half up in double
 * arithmetic exactly as the UI rounds them (floor(x * 10^d + 0.5) / 10^d),
 * so both print the same digits. Durations: "N ns" below 1 µs, "x.xx µs",
 * "x.xx ms", "x.xx s" below a minute, then "M min SS s", "H h MM min",
 * "D d HH h". A value that rounds up to the next unit moves to it.
 */
#include "query_int.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

/* ---- Numbers ----------------------------------------------------------- */

static double round_to(double x, int d) {
  double f = d == 2 ? 100 : d == 1 ? 10 : 1;
  return floor(x * f + 0.5) / f;
}

/* x (>= 0) with three significant digits: the text, and the value shown. */
static double sig3(double x, char *text, size_t size) {
  double r = round_to(x, 2);
  if (r < 10) {
    snprintf(text, size, "%.2f", r);
    return r;
  }
  r = round_to(x, 1);
  if (r < 100) {
    snprintf(text, size, "%.1f", r);
    return r;
  }
  r = round_to(x, 0);
  snprintf(text, size, "%.0f", r);
  return r;
}

/* A whole number (v rounded) with ',' every three digits. */
static void put_grouped(ember_buf_t *b, double v) {
  char s[400];
  int n = snprintf(s, sizeof s, "%.0f", round_to(fabs(v), 0));
  if (n <= 0 || (size_t)n >= sizeof s) return;
  if (v < 0 && strcmp(s, "0")) ember_buf_putc(b, '-');
  for (int i = 0; i < n; i++) {
    if (i > 0 && (n - i) % 3 == 0) ember_buf_putc(b, ',');
    ember_buf_putc(b, s[i]);
  }
}

static void put_text_unit(ember_buf_t *b, const char *text, const char *unit) {
  ember_buf_puts(b, text);
  ember_buf_putc(b, ' ');
  ember_buf_puts(b, unit);
}

/* ---- Durations, sizes, counts ------------------------------------------ */

static void put_duration(ember_buf_t *b, double sec) {
  static const struct {
    double per;
    const char *name;
    double limit;
  } small[] = {{1e6, "\xc2\xb5s", 1000}, {1e3, "ms", 1000}, {1, "s", 60}};
  char text[400];
  if (sec < 0) {
    ember_buf_putc(b, '-');
    put_duration(b, -sec);
    return;
  }
  if (!(sec > 0)) {
    ember_buf_puts(b, "0 s");
    return;
  }
  double ns = round_to(sec * 1e9, 0);
  if (ns < 1000) {
    ember_buf_printf(b, "%.0f ns", ns);
    return;
  }
  for (size_t i = 0; i < sizeof small / sizeof *small; i++) {
    double x = sec * small[i].per;
    if (x >= small[i].limit) continue;
    if (sig3(x, text, sizeof text) < small[i].limit) {
      put_text_unit(b, text, small[i].name);
      return;
    }
  }
  double s = round_to(sec, 0);
  if (s < 3600) {
    ember_buf_printf(b, "%.0f min %02.0f s", floor(s / 60), fmod(s, 60));
    return;
  }
  double m = round_to(sec / 60, 0);
  if (m < 1440) {
    ember_buf_printf(b, "%.0f h %02.0f min", floor(m / 60), fmod(m, 60));
    return;
  }
  double h = round_to(sec / 3600, 0);
  ember_buf_printf(b, "%.0f d %02.0f h", floor(h / 24), fmod(h, 24));
}

static void put_bytes(ember_buf_t *b, double v) {
  static const char *const names[] = {"KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
  char text[400];
  if (v < 0) {
    ember_buf_putc(b, '-');
    put_bytes(b, -v);
    return;
  }
  if (round_to(v, 0) < 1024) {
    ember_buf_printf(b, "%.0f B", round_to(v, 0));
    return;
  }
  double x = v;
  for (size_t u = 0; u < 6; u++) {
    x /= 1024;
    if (sig3(x, text, sizeof text) < 1024 || u == 5) {
      put_text_unit(b, text, names[u]);
      return;
    }
  }
}

/* A count, short: "1,234", "45.6 k", "7.50 M". */
static void put_count(ember_buf_t *b, double v) {
  static const char *const names[] = {"k", "M", "G", "T", "P", "E"};
  char text[400];
  if (v < 0) {
    ember_buf_putc(b, '-');
    put_count(b, -v);
    return;
  }
  if (v < 100 && v != floor(v) && sig3(v, text, sizeof text) < 100) {
    ember_buf_puts(b, text); /* an average keeps its fraction */
    return;
  }
  if (round_to(v, 0) < 10000) {
    put_grouped(b, v);
    return;
  }
  double x = v;
  for (size_t u = 0; u < 6; u++) {
    x /= 1000;
    if (sig3(x, text, sizeof text) < 1000 || u == 5) {
      put_text_unit(b, text, names[u]);
      return;
    }
  }
}

/* ---- Units ------------------------------------------------------------- */

/* Values per second of a duration unit, 0 for other units. */
static double per_second(const char *units) {
  static const struct {
    const char *name;
    double per;
  } d[] = {{"nanoseconds", 1e9},
           {"lock_nanoseconds", 1e9},
           {"microseconds", 1e6},
           {"milliseconds", 1e3},
           {"seconds", 1}};
  for (size_t i = 0; i < sizeof d / sizeof *d; i++)
    if (!strcmp(units, d[i].name)) return d[i].per;
  return 0;
}

/* The name of a count as a person reads it. */
static void put_count_name(ember_buf_t *b, const char *units, double v) {
  static const char *const names[][3] = {{"samples", "sample", "samples"},
                                         {"objects", "object", "objects"},
                                         {"goroutines", "goroutine", "goroutines"},
                                         {"lock_samples", "contention", "contentions"},
                                         {"exceptions", "exception", "exceptions"}};
  for (size_t i = 0; i < sizeof names / sizeof *names; i++)
    if (!strcmp(units, names[i][0])) {
      ember_buf_puts(b, v == 1 ? names[i][1] : names[i][2]);
      return;
    }
  for (const char *p = units; *p; p++)
    ember_buf_putc(b, *p == '_' ? ' ' : *p);
}

/* The whole count of a full form: exact when the caller has the integer
 * (sums past 2^53 are not doubles), else v rounded, as the UI does. */
static void put_whole(ember_buf_t *b, double v, const uint64_t *exact) {
  if (exact)
    ember_fmt_count(b, *exact);
  else
    put_grouped(b, v);
}

static void put_units(ember_buf_t *b, double v, const uint64_t *exact, const char *units,
                      uint32_t sample_rate, bool full) {
  if (!units || !*units) units = "samples";
  if (!strcmp(units, "bytes")) {
    put_bytes(b, v);
    return;
  }
  double per = per_second(units);
  bool samples = !strcmp(units, "samples");
  if (!per && samples && sample_rate > 0) per = sample_rate;
  if (per) {
    put_duration(b, v / per);
    if (full && samples) {
      ember_buf_puts(b, " (");
      put_whole(b, v, exact);
      ember_buf_putc(b, ' ');
      put_count_name(b, units, v);
      ember_buf_putc(b, ')');
    }
    return;
  }
  if (full)
    put_whole(b, v, exact);
  else
    put_count(b, v);
  ember_buf_putc(b, ' ');
  put_count_name(b, units, v);
}

/* ---- API --------------------------------------------------------------- */

void ember_fmt_units(ember_buf_t *b, double v, const char *units, uint32_t sample_rate,
                     bool full) {
  put_units(b, v, NULL, units, sample_rate, full);
}

void ember_fmt_sum_units(ember_buf_t *b, uint64_t v, const char *units,
                         uint32_t sample_rate) {
  if (v != UINT64_MAX) {
    put_units(b, (double)v, &v, units, sample_rate, true);
    return;
  }
  /* A reader must not take the ceiling for a measurement: the exact
   * ceiling, in the units' own name. */
  ember_buf_puts(b, "at least ");
  ember_fmt_count(b, v);
  ember_buf_putc(b, ' ');
  ember_buf_puts(b, units && *units ? units : "samples");
  ember_buf_puts(b, " (the sum saturated)");
}
