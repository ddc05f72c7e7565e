// A server started with --auth-token-file: the page asks for a token in
// its own dialog, refuses a wrong one with the server's message, says when
// a token's role is too weak, keeps the token for the tab, and forgets it
// on request.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { startEmber, launchBrowser, screenshot, settled, canvasStats, tableRows } from './harness.mjs';

const TOKENS = ['admintok', 'readtok read', 'pushtok ingest'];

let server;
let browser;
let page;
const now = Math.floor(Date.now() / 1000);
const jsDialogs = []; // alert/prompt/confirm: the page must never use them
const refusals = []; // every 401 the page met: { url, wwwAuthenticate }
const apiRequests = []; // every API request the page sent: { path, auth }

const API = /\/(api\/apps|render|render-diff|labels|label-values)(\?|$)/;

// Counts how often the token dialog opens, from the page's own DOM.
function countDialogOpens(p) {
  return p.addInitScript(() => {
    window.dialogOpens = 0;
    new MutationObserver((ms) => {
      for (const m of ms) if (m.target.id === 'auth-dialog' && m.target.open) window.dialogOpens++;
    }).observe(document, { subtree: true, attributes: true, attributeFilter: ['open'] });
  });
}

function watch(p) {
  p.on('dialog', (d) => {
    jsDialogs.push(d.type());
    d.dismiss();
  });
  p.on('request', (r) => {
    const u = new URL(r.url());
    if (API.test(u.pathname)) apiRequests.push({ path: u.pathname, auth: r.headers().authorization || '' });
  });
  p.on('response', (r) => {
    if (r.status() === 401) refusals.push({ url: r.url(), wwwAuthenticate: r.headers()['www-authenticate'] || '' });
  });
}

const dialogOpen = (p = page) => p.waitForSelector('#auth-dialog[open]', { timeout: 15000 });
const dialogClosed = (p = page) => p.waitForSelector('#auth-dialog:not([open])', { state: 'attached', timeout: 15000 });
const stored = (p = page) => p.evaluate(() => sessionStorage.getItem('ember.token'));

async function signIn(tok, p = page) {
  await dialogOpen(p);
  await p.fill('#auth-token', tok);
  await p.click('#auth-dialog button[type="submit"]');
}

// shop.cpu over the last hour: 330 samples, parse_json 150 of them.
before(async () => {
  server = await startEmber({ tokens: TOKENS, ingestToken: 'pushtok' });
  await server.ingest('shop.cpu{region=eu}', 'main;handle;parse_json 100\nmain;idle 10\n', now - 2700);
  await server.ingest('shop.cpu{region=eu}', 'main;handle;parse_json 50\nmain;handle;db_query;mutex_lock 80\nmain;idle 10\n', now - 600);
  await server.ingest('shop.cpu{region=us}', 'main;handle;render_html 60\nmain;idle 20\n', now - 600);
  browser = await launchBrowser();
  page = browser.page;
  watch(page);
  browser.context.on('page', watch);
});

after(async () => {
  if (browser) await browser.close();
  if (server) await server.stop();
});

test('a server that needs a token gets the page to ask for it in a dialog of its own', async () => {
  const resp = await page.goto(server.url);
  assert.equal(resp.status(), 200, 'the page itself loads without a token');
  await dialogOpen();
  const dialog = page.getByRole('dialog', { name: 'Access token' });
  assert.ok(await dialog.isVisible(), 'a dialog named by its title');
  assert.match(await dialog.textContent(), /requires a token.*--auth-token-file/s);
  assert.equal(await page.evaluate(() => document.activeElement.id), 'auth-token', 'the token field has the focus');
  assert.equal(await page.isVisible('#auth-error'), false, 'no error before a token was tried');
  assert.equal(await page.isVisible('#forget-token'), false);
  assert.equal(await page.inputValue('#preset'), '1h', 'the page behind shows the range it will load');
  assert.deepEqual(jsDialogs, [], 'no alert or prompt');
  assert.ok(refusals.length >= 1);
  for (const r of refusals) assert.match(r.wwwAuthenticate, /^Bearer /, `${r.url}: a Bearer challenge opens no browser login box`);
  await screenshot(page, 'auth-dialog');
});

test('a wrong token is refused with the server message, and the dialog asks again', async () => {
  await signIn('wrongtok');
  await page.waitForSelector('#auth-error:not([hidden])');
  assert.match(await page.textContent('#auth-error'), /the token is not valid/);
  assert.equal(await page.getAttribute('#auth-token', 'aria-invalid'), 'true');
  assert.ok(await page.isVisible('#auth-dialog'), 'still asking');
  assert.equal(await stored(), null, 'a refused token is not kept');
  await screenshot(page, 'auth-refused');
});

test('a token whose role cannot read says so once, without looping', async () => {
  await page.fill('#auth-token', 'pushtok');
  const before = apiRequests.length;
  await page.click('#auth-dialog button[type="submit"]');
  await page.waitForFunction(() => /role read or admin/.test(document.querySelector('#auth-error').textContent));
  await page.waitForTimeout(1500);
  assert.equal(apiRequests.length - before, 1, 'one check of the token, nothing more');
  assert.ok(await page.isVisible('#auth-dialog'));
  assert.equal(await stored(), null);
});

test('the right token renders the flame graph, and every call sends it', async () => {
  await page.fill('#auth-token', ' readtok '); // as pasted: spaces around are dropped
  const from = apiRequests.length;
  await page.press('#auth-token', 'Enter');
  await dialogClosed();
  await settled(page);
  const stats = await canvasStats(page);
  assert.ok(stats.painted > 3000, `${stats.painted} painted pixels`);
  const rows = Object.fromEntries((await tableRows(page)).map((r) => [r.name, r.cells]));
  assert.deepEqual(rows.parse_json, ['1.50 s', '1.50 s']);
  assert.deepEqual(rows.main, ['0 s', '3.30 s']);
  const after = apiRequests.slice(from);
  assert.ok(after.some((r) => r.path === '/render'), 'the profile was asked for');
  for (const r of after) assert.equal(r.auth, 'Bearer readtok', `${r.path} sends the token`);
  assert.equal(await page.isVisible('#banner'), false);
  assert.ok(await page.isVisible('#forget-token'));
  await screenshot(page, 'auth-signed-in');
});

test('the token is kept for this tab only: not in localStorage, not in the URL', async () => {
  assert.equal(await stored(), 'readtok');
  const local = await page.evaluate(() => Object.keys(localStorage).map((k) => localStorage.getItem(k)));
  assert.ok(!local.some((v) => String(v).includes('readtok')), `localStorage holds ${JSON.stringify(local)}`);
  assert.ok(!page.url().includes('readtok'));
  // The tag dropdowns read /labels and /label-values through the same client.
  await page.selectOption('.tagbar .tag-key', 'region');
  await page.waitForSelector('.tagbar .tag-value:not([hidden]) option[value="eu"]', { state: 'attached' });
  for (const path of ['/labels', '/label-values']) {
    const sent = apiRequests.filter((r) => r.path === path);
    assert.ok(sent.length > 0, `${path} was asked`);
    assert.equal(sent.at(-1).auth, 'Bearer readtok', `${path} sends the token`);
  }
});

test('a reload in the same tab keeps working without asking', async () => {
  const opensBefore = refusals.length;
  await page.reload();
  await settled(page);
  assert.equal(await page.isVisible('#auth-dialog'), false);
  assert.equal(refusals.length, opensBefore, 'no call was refused');
  assert.ok((await canvasStats(page)).painted > 3000);
});

test('exports download the profile while auth is on', async () => {
  const grab = async (kind) => {
    await page.click('.panel summary:has-text("Export")');
    const [download] = await Promise.all([page.waitForEvent('download'), page.click(`button[data-export="${kind}"]`)]);
    return (await readFile(await download.path())).toString();
  };
  assert.equal(JSON.parse(await grab('json')).flamebearer.numTicks, 330);
  assert.match(await grab('svg'), /<svg[\s\S]*parse_json[\s\S]*<\/svg>/);
  assert.match(await grab('folded'), /^main;handle;parse_json 150$/m);
});

test('a new tab starts without the token and asks for it', async () => {
  const tab = await browser.context.newPage();
  try {
    await tab.goto(server.url);
    await dialogOpen(tab);
    assert.equal(await stored(tab), null);
  } finally {
    await tab.close();
  }
});

test('the diff view, with several calls refused at once, asks only once', async () => {
  const tab = await browser.context.newPage();
  try {
    await countDialogOpens(tab);
    const from = refusals.length;
    await tab.goto(`${server.url}?view=diff&query=shop.cpu%7B%7D`);
    await dialogOpen(tab);
    // The app list, both timelines and the diff: each meets a 401.
    for (let i = 0; i < 50 && refusals.length - from < 4; i++) await tab.waitForTimeout(100);
    assert.ok(refusals.length - from >= 4, `${refusals.length - from} calls refused`);
    await signIn('admintok', tab);
    await dialogClosed(tab);
    await settled(tab);
    assert.equal(await tab.evaluate(() => window.dialogOpens), 1);
    assert.ok((await canvasStats(tab)).painted > 3000, 'the diff is drawn');
  } finally {
    await tab.close();
  }
});

test('forgetting the token brings the dialog back', async () => {
  await page.click('#forget-token');
  await dialogOpen();
  assert.equal(await stored(), null);
  assert.equal(await page.isVisible('#forget-token'), false);
  assert.ok(
    await page.evaluate(() => window.emberUI.view.panels.every((p) => !p.p)),
    'nothing read with the token stays on screen',
  );
});

test('closing the dialog leaves a banner that offers to enter a token', async () => {
  await page.keyboard.press('Escape');
  await dialogClosed();
  await settled(page, 'auth');
  assert.match(await page.textContent('#banner'), /requires a token/);
  // Auto-refresh and the like do not bring the dialog back by themselves.
  await page.click('#refresh');
  await page.waitForTimeout(1000);
  assert.equal(await page.isVisible('#auth-dialog'), false);
  await page.click('#banner button:has-text("Enter a token")');
  await signIn('readtok');
  await dialogClosed();
  await settled(page);
  assert.equal(await page.isVisible('#banner'), false);
});

test('a kept token the server no longer accepts is dropped, and the dialog says why', async () => {
  await page.evaluate(() => sessionStorage.setItem('ember.token', 'revoked'));
  await page.reload();
  await dialogOpen();
  assert.match(await page.textContent('#auth-error'), /the token is not valid/);
  assert.equal(await stored(), null);
  await page.fill('#auth-token', 'readtok');
  await page.press('#auth-token', 'Enter');
  await settled(page);
});

test('a kept token whose role is too weak shows the server message and asks for nothing', async () => {
  await page.evaluate(() => sessionStorage.setItem('ember.token', 'pushtok'));
  // The profile answers after the app list, so the view has the last word.
  const late = async (route) => {
    await new Promise((r) => setTimeout(r, 400));
    await route.continue();
  };
  await page.route(/\/render\?/, late);
  await page.reload();
  await settled(page, 'error');
  await page.unroute(/\/render\?/, late);
  assert.match(await page.textContent('.panel .message'), /role read or admin/);
  assert.match(await page.textContent('#banner'), /role read or admin/);
  const sent = apiRequests.length;
  await page.waitForTimeout(1500);
  assert.equal(apiRequests.length, sent, 'no call is repeated');
  assert.equal(await page.isVisible('#auth-dialog'), false);
  assert.ok(await page.isVisible('#banner'), 'the banner stays, whichever answer came last');
  await page.click('#banner button:has-text("Use another token")');
  await signIn('readtok');
  await settled(page);
});

test('on an empty server the first-push command carries a token', async () => {
  const empty = await startEmber({ tokens: TOKENS });
  const tab = await browser.context.newPage();
  try {
    await tab.goto(empty.url);
    await signIn('readtok', tab);
    await settled(tab, 'welcome');
    const text = await tab.textContent('#welcome');
    assert.ok(text.includes('curl -g -X POST -H "Authorization: Bearer $EMBER_TOKEN" --data-binary @cpu.folded'), text);
    assert.ok(!text.includes('readtok'), 'the page does not print the token');
    assert.match(text, /role ingest or admin/);
  } finally {
    await tab.close();
    await empty.stop();
  }
});

test('the page raised no script errors and used no browser dialog', () => {
  assert.deepEqual(browser.errors, []);
  assert.deepEqual(jsDialogs, []);
});

test('nothing on the page broke its Content-Security-Policy', () => {
  assert.deepEqual(browser.csp, []);
});
