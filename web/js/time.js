// Time ranges: the server's time syntax, presets, axis ticks and labels.
// Pure: no DOM. Times are Unix seconds unless a name says otherwise.

const UNIT_SECONDS = {
  s: 1,
  m: 60,
  min: 60,
  h: 3600,
  d: 86400,
  w: 604800,
  M: 2592000,
  mon: 2592000,
  y: 31536000,
};

export const PRESETS = [
  { key: '5m', label: 'Last 5 minutes', from: 'now-5m' },
  { key: '15m', label: 'Last 15 minutes', from: 'now-15m' },
  { key: '1h', label: 'Last hour', from: 'now-1h' },
  { key: '6h', label: 'Last 6 hours', from: 'now-6h' },
  { key: '24h', label: 'Last 24 hours', from: 'now-24h' },
  { key: '7d', label: 'Last 7 days', from: 'now-7d' },
  { key: '30d', label: 'Last 30 days', from: 'now-30d' },
];

// The preset a from/until pair is, or null for a custom range.
export function presetOf(from, until) {
  if (until !== 'now') return null;
  return PRESETS.find((p) => p.from === from) || null;
}

// Parses a time as the server does: Unix seconds (up to 10 digits), 13/16/19
// digits for milli/micro/nanoseconds, or now[+-N unit]. Returns seconds, or
// null when the text is none of these.
export function parseTime(text, now) {
  const t = String(text ?? '').trim();
  if (/^\d+$/.test(t)) {
    const len = t.length;
    if (len <= 10) return Number(t);
    if (len === 13) return Math.floor(Number(t) / 1e3);
    if (len === 16) return Math.floor(Number(t) / 1e6);
    if (len === 19) return Math.floor(Number(BigInt(t) / 1000000000n));
    return null;
  }
  const m = /^now(?:\s*([+-])\s*(\d+)\s*(s|min|mon|m|h|d|w|M|y))?$/.exec(t);
  if (!m) return null;
  if (!m[1]) return now;
  const delta = Number(m[2]) * UNIT_SECONDS[m[3]];
  return m[1] === '+' ? now + delta : now - delta;
}

// Whether text is a time the server accepts (so the URL can keep it as is).
export function isTime(text) {
  return parseTime(text, 0) !== null;
}

// Resolves from/until to numbers, or throws an Error a person can read.
export function resolveRange(from, until, now) {
  const f = parseTime(from, now);
  const u = parseTime(until, now);
  if (f === null) throw new Error(`"${from}" is not a time: use now-1h, a date, or Unix seconds`);
  if (u === null) throw new Error(`"${until}" is not a time: use now, a date, or Unix seconds`);
  if (u <= f) throw new Error('the end of the time range must be after its start');
  return { from: f, until: u };
}

// The two halves of a range: the default left and right selections of the
// comparison and diff views (before and after).
export function halves(from, until) {
  const mid = Math.round((from + until) / 2);
  return { left: { from, until: mid }, right: { from: mid, until } };
}

const TICK_STEPS = [
  1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600,
  43200, 86400, 172800, 604800, 1209600, 2592000,
];

// Axis ticks for [start, end): at most maxTicks times on round local-time
// steps. tzOffset(t) is the local offset east of UTC in seconds at t.
export function timeTicks(start, end, maxTicks, tzOffset = localOffset) {
  const span = end - start;
  if (!(span > 0) || maxTicks < 1) return [];
  const step = TICK_STEPS.find((s) => span / s <= maxTicks) || Math.ceil(span / maxTicks / 86400) * 86400;
  const off = step >= 3600 ? tzOffset(start) : 0;
  const out = [];
  let t = Math.ceil((start + off) / step) * step - off;
  for (; t < end; t += step) out.push(t);
  return out;
}

// Ticks with their labels, which never repeat: seconds show when ticks
// are under a minute apart, the date when the range spans more than a day
// or the ticks are a day or more apart, the year beyond 300 days.
// Returns { step, ticks: [{ t, label }] }.
export function axisTicks(start, end, maxTicks, tzOffset = localOffset) {
  const ticks = timeTicks(start, end, maxTicks, tzOffset);
  const step = ticks.length > 1 ? ticks[1] - ticks[0] : end - start;
  const span = end - start;
  const label = (t) => {
    const d = new Date((t + tzOffset(t)) * 1000);
    const hm = `${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}`;
    const date = `${MONTHS[d.getUTCMonth()]} ${d.getUTCDate()}${span > 300 * 86400 ? ` ${d.getUTCFullYear()}` : ''}`;
    if (step < 60) return `${hm}:${pad(d.getUTCSeconds())}`;
    if (step >= 86400) return date;
    return span > 86400 ? `${date} ${hm}` : hm;
  };
  return { step, ticks: ticks.map((t) => ({ t, label: label(t) })) };
}

export function localOffset(t) {
  return -new Date(t * 1000).getTimezoneOffset() * 60;
}

function pad(n) {
  return String(n).padStart(2, '0');
}

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

// A time for an axis or a tooltip; the span of the range decides how much
// of the date shows.
export function formatTime(t, span = 0, withSeconds = false) {
  const d = new Date(t * 1000);
  const hm = `${pad(d.getHours())}:${pad(d.getMinutes())}${withSeconds ? `:${pad(d.getSeconds())}` : ''}`;
  if (span <= 86400) return hm;
  const date = `${MONTHS[d.getMonth()]} ${d.getDate()}`;
  if (span > 30 * 86400) return date;
  return `${date} ${hm}`;
}

// For a <input type="datetime-local">: "2024-05-01T13:45".
export function toLocalInput(t) {
  const d = new Date(t * 1000);
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

// The inverse of toLocalInput, or null when the text is not such a value.
export function fromLocalInput(text) {
  const m = /^(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d)(?::(\d\d))?$/.exec(text || '');
  if (!m) return null;
  const d = new Date(+m[1], +m[2] - 1, +m[3], +m[4], +m[5], +(m[6] || 0));
  return Math.floor(d.getTime() / 1000);
}

// "Last hour", or "May 1 13:45 – 14:45" for an absolute range.
export function describeRange(from, until, now) {
  const p = presetOf(from, until);
  if (p) return p.label;
  const f = parseTime(from, now);
  const u = parseTime(until, now);
  if (f === null || u === null) return `${from} – ${until}`;
  const sameDay = new Date(f * 1000).toDateString() === new Date(u * 1000).toDateString();
  const start = formatTime(f, 86401);
  const end = until === 'now' ? 'now' : formatTime(u, sameDay ? 0 : 86401);
  return `${start} – ${end}`;
}
