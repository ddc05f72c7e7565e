// Visible frames and hit testing.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { makeRects, visibleRects, hitTest, visibleDepth } from '../../../web/js/layout.js';
import { decode, findPath } from '../../../web/js/flamebearer.js';
import { renderResponse } from '../lib/build.mjs';

const p = decode(renderResponse('a;b 30\na;c 10\nd 60'));
const A = findPath(p, ['a']);
const B = findPath(p, ['a', 'b']);
const C = findPath(p, ['a', 'c']);
const D = findPath(p, ['d']);

function rects(zoom, width, min = 0.5) {
  const out = makeRects(p.n);
  const n = visibleRects(p, zoom, width, min, out);
  const list = [];
  for (let k = 0; k < n; k++) list.push({ node: out.node[k], x: out.x[k], w: out.w[k], anc: out.ancestor[k] });
  return list;
}

test('the whole profile spans the width in proportion to totals', () => {
  const r = rects(0, 1000);
  assert.deepEqual(r.map((e) => e.node), [0, A, D, B, C]);
  const byNode = Object.fromEntries(r.map((e) => [e.node, e]));
  assert.deepEqual([byNode[A].x, byNode[A].w], [0, 400]);
  assert.deepEqual([byNode[D].x, byNode[D].w], [400, 600]);
  assert.deepEqual([byNode[C].x, byNode[C].w], [300, 100]);
});

test('zooming shows the node full width, its ancestors above, and only its descendants', () => {
  const r = rects(A, 800);
  assert.deepEqual(r.map((e) => e.node), [0, A, B, C]);
  assert.deepEqual(r.map((e) => e.anc), [1, 0, 0, 0]);
  assert.equal(r[1].w, 800);
  assert.deepEqual([r[2].x, r[2].w], [0, 600]);
  assert.deepEqual([r[3].x, r[3].w], [600, 200]);
});

test('frames narrower than the minimum are skipped', () => {
  const r = rects(0, 10, 3.5);
  assert.deepEqual(r.map((e) => e.node), [0, A, D]);
});

test('a profile of many thin frames stops at the first empty row', () => {
  const lines = [];
  for (let i = 0; i < 2000; i++) lines.push(`f${i};g;h;i 1`);
  const q = decode(renderResponse(lines.join('\n')));
  const out = makeRects(q.n);
  assert.equal(visibleRects(q, 0, 100, 0.5, out), 1);
});

test('hit testing finds the frame under the pointer, also above a zoom', () => {
  assert.equal(hitTest(p, 0, 1000, 350, 2), C);
  assert.equal(hitTest(p, 0, 1000, 350, 1), A);
  assert.equal(hitTest(p, 0, 1000, 999, 2), -1);
  assert.equal(hitTest(p, A, 1000, 999, 0), 0);
  assert.equal(hitTest(p, A, 1000, 999, 2), C);
  assert.equal(hitTest(p, A, 1000, 10, 1), A);
  assert.equal(hitTest(p, 0, 1000, 10, 9), -1);
});

test('the visible depth follows the zoomed subtree', () => {
  assert.equal(visibleDepth(p, 0), 3);
  assert.equal(visibleDepth(p, D), 2);
});
