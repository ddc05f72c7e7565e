// The API client against a stand-in server that needs a token: when it asks
// for one, how often, what it sends, and what a refused or weak token gives.
import { test, beforeEach, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { api, token, setTokenPrompt, askForToken, forgetToken, checkToken, ApiError } from '../../../web/js/api.js';

const NEEDS = "this server needs a token: send 'Authorization: Bearer TOKEN' (or TOKEN as the Basic password)";
const INVALID = 'the token is not valid; check the token this client sends';
const WEAK = "this token's role does not allow that; it needs a token with role read or admin";

// A server with tokens good (read) and weak (ingest). sent lists every
// request as { path, auth }. hold(n) returns a promise that delays the
// answer to the n-th request (0-based), for ordering races.
function fakeServer({ auth = true, hold = () => null } = {}) {
  const sent = [];
  const roles = { good: 'read', weak: 'ingest' };
  const fetch = async (url, init) => {
    const n = sent.length;
    const h = init.headers.Authorization || '';
    sent.push({ path: url.split('?')[0], auth: h });
    const wait = hold(n);
    if (wait) await wait;
    const json = (status, body) => new Response(JSON.stringify(body), { status, headers: { 'Content-Type': 'application/json' } });
    if (auth) {
      const tok = h.startsWith('Bearer ') ? h.slice(7) : '';
      if (!roles[tok]) return json(401, { error: h ? INVALID : NEEDS });
      if (roles[tok] !== 'read') return json(403, { error: WEAK });
    }
    return json(200, url.startsWith('api/apps') ? [{ name: 'a.cpu' }] : ['__name__']);
  };
  return { sent, fetch };
}

// A prompt that answers with the tokens given, in turn, through verify as
// the dialog does: a token verify refuses is not returned.
function scriptedPrompt(answers) {
  const calls = [];
  const fn = async ({ error, verify }) => {
    calls.push({ error, checks: [] });
    for (const t of answers.shift() || []) {
      if (t === null) return null;
      const err = await verify(t);
      calls.at(-1).checks.push(err ? err.message : 'ok');
      if (!err) return t;
    }
    return null;
  };
  return { fn, calls };
}

let realFetch;
beforeEach(() => {
  realFetch = globalThis.fetch;
  forgetToken();
  setTokenPrompt(null);
});
afterEach(() => {
  globalThis.fetch = realFetch;
});

test('a server without auth is asked without an Authorization header', async () => {
  const s = fakeServer({ auth: false });
  globalThis.fetch = s.fetch;
  assert.deepEqual(await api.apps(), [{ name: 'a.cpu' }]);
  assert.deepEqual(s.sent, [{ path: 'api/apps', auth: '' }]);
});

test('a 401 asks for a token once however many calls wait, and each is sent again with it', async () => {
  const s = fakeServer();
  globalThis.fetch = s.fetch;
  const p = scriptedPrompt([['good']]);
  setTokenPrompt(p.fn);
  const out = await Promise.all([api.apps(), api.labels('a.cpu{}'), api.labelValues('k', 'a.cpu{}')]);
  assert.deepEqual(out, [[{ name: 'a.cpu' }], ['__name__'], ['__name__']]);
  assert.equal(p.calls.length, 1, 'one prompt');
  assert.equal(p.calls[0].error, '', 'no token was refused yet');
  assert.equal(token.get(), 'good');
  const retried = s.sent.filter((r) => r.auth === 'Bearer good').map((r) => r.path).sort();
  assert.deepEqual(retried, ['api/apps', 'api/apps', 'label-values', 'labels'], 'the check, then every call again');
});

test('a wrong token is refused with the server message and the prompt asks again', async () => {
  const s = fakeServer();
  globalThis.fetch = s.fetch;
  const p = scriptedPrompt([['nope', 'weak', 'good']]);
  setTokenPrompt(p.fn);
  await api.render({ query: 'a.cpu{}' });
  assert.deepEqual(p.calls[0].checks, [INVALID, WEAK, 'ok']);
  assert.equal(token.get(), 'good');
});

test('the token check asks the read API with the token and gives the server error', async () => {
  const s = fakeServer();
  globalThis.fetch = s.fetch;
  assert.equal(await checkToken('good'), null);
  const bad = await checkToken('nope');
  assert.ok(bad instanceof ApiError);
  assert.equal(bad.status, 401);
  assert.equal(bad.message, INVALID);
  assert.equal((await checkToken('weak')).status, 403);
  assert.deepEqual(s.sent.map((r) => r.auth), ['Bearer good', 'Bearer nope', 'Bearer weak']);
  assert.ok(s.sent.every((r) => r.path === 'api/apps'));
});

test('a stored token the server refuses is forgotten, and the prompt says why', async () => {
  const s = fakeServer();
  globalThis.fetch = s.fetch;
  token.set('stale');
  let during;
  setTokenPrompt(async (o) => {
    during = token.get();
    return scriptedPrompt([['good']]).fn(o).then((t) => {
      assert.equal(o.error, INVALID);
      return t;
    });
  });
  await api.apps();
  assert.equal(during, '', 'the refused token is gone while the dialog is up');
  assert.equal(token.get(), 'good');
  assert.equal(s.sent[0].auth, 'Bearer stale');
});

test('a 403 fails with the server message and asks for nothing', async () => {
  const s = fakeServer();
  globalThis.fetch = s.fetch;
  token.set('weak');
  const p = scriptedPrompt([['good']]);
  setTokenPrompt(p.fn);
  await assert.rejects(api.render({ query: 'a.cpu{}' }), (e) => e.kind === 'http' && e.status === 403 && e.message === WEAK);
  assert.equal(p.calls.length, 0);
  assert.equal(s.sent.length, 1, 'sent once, not again');
  assert.equal(token.get(), 'weak', 'a valid token is kept');
});

test('declining fails every waiting call as auth, and later calls do not ask until asked to', async () => {
  const s = fakeServer();
  globalThis.fetch = s.fetch;
  const p = scriptedPrompt([[null], ['good']]);
  setTokenPrompt(p.fn);
  const results = await Promise.allSettled([api.apps(), api.labels('a.cpu{}')]);
  for (const r of results) {
    assert.equal(r.status, 'rejected');
    assert.equal(r.reason.kind, 'auth');
    assert.equal(r.reason.status, 401);
    assert.equal(r.reason.message, NEEDS);
  }
  await assert.rejects(api.apps(), (e) => e.kind === 'auth');
  assert.equal(p.calls.length, 1, 'no second dialog on its own');
  askForToken();
  assert.deepEqual(await api.apps(), [{ name: 'a.cpu' }]);
  assert.equal(p.calls.length, 2);
});

test('without a prompt a 401 is an auth error', async () => {
  globalThis.fetch = fakeServer().fetch;
  await assert.rejects(api.apps(), (e) => e.kind === 'auth' && e.message === NEEDS);
});

test('a call whose 401 arrives after the token is given is sent again without asking', async () => {
  // Request 0 (labels) goes out without a token, and its 401 is held until
  // request 1 (apps) has met its own 401 and the prompt has given a token.
  let release;
  const held = new Promise((r) => (release = r));
  const s = fakeServer({ hold: (n) => (n === 0 ? held : null) });
  globalThis.fetch = s.fetch;
  let prompts = 0;
  setTokenPrompt(async ({ verify }) => {
    prompts++;
    assert.equal(await verify('good'), null);
    return 'good';
  });
  const labels = api.labels('a.cpu{}');
  assert.deepEqual(await api.apps(), [{ name: 'a.cpu' }]);
  release();
  assert.deepEqual(await labels, ['__name__']);
  assert.equal(prompts, 1);
  assert.deepEqual(
    s.sent.filter((r) => r.path === 'labels').map((r) => r.auth),
    ['', 'Bearer good'],
  );
});

test('forgetting the token sends the next call without one', async () => {
  const s = fakeServer({ auth: false });
  globalThis.fetch = s.fetch;
  token.set('good');
  await api.apps();
  forgetToken();
  await api.apps();
  assert.deepEqual(s.sent.map((r) => r.auth), ['Bearer good', '']);
});

test('only api.js talks to the server, so every call carries the token', async () => {
  const { readdir, readFile } = await import('node:fs/promises');
  const dir = new URL('../../../web/js/', import.meta.url);
  const offenders = [];
  for (const f of await readdir(dir)) {
    if (!f.endsWith('.js') || f === 'api.js') continue;
    const src = await readFile(new URL(f, dir), 'utf8');
    for (const m of src.matchAll(/\b(fetch\s*\(|XMLHttpRequest|EventSource|sendBeacon|WebSocket)/g)) offenders.push(`${f}: ${m[0]}`);
  }
  assert.deepEqual(offenders, []);
});
