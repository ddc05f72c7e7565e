// End-to-end test harness: starts the real ember binary on a free port of
// 127.0.0.1 with a temporary data directory, seeds it through /ingest, and
// drives Debian's chromium through playwright-core. Nothing here talks to
// any address but 127.0.0.1: the browser context aborts every other request.

import { spawn, execFileSync } from 'node:child_process';
import http from 'node:http';
import { mkdtempSync, rmSync, mkdirSync, existsSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
export const screenshotDir = path.join(repoRoot, 'build', 'web-screenshots');

const BROWSER_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--no-first-run',
  '--disable-sync',
];

export function emberBinary() {
  const bin = process.env.EMBER_BIN || path.join(repoRoot, 'build', 'ember');
  if (!existsSync(bin)) {
    throw new Error(`no ember binary at ${bin}: build it first (cmake -S . -B build && cmake --build build) or set EMBER_BIN`);
  }
  return bin;
}

// Starts `ember serve` and resolves once it prints its address.
// dataDir: reuse a data directory (kept on stop); port: a fixed port;
// tokens: lines of a token file ('TOKEN [role]'), which turns auth on;
// ingestToken: the token ingest() sends.
export async function startEmber({ dataDir, port = 0, tokens = null, ingestToken = '' } = {}) {
  const dir = dataDir || mkdtempSync(path.join(tmpdir(), 'ember-e2e-'));
  const args = ['serve', '--listen', `127.0.0.1:${port}`, '--data', dir];
  let tokenDir = null;
  if (tokens) {
    // Outside the data directory, as an operator would keep it.
    tokenDir = mkdtempSync(path.join(tmpdir(), 'ember-e2e-tokens-'));
    const file = path.join(tokenDir, 'tokens');
    writeFileSync(file, `${tokens.join('\n')}\n`, { mode: 0o600 });
    args.push('--auth-token-file', file);
  }
  const child = spawn(emberBinary(), args, {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  const url = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`ember did not start within 15 s; it said:\n${output}`)), 15000);
    const onData = (chunk) => {
      output += chunk;
      const m = /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(output);
      if (m) {
        clearTimeout(timer);
        resolve(`${m[1]}/`);
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', (c) => (output += c));
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`ember exited with ${code} before listening:\n${output}`));
    });
  });
  child.removeAllListeners('exit');
  let stopped = false;
  const server = {
    url,
    dir,
    get output() {
      return output;
    },
    // Sends folded stacks to /ingest; at is the Unix second the push covers.
    async ingest(name, folded, at, extra = {}) {
      const q = new URLSearchParams({ name, from: String(at), until: String(at + 10), format: 'folded', sampleRate: '100', ...extra });
      const headers = ingestToken ? { Authorization: `Bearer ${ingestToken}` } : {};
      const r = await fetch(`${url}ingest?${q}`, { method: 'POST', body: folded, headers });
      if (r.status !== 200) throw new Error(`ingest of ${name} answered ${r.status}: ${await r.text()}`);
    },
    async stop({ keepData = false } = {}) {
      if (stopped) return;
      stopped = true;
      if (child.exitCode === null) {
        const exited = new Promise((resolve) => child.once('exit', resolve));
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), 10000);
        await exited;
        clearTimeout(timer);
      }
      if (!keepData && !dataDir) rmSync(dir, { recursive: true, force: true });
      if (tokenDir) rmSync(tokenDir, { recursive: true, force: true });
    },
  };
  return server;
}

export function chromiumPath() {
  if (process.env.CHROMIUM) return process.env.CHROMIUM;
  try {
    return execFileSync('which', ['chromium'], { encoding: 'utf8' }).trim();
  } catch {
    throw new Error('chromium is not installed: apt-get install -y chromium (scripts/deps.sh --test does it)');
  }
}

// A fresh browser profile each time, so no state leaks between tests.
export async function launchBrowser({ dark = false, width = 1440, height = 900 } = {}) {
  const userDir = mkdtempSync(path.join(tmpdir(), 'ember-chromium-'));
  const context = await chromium.launchPersistentContext(userDir, {
    executablePath: chromiumPath(),
    headless: true,
    args: BROWSER_ARGS,
    viewport: { width, height },
    colorScheme: dark ? 'dark' : 'light',
    acceptDownloads: true,
  });
  await context.route('**/*', (route) => {
    const host = new URL(route.request().url()).hostname;
    if (host === '127.0.0.1' || route.request().url().startsWith('blob:') || route.request().url().startsWith('data:')) route.continue();
    else route.abort();
  });
  // Content-Security-Policy violations of every page, from the event the
  // page fires and from the console line Chromium writes for each.
  const csp = [];
  await context.exposeBinding('emberReportCSP', (source, text) => csp.push(text));
  await context.addInitScript(() => {
    document.addEventListener('securitypolicyviolation', (e) => {
      window.emberReportCSP(`${e.violatedDirective} blocked ${e.blockedURI || '(inline)'} at ${e.sourceFile}:${e.lineNumber}`);
    });
  });
  const watched = new WeakSet();
  const watch = (p) => {
    if (watched.has(p)) return;
    watched.add(p);
    p.on('console', (m) => {
      if (m.type() === 'error' && /Content Security Policy/i.test(m.text())) csp.push(m.text());
    });
  };
  context.on('page', watch);
  const errors = [];
  const page = context.pages()[0] || (await context.newPage());
  page.on('pageerror', (e) => errors.push(e.message));
  watch(page);
  return {
    context,
    page,
    errors,
    csp,
    async close() {
      await context.close();
      rmSync(userDir, { recursive: true, force: true });
    },
  };
}

export async function screenshot(page, name) {
  mkdirSync(screenshotDir, { recursive: true });
  await page.screenshot({ path: path.join(screenshotDir, `${name}.png`), fullPage: true });
}

// Waits until the page has finished loading what its URL asks for.
export async function settled(page, status = 'ready') {
  await page.waitForFunction(
    (want) => document.body.dataset.status === want,
    status,
    { timeout: 15000 },
  );
}

// Where a frame is drawn: page coordinates of the middle of the first node
// named `name` in panel `panel` (0-based), or of the widest such node, or
// null when it is not visible. left and top: a point inside the frame
// clear of its label.
export async function frameCenter(page, name, panel = 0, { widest = false } = {}) {
  return page.evaluate(
    ([n, k, wide]) => {
      const g = window.emberUI.view.panels[k].graph;
      const p = g.p;
      let node = -1;
      for (let i = 0; i < p.n; i++) {
        if (p.names[p.name[i]] === n && (node < 0 || (wide && p.total[i] > p.total[node]))) {
          node = i;
          if (!wide) break;
        }
      }
      const r = g.rectOf(node);
      if (!r) return null;
      let b = g.canvas.getBoundingClientRect();
      // Scrolled into view, so the mouse can reach it.
      if (b.top + r.y + 18 > window.innerHeight || b.top + r.y < 0) {
        window.scrollBy(0, b.top + r.y - window.innerHeight / 2);
        b = g.canvas.getBoundingClientRect();
      }
      return { x: b.left + r.x + r.w / 2, y: b.top + r.y + 8, w: r.w, width: g.width, node, left: b.left + r.x + 1.5, top: b.top + r.y + 1.5 };
    },
    [name, panel, widest],
  );
}

// The color of one canvas pixel at page coordinates, as [r, g, b].
export async function pixelAt(page, x, y, panel = 0) {
  return page.evaluate(
    ([px, py, k]) => {
      const g = window.emberUI.view.panels[k].graph;
      const b = g.canvas.getBoundingClientRect();
      const dpr = window.devicePixelRatio || 1;
      const d = g.ctx.getImageData(Math.round((px - b.left) * dpr), Math.round((py - b.top) * dpr), 1, 1).data;
      return [d[0], d[1], d[2]];
    },
    [x, y, panel],
  );
}

// How many distinct colors the drawn part of a panel's flame graph holds,
// and how many of its pixels differ from the background.
export async function canvasStats(page, panel = 0) {
  return page.evaluate((k) => {
    const g = window.emberUI.view.panels[k].graph;
    const w = g.canvas.width;
    const h = Math.round(g.cssHeight * (window.devicePixelRatio || 1));
    const d = new Uint32Array(g.ctx.getImageData(0, 0, w, h).data.buffer);
    const bg = d[d.length - 1];
    const colors = new Set();
    let painted = 0;
    for (let i = 0; i < d.length; i++) {
      if (d[i] !== bg) painted++;
      if (colors.size < 1000) colors.add(d[i]);
    }
    return { colors: colors.size, painted, pixels: d.length };
  }, panel);
}

// The function table of a panel as rows of { name, cells: [text...] }, the
// share percentages left out.
export async function tableRows(page, panel = 0) {
  return page.evaluate((k) => {
    const t = window.emberUI.view.panels[k].host.querySelector('table.functions');
    return [...t.querySelectorAll('tbody tr[data-i]')].map((tr) => {
      const tds = [...tr.querySelectorAll('td')];
      return {
        name: tds[0].textContent,
        cells: tds.slice(1).map((td) => (td.firstChild ? td.firstChild.textContent : '')),
      };
    });
  }, panel);
}

// A reverse proxy on 127.0.0.1 that serves `target` under `prefix` (such as
// "/ember/"), as a site would mount Ember behind its own web server.
export async function startPrefixProxy(target, prefix) {
  const up = new URL(target);
  const proxy = http.createServer((req, res) => {
    if (!req.url.startsWith(prefix)) {
      res.writeHead(404, { 'Content-Type': 'text/plain' });
      res.end(`only ${prefix} is served here`);
      return;
    }
    const fwd = http.request(
      { host: up.hostname, port: up.port, method: req.method, path: `/${req.url.slice(prefix.length)}`, headers: req.headers },
      (r) => {
        res.writeHead(r.statusCode, r.headers);
        r.pipe(res);
      },
    );
    fwd.on('error', () => {
      res.writeHead(502);
      res.end();
    });
    req.pipe(fwd);
  });
  await new Promise((resolve) => proxy.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${proxy.address().port}${prefix}`,
    close: () => new Promise((resolve) => proxy.close(resolve)),
  };
}

// The labels the last draw of a panel's flame graph wrote on its frames:
// [{ name, text }], the full frame name and the text drawn.
export async function drawnLabels(page, panel = 0) {
  return page.evaluate((k) => {
    const g = window.emberUI.view.panels[k].graph;
    return g.drawnLabels.map((l) => ({ node: l.node, name: g.p.names[g.p.name[l.node]], text: l.text, x: l.x }));
  }, panel);
}

// The ride-sharing story of examples/python/rideshare, as its agent would
// push it: three regions and three vehicles of one Python app, where
// eu-north's driver lookup spins on a contended lock (server:mutex_lock,
// some 40% of the region's CPU) and us-east has a few rare frames that
// are new or grew by a large factor on a handful of samples. One push per
// region and vehicle every 30 s over the last `minutes` minutes.
const PY = [
  'threading:Thread._bootstrap (threading.py:995)',
  'threading:Thread._bootstrap_inner (threading.py:1038)',
  'threading:Thread.run (threading.py:975)',
  'socketserver:ThreadingMixIn.process_request_thread (socketserver.py:691)',
  'socketserver:BaseServer.finish_request (socketserver.py:361)',
  'socketserver:BaseRequestHandler.__init__ (socketserver.py:755)',
  'http.server:BaseHTTPRequestHandler.handle (http/server.py:436)',
  'http.server:BaseHTTPRequestHandler.handle_one_request (http/server.py:424)',
  'server:Handler.do_GET (server.py:131)',
].join(';');
export const MUTEX = 'server:mutex_lock (server.py:58)';

export function rideSharingFolded(region, vehicle) {
  const n = { bike: 1, scooter: 2, car: 4 }[vehicle];
  const order = `${PY};server:order_${vehicle} (server.py:${{ bike: 86, scooter: 91, car: 96 }[vehicle]})`;
  const fnv = `${order};server:find_nearest_vehicle (server.py:74)`;
  const lines = [
    `${fnv} ${10 * n}`,
    `${PY};server:Handler.send_json (server.py:140);json:dumps (json/__init__.py:231) ${3 * n}`,
    `${PY};server:Handler.send_json (server.py:140);http.server:BaseHTTPRequestHandler.send_response (http/server.py:498) ${4 * n}`,
    `${PY.split(';').slice(0, 8).join(';')} ${2 * n}`,
  ];
  if (region === 'eu-north') {
    lines.push(`${fnv};server:check_driver_availability (server.py:66) ${5 * n}`);
    lines.push(`${fnv};server:check_driver_availability (server.py:66);${MUTEX} ${16 * n}`);
  }
  if (region === 'us-east' && vehicle === 'car') {
    lines.push(`${PY};server:Handler.log_request (server.py:150);logging:Logger.info (logging/__init__.py:1477) 2`);
    lines.push(`${PY};server:Handler.send_json (server.py:140);json:dumps (json/__init__.py:231);json.encoder:JSONEncoder.encode (json/encoder.py:199) 3`);
  }
  return `${lines.join('\n')}\n`;
}

export async function seedRideSharing(server, minutes = 4) {
  const now = Math.floor(Date.now() / 1000);
  const jobs = [];
  for (let t = now - minutes * 60 + 15; t < now - 5; t += 30) {
    for (const region of ['eu-north', 'us-east', 'ap-south']) {
      for (const vehicle of ['bike', 'scooter', 'car']) {
        jobs.push(server.ingest(`ride-sharing-app.cpu{region=${region},vehicle=${vehicle}}`, rideSharingFolded(region, vehicle), t, { spyName: 'pyspy' }));
      }
    }
  }
  await Promise.all(jobs);
}
