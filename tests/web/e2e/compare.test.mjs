// The comparison and diff views against a real server: two selections of
// the last hour (before and after the middle by default), each side with
// its own timeline and query.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startEmber, launchBrowser, screenshot, settled, frameCenter, canvasStats, tableRows } from './harness.mjs';

let server;
let browser;
let page;
const now = Math.floor(Date.now() / 1000);

// Left half of the last hour: 110 samples; right half: 140 + 80 = 220.
before(async () => {
  server = await startEmber();
  await server.ingest('shop.cpu{region=eu}', 'main;handle;parse_json 100\nmain;idle 10\n', now - 2700);
  await server.ingest('shop.cpu{region=eu}', 'main;handle;parse_json 50\nmain;handle;db_query;mutex_lock 80\nmain;idle 10\n', now - 600);
  await server.ingest('shop.cpu{region=us}', 'main;handle;render_html 60\nmain;idle 20\n', now - 600);
  browser = await launchBrowser();
  page = browser.page;
});

after(async () => {
  if (browser) await browser.close();
  if (server) await server.stop();
});

test('the comparison view shows both sides with their own timelines and totals', async () => {
  await page.goto(`${server.url}?view=comparison&query=shop.cpu%7B%7D`);
  await settled(page);
  assert.equal(await page.locator('.side.left .timeline canvas').count(), 1);
  assert.equal(await page.locator('.side.right .timeline canvas').count(), 1);
  const metas = await page.$$eval('.panel .panel-head .meta:not(.match)', (els) => els.map((e) => e.textContent));
  assert.match(metas[0], /total .* \(110 samples\)/);
  assert.match(metas[1], /total .* \(220 samples\)/);
  for (const k of [0, 1]) assert.ok((await canvasStats(page, k)).painted > 3000, `panel ${k} is drawn`);
  const left = Object.fromEntries((await tableRows(page, 0)).map((r) => [r.name, r.cells]));
  const right = Object.fromEntries((await tableRows(page, 1)).map((r) => [r.name, r.cells]));
  assert.deepEqual(left.parse_json, ['1.00 s', '1.00 s']);
  assert.deepEqual(right.parse_json, ['500 ms', '500 ms']);
  assert.equal(left.render_html, undefined);
  assert.deepEqual(right.render_html, ['600 ms', '600 ms']);
  await screenshot(page, 'comparison');
});

test('each side of the comparison has its own query, and two queries share the whole range', async () => {
  await page.fill('.side.right input.query', 'shop.cpu{region="us"}');
  await page.press('.side.right input.query', 'Enter');
  await page.waitForFunction(() => window.emberUI.state.rightQuery === 'shop.cpu{region="us"}');
  await settled(page);
  const metas = await page.$$eval('.panel .panel-head .meta:not(.match)', (els) => els.map((e) => e.textContent));
  // Not the halves any more: both sides cover the whole hour.
  assert.match(metas[0], /total .* \(330 samples\)/);
  assert.match(metas[1], /total .* \(80 samples\)/);
});

test('dragging on a side timeline sets that side only', async () => {
  const box = await page.locator('.side.left .timeline canvas').boundingBox();
  await page.mouse.move(box.x + box.width * 0.7, box.y + 30);
  await page.mouse.down();
  await page.mouse.move(box.x + box.width * 0.99, box.y + 30, { steps: 4 });
  await page.mouse.up();
  await page.waitForFunction(() => /^\d+$/.test(window.emberUI.state.leftFrom));
  const st = await page.evaluate(() => window.emberUI.state);
  assert.equal(st.rightFrom, '');
  await settled(page);
  const metas = await page.$$eval('.panel .panel-head .meta:not(.match)', (els) => els.map((e) => e.textContent));
  assert.match(metas[0], /total .* \(220 samples\)/, 'the left side now holds the recent pushes');
  await page.goBack();
  await page.waitForFunction(() => window.emberUI.state.leftFrom === '');
});

test('the diff view shows one graph of both sides, colored by change', async () => {
  await page.goto(`${server.url}?view=diff&query=shop.cpu%7B%7D`);
  await settled(page);
  assert.equal(await page.locator('.panel').count(), 1);
  assert.match(await page.textContent('.panel-head .meta'), /left .*\(110 samples\).*right .*\(220 samples\)/);
  assert.ok((await canvasStats(page)).painted > 3000);
  const rows = Object.fromEntries((await tableRows(page)).map((r) => [r.name, r.cells]));
  // Function | Self, L → R | Δ self | Total, L → R | Δ total | Relative:
  // shares of each side's total, and their change in percentage points.
  assert.deepEqual(rows.parse_json, ['90.9% → 22.7%', '-68.2 pp', '90.9% → 22.7%', '-68.2 pp', '-75%']);
  assert.deepEqual(rows.render_html, ['0% → 27.3%', '+27.3 pp', '0% → 27.3%', '+27.3 pp', 'new']);
  assert.deepEqual(rows.main, ['0% → 0%', '±0 pp', '100% → 100%', '±0 pp', '±0%']);
  const headers = await page.$$eval('table.functions thead th', (ths) => ths.map((t) => t.textContent.replace(/[▲▼]/g, '')));
  assert.deepEqual(headers, ['Function', 'Self, L → R', 'Δ self', 'Total, L → R', 'Δ total', 'Relative']);
  const c = await frameCenter(page, 'parse_json');
  await page.mouse.move(c.x, c.y);
  await page.waitForSelector('#tooltip:not([hidden])');
  const tip = await page.textContent('#tooltip');
  assert.match(tip, /-68\.2 pp of total: 90\.9% → 22\.7%/);
  assert.match(tip, /Left total\s*1\.00 s \(100 samples\)/);
  assert.match(tip, /Right total\s*500 ms \(50 samples\)/);
  assert.match(tip, /Relative\s*-75% of its share/);
  await screenshot(page, 'diff');
});

test('the diff colors frames red for more on the right and green for less', async () => {
  const color = async (name) => {
    const c = await frameCenter(page, name);
    return page.evaluate(([x, y]) => {
      const g = window.emberUI.view.panels[0].graph;
      const b = g.canvas.getBoundingClientRect();
      const d = g.ctx.getImageData(Math.round(x - b.left), Math.round(y - b.top), 1, 1).data;
      return [d[0], d[1], d[2]];
    }, [c.x, c.y]);
  };
  const [r1, g1] = await color('render_html');
  assert.ok(r1 > g1 + 40, `render_html is red (${r1}, ${g1})`);
  const [r2, g2] = await color('parse_json');
  assert.ok(g2 > r2 + 40, `parse_json is green (${r2}, ${g2})`);
});

test('the diff graph alone takes the whole width', async () => {
  await page.click('[data-show="graph"]');
  await page.waitForFunction(() => window.emberUI.state.show === 'graph');
  const panel = await page.locator('.panel').boundingBox();
  // The graph redraws on the next frame after its box grows.
  await page.waitForFunction((w) => window.emberUI.view.panels[0].graph.width > w - 10, panel.width);
  const c = await frameCenter(page, 'main');
  assert.ok(c.width > panel.width - 10, `graph ${c.width} px wide in a ${panel.width} px panel`);
  assert.equal(await page.isVisible('.table-wrap'), false);
});

test('the page raised no script errors', () => {
  assert.deepEqual(browser.errors, []);
});

test('nothing on the page broke its Content-Security-Policy', () => {
  assert.deepEqual(browser.csp, []);
});
