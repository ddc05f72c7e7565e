#!/usr/bin/env python3
"""`ember spy dump` against target.py under every interpreter found
(spylib.pythons): every thread is shown; the sleeping and parked threads
exactly as Python itself reports their frames (qualified name, file,
line); the busy thread in one of its two busy functions, on a line of that
function; --locals shows the parked frame's simple values."""

import re
import sys
import os
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import spylib  # noqa: E402


def threads_of(dump):
    """{tid: (header, [(qualname, file, line)])} of a dump."""
    out, tid = {}, None
    for line in dump.splitlines():
        m = re.match(r"Thread (\d+) \((.*)\)", line)
        if m:
            tid = int(m.group(1))
            out[tid] = (line, [])
            continue
        m = re.match(r"    (\S.*) \((.*):(\d+|\?)\)$", line)
        if m and tid is not None:
            out[tid][1].append([m.group(1), m.group(2), int(m.group(3)) if m.group(3) != "?" else -1])
    return out


class DumpTest(unittest.TestCase):
    def test_dump_shows_every_thread_with_its_function_and_line(self):
        marks = spylib.markers()
        for label, argv, _ in spylib.pythons():
            with self.subTest(python=label), spylib.Target(argv) as t:
                status, out, err = spylib.ember("spy", "dump", "--pid", str(t.pid))
                self.assertEqual(status, 0, err)
                self.assertIn("Process %d:" % t.pid, out)
                threads = threads_of(out)
                info = t.info
                self.assertEqual(set(threads), {info["main"], info["sleeper"]["tid"],
                                                info["parked"]["tid"]}, out)
                # Threads that do not move: exactly what Python says.
                for name in ("sleeper", "parked"):
                    head, frames = threads[info[name]["tid"]]
                    self.assertEqual(frames, info[name]["frames"], out)
                    self.assertIn("idle", head)
                    self.assertTrue(head.endswith(': "%s"' % name), head)
                parked = {f[0]: f for f in threads[info["parked"]["tid"]][1]}
                self.assertEqual(parked["Parker.inner_wait"][2], marks["inner-wait"])
                self.assertEqual(parked["parked"][2], marks["parked-call"])
                self.assertEqual(threads[info["sleeper"]["tid"]][1][0][2], marks["sleep"])
                # The busy thread: in one of its busy functions, on one of its lines.
                head, frames = threads[info["main"]]
                self.assertIn("MainThread", head)
                leaf, caller, top = frames[0], frames[1], frames[-1]
                self.assertIn(leaf[0], ("busy_heavy", "busy_light"), out)
                self.assertIn(leaf[2], spylib.function_lines(leaf[0]))
                self.assertEqual(leaf[1], spylib.TARGET)
                self.assertEqual(caller[0], "main")
                self.assertIn(caller[2], (marks["call-heavy"], marks["call-light"]))
                self.assertEqual(top[0], "<module>")

    def test_locals_show_simple_values(self):
        for label, argv, _ in spylib.pythons():
            with self.subTest(python=label), spylib.Target(argv) as t:
                status, out, err = spylib.ember("spy", "dump", "--pid", str(t.pid), "--locals")
                self.assertEqual(status, 0, err)
                section = out[out.index("Parker.inner_wait"):]
                section = section[:section.index("\n    parked (") + 1]
                for want in ("count = 42", "label = 'parked here'", "ratio = 1.5",
                             "flag = True", "nothing = None", "raw = b'\\x00ab'"):
                    self.assertIn("        " + want + "\n", section)
                self.assertRegex(section, r"        self = <Parker object at 0x[0-9a-f]+>")
                self.assertRegex(section, r"        ev = <Event object at 0x[0-9a-f]+>")

    def test_a_process_that_is_not_python_is_refused_in_one_line(self):
        import subprocess
        p = subprocess.Popen(["sleep", "60"])
        try:
            status, out, err = spylib.ember("spy", "dump", "--pid", str(p.pid))
        finally:
            p.kill()
            p.wait()
        self.assertEqual(status, 1)
        self.assertEqual(err.count("\n"), 1, err)
        self.assertIn("not a Python program", err)

    def test_a_missing_process_is_refused(self):
        status, out, err = spylib.ember("spy", "dump", "--pid", "999999999")
        self.assertIn(status, (1, 2))
        self.assertEqual(err.count("\n"), 1, err)

    def test_usage_errors_exit_2(self):
        for args in (["spy"], ["spy", "dump"], ["spy", "dump", "--pid", "x"],
                     ["spy", "dump", "--pid", "1", "--rate", "5"], ["spy", "frob"],
                     ["spy", "record", "--pid", "1"],
                     ["spy", "record", "--pid", "1", "-o", "x.png"],
                     ["spy", "record", "--pid", "1", "--app", "bad app{"]):
            status, out, err = spylib.ember(*args)
            self.assertEqual(status, 2, (args, err))
            self.assertTrue(err.strip(), args)


if __name__ == "__main__":
    spylib.main()
