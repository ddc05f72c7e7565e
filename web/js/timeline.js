// The timeline: samples over the time range as bars. Dragging across it
// selects a time range (the caller decides whether that zooms the range or
// sets a comparison side); hovering shows the time and value of a point.
// A hint in its corner says it can be dragged.

import { axisTicks, formatTime } from './time.js';
import { formatCompact } from './format.js';
import { escapeHTML } from './tooltip.js';

const AXIS = 18; // px under the bars for time labels
const TOP = 14;

function cssVar(el, name, fallback) {
  return getComputedStyle(el).getPropertyValue(name).trim() || fallback;
}

export class Timeline {
  // opts: { label, onSelect(from, until), tooltip, format(value) -> text,
  // short(value) -> text for the axis, side }
  constructor(host, opts = {}) {
    this.host = host;
    this.opts = opts;
    host.classList.add('timeline');
    this.canvas = document.createElement('canvas');
    this.canvas.setAttribute('role', 'img');
    this.canvas.setAttribute('aria-label', opts.label || 'Timeline');
    this.hint = document.createElement('span');
    this.hint.className = 'hint drag-hint';
    this.hint.setAttribute('aria-hidden', 'true');
    this.hint.textContent = opts.onSelect ? (opts.side ? `drag to pick the ${opts.side} side’s time` : 'drag to zoom into a time range') : '';
    host.append(this.canvas, this.hint);
    this.axisLabels = [];
    this.ctx = this.canvas.getContext('2d');
    this.data = null;
    this.range = null;
    this.selections = [];
    this.drag = null;
    this.hoverIdx = -1;
    this.colors = null;
    this.resize = new ResizeObserver(() => this.draw());
    this.resize.observe(host);
    const c = this.canvas;
    c.addEventListener('pointerdown', (e) => this.onDown(e));
    c.addEventListener('pointermove', (e) => this.onMove(e));
    c.addEventListener('pointerup', (e) => this.onUp(e));
    c.addEventListener('pointerleave', () => this.onLeave());
  }

  destroy() {
    this.resize.disconnect();
    if (this.opts.tooltip) this.opts.tooltip.hide(this);
    this.host.replaceChildren();
  }

  // tl: decodeTimeline() output or null; range: { from, until } in seconds;
  // max: the top of the y-scale when it is shared with another timeline
  // (0: this timeline's own largest value).
  setData(tl, range, max = 0) {
    this.data = tl;
    this.range = range;
    this.max = 0;
    if (tl) for (const v of tl.values) if (v !== null && v > this.max) this.max = v;
    if (max > this.max) this.max = max;
    this.draw();
  }

  // [{ from, until, side: 'left' | 'right' }]
  setSelections(list) {
    this.selections = list;
    this.draw();
  }

  setTheme() {
    this.colors = null;
    this.draw();
  }

  readColors() {
    const h = this.host;
    this.colors = {
      bar: cssVar(h, '--bar', '#9aa3b5'),
      barStrong: cssVar(h, '--bar-strong', '#5c6577'),
      grid: cssVar(h, '--grid', 'rgba(0,0,0,.07)'),
      muted: cssVar(h, '--muted', '#5f6673'),
      left: cssVar(h, '--left', '#e0508c'),
      leftSoft: cssVar(h, '--left-soft', 'rgba(224,80,140,.18)'),
      right: cssVar(h, '--right', '#3a7be0'),
      rightSoft: cssVar(h, '--right-soft', 'rgba(58,123,224,.18)'),
      drag: cssVar(h, '--row-hover', 'rgba(47,111,223,.1)'),
      focus: cssVar(h, '--focus', '#2f6fdf'),
    };
  }

  xOf(t) {
    const { from, until } = this.range;
    return ((t - from) / (until - from)) * this.width;
  }

  timeAt(x) {
    const { from, until } = this.range;
    return from + (Math.min(Math.max(x, 0), this.width) / this.width) * (until - from);
  }

  draw() {
    const w = Math.floor(this.host.clientWidth);
    const h = Math.floor(this.host.clientHeight);
    if (w <= 0 || h <= 0 || !this.range) return;
    if (!this.colors) this.readColors();
    const col = this.colors;
    this.width = w;
    const dpr = window.devicePixelRatio || 1;
    if (this.canvas.width !== Math.round(w * dpr) || this.canvas.height !== Math.round(h * dpr)) {
      this.canvas.width = Math.round(w * dpr);
      this.canvas.height = Math.round(h * dpr);
    }
    const ctx = this.ctx;
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.clearRect(0, 0, w, h);
    const plotH = h - AXIS - TOP;
    this.drawAxis(ctx, w, h, plotH, col);
    for (const s of this.selections) this.drawSelection(ctx, s, h - AXIS, col);
    this.drawBars(ctx, plotH, col);
    if (this.drag && Math.abs(this.drag.x1 - this.drag.x0) > 1) {
      const x = Math.min(this.drag.x0, this.drag.x1);
      ctx.fillStyle = this.drag.side ? col[`${this.drag.side}Soft`] : col.drag;
      ctx.fillRect(x, 0, Math.abs(this.drag.x1 - this.drag.x0), h - AXIS);
    }
  }

  drawAxis(ctx, w, h, plotH, col) {
    const { from, until } = this.range;
    const span = until - from;
    ctx.font = '11px system-ui, sans-serif';
    ctx.textBaseline = 'top';
    ctx.strokeStyle = col.grid;
    ctx.fillStyle = col.muted;
    ctx.beginPath();
    const labels = [];
    const minGap = span <= 86400 ? 70 : 110;
    for (const { t, label } of axisTicks(from, until, Math.max(2, Math.floor(w / minGap))).ticks) {
      const x = Math.round(this.xOf(t)) + 0.5;
      ctx.moveTo(x, 0);
      ctx.lineTo(x, h - AXIS + 3);
      const lw = ctx.measureText(label).width;
      ctx.fillText(label, Math.min(Math.max(x - lw / 2, 0), w - lw), h - AXIS + 4);
      labels.push(label);
    }
    this.axisLabels = labels;
    ctx.moveTo(0, h - AXIS + 0.5);
    ctx.lineTo(w, h - AXIS + 0.5);
    ctx.stroke();
    if (this.max > 0) {
      ctx.textBaseline = 'top';
      const short = this.opts.short || formatCompact;
      ctx.fillText(`max ${short(this.max)}${this.opts.perStep === false || !this.data ? '' : ` per ${this.data.step} s`}`, 4, 1);
    } else if (this.data) {
      ctx.textBaseline = 'middle';
      ctx.fillText('no samples in this range', 4, TOP + plotH / 2);
    }
  }

  drawSelection(ctx, s, bottom, col) {
    const x0 = Math.max(0, this.xOf(s.from));
    const x1 = Math.min(this.width, this.xOf(s.until));
    if (x1 <= x0) return;
    ctx.fillStyle = col[`${s.side}Soft`];
    ctx.fillRect(x0, 0, x1 - x0, bottom);
    ctx.fillStyle = col[s.side];
    ctx.fillRect(x0, 0, 2, bottom);
    ctx.fillRect(x1 - 2, 0, 2, bottom);
  }

  drawBars(ctx, plotH, col) {
    const tl = this.data;
    if (!tl || !(this.max > 0)) return;
    // At least two pixels, so a single push shows as a bar, not a hairline.
    const bw = Math.max(2, this.xOf(tl.start + tl.step) - this.xOf(tl.start));
    const gap = bw > 4 ? 1 : 0;
    for (let i = 0; i < tl.values.length; i++) {
      const v = tl.values[i];
      if (v === null) continue;
      const x = this.xOf(tl.start + i * tl.step);
      if (x + bw < 0 || x > this.width) continue;
      const bh = Math.max(v > 0 ? 1.5 : 0.5, (v / this.max) * plotH);
      ctx.fillStyle = i === this.hoverIdx ? col.barStrong : col.bar;
      ctx.fillRect(x, TOP + plotH - bh, bw - gap, bh);
    }
  }

  localX(e) {
    return e.clientX - this.canvas.getBoundingClientRect().left;
  }

  onDown(e) {
    if (e.button !== 0 || !this.range) return;
    this.canvas.setPointerCapture(e.pointerId);
    const x = this.localX(e);
    this.drag = { x0: x, x1: x, side: this.opts.side || null };
  }

  onMove(e) {
    if (!this.range) return;
    const x = this.localX(e);
    if (this.drag) {
      this.drag.x1 = Math.min(Math.max(x, 0), this.width);
      this.draw();
      this.showTip(e, this.drag);
      return;
    }
    this.hoverAt(x, e);
  }

  onUp(e) {
    const d = this.drag;
    this.drag = null;
    if (!d) return;
    this.draw();
    if (Math.abs(d.x1 - d.x0) < 4) return;
    const step = this.data ? this.data.step : 10;
    const a = this.timeAt(Math.min(d.x0, d.x1));
    const b = this.timeAt(Math.max(d.x0, d.x1));
    const from = Math.floor(a / step) * step;
    const until = Math.max(Math.ceil(b / step) * step, from + step);
    if (this.opts.tooltip) this.opts.tooltip.hide(this);
    if (this.opts.onSelect) this.opts.onSelect(from, until);
    this.hoverAt(this.localX(e), e);
  }

  onLeave() {
    if (this.drag) return;
    this.hoverIdx = -1;
    if (this.opts.tooltip) this.opts.tooltip.hide(this);
    this.draw();
  }

  hoverAt(x, e) {
    const tl = this.data;
    let idx = -1;
    if (tl) {
      const t = this.timeAt(x);
      idx = Math.floor((t - tl.start) / tl.step);
      if (idx < 0 || idx >= tl.values.length) idx = -1;
    }
    if (idx !== this.hoverIdx) {
      this.hoverIdx = idx;
      this.draw();
    }
    const tip = this.opts.tooltip;
    if (!tip) return;
    if (idx < 0) {
      tip.hide(this);
      return;
    }
    const t = tl.start + idx * tl.step;
    const v = tl.values[idx];
    const fmt = this.opts.format || ((n) => String(n));
    const span = this.range.until - this.range.from;
    tip.show(
      this,
      `<div class="name">${escapeHTML(formatTime(t, span, true))} – ${escapeHTML(formatTime(t + tl.step, 0, true))}</div>` +
        `<div>${v === null ? 'no data' : escapeHTML(fmt(v))}</div>`,
      e.clientX,
      e.clientY,
    );
  }

  showTip(e, d) {
    const tip = this.opts.tooltip;
    if (!tip) return;
    const a = this.timeAt(Math.min(d.x0, d.x1));
    const b = this.timeAt(Math.max(d.x0, d.x1));
    const span = this.range.until - this.range.from;
    tip.show(this, `<div>${escapeHTML(formatTime(a, span, true))} – ${escapeHTML(formatTime(b, span, true))}</div>`, e.clientX, e.clientY);
  }
}
