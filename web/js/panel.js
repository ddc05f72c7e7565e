// One profile on screen: a header (what it shows, its total, the search
// result, the diff legend, exports), the flame graph and the function
// table. The single view has one panel, the comparison view two, the diff
// view one in diff colors. A panel also shows a function's sandwich (its
// callers above it, its callees below) in place of the graph, and the
// profile with frames hidden or collapsed.

import { FlameGraph } from './flamegraph.js';
import { FunctionTable } from './table.js';
import { findPath, pathOf, release } from './flamebearer.js';
import { aggregate, fromServer, sortRows, filterRows } from './aggregate.js';
import { matchNames, matchNodes, exactMatcher } from './search.js';
import { palette, hueIndex, relativeChange, diffStep, diffLegend, DIFF_BASE, DIFF_STEPS, OTHER } from './colors.js';
import { formatValue, formatPercent, formatChange, formatPoints } from './format.js';
import { parseSort, parseHide } from './state.js';
import { escapeHTML } from './tooltip.js';
import { hideFrames, sandwich } from './tree.js';
import { functionOf } from './label.js';
import { copyText } from './menu.js';
import { exportMenuHTML, runExport } from './download.js';

// The diff legend: the palette's steps with the relative changes they
// stand for, in the colors of the theme.
function legendHTML(pal) {
  const { steps, ticks } = diffLegend(pal);
  const n = steps.length;
  const cells = steps.map((s) => `<span style="background:${s.color}"></span>`).join('');
  const marks = ticks
    .map((t) => {
      const pos = ((Math.max(-1, Math.min(1, t.at)) * DIFF_STEPS + DIFF_STEPS + 0.5) / n) * 100;
      return `<span class="tick" style="left:${pos.toFixed(2)}%">${t.label}</span>`;
    })
    .join('');
  return `<span class="legend-end">less on the right</span><span class="legend-scale"><span class="ramp">${cells}</span><span class="ticks">${marks}</span></span><span class="legend-end">more</span>`;
}

export class FlamePanel {
  // opts: { side: 'single' | 'left' | 'right' | 'diff', title, tooltip,
  //         menu (menu.js), onZoom(path), onSelectFn(name), onSort(sort),
  //         onSearch(name), onSandwich(name), onHide(name, 'h' | 'c'),
  //         onPalette(scheme), request() -> what the server exports need }
  constructor(host, opts) {
    this.host = host;
    this.opts = opts;
    this.side = opts.side;
    host.className = `panel ${opts.side}`;
    const diff = opts.side === 'diff';
    host.innerHTML = `
      <div class="panel-head">
        <h2></h2><span class="meta"></span><span class="match meta" aria-live="polite"></span>
        <span class="spacer"></span>
        ${diff ? '<span class="flame-legend" role="img" aria-label="Colors: the change of a frame’s share from left to right"></span><button type="button" class="palette-toggle" aria-pressed="false" title="Blue and orange instead of green and red, for red-green colour blindness">Colour-blind palette</button>' : ''}
        ${exportMenuHTML(opts.side)}
      </div>
      <div class="panel-bar" hidden></div>
      <div class="message" hidden></div>
      <div class="panel-body">
        <div class="graph-host"></div>
        <div class="sandwich" hidden>
          <div class="sandwich-head"><h3></h3><button type="button" class="sandwich-close">Back to the flame graph</button></div>
          <div class="sandwich-label">Callers <span class="hint">(read upwards: who calls it)</span></div>
          <div class="callers-host"></div>
          <div class="sandwich-label">Callees <span class="hint">(what it calls)</span></div>
          <div class="callees-host"></div>
        </div>
        <div class="table-host"></div>
      </div>`;
    this.titleEl = host.querySelector('h2');
    this.metaEl = host.querySelector('.panel-head .meta');
    this.matchEl = host.querySelector('.match');
    this.messageEl = host.querySelector('.message');
    this.barEl = host.querySelector('.panel-bar');
    this.body = host.querySelector('.panel-body');
    this.legendEl = host.querySelector('.flame-legend');
    this.sandwichEl = host.querySelector('.sandwich');
    this.exportMenu = host.querySelector('details.menu');
    this.exportMenu.addEventListener('click', (e) => {
      const b = e.target.closest('button[data-export]');
      if (!b) return;
      this.exportMenu.open = false;
      runExport(b.dataset.export, this);
    });
    const paletteBtn = host.querySelector('.palette-toggle');
    if (paletteBtn) {
      paletteBtn.addEventListener('click', () => opts.onPalette && opts.onPalette(this.view.palette === 'cb' ? 'rg' : 'cb'));
    }
    host.querySelector('.sandwich-close').addEventListener('click', () => opts.onSandwich && opts.onSandwich(''));
    this.barEl.addEventListener('click', (e) => {
      const b = e.target.closest('button[data-unhide]');
      if (b && opts.onHide) opts.onHide(b.dataset.unhide, null);
    });
    const label = opts.title || 'Profile';
    this.graph = new FlameGraph(host.querySelector('.graph-host'), {
      label: `Flame graph of ${label}`,
      tooltip: opts.tooltip,
      describe: (i) => this.describe(this.p, i, this.graph),
      speak: (i) => this.speak(this.p, i),
      onZoom: (i) => opts.onZoom && opts.onZoom(i === 0 ? [] : pathOf(this.p, i)),
      onMenu: (i, x, y) => this.frameMenu(this.p, i, x, y, true),
    });
    this.table = new FunctionTable(host.querySelector('.table-host'), {
      label: `Functions of ${label}`,
      onSort: opts.onSort,
      onSelect: opts.onSelectFn,
      onMenu: (name, x, y) => this.nameMenu(name, x, y),
    });
    this.base = null; // the profile as the server sent it
    this.p = null; // what is drawn: the base with hidden frames applied
    this.raw = null;
    this.rows = null;
    this.view = {};
    this.theme = null;
    this.setTitle(label);
  }

  destroy() {
    if (this.p !== this.base) release(this.p);
    release(this.base);
    this.p = null;
    this.base = null;
    this.graph.destroy();
    this.table.destroy();
    if (this.callers) this.callers.destroy();
    if (this.callees) this.callees.destroy();
    this.host.remove();
  }

  setTitle(title, meta = '') {
    this.titleEl.textContent = title;
    this.title = title;
    if (meta) this.metaEl.textContent = meta.trim();
  }

  // A decoded profile and the raw response it came from (for the JSON export
  // and the function table). query names it in file names.
  setProfile(p, raw, query) {
    if (this.p && this.p !== this.base) release(this.p);
    if (this.base && this.base !== p) release(this.base);
    this.base = p;
    this.p = p;
    this.raw = raw;
    this.query = query;
    this.hideKey = null;
    this.serverRows = fromServer(raw && raw.functions, p);
    this.setMessage(null);
    const meta = p.metadata || {};
    if (p.format === 'double') {
      this.metaEl.textContent = `left ${formatValue(p.leftTicks, meta)} · right ${formatValue(p.rightTicks, meta)}`;
    } else {
      const spy = meta.spyName && meta.spyName !== 'unknown' ? ` · ${meta.spyName}` : '';
      this.metaEl.textContent = `total ${formatValue(p.numTicks, meta)}${spy}`;
    }
    this.graph.rootLabel = p.format === 'double' ? 'total (left + right)' : `total · ${formatValue(p.numTicks, meta)}`;
    this.exportMenu.hidden = false;
    this.sandwichKey = null;
    this.applyHide(true);
    if (this.view.zoom) this.apply(this.view, true);
  }

  // Forgets the profile (an error replaced it).
  clear() {
    if (this.p !== this.base) release(this.p);
    release(this.base);
    this.p = null;
    this.base = null;
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

  // The drawn profile: the base with the hidden and collapsed frames of the
  // view applied. Returns whether it changed.
  applyHide(fresh) {
    const key = this.view.hide || '';
    if (!fresh && key === this.hideKey) return false;
    this.hideKey = key;
    const base = this.base;
    if (!base) return false;
    const { hidden, collapsed } = parseHide(key);
    const idx = (names) => new Set(names.map((n) => base.names.indexOf(n)).filter((k) => k >= 0));
    const next = hideFrames(base, idx(hidden), idx(collapsed));
    if (this.p !== base && this.p !== next) release(this.p);
    this.p = next;
    // The server's table counts every frame; with frames hidden, the table
    // follows what is drawn.
    this.rows = next === base && this.serverRows ? this.serverRows : aggregate(next);
    this.graph.setData(next, 0);
    this.zoomKey = null;
    const chips = hidden.map((n) => ['hidden', n]).concat(collapsed.map((n) => ['collapsed', n]));
    this.barEl.innerHTML = chips.length
      ? `<span class="label">Frames</span>${chips
          .map(([what, n]) => `<span class="chip">${what}: ${escapeHTML(functionOf(n) || n)}<button type="button" data-unhide="${escapeHTML(n)}" aria-label="Show ${escapeHTML(n)} again" title="Show again">×</button></span>`)
          .join('')}`
      : '';
    this.barEl.hidden = !chips.length;
    return true;
  }

  // view: { zoom: path[], search (matcher), fn, sort, show, theme, align,
  // palette, sandwich, hide }. Only what changed since the last call is
  // redone.
  apply(view, fresh = false) {
    const themeChanged = view.theme !== this.theme || view.palette !== this.scheme;
    this.view = view;
    if (themeChanged) {
      this.theme = view.theme;
      this.scheme = view.palette;
      this.pal = palette(view.theme, view.palette);
      this.graph.setTheme(view.theme, true, view.palette);
      if (this.callers) this.callers.setTheme(view.theme, true, view.palette);
      if (this.callees) this.callees.setTheme(view.theme, true, view.palette);
      if (this.legendEl) this.legendEl.innerHTML = legendHTML(this.pal);
      const b = this.host.querySelector('.palette-toggle');
      if (b) b.setAttribute('aria-pressed', String(view.palette === 'cb'));
      this.host.classList.toggle('palette-cb', view.palette === 'cb');
    }
    this.graph.setAlign(view.align);
    this.body.className = `panel-body show-${view.show}`;
    if (!this.base) return;
    if (this.applyHide(false)) fresh = true;
    const p = this.p;
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
    const tableKey = [view.sort, view.fn, view.theme, view.palette].join('\n');
    if (fresh || view.search !== this.tableSearch || tableKey !== this.tableKey) {
      this.tableSearch = view.search;
      this.tableKey = tableKey;
      this.renderTable();
    }
    this.showSandwich(view.sandwich || '', fresh);
  }

  highlight(matcher) {
    const p = this.p;
    const graphs = [this.graph, this.callers, this.callees].filter(Boolean);
    if (!matcher.active) {
      for (const g of graphs) if (g.p) g.setHighlight(null);
      this.matchEl.textContent = '';
      this.matchStats = null;
      return;
    }
    const hits = matchNames(p.names, matcher);
    const r = matchNodes(p, hits);
    this.graph.setHighlight(r.hit);
    for (const g of graphs.slice(1)) if (g.p) g.setHighlight(matchNodes(g.p, hits).hit);
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
    const double = p.format === 'double';
    let { key, desc } = parseSort(this.view.sort, double);
    const keys = double ? ['name', 'self', 'total', 'dself', 'dtotal', 'diff'] : ['name', 'self', 'total'];
    if (!keys.includes(key)) ({ key, desc } = parseSort('', double));
    const all = this.rows;
    const rows = sortRows(filterRows(all.slice(), this.view.search), key, desc);
    const pal = this.pal || palette(this.view.theme, this.view.palette);
    let note = '';
    if (all === this.serverRows && all.truncated) {
      note = `The ${all.length.toLocaleString('en-US')} largest of ${all.count.toLocaleString('en-US')} functions.`;
    } else if (all !== this.serverRows && (this.hideKey || '') === '' && p.names.includes('other')) {
      note = 'Computed from the frames the graph holds: “other” folds the smallest. A higher Detail shows more.';
    }
    this.table.setRows(rows, {
      double,
      meta: p.metadata || {},
      ticks: p.numTicks,
      left: p.leftTicks,
      right: p.rightTicks,
      sort: { key, desc },
      selected: this.view.fn,
      note,
      colorOf: (r) =>
        double ? pal[DIFF_BASE + DIFF_STEPS + diffStep(r.diff)] : pal[r.name === 'other' ? OTHER : hueIndex(r.name)],
    });
  }

  // ---- Sandwich ------------------------------------------------------------

  graphFor(kind) {
    const inverted = kind === 'callers';
    const g = new FlameGraph(this.sandwichEl.querySelector(`.${kind}-host`), {
      label: `${inverted ? 'Callers' : 'Callees'} of the function`,
      inverted,
      tooltip: this.opts.tooltip,
      describe: (i) => this.describe(g.p, i, g),
      speak: (i) => this.speak(g.p, i),
      onZoom: (i) => g.setZoom(i === g.zoom ? 0 : i),
      onMenu: (i, x, y) => this.frameMenu(g.p, i, x, y, false),
    });
    g.setTheme(this.theme || 'light', false, this.scheme || 'rg');
    g.setAlign(this.view.align);
    return g;
  }

  // Shows the sandwich of fn in place of the graph ('' shows the graph).
  showSandwich(fn, fresh) {
    const key = fn ? `${fn}\n${this.hideKey}` : '';
    if (!fresh && key === this.sandwichKey) {
      if (fn) for (const g of [this.callers, this.callees]) g.setAlign(this.view.align);
      return;
    }
    this.sandwichKey = key;
    const on = Boolean(fn);
    this.sandwichEl.hidden = !on;
    this.graph.host.hidden = on;
    this.body.classList.toggle('with-sandwich', on);
    if (!on) return;
    const p = this.p;
    const k = p.names.indexOf(fn);
    const head = this.sandwichEl.querySelector('h3');
    if (!this.callers) {
      this.callers = this.graphFor('callers');
      this.callees = this.graphFor('callees');
    }
    const s = k >= 0 ? sandwich(p, k) : null;
    if (!s || !s.count) {
      head.textContent = `“${fn}” is not in this graph: it may be folded into “other” (raise Detail) or hidden.`;
      this.callers.host.hidden = true;
      this.callees.host.hidden = true;
      return;
    }
    this.callers.host.hidden = false;
    this.callees.host.hidden = false;
    const meta = p.metadata || {};
    const share =
      p.format === 'double'
        ? `left ${formatPercent(s.callees.leftTicks / (p.leftTicks || 1))}, right ${formatPercent(s.callees.rightTicks / (p.rightTicks || 1))} of total`
        : `${formatValue(s.callees.numTicks, meta)}, ${formatPercent(s.callees.numTicks / (p.numTicks || 1))} of total`;
    head.textContent = `Sandwich of ${fn} · ${share}`;
    // Shares in the sandwich's tooltips stay shares of the whole profile.
    for (const [g, q] of [
      [this.callers, s.callers],
      [this.callees, s.callees],
    ]) {
      q.whole = p;
      g.rootLabel = null;
      g.setData(q, 0);
      g.draw();
    }
    this.highlight(this.view.fn ? exactMatcher(this.view.fn) : this.view.search);
  }

  // ---- Menus -------------------------------------------------------------

  // The actions on frames named `name`; focus: a graph node to zoom to.
  menuItems(name, focus) {
    const o = this.opts;
    const items = [];
    if (focus) items.push({ label: 'Focus on this frame', hint: 'Enter', run: focus });
    items.push(
      { label: 'Sandwich view', hint: 'callers and callees', run: () => o.onSandwich && o.onSandwich(name) },
      { label: 'Copy the name', run: () => copyText(name) },
      { label: `Search for “${functionOf(name) || name}”`, run: () => o.onSearch && o.onSearch(functionOf(name) || name) },
      { label: 'Collapse frames like this', hint: 'fold what they call into them', run: () => o.onHide && o.onHide(name, 'c') },
      { label: 'Hide frames like this', hint: 'drop them and their samples', run: () => o.onHide && o.onHide(name, 'h') },
    );
    return items;
  }

  frameMenu(p, i, x, y, zoomable) {
    if (!p || !this.opts.menu) return;
    if (i === 0 && p === this.p) {
      this.opts.menu.open('total', [{ label: 'Reset the zoom', run: () => this.opts.onZoom && this.opts.onZoom([]) }], x, y);
      return;
    }
    const name = p.names[p.name[i]];
    const focus = zoomable ? () => this.opts.onZoom && this.opts.onZoom(pathOf(p, i)) : null;
    this.opts.menu.open(name, this.menuItems(name, focus), x, y);
  }

  nameMenu(name, x, y) {
    if (this.opts.menu) this.opts.menu.open(name, this.menuItems(name, null), x, y);
  }

  // ---- Tooltips ------------------------------------------------------------

  // Tooltip HTML for node i of profile p (the panel's, or a sandwich half)
  // drawn by graph g.
  describe(p, i, g) {
    const whole = p.whole || p;
    const meta = p.metadata || {};
    const name = i === 0 && p === this.p ? 'total' : p.names[p.name[i]];
    const row = (label, v, share, cls = '') =>
      `<tr><th>${label}</th><td>${escapeHTML(formatValue(v, meta))}</td><td class="${cls}">${share}</td></tr>`;
    let rows = '';
    let lead = '';
    if (p.format === 'double') {
      const lt = whole.leftTicks || 1;
      const rt = whole.rightTicks || 1;
      const ls = p.ltotal[i] / lt;
      const rs = p.rtotal[i] / rt;
      const pp = (rs - ls) * 100;
      const ch = relativeChange(p.ltotal[i], p.rtotal[i], whole.leftTicks, whole.rightTicks);
      const cls = pp >= 0.05 ? 'up' : pp <= -0.05 ? 'down' : '';
      lead = `<div class="change ${cls}">${formatPoints(pp)} of total: ${formatPercent(ls)} → ${formatPercent(rs)}</div>`;
      rows += row('Left total', p.ltotal[i], formatPercent(ls));
      rows += row('Right total', p.rtotal[i], formatPercent(rs));
      rows += row('Left self', p.lself[i], formatPercent(p.lself[i] / lt));
      rows += row('Right self', p.rself[i], formatPercent(p.rself[i] / rt));
      const rel = ch === Infinity ? 'only on the right' : ch === -1 ? 'only on the left' : `${formatChange(ch)} of its share`;
      rows += `<tr><th>Relative</th><td class="${cls}" colspan="2">${rel}</td></tr>`;
    } else {
      const all = whole.numTicks || 1;
      rows += row('Total', p.total[i], formatPercent(p.total[i] / all));
      rows += row('Self', p.self[i], formatPercent(p.self[i] / all));
    }
    let hint = '';
    if (g === this.graph) hint = i === g.zoom ? (i === 0 ? '' : 'Click the root or press Esc to reset the zoom') : 'Click to zoom in';
    hint = hint ? `${hint} · right click for more` : 'Right click for more';
    return `<div class="name">${escapeHTML(name)}</div>${lead}<table>${rows}</table><div class="hint">${hint}</div>`;
  }

  // What a screen reader says on reaching node i by keyboard.
  speak(p, i) {
    const whole = p.whole || p;
    const name = i === 0 && p === this.p ? 'total' : p.names[p.name[i]];
    if (p.format === 'double') {
      const ls = p.ltotal[i] / (whole.leftTicks || 1);
      const rs = p.rtotal[i] / (whole.rightTicks || 1);
      return `${name}: ${formatPoints((rs - ls) * 100)} of total, ${formatPercent(ls)} to ${formatPercent(rs)}`;
    }
    return `${name}: ${formatValue(p.total[i], p.metadata || {})}, ${formatPercent(p.total[i] / (whole.numTicks || 1))} of total`;
  }
}
