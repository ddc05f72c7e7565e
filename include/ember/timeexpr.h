/*
 * timeexpr.h - the time and duration expressions of the HTTP API and CLI.
 *
 * Times: Unix seconds (up to 10 digits), or 13/16/19 digits read as
 * milliseconds/microseconds/nanoseconds; or `now`, `now-1h`, `now+5m`, with
 * units s, m or min, h, d, w, M or mon (30 days), y (365 days).
 * Durations (for --retention and the like): a number and one of the same
 * units, e.g. `30d`, `12h`, `90m`; a bare number is seconds.
 */
#ifndef EMBER_TIMEEXPR_H
#define EMBER_TIMEEXPR_H

#include "ember/common.h"

/* Parses s relative to now (Unix seconds) into *out (Unix seconds, written
 * only on success). Sub-second inputs are truncated towards the past. */
int ember_time_parse(const char *s, int64_t now, int64_t *out, ember_err_t *err);

/* Parses a duration into seconds (written only on success); must be > 0. */
int ember_duration_parse(const char *s, int64_t *out, ember_err_t *err);

#endif
