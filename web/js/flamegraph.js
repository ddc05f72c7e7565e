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
import { firstAtOrAfter } from './flamebearer.js';
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
  // tooltip HTML, tooltip (tooltip.js), onMenu(node, clientX, clientY)
  // (right click, long press, the context menu key), inverted (the root at
  // the bottom, for a sandwich's callers), speak(node) -> text read out
  // when the keyboard moves to a frame }.
  constructor(host, opts = {}) {
    this.host = host;
    this.opts = opts;
    this.inverted = Boolean(opts.inverted);
    this.align = 'left';
    host.classList.add('flame');
    this.canvas = document.createElement('canvas');
    this.canvas.tabIndex = 0;
    this.canvas.setAttribute('role', 'application');
    this.canvas.setAttribute('aria-roledescription', 'flame graph');
    this.canvas.setAttribute('aria-label', `${opts.label || 'Flame graph'}: arrow keys move between frames, Home goes to the top, Enter zooms, the context menu key opens a frame's menu`);
    this.hoverBox = document.createElement('div');
    this.hoverBox.className = 'hover-box';
    this.live = document.createElement('div');
    this.live.className = 'visually-hidden';
    this.live.setAttribute('aria-live', 'polite');
    host.append(this.canvas, this.hoverBox, this.live);
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
    this.focusNode = -1; // the frame the keyboard is on
    this.drawnLabels = []; // [{ node, text }] of the last draw
    const c = this.canvas;
    c.addEventListener('mousemove', (e) => this.onMove(e));
    c.addEventListener('mouseleave', () => (this.focusNode >= 0 && document.activeElement === c ? this.showFocus() : this.setHover(-1)));
    c.addEventListener('click', (e) => this.onClick(e));
    c.addEventListener('contextmenu', (e) => this.onContextMenu(e));
    c.addEventListener('keydown', (e) => this.onKey(e));
    c.addEventListener('focus', () => {
      if (this.focusNode < 0 || !this.rectOf(this.focusNode)) this.focusNode = this.zoom;
      this.showFocus();
    });
    c.addEventListener('blur', () => this.setHover(-1));
    // A long press on a touch screen opens the frame's menu.
    c.addEventListener('pointerdown', (e) => this.onPointerDown(e));
    for (const ev of ['pointerup', 'pointercancel', 'pointerleave']) c.addEventListener(ev, () => this.cancelPress());
    c.addEventListener('pointermove', (e) => {
      if (this.press && Math.hypot(e.clientX - this.press.x, e.clientY - this.press.y) > 10) this.cancelPress();
    });
  }

  destroy() {
    this.cancelPress();
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
    this.focusNode = -1;
    this.setHover(-1);
    this.draw();
  }

  setZoom(node) {
    if (!this.p) return;
    this.zoom = node > 0 && node < this.p.n ? node : 0;
    this.setHover(-1);
    this.draw();
    // The keyboard stays on the frame it zoomed into.
    if (document.activeElement === this.canvas) {
      if (this.focusNode < 0 || !this.rectOf(this.focusNode)) this.focusNode = this.zoom;
      this.showFocus();
    }
  }

  // hit: Uint8Array per node (1 = matches) or null for no highlight.
  setHighlight(hit) {
    this.hit = hit;
    this.draw();
  }

  // 'left' or 'right': where labels sit in their frames.
  setAlign(align) {
    if (align === this.align) return;
    this.align = align;
    this.draw();
  }

  setTheme(theme, redraw = true, scheme = this.scheme || 'rg') {
    this.theme = theme;
    this.scheme = scheme;
    this.pal = palette(theme, scheme);
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
    if (this.inverted) {
      this.paintInverted(count, cw, ch, dpr);
      return;
    }
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

  // The same, upside down: row d is drawn at (levels - 1 - d). Small
  // graphs only (a sandwich's callers), so the buffer is cleared first.
  paintInverted(count, cw, ch, dpr) {
    const { p, rects: r, u32, line, pixels, faded, bgPixel } = this;
    const gap = Math.max(1, Math.round(dpr));
    u32.fill(bgPixel, 0, cw * ch);
    let row = -1;
    const flush = () => {
      const top = this.rowTop(row);
      const y0 = Math.round(top * dpr);
      const y1 = Math.min(Math.round((top + ROW_HEIGHT - 1) * dpr), ch);
      for (let y = y0; y < y1; y++) u32.set(line, y * cw);
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
      if (x1 - x0 > 2 * gap) x1 -= gap;
      else if (x1 <= x0) x1 = x0 + 1;
      if (x0 < 0) x0 = 0;
      if (x1 > cw) x1 = cw;
      const c = this.colorOf(i);
      line.fill(r.ancestor[k] ? faded[c] : pixels[c], x0, x1);
    }
    if (row >= 0) flush();
  }

  // The top of row d in CSS pixels.
  rowTop(d) {
    return (this.inverted ? this.p.levels - 1 - d : d) * ROW_HEIGHT;
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
    const right = this.align === 'right';
    ctx.textAlign = right ? 'right' : 'left';
    ctx.fillStyle = text;
    let current = text;
    const drawn = [];
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
      const x = right ? r.x[k] + w - 4 : r.x[k] + 3;
      ctx.fillText(s, x, this.rowTop(p.depth[i]) + (ROW_HEIGHT - 1) / 2 + 0.5);
      drawn.push({ node: i, text: s, x });
    }
    ctx.textAlign = 'left';
    this.drawnLabels = drawn;
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
    const row = Math.floor((e.clientY - box.top) / ROW_HEIGHT);
    const depth = this.inverted ? this.p.levels - 1 - row : row;
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
    if (this.pressFired) {
      this.pressFired = false;
      return;
    }
    const i = this.nodeAtEvent(e);
    if (i >= 0) this.focusNode = i;
    if (i >= 0 && this.opts.onZoom) this.opts.onZoom(i);
  }

  onContextMenu(e) {
    const i = this.nodeAtEvent(e);
    if (i < 0 || !this.opts.onMenu) return;
    e.preventDefault();
    this.focusNode = i;
    this.opts.onMenu(i, e.clientX, e.clientY);
  }

  onPointerDown(e) {
    this.cancelPress();
    if (e.pointerType !== 'touch' || !this.opts.onMenu) return;
    const i = this.nodeAtEvent(e);
    if (i < 0) return;
    const at = { x: e.clientX, y: e.clientY };
    this.press = {
      ...at,
      timer: setTimeout(() => {
        this.press = null;
        this.pressFired = true;
        this.focusNode = i;
        this.opts.onMenu(i, at.x, at.y);
      }, 500),
    };
  }

  cancelPress() {
    if (this.press) clearTimeout(this.press.timer);
    this.press = null;
  }

  // ---- Keyboard ----------------------------------------------------------

  // Whether node i is drawn wide enough to be seen at this zoom.
  visible(i) {
    const r = this.rectOf(i);
    return r !== null && r.w >= MIN_WIDTH;
  }

  // The frame the arrow key `key` moves to from node i, or -1. Up and down
  // follow the drawing (toward the root is up, unless inverted); left and
  // right go to the nearest visible frame of the same row.
  neighbour(i, key) {
    const p = this.p;
    const towardRoot = this.inverted ? 'ArrowDown' : 'ArrowUp';
    const towardLeaves = this.inverted ? 'ArrowUp' : 'ArrowDown';
    if (key === towardRoot) return i > 0 ? p.parent[i] : -1;
    if (key === towardLeaves) {
      // The widest visible child.
      const d = p.depth[i] + 1;
      if (d >= p.levels) return -1;
      let best = -1;
      for (let c = firstAtOrAfter(p, d, p.x[i]); c < p.levelStart[d + 1] && p.x[c] < p.x[i] + p.total[i]; c++) {
        if (p.parent[c] === i && this.visible(c) && (best < 0 || p.total[c] > p.total[best])) best = c;
      }
      return best;
    }
    const step = key === 'ArrowLeft' ? -1 : key === 'ArrowRight' ? 1 : 0;
    if (!step) return -1;
    const d = p.depth[i];
    for (let k = i + step; k >= p.levelStart[d] && k < p.levelStart[d + 1]; k += step) {
      if (this.visible(k)) return k;
      if (!this.rectOf(k) && (step > 0 ? p.x[k] >= p.x[this.zoom] + p.total[this.zoom] : p.x[k] < p.x[this.zoom])) break;
    }
    return -1;
  }

  onKey(e) {
    if (!this.p || e.altKey || e.ctrlKey || e.metaKey) return;
    const k = e.key;
    if (k === 'Enter' || k === ' ') {
      e.preventDefault();
      if (this.focusNode >= 0 && this.opts.onZoom) this.opts.onZoom(this.focusNode);
      return;
    }
    if (k === 'ContextMenu' || (k === 'F10' && e.shiftKey)) {
      e.preventDefault();
      const r = this.focusNode >= 0 ? this.rectOf(this.focusNode) : null;
      if (r && this.opts.onMenu) {
        const b = this.canvas.getBoundingClientRect();
        this.opts.onMenu(this.focusNode, b.left + r.x + Math.min(r.w / 2, 40), b.top + r.y + ROW_HEIGHT);
      }
      return;
    }
    if (k === 'Home') {
      e.preventDefault();
      this.focusNode = this.zoom;
      this.showFocus();
      return;
    }
    if (!k.startsWith('Arrow')) return;
    e.preventDefault();
    if (this.focusNode < 0 || !this.rectOf(this.focusNode)) this.focusNode = this.zoom;
    else {
      const next = this.neighbour(this.focusNode, k);
      if (next >= 0) this.focusNode = next;
    }
    this.showFocus();
  }

  // The hover box and the tooltip on the keyboard's frame, and its name
  // read out.
  showFocus() {
    const i = this.focusNode;
    const r = i >= 0 ? this.rectOf(i) : null;
    if (!r) return;
    // Keep the frame in view when the graph is taller than the window.
    this.setHover(i);
    let b = this.canvas.getBoundingClientRect();
    if (b.top + r.y + ROW_HEIGHT > window.innerHeight || b.top + r.y < 0) {
      this.hoverBox.scrollIntoView({ block: 'nearest' });
      b = this.canvas.getBoundingClientRect();
    }
    const x = b.left + r.x + Math.min(Math.max(r.w / 2, 4), 60);
    const y = b.top + r.y + ROW_HEIGHT - 2;
    this.setHover(i, { clientX: x, clientY: y });
    if (this.opts.speak) this.live.textContent = this.opts.speak(i);
  }

  // Where node i is drawn, in CSS pixels relative to the canvas, or null
  // when it is outside the view.
  rectOf(i) {
    const p = this.p;
    if (!p || i < 0 || i >= p.n || !this.width) return null;
    const z = this.zoom;
    const y = this.rowTop(p.depth[i]);
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
