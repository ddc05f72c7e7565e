// Table rows.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { aggregate, sortRows, filterRows, fromServer } from '../../../web/js/aggregate.js';
import { compileMatcher } from '../../../web/js/search.js';
import { decode } from '../../../web/js/flamebearer.js';
import { renderResponse, diffResponse } from '../lib/build.mjs';

const byName = (rows) => Object.fromEntries(rows.map((r) => [r.name, r]));

test('self sums everywhere a function appears and total counts each stack once', () => {
  const p = decode(renderResponse('main;a;b 3\nmain;b 2\nmain;a;a;a 4\nmain 1'));
  const rows = byName(aggregate(p));
  assert.deepEqual(Object.keys(rows).sort(), ['a', 'b', 'main']);
  assert.deepEqual([rows.main.self, rows.main.total], [1, 10]);
  assert.deepEqual([rows.a.self, rows.a.total], [4, 7]);
  assert.deepEqual([rows.b.self, rows.b.total], [5, 5]);
  assert.equal(rows.total, undefined);
});

test('diff rows carry both sides and the change', () => {
  const p = decode(diffResponse('m;x 4\nm;y 4', 'm;x 2\nm;y 4\nm;z 2'));
  const rows = byName(aggregate(p));
  assert.deepEqual([rows.x.ltotal, rows.x.rtotal, rows.x.lself, rows.x.rself], [4, 2, 4, 2]);
  assert.equal(rows.x.diff, -0.5);
  assert.equal(rows.z.diff, Infinity);
  assert.equal(rows.m.diff, 0);
});

test('sorting is by the column, then by name', () => {
  const rows = [
    { name: 'b', self: 2 },
    { name: 'a', self: 2 },
    { name: 'c', self: 5 },
  ];
  assert.deepEqual(sortRows(rows, 'self', true).map((r) => r.name), ['c', 'a', 'b']);
  assert.deepEqual(sortRows(rows, 'self', false).map((r) => r.name), ['a', 'b', 'c']);
  assert.deepEqual(sortRows(rows, 'name', true).map((r) => r.name), ['c', 'b', 'a']);
});

test('the search filters rows', () => {
  const rows = [{ name: 'parse_json' }, { name: 'db_query' }];
  assert.deepEqual(filterRows(rows, compileMatcher('json')).map((r) => r.name), ['parse_json']);
  assert.equal(filterRows(rows, compileMatcher('')).length, 2);
});

test('a deep single stack does not overflow anything', () => {
  const stack = Array.from({ length: 20000 }, (_, i) => `f${i % 7}`).join(';');
  const p = decode(renderResponse(`${stack} 1`));
  const rows = byName(aggregate(p));
  assert.equal(rows.f0.total, 1);
  assert.equal(rows.f6.self, 0);
});

test('diff rows carry the change of their shares in percentage points', () => {
  const p = decode(diffResponse('m;x 10\nm;lock 0\nm;y 90', 'm;x 10\nm;lock 40\nm;y 50'));
  const rows = byName(aggregate(p));
  assert.equal(rows.lock.dself, 40);
  assert.ok(Math.abs(rows.y.dself - -40) < 1e-9);
  assert.ok(Math.abs(rows.x.dself) < 1e-9);
  assert.equal(rows.lock.diff, Infinity);
});

test('the change columns sort by the size of the change, the regression first', () => {
  const rows = [
    { name: 'small_new', dself: 0.5, diff: Infinity },
    { name: 'mutex_lock', dself: -40.2, diff: -1 },
    { name: 'grew', dself: 12, diff: 0.3 },
  ];
  assert.deepEqual(sortRows(rows, 'dself', true).map((r) => r.name), ['mutex_lock', 'grew', 'small_new']);
  assert.deepEqual(sortRows(rows, 'diff', true).map((r) => r.name), ['small_new', 'grew', 'mutex_lock']);
});

test('rows from the server: exact, with both sides in a diff', () => {
  const p = decode(renderResponse('main;a 3\nmain;other 9'));
  const rows = fromServer({ count: 2, truncated: true, items: [{ name: 'a', self: 3, total: 3 }, { name: 'main', self: 0, total: 12 }] }, p);
  assert.deepEqual(rows.map((r) => [r.name, r.self, r.total]), [['a', 3, 3], ['main', 0, 12]]);
  assert.equal(rows.truncated, true);
  const d = decode(diffResponse('m;x 4', 'm;x 2\nm;z 2'));
  const drows = fromServer({ count: 1, truncated: false, items: [{ name: 'x', self: [4, 2], total: [4, 2] }] }, d);
  assert.equal(drows[0].dself, -50);
  assert.equal(fromServer(undefined, p), null);
  assert.equal(fromServer({ items: [{ self: 1 }] }, p), null);
});
