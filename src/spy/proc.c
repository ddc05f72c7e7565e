/*
 * proc.c - what /proc says about a process: its mappings (to find the
 * interpreter's files), the state of each thread (running or waiting),
 * its command line, its children, and what ptrace rights it takes to read
 * it.
 */
#include "spy/spy_int.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

/* ---- Private functions ------------------------------------------------- */

/* Reads a small /proc file whole into buf (NUL-terminated). Bytes read or
 * -1. */
static ssize_t slurp(const char *path, char *buf, size_t cap) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  size_t n = 0;
  while (n + 1 < cap) {
    ssize_t k = read(fd, buf + n, cap - 1 - n);
    if (k < 0 && errno == EINTR) continue;
    if (k <= 0) break;
    n += (size_t)k;
  }
  close(fd);
  buf[n] = '\0';
  return (ssize_t)n;
}

/* Parses "start-end perms offset dev inode   path". 0 or -1. */
static int parse_map_line(char *line, spy_map_t *m) {
  char *p = line, *end;
  m->start = strtoull(p, &end, 16);
  if (end == p || *end != '-') return -1;
  p = end + 1;
  m->end = strtoull(p, &end, 16);
  if (end == p || *end != ' ') return -1;
  p = end + 1;
  if (strlen(p) < 5) return -1;
  memcpy(m->perms, p, 4);
  m->perms[4] = '\0';
  p += 4;
  m->offset = strtoull(p, &end, 16);
  if (end == p) return -1;
  p = end;
  for (int field = 0; field < 2; field++) { /* dev, inode */
    while (*p == ' ') p++;
    while (*p && *p != ' ') p++;
  }
  while (*p == ' ') p++;
  m->path = p;
  return 0;
}

/* ---- API --------------------------------------------------------------- */

int spy_maps(pid_t pid, int (*fn)(void *ctx, const spy_map_t *m), void *ctx) {
  char path[64];
  snprintf(path, sizeof path, "/proc/%d/maps", (int)pid);
  FILE *f = fopen(path, "re");
  if (!f) return -1;
  char *line = NULL;
  size_t cap = 0;
  ssize_t len;
  int rc = 0;
  while (rc == 0 && (len = getline(&line, &cap, f)) > 0) {
    if (line[len - 1] == '\n') line[len - 1] = '\0';
    spy_map_t m;
    if (parse_map_line(line, &m) == 0) rc = fn(ctx, &m);
  }
  free(line);
  fclose(f);
  return rc;
}

int spy_stat_parse(const char *text, size_t n, spy_stat_t *out) {
  /* "pid (comm) S ppid ...": comm may hold spaces and parentheses, so the
   * fields start after the last ')'. */
  const char *open = memchr(text, '(', n), *close = NULL;
  for (size_t i = n; i > 0; i--)
    if (text[i - 1] == ')') {
      close = text + i - 1;
      break;
    }
  if (!open || !close || close < open || (size_t)(close - text) + 3 > n) return -1;
  spy_stat_t s;
  memset(&s, 0, sizeof s);
  size_t clen = (size_t)(close - open - 1);
  if (clen >= sizeof s.comm) clen = sizeof s.comm - 1;
  memcpy(s.comm, open + 1, clen);
  const char *p = close + 2, *end = text + n;
  s.state = *p;
  /* Field 3 is the state; 4 the parent; 22 the start time. */
  int field = 3;
  while (p < end && field < 22) {
    while (p < end && *p != ' ') p++;
    while (p < end && *p == ' ') p++;
    field++;
    if (p >= end) return -1;
    if (field == 4) s.ppid = (pid_t)strtol(p, NULL, 10);
  }
  if (field != 22) return -1;
  s.start_time = strtoull(p, NULL, 10);
  *out = s;
  return 0;
}

int spy_stat(pid_t pid, pid_t tid, spy_stat_t *out) {
  char path[64], buf[1024];
  if (tid) snprintf(path, sizeof path, "/proc/%d/task/%d/stat", (int)pid, (int)tid);
  else snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
  ssize_t n = slurp(path, buf, sizeof buf);
  if (n <= 0) return -1;
  return spy_stat_parse(buf, (size_t)n, out);
}

char *spy_cmdline(pid_t pid, size_t max) {
  char path[64], buf[4096];
  snprintf(path, sizeof path, "/proc/%d/cmdline", (int)pid);
  ssize_t n = slurp(path, buf, sizeof buf);
  while (n > 0 && buf[n - 1] == '\0') n--;
  if (n <= 0) return ember_strdup("?");
  if ((size_t)n > max) n = (ssize_t)max;
  for (ssize_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)buf[i];
    if (c == '\0') buf[i] = ' ';
    else if (c < 0x20 || c == 0x7f) buf[i] = '?';
  }
  return ember_strndup(buf, (size_t)n);
}

void spy_children(const pid_t *pids, size_t n, pid_t **out, size_t *nout) {
  DIR *d = opendir("/proc");
  if (!d) return;
  size_t cap = *nout;
  struct dirent *e;
  while ((e = readdir(d))) {
    if (!isdigit((unsigned char)e->d_name[0])) continue;
    pid_t pid = (pid_t)strtol(e->d_name, NULL, 10);
    spy_stat_t st;
    if (pid <= 0 || spy_stat(pid, 0, &st)) continue;
    for (size_t i = 0; i < n; i++) {
      if (st.ppid != pids[i]) continue;
      ember_grow((void **)out, &cap, *nout + 1, sizeof **out);
      (*out)[(*nout)++] = pid;
      break;
    }
  }
  closedir(d);
}

void spy_permission_hint(pid_t pid, char *buf, size_t cap) {
  char scope[16] = "";
  ssize_t n = slurp("/proc/sys/kernel/yama/ptrace_scope", scope, sizeof scope);
  int level = n > 0 ? atoi(scope) : -1;
  if (geteuid() == 0 || level >= 3)
    snprintf(buf, cap,
             "reading process %d is not allowed%s; in a container, add the capability "
             "SYS_PTRACE (docker run --cap-add SYS_PTRACE, or cap_add in compose)",
             (int)pid,
             level >= 3 ? " (kernel.yama.ptrace_scope is 3: no process may)" : "");
  else if (level >= 1)
    snprintf(buf, cap,
             "reading process %d needs ptrace rights: run as root (sudo), give ember "
             "CAP_SYS_PTRACE (setcap cap_sys_ptrace+ep), or set kernel.yama.ptrace_scope "
             "to 0 (it is %d; then your own processes are allowed), or start the program "
             "with `ember spy record -- CMD`",
             (int)pid, level);
  else
    snprintf(buf, cap,
             "reading process %d needs ptrace rights: it belongs to another user; run as "
             "root (sudo) or give ember CAP_SYS_PTRACE (setcap cap_sys_ptrace+ep)",
             (int)pid);
}
