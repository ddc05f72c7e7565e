#!/usr/bin/env python3
"""What `ember backup` costs a server that keeps ingesting.

    python3 bench/backup_live.py DATA_DIR [--ember build/ember] [--pushers 4]
        [--before 5] [--after 3] [--max-rate SIZE] [--out FILE]

Starts `ember serve` on DATA_DIR (an existing database, e.g. one that
build/bench/store_write filled), pushes from --pushers threads without
pause (a profile of 200 stacks, each push its own series, so every push is
a commit that adds rows), and --before seconds later runs `ember backup` of
DATA_DIR, then keeps pushing --after seconds more. Prints the backup's time
and size, the largest the server's WAL grew, and the latency of the pushes
(the time to a 200, which the server sends after the commit) before, during
and after the backup: the latency during the backup is how long the
writer was held up.
"""
import argparse
import http.client
import os
import re
import subprocess
import sys
import tempfile
import threading
import time


def body(n):
    return "".join(
        f"main;svc_{k % 20};handler_{k};leaf_{k % 7} {1 + k % 13}\n" for k in range(n)
    ).encode()


def pusher(port, idx, stop, samples):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    payload = body(200)
    i = 0
    while not stop.is_set():
        now = int(time.time())
        path = (f"/ingest?name=backup.bench.cpu%7Bpusher%3D{idx}%2Cn%3D{i % 500}%7D"
                f"&from={now - 10}&until={now}")
        t0 = time.monotonic()
        conn.request("POST", path, payload)
        r = conn.getresponse()
        r.read()
        samples.append((t0, time.monotonic() - t0, r.status))
        i += 1


def stats(lat):
    if not lat:
        return "no pushes"
    lat = sorted(lat)
    q = lambda p: lat[min(len(lat) - 1, int(p * len(lat)))] * 1000
    return (f"{len(lat):6d} pushes  p50 {q(0.5):6.1f} ms  p99 {q(0.99):6.1f} ms  "
            f"max {lat[-1] * 1000:6.1f} ms")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("data")
    ap.add_argument("--ember", default="build/ember")
    ap.add_argument("--pushers", type=int, default=4)
    ap.add_argument("--before", type=float, default=5)
    ap.add_argument("--after", type=float, default=3)
    ap.add_argument("--max-rate")
    ap.add_argument("--out")
    a = ap.parse_args()
    out = a.out or os.path.join(tempfile.mkdtemp(prefix="ember-bk-"), "backup.db")
    srv = subprocess.Popen([a.ember, "serve", "--listen", "127.0.0.1:0", "--data", a.data],
                           stdout=subprocess.PIPE, text=True)
    line = srv.stdout.readline()
    m = re.search(r"listening on http://[^ ]*:(\d+) ", line)
    if not m:
        sys.exit(f"ember did not start: {line}")
    port = int(m.group(1))
    stop, samples = threading.Event(), []
    threads = [threading.Thread(target=pusher, args=(port, i, stop, samples))
               for i in range(a.pushers)]
    for t in threads:
        t.start()
    wal = os.path.join(a.data, "ember.db-wal")
    wal_max = [0]

    def watch_wal():
        while not stop.is_set():
            try:
                wal_max[0] = max(wal_max[0], os.path.getsize(wal))
            except OSError:
                pass
            time.sleep(0.05)

    threading.Thread(target=watch_wal, daemon=True).start()
    time.sleep(a.before)
    cmd = [a.ember, "backup", "--data", a.data, "-o", out]
    if a.max_rate:
        cmd += ["--max-rate", a.max_rate]
    b0 = time.monotonic()
    res = subprocess.run(cmd, stderr=subprocess.PIPE, text=True)
    b1 = time.monotonic()
    time.sleep(a.after)
    stop.set()
    for t in threads:
        t.join()
    srv.terminate()
    srv.wait()
    print(res.stderr.strip().splitlines()[-1] if res.stderr else f"exit {res.returncode}")
    print(f"backup: {b1 - b0:.2f} s, {os.path.getsize(out) / 2**20:.1f} MiB written; "
          f"WAL at most {wal_max[0] / 2**20:.1f} MiB")
    bad = sum(1 for s in samples if s[2] != 200)
    print(f"pushes not answered 200: {bad}")
    print("before:", stats([l for t, l, _ in samples if t + l < b0]))
    print("during:", stats([l for t, l, _ in samples if t < b1 and t + l > b0]))
    print("after: ", stats([l for t, l, _ in samples if t > b1]))
    slow = sorted((l, t) for t, l, _ in samples if t < b1 and t + l > b0)[-3:]
    print("slowest during, started at:",
          ", ".join(f"{(t - b0):+.2f} s ({l * 1000:.0f} ms)" for l, t in reversed(slow)))


if __name__ == "__main__":
    main()
