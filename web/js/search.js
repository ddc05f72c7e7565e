// Search: which frames match the search box (substring or regex) or the
// function picked in the table, and what share of the profile they hold.
// Pure: no DOM. Matching runs once per distinct name, not per node.

// A predicate over frame names, or { error } for an invalid regex. An empty
// search matches nothing (and `active` is false).
export function compileMatcher(text, regex = false) {
  const t = String(text ?? '');
  if (t === '') return { active: false, test: () => false };
  if (regex) {
    let re;
    try {
      re = new RegExp(t, 'i');
    } catch (e) {
      return { active: false, test: () => false, error: `not a valid regular expression: ${e.message}` };
    }
    return { active: true, test: (s) => re.test(s) };
  }
  const lower = t.toLowerCase();
  return { active: true, lower, test: (s) => s.toLowerCase().includes(lower) };
}

// Lower-cased names, computed once per profile for substring searches.
const lowered = new WeakMap();

function lowerNames(names) {
  let l = lowered.get(names);
  if (!l) {
    l = names.map((s) => s.toLowerCase());
    lowered.set(names, l);
  }
  return l;
}

// The predicate for one exact function name (a table row).
export function exactMatcher(name) {
  if (!name) return { active: false, test: () => false };
  return { active: true, test: (s) => s === name };
}

// 1 for each name index the matcher accepts.
export function matchNames(names, matcher) {
  const out = new Uint8Array(names.length);
  if (!matcher.active) return out;
  if (matcher.lower !== undefined) {
    const l = lowerNames(names);
    for (let i = 0; i < l.length; i++) out[i] = l[i].includes(matcher.lower) ? 1 : 0;
    return out;
  }
  for (let i = 0; i < names.length; i++) out[i] = matcher.test(names[i]) ? 1 : 0;
  return out;
}

// Per node: 1 when the node matches. Also the combined totals of the
// matching nodes that have no matching ancestor (so recursion and nesting
// count once): total, and left/right for a diff. Parents precede children,
// so one forward pass knows each ancestor's state.
export function matchNodes(p, nameMatch) {
  const hit = new Uint8Array(p.n);
  const under = new Uint8Array(p.n);
  let total = 0;
  let left = 0;
  let right = 0;
  let count = 0;
  for (let i = 0; i < p.n; i++) {
    const parentUnder = i > 0 ? under[p.parent[i]] : 0;
    if (i > 0 && nameMatch[p.name[i]]) {
      hit[i] = 1;
      count++;
      if (!parentUnder) {
        total += p.total[i];
        if (p.ltotal) {
          left += p.ltotal[i];
          right += p.rtotal[i];
        }
      }
      under[i] = 1;
    } else {
      under[i] = parentUnder;
    }
  }
  return { hit, count, total, left, right };
}
