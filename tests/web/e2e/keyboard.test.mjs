// The keyboard and the timeline: arrow keys move between frames, Enter
// zooms, the tooltip follows the focus; the graph comes before the table
// in the Tab order; timeline labels never repeat, and a hint says the
// timeline can be dragged.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startEmber, launchBrowser, screenshot, settled } from './harness.mjs';

let server;
let browser;
let page;
const now = Math.floor(Date.now() / 1000);

before(async () => {
  server = await startEmber();
  await server.ingest('kb.cpu{}', 'main;handle;parse 60\nmain;handle;db;lock 30\nmain;idle 10\n', now - 90);
  browser = await launchBrowser();
  page = browser.page;
});

after(async () => {
  if (browser) await browser.close();
  if (server) await server.stop();
});

const focused = () =>
  page.evaluate(() => {
    const g = window.emberUI.view.panels[0].graph;
    return g.focusNode >= 0 ? g.p.names[g.p.name[g.focusNode]] : null;
  });
const tip = async () => ((await page.isVisible('#tooltip')) ? page.textContent('#tooltip .name') : null);

test('the graph comes before the table in the Tab order', async () => {
  await page.goto(`${server.url}?query=kb.cpu%7B%7D&from=now-2m`);
  await settled(page);
  await page.focus('#search');
  const seen = [];
  for (let k = 0; k < 30; k++) {
    await page.keyboard.press('Tab');
    const what = await page.evaluate(() => {
      const a = document.activeElement;
      if (a.closest('.graph-host')) return 'graph';
      if (a.closest('table.functions tbody')) return 'table';
      return a.tagName;
    });
    if (what === 'graph' || what === 'table') seen.push(what);
    if (seen.includes('table')) break;
  }
  assert.deepEqual(seen, ['graph', 'table'], 'the graph first, then one row of the table');
});

test('arrow keys move between frames and the tooltip follows', async () => {
  await page.focus('.graph-host canvas');
  assert.equal(await focused(), 'total');
  await page.keyboard.press('ArrowDown');
  assert.equal(await focused(), 'main');
  assert.equal(await tip(), 'main');
  await page.keyboard.press('ArrowDown');
  assert.equal(await focused(), 'handle', 'down goes to the widest child');
  await page.keyboard.press('ArrowRight');
  assert.equal(await focused(), 'idle');
  assert.equal(await tip(), 'idle');
  // The tooltip stands by the frame.
  const box = await page.locator('#tooltip').boundingBox();
  const frame = await page.evaluate(() => {
    const g = window.emberUI.view.panels[0].graph;
    const r = g.rectOf(g.focusNode);
    const b = g.canvas.getBoundingClientRect();
    return { x: b.left + r.x, y: b.top + r.y, w: r.w };
  });
  assert.ok(Math.abs(box.y - (frame.y + 18)) < 40, `near the frame (${box.y} vs ${frame.y})`);
  await page.keyboard.press('ArrowLeft');
  await page.keyboard.press('ArrowUp');
  assert.equal(await focused(), 'main');
  await page.keyboard.press('ArrowLeft');
  assert.equal(await focused(), 'main', 'no frame to the left: stays');
  assert.match(await page.textContent('.graph-host [aria-live]'), /main: .*100% of total/);
  await screenshot(page, 'keyboard-focus');
});

test('Enter zooms into the focused frame, and the focus stays on it', async () => {
  await page.keyboard.press('ArrowDown'); // handle
  await page.keyboard.press('Enter');
  await page.waitForFunction(() => window.emberUI.state.zoom === 'main;handle');
  assert.equal(await focused(), 'handle');
  assert.equal(await tip(), 'handle');
  await page.keyboard.press('ArrowDown');
  await page.keyboard.press('Enter');
  await page.waitForFunction(() => window.emberUI.state.zoom === 'main;handle;parse');
  await page.keyboard.press('Escape');
  await page.waitForFunction(() => window.emberUI.state.zoom === '');
});

test('the table: one row in the Tab order, arrows move, Enter picks', async () => {
  await page.focus('table.functions tbody tr[tabindex="0"]');
  const first = await page.evaluate(() => document.activeElement.querySelector('.fname').textContent);
  await page.keyboard.press('ArrowDown');
  const second = await page.evaluate(() => document.activeElement.querySelector('.fname').textContent);
  assert.notEqual(first, second);
  assert.equal(await page.locator('table.functions tbody tr[tabindex="0"]').count(), 1);
  await page.keyboard.press('Enter');
  await page.waitForFunction((n) => window.emberUI.state.fn === n, second);
  await page.keyboard.press('Escape');
});

test('timeline labels never repeat: seconds when ticks are under a minute apart', async () => {
  const labels = await page.evaluate(() => window.emberUI.view.sides[0].timeline.axisLabels);
  assert.ok(labels.length >= 3, labels.join(', '));
  assert.equal(new Set(labels).size, labels.length, labels.join(', '));
  assert.ok(labels.every((l) => /^\d\d:\d\d:\d\d$/.test(l)), `seconds shown: ${labels.join(', ')}`);
  for (const [from, w] of [['now-5m', 1440], ['now-15m', 1440], ['now-1h', 1000], ['now-6h', 1440], ['now-7d', 1440]]) {
    await page.setViewportSize({ width: w, height: 900 });
    await page.evaluate((f) => window.emberUI.navigate({ from: f }), from);
    await settled(page);
    const l = await page.evaluate(() => window.emberUI.view.sides[0].timeline.axisLabels);
    assert.equal(new Set(l).size, l.length, `${from}: ${l.join(', ')}`);
  }
  await page.setViewportSize({ width: 1440, height: 900 });
});

test('a hint says the timeline can be dragged', async () => {
  const hint = page.locator('.timeline .drag-hint');
  assert.equal(await hint.isVisible(), true);
  assert.match(await hint.textContent(), /drag to zoom into a time range/);
  await page.goto(`${server.url}?view=comparison&query=kb.cpu%7B%7D&from=now-5m`);
  await page.waitForSelector('.side.left .drag-hint');
  assert.match(await page.textContent('.side.left .drag-hint'), /drag to pick the left side/);
});

test('the page raised no script errors', () => {
  assert.deepEqual(browser.errors, []);
});
