// New profiles made from a decoded one: with frames hidden or collapsed,
// and the two halves of a sandwich view (the callers and the callees of a
// function). Pure: no DOM. The results are decoded profiles as
// flamebearer.js makes them, so the flame graph, the table and the exports
// take them as they are.

import { decode, childrenIndex } from './flamebearer.js';

// The value columns of a decoded profile: [self, total] per side.
function columns(p) {
  return p.format === 'double'
    ? [
        [p.lself, p.ltotal],
        [p.rself, p.rtotal],
      ]
    : [[p.self, p.total]];
}

// A response for decode() from per-node arrays in decoded order (parents
// first, each level left to right) of the nodes that `keep`, with new
// self and total per side. Positions are laid out again: a node's first
// child starts after its self, siblings follow each other.
function relayout(p, keep, selfs, totals, meta) {
  const sides = selfs.length;
  const double = sides === 2;
  const levels = [];
  const xs = selfs.map(() => new Float64Array(p.n));
  const cursor = new Float64Array(sides);
  const prevEnd = new Float64Array(sides);
  let maxSelf = 0;
  for (let d = 0; d < p.levels; d++) {
    const lv = [];
    let lastParent = -2;
    prevEnd.fill(0);
    for (let i = p.levelStart[d]; i < p.levelStart[d + 1]; i++) {
      if (!keep[i]) continue;
      const par = p.parent[i];
      if (par !== lastParent) {
        for (let s = 0; s < sides; s++) cursor[s] = par < 0 ? 0 : xs[s][par] + selfs[s][par];
        lastParent = par;
      }
      for (let s = 0; s < sides; s++) {
        const x = cursor[s];
        xs[s][i] = x;
        lv.push(x - prevEnd[s], totals[s][i], selfs[s][i]);
        prevEnd[s] = x + totals[s][i];
        cursor[s] = x + totals[s][i];
        if (selfs[s][i] > maxSelf) maxSelf = selfs[s][i];
      }
      lv.push(p.name[i]);
    }
    if (!lv.length) break;
    levels.push(lv);
  }
  const resp = {
    flamebearer: { names: p.names, levels, numTicks: 0, maxSelf },
    metadata: meta || p.metadata,
  };
  if (double) {
    resp.leftTicks = levels.length ? levels[0][1] : 0;
    resp.rightTicks = levels.length ? levels[0][4] : 0;
    resp.flamebearer.numTicks = resp.leftTicks + resp.rightTicks;
  } else {
    resp.flamebearer.numTicks = levels.length ? levels[0][1] : 0;
  }
  return resp;
}

// The profile without the frames whose names are in `hidden` (a Set of
// name indices; their samples leave the graph, so the totals above them
// shrink) and with the frames in `collapsed` folded: each keeps its total
// as self, and nothing is drawn under it. Returns p itself when neither
// names a frame of p.
export function hideFrames(p, hidden, collapsed) {
  if (p.n === 0 || (!hidden.size && !collapsed.size)) return p;
  const cols = columns(p);
  const sides = cols.length;
  // 0 kept, 1 dropped, 2 kept and collapsed (a leaf).
  const state = new Uint8Array(p.n);
  let touched = false;
  for (let i = 1; i < p.n; i++) {
    const ps = state[p.parent[i]];
    if (ps !== 0) state[i] = 1;
    else if (hidden.has(p.name[i])) state[i] = 1;
    else if (collapsed.has(p.name[i])) state[i] = 2;
    if (state[i]) touched = true;
  }
  if (!touched) return p;
  const keep = new Uint8Array(p.n);
  const selfs = [];
  const totals = [];
  for (let s = 0; s < sides; s++) {
    const [self, total] = cols[s];
    const ns = new Float64Array(p.n);
    const nt = new Float64Array(p.n);
    for (let i = 0; i < p.n; i++) {
      if (state[i] === 1) continue;
      keep[i] = 1;
      ns[i] = state[i] === 2 ? total[i] : self[i];
      nt[i] = ns[i];
    }
    // Children have larger indices than their parents.
    for (let i = p.n - 1; i > 0; i--) if (keep[i]) nt[p.parent[i]] += nt[i];
    selfs.push(ns);
    totals.push(nt);
  }
  return decode(relayout(p, keep, selfs, totals));
}

// ---- Sandwich -------------------------------------------------------------

function node(name, sides) {
  return { name, v: new Float64Array(2 * sides), kids: null };
}

function child(n, name, sides) {
  if (!n.kids) n.kids = new Map();
  let c = n.kids.get(name);
  if (!c) {
    c = node(name, sides);
    n.kids.set(name, c);
  }
  return c;
}

// A decoded profile from a tree of { name (index into names), v: [self,
// total] per side, kids: Map }. Siblings come in the order of their names.
function fromTree(root, names, sides, meta) {
  const levels = [];
  let row = [{ n: root, x: new Float64Array(sides) }];
  let maxSelf = 0;
  const order = (a, b) => (names[a.name] < names[b.name] ? -1 : names[a.name] > names[b.name] ? 1 : 0);
  while (row.length) {
    const lv = [];
    const next = [];
    const prevEnd = new Float64Array(sides);
    for (const { n, x } of row) {
      for (let s = 0; s < sides; s++) {
        const self = n.v[2 * s];
        const total = n.v[2 * s + 1];
        lv.push(x[s] - prevEnd[s], total, self);
        prevEnd[s] = x[s] + total;
        if (self > maxSelf) maxSelf = self;
      }
      lv.push(n.name);
      if (n.kids) {
        const kids = [...n.kids.values()].sort(order);
        const cur = new Float64Array(sides);
        for (let s = 0; s < sides; s++) cur[s] = x[s] + n.v[2 * s];
        for (const k of kids) {
          next.push({ n: k, x: Float64Array.from(cur) });
          for (let s = 0; s < sides; s++) cur[s] += k.v[2 * s + 1];
        }
      }
    }
    levels.push(lv);
    row = next;
  }
  const resp = { flamebearer: { names, levels, numTicks: root.v[1], maxSelf }, metadata: meta };
  if (sides === 2) {
    resp.leftTicks = root.v[1];
    resp.rightTicks = root.v[3];
    resp.flamebearer.numTicks = root.v[1] + root.v[3];
  }
  const out = decode(resp);
  out.rootIsFrame = true;
  return out;
}

// The sandwich of function fn (a name index) in p: { callers, callees,
// count }. callees merges everything under each outermost call of fn (a
// recursive call inside another counts once, as in the table); callers
// holds the stacks above those calls, from fn's caller up to the stack's
// first frame, meant to be drawn upside down. Both have fn as their root
// with fn's total; count is how many frames of p are outermost calls.
export function sandwich(p, fn) {
  const sides = p.format === 'double' ? 2 : 1;
  const cols = columns(p);
  const callers = node(fn, sides);
  const callees = node(fn, sides);
  const under = new Uint8Array(p.n);
  const { first, count } = childrenIndex(p);
  let outer = 0;
  for (let i = 1; i < p.n; i++) {
    const par = p.parent[i];
    const isFn = p.name[i] === fn;
    under[i] = under[par] || (isFn ? 1 : 0);
    if (!isFn || under[par]) continue;
    outer++;
    // Callees: the subtree of i merged into callees.
    const stack = [i, callees];
    while (stack.length) {
      const t = stack.pop();
      const k = stack.pop();
      for (let s = 0; s < sides; s++) {
        t.v[2 * s] += cols[s][0][k];
        t.v[2 * s + 1] += cols[s][1][k];
      }
      for (let c = first[k]; c >= 0 && c < first[k] + count[k]; c++) {
        stack.push(c, child(t, p.name[c], sides));
      }
    }
    // Callers: the path above i, nearest caller first.
    let t = callers;
    for (let s = 0; s < sides; s++) t.v[2 * s + 1] += cols[s][1][i];
    for (let k = par; k > 0; k = p.parent[k]) {
      t = child(t, p.name[k], sides);
      for (let s = 0; s < sides; s++) t.v[2 * s + 1] += cols[s][1][i];
    }
    for (let s = 0; s < sides; s++) t.v[2 * s] += cols[s][1][i];
  }
  const meta = p.metadata;
  return {
    count: outer,
    callers: fromTree(callers, p.names, sides, meta),
    callees: fromTree(callees, p.names, sides, meta),
  };
}

// The name index of a function name in p, or -1.
export function nameIndex(p, name) {
  return p.names.indexOf(name);
}
