// Profiles made from a decoded one: hidden and collapsed frames, and the
// callers and callees of a sandwich.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decode, pathOf } from '../../../web/js/flamebearer.js';
import { toFolded } from '../../../web/js/export.js';
import { hideFrames, sandwich, nameIndex } from '../../../web/js/tree.js';
import { renderResponse, diffResponse } from '../lib/build.mjs';

const folded = (p, side) => toFolded(p, 0, side).trim().split('\n').sort();
const names = (p, ...ns) => new Set(ns.map((n) => nameIndex(p, n)));

test('hiding a frame drops it and its samples; collapsing folds its subtree into it', () => {
  const p = decode(renderResponse('main;a;b 3\nmain;a 1\nmain;c;a;d 2\nmain;c 4\nmain;idle 5'));
  const h = hideFrames(p, names(p, 'idle'), new Set());
  assert.equal(h.numTicks, 10);
  assert.deepEqual(folded(h), ['main;a 1', 'main;a;b 3', 'main;c 4', 'main;c;a;d 2']);
  const c = hideFrames(p, new Set(), names(p, 'a'));
  assert.equal(c.numTicks, 15);
  assert.deepEqual(folded(c), ['main;a 4', 'main;c 4', 'main;c;a 2', 'main;idle 5']);
  assert.equal(hideFrames(p, new Set(), new Set()), p);
});

test('hiding works on both sides of a diff', () => {
  const p = decode(diffResponse('m;x 4\nm;y 4', 'm;x 2\nm;y 4\nm;z 2'));
  const h = hideFrames(p, names(p, 'y'), new Set());
  assert.equal(h.format, 'double');
  assert.deepEqual([h.leftTicks, h.rightTicks], [4, 4]);
  assert.deepEqual(folded(h, 'lself'), ['m;x 4']);
  assert.deepEqual(folded(h, 'rself'), ['m;x 2', 'm;z 2']);
});

test('a sandwich: callers upside down above, callees merged below, recursion once', () => {
  const p = decode(renderResponse('main;a;lock 3\nmain;b;lock;spin 2\nmain;b;lock;lock;spin 1\nlock 4\nmain;b 7'));
  const s = sandwich(p, nameIndex(p, 'lock'));
  assert.equal(s.count, 3);
  assert.equal(s.callees.numTicks, 10);
  // Paths under the root (lock itself), whose own self is 3 + 4.
  assert.deepEqual(folded(s.callees), ['lock;spin 1', 'spin 2']);
  assert.equal(s.callees.self[0], 7);
  assert.equal(s.callers.numTicks, 10);
  // Read upside down: lock's callers, nearest first.
  assert.deepEqual(folded(s.callers), ['a;main 3', 'b;main 3']);
  assert.equal(s.callers.self[0], 4, 'called from nowhere: the first frame of its stack');
  assert.equal(s.callers.names[s.callers.name[0]], 'lock');
  const b = [...Array(s.callers.n).keys()].find((i) => s.callers.names[s.callers.name[i]] === 'b');
  assert.deepEqual(pathOf(s.callers, b), ['b']);
});

test('a sandwich of a diff keeps both sides', () => {
  const p = decode(diffResponse('m;x;lock 4\nm;y 4', 'm;x;lock 2\nm;y;lock 6'));
  const s = sandwich(p, nameIndex(p, 'lock'));
  assert.deepEqual([s.callers.leftTicks, s.callers.rightTicks], [4, 8]);
  assert.deepEqual(folded(s.callers, 'rself'), ['x;m 2', 'y;m 6']);
});

test('a sandwich grows past its first buffers', () => {
  const lines = [];
  for (let i = 0; i < 5000; i++) lines.push(`main;a${i % 7};lock;f${i} 1`);
  const p = decode(renderResponse(lines.join('\n')));
  const s = sandwich(p, nameIndex(p, 'lock'));
  assert.equal(s.callees.n, 5001);
  assert.equal(s.callees.numTicks, 5000);
  assert.equal(s.callers.n, 1 + 7 + 7);
});
