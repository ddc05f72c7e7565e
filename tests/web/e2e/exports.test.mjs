// Exports: a PNG under a header that says what it shows (and the legend
// and both queries for a diff), the interactive SVG and the HTML page from
// the server's own renderers, pprof, and files named after both sides of
// a diff.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { startEmber, launchBrowser, settled, seedRideSharing } from './harness.mjs';

let server;
let browser;
let page;
const renders = [];

before(async () => {
  server = await startEmber();
  await seedRideSharing(server, 4);
  browser = await launchBrowser();
  page = browser.page;
  page.on('request', (r) => {
    if (/\/render(-diff)?\?/.test(r.url()) && /format=(svg|html|pprof)/.test(r.url())) renders.push(r.url());
  });
});

after(async () => {
  if (browser) await browser.close();
  if (server) await server.stop();
});

async function grab(kind) {
  await page.click('.panel summary:has-text("Export")');
  const [download] = await Promise.all([page.waitForEvent('download'), page.click(`button[data-export="${kind}"]`)]);
  return { name: download.suggestedFilename(), body: await readFile(await download.path()) };
}

// Width and height of a PNG, from its IHDR chunk.
const pngSize = (b) => ({ width: b.readUInt32BE(16), height: b.readUInt32BE(20) });

const EU = 'ride-sharing-app.cpu{region="eu-north"}';
const US = 'ride-sharing-app.cpu{region="us-east"}';

test('the PNG of a single view has a header: query, range and total', async () => {
  await page.goto(`${server.url}?query=${encodeURIComponent(EU)}&from=now-5m`);
  await settled(page);
  const lines = await page.evaluate(async () => (await import('./js/download.js')).headerLines(window.emberUI.view.panels[0]));
  assert.equal(lines[0], EU);
  assert.match(lines[1], /^[A-Z][a-z]{2} \d+ \d\d:\d\d – \d\d:\d\d · total 22\.4 s \(2,240 samples\)$/);
  const png = await grab('png');
  assert.equal(png.name, 'ride-sharing-app.cpu_region-eu-north.png');
  const size = pngSize(png.body);
  const graph = await page.evaluate(() => {
    const g = window.emberUI.view.panels[0].graph;
    return { width: g.canvas.width, height: Math.round(g.cssHeight * (window.devicePixelRatio || 1)) };
  });
  assert.equal(size.width, graph.width);
  assert.ok(size.height >= graph.height + 40, `a header above the graph (${size.height} vs ${graph.height})`);
});

test('SVG and HTML come from the server, byte for byte', async () => {
  const svg = await grab('svg');
  assert.equal(svg.name, 'ride-sharing-app.cpu_region-eu-north.svg');
  const url = renders.find((u) => /format=svg/.test(u));
  assert.ok(url, 'the page asked the server for it');
  const direct = Buffer.from(await (await fetch(url)).arrayBuffer());
  assert.ok(svg.body.equals(direct), 'the file is the server’s answer');
  assert.match(svg.body.toString(), /<svg [^>]*id="ember-flame"/);
  const html = await grab('html');
  assert.equal(html.name, 'ride-sharing-app.cpu_region-eu-north.html');
  assert.match(html.body.toString(), /^<!DOCTYPE html>/i);
  assert.match(html.body.toString(), /id="flamebearer"/);
});

test('pprof comes from the server too', async () => {
  const pb = await grab('pprof');
  assert.equal(pb.name, 'ride-sharing-app.cpu_region-eu-north.pb.gz');
  assert.deepEqual([...pb.body.subarray(0, 2)], [0x1f, 0x8b], 'gzip');
});

test('a diff exports under both sides’ names, with the legend and both queries in the PNG', async () => {
  await page.goto(
    `${server.url}?view=diff&query=${encodeURIComponent(EU)}&leftQuery=${encodeURIComponent(EU)}&rightQuery=${encodeURIComponent(US)}&from=now-5m`,
  );
  await settled(page);
  const lines = await page.evaluate(async () => (await import('./js/download.js')).headerLines(window.emberUI.view.panels[0]));
  assert.equal(lines[0], `Diff: ${EU} → ${US}`);
  assert.match(lines[1], /^Left: ride-sharing-app\.cpu\{region="eu-north"\} · .* · total 22\.4 s/);
  assert.match(lines[2], /^Right: ride-sharing-app\.cpu\{region="us-east"\} · .* · total 11\.0 s/);
  const stem = 'diff_ride-sharing-app.cpu_region-eu-north_vs_region-us-east';
  const png = await grab('png');
  assert.equal(png.name, `${stem}.png`);
  // The legend's colors are in the header: the full "less" green of the ramp.
  const legend = await page.evaluate(async (b64) => {
    const img = new Image();
    img.src = `data:image/png;base64,${b64}`;
    await img.decode();
    const c = document.createElement('canvas');
    c.width = img.width;
    c.height = 90;
    const ctx = c.getContext('2d');
    ctx.drawImage(img, 0, 0);
    const d = ctx.getImageData(0, 0, c.width, 90).data;
    let green = 0;
    for (let i = 0; i < d.length; i += 4) if (d[i + 1] > 200 && d[i] < 80 && d[i + 2] < 120) green++;
    return green;
  }, png.body.toString('base64'));
  assert.ok(legend > 50, `the legend is drawn in the header (${legend} green pixels)`);
  assert.equal((await grab('svg')).name, `${stem}.svg`);
  assert.ok(renders.some((u) => /render-diff\?.*format=svg/.test(u)), 'the diff SVG is the server’s /render-diff');
  assert.equal((await grab('html')).name, `${stem}.html`);
  assert.equal((await grab('json')).name, `${stem}.json`);
  assert.equal((await grab('folded-left')).name, `${stem}-left.txt`);
  const left = await grab('pprof-left');
  assert.equal(left.name, `${stem}-left.pb.gz`);
  assert.deepEqual([...left.body.subarray(0, 2)], [0x1f, 0x8b]);
});

test('the page raised no script errors', () => {
  assert.deepEqual(browser.errors, []);
});

test('nothing on the page broke its Content-Security-Policy', () => {
  assert.deepEqual(browser.csp, []);
});

test('the HTML page has one header and one search, which fades what does not match', async () => {
  const q = encodeURIComponent(EU);
  await page.goto(new URL(`/render?query=${q}&from=now-5m&format=html`, server.url).href);
  assert.equal(await page.locator('header').count(), 1);
  assert.equal(await page.locator('input[type="search"]').count(), 1);
  // The inline SVG draws neither its own header nor a "Search" link.
  assert.equal(await page.locator('#ember-search-ctl, #ember-matched, svg .h1').count(), 0);
  await page.fill('#ember-search', 'order_car');
  const share = await page.textContent('#ember-share');
  assert.match(share, /^Matched: \d+\.\d\d%$/);
  assert.ok(parseFloat(share.slice(9)) > 0, share);
  assert.equal(await page.evaluate(() => document.getElementById('ember-flame').classList.contains('s')), true);
  // The page wears the UI's colors: its --bg is the UI's.
  const bg = await page.evaluate(() => getComputedStyle(document.body).getPropertyValue('--bg').trim());
  assert.equal(bg, '#f6f7f9');
});
