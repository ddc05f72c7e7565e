/*
 * powercut.c - a preloaded library that records what a power cut would
 * leave of the database: for the tests of "a 200 means durable".
 *
 * A kill -9 alone cannot tell a server that syncs its commits from one
 * that does not: either way the kernel keeps what the process wrote in its
 * page cache, and the next open finds it. A power cut loses everything not
 * yet synced. So this library, preloaded into the server
 * (LD_PRELOAD), takes a copy of ember.db or ember.db-wal each time the
 * server syncs that file (fsync or fdatasync), as <file>.synced, before the
 * sync call returns. After killing the server, the test puts those copies
 * in place of the files (a file never synced is removed): that is the disk
 * as a power cut at that moment could leave it, at worst. Every
 * acknowledged write must still be there. With synchronous=OFF (no sync
 * ever) or NORMAL (WAL synced only at checkpoints) the copies lag behind
 * the acknowledgements, and the test fails.
 */
#include <dlfcn.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

static int ends_with(const char *s, const char *suffix) {
  size_t n = strlen(s), k = strlen(suffix);
  return n >= k && strcmp(s + n - k, suffix) == 0;
}

/* Copies path to path.synced, whole or not at all (rename). */
static void snapshot(const char *path) {
  char tmp[PATH_MAX + 16], dst[PATH_MAX + 16];
  snprintf(tmp, sizeof tmp, "%s.synced.tmp", path);
  snprintf(dst, sizeof dst, "%s.synced", path);
  int in = open(path, O_RDONLY | O_CLOEXEC);
  int out = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  static char buf[1 << 16];
  ssize_t n = 0;
  int ok = in >= 0 && out >= 0;
  while (ok && (n = read(in, buf, sizeof buf)) > 0)
    ok = write(out, buf, (size_t)n) == n;
  ok = ok && n == 0;
  if (in >= 0) close(in);
  if (out >= 0) close(out);
  if (ok)
    rename(tmp, dst);
  else
    unlink(tmp);
}

static void after_sync(int fd) {
  char link[64], path[PATH_MAX];
  snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
  ssize_t n = readlink(link, path, sizeof path - 1);
  if (n <= 0) return;
  path[n] = '\0';
  if (!ends_with(path, "/ember.db") && !ends_with(path, "/ember.db-wal")) return;
  pthread_mutex_lock(&lock);
  snapshot(path);
  pthread_mutex_unlock(&lock);
}

int fsync(int fd) {
  int (*real)(int) = (int (*)(int))dlsym(RTLD_NEXT, "fsync");
  int rc = real(fd);
  if (rc == 0) after_sync(fd);
  return rc;
}

int fdatasync(int fd) {
  int (*real)(int) = (int (*)(int))dlsym(RTLD_NEXT, "fdatasync");
  int rc = real(fd);
  if (rc == 0) after_sync(fd);
  return rc;
}
