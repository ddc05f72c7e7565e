// The query bar: the FlameQL query as text, its tag matchers as removable
// chips, and two dropdowns (tag, then value) fed by /labels and
// /label-values that add a matcher.

import { api } from './api.js';
import { parseSelector, buildSelector, withLabel, withoutMatcher, appOf } from './query.js';
import { escapeHTML } from './tooltip.js';

const CACHE_MS = 30000;
const cache = new Map();

// Label lookups change slowly; a short cache keeps the dropdowns instant
// when a person switches views or tags back and forth.
function cached(key, load) {
  const hit = cache.get(key);
  if (hit && performance.now() - hit.at < CACHE_MS) return hit.promise;
  const promise = load().catch((e) => {
    cache.delete(key);
    throw e;
  });
  cache.set(key, { at: performance.now(), promise });
  return promise;
}

let uid = 0;

export class TagBar {
  // opts: { label: 'Query' | 'Left query' ..., onQuery(q) }
  constructor(host, opts = {}) {
    this.host = host;
    this.opts = opts;
    this.query = '';
    const id = `tags${++uid}`;
    const label = opts.label || 'Query';
    host.classList.add('tagbar');
    host.innerHTML = `
      <form>
        <label class="visually-hidden" for="${id}-q">${escapeHTML(label)} (FlameQL)</label>
        <input class="query" id="${id}-q" autocomplete="off" spellcheck="false" aria-label="${escapeHTML(label)} (FlameQL)" placeholder='app.cpu{region="eu-north"}'>
        <button type="submit">Apply</button>
      </form>
      <div class="chips"></div>
      <select class="tag-key" aria-label="${escapeHTML(label)}: add a tag filter"><option value="">+ Tag…</option></select>
      <select class="tag-value" aria-label="${escapeHTML(label)}: tag value" hidden></select>
      <p class="error query-error" role="alert" hidden></p>`;
    this.input = host.querySelector('input.query');
    this.chips = host.querySelector('.chips');
    this.keySel = host.querySelector('.tag-key');
    this.valueSel = host.querySelector('.tag-value');
    this.errorEl = host.querySelector('.query-error');
    host.querySelector('form').addEventListener('submit', (e) => {
      e.preventDefault();
      const q = this.input.value.trim();
      if (q) this.emit(/[{]/.test(q) ? q : `${q}{}`);
    });
    this.chips.addEventListener('click', (e) => {
      const b = e.target.closest('button[data-i]');
      if (b) this.emit(withoutMatcher(this.query, Number(b.dataset.i)));
    });
    this.keySel.addEventListener('focus', () => this.loadKeys());
    this.keySel.addEventListener('pointerdown', () => this.loadKeys());
    this.keySel.addEventListener('change', () => this.loadValues(this.keySel.value));
    this.valueSel.addEventListener('change', () => {
      const key = this.keySel.value;
      const v = this.valueSel.value;
      if (key && this.valueSel.selectedIndex > 0) this.emit(withLabel(this.query, key, v));
    });
  }

  emit(q) {
    if (this.opts.onQuery) this.opts.onQuery(q);
  }

  setQuery(q) {
    if (q === this.query) return;
    this.query = q;
    this.input.value = q;
    this.keysFor = null;
    this.renderChips();
    this.valueSel.hidden = true;
    this.keySel.value = '';
    this.loadKeys();
  }

  // The server's message about this query (a 400), or '' to clear it.
  setError(msg) {
    this.errorEl.textContent = msg;
    this.errorEl.hidden = !msg;
    this.input.setAttribute('aria-invalid', msg ? 'true' : 'false');
  }

  parsed() {
    try {
      return parseSelector(this.query);
    } catch {
      return null;
    }
  }

  renderChips() {
    const p = this.parsed();
    if (!p) {
      this.chips.innerHTML = '';
      return;
    }
    this.chips.innerHTML = p.matchers
      .map(
        (m, i) =>
          `<span class="chip">${escapeHTML(`${m.key}${m.op}"${m.value}"`)}<button type="button" data-i="${i}" aria-label="Remove ${escapeHTML(m.key)} filter" title="Remove">×</button></span>`,
      )
      .join('');
  }

  async loadKeys() {
    const app = appOf(this.query);
    if (!app || this.keysFor === app) return;
    this.keysFor = app;
    try {
      const keys = await cached(`labels ${app}`, () => api.labels(`${app}{}`));
      if (this.keysFor !== app) return;
      const chosen = this.keySel.value;
      this.keySel.innerHTML =
        '<option value="">+ Tag…</option>' +
        keys
          .filter((k) => k !== '__name__')
          .map((k) => `<option value="${escapeHTML(k)}">${escapeHTML(k)}</option>`)
          .join('');
      this.keySel.value = chosen;
      this.keySel.disabled = keys.length <= 1;
      this.keySel.title = keys.length <= 1 ? 'This app has no tags' : '';
    } catch {
      this.keysFor = null; // try again on the next focus
    }
  }

  // Values of key among the series the rest of the query selects, so the
  // dropdown offers only combinations that exist.
  async loadValues(key) {
    if (!key) {
      this.valueSel.hidden = true;
      return;
    }
    const p = this.parsed();
    const app = appOf(this.query);
    const scope = p ? buildSelector(p.app, p.matchers.filter((m) => m.key !== key)) : `${app}{}`;
    let values = [];
    try {
      values = await cached(`values ${key} ${scope}`, () => api.labelValues(key, scope));
    } catch (e) {
      this.setError(e.message);
      return;
    }
    if (this.keySel.value !== key) return;
    const current = p && p.matchers.find((m) => m.key === key && m.op === '=');
    this.valueSel.innerHTML =
      `<option value="">${escapeHTML(key)} =</option>` +
      values.map((v) => `<option value="${escapeHTML(v)}">${escapeHTML(v === '' ? '(empty)' : v)}</option>`).join('');
    if (current) this.valueSel.value = current.value;
    this.valueSel.hidden = false;
    this.valueSel.focus();
  }
}
