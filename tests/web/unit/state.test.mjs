// The URL state of the UI.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseState, serializeState, DEFAULTS, sides, parseSort, sameState, comparesQueries, parseHide, withHide } from '../../../web/js/state.js';

test('an empty query string gives the defaults and serialises to nothing', () => {
  const st = parseState('');
  assert.deepEqual(st, { ...DEFAULTS });
  assert.equal(serializeState(st), '');
});

test('a full view round-trips through the URL', () => {
  const st = {
    ...DEFAULTS,
    view: 'diff',
    query: 'app.cpu{region="eu"}',
    from: 'now-6h',
    until: 'now',
    leftQuery: 'app.cpu{v="1"}',
    leftFrom: '1700000000',
    leftUntil: '1700001000',
    rightFrom: '1700001000',
    rightUntil: '1700002000',
    search: 'json',
    regex: true,
    fn: 'main',
    zoom: 'main;handle',
    show: 'graph',
    sort: '-diff',
    refresh: true,
    maxNodes: 2048,
    sandwich: 'mutex_lock',
    hide: 'h:idle\nc:runtime.gcBgMarkWorker',
    groupBy: 'region',
    align: 'right',
    palette: 'cb',
  };
  const url = serializeState(st);
  assert.ok(url.startsWith('?view=diff&query='));
  assert.deepEqual(parseState(url), st);
  assert.ok(sameState(parseState(url), st));
});

test('invalid values fall back to defaults', () => {
  const st = parseState('?view=bogus&from=yesterday&until=now-5m&show=x&sort=-price&maxNodes=12.5&regex=yes');
  assert.equal(st.view, 'single');
  assert.equal(st.from, 'now-1h');
  assert.equal(st.until, 'now-5m');
  assert.equal(st.show, 'both');
  assert.equal(st.sort, '');
  assert.equal(st.maxNodes, 0);
  assert.equal(st.regex, false);
});

test('the legacy name parameter is read as the query', () => {
  assert.equal(parseState('?name=app.cpu%7B%7D').query, 'app.cpu{}');
});

test('sort strings carry direction', () => {
  assert.deepEqual(parseSort('-total'), { key: 'total', desc: true });
  assert.deepEqual(parseSort('name'), { key: 'name', desc: false });
  assert.deepEqual(parseSort(''), { key: 'self', desc: true });
  assert.deepEqual(parseSort('', true), { key: 'dself', desc: true });
});

test('sides default to the main query and the two halves of the range', () => {
  const now = 1700003600;
  const s = sides({ ...DEFAULTS, query: 'a{}', from: 'now-1h' }, now);
  assert.deepEqual(s.left, { query: 'a{}', from: 1700000000, until: 1700001800 });
  assert.deepEqual(s.right, { query: 'a{}', from: 1700001800, until: 1700003600 });
  const t = sides({ ...DEFAULTS, query: 'a{}', rightQuery: 'b{}', leftFrom: 'now-10m', leftUntil: 'now-5m' }, now);
  assert.deepEqual(t.left, { query: 'a{}', from: now - 600, until: now - 300 });
  assert.equal(t.right.query, 'b{}');
});

test('sides that differ by query share the whole range', () => {
  const now = 1700003600;
  const st = { ...DEFAULTS, query: 'a{r="1"}', leftQuery: 'a{r="1"}', rightQuery: 'a{r="2"}', from: 'now-1h' };
  const s = sides(st, now);
  assert.deepEqual(s.left, { query: 'a{r="1"}', from: 1700000000, until: 1700003600 });
  assert.deepEqual(s.right, { query: 'a{r="2"}', from: 1700000000, until: 1700003600 });
  assert.ok(comparesQueries(st));
  assert.ok(!comparesQueries({ ...st, rightQuery: 'a{r="1"}' }));
});

test('hidden and collapsed frames live in one field', () => {
  let h = withHide('', 'idle', 'h');
  h = withHide(h, 'gc', 'c');
  assert.deepEqual(parseHide(h), { hidden: ['idle'], collapsed: ['gc'] });
  assert.deepEqual(parseHide(withHide(h, 'idle', null)), { hidden: [], collapsed: ['gc'] });
});
