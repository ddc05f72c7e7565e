// The tab's access token: where it is kept, and what may be sent as one.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { TokenStore, TOKEN_KEY, tokenProblem, authHeaders } from '../../../web/js/auth.js';

// A stand-in for the Web Storage API.
function fakeStorage(initial = {}) {
  const m = new Map(Object.entries(initial));
  return {
    map: m,
    getItem: (k) => (m.has(k) ? m.get(k) : null),
    setItem: (k, v) => m.set(k, String(v)),
    removeItem: (k) => m.delete(k),
  };
}

test('a token set in one store is read back by the next, as after a reload', () => {
  const storage = fakeStorage();
  const a = new TokenStore(storage);
  assert.equal(a.get(), '');
  a.set('s3cret');
  assert.equal(storage.map.get(TOKEN_KEY), 's3cret');
  assert.equal(new TokenStore(storage).get(), 's3cret');
});

test('forgetting a token removes it from the storage', () => {
  const storage = fakeStorage({ [TOKEN_KEY]: 's3cret' });
  const s = new TokenStore(storage);
  assert.equal(s.get(), 's3cret');
  s.forget();
  assert.equal(s.get(), '');
  assert.equal(storage.map.has(TOKEN_KEY), false);
  assert.equal(new TokenStore(storage).get(), '');
});

test('the default store is sessionStorage, never localStorage', () => {
  const session = fakeStorage();
  const local = fakeStorage();
  globalThis.sessionStorage = session;
  globalThis.localStorage = local;
  try {
    new TokenStore().set('s3cret');
    assert.equal(session.map.get(TOKEN_KEY), 's3cret');
    assert.equal(local.map.size, 0);
  } finally {
    delete globalThis.sessionStorage;
    delete globalThis.localStorage;
  }
});

test('a storage that refuses keeps the token for the page only', () => {
  const broken = {
    getItem: () => {
      throw new Error('SecurityError');
    },
    setItem: () => {
      throw new Error('SecurityError');
    },
    removeItem: () => {},
  };
  const s = new TokenStore(broken);
  s.set('s3cret');
  assert.equal(s.get(), 's3cret');
  const full = fakeStorage();
  full.setItem = () => {
    throw new Error('QuotaExceededError');
  };
  const t = new TokenStore(full);
  t.set('s3cret');
  assert.equal(t.get(), 's3cret');
});

test('listeners hear every change, with an empty string on forget', () => {
  const s = new TokenStore(null);
  const heard = [];
  s.onChange((t) => heard.push(t));
  s.set('one');
  s.set('two');
  s.forget();
  assert.deepEqual(heard, ['one', 'two', '']);
});

test('an empty token, a whole token file line or a non-ASCII token is refused with a reason', () => {
  assert.match(tokenProblem(''), /Enter the token/);
  assert.match(tokenProblem('abc read'), /one word.*first word/);
  assert.match(tokenProblem('abc\tadmin'), /one word/);
  assert.match(tokenProblem('pässword'), /printable ASCII/);
  assert.match(tokenProblem('abc\u0000'), /printable ASCII/);
});

test('a token of printable ASCII is accepted as it is', () => {
  assert.equal(tokenProblem('s3cret'), '');
  assert.equal(tokenProblem('a-b_c.d~e+f/g=h!#$%&*?@^`|:;<>[]{}()\'"'), '');
});

test('a token becomes a Bearer Authorization header, and no token adds none', () => {
  assert.deepEqual(authHeaders('s3cret', { Accept: 'application/json' }), {
    Accept: 'application/json',
    Authorization: 'Bearer s3cret',
  });
  assert.deepEqual(authHeaders('', { Accept: 'application/json' }), { Accept: 'application/json' });
  const base = { Accept: 'x' };
  authHeaders('t', base);
  assert.deepEqual(base, { Accept: 'x' }, 'the given headers are not changed');
});
