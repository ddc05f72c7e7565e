#!/usr/bin/env python3
"""The CI regression gate on a real program: a small Python benchmark run
under `ember spy record`, once as it is, once with a deliberate slowdown in
one function (five times its work), and once more as it is. Each run is
pushed with `ember push` under its own commit tag, and `ember diff
--server --fail-above 15` trips on the slow build, naming that function
first, and passes the rerun of the fast one. The offline diff of the same
files agrees."""

import json
import os
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import spylib  # noqa: E402

SECONDS = 6
FAIL_ABOVE = "15"

# The benchmark the CI examples profile (examples/ci): SLOW_PARSE=5 makes
# parse() do five times its work. The margins, with about 600 samples a
# run: the slow build moves parse by about 35 points, a rerun moves any
# function by a few (one standard deviation of the difference is about 3).
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))))
BENCH = os.path.join(ROOT, "examples", "ci", "bench.py")


def leaf_function(name):
    """'bench:parse (bench.py:3)' -> 'parse'."""
    return name.split(":", 1)[-1].split(" (", 1)[0]


class GateTest(unittest.TestCase):
    def test_the_gate_trips_on_the_slow_build_and_passes_a_rerun(self):
        _, argv, _ = spylib.pythons()[0]
        with spylib.Server() as server, tempfile.TemporaryDirectory() as d:
            runs = (("fast", "1", "a1"), ("slow", "5", "b2"), ("rerun", "1", "c3"))
            files = {}
            for label, slow, commit in runs:
                path = os.path.join(d, label + ".folded")
                status, _, err = spylib.ember("spy", "record", "-o", path, "--", *argv, BENCH,
                                              str(SECONDS), env={"SLOW_PARSE": slow})
                self.assertEqual(status, 0, err)
                status, _, err = spylib.ember("push", "--server", server.url, "--app",
                                              "bench.cpu{commit=%s,branch=ci}" % commit, path)
                self.assertEqual(status, 0, err)
                files[label] = path

            def diff(base, head):
                status, out, err = spylib.ember(
                    "diff", "--server", server.url, "--fail-above", FAIL_ABOVE,
                    "--min-share", "1", "--format", "json", "--top", "0",
                    "--base", 'bench.cpu{commit="%s"}' % base,
                    "--head", 'bench.cpu{commit="%s"}' % head)
                self.assertIn(status, (0, 1), err)
                return status, json.loads(out)

            def shares(doc):
                return {leaf_function(f["name"]): f["selfShare"] for f in doc["functions"]
                        if f["selfShare"][0] or f["selfShare"][1]}

            status, slow = diff("a1", "b2")
            s = shares(slow)
            print("slow build: parse %.1f%% -> %.1f%% (%+.1f pp), render %.1f%% -> %.1f%%, "
                  "checksum %.1f%% -> %.1f%%; %d -> %d samples; exit %d"
                  % (s["parse"][0], s["parse"][1], s["parse"][1] - s["parse"][0],
                     s["render"][0], s["render"][1], s["checksum"][0], s["checksum"][1],
                     slow["base"]["total"], slow["head"]["total"], status), file=sys.stderr)
            self.assertGreater(slow["base"]["total"], 150)
            self.assertEqual(status, 1, slow)
            regressions = slow["gate"]["regressions"]
            self.assertEqual(leaf_function(regressions[0]["name"]), "parse")
            self.assertEqual(leaf_function(slow["functions"][0]["name"]), "parse")

            status, rerun = diff("a1", "c3")
            s = shares(rerun)
            print("rerun of the fast build: parse %.1f%% -> %.1f%% (%+.1f pp), largest "
                  "change %+.1f pp; exit %d"
                  % (s["parse"][0], s["parse"][1], s["parse"][1] - s["parse"][0],
                     rerun["functions"][0]["selfChangePp"], status), file=sys.stderr)
            self.assertEqual(status, 0, rerun)
            self.assertTrue(rerun["gate"]["passed"])

            # Offline, from the files alone: the same verdicts.
            status, _, err = spylib.ember("diff", "--fail-above", FAIL_ABOVE, "--min-share",
                                          "1", files["fast"], files["slow"])
            self.assertEqual(status, 1, err)
            status, _, err = spylib.ember("diff", "--fail-above", FAIL_ABOVE, "--min-share",
                                          "1", files["fast"], files["rerun"])
            self.assertEqual(status, 0, err)


if __name__ == "__main__":
    spylib.main()
