// Frame colors. Pure: no DOM.
//
// Every node gets a small palette index rather than a CSS color, so the
// renderer can batch all rectangles of one color into a single fill, and a
// theme change only swaps the palette. In a single profile the index comes
// from a hash of the frame's package or module, so a function keeps its color
// between views and its neighbours from the same module share it. In a diff
// it comes from the relative change between the two sides.

export const HUES = 24;
export const OTHER = HUES; // the "other" node that folds truncated children
export const ROOT = HUES + 1;
export const DIM = HUES + 2; // frames outside a search
export const DIFF_STEPS = 10; // buckets per direction
export const DIFF_BASE = HUES + 3; // DIFF_BASE + DIFF_STEPS is "no change"
export const PALETTE_SIZE = DIFF_BASE + 2 * DIFF_STEPS + 1;

// The part of a frame name that names its package, module, class or file:
// everything before the last '.', '::', '/' or ':' outside brackets, so
// argument lists and template parameters do not count. A name in the form
// "func (path/file.py:12)" (py-spy and friends) is colored by its file. A
// name without a separator is its own package.
export function packageOf(name) {
  if (!/[()<>[\]]/.test(name)) {
    // The common case, without brackets: the last separator wins.
    const i = Math.max(name.lastIndexOf('.'), name.lastIndexOf('/'), name.lastIndexOf(':'));
    if (i <= 0) return name;
    return name.slice(0, name[i] === ':' && name[i - 1] === ':' ? i - 1 : i);
  }
  const m = /^[^()]+ \(([^()]+?)(?::\d+)?\)$/.exec(name);
  if (m) return m[1];
  let depth = 0;
  for (let i = name.length - 1; i > 0; i--) {
    const c = name[i];
    if (c === ')' || c === '>' || c === ']') depth++;
    else if (c === '(' || c === '<' || c === '[') depth = Math.max(0, depth - 1);
    else if (depth === 0) {
      if (c === '.' || c === '/') return name.slice(0, i);
      if (c === ':') return name.slice(0, name[i - 1] === ':' ? i - 1 : i);
    }
  }
  return name;
}

// FNV-1a over UTF-16 code units: fast, stable across runs and browsers.
export function hashString(s) {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

export function hueIndex(name) {
  return hashString(packageOf(name)) % HUES;
}

// Hues of names seen before: a refresh or another view of the same app
// brings mostly the same names again.
const hueCache = new Map();

function nameColor(name) {
  let h = hueCache.get(name);
  if (h === undefined) {
    h = name === 'other' ? OTHER : hueIndex(name);
    hueCache.set(name, h);
  }
  return h;
}

// The palette index of each frame name (names are shared by many nodes).
export function nameColors(names) {
  const out = new Uint8Array(names.length);
  if (hueCache.size > 500000) hueCache.clear();
  for (let i = 0; i < names.length; i++) out[i] = nameColor(names[i]);
  return out;
}

// The relative change of a frame's share of its side: +0.5 means it takes
// half again as much of the right selection as of the left. A frame only on
// the right is +Infinity, one only on the left -1.
export function relativeChange(ltotal, rtotal, leftTicks, rightTicks) {
  const l = leftTicks > 0 ? ltotal / leftTicks : 0;
  const r = rightTicks > 0 ? rtotal / rightTicks : 0;
  if (l === 0) return r === 0 ? 0 : Infinity;
  return (r - l) / l;
}

// -DIFF_STEPS (much less on the right) .. +DIFF_STEPS (much more). A change
// under 2% is no change; beyond +-100% the color is saturated.
export function diffStep(change) {
  if (!(Math.abs(change) >= 0.02)) return 0;
  const s = Math.ceil(Math.min(1, Math.abs(change)) * DIFF_STEPS);
  return change > 0 ? s : -s;
}

// The palette index of node i of a decoded profile, as a function that
// works a name's color out on first use: a draw needs the colors of the
// frames on screen only, often a small part of a big profile.
export function nodeColorFn(p) {
  if (p.format === 'double') {
    return (i) => DIFF_BASE + DIFF_STEPS + diffStep(relativeChange(p.ltotal[i], p.rtotal[i], p.leftTicks, p.rightTicks));
  }
  if (hueCache.size > 500000) hueCache.clear();
  const byName = new Uint8Array(p.names.length).fill(255);
  // A sandwich's halves have a real function at their root (tree.js).
  const root = p.rootIsFrame ? -1 : 0;
  return (i) => {
    if (i === root) return ROOT;
    const k = p.name[i];
    let c = byName[k];
    if (c === 255) {
      c = nameColor(p.names[k]);
      byName[k] = c;
    }
    return c;
  };
}

// Palette index of every node of a decoded profile.
export function nodeColors(p) {
  const f = nodeColorFn(p);
  const out = new Uint8Array(p.n);
  for (let i = 0; i < p.n; i++) out[i] = f(i);
  return out;
}

// CSS colors for each palette index, for 'light' or 'dark'; scheme picks
// the diff colors: 'rg' red for more and green for less, or 'cb' orange and
// blue, which people with red-green colour blindness tell apart.
export function palette(theme, scheme = 'rg') {
  const dark = theme === 'dark';
  const out = new Array(PALETTE_SIZE);
  for (let h = 0; h < HUES; h++) {
    // Oranges, yellows, cyans, blues and purples: the reds and greens stay
    // free to mean "more" and "less" in the diff view. Interleaved so that
    // neighbouring indices differ clearly.
    const v = ((h * 7) % HUES) * (195 / HUES);
    const hue = Math.round(v < 35 ? 25 + v : 170 + (v - 35));
    out[h] = dark ? `hsl(${hue}, 48%, 38%)` : `hsl(${hue}, 70%, 76%)`;
  }
  out[OTHER] = dark ? 'hsl(220, 6%, 34%)' : 'hsl(220, 8%, 80%)';
  out[ROOT] = dark ? 'hsl(220, 10%, 30%)' : 'hsl(220, 12%, 84%)';
  out[DIM] = dark ? 'hsl(220, 6%, 22%)' : 'hsl(220, 10%, 92%)';
  for (let s = -DIFF_STEPS; s <= DIFF_STEPS; s++) {
    out[DIFF_BASE + DIFF_STEPS + s] = diffColor(s, dark, scheme === 'cb');
  }
  return out;
}

function diffColor(step, dark, cb) {
  const t = Math.abs(step) / DIFF_STEPS;
  const hue = cb ? (step > 0 ? 28 : 212) : step > 0 ? 0 : 130;
  if (step === 0) return dark ? 'hsl(220, 8%, 32%)' : 'hsl(220, 10%, 86%)';
  const sat = Math.round((cb ? 45 : 35) + 50 * t);
  const light = dark ? Math.round(30 + 14 * t) : Math.round(86 - 32 * t);
  return `hsl(${hue}, ${Math.min(sat, 95)}%, ${light}%)`;
}

// The diff legend: for each step from -DIFF_STEPS to +DIFF_STEPS its color
// in the palette pal, and the relative change it begins at; ticks are the
// changes worth a label.
export function diffLegend(pal) {
  const steps = [];
  for (let s = -DIFF_STEPS; s <= DIFF_STEPS; s++) steps.push({ step: s, color: pal[DIFF_BASE + DIFF_STEPS + s] });
  const ticks = [
    { at: -1, label: '-100%' },
    { at: -0.5, label: '-50%' },
    { at: 0, label: '0' },
    { at: 0.5, label: '+50%' },
    { at: 1, label: '≥ +100%' },
  ];
  return { steps, ticks };
}

// Text drawn on the frames.
export function textColor(theme) {
  return theme === 'dark' ? '#eceff4' : '#1b1d22';
}
