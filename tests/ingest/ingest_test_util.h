/* Helpers the ingest tests share: a canonical text dump of a call tree
 * (sorted "frame;frame self" lines, as the fixtures' .expected files hold),
 * fixture loading, a little varint encoder for hand-made bodies, and a way
 * to run a hostile input with a ceiling on memory and CPU time. */
#ifndef EMBER_INGEST_TEST_UTIL_H
#define EMBER_INGEST_TEST_UTIL_H

#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ember/tree.h"

static inline int dump_cmp(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Every node with a self value as "a;b;c value\n" (the root as "<root>"),
 * sorted bytewise. Caller frees. Also checks the tree's invariants. */
static inline char *tree_dump(const ember_tree_t *t) {
  ember_err_t err;
  if (ember_tree_check(t, &err)) {
    fprintf(stderr, "tree invariant broken: %s\n", err.msg);
    abort();
  }
  size_t n = ember_tree_count(t), nlines = 0;
  char **lines = calloc(n, sizeof *lines);
  uint32_t *path = calloc(n, sizeof *path);
  for (uint32_t id = 0; id < n; id++) {
    const ember_tree_node_t *node = ember_tree_node(t, id);
    if (!node->self[0]) continue;
    size_t depth = 0;
    for (uint32_t p = id; p != EMBER_TREE_ROOT; p = ember_tree_node(t, p)->parent)
      path[depth++] = p;
    ember_buf_t b = EMBER_BUF_INIT;
    if (depth == 0) ember_buf_puts(&b, "<root>");
    while (depth--) {
      ember_slice_t name = ember_tree_name(t, ember_tree_node(t, path[depth])->name);
      ember_buf_append(&b, name.base, name.len);
      if (depth) ember_buf_putc(&b, ';');
    }
    ember_buf_printf(&b, " %llu\n", (unsigned long long)node->self[0]);
    lines[nlines++] = ember_buf_take(&b, NULL);
  }
  qsort(lines, nlines, sizeof *lines, dump_cmp);
  ember_buf_t out = EMBER_BUF_INIT;
  ember_buf_append(&out, "", 0);
  for (size_t i = 0; i < nlines; i++) {
    ember_buf_puts(&out, lines[i]);
    free(lines[i]);
  }
  free(lines);
  free(path);
  return ember_buf_take(&out, NULL);
}

/* Reads tests/data/<rel> (EMBER_TEST_DATA points at tests/data). Caller
 * frees; aborts when the file is missing. */
static inline char *read_fixture(const char *rel, size_t *len) {
  const char *dir = getenv("EMBER_TEST_DATA");
  char path[1024];
  snprintf(path, sizeof path, "%s/%s", dir ? dir : "tests/data", rel);
  FILE *f = fopen(path, "rb");
  if (!f) {
    fprintf(stderr, "cannot open fixture %s\n", path);
    abort();
  }
  ember_buf_t b = EMBER_BUF_INIT;
  char chunk[65536];
  size_t n;
  while ((n = fread(chunk, 1, sizeof chunk, f)) > 0) ember_buf_append(&b, chunk, n);
  fclose(f);
  ember_buf_append(&b, "", 0);
  return ember_buf_take(&b, len);
}

/* Appends one tree/trie node: name, value, child count. */
static inline void put_node(ember_buf_t *b, const char *name, uint64_t value,
                            uint64_t nchildren) {
  ember_varint_put(b, strlen(name));
  ember_buf_puts(b, name);
  ember_varint_put(b, value);
  ember_varint_put(b, nchildren);
}

/* The calling process's address space, in bytes (0 when unknown). */
static inline size_t vm_size(void) {
  FILE *f = fopen("/proc/self/status", "r");
  char line[256];
  size_t kb = 0;
  while (f && fgets(line, sizeof line, f))
    if (sscanf(line, "VmSize: %zu kB", &kb) == 1) break;
  if (f) fclose(f);
  return kb * 1024;
}

/* Runs fn(arg) in a child process that may map at most mem_mb MiB more
 * than it has at the start and use at most cpu_s seconds of CPU: an input
 * that makes the code allocate past that aborts the child (allocation
 * failure is fatal in Ember), one that makes it loop is stopped. True when
 * fn returned true within both; the reason is printed otherwise. */
static inline bool run_bounded(bool (*fn)(void *), void *arg, size_t mem_mb,
                               unsigned cpu_s) {
  fflush(NULL);
  pid_t pid = fork();
  if (pid < 0) return false;
  if (pid == 0) {
    struct rlimit as = {vm_size() + (mem_mb << 20), RLIM_INFINITY};
    struct rlimit cpu = {cpu_s, cpu_s + 1};
    if (setrlimit(RLIMIT_AS, &as) || setrlimit(RLIMIT_CPU, &cpu)) _exit(3);
    _exit(fn(arg) ? 0 : 1); /* _exit: the parent owns what is left */
  }
  int status = 0;
  if (waitpid(pid, &status, 0) != pid) return false;
  if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return true;
  if (WIFSIGNALED(status))
    fprintf(stderr, "bounded run killed by signal %d (%s)\n", WTERMSIG(status),
            WTERMSIG(status) == SIGXCPU ? "over its CPU time" : "over its memory?");
  else
    fprintf(stderr, "bounded run exited with %d\n", WEXITSTATUS(status));
  return false;
}

#endif
