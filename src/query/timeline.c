/*
 * timeline.c - the time axis of a flame graph response: which steps the
 * timeline has (ember_timeline_grid) and how they are written as JSON.
 */
#include "query_int.h"

#include <limits.h>

/* ---- API --------------------------------------------------------------- */

/* Floor of v to a multiple of step (step > 0), clamped at INT64_MIN. */
static int64_t floor_to(int64_t v, int64_t step) {
  int64_t rem = v % step;
  if (rem < 0) rem += step;
  return v < INT64_MIN + rem ? INT64_MIN : v - rem;
}

/* Steps of `step` needed to cover [start, until), start <= until. */
static uint64_t steps(int64_t start, int64_t until, int64_t step) {
  /* Unsigned wrap-around gives the exact difference even when the signed
   * one would overflow. */
  uint64_t span = (uint64_t)until - (uint64_t)start;
  return span / (uint64_t)step + (span % (uint64_t)step != 0);
}

ember_timeline_grid_t ember_timeline_grid(int64_t from, int64_t until) {
  ember_timeline_grid_t g = {floor_to(from, 10), 10, 0};
  if (until <= from) return g;
  /* 10 s is the storage resolution; above the point budget the step jumps
   * straight to 100 s and then by powers of ten. 10^18 covers any int64
   * span in 19 steps, so the loop always ends. */
  for (int64_t step = 10;; step = step == 10 ? 100 : step * 10) {
    int64_t start = floor_to(from, step);
    /* Reads take the bucket that holds `until` (the range is whole seconds,
     * until included), so the grid covers it too. */
    uint64_t n = steps(start, until < INT64_MAX ? until + 1 : until, step);
    if (n <= EMBER_TIMELINE_MAX_POINTS || step >= INT64_MAX / 10) {
      g.start = start;
      g.step = step;
      g.n = (size_t)n;
      return g;
    }
  }
}

void ember_timeline_put_json(ember_buf_t *out, ember_timeline_grid_t g,
                             const uint64_t *values) {
  ember_buf_puts(out, "{\"startTime\":");
  ember_buf_put_i64(out, g.start);
  ember_buf_puts(out, ",\"samples\":[");
  for (size_t i = 0; i < g.n; i++) {
    uint64_t v = values ? values[i] : 0;
    if (i) ember_buf_putc(out, ',');
    /* Pyroscope's encoding: 0 means no data, so data is shifted by one. */
    ember_buf_put_u64(out, v == 0 ? 0 : v == UINT64_MAX ? v : v + 1);
  }
  ember_buf_puts(out, "],\"durationDelta\":");
  ember_buf_put_i64(out, g.step);
  ember_buf_putc(out, '}');
}
