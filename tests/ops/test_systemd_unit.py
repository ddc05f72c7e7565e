#!/usr/bin/env python3
"""test_systemd_unit.py - examples/systemd/ember.service is a unit systemd
accepts, with the settings docs/operations.md promises.

- `systemd-analyze verify` passes on a copy whose ExecStart names a copy of
  the built binary (verify checks that the program exists), and prints
  nothing about the unit: verify exits 0 on a misspelt value and only warns,
  so a warning fails the test too;
- the unit runs as a dedicated user, keeps its data in the StateDirectory
  that ExecStart passes as --data, restarts on failure, and carries the
  sandbox settings;
- TimeoutStopSec leaves room beyond the default --shutdown-grace that
  `ember serve --help` states, so systemd does not kill a server that is
  still committing queued pushes;
- examples/systemd/ember.env sets only variables named after real flags.

Skips (77) when systemd-analyze is missing (Debian package systemd).
"""

import os
import re
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import opslib  # noqa: E402

UNIT = os.path.join(opslib.EXAMPLES, "systemd", "ember.service")
ENVFILE = os.path.join(opslib.EXAMPLES, "systemd", "ember.env")


def settings(text):
    """Key=value lines of the [Service] section, as a list of pairs."""
    out, section = [], None
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            section = line
            continue
        if section == "[Service]" and "=" in line:
            k, v = line.split("=", 1)
            out.append((k.strip(), v.strip()))
    return out


def serve_help():
    return subprocess.run([opslib.ember_bin(), "serve", "--help"], capture_output=True,
                          text=True, check=True).stdout


def seconds(value):
    """A systemd time span such as 60, 60s, 1min 30s, in seconds."""
    total = 0.0
    units = {"": 1, "s": 1, "sec": 1, "min": 60, "m": 60, "h": 3600}
    for num, unit in re.findall(r"(\d+(?:\.\d+)?)\s*([a-z]*)", value):
        total += float(num) * units.get(unit, 0)
    return total


def main():
    analyze = opslib.need_program("systemd-analyze", "systemd")
    checks = opslib.Checks()
    text = open(UNIT).read()
    tmp = opslib.tempdir("systemd")

    # verify: a copy whose binary exists, named as systemd wants it.
    binary = os.path.join(tmp, "ember")
    shutil.copy(opslib.ember_bin(), binary)
    unit = os.path.join(tmp, "ember.service")
    with open(unit, "w") as f:
        f.write(text.replace("/usr/local/bin/ember", binary))
    r = subprocess.run([analyze, "verify", unit], capture_output=True, text=True)
    about_unit = [l for l in (r.stdout + r.stderr).splitlines()
                  if "ember" in l or unit in l]
    checks.ok(r.returncode == 0, "systemd-analyze verify exits 0",
              (r.stdout + r.stderr).strip())
    checks.ok(not about_unit, "systemd-analyze verify has nothing to say about the unit",
              "\n".join(about_unit))

    # verify notices a bad unit: the check above is not vacuous.
    bad = os.path.join(tmp, "bad.service")
    with open(bad, "w") as f:
        f.write(text.replace("/usr/local/bin/ember", binary)
                    .replace("ProtectSystem=strict", "ProtectSystem=very"))
    r = subprocess.run([analyze, "verify", bad], capture_output=True, text=True)
    checks.ok(bad in r.stdout + r.stderr,
              "systemd-analyze verify reports a misspelt value (the check can fail)")

    s = settings(text)
    d = dict(s)
    checks.ok(d.get("User") == "ember" and d.get("Group") == "ember",
              "runs as the dedicated user ember")
    checks.ok(d.get("StateDirectory") == "ember", "StateDirectory=ember (/var/lib/ember)")
    execstart = d.get("ExecStart", "")
    checks.ok(execstart.startswith("/usr/local/bin/ember serve")
              and re.search(r"--data /var/lib/ember(\s|$)", execstart),
              "ExecStart runs /usr/local/bin/ember serve --data /var/lib/ember", execstart)
    checks.ok(d.get("Restart") == "on-failure", "Restart=on-failure")
    for key, want in [("ProtectSystem", "strict"), ("ProtectHome", "yes"),
                      ("PrivateTmp", "yes"), ("PrivateDevices", "yes"),
                      ("NoNewPrivileges", "yes"), ("MemoryDenyWriteExecute", "yes"),
                      ("CapabilityBoundingSet", "")]:
        checks.ok(d.get(key) == want, f"{key}={want}", f"found {d.get(key)!r}")
    checks.ok(any(k == "SystemCallFilter" and v == "@system-service" for k, v in s),
              "SystemCallFilter=@system-service")
    checks.ok("RestrictAddressFamilies" in d, "RestrictAddressFamilies is set")

    # The stop timeout against the server's own grace period.
    m = re.search(r"--shutdown-grace S.*?\(default (\d+)\)", serve_help(), re.S)
    grace = int(m.group(1)) if m else None
    stop = seconds(d.get("TimeoutStopSec", "0"))
    checks.ok(grace is not None and stop >= grace + 10,
              f"TimeoutStopSec ({stop:.0f} s) leaves 10 s beyond --shutdown-grace ({grace} s)")

    # The environment file names only variables of real flags.
    flags = set(re.findall(r"^\s+--([a-z][a-z-]*)", serve_help(), re.M)) - {"help"}
    names = re.findall(r"^#?\s*(EMBER_[A-Z_]+)=", open(ENVFILE).read(), re.M)
    unknown = [n for n in names if n[len("EMBER_"):].lower().replace("_", "-") not in flags]
    checks.ok(names and not unknown, "ember.env names only EMBER_<FLAG> variables of "
              "`ember serve --help`", f"unknown: {unknown}")
    checks.finish()


if __name__ == "__main__":
    main()
