// One profile on screen: a header (what it shows, its total, the search
// result, exports), the function table and the flame graph. The single view
// has one panel, the comparison view two, the diff view one in diff colors.

import { FlameGraph } from './flamegraph.js';
import { FunctionTable } from './table.js';
import { findPath, pathOf, release } from './flamebearer.js';
import { aggregate, sortRows, filterRows } from './aggregate.js';
import { matchNames, matchNodes, exactMatcher } from './search.js';
import { palette, hueIndex, relativeChange, diffStep, DIFF_BASE, DIFF_STEPS, OTHER } from './colors.js';
import { formatValue, formatPercent, formatChange } from './format.js';
import { parseSort } from './state.js';
import { escapeHTML } from './tooltip.js';
import { exportMenuHTML, runExport } from './download.js';

export class FlamePanel {
  // opts: { side: 'single' | 'left' | 'right' | 'diff', title, tooltip,
  //         onZoom(path), onSelectFn(name), onSort(sort) }
  constructor(host, opts) {
    this.host = host;
    this.opts = opts;
    this.side = opts.side;
    host.className = `panel ${opts.side}`;
    host.innerHTML = `
      <div class="panel-head">
        <h2></h2><span class="meta"></span><span class="match meta" aria-live="polite"></span>
        <span class="spacer"></span>
        ${opts.side === 'diff' ? '<span class="flame-legend" aria-hidden="true">less <span class="ramp"></span> more on the right</span>' : ''}
        ${exportMenuHTML(opts.side)}
      </div>
      <div class="message" hidden></div>
      <div class="panel-body">
        <div class="table-host"></div>
        <div class="graph-host"></div>
      </div>`;
    this.titleEl = host.querySelector('h2');
    this.metaEl = host.querySelector('.panel-head .meta');
    this.matchEl = host.querySelector('.match');
    this.messageEl = host.querySelector('.message');
    this.body = host.querySelector('.panel-body');
    this.exportMenu = host.querySelector('details.menu');
    this.exportMenu.addEventListener('click', (e) => {
      const b = e.target.closest('button[data-export]');
      if (!b) return;
      this.exportMenu.open = false;
      runExport(b.dataset.export, this);
    });
    const label = opts.title || 'Profile';
    this.table = new FunctionTable(host.querySelector('.table-host'), {
      label: `Functions of ${label}`,
      onSort: opts.onSort,
      onSelect: opts.onSelectFn,
    });
    this.graph = new FlameGraph(host.querySelector('.graph-host'), {
      label: `Flame graph of ${label}`,
      tooltip: opts.tooltip,
      describe: (i) => this.describe(i),
      onZoom: (i) => opts.onZoom && opts.onZoom(i === 0 ? [] : pathOf(this.p, i)),
    });
    this.p = null;
    this.raw = null;
    this.rows = null;
    this.view = {};
    this.theme = null;
    this.setTitle(label);
  }

  destroy() {
    release(this.p);
    this.p = null;
    this.graph.destroy();
    this.host.remove();
  }

  setTitle(title, meta = '') {
    this.titleEl.textContent = title;
    this.title = title;
    if (meta) this.metaEl.textContent = meta.trim();
  }

  // A decoded profile and the raw response it came from (for the JSON export).
  setProfile(p, raw, query) {
    if (this.p && this.p !== p) release(this.p);
    this.p = p;
    this.raw = raw;
    this.query = query;
    this.rows = aggregate(p);
    this.pathKey = null;
    this.setMessage(null);
    const meta = p.metadata || {};
    if (p.format === 'double') {
      this.metaEl.textContent = `left ${formatValue(p.leftTicks, meta)} · right ${formatValue(p.rightTicks, meta)}`;
    } else {
      const spy = meta.spyName && meta.spyName !== 'unknown' ? ` · ${meta.spyName}` : '';
      this.metaEl.textContent = `total ${formatValue(p.numTicks, meta)}${spy}`;
    }
    this.graph.rootLabel = p.format === 'double' ? 'total (left + right)' : `total · ${formatValue(p.numTicks, meta)}`;
    this.graph.setData(p, 0);
    this.exportMenu.hidden = false;
    if (this.view.zoom) this.apply(this.view, true);
  }

  // Forgets the profile (an error replaced it).
  clear() {
    release(this.p);
    this.p = null;
  }

  // kind: 'empty' | 'error' | 'loading'; html: the body; actions:
  // [{ label, run }]. null shows the profile again.
  setMessage(msg) {
    if (!msg) {
      this.messageEl.hidden = true;
      this.body.hidden = false;
      return;
    }
    this.messageEl.className = `message ${msg.kind}`;
    this.messageEl.innerHTML = `<h3>${escapeHTML(msg.title)}</h3>${msg.html || ''}<div class="actions"></div>`;
    const actions = this.messageEl.querySelector('.actions');
    for (const a of msg.actions || []) {
      const b = document.createElement('button');
      b.type = 'button';
      b.textContent = a.label;
      b.addEventListener('click', a.run);
      actions.append(b);
    }
    this.messageEl.hidden = false;
    this.body.hidden = msg.keepBody !== true;
    this.exportMenu.hidden = true;
  }

  // view: { zoom: path[], search (matcher), fn, sort, show, theme }. Only
  // what changed since the last call is redone.
  apply(view, fresh = false) {
    const themeChanged = view.theme !== this.theme;
    this.view = view;
    if (themeChanged) {
      this.theme = view.theme;
      this.graph.setTheme(view.theme);
      this.pal = palette(view.theme);
    }
    this.body.className = `panel-body show-${view.show}`;
    const p = this.p;
    if (!p) return;
    const zoomKey = view.zoom.join('\n');
    if (fresh || zoomKey !== this.zoomKey) {
      this.zoomKey = zoomKey;
      const z = view.zoom.length ? findPath(p, view.zoom) : 0;
      this.graph.setZoom(z < 0 ? 0 : z);
    }
    const matcher = view.fn ? exactMatcher(view.fn) : view.search;
    const matchKey = view.fn ? `fn:${view.fn}` : view.search;
    if (fresh || matchKey !== this.matchKey) {
      this.matchKey = matchKey;
      this.highlight(matcher);
    }
    const tableKey = [view.sort, view.fn, view.theme];
    if (fresh || view.search !== this.tableSearch || tableKey.join('\n') !== this.tableKey) {
      this.tableSearch = view.search;
      this.tableKey = tableKey.join('\n');
      this.renderTable();
    }
  }

  highlight(matcher) {
    const p = this.p;
    if (!matcher.active) {
      this.graph.setHighlight(null);
      this.matchEl.textContent = '';
      this.matchStats = null;
      return;
    }
    const r = matchNodes(p, matchNames(p.names, matcher));
    this.graph.setHighlight(r.hit);
    this.matchStats = r;
    const what = this.view.fn ? `“${this.view.fn}”` : 'matches';
    if (r.count === 0) {
      this.matchEl.textContent = `· no frame ${this.view.fn ? 'named so' : 'matches'}`;
    } else if (p.format === 'double') {
      this.matchEl.textContent = `· ${what}: left ${formatPercent(r.left / (p.leftTicks || 1))}, right ${formatPercent(r.right / (p.rightTicks || 1))}`;
    } else {
      this.matchEl.textContent = `· ${what}: ${formatPercent(r.total / (p.numTicks || 1))} of total (${r.count} ${r.count === 1 ? 'frame' : 'frames'})`;
    }
  }

  renderTable() {
    const p = this.p;
    const { key, desc } = parseSort(this.view.sort);
    const double = p.format === 'double';
    const sortKey = !double && !['name', 'self', 'total'].includes(key) ? 'self' : double && ['self', 'total'].includes(key) ? `r${key}` : key;
    const rows = sortRows(filterRows(this.rows.slice(), this.view.search), sortKey, desc);
    const pal = this.pal || palette(this.view.theme);
    this.table.setRows(rows, {
      double,
      meta: p.metadata || {},
      ticks: p.numTicks,
      left: p.leftTicks,
      right: p.rightTicks,
      sort: { key: sortKey, desc },
      selected: this.view.fn,
      colorOf: (r) =>
        double ? pal[DIFF_BASE + DIFF_STEPS + diffStep(r.diff)] : pal[r.name === 'other' ? OTHER : hueIndex(r.name)],
    });
  }

  // Tooltip HTML for node i.
  describe(i) {
    const p = this.p;
    const meta = p.metadata || {};
    const name = i === 0 ? 'total' : p.names[p.name[i]];
    const row = (label, v, share, cls = '') =>
      `<tr><th>${label}</th><td>${escapeHTML(formatValue(v, meta))}</td><td class="${cls}">${share}</td></tr>`;
    let rows = '';
    if (p.format === 'double') {
      const lt = p.leftTicks || 1;
      const rt = p.rightTicks || 1;
      const ch = relativeChange(p.ltotal[i], p.rtotal[i], p.leftTicks, p.rightTicks);
      rows += row('Left total', p.ltotal[i], formatPercent(p.ltotal[i] / lt));
      rows += row('Right total', p.rtotal[i], formatPercent(p.rtotal[i] / rt));
      rows += row('Left self', p.lself[i], formatPercent(p.lself[i] / lt));
      rows += row('Right self', p.rself[i], formatPercent(p.rself[i] / rt));
      const cls = ch > 0.02 ? 'up' : ch < -0.02 ? 'down' : '';
      rows += `<tr><th>Change</th><td class="${cls}" colspan="2">${formatChange(ch)} of total share</td></tr>`;
    } else {
      const whole = p.numTicks || 1;
      rows += row('Total', p.total[i], formatPercent(p.total[i] / whole));
      rows += row('Self', p.self[i], formatPercent(p.self[i] / whole));
    }
    const hint = i === this.graph.zoom ? (i === 0 ? '' : 'Click the root or press Esc to reset the zoom') : 'Click to zoom in';
    return `<div class="name">${escapeHTML(name)}</div><table>${rows}</table>${hint ? `<div class="hint">${hint}</div>` : ''}`;
  }

  // What an export names its file after.
  fileStem() {
    const q = (this.query || 'profile').replace(/[{}"=~!,]+/g, '_').replace(/_+$/, '');
    return `${q}${this.side === 'left' || this.side === 'right' ? `-${this.side}` : ''}`;
  }
}
