#!/usr/bin/env python3
"""`ember spy top` in a pseudo-terminal (Python's pty module) against
target.py: the hot function comes first by %Own, `t` sorts by %Total
(the frames every sample has come first), `q` and Ctrl-C quit, the
terminal is given back, and without a terminal it refuses in one line."""

import os
import pty
import re
import select
import signal
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import spylib  # noqa: E402

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


class Terminal:
    """ember spy top running in a pseudo-terminal of 120x40."""

    def __init__(self, pid):
        self.pid, self.fd = pty.fork()
        if self.pid == 0:
            import fcntl
            import struct
            import termios
            fcntl.ioctl(0, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
            os.execv(spylib.EMBER, [spylib.EMBER, "spy", "top", "--pid", str(pid)])
        self.out = b""

    def pump(self, seconds):
        end = time.time() + seconds
        while time.time() < end:
            r, _, _ = select.select([self.fd], [], [], 0.05)
            if not r:
                continue
            try:
                data = os.read(self.fd, 65536)
            except OSError:
                return False
            if not data:
                return False
            self.out += data
        return True

    def screens(self):
        """The screens drawn so far, as lists of plain lines."""
        text = self.out.decode("utf-8", "replace")
        return [[ANSI.sub("", l).rstrip() for l in s.split("\r\n")]
                for s in text.split("\x1b[H")[1:]]

    def rows(self):
        """The function rows of the last full screen."""
        for screen in reversed(self.screens()):
            for i, line in enumerate(screen):
                if "Function (file:line)" in line:
                    rows = [l for l in screen[i + 1:] if re.match(r"\s*\d+\.\d%", l)]
                    if rows:
                        return rows
        return []

    def wait(self, seconds):
        end = time.time() + seconds
        while time.time() < end:
            alive = self.pump(0.1)
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                while alive:  # what it wrote before it exited
                    alive = self.pump(0.1) and select.select([self.fd], [], [], 0)[0]
                self.pid = None
                return status
        return None

    def close(self):
        if self.pid:
            try:
                os.kill(self.pid, signal.SIGKILL)
                os.waitpid(self.pid, 0)
            except (ProcessLookupError, ChildProcessError):
                pass
        os.close(self.fd)


class TopTest(unittest.TestCase):
    def test_hot_function_first_then_sorted_by_total_and_q_quits(self):
        for label, argv, _ in spylib.pythons():
            with self.subTest(python=label), spylib.Target(argv) as t:
                term = Terminal(t.pid)
                try:
                    term.pump(3.5)
                    rows = term.rows()
                    self.assertTrue(rows, term.out[-2000:])
                    self.assertIn("target:busy_heavy (target.py:", rows[0])
                    os.write(term.fd, b"t")
                    term.pump(1.5)
                    rows = term.rows()
                    first_two = " ".join(rows[:2])
                    self.assertIn("target:<module>", first_two)
                    self.assertIn("target:main", first_two)
                    self.assertIn("100.0%", rows[0])
                    os.write(term.fd, b"q")
                    status = term.wait(5)
                    self.assertIsNotNone(status, "top did not quit on q")
                    self.assertEqual(os.waitstatus_to_exitcode(status), 0)
                    # The alternate screen was left and the cursor shown again.
                    self.assertIn(b"\x1b[?1049l", term.out)
                    self.assertIn(b"\x1b[?25h", term.out)
                finally:
                    term.close()

    def test_ctrl_c_quits(self):
        label, argv, _ = spylib.pythons()[0]
        with spylib.Target(argv) as t:
            term = Terminal(t.pid)
            try:
                term.pump(1.5)
                os.write(term.fd, b"\x03")  # the terminal turns it into SIGINT
                status = term.wait(5)
                self.assertIsNotNone(status, "top did not quit on Ctrl-C")
                self.assertIn(b"\x1b[?1049l", term.out)
            finally:
                term.close()

    def test_without_a_terminal_it_refuses(self):
        label, argv, _ = spylib.pythons()[0]
        with spylib.Target(argv) as t:
            status, out, err = spylib.ember("spy", "top", "--pid", str(t.pid))
            self.assertEqual(status, 2)
            self.assertIn("terminal", err)
            self.assertEqual(err.count("\n"), 1)


if __name__ == "__main__":
    spylib.main()
