// A strict check that a text is a well-formed XML 1.0 document, for the
// tests of the UI's SVG export (node has no XML parser of its own). It
// checks what a browser's XML parser refuses: characters outside XML's
// Char production, unbalanced or crossed tags, raw '<' or bare '&' in text
// and attributes, unquoted or repeated attributes, more or less than one
// root element. Returns null when the document is well-formed, else what
// is wrong and where.

const CHARS = /^[\t\n\r\u0020-\ud7ff\ue000-\ufffd\u{10000}-\u{10ffff}]*$/u;
const NAME = /^[A-Za-z_:][-A-Za-z0-9_:.]*/;
const REF = /^&(?:lt|gt|amp|quot|apos|#[0-9]+|#x[0-9a-fA-F]+);/;

function badChar(text) {
  let i = 0;
  for (const ch of text) {
    if (!CHARS.test(ch)) return i;
    i += ch.length;
  }
  return -1;
}

// Checks character data (text or an attribute value): no '<', and every
// '&' starts a reference.
function checkData(s, at) {
  for (let i = 0; i < s.length; i++) {
    if (s[i] === '<') return `'<' in character data at ${at + i}`;
    if (s[i] === '&' && !REF.test(s.slice(i))) return `bare '&' at ${at + i}`;
  }
  return null;
}

export function xmlError(text) {
  const bad = badChar(text);
  if (bad >= 0) return `character U+${text.codePointAt(bad).toString(16)} not allowed in XML at ${bad}`;
  const stack = [];
  let roots = 0;
  let i = 0;
  if (text.startsWith('<?xml')) {
    const end = text.indexOf('?>');
    if (end < 0) return 'unterminated XML declaration';
    i = end + 2;
  }
  while (i < text.length) {
    const lt = text.indexOf('<', i);
    const chunk = text.slice(i, lt < 0 ? text.length : lt);
    if (stack.length === 0 && chunk.trim() !== '') return `text outside the root element at ${i}`;
    const e = checkData(chunk, i);
    if (e) return e;
    if (lt < 0) break;
    i = lt;
    if (text.startsWith('<!--', i)) {
      const end = text.indexOf('-->', i + 4);
      if (end < 0) return `unterminated comment at ${i}`;
      i = end + 3;
    } else if (text.startsWith('<![CDATA[', i)) {
      if (stack.length === 0) return `CDATA outside the root element at ${i}`;
      const end = text.indexOf(']]>', i + 9);
      if (end < 0) return `unterminated CDATA at ${i}`;
      i = end + 3;
    } else if (text.startsWith('</', i)) {
      const m = NAME.exec(text.slice(i + 2));
      if (!m) return `bad end tag at ${i}`;
      const open = stack.pop();
      if (open !== m[0]) return `</${m[0]}> closes <${open}> at ${i}`;
      const end = text.indexOf('>', i);
      if (end < 0 || text.slice(i + 2 + m[0].length, end).trim() !== '') return `bad end tag at ${i}`;
      i = end + 1;
    } else {
      const m = NAME.exec(text.slice(i + 1));
      if (!m) return `bad start tag at ${i}`;
      let j = i + 1 + m[0].length;
      const seen = new Set();
      for (;;) {
        const ws = /^\s*/.exec(text.slice(j))[0].length;
        j += ws;
        if (text.startsWith('/>', j) || text[j] === '>') break;
        if (!ws) return `attributes must be separated by space at ${j}`;
        const a = NAME.exec(text.slice(j));
        if (!a) return `bad attribute at ${j}`;
        if (seen.has(a[0])) return `attribute ${a[0]} repeated at ${j}`;
        seen.add(a[0]);
        j += a[0].length;
        const eq = /^\s*=\s*/.exec(text.slice(j));
        if (!eq) return `attribute ${a[0]} without a value at ${j}`;
        j += eq[0].length;
        const q = text[j];
        if (q !== '"' && q !== "'") return `unquoted attribute ${a[0]} at ${j}`;
        const close = text.indexOf(q, j + 1);
        if (close < 0) return `unterminated attribute ${a[0]} at ${j}`;
        const err = checkData(text.slice(j + 1, close), j + 1);
        if (err) return err;
        j = close + 1;
      }
      if (stack.length === 0) roots++;
      if (text.startsWith('/>', j)) {
        i = j + 2;
      } else {
        stack.push(m[0]);
        i = j + 1;
      }
    }
  }
  if (stack.length) return `<${stack[stack.length - 1]}> is never closed`;
  if (roots !== 1) return `${roots} root elements`;
  return null;
}
