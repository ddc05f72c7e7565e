"""The program `ember spy` is tested on: a busy main thread that spends
three quarters of its time in busy_heavy and one quarter in busy_light
(the same loop, over the same numbers, three times and once),
a thread that sleeps, and a thread parked a few calls deep with known
locals.

Once every thread is in place it writes, to the file named by its first
argument, what Python itself says about the parked and sleeping threads
(native thread id, and per frame, innermost first: qualified name, file
name and line, as frame objects report them), then "ready".

Lines marked "# spy:" are looked up by the tests.
"""

import json
import os
import sys
import threading
import time

UNIT = 20000


def busy_heavy(n):
    total = 0
    for _ in range(3):
        for i in range(n):  # spy:heavy-loop
            total += i & 7
    return total


def busy_light(n):
    total = 0
    for _ in range(1):
        for i in range(n):  # spy:light-loop
            total += i & 7
    return total


def sleeper():
    while True:
        time.sleep(3600)  # spy:sleep


class Parker:
    def inner_wait(self, ev, count, label, ratio, flag, nothing, raw):
        ev.wait()  # spy:inner-wait


def parked(ev):
    Parker().inner_wait(ev, 42, "parked here", 1.5, True, None, b"\x00ab")  # spy:parked-call


def frames_of(ident):
    """Python's own view of a thread: innermost first."""
    out = []
    f = sys._current_frames()[ident]
    while f is not None:
        code = f.f_code
        out.append([getattr(code, "co_qualname", code.co_name), code.co_filename, f.f_lineno])
        f = f.f_back
    return out


def main():
    report = sys.argv[1] if len(sys.argv) > 1 else None
    ev = threading.Event()
    t_sleep = threading.Thread(target=sleeper, name="sleeper", daemon=True)
    t_park = threading.Thread(target=parked, args=(ev,), name="parked", daemon=True)
    t_sleep.start()
    t_park.start()
    time.sleep(0.3)  # both are in their wait by now
    if report:
        info = {"pid": os.getpid(), "main": threading.get_native_id(),
                "sleeper": {"tid": t_sleep.native_id, "frames": frames_of(t_sleep.ident)},
                "parked": {"tid": t_park.native_id, "frames": frames_of(t_park.ident)}}
        with open(report + ".tmp", "w") as f:
            json.dump(info, f)
        os.rename(report + ".tmp", report)
    while True:
        busy_heavy(UNIT)  # spy:call-heavy
        busy_light(UNIT)  # spy:call-light


if __name__ == "__main__":
    main()
