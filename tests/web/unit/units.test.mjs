// Values in their units against the cases the server's renderers share
// (tests/data/units.json).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { formatShort, formatFull, formatDuration, formatBytes, formatCount, unitKind, quantityName } from '../../../web/js/units.js';

const fixture = JSON.parse(readFileSync(new URL('../../data/units.json', import.meta.url), 'utf8'));

test('every shared units case gives its short and full text', () => {
  const wrong = [];
  for (const c of fixture.cases) {
    const meta = { units: c.units, sampleRate: c.sampleRate || 0 };
    const s = formatShort(c.value, meta);
    const f = formatFull(c.value, meta);
    if (s !== c.short) wrong.push(`${c.units} ${c.value} short: got "${s}", want "${c.short}"`);
    if (f !== c.full) wrong.push(`${c.units} ${c.value} full: got "${f}", want "${c.full}"`);
  }
  assert.deepEqual(wrong, []);
});

test('a value that rounds up takes the next unit', () => {
  assert.equal(formatDuration(0.0009999996), '1.00 ms');
  assert.equal(formatBytes(1023.7 * 1024), '1.00 MiB');
  assert.equal(formatCount(999960), '1.00 M');
  assert.equal(formatDuration(3599.6), '1 h 00 min');
});

test('fractional values (averages) keep three digits', () => {
  assert.equal(formatShort(12.345, { units: 'objects' }), '12.3 objects');
  assert.equal(formatShort(0.4, { units: 'goroutines' }), '0.40 goroutines');
  assert.equal(formatShort(12, { units: 'objects' }), '12 objects');
  assert.equal(formatShort(0.5, { units: 'samples', sampleRate: 100 }), '5.00 ms');
});

test('what a profile measures', () => {
  assert.deepEqual(unitKind({ units: 'samples', sampleRate: 100 }), { kind: 'time', per: 100 });
  assert.deepEqual(unitKind({ units: 'samples' }), { kind: 'count', per: 1 });
  assert.equal(quantityName({ units: 'samples', sampleRate: 100 }), 'CPU time');
  assert.equal(quantityName({ units: 'bytes' }), 'bytes');
  assert.equal(quantityName({ units: 'goroutines' }), 'goroutines');
});
