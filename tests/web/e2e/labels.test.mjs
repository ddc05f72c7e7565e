// Frame labels that keep the function: on the graph (with a left/right
// alignment toggle) and in the table (a name column that can be resized,
// the full name on hover), for Go, Java and Python names.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { functionOf } from '../../../web/js/label.js';
import { startEmber, launchBrowser, screenshot, settled, frameCenter, drawnLabels } from './harness.mjs';

let server;
let browser;
let page;
const now = Math.floor(Date.now() / 1000);

const RUN = 'github.com/jackc/pgx/v5.(*Conn).runCursor';
const ASSIGN = 'github.com/acme/ride/internal/dispatch.(*Dispatcher).assignNearestDriver';
const JAVA = 'com.example.rideshare.dispatch.DriverMatchingService.findAvailableDriversWithinRadius';
const HANDLE = 'http.server:BaseHTTPRequestHandler.handle_one_request (http/server.py:424)';

before(async () => {
  server = await startEmber();
  await server.ingest(
    'dispatch.cpu{}',
    [
      `runtime.main;main.main;${ASSIGN};${RUN} 300`,
      `runtime.main;main.main;${ASSIGN};${JAVA} 120`,
      `runtime.main;main.main;${ASSIGN} 40`,
      `runtime.main;main.main;${HANDLE} 200`,
      `runtime.main;runtime.gcBgMarkWorker.func2 60`,
    ].join('\n'),
    now - 300,
  );
  browser = await launchBrowser({ width: 1400, height: 900 });
  page = browser.page;
});

after(async () => {
  if (browser) await browser.close();
  if (server) await server.stop();
});

// The rows of the table as { name (full, from the title), text (shown) }.
const nameCells = () =>
  page.$$eval('table.functions tbody td.fn', (tds) => tds.map((td) => ({ name: td.title, text: td.querySelector('.fname').textContent })));

test('graph labels keep the function and elide the package from the front', async () => {
  await page.goto(`${server.url}?query=dispatch.cpu%7B%7D`);
  await settled(page);
  const labels = await drawnLabels(page);
  assert.ok(labels.length >= 6);
  for (const l of labels) {
    const fn = functionOf(l.name);
    assert.ok(l.text.includes(fn) || (l.text.endsWith('…') && fn.startsWith(l.text.slice(0, -1))), `${l.name}: "${l.text}"`);
  }
  const run = labels.find((l) => l.name === RUN);
  assert.ok(run.text.endsWith('(*Conn).runCursor'), run.text);
  assert.ok(run.text === RUN || run.text.startsWith('…'), `the package is what goes: ${run.text}`);
  const py = labels.find((l) => l.name === HANDLE);
  assert.match(py.text, /handle_one_request/);
  await screenshot(page, 'labels-graph');
});

test('table names are shortened to the column by the same rule, the full name on hover', async () => {
  const cells = await nameCells();
  const run = cells.find((c) => c.name === RUN);
  assert.ok(run, 'runCursor is a row, its full name in the title');
  assert.ok(run.text.endsWith('runCursor'), run.text);
  const handle = cells.find((c) => c.name === HANDLE);
  assert.match(handle.text, /handle_one_request/);
  // Hovering shows the full name (the cell's title).
  const title = await page.getAttribute(`table.functions td.fn[title="${JAVA}"]`, 'title');
  assert.equal(title, JAVA);
});

test('the name column can be resized, and keeps its width', async () => {
  const th = page.locator('table.functions thead th').first();
  const before = (await th.boundingBox()).width;
  const handle = await page.locator('table.functions .col-resize').boundingBox();
  await page.mouse.move(handle.x + handle.width / 2, handle.y + handle.height / 2);
  await page.mouse.down();
  await page.mouse.move(handle.x - 120, handle.y + handle.height / 2, { steps: 6 });
  await page.mouse.up();
  await page.waitForFunction((w) => document.querySelector('table.functions thead th').getBoundingClientRect().width < w - 100, before);
  const narrow = (await th.boundingBox()).width;
  const cells = await nameCells();
  const run = cells.find((c) => c.name === RUN);
  assert.ok(run.text.length < 25, `shorter in a narrower column: ${run.text}`);
  assert.ok(run.text.startsWith('…') && run.text.endsWith('runCursor'), run.text);
  await screenshot(page, 'labels-table-narrow');
  // Wider again, past the page: the table scrolls instead.
  await page.focus('table.functions .col-resize');
  for (let k = 0; k < 8; k++) await page.keyboard.press('Shift+ArrowRight');
  await page.waitForFunction((w) => document.querySelector('table.functions thead th').getBoundingClientRect().width > w + 300, narrow);
  const wide = (await nameCells()).find((c) => c.name === ASSIGN);
  assert.equal(wide.text, ASSIGN, 'a wide column shows the whole name');
  await page.reload();
  await settled(page);
  const kept = (await th.boundingBox()).width;
  assert.ok(Math.abs(kept - (narrow + 8 * 64)) < 4, `the width survives a reload (${kept})`);
  // A double click gives the column back to the page.
  await page.dblclick('table.functions .col-resize');
  await page.waitForFunction((w) => Math.abs(document.querySelector('table.functions thead th').getBoundingClientRect().width - w) < 4, before);
});

test('labels can be aligned to the right of their frames, and back', async () => {
  const c = await frameCenter(page, ASSIGN);
  const left = (await drawnLabels(page)).find((l) => l.name === ASSIGN);
  await page.click('#align');
  await page.waitForFunction(() => window.emberUI.state.align === 'right');
  assert.equal(await page.getAttribute('#align', 'aria-pressed'), 'true');
  const right = (await drawnLabels(page)).find((l) => l.name === ASSIGN);
  // Canvas x: the start of the text on the left, its end on the right.
  assert.ok(right.x - left.x > c.w - 12, `right aligned: the text ends at the frame’s right (${left.x} -> ${right.x}, ${c.w} px wide)`);
  await screenshot(page, 'labels-right');
  await page.click('#align');
  await page.waitForFunction(() => window.emberUI.state.align === 'left');
});

test('the page raised no script errors', () => {
  assert.deepEqual(browser.errors, []);
});

test('nothing on the page broke its Content-Security-Policy', () => {
  assert.deepEqual(browser.csp, []);
});
