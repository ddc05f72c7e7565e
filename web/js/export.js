// Exports of the current view: folded text and a standalone SVG. Pure: no
// DOM; the caller turns the strings into downloads.

import { childrenIndex, pathOf } from './flamebearer.js';
import { makeRects, visibleRects, visibleDepth } from './layout.js';
import { DIM } from './colors.js';
import { elideLabel as elide } from './label.js';

// Folded text ("a;b;c 12" per line, sorted) of the subtree under `zoom`,
// each stack spelled from the root so the file can be sent back to /ingest.
// side: 'self' for a single profile, 'lself' or 'rself' for a side of a diff.
export function toFolded(p, zoom = 0, side = 'self') {
  if (p.n === 0) return '';
  const values = p[side];
  const { first, count } = childrenIndex(p);
  const start = zoom > 0 && zoom < p.n ? zoom : 0;
  const lines = [];
  const path = pathOf(p, start);
  // The stack holds node indices; ~i marks leaving node i.
  const stack = [start];
  while (stack.length) {
    const i = stack.pop();
    if (i < 0) {
      path.pop();
      continue;
    }
    if (i !== start) path.push(p.names[p.name[i]]);
    if (values[i] > 0 && path.length > 0) lines.push(`${path.join(';')} ${values[i]}`);
    if (i !== start) stack.push(~i);
    for (let c = first[i] + count[i] - 1; c >= first[i] && first[i] > 0; c--) stack.push(c);
  }
  return lines.length ? `${lines.sort().join('\n')}\n` : '';
}

// Text as XML character data, safe in text and in quoted attributes. XML
// 1.0 refuses most control characters outright (one makes the whole file
// unreadable), so they are dropped, as the server's SVG drops them; tab and
// line breaks are allowed and stay. A lone surrogate (from a name cut in
// the middle of a character) and the noncharacters U+FFFE and U+FFFF become
// U+FFFD.
export function xml(s) {
  return String(s)
    .replace(/[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f]/g, '')
    .replace(/[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]|[\ufffe\uffff]/g, '\ufffd')
    .replace(/[<>&"']/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', '"': '&quot;', "'": '&apos;' })[c]);
}

// A standalone SVG of the view: the frames at least half a pixel wide at
// opts.width, each with a <title> giving its name and values.
//   opts: { zoom, width, rowHeight, colorOf(i) (palette index), palette,
//           text (text color), background, title, subtitle, charWidth,
//           label(i) -> tooltip text, hit (Uint8Array per node or null) }
export function toSVG(p, opts) {
  const width = opts.width || 1200;
  const rowH = opts.rowHeight || 18;
  const charW = opts.charWidth || 7.2;
  const top = 48;
  const rects = makeRects(p.n);
  visibleRects(p, opts.zoom || 0, width, 0.5, rects);
  const height = top + visibleDepth(p, opts.zoom || 0) * rowH + 8;
  const font = 'ui-monospace, SFMono-Regular, Menlo, Consolas, monospace';
  const out = [];
  out.push(
    `<?xml version="1.0" encoding="UTF-8"?>\n` +
      `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="${font}" font-size="12">`,
  );
  out.push(`<rect width="100%" height="100%" fill="${xml(opts.background || '#ffffff')}"/>`);
  out.push(`<text x="4" y="18" font-size="14" font-weight="bold" fill="${xml(opts.text)}">${xml(opts.title || 'Flame graph')}</text>`);
  if (opts.subtitle) out.push(`<text x="4" y="36" fill="${xml(opts.text)}">${xml(opts.subtitle)}</text>`);
  for (let k = 0; k < rects.count; k++) {
    const i = rects.node[k];
    const x = rects.x[k];
    const w = rects.w[k];
    const y = top + p.depth[i] * rowH;
    const name = p.names[p.name[i]];
    const ci = opts.hit && !opts.hit[i] && i > 0 ? DIM : opts.colorOf(i);
    const fill = opts.palette[ci];
    const label = opts.label ? opts.label(i) : name;
    const opacity = rects.ancestor[k] ? ' opacity="0.65"' : '';
    out.push(`<g${opacity}><title>${xml(label)}</title>`);
    out.push(`<rect x="${x.toFixed(2)}" y="${y}" width="${Math.max(w - 0.5, 0.5).toFixed(2)}" height="${rowH - 1}" fill="${fill}"/>`);
    const fit = elide(name, Math.floor((w - 6) / charW));
    if (fit) out.push(`<text x="${(x + 3).toFixed(2)}" y="${y + rowH - 5}" fill="${xml(opts.text)}">${xml(fit)}</text>`);
    out.push('</g>');
  }
  out.push('</svg>\n');
  return out.join('\n');
}
