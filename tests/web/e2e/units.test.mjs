// Values in the units of their profile type, in the header, the table, the
// tooltip, the timeline and the exports: CPU samples as time, nanoseconds
// as durations, bytes in binary units, counts with their names.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { startEmber, launchBrowser, settled, frameCenter, tableRows } from './harness.mjs';

let server;
let browser;
let page;
const now = Math.floor(Date.now() / 1000);

before(async () => {
  server = await startEmber();
  // 264 MiB and 13 MiB of allocations.
  await server.ingest('go.alloc_space{}', 'main;alloc 276824064\nmain;small 13631488\n', now - 300, { units: 'bytes', spyName: 'gospy' });
  // 10 s and 2.5 s of CPU in nanoseconds.
  await server.ingest('go.cpu{}', 'main;work 10000000000\nmain;gc 2500000000\n', now - 300, { units: 'nanoseconds', spyName: 'gospy' });
  await server.ingest('go.alloc_objects{}', 'main;alloc 7500000000\nmain;small 1\n', now - 300, { units: 'objects', spyName: 'gospy' });
  await server.ingest('go.goroutines{}', 'main;wait 12\n', now - 300, { units: 'goroutines', spyName: 'gospy' });
  browser = await launchBrowser();
  page = browser.page;
});

after(async () => {
  if (browser) await browser.close();
  if (server) await server.stop();
});

async function open(app) {
  await page.goto(`${server.url}?query=${encodeURIComponent(`${app}{}`)}`);
  await settled(page);
  const rows = Object.fromEntries((await tableRows(page)).map((r) => [r.name, r.cells]));
  const header = await page.textContent('.panel-head .meta');
  const timeline = await page.evaluate(() => window.emberUI.view.sides[0].timeline.opts.short(window.emberUI.view.sides[0].timeline.max));
  return { rows, header, timeline };
}

async function tooltipOf(name) {
  const c = await frameCenter(page, name);
  await page.mouse.move(c.x, c.y);
  await page.waitForSelector('#tooltip:not([hidden])');
  const t = await page.textContent('#tooltip');
  await page.mouse.move(2, 2);
  return t;
}

test('bytes read in one binary family everywhere', async () => {
  const v = await open('go.alloc_space');
  assert.match(v.header, /total 277 MiB/);
  assert.deepEqual(v.rows.alloc, ['264 MiB', '264 MiB']);
  assert.deepEqual(v.rows.small, ['13.0 MiB', '13.0 MiB']);
  assert.equal(v.timeline, '277 MiB');
  assert.match(await tooltipOf('alloc'), /Total\s*264 MiB/);
  assert.ok(!/\d M\b|bytes/.test(await page.textContent('table.functions')), 'no bare "M" and no raw bytes in the table');
});

test('nanoseconds read as durations', async () => {
  const v = await open('go.cpu');
  assert.match(v.header, /total 12\.5 s/);
  assert.deepEqual(v.rows.work, ['10.0 s', '10.0 s']);
  assert.deepEqual(v.rows.gc, ['2.50 s', '2.50 s']);
  assert.match(await tooltipOf('work'), /Total\s*10\.0 s\s*80%/);
  assert.ok(!/nanoseconds/.test(await page.textContent('main')));
});

test('counts keep their names', async () => {
  const v = await open('go.alloc_objects');
  assert.match(v.header, /total 7,500,000,001 objects/);
  assert.deepEqual(v.rows.alloc, ['7.50 G objects', '7.50 G objects']);
  assert.deepEqual(v.rows.small, ['1 object', '1 object']);
  const g = await open('go.goroutines');
  assert.match(g.header, /total 12 goroutines/);
  assert.equal(g.timeline, '12 goroutines');
});

test('CPU samples read as the time they stand for', async () => {
  await server.ingest('py.cpu{}', 'main;work 250\n', now - 300);
  const v = await open('py.cpu');
  assert.match(v.header, /total 2\.50 s \(250 samples\)/);
  assert.deepEqual(v.rows.work, ['2.50 s', '2.50 s']);
  assert.equal(v.timeline, '2.50 s');
});

test('exports carry the units: the PNG header and the server SVG', async () => {
  await open('go.alloc_space');
  const header = await page.evaluate(async () => {
    const { headerLines } = await import('./js/download.js');
    return headerLines(window.emberUI.view.panels[0]);
  });
  assert.equal(header[0], 'go.alloc_space{}');
  assert.match(header[1], /total 277 MiB$/);
  await page.click('.panel summary:has-text("Export")');
  const [download] = await Promise.all([page.waitForEvent('download'), page.click('button[data-export="svg"]')]);
  const svg = (await readFile(await download.path())).toString();
  assert.match(svg, /264 MiB/);
});

test('the page raised no script errors', () => {
  assert.deepEqual(browser.errors, []);
});
