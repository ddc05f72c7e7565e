"""The sampler thread: reads every thread's stack at the sample rate and
counts stacks per tag set, in windows aligned to the upload interval.

How samples are counted. A tick sees every thread's Python stack
(``sys._current_frames()``), but not whether the thread is running or
blocked in ``recv``/``sleep``/``select``: both look the same. So on Linux
each tick also reads each thread's CPU clock, and a thread earns samples for
the CPU it used since the last tick: ``sample_rate`` samples per CPU second,
fractions carried to the next tick. The stack seen at the tick gets them.
An idle thread earns nothing and its stack is not even walked, so a server
with many idle threads costs little per tick, and the flame graph's values
are CPU time (at 100 Hz one sample is 10 ms of CPU).

Where per-thread CPU clocks are not available (not Linux), every thread
earns one sample per tick: the profile is then wall-clock time of all
threads, idle ones included.

Windows. Samples are counted into windows whose edges are multiples of the
upload interval in Unix time (with the default 10 s, exactly Ember's
storage buckets), so one push fills exactly one bucket and a tag's on/off
periods line up with the server's timeline.

Invariants:
1. Only the sampler thread touches ``_counts``, ``_threads`` and the window
   edges; a finished window is handed over whole, never shared.
2. The agent's own threads (sampler, pusher) are never sampled.
3. The loop never raises: an error in a tick is logged once and counted,
   and sampling goes on.
"""

from __future__ import annotations

import logging
import math
import sys
import threading
import time

from . import _tags
from ._frames import Folder

# Linux ABI (see clock_getcpuclockid(3) and the kernel's posix-cpu-timers):
# the CPU clock of thread TID is ((~TID) << 3) | CPUCLOCK_PERTHREAD_MASK(4)
# | CPUCLOCK_SCHED(2). Built from the thread's native id, reading it is safe
# even if the thread has exited meanwhile: the kernel answers EINVAL.
_PERTHREAD_SCHED = 6


def thread_cpu_clock(native_id: int) -> int:
    return ((~native_id) << 3) | _PERTHREAD_SCHED


def cpu_clocks_work() -> bool:
    """True when per-thread CPU clocks can be read from another thread."""
    if not sys.platform.startswith("linux") or not hasattr(time, "clock_gettime"):
        return False
    try:
        own = time.clock_gettime(thread_cpu_clock(threading.get_native_id()))
        return own >= 0.0
    except (OSError, AttributeError, OverflowError):
        return False


class Window:
    """Samples of [start, end) in Unix seconds: {tags: {stack: count}}."""

    __slots__ = ("start", "end", "counts")

    def __init__(self, start: int, end: int, counts: dict):
        self.start = start
        self.end = end
        self.counts = counts

    def total(self) -> int:
        return sum(sum(stacks.values()) for stacks in self.counts.values())


class _ThreadState:
    __slots__ = ("clock", "cpu", "carry")

    def __init__(self, clock, cpu):
        self.clock = clock   # CPU clock id, or None: count wall-clock ticks
        self.cpu = cpu       # CPU seconds at the last tick
        self.carry = 0.0     # samples earned but not yet whole


class Sampler:
    """Samples the process's threads from a daemon thread.

    ``on_window(window)`` is called from the sampler thread with each
    finished window that holds samples; it must not block.
    """

    def __init__(self, sample_rate: int, upload_interval: int, on_window,
                 logger: logging.Logger, cpu_time: bool = True,
                 max_depth: int = 512, wall_clock=time.time,
                 exclude_idents=()):
        self.sample_rate = sample_rate
        self.upload_interval = upload_interval
        self.on_window = on_window
        self.log = logger
        self.cpu_time = bool(cpu_time) and cpu_clocks_work()
        self.folder = Folder(max_depth=max_depth)
        self.wall_clock = wall_clock
        self.exclude = set(exclude_idents)
        self.stats = {"ticks": 0, "samples": 0, "tick_errors": 0, "windows": 0}
        self._counts: dict = {}
        self._threads: dict = {}
        self._native_ids: dict = {}
        self._stop = threading.Event()
        self._thread = None
        self._window_start = 0
        self._window_end = 0
        self._tick_error_logged = False

    # -- lifecycle ---------------------------------------------------------

    def start(self) -> None:
        now = self.wall_clock()
        self._window_start = int(now)
        self._window_end = self._edge_after(now)
        self._baseline()
        self._thread = threading.Thread(target=self._run, name="ember-sampler",
                                        daemon=True)
        self._thread.start()
        self.exclude.add(self._thread.ident)

    def stop(self, timeout: float = 2.0) -> None:
        """Stops sampling and hands over the last, partial window."""
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout)

    def ident(self):
        return self._thread.ident if self._thread is not None else None

    def _edge_after(self, now: float) -> int:
        step = self.upload_interval
        return (int(now) // step + 1) * step

    def _baseline(self) -> None:
        """Threads running before the agent start counting from now, not
        from their birth: their earlier CPU is not this profile's."""
        self._refresh_native_ids()
        for ident in sys._current_frames():
            state = self._new_state(ident)
            if state.clock is not None:
                state.cpu = self._read_clock(state.clock) or 0.0
            self._threads[ident] = state

    # -- the loop ----------------------------------------------------------

    def _run(self) -> None:
        self.exclude.add(threading.get_ident())
        interval = 1.0 / self.sample_rate
        next_tick = time.monotonic()
        while True:
            next_tick += interval
            delay = next_tick - time.monotonic()
            if delay < 0.0:
                # Late (the GIL was held long elsewhere): skip the missed
                # ticks instead of bursting. CPU clocks still account for
                # the time in between.
                next_tick = time.monotonic()
                delay = 0.0
            # A plain sleep costs the least per wake-up, which is most of
            # the sampler's cost; stop() is noticed within one interval.
            if delay > 0.0:
                time.sleep(delay)
            if self._stop.is_set():
                break
            self._safe_tick()
            if self.wall_clock() >= self._window_end:
                self._rotate(self.wall_clock(), final=False)
        self._safe_tick()
        self._rotate(self.wall_clock(), final=True)

    def _safe_tick(self) -> None:
        try:
            self.tick()
        except Exception:  # noqa: BLE001 - the host must never see it
            self.stats["tick_errors"] += 1
            if not self._tick_error_logged:
                self._tick_error_logged = True
                self.log.exception("ember_agent: a sampling tick failed; "
                                   "sampling goes on (further errors are "
                                   "only counted in stats())")

    def _rotate(self, now: float, final: bool) -> None:
        counts, self._counts = self._counts, {}
        start, end = self._window_start, self._window_end
        if final:
            end = min(end, max(start + 1, math.ceil(now)))
            self._window_start = self._window_end = end
        else:
            # Normally the next window starts where this one ended; if the
            # sampler slept past several edges, at the edge before now.
            step = self.upload_interval
            self._window_start = int(now) // step * step
            self._window_end = self._window_start + step
        if counts:
            self.stats["windows"] += 1
            try:
                self.on_window(Window(start, end, counts))
            except Exception:  # noqa: BLE001
                self.log.exception("ember_agent: could not hand over a window")

    # -- one tick ----------------------------------------------------------

    def tick(self) -> None:
        """Counts one sample round. Public so tests can drive it."""
        self.stats["ticks"] += 1
        frames = sys._current_frames()
        # Tags copied right after the stacks: the tick may lose the GIL
        # part way, and a thread's tags must match the stack they label.
        thread_tags = _tags.snapshot()
        threads = self._threads
        exclude = self.exclude
        rate = self.sample_rate
        for ident, frame in frames.items():
            if ident in exclude:
                continue
            state = threads.get(ident)
            if state is None:
                state = threads[ident] = self._new_state(ident)
            if state.clock is None:
                earned = 1
            else:
                cpu = self._read_clock(state.clock)
                if cpu is None:  # the thread is gone, or its id was reused
                    del threads[ident]
                    self._native_ids.pop(ident, None)
                    continue
                delta = cpu - state.cpu
                state.cpu = cpu
                if delta <= 0.0:
                    continue
                state.carry += delta * rate
                earned = int(state.carry)
                if earned == 0:
                    continue
                state.carry -= earned
            stack = self.folder.fold(frame)
            if not stack:
                continue
            tags = thread_tags.get(ident, ())
            per_tags = self._counts.get(tags)
            if per_tags is None:
                per_tags = self._counts[tags] = {}
            per_tags[stack] = per_tags.get(stack, 0) + earned
            self.stats["samples"] += earned
        self._prune_if_needed()

    def _prune_if_needed(self) -> None:
        # Forget threads that ended; cheap enough to do when the table has
        # clearly outgrown the live threads.
        if len(self._threads) > 64 and self.stats["ticks"] % 100 == 0:
            live = sys._current_frames().keys()
            for ident in [i for i in self._threads if i not in live]:
                del self._threads[ident]
            self._native_ids = {}

    def _new_state(self, ident: int) -> _ThreadState:
        if not self.cpu_time:
            return _ThreadState(None, 0.0)
        native = self._native_ids.get(ident)
        if native is None:
            self._refresh_native_ids()
            native = self._native_ids.get(ident)
        if native is None:
            # Not started through threading (rare): count wall-clock ticks.
            return _ThreadState(None, 0.0)
        # A thread first seen now started after the agent: all its CPU is
        # this profile's, so count from zero.
        return _ThreadState(thread_cpu_clock(native), 0.0)

    def _refresh_native_ids(self) -> None:
        ids = {}
        for t in threading.enumerate():
            if t.ident is not None and getattr(t, "native_id", None) is not None:
                ids[t.ident] = t.native_id
        self._native_ids = ids

    @staticmethod
    def _read_clock(clock):
        try:
            return time.clock_gettime(clock)
        except OSError:
            return None
