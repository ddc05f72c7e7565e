// A frame's menu (right click, long press, the context menu key) and what
// it offers: focus, the sandwich view, copying the name, searching for it,
// hiding or collapsing frames like it.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startEmber, launchBrowser, screenshot, settled, frameCenter, tableRows } from './harness.mjs';

let server;
let browser;
let page;
const now = Math.floor(Date.now() / 1000);

// lock is called from a and from b, and directly from main; it calls spin.
before(async () => {
  server = await startEmber();
  await server.ingest('app.cpu{}', 'main;a;lock;spin 30\nmain;b;lock 20\nmain;b;c 50\nmain;lock 10\nmain;a;work 40\n', now - 300);
  browser = await launchBrowser();
  page = browser.page;
  await browser.context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: server.url.replace(/\/$/, '') });
});

after(async () => {
  if (browser) await browser.close();
  if (server) await server.stop();
});

const menuItems = () => page.$$eval('.context-menu:not([hidden]) button', (bs) => bs.map((b) => b.firstChild.textContent));

async function openMenu(name) {
  const c = await frameCenter(page, name, 0, { widest: true });
  await page.mouse.click(c.x, c.y, { button: 'right' });
  await page.waitForSelector('.context-menu:not([hidden])');
}

test('a right click on a frame opens its menu', async () => {
  await page.goto(`${server.url}?query=app.cpu%7B%7D`);
  await settled(page);
  await openMenu('lock');
  assert.equal(await page.textContent('.context-menu .context-title'), 'lock');
  assert.deepEqual(await menuItems(), [
    'Focus on this frame',
    'Sandwich view',
    'Copy the name',
    'Search for “lock”',
    'Collapse frames like this',
    'Hide frames like this',
  ]);
  await screenshot(page, 'frame-menu');
  await page.keyboard.press('Escape');
  await page.waitForSelector('.context-menu', { state: 'hidden' });
});

test('focus zooms into the frame', async () => {
  await openMenu('b');
  await page.click('.context-menu button:has-text("Focus on this frame")');
  await page.waitForFunction(() => window.emberUI.state.zoom === 'main;b');
  await page.keyboard.press('Escape');
  await page.waitForFunction(() => window.emberUI.state.zoom === '');
});

test('the sandwich view: callers upside down above, callees below', async () => {
  await openMenu('lock');
  await page.click('.context-menu button:has-text("Sandwich view")');
  await page.waitForFunction(() => window.emberUI.state.sandwich === 'lock');
  await page.waitForSelector('.sandwich:not([hidden])');
  assert.match(await page.textContent('.sandwich h3'), /Sandwich of lock · 600 ms \(60 samples\), 40% of total/);
  const s = await page.evaluate(() => {
    const panel = window.emberUI.view.panels[0];
    const names = (g) => [...new Set(Array.from(g.p.name).map((k) => g.p.names[k]))].sort();
    const root = panel.callers.rectOf(0);
    const main = panel.callers.rectOf([...Array(panel.callers.p.n).keys()].find((i) => panel.callers.p.names[panel.callers.p.name[i]] === 'main'));
    return { callers: names(panel.callers), callees: names(panel.callees), rootY: root.y, mainY: main.y, drawn: panel.callers.drawnLabels.length };
  });
  assert.deepEqual(s.callers, ['a', 'b', 'lock', 'main']);
  assert.deepEqual(s.callees, ['lock', 'spin']);
  assert.ok(s.rootY > s.mainY, 'the callers grow upwards from lock');
  assert.ok(s.drawn >= 3);
  assert.equal(await page.isVisible('.graph-host .flame canvas, .panel-body > .graph-host'), false);
  await screenshot(page, 'sandwich');
  // The URL keeps it; Esc goes back to the flame graph.
  assert.match(page.url(), /sandwich=lock/);
  await page.keyboard.press('Escape');
  await page.waitForFunction(() => window.emberUI.state.sandwich === '');
  await page.waitForSelector('.sandwich', { state: 'hidden' });
});

test('the table opens the same menu, and its sandwich', async () => {
  await page.click('table.functions tbody tr:has-text("spin")', { button: 'right' });
  await page.waitForSelector('.context-menu:not([hidden])');
  assert.equal(await page.textContent('.context-menu .context-title'), 'spin');
  assert.ok(!(await menuItems()).includes('Focus on this frame'));
  await page.click('.context-menu button:has-text("Sandwich view")');
  await page.waitForFunction(() => window.emberUI.state.sandwich === 'spin');
  const callers = await page.evaluate(() => window.emberUI.view.panels[0].callers.p.n);
  assert.equal(callers, 4, 'spin <- lock <- a <- main');
  await page.click('.sandwich-close');
  await page.waitForFunction(() => window.emberUI.state.sandwich === '');
});

test('copy the name and search for it', async () => {
  await openMenu('spin');
  await page.click('.context-menu button:has-text("Copy the name")');
  await page.waitForFunction(async () => (await navigator.clipboard.readText()) === 'spin');
  await openMenu('spin');
  await page.click('.context-menu button:has-text("Search for")');
  await page.waitForFunction(() => window.emberUI.state.search === 'spin');
  assert.equal(await page.inputValue('#search'), 'spin');
  await page.fill('#search', '');
  await page.waitForFunction(() => window.emberUI.state.search === '');
});

test('hide frames like this: they and their samples leave the graph', async () => {
  await openMenu('b');
  await page.click('.context-menu button:has-text("Hide frames like this")');
  await page.waitForFunction(() => window.emberUI.state.hide === 'h:b');
  assert.match(await page.textContent('.panel-bar'), /hidden: b/);
  const p = await page.evaluate(() => ({ n: window.emberUI.view.panels[0].p.numTicks }));
  assert.equal(p.n, 80);
  assert.equal(await frameCenter(page, 'c'), null);
  assert.ok(!(await tableRows(page)).some((r) => r.name === 'c'));
  await page.click('.panel-bar button[data-unhide="b"]');
  await page.waitForFunction(() => window.emberUI.state.hide === '');
  assert.ok(await frameCenter(page, 'c'));
});

test('collapse frames like this: what they call folds into them', async () => {
  await openMenu('a');
  await page.click('.context-menu button:has-text("Collapse frames like this")');
  await page.waitForFunction(() => window.emberUI.state.hide === 'c:a');
  const p = await page.evaluate(() => window.emberUI.view.panels[0].p.numTicks);
  assert.equal(p, 150, 'nothing is lost');
  assert.equal(await frameCenter(page, 'work'), null);
  const rows = Object.fromEntries((await tableRows(page)).map((r) => [r.name, r.cells]));
  assert.deepEqual(rows.a, ['700 ms', '700 ms']);
  await page.click('.panel-bar button[data-unhide="a"]');
  await page.waitForFunction(() => window.emberUI.state.hide === '');
});

test('a long press opens the menu on a touch screen', async () => {
  const c = await frameCenter(page, 'c');
  await page.evaluate(([x, y]) => {
    const canvas = window.emberUI.view.panels[0].graph.canvas;
    canvas.dispatchEvent(new PointerEvent('pointerdown', { clientX: x, clientY: y, pointerType: 'touch', bubbles: true, isPrimary: true }));
  }, [c.x, c.y]);
  await page.waitForSelector('.context-menu:not([hidden])', { timeout: 2000 });
  assert.equal(await page.textContent('.context-menu .context-title'), 'c');
  await page.keyboard.press('Escape');
});

test('the keyboard opens it too, and walks it', async () => {
  await page.focus('.graph-host canvas');
  await page.keyboard.press('Home'); // the top: total
  await page.keyboard.press('ArrowDown'); // main
  await page.keyboard.press('ArrowDown'); // a, the widest child (the first of two)
  await page.keyboard.press('ArrowRight'); // b
  await page.keyboard.press('ContextMenu');
  await page.waitForSelector('.context-menu:not([hidden])');
  assert.equal(await page.textContent('.context-menu .context-title'), 'b');
  assert.equal(await page.evaluate(() => document.activeElement.firstChild.textContent), 'Focus on this frame');
  await page.keyboard.press('ArrowDown');
  await page.keyboard.press('Enter');
  await page.waitForFunction(() => window.emberUI.state.sandwich === 'b');
  await page.keyboard.press('Escape');
  await page.waitForFunction(() => window.emberUI.state.sandwich === '');
});

test('the page raised no script errors', () => {
  assert.deepEqual(browser.errors, []);
});

test('nothing on the page broke its Content-Security-Policy', () => {
  assert.deepEqual(browser.csp, []);
});
