#!/usr/bin/env python3
"""test_nginx.py - Ember behind nginx under /ember/, with the files of
examples/nginx as they are, only ports and paths changed.

A real `ember serve` on 127.0.0.1 (a free port, --allow-host
profiling.example.com as ember.conf says) and Debian's nginx on another free
port, with its own prefix, pid and log files in a temporary directory.
Through nginx:

- /ember redirects to /ember/, which is the UI, and its style and scripts
  load from under the prefix;
- a push to /ember/ingest is stored and /ember/render returns it, a 2 MB
  push passes (nginx's default limit is 1 MB) and is counted whole;
- `ember export --server http://.../ember` works through the prefix;
- the Host check survives the proxy: the --allow-host name is answered, a
  rebound name gets Ember's 403, and so does a cross-site POST;
- nginx's limits line up with Ember's: client_max_body_size is
  `ember serve --help`'s --max-body, proxy_read_timeout exceeds
  --query-timeout;
- ember-tls.conf: the same over HTTPS with a certificate made for the
  test, and plain HTTP redirected to HTTPS.

Skips (77) when nginx is missing (Debian package nginx).
"""

import json
import os
import re
import shutil
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import opslib  # noqa: E402

NGINX_DIR = os.path.join(opslib.EXAMPLES, "nginx")
NAME = "profiling.example.com"


def serve_default(flag):
    text = subprocess.run([opslib.ember_bin(), "serve", "--help"], capture_output=True,
                          text=True, check=True).stdout
    m = re.search(rf"--{flag} \S+.*?\(default (\w+)\)", text, re.S)
    return m.group(1) if m else None


def size_bytes(v):
    m = re.fullmatch(r"(\d+)\s*(k|m|g|KiB|MiB|GiB)?", v.strip(), re.I)
    mult = {None: 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30}
    return int(m.group(1)) * mult[(m.group(2) or "")[:1].lower() or None]


def directive(text, name):
    m = re.search(rf"^\s*{name}\s+([^;]+);", text, re.M)
    return m.group(1).strip() if m else None


class Nginx:
    """nginx with a main configuration of its own in tmp that includes one
    site file of examples/nginx, its listen ports replaced by free ones and
    its upstream by the test's Ember."""

    def __init__(self, nginx, tmp, site, ember_port, cert=None, key=None):
        self.nginx, self.tmp = nginx, tmp
        os.makedirs(os.path.join(tmp, "snippets"), exist_ok=True)
        snippet = open(os.path.join(NGINX_DIR, "snippets", "ember.conf")).read()
        with open(os.path.join(tmp, "snippets", "ember.conf"), "w") as f:
            f.write(snippet.replace("127.0.0.1:4040", f"127.0.0.1:{ember_port}"))
        text = open(os.path.join(NGINX_DIR, site)).read()
        self.ports = {}
        for port in sorted(set(re.findall(r"^\s*listen (\d+)", text, re.M))):
            self.ports[int(port)] = opslib.free_port()
        lines = []
        for line in text.splitlines():
            if re.match(r"\s*listen \[::\]", line):
                continue  # IPv6 may be missing here; the test speaks IPv4
            m = re.match(r"(\s*listen )(\d+)(.*)", line)
            if m:
                line = f"{m.group(1)}127.0.0.1:{self.ports[int(m.group(2))]}{m.group(3)}"
            if cert and "ssl_certificate " in line:
                line = f"    ssl_certificate {cert};"
            if key and "ssl_certificate_key " in line:
                line = f"    ssl_certificate_key {key};"
            lines.append(line)
        with open(os.path.join(tmp, "site.conf"), "w") as f:
            f.write("\n".join(lines) + "\n")
        # What Debian's /etc/nginx/nginx.conf provides, in the temporary
        # directory: the site is included from the http block.
        with open(os.path.join(tmp, "nginx.conf"), "w") as f:
            f.write(f"""worker_processes 1;
pid {tmp}/nginx.pid;
error_log {tmp}/error.log;
events {{ worker_connections 256; }}
http {{
    access_log {tmp}/access.log;
    client_body_temp_path {tmp}/client_body;
    proxy_temp_path {tmp}/proxy;
    fastcgi_temp_path {tmp}/fastcgi;
    uwsgi_temp_path {tmp}/uwsgi;
    scgi_temp_path {tmp}/scgi;
    default_type application/octet-stream;
    include {tmp}/site.conf;
}}
""")
        base = [nginx, "-p", tmp + "/", "-c", os.path.join(tmp, "nginx.conf"),
                "-e", os.path.join(tmp, "error.log")]
        t = subprocess.run(base + ["-t"], capture_output=True, text=True)
        if t.returncode != 0:
            opslib.fail(f"nginx -t refuses the configuration of {site}:\n{t.stderr}")
        self.proc = subprocess.Popen(base + ["-g", "daemon off;"], stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE, text=True)
        for port in self.ports.values():
            opslib.wait_port(port, self.proc, "nginx")

    def url(self, listen, scheme="http"):
        return f"{scheme}://127.0.0.1:{self.ports[listen]}"

    def stop(self):
        opslib.stop(self.proc)
        return open(os.path.join(self.tmp, "error.log")).read()


def render(base, query, fmt="json", host=None):
    h = {"Host": host} if host else {}
    st, _, body = opslib.request(f"{base}/ember/render?query={query}&from=now-1h&until=now"
                                 f"&format={fmt}", headers=h)
    return st, body


def check_site(c, base, what):
    """The plain-HTTP checks, through nginx at base."""
    st, h, _ = opslib.request(base + "/ember")
    c.ok(st == 301 and h.get("location", "").endswith("/ember/"),
         f"{what}: /ember redirects to /ember/", f"{st} {h.get('location')}")
    st, h, body = opslib.request(base + "/ember/", headers={"Host": NAME})
    c.ok(st == 200 and h.get("content-type", "").startswith("text/html")
         and b"<title>Ember</title>" in body, f"{what}: GET /ember/ is the UI",
         f"{st} {h.get('content-type')} {body[:120]!r}")
    assets = set(re.findall(rb'(?:href|src)="([a-z][^":]*\.(?:css|js|svg))"', body))
    for path in sorted(assets):
        st, _, _ = opslib.request(f"{base}/ember/{path.decode()}", headers={"Host": NAME})
        c.ok(st == 200, f"{what}: the page's {path.decode()} loads under the prefix", str(st))

    now = int(time.time())
    small = b"main;handle;parse_json 120\nmain;handle;db_query;mutex_lock 75\nmain;idle 3\n"
    st, _, body = opslib.request(f"{base}/ember/ingest?name=proxied.cpu%7Bregion%3Deu%7D"
                                 f"&from={now}&format=folded", "POST", small)
    c.ok(st == 200, f"{what}: POST /ember/ingest stores a push", f"{st} {body[:200]!r}")
    st, body = render(base, "proxied.cpu%7B%7D", "collapsed")
    c.ok(st == 200 and b"main;handle;db_query;mutex_lock 75" in body,
         f"{what}: GET /ember/render returns it", f"{st} {body[:200]!r}")

    # 2 MB of folded text in distinct stacks of 7 samples each.
    lines = []
    size = 0
    while size < 2_000_000:
        i = len(lines)
        lines.append(f"main;worker;pkg{i // 100}.Handler.serve;pkg{i // 100}.Type{i}"
                     f".handle_request_{i} 7\n".encode())
        size += len(lines[-1])
    big = b"".join(lines)
    st, _, body = opslib.request(f"{base}/ember/ingest?name=big.cpu%7B%7D&from={now}"
                                 "&format=folded", "POST", big)
    c.ok(st == 200, f"{what}: a {len(big) / 1e6:.1f} MB push passes",
         f"{st} {body[:200]!r}")
    st, body = render(base, "big.cpu%7B%7D")
    ticks = json.loads(body)["flamebearer"]["numTicks"] if st == 200 else None
    c.ok(ticks == 7 * len(lines), f"{what}: all of it is stored (numTicks {ticks})")

    # The Host check, through the proxy.
    st, _, _ = opslib.request(base + "/ember/api/apps", headers={"Host": NAME})
    c.ok(st == 200, f"{what}: the --allow-host name is answered", str(st))
    st, _, body = opslib.request(base + "/ember/api/apps", headers={"Host": "evil.example"})
    c.ok(st == 403 and b"DNS" in body, f"{what}: a rebound name gets Ember's 403",
         f"{st} {body[:160]!r}")
    st, _, body = opslib.request(f"{base}/ember/ingest?name=x.cpu%7B%7D&format=folded",
                                 "POST", b"a 1\n", {"Host": NAME, "Origin": "https://evil.example",
                                                    "Sec-Fetch-Site": "cross-site"})
    c.ok(st == 403 and b"cross-site" in body, f"{what}: a cross-site POST gets Ember's 403",
         f"{st} {body[:160]!r}")


def main():
    nginx = opslib.need_program("nginx", "nginx")
    c = opslib.Checks()
    tmp = opslib.tempdir("nginx")
    os.chmod(tmp, 0o755)  # nginx's workers (nobody when run as root) use it

    snippet = open(os.path.join(NGINX_DIR, "snippets", "ember.conf")).read()
    body_limit = size_bytes(directive(snippet, "client_max_body_size") or "1m")
    max_body = serve_default("max-body")
    c.ok(max_body and body_limit == size_bytes(max_body),
         f"client_max_body_size ({body_limit >> 20} MiB) is Ember's --max-body ({max_body})")
    read_timeout = int(re.sub(r"\D", "", directive(snippet, "proxy_read_timeout") or "60"))
    query_timeout = int(serve_default("query-timeout") or 0)
    c.ok(read_timeout > query_timeout,
         f"proxy_read_timeout ({read_timeout} s) exceeds --query-timeout ({query_timeout} s)")

    e = opslib.Ember(os.path.join(tmp, "data"), ["--allow-host", NAME])
    try:
        plain = Nginx(nginx, os.path.join(tmp, "http"), "ember.conf", e.port)
        try:
            check_site(c, plain.url(80), "ember.conf")
            out = os.path.join(tmp, "export.folded")
            r = subprocess.run([opslib.ember_bin(), "export", "--server",
                                plain.url(80) + "/ember", "--query", "proxied.cpu{}",
                                "--format", "collapsed", "-o", out],
                               capture_output=True, text=True)
            c.ok(r.returncode == 0 and "mutex_lock 75" in open(out).read(),
                 "ember.conf: ember export --server http://HOST:PORT/ember works",
                 r.stderr.strip())
        finally:
            log = plain.stop()
        c.ok("[emerg]" not in log and "[alert]" not in log, "ember.conf: nginx logged no "
             "emergency or alert", log[-500:])

        if not shutil.which("openssl"):
            print("note: openssl not found, ember-tls.conf is not tried")
        else:
            tdir = os.path.join(tmp, "tls")
            os.makedirs(tdir)
            cert, key = opslib.make_cert(tdir, NAME)
            tls = Nginx(nginx, tdir, "ember-tls.conf", e.port, cert, key)
            try:
                base = tls.url(443, "https")
                st, h, body = opslib.request(base + "/ember/", headers={"Host": NAME})
                c.ok(st == 200 and b"<title>Ember</title>" in body,
                     "ember-tls.conf: GET https://.../ember/ is the UI", str(st))
                now = int(time.time())
                st, _, _ = opslib.request(f"{base}/ember/ingest?name=tls.cpu%7B%7D&from={now}"
                                          "&format=folded", "POST", b"main;tls 5\n")
                st2, body = render(base, "tls.cpu%7B%7D", "collapsed")
                c.ok(st == 200 and b"main;tls 5" in body,
                     "ember-tls.conf: a push over HTTPS is stored and read back", f"{st} {st2}")
                st, h, _ = opslib.request(tls.url(80) + "/ember/?query=x", headers={"Host": NAME})
                c.ok(st == 301 and h.get("location") == f"https://{NAME}/ember/?query=x",
                     "ember-tls.conf: plain HTTP is redirected to HTTPS", f"{st} {h.get('location')}")
            finally:
                log = tls.stop()
            c.ok("[emerg]" not in log and "[alert]" not in log,
                 "ember-tls.conf: nginx logged no emergency or alert", log[-500:])
    finally:
        rc = e.stop()
    c.ok(rc == 0, "ember stopped cleanly", e.log[-500:])
    c.finish()


if __name__ == "__main__":
    main()
