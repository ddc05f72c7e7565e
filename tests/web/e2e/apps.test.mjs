// The app picker: apps grouped by app with their profile types, a search,
// a type switch that keeps the query's tags, and the keyboard.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startEmber, launchBrowser, screenshot, settled } from './harness.mjs';

let server;
let browser;
let page;
const now = Math.floor(Date.now() / 1000);
const GO_TYPES = ['cpu', 'alloc_objects', 'alloc_space', 'inuse_objects', 'inuse_space', 'goroutines', 'mutex_duration'];

before(async () => {
  server = await startEmber();
  for (const t of GO_TYPES) await server.ingest(`go-app.${t}{region=eu}`, 'main;work 5\n', now - 300);
  await server.ingest('py-app.cpu{}', 'main;work 5\n', now - 300);
  await server.ingest('shop.wall{}', 'main;work 5\n', now - 300);
  browser = await launchBrowser();
  page = browser.page;
});

after(async () => {
  if (browser) await browser.close();
  if (server) await server.stop();
});

const groups = () =>
  page.$$eval('.app-list .app-group', (gs) => gs.map((g) => [g.querySelector('.app-name').textContent, [...g.querySelectorAll('button')].map((b) => b.textContent)]));

test('apps are grouped by app, with their types in a sensible order', async () => {
  await page.goto(`${server.url}?query=${encodeURIComponent('go-app.cpu{region="eu"}')}`);
  await settled(page);
  assert.equal((await page.textContent('#app')).trim(), 'go-app');
  await page.click('#app');
  await page.waitForSelector('.app-list .app-group');
  assert.deepEqual(await groups(), [
    ['go-app', ['cpu', 'alloc_objects', 'alloc_space', 'inuse_objects', 'inuse_space', 'goroutines', 'mutex_duration']],
    ['py-app', ['cpu']],
    ['shop', ['wall']],
  ]);
  assert.equal(await page.getAttribute('.app-list button[aria-current="true"]', 'data-app'), 'go-app.cpu');
  // The search box has the focus.
  assert.equal(await page.evaluate(() => document.activeElement.id), 'app-search');
  await screenshot(page, 'app-picker');
});

test('typing filters the apps; Enter opens the first', async () => {
  await page.keyboard.type('py');
  assert.deepEqual(await groups(), [['py-app', ['cpu']]]);
  await page.keyboard.press('Enter');
  await page.waitForFunction(() => window.emberUI.state.query === 'py-app.cpu{}');
  await settled(page);
});

test('arrow keys walk the list', async () => {
  await page.click('#app');
  await page.waitForFunction(() => document.activeElement.id === 'app-search');
  await page.keyboard.type('go');
  await page.keyboard.press('ArrowDown');
  await page.keyboard.press('ArrowRight');
  await page.keyboard.press('ArrowRight');
  assert.equal(await page.evaluate(() => document.activeElement.dataset.app), 'go-app.alloc_space');
  await page.keyboard.press('Enter');
  await page.waitForFunction(() => window.emberUI.state.query === 'go-app.alloc_space{}');
  await settled(page);
});

test('the type switch changes the profile type and keeps the tags', async () => {
  await page.goto(`${server.url}?query=${encodeURIComponent('go-app.cpu{region="eu"}')}`);
  await settled(page);
  const types = await page.$$eval('#app-type option', (os) => os.map((o) => o.textContent));
  assert.deepEqual(types, GO_TYPES);
  await page.selectOption('#app-type', 'go-app.inuse_space');
  await page.waitForFunction(() => window.emberUI.state.query === 'go-app.inuse_space{region="eu"}');
  await settled(page);
  // An app with one type has nothing to switch.
  await page.goto(`${server.url}?query=shop.wall%7B%7D`);
  await settled(page);
  assert.equal(await page.isDisabled('#app-type'), true);
});

test('the page raised no script errors', () => {
  assert.deepEqual(browser.errors, []);
});
