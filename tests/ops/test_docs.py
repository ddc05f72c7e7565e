#!/usr/bin/env python3
"""test_docs.py - docs/operations.md says what the binary does.

- its settings table has one row per flag of `ember serve --help`, no row
  for a flag that does not exist, each with the variable EMBER_<FLAG> (and,
  when the help lists variables, the one it lists) and the default the help
  states;
- every repository file it names exists;
- every ember_* metric it names is served by a running server's /metrics.

Needs nothing but the binary: it never skips.
"""

import os
import re
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import opslib  # noqa: E402

DOC = os.path.join(opslib.ROOT, "docs", "operations.md")


def norm(s):
    return re.sub(r"\s+", " ", s.replace("`", "")).strip()


def env_name(flag):
    return "EMBER_" + flag.upper().replace("-", "_")


def help_flags(text):
    """flag -> (default or None, variable listed beside it or None), from
    `ember serve --help`: each flag's entry runs to the next flag."""
    out = {}
    starts = [(m.start(), m.group(1)) for m in re.finditer(r"^\s+--([a-z][a-z-]*)", text, re.M)]
    for i, (pos, flag) in enumerate(starts):
        if flag == "help":
            continue
        entry = text[pos:starts[i + 1][0] if i + 1 < len(starts) else len(text)]
        d = re.search(r"\(default:?\s+([^;)]*)", entry)
        v = re.search(r"\b(EMBER_[A-Z_]+)\b", entry)
        out[flag] = (norm(d.group(1)) if d else None, v.group(1) if v else None)
    return out


def doc_rows(doc):
    """flag -> (variable, default) from the settings table."""
    rows = {}
    for line in doc.splitlines():
        m = re.match(r"^\|\s*`--([a-z][a-z-]*)`\s*\|\s*([^|]*)\|\s*([^|]*)\|", line)
        if m:
            rows[m.group(1)] = (norm(m.group(2)), norm(m.group(3)))
    return rows


def main():
    c = opslib.Checks()
    doc = open(DOC).read()
    help_text = subprocess.run([opslib.ember_bin(), "serve", "--help"], capture_output=True,
                               text=True, check=True).stdout
    flags = help_flags(help_text)
    rows = doc_rows(doc)
    c.ok(len(flags) > 20, f"`ember serve --help` lists {len(flags)} flags")
    missing = sorted(set(flags) - set(rows))
    c.ok(not missing, "every flag of `ember serve --help` has a row in the settings table",
         f"no row: {missing}")
    stale = sorted(set(rows) - set(flags))
    c.ok(not stale, "every row of the settings table is a flag `ember serve --help` lists",
         f"not a flag: {stale}")
    for flag in sorted(set(flags) & set(rows)):
        default, listed = flags[flag]
        var, doc_default = rows[flag]
        want = listed or env_name(flag)
        c.ok(var == want, f"--{flag}: variable {want}", f"the table says {var!r}")
        if listed:
            c.ok(listed == env_name(flag), f"--{flag}: the help names EMBER_<FLAG>",
                 f"it names {listed}")
        if default is not None:
            c.ok(doc_default == default, f"--{flag}: default {default}",
                 f"the table says {doc_default!r}")

    # Files named in the text and in links.
    paths = set(re.findall(r"(?<![\w/.-])((?:examples|tests|docs|bench|scripts|src)/"
                           r"[\w./-]*[\w/])", doc))
    paths |= {os.path.normpath(os.path.join("docs", p)) for p in
              re.findall(r"\]\(((?:\.\./)?[\w./-]+)(?:#[\w-]*)?\)", doc)
              if not p.startswith("http")}
    absent = sorted(p for p in paths if not os.path.exists(os.path.join(opslib.ROOT, p)))
    c.ok(paths and not absent, f"the {len(paths)} files and folders the page names exist",
         f"missing: {absent}")

    # Metrics named on the page, against a running server.
    named = set(re.findall(r"\bember_[a-z0-9_]+", doc))
    tmp = opslib.tempdir("docs")
    e = opslib.Ember(os.path.join(tmp, "data"))
    try:
        st, _, body = opslib.request(e.url + "/metrics")
        served = set(re.findall(r"^# TYPE (\S+)", body.decode(), re.M))
    finally:
        e.stop()
    unknown = sorted(named - served)
    c.ok(st == 200 and named and not unknown,
         f"the {len(named)} metrics the page names are served by /metrics",
         f"not served: {unknown}")
    c.finish()


if __name__ == "__main__":
    main()
