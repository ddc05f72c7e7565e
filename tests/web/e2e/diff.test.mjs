// The ride-sharing story in the comparison and diff views: eu-north against
// us-east over the same time, reached in one click from the single view,
// with a table that leads with the regression (server:mutex_lock) and its
// full name readable on the graph at 1400 px.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { functionOf } from '../../../web/js/label.js';
import { startEmber, launchBrowser, screenshot, settled, frameCenter, tableRows, drawnLabels, seedRideSharing, MUTEX } from './harness.mjs';

let server;
let browser;
let page;
const Q = (region) => `ride-sharing-app.cpu{region="${region}"}`;

before(async () => {
  server = await startEmber();
  await seedRideSharing(server, 4);
  browser = await launchBrowser({ width: 1400, height: 900 });
  page = browser.page;
});

after(async () => {
  if (browser) await browser.close();
  if (server) await server.stop();
});

const plan = () =>
  page.evaluate(() => {
    const p = window.emberUI.view.plan_;
    return { left: p.left, right: p.right, range: p.range };
  });

test('one click from the single view compares this tag value with another, over the same time', async () => {
  await page.goto(`${server.url}?query=${encodeURIComponent(Q('eu-north'))}&from=now-5m`);
  await settled(page);
  await page.click('.compare summary');
  await page.waitForSelector('.compare-values button[data-value="us-east"]');
  // The tag and this side's value come from the query.
  assert.equal(await page.inputValue('.compare-key'), 'region');
  assert.equal(await page.inputValue('.compare-left'), 'eu-north');
  await page.click('.compare-values button[data-value="us-east"]');
  await page.waitForFunction(() => window.emberUI.state.view === 'diff');
  await settled(page);
  const st = await page.evaluate(() => window.emberUI.state);
  assert.equal(st.leftQuery, Q('eu-north'));
  assert.equal(st.rightQuery, Q('us-east'));
  assert.equal(st.from, 'now-5m');
  const p = await plan();
  assert.deepEqual([p.left.from, p.left.until], [p.range.from, p.range.until], 'left covers the whole range');
  assert.deepEqual([p.right.from, p.right.until], [p.range.from, p.range.until], 'right covers the same range');
  // 8 pushes a region: 8 x 280 samples in eu-north, 8 x 138 in us-east.
  assert.match(await page.textContent('.panel-head .meta'), /left .*\(2,240 samples\) · right .*\(1,104 samples\)/);
  assert.match(await page.textContent('.side.left .range-text'), /whole range/);
});

test('the diff table leads with the regression: mutex_lock first, in percentage points', async () => {
  const rows = await tableRows(page);
  assert.match(rows[0].name, /mutex_lock/);
  // Self and total shares left -> right, their change in points, relative.
  assert.deepEqual(rows[0].cells, ['40% → 0%', '-40.0 pp', '40% → 0%', '-40.0 pp', 'gone']);
  assert.equal(await page.getAttribute('table.functions th[aria-sort]', 'aria-sort'), 'descending');
  assert.match(await page.textContent('table.functions th[aria-sort]'), /Δ self/);
  // The frames that are new on a few samples come after it.
  const logIdx = rows.findIndex((r) => /log_request/.test(r.name));
  assert.ok(logIdx > 0, 'log_request is listed');
  assert.equal(rows[logIdx].cells[4], 'new');
  await screenshot(page, 'diff-ride-sharing');
});

test('the full name of mutex_lock is readable on the graph at 1400 px', async () => {
  assert.equal(await page.evaluate(() => window.innerWidth), 1400);
  const labels = await drawnLabels(page);
  // mutex_lock is called under each vehicle's order: the car's is widest.
  const widest = await frameCenter(page, MUTEX, 0, { widest: true });
  const m = labels.find((l) => l.node === widest.node);
  assert.ok(m, 'the widest mutex_lock has a label');
  // Module and function whole; only the location "(server.py:58)" went.
  assert.equal(m.text, 'server:mutex_lock');
  // With the graph alone, the name whole.
  await page.click('[data-show="graph"]');
  await page.waitForFunction(() => window.emberUI.state.show === 'graph');
  await page.waitForTimeout(100);
  const alone = (await drawnLabels(page)).find((l) => l.node === widest.node);
  assert.ok(alone.text === MUTEX || alone.text === 'server:mutex_lock', alone.text);
  // Every label keeps its function whole, or is the start of it.
  for (const l of labels) {
    const fn = functionOf(l.name);
    assert.ok(l.text.includes(fn) || (l.text.endsWith('…') && fn.startsWith(l.text.slice(0, -1))), `${l.name}: "${l.text}"`);
  }
  await page.click('[data-show="both"]');
  await page.waitForFunction(() => window.emberUI.state.show === 'both');
});

test('the tooltip reads naturally: change in points, then both shares', async () => {
  const c = await frameCenter(page, MUTEX, 0, { widest: true });
  await page.mouse.move(c.x, c.y);
  await page.waitForSelector('#tooltip:not([hidden])');
  const tip = await page.textContent('#tooltip');
  // The car's mutex_lock: 4/7 of the region's 40%.
  assert.match(tip, /-22\.9 pp of total: 22\.9% → 0%/);
  assert.match(tip, /server:mutex_lock \(server\.py:58\)/);
  assert.match(tip, /only on the left/);
  await page.mouse.move(2, 2);
});

test('the two timelines share one y-scale', async () => {
  const max = await page.evaluate(() => window.emberUI.view.sides.map((s) => s.timeline.max));
  assert.equal(max.length, 2);
  assert.equal(max[0], max[1]);
  assert.ok(max[0] >= 280, `the larger side sets the scale (${max[0]})`);
});

test('a colour-blind palette: blue for less, orange for more, and a legend with percentages', async () => {
  const color = async (name) => {
    const f = await frameCenter(page, name, 0, { widest: true });
    const c = { x: f.left, y: f.top };
    return page.evaluate(([x, y]) => {
      const g = window.emberUI.view.panels[0].graph;
      const b = g.canvas.getBoundingClientRect();
      const d = g.ctx.getImageData(Math.round(x - b.left), Math.round(y - b.top), 1, 1).data;
      return [d[0], d[1], d[2]];
    }, [c.x, c.y]);
  };
  const [r0, g0] = await color(MUTEX);
  assert.ok(g0 > r0 + 40, `red/green first: mutex_lock is green (${r0}, ${g0})`);
  const ticks = await page.$$eval('.flame-legend .tick', (ts) => ts.map((t) => t.textContent));
  assert.deepEqual(ticks, ['-100%', '-50%', '0', '+50%', '≥ +100%']);
  await page.click('.palette-toggle');
  await page.waitForFunction(() => window.emberUI.state.palette === 'cb');
  const [r, g, b] = await color(MUTEX);
  assert.ok(b > r + 60 && b > g, `mutex_lock is blue (${r}, ${g}, ${b})`);
  const [r2, , b2] = await color('json:dumps (json/__init__.py:231)');
  assert.ok(r2 > b2 + 40, `json:dumps, larger on the right, is orange (${r2}, ${b2})`);
  const first = await page.$eval('.flame-legend .ramp span', (s) => getComputedStyle(s).backgroundColor);
  const [lr, , lb] = first.match(/\d+/g).map(Number);
  assert.ok(lb > lr, `the legend starts blue (${first})`);
  await screenshot(page, 'diff-colour-blind');
  // A preference: the next diff opens with it.
  await page.reload();
  await settled(page);
  assert.equal((await page.evaluate(() => window.emberUI.state)).palette, 'cb');
});

test('the legend follows the dark theme', async () => {
  const mid = () => page.$eval('.flame-legend .ramp span:nth-child(11)', (s) => getComputedStyle(s).backgroundColor);
  const light = (await mid()).match(/\d+/g).map(Number);
  await page.click('#theme');
  await page.waitForFunction(() => document.documentElement.dataset.theme === 'dark');
  const dark = (await mid()).match(/\d+/g).map(Number);
  assert.ok(light[0] + light[1] + light[2] > 550, `light "no change" is light (${light})`);
  assert.ok(dark[0] + dark[1] + dark[2] < 300, `dark "no change" is dark (${dark})`);
  const tick = await page.$eval('.flame-legend .tick', (t) => getComputedStyle(t).color);
  assert.ok(tick.match(/\d+/g).map(Number)[0] > 120, `legend text is light on dark (${tick})`);
  await screenshot(page, 'diff-dark');
  await page.click('#theme');
  await page.evaluate(() => window.emberUI.navigate({ palette: 'rg' }));
});

test('the side by side comparison of the two values shares the range as well', async () => {
  await page.click('.views button[data-view="comparison"]');
  await page.waitForFunction(() => window.emberUI.state.view === 'comparison');
  await settled(page);
  const p = await plan();
  assert.deepEqual([p.left.from, p.right.from, p.left.until, p.right.until], [p.range.from, p.range.from, p.range.until, p.range.until]);
  const metas = await page.$$eval('.panel .panel-head .meta:not(.match)', (els) => els.map((e) => e.textContent));
  assert.match(metas[0], /\(2,240 samples\)/);
  assert.match(metas[1], /\(1,104 samples\)/);
});

test('comparing one query over time keeps the halves', async () => {
  await page.goto(`${server.url}?view=diff&query=${encodeURIComponent(Q('eu-north'))}&from=now-5m`);
  await settled(page);
  const p = await plan();
  assert.equal(p.left.from, p.range.from);
  assert.equal(p.left.until, p.right.from);
  assert.equal(p.right.until, p.range.until);
});

test('the page raised no script errors', () => {
  assert.deepEqual(browser.errors, []);
});

test('nothing on the page broke its Content-Security-Policy', () => {
  assert.deepEqual(browser.csp, []);
});
