// Which frames of a decoded profile are visible at a zoom and a width, and
// where. Pure: no DOM; the canvas renderer and the SVG export share it.
//
// The zoomed node spans the whole width; its ancestors are drawn full width
// above it; below it only its descendants lie inside its tick window. Each
// level is sorted by x, so a level's visible part starts at a binary search
// and ends at the window's right edge: the cost of a draw follows what is on
// screen, not the size of the profile.

import { firstAtOrAfter, nodeAt } from './flamebearer.js';

// Reusable output buffers for a profile of n nodes.
export function makeRects(n) {
  return {
    count: 0,
    node: new Int32Array(n),
    x: new Float32Array(n),
    w: new Float32Array(n),
    ancestor: new Uint8Array(n), // 1 for the rows above the zoomed node
  };
}

// Fills out with the nodes at least minPx wide when the profile is drawn
// widthPx wide zoomed on node `zoom`, and returns their count. Rows come in
// depth order and left to right within a row.
export function visibleRects(p, zoom, widthPx, minPx, out) {
  out.count = 0;
  if (p.n === 0 || !(widthPx > 0)) return 0;
  const z = zoom > 0 && zoom < p.n ? zoom : 0;
  const x0 = p.x[z];
  const span = p.total[z];
  const x1 = x0 + span;
  const scale = span > 0 ? widthPx / span : 0;
  const zd = p.depth[z];
  let c = 0;
  const chain = [];
  for (let k = z; k >= 0; k = p.parent[k]) chain.push(k);
  for (let j = chain.length - 1; j >= 0; j--) {
    out.node[c] = chain[j];
    out.x[c] = 0;
    out.w[c] = widthPx;
    out.ancestor[c] = j > 0 ? 1 : 0;
    c++;
  }
  if (scale === 0) {
    out.count = c;
    return c;
  }
  for (let d = zd + 1; d < p.levels; d++) {
    const end = p.levelStart[d + 1];
    const before = c;
    for (let i = firstAtOrAfter(p, d, x0); i < end && p.x[i] < x1; i++) {
      const w = p.total[i] * scale;
      if (w < minPx) continue;
      out.node[c] = i;
      out.x[c] = (p.x[i] - x0) * scale;
      out.w[c] = w;
      out.ancestor[c] = 0;
      c++;
    }
    // Children are never wider than their parent: once a row shows nothing,
    // no deeper row can.
    if (c === before) break;
  }
  out.count = c;
  return c;
}

// The node under a point: row `depth`, `px` pixels from the left, or -1.
export function hitTest(p, zoom, widthPx, px, depth) {
  if (p.n === 0 || depth < 0 || depth >= p.levels || px < 0 || px >= widthPx) return -1;
  const z = zoom > 0 && zoom < p.n ? zoom : 0;
  const zd = p.depth[z];
  if (depth <= zd) {
    let k = z;
    while (p.depth[k] > depth) k = p.parent[k];
    return k;
  }
  const tick = p.x[z] + (px / widthPx) * p.total[z];
  const i = nodeAt(p, depth, tick);
  if (i < 0 || p.x[i] < p.x[z] || p.x[i] >= p.x[z] + p.total[z]) return -1;
  return i;
}

// The depth of the deepest level that has a node inside the zoom window:
// how tall the graph must be to show everything.
export function visibleDepth(p, zoom) {
  const z = zoom > 0 && zoom < p.n ? zoom : 0;
  let last = p.depth[z] || 0;
  for (let d = last + 1; d < p.levels; d++) {
    const i = firstAtOrAfter(p, d, p.x[z]);
    if (i < p.levelStart[d + 1] && p.x[i] < p.x[z] + p.total[z]) last = d;
    else break;
  }
  return last + 1;
}
