// Folded text of the current view. Pure: no DOM; the caller turns the
// string into a download. (The SVG and HTML exports are the server's own,
// see download.js.)

import { childrenIndex, pathOf } from './flamebearer.js';

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
