"""opslib.py - what the operations tests share: finding the binary and the
examples, starting a real `ember serve` on 127.0.0.1, speaking HTTP to it,
and the exit status 77 that ctest counts as skipped.

Only the Python standard library is used. Every server and other process
a test starts is stopped by the test itself, by its pid.
"""

import gzip
import http.client
import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
EXAMPLES = os.path.join(ROOT, "examples")

SKIP = 77  # ctest SKIP_RETURN_CODE


def skip(why):
    """Ends the test as skipped, saying what is missing."""
    print(f"SKIP: {why}")
    sys.exit(SKIP)


def fail(why):
    print(f"FAIL: {why}")
    sys.exit(1)


def need_program(name, package):
    """The path of a program, or a skip naming the Debian package that has it."""
    path = shutil.which(name) or next(
        (p for p in (f"/usr/sbin/{name}", f"/sbin/{name}") if os.access(p, os.X_OK)), None)
    if not path:
        skip(f"{name} not found (Debian package {package}; scripts/deps.sh --test installs it)")
    return path


def ember_bin():
    path = os.environ.get("EMBER_BIN") or os.path.join(ROOT, "build", "ember")
    if not os.access(path, os.X_OK):
        fail(f"no ember binary at {path}: build it, or set EMBER_BIN")
    return os.path.abspath(path)


def free_port():
    """A port that was free a moment ago, for programs that cannot be told
    to pick one themselves (nginx, prometheus)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, proc, what, timeout=10.0):
    """Waits until something accepts connections on 127.0.0.1:port."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if proc.poll() is not None:
            fail(f"{what} exited with status {proc.returncode} before listening")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.05)
    fail(f"{what} did not listen on 127.0.0.1:{port} within {timeout:.0f} s")


def stop(proc, timeout=15.0):
    """SIGTERM to one process we started, then SIGKILL if it lingers.
    Returns its exit status."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    return proc.returncode


class Ember:
    """One `ember serve` on 127.0.0.1 and a free port, data in `data`.

    prefix: a command placed before the binary (strace, for one); binary:
    another copy of it than EMBER_BIN's. The
    listening line on standard output gives the port; the rest of standard
    output and standard error is kept in self.log."""

    def __init__(self, data, args=(), prefix=(), cwd=None, env=None, binary=None):
        self.data = data
        self.prefixed = bool(prefix)
        cmd = [*prefix, binary or ember_bin(), "serve", "--listen", "127.0.0.1:0", "--data", data, *args]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                     cwd=cwd, env=env, text=True)
        self.lines = []
        found = threading.Event()
        self.scheme, self.port = None, None

        def read():
            for line in self.proc.stdout:
                self.lines.append(line)
                m = re.search(r"listening on (https?)://127\.0\.0\.1:(\d+)", line)
                if m and not found.is_set():
                    self.scheme, self.port = m.group(1), int(m.group(2))
                    found.set()

        self.reader = threading.Thread(target=read, daemon=True)
        self.reader.start()
        if not found.wait(20):
            stop(self.proc)
            fail("ember did not say where it listens:\n" + "".join(self.lines))
        self.url = f"{self.scheme}://127.0.0.1:{self.port}"

    @property
    def log(self):
        return "".join(self.lines)

    @property
    def pid(self):
        """The server's own pid: behind a prefix command, the one it wrote
        in its lock file."""
        if not self.prefixed:
            return self.proc.pid
        with open(os.path.join(self.data, "ember.lock")) as f:
            return int(f.read().strip())

    def stop(self, timeout=20.0):
        """SIGTERM to the server, as systemd and docker stop it, then its
        exit status (a prefix command such as strace passes it on)."""
        if self.proc.poll() is None:
            os.kill(self.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                os.kill(self.pid, signal.SIGKILL)
                stop(self.proc)
        self.reader.join(5)
        return self.proc.returncode


def request(url, method="GET", body=None, headers=None, timeout=30):
    """One HTTP request. Returns (status, headers as a lower-cased dict, body
    bytes). HTTPS is not verified: the tests make their own certificates."""
    m = re.match(r"(https?)://([^/:]+):(\d+)(/.*)?$", url)
    if not m:
        raise ValueError(url)
    scheme, host, port, path = m.group(1), m.group(2), int(m.group(3)), m.group(4) or "/"
    if scheme == "https":
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        conn = http.client.HTTPSConnection(host, port, timeout=timeout, context=ctx)
    else:
        conn = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        r = conn.getresponse()
        data = r.read()
        hdrs = {k.lower(): v for k, v in r.getheaders()}
        if hdrs.get("content-encoding") == "gzip":
            data = gzip.decompress(data)
        return r.status, hdrs, data
    finally:
        conn.close()


def folded(frames_prefix, stacks, width=1):
    """Folded text: `stacks` distinct stacks under one root, each counted
    `width` times, so sizes can be chosen exactly."""
    return "".join(f"{frames_prefix};f{i // 100};g{i} {width}\n" for i in range(stacks)).encode()


def tempdir(name):
    """A temporary directory removed when the test ends, kept when
    EMBER_KEEP_TMP is set (to read the logs of a failure)."""
    d = tempfile.mkdtemp(prefix=f"ember-{name}-")
    if not os.environ.get("EMBER_KEEP_TMP"):
        import atexit
        atexit.register(shutil.rmtree, d, True)
    return d


def make_cert(dirpath, name="localhost"):
    """A self-signed certificate and key for 127.0.0.1, or a skip when
    openssl is missing. Returns (cert, key)."""
    openssl = need_program("openssl", "openssl")
    cert, key = os.path.join(dirpath, "cert.pem"), os.path.join(dirpath, "key.pem")
    subprocess.run([openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                    "-subj", f"/CN={name}", "-addext",
                    f"subjectAltName=DNS:{name},IP:127.0.0.1", "-keyout", key, "-out", cert],
                   check=True, capture_output=True)
    os.chmod(key, 0o600)
    return cert, key


class Checks:
    """Collects check results: one line each, and the exit status at the end,
    so a run shows every failure rather than the first."""

    def __init__(self):
        self.failed = 0
        self.passed = 0

    def ok(self, cond, what, detail=""):
        if cond:
            self.passed += 1
            print(f"ok    {what}")
        else:
            self.failed += 1
            print(f"FAIL  {what}" + (f": {detail}" if detail else ""))
        return cond

    def finish(self):
        print(f"{self.passed} passed, {self.failed} failed")
        sys.exit(1 if self.failed else 0)
