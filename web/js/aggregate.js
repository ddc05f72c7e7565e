// The table's rows: one per function name, with its self and total summed
// over every place it appears in the tree. Pure: no DOM.
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
      row.diff = relativeChange(lt[k], rt[k], p.leftTicks, p.rightTicks);
    }
    rows.push(row);
  }
  return rows;
}

// Sorts in place by key ('name', 'self', 'total', 'lself', ...); ties by
// name so the order is stable across refreshes.
export function sortRows(rows, key, desc) {
  const dir = desc ? -1 : 1;
  if (key === 'name') {
    rows.sort((a, b) => dir * (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    return rows;
  }
  rows.sort((a, b) => {
    const va = a[key] ?? 0;
    const vb = b[key] ?? 0;
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
