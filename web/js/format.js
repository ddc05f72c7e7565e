// Number, unit and name formatting for labels, tooltips and the table.
// Pure: no DOM.

import { formatFull, formatShort } from './units.js';

export { formatBytes, formatDuration } from './units.js';

const intFmt = new Intl.NumberFormat('en-US', { maximumFractionDigits: 0 });

export function formatInt(v) {
  return intFmt.format(Math.round(v));
}

// "12.3%", with more digits for small shares so they do not read as zero.
export function formatPercent(share) {
  if (!Number.isFinite(share)) return share > 0 ? '+∞%' : '–';
  const p = share * 100;
  const a = Math.abs(p);
  if (a === 0) return '0%';
  if (a < 0.01) return p < 0 ? '>-0.01%' : '<0.01%';
  if (a < 1) return `${p.toFixed(2)}%`;
  return `${p.toFixed(1).replace(/\.0$/, '')}%`;
}

// A relative change with its sign: "+12%", "-3.4%", "new", "gone".
export function formatChange(change) {
  if (change === Infinity) return 'new';
  if (change === -1) return 'gone';
  if (change === 0) return '±0%';
  const s = formatPercent(change);
  return change > 0 ? `+${s}` : s;
}

// The server's sums saturate at 2^64 - 1 instead of wrapping; JSON readers
// round that to 2^64 (18,446,744,073,709,552,000), a number no real sum
// below the ceiling reaches, so it reads as "at least this much".
export const SATURATED = 2 ** 64;

export function isSaturated(v) {
  return v >= SATURATED;
}

// A compact form for table cells: "1.23 k", "45.6 M".
export function formatCompact(v) {
  if (isSaturated(v)) return '≥ 18.4 E';
  const a = Math.abs(v);
  if (a < 1e4) return formatInt(v);
  const units = [
    [1e12, 'T'],
    [1e9, 'G'],
    [1e6, 'M'],
    [1e3, 'k'],
  ];
  for (const [base, suffix] of units) {
    if (a >= base) {
      const x = v / base;
      return `${x.toFixed(Math.abs(x) < 10 ? 2 : Math.abs(x) < 100 ? 1 : 0)} ${suffix}`;
    }
  }
  return formatInt(v);
}

// A value in the profile's units, in full (header, tooltips): see units.js.
export function formatValue(v, meta = {}) {
  const units = meta.units || 'samples';
  if (isSaturated(v)) return `≥ 18.4 quintillion ${units} (sum saturated)`;
  return formatFull(v, meta);
}

// A value in the profile's units, short (table cells, axes): "2.50 s".
export function formatShortValue(v, meta = {}) {
  if (isSaturated(v)) return '≥ 18.4 E';
  return formatShort(v, meta);
}

// A share in percentage points with its sign: "+40.2 pp", "-3.10 pp".
export function formatPoints(pp) {
  if (!Number.isFinite(pp)) return '–';
  const a = Math.abs(pp);
  if (a < 0.005) return '±0 pp';
  const s = a < 10 ? a.toFixed(2) : a.toFixed(1);
  return `${pp > 0 ? '+' : '-'}${s} pp`;
}

// Frame names shortened by the shared rule: see label.js.
export { elideLabel as elide } from './label.js';
