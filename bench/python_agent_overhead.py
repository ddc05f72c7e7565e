#!/usr/bin/env python3
"""Overhead of the Python agent (examples/python/ember_agent) on a busy,
single-threaded program.

    python3 bench/python_agent_overhead.py [--seconds 0.3] [--rounds 60]
        [--rate 100] [--ember URL] [--modes waker,agent]

The same fixed amount of work (pure Python, about 25 frames deep) runs many
times in short rounds, each round once in every mode, in a shuffled order:

- baseline, and baseline-again: the second copy measures nothing but the
  noise of the machine, so the figures below can be read against it;
- waker: beside a bare thread that wakes up --rate times a second and looks
  at the threads' frames (the floor of any sampler living in a thread);
- agent: the agent as configure() starts it, sampling at --rate Hz.

Each round starts its mode, runs a sixth of the work unmeasured (threads
starting, frame names computed once per function: the steady state is what
a long-running program pays), then measures the work. A mode's overhead is
the median over the rounds of (its process CPU / that round's baseline CPU
- 1): pairing rounds cancels the slow drifts of a shared machine, which are
larger than the effect measured. The agent's direct cost is also printed:
the CPU of its own threads, read from their CPU clocks. Short rounds leave
out the push every 10 s, so its cost is measured on its own (the CPU of
pushing one window of the stacks sampled) and printed as a share of 10 s.

The agent pushes to --ember URL, else to build/ember started on a free port
with a temporary data directory, else to an address where nothing listens.
"""

from __future__ import annotations

import argparse
import logging
import os
import random
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
from ember_agent._push import Pusher  # noqa: E402
from ember_agent._sampler import Window, cpu_clocks_work, thread_cpu_clock  # noqa: E402

MODES = ("baseline", "baseline-again", "waker", "agent")


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


def waker(rate, stop):
    while not stop.is_set():
        time.sleep(1.0 / rate)
        sys._current_frames()


def thread_cpu(thread):
    """CPU seconds a live thread has used (0 without per-thread clocks)."""
    if thread is None or not cpu_clocks_work():
        return 0.0
    try:
        return time.clock_gettime(thread_cpu_clock(thread.native_id))
    except OSError:
        return 0.0


class Round:
    """One mode's setup around the measured work."""

    def __init__(self, mode, options):
        self.mode, self.options = mode, options
        self.agent = self.thread = None
        self.stop = threading.Event()

    def __enter__(self):
        if self.mode == "agent":
            self.agent = ember_agent.configure(**self.options)
        elif self.mode == "waker":
            self.thread = threading.Thread(target=waker, args=(self.options["sample_rate"],
                                                               self.stop))
            self.thread.start()
        return self

    def __exit__(self, *exc):
        if self.agent is not None:
            self.stats = self.agent.stats()
            self.stats["own_cpu"] = (thread_cpu(self.agent.sampler._thread)
                                     + thread_cpu(self.agent.pusher._thread))
            ember_agent.shutdown(timeout=5.0)
        if self.thread is not None:
            self.stop.set()
            self.thread.join()


def run_round(units, mode, options):
    windows = []
    with Round(mode, options) as r:
        if r.agent is not None:  # keep a copy of what the agent pushes
            forward = r.agent.sampler.on_window
            r.agent.sampler.on_window = lambda w: (windows.append(w), forward(w))
        # Unmeasured: threads starting, frame names computed once per
        # function. What a long-running program pays is what comes after.
        work(max(1, units // 6))
        cpu = time.process_time()
        work(units)
        cpu = time.process_time() - cpu
    stacks = {}
    for w in windows:
        for tags, counted in w.counts.items():
            merged = stacks.setdefault(tags, {})
            for stack, n in counted.items():
                merged[stack] = merged.get(stack, 0) + n
    return cpu, getattr(r, "stats", {}), stacks


def push_cost(options, counts, units_per_second):
    """CPU of pushing one 10 s window holding these stacks, scaled up to
    the samples a busy process gathers in 10 s."""
    scale = 10.0 * options["sample_rate"] / max(1, sum(sum(s.values()) for s in counts.values()))
    window = Window(1700000000, 1700000010,
                    {tags: {st: max(1, round(n * scale)) for st, n in s.items()}
                     for tags, s in counts.items()})
    pusher = Pusher(options["server_address"], options["app_name"], (), options["sample_rate"],
                    "emberpy", None, logging.getLogger("bench"))
    costs = []
    for _ in range(5):
        start = time.process_time()
        pusher.push_window(window)
        costs.append(time.process_time() - start)
    return statistics.median(costs), pusher.stats


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
    p.add_argument("--seconds", type=float, default=0.3, help="work per round (default 0.3)")
    p.add_argument("--rounds", type=int, default=60, help="rounds (default 60)")
    p.add_argument("--rate", type=int, default=100, help="samples per second (default 100)")
    p.add_argument("--ember", help="push to this Ember instead of starting one")
    p.add_argument("--modes", default=",".join(MODES[2:]),
                   help="modes besides the two baselines, comma-separated (default: all)")
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
    modes = list(MODES[:2]) + [m for m in args.modes.split(",") if m]
    unknown = [m for m in modes if m not in MODES]
    if unknown:
        p.error("unknown mode %r; modes: %s" % (unknown[0], ", ".join(MODES[2:])))
    cpu = {m: [] for m in modes}
    stats_agent = []
    try:
        logging.basicConfig(level=logging.WARNING, format="%(message)s")
        units = calibrate(args.seconds)
        print("python %s, pushing to %s" % (sys.version.split()[0], target))
        print("work: %d units (~%.2f s of CPU) per round, %d rounds, each mode once per "
              "round in a shuffled order, %d Hz" % (units, args.seconds, args.rounds, args.rate))
        counts = None
        for r in range(args.rounds):
            order = list(modes)
            random.shuffle(order)
            for mode in order:
                spent, st, stacks = run_round(units, mode, options)
                cpu[mode].append(spent)
                if st:
                    stats_agent.append(st)
                if stacks:
                    counts = stacks
            if (r + 1) % 10 == 0:
                print("  %d rounds" % (r + 1), flush=True)
        push, push_stats = push_cost(options, counts or {}, units / args.seconds)
    finally:
        if proc is not None:
            proc.terminate()
            proc.wait(10)
            shutil.rmtree(data, ignore_errors=True)

    base = cpu["baseline"]
    print()
    print("%-22s %10s %10s" % ("mode", "overhead", "spread"))
    for mode in modes[1:]:
        ratios = sorted(c / b - 1 for c, b in zip(cpu[mode], base))
        q1, q3 = ratios[len(ratios) // 4], ratios[(3 * len(ratios)) // 4]
        print("%-22s %+9.2f%% %+5.1f..%+.1f%%" % (mode, statistics.median(ratios) * 100,
                                                  q1 * 100, q3 * 100))
    print("(overhead: median over rounds of CPU / the round's baseline CPU - 1; "
          "spread: middle half of the rounds)")
    if "agent" in modes:
        # The threads' clocks also ran during the unmeasured warm-up, so
        # their cost is taken per tick, then at --rate ticks a second.
        per_tick = statistics.median(st["own_cpu"] / max(1, st["ticks"]) for st in stats_agent)
        print("agent's own threads (their CPU clocks: the direct cost): %.0f us per tick, "
              "%.2f%% of a core at %d Hz" % (per_tick * 1e6, per_tick * args.rate * 100, args.rate))
    print("one push of a 10 s window (%d pushed, %d dropped): %.2f ms of CPU, "
          "%.3f%% of 10 s of a busy core"
          % (push_stats["pushes"], push_stats["pushes_dropped"], push * 1000, push / 10 * 100))


if __name__ == "__main__":
    main()
