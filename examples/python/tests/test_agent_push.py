"""The pusher (ember_agent/_push.py) against a stub server: what it sends,
and the failure modes: server down, 500, 429, 4xx, a full queue."""

from __future__ import annotations

import logging
import time
import unittest

import support
from support import StubServer, closed_port_url
from ember_agent._push import Pusher, folded_body, round_counts
from ember_agent._sampler import Window

log = logging.getLogger("ember_agent.test")

STACKS = {("main", "handle", "parse"): 7, ("main", "idle"): 2}


def window(start=1700000000, stacks=None, tags=(("vehicle", "car"),)):
    return Window(start, start + 10, {tags: dict(stacks or STACKS)})


def pusher(url, **kw):
    options = dict(timeout=2.0, max_retries=2, backoff=0.01, max_backoff=0.05)
    options.update(kw)
    token = options.pop("auth_token", None)
    return Pusher(url, "app", (("region", "eu-north"),), 100, "emberpy", token, log, **options)


class BodyTest(unittest.TestCase):
    def test_body_is_sorted_folded_text(self):
        self.assertEqual(folded_body(STACKS), b"main;handle;parse 7\nmain;idle 2\n")

    def test_rounding_keeps_the_total_and_drops_zeros(self):
        counts = round_counts({("a",): 0.6, ("b",): 0.6, ("c",): 0.8, ("d",): 0.0})
        self.assertEqual(sum(counts.values()), 2)
        self.assertEqual(counts, {("c",): 1, ("a",): 1})


class PushTest(unittest.TestCase):
    def setUp(self):
        self.stubs = []

    def tearDown(self):
        for s in self.stubs:
            s.stop()

    def stub(self, script):
        s = StubServer(script)
        self.stubs.append(s)
        return s

    def test_a_push_sends_folded_text_with_the_series_and_window(self):
        stub = self.stub([(200, {})])
        p = pusher(stub.url, auth_token="s3cret")
        p.push_window(window())
        self.assertEqual(len(stub.requests), 1)
        req = stub.requests[0]
        self.assertEqual(req["path"], "/ingest")
        self.assertEqual(req["query"], {
            "name": "app.cpu{region=eu-north,vehicle=car}", "from": "1700000000",
            "until": "1700000010", "format": "folded", "sampleRate": "100",
            "spyName": "emberpy", "units": "samples", "aggregationType": "sum"})
        self.assertEqual(req["body"], "main;handle;parse 7\nmain;idle 2\n")
        self.assertEqual(req["headers"]["Authorization"], "Bearer s3cret")
        self.assertEqual(req["headers"]["Content-Encoding"], "gzip")
        self.assertEqual((p.stats["pushes"], p.stats["samples_sent"]), (1, 9))

    def test_one_push_per_tag_set(self):
        stub = self.stub([(200, {})])
        w = Window(1700000000, 1700000010, {(): {("a",): 1}, (("vehicle", "bike"),): {("b",): 2}})
        pusher(stub.url).push_window(w)
        names = sorted(r["query"]["name"] for r in stub.requests)
        self.assertEqual(names, ["app.cpu{region=eu-north,vehicle=bike}", "app.cpu{region=eu-north}"])

    def test_a_5xx_is_retried_with_growing_delays(self):
        stub = self.stub([(500, {}), (503, {}), (200, {})])
        p = pusher(stub.url, backoff=0.05, max_backoff=1.0)
        p.push_window(window())
        self.assertEqual(len(stub.requests), 3)
        self.assertEqual((p.stats["pushes"], p.stats["retries"], p.stats["pushes_dropped"]), (1, 2, 0))
        gaps = [b["time"] - a["time"] for a, b in zip(stub.requests, stub.requests[1:])]
        self.assertGreaterEqual(gaps[0], 0.05 * 0.5)   # jitter takes up to half off
        self.assertGreaterEqual(gaps[1], 0.10 * 0.5)

    def test_a_server_that_keeps_failing_is_dropped_after_the_bound_and_logged_once(self):
        stub = self.stub([(500, {})])
        p = pusher(stub.url)
        with self.assertLogs("ember_agent.test", level="WARNING") as logs:
            for i in range(3):
                p.push_window(window(1700000000 + 10 * i))
        self.assertEqual(len(stub.requests), 3 * 3)     # 1 try + 2 retries each
        self.assertEqual((p.stats["pushes"], p.stats["pushes_dropped"]), (0, 3))
        self.assertEqual(p.stats["samples_dropped"], 27)
        self.assertEqual(len(logs.records), 1)
        self.assertIn("stub says 500", logs.output[0])
        self.assertIn("after 2 retries", logs.output[0])

    def test_a_server_that_is_down_is_dropped_without_hanging(self):
        p = pusher(closed_port_url())
        start = time.monotonic()
        with self.assertLogs("ember_agent.test", level="WARNING") as logs:
            p.push_window(window())
        self.assertLess(time.monotonic() - start, 2.0)
        self.assertEqual((p.stats["pushes_dropped"], p.stats["retries"]), (1, 2))
        self.assertIn("cannot reach", logs.output[0])

    def test_429_waits_for_retry_after(self):
        stub = self.stub([(429, {"Retry-After": "0.3"}), (200, {})])
        p = pusher(stub.url, max_backoff=5.0)
        p.push_window(window())
        self.assertEqual(len(stub.requests), 2)
        self.assertGreaterEqual(stub.requests[1]["time"] - stub.requests[0]["time"], 0.28)
        self.assertEqual(p.stats["pushes"], 1)

    def test_a_request_the_server_refuses_is_not_sent_again(self):
        stub = self.stub([(422, {})])
        p = pusher(stub.url)
        with self.assertLogs("ember_agent.test", level="WARNING") as logs:
            p.push_window(window())
        self.assertEqual(len(stub.requests), 1)
        self.assertEqual((p.stats["pushes_dropped"], p.stats["retries"]), (1, 0))
        self.assertIn("server answered 422: stub says 422", logs.output[0])

    def test_a_full_queue_drops_the_oldest_window(self):
        stub = self.stub([(200, {})])
        p = pusher(stub.url, max_queued_windows=2)
        with self.assertLogs("ember_agent.test", level="WARNING"):
            for i in range(4):  # not started: nothing is taken off the queue
                p.submit(window(1700000000 + 10 * i))
        self.assertEqual(p.stats["windows_dropped"], 2)
        p.start()
        p.close(timeout=5)
        self.assertEqual(sorted(r["query"]["from"] for r in stub.requests),
                         ["1700000020", "1700000030"])

    def test_close_sends_what_is_queued_and_gives_up_at_its_deadline(self):
        stub = self.stub([(500, {})])
        p = pusher(stub.url, max_retries=100, backoff=0.2, max_backoff=0.2)
        p.start()
        p.submit(window())
        start = time.monotonic()
        with self.assertLogs("ember_agent.test", level="WARNING"):
            p.close(timeout=0.5)
        self.assertLess(time.monotonic() - start, 1.5)
        # Every retry waits at least 0.1 s (0.2 s jittered down to half), and
        # close() allows 0.5 s more: a spinning retry loop would send dozens.
        self.assertLessEqual(len(stub.requests), 6)
        self.assertFalse(p._thread.is_alive())
        self.assertEqual(p.stats["pushes_dropped"], 1)

    def test_bad_addresses_are_refused_at_once(self):
        for bad in ("ftp://host", "http://", "not a url"):
            with self.assertRaises(ValueError):
                pusher(bad)


class AgentWithStubTest(unittest.TestCase):
    """The whole agent against a stub: shutdown flushes, the host never
    sees an exception."""

    def test_shutdown_flushes_the_partial_window(self):
        import ember_agent
        stub = StubServer([(200, {})])
        try:
            agent = ember_agent.Agent("stub-app", stub.url, tags={"region": "eu-north"},
                                      upload_interval=3600, cpu_time=False).start()
            support_wait(lambda: agent.stats()["samples"] > 0)
            agent.shutdown()
            self.assertGreaterEqual(len(stub.requests), 1)
            self.assertTrue(all(r["query"]["name"].startswith("stub-app.cpu{region=eu-north")
                                for r in stub.requests))
            self.assertEqual(agent.stats()["samples_sent"], agent.stats()["samples"])
        finally:
            stub.stop()

    def test_an_agent_pointed_at_nothing_costs_the_host_nothing_but_counters(self):
        import ember_agent
        agent = ember_agent.Agent("down-app", closed_port_url(), upload_interval=1,
                                  cpu_time=False, backoff=0.01, max_backoff=0.02,
                                  logger=log).start()
        with self.assertLogs("ember_agent.test", level="WARNING"):
            support_wait(lambda: agent.stats()["pushes_dropped"] >= 1, timeout=5)
        agent.shutdown(timeout=0.5)
        st = agent.stats()
        self.assertEqual(st["pushes"], 0)
        self.assertIn("cannot reach", st["last_error"])


def support_wait(cond, timeout=5.0):
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met within %.0f s" % timeout)
        time.sleep(0.01)


if __name__ == "__main__":
    unittest.main()
