// Number, unit and name formatting.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatPercent, formatChange, formatBytes, formatDuration, formatValue, formatShortValue, formatCompact, formatPoints, elide } from '../../../web/js/format.js';

test('percentages keep small shares visible', () => {
  assert.equal(formatPercent(0.5), '50%');
  assert.equal(formatPercent(0.402), '40.2%');
  assert.equal(formatPercent(0.0512), '5.1%');
  assert.equal(formatPercent(0.00123), '0.12%');
  assert.equal(formatPercent(0.00001), '<0.01%');
  assert.equal(formatPercent(0), '0%');
});

test('changes carry their sign and name the extremes', () => {
  assert.equal(formatChange(0.25), '+25%');
  assert.equal(formatChange(-0.034), '-3.4%');
  assert.equal(formatChange(Infinity), 'new');
  assert.equal(formatChange(-1), 'gone');
});

test('bytes, durations and compact numbers', () => {
  assert.equal(formatBytes(512), '512 B');
  assert.equal(formatBytes(1536), '1.50 KiB');
  assert.equal(formatBytes(200 * 1024 * 1024), '200 MiB');
  assert.equal(formatDuration(0.25), '250 ms');
  assert.equal(formatDuration(12.34), '12.3 s');
  assert.equal(formatDuration(245), '4 min 05 s');
  assert.equal(formatCompact(1234), '1,234');
  assert.equal(formatCompact(45600), '45.6 k');
  assert.equal(formatCompact(1.5e6), '1.50 M');
});

test('sample values also show the time they stand for', () => {
  assert.equal(formatValue(250, { units: 'samples', sampleRate: 100 }), '2.50 s (250 samples)');
  assert.equal(formatShortValue(250, { units: 'samples', sampleRate: 100 }), '2.50 s');
  assert.equal(formatValue(1e10, { units: 'nanoseconds' }), '10.0 s');
  assert.equal(formatValue(1, { units: 'samples', sampleRate: 0 }), '1 sample');
  assert.equal(formatValue(2048, { units: 'bytes' }), '2.00 KiB');
  assert.equal(formatValue(7, { units: 'objects' }), '7 objects');
});

test('elision keeps the function (label.js has the rule and its cases)', () => {
  assert.equal(elide('main', 10), 'main');
  assert.equal(elide('github.com/acme/server.(*Server).serve', 16), '…(*Server).serve');
  assert.equal(elide('abc', 1), '');
});

test('percentage points carry their sign', () => {
  assert.equal(formatPoints(40.2), '+40.2 pp');
  assert.equal(formatPoints(-3.1), '-3.10 pp');
  assert.equal(formatPoints(0.001), '±0 pp');
});

test('a saturated sum reads as a floor, not as a rounded measurement', () => {
  // What JSON.parse makes of the server's 2^64 - 1, where sums stop.
  const v = JSON.parse('{"numTicks":18446744073709551615}').numTicks;
  assert.equal(formatValue(v, { units: 'samples', sampleRate: 100 }),
    '≥ 18.4 quintillion samples (sum saturated)');
  assert.equal(formatValue(v, { units: 'bytes' }), '≥ 18.4 quintillion bytes (sum saturated)');
  assert.equal(formatCompact(v), '≥ 18.4 E');
  assert.ok(!formatValue(v, {}).includes('18,446,744,073,709,552,000'));
  // The largest sum below the ceiling that JSON can carry is shown as is.
  const below = 18446744073709549568;
  assert.equal(formatValue(below, { units: 'objects' }), '18,446,744,073,709,549,568 objects');
});
