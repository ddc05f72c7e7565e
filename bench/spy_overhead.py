#!/usr/bin/env python3
"""Overhead of `ember spy record` on a busy, single-threaded Python
program, paired with the stdlib agent's on the same work.

    python3 bench/spy_overhead.py [--seconds 0.3] [--rounds 40] [--rate 100]
        [--modes spy,agent] [--ember URL]

The same rounds as bench/python_agent_overhead.py (and its work, about 25
frames deep, pure Python): each round runs every mode once in a shuffled
order, and a mode's overhead is the median over the rounds of (this
process's CPU in that mode / the round's baseline CPU - 1):

- baseline, baseline-again: nothing; the second measures the machine's
  noise;
- spy: `ember spy record --pid <this process>` samples it from outside at
  --rate Hz, pushing to Ember (or to a closed port: pushes then fail fast,
  which changes nothing here) - its cost to this process is what is
  measured, its own CPU is read from its summary;
- agent: the stdlib agent sampling at --rate Hz inside this process.

Each round starts its mode, lets it settle (the spy's first samples, the
agent's threads), runs a sixth of the work unmeasured, then the work.
"""

from __future__ import annotations

import argparse
import os
import random
import re
import shutil
import signal
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import python_agent_overhead as base  # noqa: E402

MODES = ("baseline", "baseline-again", "spy", "agent")
EMBER = os.environ.get("EMBER_BIN") or os.path.join(base.ROOT, "build", "ember")


class SpyRound:
    """ember spy record on this process for the length of the round."""

    def __init__(self, rate, url):
        self.rate, self.url = rate, url
        self.summary = ""

    def __enter__(self):
        self.proc = subprocess.Popen(
            [EMBER, "spy", "record", "--pid", str(os.getpid()), "--rate", str(self.rate),
             "--server", self.url, "--app", "bench-spy{bench=overhead}"],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        line = self.proc.stderr.readline()
        if "recording" not in line:
            raise SystemExit("ember spy record did not start: %s%s"
                             % (line, self.proc.stderr.read()))
        time.sleep(0.05)  # its first ticks
        return self

    def __exit__(self, *exc):
        self.proc.send_signal(signal.SIGINT)
        self.summary = self.proc.stderr.read()
        self.proc.wait()
        self.proc.stderr.close()

    def per_tick_us(self):
        m = re.search(r"sampler CPU ([\d.]+) us per tick", self.summary)
        return float(m.group(1)) if m else None

    def samples(self):
        m = re.search(r"(\d+) samples in", self.summary)
        return int(m.group(1)) if m else 0


def run_round(units, mode, options, url):
    sampler = None
    if mode == "spy":
        ctx = SpyRound(options["sample_rate"], url)
    elif mode == "agent":
        ctx = base.Round("agent", options)
    else:
        ctx = base.Round("baseline", options)
    with ctx as r:
        base.work(max(1, units // 6))
        cpu = time.process_time()
        base.work(units)
        cpu = time.process_time() - cpu
    if mode == "spy":
        sampler = (r.per_tick_us(), r.samples())
    return cpu, sampler


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--seconds", type=float, default=0.3, help="work per round (default 0.3)")
    p.add_argument("--rounds", type=int, default=40, help="rounds (default 40)")
    p.add_argument("--rate", type=int, default=100, help="samples per second (default 100)")
    p.add_argument("--ember", help="push to this Ember instead of starting one")
    p.add_argument("--modes", default="spy,agent", help="modes besides the baselines")
    args = p.parse_args()
    if not os.access(EMBER, os.X_OK):
        raise SystemExit("no ember binary at %s (build it, or set EMBER_BIN)" % EMBER)
    proc = data = None
    url = args.ember
    if url is None:
        url, proc, data = base.start_ember()
    if url is None:
        url = base.closed_port()
    options = dict(app_name="bench-python-agent", server_address=url,
                   tags={"bench": "overhead"}, sample_rate=args.rate)
    modes = list(MODES[:2]) + [m for m in args.modes.split(",") if m]
    cpu = {m: [] for m in modes}
    per_tick, samples = [], []
    try:
        units = base.calibrate(args.seconds)
        print("python %s, ember spy at %d Hz, pushing to %s" % (sys.version.split()[0],
                                                                args.rate, url))
        print("work: %d units (~%.2f s of CPU) per round, %d rounds, modes in a shuffled "
              "order each round; load average %.1f" % (units, args.seconds, args.rounds,
                                                        os.getloadavg()[0]))
        for r in range(args.rounds):
            order = list(modes)
            random.shuffle(order)
            for mode in order:
                spent, sampler = run_round(units, mode, options, url)
                cpu[mode].append(spent)
                if sampler and sampler[0] is not None:
                    per_tick.append(sampler[0])
                    samples.append(sampler[1])
            if (r + 1) % 10 == 0:
                print("  %d rounds" % (r + 1), flush=True)
    finally:
        if proc is not None:
            proc.terminate()
            proc.wait(10)
            shutil.rmtree(data, ignore_errors=True)
    b = cpu["baseline"]
    print()
    print("%-16s %10s %16s" % ("mode", "overhead", "middle half"))
    for mode in modes[1:]:
        ratios = sorted(c / x - 1 for c, x in zip(cpu[mode], b))
        q1, q3 = ratios[len(ratios) // 4], ratios[(3 * len(ratios)) // 4]
        print("%-16s %+9.2f%% %+7.2f..%+.2f%%" % (mode, statistics.median(ratios) * 100,
                                                  q1 * 100, q3 * 100))
    print("(overhead: median over rounds of this process's CPU / the round's baseline - 1)")
    if per_tick:
        t = statistics.median(per_tick)
        print("ember spy's own CPU (its summary): %.1f us per tick, median of %d runs "
              "(%.0f..%.0f), %.2f%% of a core at %d Hz; %d samples per run"
              % (t, len(per_tick), min(per_tick), max(per_tick), t * args.rate / 1e4,
                 args.rate, statistics.median(samples)))


if __name__ == "__main__":
    main()
