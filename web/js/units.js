// Values in the units of their profile type. Pure: no DOM.
//
// The header, the table, the tooltips, the timeline, the tag explorer, the
// exports and the server's SVG and HTML renderers all format values by this
// one rule (tests/data/units.json holds the cases every implementation must
// pass):
//   samples           with a sampleRate: the CPU time they stand for
//                     (samples / sampleRate seconds), as a duration;
//                     without one: a count of samples
//   nanoseconds, lock_nanoseconds, microseconds, milliseconds, seconds
//                     a duration
//   bytes             binary units only: B, KiB, MiB, GiB, TiB, PiB, EiB
//   objects, goroutines, lock_samples (as "contentions"), anything else
//                     a count with its name: "7 objects", "1 goroutine",
//                     "45.6 k objects"; an unknown unit keeps its own name
//                     with "_" read as a space
// Each value has two forms: `short` for table cells, axes and frame labels,
// and `full` for the header and tooltips, which adds the exact count where
// the short form hides it ("2.50 s (250 samples)", "1,234,567 objects").
//
// Numbers carry three significant digits (d decimals: 2 below 10, 1 below
// 100, else 0), rounded half up on the double value: round(x * 10^d) is
// floor(x * 10^d + 0.5) in double arithmetic, so C and JavaScript agree to
// the digit. Seconds are value / (values per second); a duration's ns, µs
// and ms are seconds * 1e9, * 1e6 and * 1e3, its minutes and hours
// seconds / 60 and / 3600; a count's k, M ... and a size's KiB, MiB ...
// come from dividing by 1,000 or 1,024 once per step. A value that rounds
// up to the next unit moves to it (1023.7 KiB is "1.00 MiB", 999.996 ms is
// "1.00 s"). Negative values read as "-" and the positive form. Durations:
//   below 1 µs  "N ns" (whole)       below 1 ms  "x.xx µs"
//   below 1 s   "x.xx ms"            below 1 min "x.xx s"
//   below 1 h   "M min SS s"         below 1 d   "H h MM min"
//   else        "D d HH h"
// (minutes, hours and days from the value rounded to whole seconds,
// minutes and hours). Counts below 10,000 are whole numbers with "," every
// three digits; larger ones take k, M, G, T, P, E (powers of 1,000). (The
// UI's averages, never whole, keep three digits below 100: "0.40
// goroutines"; the server formats only sums.)

function roundTo(x, d) {
  const f = d === 2 ? 100 : d === 1 ? 10 : 1;
  return Math.floor(x * f + 0.5) / f;
}

// x (>= 0) with three significant digits, and the value shown.
function sig3(x) {
  let r = roundTo(x, 2);
  if (r < 10) return { text: r.toFixed(2), value: r };
  r = roundTo(x, 1);
  if (r < 100) return { text: r.toFixed(1), value: r };
  r = roundTo(x, 0);
  return { text: r.toFixed(0), value: r };
}

// A whole number with "," every three digits.
export function groupDigits(v) {
  const s = roundTo(Math.abs(v), 0).toFixed(0);
  let out = '';
  for (let i = 0; i < s.length; i++) {
    if (i > 0 && (s.length - i) % 3 === 0) out += ',';
    out += s[i];
  }
  return v < 0 && s !== '0' ? `-${out}` : out;
}

function pad2(n) {
  return n < 10 ? `0${n}` : String(n);
}

// A duration of sec seconds.
export function formatDuration(sec) {
  if (sec < 0) return `-${formatDuration(-sec)}`;
  if (!(sec > 0)) return '0 s';
  const ns = roundTo(sec * 1e9, 0);
  if (ns < 1000) return `${ns} ns`;
  const small = [
    [1e6, 'µs', 1000],
    [1e3, 'ms', 1000],
    [1, 's', 60],
  ];
  for (const [per, name, limit] of small) {
    const x = sec * per;
    if (x >= limit) continue;
    const r = sig3(x);
    if (r.value < limit) return `${r.text} ${name}`;
  }
  const s = roundTo(sec, 0);
  if (s < 3600) return `${Math.floor(s / 60)} min ${pad2(s % 60)} s`;
  const m = roundTo(sec / 60, 0);
  if (m < 1440) return `${Math.floor(m / 60)} h ${pad2(m % 60)} min`;
  const h = roundTo(sec / 3600, 0);
  return `${Math.floor(h / 24)} d ${pad2(h % 24)} h`;
}

const BYTE_UNITS = ['KiB', 'MiB', 'GiB', 'TiB', 'PiB', 'EiB'];

export function formatBytes(v) {
  if (v < 0) return `-${formatBytes(-v)}`;
  if (roundTo(v, 0) < 1024) return `${roundTo(v, 0)} B`;
  let x = v;
  for (let u = 0; u < BYTE_UNITS.length; u++) {
    x /= 1024;
    const r = sig3(x);
    if (r.value < 1024 || u === BYTE_UNITS.length - 1) return `${r.text} ${BYTE_UNITS[u]}`;
  }
  return '';
}

const SI = ['k', 'M', 'G', 'T', 'P', 'E'];

// A count: "1,234", "45.6 k", "7.50 M".
export function formatCount(v) {
  if (v < 0) return `-${formatCount(-v)}`;
  // An average (the tag explorer's) below 100 keeps its fraction.
  if (v < 100 && !Number.isInteger(v)) {
    const r = sig3(v);
    if (r.value < 100) return r.text;
  }
  if (roundTo(v, 0) < 10000) return groupDigits(v);
  let x = v;
  for (let u = 0; u < SI.length; u++) {
    x /= 1000;
    const r = sig3(x);
    if (r.value < 1000 || u === SI.length - 1) return `${r.text} ${SI[u]}`;
  }
  return '';
}

// Units per second of the duration units.
const DURATION_UNITS = {
  nanoseconds: 1e9,
  lock_nanoseconds: 1e9,
  microseconds: 1e6,
  milliseconds: 1e3,
  seconds: 1,
};

// Count units: [singular, plural] as a person reads them.
const COUNT_NAMES = {
  samples: ['sample', 'samples'],
  objects: ['object', 'objects'],
  goroutines: ['goroutine', 'goroutines'],
  lock_samples: ['contention', 'contentions'],
  exceptions: ['exception', 'exceptions'],
};

function countName(units, v) {
  const n = COUNT_NAMES[units];
  if (n) return v === 1 ? n[0] : n[1];
  return String(units).replace(/_/g, ' ');
}

// What kind of quantity a profile's values are: 'time' (shown as a
// duration), 'bytes' or 'count'; for time, `per` values make a second.
export function unitKind(meta = {}) {
  const units = meta.units || 'samples';
  if (units === 'bytes') return { kind: 'bytes', per: 1 };
  if (Object.hasOwn(DURATION_UNITS, units)) return { kind: 'time', per: DURATION_UNITS[units] };
  const rate = Number(meta.sampleRate) || 0;
  if (units === 'samples' && rate > 0) return { kind: 'time', per: rate };
  return { kind: 'count', per: 1 };
}

// The short form of v: "2.50 s", "264 MiB", "45.6 k objects".
export function formatShort(v, meta = {}) {
  const units = meta.units || 'samples';
  const k = unitKind(meta);
  if (k.kind === 'bytes') return formatBytes(v);
  if (k.kind === 'time') return formatDuration(v / k.per);
  return `${formatCount(v)} ${countName(units, v)}`;
}

// The full form of v: the short form, and the exact count where the short
// form rounds it or hides it: "2.50 s (250 samples)", "1,234,567 objects".
export function formatFull(v, meta = {}) {
  const units = meta.units || 'samples';
  const k = unitKind(meta);
  if (k.kind === 'bytes') return formatBytes(v);
  if (k.kind === 'time') {
    const d = formatDuration(v / k.per);
    return units === 'samples' ? `${d} (${groupDigits(v)} ${countName(units, v)})` : d;
  }
  return `${groupDigits(v)} ${countName(units, v)}`;
}

// The name of what a profile measures, for headers and axis titles:
// "CPU time", "memory", "objects".
export function quantityName(meta = {}) {
  const units = meta.units || 'samples';
  const k = unitKind(meta);
  if (k.kind === 'bytes') return 'bytes';
  if (k.kind === 'time') return units === 'samples' ? 'CPU time' : units === 'lock_nanoseconds' ? 'lock time' : 'time';
  return countName(units, 2);
}
