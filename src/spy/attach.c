/*
 * attach.c - finding the interpreter inside a process.
 *
 * CPython keeps its global state in one object, _PyRuntime, exported from
 * the executable (Debian's python3, which links libpython statically) or
 * from libpython3.X.so (most other builds, and programs that embed
 * Python). Its address is the symbol's value plus the load bias of the
 * file that holds it: where /proc/PID/maps shows the file's offset 0
 * mapped, minus the address its first loadable segment asks for. The
 * files are read through /proc/PID/root, so a target in another mount
 * namespace (a container beside ours) is found by its own paths.
 *
 * The version comes from Py_Version (PY_VERSION_HEX, exported since 3.11),
 * read from the target's memory; it picks the layout.
 */
#include "spy/spy_int.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- Types ------------------------------------------------------------- */

enum {
  SYM_RUNTIME,
  SYM_VERSION,
  SYM_CODE,
  SYM_STR,
  SYM_BYTES,
  SYM_INT,
  SYM_FLOAT,
  SYM_BOOL,
  SYM_TUPLE,
  SYM_LIST,
  SYM_DICT,
  SYM_CELL,
  SYM_MODULE,
  SYM_NONE,
  SYM_TRUE,
  SYM_COUNT
};

static const char *const symbol_names[SYM_COUNT] = {
    "_PyRuntime",   "Py_Version",   "PyCode_Type",  "PyUnicode_Type", "PyBytes_Type",
    "PyLong_Type",  "PyFloat_Type", "PyBool_Type",  "PyTuple_Type",   "PyList_Type",
    "PyDict_Type",  "PyCell_Type",  "PyModule_Type", "_Py_NoneStruct", "_Py_TrueStruct"};

/* A file of the process that may hold the interpreter. */
typedef struct {
  char path[PATH_MAX];
  uint64_t base; /* where its offset 0 is mapped; 0 until seen */
} candidate_t;

typedef struct {
  char exe[PATH_MAX];
  candidate_t c[8];
  size_t n;
} candidates_t;

/* ---- Private functions ------------------------------------------------- */

static bool is_libpython(const char *path) {
  const char *base = strrchr(path, '/');
  base = base ? base + 1 : path;
  return !strncmp(base, "libpython3", 10) && strstr(base, ".so");
}

static int collect(void *ctx, const spy_map_t *m) {
  candidates_t *cs = ctx;
  if (m->path[0] != '/' || m->offset != 0) return 0;
  if (strcmp(m->path, cs->exe) && !is_libpython(m->path)) return 0;
  for (size_t i = 0; i < cs->n; i++)
    if (!strcmp(cs->c[i].path, m->path)) return 0; /* the lowest mapping came first */
  if (cs->n == sizeof cs->c / sizeof cs->c[0]) return 0;
  candidate_t *c = &cs->c[cs->n++];
  snprintf(c->path, sizeof c->path, "%s", m->path);
  c->base = m->start;
  return 0;
}

/* Maps path (as the target sees it) read-only. */
static const uint8_t *map_file(pid_t pid, const char *path, size_t *n) {
  char inside[PATH_MAX + 32];
  snprintf(inside, sizeof inside, "/proc/%d/root%s", (int)pid, path);
  int fd = open(inside, O_RDONLY | O_CLOEXEC);
  if (fd < 0) fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return NULL;
  struct stat st;
  void *p = MAP_FAILED;
  if (fstat(fd, &st) == 0 && st.st_size > 0)
    p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
  close(fd);
  if (p == MAP_FAILED) return NULL;
  *n = (size_t)st.st_size;
  return p;
}

/* "3.10" from a file name such as python3.10 or libpython3.10.so.1.0. */
static bool version_from_name(const char *path, unsigned *minor) {
  const char *p = strstr(path, "python3.");
  if (!p) return false;
  char *end;
  unsigned long v = strtoul(p + 8, &end, 10);
  if (end == p + 8) return false;
  *minor = (unsigned)v;
  return true;
}

static int unreadable(pid_t pid, int e, ember_err_t *err) {
  if (e == ESRCH) return ember_err_set(err, EMBER_ENOTFOUND, "process %d exited", (int)pid);
  if (e == EPERM || e == EACCES) {
    char hint[400];
    spy_permission_hint(pid, hint, sizeof hint);
    return ember_err_set(err, EMBER_EFORBIDDEN, "%s", hint);
  }
  return ember_err_set(err, EMBER_EIO, "cannot read the memory of process %d: %s", (int)pid,
                       strerror(e));
}

/* Looks for _PyRuntime in one candidate file. 1 when found, 0 when not,
 * -1 when the file cannot be read. */
static int search(pid_t pid, const candidate_t *c, spy_python_t *py, uint64_t *version_addr,
                  bool *stripped) {
  size_t n = 0;
  const uint8_t *data = map_file(pid, c->path, &n);
  if (!data) return -1;
  uint64_t v[SYM_COUNT], load = 0;
  bool has_symbols = false;
  int rc = spy_elf_symbols(data, n, symbol_names, SYM_COUNT, v, &load, &has_symbols, NULL);
  munmap((void *)data, n);
  if (rc) return 0;
  if (!has_symbols) *stripped = true;
  if (!v[SYM_RUNTIME]) return 0;
  uint64_t bias = c->base - load;
  uint64_t *dst[SYM_COUNT] = {&py->runtime, version_addr, &py->t_code,  &py->t_str,
                              &py->t_bytes, &py->t_int,   &py->t_float, &py->t_bool,
                              &py->t_tuple, &py->t_list,  &py->t_dict,  &py->t_cell,
                              &py->t_module, &py->none,   &py->true_obj};
  for (size_t i = 0; i < SYM_COUNT; i++) *dst[i] = v[i] ? v[i] + bias : 0;
  snprintf(py->file, sizeof py->file, "%s", c->path);
  return 1;
}

/* The thread list must lead back to its interpreter: proof that the
 * offsets fit this build. A process still starting (no interpreter yet)
 * passes. */
static int check_layout(pid_t pid, spy_python_t *py, ember_err_t *err) {
  spy_mem_t m = {.pid = pid};
  const spy_layout_t *L = py->L;
  uint64_t interp, ts, back;
  if (spy_read_u64(&m, py->runtime + L->rt_interp_head, &interp))
    return unreadable(pid, m.err, err);
  if (!interp) return EMBER_OK;
  if (spy_read_u64(&m, interp + L->is_threads_head, &ts) == 0 && !ts) return EMBER_OK;
  if (ts && spy_read_u64(&m, ts + L->ts_interp, &back) == 0 && back == interp)
    return EMBER_OK;
  return ember_err_set(err, EMBER_EINVAL,
                       "process %d runs Python %u.%u from %s, but its memory does not "
                       "match the layout of CPython %u.%u (a debug or patched build?)",
                       (int)pid, L->major, L->minor, py->file, L->major, L->minor);
}

static int find_file(pid_t pid, candidates_t *cs, spy_python_t *py, uint64_t *version_addr,
                     ember_err_t *err) {
  bool stripped = false, unreadable_file = false;
  for (size_t i = 0; i < cs->n; i++) {
    int found = search(pid, &cs->c[i], py, version_addr, &stripped);
    if (found == 1) return EMBER_OK;
    if (found < 0) unreadable_file = true;
  }
  const char *first = cs->n ? cs->c[0].path : cs->exe;
  unsigned minor;
  if (stripped)
    return ember_err_set(err, EMBER_EINVAL,
                         "%s (process %d) is stripped of its symbol tables, so _PyRuntime "
                         "cannot be found; use a Python build that keeps its dynamic "
                         "symbols (as Debian's python3 and every libpython do)",
                         first, (int)pid);
  if (unreadable_file)
    return ember_err_set(err, EMBER_EIO, "cannot open %s of process %d to read its symbols",
                         first, (int)pid);
  if (version_from_name(first, &minor) || cs->n == 0)
    return ember_err_set(err, EMBER_EINVAL,
                         "process %d (%s) has no _PyRuntime symbol: not a CPython 3.11 or "
                         "3.12 interpreter",
                         (int)pid, cs->exe);
  return ember_err_set(err, EMBER_EINVAL,
                       "process %d (%s) is not a Python program: neither it nor a "
                       "libpython it loaded has the symbol _PyRuntime",
                       (int)pid, cs->exe);
}

static int read_version(pid_t pid, spy_python_t *py, uint64_t version_addr,
                        ember_err_t *err) {
  spy_mem_t m = {.pid = pid};
  unsigned minor;
  if (!version_addr) { /* before 3.11 */
    if (version_from_name(py->file, &minor))
      return ember_err_set(err, EMBER_EINVAL,
                           "process %d runs Python 3.%u (%s); ember spy reads 3.11 and 3.12",
                           (int)pid, minor, py->file);
    return ember_err_set(err, EMBER_EINVAL,
                         "process %d runs a Python older than 3.11 (%s has no Py_Version); "
                         "ember spy reads 3.11 and 3.12",
                         (int)pid, py->file);
  }
  uint64_t v;
  if (spy_read_u64(&m, version_addr, &v)) return unreadable(pid, m.err, err);
  py->version = (uint32_t)v;
  unsigned major = (v >> 24) & 0xff;
  minor = (v >> 16) & 0xff;
  py->L = spy_layout(major, minor);
  if (!py->L)
    return ember_err_set(err, EMBER_EINVAL,
                         "process %d runs Python %u.%u.%u (%s); ember spy reads 3.11 and 3.12",
                         (int)pid, major, minor, (unsigned)(v >> 8) & 0xff, py->file);
  if (!py->t_code || !py->t_str || !py->t_bytes || !py->t_tuple || !py->t_dict)
    return ember_err_set(err, EMBER_EINVAL,
                         "%s (process %d) lacks the symbols of Python's type objects "
                         "(PyCode_Type, PyUnicode_Type, ...)",
                         py->file, (int)pid);
  return EMBER_OK;
}

/* ---- API --------------------------------------------------------------- */

int spy_find_python(pid_t pid, spy_python_t *out, ember_err_t *err) {
  if (pid <= 0) return ember_err_set(err, EMBER_EINVAL, "no process %d", (int)pid);
  if (kill(pid, 0) && errno == ESRCH)
    return ember_err_set(err, EMBER_ENOTFOUND, "no process %d", (int)pid);
  candidates_t *cs = ember_calloc(1, sizeof *cs);
  spy_python_t *py = ember_calloc(1, sizeof *py);
  int rc;
  char link[64];
  snprintf(link, sizeof link, "/proc/%d/exe", (int)pid);
  ssize_t k = readlink(link, cs->exe, sizeof cs->exe - 1);
  if (k < 0) {
    rc = errno == ENOENT ? ember_err_set(err, EMBER_ENOTFOUND, "no process %d", (int)pid)
                         : unreadable(pid, errno, err);
    goto done;
  }
  cs->exe[k] = '\0';
  if (spy_maps(pid, collect, cs) < 0) {
    rc = unreadable(pid, errno, err);
    goto done;
  }
  uint64_t version_addr = 0;
  rc = find_file(pid, cs, py, &version_addr, err);
  if (rc) goto done;
  rc = read_version(pid, py, version_addr, err);
  if (rc) goto done;
  rc = check_layout(pid, py, err);
  if (rc == 0) *out = *py;
done:
  free(cs);
  free(py);
  return rc;
}
