"""One region of a ride-sharing service, profiled by Ember.

    python3 server.py --region eu-north --port 5002 --ember http://127.0.0.1:4040

GET /bike, /scooter and /car find the nearest vehicle of that kind. The work
is plain CPU, sized so that a car costs the most (a car's search area is
four times a bike's, a scooter's twice). Every request is tagged with its
vehicle through ``ember_agent.tag_wrapper``; the whole process is tagged
with its region.

In eu-north, every search also checks driver availability, and in every
other period of ``--lock-period`` seconds (120 by default) that check spins
on a contended lock: ``mutex_lock`` then takes most of the region's CPU.
The periods are aligned to Unix time, so with a period that is a multiple
of 10 s they line up with Ember's 10 s buckets. ``--lock-period 10`` is the
fast mode the tests use.

Prints ``listening on http://HOST:PORT`` once it accepts requests (port 0
picks a free port). SIGINT or SIGTERM stop it after the profiler has sent
its last samples.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

try:
    import ember_agent
except ImportError:  # run from a checkout: the package is one folder up
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    import ember_agent

APP_NAME = "ride-sharing-app"
UNIT = 200000           # loop iterations per unit of work (about 10 ms of CPU)
SEARCH_RADIUS = 1       # default search radius of a request

REGION = os.environ.get("REGION", "us-east")
LOCK_PERIOD = 120


def lock_contention_on(now=None) -> bool:
    """True in the periods when eu-north's driver lookup contends on a lock:
    every other period of LOCK_PERIOD seconds, counted from the Unix epoch."""
    now = time.time() if now is None else now
    return int(now // LOCK_PERIOD) % 2 == 1


# The three functions below burn CPU with the same loop, so their costs
# compare as their iteration counts do.

def mutex_lock(n):
    # A spin lock under contention: the thread burns CPU while it waits.
    spins = 0
    for i in range(n * 2 * UNIT):
        spins = (spins + i * 7) % 1000003
    return spins


def check_driver_availability(n):
    drivers = 0
    for i in range(n * UNIT // 2):
        drivers = (drivers + i * 7) % 1000003
    if REGION == "eu-north" and lock_contention_on():
        mutex_lock(n)
    return drivers


def find_nearest_vehicle(n, vehicle):
    best = 0
    for i in range(n * UNIT):
        best = (best + i * 7) % 1000003
    if REGION == "eu-north":
        check_driver_availability(n)
    return best


def order_bike(search_radius):
    with ember_agent.tag_wrapper({"vehicle": "bike"}):
        return find_nearest_vehicle(search_radius, "bike")


def order_scooter(search_radius):
    with ember_agent.tag_wrapper({"vehicle": "scooter"}):
        return find_nearest_vehicle(search_radius * 2, "scooter")


def order_car(search_radius):
    with ember_agent.tag_wrapper({"vehicle": "car"}):
        return find_nearest_vehicle(search_radius * 4, "car")


ORDERS = {"/bike": order_bike, "/scooter": order_scooter, "/car": order_car}


class RideHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: one thread per client
    server_version = "rideshare/1.0"

    def do_GET(self):
        url = urlsplit(self.path)
        order = ORDERS.get(url.path)
        if order is None:
            if url.path in ("/", "/healthz"):
                return self._reply(200, "rideshare %s: try /bike, /scooter or /car\n" % REGION)
            return self._reply(404, "no such endpoint: try /bike, /scooter or /car\n")
        radius = SEARCH_RADIUS
        arg = parse_qs(url.query).get("radius")
        if arg:
            try:
                radius = max(1, min(20, int(arg[0])))
            except ValueError:
                return self._reply(400, "radius must be a whole number from 1 to 20\n")
        order(radius)
        self._reply(200, "%s: found a vehicle for %s\n" % (REGION, url.path[1:]))

    def _reply(self, status, text):
        body = text.encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, fmt, *args):
        pass  # the load generator sends many requests; keep the log readable


def main(argv=None):
    global REGION, LOCK_PERIOD
    p = argparse.ArgumentParser(description="One region of the ride-sharing example.")
    p.add_argument("--region", default=REGION, help="region tag (default: $REGION or us-east)")
    p.add_argument("--host", default=os.environ.get("HOST", "127.0.0.1"))
    p.add_argument("--port", type=int, default=int(os.environ.get("PORT", "5000")),
                   help="port, 0 for any free one")
    p.add_argument("--ember", default=os.environ.get("EMBER_SERVER_ADDRESS",
                                                     "http://127.0.0.1:4040"),
                   help="Ember's address (default: $EMBER_SERVER_ADDRESS)")
    p.add_argument("--lock-period", type=int,
                   default=int(os.environ.get("RIDESHARE_LOCK_PERIOD", "120")),
                   help="seconds between eu-north's lock contention switching "
                        "on and off (default 120; 10 for a fast demo)")
    p.add_argument("--no-agent", action="store_true",  # tag_wrapper then only marks threads
                   help="do not start the agent: profile with `ember spy record` instead")
    args = p.parse_args(argv)
    REGION = args.region
    LOCK_PERIOD = max(1, args.lock_period)

    agent = None
    if not args.no_agent:
        agent = ember_agent.configure(app_name=APP_NAME, server_address=args.ember,
                                      tags={"region": REGION})
    server = ThreadingHTTPServer((args.host, args.port), RideHandler)
    server.daemon_threads = True

    def stop(signum, frame):
        # serve_forever runs in this thread: shut it down from another.
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    host, port = server.server_address[:2]
    print("rideshare %s listening on http://%s:%d" % (REGION, host, port), flush=True)
    try:
        server.serve_forever(poll_interval=0.2)
    finally:
        server.server_close()
        if agent is not None:
            ember_agent.shutdown(timeout=5.0)
            st = agent.stats()
            print("rideshare %s stopped: %d samples sent to Ember, %d dropped"
                  % (REGION, st["samples_sent"], st["samples_dropped"]),
                  file=sys.stderr, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
