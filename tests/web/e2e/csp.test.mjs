// The UI under the server's Content-Security-Policy: every main view and
// what a person does there (hover, zoom, search, tags, the custom range,
// the theme, exports) runs without a single violation, on a server without
// auth and on one that asks for a token.

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { startEmber, launchBrowser, settled, frameCenter, canvasStats } from './harness.mjs';

const now = Math.floor(Date.now() / 1000);
const open = [];

after(async () => {
  for (const x of open.reverse()) await x.close();
});

async function seeded(opts) {
  const server = await startEmber(opts);
  open.push({ close: () => server.stop() });
  await server.ingest('shop.cpu{region=eu}', 'main;handle;parse_json 100\nmain;idle 10\n', now - 2700);
  await server.ingest('shop.cpu{region=us}', 'main;handle;render_html 60\nmain;idle 20\n', now - 600);
  return server;
}

async function browse() {
  const browser = await launchBrowser();
  open.push(browser);
  return browser;
}

// Walks the views of the app on server and returns what the browser saw.
async function walk(page, base) {
  const q = '?query=shop.cpu%7B%7D';
  const resp = await page.goto(`${base}${q}`);
  const csp = resp.headers()['content-security-policy'] || '';
  await settled(page);
  // Single: hover, zoom, search, tags, custom range, theme, exports.
  const c = await frameCenter(page, 'parse_json');
  await page.mouse.move(c.x, c.y);
  await page.waitForSelector('#tooltip:not([hidden])');
  await page.mouse.click(c.x, c.y);
  await page.waitForFunction(() => window.emberUI.state.zoom !== '');
  await page.fill('#search', 'json');
  await page.waitForFunction(() => window.emberUI.state.search === 'json');
  await page.selectOption('.tagbar .tag-key', 'region');
  await page.waitForSelector('.tagbar .tag-value:not([hidden]) option[value="eu"]', { state: 'attached' });
  await page.click('#custom-range summary');
  await page.fill('#custom-from', 'now-2h');
  await page.click('#custom-form button[type="submit"]');
  await page.waitForFunction(() => window.emberUI.state.from === 'now-2h');
  await settled(page);
  await page.click('#theme');
  for (const kind of ['svg', 'png', 'json']) {
    await page.click('.panel summary:has-text("Export")');
    await Promise.all([page.waitForEvent('download'), page.click(`button[data-export="${kind}"]`)]);
  }
  // Comparison and diff.
  for (const view of ['comparison', 'diff']) {
    await page.goto(`${base}${q}&view=${view}`);
    await settled(page);
    assert.ok((await canvasStats(page, 0)).painted > 1000, `${view} is drawn`);
  }
  return { csp };
}

test('without auth, no view breaks the Content-Security-Policy', async () => {
  const server = await seeded();
  const browser = await browse();
  const { csp } = await walk(browser.page, server.url);
  assert.match(csp, /default-src 'self'/, 'the policy under test is really sent');
  assert.deepEqual(browser.csp, []);
  assert.deepEqual(browser.errors, []);
});

test('with auth, the token dialog and every view keep to the Content-Security-Policy', async () => {
  const server = await seeded({ tokens: ['readtok read', 'pushtok ingest'], ingestToken: 'pushtok' });
  const browser = await browse();
  const { page } = browser;
  await page.goto(server.url);
  await page.waitForSelector('#auth-dialog[open]');
  await page.fill('#auth-token', 'wrongtok');
  await page.press('#auth-token', 'Enter');
  await page.waitForSelector('#auth-error:not([hidden])');
  await page.fill('#auth-token', 'readtok');
  await page.press('#auth-token', 'Enter');
  await settled(page);
  const { csp } = await walk(page, server.url);
  assert.match(csp, /default-src 'self'/);
  await page.click('#forget-token');
  await page.waitForSelector('#auth-dialog[open]');
  assert.deepEqual(browser.csp, []);
  assert.deepEqual(browser.errors, []);
});
