// Builds /render and /render-diff style responses from folded stacks, the
// way docs/API.md describes them: levels of [x, total, self, name] (or the
// seven-number diff form), x delta-encoded within a level, a node's children
// starting at its x + self, siblings in byte order of their names. Used by
// the unit tests, the end-to-end tests' expectations and the benchmark.

function node(name) {
  return { name, self: [0, 0], total: [0, 0], kids: new Map() };
}

// Adds "a;b;c 12" lines to side (0 or 1) of the tree under root.
export function addFolded(root, text, side = 0) {
  for (const line of text.split('\n')) {
    const t = line.trim();
    if (!t) continue;
    const sp = t.lastIndexOf(' ');
    const count = Number(t.slice(sp + 1));
    let cur = root;
    cur.total[side] += count;
    for (const f of t.slice(0, sp).split(';')) {
      if (!f) continue;
      if (!cur.kids.has(f)) cur.kids.set(f, node(f));
      cur = cur.kids.get(f);
      cur.total[side] += count;
    }
    cur.self[side] += count;
  }
  return root;
}

function byteOrder(a, b) {
  if (a.name === 'other' && b.name !== 'other') return 1;
  if (b.name === 'other' && a.name !== 'other') return -1;
  return Buffer.compare(Buffer.from(a.name), Buffer.from(b.name));
}

// Lays the tree out in levels. double: the seven-number form.
export function encode(root, double) {
  const names = ['total'];
  const index = new Map([['total', 0]]);
  const nameOf = (n) => {
    if (!index.has(n)) {
      index.set(n, names.length);
      names.push(n);
    }
    return index.get(n);
  };
  const levels = [];
  let row = [{ n: root, x: [0, 0] }];
  let maxSelf = 0;
  while (row.length) {
    const lv = [];
    const prevEnd = [0, 0];
    const next = [];
    for (const { n, x } of row) {
      const sides = double ? [0, 1] : [0];
      for (const s of sides) {
        lv.push(x[s] - prevEnd[s], n.total[s], n.self[s]);
        prevEnd[s] = x[s] + n.total[s];
        maxSelf = Math.max(maxSelf, n.self[s]);
      }
      lv.push(n === root ? 0 : nameOf(n.name));
      const kids = [...n.kids.values()].sort(byteOrder);
      const cx = [x[0] + n.self[0], x[1] + n.self[1]];
      for (const k of kids) {
        next.push({ n: k, x: [cx[0], cx[1]] });
        cx[0] += k.total[0];
        cx[1] += k.total[1];
      }
    }
    levels.push(lv);
    row = next;
  }
  return { names, levels, numTicks: root.total[0] + (double ? root.total[1] : 0), maxSelf };
}

export function renderResponse(folded, meta = {}) {
  const root = addFolded(node('total'), folded, 0);
  return {
    version: 1,
    flamebearer: encode(root, false),
    metadata: { format: 'single', spyName: 'unknown', sampleRate: 100, units: 'samples', ...meta },
    timeline: { startTime: 1700000000, samples: [0, root.total[0] + 1], durationDelta: 10 },
  };
}

export function diffResponse(leftFolded, rightFolded, meta = {}) {
  const root = node('total');
  addFolded(root, leftFolded, 0);
  addFolded(root, rightFolded, 1);
  return {
    version: 1,
    flamebearer: encode(root, true),
    leftTicks: root.total[0],
    rightTicks: root.total[1],
    metadata: { format: 'double', spyName: 'unknown', sampleRate: 100, units: 'samples', ...meta },
    leftTimeline: { startTime: 1700000000, samples: [root.total[0] + 1], durationDelta: 10 },
    rightTimeline: { startTime: 1700000000, samples: [root.total[1] + 1], durationDelta: 10 },
    timeline: { startTime: 1700000000, samples: [root.total[1] + 1], durationDelta: 10 },
  };
}

// A deterministic pseudo-random profile of about `target` nodes: a few
// hundred packages, function names like pkgN.funcM, depth up to maxDepth.
export function syntheticFolded(target, seed = 1, maxDepth = 40) {
  let s = seed >>> 0 || 1;
  const rnd = () => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return s / 4294967296;
  };
  const pkgs = 300;
  const fname = () => {
    const p = Math.floor(rnd() ** 2 * pkgs);
    return `github.com/acme/svc${p % 17}/pkg${p}.Func${Math.floor(rnd() * 40)}`;
  };
  const lines = [];
  const prefixes = [['main']];
  let nodes = 1;
  while (nodes < target) {
    const base = prefixes[Math.floor(rnd() * prefixes.length)];
    if (base.length >= maxDepth) continue;
    const stack = base.concat(fname());
    nodes++;
    const extra = Math.floor(rnd() * 4);
    for (let k = 0; k < extra && stack.length < maxDepth; k++) {
      stack.push(fname());
      nodes++;
    }
    prefixes.push(stack);
    lines.push(`${stack.join(';')} ${1 + Math.floor(rnd() ** 3 * 1000)}`);
  }
  return lines.join('\n');
}
