// The HTTP API client: every request the UI makes goes through here. Every
// URL is relative to the page, so the UI works behind a reverse proxy that
// mounts Ember under a path prefix.
//
// A server started with --auth-token-file answers 401 without a token. The
// first call that meets one asks the person for a token through the prompt
// the page registers (one dialog however many calls are waiting), and every
// waiting call is sent again with it. A 403 (a valid token whose role is too
// weak) is an ordinary error: asking again would not change the answer.

import { TokenStore, authHeaders } from './auth.js';

export class ApiError extends Error {
  // kind: 'network' (no answer), 'http' (an error status; message is the
  // server's), 'auth' (the server needs a token and none was given), or
  // 'format' (an answer that is not what docs/API.md says).
  constructor(message, kind, status = 0) {
    super(message);
    this.kind = kind;
    this.status = status;
  }
}

// This tab's token (docs/API.md, "Auth").
export const token = new TokenStore();

let prompt = null; // ({ error, verify }) => Promise<token | null>
let asking = null; // the prompt on screen, shared by every call that met a 401
let declined = false; // the person closed the dialog: stop asking until told

export function apiUrl(path, params = {}) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) {
    if (v !== undefined && v !== null && v !== '') q.set(k, String(v));
  }
  const s = q.toString();
  return s ? `${path}?${s}` : path;
}

// The base URL of the server as a person would type it into curl.
export function serverBase() {
  return new URL('.', document.baseURI).href;
}

// Registers how to ask for a token. fn({ error, verify }) shows error (the
// server's message about a token that was refused, or '') and resolves with
// a token that verify(token) accepted, or null when the person declines.
// verify resolves with null for a usable token, else with the ApiError the
// server gave.
export function setTokenPrompt(fn) {
  prompt = fn;
  asking = null;
  declined = false;
}

// After the person declined the dialog: the next 401 asks again.
export function askForToken() {
  declined = false;
}

// Drops this tab's token; the next call that needs one asks for it.
export function forgetToken() {
  token.forget();
  declined = false;
}

async function send(url, tok, signal, accept = 'application/json') {
  try {
    return await fetch(url, { signal, headers: authHeaders(tok, { Accept: accept }) });
  } catch (e) {
    if (e.name === 'AbortError') throw e;
    throw new ApiError(`cannot reach the Ember server at ${serverBase()}`, 'network');
  }
}

function httpError(resp, text) {
  let message = '';
  try {
    message = JSON.parse(text).error || '';
  } catch {
    message = text.trim().slice(0, 300);
  }
  return new ApiError(message || `the server answered ${resp.status} ${resp.statusText}`, 'http', resp.status);
}

// Whether tok opens the read API: null when it does, else the server's
// ApiError (401 refused, 403 role too weak) or a network ApiError. Every
// view of the UI needs the read role, so /api/apps, the smallest read, is
// the test.
export async function checkToken(tok) {
  const resp = await send('api/apps', tok);
  const text = await resp.text();
  return resp.ok ? null : httpError(resp, text);
}

// A token from the person, shared by every call waiting for one; null when
// there is no prompt or the person declined.
function obtainToken(refused) {
  if (!prompt || declined) return Promise.resolve(null);
  if (!asking) {
    // A token the server refuses must not come back on the next reload.
    if (refused) token.forget();
    const shown = Promise.resolve()
      .then(() => prompt({ error: refused ? refused.message : '', verify: checkToken }))
      .catch(() => null)
      .then((t) => {
        if (asking === shown) asking = null;
        if (t) token.set(t);
        else declined = true;
        return t || null;
      });
    asking = shown;
  }
  return asking;
}

// The body of a GET as text, or as a Blob when binary is set.
async function request(path, params, signal, binary = false) {
  const url = apiUrl(path, params);
  for (;;) {
    const used = token.get();
    const resp = await send(url, used, signal, binary ? '*/*' : 'application/json');
    if (resp.ok && binary) return resp.blob();
    const text = await resp.text();
    if (resp.ok) return text;
    const err = httpError(resp, text);
    if (resp.status !== 401) throw err;
    // Another call got a token while this one was out: use it.
    if (token.get() !== used) continue;
    if (!(await obtainToken(used ? err : null))) throw new ApiError(err.message, 'auth', 401);
  }
}

// Parsed JSON of a GET, or an ApiError. onText(text) sees the raw body
// first (the benchmark times from the body's arrival).
export async function getJSON(path, params = {}, { signal, onText } = {}) {
  const text = await request(path, params, signal);
  if (onText) onText(text);
  try {
    return JSON.parse(text);
  } catch {
    throw new ApiError(`the server's answer to ${path} is not JSON`, 'format');
  }
}

// A file the server renders (SVG, HTML, pprof) as a Blob, or an ApiError.
export function getBlob(path, params = {}, { signal } = {}) {
  return request(path, params, signal, true);
}

export const api = {
  explore: (params, opts) => getJSON('api/explore', params, opts),
  apps: (opts) => getJSON('api/apps', {}, opts),
  labels: (query, opts) => getJSON('labels', { query }, opts),
  labelValues: (label, query, opts) => getJSON('label-values', { label, query }, opts),
  render: (params, opts) => getJSON('render', { format: 'json', ...params }, opts),
  renderDiff: (params, opts) => getJSON('render-diff', { format: 'json', ...params }, opts),
};
