"""Frame names and stack folding (ember_agent/_frames.py)."""

from __future__ import annotations

import os
import sys
import types
import unittest

import support  # noqa: F401  (puts ember_agent on sys.path)
from ember_agent import _frames
from ember_agent._frames import Folder, frame_name, short_path


def outer_function():
    return inner_function()


def inner_function():
    return sys._getframe()


class Greeter:
    def hello(self):
        return sys._getframe()


def line_of(func):
    return func.__code__.co_firstlineno


class FrameNameTest(unittest.TestCase):
    def test_frame_name_is_module_function_file_and_definition_line(self):
        frame = inner_function()
        self.assertEqual(frame_name(frame.f_code, frame.f_globals),
                         "test_agent_frames:inner_function (test_agent_frames.py:%d)"
                         % line_of(inner_function))

    def test_methods_are_named_by_their_class_where_python_knows_it(self):
        frame = Greeter().hello()
        name = frame_name(frame.f_code, frame.f_globals)
        expected = "Greeter.hello" if sys.version_info >= (3, 11) else "hello"
        self.assertTrue(name.startswith("test_agent_frames:%s (" % expected), name)

    def test_the_same_function_has_the_same_name_whatever_line_runs(self):
        def two_lines():
            f = sys._getframe()
            first = (f.f_lineno, frame_name(f.f_code, f.f_globals))
            second = (f.f_lineno, frame_name(f.f_code, f.f_globals))
            return first, second
        (line_a, name_a), (line_b, name_b) = two_lines()
        self.assertNotEqual(line_a, line_b)
        self.assertEqual(name_a, name_b)

    def test_main_module_is_named_after_its_script(self):
        code = compile("x = 1", "/srv/app/rideshare/server.py", "exec")
        self.assertEqual(_frames.module_name(code, {"__name__": "__main__"}), "server")
        spec = types.SimpleNamespace(name="rideshare.server")
        self.assertEqual(_frames.module_name(code, {"__name__": "__main__", "__spec__": spec}),
                         "rideshare.server")

    def test_files_are_shown_relative_to_their_sys_path_entry(self):
        import json.decoder
        self.assertEqual(short_path(json.decoder.__file__), os.path.join("json", "decoder.py"))
        self.assertEqual(short_path("/nowhere/on/the/path/mod.py"), "mod.py")
        self.assertEqual(short_path("<string>"), "<string>")

    def test_characters_that_break_the_folded_format_are_replaced(self):
        code = compile("x = 1", "/tmp/we;ird\nname.py", "exec")
        name = frame_name(code, {"__name__": "a;b"})
        self.assertNotIn(";", name)
        self.assertNotIn("\n", name)
        self.assertEqual(name, "a_b:<module> (we_ird_name.py:1)")


class FoldTest(unittest.TestCase):
    def test_fold_lists_the_stack_root_first(self):
        stack = Folder().fold(outer_function())
        self.assertEqual([_function(n) for n in stack[-2:]], ["outer_function", "inner_function"])
        self.assertTrue(stack[-3].startswith("test_agent_frames:FoldTest.test_fold")
                        or stack[-3].startswith("test_agent_frames:test_fold"), stack[-3])

    def test_deep_stacks_keep_their_root_and_end_truncated(self):
        def recurse(n):
            return recurse(n - 1) if n else sys._getframe()
        folder = Folder(max_depth=20)
        full = Folder().fold(recurse(50))
        stack = folder.fold(recurse(50))
        self.assertEqual(len(stack), 20)
        self.assertEqual(stack[:19], full[:19])
        self.assertEqual(stack[-1], _frames.TRUNCATED)

    def test_agent_frames_are_left_out(self):
        fake_globals = {"__name__": "ember_agent._tags"}
        code = compile("import sys\nf = sys._getframe()", "_tags.py", "exec")
        exec(code, fake_globals)
        stack = Folder().fold(fake_globals["f"])
        self.assertFalse(any("ember_agent" in n for n in stack), stack)
        self.assertTrue(any("test_agent_frames" in n for n in stack))

    def test_names_are_cached_per_code_object_and_the_cache_is_bounded(self):
        folder = Folder(max_cache=3)
        for i in range(10):
            code = compile("x = %d" % i, "gen%d.py" % i, "exec")
            self.assertEqual(folder.name(code, {"__name__": "gen"}), "gen:<module> (gen%d.py:1)" % i)
            self.assertLessEqual(folder.cache_size(), 3)
        code = compile("y = 1", "same.py", "exec")
        first = folder.name(code, {"__name__": "one"})
        self.assertEqual(folder.name(code, {"__name__": "two"}), first)


def _function(name):
    return support.frame_function(name)


if __name__ == "__main__":
    unittest.main()
