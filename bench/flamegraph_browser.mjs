#!/usr/bin/env node
// Flame graph rendering benchmark in headless Chromium.
//
// Generates a profile of 50,000 nodes (or BENCH_NODES), serves the UI's own
// modules and a small page from a server on 127.0.0.1, and measures in the
// browser:
//   first draw   from the JSON text's arrival to the finished canvas: parse,
//                decode, colors, layout, drawing, and a pixel read that makes
//                the browser finish rasterising
//   zoom         from a click's zoom change to the finished canvas
//   search       from a new search term to the finished, highlighted canvas
// Targets: first draw within 16 ms, zoom and search within 8 ms.
//
//   node bench/flamegraph_browser.mjs
//
// Needs playwright-core (npm ci in tests/web/e2e) and Debian's chromium.
// Environment: CHROMIUM (browser binary, default: `which chromium`),
// BENCH_NODES (default 50000), BENCH_WIDTH (canvas width, default 1400),
// BENCH_DPR (device pixel ratio, default 1).

import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir, loadavg, cpus } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { renderResponse, syntheticFolded } from '../tests/web/lib/build.mjs';
import { startStaticServer } from '../tests/web/lib/static-server.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '..');
const NODES = Number(process.env.BENCH_NODES || 50000);
const WIDTH = Number(process.env.BENCH_WIDTH || 1400);
const DPR = Number(process.env.BENCH_DPR || 1);

async function playwright() {
  const file = path.join(root, 'tests/web/e2e/node_modules/playwright-core/index.mjs');
  try {
    return await import(file);
  } catch {
    console.error('playwright-core is missing: run "npm ci --no-audit --no-fund" in tests/web/e2e first');
    process.exit(2);
  }
}

function chromiumPath() {
  if (process.env.CHROMIUM) return process.env.CHROMIUM;
  try {
    return execFileSync('which', ['chromium'], { encoding: 'utf8' }).trim();
  } catch {
    console.error('chromium is missing: apt-get install -y chromium');
    process.exit(2);
  }
}

// A profile with at least `want` nodes: the generator's count is
// approximate (equal frames under one parent merge), so grow until it fits.
function profile(want) {
  let target = want;
  for (;;) {
    const resp = renderResponse(syntheticFolded(target, 42, 48), { name: 'bench.cpu{}', appName: 'bench.cpu' });
    const n = resp.flamebearer.levels.reduce((s, l) => s + l.length / 4, 0);
    if (n >= want) return { json: JSON.stringify(resp), n, levels: resp.flamebearer.levels.length };
    target = Math.ceil(target * (want / n) * 1.01);
  }
}

const PAGE = `<!doctype html><html><head><meta charset="utf-8"><link rel="stylesheet" href="style.css">
<style>body{margin:0;padding:0} #host{width:${WIDTH}px}</style></head>
<body><div id="host"></div><script type="module">
import { decode, release } from './js/flamebearer.js';
import { FlameGraph } from './js/flamegraph.js';
import { compileMatcher, matchNames, matchNodes } from './js/search.js';

const host = document.getElementById('host');
let graph = null;

// Reading one pixel makes the browser finish every pending draw call.
function settle(g) {
  g.ctx.getImageData(0, 0, 1, 1);
}

// As in the UI, the (empty) graph exists before its data arrives; the
// timing starts when the response text is complete.
window.firstDraw = async () => {
  // The profile on screen is replaced, as on a refresh of the UI.
  if (window.p) release(window.p);
  if (graph) graph.destroy();
  graph = new FlameGraph(host, {});
  await new Promise((r) => requestAnimationFrame(() => setTimeout(r, 0)));
  const resp = await fetch('bench.json', { cache: 'no-store' });
  const text = await resp.text();
  const t0 = performance.now();
  const raw = JSON.parse(text);
  const t1 = performance.now();
  const p = decode(raw);
  const t2 = performance.now();
  graph.setData(p);
  const t3 = performance.now();
  settle(graph);
  const t4 = performance.now();
  window.p = p;
  return { total: t4 - t0, parse: t1 - t0, decode: t2 - t1, prepare: t3 - t2 - graph.lastDrawMs, draw: graph.lastDrawMs,
           ...Object.fromEntries(Object.entries(graph.drawStats).map(([k, v]) => ['d_' + k, v])),
           raster: t4 - t3, bytes: text.length,
           canvas: graph.canvas.width + 'x' + graph.canvas.height };
};

// Zoom targets: the widest frames of the first levels, then frames a few
// levels down, each followed by a reset to the root.
window.zooms = () => {
  const p = window.p;
  const picks = [];
  for (const d of [1, 2, 3, 5, 8, 12]) {
    if (d >= p.levels) break;
    let best = -1;
    for (let i = p.levelStart[d]; i < p.levelStart[d + 1]; i++) if (best < 0 || p.total[i] > p.total[best]) best = i;
    picks.push(best);
    const mid = p.levelStart[d] + ((p.levelStart[d + 1] - p.levelStart[d]) >> 1);
    picks.push(mid);
  }
  const times = [];
  for (const i of picks) {
    for (const target of [i, 0]) {
      const t0 = performance.now();
      graph.setZoom(target);
      settle(graph);
      times.push(performance.now() - t0);
    }
  }
  return times;
};

window.searches = () => {
  const p = window.p;
  const terms = ['Func1', 'pkg12', 'svc3/', 'main', 'zzz-nothing', 'Func3', 'acme', 'pkg2.Func7'];
  const times = [];
  for (const term of terms) {
    const t0 = performance.now();
    const m = compileMatcher(term);
    const r = matchNodes(p, matchNames(p.names, m));
    graph.setHighlight(r.hit);
    settle(graph);
    times.push(performance.now() - t0);
  }
  const t0 = performance.now();
  graph.setHighlight(null);
  settle(graph);
  times.push(performance.now() - t0);
  return times;
};
</script></body></html>`;

function stats(xs) {
  const s = [...xs].sort((a, b) => a - b);
  const q = (f) => s[Math.min(s.length - 1, Math.floor(f * s.length))];
  return { min: s[0], median: q(0.5), p95: q(0.95), max: s[s.length - 1], n: s.length };
}

const ms = (x) => `${x.toFixed(1)} ms`;
const verdict = (x, target) => (x <= target ? 'within' : 'OVER');

async function main() {
  const { chromium } = await playwright();
  const gen = profile(NODES);
  const server = await startStaticServer({
    '/bench.html': () => ({ type: 'text/html; charset=utf-8', body: PAGE }),
    '/bench.json': () => ({ body: gen.json }),
  });
  const userDir = mkdtempSync(path.join(tmpdir(), 'ember-bench-'));
  const browser = await chromium.launchPersistentContext(userDir, {
    executablePath: chromiumPath(),
    headless: true,
    viewport: { width: WIDTH + 40, height: 1000 },
    deviceScaleFactor: DPR,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
      '--disable-component-update', '--no-first-run', '--disable-sync'],
  });
  try {
    const page = await browser.newPage();
    page.on('pageerror', (e) => console.error('page error:', e.message));
    await page.goto(`${server.url}bench.html`);
    await page.waitForFunction(() => typeof window.firstDraw === 'function');
    // The first run warms the JIT; it is reported apart.
    const cold = await page.evaluate(() => window.firstDraw());
    const warm = [];
    for (let k = 0; k < 15; k++) warm.push(await page.evaluate(() => window.firstDraw()));
    const zooms = [];
    const searches = [];
    for (let k = 0; k < 3; k++) {
      zooms.push(...(await page.evaluate(() => window.zooms())));
      searches.push(...(await page.evaluate(() => window.searches())));
    }
    const first = stats(warm.map((r) => r.total));
    const part = (k) => stats(warm.map((r) => r[k])).median;
    const z = stats(zooms);
    const s = stats(searches);
    console.log(`flame graph benchmark: ${gen.n.toLocaleString('en-US')} nodes, ${gen.levels} levels, ` +
      `${(cold.bytes / 1024).toFixed(0)} KiB of JSON, canvas ${cold.canvas} px (dpr ${DPR}), Chromium headless`);
    console.log(`machine: ${cpus().length} cores, load average ${loadavg().map((x) => x.toFixed(2)).join(' ')} ` +
      '(other work on the machine shows up in the p95 and max figures)');
    console.log(`first draw, JSON arrival to pixels: min ${ms(first.min)}, median ${ms(first.median)}, max ${ms(first.max)} over ${first.n} runs ` +
      `(parse ${ms(part('parse'))}, decode ${ms(part('decode'))}, colors ${ms(part('prepare'))}, layout+paint ${ms(part('draw'))}, ` +
      `raster ${ms(part('raster'))}); ` +
      `the draw: setup ${ms(part('d_setup'))}, layout ${ms(part('d_layout'))} for ${warm[0].d_frames} frames, ` +
      `paint ${ms(part('d_paint'))}, putImageData ${ms(part('d_put'))}, labels ${ms(part('d_labels'))}; ` +
      `cold first run ${ms(cold.total)}; target 16 ms: ${verdict(first.median, 16)}`);
    console.log(`zoom: min ${ms(z.min)}, median ${ms(z.median)}, p95 ${ms(z.p95)}, max ${ms(z.max)} over ${z.n} zooms; target 8 ms: ${verdict(z.median, 8)}`);
    console.log(`search: min ${ms(s.min)}, median ${ms(s.median)}, p95 ${ms(s.p95)}, max ${ms(s.max)} over ${s.n} searches; target 8 ms: ${verdict(s.median, 8)}`);
  } finally {
    await browser.close();
    await server.close();
    rmSync(userDir, { recursive: true, force: true });
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
