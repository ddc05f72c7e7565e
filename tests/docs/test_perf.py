#!/usr/bin/env python3
"""test_perf.py - what the README says about perf's two folded forms holds.

One recording, folded two ways, pushed as the README says:

- sample counts (one per sample, as `perf script report stackcollapse`
  writes them) with sampleRate = the -F frequency;
- period-weighted (each sample's period, as `perf script |
  stackcollapse-perf.pl` writes them) with units=nanoseconds;

and both read as the same CPU time, in /render's JSON and in the total an
export shows. Pushed as samples, the weighted form reads as thousands of
hours: the mistake the README warns of.

Where `perf record` works (as root, with perf installed) the recording is
made here, and the counts come from perf's own stackcollapse script; else
tests/data/perf/cpu-clock.script, `perf script` output recorded with
`perf record -e cpu-clock -F 99 -g`, stands in. Either way the weighted form
is the sum of the periods `perf script` prints, per stack.
"""

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import urllib.parse
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FIXTURE = os.path.join(ROOT, "tests", "data", "perf", "cpu-clock.script")
HZ = 99


def collapse(script):
    """(counts, weighted): folded stacks of `perf script` output, root
    first, once per sample and by period."""
    counts, weighted = {}, {}
    for block in script.strip().split("\n\n"):
        lines = block.strip("\n").split("\n")
        m = re.match(r"^(\S.*?)\s+\d+(?:/\d+)?\s+.*?:\s+(\d+)\s+\S+:\s*$", lines[0])
        if not m:
            continue
        frames = []
        for line in lines[1:]:
            f = line.strip().split(None, 1)
            if len(f) == 2:
                frames.append(re.sub(r"\+0x[0-9a-f]+ ", " ", f[1]).split(" (")[0])
        stack = ";".join([m.group(1)] + frames[::-1])
        counts[stack] = counts.get(stack, 0) + 1
        weighted[stack] = weighted.get(stack, 0) + int(m.group(2))
    return counts, weighted


def folded(d):
    return "".join("%s %d\n" % (k, v) for k, v in sorted(d.items()))


def record(work):
    """perf's own folding of a fresh recording, and its `perf script`
    text; None when perf cannot record here."""
    if not shutil.which("perf"):
        return None
    prog = ["sh", "-c", "i=0; while [ $i -lt 300000 ]; do i=$((i+1)); done"]
    # Named files and no standard input: perf reads and writes a pipe it is
    # given instead of perf.data.
    rec = subprocess.run(["perf", "record", "-o", "perf.data", "-e", "cpu-clock", "-F",
                          str(HZ), "-g", "--"] + prog, cwd=work, stdin=subprocess.DEVNULL, capture_output=True, text=True, errors="replace",
                         timeout=120)
    if rec.returncode != 0:
        print("perf record does not work here (%s); using the recorded fixture"
              % rec.stderr.strip().split("\n")[-1])
        return None
    sc = subprocess.run(["perf", "script", "-i", "perf.data", "report", "stackcollapse"],
                        cwd=work, stdin=subprocess.DEVNULL,
                        capture_output=True, text=True, errors="replace", timeout=120)
    raw = subprocess.run(["perf", "script", "-i", "perf.data"], cwd=work,
                         stdin=subprocess.DEVNULL, capture_output=True, text=True,
                         errors="replace", timeout=120)
    if sc.returncode != 0 or raw.returncode != 0 or not sc.stdout.strip():
        print("perf script report stackcollapse does not work here; using the fixture")
        return None
    return sc.stdout, raw.stdout


class Server:
    def __init__(self, binary):
        self.data = tempfile.mkdtemp(prefix="ember-perf-")
        self.proc = subprocess.Popen([binary, "serve", "--listen", "127.0.0.1:0", "--data",
                                      self.data], stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True)
        m = re.search(r"listening on (http://127\.0\.0\.1:\d+)", self.proc.stdout.readline())
        if not m:
            self.stop()
            raise SystemExit("FAIL: ember did not start")
        self.url = m.group(1)

    def get(self, path, **q):
        with urllib.request.urlopen(self.url + path + "?" + urllib.parse.urlencode(q),
                                    timeout=30) as r:
            return r.read().decode()

    def push(self, name, body, **q):
        q.update(name=name, **{"from": 1700000000, "until": 1700000010})
        req = urllib.request.Request(self.url + "/ingest?" + urllib.parse.urlencode(q),
                                     data=body.encode(), method="POST")
        with urllib.request.urlopen(req, timeout=30) as r:
            assert r.status == 200

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(30)
        self.proc.stdout.close()
        self.proc.stderr.close()
        shutil.rmtree(self.data, ignore_errors=True)


def svg_total(srv, app):
    """The total the SVG export's header shows."""
    svg = srv.get("/render", query=app + "{}", **{"from": 1700000000, "until": 1700000009,
                                                  "format": "svg"})
    m = re.search(r"UTC: ([^<]*)</text>", svg)
    return m.group(1) if m else svg[:300]


def main():
    binary = os.environ.get("EMBER_BIN") or os.path.join(ROOT, "build", "ember")
    failures = []
    work = tempfile.mkdtemp(prefix="ember-perf-rec-")
    srv = None
    try:
        got = record(work)
        if got:
            perf_counts, script = got
            print("recorded with perf here")
        else:
            perf_counts, script = None, open(FIXTURE).read()
        counts, weighted = collapse(script)
        samples = sum(counts.values())
        if samples < 5:
            raise SystemExit("FAIL: only %d samples in the recording" % samples)
        if perf_counts is not None:
            # perf's own script counts every sample once, as the README says.
            total = sum(int(l.rsplit(" ", 1)[1]) for l in perf_counts.strip().split("\n"))
            if total != samples:
                failures.append("perf script report stackcollapse sums to %d, not the %d "
                                "samples recorded" % (total, samples))
            counts_body = perf_counts
        else:
            counts_body = folded(counts)
        srv = Server(binary)
        srv.push("perf-counts.cpu", counts_body, sampleRate=HZ, spyName="perf")
        srv.push("perf-weighted.cpu", folded(weighted), units="nanoseconds", spyName="perf")
        srv.push("perf-mistaken.cpu", folded(weighted), sampleRate=HZ, spyName="perf")
        r = {}
        for app in ("perf-counts.cpu", "perf-weighted.cpu", "perf-mistaken.cpu"):
            r[app] = json.loads(srv.get("/render", query=app + "{}",
                                        **{"from": 1700000000, "until": 1700000009}))
        c, w = r["perf-counts.cpu"], r["perf-weighted.cpu"]
        secs_counts = c["flamebearer"]["numTicks"] / HZ
        secs_weighted = w["flamebearer"]["numTicks"] / 1e9
        print("%d samples: %.3f s as counts at %d Hz, %.3f s as weighted nanoseconds"
              % (samples, secs_counts, HZ, secs_weighted))
        if w["metadata"]["units"] != "nanoseconds":
            failures.append("units=nanoseconds stored as %r" % w["metadata"]["units"])
        if abs(secs_counts - secs_weighted) > 0.01 * secs_counts:
            failures.append("the two forms disagree: %.3f s and %.3f s"
                            % (secs_counts, secs_weighted))
        tc, tw = svg_total(srv, "perf-counts.cpu"), svg_total(srv, "perf-weighted.cpu")
        tm = svg_total(srv, "perf-mistaken.cpu")
        print("export totals: %r, %r; the weighted form pushed as samples: %r" % (tc, tw, tm))
        if tc.split(" (")[0] != tw:
            failures.append("the exports show %r and %r for the same recording" % (tc, tw))
        if " h " not in tm:
            failures.append("the weighted form pushed as samples reads %r, not hours" % tm)
    finally:
        if srv:
            srv.stop()
        shutil.rmtree(work, ignore_errors=True)
    for f in failures:
        print("FAIL: " + f)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
