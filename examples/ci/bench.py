"""A small benchmark for the CI examples: three functions doing a fixed
share of the work each, for a few seconds. Set SLOW_PARSE=5 to make
parse() do five times its work, the regression the gate is meant to
catch."""

import os
import sys
import time


def parse(n):
    x = 0
    for i in range(n):
        x += i * i
    return x


def render(n):
    x = 0
    for i in range(n):
        x += i ^ 7
    return x


def checksum(n):
    x = 0
    for i in range(n):
        x = (x + i) % 65521
    return x


def main():
    slow = float(os.environ.get("SLOW_PARSE", "1"))
    seconds = float(sys.argv[1]) if len(sys.argv) > 1 else 10.0
    end = time.time() + seconds
    while time.time() < end:
        parse(int(2000 * slow))
        render(3000)
        checksum(5000)


if __name__ == "__main__":
    main()
