"""What the tests of `ember spy` share: the Python interpreters to test
against, the target program, the real server, and running ember.

Interpreters: Debian's /usr/bin/python3, python3, python3.11 and python3.12
from PATH, Debian's debug builds (python3.11-dbg), the versions pyenv has
installed, and the names listed in
EMBER_SPY_PYTHONS (separated by ':'); each kept when it runs, is CPython
3.11 or 3.12, and is not the same build as one already kept. Where a C
compiler and python3.11-config (or python3.12-config) are found, a small
program embedding that libpython is built too, so the interpreter is found
in a shared library loaded by a program that is not Python.

A test module with nothing to test against exits 77 (skipped), saying why.
"""

import atexit
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.parse
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
TARGET = os.path.join(HERE, "target.py")
EMBER = os.environ.get("EMBER_BIN") or os.path.join(HERE, "..", "..", "..", "build", "ember")

EMBED_C = r"""
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdio.h>
int main(int argc, char **argv) {
  /* Runs argv[1] as __main__ with argv[1:] as sys.argv. */
  PyConfig config;
  PyConfig_InitPythonConfig(&config);
  config.parse_argv = 0;
  PyConfig_SetBytesArgv(&config, argc - 1, argv + 1);
  PyConfig_SetBytesString(&config, &config.run_filename, argv[1]);
  Py_InitializeFromConfig(&config);
  PyConfig_Clear(&config);
  return Py_RunMain();
}
"""


def markers(path=TARGET):
    """{name: line} for the lines marked "# spy:name"."""
    out = {}
    with open(path) as f:
        for no, line in enumerate(f.read().split("\n"), 1):
            m = re.search(r"# spy:([\w-]+)", line)
            if m:
                out[m.group(1)] = no
    return out


def function_lines(name, path=TARGET):
    """The lines of function `name` in path (from def to the next def)."""
    lines = read(path).split("\n")
    start = next(i for i, l in enumerate(lines, 1) if re.match(r"\s*def %s\(" % name, l))
    end = start
    while end < len(lines) and not re.match(r"\s*(def|class) ", lines[end]):
        end += 1
    return range(start, end + 1)


def _probe(argv):
    """(version, executable) of an interpreter, or None."""
    try:
        out = subprocess.run(argv + ["-c", "import sys, sysconfig; print('%d.%d' % sys.version_info[:2]); "
                                     "print(sys.executable); print(sys.version.split()[0])"],
                             capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return None
    if out.returncode != 0:
        return None
    lines = out.stdout.split("\n")
    return lines[0], os.path.realpath(lines[1]), lines[2]


def _pyenv_pythons(names=("python3.11", "python3.12")):
    root = shutil.which("pyenv") and subprocess.run(["pyenv", "root"], capture_output=True,
                                                     text=True).stdout.strip()
    found = []
    versions = os.path.join(root, "versions") if root else None
    if versions and os.path.isdir(versions):
        for v in sorted(os.listdir(versions)):
            for name in names:
                path = os.path.join(versions, v, "bin", name)
                if os.access(path, os.X_OK):
                    found.append(path)
    return found


def _embedder(config, workdir):
    """(program embedding the libpython of python3.X-config, that
    libpython's path), or None."""
    cc = shutil.which("cc") or shutil.which("gcc")
    config = config if os.path.isabs(config) else shutil.which(config)
    if not cc or not config or not os.access(config, os.X_OK):
        return None
    try:
        def ask(*args):
            return subprocess.run([config] + list(args), capture_output=True, text=True,
                                  check=True, timeout=30).stdout.split()
        flags, libs, prefix = ask("--cflags"), ask("--ldflags", "--embed"), ask("--prefix")
    except (OSError, subprocess.CalledProcessError, subprocess.TimeoutExpired):
        return None
    libdirs = [f[2:] for f in libs if f.startswith("-L")] + [os.path.join(prefix[0], "lib")]
    rpath = ["-Wl,-rpath," + d for d in libdirs]
    src = os.path.join(workdir, "embed.c")
    exe = os.path.join(workdir, "embed%d" % len(os.listdir(workdir)))
    with open(src, "w") as f:
        f.write(EMBED_C)
    r = subprocess.run([cc, "-o", exe, src] + flags + libs + rpath, capture_output=True,
                       text=True)
    if r.returncode != 0:
        return None
    # It must load libpython as a shared library, or it proves nothing new.
    lib = _libpython(exe)
    return (exe, lib) if lib != exe else None


def _libpython(exe):
    """The libpython exe loads, or exe itself when it has none."""
    ldd = subprocess.run(["ldd", exe], capture_output=True, text=True).stdout
    m = re.search(r"(libpython3\.\d+\S*) => (\S+)", ldd)
    return os.path.realpath(m.group(2)) if m else exe


def other_pythons():
    """CPython 3.9, 3.10 and 3.13 interpreters found (PATH, pyenv)."""
    names = ("python3.9", "python3.10", "python3.13")
    out, seen = [], set()
    for c in [shutil.which(n) for n in names] + _pyenv_pythons(names):
        probe = c and _probe([c])
        if probe and probe[0] in ("3.9", "3.10", "3.13") and probe[1] not in seen:
            seen.add(probe[1])
            out.append(probe[1])
    return out


_cache = None


def pythons():
    """[(label, argv prefix, version)] of the interpreters to test against."""
    global _cache
    if _cache is not None:
        return _cache
    candidates = ["/usr/bin/python3", "python3", "python3.11", "python3.12",
                  "python3.11-dbg", "python3.12-dbg"]
    candidates += _pyenv_pythons()
    candidates += [p for p in os.environ.get("EMBER_SPY_PYTHONS", "").split(":") if p]
    seen, out = set(), []
    for c in candidates:
        path = c if os.path.isabs(c) else shutil.which(c)
        if not path:
            continue
        probe = _probe([path])
        if not probe or probe[0] not in ("3.11", "3.12") or probe[1] in seen:
            continue
        seen.add(probe[1])
        seen.add(_libpython(probe[1]))
        out.append(("python %s (%s)" % (probe[2], probe[1]), [probe[1]], probe[0]))
    workdir = tempfile.mkdtemp(prefix="ember-spy-embed-")
    atexit.register(shutil.rmtree, workdir, True)
    for config in ("/usr/bin/python3.11-config", "/usr/bin/python3.12-config",
                   "python3.11-config", "python3.12-config"):
        built = _embedder(config, workdir)
        if built and built[1] not in seen:
            seen.add(built[1])
            version = re.search(r"python(3\.\d+)", config).group(1)
            out.append(("a C program embedding %s" % built[1], [built[0]], version))
    _cache = out
    return out


def require_pythons():
    found = pythons()
    if not found:
        print("skipped: no CPython 3.11 or 3.12 found (tried /usr/bin/python3, python3, "
              "python3.11, python3.12, pyenv, EMBER_SPY_PYTHONS)")
        sys.exit(77)
    if not os.access(EMBER, os.X_OK):
        print("skipped: no ember binary at %s (set EMBER_BIN)" % EMBER)
        sys.exit(77)
    return found


class Target:
    """target.py running under one interpreter; stopped on exit."""

    def __init__(self, argv):
        self.dir = tempfile.mkdtemp(prefix="ember-spy-target-")
        self.report = os.path.join(self.dir, "report.json")
        self.proc = subprocess.Popen(argv + [TARGET, self.report], stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE, text=True)
        deadline = time.time() + 30
        try:
            while not os.path.exists(self.report):
                if self.proc.poll() is not None:
                    raise AssertionError("target exited: %s" % self.proc.stderr.read())
                if time.time() > deadline:
                    raise AssertionError("target did not get ready in 30 s")
                time.sleep(0.05)
            with open(self.report) as f:
                self.info = json.load(f)
        except BaseException:
            self.close()  # never leave a busy program behind
            raise
        self.pid = self.proc.pid

    def close(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        self.proc.stderr.close()
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def ember(*args, timeout=120, env=None):
    """Runs ember; returns (status, stdout, stderr)."""
    e = dict(os.environ)
    e.update(env or {})
    r = subprocess.run([EMBER] + list(args), capture_output=True, text=True, timeout=timeout,
                       env=e)
    return r.returncode, r.stdout, r.stderr


class Server:
    """The real server on 127.0.0.1 with a free port and its own data."""

    def __init__(self):
        self.data = tempfile.mkdtemp(prefix="ember-spy-server-")
        self.proc = subprocess.Popen([EMBER, "serve", "--listen", "127.0.0.1:0", "--data",
                                      self.data], stdout=subprocess.PIPE,
                                     stderr=subprocess.DEVNULL, text=True)
        line = self.proc.stdout.readline()
        m = re.search(r"listening on (http://\S+)", line)
        if not m:
            self.close()
            raise AssertionError("server did not start: %r" % line)
        self.url = m.group(1)

    def get(self, path, **params):
        q = urllib.parse.urlencode(params)
        with urllib.request.urlopen(self.url + path + ("?" + q if q else ""), timeout=30) as r:
            return r.read().decode()

    def collapsed(self, query):
        return self.get("/render", query=query, format="collapsed", **{"from": "now-1h"})

    def close(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc.stdout.close()
        shutil.rmtree(self.data, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def read(path):
    with open(path) as f:
        return f.read()


def folded_counts(text):
    """[(frames, count)] of folded text."""
    out = []
    for line in text.splitlines():
        if not line.strip():
            continue
        stack, _, count = line.rpartition(" ")
        out.append((stack.split(";"), int(count)))
    return out


def share(stacks, name, among):
    """Samples whose leaf frame contains `name`, over those whose leaf
    contains any of `among`."""
    def leaf_has(frames, n):
        return ":%s (" % n in frames[-1]
    part = sum(c for f, c in stacks if leaf_has(f, name))
    whole = sum(c for f, c in stacks if any(leaf_has(f, n) for n in among))
    return part / whole if whole else 0.0, whole


def main():
    require_pythons()
    unittest.main(verbosity=2)
