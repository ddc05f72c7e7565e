// The tag explorer on the ride-sharing data: a line per region, a table of
// shares, averages and peaks, a pie chart; a value's flame graph on a
// click; filtering to a value and setting the sides of a comparison.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startEmber, launchBrowser, screenshot, settled, tableRows, seedRideSharing } from './harness.mjs';

let server;
let browser;
let page;

before(async () => {
  server = await startEmber();
  await seedRideSharing(server, 4);
  browser = await launchBrowser({ width: 1400, height: 1000 });
  page = browser.page;
});

after(async () => {
  if (browser) await browser.close();
  if (server) await server.stop();
});

const valueRows = () =>
  page.$$eval('table.explore-table tbody tr', (trs) => trs.map((tr) => [...tr.querySelectorAll('td')].slice(0, 5).map((td) => td.textContent)));

test('a tag key splits the selection: a line, a row and a slice per value', async () => {
  await page.goto(`${server.url}?view=explore&query=ride-sharing-app.cpu%7B%7D&groupBy=region&from=now-5m`);
  await settled(page);
  // 8 pushes of 280 samples in eu-north, 138 in us-east, 133 in ap-south:
  // shares of 4,408; averages over the 8 steps with data; peaks of one.
  assert.deepEqual(await valueRows(), [
    ['●eu-north', '50.8%', '22.4 s', '2.80 s', '2.80 s'],
    ['●us-east', '25%', '11.0 s', '1.38 s', '1.38 s'],
    ['●ap-south', '24.1%', '10.6 s', '1.33 s', '1.33 s'],
  ]);
  const chart = await page.evaluate(() => {
    const c = window.emberUI.view.chart;
    return { series: c.data.series.map((s) => s.label), labels: c.axisLabels, max: c.max };
  });
  assert.deepEqual(chart.series, ['eu-north', 'us-east', 'ap-south']);
  assert.equal(chart.max, 280);
  assert.equal(new Set(chart.labels).size, chart.labels.length, `axis labels never repeat: ${chart.labels}`);
  // The lines are drawn in the colors of their rows.
  const colors = await page.evaluate(() => {
    const c = window.emberUI.view.chart.canvas;
    const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
    const seen = new Set();
    for (let i = 0; i < d.length; i += 4) if (d[i + 3] > 200) seen.add(`${d[i]},${d[i + 1]},${d[i + 2]}`);
    return [...seen];
  });
  for (const want of ['76,120,168', '245,133,24', '84,162,75']) assert.ok(colors.includes(want), `a line in ${want}`);
  // The pie: eu-north's slice starts at the top and takes half.
  const pie = await page.evaluate(() => {
    const c = document.querySelector('canvas.pie');
    const ctx = c.getContext('2d');
    const px = (x, y) => [...ctx.getImageData(Math.round(x * c.width), Math.round(y * c.height), 1, 1).data].slice(0, 3).join(',');
    return { right: px(0.6, 0.2), left: px(0.3, 0.6) };
  });
  assert.equal(pie.right, '76,120,168', 'the right half is eu-north');
  assert.notEqual(pie.left, '76,120,168');
  await screenshot(page, 'explore');
});

test('clicking a value shows its flame graph', async () => {
  await page.click('table.explore-table tbody tr:has-text("eu-north") td.value');
  await page.waitForFunction(() => window.emberUI.state.groupValue === 'eu-north');
  await settled(page);
  assert.match(await page.textContent('.explore-graph .panel-head .meta'), /\(2,240 samples\)/);
  assert.ok((await tableRows(page)).some((r) => /mutex_lock/.test(r.name)));
  await screenshot(page, 'explore-value');
});

test('a value sets a side of a comparison, and the two open as a diff', async () => {
  await page.click('table.explore-table tbody tr:has-text("eu-north") button[data-act="left"]');
  await page.waitForFunction(() => window.emberUI.state.leftQuery === 'ride-sharing-app.cpu{region="eu-north"}');
  await page.click('table.explore-table tbody tr:has-text("us-east") button[data-act="right"]');
  await page.waitForFunction(() => window.emberUI.state.rightQuery === 'ride-sharing-app.cpu{region="us-east"}');
  await page.click('.compare-bar button[data-open="diff"]');
  await page.waitForFunction(() => window.emberUI.state.view === 'diff');
  await settled(page);
  assert.match((await tableRows(page))[0].name, /mutex_lock/);
});

test('filtering to a value opens it in the single view', async () => {
  await page.goBack();
  await page.waitForFunction(() => window.emberUI.state.view === 'explore');
  await settled(page);
  await page.click('table.explore-table tbody tr:has-text("ap-south") button[data-act="filter"]');
  await page.waitForFunction(() => window.emberUI.state.view === 'single');
  assert.equal((await page.evaluate(() => window.emberUI.state)).query, 'ride-sharing-app.cpu{region="ap-south"}');
  await settled(page);
});

test('the top N values stand alone, the rest sum as "other"', async () => {
  await page.goto(`${server.url}?view=explore&query=ride-sharing-app.cpu%7B%7D&groupBy=vehicle&from=now-5m&top=1`);
  await settled(page);
  const rows = await valueRows();
  assert.equal(rows.length, 2);
  assert.match(rows[0][0], /car/);
  assert.match(rows[1][0], /other \(2 values\)/);
  // "other" has no query of its own: no buttons.
  assert.equal(await page.locator('table.explore-table tbody tr:has-text("other") button').count(), 0);
});

test('the page raised no script errors', () => {
  assert.deepEqual(browser.errors, []);
});

test('nothing on the page broke its Content-Security-Policy', () => {
  assert.deepEqual(browser.csp, []);
});
