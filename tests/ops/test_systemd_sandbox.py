#!/usr/bin/env python3
"""test_systemd_sandbox.py - the sandbox of examples/systemd/ember.service
takes nothing away that the server uses.

Without systemd as the init system the unit cannot be started here, so the
server runs under strace instead, as an unprivileged user without
capabilities and with no_new_privs (setpriv: what User=, NoNewPrivileges=
and an empty CapabilityBoundingSet= give it), with a token file, through
every route (pushes in each format, reads in each format, a deletion,
metrics, the UI), then once more on the same data with TLS and retention,
so the maintenance pass at start expires, compacts and rolls up. Every
system call it made is then checked against the unit:

- SystemCallFilter: each call is in the allowed groups (expanded with
  `systemd-analyze syscall-filter`) and in none of the denied ones;
- RestrictAddressFamilies: each socket's family is listed;
- MemoryDenyWriteExecute: no writable and executable mapping, no mprotect
  to executable;
- RestrictNamespaces, RestrictRealtime: no CLONE_NEW*, no real-time policy;
- ProtectSystem=strict with StateDirectory, PrivateTmp: files are written
  only in the data directory or /tmp;
- ProtectHome, PrivateDevices, ProcSubset=pid: nothing is opened under
  /home, /root or /run/user, no device beyond the private /dev's, nothing
  in /proc beyond the process's own entries.

Skips (77) when strace or systemd-analyze is missing (Debian packages
strace and systemd), or for a build with sanitizers, whose runtime makes
system calls of its own.
"""

import gzip
import json
import os
import re
import shutil
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import opslib  # noqa: E402

UNIT = os.path.join(opslib.EXAMPLES, "systemd", "ember.service")
TESTDATA = os.path.join(opslib.ROOT, "tests", "data")
NOBODY = 65534

# Read by glibc's malloc to learn whether it may shrink heaps; hidden by
# ProcSubset=pid, in which case it keeps its default, the same as what the
# file says on a default system (overcommit 0).
HARMLESS_PROC = {"/proc/sys/vm/overcommit_memory"}

# What PrivateDevices= leaves in /dev.
PRIVATE_DEV = {"null", "zero", "full", "random", "urandom", "tty", "ptmx", "pts", "shm",
               "mqueue", "hugepages", "log", "stdin", "stdout", "stderr", "fd"}

WRITE_CALLS = {"mkdir", "mkdirat", "unlink", "unlinkat", "rename", "renameat", "renameat2",
               "link", "linkat", "symlink", "symlinkat", "truncate", "chmod", "fchmodat",
               "chown", "lchown", "fchownat", "mknod", "mknodat", "utimensat", "rmdir",
               "creat"}
PATH_CALLS = WRITE_CALLS | {"open", "openat", "openat2", "stat", "lstat", "newfstatat",
                            "statx", "access", "faccessat", "faccessat2", "readlink",
                            "readlinkat", "statfs", "execve", "chdir", "opendir"}


def unit_settings():
    out = []
    for line in open(UNIT).read().splitlines():
        line = line.strip()
        if line and not line.startswith(("#", ";", "[")) and "=" in line:
            k, v = line.split("=", 1)
            out.append((k.strip(), v.strip()))
    return out


def syscall_groups(analyze):
    """Every group of `systemd-analyze syscall-filter`, as name -> members
    (members may be groups, @-prefixed)."""
    text = subprocess.run([analyze, "syscall-filter"], capture_output=True, text=True,
                          check=True).stdout
    groups, cur = {}, None
    for line in text.splitlines():
        if line.startswith("@"):
            cur = groups.setdefault(line.strip(), set())
        elif cur is not None and line.strip() and not line.strip().startswith("#"):
            cur.add(line.strip())
    return groups


def expand(names, groups, seen=None):
    seen = set() if seen is None else seen
    out = set()
    for n in names:
        if n.startswith("@"):
            if n in seen:
                continue
            seen.add(n)
            out |= expand(groups.get(n, ()), groups, seen)
        else:
            out.add(n)
    return out


def allowed_syscalls(settings, groups):
    """The set the unit's SystemCallFilter= lines allow: the first line is an
    allow list (with @default, which systemd always permits), later lines
    starting with ~ take calls away."""
    allow, deny = set(), set()
    for k, v in settings:
        if k != "SystemCallFilter":
            continue
        if v.startswith("~"):
            deny |= expand(v[1:].split(), groups)
        else:
            allow |= expand(v.split(), groups)
    if not allow:
        opslib.fail("the unit has no SystemCallFilter allow list")
    allow |= expand(["@default"], groups)
    return allow - deny, deny


# ---- The run ---------------------------------------------------------------


def workload(e, tokens):
    """Every kind of request an operator's server sees. Returns failures."""
    bad = []
    now = int(time.time())

    def want(status, url, method="GET", body=None, headers=None, token="admin"):
        h = dict(headers or {})
        if token:
            h["Authorization"] = f"Bearer {tokens[token]}"
        got, _, data = opslib.request(e.url + url, method, body, h)
        if got != status:
            bad.append(f"{method} {url}: {got}, expected {status}: {data[:200]!r}")
        return data

    want(200, "/healthz", token=None)
    want(200, "/readyz", token=None)
    want(200, "/", headers={"Accept-Encoding": "gzip"}, token=None)
    want(200, "/style.css", token=None)
    want(401, "/api/apps", token=None)
    want(403, "/api/apps", token="ingest")
    want(404, "/nowhere")
    body = b"main;handle;parse 120\nmain;handle;db;mutex_lock 75\nmain;idle 3\n"
    for t in (now - 7200, now - 30, now):
        want(200, f"/ingest?name=box.cpu%7Bhost%3Da%7D&from={t}&until={t + 10}"
             "&format=folded", "POST", body, token="ingest")
    want(200, f"/ingest?name=box.cpu%7Bhost%3Db%7D&from={now}&format=folded", "POST",
         gzip.compress(body), {"Content-Encoding": "gzip"}, token="ingest")
    pprof = open(os.path.join(TESTDATA, "pprof", "go_cpu.pb.gz"), "rb").read()
    want(200, f"/ingest?name=go.cpu%7B%7D&from={now}&format=pprof&spyName=gospy", "POST",
         pprof, token="ingest")
    form = open(os.path.join(TESTDATA, "pprof", "go_cpu_multipart.body"), "rb").read()
    ctype = open(os.path.join(TESTDATA, "pprof", "go_cpu_multipart.type")).read().strip()
    want(200, f"/ingest?name=form.cpu%7B%7D&from={now}", "POST", form,
         {"Content-Type": ctype}, token="ingest")
    want(422, f"/ingest?name=box.cpu%7B%7D&from={now}&format=folded", "POST",
         b"main;idle twelve\n", token="ingest")
    q = "query=box.cpu%7B%7D&from=now-3h&until=now"
    for fmt in ("json", "collapsed", "svg", "html", "pprof"):
        want(200, f"/render?{q}&format={fmt}", token="read")
    want(200, "/render-diff?leftQuery=box.cpu%7Bhost%3D%22a%22%7D"
         "&rightQuery=box.cpu%7Bhost%3D%22b%22%7D&from=now-1h&until=now", token="read")
    want(200, "/labels?query=box.cpu%7B%7D", token="read")
    want(200, "/label-values?label=host&query=box.cpu%7B%7D", token="read")
    want(200, "/api/apps", token="read")
    want(200, "/metrics", token="read")
    want(200, "/api/apps", "DELETE", json.dumps({"name": "form.cpu"}).encode(),
         {"Content-Type": "application/json"})
    return bad


def run_traced(strace, binary, data, args, trace, as_user):
    """One traced server: the workload, then SIGTERM. Returns failures."""
    prefix = [strace, "-f", "-qq", "-y", "-s", "512", "-o", trace]
    if as_user:
        prefix += ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups",
                   "--no-new-privs", "--bounding-set=-all", "--inh-caps=-all", "--"]
    # cwd / as under systemd (no WorkingDirectory=): a relative path would
    # be one the sandbox does not let it write.
    e = opslib.Ember(data, args, prefix=prefix, cwd="/", binary=binary)
    tokens = {"admin": "t-admin-5f2a", "read": "t-read-9c1b", "ingest": "t-ingest-77d0"}
    try:
        bad = workload(e, tokens)
    finally:
        rc = e.stop()
    if rc != 0:
        bad.append(f"the server exited with status {rc} on SIGTERM:\n{e.log}")
    return bad, e.log


# ---- Reading the trace -------------------------------------------------------

LINE = re.compile(r"^(\d+)\s+([a-z_0-9]+)\((.*)$")
RESUMED = re.compile(r"^(\d+)\s+<\.\.\. ([a-z_0-9]+) resumed>(.*)$")


def calls_after_exec(trace, binary):
    """(name, args) of every call the server made once its binary was
    executed (what setpriv does before that is not the server's). A call
    that another thread interrupted is put back together from its halves."""
    out, started, pending = [], False, {}
    for line in open(trace, errors="replace"):
        line = line.rstrip("\n")
        m = RESUMED.match(line)
        if m and m.group(1) in pending:
            name, rest = pending.pop(m.group(1))
            if started:
                out.append((name, rest + m.group(3)))
            continue
        m = LINE.match(line)
        if not m:
            continue  # signals, exits
        pid, name, rest = m.groups()
        if rest.endswith("<unfinished ...>"):
            pending[pid] = (name, rest[:-len("<unfinished ...>")])
            continue
        if not started:
            started = name == "execve" and rest.startswith(f'"{binary}"') and "= 0" in rest
            continue
        out.append((name, rest))
    if not started:
        opslib.fail(f"the trace never shows the execution of {binary}")
    return out


def first_path(args):
    m = re.match(r'(?:AT_FDCWD(?:<[^>]*>)?|(\d+)<([^>]*)>)?,?\s*"([^"]*)"', args)
    if not m:
        return None
    d, p = m.group(2), m.group(3)
    if p and not p.startswith("/") and d:
        p = os.path.join(d, p)
    return p


def under(path, roots):
    path = os.path.normpath(path)
    return any(path == r or path.startswith(r.rstrip("/") + "/") for r in roots)


def check_calls(calls, allowed, denied, families, data_roots, read_only):
    """Problems found in calls, by kind. data_roots stand for the
    StateDirectory; read_only are directories under /tmp that stand for the
    read-only rest of the system (where the token file and certificates
    lie)."""
    problems = {}

    def note(kind, what):
        problems.setdefault(kind, set()).add(what)

    for name, args in calls:
        if name not in allowed:
            note("system call outside SystemCallFilter", name + (" (denied)" if name in denied
                                                                 else ""))
        if name in ("socket", "socketpair"):
            fam = args.split(",", 1)[0].strip()
            if fam not in families:
                note("address family outside RestrictAddressFamilies", fam)
        if name == "mmap" and "PROT_WRITE" in args and "PROT_EXEC" in args:
            note("writable and executable mapping (MemoryDenyWriteExecute)", args[:80])
        if name in ("mprotect", "pkey_mprotect") and "PROT_EXEC" in args:
            note("mprotect to executable (MemoryDenyWriteExecute)", args[:80])
        if name in ("clone", "clone3", "unshare", "setns") and "CLONE_NEW" in args:
            note("new namespace (RestrictNamespaces)", args[:80])
        if name in ("sched_setscheduler", "sched_setattr") and re.search(
                r"SCHED_(FIFO|RR|DEADLINE)", args):
            note("real-time scheduling (RestrictRealtime)", args[:80])
        if name not in PATH_CALLS:
            continue
        path = first_path(args)
        if not path:
            continue  # a call on a descriptor (AT_EMPTY_PATH)
        if not path.startswith("/"):
            note("relative path (the unit's working directory is /)", f"{name} {path}")
            continue
        # mkdir -p of the data directory's parents: the kernel answers
        # EEXIST before it looks at whether the file system is read-only.
        exists = name in ("mkdir", "mkdirat") and "= -1 EEXIST" in args
        writes = (name in WRITE_CALLS and not exists) or (name in ("open", "openat", "openat2") and re.search(
            r"O_WRONLY|O_RDWR|O_CREAT|O_TRUNC|O_APPEND", args))
        if writes and (not under(path, data_roots + ["/tmp", "/var/tmp", "/dev/null"])
                       or under(path, read_only) and not under(path, data_roots)):
            note("write outside the data directory and /tmp (ProtectSystem=strict)",
                 f"{name} {path}")
        if under(path, ["/home", "/root", "/run/user"]) and not under(path, data_roots):
            note("home directories (ProtectHome)", f"{name} {path}")
        if path.startswith("/dev/") and path.split("/")[2] not in PRIVATE_DEV:
            note("device outside the private /dev (PrivateDevices)", f"{name} {path}")
        if path.startswith("/proc/") and path not in HARMLESS_PROC:
            first = path.split("/")[2]
            if first not in ("self", "thread-self") and not first.isdigit():
                note("/proc beyond the process's own (ProcSubset=pid)", f"{name} {path}")
    return problems


def main():
    strace = opslib.need_program("strace", "strace")
    analyze = opslib.need_program("systemd-analyze", "systemd")
    binary = opslib.ember_bin()
    if os.environ.get("EMBER_SANITIZE") == "1" or "libasan" in subprocess.run(
            ["ldd", binary], capture_output=True, text=True).stdout:
        opslib.skip("a build with sanitizers makes system calls of its own; the sandbox "
                    "is checked on a plain build")
    as_user = os.geteuid() == 0
    if as_user and not shutil.which("setpriv"):
        opslib.skip("setpriv not found (Debian package util-linux)")

    settings = unit_settings()
    allowed, denied = allowed_syscalls(settings, syscall_groups(analyze))
    families = set()
    for k, v in settings:
        if k == "RestrictAddressFamilies":
            families |= set(v.split())

    tmp = opslib.tempdir("sandbox")
    os.chmod(tmp, 0o755)
    # A copy the unprivileged user can reach, wherever the build tree is
    # (a clone under /root is not).
    shutil.copy(binary, os.path.join(tmp, "ember"))
    binary = os.path.join(tmp, "ember")
    data = os.path.join(tmp, "data")
    os.mkdir(data, 0o700)
    tokfile = os.path.join(tmp, "tokens")
    with open(tokfile, "w") as f:
        f.write("t-admin-5f2a admin\nt-read-9c1b read\nt-ingest-77d0 ingest\n")
    os.chmod(tokfile, 0o600)
    cert, key = (None, None)
    if shutil.which("openssl"):
        cert, key = opslib.make_cert(tmp)
    if as_user:
        for p in (data, tokfile, cert, key):
            if p:
                os.chown(p, NOBODY, NOBODY)

    checks = opslib.Checks()
    runs = [("plain HTTP, tokens", ["--auth-token-file", tokfile])]
    second = ["--auth-token-file", tokfile, "--retention", "1h"]
    if cert:
        runs.append(("TLS, retention at start", second + ["--tls-cert", cert, "--tls-key", key]))
    else:
        print("note: openssl not found, the second run is without TLS")
        runs.append(("retention at start", second))
    for i, (what, args) in enumerate(runs):
        trace = os.path.join(tmp, f"trace{i}.txt")
        bad, _ = run_traced(strace, binary, data, args, trace, as_user)
        checks.ok(not bad, f"{what}: every request answered as expected", "\n".join(bad))
        calls = calls_after_exec(trace, binary)
        names = sorted({n for n, _ in calls})
        print(f"      {len(calls)} calls, {len(names)} distinct: {' '.join(names)}")
        problems = check_calls(calls, allowed, denied, families, [data], [tmp])
        for kind in ("system call outside SystemCallFilter",
                     "address family outside RestrictAddressFamilies",
                     "writable and executable mapping (MemoryDenyWriteExecute)",
                     "mprotect to executable (MemoryDenyWriteExecute)",
                     "new namespace (RestrictNamespaces)",
                     "real-time scheduling (RestrictRealtime)",
                     "relative path (the unit's working directory is /)",
                     "write outside the data directory and /tmp (ProtectSystem=strict)",
                     "home directories (ProtectHome)",
                     "device outside the private /dev (PrivateDevices)",
                     "/proc beyond the process's own (ProcSubset=pid)"):
            found = sorted(problems.pop(kind, ()))
            checks.ok(not found, f"{what}: no {kind}", ", ".join(found[:20]))
        checks.ok(not problems, f"{what}: nothing else", str(problems))
    checks.finish()


if __name__ == "__main__":
    main()
