/*
 * regex.h - the regular expressions of FlameQL matchers (=~, !~) and of
 * `ember diff --ignore`, for src/profile/ and the comparison of profiles.
 *
 * A thin C interface over RE2 (regex.cc is the only C++ in Ember): RE2
 * matches in time linear in the input, and the memory of a compiled
 * expression, its program and the caches used while matching, stays within
 * a budget fixed at compile time. That is what a selector sent by anyone who
 * can reach /render needs. The syntax is RE2's, which is also what
 * Prometheus and Pyroscope selectors use.
 *
 * Both languages include this header, so it holds plain C that C++ reads
 * too; it does not pull in ember/common.h, whose C11 atomics C++ does not.
 */
#ifndef EMBER_PROFILE_REGEX_H
#define EMBER_PROFILE_REGEX_H

#include <stdbool.h>
#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct ember_regex ember_regex_t;

/* Why ember_regex_compile failed. */
typedef enum {
  EMBER_REGEX_OK = 0,
  EMBER_REGEX_SYNTAX,    /* not a valid RE2 expression */
  EMBER_REGEX_REPEAT,    /* a repetition count over RE2's limit of 1000 */
  EMBER_REGEX_TOO_LARGE, /* the compiled program would pass max_mem */
} ember_regex_status_t;

/* Compiles the n bytes of pattern (RE2 syntax, not NUL-terminated) into a
 * matcher of whole strings: the pattern is anchored at both ends, and no
 * ')' inside it can escape the anchors. max_mem bounds the bytes of the
 * compiled program plus its matching caches. On success *out owns the
 * result (free with ember_regex_free). On failure *out is untouched and
 * why (when why_len > 0) holds RE2's description, NUL-terminated and cut to
 * why_len - 1 bytes. Aborts on out-of-memory, as ember_malloc does. */
ember_regex_status_t ember_regex_compile(const char *pattern, size_t n, size_t max_mem,
                                         ember_regex_t **out, char *why, size_t why_len);

/* True when the n bytes of s match the whole expression. Safe to call from
 * many threads on one compiled expression. */
bool ember_regex_full_match(const ember_regex_t *re, const char *s, size_t n);

/* True when some part of the n bytes of s matches the expression, as grep
 * matches a line: what `ember diff --ignore` asks of a frame name. */
bool ember_regex_search(const ember_regex_t *re, const char *s, size_t n);

/* Instructions in the compiled program (for tests and limits). */
size_t ember_regex_program_size(const ember_regex_t *re);

/* Frees re. NULL is accepted. */
void ember_regex_free(ember_regex_t *re);

#ifdef __cplusplus
}
#endif

#endif
