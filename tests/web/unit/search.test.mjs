// Search matching and combined shares.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { compileMatcher, exactMatcher, matchNames, matchNodes } from '../../../web/js/search.js';
import { decode, findPath } from '../../../web/js/flamebearer.js';
import { renderResponse, diffResponse } from '../lib/build.mjs';

test('substring search ignores case and regex search uses the pattern', () => {
  const m = compileMatcher('JSON');
  assert.ok(m.active && m.test('parse_json') && !m.test('db_query'));
  const r = compileMatcher('^db_|mutex$', true);
  assert.ok(r.test('db_query') && r.test('mutex') && !r.test('parse_json'));
  assert.equal(compileMatcher('').active, false);
});

test('an invalid regex reports an error instead of throwing', () => {
  const m = compileMatcher('(', true);
  assert.equal(m.active, false);
  assert.match(m.error, /not a valid regular expression/);
});

test('matching nodes count once when nested or recursive', () => {
  const p = decode(renderResponse('main;work;work;leaf 4\nmain;work 2\nmain;idle 4'));
  const nm = matchNames(p.names, compileMatcher('work'));
  const r = matchNodes(p, nm);
  assert.equal(r.count, 2);
  assert.equal(r.total, 6);
  assert.equal(r.hit[findPath(p, ['main', 'work', 'work'])], 1);
  assert.equal(r.hit[findPath(p, ['main', 'idle'])], 0);
  assert.equal(r.hit[0], 0);
});

test('an exact match finds only that function', () => {
  const p = decode(renderResponse('a;ab 1\na;abc 2'));
  const r = matchNodes(p, matchNames(p.names, exactMatcher('ab')));
  assert.equal(r.total, 1);
  assert.equal(matchNodes(p, matchNames(p.names, exactMatcher(''))).count, 0);
});

test('diff matches report both sides', () => {
  const p = decode(diffResponse('a;x 3\na;y 1', 'a;x 1\na;y 5'));
  const r = matchNodes(p, matchNames(p.names, compileMatcher('x')));
  assert.deepEqual([r.left, r.right, r.total], [3, 1, 4]);
});
