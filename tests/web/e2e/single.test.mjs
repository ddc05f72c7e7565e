// The single view against a real server: what a person sees on opening the
// page, hovering, zooming, searching, the table, tags, the URL and exports.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import {
  startEmber, launchBrowser, screenshot, settled, frameCenter, pixelAt, canvasStats, tableRows, startPrefixProxy,
} from './harness.mjs';

let server;
let browser;
let page;
const now = Math.floor(Date.now() / 1000);

// shop.cpu over the last hour: 330 samples in all, 250 of them in region eu.
//   parse_json 150 (self), mutex_lock 80 under db_query, render_html 60,
//   idle 40; handle 290 in total.
before(async () => {
  server = await startEmber();
  await server.ingest('shop.cpu{region=eu,host=a}', 'main;handle;parse_json 100\nmain;idle 10\n', now - 2700);
  await server.ingest('shop.cpu{region=eu,host=a}', 'main;handle;parse_json 50\nmain;handle;db_query;mutex_lock 80\nmain;idle 10\n', now - 600);
  await server.ingest('shop.cpu{region=us,host=b}', 'main;handle;render_html 60\nmain;idle 20\n', now - 600);
  await server.ingest('billing.cpu{}', 'main;charge 7\n', now - 300);
  browser = await launchBrowser();
  page = browser.page;
});

after(async () => {
  if (browser) await browser.close();
  if (server) await server.stop();
});

const url = (qs = '') => `${server.url}${qs}`;

test('a first visit opens the first app over the last hour without a click', async () => {
  await page.goto(url());
  await settled(page);
  const st = await page.evaluate(() => window.emberUI.state);
  assert.equal(st.query, 'billing.cpu{}');
  assert.equal(await page.inputValue('#preset'), '1h');
  const rows = await tableRows(page);
  assert.deepEqual(rows.find((r) => r.name === 'charge').cells, ['70.0 ms', '70.0 ms']);
  assert.ok((await canvasStats(page)).painted > 1000);
});

test('the next visit opens the app used last', async () => {
  await page.click('#app');
  await page.click('.app-list button[data-app="shop.cpu"]');
  await settled(page);
  await page.goto(url());
  await settled(page);
  assert.equal((await page.evaluate(() => window.emberUI.state)).query, 'shop.cpu{}');
});

test('the flame graph canvas is really drawn', async () => {
  await page.goto(url('?query=shop.cpu%7B%7D'));
  await settled(page);
  const stats = await canvasStats(page);
  assert.ok(stats.painted > 5000, `${stats.painted} painted pixels`);
  assert.ok(stats.colors >= 5, `${stats.colors} colors`);
  const c = await frameCenter(page, 'idle');
  const bg = await pixelAt(page, c.x, c.y + 36);
  assert.notDeepEqual(await pixelAt(page, c.x, c.y), bg, 'the frame is painted, not background');
  await screenshot(page, 'single');
});

test('the table lists the seeded functions with their self and total', async () => {
  const rows = Object.fromEntries((await tableRows(page)).map((r) => [r.name, r.cells]));
  assert.deepEqual(rows.parse_json, ['1.50 s', '1.50 s']);
  assert.deepEqual(rows.mutex_lock, ['800 ms', '800 ms']);
  assert.deepEqual(rows.db_query, ['0 s', '800 ms']);
  assert.deepEqual(rows.render_html, ['600 ms', '600 ms']);
  assert.deepEqual(rows.idle, ['400 ms', '400 ms']);
  assert.deepEqual(rows.handle, ['0 s', '2.90 s']);
  assert.deepEqual(rows.main, ['0 s', '3.30 s']);
  const meta = await page.textContent('.panel-head .meta');
  assert.match(meta, /total .* \(330 samples\)/);
});

test('sorting the table by total puts main first', async () => {
  await page.click('table.functions thead button[data-key="total"]');
  await page.waitForFunction(() => window.emberUI.state.sort === '-total');
  assert.equal((await tableRows(page))[0].name, 'main');
  assert.equal(await page.getAttribute('table.functions th[aria-sort]', 'aria-sort'), 'descending');
});

test('hovering a frame shows its full name, values and share', async () => {
  const c = await frameCenter(page, 'parse_json');
  await page.mouse.move(c.x, c.y);
  await page.waitForSelector('#tooltip:not([hidden])');
  const tip = await page.textContent('#tooltip');
  assert.match(tip, /parse_json/);
  assert.match(tip, /Total\s*1\.50 s \(150 samples\)\s*45\.5%/);
  assert.match(tip, /Self\s*1\.50 s \(150 samples\)/);
  await screenshot(page, 'single-hover');
  await page.mouse.move(2, 2);
  await page.waitForSelector('#tooltip[hidden]', { state: 'attached' });
});

test('clicking a frame zooms into it and Esc resets the zoom', async () => {
  const c = await frameCenter(page, 'handle');
  assert.ok(c.w < c.width);
  await page.mouse.click(c.x, c.y);
  await page.waitForFunction(() => window.emberUI.state.zoom === 'main;handle');
  const z = await frameCenter(page, 'handle');
  assert.equal(Math.round(z.w), z.width, 'the zoomed frame spans the width');
  assert.equal(await frameCenter(page, 'idle'), null, 'a frame outside the zoom is gone');
  await screenshot(page, 'single-zoom');
  await page.goBack();
  await page.waitForFunction(() => window.emberUI.state.zoom === '');
  await page.goForward();
  await page.waitForFunction(() => window.emberUI.state.zoom === 'main;handle');
  await page.keyboard.press('Escape');
  await page.waitForFunction(() => window.emberUI.state.zoom === '');
  assert.ok((await frameCenter(page, 'idle')) !== null);
});

test('the search highlights matching frames and gives their share', async () => {
  const idle = await frameCenter(page, 'idle');
  const json = await frameCenter(page, 'parse_json');
  const idleBefore = await pixelAt(page, idle.x, idle.y);
  const jsonBefore = await pixelAt(page, json.x, json.y);
  await page.fill('#search', 'json');
  await page.waitForFunction(() => window.emberUI.state.search === 'json');
  assert.match(await page.textContent('.panel-head .match'), /45\.5% of total \(1 frame\)/);
  assert.notDeepEqual(await pixelAt(page, idle.x, idle.y), idleBefore, 'a frame that does not match is dimmed');
  assert.deepEqual(await pixelAt(page, json.x, json.y), jsonBefore, 'a matching frame keeps its color');
  assert.deepEqual((await tableRows(page)).map((r) => r.name), ['parse_json']);
  await screenshot(page, 'single-search');
  await page.check('#regex');
  await page.fill('#search', '^(idle|main)$');
  await page.waitForFunction(() => window.emberUI.state.search === '^(idle|main)$');
  assert.deepEqual((await tableRows(page)).map((r) => r.name).sort(), ['idle', 'main']);
  await page.fill('#search', '(');
  await page.waitForFunction(() => window.emberUI.state.search === '(');
  assert.match(await page.textContent('#search-result'), /not a valid regular expression/);
  await page.fill('#search', '');
  await page.uncheck('#regex');
});

test('clicking a table row highlights that function in the graph', async () => {
  await page.click('table.functions tbody tr:has-text("render_html")');
  await page.waitForFunction(() => window.emberUI.state.fn === 'render_html');
  assert.match(await page.textContent('.panel-head .match'), /“render_html”: 18\.2% of total/);
  assert.match(await page.textContent('table.functions tbody tr[aria-selected="true"]'), /render_html/);
  await page.keyboard.press('Escape');
  await page.waitForFunction(() => window.emberUI.state.fn === '');
});

test('choosing a tag value narrows the query and changes the totals', async () => {
  await page.selectOption('.tagbar .tag-key', 'region');
  await page.waitForSelector('.tagbar .tag-value:not([hidden]) option[value="eu"]', { state: 'attached' });
  const values = await page.$$eval('.tagbar .tag-value option', (os) => os.map((o) => o.value));
  assert.deepEqual(values, ['', 'eu', 'us']);
  await page.selectOption('.tagbar .tag-value', 'eu');
  await page.waitForFunction(() => window.emberUI.state.query === 'shop.cpu{region="eu"}');
  await settled(page);
  assert.match(await page.textContent('.panel-head .meta'), /total .* \(250 samples\)/);
  const rows = Object.fromEntries((await tableRows(page)).map((r) => [r.name, r.cells]));
  assert.deepEqual(rows.main, ['0 s', '2.50 s']);
  assert.equal(rows.render_html, undefined);
  assert.match(await page.textContent('.tagbar .chips'), /region="eu"/);
  await screenshot(page, 'single-tag');
  await page.click('.tagbar .chip button');
  await page.waitForFunction(() => window.emberUI.state.query === 'shop.cpu{}');
  await settled(page);
  assert.match(await page.textContent('.panel-head .meta'), /total .* \(330 samples\)/);
});

test('a typed FlameQL query is applied, and a bad one shows the server message', async () => {
  await page.fill('.tagbar input.query', 'shop.cpu{region="us"}');
  await page.press('.tagbar input.query', 'Enter');
  await settled(page);
  assert.match(await page.textContent('.panel-head .meta'), /total .* \(80 samples\)/);
  const bad = 'shop.cpu{region=us}';
  const expected = await (await fetch(`${server.url}render?query=${encodeURIComponent(bad)}`)).json();
  assert.ok(expected.error, 'the server refuses the query');
  await page.fill('.tagbar input.query', bad);
  await page.press('.tagbar input.query', 'Enter');
  await settled(page, 'error');
  assert.equal((await page.textContent('.tagbar .query-error')).trim(), expected.error);
  assert.match(await page.textContent('.panel .message'), /could not run this query/);
  await screenshot(page, 'single-bad-query');
});

test('the URL reproduces a view in a new page', async () => {
  await page.goto(url('?query=shop.cpu%7B%7D'));
  await settled(page);
  await page.mouse.click(...Object.values(await frameCenter(page, 'handle')).slice(0, 2));
  await page.waitForFunction(() => window.emberUI.state.zoom === 'main;handle');
  await page.fill('#search', 'mutex');
  await page.click('[data-show="graph"]');
  await page.waitForFunction(() => window.emberUI.state.show === 'graph' && window.emberUI.state.search === 'mutex');
  const link = page.url();
  const other = await browser.context.newPage();
  await other.goto(link);
  await settled(other);
  const st = await other.evaluate(() => window.emberUI.state);
  assert.equal(st.zoom, 'main;handle');
  assert.equal(st.search, 'mutex');
  assert.equal(st.show, 'graph');
  assert.equal(await other.inputValue('#search'), 'mutex');
  const z = await frameCenter(other, 'handle');
  assert.equal(Math.round(z.w), z.width);
  assert.match(await other.textContent('.panel-head .match'), /24\.2% of total/);
  assert.equal(await other.isVisible('.table-wrap'), false);
  await other.close();
});

test('dragging across the timeline zooms the time range', async () => {
  await page.goto(url('?query=shop.cpu%7B%7D'));
  await settled(page);
  const box = await page.locator('.timeline canvas').boundingBox();
  await page.mouse.move(box.x + box.width * 0.5, box.y + box.height / 2);
  await page.waitForSelector('#tooltip:not([hidden])');
  await page.mouse.down();
  await page.mouse.move(box.x + box.width * 0.95, box.y + box.height / 2, { steps: 5 });
  await page.mouse.up();
  await page.waitForFunction(() => /^\d+$/.test(window.emberUI.state.from));
  const st = await page.evaluate(() => window.emberUI.state);
  assert.ok(Number(st.until) > Number(st.from));
  assert.ok(Number(st.from) > now - 3600 && Number(st.until) <= now + 60);
  await settled(page);
  assert.match(await page.textContent('.panel-head .meta'), /total .* \(220 samples\)/, 'only the pushes of the last 10 minutes');
  assert.equal(await page.inputValue('#preset'), 'custom');
  await page.goBack();
  await page.waitForFunction(() => window.emberUI.state.from === 'now-1h');
});

test('exports of the view: SVG, PNG, flamebearer JSON and folded text', async () => {
  await page.goto(url('?query=shop.cpu%7B%7D'));
  await settled(page);
  const grab = async (kind) => {
    await page.click('.panel summary:has-text("Export")');
    const [download] = await Promise.all([page.waitForEvent('download'), page.click(`button[data-export="${kind}"]`)]);
    return { name: download.suggestedFilename(), body: await readFile(await download.path()) };
  };
  const svg = await grab('svg');
  assert.match(svg.name, /\.svg$/);
  assert.match(svg.body.toString(), /^<\?xml[\s\S]*<svg[\s\S]*parse_json[\s\S]*<\/svg>/);
  const png = await grab('png');
  assert.deepEqual([...png.body.subarray(1, 4)], [0x50, 0x4e, 0x47]);
  const json = JSON.parse((await grab('json')).body.toString());
  assert.equal(json.flamebearer.numTicks, 330);
  const folded = (await grab('folded')).body.toString();
  assert.match(folded, /^main;handle;parse_json 150$/m);
  assert.match(folded, /^main;handle;db_query;mutex_lock 80$/m);
});

test('the dark theme applies to the whole page and the graph', async () => {
  await page.click('#theme');
  await page.waitForFunction(() => document.documentElement.dataset.theme === 'dark');
  const bg = await page.evaluate(() => getComputedStyle(document.body).backgroundColor);
  assert.equal(bg, 'rgb(20, 22, 27)');
  // Below "idle", which has no children, the graph shows its background.
  const c = await frameCenter(page, 'idle');
  const [r, g, b] = await pixelAt(page, c.x, c.y + 36);
  assert.ok(r + g + b < 200, `the graph background is dark (${r}, ${g}, ${b})`);
  await screenshot(page, 'single-dark');
  await page.click('#theme');
});

test('a custom range is typed in the server syntax or as a date', async () => {
  await page.goto(url('?query=shop.cpu%7B%7D'));
  await settled(page);
  await page.click('#custom-range summary');
  await page.fill('#custom-from', 'last tuesday');
  await page.click('#custom-form button[type="submit"]');
  assert.match(await page.textContent('#custom-error'), /is not a time/);
  await page.fill('#custom-from', 'now-20m');
  await page.fill('#custom-until', 'now');
  await page.click('#custom-form button[type="submit"]');
  await page.waitForFunction(() => window.emberUI.state.from === 'now-20m');
  await settled(page);
  assert.match(await page.textContent('.panel-head .meta'), /total .* \(220 samples\)/);
  assert.match(await page.textContent('#preset'), /now/);
  await page.selectOption('#preset', '24h');
  await page.waitForFunction(() => window.emberUI.state.from === 'now-24h');
  await settled(page);
  assert.match(await page.textContent('.panel-head .meta'), /total .* \(330 samples\)/);
});

test('clicking the root frame resets a zoom', async () => {
  await page.goto(url('?query=shop.cpu%7B%7D&zoom=main%3Bhandle'));
  await settled(page);
  const root = await frameCenter(page, 'total');
  await page.mouse.click(root.x, root.y);
  await page.waitForFunction(() => window.emberUI.state.zoom === '');
});

test('the detail setting asks the server for fewer or more frames', async () => {
  await page.selectOption('#max-nodes', '-1');
  await page.waitForFunction(() => window.emberUI.state.maxNodes === -1);
  await settled(page);
  assert.match(page.url(), /maxNodes=-1/);
  assert.ok((await tableRows(page)).some((r) => r.name === 'mutex_lock'));
});

test('auto-refresh picks up new data by itself', async () => {
  await page.goto(url('?query=shop.cpu%7B%7D'));
  await settled(page);
  await page.check('#auto-refresh');
  await page.waitForFunction(() => window.emberUI.state.refresh === true);
  assert.match(page.url(), /refresh=10s/);
  await server.ingest('shop.cpu{region=us,host=b}', 'main;late 5\n', Math.floor(Date.now() / 1000) - 20);
  await page.waitForFunction(() => /total .* \(335 samples\)/.test(document.querySelector('.panel-head .meta').textContent), null, { timeout: 15000 });
  await page.uncheck('#auto-refresh');
});

test('the layout works on a laptop screen and on a wide monitor', async () => {
  for (const [w, h, name] of [[1280, 720, 'laptop'], [2560, 1300, 'wide']]) {
    await page.setViewportSize({ width: w, height: h });
    await page.goto(url('?query=shop.cpu%7B%7D&view=comparison'));
    await settled(page);
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    assert.ok(overflow <= 0, `no horizontal scrolling at ${w} px (${overflow} px too wide)`);
    for (const k of [0, 1]) assert.ok((await canvasStats(page, k)).painted > 1000);
    await screenshot(page, `comparison-${name}`);
  }
  await page.setViewportSize({ width: 1440, height: 900 });
});

test('the UI works under a path prefix behind a proxy', async () => {
  const proxy = await startPrefixProxy(server.url, '/tools/ember/');
  try {
    const other = await browser.context.newPage();
    await other.goto(`${proxy.url}?query=shop.cpu%7B%7D`);
    await settled(other);
    assert.match(await other.textContent('.panel-head .meta'), /total .* \(3\d\d samples\)/);
    await other.selectOption('#preset', '6h');
    await other.waitForFunction(() => window.emberUI.state.from === 'now-6h');
    await settled(other);
    assert.ok(other.url().startsWith(proxy.url), other.url());
    await other.close();
  } finally {
    await proxy.close();
  }
});

test('the page raised no script errors', () => {
  assert.deepEqual(browser.errors, []);
});

test('nothing on the page broke its Content-Security-Policy', () => {
  assert.deepEqual(browser.csp, []);
});
