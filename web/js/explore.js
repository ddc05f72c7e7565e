// The tag explorer: how a selection splits over the values of one tag.
// Pick a tag key and see one timeline line per value (the top N and
// "other"), a table per value (share of the total, average and peak per
// interval) and a pie chart, all from one /api/explore request. Clicking a
// value shows its flame graph below (a /render of that value); its buttons
// filter the query to it or set it as one side of a comparison.
//
// The view has the interface of views.js's View: load(), show(), destroy().

import { api, ApiError } from './api.js';
import { decode, decodeTimeline, isEmpty } from './flamebearer.js';
import { resolveRange } from './time.js';
import { formatValue, formatShortValue, formatPercent } from './format.js';
import { appOf } from './query.js';
import { TagBar } from './tags.js';
import { LineChart } from './linechart.js';
import { FlamePanel } from './panel.js';
import { escapeHTML } from './tooltip.js';
import { withHide } from './state.js';

// Group colors: distinct for the usual top 10, readable on light and dark.
const COLORS = ['#4c78a8', '#f58518', '#54a24b', '#e45756', '#72b7b2', '#eeca3b', '#b279a2', '#ff9da6', '#9d755d', '#7f7fff'];
const OTHER_COLOR = '#9aa0ab';
const MISSING_COLOR = '#6b7180';

export function groupColor(g, k) {
  if (g.other) return OTHER_COLOR;
  if (g.missing) return MISSING_COLOR;
  return COLORS[k % COLORS.length];
}

// The explorer's rows from an /api/explore answer: the groups, then the
// series without the tag; each with a label, a color and decoded samples.
export function exploreRows(resp) {
  const groups = Array.isArray(resp && resp.groups) ? resp.groups : [];
  const rows = groups.map((g, k) => ({ ...g, label: g.other ? `other (${g.values || 'more'} values)` : g.value, color: groupColor(g, k) }));
  if (resp && resp.missing) rows.push({ ...resp.missing, missing: true, label: `no ${resp.groupBy}`, color: MISSING_COLOR });
  return rows;
}

// The pie's slices: [{ row, a0, a1 }] in radians, clockwise from the top.
export function pieSlices(rows, total) {
  const out = [];
  let a = -Math.PI / 2;
  for (const r of rows) {
    if (!(total > 0) || !(r.total > 0)) continue;
    const da = (r.total / total) * 2 * Math.PI;
    out.push({ row: r, a0: a, a1: a + da });
    a += da;
  }
  return out;
}

export class ExploreView {
  constructor(kind, ctx) {
    this.kind = kind;
    this.ctx = ctx;
    this.panels = [];
    this.sides = [];
    this.slot = { key: null, value: null };
    this.graphSlot = { key: null, value: null };
    const sel = ctx.selectors;
    sel.replaceChildren();
    ctx.panels.replaceChildren();
    sel.className = 'selectors';
    ctx.panels.className = 'panels explore';
    const side = document.createElement('div');
    side.className = 'side main';
    side.innerHTML = `
      <div class="tags-host"></div>
      <div class="explore-controls">
        <label>Group by <select class="group-by" aria-label="Tag to group by"><option value="">pick a tag…</option></select></label>
        <label>Show <select class="top" aria-label="How many values to show on their own">
          <option value="5">top 5</option><option value="10">top 10</option><option value="20">top 20</option><option value="50">top 50</option>
        </select> values</label>
        <span class="explore-summary hint"></span>
      </div>
      <div class="timeline-host"></div>`;
    sel.append(side);
    this.tags = new TagBar(side.querySelector('.tags-host'), {
      label: 'Query',
      onQuery: (q) => ctx.navigate({ query: q, groupValue: '' }),
    });
    this.keySel = side.querySelector('.group-by');
    this.topSel = side.querySelector('.top');
    this.summaryEl = side.querySelector('.explore-summary');
    this.keySel.addEventListener('change', () => ctx.navigate({ groupBy: this.keySel.value, groupValue: '' }));
    this.topSel.addEventListener('change', () => ctx.navigate({ top: Number(this.topSel.value) }));
    this.chart = new LineChart(side.querySelector('.timeline-host'), {
      label: 'Timeline: one line per tag value; drag to select a time range',
      tooltip: ctx.tooltip,
      format: (v) => formatValue(v, this.meta || {}),
      short: (v) => formatShortValue(v, this.meta || {}),
      onSelect: (from, until) => ctx.navigate({ from: String(from), until: String(until) }),
    });
    const body = document.createElement('div');
    body.className = 'explore-body';
    body.innerHTML = `
      <section class="explore-groups panel">
        <div class="panel-head"><h2>Values</h2><span class="meta"></span></div>
        <div class="message" hidden></div>
        <div class="explore-grid">
          <div class="explore-table-wrap"><table class="explore-table" aria-label="Tag values"><thead><tr>
            <th scope="col">Value</th><th scope="col">Share</th><th scope="col">Total</th>
            <th scope="col" title="The value's total divided by the intervals in which the selection has data">Avg / interval</th>
            <th scope="col" title="The value's largest total in one interval">Peak / interval</th><th scope="col"><span class="visually-hidden">Actions</span></th>
          </tr></thead><tbody></tbody></table></div>
          <div class="pie-host"><canvas class="pie" role="img" aria-label="Pie chart of the values’ shares"></canvas></div>
        </div>
        <div class="compare-bar" hidden></div>
      </section>
      <section class="explore-graph"></section>`;
    ctx.panels.append(body);
    this.groupsEl = body.querySelector('.explore-groups');
    this.metaEl = body.querySelector('.explore-groups .meta');
    this.messageEl = body.querySelector('.explore-groups .message');
    this.tbody = body.querySelector('tbody');
    this.pie = body.querySelector('canvas.pie');
    this.compareBar = body.querySelector('.compare-bar');
    this.tbody.addEventListener('click', (e) => this.onTableClick(e));
    this.tbody.addEventListener('keydown', (e) => {
      const tr = e.target.closest('tr[data-k]');
      if (!tr || e.target !== tr) return;
      if (e.key === 'Enter' || e.key === ' ') {
        e.preventDefault();
        this.pick(this.rows[Number(tr.dataset.k)]);
      } else if (e.key === 'ArrowDown' || e.key === 'ArrowUp') {
        e.preventDefault();
        const next = e.key === 'ArrowDown' ? tr.nextElementSibling : tr.previousElementSibling;
        if (next) next.focus();
      }
    });
    this.compareBar.addEventListener('click', (e) => {
      const b = e.target.closest('button[data-open]');
      if (b) ctx.navigate({ view: b.dataset.open, query: this.st.leftQuery || this.st.query, groupValue: '', fn: '', zoom: '', sandwich: '', sort: '' });
    });
    this.pie.addEventListener('pointermove', (e) => this.onPieMove(e));
    this.pie.addEventListener('pointerleave', () => ctx.tooltip.hide(this));
    this.pie.addEventListener('click', (e) => {
      const s = this.sliceAt(e);
      if (s) this.pick(s.row);
    });
    this.pieResize = new ResizeObserver(() => this.drawPie());
    this.pieResize.observe(this.pie.parentNode);
    const host = document.createElement('section');
    body.querySelector('.explore-graph').append(host);
    this.panel = new FlamePanel(host, {
      side: 'single',
      title: 'Profile',
      tooltip: ctx.tooltip,
      menu: ctx.menu,
      onZoom: (path) => ctx.navigate({ zoom: path.join(';') }),
      onSelectFn: (name) => ctx.navigate({ fn: name }),
      onSort: (sort) => ctx.navigate({ sort }, { replace: true }),
      onSearch: (name) => ctx.navigate({ search: name, regex: false, fn: '' }, { replace: true }),
      onSandwich: (name) => ctx.navigate({ sandwich: name }),
      onHide: (name, k) => ctx.navigate({ hide: withHide(this.st ? this.st.hide : '', name, k), zoom: '' }),
      onPalette: () => {},
      request: () => this.graphRequest,
    });
    this.panel.zoomField = 'zoom';
    this.panel.host.hidden = true;
    this.panels = [this.panel];
  }

  destroy() {
    this.chart.destroy();
    this.pieResize.disconnect();
    this.panel.destroy();
    this.ctx.selectors.replaceChildren();
    this.ctx.panels.replaceChildren();
    this.ctx.tooltip.hide(this);
  }

  setTheme() {
    this.chart.setTheme();
    this.drawPie();
  }

  zoomed(st) {
    return Boolean(st.zoom);
  }

  // The keys of the app, for the group-by dropdown.
  async loadKeys(st) {
    const app = appOf(st.query);
    if (!app || this.keysFor === app) return;
    this.keysFor = app;
    try {
      const keys = (await api.labels(`${app}{}`)).filter((k) => k !== '__name__');
      this.keys = keys;
      this.keySel.innerHTML =
        `<option value="">${keys.length ? 'pick a tag…' : 'this app has no tags'}</option>` +
        keys.map((k) => `<option value="${escapeHTML(k)}">${escapeHTML(k)}</option>`).join('');
      this.keySel.value = this.st ? this.st.groupBy : '';
      if (!this.st.groupBy && keys.length) this.ctx.navigate({ groupBy: keys[0] }, { replace: true });
    } catch {
      this.keysFor = null;
    }
  }

  async load(st, gen, signal) {
    this.st = st;
    const now = Math.floor(Date.now() / 1000);
    let range;
    try {
      range = resolveRange(st.from, st.until, now);
    } catch (e) {
      this.setMessage(e.message);
      return 'error';
    }
    this.range = range;
    this.loadKeys(st);
    if (!st.groupBy) {
      this.setMessage('Pick a tag to see how the samples split over its values.', 'empty');
      this.chart.setData(null, range);
      return 'ready';
    }
    const jobs = [];
    const key = `${gen}\n${st.query}\n${st.groupBy}\n${st.top}\n${st.from}\n${st.until}`;
    if (key !== this.slot.key) {
      jobs.push(
        api.explore({ query: st.query, groupBy: st.groupBy, from: st.from, until: st.until, top: st.top }, { signal }).then(
          (v) => ((this.slot = { key, value: v }), null),
          (e) => e,
        ),
      );
    }
    const results = await Promise.all(jobs);
    if (signal.aborted) return 'aborted';
    const err = results.find(Boolean);
    if (err) {
      if (err.name === 'AbortError') return 'aborted';
      if (err.kind === 'network' || err.kind === 'auth') {
        this.ctx.banner(err);
        return err.kind === 'network' ? 'offline' : 'auth';
      }
      this.slot = { key: null, value: null };
      this.tags.setError(err.status === 400 ? err.message : '');
      this.setMessage(err.message);
      return 'error';
    }
    this.ctx.banner(null);
    this.tags.setError('');
    this.accept(this.slot.value, st);
    return this.loadGraph(st, gen, signal);
  }

  setMessage(text, kind = 'error') {
    this.messageEl.className = `message ${kind}`;
    this.messageEl.innerHTML = `<p>${escapeHTML(text)}</p>`;
    this.messageEl.hidden = false;
    this.groupsEl.querySelector('.explore-grid').hidden = true;
  }

  accept(resp, st) {
    this.meta = { units: resp.units, sampleRate: resp.sampleRate };
    const rows = exploreRows(resp);
    this.rows = rows;
    this.total = Number(resp.total) || 0;
    const tl = decodeTimeline(resp.timeline);
    // A value without data in a step where the selection has some had
    // nothing there: 0, not a gap.
    const line = (r) => decodeTimeline({ ...resp.timeline, samples: r.samples }).values.map((v, i) => (tl.values[i] === null ? null : v ?? 0));
    this.chart.setData(tl ? { start: tl.start, step: tl.step, series: rows.map((r) => ({ label: r.label, color: r.color, values: line(r) })) } : null, this.range);
    this.metaEl.textContent = `${st.groupBy} · total ${formatValue(this.total, this.meta)}`;
    const values = rows.filter((r) => !r.other && !r.missing).length + rows.filter((r) => r.other).reduce((n, r) => n + (r.values || 0), 0);
    this.summaryEl.textContent = rows.length ? `${values} ${values === 1 ? 'value' : 'values'} with data` : '';
    if (!rows.length) {
      this.setMessage(`No samples with a ${st.groupBy} tag in this time range.`, 'empty');
      this.drawPie();
      return;
    }
    this.messageEl.hidden = true;
    this.groupsEl.querySelector('.explore-grid').hidden = false;
    this.renderTable(st);
    this.renderCompare(st);
    this.drawPie();
  }

  renderTable(st) {
    const m = this.meta;
    this.tbody.innerHTML = this.rows
      .map((r, k) => {
        const picked = r.query && r.value === st.groupValue && !r.other ? 'true' : 'false';
        const actions = r.query
          ? `<button type="button" data-act="filter" title="Show only ${escapeHTML(r.label)} in the single view">Filter</button>` +
            `<button type="button" data-act="left" title="Set as the left side of a comparison">Left</button>` +
            `<button type="button" data-act="right" title="Set as the right side of a comparison">Right</button>`
          : '';
        return (
          `<tr data-k="${k}" tabindex="${r.query ? 0 : -1}" aria-selected="${picked}"${r.query ? '' : ' class="static"'}>` +
          `<td class="value"><span class="dot" style="color:${r.color}" aria-hidden="true">●</span>${escapeHTML(r.label)}</td>` +
          `<td>${formatPercent(r.share)}</td>` +
          `<td title="${escapeHTML(formatValue(r.total, m))}">${escapeHTML(formatShortValue(r.total, m))}</td>` +
          `<td title="${escapeHTML(formatValue(r.avg, m))}">${escapeHTML(formatShortValue(r.avg, m))}</td>` +
          `<td title="${escapeHTML(formatValue(r.peak, m))}">${escapeHTML(formatShortValue(r.peak, m))}</td>` +
          `<td class="actions">${actions}</td></tr>`
        );
      })
      .join('');
  }

  renderCompare(st) {
    const l = st.leftQuery;
    const r = st.rightQuery;
    if (!l && !r) {
      this.compareBar.hidden = true;
      return;
    }
    this.compareBar.hidden = false;
    const ready = l && r && l !== r;
    this.compareBar.innerHTML =
      `<span>Compare <code>${escapeHTML(l || '(pick a left side)')}</code> with <code>${escapeHTML(r || '(pick a right side)')}</code>, over the same time range:</span>` +
      `<button type="button" data-open="diff"${ready ? '' : ' disabled'}>Open the diff</button>` +
      `<button type="button" data-open="comparison"${ready ? '' : ' disabled'}>Side by side</button>`;
  }

  onTableClick(e) {
    const tr = e.target.closest('tr[data-k]');
    if (!tr) return;
    const r = this.rows[Number(tr.dataset.k)];
    const b = e.target.closest('button[data-act]');
    if (!b) {
      this.pick(r);
      return;
    }
    const nav = this.ctx.navigate;
    if (b.dataset.act === 'filter') nav({ view: 'single', query: r.query, groupValue: '', zoom: '', fn: '', sandwich: '' });
    else if (b.dataset.act === 'left') nav({ leftQuery: r.query, leftFrom: '', leftUntil: '' });
    else nav({ rightQuery: r.query, rightFrom: '', rightUntil: '' });
  }

  pick(r) {
    if (!r || !r.query) return;
    this.ctx.navigate({ groupValue: r.value === this.st.groupValue ? '' : r.value, zoom: '', fn: '', sandwich: '' });
  }

  // The flame graph of the picked value.
  async loadGraph(st, gen, signal) {
    const r = this.rows && this.rows.find((x) => x.query && !x.other && x.value === st.groupValue);
    if (!r) {
      this.panel.host.hidden = true;
      this.graphRequest = null;
      return 'ready';
    }
    this.panel.host.hidden = false;
    const maxNodes = st.maxNodes || undefined;
    this.graphRequest = { kind: 'single', query: r.query, from: this.range.from, until: this.range.until, maxNodes };
    const key = `${gen}\n${r.query}\n${st.from}\n${st.until}\n${maxNodes}`;
    if (key !== this.graphSlot.key) {
      if (!this.panel.p) this.panel.setMessage({ kind: 'loading', title: 'Loading…' });
      try {
        const raw = await api.render({ query: r.query, from: st.from, until: st.until, maxNodes }, { signal });
        this.graphSlot = { key, value: raw };
      } catch (e) {
        if (e.name === 'AbortError' || signal.aborted) return 'aborted';
        this.panel.clear();
        this.panel.setMessage({ kind: 'error', title: 'The profile could not be loaded', html: `<p class="mono">${escapeHTML(e.message)}</p>` });
        return e instanceof ApiError && e.kind === 'network' ? 'offline' : 'error';
      }
      if (signal.aborted) return 'aborted';
      const p = decode(this.graphSlot.value);
      this.panel.setTitle(r.query);
      this.panel.setProfile(p, this.graphSlot.value, r.query);
      if (isEmpty(p)) {
        this.panel.setMessage({ kind: 'empty', title: 'No data in this time range', html: '' });
        return 'empty';
      }
    }
    return 'ready';
  }

  show(st, search, theme) {
    this.st = st;
    this.tags.setQuery(st.query);
    if (this.keys) this.keySel.value = st.groupBy;
    this.topSel.value = String(st.top);
    if (![...this.topSel.options].some((o) => o.value === String(st.top))) {
      this.topSel.append(new Option(`top ${st.top}`, String(st.top)));
      this.topSel.value = String(st.top);
    }
    if (this.rows) {
      this.renderTable(st);
      this.renderCompare(st);
    }
    const zoom = st.zoom ? st.zoom.split(';') : [];
    this.panel.apply({ zoom, search, fn: st.fn, sort: st.sort, show: st.show, theme, align: st.align, palette: st.palette, sandwich: st.sandwich, hide: st.hide });
  }

  // ---- Pie -----------------------------------------------------------------

  drawPie() {
    const box = this.pie.parentNode;
    const size = Math.max(0, Math.min(box.clientWidth, 260));
    if (!size) return;
    const dpr = window.devicePixelRatio || 1;
    this.pie.width = Math.round(size * dpr);
    this.pie.height = Math.round(size * dpr);
    this.pie.style.width = `${size}px`;
    this.pie.style.height = `${size}px`;
    const ctx = this.pie.getContext('2d');
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.clearRect(0, 0, size, size);
    this.slices = pieSlices(this.rows || [], this.total);
    this.pieSize = size;
    const c = size / 2;
    const rad = c - 4;
    const bg = getComputedStyle(this.pie).getPropertyValue('--panel').trim() || '#fff';
    for (const s of this.slices) {
      ctx.beginPath();
      ctx.moveTo(c, c);
      ctx.arc(c, c, rad, s.a0, s.a1);
      ctx.closePath();
      ctx.fillStyle = s.row.color;
      ctx.fill();
      ctx.strokeStyle = bg;
      ctx.lineWidth = s.row.value === (this.st && this.st.groupValue) && !s.row.other ? 3 : 1;
      ctx.stroke();
    }
    ctx.font = '11px system-ui, sans-serif';
    ctx.textAlign = 'center';
    ctx.textBaseline = 'middle';
    ctx.fillStyle = '#fff';
    for (const s of this.slices) {
      if (s.a1 - s.a0 < 0.35) continue;
      const m = (s.a0 + s.a1) / 2;
      ctx.fillText(formatPercent(s.row.share), c + Math.cos(m) * rad * 0.62, c + Math.sin(m) * rad * 0.62);
    }
  }

  sliceAt(e) {
    if (!this.slices) return null;
    const b = this.pie.getBoundingClientRect();
    const c = this.pieSize / 2;
    const x = e.clientX - b.left - c;
    const y = e.clientY - b.top - c;
    if (Math.hypot(x, y) > c - 4) return null;
    let a = Math.atan2(y, x);
    if (a < -Math.PI / 2) a += 2 * Math.PI;
    return this.slices.find((s) => a >= s.a0 && a < s.a1) || null;
  }

  onPieMove(e) {
    const s = this.sliceAt(e);
    if (!s) {
      this.ctx.tooltip.hide(this);
      this.pie.style.cursor = '';
      return;
    }
    this.pie.style.cursor = s.row.query ? 'pointer' : '';
    const r = s.row;
    this.ctx.tooltip.show(
      this,
      `<div class="name">${escapeHTML(r.label)}</div><div>${escapeHTML(formatValue(r.total, this.meta))} · ${formatPercent(r.share)} of total</div>`,
      e.clientX,
      e.clientY,
    );
  }
}
