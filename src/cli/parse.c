/*
 * parse.c - the values options take (sizes, counts) and the one-line
 * refusal of a bad one, shared by every command.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <strings.h>

#include "cli/cli.h"

int ember_cli_parse_size(const char *s, size_t *out) {
  char *end;
  errno = 0;
  unsigned long long v = strtoull(s, &end, 10);
  if (end == s || errno || *s == '-') return -1;
  unsigned long long mul = 1;
  if (!*end || !strcasecmp(end, "b"))
    mul = 1;
  else if (!strcasecmp(end, "k") || !strcasecmp(end, "kb") || !strcasecmp(end, "kib"))
    mul = 1ull << 10;
  else if (!strcasecmp(end, "m") || !strcasecmp(end, "mb") || !strcasecmp(end, "mib"))
    mul = 1ull << 20;
  else if (!strcasecmp(end, "g") || !strcasecmp(end, "gb") || !strcasecmp(end, "gib"))
    mul = 1ull << 30;
  else
    return -1;
  if (v == 0 || v > SIZE_MAX / mul) return -1;
  *out = (size_t)(v * mul);
  return 0;
}

int ember_cli_parse_count(const char *s, unsigned max, unsigned *out) {
  char *end;
  errno = 0;
  unsigned long v = strtoul(s, &end, 10);
  if (end == s || *end || errno || v == 0 || v > max || *s == '-') return -1;
  *out = (unsigned)v;
  return 0;
}

int ember_cli_fail(const char *cmd, const char *what, const char *arg, const char *hint) {
  fprintf(stderr, "ember %s: %s '%s'; %s\n", cmd, what, arg, hint);
  return 2;
}
