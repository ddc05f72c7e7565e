// The access token of this tab, for a server started with
// --auth-token-file. Pure: no DOM; the storage is passed in (the page uses
// sessionStorage, the tests a stand-in).
//
// The token lives in sessionStorage so that a reload in the same tab keeps
// working, while a new tab, a closed browser or another person at the same
// profile starts without it. It never goes into localStorage, the URL or a
// cookie: a link must not carry a credential, and the server reads tokens
// only from the Authorization header.

export const TOKEN_KEY = 'ember.token';

// sessionStorage when the page may use it; null where it is disabled (a
// sandboxed frame, some privacy settings) or absent (node).
function sessionStore() {
  try {
    return globalThis.sessionStorage || null;
  } catch {
    return null;
  }
}

export class TokenStore {
  // storage: an object with getItem/setItem/removeItem, or null to keep the
  // token in memory only (it is then gone on reload, which is the safe way
  // to fail).
  constructor(storage = sessionStore()) {
    this.storage = storage;
    this.memory = '';
    this.listeners = [];
    try {
      this.memory = (storage && storage.getItem(TOKEN_KEY)) || '';
    } catch {
      this.storage = null;
    }
  }

  // The token, or '' when none is set.
  get() {
    return this.memory;
  }

  set(token) {
    this.memory = token || '';
    try {
      if (!this.storage) return;
      if (this.memory) this.storage.setItem(TOKEN_KEY, this.memory);
      else this.storage.removeItem(TOKEN_KEY);
    } catch {
      /* a full or disabled storage: the token stays for this page only */
    } finally {
      for (const fn of this.listeners) fn(this.memory);
    }
  }

  forget() {
    this.set('');
  }

  // fn(token) runs after every change ('' when forgotten).
  onChange(fn) {
    this.listeners.push(fn);
  }
}

// What is wrong with text typed as a token, or '' when it can be sent. The
// server reads a token file line as 'TOKEN [role]', so a token is one word;
// and a header value must be printable ASCII to reach it unchanged.
export function tokenProblem(text) {
  const t = String(text);
  if (t === '') return 'Enter the token.';
  if (/\s/.test(t)) {
    return 'A token is one word. A line of the token file reads “TOKEN role”: paste only the first word.';
  }
  if (/[^\x21-\x7e]/.test(t)) {
    return 'A token is printable ASCII only (letters, digits and punctuation); this one holds other characters.';
  }
  return '';
}

// The headers of a request made with token ('' for none).
export function authHeaders(token, headers = {}) {
  return token ? { ...headers, Authorization: `Bearer ${token}` } : { ...headers };
}
