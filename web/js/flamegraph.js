// The flame graph: a canvas drawing of a decoded profile, with hover, click
// to zoom and highlighting.
//
// Speed at 50,000 nodes comes from three choices. Colors, buffers and the
// per-level order are prepared once per data set. Each draw asks layout.js
// only for the frames inside the zoom window and at least half a pixel
// wide. And the frames are not drawn with one canvas call each: a big
// profile has thousands of one-pixel slivers, and a canvas call costs more
// than the pixels it paints. Instead each row of frames is painted into one
// scanline of 32-bit pixels, copied down the row's height, and the whole
// image goes to the canvas in a single putImageData. Labels, a few hundred
// at most, are drawn on top with fillText.

import { makeRects, visibleRects, hitTest } from './layout.js';
import { nodeColorFn, palette, textColor, DIM, PALETTE_SIZE } from './colors.js';
import { elideLabel as elide } from './label.js';

export const ROW_HEIGHT = 18;
const FONT = '12px ui-monospace, SFMono-Regular, Menlo, Consolas, "Liberation Mono", monospace';
const MIN_WIDTH = 0.5; // narrower frames are not drawn
const MAX_CANVAS = 32000; // browsers refuse taller canvases
const FADE = 0.55; // opacity of the rows above a zoomed frame
let charWidth = 0; // of FONT, measured once

// CSS colors to pixels as the canvas stores them (RGBA bytes, read as one
// little-endian 32-bit word), by letting the browser paint them.
let probe = null;
function pixelsOf(colors) {
  if (!probe) {
    const c = document.createElement('canvas');
    c.width = 1;
    c.height = 1;
    probe = c.getContext('2d', { willReadFrequently: true });
  }
  const out = new Uint32Array(colors.length);
  for (let i = 0; i < colors.length; i++) {
    probe.clearRect(0, 0, 1, 1);
    probe.fillStyle = '#000';
    probe.fillStyle = colors[i];
    probe.fillRect(0, 0, 1, 1);
    out[i] = new Uint32Array(probe.getImageData(0, 0, 1, 1).data.buffer)[0] | 0xff000000;
  }
  return out;
}

function mix(a, b, t) {
  let out = 0xff000000;
  for (let s = 0; s < 24; s += 8) {
    const ca = (a >>> s) & 255;
    const cb = (b >>> s) & 255;
    out |= Math.round(ca * t + cb * (1 - t)) << s;
  }
  return out >>> 0;
}

export class FlameGraph {
  // host: an empty element. opts: { label, onZoom(node), describe(node) ->
  // tooltip HTML, tooltip (tooltip.js) }.
  constructor(host, opts = {}) {
    this.host = host;
    this.opts = opts;
    host.classList.add('flame');
    this.canvas = document.createElement('canvas');
    this.canvas.tabIndex = 0;
    this.canvas.setAttribute('role', 'img');
    this.canvas.setAttribute('aria-label', opts.label || 'Flame graph');
    this.hoverBox = document.createElement('div');
    this.hoverBox.className = 'hover-box';
    host.append(this.canvas, this.hoverBox);
    host.style.height = '0px';
    this.ctx = this.canvas.getContext('2d', { alpha: false });
    this.p = null;
    this.zoom = 0;
    this.hit = null;
    this.hover = -1;
    this.width = 0;
    this.lastDrawMs = 0;
    this.pending = 0;
    this.setTheme('light', false);
    // Give the canvas and the pixel buffer their memory now, before data
    // arrives, so the first draw does not pay for them.
    const dpr = window.devicePixelRatio || 1;
    this.fit(Math.max(1, Math.round(host.clientWidth * dpr)), ROW_HEIGHT, dpr);
    this.resize = new ResizeObserver(() => this.scheduleDraw());
    this.resize.observe(host);
    this.canvas.addEventListener('mousemove', (e) => this.onMove(e));
    this.canvas.addEventListener('mouseleave', () => this.setHover(-1));
    this.canvas.addEventListener('click', (e) => this.onClick(e));
  }

  destroy() {
    this.resize.disconnect();
    if (this.pending) cancelAnimationFrame(this.pending);
    if (this.opts.tooltip) this.opts.tooltip.hide(this);
    this.host.replaceChildren();
  }

  // A new data set: buffers are prepared here, once.
  setData(p, zoom = 0) {
    this.p = p;
    this.colorFn = nodeColorFn(p);
    // The rectangle buffers are kept while they are big enough: fresh
    // memory costs page faults on first use.
    if (!this.rects || this.rects.node.length < p.n) this.rects = makeRects(p.n);
    this.zoom = zoom;
    this.hit = null;
    this.setHover(-1);
    this.draw();
  }

  setZoom(node) {
    if (!this.p) return;
    this.zoom = node > 0 && node < this.p.n ? node : 0;
    this.setHover(-1);
    this.draw();
  }

  // hit: Uint8Array per node (1 = matches) or null for no highlight.
  setHighlight(hit) {
    this.hit = hit;
    this.draw();
  }

  setTheme(theme, redraw = true) {
    this.theme = theme;
    this.pal = palette(theme);
    this.bg = getComputedStyle(this.host).getPropertyValue('--panel').trim() || (theme === 'dark' ? '#1b1e25' : '#ffffff');
    const px = pixelsOf([...this.pal, this.bg]);
    this.bgPixel = px[PALETTE_SIZE];
    this.pixels = px.subarray(0, PALETTE_SIZE);
    this.faded = this.pixels.map((c) => mix(c, this.bgPixel, FADE));
    if (redraw) this.draw();
  }

  scheduleDraw() {
    if (this.pending) return;
    this.pending = requestAnimationFrame(() => {
      this.pending = 0;
      this.draw();
    });
  }

  // Resizing a canvas reallocates and clears it, which costs more than a
  // whole draw; so the canvas only grows, in steps, and the host (overflow
  // hidden) shows the part in use.
  fit(cw, ch, dpr) {
    const c = this.canvas;
    if (c.width === cw && c.height >= ch && this.image) return;
    const viewport = Math.round((window.innerHeight || 800) * dpr);
    const grow = c.width === cw ? Math.ceil(c.height * 1.5) : 0;
    const h = Math.min(Math.max(ch, grow, viewport), MAX_CANVAS);
    c.width = cw;
    c.height = h;
    c.style.width = `${cw / dpr}px`;
    c.style.height = `${h / dpr}px`;
    this.image = this.ctx.createImageData(cw, h);
    this.u32 = new Uint32Array(this.image.data.buffer);
    this.u32.fill(this.bgPixel); // touch the memory now rather than in a draw
    this.line = new Uint32Array(cw);
    this.ctx.putImageData(this.image, 0, 0);
  }

  // Draws synchronously and returns the time it took in milliseconds.
  draw() {
    const t0 = performance.now();
    const p = this.p;
    const width = Math.floor(this.host.clientWidth);
    if (!p || width <= 0) return 0;
    this.width = width;
    const dpr = window.devicePixelRatio || 1;
    const cssHeight = Math.min(p.levels * ROW_HEIGHT, Math.floor(MAX_CANVAS / dpr));
    const cw = Math.round(width * dpr);
    const ch = Math.round(cssHeight * dpr);
    this.fit(cw, ch, dpr);
    if (this.cssHeight !== cssHeight) {
      this.host.style.height = `${cssHeight}px`;
      this.cssHeight = cssHeight;
    }
    this.dpr = dpr;
    const t1 = performance.now();
    const count = visibleRects(p, this.zoom, width, MIN_WIDTH, this.rects);
    const t2 = performance.now();
    this.paint(count, cw, ch, dpr);
    const t3 = performance.now();
    this.ctx.putImageData(this.image, 0, 0, 0, 0, cw, ch);
    const t4 = performance.now();
    this.drawLabels(count, dpr);
    const t5 = performance.now();
    // Where the time of the last draw went (the benchmark prints it).
    this.drawStats = { setup: t1 - t0, layout: t2 - t1, paint: t3 - t2, put: t4 - t3, labels: t5 - t4, frames: count };
    this.lastDrawMs = t5 - t0;
    return this.lastDrawMs;
  }

  colorOf(i) {
    return this.hit && !this.hit[i] && i > 0 ? DIM : this.colorFn(i);
  }

  // Paints the frames into the pixel buffer, one row of frames at a time:
  // fill spans of a scanline, then copy it down the row's height. Frames
  // come from layout.js row by row, left to right.
  paint(count, cw, ch, dpr) {
    const { p, rects: r, u32, line, pixels, faded, bgPixel } = this;
    const gap = Math.max(1, Math.round(dpr));
    let row = -1;
    let done = 0; // pixels written so far, from the top
    // Rows come without holes from the top, so every pixel is written once:
    // the row's lines, then the gap line under it, then, after the last
    // row, the background down to the bottom.
    const flush = () => {
      const y0 = Math.round(row * ROW_HEIGHT * dpr);
      const y1 = Math.min(Math.round(((row + 1) * ROW_HEIGHT - 1) * dpr), ch);
      const y2 = Math.min(Math.round((row + 1) * ROW_HEIGHT * dpr), ch);
      if (done < y0 * cw) u32.fill(bgPixel, done, y0 * cw);
      for (let y = y0; y < y1; y++) u32.set(line, y * cw);
      u32.fill(bgPixel, y1 * cw, y2 * cw);
      done = y2 * cw;
    };
    for (let k = 0; k < count; k++) {
      const i = r.node[k];
      const d = p.depth[i];
      if (d !== row) {
        if (row >= 0) flush();
        row = d;
        line.fill(bgPixel);
      }
      let x0 = Math.round(r.x[k] * dpr);
      let x1 = Math.round((r.x[k] + r.w[k]) * dpr);
      // A gap between frames that are wide enough to spare it.
      if (x1 - x0 > 2 * gap) x1 -= gap;
      else if (x1 <= x0) x1 = x0 + 1;
      if (x0 < 0) x0 = 0;
      if (x1 > cw) x1 = cw;
      const c = this.colorOf(i);
      line.fill(r.ancestor[k] ? faded[c] : pixels[c], x0, x1);
    }
    if (row >= 0) flush();
    if (done < cw * ch) u32.fill(bgPixel, done, cw * ch);
  }

  drawLabels(count, dpr) {
    const { ctx, p, rects: r } = this;
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.font = FONT;
    ctx.textBaseline = 'middle';
    if (!charWidth) charWidth = ctx.measureText('0').width || 7.2;
    const cw = charWidth;
    const minW = cw * 4 + 6;
    const text = textColor(this.theme);
    const dimText = this.theme === 'dark' ? '#6b7180' : '#9aa0ab';
    ctx.fillStyle = text;
    let current = text;
    for (let k = 0; k < count; k++) {
      const w = r.w[k];
      if (w < minW) continue;
      const i = r.node[k];
      let name = p.names[p.name[i]];
      if (i === 0) name = this.rootLabel || name;
      const s = elide(name, Math.floor((w - 6) / cw));
      if (!s) continue;
      const want = this.hit && i > 0 && !this.hit[i] ? dimText : text;
      if (want !== current) {
        ctx.fillStyle = want;
        current = want;
      }
      ctx.fillText(s, r.x[k] + 3, p.depth[i] * ROW_HEIGHT + (ROW_HEIGHT - 1) / 2 + 0.5);
    }
  }

  // The drawn part of the canvas as a PNG blob (the canvas itself may be
  // taller than what is in use).
  toPNG(callback) {
    const c = document.createElement('canvas');
    c.width = this.canvas.width;
    c.height = Math.round((this.cssHeight || 0) * (this.dpr || 1));
    c.getContext('2d').drawImage(this.canvas, 0, 0);
    c.toBlob(callback, 'image/png');
  }

  nodeAtEvent(e) {
    if (!this.p || !this.width) return -1;
    const box = this.canvas.getBoundingClientRect();
    const x = e.clientX - box.left;
    const depth = Math.floor((e.clientY - box.top) / ROW_HEIGHT);
    return hitTest(this.p, this.zoom, this.width, x, depth);
  }

  onMove(e) {
    this.setHover(this.nodeAtEvent(e), e);
  }

  setHover(i, e) {
    const tip = this.opts.tooltip;
    this.hover = i;
    const box = i >= 0 ? this.rectOf(i) : null;
    if (!box) {
      if (this.hoverShown) this.hoverBox.style.display = 'none';
      this.hoverShown = false;
      if (tip) tip.hide(this);
      return;
    }
    this.hoverShown = true;
    Object.assign(this.hoverBox.style, {
      display: 'block',
      left: `${box.x}px`,
      top: `${box.y}px`,
      width: `${Math.max(box.w - 1, 1)}px`,
      height: `${ROW_HEIGHT - 1}px`,
    });
    if (tip && e && this.opts.describe) tip.show(this, this.opts.describe(i), e.clientX, e.clientY);
  }

  onClick(e) {
    const i = this.nodeAtEvent(e);
    if (i >= 0 && this.opts.onZoom) this.opts.onZoom(i);
  }

  // Where node i is drawn, in CSS pixels relative to the canvas, or null
  // when it is outside the view.
  rectOf(i) {
    const p = this.p;
    if (!p || i < 0 || i >= p.n || !this.width) return null;
    const z = this.zoom;
    const y = p.depth[i] * ROW_HEIGHT;
    if (p.depth[i] <= p.depth[z]) {
      let k = z;
      while (p.depth[k] > p.depth[i]) k = p.parent[k];
      return k === i ? { x: 0, y, w: this.width } : null;
    }
    const scale = this.width / p.total[z];
    const x = (p.x[i] - p.x[z]) * scale;
    const w = p.total[i] * scale;
    if (x < 0 || x >= this.width) return null;
    return { x, y, w };
  }
}
