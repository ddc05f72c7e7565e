#!/usr/bin/env python3
"""Writes linetables.txt: location tables of real code objects, with the
line CPython gives each instruction, for tests/spy/test_linetable.c.

    python3.11 make_linetables.py >  linetables.txt
    python3.12 make_linetables.py >> linetables.txt

Each code object is three lines:

    code VERSION NAME FIRSTLINENO UNITS
    table HEX
    lines L0 L1 ...      (one per code unit; -1 where there is no line)

The lines come from co_lines(), which CPython computes from the same
table as frame.f_lineno.
"""

import sys
import types

SOURCE = '''
import functools


def simple(a, b):
    return a + b


@functools.lru_cache(maxsize=None)
def decorated(x):
    return (x
            + 1
            + 2)


class Klass:
    def method(self, items):
        total = 0
        for i in items:
            try:
                total += i
            except TypeError:
                continue
            finally:
                pass
        with open(__file__) as f:
            f.read()
        return total


def long_lines():
    value = [
        1,
        2,
''' + "".join("        %d,\n" % i for i in range(200)) + '''
    ]
    return value


def far_away():
    x = 1
''' + "\n" * 300 + '''
    return x


async def coro(n):
    await n
    return [i async for i in n]


def gen():
    yield 1
    yield from range(3)
    lam = lambda y: (y,
                     y)
    return lam
'''


def code_objects(code):
    yield code
    for c in code.co_consts:
        if isinstance(c, types.CodeType):
            yield from code_objects(c)


def emit(code, version):
    units = len(code.co_code) // 2
    lines = [-1] * units
    for start, end, line in code.co_lines():
        for off in range(start, end, 2):
            if off // 2 < units:
                lines[off // 2] = -1 if line is None else line
    name = code.co_qualname.replace(" ", "_")
    print("code %s %s %d %d" % (version, name, code.co_firstlineno, units))
    print("table %s" % code.co_linetable.hex())
    print("lines %s" % " ".join(map(str, lines)))


def main():
    version = "%d.%d" % sys.version_info[:2]
    for code in code_objects(compile(SOURCE, "sample.py", "exec")):
        emit(code, version)
    import threading
    with open(threading.__file__) as f:
        real = compile(f.read(), threading.__file__, "exec")
    for i, code in enumerate(code_objects(real)):
        if i >= 40:
            break
        emit(code, version)


if __name__ == "__main__":
    main()
