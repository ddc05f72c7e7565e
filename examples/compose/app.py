"""A stand-in for your app: a worker that does two kinds of jobs, profiled
by the Python agent, which pushes to Ember every 10 seconds.

    EMBER_SERVER_ADDRESS=http://127.0.0.1:4040 python3 app.py

In Ember it is the app ``my-app.cpu``, tagged with ``job`` (resize or
report); resize jobs take about three times the CPU of report jobs.
SIGTERM (docker stop) sends the last samples before it exits.
"""

import os
import signal
import sys
import threading

import ember_agent


def busy(units):
    total = 0
    for i in range(units * 100000):
        total = (total + i * 7) % 1000003
    return total


def resize_image():
    with ember_agent.tag_wrapper({"job": "resize"}):
        return busy(3)


def write_report():
    with ember_agent.tag_wrapper({"job": "report"}):
        return busy(1)


def main():
    ember_agent.configure(
        app_name=os.environ.get("APP_NAME", "my-app"),
        server_address=os.environ.get("EMBER_SERVER_ADDRESS", "http://127.0.0.1:4040"),
        auth_token=os.environ.get("EMBER_AUTH_TOKEN") or None,
    )
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda signum, frame: stop.set())
    signal.signal(signal.SIGINT, lambda signum, frame: stop.set())
    print("my-app: working, profiled by Ember", flush=True)
    while not stop.is_set():
        resize_image()
        write_report()
        stop.wait(0.5)  # a mostly idle app: a few percent of a core
    ember_agent.shutdown(timeout=5.0)
    return 0


if __name__ == "__main__":
    sys.exit(main())
