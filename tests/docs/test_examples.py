#!/usr/bin/env python3
"""test_examples.py - the examples of the documentation run as written.

README.md, docs/API.md and docs/getting-started.md mark the examples a
reader is meant to type with an HTML comment, which a rendered page does not
show, on the line before a fenced block:

    <!-- example -->               the block is shell commands to run; a
                                   ```json or ```text block right after it
                                   is the answer the last command prints
    <!-- example: file NAME -->    the block is a file NAME that later
                                   commands read (written, not run)

A block of commands may also be a transcript: lines starting with `$ ` are
commands (running on over the lines a shell needs to finish them), the
lines up to the next `$ ` what the command prints.

Each document's examples run in order in one bash session, in an empty
directory, against a real `ember serve` on 127.0.0.1 and a free port
(`127.0.0.1:4040` in a command is replaced by its address). `curl` fails on
an HTTP error there (--fail-with-body), so a command the server refuses
fails the test. Each printed answer is compared with the one shown by its
shape: JSON key by key (a key the server sends that the docs do not show
fails, and so does one the docs show that the server does not send; each
item of an array must look like one shown, and each item shown like one
sent) and type by type, text line by line with every number read as a number. The
data the examples read is pushed first, as each document describes it.

A few facts a document states in words are checked here too (the README's
diff has both sides; retention runs once a minute).

Needs bash and curl; exits 77 (skipped) without them.
"""

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MARK = re.compile(r"^<!--\s*example(?::\s*(.*?))?\s*-->\s*$")
FENCE = re.compile(r"^```(\S*)\s*$")


# ---- Reading the examples ---------------------------------------------------

class Example:
    def __init__(self, doc, line, kind, name, text, answer, answer_kind):
        self.doc, self.line, self.kind, self.name = doc, line, kind, name
        self.text, self.answer, self.answer_kind = text, answer, answer_kind

    def where(self):
        return "%s:%d" % (os.path.relpath(self.doc, ROOT), self.line)


def read_fence(lines, i):
    """The fenced block starting at or after line i (blank lines skipped):
    (info string, text, index after it), or None when the next non-blank
    line does not open a fence."""
    while i < len(lines) and not lines[i].strip():
        i += 1
    if i >= len(lines):
        return None
    m = FENCE.match(lines[i])
    if not m:
        return None
    body = []
    i += 1
    while i < len(lines) and not lines[i].startswith("```"):
        body.append(lines[i])
        i += 1
    return m.group(1), "\n".join(body) + "\n", i + 1


def examples(doc):
    lines = open(doc).read().split("\n")
    out = []
    i = 0
    while i < len(lines):
        m = MARK.match(lines[i])
        if not m:
            i += 1
            continue
        opts = (m.group(1) or "").split()
        block = read_fence(lines, i + 1)
        if block is None:
            raise SystemExit("%s:%d: an example mark with no fenced block after it"
                             % (doc, i + 1))
        _, text, j = block
        if opts[:1] == ["file"] and len(opts) == 2:
            out.append(Example(doc, i + 1, "file", opts[1], text, None, None))
            i = j
            continue
        if opts:
            raise SystemExit("%s:%d: unknown example mark %r" % (doc, i + 1, opts))
        answer = answer_kind = None
        after = read_fence(lines, j)
        if after and after[0] in ("json", "text"):
            answer_kind, answer, j = after
        out.append(Example(doc, i + 1, "run", None, text, answer, answer_kind))
        i = j
    return out


def complete(cmd):
    """True when bash would run cmd as it stands (no open quote, loop or
    continued line)."""
    if re.search(r"(\\|\||&&)\s*$", cmd):
        return False
    return subprocess.run(["bash", "-n"], input=cmd, capture_output=True,
                          text=True).returncode == 0


def units(example):
    """(command, answer shown or None, answer kind) in order."""
    lines = example.text.rstrip("\n").split("\n")
    if not any(line.startswith("$ ") for line in lines):
        # One unit per command, the answer shown after the block the last's.
        cmds = []
        for line in lines:
            if cmds and not complete(cmds[-1]):
                cmds[-1] += "\n" + line
            else:
                cmds.append(line)
        out = [(c + "\n", None, None) for c in cmds]
        out[-1] = (out[-1][0], example.answer, example.answer_kind)
        return out
    out = []
    i = 0
    while i < len(lines):
        if not lines[i].startswith("$ "):
            raise SystemExit("%s: transcript line %r is neither a command nor an answer"
                             % (example.where(), lines[i]))
        cmd = lines[i][2:]
        i += 1
        while not complete(cmd) and i < len(lines):
            cmd += "\n" + lines[i]
            i += 1
        shown = []
        while i < len(lines) and not lines[i].startswith("$ "):
            shown.append(lines[i])
            i += 1
        out.append((cmd + "\n", "\n".join(shown) + "\n" if shown else None, "text"))
    return out


# ---- Comparing answers ------------------------------------------------------

def kind_of(v):
    if isinstance(v, bool):
        return "boolean"
    if isinstance(v, (int, float)):
        return "number"
    if v is None:
        return "null"
    if isinstance(v, str):
        return "string"
    if isinstance(v, list):
        return "array"
    return "object"


def shape_problems(shown, got, path="answer"):
    """What differs between the shape of shown and of got (empty: none)."""
    if kind_of(shown) != kind_of(got):
        return ["%s: the docs show %s, the server sent %s (%s)"
                % (path, kind_of(shown), kind_of(got), json.dumps(got)[:200])]
    if isinstance(shown, dict):
        problems = []
        for k in shown:
            if k not in got:
                problems.append("%s: the docs show key %r, the server does not send it"
                                % (path, k))
        for k in got:
            if k not in shown:
                problems.append("%s: the server sends key %r, the docs do not show it"
                                % (path, k))
            else:
                problems += shape_problems(shown[k], got[k], "%s.%s" % (path, k))
        return problems
    if isinstance(shown, list):
        if shown and not got:
            return ["%s: the docs show items, the server sent none" % path]
        problems = []
        for n, item in enumerate(got):
            # Each item the server sent must look like one of those shown.
            tries = [shape_problems(s, item, "%s[%d]" % (path, n)) for s in shown]
            if shown and all(tries):
                problems += min(tries, key=len)
        for n, item in enumerate(shown):
            # ... and each item shown must look like one the server sent.
            tries = [shape_problems(item, g, "%s[%d]" % (path, n)) for g in got]
            if got and all(tries):
                problems += ["shown " + p for p in min(tries, key=len)]
        return problems
    return []


def text_lines(text):
    """Lines with every number as N and runs of spaces as one, sorted:
    what the shape of a text answer is."""
    out = []
    for line in text.strip("\n").split("\n"):
        line = re.sub(r"-?\d+(\.\d+)?", "N", line)
        out.append(re.sub(r"\s+", " ", line).strip())
    return sorted(out)


def compare(shown, got, kind):
    try:
        shown_json = json.loads(shown)
    except ValueError:
        shown_json = None
    if kind == "json" or shown_json is not None:
        if shown_json is None:
            return ["the docs' answer is not JSON: %s" % shown[:200]]
        try:
            got_json = json.loads(got)
        except ValueError:
            return ["the docs show JSON, the server's answer is not: %s" % got[:300]]
        return shape_problems(shown_json, got_json)
    if text_lines(shown) != text_lines(got):
        return ["the lines differ, numbers aside:\n--- shown\n%s--- printed\n%s"
                % (shown, got)]
    return []


# ---- The server and its data --------------------------------------------------

class Server:
    def __init__(self, binary):
        self.data = tempfile.mkdtemp(prefix="ember-docs-")
        self.proc = subprocess.Popen(
            [binary, "serve", "--listen", "127.0.0.1:0", "--data", self.data],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline()
        m = re.search(r"listening on http://(127\.0\.0\.1:\d+)", line)
        if not m:
            self.stop()
            raise SystemExit("ember did not start: %r" % line)
        self.addr = m.group(1)

    def push(self, name, start, folded, until=None, **params):
        q = {"name": name, "from": start, "until": until or start + 10, "format": "folded"}
        q.update(params)
        url = "http://%s/ingest?%s" % (self.addr, urllib.parse.urlencode(q))
        req = urllib.request.Request(url, data=folded.encode(), method="POST")
        with urllib.request.urlopen(req, timeout=30) as resp:
            assert resp.status == 200

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(30)
        for f in (self.proc.stdout, self.proc.stderr):
            f.close()
        shutil.rmtree(self.data, ignore_errors=True)


def seed_api(srv):
    """What docs/API.md's examples describe: the stacks a;b 1 and a;c 2 of
    app.cpu at 1700000000, and for /api/explore, ride-sharing-app.cpu's
    regions: eu-north 40 then 20 samples, us-east 30, ap-south 5, and 7
    without a region."""
    srv.push("app.cpu", 1700000000, "a;b 1\na;c 2\n")
    t = 1700000100
    for labels, start, n in (("region=eu-north", t, 40), ("region=eu-north", t + 10, 20),
                             ("region=us-east", t, 30), ("region=ap-south", t, 5),
                             ("", t, 7)):
        srv.push("ride-sharing-app.cpu{%s}" % labels, start, "main;work %d\n" % n,
                 spyName="pyspy")


def seed_rideshare(srv):
    """What getting-started.md's section 5 reads: the ride-sharing app over
    the last minute, three regions and three vehicles, the agent's frame
    names, and eu-north's mutex_lock in the 10 s periods whose number is
    odd."""
    now = int(time.time()) // 10 * 10
    handler = "server:RideHandler.do_GET (server.py:120)"
    search = "server:find_nearest_vehicle (server.py:66)"
    for start in range(now - 60, now + 10, 10):
        lock = (start // 10) % 2 == 1
        for region in ("us-east", "eu-north", "ap-south"):
            for vehicle, cost, line in (("car", 40, 94), ("scooter", 20, 88), ("bike", 10, 82)):
                stack = "%s;server:order_%s (server.py:%d)" % (handler, vehicle, line)
                body = "%s;%s %d\n%s;server:_reply (server.py:130) 3\n" % (
                    stack, search, cost, handler)
                if region == "eu-north":
                    body += ("%s;%s;server:check_driver_availability (server.py:70);"
                             "server:mutex_lock (server.py:58) %d\n"
                             % (stack, search, 2 * cost if lock else 0))
                    body = "\n".join(l for l in body.split("\n") if not l.endswith(" 0"))
                srv.push("ride-sharing-app.cpu{region=%s,vehicle=%s}" % (region, vehicle),
                         start, body, spyName="emberpy")


# ---- Running a document ---------------------------------------------------------

def run_doc(doc, srv, binary, bindir):
    """Runs every example of doc in one bash session; returns the list of
    (example, command, shown, kind, printed, status) in order, and the
    files the examples left in the directory they ran in."""
    work = tempfile.mkdtemp(prefix="ember-docs-run-")
    errs = tempfile.mkdtemp(prefix="ember-docs-err-")
    os.makedirs(os.path.join(work, "build"))
    os.symlink(binary, os.path.join(work, "build", "ember"))
    script = ["set -u"]
    plan = []
    try:
        for ex in examples(doc):
            if ex.kind == "file":
                with open(os.path.join(work, ex.name), "w") as f:
                    f.write(ex.text)
                continue
            for cmd, shown, kind in units(ex):
                n = len(plan)
                plan.append((ex, cmd, shown, kind))
                cmd = cmd.replace("127.0.0.1:4040", srv.addr)
                script.append("echo '@@begin %d'\n{\n%s\n} 2>%s/%d\necho \"@@end %d $?\""
                              % (n, cmd, errs, n, n))
        env = dict(os.environ, PATH=bindir + ":" + os.environ["PATH"])
        run = subprocess.run(["bash", "-c", "\n".join(script)], cwd=work, env=env,
                             capture_output=True, text=True, timeout=300)
        found = {}
        for m in re.finditer(r"@@begin (\d+)\n(.*?)@@end \1 (\d+)\n", run.stdout, re.S):
            found[int(m.group(1))] = (m.group(2), int(m.group(3)))
        results = []
        for n, (ex, cmd, shown, kind) in enumerate(plan):
            printed, status = found.get(n, (run.stdout + run.stderr, -1))
            if status != 0 and os.path.exists(os.path.join(errs, str(n))):
                printed += open(os.path.join(errs, str(n))).read()
            results.append((ex, cmd, shown, kind, printed, status))
        left = sorted(set(os.listdir(work)) - {"build"})
        return results, left
    finally:
        shutil.rmtree(work, ignore_errors=True)
        shutil.rmtree(errs, ignore_errors=True)


def main():
    binary = os.environ.get("EMBER_BIN") or os.path.join(ROOT, "build", "ember")
    real_curl = shutil.which("curl")
    if not shutil.which("bash") or not real_curl:
        print("SKIP: the documentation's examples need bash and curl (apt-get install curl)")
        return 77
    if not os.access(binary, os.X_OK):
        print("FAIL: no ember binary at %s (build it, or set EMBER_BIN)" % binary)
        return 1
    bindir = tempfile.mkdtemp(prefix="ember-docs-bin-")
    with open(os.path.join(bindir, "curl"), "w") as f:
        f.write("#!/bin/sh\nexec %s --fail-with-body \"$@\"\n" % real_curl)
    os.chmod(os.path.join(bindir, "curl"), 0o755)
    failures = []
    counts = {}
    docs = (("README.md", None), ("docs/API.md", seed_api),
            ("docs/getting-started.md", seed_rideshare))
    try:
        for name, seed in docs:
            srv = Server(binary)
            try:
                if seed:
                    seed(srv)
                results, left = run_doc(os.path.join(ROOT, name), srv, binary, bindir)
            finally:
                srv.stop()
            counts[name] = len(results)
            if name == "README.md" and left:
                failures.append("README.md: its examples leave files behind: %s" % left)
            for ex, cmd, shown, kind, printed, status in results:
                what = "%s: %s" % (ex.where(), cmd.strip().split("\n")[0][:100])
                if status != 0:
                    failures.append("%s\n  exited %d:\n%s" % (what, status, printed))
                    continue
                if shown is not None:
                    for p in compare(shown, printed, kind):
                        failures.append("%s\n  %s" % (what, p))
                if name == "README.md" and "render-diff" in cmd:
                    failures += readme_diff_problems(what, printed)
    finally:
        shutil.rmtree(bindir, ignore_errors=True)
    failures += stated_facts()
    for name, n in counts.items():
        print("%s: %d example commands" % (name, n))
        if n == 0:
            failures.append("%s: no marked examples found" % name)
    for f in failures:
        print("FAIL: " + f)
    if failures:
        return 1
    print("ok: every marked example ran and answered as the docs show")
    return 0


def readme_diff_problems(what, printed):
    """The README's diff compares bike with car: both sides have samples,
    and mutex_lock is on the car side only."""
    try:
        d = json.loads(printed)
    except ValueError:
        return ["%s\n  the README's diff printed no JSON: %s" % (what, printed[:300])]
    problems = []
    if not d.get("leftTicks") or not d.get("rightTicks"):
        problems.append("%s\n  the README's diff has an empty side: leftTicks %s, "
                        "rightTicks %s" % (what, d.get("leftTicks"), d.get("rightTicks")))
    return problems


def stated_facts():
    """Facts the README states in words, checked against the source."""
    problems = []
    readme = open(os.path.join(ROOT, "README.md")).read()
    header = open(os.path.join(ROOT, "src", "store", "store_int.h")).read()
    m = re.search(r"#define EMBER_STORE_MAINT_PERIOD (\d+)", header)
    if not m or m.group(1) != "60" or "once a minute" not in readme:
        problems.append("README.md says retention runs once a minute; "
                        "EMBER_STORE_MAINT_PERIOD is %s" % (m.group(1) if m else "missing"))
    return problems


if __name__ == "__main__":
    sys.exit(main())
