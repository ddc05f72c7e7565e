// Decoding of /render and /render-diff flame graphs.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decode, pathOf, findPath, nodeAt, decodeTimeline, isEmpty, release, FormatError } from '../../../web/js/flamebearer.js';
import { renderResponse, diffResponse } from '../lib/build.mjs';

// The example of docs/API.md: stacks a;b 1 and a;c 2.
const apiExample = {
  version: 1,
  flamebearer: {
    names: ['total', 'a', 'c', 'b'],
    levels: [[0, 3, 0, 0], [0, 3, 0, 1], [0, 1, 1, 3, 0, 2, 2, 2]],
    numTicks: 3,
    maxSelf: 2,
  },
  metadata: { format: 'single', units: 'samples', sampleRate: 100 },
  timeline: { startTime: 1700000000, samples: [4, 0, 0], durationDelta: 10 },
};

const nameOf = (p, i) => p.names[p.name[i]];

test('decode turns the delta-encoded x of the API example into absolute offsets', () => {
  const p = decode(apiExample);
  assert.equal(p.n, 4);
  assert.equal(p.levels, 3);
  assert.deepEqual([...p.x], [0, 0, 0, 1]);
  assert.deepEqual([...p.total], [3, 3, 1, 2]);
  assert.deepEqual([...p.self], [0, 0, 1, 2]);
  assert.deepEqual([...p.depth], [0, 1, 2, 2]);
  assert.deepEqual([0, 1, 2, 3].map((i) => nameOf(p, i)), ['total', 'a', 'b', 'c']);
  assert.equal(p.numTicks, 3);
  assert.equal(p.maxSelf, 2);
});

test('decode links every node to its parent', () => {
  const p = decode(apiExample);
  assert.deepEqual([...p.parent], [-1, 0, 1, 1]);
});

test('children start after their parent self ticks', () => {
  const p = decode(renderResponse('a 5\na;b 2\na;c 3\nd 1'));
  const a = findPath(p, ['a']);
  const b = findPath(p, ['a', 'b']);
  const c = findPath(p, ['a', 'c']);
  const d = findPath(p, ['d']);
  assert.equal(p.x[a], 0);
  assert.equal(p.self[a], 5);
  assert.equal(p.x[b], 5);
  assert.equal(p.x[c], 7);
  assert.equal(p.x[d], 10);
  assert.equal(p.parent[d], 0);
  assert.equal(p.parent[c], a);
});

test('parents are found across many siblings on wide levels', () => {
  const lines = [];
  for (let i = 0; i < 50; i++) lines.push(`p${String(i).padStart(2, '0')};c${i % 3};leaf ${i + 1}`);
  const p = decode(renderResponse(lines.join('\n')));
  for (let i = 1; i < p.n; i++) {
    const q = p.parent[i];
    assert.ok(p.x[q] + p.self[q] <= p.x[i] && p.x[i] + p.total[i] <= p.x[q] + p.total[q], `node ${i} inside ${q}`);
    assert.equal(p.depth[q], p.depth[i] - 1);
  }
  assert.equal(pathOf(p, findPath(p, ['p07', 'c1', 'leaf'])).join(';'), 'p07;c1;leaf');
});

test('decode reads both sides of a diff and combines them for the layout', () => {
  const p = decode(diffResponse('a;b 4\na;c 2', 'a;b 1\na;c 6\na;d 3'));
  assert.equal(p.format, 'double');
  assert.equal(p.leftTicks, 6);
  assert.equal(p.rightTicks, 10);
  const b = findPath(p, ['a', 'b']);
  const c = findPath(p, ['a', 'c']);
  const d = findPath(p, ['a', 'd']);
  assert.deepEqual([p.ltotal[b], p.rtotal[b]], [4, 1]);
  assert.deepEqual([p.ltotal[c], p.rtotal[c]], [2, 6]);
  assert.deepEqual([p.ltotal[d], p.rtotal[d]], [0, 3]);
  assert.deepEqual([p.lx[c], p.rx[c]], [4, 1]);
  assert.equal(p.x[c], 5);
  assert.equal(p.total[c], 8);
  assert.equal(p.x[d], 13);
  assert.equal(p.total[0], 16);
});

test('the empty result decodes to a root without ticks', () => {
  const p = decode({ flamebearer: { names: ['total'], levels: [[0, 0, 0, 0]], numTicks: 0, maxSelf: 0 }, metadata: {} });
  assert.equal(p.n, 1);
  assert.ok(isEmpty(p));
  assert.ok(!isEmpty(decode(apiExample)));
});

test('malformed levels are refused with a message', () => {
  assert.throws(() => decode({ flamebearer: { names: ['total'], levels: [[0, 1, 0]] } }), FormatError);
  assert.throws(() => decode({ flamebearer: { names: ['total'], levels: [[0, 1, 0, 7]] } }), /names frame 7/);
  assert.throws(() => decode({ nope: 1 }), /no flamebearer/);
  assert.throws(() => decode(null), FormatError);
});

test('nodeAt finds the frame covering a tick, and none past the end', () => {
  const p = decode(apiExample);
  assert.equal(nameOf(p, nodeAt(p, 2, 0)), 'b');
  assert.equal(nameOf(p, nodeAt(p, 2, 2.5)), 'c');
  assert.equal(nodeAt(p, 2, 3), -1);
  assert.equal(nodeAt(p, 5, 0), -1);
});

test('findPath answers -1 for a path that is not in the tree', () => {
  const p = decode(apiExample);
  assert.equal(findPath(p, []), 0);
  assert.equal(findPath(p, ['a', 'x']), -1);
  assert.equal(findPath(p, ['a', 'b', 'c']), -1);
});

test('timeline points of 0 are gaps and others are one more than the sum', () => {
  const tl = decodeTimeline({ startTime: 100, samples: [0, 1, 5], durationDelta: 10 });
  assert.deepEqual(tl.values, [null, 0, 4]);
  assert.equal(tl.start, 100);
  assert.equal(tl.end, 130);
  assert.equal(decodeTimeline(null), null);
});

test('a released profile lends its memory to the next decode without stale values', () => {
  const big = decode(renderResponse('a;b;c 5\na;b;d 7\ne 1\nf;g 2'));
  release(big);
  assert.equal(big.released, true);
  const p = decode(apiExample);
  assert.equal(p.buffer, big.buffer, 'the buffer is reused');
  assert.deepEqual([...p.x], [0, 0, 0, 1]);
  assert.deepEqual([...p.total], [3, 3, 1, 2]);
  assert.deepEqual([...p.parent], [-1, 0, 1, 1]);
  assert.deepEqual([...p.levelStart], [0, 1, 2, 4]);
  release(p);
  release(p);
  const q = decode(apiExample);
  const r = decode(apiExample);
  assert.notEqual(q.buffer, r.buffer, 'a buffer is lent once');
});
