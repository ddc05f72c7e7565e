// The view state that lives in the URL, so a link reproduces a view and
// back/forward walk through selections. Pure: no DOM; works on the query
// string only.

import { isTime, halves, resolveRange } from './time.js';

export const VIEWS = ['single', 'comparison', 'diff'];
export const SHOWS = ['both', 'graph', 'table'];
export const SORT_KEYS = ['name', 'self', 'total', 'lself', 'ltotal', 'rself', 'rtotal', 'diff'];

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
  sort: '-self',
  refresh: false,
  maxNodes: 0,
});

const TIME_FIELDS = ['from', 'until', 'leftFrom', 'leftUntil', 'rightFrom', 'rightUntil'];
const TEXT_FIELDS = ['query', 'leftQuery', 'rightQuery', 'search', 'fn', 'zoom', 'leftZoom', 'rightZoom'];

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
  const sort = q.get('sort');
  if (sort && SORT_KEYS.includes(sort.replace(/^-/, ''))) st.sort = sort;
  st.regex = q.get('regex') === '1';
  st.refresh = q.get('refresh') === '10s';
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

// Sort key and direction from "-self" / "name".
export function parseSort(sort) {
  const desc = sort.startsWith('-');
  return { key: desc ? sort.slice(1) : sort, desc };
}

// What the comparison and diff views fetch: each side's query and absolute
// range. A side without its own query uses the main query; a side without
// its own range gets its half of the main range (left before, right after).
export function sides(st, now) {
  const main = resolveRange(st.from, st.until, now);
  const h = halves(main.from, main.until);
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
