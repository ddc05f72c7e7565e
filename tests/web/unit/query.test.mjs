// FlameQL selectors as the tag picker reads and writes them.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseSelector, buildSelector, withLabel, withoutMatcher, appOf, quote, QueryError } from '../../../web/js/query.js';

test('selectors parse into an app and matchers', () => {
  assert.deepEqual(parseSelector('app.cpu{}'), { app: 'app.cpu', matchers: [] });
  assert.deepEqual(parseSelector('app.cpu'), { app: 'app.cpu', matchers: [] });
  assert.deepEqual(parseSelector(' app.cpu{ region = "eu-north" , pod=~"web-.*",x!="",y!~"t.+"} ').matchers, [
    { key: 'region', op: '=', value: 'eu-north' },
    { key: 'pod', op: '=~', value: 'web-.*' },
    { key: 'x', op: '!=', value: '' },
    { key: 'y', op: '!~', value: 't.+' },
  ]);
});

test('quoted values keep escaped quotes and backslashes', () => {
  const q = buildSelector('a', [{ key: 'k', op: '=', value: 'say "hi" \\o/' }]);
  assert.equal(q, 'a{k="say \\"hi\\" \\\\o/"}');
  assert.equal(parseSelector(q).matchers[0].value, 'say "hi" \\o/');
  assert.equal(quote('x'), '"x"');
});

test('malformed selectors say what is wrong', () => {
  assert.throws(() => parseSelector('{a="b"}'), /names no app/);
  assert.throws(() => parseSelector('app{a="b"'), /does not end/);
  assert.throws(() => parseSelector('app{a=b}'), /double quotes/);
  assert.throws(() => parseSelector('app{a>"b"}'), QueryError);
  assert.throws(() => parseSelector('app{a="b}'), /closing quote/);
  assert.throws(() => parseSelector('app{a="b" c="d"}'), /expected ","/);
});

test('choosing a tag value replaces that key and keeps the others', () => {
  let q = withLabel('app.cpu{}', 'region', 'eu');
  assert.equal(q, 'app.cpu{region="eu"}');
  q = withLabel('app.cpu{region="eu",host="a"}', 'region', 'us');
  assert.equal(q, 'app.cpu{host="a",region="us"}');
  assert.equal(withLabel(q, 'host', null), 'app.cpu{region="us"}');
  assert.equal(withoutMatcher(q, 0), 'app.cpu{region="us"}');
});

test('appOf names the app of a query that does not parse', () => {
  assert.equal(appOf('app.cpu{broken'), 'app.cpu');
  assert.equal(appOf(''), '');
});
