// The three views and what each shows and fetches:
//   single      one query, its timeline, one panel
//   comparison  two sides (left pink, right blue), each with its own query,
//               timeline and selected range, and a panel each
//   diff        the same two sides, one panel from /render-diff
// A view builds its DOM once; load() fetches what the state asks for (only
// what changed since the last load), show() applies zoom, search and sort.

import { api, ApiError } from './api.js';
import { decode, decodeTimeline, isEmpty } from './flamebearer.js';
import { sides, comparesQueries, withHide } from './state.js';
import { parseSelector, withLabel, appOf } from './query.js';
import { describeRange, formatTime, resolveRange, presetOf } from './time.js';
import { formatValue, formatShortValue } from './format.js';
import { TagBar } from './tags.js';
import { Timeline } from './timeline.js';
import { FlamePanel } from './panel.js';
import { escapeHTML } from './tooltip.js';

// Each loaded thing is remembered under the key of what was asked, so an
// unchanged request is not sent again when only, say, the zoom changed.
class Slot {
  constructor() {
    this.key = null;
    this.value = null;
  }
}

function sideSection(host, side, title) {
  const el = document.createElement('div');
  el.className = `side ${side}`;
  el.innerHTML = `<div class="side-title">${side === 'main' ? '' : '<span class="dot" aria-hidden="true">●</span>'}<span class="title">${escapeHTML(title)}</span><span class="range-text"></span></div><div class="tags-host"></div><div class="timeline-host"></div>`;
  if (side === 'main') el.querySelector('.side-title').hidden = true;
  host.append(el);
  return el;
}

export class View {
  // ctx: { kind, selectors, panels, tooltip, navigate(patch, opts), theme(),
  //        setStatus(s), banner(msg|null), onMessageAction }
  constructor(kind, ctx) {
    this.kind = kind;
    this.ctx = ctx;
    this.sides = [];
    this.panels = [];
    this.slots = {};
    const sel = ctx.selectors;
    const panels = ctx.panels;
    sel.replaceChildren();
    panels.replaceChildren();
    sel.className = kind === 'single' ? 'selectors' : 'selectors two';
    panels.className = kind === 'comparison' ? 'panels two' : 'panels';
    const valueFmt = (v) => formatValue(v, this.meta || {});
    const shortFmt = (v) => formatShortValue(v, this.meta || {});
    const mkSide = (key, title) => {
      const el = sideSection(sel, key, title);
      const field = key === 'main' ? 'query' : `${key}Query`;
      const tags = new TagBar(el.querySelector('.tags-host'), {
        label: key === 'main' ? 'Query' : `${title} query`,
        onQuery: (q) => ctx.navigate({ [field]: q, [key === 'main' ? 'zoom' : `${key}Zoom`]: '', fn: '' }),
      });
      const timeline = new Timeline(el.querySelector('.timeline-host'), {
        label: `${title} timeline: samples over time; drag to select a time range`,
        tooltip: ctx.tooltip,
        format: valueFmt,
        short: shortFmt,
        side: key === 'main' ? null : key,
        onSelect: (from, until) => {
          if (key === 'main') ctx.navigate({ from: String(from), until: String(until) });
          else ctx.navigate({ [`${key}From`]: String(from), [`${key}Until`]: String(until) });
        },
      });
      const s = { key, el, tags, timeline, rangeText: el.querySelector('.range-text') };
      this.sides.push(s);
      return s;
    };
    const mkPanel = (side, title) => {
      const host = document.createElement('section');
      panels.append(host);
      const zoomField = side === 'left' ? 'leftZoom' : side === 'right' ? 'rightZoom' : 'zoom';
      const p = new FlamePanel(host, {
        side,
        title,
        tooltip: ctx.tooltip,
        menu: ctx.menu,
        onZoom: (path) => ctx.navigate({ [zoomField]: path.join(';') }),
        onSelectFn: (name) => ctx.navigate({ fn: name }),
        onSort: (sort) => ctx.navigate({ sort }, { replace: true }),
        onSearch: (name) => ctx.navigate({ search: name, regex: false, fn: '' }, { replace: true }),
        onSandwich: (name) => ctx.navigate({ sandwich: name }),
        onHide: (name, kind) => ctx.navigate({ hide: withHide(this.st ? this.st.hide : '', name, kind), zoom: '', leftZoom: '', rightZoom: '' }),
        onPalette: (scheme) => ctx.navigate({ palette: scheme }, { replace: true }),
        request: () => this.requestOf(side),
      });
      p.zoomField = zoomField;
      this.panels.push(p);
      return p;
    };
    if (kind === 'single') {
      const main = mkSide('main', 'Query');
      this.compare = new CompareMenu(main.el.querySelector('.tags-host'), ctx);
      mkPanel('single', 'Profile');
    } else {
      mkSide('left', 'Left');
      mkSide('right', 'Right');
      if (kind === 'comparison') {
        mkPanel('left', 'Left');
        mkPanel('right', 'Right');
      } else {
        mkPanel('diff', 'Diff');
      }
    }
  }

  // What the server exports of a panel need: its query and resolved range,
  // or both sides for the diff (download.js).
  requestOf(side) {
    const plan = this.plan_;
    if (!plan) return null;
    const maxNodes = plan.maxNodes || (plan.main && plan.main.maxNodes);
    if (side === 'single') return { kind: 'single', query: plan.main.query, from: plan.range.from, until: plan.range.until, maxNodes };
    if (side === 'diff') return { kind: 'diff', left: plan.left, right: plan.right, maxNodes };
    return { kind: 'single', side, ...plan[side], maxNodes };
  }

  destroy() {
    for (const s of this.sides) s.timeline.destroy();
    for (const p of this.panels) p.destroy();
    this.ctx.selectors.replaceChildren();
    this.ctx.panels.replaceChildren();
  }

  setTheme() {
    for (const s of this.sides) s.timeline.setTheme();
  }

  // What each side asks for, resolved against the clock of the load.
  plan(st, now) {
    const range = resolveRange(st.from, st.until, now);
    const maxNodes = st.maxNodes || undefined;
    if (this.kind === 'single') {
      return { range, main: { query: st.query, from: st.from, until: st.until, maxNodes } };
    }
    const s = sides(st, now);
    return { range, left: s.left, right: s.right, maxNodes };
  }

  // Fetches what the state needs. gen changes on every refresh, so a
  // refresh re-fetches even when nothing else changed.
  async load(st, gen, signal) {
    const now = Math.floor(Date.now() / 1000);
    let plan;
    try {
      plan = this.plan(st, now);
    } catch (e) {
      for (const p of this.panels) p.setMessage({ kind: 'error', title: 'This time range cannot be shown', html: `<p>${escapeHTML(e.message)}</p>` });
      return 'error';
    }
    const jobs = [];
    const fetchSlot = (name, key, run) => {
      const slot = (this.slots[name] ||= new Slot());
      const k = `${gen}\n${JSON.stringify(key)}`;
      if (slot.key === k) return;
      jobs.push(
        run().then(
          (v) => ({ name, slot, k, value: v }),
          (e) => ({ name, slot, k, error: e }),
        ),
      );
    };
    if (this.kind === 'single') {
      const m = plan.main;
      fetchSlot('main', m, () => api.render(m, { signal }));
    } else {
      for (const side of ['left', 'right']) {
        const s = plan[side];
        // The timeline spans the main range; the graph only the selection.
        fetchSlot(`${side}Timeline`, [s.query, st.from, st.until], () =>
          api.render({ query: s.query, from: st.from, until: st.until, maxNodes: 1 }, { signal }),
        );
        if (this.kind === 'comparison') {
          fetchSlot(side, [s.query, s.from, s.until, plan.maxNodes], () =>
            api.render({ query: s.query, from: s.from, until: s.until, maxNodes: plan.maxNodes }, { signal }),
          );
        }
      }
      if (this.kind === 'diff') {
        const { left: l, right: r } = plan;
        fetchSlot('diff', [l, r, plan.maxNodes], () =>
          api.renderDiff(
            {
              leftQuery: l.query,
              leftFrom: l.from,
              leftUntil: l.until,
              rightQuery: r.query,
              rightFrom: r.from,
              rightUntil: r.until,
              maxNodes: plan.maxNodes,
            },
            { signal },
          ),
        );
      }
    }
    this.plan_ = plan;
    this.showRanges(st, plan, now);
    if (!jobs.length) return this.status || 'ready';
    for (const p of this.panels) if (!p.p) p.setMessage({ kind: 'loading', title: 'Loading…' });
    const results = await Promise.all(jobs);
    if (signal.aborted) return 'aborted';
    return this.accept(results, st, plan);
  }

  showRanges(st, plan, now) {
    for (const s of this.sides) {
      if (s.key === 'main') continue;
      const r = plan[s.key];
      const span = r.until - r.from;
      const same = comparesQueries(st) && r.from === plan.range.from && r.until === plan.range.until;
      const when = same ? 'the whole range, as the other side' : `${formatTime(r.from, Math.max(span, 86401))} – ${formatTime(r.until, span)}`;
      s.rangeText.textContent = `${when} · ${s.key === 'left' ? st.leftQuery || st.query : st.rightQuery || st.query}`;
    }
    this.rangeNow = now;
  }

  // Takes fetched results into the components; returns the page status.
  accept(results, st, plan) {
    let status = 'ready';
    let network = null;
    let auth = null;
    for (const r of results) {
      if (r.error && r.error.name === 'AbortError') return 'aborted';
      if (r.error && r.error.kind === 'network') network = r.error;
      if (r.error && r.error.kind === 'auth') auth = r.error;
    }
    // Neither is remembered: the next load asks again.
    if (network) {
      this.ctx.banner(network);
      return 'offline';
    }
    if (auth) {
      this.ctx.banner(auth);
      return 'auth';
    }
    // A token whose role cannot read: the banner offers another one, and
    // the panels below say what failed.
    const denied = results.find((r) => r.error && r.error.status === 403);
    this.ctx.banner(denied ? denied.error : null);
    for (const r of results) {
      r.slot.key = r.k;
      r.slot.value = r.error ? { error: r.error } : { raw: r.value };
    }
    for (const r of results) {
      const s = this.sideOf(r.name);
      if (s) s.tags.setError(r.error && r.error.status === 400 ? r.error.message : '');
    }
    // Timelines. Two sides that compare queries over one range share one
    // y-scale, so their heights compare.
    const tls = this.sides.map((s) => {
      const slot = this.slots[s.key === 'main' ? 'main' : `${s.key}Timeline`];
      const raw = slot && slot.value && slot.value.raw;
      if (raw && raw.metadata) this.meta = raw.metadata;
      return raw ? decodeTimeline(raw.timeline) : null;
    });
    const shared = this.kind !== 'single' && comparesQueries(st);
    let max = 0;
    if (shared) for (const tl of tls) if (tl) for (const v of tl.values) if (v !== null && v > max) max = v;
    this.sides.forEach((s, k) => {
      s.timeline.setData(tls[k], plan.range, shared ? max : 0);
      if (s.key === 'main') return;
      const r = plan[s.key];
      const whole = r.from === plan.range.from && r.until === plan.range.until;
      s.timeline.setSelections(whole ? [] : [{ ...r, side: s.key }]);
    });
    // Panels
    const panelSlot = { single: 'main', left: 'left', right: 'right', diff: 'diff' };
    const changed = new Set(results.map((r) => r.name));
    for (const p of this.panels) {
      if (!changed.has(panelSlot[p.side])) {
        if (p.status && p.status !== 'ready' && status === 'ready') status = p.status;
        continue;
      }
      const v = this.slots[panelSlot[p.side]].value;
      const query = p.side === 'single' ? st.query : p.side === 'diff' ? null : plan[p.side].query;
      p.status = this.panelStatus(p, v, query, st, plan);
      if (p.status !== 'ready' && status === 'ready') status = p.status;
    }
    this.status = status;
    return status;
  }

  sideOf(slotName) {
    if (slotName === 'main') return this.sides.find((s) => s.key === 'main');
    if (slotName.startsWith('left')) return this.sides.find((s) => s.key === 'left');
    if (slotName.startsWith('right')) return this.sides.find((s) => s.key === 'right');
    return null;
  }

  panelStatus(panel, v, query, st, plan) {
    if (v.error) {
      const e = v.error;
      const bad = e instanceof ApiError && e.status === 400;
      panel.clear();
      panel.setTitle(panel.side === 'diff' ? 'Diff' : query, ' ');
      panel.setMessage({
        kind: 'error',
        title: bad ? 'The server could not run this query' : 'The profile could not be loaded',
        html: `<p class="mono">${escapeHTML(e.message)}</p>`,
      });
      return 'error';
    }
    let p;
    try {
      p = decode(v.raw);
    } catch (e) {
      panel.clear();
      panel.setMessage({ kind: 'error', title: 'The profile could not be shown', html: `<p>${escapeHTML(e.message)}</p>` });
      return 'error';
    }
    const title = panel.side === 'diff' ? `${plan.left.query} → ${plan.right.query}` : query;
    panel.setTitle(title);
    panel.setProfile(p, v.raw, panel.side === 'diff' ? `diff-${plan.right.query}` : query);
    if (isEmpty(p)) {
      let where = 'the selected range';
      if (panel.side === 'single') {
        where = presetOf(st.from, st.until) ? describeRange(st.from, st.until).toLowerCase() : describeRange(st.from, st.until, this.rangeNow);
      }
      panel.setMessage({
        kind: 'empty',
        title: 'No data in this time range',
        html: `<p>Nothing was recorded for <code>${escapeHTML(panel.side === 'diff' ? 'either side' : query)}</code> in ${escapeHTML(where)}.</p>` +
          '<p>Pick a longer range, remove a tag filter, or check that the agent is sending to this server.</p>',
        actions: [
          { label: 'Last 24 hours', run: () => this.ctx.navigate({ from: 'now-24h', until: 'now', leftFrom: '', leftUntil: '', rightFrom: '', rightUntil: '' }) },
          { label: 'Last 7 days', run: () => this.ctx.navigate({ from: 'now-7d', until: 'now', leftFrom: '', leftUntil: '', rightFrom: '', rightUntil: '' }) },
        ],
      });
      return 'empty';
    }
    return 'ready';
  }

  // Applies the parts of the state that need no fetch.
  show(st, search, theme) {
    this.st = st;
    for (const s of this.sides) {
      s.tags.setQuery(s.key === 'main' ? st.query : st[`${s.key}Query`] || st.query);
    }
    if (this.compare) this.compare.setQuery(st.query);
    for (const p of this.panels) {
      const zoom = st[p.zoomField] ? st[p.zoomField].split(';') : [];
      p.apply({
        zoom,
        search,
        fn: st.fn,
        sort: st.sort,
        show: st.show,
        theme,
        align: st.align,
        palette: st.palette,
        sandwich: st.sandwich,
        hide: st.hide,
      });
    }
  }

  // Whether any panel is zoomed (for the reset button).
  zoomed(st) {
    return this.panels.some((p) => st[p.zoomField]);
  }
}

// "Compare this tag value with …": from the single view, one click opens
// the diff (or the side-by-side comparison) of the query with one of its
// tags bound to another value, over the same time range.
class CompareMenu {
  constructor(host, ctx) {
    this.ctx = ctx;
    this.query = '';
    const el = document.createElement('details');
    el.className = 'popover compare';
    el.innerHTML = `<summary title="Compare this tag value with another: what differs between them over the same time">Compare…</summary>
      <div class="popover-body right">
        <label>Tag <select class="compare-key"></select></label>
        <label>This side <select class="compare-left"></select></label>
        <p class="hint">Compare with, over the same time range:</p>
        <div class="compare-values" role="group" aria-label="Compare with"></div>
        <div class="segmented" role="group" aria-label="Show the comparison as">
          <button type="button" data-as="diff" aria-pressed="true">Diff</button>
          <button type="button" data-as="comparison" aria-pressed="false">Side by side</button>
        </div>
      </div>`;
    host.append(el);
    this.el = el;
    this.keySel = el.querySelector('.compare-key');
    this.leftSel = el.querySelector('.compare-left');
    this.valuesEl = el.querySelector('.compare-values');
    this.as = 'diff';
    el.addEventListener('toggle', () => {
      if (el.open) this.loadKeys();
    });
    this.keySel.addEventListener('change', () => this.loadValues());
    this.leftSel.addEventListener('change', () => this.renderValues());
    el.querySelector('.segmented').addEventListener('click', (e) => {
      const b = e.target.closest('button[data-as]');
      if (!b) return;
      this.as = b.dataset.as;
      for (const x of el.querySelectorAll('[data-as]')) x.setAttribute('aria-pressed', String(x === b));
    });
    this.valuesEl.addEventListener('click', (e) => {
      const b = e.target.closest('button[data-value]');
      if (b) this.go(b.dataset.value);
    });
  }

  setQuery(q) {
    if (q === this.query) return;
    this.query = q;
    this.keysFor = null;
    if (this.el.open) this.loadKeys();
  }

  parsed() {
    try {
      return parseSelector(this.query);
    } catch {
      return null;
    }
  }

  async loadKeys() {
    const app = appOf(this.query);
    if (!app || this.keysFor === app) return;
    this.keysFor = app;
    let keys = [];
    try {
      keys = (await api.labels(`${app}{}`)).filter((k) => k !== '__name__');
    } catch {
      this.keysFor = null;
      return;
    }
    const p = this.parsed();
    const bound = p && p.matchers.find((m) => m.op === '=' && keys.includes(m.key));
    this.keySel.innerHTML = keys.map((k) => `<option value="${escapeHTML(k)}">${escapeHTML(k)}</option>`).join('');
    if (!keys.length) {
      this.valuesEl.innerHTML = '<p class="hint">This app has no tags to compare.</p>';
      return;
    }
    this.keySel.value = bound ? bound.key : keys[0];
    this.loadValues();
  }

  async loadValues() {
    const key = this.keySel.value;
    const app = appOf(this.query);
    let values = [];
    try {
      values = await api.labelValues(key, `${app}{}`);
    } catch {
      return;
    }
    if (this.keySel.value !== key) return;
    const p = this.parsed();
    const bound = p && p.matchers.find((m) => m.key === key && m.op === '=');
    this.leftSel.innerHTML = values.map((v) => `<option value="${escapeHTML(v)}">${escapeHTML(`${key}=${v}`)}</option>`).join('');
    this.leftSel.value = bound && values.includes(bound.value) ? bound.value : values[0] || '';
    this.values = values;
    this.renderValues();
  }

  renderValues() {
    const key = this.keySel.value;
    const left = this.leftSel.value;
    const others = (this.values || []).filter((v) => v !== left);
    this.valuesEl.innerHTML = others.length
      ? others.map((v) => `<button type="button" data-value="${escapeHTML(v)}">${escapeHTML(`${key}=${v}`)}</button>`).join('')
      : '<p class="hint">No other value.</p>';
  }

  go(value) {
    const key = this.keySel.value;
    let left;
    let right;
    try {
      left = withLabel(this.query, key, this.leftSel.value);
      right = withLabel(this.query, key, value);
    } catch {
      return;
    }
    this.el.open = false;
    this.ctx.navigate({
      view: this.as,
      query: left,
      leftQuery: left,
      rightQuery: right,
      leftFrom: '',
      leftUntil: '',
      rightFrom: '',
      rightUntil: '',
      zoom: '',
      leftZoom: '',
      rightZoom: '',
      fn: '',
      sandwich: '',
      sort: '',
    });
  }
}
