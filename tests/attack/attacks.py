#!/usr/bin/env python3
"""attacks.py - the attack suite: requests an attacker would send, replayed
against the real ember binary.

Each attack starts its own server (127.0.0.1, port 0, a fresh data
directory) under a memory cap (RLIMIT_AS, 4 GiB by default), sends what
docs/security.md lists, and checks that:

  - every answer is the expected 4xx/5xx, with a JSON {"error": ...} body
    wherever the server answers at all;
  - afterwards the server is alive and answers GET /healthz within a second;
  - its peak RSS (VmHWM in /proc/PID/status, sampled while it runs) stays
    under the attack's bound;
  - SIGTERM stops it within 10 s (the attack's connections are closed by
    then) with exit status 0, no signal and no "abort" on stderr.

It prints one line per attack (name, statuses seen, peak RSS, verdict) and
exits 1 when any attack fails.

    EMBER_BIN=build/ember tests/attack/attacks.py      # all of them
    tests/attack/attacks.py --bin build/ember --only regex
    tests/attack/attacks.py --list
    tests/attack/attacks.py --legacy --bin OLD/ember   # a build from before
                                                       # the limits existed

--legacy passes none of the flags an older server does not know
(--max-inflight, --request-timeout, ...), so the same attacks can be pointed
at an older binary to measure how it fared; failures are then expected,
reported, and do not change the exit status. --no-ulimit drops the memory
cap, which AddressSanitizer builds need (they reserve terabytes of address
space); --rss-slack MB loosens every bound for such builds.

Sizes are scaled down where the full size only costs time: each attack
says what its full-size version is. Only the Python standard library is
used.

"""

import argparse
import base64
import collections
import gzip
import json
import os
import re
import resource
import secrets
import select
import selectors
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import urllib.parse

KiB = 1 << 10
MiB = 1 << 20
GiB = 1 << 30

# Flags every ember serve has understood; --legacy drops all others.
LEGACY_FLAGS = {"--listen", "--data", "--retention", "--max-body", "--workers",
                "--write-queue"}

# What a reply keeps of its body; the rest is only counted.
KEEP = 1 * MiB


class Skip(Exception):
    """The attack cannot run here (too few file descriptors, ...)."""


# ---- HTTP over plain sockets ------------------------------------------------
#
# Attacks need what a library would tidy away: a Host of our choosing, a
# body sent in pieces or never finished, a reply read while the body is
# still going out. So requests are written by hand, one per connection
# (Connection: close).


class Reply:
    """One answer, or why there was none (status None, reason set)."""

    def __init__(self, status=None, reason="", headers=None, body=b"", size=0,
                 seconds=0.0):
        self.status = status
        self.reason = reason
        self.headers = headers or {}
        self.body = body
        self.size = size
        self.seconds = seconds

    def label(self):
        return str(self.status) if self.status is not None else self.reason

    def error_message(self):
        """The "error" member of a JSON body, or None."""
        try:
            doc = json.loads(self.body.decode("utf-8"))
        except (ValueError, UnicodeDecodeError):
            return None
        if isinstance(doc, dict) and isinstance(doc.get("error"), str):
            return doc["error"]
        return None

    def json(self):
        try:
            return json.loads(self.body.decode("utf-8"))
        except (ValueError, UnicodeDecodeError):
            return None

    def __repr__(self):
        msg = self.error_message()
        extra = f" {msg[:120]!r}" if msg else ""
        return f"<{self.label()} in {self.seconds:.2f}s{extra}>"


def connect(port, source=None, timeout=5.0):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        if source:
            s.bind((source, 0))
        s.settimeout(timeout)
        s.connect(("127.0.0.1", port))
    except OSError:
        s.close()
        raise
    return s


def request_head(port, method, target, headers=None, length=None):
    """The request line and headers. headers may override Host or drop a
    default by giving None."""
    hs = {"Host": f"127.0.0.1:{port}", "Connection": "close"}
    if length is not None:
        hs["Content-Length"] = str(length)
    for k, v in (headers or {}).items():
        hs.pop(k, None)
        if v is not None:
            hs[k] = v
    lines = [f"{method} {target} HTTP/1.1"] + [f"{k}: {v}" for k, v in hs.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def _recv(sock, deadline):
    left = deadline - time.monotonic()
    if left <= 0:
        raise socket.timeout()
    sock.settimeout(left)
    return sock.recv(256 * KiB)


def read_reply(sock, deadline, started, method="GET", keep=KEEP):
    """Reads one response (or EOF, a reset, the deadline) from sock."""
    buf = b""
    try:
        while b"\r\n\r\n" not in buf:
            data = _recv(sock, deadline)
            if not data:
                return Reply(reason="closed" if not buf else "truncated",
                             seconds=time.monotonic() - started)
            buf += data
            if len(buf) > 1 * MiB:
                return Reply(reason="huge-head", seconds=time.monotonic() - started)
        head, rest = buf.split(b"\r\n\r\n", 1)
        lines = head.decode("latin-1").split("\r\n")
        parts = lines[0].split(" ", 2)
        status = int(parts[1])
        headers = {}
        for line in lines[1:]:
            k, _, v = line.partition(":")
            headers[k.strip().lower()] = v.strip()
        body, size = rest[:keep], len(rest)
        if method == "HEAD" or status in (204, 304) or 100 <= status < 200:
            want = 0
        elif "content-length" in headers:
            want = int(headers["content-length"])
        else:
            want = None  # until EOF
        while want is None or size < want:
            data = _recv(sock, deadline)
            if not data:
                break
            if len(body) < keep:
                body += data[: keep - len(body)]
            size += len(data)
        return Reply(status, "", headers, body, size, time.monotonic() - started)
    except socket.timeout:
        return Reply(reason="timeout", seconds=time.monotonic() - started)
    except ConnectionResetError:
        return Reply(reason="reset", seconds=time.monotonic() - started)
    except (ValueError, IndexError):
        return Reply(reason="garbled", seconds=time.monotonic() - started)


def http(port, method, target, headers=None, body=None, timeout=5.0, source=None,
         keep=KEEP):
    """One request on its own connection; never raises for network trouble."""
    started = time.monotonic()
    deadline = started + timeout
    try:
        sock = connect(port, source, timeout)
    except socket.timeout:
        return Reply(reason="connect-timeout", seconds=time.monotonic() - started)
    except OSError as e:
        return Reply(reason=f"connect-failed ({e.strerror})",
                     seconds=time.monotonic() - started)
    try:
        length = len(body) if body is not None else None
        try:
            sock.sendall(request_head(port, method, target, headers, length) +
                         (body or b""))
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server may have answered early: read what it said
        except socket.timeout:
            return Reply(reason="send-timeout", seconds=time.monotonic() - started)
        return read_reply(sock, deadline, started, method, keep)
    finally:
        sock.close()


def q(**params):
    """A query string with everything but unreserved characters encoded, so
    braces and quotes travel as the attack means them."""
    return urllib.parse.urlencode(params, quote_via=urllib.parse.quote, safe="")


def folded_lines(n, prefix="main;work", depth=6):
    """n distinct stacks of the given depth, one sample each."""
    out = []
    for i in range(n):
        frames = [prefix] + [f"f{(i >> (3 * d)) & 7}_{d}" for d in range(depth)]
        out.append(";".join(frames) + f";leaf{i} 1")
    return ("\n".join(out) + "\n").encode()


def ingest_target(name, frm, until):
    return "/ingest?" + q(name=name, **{"from": str(frm), "until": str(until)})


def push(port, name, body, frm, until, headers=None, timeout=10.0, source=None):
    return http(port, "POST", ingest_target(name, frm, until), headers, body, timeout,
                source)


def apps(port, headers=None):
    r = http(port, "GET", "/api/apps", headers)
    doc = r.json() if r.status == 200 else None
    names = [a.get("name") for a in doc] if isinstance(doc, list) else None
    return r, names


# ---- The server under attack ------------------------------------------------


class Server:
    """One `ember serve` on a free port, in a fresh temp directory."""

    def __init__(self, opts, flags=(), listen="127.0.0.1:0"):
        self.opts = opts
        self.dir = tempfile.mkdtemp(prefix="ember-attack-")
        self.data = os.path.join(self.dir, "data")
        self.flags = list(flags)
        self.listen = listen
        self.proc = None
        self.port = None
        self.peak_kb = 0
        self.exit_problems = []
        self._sampler = None

    def _limits(self):
        # In the child, before exec: the memory cap, and no core files
        # (a crash still shows as death by a signal).
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        if self.opts.cap:
            resource.setrlimit(resource.RLIMIT_AS, (self.opts.cap, self.opts.cap))

    def start(self):
        cmd = [self.opts.bin, "serve", "--listen", self.listen, "--data",
               self.data] + self.flags
        self.out_path = os.path.join(self.dir, "stdout")
        self.err_path = os.path.join(self.dir, "stderr")
        with open(self.out_path, "wb") as out, open(self.err_path, "wb") as err:
            self.proc = subprocess.Popen(cmd, stdout=out, stderr=err, cwd=self.dir,
                                         stdin=subprocess.DEVNULL,
                                         preexec_fn=self._limits)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with open(self.out_path, "rb") as f:
                first = f.readline().decode("utf-8", "replace")
            m = re.search(r"listening on https?://\S*:(\d+)", first)
            if m:
                self.port = int(m.group(1))
                break
            if self.proc.poll() is not None:
                raise RuntimeError(f"ember serve {' '.join(self.flags)} exited with "
                                   f"{self.proc.returncode}: "
                                   f"{self.stderr_text().strip()[-400:]}")
            time.sleep(0.02)
        else:
            self.proc.kill()
            self.proc.wait()
            raise RuntimeError("ember serve printed no 'listening on' line in 30 s")
        self._sampler = threading.Thread(target=self._sample, daemon=True)
        self._sampler.start()
        return self

    def _read_hwm(self):
        try:
            with open(f"/proc/{self.proc.pid}/status") as f:
                for line in f:
                    if line.startswith("VmHWM:"):
                        return int(line.split()[1])
        except (OSError, ValueError):
            pass
        return 0

    def _sample(self):
        # VmHWM is already a peak; sampling keeps the last value seen when
        # the process dies of the attack.
        while self.proc.poll() is None:
            self.peak_kb = max(self.peak_kb, self._read_hwm())
            time.sleep(0.02)

    def peak_mb(self):
        if self.proc and self.proc.poll() is None:
            self.peak_kb = max(self.peak_kb, self._read_hwm())
        return self.peak_kb / 1024.0

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def sockets(self):
        """How many sockets the server holds open (its listening socket
        among them)."""
        n = 0
        try:
            for fd in os.listdir(f"/proc/{self.proc.pid}/fd"):
                try:
                    if os.readlink(f"/proc/{self.proc.pid}/fd/{fd}").startswith("socket:"):
                        n += 1
                except OSError:
                    pass
        except OSError:
            pass
        return n

    def stderr_text(self):
        try:
            with open(self.err_path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def stop(self, grace=45.0, quick=10.0):
        """SIGTERM and wait; returns the problems seen (empty when clean).
        Attacks close their connections first, so nothing is left for the
        server to finish: a stop slower than `quick` seconds means it
        counts a request in flight that will never end."""
        problems = []
        if self.proc is None:
            return problems
        if self.proc.poll() is None:
            self.peak_mb()
            started = time.monotonic()
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(grace)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                problems.append(f"did not stop within {grace:.0f} s of SIGTERM")
            took = time.monotonic() - started
            if quick < took < grace:
                problems.append(f"took {took:.0f} s to stop with no client "
                                "connected")
        rc = self.proc.returncode
        if rc is not None and rc < 0:
            problems.append(f"died of signal {signal.Signals(-rc).name}")
        elif rc:
            problems.append(f"exit status {rc}")
        if re.search(r"\babort", self.stderr_text(), re.IGNORECASE):
            problems.append("'abort' on stderr")
        if self._sampler:
            self._sampler.join(1)
        return problems

    def cleanup(self):
        shutil.rmtree(self.dir, ignore_errors=True)


# ---- Running one attack -----------------------------------------------------


class Ctx:
    """What an attack uses: servers to start, and where to note what it saw."""

    def __init__(self, opts):
        self.opts = opts
        self.servers = []
        self.socks = []
        self.statuses = []
        self.failures = []
        self.notes = []

    def server(self, flags=(), listen="127.0.0.1:0"):
        flat = []
        for name, value in flags:
            if self.opts.legacy and name not in LEGACY_FLAGS:
                continue
            flat += [name, value]
        s = Server(self.opts, flat, listen)
        self.servers.append(s)
        return s.start()

    def saw(self, what):
        self.statuses.append(what.label() if isinstance(what, Reply) else str(what))
        return what

    def note(self, msg):
        """A figure worth printing beside the verdict."""
        self.notes.append(msg)

    def expect(self, cond, msg):
        if not cond:
            self.failures.append(msg)
        return bool(cond)

    def expect_error(self, r, statuses, what):
        """r is one of statuses, with a JSON error body."""
        self.saw(r)
        if not self.expect(r.status in statuses,
                           f"{what}: expected {'/'.join(map(str, statuses))}, got {r!r}"):
            return False
        return self.expect(r.error_message(), f"{what}: {r.status} without a JSON "
                           f"{{\"error\": ...}} body: {r.body[:80]!r}")

    def hold(self, sock):
        self.socks.append(sock)
        return sock

    def close_socks(self):
        for s in self.socks:
            try:
                s.close()
            except OSError:
                pass
        self.socks = []


ATTACKS = []


def attack(name, rss_mb, doc):
    """Registers fn as an attack whose server must stay under rss_mb."""
    def register(fn):
        ATTACKS.append(collections.namedtuple("Attack", "name rss_mb doc fn")(
            name, rss_mb, doc, fn))
        return fn
    return register


def summarize(statuses):
    counts = collections.Counter(statuses)
    order = list(dict.fromkeys(statuses))
    return " ".join(f"{s}x{counts[s]}" if counts[s] > 1 else s for s in order) or "-"


def run_attack(a, opts):
    ctx = Ctx(opts)
    started = time.monotonic()
    skipped = None
    try:
        a.fn(ctx)
    except Skip as e:
        skipped = str(e)
    except Exception as e:  # a broken attack is a failure, never a pass
        ctx.failures.append(f"{type(e).__name__}: {e}")
        if opts.verbose:
            traceback.print_exc()
    # Still under attack (its sockets open): the server must be alive.
    for s in ctx.servers:
        if skipped or s.proc is None:
            continue
        if not s.alive():
            ctx.failures.append("the server died during the attack")
            continue
        r = http(s.port, "GET", "/healthz", timeout=1.0)
        ctx.expect(r.status == 200, f"GET /healthz afterwards: {r!r}, expected 200 "
                   "within 1 s")
    ctx.close_socks()
    peak = 0.0
    tails = []
    for s in ctx.servers:
        peak = max(peak, s.peak_mb())
        for p in s.stop():
            ctx.failures.append(f"at SIGTERM: {p}")
        peak = max(peak, s.peak_mb())
        tails.append(s.stderr_text())
        s.cleanup()
    bound = a.rss_mb + opts.rss_slack
    if not skipped:
        ctx.expect(peak <= bound, f"peak RSS {peak:.1f} MB is over the bound of "
                   f"{bound} MB")
    verdict = "SKIP" if skipped else ("FAIL" if ctx.failures else "ok")
    print(f"{a.name:<20} {summarize(ctx.statuses)[:56]:<56} {peak:8.1f} MB "
          f"(<= {bound:>4}) {time.monotonic() - started:5.1f}s  {verdict}", flush=True)
    if skipped:
        print(f"    skipped: {skipped}")
    for n in ctx.notes:
        print(f"    . {n}")
    for f in ctx.failures:
        print(f"    - {f}")
    if ctx.failures and opts.verbose:
        for t in tails:
            for line in t.strip().splitlines()[-12:]:
                print(f"    | {line}")
    return verdict, peak


# ---- The attacks ------------------------------------------------------------


def now():
    return int(time.time())


@attack("regex", 64, "regex matchers whose compiled form is huge, on every "
        "route that takes a selector -> 400")
def attack_regex(ctx):
    # Full size: the same 112-byte query drove the server past 3 GB before.
    s = ctx.server()
    big = 'x.cpu{k=~"a{0,9999}",j=~"a{0,9999}"}'
    nested = 'x.cpu{k=~"(a{0,999}){0,999}"}'
    cases = [
        ("/render?" + q(query=big), "render"),
        ("/render-diff?" + q(leftQuery=big, rightQuery="x.cpu{}"), "render-diff left"),
        ("/render-diff?" + q(leftQuery="x.cpu{}", rightQuery=big), "render-diff right"),
        ("/labels?" + q(query=big), "labels"),
        ("/label-values?" + q(label="k", query=big), "label-values"),
        ("/render?" + q(query=nested), "nested repeats"),
        ("/labels?" + q(query=nested), "nested repeats on labels"),
    ]
    for target, what in cases:
        r = http(s.port, "GET", target, timeout=30)
        ctx.expect_error(r, (400,), what)


@attack("connect", 96, "Grafana's Connect API fed hostile messages: huge regexes "
        "in label selectors, a gzip bomb, JSON nested 10,000 deep, a protobuf "
        "length past its body, a SelectSeries of a billion points -> Connect "
        "errors (400, 429), never memory")
def attack_connect(ctx):
    s = ctx.server()
    qs = "/querier.v1.QuerierService/"
    as_json = {"Content-Type": "application/json"}

    def expect_connect(r, statuses, code, what):
        ctx.saw(r)
        doc = r.json() if r.status in statuses else None
        ok = isinstance(doc, dict) and doc.get("code") == code and \
            isinstance(doc.get("message"), str)
        ctx.expect(ok, f"{what}: expected {statuses} with Connect code {code}, got "
                   f"{r!r} {r.body[:120]!r}")

    big = '{k=~"a{0,9999}",j=~"a{0,9999}"}'
    nested = '{k=~"(a{0,999}){0,999}"}'
    typ = "process_cpu:cpu:nanoseconds:cpu:nanoseconds"
    rng = {"start": "1700000000000", "end": "1700003600000"}
    for method, body in (
            ("SelectMergeStacktraces", {"profileTypeID": typ, "labelSelector": big, **rng}),
            ("SelectSeries", {"profileTypeID": typ, "labelSelector": nested, "step": 10,
                              **rng}),
            ("LabelNames", {"matchers": [big]}),
            ("Series", {"matchers": ["{}", nested]}),
            ("Diff", {"left": {"profileTypeID": typ, "labelSelector": "{}", **rng},
                      "right": {"profileTypeID": typ, "labelSelector": big, **rng}})):
        r = http(s.port, "POST", qs + method, as_json, json.dumps(body).encode(),
                 timeout=30)
        expect_connect(r, (400,), "invalid_argument", f"{method} with a huge regex")
    # 32 KiB of gzip (within a query route's 64 KiB) that inflates to 32 MiB.
    bomb = gzip.compress(b"{" + b" " * (32 * MiB) + b"}", 9)
    r = http(s.port, "POST", qs + "ProfileTypes",
             {**as_json, "Content-Encoding": "gzip"}, bomb, timeout=30)
    expect_connect(r, (429,), "resource_exhausted", "a gzip bomb")
    ctx.expect(b"inflates past" in r.body, f"the gzip bomb was not inflated: {r.body[:120]!r}")
    deep = b'{"matchers":' + b"[" * 10000 + b"]" * 10000 + b"}"
    r = http(s.port, "POST", qs + "LabelNames", as_json, deep, timeout=30)
    expect_connect(r, (400,), "invalid_argument", "JSON nested 10,000 deep")
    # Field 1 (matchers) said to be 2^40 bytes long in a 12-byte body.
    r = http(s.port, "POST", qs + "LabelNames", {"Content-Type": "application/proto"},
             b"\x0a\x80\x80\x80\x80\x80\x20abcdef", timeout=30)
    expect_connect(r, (400,), "invalid_argument", "a protobuf length past the body")
    r = http(s.port, "POST", qs + "SelectSeries", as_json,
             json.dumps({"profileTypeID": typ, "start": "1", "end": "4102444800000",
                         "step": 1e-9}).encode(), timeout=30)
    expect_connect(r, (400,), "invalid_argument", "a billion points")


@attack("huge-render", 200, "a 1M-frame stack, cut at --max-stack-depth "
        "100000, then every format with maxNodes=-1 -> 200 within 150 MB, or a "
        "4xx saying why")
def attack_huge_render(ctx):
    # Full size: a 3M-deep stack rendered as html (657 MB, 1.9 GB peak), and
    # a 16.7M-deep one as svg (an OOM). A million frames (a 12 MB push)
    # makes a 220 MB html page where nothing bounds it. The depth cap is set
    # to its highest so that the render's own bounds are what is tried.
    s = ctx.server([("--max-stack-depth", "100000")])
    t = now()
    stack = ";".join(f"frame_{i}" for i in range(1_000_000)) + " 1\n"
    r = ctx.saw(push(s.port, "deep.cpu", stack.encode(), t - 100, t - 90, timeout=120))
    ctx.expect(r.status == 200, f"pushing a 1M-frame stack: {r!r}")
    r = http(s.port, "GET", "/metrics")
    m = re.search(r"^ember_ingest_stacks_truncated_total (\d+)", r.body.decode(
        "utf-8", "replace"), re.MULTILINE)
    ctx.expect(m and int(m.group(1)) == 1, "ember_ingest_stacks_truncated_total is "
               f"{m.group(1) if m else 'missing'}, expected 1")
    sizes = []
    for fmt in ("html", "svg", "json", "collapsed", "pprof"):
        target = "/render?" + q(query="deep.cpu{}", **{"from": str(t - 3600)},
                                until=str(t), format=fmt, maxNodes="-1")
        r = ctx.saw(http(s.port, "GET", target, timeout=60, keep=4 * KiB))
        sizes.append(f"{fmt} {r.label()} {r.size / MiB:.1f} MB {r.seconds:.1f}s")
        if r.status == 200:
            ctx.expect(r.size < 150 * MiB, f"format={fmt}: a {r.size / MiB:.0f} MB "
                       "answer")
            ctx.expect(r.size > 0, f"format={fmt}: an empty 200")
        elif r.status is not None and 400 <= r.status < 500:
            ctx.expect(r.error_message(), f"format={fmt}: {r.status} without a JSON "
                       "error")
        else:
            ctx.failures.append(f"format={fmt}: {r!r}, expected 200 or a 4xx")
    ctx.note(", ".join(sizes))


@attack("many-args", 64, "4,000 query arguments -> 431 within 2 s")
def attack_many_args(ctx):
    s = ctx.server()
    args = "&".join(f"a{i}=1" for i in range(4000))
    for method, path in (("GET", "/render"), ("POST", "/ingest")):
        body = b"a;b 1\n" if method == "POST" else None
        r = http(s.port, method, f"{path}?{args}", body=body, timeout=2.0)
        ctx.expect_error(r, (431,), f"{method} {path} with 4,000 arguments")


@attack("big-header", 64, "a 300 KB header line, more than a connection's "
        "memory -> 431, and the connection is let go")
def attack_big_header(ctx):
    s = ctx.server()
    r = http(s.port, "GET", "/healthz", {"X-Big": "a" * 300_000}, timeout=2.0)
    ctx.saw(r)
    ctx.expect(r.status == 431, f"a 300 KB header: {r!r}, expected 431")
    if r.status == 431 and not r.error_message():
        # libmicrohttpd answers this itself, before Ember sees the request.
        ctx.note("the 431 body is libmicrohttpd's HTML, not JSON")


@attack("nul-name", 64, "a NUL in the app name -> 400, nothing stored")
def attack_nul_name(ctx):
    s = ctx.server()
    t = now()
    r = http(s.port, "POST", "/ingest?name=x%00evil.cpu&from=" + str(t - 100) +
             "&until=" + str(t - 90), body=b"a;b 1\n")
    ctx.expect_error(r, (400,), "name=x%00evil.cpu")
    r, names = apps(s.port)
    ctx.saw(r)
    ctx.expect(names is not None, f"GET /api/apps: {r!r}")
    ctx.expect(not any(n == "x" or "evil" in n for n in names or []),
               f"the app list holds what the refused push named: {names}")


@attack("chunked-body", 64, "a chunked body over --max-body -> 413 with a "
        "JSON body, not an empty reply")
def attack_chunked_body(ctx):
    s = ctx.server([("--max-body", "1KiB")])
    t = now()
    sock = ctx.hold(connect(s.port))
    started = time.monotonic()
    target = ingest_target("chunked.cpu", t - 100, t - 90)
    sock.sendall(request_head(s.port, "POST", target,
                              {"Transfer-Encoding": "chunked"}))
    line = b"main;handler;work 1\n" * 50  # 1,000 bytes
    try:
        for _ in range(5):
            sock.sendall(b"%x\r\n" % len(line) + line + b"\r\n")
        sock.sendall(b"0\r\n\r\n")
    except (BrokenPipeError, ConnectionResetError):
        pass
    r = read_reply(sock, started + 5, started, "POST")
    ctx.expect_error(r, (413,), "5,000 chunked bytes over a 1 KiB limit")


def stream_body(sock, head, body, chunk=256 * KiB, budget=5.0):
    """Sends head and then body until all of it is out, the server answers
    or closes, or budget seconds pass (a server that stops reading without
    answering). Returns (bytes of body sent, True when a reply is waiting
    or the connection ended)."""
    sock.sendall(head)
    sock.setblocking(False)
    view = memoryview(body)
    sent = 0
    deadline = time.monotonic() + budget
    try:
        while sent < len(body) and time.monotonic() < deadline:
            r, w, _ = select.select([sock], [sock], [], 0.2)
            if r:
                return sent, True
            if w:
                try:
                    sent += sock.send(view[sent:sent + chunk])
                except BlockingIOError:
                    pass
        r, _, _ = select.select([sock], [], [], 0)
        return sent, bool(r)
    except (BrokenPipeError, ConnectionResetError):
        return sent, True
    finally:
        sock.setblocking(True)


def wait_closed(socks, deadline):
    """Waits until the server has closed every socket of socks (EOF or a
    reset) or deadline passes; returns how many are still open."""
    sel = selectors.DefaultSelector()
    for sock in socks:
        sel.register(sock, selectors.EVENT_READ)
    left = len(socks)
    while left and time.monotonic() < deadline:
        for key, _ in sel.select(max(0.0, deadline - time.monotonic())):
            try:
                if key.fileobj.recv(65536):
                    continue  # an answer; its EOF follows
            except OSError:
                pass
            sel.unregister(key.fileobj)
            left -= 1
    sel.close()
    return left


@attack("delete-10mb", 64, "DELETE /api/apps with a 10 MB JSON body -> 413 "
        "at once")
def attack_delete_10mb(ctx):
    # Full size as reported: a 10 MB body, which peaked at 810 MB before.
    # The padding is what makes a JSON parser allocate: 3.3 million empty
    # objects.
    s = ctx.server()
    pad = b"{}," * 3_333_320
    body = b'{"name": "nosuch.cpu", "pad": [' + pad + b'{}]}'
    sock = ctx.hold(connect(s.port))
    started = time.monotonic()
    head = request_head(s.port, "DELETE", "/api/apps",
                        {"Content-Type": "application/json"}, len(body))
    stream_body(sock, head, body, budget=20.0)
    r = read_reply(sock, time.monotonic() + 5, started, "DELETE")
    ctx.expect_error(r, (413,), "a 10 MB DELETE body")
    ctx.expect(r.seconds < 2.0, f"the 413 took {r.seconds:.1f} s")


@attack("inflight", 200, "40 connections declaring 31 MiB each, stalled "
        "-> 429 with Retry-After past --max-inflight, stalled ones closed")
def attack_inflight(ctx):
    # Full size: the same 40 connections at 31 of 32 MiB held 1.26 GB
    # before. The two a 64 MiB budget admits send 30 MiB each and stall.
    timeout = 3
    s = ctx.server([("--max-inflight", "64MiB"), ("--request-timeout", str(timeout))])
    declared = 31 * MiB
    body = b"a" * (30 * MiB)
    t = now()
    target = ingest_target("inflight.cpu", t - 100, t - 90)
    refused, stalled = 0, []
    for _ in range(40):
        sock = ctx.hold(connect(s.port))
        started = time.monotonic()
        head = request_head(s.port, "POST", target, None, declared)
        _, answered = stream_body(sock, head, body)
        if not answered:
            stalled.append((sock, started))
            ctx.saw("stalled")
            continue
        r = read_reply(sock, time.monotonic() + 2, started, "POST")
        if ctx.expect_error(r, (429,), "a 31 MiB push past the budget"):
            refused += 1
            ctx.expect("retry-after" in r.headers, f"429 without Retry-After: {r!r}")
            ctx.expect(r.seconds < 1.0, f"the 429 took {r.seconds:.1f} s")
    ctx.expect(refused >= 36, f"only {refused} of 40 refused with 429")
    open_at_push = sum(1 for sock, st in stalled if time.monotonic() - st < timeout)
    r = ctx.saw(push(s.port, "small.cpu", b"main;a 1\n", t - 100, t - 90,
                     timeout=2.0))
    ctx.expect(r.status == 200 and r.seconds < 2.0,
               f"a small push beside {open_at_push} stalled connections: {r!r}")
    for sock, started in stalled:
        # The guard sweeps every 0.25 s; a second more for a busy machine.
        closed = wait_closed([sock], started + timeout + 1.5) == 0
        ctx.saw("closed" if closed else "open")
        ctx.expect(closed, f"a stalled connection is still open "
                   f"{time.monotonic() - started:.1f} s after it started")


def raise_nofile(need):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < need:
        new = hard if hard == resource.RLIM_INFINITY else min(hard, max(need, soft))
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (new, hard))
        except (ValueError, OSError):
            pass
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < need:
        raise Skip(f"needs {need} open files, the limit is {soft} (ulimit -n)")


def open_flood(port, source, n, payload, sel_timeout=5.0):
    """n connections from source; each sends payload and a FIN once
    connected (payload None: it stays idle). Returns the sockets and how
    many got their payload out."""
    socks = []
    sel = selectors.DefaultSelector()
    for _ in range(n):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setblocking(False)
        s.bind((source, 0))
        s.connect_ex(("127.0.0.1", port))
        socks.append(s)
        if payload is not None:
            sel.register(s, selectors.EVENT_WRITE)
    sent = 0
    deadline = time.monotonic() + sel_timeout
    pending = n if payload is not None else 0
    while pending and time.monotonic() < deadline:
        for key, _ in sel.select(0.2):
            s = key.fileobj
            sel.unregister(s)
            pending -= 1
            try:
                s.send(payload)
                s.shutdown(socket.SHUT_WR)
                sent += 1
            except OSError:
                pass
    sel.close()
    return socks, sent


def probe_loop(port, stop, results, push_at):
    """Times GET /healthz every 100 ms, and pushes once, from 127.0.0.1."""
    t = now()
    pushed = False
    while not stop.is_set():
        results.append(("healthz", http(port, "GET", "/healthz", timeout=1.0,
                                        source="127.0.0.1")))
        if not pushed and time.monotonic() >= push_at:
            results.append(("push", push(port, "probe.cpu", b"main;a 1\n", t - 100,
                                         t - 90, timeout=1.0, source="127.0.0.1")))
            pushed = True
        stop.wait(0.1)


@attack("conn-flood", 100, "4,100 idle connections and 4,100 half-sent "
        "requests + FIN from two addresses; /healthz and a push still answer "
        "within 1 s, the server closes them all, stderr stays short")
def attack_conn_flood(ctx):
    # Full size as reported (4,100 of each, sent in well under a second).
    # The defence is the per-IP limit and the request deadline, here 5 s.
    n, timeout = 4100, 5
    raise_nofile(2 * n + 200)
    s = ctx.server([("--max-conns-per-ip", "128"), ("--request-timeout", str(timeout))])
    results = []
    stop = threading.Event()
    baseline = s.sockets()
    prober = threading.Thread(target=probe_loop,
                              args=(s.port, stop, results, time.monotonic() + 1.0))
    prober.start()
    try:
        started = time.monotonic()
        t = now()
        target = ingest_target("flood.cpu", t - 100, t - 90)
        halves = [
            # Cut off inside the headers ...
            (f"POST {target} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Le").encode(),
            # ... and inside the body.
            (f"POST {target} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 1000"
             "\r\n\r\nmain;a 1\n").encode(),
        ]
        half = []
        for payload in halves:
            socks, _ = open_flood(s.port, "127.0.0.3", n // 2, payload)
            half += socks
        for sock in half:
            ctx.hold(sock)
        idle, _ = open_flood(s.port, "127.0.0.2", n, None)
        for sock in idle:
            ctx.hold(sock)
        ctx.note(f"{len(idle)} idle and {len(half)} half-sent connections opened in "
                 f"{time.monotonic() - started:.2f} s")
        time.sleep(1.0)
        held = s.sockets() - baseline
        time.sleep(1.0)  # the flood held while the probes run
    finally:
        stop.set()
        prober.join()
    for what, r in results:
        ctx.saw(r)
    slow = [(w, r) for w, r in results if r.status != 200 or r.seconds >= 1.0]
    ctx.expect(not slow, f"{len(slow)} of {len(results)} probes from 127.0.0.1 "
               f"failed or took 1 s or more, e.g. {slow[:3]}")
    ctx.expect(any(w == "push" for w, _ in results), "the probe push never ran")
    ctx.note(f"slowest probe {max(r.seconds for _, r in results):.3f} s; the "
             f"server held {held} flood connections")
    # The server lets go of what it let in once the request deadline
    # passes (the sweep runs every 0.25 s); the client keeps its ends open.
    # Counted on the server's side: connections the kernel never handed
    # over (a full accept queue) look open to the client, yet cost nothing.
    deadline = started + timeout + 2.5
    while s.sockets() > baseline and time.monotonic() < deadline:
        time.sleep(0.1)
    left = s.sockets() - baseline
    ctx.saw(f"held-after-{time.monotonic() - started:.0f}s:{left}")
    ctx.expect(left <= 0, f"the server still holds {left} connections "
               f"{time.monotonic() - started:.1f} s after the flood began")
    ctx.close_socks()
    time.sleep(0.5)
    lines = len(s.stderr_text().splitlines())
    ctx.saw(f"stderr:{lines}")
    ctx.expect(lines < 200, f"the server wrote {lines} lines to stderr")


def slow_client(port, head, pieces, period, give_up):
    """Sends head, then one piece per period. Returns how long the server
    took to close the connection, or None when it did not within give_up."""
    started = time.monotonic()
    try:
        sock = connect(port)
    except OSError:
        return 0.0
    try:
        sock.sendall(head)
        for piece in pieces:
            left = started + give_up - time.monotonic()
            if left <= 0:
                return None
            r, _, _ = select.select([sock], [], [], min(period, left))
            if r:
                try:
                    sock.recv(65536)  # an answer or EOF: either ends it
                except ConnectionResetError:
                    pass
                return time.monotonic() - started
            try:
                sock.sendall(piece)
            except (BrokenPipeError, ConnectionResetError):
                return time.monotonic() - started
        return None
    finally:
        sock.close()


@attack("slowloris", 64, "a header line (or a body byte) per second -> "
        "closed after --request-timeout 3 plus the sweep")
def attack_slowloris(ctx):
    timeout = 3
    s = ctx.server([("--request-timeout", str(timeout))])
    header = (b"GET /render?query=slow.cpu%7B%7D HTTP/1.1\r\nHost: 127.0.0.1\r\n",
              (b"X-Slow-%d: x\r\n" % i for i in range(1000)))
    body = (b"POST /ingest?name=slow.cpu HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            b"Content-Length: 1000\r\n\r\n", (b"a" for _ in range(1000)))
    found = {}

    def run(name, head, pieces):
        found[name] = slow_client(s.port, head, pieces, 1.0, timeout + 6)

    threads = [threading.Thread(target=run, args=("headers",) + header),
               threading.Thread(target=run, args=("body",) + body)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    for name in ("headers", "body"):
        took = found.get(name)
        ctx.saw("open" if took is None else f"closed@{took:.1f}s")
        ctx.expect(took is not None and timeout - 0.5 <= took <= timeout + 2.5,
                   f"slow {name}: closed after {took} s, expected about "
                   f"{timeout} s plus the sweep")


def seed_wide(port, name, pushes, stacks, span):
    """pushes pushes of `stacks` distinct stacks each (distinct between
    pushes too), spread over the last `span` seconds."""
    t = now()
    for i in range(pushes):
        frm = t - span + 60 + i * ((span - 120) // pushes)
        body = folded_lines(stacks, prefix=f"main;part{i % 4}", depth=8)
        r = push(port, name, body, frm, frm + 10, timeout=60)
        if r.status != 200:
            raise RuntimeError(f"seeding {name}: {r!r}")


@attack("queries-vs-ingest", 300, "20 concurrent 24 h renders with "
        "--max-queries 2; a 6-byte push beside them answers within 2 s, "
        "renders past the limit get 503 with Retry-After")
def attack_queries_vs_ingest(ctx):
    # Reported: 12 renders held up a 6-byte push for 12 s. The seed (48
    # pushes of 20,000 stacks over 24 h) makes each render merge about a
    # million stack counts; the 20 go out at the same moment, so two run, up
    # to sixteen wait and the rest are refused.
    # The seed's stacks are many and deep by design; --max-new-stacks is
    # raised so that the seed itself is not refused.
    s = ctx.server([("--max-queries", "2"), ("--max-new-stacks", "2000000")])
    seed_wide(s.port, "busy.cpu", 48, 20000, 86400)
    t = now()
    target = "/render?" + q(query="busy.cpu{}", **{"from": "now-24h"}, until="now",
                            maxNodes="-1")
    socks = [ctx.hold(connect(s.port)) for _ in range(21)]
    started = time.monotonic()
    for sock in socks[:20]:
        sock.sendall(request_head(s.port, "GET", target))
    body = b"a;b 1\n"
    ptarget = ingest_target("ingest.cpu", t - 100, t - 90)
    socks[20].sendall(request_head(s.port, "POST", ptarget, None, len(body)) + body)
    replies = [None] * 21

    def read(i):
        replies[i] = read_reply(socks[i], started + 45, started, keep=4 * KiB)

    threads = [threading.Thread(target=read, args=(i,)) for i in range(21)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    r = ctx.saw(replies[20])
    ctx.expect(r.status == 200 and r.seconds < 2.0,
               f"a 6-byte push beside 20 renders: {r!r}")
    ctx.note(f"push answered in {r.seconds:.3f} s; renders in "
             f"{min(x.seconds for x in replies[:20]):.2f}-"
             f"{max(x.seconds for x in replies[:20]):.2f} s")
    for r in replies[:20]:
        if r.status == 200:
            ctx.saw(r)
            continue
        if ctx.expect_error(r, (503, 504), "a render past --max-queries"):
            ctx.expect(r.status != 503 or "retry-after" in r.headers,
                       f"503 without Retry-After: {r!r}")
    ctx.expect(any(r.status == 503 for r in replies[:20]),
               "no render was refused with 503: the limit was never reached")


@attack("cross-site", 64, "cross-site pushes and rebinding Hosts -> 403; "
        "localhost and a service name on 0.0.0.0 allowed")
def attack_cross_site(ctx):
    s = ctx.server()
    t = now()
    body = b"main;csrf 1\n"
    r = push(s.port, "csrf.cpu", body, t - 100, t - 90,
             {"Origin": "http://evil.example", "Content-Type": "text/plain"})
    ctx.expect_error(r, (403,), "a no-cors fetch from http://evil.example")
    r = push(s.port, "csrf.cpu", body, t - 100, t - 90,
             {"Content-Type": "text/plain", "Sec-Fetch-Site": "cross-site"})
    ctx.expect_error(r, (403,), "a text/plain form post, Sec-Fetch-Site: cross-site")
    r, names = apps(s.port)
    ctx.expect(names is not None and "csrf.cpu" not in names,
               f"a refused cross-site push was stored: {names}")
    # The UI's own pushes are not cross-site.
    r = ctx.saw(push(s.port, "keep.cpu", body, t - 100, t - 90,
                     {"Origin": f"http://127.0.0.1:{s.port}",
                      "Sec-Fetch-Site": "same-origin"}))
    ctx.expect(r.status == 200, f"a same-origin push: {r!r}")

    rebind = {"Host": f"rebind.evil.example:{s.port}"}
    r = http(s.port, "GET", "/api/apps", rebind)
    ctx.expect_error(r, (403,), "GET /api/apps with a rebinding Host")
    r = http(s.port, "DELETE", "/api/apps", dict(rebind, **{
        "Content-Type": "application/json"}), b'{"name": "keep.cpu"}')
    ctx.expect_error(r, (403,), "DELETE /api/apps with a rebinding Host")
    r, names = apps(s.port)
    ctx.expect(names is not None and "keep.cpu" in names,
               f"a refused DELETE removed the app: {names}")
    local = {"Host": f"localhost:{s.port}"}
    r = ctx.saw(http(s.port, "GET", "/api/apps", local))
    ctx.expect(r.status == 200, f"GET /api/apps with Host localhost: {r!r}")
    r = ctx.saw(http(s.port, "DELETE", "/api/apps", dict(local, **{
        "Content-Type": "application/json"}), b'{"name": "keep.cpu"}'))
    ctx.expect(r.status == 200, f"DELETE /api/apps with Host localhost: {r!r}")
    r = ctx.saw(http(s.port, "GET", "/"))
    csp = r.headers.get("content-security-policy", "")
    ctx.expect(r.status == 200 and "frame-ancestors 'none'" in csp and
               r.headers.get("x-content-type-options") == "nosniff",
               f"the UI without CSP frame-ancestors 'none' and nosniff: {r.headers}")

    # Behind docker-compose, clients name the server by its service name.
    wide = ctx.server(listen="0.0.0.0:0")
    r = ctx.saw(http(wide.port, "GET", "/api/apps", {"Host": "ember:4040"}))
    ctx.expect(r.status == 200, f"Host ember:4040 on a 0.0.0.0 server: {r!r}")


@attack("auth", 64, "--auth-token-file: 401 without or with a wrong token, "
        "403 for the wrong role; tokens never logged")
def attack_auth(ctx):
    tokens = {role: f"{role}-{secrets.token_hex(16)}"
              for role in ("admin", "read", "ingest")}
    wrong = f"wrong-{secrets.token_hex(16)}"
    fd, path = tempfile.mkstemp(prefix="ember-attack-tokens-")
    try:
        with os.fdopen(fd, "w") as f:
            for role, tok in tokens.items():
                f.write(f"{tok} {role}\n")
        s = ctx.server([("--auth-token-file", path)])
    finally:
        os.unlink(path)  # read at start
    t = now()

    def bearer(tok):
        return {"Authorization": f"Bearer {tok}"}

    def basic(tok):
        cred = base64.b64encode(f"agent:{tok}".encode()).decode()
        return {"Authorization": f"Basic {cred}"}

    r = http(s.port, "GET", "/api/apps")
    if ctx.expect_error(r, (401,), "GET /api/apps without a token"):
        ctx.expect("www-authenticate" in r.headers, f"401 without WWW-Authenticate: "
                   f"{r.headers}")
    r = http(s.port, "GET", "/api/apps", bearer(wrong))
    ctx.expect_error(r, (401,), "a wrong token")
    r = push(s.port, "auth.cpu", b"main;a 1\n", t - 100, t - 90, bearer(wrong))
    ctx.expect_error(r, (401,), "a push with a wrong token")
    r = push(s.port, "auth.cpu", b"main;a 1\n", t - 100, t - 90, bearer(tokens["read"]))
    ctx.expect_error(r, (403,), "a push with a read token")
    r = ctx.saw(push(s.port, "auth.cpu", b"main;a 1\n", t - 100, t - 90,
                     bearer(tokens["ingest"])))
    ctx.expect(r.status == 200, f"a push with an ingest token: {r!r}")
    r = ctx.saw(push(s.port, "basic.cpu", b"main;a 1\n", t - 100, t - 90,
                     basic(tokens["ingest"])))
    ctx.expect(r.status == 200, f"a push with the token as Basic password: {r!r}")
    r, names = apps(s.port, basic(tokens["read"]))
    ctx.saw(r)
    ctx.expect(names is not None and {"auth.cpu", "basic.cpu"} <= set(names),
               f"GET /api/apps with a read token: {r!r} {names}")
    r = http(s.port, "DELETE", "/api/apps?name=auth.cpu", bearer(tokens["read"]))
    ctx.expect_error(r, (403,), "DELETE with a read token")
    r = ctx.saw(http(s.port, "DELETE", "/api/apps?name=auth.cpu",
                     bearer(tokens["admin"])))
    ctx.expect(r.status == 200, f"DELETE with an admin token: {r!r}")
    r = ctx.saw(http(s.port, "GET", "/healthz"))
    ctx.expect(r.status == 200, f"GET /healthz without a token: {r!r}")
    err = s.stderr_text()
    for name, tok in list(tokens.items()) + [("wrong", wrong)]:
        ctx.expect(tok not in err and tok[len(name) + 1:] not in err,
                   f"the {name} token is on stderr")


# ---- Main -------------------------------------------------------------------


# ---- pprof, by hand ---------------------------------------------------------
#
# A perftools.profiles.Profile is a protobuf; a few encoder helpers are
# enough to build the hostile shapes (field numbers from profile.proto).


def pb_varint(v):
    out = bytearray()
    while True:
        b = v & 0x7F
        v >>= 7
        out.append(b | (0x80 if v else 0))
        if not v:
            return bytes(out)


def pb_field(num, payload):
    """A length-delimited field."""
    return pb_varint(num << 3 | 2) + pb_varint(len(payload)) + payload


def pb_uint(num, v):
    return pb_varint(num << 3) + pb_varint(v)


def pb_packed(num, values):
    return pb_field(num, b"".join(pb_varint(v) for v in values))


def pprof(strings, sample_types, samples, locations=(), functions=()):
    """strings[0] must be ""; sample_types are (type, unit) string indexes;
    samples are (location ids, values); locations are (id, [function ids of
    its lines]); functions are (id, name index)."""
    out = bytearray()
    for t, u in sample_types:
        out += pb_field(1, pb_uint(1, t) + pb_uint(2, u))
    for locs, values in samples:
        out += pb_field(2, pb_packed(1, locs) + pb_packed(2, values))
    for lid, fids in locations:
        body = pb_uint(1, lid) + b"".join(pb_field(4, pb_uint(1, f)) for f in fids)
        out += pb_field(4, body)
    for fid, name in functions:
        out += pb_field(5, pb_uint(1, fid) + pb_uint(2, name))
    for st in strings:
        out += pb_field(6, st.encode())
    out += pb_uint(9, now() * 1_000_000_000) + pb_uint(10, 10_000_000_000)
    return bytes(out)


def pprof_target(name):
    t = now()
    return "/ingest?" + q(name=name, format="pprof", **{"from": str(t - 20),
                                                        "until": str(t - 10)})


@attack("pprof-inline", 64, "one pprof location with 1,000 inlined lines, "
        "named 100,000 times by one sample -> cut at --max-stack-depth in "
        "bounded memory, or 413")
def attack_pprof_inline(ctx):
    # Full size, as sent: a 107 KB body that made the server allocate 1.6 GB
    # before its work budget was looked at; 514 KB (500,000 references)
    # needed about 16 GB.
    s = ctx.server()
    for refs in (100_000, 500_000):
        body = pprof(["", "cpu", "nanoseconds", "inlined_fn"], [(1, 2)],
                     [([1] * refs, [1])], [(1, [1] * 1000)], [(1, 3)])
        r = ctx.saw(http(s.port, "POST", pprof_target("fanout"), body=body, timeout=30))
        if r.status != 200:
            ctx.expect_error(r, (413,), f"{len(body) // KiB} KB inline fan-out")


@attack("sample-types", 64, "one pprof push with 10,000 sample types -> 429 "
        "naming --max-apps-per-push; no app is created")
def attack_sample_types(ctx):
    # Full size: a 200 KB push that created 10,000 apps.
    s = ctx.server()
    n = 10_000
    strings = ["", "unit", "fn"] + [f"type{i}" for i in range(n)]
    body = pprof(strings, [(3 + i, 1) for i in range(n)], [([1], [1] * n)],
                 [(1, [1])], [(1, 2)])
    r = http(s.port, "POST", pprof_target("types"), body=body, timeout=30)
    ctx.expect_error(r, (429,), "10,000 sample types")
    msg = r.error_message() or ""
    ctx.expect("--max-apps-per-push" in msg, f"the 429 does not name the flag: {msg!r}")
    r, names = apps(s.port)
    ctx.saw(r)
    ctx.expect(names == [], f"apps after the refused push: {names and names[:5]}")


@attack("sample-type-config", 64, "a 10 MB sample_type_config form part -> 413 "
        "at once")
def attack_sample_type_config(ctx):
    # Full size, as sent: jansson peaked at 810 MB on this part before.
    s = ctx.server()
    profile = pprof(["", "cpu", "nanoseconds", "f"], [(1, 2)], [([1], [1])],
                    [(1, [1])], [(1, 3)])
    config = b'{"cpu": {"units": "nanoseconds", "x": "' + b"a" * (10 * MiB) + b'"}}'
    boundary = "attackboundary42"
    parts = []
    for field, data in (("profile", profile), ("sample_type_config", config)):
        parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{field}"; '
                     f'filename="{field}"\r\n\r\n'.encode() + data + b"\r\n")
    body = b"".join(parts) + f"--{boundary}--\r\n".encode()
    t = now()
    r = http(s.port, "POST", ingest_target("config", t - 20, t - 10),
             {"Content-Type": f"multipart/form-data; boundary={boundary}"}, body,
             timeout=30)
    ctx.expect_error(r, (413,), "a 10 MB sample_type_config")


@attack("far-future", 64, "from=now+100y, or before 2000 -> 422; nothing stored")
def attack_far_future(ctx):
    s = ctx.server()
    t = now()
    # (A from of many digits is read as milliseconds, microseconds or
    # nanoseconds, as Pyroscope reads it, so it is no attack.)
    for frm, what in ((t + 100 * 365 * 86400, "now+100y"), (100, "1970"),
                      (946684799, "1999-12-31")):
        r = push(s.port, "future.cpu", b"main;a 1\n", frm, frm + 10)
        ctx.expect_error(r, (422,), f"from={what}")
    r, names = apps(s.port)
    ctx.saw(r)
    ctx.expect(names == [], f"apps after the refused pushes: {names}")


@attack("concurrent-pushes", 160, "16 concurrent 6 MB folded pushes with "
        "--max-inflight 64MiB -> each 200 or 429 with Retry-After (some are "
        "refused: 96 MB does not fit); what got 200 is stored")
def attack_concurrent_pushes(ctx):
    # Full size: 16 concurrent 26 MB pushes OOM-killed a server capped at
    # 4 GB; with the default --max-inflight (512 MiB) the same pushes get 3
    # x 200 and 13 x 429 at a 619 MB peak. Scaled down here (6 MB each and
    # a 64 MiB budget) to keep the suite short.
    s = ctx.server([("--max-inflight", "64MiB")])
    # 8,000 stacks, each sent 15 times: the bytes of a big push without so
    # many new stacks that --max-new-stacks refuses it first.
    body = folded_lines(8_000, prefix="main;handler", depth=8) * 15
    t = now()
    results = [None] * 16

    def one(i):
        results[i] = push(s.port, f"big{i}.cpu", body, t - 100, t - 90, timeout=120)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(16)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    ok = 0
    for i, r in enumerate(results):
        if r.status == 200:
            ctx.saw(r)
            ok += 1
        else:
            ctx.expect_error(r, (429,), f"push {i}")
            ctx.expect(r.headers.get("retry-after") is not None,
                       f"push {i}: 429 without Retry-After")
    ctx.expect(ok >= 1, "no push got through")
    ctx.expect(ok < 16, "all 16 pushes got in: nothing bounds the bytes in flight")
    r, names = apps(s.port)
    ctx.saw(r)
    ctx.expect(names is not None and len(names) == ok,
               f"{ok} pushes answered 200 but {len(names or [])} apps are stored")


def db_bytes(s):
    total = 0
    for f in ("ember.db", "ember.db-wal"):
        try:
            total += os.path.getsize(os.path.join(s.data, f))
        except OSError:
            pass
    return total


@attack("disk-amplification", 128, "a push spanning 1 h costs about the disk of "
        "one spanning 10 s, not 360 copies")
def attack_disk_amplification(ctx):
    # Full size: a 3.46 MB body over an hour added 408 MB. Scaled: 15,000
    # distinct stacks (about 1 MB).
    # Large, varied counts: spread over 360 buckets, every bucket still
    # gets a share of every stack (counts of 1 would round away).
    lines = folded_lines(15_000, prefix="main;handler", depth=8).decode().splitlines()
    body = "".join(f"{ln.rsplit(' ', 1)[0]} {100_000 + 7_919 * i % 90_000}\n"
                   for i, ln in enumerate(lines)).encode()
    sizes = []
    t = now() - 7200
    for span in (10, 3600):
        s = ctx.server()
        before = db_bytes(s)
        r = ctx.saw(push(s.port, "span.cpu", body, t, t + span, timeout=60))
        ctx.expect(r.status == 200, f"a push over {span} s: {r!r}")
        sizes.append(db_bytes(s) - before)
    ctx.note(f"10 s: {sizes[0] / MiB:.1f} MB on disk, 1 h: {sizes[1] / MiB:.1f} MB, "
             f"body {len(body) / MiB:.1f} MB")
    # The dictionary (the stacks' names) costs the same either way; what the
    # hour may add beyond the 10 s push is a small part of the body.
    ctx.expect(sizes[1] - sizes[0] <= len(body) // 4, f"the hour-long push took "
               f"{sizes[1] / MiB:.2f} MB against {sizes[0] / MiB:.2f} MB")


@attack("visible-at-once", 64, "a push from a whole 10 s mark shows in a render "
        "until=now in the same second")
def attack_visible_at_once(ctx):
    s = ctx.server()
    seen = []
    for _ in range(3):  # three marks: one could be lost to a slow second
        time.sleep(10 - time.time() % 10 + 0.05)
        mark = now()
        if mark % 10:
            continue
        ctx.saw(push(s.port, "fresh.cpu", b"main;a 5\n", mark, mark + 10))
        r = http(s.port, "GET", "/render?" + q(query="fresh.cpu{}",
                                                **{"from": "now-1m"}, until="now"))
        same_second = now() == mark
        doc = r.json() if r.status == 200 else None
        ticks = doc.get("flamebearer", {}).get("numTicks") if isinstance(doc, dict) else None
        if same_second:
            seen.append(ticks)
            break
    if not seen:
        raise Skip("could not push and render within one second three times")
    ctx.expect(seen[0] and seen[0] >= 5, f"the render in the push's second saw "
               f"{seen[0]} ticks, expected 5")


@attack("two-servers", 64, "a second server on the same data directory exits "
        "at start naming the first; the first keeps its data")
def attack_two_servers(ctx):
    # Reported: pushes alternating between two servers on one directory got
    # 500 (UNIQUE constraint failed) and their data was lost.
    s = ctx.server()
    t = now()
    ctx.saw(push(s.port, "one.cpu", b"main;a 1\n", t - 100, t - 90))
    second = subprocess.run(
        [ctx.opts.bin, "serve", "--listen", "127.0.0.1:0", "--data", s.data],
        stdin=subprocess.DEVNULL, capture_output=True, timeout=20)
    err = second.stderr.decode("utf-8", "replace")
    ctx.statuses.append(f"exit{second.returncode}")
    ctx.expect(second.returncode == 1, f"the second server exited {second.returncode}: "
               f"{err.strip()[:200]!r}")
    ctx.expect(str(s.proc.pid) in err, f"the message does not name process "
               f"{s.proc.pid}: {err.strip()[:200]!r}")
    r = ctx.saw(push(s.port, "one.cpu", b"main;b 2\n", t - 80, t - 70))
    ctx.expect(r.status == 200, f"the first server after the attempt: {r!r}")


@attack("huge-push-writer", 400, "a push of 200,000 new stacks does not hold up "
        "readers of its app, nor pushes to others")
def attack_huge_push_writer(ctx):
    # Reported: a 750 KB folded body created 250k stack rows in 0.83 s under
    # the dictionary's write lock, and readers of the app waited for all of
    # it (about 35 s at the 32 MiB limit, now refused by --max-new-stacks).
    s = ctx.server()
    t = now()
    ctx.saw(push(s.port, "wide.cpu", b"main;warm 1\n", t - 200, t - 190))
    body = folded_lines(200_000, prefix="main;handler", depth=2)
    big = {}

    def do_big():
        big["r"] = push(s.port, "wide.cpu", body, t - 100, t - 90, timeout=120)

    th = threading.Thread(target=do_big)
    th.start()
    worst_read = worst_push = 0.0
    target = "/render?" + q(query="wide.cpu{}", **{"from": str(t - 300)}, until=str(t))
    while th.is_alive():
        r = http(s.port, "GET", target, timeout=30)
        worst_read = max(worst_read, r.seconds)
        p = push(s.port, "other.cpu", b"main;x 1\n", t - 50, t - 40, timeout=30)
        worst_push = max(worst_push, p.seconds)
        ctx.expect(r.status == 200 and p.status == 200, f"beside the big push: {r!r} "
                   f"{p!r}")
        time.sleep(0.02)
    th.join()
    ctx.saw(big["r"])
    ctx.expect(big["r"].status == 200, f"the big push: {big['r']!r}")
    ctx.note(f"big push {big['r'].seconds:.2f} s; slowest render beside it "
             f"{worst_read:.3f} s, slowest push {worst_push:.3f} s")
    # A reader that waited for the dictionary waits about as long as the
    # push is mapped; one that does not waits for its own read alone.
    ctx.expect(worst_read < 0.5 * big["r"].seconds, f"a render of the app took "
               f"{worst_read:.2f} s while the push took {big['r'].seconds:.2f} s")


@attack("delete-large-app", 300, "deleting an app of thousands of rows runs in "
        "chunks: pushes beside it keep answering")
def attack_delete_large_app(ctx):
    # Reported: DELETE of a large app was one transaction holding the
    # writer. Scaled: 2,000 rows and 600,000 stacks (30 chunks of stacks).
    s = ctx.server()
    t = now() - 86400
    for i in range(2000):
        body = folded_lines(300, prefix=f"main;old{i}", depth=1)
        r = push(s.port, "old.cpu", body, t + 10 * i, t + 10 * i + 10, timeout=30)
        if r.status != 200:
            raise RuntimeError(f"seeding old.cpu: {r!r}")
    done = {}

    def do_delete():
        done["r"] = http(s.port, "DELETE", "/api/apps?" + q(name="old.cpu"), timeout=120)

    th = threading.Thread(target=do_delete)
    th.start()
    worst = 0.0
    while th.is_alive():
        p = push(s.port, "live.cpu", b"main;x 1\n", now() - 20, now() - 10, timeout=30)
        worst = max(worst, p.seconds)
        ctx.expect(p.status == 200, f"a push during the delete: {p!r}")
        time.sleep(0.01)
    th.join()
    ctx.saw(done["r"])
    ctx.expect(done["r"].status == 200, f"the delete: {done['r']!r}")
    r, names = apps(s.port)
    ctx.expect(names == ["live.cpu"], f"apps after the delete: {names}")
    ctx.note(f"delete {done['r'].seconds:.2f} s; slowest push beside it {worst:.3f} s")
    # Deleted in one transaction, the app would hold every push for all of
    # it; in chunks, for one chunk at most.
    ctx.expect(worst < 0.5 * done["r"].seconds, f"a push waited {worst:.2f} s of the "
               f"delete's {done['r'].seconds:.2f} s")


@attack("failing-disk", 64, "a full disk: pushes fail with a JSON 5xx, /readyz "
        "turns 503 while /healthz stays 200, and both recover once space is back")
def attack_failing_disk(ctx):
    # Reported: /healthz stayed 200 while every push failed. Needs root to
    # mount a small tmpfs; integration/test_readiness covers the read-only
    # cases as well.
    if os.geteuid() != 0 or not shutil.which("mount"):
        raise Skip("mounting a tmpfs needs root")
    mnt = tempfile.mkdtemp(prefix="ember-attack-disk-")
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", mnt],
                      capture_output=True).returncode != 0:
        os.rmdir(mnt)
        raise Skip("cannot mount a tmpfs here")
    try:
        s = ctx.server([("--data", os.path.join(mnt, "data")),
                        ("--min-free-disk", "64KiB")])
        t = now()
        ctx.saw(push(s.port, "disk.cpu", b"main;a 1\n", t - 100, t - 90))
        filler = os.path.join(mnt, "filler")
        with open(filler, "wb") as f:  # fill the disk to the last block
            try:
                while True:
                    f.write(b"\0" * 65536)
                    f.flush()
            except OSError:
                pass
        failed = None
        for i in range(50):
            r = push(s.port, "disk.cpu", folded_lines(500, prefix=f"main;d{i}"),
                     t - 80 + i, t - 79 + i, timeout=20)
            if r.status != 200:
                failed = r
                break
        ctx.expect(failed is not None, "every push succeeded on a full disk")
        if failed is not None:
            ctx.expect_error(failed, (500, 503, 507), "a push to a full disk")
        r = ctx.saw(http(s.port, "GET", "/readyz"))
        ctx.expect(r.status == 503 and r.error_message(), f"/readyz on a full disk: {r!r}")
        r = ctx.saw(http(s.port, "GET", "/healthz"))
        ctx.expect(r.status == 200, f"/healthz on a full disk: {r!r}")
        os.unlink(filler)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            r = http(s.port, "GET", "/readyz")
            if r.status == 200:
                break
            time.sleep(0.5)
        ctx.saw(r)
        ctx.expect(r.status == 200, f"/readyz once space is back: {r!r}")
        r = ctx.saw(push(s.port, "disk.cpu", b"main;b 1\n", t - 20, t - 10))
        ctx.expect(r.status == 200, f"a push once space is back: {r!r}")
    finally:
        # Lazily: the server keeps using the detached tmpfs until it stops.
        subprocess.run(["umount", "-l", mnt], capture_output=True)
        os.rmdir(mnt)


# ---- JFR and push.v1 ----------------------------------------------------------


HERE = os.path.dirname(os.path.abspath(__file__))
JFR_DATA = os.path.join(HERE, "..", "data", "jfr")


def jfr_writer():
    """The JFR writer of the fixtures (tests/data/jfr/make_fixtures.py)."""
    import importlib.util
    spec = importlib.util.spec_from_file_location(
        "jfr_fixtures", os.path.join(JFR_DATA, "make_fixtures.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def jfr_target(name):
    t = now()
    return "/ingest?" + q(name=name, format="jfr", **{"from": str(t - 20),
                                                      "until": str(t - 10)})


@attack("jfr-hostile", 96, "hostile JFR recordings (a type containing itself, "
        "arrays past their event, pools of undefined classes, 8 MB of arrays of "
        "1,000-field empty types, a good chunk then a broken one) -> 422 or 413 at "
        "once; nothing stored")
def attack_jfr_hostile(ctx):
    s = ctx.server()
    want = {-2: 422, -3: 413}
    with open(os.path.join(JFR_DATA, "hostile", "manifest.txt")) as f:
        cases = [line.split(" ", 2) for line in f.read().splitlines()]
    for name, code, _ in cases:
        if int(code) == 0:
            continue
        with open(os.path.join(JFR_DATA, "hostile", name), "rb") as f:
            body = f.read()
        r = http(s.port, "POST", jfr_target("hostile"), body=body, timeout=30)
        ctx.expect_error(r, (want[int(code)],), name)
    # Scaled up: arrays of empty 1,000-field types, 8 MB of them (each
    # element costs a thousand steps and no byte).
    m = jfr_writer()
    empty = m.mini_classes(m.STACK_CLASSES + [
        ("demo.Empty", [("f%d" % i, "demo.Nothing", "") for i in range(1000)]),
        ("demo.Nothing", []), ("demo.Many", [("items", "demo.Empty", "array")])])
    n = 8 * MiB
    body = m.mini_chunk(empty, [], [("demo.Many", [(1, m.Out(True).int(n).b + bytes(n))])])
    started = time.monotonic()
    r = http(s.port, "POST", jfr_target("hostile"), body=body, timeout=30)
    ctx.expect_error(r, (413,), "8 MB of empty-type arrays")
    ctx.note(f"8 MB of empty-type arrays refused in {time.monotonic() - started:.2f} s")
    # A good chunk, then a broken one: all or nothing.
    with open(os.path.join(JFR_DATA, "asprof.jfr"), "rb") as f:
        good = f.read()
    r = http(s.port, "POST", jfr_target("hostile"), body=good[:-50], timeout=30)
    ctx.expect_error(r, (422,), "a second chunk cut short")
    r, names = apps(s.port)
    ctx.saw(r)
    ctx.expect(names == [], f"apps after the refused recordings: {names}")


def pb_bytes(num, payload):
    return pb_varint(num << 3 | 2) + pb_varint(len(payload)) + payload


@attack("push-v1-labels", 96, "a 4 MB push.v1 PushRequest of 2 million empty "
        "label pairs with --max-inflight 16MiB -> 429 resource_exhausted with "
        "Retry-After, in bounded memory; nothing stored")
def attack_push_v1_labels(ctx):
    # Each empty LabelPair is two bytes on the wire and some 50 once
    # decoded: 4 MB would take about 100 MB; the budget refuses it first.
    s = ctx.server([("--max-inflight", "16MiB")])
    series = pb_bytes(1, pb_bytes(1, b"service_name") + pb_bytes(2, b"app"))
    series += b"\x0a\x00" * (2 * 1000 * 1000)
    body = pb_bytes(1, series)
    r = http(s.port, "POST", "/push.v1.PusherService/Push",
             {"Content-Type": "application/proto"}, body, timeout=30)
    ctx.saw(r)
    doc = r.json() if r.status else None
    ctx.expect(r.status == 429 and isinstance(doc, dict) and
               doc.get("code") == "resource_exhausted",
               f"2 million empty label pairs: expected 429 resource_exhausted, got {r!r}")
    r, names = apps(s.port)
    ctx.saw(r)
    ctx.expect(names == [], f"apps after the refused push: {names}")


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--bin", default=os.environ.get("EMBER_BIN"),
                   help="the ember binary (default: $EMBER_BIN)")
    p.add_argument("--only", action="append", metavar="NAME",
                   help="run this attack (repeatable)")
    p.add_argument("--list", action="store_true", help="list the attacks")
    p.add_argument("--legacy", action="store_true",
                   help="pass no flag an older server lacks; report, never fail")
    p.add_argument("--no-ulimit", dest="ulimit", action="store_false",
                   help="no RLIMIT_AS for the server (AddressSanitizer builds)")
    p.add_argument("--cap-gib", type=float, default=4.0,
                   help="the server's address-space cap in GiB (default 4)")
    p.add_argument("--rss-slack", type=int, default=0, metavar="MB",
                   help="add MB to every RSS bound (sanitizer builds)")
    p.add_argument("-v", "--verbose", action="store_true",
                   help="tracebacks and the server's stderr on failures")
    opts = p.parse_args(argv)
    opts.cap = int(opts.cap_gib * GiB) if opts.ulimit else 0
    if opts.bin:
        opts.bin = os.path.abspath(opts.bin)  # servers run in their temp dir
    return opts


def main(argv):
    opts = parse_args(argv)
    if opts.list:
        for a in ATTACKS:
            print(f"{a.name:<20} {a.doc}")
        return 0
    if not opts.bin or not os.access(opts.bin, os.X_OK):
        print("attacks.py: give the ember binary with --bin or EMBER_BIN",
              file=sys.stderr)
        return 2
    chosen = ATTACKS
    if opts.only:
        known = {a.name for a in ATTACKS}
        unknown = [n for n in opts.only if n not in known]
        if unknown:
            print(f"attacks.py: no attack named {', '.join(unknown)} (see --list)",
                  file=sys.stderr)
            return 2
        chosen = [a for a in ATTACKS if a.name in opts.only]
    cap = f"{opts.cap / GiB:g} GiB address-space cap" if opts.cap else "no memory cap"
    print(f"# {opts.bin}, {cap}{', legacy flags' if opts.legacy else ''}")
    print(f"{'attack':<20} {'statuses seen':<56} {'peak RSS':>11} {'bound':>8} "
          f"{'time':>6}  verdict")
    failed = []
    for a in chosen:
        verdict, _ = run_attack(a, opts)
        if verdict == "FAIL":
            failed.append(a.name)
    if failed:
        print(f"# {len(failed)} of {len(chosen)} failed: {', '.join(failed)}"
              f"{' (legacy: reported only)' if opts.legacy else ''}")
        return 0 if opts.legacy else 1
    print(f"# all {len(chosen)} held")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
