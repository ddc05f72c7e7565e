// Frame label elision against the cases the server's renderers share
// (tests/data/labels.json), and the parts of a name the rule reads.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { elideLabel, stripSuffix, functionStart, functionOf } from '../../../web/js/label.js';

const fixture = JSON.parse(readFileSync(new URL('../../data/labels.json', import.meta.url), 'utf8'));

test('every shared label case gives its expected text', () => {
  const wrong = [];
  for (const c of fixture.cases) {
    const got = elideLabel(c.name, c.max);
    if (got !== c.expected) wrong.push(`${c.name} @${c.max}: got "${got}", want "${c.expected}"`);
  }
  assert.deepEqual(wrong, []);
});

test('no label is longer than the room it is given', () => {
  for (const c of fixture.cases) {
    for (let max = 0; max <= [...c.name].length + 1; max++) {
      const got = elideLabel(c.name, max);
      assert.ok([...got].length <= max, `${c.name} @${max}: "${got}"`);
    }
  }
});

test('the function stays whole for as long as it fits', () => {
  const name = 'server:mutex_lock (server.py:58)';
  for (let max = 10; max <= 40; max++) assert.ok(elideLabel(name, max).includes('mutex_lock'), `at ${max}`);
});

test('suffixes: a location, an argument list with qualifiers, a Rust hash', () => {
  assert.equal(stripSuffix('f (a.py:1)'), 'f');
  assert.equal(stripSuffix('ns::f(int, char*) const &&'), 'ns::f');
  assert.equal(stripSuffix('a::b::h0123456789abcdef'), 'a::b');
  assert.equal(stripSuffix('(anonymous namespace)'), '(anonymous namespace)');
  assert.equal(stripSuffix('main.(*T).m'), 'main.(*T).m');
  assert.equal(stripSuffix('X::operator()'), 'X::operator()');
});

test('where the function starts', () => {
  assert.equal(functionOf('github.com/a/b.(*T).M'), 'M');
  assert.equal(functionOf('main.(*Server).handle.func1'), 'handle.func1');
  assert.equal(functionOf('std::map<a::b, c::d>::find(x::y)'), 'find');
  assert.equal(functionOf('app/u.rb:3 - User#save'), 'User#save');
  assert.equal(functionOf('Foo#bar'), 'bar');
  assert.equal(functionStart('plain'), 0);
});
