/* Random folded and lines bodies for the tests that check that a text
 * body kept as text stacks stores what its tree stores: stacks from a
 * small set of frames (some with spaces, tabs or non-ASCII bytes, one
 * named like the truncation marker), 0 to 24 deep, with empty frames,
 * leading and trailing ';', repeats, blank lines, CRLF, trailing blanks,
 * counts of 0 and near 2^64. Deterministic for a seed. Include after
 * cmocka.h. */
#ifndef EMBER_TESTS_RANDOM_TEXT_H
#define EMBER_TESTS_RANDOM_TEXT_H

#include <stdbool.h>
#include <stdint.h>

#include "ember/common.h"

static inline uint64_t random_next(uint64_t *s) { /* splitmix64 */
  uint64_t z = (*s += 0x9E3779B97F4A7C15u);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9u;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBu;
  return z ^ (z >> 31);
}

static const char *const RANDOM_FRAMES[] = {"main", "a",   "b", "run loop",
                                            "x",    "[unknown]", "f\tg", "io",
                                            "é",    "[truncated]"};
#define RANDOM_NFRAMES (sizeof RANDOM_FRAMES / sizeof *RANDOM_FRAMES)

/* A stack of 0 to 24 frames, some empty, sometimes with a leading or a
 * trailing ';'. */
static inline void random_text_stack(uint64_t *s, ember_buf_t *b) {
  int depth = (int)(random_next(s) % 25);
  if (random_next(s) % 10 == 0) ember_buf_putc(b, ';');
  for (int d = 0; d < depth; d++) {
    if (d) ember_buf_putc(b, ';');
    if (random_next(s) % 12) /* else: an empty frame */
      ember_buf_puts(b, RANDOM_FRAMES[random_next(s) % RANDOM_NFRAMES]);
  }
  if (random_next(s) % 10 == 0) ember_buf_putc(b, ';');
}

static inline void random_line_end(uint64_t *s, ember_buf_t *b) {
  static const char *pads[] = {"", "", "", " ", "\t", " \t "};
  ember_buf_puts(b, pads[random_next(s) % 6]);
  ember_buf_puts(b, random_next(s) % 4 ? "\n" : "\r\n");
}

/* A pool of n stacks that bodies draw from, so that lines repeat within a
 * body and across bodies. Free with random_text_pool_free. */
static inline void random_text_pool(uint64_t *s, ember_buf_t *pool, int n) {
  for (int i = 0; i < n; i++) {
    pool[i] = (ember_buf_t)EMBER_BUF_INIT;
    random_text_stack(s, &pool[i]);
  }
}

static inline void random_text_pool_free(ember_buf_t *pool, int n) {
  for (int i = 0; i < n; i++) ember_buf_free(&pool[i]);
}

/* A body of n lines, about half drawn from the pool of npool stacks; bad
 * adds a malformed line now and then. */
static inline void random_text_body(uint64_t *s, const ember_buf_t *pool, int npool,
                                    bool folded, int n, bool bad, ember_buf_t *b) {
  for (int i = 0; i < n; i++) {
    uint64_t r = random_next(s) % 100;
    if (r < 3) { /* a blank or all-white line */
      ember_buf_puts(b, r == 0 ? "" : " \t");
      random_line_end(s, b);
      continue;
    }
    if (r < 55) {
      const ember_buf_t *p = &pool[random_next(s) % (uint64_t)npool];
      ember_buf_append(b, p->data, p->len);
    } else {
      random_text_stack(s, b);
    }
    if (bad && random_next(s) % 150 == 0) {
      ember_buf_puts(b, folded ? " 12x" : "");
    } else if (folded) {
      uint64_t c = random_next(s) % 20;
      uint64_t count = c == 0   ? 0
                       : c == 1 ? UINT64_MAX - random_next(s) % 1000
                                : random_next(s) % 1000;
      ember_buf_printf(b, " %llu", (unsigned long long)count);
    }
    random_line_end(s, b);
  }
}

#endif
