"""Sends a steady mix of ride requests to the regions of the example.

    python3 load.py us-east=http://127.0.0.1:5001 eu-north=http://127.0.0.1:5002 \\
                    ap-south=http://127.0.0.1:5003 [--rate 4] [--duration 0]

One thread per region, each over one keep-alive connection, cycles through
/bike, /scooter and /car at ``--rate`` requests per second, so every region
gets the same mix. A region that is not up yet (or restarts) is retried
every second. SIGINT or SIGTERM stop it; so does ``--duration`` seconds.
"""

from __future__ import annotations

import argparse
import http.client
import signal
import sys
import threading
import time
import urllib.parse

PATHS = ("/bike", "/scooter", "/car")


def drive(region, url, rate, stop, counts):
    parts = urllib.parse.urlsplit(url)
    conn = None
    interval = 1.0 / rate
    next_at = time.monotonic()
    i = sum(map(ord, region))  # regions start at different points of the mix
    reported = False
    while not stop.is_set():
        path = PATHS[i % len(PATHS)]
        try:
            if conn is None:
                conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
            conn.request("GET", path)
            resp = conn.getresponse()
            resp.read()
            counts[region] += 1
            i += 1
            reported = False
        except (OSError, http.client.HTTPException) as e:
            if conn is not None:
                conn.close()
                conn = None
            if not reported:
                print("load: %s (%s) not answering: %s; retrying every second"
                      % (region, url, e), file=sys.stderr, flush=True)
                reported = True
            stop.wait(1.0)
            next_at = time.monotonic()
            continue
        next_at += interval
        delay = next_at - time.monotonic()
        if delay > 0:
            stop.wait(delay)
        else:
            next_at = time.monotonic()  # the region is slower than the rate
    if conn is not None:
        conn.close()


def main(argv=None):
    p = argparse.ArgumentParser(description="Load for the ride-sharing example.")
    p.add_argument("targets", nargs="+", metavar="REGION=URL",
                   help="e.g. eu-north=http://127.0.0.1:5002")
    p.add_argument("--rate", type=float, default=4.0,
                   help="requests per second per region (default 4)")
    p.add_argument("--duration", type=float, default=0.0,
                   help="stop after this many seconds (default: run until stopped)")
    args = p.parse_args(argv)
    targets = []
    for t in args.targets:
        region, sep, url = t.partition("=")
        if not sep or not url.startswith("http://"):
            p.error("target %r: expected REGION=http://HOST:PORT" % t)
        targets.append((region, url))
    if args.rate <= 0:
        p.error("--rate must be positive")

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    counts = {region: 0 for region, _ in targets}
    threads = [threading.Thread(target=drive, args=(r, u, args.rate, stop, counts),
                                name="load-" + r, daemon=True) for r, u in targets]
    for t in threads:
        t.start()
    print("load: %.0f requests/s to each of %s" % (args.rate, ", ".join(counts)),
          flush=True)
    deadline = time.monotonic() + args.duration if args.duration > 0 else None
    while not stop.wait(0.5):
        if deadline is not None and time.monotonic() >= deadline:
            stop.set()
    for t in threads:
        t.join(15)
    print("load: sent " + ", ".join("%s %d" % kv for kv in counts.items()),
          file=sys.stderr, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
