#!/usr/bin/env python3
"""Overhead of the Python agent (examples/python/ember_agent) on a busy,
single-threaded program.

    python3 bench/python_agent_overhead.py [--seconds 3] [--rounds 5]
                                           [--rate 100] [--ember URL]

The same fixed amount of work (pure Python, about 25 frames deep) runs in
rounds that alternate three modes: alone; beside a bare thread that only
wakes up at --rate Hz (what any in-process sampler pays at least); and with
the agent sampling at --rate Hz and pushing every 10 s to Ember: --ember URL, else build/ember started on a free
port with a temporary data directory, else an address where nothing
listens (pushes then fail fast, which is also a case worth measuring).

Printed figures:
- process CPU time and wall time of the work, median of the rounds, and
  the overhead (agent / baseline - 1): the cost the program actually pays,
  including GIL hand-overs and cache effects, but noisy on a busy machine;
- the CPU time of the agent's own threads as a share of the work's CPU
  and of one core: the direct cost, measured with per-thread CPU clocks,
  much less noisy. When other processes compete for the CPU, the work gets
  less CPU per second while the sampler still wakes --rate times per
  second, so the share of the work's CPU rises; the share of one core per
  wall second does not.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "examples", "python"))

import ember_agent  # noqa: E402
from ember_agent._sampler import cpu_clocks_work, thread_cpu_clock  # noqa: E402


def leaf(n):
    total, seen = 0, {}
    for i in range(n):
        key = i & 63
        seen[key] = seen.get(key, 0) + i
        total += len(str(i))
    return total


def layer(depth, n):
    return layer(depth - 1, n) if depth else leaf(n)


def work(units):
    for _ in range(units):
        layer(20, 2000)


def calibrate(seconds):
    units, spent = 1, 0.0
    while spent < 0.2:
        units *= 2
        start = time.process_time()
        work(units)
        spent = time.process_time() - start
    return max(1, int(units * seconds / spent))


def thread_cpu(thread):
    if thread is None or not cpu_clocks_work():
        return 0.0
    try:
        return time.clock_gettime(thread_cpu_clock(thread.native_id))
    except OSError:
        return 0.0


def waker(rate, stop):
    """The floor of any in-process sampler: wake up at the rate and look
    at the threads' frames, nothing more."""
    while not stop.is_set():
        time.sleep(1.0 / rate)
        sys._current_frames()


def run_round(units, mode, agent_options):
    agent = wake = None
    stop = threading.Event()
    if mode == "agent":
        agent = ember_agent.configure(**agent_options)
    elif mode == "waker":
        wake = threading.Thread(target=waker, args=(agent_options["sample_rate"], stop))
        wake.start()
    wall, cpu = time.perf_counter(), time.process_time()
    work(units)
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    own = 0.0
    stats = {}
    if agent is not None:
        own = thread_cpu(agent.sampler._thread) + thread_cpu(agent.pusher._thread)
        stats = agent.stats()
        ember_agent.shutdown(timeout=5.0)
    if wake is not None:
        own = thread_cpu(wake)
        stop.set()
        wake.join()
    return cpu, wall, own, stats


def start_ember():
    binary = os.environ.get("EMBER_BIN") or os.path.join(ROOT, "build", "ember")
    if not os.access(binary, os.X_OK):
        return None, None, None
    data = tempfile.mkdtemp(prefix="ember-bench-")
    proc = subprocess.Popen([binary, "serve", "--listen", "127.0.0.1:0", "--data", data],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    m = re.search(r"listening on (http://\S+)", proc.stdout.readline())
    if not m:
        proc.kill()
        shutil.rmtree(data, ignore_errors=True)
        return None, None, None
    return m.group(1), proc, data


def closed_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return "http://127.0.0.1:%d" % s.getsockname()[1]


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--seconds", type=float, default=3.0, help="work per round (default 3)")
    p.add_argument("--rounds", type=int, default=5, help="rounds per mode (default 5)")
    p.add_argument("--rate", type=int, default=100, help="samples per second (default 100)")
    p.add_argument("--ember", help="push to this Ember instead of starting one")
    args = p.parse_args()

    proc = data = None
    url = args.ember
    target = "Ember at %s" % url if url else None
    if url is None:
        url, proc, data = start_ember()
        target = "build/ember at %s" % url if url else None
    if url is None:
        url = closed_port()
        target = "nothing (pushes fail fast: no ember binary found)"
    options = dict(app_name="bench-python-agent", server_address=url,
                   tags={"bench": "overhead"}, sample_rate=args.rate)
    try:
        units = calibrate(args.seconds)
        print("python %s, %d threads, pushing to %s" % (
            sys.version.split()[0], threading.active_count(), target))
        print("work: %d units (~%.1f s of CPU), %d rounds per mode, agent at %d Hz"
              % (units, args.seconds, args.rounds, args.rate))
        base, wakes, agent = [], [], []
        for r in range(args.rounds):
            base.append(run_round(units, "baseline", options))
            wakes.append(run_round(units, "waker", options))
            agent.append(run_round(units, "agent", options))
            print("  round %d: cpu baseline %.3f s, bare waker %.3f s (its thread %.1f ms), "
                  "agent %.3f s (its threads %.1f ms)"
                  % (r + 1, base[-1][0], wakes[-1][0], wakes[-1][2] * 1000,
                     agent[-1][0], agent[-1][2] * 1000), flush=True)
    finally:
        if proc is not None:
            proc.terminate()
            proc.wait(10)
            shutil.rmtree(data, ignore_errors=True)

    med = lambda rows, i: statistics.median(row[i] for row in rows)  # noqa: E731
    cpu_b, cpu_a = med(base, 0), med(agent, 0)
    wall_b, wall_a = med(base, 1), med(agent, 1)
    own_share = statistics.median(row[2] / row[0] for row in agent)
    samples = statistics.median(row[3].get("samples", 0) / row[0] for row in agent)
    ticks = statistics.median(row[3].get("ticks", 0) / row[1] for row in agent)
    print()
    print("process CPU  baseline %.3f s  with agent %.3f s  overhead %+.2f %%"
          % (cpu_b, cpu_a, (cpu_a / cpu_b - 1) * 100))
    print("wall time    baseline %.3f s  with agent %.3f s  overhead %+.2f %%"
          % (wall_b, wall_a, (wall_a / wall_b - 1) * 100))
    print("agent threads' own CPU: %.2f %% of the work's CPU, %.2f %% of one core "
          "per wall second, %.0f us per tick"
          % (own_share * 100, statistics.median(row[2] / row[1] for row in agent) * 100,
             statistics.median(row[2] / max(1, row[3].get("ticks", 0)) for row in agent) * 1e6))
    print("bare %d Hz waker thread (the floor of any in-process sampler): %.2f %% "
          "of the work's CPU, %.2f %% of one core per wall second; process CPU "
          "overhead %+.2f %%"
          % (args.rate, statistics.median(row[2] / row[0] for row in wakes) * 100,
             statistics.median(row[2] / row[1] for row in wakes) * 100,
             (med(wakes, 0) / cpu_b - 1) * 100))
    print("sampler: %.0f ticks/s, %.0f samples per CPU second (cpu_time=%s)"
          % (ticks, samples, cpu_clocks_work()))


if __name__ == "__main__":
    main()
