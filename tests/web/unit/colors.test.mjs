// Frame colors: stable per package, diff colors by relative change.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  packageOf, hueIndex, nodeColors, palette, relativeChange, diffStep,
  HUES, OTHER, ROOT, DIFF_BASE, DIFF_STEPS, PALETTE_SIZE,
} from '../../../web/js/colors.js';
import { decode, findPath } from '../../../web/js/flamebearer.js';
import { renderResponse, diffResponse } from '../lib/build.mjs';

test('the package is the part before the last separator', () => {
  assert.equal(packageOf('com.acme.Server.handle'), 'com.acme.Server');
  assert.equal(packageOf('std::vector<int>::push_back'), 'std::vector<int>');
  assert.equal(packageOf('net/http.(*conn).serve'), 'net/http.(*conn)');
  assert.equal(packageOf('github.com/acme/svc/pkg.Func'), 'github.com/acme/svc/pkg');
  assert.equal(packageOf('libc.so.6:malloc'), 'libc.so.6');
  assert.equal(packageOf('main'), 'main');
});

test('separators inside argument lists and templates do not count', () => {
  assert.equal(packageOf('ns::Cls::run(std::string const&)'), 'ns::Cls');
  assert.equal(packageOf('core::ptr::drop_in_place<alloc::vec::Vec<u8>>'), 'core::ptr');
});

test('python frames are colored by their file', () => {
  assert.equal(packageOf('handle_request (app/server.py:42)'), 'app/server.py');
  assert.equal(hueIndex('a (app/server.py:1)'), hueIndex('b (app/server.py:99)'));
});

test('functions of one package share a color and colors do not change between calls', () => {
  assert.equal(hueIndex('com.acme.Server.handle'), hueIndex('com.acme.Server.close'));
  assert.equal(hueIndex('x.y.z'), hueIndex('x.y.z'));
  const seen = new Set();
  for (let i = 0; i < 200; i++) seen.add(hueIndex(`pkg${i}.f`));
  assert.ok(seen.size > HUES / 2, `200 packages spread over ${seen.size} hues`);
  for (const h of seen) assert.ok(h >= 0 && h < HUES);
});

test('the root and the other node get their own colors', () => {
  const p = decode(renderResponse('a;b 1\nother 2'));
  const c = nodeColors(p);
  assert.equal(c[0], ROOT);
  assert.equal(c[findPath(p, ['other'])], OTHER);
  assert.equal(c[findPath(p, ['a'])], hueIndex('a'));
});

test('relative change compares shares of each side', () => {
  assert.equal(relativeChange(10, 20, 100, 100), 1);
  assert.equal(relativeChange(10, 20, 100, 200), 0);
  assert.equal(relativeChange(10, 5, 100, 100), -0.5);
  assert.equal(relativeChange(0, 5, 100, 100), Infinity);
  assert.equal(relativeChange(5, 0, 100, 100), -1);
  assert.equal(relativeChange(0, 0, 100, 100), 0);
});

test('diff steps are red for more, green for less, saturating at 100%', () => {
  assert.equal(diffStep(0), 0);
  assert.equal(diffStep(0.01), 0);
  assert.equal(diffStep(0.05), 1);
  assert.equal(diffStep(0.5), DIFF_STEPS / 2);
  assert.equal(diffStep(3), DIFF_STEPS);
  assert.equal(diffStep(Infinity), DIFF_STEPS);
  assert.equal(diffStep(-1), -DIFF_STEPS);
  assert.equal(diffStep(-0.25), -3);
  const pal = palette('light');
  assert.match(pal[DIFF_BASE + DIFF_STEPS + DIFF_STEPS], /^hsl\(0,/);
  assert.match(pal[DIFF_BASE], /^hsl\(130,/);
});

test('diff nodes are colored by the change of their total share', () => {
  const p = decode(diffResponse('a;b 5\na;c 5', 'a;b 5\na;c 15'));
  const c = nodeColors(p);
  const neutral = DIFF_BASE + DIFF_STEPS;
  assert.equal(c[findPath(p, ['a'])], neutral);
  assert.ok(c[findPath(p, ['a', 'c'])] > neutral, 'c grew');
  assert.ok(c[findPath(p, ['a', 'b'])] < neutral, 'b shrank');
});

test('both palettes hold a color for every index', () => {
  for (const theme of ['light', 'dark']) {
    const pal = palette(theme);
    assert.equal(pal.length, PALETTE_SIZE);
    for (const c of pal) assert.match(c, /^hsl\(\d+, \d+%, \d+%\)$/);
  }
});

// The SVG and HTML exports draw with these colors too (src/query/colors.c):
// both are checked against tests/data/colors.json, which
// tests/data/make_colors.mjs writes from this module.
test('the colors match the fixture the exports are checked against', async () => {
  const { readFileSync } = await import('node:fs');
  const fx = JSON.parse(readFileSync(new URL('../../data/colors.json', import.meta.url), 'utf8'));
  assert.equal(fx.hues, HUES);
  assert.equal(fx.other, OTHER);
  assert.equal(fx.root, ROOT);
  assert.equal(fx.diffBase, DIFF_BASE + DIFF_STEPS);
  for (const n of fx.names) {
    assert.equal(packageOf(n.name), n.package, n.name);
    assert.equal(hueIndex(n.name), n.hue, n.name);
  }
  for (const c of fx.changes) assert.equal(diffStep(c.change), c.step, String(c.change));
  assert.deepEqual(palette('light', 'rg'), fx.palette.map((p) => p.hsl));
});
