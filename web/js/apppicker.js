// The app picker: the apps the server knows, grouped by app with their
// profile types (a Go app's cpu, alloc_space, inuse_space, goroutines ...
// read as one app with a type switch), with a search box. Typing filters,
// arrow keys move, Enter picks.

import { escapeHTML } from './tooltip.js';

// Profile types in the order a person looks for them; an app name ending
// in "." and one of these is that type of its app.
export const TYPES = [
  'cpu', 'wall', 'itimer', 'alloc_objects', 'alloc_space', 'inuse_objects', 'inuse_space',
  'goroutines', 'mutex_count', 'mutex_duration', 'block_count', 'block_duration',
  'lock_count', 'lock_duration', 'exceptions',
];

// "go-app.alloc_space" -> { base: "go-app", type: "alloc_space" }; a name
// without a known type is its own app with type ''.
export function splitApp(name) {
  const i = name.lastIndexOf('.');
  if (i > 0 && TYPES.includes(name.slice(i + 1))) return { base: name.slice(0, i), type: name.slice(i + 1) };
  return { base: name, type: '' };
}

function typeOrder(a, b) {
  const ia = TYPES.indexOf(a.type);
  const ib = TYPES.indexOf(b.type);
  if (ia !== ib) return (ia < 0 ? TYPES.length : ia) - (ib < 0 ? TYPES.length : ib);
  return a.type < b.type ? -1 : a.type > b.type ? 1 : 0;
}

// Apps ([{ name, ... }]) as [{ base, types: [{ type, name }] }], sorted by
// base; filter keeps the groups whose base or one of whose names contains
// it (case-insensitive).
export function groupApps(apps, filter = '') {
  const f = filter.trim().toLowerCase();
  const groups = new Map();
  for (const a of apps) {
    const { base, type } = splitApp(a.name);
    if (!groups.has(base)) groups.set(base, { base, types: [] });
    groups.get(base).types.push({ type, name: a.name });
  }
  const out = [...groups.values()].filter((g) => !f || g.base.toLowerCase().includes(f) || g.types.some((t) => t.name.toLowerCase().includes(f)));
  for (const g of out) g.types.sort(typeOrder);
  return out.sort((a, b) => (a.base < b.base ? -1 : a.base > b.base ? 1 : 0));
}

export class AppPicker {
  // el: the .app-picker element of the page. onPick(name, sameApp): the
  // chosen app name; sameApp when only the type changed.
  constructor(el, onPick) {
    this.el = el;
    this.onPick = onPick;
    this.apps = [];
    this.current = '';
    this.details = el.querySelector('details');
    this.summary = el.querySelector('summary');
    this.search = el.querySelector('input[type="search"]');
    this.list = el.querySelector('.app-list');
    this.typeSel = el.querySelector('select.app-type');
    this.details.addEventListener('toggle', () => {
      if (!this.details.open) return;
      this.search.value = '';
      this.renderList();
      this.search.focus();
    });
    this.search.addEventListener('input', () => this.renderList());
    this.search.addEventListener('keydown', (e) => {
      if (e.key === 'ArrowDown') {
        e.preventDefault();
        this.move(0, true);
      } else if (e.key === 'Enter') {
        e.preventDefault();
        const first = this.list.querySelector('button[data-app]');
        if (first) this.pick(first.dataset.app);
      }
    });
    this.list.addEventListener('click', (e) => {
      const b = e.target.closest('button[data-app]');
      if (b) this.pick(b.dataset.app);
    });
    this.list.addEventListener('keydown', (e) => {
      const b = e.target.closest('button[data-app]');
      if (!b) return;
      const all = [...this.list.querySelectorAll('button[data-app]')];
      const k = all.indexOf(b);
      if (e.key === 'ArrowDown' || e.key === 'ArrowRight') this.move(k + 1);
      else if (e.key === 'ArrowUp' || e.key === 'ArrowLeft') {
        if (k === 0) this.search.focus();
        else this.move(k - 1);
      } else return;
      e.preventDefault();
    });
    this.typeSel.addEventListener('change', () => {
      if (this.typeSel.value) this.onPick(this.typeSel.value, true);
    });
  }

  move(k) {
    const all = this.list.querySelectorAll('button[data-app]');
    if (all.length) all[Math.max(0, Math.min(k, all.length - 1))].focus();
  }

  pick(name) {
    this.details.open = false;
    const same = splitApp(name).base === splitApp(this.current).base;
    this.onPick(name, same);
  }

  // apps: [{ name }] from /api/apps; current: the app of the query.
  set(apps, current) {
    this.apps = apps || [];
    this.current = current;
    const names = this.apps.map((a) => a.name);
    const list = current && !names.includes(current) ? [{ name: current }, ...this.apps] : this.apps;
    const { base, type } = splitApp(current || '');
    this.summary.textContent = current ? base : 'no apps yet';
    this.summary.title = current ? `App: ${current} (click to pick another)` : '';
    this.details.classList.toggle('empty', !current);
    const group = groupApps(list).find((g) => g.base === base);
    const types = group ? group.types : [];
    const html = types.map((t) => `<option value="${escapeHTML(t.name)}">${escapeHTML(t.type || 'profile')}</option>`).join('');
    if (this.typeSel.dataset.html !== html) {
      this.typeSel.innerHTML = html;
      this.typeSel.dataset.html = html;
    }
    this.typeSel.value = current;
    this.typeSel.disabled = types.length <= 1;
    this.typeSel.hidden = !type && types.length <= 1;
    if (this.details.open) this.renderList();
  }

  renderList() {
    const groups = groupApps(this.apps, this.search.value);
    if (!groups.length) {
      this.list.innerHTML = `<li class="hint">${this.apps.length ? 'No app matches.' : 'No apps yet.'}</li>`;
      return;
    }
    this.list.innerHTML = groups
      .map((g) => {
        const types = g.types
          .map(
            (t) =>
              `<button type="button" data-app="${escapeHTML(t.name)}" aria-current="${t.name === this.current ? 'true' : 'false'}" title="${escapeHTML(t.name)}">${escapeHTML(t.type || g.base)}</button>`,
          )
          .join('');
        return `<li class="app-group"><span class="app-name">${escapeHTML(g.base)}</span><span class="app-types">${types}</span></li>`;
      })
      .join('');
  }
}
