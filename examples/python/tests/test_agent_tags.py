"""tag_wrapper, tag validation and series names (ember_agent/_tags.py)."""

from __future__ import annotations

import threading
import unittest

import support  # noqa: F401
import ember_agent
from ember_agent import _tags
from ember_agent import current_tags, tag_wrapper


class TagWrapperTest(unittest.TestCase):
    def tearDown(self):
        self.assertEqual(current_tags(), {}, "a test left tags behind")

    def test_with_block_adds_tags_only_inside(self):
        self.assertEqual(current_tags(), {})
        with tag_wrapper({"vehicle": "car"}):
            self.assertEqual(current_tags(), {"vehicle": "car"})
        self.assertEqual(current_tags(), {})

    def test_nested_blocks_add_up_and_inner_wins_on_a_shared_key(self):
        with tag_wrapper({"vehicle": "car", "tier": "1"}):
            with tag_wrapper({"vehicle": "bike", "city": "oslo"}):
                self.assertEqual(current_tags(), {"vehicle": "bike", "tier": "1", "city": "oslo"})
            self.assertEqual(current_tags(), {"vehicle": "car", "tier": "1"})

    def test_an_exception_restores_the_outer_tags(self):
        with tag_wrapper({"vehicle": "car"}):
            with self.assertRaises(KeyError):
                with tag_wrapper({"vehicle": "bike"}):
                    raise KeyError("boom")
            self.assertEqual(current_tags(), {"vehicle": "car"})

    def test_decorator_tags_each_call_and_restores_after_exceptions(self):
        @tag_wrapper({"vehicle": "scooter"})
        def order(fail=False):
            if fail:
                raise ValueError("no scooter")
            return current_tags()

        self.assertEqual(order(), {"vehicle": "scooter"})
        self.assertEqual(order.__name__, "order")
        with tag_wrapper({"region": "eu-north"}):
            self.assertEqual(order(), {"vehicle": "scooter", "region": "eu-north"})
            with self.assertRaises(ValueError):
                order(fail=True)
            self.assertEqual(current_tags(), {"region": "eu-north"})

    def test_decorator_refuses_functions_that_suspend(self):
        def gen():
            yield 1

        async def coro():
            return 1

        for func in (gen, coro):
            with self.assertRaises(TypeError):
                tag_wrapper({"a": "b"})(func)

    def test_tags_belong_to_the_thread_that_set_them(self):
        seen = {}
        inside = threading.Event()
        release = threading.Event()

        def worker():
            with tag_wrapper({"vehicle": "bike"}):
                seen["worker"] = current_tags()
                inside.set()
                release.wait(5)

        t = threading.Thread(target=worker)
        with tag_wrapper({"vehicle": "car"}):
            t.start()
            inside.wait(5)
            seen["main"] = current_tags()
            self.assertEqual(_tags.tags_of_thread(t.ident), (("vehicle", "bike"),))
            release.set()
            t.join(5)
        self.assertEqual(seen, {"worker": {"vehicle": "bike"}, "main": {"vehicle": "car"}})
        self.assertEqual(_tags.tags_of_thread(t.ident), ())

    def test_one_instance_can_be_entered_again_while_active(self):
        car = tag_wrapper({"vehicle": "car"})
        with car:
            with tag_wrapper({"vehicle": "bike"}):
                with car:
                    self.assertEqual(current_tags(), {"vehicle": "car"})
                self.assertEqual(current_tags(), {"vehicle": "bike"})
            self.assertEqual(current_tags(), {"vehicle": "car"})


class TagValidationTest(unittest.TestCase):
    def test_invalid_keys_are_refused_with_a_helpful_message(self):
        for key in ("", "has space", "a{b", "__name__", 3):
            with self.assertRaises(ValueError) as cm:
                tag_wrapper({key: "x"})
            self.assertIn("tag key", str(cm.exception))

    def test_values_are_mended_not_refused(self):
        self.assertEqual(_tags.normalize({"k": "a,b}c\nd"}), (("k", "a_b_c_d"),))
        self.assertEqual(_tags.normalize({"k": 42}), (("k", "42"),))
        self.assertEqual(_tags.normalize({"k": "  padded "}), (("k", "padded"),))

    def test_tags_must_be_a_mapping(self):
        with self.assertRaises(TypeError):
            _tags.normalize([("k", "v")])

    def test_app_names_are_checked(self):
        self.assertEqual(_tags.check_app_name("ride-sharing-app"), "ride-sharing-app")
        for bad in ("", "has space", "a{b}", None):
            with self.assertRaises(ValueError):
                _tags.check_app_name(bad)

    def test_configure_refuses_bad_names_and_options_before_starting(self):
        with self.assertRaises(ValueError):
            ember_agent.configure("bad name")
        with self.assertRaises(ValueError):
            ember_agent.configure("app", tags={"bad key": "v"})
        with self.assertRaises(ValueError):
            ember_agent.configure("app", sample_rate=0)
        with self.assertRaises(ValueError):
            ember_agent.configure("app", server_address="ftp://example")
        self.assertEqual(ember_agent.stats(), {})


class SeriesNameTest(unittest.TestCase):
    def test_series_name_is_app_cpu_with_sorted_tags(self):
        tags = _tags.merge(_tags.normalize({"region": "eu-north"}),
                           _tags.normalize({"vehicle": "car"}))
        self.assertEqual(_tags.series_name("ride-sharing-app", tags),
                         "ride-sharing-app.cpu{region=eu-north,vehicle=car}")
        self.assertEqual(_tags.series_name("app", ()), "app.cpu{}")

    def test_dynamic_tags_override_static_ones(self):
        merged = _tags.merge((("region", "eu-north"), ("vehicle", "none")), (("vehicle", "car"),))
        self.assertEqual(merged, (("region", "eu-north"), ("vehicle", "car")))


if __name__ == "__main__":
    unittest.main()
