// The tag explorer's timeline: one line per tag value over the time range,
// on one y-scale. Hovering shows every value at that time; dragging across
// it selects a time range, as the main timeline does.

import { axisTicks, formatTime } from './time.js';
import { escapeHTML } from './tooltip.js';

const AXIS = 18;
const TOP = 16;
const LEFT = 4;

function cssVar(el, name, fallback) {
  return getComputedStyle(el).getPropertyValue(name).trim() || fallback;
}

export class LineChart {
  // opts: { label, tooltip, format(value) -> text, short(value) -> text,
  //         onSelect(from, until) }
  constructor(host, opts = {}) {
    this.host = host;
    this.opts = opts;
    host.classList.add('timeline', 'linechart');
    this.canvas = document.createElement('canvas');
    this.canvas.setAttribute('role', 'img');
    this.canvas.setAttribute('aria-label', opts.label || 'Timeline per value');
    const hint = document.createElement('span');
    hint.className = 'hint drag-hint';
    hint.setAttribute('aria-hidden', 'true');
    hint.textContent = 'drag to zoom into a time range';
    host.append(this.canvas, hint);
    this.ctx = this.canvas.getContext('2d');
    this.series = [];
    this.range = null;
    this.hoverIdx = -1;
    this.drag = null;
    this.axisLabels = [];
    // The axis and the lines are drawn once into `base`; a hover or a drag
    // only copies it and draws its guide on top.
    this.base = document.createElement('canvas');
    this.baseDirty = true;
    this.resize = new ResizeObserver(() => {
      this.baseDirty = true;
      this.draw();
    });
    this.resize.observe(host);
    const c = this.canvas;
    c.addEventListener('pointerdown', (e) => {
      if (e.button !== 0 || !this.range) return;
      c.setPointerCapture(e.pointerId);
      const x = this.localX(e);
      this.drag = { x0: x, x1: x };
    });
    c.addEventListener('pointermove', (e) => this.onMove(e));
    c.addEventListener('pointerup', () => this.onUp());
    c.addEventListener('pointerleave', () => {
      if (this.drag) return;
      this.hoverIdx = -1;
      if (opts.tooltip) opts.tooltip.hide(this);
      this.draw();
    });
  }

  destroy() {
    this.resize.disconnect();
    if (this.opts.tooltip) this.opts.tooltip.hide(this);
  }

  // data: { start, step, series: [{ label, color, values: (number|null)[] }] }
  // (values decoded as decodeTimeline does); range: { from, until }.
  setData(data, range) {
    this.data = data;
    this.range = range;
    this.max = 0;
    for (const s of data ? data.series : []) for (const v of s.values) if (v !== null && v > this.max) this.max = v;
    this.baseDirty = true;
    this.draw();
  }

  setTheme() {
    this.colors = null;
    this.baseDirty = true;
    this.draw();
  }

  localX(e) {
    return e.clientX - this.canvas.getBoundingClientRect().left;
  }

  xOf(t) {
    return LEFT + ((t - this.range.from) / (this.range.until - this.range.from)) * (this.width - LEFT);
  }

  timeAt(x) {
    const { from, until } = this.range;
    return from + (Math.min(Math.max(x - LEFT, 0), this.width - LEFT) / (this.width - LEFT)) * (until - from);
  }

  draw() {
    const w = Math.floor(this.host.clientWidth);
    const h = Math.floor(this.host.clientHeight);
    if (w <= 0 || h <= 0 || !this.range) return;
    if (!this.colors) {
      this.colors = {
        grid: cssVar(this.host, '--grid', 'rgba(0,0,0,.07)'),
        muted: cssVar(this.host, '--muted', '#5f6673'),
        drag: cssVar(this.host, '--row-hover', 'rgba(47,111,223,.1)'),
        text: cssVar(this.host, '--text', '#1b1d22'),
      };
    }
    const col = this.colors;
    this.width = w;
    const dpr = window.devicePixelRatio || 1;
    const cw = Math.round(w * dpr);
    const ch = Math.round(h * dpr);
    if (this.canvas.width !== cw || this.canvas.height !== ch) {
      this.canvas.width = cw;
      this.canvas.height = ch;
      this.baseDirty = true;
    }
    if (this.baseDirty) {
      this.base.width = cw;
      this.base.height = ch;
      const b = this.base.getContext('2d');
      b.setTransform(dpr, 0, 0, dpr, 0, 0);
      this.drawBase(b, w, h, col);
      this.baseDirty = false;
    }
    const ctx = this.ctx;
    ctx.setTransform(1, 0, 0, 1, 0, 0);
    ctx.clearRect(0, 0, cw, ch);
    ctx.drawImage(this.base, 0, 0);
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    const d = this.data;
    if (d && this.hoverIdx >= 0) {
      const x = Math.round(this.xOf(d.start + (this.hoverIdx + 0.5) * d.step)) + 0.5;
      ctx.strokeStyle = col.muted;
      ctx.lineWidth = 1;
      ctx.beginPath();
      ctx.moveTo(x, TOP);
      ctx.lineTo(x, h - AXIS);
      ctx.stroke();
    }
    if (this.drag && Math.abs(this.drag.x1 - this.drag.x0) > 1) {
      ctx.fillStyle = col.drag;
      ctx.fillRect(Math.min(this.drag.x0, this.drag.x1), 0, Math.abs(this.drag.x1 - this.drag.x0), h - AXIS);
    }
  }

  // The axis, its labels and the lines.
  drawBase(ctx, w, h, col) {
    ctx.clearRect(0, 0, w, h);
    const plotH = h - AXIS - TOP;
    const { from, until } = this.range;
    const span = until - from;
    ctx.font = '11px system-ui, sans-serif';
    ctx.textBaseline = 'top';
    ctx.strokeStyle = col.grid;
    ctx.fillStyle = col.muted;
    ctx.lineWidth = 1;
    ctx.beginPath();
    const labels = [];
    for (const { t, label } of axisTicks(from, until, Math.max(2, Math.floor(w / (span <= 86400 ? 70 : 110)))).ticks) {
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
    const d = this.data;
    if (!d || !(this.max > 0)) {
      if (d) {
        ctx.textBaseline = 'middle';
        ctx.fillText('no samples in this range', 8, TOP + plotH / 2);
      }
      return;
    }
    const short = this.opts.short || String;
    ctx.fillText(`max ${short(this.max)} per ${d.step} s`, 6, 1);
    const yOf = (v) => TOP + plotH - (v / this.max) * plotH;
    ctx.lineWidth = 1.75;
    ctx.lineJoin = 'round';
    for (const s of d.series) {
      ctx.strokeStyle = s.color;
      ctx.fillStyle = s.color;
      ctx.beginPath();
      let pen = false;
      const n = s.values.length;
      for (let i = 0; i < n; i++) {
        const v = s.values[i];
        if (v === null) {
          pen = false;
          continue;
        }
        const x = this.xOf(d.start + (i + 0.5) * d.step);
        if (pen) ctx.lineTo(x, yOf(v));
        else ctx.moveTo(x, yOf(v));
        pen = true;
        // A point with no neighbour to join shows as a dot.
        if ((i === 0 || s.values[i - 1] === null) && (i === n - 1 || s.values[i + 1] === null)) {
          ctx.fillRect(x - 2, yOf(v) - 2, 4, 4);
        }
      }
      ctx.stroke();
    }
  }

  onMove(e) {
    if (!this.range) return;
    const x = this.localX(e);
    if (this.drag) {
      this.drag.x1 = Math.min(Math.max(x, 0), this.width);
      this.draw();
      return;
    }
    const d = this.data;
    let idx = -1;
    if (d) {
      idx = Math.floor((this.timeAt(x) - d.start) / d.step);
      if (idx < 0 || idx >= (d.series[0] ? d.series[0].values.length : 0)) idx = -1;
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
    const fmt = this.opts.format || String;
    const t = d.start + idx * d.step;
    const rows = d.series
      .map((s) => `<tr><th><span class="dot" style="color:${s.color}">●</span> ${escapeHTML(s.label)}</th><td>${s.values[idx] === null ? 'no data' : escapeHTML(fmt(s.values[idx]))}</td></tr>`)
      .join('');
    tip.show(this, `<div class="name">${escapeHTML(formatTime(t, 0, true))} – ${escapeHTML(formatTime(t + d.step, 0, true))}</div><table>${rows}</table>`, e.clientX, e.clientY);
  }

  onUp() {
    const d = this.drag;
    this.drag = null;
    if (!d) return;
    this.draw();
    if (Math.abs(d.x1 - d.x0) < 4 || !this.opts.onSelect) return;
    const step = this.data ? this.data.step : 10;
    const a = this.timeAt(Math.min(d.x0, d.x1));
    const b = this.timeAt(Math.max(d.x0, d.x1));
    const from = Math.floor(a / step) * step;
    this.opts.onSelect(from, Math.max(Math.ceil(b / step) * step, from + step));
  }
}
