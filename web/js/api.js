// The HTTP API client. Every URL is relative to the page, so the UI works
// behind a reverse proxy that mounts Ember under a path prefix.

export class ApiError extends Error {
  // kind: 'network' (no answer), 'http' (an error status; message is the
  // server's), or 'format' (an answer that is not what docs/API.md says).
  constructor(message, kind, status = 0) {
    super(message);
    this.kind = kind;
    this.status = status;
  }
}

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

async function request(path, params, signal) {
  const url = apiUrl(path, params);
  let resp;
  try {
    resp = await fetch(url, { signal, headers: { Accept: 'application/json' } });
  } catch (e) {
    if (e.name === 'AbortError') throw e;
    throw new ApiError(`cannot reach the Ember server at ${serverBase()}`, 'network');
  }
  const text = await resp.text();
  if (!resp.ok) {
    let message = '';
    try {
      message = JSON.parse(text).error || '';
    } catch {
      message = text.trim().slice(0, 300);
    }
    throw new ApiError(message || `the server answered ${resp.status} ${resp.statusText}`, 'http', resp.status);
  }
  return text;
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

export const api = {
  apps: (opts) => getJSON('api/apps', {}, opts),
  labels: (query, opts) => getJSON('labels', { query }, opts),
  labelValues: (label, query, opts) => getJSON('label-values', { label, query }, opts),
  render: (params, opts) => getJSON('render', { format: 'json', ...params }, opts),
  renderDiff: (params, opts) => getJSON('render-diff', { format: 'json', ...params }, opts),
};
