#!/usr/bin/env python3
"""`ember spy record` against target.py under every interpreter found
(spylib.pythons): pushed to the real server, the busy thread's two
functions keep the 3:1 proportion of the work they do, within 0.07 either
way (about three standard deviations of 600 samples); the sleeping and
parked threads count only with --idle; -o writes folded text and SVG;
`-- COMMAND` starts the program itself; --subprocesses follows a child."""

import os
import re
import subprocess
import sys
import tempfile
import textwrap
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import spylib  # noqa: E402

TOLERANCE = 0.07
BUSY = ("busy_heavy", "busy_light")


def waiting(stacks):
    """Samples of the sleeping and parked threads."""
    return sum(c for f, c in stacks
               if any(":sleeper (" in x or ":parked (" in x for x in f))


class RecordTest(unittest.TestCase):
    def test_record_pushes_shares_that_match_the_work(self):
        with spylib.Server() as server:
            for n, (label, argv, version) in enumerate(spylib.pythons()):
                with self.subTest(python=label), spylib.Target(argv) as t:
                    app = "spytest%d{python=%s,case=record}" % (n, version)
                    status, out, err = spylib.ember(
                        "spy", "record", "--pid", str(t.pid), "--server", server.url,
                        "--app", app, "--duration", "7")
                    self.assertEqual(status, 0, err)
                    self.assertRegex(err, r"\d+ pushes sent, 0 dropped")
                    stacks = spylib.folded_counts(
                        server.collapsed('spytest%d.cpu{case="record"}' % n))
                    heavy, total = spylib.share(stacks, "busy_heavy", BUSY)
                    self.assertGreater(total, 300, stacks)
                    self.assertAlmostEqual(heavy, 0.75, delta=TOLERANCE, msg=stacks)
                    # Frames are named as the Python agent names them.
                    names = {f for s, _ in stacks for f in s}
                    self.assertIn("target:busy_heavy (target.py:%d)"
                                  % spylib.function_lines("busy_heavy")[0], names)
                    self.assertIn("target:<module> (target.py:1)", names)
                    # Without --idle, waiting threads are left out.
                    self.assertEqual(waiting(stacks), 0, stacks)
                    labels = server.get("/labels", query="spytest%d.cpu{}" % n)
                    self.assertIn('"python"', labels)

    def test_idle_adds_the_waiting_threads(self):
        for label, argv, _ in spylib.pythons():
            with self.subTest(python=label), spylib.Target(argv) as t, \
                    tempfile.TemporaryDirectory() as d:
                out = {}
                for mode in ("plain", "idle"):
                    path = os.path.join(d, mode + ".folded")
                    args = ["spy", "record", "--pid", str(t.pid), "-o", path, "-d", "3"]
                    status, _, err = spylib.ember(*args + (["--idle"] if mode == "idle" else []))
                    self.assertEqual(status, 0, err)
                    out[mode] = spylib.folded_counts(spylib.read(path))
                plain_total = sum(c for _, c in out["plain"])
                idle_total = sum(c for _, c in out["idle"])
                self.assertEqual(waiting(out["plain"]), 0)
                # With --idle each of the two waiting threads is in every
                # sample, as is the busy one: two thirds of the samples.
                self.assertAlmostEqual(waiting(out["idle"]) / idle_total, 2 / 3, delta=0.05)
                self.assertGreater(plain_total, 100)

    def test_threads_gives_each_thread_a_root_frame(self):
        label, argv, _ = spylib.pythons()[0]
        with spylib.Target(argv) as t, tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "t.folded")
            status, _, err = spylib.ember("spy", "record", "--pid", str(t.pid), "-o", path,
                                          "-d", "2", "--threads", "--idle")
            self.assertEqual(status, 0, err)
            roots = {f[0] for f, _ in spylib.folded_counts(spylib.read(path))}
            self.assertEqual(roots, {"thread %d (MainThread)" % t.info["main"],
                                     "thread %d" % t.info["sleeper"]["tid"],
                                     "thread %d" % t.info["parked"]["tid"]})

    def test_svg_output_is_a_flame_graph(self):
        label, argv, _ = spylib.pythons()[0]
        with spylib.Target(argv) as t, tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "profile.svg")
            status, _, err = spylib.ember("spy", "record", "--pid", str(t.pid), "-o", path,
                                          "-d", "2")
            self.assertEqual(status, 0, err)
            svg = spylib.read(path)
            self.assertTrue(svg.startswith("<?xml"))
            self.assertIn("target:busy_heavy", svg)
            self.assertTrue(svg.rstrip().endswith("</svg>"))

    def test_command_is_started_profiled_and_stopped(self):
        for label, argv, _ in spylib.pythons():
            with self.subTest(python=label), tempfile.TemporaryDirectory() as d:
                path = os.path.join(d, "run.folded")
                status, _, err = spylib.ember("spy", "record", "-o", path, "-d", "3", "--",
                                              *argv, spylib.TARGET)
                self.assertEqual(status, 0, err)
                stacks = spylib.folded_counts(spylib.read(path))
                heavy, total = spylib.share(stacks, "busy_heavy", BUSY)
                self.assertGreater(total, 50, err)
                self.assertAlmostEqual(heavy, 0.75, delta=0.15)

    def test_a_program_that_exits_ends_the_recording(self):
        label, argv, _ = spylib.pythons()[0]
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "short.folded")
            script = os.path.join(d, "short.py")
            with open(script, "w") as f:
                f.write("import time\nend = time.time() + 1\nwhile time.time() < end:\n    pass\n")
            status, _, err = spylib.ember("spy", "record", "-o", path, "--", *argv, script,
                                          timeout=60)
            self.assertEqual(status, 0, err)
            self.assertIn("exited", err)
            self.assertIn("short:<module> (short.py:1)", spylib.read(path))

    def test_subprocesses_are_followed(self):
        label, argv, _ = spylib.pythons()[0]
        with tempfile.TemporaryDirectory() as d:
            parent = os.path.join(d, "parent.py")
            with open(parent, "w") as f:
                f.write(textwrap.dedent("""\
                    import subprocess, sys, time
                    child = subprocess.Popen([sys.executable, %r])
                    time.sleep(4)
                    child.kill()
                    child.wait()
                    """ % spylib.TARGET))
            path = os.path.join(d, "sub.folded")
            status, _, err = spylib.ember("spy", "record", "-o", path, "--subprocesses", "--",
                                          argv[0], parent)
            self.assertEqual(status, 0, err)
            stacks = spylib.folded_counts(spylib.read(path))
            roots = {f[0] for f, _ in stacks}
            self.assertTrue(any(re.match(r"process \d+ \(.*target\.py", r) for r in roots), roots)
            self.assertTrue(any(":busy_heavy (" in f[-1] for f, _ in stacks))

    def test_a_server_that_refuses_the_token_fails_the_run(self):
        label, argv, _ = spylib.pythons()[0]
        with tempfile.TemporaryDirectory() as d, spylib.Target(argv) as t:
            tokens = os.path.join(d, "tokens")
            with open(tokens, "w") as f:
                f.write("good-token ingest\n")
            os.chmod(tokens, 0o600)
            server = subprocess.Popen([spylib.EMBER, "serve", "--listen", "127.0.0.1:0",
                                       "--data", os.path.join(d, "data"),
                                       "--auth-token-file", tokens],
                                      stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
            try:
                url = re.search(r"(http://\S+)", server.stdout.readline()).group(1)
                status, _, err = spylib.ember("spy", "record", "--pid", str(t.pid), "--server",
                                              url, "--app", "spytoken", "-d", "1",
                                              env={"EMBER_TOKEN": "wrong-token"})
                self.assertEqual(status, 1, err)
                self.assertIn("401", err)
                status, _, err = spylib.ember("spy", "record", "--pid", str(t.pid), "--server",
                                              url, "--app", "spytoken", "-d", "1",
                                              env={"EMBER_TOKEN": "good-token"})
                self.assertEqual(status, 0, err)
            finally:
                server.terminate()
                server.wait()
                server.stdout.close()


if __name__ == "__main__":
    spylib.main()
