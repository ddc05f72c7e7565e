// The function table: self and total per function in the profile's units,
// sortable, filtered by the search. In a diff: each function's share of
// its side, left → right, and the change in percentage points, sorted by
// the size of that change so the regression leads.
//
// The name column can be resized (drag the edge of its header, or focus
// it and use the arrow keys; a double click gives the width back to the
// page); names are shortened by the rule of label.js to the column's width,
// the full name shows on hover. One row at a time is in the Tab order;
// arrow keys move between rows, Enter picks a function, the context menu
// key (or a right click) opens its menu.

import { formatCompact, formatPercent, formatValue, formatShortValue, formatChange, formatPoints } from './format.js';
import { elideLabel } from './label.js';
import { escapeHTML } from './tooltip.js';

const PAGE = 250;
const WIDTH_KEY = 'ember.nameWidth';
const MIN_NAME = 90;
const NAME_PAD = 16 + 15; // cell padding and the swatch

const SINGLE_COLUMNS = [
  { key: 'name', label: 'Function' },
  { key: 'self', label: 'Self', title: 'Time or amount spent in the function itself, and its share of the total' },
  { key: 'total', label: 'Total', title: 'Spent in the function and everything it called, and its share of the total' },
];

const DIFF_COLUMNS = [
  { key: 'name', label: 'Function' },
  { key: 'self', label: 'Self, L → R', width: 124, title: 'Self as a share of each side’s total, left → right' },
  { key: 'dself', label: 'Δ self', width: 88, title: 'Change of the self share, right minus left, in percentage points of the total (sorted by its size)' },
  { key: 'total', label: 'Total, L → R', width: 124, title: 'Total as a share of each side’s total, left → right' },
  { key: 'dtotal', label: 'Δ total', width: 88, title: 'Change of the total share, in percentage points (sorted by its size)' },
  { key: 'diff', label: 'Relative', width: 84, title: 'Relative change of the total share: +100% is twice the share' },
];
const NUM_WIDTH = 128; // a single profile's value columns

function storedWidth() {
  try {
    const w = Number(localStorage.getItem(WIDTH_KEY));
    return w >= MIN_NAME ? w : 0;
  } catch {
    return 0;
  }
}

let charWidth = 0;
// The width of one character of the table's monospace font.
function measureChar(el) {
  if (charWidth) return charWidth;
  const c = document.createElement('canvas').getContext('2d');
  const cs = getComputedStyle(el);
  c.font = `${cs.fontSize} ${cs.fontFamily}`;
  charWidth = c.measureText('0000000000').width / 10 || 7.5;
  return charWidth;
}

export class FunctionTable {
  // opts: { label, onSort(sortString), onSelect(name), onMenu(name,
  // clientX, clientY) }
  constructor(host, opts = {}) {
    this.host = host;
    this.opts = opts;
    this.nameWidth = storedWidth();
    host.classList.add('table-wrap');
    host.innerHTML =
      `<table class="functions" aria-label="${escapeHTML(opts.label || 'Functions')}">` +
      '<colgroup></colgroup><thead></thead><tbody></tbody></table><div class="table-note" hidden></div><div class="table-more" hidden><button type="button"></button></div>';
    this.table = host.querySelector('table');
    this.colgroup = host.querySelector('colgroup');
    this.thead = host.querySelector('thead');
    this.tbody = host.querySelector('tbody');
    this.note = host.querySelector('.table-note');
    this.more = host.querySelector('.table-more');
    this.limit = PAGE;
    this.active = 0;
    this.thead.addEventListener('click', (e) => {
      const b = e.target.closest('button[data-key]');
      if (b) this.sortBy(b.dataset.key);
    });
    this.thead.addEventListener('pointerdown', (e) => this.startResize(e));
    this.thead.addEventListener('dblclick', (e) => {
      if (e.target.closest('.col-resize')) this.setNameWidth(0, true);
    });
    this.thead.addEventListener('keydown', (e) => {
      if (!e.target.closest('.col-resize')) return;
      const step = e.shiftKey ? 64 : 16;
      const w = this.nameCol().getBoundingClientRect().width;
      if (e.key === 'ArrowRight') this.setNameWidth(w + step, true);
      else if (e.key === 'ArrowLeft') this.setNameWidth(w - step, true);
      else return;
      e.preventDefault();
    });
    this.tbody.addEventListener('click', (e) => this.pick(e.target.closest('tr')));
    this.tbody.addEventListener('contextmenu', (e) => {
      const tr = e.target.closest('tr[data-i]');
      if (!tr || !this.opts.onMenu) return;
      e.preventDefault();
      this.setActive(Number(tr.dataset.i), false);
      this.opts.onMenu(this.rows[Number(tr.dataset.i)].name, e.clientX, e.clientY);
    });
    this.tbody.addEventListener('keydown', (e) => this.onKey(e));
    this.more.querySelector('button').addEventListener('click', () => {
      this.limit += PAGE * 4;
      this.renderBody();
    });
    this.resize = new ResizeObserver(() => this.fitNames());
    this.resize.observe(host);
  }

  destroy() {
    this.resize.disconnect();
  }

  // rows: sorted and filtered (aggregate.js); view: { double, meta, ticks,
  // left, right, sort: { key, desc }, selected, colorOf(row), note }.
  setRows(rows, view) {
    if (rows !== this.rows) {
      this.limit = PAGE;
      this.active = Math.max(0, rows.findIndex((r) => r.name === view.selected));
    }
    this.rows = rows;
    this.view = view;
    this.columns = view.double ? DIFF_COLUMNS : SINGLE_COLUMNS;
    this.renderHead();
    this.renderBody();
    this.note.textContent = view.note || '';
    this.note.hidden = !view.note;
  }

  sortBy(key) {
    const cur = this.view.sort;
    let desc = key !== 'name';
    if (cur.key === key) desc = !cur.desc;
    if (this.opts.onSort) this.opts.onSort(`${desc ? '-' : ''}${key}`);
  }

  pick(tr) {
    if (!tr || !tr.dataset.i || !this.opts.onSelect) return;
    const k = Number(tr.dataset.i);
    this.setActive(k, false);
    const name = this.rows[k].name;
    this.opts.onSelect(name === this.view.selected ? '' : name);
  }

  // ---- Keyboard: one row in the Tab order --------------------------------

  setActive(k, focus) {
    const n = Math.min(this.rows.length, this.limit);
    if (!n) return;
    k = Math.max(0, Math.min(k, n - 1));
    const old = this.tbody.querySelector('tr[tabindex="0"]');
    if (old) old.tabIndex = -1;
    this.active = k;
    const tr = this.tbody.querySelector(`tr[data-i="${k}"]`);
    if (!tr) return;
    tr.tabIndex = 0;
    if (focus) tr.focus();
  }

  onKey(e) {
    const tr = e.target.closest('tr[data-i]');
    if (!tr) return;
    const k = Number(tr.dataset.i);
    const moves = { ArrowDown: k + 1, ArrowUp: k - 1, Home: 0, End: Infinity, PageDown: k + 15, PageUp: k - 15 };
    if (e.key in moves) {
      e.preventDefault();
      this.setActive(moves[e.key], true);
    } else if (e.key === 'Enter' || e.key === ' ') {
      e.preventDefault();
      this.pick(tr);
    } else if ((e.key === 'ContextMenu' || (e.key === 'F10' && e.shiftKey)) && this.opts.onMenu) {
      e.preventDefault();
      const b = tr.getBoundingClientRect();
      this.opts.onMenu(this.rows[k].name, b.left + 24, b.bottom);
    }
  }

  // ---- The name column -----------------------------------------------------

  nameCol() {
    return this.colgroup.firstElementChild;
  }

  // w: pixels, or 0 for the width the page gives it.
  setNameWidth(w, save) {
    this.nameWidth = w > 0 ? Math.max(MIN_NAME, Math.round(w)) : 0;
    this.applyWidths();
    this.fitNames();
    if (!save) return;
    try {
      if (this.nameWidth) localStorage.setItem(WIDTH_KEY, String(this.nameWidth));
      else localStorage.removeItem(WIDTH_KEY);
    } catch {
      /* the width then lasts as long as the page */
    }
  }

  applyWidths() {
    const col = this.nameCol();
    if (!col) return;
    const others = this.columns.slice(1).reduce((sum, c) => sum + (c.width || NUM_WIDTH), 0);
    if (this.nameWidth) {
      col.style.width = `${this.nameWidth}px`;
      this.table.style.width = `${this.nameWidth + others}px`;
    } else {
      col.style.width = '';
      this.table.style.width = '';
    }
  }

  startResize(e) {
    const handle = e.target.closest('.col-resize');
    if (!handle || e.button !== 0) return;
    e.preventDefault();
    handle.setPointerCapture(e.pointerId);
    const x0 = e.clientX;
    const w0 = this.nameCol().getBoundingClientRect().width;
    let frame = 0;
    const move = (ev) => {
      cancelAnimationFrame(frame);
      frame = requestAnimationFrame(() => this.setNameWidth(w0 + ev.clientX - x0, false));
    };
    const up = () => {
      handle.removeEventListener('pointermove', move);
      handle.removeEventListener('pointerup', up);
      handle.removeEventListener('pointercancel', up);
      cancelAnimationFrame(frame);
      this.setNameWidth(this.nameCol().getBoundingClientRect().width, true);
    };
    handle.addEventListener('pointermove', move);
    handle.addEventListener('pointerup', up);
    handle.addEventListener('pointercancel', up);
  }

  // Shortens every shown name to what the column holds.
  fitNames() {
    if (!this.rows || !this.tbody.firstElementChild) return;
    const th = this.thead.querySelector('th');
    if (!th) return;
    const width = th.getBoundingClientRect().width;
    if (!(width > 0)) return;
    const max = Math.max(2, Math.floor((width - NAME_PAD) / measureChar(this.table)));
    if (max === this.fitted && this.fittedRows === this.tbody.childElementCount) return;
    this.fitted = max;
    this.fittedRows = this.tbody.childElementCount;
    for (const span of this.tbody.querySelectorAll('span.fname')) {
      const name = this.rows[Number(span.parentNode.parentNode.dataset.i)].name;
      const text = elideLabel(name, max);
      if (span.textContent !== text) span.textContent = text;
    }
  }

  // ---- Rendering -------------------------------------------------------------

  renderHead() {
    const { key, desc } = this.view.sort;
    const cols = this.columns.map((c, k) => (k === 0 ? '<col>' : `<col style="width:${c.width || NUM_WIDTH}px">`));
    this.colgroup.innerHTML = cols.join('');
    const cells = this.columns.map((c, k) => {
      const active = c.key === key;
      const aria = active ? ` aria-sort="${desc ? 'descending' : 'ascending'}"` : '';
      const arrow = active ? `<span class="arrow" aria-hidden="true">${desc ? '▼' : '▲'}</span>` : '';
      const title = c.title ? ` title="${escapeHTML(c.title)}"` : '';
      const resize =
        k === 0
          ? '<span class="col-resize" role="separator" aria-orientation="vertical" aria-label="Width of the function column: drag, or use the arrow keys" tabindex="0"></span>'
          : '';
      return `<th scope="col"${aria}><button type="button" data-key="${c.key}"${title}>${c.label}${arrow}</button>${resize}</th>`;
    });
    this.thead.innerHTML = `<tr>${cells.join('')}</tr>`;
    this.applyWidths();
  }

  renderBody() {
    const v = this.view;
    const rows = this.rows;
    const n = Math.min(rows.length, this.limit);
    if (this.active >= n) this.active = 0;
    const out = new Array(n);
    for (let i = 0; i < n; i++) out[i] = this.rowHTML(rows[i], i, v);
    if (rows.length === 0) {
      out.push(`<tr class="empty"><td colspan="${this.columns.length}">No function matches.</td></tr>`);
    }
    this.tbody.innerHTML = out.join('');
    this.more.hidden = rows.length <= n;
    this.more.querySelector('button').textContent = `Show more (${formatCompact(rows.length - n)} not shown)`;
    this.fitted = 0;
    this.fitNames();
  }

  cell(value, ticks, meta) {
    const share = ticks > 0 ? value / ticks : 0;
    return `<td title="${escapeHTML(formatValue(value, meta))}">${escapeHTML(formatShortValue(value, meta))}<span class="pct">${formatPercent(share)}</span></td>`;
  }

  // One side → the other, as shares; the values in the title.
  shares(l, r, ls, rs, meta) {
    const title = `left ${formatValue(l, meta)} · right ${formatValue(r, meta)}`;
    return `<td class="shares" title="${escapeHTML(title)}">${formatPercent(ls)} → ${formatPercent(rs)}</td>`;
  }

  points(pp) {
    const cls = pp >= 0.05 ? 'up' : pp <= -0.05 ? 'down' : '';
    return `<td class="${cls}">${formatPoints(pp)}</td>`;
  }

  rowHTML(r, i, v) {
    const sel = r.name === v.selected ? 'true' : 'false';
    const sw = v.colorOf ? `<span class="swatch" style="background:${v.colorOf(r)}"></span>` : '';
    let html = `<tr data-i="${i}" tabindex="${i === this.active ? 0 : -1}" aria-selected="${sel}"><td class="fn" title="${escapeHTML(r.name)}">${sw}<span class="fname">${escapeHTML(r.name)}</span></td>`;
    if (v.double) {
      html += this.shares(r.lself, r.rself, r.ls, r.rs, v.meta) + this.points(r.dself);
      html += this.shares(r.ltotal, r.rtotal, r.lt, r.rt, v.meta) + this.points(r.dtotal);
      const cls = r.diff > 0.02 ? 'up' : r.diff < -0.02 ? 'down' : '';
      html += `<td class="${cls}">${formatChange(r.diff)}</td>`;
    } else {
      html += this.cell(r.self, v.ticks, v.meta) + this.cell(r.total, v.ticks, v.meta);
    }
    return `${html}</tr>`;
  }
}
