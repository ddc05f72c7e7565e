// The function table: self and total per function (and both sides with
// their change in a diff), sortable, filtered by the search. Clicking a row
// picks that function, which the flame graph then highlights.

import { formatCompact, formatPercent, formatValue, formatChange } from './format.js';
import { escapeHTML } from './tooltip.js';

const PAGE = 250;

const SINGLE_COLUMNS = [
  { key: 'name', label: 'Function' },
  { key: 'self', label: 'Self' },
  { key: 'total', label: 'Total' },
];

const DIFF_COLUMNS = [
  { key: 'name', label: 'Function' },
  { key: 'lself', label: 'Left self' },
  { key: 'ltotal', label: 'Left total' },
  { key: 'rself', label: 'Right self' },
  { key: 'rtotal', label: 'Right total' },
  { key: 'diff', label: 'Diff' },
];

export class FunctionTable {
  // opts: { label, onSort(sortString), onSelect(name) }
  constructor(host, opts = {}) {
    this.host = host;
    this.opts = opts;
    host.classList.add('table-wrap');
    host.innerHTML =
      `<table class="functions" aria-label="${escapeHTML(opts.label || 'Functions')}">` +
      '<thead></thead><tbody></tbody></table><div class="table-more" hidden><button type="button"></button></div>';
    this.thead = host.querySelector('thead');
    this.tbody = host.querySelector('tbody');
    this.more = host.querySelector('.table-more');
    this.limit = PAGE;
    this.thead.addEventListener('click', (e) => {
      const b = e.target.closest('button[data-key]');
      if (b) this.sortBy(b.dataset.key);
    });
    this.tbody.addEventListener('click', (e) => this.pick(e.target.closest('tr')));
    this.tbody.addEventListener('keydown', (e) => {
      if (e.key === 'Enter' || e.key === ' ') {
        e.preventDefault();
        this.pick(e.target.closest('tr'));
      }
    });
    this.more.querySelector('button').addEventListener('click', () => {
      this.limit += PAGE * 4;
      this.renderBody();
    });
  }

  // rows: sorted and filtered (aggregate.js); view: { double, meta, ticks,
  // left, right, sort: { key, desc }, selected, colorOf(row) }.
  setRows(rows, view) {
    if (rows !== this.rows) this.limit = PAGE;
    this.rows = rows;
    this.view = view;
    this.columns = view.double ? DIFF_COLUMNS : SINGLE_COLUMNS;
    this.renderHead();
    this.renderBody();
  }

  sortBy(key) {
    const cur = this.view.sort;
    let desc = key !== 'name';
    if (cur.key === key) desc = !cur.desc;
    if (this.opts.onSort) this.opts.onSort(`${desc ? '-' : ''}${key}`);
  }

  pick(tr) {
    if (!tr || !tr.dataset.name || !this.opts.onSelect) return;
    const name = this.rows[Number(tr.dataset.i)].name;
    this.opts.onSelect(name === this.view.selected ? '' : name);
  }

  renderHead() {
    const { key, desc } = this.view.sort;
    const cells = this.columns.map((c) => {
      const active = c.key === key;
      const aria = active ? ` aria-sort="${desc ? 'descending' : 'ascending'}"` : '';
      const arrow = active ? `<span class="arrow" aria-hidden="true">${desc ? '▼' : '▲'}</span>` : '';
      return `<th scope="col"${aria}><button type="button" data-key="${c.key}">${c.label}${arrow}</button></th>`;
    });
    this.thead.innerHTML = `<tr>${cells.join('')}</tr>`;
  }

  renderBody() {
    const v = this.view;
    const rows = this.rows;
    const n = Math.min(rows.length, this.limit);
    const out = new Array(n);
    for (let i = 0; i < n; i++) out[i] = this.rowHTML(rows[i], i, v);
    if (rows.length === 0) {
      out.push(`<tr class="empty"><td colspan="${this.columns.length}">No function matches.</td></tr>`);
    }
    this.tbody.innerHTML = out.join('');
    this.more.hidden = rows.length <= n;
    this.more.querySelector('button').textContent = `Show more (${formatCompact(rows.length - n)} not shown)`;
  }

  cell(value, ticks, meta) {
    const share = ticks > 0 ? value / ticks : 0;
    return `<td title="${escapeHTML(formatValue(value, meta))}">${formatCompact(value)}<span class="pct">${formatPercent(share)}</span></td>`;
  }

  rowHTML(r, i, v) {
    const sel = r.name === v.selected ? 'true' : 'false';
    const sw = v.colorOf ? `<span class="swatch" style="background:${v.colorOf(r)}"></span>` : '';
    let html = `<tr data-i="${i}" data-name="1" tabindex="0" aria-selected="${sel}"><td title="${escapeHTML(r.name)}">${sw}${escapeHTML(r.name)}</td>`;
    if (v.double) {
      html += this.cell(r.lself, v.left, v.meta) + this.cell(r.ltotal, v.left, v.meta);
      html += this.cell(r.rself, v.right, v.meta) + this.cell(r.rtotal, v.right, v.meta);
      const cls = r.diff > 0.02 ? 'up' : r.diff < -0.02 ? 'down' : '';
      html += `<td class="${cls}">${formatChange(r.diff)}</td>`;
    } else {
      html += this.cell(r.self, v.ticks, v.meta) + this.cell(r.total, v.ticks, v.meta);
    }
    return `${html}</tr>`;
  }
}
