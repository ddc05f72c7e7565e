"""Shared pieces of the Python tests: a real Ember server in a temporary
directory, a scripted stub server for failure modes, and a flame graph
decoder for /render's JSON."""

from __future__ import annotations

import gzip
import http.server
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import urllib.parse
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
PY_ROOT = os.path.dirname(HERE)                     # examples/python
REPO_ROOT = os.path.dirname(os.path.dirname(PY_ROOT))
if PY_ROOT not in sys.path:
    sys.path.insert(0, PY_ROOT)


def ember_bin():
    """The ember binary: $EMBER_BIN (set by ctest) or build/ember."""
    path = os.environ.get("EMBER_BIN") or os.path.join(REPO_ROOT, "build", "ember")
    return path if os.access(path, os.X_OK) else None


class EmberServer:
    """``ember serve`` on 127.0.0.1 and a free port, data in a temporary
    directory removed on stop."""

    def __init__(self):
        binary = ember_bin()
        if binary is None:
            raise unittest.SkipTest("no ember binary: build it, or set EMBER_BIN")
        self.data = tempfile.mkdtemp(prefix="ember-py-")
        self.proc = subprocess.Popen(
            [binary, "serve", "--listen", "127.0.0.1:0", "--data", self.data],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline()
        m = re.search(r"listening on (http://127\.0\.0\.1:\d+)", line)
        if not m:
            err = self.proc.stderr.read() if self.proc.poll() is not None else ""
            self.stop()
            raise RuntimeError("ember did not start: %r %s" % (line, err))
        self.url = m.group(1)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        for stream in (self.proc.stdout, self.proc.stderr):
            if stream:
                stream.close()
        shutil.rmtree(self.data, ignore_errors=True)

    def get(self, path, **params):
        """GET path?params, decoded as JSON (text for format=collapsed)."""
        url = self.url + path
        if params:
            url += "?" + urllib.parse.urlencode(params)
        with urllib.request.urlopen(url, timeout=10) as resp:
            body = resp.read().decode()
        return body if params.get("format") == "collapsed" else json.loads(body)


class StubServer:
    """An HTTP server on 127.0.0.1 that answers /ingest from a script of
    (status, headers) pairs, repeating the last one, and records requests."""

    def __init__(self, script):
        self.script = list(script)
        self.requests = []
        stub = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                if self.headers.get("Content-Encoding") == "gzip":
                    body = gzip.decompress(body)
                url = urllib.parse.urlsplit(self.path)
                stub.requests.append({
                    "path": url.path, "query": dict(urllib.parse.parse_qsl(url.query)),
                    "headers": dict(self.headers), "body": body.decode(),
                    "time": time.monotonic()})
                i = min(len(stub.requests), len(stub.script)) - 1
                status, headers = stub.script[i]
                payload = b"" if status == 200 else \
                    json.dumps({"error": "stub says %d" % status}).encode()
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = "http://127.0.0.1:%d" % self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()


def closed_port_url():
    """A URL on which nothing listens (the port was just free)."""
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return "http://127.0.0.1:%d" % s.getsockname()[1]


def flame_nodes(flamebearer, columns=4):
    """The nodes of a /render (columns=4) or /render-diff (columns=7)
    flame graph as dicts {name, level, x, total(s), parent}, with x decoded
    from its delta encoding and parent found by position."""
    names = flamebearer["names"]
    nodes, previous_level = [], []
    for depth, row in enumerate(flamebearer["levels"]):
        level, prev_end = [], 0
        prev_end_r = 0
        for i in range(0, len(row), columns):
            cell = row[i:i + columns]
            if columns == 4:
                x = prev_end + cell[0]
                node = {"name": names[cell[3]], "level": depth, "x": x,
                        "total": cell[1], "self": cell[2]}
                prev_end = x + cell[1]
            else:
                lx = prev_end + cell[0]
                rx = prev_end_r + cell[3]
                node = {"name": names[cell[6]], "level": depth, "x": lx, "rx": rx,
                        "ltotal": cell[1], "lself": cell[2],
                        "rtotal": cell[4], "rself": cell[5],
                        "total": cell[1] + cell[4]}
                prev_end, prev_end_r = lx + cell[1], rx + cell[4]
            node["parent"] = _parent_of(node, previous_level, columns)
            level.append(node)
        nodes.extend(level)
        previous_level = level
    return nodes


def _parent_of(node, candidates, columns):
    for p in candidates:
        if columns == 4:
            if p["x"] <= node["x"] < p["x"] + max(p["total"], 1):
                return p
        elif (p["ltotal"] and p["x"] <= node["x"] < p["x"] + p["ltotal"] and node["ltotal"]) \
                or (p["rtotal"] and p["rx"] <= node["rx"] < p["rx"] + p["rtotal"] and node["rtotal"]):
            return p
    return None


def frame_function(name):
    """'server:order_car (server.py:88)' -> 'order_car'."""
    head = name.split(" (", 1)[0]
    return head.rsplit(":", 1)[-1].rsplit(".", 1)[-1]
