// FlameQL selectors as the tag picker edits them: app.cpu{key="value",...}.
// Pure: no DOM. The server stays the judge of a query; this parser only
// needs to understand what the picker shows as chips, and a query it cannot
// read is still sent as typed so the server's error message reaches the user.

const OPS = ['=~', '!~', '!=', '='];

export class QueryError extends Error {}

// { app, matchers: [{ key, op, value }] }, or throws QueryError.
export function parseSelector(text) {
  const s = String(text ?? '').trim();
  const brace = s.indexOf('{');
  const app = (brace < 0 ? s : s.slice(0, brace)).trim();
  if (!/^[A-Za-z0-9_.-]+$/.test(app)) {
    throw new QueryError(app ? `"${app}" is not an app name` : 'the query names no app');
  }
  const matchers = [];
  if (brace < 0) return { app, matchers };
  if (!s.endsWith('}')) throw new QueryError('the query does not end with "}"');
  const body = s.slice(brace + 1, -1);
  let i = 0;
  const skip = () => {
    while (i < body.length && /\s/.test(body[i])) i++;
  };
  skip();
  while (i < body.length) {
    const km = /^[A-Za-z0-9_.]+/.exec(body.slice(i));
    if (!km) throw new QueryError(`expected a label name at "${body.slice(i)}"`);
    const key = km[0];
    i += key.length;
    skip();
    const op = OPS.find((o) => body.startsWith(o, i));
    if (!op) throw new QueryError(`expected =, !=, =~ or !~ after "${key}"`);
    i += op.length;
    skip();
    if (body[i] !== '"') throw new QueryError(`the value of "${key}" must be in double quotes`);
    i++;
    let value = '';
    for (;;) {
      if (i >= body.length) throw new QueryError(`the value of "${key}" has no closing quote`);
      const c = body[i++];
      if (c === '"') break;
      if (c === '\\') {
        if (i >= body.length) throw new QueryError(`the value of "${key}" ends in a backslash`);
        value += body[i++];
      } else {
        value += c;
      }
    }
    matchers.push({ key, op, value });
    skip();
    if (i < body.length) {
      if (body[i] !== ',') throw new QueryError(`expected "," or "}" after the value of "${key}"`);
      i++;
      skip();
    }
  }
  return { app, matchers };
}

export function quote(value) {
  return `"${String(value).replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
}

export function buildSelector(app, matchers = []) {
  return `${app}{${matchers.map((m) => `${m.key}${m.op}${quote(m.value)}`).join(',')}}`;
}

// The app a query is about, also when the rest of it does not parse.
export function appOf(text) {
  const s = String(text ?? '').trim();
  const brace = s.indexOf('{');
  return (brace < 0 ? s : s.slice(0, brace)).trim();
}

// The query with key bound to value by "=" (replacing any matcher of that
// key), or with key's matchers removed when value is null.
export function withLabel(text, key, value) {
  const { app, matchers } = parseSelector(text);
  const rest = matchers.filter((m) => m.key !== key);
  if (value !== null && value !== undefined) rest.push({ key, op: '=', value });
  return buildSelector(app, rest);
}

// The query without its i-th matcher.
export function withoutMatcher(text, index) {
  const { app, matchers } = parseSelector(text);
  return buildSelector(app, matchers.filter((_, k) => k !== index));
}
