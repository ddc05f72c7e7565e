#!/usr/bin/env python3
"""The ride-sharing example with no agent at all (run.sh --fast --spy):
each region runs under `ember spy record`, which pushes to the real
server; after about 25 s the story of docs/getting-started.md holds
without a line of profiling code in the process: order_car costs more
than order_bike, mutex_lock shows in eu-north only, regions are tags."""

import json
import os
import signal
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import spylib  # noqa: E402

RUN_SH = os.path.join(spylib.HERE, "..", "..", "..", "examples", "python", "rideshare",
                      "run.sh")
APP = "ride-sharing-app.cpu"


def samples(stacks, fragment):
    return sum(c for f, c in stacks if any(fragment in x for x in f))


class RideshareTest(unittest.TestCase):
    def test_the_story_holds_with_no_agent(self):
        label, argv, _ = spylib.pythons()[0]
        with spylib.Server() as server:
            env = dict(os.environ, EMBER_URL=server.url, EMBER_BIN=spylib.EMBER,
                       RIDESHARE_PORT="0", PYTHON=argv[0], LOAD_RATE="2")
            proc = subprocess.Popen(["bash", RUN_SH, "--fast", "--spy"], stdout=subprocess.PIPE,
                                    stderr=subprocess.STDOUT, text=True, env=env,
                                    start_new_session=True,
                                    preexec_fn=lambda: signal.signal(signal.SIGINT,
                                                                     signal.SIG_DFL))
            lines = []
            try:
                deadline = time.time() + 90
                while time.time() < deadline:
                    line = proc.stdout.readline()
                    if not line:
                        break
                    lines.append(line)
                    if line.startswith("Press Ctrl-C"):
                        break
                self.assertTrue(lines and lines[-1].startswith("Press Ctrl-C"), "".join(lines))
                self.assertIn("ember spy record", "".join(lines))
                time.sleep(25)
            finally:
                proc.send_signal(signal.SIGINT)
                try:
                    proc.wait(60)
                except subprocess.TimeoutExpired:
                    os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait()
                rest = proc.stdout.read()
                proc.stdout.close()
            self.assertEqual(proc.returncode, 130, rest)
            apps = json.loads(server.get("/api/apps"))
            self.assertEqual([a["spyName"] for a in apps if a["name"] == APP], ["emberspy"])
            regions = json.loads(server.get("/label-values", label="region",
                                            query=APP + "{}"))
            self.assertEqual(regions, ["ap-south", "eu-north", "us-east"])
            stacks = spylib.folded_counts(server.collapsed(APP + "{}"))
            car, bike = samples(stacks, ":order_car ("), samples(stacks, ":order_bike (")
            self.assertGreater(car, 2 * bike, stacks)
            for region in regions:
                region_stacks = spylib.folded_counts(
                    server.collapsed(APP + '{region="%s"}' % region))
                locks = samples(region_stacks, ":mutex_lock (")
                if region == "eu-north":
                    self.assertGreater(locks, 0)
                else:
                    self.assertEqual(locks, 0)
            # No agent ran: its sampler and pusher threads never show.
            self.assertEqual(samples(stacks, ":Sampler._run ("), 0)
            self.assertEqual(samples(stacks, ":Pusher._run ("), 0)


if __name__ == "__main__":
    spylib.main()
