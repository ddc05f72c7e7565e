"""The ride-sharing story, end to end: run.sh in its fast mode against a
fresh Ember for about 30 s, then everything the story needs, asked through
the HTTP API.

eu-north's lock contention is on in the 10 s periods whose number
(Unix time // 10) is odd, exactly Ember's 10 s buckets, so the test knows
which bucket is "on" and which is "off".
"""

from __future__ import annotations

import math
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.error
import urllib.request

from support import EmberServer, PY_ROOT, ember_bin, flame_nodes, frame_function

RUN_SH = os.path.join(PY_ROOT, "rideshare", "run.sh")
APP = "ride-sharing-app.cpu"
PERIOD = 10


def lock_on(bucket_start):
    return (bucket_start // PERIOD) % 2 == 1


def report(msg, *args):
    print("rideshare: " + msg % args, file=sys.stderr, flush=True)


def start_run_sh(env_extra, args=("--fast", "--clean")):
    # Two requests a second per region keep eu-north's busiest periods at
    # about a sixth of a core, so the story holds on a loaded machine too.
    env = dict(os.environ, RIDESHARE_PORT="0", PYTHON=sys.executable, LOAD_RATE="2",
               **env_extra)
    # SIGINT back to its default, in case this test was started with it
    # ignored (as background jobs are): run.sh must be able to trap it.
    proc = subprocess.Popen(["bash", RUN_SH] + list(args), stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, env=env,
                            start_new_session=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    lines = []
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        lines.append(line)
        if line.startswith("Press Ctrl-C"):
            return proc, lines
    stop_run_sh(proc)
    raise AssertionError("run.sh did not come up:\n" + "".join(lines))


def stop_run_sh(proc):
    """Ctrl-C, as a person would; returns run.sh's exit status."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    proc.stdout.close()
    return proc.returncode


def urls_in(lines, label):
    for line in lines:
        if line.strip().startswith(label):
            return line.split(":", 1)[1].split()
    return []


def answers(url):
    try:
        with urllib.request.urlopen(url, timeout=2) as resp:
            return resp.status
    except (urllib.error.URLError, OSError):
        return None


class RideshareStoryTest(unittest.TestCase):
    """One 30 s run; each test asks one question of the data it left."""

    @classmethod
    def setUpClass(cls):
        cls.ember = EmberServer()
        try:
            proc, lines = start_run_sh({"EMBER_URL": cls.ember.url})
            up = time.time()
            # Two whole 10 s buckets after everything is up: one with
            # eu-north's lock contention on, one with it off.
            cls.first = int(math.ceil(up / PERIOD)) * PERIOD
            cls.end = cls.first + 2 * PERIOD
            time.sleep(max(0.0, cls.end - time.time() + 0.5))
            cls.status = stop_run_sh(proc)
            cls.output = "".join(lines)
            cls.start = int(up) // PERIOD * PERIOD
            report("ran %.1f s; full buckets %d and %d", time.time() - up,
                   cls.first, cls.first + PERIOD)
        except BaseException:
            cls.ember.stop()
            raise

    @classmethod
    def tearDownClass(cls):
        cls.ember.stop()

    def render(self, selector, start=None, until=None):
        return self.ember.get("/render", query=APP + selector, maxNodes=-1,
                              **{"from": start or self.start, "until": until or self.end + PERIOD})

    def test_run_sh_stops_cleanly_on_ctrl_c(self):
        self.assertEqual(self.status, 130, self.output)

    def test_region_and_vehicle_labels_list_the_right_values(self):
        labels = self.ember.get("/labels", query=APP + "{}")
        self.assertEqual(labels[0], "__name__")
        self.assertIn("region", labels)
        self.assertIn("vehicle", labels)
        self.assertEqual(self.ember.get("/label-values", label="region", query=APP + "{}"),
                         ["ap-south", "eu-north", "us-east"])
        self.assertEqual(self.ember.get("/label-values", label="vehicle", query=APP + "{}"),
                         ["bike", "car", "scooter"])
        apps = self.ember.get("/api/apps")
        self.assertEqual([(a["name"], a["spyName"], a["sampleRate"]) for a in apps],
                         [(APP, "emberpy", 100)])

    def test_order_car_is_the_widest_child_of_the_request_handler(self):
        nodes = flame_nodes(self.render("{}")["flamebearer"])
        orders = [n for n in nodes if frame_function(n["name"]).startswith("order_")]
        parents = {id(n["parent"]): n["parent"] for n in orders}
        self.assertEqual(len(parents), 1, "all orders under one handler frame")
        parent = next(iter(parents.values()))
        self.assertIn("do_GET", parent["name"])
        children = sorted((n for n in nodes if n["parent"] is parent),
                          key=lambda n: n["total"], reverse=True)
        widths = {frame_function(n["name"]): n["total"] for n in children}
        report("children of %s: %s", parent["name"], widths)
        self.assertEqual(frame_function(children[0]["name"]), "order_car")
        self.assertGreater(widths["order_car"], widths["order_scooter"])
        self.assertGreater(widths["order_scooter"], widths["order_bike"])
        self.assertGreater(widths["order_bike"], 0)

    def test_the_vehicle_tag_selects_only_that_vehicles_requests(self):
        for vehicle in ("bike", "scooter", "car"):
            nodes = flame_nodes(self.render('{vehicle="%s"}' % vehicle)["flamebearer"])
            orders = {}
            for n in nodes:
                name = frame_function(n["name"])
                if name.startswith("order_"):
                    orders[name] = orders.get(name, 0) + n["total"]
            mine = orders.pop("order_" + vehicle, 0)
            report("vehicle=%s: order_%s %d, other orders %s", vehicle, vehicle, mine, orders)
            self.assertGreater(mine, 0)
            self.assertLessEqual(sum(orders.values()), 0.02 * mine)

    def test_only_eu_north_shows_mutex_lock(self):
        # Over the two whole buckets: one with the lock contention, one without
        # (until is the last second read, and its bucket counts).
        for region in ("eu-north", "us-east", "ap-south"):
            fb = self.render('{region="%s"}' % region, self.first, self.end - 1)["flamebearer"]
            mutex = sum(n["total"] for n in flame_nodes(fb)
                        if frame_function(n["name"]) == "mutex_lock")
            report("%s: %d samples, mutex_lock %d", region, fb["numTicks"], mutex)
            self.assertGreater(fb["numTicks"], 0)
            if region == "eu-north":
                self.assertGreater(mutex, 0.2 * fb["numTicks"])
            else:
                self.assertEqual(mutex, 0)

    def test_diff_of_an_off_and_an_on_period_shows_mutex_lock_grow(self):
        on = self.first if lock_on(self.first) else self.first + PERIOD
        off = self.first + PERIOD if on == self.first else self.first
        sel = APP + '{region="eu-north"}'
        diff = self.ember.get("/render-diff", leftQuery=sel, rightQuery=sel,
                              leftFrom=off, leftUntil=off + PERIOD - 1,
                              rightFrom=on, rightUntil=on + PERIOD - 1, maxNodes=-1)
        self.assertEqual(diff["metadata"]["format"], "double")
        nodes = flame_nodes(diff["flamebearer"], columns=7)
        left = sum(n["ltotal"] for n in nodes if frame_function(n["name"]) == "mutex_lock")
        right = sum(n["rtotal"] for n in nodes if frame_function(n["name"]) == "mutex_lock")
        lticks, rticks = diff["leftTicks"], diff["rightTicks"]
        report("diff off %d..%d vs on %d..%d: mutex_lock %d of %d -> %d of %d",
               off, off + PERIOD, on, on + PERIOD, left, lticks, right, rticks)
        self.assertGreater(lticks, 0)
        self.assertGreater(rticks, lticks)          # the region works harder
        self.assertGreater(right, left)
        self.assertGreater(right, 0.3 * rticks)     # most of the time, roughly
        self.assertLess(left, 0.1 * lticks)         # only requests crossing the edge

    def test_eu_north_timeline_alternates_with_the_lock(self):
        tl = self.render('{region="eu-north"}', self.first, self.end)["timeline"]
        self.assertEqual(tl["durationDelta"], PERIOD)
        self.assertEqual(tl["startTime"], self.first)
        values = dict(zip(range(self.first, self.end, PERIOD), tl["samples"]))
        on = [v for b, v in values.items() if lock_on(b)]
        off = [v for b, v in values.items() if not lock_on(b)]
        report("eu-north timeline %s", values)
        self.assertGreater(min(on), max(off))


class RunShStartsEmberTest(unittest.TestCase):
    """Without EMBER_URL, run.sh starts Ember itself and stops it too."""

    def test_run_sh_starts_ember_and_ctrl_c_stops_every_process(self):
        binary = ember_bin()
        if binary is None:
            self.skipTest("no ember binary: build it, or set EMBER_BIN")
        proc, lines = start_run_sh({"EMBER_BIN": binary, "EMBER_PORT": "0"}, ("--fast",))
        try:
            ember_url = urls_in(lines, "Open Ember")[0]
            regions = [t.split("=", 1)[1] for t in urls_in(lines, "Regions")]
            self.assertEqual(len(regions), 3, "".join(lines))
            self.assertEqual(answers(ember_url + "/healthz"), 200)
            for url in regions:
                self.assertEqual(answers(url + "/"), 200)
            logs = urls_in(lines, "Logs")[0]
            data = urls_in(lines, "Ember data")[0]
        finally:
            status = stop_run_sh(proc)
        self.assertEqual(status, 130)
        self.assertIsNone(answers(ember_url + "/healthz"))
        for url in regions:
            self.assertIsNone(answers(url + "/"))
        # Without --clean, the logs it printed and Ember's data stay.
        try:
            for name in ("ember.log", "us-east.log", "eu-north.log", "ap-south.log",
                         "load.log"):
                self.assertTrue(os.path.isfile(os.path.join(logs, name)), name)
            self.assertTrue(os.path.isfile(os.path.join(data, "ember.db")))
        finally:
            shutil.rmtree(os.path.dirname(logs), ignore_errors=True)


class RunShPortTest(unittest.TestCase):
    """When Ember's port is taken, run.sh says how to pick another."""

    def test_a_taken_port_names_listen_and_ember_url(self):
        binary = ember_bin()
        if binary is None:
            self.skipTest("no ember binary: build it, or set EMBER_BIN")
        taken = socket.socket()
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        tmp = tempfile.mkdtemp(prefix="rideshare-test-")
        try:
            env = dict(os.environ, EMBER_BIN=binary, TMPDIR=tmp, PYTHON=sys.executable)
            for args, extra in ((["--listen", "127.0.0.1:%d" % port], {}),
                                ([], {"EMBER_PORT": str(port)})):
                run = subprocess.run(["bash", RUN_SH, "--clean"] + args, env=dict(env, **extra),
                                     capture_output=True, text=True, timeout=120)
                self.assertEqual(run.returncode, 1, run.stderr)
                self.assertIn("Address already in use", run.stderr)
                self.assertIn("--listen 127.0.0.1:PORT", run.stderr)
                self.assertIn("EMBER_URL=", run.stderr)
                # --clean removed the run's directory, logs and all.
                self.assertEqual(os.listdir(tmp), [])
            run = subprocess.run(["bash", RUN_SH, "--listen", "127.0.0.1:%d" % port], env=env,
                                 capture_output=True, text=True, timeout=120)
            self.assertEqual(run.returncode, 1, run.stderr)
            # Without it, the logs stay, and the last line says where.
            kept = os.listdir(tmp)
            self.assertEqual(len(kept), 1)
            self.assertIn(os.path.join(tmp, kept[0], "logs"), run.stderr.splitlines()[-1])
            self.assertTrue(os.path.isfile(os.path.join(tmp, kept[0], "logs", "ember.log")))
            # Ember never started, so it made no data.
            self.assertFalse(os.path.exists(os.path.join(tmp, kept[0], "data")))
        finally:
            taken.close()
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    unittest.main()
