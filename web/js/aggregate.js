// The table's rows: one per function name, with its self and total summed
// over every place it appears in the tree. Pure: no DOM.
//
// The server computes them from the whole tree, before the graph's node
// limit folds small frames into "other" (the "functions" field of /render
// and /render-diff, docs/API.md); fromServer() reads that. aggregate() is
// the fallback for a server without the field: the same sums over the tree
// as received.
//
// A function's total counts each stack once even when the function recurses:
// a node adds its total only when no ancestor has the same name. An
// iterative depth-first walk keeps a count of each name on the current path.

import { childrenIndex } from './flamebearer.js';
import { relativeChange } from './colors.js';

// rows: [{ name, self, total }] and for a diff also lself, ltotal, rself,
// rtotal and diff (relative change of the total's share, see colors.js).
export function aggregate(p) {
  const names = p.names;
  const m = names.length;
  const self = new Float64Array(m);
  const total = new Float64Array(m);
  const double = p.format === 'double';
  const ls = double ? new Float64Array(m) : null;
  const lt = double ? new Float64Array(m) : null;
  const rs = double ? new Float64Array(m) : null;
  const rt = double ? new Float64Array(m) : null;
  const seen = new Uint8Array(m);
  const onPath = new Int32Array(m);
  if (p.n > 1) {
    const { first, count } = childrenIndex(p);
    // Entering node i pushes ~i (its exit), then its children.
    const stack = [];
    for (let c = first[0] + count[0] - 1; c >= first[0] && c > 0; c--) stack.push(c);
    while (stack.length) {
      const i = stack.pop();
      if (i < 0) {
        onPath[p.name[~i]]--;
        continue;
      }
      const nm = p.name[i];
      seen[nm] = 1;
      self[nm] += p.self[i];
      if (double) {
        ls[nm] += p.lself[i];
        rs[nm] += p.rself[i];
      }
      if (onPath[nm] === 0) {
        total[nm] += p.total[i];
        if (double) {
          lt[nm] += p.ltotal[i];
          rt[nm] += p.rtotal[i];
        }
      }
      onPath[nm]++;
      stack.push(~i);
      for (let c = first[i] + count[i] - 1; c >= first[i] && first[i] > 0; c--) stack.push(c);
    }
  }
  const rows = [];
  for (let k = 0; k < m; k++) {
    if (!seen[k]) continue;
    const row = { name: names[k], self: self[k], total: total[k] };
    if (double) {
      row.lself = ls[k];
      row.ltotal = lt[k];
      row.rself = rs[k];
      row.rtotal = rt[k];
      withChange(row, p.leftTicks, p.rightTicks);
    }
    rows.push(row);
  }
  return rows;
}

// The shares of a diff row and their change: ls, rs, lt, rt (self and
// total as shares of their side), dself and dtotal (the change of those
// shares in percentage points, right minus left) and diff (the relative
// change of the total's share, see colors.js).
export function withChange(row, leftTicks, rightTicks) {
  const l = leftTicks > 0 ? leftTicks : 0;
  const r = rightTicks > 0 ? rightTicks : 0;
  row.ls = l ? row.lself / l : 0;
  row.rs = r ? row.rself / r : 0;
  row.lt = l ? row.ltotal / l : 0;
  row.rt = r ? row.rtotal / r : 0;
  row.dself = (row.rs - row.ls) * 100;
  row.dtotal = (row.rt - row.lt) * 100;
  row.self = (row.ls + row.rs) / 2;
  row.total = (row.lt + row.rt) / 2;
  row.diff = relativeChange(row.ltotal, row.rtotal, leftTicks, rightTicks);
  return row;
}

// Rows from the server's "functions" field, or null when it is missing or
// not what docs/API.md says (then the caller aggregates the tree itself).
// p: the decoded profile it came with (for the sides' totals).
export function fromServer(functions, p) {
  if (!functions || !Array.isArray(functions.items)) return null;
  const double = p.format === 'double';
  const rows = [];
  for (const it of functions.items) {
    if (!it || typeof it.name !== 'string') return null;
    if (double) {
      if (!Array.isArray(it.self) || !Array.isArray(it.total)) return null;
      const row = { name: it.name, lself: +it.self[0] || 0, rself: +it.self[1] || 0, ltotal: +it.total[0] || 0, rtotal: +it.total[1] || 0 };
      rows.push(withChange(row, p.leftTicks, p.rightTicks));
    } else {
      rows.push({ name: it.name, self: +it.self || 0, total: +it.total || 0 });
    }
  }
  rows.count = Number(functions.count) || rows.length;
  rows.truncated = Boolean(functions.truncated);
  return rows;
}

// Sorts in place by key ('name', 'self', 'total', 'dself', 'dtotal',
// 'diff'); ties by name so the order is stable across refreshes. dself and
// dtotal sort by the size of the change, whichever its sign: a frame that
// went from 40% to 0% is as much the answer as one that went from 0% to 40%.
export function sortRows(rows, key, desc) {
  const dir = desc ? -1 : 1;
  if (key === 'name') {
    rows.sort((a, b) => dir * (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    return rows;
  }
  const mag = key === 'dself' || key === 'dtotal';
  rows.sort((a, b) => {
    const va = mag ? Math.abs(a[key] ?? 0) : a[key] ?? 0;
    const vb = mag ? Math.abs(b[key] ?? 0) : b[key] ?? 0;
    if (va !== vb) return va < vb ? -dir : dir;
    return a.name < b.name ? -1 : a.name > b.name ? 1 : 0;
  });
  return rows;
}

// The rows whose name the matcher (search.js) accepts; all when inactive.
export function filterRows(rows, matcher) {
  if (!matcher.active) return rows;
  return rows.filter((r) => matcher.test(r.name));
}
