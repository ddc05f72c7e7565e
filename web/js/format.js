// Number, unit and name formatting for labels, tooltips and the table.
// Pure: no DOM.

const intFmt = new Intl.NumberFormat('en-US', { maximumFractionDigits: 0 });

export function formatInt(v) {
  return intFmt.format(Math.round(v));
}

// "12.3%", with more digits for small shares so they do not read as zero.
export function formatPercent(share) {
  if (!Number.isFinite(share)) return share > 0 ? '+∞%' : '–';
  const p = share * 100;
  const a = Math.abs(p);
  if (a === 0) return '0%';
  if (a < 0.01) return p < 0 ? '>-0.01%' : '<0.01%';
  if (a < 1) return `${p.toFixed(2)}%`;
  if (a < 10) return `${p.toFixed(1)}%`;
  return `${Math.round(p)}%`;
}

// A relative change with its sign: "+12%", "-3.4%", "new", "gone".
export function formatChange(change) {
  if (change === Infinity) return 'new';
  if (change === -1) return 'gone';
  if (change === 0) return '±0%';
  const s = formatPercent(change);
  return change > 0 ? `+${s}` : s;
}

const BYTE_UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];

export function formatBytes(v) {
  let u = 0;
  let x = Math.abs(v);
  while (x >= 1024 && u < BYTE_UNITS.length - 1) {
    x /= 1024;
    u++;
  }
  const s = u === 0 ? String(Math.round(x)) : x.toFixed(x < 10 ? 2 : x < 100 ? 1 : 0);
  return `${v < 0 ? '-' : ''}${s} ${BYTE_UNITS[u]}`;
}

// Seconds as "850 ms", "12.3 s", "4 min 05 s", "2 h 10 min".
export function formatDuration(sec) {
  const a = Math.abs(sec);
  if (a < 1) return `${Math.round(sec * 1000)} ms`;
  if (a < 60) return `${sec.toFixed(a < 10 ? 2 : 1)} s`;
  if (a < 3600) {
    const m = Math.floor(a / 60);
    return `${m} min ${String(Math.round(a - m * 60)).padStart(2, '0')} s`;
  }
  const h = Math.floor(a / 3600);
  return `${h} h ${String(Math.round((a - h * 3600) / 60)).padStart(2, '0')} min`;
}

// The server's sums saturate at 2^64 - 1 instead of wrapping; JSON readers
// round that to 2^64 (18,446,744,073,709,552,000), a number no real sum
// below the ceiling reaches, so it reads as "at least this much".
export const SATURATED = 2 ** 64;

export function isSaturated(v) {
  return v >= SATURATED;
}

// A compact form for table cells: "1.23 k", "45.6 M".
export function formatCompact(v) {
  if (isSaturated(v)) return '≥ 18.4 E';
  const a = Math.abs(v);
  if (a < 1e4) return formatInt(v);
  const units = [
    [1e12, 'T'],
    [1e9, 'G'],
    [1e6, 'M'],
    [1e3, 'k'],
  ];
  for (const [base, suffix] of units) {
    if (a >= base) {
      const x = v / base;
      return `${x.toFixed(Math.abs(x) < 10 ? 2 : Math.abs(x) < 100 ? 1 : 0)} ${suffix}`;
    }
  }
  return formatInt(v);
}

// A value in the profile's units. CPU samples also show the time they stand
// for (samples / sampleRate), the number a person usually wants.
export function formatValue(v, meta = {}) {
  const units = meta.units || 'samples';
  if (isSaturated(v)) return `≥ 18.4 quintillion ${units} (sum saturated)`;
  if (units === 'bytes') return formatBytes(v);
  if (units === 'samples') {
    const rate = Number(meta.sampleRate) || 0;
    const s = `${formatInt(v)} ${v === 1 ? 'sample' : 'samples'}`;
    return rate > 0 ? `${s} (${formatDuration(v / rate)})` : s;
  }
  return `${formatInt(v)} ${units}`;
}

// Shortens a frame name to at most max characters. The end of a name is
// its most specific part (the function, the line), so it is kept; with room
// for ten characters or more the first third goes to the start of the name
// (its package), the rest to the end: "github.com/…Server).serve". Returns
// '' when not even two characters fit.
export function elide(name, max) {
  if (name.length <= max) return name;
  if (max < 2) return '';
  const head = max >= 10 ? Math.floor((max - 1) / 3) : 0;
  const tail = max - 1 - head;
  return `${name.slice(0, head)}…${name.slice(name.length - tail)}`;
}
