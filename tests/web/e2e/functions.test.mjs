// The function table from the server's exact "functions" field: computed
// from the whole tree, so the truncation bucket "other" never leads it,
// while the graph keeps its node limit.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startEmber, launchBrowser, screenshot, settled, tableRows } from './harness.mjs';

let server;
let browser;
let page;
const now = Math.floor(Date.now() / 1000);
const LEAVES = 12000;

// 12,000 functions of one sample each, more than the graph's 8,192 nodes:
// the graph folds some 3,800 of them into "other", larger than "hot".
before(async () => {
  server = await startEmber();
  const lines = ['main;hot 3000', 'main;rec;rec;rec;leaf 50'];
  for (let i = 0; i < LEAVES; i++) lines.push(`main;work;leaf_${String(i).padStart(5, '0')} 1`);
  await server.ingest('big.cpu{}', `${lines.join('\n')}\n`, now - 300);
  await server.ingest('rec.cpu{}', 'main;rec;rec;rec;leaf 50\nmain;rec;x 10\n', now - 300);
  browser = await launchBrowser();
  page = browser.page;
});

after(async () => {
  if (browser) await browser.close();
  if (server) await server.stop();
});

test('the table is exact: the real functions lead, "other" is not one of them', async () => {
  await page.goto(`${server.url}?query=big.cpu%7B%7D`);
  await settled(page);
  const graph = await page.evaluate(() => {
    const p = window.emberUI.view.panels[0].p;
    const other = p.names.indexOf('other');
    let self = 0;
    for (let i = 0; i < p.n; i++) if (p.name[i] === other) self += p.self[i];
    return { n: p.n, other: self };
  });
  assert.ok(graph.n <= 8193, `the graph keeps its node limit (${graph.n} nodes)`);
  assert.ok(graph.other > 3000, `and folds ${graph.other} samples into "other", more than hot's 3,000`);
  const rows = await tableRows(page);
  assert.equal(rows[0].name, 'hot');
  assert.deepEqual(rows[0].cells, ['30.0 s', '30.0 s']);
  assert.ok(!rows.some((r) => r.name === 'other'), 'no "other" row');
  assert.match(await page.textContent('.table-note'), /The 5,000 largest of 12,005 functions/);
  await screenshot(page, 'functions-exact');
});

test('a recursive function counts each stack once', async () => {
  await page.goto(`${server.url}?query=rec.cpu%7B%7D`);
  await settled(page);
  const rec = (await tableRows(page)).find((r) => r.name === 'rec');
  assert.deepEqual(rec.cells, ['0 s', '600 ms']);
  await page.goto(`${server.url}?query=big.cpu%7B%7D`);
  await settled(page);
});

test('a search filters the exact rows', async () => {
  await page.fill('#search', 'leaf_0000');
  await page.waitForFunction(() => window.emberUI.state.search === 'leaf_0000');
  const rows = await tableRows(page);
  assert.ok(rows.length >= 1 && rows.every((r) => r.name.startsWith('leaf_0000')));
  assert.deepEqual(rows[0].cells, ['10.0 ms', '10.0 ms']);
  await page.fill('#search', '');
});

test('with frames hidden, the table follows what is drawn', async () => {
  await page.evaluate(() => window.emberUI.navigate({ hide: 'h:hot' }));
  await settled(page);
  const rows = await tableRows(page);
  assert.ok(!rows.some((r) => r.name === 'hot'));
  assert.match(await page.textContent('.panel-bar'), /hidden: hot/);
  await page.click('.panel-bar button[data-unhide="hot"]');
  await page.waitForFunction(() => window.emberUI.state.hide === '');
  assert.equal((await tableRows(page))[0].name, 'hot');
});

test('the page raised no script errors', () => {
  assert.deepEqual(browser.errors, []);
});
