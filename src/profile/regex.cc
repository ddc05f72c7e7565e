/*
 * regex.cc - the C interface of src/profile/regex.h over RE2.
 *
 * RE2 compiles a pattern into a program whose size, and whose lazily built
 * matching automata, stay within the max_mem it is given; an expression that
 * would need more fails to compile ("pattern too large") instead of taking
 * the memory. Its parser also refuses repetition counts over 1000, nested
 * ones multiplied, so `a{0,9999}` and `(a{0,999}){0,999}` are syntax errors
 * rather than gigabytes.
 *
 * Nothing here may throw into C: allocation failure aborts with a message,
 * as ember_malloc does, and every other RE2 failure is a status.
 */
#include "profile/regex.h"

#include <cstdio>
#include <cstdlib>
#include <cstring>

#include <re2/re2.h>

struct ember_regex {
  RE2 *re;
};

/* ---- Private functions ------------------------------------------------- */

/* What an exception out of RE2 means: memory ran out (anything else would
 * be a bug in RE2), and Ember aborts on that rather than unwind C frames. */
[[noreturn]] static void out_of_memory() {
  std::fputs("ember: out of memory in a regular expression\n", stderr);
  std::abort();
}

static void copy_why(const std::string &s, char *why, size_t why_len) {
  if (!why || why_len == 0) return;
  size_t n = s.size() < why_len - 1 ? s.size() : why_len - 1;
  std::memcpy(why, s.data(), n);
  why[n] = '\0';
}

static ember_regex_status_t status_of(RE2::ErrorCode code) {
  switch (code) {
  case RE2::NoError: return EMBER_REGEX_OK;
  case RE2::ErrorRepeatSize: return EMBER_REGEX_REPEAT;
  case RE2::ErrorPatternTooLarge: return EMBER_REGEX_TOO_LARGE;
  default: return EMBER_REGEX_SYNTAX;
  }
}

/* ---- API --------------------------------------------------------------- */

extern "C" ember_regex_status_t ember_regex_compile(const char *pattern, size_t n,
                                                    size_t max_mem, ember_regex_t **out,
                                                    char *why, size_t why_len) {
  try {
    RE2::Options opt;
    opt.set_log_errors(false);   /* the caller reports, to whoever asked */
    opt.set_never_capture(true); /* matching only: no submatch bookkeeping */
    opt.set_dot_nl(true);        /* as Prometheus: '.' means any character */
    opt.set_max_mem((int64_t)max_mem);
    RE2 *re = new RE2(re2::StringPiece(pattern, n), opt);
    ember_regex_status_t st = status_of(re->error_code());
    if (st != EMBER_REGEX_OK) {
      copy_why(re->error(), why, why_len);
      delete re;
      return st;
    }
    *out = new ember_regex{re};
    return EMBER_REGEX_OK;
  } catch (...) {
    out_of_memory();
  }
}

extern "C" bool ember_regex_full_match(const ember_regex_t *re, const char *s, size_t n) {
  try {
    return RE2::FullMatch(re2::StringPiece(s, n), *re->re);
  } catch (...) {
    out_of_memory();
  }
}

extern "C" bool ember_regex_search(const ember_regex_t *re, const char *s, size_t n) {
  try {
    return RE2::PartialMatch(re2::StringPiece(s, n), *re->re);
  } catch (...) {
    out_of_memory();
  }
}

extern "C" size_t ember_regex_program_size(const ember_regex_t *re) {
  int n = re->re->ProgramSize();
  return n > 0 ? (size_t)n : 0;
}

extern "C" void ember_regex_free(ember_regex_t *re) {
  if (!re) return;
  delete re->re;
  delete re;
}
