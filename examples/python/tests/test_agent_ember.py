"""The agent against a real Ember server on 127.0.0.1: what it pushes is
stored under the right series, tags and names, and reads back."""

from __future__ import annotations

import time
import unittest

from support import EmberServer, frame_function
import ember_agent
from ember_agent import tag_wrapper

APP = "py-agent-test"


def busy_car(seconds):
    end = time.thread_time() + seconds
    n = 0
    while time.thread_time() < end:
        n += 1
    return n


def busy_untagged(seconds):
    end = time.thread_time() + seconds
    n = 0
    while time.thread_time() < end:
        n += 1
    return n


class AgentAgainstEmberTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.ember = EmberServer()
        try:
            cls.agent = ember_agent.configure(APP, cls.ember.url, tags={"region": "test"},
                                              upload_interval=1)
            start = time.thread_time()
            deadline = time.monotonic() + 2.2   # at least two pushes
            cls.car_cpu = 0.0
            while time.monotonic() < deadline:
                with tag_wrapper({"vehicle": "car"}):
                    c = time.thread_time()
                    busy_car(0.05)
                    cls.car_cpu += time.thread_time() - c
                busy_untagged(0.02)
            cls.cpu = time.thread_time() - start
            ember_agent.shutdown()
            cls.stats = cls.agent.stats()
        except BaseException:
            cls.ember.stop()
            raise

    @classmethod
    def tearDownClass(cls):
        cls.ember.stop()

    def collapsed(self, selector):
        text = self.ember.get("/render", query=APP + ".cpu" + selector,
                              **{"from": "now-1h", "until": "now+1m", "format": "collapsed"})
        lines = [line.rsplit(" ", 1) for line in text.splitlines() if line]
        return [(stack.split(";"), int(n)) for stack, n in lines]

    def test_every_push_was_accepted(self):
        self.assertEqual(self.stats["pushes_dropped"], 0, self.stats["last_error"])
        self.assertGreaterEqual(self.stats["pushes"], 2)
        self.assertEqual(self.stats["samples_sent"], self.stats["samples"])

    def test_the_app_is_listed_with_the_agents_spy_name_and_rate(self):
        apps = {a["name"]: a for a in self.ember.get("/api/apps")}
        self.assertEqual(apps[APP + ".cpu"]["spyName"], "emberpy")
        self.assertEqual(apps[APP + ".cpu"]["sampleRate"], 100)

    def test_static_and_dynamic_tags_become_labels(self):
        self.assertEqual(self.ember.get("/label-values", label="region", query=APP + ".cpu{}"),
                         ["test"])
        self.assertEqual(self.ember.get("/label-values", label="vehicle", query=APP + ".cpu{}"),
                         ["car"])

    def test_tagged_samples_are_the_tagged_functions_cpu_time(self):
        car = self.collapsed('{vehicle="car"}')
        in_busy_car = sum(n for stack, n in car if frame_function(stack[-1]) == "busy_car")
        total = sum(n for _, n in car)
        # The few statements around the call may catch a sample or two.
        self.assertGreaterEqual(in_busy_car, 0.95 * total)
        self.assertAlmostEqual(total, self.car_cpu * 100, delta=max(5, self.car_cpu * 10))

    def test_a_function_keeps_one_name_across_pushes(self):
        lines = [stack for stack, _ in self.collapsed('{vehicle="car"}')
                 if frame_function(stack[-1]) == "busy_car"]
        self.assertEqual(len(lines), 1, lines)
        self.assertTrue(lines[0][-1].startswith("test_agent_ember:busy_car (test_agent_ember.py:"))

    def test_untagged_samples_have_no_vehicle(self):
        untagged = self.collapsed('{vehicle=""}')
        self.assertIn("busy_untagged", {frame_function(s[-1]) for s, _ in untagged})
        self.assertNotIn("busy_car", {frame_function(s[-1]) for s, _ in untagged})


if __name__ == "__main__":
    unittest.main()
