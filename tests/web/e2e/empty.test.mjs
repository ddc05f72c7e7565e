// The states a person meets before and around data: an empty server, a
// range without data, and a server that went away.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { startEmber, launchBrowser, screenshot, settled } from './harness.mjs';

let server;
let browser;
let page;
const now = Math.floor(Date.now() / 1000);

before(async () => {
  server = await startEmber();
  browser = await launchBrowser();
  page = browser.page;
});

after(async () => {
  if (browser) await browser.close();
  if (server) await server.stop();
});

test('an empty server shows how to send a first profile', async () => {
  await page.goto(server.url);
  await settled(page, 'welcome');
  const text = await page.textContent('#welcome');
  assert.match(text, /No profiles yet/);
  assert.ok(text.includes(`curl -g -X POST --data-binary @cpu.folded`));
  assert.ok(text.includes(`${server.url}ingest?name=`), 'the command names this server');
  assert.equal(await page.isVisible('#panels'), false);
  await screenshot(page, 'empty-welcome');
});

test('the first push opens its app by itself', async () => {
  await server.ingest('first.cpu{}', 'main;work 12\n', now - 60);
  await page.waitForFunction(() => window.emberUI.state.query === 'first.cpu{}', null, { timeout: 15000 });
  await settled(page);
  assert.match(await page.textContent('.panel-head .meta'), /total .* \(12 samples\)/);
});

test('a range without data says so and offers longer ones', async () => {
  await page.goto(`${server.url}?query=first.cpu%7B%7D&from=now-30d&until=now-7d`);
  await settled(page, 'empty');
  const msg = await page.textContent('.panel .message');
  assert.match(msg, /No data in this time range/);
  await screenshot(page, 'empty-range');
  await page.click('.panel .message button:has-text("Last 24 hours")');
  await page.waitForFunction(() => window.emberUI.state.from === 'now-24h');
  await settled(page);
});

test('an app never seen renders as no data, not as an error', async () => {
  await page.goto(`${server.url}?query=nothing.here%7B%7D`);
  await settled(page, 'empty');
});

test('a server that went away is reported, and the view comes back with it', async () => {
  await page.goto(`${server.url}?query=first.cpu%7B%7D`);
  await settled(page);
  const dir = server.dir;
  await server.stop({ keepData: true });
  await page.click('#refresh');
  await settled(page, 'offline');
  assert.match(await page.textContent('#banner'), /Cannot reach the Ember server/);
  assert.match(await page.textContent('.panel-head .meta'), /total .* \(12 samples\)/, 'the last profile stays on screen');
  await screenshot(page, 'offline');
  // The same data directory on the same port brings the server back.
  const port = new URL(server.url).port;
  const again = await startEmber({ dataDir: dir, port });
  try {
    await page.click('#banner button');
    await settled(page);
    assert.equal(await page.isVisible('#banner'), false);
  } finally {
    await again.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('the page raised no script errors', () => {
  assert.deepEqual(browser.errors, []);
});

test('nothing on the page broke its Content-Security-Policy', () => {
  assert.deepEqual(browser.csp, []);
});
