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

// Each name's place in the order of the names, computed once per names
// array (a profile's names are shared by all that is made from it).
const ranks = new WeakMap();
function rankOf(names) {
  let r = ranks.get(names);
  if (!r) {
    const order = names.map((_, k) => k).sort((a, b) => (names[a] < names[b] ? -1 : names[a] > names[b] ? 1 : 0));
    r = new Int32Array(names.length);
    order.forEach((k, j) => (r[k] = j));
    ranks.set(names, r);
  }
  return r;
}

// A tree built by merging paths: node k has a name index, a parent and a
// depth, and per side a self and a total. A child is found by its parent
// and name in an open-addressing hash table of node numbers, so merging
// costs no object per node.
class Merged {
  constructor(nNames, sides, root, cap = 1024) {
    this.nNames = nNames;
    this.sides = sides;
    this.n = 0;
    this.alloc(cap);
    this.node(-1, root);
  }

  slot(parent, name) {
    return (Math.imul(parent, 0x9e3779b1) ^ Math.imul(name + 1, 0x85ebca6b)) & this.mask;
  }

  rehash() {
    const size = this.cap * 2;
    this.table = new Int32Array(size).fill(-1);
    this.mask = size - 1;
    for (let k = 1; k < this.n; k++) {
      let h = this.slot(this.parent[k], this.name[k]);
      while (this.table[h] >= 0) h = (h + 1) & this.mask;
      this.table[h] = k;
    }
  }

  alloc(cap) {
    const grow = (a, T, per) => {
      const b = new T(cap * per);
      if (a) b.set(a.subarray(0, this.n * per));
      return b;
    };
    this.cap = cap;
    this.name = grow(this.name, Int32Array, 1);
    this.parent = grow(this.parent, Int32Array, 1);
    this.depth = grow(this.depth, Int32Array, 1);
    this.v = grow(this.v, Float64Array, 2 * this.sides); // [self, total] per side
    this.rehash(); // the table stays at most half full
  }

  node(parent, name) {
    let h = 0;
    if (parent >= 0) {
      h = this.slot(parent, name);
      for (let k = this.table[h]; k >= 0; k = this.table[h]) {
        if (this.parent[k] === parent && this.name[k] === name) return k;
        h = (h + 1) & this.mask;
      }
    }
    if (this.n === this.cap) {
      this.alloc(this.cap * 2);
      return this.node(parent, name);
    }
    const k = this.n++;
    this.name[k] = name;
    this.parent[k] = parent;
    this.depth[k] = parent >= 0 ? this.depth[parent] + 1 : 0;
    if (parent >= 0) this.table[h] = k;
    return k;
  }

  add(k, side, self, total) {
    const o = (k * this.sides + side) * 2;
    this.v[o] += self;
    this.v[o + 1] += total;
  }

  // The tree as a decoded profile: levels in depth order, siblings in the
  // order of their names, each node's children after its self.
  profile(names, meta) {
    const { n, sides, v } = this;
    const rank = rankOf(names);
    const byDepth = [];
    for (let k = 0; k < n; k++) (byDepth[this.depth[k]] ||= []).push(k);
    const pos = new Int32Array(n);
    const x = new Float64Array(n * sides);
    const levels = [];
    let maxSelf = 0;
    const LOCAL = 131072; // 2^17: room for a level's index in a sort key
    for (let d = 0; d < byDepth.length; d++) {
      let ks = byDepth[d];
      // Siblings together in the order of their parents, then by name:
      // one numeric sort of keys (parent's place, name's rank, index).
      if (ks.length < LOCAL && n * names.length < 2 ** 53 / LOCAL) {
        const keys = new Float64Array(ks.length);
        for (let j = 0; j < ks.length; j++) {
          const k = ks[j];
          keys[j] = ((d ? pos[this.parent[k]] : 0) * names.length + rank[this.name[k]]) * LOCAL + j;
        }
        keys.sort();
        const sorted = new Array(ks.length);
        for (let j = 0; j < ks.length; j++) sorted[j] = ks[keys[j] % LOCAL];
        ks = sorted;
      } else {
        ks.sort((a, b) => (d ? pos[this.parent[a]] - pos[this.parent[b]] : 0) || rank[this.name[a]] - rank[this.name[b]]);
      }
      const lv = [];
      const prevEnd = new Float64Array(sides);
      const cursor = new Float64Array(sides);
      let lastParent = -2;
      for (let j = 0; j < ks.length; j++) {
        const k = ks[j];
        pos[k] = j;
        const par = this.parent[k];
        if (par !== lastParent) {
          for (let s = 0; s < sides; s++) cursor[s] = par < 0 ? 0 : x[par * sides + s] + v[(par * sides + s) * 2];
          lastParent = par;
        }
        for (let s = 0; s < sides; s++) {
          const self = v[(k * sides + s) * 2];
          const total = v[(k * sides + s) * 2 + 1];
          x[k * sides + s] = cursor[s];
          lv.push(cursor[s] - prevEnd[s], total, self);
          prevEnd[s] = cursor[s] + total;
          cursor[s] += total;
          if (self > maxSelf) maxSelf = self;
        }
        lv.push(this.name[k]);
      }
      levels.push(lv);
    }
    const resp = { flamebearer: { names, levels, numTicks: v[1], maxSelf }, metadata: meta };
    if (sides === 2) {
      resp.leftTicks = v[1];
      resp.rightTicks = v[3];
      resp.flamebearer.numTicks = v[1] + v[3];
    }
    const out = decode(resp);
    out.rootIsFrame = true;
    return out;
  }
}

// The sandwich of function fn (a name index) in p: { callers, callees,
// count }. callees merges everything under each outermost call of fn (a
// recursive call inside another counts once, as in the table); callers
// holds the stacks above those calls, from fn's caller up to the stack's
// first frame, meant to be drawn upside down. Both have fn as their root
// with fn's total; count is how many frames of p are outermost calls.
//
// One pass in node order (parents first): a node under an outermost call
// joins callees at its parent's merged node, so no subtree is walked twice.
export function sandwich(p, fn) {
  const sides = p.format === 'double' ? 2 : 1;
  const cols = columns(p);
  const nNames = p.names.length;
  const callers = new Merged(nNames, sides, fn);
  const callees = new Merged(nNames, sides, fn, 4096);
  // For each node: its merged callees node, or -1 outside every call of fn.
  const at = new Int32Array(p.n).fill(-1);
  let outer = 0;
  for (let i = 1; i < p.n; i++) {
    const par = p.parent[i];
    const inside = at[par];
    if (inside >= 0) {
      const k = callees.node(inside, p.name[i]);
      at[i] = k;
      for (let s = 0; s < sides; s++) callees.add(k, s, cols[s][0][i], cols[s][1][i]);
      continue;
    }
    if (p.name[i] !== fn) continue;
    outer++;
    at[i] = 0;
    for (let s = 0; s < sides; s++) callees.add(0, s, cols[s][0][i], cols[s][1][i]);
    // Callers: the path above i, nearest caller first.
    let t = 0;
    for (let s = 0; s < sides; s++) callers.add(0, s, 0, cols[s][1][i]);
    for (let k = par; k > 0; k = p.parent[k]) {
      t = callers.node(t, p.name[k]);
      for (let s = 0; s < sides; s++) callers.add(t, s, 0, cols[s][1][i]);
    }
    for (let s = 0; s < sides; s++) callers.add(t, s, cols[s][1][i], 0);
  }
  const meta = p.metadata;
  return { count: outer, callers: callers.profile(p.names, meta), callees: callees.profile(p.names, meta) };
}

// The name index of a function name in p, or -1.
export function nameIndex(p, name) {
  return p.names.indexOf(name);
}
