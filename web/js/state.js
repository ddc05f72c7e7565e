// The view state that lives in the URL, so a link reproduces a view and
// back/forward walk through selections. Pure: no DOM; works on the query
// string only.

import { isTime, halves, resolveRange } from './time.js';

export const VIEWS = ['single', 'comparison', 'diff', 'explore'];
export const SHOWS = ['both', 'graph', 'table'];
// Table columns. In a diff, dself and dtotal (the change of the self and
// total shares in percentage points) sort by the size of the change.
export const SORT_KEYS = ['name', 'self', 'total', 'dself', 'dtotal', 'diff'];
export const ALIGNS = ['left', 'right'];
export const PALETTES = ['rg', 'cb'];

// Field order is the order of parameters in a serialised URL.
export const DEFAULTS = Object.freeze({
  view: 'single',
  query: '',
  from: 'now-1h',
  until: 'now',
  leftQuery: '',
  leftFrom: '',
  leftUntil: '',
  rightQuery: '',
  rightFrom: '',
  rightUntil: '',
  search: '',
  regex: false,
  fn: '',
  zoom: '',
  leftZoom: '',
  rightZoom: '',
  show: 'both',
  sort: '', // the view's own: by self, or in a diff by the change of self
  refresh: false,
  maxNodes: 0,
  sandwich: '', // the function whose callers and callees are shown
  hide: '', // frames hidden ("h:NAME") or collapsed ("c:NAME"), one a line
  groupBy: '', // the tag explorer's label key
  groupValue: '', // ... the value whose flame graph it shows
  top: 10, // ... how many values it lists on their own
  align: 'left', // frame labels
  palette: 'rg', // diff colors: red/green, or cb: blue/orange
});

const TIME_FIELDS = ['from', 'until', 'leftFrom', 'leftUntil', 'rightFrom', 'rightUntil'];
const TEXT_FIELDS = ['query', 'leftQuery', 'rightQuery', 'search', 'fn', 'zoom', 'leftZoom', 'rightZoom', 'sandwich', 'hide', 'groupBy', 'groupValue'];

// A complete, valid state from a query string ("?a=b&..." or "a=b&...").
// Anything missing or invalid takes its default.
export function parseState(search) {
  const q = new URLSearchParams(search || '');
  const st = { ...DEFAULTS };
  for (const k of TEXT_FIELDS) {
    if (q.has(k)) st[k] = q.get(k);
  }
  // The legacy spelling of the query, as links to older servers carry it.
  if (!q.has('query') && q.has('name')) st.query = q.get('name');
  for (const k of TIME_FIELDS) {
    const v = q.get(k);
    if (v !== null && isTime(v)) st[k] = v;
  }
  if (VIEWS.includes(q.get('view'))) st.view = q.get('view');
  if (SHOWS.includes(q.get('show'))) st.show = q.get('show');
  if (ALIGNS.includes(q.get('align'))) st.align = q.get('align');
  if (PALETTES.includes(q.get('palette'))) st.palette = q.get('palette');
  const sort = q.get('sort');
  if (sort && SORT_KEYS.includes(sort.replace(/^-/, ''))) st.sort = sort;
  st.regex = q.get('regex') === '1';
  st.refresh = q.get('refresh') === '10s';
  const top = Number(q.get('top'));
  if (Number.isInteger(top) && top >= 1 && top <= 100) st.top = top;
  const mn = Number(q.get('maxNodes'));
  if (Number.isInteger(mn) && (mn > 0 || mn === -1)) st.maxNodes = mn;
  return st;
}

// The query string for a state ("" when everything is default), with "?"
// prepended when non-empty. Only non-default fields are written, in a fixed
// order, so equal states give equal URLs.
export function serializeState(st) {
  const q = new URLSearchParams();
  for (const k of Object.keys(DEFAULTS)) {
    const v = st[k];
    if (v === undefined || v === DEFAULTS[k]) continue;
    if (k === 'regex') q.set(k, '1');
    else if (k === 'refresh') q.set(k, '10s');
    else q.set(k, String(v));
  }
  const s = q.toString();
  return s ? `?${s}` : '';
}

export function sameState(a, b) {
  return serializeState(a) === serializeState(b);
}

// Sort key and direction from "-self" / "name"; '' is the default of the
// table: by self, or in a diff (double) by the change of self.
export function parseSort(sort, double = false) {
  const s = sort || (double ? '-dself' : '-self');
  const desc = s.startsWith('-');
  return { key: desc ? s.slice(1) : s, desc };
}

// The frames hidden and collapsed, from the state's hide field.
export function parseHide(text) {
  const hidden = [];
  const collapsed = [];
  for (const line of String(text || '').split('\n')) {
    if (line.startsWith('h:') && line.length > 2) hidden.push(line.slice(2));
    else if (line.startsWith('c:') && line.length > 2) collapsed.push(line.slice(2));
  }
  return { hidden, collapsed };
}

// The hide field with name added as hidden ('h') or collapsed ('c'), or
// removed (kind null).
export function withHide(text, name, kind) {
  const lines = String(text || '')
    .split('\n')
    .filter((l) => l && l.slice(2) !== name);
  if (kind) lines.push(`${kind}:${name}`);
  return lines.join('\n');
}

// Whether the two sides compare different queries (then they share one
// time range) rather than two times of one query.
export function comparesQueries(st) {
  const l = st.leftQuery || st.query;
  const r = st.rightQuery || st.query;
  return l !== r;
}

// What the comparison and diff views fetch: each side's query and absolute
// range. A side without its own query uses the main query. A side without
// its own range gets the whole main range when the two sides differ by
// query ("what differs between these two tag values", at the same time),
// else its half of it (left before, right after): comparing two times.
export function sides(st, now) {
  const main = resolveRange(st.from, st.until, now);
  const h = comparesQueries(st) ? { left: main, right: main } : halves(main.from, main.until);
  const side = (query, from, until, dflt) => {
    let range = dflt;
    if (from && until) {
      try {
        range = resolveRange(from, until, now);
      } catch {
        range = dflt;
      }
    }
    return { query: query || st.query, from: range.from, until: range.until };
  };
  return {
    main,
    left: side(st.leftQuery, st.leftFrom, st.leftUntil, h.left),
    right: side(st.rightQuery, st.rightFrom, st.rightUntil, h.right),
  };
}
