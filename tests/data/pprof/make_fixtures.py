#!/usr/bin/env python3
"""Captures the pprof fixtures next to this script from the real agents, and
writes what Ember must make of each, as told by `go tool pprof -raw` (the
reference reader, independent of Ember's decoder).

  go_cpu.pb.gz            runtime/pprof CPU profile (samples + cpu, labels)
  go_cpu.pb               the same, not compressed
  go_cpu_multipart.body   pyroscope-go style form: profile
  go_heap.pb.gz           heap profile: alloc_*, inuse_*
  go_heap_prev.pb.gz      the heap profile taken before it
  go_heap_multipart.body  form: profile, prev_profile, sample_type_config
  node_wall.pb.gz         @pyroscope/nodejs push body (samples + wall)
  *.type                  the Content-Type of a .body
  *.expected              "app.type{labels} frame;...;leaf value" per stack

Needs go, node and npm (scripts/deps.sh --test). Run it again only when the
fixtures should change: the captures differ from run to run.
"""
import glob
import gzip
import http.server
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", "..", ".."))

# Sample type -> app suffix, and which count from process start (as Ember's
# table in src/ingest/pprof_types.c; the test would catch a disagreement).
SUFFIX = {"samples": "cpu", "cpu": "cpu", "goroutine": "goroutines",
          "contentions": "mutex_count", "delay": "mutex_duration"}
CUMULATIVE = {"alloc_objects", "alloc_space", "contentions", "delay"}
NUMERIC_LABELS = {"bytes"}  # Go heap profiles' allocation size label


def go_env(tmp):
    env = dict(os.environ, GO111MODULE="off", GOCACHE=os.path.join(tmp, "gocache"),
               HOME=tmp, GOFLAGS="")
    return env


def raw(path, env):
    """Parses `go tool pprof -raw`: (types, samples, locations) where a
    sample is (values, location ids, {label: value}) and a location is its
    function names, leaf first."""
    out = subprocess.run(["go", "tool", "pprof", "-raw", path], env=env, check=True,
                         capture_output=True, text=True).stdout.splitlines()
    i = out.index("Samples:") + 1
    types = [t.split("/")[0] for t in out[i].split()]
    samples, locs, section = [], {}, "samples"
    last = None
    for line in out[i + 1:]:
        if line.startswith("Locations"):
            section = "locations"
            continue
        if line.startswith("Mappings"):
            break
        if section == "samples":
            m = re.match(r"^\s+([-\d ]+):((?: \d+)*) ?$", line)
            if m:
                samples.append(([int(v) for v in m.group(1).split()],
                                [int(x) for x in m.group(2).split()], {}))
                continue
            for k, v in re.findall(r"(\S+?):\[([^\]]*)\]", line):
                if k not in NUMERIC_LABELS:
                    samples[-1][2][k] = v
        else:
            m = re.match(r"^\s+(\d+): 0x[0-9a-f]+ M=\d+ (\S+)", line)
            if m:
                last = int(m.group(1))
                locs[last] = [m.group(2)]
            elif line.strip():
                locs[last].append(line.split()[0])  # an inlined caller
    return types, samples, locs


def stacks(path, env, name_labels=""):
    """{(app, labels, stack): value} for one profile, Ember's rules."""
    types, samples, locs = raw(path, env)
    out = {}
    for values, ids, labels in samples:
        frames = [f for i in ids for f in locs[i]]
        stack = ";".join(reversed(frames))
        lab = ",".join(f"{k}={v}" for k, v in sorted(labels.items()))
        for t, v in zip(types, values):
            if t == "cpu" and "samples" in types:
                continue
            key = ("app." + SUFFIX.get(t, t), lab, stack)
            if v > 0:
                out[key] = out.get(key, 0) + v
    return out


def write_expected(name, cur, prev=None):
    lines = []
    for (app, lab, stack), v in cur.items():
        t = app.split(".", 1)[1]
        if prev is not None and t in {SUFFIX.get(c, c) for c in CUMULATIVE}:
            v -= prev.get((app, lab, stack), 0)
        if v > 0:
            lines.append(f"{app}{{{lab}}} {stack} {v}\n")
    with open(os.path.join(HERE, name), "w") as f:
        f.writelines(sorted(lines))


def capture_node(tmp):
    """Runs examples/nodejs/push.js from a copy against a local recorder and
    returns the first wall-profile body it pushed."""
    bodies = []

    class Recorder(http.server.BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers["Content-Length"]))
            bodies.append((self.path, body))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args):
            pass

    srv = http.server.HTTPServer(("127.0.0.1", 0), Recorder)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    app = os.path.join(tmp, "nodejs")
    shutil.copytree(os.path.join(ROOT, "examples", "nodejs"), app,
                    ignore=shutil.ignore_patterns("node_modules"))
    subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=app, check=True,
                   env=dict(os.environ, npm_config_cache=os.path.join(tmp, "npm")))
    subprocess.run(["node", "push.js", f"http://127.0.0.1:{srv.server_port}",
                    "nodeapp", "2"], cwd=app, check=True)
    srv.shutdown()
    for path, body in bodies:
        if b"wall" in gzip.decompress(body):
            return body
    sys.exit("no wall profile was pushed")


def main():
    tmp = tempfile.mkdtemp()
    try:
        env = go_env(tmp)
        exe = os.path.join(tmp, "pprofpush")
        subprocess.run(["go", "build", "-trimpath", "-o", exe, "main.go"], env=env,
                       cwd=os.path.join(ROOT, "examples", "go", "pprofpush"), check=True)
        subprocess.run([exe, "-server", "", "-seconds", "1", "-save", HERE], check=True)
        with open(os.path.join(HERE, "go_cpu.pb"), "wb") as f:
            f.write(gzip.decompress(open(os.path.join(HERE, "go_cpu.pb.gz"), "rb").read()))
        with open(os.path.join(HERE, "node_wall.pb.gz"), "wb") as f:
            f.write(capture_node(tmp))
        p = lambda n: os.path.join(HERE, n)
        write_expected("go_cpu.expected", stacks(p("go_cpu.pb.gz"), env))
        write_expected("go_heap.expected", stacks(p("go_heap.pb.gz"), env))
        write_expected("go_heap_delta.expected", stacks(p("go_heap.pb.gz"), env),
                       stacks(p("go_heap_prev.pb.gz"), env))
        write_expected("node_wall.expected", stacks(p("node_wall.pb.gz"), env))
        for f in sorted(glob.glob(p("*"))):
            print(f"{os.path.getsize(f):8d}  {os.path.basename(f)}")
    finally:
        shutil.rmtree(tmp)


if __name__ == "__main__":
    main()
