#!/usr/bin/env python3
"""test_prometheus.py - examples/prometheus: the scrape configuration and
the alert rules are valid, the alerts fire when they should, and they
speak of metrics a real Ember exposes.

- `promtool check rules` and `promtool check config` accept the files (the
  configuration from a copy whose token file exists: promtool checks it);
- `promtool test rules` runs tests/ops/ember-rules.test.yml: each alert
  fires on the series that mean trouble, with its message, and not on a
  healthy server;
- every ember_* name in the rules is a metric that a running server's
  /metrics exposes (or a histogram's _bucket, _sum, _count), every label
  the rules match on is one that metric carries, and route and reason
  values are ones the server uses: a rule that names a metric that does
  not exist would never fire, so it fails the test;
- `promtool check metrics` finds nothing wrong in /metrics;
- when the prometheus server is installed: Prometheus runs the example
  configuration (target and paths pointed at the test's own), scrapes a
  server started with --auth-token-file through the bearer token file,
  sees the target up, and evaluates every rule without error.

Skips (77) when promtool is missing (Debian package prometheus).
"""

import json
import os
import re
import shutil
import subprocess
import sys
import time
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import opslib  # noqa: E402

PROM_DIR = os.path.join(opslib.EXAMPLES, "prometheus")
RULES = os.path.join(PROM_DIR, "ember-rules.yml")
CONFIG = os.path.join(PROM_DIR, "prometheus.yml")
RULE_TESTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "ember-rules.test.yml")
READ_TOKEN = "scrape-3e8b1d"


def scrape(e, token=None):
    h = {"Authorization": f"Bearer {token}"} if token else {}
    st, _, body = opslib.request(e.url + "/metrics", headers=h)
    if st != 200:
        opslib.fail(f"GET /metrics answered {st}: {body[:200]!r}")
    return body.decode()


def exposed(text):
    """Metric names of an exposition, and for each the label names and
    values seen on its samples."""
    names, labels = set(), {}
    for m in re.finditer(r"^# TYPE (\S+) (\S+)$", text, re.M):
        name, kind = m.groups()
        names.add(name)
        if kind == "histogram":
            names |= {name + "_bucket", name + "_sum", name + "_count"}
    for m in re.finditer(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{([^}]*)\})? ", text, re.M):
        seen = labels.setdefault(m.group(1), {})
        for k, v in re.findall(r'(\w+)="([^"]*)"', m.group(2) or ""):
            seen.setdefault(k, set()).add(v)
    return names, labels


def rule_exprs(text):
    """The expressions of a rules file, each whole (single-line or a `|`
    block), without YAML."""
    exprs, lines, i = [], text.splitlines(), 0
    while i < len(lines):
        m = re.match(r"^(\s*)expr:\s*(.*)$", lines[i])
        i += 1
        if not m:
            continue
        if m.group(2).strip() not in ("|", ">"):
            exprs.append(m.group(2))
            continue
        block = []
        while i < len(lines) and (not lines[i].strip() or
                                  len(lines[i]) - len(lines[i].lstrip()) > len(m.group(1))):
            block.append(lines[i])
            i += 1
        exprs.append("\n".join(block))
    return exprs


def check_names(c, rules_text, names, labels):
    used = set(re.findall(r"\bember_[a-z0-9_]+", rules_text))
    missing = sorted(used - names)
    c.ok(used and not missing, f"the {len(used)} ember_* names in the rules are exposed by "
         "/metrics", f"not exposed: {missing}")
    wanted = set()  # (metric, label, value or None)
    for expr in rule_exprs(rules_text):
        for metric, matchers in re.findall(r"\b(ember_[a-z0-9_]+)\{([^}]*)\}", expr):
            for key, op, value in re.findall(r'(\w+)\s*(=~|!~|!=|=)\s*"([^"]*)"', matchers):
                wanted.add((metric, key, None))
                # route and reason are the server's own words: a value it
                # never uses never matches. (code is any status.)
                if key in ("route", "reason") and op in ("=", "=~"):
                    wanted |= {(metric, key, v) for v in value.split("|")}
    for metric, key, value in sorted(wanted, key=lambda w: (w[0], w[1], w[2] or "")):
        have = labels.get(metric, {})
        if value is None:
            c.ok(key in have, f"{metric} carries the label {key}", f"it carries {sorted(have)}")
        else:
            c.ok(value in have.get(key, ()), f'{metric}{{{key}="{value}"}} is a value the '
                 "server uses", f"seen: {sorted(have.get(key, ()))}")


def prometheus_run(c, tmp, e):
    """The example configuration in a real Prometheus, pointed at e."""
    prom = shutil.which("prometheus")
    if not prom:
        print("note: prometheus not found, the configuration is not run "
              "(Debian package prometheus)")
        return
    port = opslib.free_port()
    d = os.path.join(tmp, "prom")
    os.makedirs(d)
    shutil.copy(RULES, d)
    tokfile = os.path.join(d, "ember.token")
    with open(tokfile, "w") as f:
        f.write(READ_TOKEN + "\n")
    cfg = open(CONFIG).read()
    cfg = cfg.replace("/etc/prometheus/ember.token", tokfile)
    cfg = cfg.replace("127.0.0.1:4040", f"127.0.0.1:{e.port}")
    cfg = re.sub(r"(scrape_interval|evaluation_interval): \S+", r"\1: 1s", cfg)
    with open(os.path.join(d, "prometheus.yml"), "w") as f:
        f.write(cfg)
    proc = subprocess.Popen([prom, f"--config.file={d}/prometheus.yml",
                             f"--storage.tsdb.path={d}/data",
                             f"--web.listen-address=127.0.0.1:{port}"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    api = f"http://127.0.0.1:{port}/api/v1"
    try:
        opslib.wait_port(port, proc, "prometheus", 30)
        up, rules, deadline = None, [], time.monotonic() + 30
        while time.monotonic() < deadline:
            q = urllib.parse.quote('up{job="ember"}')
            st, _, body = opslib.request(f"{api}/query?query={q}")
            res = json.loads(body)["data"]["result"] if st == 200 else []
            up = res[0]["value"][1] if res else None
            st, _, body = opslib.request(f"{api}/rules")
            rules = [r for g in json.loads(body)["data"]["groups"] for r in g["rules"]] \
                if st == 200 else []
            if up == "1" and rules and all(r.get("lastEvaluation", "").startswith("2")
                                           and r.get("health") != "unknown" for r in rules):
                break
            time.sleep(0.5)
        c.ok(up == "1", "Prometheus scrapes the server with the bearer token file (up == 1)",
             f"up = {up}")
        q = urllib.parse.quote('ember_write_queue_capacity{job="ember"}')
        st, _, body = opslib.request(f"{api}/query?query={q}")
        res = json.loads(body)["data"]["result"] if st == 200 else []
        c.ok(res and res[0]["value"][1] == "1024", "Prometheus has Ember's metrics",
             body[:200].decode(errors="replace"))
        bad = [f"{r['name']}: {r.get('health')} {r.get('lastError', '')}" for r in rules
               if r.get("health") != "ok"]
        c.ok(len(rules) > 0 and not bad, f"Prometheus evaluates all {len(rules)} rules "
             "without error", "; ".join(bad))
        firing = [r["name"] for r in rules if r.get("state") == "firing"]
        c.ok(not firing, "no alert fires on a healthy server", ", ".join(firing))
    finally:
        opslib.stop(proc)


def main():
    promtool = opslib.need_program("promtool", "prometheus")
    c = opslib.Checks()
    tmp = opslib.tempdir("prometheus")

    r = subprocess.run([promtool, "check", "rules", RULES], capture_output=True, text=True)
    c.ok(r.returncode == 0, "promtool check rules accepts ember-rules.yml",
         r.stdout + r.stderr)
    # promtool checks that the token file exists, and reads the rules from
    # beside the configuration.
    d = os.path.join(tmp, "check")
    os.makedirs(d)
    shutil.copy(RULES, d)
    tokfile = os.path.join(d, "ember.token")
    open(tokfile, "w").write("token\n")
    cfg = os.path.join(d, "prometheus.yml")
    with open(cfg, "w") as f:
        f.write(open(CONFIG).read().replace("/etc/prometheus/ember.token", tokfile))
    r = subprocess.run([promtool, "check", "config", cfg], capture_output=True, text=True)
    c.ok(r.returncode == 0 and "1 rule files found" in r.stdout,
         "promtool check config accepts prometheus.yml and its rule file",
         r.stdout + r.stderr)
    shutil.copy(RULE_TESTS, d)
    r = subprocess.run([promtool, "test", "rules", os.path.basename(RULE_TESTS)], cwd=d,
                       capture_output=True, text=True)
    c.ok(r.returncode == 0, "promtool test rules: each alert fires when it should",
         r.stdout + r.stderr)

    # A real server, with tokens as an operator's would have, some traffic
    # so that the per-route series exist, and a refusal of each kind the
    # server counts.
    toks = os.path.join(tmp, "tokens")
    with open(toks, "w") as f:
        f.write(f"{READ_TOKEN} read\npush-77 ingest\n")
    os.chmod(toks, 0o600)
    e = opslib.Ember(os.path.join(tmp, "data"), ["--auth-token-file", toks])
    try:
        st, _, _ = opslib.request(e.url + "/metrics")
        c.ok(st == 401, "without a token, /metrics answers 401", str(st))
        st, _, _ = opslib.request(f"{e.url}/ingest?name=m.cpu%7B%7D&format=folded", "POST",
                                  b"main;work 10\n", {"Authorization": "Bearer push-77"})
        c.ok(st == 200, "a push is stored", str(st))
        text = scrape(e, READ_TOKEN)
        names, labels = exposed(text)
        check_names(c, open(RULES).read(), names, labels)
        r = subprocess.run([promtool, "check", "metrics"], input=text, capture_output=True,
                           text=True)
        c.ok(r.returncode == 0, "promtool check metrics finds nothing wrong in /metrics",
             r.stdout + r.stderr)
        prometheus_run(c, tmp, e)
    finally:
        rc = e.stop()
    c.ok(rc == 0, "ember stopped cleanly", e.log[-400:])
    c.finish()


if __name__ == "__main__":
    main()
