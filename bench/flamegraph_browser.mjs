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
//   hover        from the pointer reaching a frame to its outline and its
//                tooltip on screen (the panel's tooltip, with its units)
//   sandwich     from picking a function to its callers and callees drawn
//   explorer     from an /api/explore answer (ten values, "other" and the
//                series without the tag, 1,024 points each) to its lines,
//                table and pie drawn; and a hover over its lines
// Targets: first draw within 16 ms; zoom, search and hover within 8 ms.
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
<body><div id="host"></div><div id="panel-host" style="width:${WIDTH}px"></div>
<div id="sel" class="selectors"></div><div id="panels" class="panels" style="width:${WIDTH}px"></div>
<div id="tooltip" class="tooltip" hidden></div><script type="module">
import { decode, release } from './js/flamebearer.js';
import { FlameGraph } from './js/flamegraph.js';
import { compileMatcher, matchNames, matchNodes } from './js/search.js';
import { FlamePanel } from './js/panel.js';
import { Tooltip } from './js/tooltip.js';
import { Menu } from './js/menu.js';
import { ExploreView } from './js/explore.js';

const host = document.getElementById('host');
let graph = null;
const tooltip = new Tooltip(document.getElementById('tooltip'));

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

// A panel as the single view has it: graph, table and tooltips.
let panel = null;
const noSearch = compileMatcher('');
const view = { zoom: [], search: noSearch, fn: '', sort: '', show: 'graph', theme: 'light', align: 'left', palette: 'rg', sandwich: '', hide: '' };
window.setupPanel = async () => {
  const el = document.createElement('section');
  document.getElementById('panel-host').append(el);
  panel = new FlamePanel(el, { side: 'single', title: 'bench', tooltip, menu: new Menu() });
  const text = await (await fetch('bench.json', { cache: 'no-store' })).text();
  const raw = JSON.parse(text);
  panel.setProfile(decode(raw), raw, 'bench.cpu{}');
  panel.apply(view, true);
  settle(panel.graph);
};

// Hovers over frames drawn at least 4 px wide, spread over the graph.
window.hovers = () => {
  const g = panel.graph;
  const r = g.rects;
  const b = g.canvas.getBoundingClientRect();
  const picks = [];
  for (let k = 0; k < g.drawStats.frames && picks.length < 400; k++) if (r.w[k] >= 4) picks.push(k);
  const step = Math.max(1, Math.floor(picks.length / 60));
  const times = [];
  for (let j = 0; j < picks.length; j += step) {
    const k = picks[j];
    const i = r.node[k];
    const e = { clientX: b.left + r.x[k] + 2, clientY: b.top + g.rowTop(g.p.depth[i]) + 5 };
    const t0 = performance.now();
    g.setHover(i, e);
    void tooltip.el.offsetHeight; // the tooltip laid out
    settle(g);
    times.push(performance.now() - t0);
  }
  g.setHover(-1);
  return times;
};

// Sandwiches of functions at several depths: the widest frame's function
// and one from the middle of the level.
window.sandwiches = () => {
  const p = panel.p;
  const names = [];
  for (const d of [2, 4, 6, 10, 16]) {
    if (d >= p.levels) break;
    let best = -1;
    for (let i = p.levelStart[d]; i < p.levelStart[d + 1]; i++) if (best < 0 || p.total[i] > p.total[best]) best = i;
    names.push(p.names[p.name[best]]);
    names.push(p.names[p.name[p.levelStart[d] + ((p.levelStart[d + 1] - p.levelStart[d]) >> 1)]]);
  }
  const times = [];
  for (const name of names) {
    const t0 = performance.now();
    panel.apply({ ...view, sandwich: name });
    settle(panel.callers);
    settle(panel.callees);
    times.push(performance.now() - t0);
    panel.apply(view);
  }
  return times;
};

// The tag explorer, from its answer to what it draws.
let explore = null;
window.explore = async () => {
  const resp = await (await fetch('explore.json', { cache: 'no-store' })).json();
  if (!explore) {
    explore = new ExploreView('explore', {
      selectors: document.getElementById('sel'),
      panels: document.getElementById('panels'),
      tooltip,
      menu: new Menu(),
      navigate: () => {},
      banner: () => {},
    });
  }
  const st = { query: resp.query, groupBy: resp.groupBy, groupValue: '', leftQuery: '', rightQuery: '', top: 10 };
  explore.range = { from: resp.startTime, until: resp.endTime };
  explore.st = st;
  const t0 = performance.now();
  explore.accept(resp, st);
  explore.chart.ctx.getImageData(0, 0, 1, 1);
  explore.pie.getContext('2d').getImageData(0, 0, 1, 1);
  void explore.tbody.offsetHeight;
  const accept = performance.now() - t0;
  const c = explore.chart.canvas.getBoundingClientRect();
  const hovers = [];
  for (let k = 0; k < 40; k++) {
    const e = { clientX: c.left + ((k + 0.5) / 40) * c.width, clientY: c.top + c.height / 2 };
    const t1 = performance.now();
    explore.chart.onMove(e);
    void tooltip.el.offsetHeight;
    explore.chart.ctx.getImageData(0, 0, 1, 1);
    hovers.push(performance.now() - t1);
  }
  return { accept, hovers };
};
</script></body></html>`;

// An /api/explore answer: ten values, other and missing, each with a
// 1,024-point timeline, shaped as docs/API.md says.
function exploreAnswer() {
  const points = 1024;
  const start = 1700000000;
  const series = (seed) => Array.from({ length: points }, (_, i) => 1 + Math.round(100 + 80 * Math.sin(i / (7 + seed)) + seed * 10));
  const sum = (a) => a.reduce((x, y) => x + y - 1, 0);
  const groups = [];
  for (let k = 0; k < 10; k++) {
    const samples = series(k);
    groups.push({ value: `region-${k}`, query: `bench.cpu{region="region-${k}"}`, total: sum(samples), share: 0, avg: 0, peak: Math.max(...samples) - 1, samples });
  }
  const other = series(11);
  groups.push({ value: 'other', other: true, values: 25, total: sum(other), share: 0, avg: 0, peak: Math.max(...other) - 1, samples: other });
  const missing = series(12);
  const all = groups.concat([{ samples: missing }]);
  const timeline = Array.from({ length: points }, (_, i) => 1 + all.reduce((x, g) => x + g.samples[i] - 1, 0));
  const total = sum(timeline);
  for (const g of groups) {
    g.share = g.total / total;
    g.avg = g.total / points;
  }
  return {
    groupBy: 'region', query: 'bench.cpu{}', units: 'samples', sampleRate: 100, spyName: 'gospy',
    startTime: start, endTime: start + points * 100, total,
    timeline: { startTime: start, durationDelta: 100, samples: timeline },
    groups,
    missing: { value: '', query: 'bench.cpu{region=""}', total: sum(missing), share: sum(missing) / total, avg: sum(missing) / points, peak: Math.max(...missing) - 1, samples: missing },
  };
}

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
    '/explore.json': () => ({ body: JSON.stringify(exploreAnswer()) }),
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
    await page.evaluate(() => window.setupPanel());
    const hovers = [];
    const sandwiches = [];
    for (let k = 0; k < 3; k++) {
      hovers.push(...(await page.evaluate(() => window.hovers())));
      sandwiches.push(...(await page.evaluate(() => window.sandwiches())));
    }
    await page.evaluate(() => window.explore()); // warms the JIT
    const explores = [];
    const exploreHovers = [];
    for (let k = 0; k < 8; k++) {
      const r = await page.evaluate(() => window.explore());
      explores.push(r.accept);
      exploreHovers.push(...r.hovers);
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
    const h = stats(hovers);
    console.log(`hover (outline and tooltip): min ${ms(h.min)}, median ${ms(h.median)}, p95 ${ms(h.p95)}, max ${ms(h.max)} over ${h.n} hovers; target 8 ms: ${verdict(h.median, 8)}`);
    const w = stats(sandwiches);
    console.log(`sandwich (callers and callees built and drawn): min ${ms(w.min)}, median ${ms(w.median)}, p95 ${ms(w.p95)}, max ${ms(w.max)} over ${w.n} functions`);
    const e = stats(explores);
    const eh = stats(exploreHovers);
    console.log(`tag explorer, 12 lines of 1,024 points, table and pie: min ${ms(e.min)}, median ${ms(e.median)}, max ${ms(e.max)} over ${e.n} runs; ` +
      `hover over its lines: median ${ms(eh.median)}, p95 ${ms(eh.p95)} over ${eh.n}; target 8 ms: ${verdict(eh.median, 8)}`);
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
