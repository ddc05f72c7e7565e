"""The sampler (ember_agent/_sampler.py): CPU accounting, tags, windows,
its own thread left out, and errors that must not stop it."""

from __future__ import annotations

import logging
import sys
import threading
import time
import unittest

import support  # noqa: F401
from ember_agent import tag_wrapper
from ember_agent._sampler import Sampler, cpu_clocks_work

log = logging.getLogger("ember_agent.test")


def busy_leaf(seconds):
    end = time.thread_time() + seconds
    x = 0
    while time.thread_time() < end:
        x += 1
    return x


def busy_worker(seconds, tags, out, done, release):
    """Burns ``seconds`` of CPU under ``tags``, then waits, still tagged,
    until released: a thread's CPU since the last tick is counted only by
    a tick that sees it alive, and a loaded machine spaces ticks widely."""
    with tag_wrapper(tags):
        busy_leaf(seconds)
        out["cpu"] = time.thread_time()  # all the thread's CPU so far
        done.set()
        release.wait()


def run_workers(sampler, specs):
    """One busy_worker per (seconds, tags); ticks every 10 ms until all
    are done, and once more while they live. Returns their outs."""
    release = threading.Event()
    outs = [{} for _ in specs]
    dones = [threading.Event() for _ in specs]
    threads = [threading.Thread(target=busy_worker, args=(sec, tags, out, done, release))
               for (sec, tags), out, done in zip(specs, outs, dones)]
    for t in threads:
        t.start()
    try:
        drive(sampler, lambda: all(d.is_set() for d in dones))
    finally:
        release.set()
        for t in threads:
            t.join()
    return outs


def totals_by_tags(sampler):
    return {tags: sum(s.values()) for tags, s in sampler._counts.items()}


class FakeClock:
    def __init__(self, now):
        self.now = now

    def __call__(self):
        return self.now


def drive(sampler, until, interval=0.01):
    """Calls tick() every interval until until() is true."""
    while not until():
        sampler.tick()
        time.sleep(interval)
    sampler.tick()


def by_function(sampler):
    """{leaf function: samples} over every tag set counted so far."""
    out = {}
    for stacks in sampler._counts.values():
        for stack, n in stacks.items():
            leaf = support.frame_function(stack[-1])
            out[leaf] = out.get(leaf, 0) + n
    return out


@unittest.skipUnless(cpu_clocks_work(), "per-thread CPU clocks need Linux")
class CpuAccountingTest(unittest.TestCase):
    def new_sampler(self):
        return Sampler(100, 10, lambda w: None, log,
                       exclude_idents={threading.get_ident()})

    def test_a_busy_thread_earns_its_cpu_time_in_samples(self):
        sampler = self.new_sampler()
        out, = run_workers(sampler, [(0.4, {"test": "busy"})])
        earned = totals_by_tags(sampler).get((("test", "busy"),), 0)
        # 100 samples per CPU second; at most one is still being carried
        # as a fraction.
        self.assertAlmostEqual(earned, out["cpu"] * 100, delta=2)
        self.assertGreater(earned, 30)
        # Most of it where the CPU went (the last tick may find the thread
        # already waiting, and credit the rest to that stack).
        self.assertGreater(by_function(sampler).get("busy_leaf", 0), 0.7 * earned)

    def test_an_idle_thread_earns_nothing(self):
        sampler = self.new_sampler()
        stop = threading.Event()
        t = threading.Thread(target=stop.wait, args=(5,))
        t.start()
        try:
            deadline = time.monotonic() + 0.2
            drive(sampler, lambda: time.monotonic() > deadline)
        finally:
            stop.set()
            t.join()
        self.assertEqual(by_function(sampler).get("wait", 0), 0)
        self.assertGreaterEqual(sampler.stats["ticks"], 10)

    def test_samples_are_counted_per_tag_set(self):
        sampler = self.new_sampler()
        car, bike = run_workers(sampler, [(0.2, {"vehicle": "car"}), (0.1, {"vehicle": "bike"})])
        totals = totals_by_tags(sampler)
        self.assertAlmostEqual(totals.get((("vehicle", "car"),), 0), car["cpu"] * 100, delta=2)
        self.assertAlmostEqual(totals.get((("vehicle", "bike"),), 0), bike["cpu"] * 100, delta=2)


class SamplerTest(unittest.TestCase):
    def test_wall_clock_mode_counts_every_thread_every_tick(self):
        sampler = Sampler(100, 10, lambda w: None, log, cpu_time=False)
        for _ in range(5):
            sampler.tick()
        self.assertFalse(sampler.cpu_time)
        self.assertEqual(sampler.stats["samples"], 5 * len(sys._current_frames()))

    def test_excluded_threads_are_never_sampled(self):
        sampler = Sampler(100, 10, lambda w: None, log, cpu_time=False,
                          exclude_idents={threading.get_ident()})
        sampler.tick()
        self.assertEqual(sampler.stats["samples"], len(sys._current_frames()) - 1)
        sampler.start()
        try:
            self.assertIn(sampler.ident(), sampler.exclude)
        finally:
            sampler.stop()

    def test_windows_are_aligned_to_the_upload_interval(self):
        clock = FakeClock(1000.5)
        windows = []
        sampler = Sampler(100, 10, windows.append, log, cpu_time=False, wall_clock=clock)
        sampler.start()
        try:
            _wait_for(lambda: sampler.stats["samples"] > 0)
            clock.now = 1010.2
            _wait_for(lambda: len(windows) == 1)
            clock.now = 1035.0   # the sampler was late past a whole window
            _wait_for(lambda: len(windows) == 2)
            clock.now = 1036.4
        finally:
            sampler.stop()
        self.assertEqual([(w.start, w.end) for w in windows],
                         [(1000, 1010), (1010, 1020), (1030, 1037)])
        self.assertTrue(all(w.total() > 0 for w in windows))

    def test_stop_hands_over_the_last_partial_window(self):
        windows = []
        sampler = Sampler(100, 3600, windows.append, log, cpu_time=False)
        sampler.start()
        _wait_for(lambda: sampler.stats["samples"] > 0)
        sampler.stop()
        self.assertEqual(len(windows), 1)
        self.assertLessEqual(windows[0].end - windows[0].start, 3600)
        self.assertEqual(windows[0].total(), sampler.stats["samples"])

    def test_a_failing_tick_is_logged_once_and_sampling_goes_on(self):
        sampler = Sampler(100, 10, lambda w: None, log, cpu_time=False)

        def broken(frame):
            raise RuntimeError("broken on purpose")
        sampler.folder.fold = broken
        with self.assertLogs("ember_agent.test", level="ERROR") as logs:
            sampler.start()
            _wait_for(lambda: sampler.stats["tick_errors"] >= 3)
            self.assertTrue(sampler._thread.is_alive())
            sampler.stop()
        self.assertEqual(len(logs.records), 1)


def _wait_for(cond, timeout=5.0):
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met within %.0f s" % timeout)
        time.sleep(0.005)


if __name__ == "__main__":
    unittest.main()
