// Frame labels that keep what matters: the function. Pure: no DOM.
//
// The flame graph, the table, the exports and the server's SVG and HTML
// renderers all shorten names by this one rule (tests/data/labels.json
// holds the cases every implementation must pass). Lengths are counted in
// Unicode code points, and the ellipsis "…" counts as one.
//
// A name reads as three parts:
//   prefix    the package, module, path, namespace or class: elided first,
//             from its front
//   function  the function or method: kept whole as long as it fits
//   suffix    an argument list "(int, char const*) const" or a location
//             " (server.py:58)": dropped before anything else is cut
// so "server:mutex_lock (server.py:58)" shortens to "server:mutex_lock",
// then "…mutex_lock", and only then "mutex_l…"; Go's
// "github.com/jackc/pgx/v5.(*Conn).runCursor" to "…v5.(*Conn).runCursor",
// "…runCursor"; C++'s "ns::Cache<int>::get(int) const" to "ns::Cache<int>::get",
// "…<int>::get". The rule:
//   1. A name that fits is shown whole.
//   2. Otherwise the suffix goes (see stripSuffix); what is left is shown
//      when it fits.
//   3. Otherwise, while the function and one "…" fit, "…" and as many of
//      the last characters of the stripped name as fit.
//   4. Otherwise the function alone when it fits exactly.
//   5. Otherwise the start of the function and "…"; nothing (the empty
//      string) when not even two characters fit.
// No language hint is needed: the separators of each language are told
// apart by their shape ("::", ".", "/", ":", "#", " - "), brackets are
// skipped as a whole, so template and argument lists never split a name.

const ELLIPSIS = '…';

// Code points of s: "é" and "😀" count one each, as the rule counts them.
function codePoints(s) {
  return Array.from(s);
}

// The index of the bracket that opens the group closing at s[end] (one of
// ')', ']', '>'), or -1 when it is not closed. Brackets of all three kinds
// nest; "->" is an arrow, not a bracket.
function openingOf(s, end) {
  let depth = 0;
  for (let i = end; i >= 0; i--) {
    const c = s[i];
    if (c === ')' || c === ']' || (c === '>' && !(i > 0 && s[i - 1] === '-'))) depth++;
    else if (c === '(' || c === '[' || c === '<') {
      depth--;
      if (depth === 0) return i;
    }
  }
  return -1;
}

// Trailing words after a C++ argument list that say nothing about which
// function it is: qualifiers and compiler clones such as " [clone .isra.0]".
const QUALIFIER = /(?:\s*(?:const|volatile|noexcept|&&|&)|\s*\[clone [^\]]*\])$/;
// A Rust symbol's hash: "::h" and 16 hex digits.
const RUST_HASH = /::h[0-9a-f]{16}$/;

// The name without its location or argument list (step 2), or the name
// itself when it has neither:
//   "func (file.py:12)", "handler (/app/server.js:12:5)": a space, then a
//                    bracketed group that ends the name, goes
//   "ns::f(int) const", "Foo.Bar()": an argument list that ends the name
//                    (after its qualifiers) goes, unless it is all there
//                    is or follows "operator"
//   "crate::f::h0123456789abcdef": the hash goes
export function stripSuffix(name) {
  let s = name;
  const hash = RUST_HASH.exec(s);
  if (hash && hash.index > 0) return s.slice(0, hash.index);
  let core = s;
  for (let m = QUALIFIER.exec(core); m && m.index > 0; m = QUALIFIER.exec(core)) {
    core = core.slice(0, m.index);
  }
  if (!core.endsWith(')')) return s;
  const open = openingOf(core, core.length - 1);
  if (open <= 0) return s;
  const before = core.slice(0, open);
  if (before.endsWith(' ')) {
    // A location " (file:line)": only when it is the very end of the name.
    if (core !== s) return s;
    const head = before.replace(/\s+$/, '');
    return head ? head : s;
  }
  if (/(?:^|[^A-Za-z0-9_])operator$/.test(before)) return s;
  return before;
}

const CLOSURE = /^(?:func\d+|\d+)$/;

// Where the function starts in a stripped name: after the last separator
// outside brackets, or after "file:line - " in the "path:line - function"
// form of some Ruby and Python profilers. Go closures ("handle.func1",
// "handle.func1.2") keep the function they belong to.
export function functionStart(s) {
  const loc = /:\d+ - /.exec(s);
  if (loc && loc.index + loc[0].length < s.length) return loc.index + loc[0].length;
  const seps = [];
  let depth = 0;
  for (let i = s.length - 1; i > 0; i--) {
    const c = s[i];
    if (c === ')' || c === ']' || (c === '>' && s[i - 1] !== '-')) {
      depth++;
      continue;
    }
    if (c === '(' || c === '[' || c === '<') {
      if (depth > 0) depth--;
      continue;
    }
    if (depth > 0) continue;
    if (c === '.' || c === '/' || c === '\\' || c === ':' || c === '#') {
      if (i + 1 < s.length) seps.push(i + 1);
    }
  }
  if (!seps.length) return 0;
  // seps runs right to left; a closure extends over its owner's name.
  let k = 0;
  while (k + 1 < seps.length && s[seps[k] - 1] === '.' && CLOSURE.test(s.slice(seps[k], k === 0 ? s.length : seps[k - 1] - 1))) {
    k++;
  }
  return seps[k];
}

// name shortened to at most max code points by the rule above.
export function elideLabel(name, max) {
  // UTF-16 units are never fewer than code points.
  if (name.length <= max) return name;
  const all = codePoints(name);
  if (all.length <= max) return name;
  if (max < 2) return '';
  const s = stripSuffix(name);
  const cs = codePoints(s);
  if (cs.length <= max) return s;
  const fn = codePoints(s.slice(functionStart(s)));
  if (fn.length < cs.length && max >= fn.length + 1) {
    return ELLIPSIS + cs.slice(cs.length - (max - 1)).join('');
  }
  if (fn.length <= max) return fn.join('');
  return fn.slice(0, max - 1).join('') + ELLIPSIS;
}

// The function part of a name alone: what a search for "frames like this"
// or the sandwich view's title shows.
export function functionOf(name) {
  const s = stripSuffix(name);
  return s.slice(functionStart(s));
}
