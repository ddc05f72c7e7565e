// Decodes the flamebearer of /render and /render-diff into flat typed arrays
// that the flame graph, the table and the exports share. Pure: no DOM.
//
// Nodes are numbered level by level, left to right, exactly as the levels
// arrive, so a parent always has a smaller index than its children and the
// nodes of one level are sorted by x (what the renderer's binary search and
// the one-pass aggregations rely on).

const SINGLE = 4;
const DOUBLE = 7;

export class FormatError extends Error {}

function fail(msg) {
  throw new FormatError(`unexpected flame graph data from the server: ${msg}`);
}

// resp: the parsed JSON of /render or /render-diff. Returns a profile:
//   n, names, levels (count), levelStart (Uint32Array, levels + 1 entries),
//   depth, name, parent, x, total, self (combined left + right for a diff),
//   and for a diff also lx, ltotal, lself, rx, rtotal, rself, leftTicks,
//   rightTicks. numTicks, maxSelf, metadata and timeline come along.
export function decode(resp) {
  if (!resp || typeof resp !== 'object') fail('not a JSON object');
  const fb = resp.flamebearer;
  if (!fb || !Array.isArray(fb.levels) || !Array.isArray(fb.names)) {
    fail('no flamebearer with names and levels');
  }
  const meta = resp.metadata || {};
  const double = meta.format === 'double';
  const width = double ? DOUBLE : SINGLE;
  let n = 0;
  for (let d = 0; d < fb.levels.length; d++) {
    const lv = fb.levels[d];
    if (!Array.isArray(lv) || lv.length % width !== 0) {
      fail(`level ${d} does not hold groups of ${width} numbers`);
    }
    n += lv.length / width;
  }
  const p = allocate(n, fb.levels.length, double);
  p.names = fb.names;
  p.format = double ? 'double' : 'single';
  p.metadata = meta;
  p.timeline = resp.timeline || null;
  p.numTicks = Number(fb.numTicks) || 0;
  p.maxSelf = Number(fb.maxSelf) || 0;
  if (double) {
    p.leftTicks = Number(resp.leftTicks) || 0;
    p.rightTicks = Number(resp.rightTicks) || 0;
    p.leftTimeline = resp.leftTimeline || null;
    p.rightTimeline = resp.rightTimeline || resp.timeline || null;
  }
  fill(p, fb.levels, width);
  linkParents(p);
  return p;
}

// Memory for decoded profiles. Fresh typed arrays cost a page fault per
// 4 KiB on first write, which at 50,000 nodes takes longer than the decoding
// itself; so the buffers of profiles that are no longer shown (release())
// are kept for the next decode. Every element of a reused buffer is
// overwritten before use.
const pool = [];
const POOL_MAX = 6;

function take(bytes) {
  let best = -1;
  for (let k = 0; k < pool.length; k++) {
    const b = pool[k].byteLength;
    if (b >= bytes && b <= bytes * 2 && (best < 0 || b < pool[best].byteLength)) best = k;
  }
  if (best >= 0) return pool.splice(best, 1)[0];
  return new ArrayBuffer(bytes);
}

// Hands the memory of a profile back for reuse. The profile must not be
// used afterwards.
export function release(p) {
  if (!p || !p.buffer || p.released) return;
  p.released = true;
  pool.push(p.buffer);
  if (pool.length > POOL_MAX) pool.shift();
}

const F64 = ['x', 'total', 'self'];
const F64_DOUBLE = ['lx', 'ltotal', 'lself', 'rx', 'rtotal', 'rself'];

function allocate(n, levels, double) {
  const f64 = double ? F64.concat(F64_DOUBLE) : F64;
  // 8-byte arrays first, then the 4-byte ones: every view stays aligned.
  const bytes = f64.length * 8 * n + 3 * 4 * n + 4 * (levels + 1);
  const buffer = take(bytes);
  const p = { n, levels, buffer };
  let off = 0;
  for (const k of f64) {
    p[k] = new Float64Array(buffer, off, n);
    off += 8 * n;
  }
  p.depth = new Uint32Array(buffer, off, n);
  off += 4 * n;
  p.name = new Uint32Array(buffer, off, n);
  off += 4 * n;
  p.parent = new Int32Array(buffer, off, n);
  off += 4 * n;
  p.levelStart = new Uint32Array(buffer, off, levels + 1);
  return p;
}

function checkName(nameIdx, nameCount, d) {
  if (!(nameIdx >= 0 && nameIdx < nameCount)) {
    fail(`level ${d} names frame ${nameIdx}, but there are ${nameCount} names`);
  }
}

// Decoding runs level by level through small functions that the engine
// compiles after a few levels; a single loop over all levels would run as
// on-stack-replaced code that falls back to the interpreter at its end on
// every call.
function fill(p, levels, width) {
  const level = width === DOUBLE ? fillDouble : fillSingle;
  const nameCount = p.names.length;
  let i = 0;
  for (let d = 0; d < levels.length; d++) {
    p.levelStart[d] = i;
    i = level(p, levels[d], d, i, nameCount);
  }
  p.levelStart[levels.length] = i;
}

function fillSingle(p, lv, d, i, nameCount) {
  const { depth, name, x: xs, total: ts, self: ss } = p;
  const len = lv.length;
  let prevEnd = 0;
  for (let k = 0; k < len; k += 4, i++) {
    const x = prevEnd + lv[k];
    const total = lv[k + 1];
    const nameIdx = lv[k + 3];
    checkName(nameIdx, nameCount, d);
    depth[i] = d;
    name[i] = nameIdx;
    xs[i] = x;
    ts[i] = total;
    ss[i] = lv[k + 2];
    prevEnd = x + total;
  }
  return i;
}

function fillDouble(p, lv, d, i, nameCount) {
  const { depth, name, x: xs, total: ts, self: ss } = p;
  const { lx, ltotal, lself, rx: rxs, rtotal, rself } = p;
  const len = lv.length;
  let prevEnd = 0;
  let prevEndR = 0;
  for (let k = 0; k < len; k += 7, i++) {
    const nameIdx = lv[k + 6];
    checkName(nameIdx, nameCount, d);
    const x = prevEnd + lv[k];
    const lt = lv[k + 1];
    const ls = lv[k + 2];
    const rx = prevEndR + lv[k + 3];
    const rt = lv[k + 4];
    const rs = lv[k + 5];
    prevEnd = x + lt;
    prevEndR = rx + rt;
    depth[i] = d;
    name[i] = nameIdx;
    lx[i] = x;
    ltotal[i] = lt;
    lself[i] = ls;
    rxs[i] = rx;
    rtotal[i] = rt;
    rself[i] = rs;
    xs[i] = x + rx;
    ts[i] = lt + rt;
    ss[i] = ls + rs;
  }
  return i;
}

// A child lies inside its parent's span after the parent's self part; both
// levels are sorted by x, so one forward walk of the parent level suffices.
function linkParents(p) {
  if (p.n > 0) p.parent[0] = -1;
  for (let d = 1; d < p.levels; d++) {
    if (p.levelStart[d - 1] === p.levelStart[d]) fail(`level ${d - 1} is empty but deeper levels follow`);
    linkLevel(p, d);
  }
}

function linkLevel(p, d) {
  const { x, total, parent, levelStart } = p;
  let q = levelStart[d - 1];
  const qLast = levelStart[d] - 1;
  const end = levelStart[d + 1];
  for (let i = levelStart[d]; i < end; i++) {
    while (q < qLast && x[i] >= x[q] + total[q]) q++;
    parent[i] = q;
  }
}

// The frame names from the root (exclusive) down to node i.
export function pathOf(p, i) {
  const out = [];
  for (let k = i; k > 0; k = p.parent[k]) out.push(p.names[p.name[k]]);
  return out.reverse();
}

// The node reached by following the frame names from the root, or -1.
// Children of a node are contiguous in the next level, so the search only
// scans the span of the current node.
export function findPath(p, names) {
  if (p.n === 0) return -1;
  let cur = 0;
  for (let d = 0; d < names.length; d++) {
    const level = d + 1;
    if (level >= p.levels) return -1;
    let found = -1;
    const lo = firstAtOrAfter(p, level, p.x[cur]);
    for (let i = lo; i < p.levelStart[level + 1] && p.x[i] < p.x[cur] + p.total[cur]; i++) {
      if (p.parent[i] === cur && p.names[p.name[i]] === names[d]) {
        found = i;
        break;
      }
    }
    if (found < 0) return -1;
    cur = found;
  }
  return cur;
}

// First node index on level d whose span ends after tick x (binary search).
export function firstAtOrAfter(p, d, x) {
  let lo = p.levelStart[d];
  let hi = p.levelStart[d + 1];
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (p.x[mid] + p.total[mid] <= x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

// The node on level d that covers tick x, or -1.
export function nodeAt(p, d, x) {
  if (d < 0 || d >= p.levels) return -1;
  const i = firstAtOrAfter(p, d, x);
  if (i < p.levelStart[d + 1] && p.x[i] <= x && x < p.x[i] + p.total[i]) return i;
  return -1;
}

// Children of node i as an array of indices (used by exports and the table).
export function childrenIndex(p) {
  const first = new Int32Array(p.n).fill(-1);
  const count = new Uint32Array(p.n);
  for (let i = p.n - 1; i > 0; i--) {
    first[p.parent[i]] = i;
    count[p.parent[i]]++;
  }
  return { first, count };
}

// Timeline points as numbers or null for "no data" (the wire format stores
// 0 for a gap and 1 + sum otherwise).
export function decodeTimeline(tl) {
  if (!tl || !Array.isArray(tl.samples)) return null;
  const step = Number(tl.durationDelta) || 10;
  const start = Number(tl.startTime) || 0;
  const values = tl.samples.map((v) => (v > 0 ? v - 1 : null));
  return { start, step, values, end: start + step * values.length };
}

// The empty profile, as the server sends for a range without data.
export function isEmpty(p) {
  return !p || p.numTicks === 0 || p.n === 0 || p.total[0] === 0;
}
