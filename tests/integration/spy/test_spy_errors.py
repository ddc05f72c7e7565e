#!/usr/bin/env python3
"""What `ember spy` says when it cannot read a process, in one line and
with a non-zero exit: no ptrace rights (a user who may not read the
target), a stripped binary, a Python version it does not read."""

import os
import shutil
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import spylib  # noqa: E402


def one_line(test, err):
    test.assertEqual(err.count("\n"), 1, err)
    test.assertTrue(err.startswith("ember spy dump: "), err)


class ErrorsTest(unittest.TestCase):
    def test_without_ptrace_rights_it_says_how_to_get_them(self):
        setpriv = shutil.which("setpriv")
        if os.geteuid() != 0 or not setpriv:
            self.skipTest("needs root and setpriv (util-linux) to run as another user")
        label, argv, _ = spylib.pythons()[0]
        with spylib.Target(argv) as t:
            cmd = [setpriv, "--reuid=65534", "--regid=65534", "--clear-groups", "--",
                   spylib.EMBER, "spy", "dump", "--pid", str(t.pid)]
            r = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
            if r.returncode == 126 or "Permission denied" in r.stderr and "ember spy" not in r.stderr:
                self.skipTest("the ember binary is not executable by nobody here")
            self.assertEqual(r.returncode, 1, r.stderr)
            one_line(self, r.stderr)
            self.assertIn("ptrace", r.stderr)
            self.assertIn("CAP_SYS_PTRACE", r.stderr)

    def test_a_stripped_program_is_named_as_such(self):
        cc = shutil.which("cc") or shutil.which("gcc")
        strip = shutil.which("strip")
        if not cc or not strip:
            self.skipTest("needs a C compiler and strip")
        with tempfile.TemporaryDirectory() as d:
            src, exe = os.path.join(d, "p.c"), os.path.join(d, "python3.11")
            with open(src, "w") as f:
                f.write("#include <unistd.h>\nint main(void) { for (;;) pause(); }\n")
            if subprocess.run([cc, "-static", "-o", exe, src], capture_output=True).returncode:
                self.skipTest("no static C library to link a program without symbols")
            subprocess.run([strip, "--strip-all", exe], check=True)
            p = subprocess.Popen([exe])
            try:
                time.sleep(0.2)
                status, out, err = spylib.ember("spy", "dump", "--pid", str(p.pid))
            finally:
                p.kill()
                p.wait()
            self.assertEqual(status, 1)
            one_line(self, err)
            self.assertIn("stripped", err)

    def test_other_python_versions_are_refused_by_version(self):
        others = spylib.other_pythons()
        if not others:
            self.skipTest("no Python 3.9, 3.10 or 3.13 to try")
        for path in others:
            with self.subTest(python=path):
                p = subprocess.Popen([path, "-c", "import time; time.sleep(60)"])
                try:
                    time.sleep(0.5)
                    status, out, err = spylib.ember("spy", "dump", "--pid", str(p.pid))
                finally:
                    p.kill()
                    p.wait()
                self.assertEqual(status, 1)
                one_line(self, err)
                self.assertIn("reads 3.11 and 3.12", err)


if __name__ == "__main__":
    spylib.main()
